//! xUnit.net XML (`-xml` of the v1, v2 and v3 console runners, also written by Fixie and
//! others): `<assemblies>` or a single `<assembly>` root, tests in `<collection>` (v2/v3) or
//! `<class>` (v1).
//!
//! # Counting rules
//!
//! One [`Case`] per `<test>`, by its `result`, as the runner's summary counts them:
//! `Pass` → passed, `Fail` → failed, `Skip` → skipped, `NotRun` (v3: explicit tests that
//! were not asked for) → skipped. A `<test>` without a known `result` falls back to its
//! children: `<failure>` → failed, `<reason>` → skipped, otherwise passed (with a warning).
//!
//! Failures carry `exception-type` as their kind, `<message>` and `<stack-trace>`; skip
//! reasons come from `<reason>`, output from `<output>`. Traits are not part of the model.
//! Errors outside any test (`<errors><error type="assembly-cleanup" …>`: fixture, collection
//! or assembly cleanup that threw, or a fatal runner error) become [`SuiteError`]s — they
//! make a run red without a failing test, as the runner's own "Errors: N" does.
//! Names: `name` without its `type.` prefix (`Ns.Class.Method(x: 1)` → `Method(x: 1)`),
//! classname from `type`, suites = assembly file name and collection/class name.

use std::io::BufRead;

use super::nunit::exception_kind;
use super::xml::{Event, Tag, XmlReader};
use super::{ParseError, ParseOptions, Sink, text};
use crate::model::{Case, Failure, Status, SuiteError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum El {
    Assembly,
    Collection,
    Test,
    Failure,
    Error,
    Other,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Message,
    Trace,
    Reason,
    Output,
}

#[derive(Default)]
struct TestFrame {
    case: Case,
    result: String,
    has_failure: bool,
    has_reason: bool,
    kind: Option<String>,
    message: Option<String>,
    trace: Option<String>,
    reason: Option<String>,
    output: Option<String>,
}

#[derive(Default)]
struct ErrorFrame {
    kind: String,
    name: String,
    exception: Option<String>,
    message: Option<String>,
    trace: Option<String>,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let r = run(&mut xml, opts.max_text_bytes, sink);
    xml.flush_warnings(sink);
    r
}

fn run<R: BufRead>(
    xml: &mut XmlReader<R>,
    max_text: usize,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut stack: Vec<El> = Vec::with_capacity(16);
    let mut assembly = String::new();
    let mut collection = String::new();
    let mut test: Option<TestFrame> = None;
    let mut error: Option<ErrorFrame> = None;
    let mut capture: Option<(Target, usize)> = None;
    let mut seen_root = false;
    let mut fallback_warned = false;
    // Sum of the assemblies' own `total`s, to compare with the tests the file holds.
    let mut declared: Option<u64> = Some(0);
    let mut read = 0u64;
    loop {
        match xml.next()? {
            Event::Start(tag) => {
                if !seen_root {
                    seen_root = true;
                    if !matches!(tag.name(), b"assemblies" | b"assembly") {
                        return Err(ParseError::at(
                            tag.position(),
                            format!(
                                "not an xUnit.net report: the root element is <{}>, expected \
                                 <assemblies> or <assembly>",
                                String::from_utf8_lossy(tag.name())
                            ),
                        ));
                    }
                }
                let parent = stack.last().copied();
                let el = match (tag.name(), parent) {
                    (b"assembly", _) => El::Assembly,
                    (b"collection" | b"class", Some(El::Assembly)) => El::Collection,
                    (b"test", Some(El::Collection)) => El::Test,
                    (b"failure", Some(El::Test | El::Error)) => El::Failure,
                    (b"error", _) if stack.len() >= 2 && stack[stack.len() - 2] == El::Assembly => {
                        El::Error
                    }
                    _ => El::Other,
                };
                let mut want = None;
                match el {
                    El::Assembly => {
                        let name = attr(&tag, "name");
                        assembly = basename(&name).to_string();
                        let total = tag.attr("total").and_then(|t| t.trim().parse::<u64>().ok());
                        declared = declared.zip(total).map(|(a, b)| a + b);
                    }
                    El::Collection => collection = attr(&tag, "name"),
                    El::Test => {
                        let class = tag
                            .attr("type")
                            .map(|t| t.into_owned())
                            .filter(|t| !t.is_empty());
                        let full = attr(&tag, "name");
                        let name = class
                            .as_deref()
                            .and_then(|c| full.strip_prefix(c))
                            .and_then(|r| r.strip_prefix('.'))
                            .filter(|r| !r.is_empty())
                            .map(str::to_string)
                            .unwrap_or(full);
                        let mut suite = Vec::new();
                        if !assembly.is_empty() {
                            suite.push(assembly.clone());
                        }
                        if !collection.is_empty() {
                            suite.push(collection.clone());
                        }
                        let case = Case {
                            suite,
                            classname: class,
                            name,
                            duration: tag.attr("time").and_then(|t| text::parse_seconds(&t)),
                            file: tag.attr("source-file").map(|f| f.into_owned()),
                            line: tag.attr("source-line").and_then(|l| l.trim().parse().ok()),
                            ..Default::default()
                        };
                        test = Some(TestFrame {
                            case,
                            result: attr(&tag, "result").to_ascii_lowercase(),
                            ..Default::default()
                        });
                    }
                    El::Failure => {
                        let kind = tag.attr("exception-type").map(|k| k.into_owned());
                        if parent == Some(El::Test) {
                            if let Some(t) = test.as_mut() {
                                t.has_failure = true;
                                t.kind = kind;
                            }
                        } else if let Some(e) = error.as_mut() {
                            e.exception = kind;
                        }
                    }
                    El::Error => {
                        error = Some(ErrorFrame {
                            kind: attr(&tag, "type"),
                            name: attr(&tag, "name"),
                            ..Default::default()
                        });
                    }
                    El::Other => {
                        want = match (tag.name(), parent) {
                            (b"message", Some(El::Failure)) => Some(Target::Message),
                            (b"stack-trace", Some(El::Failure)) => Some(Target::Trace),
                            (b"reason", Some(El::Test)) => {
                                if let Some(t) = test.as_mut() {
                                    t.has_reason = true;
                                }
                                Some(Target::Reason)
                            }
                            (b"output", Some(El::Test)) => Some(Target::Output),
                            _ => None,
                        };
                    }
                }
                if let Some(t) = want
                    && capture.is_none()
                {
                    xml.capture_text();
                    capture = Some((t, stack.len()));
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
                    let in_error = stack.contains(&El::Error);
                    let slot = match (target, in_error, test.as_mut(), error.as_mut()) {
                        (Target::Message, true, _, Some(e)) => &mut e.message,
                        (Target::Trace, true, _, Some(e)) => &mut e.trace,
                        (Target::Message, false, Some(t), _) => &mut t.message,
                        (Target::Trace, false, Some(t), _) => &mut t.trace,
                        (Target::Reason, _, Some(t), _) => &mut t.reason,
                        (Target::Output, _, Some(t), _) => &mut t.output,
                        _ => continue,
                    };
                    if slot.is_none() {
                        *slot = s;
                    }
                }
                match el {
                    El::Test => {
                        if let Some(t) = test.take() {
                            finish_test(t, &mut fallback_warned, sink);
                            read += 1;
                        }
                    }
                    El::Error => {
                        if let Some(e) = error.take() {
                            finish_error(e, &assembly, max_text, sink);
                        }
                    }
                    El::Collection => collection.clear(),
                    _ => {}
                }
            }
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(ParseError::new(
            "no xUnit.net elements found: the file is empty or not XML",
        ));
    }
    if let Some(total) = declared
        && total != read
    {
        sink.warning(
            None,
            format!(
                "the <assembly> totals declare {total} tests but the file holds {read}: counts \
                 are taken from the tests"
            ),
        );
    }
    Ok(())
}

fn finish_test(t: TestFrame, fallback_warned: &mut bool, sink: &mut dyn Sink) {
    let mut c = t.case;
    c.status = match t.result.as_str() {
        "pass" => Status::Passed,
        "fail" => Status::Failed,
        "skip" | "notrun" => Status::Skipped,
        other => {
            if !*fallback_warned {
                *fallback_warned = true;
                sink.warning(
                    None,
                    format!(
                        "test {:?} has result={other:?} (expected Pass, Fail, Skip or NotRun): \
                         its status is taken from its <failure>/<reason> elements",
                        c.name
                    ),
                );
            }
            if t.has_failure {
                Status::Failed
            } else if t.has_reason {
                Status::Skipped
            } else {
                Status::Passed
            }
        }
    };
    match c.status {
        Status::Failed | Status::Errored => {
            c.failure = Some(Failure {
                kind: t
                    .kind
                    .filter(|k| !k.is_empty())
                    .or_else(|| t.message.as_deref().and_then(exception_kind)),
                message: t.message,
                trace: t.trace,
            });
        }
        Status::Skipped => c.skip_reason = t.reason,
        Status::Passed => {}
    }
    c.output = t.output;
    sink.case(c);
}

fn finish_error(e: ErrorFrame, assembly: &str, max_text: usize, sink: &mut dyn Sink) {
    let what = if e.kind.is_empty() {
        "error".to_string()
    } else {
        e.kind.clone()
    };
    let mut message = match (&e.exception, &e.message) {
        (Some(x), Some(m)) if !m.starts_with(x.as_str()) => format!("{x}: {m}"),
        (_, Some(m)) => m.clone(),
        (Some(x), None) => x.clone(),
        (None, None) => format!("{what} failed"),
    };
    if !e.kind.is_empty() {
        message = format!("{what}: {message}");
    }
    // Composed from an unbounded attribute and a bounded text: bound the whole (found by
    // fuzzing).
    let message = text::bound_text(&message, max_text);
    sink.suite_error(SuiteError {
        suite: if e.name.is_empty() {
            assembly.to_string()
        } else {
            e.name
        },
        message,
        kind: if e.kind.contains("cleanup") {
            "hook".to_string()
        } else {
            "load".to_string()
        },
        trace: e.trace,
        ..Default::default()
    });
}

fn attr(tag: &Tag<'_>, name: &str) -> String {
    tag.attr(name).map(|v| v.into_owned()).unwrap_or_default()
}

fn tidy(s: String) -> Option<String> {
    let t = text::clean_control(&s);
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Collector, Format, parse_bytes};

    fn parse(xml: &str) -> Collector<'static> {
        let (c, r) = parse_bytes(xml.as_bytes(), "r.xml", Some(Format::XunitNet));
        r.unwrap();
        c
    }

    #[test]
    fn long_error_messages_are_bounded() {
        // The exception type is an attribute of any length (found by fuzzing: 901 bytes).
        let long = "E".repeat(50_000);
        let c = parse(&format!(
            r#"<assemblies><assembly name="a.dll"><errors><error type="assembly-cleanup" name="F">
               <failure exception-type="{long}"><message>m</message></failure></error></errors>
               </assembly></assemblies>"#
        ));
        let m = &c.suite_errors[0].message;
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        assert!(
            m.len() <= max && m.starts_with("assembly-cleanup: EEE"),
            "{}",
            m.len()
        );
    }

    #[test]
    fn v2_results_failures_and_cleanup_errors() {
        let c = parse(
            r#"<assemblies><assembly name="C:\bin\My.Tests.dll" total="5">
             <errors><error type="test-class-cleanup" name="My.Tests.Fixture">
               <failure exception-type="System.InvalidOperationException">
                 <message>dispose broke</message><stack-trace>at Fixture.Dispose()</stack-trace></failure>
             </error></errors>
             <collection name="Test collection for My.Tests.Math" total="5">
              <test name="My.Tests.Math.Adds(a: 1)" type="My.Tests.Math" method="Adds" result="Pass" time="0.0100000">
                <traits><trait name="Category" value="fast"/></traits></test>
              <test name="My.Tests.Math.Fails" type="My.Tests.Math" method="Fails" result="Fail" time="0.2">
                <failure exception-type="Xunit.Sdk.EqualException">
                  <message><![CDATA[Assert.Equal() Failure
Expected: 1
Actual:   2]]></message>
                  <stack-trace><![CDATA[   at My.Tests.Math.Fails() in /src/Math.cs:line 20]]></stack-trace>
                </failure><output>log line</output></test>
              <test name="My.Tests.Math.Later" type="My.Tests.Math" method="Later" result="Skip"><reason><![CDATA[flaky]]></reason></test>
              <test name="My.Tests.Math.Explicit" type="My.Tests.Math" method="Explicit" result="NotRun"/>
              <test name="Odd" type="My.Tests.Math" method="Odd"><failure><message>x</message></failure></test>
             </collection></assembly></assemblies>"#,
        );
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (5, 1, 2, 0, 2)
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        let all = c.all.unwrap();
        assert_eq!(all[0].name, "Adds(a: 1)");
        assert_eq!(all[0].classname.as_deref(), Some("My.Tests.Math"));
        assert_eq!(
            all[0].suite,
            ["My.Tests.dll", "Test collection for My.Tests.Math"]
        );
        assert_eq!(all[0].duration, Some(0.01));
        let f = all[1].failure.as_ref().unwrap();
        assert_eq!(f.kind.as_deref(), Some("Xunit.Sdk.EqualException"));
        assert_eq!(
            f.message.as_deref(),
            Some("Assert.Equal() Failure\nExpected: 1\nActual:   2")
        );
        assert_eq!(
            f.trace.as_deref(),
            Some("at My.Tests.Math.Fails() in /src/Math.cs:line 20")
        );
        assert_eq!(all[1].output.as_deref(), Some("log line"));
        assert_eq!(all[2].skip_reason.as_deref(), Some("flaky"));
        assert_eq!(c.suite_errors.len(), 1);
        let e = &c.suite_errors[0];
        assert_eq!(e.suite, "My.Tests.Fixture");
        assert_eq!(e.kind, "hook");
        assert_eq!(
            e.message,
            "test-class-cleanup: System.InvalidOperationException: dispose broke"
        );
        assert_eq!(e.trace.as_deref(), Some("at Fixture.Dispose()"));
    }

    #[test]
    fn v1_single_assembly_with_classes() {
        let c = parse(
            r#"<assembly name="t.dll" total="3"><class name="K" total="2">
              <test name="K.A" type="K" method="A" result="Pass" time="1"/>
              <test name="K.B" type="K" method="B" result="Fail"><failure exception-type="Xunit.Sdk.TrueException"><message>nope</message></failure></test>
            </class></assembly>"#,
        );
        assert_eq!((c.counts.passed, c.counts.failed), (1, 1));
        assert!(
            c.warnings[0]
                .1
                .contains("declare 3 tests but the file holds 2"),
            "{:?}",
            c.warnings
        );
        let all = c.all.unwrap();
        assert_eq!(all[1].suite, ["t.dll", "K"]);
        assert_eq!(all[1].name, "B");
    }

    #[test]
    fn wrong_root_is_an_error() {
        let (_, r) = parse_bytes(b"<svg/>", "a.svg", Some(Format::XunitNet));
        assert!(r.unwrap_err().message.contains("<svg>"));
    }
}
