//! JUnit XML out (`report/junit.xml`): every runner's cases in one file (one `<testsuite>`
//! per runner), lint/build findings as failed cases of a `lint` suite (so GitLab's
//! `artifacts:reports:junit` and Jenkins show them), and flaky tests as passed cases with
//! Surefire `<flakyFailure>` children, one per retry.
//!
//! Streamed: each case is serialized the moment it arrives into its suite's body (a
//! [`Spool`]: memory for small reports and tests, an unlinked temp file for runs; see
//! `pipeline::junit`), so memory does not grow with the run. A suite's start tag carries its
//! counts and time, known only at the end, so [`JunitOut::write_to`] writes the document
//! header, then each suite's start tag followed by its body. The cases are built as
//! quick-junit `TestCase`s (its text cleaning) and written in quick-junit's exact layout
//! with quick-xml's writer; a test compares the bytes with quick-junit's own serializer.
//! One deliberate difference: a line break (or tab, CR) in an attribute value is written as a
//! character reference (`&#10;`), because a conforming XML reader turns a literal one into a
//! space (attribute-value normalization) — a multi-line failure message would come back as
//! one line. quick-junit (and quick-xml) write it literally.
//! Pure: cases in, XML out (into any `io::Write`).

use std::io::{self, Read, Write};
use std::time::Duration;

use quick_junit::{FlakyOrRerun, NonSuccessKind, TestCase, TestCaseStatus, TestRerun, XmlString};
use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;

use super::ReportError;
use crate::model::{Case, CaseView, Finding, Status};

/// Where a suite's serialized `<testcase>`s wait for the document to be assembled.
pub trait Spool: Write {
    type Reader: Read;
    /// Everything written, from the start.
    fn into_reader(self) -> io::Result<Self::Reader>;
}

impl Spool for Vec<u8> {
    type Reader = io::Cursor<Vec<u8>>;
    fn into_reader(self) -> io::Result<Self::Reader> {
        Ok(io::Cursor::new(self))
    }
}

/// A suite's numbers, counted as quick-junit's `TestSuite::add_test_case` counts them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
    pub time: Duration,
}

/// Bytes buffered before they go to the spool.
const FLUSH_AT: usize = 64 * 1024;

/// The `<testcase>` elements of one suite, serialized as they arrive.
struct SuiteBody<S: Spool> {
    /// Indented like quick-junit's writer at the depth of a testcase (primed with the two
    /// enclosing start tags, whose bytes are dropped).
    xml: Writer<Vec<u8>>,
    spool: S,
    tally: Tally,
}

impl<S: Spool> SuiteBody<S> {
    fn new(spool: S) -> io::Result<Self> {
        let mut xml = Writer::new_with_indent(Vec::with_capacity(FLUSH_AT * 2), b' ', 4);
        xml.write_event(Event::Start(BytesStart::new("testsuites")))?;
        xml.write_event(Event::Start(BytesStart::new("testsuite")))?;
        xml.get_mut().clear();
        Ok(SuiteBody {
            xml,
            spool,
            tally: Tally::default(),
        })
    }

    fn add(&mut self, tc: &TestCase) -> io::Result<()> {
        self.tally.tests += 1;
        match &tc.status {
            TestCaseStatus::Success { .. } => {}
            TestCaseStatus::NonSuccess { kind, .. } => match kind {
                NonSuccessKind::Failure => self.tally.failures += 1,
                NonSuccessKind::Error => self.tally.errors += 1,
            },
            TestCaseStatus::Skipped { .. } => self.tally.skipped += 1,
        }
        if let Some(t) = tc.time {
            self.tally.time += t;
        }
        write_test_case(tc, &mut self.xml)?;
        if self.xml.get_ref().len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// One of our cases, written straight from the model (no quick-junit `TestCase` in
    /// between): the same bytes and tally as `add(&test_case(c))`, which a test checks.
    fn add_case<T: AsRef<str>>(&mut self, c: &CaseView<'_, T>) -> io::Result<()> {
        self.tally.tests += 1;
        match c.status {
            Status::Failed => self.tally.failures += 1,
            Status::Errored => self.tally.errors += 1,
            Status::Skipped => self.tally.skipped += 1,
            Status::Passed => {}
        }
        let time = secs(c.duration);
        if let Some(t) = time {
            self.tally.time += t;
        }
        write_case(c, time, &mut self.xml)?;
        if self.xml.get_ref().len() >= FLUSH_AT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.spool.write_all(self.xml.get_ref())?;
        self.xml.get_mut().clear();
        Ok(())
    }

    fn finish(mut self) -> io::Result<(Tally, S::Reader)> {
        self.flush()?;
        self.spool.flush()?;
        Ok((self.tally, self.spool.into_reader()?))
    }
}

/// Makes the spool of a new suite.
pub type SpoolFactory<S> = Box<dyn FnMut() -> io::Result<S> + Send>;

/// Streams cases and findings into a JUnit report. Feed it with [`JunitOut::case`] and
/// [`JunitOut::finding`], then call [`JunitOut::write_to`] (or [`JunitOut::finish`] for a
/// string). Memory holds the suites' tallies and a small buffer each; the cases are in the
/// spools.
pub struct JunitOut<S: Spool = Vec<u8>> {
    name: String,
    /// The runners' suites, sorted by name (the document's order).
    suites: Vec<(String, SuiteBody<S>)>,
    /// Index in `suites` of the last case's suite: cases come runner by runner, so most
    /// find theirs without a search.
    last: usize,
    lint: Option<SuiteBody<S>>,
    new_spool: SpoolFactory<S>,
    /// The first write error (reported by `write_to`; cases after it are dropped).
    error: Option<io::Error>,
}

fn secs(d: Option<f64>) -> Option<Duration> {
    d.filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .map(Duration::from_secs_f64)
}

/// Text for an XML string: quick-junit's cleaning (ANSI escapes and control characters
/// removed).
fn xml_str(s: &str) -> XmlString {
    XmlString::new(s)
}

/// The text quick-junit's [`XmlString::new`] would keep, borrowed when there is nothing to
/// clean. Its cleaning runs a terminal parser over every string (the JUnit writer's biggest
/// cost on a million passing cases); text with no control character (other than `\n`, which
/// it keeps), no DEL and no C1 control (UTF-8 `C2 80..=C2 9F`) is returned as is, which is
/// exactly what the parser would print.
fn clean(s: &str) -> std::borrow::Cow<'_, str> {
    let b = s.as_bytes();
    // Most texts (long traces too) have no control byte and no C2: plain at SIMD speed.
    let maybe = |c: u8| ((c < 0x20) & (c != b'\n')) | (c == 0x7f) | (c == 0xc2);
    if !any_byte(b, maybe) {
        return std::borrow::Cow::Borrowed(s);
    }
    let plain = b.iter().enumerate().all(|(i, &c)| {
        (c >= 0x20 && c != 0x7f && (c != 0xc2 || !matches!(b.get(i + 1), Some(0x80..=0x9f))))
            || c == b'\n'
    });
    if plain {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(XmlString::new(s).into_string())
    }
}

/// A case's JUnit classname: its own, else its suite path joined with dots.
fn classname<'a, T: AsRef<str>>(c: &CaseView<'a, T>) -> std::borrow::Cow<'a, str> {
    match c.classname {
        Some(cl) if !cl.is_empty() => std::borrow::Cow::Borrowed(cl),
        _ => std::borrow::Cow::Owned(crate::model::join(c.suite, ".")),
    }
}

/// The quick-junit test case of one of our cases.
pub fn test_case(c: &Case) -> TestCase {
    let f = c.failure.clone().unwrap_or_default();
    let status = match c.status {
        Status::Passed if c.flaky => {
            let mut runs = Vec::new();
            for _ in 0..c.retries.clamp(1, 20) {
                let mut r = TestRerun::new(NonSuccessKind::Failure);
                if let Some(m) = &f.message {
                    r.set_message(xml_str(m));
                }
                runs.push(r);
            }
            TestCaseStatus::Success { flaky_runs: runs }
        }
        Status::Passed => TestCaseStatus::success(),
        Status::Failed | Status::Errored => {
            let kind = if c.status == Status::Failed {
                NonSuccessKind::Failure
            } else {
                NonSuccessKind::Error
            };
            let mut s = TestCaseStatus::non_success(kind);
            if let Some(m) = &f.message {
                s.set_message(xml_str(m));
            }
            if let Some(k) = &f.kind {
                s.set_type(xml_str(k));
            }
            if let Some(t) = f.trace.as_ref().or(f.message.as_ref()) {
                s.set_description(xml_str(t));
            }
            s
        }
        Status::Skipped => {
            let mut s = TestCaseStatus::skipped();
            if let Some(r) = &c.skip_reason {
                s.set_message(xml_str(r));
            }
            s
        }
    };
    let mut tc = TestCase::new(xml_str(&c.name), status);
    let classname = classname(&c.view());
    if !classname.is_empty() {
        tc.set_classname(xml_str(&classname));
    }
    if let Some(t) = secs(c.duration) {
        tc.set_time(t);
    }
    if let Some(file) = &c.file {
        tc.extra.insert("file".into(), xml_str(file));
    }
    if let Some(line) = c.line {
        tc.extra.insert("line".into(), line.to_string().into());
    }
    if let Some(o) = &c.output {
        tc.set_system_out(xml_str(o));
    }
    tc
}

/// The quick-junit test case of a lint/build finding.
pub fn finding_case(f: &Finding) -> TestCase {
    let loc = match (&f.file, f.line) {
        (Some(file), Some(l)) => format!("{file}:{l}"),
        (Some(file), None) => file.clone(),
        _ => String::new(),
    };
    let rule = f.rule.clone().unwrap_or_else(|| f.tool.clone());
    let name = if loc.is_empty() {
        rule.clone()
    } else {
        format!("{loc}: {rule}")
    };
    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
    s.set_message(f.message.as_str());
    s.set_type(format!("{}:{}", f.severity.as_str(), rule));
    s.set_description(format!("{}: {}: {}", name, f.severity.as_str(), f.message));
    let mut tc = TestCase::new(name, s);
    tc.set_classname(f.tool.as_str());
    if let Some(file) = &f.file {
        tc.extra.insert("file".into(), file.as_str().into());
    }
    if let Some(line) = f.line {
        tc.extra.insert("line".into(), line.to_string().into());
    }
    tc
}

impl JunitOut<Vec<u8>> {
    /// A report whose suites wait in memory (small reports, tests).
    pub fn new(name: &str) -> JunitOut<Vec<u8>> {
        JunitOut::with_spools(name, Box::new(|| Ok(Vec::new())))
    }

    /// The XML document.
    pub fn finish(self) -> Result<String, ReportError> {
        let bytes = self.write_to(Vec::new())?;
        String::from_utf8(bytes).map_err(|e| ReportError::Junit(e.to_string()))
    }
}

impl<S: Spool> JunitOut<S> {
    /// A report whose suites wait in spools made by `new_spool`.
    pub fn with_spools(name: &str, new_spool: SpoolFactory<S>) -> JunitOut<S> {
        JunitOut {
            name: name.to_string(),
            suites: Vec::new(),
            last: 0,
            lint: None,
            new_spool,
            error: None,
        }
    }

    fn body(&mut self, suite: Option<&str>) -> Option<&mut SuiteBody<S>> {
        if self.error.is_some() {
            return None;
        }
        match suite {
            Some(name) => {
                if self.suites.get(self.last).is_none_or(|(n, _)| n != name) {
                    self.last = match self.suites.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
                        Ok(i) => i,
                        Err(i) => match (self.new_spool)().and_then(SuiteBody::new) {
                            Ok(b) => {
                                self.suites.insert(i, (name.to_string(), b));
                                i
                            }
                            Err(e) => {
                                self.error = Some(e);
                                return None;
                            }
                        },
                    };
                }
                self.suites.get_mut(self.last).map(|(_, b)| b)
            }
            None => {
                if self.lint.is_none() {
                    match (self.new_spool)().and_then(SuiteBody::new) {
                        Ok(b) => self.lint = Some(b),
                        Err(e) => {
                            self.error = Some(e);
                            return None;
                        }
                    }
                }
                self.lint.as_mut()
            }
        }
    }

    pub fn case(&mut self, c: &Case) {
        self.case_view(&c.view());
    }

    pub fn case_view<T: AsRef<str>>(&mut self, c: &CaseView<'_, T>) {
        let suite = if c.runner.is_empty() {
            "tests"
        } else {
            c.runner
        };
        if let Some(b) = self.body(Some(suite))
            && let Err(e) = b.add_case(c)
        {
            self.error = Some(e);
        }
    }

    pub fn finding(&mut self, f: &Finding) {
        let tc = finding_case(f);
        if let Some(b) = self.body(None)
            && let Err(e) = b.add(&tc)
        {
            self.error = Some(e);
        }
    }

    /// Writes the document into `out` (header, then each suite's start tag and body) and
    /// returns it.
    pub fn write_to<W: Write>(self, mut out: W) -> Result<W, ReportError> {
        let err = |e: io::Error| ReportError::Junit(e.to_string());
        for piece in self.into_pieces()? {
            match piece {
                Piece::Bytes(b) => out.write_all(&b).map_err(err)?,
                Piece::Body(mut r) => {
                    io::copy(&mut r, &mut out).map_err(err)?;
                }
            }
        }
        Ok(out)
    }

    /// The document as its pieces in order: the bytes around the suites' bodies, and each
    /// body as its spool's reader (for a writer that copies those without reading them,
    /// like `pipeline::junit`'s in-kernel copy).
    pub fn into_pieces(self) -> Result<Vec<Piece<S::Reader>>, ReportError> {
        let err = |e: io::Error| ReportError::Junit(e.to_string());
        if let Some(e) = self.error {
            return Err(err(e));
        }
        let mut suites = Vec::new();
        for (name, body) in self.suites {
            let (tally, reader) = body.finish().map_err(err)?;
            suites.push((name, tally, true, reader));
        }
        if let Some(l) = self.lint {
            let (tally, reader) = l.finish().map_err(err)?;
            suites.push(("lint".to_string(), tally, false, reader));
        }
        write_document(&self.name, suites).map_err(err)
    }
}

/// A piece of the JUnit document: bytes, or a suite's spooled `<testcase>`s.
pub enum Piece<R> {
    Bytes(Vec<u8>),
    Body(R),
}

/// The document around the suites' bodies, as quick-junit lays out a `Report`: the runners'
/// suites carry their time (and the root the sum of those), the lint suite none.
fn write_document<R: Read>(
    name: &str,
    suites: Vec<(String, Tally, bool, R)>,
) -> io::Result<Vec<Piece<R>>> {
    let mut pieces = Vec::new();
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 4);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let mut total = Tally::default();
    for (_, t, timed, _) in &suites {
        total.tests += t.tests;
        total.failures += t.failures;
        total.errors += t.errors;
        total.skipped += t.skipped;
        if *timed {
            total.time += t.time;
        }
    }
    let mut root = BytesStart::new("testsuites");
    push_attr(&mut root, "name", xml_str(name).as_str());
    root.extend_attributes([
        ("tests", total.tests.to_string().as_str()),
        ("skipped", total.skipped.to_string().as_str()),
        ("failures", total.failures.to_string().as_str()),
        ("errors", total.errors.to_string().as_str()),
    ]);
    push_time(&mut root, &total.time);
    w.write_event(Event::Start(root))?;
    for (name, t, timed, body) in suites {
        let mut tag = BytesStart::new("testsuite");
        tag.extend_attributes([
            ("name", xml_str(&name).as_str()),
            ("tests", t.tests.to_string().as_str()),
            ("skipped", t.skipped.to_string().as_str()),
            ("errors", t.errors.to_string().as_str()),
            ("failures", t.failures.to_string().as_str()),
        ]);
        if timed {
            push_time(&mut tag, &t.time);
        }
        if t.tests == 0 {
            w.write_event(Event::Empty(tag))?;
            continue;
        }
        w.write_event(Event::Start(tag))?;
        // The body goes between the start tag and the end tag; the writer's indentation
        // state is the same after it (the body's lines are complete testcases).
        pieces.push(Piece::Bytes(std::mem::take(w.get_mut())));
        pieces.push(Piece::Body(body));
        w.write_event(Event::End(BytesEnd::new("testsuite")))?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuites")))?;
    w.write_event(Event::Eof)?;
    w.write_indent()?;
    pieces.push(Piece::Bytes(w.into_inner()));
    Ok(pieces)
}

/// Seconds with 3 decimals, as quick-junit writes times.
fn push_time(tag: &mut BytesStart<'_>, time: &Duration) {
    tag.push_attribute(("time", format!("{:.3}", time.as_secs_f64()).as_str()));
}

/// One of our cases as the `<testcase>` [`write_test_case`] writes for [`test_case`]`(c)`,
/// without building it: the text is cleaned only when it needs to be ([`clean`]).
fn write_case<T: AsRef<str>>(
    c: &CaseView<'_, T>,
    time: Option<Duration>,
    w: &mut Writer<Vec<u8>>,
) -> io::Result<()> {
    if c.status == Status::Passed && !c.flaky && c.output.is_none() {
        // Most cases: an empty `<testcase .../>`, written as bytes (no tag built, no
        // attribute allocated). The writer's state needs no update: between testcases it
        // is at depth 2 and breaks the line before the next tag, as after an empty tag.
        write_passed_case(c, time, w.get_mut());
        return Ok(());
    }
    let mut tag = BytesStart::new("testcase");
    push_attr(&mut tag, "name", &clean(c.name));
    let classname = classname(c);
    if !classname.is_empty() {
        push_attr(&mut tag, "classname", &clean(&classname));
    }
    if let Some(t) = &time {
        push_time(&mut tag, t);
    }
    if let Some(file) = &c.file {
        push_attr(&mut tag, "file", &clean(file));
    }
    if let Some(line) = c.line {
        tag.push_attribute(("line", line.to_string().as_str()));
    }
    let failure = c.failure.as_ref();
    let message = failure.and_then(|f| f.message);
    let flaky = c.status == Status::Passed && c.flaky;
    let has_children = flaky || c.status != Status::Passed;
    if c.output.is_none() && !has_children {
        return w.write_event(Event::Empty(tag));
    }
    w.write_event(Event::Start(tag))?;
    match c.status {
        Status::Passed if flaky => {
            let message = message.map(clean);
            for _ in 0..c.retries.clamp(1, 20) {
                let mut tag = BytesStart::new("flakyFailure");
                if let Some(m) = &message {
                    push_attr(&mut tag, "message", m);
                }
                w.write_event(Event::Start(tag))?;
                w.write_event(Event::End(BytesEnd::new("flakyFailure")))?;
            }
        }
        Status::Passed => {}
        Status::Failed | Status::Errored => {
            let name = if c.status == Status::Failed {
                "failure"
            } else {
                "error"
            };
            let mut tag = BytesStart::new(name);
            if let Some(m) = message {
                push_attr(&mut tag, "message", &clean(m));
            }
            if let Some(k) = failure.and_then(|f| f.kind) {
                push_attr(&mut tag, "type", &clean(k));
            }
            match failure.and_then(|f| f.trace).or(message) {
                Some(d) => {
                    w.write_event(Event::Start(tag))?;
                    w.write_event(Event::Text(text_event(&clean(d))))?;
                    w.write_event(Event::End(BytesEnd::new(name)))?;
                }
                None => w.write_event(Event::Empty(tag))?,
            }
        }
        Status::Skipped => {
            let mut tag = BytesStart::new("skipped");
            if let Some(r) = &c.skip_reason {
                push_attr(&mut tag, "message", &clean(r));
            }
            w.write_event(Event::Empty(tag))?;
        }
    }
    if let Some(o) = &c.output {
        write_text_element("system-out", &clean(o), w)?;
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))
}

/// A passed case with no children, byte for byte what [`write_case`]'s events write (the
/// indentation of a testcase in quick-junit's layout: a line break and 2 × 4 spaces).
fn write_passed_case<T: AsRef<str>>(
    c: &CaseView<'_, T>,
    time: Option<Duration>,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(b"\n        <testcase name=\"");
    push_clean_attr(out, c.name);
    out.push(b'"');
    let classname = classname(c);
    if !classname.is_empty() {
        out.extend_from_slice(b" classname=\"");
        push_clean_attr(out, &classname);
        out.push(b'"');
    }
    if let Some(t) = time {
        out.extend_from_slice(b" time=\"");
        push_secs3(out, t);
        out.push(b'"');
    }
    if let Some(file) = &c.file {
        out.extend_from_slice(b" file=\"");
        push_clean_attr(out, file);
        out.push(b'"');
    }
    if let Some(line) = c.line {
        out.extend_from_slice(b" line=\"");
        out.extend_from_slice(itoa::Buffer::new().format(line).as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b"/>");
}

/// `format!("{:.3}", t.as_secs_f64())` (how quick-junit writes times) without the float
/// formatter: milliseconds rounded from the nanoseconds, half to even. That is the same
/// text whenever the f64 is close enough to the nanoseconds to land on the same side of
/// the rounding point: below 10^6 s its error is under 1 ns, so only an exact half (which
/// the f64 puts on either side) and longer times take the formatter.
fn push_secs3(out: &mut Vec<u8>, t: Duration) {
    use std::io::Write as _;
    let (secs, nanos) = (t.as_secs(), t.subsec_nanos());
    let rem = nanos % 1_000_000;
    if secs >= 1_000_000 || rem == 500_000 {
        // Writing into a Vec cannot fail.
        let _ = write!(out, "{:.3}", t.as_secs_f64());
        return;
    }
    let mut ms = u64::from(nanos / 1_000_000) + u64::from(rem > 500_000);
    let mut s = secs;
    if ms == 1000 {
        ms = 0;
        s += 1;
    }
    out.extend_from_slice(itoa::Buffer::new().format(s).as_bytes());
    out.push(b'.');
    out.extend_from_slice(&[
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
    ]);
}

/// A byte that makes an attribute value need [`clean`] or escaping: controls (`\n` too: it
/// is written `&#10;`), DEL, the lead byte of a C1 control (`C2`, also of harmless
/// `C2 A0..`: those take the exact path), and `<>&'"`. Comparisons only (no table), so the
/// scan below vectorizes.
#[inline(always)]
fn attr_special(b: u8) -> bool {
    (b < 0x20)
        | (b == 0x7f)
        | (b == 0xc2)
        | (b == b'<')
        | (b == b'>')
        | (b == b'&')
        | (b == b'\'')
        | (b == b'"')
}

/// Whether `v` holds an [`attr_special`] byte (a lookup and a branch per byte were a fifth
/// of the digest's thread in `ci`).
fn has_attr_special(v: &[u8]) -> bool {
    any_byte(v, attr_special)
}

/// Whether a byte of `v` is one `pred` picks (`pred` must not pick `a`): 16 bytes per step
/// with no branch inside, so that the compiler makes it SIMD compares.
#[inline(always)]
fn any_byte(v: &[u8], pred: impl Fn(u8) -> bool) -> bool {
    crate::model::any_window::<16>(v, |c| c.iter().fold(false, |a, &b| a | pred(b)))
}

/// `push_attr_value(out, &clean(v))` in one look at each byte: nearly every name and path
/// has nothing to clean or escape and is copied as is.
fn push_clean_attr(out: &mut Vec<u8>, v: &str) {
    if has_attr_special(v.as_bytes()) {
        push_attr_value(out, &clean(v));
    } else {
        out.extend_from_slice(v.as_bytes());
    }
}

/// Whether an attribute value byte is escaped: `<>&'"` (as quick-xml escapes them) and the
/// whitespace controls `\n`, `\r`, `\t`, which a reader would normalize to spaces.
#[inline(always)]
fn attr_escaped(b: u8) -> bool {
    (b == b'<')
        | (b == b'>')
        | (b == b'&')
        | (b == b'\'')
        | (b == b'"')
        | (b == b'\n')
        | (b == b'\r')
        | (b == b'\t')
}

/// An attribute value escaped as quick-xml escapes it (`<>&'"`), with line breaks and tabs
/// as character references (`&#10;`, `&#13;`, `&#9;`: kept by a reader, which turns literal
/// ones into spaces); copied as is when it has none of them (one SIMD scan).
fn push_attr_value(out: &mut Vec<u8>, v: &str) {
    let b = v.as_bytes();
    if !any_byte(b, attr_escaped) {
        out.extend_from_slice(b);
        return;
    }
    // Escaped straight into `out` (quick-xml's `escape` builds a String first).
    let mut from = 0;
    for (i, &c) in b.iter().enumerate() {
        let rep: &[u8] = match c {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            b'\n' => b"&#10;",
            b'\r' => b"&#13;",
            b'\t' => b"&#9;",
            _ => continue,
        };
        out.extend_from_slice(&b[from..i]);
        out.extend_from_slice(rep);
        from = i + 1;
    }
    out.extend_from_slice(&b[from..]);
}

/// `k="v"` on `tag`, `v` escaped by [`push_attr_value`] (quick-xml's `push_attribute` would
/// leave line breaks literal).
fn push_attr(tag: &mut BytesStart<'_>, k: &str, v: &str) {
    let mut value = Vec::with_capacity(v.len());
    push_attr_value(&mut value, v);
    tag.push_attribute(Attribute {
        key: QName(k.as_bytes()),
        value: value.into(),
    });
}

/// One `<testcase>` in quick-junit's event order (the fields codeloop sets; timestamps and
/// properties are never set by [`test_case`] / [`finding_case`]).
fn write_test_case(tc: &TestCase, w: &mut Writer<Vec<u8>>) -> io::Result<()> {
    let mut tag = BytesStart::new("testcase");
    push_attr(&mut tag, "name", tc.name.as_str());
    if let Some(c) = &tc.classname {
        push_attr(&mut tag, "classname", c.as_str());
    }
    if let Some(a) = tc.assertions {
        tag.push_attribute(("assertions", a.to_string().as_str()));
    }
    if let Some(t) = &tc.time {
        push_time(&mut tag, t);
    }
    for (k, v) in &tc.extra {
        push_attr(&mut tag, k.as_str(), v.as_str());
    }
    let has_children = match &tc.status {
        TestCaseStatus::Success { flaky_runs } => !flaky_runs.is_empty(),
        TestCaseStatus::NonSuccess { .. } | TestCaseStatus::Skipped { .. } => true,
    };
    if tc.system_out.is_none() && tc.system_err.is_none() && !has_children {
        return w.write_event(Event::Empty(tag));
    }
    w.write_event(Event::Start(tag))?;
    match &tc.status {
        TestCaseStatus::Success { flaky_runs } => {
            for r in flaky_runs {
                write_rerun(r, FlakyOrRerun::Flaky, w)?;
            }
        }
        TestCaseStatus::NonSuccess {
            kind,
            message,
            ty,
            description,
            reruns,
        } => {
            let name = match kind {
                NonSuccessKind::Failure => "failure",
                NonSuccessKind::Error => "error",
            };
            write_status(message, ty, description, name, w)?;
            for r in &reruns.runs {
                write_rerun(r, reruns.kind, w)?;
            }
        }
        TestCaseStatus::Skipped {
            message,
            ty,
            description,
        } => write_status(message, ty, description, "skipped", w)?,
    }
    for (text, name) in [
        (&tc.system_out, "system-out"),
        (&tc.system_err, "system-err"),
    ] {
        if let Some(t) = text {
            write_text_element(name, t.as_str(), w)?;
        }
    }
    w.write_event(Event::End(BytesEnd::new("testcase")))
}

fn write_status(
    message: &Option<XmlString>,
    ty: &Option<XmlString>,
    description: &Option<XmlString>,
    name: &str,
    w: &mut Writer<Vec<u8>>,
) -> io::Result<()> {
    let mut tag = BytesStart::new(name);
    if let Some(m) = message {
        push_attr(&mut tag, "message", m.as_str());
    }
    if let Some(t) = ty {
        push_attr(&mut tag, "type", t.as_str());
    }
    match description {
        Some(d) => {
            w.write_event(Event::Start(tag))?;
            w.write_event(Event::Text(text_event(d.as_str())))?;
            w.write_event(Event::End(BytesEnd::new(name)))
        }
        None => w.write_event(Event::Empty(tag)),
    }
}

fn write_rerun(r: &TestRerun, which: FlakyOrRerun, w: &mut Writer<Vec<u8>>) -> io::Result<()> {
    let name = match (which, r.kind) {
        (FlakyOrRerun::Flaky, NonSuccessKind::Failure) => "flakyFailure",
        (FlakyOrRerun::Flaky, NonSuccessKind::Error) => "flakyError",
        (FlakyOrRerun::Rerun, NonSuccessKind::Failure) => "rerunFailure",
        (FlakyOrRerun::Rerun, NonSuccessKind::Error) => "rerunError",
    };
    let mut tag = BytesStart::new(name);
    if let Some(t) = &r.time {
        push_time(&mut tag, t);
    }
    if let Some(m) = &r.message {
        push_attr(&mut tag, "message", m.as_str());
    }
    if let Some(t) = &r.ty {
        push_attr(&mut tag, "type", t.as_str());
    }
    w.write_event(Event::Start(tag))?;
    let mut needs_indent = false;
    if let Some(d) = &r.description {
        w.write_event(Event::Text(BytesText::new(d.as_str())))?;
        needs_indent = true;
    }
    for (text, el) in [
        (&r.stack_trace, "stackTrace"),
        (&r.system_out, "system-out"),
        (&r.system_err, "system-err"),
    ] {
        if let Some(t) = text {
            if needs_indent {
                w.write_indent()?;
                needs_indent = false;
            }
            write_text_element(el, t.as_str(), w)?;
        }
    }
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn write_text_element(name: &str, text: &str, w: &mut Writer<Vec<u8>>) -> io::Result<()> {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(text_event(text)))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

/// Whether `b` holds a byte quick-xml escapes (`<>&'"`), found with SIMD searches.
fn has_markup(b: &[u8]) -> bool {
    memchr::memchr3(b'<', b'>', b'&', b).is_some() || memchr::memchr2(b'\'', b'"', b).is_some()
}

/// `BytesText::new(text)` (escaped as quick-xml escapes: `<>&'"`), with the search for
/// those bytes done by SIMD searches instead of quick-xml's look at each byte of a trace.
fn text_event(text: &str) -> BytesText<'_> {
    if !has_markup(text.as_bytes()) {
        BytesText::from_escaped(text)
    } else {
        BytesText::new(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Failure, Severity};
    use std::collections::BTreeMap;

    /// The whole-report path through quick-junit itself (what this module did before it
    /// streamed): the oracle the streamed bytes must equal.
    fn quick_junit_oracle(name: &str, cases: &[Case], findings: &[Finding]) -> String {
        use quick_junit::{Report, TestSuite};
        let mut suites: BTreeMap<String, TestSuite> = BTreeMap::new();
        for c in cases {
            let s = if c.runner.is_empty() {
                "tests".to_string()
            } else {
                c.runner.clone()
            };
            suites
                .entry(s.clone())
                .or_insert_with(|| TestSuite::new(s))
                .add_test_case(test_case(c));
        }
        let mut report = Report::new(name);
        let mut total = Duration::ZERO;
        for (_, mut s) in suites {
            let t: Duration = s.test_cases.iter().filter_map(|c| c.time).sum();
            s.set_time(t);
            total += t;
            report.add_test_suite(s);
        }
        if !findings.is_empty() {
            let mut l = TestSuite::new("lint");
            for f in findings {
                l.add_test_case(finding_case(f));
            }
            report.add_test_suite(l);
        }
        report.set_time(total);
        report.to_string().unwrap()
    }

    fn streamed(name: &str, cases: &[Case], findings: &[Finding]) -> String {
        let mut j = JunitOut::new(name);
        for c in cases {
            j.case(c);
        }
        for f in findings {
            j.finding(f);
        }
        j.finish().unwrap()
    }

    #[test]
    fn streamed_bytes_equal_quick_junit_and_read_back() {
        let mut cases = Vec::new();
        for (i, status) in [
            Status::Passed,
            Status::Failed,
            Status::Errored,
            Status::Skipped,
            Status::Passed,
        ]
        .into_iter()
        .cycle()
        .take(40)
        .enumerate()
        {
            // Half the names need cleaning, half go the borrowed way (`clean`).
            let name = if i % 2 == 0 {
                format!("t{i} <&\"'> plain ° é")
            } else {
                format!("t{i} <&\"'> \u{1b}[31mred\u{1b}[0m \u{7}")
            };
            let mut c = Case::new(name, status);
            c.runner = ["b", "a", ""][i % 3].into();
            c.suite = vec!["pkg".into(), format!("m{i}")];
            if i % 4 == 0 {
                c.classname = Some(format!("cls.{i}"));
            }
            c.duration = [Some(0.0015), None, Some(2.25), Some(f64::NAN), Some(1e12)][i % 5];
            if i % 6 == 0 {
                c.file = Some(format!("src/f{i}.rs"));
                c.line = Some(i as u32);
            }
            if i % 7 == 0 {
                c.output = Some("out\nput & \u{0} more".into());
            }
            if status.is_bad() || i % 5 == 4 {
                c.failure = Some(Failure {
                    kind: (i % 2 == 0).then(|| "AssertionError".into()),
                    // Every third message spans lines (a pytest assertion, a jest diff).
                    message: Some(if i % 3 == 1 {
                        format!("msg {i}\n  expected: 1\r\n\tgot: <2>\n")
                    } else {
                        format!("msg {i} \"quoted\" <x>")
                    }),
                    trace: (i % 3 == 0).then(|| format!("trace line 1\n  at x{i}\n")),
                });
            }
            if i % 5 == 4 {
                c.flaky = true;
                c.retries = (i % 3) as u32;
            }
            if status == Status::Skipped && i % 2 == 1 {
                c.skip_reason = Some("not today".into());
            }
            cases.push(c);
        }
        let findings = [
            Finding {
                tool: "ruff".into(),
                rule: Some("F401".into()),
                severity: Severity::Error,
                message: "unused import <os>".into(),
                file: Some("a.py".into()),
                line: Some(3),
                ..Default::default()
            },
            Finding {
                tool: "tsc".into(),
                severity: Severity::Warning,
                message: "w".into(),
                ..Default::default()
            },
        ];
        for (c, f) in [
            (&cases[..], &findings[..]),
            (&cases[..], &[][..]),
            (&[][..], &findings[..]),
            (&[][..], &[][..]),
            (&cases[..1], &[][..]),
        ] {
            let ours = streamed("codeloop", c, f);
            // quick-junit's bytes, but for the line breaks in attribute values it leaves
            // literal (see the module docs).
            assert_eq!(
                ours,
                breaks_in_attributes_as_references(&quick_junit_oracle("codeloop", c, f))
            );
            // And quick-junit reads it back with the same numbers and messages.
            let back = quick_junit::Report::deserialize_from_str(&ours).unwrap();
            assert_eq!(back.tests, c.len() + f.len());
            let mut messages: Vec<String> = back
                .test_suites
                .iter()
                .flat_map(|s| &s.test_cases)
                .filter_map(|tc| match &tc.status {
                    TestCaseStatus::NonSuccess { message, .. } => message.clone(),
                    _ => None,
                })
                .map(XmlString::into_string)
                .collect();
            let mut sent: Vec<String> = c
                .iter()
                .filter(|c| c.status.is_bad())
                .filter_map(|c| c.failure.as_ref()?.message.as_deref())
                .chain(f.iter().map(|f| f.message.as_str()))
                .map(|m| XmlString::new(m).into_string())
                .collect();
            messages.sort();
            sent.sort();
            assert_eq!(messages, sent);
        }
        // A conforming reader normalizes a literal line break in an attribute value to a
        // space (XML 1.0 §3.3.3); quick-xml does not, so that is done here: the multi-line
        // message must come back with its lines.
        let ours = streamed("codeloop", &cases, &[]);
        let mut reader = quick_xml::Reader::from_str(&ours);
        let mut seen = 0;
        loop {
            match reader.read_event().unwrap() {
                Event::Eof => break,
                Event::Start(t) | Event::Empty(t) if t.name().as_ref() == b"failure" => {
                    let raw = t.try_get_attribute("message").unwrap().unwrap().value;
                    let normalized = std::str::from_utf8(&raw)
                        .unwrap()
                        .replace("\r\n", " ")
                        .replace(['\n', '\r', '\t'], " ");
                    let read = quick_xml::escape::unescape(&normalized).unwrap();
                    if read.starts_with("msg 1\n") {
                        // Cleaned as quick-junit cleans (CR and tab dropped), lines kept.
                        assert_eq!(read, "msg 1\n  expected: 1\ngot: <2>\n");
                        seen += 1;
                    }
                }
                _ => {}
            }
        }
        assert_eq!(seen, 1, "{ours}");
    }

    /// `&#10;`, `&#13;`, `&#9;` for the line breaks and tabs of an escaped text.
    fn breaks_as_references(s: &str) -> String {
        s.replace('\n', "&#10;")
            .replace('\r', "&#13;")
            .replace('\t', "&#9;")
    }

    /// quick-junit's document with line breaks and tabs inside attribute values (inside a
    /// tag, between quotes: quick-xml escapes `<>"` in values) written as references.
    fn breaks_in_attributes_as_references(xml: &str) -> String {
        let (mut in_tag, mut in_value) = (false, false);
        let mut out = String::with_capacity(xml.len());
        for ch in xml.chars() {
            match ch {
                '<' if !in_value => in_tag = true,
                '>' if !in_value => in_tag = false,
                '"' if in_tag => in_value = !in_value,
                '\n' | '\r' | '\t' if in_value => {
                    out.push_str(&breaks_as_references(&ch.to_string()));
                    continue;
                }
                _ => {}
            }
            out.push(ch);
        }
        out
    }

    #[test]
    fn millisecond_times_are_what_the_float_formatter_writes() {
        let check = |t: Duration| {
            let mut got = Vec::new();
            push_secs3(&mut got, t);
            assert_eq!(
                String::from_utf8(got).unwrap(),
                format!("{:.3}", t.as_secs_f64()),
                "{t:?}"
            );
        };
        // Edges: exact halves, just around them, carries into the next second, big times.
        for secs in [0u64, 1, 9, 59, 999, 86_399, 999_999, 1_000_000, 123_456_789] {
            for nanos in [
                0u32,
                1,
                499_999,
                500_000,
                500_001,
                999_499_999,
                999_500_000,
                999_500_001,
                999_999_999,
                1_500_000,
                2_500_000,
                123_456_789,
            ] {
                check(Duration::new(secs, nanos));
            }
        }
        // And durations as parsers make them (from seconds in a report), over a wide spread.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let secs = (x % 100_000_000) as f64 / 10f64.powi((x >> 40) as i32 % 9);
            check(Duration::from_secs_f64(secs));
            check(Duration::new(
                x % 2_000_000,
                (x >> 20) as u32 % 1_000_000_000,
            ));
        }
    }

    #[test]
    fn clean_keeps_what_quick_junit_keeps() {
        let samples = [
            "",
            "plain ascii <&>",
            "line\nbreaks\n",
            "tab\there",
            "cr\r\nlf",
            "del\u{7f}x",
            "nul\u{0}x",
            "esc \u{1b}[1;31mbold red\u{1b}[0m",
            "lone \u{1b}",
            "osc \u{1b}]0;title\u{7} after",
            "c1 \u{85} next line \u{9b}31m csi",
            "latin ° © ¡ ¿ é ü",
            "wide ● · → ✓ 😀 日本",
            "\u{2028}sep\u{feff}bom",
        ];
        for s in samples {
            assert_eq!(clean(s), XmlString::new(s).as_str(), "{s:?}");
        }
        // One byte table decides both cleaning and escaping: the same bytes as the two steps.
        for s in samples
            .iter()
            .chain(&["a'b\"c", "x\u{a0}y", "\u{c2}\u{80}", "<&>'\"", "&amp;&&"])
        {
            let (mut one, mut two) = (Vec::new(), Vec::new());
            push_clean_attr(&mut one, s);
            // quick-xml's escaping is the oracle.
            let cleaned = XmlString::new(*s).into_string();
            two.extend_from_slice(
                breaks_as_references(&quick_xml::escape::escape(cleaned.as_str())).as_bytes(),
            );
            assert_eq!(one, two, "{s:?}");
            let mut direct = Vec::new();
            push_attr_value(&mut direct, &cleaned);
            assert_eq!(direct, two, "{s:?}");
        }
        // The borrowed path is the one plain text takes.
        assert!(matches!(clean("wide ● · ✓"), std::borrow::Cow::Borrowed(_)));
        assert!(matches!(clean("tab\t"), std::borrow::Cow::Owned(_)));
    }

    #[test]
    fn the_attribute_scan_finds_a_special_byte_at_any_place() {
        let expected = |b: u8| b < 0x20 || b == 0x7f || b == 0xc2 || b"<>&'\"".contains(&b);
        for b in 0..=255u8 {
            assert_eq!(attr_special(b), expected(b), "byte {b:#04x}");
        }
        // Every length around the 16-byte steps, the byte at every place (the chunks and
        // the tail are both scanned).
        for len in 1..=40 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    assert_eq!(has_attr_special(&v), expected(b), "{len} {at} {b:#04x}");
                }
            }
        }
        assert!(!has_attr_special(b""));
        // clean's quick look agrees with its exact one wherever the byte is.
        for len in 1..=40 {
            for at in 0..len {
                for b in 0..0x80u8 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    let s = String::from_utf8(v).unwrap();
                    let plain = (b >= 0x20 && b != 0x7f) || b == b'\n';
                    let borrowed = matches!(clean(&s), std::borrow::Cow::Borrowed(_));
                    assert_eq!(borrowed, plain, "{len} {at} {b:#04x}");
                }
                for (c, plain) in [('\u{80}', false), ('\u{9f}', false), ('\u{a0}', true)] {
                    let s: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    let borrowed = matches!(clean(&s), std::borrow::Cow::Borrowed(_));
                    assert_eq!(borrowed, plain, "{len} {at} {c:?}");
                }
            }
        }
    }

    #[test]
    fn spooled_suites_flush_and_assemble() {
        // Many cases: the buffers flush into the spools several times.
        let cases: Vec<Case> = (0..5000)
            .map(|i| {
                let mut c = Case::new(format!("case number {i}"), Status::Passed);
                c.runner = format!("r{}", i % 2);
                c.duration = Some(0.001);
                c
            })
            .collect();
        assert_eq!(
            streamed("codeloop", &cases, &[]),
            quick_junit_oracle("codeloop", &cases, &[])
        );
    }

    #[test]
    fn writes_runners_lint_and_flaky() {
        let mut j = JunitOut::new("codeloop");
        let mut f = Case::new("test_a", Status::Failed);
        f.runner = "pytest".into();
        f.classname = Some("tests.test_x".into());
        f.failure = Some(Failure {
            kind: Some("AssertionError".into()),
            message: Some("assert 1 == 2 \u{0} <x>".into()),
            trace: None,
        });
        j.case(&f);
        let mut fl = Case::new("test_b", Status::Passed);
        fl.runner = "pytest".into();
        fl.flaky = true;
        fl.retries = 2;
        j.case(&fl);
        j.finding(&Finding {
            tool: "ruff".into(),
            rule: Some("F401".into()),
            severity: Severity::Error,
            message: "unused import".into(),
            file: Some("a.py".into()),
            line: Some(3),
            ..Default::default()
        });
        let xml = j.finish().unwrap();
        assert!(
            xml.contains(r#"<testsuite name="pytest" tests="2""#),
            "{xml}"
        );
        assert!(xml.contains(r#"failures="1""#), "{xml}");
        assert_eq!(xml.matches("<flakyFailure").count(), 2, "{xml}");
        assert!(
            xml.contains(r#"<testcase name="a.py:3: F401" classname="ruff""#),
            "{xml}"
        );
        assert!(xml.contains("&lt;x&gt;") && !xml.contains('\u{0}'), "{xml}");
    }
}
