//! TAP, the Test Anything Protocol: versions 12, 13 and 14, as written by Perl's Test::More,
//! node:test, vitest (`tap` and `tap-flat`), mocha, Catch2, node-tap and friends. Read line by
//! line; memory holds the current test point, its diagnostics (bounded) and the open subtest
//! levels.
//!
//! What is read:
//! - test points `ok`/`not ok [N] [-] description [# SKIP|TODO reason]` (`\#` escapes);
//! - plans `1..N` (also trailing, and `1..0 # SKIP why` = nothing to run);
//! - YAML diagnostics between `---` and `...` (TAP 13/14): message, error type, stack,
//!   location (`at`/`location`), `duration_ms`, node's `type: 'suite'`; and TAP 12 indented
//!   diagnostic text after a failing point (mocha);
//! - subtests: indented blocks announced by `# Subtest: name` (TAP 14, Test::More, node) and
//!   vitest's `ok N - name {` … `}` blocks;
//! - `Bail out!` → a [`SuiteError`] of kind `bailout`; reading stops there, as a harness
//!   does;
//! - a plan that does not match the number of test points (a script that died) → a
//!   [`SuiteError`] of kind `plan`; the points that ran are counted.
//!
//! Anything else (console output interleaved on stdout) is ignored.
//!
//! Counting rules (they match each producer's own summary):
//! - `ok` → passed; `not ok` → failed (TAP has no error category);
//! - `# SKIP` → skipped; `# TODO` → skipped whether it passed or failed (a failing TODO is
//!   expected, a passing one is a "bonus"; neither is a failure in TAP, node or prove);
//! - subtests (indented / `# Subtest:`): with Test::More, only the parent's summary line
//!   counts (prove counts top-level points; failing children are named in the parent's
//!   failure); with node:test (recognized by its YAML `duration_ms`), every test point
//!   counts — children and parents — except `describe` blocks (`type: 'suite'`), like node's
//!   `tests N` line;
//! - vitest `{ … }` blocks are files and `describe`s: only the leaves are tests; a top-level
//!   failing point named after a test file with no children and no `duration_ms` is a file
//!   that failed to load ([`SuiteError`] kind `load`), which vitest does not count as a test;
//! - Catch2's TAP reporter writes one point per *assertion*, not per test case; it is counted
//!   as written.

use std::io::BufRead;

use super::textbuf::TextBuf;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// Children of one Test::More subtest held until its parent line decides how they count.
const MAX_HELD: usize = 10_000;
/// YAML bytes kept per test point (the rest is dropped; messages are bounded anyway).
const MAX_YAML: usize = 256 * 1024;

#[derive(Debug, Clone)]
struct Point {
    ok: bool,
    desc: String,
    directive: Directive,
    /// vitest's `# time=` in seconds.
    time: Option<f64>,
    indent: usize,
    pos: Position,
    yaml: String,
    yaml_truncated: bool,
    diag: TextBuf,
    /// The subtest block this point summarizes, when it had one.
    sub: Option<Frame>,
}

#[derive(Debug, Clone, PartialEq)]
enum Directive {
    None,
    Skip(String),
    Todo(String),
}

#[derive(Debug, Clone)]
struct Frame {
    /// Indentation of the lines inside this level (`None`: not known yet).
    indent: Option<usize>,
    /// A vitest `{ … }` block, closed by `}`; the point that opened it.
    brace: Option<Box<Point>>,
    /// `# Subtest: name` seen at this level: the name of the next nested block.
    announce: Option<String>,
    /// This level's own name (announced, or the brace point's description).
    name: Option<String>,
    points: u64,
    failed_children: Vec<String>,
    held: Vec<Case>,
    plan: Option<u64>,
    skip_all: bool,
}

impl Frame {
    fn new(indent: Option<usize>, name: Option<String>) -> Self {
        Frame {
            indent,
            brace: None,
            announce: None,
            name,
            points: 0,
            failed_children: Vec::new(),
            held: Vec::new(),
            plan: None,
            skip_all: false,
        }
    }
}

struct Parser<'s> {
    sink: &'s mut dyn Sink,
    max: usize,
    frames: Vec<Frame>,
    pending: Option<Point>,
    /// Inside a YAML block of `pending`.
    in_yaml: bool,
    /// The level just closed by a dedent, waiting for its parent's summary line.
    just_closed: Option<Frame>,
    node_style: bool,
    saw_tap: bool,
    bailed: bool,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut p = Parser {
        sink,
        max: opts.max_text_bytes,
        frames: vec![Frame::new(Some(0), None)],
        pending: None,
        in_yaml: false,
        just_closed: None,
        node_style: false,
        saw_tap: false,
        bailed: false,
    };
    // A line that straddles the reader's buffer (or ends the file without a newline) is
    // gathered here; the others are read in place.
    let mut carry: Vec<u8> = Vec::new();
    let mut lineno = 0u64;
    let mut byte = 0u64;
    loop {
        let chunk = reader
            .fill_buf()
            .map_err(|e| ParseError::new(format!("cannot read the file: {e}")))?;
        if chunk.is_empty() {
            if !carry.is_empty() {
                let line = std::mem::take(&mut carry);
                p.feed(&line, &mut lineno, &mut byte);
            }
            break;
        }
        let mut used = 0;
        while !p.bailed {
            match memchr::memchr(b'\n', &chunk[used..]) {
                Some(k) => {
                    let end = used + k + 1;
                    if carry.is_empty() {
                        p.feed(&chunk[used..end], &mut lineno, &mut byte);
                    } else {
                        carry.extend_from_slice(&chunk[used..end]);
                        let line = std::mem::take(&mut carry);
                        p.feed(&line, &mut lineno, &mut byte);
                    }
                    used = end;
                }
                None => {
                    carry.extend_from_slice(&chunk[used..]);
                    used = chunk.len();
                    break;
                }
            }
        }
        reader.consume(used);
        if p.bailed {
            break;
        }
    }
    if !p.saw_tap {
        return Err(ParseError::new(
            "not a TAP stream: no test points (`ok`/`not ok`), plan (`1..N`) or `TAP version` line",
        ));
    }
    p.finish();
    Ok(())
}

impl Parser<'_> {
    /// One raw line (with its `\n`, if any).
    fn feed(&mut self, buf: &[u8], lineno: &mut u64, byte: &mut u64) {
        let n = buf.len();
        *lineno += 1;
        let lineno = *lineno;
        let pos = Position {
            line: lineno,
            column: 1,
            byte: *byte,
        };
        *byte += n as u64;
        // `from_utf8` first: its validation is much faster than the lossy decoder's, and
        // nearly every line is valid.
        let text = match std::str::from_utf8(buf) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(buf),
        };
        let mut end = text.len();
        while end > 0 && matches!(text.as_bytes()[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
        // Only ASCII bytes were removed: `end` is a char boundary.
        let line = text.get(..end).unwrap_or("");
        self.line(line, pos);
    }
}

/// `str::trim` with a fast path: TAP and its YAML are almost all ASCII, and the generic
/// Unicode trim was a tenth of the parse (it runs several times per line).
trait TrimWs {
    fn trim_ws(&self) -> &str;
}

impl TrimWs for str {
    #[inline]
    fn trim_ws(&self) -> &str {
        let b = self.as_bytes();
        // The ASCII characters `char::is_whitespace` accepts.
        let ws = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        let mut start = 0;
        while start < b.len() && ws(b[start]) {
            start += 1;
        }
        let mut end = b.len();
        while end > start && ws(b[end - 1]) {
            end -= 1;
        }
        // A non-ASCII character at either end may be Unicode whitespace: the full rule.
        if b.get(start).is_some_and(|c| *c >= 0x80) || (end > start && b[end - 1] >= 0x80) {
            return self.trim();
        }
        self.get(start..end).unwrap_or("")
    }
}

fn indent_of(line: &str) -> usize {
    let mut n = 0;
    for b in line.bytes() {
        match b {
            b' ' => n += 1,
            b'\t' => n += 4,
            _ => break,
        }
    }
    n
}

/// `line` without up to `cols` columns of leading indentation (a tab counts 4, as in
/// [`indent_of`]); never cuts inside a character.
fn dedent(line: &str, cols: usize) -> &str {
    let mut n = 0;
    for (i, c) in line.char_indices() {
        let w = match c {
            ' ' => 1,
            '\t' => 4,
            _ => return &line[i..],
        };
        if n + w > cols {
            return &line[i..];
        }
        n += w;
    }
    ""
}

fn is_point(c: &str) -> bool {
    c == "ok" || c == "not ok" || c.starts_with("ok ") || c.starts_with("not ok ")
}

fn is_plan(c: &str) -> bool {
    c.strip_prefix("1..")
        .is_some_and(|r| r.chars().next().is_some_and(|d| d.is_ascii_digit()))
}

fn is_construct(c: &str) -> bool {
    is_point(c)
        || is_plan(c)
        || c.starts_with("# Subtest")
        || c.starts_with("Bail out!")
        || c.starts_with("TAP version")
}

impl Parser<'_> {
    fn top(&mut self) -> &mut Frame {
        // The root frame is never popped.
        let i = self.frames.len() - 1;
        &mut self.frames[i]
    }

    fn line(&mut self, line: &str, pos: Position) {
        let indent = indent_of(line);
        let c = line.trim_ws();
        if self.in_yaml {
            let pending_indent = self.pending.as_ref().map_or(0, |p| p.indent);
            if c == "..." {
                self.in_yaml = false;
                return;
            }
            // A YAML block that never ends: a new construct at the point's level ends it.
            if indent <= pending_indent && is_construct(c) {
                self.in_yaml = false;
                self.sink.warning(
                    Some(pos),
                    "a YAML diagnostic block has no closing `...`; it ends here".into(),
                );
            } else {
                if let Some(p) = self.pending.as_mut() {
                    if p.yaml.len() + line.len() < MAX_YAML {
                        p.yaml.push_str(line);
                        p.yaml.push('\n');
                    } else {
                        p.yaml_truncated = true;
                    }
                }
                return;
            }
        }
        if c.is_empty() {
            return;
        }
        if c == "---"
            && let Some(p) = self.pending.as_ref()
            && indent > p.indent
        {
            self.in_yaml = true;
            return;
        }
        if c == "}" && self.frames.iter().any(|f| f.brace.is_some()) {
            self.finalize_pending();
            self.close_levels_to_brace();
            return;
        }
        if !is_construct(c) {
            // TAP 12 diagnostics: indented text (or `#` comments) after a test point.
            if let Some(p) = self.pending.as_mut()
                && (indent > p.indent || c.starts_with('#'))
                && !p.ok
            {
                let d = if c.starts_with('#') {
                    c.trim_start_matches('#').trim_start()
                } else {
                    dedent(line, p.indent)
                };
                p.diag.push(d);
                p.diag.push("\n");
            }
            return;
        }
        self.saw_tap = true;
        self.adjust_levels(indent, pos);
        if let Some(rest) = c.strip_prefix("Bail out!") {
            self.finalize_pending();
            let reason = rest.trim_ws();
            self.sink.suite_error(SuiteError {
                suite: self.suite_path().join(" / "),
                message: if reason.is_empty() {
                    "bail out: the test run stopped early".into()
                } else {
                    // Bounded like every text (a bail-out line can be huge; found by fuzzing).
                    super::text::bound_text(&format!("bail out: {reason}"), self.max)
                },
                kind: "bailout".into(),
                ..Default::default()
            });
            self.bailed = true;
        } else if let Some(name) = c.strip_prefix("# Subtest") {
            self.finalize_pending();
            let name = name.trim_start_matches(':').trim_ws();
            self.top().announce = Some(unescape(name));
        } else if is_plan(c) {
            self.finalize_pending();
            let (plan, directive, _) = split_directive(&c[3..]);
            let n = plan.trim_ws().parse::<u64>().ok();
            let f = self.top();
            f.plan = n;
            if n == Some(0) || matches!(directive, Directive::Skip(_)) {
                f.skip_all = true;
            }
        } else if c.starts_with("TAP version") {
        } else {
            self.point(c, indent, pos);
        }
    }

    /// Opens and closes indentation levels so that the current frame holds lines at `indent`.
    fn adjust_levels(&mut self, indent: usize, pos: Position) {
        // Close deeper (non-brace) levels.
        loop {
            let n = self.frames.len();
            let f = &self.frames[n - 1];
            match f.indent {
                Some(fi) if indent < fi && n > 1 => {
                    if f.brace.is_some() {
                        // A brace block dedented without `}`: close it anyway.
                        self.sink
                            .warning(Some(pos), "a `{` subtest block ends without `}`".into());
                        self.finalize_pending();
                        self.close_levels_to_brace();
                        continue;
                    }
                    self.finalize_pending();
                    let mut closed = self.frames.pop().expect("more than one frame");
                    // A level closed under another one that is also closing: its parent
                    // line never came (malformed); count what it held.
                    if let Some(prev) = self.just_closed.take() {
                        self.flush_held(prev);
                    }
                    closed.announce = None;
                    self.just_closed = Some(closed);
                }
                _ => break,
            }
        }
        let n = self.frames.len();
        let f = &mut self.frames[n - 1];
        match f.indent {
            None => f.indent = Some(indent),
            Some(fi) if indent > fi => {
                self.finalize_pending();
                let name = self.top().announce.take();
                self.frames.push(Frame::new(Some(indent), name));
            }
            _ => {}
        }
    }

    fn close_levels_to_brace(&mut self) {
        while self.frames.len() > 1 {
            let f = self.frames.pop().expect("more than one frame");
            if let Some(parent) = f.brace.clone() {
                let parent = *parent;
                if f.points == 0 {
                    // `ok 1 - name { }` with nothing inside: the point itself is the test.
                    self.emit_point(parent, None);
                } else {
                    // A group (file / describe): its leaves were counted.
                    let failed = !f.failed_children.is_empty();
                    let outer = self.top();
                    outer.points += 1;
                    if failed && let Some(n) = f.name.clone() {
                        outer.failed_children.push(n);
                    }
                }
                return;
            }
            self.flush_held(f);
        }
    }

    fn suite_path(&self) -> Vec<String> {
        self.frames.iter().filter_map(|f| f.name.clone()).collect()
    }

    fn point(&mut self, c: &str, indent: usize, pos: Position) {
        // A subtest block just closed by the dedent: this point is its summary line.
        let sub = self.just_closed.take();
        self.finalize_pending();
        let ok = !c.starts_with("not ");
        let rest = c.trim_start_matches("not ").trim_start_matches("ok");
        let rest = rest.trim_start();
        // Optional number.
        let digits = rest.chars().take_while(|c| c.is_ascii_digit()).count();
        let number = rest[..digits].parse::<u64>().ok();
        let rest = rest[digits..].trim_start();
        let rest = rest
            .strip_prefix("- ")
            .or_else(|| rest.strip_prefix('-'))
            .unwrap_or(rest);
        let (rest, brace) = match rest.trim_end().strip_suffix('{') {
            Some(r) if r.is_empty() || r.ends_with(' ') => (r.trim_end(), true),
            _ => (rest, false),
        };
        let (desc, directive, time) = split_directive(rest);
        let point = Point {
            ok,
            desc: match unescape(desc.trim_ws()) {
                // `ok 6 # skip`: no description; the number is all there is to name it.
                d if d.is_empty() => number.map(|n| format!("test {n}")).unwrap_or_default(),
                d => d,
            },
            directive,
            time,
            indent,
            pos,
            yaml: String::new(),
            yaml_truncated: false,
            diag: TextBuf::new(self.max),
            sub,
        };
        if brace {
            let name = point.desc.clone();
            let mut f = Frame::new(None, Some(name));
            f.brace = Some(Box::new(point));
            self.frames.push(f);
        } else {
            self.pending = Some(point);
        }
    }

    fn finalize_pending(&mut self) {
        self.in_yaml = false;
        if let Some(p) = self.pending.take() {
            let sub = p.sub.clone();
            self.emit_point(p, sub);
        } else if let Some(f) = self.just_closed.take() {
            // A subtest block with no summary line after it.
            self.flush_held(f);
        }
    }

    /// Counts the cases a closed Test::More subtest held back (its parent line never came).
    fn flush_held(&mut self, f: Frame) {
        for c in f.held {
            self.sink.case(c);
        }
    }

    fn emit_point(&mut self, p: Point, sub: Option<Frame>) {
        let diag = Diag::parse(&p.yaml);
        if p.yaml_truncated {
            self.sink.warning(
                Some(p.pos),
                "a YAML diagnostic block is very large; only its start was read".into(),
            );
        }
        if diag.duration_ms.is_some() && !self.node_style {
            self.node_style = true;
            // Children held so far were node tests after all: count them.
            let held: Vec<Case> = self
                .frames
                .iter_mut()
                .flat_map(|f| std::mem::take(&mut f.held))
                .collect();
            for c in held {
                self.sink.case(c);
            }
        }
        let depth = self.frames.len();
        let in_brace_level =
            self.frames[depth - 1].brace.is_some() || self.frames.iter().any(|f| f.brace.is_some());
        let status = match (&p.directive, p.ok) {
            (Directive::Skip(_) | Directive::Todo(_), _) => Status::Skipped,
            (Directive::None, true) => Status::Passed,
            (Directive::None, false) => Status::Failed,
        };
        {
            let f = self.top();
            f.points += 1;
            if status == Status::Failed {
                f.failed_children.push(p.desc.clone());
            }
        }
        if diag.is_suite {
            // node's describe(): a group, not a test.
            if let Some(s) = sub {
                self.flush_held(s);
            }
            return;
        }
        let has_children = sub.as_ref().is_some_and(|s| s.points > 0);
        // A test file that failed to load (vitest): a top-level failure named after a file.
        if depth == 1
            && status == Status::Failed
            && !has_children
            && diag.duration_ms.is_none()
            && !in_brace_level
            && looks_like_test_file(&p.desc)
        {
            let msg = diag
                .message
                .clone()
                .or_else(|| first_text(&p.diag.text()))
                .unwrap_or_else(|| "the test file failed".into());
            let (file, line) = diag.location();
            self.sink.suite_error(SuiteError {
                suite: p.desc.clone(),
                // The diagnostic's message is not bounded on its own (found by fuzzing).
                message: super::text::bound_text(
                    &format!("the test file failed to load: {}", first_line(&msg)),
                    self.max,
                ),
                file: file.or_else(|| Some(p.desc.clone())),
                line,
                kind: "load".into(),
                trace: diag
                    .stack
                    .clone()
                    .or(diag.message.clone())
                    .map(|t| super::json::clean(&t, self.max)),
                ..Default::default()
            });
            return;
        }
        let mut case = self.build_case(&p, &diag, status);
        if let Some(s) = sub {
            if !self.node_style {
                // Test::More: the children were detail of this one test.
                if status == Status::Failed && !s.failed_children.is_empty() {
                    let names = s.failed_children.join(", ");
                    let f = case.failure.get_or_insert_with(Failure::default);
                    if f.message.is_none() {
                        f.message = Some(super::json::clean(
                            &format!("failed subtests: {names}"),
                            self.max,
                        ));
                    }
                }
            } else {
                self.flush_held(s);
            }
        }
        // Test::More children wait for their parent line (node's are counted at once).
        if depth > 1 && !self.node_style && !in_brace_level {
            let f = self.top();
            if f.held.len() < MAX_HELD {
                f.held.push(case);
            }
            return;
        }
        self.sink.case(case);
    }

    fn build_case(&self, p: &Point, diag: &Diag, status: Status) -> Case {
        let max = self.max;
        let mut suite = self.suite_path();
        let mut name = p.desc.clone();
        // vitest tap-flat: `file > describe > test`.
        if let Some((first, _)) = name.split_once(" > ")
            && looks_like_path(first)
        {
            let parts: Vec<String> = name.split(" > ").map(str::to_string).collect();
            if let Some((last, scope)) = parts.split_last() {
                suite.extend(scope.iter().cloned());
                name = last.clone();
            }
        }
        if name.is_empty() {
            name = "(unnamed test)".into();
        }
        let mut case = Case::new(name, status);
        case.suite = suite;
        case.duration = diag.duration_ms.map(|ms| ms / 1000.0).or(p.time);
        let (file, line) = diag.location();
        case.file = file;
        case.line = line;
        // Reasons are bounded like every text (found by fuzzing).
        match &p.directive {
            Directive::Skip(r) => {
                case.skip_reason = Some(if r.is_empty() {
                    "skip".into()
                } else {
                    super::text::bound_text(r, max)
                })
            }
            Directive::Todo(r) => {
                case.skip_reason = Some(if r.is_empty() {
                    "todo".into()
                } else {
                    super::text::bound_text(&format!("todo: {r}"), max)
                })
            }
            Directive::None => {}
        }
        if status == Status::Failed {
            let diag_text = p.diag.text();
            let message = diag.message.clone().or_else(|| first_text(&diag_text));
            let trace = diag
                .stack
                .clone()
                .or_else(|| (!diag_text.trim_ws().is_empty()).then(|| diag_text.clone()));
            let kind = diag.kind.clone().or_else(|| {
                trace.as_deref().and_then(|t| {
                    t.lines()
                        .find_map(|l| super::jest_json::split_kind(l.trim_ws()).0)
                })
            });
            case.failure = Some(Failure {
                kind,
                message: message.map(|m| super::json::clean(m.trim_ws(), max)),
                trace: trace.and_then(|t| super::json::clean_opt(Some(&t), max)),
            });
        }
        case
    }

    fn finish(&mut self) {
        if self.bailed {
            return;
        }
        self.finalize_pending();
        while self.frames.len() > 1 {
            if self.frames.iter().any(|f| f.brace.is_some()) {
                self.sink
                    .warning(None, "a `{` subtest block is not closed at the end".into());
                self.close_levels_to_brace();
            } else {
                let f = self.frames.pop().expect("more than one frame");
                self.flush_held(f);
            }
        }
        if let Some(f) = self.just_closed.take() {
            self.flush_held(f);
        }
        let root = &self.frames[0];
        match root.plan {
            Some(n) if !root.skip_all && n != root.points => {
                let ran = root.points;
                self.sink.suite_error(SuiteError {
                    suite: String::new(),
                    message: format!(
                        "planned {n} tests but {ran} ran: the test script stopped early (died or was killed)"
                    ),
                    kind: "plan".into(),
                    ..Default::default()
                });
            }
            None if root.points > 0 => {
                self.sink.warning(
                    None,
                    "no plan (`1..N`): cannot tell whether every test ran".into(),
                );
            }
            _ => {}
        }
    }
}

/// Splits `desc # SKIP why` at the first unescaped `#` that follows whitespace; also reads
/// vitest's `# time=1.2ms` (returned in seconds).
fn split_directive(s: &str) -> (&str, Directive, Option<f64>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
            let desc = s[..i].trim_end();
            let d = s[i + 1..].trim_ws();
            let lower = d.to_ascii_lowercase();
            let reason = |k: usize| {
                d[k..]
                    .trim_start_matches(|c: char| c.is_alphabetic())
                    .trim_ws()
            };
            let directive = if lower.starts_with("skip") {
                Directive::Skip(
                    reason(0)
                        .trim_start_matches(['-', ':'])
                        .trim_ws()
                        .to_string(),
                )
            } else if lower.starts_with("todo") {
                Directive::Todo(
                    reason(0)
                        .trim_start_matches(['-', ':'])
                        .trim_ws()
                        .to_string(),
                )
            } else if let Some(t) = lower.strip_prefix("time=") {
                return (desc, Directive::None, parse_time(t));
            } else {
                // Not a directive: part of the description.
                i += 1;
                continue;
            };
            return (desc, directive, None);
        }
        i += 1;
    }
    (s, Directive::None, None)
}

/// `2.51ms` / `1.5s` → seconds.
fn parse_time(t: &str) -> Option<f64> {
    let t = t.trim_ws();
    if let Some(ms) = t.strip_suffix("ms") {
        return super::text::parse_seconds(ms).map(|v| v / 1000.0);
    }
    super::text::parse_seconds(t.trim_end_matches('s'))
}

fn unescape(s: &str) -> String {
    if !s.as_bytes().contains(&b'\\') {
        return s.to_string();
    }
    s.replace("\\#", "#").replace("\\\\", "\\")
}

fn looks_like_path(s: &str) -> bool {
    !s.is_empty() && !s.contains(char::is_whitespace) && (s.contains('/') || s.contains('.'))
}

fn looks_like_test_file(s: &str) -> bool {
    if s.contains(char::is_whitespace) {
        return false;
    }
    let ext = s.rsplit('.').next().unwrap_or("");
    s.contains('.')
        && matches!(
            ext,
            "js" | "mjs" | "cjs" | "ts" | "mts" | "cts" | "jsx" | "tsx" | "vue" | "svelte"
        )
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn first_text(s: &str) -> Option<String> {
    let l = first_line(s);
    (!l.is_empty()).then(|| l.to_string())
}

/// What codeloop reads from a YAML diagnostic block.
#[derive(Debug, Default)]
struct Diag {
    message: Option<String>,
    kind: Option<String>,
    stack: Option<String>,
    at: Option<String>,
    at_file: Option<String>,
    at_line: Option<u32>,
    duration_ms: Option<f64>,
    is_suite: bool,
}

impl Diag {
    fn parse(yaml: &str) -> Diag {
        let mut d = Diag::default();
        if yaml.is_empty() {
            return d;
        }
        for (k, v) in yaml_fields(yaml, Diag::reads) {
            match k.as_str() {
                "duration_ms" => {
                    d.duration_ms = v.trim_ws().parse().ok().filter(|f: &f64| *f >= 0.0)
                }
                "type" => d.is_suite = v.trim_ws() == "suite",
                "error.message" | "message" | "error"
                    if d.message.is_none() && !v.trim_ws().is_empty() =>
                {
                    d.message = Some(v)
                }
                "error.name" | "name" if d.kind.is_none() && !v.trim_ws().is_empty() => {
                    d.kind = Some(v)
                }
                "stack" | "error.stack" if d.stack.is_none() => d.stack = Some(v),
                "at" | "location" if d.at.is_none() => d.at = Some(v),
                "at.file" => d.at_file = Some(v),
                "at.line" => d.at_line = v.trim_ws().parse().ok(),
                _ => {}
            }
        }
        d
    }

    /// The keys [`Diag::parse`] looks at (the others' values are not built).
    fn reads(key: &str) -> bool {
        matches!(
            key,
            "duration_ms"
                | "type"
                | "error.message"
                | "message"
                | "error"
                | "error.name"
                | "name"
                | "stack"
                | "error.stack"
                | "at"
                | "location"
                | "at.file"
                | "at.line"
        )
    }

    /// `path:line[:col]` (also `file://...`) → (file, line).
    fn location(&self) -> (Option<String>, Option<u32>) {
        if let Some(f) = &self.at_file {
            return (Some(f.clone()), self.at_line);
        }
        let Some(at) = self.at.as_deref() else {
            return (None, None);
        };
        let at = at.trim_ws().trim_start_matches("file://");
        let mut parts = at.rsplitn(3, ':');
        let a = parts.next();
        let b = parts.next();
        let c = parts.next();
        let num = |s: Option<&str>| s.and_then(|x| x.parse::<u32>().ok());
        match (num(a), num(b), c) {
            (Some(_col), Some(line), Some(file)) => (Some(file.to_string()), Some(line)),
            (Some(line), None, _) => (b.map(str::to_string), Some(line)),
            _ => (Some(at.to_string()), None),
        }
    }
}

/// A small YAML reader for TAP diagnostics: flattens nested mappings to dotted keys
/// (`error.message`), reads plain, single- and double-quoted (also multi-line) scalars and
/// `|`/`>` block scalars. Sequences and anything fancier are skipped. Only the keys `wanted`
/// accepts are returned (the others are read past the same way, their values not built).
fn yaml_fields(yaml: &str, wanted: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    let lines: Vec<&str> = yaml.lines().collect();
    let base = lines
        .iter()
        .filter(|l| !l.trim_ws().is_empty())
        .map(|l| indent_of(l))
        .min()
        .unwrap_or(0);
    let mut out = Vec::new();
    let mut stack: Vec<(usize, &str)> = Vec::new();
    let mut path = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let t = line.trim_ws();
        if t.is_empty() || t.starts_with('#') || t.starts_with("- ") || t == "-" {
            continue;
        }
        let ind = indent_of(line).saturating_sub(base);
        let Some((key, val)) = split_key(t) else {
            continue;
        };
        while stack.last().is_some_and(|(si, _)| *si >= ind) {
            stack.pop();
        }
        path.clear();
        for (_, k) in &stack {
            path.push_str(k);
            path.push('.');
        }
        path.push_str(key);
        let want = wanted(&path);
        let val = val.trim_ws();
        if val.is_empty() {
            stack.push((ind, key));
            continue;
        }
        if val.starts_with('|') || val.starts_with('>') {
            let folded = val.starts_with('>');
            let mut body: Vec<&str> = Vec::new();
            let mut block_indent: Option<usize> = None;
            while i < lines.len() {
                let l = lines[i];
                let li = indent_of(l).saturating_sub(base);
                if !l.trim_ws().is_empty() && li <= ind {
                    break;
                }
                let bi = *block_indent.get_or_insert(indent_of(l));
                if want {
                    body.push(dedent(l, bi));
                }
                i += 1;
            }
            if want {
                while body.last().is_some_and(|l| l.trim_ws().is_empty()) {
                    body.pop();
                }
                out.push((path.clone(), body.join(if folded { " " } else { "\n" })));
            }
            continue;
        }
        if let Some(q) = val.strip_prefix('"') {
            let mut s = q.to_string();
            // Multi-line double-quoted scalar: continue until the closing quote.
            while !ends_with_unescaped_quote(&s) && i < lines.len() {
                s.push('\n');
                s.push_str(lines[i]);
                i += 1;
            }
            if want {
                let s = s.strip_suffix('"').unwrap_or(&s);
                out.push((path.clone(), unescape_double(s)));
            }
            continue;
        }
        if let Some(q) = val.strip_prefix('\'') {
            let mut s = q.to_string();
            while !(s.ends_with('\'') && !s.ends_with("''") || s.ends_with("'''"))
                && i < lines.len()
            {
                s.push(' ');
                s.push_str(lines[i].trim_ws());
                i += 1;
            }
            if want {
                let s = s.strip_suffix('\'').unwrap_or(&s);
                let v = if s.contains('\'') {
                    s.replace("''", "'")
                } else {
                    s.to_string()
                };
                out.push((path.clone(), v));
            }
            continue;
        }
        if want {
            out.push((path.clone(), val.to_string()));
        }
    }
    out
}

fn split_key(t: &str) -> Option<(&str, &str)> {
    if let Some(k) = t.strip_suffix(':')
        && find_colon_space(k).is_none()
    {
        return Some((trim_quotes(k), ""));
    }
    let at = find_colon_space(t)?;
    let (k, v) = (&t[..at], &t[at + 2..]);
    if k.is_empty() || k.contains(' ') && !k.starts_with('"') {
        return None;
    }
    Some((trim_quotes(k), v))
}

/// `s.find(": ")`, without building a substring searcher for every YAML line.
fn find_colon_space(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    memchr::memchr_iter(b':', b).find(|&i| b.get(i + 1) == Some(&b' '))
}

/// `s.trim_matches(['"', '\''])` (both ASCII, so byte-wise is the same).
fn trim_quotes(s: &str) -> &str {
    let b = s.as_bytes();
    let q = |c: &u8| *c == b'"' || *c == b'\'';
    let start = b.iter().position(|c| !q(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !q(c)).map_or(start, |e| e + 1);
    s.get(start..end.max(start)).unwrap_or("")
}

fn ends_with_unescaped_quote(s: &str) -> bool {
    if !s.ends_with('"') {
        return false;
    }
    let backslashes = s[..s.len() - 1]
        .chars()
        .rev()
        .take_while(|c| *c == '\\')
        .count();
    backslashes % 2 == 0
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('"') => out.push('"'),
                Some('\\') => out.push('\\'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    fn counts(doc: &str) -> (u64, u64, u64, u64, crate::parsers::Collector<'static>) {
        let (c, r) = parse_bytes(doc.as_bytes(), "t.tap", Some(Format::Tap));
        r.unwrap();
        let n = c.counts;
        (n.tests, n.passed, n.failed, n.skipped, c)
    }

    #[test]
    fn byte_helpers_agree_with_the_str_methods() {
        for s in [
            "", "a", "key: v", "k:v: w", "\"q\": 1", "'x'", "\"\"", "a:", ": ", "é: ü", "''a''b''",
        ] {
            assert_eq!(super::find_colon_space(s), s.find(": "), "{s:?}");
            assert_eq!(super::trim_quotes(s), s.trim_matches(['"', '\'']), "{s:?}");
        }
        use super::TrimWs;
        for s in [
            "",
            "   ",
            " \t a b \r\n",
            "\u{a0}x\u{a0}",
            "\u{2003} y ",
            " z\u{85}",
            "\u{b}\u{c}v\u{c}",
            "é",
            " ü ",
        ] {
            assert_eq!(s.trim_ws(), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn directives_and_escapes() {
        let (t, p, f, s, c) = counts(
            "1..5\nok 1 - a\nnot ok 2 - b\nok 3 # skip no net\nnot ok 4 - t # TODO later\nok 5 - has \\# hash\n",
        );
        assert_eq!((t, p, f, s), (5, 2, 1, 2));
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[2].skip_reason.as_deref(), Some("no net"));
        assert_eq!(all[3].skip_reason.as_deref(), Some("todo: later"));
        assert_eq!(all[4].name, "has # hash");
        assert!(c.suite_errors.is_empty());
    }

    #[test]
    fn perl_subtests_count_only_the_parent() {
        let (t, p, f, _, c) = counts(
            "1..2\n# Subtest: block\n    1..2\n    ok 1 - in\n    not ok 2 - inner fail\nnot ok 1 - block\nok 2 - after\n",
        );
        assert_eq!((t, p, f), (2, 1, 1));
        let bad = &c.problems[0];
        assert_eq!(bad.name, "block");
        assert_eq!(
            bad.failure.as_ref().unwrap().message.as_deref(),
            Some("failed subtests: inner fail")
        );
    }

    #[test]
    fn node_subtests_count_everything_but_suites() {
        let doc = "TAP version 13\n# Subtest: S\n    # Subtest: a\n    ok 1 - a\n      ---\n      duration_ms: 1.5\n      ...\n    # Subtest: b\n    not ok 2 - b\n      ---\n      duration_ms: 2\n      location: '/w/t.mjs:9:3'\n      error: 'boom'\n      name: 'AssertionError'\n      stack: |-\n        at t.mjs:10:12\n        at x\n      ...\n    1..2\nnot ok 1 - S\n  ---\n  duration_ms: 5\n  type: 'suite'\n  ...\n# Subtest: T\n    # Subtest: c\n    ok 1 - c\n      ---\n      duration_ms: 1\n      ...\n    1..1\nok 2 - T\n  ---\n  duration_ms: 2\n  ...\n1..2\n# tests 4\n";
        let (t, p, f, _, c) = counts(doc);
        assert_eq!((t, p, f), (4, 3, 1));
        let b = &c.problems[0];
        assert_eq!(b.suite, vec!["S"]);
        assert_eq!((b.file.as_deref(), b.line), (Some("/w/t.mjs"), Some(9)));
        let fl = b.failure.as_ref().unwrap();
        assert_eq!(
            (fl.message.as_deref(), fl.kind.as_deref()),
            (Some("boom"), Some("AssertionError"))
        );
        assert_eq!(fl.trace.as_deref(), Some("at t.mjs:10:12\nat x"));
        assert_eq!(b.duration, Some(0.002));
    }

    #[test]
    fn vitest_braces_count_leaves_and_file_failures_are_suite_errors() {
        let doc = "TAP version 13\n1..2\nnot ok 1 - a.spec.js # time=3ms {\n    1..2\n    ok 1 - d # time=1ms {\n        1..1\n        ok 1 - x # time=1ms\n    }\n    not ok 2 - y # time=1ms\n        ---\n        error:\n            name: \"Error\"\n            message: \"multi\nline\"\n        at: \"/w/a.spec.js:4:7\"\n        ...\n}\nnot ok 2 - b.spec.js\n    ---\n    error:\n        name: \"Error\"\n        message: \"cannot load\"\n    ...\n";
        let (t, p, f, _, c) = counts(doc);
        assert_eq!((t, p, f), (2, 1, 1));
        let y = &c.problems[0];
        assert_eq!(y.suite, vec!["a.spec.js"]);
        assert_eq!(
            y.failure.as_ref().unwrap().message.as_deref(),
            Some("multi\nline")
        );
        assert_eq!(y.line, Some(4));
        assert_eq!(c.all.as_ref().unwrap()[0].suite, vec!["a.spec.js", "d"]);
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].kind, "load");
        assert!(c.suite_errors[0].message.contains("cannot load"));
    }

    #[test]
    fn bail_out_and_bad_plans_are_suite_errors() {
        let (t, p, _, _, c) = counts("ok 1 - a\nBail out!  db down\nok 2 - never read\n");
        assert_eq!((t, p), (1, 1));
        assert_eq!(c.suite_errors[0].kind, "bailout");
        assert!(c.suite_errors[0].message.contains("db down"));
        // A huge reason is bounded like every text (found by fuzzing), as are directives.
        let long = format!("ok 1 # SKIP {0}\nnot ok 2 # TODO {0}\n", "é".repeat(40_000));
        let (_, _, _, _, c) = counts(&long);
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        for k in c.all.as_deref().unwrap() {
            let r = k.skip_reason.as_deref().unwrap();
            assert!(
                r.len() <= max && r.contains("bytes cut by codeloop"),
                "{}",
                r.len()
            );
        }
        // So is the message of a test file that failed to load (vitest).
        let long = format!(
            "TAP version 13\n1..1\nnot ok 1 - b.spec.js\n    ---\n    error:\n        name: \"Error\"\n        message: \"{}\"\n    ...\n",
            "m".repeat(40_000)
        );
        let (_, _, _, _, c) = counts(&long);
        assert_eq!(c.suite_errors[0].kind, "load");
        assert!(
            c.suite_errors[0].message.len() <= max,
            "{}",
            c.suite_errors[0].message.len()
        );
        let long = format!("Bail out! {}\n", "é".repeat(40_000));
        let (_, _, _, _, c) = counts(&long);
        let m = &c.suite_errors[0].message;
        assert!(
            m.len() <= crate::parsers::ParseOptions::default().max_text_bytes,
            "{}",
            m.len()
        );
        assert!(m.starts_with("bail out: éé") && m.contains("bytes cut by codeloop"));
        let (t, _, _, _, c) = counts("1..5\nok 1\nok 2\n");
        assert_eq!(t, 2);
        assert_eq!(c.suite_errors[0].kind, "plan");
        let (t, _, _, _, c) = counts("1..0 # SKIP Windows only\n");
        assert_eq!(t, 0);
        assert!(c.suite_errors.is_empty());
    }

    #[test]
    fn tap12_diagnostics_and_noise() {
        let doc = "ok 1 A passes\nconsole noise\nnot ok 2 A fails\n  expected 1\n  AssertionError: expected 1\n      at t.js:9:12\nok 3 A skipped # SKIP -\n1..3\n";
        let (t, p, f, s, c) = counts(doc);
        assert_eq!((t, p, f, s), (3, 1, 1, 1));
        let fl = c.problems[0].failure.as_ref().unwrap();
        assert_eq!(fl.message.as_deref(), Some("expected 1"));
        assert_eq!(fl.kind.as_deref(), Some("AssertionError"));
    }

    #[test]
    fn dedent_never_splits_characters() {
        assert_eq!(super::dedent("\täb", 4), "äb");
        assert_eq!(super::dedent("\täb", 2), "\täb");
        assert_eq!(super::dedent("      x", 4), "  x");
        assert_eq!(super::dedent("  ", 4), "");
        // A tab-indented YAML block with multi-byte text must not panic.
        let doc = "not ok 1 - a\n\t---\n\tmessage: |-\n\t\tébc\n\t\t日本\n\t...\n1..1\n";
        let (c, r) = parse_bytes(doc.as_bytes(), "t.tap", Some(Format::Tap));
        r.unwrap();
        let m = c.problems[0].failure.as_ref().unwrap().message.clone();
        assert_eq!(m.as_deref(), Some("ébc\n日本"));
    }

    #[test]
    fn non_tap_is_rejected() {
        let (_, r) = parse_bytes(b"hello\nworld\n", "x.tap", Some(Format::Tap));
        assert!(r.unwrap_err().message.contains("not a TAP stream"));
    }
}
