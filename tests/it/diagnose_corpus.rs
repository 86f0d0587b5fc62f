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
