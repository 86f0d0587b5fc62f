//! `codeloop dashboard` serves only the run directories: raw HTTP requests (no client-side
//! path normalisation) that try to leave the artifacts directory get a 404.

use std::io::{Read, Write};
use std::process::Command;

use crate::common::bin;

fn demo_run(artifacts: &std::path::Path) -> String {
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let o = Command::new(bin())
        .args(["ci", "--cwd"])
        .arg(&demo)
        .arg("--artifacts-dir")
        .arg(artifacts)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_CONFIG")
        // The demo is its own project (inside this repository it would be examples/demo/...).
        .env("CODELOOP_REPO_ROOT", &demo)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    codeloop::artifact::resolve(artifacts, None).unwrap().id
}

/// Sends `target` verbatim and returns (status, body).
fn get(addr: std::net::SocketAddr, target: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn dashboard_serves_runs_and_refuses_paths_outside_the_artifacts_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let artifacts = tmp.path().join("art");
    let id = demo_run(&artifacts);
    // A secret next to the artifacts dir, and a symlink inside a run pointing at it.
    std::fs::write(tmp.path().join("secret.txt"), "TOP-SECRET").unwrap();
    let run = artifacts.join("runs").join(&id);
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), run.join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", run.join("etc")).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = codeloop::commands::dashboard::router(artifacts.clone());
    rt.spawn(async move { axum::serve(listener, app).await });

    // What it serves.
    let (st, body) = get(addr, "/");
    assert_eq!(st, 200);
    assert!(body.contains(&id), "{body}");
    let (st, body) = get(addr, &format!("/runs/{id}/"));
    assert_eq!(st, 200);
    assert!(body.contains("id=\"verdict\">FAIL<"), "{body}");
    assert!(body.contains("tests/test_mixed.py:19"));
    let (st, body) = get(addr, &format!("/runs/{id}/verify.json"));
    assert_eq!(st, 200);
    assert!(body.contains("\"run_id\""));

    // What it refuses.
    let tries = [
        "/../../etc/passwd".to_string(),
        "/etc/passwd".to_string(),
        "/runs/../../etc/passwd".to_string(),
        "/runs/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/runs/%2e%2e/%2e%2e/secret.txt".to_string(),
        format!("/runs/{id}/../../../secret.txt"),
        format!("/runs/{id}/..%2F..%2F..%2Fsecret.txt"),
        format!("/runs/{id}/%2e%2e/%2e%2e/%2e%2e/secret.txt"),
        format!("/runs/{id}/leak.txt"),
        format!("/runs/{id}/etc/passwd"),
        format!("/runs/{id}/%2Fetc%2Fpasswd"),
        "/runs/latest/../../../secret.txt".to_string(),
    ];
    for t in &tries {
        let (st, body) = get(addr, t);
        assert!(st == 404 || st == 400, "{t}: {st} {body}");
        assert!(
            !body.contains("TOP-SECRET") && !body.contains("root:"),
            "{t}: {body}"
        );
    }
}

#[test]
fn dashboard_rejects_a_bad_bind_address() {
    let o = Command::new(bin())
        .args(["dashboard", "--bind", "not-an-ip", "--port", "1"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--bind `not-an-ip`"));
}

/// The dashboard page of the demo run: structure, escaping of hostile test text, no network.
#[test]
fn html_report_structure_and_escaping() {
    use codeloop::report::html::{HtmlInput, TrendPoint, render};
    let tmp = tempfile::tempdir().unwrap();
    let id = demo_run(tmp.path());
    let run = codeloop::artifact::resolve(tmp.path(), Some(&id)).unwrap();

    // Through the command: report --html writes report/index.html and only that.
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let o = Command::new(bin())
        .args(["report", "--html", "--format", "json", "--cwd"])
        .arg(&demo)
        .arg("--artifacts-dir")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = out["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{out}");
    assert!(
        files[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("report/index.html")
    );
    let page = std::fs::read_to_string(run.file("report/index.html")).unwrap();
    let mut verify = run.verify().unwrap();
    let mut diagnose = run.diagnose().unwrap();
    let gate = run.gate().unwrap();
    assert_eq!(
        page.matches("class=\"failure ").count(),
        diagnose.problems.len()
    );
    for needle in [
        "id=\"verdict\">FAIL<",
        "id=\"q\"",
        "id=\"cat\"",
        "id=\"runners\"",
        "id=\"trend\"",
        "Content-Security-Policy",
        "tests/test_mixed.py:19",
    ] {
        assert!(page.contains(needle), "missing {needle}");
    }
    // Self-contained: nothing to fetch.
    for bad in ["http://", "https://", "<link", " src="] {
        assert!(!page.contains(bad), "page references {bad}");
    }

    // Runners run in parallel: fix the order so the snapshot is stable.
    diagnose
        .problems
        .sort_by(|a, b| (&a.runner, &a.title).cmp(&(&b.runner, &b.title)));
    verify.slowest.sort_by(|a, b| a.id.cmp(&b.id));
    // Hostile text from a test report stays text.
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    diagnose.problems[0].title = evil.into();
    diagnose.problems[0].evidence = evil.into();
    diagnose.problems[0].runner = evil.into();
    verify.runners[0].id = evil.into();
    verify.run_id = "RUN-1".into();
    verify.started_at = "2026-11-21T22:30:00Z".into();
    verify.finished_at = "2026-11-21T22:31:00Z".into();
    for r in &mut verify.runners {
        r.duration = 1.5;
    }
    for s in &mut verify.slowest {
        s.duration = 0.25;
    }
    let trend = [
        TrendPoint {
            run_id: "RUN-0".into(),
            score: 100.0,
            verdict: codeloop::model::Verdict::Pass,
        },
        TrendPoint {
            run_id: "RUN-1".into(),
            score: gate.score,
            verdict: gate.verdict,
        },
    ];
    let html = render(&HtmlInput {
        verify: &verify,
        diagnose: Some(&diagnose),
        gate: Some(&gate),
        trend: &trend,
        flaky: &[],
        live: false,
        other_runs: &[],
    });
    assert!(!html.contains("<script>alert"), "raw script tag");
    assert!(!html.contains("<img"), "raw img tag");
    assert_eq!(
        html.matches("<script>").count(),
        1,
        "only the page's own script"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x"));
    insta::assert_snapshot!("dashboard_demo_html", html);
}
