//! JUnit XML in all its dialects, in one streaming pass over [`super::xml::XmlReader`].
//!
//! Memory grows with failures only: a passing `<testcase>` costs its name, classname and
//! suite path while it is open, and nothing after; texts (messages, traces, output) are only
//! captured for the elements that need them, each bounded to `max_text_bytes`.
//!
//! # Structure
//!
//! Roots `<testsuites>` and bare `<testsuite>` are accepted, suites nest to any depth (PHPUnit
//! data providers, xunit-style nesting, node:test describe blocks) and the case's `suite` is
//! the path of enclosing `<testsuite name>`s. Several concatenated documents in one file are
//! all read. Any other root element (`<project>` of a pom.xml, `<svg>`, EnricoMi's
//! `<suites>` sample) is rejected: it is not a test report.
//!
//! # Counting rules
//!
//! One `<testcase>` element is one test. Its status comes from its children and attributes,
//! in this order:
//!
//! 1. **skipped, whatever else the case holds** — a `<skipped>` child that marks a failure
//!    the tool expects: Catch2 writes a `[!mayfail]`/`[!shouldfail]` case that failed as
//!    expected as `<skipped message="TEST_CASE tagged with !mayfail"/>` plus its `<failure>`,
//!    node:test a failing `todo` as `<skipped type="todo"/>` plus its `<failure>`
//!    (`type="pytest.xfail"` and `type="xfail"` count the same way); each tool counts those
//!    as not failed ("failed as expected", "todo"). Or the case's own status attribute:
//!    `status="disabled"|"notrun"|"skipped"|"ignored"`, `result="skipped"|"suppressed"`
//!    (GoogleTest `DISABLED_` tests and `GTEST_SKIP`, CTest disabled tests, NUnit's and
//!    TeamCity's `Ignored` written as JUnit) — the producer's verdict on
//!    the case, which it also writes on a disabled test whose failure it records but does not
//!    count (mikepenz/action-junit-report issue 761, `testFailedDisabled.xml`).
//! 2. **errored** — an `<error>` child (pytest setup/teardown errors, PHPUnit errors and
//!    risky tests, xmlrunner errors and unexpected successes, JUnit 4 exceptions).
//! 3. **failed** — a `<failure>` child (assertion failures; Go, Rust, JS and Catch2 have no
//!    error category, so their errors are failures too; nextest timeouts are
//!    `<failure type="test timeout">`).
//! 4. **skipped** — any other `<skipped>` child. Exception (CTest): `<skipped message="Unable
//!    to find executable">` is the test CTest counts as *failed* ("Not Run"), so it is failed
//!    here too.
//! 5. **passed** otherwise.
//!
//! So a plain `<skipped/>` child never hides a `<failure>`/`<error>` beside it: the case is
//! failed (errored), as publish-unit-test-result-action (error > failure > skipped) and
//! dorny/test-reporter read two conflicting result elements, and as GoogleTest itself counts
//! a test that failed before `GTEST_SKIP` (pytest's summary counts a teardown error after a
//! skip as an error too). mikepenz/action-junit-report lets the skip win; a gate must not
//! pass on a failure it cannot explain away, so each file with such cases gets one warning
//! that says how many there were and how they were counted.
//!
//! Several `<failure>`/`<error>` children count once (the first one gives type and message).
//!
//! **Reruns** (Maven Surefire and nextest): `<flakyFailure>`/`<flakyError>` children on a case
//! without a failure mean it passed on a retry: passed, `flaky`, `retries` = their number —
//! as Surefire prints `Flakes: N` apart from failures, and nextest `N passed (1 flaky)`.
//! `<rerunFailure>`/`<rerunError>` children on a failed case are its extra failed attempts:
//! failed once, `retries` = their number.
//!
//! **Reruns written as repeated testcases** (pytest-rerunfailures): the plugin writes every
//! attempt of a test as its own `<testcase>` with the same classname and name, the earlier
//! attempts as empty elements (pytest 9.2 with the plugin 16.7; real files in
//! `tests/fixtures/pytest-reruns/`). pytest counts the test once ("2 failed, 7 passed,
//! 9 rerun"), so in pytest suites (see *Dialects*) the attempts fold into one case: the last
//! attempt's outcome, `retries` = the earlier attempts, flaky when it passed (a rerun only
//! follows a failed attempt). Under pytest-xdist the attempts are not adjacent, so the last
//! [`ATTEMPT_WINDOW`] tests are held back to gather attempts; attempts further apart than that
//! stay separate tests. pytest's `tests` attribute counts tests without reruns: a suite that
//! holds no more testcases than it declares is not folded (two runs of one suite merged into
//! one `pytest` suite by junit-report-merger), and a folded count that differs from it is a
//! warning. Only pytest suites fold: elsewhere the same name twice can be two tests (Catch2
//! sections are folded by their own rule, Surefire and nextest write reruns as children of
//! one case, see above).
//!
//! **Suite-level problems** become [`SuiteError`]s, not tests (so counts match the tools'
//! `Tests:` lines): a `<failure>`/`<error>` directly inside a `<testsuite>`; jest-junit's
//! `reportTestSuiteErrors` pseudo-cases (classname `Test suite failed to run`); and vitest's
//! pseudo-case for a test file that failed to load (root `vitest tests`, a failing case whose
//! name and classname are the suite's file name).
//!
//! Durations come from `time` (lenient: `1,234.5` reads; an unreadable value is a warning and
//! no duration). `file`/`line` attributes (PHPUnit, jest-junit `addFileAttribute`, pytest
//! xunit1) give the location; pytest's `line` is its item's 0-based `location` (the line
//! before the `def`), so in pytest suites it is made 1-based. `<system-out>`/`<system-err>` of a case are kept (bounded) when
//! the case has failed, errored or retried by then — reporters write them after the failure.
//!
//! A truncated file (a runner killed mid-write) is a [`ParseError`] with the position; the
//! cases before the cut count, and a case cut off inside counts only if it had already
//! failed or errored (never as a pass it may not have been).
//!
//! # Dialects
//!
//! A merged file (junit-report-merger, `junit-merge`, a Gradle aggregate) holds suites of
//! several tools, so the dialect is decided per `<testsuite>` from its own attributes and is
//! inherited by the suites nested in it: Catch2 (`hostname="tbd"`: errors are failures,
//! SECTIONs fold into their test case), libtest (`name="test" package="test"`: ignored tests
//! only in `skipped="N"`), pytest (`name="pytest"` with pytest's `timestamp`/`hostname`
//! attributes, which codeloop's own `report/junit.xml` does not write, or any suite under the
//! root `<testsuites name="pytest tests">`: reruns fold), vitest (under the root
//! `<testsuites name="vitest tests">`: load-error pseudo-cases). A suite without a sign of its
//! own follows the root; one tool's rule never leaks into the next suite.
//!
//! What a file cannot say is not invented: nextest leaves `#[ignore]`d tests out of its JUnit,
//! Go build failures have no testcase, node:test writes a parent test as a `<testsuite>`.
//! The conformance test (`tests/it/corpus_junit.rs`) lists each such difference with its
//! reason.

use std::collections::VecDeque;
use std::io::BufRead;

use super::bound::{MAX_NAME_BYTES, cap};
use super::text::{bound_text, clean_control, parse_seconds, simple_decimal};
use super::xml::{Event, Tag, XmlReader, decode_attr, decode_attr_into};
use super::{LazyCase, Outcome, ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// Which reporter wrote a suite, as far as counting needs to know. Decided per `<testsuite>`
/// (a merged file holds suites of several tools), inherited by nested suites.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Dialect {
    #[default]
    Generic,
    /// Root `<testsuites name="vitest tests">`: a failing pseudo-case named after its suite is
    /// a file that failed to load.
    Vitest,
    /// Catch2 (`hostname="tbd"`): one `<testcase>` per SECTION, errors are failures.
    Catch2,
    /// libtest `--format junit`: ignored tests are left out, only counted in `skipped="N"`.
    Libtest,
    /// pytest (`<testsuite name="pytest" timestamp=… hostname=…>`, its default
    /// `junit_suite_name`, or anything under its root `<testsuites name="pytest tests">`):
    /// pytest-rerunfailures writes every attempt as its own `<testcase>` with the same
    /// classname and name. Its `junit_family=xunit1` (`legacy`) writes `line` from the
    /// item's `location`, which is 0-based (`TestReport.location` in `_pytest/reports.py`).
    Pytest,
}

/// How many recent cases of a pytest suite are held back to fold repeated attempts into.
/// Without pytest-xdist a rerun follows its attempt directly; under xdist other workers'
/// tests come in between (a handful per worker in the runs measured), so the window is
/// generous. Attempts further apart are counted as written, with a warning (see
/// [`Parser::close_suite`]).
const ATTEMPT_WINDOW: usize = 256;

/// Attempts of one test kept while it is held back (the first and the latest ones).
const MAX_HELD_ATTEMPTS: usize = 32;

/// A test of a pytest suite held back, with its attempts (see [`Parser::fold_attempt`]).
struct Held {
    /// The attempts as written, oldest first.
    attempts: Vec<Case>,
    /// Attempts between the first and the kept ones, only counted.
    dropped: u32,
}

/// What kind of element an open element is, for the state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    Suites,
    Suite,
    Case,
    /// `<failure>`/`<error>` of a case (`true` = error).
    CaseProblem,
    CaseSkipped,
    /// `<flakyFailure>` & co. (`true` = rerun of a failed case).
    Rerun,
    /// `<system-out>`/`<system-err>` of a case (`true` = its text is being captured).
    CaseOutput(bool),
    /// `<failure>`/`<error>` directly inside a suite.
    SuiteProblem,
    Other,
}

#[derive(Default)]
struct SuiteFrame {
    name: String,
    dialect: Dialect,
    file: Option<String>,
    /// `tests`/`skipped` attributes (used for libtest's unlisted ignored tests).
    declared_tests: Option<u64>,
    declared_skipped: Option<u64>,
    seen_tests: u64,
    seen_skipped: u64,
    /// pytest: `<testcase>` elements (attempts) read, before folding.
    elements: u64,
}

/// The raw (undecoded) bytes of a testcase's naming attributes, copied out of the input
/// window at its start tag (the window moves on before the end tag). Decoded only when the
/// full case is needed: most passing cases of a large file are only counted.
#[derive(Default)]
struct RawNames {
    /// The whole start tag's content, copied once; the fields below are ranges of it (the
    /// last of duplicate attributes wins, as in a decoded pass).
    buf: Vec<u8>,
    name: Option<(usize, usize)>,
    classname: Option<(usize, usize)>,
    class: Option<(usize, usize)>,
    file: Option<(usize, usize)>,
    line: Option<(usize, usize)>,
    /// Whether the names were decoded into the case already.
    filled: bool,
    /// [`plain_name`] of `buf`, once asked (the classname check and `fill` both need it:
    /// one scan of the tag, not two).
    plain: Option<bool>,
    /// The last case's file string, kept for the next one's (no allocation per case).
    spare_file: String,
}

impl RawNames {
    fn clear(&mut self) {
        self.buf.clear();
        self.name = None;
        self.classname = None;
        self.class = None;
        self.file = None;
        self.line = None;
        self.filled = false;
        self.plain = None;
    }

    /// Whether the whole tag is plain (see [`plain_name`]): then so is every value in it.
    fn plain(&mut self) -> bool {
        *self.plain.get_or_insert_with(|| plain_name(&self.buf))
    }

    fn get(&self, r: Option<(usize, usize)>) -> Option<&[u8]> {
        r.and_then(|(s, e)| self.buf.get(s..e))
    }

    /// Where the case's classname is decoded from (`classname`, else `class`).
    fn classname_range(&self) -> Option<(usize, usize)> {
        self.classname.or(self.class)
    }

    /// The raw value the case's classname is decoded from.
    fn classname_raw(&self) -> Option<&[u8]> {
        self.get(self.classname_range())
    }

    /// Decodes the names into `case` (its name, classname, file and line were reset when
    /// the case was opened) and sets its suite path (left as it was at the open: the last
    /// case's path, whose strings are reused).
    ///
    /// `zero_based_line`: the `line` attribute counts from 0 (pytest's, see
    /// [`Dialect::Pytest`]) and is made 1-based here.
    fn fill(
        &mut self,
        case: &mut Case,
        path: &[String],
        suite_file: Option<&String>,
        zero_based_line: bool,
    ) {
        if self.filled {
            return;
        }
        self.filled = true;
        // Refilled in place: the strings keep their capacity.
        case.suite.truncate(path.len());
        let n = case.suite.len();
        for (d, p) in case.suite.iter_mut().zip(path) {
            d.clone_from(p);
        }
        case.suite.extend(path[n..].iter().cloned());
        // Usually every value is plain (see `plain_name`): then one scan and one UTF-8 check
        // over all of them together, and each value is a slice of the result (a value whose
        // ends are not character boundaries of the whole takes the exact path on its own).
        let all = (self.buf.len() <= MAX_NAME_BYTES && self.plain())
            .then(|| std::str::from_utf8(&self.buf).ok())
            .flatten();
        let plain = |r: Option<(usize, usize)>| all.and_then(|t| t.get(r?.0..r?.1));
        if let Some(v) = self.get(self.name) {
            match plain(self.name) {
                Some(t) => case.name.push_str(t),
                None => name_into(v, &mut case.name),
            }
        }
        let class = self.classname_range();
        if let Some(v) = self.get(class) {
            let c = case.classname.get_or_insert_with(String::new);
            match plain(class) {
                Some(t) => c.push_str(t),
                None => name_into(v, c),
            }
        }
        case.file = match (plain(self.file), self.get(self.file)) {
            (Some(t), _) => {
                let mut f = std::mem::take(&mut self.spare_file);
                f.clear();
                f.push_str(t);
                Some(f)
            }
            (None, Some(v)) => {
                let mut f = decode_attr(v).into_owned();
                cap(&mut f, MAX_NAME_BYTES);
                Some(f)
            }
            (None, None) => suite_file.cloned(),
        };
        case.line = match plain(self.line) {
            Some(t) => t.trim().parse().ok(),
            None => self
                .get(self.line)
                .and_then(|v| decode_attr(v).trim().parse::<u32>().ok()),
        }
        .map(|l| l.saturating_add(u32::from(zero_based_line)));
    }
}

/// A passing case handed to [`Sink::case_lazy`]: names decoded on demand.
struct LazyPassing<'p> {
    case: &'p mut Case,
    names: &'p mut RawNames,
    path: &'p [String],
    suite_file: Option<&'p String>,
}

impl LazyCase for LazyPassing<'_> {
    /// `fill` bounds every text it decodes (names, file) and the suite path is bounded when
    /// a suite opens; a plain passing case has no other texts.
    fn bounded(&self) -> bool {
        true
    }
    fn case(&mut self) -> &mut Case {
        // Never a pytest case (those are never plain): its `line` is 1-based.
        self.names
            .fill(self.case, self.path, self.suite_file, false);
        self.case
    }
}

#[derive(Default)]
struct CaseState {
    case: Case,
    failed: bool,
    errored: bool,
    skipped: bool,
    /// `<skipped message="Unable to find executable">` (CTest "Not Run").
    not_run: bool,
    /// A skip that wins over a `<failure>`/`<error>` in the same case: a `<skipped>` that
    /// marks an expected failure (Catch2 `!mayfail`, node:test `todo`, xfail) or the case's
    /// own skipped `status`/`result` attribute.
    expected_failure: bool,
    /// Where a skip marker and a failure/error first met in this case (see
    /// [`Parser::skipped_failures`]).
    both_at: Option<Position>,
    flaky: u32,
    reruns: u32,
    /// The first flaky/rerun attempt's details, for cases without a failure of their own.
    attempt: Option<Failure>,
    output: Vec<String>,
}

struct Parser<'s> {
    sink: &'s mut dyn Sink,
    max_text: usize,
    /// The dialect the root `<testsuites>` says (suites without a sign of their own get it).
    root_dialect: Dialect,
    suites: Vec<SuiteFrame>,
    nodes: Vec<Node>,
    /// The testcase being read (refilled in place for each one: a file of a million
    /// passing tests allocates and moves nothing per test); `open` while inside one.
    case: CaseState,
    open: bool,
    /// A suite-level `<failure>`/`<error>` being read.
    suite_problem: Option<SuiteError>,
    /// Roots seen (documents), for the "not a JUnit report" check.
    roots: usize,
    /// Catch2: the previous case, held back to fold the next SECTION of the same test in.
    pending: Option<Case>,
    /// pytest: the recent tests of the open suite, held back to gather later attempts of the
    /// same test (at most [`ATTEMPT_WINDOW`], in the order they were first written).
    attempts: VecDeque<Held>,
    /// Suite of the last load error reported from a pseudo-case.
    last_load_error: Option<String>,
    /// See [`Parser::suite_path`].
    path: Vec<String>,
    /// The open case's naming attributes, raw (see [`RawNames`]).
    names: RawNames,
    /// Cases holding both a skip marker and a `<failure>`/`<error>` (not an expected
    /// failure), counted as failed/errored: how many, and the first one's name and place,
    /// for the one warning per file.
    skipped_failures: u64,
    first_skipped_failure: Option<(Position, String)>,
}

const LOAD_FAILED: &str = "the test file failed to load";
/// jest-junit's classname for a suite that failed to run (`reportTestSuiteErrors`).
const JEST_SUITE_ERROR: &str = "Test suite failed to run";

/// Parses a JUnit XML report.
pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let mut p = Parser {
        sink,
        max_text: opts.max_text_bytes,
        root_dialect: Dialect::Generic,
        suites: Vec::new(),
        nodes: Vec::with_capacity(16),
        case: CaseState::default(),
        open: false,
        suite_problem: None,
        roots: 0,
        pending: None,
        attempts: VecDeque::new(),
        last_load_error: None,
        path: Vec::new(),
        names: RawNames::default(),
        skipped_failures: 0,
        first_skipped_failure: None,
    };
    let result = p.run(&mut xml);
    if result.is_err() {
        // A truncated file: the case being read is kept when it already failed (its failure
        // is the evidence that matters); a case cut off before any outcome is not invented
        // as passed — the parse error reports the truncation.
        if p.open && (p.case.failed || p.case.errored) {
            p.finish_open_case();
        } else {
            p.open = false;
        }
    }
    p.flush_pending();
    xml.flush_warnings(p.sink);
    p.warn_skipped_failures();
    result?;
    if p.roots == 0 {
        return Err(ParseError::new(
            "no <testsuites> or <testsuite> element: the file is empty or not a JUnit report",
        ));
    }
    Ok(())
}

impl Parser<'_> {
    fn run<R: BufRead>(&mut self, xml: &mut XmlReader<R>) -> Result<(), ParseError> {
        loop {
            match xml.next()? {
                Event::Start(tag) => {
                    let node = self.start(&tag)?;
                    self.nodes.push(node);
                    if matches!(
                        node,
                        Node::CaseProblem
                            | Node::CaseSkipped
                            | Node::Rerun
                            | Node::SuiteProblem
                            | Node::CaseOutput(true)
                    ) {
                        xml.capture_text();
                    }
                }
                Event::End(_) => {
                    let node = self.nodes.pop().unwrap_or(Node::Other);
                    self.end(node, xml);
                }
                Event::Eof => return Ok(()),
            }
        }
    }

    /// One warning for the file's cases that held both a skip marker and a failure/error
    /// (counted as failed/errored; see the module docs): peers disagree on them, so the
    /// reader is told how they were counted.
    fn warn_skipped_failures(&mut self) {
        let Some((at, name)) = self.first_skipped_failure.take() else {
            return;
        };
        let n = self.skipped_failures;
        let which = if n == 1 {
            format!("testcase {name:?} holds")
        } else {
            format!("{n} testcases (the first: {name:?}) hold")
        };
        self.sink.warning(
            Some(at),
            format!(
                "{which} both <skipped> and <failure>/<error>: counted as failed or \
                 errored, not skipped — a skip hides a failure only when it marks it as \
                 expected (Catch2 !mayfail, node:test todo, xfail)"
            ),
        );
    }

    /// The dialect of the innermost open suite (the root's outside any).
    fn dialect(&self) -> Dialect {
        self.suites.last().map_or(self.root_dialect, |s| s.dialect)
    }

    fn parent(&self) -> Option<Node> {
        self.nodes.last().copied()
    }

    fn start(&mut self, tag: &Tag<'_>) -> Result<Node, ParseError> {
        let name = tag.name();
        let parent = self.parent();
        let node = match (parent, name) {
            (None, b"testsuites") => {
                self.roots += 1;
                self.root_dialect = match tag.attr("name").as_deref() {
                    Some("vitest tests") => Dialect::Vitest,
                    Some("pytest tests") => Dialect::Pytest,
                    _ => Dialect::Generic,
                };
                Node::Suites
            }
            (None, b"testsuite") => {
                self.roots += 1;
                self.root_dialect = Dialect::Generic;
                self.open_suite(tag);
                Node::Suite
            }
            (None, other) => {
                return Err(ParseError::at(
                    tag.position(),
                    format!(
                        "not a JUnit report: the root element is <{}>, expected <testsuites> \
                         or <testsuite>; if this is another report format, set it explicitly",
                        String::from_utf8_lossy(other)
                    ),
                ));
            }
            (Some(Node::Suites | Node::Suite), b"testsuite") => {
                self.open_suite(tag);
                Node::Suite
            }
            (Some(Node::Suites | Node::Suite), b"testcase") => {
                self.open_case(tag);
                Node::Case
            }
            (Some(Node::Case), b"failure" | b"error") => {
                let is_error = name == b"error";
                if let Some(cs) = self.open.then_some(&mut self.case) {
                    let first = !cs.failed && !cs.errored;
                    if is_error {
                        cs.errored = true;
                    } else {
                        cs.failed = true;
                    }
                    if first {
                        cs.case.failure = Some(failure_from(tag, self.max_text));
                    }
                    if cs.skipped && cs.both_at.is_none() {
                        cs.both_at = Some(tag.position());
                    }
                }
                Node::CaseProblem
            }
            (Some(Node::Case), b"skipped") => {
                if let Some(cs) = self.open.then_some(&mut self.case) {
                    cs.skipped = true;
                    let msg = tag.attr("message").map(|m| clean_control(&m));
                    if msg.as_deref() == Some("Unable to find executable") {
                        cs.not_run = true;
                    }
                    cs.expected_failure |= expected_failure(tag, msg.as_deref());
                    if (cs.failed || cs.errored) && cs.both_at.is_none() {
                        cs.both_at = Some(tag.position());
                    }
                    if let Some(m) = msg.filter(|m| !m.is_empty()) {
                        cs.case.skip_reason = Some(bound_text(&m, self.max_text));
                    }
                }
                Node::CaseSkipped
            }
            (
                Some(Node::Case),
                b"flakyFailure" | b"flakyError" | b"rerunFailure" | b"rerunError",
            ) => {
                if let Some(cs) = self.open.then_some(&mut self.case) {
                    if name.starts_with(b"flaky") {
                        cs.flaky += 1;
                    } else {
                        cs.reruns += 1;
                    }
                    if cs.attempt.is_none() {
                        cs.attempt = Some(failure_from(tag, self.max_text));
                    }
                }
                Node::Rerun
            }
            (Some(Node::Case), b"system-out" | b"system-err") => {
                Node::CaseOutput(self.wants_output())
            }
            (Some(Node::Suite), b"failure" | b"error") => {
                let suite = self.suite_path().join(" / ");
                let f = failure_from(tag, self.max_text);
                self.suite_problem = Some(SuiteError {
                    suite,
                    // The type attribute is not bounded; bound whichever is used (fuzzing).
                    message: bound_text(
                        &f.message
                            .or(f.kind)
                            .unwrap_or_else(|| "the suite failed".to_string()),
                        self.max_text,
                    ),
                    file: self.suites.last().and_then(|s| s.file.clone()),
                    kind: "suite".into(),
                    ..Default::default()
                });
                Node::SuiteProblem
            }
            _ => Node::Other,
        };
        Ok(node)
    }

    fn end<R: BufRead>(&mut self, node: Node, xml: &mut XmlReader<R>) {
        match node {
            Node::Suite => {
                self.flush_pending();
                if let Some(s) = self.suites.pop() {
                    self.rebuild_path();
                    self.close_suite(s);
                }
            }
            Node::Case => self.finish_open_case(),
            Node::CaseProblem => {
                let text = self.take(xml);
                if let Some(cs) = self.open.then_some(&mut self.case)
                    && let Some(f) = cs.case.failure.as_mut()
                    && f.trace.is_none()
                    && !text.is_empty()
                {
                    f.trace = Some(text);
                }
            }
            Node::CaseSkipped => {
                let text = self.take(xml);
                if let Some(cs) = self.open.then_some(&mut self.case)
                    && cs.case.skip_reason.is_none()
                    && !text.is_empty()
                {
                    cs.case.skip_reason = Some(text);
                }
            }
            Node::Rerun => {
                let text = self.take(xml);
                if let Some(cs) = self.open.then_some(&mut self.case)
                    && let Some(f) = cs.attempt.as_mut()
                    && f.trace.is_none()
                    && !text.is_empty()
                {
                    f.trace = Some(text);
                }
            }
            // Not captured (a passing case so far): nothing to keep.
            Node::CaseOutput(false) => {}
            Node::CaseOutput(true) => {
                let text = self.take(xml);
                if let Some(cs) = self.open.then_some(&mut self.case)
                    && !text.is_empty()
                {
                    cs.output.push(text);
                }
            }
            Node::SuiteProblem => {
                let text = self.take(xml);
                if let Some(mut e) = self.suite_problem.take() {
                    if !text.is_empty() {
                        e.trace = Some(text);
                    }
                    self.sink.suite_error(e);
                }
            }
            Node::Suites | Node::Other => {}
        }
    }

    /// The captured text, cleaned of control characters and trimmed.
    fn take<R: BufRead>(&self, xml: &mut XmlReader<R>) -> String {
        let mut t = xml.take_text();
        let ws = |c: char| c == '\n' || c == '\r' || c == ' ' || c == '\t';
        // Trimmed in place: traces are the largest texts, no second copy.
        let end = t.trim_end_matches(ws).len();
        t.truncate(end);
        let start = t.len() - t.trim_start_matches(ws).len();
        t.drain(..start);
        let control = |b: u8| b < 0x20 && b != b'\n' && b != b'\t' || b == 0x7f;
        if t.bytes().fold(false, |acc, b| acc | control(b)) {
            clean_control(&t)
        } else {
            t
        }
    }

    /// Whether output of the current case is worth keeping: only for cases that need
    /// attention (reporters write `<system-out>` after the failure elements).
    fn wants_output(&self) -> bool {
        self.open.then_some(&self.case).is_some_and(|cs| {
            cs.failed || cs.errored || cs.flaky > 0 || cs.reruns > 0 || cs.not_run
        }) && self.max_text > 0
    }

    /// Names of the open suites, outermost first (kept up to date on suite open/close, so a
    /// case costs one clone of it).
    fn suite_path(&self) -> Vec<String> {
        self.path.clone()
    }

    fn rebuild_path(&mut self) {
        self.path.clear();
        self.path
            .extend(self.suites.iter().filter(|s| !s.name.is_empty()).map(|s| {
                let mut n = s.name.clone();
                cap(&mut n, MAX_NAME_BYTES);
                n
            }));
    }

    fn open_suite(&mut self, tag: &Tag<'_>) {
        let name = tag
            .attr("name")
            .map(|n| clean_control(&n))
            .unwrap_or_default();
        // The suite's own sign, else what its parent (or the root) is.
        let dialect = if tag.attr("hostname").as_deref() == Some("tbd") {
            Dialect::Catch2
        } else if name == "test" && tag.attr("package").as_deref() == Some("test") {
            Dialect::Libtest
        } else if name == "pytest"
            && (tag.attr("timestamp").is_some() || tag.attr("hostname").is_some())
        {
            // pytest's default `junit_suite_name`, with the attributes pytest always writes:
            // codeloop's own `report/junit.xml` names a suite after its runner (`pytest`) but
            // writes neither, and its cases are already one per test.
            Dialect::Pytest
        } else {
            self.dialect()
        };
        let num = |k: &str| tag.attr(k).and_then(|v| v.trim().parse::<u64>().ok());
        self.suites.push(SuiteFrame {
            dialect,
            declared_tests: num("tests"),
            declared_skipped: num("skipped"),
            name,
            file: tag.attr("file").map(|f| f.into_owned()),
            ..Default::default()
        });
        self.rebuild_path();
    }

    /// libtest leaves `#[ignore]`d tests out of its JUnit and only counts them in the suite's
    /// `skipped` attribute; `cargo test` counts them as "ignored". They are emitted as
    /// skipped cases (without names: the file has none) so the counts match the summary line.
    ///
    /// A pytest suite whose folded count differs from its `tests` attribute (which pytest
    /// writes without reruns) is said in a warning.
    fn close_suite(&mut self, s: SuiteFrame) {
        if s.dialect == Dialect::Pytest
            && let Some(tests) = s.declared_tests
            && s.seen_tests != tests
            && s.elements != tests
        {
            self.sink.warning(
                None,
                format!(
                    "pytest suite {:?} declares tests=\"{tests}\" but its {} testcases count as \
                     {} tests after folding reruns written as repeated testcases: attempts of \
                     one test more than {ATTEMPT_WINDOW} testcases apart (pytest-xdist) stay \
                     separate tests, and runs merged into one suite may fold together",
                    s.name, s.elements, s.seen_tests
                ),
            );
        }
        if s.dialect != Dialect::Libtest {
            return;
        }
        let (Some(tests), Some(skipped)) = (s.declared_tests, s.declared_skipped) else {
            return;
        };
        let missing = tests.saturating_sub(s.seen_tests);
        if missing == 0 || missing != skipped.saturating_sub(s.seen_skipped) {
            return;
        }
        for i in 1..=missing {
            let mut c = Case::new(
                format!("ignored test {i} of {missing} (not named in the report)"),
                Status::Skipped,
            );
            c.suite = self.suite_path();
            c.suite.push(s.name.clone());
            c.skip_reason = Some("ignored (libtest lists only the count)".into());
            self.sink.case(c);
        }
    }

    fn open_case(&mut self, tag: &Tag<'_>) {
        // One pass over the attributes (this runs for every test of a possibly huge file).
        // The case is refilled in place: every field is set or reset here; the names are
        // only copied raw and decoded when the full case is needed (RawNames).
        self.open = true;
        let cs = &mut self.case;
        cs.failed = false;
        cs.errored = false;
        cs.not_run = false;
        cs.expected_failure = false;
        cs.both_at = None;
        cs.flaky = 0;
        cs.reruns = 0;
        cs.attempt = None;
        cs.output.clear();
        let case = &mut cs.case;
        case.runner.clear();
        // The suite path is set by `RawNames::fill` over what is there (every case that
        // leaves the parser is filled): clearing it here would free and then allocate a
        // string per path element per case.
        case.name.clear();
        if let Some(c) = case.classname.as_mut() {
            c.clear();
        }
        if let Some(f) = case.file.take() {
            self.names.spare_file = f;
        }
        case.line = None;
        case.status = Status::Passed;
        case.flaky = false;
        case.retries = 0;
        case.duration = None;
        case.failure = None;
        case.output = None;
        case.skip_reason = None;
        let names = &mut self.names;
        names.clear();
        // The tag is copied once; the values are ranges of the copy.
        let (raw, attrs) = tag.raw_with_ranges();
        names.buf.extend_from_slice(raw);
        let (mut time, mut skipped) = (None, false);
        for (k, r) in attrs {
            let span = Some((r.start, r.end));
            match k {
                b"name" => names.name = span,
                b"classname" => names.classname = span,
                b"class" => names.class = span,
                b"file" => names.file = span,
                b"line" => names.line = span,
                b"time" => time = Some(&raw[r]),
                b"status" => {
                    let v = &raw[r];
                    skipped |= ["disabled", "notrun", "skipped", "ignored"]
                        .iter()
                        .any(|w| v.eq_ignore_ascii_case(w.as_bytes()));
                }
                b"result" => {
                    let v = &raw[r];
                    skipped |= ["skipped", "suppressed"]
                        .iter()
                        .any(|w| v.eq_ignore_ascii_case(w.as_bytes()));
                }
                _ => {}
            }
        }
        if names.classname_raw().is_none() {
            case.classname = None;
        }
        // The plain `0.006` nearly every reporter writes is read from the raw bytes.
        if let Some(d) = time.and_then(simple_decimal) {
            case.duration = Some(d);
        } else if let Some(t) = time.map(decode_attr) {
            case.duration = parse_seconds(&t);
            if case.duration.is_none() && !t.trim().is_empty() {
                let name = names.get(names.name).map(text_of).unwrap_or_default();
                self.sink.warning(
                    Some(tag.position()),
                    format!(
                        "testcase {:?}: unreadable time={:?}, duration left out",
                        name,
                        t.as_ref()
                    ),
                );
            }
        }
        cs.skipped = skipped;
        cs.expected_failure = skipped;
    }

    /// Decodes the open case's names (see [`RawNames`]).
    fn fill_names(&mut self, case: &mut Case) {
        let file = self.suites.last().and_then(|s| s.file.as_ref());
        let zero_based_line = self.dialect() == Dialect::Pytest;
        self.names.fill(case, &self.path, file, zero_based_line);
    }

    /// Emits the case being read (at its end tag, or when the file stops inside it).
    fn finish_open_case(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        let dialect = self.dialect();
        let cs = &mut self.case;
        // TAP::Formatter::JUnit writes a TODO test that passed as an error; TAP counts it as
        // passed.
        let todo_passed = cs.errored
            && !cs.failed
            && cs
                .case
                .failure
                .as_ref()
                .is_some_and(|f| f.kind.as_deref() == Some("TodoTestSucceeded"));
        // A skip marker hides a failure only when it says the failure was expected (see the
        // module docs, *Counting rules*).
        let problem = cs.failed || cs.errored;
        let status = if cs.not_run {
            Status::Failed
        } else if cs.skipped && (cs.expected_failure || !problem) {
            Status::Skipped
        } else if todo_passed {
            Status::Passed
        } else if cs.errored && dialect == Dialect::Catch2 {
            // Catch2 has no error category: an unexpected exception is a failed test case.
            Status::Failed
        } else if cs.errored {
            Status::Errored
        } else if cs.failed {
            Status::Failed
        } else {
            Status::Passed
        };
        cs.case.status = status;
        cs.case.retries = cs.flaky + cs.reruns;
        cs.case.flaky = status == Status::Passed && cs.flaky > 0;
        // A plain passing case (the bulk of a large file) goes to the sink with its names
        // still raw; jest-junit's suite-error pseudo-case is recognised from the raw
        // classname (any reference or control character: decoded first, to be exact).
        let plain = status == Status::Passed
            && cs.flaky == 0
            && !cs.not_run
            && !todo_passed
            && cs.output.is_empty()
            && dialect != Dialect::Catch2
            && dialect != Dialect::Pytest
            && {
                // A plain tag (the usual one, and `fill` needs that scan anyway) has no
                // reference and no control character in its classname.
                let all_plain = self.names.plain();
                self.names.classname_raw().is_none_or(|c| {
                    c != JEST_SUITE_ERROR.as_bytes()
                        && (all_plain || !c.iter().any(|&b| b == b'&' || b < 0x20 || b == 0x7f))
                })
            };
        if plain {
            cs.case.skip_reason = None;
            if let Some(s) = self.suites.last_mut() {
                s.seen_tests += 1;
            }
            let file = self.suites.last().and_then(|s| s.file.as_ref());
            let outcome = Outcome {
                status,
                flaky: false,
                duration: cs.case.duration,
            };
            self.sink.case_lazy(
                outcome,
                &mut LazyPassing {
                    case: &mut cs.case,
                    names: &mut self.names,
                    path: &self.path,
                    suite_file: file,
                },
            );
            return;
        }
        // Moved out for the rest (a problem, skipped or unusual case: the minority).
        let mut cs = std::mem::take(&mut self.case);
        self.fill_names(&mut cs.case);
        if let Some(at) = cs.both_at.filter(|_| !cs.expected_failure && !cs.not_run) {
            self.skipped_failures += 1;
            if self.first_skipped_failure.is_none() {
                self.first_skipped_failure = Some((at, cs.case.name.clone()));
            }
        }
        if cs.not_run && cs.case.failure.is_none() {
            cs.case.failure = Some(Failure {
                kind: Some("not run".into()),
                message: cs.case.skip_reason.take(),
                trace: None,
            });
        }
        if cs.case.failure.is_none() && (cs.case.flaky || status.is_bad()) {
            cs.case.failure = cs.attempt.take();
        }
        if status != Status::Skipped {
            cs.case.skip_reason = None;
        }
        if !cs.output.is_empty() {
            let joined = cs.output.join("\n");
            cs.case.output = Some(super::text::bound_text(&joined, self.max_text));
        }
        if todo_passed {
            cs.case.failure = None;
        }
        if let Some(e) = self.pseudo_case_error(&cs.case) {
            // jest-junit writes a second, empty entry (`<failure>{}</failure>`) for the same
            // suite: one error per suite is what happened.
            let empty = e.trace.is_none() && e.message == LOAD_FAILED;
            if !(empty && self.last_load_error.as_deref() == Some(e.suite.as_str())) {
                self.last_load_error = Some(e.suite.clone());
                self.sink.suite_error(e);
            }
            return;
        }
        if dialect == Dialect::Pytest {
            // Counted in the suite when it leaves the window (folded attempts are not tests).
            self.fold_attempt(cs.case);
            return;
        }
        if let Some(s) = self.suites.last_mut() {
            s.seen_tests += 1;
            s.seen_skipped += u64::from(cs.case.status == Status::Skipped);
        }
        if dialect == Dialect::Catch2 {
            self.fold_section(cs.case);
        } else if cs.case.status.is_bad() || cs.case.flaky {
            // Kept by the sink: handed over, not copied.
            self.sink.case(cs.case);
        } else {
            self.sink.case_ref(&cs.case);
            self.case = cs;
        }
    }

    /// Catch2 writes each SECTION of a test case as its own `<testcase name="case/section">`;
    /// Catch2 counts the test case once, failed if any section failed. Consecutive sections
    /// of one test case are folded into one case named after the test case.
    fn fold_section(&mut self, case: Case) {
        let key = |c: &Case| -> Option<String> {
            c.name.split_once('/').map(|(head, _)| head.to_string())
        };
        if let Some(prev) = self.pending.as_mut() {
            let k = key(&case);
            if k.is_some() && k == key(prev) && prev.classname == case.classname {
                if let Some(k) = k {
                    prev.name = k;
                }
                if case.status.rank() > prev.status.rank() {
                    prev.status = case.status;
                    prev.failure = case.failure;
                    prev.output = case.output;
                }
                prev.duration = match (prev.duration, case.duration) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                };
                return;
            }
        }
        self.flush_pending();
        self.pending = Some(case);
    }

    /// pytest-rerunfailures writes each attempt of a test as its own `<testcase>` with the
    /// same classname and name; the earlier attempts are empty (pytest 9.2, plugin 16.7).
    /// pytest counts the test once, by its last attempt, and lists the attempts as
    /// "N rerun". So the attempts of one test are gathered while they are held back, and
    /// emitted as one case (see [`Parser::emit_held`]). Parametrized tests have distinct names
    /// (`test_x[1]`), so they are never gathered.
    fn fold_attempt(&mut self, case: Case) {
        if let Some(s) = self.suites.last_mut() {
            s.elements += 1;
        }
        let same = |h: &&mut Held| {
            h.attempts
                .last()
                .is_some_and(|c| c.name == case.name && c.classname == case.classname)
        };
        if let Some(h) = self.attempts.iter_mut().find(same) {
            // Bounded (a hostile file may repeat one name a million times): the first and
            // the latest attempts are kept, the ones between only counted.
            if h.attempts.len() == MAX_HELD_ATTEMPTS {
                h.attempts.remove(1);
                h.dropped += 1;
            }
            h.attempts.push(case);
            return;
        }
        if self.attempts.len() == ATTEMPT_WINDOW
            && let Some(oldest) = self.attempts.pop_front()
        {
            // Leaves before the suite's end, when its count cannot be checked yet: folded.
            self.emit_held(oldest, true);
        }
        self.attempts.push_back(Held {
            attempts: vec![case],
            dropped: 0,
        });
    }

    /// Emits a held test: with `fold`, as one case — the last attempt's outcome, `retries` =
    /// the earlier attempts, flaky when it passed (a rerun only follows a failed attempt), an
    /// earlier attempt's failure as evidence if the last has none, durations summed; without,
    /// every attempt as written.
    fn emit_held(&mut self, h: Held, fold: bool) {
        let mut attempts = h.attempts;
        let Some(mut last) = attempts.pop() else {
            return;
        };
        if !fold {
            for c in attempts {
                self.emit_attempt(c);
            }
            self.emit_attempt(last);
            return;
        }
        if !attempts.is_empty() {
            let earlier = attempts.len() as u32 + h.dropped;
            last.retries += earlier + attempts.iter().map(|c| c.retries).sum::<u32>();
            last.flaky = last.status == Status::Passed;
            if last.failure.is_none() && last.status != Status::Skipped {
                last.failure = attempts.iter_mut().rev().find_map(|c| c.failure.take());
            }
            if last.output.is_none() {
                last.output = attempts.iter_mut().rev().find_map(|c| c.output.take());
            }
            last.duration = attempts
                .iter()
                .fold(last.duration, |acc, c| match (acc, c.duration) {
                    (Some(a), Some(b)) => Some(a + b),
                    (a, b) => a.or(b),
                });
        }
        self.emit_attempt(last);
    }

    fn emit_attempt(&mut self, c: Case) {
        if let Some(s) = self.suites.last_mut() {
            s.seen_tests += 1;
            s.seen_skipped += u64::from(c.status == Status::Skipped);
        }
        if c.status.is_bad() || c.flaky {
            self.sink.case(c);
        } else {
            self.sink.case_ref(&c);
        }
    }

    /// Emits the cases held back for folding (at a suite's end and the file's).
    fn flush_pending(&mut self) {
        if let Some(c) = self.pending.take() {
            self.sink.case(c);
        }
        // pytest's `tests` attribute counts tests, not attempts: a suite holding no more
        // testcases than that had no reruns, and a name written twice is two tests (two runs
        // of one suite that junit-report-merger merged into one `pytest` suite).
        let fold = self.suites.last().is_none_or(|s| {
            s.dialect != Dialect::Pytest || s.declared_tests.is_none_or(|d| s.elements > d)
        });
        while let Some(h) = self.attempts.pop_front() {
            self.emit_held(h, fold);
        }
    }

    /// A testcase that is really a suite-level error: jest-junit's `reportTestSuiteErrors`
    /// entries and vitest's entry for a file that failed to load.
    fn pseudo_case_error(&self, c: &Case) -> Option<SuiteError> {
        let jest = c.classname.as_deref() == Some(JEST_SUITE_ERROR);
        let vitest = self.dialect() == Dialect::Vitest
            && c.status.is_bad()
            && c.classname.as_deref() == Some(c.name.as_str())
            && c.suite.last().map(String::as_str) == Some(c.name.as_str());
        if !jest && !vitest {
            return None;
        }
        let f = c.failure.clone().unwrap_or_default();
        let message = f
            .message
            .clone()
            .filter(|m| !m.is_empty() && m != "{}")
            .or_else(|| {
                f.trace
                    .as_deref()
                    .filter(|t| *t != "{}")
                    .and_then(|t| {
                        t.lines()
                            .map(|l| l.trim().trim_start_matches('●').trim())
                            .find(|l| !l.is_empty() && !l.contains("Test suite failed to run"))
                    })
                    .map(str::to_string)
            })
            .unwrap_or_else(|| LOAD_FAILED.into());
        let message = bound_text(&message, self.max_text);
        Some(SuiteError {
            suite: c.name.clone(),
            message,
            file: c.file.clone().or_else(|| Some(c.name.clone())),
            kind: "load".into(),
            trace: f.trace.filter(|t| t != "{}"),
            ..Default::default()
        })
    }
}

/// Whether a `<skipped>` marks a failure the tool expected (and does not count as failed):
/// Catch2's `[!mayfail]`/`[!shouldfail]` (`message="TEST_CASE tagged with !mayfail"`),
/// node:test's `todo` (`type="todo"`), pytest's and others' xfail.
fn expected_failure(tag: &Tag<'_>, message: Option<&str>) -> bool {
    let kind = tag.attr_raw("type").unwrap_or_default();
    [&b"todo"[..], b"xfail", b"pytest.xfail"]
        .iter()
        .any(|w| kind.eq_ignore_ascii_case(w))
        || message.is_some_and(|m| m.contains("!mayfail") || m.contains("!shouldfail"))
}

fn attr_text(tag: &Tag<'_>, name: &str) -> Option<String> {
    tag.attr_raw(name).map(text_of)
}

/// A name attribute, decoded and bounded the way [`crate::parsers::bound::BoundedSink`]
/// bounds names, in place of the content of `out` (its capacity reused). The usual name —
/// no reference, no control character, not too long — takes one branch-free scan, the UTF-8
/// check and a copy.
fn name_into(raw: &[u8], out: &mut String) {
    out.clear();
    if raw.len() <= MAX_NAME_BYTES
        && plain_name(raw)
        && let Ok(s) = std::str::from_utf8(raw)
    {
        out.push_str(s);
        return;
    }
    // What `text_of` + `cap` do, in the string being refilled (no temporary per name).
    decode_attr_into(raw, out);
    if out
        .bytes()
        .fold(false, |acc, b| acc | (b < 0x20 || b == 0x7f))
    {
        *out = clean_control(out);
    }
    cap(out, MAX_NAME_BYTES);
}

/// Whether raw attribute bytes decode to themselves and pass the sink's bounding unchanged
/// (when not too long): printable ASCII without `&` — no reference, no control character
/// (nor `\t`/`\n`, to keep this simple), no DEL. Anything else (also every non-ASCII name)
/// takes the exact path. Tested 8 bytes at a time with word arithmetic: this runs over the
/// names of every test of a huge report.
fn plain_name(raw: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether any byte of `v` is zero (exact as to whether one exists).
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let word = |w: u64| {
        (w & HIGH) // non-ASCII
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGH) // below 0x20
            | has_zero(w ^ (ONES * 0x7f))
            | has_zero(w ^ (ONES * u64::from(b'&')))
    };
    let mut chunks = raw.chunks_exact(8);
    let mut acc = 0;
    for c in &mut chunks {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        acc |= word(u64::from_le_bytes(b));
    }
    let rest = chunks.remainder();
    let mut b = [b' '; 8];
    b[..rest.len()].copy_from_slice(rest);
    acc |= word(u64::from_le_bytes(b));
    acc == 0
}

/// A decoded attribute value as owned text, control characters (and ANSI colours) removed.
fn text_of(raw: &[u8]) -> String {
    let v = decode_attr(raw);
    if v.bytes()
        .fold(false, |acc, b| acc | (b < 0x20 || b == 0x7f))
    {
        clean_control(&v)
    } else {
        v.into_owned()
    }
}

/// Type and message from a `<failure>`-like tag. The message is bounded like every other text
/// (pytest puts the whole assertion explanation there; fuzzing found it unbounded).
fn failure_from(tag: &Tag<'_>, max_text: usize) -> Failure {
    Failure {
        kind: attr_text(tag, "type").filter(|s| !s.is_empty()),
        message: attr_text(tag, "message")
            .map(|s| bound_text(s.trim(), max_text))
            .filter(|s| !s.is_empty()),
        trace: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{Collector, Format, parse_bytes};

    fn parse_str(xml: &str) -> (Collector<'static>, Result<(), ParseError>) {
        let (c, r) = parse_bytes(xml.as_bytes(), "r.xml", Some(Format::JunitXml));
        (c, r.map(|_| ()))
    }

    fn all<'a>(c: &'a Collector<'_>) -> &'a [Case] {
        c.all.as_deref().unwrap_or(&[])
    }

    #[test]
    fn a_refilled_case_keeps_nothing_of_the_previous_one() {
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="s" file="s.py">
              <testcase classname="k" name="a" file="a.py" line="3" time="1.5"/>
              <testcase name="b" name="b2"/>
              <testcase class="K" name="c"><skipped message="why"/></testcase>
              <testcase classname="k2" name="d"/>
            </testsuite><testsuite name="t"><testcase name="e"/></testsuite></testsuites>"#,
        );
        r.unwrap();
        let got: Vec<_> = all(&c)
            .iter()
            .map(|k| {
                (
                    k.suite.join("/"),
                    k.classname.as_deref(),
                    k.name.as_str(),
                    k.file.as_deref(),
                    k.line,
                    k.duration,
                    k.status,
                    k.skip_reason.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "s".into(),
                    Some("k"),
                    "a",
                    Some("a.py"),
                    Some(3),
                    Some(1.5),
                    Status::Passed,
                    None
                ),
                (
                    "s".into(),
                    None,
                    "b2",
                    Some("s.py"),
                    None,
                    None,
                    Status::Passed,
                    None
                ),
                (
                    "s".into(),
                    Some("K"),
                    "c",
                    Some("s.py"),
                    None,
                    None,
                    Status::Skipped,
                    Some("why")
                ),
                (
                    "s".into(),
                    Some("k2"),
                    "d",
                    Some("s.py"),
                    None,
                    None,
                    Status::Passed,
                    None
                ),
                (
                    "t".into(),
                    None,
                    "e",
                    None,
                    None,
                    None,
                    Status::Passed,
                    None
                ),
            ]
        );
    }

    #[test]
    fn statuses_follow_the_documented_precedence() {
        let (c, r) = parse_str(
            r#"<testsuite name="s">
              <testcase classname="k" name="pass" time="0.5"/>
              <testcase name="fail"><failure type="AssertionError" message="m1">trace1</failure>
                 <failure message="m2">trace2</failure></testcase>
              <testcase name="err"><error message="e"/></testcase>
              <testcase name="both"><failure message="f"/><error message="e"/></testcase>
              <testcase name="mayfail"><skipped message="TEST_CASE tagged with !mayfail"/><failure message="x"/></testcase>
              <testcase name="disabled" status="disabled"/>
              <testcase name="ignored" status="Ignored"/>
              <testcase name="suppressed" status="notrun" result="suppressed"/>
              <testcase name="notrun"><skipped message="Unable to find executable"/></testcase>
              <testcase name="todo"><skipped type="todo" message="true"/><failure message="x"/></testcase>
              <testcase name="xfail"><failure message="x"/><skipped type="pytest.xfail"/></testcase>
              <testcase name="skip+fail"><skipped message="why"/><failure message="x"/></testcase>
              <testcase name="fail+skip"><failure message="x"/><skipped/></testcase>
              <testcase name="skip+fail+err"><skipped/><failure message="x"/><error message="e"/></testcase>
              <testcase name="disabled+err" status="disabled"><error message="e"/></testcase>
            </testsuite>"#,
        );
        r.unwrap();
        let got: Vec<(&str, Status)> = all(&c)
            .iter()
            .map(|k| (k.name.as_str(), k.status))
            .collect();
        assert_eq!(
            got,
            [
                ("pass", Status::Passed),
                ("fail", Status::Failed),
                ("err", Status::Errored),
                ("both", Status::Errored),
                ("mayfail", Status::Skipped),
                ("disabled", Status::Skipped),
                ("ignored", Status::Skipped),
                ("suppressed", Status::Skipped),
                ("notrun", Status::Failed),
                ("todo", Status::Skipped),
                ("xfail", Status::Skipped),
                // A skip that does not mark an expected failure hides nothing.
                ("skip+fail", Status::Failed),
                ("fail+skip", Status::Failed),
                ("skip+fail+err", Status::Errored),
                // The case's own status says so: the producer's verdict.
                ("disabled+err", Status::Skipped),
            ]
        );
        // Counted as failed/errored, and said so once for the file, at the first one.
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        let (pos, msg) = &c.warnings[0];
        assert!(
            msg.starts_with("3 testcases (the first: \"skip+fail\") hold both <skipped> and"),
            "{msg}"
        );
        assert!(
            msg.contains("counted as failed or errored, not skipped"),
            "{msg}"
        );
        assert_eq!(pos.map(|p| p.line), Some(14));
        assert_eq!(all(&c)[11].skip_reason, None);
        let fail = &all(&c)[1];
        let f = fail.failure.as_ref().unwrap();
        assert_eq!(
            (f.kind.as_deref(), f.message.as_deref(), f.trace.as_deref()),
            (Some("AssertionError"), Some("m1"), Some("trace1"))
        );
        assert_eq!(all(&c)[0].duration, Some(0.5));
        assert_eq!(all(&c)[0].suite, ["s"]);
        assert_eq!(all(&c)[0].classname.as_deref(), Some("k"));
        assert_eq!(
            all(&c)[4].skip_reason.as_deref(),
            Some("TEST_CASE tagged with !mayfail")
        );
        assert_eq!(c.counts.tests, 15);
    }

    #[test]
    fn surefire_and_nextest_reruns() {
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="s">
              <testcase name="flaky"><flakyFailure message="first" type="T"><stackTrace>at X</stackTrace></flakyFailure>
                 <flakyError message="second"/><system-out>attempt log</system-out></testcase>
              <testcase name="always"><failure message="last"/><rerunFailure message="r1"/><rerunFailure message="r2"/></testcase>
            </testsuite></testsuites>"#,
        );
        r.unwrap();
        let k = &all(&c)[0];
        assert_eq!((k.status, k.flaky, k.retries), (Status::Passed, true, 2));
        let f = k.failure.as_ref().unwrap();
        assert_eq!(
            (f.message.as_deref(), f.trace.as_deref()),
            (Some("first"), Some("at X"))
        );
        assert_eq!(k.output.as_deref(), Some("attempt log"));
        let k = &all(&c)[1];
        assert_eq!((k.status, k.flaky, k.retries), (Status::Failed, false, 2));
        assert_eq!(k.failure.as_ref().unwrap().message.as_deref(), Some("last"));
        assert_eq!(
            (c.counts.passed, c.counts.flaky, c.counts.failed),
            (1, 1, 1)
        );
    }

    #[test]
    fn nested_suites_locations_and_bare_testsuites_root() {
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="tests" file="/t">
                <testsuite name="MathTest" file="/t/MathTest.php">
                  <testsuite name="MathTest::testAdd">
                    <testcase name="testAdd with data set #0" file="/t/MathTest.php" line="12"/>
                  </testsuite>
                  <testcase name="testSub"/>
                </testsuite></testsuite></testsuites>"#,
        );
        r.unwrap();
        let k = &all(&c)[0];
        assert_eq!(k.suite, ["tests", "MathTest", "MathTest::testAdd"]);
        assert_eq!(
            (k.file.as_deref(), k.line),
            (Some("/t/MathTest.php"), Some(12))
        );
        // Inherits the enclosing suite's file.
        assert_eq!(all(&c)[1].file.as_deref(), Some("/t/MathTest.php"));
    }

    #[test]
    fn concatenated_documents_are_both_counted() {
        let doc = "<?xml version=\"1.0\"?><testsuite name=\"a\"><testcase name=\"x\"/></testsuite>\n\
                   <?xml version=\"1.0\"?><testsuite name=\"b\"><testcase name=\"y\"><failure/></testcase></testsuite>\n";
        let (c, r) = parse_str(doc);
        r.unwrap();
        assert_eq!((c.counts.tests, c.counts.failed), (2, 1));
        assert_eq!(all(&c)[1].suite, ["b"]);
    }

    #[test]
    fn suite_level_problems_are_suite_errors_not_tests() {
        let (c, r) = parse_str(
            r#"<testsuites name="jest tests"><testsuite name="t.pl">
                 <testcase name="1 - ok"/>
                 <error message="Dubious, test returned 255">exit status</error>
               </testsuite>
               <testsuite name="spec/broken.spec.js">
                 <testcase classname="Test suite failed to run" name="spec/broken.spec.js"><error>  ● Test suite failed to run

    Cannot find module 'x'</error></testcase>
               </testsuite></testsuites>"#,
        );
        r.unwrap();
        assert_eq!(c.counts.tests, 1);
        assert_eq!(c.suite_errors.len(), 2);
        assert_eq!(c.suite_errors[0].suite, "t.pl");
        assert_eq!(c.suite_errors[0].message, "Dubious, test returned 255");
        assert_eq!(c.suite_errors[0].trace.as_deref(), Some("exit status"));
        assert_eq!(c.suite_errors[1].kind, "load");
        assert_eq!(c.suite_errors[1].message, "Cannot find module 'x'");
        assert_eq!(
            c.suite_errors[1].file.as_deref(),
            Some("spec/broken.spec.js")
        );
    }

    #[test]
    fn vitest_file_load_errors_are_suite_errors() {
        let (c, r) = parse_str(
            r#"<testsuites name="vitest tests"><testsuite name="a.spec.js">
                 <testcase classname="a.spec.js" name="a.spec.js"><failure message="boom" type="Error"/></testcase>
               </testsuite><testsuite name="b.spec.js">
                 <testcase classname="b.spec.js" name="works"/></testsuite></testsuites>"#,
        );
        r.unwrap();
        assert_eq!(c.counts.tests, 1);
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].message, "boom");
    }

    #[test]
    fn catch2_sections_fold_into_their_test_case() {
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="x" hostname="tbd">
                 <testcase classname="x.global" name="sections/a"/>
                 <testcase classname="x.global" name="sections/b"><failure message="no"/></testcase>
                 <testcase classname="x.global" name="throws"><error type="TEST_CASE"/></testcase>
                 <testcase classname="x.global" name="other/a"/>
               </testsuite></testsuites>"#,
        );
        r.unwrap();
        let got: Vec<(&str, Status)> = all(&c)
            .iter()
            .map(|k| (k.name.as_str(), k.status))
            .collect();
        assert_eq!(
            got,
            [
                ("sections", Status::Failed),
                ("throws", Status::Failed),
                ("other/a", Status::Passed)
            ]
        );
    }

    #[test]
    fn libtest_ignored_tests_come_from_the_suite_attributes() {
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="test" package="test" id="0" errors="0" failures="1" tests="4" skipped="2">
               <testcase classname="t" name="a"/><testcase classname="t" name="b"><failure/></testcase>
               </testsuite></testsuites>"#,
        );
        r.unwrap();
        assert_eq!((c.counts.tests, c.counts.skipped), (4, 2));
        // Other dialects never get invented cases from attributes.
        let (c, _) = parse_str(r#"<testsuite name="p" tests="6" skipped="2"></testsuite>"#);
        assert_eq!(c.counts.tests, 0);
    }

    #[test]
    fn the_dialect_is_decided_per_suite() {
        // A Catch2 suite, then a Surefire suite, then a libtest suite, then a suite that lists
        // fewer cases than its attributes count, then Catch2's section rule must not apply.
        let (c, r) = parse_str(
            r#"<testsuites>
               <testsuite name="c" hostname="tbd"><testcase classname="c.global" name="t"><error type="E"/></testcase></testsuite>
               <testsuite name="com.x.FooTest"><testcase classname="com.x.FooTest" name="e"><error message="boom"/></testcase>
                 <testcase classname="com.x.FooTest" name="a/b"/><testcase classname="com.x.FooTest" name="a/c"/></testsuite>
               <testsuite name="test" package="test" id="0" tests="2" skipped="1"><testcase classname="t" name="x"/></testsuite>
               <testsuite name="filtered" tests="3" skipped="1"><testcase name="y"/><testcase name="z"/></testsuite>
               </testsuites>"#,
        );
        r.unwrap();
        let got: Vec<(&str, Status)> = all(&c)
            .iter()
            .map(|k| (k.name.as_str(), k.status))
            .collect();
        assert_eq!(
            got,
            [
                ("t", Status::Failed),
                ("e", Status::Errored),
                ("a/b", Status::Passed),
                ("a/c", Status::Passed),
                ("x", Status::Passed),
                (
                    "ignored test 1 of 1 (not named in the report)",
                    Status::Skipped
                ),
                ("y", Status::Passed),
                ("z", Status::Passed),
            ]
        );
        // A nested suite inherits its parent's dialect; the root's applies when a suite has
        // no sign of its own, and resets with the next document.
        let (c, r) = parse_str(
            r#"<testsuite name="outer" hostname="tbd"><testsuite name="inner">
                 <testcase classname="k" name="t"><error/></testcase></testsuite></testsuite>
               <testsuites name="pytest tests"><testsuite name="custom">
                 <testcase classname="m" name="r"/><testcase classname="m" name="r"/></testsuite></testsuites>
               <testsuite name="plain"><testcase classname="m" name="r"/><testcase classname="m" name="r"/></testsuite>"#,
        );
        r.unwrap();
        let got: Vec<(&str, Status, u32)> = all(&c)
            .iter()
            .map(|k| (k.name.as_str(), k.status, k.retries))
            .collect();
        assert_eq!(
            got,
            [
                ("t", Status::Failed, 0),
                ("r", Status::Passed, 1),
                ("r", Status::Passed, 0),
                ("r", Status::Passed, 0)
            ]
        );
    }

    #[test]
    fn pytest_lines_are_zero_based_and_made_one_based() {
        // pytest xunit1 writes `line` from its item's 0-based location (the `def` of
        // `test_ok` is on line 8); under pytest's root, with its default suite name, reruns
        // folded or not.
        let lines = |xml: &str| -> Vec<(String, Option<u32>)> {
            let (c, r) = parse_str(xml);
            r.unwrap();
            all(&c).iter().map(|k| (k.name.clone(), k.line)).collect()
        };
        let pytest = |suites: &str| {
            format!(
                r#"<testsuites{suites}<testcase classname="t" name="ok" file="t.py" line="7"/>
                <testcase classname="t" name="bad" file="t.py" line="&#49;1"><failure message="m">t.py:13: E</failure></testcase>
                <testcase classname="t" name="bad" file="t.py" line="11"/>
                <testcase classname="t" name="first" file="t.py" line="0"/></testsuite></testsuites>"#
            )
        };
        let want = [
            ("ok".to_string(), Some(8)),
            ("bad".to_string(), Some(12)),
            ("first".to_string(), Some(1)),
        ];
        assert_eq!(
            lines(&pytest(
                r#" name="pytest tests"><testsuite name="custom" tests="3">"#
            )),
            want
        );
        assert_eq!(
            lines(&pytest(
                r#"><testsuite name="pytest" tests="3" hostname="h">"#
            )),
            want
        );
        // Other tools' lines are 1-based, kept as written: a generic suite, and codeloop's own
        // report/junit.xml (a suite named after the `pytest` runner, its lines already
        // 1-based), which must read back unchanged.
        for root in [
            r#"><testsuite name="custom">"#,
            r#" name="codeloop"><testsuite name="pytest" tests="3">"#,
        ] {
            let got = lines(&pytest(root));
            assert_eq!(got[0], ("ok".to_string(), Some(7)), "{root}");
            assert_eq!(got[1], ("bad".to_string(), Some(11)), "{root}");
        }
    }

    #[test]
    fn pytest_reruns_fold_into_the_last_attempt() {
        // As pytest-rerunfailures writes them: earlier attempts empty, adjacent or (xdist)
        // with other tests in between.
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="pytest" tests="5" hostname="h">
               <testcase classname="m" name="flaky" time="1"/>
               <testcase classname="m" name="other"/>
               <testcase classname="m" name="flaky" time="2"/>
               <testcase classname="m" name="bad"/><testcase classname="m" name="bad"/>
               <testcase classname="m" name="bad"><failure message="last">t</failure></testcase>
               <testcase classname="n" name="other"/>
               <testcase classname="m" name="skip"><skipped message="s"/></testcase>
               </testsuite></testsuites>"#,
        );
        r.unwrap();
        let got: Vec<(&str, &str, Status, bool, u32)> = all(&c)
            .iter()
            .map(|k| {
                (
                    k.classname.as_deref().unwrap(),
                    k.name.as_str(),
                    k.status,
                    k.flaky,
                    k.retries,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("m", "flaky", Status::Passed, true, 1),
                ("m", "other", Status::Passed, false, 0),
                ("m", "bad", Status::Failed, false, 2),
                ("n", "other", Status::Passed, false, 0),
                ("m", "skip", Status::Skipped, false, 0),
            ]
        );
        assert_eq!(all(&c)[0].duration, Some(3.0));
        let f = all(&c)[2].failure.as_ref().unwrap();
        assert_eq!(
            (f.message.as_deref(), f.trace.as_deref()),
            (Some("last"), Some("t"))
        );
        assert_eq!((c.counts.tests, c.counts.flaky), (5, 1));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        // codeloop's own report/junit.xml names the pytest runner's suite `pytest`, without
        // pytest's attributes: two cases there are two tests.
        let (c, r) = parse_str(
            r#"<testsuites name="codeloop"><testsuite name="pytest" tests="2">
               <testcase classname="m" name="t"/><testcase classname="m" name="t"/></testsuite></testsuites>"#,
        );
        r.unwrap();
        assert_eq!((c.counts.tests, c.counts.flaky), (2, 0));
        // Two runs of one suite merged into one `pytest` suite (junit-report-merger merges
        // suites by name): as many testcases as the suite declares tests, so nothing folds
        // (a held test's runs are emitted together).
        let (c, r) = parse_str(
            r#"<testsuites><testsuite name="pytest" tests="4" timestamp="t">
               <testcase classname="m" name="a"/><testcase classname="m" name="b"><failure/></testcase>
               <testcase classname="m" name="a"/><testcase classname="m" name="b"/></testsuite></testsuites>"#,
        );
        r.unwrap();
        let got: Vec<(&str, Status, bool)> = all(&c)
            .iter()
            .map(|k| (k.name.as_str(), k.status, k.flaky))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Status::Passed, false),
                ("a", Status::Passed, false),
                ("b", Status::Failed, false),
                ("b", Status::Passed, false)
            ]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn pytest_attempts_beyond_the_window_stay_separate_with_a_warning() {
        let mut xml = String::from(
            r#"<testsuite name="pytest" tests="301" timestamp="t"><testcase classname="m" name="far"/>"#,
        );
        for i in 0..ATTEMPT_WINDOW + 44 {
            xml += &format!(r#"<testcase classname="m" name="t{i}"/>"#);
        }
        xml += r#"<testcase classname="m" name="far"/></testsuite>"#;
        let (c, r) = parse_str(&xml);
        r.unwrap();
        assert_eq!(c.counts.tests, ATTEMPT_WINDOW as u64 + 46);
        let (_, w) = &c.warnings[0];
        assert!(
            w.contains("declares tests=\"301\" but its 302 testcases count as 302"),
            "{w}"
        );
    }

    #[test]
    fn output_is_kept_for_failures_only_and_bounded() {
        let big = "x".repeat(100_000);
        let xml = format!(
            r#"<testsuite><testcase name="p"><system-out>{big}</system-out></testcase>
               <testcase name="f"><failure/><system-out>head {big} tail</system-out><system-err>err</system-err></testcase></testsuite>"#
        );
        let (c, r) = parse_str(&xml);
        r.unwrap();
        assert_eq!(all(&c)[0].output, None);
        let out = all(&c)[1].output.as_deref().unwrap();
        assert!(
            out.len() <= ParseOptions::default().max_text_bytes + 16,
            "{}",
            out.len()
        );
        assert!(
            out.starts_with("head x") && out.ends_with("err"),
            "{out:.40}"
        );
        assert!(out.contains("bytes cut by codeloop"));
    }

    #[test]
    fn suite_error_messages_are_bounded() {
        // Found by fuzzing: a suite-level `<error type="…">` without a message used the
        // unbounded type attribute.
        let big = "T".repeat(50_000);
        let (c, r) = parse_str(&format!(
            r#"<testsuite name="s"><testcase name="a"/><error type="{big}">x</error></testsuite>"#
        ));
        r.unwrap();
        let m = &c.suite_errors[0].message;
        let max = ParseOptions::default().max_text_bytes;
        assert!(m.len() <= max && m.starts_with("TTT"), "{}", m.len());
    }

    #[test]
    fn message_attributes_are_bounded() {
        // pytest writes the whole assertion explanation into `message` (the corpus has 423
        // bytes against a fuzzing bound of 256); a hostile one can be any size.
        let big = "m".repeat(100_000);
        let xml = format!(
            r#"<testsuite><testcase name="f"><failure message="{big}">t</failure></testcase>
               <testcase name="s"><skipped message="{big}"/></testcase></testsuite>"#
        );
        let (c, r) = parse_str(&xml);
        r.unwrap();
        let max = ParseOptions::default().max_text_bytes;
        let m = all(&c)[0]
            .failure
            .as_ref()
            .unwrap()
            .message
            .as_deref()
            .unwrap();
        assert!(
            m.len() <= max && m.contains("bytes cut by codeloop"),
            "{}",
            m.len()
        );
        let s = all(&c)[1].skip_reason.as_deref().unwrap();
        assert!(s.len() <= max && s.starts_with("mmm"), "{}", s.len());
    }

    #[test]
    fn lenient_attributes_warn_with_a_position() {
        let (c, r) = parse_str(
            "<testsuite>\n<testcase name=\"a\" time=\"1,234.5\"/>\n<testcase name=\"b\" time=\"soon\"/>\n<testcase name=\"c\x01\u{1b}[31m\"/></testsuite>",
        );
        r.unwrap();
        assert_eq!(all(&c)[0].duration, Some(1234.5));
        assert_eq!(all(&c)[1].duration, None);
        assert_eq!(all(&c)[2].name, "c");
        let (pos, msg) = &c.warnings[0];
        assert_eq!(pos.map(|p| p.line), Some(3));
        assert!(msg.contains("time=\"soon\""), "{msg}");
    }

    #[test]
    fn truncated_files_keep_what_was_read_and_say_where() {
        let (c, r) = parse_str(
            "<testsuite name=\"s\">\n<testcase name=\"a\"/>\n<testcase name=\"b\"><failure message=\"m\">partial tra",
        );
        let e = r.unwrap_err();
        assert_eq!(e.position.map(|p| p.line), Some(3));
        assert!(e.message.contains("truncated"), "{e}");
        assert_eq!((c.counts.passed, c.counts.failed), (1, 1));
        assert_eq!(
            all(&c)[1].failure.as_ref().unwrap().message.as_deref(),
            Some("m")
        );
        // Cut before the case's outcome: not counted at all.
        let (c, r) =
            parse_str("<testsuite><testcase name=\"a\"/><testcase name=\"b\"><system-out>lo");
        assert!(r.is_err());
        assert_eq!(c.counts.tests, 1);
    }

    #[test]
    fn other_xml_is_rejected_with_a_clear_message() {
        for (doc, root) in [
            (
                "<?xml version=\"1.0\"?><project><modelVersion>4</modelVersion></project>",
                "project",
            ),
            ("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", "svg"),
            ("<suites><suite name=\"x\"/></suites>", "suites"),
        ] {
            let (c, r) = parse_str(doc);
            let e = r.unwrap_err();
            assert!(e.message.contains(&format!("<{root}>")), "{e}");
            assert!(e.message.contains("not a JUnit report"), "{e}");
            assert_eq!(c.counts.tests, 0);
        }
        let (_, r) = parse_str("<?xml version=\"1.0\"?>\n<!-- nothing -->\n");
        assert!(r.unwrap_err().message.contains("no <testsuites>"));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let mut doc = String::new();
        for _ in 0..100_000 {
            doc.push_str("<testsuite>");
        }
        let (_, r) = parse_str(&doc);
        assert!(r.unwrap_err().message.contains("nested deeper"));
    }

    #[test]
    fn lazily_counted_passing_cases_decode_their_names_when_slowest() {
        // Collector::default() takes the lazy path: names are decoded only for the slowest.
        let xml = r#"<testsuites><testsuite name="S" file="s.rb">
            <testcase classname="K &amp; L" name="a &lt;b&gt;" time="9" line="7"/>
            <testcase classname="K" name="fast" time="0.001"/>
            <testcase name="x" classname="Test suite failed to run"><failure>boom</failure></testcase>
            <testcase class="C" name="c" time="2" file="c.rb"><system-out>out</system-out></testcase>
            </testsuite></testsuites>"#;
        let mut c = Collector::default();
        parse(&mut xml.as_bytes(), &ParseOptions::default(), &mut c).unwrap();
        assert_eq!((c.counts.tests, c.counts.passed), (3, 3));
        assert_eq!(c.suite_errors.len(), 1);
        let slow = c.slowest();
        let ids: Vec<&str> = slow.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["K & L::a <b>", "C::c", "K::fast"]);
        // The same file through the full-case path gives the same names, files and lines.
        let (all, _) = parse_str(xml);
        let cases = all.all.as_ref().unwrap();
        assert_eq!(cases[0].name, "a <b>");
        assert_eq!(cases[0].file.as_deref(), Some("s.rb"));
        assert_eq!(cases[0].line, Some(7));
        assert_eq!(cases[0].suite, ["S"]);
        assert_eq!(cases[2].file.as_deref(), Some("c.rb"));
        assert_eq!(cases[2].classname.as_deref(), Some("C"));
        assert_eq!(cases[1].classname.as_deref(), Some("K"));
    }

    #[test]
    fn lazily_built_names_are_bounded_exactly_like_the_sink_bounds_kept_cases() {
        // The same hostile names on a passing case (built lazily, bounded by the parser) and
        // on a failing one (bounded by BoundedSink): the texts must come out identical.
        let long = "n".repeat(3 * MAX_NAME_BYTES);
        let names = [
            long.as_str(),
            "tab\there",
            "esc \u{1b}[31mred\u{1b}[0m",
            "c1 \u{9b}31m",
            "amp &amp; lt &lt;",
            "é ü plain",
            "nul&#0;x",
        ];
        let mut xml = String::from(r#"<testsuite name="S&#7;S">"#);
        for n in &names {
            let n = n.replace('\u{1b}', "&#27;").replace('\u{9b}', "&#155;");
            xml += &format!(r#"<testcase classname="{n}" name="{n}" file="{n}"/>"#);
            xml += &format!(
                r#"<testcase classname="{n}" name="{n}" file="{n}"><failure/></testcase>"#
            );
        }
        xml += "</testsuite>";
        let (c, r) = parse_str(&xml);
        r.unwrap();
        let all = c.all.as_ref().unwrap();
        assert_eq!(all.len(), 2 * names.len());
        for pair in all.chunks(2) {
            let (lazy, kept) = (&pair[0], &pair[1]);
            assert_eq!(lazy.status, Status::Passed);
            assert_eq!(kept.status, Status::Failed);
            assert_eq!(lazy.name, kept.name);
            assert_eq!(lazy.classname, kept.classname);
            assert_eq!(lazy.file, kept.file);
            assert_eq!(lazy.suite, kept.suite);
            for t in [&lazy.name, lazy.file.as_ref().unwrap(), &lazy.suite[0]] {
                assert!(t.len() <= MAX_NAME_BYTES, "{} bytes", t.len());
                assert!(
                    !t.chars().any(|c| c.is_control() && c != '\t' && c != '\n'),
                    "{t:?}"
                );
            }
        }
        assert!(all[0].name.contains("bytes cut by codeloop"));
        assert_eq!(all[0].suite, ["SS"]);
    }

    #[test]
    fn plain_names_are_told_apart_at_every_position_of_every_chunk() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 70] {
            let ok = vec![b'a'; len];
            assert!(plain_name(&ok));
            for i in 0..len {
                for byte in 0..=255u8 {
                    let mut v = ok.clone();
                    v[i] = byte;
                    let expect = (0x20..0x7f).contains(&byte) && byte != b'&';
                    assert_eq!(plain_name(&v), expect, "{byte:#x} at {i} of {len}");
                }
            }
        }
    }
}
