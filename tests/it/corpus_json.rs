//! Conformance of the JSON and TAP parsers against tests/corpus: counts agree with each
//! row's oracle (or are a reasoned exception), sniffing picks the right format for every
//! input, files the oracle rejects are rejected with a position, snapshots of one small
//! file per format, and property tests (no panic on arbitrary or truncated input).

use codeloop::model::{Case, Counts, SuiteError};
use codeloop::parsers::{self, Collector, Format, ParseOptions};
use proptest::prelude::*;
use serde::Serialize;

use crate::common::corpus_dir;
use crate::corpus::{Exception, Row, check_rows, parse_row, rows};

/// The manifest's format names this module owns, and the registry format each must sniff as.
const FORMATS: &[(&str, Format)] = &[
    ("pytest-json-report", Format::PytestJson),
    ("rspec-json", Format::RspecJson),
    ("jest-json", Format::JestJson),
    ("go-test-json", Format::GoTestJson),
    ("tap", Format::Tap),
    ("mocha-json", Format::MochaJson),
    ("ctrf-json", Format::CtrfJson),
    ("libtest-json", Format::LibtestJson),
    ("googletest-json", Format::GoogletestJson),
    ("dart-json", Format::DartJson),
];

/// The manifest's format column is `name` or `name  [producer detail]`.
fn base_format(row: &Row) -> &str {
    row.format.split("  [").next().unwrap_or("").trim()
}

fn expected_format(row: &Row) -> Option<Format> {
    FORMATS
        .iter()
        .find(|(n, _)| *n == base_format(row))
        .map(|(_, f)| *f)
}

/// JSON inputs the oracle (EnricoMi's `.exception`) rejects.
fn is_rejected_json(row: &Row) -> bool {
    row.must_be_rejected() && row.path.contains("/files/json/")
}

fn mine(row: &Row) -> bool {
    expected_format(row).is_some() || is_rejected_json(row)
}

fn counts(tests: u64, passed: u64, failed: u64, errored: u64, skipped: u64, flaky: u64) -> Counts {
    Counts {
        tests,
        passed,
        failed,
        errored,
        skipped,
        flaky,
    }
}

fn exceptions() -> Vec<Exception> {
    vec![
        Exception {
            path: "generated/catch2/all.catch2-tap.tap",
            reason: "Catch2's TAP reporter writes one line per assertion, not per test case, and \
                     has no way to mark [!mayfail]/[!shouldfail] cases (expected.json notes: \
                     'TAP: one line per assertion, not per test case'); we count the 10 points \
                     as written, the tool's summary counts 9 test cases",
            ours: counts(10, 3, 7, 0, 0, 0),
        },
        Exception {
            path: "peers/github-test-reporter/ctrf-reports/ctrf-report.json",
            reason: "manifest notes 'pending=1 other=1': the oracle is the file's own summary, \
                     which counts pending and other apart from skipped; we count pending and \
                     other as skipped (jest's and mocha's CTRF reporters write skipped tests as \
                     pending, and the tools count them as skipped)",
            ours: counts(10, 5, 2, 0, 3, 3),
        },
        Exception {
            path: "peers/publish-unit-test-result-action/python/test/files/mocha/tests.json",
            reason: "mocha has no error category (generated/mocha notes: 'Mocha has no error \
                     category; runtime errors are failures'); EnricoMi splits mocha failures \
                     into fail/error by its own rule, so its fail=1 err=1 is our failed=2",
            ours: counts(5, 2, 2, 0, 1, 0),
        },
    ]
}

#[test]
fn json_and_tap_rows_agree_with_their_oracles() {
    let problems = check_rows(mine, &exceptions());
    assert!(
        problems.is_empty(),
        "{} rows disagree:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_exception_is_a_row_of_this_module() {
    let all = rows();
    for e in exceptions() {
        let row = all.iter().find(|r| r.path == e.path);
        assert!(
            row.is_some_and(mine),
            "exception for an unknown row: {}",
            e.path
        );
        assert!(e.reason.len() > 40, "give a real reason for {}", e.path);
    }
}

#[test]
fn sniffing_picks_the_right_format_for_every_input() {
    let mut wrong = Vec::new();
    let mut checked = 0;
    for row in rows().iter().filter(|r| expected_format(r).is_some()) {
        let (_, r) = parse_row(row);
        let want = expected_format(row).expect("filtered");
        checked += 1;
        match r {
            Ok(p) if p.format == want => {}
            Ok(p) => wrong.push(format!(
                "{}: sniffed {:?}, want {want:?}",
                row.path, p.format
            )),
            Err(e) => wrong.push(format!("{}: {e}", row.path)),
        }
    }
    assert!(checked >= 60, "only {checked} rows");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn rejected_json_files_fail_with_a_position() {
    let rejected: Vec<Row> = rows().into_iter().filter(is_rejected_json).collect();
    assert_eq!(
        rejected.len(),
        3,
        "empty.json, malformed-json.json, non-json.json"
    );
    for row in &rejected {
        let (c, r) = parse_row(row);
        let e = r.expect_err(&row.path);
        assert_eq!(c.counts.tests, 0);
        if row.path.ends_with("empty.json") {
            assert!(e.message.contains("empty"), "{}: {e}", row.path);
        } else {
            let p = e
                .position
                .unwrap_or_else(|| panic!("{}: no position in {e}", row.path));
            assert_eq!(p.line, 1, "{}: {e}", row.path);
        }
        if row.path.ends_with("malformed-json.json") {
            // `{"key": "val", malformed: "key"}`: the bare key is at column 16.
            assert_eq!(e.position.map(|p| p.column), Some(16), "{e}");
            assert!(e.message.contains("malformed JSON"), "{e}");
        }
    }
}

#[test]
fn suite_errors_match_the_manifest_notes() {
    // Rows whose notes say the tool reported a suite-level problem the counts do not show.
    let cases = [
        ("generated/jest/broken-suite.jest.json", "load"),
        ("generated/jest/all.jest.json", "load"),
        ("generated/vitest/broken-suite.vitest.json", "load"),
        ("generated/vitest/all.vitest.json", "load"),
        ("generated/vitest/broken-suite.vitest-tap.tap", "load"),
        ("generated/vitest/broken-suite.vitest-tap-flat.tap", "load"),
        ("generated/vitest/all.vitest-tap.tap", "load"),
        ("generated/vitest/all.vitest-tap-flat.tap", "load"),
        ("generated/tap-perl/bailout.tap", "bailout"),
        ("generated/tap-perl/dies.tap", "plan"),
    ];
    let all = rows();
    for (path, kind) in cases {
        let row = all.iter().find(|r| r.path == path).expect(path);
        let (c, r) = parse_row(row);
        r.unwrap_or_else(|e| panic!("{path}: {e}"));
        let kinds: Vec<&str> = c.suite_errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec![kind], "{path}: {:?}", c.suite_errors);
    }
    // And files without such problems have none.
    for path in [
        "generated/jest/mixed.jest.json",
        "generated/tap-perl/mixed.tap",
        "generated/tap-perl/skipall.tap",
        "generated/node-test/mixed.node-tap.tap",
        "generated/go-test/calc-mixed.go-test.jsonl",
    ] {
        let row = all.iter().find(|r| r.path == path).expect(path);
        let (c, _) = parse_row(row);
        assert!(c.suite_errors.is_empty(), "{path}: {:?}", c.suite_errors);
    }
}

#[test]
fn nextest_retries_are_flaky() {
    let all = rows();
    let row = all
        .iter()
        .find(|r| r.path == "generated/nextest/all.libtest-json.jsonl")
        .expect("nextest row");
    let (c, r) = parse_row(row);
    r.unwrap();
    // "8 passed (1 flaky)".
    assert_eq!(c.counts.flaky, 1);
    let flaky = c.problems.iter().find(|k| k.flaky).expect("a flaky case");
    assert_eq!(
        (flaky.name.as_str(), flaky.retries),
        ("flaky_passes_on_retry", 1)
    );
}

// ---- real-world JSON leniency, end to end through `parsers::parse` -----------------

fn parse_auto(
    bytes: &[u8],
) -> (
    Collector<'static>,
    Result<parsers::Parsed, parsers::ParseError>,
) {
    parsers::parse_bytes(bytes, "report.json", None)
}

#[test]
fn bom_nan_control_chars_and_lone_surrogates_are_read_with_positioned_warnings() {
    let doc = "\u{feff}{\"numTotalTests\": 2, \"testResults\": [{\"name\": \"/w/a.test.js\", \"status\": \"failed\",\n\
               \"assertionResults\": [\n\
               {\"title\": \"ok\", \"status\": \"passed\", \"duration\": NaN},\n\
               {\"title\": \"bad \\ud800\", \"status\": \"failed\", \"duration\": 1e400, \"failureMessages\": [\"Error: x\u{1}y\"]}\n\
               ]}]}";
    let (c, r) = parse_auto(doc.as_bytes());
    assert_eq!(r.unwrap().format, Format::JestJson);
    assert_eq!(
        (c.counts.tests, c.counts.passed, c.counts.failed),
        (2, 1, 1)
    );
    let bad = &c.problems[0];
    assert_eq!(bad.name, "bad \u{fffd}");
    assert_eq!(bad.duration, None);
    assert_eq!(
        bad.failure.as_ref().unwrap().message.as_deref(),
        Some("xy"),
        "control characters are removed from messages"
    );
    let lines: Vec<u64> = c
        .warnings
        .iter()
        .map(|(p, _)| p.expect("positioned").line)
        .collect();
    // NaN on line 3; the lone surrogate, 1e400 and the control character on line 4.
    assert_eq!(lines, vec![3, 4, 4, 4], "{:?}", c.warnings);
}

#[test]
fn utf16_reports_are_transcoded() {
    let doc =
        r#"{"exitcode": 0, "root": "/w", "tests": [{"nodeid": "t.py::a", "outcome": "passed"}]}"#;
    let mut bytes = vec![0xFF, 0xFE];
    for u in doc.encode_utf16() {
        bytes.extend_from_slice(&u.to_le_bytes());
    }
    let (c, r) = parse_auto(&bytes);
    assert_eq!(r.unwrap().format, Format::PytestJson);
    assert_eq!(c.counts.passed, 1);
}

#[test]
fn deep_nesting_is_a_positioned_error_not_a_crash() {
    let mut doc = String::from("{\"numTotalTests\": 1, \"testResults\": ");
    doc.push_str(&"[".repeat(200_000));
    let (c, r) = parse_auto(doc.as_bytes());
    let e = r.unwrap_err();
    assert!(e.message.contains("deeper than"), "{e}");
    assert_eq!(e.position.map(|p| p.line), Some(1));
    assert_eq!(c.counts.tests, 0);
}

#[test]
fn truncated_reports_keep_what_was_read_and_say_where_they_end() {
    let full =
        std::fs::read_to_string(corpus_dir().join("generated/rspec/mixed.rspec.json")).unwrap();
    // Cut in the middle of the 6th example.
    let cut = full
        .match_indices("\"id\":")
        .nth(5)
        .map(|(i, _)| i + 3)
        .unwrap();
    let (c, r) = parse_auto(&full.as_bytes()[..cut]);
    let e = r.unwrap_err();
    assert!(e.message.contains("truncated"), "{e}");
    assert!(e.position.is_some());
    assert_eq!(
        c.counts.tests, 5,
        "the five complete examples were delivered"
    );
}

#[test]
fn go_streams_with_a_cut_last_line_and_raw_compiler_output() {
    let mut doc =
        std::fs::read_to_string(corpus_dir().join("generated/go-test/calc-mixed.go-test.jsonl"))
            .unwrap();
    doc.insert_str(
        0,
        "# example.com/corpus/buildfail\nbuildfail/x.go:4:2: undefined: y\n",
    );
    doc.push_str("{\"Action\":\"run\",\"Package\":\"ex/z\",\"Te");
    let (c, r) = parse_auto(doc.as_bytes());
    assert_eq!(r.unwrap().format, Format::GoTestJson);
    assert_eq!(c.counts.tests, 22);
    let build: Vec<_> = c
        .suite_errors
        .iter()
        .filter(|e| e.kind == "build")
        .collect();
    assert_eq!(build.len(), 1);
    assert_eq!(build[0].suite, "example.com/corpus/buildfail");
    assert_eq!(
        (build[0].file.as_deref(), build[0].line),
        (Some("buildfail/x.go"), Some(4))
    );
    assert!(
        c.warnings
            .iter()
            .any(|(p, m)| m.contains("not valid JSON") && p.is_some())
    );
}

// ---- snapshots ----------------------------------------------------------------------

#[derive(Serialize)]
struct Snapshot {
    format: String,
    counts: Counts,
    suite_errors: Vec<SuiteError>,
    warnings: usize,
    cases: Vec<Case>,
}

fn snapshot_of(path: &str) -> Snapshot {
    let p = corpus_dir().join(path);
    let f = std::fs::File::open(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut c = Collector::keep_all();
    // Small bound so the snapshots stay readable; bounding itself is tested in text.rs.
    let opts = ParseOptions {
        max_text_bytes: 600,
    };
    let parsed =
        parsers::parse(f, path, None, &opts, &mut c).unwrap_or_else(|e| panic!("{path}: {e}"));
    Snapshot {
        format: parsed.format.name().to_string(),
        counts: c.counts,
        suite_errors: c.suite_errors.clone(),
        warnings: c.warnings.len(),
        cases: c.all.take().unwrap_or_default(),
    }
}

macro_rules! snap {
    ($name:ident, $path:literal) => {
        #[test]
        fn $name() {
            insta::assert_yaml_snapshot!(stringify!($name), snapshot_of($path));
        }
    };
}

snap!(
    snap_pytest_json,
    "generated/pytest/mixed.pytest-json-report.json"
);
snap!(snap_rspec_json, "generated/rspec/mixed.rspec.json");
snap!(snap_jest_json, "generated/jest/mixed.jest.json");
snap!(snap_vitest_json, "generated/vitest/mixed.vitest.json");
snap!(snap_go_test_json, "generated/go-test/panics.go-test.jsonl");
snap!(snap_tap_perl, "generated/tap-perl/mixed.tap");
snap!(snap_tap_node, "generated/node-test/mixed.node-tap.tap");
snap!(snap_tap_vitest, "generated/vitest/mixed.vitest-tap.tap");
snap!(snap_tap_mocha, "generated/mocha/mixed.mocha-tap.tap");
snap!(snap_mocha_json, "generated/mocha/mixed.mocha.json");
snap!(snap_ctrf_json, "generated/pytest/mixed.ctrf.json");
snap!(
    snap_libtest_json,
    "generated/cargo-test/special.libtest-json.jsonl"
);
snap!(snap_googletest_json, "generated/googletest/all.gtest.json");
snap!(
    snap_dart_json,
    "peers/test-reporter/__tests__/fixtures/dart-json.json"
);

#[test]
fn snap_generic_json() {
    let text = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/generic-json.example.json"
    ))
    .unwrap();
    let mut c = Collector::keep_all();
    let parsed = parsers::parse(
        &text[..],
        "example.json",
        None,
        &ParseOptions::default(),
        &mut c,
    )
    .unwrap();
    let s = Snapshot {
        format: parsed.format.name().to_string(),
        counts: c.counts,
        suite_errors: c.suite_errors.clone(),
        warnings: c.warnings.len(),
        cases: c.all.take().unwrap_or_default(),
    };
    insta::assert_yaml_snapshot!("snap_generic_json", s);
}

#[test]
fn generic_json_example_matches_its_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/schemas/generic-json.schema.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let example: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/docs/generic-json.example.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    assert!(v.is_valid(&example));
    let bad =
        serde_json::json!({"codeloop_generic": 1, "tests": [{"name": "x", "status": "green"}]});
    assert!(!v.is_valid(&bad));
}

// ---- properties ---------------------------------------------------------------------

const JSON_AND_TAP: &[Format] = &[
    Format::PytestJson,
    Format::RspecJson,
    Format::JestJson,
    Format::GoTestJson,
    Format::Tap,
    Format::MochaJson,
    Format::CtrfJson,
    Format::LibtestJson,
    Format::GoogletestJson,
    Format::GenericJson,
    Format::DartJson,
];

fn check_invariants(bytes: &[u8], hint: Option<Format>) {
    let mut c = Collector::keep_all();
    let _ = parsers::parse(bytes, "prop", hint, &ParseOptions::default(), &mut c);
    let n = c.counts;
    assert_eq!(n.tests, n.passed + n.failed + n.errored + n.skipped);
    assert!(n.flaky <= n.passed);
    assert_eq!(n.tests as usize, c.all.as_ref().map_or(0, Vec::len));
}

/// Small corpus files per format, to mutate.
const SEEDS: &[&str] = &[
    "generated/pytest/mixed.pytest-json-report.json",
    "generated/rspec/mixed.rspec.json",
    "generated/jest/mixed.jest.json",
    "generated/go-test/panics.go-test.jsonl",
    "generated/tap-perl/mixed.tap",
    "generated/node-test/mixed.node-tap.tap",
    "generated/vitest/mixed.vitest-tap.tap",
    "generated/mocha/mixed.mocha.json",
    "generated/pytest/mixed.ctrf.json",
    "generated/cargo-test/special.libtest-json.jsonl",
    "peers/test-reporter/__tests__/fixtures/dart-json.json",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048), which in 0..JSON_AND_TAP.len()) {
        check_invariants(&bytes, Some(JSON_AND_TAP[which]));
        check_invariants(&bytes, None);
    }

    #[test]
    fn json_like_noise_never_panics(s in r#"[\{\}\[\]":,0-9a-zA-Z \n\\-]{0,400}"#, which in 0..JSON_AND_TAP.len()) {
        check_invariants(s.as_bytes(), Some(JSON_AND_TAP[which]));
    }

    #[test]
    fn truncated_and_mutated_reports_never_panic(seed in 0..SEEDS.len(), cut in 0.0f64..1.0, flip in 0.0f64..1.0, byte in any::<u8>()) {
        let mut bytes = std::fs::read(corpus_dir().join(SEEDS[seed])).unwrap();
        let k = ((bytes.len() as f64) * flip) as usize;
        if k < bytes.len() {
            bytes[k] = byte;
        }
        bytes.truncate(((bytes.len() as f64) * cut) as usize);
        check_invariants(&bytes, None);
        for f in JSON_AND_TAP {
            check_invariants(&bytes, Some(*f));
        }
    }
}
