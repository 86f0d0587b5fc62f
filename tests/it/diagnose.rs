//! Diagnose: locations from REAL traces of the corpus (one table, every language), SARIF
//! validated against the official 2.1.0 schema, GitLab Code Quality shape, annotation caps,
//! and the `diagnose` command end to end on a run directory built here.

use std::path::Path;
use std::process::Command;

use codeloop::artifact::{self, RunDir, manifest::Manifest};
use codeloop::diagnose::output::{self, AnnotationLimits};
use codeloop::diagnose::{self as diag, Input, Options};
use codeloop::model::{
    Case, Category, Counts, DiagnoseDoc, Failure, Finding, RunStatus, RunnerKind, RunnerResult,
    RunnerSource, RunnerStatus, SCHEMA_VERSION, Severity, Status, VerifyDoc,
};

use crate::common::bin;

/// Where the corpus's sample repository was checked out (paths were rewritten to this).
pub const WS: &str = "/home/runner/work/samples/samples";

pub fn runner(id: &str, kind: RunnerKind, cwd: &str, command: &str) -> RunnerResult {
    RunnerResult {
        shards: Vec::new(),
        candidates: Vec::new(),
        id: id.into(),
        kind,
        source: RunnerSource::Builtin,
        command: Some(command.into()),
        cwd: Some(cwd.into()),
        status: RunnerStatus::Failed,
        exit_code: Some(1),
        signal: None,
        duration: 1.5,
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

pub fn verify_doc(cwd: &str, runners: Vec<RunnerResult>, cases: &[Case]) -> VerifyDoc {
    let mut totals = Counts::default();
    for c in cases {
        totals.add_case(c.status, c.flaky);
    }
    VerifyDoc {
        schema_version: SCHEMA_VERSION,
        run_id: "20261122T000000000Z-abcd".into(),
        started_at: "2026-11-22T00:00:00Z".into(),
        finished_at: "2026-11-22T00:00:01Z".into(),
        status: RunStatus::Failed,
        cwd: cwd.into(),
        shard: None,
        runners,
        totals,
        lint: Default::default(),
        slowest: Vec::new(),
    }
}

pub fn failing(
    runner: &str,
    classname: Option<&str>,
    name: &str,
    file: Option<&str>,
    line: Option<u32>,
    message: &str,
    trace: &str,
) -> Case {
    let mut c = Case::new(name, Status::Failed);
    c.runner = runner.into();
    c.classname = classname.map(Into::into);
    c.file = file.map(Into::into);
    c.line = line;
    c.failure = Some(Failure {
        kind: None,
        message: (!message.is_empty()).then(|| message.to_string()),
        trace: (!trace.is_empty()).then(|| trace.to_string()),
    });
    c
}

/// Writes a complete run directory (verify.json, cases.jsonl, findings.jsonl, manifest).
pub fn write_run(artifacts: &Path, v: &VerifyDoc, cases: &[Case], findings: &[Finding]) -> RunDir {
    let path = artifact::runs_root(artifacts).join(&v.run_id);
    let run = RunDir {
        path: path.clone(),
        id: v.run_id.clone(),
    };
    artifact::write_json(&run.file(artifact::VERIFY), v).unwrap();
    let mut lines = String::new();
    for c in cases {
        lines.push_str(&serde_json::to_string(c).unwrap());
        lines.push('\n');
    }
    artifact::write_atomic(&run.file(artifact::CASES), lines.as_bytes()).unwrap();
    let mut fl = String::new();
    for f in findings {
        fl.push_str(&serde_json::to_string(f).unwrap());
        fl.push('\n');
    }
    artifact::write_atomic(&run.file(artifact::FINDINGS), fl.as_bytes()).unwrap();
    Manifest::write(
        &run,
        v.started_at.clone(),
        v.finished_at.clone(),
        v.status,
        None,
        Default::default(),
    )
    .unwrap();
    run
}

/// One row: a real failure from the corpus (source file named), the runner's directory, and
/// the exact repo-relative location diagnose must give (before the workspace lookup).
struct Row {
    source: &'static str,
    runner_dir: &'static str,
    classname: Option<&'static str>,
    file: Option<&'static str>,
    line: Option<u32>,
    message: &'static str,
    trace: &'static str,
    want: Option<&'static str>,
}

fn rows() -> Vec<Row> {
    vec![
        Row {
            source: "generated/pytest/all.junit-xunit2.xml test_fail_assert",
            runner_dir: "python",
            classname: Some("tests.test_mixed"),
            file: None,
            line: None,
            message: "AssertionError: assert {'a': 1, 'b': [1, 2, 4]} == {'a': 1, 'b': [1, 2, 3]}",
            trace: "def test_fail_assert():\n        expected = {\"a\": 1, \"b\": [1, 2, 3]}\n        actual = {\"a\": 1, \"b\": [1, 2, 4]}\n>       assert actual == expected\nE       AssertionError: assert {'a': 1, 'b': [1, 2, 4]} == {'a': 1, 'b': [1, 2, 3]}\nE         \nE         Omitting 1 identical items, use -vv to show\n\ntests/test_mixed.py:19: AssertionError",
            want: Some("python/tests/test_mixed.py:19"),
        },
        Row {
            source: "generated/pytest/all.junit-xunit2.xml test_deep_recursion_traceback",
            runner_dir: "python",
            classname: Some("tests.test_longoutput"),
            file: None,
            line: None,
            message: "RecursionError: bottom reached",
            trace: "tests/test_longoutput.py:23: in recurse\n    return recurse(n - 1)\n           ^^^^^^^^^^^^^^\ntests/test_longoutput.py:23: in recurse\n    return recurse(n - 1)\n_ _ _ _ _ _ _ _\n\nn = 0\n\n    def recurse(n):\n        if n == 0:\n>           raise RecursionError(\"bottom reached\")\nE           RecursionError: bottom reached\n\ntests/test_longoutput.py:22: RecursionError\n!!! Recursion error detected, but the origin of the recursion could not be located.",
            want: Some("python/tests/test_longoutput.py:22"),
        },
        Row {
            source: "generated/unittest-xmlrunner/combined.junit.xml test_fail",
            runner_dir: "python-unittest",
            classname: Some("test_sample.Mixed"),
            file: Some("test_sample.py"),
            line: None,
            message: "",
            trace: "Traceback (most recent call last):\n  File \"/home/runner/work/samples/samples/python-unittest/test_sample.py\", line 15, in test_fail\n    self.assertEqual([1, 2, 3], [1, 2, 4], \"lists differ <&>\")\nAssertionError: Lists differ: [1, 2, 3] != [1, 2, 4]\n",
            want: Some("python-unittest/test_sample.py:15"),
        },
        Row {
            source: "generated/jest/mixed.jest-junit.xml throws a TypeError",
            runner_dir: "js",
            classname: Some("Mixed suite throws a TypeError"),
            file: None,
            line: None,
            message: "",
            trace: "TypeError: Cannot read properties of null (reading 'foo')\n    at Object.foo (/home/runner/work/samples/samples/js/spec/mixed.spec.js:14:9)\n    at Promise.finally.completed (/home/runner/work/samples/samples/js/node_modules/jest-circus/build/jestAdapterInit.js:1834:28)\n    at new Promise (<anonymous>)\n    at callAsyncCircusFn (/home/runner/work/samples/samples/js/node_modules/jest-circus/build/jestAdapterInit.js:1774:10)",
            want: Some("js/spec/mixed.spec.js:14:9"),
        },
        Row {
            source: "generated/vitest/mixed.vitest-junit.xml rejects asynchronously",
            runner_dir: "js",
            classname: Some("spec/mixed.spec.js"),
            file: None,
            line: None,
            message: "async <boom> & \"quotes\"",
            trace: "Error: async <boom> & \"quotes\"\n ❯ spec/mixed.spec.js:19:11\n",
            want: Some("js/spec/mixed.spec.js:19:11"),
        },
        Row {
            source: "generated/mocha/mixed.mocha-junit-reporter.xml fails with a deep-equal assertion",
            runner_dir: "js",
            classname: None,
            file: None,
            line: None,
            message: "",
            trace: "AssertionError [ERR_ASSERTION]: Expected values to be strictly deep-equal:\n+ actual - expected\n\n  {\n    a: 1,\n  }\n    at Context.<anonymous> (spec/mixed.spec.js:9:12)\n    at process.processImmediate (node:internal/timers:483:21)\n",
            want: Some("js/spec/mixed.spec.js:9:12"),
        },
        Row {
            source: "generated/go-test/calc-mixed.go-test.jsonl TestAddFail",
            runner_dir: "go",
            classname: Some("example.com/corpus/calc"),
            file: None,
            line: None,
            message: "",
            trace: "=== RUN   TestAddFail\n    calc_test.go:17: expected 1+1 = 3, got 2 <&> \"quoted\"\n--- FAIL: TestAddFail (0.00s)\n",
            // Go prints only the file name: the workspace lookup completes it (see below).
            want: Some("calc_test.go:17"),
        },
        Row {
            source: "generated/go-test/panics.go-test.jsonl TestPanics",
            runner_dir: "go",
            classname: Some("example.com/corpus/panics"),
            file: None,
            line: None,
            message: "",
            trace: "--- FAIL: TestPanics (0.00s)\npanic: assignment to entry in nil map [recovered]\n\tpanic: assignment to entry in nil map\n\ngoroutine 19 [running]:\ntesting.tRunner.func1.2({0x508ec0, 0x551cd0})\n\t/usr/lib/go-1.19/src/testing/testing.go:1396 +0x24e\ntesting.tRunner.func1()\n\t/usr/lib/go-1.19/src/testing/testing.go:1399 +0x39f\npanic({0x508ec0, 0x551cd0})\n\t/usr/lib/go-1.19/src/runtime/panic.go:884 +0x212\nexample.com/corpus/panics.TestPanics(0x0?)\n\t/home/runner/work/samples/samples/go/panics/panics_test.go:9 +0x2e\ntesting.tRunner(0xc000007860, 0x52b8d8)\n\t/usr/lib/go-1.19/src/testing/testing.go:1446 +0x10b\n",
            want: Some("go/panics/panics_test.go:9"),
        },
        Row {
            source: "generated/cargo-test/lib.libtest-json.jsonl tests::it_fails_assert_eq",
            runner_dir: "rust",
            classname: None,
            file: None,
            line: None,
            message: "",
            trace: "\nthread 'tests::it_fails_assert_eq' (22946) panicked at src/lib.rs:16:9:\nassertion `left == right` failed: math is broken\n  left: 4\n right: 5\nstack backtrace:\n   0: __rustc::rust_begin_unwind\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/panicking.rs:689:5\n   1: core::panicking::panic_fmt\n             at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/panicking.rs:80:14\n   4: corpus_sample::tests::it_fails_assert_eq\n             at ./src/lib.rs:16:9\n",
            want: Some("rust/src/lib.rs:16:9"),
        },
        Row {
            source: "generated/nextest junit it_panics_on_unwrap",
            runner_dir: "rust",
            classname: None,
            file: None,
            line: None,
            message: "thread 'tests::it_panics_on_unwrap' (22476) panicked at src/lib.rs:22:11",
            trace: "thread 'tests::it_panics_on_unwrap' (22476) panicked at src/lib.rs:22:11:\ncalled `Result::unwrap()` on an `Err` value: \"bad <value> & \\\"quote\\\"\"",
            want: Some("rust/src/lib.rs:22:11"),
        },
        Row {
            source: "peers/action-junit-report/test_results/multiple_failures/test_multiple_failures.xml",
            runner_dir: "",
            classname: Some("com.example.MultipleFailuresTest"),
            file: None,
            line: None,
            message: "First assertion failed",
            trace: "\n        AssertionError: First assertion failed\n        at com.example.MultipleFailuresTest.testWithMultipleFailures(MultipleFailuresTest.java:15)\n        First failure stack trace details\n      ",
            want: Some("com/example/MultipleFailuresTest.java:15"),
        },
        Row {
            source: "peers/action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml",
            runner_dir: "",
            classname: Some(
                "io.sodadata.dependson.soda.integrations.msteams.MicrosoftTeamsCrudTest",
            ),
            file: None,
            line: None,
            message: "\nExpected: <false>\n     but: was <true>",
            trace: "java.lang.AssertionError: \nExpected: <false>\n     but: was <true>\n\tat org.hamcrest.MatcherAssert.assertThat(MatcherAssert.java:20)\n\tat org.hamcrest.MatcherAssert.assertThat(MatcherAssert.java:6)\n\tat io.sodadata.dependson.soda.integrations.msteams.MicrosoftTeamsCrudTest.createWebhook(MicrosoftTeamsCrudTest.java:58)\n\tat java.base/java.lang.reflect.Method.invoke(Method.java:580)\n",
            want: Some(
                "io/sodadata/dependson/soda/integrations/msteams/MicrosoftTeamsCrudTest.java:58",
            ),
        },
        Row {
            source: "generated/rspec/all.rspec-junit.xml fails with a huge single-line diff",
            runner_dir: "ruby",
            classname: Some("spec.longoutput_spec"),
            file: Some("./spec/longoutput_spec.rb"),
            line: None,
            message: "expected: \"aaa...c\"",
            trace: "Failure/Error: expect(\"a\" * 20000 + \"b\").to eq(\"a\" * 20000 + \"c\")\n\n  expected: \"aaaa...c\"\n       got: \"aaaa...b\"\n\n  (compared using ==)\n./spec/longoutput_spec.rb:12:in `block (2 levels) in <top (required)>'",
            want: Some("ruby/spec/longoutput_spec.rb:12"),
        },
        Row {
            source: "peers/test-reporter (xunit v3 trx) FixtureTests.Failing_Test",
            runner_dir: "",
            classname: Some("DotnetTests.XUnitV3Tests.FixtureTests"),
            file: None,
            line: None,
            message: "Assert.Null() Failure: Value is not null",
            trace: "Expected: null\nActual:   Fixture { }\n   at DotnetTests.XUnitV3Tests.FixtureTests.Failing_Test() in /_/reports/dotnet/DotnetTests.XUnitV3Tests/FixtureTests.cs:line 25\n   at System.RuntimeMethodHandle.InvokeMethod(Object target, Void** arguments, Signature sig, Boolean isConstructor)\n",
            want: Some("reports/dotnet/DotnetTests.XUnitV3Tests/FixtureTests.cs:25"),
        },
        Row {
            source: "peers/publish-unit-test-result-action nunit3 NUnit-correct (mono)",
            runner_dir: "",
            classname: Some("NUnit.Tests.Assemblies.MockTestFixture"),
            file: None,
            line: None,
            message: "Intentional failure",
            trace: "at NUnit.Tests.Assemblies.MockTestFixture.FailingTest () [0x00000] in /home/runner/work/samples/samples/src/tests/mock-assembly/MockAssembly.cs:121\n",
            want: Some("src/tests/mock-assembly/MockAssembly.cs:121"),
        },
        Row {
            source: "generated/nunit2-mono/all.nunit2.xml Add(2,2,5) (no source paths in the trace)",
            runner_dir: "dotnet-nunit2",
            classname: Some("Corpus.Sample.MixedTests"),
            file: None,
            line: None,
            message: "  Expected: 5\n  But was:  4\n",
            trace: "at Corpus.Sample.MixedTests.Add (System.Int32 a, System.Int32 b, System.Int32 expected) [0x00000] in <16e46ec4a112474a91526a7764ae6e28>:0\nat (wrapper managed-to-native) System.Reflection.RuntimeMethodInfo.InternalInvoke(System.Reflection.RuntimeMethodInfo,object,object[],System.Exception&)\n",
            want: None,
        },
        Row {
            source: "generated/googletest/all.gtest.xml MathTest.TwoFailuresInOneTest",
            runner_dir: "cpp",
            classname: Some("MathTest"),
            file: Some("gtest_sample.cpp"),
            line: Some(10),
            message: "gtest_sample.cpp:11\nExpected equality of these values:\n  1\n  2\nfirst failure",
            trace: "gtest_sample.cpp:11\nExpected equality of these values:\n  1\n  2\nfirst failure",
            want: Some("gtest_sample.cpp:11"),
        },
        Row {
            source: "generated/catch2/all.catch2-junit.xml addition fails",
            runner_dir: "cpp",
            classname: Some("catch_sample.global"),
            file: None,
            line: None,
            message: "add(2, 2) == 5",
            trace: "\nFAILED:\n  CHECK( add(2, 2) == 5 )\nwith expansion:\n  4 == 5\nat catch_sample.cpp:11\n      ",
            want: Some("catch_sample.cpp:11"),
        },
        Row {
            source: "generated/jest/mixed.jest-junit.xml deep-equal (no frame: no location)",
            runner_dir: "js",
            classname: Some("Mixed suite fails"),
            file: None,
            line: None,
            message: "",
            trace: "assert.deepStrictEqual(received, expected)\n\nExpected value to deeply and strictly equal to:\n  {\"a\": 1, \"b\": [1, 2, 4]}\nReceived:\n  {\"a\": 1, \"b\": [1, 2, 3]}",
            want: None,
        },
    ]
}

#[test]
fn real_traces_give_exact_repo_relative_locations() {
    let mut failures = Vec::new();
    for (i, r) in rows().into_iter().enumerate() {
        let dir = if r.runner_dir.is_empty() {
            WS.to_string()
        } else {
            format!("{WS}/{}", r.runner_dir)
        };
        let run = runner("t", RunnerKind::Test, &dir, "test");
        let case = failing(
            "t",
            r.classname,
            &format!("case{i}"),
            r.file,
            r.line,
            r.message,
            r.trace,
        );
        let v = verify_doc(WS, vec![run], std::slice::from_ref(&case));
        let logs = Default::default();
        let doc = diag::diagnose(
            &Input {
                verify: &v,
                cases: std::slice::from_ref(&case),
                findings: &[],
                logs: &logs,
            },
            &Options::default(),
        );
        let p = doc
            .problems
            .iter()
            .find(|p| p.test.is_some())
            .expect("a problem per failing case");
        let got = p.location.as_ref().map(|l| l.to_string());
        if got.as_deref() != r.want {
            failures.push(format!("{}: got {got:?}, want {:?}", r.source, r.want));
        }
        assert!(
            matches!(p.category, Category::TestFailure | Category::Crash),
            "{}: {:?}",
            r.source,
            p.category
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn windows_paths_under_a_known_workspace_root() {
    // dorny/test-reporter's own oracle places this at DotnetTests.Unit/Calculator.cs:9.
    let trace = "System.DivideByZeroException : Attempted to divide by zero.\n   at DotnetTests.Unit.Calculator.Div(Int32 a, Int32 b) in C:\\Users\\Michal\\Workspace\\dorny\\test-reporter\\reports\\dotnet\\DotnetTests.Unit\\Calculator.cs:line 9\n   at DotnetTests.XUnitTests.CalculatorTests.Exception_In_TargetTest() in C:\\Users\\Michal\\Workspace\\dorny\\test-reporter\\reports\\dotnet\\DotnetTests.XUnitTests\\CalculatorTests.cs:line 33";
    use codeloop::diagnose::location::{PathContext, user_frame};
    let ctx = PathContext::new(
        ["C:\\Users\\Michal\\Workspace\\dorny\\test-reporter".to_string()],
        "",
    );
    assert_eq!(
        user_frame(trace, &ctx, None)
            .map(|l| l.to_string())
            .as_deref(),
        Some("reports/dotnet/DotnetTests.Unit/Calculator.cs:9")
    );
    // The test file named by the report wins over the innermost frame.
    assert_eq!(
        user_frame(
            trace,
            &ctx,
            Some("reports/dotnet/DotnetTests.XUnitTests/CalculatorTests.cs")
        )
        .map(|l| l.to_string())
        .as_deref(),
        Some("reports/dotnet/DotnetTests.XUnitTests/CalculatorTests.cs:33")
    );
    // Without the root, a foreign absolute path is not guessed at.
    assert_eq!(user_frame(trace, &PathContext::default(), None), None);
}

fn sarif_validator() -> jsonschema::Validator {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("tests/fixtures/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // The official schema's `language` patterns have a stray `]` that ECMAScript reads as a
    // literal but Rust regex engines reject; escape it (same meaning) so the schema compiles.
    fn fix(v: &mut serde_json::Value, n: &mut usize) {
        const BAD: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "pattern" && x == BAD {
                        *x = serde_json::json!("^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$");
                        *n += 1;
                    } else {
                        fix(x, n);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| fix(x, n)),
            _ => {}
        }
    }
    let mut schema = schema;
    let mut fixed = 0;
    fix(&mut schema, &mut fixed);
    assert!(fixed >= 1);
    jsonschema::validator_for(&schema).unwrap()
}

/// A diagnosis with every kind of problem, from the table above plus findings and runners.
fn rich_doc() -> DiagnoseDoc {
    let mut runners = vec![
        runner("t", RunnerKind::Test, &format!("{WS}/js"), "npx jest"),
        runner("lint", RunnerKind::Lint, WS, "eslint -f json ."),
        runner("build", RunnerKind::Build, WS, "cargo build"),
    ];
    runners[2].status = RunnerStatus::Failed;
    let mut unavailable = runner("rspec", RunnerKind::Test, WS, "bundle exec rspec");
    unavailable.status = RunnerStatus::Unavailable;
    unavailable.hint = Some("install Ruby and bundler".into());
    runners.push(unavailable);
    let mut cases = Vec::new();
    for (i, r) in rows().into_iter().enumerate() {
        cases.push(failing(
            "t",
            r.classname,
            &format!("case {i} \"q\" <x>"),
            r.file,
            r.line,
            r.message,
            r.trace,
        ));
    }
    let findings = vec![
        Finding {
            runner: "lint".into(),
            tool: "eslint".into(),
            rule: Some("no-unused-vars".into()),
            severity: Severity::Warning,
            message: "'x' is assigned a value but never used.".into(),
            file: Some(format!("{WS}/js/src/a b.js")),
            line: Some(3),
            column: Some(7),
            end_line: None,
            end_column: None,
        },
        Finding {
            runner: "build".into(),
            tool: "rustc".into(),
            rule: Some("E0308".into()),
            severity: Severity::Error,
            message: "mismatched types".into(),
            file: Some("src/main.rs".into()),
            line: Some(4),
            column: Some(18),
            end_line: None,
            end_column: None,
        },
    ];
    let v = verify_doc(WS, runners, &cases);
    let logs = Default::default();
    diag::diagnose(
        &Input {
            verify: &v,
            cases: &cases,
            findings: &findings,
            logs: &logs,
        },
        &Options::default(),
    )
}

#[test]
fn sarif_validates_against_the_official_schema() {
    let doc = rich_doc();
    let sarif = serde_json::to_value(output::sarif(&doc, "0.1.0")).unwrap();
    let v = sarif_validator();
    let errors: Vec<String> = v.iter_errors(&sarif).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let located = doc.problems.iter().filter(|p| p.location.is_some()).count();
    assert_eq!(results.len(), located);
    // Paths are repo-relative URIs (a space is percent-encoded), regions 1-based.
    let uris: Vec<&str> = results
        .iter()
        .map(|r| {
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert!(uris.contains(&"js/src/a%20b.js"), "{uris:?}");
    assert!(uris.iter().all(|u| !u.starts_with('/')), "{uris:?}");
    // A result that breaks the schema is caught by the validator (the test can fail).
    let mut broken = sarif.clone();
    broken["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!v.is_valid(&broken));
}

#[test]
fn gitlab_code_quality_has_unique_fingerprints_and_severities() {
    let doc = rich_doc();
    let cq = serde_json::to_value(output::gitlab_code_quality(&doc)).unwrap();
    let items = cq.as_array().unwrap();
    assert!(!items.is_empty());
    let mut fps = std::collections::HashSet::new();
    for it in items {
        for k in ["description", "check_name", "fingerprint", "severity"] {
            assert!(it[k].is_string(), "{k} in {it}");
        }
        assert!(it["location"]["path"].is_string());
        assert!(it["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
        assert!(fps.insert(it["fingerprint"].as_str().unwrap().to_string()));
        assert!(
            ["info", "minor", "major", "critical", "blocker"]
                .contains(&it["severity"].as_str().unwrap())
        );
    }
    let build = items
        .iter()
        .find(|i| i["location"]["path"] == "src/main.rs")
        .unwrap();
    assert_eq!(build["severity"], "blocker");
}

#[test]
fn tasks_are_ordered_build_crash_failures_lint() {
    let doc = rich_doc();
    let order: Vec<u8> = doc
        .tasks
        .iter()
        .map(|t| diag::priority(t.category))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(doc.tasks[0].category, Category::BuildError);
    assert_eq!(doc.tasks.last().unwrap().category, Category::Lint);
    // Every problem belongs to exactly one task.
    let mut covered: Vec<&String> = doc.tasks.iter().flat_map(|t| &t.problems).collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered.len(), doc.problems.len());
}

#[test]
fn annotations_respect_caps_and_escape() {
    let doc = rich_doc();
    let lines = output::annotations(&doc, AnnotationLimits::default());
    assert!(lines.len() <= 50);
    for l in &lines {
        assert!(!l.contains('\n') && !l.contains('\r'), "{l}");
        assert!(
            l.starts_with("::error ") || l.starts_with("::warning ") || l.starts_with("::notice "),
            "{l}"
        );
    }
    let errors = lines.iter().filter(|l| l.starts_with("::error")).count();
    assert!(errors <= 10, "{errors}");
    // More error tasks than fit: a closing notice counts those left out.
    let error_tasks = doc.tasks.len() - lines.len() + 1;
    assert!(error_tasks > 1);
    let last = lines.last().unwrap();
    assert!(last.starts_with("::notice title=codeloop::"), "{last}");
    assert!(last.contains("more problem(s) not annotated"), "{last}");
    // The file property of the eslint finding is escaped (no raw `,` or `:` in properties).
    let lint = lines.iter().find(|l| l.contains("js/src/a b.js")).unwrap();
    assert!(
        lint.starts_with("::warning file=js/src/a b.js,line=3,col=7,title="),
        "{lint}"
    );
    let title = lint
        .split("title=")
        .nth(1)
        .unwrap()
        .split("::")
        .next()
        .unwrap();
    assert!(!title.contains(':') && !title.contains(','), "{title}");
}

#[test]
fn diagnose_command_writes_outputs_and_resolves_locations() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(ws.join("go/calc")).unwrap();
    std::fs::write(ws.join("go/calc/calc_test.go"), "package calc\n").unwrap();
    std::fs::create_dir_all(ws.join("src/test/java/com/example")).unwrap();
    std::fs::write(
        ws.join("src/test/java/com/example/MultipleFailuresTest.java"),
        "class T {}\n",
    )
    .unwrap();
    let wss = ws.to_string_lossy().to_string();
    let go = runner(
        "go",
        RunnerKind::Test,
        &format!("{wss}/go"),
        "go test -json ./...",
    );
    let mvn = runner("maven", RunnerKind::Test, &wss, "mvn test");
    let cases = vec![
        failing(
            "go",
            Some("example.com/corpus/calc"),
            "TestAddFail",
            None,
            None,
            "",
            "=== RUN   TestAddFail\n    calc_test.go:17: expected 1+1 = 3, got 2\n--- FAIL: TestAddFail (0.00s)\n",
        ),
        failing(
            "maven",
            Some("com.example.MultipleFailuresTest"),
            "testWithMultipleFailures",
            None,
            None,
            "First assertion failed",
            "AssertionError: First assertion failed\n        at com.example.MultipleFailuresTest.testWithMultipleFailures(MultipleFailuresTest.java:15)\n",
        ),
        failing(
            "go",
            Some("example.com/corpus/calc"),
            "TestInContainer",
            None,
            None,
            "",
            "panic: boom\n\ngoroutine 7 [running]:\nexample.com/corpus/calc.TestInContainer(0x0?)\n\t/app/go/calc/calc_test.go:30 +0x2e\n",
        ),
        failing(
            "go",
            Some("example.com/corpus/calc"),
            "TestGone",
            None,
            None,
            "",
            "    gone_test.go:3: nope\n",
        ),
    ];
    let mut v = verify_doc(&wss, vec![go, mvn], &cases);
    v.runners[0].counts.tests = 3;
    v.runners[0].counts.failed = 3;
    v.runners[1].counts.tests = 1;
    v.runners[1].counts.failed = 1;
    let arts = ws.join(".codeloop");
    write_run(&arts, &v, &cases, &[]);
    let out = Command::new(bin())
        .args(["diagnose", "--cwd"])
        .arg(&ws)
        .arg("--annotations")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = artifact::resolve(&arts, None).unwrap();
    let doc = run.diagnose().unwrap();
    let loc = |name: &str| {
        doc.problems
            .iter()
            .find(|p| p.test.as_deref().unwrap_or("").ends_with(name))
            .and_then(|p| p.location.clone())
            .unwrap()
    };
    let g = loc("TestAddFail");
    assert_eq!(
        (g.to_string().as_str(), g.exists),
        ("go/calc/calc_test.go:17", Some(true))
    );
    let j = loc("testWithMultipleFailures");
    assert_eq!(
        (j.to_string().as_str(), j.exists),
        (
            "src/test/java/com/example/MultipleFailuresTest.java:15",
            Some(true)
        )
    );
    let c = loc("TestInContainer");
    assert_eq!(
        (c.to_string().as_str(), c.exists),
        ("go/calc/calc_test.go:30", Some(true))
    );
    let gone = loc("TestGone");
    assert_eq!(
        (gone.to_string().as_str(), gone.exists),
        ("gone_test.go:3", Some(false))
    );
    let go_task = doc
        .tasks
        .iter()
        .find(|t| t.title.contains("TestAddFail"))
        .unwrap();
    assert_eq!(
        go_task.reproduce.as_deref(),
        Some("go test -run '^TestAddFail$' example.com/corpus/calc")
    );
    for f in ["report/codeloop.sarif", "report/gl-code-quality.json"] {
        assert!(run.file(f).is_file(), "{f}");
    }
    let sarif: serde_json::Value = artifact::read_json(&run.file("report/codeloop.sarif")).unwrap();
    assert!(sarif_validator().is_valid(&sarif));
    // The manifest now lists the new files.
    let m: Manifest = artifact::read_json(&run.file(artifact::MANIFEST)).unwrap();
    assert!(m.files.iter().any(|f| f.path == "diagnose.json"));
    assert!(m.files.iter().any(|f| f.path == "report/codeloop.sarif"));
    assert!(
        stdout.contains("::error file=go/calc/calc_test.go,line=17,"),
        "{stdout}"
    );
}

#[test]
fn diagnose_refuses_an_incomplete_run() {
    let tmp = tempfile::tempdir().unwrap();
    let arts = tmp.path().join(".codeloop");
    let v = verify_doc("/x", vec![], &[]);
    let run = write_run(&arts, &v, &[], &[]);
    std::fs::remove_file(run.file(artifact::MANIFEST)).unwrap();
    let out = Command::new(bin())
        .args(["diagnose", "--cwd"])
        .arg(tmp.path())
        .arg("--run")
        .arg(&run.id)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("incomplete") && err.contains(&run.id), "{err}");
    assert!(err.contains("hint:"), "{err}");
}

/// pytest's `junit_family=xunit1` writes each testcase's `line=` from its 0-based location
/// (`tests/fixtures/pytest-xunit1/README.md`): through `codeloop ci --report`, the test's own
/// line is its `def` (1-based), a traceback frame in the test file still wins over it, and a
/// failure with no frame there (a conftest fixture that raised) points at the `def`, not the
/// line before it.
#[test]
fn pytest_xunit1_lines_are_one_based_end_to_end() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytest-xunit1");
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path();
    std::fs::create_dir_all(ws.join("tests")).unwrap();
    for f in [
        "report-xunit1.xml",
        "tests/test_handlers.py",
        "tests/conftest.py",
    ] {
        std::fs::copy(fixture.join(f), ws.join(f)).unwrap();
    }
    let out = Command::new(bin())
        .args([
            "ci",
            "--format",
            "json",
            "--report",
            "report-xunit1.xml",
            "--cwd",
        ])
        .arg(ws)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    let run_dir = Path::new(doc["run_dir"].as_str().unwrap());
    // The cases keep the `def` lines (8, 17, 22 in the source), as every other dialect does.
    let lines: Vec<(String, Option<u64>)> = std::fs::read_to_string(run_dir.join("cases.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let c: serde_json::Value = serde_json::from_str(l).unwrap();
            (c["name"].as_str().unwrap().to_string(), c["line"].as_u64())
        })
        .collect();
    let line = |name: &str| lines.iter().find(|(n, _)| n == name).and_then(|(_, l)| *l);
    assert_eq!(line("test_handle_ok"), Some(8), "{lines:?}");
    assert_eq!(line("test_handle_passes"), Some(12), "{lines:?}");
    assert_eq!(line("test_route"), Some(17), "{lines:?}");
    assert_eq!(line("test_handle_with_database"), Some(22), "{lines:?}");
    // diagnose.json: the failing assert for the two failures (the traceback's frame), the
    // `def` for the setup error.
    let diag: DiagnoseDoc =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("diagnose.json")).unwrap())
            .unwrap();
    let loc = |name: &str| {
        let p = diag
            .problems
            .iter()
            .find(|p| p.test.as_deref().is_some_and(|t| t.ends_with(name)))
            .unwrap_or_else(|| panic!("no problem for {name}: {diag:#?}"));
        let l = p.location.as_ref().unwrap();
        (l.file.as_str(), l.line)
    };
    assert_eq!(loc("test_handle_ok"), ("tests/test_handlers.py", Some(9)));
    assert_eq!(loc("test_route"), ("tests/test_handlers.py", Some(19)));
    assert_eq!(
        loc("test_handle_with_database"),
        ("tests/test_handlers.py", Some(22))
    );
}
