//! Secrets never leak: a runner that prints a secret from its environment, writes it into the
//! JUnit report it produces, and masks another value with `::add-mask::`. After `codeloop ci`
//! and `codeloop action` (against the fake GitHub), no file of the run directory, nor the
//! job summary, step outputs, posted comment, API request, stdout or stderr holds either
//! value, and `***` stands where they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::bin;
use crate::fake_github::{FakeGitHub, TOKEN};

/// Seeded into the runner's environment under a secret-looking name.
const ENV_SECRET: &str = "s3cr3t-api-token-7f3a9c";
/// Never in the environment: only the runner's own `::add-mask::` says it is secret.
const MASKED: &str = "masked-by-workflow-51d2";
/// In `CODELOOP_MASK` (a value the workflow masked and handed over).
const HANDED: &str = "handed-over-mask-88e1";
/// In `CONN_STRING`, a name only `.codeloop/config.json` (`redact.env`) calls secret.
const CONFIGURED: &str = "configured-conn-value-31";
const ALL: [&str; 4] = [ENV_SECRET, MASKED, HANDED, CONFIGURED];

/// The runner: echoes the secrets to stdout/stderr, masks one, and writes two JUnit reports
/// (one into the run directory itself, one into the workspace that codeloop copies).
const SCRIPT: &str = r#"#!/bin/sh
echo "connecting with token $MY_API_TOKEN"
echo "::add-mask::masked-by-workflow-51d2"
echo "the masked value is masked-by-workflow-51d2"
echo "handed: $CODELOOP_MASK" >&2
echo "stderr token=$MY_API_TOKEN" >&2
echo "db: $CONN_STRING"
mkdir -p reports
for f in "$CODELOOP_RUN_DIR/leaky.xml" reports/leaky2.xml; do
cat > "$f" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="leaky" tests="2" failures="1">
  <testcase classname="tests.test_auth" name="test_login" file="tests/test_auth.py" line="3" time="0.1">
    <failure message="401 for token $MY_API_TOKEN and masked-by-workflow-51d2">Traceback (most recent call last):
  File "tests/test_auth.py", line 3, in test_login
    assert login("$MY_API_TOKEN") == 200
AssertionError: bad credentials $MY_API_TOKEN masked-by-workflow-51d2 handed-over-mask-88e1 $CONN_STRING</failure>
    <system-out>token=$MY_API_TOKEN mask=masked-by-workflow-51d2</system-out>
  </testcase>
  <testcase classname="tests.test_auth" name="test_ok" time="0.1"/>
</testsuite>
EOF
done
exit 1
"#;

fn project(root: &Path) {
    std::fs::create_dir_all(root.join(".codeloop")).unwrap();
    std::fs::write(root.join("leaky.sh"), SCRIPT).unwrap();
    std::fs::write(
        root.join(".codeloop/plugins.json"),
        r#"{"name": "leaky", "version": "1.0.0", "runners": [
            {"id": "leaky", "kind": "test", "command": "sh leaky.sh",
             "result_file": ["{run_dir}/leaky.xml", "reports/leaky2.xml"],
             "result_format": "junit-xml"}]}"#,
    )
    .unwrap();
    std::fs::write(
        root.join(".codeloop/config.json"),
        r#"{"redact": {"env": ["CONN_STRING"]}}"#,
    )
    .unwrap();
}

/// Every file under `dir` that names a secret, and whether `***` appears anywhere.
fn leaks_in_tree(dir: &Path) -> (Vec<String>, usize) {
    let mut leaks = Vec::new();
    let mut masked = 0;
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(e.path()).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for s in ALL {
            if text.contains(s) {
                leaks.push(format!("{} holds {s}", e.path().display()));
            }
        }
        if text.contains("***") {
            masked += 1;
        }
    }
    (leaks, masked)
}

fn assert_clean(what: &str, text: &str) {
    for s in ALL {
        assert!(!text.contains(s), "{what} holds {s}:\n{text}");
    }
}

fn only_run_dir(artifacts: &Path) -> PathBuf {
    let runs: Vec<PathBuf> = std::fs::read_dir(artifacts.join("runs"))
        .unwrap()
        .map(|e| e.unwrap())
        // `latest` is a link to the newest run, not a run.
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs[0].clone()
}

#[test]
fn ci_keeps_secrets_out_of_every_file_and_stream() {
    let d = tempfile::tempdir().unwrap();
    project(d.path());
    let o = Command::new(bin())
        .args(["ci", "--cwd", d.path().to_str().unwrap()])
        .env("CI", "true")
        .env("MY_API_TOKEN", ENV_SECRET)
        .env("CODELOOP_MASK", HANDED)
        .env("CONN_STRING", CONFIGURED)
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert_clean("stdout", &out);
    assert_clean("stderr", &err);
    let run = only_run_dir(&d.path().join(".codeloop"));
    let (leaks, masked) = leaks_in_tree(&run);
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(masked >= 5, "*** in only {masked} files");
    // `***` stands where each secret was, in the logs, the copies and the case texts.
    let log = std::fs::read_to_string(run.join("runners/leaky/stdout.log")).unwrap();
    assert!(log.contains("connecting with token ***\n"), "{log}");
    assert!(
        log.contains("::add-mask::***\nthe masked value is ***\n"),
        "{log}"
    );
    let stderr_log = std::fs::read_to_string(run.join("runners/leaky/stderr.log")).unwrap();
    assert_eq!(stderr_log, "handed: ***\nstderr token=***\n");
    let copy = std::fs::read_to_string(run.join("runners/leaky/leaky2.xml")).unwrap();
    assert!(
        copy.contains(r#"message="401 for token *** and ***""#),
        "{copy}"
    );
    let own = std::fs::read_to_string(run.join("leaky.xml")).unwrap();
    assert!(own.contains("token=*** mask=***"), "{own}");
    let cases = std::fs::read_to_string(run.join("cases.jsonl")).unwrap();
    assert!(cases.contains("401 for token *** and ***"), "{cases}");
    // The numbers are still right: redaction changes text, not what was counted.
    let verify: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("verify.json")).unwrap()).unwrap();
    // (two reports of one failing and one passing test each)
    assert_eq!(verify["totals"]["failed"], 2, "{verify:#}");
    assert_eq!(verify["totals"]["passed"], 2, "{verify:#}");
    // The manifest's hashes are of the redacted files.
    let manifest = std::fs::read_to_string(run.join("manifest.json")).unwrap();
    assert!(manifest.contains("runners/leaky/stdout.log"), "{manifest}");
    // The JSON forms on stdout, and the later stages alone on the newest run (a second run,
    // whose verify.json / diagnose.json / gate.json are printed whole).
    let cwd = d.path().to_str().unwrap();
    // (whether the output quotes failure text, so `***` must show)
    for (args, quotes) in [
        (&["ci", "--cwd", cwd, "--format", "json"][..], true),
        (&["verify", "--cwd", cwd, "--format", "json"], false),
        (&["diagnose", "--cwd", cwd, "--format", "json"], true),
        (&["diagnose", "--cwd", cwd], true),
        (&["gate-check", "--cwd", cwd, "--format", "json"], false),
        (&["status", "--cwd", cwd], false),
    ] {
        let o = Command::new(bin())
            .args(args)
            .env("CI", "true")
            .env("MY_API_TOKEN", ENV_SECRET)
            .env("CODELOOP_MASK", HANDED)
            .env("CONN_STRING", CONFIGURED)
            .env_remove("CODELOOP_ARTIFACTS_DIR")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!quotes || out.contains("***"), "{args:?}: {out}");
        assert_clean(&format!("{args:?} stdout"), &out);
        assert_clean(
            &format!("{args:?} stderr"),
            &String::from_utf8_lossy(&o.stderr),
        );
    }
}

#[test]
fn the_action_keeps_secrets_out_of_comment_summary_outputs_and_api() {
    let fake = FakeGitHub::start();
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().join("workspace");
    project(&ws);
    let event = d.path().join("event.json");
    std::fs::write(
        &event,
        serde_json::json!({
            "action": "synchronize", "number": 1,
            "pull_request": {"number": 1,
                "head": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e", "ref": "f",
                         "repo": {"full_name": "octo/app"}},
                "base": {"sha": "b", "ref": "main", "repo": {"full_name": "octo/app"}}},
            "repository": {"full_name": "octo/app"}
        })
        .to_string(),
    )
    .unwrap();
    let output = d.path().join("output.txt");
    let summary = d.path().join("summary.md");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    let p = |p: &Path| p.to_string_lossy().into_owned();
    let env: BTreeMap<&str, String> = [
        ("INPUT_GITHUB-TOKEN", TOKEN.to_string()),
        ("INPUT_COMMENT", "always".into()),
        ("INPUT_CHECK-RUN", "true".into()),
        ("INPUT_BADGE", "true".into()),
        ("INPUT_RUNNERS", "leaky".into()),
        ("INPUT_MASK", HANDED.into()),
        ("CONN_STRING", CONFIGURED.into()),
        ("MY_API_TOKEN", ENV_SECRET.into()),
        ("GITHUB_ACTIONS", "true".into()),
        ("CI", "true".into()),
        ("GITHUB_REPOSITORY", "octo/app".into()),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        (
            "GITHUB_SHA",
            "ffffffffffffffffffffffffffffffffffffffff".into(),
        ),
        ("GITHUB_REF", "refs/pull/1/merge".into()),
        ("GITHUB_EVENT_NAME", "pull_request".into()),
        ("GITHUB_EVENT_PATH", p(&event)),
        ("GITHUB_WORKSPACE", p(&ws)),
        ("GITHUB_OUTPUT", p(&output)),
        ("GITHUB_STEP_SUMMARY", p(&summary)),
        ("GITHUB_RUN_ID", "4242".into()),
        ("CODELOOP_RETRY_BASE_MS", "10".into()),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ]
    .into_iter()
    .collect();
    let o = Command::new(bin())
        .arg("action")
        .env_clear()
        .envs(&env)
        .output()
        .unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr),
    );
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    // On a real runner the action registers the env secrets as masks first (the runner then
    // hides them from the log), but only as `::add-mask::` lines, never in the clear elsewhere.
    let rest: String = out
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_clean("stdout", &rest);
    assert_clean("stderr", &err);
    let run = only_run_dir(&ws.join(".codeloop"));
    let (leaks, masked) = leaks_in_tree(&run);
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(masked >= 5, "*** in only {masked} files");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(!summary.is_empty());
    assert_clean("job summary", &summary);
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("verdict<<"), "{outputs}");
    assert_clean("step outputs", &outputs);
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_clean("comment", &ours[0].body);
    assert!(ours[0].body.contains("***"), "{}", ours[0].body);
    for r in fake.requests() {
        if let Some(b) = &r.body {
            assert_clean(&format!("{} {}", r.method, r.path), &b.to_string());
        }
    }
    // GitHub's own token is a secret too (it came in as INPUT_GITHUB-TOKEN).
    assert!(!rest.contains(TOKEN));
}

/// A mask printed by one runner after another runner's cases were already written: the last
/// pass before the manifest rewrites those files (and keeps them valid JSON Lines).
#[test]
fn a_late_mask_reaches_files_written_before_it() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join(".codeloop")).unwrap();
    std::fs::write(
        root.join("early.xml.in"),
        r#"<testsuite name="s" tests="1" failures="1"><testcase name="t" classname="c"><failure message="saw late-mask-value-77 here">boom late-mask-value-77</failure></testcase></testsuite>"#,
    )
    .unwrap();
    std::fs::write(
        root.join(".codeloop/plugins.json"),
        r#"{"runners": [
            {"id": "early", "kind": "test", "command": "cp early.xml.in early.xml",
             "result_file": "early.xml", "result_format": "junit-xml"},
            {"id": "late", "kind": "test",
             "command": "sleep 1; echo '::add-mask::late-mask-value-77'"}]}"#,
    )
    .unwrap();
    let o = Command::new(bin())
        .args(["verify", "--cwd", root.to_str().unwrap(), "--jobs", "2"])
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let run = only_run_dir(&root.join(".codeloop"));
    let cases = std::fs::read_to_string(run.join("cases.jsonl")).unwrap();
    assert!(!cases.contains("late-mask-value-77"), "{cases}");
    for line in cases.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("valid JSON line");
        assert_eq!(v["failure"]["message"], "saw *** here", "{v}");
    }
    for f in ["runners/early/early.xml", "runners/late/stdout.log"] {
        let t = std::fs::read_to_string(run.join(f)).unwrap();
        assert!(
            !t.contains("late-mask-value-77") && t.contains("***"),
            "{f}: {t}"
        );
    }
}
