//! NUnit XML: NUnit 2.x (`<test-results>`), NUnit 3 (`<test-run>`), and a bare
//! `<test-suite>` root (what some tools write for one assembly).
//!
//! Every `<test-case>` is one [`Case`], wherever it sits in the nested `<test-suite>`s
//! (Assembly > Namespace > TestFixture > ParameterizedTest/Theory/ParameterizedMethod):
//! parameterized tests and theories count once per generated case, as NUnit counts them.
//!
//! # Counting rules (checked against NUnit's own summaries and the corpus oracles)
//!
//! In this order, the first rule that applies wins:
//!
//! 1. `result="Error"` (NUnit 2: an unexpected exception, also in `[SetUp]`) → errored.
//! 2. `result="Failure"`/`"Failed"`/`"Cancelled"` → failed. NUnit 3 marks unexpected
//!    exceptions `result="Failed" label="Error"`, and its console's summary line
//!    (`Test Count: …, Failed: N`) counts them as failed, so they stay failed here; the
//!    exception type is kept as the failure kind.
//! 3. Not run: `executed="False"`, `result` Skipped/Ignored/NotRunnable/Inconclusive/Explicit/
//!    NotRun, or `runstate` Skipped/Ignored/NotRunnable → skipped (NUnit 2's "Not run" and
//!    "Inconclusive", NUnit 3's "Skipped" and "Inconclusive"; the reason is kept).
//! 4. A `<failure>` child or `success="False"` → failed.
//! 5. Anything else (Success, Passed, Warning, no result at all) → passed.
//!
//! A suite-level `<failure>` (a `[OneTimeSetUp]`/`[TestFixtureSetUp]` or teardown that threw)
//! becomes a [`SuiteError`] only when no test case under that suite already failed because
//! of it (NUnit marks the cases of a failed fixture setup as failed themselves);
//! `site="Child"` failures ("One or more child tests had errors") are only a roll-up, and
//! `site="Parent"` ones are inherited from a parent that reports them itself.
//!
//! Names: NUnit 3 gives `classname` and a short `name`; NUnit 2 gives only the full name
//! (`Ns.Fixture.Method(args)`), which is split at the last `.` before the arguments.
//! The file's own `total` on its `<test-run>` (or root `<test-suite>`) is compared with what
//! was read, and a difference (a hand-edited or partly written file) is a warning.

use std::io::BufRead;

use super::xml::{Event, XmlReader};
use super::{ParseError, ParseOptions, Sink, text};
use crate::model::{Case, Failure, Status, SuiteError};

/// The elements whose place matters to this parser; everything else is `Other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum El {
    Suite,
    Case,
    Failure,
    Reason,
    Message,
    StackTrace,
    Output,
    Other,
}

impl El {
    fn of(name: &[u8]) -> El {
        match name {
            b"test-suite" => El::Suite,
            b"test-case" => El::Case,
            b"failure" => El::Failure,
            b"reason" => El::Reason,
            b"message" => El::Message,
            b"stack-trace" => El::StackTrace,
            b"output" => El::Output,
            _ => El::Other,
        }
    }
}

#[derive(Default)]
struct SuiteFrame {
    name: String,
    /// For `type="TestFixture"` suites: the fixture's full name, the class of its cases
    /// when they do not name it themselves.
    fixture: Option<String>,
    /// Failed or errored cases under this suite (for deciding whether a suite failure is
    /// already visible on its cases).
    bad: u64,
    result: String,
    site: String,
    message: Option<String>,
    trace: Option<String>,
}

#[derive(Default)]
struct CaseFrame {
    case: Case,
    result: String,
    not_run: bool,
    success_false: bool,
    has_failure: bool,
    message: Option<String>,
    trace: Option<String>,
    reason: Option<String>,
    output: Option<String>,
}

/// The `<test-run>` totals, to compare with what the cases add up to.
#[derive(Default)]
struct Declared {
    total: Option<u64>,
}

/// Where captured text goes when its element ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    CaseMessage,
    CaseTrace,
    CaseReason,
    CaseOutput,
    SuiteMessage,
    SuiteTrace,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let r = run(&mut xml, sink);
    xml.flush_warnings(sink);
    r
}

fn run<R: BufRead>(xml: &mut XmlReader<R>, sink: &mut dyn Sink) -> Result<(), ParseError> {
    let mut stack: Vec<El> = Vec::with_capacity(32);
    let mut suites: Vec<SuiteFrame> = Vec::new();
    let mut case: Option<CaseFrame> = None;
    let mut capture: Option<(Target, usize)> = None;
    let mut declared = Declared::default();
    let mut seen_root = false;
    let mut read = 0u64;
    loop {
        match xml.next()? {
            Event::Start(tag) => {
                let el = El::of(tag.name());
                if !seen_root {
                    seen_root = true;
                    match tag.name() {
                        // `total` counts the cases that ran (those in the file);
                        // `testcasecount` also counts the ones a filter left out.
                        b"test-run" | b"test-suite" => {
                            declared.total = tag
                                .attr("total")
                                .or_else(|| tag.attr("testcasecount"))
                                .and_then(|v| v.trim().parse().ok());
                        }
                        b"test-results" => {}
                        other => {
                            return Err(ParseError::at(
                                tag.position(),
                                format!(
                                    "not an NUnit report: the root element is <{}>, expected \
                                     <test-run> (NUnit 3) or <test-results> (NUnit 2)",
                                    String::from_utf8_lossy(other)
                                ),
                            ));
                        }
                    }
                }
                let parent = stack.last().copied();
                let grand = stack.len().checked_sub(2).map(|i| stack[i]);
                match el {
                    El::Suite => suites.push(SuiteFrame {
                        name: attr(&tag, "name"),
                        fixture: tag
                            .attr("type")
                            .filter(|t| t.eq_ignore_ascii_case("TestFixture"))
                            .and_then(|_| tag.attr("fullname").or_else(|| tag.attr("name")))
                            .map(|n| n.into_owned()),
                        result: attr(&tag, "result").to_ascii_lowercase(),
                        site: attr(&tag, "site").to_ascii_lowercase(),
                        ..Default::default()
                    }),
                    El::Case => {
                        let mut c = Case {
                            suite: suites.iter().map(|s| s.name.clone()).collect(),
                            ..Default::default()
                        };
                        let full = attr(&tag, "name");
                        match tag.attr("classname").filter(|c| !c.is_empty()) {
                            Some(cls) => {
                                c.classname = Some(cls.into_owned());
                                c.name = full;
                            }
                            None => {
                                let (cls, short) = split_full_name(&full);
                                c.classname = cls.map(str::to_string).or_else(|| {
                                    suites.iter().rev().find_map(|s| s.fixture.clone())
                                });
                                c.name = short.to_string();
                            }
                        }
                        c.duration = tag
                            .attr("duration")
                            .or_else(|| tag.attr("time"))
                            .and_then(|d| text::parse_seconds(&d));
                        let lower = |k: &str| attr(&tag, k).to_ascii_lowercase();
                        let result = lower("result");
                        let runstate = lower("runstate");
                        let not_run = lower("executed") == "false"
                            || matches!(
                                result.as_str(),
                                "skipped"
                                    | "ignored"
                                    | "notrunnable"
                                    | "inconclusive"
                                    | "explicit"
                                    | "notrun"
                            )
                            || matches!(runstate.as_str(), "skipped" | "ignored" | "notrunnable");
                        case = Some(CaseFrame {
                            case: c,
                            result,
                            not_run,
                            success_false: lower("success") == "false",
                            ..Default::default()
                        });
                    }
                    El::Failure if parent == Some(El::Case) => {
                        if let Some(cf) = case.as_mut() {
                            cf.has_failure = true;
                        }
                    }
                    El::Message | El::StackTrace => {
                        let target = match (el, parent, grand) {
                            (El::Message, Some(El::Failure), Some(El::Case)) => {
                                Some(Target::CaseMessage)
                            }
                            (El::StackTrace, Some(El::Failure), Some(El::Case)) => {
                                Some(Target::CaseTrace)
                            }
                            (El::Message, Some(El::Reason), Some(El::Case)) => {
                                Some(Target::CaseReason)
                            }
                            (El::Message, Some(El::Failure | El::Reason), Some(El::Suite)) => {
                                Some(Target::SuiteMessage)
                            }
                            (El::StackTrace, Some(El::Failure), Some(El::Suite)) => {
                                Some(Target::SuiteTrace)
                            }
                            _ => None,
                        };
                        if let Some(t) = target
                            && capture.is_none()
                        {
                            xml.capture_text();
                            capture = Some((t, stack.len()));
                        }
                    }
                    El::Output if parent == Some(El::Case) && capture.is_none() => {
                        xml.capture_text();
                        capture = Some((Target::CaseOutput, stack.len()));
                    }
                    _ => {}
                }
                stack.push(el);
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else { continue };
                if let Some((target, depth)) = capture
                    && depth == stack.len()
                {
                    capture = None;
                    let s = tidy(xml.take_text());
                    store(target, s, case.as_mut(), suites.last_mut());
                }
                match el {
                    El::Case => {
                        if let Some(cf) = case.take() {
                            let status = finish_case(cf, sink);
                            read += 1;
                            if status.is_bad() {
                                for s in suites.iter_mut() {
                                    s.bad += 1;
                                }
                            }
                        }
                    }
                    El::Suite => {
                        if let Some(frame) = suites.pop() {
                            suite_error(&frame, &suites, sink);
                        }
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(ParseError::new(
            "no NUnit elements found: the file is empty or not XML",
        ));
    }
    if let Some(total) = declared.total
        && total != read
    {
        sink.warning(
            None,
            format!(
                "the root element declares {total} test cases but the file holds {read}: \
                 counts are taken from the test cases"
            ),
        );
    }
    Ok(())
}

fn attr(tag: &super::xml::Tag<'_>, name: &str) -> String {
    tag.attr(name).map(|v| v.into_owned()).unwrap_or_default()
}

/// Captured text, trimmed, with control characters and ANSI escapes removed; `None` if empty.
fn tidy(s: String) -> Option<String> {
    let t = text::clean_control(&s);
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn store(
    t: Target,
    s: Option<String>,
    case: Option<&mut CaseFrame>,
    suite: Option<&mut SuiteFrame>,
) {
    match t {
        Target::CaseMessage | Target::CaseTrace | Target::CaseReason | Target::CaseOutput => {
            if let Some(cf) = case {
                let slot = match t {
                    Target::CaseMessage => &mut cf.message,
                    Target::CaseTrace => &mut cf.trace,
                    Target::CaseReason => &mut cf.reason,
                    _ => &mut cf.output,
                };
                if slot.is_none() {
                    *slot = s;
                }
            }
        }
        Target::SuiteMessage | Target::SuiteTrace => {
            if let Some(sf) = suite {
                let slot = if t == Target::SuiteMessage {
                    &mut sf.message
                } else {
                    &mut sf.trace
                };
                if slot.is_none() {
                    *slot = s;
                }
            }
        }
    }
}

fn finish_case(cf: CaseFrame, sink: &mut dyn Sink) -> Status {
    let mut c = cf.case;
    c.status = match cf.result.as_str() {
        "error" => Status::Errored,
        "failure" | "failed" | "cancelled" => Status::Failed,
        _ if cf.not_run => Status::Skipped,
        _ if cf.has_failure || cf.success_false => Status::Failed,
        _ => Status::Passed,
    };
    match c.status {
        Status::Failed | Status::Errored => {
            c.failure = Some(Failure {
                kind: cf.message.as_deref().and_then(exception_kind),
                message: cf.message.or(cf.reason),
                trace: cf.trace,
            });
        }
        Status::Skipped => c.skip_reason = cf.reason.or(cf.message),
        Status::Passed => {}
    }
    c.output = cf.output;
    let status = c.status;
    sink.case(c);
    status
}

fn suite_error(frame: &SuiteFrame, outer: &[SuiteFrame], sink: &mut dyn Sink) {
    let failed = matches!(
        frame.result.as_str(),
        "failure" | "failed" | "error" | "cancelled"
    );
    // site="Child" is a roll-up of failed children, site="Parent" an inherited failure that
    // the parent suite (or the cases beside this one) already carries.
    if !failed || frame.bad > 0 || frame.site == "child" || frame.site == "parent" {
        return;
    }
    let Some(message) = frame.message.clone() else {
        return;
    };
    let mut path: Vec<&str> = outer.iter().map(|s| s.name.as_str()).collect();
    path.push(&frame.name);
    sink.suite_error(SuiteError {
        suite: path.join(" / "),
        message,
        kind: match frame.site.as_str() {
            "setup" | "teardown" => "hook".to_string(),
            _ => "load".to_string(),
        },
        trace: frame.trace.clone(),
        ..Default::default()
    });
}

/// Splits an NUnit 2 full name `Ns.Fixture.Method(args)` into (`Ns.Fixture`, `Method(args)`),
/// never inside the arguments (which may contain dots).
pub(crate) fn split_full_name(full: &str) -> (Option<&str>, &str) {
    let head_end = full.find('(').unwrap_or(full.len());
    match full[..head_end].rfind('.') {
        Some(i) if i > 0 => (Some(&full[..i]), &full[i + 1..]),
        _ => (None, full),
    }
}

/// The exception type at the start of a .NET failure message (`System.InvalidOperationException
/// : boom`, `OpenQA.Selenium.WebDriverTimeoutException : Timed out`), if there is one.
pub(crate) fn exception_kind(message: &str) -> Option<String> {
    let first = message.lines().next()?;
    let (ty, _) = first.split_once(" : ")?;
    let ty = ty.trim();
    let plausible = !ty.is_empty()
        && ty.len() <= 200
        && ty
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '_' || c == '`' || c == '+')
        && (ty.ends_with("Exception") || ty.ends_with("Error"));
    plausible.then(|| ty.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{Format, parse_bytes};

    fn parse(xml: &str) -> crate::parsers::Collector<'static> {
        let (c, r) = parse_bytes(xml.as_bytes(), "r.xml", Some(Format::Nunit));
        r.unwrap();
        c
    }

    #[test]
    fn nunit2_statuses_follow_the_console_summary() {
        let c = parse(
            r#"<test-results total="6"><test-suite type="TestFixture" name="F"><results>
              <test-case name="Ns.F.Ok" executed="True" result="Success" success="True" time="0.5"/>
              <test-case name="Ns.F.Bad" executed="True" result="Failure" success="False">
                <failure><message><![CDATA[Expected: 1
  But was:  2]]></message><stack-trace>at Ns.F.Bad() in /src/F.cs:line 12</stack-trace></failure>
              </test-case>
              <test-case name="Ns.F.Boom" executed="True" result="Error" success="False">
                <failure><message>System.InvalidOperationException : boom</message></failure>
              </test-case>
              <test-case name="Ns.F.Later" executed="False" result="Ignored">
                <reason><message>not today</message></reason></test-case>
              <test-case name="Ns.F.Maybe" executed="True" result="Inconclusive"/>
              <test-case name="Ns.F.Param(&quot;a.b&quot;,1)" executed="True" success="True"/>
            </results></test-suite></test-results>"#,
        );
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (6, 2, 1, 1, 2)
        );
        let all = c.all.unwrap();
        assert_eq!(all[0].classname.as_deref(), Some("Ns.F"));
        assert_eq!(all[0].name, "Ok");
        assert_eq!(all[0].duration, Some(0.5));
        assert_eq!(all[0].suite, ["F"]);
        let bad = all[1].failure.as_ref().unwrap();
        assert_eq!(bad.message.as_deref(), Some("Expected: 1\n  But was:  2"));
        assert_eq!(
            bad.trace.as_deref(),
            Some("at Ns.F.Bad() in /src/F.cs:line 12")
        );
        let boom = all[2].failure.as_ref().unwrap();
        assert_eq!(
            boom.kind.as_deref(),
            Some("System.InvalidOperationException")
        );
        assert_eq!(all[3].skip_reason.as_deref(), Some("not today"));
        assert_eq!(all[5].name, "Param(\"a.b\",1)");
        assert_eq!(all[5].classname.as_deref(), Some("Ns.F"));
    }

    #[test]
    fn nunit3_labels_params_and_output() {
        let c = parse(
            r#"<test-run testcasecount="5" total="5"><test-suite type="Assembly" name="a.dll">
              <test-suite type="TestFixture" name="F" fullname="Ns.F">
               <test-suite type="ParameterizedMethod" name="Add">
                <test-case name="Add(1,2)" classname="Ns.F" result="Passed" duration="0.25">
                  <output><![CDATA[hello]]></output></test-case>
                <test-case name="Add(2,2)" classname="Ns.F" result="Failed" label="Error">
                  <failure><message>System.NullReferenceException : x</message>
                  <stack-trace>at Ns.F.Add()</stack-trace></failure>
                  <assertions><assertion result="Failed"><message>ignored</message></assertion></assertions>
                </test-case>
               </test-suite>
               <test-case name="W" classname="Ns.F" result="Warning"/>
               <test-case name="E" classname="Ns.F" result="Skipped" label="Explicit" runstate="Explicit"/>
               <test-case name="I" classname="Ns.F" result="Skipped" label="Ignored">
                 <reason><message><![CDATA[later]]></message></reason></test-case>
              </test-suite></test-suite></test-run>"#,
        );
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (5, 2, 1, 0, 2)
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let all = c.all.unwrap();
        assert_eq!(all[0].output.as_deref(), Some("hello"));
        assert_eq!(all[0].suite, ["a.dll", "F", "Add"]);
        let f = all[1].failure.as_ref().unwrap();
        assert_eq!(
            f.message.as_deref(),
            Some("System.NullReferenceException : x")
        );
        assert_eq!(f.kind.as_deref(), Some("System.NullReferenceException"));
        assert_eq!(f.trace.as_deref(), Some("at Ns.F.Add()"));
        assert_eq!(all[4].skip_reason.as_deref(), Some("later"));
    }

    #[test]
    fn suite_failures_without_failed_cases_are_suite_errors() {
        let c = parse(
            r#"<test-run testcasecount="2"><test-suite type="Assembly" name="a.dll" result="Failed" site="Child">
              <failure><message>One or more child tests had errors</message></failure>
              <test-suite type="TestFixture" name="Down" result="Failed" site="TearDown">
                <failure><message>System.Exception : teardown broke</message><stack-trace>at Down.TearDown()</stack-trace></failure>
                <test-case name="A" classname="Down" result="Passed"/>
              </test-suite>
              <test-suite type="TestFixture" name="Up" result="Failed" site="SetUp">
                <failure><message>setup broke</message></failure>
                <test-case name="B" classname="Up" result="Failed" site="Parent">
                  <failure><message>OneTimeSetUp: setup broke</message></failure></test-case>
                <test-suite type="ParameterizedMethod" name="P" result="Failed" site="Parent">
                  <failure><message>OneTimeSetUp: setup broke</message></failure></test-suite>
              </test-suite></test-suite></test-run>"#,
        );
        assert_eq!((c.counts.passed, c.counts.failed), (1, 1));
        assert_eq!(c.suite_errors.len(), 1, "{:?}", c.suite_errors);
        let e = &c.suite_errors[0];
        assert_eq!(e.suite, "a.dll / Down");
        assert_eq!(e.kind, "hook");
        assert_eq!(e.message, "System.Exception : teardown broke");
        assert_eq!(e.trace.as_deref(), Some("at Down.TearDown()"));
    }

    #[test]
    fn declared_totals_that_disagree_are_a_warning() {
        let c = parse(
            r#"<test-run testcasecount="3"><test-case name="a" result="Passed"/></test-run>"#,
        );
        assert_eq!(c.counts.tests, 1);
        assert!(
            c.warnings[0].1.contains("declares 3 test cases"),
            "{:?}",
            c.warnings
        );
    }

    #[test]
    fn a_wrong_root_and_truncation_are_errors() {
        let (_, r) = parse_bytes(b"<project><x/></project>", "pom.xml", Some(Format::Nunit));
        let e = r.unwrap_err();
        assert!(e.message.contains("root element is <project>"), "{e}");
        let (c, r) = parse_bytes(
            b"<test-run><test-case name='a' result='Passed'/><test-case name='b'",
            "r.xml",
            Some(Format::Nunit),
        );
        assert!(r.is_err());
        assert_eq!(c.counts.tests, 1);
    }

    #[test]
    fn names_split_outside_arguments() {
        assert_eq!(
            split_full_name("A.B.C(\"x.y\")"),
            (Some("A.B"), "C(\"x.y\")")
        );
        assert_eq!(split_full_name("Plain"), (None, "Plain"));
        assert_eq!(exception_kind("Expected: 1"), None);
        assert_eq!(exception_kind("Some words : here"), None);
    }
}
