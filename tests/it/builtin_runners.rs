//! Built-in runners say what the tool says, through the binary: the nextest runner on a real
//! crate (`tests/fixtures/nextest-project`) counts what nextest's own summary line counts,
//! skipped tests included; reproduce commands name files repo-relative.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::bin;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// nextest's own summary of the fixture crate (run by hand with cargo-nextest 0.9.143):
/// `16 tests run: 8 passed (1 flaky), 7 failed, 1 timed out, 2 skipped`. Timed out counts as
/// failed in codeloop's model; the two `#[ignore]`d tests are skipped, with their names.
#[test]
fn nextest_runner_counts_what_nextest_says_skipped_tests_included() {
    if !on_path("cargo-nextest") {
        eprintln!(
            "skipped: cargo-nextest is not on PATH (install it with \
             `cargo install cargo-nextest --locked` to run this test)"
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("project");
    copy_dir(&fixtures().join("nextest-project"), &project);
    let out = Command::new(bin())
        .args(["verify", "--format", "json", "--runner", "nextest", "--cwd"])
        .arg(&project)
        .env("CI", "true")
        .env("CARGO_TARGET_DIR", d.path().join("target"))
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("NEXTEST_PROFILE")
        .output()
        .unwrap();
    let doc = json(&out);
    let r = doc["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "nextest")
        .unwrap();
    let c = &r["counts"];
    let got = ["tests", "passed", "failed", "errored", "skipped", "flaky"].map(|k| c[k].as_u64());
    assert_eq!(
        got,
        [18, 8, 8, 0, 2, 1].map(Some),
        "{r:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(r["parse_errors"], serde_json::json!([]), "{r:#}");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let cases = std::fs::read_to_string(run_dir.join("cases.jsonl")).unwrap();
    let mut skipped: Vec<String> = cases
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|c| c["status"] == "skipped")
        .map(|c| format!("{} {}", c["classname"], c["name"]))
        .collect();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            r#""nextest_sample" "tests::it_is_ignored""#,
            r#""nextest_sample" "tests::it_is_ignored_with_reason""#
        ]
    );
}

/// vitest writes absolute paths (`/home/me/app/js/spec/mixed.spec.js`): the reproduce command
/// names the file relative to the repository, so it can be pasted on any machine.
#[test]
fn vitest_reproduce_commands_name_files_repo_relative() {
    let d = tempfile::tempdir().unwrap();
    let ws = d.path().canonicalize().unwrap();
    let ws_s = ws.to_str().unwrap();
    // The corpus file (`generated/vitest/mixed.vitest.json`), as if run in this workspace.
    let report = std::fs::read_to_string(fixtures().join("vitest/mixed.vitest.json"))
        .unwrap()
        .replace("/home/runner/work/samples/samples", ws_s);
    assert!(report.contains(&format!("{ws_s}/js/spec/mixed.spec.js")));
    std::fs::write(ws.join("mixed.vitest.json"), report).unwrap();
    let out = Command::new(bin())
        .args(["verify", "--format", "json", "--cwd"])
        .arg(&ws)
        .args(["--report", "mixed.vitest.json"])
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .output()
        .unwrap();
    let run_dir = PathBuf::from(json(&out)["run_dir"].as_str().unwrap());
    let out = Command::new(bin())
        .args(["diagnose", "--cwd"])
        .arg(&ws)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("diagnose.json")).unwrap())
            .unwrap();
    let commands: Vec<&str> = doc["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["reproduce"].as_str())
        .collect();
    assert!(!commands.is_empty(), "{doc:#}");
    for c in &commands {
        assert!(
            c.starts_with("npx vitest run js/spec/mixed.spec.js -t "),
            "{c}"
        );
        assert!(!c.contains(ws_s), "{c}");
    }
}

/// pytest detected but not installed for the interpreter (a fresh runner image): the runner
/// is `unavailable` with the install hint, not a parse error about `pytest.xml` (the report
/// a tool that never started could not write) that fails the gate as "unreadable".
#[test]
fn pytest_not_installed_is_unavailable_with_the_install_hint() {
    let d = tempfile::tempdir().unwrap();
    let project = d.path().join("project");
    std::fs::create_dir_all(project.join("tests")).unwrap();
    std::fs::write(project.join("pyproject.toml"), "[project]\nname = \"x\"\n").unwrap();
    std::fs::write(
        project.join("tests/test_x.py"),
        "def test_a():\n    assert True\n",
    )
    .unwrap();
    // An interpreter without pytest, saying what `python3 -m pytest` says then.
    let bin_dir = d.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let py = bin_dir.join("python3");
    std::fs::write(
        &py,
        "#!/bin/sh\necho \"$0: No module named pytest\" >&2\nexit 1\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&py, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/bin:/bin", bin_dir.display());
    let out = Command::new(bin())
        .args(["verify", "--format", "json", "--runner", "pytest", "--cwd"])
        .arg(&project)
        .env("PATH", &path)
        .output()
        .unwrap();
    let v = json(&out);
    let r = &v["runners"][0];
    assert_eq!(r["id"], "pytest");
    assert_eq!(r["status"], "unavailable", "{r}");
    let hint = r["hint"].as_str().unwrap();
    assert!(
        hint.contains("`pytest` is not installed") && hint.contains("pip install pytest"),
        "{hint}"
    );
    assert_eq!(r["parse_errors"].as_array().map_or(0, Vec::len), 0, "{r}");
    assert_eq!(out.status.code(), Some(1));
}
