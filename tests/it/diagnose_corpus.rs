//! Diagnose over the whole corpus: every failing file the parsers read is diagnosed, every
//! failure gets a category that matches its status, every location is repo-relative and
//! sane, and a failure whose report names its source file is located in that file.
//! (Files whose parser is not in this build are skipped and counted.)

use std::collections::BTreeMap;

use codeloop::diagnose::location::{PathContext, normalize_path, same_file};
use codeloop::diagnose::{self as diag, Input, Options};
use codeloop::model::{Category, RunnerKind, Status};

use crate::corpus::{parse_row, rows};
use crate::diagnose::{WS, runner, verify_doc};

#[test]
fn every_corpus_failure_gets_a_category_and_a_sane_location() {
    let mut problems = Vec::new();
    let (mut files, mut failures, mut located, mut unreadable) = (0, 0, 0, 0);
    for row in rows() {
        let (c, r) = parse_row(&row);
        if r.is_err() && c.counts.tests == 0 {
            unreadable += 1;
            continue;
        }
        let mut cases: Vec<_> = c.problems.clone();
        if cases.is_empty() && c.suite_errors.is_empty() {
            continue;
        }
        files += 1;
        for case in &mut cases {
            case.runner = "r".into();
        }
        let mut run = runner("r", RunnerKind::Test, WS, "test");
        run.counts = c.counts;
        run.suite_errors = c.suite_errors.clone();
        let v = verify_doc(WS, vec![run], &cases);
        let logs = BTreeMap::new();
        let doc = diag::diagnose(
            &Input {
                verify: &v,
                cases: &cases,
                findings: &c.findings,
                logs: &logs,
            },
            &Options::default(),
        );
        let ctx = PathContext::new([WS.to_string()], "");
        // Case problems come in case order (keys may repeat: reruns of one test).
        let mut case_problems = doc.problems.iter().filter(|p| p.test.is_some());
        for case in &cases {
            if !(case.status.is_bad() || case.flaky) {
                continue;
            }
            failures += 1;
            let key = case.key();
            let Some(p) = case_problems
                .next()
                .filter(|p| p.test.as_deref() == Some(&key))
            else {
                problems.push(format!("{}: no problem for {key}", row.path));
                continue;
            };
            let ok = match case.status {
                Status::Passed => p.category == Category::Flaky,
                Status::Failed => matches!(
                    p.category,
                    Category::TestFailure | Category::Crash | Category::Timeout
                ),
                Status::Errored => matches!(
                    p.category,
                    Category::TestError | Category::Crash | Category::Timeout
                ),
                Status::Skipped => false,
            };
            if !ok {
                problems.push(format!(
                    "{}: {key} is {:?} but diagnosed {:?}",
                    row.path, case.status, p.category
                ));
            }
            if let Some(l) = &p.location {
                located += 1;
                let f = &l.file;
                if f.starts_with('/')
                    || f.contains("..")
                    || f.contains('\\')
                    || f.contains("home/runner")
                    || f.contains(':')
                    || l.line == Some(0)
                {
                    problems.push(format!("{}: {key}: odd location {l}", row.path));
                }
            }
            // The report's own file field: the location must be in that file.
            if let Some(own) = case.file.as_deref().and_then(|f| normalize_path(f, &ctx)) {
                match &p.location {
                    Some(l) if same_file(&l.file, &own) => {}
                    other => problems.push(format!(
                        "{}: {key}: report names {own}, diagnosed {other:?}",
                        row.path
                    )),
                }
            }
        }
    }
    eprintln!(
        "diagnosed {failures} failures in {files} corpus files ({located} located); {unreadable} files not readable by this build's parsers"
    );
    assert!(files >= 5, "too few corpus files diagnosed: {files}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Each failing case's problem title in a corpus file, by test name.
fn titles(path: &str) -> BTreeMap<String, String> {
    let row = rows().into_iter().find(|r| r.path == path).unwrap();
    let (c, r) = parse_row(&row);
    r.unwrap();
    let mut cases = c.problems.clone();
    for case in &mut cases {
        case.runner = "r".into();
    }
    let mut run = runner("r", RunnerKind::Test, WS, "go test ./...");
    run.counts = c.counts;
    let v = verify_doc(WS, vec![run], &cases);
    let logs = BTreeMap::new();
    let doc = diag::diagnose(
        &Input {
            verify: &v,
            cases: &cases,
            findings: &[],
            logs: &logs,
        },
        &Options::default(),
    );
    cases
        .iter()
        .filter_map(|case| {
            let key = case.key();
            let p = doc
                .problems
                .iter()
                .find(|p| p.test.as_deref() == Some(&key))?;
            Some((case.name.clone(), p.title.clone()))
        })
        .collect()
}

/// gotestsum writes `<failure message="Failed">` on every failure, the real message only in
/// the element's text: the titles carry the `file_test.go:N: message` line's message (or the
/// panic) — the same titles as `go test -json` of the same run gives.
#[test]
fn gotestsum_titles_carry_the_real_messages() {
    for (junit, json) in [
        (
            "generated/go-test/all.gotestsum-junit.xml",
            "generated/go-test/all.go-test.jsonl",
        ),
        (
            "generated/go-test/calc-mixed.gotestsum-junit.xml",
            "generated/go-test/calc-mixed.go-test.jsonl",
        ),
    ] {
        let mut got = titles(junit);
        assert!(got.len() >= 10, "{junit}: {got:#?}");
        for t in got.values() {
            assert!(!t.ends_with(": Failed"), "{junit}: {t}");
        }
        let mut want = titles(json);
        // gotestsum's XML writer replaced the test's ESC, BEL and NUL with U+FFFD (the JSON
        // stream has them, and they are cleaned out of the title).
        if let Some(t) = got.remove("TestANSIControl") {
            assert!(
                t.ends_with("failed: \u{fffd}[31mred\u{fffd}[0m bell \u{fffd} nul \u{fffd} end"),
                "{t}"
            );
            want.remove("TestANSIControl");
        }
        assert_eq!(got, want, "{junit}");
    }
    let got = titles("generated/go-test/all.gotestsum-junit.xml");
    let title = |name: &str| got.get(name).map(String::as_str).unwrap_or_default();
    assert_eq!(
        title("TestTable/9/3_wrong"),
        "example.com/corpus/calc::TestTable/9/3_wrong failed: Div(9,3) = 3, want 4"
    );
    assert_eq!(
        title("TestAddFail"),
        "example.com/corpus/calc::TestAddFail failed: expected 1+1 = 3, got 2 <&> \"quoted\""
    );
    assert_eq!(
        title("TestPanics"),
        "example.com/corpus/panics::TestPanics crashed: panic: assignment to entry in nil map"
    );
    // A parent test whose text is only Go's framing says no message, not a placeholder.
    assert_eq!(
        title("TestTable"),
        "example.com/corpus/calc::TestTable failed"
    );
}
