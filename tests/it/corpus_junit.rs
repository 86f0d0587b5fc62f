//! JUnit XML conformance: every `junit-xml*` input row of MANIFEST.tsv agrees with its oracle
//! (EnricoMi stats, dorny outputs, mikepenz assertions, the tools' own summary lines), or is
//! listed below as an exception whose reason comes from the oracle's documented semantics or
//! the manifest notes; files the oracle rejects are rejected.

use codeloop::model::Counts;

use crate::corpus::{Exception, Row, check_rows};

fn is_junit_row(r: &Row) -> bool {
    r.format.starts_with("junit-xml") || r.format == "xml-other(<suites>)"
}

const fn counts(passed: u64, failed: u64, errored: u64, skipped: u64, flaky: u64) -> Counts {
    Counts {
        tests: passed + failed + errored + skipped,
        passed,
        failed,
        errored,
        skipped,
        flaky,
    }
}

/// Per-run counting of retried tests, shared by the mikepenz exceptions below.
const MIKEPENZ_RETRIES: &str = "mikepenz/action-junit-report's test asserts counts with \
    checkRetries=true, which merges <testcase> elements of the same name into one test; we \
    count one test per <testcase> element (as EnricoMi does), so every attempt is a test";

const EXCEPTIONS: &[Exception] = &[
    // --- what the file cannot carry (manifest / expected.json notes) ---
    Exception {
        path: "generated/nextest/all.junit.xml",
        reason: "nextest JUnit only contains tests that were run: the 2 #[ignore]d tests nextest \
                 counts as skipped are absent from the XML (in_file_counts in the notes)",
        ours: counts(8, 8, 0, 0, 1),
    },
    Exception {
        path: "generated/nextest/all.junit-lean.xml",
        reason: "nextest JUnit only contains tests that were run: the 2 #[ignore]d tests nextest \
                 counts as skipped are absent from the XML (in_file_counts in the notes)",
        ours: counts(8, 8, 0, 0, 1),
    },
    Exception {
        path: "generated/node-test/mixed.node-junit.xml",
        reason: "node:test writes a test that has subtests as a <testsuite>, indistinguishable \
                 from a describe() block, with its own failure only in the suite's failures \
                 attribute (expected.json notes): the file holds 15 testcases for 16 tests",
        ours: counts(4, 7, 0, 4, 0),
    },
    Exception {
        path: "generated/node-test/all.node-junit.xml",
        reason: "node:test writes a test that has subtests as a <testsuite> (its own failure only \
                 in the suite's failures attribute): the file holds 25 testcases for 26 tests",
        ours: counts(8, 13, 0, 4, 0),
    },
    Exception {
        path: "generated/tap-perl/all.tap-formatter-junit.xml",
        reason: "TAP::Formatter::JUnit writes '# skip' tests as plain passing <testcase>s named \
                 only by number (expected.json notes); the directive survives only inside the \
                 suite's raw <system-out> TAP text, so the 4 skips read as passes",
        ours: counts(214, 7, 0, 0, 0),
    },
    // --- mikepenz/action-junit-report: option-dependent assertions ---
    Exception {
        path: "peers/action-junit-report/test_results/corrupt-junit/e2e-tests/corrupt/target/sf-reports/TEST-test.CorruptTest.xml",
        reason: "the file is cut inside a CDATA section (xml_wellformed=no); mikepenz drops the \
                 whole file (0 tests), we keep the testcase read before the cut and report a \
                 parse error with its position (line 18)",
        ours: counts(0, 1, 0, 0, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/flaky_retries/flaky_all_failures.xml",
        reason: MIKEPENZ_RETRIES,
        ours: counts(0, 2, 1, 0, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/flaky_retries/flaky_success_first.xml",
        reason: MIKEPENZ_RETRIES,
        ours: counts(1, 1, 1, 0, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/flaky_retries/flaky_with_classname_file.xml",
        reason: MIKEPENZ_RETRIES,
        ours: counts(3, 1, 1, 0, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/junit-server-test/report.xml",
        reason: MIKEPENZ_RETRIES,
        ours: counts(2, 1, 0, 1, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/junit-web-test/expectedRetries.xml",
        reason: "the manifest notes: 7 with retries merged (checkRetries=true), 8 without \
                 (testParser.test.ts line 1111); we count one test per <testcase> element",
        ours: counts(5, 2, 0, 1, 0),
    },
    Exception {
        path: "peers/action-junit-report/test_results/multiple_failures/test_multiple_errors.xml",
        reason: "mikepenz has no error category: its failedCount includes testcases whose \
                 result is <error>; we count those two as errored (one has <failure> and \
                 <error>: the error wins)",
        ours: counts(1, 0, 2, 0, 0),
    },
    // --- EnricoMi/publish-unit-test-result-action: stats.runs* ---
    Exception {
        path: "peers/publish-unit-test-result-action/python/test/files/junit-xml/junit.multiresult.xml",
        reason: "EnricoMi's runs stats count one run per result element (runs_succ is -2); \
                 its unique-test stats rank error > failure > skipped, and so do we: a plain \
                 <skipped/> beside a <failure>/<error> does not hide it (only a skip that marks \
                 an expected failure does: Catch2 !mayfail, node:test todo, xfail). We match \
                 those unique-test stats (succ=1 fail=1 err=1 skip=1)",
        ours: counts(1, 1, 1, 1, 0),
    },
    Exception {
        path: "peers/publish-unit-test-result-action/python/test/files/junit-xml/no-cases-but-tests.xml",
        reason: "the file has no <testcase> elements; EnricoMi takes the counts from the \
                 testsuite's attributes, we report the cases the file holds (none)",
        ours: counts(0, 0, 0, 0, 0),
    },
    Exception {
        path: "peers/publish-unit-test-result-action/python/test/files/junit-xml/tst/disabled.xml",
        reason: "EnricoMi's runs stats ignore status='disabled' (runs_succ=11); its own \
                 unique-test stats count those 5 tests as skipped (tests_skip=5), as we do",
        ours: counts(6, 19, 1, 5, 0),
    },
    // --- dorny/test-reporter ---
    Exception {
        path: "peers/test-reporter/__tests__/fixtures/test-errors/jest/jest-test-results.xml",
        reason: "both testcases are jest-junit's reportTestSuiteErrors entries (classname 'Test \
                 suite failed to run'); dorny counts them as failed tests, jest's own summary \
                 counts a suite that failed to load as a failed suite with 0 tests \
                 (generated/jest/broken-suite expected.json), so they are suite errors here",
        ours: counts(0, 0, 0, 0, 0),
    },
];

#[test]
fn junit_corpus_rows_agree_with_their_oracles() {
    let problems = check_rows(is_junit_row, EXCEPTIONS);
    assert!(
        problems.is_empty(),
        "{} junit rows disagree:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// One small representative file per dialect; the normalized cases (and suite errors) are
/// snapshotted. Texts are shortened to their first line(s) so that snapshots stay readable, and
/// durations are rounded to milliseconds.
const SNAPSHOT_FILES: &[(&str, &str)] = &[
    (
        "surefire",
        "peers/action-junit-report/test_results/tests/utils/target/surefire-reports/TEST-action.surefire.report.calc.CalcUtilsTest.xml",
    ),
    (
        "surefire_flaky",
        "peers/action-junit-report/test_results/maven_surefire_flaky/surefire-report.xml",
    ),
    ("pytest_xunit2", "generated/pytest/mixed.junit-xunit2.xml"),
    (
        "pytest_xunit1",
        "generated/pytest/mixed.junit-xunit1-logall.xml",
    ),
    (
        "jest_junit",
        "generated/jest/mixed.jest-junit-fileattr-console.xml",
    ),
    (
        "jest_junit_suite_error",
        "generated/jest/broken-suite.jest-junit-fileattr-console.xml",
    ),
    ("vitest", "generated/vitest/mixed.vitest-junit.xml"),
    (
        "vitest_load_error",
        "generated/vitest/broken-suite.vitest-junit.xml",
    ),
    (
        "gotestsum",
        "generated/go-test/calc-mixed.gotestsum-junit.xml",
    ),
    (
        "nextest",
        "peers/action-junit-report/test_results/nextest/basic.xml",
    ),
    ("libtest", "generated/cargo-test/lib.libtest-junit.xml"),
    ("phpunit", "generated/phpunit/mixed.phpunit-junit.xml"),
    ("ctest", "generated/ctest/all.ctest-junit.xml"),
    ("catch2", "generated/catch2/all.catch2-junit.xml"),
    ("googletest", "generated/googletest/mathtest-only.gtest.xml"),
    (
        "mocha_junit_reporter",
        "generated/mocha/mixed.mocha-junit-reporter.xml",
    ),
    ("mocha_xunit", "generated/mocha/mixed.mocha-xunit.xml"),
    ("node_test", "generated/node-test/mixed.node-junit.xml"),
    ("rspec", "generated/rspec/mixed.rspec-junit.xml"),
    (
        "xunit_nesting",
        "peers/publish-unit-test-result-action/python/test/files/junit-xml/testsuite-in-testsuite.xml",
    ),
];

fn short(s: &str) -> String {
    let mut out: String = s.lines().take(3).collect::<Vec<_>>().join("\n");
    if out.len() > 200 {
        let mut cut = 200;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

#[test]
fn junit_dialect_snapshots() {
    use codeloop::parsers::{self, Collector, Format, ParseOptions};
    for (name, path) in SNAPSHOT_FILES {
        let f = std::fs::File::open(crate::common::corpus_dir().join(path)).unwrap();
        let mut c = Collector::keep_all();
        let r = parsers::parse(f, path, None, &ParseOptions::default(), &mut c);
        assert_eq!(r.as_ref().map(|p| p.format), Ok(Format::JunitXml), "{path}");
        let cases: Vec<serde_json::Value> = c
            .all
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|mut k| {
                k.duration = k.duration.map(|d| (d * 1000.0).round() / 1000.0);
                if let Some(f) = k.failure.as_mut() {
                    f.message = f.message.as_deref().map(short);
                    f.trace = f.trace.as_deref().map(short);
                }
                k.output = k.output.as_deref().map(short);
                k.skip_reason = k.skip_reason.as_deref().map(short);
                serde_json::to_value(&k).unwrap()
            })
            .collect();
        let suite_errors: Vec<serde_json::Value> = c
            .suite_errors
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.message = short(&e.message);
                e.trace = e.trace.as_deref().map(short);
                serde_json::to_value(&e).unwrap()
            })
            .collect();
        let doc = serde_json::json!({
            "file": path,
            "counts": c.counts,
            "cases": cases,
            "suite_errors": suite_errors,
        });
        insta::assert_yaml_snapshot!(format!("junit_{name}"), doc);
    }
}

#[test]
fn auto_detection_picks_junit_for_every_junit_row_and_rejects_other_xml() {
    use codeloop::parsers::{self, Collector, Format, ParseOptions};
    let mut checked = 0;
    for row in crate::corpus::rows().iter().filter(|r| is_junit_row(r)) {
        let f = std::fs::File::open(crate::common::corpus_dir().join(&row.path)).unwrap();
        let mut c = Collector::default();
        let r = parsers::parse(f, &row.path, None, &ParseOptions::default(), &mut c);
        if row.format.starts_with("junit-xml") {
            // Sniffing happens before parsing: a parse error still names the format it chose,
            // so ask the sniffer directly too.
            let head = std::fs::read(crate::common::corpus_dir().join(&row.path)).unwrap();
            let head = &head[..head.len().min(parsers::SNIFF_BYTES)];
            assert_eq!(
                parsers::sniff(head, &row.path),
                Some(Format::JunitXml),
                "{}",
                row.path
            );
            if let Ok(p) = &r {
                assert_eq!(p.format, Format::JunitXml, "{}", row.path);
            }
        } else {
            let e = r.expect_err(&row.path);
            assert!(e.message.contains("root element is <suites>"), "{e}");
        }
        checked += 1;
    }
    assert!(checked > 100, "only {checked} junit rows");
}

/// Truncated and corrupted copies of every small junit corpus file: parsing never panics or
/// hangs; a truncated file either parses (cut in trailing whitespace) or is a parse error
/// with a position, and never yields more tests than the whole file.
#[test]
fn truncated_and_corrupted_junit_files_never_panic() {
    use codeloop::parsers::{self, Collector, Format, ParseOptions};
    let mut files = 0;
    for row in crate::corpus::rows()
        .iter()
        .filter(|r| r.format.starts_with("junit-xml"))
    {
        let bytes = std::fs::read(crate::common::corpus_dir().join(&row.path)).unwrap();
        if bytes.len() > 20_000 {
            continue;
        }
        files += 1;
        let mut whole = Collector::default();
        let _ = parsers::parse(
            &bytes[..],
            &row.path,
            Some(Format::JunitXml),
            &ParseOptions::default(),
            &mut whole,
        );
        let step = (bytes.len() / 40).max(1);
        for cut in (1..bytes.len()).step_by(step) {
            let mut c = Collector::default();
            let r = parsers::parse(
                &bytes[..cut],
                &row.path,
                Some(Format::JunitXml),
                &ParseOptions::default(),
                &mut c,
            );
            assert!(
                c.counts.tests <= whole.counts.tests,
                "{} cut at {cut}: {} tests > {}",
                row.path,
                c.counts.tests,
                whole.counts.tests
            );
            if let Err(e) = r
                && e.position.is_none()
            {
                // Only "no root element" errors come without a position.
                assert!(e.message.contains("no <testsuites>"), "{}: {e}", row.path);
            }
            // Corruption: a byte flipped to '<', '&', a control character or invalid UTF-8.
            let mut bad = bytes.clone();
            bad[cut] = [b'<', b'&', 0x01, 0xff][cut % 4];
            let mut c = Collector::default();
            let _ = parsers::parse(
                &bad[..],
                &row.path,
                Some(Format::JunitXml),
                &ParseOptions::default(),
                &mut c,
            );
        }
    }
    assert!(files > 50, "only {files} small junit files");
}
