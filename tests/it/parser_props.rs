//! Property tests for every format of the registry at once, with the fuzz targets' own checks
//! (`codeloop::parsers::fuzzing::check`: no panic, counts add up, bounded texts within the
//! bound, errors that say where), plus the round trip of our own JUnit output
//! (`report --junit`) through the junit-xml parser. Format-specific noise lives next to each
//! family (xml_props.rs, corpus_json.rs, lint_parsers.rs); JUnit's is here.

use codeloop::model::{Case, Failure, Status};
use codeloop::parsers::fuzzing::{SNIFF_NAMES, Target, check};
use codeloop::parsers::{self, Collector, Format, ParseOptions};
use codeloop::report::junit::JunitOut;
use proptest::prelude::*;

fn check_all_formats(bytes: &[u8]) -> Result<(), TestCaseError> {
    for &f in Format::ALL {
        let t = Target::of_format(f);
        let mut input = vec![t.selector(f).unwrap()];
        input.extend_from_slice(bytes);
        if let Err(e) = check(t, &input) {
            return Err(TestCaseError::fail(e));
        }
    }
    for sel in 0..SNIFF_NAMES.len() as u8 {
        let mut input = vec![sel];
        input.extend_from_slice(bytes);
        if let Err(e) = check(Target::SniffAuto, &input) {
            return Err(TestCaseError::fail(e));
        }
    }
    Ok(())
}

/// Pieces of JUnit's dialects (Surefire reruns, pytest, jest, CTest, properties, nesting).
const JUNIT_TOKENS: &[&str] = &[
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
    "<testsuites name=\"all\" tests=\"3\" failures=\"1\">",
    "</testsuites>",
    "<testsuite name=\"s\" tests=\"2\" time=\"0.5\" file=\"a.py\">",
    "<testsuite name=\"nested\">",
    "</testsuite>",
    "<properties><property name=\"k\" value=\"v\"/></properties>",
    "<testcase classname=\"pkg.C\" name=\"t\" time=\"1,5\" file=\"x.py\" line=\"7\">",
    "<testcase name=\"p\"/>",
    "<testcase classname=\"Test suite failed to run\" name=\"a.spec.js\">",
    "</testcase>",
    "<failure message=\"assert 1 == 2\" type=\"AssertionError\">",
    "</failure>",
    "<error message=\"boom\"/>",
    "<error>",
    "</error>",
    "<skipped message=\"Unable to find executable\"/>",
    "<skipped/>",
    "<flakyFailure message=\"first\"><stackTrace>at X</stackTrace></flakyFailure>",
    "<rerunFailure message=\"r\"/>",
    "<system-out>",
    "</system-out>",
    "<system-err>e</system-err>",
    "<![CDATA[a <b> & c]]>",
    "&amp;&lt;&#0;&#x1F600;&bogus;",
    "\u{1b}[31mred\u{1b}[0m \u{0} \u{fffd}",
    "    at x (f.js:1:2)\n",
    "<",
    "\"",
    "</",
    ">",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn every_format_holds_the_invariants_on_any_bytes(
        bom in prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"\xFF\xFE", b"\xFE\xFF"]),
        bytes in prop::collection::vec(any::<u8>(), 0..2048)
    ) {
        // With a BOM in front, the bytes go through the UTF-8/UTF-16 transcoder first.
        check_all_formats(&[bom, &bytes[..]].concat())?;
    }

    #[test]
    fn every_format_holds_the_invariants_on_text_with_long_lines(
        s in "([a-z{}\\[\\]\":,<>/=!# .-]{0,40}\n){0,20}",
        long in 0usize..2000,
    ) {
        // Short structured noise with one long run in the middle: bounded texts get exercised.
        let mid = s.len() / 2;
        let mut t = s.clone();
        if t.is_char_boundary(mid) {
            t.insert_str(mid, &"x".repeat(long));
        }
        check_all_formats(t.as_bytes())?;
    }

    #[test]
    fn junit_shaped_noise_holds_the_invariants(
        toks in prop::collection::vec(prop::sample::select(JUNIT_TOKENS), 0..80)
    ) {
        let mut input = vec![Target::XmlTests.selector(Format::JunitXml).unwrap()];
        input.extend_from_slice(toks.concat().as_bytes());
        check(Target::XmlTests, &input).map_err(TestCaseError::fail)?;
        input[0] = Target::sniff_selector("report.xml").unwrap();
        check(Target::SniffAuto, &input).map_err(TestCaseError::fail)?;
    }
}

/// Text our writer may get from any parser: printable, markup characters included, no
/// leading/trailing blanks (parsers trim them), no control characters (parsers remove them).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_<>&\"'/.:é€\\[\\]()-]([a-zA-Z0-9 _<>&\"'/.:é€\\[\\]()-]{0,30}[a-zA-Z0-9_<>&\"'/.:é€\\[\\]()-])?"
}

fn case() -> impl Strategy<Value = Case> {
    (
        text(),
        prop::option::of("[a-z][a-z0-9_]{0,8}(\\.[a-z][a-z0-9_]{0,8}){0,3}"),
        0u8..5,
        prop::option::of(text()),
        prop::sample::select(vec!["", "pytest", "jest"]),
        1u32..4,
    )
        .prop_map(|(name, classname, st, message, runner, retries)| {
            let status = match st {
                0 | 4 => Status::Passed,
                1 => Status::Failed,
                2 => Status::Errored,
                _ => Status::Skipped,
            };
            let mut c = Case::new(name, status);
            c.classname = classname;
            c.runner = runner.to_string();
            if st == 4 {
                c.flaky = true;
                c.retries = retries;
            }
            if status.is_bad() {
                c.failure = Some(Failure {
                    kind: None,
                    message,
                    trace: None,
                });
            } else if status == Status::Skipped {
                c.skip_reason = message;
            }
            c
        })
}

/// What must survive the round trip, in a canonical order (the writer groups by runner).
fn key(c: &Case) -> (String, Option<String>, Status, bool, Option<String>) {
    (
        c.name.clone(),
        c.classname.clone(),
        c.status,
        c.flaky,
        c.failure.as_ref().and_then(|f| f.message.clone()),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn our_junit_output_reads_back_the_same(cases in prop::collection::vec(case(), 0..40)) {
        let mut out = JunitOut::new("codeloop");
        for c in &cases {
            out.case(c);
        }
        let xml = out.finish().unwrap();
        let mut col = Collector::keep_all();
        let r = parsers::parse(
            xml.as_bytes(),
            "junit.xml",
            Some(Format::JunitXml),
            &ParseOptions::default(),
            &mut col,
        );
        prop_assert!(r.is_ok() || cases.is_empty(), "{:?}\n{xml}", r.err());
        let mut want: Vec<_> = cases.iter().map(key).collect();
        let mut got: Vec<_> = col.all.as_deref().unwrap().iter().map(key).collect();
        want.sort();
        got.sort();
        prop_assert_eq!(&got, &want, "{}", xml);
        let mut counts = codeloop::model::Counts::default();
        for c in &cases {
            counts.add_case(c.status, c.flaky);
        }
        prop_assert_eq!(col.counts, counts);
        // And sniffing recognizes it as JUnit.
        if !cases.is_empty() {
            prop_assert_eq!(
                parsers::sniff(xml.as_bytes(), "junit.xml"),
                Some(Format::JunitXml)
            );
        }
    }
}
