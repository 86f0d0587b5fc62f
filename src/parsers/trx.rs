//! Visual Studio / VSTest TRX (`<TestRun>`), as written by `dotnet test --logger trx`,
//! `vstest.console /logger:trx` and MSTest (2010 schema) for MSTest, NUnit and xUnit.net.
//!
//! # Counting rules
//!
//! One [`Case`] per top-level result in `<Results>` (`<UnitTestResult>`, and the other
//! `…TestResult` kinds), which is what the file's own `<ResultSummary><Counters total>` and
//! the VSTest console count. A data-driven result with `<InnerResults>` (one inner result per
//! data row) is one case: its status is its own `outcome`, and when it failed the failing
//! rows are named in its failure (the outer result is what TRX counts).
//!
//! | `outcome` | status |
//! |---|---|
//! | Passed, PassedButRunAborted, Warning, Completed | passed |
//! | Failed, Timeout (VSTest counts a timeout as failed) | failed |
//! | Error, Disconnected, or no `outcome` at all | errored |
//! | NotExecuted, NotRunnable, Inconclusive, Aborted, Pending, InProgress | skipped |
//!
//! Aborted tests are counted as not run (skipped), as publish-unit-test-result-action does:
//! they never completed because the run itself was aborted, and that abort is reported as a
//! [`SuiteError`] from the summary's `<RunInfo outcome="Error">` (e.g. "the test host process
//! exited unexpectedly"). A RunInfo error is also reported when no test failed, so a red run
//! never looks green; when tests did fail it only repeats them ("exit code indicates
//! failure") and is left out. Unknown outcomes count as skipped, with a warning.
//!
//! Names: `testName` without its `className.` prefix; the class (assembly-qualified suffix
//! removed) and the assembly come from `<TestDefinitions>`, joined on `testId`. VSTest
//! writes the definitions *after* the results, so results wait (as compact cases, their
//! texts already bounded) until the definitions are read; this is the one XML format whose
//! memory grows with the number of tests, capped at [`MAX_PENDING`] waiting results and
//! [`MAX_PENDING_BYTES`] of their text, beyond which the file's results are all emitted
//! without a class (with a warning) rather than break the memory bound.
//!
//! `ErrorInfo/Message` and `ErrorInfo/StackTrace` are the failure (the exception type at the
//! start of the message, `System.X : …`, becomes its kind), `StdOut`/`StdErr` the output.

use std::collections::HashMap;
use std::io::BufRead;

use super::nunit::exception_kind;
use super::xml::{Event, Tag, XmlReader};
use super::{ParseError, ParseOptions, Sink, text};
use crate::model::{Case, Failure, Status, SuiteError};

/// Most results kept waiting for `<TestDefinitions>`.
pub const MAX_PENDING: usize = 200_000;
/// Most bytes of text (names, messages, traces, output) kept in waiting results.
pub const MAX_PENDING_BYTES: usize = 64 << 20;
/// Failing data rows named in a data-driven result's failure.
const MAX_ROWS_NAMED: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum El {
    TestRun,
    Results,
    Result,
    InnerResults,
    Output,
    ErrorInfo,
    TextMessages,
    Definitions,
    Definition,
    ResultSummary,
    RunInfo,
    Other,
}

/// Where captured text goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Message,
    Trace,
    StdOut,
    StdErr,
    TextMessage,
    RunInfoText,
}

#[derive(Default)]
struct ResultFrame {
    test_id: String,
    test_name: String,
    outcome: Option<String>,
    duration: Option<f64>,
    message: Option<String>,
    trace: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    text_message: Option<String>,
    inner_total: u64,
    inner_bad: u64,
    inner_failures: Vec<String>,
    inner_trace: Option<String>,
}

/// A top-level result, waiting for its class from `<TestDefinitions>`.
struct Pending {
    test_id: String,
    case: Case,
}

#[derive(Default)]
struct Def {
    class: Option<String>,
    storage: Option<String>,
}

#[derive(Default)]
struct State {
    stack: Vec<El>,
    results: Vec<ResultFrame>,
    capture: Option<(Target, usize)>,
    defs: HashMap<String, Def>,
    /// The definition being read (`id`), while inside it.
    def_id: Option<String>,
    defs_done: bool,
    pending: Vec<Pending>,
    pending_overflowed: bool,
    pending_bytes: usize,
    /// [`MAX_PENDING`] and [`MAX_PENDING_BYTES`] (smaller in tests).
    limits: (usize, usize),
    declared_total: Option<u64>,
    declared_aborted: u64,
    run_info: Option<(String, Option<String>)>,
    read: u64,
    bad: u64,
    aborted: u64,
    unknown_warned: bool,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    parse_with_limits(reader, opts, sink, (MAX_PENDING, MAX_PENDING_BYTES))
}

fn parse_with_limits(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
    limits: (usize, usize),
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let mut st = State {
        limits,
        ..Default::default()
    };
    let r = run(&mut xml, &mut st, opts, sink);
    // Results read before an error (a truncated file) still count.
    st.flush(sink);
    xml.flush_warnings(sink);
    r?;
    st.finish(opts.max_text_bytes, sink);
    Ok(())
}

fn run<R: BufRead>(
    xml: &mut XmlReader<R>,
    st: &mut State,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_root = false;
    loop {
        match xml.next()? {
            Event::Start(tag) => {
                if !seen_root {
                    seen_root = true;
                    if tag.name() != b"TestRun" {
                        return Err(ParseError::at(
                            tag.position(),
                            format!(
                                "not a TRX report: the root element is <{}>, expected <TestRun>",
                                String::from_utf8_lossy(tag.name())
                            ),
                        ));
                    }
                }
                let parent = st.stack.last().copied();
                let el = classify(tag.name(), parent);
                let mut want_capture = None;
                match el {
                    El::Result => st.results.push(ResultFrame {
                        test_id: attr(&tag, "testId"),
                        test_name: attr(&tag, "testName"),
                        outcome: tag.attr("outcome").map(|o| o.trim().to_string()),
                        duration: tag.attr("duration").and_then(|d| parse_timespan(&d)),
                        ..Default::default()
                    }),
                    El::Definition => {
                        let id = attr(&tag, "id");
                        st.defs.insert(
                            id.clone(),
                            Def {
                                class: None,
                                storage: tag.attr("storage").map(|s| basename(&s).to_string()),
                            },
                        );
                        st.def_id = Some(id);
                    }
                    El::Other if parent == Some(El::Definition) && tag.name() == b"TestMethod" => {
                        if let (Some(id), Some(class)) = (&st.def_id, tag.attr("className")) {
                            let class = class.split(',').next().unwrap_or("").trim();
                            if let Some(d) = st.defs.get_mut(id)
                                && !class.is_empty()
                            {
                                d.class = Some(class.to_string());
                            }
                        }
                    }
                    El::Other if parent == Some(El::ResultSummary) && tag.name() == b"Counters" => {
                        let n = |k: &str| tag.attr(k).and_then(|v| v.trim().parse::<u64>().ok());
                        st.declared_total = n("total");
                        st.declared_aborted = n("aborted").unwrap_or(0);
                    }
                    El::RunInfo
                        if st.run_info.is_none()
                            && tag
                                .attr("outcome")
                                .is_some_and(|o| o.eq_ignore_ascii_case("error")) =>
                    {
                        st.run_info = Some((attr(&tag, "computerName"), None));
                    }
                    El::Other => {
                        want_capture = match (tag.name(), parent) {
                            (b"Message", Some(El::ErrorInfo)) => Some(Target::Message),
                            (b"StackTrace", Some(El::ErrorInfo)) => Some(Target::Trace),
                            (b"StdOut", Some(El::Output)) => Some(Target::StdOut),
                            (b"StdErr", Some(El::Output)) => Some(Target::StdErr),
                            (b"Message", Some(El::TextMessages)) => Some(Target::TextMessage),
                            (b"Text", Some(El::RunInfo)) => Some(Target::RunInfoText),
                            _ => None,
                        };
                    }
                    _ => {}
                }
                if let Some(t) = want_capture
                    && st.capture.is_none()
                {
                    xml.capture_text();
                    st.capture = Some((t, st.stack.len()));
                }
                st.stack.push(el);
            }
            Event::End(_) => {
                let Some(el) = st.stack.pop() else { continue };
                if let Some((target, depth)) = st.capture
                    && depth == st.stack.len()
                {
                    st.capture = None;
                    let s = tidy(xml.take_text());
                    st.store(target, s);
                }
                match el {
                    El::Result => {
                        if let Some(frame) = st.results.pop() {
                            st.end_result(frame, opts, sink);
                        }
                    }
                    El::Definition => st.def_id = None,
                    El::Definitions => {
                        st.defs_done = true;
                        st.flush(sink);
                    }
                    _ => {}
                }
            }
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(ParseError::new(
            "no TRX elements found: the file is empty or not XML",
        ));
    }
    Ok(())
}

fn classify(name: &[u8], parent: Option<El>) -> El {
    match (name, parent) {
        (b"TestRun", None) => El::TestRun,
        (b"Results", Some(El::TestRun)) => El::Results,
        (b"InnerResults", Some(El::Result)) => El::InnerResults,
        (n, Some(El::Results | El::InnerResults))
            if n.ends_with(b"Result") || n == b"TestResultAggregation" =>
        {
            El::Result
        }
        (b"Output", Some(El::Result)) => El::Output,
        (b"ErrorInfo", Some(El::Output)) => El::ErrorInfo,
        (b"TextMessages", Some(El::Output)) => El::TextMessages,
        (b"TestDefinitions", Some(El::TestRun)) => El::Definitions,
        (_, Some(El::Definitions)) => El::Definition,
        (b"ResultSummary", Some(El::TestRun)) => El::ResultSummary,
        (b"RunInfo", Some(_)) => El::RunInfo,
        _ => El::Other,
    }
}

impl State {
    fn store(&mut self, target: Target, s: Option<String>) {
        if target == Target::RunInfoText {
            if let Some((_, text)) = self.run_info.as_mut()
                && text.is_none()
            {
                *text = s;
            }
            return;
        }
        let Some(frame) = self.results.last_mut() else {
            return;
        };
        let slot = match target {
            Target::Message => &mut frame.message,
            Target::Trace => &mut frame.trace,
            Target::StdOut => &mut frame.stdout,
            Target::StdErr => &mut frame.stderr,
            Target::TextMessage => &mut frame.text_message,
            Target::RunInfoText => return,
        };
        if slot.is_none() {
            *slot = s;
        }
    }

    fn status_of(&mut self, outcome: Option<&str>, name: &str, sink: &mut dyn Sink) -> Status {
        let Some(o) = outcome else {
            return Status::Errored;
        };
        match o.to_ascii_lowercase().as_str() {
            "passed" | "passedbutrunaborted" | "warning" | "completed" => Status::Passed,
            "failed" | "timeout" => Status::Failed,
            "error" | "disconnected" => Status::Errored,
            "notexecuted" | "notrunnable" | "inconclusive" | "aborted" | "pending"
            | "inprogress" => Status::Skipped,
            _ => {
                if !self.unknown_warned {
                    self.unknown_warned = true;
                    sink.warning(
                        None,
                        format!("unknown TRX outcome {o:?} (test {name:?}): counted as skipped"),
                    );
                }
                Status::Skipped
            }
        }
    }

    fn end_result(&mut self, f: ResultFrame, opts: &ParseOptions, sink: &mut dyn Sink) {
        let status = self.status_of(f.outcome.as_deref(), &f.test_name, sink);
        if let Some(parent) = self.results.last_mut() {
            // A data row of a data-driven test: folded into its parent.
            parent.inner_total += 1;
            if status.is_bad() {
                parent.inner_bad += 1;
                if parent.inner_failures.len() < MAX_ROWS_NAMED {
                    let msg = f
                        .message
                        .as_deref()
                        .unwrap_or("")
                        .lines()
                        .next()
                        .unwrap_or("");
                    parent.inner_failures.push(
                        format!("{}: {msg}", f.test_name)
                            .trim_end_matches([':', ' '])
                            .to_string(),
                    );
                }
                if parent.inner_trace.is_none() {
                    parent.inner_trace = f.trace;
                }
            }
            return;
        }
        if f.outcome
            .as_deref()
            .is_some_and(|o| o.eq_ignore_ascii_case("aborted"))
        {
            self.aborted += 1;
        }
        let mut case = Case {
            name: f.test_name.clone(),
            status,
            duration: f.duration,
            ..Default::default()
        };
        match status {
            Status::Failed | Status::Errored => {
                let mut message = f.message;
                let mut trace = f.trace;
                if f.inner_bad > 0 {
                    let rows = format!(
                        "{} of {} data rows failed: {}",
                        f.inner_bad,
                        f.inner_total,
                        f.inner_failures.join("; ")
                    );
                    let rows = text::bound_text(&rows, opts.max_text_bytes);
                    // The message and the rows are each bounded; so is the whole.
                    message = Some(match message {
                        Some(m) => text::bound_text(&format!("{m}\n{rows}"), opts.max_text_bytes),
                        None => rows,
                    });
                    if trace.is_none() {
                        trace = f.inner_trace;
                    }
                }
                let failure = Failure {
                    kind: message.as_deref().and_then(exception_kind),
                    message: message.or_else(|| {
                        f.outcome
                            .is_none()
                            .then(|| "the result has no outcome".to_string())
                    }),
                    trace,
                };
                // Some results carry no ErrorInfo at all (xUnit v3 cleanup failures).
                case.failure = (failure != Failure::default()).then_some(failure);
            }
            Status::Skipped => case.skip_reason = f.message.or(f.text_message),
            Status::Passed => {}
        }
        case.output = match (f.stdout, f.stderr) {
            (Some(o), Some(e)) => Some(text::bound_text(
                &format!("{o}\n--- stderr ---\n{e}"),
                opts.max_text_bytes,
            )),
            (o, e) => o.or(e),
        };
        self.read += 1;
        if status.is_bad() {
            self.bad += 1;
        }
        if self.defs_done {
            let c = self.with_definition(&f.test_id, case);
            sink.case(c);
        } else if self.pending_overflowed {
            sink.case(case);
        } else {
            // Its texts and a little for the rest, for the pending-results bound.
            self.pending_bytes += 64 + case.text_bytes() + f.test_id.len();
            self.pending.push(Pending {
                test_id: f.test_id,
                case,
            });
            if self.pending.len() >= self.limits.0 || self.pending_bytes >= self.limits.1 {
                // Give up on the join rather than on the memory bound: every result of this
                // file goes out without its class, the same way for all of them.
                self.pending_overflowed = true;
                sink.warning(
                    None,
                    format!(
                        "more than {MAX_PENDING} results or {} MiB of result text before \
                         <TestDefinitions>: this file's results are reported without their \
                         class names",
                        MAX_PENDING_BYTES >> 20
                    ),
                );
                for p in std::mem::take(&mut self.pending) {
                    sink.case(p.case);
                }
                self.pending_bytes = 0;
            }
        }
    }

    /// Fills class and assembly from the definition of `test_id`, and strips the class
    /// prefix from the name (`Ns.Class.Method` → `Method`).
    fn with_definition(&self, test_id: &str, mut case: Case) -> Case {
        if let Some(d) = self.defs.get(test_id) {
            if let Some(class) = &d.class {
                if let Some(short) = case
                    .name
                    .strip_prefix(class.as_str())
                    .and_then(|r| r.strip_prefix('.'))
                    .filter(|r| !r.is_empty())
                {
                    case.name = short.to_string();
                }
                case.classname = Some(class.clone());
            }
            if let Some(s) = &d.storage {
                case.suite = vec![s.clone()];
            }
        }
        case
    }

    fn flush(&mut self, sink: &mut dyn Sink) {
        self.pending_bytes = 0;
        for p in std::mem::take(&mut self.pending) {
            let c = self.with_definition(&p.test_id, p.case);
            sink.case(c);
        }
    }

    fn finish(&mut self, max_text: usize, sink: &mut dyn Sink) {
        if let Some(total) = self.declared_total
            && total != self.read
        {
            sink.warning(
                None,
                format!(
                    "<ResultSummary> counts {total} results but the file holds {}: counts are \
                     taken from the results",
                    self.read
                ),
            );
        }
        if let Some((machine, text)) = self.run_info.take()
            && (self.bad == 0 || self.aborted > 0 || self.declared_aborted > 0)
        {
            let mut message = text.unwrap_or_else(|| "the test run ended with an error".into());
            if self.aborted > 0 {
                message = format!(
                    "{message} ({} test{} aborted, counted as not run)",
                    self.aborted,
                    if self.aborted == 1 { "" } else { "s" }
                );
            }
            let message = text::bound_text(&message, max_text);
            sink.suite_error(SuiteError {
                suite: if machine.is_empty() {
                    "test run".to_string()
                } else {
                    format!("test run on {machine}")
                },
                message,
                kind: "run".to_string(),
                ..Default::default()
            });
        }
    }
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

/// A .NET TimeSpan as TRX writes it: `hh:mm:ss.fffffff`, optionally `d.hh:mm:ss…`.
pub(crate) fn parse_timespan(s: &str) -> Option<f64> {
    let mut parts = s.trim().split(':');
    let (h, m, sec) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (days, hours) = match h.split_once('.') {
        Some((d, h)) => (d.parse::<f64>().ok()?, h.parse::<f64>().ok()?),
        None => (0.0, h.parse::<f64>().ok()?),
    };
    let minutes: f64 = m.parse().ok()?;
    let seconds: f64 = sec.parse().ok()?;
    let v = days * 86400.0 + hours * 3600.0 + minutes * 60.0 + seconds;
    (v.is_finite() && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{Collector, Format, parse_bytes};

    fn parse(xml: &str) -> Collector<'static> {
        let (c, r) = parse_bytes(xml.as_bytes(), "r.trx", Some(Format::Trx));
        r.unwrap();
        c
    }

    const NS: &str = r#"xmlns="http://microsoft.com/schemas/VisualStudio/TeamTest/2010""#;

    #[test]
    fn outcomes_names_and_definitions_after_results() {
        let c = parse(&format!(
            r#"<?xml version="1.0"?><TestRun {NS}><Results>
            <UnitTestResult testId="1" testName="Ns.C.Ok" outcome="Passed" duration="00:00:01.5000000"/>
            <UnitTestResult testId="2" testName="Ns.C.Bad" outcome="Failed" duration="00:01:00">
              <Output><StdOut>printed</StdOut><ErrorInfo><Message>System.DivideByZeroException : Attempted to divide by zero.</Message>
              <StackTrace>   at Ns.C.Bad() in /src/C.cs:line 9</StackTrace></ErrorInfo></Output></UnitTestResult>
            <UnitTestResult testId="3" testName="Skip" outcome="NotExecuted"><Output><ErrorInfo><Message>not now</Message></ErrorInfo></Output></UnitTestResult>
            <UnitTestResult testId="4" testName="Slow" outcome="Timeout"/>
            <UnitTestResult testId="5" testName="Err" outcome="Error"/>
            <UnitTestResult testId="6" testName="NoOutcome"/>
            <UnitTestResult testId="7" testName="Aborted" outcome="Aborted"/>
            <UnitTestResult testId="8" testName="Inc" outcome="Inconclusive"/>
            </Results><TestDefinitions>
              <UnitTest id="1" storage="/bin/Tests.dll"><TestMethod className="Ns.C, Tests, Version=1.0" name="Ok"/></UnitTest>
              <UnitTest id="2" storage="C:\bin\Tests.dll"><TestMethod className="Ns.C" name="Bad"/></UnitTest>
            </TestDefinitions>
            <ResultSummary outcome="Failed"><Counters total="8" aborted="1"/>
            <RunInfos><RunInfo computerName="m1" outcome="Error"><Text>host crashed</Text></RunInfo></RunInfos></ResultSummary>
            </TestRun>"#
        ));
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (8, 1, 2, 2, 3)
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let all = c.all.unwrap();
        assert_eq!(all[0].name, "Ok");
        assert_eq!(all[0].classname.as_deref(), Some("Ns.C"));
        assert_eq!(all[0].suite, ["Tests.dll"]);
        assert_eq!(all[0].duration, Some(1.5));
        let bad = &all[1];
        assert_eq!((bad.name.as_str(), bad.duration), ("Bad", Some(60.0)));
        assert_eq!(bad.suite, ["Tests.dll"]);
        let f = bad.failure.as_ref().unwrap();
        assert_eq!(f.kind.as_deref(), Some("System.DivideByZeroException"));
        assert_eq!(
            f.trace.as_deref(),
            Some("at Ns.C.Bad() in /src/C.cs:line 9")
        );
        assert_eq!(bad.output.as_deref(), Some("printed"));
        assert_eq!(all[2].skip_reason.as_deref(), Some("not now"));
        assert_eq!(all[2].classname, None);
        assert_eq!(
            all[5].failure.as_ref().unwrap().message.as_deref(),
            Some("the result has no outcome")
        );
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].suite, "test run on m1");
        assert!(
            c.suite_errors[0]
                .message
                .starts_with("host crashed (1 test aborted"),
            "{:?}",
            c.suite_errors
        );
    }

    #[test]
    fn definitions_first_stream_results_directly() {
        let c = parse(&format!(
            r#"<TestRun {NS}><TestDefinitions>
              <UnitTest id="a" storage="t.dll"><Execution id="x"/><TestMethod className="K" name="M"/></UnitTest>
            </TestDefinitions><Results><UnitTestResult testId="a" testName="M" outcome="Passed"/></Results></TestRun>"#
        ));
        let all = c.all.unwrap();
        assert_eq!(all[0].classname.as_deref(), Some("K"));
        assert_eq!(all[0].name, "M");
    }

    #[test]
    fn data_driven_results_count_once_and_name_failing_rows() {
        let c = parse(&format!(
            r#"<TestRun {NS}><Results>
            <UnitTestResult testId="d" testName="Rows" outcome="Failed" resultType="DataDrivenTest">
              <InnerResults>
                <UnitTestResult testId="d" testName="Rows (Data Row 0)" outcome="Passed"/>
                <UnitTestResult testId="d" testName="Rows (Data Row 1)" outcome="Failed">
                  <Output><ErrorInfo><Message>Assert.AreEqual failed. Expected:&lt;1&gt;. Actual:&lt;2&gt;.</Message>
                  <StackTrace>at Rows() line 3</StackTrace></ErrorInfo></Output></UnitTestResult>
              </InnerResults></UnitTestResult>
            </Results><ResultSummary><Counters total="1"/></ResultSummary></TestRun>"#
        ));
        assert_eq!((c.counts.tests, c.counts.failed), (1, 1));
        let all = c.all.unwrap();
        let f = all[0].failure.as_ref().unwrap();
        assert_eq!(
            f.message.as_deref(),
            Some(
                "1 of 2 data rows failed: Rows (Data Row 1): Assert.AreEqual failed. Expected:<1>. Actual:<2>."
            )
        );
        assert_eq!(f.trace.as_deref(), Some("at Rows() line 3"));
    }

    #[test]
    fn composed_texts_stay_within_the_bound() {
        // Message + failing data rows, and stdout + stderr, are each bounded, but their
        // concatenation was not (the invariant the fuzz targets check).
        let big = "x".repeat(100_000);
        let c = parse(&format!(
            r#"<TestRun {NS}><Results>
            <UnitTestResult testId="d" testName="Rows" outcome="Failed">
              <Output><StdOut>{big}</StdOut><StdErr>{big}</StdErr>
              <ErrorInfo><Message>{big}</Message></ErrorInfo></Output>
              <InnerResults>
                <UnitTestResult testId="d" testName="Rows (Data Row 1)" outcome="Failed">
                  <Output><ErrorInfo><Message>{big}</Message></ErrorInfo></Output></UnitTestResult>
              </InnerResults></UnitTestResult>
            </Results></TestRun>"#
        ));
        let all = c.all.unwrap();
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        let m = all[0].failure.as_ref().unwrap().message.as_deref().unwrap();
        assert!(m.len() <= max && m.starts_with("xxx"), "{}", m.len());
        let o = all[0].output.as_deref().unwrap();
        assert!(o.len() <= max && o.ends_with("xxx"), "{}", o.len());
    }

    #[test]
    fn truncated_files_keep_the_results_read_and_fail() {
        let (c, r) = parse_bytes(
            format!(
                r#"<TestRun {NS}><Results><UnitTestResult testId="1" testName="A" outcome="Passed"/>
                <UnitTestResult testId="2" testName="B" outcome="Fai"#
            )
            .as_bytes(),
            "r.trx",
            Some(Format::Trx),
        );
        // Cut inside a tag: the reader names the open element and the position.
        let e = r.unwrap_err();
        assert!(e.message.contains("<Results>"), "{e}");
        assert_eq!(e.position.map(|p| p.line), Some(2));
        assert_eq!(c.counts.tests, 1);
    }

    #[test]
    fn counters_mismatch_and_unknown_outcome_warn() {
        let c = parse(&format!(
            r#"<TestRun {NS}><Results><UnitTestResult testId="1" testName="A" outcome="Weird"/></Results>
            <ResultSummary><Counters total="2"/></ResultSummary></TestRun>"#
        ));
        assert_eq!(c.counts.skipped, 1);
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].1.contains("\"Weird\""), "{:?}", c.warnings);
        assert!(
            c.warnings[1]
                .1
                .contains("counts 2 results but the file holds 1")
        );
    }

    #[test]
    fn results_waiting_for_definitions_are_bounded() {
        let doc = |n: usize| {
            let mut d = format!("<TestRun {NS}><Results>");
            for i in 0..n {
                d.push_str(&format!(
                    r#"<UnitTestResult testId="{i}" testName="K.T{i}" outcome="Passed"><Output><StdOut>{}</StdOut></Output></UnitTestResult>"#,
                    "o".repeat(1000)
                ));
            }
            d + r#"</Results><TestDefinitions><UnitTest id="1"><TestMethod className="K"/></UnitTest></TestDefinitions></TestRun>"#
        };
        let run = |n: usize, limits: (usize, usize)| {
            let mut c = Collector::keep_all();
            let mut input = doc(n).into_bytes();
            let mut reader: &[u8] = &mut input[..];
            let opts = crate::parsers::ParseOptions::default();
            parse_with_limits(&mut reader, &opts, &mut c, limits).unwrap();
            c
        };
        // Under the limits: joined with the definitions.
        let c = run(5, (100, 1 << 20));
        assert!(c.warnings.is_empty());
        assert_eq!(c.all.unwrap()[1].classname.as_deref(), Some("K"));
        // Over the byte limit (5 x ~1 KB > 3 KB) or the count limit: all without class.
        for limits in [(100, 3000), (3, 1 << 20)] {
            let c = run(5, limits);
            assert_eq!(c.counts.tests, 5);
            assert!(
                c.warnings[0].1.contains("without their class names"),
                "{:?}",
                c.warnings
            );
            assert!(
                c.all
                    .unwrap()
                    .iter()
                    .all(|k| k.classname.is_none() && k.name.starts_with("K.T"))
            );
        }
    }

    #[test]
    fn wrong_root_is_an_error() {
        let (_, r) = parse_bytes(b"<testsuites/>", "r.trx", Some(Format::Trx));
        assert!(r.unwrap_err().message.contains("expected <TestRun>"));
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:00:00.0170545"), Some(0.0170545));
        assert_eq!(parse_timespan("1.02:00:00"), Some(86400.0 + 7200.0));
        assert_eq!(parse_timespan("garbage"), None);
        assert_eq!(parse_timespan("1:2"), None);
    }
}
