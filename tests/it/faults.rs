//! Faults mid-run, end to end through the real binary: codeloop interrupted (SIGTERM, SIGINT,
//! a second signal while stopping, `ci` interrupted), runners killed by signals, a full disk
//! and an artifacts directory that cannot be written, and a forge API that is down for the
//! whole run. Each test checks what a CI user depends on: the exit code, no process left, a
//! run directory whose files are whole, and the gate's verdict still delivered.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::bin;

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A project dir with `.codeloop/plugins.json` = `plugins`.
fn project(plugins: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join(".codeloop")).unwrap();
    std::fs::write(d.path().join(".codeloop/plugins.json"), plugins).unwrap();
    d
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.args(args)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env("CODELOOP_GRACE_SEC", "1");
    c
}

fn alive(pid: i32) -> bool {
    // A zombie (reparented, not yet reaped by init) is dead for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pids: &[i32]) -> Vec<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    pids.iter().copied().filter(|p| alive(*p)).collect()
}

/// Waits until `file` (relative to some run directory under `artifacts/runs`) holds complete
/// lines, and returns the run directory.
fn wait_for_run_file(artifacts: &Path, file: &str, lines: usize) -> PathBuf {
    let runs = artifacts.join("runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = std::fs::read_dir(&runs).ok().and_then(|rd| {
            rd.flatten().map(|e| e.path()).find(|p| {
                std::fs::read_to_string(p.join(file))
                    .is_ok_and(|s| s.ends_with('\n') && s.lines().count() >= lines)
            })
        });
        if let Some(p) = found {
            return p;
        }
        assert!(Instant::now() < deadline, "{file} never appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `instance` validates against `schemas/<schema_file>`.
fn validate(schema_file: &str, instance: &Value) {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(schema_file);
    let schema: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

fn pids_in(p: &Path) -> Vec<i32> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// Every file of a run directory is whole: no temp files left, every JSON document parses,
/// every JSON Lines line parses, and the manifest (when present) lists exactly the files
/// with their true sizes. Returns the manifest.
fn assert_consistent(run_dir: &Path) -> Option<Value> {
    let mut files = Vec::new();
    for e in walkdir::WalkDir::new(run_dir) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(run_dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(!rel.contains(".tmp-"), "temp file left behind: {rel}");
        let bytes = std::fs::read(e.path()).unwrap();
        if rel.ends_with(".json") {
            serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|err| panic!("{rel} is not whole JSON: {err}"));
        }
        if rel.ends_with(".jsonl") {
            for (i, line) in text(&bytes).lines().enumerate() {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|err| panic!("{rel} line {} is not JSON: {err}", i + 1));
            }
        }
        files.push((rel, bytes.len() as u64));
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("manifest.json")).ok()?).unwrap();
    let listed: Vec<(String, u64)> = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_string(),
                f["bytes"].as_u64().unwrap(),
            )
        })
        .collect();
    files.retain(|(p, _)| p != "manifest.json");
    files.sort();
    assert_eq!(
        listed, files,
        "manifest.json does not match the run directory"
    );
    Some(manifest)
}

/// A runner that records its shell's pid and a grandchild's (a background `sleep`, in the
/// runner's process group), then waits. With `trap`, the shell ignores SIGTERM, so stopping
/// it takes the grace period and SIGKILL.
fn hanging_project(trap: bool) -> tempfile::TempDir {
    project(&hanging_plugins(trap))
}

fn hanging_plugins(trap: bool) -> String {
    let trap = if trap { "trap '' TERM INT; " } else { "" };
    format!(
        r#"{{"runners": [
        {{"id": "done", "kind": "test", "command": "printf '<testsuite name=\"s\" tests=\"1\"><testcase name=\"ok\"/></testsuite>' > {{runner_dir}}/r.xml", "result_file": "{{runner_dir}}/r.xml", "result_format": "junit-xml"}},
        {{"id": "long", "kind": "test", "command": "{trap}sleep 120 & echo $! >> {{runner_dir}}/pids; sh -c 'sleep 120' & echo $! >> {{runner_dir}}/pids; echo $$ >> {{runner_dir}}/pids; wait"}},
        {{"id": "later", "kind": "test", "command": "true"}}]}}"#
    )
}

/// Runs `args` (verify or ci) on a hanging project, sends `signals` once the runner is up,
/// and checks the interrupted run directory and that no runner process survived.
fn interrupt(sub: &str, signals: &[i32], trap: bool) -> (Output, PathBuf, Value) {
    interrupt_with_grace(sub, signals, trap, "1")
}

fn interrupt_with_grace(
    sub: &str,
    signals: &[i32],
    trap: bool,
    grace: &str,
) -> (Output, PathBuf, Value) {
    let d = hanging_project(trap);
    let cwd = d.path().to_str().unwrap();
    // One slot: `done`, then `long` (which hangs), while `later` waits for the slot.
    let child = cmd(&[sub, "--cwd", cwd, "--jobs", "1", "--format", "json"])
        .env("CODELOOP_GRACE_SEC", grace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = wait_for_run_file(&d.path().join(".codeloop"), "runners/long/pids", 3);
    let pids = pids_in(&run_dir.join("runners/long/pids"));
    assert_eq!(pids.len(), 3);
    // Let the quick runner finish first: its evidence must survive the interruption.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(run_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("\"runner.finished\"") && l.contains("\"runner\":\"done\""))
    {
        assert!(Instant::now() < deadline, "runner `done` never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    for (i, sig) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        signal(&child, *sig);
    }
    let out = child.wait_with_output().unwrap();
    // Grace is 1 s (or cut short by a second signal): stopping must not take much longer.
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let survivors = wait_gone(&pids);
    assert!(
        survivors.is_empty(),
        "runner processes survived: {survivors:?}"
    );
    let manifest = assert_consistent(&run_dir).expect("manifest.json written");
    assert_eq!(manifest["status"], "interrupted", "{manifest:#}");
    validate("manifest.schema.json", &manifest);
    let verify: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("verify.json")).unwrap()).unwrap();
    assert_eq!(verify["status"], "interrupted");
    validate("verify.schema.json", &verify);
    let status = |id: &str| {
        verify["runners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| r["status"].clone())
            .unwrap()
    };
    assert_eq!(status("long"), "interrupted");
    assert_eq!(status("done"), "passed");
    let events = std::fs::read_to_string(run_dir.join("events.jsonl")).unwrap();
    assert!(events.contains("\"run.interrupted\""), "{events}");
    // The run is kept as evidence, with the finished runner's copy of its report.
    assert!(run_dir.join("runners/done/r.xml").is_file());
    drop(d);
    (out, run_dir, verify)
}

#[test]
fn sigterm_stops_every_runner_process_and_leaves_a_whole_interrupted_run() {
    let (out, _, _) = interrupt("verify", &[libc::SIGTERM], false);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "interrupted");
    assert_eq!(doc["exit_code"], 4);
    // The runner still waiting for a slot is recorded, not silently missing.
    let later = doc["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "later")
        .unwrap();
    assert_eq!(later["status"], "interrupted", "{later:#}");
    assert!(
        later["hint"].as_str().unwrap().contains("not started"),
        "{later:#}"
    );
}

#[test]
fn sigint_stops_a_term_ignoring_runner_with_sigkill_after_the_grace() {
    let (out, _, _) = interrupt("verify", &[libc::SIGINT], true);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn a_second_signal_while_stopping_leaves_no_garbage() {
    // The runner ignores SIGTERM, so codeloop is inside its 1 s grace when the second and
    // third signals arrive; they must neither kill it half-way nor leave half files.
    let (out, _, _) = interrupt(
        "verify",
        &[libc::SIGTERM, libc::SIGINT, libc::SIGTERM],
        true,
    );
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).expect("stdout is one whole JSON document");
}

#[test]
fn a_second_signal_cuts_the_grace_period_short() {
    // A 60 s grace for a runner that ignores SIGTERM: the first signal starts the graceful
    // stop, the second (a second Ctrl-C, or the CI runner's escalation) kills it now.
    let (out, _, _) = interrupt_with_grace("verify", &[libc::SIGINT, libc::SIGINT], true, "60");
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn ci_interrupted_exits_4_without_diagnosing_a_partial_run() {
    let (out, run_dir, _) = interrupt("ci", &[libc::SIGTERM], false);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("verify did not complete"), "{err}");
    // No verdict is made from an interrupted run: no gate.json that could look like a pass.
    assert!(!run_dir.join("gate.json").exists());
}

/// `ci --format json` on `plugins`; returns the output, ci's document and the run directory.
fn ci_json(plugins: &str) -> (Output, Value, PathBuf) {
    let d = project(plugins);
    let out = cmd(&[
        "ci",
        "--cwd",
        d.path().to_str().unwrap(),
        "--format",
        "json",
    ])
    .output()
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    // Keep the project: the run directory lives inside it.
    let kept = d.keep();
    assert!(run_dir.starts_with(&kept));
    (out, doc, run_dir)
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

const PARTIAL_JUNIT: &str = r#"printf '<testsuite name=\"s\" tests=\"3\"><testcase name=\"a\"/><testcase name=\"b\"/>' > {runner_dir}/r.xml"#;

#[test]
fn runners_killed_by_signals_are_crashes_and_fail_the_gate_naming_the_signal() {
    let plugins = format!(
        r#"{{"runners": [
        {{"id": "segv", "kind": "test", "command": "echo starting; kill -SEGV $$"}},
        {{"id": "oom", "kind": "test", "command": "echo starting; kill -9 $$"}},
        {{"id": "midreport", "kind": "test", "command": "{PARTIAL_JUNIT}; sh -c 'kill -ABRT $$'; exit $?", "result_file": "{{runner_dir}}/r.xml", "result_format": "junit-xml"}}]}}"#
    );
    let (out, doc, run_dir) = ci_json(&plugins);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_consistent(&run_dir).expect("complete run");
    let verify = read_json(&run_dir.join("verify.json"));
    let runner = |id: &str| {
        verify["runners"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(runner("segv")["status"], "crashed");
    assert_eq!(runner("segv")["signal"], libc::SIGSEGV);
    assert_eq!(runner("oom")["status"], "crashed");
    assert_eq!(runner("oom")["signal"], libc::SIGKILL);
    // The test binary died under the runner's shell (exit 134): still a crash, and the two
    // cases it reported before dying are kept as evidence.
    let mid = runner("midreport");
    assert_eq!(mid["status"], "crashed", "{mid:#}");
    assert_eq!(mid["exit_code"], 128 + libc::SIGABRT);
    assert_eq!(mid["signal"], libc::SIGABRT);
    assert_eq!(mid["counts"]["passed"], 2, "{mid:#}");

    let diagnose = read_json(&run_dir.join("diagnose.json"));
    let crash = |id: &str| {
        diagnose["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["runner"] == id && p["category"] == "crash")
            .unwrap_or_else(|| panic!("no crash problem for {id}: {diagnose:#}"))
            .clone()
    };
    for (id, name) in [
        ("segv", "SIGSEGV"),
        ("oom", "SIGKILL"),
        ("midreport", "SIGABRT"),
    ] {
        let p = crash(id);
        assert!(p["title"].as_str().unwrap().contains(name), "{p:#}");
        assert!(p["evidence"].as_str().unwrap().contains(name), "{p:#}");
    }
    assert!(
        crash("segv")["evidence"]
            .as_str()
            .unwrap()
            .contains("starting"),
        "the runner's log is part of the evidence"
    );

    assert_eq!(doc["verdict"], "fail");
    let reasons: Vec<&str> = doc["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    let crash_reason = reasons
        .iter()
        .find(|r| r.contains("crashed"))
        .unwrap_or_else(|| panic!("no reason names the crash: {reasons:#?}"));
    for s in [
        "`segv` (killed by signal 11, SIGSEGV)",
        "`oom` (killed by signal 9, SIGKILL)",
        "`midreport` (killed by signal 6, SIGABRT)",
    ] {
        assert!(crash_reason.contains(s), "{crash_reason}");
    }
}

#[test]
fn a_crash_after_an_all_green_partial_report_still_fails_the_gate() {
    // Every test the binary reported passed, then it segfaulted: a gate that only counted
    // failing tests would pass this run.
    let plugins = format!(
        r#"{{"runners": [{{"id": "t", "kind": "test", "command": "{PARTIAL_JUNIT}; sh -c 'kill -SEGV $$'; exit $?", "result_file": "{{runner_dir}}/r.xml", "result_format": "junit-xml"}}]}}"#
    );
    let (out, doc, _) = ci_json(&plugins);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(doc["verdict"], "fail");
    let rule = doc["gate"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "crash")
        .unwrap_or_else(|| panic!("no crash rule: {doc:#}"))
        .clone();
    assert_eq!(rule["passed"], false);
    assert!(
        rule["reason"].as_str().unwrap().contains("SIGSEGV"),
        "{rule:#}"
    );
}

// ---------------------------------------------------------------------------------------
// The forge API down for the whole run.

/// A server that answers every request with `500` and records `METHOD path` of each.
struct Broken {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Broken {
    fn start() -> Broken {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(mut conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    let mut first = String::new();
                    if r.read_line(&mut first).is_err() {
                        return;
                    }
                    let mut len = 0usize;
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    let _ = r.read_exact(&mut body);
                    let mut parts = first.split_whitespace();
                    let line = format!(
                        "{} {}",
                        parts.next().unwrap_or(""),
                        parts.next().unwrap_or("")
                    );
                    s.lock().unwrap().push(line);
                    let msg = r#"{"message":"Server Error"}"#;
                    let _ = write!(
                        conn,
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
                        msg.len()
                    );
                });
            }
        });
        Broken { url, seen }
    }
    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

/// A URL nothing listens on: connections are refused.
fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

/// Retry base delay for these tests: backoff 0.1 + 0.2 + 0.4 + 0.8 s = 1.5 s per request.
const BASE_MS: &str = "100";
/// What one request may take against a down API at that base: 5 attempts, 1.5 s of backoff,
/// plus generous slack for a loaded machine (connection refused and 500s are instant).
const ONE_REQUEST_BUDGET: Duration = Duration::from_secs(8);

const PASSING: &str = r#"{"runners": [{"id": "t", "kind": "test", "command": "printf '<testsuite name=\"s\" tests=\"2\"><testcase name=\"a\"/><testcase name=\"b\"/></testsuite>' > {runner_dir}/r.xml", "result_file": "{runner_dir}/r.xml", "result_format": "junit-xml"}]}"#;
const FAILING: &str = r#"{"runners": [{"id": "t", "kind": "test", "command": "printf '<testsuite name=\"s\" tests=\"2\"><testcase name=\"a\"/><testcase name=\"b\"><failure message=\"boom\"/></testcase></testsuite>' > {runner_dir}/r.xml", "result_file": "{runner_dir}/r.xml", "result_format": "junit-xml"}]}"#;

struct Job {
    dir: tempfile::TempDir,
    summary: PathBuf,
    output: PathBuf,
}

fn job(plugins: &str) -> Job {
    let dir = project(plugins);
    let event = dir.path().join("event.json");
    std::fs::write(
        &event,
        r#"{"action": "synchronize", "number": 1, "pull_request": {"number": 1,
        "head": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "ref": "f", "repo": {"full_name": "octo/app"}},
        "base": {"sha": "b0", "ref": "main", "repo": {"full_name": "octo/app"}}},
        "repository": {"full_name": "octo/app"}}"#,
    )
    .unwrap();
    let summary = dir.path().join("summary.md");
    let output = dir.path().join("output.txt");
    std::fs::write(&summary, "").unwrap();
    std::fs::write(&output, "").unwrap();
    Job {
        dir,
        summary,
        output,
    }
}

/// A GitHub Actions environment (PR event) whose API is `api`.
fn github_env(j: &Job, api: &str) -> BTreeMap<String, String> {
    let ws = j.dir.path().to_string_lossy().into_owned();
    let path = std::env::var("PATH").unwrap_or_default();
    [
        ("PATH", path.as_str()),
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "octo/app"),
        ("GITHUB_API_URL", api),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_REF", "refs/pull/1/merge"),
        ("GITHUB_SHA", "ffffffffffffffffffffffffffffffffffffffff"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_WORKSPACE", ws.as_str()),
        ("INPUT_GITHUB-TOKEN", "ghs_faketoken_for_tests_0123456789"),
        ("INPUT_CHECK-RUN", "true"),
        ("CODELOOP_RETRY_BASE_MS", BASE_MS),
        ("CODELOOP_GRACE_SEC", "1"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain([
        (
            "GITHUB_EVENT_PATH".to_string(),
            j.dir
                .path()
                .join("event.json")
                .to_string_lossy()
                .into_owned(),
        ),
        (
            "GITHUB_STEP_SUMMARY".to_string(),
            j.summary.to_string_lossy().into_owned(),
        ),
        (
            "GITHUB_OUTPUT".to_string(),
            j.output.to_string_lossy().into_owned(),
        ),
    ])
    .collect()
}

fn run_env(env: &BTreeMap<String, String>, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = Command::new(bin())
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .unwrap();
    (out, t.elapsed())
}

/// `name<<DELIM` … `DELIM` blocks of GITHUB_OUTPUT.
fn outputs(path: &Path) -> BTreeMap<String, String> {
    let t = std::fs::read_to_string(path).unwrap();
    let mut m = BTreeMap::new();
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        let Some((name, delim)) = l.split_once("<<") else {
            continue;
        };
        let v: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
        m.insert(name.to_string(), v.join("\n"));
    }
    m
}

/// A complete run of `j`'s project made by `ci` with no forge in the environment.
fn ci_run(j: &Job) -> PathBuf {
    let out = cmd(&[
        "ci",
        "--cwd",
        j.dir.path().to_str().unwrap(),
        "--format",
        "json",
    ])
    .output()
    .unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    PathBuf::from(doc["run_dir"].as_str().unwrap())
}

#[test]
fn action_with_github_refusing_connections_still_delivers_a_passing_gate() {
    let j = job(PASSING);
    let run_dir = ci_run(&j);
    let mut env = github_env(&j, &refused_url());
    env.insert("INPUT_FROM".into(), run_dir.to_string_lossy().into_owned());
    let (out, took) = run_env(&env, &["action"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "gate passed → 0\n{so}\n{se}");
    assert!(so.contains("codeloop: gate PASS"), "{so}");
    assert!(
        se.contains("warning: GitHub API: GET ")
            && se.contains("Connection refused")
            && se.contains("the PR comment was not updated"),
        "{se}"
    );
    // The comment's list request ran out of retries; the check run was not even tried.
    assert!(se.contains("not tried: the API did not answer"), "{se}");
    assert!(took < ONE_REQUEST_BUDGET, "took {took:?}");
    let summary = std::fs::read_to_string(&j.summary).unwrap();
    assert!(summary.contains("codeloop: passed"), "{summary}");
    let outs = outputs(&j.output);
    assert_eq!(outs["verdict"], "pass");
    assert_eq!(outs["comment-id"], "");
}

#[test]
fn action_with_github_answering_500_runs_every_stage_and_exits_with_the_gate() {
    // The whole action (verify → diagnose → gate-check → report → publish) against an API
    // that answers 500 to everything: bounded requests, the verdict still delivered.
    let j = job(FAILING);
    let api = Broken::start();
    let env = github_env(&j, &api.url);
    let (out, took) = run_env(&env, &["action"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "gate failed → 1\n{so}\n{se}");
    assert!(so.contains("codeloop: gate FAIL"), "{so}");
    assert!(
        se.contains("answered 500") && se.contains("GitHub API"),
        "{se}"
    );
    // Three reads with full retries (the previous comment and the base branch's history
    // before the stages, the sticky comment's listing after), then nothing: no create was
    // attempted against a dead API, and no check run.
    let seen = api.seen();
    assert_eq!(seen.len(), 15, "{seen:#?}");
    assert_eq!(
        seen.iter()
            .filter(|r| r.contains("/contents/history.json.gz"))
            .count(),
        5,
        "{seen:#?}"
    );
    assert!(seen.iter().all(|r| r.starts_with("GET ")), "{seen:#?}");
    assert!(took < Duration::from_secs(60), "took {took:?}");
    let summary = std::fs::read_to_string(&j.summary).unwrap();
    assert!(summary.contains("codeloop: failed"), "{summary}");
    let outs = outputs(&j.output);
    assert_eq!(outs["verdict"], "fail");
    assert_eq!(outs["failed"], "1");
}

#[test]
fn publish_with_github_down_is_not_a_red_build_unless_asked() {
    let j = job(FAILING);
    let run_dir = ci_run(&j);
    let api = Broken::start();
    let mut env = github_env(&j, &api.url);
    env.retain(|k, _| !k.starts_with("INPUT_"));
    env.insert(
        "GITHUB_TOKEN".into(),
        "ghs_faketoken_for_tests_0123456789".into(),
    );
    let from = run_dir.to_str().unwrap();
    let (out, took) = run_env(&env, &["publish", "--from", from, "--check-run"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
    assert!(so.contains("codeloop: gate FAIL"), "{so}");
    assert!(
        se.contains("GitHub API") && se.contains("answered 500"),
        "{se}"
    );
    assert!(took < ONE_REQUEST_BUDGET, "took {took:?}");
    assert_eq!(api.seen().len(), 5, "{:#?}", api.seen());
    assert!(
        std::fs::read_to_string(&j.summary)
            .unwrap()
            .contains("codeloop: failed")
    );
    // Asked to fail on publish errors: infrastructure failure.
    env.insert("CODELOOP_FAIL_ON_PUBLISH_ERROR".into(), "true".into());
    let (out, _) = run_env(&env, &["publish", "--from", from]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
}

#[test]
fn publish_with_gitlab_down_prints_the_gate_and_exits_0() {
    for api in [refused_url(), Broken::start().url] {
        let j = job(PASSING);
        let run_dir = ci_run(&j);
        let path = std::env::var("PATH").unwrap_or_default();
        let env: BTreeMap<String, String> = [
            ("PATH", path.as_str()),
            ("CI", "true"),
            ("GITLAB_CI", "true"),
            ("CI_API_V4_URL", &format!("{api}/api/v4")),
            ("CI_SERVER_URL", "https://gitlab.example"),
            ("CI_PROJECT_ID", "42"),
            ("CI_PROJECT_PATH", "group/app"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_COMMIT_SHA", "0123456789abcdef0123456789abcdef01234567"),
            ("CODELOOP_GITLAB_TOKEN", "glpat-bot-token-for-tests-0123"),
            ("CODELOOP_RETRY_BASE_MS", BASE_MS),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let (out, took) = run_env(&env, &["publish", "--from", run_dir.to_str().unwrap()]);
        let (so, se) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{so}\n{se}");
        assert!(so.contains("codeloop: gate PASS"), "{so}");
        assert!(
            se.contains("warning: GitLab API: ") && se.contains("the MR note was not updated"),
            "{se}"
        );
        assert!(took < ONE_REQUEST_BUDGET, "took {took:?}");
    }
}

// ---------------------------------------------------------------------------------------
// A full disk, a file size limit, a read-only artifacts directory.

/// `n` passing cases with long names and `failing` failing ones: a report whose cases.jsonl
/// is far larger than the summary.
fn big_report(dir: &Path, n: usize, failing: usize) -> PathBuf {
    let mut x = format!("<testsuite name=\"s\" tests=\"{}\">", n + failing);
    for i in 0..n {
        x.push_str(&format!(
            "<testcase classname=\"pkg.module.Class\" name=\"test_{i}_{}\"/>",
            "a".repeat(120)
        ));
    }
    for i in 0..failing {
        x.push_str(&format!(
            "<testcase classname=\"pkg.C\" name=\"fails_{i}\"><failure message=\"boom {i}\"/></testcase>"
        ));
    }
    x.push_str("</testsuite>");
    let p = dir.join("big.xml");
    std::fs::write(&p, x).unwrap();
    p
}

/// codeloop with RLIMIT_FSIZE = `limit` bytes and SIGXFSZ ignored: a write past the limit
/// fails with EFBIG, like a full disk, without root.
fn with_file_limit(c: &mut Command, limit: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let r = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn only_run(artifacts: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(artifacts.join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.is_symlink())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn a_file_size_limit_mid_run_is_a_clear_infra_error_and_keeps_whole_partial_evidence() {
    let d = tempfile::tempdir().unwrap();
    big_report(d.path(), 4000, 3);
    let mut c = cmd(&[
        "verify",
        "--cwd",
        d.path().to_str().unwrap(),
        "--report",
        "big.xml",
    ]);
    with_file_limit(&mut c, 200_000);
    let out = c.output().unwrap();
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    let run_dir = only_run(&d.path().join(".codeloop"));
    assert!(
        err.contains(&format!(
            "cannot write `{}",
            run_dir.join("cases.jsonl").display()
        )) && err.contains("File too large"),
        "{err}"
    );
    assert!(
        err.contains("--artifacts-dir") && err.contains("verify.artifacts_dir"),
        "{err}"
    );
    // Whole lines only, no half copy of the report, a manifest that matches the files and
    // names what is partial.
    let manifest = assert_consistent(&run_dir).expect("manifest written");
    let errors = manifest["errors"].as_array().expect("manifest errors");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("cases.jsonl")),
        "{manifest:#}"
    );
    assert!(!run_dir.join("runners/reports/big.xml").exists());
    let cases = std::fs::read_to_string(run_dir.join("cases.jsonl")).unwrap();
    assert!(cases.lines().count() > 100, "partial cases are kept");
    // The numbers come from the parser, not from the cut file: still exact.
    let verify = read_json(&run_dir.join("verify.json"));
    assert_eq!(verify["totals"]["tests"], 4003);
    assert_eq!(verify["totals"]["failed"], 3);
}

#[test]
fn action_under_a_file_size_limit_still_delivers_the_verdict_and_exits_4() {
    let j = job(PASSING);
    big_report(j.dir.path(), 4000, 2);
    let mut env = github_env(&j, &refused_url());
    env.insert("INPUT_REPORTS".into(), "big.xml".into());
    env.insert("INPUT_DRY-RUN".into(), "true".into());
    let mut c = Command::new(bin());
    c.arg("action").env_clear().envs(&env);
    with_file_limit(&mut c, 300_000);
    let out = c.output().unwrap();
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{so}\n{se}");
    assert!(so.contains("File too large"), "{so}");
    assert!(so.contains("codeloop: gate FAIL"), "{so}");
    let summary = std::fs::read_to_string(&j.summary).unwrap();
    assert!(summary.contains("codeloop: failed"), "{summary}");
    let outs = outputs(&j.output);
    assert_eq!(outs["verdict"], "fail");
    assert_eq!(outs["failed"], "2");
    assert_eq!(outs["tests"], "4002");
}

/// Runs `script` in a new user + mount namespace (root inside, so it may mount), or returns
/// None with the reason when the kernel refuses.
fn in_namespace(script: &str) -> Option<Output> {
    let probe = Command::new("unshare").args(["-rm", "true"]).output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            eprintln!(
                "skipped: unshare -rm is refused here ({})",
                text(&o.stderr).trim()
            );
            return None;
        }
        Err(e) => {
            eprintln!("skipped: cannot run unshare: {e}");
            return None;
        }
    }
    Some(
        Command::new("unshare")
            .args(["-rm", "sh", "-c", script])
            .env("CI", "true")
            .env("CODELOOP_GRACE_SEC", "1")
            .env_remove("CODELOOP_ARTIFACTS_DIR")
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap(),
    )
}

#[test]
fn a_full_disk_names_the_path_and_keeps_the_runner_log() {
    // A 256 KiB tmpfs as the artifacts dir; the runner writes 1 MB to stdout. Inside the
    // namespace the run directory is copied out before the tmpfs goes away.
    let d = project(
        r#"{"runners": [{"id": "noisy", "kind": "test", "command": "echo first line; head -c 1000000 /dev/zero | tr '\\0' x; echo; echo never"}]}"#,
    );
    let art = d.path().join("art");
    let kept = d.path().join("kept");
    std::fs::create_dir_all(&art).unwrap();
    std::fs::create_dir_all(&kept).unwrap();
    let script = format!(
        "mount -t tmpfs -o size=256k tmpfs '{art}' || exit 99; '{bin}' verify --cwd '{cwd}' --artifacts-dir '{art}'; rc=$?; cp -a '{art}/.' '{kept}/'; exit $rc",
        art = art.display(),
        bin = bin().display(),
        cwd = d.path().display(),
        kept = kept.display(),
    );
    let Some(out) = in_namespace(&script) else {
        return;
    };
    if out.status.code() == Some(99) {
        eprintln!(
            "skipped: mounting a tmpfs is refused here: {}",
            text(&out.stderr)
        );
        return;
    }
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains(&art.display().to_string()), "{err}");
    assert!(err.contains("--artifacts-dir"), "{err}");
    let run_dir = only_run(&kept);
    // Whatever could be written is whole (no half JSON, no temp files); the runner's log
    // keeps what it wrote before the disk filled up.
    assert_consistent(&run_dir);
    let log = std::fs::read(run_dir.join("runners/noisy/stdout.log")).unwrap();
    assert!(log.starts_with(b"first line\n"), "log lost");
    assert!(log.len() > 100_000, "{}", log.len());
}

#[test]
fn a_read_only_artifacts_dir_is_a_clear_infra_error() {
    let d = project(r#"{"runners": [{"id": "ok", "kind": "test", "command": "true"}]}"#);
    let art = d.path().join("art");
    std::fs::create_dir_all(&art).unwrap();
    let script = format!(
        "mount --bind '{art}' '{art}' && mount -o remount,bind,ro '{art}' || exit 99; exec '{bin}' verify --cwd '{cwd}' --artifacts-dir '{art}'",
        art = art.display(),
        bin = bin().display(),
        cwd = d.path().display(),
    );
    let Some(out) = in_namespace(&script) else {
        return;
    };
    if out.status.code() == Some(99) {
        eprintln!(
            "skipped: a read-only bind mount is refused here: {}",
            text(&out.stderr)
        );
        return;
    }
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!("`{}", art.join("runs").display()))
            && err.contains("Read-only file system")
            && err.contains("--artifacts-dir"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn action_forwards_sigterm_to_verify_and_publishes_nothing() {
    // `docker stop` signals only PID 1 (codeloop action): the verify stage must still stop
    // its runners and record the interruption, and no later stage or publishing may run.
    let j = job(&hanging_plugins(false));
    let api = Broken::start();
    let env = github_env(&j, &api.url);
    let child = Command::new(bin())
        .arg("action")
        .env_clear()
        .envs(&env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let run_dir = wait_for_run_file(&j.dir.path().join(".codeloop"), "runners/long/pids", 3);
    let pids = pids_in(&run_dir.join("runners/long/pids"));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "{so}\n{se}");
    assert!(se.contains("received SIGTERM during verify"), "{se}");
    let survivors = wait_gone(&pids);
    assert!(
        survivors.is_empty(),
        "runner processes survived: {survivors:?}"
    );
    let manifest = assert_consistent(&run_dir).expect("verify wrote its manifest");
    assert_eq!(manifest["status"], "interrupted");
    assert!(!run_dir.join("gate.json").exists());
    // Only the previous-comment lookup before verify reached the API; nothing after.
    let seen = api.seen();
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert!(seen.iter().all(|r| r.starts_with("GET ")), "{seen:#?}");
    assert_eq!(std::fs::read_to_string(&j.summary).unwrap(), "");
}

#[test]
fn a_full_job_summary_and_output_file_are_warnings_and_the_gate_decides() {
    // GITHUB_STEP_SUMMARY and GITHUB_OUTPUT on a full disk (/dev/full answers ENOSPC): the
    // verdict is still printed, each file is named in a warning, and the exit code is the
    // gate's (1 here), not an infrastructure failure.
    if !Path::new("/dev/full").exists() {
        eprintln!("skipped: no /dev/full on this system");
        return;
    }
    let j = job(FAILING);
    let run_dir = ci_run(&j);
    let mut env = github_env(&j, &refused_url());
    env.insert("INPUT_FROM".into(), run_dir.to_string_lossy().into_owned());
    env.insert("INPUT_DRY-RUN".into(), "true".into());
    env.insert("GITHUB_STEP_SUMMARY".into(), "/dev/full".into());
    env.insert("GITHUB_OUTPUT".into(), "/dev/full".into());
    let (out, _) = run_env(&env, &["action"]);
    let (so, se) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{so}\n{se}");
    assert!(so.contains("codeloop: gate FAIL"), "{so}");
    for var in ["GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT"] {
        assert!(
            se.contains(&format!(
                "cannot write `/dev/full` (from {var}): No space left"
            )),
            "{se}"
        );
    }
}
