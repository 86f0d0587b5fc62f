//! Catch2's native XML reporter (`-r xml`): `<Catch>` (v2) or `<Catch2TestRun>` (v3) with
//! `<TestCase>`s that hold `<Section>`s, `<Expression>`s, `<Exception>`s,
//! `<FatalErrorCondition>`s, `<Failure>`s and one `<OverallResult>`.
//!
//! # Counting rules (Catch2's own "test cases: N | P passed | F failed | X failed as expected")
//!
//! One [`Case`] per `<TestCase>` — sections and assertions are not tests (Catch2 counts them
//! as assertions). Then:
//!
//! - `<OverallResult success="false">` → failed (an unexpected exception or a fatal signal
//!   is a failed test case in Catch2's summary, so it is failed here too, not errored);
//! - `success="true"` with failed assertions inside and a `[!mayfail]`/`[!shouldfail]` tag →
//!   skipped ("failed as expected"; the expectation is the skip reason);
//! - `success="true"` with `skips="N"` (N > 0) or a `<Skip>` (Catch2 v3 `SKIP()`) → skipped;
//! - otherwise passed. A test case without an `<OverallResult>` (cut off) counts as failed.
//!
//! Hidden tests (`[.]`) are absent from the XML unless run, so they are not counted, as in
//! Catch2's summary. The failure of a case is its first failed assertion (`CHECK( a == b )
//! with expansion: 1 == 2`, or the exception / fatal condition / `FAIL` message); the trace
//! lists every failure as `file:line: [in section 'a / b':] …`, so a location is always there.

use std::io::BufRead;

use super::xml::{Event, Tag, XmlReader};
use super::{ParseError, ParseOptions, Sink, text};
use crate::model::{Case, Failure, Status};

/// Failure lines kept in a case's trace.
const MAX_TRACE_LINES: usize = 50;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Original,
    Expanded,
    /// The text of an `<Exception>`, `<FatalErrorCondition>` or `<Failure>`.
    Message,
    Info,
    Skip,
    StdOut,
    StdErr,
}

/// A failed assertion or other failure inside a test case.
#[derive(Default)]
struct Problem {
    kind: String,
    file: Option<String>,
    line: Option<u32>,
    section: String,
    original: Option<String>,
    expanded: Option<String>,
    message: Option<String>,
}

impl Problem {
    /// `CHECK( a == b ) with expansion: 1 == 2`, or the message of an exception / FAIL.
    fn summary(&self) -> String {
        match (&self.original, &self.message) {
            (Some(o), _) => {
                let mut s = format!("{}( {o} )", self.kind);
                if let Some(e) = self.expanded.as_ref().filter(|e| *e != o) {
                    s.push_str(" with expansion: ");
                    s.push_str(e);
                }
                s
            }
            (None, Some(m)) => m.clone(),
            (None, None) => self.kind.clone(),
        }
    }

    fn trace_line(&self) -> String {
        let mut s = String::new();
        if let Some(f) = &self.file {
            s.push_str(f);
            if let Some(l) = self.line {
                s.push_str(&format!(":{l}"));
            }
            s.push_str(": ");
        }
        if !self.section.is_empty() {
            s.push_str(&format!("in section '{}': ", self.section));
        }
        let summary = self.summary();
        s.push_str(summary.lines().next().unwrap_or(""));
        s
    }
}

#[derive(Default)]
struct TestFrame {
    case: Case,
    tags: String,
    sections: Vec<String>,
    problems: Vec<Problem>,
    problem_count: usize,
    /// The problem being read (an `<Expression success="false">` etc.).
    current: Option<Problem>,
    infos: Vec<String>,
    success: Option<bool>,
    skips: u64,
    skip_message: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let r = run(&mut xml, opts, sink);
    xml.flush_warnings(sink);
    r
}

fn run<R: BufRead>(
    xml: &mut XmlReader<R>,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_root = false;
    let mut root_name = String::new();
    let mut group = String::new();
    let mut test: Option<TestFrame> = None;
    // Depth of the open <TestCase> (so nested elements are told apart from it).
    let mut depth = 0usize;
    let mut test_depth = 0usize;
    let mut capture: Option<(Target, usize)> = None;
    loop {
        match xml.next()? {
            Event::Start(tag) => {
                depth += 1;
                let name = tag.name();
                if !seen_root {
                    seen_root = true;
                    if !matches!(name, b"Catch" | b"Catch2TestRun") {
                        return Err(ParseError::at(
                            tag.position(),
                            format!(
                                "not a Catch2 XML report: the root element is <{}>, expected \
                                 <Catch> or <Catch2TestRun>",
                                String::from_utf8_lossy(name)
                            ),
                        ));
                    }
                    root_name = attr(&tag, "name");
                    continue;
                }
                let Some(t) = test.as_mut() else {
                    match name {
                        b"Group" => group = attr(&tag, "name"),
                        b"TestCase" => {
                            let suite_name = if group.is_empty() { &root_name } else { &group };
                            test = Some(TestFrame {
                                case: Case {
                                    name: attr(&tag, "name"),
                                    suite: if suite_name.is_empty() {
                                        Vec::new()
                                    } else {
                                        vec![suite_name.clone()]
                                    },
                                    file: tag.attr("filename").map(|f| f.into_owned()),
                                    line: tag.attr("line").and_then(|l| l.trim().parse().ok()),
                                    ..Default::default()
                                },
                                tags: attr(&tag, "tags"),
                                ..Default::default()
                            });
                            test_depth = depth;
                        }
                        _ => {}
                    }
                    continue;
                };
                let mut want = None;
                match name {
                    b"Section" => t.sections.push(attr(&tag, "name")),
                    b"Expression" if tag.attr("success").is_some_and(|s| s.trim() == "false") => {
                        t.current = Some(problem(&tag, attr(&tag, "type"), &t.sections));
                    }
                    b"Original" if t.current.is_some() => want = Some(Target::Original),
                    b"Expanded" if t.current.is_some() => want = Some(Target::Expanded),
                    b"Exception" | b"FatalErrorCondition" | b"Failure" => {
                        let kind = match name {
                            b"Exception" => "unexpected exception",
                            b"FatalErrorCondition" => "fatal error condition",
                            _ => "FAIL",
                        };
                        t.current = Some(problem(&tag, kind.to_string(), &t.sections));
                        want = Some(Target::Message);
                    }
                    b"Info" => want = Some(Target::Info),
                    b"Skip" => {
                        t.skips = t.skips.max(1);
                        want = Some(Target::Skip);
                    }
                    b"OverallResult" if depth == test_depth + 1 => {
                        t.success = Some(
                            tag.attr("success")
                                .is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
                        );
                        t.case.duration = tag
                            .attr("durationInSeconds")
                            .and_then(|d| text::parse_seconds(&d));
                        if let Some(n) = tag.attr("skips").and_then(|s| s.trim().parse().ok()) {
                            t.skips = t.skips.max(n);
                        }
                    }
                    b"StdOut" => want = Some(Target::StdOut),
                    b"StdErr" => want = Some(Target::StdErr),
                    _ => {}
                }
                if let Some(w) = want
                    && capture.is_none()
                {
                    xml.capture_text();
                    capture = Some((w, depth));
                }
            }
            Event::End(name) => {
                let closing = depth;
                depth = depth.saturating_sub(1);
                let is_test_end = test.is_some() && closing == test_depth && name == b"TestCase";
                let section_end = name == b"Section";
                let problem_end = matches!(
                    name,
                    b"Expression" | b"Exception" | b"FatalErrorCondition" | b"Failure"
                );
                if let Some((target, d)) = capture
                    && d == closing
                {
                    capture = None;
                    let s = tidy(xml.take_text());
                    if let Some(t) = test.as_mut() {
                        store(t, target, s);
                    }
                }
                let Some(t) = test.as_mut() else { continue };
                if problem_end && let Some(mut p) = t.current.take() {
                    if !t.infos.is_empty() && p.message.is_none() {
                        // INFO/CAPTURE context logged before the failed assertion.
                        p.message = Some(t.infos.join("\n"));
                    }
                    t.problem_count += 1;
                    if t.problems.len() < MAX_TRACE_LINES {
                        t.problems.push(p);
                    }
                } else if section_end {
                    t.sections.pop();
                }
                if problem_end {
                    t.infos.clear();
                }
                if is_test_end && let Some(t) = test.take() {
                    finish(t, opts, sink);
                }
            }
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(ParseError::new(
            "no Catch2 elements found: the file is empty or not XML",
        ));
    }
    Ok(())
}

fn problem(tag: &Tag<'_>, kind: String, sections: &[String]) -> Problem {
    Problem {
        kind,
        file: tag.attr("filename").map(|f| f.into_owned()),
        line: tag.attr("line").and_then(|l| l.trim().parse().ok()),
        section: sections.join(" / "),
        ..Default::default()
    }
}

fn store(t: &mut TestFrame, target: Target, s: Option<String>) {
    match target {
        Target::Original => {
            if let Some(p) = t.current.as_mut() {
                p.original = s;
            }
        }
        Target::Expanded => {
            if let Some(p) = t.current.as_mut() {
                p.expanded = s;
            }
        }
        Target::Message => {
            if let Some(p) = t.current.as_mut() {
                p.message = s;
            }
        }
        Target::Info => t.infos.extend(s),
        Target::Skip => {
            if t.skip_message.is_none() {
                t.skip_message = s;
            }
        }
        Target::StdOut => t.stdout = s,
        Target::StdErr => t.stderr = s,
    }
}

fn finish(t: TestFrame, opts: &ParseOptions, sink: &mut dyn Sink) {
    let mut c = t.case;
    let tags = t.tags.to_ascii_lowercase();
    let expected_to_fail = ["[!mayfail]", "[!shouldfail]"]
        .into_iter()
        .find(|x| tags.contains(x));
    c.status = match t.success {
        Some(true) if t.problem_count > 0 && expected_to_fail.is_some() => {
            let first = t.problems.first().map(Problem::summary).unwrap_or_default();
            // Composed texts are bounded again: their parts each were (found by fuzzing).
            c.skip_reason = Some(text::bound_text(
                &format!(
                    "failed as expected ({}): {first}",
                    expected_to_fail.unwrap_or_default()
                ),
                opts.max_text_bytes,
            ));
            Status::Skipped
        }
        Some(true) if t.skips > 0 => {
            c.skip_reason = t.skip_message.clone();
            Status::Skipped
        }
        Some(true) => Status::Passed,
        _ => Status::Failed,
    };
    if c.status == Status::Failed {
        let first = t.problems.first();
        let mut lines: Vec<String> = t.problems.iter().map(Problem::trace_line).collect();
        if t.problem_count > t.problems.len() {
            lines.push(format!(
                "… and {} more failures",
                t.problem_count - t.problems.len()
            ));
        }
        c.failure = Some(Failure {
            kind: first.map(|p| p.kind.clone()),
            message: Some(text::bound_text(
                &match first {
                    Some(p) => {
                        let mut m = p.summary();
                        if p.original.is_some()
                            && let Some(info) = &p.message
                        {
                            m = format!("{m}\n{info}");
                        }
                        m
                    }
                    None if t.success.is_none() => {
                        "the test case has no <OverallResult>: the run may have been cut off".into()
                    }
                    None => "the test case failed".into(),
                },
                opts.max_text_bytes,
            )),
            trace: (!lines.is_empty())
                .then(|| text::bound_text(&lines.join("\n"), opts.max_text_bytes)),
        });
    }
    c.output = match (t.stdout, t.stderr) {
        (Some(o), Some(e)) => Some(text::bound_text(
            &format!("{o}\n--- stderr ---\n{e}"),
            opts.max_text_bytes,
        )),
        (o, e) => o.or(e),
    };
    sink.case(c);
}

fn attr(tag: &Tag<'_>, name: &str) -> String {
    tag.attr(name).map(|v| v.into_owned()).unwrap_or_default()
}

fn tidy(s: String) -> Option<String> {
    let t = text::clean_control(&s);
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Collector, Format, parse_bytes};

    fn parse(xml: &str) -> Collector<'static> {
        let (c, r) = parse_bytes(xml.as_bytes(), "r.xml", Some(Format::Catch2Xml));
        r.unwrap();
        c
    }

    #[test]
    fn statuses_sections_and_expected_failures() {
        let c = parse(
            r#"<Catch name="app"><Group name="app">
            <TestCase name="ok" tags="[a]" filename="t.cpp" line="3"><OverallResult success="true" durationInSeconds="0.5"/></TestCase>
            <TestCase name="secs" filename="t.cpp" line="10">
              <Section name="outer" filename="t.cpp" line="11"><Section name="inner" filename="t.cpp" line="12">
                <Info>x := 3</Info>
                <Expression success="false" type="REQUIRE" filename="t.cpp" line="13">
                  <Original>x == 4</Original><Expanded>3 == 4</Expanded></Expression>
                <OverallResults successes="0" failures="1" expectedFailures="0"/>
              </Section></Section>
              <Expression success="false" type="CHECK" filename="t.cpp" line="15"><Original>f()</Original><Expanded>f()</Expanded></Expression>
              <OverallResult success="false"><StdOut>out</StdOut><StdErr>err</StdErr></OverallResult></TestCase>
            <TestCase name="may" tags="[!mayfail]"><Expression success="false" type="CHECK"><Original>false</Original><Expanded>false</Expanded></Expression><OverallResult success="true"/></TestCase>
            <TestCase name="may-pass" tags="[!mayfail]"><OverallResult success="true"/></TestCase>
            <TestCase name="boom"><Exception filename="t.cpp" line="20">
              std::runtime_error &lt;oops&gt;
            </Exception><OverallResult success="false"/></TestCase>
            <TestCase name="skipped"><Skip filename="t.cpp" line="30">no GPU</Skip><OverallResult success="true" skips="1"/></TestCase>
            </Group></Catch>"#,
        );
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (6, 2, 2, 0, 2)
        );
        let all = c.all.unwrap();
        assert_eq!(all[0].suite, ["app"]);
        assert_eq!(
            (all[0].file.as_deref(), all[0].line),
            (Some("t.cpp"), Some(3))
        );
        assert_eq!(all[0].duration, Some(0.5));
        let f = all[1].failure.as_ref().unwrap();
        assert_eq!(f.kind.as_deref(), Some("REQUIRE"));
        assert_eq!(
            f.message.as_deref(),
            Some("REQUIRE( x == 4 ) with expansion: 3 == 4\nx := 3")
        );
        assert_eq!(
            f.trace.as_deref(),
            Some(
                "t.cpp:13: in section 'outer / inner': REQUIRE( x == 4 ) with expansion: 3 == 4\n\
                 t.cpp:15: CHECK( f() )"
            )
        );
        assert_eq!(all[1].output.as_deref(), Some("out\n--- stderr ---\nerr"));
        assert_eq!(
            all[2].skip_reason.as_deref(),
            Some("failed as expected ([!mayfail]): CHECK( false )")
        );
        assert_eq!(all[3].status, crate::model::Status::Passed);
        let boom = all[4].failure.as_ref().unwrap();
        assert_eq!(boom.kind.as_deref(), Some("unexpected exception"));
        assert_eq!(boom.message.as_deref(), Some("std::runtime_error <oops>"));
        assert_eq!(all[5].skip_reason.as_deref(), Some("no GPU"));
    }

    #[test]
    fn v3_root_and_cut_off_cases() {
        let (c, r) = parse_bytes(
            br#"<Catch2TestRun name="x"><TestCase name="a"><OverallResult success="true"/></TestCase>
            <TestCase name="b"><Expression success="false" type="CHECK"><Original>1</Original>"#,
            "r.xml",
            Some(Format::Catch2Xml),
        );
        assert!(r.is_err());
        assert_eq!(c.counts.tests, 1);
        assert_eq!(c.all.unwrap()[0].suite, ["x"]);
        let (_, r) = parse_bytes(b"<testsuites/>", "r.xml", Some(Format::Catch2Xml));
        assert!(r.unwrap_err().message.contains("<Catch>"));
    }

    #[test]
    fn composed_texts_are_bounded() {
        // Found by fuzzing: summaries of long expressions, and stdout + stderr joined, went
        // past the bound.
        let big = "x".repeat(40_000);
        let c = parse(&format!(
            r#"<Catch2TestRun name="t"><Group name="t">
            <TestCase name="may" tags="[!mayfail]"><Expression success="false" type="CHECK"><Original>{big}</Original><Expanded>{big}y</Expanded></Expression><OverallResult success="true"/></TestCase>
            <TestCase name="bad"><Expression success="false" type="CHECK"><Original>{big}</Original><Expanded>{big}y</Expanded></Expression><OverallResult success="false"><StdOut>{big}</StdOut><StdErr>{big}</StdErr></OverallResult></TestCase>
            </Group></Catch2TestRun>"#
        ));
        let all = c.all.unwrap();
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        let skip = all[0].skip_reason.as_deref().unwrap();
        assert!(
            skip.len() <= max && skip.starts_with("failed as expected"),
            "{}",
            skip.len()
        );
        let f = all[1].failure.as_ref().unwrap();
        let m = f.message.as_deref().unwrap();
        assert!(m.len() <= max && m.starts_with("CHECK( xxx"), "{}", m.len());
        let o = all[1].output.as_deref().unwrap();
        assert!(o.len() <= max, "{}", o.len());
    }
}
