//! The shared vocabulary of a run: test cases, lint findings, runner results, diagnoses and the
//! gate. Every stage reads and writes these types, and the run directory's JSON files are their
//! serde form, so a field added here is a schema change: keep additions optional
//! (`#[serde(default)]`) and bump [`SCHEMA_VERSION`] only for breaking changes.

use serde::{Deserialize, Serialize};

/// Version of every JSON document codeloop writes. Readers refuse newer major versions.
pub const SCHEMA_VERSION: u32 = 1;

/// The outcome of one test case, as the tool itself would count it.
///
/// Flakiness is not a status: a flaky test *passed* in the end (after retries) and carries
/// `flaky: true` on its [`Case`], so `passed + failed + errored + skipped == tests` always holds.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Passed,
    Failed,
    Errored,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Errored => "errored",
            Status::Skipped => "skipped",
        }
    }

    /// Failed or errored: the statuses that make a test run red.
    pub fn is_bad(self) -> bool {
        matches!(self, Status::Failed | Status::Errored)
    }

    /// Severity order used when the same test is seen twice (shards, reruns): the worse wins.
    pub fn rank(self) -> u8 {
        match self {
            Status::Skipped => 0,
            Status::Passed => 1,
            Status::Failed => 2,
            Status::Errored => 3,
        }
    }
}

/// Failure details of a non-passing case. All text is untrusted and already bounded by the
/// parser (see `parsers::bound_text`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Failure {
    /// Exception/assertion type, e.g. `AssertionError`, `java.lang.NullPointerException`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The one-line (or short) message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Stack trace / failure body, bounded (head and tail kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// One normalized test case. One line of `cases.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Case {
    /// Runner id; filled in by verify, empty while parsing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner: String,
    /// Suite path from outermost to innermost (nested `<testsuite>`s, `describe` blocks, Go
    /// package, TAP subtest parents).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suite: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classname: Option<String>,
    pub name: String,
    /// Source file as the report gives it (not yet made repo-relative; diagnose does that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    pub status: Status,
    /// Passed only after one or more failed attempts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub flaky: bool,
    /// Number of extra attempts (reruns) the tool made.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Seconds. `None` when the format has no duration or it was unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Captured stdout/stderr (bounded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    /// Skip reason, when the format has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_reason: Option<String>,
}

fn is_false(b: &bool) -> bool {
    !*b
}
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A case's fields, borrowed: what the stream's consumers read (cases.jsonl's writer, the
/// JUnit writer, the report's digest), from a [`Case`] ([`Case::view`]) or straight from a
/// batch of packed cases (`pipeline::digest`), with no string copied. `T` is how the suite
/// path's parts are held: `String` in a `Case`, `&str` in a batch.
#[derive(Debug)]
pub struct CaseView<'a, T = &'a str> {
    pub runner: &'a str,
    pub suite: &'a [T],
    pub classname: Option<&'a str>,
    pub name: &'a str,
    pub file: Option<&'a str>,
    pub line: Option<u32>,
    pub status: Status,
    pub flaky: bool,
    pub retries: u32,
    pub duration: Option<f64>,
    pub failure: Option<FailureView<'a>>,
    pub output: Option<&'a str>,
    pub skip_reason: Option<&'a str>,
}

/// [`Failure`], borrowed.
#[derive(Clone, Copy, Debug, Default)]
pub struct FailureView<'a> {
    pub kind: Option<&'a str>,
    pub message: Option<&'a str>,
    pub trace: Option<&'a str>,
}

impl<'a> FailureView<'a> {
    pub fn of(f: &'a Failure) -> Self {
        FailureView {
            kind: f.kind.as_deref(),
            message: f.message.as_deref(),
            trace: f.trace.as_deref(),
        }
    }

    pub fn to_failure(&self) -> Failure {
        Failure {
            kind: self.kind.map(str::to_string),
            message: self.message.map(str::to_string),
            trace: self.trace.map(str::to_string),
        }
    }
}

/// JSON string escaping as serde_json does it, with a fast path: text with no `"`, `\\` or
/// control character (nearly all test names) is copied as is, found 16 bytes at a time.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    if needs_escape(s.as_bytes()) {
        // Writing into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    } else {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    }
}

/// Whether any byte is `"`, `\\` or below 0x20 (what JSON must escape): 16 bytes per step
/// with no branch inside, so that the compiler makes it SIMD compares (0.7× the time of the
/// 8-byte word trick it replaced, on test names).
fn needs_escape(s: &[u8]) -> bool {
    any_window::<16>(s, |c| {
        c.iter()
            .fold(false, |a, &b| a | (b < 0x20) | (b == b'"') | (b == b'\\'))
    })
}

/// Whether `hit` is true of some `N`-byte window of `v`, the windows covering `v` end to end:
/// the last one overlaps the one before, and a `v` shorter than `N` is padded with `a`
/// (which `hit` must not pick). So no byte is looked at alone: `hit` works on whole words or
/// SIMD-sized blocks (the writers' scans for bytes to escape).
#[inline(always)]
pub(crate) fn any_window<const N: usize>(v: &[u8], hit: impl Fn(&[u8]) -> bool) -> bool {
    if v.len() < N {
        let mut padded = [b'a'; N];
        padded[..v.len()].copy_from_slice(v);
        return hit(&padded);
    }
    let mut chunks = v.chunks_exact(N);
    for c in &mut chunks {
        if hit(c) {
            return true;
        }
    }
    !chunks.remainder().is_empty() && hit(&v[v.len() - N..])
}

impl Case {
    /// This case as one line of cases.jsonl (no newline): see [`CaseView::write_json`].
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.view().write_json(out);
    }

    /// The case's fields, borrowed.
    pub fn view(&self) -> CaseView<'_, String> {
        let Case {
            runner,
            suite,
            classname,
            name,
            file,
            line,
            status,
            flaky,
            retries,
            duration,
            failure,
            output,
            skip_reason,
        } = self;
        CaseView {
            runner,
            suite,
            classname: classname.as_deref(),
            name,
            file: file.as_deref(),
            line: *line,
            status: *status,
            flaky: *flaky,
            retries: *retries,
            duration: *duration,
            failure: failure.as_ref().map(FailureView::of),
            output: output.as_deref(),
            skip_reason: skip_reason.as_deref(),
        }
    }

    pub fn new(name: impl Into<String>, status: Status) -> Self {
        Case {
            name: name.into(),
            status,
            ..Default::default()
        }
    }

    /// Stable identity of a test across runs and shards: classname (or suite path) and name.
    /// The runner id is deliberately not part of it, so that a test moved between shards of
    /// the same runner keeps its identity; [`Case::key`] adds it.
    pub fn id(&self) -> String {
        self.view().id()
    }

    /// Bytes of the case's texts: what it holds on the heap, near enough for memory bounds.
    pub fn text_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        self.runner.len()
            + self.suite.iter().map(String::len).sum::<usize>()
            + opt(&self.classname)
            + self.name.len()
            + opt(&self.file)
            + opt(&self.output)
            + opt(&self.skip_reason)
            + self
                .failure
                .as_ref()
                .map_or(0, |f| opt(&f.kind) + opt(&f.message) + opt(&f.trace))
    }

    /// Identity including the runner: what deltas and merges compare.
    ///
    /// (Hashed without being built from [`key_pieces`].)
    pub fn key(&self) -> String {
        self.view().key()
    }
}

impl<T: AsRef<str>> CaseView<'_, T> {
    /// This case as one line of cases.jsonl (no newline): the bytes `serde_json::to_writer`
    /// writes, field for field (a test checks), without serde's per-field machinery or its
    /// byte-by-byte escaping of text that needs none. cases.jsonl is the biggest file a run
    /// writes; this is the writer of it.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let mut sep = b'{';
        let mut key = |out: &mut Vec<u8>, k: &str| {
            out.push(sep);
            sep = b',';
            out.push(b'"');
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(b"\":");
        };
        if !self.runner.is_empty() {
            key(out, "runner");
            push_json_str(out, self.runner);
        }
        if !self.suite.is_empty() {
            key(out, "suite");
            for (i, s) in self.suite.iter().enumerate() {
                out.push(if i == 0 { b'[' } else { b',' });
                push_json_str(out, s.as_ref());
            }
            out.push(b']');
        }
        if let Some(c) = &self.classname {
            key(out, "classname");
            push_json_str(out, c);
        }
        key(out, "name");
        push_json_str(out, self.name);
        if let Some(f) = &self.file {
            key(out, "file");
            push_json_str(out, f);
        }
        if let Some(l) = self.line {
            key(out, "line");
            out.extend_from_slice(itoa::Buffer::new().format(l).as_bytes());
        }
        key(out, "status");
        out.push(b'"');
        out.extend_from_slice(self.status.as_str().as_bytes());
        out.push(b'"');
        if self.flaky {
            key(out, "flaky");
            out.extend_from_slice(b"true");
        }
        if self.retries != 0 {
            key(out, "retries");
            out.extend_from_slice(itoa::Buffer::new().format(self.retries).as_bytes());
        }
        if let Some(d) = self.duration {
            key(out, "duration");
            let _ = serde_json::to_writer(&mut *out, &d);
        }
        if let Some(f) = &self.failure {
            key(out, "failure");
            let mut fsep = b'{';
            for (k, v) in [
                ("kind", &f.kind),
                ("message", &f.message),
                ("trace", &f.trace),
            ] {
                if let Some(v) = v {
                    out.push(fsep);
                    fsep = b',';
                    out.push(b'"');
                    out.extend_from_slice(k.as_bytes());
                    out.extend_from_slice(b"\":");
                    push_json_str(out, v);
                }
            }
            if fsep == b'{' {
                out.push(b'{');
            }
            out.push(b'}');
        }
        if let Some(o) = &self.output {
            key(out, "output");
            push_json_str(out, o);
        }
        if let Some(r) = &self.skip_reason {
            key(out, "skip_reason");
            push_json_str(out, r);
        }
        out.push(b'}');
    }

    /// See [`Case::id`].
    pub fn id(&self) -> String {
        let scope = match self.classname {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => join(self.suite, " / "),
        };
        // jest-junit's default classname is the full test title: "X::X" says nothing more.
        if scope.is_empty() || scope == self.name {
            self.name.to_string()
        } else {
            format!("{scope}::{}", self.name)
        }
    }

    /// See [`Case::key`].
    pub fn key(&self) -> String {
        if self.runner.is_empty() {
            self.id()
        } else {
            format!("{}::{}", self.runner, self.id())
        }
    }

    /// The case, owned.
    pub fn to_case(&self) -> Case {
        Case {
            runner: self.runner.to_string(),
            suite: self.suite.iter().map(|p| p.as_ref().to_string()).collect(),
            classname: self.classname.map(str::to_string),
            name: self.name.to_string(),
            file: self.file.map(str::to_string),
            line: self.line,
            status: self.status,
            flaky: self.flaky,
            retries: self.retries,
            duration: self.duration,
            failure: self.failure.as_ref().map(FailureView::to_failure),
            output: self.output.map(str::to_string),
            skip_reason: self.skip_reason.map(str::to_string),
        }
    }
}

/// `parts` joined with `sep` (`[String]::join` for parts held either way).
pub fn join<T: AsRef<str>>(parts: &[T], sep: &str) -> String {
    let mut out = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        out.push_str(p.as_ref());
    }
    out
}

/// Hands `feed` the text of [`Case::key`] piece by piece, in order, without building it
/// (the key of a million tests is hashed, never kept): the runner and `::`, the scope (the
/// classname, else the suite path joined with ` / `) and `::` unless it is empty or the
/// name itself, then the name.
pub fn key_pieces<S: AsRef<str>>(
    runner: &str,
    suite: &[S],
    classname: Option<&str>,
    name: &str,
    mut feed: impl FnMut(&str),
) {
    if !runner.is_empty() {
        feed(runner);
        feed("::");
    }
    match classname {
        Some(cl) if !cl.is_empty() => {
            if cl != name {
                feed(cl);
                feed("::");
            }
        }
        _ => {
            let scoped = !suite.iter().all(|p| p.as_ref().is_empty()) || suite.len() > 1;
            if scoped && !joined_is(suite, " / ", name) {
                for (i, part) in suite.iter().enumerate() {
                    if i > 0 {
                        feed(" / ");
                    }
                    feed(part.as_ref());
                }
                feed("::");
            }
        }
    }
    feed(name);
}

/// Whether `parts` joined with `sep` is `s`.
fn joined_is<S: AsRef<str>>(parts: &[S], sep: &str, s: &str) -> bool {
    let mut rest = s;
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            match rest.strip_prefix(sep) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        match rest.strip_prefix(p.as_ref()) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

/// Severity of a lint/build finding, in SARIF's vocabulary.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Note,
    Warning,
    #[default]
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One lint or compiler finding. One line of `findings.jsonl`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Finding {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner: String,
    /// The tool that reported it (`clippy`, `eslint`, `ruff`, `tsc`, ...).
    pub tool: String,
    /// Rule / lint / error code (`E0308`, `no-unused-vars`, `F401`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
}

/// Impossible to attach to one test case, but a problem all the same: a suite that failed to
/// load, a Go package that did not build, a TAP bail-out, a mocha hook failure.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SuiteError {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner: String,
    /// Suite / package / file the error belongs to.
    pub suite: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// `build` for compile failures, `load` for suites that failed to load, `bailout`, `hook`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

/// Test counts. Invariant: `passed + failed + errored + skipped == tests`; `flaky` counts the
/// passed tests that needed retries (it is a subset of `passed`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub tests: u64,
    pub passed: u64,
    pub failed: u64,
    pub errored: u64,
    pub skipped: u64,
    pub flaky: u64,
}

impl Counts {
    pub fn add_case(&mut self, status: Status, flaky: bool) {
        self.tests += 1;
        match status {
            Status::Passed => self.passed += 1,
            Status::Failed => self.failed += 1,
            Status::Errored => self.errored += 1,
            Status::Skipped => self.skipped += 1,
        }
        if flaky {
            self.flaky += 1;
        }
    }

    pub fn add(&mut self, other: &Counts) {
        self.tests += other.tests;
        self.passed += other.passed;
        self.failed += other.failed;
        self.errored += other.errored;
        self.skipped += other.skipped;
        self.flaky += other.flaky;
    }

    pub fn bad(&self) -> u64 {
        self.failed + self.errored
    }
}

/// Lint finding counts by severity.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LintCounts {
    pub errors: u64,
    pub warnings: u64,
    pub notes: u64,
}

impl LintCounts {
    pub fn add_finding(&mut self, s: Severity) {
        match s {
            Severity::Error => self.errors += 1,
            Severity::Warning => self.warnings += 1,
            Severity::Note => self.notes += 1,
        }
    }
    pub fn add(&mut self, o: &LintCounts) {
        self.errors += o.errors;
        self.warnings += o.warnings;
        self.notes += o.notes;
    }
    pub fn total(&self) -> u64 {
        self.errors + self.warnings + self.notes
    }
}

/// A position in an input file, for parse errors and warnings.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Position {
    /// 1-based line; 0 when unknown.
    pub line: u64,
    /// 1-based column; 0 when unknown.
    pub column: u64,
    /// 0-based byte offset.
    pub byte: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "line {}", self.line)?;
            if self.column > 0 {
                write!(f, ", column {}", self.column)?;
            }
            Ok(())
        } else {
            write!(f, "byte {}", self.byte)
        }
    }
}

/// The warning a collect pattern that matched no file leaves on its runner (`file` holds the
/// pattern): read back by the messages that say which pattern found nothing.
pub const NO_MATCH: &str = "no file matched this pattern";

/// A place where a parser had to be lenient (or a file could not be read at all, for
/// `ParseIssue`s stored as errors).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ParseIssue {
    /// The report file (path as given/matched).
    #[serde(default)]
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    pub message: String,
    /// In a merged run, the shard run the file was read in: `K/N`, or that run's id when it
    /// had no shard number. Every shard reads the same paths, so the path alone does not say
    /// which job's file it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<String>,
    /// The report was never written: a runner ran its command, and its `result_file` (a path
    /// that does not exist, or a glob that matched nothing) found no file. `message` says how
    /// the command ended; nothing was read, so nothing is partial.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

impl ParseIssue {
    /// The file as a reader is told about it: `` `reports/junit.xml` ``, and in a merged run
    /// `` `reports/junit.xml` of shard 2/4 `` (every shard reads the same paths).
    pub fn shown_file(&self) -> String {
        match &self.shard {
            Some(s) => format!("`{}` of shard {s}", self.file),
            None => format!("`{}`", self.file),
        }
    }
}

/// A test that took long, for the slowest-N list.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SlowTest {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runner: String,
    pub duration: f64,
    pub status: Status,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RunnerKind {
    Build,
    Test,
    Lint,
}

impl RunnerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerKind::Build => "build",
            RunnerKind::Test => "test",
            RunnerKind::Lint => "lint",
        }
    }
}

/// Where a runner definition came from.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunnerSource {
    Builtin,
    Plugin,
    /// `--report GLOB` / `reports:` input: nothing is run, files are collected.
    Collect,
}

/// How a runner ended.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RunnerStatus {
    /// Exit 0 (or collected reports with no failures).
    Passed,
    /// Non-zero exit or failing tests/errors in its results.
    Failed,
    /// Exceeded its timeout; its process group was stopped.
    Timeout,
    /// Killed by a signal it did not get from us (segfault, OOM kill).
    Crashed,
    /// Stopped by one of its limits (memory, CPU time: `limits.exceeded` says which); the
    /// gate treats it like a crash.
    LimitExceeded,
    /// Not run because a build runner it depends on failed.
    Blocked,
    /// Its tool is not installed (command not found).
    Unavailable,
    /// codeloop itself was interrupted (SIGINT/SIGTERM) while it ran.
    Interrupted,
    /// Not selected / not applicable (e.g. not this shard).
    Skipped,
}

impl RunnerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunnerStatus::Passed => "passed",
            RunnerStatus::Failed => "failed",
            RunnerStatus::Timeout => "timeout",
            RunnerStatus::Crashed => "crashed",
            RunnerStatus::LimitExceeded => "limit_exceeded",
            RunnerStatus::Blocked => "blocked",
            RunnerStatus::Unavailable => "unavailable",
            RunnerStatus::Interrupted => "interrupted",
            RunnerStatus::Skipped => "skipped",
        }
    }
}

/// The name of a POSIX signal number as recorded in `RunnerResult::signal` (`SIGSEGV`), for
/// titles and gate reasons; `None` for numbers without a well-known name.
pub fn signal_name(sig: i32) -> Option<&'static str> {
    Some(match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        libc::SIGSYS => "SIGSYS",
        _ => return None,
    })
}

/// One result file a runner produced or collected.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ResultFile {
    /// The path as found (relative to the working directory when inside it).
    pub path: String,
    /// Where the copy lives, relative to the run directory (`runners/<id>/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy: Option<String>,
    /// Parser registry name used (after sniffing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default)]
    pub bytes: u64,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub lint: LintCounts,
    /// Parsed without a fatal error.
    #[serde(default)]
    pub ok: bool,
}

/// verify.json's entry for one runner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RunnerResult {
    pub id: String,
    pub kind: RunnerKind,
    pub source: RunnerSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    pub status: RunnerStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// Wall time in seconds.
    #[serde(default)]
    pub duration: f64,
    /// Shown to the user when the runner did not run normally (install hint, blocked by ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    #[serde(default)]
    pub counts: Counts,
    #[serde(default)]
    pub lint: LintCounts,
    #[serde(default)]
    pub result_files: Vec<ResultFile>,
    #[serde(default)]
    pub parse_errors: Vec<ParseIssue>,
    #[serde(default)]
    pub warnings: Vec<ParseIssue>,
    #[serde(default)]
    pub suite_errors: Vec<SuiteError>,
    /// `runners/<id>/stdout.log` etc., relative to the run directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_log: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_log: Option<String>,
    /// Runner ids this one waited for (build runners for test runners).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The limits it ran under, which one stopped it, and how much of its logs was cut.
    /// Absent for runners that ran no command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<RunnerLimits>,
    /// In a merged run: the shards whose outcome `status` is (the worst of the shards that
    /// ran the runner; its exit code, signal, hint and logs are the first of them's), each
    /// `K/N`, or that shard run's id when it had no shard number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<String>,
    /// When none of its collect patterns matched a file: files of the workspace whose first
    /// bytes are a test report (paths as the patterns are written, at most five), so the
    /// messages can say where the reports are.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
}

impl RunnerResult {
    /// Where the test reports seem to be, when the patterns found none: `` `a.xml` ``,
    /// `` `a.xml`, `b.xml` and 3 more ``; `None` when nothing was found.
    pub fn candidates_shown(&self) -> Option<String> {
        const NAMED: usize = 2;
        if self.candidates.is_empty() {
            return None;
        }
        let named = self
            .candidates
            .iter()
            .take(NAMED)
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        Some(match self.candidates.len().saturating_sub(NAMED) {
            0 => named,
            more => format!("{named} and {more} more"),
        })
    }

    /// The collect patterns of this runner that matched no file, as written
    /// (`` `**/junit*.xml`, `out/*.trx` ``), or `None` when every pattern matched one.
    pub fn unmatched_shown(&self) -> Option<String> {
        let patterns: Vec<String> = self
            .warnings
            .iter()
            .filter(|w| w.message == NO_MATCH)
            .map(|w| format!("`{}`", w.file))
            .collect();
        (!patterns.is_empty()).then(|| patterns.join(", "))
    }

    /// The runner as a reader is told about it: `` `pytest` ``, and in a merged run
    /// `` `pytest` in shard 3/4 `` (the shards its status comes from).
    pub fn shown(&self) -> String {
        match self.shards_shown() {
            Some(s) => format!("`{}` {s}", self.id),
            None => format!("`{}`", self.id),
        }
    }

    /// `in shard 3/4`, `in shards 1/4, 3/4`, at most four named (`and 2 more`); `None`
    /// outside a merged run.
    pub fn shards_shown(&self) -> Option<String> {
        const NAMED: usize = 4;
        let (first, rest) = match self.shards.as_slice() {
            [] => return None,
            [one] => return Some(format!("in shard {one}")),
            all if all.len() > NAMED => all.split_at(NAMED),
            all => (all, &[][..]),
        };
        let more = if rest.is_empty() {
            String::new()
        } else {
            format!(" and {} more", rest.len())
        };
        Some(format!("in shards {}{more}", first.join(", ")))
    }
}

/// A per-runner limit (`verify.limits` in config.json, `limits` of a plugin runner).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// `memory_mb`: a cgroup v2 `memory.max`, or `RLIMIT_AS` where no cgroup can be made.
    Memory,
    /// `cpu_time_sec`: `RLIMIT_CPU`, CPU seconds per process.
    CpuTime,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Memory => "memory",
            LimitKind::CpuTime => "cpu_time",
        }
    }
}

/// verify.json's record of a runner's limits.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RunnerLimits {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// How the memory limit was enforced: `cgroup` (cgroup v2 `memory.max`, resident memory
    /// of the whole runner) or `rlimit_as` (address space of each process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_via: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_time_sec: Option<u64>,
    /// Bytes kept per log stream (head + tail); absent = logs kept whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_max_bytes: Option<u64>,
    /// The limit that stopped the runner (status `limit_exceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exceeded: Option<LimitKind>,
    /// Bytes of stdout.log / stderr.log cut from the middle (the log says where).
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub stdout_cut_bytes: u64,
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub stderr_cut_bytes: u64,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// Overall status of a run.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every runner passed.
    Passed,
    /// At least one runner did not pass.
    Failed,
    /// codeloop was stopped before the runners finished.
    Interrupted,
}

/// A CI shard (`--shard K/N`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub total: u32,
}

/// `K/N`, as `--shard` takes it.
impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.total)
    }
}

/// verify.json
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct VerifyDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    /// The directory runners ran in (absolute).
    pub cwd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    pub runners: Vec<RunnerResult>,
    pub totals: Counts,
    #[serde(default)]
    pub lint: LintCounts,
    /// The slowest tests across all runners, slowest first.
    #[serde(default)]
    pub slowest: Vec<SlowTest>,
}

/// What kind of problem diagnose found.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    BuildError,
    Crash,
    Timeout,
    TestFailure,
    TestError,
    Flaky,
    Lint,
    NoResults,
    Blocked,
    Unavailable,
    ParseError,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::BuildError => "build_error",
            Category::Crash => "crash",
            Category::Timeout => "timeout",
            Category::TestFailure => "test_failure",
            Category::TestError => "test_error",
            Category::Flaky => "flaky",
            Category::Lint => "lint",
            Category::NoResults => "no_results",
            Category::Blocked => "blocked",
            Category::Unavailable => "unavailable",
            Category::ParseError => "parse_error",
        }
    }
}

/// A repo-relative source location.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    /// Repo-relative path with `/` separators.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// Whether the file exists in the workspace (checked by the diagnose command, not the
    /// pure core). `None` when not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exists: Option<bool>,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        Ok(())
    }
}

/// One problem: a failing test, a lint error, a runner that did not run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Problem {
    /// Stable id within the run (`p1`, `p2`, ...).
    pub id: String,
    pub category: Category,
    pub runner: String,
    /// `Case::key()` for test problems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// Assertion message and the lines around the user's frame, bounded.
    #[serde(default)]
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    pub severity: Severity,
    /// Set for a suite that did not run to its end, to how it ended ([`SuiteError::kind`]:
    /// `load`, `bailout`, `hook`, `plan`, `suite`, `build`): its tests never ran, so no test
    /// key stands for it, and the gate's `suite_errors` rule reads it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite_error: Option<String>,
}

/// One root cause to fix; folds problems that share it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RepairTask {
    pub id: String,
    pub category: Category,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default)]
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<String>,
    /// Ids of the problems this task covers.
    pub problems: Vec<String>,
    /// Test keys covered (for display: "and 39 more tests").
    #[serde(default)]
    pub tests: Vec<String>,
}

impl RepairTask {
    /// The tests this task stands for, in order: each key once (the same test in two
    /// reports is one), and not a Go parent that failed only for its subtest (`TestX` beside
    /// `TestX/case`, folded into the subtest's task). What its title counts and the comment
    /// lists.
    pub fn failing_tests(&self) -> Vec<&String> {
        let sorted: std::collections::BTreeSet<&str> =
            self.tests.iter().map(String::as_str).collect();
        let parent = |k: &str| {
            let prefix = format!("{k}/");
            sorted
                .range(prefix.as_str()..)
                .next()
                .is_some_and(|c| c.starts_with(&prefix))
        };
        let mut seen = std::collections::HashSet::new();
        self.tests
            .iter()
            .filter(|k| !parent(k) && seen.insert(k.as_str()))
            .collect()
    }
}

/// diagnose.json
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct DiagnoseDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub problems: Vec<Problem>,
    pub tasks: Vec<RepairTask>,
    /// Problems left out of `problems` to bound the file (they are all in cases.jsonl).
    #[serde(default)]
    pub truncated: u64,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Fail,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
        }
    }
}

/// One weighted part of the score.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ScoreComponent {
    pub name: String,
    pub weight: f64,
    /// 0.0..=1.0
    pub value: f64,
    /// Points this component adds to the 0–100 score.
    pub points: f64,
    pub explanation: String,
}

/// One rule's verdict.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct RuleResult {
    pub rule: String,
    pub passed: bool,
    /// The configured limit, as text (`80`, `0`, `["build", "test"]`).
    pub limit: String,
    pub actual: String,
    pub reason: String,
}

/// Differences against a baseline run.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score_change: Option<f64>,
    pub new_failures: Vec<String>,
    pub fixed: Vec<String>,
    pub still_failing: Vec<String>,
    /// Failing now, but the baseline's list of failures was cut (a comment's hidden state or
    /// a gate.json over their caps) and does not say whether they failed before: never
    /// counted as new.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
    #[serde(default)]
    pub tests_added: u64,
    #[serde(default)]
    pub tests_removed: u64,
    #[serde(default)]
    pub counts_before: Option<Counts>,
}

/// gate.json
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GateDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub verdict: Verdict,
    /// 0–100, rounded to one decimal.
    pub score: f64,
    pub components: Vec<ScoreComponent>,
    pub rules: Vec<RuleResult>,
    /// Plain-words reasons for the verdict, most important first.
    pub reasons: Vec<String>,
    pub counts: Counts,
    #[serde(default)]
    pub lint: LintCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<Delta>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_escape_finds_every_byte_json_escapes_at_every_position() {
        // Up to three 16-byte windows, the last overlapping the one before.
        for len in 1..50 {
            for pos in 0..len {
                for bad in [0x00, 0x01, 0x1f, b'"', b'\\'] {
                    let mut v = vec![b'a'; len];
                    v[pos] = bad;
                    assert!(needs_escape(&v), "{v:?}");
                }
                for good in [
                    0x20, b'!', b'#', b'[', b']', 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
                ] {
                    let mut v = vec![b'a'; len];
                    v[pos] = good;
                    assert!(!needs_escape(&v), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn write_json_is_serde_json_byte_for_byte() {
        let texts = [
            "",
            "plain name",
            "exactly8",
            "quote \" inside",
            "back\\slash",
            "tab\tnew\nline\r\u{1}\u{1f}\u{7f}",
            "unicode ● · é 日本 😀 \u{2028}",
            "a long name that is longer than eight bytes with a \" late",
            "1234567\"",
        ];
        let mut n = 0;
        for (i, t) in texts.iter().enumerate() {
            for status in [
                Status::Passed,
                Status::Failed,
                Status::Errored,
                Status::Skipped,
            ] {
                n += 1;
                let mut c = Case::new(*t, status);
                if n % 2 == 0 {
                    c.runner = format!("r{t}");
                }
                if n % 3 != 0 {
                    c.suite = (0..n % 4).map(|k| format!("{t}{k}")).collect();
                }
                c.classname = (n % 5 != 1).then(|| texts[(i + 1) % texts.len()].to_string());
                c.file = (n % 2 == 1).then(|| format!("src/{t}.rs"));
                c.line = (n % 3 == 1).then_some(n as u32 * 97);
                c.flaky = n % 4 == 0;
                c.retries = (n % 3) as u32;
                c.duration = [
                    None,
                    Some(0.0),
                    Some(0.001),
                    Some(1e-7),
                    Some(123.456),
                    Some(f64::NAN),
                ][n % 6];
                c.failure = match n % 4 {
                    0 => None,
                    1 => Some(Failure::default()),
                    2 => Some(Failure {
                        message: Some(t.to_string()),
                        ..Default::default()
                    }),
                    _ => Some(Failure {
                        kind: Some("Err\"or".into()),
                        message: Some(t.to_string()),
                        trace: Some(format!("at {t}\n  at x")),
                    }),
                };
                c.output = (n % 5 == 0).then(|| t.to_string());
                c.skip_reason = (status == Status::Skipped).then(|| t.to_string());
                let mut ours = Vec::new();
                c.write_json(&mut ours);
                let theirs = serde_json::to_vec(&c).unwrap();
                assert_eq!(
                    String::from_utf8_lossy(&ours),
                    String::from_utf8_lossy(&theirs)
                );
            }
        }
    }

    #[test]
    fn case_id_prefers_classname_then_suite() {
        let mut c = Case::new("adds", Status::Passed);
        assert_eq!(c.id(), "adds");
        c.suite = vec!["math".into(), "add".into()];
        assert_eq!(c.id(), "math / add::adds");
        c.classname = Some("tests.test_math".into());
        assert_eq!(c.id(), "tests.test_math::adds");
        c.runner = "pytest".into();
        assert_eq!(c.key(), "pytest::tests.test_math::adds");
        c.classname = Some("adds".into());
        assert_eq!(c.id(), "adds");
    }

    #[test]
    fn counts_keep_the_invariant() {
        let mut n = Counts::default();
        for (s, f) in [
            (Status::Passed, false),
            (Status::Passed, true),
            (Status::Failed, false),
            (Status::Errored, false),
            (Status::Skipped, false),
        ] {
            n.add_case(s, f);
        }
        assert_eq!(n.tests, n.passed + n.failed + n.errored + n.skipped);
        assert_eq!((n.passed, n.flaky, n.bad()), (2, 1, 2));
    }

    #[test]
    fn case_serializes_compactly() {
        let c = Case::new("t", Status::Skipped);
        let j = serde_json::to_string(&c).unwrap();
        assert_eq!(j, r#"{"name":"t","status":"skipped"}"#);
    }
}
