//! `codeloop verify`, `status`, `history`, `init`, `doctor` end to end: the real binary on
//! small projects in temp dirs (the demo, plugin fixtures, hanging and missing tools).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs codeloop in CI mode (plain lines) with `args`.
fn codeloop(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run codeloop")
}

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

fn verify_json(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> (Output, Value) {
    let cwd = dir.to_str().unwrap();
    let mut args = vec!["verify", "--cwd", cwd, "--format", "json"];
    args.extend_from_slice(extra);
    let out = codeloop(&args, env);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out, v)
}

fn runner<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no runner {id} in {doc:#}"))
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        if rel.starts_with(".codeloop/runs") {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

pub fn validate(schema_file: &str, instance: &Value) {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schemas").join(schema_file)).unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = v
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:#?}");
}

fn sha256(p: &Path) -> String {
    use sha2::Digest;
    let bytes = std::fs::read(p).unwrap();
    sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn demo_run_is_complete_and_validates_against_the_schemas() {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/demo"), d.path());
    let (out, doc) = verify_json(d.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    validate("verify.schema.json", &doc);
    assert_eq!(doc["status"], "failed");
    assert_eq!(runner(&doc, "build")["status"], "passed");
    assert_eq!(runner(&doc, "build")["kind"], "build");
    for (id, report) in [("pytest", "pytest.xml"), ("jest", "jest-junit.xml")] {
        let r = runner(&doc, id);
        assert_eq!(r["status"], "failed", "{r:#}");
        assert_eq!(r["exit_code"], 1);
        assert_eq!(r["source"], "plugin");
        // Written into {run_dir} by the runner: referenced there, not copied again.
        assert_eq!(r["result_files"][0]["copy"], report, "{r:#}");
    }
    assert_eq!(
        runner(&doc, "pytest")["result_files"][0]["format"],
        "junit-xml"
    );
    // The runner wrote its report under {run_dir}; the command shows the interpolated path.
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    assert!(
        runner(&doc, "pytest")["command"]
            .as_str()
            .unwrap()
            .contains(&format!("{}/pytest.xml", run_dir.display()))
    );
    assert_eq!(runner(&doc, "lint")["kind"], "lint");
    // verify.json on disk is the document printed (minus run_dir/exit_code).
    let on_disk: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("verify.json")).unwrap())
            .unwrap();
    assert_eq!(on_disk["run_id"], doc["run_id"]);
    assert_eq!(on_disk["runners"], doc["runners"]);
    validate("verify.schema.json", &on_disk);
    // manifest.json: valid, lists every other file with the right hash, not itself.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("manifest.json")).unwrap())
            .unwrap();
    validate("manifest.schema.json", &manifest);
    assert_eq!(manifest["status"], "failed");
    let files = manifest["files"].as_array().unwrap();
    let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
    for want in [
        "verify.json",
        "events.jsonl",
        "cases.jsonl",
        "findings.jsonl",
        "pytest.xml",
        "runners/build/stdout.log",
        "runners/lint/stdout.log",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
    assert!(!paths.contains(&"manifest.json"));
    // cases.jsonl / findings.jsonl: every case and finding, tagged with its runner.
    let cases: Vec<Value> = std::fs::read_to_string(run_dir.join("cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(cases.len(), 27);
    assert_eq!(cases.iter().filter(|c| c["runner"] == "pytest").count(), 15);
    let findings = std::fs::read_to_string(run_dir.join("findings.jsonl")).unwrap();
    let f: Vec<Value> = findings
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0]["runner"], "lint");
    assert_eq!(f[0]["file"], "js/spec/mixed.spec.js");
    for f in files {
        let p = run_dir.join(f["path"].as_str().unwrap());
        assert_eq!(f["sha256"].as_str().unwrap(), sha256(&p), "{}", p.display());
        assert_eq!(
            f["bytes"].as_u64().unwrap(),
            std::fs::metadata(&p).unwrap().len()
        );
    }
    // events.jsonl: timestamps, run.started first, run.finished last, one pair per runner.
    let events: Vec<Value> = std::fs::read_to_string(run_dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.first().unwrap()["event"], "run.started");
    assert_eq!(events.first().unwrap()["schema_version"], 1);
    assert_eq!(events.last().unwrap()["event"], "run.finished");
    assert!(
        events
            .iter()
            .all(|e| e["ts"].as_str().is_some_and(|t| t.ends_with('Z')))
    );
    let finished = events
        .iter()
        .filter(|e| e["event"] == "runner.finished")
        .count();
    assert_eq!(finished, 4);
    // `latest` points at this run; status reads it.
    let latest = std::fs::read_link(d.path().join(".codeloop/runs/latest")).unwrap();
    assert_eq!(latest.to_str().unwrap(), doc["run_id"].as_str().unwrap());
    let st = codeloop(
        &[
            "status",
            "--cwd",
            d.path().to_str().unwrap(),
            "--format",
            "json",
        ],
        &[],
    );
    assert_eq!(st.status.code(), Some(0), "{}", text(&st.stderr));
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["run_id"], doc["run_id"]);
    assert_eq!(st["status"], "failed");
}

#[test]
fn demo_human_output_names_every_runner() {
    let d = tempfile::tempdir().unwrap();
    copy_dir(&repo().join("examples/demo"), d.path());
    let out = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let so = text(&out.stdout);
    for id in ["build", "pytest", "jest", "lint"] {
        assert!(so.contains(id), "{so}");
    }
    assert!(so.contains("run directory: .codeloop/runs/"), "{so}");
    // CI mode: plain progress lines on stderr.
    let se = text(&out.stderr);
    assert!(se.contains("codeloop: build: started"), "{se}");
    assert!(se.contains("codeloop: pytest: failed in"), "{se}");
}

#[test]
fn a_collecting_runner_shows_no_run_time_in_the_table() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("r")).unwrap();
    std::fs::copy(
        repo().join("examples/demo/reports/pytest-junit.xml"),
        d.path().join("r/pytest.xml"),
    )
    .unwrap();
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            d.path().to_str().unwrap(),
            "--report",
            "r/*.xml",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let so = text(&out.stdout);
    // No command ran: "0.0s" there read as if reading the reports took no time.
    let line = so.lines().find(|l| l.starts_with("  reports")).unwrap();
    assert!(
        line.ends_with("  failed             -  15 tests, 4 failed, 1 errored"),
        "{line:?}"
    );
    // The progress line says how long reading them took.
    let se = text(&out.stderr);
    assert!(se.contains("codeloop: reports: failed in "), "{se}");
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

#[test]
fn timeout_kills_the_whole_process_group() {
    // The runner starts two background children (one ignores SIGTERM) and a foreground one,
    // records all pids, and hangs. After the 1 s timeout and 1 s grace none may survive.
    let d = project(
        r#"{"runners": [{"id": "hang", "kind": "test", "timeout_sec": 1,
        "command": "trap '' TERM; (trap '' TERM; sleep 120) & echo $! >> {runner_dir}/pids; sleep 120 & echo $! >> {runner_dir}/pids; echo $$ >> {runner_dir}/pids; sleep 120; wait"},
        {"id": "quick", "kind": "test", "command": "true"}]}"#,
    );
    let t = Instant::now();
    let (out, doc) = verify_json(d.path(), &[], &[("CODELOOP_GRACE_SEC", "1")]);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(out.status.code(), Some(1));
    let r = runner(&doc, "hang");
    assert_eq!(r["status"], "timeout", "{r:#}");
    assert!(r["hint"].as_str().unwrap().contains("timeout of 1s"));
    assert_eq!(runner(&doc, "quick")["status"], "passed");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let pids: Vec<i32> = std::fs::read_to_string(run_dir.join("runners/hang/pids"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 3);
    // Give init a moment to reap.
    let deadline = Instant::now() + Duration::from_secs(5);
    while pids.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let survivors: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
    assert!(survivors.is_empty(), "orphans survived: {survivors:?}");
}

#[test]
fn jobs_bounds_how_many_runners_run_at_once() {
    // Each runner waits for the other's marker file: they can only both pass when they run
    // at the same time. With --jobs 1 the first one waits in vain and times out.
    let d = project(
        r#"{"runners": [
        {"id": "a", "kind": "test", "timeout_sec": 3, "command": "touch {run_dir}/a; until [ -e {run_dir}/b ]; do sleep 0.05; done"},
        {"id": "b", "kind": "test", "timeout_sec": 3, "command": "touch {run_dir}/b; until [ -e {run_dir}/a ]; do sleep 0.05; done"}]}"#,
    );
    let (out, doc) = verify_json(d.path(), &["--jobs", "2"], &[("CODELOOP_GRACE_SEC", "1")]);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let (out, doc) = verify_json(d.path(), &["--jobs", "1"], &[("CODELOOP_GRACE_SEC", "1")]);
    assert_eq!(out.status.code(), Some(1));
    let mut st = [
        runner(&doc, "a")["status"].clone(),
        runner(&doc, "b")["status"].clone(),
    ];
    st.sort_by_key(|v| v.to_string());
    assert_eq!(
        st,
        [serde_json::json!("passed"), serde_json::json!("timeout")],
        "{doc:#}"
    );
}

#[test]
fn huge_numbers_are_clamped_not_overflowed() {
    let d = project(r#"{"runners": [{"id": "ok", "kind": "test", "command": "true"}]}"#);
    let (out, doc) = verify_json(
        d.path(),
        &["--timeout", "18446744073709551615", "--jobs", "1000000"],
        &[("CODELOOP_GRACE_SEC", "18446744073709551615")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(runner(&doc, "ok")["status"], "passed");
}

#[test]
fn cli_timeout_wins_over_plugin_timeout() {
    let d = project(
        r#"{"runners": [{"id": "slow", "kind": "test", "timeout_sec": 100, "command": "sleep 30"}]}"#,
    );
    let t = Instant::now();
    let (_, doc) = verify_json(
        d.path(),
        &["--timeout", "1"],
        &[("CODELOOP_GRACE_SEC", "1")],
    );
    assert!(t.elapsed() < Duration::from_secs(20));
    assert_eq!(runner(&doc, "slow")["status"], "timeout");
}

fn run_count(dir: &Path) -> usize {
    std::fs::read_dir(dir.join(".codeloop/runs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .count()
}

#[test]
fn runs_are_append_only_and_history_gc_keeps_exactly_n() {
    let d = project(r#"{"runners": [{"id": "ok", "kind": "test", "command": "true"}]}"#);
    let cwd = d.path().to_str().unwrap();
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (out, doc) = verify_json(d.path(), &[], &[]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        ids.push(doc["run_id"].as_str().unwrap().to_string());
    }
    // An incomplete (interrupted) run older than the newest complete one.
    std::fs::create_dir_all(d.path().join(".codeloop/runs/20000101T000000000Z-dead")).unwrap();
    assert_eq!(run_count(d.path()), 5);
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "run ids sort by time");
    let h = codeloop(&["history", "--cwd", cwd], &[]);
    assert!(
        text(&h.stdout).contains("incomplete"),
        "{}",
        text(&h.stdout)
    );
    let out = codeloop(
        &[
            "history", "--cwd", cwd, "--gc", "--keep", "2", "--format", "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deleted"].as_array().unwrap().len(), 3);
    assert_eq!(run_count(d.path()), 2);
    let kept: Vec<&str> = v["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(kept, [ids[3].as_str(), ids[2].as_str()]);
    let latest = std::fs::read_link(d.path().join(".codeloop/runs/latest")).unwrap();
    assert_eq!(latest.to_str().unwrap(), ids[3]);
}

#[test]
fn plugin_overrides_a_builtin_with_the_same_id() {
    let d = project(
        r#"{"runners": [{"id": "cargo-build", "kind": "build", "command": "echo plugin-wins $CODELOOP_RUNNER_ID $CODELOOP_RUN_ID"}]}"#,
    );
    std::fs::write(d.path().join("Cargo.toml"), "[package]\nname = \"x\"\n").unwrap();
    let (out, doc) = verify_json(d.path(), &["--runner", "cargo-build"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(doc["runners"].as_array().unwrap().len(), 1);
    let r = runner(&doc, "cargo-build");
    assert_eq!(r["source"], "plugin");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let log = std::fs::read_to_string(run_dir.join("runners/cargo-build/stdout.log")).unwrap();
    assert_eq!(
        log.trim(),
        format!(
            "plugin-wins cargo-build {}",
            doc["run_id"].as_str().unwrap()
        )
    );
    // Unknown --runner lists the known ones.
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            d.path().to_str().unwrap(),
            "--runner",
            "nope",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("known runners: cargo-build"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn failed_build_blocks_tests_but_not_lint() {
    let d = project(
        r#"{"runners": [
        {"id": "compile", "kind": "build", "command": "echo 'error: does not compile' >&2; exit 2"},
        {"id": "unit", "kind": "test", "command": "touch {run_dir}/unit-ran"},
        {"id": "style", "kind": "lint", "command": "true"}]}"#,
    );
    let (out, doc) = verify_json(d.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(runner(&doc, "compile")["status"], "failed");
    assert_eq!(runner(&doc, "compile")["exit_code"], 2);
    let unit = runner(&doc, "unit");
    assert_eq!(unit["status"], "blocked");
    assert_eq!(unit["depends_on"], serde_json::json!(["compile"]));
    assert!(unit["hint"].as_str().unwrap().contains("`compile`"));
    assert_eq!(runner(&doc, "style")["status"], "passed");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    assert!(!run_dir.join("unit-ran").exists());
    let err = std::fs::read_to_string(run_dir.join("runners/compile/stderr.log")).unwrap();
    assert_eq!(err, "error: does not compile\n");
}

#[test]
fn missing_tool_is_unavailable_and_the_others_still_run() {
    let d = project(
        r#"{"runners": [
        {"id": "ghost", "kind": "test", "command": "codeloop-no-such-tool-xyz --run"},
        {"id": "real", "kind": "test", "command": "echo fine"}]}"#,
    );
    let (out, doc) = verify_json(d.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    let g = runner(&doc, "ghost");
    assert_eq!(g["status"], "unavailable", "{g:#}");
    let hint = g["hint"].as_str().unwrap();
    assert!(
        hint.contains("`codeloop-no-such-tool-xyz` was not found"),
        "{hint}"
    );
    assert!(hint.contains("plugins.json"), "{hint}");
    assert_eq!(runner(&doc, "real")["status"], "passed");
}

/// A plugin runner that leaves no report says so, with how its command ended: exit code and
/// output for one that failed first, the files that look like reports for one that exited 0
/// (it wrote its report elsewhere). Paths are the project's, not absolute; the other runners'
/// results are still read, and the gate and the diagnosis name what happened.
#[test]
fn a_plugin_that_writes_no_report_says_how_its_command_ended() {
    let d = project(
        r#"{"runners": [
        {"id": "dies", "kind": "test", "command": "echo 'fatal: DATABASE_URL is not set' >&2; exit 3",
         "result_file": "{run_dir}/dies.xml"},
        {"id": "elsewhere", "kind": "lint", "command": "cp ok.xml out.xml",
         "result_file": ["{runner_dir}/*.json"]},
        {"id": "fine", "kind": "test", "command": "cp ok.xml {runner_dir}/ok.xml",
         "result_file": "{runner_dir}/ok.xml"}]}"#,
    );
    std::fs::write(
        d.path().join("ok.xml"),
        r#"<testsuite name="s" tests="1"><testcase classname="t" name="ok"/></testsuite>"#,
    )
    .unwrap();
    let (_, doc) = verify_json(d.path(), &[], &[]);
    let run_id = doc["run_id"].as_str().unwrap();
    let dies = runner(&doc, "dies");
    assert_eq!(dies["status"], "failed", "{dies:#}");
    let e = &dies["parse_errors"][0];
    assert_eq!(e["missing"], true, "{e:#}");
    assert_eq!(e["file"], format!(".codeloop/runs/{run_id}/dies.xml"));
    let m = e["message"].as_str().unwrap();
    assert!(m.contains("exited with code 3 before writing it"), "{m}");
    assert!(!m.contains("look like test reports"), "{m}");
    let e = &runner(&doc, "elsewhere")["parse_errors"][0];
    assert_eq!(e["missing"], true, "{e:#}");
    let m = e["message"].as_str().unwrap();
    assert!(
        m.contains("exited 0 without writing it") && m.contains("`out.xml` (junit-xml)"),
        "{m}"
    );
    assert_eq!(runner(&doc, "fine")["counts"]["passed"], 1);

    let o = codeloop(&["ci", "--cwd", d.path().to_str().unwrap()], &[]);
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(out.contains("no report written"), "{out}");
    assert!(
        out.contains(
            "2 runners wrote no report, so their results are missing: `dies` (`.codeloop/runs/"
        ),
        "{out}"
    );
    assert!(!out.contains("could not be read"), "{out}");
    let comment =
        std::fs::read_to_string(d.path().join(".codeloop/runs/latest/report/comment.md")).unwrap();
    assert!(
        !comment.contains(&d.path().display().to_string()),
        "{comment}"
    );
    assert!(
        comment.contains("runner <code>dies</code> wrote no report"),
        "{comment}"
    );
    assert!(
        comment.contains("fatal: DATABASE_URL is not set"),
        "{comment}"
    );
}

/// `--report` with a plain path that does not exist is the same as a glob that matches
/// nothing (exit 3, the pattern and the files that look like reports named), not an
/// "unreadable" file.
#[test]
fn a_collect_path_that_does_not_exist_is_a_pattern_that_matched_nothing() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("build")).unwrap();
    std::fs::write(
        d.path().join("build/TEST-a.xml"),
        r#"<testsuite name="s" tests="1"><testcase classname="t" name="ok"/></testsuite>"#,
    )
    .unwrap();
    let o = codeloop(
        &[
            "ci",
            "--cwd",
            d.path().to_str().unwrap(),
            "--report",
            "reports/junit.xml",
        ],
        &[],
    );
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(3), "{out}");
    assert!(
        out.contains(
            "no file matched `reports/junit.xml` (test reports are at `build/TEST-a.xml`)"
        ),
        "{out}"
    );
    assert!(!out.contains("could not be read"), "{out}");
}

/// A plugins.json with no runner is not "no .codeloop/plugins.json": the message says the
/// file lists none, and the hint says to add one.
#[test]
fn a_plugins_json_without_runners_says_so() {
    let d = project(r#"{"name": "p", "runners": []}"#);
    let o = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(3));
    let err = text(&o.stderr);
    assert!(
        err.contains("no runner detected and .codeloop/plugins.json lists no runner"),
        "{err}"
    );
    assert!(err.contains("add a runner to `runners`"), "{err}");
    assert!(!err.contains("codeloop init"), "{err}");
}

/// A wrong type under `verify` in config.json is named with its file, line and key by `ci`
/// too, and the hint does not send the reader to the gate's page for a verify key.
#[test]
fn ci_names_a_bad_verify_key_without_pointing_at_the_gate_docs() {
    let d = project(r#"{"runners": [{"id": "a", "kind": "test", "command": "true"}]}"#);
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        "{\"verify\": {\n  \"timeout_sec\": \"15m\"}}",
    )
    .unwrap();
    let o = codeloop(&["ci", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = text(&o.stderr);
    assert!(
        err.contains("`verify.timeout_sec`") && err.contains("at line 2"),
        "{err}"
    );
    assert!(!err.contains("for the gate settings"), "{err}");
    assert!(err.contains("README.md, \"Configuration\""), "{err}");
}

#[test]
fn missing_detect_file_skips_the_runner_with_a_reason() {
    let d = project(
        r#"{"runners": [{"id": "dj", "kind": "test", "detect_file": "manage.py", "command": "false"},
        {"id": "ok", "kind": "test", "command": "true"}]}"#,
    );
    let (out, doc) = verify_json(d.path(), &[], &[]);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    let dj = runner(&doc, "dj");
    assert_eq!(dj["status"], "skipped");
    assert!(
        dj["hint"]
            .as_str()
            .unwrap()
            .contains("detect_file `manage.py` not found")
    );
}

#[test]
fn invalid_plugins_json_names_file_line_key_and_fix() {
    let d = project(
        "{\n  \"runners\": [\n    {\"id\": \"a\", \"kind\": \"test\",\n     \"timeout_sec\": \"ten\",\n     \"command\": \"true\"}\n  ]\n}\n",
    );
    let out = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains(".codeloop/plugins.json"), "{e}");
    assert!(e.contains("line 4"), "{e}");
    assert!(e.contains("runners[0].timeout_sec"), "{e}");
    assert!(e.contains("hint:"), "{e}");
    assert!(
        !d.path().join(".codeloop/runs").exists(),
        "no run for a config error"
    );

    // Syntax error: a missing comma (trailing commas are allowed: the file is JSONC).
    std::fs::write(
        d.path().join(".codeloop/plugins.json"),
        "{\"runners\": [\n  {\"id\": \"a\", \"kind\": \"test\", \"command\": \"true\" \"x\": 1}\n]}",
    )
    .unwrap();
    let e = text(&codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]).stderr);
    assert!(
        e.contains("line 2") && e.contains("after key `command`"),
        "{e}"
    );
    assert!(e.contains("trailing commas"), "{e}");

    // Unknown result_format lists the valid ones; unknown keys are warnings.
    std::fs::write(
        d.path().join(".codeloop/plugins.json"),
        r#"{"runners": [{"id": "a", "kind": "test", "comand": "x", "command": "true", "result_file": "r.xml", "result_format": "junitt"}]}"#,
    )
    .unwrap();
    let out = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(e.contains("did you mean `runners[0].command`"), "{e}");
    assert!(e.contains("unknown result_format `junitt`"), "{e}");
    assert!(e.contains("junit-xml") && e.contains("rspec-json"), "{e}");
}

#[test]
fn config_json_errors_and_warnings() {
    let d = project(r#"{"runners": [{"id": "ok", "kind": "test", "command": "true"}]}"#);
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        "{\n  \"_comment\": \"x\",\n  \"verify\": {\"timout_sec\": 5}\n}\n",
    )
    .unwrap();
    let out = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0));
    let e = text(&out.stderr);
    assert!(
        e.contains("warning:") && e.contains("did you mean `verify.timeout_sec`"),
        "{e}"
    );
    std::fs::write(
        d.path().join(".codeloop/config.json"),
        "{\n  \"verify\": {\n    \"jobs\": -1\n  }\n}\n",
    )
    .unwrap();
    let out = codeloop(&["verify", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("config.json") && e.contains("line 3") && e.contains("verify.jobs"),
        "{e}"
    );
    // A bad env value names the variable.
    std::fs::remove_file(d.path().join(".codeloop/config.json")).unwrap();
    let out = codeloop(
        &["verify", "--cwd", d.path().to_str().unwrap()],
        &[("CODELOOP_JOBS", "lots")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("CODELOOP_JOBS"));
}

#[test]
fn collect_mode_refuses_escaping_globs_and_unknown_hints() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(d.path().join("outside.xml"), "<testsuite/>").unwrap();
    let (out, doc) = verify_json(&ws, &["--report", "../*.xml"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let r = runner(&doc, "reports");
    assert_eq!(r["source"], "collect");
    assert_eq!(r["status"], "failed");
    assert!(
        r["parse_errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("outside the workspace")
    );
    // The hint says something even when no pattern was left unmatched (all were refused).
    assert_eq!(
        r["hint"], "no result file was collected: see the errors above",
        "{r}"
    );
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            ws.to_str().unwrap(),
            "--report",
            "x.xml",
            "--format-hint",
            "junit-xmll",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("junit-xml, "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn collect_mode_ingests_files_and_records_parse_errors_per_file() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(d.path().join("out")).unwrap();
    std::fs::copy(
        repo().join("examples/demo/reports/pytest-junit.xml"),
        d.path().join("out/a.xml"),
    )
    .unwrap();
    std::fs::write(d.path().join("out/broken.xml"), "").unwrap();
    let (_, doc) = verify_json(
        d.path(),
        &["--report", "out/*.xml", "--format-hint", "junit-xml"],
        &[],
    );
    let r = runner(&doc, "reports");
    let files = r["result_files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{r:#}");
    assert_eq!(files[0]["path"], "out/a.xml");
    assert_eq!(files[0]["copy"], "runners/reports/a.xml");
    assert_eq!(files[0]["counts"]["tests"], 15);
    assert_eq!(files[1]["ok"], false);
    assert_eq!(r["counts"]["failed"], 4);
    assert!(
        r["parse_errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"] == "out/broken.xml"),
        "{r:#}"
    );
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    assert_eq!(
        std::fs::read(run_dir.join("runners/reports/a.xml")).unwrap(),
        std::fs::read(d.path().join("out/a.xml")).unwrap()
    );
}

#[test]
fn a_report_that_cannot_be_read_fails_its_runner() {
    // A clean exit with an unreadable report must not look green: the evidence is missing.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("pom.xml"),
        "<project><modelVersion>4.0.0</modelVersion></project>",
    )
    .unwrap();
    let (_, doc) = verify_json(d.path(), &["--report", "pom.xml"], &[]);
    let r = runner(&doc, "reports");
    assert_eq!(r["status"], "failed", "{r:#}");
    let msg = r["parse_errors"][0]["message"].as_str().unwrap();
    assert!(msg.contains("<project>"), "{msg}");
}

#[test]
fn unwritable_artifacts_dir_is_an_infrastructure_error() {
    let d = project(r#"{"runners": [{"id": "ok", "kind": "test", "command": "true"}]}"#);
    let file = d.path().join("not-a-dir");
    std::fs::write(&file, "").unwrap();
    let out = codeloop(
        &[
            "verify",
            "--cwd",
            d.path().to_str().unwrap(),
            "--artifacts-dir",
            file.join("sub").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(4));
    let e = text(&out.stderr);
    assert!(
        e.contains("cannot create the run directory") && e.contains("--artifacts-dir"),
        "{e}"
    );
}

/// Writes an executable stub script.
fn stub(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn stub_path(stubs: &Path) -> String {
    format!("{}:/usr/bin:/bin", stubs.display())
}

#[test]
fn django_plugin_runs_against_a_fixture_project() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app");
    let stubs = d.path().join("bin");
    std::fs::create_dir_all(app.join(".codeloop")).unwrap();
    std::fs::create_dir_all(&stubs).unwrap();
    std::fs::copy(
        repo().join("examples/plugins/django/plugins.json"),
        app.join(".codeloop/plugins.json"),
    )
    .unwrap();
    std::fs::write(app.join("manage.py"), "# django\n").unwrap();
    stub(
        &stubs,
        "pytest",
        r#"for a in "$@"; do case "$a" in --junitxml=*) out="${a#--junitxml=}";; esac; done
cat > "$out" <<'XML'
<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="0"><testcase classname="polls.tests" name="test_index" time="0.01"/><testcase classname="polls.tests" name="test_detail" time="0.02"/></testsuite></testsuites>
XML
echo "2 passed""#,
    );
    stub(
        &stubs,
        "ruff",
        r#"for a in "$@"; do case "$a" in --output-file=*) out="${a#--output-file=}";; esac; done
echo '[]' > "$out""#,
    );
    stub(
        &stubs,
        "python",
        r#"[ "$1" = manage.py ] && [ "$2" = makemigrations ] || exit 2
echo "Migrations for 'polls':"; echo "  polls/migrations/0002_choice_votes.py"; exit 1"#,
    );
    let (out, doc) = verify_json(&app, &[], &[("PATH", &stub_path(&stubs))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let t = runner(&doc, "django_pytest");
    assert_eq!(t["status"], "passed", "{t:#}");
    assert!(
        t["result_files"][0]["bytes"].as_u64().unwrap() > 100,
        "{t:#}"
    );
    assert_eq!(runner(&doc, "django_lint")["status"], "passed");
    let m = runner(&doc, "django_migrations");
    assert_eq!(m["status"], "failed");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let log =
        std::fs::read_to_string(run_dir.join("runners/django_migrations/stdout.log")).unwrap();
    assert!(log.contains("0002_choice_votes.py"));
    assert!(run_dir.join("django.xml").is_file());
    assert!(run_dir.join("runners/django_lint/ruff.json").is_file());
}

#[test]
fn rails_plugin_runs_against_a_fixture_project() {
    let d = tempfile::tempdir().unwrap();
    let app = d.path().join("app");
    let stubs = d.path().join("stubs");
    std::fs::create_dir_all(app.join(".codeloop")).unwrap();
    std::fs::create_dir_all(app.join("bin")).unwrap();
    std::fs::create_dir_all(&stubs).unwrap();
    std::fs::copy(
        repo().join("examples/plugins/rails/plugins.json"),
        app.join(".codeloop/plugins.json"),
    )
    .unwrap();
    std::fs::write(app.join("Gemfile"), "source 'https://rubygems.org'\n").unwrap();
    stub(
        &app.join("bin"),
        "rails",
        r#"[ "$1" = db:migrate:status ] || exit 2
echo " Status   Migration ID    Migration Name"
echo "--------------------------------------------------"
echo "   up     20240101000000  Create users"
echo "  down    20240202000000  Add email to users""#,
    );
    stub(
        &stubs,
        "bundle",
        r#"[ "$1" = exec ] || exit 2
tool="$2"; out=""; prev=""
for a in "$@"; do [ "$prev" = --out ] && out="$a"; prev="$a"; done
case "$tool" in
  rspec) echo '..F'; printf '%s' '{"version":"3.13.0","examples":[{"id":"./spec/a_spec.rb[1:1]","description":"works","full_description":"A works","status":"passed","file_path":"./spec/a_spec.rb","line_number":2,"run_time":0.01}],"summary":{"duration":0.02,"example_count":1,"failure_count":0,"pending_count":0,"errors_outside_of_examples_count":0},"summary_line":"1 example, 0 failures"}' > "$out";;
  rubocop) printf '%s' '{"metadata":{"rubocop_version":"1.60.0"},"files":[],"summary":{"offense_count":0,"target_file_count":0,"inspected_file_count":0}}' > "$out";;
  *) exit 2;;
esac"#,
    );
    let (out, doc) = verify_json(&app, &[], &[("PATH", &stub_path(&stubs))]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert_eq!(doc["runners"].as_array().unwrap().len(), 3);
    let t = runner(&doc, "rails_rspec");
    assert_eq!(t["status"], "passed", "{t:#}");
    assert!(
        t["result_files"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("rspec.json"),
        "{t:#}"
    );
    assert_eq!(t["counts"]["passed"], 1, "{t:#}");
    assert_eq!(runner(&doc, "rails_rubocop")["status"], "passed");
    assert!(
        runner(&doc, "rails_rubocop")["parse_errors"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let m = runner(&doc, "rails_migrations");
    assert_eq!(m["status"], "failed", "{m:#}");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let log = std::fs::read_to_string(run_dir.join("runners/rails_migrations/stdout.log")).unwrap();
    assert_eq!(log.trim(), "pending migration: 20240202000000");
}

#[test]
fn init_writes_starter_files_that_doctor_and_verify_accept() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("pytest.ini"), "[pytest]\n").unwrap();
    let cwd = d.path().to_str().unwrap();
    let out = codeloop(&["init", "--cwd", cwd], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("detected: python"));
    for f in ["config.json", "plugins.json", "README.md"] {
        assert!(d.path().join(".codeloop").join(f).is_file(), "{f}");
    }
    // Keeps the existing files without --force (tests/it/onboard.rs has the details).
    let again = codeloop(&["init", "--cwd", cwd], &[]);
    assert_eq!(again.status.code(), Some(0));
    assert!(text(&again.stdout).contains("--force"));
    let doc = codeloop(
        &["doctor", "--cwd", cwd, "--format", "json"],
        &[("PATH", "/usr/bin:/bin")],
    );
    let v: Value = serde_json::from_slice(&doc.stdout).unwrap();
    assert_eq!(v["config_found"], true);
    assert_eq!(v["plugins_found"], true);
    assert_eq!(v["stacks"], serde_json::json!(["python"]));
    assert!(v["warnings"].as_array().unwrap().is_empty(), "{v:#}");
    assert_eq!(v["runners"][0]["id"], "pytest");
    assert_eq!(v["runners"][0]["source"], "plugin");
    let human = codeloop(&["doctor", "--cwd", cwd], &[]);
    let s = text(&human.stdout);
    assert!(s.contains("runs go to:") && s.contains("on PATH:"), "{s}");
}

#[test]
fn doctor_explains_a_broken_setup() {
    let d = project("{\"runners\": [ {\"id\": 5} ]}");
    let out = codeloop(&["doctor", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let s = text(&out.stdout);
    assert!(
        s.contains("problem:") && s.contains("plugins.json") && s.contains("fix:"),
        "{s}"
    );
}

#[test]
fn status_without_runs_says_what_to_do() {
    let d = tempfile::tempdir().unwrap();
    let out = codeloop(&["status", "--cwd", d.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("codeloop verify"),
        "{}",
        text(&out.stderr)
    );
}
