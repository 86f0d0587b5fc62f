//! Issue 15's small ones, through the binary: repository-relative paths under a working
//! directory, collecting under GitLab `parallel:`, evidence that explains, `codeloop
//! formats`, template overrides, one duration parser, the `pull_request_target` error, the
//! "no file matched" warning, giving `.codeloop/` back to the workspace's owner, a closed
//! stdout, the summary's verdict and its slowest tests.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{bin, visible_text};
use crate::fake_github::{FakeGitHub, TOKEN};

const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/evidence")
        .join(name)
}

/// `codeloop ARGS` in `dir` with no CI around it (nothing of this machine's CI leaks in).
fn codeloop(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("CI_")
            || k.starts_with("CODELOOP_")
            || k.starts_with("INPUT_")
            || ["CI", "GITLAB_CI", "ACT"].contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A project with `reports/` holding the given fixtures.
fn with_reports(files: &[&str]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("reports")).unwrap();
    for f in files {
        std::fs::copy(fixture(f), t.path().join("reports").join(f)).unwrap();
    }
    t
}

/// A workspace with `reports/<name>` written from the given texts.
fn with_written_reports(files: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("reports")).unwrap();
    for (name, text) in files {
        std::fs::write(t.path().join("reports").join(name), text).unwrap();
    }
    t
}

fn latest(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir.join(".codeloop/runs/latest")).unwrap()
}

fn json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Evidence of the problem whose test key contains `test`.
fn evidence(diag: &serde_json::Value, test: &str) -> String {
    diag["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["test"].as_str().is_some_and(|t| t.contains(test)))
        .unwrap_or_else(|| panic!("no problem for {test}: {diag:#}"))["evidence"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn evidence_keeps_the_lines_that_explain_each_failure() {
    let t = with_reports(&[
        "jest-mixed.jest.json",
        "vitest-mixed.junit.xml",
        "pytest-mixed.junit-xunit2.xml",
        "cargo-lib.libtest-junit.xml",
        "surefire-CalcUtilsTest.xml",
    ]);
    let o = codeloop(
        t.path(),
        &["ci", "--report", "reports/*", "--annotations"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let diag = json(&latest(t.path()).join("diagnose.json"));

    // jest deep equality: Expected / Received and the changed lines, no frames, no `],`.
    let jest = evidence(&diag, "fails with a deep-equal assertion");
    for want in [
        "Expected value to deeply and strictly equal to:",
        "Received:",
        "{\"a\": 1, \"b\": [1, 2, 3]}",
        "- Expected",
        "+ Received",
        "-     4,",
        "+     3,",
    ] {
        assert!(jest.contains(want), "missing {want:?} in:\n{jest}");
    }
    assert!(!jest.contains("jestAdapterInit"), "{jest}");
    assert!(!jest.lines().any(|l| l.trim() == "],"), "{jest}");
    // The annotation (what reviewers read in the diff) carries the same lines.
    let out = String::from_utf8_lossy(&o.stdout);
    let ann = out
        .lines()
        .find(|l| l.starts_with("::error") && l.contains("deep-equal"))
        .expect(&out);
    assert!(
        ann.contains("-     4,") && ann.contains("Received:"),
        "{ann}"
    );

    // vitest's node:assert diff.
    let vitest = evidence(&diag, "Mixed suite > fails with a deep-equal assertion");
    assert!(
        vitest.contains("+     3") && vitest.contains("-     4"),
        "{vitest}"
    );

    // pytest: the failing source line and its assertion introspection.
    let py = evidence(&diag, "test_fail_assert");
    assert!(py.contains(">       assert actual == expected"), "{py}");
    assert!(
        py.contains("E         {'b': [1, 2, 4]} != {'b': [1, 2, 3]}"),
        "{py}"
    );
    let py = evidence(&diag, "test_param_add[3-3-7]");
    assert!(py.contains("E       assert (3 + 3) == 7"), "{py}");

    // Rust: the assertion with left and right, not the backtrace.
    let rs = evidence(&diag, "it_fails_assert_eq");
    assert!(
        rs.contains("assertion `left == right` failed: math is broken")
            && rs.contains("left: 4")
            && rs.contains("right: 5"),
        "{rs}"
    );
    assert!(!rs.contains("rust_begin_unwind"), "{rs}");
    // libtest's bare failure kind (`assert`, no message) is not a line of its own.
    assert!(rs.starts_with("assertion `left == right`"), "{rs}");

    // JUnit: expected:<…> but was:<…>.
    let java = evidence(&diag, "test error handling");
    assert!(
        java.contains(
            "expected:<java.lang.IllegalStateException> but was:<java.lang.IllegalArgumentException>"
        ),
        "{java}"
    );
}

#[test]
fn collecting_under_gitlab_parallel_reads_what_the_node_has() {
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    let o = codeloop(
        t.path(),
        &["ci", "--report", "reports/*.xml"],
        &[
            ("GITLAB_CI", "true"),
            ("CI_NODE_INDEX", "2"),
            ("CI_NODE_TOTAL", "3"),
        ],
    );
    // The gate's verdict on the collected failures, not "no results".
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&latest(t.path()).join("verify.json"));
    assert_eq!(v["totals"]["tests"], 15, "{v:#}");
    assert_eq!(v["shard"]["index"], 2);
    assert_eq!(v["runners"][0]["status"], "failed");
    assert!(!text(&o).contains("shard 1 only"), "{}", text(&o));
}

#[test]
fn a_glob_that_matches_nothing_is_a_warning() {
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    let o = codeloop(
        t.path(),
        &[
            "verify",
            "--report",
            "reports/*.xml",
            "--report",
            "missing/*.xml",
        ],
        &[],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: no file matched `missing/*.xml`"),
        "{}",
        text(&o)
    );
    let v = json(&latest(t.path()).join("verify.json"));
    assert_eq!(
        v["runners"][0]["parse_errors"],
        serde_json::json!([]),
        "{v:#}"
    );
    assert_eq!(v["totals"]["tests"], 15);
    // Nothing matched at all: still a warning per glob, and "no results" (exit 3).
    let o = codeloop(t.path(), &["verify", "--report", "none/*.xml"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("warning: no file matched `none/*.xml`"),
        "{}",
        text(&o)
    );
    assert!(!text(&o).contains("parse error"), "{}", text(&o));
}

/// The likeliest fault of a new setup: a pattern that finds nothing while the reports are
/// elsewhere. `ci` still runs the whole loop (the report and the comment show it), every
/// message names the pattern, and the ones a reader sees first say where the reports are,
/// found by content (a UTF-16 report too), never inside dependency directories, which a
/// wildcard does not walk either unless the pattern names them.
#[test]
fn a_pattern_that_finds_nothing_names_where_the_reports_are() {
    let t = tempfile::tempdir().unwrap();
    let put = |rel: &str, bytes: &[u8]| {
        let p = t.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    };
    let junit = std::fs::read(fixture("surefire-CalcUtilsTest.xml")).unwrap();
    put("build/test-results/test/TEST-CalcUtilsTest.xml", &junit);
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(
            String::from_utf8(junit.clone())
                .unwrap()
                .encode_utf16()
                .flat_map(u16::to_le_bytes),
        )
        .collect();
    put("out/results.xml", &utf16);
    // A package's own reports: never offered, never collected by a wildcard.
    put("node_modules/pkg/junit.xml", &junit);
    put(".venv/lib/junit.xml", &junit);
    put(
        "package.json",
        br#"{"name": "app", "scripts": {"test": "jest"}}"#,
    );
    put(
        "pom.xml",
        b"<project><modelVersion>4.0.0</modelVersion></project>",
    );

    let o = codeloop(t.path(), &["ci", "--report", "**/junit*.xml"], &[]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let run = latest(t.path());
    let verify = json(&run.join("verify.json"));
    crate::verify::validate("verify.schema.json", &verify);
    assert_eq!(verify["totals"]["tests"], 0, "{verify:#}");
    assert_eq!(
        verify["runners"][0]["candidates"],
        serde_json::json!([
            "build/test-results/test/TEST-CalcUtilsTest.xml",
            "out/results.xml"
        ]),
        "{verify:#}"
    );
    let gate = json(&run.join("gate.json"));
    assert_eq!(
        gate["reasons"][0],
        "no results were found: no file matched `**/junit*.xml` (test reports are at `build/test-results/test/TEST-CalcUtilsTest.xml`, `out/results.xml`)",
        "{gate:#}"
    );
    let diagnose = json(&run.join("diagnose.json"));
    assert_eq!(
        diagnose["problems"][0]["title"],
        "no test results: no file matched `**/junit*.xml`; test reports are at `build/test-results/test/TEST-CalcUtilsTest.xml`, `out/results.xml`"
    );
    let comment = std::fs::read_to_string(run.join("report/comment.md")).unwrap();
    // The pattern and the paths show as code; their `*` and `_` stay text.
    assert!(
        visible_text(&comment).contains(
            "- no results were found: no file matched <code>&#42;&#42;/junit&#42;.xml</code> (test reports are at <code>build/test-results/test/TEST-CalcUtilsTest.xml</code>, <code>out/results.xml</code>)"
        ),
        "{comment}"
    );
    assert!(!text(&o).contains("nothing to diagnose"), "{}", text(&o));
    // The console says it once (the runner's row), not again under the row.
    assert_eq!(
        String::from_utf8_lossy(&o.stdout)
            .matches("files that look like test reports: `build/test-results/test/TEST-CalcUtilsTest.xml` (junit-xml), `out/results.xml` (junit-xml)")
            .count(),
        1,
        "{}",
        text(&o)
    );

    // A wildcard skips dependency directories the pattern does not name...
    let o = codeloop(t.path(), &["verify", "--report", "**/*.xml"], &[]);
    let verify = json(&latest(t.path()).join("verify.json"));
    let files: Vec<&str> = verify["runners"][0]["result_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        [
            "build/test-results/test/TEST-CalcUtilsTest.xml",
            "out/results.xml",
            "pom.xml"
        ],
        "{}",
        text(&o)
    );
    // ...and walks them when it does.
    let o = codeloop(
        t.path(),
        &["verify", "--report", "**/node_modules/**/junit.xml"],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "its failing tests: {}", text(&o));
    let verify = json(&latest(t.path()).join("verify.json"));
    assert_eq!(
        verify["runners"][0]["result_files"][0]["path"],
        "node_modules/pkg/junit.xml"
    );
}

#[test]
fn formats_lists_every_parser_and_the_hint_names_it() {
    let t = tempfile::tempdir().unwrap();
    let o = codeloop(t.path(), &["formats", "--format", "json"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let formats = doc["formats"].as_array().unwrap();
    let names: Vec<&str> = formats
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), codeloop::parsers::Format::ALL.len());
    for f in codeloop::parsers::Format::ALL {
        assert!(names.contains(&f.name()), "{}", f.name());
    }
    for f in formats {
        for k in ["reads", "sniffed", "kind"] {
            assert!(!f[k].as_str().unwrap().is_empty(), "{f}");
        }
    }
    let human = codeloop(t.path(), &["formats"], &[]);
    let h = String::from_utf8_lossy(&human.stdout);
    for n in &names {
        assert!(h.contains(&format!("  {n}\n")), "{n} missing:\n{h}");
    }
    // The help that sends people there, and the image's entrypoint, name a real command.
    let help = codeloop(t.path(), &["verify", "--help"], &[]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("codeloop formats"));
    let entry = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/docker-entrypoint.sh"),
    )
    .unwrap();
    // Every subcommand goes to codeloop (not to a program of the same name on PATH).
    use clap::CommandFactory;
    let case = entry
        .lines()
        .find(|l| l.contains("| action |"))
        .expect("the entrypoint's case line");
    for sub in codeloop::cli::Cli::command().get_subcommands() {
        assert!(
            case.contains(&format!(" {} ", sub.get_name()))
                || case.contains(&format!(" {})", sub.get_name())),
            "docker-entrypoint.sh does not hand `{}` to codeloop",
            sub.get_name()
        );
    }
    // A hint from the list works.
    let r = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    let o = codeloop(
        r.path(),
        &[
            "verify",
            "--report",
            "reports/*.xml",
            "--format-hint",
            "junit",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn readme_cli_block_lists_every_subcommand() {
    use clap::CommandFactory;
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let start = readme.find("## The CLI").unwrap();
    let block = &readme[start..];
    let block = &block[block.find("```").unwrap() + 3..];
    let block = &block[..block.find("```").unwrap()];
    for sub in codeloop::cli::Cli::command().get_subcommands() {
        let name = sub.get_name();
        assert!(
            block.contains(&format!("codeloop {name} "))
                || block.contains(&format!("codeloop {name}\n")),
            "README's CLI block lacks `codeloop {name}`"
        );
    }
}

#[test]
fn timeout_takes_units_on_the_command_line_like_the_input() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join(".codeloop")).unwrap();
    std::fs::write(
        t.path().join(".codeloop/plugins.json"),
        r#"{"name": "t", "version": "1", "runners": [
            {"id": "slow", "kind": "test", "command": "sleep 30"}]}"#,
    )
    .unwrap();
    let started = std::time::Instant::now();
    let o = codeloop(t.path(), &["verify", "--timeout", "1s"], &[]);
    assert!(started.elapsed().as_secs() < 20, "{}", text(&o));
    let v = json(&latest(t.path()).join("verify.json"));
    assert_eq!(v["runners"][0]["status"], "timeout", "{v:#}");
    // 15m is accepted (the run itself is quick: nothing to run but `true`).
    std::fs::write(
        t.path().join(".codeloop/plugins.json"),
        r#"{"name": "t", "version": "1", "runners": [
            {"id": "quick", "kind": "test", "command": "true"}]}"#,
    )
    .unwrap();
    let o = codeloop(t.path(), &["verify", "--timeout", "15m"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = codeloop(t.path(), &["verify", "--timeout", "15 minutes"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("15m"),
        "{}",
        text(&o)
    );
}

/// An action job's environment (a Docker action: INPUT_*, GITHUB_*), over a workspace.
struct ActionJob {
    _t: tempfile::TempDir,
    ws: PathBuf,
    env: BTreeMap<String, String>,
    summary: PathBuf,
}

fn action_job(fake: &FakeGitHub, event_name: &str) -> ActionJob {
    let t = tempfile::tempdir().unwrap();
    let ws = t.path().join("workspace");
    std::fs::create_dir_all(&ws).unwrap();
    let event = t.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({
            "number": 1,
            "pull_request": {"number": 1,
                "head": {"sha": HEAD_SHA, "ref": "f", "repo": {"full_name": "octo/app"}},
                "base": {"sha": "b", "ref": "main", "repo": {"full_name": "octo/app"}}},
            "repository": {"full_name": "octo/app"}
        })
        .to_string(),
    )
    .unwrap();
    let summary = t.path().join("summary.md");
    let output = t.path().join("output.txt");
    std::fs::write(&summary, "").unwrap();
    std::fs::write(&output, "").unwrap();
    let mut env = BTreeMap::new();
    let p = |x: &Path| x.to_string_lossy().into_owned();
    for (k, v) in [
        ("INPUT_GITHUB-TOKEN", TOKEN.to_string()),
        ("INPUT_COMMENT", "always".into()),
        ("INPUT_BADGE", "true".into()),
        ("INPUT_FAIL-ON-GATE", "true".into()),
        ("GITHUB_ACTIONS", "true".into()),
        ("CI", "true".into()),
        ("GITHUB_REPOSITORY", "octo/app".into()),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_SHA", HEAD_SHA.into()),
        ("GITHUB_REF", "refs/pull/1/merge".into()),
        ("GITHUB_EVENT_NAME", event_name.into()),
        ("GITHUB_EVENT_PATH", p(&event)),
        ("GITHUB_WORKSPACE", p(&ws)),
        ("GITHUB_OUTPUT", p(&output)),
        ("GITHUB_STEP_SUMMARY", p(&summary)),
        ("GITHUB_RUN_ID", "4242".into()),
        ("CODELOOP_RETRY_BASE_MS", "10".into()),
    ] {
        env.insert(k.to_string(), v);
    }
    ActionJob {
        _t: t,
        ws,
        env,
        summary,
    }
}

fn run_action(job: &ActionJob, extra: &[(&str, &str)]) -> Output {
    let mut env = job.env.clone();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Command::new(bin())
        .arg("action")
        .env_clear()
        .envs(&env)
        .current_dir(&job.ws)
        .output()
        .unwrap()
}

#[test]
fn an_action_with_nothing_to_run_or_collect_says_which_input_to_set() {
    // An empty checkout and no `reports:`: verify's own error names the CLI's flag; the
    // action says it in its inputs' words, and posts nothing.
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request");
    let o = run_action(&job, &[]);
    let all = text(&o);
    assert_eq!(o.status.code(), Some(3), "{all}");
    assert!(
        all.contains("set `reports:` to the result files an earlier step wrote"),
        "{all}"
    );
    assert!(fake.ours().is_empty());
}

#[test]
fn working_directory_paths_are_repository_relative_everywhere() {
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request");
    let backend = job.ws.join("backend");
    std::fs::create_dir_all(backend.join("reports")).unwrap();
    std::fs::create_dir_all(backend.join("tests")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        backend.join("reports/junit.xml"),
    )
    .unwrap();
    std::fs::write(backend.join("tests/test_mixed.py"), "# the failing tests\n").unwrap();
    // A report cut short: the parse error names it from the repository root too.
    std::fs::write(
        backend.join("reports/cut.xml"),
        "<testsuites><testsuite name=\"s\" tests=\"2\"><testcase name=\"a\"/><testcase name=\"b\"",
    )
    .unwrap();
    let o = run_action(
        &job,
        &[
            ("INPUT_WORKING-DIRECTORY", "backend"),
            ("INPUT_REPORTS", "reports/*.xml"),
            ("INPUT_CHECK-RUN", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    // Workflow-command annotations.
    assert!(
        out.contains("::error file=backend/tests/test_mixed.py,line=19"),
        "{out}"
    );
    assert!(!out.contains("file=tests/"), "{out}");
    // The check run's annotations.
    let st = fake.state.lock().unwrap();
    let cr = &st.check_runs[0];
    let paths: Vec<&str> = cr["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap())
        .collect();
    assert!(!paths.is_empty());
    assert!(
        paths.iter().all(|p| p.starts_with("backend/tests/")),
        "{paths:?}"
    );
    drop(st);
    // The comment's and the summary's links.
    let body = &fake.ours()[0].body;
    assert!(
        body.contains(&format!("blob/{HEAD_SHA}/backend/tests/test_mixed.py#L19")),
        "{body}"
    );
    assert!(!body.contains(&format!("blob/{HEAD_SHA}/tests/")), "{body}");
    // The cut report, in the gate's reason and in the diagnosis's task: never the path the
    // pattern matched in the project directory.
    let shown = visible_text(body);
    assert!(
        shown.contains(
            "1 result file could not be read, so its results are incomplete: <code>backend/reports/cut.xml</code> truncated at line 1"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("cannot read result file <code>backend/reports/cut.xml</code> at line 1"),
        "{shown}"
    );
    assert!(!shown.contains("<code>reports/cut.xml"), "{shown}");
    let summary = std::fs::read_to_string(&job.summary).unwrap();
    assert!(summary.contains("backend/tests/test_mixed.py"), "{summary}");
    assert!(summary.contains("backend/reports/cut.xml"), "{summary}");
    // SARIF and GitLab Code Quality.
    let run = latest(&backend);
    let sarif = std::fs::read_to_string(run.join("report/codeloop.sarif")).unwrap();
    assert!(
        sarif.contains("\"uri\": \"backend/tests/test_mixed.py\"")
            || sarif.contains("\"uri\":\"backend/tests/test_mixed.py\""),
        "{sarif}"
    );
    let cq = json(&run.join("report/gl-code-quality.json"));
    assert!(
        cq.as_array()
            .unwrap()
            .iter()
            .any(|i| i["location"]["path"] == "backend/tests/test_mixed.py"),
        "{cq:#}"
    );
}

#[test]
fn cwd_in_a_git_repository_is_shown_from_its_root() {
    let t = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let s = Command::new("git")
            .args(args)
            .current_dir(t.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        s.is_ok_and(|s| s.success())
    };
    if !git(&["init", "-q"]) {
        eprintln!("git is not installed: skipped");
        return;
    }
    let svc = t.path().join("services/api");
    std::fs::create_dir_all(svc.join("reports")).unwrap();
    std::fs::create_dir_all(svc.join("tests")).unwrap();
    std::fs::write(svc.join("tests/test_mixed.py"), "#\n").unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        svc.join("reports/junit.xml"),
    )
    .unwrap();
    let o = codeloop(
        t.path(),
        &[
            "ci",
            "--cwd",
            "services/api",
            "--report",
            "reports/*.xml",
            "--annotations",
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("::error file=services/api/tests/test_mixed.py,line=19"),
        "{out}"
    );
}

#[test]
fn pull_request_target_without_reports_names_the_reports_input() {
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request_target");
    let o = run_action(&job, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("input `reports`"), "{err}");
    assert!(!err.contains("input `runners`"), "{err}");
    assert!(fake.writes().is_empty());
}

/// A misspelled gate rule in config.json stops the action with exit 2 as it stops `codeloop
/// ci` (ignored, `min_scor` would let a gate pass that should fail), and the message does not
/// say "is ignored" while it stops the step.
#[test]
fn a_misspelled_gate_rule_stops_the_action_as_it_stops_ci() {
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request");
    std::fs::create_dir_all(job.ws.join("reports")).unwrap();
    std::fs::create_dir_all(job.ws.join(".codeloop")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        job.ws.join("reports/junit.xml"),
    )
    .unwrap();
    std::fs::write(
        job.ws.join(".codeloop/config.json"),
        "{\"gate\": {\n  \"min_scor\": 80}}",
    )
    .unwrap();
    let o = run_action(&job, &[("INPUT_REPORTS", "reports/*.xml")]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 2: unknown key `gate.min_scor` is not a gate setting; did you mean `gate.min_score`?"),
        "{err}"
    );
    assert!(!err.contains("is ignored"), "{err}");
    assert!(!job.ws.join(".codeloop/runs").exists(), "nothing ran");
    assert!(fake.writes().is_empty());
}

/// A `config` input naming a file that does not exist stops the step (exit 2, the input
/// named), as `--config` does: silently gating with the defaults would drop the workflow's
/// rules.
#[test]
fn a_config_input_that_names_no_file_is_refused() {
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request");
    std::fs::create_dir_all(job.ws.join("reports")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        job.ws.join("reports/junit.xml"),
    )
    .unwrap();
    let o = run_action(
        &job,
        &[
            ("INPUT_REPORTS", "reports/*.xml"),
            ("INPUT_CONFIG", "ci/codeloop.jsn"),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("input `config` is \"ci/codeloop.jsn\": `") && err.contains("is not a file"),
        "{err}"
    );
    assert!(!job.ws.join(".codeloop/runs").exists(), "nothing ran");
    assert!(fake.writes().is_empty());
}

/// Under `pull_request_target` the workspace's config.json is the pull request's: its
/// webhooks (where the results go, which variable signs them) are not posted; the
/// workflow's own `webhook-urls` are.
#[test]
fn pull_request_target_does_not_post_the_pull_requests_webhooks() {
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request_target");
    std::fs::create_dir_all(job.ws.join("reports")).unwrap();
    std::fs::create_dir_all(job.ws.join(".codeloop")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        job.ws.join("reports/junit.xml"),
    )
    .unwrap();
    let config = serde_json::json!({"notify": {"webhooks": [
        {"url": format!("{}/exfil", fake.url()), "secret_env": "INPUT_GITHUB-TOKEN"}
    ]}});
    std::fs::write(job.ws.join(".codeloop/config.json"), config.to_string()).unwrap();
    let ours = format!("{}/ours", fake.url());
    let o = run_action(
        &job,
        &[
            ("INPUT_REPORTS", "reports/*.xml"),
            ("INPUT_WEBHOOK-URLS", ours.as_str()),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("are not posted under `pull_request_target`"),
        "{err}"
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(!paths.iter().any(|p| p.contains("exfil")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("ours")), "{paths:?}");
    // A pull request's own run still posts its config's webhooks.
    let fake = FakeGitHub::start();
    let job2 = action_job(&fake, "pull_request");
    std::fs::create_dir_all(job2.ws.join("reports")).unwrap();
    std::fs::create_dir_all(job2.ws.join(".codeloop")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        job2.ws.join("reports/junit.xml"),
    )
    .unwrap();
    let config =
        serde_json::json!({"notify": {"webhooks": [{"url": format!("{}/hook", fake.url())}]}});
    std::fs::write(job2.ws.join(".codeloop/config.json"), config.to_string()).unwrap();
    let o = run_action(&job2, &[("INPUT_REPORTS", "reports/*.xml")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    assert!(paths.iter().any(|p| p.contains("hook")), "{paths:?}");
}

#[test]
fn written_files_belong_to_the_workspace_owner() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: the action only hands files back when it runs as root; skipped");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let fake = FakeGitHub::start();
    let job = action_job(&fake, "pull_request");
    std::fs::create_dir_all(job.ws.join("reports")).unwrap();
    std::fs::copy(
        fixture("pytest-mixed.junit-xunit2.xml"),
        job.ws.join("reports/junit.xml"),
    )
    .unwrap();
    let (uid, gid) = (4321, 4322);
    std::os::unix::fs::chown(&job.ws, Some(uid), Some(gid)).unwrap();
    let o = run_action(
        &job,
        &[
            ("INPUT_REPORTS", "reports/*.xml"),
            ("INPUT_ARTIFACTS-DIR", "out/codeloop"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let mut n = 0;
    for e in walkdir::WalkDir::new(job.ws.join("out")) {
        let e = e.unwrap();
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        assert_eq!((m.uid(), m.gid()), (uid, gid), "{}", e.path().display());
        n += 1;
    }
    assert!(n > 10, "{n} entries");
    // What the checkout wrote is left alone.
    let m = std::fs::metadata(job.ws.join("reports/junit.xml")).unwrap();
    assert_eq!(m.uid(), 0);
}

/// stdout's reader is gone before the command writes a byte (the `| head -0` case; `| head
/// -1` is the same once head exits).
fn with_closed_stdout(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .stdout(writer)
        .stderr(Stdio::piped());
    cmd.output().unwrap()
}

#[test]
fn a_closed_stdout_ends_quietly_with_the_commands_code() {
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    let o = with_closed_stdout(t.path(), &["ci", "--report", "reports/*.xml"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let run = latest(t.path());
    assert!(
        run.join("report/summary.md").is_file(),
        "every stage still ran"
    );
    let o = with_closed_stdout(t.path(), &["merge", ".codeloop/runs", "--out", "merged"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for args in [&["formats"][..], &["history"], &["status"], &["doctor"]] {
        let o = with_closed_stdout(t.path(), args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(101), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // `| head -1` for real, through a shell.
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' ci --report 'reports/*.xml' | head -1 >/dev/null; echo \"code=$?\"",
            bin().display()
        ))
        .current_dir(t.path())
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("panicked"),
        "{}",
        text(&o)
    );
}

#[test]
fn the_summary_says_each_reason_once_and_only_measurable_times() {
    // pytest's and libtest's tests all take under 5 ms: no "Slowest tests" at all.
    let t = with_reports(&[
        "pytest-mixed.junit-xunit2.xml",
        "cargo-lib.libtest-junit.xml",
    ]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*.xml"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let summary = std::fs::read_to_string(latest(t.path()).join("report/summary.md")).unwrap();
    assert!(!summary.contains("Slowest tests"), "{summary}");

    // With jest's report some tests took 10-30 ms: only those rows.
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml", "jest-mixed.jest.json"]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = latest(t.path());
    let summary = std::fs::read_to_string(run.join("report/summary.md")).unwrap();
    let slow = &summary[summary.find("Slowest tests").expect(&summary)..];
    assert!(slow.contains("0.03s"), "{slow}");
    assert!(!slow.contains("0.00s"), "{slow}");
    // The failing-tests reason names its tests once (under Verdict); the rules table says
    // its headline; nothing is cut inside a name.
    let gate = json(&run.join("gate.json"));
    let reason = gate["reasons"][0].as_str().unwrap();
    assert!(reason.contains(": "), "{reason}");
    let first_name = "never really runs because the hook fails";
    let verdict =
        &summary[summary.find("## Verdict").unwrap()..summary.find("## What broke").unwrap()];
    assert_eq!(verdict.matches(first_name).count(), 1, "{verdict}");
    assert!(
        verdict
            .contains("| max&#95;failures | 0 | 11 | 11 failing tests (max&#95;failures is 0) |"),
        "{verdict}"
    );
    let comment = std::fs::read_to_string(run.join("report/comment.md")).unwrap();
    assert!(
        comment.contains("- 11 failing tests (max&#95;failures is 0)\n")
            || comment.contains(&format!("- {}", reason.replace('_', "&#95;"))),
        "{comment}"
    );
}

#[test]
fn template_dir_overrides_the_html_page_and_the_badge() {
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*.xml"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let tpl = t.path().join("tpl");
    std::fs::create_dir_all(&tpl).unwrap();
    std::fs::write(
        tpl.join("report.html"),
        "<!DOCTYPE html><html><head>{{ head }}</head><body><header id=\"acme\">ACME {{ verdict }} {{ score }}</header>{{ body }}</body></html>",
    )
    .unwrap();
    std::fs::write(
        tpl.join("badge.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{{ width }}\" height=\"{{ height }}\"><rect width=\"{{ width }}\" height=\"{{ height }}\" fill=\"{{ color }}\"/><text x=\"4\" y=\"14\">{{ label }} {{ message }}</text></svg>",
    )
    .unwrap();
    let o = codeloop(
        t.path(),
        &["report", "--html", "--badge", "--template-dir", "tpl"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let report = latest(t.path()).join("report");
    let html = std::fs::read_to_string(report.join("index.html")).unwrap();
    assert!(html.contains("<header id=\"acme\">ACME fail "), "{html}");
    // The built-in page is inside: its failures table and its head (styles, CSP).
    assert!(html.contains("test_fail_assert"), "{html}");
    assert!(html.contains("Content-Security-Policy"), "{html}");
    let svg = std::fs::read_to_string(report.join("badge.svg")).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""),
        "{svg}"
    );
    assert!(
        svg.contains(">codeloop ") && svg.contains("failing</text>"),
        "{svg}"
    );
    let png = std::fs::read(report.join("badge.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // A badge template that is not SVG: the built-in badge, and an error naming the file.
    std::fs::write(tpl.join("badge.svg"), "{{ label }} is not svg").unwrap();
    let o = codeloop(
        t.path(),
        &["report", "--badge", "--template-dir", "tpl"],
        &[],
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("badge.svg"), "{}", text(&o));
    let svg = std::fs::read_to_string(report.join("badge.svg")).unwrap();
    assert!(
        svg.contains("aria-label=\"codeloop:"),
        "built-in badge: {svg}"
    );
}

/// A suite that never ran to its end fails the run, however green the rest: a Jest file that
/// failed to load (no test counted at all), a TAP `Bail out!` after one passing test, a TAP
/// script that died after 2 of 5 planned tests. Before, each passed the gate with exit 0.
#[test]
fn a_suite_that_did_not_run_to_its_end_fails_the_run() {
    let corpus = crate::common::corpus_src().join("generated");
    for (file, title) in [
        (
            "jest/broken-suite.jest.json",
            "js/spec-broken/broken.spec.js failed to load: module-level failure while loading the test file",
        ),
        (
            "tap-perl/bailout.tap",
            "reports/bailout.tap bailed out: database unavailable, stopping everything",
        ),
        (
            "tap-perl/dies.tap",
            "reports/dies.tap failed: planned 5 tests but 2 ran",
        ),
    ] {
        let t = tempfile::tempdir().unwrap();
        let name = Path::new(file).file_name().unwrap();
        std::fs::create_dir_all(t.path().join("reports")).unwrap();
        std::fs::copy(corpus.join(file), t.path().join("reports").join(name)).unwrap();
        let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
        assert_eq!(o.status.code(), Some(1), "{file}: {}", text(&o));
        let run = latest(t.path());
        let diag = json(&run.join("diagnose.json"));
        crate::verify::validate("diagnose.schema.json", &diag);
        let suite = diag["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["suite_error"].is_string())
            .unwrap_or_else(|| panic!("{file}: {diag:#}"));
        assert!(
            suite["title"].as_str().unwrap().starts_with(title),
            "{file}: {suite:#}"
        );
        let gate = json(&run.join("gate.json"));
        assert_eq!(gate["verdict"], "fail", "{file}: {gate:#}");
        let rule = gate["rules"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["rule"] == "suite_errors")
            .unwrap_or_else(|| panic!("{file}: {gate:#}"));
        assert_eq!(rule["passed"], false);
        assert!(
            rule["reason"].as_str().unwrap().contains(title),
            "{file}: {rule:#}"
        );
        let comment = std::fs::read_to_string(run.join("report/comment.md")).unwrap();
        assert!(comment.contains("## ❌"), "{file}: {comment}");
        assert!(
            comment.contains("1 test suite did not run to the end"),
            "{file}: {comment}"
        );
    }
}

/// Compile errors collected as compiler JSON (`cargo build --message-format json` written to
/// a file, `--report` it): the build failed, so no test ran. The verdict says the build, not
/// "no results were found at all: check that the runners write their reports", and no task
/// claims the runner "failed but its results show no failing test"; the exit code is 1.
#[test]
fn collected_compile_errors_say_the_build_failed_and_nothing_else() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("reports")).unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/rustc-error.json"),
        t.path().join("reports/build.json"),
    )
    .unwrap();
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = latest(t.path());
    let gate = json(&run.join("gate.json"));
    let reasons: Vec<&str> = gate["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert!(
        reasons[0].starts_with("the build failed: rustc [E0308]"),
        "{reasons:?}"
    );
    let empty = gate["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "fail_on_empty")
        .unwrap();
    assert_eq!(empty["passed"], true, "{empty:#}");
    assert_eq!(empty["reason"], "no tests ran: the build failed");
    let diag = std::fs::read_to_string(run.join("diagnose.json")).unwrap();
    assert!(!diag.contains("show no failing test"), "{diag}");
    let comment = std::fs::read_to_string(run.join("report/comment.md")).unwrap();
    assert!(!comment.contains("no results were found"), "{comment}");
    // The headline says what there is: compiler errors, no tests (not a row of zeros and
    // "lint").
    assert!(
        comment.contains("\nno test results · build: **"),
        "{comment}"
    );
    assert!(!comment.contains("lint:"), "{comment}");
    let summary = std::fs::read_to_string(run.join("report/summary.md")).unwrap();
    assert!(
        summary.contains("| Build errors | Build warnings |"),
        "{summary}"
    );
}

/// Many tests failing one way in a single-runner run: the title says the message and how
/// many tests (each once), and the list shows test names without the runner's prefix, each
/// once.
#[test]
fn a_folded_task_lists_each_test_once_without_the_runner_prefix() {
    let case = |i: usize| {
        format!(
            r#"<testcase classname="tests.test_db" name="test_q{i}" file="tests/test_db.py" line="3"><failure message="OperationalError: connection refused">tests/conftest.py:41: in db
E   OperationalError: connection refused</failure></testcase>"#
        )
    };
    let cases: String = (0..4).map(case).collect();
    let report = format!(r#"<testsuite name="pytest" tests="4">{cases}</testsuite>"#);
    // The same report twice (a re-uploaded artifact): every test is there twice.
    let t = with_written_reports(&[("a.xml", &report), ("b.xml", &report)]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let comment = std::fs::read_to_string(latest(t.path()).join("report/comment.md")).unwrap();
    assert!(
        comment.contains(
            "4 tests fail the same way at tests/test&#95;db.py:3: OperationalError: connection refused"
        ),
        "{comment}"
    );
    let tests_line = comment
        .lines()
        .find(|l| l.contains("Tests: "))
        .expect(&comment);
    assert_eq!(tests_line.matches("test&#95;q0").count(), 1, "{tests_line}");
    assert!(!tests_line.contains("reports::"), "{tests_line}");
    assert!(
        tests_line.contains("<code>tests.test&#95;db::test&#95;q3</code>"),
        "{tests_line}"
    );
}

/// A config file's warning is said once by `ci`, though its settings are read by the gate,
/// verify and the report.
#[test]
fn ci_says_each_config_warning_once() {
    let t = with_reports(&["pytest-mixed.junit-xunit2.xml"]);
    std::fs::create_dir_all(t.path().join(".codeloop")).unwrap();
    std::fs::write(
        t.path().join(".codeloop/config.json"),
        r#"{"verify": {"timout": 50}, "bogus": 1}"#,
    )
    .unwrap();
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("unknown key `bogus`").count(), 1, "{err}");
    assert_eq!(
        err.matches("unknown key `verify.timout`").count(),
        1,
        "{err}"
    );
}

/// A test's name and message are its own text: a backtick in the name does not pair with
/// one in the message into a code span that changes both (titles of runners and suites,
/// our own words, still show quoted names as code).
#[test]
fn backticks_in_test_names_stay_as_written() {
    let t = with_written_reports(&[(
        "junit.xml",
        r#"<testsuite name="s" tests="1"><testcase classname="t" name="test_param[a|b`c]"><failure message="expected 'a|b`c' here">x</failure></testcase></testsuite>"#,
    )]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let run = latest(t.path());
    let comment = std::fs::read_to_string(run.join("report/comment.md")).unwrap();
    let title = comment
        .lines()
        .find(|l| l.starts_with("**1."))
        .unwrap_or_else(|| panic!("{comment}"));
    assert!(!title.contains("<code>"), "{title}");
    assert_eq!(title.matches("&#96;").count(), 2, "{title}");
    let html = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(
        html.contains("test_param[a|b`c] failed"),
        "a raw backtick in the page"
    );
}

/// A Go parent test that failed only for its subtest: one failing test, titled as itself,
/// with no list of its parents beside it.
#[test]
fn go_parents_are_not_listed_beside_their_failing_subtest() {
    let t = with_written_reports(&[(
        "go.xml",
        r#"<testsuites><testsuite name="example.com/calc" tests="4" failures="3">
<testcase classname="example.com/calc" name="TestNested/level1/level2_fail"><failure message="Failed">=== RUN   TestNested/level1/level2_fail
    calc_test.go:74: deep failure
--- FAIL: TestNested/level1/level2_fail (0.00s)</failure></testcase>
<testcase classname="example.com/calc" name="TestNested/level1"><failure message="Failed">=== RUN   TestNested/level1
--- FAIL: TestNested/level1 (0.00s)</failure></testcase>
<testcase classname="example.com/calc" name="TestNested"><failure message="Failed">=== RUN   TestNested
--- FAIL: TestNested (0.00s)</failure></testcase>
<testcase classname="example.com/calc" name="TestAdd"></testcase>
</testsuite></testsuites>"#,
    )]);
    let o = codeloop(t.path(), &["ci", "--report", "reports/*"], &[]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let comment = std::fs::read_to_string(latest(t.path()).join("report/comment.md")).unwrap();
    let title = comment
        .lines()
        .find(|l| l.starts_with("**1. "))
        .expect(&comment);
    assert!(
        title.contains("level2&#95;fail failed: deep failure"),
        "{title}"
    );
    assert!(!title.contains("same way"), "{title}");
    let meta = comment
        .lines()
        .skip_while(|l| !l.starts_with("**1. "))
        .nth(1)
        .unwrap();
    assert!(!meta.contains("Tests:"), "{meta}");
}
