//! `codeloop gate-check` and the stages of `codeloop ci` end to end on run directories built
//! here: exit codes, gate.json, baselines (run directory and gate.json), bad settings.

use std::path::Path;
use std::process::{Command, Output};

use codeloop::artifact;
use codeloop::model::{Case, RunnerKind, RunnerStatus, Status};

use crate::common::bin;
use crate::diagnose::{failing, runner, verify_doc, write_run};

fn gate_check(cwd: &Path, extra: &[&str]) -> Output {
    Command::new(bin())
        .arg("gate-check")
        .arg("--cwd")
        .arg(cwd)
        .args(extra)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_CONFIG")
        .output()
        .unwrap()
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A pytest run in `ws` with `passed` passing tests and the named failing ones.
fn pytest_run(ws: &Path, id: &str, passed: usize, bad: &[(&str, u32)]) -> artifact::RunDir {
    let wss = ws.to_string_lossy().to_string();
    let mut cases: Vec<Case> = (0..passed)
        .map(|i| {
            let mut c = Case::new(format!("test_ok_{i}"), Status::Passed);
            c.runner = "pytest".into();
            c.classname = Some("tests.api.test_api".into());
            c
        })
        .collect();
    for (name, line) in bad {
        cases.push(failing(
            "pytest",
            Some("tests.api.test_api"),
            name,
            Some("tests/api/test_api.py"),
            None,
            "assert 1 == 2",
            &format!("tests/api/test_api.py:{line}: AssertionError"),
        ));
    }
    let mut r = runner("pytest", RunnerKind::Test, &wss, "pytest --junitxml=r.xml");
    r.status = if bad.is_empty() {
        RunnerStatus::Passed
    } else {
        RunnerStatus::Failed
    };
    for c in &cases {
        r.counts.add_case(c.status, c.flaky);
    }
    let mut v = verify_doc(&wss, vec![r], &cases);
    v.run_id = id.into();
    write_run(&ws.join(".codeloop"), &v, &cases, &[])
}

#[test]
fn exit_codes_and_gate_json() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    pytest_run(ws, "20261122T000001000Z-0001", 5, &[]);
    let o = gate_check(ws, &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("gate: PASS  score 100"), "{}", text(&o));

    let run = pytest_run(ws, "20261122T000002000Z-0002", 3, &[("test_get", 12)]);
    let o = gate_check(ws, &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("1 failing test in tests/api: test_api::test_get (tests/api/test_api.py:12)"),
        "{out}"
    );
    let g = run.gate().unwrap();
    assert_eq!(g.verdict, codeloop::model::Verdict::Fail);
    // 3/4 × 40 + 60 = 90
    assert_eq!(g.score, 90.0);
    let raw: serde_json::Value = artifact::read_json(&run.file("gate.json")).unwrap();
    assert_eq!(
        raw["failing"],
        serde_json::json!(["pytest::tests.api.test_api::test_get"])
    );
    // Flags override the config: one failure allowed.
    let o = gate_check(ws, &["--max-failures", "1"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = gate_check(ws, &["--max-failures", "1", "--min-score", "95"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("score 90 is below min_score 95"),
        "{}",
        text(&o)
    );
    // JSON output is the gate document.
    let o = gate_check(ws, &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["verdict"], "fail");
}

#[test]
fn regression_against_a_baseline_run_and_gate_json() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    let base = pytest_run(ws, "20261122T000001000Z-0001", 4, &[("test_old", 5)]);
    assert_eq!(gate_check(ws, &["--run", &base.id]).status.code(), Some(1));
    let now = pytest_run(
        ws,
        "20261122T000002000Z-0002",
        4,
        &[("test_old", 5), ("test_new", 9)],
    );
    let base_dir = base.path.to_string_lossy().to_string();
    let o = gate_check(ws, &["--fail-on", "regression", "--baseline", &base_dir]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains("1 new failure in tests/api: test_api::test_new (tests/api/test_api.py:9)"),
        "{out}"
    );
    let d = now.gate().unwrap().delta.unwrap();
    assert_eq!(d.new_failures, ["pytest::tests.api.test_api::test_new"]);
    assert_eq!(d.still_failing, ["pytest::tests.api.test_api::test_old"]);
    assert_eq!(d.tests_added, 1);
    // Every test of both runs hashed (the passing ones too): none went missing.
    assert_eq!(d.tests_removed, 0);
    assert_eq!(d.baseline_run_id.as_deref(), Some(base.id.as_str()));
    // The baseline's gate.json works as well; the new run's own gate.json as baseline:
    // nothing is new, the gate passes in regression mode.
    let g = now.file("gate.json").to_string_lossy().to_string();
    std::fs::copy(&g, ws.join("prev-gate.json")).unwrap();
    // A relative --baseline is found under --cwd too.
    let o = gate_check(
        ws,
        &["--fail-on", "regression", "--baseline", "prev-gate.json"],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("no new failure (2 tests were already failing"),
        "{}",
        text(&o)
    );
}

#[test]
fn bad_settings_and_baselines_name_the_key_or_file() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    pytest_run(ws, "20261122T000001000Z-0001", 2, &[]);
    std::fs::create_dir_all(ws.join(".codeloop")).unwrap();
    std::fs::write(
        ws.join(".codeloop/config.json"),
        r#"{"gate": {"weights": {"lint": -1}, "min_score": 101}}"#,
    )
    .unwrap();
    let o = gate_check(ws, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("`gate.weights.lint`") && out.contains("≥ 0"),
        "{out}"
    );
    assert!(
        out.contains("`gate.min_score`") && out.contains("between 0 and 100"),
        "{out}"
    );
    assert!(out.contains("config.json"), "{out}");
    std::fs::remove_file(ws.join(".codeloop/config.json")).unwrap();

    std::fs::write(
        ws.join(".codeloop/config.json"),
        "{\n  \"gate\": {\n    \"max_failure\": 3\n  }\n}\n",
    )
    .unwrap();
    let o = gate_check(ws, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("unknown key `gate.max_failure`")
            && out.contains("did you mean `gate.max_failures`?"),
        "{out}"
    );
    assert!(out.contains("line 3"), "{out}");
    std::fs::remove_file(ws.join(".codeloop/config.json")).unwrap();

    let o = gate_check(ws, &["--min-score", "150"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--min-score"), "{}", text(&o));

    let newer = ws.join("newer-gate.json");
    std::fs::write(&newer, r#"{"schema_version": 99, "run_id": "x"}"#).unwrap();
    let o = gate_check(ws, &["--baseline", &newer.to_string_lossy()]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("newer-gate.json") && out.contains("upgrade codeloop"),
        "{out}"
    );

    // An unknown run id is a usage error naming the flag, not "no results" (the run is fine).
    let o = gate_check(ws, &["--baseline", "no-such-run"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("--baseline `no-such-run`"), "{out}");
    assert!(out.contains("run id under"), "{out}");
    assert!(!out.contains("run `codeloop verify`"), "{out}");
}

/// `codeloop ci` in `ws` with `args`, outside any CI.
pub(crate) fn ci(ws: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("ci")
        .arg("--cwd")
        .arg(ws)
        .args(args)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_CONFIG")
        .env_remove("CI_NODE_INDEX")
        .env_remove("CI_NODE_TOTAL")
        .output()
        .unwrap()
}

#[test]
fn ci_and_merge_refuse_a_bad_baseline_before_anything_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    std::fs::write(
        ws.join("fail.xml"),
        r#"<testsuite name="s" tests="2" failures="1"><testcase classname="t" name="ok"/><testcase classname="t" name="bad"><failure message="boom"/></testcase></testsuite>"#,
    )
    .unwrap();
    let not_a_run = ws.join("not-a-run");
    std::fs::create_dir(&not_a_run).unwrap();
    let missing = ws.join("nonexistent");
    for (baseline, says) in [
        (missing.to_str().unwrap(), "no such file or run directory"),
        (
            "no-such-run",
            "no such file, run directory, or run id under",
        ),
        (not_a_run.to_str().unwrap(), "is not a complete run"),
    ] {
        let o = ci(ws, &["--baseline", baseline, "--report", "fail.xml"]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(2), "{baseline}: {out}");
        assert!(out.contains(&format!("--baseline `{baseline}`")), "{out}");
        assert!(out.contains(says), "{out}");
        assert!(out.contains("hint: --baseline takes"), "{out}");
        // Checked first: nothing was collected, no run directory was started.
        assert!(!ws.join(".codeloop/runs").exists(), "{out}");
        assert!(!out.contains("codeloop verify:"), "{out}");
    }

    // A good run id still works (and `comment` is not checked on disk: no forge, a warning).
    let o = ci(ws, &["--report", "fail.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let id = artifact::resolve(&ws.join(".codeloop"), None).unwrap().id;
    let o = ci(
        ws,
        &[
            "--baseline",
            &id,
            "--fail-on",
            "regression",
            "--report",
            "fail.xml",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "same failure as the baseline: {}",
        text(&o)
    );
    let o = ci(ws, &["--baseline", "comment", "--report", "fail.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        text(&o).contains("--baseline comment: no previous"),
        "{}",
        text(&o)
    );

    // merge: refused before the shards are folded (no merged run is written).
    let out_dir = ws.join("merged");
    let o = Command::new(bin())
        .args(["merge", "--cwd"])
        .arg(ws)
        .arg(ws.join(".codeloop/runs"))
        .arg("--out")
        .arg(&out_dir)
        .args(["--baseline", "no-such-run"])
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("--baseline `no-such-run`"),
        "{}",
        text(&o)
    );
    assert!(!out_dir.exists());
}

#[test]
fn no_runs_is_no_results() {
    let tmp = tempfile::tempdir().unwrap();
    let o = gate_check(tmp.path(), &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(text(&o).contains("codeloop verify"), "{}", text(&o));
}

#[test]
fn ci_stages_after_verify_name_the_failing_test() {
    use codeloop::pipeline::options::{Common, ReportOptions};
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    let run = pytest_run(ws, "20261122T000001000Z-0001", 3, &[("test_get", 12)]);
    let cfg = codeloop::settings::Config::default();
    let common = Common {
        cwd: ws.to_path_buf(),
        ..Common::default()
    };
    let lp = codeloop::pipeline::Loop {
        cwd: ws.to_path_buf(),
        artifacts: ws.join(".codeloop"),
        cfg: cfg.clone(),
        cfg_warnings: Vec::new(),
        gate: cfg.gate.clone(),
        flags: Default::default(),
        report: ReportOptions {
            common,
            all: true,
            html: true,
            ..ReportOptions::default()
        },
    };
    let code = codeloop::commands::flow::after_verify(&lp, run.clone(), None, Default::default());
    assert_eq!(code, 1);
    let g = run.gate().unwrap();
    assert!(
        g.reasons[0].contains("test_get (tests/api/test_api.py:12)"),
        "{:?}",
        g.reasons
    );
    assert!(run.file("diagnose.json").is_file());
    assert!(run.file("report/codeloop.sarif").is_file());
}

#[test]
fn ci_format_json_prints_one_document_for_scripts() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let o = Command::new(bin())
        .args(["ci", "--format", "json", "--cwd"])
        .arg(&demo)
        .arg("--artifacts-dir")
        .arg(tmp.path())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_CONFIG")
        // The demo is its own project (inside this repository it would be examples/demo/...).
        .env("CODELOOP_REPO_ROOT", &demo)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // The whole of stdout is one JSON document: no human lines from verify or diagnose.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", text(&o)));
    assert_eq!(v["verdict"], "fail");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(v["counts"]["tests"], 27);
    assert_eq!(v["counts"]["failed"], 10);
    let run = artifact::resolve(tmp.path(), None).unwrap();
    assert_eq!(v["run_id"], run.id.as_str());
    assert!(
        v["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["location"]["file"] == "tests/test_mixed.py"),
        "{v:#}"
    );
}

#[test]
fn ci_on_the_demo_exits_1_naming_the_failing_test_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo");
    let o = Command::new(bin())
        .arg("ci")
        .arg("--cwd")
        .arg(&demo)
        .arg("--artifacts-dir")
        .arg(tmp.path())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("CODELOOP_CONFIG")
        // The demo is its own project (inside this repository it would be examples/demo/...).
        .env("CODELOOP_REPO_ROOT", &demo)
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("gate: FAIL"), "{out}");
    assert!(
        out.contains("test_mixed::test_fail_assert (tests/test_mixed.py:19)"),
        "{out}"
    );
    let run = artifact::resolve(tmp.path(), None).unwrap();
    let g = run.gate().unwrap();
    assert!(
        g.reasons[0].contains("(js/spec/mixed.spec.js:41:11)"),
        "{:?}",
        g.reasons
    );
    let d = run.diagnose().unwrap();
    // Every failure of the demo is located in a file that exists in the demo.
    for p in d.problems.iter().filter(|p| p.test.is_some()) {
        let l = p
            .location
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no location", p.title));
        assert_eq!(l.exists, Some(true), "{l}");
    }
    assert!(run.file("report/codeloop.sarif").is_file());
    // The report stage ran: the sticky comment and the badge exist and the manifest lists them.
    for f in ["report/comment.md", "report/summary.md", "report/badge.svg"] {
        assert!(run.file(f).is_file(), "{f}");
    }
    let comment = std::fs::read_to_string(run.file("report/comment.md")).unwrap();
    assert!(comment.contains("test_fail_assert"), "{comment}");
    let m: codeloop::artifact::manifest::Manifest =
        artifact::read_json(&run.file(artifact::MANIFEST)).unwrap();
    assert!(m.files.iter().any(|f| f.path == "report/comment.md"));
    assert!(m.files.iter().any(|f| f.path == "gate.json"));
    // Both documents validate against their published schemas.
    for (schema, file) in [
        ("diagnose.schema.json", "diagnose.json"),
        ("gate.schema.json", "gate.json"),
    ] {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(root.join("schemas").join(schema)).unwrap(),
        )
        .unwrap();
        let v = jsonschema::validator_for(&schema).unwrap();
        let doc: serde_json::Value = artifact::read_json(&run.file(file)).unwrap();
        let errors: Vec<String> = v
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{file}: {errors:#?}");
        // The schema can fail: a made-up category is refused.
        let mut bad = doc.clone();
        if file == "diagnose.json" {
            bad["problems"][0]["category"] = serde_json::json!("oops");
        } else {
            bad["verdict"] = serde_json::json!("maybe");
        }
        assert!(!v.is_valid(&bad), "{file}");
    }
}

const EM_JUNIT: &str = "peers/publish-unit-test-result-action/python/test/files/junit-xml";

/// A workspace with the named corpus files under `reports/` (by their file names).
pub(crate) fn reports_ws(files: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reports");
    std::fs::create_dir_all(&dir).unwrap();
    for f in files {
        let src = crate::common::corpus_dir().join(f);
        let name = Path::new(f).file_name().unwrap();
        std::fs::copy(&src, dir.join(name)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    tmp
}

pub(crate) fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// (tests, passed, failed, errored, skipped) of a counts object.
fn five(c: &serde_json::Value) -> [u64; 5] {
    ["tests", "passed", "failed", "errored", "skipped"].map(|k| c[k].as_u64().unwrap())
}

/// EnricoMi's junit.multiresult.xml: testcases holding `<skipped/>` beside `<failure>` (and
/// `<error>`). A skip that does not mark an expected failure hides nothing: the case is
/// failed (errored), in every artifact of `ci --report` — verify.json, gate.json, the
/// comment's counts line and report/junit.xml — and verify.json says so once, for the file.
#[test]
fn a_skip_beside_a_failure_is_a_failure_in_every_artifact() {
    let t = reports_ws(&[&format!("{EM_JUNIT}/junit.multiresult.xml")]);
    let o = ci(t.path(), &["--report", "reports/*.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = artifact::resolve(&t.path().join(".codeloop"), None).unwrap();
    let want = [4, 1, 1, 1, 1];
    let v = read_json(&run.file("verify.json"));
    assert_eq!(five(&v["totals"]), want, "{v:#}");
    let g = read_json(&run.file("gate.json"));
    assert_eq!(five(&g["counts"]), want, "{g:#}");
    let mf = g["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "max_failures")
        .unwrap();
    assert_eq!(mf["actual"], "2", "{g:#}");
    let comment = std::fs::read_to_string(run.file("report/comment.md")).unwrap();
    assert!(
        comment.contains("**1** passed · **1** failed · **1** errored · **1** skipped"),
        "{comment}"
    );
    let junit = std::fs::read_to_string(run.file("report/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"tests="4" skipped="1" failures="1" errors="1""#),
        "{junit}"
    );
    let w = &v["runners"][0]["warnings"];
    assert_eq!(w.as_array().map(Vec::len), Some(1), "{w:#}");
    assert_eq!(w[0]["file"], "reports/junit.multiresult.xml", "{w:#}");
    let msg = w[0]["message"].as_str().unwrap();
    assert!(
        msg.contains("2 testcases") && msg.contains("counted as failed or errored, not skipped"),
        "{msg}"
    );
}

/// `max_failures` counts distinct failing tests; when the counts line's failed + errored is
/// more (one test failing in three attempts written as three testcases: mikepenz's
/// flaky_all_failures.xml), the reason says both numbers, so that they reconcile with the
/// headline. Unnamed testcases (EnricoMi's no-attributes.xml) are named by their report
/// file, not as an empty string. Reasons read the same in gate.json, the terminal, the
/// comment and the job summary.
#[test]
fn the_max_failures_reason_reconciles_with_the_counts_and_names_unnamed_tests() {
    let t = reports_ws(&[
        "peers/action-junit-report/test_results/flaky_retries/flaky_all_failures.xml",
    ]);
    let o = ci(t.path(), &["--report", "reports/*.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = artifact::resolve(&t.path().join(".codeloop"), None).unwrap();
    let g = read_json(&run.file("gate.json"));
    assert_eq!(five(&g["counts"]), [3, 0, 2, 1, 0], "{g:#}");
    let mf = g["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "max_failures")
        .unwrap();
    assert_eq!(mf["actual"], "1");
    let reason = mf["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("1 distinct failing test in 3 failed or errored results: "),
        "{reason}"
    );
    assert!(reason.contains("test_always_fails"), "{reason}");
    assert!(text(&o).contains(reason), "{}", text(&o));
    let head = "1 distinct failing test in 3 failed or errored results";
    let comment = std::fs::read_to_string(run.file("report/comment.md")).unwrap();
    assert!(
        comment.contains("**2** failed · **1** errored"),
        "{comment}"
    );
    assert!(comment.contains(&format!("- {head}: ")), "{comment}");
    let summary = std::fs::read_to_string(run.file("report/summary.md")).unwrap();
    assert!(
        summary.contains(&format!("| {head} (max&#95;failures is 0) |")),
        "{summary}"
    );

    let t = reports_ws(&[&format!("{EM_JUNIT}/no-attributes.xml")]);
    let o = ci(t.path(), &["--report", "reports/*.xml"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = artifact::resolve(&t.path().join(".codeloop"), None).unwrap();
    let g = read_json(&run.file("gate.json"));
    assert_eq!(five(&g["counts"]), [4, 1, 1, 1, 1], "{g:#}");
    assert_eq!(
        g["reasons"][0],
        "1 distinct failing test in 2 failed or errored results: an unnamed test in \
         reports/no-attributes.xml (max_failures is 0)",
        "{g:#}"
    );
}
