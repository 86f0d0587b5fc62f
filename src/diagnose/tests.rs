//! Unit tests of the diagnose core: categories, runner-level problems, folding into tasks,
//! evidence bounds, annotation caps and escaping.

use super::output::{AnnotationLimits, annotations, escape_data, escape_property};
use super::*;
use crate::model::{Counts, Failure, ParseIssue, Position, RunStatus, RunnerSource};

fn runner(id: &str, kind: RunnerKind, status: RunnerStatus) -> RunnerResult {
    RunnerResult {
        shards: Vec::new(),
        candidates: Vec::new(),
        id: id.into(),
        kind,
        source: RunnerSource::Builtin,
        command: Some(format!("{id} run")),
        cwd: Some("/ws".into()),
        status,
        exit_code: Some(1),
        signal: None,
        duration: 12.0,
        hint: None,
        counts: Counts::default(),
        lint: Default::default(),
        result_files: Vec::new(),
        parse_errors: Vec::new(),
        warnings: Vec::new(),
        suite_errors: Vec::new(),
        stdout_log: None,
        stderr_log: None,
        depends_on: Vec::new(),
        limits: None,
    }
}

fn verify(runners: Vec<RunnerResult>) -> VerifyDoc {
    VerifyDoc {
        schema_version: SCHEMA_VERSION,
        run_id: "r".into(),
        started_at: String::new(),
        finished_at: String::new(),
        status: RunStatus::Failed,
        cwd: "/ws".into(),
        shard: None,
        runners,
        totals: Counts::default(),
        lint: Default::default(),
        slowest: Vec::new(),
    }
}

/// The runners' counts as verify would have them for these cases.
fn with_counts(v: &VerifyDoc, cases: &[Case]) -> VerifyDoc {
    let mut v = v.clone();
    for c in cases {
        if let Some(r) = v.runners.iter_mut().find(|r| r.id == c.runner) {
            r.counts.add_case(c.status, c.flaky);
        }
        v.totals.add_case(c.status, c.flaky);
    }
    v
}

fn failed(name: &str, message: &str, trace: &str) -> Case {
    let mut c = Case::new(name, Status::Failed);
    c.runner = "t".into();
    c.failure = Some(Failure {
        kind: None,
        message: Some(message.into()),
        trace: Some(trace.into()),
    });
    c
}

fn run(v: &VerifyDoc, cases: &[Case], logs: &BTreeMap<String, String>) -> DiagnoseDoc {
    let v = &with_counts(v, cases);
    diagnose(
        &Input {
            verify: v,
            cases,
            findings: &[],
            logs,
        },
        &Options::default(),
    )
}

#[test]
fn categories_from_status_and_text() {
    let mut flaky = Case::new("f", Status::Passed);
    flaky.flaky = true;
    let mut errored = failed("e", "KeyError: 'x'", "");
    errored.status = Status::Errored;
    for (c, want) in [
        (flaky, Category::Flaky),
        (errored, Category::TestError),
        (failed("a", "assert 1 == 2", ""), Category::TestFailure),
        (
            failed("s", "", "Fatal Python error: Segmentation fault"),
            Category::Crash,
        ),
        (
            failed(
                "g",
                "",
                "panic: runtime error: index out of range [recovered]",
            ),
            Category::Crash,
        ),
        (
            failed("t", "Exceeded timeout of 5000 ms for a test.", ""),
            Category::Timeout,
        ),
        (
            failed("timeout_in_name_only", "assert 1 == 2", ""),
            Category::TestFailure,
        ),
    ] {
        assert_eq!(case_category(&c), want, "{}", c.name);
    }
}

#[test]
fn forty_failures_on_one_line_are_one_task() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    let mut cases: Vec<Case> = (0..40)
        .map(|i| {
            failed(
                &format!("test_{i}"),
                "AssertionError: fixture broken",
                "tests/conftest.py:7: AssertionError",
            )
        })
        .collect();
    cases.push(failed(
        "test_other",
        "assert 2 == 3",
        "tests/test_b.py:3: AssertionError",
    ));
    let d = run(&v, &cases, &BTreeMap::new());
    assert_eq!(d.problems.len(), 41);
    assert_eq!(d.tasks.len(), 2);
    let big = &d.tasks[0];
    assert_eq!(big.problems.len(), 40);
    assert_eq!(big.tests.len(), 40);
    assert_eq!(
        big.location.as_ref().unwrap().to_string(),
        "tests/conftest.py:7"
    );
    assert!(
        big.title
            .starts_with("40 tests fail the same way at tests/conftest.py:7: "),
        "{}",
        big.title
    );
    assert_eq!(d.tasks[1].problems.len(), 1);
}

#[test]
fn runner_problems_explain_missing_results() {
    let mut unavailable = runner("rspec", RunnerKind::Test, RunnerStatus::Unavailable);
    unavailable.hint = Some("`bundle` is not on PATH: install Ruby".into());
    let mut blocked = runner("cargo-test", RunnerKind::Test, RunnerStatus::Blocked);
    blocked.depends_on = vec!["cargo-build".into()];
    let build = runner("cargo-build", RunnerKind::Build, RunnerStatus::Failed);
    let silent = runner("pytest", RunnerKind::Test, RunnerStatus::Failed);
    let mut parse = runner("jest", RunnerKind::Test, RunnerStatus::Failed);
    parse.counts.tests = 3;
    parse.counts.failed = 1;
    parse.parse_errors.push(ParseIssue {
        missing: false,
        shard: None,
        file: "reports/junit.xml".into(),
        position: Some(Position {
            line: 3,
            column: 7,
            byte: 40,
        }),
        message: "unexpected end of file".into(),
    });
    let mut timeout = runner("go", RunnerKind::Test, RunnerStatus::Timeout);
    timeout.duration = 600.0;
    let v = verify(vec![unavailable, blocked, build, silent, parse, timeout]);
    let mut logs = BTreeMap::new();
    logs.insert(
        "cargo-build".to_string(),
        "error[E0308]: mismatched types\n --> src/main.rs:4:18".to_string(),
    );
    let d = run(&v, &[], &logs);
    let titles: Vec<(Category, &str)> = d
        .problems
        .iter()
        .map(|p| (p.category, p.title.as_str()))
        .collect();
    assert_eq!(
        titles,
        [
            (
                Category::Unavailable,
                "runner `rspec` could not run: its tool is not installed"
            ),
            (
                Category::Blocked,
                "runner `cargo-test` was not run: build `cargo-build` failed"
            ),
            (
                Category::BuildError,
                "build `cargo-build` failed (exit code 1)"
            ),
            (
                Category::NoResults,
                "runner `pytest` produced no test results: it wrote no result file"
            ),
            (
                Category::ParseError,
                "cannot read result file `reports/junit.xml` at line 3, column 7"
            ),
            (Category::Timeout, "runner `go` timed out after 600s"),
        ]
    );
    assert!(d.problems[0].evidence.contains("install Ruby"));
    assert!(d.problems[2].evidence.contains("mismatched types"));
    // Build first, then the missing tool, ..., blocked last.
    let order: Vec<Category> = d.tasks.iter().map(|t| t.category).collect();
    assert_eq!(order[0], Category::BuildError);
    assert_eq!(order[1], Category::Unavailable);
    assert_eq!(*order.last().unwrap(), Category::Blocked);
}

/// In a merged run, a runner that went wrong in some shards only is named with them, so the
/// task says where to look (the other shards' results are fine).
/// A runner that ran and wrote no report: one `no_results` problem that names the report,
/// says how the command ended and shows its output (why it stopped is usually there), not
/// "cannot read result file". A timed-out runner's missing report is its timeout's problem.
#[test]
fn a_report_never_written_is_explained_with_the_runners_output() {
    let issue = ParseIssue {
        file: ".codeloop/runs/r1/runners/e2e/*.xml".into(),
        message: "no report was written there: the command exited with code 2 before writing it"
            .into(),
        missing: true,
        ..Default::default()
    };
    let mut e2e = runner("e2e", RunnerKind::Test, RunnerStatus::Failed);
    e2e.exit_code = Some(2);
    e2e.parse_errors.push(issue.clone());
    let mut slow = runner("slow", RunnerKind::Test, RunnerStatus::Timeout);
    slow.parse_errors.push(issue);
    let v = verify(vec![e2e, slow]);
    let mut logs = BTreeMap::new();
    logs.insert(
        "e2e".to_string(),
        "fatal: DATABASE_URL is not set".to_string(),
    );
    let d = run(&v, &[], &logs);
    let e2e: Vec<&Problem> = d.problems.iter().filter(|p| p.runner == "e2e").collect();
    assert_eq!(e2e.len(), 1, "{e2e:#?}");
    assert_eq!(e2e[0].category, Category::NoResults);
    assert_eq!(
        e2e[0].title,
        "runner `e2e` wrote no report `.codeloop/runs/r1/runners/e2e/*.xml`"
    );
    assert!(
        e2e[0].evidence.contains("exited with code 2")
            && e2e[0].evidence.contains("DATABASE_URL is not set"),
        "{}",
        e2e[0].evidence
    );
    assert_eq!(e2e[0].reproduce.as_deref(), Some("e2e run"));
    let slow: Vec<&Problem> = d.problems.iter().filter(|p| p.runner == "slow").collect();
    assert_eq!(slow.len(), 1, "{slow:#?}");
    assert_eq!(slow[0].category, Category::Timeout);
}

#[test]
fn runner_problems_of_a_merged_run_name_their_shards() {
    let mut silent = runner("pytest", RunnerKind::Test, RunnerStatus::Failed);
    silent.shards = vec!["3/4".into()];
    let mut quiet_lint = runner("ruff", RunnerKind::Lint, RunnerStatus::Failed);
    quiet_lint.shards = vec!["1/4".into(), "2/4".into()];
    let mut green = runner("jest", RunnerKind::Test, RunnerStatus::Failed);
    green.shards = vec!["4/4".into()];
    green.exit_code = Some(2);
    let v = verify(vec![silent, quiet_lint, green]);
    let mut pass = Case::new("a", Status::Passed);
    pass.runner = "jest".into();
    let d = run(&v, &[pass], &BTreeMap::new());
    let titles: Vec<&str> = d.problems.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "runner `pytest` in shard 3/4 produced no test results: it wrote no result file",
            "lint runner `ruff` in shards 1/4, 2/4 exited with code 1 but reported no finding",
            "runner `jest` in shard 4/4 exited with code 2 but its results show no failing test",
        ]
    );
}

#[test]
fn evidence_is_the_message_and_lines_around_the_frame_bounded() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    let mut trace = String::from("Error: boom\n");
    for i in 0..50 {
        trace.push_str(&format!(
            "    at lib{i} (/ws/node_modules/x/lib{i}.js:1:1)\n"
        ));
    }
    trace.push_str("    at Object.<anonymous> (/ws/test/a.test.js:7:3)\n");
    for i in 0..50 {
        trace.push_str(&format!("    at tail{i} (node:internal/x:{i}:1)\n"));
    }
    trace.push_str(&"x".repeat(100_000));
    let c = failed("a", "boom \u{1b}[31mred\u{1b}[0m", &trace);
    let d = run(&v, &[c], &BTreeMap::new());
    let p = &d.problems[0];
    assert_eq!(
        p.location.as_ref().unwrap().to_string(),
        "test/a.test.js:7:3"
    );
    assert!(p.evidence.starts_with("boom red\n---\n"), "{}", p.evidence);
    assert!(
        p.evidence
            .contains("at Object.<anonymous> (/ws/test/a.test.js:7:3)")
    );
    // The frames around the user's are node_modules' and node's own: left out.
    assert!(!p.evidence.contains("lib49") && !p.evidence.contains("tail0"));
    assert!(p.evidence.len() <= Options::default().evidence_bytes);
}

#[test]
fn workflow_command_escaping() {
    assert_eq!(escape_data("50% a\r\nb"), "50%25 a%0D%0Ab");
    assert_eq!(escape_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
}

fn many_tasks(errors: usize, warnings: usize) -> DiagnoseDoc {
    let mut problems = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..errors + warnings {
        let sev = if i < errors {
            Severity::Error
        } else {
            Severity::Warning
        };
        let id = format!("p{}", i + 1);
        problems.push(Problem {
            id: id.clone(),
            category: if i < errors {
                Category::TestFailure
            } else {
                Category::Flaky
            },
            runner: "t".into(),
            test: Some(format!("t::n{i}")),
            title: format!("n{i} failed"),
            location: None,
            evidence: "line1\nline2 ::error::spoof".into(),
            reproduce: None,
            severity: sev,
            suite_error: None,
        });
        tasks.push(RepairTask {
            id: format!("t{}", i + 1),
            category: problems[i].category,
            title: format!("n{i}, failed: x"),
            location: None,
            evidence: problems[i].evidence.clone(),
            reproduce: None,
            problems: vec![id],
            tests: Vec::new(),
        });
    }
    DiagnoseDoc {
        schema_version: SCHEMA_VERSION,
        run_id: "r".into(),
        problems,
        tasks,
        truncated: 0,
    }
}

#[test]
fn annotation_caps_keep_the_most_important_and_count_the_rest() {
    let lines = annotations(&many_tasks(25, 14), AnnotationLimits::default());
    let count = |p: &str| lines.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("::error "), 10);
    assert_eq!(count("::warning "), 10);
    assert_eq!(count("::notice "), 1);
    // The first ten error tasks, in order.
    assert!(
        lines[0].contains("n0%2C failed") && lines[9].contains("n9%2C failed"),
        "{}",
        lines[0]
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("19 more problem(s) not annotated")
    );
    // Evidence newlines are escaped: no spoofed command can start a line.
    assert!(lines.iter().all(|l| !l.contains('\n')));
    assert!(
        lines[0].ends_with("line1%0Aline2 ::error::spoof"),
        "{}",
        lines[0]
    );

    // A per-job cap smaller than the levels: the notice still fits, within the cap.
    let tight = annotations(
        &many_tasks(25, 14),
        AnnotationLimits {
            per_level: 10,
            per_job: 12,
        },
    );
    assert_eq!(tight.len(), 12);
    assert!(tight.last().unwrap().contains("28 more problem(s)"));
    // Nothing left out: no notice.
    let few = annotations(&many_tasks(2, 1), AnnotationLimits::default());
    assert_eq!(few.len(), 3);
    assert!(few.iter().all(|l| !l.starts_with("::notice")));
}

#[test]
fn problems_are_bounded_but_tasks_keep_their_problems() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    let cases: Vec<Case> = (0..50)
        .map(|i| {
            failed(
                &format!("t{i}"),
                &format!("m{i}"),
                &format!("tests/t.py:{}: E", i + 1),
            )
        })
        .collect();
    let v = with_counts(&v, &cases);
    let d = diagnose(
        &Input {
            verify: &v,
            cases: &cases,
            findings: &[],
            logs: &BTreeMap::new(),
        },
        &Options {
            max_problems: 10,
            ..Options::default()
        },
    );
    assert_eq!(d.problems.len(), 10);
    assert_eq!(d.truncated, 40);
    assert_eq!(d.tasks.len(), 50);
}

#[test]
fn rust_panics_are_titled_by_the_assertion() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    // generated/nextest/all.junit.xml: the message is the panic line, the trace repeats it.
    let mut c = failed(
        "corpus_sample::tests::it_fails_assert_eq",
        "thread 'tests::it_fails_assert_eq' (22473) panicked at src/lib.rs:16:9",
        "thread 'tests::it_fails_assert_eq' (22473) panicked at src/lib.rs:16:9:\nassertion `left == right` failed: math is broken\n  left: 4\n right: 5\nstack backtrace:\n   0: __rustc::rust_begin_unwind\n             at /rustc/5980/library/std/src/panicking.rs:689:5",
    );
    c.failure.as_mut().unwrap().kind = Some("test failure with exit code 101".into());
    let d = run(&v, &[c], &BTreeMap::new());
    let p = d.problems.iter().find(|p| p.test.is_some()).unwrap();
    assert_eq!(
        p.title,
        "corpus_sample::tests::it_fails_assert_eq failed: assertion `left == right` failed: math is broken"
    );
    assert_eq!(p.location.as_ref().unwrap().to_string(), "src/lib.rs:16:9");
    // The assertion with both sides, then where: not the kind and the panic line three
    // times over with `right:` cut off.
    assert_eq!(
        p.evidence,
        "assertion `left == right` failed: math is broken\n  left: 4\n right: 5\n---\nthread 'tests::it_fails_assert_eq' (22473) panicked at src/lib.rs:16:9"
    );
}

#[test]
fn go_parent_tests_join_their_failing_subtest() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    let mut cases = vec![
        failed(
            "TestTable/9/3_wrong",
            "Div(9,3) = 3, want 4",
            "    calc_test.go:65: Div(9,3) = 3, want 4\n",
        ),
        failed(
            "TestNested/level1/level2_fail",
            "deep failure",
            "    calc_test.go:74: deep failure\n",
        ),
        failed("TestNested/level1", "", ""),
        failed("TestNested", "", ""),
        failed("TestTable", "", ""),
    ];
    for c in &mut cases {
        c.classname = Some("example.com/corpus/calc".into());
    }
    let d = run(&v, &cases, &BTreeMap::new());
    assert_eq!(
        d.tasks.len(),
        2,
        "{:#?}",
        d.tasks.iter().map(|t| &t.title).collect::<Vec<_>>()
    );
    let nested = d
        .tasks
        .iter()
        .find(|t| t.tests.iter().any(|k| k.contains("level2_fail")))
        .unwrap();
    // The parents failed only for their subtest: one failing test, titled as itself (not
    // "3 tests fail the same way").
    assert_eq!(
        nested.title,
        "example.com/corpus/calc::TestNested/level1/level2_fail failed: deep failure"
    );
    assert_eq!(nested.problems.len(), 3);
    assert_eq!(
        nested.location.as_ref().unwrap().to_string(),
        "calc_test.go:74"
    );
    let table = d
        .tasks
        .iter()
        .find(|t| t.tests.iter().any(|k| k.contains("9/3_wrong")))
        .unwrap();
    assert_eq!(table.problems.len(), 2);
}

#[test]
fn cases_split_across_threads_make_the_same_document() {
    // Failures of several shapes and runners, passing and flaky cases between them: the
    // threaded batch must give the problems (ids, order, locations, evidence) one by one
    // would.
    let v = verify(vec![
        runner("t", RunnerKind::Test, RunnerStatus::Failed),
        runner("j", RunnerKind::Test, RunnerStatus::Failed),
    ]);
    let mut cases = Vec::new();
    for i in 0..700u32 {
        let mut c = match i % 4 {
            0 => failed(
                &format!("py{i}"),
                "assert 1 == 2",
                &format!("tests/test_x.py:{}: AssertionError", i + 1),
            ),
            1 => {
                let mut c = failed(
                    &format!("js{i}"),
                    "expected",
                    &format!(
                        "    at Object.<anonymous> (/ws/src/a{}.test.ts:{}:3)",
                        i % 9,
                        i + 2
                    ),
                );
                c.runner = "j".into();
                c
            }
            2 => Case::new(format!("ok{i}"), Status::Passed),
            _ => {
                let mut c = Case::new(format!("flaky{i}"), Status::Passed);
                c.flaky = i % 8 == 3;
                c
            }
        };
        if c.runner.is_empty() {
            c.runner = "t".into();
        }
        // Now and then a test of the same name in both runners: each title names its runner.
        if i % 50 == 7 {
            c.name = "same".into();
            c.classname = None;
            c.status = Status::Failed;
        }
        cases.push(c);
    }
    let v = with_counts(&v, &cases);
    let logs = BTreeMap::new();
    let opts = Options::default();
    let mut one = Diagnoser::new(&v, &[], &logs, &opts);
    cases.iter().for_each(|c| one.add_case(c));
    let mut split = Diagnoser::new(&v, &[], &logs, &opts);
    for chunk in cases.chunks(300) {
        split.add_cases(chunk, 3);
    }
    let (one, split) = (one.finish(), split.finish());
    assert!(one.problems.len() > 300, "{}", one.problems.len());
    let same: Vec<&str> = one
        .problems
        .iter()
        .filter(|p| p.test.as_deref().is_some_and(|k| k.ends_with("::same")))
        .map(|p| p.title.as_str())
        .collect();
    assert!(same.len() == 14, "{same:?}");
    assert!(same.iter().any(|t| t.starts_with("t::same ")), "{same:?}");
    assert!(same.iter().any(|t| t.starts_with("j::same ")), "{same:?}");
    assert!(
        same.iter()
            .all(|t| t.starts_with("t::same ") || t.starts_with("j::same ")),
        "{same:?}"
    );
    assert_eq!(
        serde_json::to_string(&split).unwrap(),
        serde_json::to_string(&one).unwrap()
    );
}

#[test]
fn failures_sharing_a_text_get_what_each_would_get_alone() {
    let trace = "Traceback (most recent call last):\n  File \"/ws/tests/test_a.py\", line 3, in t\n    assert f() == 2\nAssertionError: assert 1 == 2";
    let base = failed("t0", "assert 1 == 2", trace);
    let mut cases = Vec::new();
    for i in 0..6 {
        // The same failure under another name: the memo's facts, this case's title.
        let mut c = base.clone();
        c.name = format!("t{i}");
        cases.push(c);
    }
    // Each differs from the first in one field the facts depend on.
    let mut c = base.clone();
    c.file = Some("tests/test_b.py".into());
    c.line = Some(9);
    cases.push(c);
    let mut c = base.clone();
    c.file = Some("tests/test_a.py".into());
    cases.push(c.clone());
    c.line = Some(40);
    cases.push(c);
    let mut c = base.clone();
    c.status = Status::Errored;
    cases.push(c);
    let mut c = failed("t0", "boom", "");
    c.output = Some("thread 't0' panicked at src/lib.rs:7:5:\nboom".into());
    cases.push(c.clone());
    c.output = Some("thread 't0' panicked at src/lib.rs:8:5:\nboom".into());
    cases.push(c);
    let mut c = base.clone();
    c.failure.as_mut().unwrap().message = Some("assert 1 == 2 ".into());
    cases.push(c);
    let mut c = base.clone();
    c.runner = "other".into();
    cases.push(c);
    let mut c = base.clone();
    c.status = Status::Passed;
    c.flaky = true;
    cases.push(c);

    let ctx = PathContext::new(["/ws".to_string()], "");
    let opts = Options::default();
    let r = runner("t", RunnerKind::Test, RunnerStatus::Failed);
    let mut shared = Memo::default();
    for c in &cases {
        let alone = case_problem(c, Some(&r), &ctx, &opts, &mut Memo::default());
        let memo = case_problem(c, Some(&r), &ctx, &opts, &mut shared);
        assert_eq!(
            serde_json::to_value(&memo).unwrap(),
            serde_json::to_value(&alone).unwrap(),
            "{}",
            c.name
        );
    }
    // Six names share one failure; each other case is a failure of its own.
    assert_eq!(shared.kept, cases.len() - 5);
    // A failure past the memo's byte budget is diagnosed the same, and not kept.
    let mut huge = base.clone();
    huge.output = Some("x".repeat(Memo::MAX_BYTES));
    let alone = case_problem(&huge, Some(&r), &ctx, &opts, &mut Memo::default());
    let memo = case_problem(&huge, Some(&r), &ctx, &opts, &mut shared);
    assert_eq!(
        serde_json::to_value(&memo).unwrap(),
        serde_json::to_value(&alone).unwrap()
    );
    assert_eq!(shared.kept, cases.len() - 5);
    assert!(shared.bytes < Memo::MAX_BYTES);
    let titles: Vec<&str> = cases[..2].iter().map(|c| c.name.as_str()).collect();
    assert_eq!(titles, ["t0", "t1"]);
    let p1 = case_problem(&cases[1], Some(&r), &ctx, &opts, &mut shared);
    assert!(p1.title.starts_with("t1 failed: "), "{}", p1.title);
    assert_eq!(p1.location.unwrap().to_string(), "tests/test_a.py:3");
}

#[test]
fn one_line_flattens_whitespace_and_cuts_at_max_chars() {
    // The plain definition, for comparison.
    fn reference(s: &str, max: usize) -> String {
        let flat: String = clean_control(s)
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let flat = flat.split_whitespace().collect::<Vec<_>>().join(" ");
        if flat.chars().count() <= max {
            flat
        } else {
            let mut t: String = flat.chars().take(max.saturating_sub(1)).collect();
            t.push('…');
            t
        }
    }
    let texts = [
        "",
        "   ",
        "a",
        "one two",
        "  lead\tand\r\ntrail  ",
        "wide\u{3000}space\u{00a0}nbsp\u{2028}sep",
        "ctrl\u{1b}[31mred\u{7}bell\u{0}nul",
        "ünïcödé wörds ✓ ✗ 测试 名称",
        "exactly ten",
        "x".repeat(300).as_str(),
        "word ".repeat(100).as_str(),
    ]
    .map(str::to_string);
    for t in &texts {
        for max in [0, 1, 2, 5, 9, 10, 11, 12, 160, 240] {
            assert_eq!(one_line(t, max), reference(t, max), "{t:?} at {max}");
        }
    }
}

#[test]
fn rebase_names_result_files_from_the_root_but_leaves_absolute_ones() {
    let issue = |file: &str| ParseIssue {
        missing: false,
        shard: None,
        file: file.into(),
        position: None,
        message: "truncated".into(),
    };
    let mut r = runner("pytest", RunnerKind::Test, RunnerStatus::Failed);
    r.parse_errors = vec![
        issue("reports/junit.xml"),
        issue("./out/x.xml"),
        issue("/abs/r.xml"),
        issue(""),
    ];
    let mut v = verify(vec![r]);
    let same = v.clone();
    super::location::rebase_result_files(&mut v, "./");
    assert_eq!(v, same);
    super::location::rebase_result_files(&mut v, "/services/api/");
    let files: Vec<&str> = v.runners[0]
        .parse_errors
        .iter()
        .map(|p| p.file.as_str())
        .collect();
    assert_eq!(
        files,
        [
            "services/api/reports/junit.xml",
            "services/api/out/x.xml",
            "/abs/r.xml",
            ""
        ]
    );
}

/// Tests failing with one message at many places are one cause (a fixture that cannot reach
/// its database): one task, biggest first, titled by the message without a place; short
/// or generic messages, a line that fails two ways, and one-off messages keep their tasks.
#[test]
fn tests_failing_with_one_message_at_many_places_are_one_task() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    let db = "psycopg2.OperationalError: connection refused";
    let at = |file: &str, line: usize| format!("{file}:{line}: E");
    let mut cases: Vec<Case> = (0..5)
        .map(|i| {
            failed(
                &format!("test_db_{i}"),
                db,
                &at("tests/test_db.py", 10 * i + 3),
            )
        })
        .collect();
    // Short messages say too little: each keeps its own place.
    cases.extend((0..3).map(|i| {
        failed(
            &format!("test_a_{i}"),
            "AssertionError",
            &at("tests/test_a.py", i + 1),
        )
    }));
    // A bare exception type in place of a message (PHPUnit) names no cause either.
    cases.extend((0..3).map(|i| {
        failed(
            &format!("test_php_{i}"),
            "PHPUnit\\Framework\\ExpectationFailedException",
            &at("tests/MixedTest.php", 10 * i + 7),
        )
    }));
    // One opening line for different values (GoogleTest's EXPECT_EQ): different failures.
    cases.extend((0..3).map(|i| {
        failed(
            &format!("test_eq_{i}"),
            &format!(
                "Expected equality of these values:\n  add(2, {i})\n  {}",
                i + 3
            ),
            &at("tests/math_test.cc", 10 * i + 4),
        )
    }));
    // One line failing two ways stays its own task, even though one of them is `db`.
    cases.push(failed("test_mixed_1", db, &at("tests/test_mixed.py", 7)));
    cases.push(failed(
        "test_mixed_2",
        "KeyError: 'user_id' in the payload",
        &at("tests/test_mixed.py", 7),
    ));
    let d = run(&v, &cases, &BTreeMap::new());
    let titles: Vec<&str> = d.tasks.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(
        titles[0],
        format!("5 tests fail the same way: {db}"),
        "{titles:#?}"
    );
    assert_eq!(d.tasks[0].tests.len(), 5);
    assert_eq!(d.tasks.len(), 1 + 3 + 3 + 3 + 1, "{titles:#?}");
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with("2 tests fail the same way at tests/test_mixed.py:7: ")),
        "{titles:#?}"
    );
}

#[test]
fn placeholder_messages_give_way_to_the_text() {
    let msg = |message: Option<&str>, kind: Option<&str>, trace: Option<&str>| {
        failure_message(&Failure {
            message: message.map(Into::into),
            kind: kind.map(Into::into),
            trace: trace.map(Into::into),
        })
        .to_string()
    };
    // gotestsum: the message in the text, without Go's framing; a panic wins.
    let go = "=== RUN   TestX\n    x_test.go:9: got 2, want 3\n--- FAIL: TestX (0.00s)\n";
    assert_eq!(msg(Some("Failed"), Some(""), Some(go)), "got 2, want 3");
    assert_eq!(msg(Some(""), None, Some(go)), "got 2, want 3");
    let panic = "=== RUN   TestP\n    p_test.go:3: log\npanic: boom [recovered]\n";
    assert_eq!(msg(Some("Failed"), None, Some(panic)), "panic: boom");
    // Only framing: no message at all, not the placeholder.
    assert_eq!(
        msg(
            Some("Failed"),
            None,
            Some("=== RUN   T\n--- FAIL: T (0.00s)")
        ),
        ""
    );
    // GoogleTest: a bare location, then the placeholder, then the message.
    assert_eq!(
        msg(Some("Failed"), None, Some("a.cpp:33\nFailed\nboom")),
        "boom"
    );
    // GoogleTest's XML message opens with the place: the line after it says what failed.
    assert_eq!(
        msg(
            Some("gtest_sample.cpp:9\nExpected equality of these values:\n  Add(2, 2)"),
            Some(""),
            None
        ),
        "Expected equality of these values:"
    );
    assert_eq!(
        msg(
            Some("unknown file\nC++ exception with description \"boom\" thrown in the test body."),
            None,
            None
        ),
        "C++ exception with description \"boom\" thrown in the test body."
    );
    // A Python traceback says it last; a message equal to the type gives way too.
    let py = "Traceback (most recent call last):\n  File \"t.py\", line 3, in t\n    f()\nValueError: bad\n";
    assert_eq!(
        msg(Some("ValueError"), Some("ValueError"), Some(py)),
        "ValueError: bad"
    );
    // A real message, or a type without one, is kept as before.
    assert_eq!(msg(Some("assert 1 == 2"), None, Some(go)), "assert 1 == 2");
    assert_eq!(
        msg(None, Some("RuntimeException"), Some("T::t\nx")),
        "RuntimeException"
    );
    assert_eq!(msg(Some("failed"), None, None), "");
}

#[test]
fn a_folded_task_is_titled_by_the_message_and_counts_each_test_once() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    // Names with `: ` in them (jest's `describe: it`) must not cut the message.
    let mut cases: Vec<Case> = (0..3)
        .map(|i| {
            failed(
                &format!("Cart: adds item {i}"),
                "TypeError: price is undefined",
                "at add (src/cart.test.js:12:5)",
            )
        })
        .collect();
    // The same test reported twice (two reports): one test, listed once.
    cases.push(cases[0].clone());
    let d = run(&v, &cases, &BTreeMap::new());
    assert_eq!(d.tasks.len(), 1);
    let t = &d.tasks[0];
    assert_eq!(t.problems.len(), 4);
    assert_eq!(
        t.title,
        "3 tests fail the same way at src/cart.test.js:12:5: TypeError: price is undefined"
    );

    // One test twice alone is not "1 tests": it keeps its own title.
    let twice = vec![cases[0].clone(), cases[0].clone()];
    let d = run(&v, &twice, &BTreeMap::new());
    assert_eq!(
        d.tasks[0].title,
        "Cart: adds item 0 failed: TypeError: price is undefined"
    );
}

#[test]
fn evidence_says_the_message_once() {
    let v = verify(vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)]);
    // Surefire: the type and message are attributes, and the trace's first line is both
    // again. The evidence is the message, then the frames: not the type, the message and
    // `Type: message` once more.
    let mut java = failed(
        "shouldNotBeBlank",
        "Invalid email address ''",
        "com.x.InvalidEmailException: Invalid email address ''\n\tat com.x.EmailTest.expect(EmailTest.java:74)\n\tat com.x.EmailTest.shouldNotBeBlank(EmailTest.java:39)\n",
    );
    java.failure.as_mut().unwrap().kind = Some("com.x.InvalidEmailException".into());
    java.file = Some("EmailTest.java".into());
    // pytest: the `E` block is the message in pytest's words; it stays whole, and the
    // message above it goes.
    let py = failed(
        "test_db",
        "psycopg2.OperationalError: connection refused",
        "tests/conftest.py:41: in db\n    return connect()\nE   psycopg2.OperationalError: connection refused\nE       Is the server running?\n",
    );
    let d = run(&v, &[java, py], &BTreeMap::new());
    let ev = |name: &str| {
        &d.problems
            .iter()
            .find(|p| p.test.as_deref().is_some_and(|t| t.ends_with(name)))
            .unwrap()
            .evidence
    };
    let java = ev("shouldNotBeBlank");
    assert_eq!(java.matches("Invalid email address").count(), 1, "{java}");
    assert!(
        java.starts_with("com.x.InvalidEmailException: Invalid email address ''\n---\n"),
        "{java}"
    );
    assert!(java.contains("EmailTest.java:74"), "{java}");

    // TestNG's assert frames above the user's and reflection's below are not evidence.
    let mut ng = failed(
        "testVersionStrings",
        "expected [1.2.1] but found [1.2.0]",
        "java.lang.AssertionError: expected [1.2.1] but found [1.2.0]\n\tat org.testng.Assert.fail(Assert.java:99)\n\tat org.testng.Assert.assertEquals(Assert.java:122)\n\tat org.apache.pulsar.VersionTest.testVersionStrings(VersionTest.java:29)\n\tat sun.reflect.NativeMethodAccessorImpl.invoke0(Native Method)\n\tat java.lang.reflect.Method.invoke(Method.java:498)\n",
    );
    ng.file = Some("org/apache/pulsar/VersionTest.java".into());
    ng.failure.as_mut().unwrap().kind = Some("java.lang.AssertionError".into());
    let ng = run(&v, &[ng], &BTreeMap::new());
    assert_eq!(
        ng.problems[0].evidence,
        "java.lang.AssertionError: expected [1.2.1] but found [1.2.0]\n---\n\tat org.apache.pulsar.VersionTest.testVersionStrings(VersionTest.java:29)"
    );
    let py = ev("test_db");
    assert_eq!(py.matches("connection refused").count(), 1, "{py}");
    assert!(
        py.contains(
            "E   psycopg2.OperationalError: connection refused\nE       Is the server running?"
        ),
        "{py}"
    );
    // pytest's introspection under a source line holding the same words stays in the block.
    let intro = failed(
        "test_lists",
        "AssertionError: lists differ",
        "    def test_lists():\n>       assert [1, 2] == [1, 2, 3], \"lists differ\"\nE       AssertionError: lists differ\nE       assert [1, 2] == [1, 2, 3]\nE         Right contains one more item: 3\n\ntests/test_x.py:9: AssertionError\n",
    );
    let intro = run(&v, &[intro], &BTreeMap::new());
    let ev = &intro.problems[0].evidence;
    assert!(
        ev.contains("E       AssertionError: lists differ\nE       assert [1, 2] == [1, 2, 3]\nE         Right contains one more item: 3"),
        "{ev}"
    );
}

#[test]
fn compiler_errors_at_one_place_are_errors_not_failures() {
    use crate::model::{Finding, Severity};
    let v = verify(vec![runner(
        "reports",
        RunnerKind::Test,
        RunnerStatus::Failed,
    )]);
    let finding = |message: &str| Finding {
        runner: "reports".into(),
        tool: "rustc".into(),
        rule: Some("E0277".into()),
        severity: Severity::Error,
        message: message.into(),
        file: Some("src/lib.rs".into()),
        line: Some(9),
        column: Some(36),
        ..Default::default()
    };
    let findings = [
        finding("a value of type u64 cannot be made"),
        finding("the trait bound is not satisfied"),
    ];
    let v = with_counts(&v, &[]);
    let d = diagnose(
        &Input {
            verify: &v,
            cases: &[],
            findings: &findings,
            logs: &BTreeMap::new(),
        },
        &Options::default(),
    );
    let t = d
        .tasks
        .iter()
        .find(|t| t.category == Category::BuildError)
        .unwrap();
    assert!(
        t.title
            .starts_with("2 errors at src/lib.rs:9:36: rustc [E0277]: "),
        "{}",
        t.title
    );
}

/// A built-in runner's problems name the command a person reruns: not the nextest shell
/// script (with `{runner_dir}` unfilled, since a blocked runner never ran) nor an eslint
/// command that writes into the run directory.
#[test]
fn builtin_runner_problems_reproduce_with_the_tools_own_command() {
    let mut blocked = runner("nextest", RunnerKind::Test, RunnerStatus::Blocked);
    blocked.command =
        Some("d=$(cd {runner_dir} && pwd) && cargo nextest run --profile codeloop; exit $s".into());
    blocked.depends_on = vec!["cargo-build".into()];
    let mut eslint = runner("eslint", RunnerKind::Lint, RunnerStatus::Failed);
    eslint.command = Some(
        "npx --no-install eslint . -f json -o /ws/.codeloop/runs/r/runners/eslint/eslint.json"
            .into(),
    );
    let mut plugin = runner("lint-sh", RunnerKind::Lint, RunnerStatus::Blocked);
    plugin.source = RunnerSource::Plugin;
    plugin.command = Some("./lint.sh".into());
    let v = verify(vec![
        runner("cargo-build", RunnerKind::Build, RunnerStatus::Failed),
        blocked,
        eslint,
        plugin,
    ]);
    let finding = Finding {
        runner: "eslint".into(),
        tool: "eslint".into(),
        rule: Some("no-unused-vars".into()),
        severity: Severity::Error,
        message: "'x' is assigned a value but never used.".into(),
        file: Some("src/a.js".into()),
        line: Some(3),
        column: Some(7),
        end_line: None,
        end_column: None,
    };
    let d = diagnose(
        &Input {
            verify: &v,
            cases: &[],
            findings: std::slice::from_ref(&finding),
            logs: &BTreeMap::new(),
        },
        &Options::default(),
    );
    let by_runner = |id: &str| {
        d.problems
            .iter()
            .find(|p| p.runner == id)
            .and_then(|p| p.reproduce.clone())
    };
    assert_eq!(
        by_runner("cargo-build").as_deref(),
        Some("cargo build --all-targets")
    );
    assert_eq!(
        by_runner("nextest").as_deref(),
        Some("cargo nextest run --no-fail-fast")
    );
    assert_eq!(
        by_runner("eslint").as_deref(),
        Some("npx --no-install eslint .")
    );
    assert_eq!(by_runner("lint-sh").as_deref(), Some("./lint.sh"));
}

/// Node's assert (mocha): the evidence said `AssertionError: Expected values to be strictly
/// equal:`, then `AssertionError` and the sentence again, and never the values.
#[test]
fn node_assert_evidence_says_the_values_once() {
    let v = verify(vec![runner(
        "mocha",
        RunnerKind::Test,
        RunnerStatus::Failed,
    )]);
    let mut c = failed(
        "adds",
        "Expected values to be strictly equal:\n\n2 !== 3",
        "AssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n2 !== 3\n\n    at Context.<anonymous> (test/a.test.js:3:35)\n    at process.processImmediate (node:internal/timers:483:21)",
    );
    c.failure.as_mut().unwrap().kind = Some("AssertionError".into());
    let d = run(&v, &[c], &BTreeMap::new());
    let p = d.problems.iter().find(|p| p.test.is_some()).unwrap();
    assert_eq!(
        p.evidence,
        "AssertionError: Expected values to be strictly equal:\n2 !== 3"
    );
}
