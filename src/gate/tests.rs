//! Gate against hand-computed scores (default weights 30/40/10/10/10 unless a row says
//! otherwise), rule verdicts, reasons and baseline deltas.

use std::collections::BTreeSet;

use super::*;
use crate::diagnose::{self, Input, Options};
use crate::model::LintCounts;
use crate::model::{Case, Failure, RunStatus, RunnerSource, Status};
use crate::settings::Weights;

fn runner(id: &str, kind: RunnerKind, status: RunnerStatus) -> RunnerResult {
    RunnerResult {
        shards: Vec::new(),
        candidates: Vec::new(),
        id: id.into(),
        kind,
        source: RunnerSource::Builtin,
        command: None,
        cwd: None,
        status,
        exit_code: Some(0),
        signal: None,
        duration: 1.0,
        hint: None,
        counts: Counts::default(),
        lint: LintCounts::default(),
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

fn case(runner: &str, name: &str, status: Status, file: &str, line: u32) -> Case {
    let mut c = Case::new(name, status);
    c.runner = runner.into();
    c.classname = Some("tests.test_api".into());
    if status.is_bad() {
        c.file = Some(file.into());
        c.line = Some(line);
        c.failure = Some(Failure {
            message: Some("assert 1 == 2".into()),
            ..Default::default()
        });
    }
    c
}

struct World {
    verify: VerifyDoc,
    cases: Vec<Case>,
}

impl World {
    fn new(runners: Vec<RunnerResult>, cases: Vec<Case>, lint: LintCounts) -> World {
        let mut totals = Counts::default();
        let mut runners = runners;
        for c in &cases {
            totals.add_case(c.status, c.flaky);
            if let Some(r) = runners.iter_mut().find(|r| r.id == c.runner) {
                r.counts.add_case(c.status, c.flaky);
            }
        }
        World {
            verify: VerifyDoc {
                schema_version: SCHEMA_VERSION,
                run_id: "r2".into(),
                started_at: String::new(),
                finished_at: String::new(),
                status: RunStatus::Failed,
                cwd: "/ws".into(),
                shard: None,
                runners,
                totals,
                lint,
                slowest: Vec::new(),
            },
            cases,
        }
    }

    fn gate(&self, cfg: &GateConfig, baseline: Option<&Baseline>) -> GateDoc {
        let logs = Default::default();
        let bad: Vec<Case> = self
            .cases
            .iter()
            .filter(|c| c.status.is_bad() || c.flaky)
            .cloned()
            .collect();
        let d = diagnose::diagnose(
            &Input {
                verify: &self.verify,
                cases: &bad,
                findings: &[],
                logs: &logs,
            },
            &Options::default(),
        );
        let failing: BTreeSet<String> = self
            .cases
            .iter()
            .filter(|c| c.status.is_bad())
            .map(|c| c.key())
            .collect();
        evaluate(
            &GateInput {
                verify: &self.verify,
                diagnose: &d,
                failing: &failing,
                tests: None,
                baseline,
            },
            cfg,
        )
    }
}

fn passing(n: usize, runner: &str) -> Vec<Case> {
    (0..n)
        .map(|i| case(runner, &format!("test_ok_{i}"), Status::Passed, "", 0))
        .collect()
}

fn rule<'a>(g: &'a GateDoc, name: &str) -> &'a RuleResult {
    g.rules.iter().find(|r| r.rule == name).unwrap()
}

#[test]
fn all_green_scores_100_and_passes() {
    let w = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Passed)],
        passing(10, "pytest"),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(g.score, 100.0);
    assert_eq!(g.verdict, Verdict::Pass);
    assert_eq!(exit_code(&g), 0);
    assert!(
        g.reasons[0].contains("10 of 10 tests passed"),
        "{:?}",
        g.reasons
    );
}

#[test]
fn two_failures_score_92_and_fail_naming_tests_and_lines() {
    let mut cases = passing(8, "pytest");
    cases.push(case(
        "pytest",
        "test_get",
        Status::Failed,
        "tests/api/test_api.py",
        12,
    ));
    cases.push(case(
        "pytest",
        "test_put",
        Status::Errored,
        "tests/api/test_api.py",
        40,
    ));
    let w = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Failed)],
        cases,
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    // tests 8/10 × 40 = 32, + build 30 + lint 10 + flaky 10 + missing 10 = 92
    assert_eq!(g.score, 92.0);
    let tests = g.components.iter().find(|c| c.name == "tests").unwrap();
    assert_eq!((tests.value, tests.points), (0.8, 32.0));
    assert_eq!(g.verdict, Verdict::Fail);
    assert_eq!(exit_code(&g), 1);
    let r = rule(&g, "max_failures");
    assert!(!r.passed);
    assert_eq!(r.actual, "2");
    assert_eq!(
        r.reason,
        "2 failing tests in tests/api: test_api::test_get (tests/api/test_api.py:12), test_api::test_put (tests/api/test_api.py:40) (max_failures is 0)"
    );
    assert_eq!(g.reasons[0], r.reason);
}

/// `max_failures` counts distinct failing tests (by key): a test reported failing twice is one
/// failing test. When that is fewer than the counts line's failed + errored, the reason says
/// both numbers, so that it reconciles with "N failed · M errored"; a test without a name is
/// named by its scope or result file, never as an empty string.
#[test]
fn max_failures_says_what_it_counts_and_names_unnamed_tests() {
    let mut cases = passing(3, "reports");
    // The same test failing in two attempts written as two testcases.
    for _ in 0..2 {
        cases.push(case(
            "reports",
            "test_get",
            Status::Failed,
            "tests/api/test_api.py",
            12,
        ));
    }
    // Two testcases without a name or classname (one key: `reports::`).
    for status in [Status::Failed, Status::Errored] {
        let mut c = Case::new("", status);
        c.runner = "reports".into();
        cases.push(c);
    }
    // One without a name inside a suite.
    let mut c = Case::new("", Status::Errored);
    c.runner = "reports".into();
    c.suite = vec!["api".into(), "setup".into()];
    cases.push(c);
    let mut r = runner("reports", RunnerKind::Test, RunnerStatus::Failed);
    r.result_files = vec![crate::model::ResultFile {
        path: "out/junit.xml".into(),
        ..Default::default()
    }];
    let w = World::new(vec![r], cases, LintCounts::default());
    assert_eq!((w.verify.totals.failed, w.verify.totals.errored), (3, 2));
    let g = w.gate(&GateConfig::default(), None);
    let r = rule(&g, "max_failures");
    assert_eq!(r.actual, "3");
    assert!(
        r.reason
            .starts_with("3 distinct failing tests in 5 failed or errored results: "),
        "{}",
        r.reason
    );
    assert!(r.reason.ends_with(" (max_failures is 0)"), "{}", r.reason);
    assert!(
        r.reason.contains("an unnamed test in out/junit.xml"),
        "{}",
        r.reason
    );
    assert!(
        r.reason.contains("an unnamed test in api / setup"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("test_api::test_get"), "{}", r.reason);
    assert!(
        !r.reason.contains(":: ") && !r.reason.contains(":  "),
        "{}",
        r.reason
    );
    assert_eq!(
        crate::report::short_reason(&r.reason),
        "3 distinct failing tests in 5 failed or errored results (max_failures is 0)"
    );

    // With several result files, the unnamed test is placed in the one that failed.
    let mut c = Case::new("", Status::Failed);
    c.runner = "reports".into();
    let mut r = runner("reports", RunnerKind::Test, RunnerStatus::Failed);
    r.result_files = vec![
        crate::model::ResultFile {
            path: "a.xml".into(),
            ..Default::default()
        },
        crate::model::ResultFile {
            path: "b.xml".into(),
            counts: Counts {
                tests: 1,
                failed: 1,
                ..Counts::default()
            },
            ..Default::default()
        },
    ];
    let w = World::new(vec![r], vec![c], LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(
        rule(&g, "max_failures").reason,
        "1 failing test: an unnamed test in b.xml (max_failures is 0)"
    );
}

/// The same test failing in two runners is two failing tests, and the reason and the repair
/// tasks say which runner each is (before: "t::bad, t::bad" and two tasks that read alike).
#[test]
fn the_same_test_failing_in_two_runners_is_named_with_its_runner() {
    let mut cases = passing(2, "unit");
    for r in ["unit", "integ"] {
        cases.push(case(
            r,
            "test_get",
            Status::Failed,
            "tests/api/test_api.py",
            12,
        ));
    }
    // A name only one runner has keeps its short form.
    cases.push(case(
        "unit",
        "test_put",
        Status::Failed,
        "tests/api/test_api.py",
        20,
    ));
    let runners = ["unit", "integ"]
        .map(|id| runner(id, RunnerKind::Test, RunnerStatus::Failed))
        .to_vec();
    let w = World::new(runners, cases, LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    let reason = &rule(&g, "max_failures").reason;
    assert!(
        reason.contains("unit::test_api::test_get (tests/api/test_api.py:12)")
            && reason.contains("integ::test_api::test_get (tests/api/test_api.py:12)"),
        "{reason}"
    );
    assert!(reason.contains(", test_api::test_put ("), "{reason}");
    let bad: Vec<Case> = w
        .cases
        .iter()
        .filter(|c| c.status.is_bad())
        .cloned()
        .collect();
    let logs = Default::default();
    let d = diagnose::diagnose(
        &Input {
            verify: &w.verify,
            cases: &bad,
            findings: &[],
            logs: &logs,
        },
        &Options::default(),
    );
    let titles: Vec<&str> = d.problems.iter().map(|p| p.title.as_str()).collect();
    assert_eq!(
        titles,
        [
            "unit::tests.test_api::test_get failed: assert 1 == 2",
            "integ::tests.test_api::test_get failed: assert 1 == 2",
            "tests.test_api::test_put failed: assert 1 == 2",
        ]
    );
}

#[test]
fn a_few_failures_in_many_tests_never_score_100() {
    // 6 failures in 100,000: 99.99976 rounds to 100, which would read as all green and pass
    // `min_score: 100`.
    let mut cases = passing(99_994, "pytest");
    for i in 0..6 {
        cases.push(case("pytest", &format!("t{i}"), Status::Failed, "t.py", 1));
    }
    let w = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Failed)],
        cases,
        LintCounts::default(),
    );
    let cfg = GateConfig {
        min_score: 100.0,
        max_failures: Some(10),
        ..GateConfig::default()
    };
    let g = w.gate(&cfg, None);
    assert_eq!(g.score, 99.9);
    let tests = g.components.iter().find(|c| c.name == "tests").unwrap();
    assert_eq!((tests.value, tests.points), (0.9999, 39.9));
    assert!(!rule(&g, "min_score").passed);
    assert!(rule(&g, "max_failures").passed);
    // Whole points stay whole.
    let green = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Passed)],
        passing(100_000, "pytest"),
        LintCounts::default(),
    );
    let g = green.gate(&cfg, None);
    assert_eq!(g.score, 100.0);
    assert!(rule(&g, "min_score").passed);
}

#[test]
fn broken_build_scores_25_and_fails_on_build() {
    let mut build = runner("cargo-build", RunnerKind::Build, RunnerStatus::Failed);
    build.exit_code = Some(101);
    let mut test = runner("cargo-test", RunnerKind::Test, RunnerStatus::Blocked);
    test.depends_on = vec!["cargo-build".into()];
    let w = World::new(vec![build, test], Vec::new(), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    // build 0 + tests 0 (a test runner was expected) + lint 10 + flaky 10 + missing ½ × 10
    assert_eq!(g.score, 25.0);
    assert!(!rule(&g, "build").passed);
    assert!(
        rule(&g, "build")
            .reason
            .contains("build `cargo-build` failed (exit code 101)")
    );
    assert!(
        rule(&g, "fail_on_empty").passed,
        "the blocked runner is explained by the build"
    );
    assert_eq!(exit_code(&g), 1);
}

#[test]
fn lint_and_flaky_components() {
    let mut cases = passing(20, "jest");
    cases[0].flaky = true;
    cases[0].retries = 1;
    let mut lint = runner("eslint", RunnerKind::Lint, RunnerStatus::Failed);
    lint.lint = LintCounts {
        errors: 3,
        warnings: 10,
        notes: 4,
    };
    let w = World::new(
        vec![runner("jest", RunnerKind::Test, RunnerStatus::Passed), lint],
        cases,
        LintCounts {
            errors: 3,
            warnings: 10,
            notes: 4,
        },
    );
    let cfg = GateConfig {
        max_lint_errors: Some(2),
        max_flaky: Some(1),
        ..GateConfig::default()
    };
    let g = w.gate(&cfg, None);
    // lint 1 − (3 + 0.2×10)/20 = 0.75 → 7.5; flaky 1 − 10×1/20 = 0.5 → 5; 30 + 40 + 10 = 80
    assert_eq!(g.score, 92.5);
    assert!(!rule(&g, "max_lint_errors").passed);
    assert!(rule(&g, "max_flaky").passed);
    assert_eq!(
        rule(&g, "max_lint_errors").reason,
        "3 lint errors (max_lint_errors is 2)"
    );
}

#[test]
fn custom_weights_and_min_score() {
    let mut cases = passing(3, "go");
    cases.push(case("go", "TestX", Status::Failed, "go/x_test.go", 9));
    cases.push(case("go", "TestSkip", Status::Skipped, "", 0));
    let w = World::new(
        vec![runner("go", RunnerKind::Test, RunnerStatus::Failed)],
        cases,
        LintCounts::default(),
    );
    let cfg = GateConfig {
        min_score: 80.0,
        max_failures: Some(5),
        weights: Weights {
            build: 0.0,
            tests: 1.0,
            lint: 0.0,
            flaky: 0.0,
            missing: 0.0,
        },
        ..GateConfig::default()
    };
    let g = w.gate(&cfg, None);
    // Only tests count: 3 of 4 executed (the skip does not count) = 75
    assert_eq!(g.score, 75.0);
    assert!(rule(&g, "max_failures").passed);
    let r = rule(&g, "min_score");
    assert!(!r.passed);
    assert_eq!(
        r.reason,
        "score 75 is below min_score 80 (3 of 4 executed tests passed)"
    );
}

#[test]
fn regression_mode_fails_only_on_new_failures() {
    let mut cases = passing(5, "pytest");
    cases.push(case(
        "pytest",
        "test_old",
        Status::Failed,
        "tests/test_api.py",
        5,
    ));
    cases.push(case(
        "pytest",
        "test_new",
        Status::Failed,
        "tests/test_api.py",
        9,
    ));
    let w = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Failed)],
        cases,
        LintCounts::default(),
    );
    let cfg = GateConfig {
        fail_on: FailOn::Regression,
        ..GateConfig::default()
    };
    let key = |n: &str| format!("pytest::tests.test_api::{n}");
    let base = Baseline {
        run_id: Some("r1".into()),
        score: Some(90.0),
        failing: [key("test_old"), key("test_fixed")].into_iter().collect(),
        tests: None,
        counts: Some(Counts {
            tests: 6,
            ..Counts::default()
        }),
        cut: None,
    };
    let g = w.gate(&cfg, Some(&base));
    let d = g.delta.as_ref().unwrap();
    assert_eq!(d.new_failures, vec![key("test_new")]);
    assert_eq!(d.still_failing, vec![key("test_old")]);
    assert_eq!(d.fixed, vec![key("test_fixed")]);
    assert_eq!((d.tests_added, d.tests_removed), (1, 0));
    // 5/7 × 40 = 28.571… + 60 = 88.6; baseline 90 → −1.4
    assert_eq!(g.score, 88.6);
    assert_eq!(d.score_change, Some(-1.4));
    let r = rule(&g, "max_failures");
    assert!(!r.passed);
    assert_eq!(
        r.reason,
        "1 new failure in tests: test_api::test_new (tests/test_api.py:9) (max_failures is 0)"
    );
    assert!(
        g.reasons
            .iter()
            .any(|r| r == "against baseline r1: 1 fixed, 1 new, 1 still failing, score -1.4"),
        "{:?}",
        g.reasons
    );

    // The same failures in the baseline: nothing new, the gate passes.
    let base2 = Baseline {
        failing: [key("test_old"), key("test_new")].into_iter().collect(),
        ..base
    };
    let g2 = w.gate(&cfg, Some(&base2));
    assert_eq!(g2.verdict, Verdict::Pass);
    assert_eq!(
        rule(&g2, "max_failures").reason,
        "no new failure (2 tests were already failing in the baseline)"
    );
    // No baseline: every failure counts as new, and the reasons say so.
    let g3 = w.gate(&cfg, None);
    assert_eq!(g3.verdict, Verdict::Fail);
    assert!(g3.reasons.iter().any(|r| r.contains("no baseline")));
}

#[test]
fn missing_results_exit_3() {
    let mut rspec = runner("rspec", RunnerKind::Test, RunnerStatus::Unavailable);
    rspec.exit_code = None;
    let w = World::new(
        vec![
            runner("pytest", RunnerKind::Test, RunnerStatus::Passed),
            rspec,
        ],
        passing(4, "pytest"),
        LintCounts::default(),
    );
    let cfg = GateConfig {
        require: vec!["lint".into(), "pytest".into()],
        ..GateConfig::default()
    };
    let g = w.gate(&cfg, None);
    // missing: 1 of 2 runners produced results → 5; 30 + 40 + 10 + 10 + 5 = 95
    assert_eq!(g.score, 95.0);
    let req = rule(&g, "require");
    assert!(!req.passed);
    assert_eq!(req.actual, "`lint` did not run");
    let empty = rule(&g, "fail_on_empty");
    assert!(!empty.passed);
    assert_eq!(empty.reason, "test runner(s) produced no results: rspec");
    assert_eq!(exit_code(&g), 3);

    let nothing = World::new(Vec::new(), Vec::new(), LintCounts::default());
    let g = nothing.gate(&GateConfig::default(), None);
    assert_eq!(exit_code(&g), 3);
    assert!(
        rule(&g, "fail_on_empty")
            .reason
            .starts_with("no results were found at all")
    );
}

#[test]
fn validation_names_keys() {
    let mut cfg = GateConfig::default();
    cfg.weights.lint = -1.0;
    cfg.min_score = 120.0;
    cfg.require = vec![" ".into()];
    let issues = validate(&cfg);
    let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
    assert_eq!(
        keys,
        ["gate.weights.lint", "gate.min_score", "gate.require[0]"]
    );
    assert!(issues[0].message.contains("≥ 0"));
    let zero = GateConfig {
        weights: Weights {
            build: 0.0,
            tests: 0.0,
            lint: 0.0,
            flaky: 0.0,
            missing: 0.0,
        },
        ..GateConfig::default()
    };
    assert_eq!(validate(&zero)[0].key, "gate.weights");
    assert!(validate(&GateConfig::default()).is_empty());
}

#[test]
fn gate_json_round_trips_as_a_baseline() {
    let mut cases = passing(2, "t");
    cases.push(case("t", "test_bad", Status::Failed, "tests/a.py", 1));
    let w = World::new(
        vec![runner("t", RunnerKind::Test, RunnerStatus::Failed)],
        cases,
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    let failing: BTreeSet<String> = ["t::tests.test_api::test_bad".to_string()].into();
    let v = to_json(&g, &failing);
    let b = baseline_from_gate_json(&v).unwrap();
    assert_eq!(b.failing, failing);
    assert_eq!(b.score, Some(g.score));
    assert_eq!(b.counts.map(|c| c.tests), Some(3));
}

#[test]
fn crashed_and_timed_out_runners_fail_even_with_green_partial_results() {
    let mut crashed = runner("pytest", RunnerKind::Test, RunnerStatus::Crashed);
    crashed.exit_code = Some(139);
    crashed.signal = Some(libc::SIGSEGV);
    let mut slow = runner("jest", RunnerKind::Test, RunnerStatus::Timeout);
    slow.exit_code = None;
    slow.hint = Some("exceeded its timeout of 60s; its process group was stopped".into());
    let mut cases = passing(5, "pytest");
    cases.extend(passing(3, "jest").into_iter().map(|mut c| {
        c.name = format!("j_{}", c.name);
        c
    }));
    let w = World::new(vec![crashed, slow], cases, LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    // Every reported test passed; only the unfinished runners fail the gate.
    assert!(rule(&g, "max_failures").passed);
    assert_eq!(g.verdict, Verdict::Fail);
    let crash = rule(&g, "crash");
    assert!(!crash.passed);
    assert_eq!(
        crash.reason,
        "1 runner crashed, so its results are incomplete: `pytest` (killed by signal 11, SIGSEGV)"
    );
    let timeout = rule(&g, "timeout");
    assert_eq!(
        timeout.reason,
        "1 runner timed out, so its results are incomplete: `jest` (exceeded its timeout of 60s; its process group was stopped)"
    );
    assert!(g.reasons.contains(&crash.reason), "{:?}", g.reasons);
    assert_eq!(exit_code(&g), 1);
    // Partial results are not whole ones: neither runner counts for `missing` (0 of 2), so a
    // failed gate does not show a perfect score. 30 + 40 + 10 + 10 + 0 = 90.
    let missing = g.components.iter().find(|c| c.name == "missing").unwrap();
    assert_eq!(missing.value, 0.0);
    assert_eq!(
        missing.explanation,
        "0 of 2 runners produced complete results"
    );
    assert_eq!(g.score, 90.0);

    // Without a crash or a timeout, neither rule is listed at all.
    let ok = World::new(
        vec![runner("pytest", RunnerKind::Test, RunnerStatus::Passed)],
        passing(2, "pytest"),
        LintCounts::default(),
    );
    let g = ok.gate(&GateConfig::default(), None);
    assert!(
        g.rules
            .iter()
            .all(|r| r.rule != "crash" && r.rule != "timeout")
    );
}

#[test]
fn a_crash_that_left_no_results_exits_1_not_3() {
    let mut crashed = runner("pytest", RunnerKind::Test, RunnerStatus::Crashed);
    crashed.signal = Some(libc::SIGKILL);
    let w = World::new(vec![crashed], Vec::new(), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert!(!rule(&g, "fail_on_empty").passed);
    assert!(rule(&g, "crash").reason.contains("SIGKILL"));
    assert_eq!(exit_code(&g), 1);
}

#[test]
fn a_build_that_did_not_finish_says_which_and_how() {
    let mut build = runner("make", RunnerKind::Build, RunnerStatus::Crashed);
    build.signal = Some(libc::SIGSEGV);
    let mut slow = runner("assets", RunnerKind::Build, RunnerStatus::Timeout);
    slow.shards = vec!["2/4".into(), "3/4".into()];
    let w = World::new(
        vec![
            build,
            slow,
            runner("pytest", RunnerKind::Test, RunnerStatus::Passed),
        ],
        passing(2, "pytest"),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(
        rule(&g, "build").reason,
        "the build failed: `make` crashed (killed by signal 11, SIGSEGV); `assets` in shards 2/4, 3/4 timed out"
    );
    // The crash and timeout rules fail too, but the verdict says it once.
    assert!(!rule(&g, "crash").passed && !rule(&g, "timeout").passed);
    assert_eq!(g.reasons, [rule(&g, "build").reason.clone()]);
    // A crashed test runner is not the build's: its own rule says it.
    let mut w = World::new(
        vec![
            runner("make", RunnerKind::Build, RunnerStatus::Crashed),
            runner("pytest", RunnerKind::Test, RunnerStatus::Crashed),
        ],
        passing(2, "pytest"),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert!(
        g.reasons.iter().any(|r| r.starts_with("2 runners crashed")),
        "{:?}",
        g.reasons
    );
    // Tests a failed build kept from running: that is why there are no results.
    w = World::new(
        vec![
            runner("make", RunnerKind::Build, RunnerStatus::Crashed),
            runner("pytest", RunnerKind::Test, RunnerStatus::Blocked),
        ],
        Vec::new(),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(
        g.reasons,
        [
            "the build failed: `make` crashed",
            "no tests ran: the build failed, so `pytest` did not run"
        ]
    );
}

#[test]
fn a_cases_key_hash_is_the_hash_of_its_key() {
    // Every shape of key: runner or none, classname, empty classname, suite paths (empty
    // parts too), a scope equal to the name, a name that only starts like the scope.
    let mut cases = Vec::new();
    for runner in ["", "py", "a::b"] {
        for classname in [None, Some(""), Some("K"), Some("n"), Some("K::n")] {
            for suite in [
                vec![],
                vec![""],
                vec!["", ""],
                vec!["s"],
                vec!["s", "t"],
                vec!["n"],
                vec!["s / t"],
            ] {
                for name in ["n", "", "s / t", "s / tx", "s", "K::n"] {
                    cases.push(Case {
                        runner: runner.into(),
                        classname: classname.map(str::to_string),
                        suite: suite.iter().map(|s| s.to_string()).collect(),
                        name: name.into(),
                        ..Case::default()
                    });
                }
            }
        }
    }
    let mut distinct = std::collections::HashSet::new();
    for c in &cases {
        assert_eq!(case_key_hash(&c.view()), key_hash(&c.key()), "{c:?}");
        distinct.insert(c.key());
    }
    assert!(distinct.len() > 100, "{}", distinct.len());
}

/// A result file cut short (the tool killed while writing it) leaves all-green partial
/// results: they must not pass, and the reason names the file, where it ends and the runner.
/// `fail_on_unreadable: false` keeps the rule listed but passing; without a parse error the
/// rule is not listed at all.
#[test]
fn an_unreadable_result_file_fails_the_gate_even_when_what_was_read_passed() {
    let mut reports = runner("reports", RunnerKind::Test, RunnerStatus::Failed);
    let issue = |file: &str, line: u64, message: &str| crate::model::ParseIssue {
        missing: false,
        shard: None,
        file: file.into(),
        position: Some(crate::model::Position {
            line,
            column: 7,
            byte: 0,
        }),
        message: message.into(),
    };
    reports.parse_errors = vec![issue(
        "out/r.xml",
        2,
        "malformed XML: the file ends there: it looks truncated",
    )];
    let w = World::new(vec![reports], passing(2, "reports"), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert!(rule(&g, "max_failures").passed && rule(&g, "fail_on_empty").passed);
    assert_eq!(g.verdict, Verdict::Fail);
    let u = rule(&g, "unreadable");
    assert_eq!(
        u.reason,
        "1 result file could not be read, so its results are incomplete: `out/r.xml` truncated at line 2, column 7"
    );
    assert_eq!(g.reasons[0], u.reason);
    assert_eq!(exit_code(&g), 1);
    // What was read all passed, but the results are partial: not a perfect score.
    assert_eq!(g.score, 90.0);

    let lenient = GateConfig {
        fail_on_unreadable: false,
        ..GateConfig::default()
    };
    let g = w.gate(&lenient, None);
    assert_eq!(g.verdict, Verdict::Pass);
    assert!(rule(&g, "unreadable").passed);
    assert!(
        rule(&g, "unreadable")
            .reason
            .ends_with("(not failing: fail_on_unreadable is false)")
    );

    // Many files: three named, the rest counted.
    let mut many = runner("reports", RunnerKind::Test, RunnerStatus::Failed);
    many.parse_errors = (1..=5)
        .map(|i| issue(&format!("r{i}.xml"), 1, "not a JUnit report"))
        .collect();
    let g = World::new(vec![many], passing(2, "reports"), LintCounts::default())
        .gate(&GateConfig::default(), None);
    let u = rule(&g, "unreadable");
    assert_eq!(u.actual, "5");
    assert_eq!(
        u.reason,
        "5 result files could not be read, so their results are incomplete: `r1.xml` at line 1, column 7, `r2.xml` at line 1, column 7, `r3.xml` at line 1, column 7, and 2 more"
    );
    // A comment short of room keeps the headline, and no file's detail as if it were the rule's.
    assert_eq!(
        crate::report::fit_reason(&u.reason, 80),
        "5 result files could not be read, so their results are incomplete"
    );

    let ok = World::new(
        vec![runner("reports", RunnerKind::Test, RunnerStatus::Passed)],
        passing(2, "reports"),
        LintCounts::default(),
    );
    let g = ok.gate(&GateConfig::default(), None);
    assert!(g.rules.iter().all(|r| r.rule != "unreadable"));

    // Nothing read because the only result file was empty: the glob matched, so the reason
    // is the file, said once (not "check that the runners write their reports").
    let mut empty = runner("reports", RunnerKind::Test, RunnerStatus::Failed);
    empty.parse_errors = vec![crate::model::ParseIssue {
        missing: false,
        position: None,
        ..issue("out/r.xml", 1, "the file is empty")
    }];
    let w = World::new(vec![empty], Vec::new(), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    let e = rule(&g, "fail_on_empty");
    assert!(!e.passed);
    assert_eq!(
        e.reason,
        "no tests were read: the one result file found could not be read"
    );
    assert_eq!(
        g.reasons,
        ["1 result file could not be read, so its results are incomplete: `out/r.xml`"]
    );
    assert_eq!(exit_code(&g), 3, "no results: the exit code says so");
    // Not failing on unreadable files: the empty-run rule is the one that says why.
    let g = w.gate(&lenient, None);
    assert_eq!(g.verdict, Verdict::Fail);
    assert_eq!(
        g.reasons,
        ["no tests were read: the one result file found could not be read"]
    );
    assert_eq!(exit_code(&g), 3);
}

/// A report a runner never wrote (its command failed first, or wrote it elsewhere) is said as
/// that, with how the command ended, not as a file that "could not be read"; a lint runner
/// whose report is missing still fails the gate (nothing else would catch it).
#[test]
fn a_report_never_written_is_named_with_how_its_command_ended() {
    let missing = |file: &str| crate::model::ParseIssue {
        file: file.into(),
        message: "no report was written there: the command exited with code 2 before writing it"
            .into(),
        missing: true,
        ..Default::default()
    };
    let mut eslint = runner("eslint", RunnerKind::Lint, RunnerStatus::Failed);
    eslint.exit_code = Some(2);
    eslint.parse_errors = vec![missing(".codeloop/runs/x/eslint.json")];
    let mut tests = runner("pytest", RunnerKind::Test, RunnerStatus::Failed);
    tests.exit_code = Some(0);
    tests.parse_errors = vec![
        missing("out/junit.xml"),
        crate::model::ParseIssue {
            file: "out/cut.xml".into(),
            message: "the file ends there: it looks truncated".into(),
            ..Default::default()
        },
    ];
    let w = World::new(
        vec![eslint, tests],
        passing(2, "pytest"),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(g.verdict, Verdict::Fail);
    let u = rule(&g, "unreadable");
    assert!(!u.passed);
    assert_eq!(u.actual, "3");
    assert_eq!(
        u.reason,
        "2 runners wrote no report, so their results are missing: `eslint` (`.codeloop/runs/x/eslint.json`: exited with code 2), `pytest` (`out/junit.xml`: exited 0 without writing it); 1 result file could not be read, so its results are incomplete: `out/cut.xml` truncated"
    );
    assert_eq!(exit_code(&g), 1);

    // A runner that timed out has its `timeout` rule, which says why its report is missing.
    let mut slow = runner("e2e", RunnerKind::Test, RunnerStatus::Timeout);
    slow.parse_errors = vec![missing("out/e2e.xml")];
    let w = World::new(vec![slow], passing(2, "pytest"), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert!(
        g.rules.iter().all(|r| r.rule != "unreadable"),
        "{:?}",
        g.rules
    );
    assert!(!rule(&g, "timeout").passed);
    assert_eq!(exit_code(&g), 1);
}

/// A suite that did not run to its end (Jest's "Test suite failed to run", a TAP bail-out)
/// fails the gate even when every test that did run passed, or none ran at all; a build
/// error stays the build rule's, and a run without one has no `suite_errors` rule.
#[test]
fn a_suite_that_did_not_run_to_its_end_fails_the_gate() {
    let suite = |kind: &str, suite: &str, message: &str| crate::model::SuiteError {
        runner: "jest".into(),
        suite: suite.into(),
        message: message.into(),
        file: Some(suite.into()),
        line: Some(3),
        kind: kind.into(),
        trace: None,
    };
    // Nothing else ran: the load error alone decides, with exit 1 (not "no results", 3).
    let mut jest = runner("jest", RunnerKind::Test, RunnerStatus::Failed);
    jest.suite_errors = vec![suite(
        "load",
        "/ws/spec/broken.spec.js",
        "the test file failed to load: Cannot find module './db'",
    )];
    let w = World::new(vec![jest.clone()], Vec::new(), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(g.verdict, Verdict::Fail);
    assert!(rule(&g, "fail_on_empty").passed, "{:?}", g.rules);
    let s = rule(&g, "suite_errors");
    assert!(!s.passed);
    assert_eq!(s.actual, "1");
    assert_eq!(
        s.reason,
        "1 test suite did not run to the end, so its tests are missing: spec/broken.spec.js failed to load: Cannot find module './db' at spec/broken.spec.js:3"
    );
    assert_eq!(exit_code(&g), crate::exit::GATE_FAILED);

    // Green tests beside two broken suites still fail, and the reason counts both.
    jest.suite_errors
        .push(suite("bailout", "", "bail out: database down"));
    let w = World::new(
        vec![jest.clone()],
        passing(3, "jest"),
        LintCounts::default(),
    );
    let g = w.gate(&GateConfig::default(), None);
    assert_eq!(g.verdict, Verdict::Fail);
    let s = rule(&g, "suite_errors");
    assert_eq!(s.actual, "2");
    assert!(
        s.reason
            .starts_with("2 test suites did not run to the end, so their tests are missing: "),
        "{}",
        s.reason
    );
    assert!(
        s.reason.contains("bailed out: database down"),
        "{}",
        s.reason
    );
    assert!(g.reasons.contains(&s.reason), "{:?}", g.reasons);

    // A compile error is the build rule's alone.
    jest.suite_errors = vec![suite("build", "pkg", "does not compile")];
    let w = World::new(vec![jest], passing(3, "jest"), LintCounts::default());
    let g = w.gate(&GateConfig::default(), None);
    assert!(
        g.rules.iter().all(|r| r.rule != "suite_errors"),
        "{:?}",
        g.rules
    );
    let w = World::new(
        vec![runner("jest", RunnerKind::Test, RunnerStatus::Passed)],
        passing(3, "jest"),
        LintCounts::default(),
    );
    assert!(
        w.gate(&GateConfig::default(), None)
            .rules
            .iter()
            .all(|r| r.rule != "suite_errors")
    );
}
