//! Property tests for the TRX, NUnit, xUnit.net, Catch2 and checkstyle parsers: no input
//! makes them panic, the counts always add up, and a file cut anywhere (a runner killed
//! mid-write) never yields more than the whole file.

use codeloop::parsers::{self, Collector, Format, ParseOptions};
use proptest::prelude::*;

use crate::common::corpus_dir;

const FORMATS: [Format; 5] = [
    Format::Trx,
    Format::Nunit,
    Format::XunitNet,
    Format::Catch2Xml,
    Format::Checkstyle,
];

/// Pieces of the five formats, so random sequences reach deep into each state machine.
const TOKENS: &[&str] = &[
    "<?xml version='1.0'?>",
    "<!DOCTYPE t [<!ENTITY x SYSTEM 'file:///etc/passwd'>]>",
    "<TestRun>",
    "</TestRun>",
    "<Results>",
    "</Results>",
    "<UnitTestResult testId='1' testName='N.C.m' outcome='Failed' duration='00:00:01'>",
    "<UnitTestResult testId='2' outcome='Aborted'/>",
    "</UnitTestResult>",
    "<InnerResults>",
    "</InnerResults>",
    "<Output><ErrorInfo><Message>",
    "</Message><StackTrace>at x</StackTrace></ErrorInfo></Output>",
    "<TestDefinitions><UnitTest id='1' storage='a.dll'><TestMethod className='N.C'/></UnitTest></TestDefinitions>",
    "<ResultSummary><Counters total='3'/><RunInfos><RunInfo outcome='Error'><Text>t</Text></RunInfo></RunInfos></ResultSummary>",
    "<test-run testcasecount='2'>",
    "<test-results>",
    "<test-suite type='TestFixture' name='F' result='Failed' site='TearDown'>",
    "</test-suite>",
    "<test-case name='A.B.c(1)' result='Error' executed='True'>",
    "<test-case name='d' result='Skipped' runstate='Ignored'/>",
    "</test-case>",
    "<failure>",
    "</failure>",
    "<message>",
    "</message>",
    "<stack-trace>s</stack-trace>",
    "<reason><message>r</message></reason>",
    "<output>o</output>",
    "<assemblies>",
    "<assembly name='x.dll' total='1'>",
    "</assembly>",
    "<collection name='c'>",
    "</collection>",
    "<test name='T.m' type='T' result='Fail'>",
    "<test name='u'/>",
    "</test>",
    "<errors><error type='fatal'><failure exception-type='E'><message>m</message></failure></error></errors>",
    "<Catch name='c'>",
    "<Group name='g'>",
    "<TestCase name='tc' tags='[!mayfail]' filename='f.cpp' line='3'>",
    "</TestCase>",
    "<Section name='s'>",
    "</Section>",
    "<Expression success='false' type='CHECK'><Original>a</Original><Expanded>b</Expanded></Expression>",
    "<Exception>e</Exception>",
    "<OverallResult success='true' skips='1'/>",
    "<OverallResult success='false'><StdOut>o</StdOut></OverallResult>",
    "<checkstyle>",
    "<file name='a.js'>",
    "</file>",
    "<error line='1' column='2' severity='warning' message='m' source='eslint.rules.x'/>",
    "<exception>boom</exception>",
    "text &amp; &#0; &x; \u{1} \u{fffd}",
    "<![CDATA[<not a tag>]]>",
    "<",
    ">",
    "\"",
    "&",
    "</",
];

fn run(bytes: &[u8], format: Format) -> (Collector<'static>, bool) {
    let mut c = Collector::keep_all();
    let opts = ParseOptions {
        max_text_bytes: 512,
    };
    let r = parsers::parse(bytes, "prop.xml", Some(format), &opts, &mut c);
    (c, r.is_ok())
}

fn check_invariants(c: &Collector<'_>) -> Result<(), TestCaseError> {
    let n = c.counts;
    prop_assert_eq!(n.tests, n.passed + n.failed + n.errored + n.skipped);
    let all = c.all.as_ref().unwrap();
    prop_assert_eq!(all.len() as u64, n.tests);
    let bad = all.iter().filter(|c| c.status.is_bad()).count() as u64;
    prop_assert_eq!(bad, n.failed + n.errored);
    prop_assert_eq!(c.findings.len() as u64, c.lint.total());
    for case in all {
        for t in [&case.output, &case.skip_reason]
            .into_iter()
            .flatten()
            .chain(
                case.failure
                    .iter()
                    .flat_map(|f| [&f.message, &f.trace].into_iter().flatten()),
            )
        {
            // Bounded texts (the bound plus the room a data-row summary may add).
            prop_assert!(t.len() <= 4 * 512, "{} bytes", t.len());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        for f in FORMATS {
            let (c, _) = run(&bytes, f);
            check_invariants(&c)?;
        }
    }

    #[test]
    fn format_shaped_noise_never_panics(
        toks in prop::collection::vec(prop::sample::select(TOKENS), 0..80)
    ) {
        let doc = toks.concat();
        for f in FORMATS {
            let (c, _) = run(doc.as_bytes(), f);
            check_invariants(&c)?;
        }
    }
}

/// One real file per format, cut at many points.
#[test]
fn truncated_corpus_files_never_yield_more_than_the_whole() {
    let files = [
        (
            "peers/test-reporter/__tests__/fixtures/dotnet-trx.trx",
            Format::Trx,
        ),
        (
            "peers/publish-unit-test-result-action/python/test/files/nunit/nunit3/jenkins/NUnit-correct.xml",
            Format::Nunit,
        ),
        (
            "peers/test-reporter/__tests__/fixtures/dotnet-nunit.xml",
            Format::Nunit,
        ),
        (
            "peers/publish-unit-test-result-action/python/test/files/xunit/mstest/fixie.xml",
            Format::XunitNet,
        ),
        ("generated/catch2/all.catch2-xml.xml", Format::Catch2Xml),
    ];
    for (rel, format) in files {
        let bytes = std::fs::read(corpus_dir().join(rel)).unwrap();
        let (full, ok) = run(&bytes, format);
        assert!(ok, "{rel}");
        let step = (bytes.len() / 97).max(1);
        for cut in (0..bytes.len()).step_by(step) {
            let (part, ok) = run(&bytes[..cut], format);
            assert!(
                part.counts.tests <= full.counts.tests,
                "{rel} cut at {cut}: {:?} > {:?}",
                part.counts,
                full.counts
            );
            if cut > 0 && cut < bytes.len() - 16 {
                assert!(!ok, "{rel} cut at {cut} was not reported as an error");
            }
        }
    }
}
