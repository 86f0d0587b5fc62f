//! Conformance of the .NET and Catch2 XML parsers (TRX, NUnit 2/3, xUnit.net, Catch2 XML)
//! against every corpus input of those formats, plus auto-detection and snapshots.

use codeloop::model::Counts;
use codeloop::parsers::{self, Collector, Format, ParseOptions};

use crate::common::corpus_dir;
use crate::corpus::{Exception, check_rows, parse_row, rows};

const JENKINS: &str =
    "peers/publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins";

fn counts(tests: u64, passed: u64, failed: u64, errored: u64, skipped: u64) -> Counts {
    Counts {
        tests,
        passed,
        failed,
        errored,
        skipped,
        flaky: 0,
    }
}

/// The corpus formats this module covers, with the registry format each must sniff to.
fn our_format(corpus_format: &str) -> Option<Format> {
    let f = corpus_format.trim();
    // Formats are added here as their parsers land.
    if f.starts_with("trx") {
        Some(Format::Trx)
    } else if f.starts_with("nunit2-xml") || f.starts_with("nunit3-xml") {
        Some(Format::Nunit)
    } else if f.starts_with("xunit-net-xml") {
        Some(Format::XunitNet)
    } else if f.starts_with("catch2-xml") {
        Some(Format::Catch2Xml)
    } else {
        None
    }
}

/// Files the oracle (publish-unit-test-result-action, which parses with lxml) rejects, that
/// we read on purpose: the issue asks for lenient reading of what real reporters write, and
/// for never expanding entities. The counts are what the files hold.
fn exceptions() -> Vec<Exception> {
    vec![
        Exception {
            path: "peers/publish-unit-test-result-action/python/test/files/xunit/mstest/jenkinsci/testcase2.xml",
            reason: "the <assembly> attributes claim total=3 (1 passed, 1 failed, 1 skipped) and \
                     the oracle's runs_* copy them, but the file holds a single passing <test>; \
                     the action's own per-case stats agree with us (tests=1, tests_succ=1). We \
                     count what the file holds and warn about the declared totals",
            ours: counts(1, 1, 0, 0, 0),
        },
        Exception {
            path: leak(format!("{JENKINS}/NUnit-issue17521.xml")),
            reason: "a raw NUL and other control characters inside a CDATA failure message \
                     (a real NUnit 3 report): lxml refuses the file, we read it with a \
                     positioned warning. Same tests as NUnit-issue33493.xml: one Passed, one \
                     Inconclusive (skipped, see below)",
            ours: counts(2, 1, 0, 0, 1),
        },
        Exception {
            path: leak(format!("{JENKINS}/NUnit-issue33493.xml")),
            reason: "the oracle row is the action's runs_* stats, which it sums from NUnit's \
                     suite attributes (skipped=\"0\": NUnit keeps Inconclusive apart). Its own \
                     per-case result for AddTwoNumbers (result=\"Inconclusive\") is 'skipped' \
                     (tests_succ=1, tests_skip=1 in the same .results.json), as NUnit's console \
                     says 'Passed: 1, Inconclusive: 1'; an inconclusive test did not pass",
            ours: counts(2, 1, 0, 0, 1),
        },
        Exception {
            path: leak(format!("{JENKINS}/NUnit-issue47367.xml")),
            reason: "unescaped quotes inside name=\"…(\"pass\",…)\" attributes (NUnit 2 wrote \
                     parameterized names raw): lxml refuses the file, we read every test case \
                     with its whole name and a warning (see \
                     unescaped_quotes_in_nunit_names_are_read_whole_with_a_warning)",
            ours: counts(8, 8, 0, 0, 0),
        },
        Exception {
            path: leak(format!("{JENKINS}/NUnit-sec1752-file.xml")),
            reason: "an XXE probe: the DOCTYPE declares an external entity. The oracle \
                     refuses the file; we never resolve entities, read the report with \
                     `&xxe;` kept literally and a warning (see xxe_targets_are_never_read)",
            ours: counts(2, 1, 1, 0, 0),
        },
        Exception {
            path: leak(format!("{JENKINS}/NUnit-sec1752-https.xml")),
            reason: "the same XXE probe with an https:// entity: nothing is fetched, the \
                     report is read with `&xxe;` kept literally",
            ours: counts(2, 1, 1, 0, 0),
        },
    ]
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn every_dotnet_and_catch2_xml_row_agrees_with_its_oracle() {
    let problems = check_rows(|r| our_format(&r.format).is_some(), &exceptions());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_row_of_these_formats_is_auto_detected() {
    let mut wrong = Vec::new();
    let mut n = 0;
    let ours = [
        Format::Trx,
        Format::Nunit,
        Format::XunitNet,
        Format::Catch2Xml,
        Format::Checkstyle,
    ];
    for row in rows() {
        let Some(want) = our_format(&row.format) else {
            // And no other file is taken for one of these formats.
            let head = std::fs::read(corpus_dir().join(&row.path)).unwrap_or_default();
            let head = &head[..head.len().min(parsers::SNIFF_BYTES)];
            if let Some(f) = parsers::sniff(head, &row.path).filter(|f| ours.contains(f)) {
                wrong.push(format!(
                    "{} ({}): sniffed as {}",
                    row.path,
                    row.format,
                    f.name()
                ));
            }
            continue;
        };
        n += 1;
        let (_, r) = parse_row(&row);
        match r {
            Ok(p) if p.format == want => {}
            Ok(p) => wrong.push(format!("{}: sniffed as {}", row.path, p.format.name())),
            Err(e) => wrong.push(format!("{}: {e}", row.path)),
        }
    }
    assert!(n >= 50, "only {n} rows");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn parse_file(
    rel: &str,
) -> (
    Collector<'static>,
    Result<parsers::Parsed, parsers::ParseError>,
) {
    let path = corpus_dir().join(rel);
    let f = std::fs::File::open(&path).unwrap();
    let mut c = Collector::keep_all();
    let r = parsers::parse(f, rel, None, &ParseOptions::default(), &mut c);
    (c, r)
}

#[test]
fn xxe_targets_are_never_read() {
    // The entity points at NUnit-sec1752-file.txt next to the report, which holds "abc".
    let target = corpus_dir().join(format!("{JENKINS}/NUnit-sec1752-file.txt"));
    let secret = std::fs::read_to_string(&target).unwrap();
    assert_eq!(secret.trim(), "abc");
    for file in ["NUnit-sec1752-file.xml", "NUnit-sec1752-https.xml"] {
        let (c, r) = parse_file(&format!("{JENKINS}/{file}"));
        r.unwrap();
        let all = c.all.unwrap();
        let failed: Vec<_> = all.iter().filter(|c| c.status.is_bad()).collect();
        assert_eq!(failed.len(), 1);
        let msg = failed[0].failure.as_ref().unwrap().message.as_deref();
        assert_eq!(msg, Some("&xxe;"), "{file}");
        let json = serde_json::to_string(&all).unwrap();
        assert!(
            !json.contains("abc"),
            "{file}: the entity target leaked: {json}"
        );
        assert!(
            c.warnings.iter().any(|(_, w)| w.contains("&xxe;")),
            "{file}: {:?}",
            c.warnings
        );
    }
}

/// The normalized model of one small representative file per format, snapshotted.
/// Texts are bounded to 2 KiB here, so the snapshots stay readable and show the cut marker.
fn snapshot_of(rel: &str) -> String {
    let path = corpus_dir().join(rel);
    let f = std::fs::File::open(&path).unwrap();
    let mut c = Collector::keep_all();
    let opts = ParseOptions {
        max_text_bytes: 2048,
    };
    let r = parsers::parse(f, rel, None, &opts, &mut c);
    let parsed = r.map(|p| p.format.name()).map_err(|e| e.to_string());
    let doc = serde_json::json!({
        "format": parsed,
        "counts": c.counts,
        "cases": c.all.unwrap_or_default(),
        "suite_errors": c.suite_errors,
        "warnings": c.warnings.iter().map(|(p, m)| format!("{}: {m}", p.map(|p| p.to_string()).unwrap_or_default())).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn snapshot_nunit2() {
    insta::assert_snapshot!(snapshot_of(&format!("{JENKINS}/NUnit-issue6353.xml")));
}

#[test]
fn snapshot_nunit3() {
    insta::assert_snapshot!(snapshot_of(&format!("{JENKINS}/NUnit-issue50162.xml")));
}

#[test]
fn snapshot_trx() {
    insta::assert_snapshot!(snapshot_of(
        "peers/test-reporter/__tests__/fixtures/dotnet-xunitv3.trx"
    ));
}

#[test]
fn snapshot_xunit_net() {
    insta::assert_snapshot!(snapshot_of(
        "peers/publish-unit-test-result-action/python/test/files/xunit/mstest/jenkinsci/testcase1.xml"
    ));
}

#[test]
fn snapshot_catch2_xml() {
    insta::assert_snapshot!(snapshot_of("generated/catch2/all.catch2-xml.xml"));
}

/// `codeloop verify --report <file>` on every corpus file of these formats reports the same
/// counts as the library (which the conformance test holds to the oracles), and records the
/// lenient reads as warnings in verify.json.
#[test]
fn verify_cli_reports_the_same_counts_for_every_row() {
    let art = tempfile::tempdir().unwrap();
    let mut problems = Vec::new();
    let mut n = 0;
    for row in rows() {
        if our_format(&row.format).is_none() {
            continue;
        }
        n += 1;
        let out = std::process::Command::new(crate::common::bin())
            .args(["verify", "--format", "json", "--cwd"])
            .arg(corpus_dir())
            .arg("--artifacts-dir")
            .arg(art.path())
            .args(["--report", &row.path])
            .output()
            .unwrap();
        let doc: serde_json::Value = match serde_json::from_slice(&out.stdout) {
            Ok(v) => v,
            Err(e) => {
                problems.push(format!("{}: no JSON on stdout ({e})", row.path));
                continue;
            }
        };
        let got: Counts = serde_json::from_value(doc["totals"].clone()).unwrap();
        let (lib, _) = parse_row(&row);
        if got != lib.counts {
            problems.push(format!(
                "{}: verify says {got:?}, the parser {:?}",
                row.path, lib.counts
            ));
        }
        let warnings = doc["runners"][0]["warnings"].as_array().map_or(0, Vec::len);
        if (warnings == 0) != lib.warnings.is_empty() {
            problems.push(format!(
                "{}: verify.json has {warnings} warnings, the parser gave {}",
                row.path,
                lib.warnings.len()
            ));
        }
    }
    assert!(n >= 50);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Lenient reads are reported where they happen, with a position, and nowhere else; the
/// problems no test case carries (a fixture that could not be built, a crashed test host)
/// are suite errors.
#[test]
fn warnings_and_suite_errors_are_exactly_where_the_files_are_odd() {
    let want_warning: &[(&str, &str, Option<u64>)] = &[
        ("all.nunit2.xml", "raw control character 0x1b", Some(2097)),
        (
            "NUnit-issue17521.xml",
            "raw control character 0x00",
            Some(33),
        ),
        (
            "NUnit-sec1752-file.xml",
            "entity &xxe; is not predefined",
            Some(17),
        ),
        (
            "NUnit-sec1752-https.xml",
            "entity &xxe; is not predefined",
            Some(17),
        ),
        (
            "NUnit-issue47367.xml",
            "attribute name= holds unescaped quotes",
            Some(5),
        ),
        (
            "jenkinsci/testcase2.xml",
            "declare 3 tests but the file holds 1",
            None,
        ),
    ];
    let want_suite_errors: &[(&str, usize, &str)] = &[(
        "yami_YAMILEX_2015-10-24_04_18_59.trx",
        1,
        "(1 test aborted, counted as not run)",
    )];
    let mut problems = Vec::new();
    for row in rows() {
        if our_format(&row.format).is_none() {
            continue;
        }
        let (c, _) = parse_row(&row);
        match want_warning.iter().find(|(f, _, _)| row.path.ends_with(f)) {
            Some((_, text, line)) => {
                let ok = c.warnings.len() == 1
                    && c.warnings[0].1.contains(text)
                    && c.warnings[0].0.map(|p| p.line) == *line;
                if !ok {
                    problems.push(format!("{}: {:?}", row.path, c.warnings));
                }
            }
            None if !c.warnings.is_empty() => {
                problems.push(format!("{}: unexpected {:?}", row.path, c.warnings))
            }
            None => {}
        }
        let expected = want_suite_errors
            .iter()
            .find(|(f, _, _)| row.path.ends_with(f));
        let ok = match expected {
            Some((_, n, text)) => {
                c.suite_errors.len() == *n
                    && c.suite_errors.iter().all(|e| e.message.contains(text))
            }
            None => c.suite_errors.is_empty(),
        };
        if !ok {
            problems.push(format!("{}: suite errors {:?}", row.path, c.suite_errors));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// NUnit 2 wrote parameterized names with their quotes unescaped
/// (`name="Ns.Fixture.Method("pass","50B5…")"`, NUnit-issue47367.xml): each name is read
/// whole — four distinct tests, not four cut to `Method(` — and the file gets a warning that
/// says what was wrong with it (once, with a count for the other tags), end to end through
/// `codeloop ci --report`.
#[test]
fn unescaped_quotes_in_nunit_names_are_read_whole_with_a_warning() {
    use crate::gate::{ci, read_json, reports_ws, text};
    let path = format!("{JENKINS}/NUnit-issue47367.xml");
    let t = reports_ws(&[&path]);
    let o = ci(t.path(), &["--report", "reports/*.xml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let run = codeloop::artifact::resolve(&t.path().join(".codeloop"), None).unwrap();
    let cases = std::fs::read_to_string(run.file("cases.jsonl")).unwrap();
    let names: Vec<String> = cases
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .filter(|n| n.starts_with("ComputerSha256"))
        .collect();
    assert_eq!(
        names,
        [
            r#"ComputerSha256HashAndCompareWithExpectedResult("pass","50B5BD8E4DAD7A3A725000FEB82ESDFFDFDFF556568F1")"#,
            r#"ComputerSha256HashAndCompareWithExpectedResult("Horst","17B3359247428B9855DSFRGFDGDG44FD")"#,
            r#"ComputerSha256HashAndCompareWithExpectedResult("Hugo","D74C8E69A60EASDFDSSDEW62DC8FFD")"#,
            r#"ComputerSha256HashAndCompareWithExpectedResult("GeheimesPasswort!","1B44CF4HDVBFLFB456780A82835F62D46B7")"#,
        ]
    );
    let v = read_json(&run.file("verify.json"));
    assert_eq!(v["totals"]["tests"], 8, "{v:#}");
    let w = v["runners"][0]["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(w[0]["file"], "reports/NUnit-issue47367.xml");
    assert_eq!(w[0]["position"]["line"], 5);
    let msg = w[0]["message"].as_str().unwrap();
    assert!(
        msg.starts_with("<test-case> attribute name= holds unescaped quotes"),
        "{msg}"
    );
    assert!(
        msg.ends_with(r#"read whole as `Base.Tests.CryptUtilsTests.ComputerSha256HashAndCompareWithExpectedResult("pass","50B5BD8E4DAD7A3A725000FEB82ESDFFDFDFF556568F1")` (3 more start tags like it)"#),
        "{msg}"
    );
}
