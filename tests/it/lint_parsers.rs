//! Lint/build-output parsers end to end: every fixture in `tests/fixtures/lint/` (real output
//! of the real tools, see its README) goes through `parsers::parse` with auto-detection, must
//! be detected as its format, and must yield the finding counts the tool itself reports.

use std::path::PathBuf;

use codeloop::model::{Finding, LintCounts, Severity};
use codeloop::parsers::{self, Collector, Format, FormatKind, ParseOptions};

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint")
}

fn parse_auto(name: &str) -> (Collector<'static>, Format) {
    let path = fixture_dir().join(name);
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut c = Collector::keep_all();
    let parsed = parsers::parse(file, name, None, &ParseOptions::default(), &mut c)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    (c, parsed.format)
}

/// (fixture, detected format, errors, warnings, notes) — the counts are the tools' own:
/// clippy's "1 error; 4 warnings emitted" (lib test), ESLint's errorCount/warningCount, ruff's
/// "Found 13 errors", tsc's "Found 7 errors", RuboCop's offense_count with its severities.
const EXPECTED: &[(&str, Format, u64, u64, u64)] = &[
    ("cargo-clippy.json", Format::CargoJson, 1, 4, 0),
    ("cargo-build-merged.log", Format::CargoJson, 2, 0, 0),
    ("rustc-error.json", Format::CargoJson, 2, 0, 0),
    ("eslint.json", Format::EslintJson, 6, 2, 0),
    ("eslint.sarif", Format::Sarif, 6, 2, 0),
    ("eslint-with-metadata.json", Format::EslintJson, 6, 2, 0),
    ("ruff.json", Format::RuffJson, 13, 0, 0),
    ("ruff.sarif", Format::Sarif, 13, 0, 0),
    ("flake8.txt", Format::Flake8, 11, 2, 0),
    ("tsc.txt", Format::Tsc, 7, 0, 0),
    ("tsc-pretty.txt", Format::Tsc, 7, 0, 0),
    ("tsc-global.txt", Format::Tsc, 1, 0, 0),
    ("golangci-v1.json", Format::GolangciJson, 3, 1, 0),
    ("golangci-v2.json", Format::GolangciJson, 2, 0, 1),
    ("rubocop.json", Format::RubocopJson, 1, 10, 0),
    ("shellcheck-gcc.txt", Format::GenericLint, 0, 1, 4),
    ("gcc.txt", Format::GenericLint, 1, 3, 0),
    ("rustc-short.txt", Format::GenericLint, 2, 0, 0),
    ("pylint.txt", Format::GenericLint, 1, 17, 0),
    ("mypy.txt", Format::GenericLint, 1, 0, 0),
];

#[test]
fn every_fixture_is_detected_and_counted_like_the_tool() {
    let mut listed: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    listed.sort();
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk, "every fixture must be listed in EXPECTED");

    for &(name, format, errors, warnings, notes) in EXPECTED {
        let (c, got) = parse_auto(name);
        assert_eq!(got, format, "{name}: detected format");
        assert_eq!(got.kind(), FormatKind::Findings, "{name}");
        assert_eq!(
            c.lint,
            LintCounts {
                errors,
                warnings,
                notes
            },
            "{name}: counts"
        );
        assert_eq!(c.counts.tests, 0, "{name}: lint output has no test cases");
        for f in &c.findings {
            assert!(!f.message.is_empty(), "{name}: empty message in {f:?}");
            assert!(!f.tool.is_empty(), "{name}: no tool in {f:?}");
        }
    }
}

#[test]
fn the_same_problems_read_the_same_through_json_and_sarif() {
    // ESLint's JSON and its SARIF formatter describe the same run.
    let key = |f: &Finding| {
        (
            f.file.clone(),
            f.line,
            f.column,
            f.rule.clone(),
            f.severity,
            f.message.clone(),
        )
    };
    let (json, _) = parse_auto("eslint.json");
    let (with_meta, _) = parse_auto("eslint-with-metadata.json");
    assert_eq!(json.findings, with_meta.findings);
    let (sarif, _) = parse_auto("eslint.sarif");
    let mut a: Vec<_> = json.findings.iter().map(key).collect();
    let mut b: Vec<_> = sarif.findings.iter().map(key).collect();
    // The SARIF formatter names the parse error's rule ESL0999; ESLint's JSON has none.
    for k in b.iter_mut() {
        if k.3.as_deref() == Some("ESL0999") {
            k.3 = None;
        }
    }
    a.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    b.sort_by(|x, y| format!("{x:?}").cmp(&format!("{y:?}")));
    assert_eq!(a, b);

    // ruff's JSON and SARIF: same locations and rules.
    let (json, _) = parse_auto("ruff.json");
    let (sarif, _) = parse_auto("ruff.sarif");
    let loc = |f: &Finding| (f.file.clone(), f.line, f.column, f.rule.clone());
    let mut a: Vec<_> = json.findings.iter().map(loc).collect();
    let mut b: Vec<_> = sarif.findings.iter().map(loc).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn plain_and_pretty_tsc_agree() {
    let (plain, _) = parse_auto("tsc.txt");
    let (pretty, _) = parse_auto("tsc-pretty.txt");
    assert_eq!(plain.findings, pretty.findings);
    assert!(plain.warnings.is_empty() && pretty.warnings.is_empty());
}

#[test]
fn golangci_v2_trailing_statistics_are_a_warning_not_an_error() {
    let (c, _) = parse_auto("golangci-v2.json");
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    assert!(c.warnings[0].1.contains("ignored text"));
    let (c1, _) = parse_auto("golangci-v1.json");
    assert!(c1.warnings.is_empty(), "{:?}", c1.warnings);
}

#[test]
fn truncated_reports_keep_what_came_before_and_say_where() {
    for (name, hint) in [
        ("eslint.json", Format::EslintJson),
        ("ruff.json", Format::RuffJson),
        ("rubocop.json", Format::RubocopJson),
        ("ruff.sarif", Format::Sarif),
        ("golangci-v1.json", Format::GolangciJson),
    ] {
        let bytes = std::fs::read(fixture_dir().join(name)).unwrap();
        let cut = &bytes[..bytes.len() - 20];
        let mut c = Collector::keep_all();
        let err = parsers::parse(cut, name, Some(hint), &ParseOptions::default(), &mut c)
            .expect_err(name);
        assert!(err.message.contains("truncated"), "{name}: {}", err.message);
        assert!(err.position.is_some_and(|p| p.line > 0), "{name}: {err:?}");
        if hint != Format::Sarif {
            // SARIF findings of a run wait for the run's end (the tool may come last).
            assert!(!c.findings.is_empty(), "{name}: findings before the cut");
        }
    }
}

#[test]
fn wrong_format_hints_are_clear_errors() {
    let cases: &[(&str, Format, &str)] = &[
        ("eslint.json", Format::RubocopJson, "RuboCop"),
        ("rubocop.json", Format::EslintJson, "results"),
        ("ruff.json", Format::GolangciJson, "golangci-lint"),
        ("gcc.txt", Format::Tsc, "tsc"),
        ("tsc.txt", Format::Flake8, "flake8"),
        ("flake8.txt", Format::CargoJson, "cargo"),
        ("eslint.json", Format::Sarif, "SARIF"),
        ("eslint.json", Format::RuffJson, "ruff"),
        ("ruff.json", Format::EslintJson, "ESLint"),
        ("golangci-v1.json", Format::RubocopJson, "RuboCop"),
        ("rubocop.json", Format::GolangciJson, "golangci-lint"),
        ("flake8.txt", Format::EslintJson, "no JSON"),
        ("gcc.txt", Format::Sarif, "no JSON"),
    ];
    for &(name, hint, says) in cases {
        let bytes = std::fs::read(fixture_dir().join(name)).unwrap();
        let mut c = Collector::keep_all();
        let err = parsers::parse(
            &bytes[..],
            name,
            Some(hint),
            &ParseOptions::default(),
            &mut c,
        )
        .expect_err(name);
        assert!(
            err.message.contains(says),
            "{name} as {}: {}",
            hint.name(),
            err.message
        );
    }
}

#[test]
fn text_merged_before_a_json_report_is_skipped_and_positions_stay_true() {
    let json = std::fs::read_to_string(fixture_dir().join("eslint.json")).unwrap();
    let merged = format!("npm warn Unknown user config \"nodedir\".\nnpm warn again\n{json}");
    let mut c = Collector::keep_all();
    let p = parsers::parse(
        merged.as_bytes(),
        "lint.log",
        None,
        &ParseOptions::default(),
        &mut c,
    )
    .unwrap();
    assert_eq!(p.format, Format::EslintJson);
    assert_eq!((c.lint.errors, c.lint.warnings), (6, 2));
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    // A syntax error on the file's line 4 is reported at line 4, not at the JSON's line 2.
    let broken = "npm warn a\nnpm warn b\n[{\"filePath\":\"a.js\",\n\"messages\": [}]\n";
    let mut c = Collector::keep_all();
    let e = parsers::parse(
        broken.as_bytes(),
        "x",
        Some(Format::EslintJson),
        &ParseOptions::default(),
        &mut c,
    )
    .unwrap_err();
    assert_eq!(e.position.map(|p| p.line), Some(4), "{e:?}");
}

#[test]
fn clean_runs_with_a_format_hint_have_no_findings() {
    for (bytes, hint) in [
        (&b""[..], Format::Flake8),
        (b"[]", Format::RuffJson),
        (b"[]", Format::EslintJson),
        (b"{\"Issues\":null,\"Report\":{}}", Format::GolangciJson),
        (b"{\"files\":[],\"summary\":{\"offense_count\":0}}", Format::RubocopJson),
        (b"{\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"x\"}},\"results\":[]}]}", Format::Sarif),
        (b"{\"reason\":\"build-finished\",\"success\":true}\n", Format::CargoJson),
        (b"\n", Format::Tsc),
        (b"", Format::GenericLint),
    ] {
        let mut c = Collector::keep_all();
        parsers::parse(bytes, "x", Some(hint), &ParseOptions::default(), &mut c)
            .unwrap_or_else(|e| panic!("{}: {e}", hint.name()));
        assert!(c.findings.is_empty() && c.suite_errors.is_empty(), "{}", hint.name());
    }
    // A clean ruff run (`[]`) is recognized by its file name.
    let mut c = Collector::keep_all();
    let p = parsers::parse(
        &b"[]"[..],
        "out/ruff.json",
        None,
        &ParseOptions::default(),
        &mut c,
    )
    .unwrap();
    assert_eq!(p.format, Format::RuffJson);
}

#[test]
fn findings_snapshot() {
    for &(name, ..) in EXPECTED {
        let (c, _) = parse_auto(name);
        insta::assert_yaml_snapshot!(format!("lint_{}", name.replace('.', "_")), c.findings);
    }
}

#[test]
fn severities_are_mapped_as_documented() {
    let (c, _) = parse_auto("rubocop.json");
    let sev = |rule: &str| {
        c.findings
            .iter()
            .find(|f| f.rule.as_deref() == Some(rule))
            .map(|f| f.severity)
    };
    assert_eq!(sev("Lint/Syntax"), Some(Severity::Error));
    assert_eq!(sev("Lint/UselessAssignment"), Some(Severity::Warning));
    assert_eq!(sev("Style/Documentation"), Some(Severity::Warning));
    let (e, _) = parse_auto("eslint.json");
    let fatal = e.findings.iter().find(|f| f.rule.is_none()).unwrap();
    assert_eq!(fatal.severity, Severity::Error);
    assert_eq!(fatal.message, "Parsing error: Unexpected keyword 'return'");
    assert_eq!((fatal.line, fatal.column), (Some(5), Some(3)));
}

mod no_panic {
    use super::*;
    use proptest::prelude::*;

    const LINT_FORMATS: &[Format] = &[
        Format::CargoJson,
        Format::EslintJson,
        Format::RuffJson,
        Format::Flake8,
        Format::Tsc,
        Format::GolangciJson,
        Format::RubocopJson,
        Format::Sarif,
        Format::GenericLint,
    ];

    fn run_all(bytes: &[u8]) {
        for &f in LINT_FORMATS {
            let mut c = Collector::default();
            let _ = parsers::parse(bytes, "x", Some(f), &ParseOptions::default(), &mut c);
        }
        let mut c = Collector::default();
        let _ = parsers::parse(bytes, "x", None, &ParseOptions::default(), &mut c);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            run_all(&bytes);
        }

        #[test]
        fn mangled_fixtures(idx in 0usize..64, cut in 0.0f64..1.0, flips in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..8)) {
            let name = EXPECTED[idx % EXPECTED.len()].0;
            let mut bytes = std::fs::read(fixture_dir().join(name)).unwrap();
            for (at, b) in flips {
                let i = ((bytes.len() as f64) * at) as usize;
                if i < bytes.len() {
                    bytes[i] = b;
                }
            }
            let n = ((bytes.len() as f64) * cut) as usize;
            run_all(&bytes[..n]);
        }
    }
}

#[test]
fn exact_findings_per_format() {
    type Row = (
        &'static str,
        usize,
        &'static str,
        Option<&'static str>,
        Option<u32>,
        Option<u32>,
        Option<&'static str>,
        Severity,
        &'static str,
    );
    use Severity::*;
    let rows: &[Row] = &[
        (
            "cargo-clippy.json",
            2,
            "clippy",
            Some("src/lib.rs"),
            Some(4),
            Some(14),
            Some("clippy::needless_range_loop"),
            Warning,
            "the loop variable `i` is only used to index `v`",
        ),
        (
            "rustc-error.json",
            0,
            "rustc",
            Some("broken/src/main.rs"),
            Some(2),
            Some(18),
            Some("E0308"),
            Error,
            "mismatched types: expected `u32`, found `&str`",
        ),
        (
            "eslint.json",
            3,
            "eslint",
            Some("/tmp/lintfx/js/src/app.js"),
            Some(5),
            Some(13),
            Some("eqeqeq"),
            Error,
            "Expected '===' and instead saw '=='.",
        ),
        (
            "ruff.json",
            9,
            "ruff",
            Some("/tmp/lintfx/py/pkg/broken.py"),
            Some(4),
            Some(12),
            Some("invalid-syntax"),
            Error,
            "Expected a parameter or the end of the parameter list",
        ),
        (
            "flake8.txt",
            9,
            "flake8",
            Some("pkg/broken.py"),
            Some(4),
            Some(13),
            Some("E999"),
            Error,
            "SyntaxError: invalid syntax",
        ),
        (
            "flake8.txt",
            10,
            "flake8",
            Some("pkg/ws.py"),
            Some(1),
            Some(6),
            Some("W291"),
            Warning,
            "trailing whitespace",
        ),
        (
            "tsc-pretty.txt",
            4,
            "tsc",
            Some("ts/b.ts"),
            Some(1),
            Some(25),
            Some("TS2307"),
            Error,
            "Cannot find module './nowhere' or its corresponding type declarations.",
        ),
        (
            "golangci-v1.json",
            2,
            "golangci-lint",
            Some("internal/calc/calc.go"),
            Some(20),
            Some(1),
            Some("revive"),
            Warning,
            "exported: exported function Compute should have comment or be unexported",
        ),
        (
            "golangci-v1.json",
            3,
            "golangci-lint",
            Some("internal/calc/calc.go"),
            Some(21),
            None,
            Some("gofmt"),
            Error,
            "File is not `gofmt`-ed with `-s`",
        ),
        (
            "rubocop.json",
            10,
            "rubocop",
            Some("lib/broken.rb"),
            Some(2),
            Some(3),
            Some("Lint/Syntax"),
            Error,
            "unexpected token tINTEGER\n(Using Ruby 2.6 parser; configure using `TargetRubyVersion` parameter, under `AllCops`)",
        ),
        (
            "eslint.sarif",
            7,
            "ESLint",
            Some("/tmp/lintfx/js/src/broken.js"),
            Some(5),
            Some(3),
            Some("ESL0999"),
            Error,
            "Parsing error: Unexpected keyword 'return'",
        ),
        (
            "shellcheck-gcc.txt",
            2,
            "shellcheck",
            Some("deploy.sh"),
            Some(6),
            Some(1),
            Some("SC2164"),
            Warning,
            "Use 'cd ... || exit' or 'cd ... || return' in case cd fails.",
        ),
        (
            "gcc.txt",
            3,
            "lint",
            Some("main.c"),
            Some(12),
            Some(13),
            None,
            Error,
            "expected ‘;’ before ‘}’ token",
        ),
    ];
    for &(name, i, tool, file, line, column, rule, severity, message) in rows {
        let (c, _) = parse_auto(name);
        let f = &c.findings[i];
        assert_eq!(
            (
                f.tool.as_str(),
                f.file.as_deref(),
                f.line,
                f.column,
                f.rule.as_deref(),
                f.severity,
                f.message.as_str()
            ),
            (tool, file, line, column, rule, severity, message),
            "{name} #{i}"
        );
    }
}

/// The other direction: no test report of the shared corpus (all inputs are test reports or
/// non-reports) is ever taken for lint output by `auto`.
#[test]
fn no_corpus_test_report_is_sniffed_as_lint_output() {
    let dir = crate::common::corpus_dir();
    let mut checked = 0;
    for row in crate::corpus::rows() {
        let path = dir.join(&row.path);
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut sink = Collector::default();
        // The same transcoded head (BOM, UTF-16) that `parse` sniffs.
        let Ok(input) = parsers::input::Input::new(file, &mut sink) else {
            continue;
        };
        if let Some(f) = parsers::sniff(input.head(), &row.path) {
            assert_eq!(
                f.kind(),
                FormatKind::Tests,
                "{} ({}) sniffed as {}",
                row.path,
                row.format,
                f.name()
            );
        }
        checked += 1;
    }
    assert!(checked > 200, "only {checked} corpus files read");
}

/// `codeloop verify --report` over every fixture: each file is detected and counted as above,
/// and every finding lands in the run's findings.jsonl.
#[test]
fn verify_collects_every_lint_fixture() {
    let dir = tempfile::tempdir().unwrap();
    for &(name, ..) in EXPECTED {
        std::fs::copy(fixture_dir().join(name), dir.path().join(name)).unwrap();
    }
    let out = std::process::Command::new(crate::common::bin())
        .args(["verify", "--cwd"])
        .arg(dir.path())
        .args(["--format", "json", "--report", "*"])
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let files = doc["runners"][0]["result_files"].as_array().unwrap();
    assert_eq!(files.len(), EXPECTED.len());
    let (mut e, mut w, mut n) = (0, 0, 0);
    for &(name, format, errors, warnings, notes) in EXPECTED {
        let f = files
            .iter()
            .find(|f| f["path"] == name)
            .unwrap_or_else(|| panic!("{name} not collected"));
        assert_eq!(f["format"], format.name(), "{name}");
        assert_eq!(
            (
                &f["lint"]["errors"],
                &f["lint"]["warnings"],
                &f["lint"]["notes"]
            ),
            (&errors.into(), &warnings.into(), &notes.into()),
            "{name}"
        );
        (e, w, n) = (e + errors, w + warnings, n + notes);
    }
    assert_eq!(
        doc["lint"],
        serde_json::json!({"errors": e, "warnings": w, "notes": n})
    );
    let run_dir = doc["run_dir"].as_str().unwrap();
    let run_dir = std::path::Path::new(run_dir);
    let run_dir = if run_dir.is_absolute() {
        run_dir.to_path_buf()
    } else {
        dir.path().join(run_dir)
    };
    let findings = std::fs::read_to_string(run_dir.join("findings.jsonl")).unwrap();
    assert_eq!(findings.lines().count() as u64, e + w + n);
}
