//! Reports and badge: the comment, summary, JUnit out and badge of realistic runs (failure
//! messages taken from the corpus), their budgets, escaping, hidden state and templates,
//! through the pure API and through `codeloop report`.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use codeloop::artifact::manifest::{Context, Manifest};
use codeloop::artifact::{self, RunDir};
use codeloop::badge;
use codeloop::model::*;
use codeloop::report::{self, CaseDigest, RenderInput, Templates, state};
use codeloop::settings::{BadgeConfig, ReportConfig};

use crate::common::bin;

const RUN_ID: &str = "20261121T223000000Z-3f9c";

/// Real failure texts from the corpus (generated/pytest, generated/cargo-test, jest).
const PY_ASSERT: &str = "def test_fail_assert():\n        expected = {\"a\": 1, \"b\": [1, 2, 3]}\n        actual = {\"a\": 1, \"b\": [1, 2, 4]}\n>       assert actual == expected\nE       AssertionError: assert {'a': 1, 'b': [1, 2, 4]} == {'a': 1, 'b': [1, 2, 3]}\nE         \nE         Omitting 1 identical items, use -vv to show\nE         Differing items:\nE         {'b': [1, 2, 4]} != {'b': [1, 2, 3]}\nE         Use -v to get more diff\n\ntests/test_mixed.py:19: AssertionError";
const PY_VALUE: &str = "def test_fail_exception():\n>       raise ValueError(\"boom: something went <wrong> & \\\"badly\\\"\")\nE       ValueError: boom: something went <wrong> & \"badly\"\n\ntests/test_mixed.py:23: ValueError";
const PY_SETUP: &str = "@pytest.fixture\n    def broken_fixture():\n>       raise RuntimeError(\"fixture setup exploded\")\nE       RuntimeError: fixture setup exploded\n\ntests/test_mixed.py:28: RuntimeError";
const RUST_PANIC: &str = "thread 'tests::it_fails_assert_eq' (22925) panicked at src/lib.rs:16:9:\nassertion `left == right` failed: math is broken\n  left: 4\n right: 5";

fn case(runner: &str, class: &str, name: &str, status: Status) -> Case {
    let mut c = Case::new(name, status);
    c.runner = runner.into();
    c.classname = Some(class.into());
    c.duration = Some(0.01);
    c
}

fn failing(runner: &str, class: &str, name: &str, msg: &str, file: &str, line: u32) -> Case {
    let mut c = case(runner, class, name, Status::Failed);
    c.file = Some(file.into());
    c.line = Some(line);
    c.failure = Some(Failure {
        kind: None,
        message: msg
            .lines()
            .find(|l| l.starts_with("E "))
            .map(str::to_string),
        trace: Some(msg.into()),
    });
    c
}

fn context() -> Context {
    Context {
        ci: Some("github".into()),
        repository: Some("acme/widgets".into()),
        sha: Some("3f9c2b1e0d4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c".into()),
        git_ref: Some("refs/pull/42/merge".into()),
        server_url: Some("https://github.com".into()),
        run_url: Some("https://github.com/acme/widgets/actions/runs/123456".into()),
        pr_number: Some(42),
    }
}

fn runner(
    id: &str,
    kind: RunnerKind,
    status: RunnerStatus,
    counts: Counts,
    dur: f64,
) -> RunnerResult {
    RunnerResult {
        shards: Vec::new(),
        candidates: Vec::new(),
        id: id.into(),
        kind,
        source: RunnerSource::Builtin,
        command: None,
        cwd: None,
        status,
        exit_code: Some(if status == RunnerStatus::Passed { 0 } else { 1 }),
        signal: None,
        duration: dur,
        hint: None,
        counts,
        lint: LintCounts::default(),
        result_files: vec![],
        parse_errors: vec![],
        warnings: vec![],
        suite_errors: vec![],
        stdout_log: None,
        stderr_log: None,
        depends_on: vec![],
        limits: None,
    }
}

fn task(
    id: &str,
    cat: Category,
    title: &str,
    file: &str,
    line: u32,
    ev: &str,
    tests: &[&str],
) -> RepairTask {
    RepairTask {
        id: id.into(),
        category: cat,
        title: title.into(),
        location: Some(Location {
            file: file.into(),
            line: Some(line),
            column: None,
            exists: Some(true),
        }),
        evidence: ev.into(),
        reproduce: None,
        problems: vec![],
        tests: tests.iter().map(|s| s.to_string()).collect(),
    }
}

/// The demo run: pytest with two failures and an error, cargo with one panic, a clippy
/// runner with lint errors, one flaky test, a baseline in gate.json.
fn demo() -> (Vec<Case>, VerifyDoc, DiagnoseDoc, GateDoc) {
    let mut cases = vec![
        case("pytest", "tests.test_mixed", "test_pass", Status::Passed),
        failing(
            "pytest",
            "tests.test_mixed",
            "test_fail_assert",
            PY_ASSERT,
            "tests/test_mixed.py",
            19,
        ),
        failing(
            "pytest",
            "tests.test_mixed",
            "test_fail_exception",
            PY_VALUE,
            "tests/test_mixed.py",
            23,
        ),
        case("pytest", "tests.test_mixed", "test_skip", Status::Skipped),
        failing(
            "cargo",
            "tests",
            "it_fails_assert_eq",
            RUST_PANIC,
            "src/lib.rs",
            16,
        ),
        case("cargo", "tests", "it_adds", Status::Passed),
    ];
    let mut e = failing(
        "pytest",
        "tests.test_mixed",
        "test_error_in_setup",
        PY_SETUP,
        "tests/test_mixed.py",
        28,
    );
    e.status = Status::Errored;
    cases.push(e);
    let mut fl = case(
        "pytest",
        "tests.test_net",
        "test_retry_socket",
        Status::Passed,
    );
    fl.flaky = true;
    fl.retries = 1;
    cases.push(fl);
    for i in 0..40 {
        let mut c = case(
            "pytest",
            "tests.test_bulk",
            &format!("test_case_{i:02}"),
            Status::Passed,
        );
        c.duration = Some(0.05 * f64::from(i));
        cases.push(c);
    }
    let mut totals = Counts::default();
    let mut py = Counts::default();
    let mut rs = Counts::default();
    for c in &cases {
        totals.add_case(c.status, c.flaky);
        if c.runner == "pytest" {
            py.add_case(c.status, c.flaky)
        } else {
            rs.add_case(c.status, c.flaky)
        }
    }
    let mut clippy = runner(
        "clippy",
        RunnerKind::Lint,
        RunnerStatus::Failed,
        Counts::default(),
        8.2,
    );
    clippy.lint = LintCounts {
        errors: 2,
        warnings: 3,
        notes: 0,
    };
    let mut slowest: Vec<SlowTest> = cases
        .iter()
        .filter_map(|c| {
            c.duration.map(|d| SlowTest {
                id: c.id(),
                runner: c.runner.clone(),
                duration: d,
                status: c.status,
            })
        })
        .collect();
    slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration));
    slowest.truncate(10);
    let verify = VerifyDoc {
        schema_version: 1,
        run_id: RUN_ID.into(),
        started_at: "2026-11-21T22:30:00Z".into(),
        finished_at: "2026-11-21T22:31:05Z".into(),
        status: RunStatus::Failed,
        cwd: "/home/runner/work/widgets/widgets".into(),
        shard: None,
        runners: vec![
            runner("cargo", RunnerKind::Test, RunnerStatus::Failed, rs, 41.7),
            runner("pytest", RunnerKind::Test, RunnerStatus::Failed, py, 12.34),
            clippy,
        ],
        totals,
        lint: LintCounts {
            errors: 2,
            warnings: 3,
            notes: 0,
        },
        slowest,
    };
    let diagnose = DiagnoseDoc {
        schema_version: 1,
        run_id: RUN_ID.into(),
        problems: vec![],
        tasks: vec![
            task(
                "t1",
                Category::TestFailure,
                "AssertionError: dict differs at key 'b'",
                "tests/test_mixed.py",
                19,
                PY_ASSERT,
                &["pytest::tests.test_mixed::test_fail_assert"],
            ),
            task(
                "t2",
                Category::TestFailure,
                "math is broken: left 4, right 5",
                "src/lib.rs",
                16,
                RUST_PANIC,
                &["cargo::tests::it_fails_assert_eq"],
            ),
            task(
                "t3",
                Category::TestError,
                "Fixture broken_fixture raises RuntimeError",
                "tests/test_mixed.py",
                28,
                PY_SETUP,
                &["pytest::tests.test_mixed::test_error_in_setup"],
            ),
            task(
                "t4",
                Category::TestFailure,
                "ValueError: boom: something went <wrong>",
                "tests/test_mixed.py",
                23,
                PY_VALUE,
                &["pytest::tests.test_mixed::test_fail_exception"],
            ),
            task(
                "t5",
                Category::Lint,
                "clippy::needless_range_loop (2 errors)",
                "src/parse.rs",
                88,
                "error: the loop variable `i` is only used to index `buf`\n  --> src/parse.rs:88:14",
                &[],
            ),
        ],
        truncated: 0,
    };
    let gate = GateDoc {
        schema_version: 1,
        run_id: RUN_ID.into(),
        verdict: Verdict::Fail,
        score: 61.5,
        components: vec![ScoreComponent {
            name: "tests".into(),
            weight: 40.0,
            value: 0.9,
            points: 36.0,
            explanation: "43 of 47 tests passed".into(),
        }],
        rules: vec![RuleResult {
            rule: "max_failures".into(),
            passed: false,
            limit: "0".into(),
            actual: "4".into(),
            reason: "4 tests failed or errored (limit 0)".into(),
        }],
        reasons: vec![
            "4 tests failed or errored (limit 0)".into(),
            "clippy reported 2 lint errors".into(),
        ],
        counts: totals,
        lint: LintCounts {
            errors: 2,
            warnings: 3,
            notes: 0,
        },
        delta: Some(Delta {
            baseline_run_id: Some("20261121T210000000Z-aa11".into()),
            score_change: Some(-12.5),
            new_failures: vec![
                "cargo::tests::it_fails_assert_eq".into(),
                "pytest::tests.test_mixed::test_fail_exception".into(),
            ],
            fixed: vec!["pytest::tests.test_io::test_reads_utf16".into()],
            still_failing: vec![],
            unknown: vec![],
            tests_added: 1,
            tests_removed: 0,
            counts_before: Some(Counts {
                tests: 47,
                passed: 44,
                failed: 1,
                errored: 1,
                skipped: 1,
                flaky: 0,
            }),
        }),
    };
    (cases, verify, diagnose, gate)
}

fn input_of(
    cases: &[Case],
    verify: VerifyDoc,
    diagnose: Option<DiagnoseDoc>,
    gate: Option<GateDoc>,
) -> RenderInput {
    let mut digest = CaseDigest::default();
    for c in cases {
        digest.observe(c);
    }
    RenderInput {
        run_id: RUN_ID.into(),
        tool_version: "0.1.0".into(),
        verify: Some(verify),
        diagnose,
        gate,
        context: context(),
        cases: digest,
        delta: None,
        shards: Vec::new(),
    }
}

/// Writes a complete run directory under `<root>/runs/<id>/`.
fn write_run(
    root: &Path,
    id: &str,
    cases: &[Case],
    verify: &VerifyDoc,
    diagnose: Option<&DiagnoseDoc>,
    gate: Option<&GateDoc>,
) -> RunDir {
    let run = RunDir {
        path: artifact::runs_root(root).join(id),
        id: id.into(),
    };
    std::fs::create_dir_all(&run.path).unwrap();
    let mut lines = String::new();
    for c in cases {
        lines.push_str(&serde_json::to_string(c).unwrap());
        lines.push('\n');
    }
    artifact::write_atomic(&run.file(artifact::CASES), lines.as_bytes()).unwrap();
    let finding = Finding {
        runner: "clippy".into(),
        tool: "clippy".into(),
        rule: Some("needless_range_loop".into()),
        severity: Severity::Error,
        message: "the loop variable `i` is only used to index `buf`".into(),
        file: Some("src/parse.rs".into()),
        line: Some(88),
        column: Some(14),
        ..Default::default()
    };
    artifact::write_atomic(
        &run.file(artifact::FINDINGS),
        format!("{}\n", serde_json::to_string(&finding).unwrap()).as_bytes(),
    )
    .unwrap();
    artifact::write_json(&run.file(artifact::VERIFY), verify).unwrap();
    if let Some(d) = diagnose {
        artifact::write_json(&run.file(artifact::DIAGNOSE), d).unwrap();
    }
    if let Some(g) = gate {
        artifact::write_json(&run.file(artifact::GATE), g).unwrap();
    }
    Manifest::write(
        &run,
        "2026-11-21T22:30:00Z".into(),
        "2026-11-21T22:31:05Z".into(),
        RunStatus::Failed,
        None,
        context(),
    )
    .unwrap();
    run
}

fn report_cmd(root: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("report")
        .arg("--artifacts-dir")
        .arg(root)
        .arg("--cwd")
        .arg(root)
        .args(extra)
        .env_remove("CODELOOP_CONFIG")
        .output()
        .unwrap()
}

/// The text of `doc` outside `<pre>...</pre>` blocks.
fn outside_pre(doc: &str) -> String {
    let mut out = String::new();
    let mut rest = doc;
    while let Some(i) = rest.find("<pre>") {
        out.push_str(&rest[..i]);
        rest = match rest[i..].find("</pre>") {
            Some(j) => &rest[i + j + 6..],
            None => "",
        };
    }
    out.push_str(rest);
    out
}

fn around(s: &str, i: usize) -> String {
    s.chars()
        .skip(s[..i].chars().count().saturating_sub(30))
        .take(60)
        .collect()
}

/// No `@name` mention and no `#123` reference GitHub would link, anywhere in `s`.
fn assert_no_pings(s: &str) {
    let b = s.as_bytes();
    for (i, w) in b.windows(2).enumerate() {
        assert!(
            !(w[0] == b'@' && (w[1].is_ascii_alphanumeric() || w[1] == b'-' || w[1] == b'_')),
            "a mention could ping at byte {i}: {:?}",
            around(s, i)
        );
        assert!(
            // `&#124;` is a character reference, not text GitHub could link.
            !(w[0] == b'#' && w[1].is_ascii_digit() && (i == 0 || b[i - 1] != b'&')),
            "an issue reference could autolink at byte {i}: {:?}",
            around(s, i)
        );
    }
}

#[test]
fn demo_run_comment_summary_and_badge_snapshots() {
    let (cases, verify, diagnose, gate) = demo();
    let input = input_of(&cases, verify, Some(diagnose), Some(gate));
    let out = report::render(&input, &Templates::embedded(), &ReportConfig::default()).unwrap();
    insta::assert_snapshot!("demo_comment", out.comment);
    insta::assert_snapshot!("demo_summary", out.summary);
    let b = badge::for_gate(Some(61.5), Some(Verdict::Fail), &BadgeConfig::default());
    insta::assert_snapshot!("demo_badge_flat", badge::svg(&b));
    let sq = BadgeConfig {
        style: codeloop::settings::BadgeStyle::FlatSquare,
        ..Default::default()
    };
    insta::assert_snapshot!(
        "badge_flat_square_pass",
        badge::svg(&badge::for_gate(Some(92.4), Some(Verdict::Pass), &sq))
    );

    // What a reader needs in five seconds: verdict, score, what broke, where (linked).
    let first = out.comment.lines().nth(1).unwrap();
    assert!(
        first.contains("failed") && first.contains("61") && first.contains("−12.5"),
        "{first}"
    );
    assert!(out.comment.contains("(https://github.com/acme/widgets/blob/3f9c2b1e0d4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c/tests/test_mixed.py#L19)"));
    assert!(out.comment.starts_with(state::MARKER));
    assert_eq!(state::decode(&out.comment).unwrap(), out.state);
    assert_eq!(out.state.failing_total, 4);
    assert_no_pings(&out.comment);
    assert_no_pings(&out.summary);
}

/// A merged run's comment, cut to its tables: the Runners table says in which shards a runner
/// ended as it did, and the Shards table marks a shard whose runner crashed ❌ even though no
/// test of it failed, naming the runner and how it ended.
#[test]
fn merged_comment_names_the_shards_a_runner_failed_in() {
    use codeloop::merge::{MergedSource, ShardRunner};
    let (cases, mut verify, diagnose, gate) = demo();
    let cargo = verify.runners.iter_mut().find(|r| r.id == "cargo").unwrap();
    cargo.status = RunnerStatus::Crashed;
    cargo.signal = Some(11);
    cargo.hint = Some("killed by signal 11 (SIGSEGV, a crash)".into());
    cargo.shards = vec!["2/4".into(), "3/4".into()];
    let mut input = input_of(&cases, verify, Some(diagnose), Some(gate));
    input.shards = (1..=4u32)
        .map(|k| MergedSource {
            dir: format!("shards/{k}"),
            run_id: format!("R{k}"),
            shard: Some(Shard { index: k, total: 4 }),
            sha: None,
            complete: true,
            runners: if k == 1 {
                vec!["cargo".into(), "pytest".into(), "clippy".into()]
            } else {
                vec!["cargo".into()]
            },
            failed: if k == 2 || k == 3 {
                vec![ShardRunner {
                    id: "cargo".into(),
                    status: RunnerStatus::Crashed,
                }]
            } else {
                Vec::new()
            },
            counts: Counts::default(),
            duration: 1.5,
        })
        .collect();
    let out = report::render(&input, &Templates::embedded(), &ReportConfig::default()).unwrap();
    // The Runners and Shards sections' headers and rows.
    let mut keep = false;
    let mut tables = String::new();
    for l in out.comment.lines() {
        if l.starts_with("<details><summary>") {
            keep = l.contains(">Runners (") || l.contains(">Shards (");
        }
        if keep && (l.starts_with('|') || l.starts_with("<details>")) {
            tables.push_str(l);
            tables.push('\n');
        }
    }
    insta::assert_snapshot!("merged_comment_tables", tables);
}

/// A run with `n` failures, one repair task each, names `name_len` long for the first
/// `long` ones (a 100 KB name for 50,000 tests would need 5 GB, and the list is cut long
/// before the 300th item, so 300 long names exercise the same code).
fn many_failures(n: usize, long: usize, name_len: usize) -> RenderInput {
    let (_, mut verify, _, mut gate) = demo();
    let name = |i: usize| {
        if i < long {
            format!("test_{i}_{}", "@x#1 <b>|`".repeat(name_len / 10))
        } else {
            format!("test_generated_case_number_{i:05}")
        }
    };
    let mut digest = CaseDigest::default();
    let mut tasks = Vec::with_capacity(n);
    let mut keys = Vec::with_capacity(n);
    for i in 0..n {
        let c = failing(
            "pytest",
            "tests.test_many",
            &name(i),
            PY_ASSERT,
            "tests/test_many.py",
            19,
        );
        digest.observe(&c);
        let key = c.key();
        tasks.push(RepairTask {
            id: format!("t{i}"),
            category: Category::TestFailure,
            title: format!("AssertionError in {}", c.name),
            location: Some(Location {
                file: format!("tests/test_many_{}.py", i % 97),
                line: Some(19),
                column: None,
                exists: None,
            }),
            evidence: PY_ASSERT.into(),
            reproduce: Some(format!("pytest 'tests/test_many.py::{}'", c.name)),
            problems: vec![format!("p{i}")],
            tests: vec![key.clone()],
        });
        keys.push(key);
    }
    gate.counts = Counts {
        tests: n as u64 + 10,
        passed: 10,
        failed: n as u64,
        ..Default::default()
    };
    verify.totals = gate.counts;
    verify.runners = (0..500)
        .map(|i| {
            runner(
                &format!("shard-{i}"),
                RunnerKind::Test,
                RunnerStatus::Failed,
                Counts::default(),
                1.0,
            )
        })
        .collect();
    gate.delta.as_mut().unwrap().new_failures = keys;
    gate.delta.as_mut().unwrap().fixed = (0..n).map(|i| format!("fixed::{}", name(i))).collect();
    RenderInput {
        run_id: RUN_ID.into(),
        tool_version: "0.1.0".into(),
        verify: Some(verify),
        diagnose: Some(DiagnoseDoc {
            schema_version: 1,
            run_id: RUN_ID.into(),
            problems: vec![],
            tasks,
            truncated: 0,
        }),
        gate: Some(gate),
        context: context(),
        cases: digest,
        delta: None,
        shards: Vec::new(),
    }
}

#[test]
fn fifty_thousand_failures_with_100kb_names_stay_within_budget() {
    let input = many_failures(50_000, 300, 100_000);
    let out = report::render(&input, &Templates::embedded(), &ReportConfig::default()).unwrap();
    let c = &out.comment;
    assert!(c.len() <= 60_000, "comment is {} bytes", c.len());
    assert!(c.chars().count() <= report::GITHUB_COMMENT_LIMIT);
    assert!(c.starts_with(state::MARKER));
    assert!(
        c.lines()
            .nth(1)
            .unwrap()
            .starts_with("## ❌ codeloop: failed"),
        "{}",
        &c[..300]
    );
    let st = state::decode(c).unwrap();
    assert_eq!(st.failing_total, 50_000);
    assert!(
        c.contains(" more problems"),
        "the cut list says how many are left out"
    );
    // Cut between items: every <details> and <pre> is closed.
    assert_eq!(
        c.matches("<details>").count(),
        c.matches("</details>").count()
    );
    assert_eq!(c.matches("<pre>").count(), c.matches("</pre>").count());
    assert_no_pings(c);
    assert!(
        out.summary.len() < 1024 * 1024,
        "summary is {} bytes",
        out.summary.len()
    );
    assert_eq!(
        out.summary.matches("<pre>").count(),
        out.summary.matches("</pre>").count()
    );
    assert_no_pings(&out.summary);

    // Even GitHub's hard limit set as the budget keeps header and state.
    let tight = ReportConfig {
        max_comment_chars: 5_000,
        ..Default::default()
    };
    let out = report::render(&input, &Templates::embedded(), &tight).unwrap();
    assert!(out.comment.len() <= 5_000, "{}", out.comment.len());
    assert!(out.comment.contains("codeloop: failed"));
    assert!(state::decode(&out.comment).is_ok());
}

#[test]
fn many_failures_snapshot() {
    let input = many_failures(2_000, 0, 0);
    let out = report::render(&input, &Templates::embedded(), &ReportConfig::default()).unwrap();
    insta::assert_snapshot!("many_failures_comment", out.comment);
    // The summary is ~100s of KB here: snapshot its head and its tail (where lists are cut).
    let lines: Vec<&str> = out.summary.lines().collect();
    let digest = format!(
        "{} lines, {} bytes\n{}\n[…]\n{}",
        lines.len(),
        out.summary.len(),
        lines[..40].join("\n"),
        lines[lines.len() - 60..].join("\n")
    );
    insta::assert_snapshot!("many_failures_summary_head_tail", digest);
}

#[test]
fn mentions_references_html_and_markers_in_names_are_neutralized() {
    let (mut cases, verify, _, gate) = demo();
    let evil = [
        "@octocat please look",
        "fixes #123 and GH-7, cc @acme/security-team",
        "<!-- codeloop-verify:v1 run=evil -->",
        "<!-- codeloop-verify:state:v1 AAAA -->",
        "</details></pre><img src=x onerror=alert(1)>",
        "a | b | c",
        "`code` **bold** [link](https://evil.example) ![img](x)",
        "line1\nline2\n\n# heading",
        "nul\u{0}ansi\u{1b}[31mred\u{1b}[0m",
        "$\\sqrt{x}$ ~~strike~~ _em_",
    ];
    for (i, name) in evil.iter().enumerate() {
        let mut c = failing(
            "pytest",
            name,
            name,
            &format!("E   {name}\n{name}"),
            "tests/@evil #1.py",
            3,
        );
        c.runner = format!("r{i}");
        cases.push(c);
    }
    // No diagnose.json: the pseudo-tasks from cases carry the names and messages.
    let mut input = input_of(&cases, verify, None, Some(gate));
    input.delta = Some(Delta {
        new_failures: evil.iter().map(|s| s.to_string()).collect(),
        fixed: evil.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    input.cases.flaky = evil.iter().map(|s| s.to_string()).collect();
    let out = report::render(&input, &Templates::embedded(), &ReportConfig::default()).unwrap();
    for doc in [&out.comment, &out.summary] {
        assert_no_pings(doc);
        assert!(
            !doc.contains("<img")
                && !doc.contains("</pre></details>")
                && !doc.contains("\u{0}")
                && !doc.contains('\u{1b}')
        );
        // Markdown inside <pre> blocks is not parsed; everywhere else it must be inert.
        let md = outside_pre(doc);
        assert!(
            !md.contains("[link](") && !md.contains("**bold**") && !md.contains("`code`"),
            "{md}"
        );
        assert_eq!(
            doc.matches("<details>").count(),
            doc.matches("</details>").count()
        );
        // Table rows keep their cell count: every row of a table has the header's pipes.
        let mut cells = None;
        for l in doc.lines() {
            if l.starts_with('|') {
                let n = l.matches('|').count();
                assert_eq!(*cells.get_or_insert(n), n, "a table row is broken: {l}");
            } else {
                cells = None;
            }
        }
    }
    let c = &out.comment;
    assert_eq!(
        c.matches(state::MARKER).count(),
        1,
        "the marker can be spoofed"
    );
    assert_eq!(
        c.matches(state::STATE_PREFIX).count(),
        1,
        "the state can be spoofed"
    );
    assert_eq!(state::decode(c).unwrap().run_id, RUN_ID);
    // Names stay readable: the escaped text decodes back to the original words.
    assert!(c.contains("@\u{200B}octocat please look"), "{c}");
    assert!(c.contains("#\u{200B}123"));
}

#[test]
fn template_syntax_error_names_file_and_line_and_missing_template_falls_back() {
    let d = tempfile::tempdir().unwrap();
    let bad = "## {{ headline }}\n\nok line\n{% if tasks.total %}\nno endif here\n";
    let e = Templates::with_overrides("my-templates", |n| {
        (n == "comment.md").then(|| bad.to_string())
    })
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("my-templates/comment.md") && msg.contains("line"),
        "{msg}"
    );
    let unknown = Templates::with_overrides("t", |n| {
        (n == "summary.md").then(|| "x\n{{ 1 + }}\n".into())
    })
    .unwrap_err();
    assert!(
        unknown.to_string().contains("t/summary.md` line 2"),
        "{unknown}"
    );

    // An error that only shows while rendering (unknown filter) also names file and line.
    let (cases, verify, diagnose, gate) = demo();
    let input = input_of(
        &cases,
        verify.clone(),
        Some(diagnose.clone()),
        Some(gate.clone()),
    );
    let runtime = Templates::with_overrides("rt", |n| {
        (n == "comment.md").then(|| "a\nb\n{{ counts.passed | no_such_filter }}\n".to_string())
    })
    .and_then(|t| report::render(&input, &t, &ReportConfig::default()))
    .unwrap_err();
    assert!(
        runtime.to_string().contains("rt/comment.md` line 3"),
        "{runtime}"
    );

    let t = Templates::with_overrides("tpl", |n| {
        (n == "summary.md").then(|| "# {{ headline }} custom".into())
    })
    .unwrap();
    assert_eq!(
        t.notices(),
        ["template `tpl/comment.md` not found: using the built-in comment.md"]
    );
    let (cases, verify, diagnose, gate) = demo();
    let out = report::render(
        &input_of(
            &cases,
            verify.clone(),
            Some(diagnose.clone()),
            Some(gate.clone()),
        ),
        &t,
        &ReportConfig::default(),
    )
    .unwrap();
    assert_eq!(out.summary, "# failed custom\n");
    assert!(out.comment.contains("### What broke"));
    assert!(out.notices.iter().any(|n| n.contains("not found")));

    // Through the CLI: exit 2, error with file and line, files still written (built-in).
    let root = d.path();
    let run = write_run(root, RUN_ID, &cases, &verify, Some(&diagnose), Some(&gate));
    let tdir = root.join("tpl");
    std::fs::create_dir_all(&tdir).unwrap();
    std::fs::write(tdir.join("comment.md"), bad).unwrap();
    let o = report_cmd(
        root,
        &["--comment", "--template-dir", tdir.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("tpl/comment.md") && err.contains("line 5"),
        "{err}"
    );
    assert!(run.report_dir().join("comment.md").is_file());
    std::fs::remove_file(tdir.join("comment.md")).unwrap();
    let o = report_cmd(
        root,
        &["--comment", "--template-dir", tdir.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("comment.md` not found: using the built-in comment.md"),
        "{err}"
    );
}

#[test]
fn report_command_writes_everything_and_reads_a_baseline_comment() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    let (cases, verify, diagnose, mut gate) = demo();
    gate.delta = None;
    let run = write_run(root, RUN_ID, &cases, &verify, Some(&diagnose), Some(&gate));
    let o = report_cmd(root, &["--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(j["files"].as_array().unwrap().len(), 5, "{j}");
    let rd = run.report_dir();
    for f in [
        "comment.md",
        "summary.md",
        "badge.svg",
        "badge.png",
        "junit.xml",
    ] {
        assert!(rd.join(f).is_file(), "{f}");
    }
    let m: Manifest = artifact::read_json(&run.file(artifact::MANIFEST)).unwrap();
    assert!(
        m.files.iter().any(|f| f.path == "report/comment.md"),
        "manifest lists report files"
    );
    let junit = std::fs::read_to_string(rd.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"<testsuite name="pytest""#)
            && junit.contains(r#"<testsuite name="lint""#)
    );
    assert!(junit.contains("<flakyFailure"));

    // The next run: one failure fixed, one deleted, one new, read back from the previous
    // comment. A deleted failing test is not "Fixed": `report` alone reads this run's test
    // keys for the deltas, as `ci` does.
    let prev = root.join("previous-comment.md");
    std::fs::copy(rd.join("comment.md"), &prev).unwrap();
    let mut next = cases.clone();
    next.retain(|c| c.name != "test_fail_exception");
    for c in next.iter_mut().filter(|c| c.name == "test_fail_assert") {
        c.status = Status::Passed;
        c.failure = None;
    }
    next.push(failing(
        "pytest",
        "tests.test_new",
        "test_brand_new",
        PY_VALUE,
        "tests/test_new.py",
        5,
    ));
    let id2 = "20261121T230000000Z-beef";
    let mut gate2 = gate.clone();
    gate2.run_id = id2.into();
    gate2.score = 70.0;
    write_run(root, id2, &next, &verify, None, Some(&gate2));
    let o = report_cmd(
        root,
        &[
            "--run",
            id2,
            "--comment",
            "--baseline-from-comment",
            prev.to_str().unwrap(),
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let c = std::fs::read_to_string(
        artifact::runs_root(root)
            .join(id2)
            .join("report/comment.md"),
    )
    .unwrap();
    assert!(c.contains("score **70** (+8.5)"), "{c}");
    assert!(
        c.contains("New failures (1)") && c.contains("test&#95;brand&#95;new"),
        "{c}"
    );
    let fixed = c.lines().find(|l| l.contains("Fixed (")).expect(&c);
    assert!(
        fixed.contains("Fixed (1)") && fixed.contains("test&#95;fail&#95;assert"),
        "{fixed}"
    );
    assert!(!fixed.contains("test&#95;fail&#95;exception"), "{fixed}");

    // A damaged baseline is a warning, not a failure.
    std::fs::write(&prev, "<!-- codeloop-verify:state:v1 %%% -->").unwrap();
    let o = report_cmd(
        root,
        &[
            "--run",
            id2,
            "--comment",
            "--baseline-from-comment",
            prev.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&o.stderr).contains("damaged"));
}

#[test]
fn report_command_on_a_missing_run_is_a_usage_error() {
    let d = tempfile::tempdir().unwrap();
    let o = report_cmd(d.path(), &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no complete run") && err.contains("hint:"),
        "{err}"
    );
}

fn decode_png(bytes: &[u8]) -> resvg::tiny_skia::Pixmap {
    resvg::tiny_skia::Pixmap::decode_png(bytes).expect("badge.png decodes")
}

/// Pixels in the message half that are near white (the text), on a colored background.
fn text_pixels(p: &resvg::tiny_skia::Pixmap, from_x: u32) -> usize {
    let mut n = 0;
    for y in 0..p.height() {
        for x in from_x..p.width() {
            if let Some(px) = p.pixel(x, y)
                && px.alpha() == 255
                && px.red() > 200
                && px.green() > 200
                && px.blue() > 200
            {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn badge_png_renders_text_with_only_the_embedded_font() {
    let b = badge::for_gate(Some(92.0), Some(Verdict::Pass), &BadgeConfig::default());
    let svg = badge::svg(&b);
    let width: f32 = svg
        .split("width=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();

    let mut only_ours = usvg::fontdb::Database::new(); // no system fonts
    only_ours.load_font_data(badge::FONT.to_vec());
    let png = badge::png_with_fonts(&svg, 2.0, Arc::new(only_ours)).unwrap();
    let p = decode_png(&png);
    assert_eq!((p.width(), p.height()), ((width * 2.0).ceil() as u32, 40));
    let label_w = (badge::text_width("codeloop") + 12.0).round() as u32 * 2;
    let with_font = text_pixels(&p, label_w);
    assert!(
        with_font > 100,
        "message text drawn: {with_font} white pixels"
    );
    // Background of the message half is the pass color, not transparent.
    let bg = p.pixel(label_w + 2, 2).unwrap();
    assert_eq!(bg.alpha(), 255);
    assert!(bg.green() > bg.red() && bg.green() > bg.blue(), "{bg:?}");

    // Control: with an empty font database no text is drawn, so the pixels above are text.
    let empty = badge::png_with_fonts(&svg, 2.0, Arc::new(usvg::fontdb::Database::new())).unwrap();
    assert_eq!(text_pixels(&decode_png(&empty), label_w), 0);

    // The default path (badge::png) uses the same embedded-only database.
    assert_eq!(badge::png(&svg, 2.0).unwrap(), png);
}

/// Not a check: writes the demo run and the badge PNGs for docs/ (see
/// scripts/report-screenshots.sh, which sets CODELOOP_DOCS_OUT and runs it with --ignored).
#[test]
#[ignore]
fn write_docs_demo() {
    let Some(out) = std::env::var_os("CODELOOP_DOCS_OUT") else {
        return;
    };
    let out = std::path::PathBuf::from(out);
    let (cases, verify, diagnose, gate) = demo();
    write_run(&out, RUN_ID, &cases, &verify, Some(&diagnose), Some(&gate));
    let cfg = BadgeConfig::default();
    for (name, score, verdict) in [
        ("pass", 96.0, Verdict::Pass),
        ("warn", 74.5, Verdict::Pass),
        ("fail", 61.5, Verdict::Fail),
    ] {
        let svg = badge::svg(&badge::for_gate(Some(score), Some(verdict), &cfg));
        std::fs::write(out.join(format!("badge-{name}.svg")), &svg).unwrap();
        std::fs::write(
            out.join(format!("badge-{name}.png")),
            badge::png(&svg, 2.0).unwrap(),
        )
        .unwrap();
    }
}

#[test]
fn a_template_that_prints_too_much_still_yields_header_and_state_within_budget() {
    let t = Templates::with_overrides("loud", |n| {
        (n == "comment.md").then(|| {
            "{% for i in range(300) %}{% for j in range(300) %}é{% endfor %}{% endfor %}"
                .to_string()
        })
    })
    .unwrap();
    let (cases, verify, diagnose, gate) = demo();
    let mut input = input_of(&cases, verify, Some(diagnose), Some(gate));
    input.context.run_url = Some(format!("https://ci.example/{}", "é".repeat(3000)));
    let cfg = ReportConfig {
        max_comment_chars: 1_000,
        ..Default::default()
    };
    let out = report::render(&input, &t, &cfg).unwrap();
    assert!(out.comment.len() <= 1_000, "{}", out.comment.len());
    assert!(out.comment.contains("codeloop: failed"), "{}", out.comment);
    assert_eq!(state::decode(&out.comment).unwrap().run_id, RUN_ID);
    assert!(out.notices.iter().any(|n| n.contains("shortened")));
}
