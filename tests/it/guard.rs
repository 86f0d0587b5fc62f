//! Guardrails, through the binary: per-runner limits (a runner printing 60 MB, one allocating
//! too much, one spinning on the CPU), every stage in events.jsonl with a manifest that stays
//! truthful, and no token-shaped literal in any file of the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::common::bin;

fn codeloop(cwd: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .arg("--cwd")
        .arg(cwd)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_LOG_MAX_BYTES")
        .env_remove("CODELOOP_MEMORY_MB")
        .env_remove("CODELOOP_CPU_TIME_SEC")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_TOKEN")
        .output()
        .expect("run codeloop")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A project whose only runners are the given plugins.json runners.
fn project(runners: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    std::fs::write(
        d.path().join(".codeloop/plugins.json"),
        format!(r#"{{"name": "guard", "version": "1.0.0", "runners": [{runners}]}}"#),
    )
    .unwrap();
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        r#"{"verify": {"builtin_runners": false}}"#,
    )
    .unwrap();
    d
}

fn latest(d: &Path) -> PathBuf {
    std::fs::canonicalize(d.join(".codeloop/runs/latest")).unwrap()
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn runner<'a>(verify: &'a Value, id: &str) -> &'a Value {
    verify["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no runner {id}: {verify:#}"))
}

#[test]
fn a_runner_printing_60_mb_keeps_head_and_tail_of_each_log() {
    // 60,000,000 bytes of stdout under the default cap (16 MiB per stream); a second runner
    // with its own 1,000-byte cap on stderr.
    let d = project(
        r#"{"id": "loud", "kind": "test",
            "command": "echo first; head -c 59999988 /dev/zero | tr '\\0' x; echo; echo last-line"},
           {"id": "small", "kind": "test", "limits": {"log_max_bytes": 1000},
            "command": "i=0; while [ $i -lt 500 ]; do echo err-$i >&2; i=$((i+1)); done"}"#,
    );
    let o = codeloop(d.path(), &["verify"]);
    let run = latest(d.path());
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let cap: u64 = 16 * 1024 * 1024;
    let total: u64 = "first\n".len() as u64 + 59_999_988 + 1 + "last-line\n".len() as u64;
    assert_eq!(total, 60_000_005);
    let log = std::fs::read(run.join("runners/loud/stdout.log")).unwrap();
    let cut = total - cap;
    let marker = format!("\n[… {cut} bytes cut by codeloop …]\n");
    assert_eq!(log.len() as u64, cap + marker.len() as u64);
    assert!(log.starts_with(b"first\nxxx"));
    assert!(log.ends_with(b"xxx\nlast-line\n"));
    let at = (cap / 2) as usize;
    assert_eq!(&log[at..at + marker.len()], marker.as_bytes());
    let verify = json(&run.join("verify.json"));
    crate::verify::validate("verify.schema.json", &verify);
    let loud = runner(&verify, "loud");
    assert_eq!(loud["status"], "passed");
    assert_eq!(loud["limits"]["log_max_bytes"], cap);
    assert_eq!(loud["limits"]["stdout_cut_bytes"], cut);
    assert!(loud["limits"].get("stderr_cut_bytes").is_none(), "{loud:#}");
    // The plugin's own cap: the first 500 and the last 500 bytes, exactly.
    let full: String = (0..500).map(|i| format!("err-{i}\n")).collect();
    let small_cut = full.len() - 1000;
    let got = std::fs::read_to_string(run.join("runners/small/stderr.log")).unwrap();
    assert_eq!(
        got,
        format!(
            "{}\n[… {small_cut} bytes cut by codeloop …]\n{}",
            &full[..500],
            &full[full.len() - 500..]
        )
    );
    assert_eq!(
        runner(&verify, "small")["limits"]["stderr_cut_bytes"],
        small_cut as u64
    );
    // The manifest hashes the capped logs as written.
    let manifest = json(&run.join("manifest.json"));
    let entry = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "runners/loud/stdout.log")
        .unwrap();
    assert_eq!(entry["bytes"], log.len() as u64);
}

#[test]
fn runners_over_their_memory_or_cpu_limit_are_stopped_and_fail_the_gate() {
    // awk doubles a string until an allocation fails (it says "out of memory"); sh spins.
    let d = project(
        r#"{"id": "hog", "kind": "test", "limits": {"memory_mb": 200},
            "command": "awk 'BEGIN { s = \"x\"; while (1) s = s s }'"},
           {"id": "spin", "kind": "test", "timeout_sec": 120, "limits": {"cpu_time_sec": 1},
            "command": "while :; do :; done"},
           {"id": "fine", "kind": "test", "limits": {"memory_mb": 200, "cpu_time_sec": 5},
            "command": "echo ok"}"#,
    );
    let started = std::time::Instant::now();
    let o = codeloop(d.path(), &["ci"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the CPU limit stopped the spinning runner long before its timeout"
    );
    let run = latest(d.path());
    let verify = json(&run.join("verify.json"));
    crate::verify::validate("verify.schema.json", &verify);
    let hog = runner(&verify, "hog");
    assert_eq!(hog["status"], "limit_exceeded", "{hog:#}");
    assert_eq!(hog["limits"]["exceeded"], "memory");
    assert_eq!(hog["limits"]["memory_mb"], 200);
    let via = hog["limits"]["memory_via"].as_str().unwrap();
    assert!(via == "cgroup" || via == "rlimit_as", "{via}");
    assert!(
        hog["hint"]
            .as_str()
            .unwrap()
            .contains("memory limit of 200 MiB"),
        "{hog:#}"
    );
    let spin = runner(&verify, "spin");
    assert_eq!(spin["status"], "limit_exceeded", "{spin:#}");
    assert_eq!(spin["limits"]["exceeded"], "cpu_time");
    assert!(
        spin["hint"]
            .as_str()
            .unwrap()
            .contains("CPU time limit of 1s"),
        "{spin:#}"
    );
    let fine = runner(&verify, "fine");
    assert_eq!(fine["status"], "passed", "{fine:#}");
    assert!(fine["limits"].get("exceeded").is_none());
    // The gate treats both like crashes, naming the limit.
    let gate = json(&run.join("gate.json"));
    let crash = gate["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "crash")
        .unwrap_or_else(|| panic!("no crash rule: {gate:#}"));
    assert_eq!(crash["passed"], false);
    assert_eq!(crash["actual"], "2");
    let reason = crash["reason"].as_str().unwrap();
    assert!(
        reason.contains("`hog` (stopped by its memory limit")
            && reason.contains("`spin` (stopped by its CPU time limit"),
        "{reason}"
    );
    assert!(
        out.contains("LIMIT") || out.contains("limit_exceeded"),
        "{out}"
    );
    let diagnose = json(&run.join("diagnose.json"));
    assert!(
        diagnose
            .to_string()
            .contains("was stopped by its CPU time limit"),
        "{diagnose:#}"
    );
}

/// The events of a run, as `(event, stage)` pairs for the stage events.
fn stage_events(run: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(run.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["event"].as_str().unwrap().starts_with("stage."))
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["stage"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The manifest's events.jsonl entry equals the file on disk.
fn assert_manifest_truthful(run: &Path) {
    use sha2::Digest;
    let manifest = json(&run.join("manifest.json"));
    for f in manifest["files"].as_array().unwrap() {
        let bytes = std::fs::read(run.join(f["path"].as_str().unwrap())).unwrap();
        let sha = format!("{:x}", sha2::Sha256::digest(&bytes));
        assert_eq!(
            (f["bytes"].as_u64().unwrap(), f["sha256"].as_str().unwrap()),
            (bytes.len() as u64, sha.as_str()),
            "manifest entry {} is stale",
            f["path"]
        );
    }
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn every_stage_is_in_events_jsonl_and_the_manifest_stays_truthful() {
    let d = project(
        r#"{"id": "t", "kind": "test",
            "command": "printf '<testsuite><testcase name=\"a\"/></testsuite>' > {run_dir}/r.xml",
            "result_file": "{run_dir}/r.xml"}"#,
    );
    let o = codeloop(d.path(), &["ci"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}{}",
        text(&o.stdout),
        text(&o.stderr)
    );
    let run = latest(d.path());
    let mut want = vec![
        ("stage.started", "run"),
        ("stage.finished", "run"),
        ("stage.started", "diagnose"),
        ("stage.finished", "diagnose"),
        ("stage.started", "gate-check"),
        ("stage.finished", "gate-check"),
        ("stage.started", "report"),
        ("stage.finished", "report"),
    ];
    assert_eq!(stage_events(&run), pairs(&want));
    assert_manifest_truthful(&run);
    // Each stage alone over the existing run appends its own events.
    let id = run.file_name().unwrap().to_str().unwrap().to_string();
    for (args, stage) in [
        (vec!["diagnose", "--run", &id], "diagnose"),
        (vec!["gate-check", "--run", &id], "gate-check"),
        (vec!["report", "--run", &id], "report"),
        (
            vec![
                "publish",
                "--from",
                run.to_str().unwrap(),
                "--forge",
                "none",
            ],
            "publish",
        ),
    ] {
        let o = codeloop(d.path(), &args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", text(&o.stderr));
        want.extend([("stage.started", stage), ("stage.finished", stage)]);
        assert_eq!(stage_events(&run), pairs(&want), "{args:?}");
        assert_manifest_truthful(&run);
    }
    let events: Vec<Value> = std::fs::read_to_string(run.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .filter(|e| e["event"] == "stage.finished")
            .all(|e| e["duration"].as_f64().is_some_and(|d| d >= 0.0)),
        "{events:#?}"
    );
    // A stage that fails records the error: gate.json cannot be replaced by a directory's
    // rename target.
    std::fs::remove_file(run.join("gate.json")).unwrap();
    std::fs::create_dir_all(run.join("gate.json/blocker")).unwrap();
    let o = codeloop(d.path(), &["gate-check", "--run", &id]);
    assert_ne!(o.status.code(), Some(0));
    let last = events_last(&run);
    assert_eq!(last["event"], "stage.failed", "{last:#}");
    assert_eq!(last["stage"], "gate-check");
    assert!(
        last["message"].as_str().unwrap().contains("gate.json"),
        "{last:#}"
    );
    // merge records its own stage in the merged run.
    let out = d.path().join("merged");
    let o = codeloop(
        d.path(),
        &[
            "merge",
            run.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let merged = stage_events(&out);
    assert_eq!(
        merged[..2],
        pairs(&[("stage.started", "merge"), ("stage.finished", "merge")])[..],
        "{merged:?}"
    );
    assert!(merged.contains(&("stage.finished".into(), "report".into())));
    assert_manifest_truthful(&out);
}

fn events_last(run: &Path) -> Value {
    let t = std::fs::read_to_string(run.join("events.jsonl")).unwrap();
    serde_json::from_str(t.lines().last().unwrap()).unwrap()
}

#[test]
fn no_token_shaped_literal_reaches_any_file_of_the_run() {
    // Built at run time so the source holds no token-shaped literal itself.
    let tail = "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8";
    let tokens = [
        format!("ghp_{tail}"),
        format!("gho_{tail}"),
        format!("ghu_{tail}"),
        format!("ghs_{tail}"),
        format!("ghr_{tail}"),
        format!("github_pat_11ABCDEFG0_{tail}{tail}"),
        format!("glpat-{}", &tail[..20]),
        format!("AKIA{}", "IOSFODNN7EXAMPLE"),
        format!("xoxb-1234567890-{}", &tail[..24]),
        format!("xoxp-1234567890-{}", &tail[..12]),
    ];
    let all = tokens.join(" ");
    // A value the runner masks only once it runs: its command (in events.jsonl's
    // `runner.started`, written before the mask was known) holds it too.
    let late = "late-masked-value-4c1e";
    // In the command, the logs, the result file (a failing test's name and message).
    let command = format!(
        "echo ::add-mask::{late}; echo {late}; echo {all}; echo {all} >&2; printf '<testsuite><testcase name=\"t {all}\"><failure message=\"{all}\"/></testcase></testsuite>' > {{run_dir}}/r.xml; exit 1"
    );
    let d = project(&format!(
        r#"{{"id": "leaky", "kind": "test", "command": {}, "result_file": "{{run_dir}}/r.xml"}}"#,
        serde_json::to_string(&command).unwrap()
    ));
    let o = codeloop(d.path(), &["ci"]);
    let (out, err) = (text(&o.stdout), text(&o.stderr));
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let run = latest(d.path());
    let id = run.file_name().unwrap().to_str().unwrap().to_string();
    let o = codeloop(
        d.path(),
        &[
            "publish",
            "--from",
            run.to_str().unwrap(),
            "--forge",
            "none",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let o2 = codeloop(d.path(), &["diagnose", "--run", &id]);
    for t in tokens.iter().chain([&late.to_string()]) {
        for (what, s) in [
            ("stdout", &out),
            ("stderr", &err),
            ("publish stdout", &text(&o.stdout)),
            ("diagnose stdout", &text(&o2.stdout)),
        ] {
            assert!(!s.contains(t.as_str()), "{what} holds {t}");
        }
    }
    let mut files = 0;
    let mut masked = Vec::new();
    for e in walkdir::WalkDir::new(d.path().join(".codeloop/runs")) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        files += 1;
        let body = text(&std::fs::read(e.path()).unwrap());
        for t in tokens.iter().chain([&late.to_string()]) {
            assert!(
                !body.contains(t.as_str()),
                "{} holds {t}",
                e.path().display()
            );
        }
        if body.contains("***") {
            masked.push(e.path().strip_prefix(&run).unwrap_or(e.path()).to_owned());
        }
    }
    assert!(files >= 10, "{files} files");
    // Where each token was, `***` stands: the command in events.jsonl and verify.json, both
    // logs, the case in cases.jsonl and diagnose.json.
    for f in [
        "events.jsonl",
        "verify.json",
        "runners/leaky/stdout.log",
        "runners/leaky/stderr.log",
        "cases.jsonl",
        "diagnose.json",
        "r.xml",
    ] {
        assert!(
            masked.contains(&PathBuf::from(f)),
            "no *** in {f}: {masked:?}"
        );
    }
    let log = std::fs::read_to_string(run.join("runners/leaky/stdout.log")).unwrap();
    assert_eq!(
        log,
        format!(
            "::add-mask::***\n***\n{}\n",
            vec!["***"; tokens.len()].join(" ")
        )
    );
    assert_manifest_truthful(&run);
}
