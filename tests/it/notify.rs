//! Webhooks end to end: the real binary (`notify`, `ci`, `action`) posts to a local axum
//! server. The test checks the signature itself (HMAC-SHA256 over `"{t}.{body}"`), counts
//! attempts, and times the budget.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::common::bin;

const SECRET: &str = "whsec_test_4f9a1c2b";

/// One request the server received.
#[derive(Clone, Debug)]
struct Hit {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<Vec<Hit>>>);

impl Hits {
    fn on(&self, path: &str) -> Vec<Hit> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.path == path)
            .cloned()
            .collect()
    }
}

/// `/ok/*` answers 200; `/flaky/*` 503 twice, then 200; `/slow/*` never answers in time;
/// `/gone/*` answers 404.
async fn handle(
    State(hits): State<Hits>,
    UrlPath((kind, rest)): UrlPath<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = format!("/{kind}/{rest}");
    let n = {
        let mut h = hits.0.lock().unwrap();
        h.push(Hit {
            path: path.clone(),
            headers,
            body: body.to_vec(),
        });
        h.iter().filter(|x| x.path == path).count()
    };
    match kind.as_str() {
        "ok" => StatusCode::OK,
        "flaky" if n <= 2 => StatusCode::SERVICE_UNAVAILABLE,
        "flaky" => StatusCode::NO_CONTENT,
        "slow" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            StatusCode::OK
        }
        _ => StatusCode::NOT_FOUND,
    }
}

/// Starts the server on a free port; returns its base URL and the hit log.
async fn server() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route("/{kind}/{*rest}", post(handle))
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://{addr}"), hits)
}

/// Checks `X-Codeloop-Signature` against the body with our own HMAC (not codeloop's code).
fn verify_signature(h: &Hit) {
    let sig = h.headers["x-codeloop-signature"].to_str().unwrap();
    let (t, v1) = sig
        .split_once(',')
        .map(|(a, b)| {
            (
                a.strip_prefix("t=").unwrap(),
                b.strip_prefix("v1=").unwrap(),
            )
        })
        .unwrap_or_else(|| panic!("malformed signature {sig}"));
    let ts: u64 = t.parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(now.abs_diff(ts) < 120, "stale timestamp {ts}");
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(&h.body);
    let want: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, want, "signature does not match the body");
}

/// The payload matches its published schema (schemas/webhook.schema.json).
fn validate_payload(p: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/webhook.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v.iter_errors(p).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{p:#}");
}

const JUNIT: &str = r#"<?xml version="1.0"?>
<testsuite name="math" tests="2" failures="1">
  <testcase classname="tests.test_math" name="test_adds" time="0.1"/>
  <testcase classname="tests.test_math" name="test_divides &lt;!channel&gt;" time="0.2">
    <failure message="assert 1 == 2">tests/test_math.py:7: AssertionError</failure>
  </testcase>
</testsuite>
"#;

/// A project with a JUnit report and `config` as .codeloop/config.json.
fn project(config: &Value, junit: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        serde_json::to_string_pretty(config).unwrap(),
    )
    .unwrap();
    std::fs::write(d.path().join("junit.xml"), junit).unwrap();
    d
}

fn codeloop(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .current_dir(dir)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_CONFIG")
        .env_remove("CODELOOP_WEBHOOK_URLS")
        .env_remove("CODELOOP_WEBHOOK_SECRET")
        .env_remove("CODELOOP_WEBHOOK_FORMAT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run codeloop")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ci_posts_signed_json_and_slack_retries_5xx_and_keeps_the_verdict() {
    let (base, hits) = server().await;
    let config = json!({
        // Comments and a trailing comma: the file is JSONC.
        "notify": {
            "timeout_sec": 6,
            "webhooks": [
                {"url": format!("{base}/ok/hook-path-secret")},
                {"url": format!("{base}/flaky/x"), "format": "json"},
                {"url_env": "SLACK_WEBHOOK_URL", "format": "slack"},
                {"url": format!("{base}/gone/y")},
            ]
        }
    });
    let d = project(&config, JUNIT);
    let dir = d.path().to_path_buf();
    let slack = format!("{base}/ok/slack/T000/B000/XXXXSECRETXXXX");
    let out = blocking(move || {
        codeloop(
            &dir,
            &["ci", "--report", "junit.xml"],
            &[
                ("CODELOOP_WEBHOOK_SECRET", SECRET),
                ("SLACK_WEBHOOK_URL", slack.as_str()),
            ],
        )
    })
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    // The gate failed (one failing test): that is the exit code, whatever the webhooks did.
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");

    // The JSON payload: signed, with the verdict, counts and the new failure.
    let ok = hits.on("/ok/hook-path-secret");
    assert_eq!(ok.len(), 1, "{stderr}");
    verify_signature(&ok[0]);
    assert_eq!(ok[0].headers["content-type"], "application/json");
    assert_eq!(ok[0].headers["x-codeloop-event"], "gate.completed");
    let p: Value = serde_json::from_slice(&ok[0].body).unwrap();
    assert_eq!(p["verdict"], "fail", "{p:#}");
    assert_eq!(p["counts"]["tests"], 2);
    assert_eq!(p["counts"]["failed"], 1);
    assert_eq!(p["new_failures_total"], 1);
    assert!(
        p["new_failures"][0]["test"]
            .as_str()
            .unwrap()
            .contains("test_divides"),
        "{p:#}"
    );
    assert!(p["run_id"].as_str().is_some_and(|r| !r.is_empty()));
    validate_payload(&p);
    assert!(p["score"].is_number());
    assert!(p.get("links").is_some() && p.get("sha").is_some());

    // 503, 503, 204: three attempts, one delivery id, every attempt signed.
    let flaky = hits.on("/flaky/x");
    assert_eq!(flaky.len(), 3, "{stderr}");
    let ids: Vec<&str> = flaky
        .iter()
        .map(|h| h.headers["x-codeloop-delivery"].to_str().unwrap())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0] && i.len() == 36), "{ids:?}");
    assert_ne!(
        ids[0],
        ok[0].headers["x-codeloop-delivery"].to_str().unwrap(),
        "each webhook has its own delivery id"
    );
    flaky.iter().for_each(verify_signature);
    assert_eq!(flaky[0].body, flaky[2].body);

    // Slack: a message, with the untrusted test name escaped (no <!channel> mention).
    let sl = hits.on("/ok/slack/T000/B000/XXXXSECRETXXXX");
    assert_eq!(sl.len(), 1);
    let m: Value = serde_json::from_slice(&sl[0].body).unwrap();
    let block = m["blocks"][0]["text"]["text"].as_str().unwrap();
    assert!(m["text"].as_str().unwrap().contains("failed"), "{m:#}");
    assert!(block.contains("test_divides &lt;!channel&gt;"), "{block}");
    assert!(!block.contains("<!channel>"), "{block}");

    // 404 is not retried, and is a warning naming the host only.
    assert_eq!(hits.on("/gone/y").len(), 1);
    assert!(
        stderr.contains("not delivered after 1 attempt(s): HTTP 404"),
        "{stderr}"
    );
    assert!(
        stdout.contains("notify: delivered to http://127.0.0.1"),
        "{stdout}"
    );
    // Neither the secret nor any URL path reaches the output.
    for s in [&stdout, &stderr] {
        assert!(!s.contains(SECRET), "secret printed: {s}");
        assert!(
            !s.contains("XXXXSECRETXXXX") && !s.contains("hook-path-secret"),
            "{s}"
        );
    }
    // ...nor any file of the run.
    for e in walkdir::WalkDir::new(d.path().join(".codeloop/runs")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let body = std::fs::read(e.path()).unwrap();
            let s = String::from_utf8_lossy(&body);
            assert!(
                !s.contains(SECRET) && !s.contains("XXXXSECRETXXXX"),
                "{}",
                e.path().display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_alone_is_bounded_by_its_budget_and_a_dead_webhook_is_a_warning() {
    let (base, hits) = server().await;
    let pass = r#"<testsuite name="s" tests="1"><testcase classname="c" name="t"/></testsuite>"#;
    let config = json!({"notify": {"timeout_sec": 2, "retries": 5}});
    let d = project(&config, pass);
    let dir = d.path().to_path_buf();
    let urls = format!("{base}/slow/a,\n{base}/ok/b");
    let out = blocking(move || {
        let ci = codeloop(&dir, &["ci", "--report", "junit.xml"], &[]);
        assert_eq!(ci.status.code(), Some(0), "{}", text(&ci.stderr));
        let start = Instant::now();
        let out = codeloop(
            &dir,
            &["notify", "--format", "json"],
            &[
                ("CODELOOP_WEBHOOK_URLS", urls.as_str()),
                ("CODELOOP_WEBHOOK_SECRET", SECRET),
            ],
        );
        (out, start.elapsed())
    })
    .await;
    let (out, took) = out;
    let stderr = text(&out.stderr);
    // A webhook that never answers: exit 0, a warning, and within the 2 s budget (plus
    // process start-up), the other webhook delivered alongside.
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["delivered"], 1, "{v:#}");
    let slow = v["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["delivered"] == false)
        .unwrap();
    assert_eq!(slow["target"], base.as_str());
    assert!(
        stderr.contains("not delivered") && stderr.contains("no answer within"),
        "{stderr}"
    );
    let b = hits.on("/ok/b");
    assert_eq!(b.len(), 1);
    verify_signature(&b[0]);
    let p: Value = serde_json::from_slice(&b[0].body).unwrap();
    assert_eq!(p["verdict"], "pass");
    assert_eq!(p["new_failures_total"], 0);
    validate_payload(&p);

    // A run without gate.json is a usage error that says what to run.
    let e = tempfile::tempdir().unwrap();
    let dir = e.path().to_path_buf();
    let out = blocking(move || {
        let v = codeloop(&dir, &["verify", "--report", "none.xml"], &[]);
        let _ = v;
        codeloop(
            &dir,
            &["notify"],
            &[("CODELOOP_WEBHOOK_URLS", "http://127.0.0.1:9/x")],
        )
    })
    .await;
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("error:"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_inputs_configure_webhooks_and_the_secret_is_masked() {
    let (base, hits) = server().await;
    let d = project(&json!({}), JUNIT);
    let ws = d.path().to_path_buf();
    let url = format!("{base}/ok/action/SECRETPATH");
    let out = blocking(move || {
        let out_file = ws.join("gh_output");
        let summary = ws.join("gh_summary");
        codeloop(
            &ws,
            &["action"],
            &[
                ("GITHUB_WORKSPACE", ws.to_str().unwrap()),
                ("GITHUB_OUTPUT", out_file.to_str().unwrap()),
                ("GITHUB_STEP_SUMMARY", summary.to_str().unwrap()),
                ("INPUT_REPORTS", "junit.xml"),
                ("INPUT_WEBHOOK-URLS", url.as_str()),
                ("INPUT_WEBHOOK-SECRET", SECRET),
                ("INPUT_WEBHOOK-FORMAT", "json"),
                ("INPUT_FAIL-ON-GATE", "false"),
            ],
        )
    })
    .await;
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let h = hits.on("/ok/action/SECRETPATH");
    assert_eq!(h.len(), 1, "{stdout}\n{stderr}");
    verify_signature(&h[0]);
    let p: Value = serde_json::from_slice(&h[0].body).unwrap();
    assert_eq!(p["verdict"], "fail");
    for s in [&stdout, &stderr] {
        assert!(!s.contains(SECRET) && !s.contains("SECRETPATH"), "{s}");
    }

    // A bad format input names the input.
    let d = project(&json!({}), JUNIT);
    let ws = d.path().to_path_buf();
    let out = blocking(move || {
        codeloop(
            &ws,
            &["action"],
            &[
                ("GITHUB_WORKSPACE", ws.to_str().unwrap()),
                ("INPUT_REPORTS", "junit.xml"),
                ("INPUT_WEBHOOK-FORMAT", "xml"),
            ],
        )
    })
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("webhook-format"),
        "{}",
        text(&out.stderr)
    );
}
