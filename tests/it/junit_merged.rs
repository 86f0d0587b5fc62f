//! Merged JUnit files and reruns written as repeated testcases, through the binary: a file
//! holding several tools' suites (merged by junit-report-merger and junit-merge) counts each
//! suite by its own tool's rules, and pytest-rerunfailures' repeated `<testcase>`s count as
//! pytest counts them. Fixtures and their sources: `tests/fixtures/junit-merged/README.md`,
//! `tests/fixtures/pytest-reruns/README.md`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::bin;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `codeloop verify --report <file>` on a copy of `file` in a fresh project; the `reports`
/// runner's verify.json entry and the run directory.
fn verify_file(file: &Path) -> (Value, PathBuf, tempfile::TempDir) {
    let d = tempfile::tempdir().unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    std::fs::copy(file, d.path().join(name)).unwrap();
    let mut c = Command::new(bin());
    c.args(["verify", "--format", "json", "--cwd"])
        .arg(d.path())
        .args(["--report", name])
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR");
    let out = c.output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let r = doc["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "reports")
        .cloned()
        .unwrap();
    assert_eq!(r["parse_errors"], serde_json::json!([]), "{name}: {r:#}");
    (r, run_dir, d)
}

/// (tests, passed, failed, errored, skipped, flaky) of a runner.
fn counts(r: &Value) -> [u64; 6] {
    let c = &r["counts"];
    ["tests", "passed", "failed", "errored", "skipped", "flaky"]
        .map(|k| c[k].as_u64().unwrap_or_else(|| panic!("{k} in {c}")))
}

fn cases(run_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(run_dir.join("cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn merged_files_count_each_suite_by_its_own_tools_rules() {
    let dir = fixtures().join("junit-merged");
    // Each input alone, against its true counts (the corpus manifest / pytest's summary).
    let parts = [
        ("catch2-report.xml", [1, 0, 1, 0, 0, 0]),
        ("surefire-EmailAddressTest.xml", [9, 2, 2, 5, 0, 0]),
        ("libtest-lib.xml", [9, 4, 3, 0, 2, 0]),
        ("pytest-mixed-xunit2.xml", [15, 6, 4, 1, 4, 0]),
        ("pytest-reruns-xunit2.xml", [10, 7, 2, 0, 1, 4]),
    ];
    let mut sum = [0u64; 6];
    for (file, want) in parts {
        let (r, _, _d) = verify_file(&dir.join(file));
        assert_eq!(counts(&r), want, "{file}");
        for (s, w) in sum.iter_mut().zip(want) {
            *s += w;
        }
    }
    assert_eq!(sum, [44, 19, 12, 6, 7, 4]);
    // Merged by the real tools, Catch2's suite before Surefire's and libtest's before the
    // rest: the merged file counts what its parts count.
    for merged in ["merged-jrm.xml", "merged-junit-merge.xml"] {
        let (r, run_dir, _d) = verify_file(&dir.join(merged));
        assert_eq!(counts(&r), sum, "{merged}");
        let cases = cases(&run_dir);
        // Surefire's errors stay errors after a Catch2 suite.
        let errored: Vec<&str> = cases
            .iter()
            .filter(|c| c["status"] == "errored")
            .filter_map(|c| c["classname"].as_str())
            .collect();
        assert_eq!(
            errored
                .iter()
                .filter(|c| c.starts_with("action.surefire"))
                .count(),
            5,
            "{merged}: {errored:?}"
        );
        // No invented cases: libtest's two unnamed ignored tests are the only ones.
        let invented = cases
            .iter()
            .filter(|c| c["name"].as_str().unwrap_or("").contains("not named"))
            .count();
        assert_eq!(invented, 2, "{merged}");
    }
}

/// `2 failed, 7 passed, 1 skipped, 9 rerun in 0.43s` → (tests, passed, failed, errored,
/// skipped), as pytest counts: reruns are not tests, xfail/xpass are skipped/passed here.
fn pytest_summary(line: &str) -> [u64; 5] {
    let mut n = [0u64; 5];
    for part in line.split(" in ").next().unwrap().split(", ") {
        let (k, word) = part.trim().split_once(' ').unwrap();
        let k: u64 = k.parse().unwrap();
        match word {
            "passed" | "xpassed" => n[1] += k,
            "failed" => n[2] += k,
            "error" | "errors" => n[3] += k,
            "skipped" | "xfailed" => n[4] += k,
            "rerun" => {}
            other => panic!("unknown pytest outcome {other:?} in {line:?}"),
        }
    }
    n[0] = n[1] + n[2] + n[3] + n[4];
    n
}

#[test]
fn pytest_reruns_count_as_pytest_counts_them() {
    let dir = fixtures().join("pytest-reruns");
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    let mut checked = 0;
    for line in summary.lines() {
        let (file, pytest_line) = line.split_once(": ").unwrap();
        let want = pytest_summary(pytest_line);
        assert_eq!(want, [10, 7, 2, 0, 1], "{line}");
        let (r, run_dir, _d) = verify_file(&dir.join(file));
        let got = counts(&r);
        assert_eq!(got[..5], want, "{file}: pytest says {pytest_line:?}");
        // Passed after a rerun: the two flaky tests, test_param[2] and the flaky fixture.
        assert_eq!(got[5], 4, "{file}");
        let cases = cases(&run_dir);
        assert_eq!(cases.len(), 10, "{file}");
        let case = |name: &str| {
            cases
                .iter()
                .find(|c| c["name"] == name)
                .unwrap_or_else(|| panic!("{file}: no {name}"))
        };
        let row = |name: &str| {
            let c = case(name);
            (
                c["status"].as_str().unwrap().to_string(),
                c["flaky"].as_bool().unwrap_or(false),
                c["retries"].as_u64().unwrap_or(0),
            )
        };
        let s = |x: &str| x.to_string();
        assert_eq!(row("test_passes"), (s("passed"), false, 0), "{file}");
        assert_eq!(
            row("test_flaky_passes_on_second_attempt"),
            (s("passed"), true, 1),
            "{file}"
        );
        assert_eq!(
            row("test_flaky_passes_on_third_attempt"),
            (s("passed"), true, 2),
            "{file}"
        );
        assert_eq!(row("test_always_fails"), (s("failed"), false, 2), "{file}");
        // Parametrized tests have distinct names: each is its own test.
        assert_eq!(row("test_param[1]"), (s("passed"), false, 0), "{file}");
        assert_eq!(row("test_param[2]"), (s("passed"), true, 1), "{file}");
        assert_eq!(row("test_param[3]"), (s("failed"), false, 2), "{file}");
        assert_eq!(row("test_skipped"), (s("skipped"), false, 0), "{file}");
        assert_eq!(row("test_flaky_setup"), (s("passed"), true, 1), "{file}");
        // The failure of the last attempt is the test's.
        let f = &case("test_always_fails")["failure"];
        assert!(
            f["message"].as_str().unwrap().contains("never passes"),
            "{f}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}
