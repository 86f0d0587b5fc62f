//! Result-file collection: expands a runner's result paths/globs, refuses paths that escape
//! the workspace, never opens anything but regular files (a FIFO would block, a symlink loop
//! would recurse), copies each file into `runners/<id>/`, and parses it through the parser
//! registry ([`crate::parsers::parse`], the single entry point) while streaming every case to
//! `cases.jsonl` and every finding to `findings.jsonl`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::GlobBuilder;
use walkdir::WalkDir;

pub use crate::artifact::events::JsonlWriter;

/// A consumer of the parse's stream: every case and finding, in file order (called under
/// the stream's lock, so runners collecting side by side never interleave within a case).
/// cases.jsonl is one ([`CasesTap`]); the pipeline's in-memory run (`pipeline::digest`)
/// follows it when the later stages run in the same process.
pub trait Tap: Send {
    fn case(&mut self, case: &Case);
    /// A case borrowed from where it was read (the packed batches a threaded tap hands its
    /// consumer): taps that only read a case take it as it is; the others get it owned.
    fn case_view(&mut self, case: &CaseView<'_>) {
        self.case(&case.to_case());
    }
    fn finding(&mut self, finding: &Finding);
}

/// cases.jsonl as a consumer of the stream: each case is written, then handed to `next`
/// (the pipeline's in-memory run), in the same order. Run on a worker thread (the pipeline
/// wraps it in `pipeline::digest::ThreadedTap`), a million cases are serialized beside the
/// parse instead of on its thread. Dropped, it gives its writer back through the slot
/// [`CasesTap::new`] returned, to be finished (flushed, hashed, its error read) by the run.
pub struct CasesTap {
    cases: Option<JsonlWriter>,
    next: Option<Box<dyn Tap>>,
    back: Arc<Mutex<Option<JsonlWriter>>>,
}

/// Where a dropped [`CasesTap`] leaves its writer.
pub type CasesBack = Arc<Mutex<Option<JsonlWriter>>>;

impl CasesTap {
    pub fn new(cases: JsonlWriter, next: Option<Box<dyn Tap>>) -> (CasesTap, CasesBack) {
        let back = CasesBack::default();
        let tap = CasesTap {
            cases: Some(cases),
            next,
            back: back.clone(),
        };
        (tap, back)
    }
}

impl Tap for CasesTap {
    fn case(&mut self, case: &Case) {
        if let Some(w) = self.cases.as_mut() {
            w.write_case(case);
        }
        if let Some(t) = self.next.as_mut() {
            t.case(case);
        }
    }
    fn case_view(&mut self, case: &CaseView<'_>) {
        if let Some(w) = self.cases.as_mut() {
            w.write_case_view(case);
        }
        if let Some(t) = self.next.as_mut() {
            t.case_view(case);
        }
    }
    fn finding(&mut self, finding: &Finding) {
        if let Some(t) = self.next.as_mut() {
            t.finding(finding);
        }
    }
}

impl Drop for CasesTap {
    fn drop(&mut self) {
        // The next consumer first: it has seen every case once this returns.
        drop(self.next.take());
        let Some(mut w) = self.cases.take() else {
            return;
        };
        if std::thread::panicking() {
            // Dropped by a panic on its thread: the cases after it never reached the file,
            // and the run must not pass that off as complete.
            w.error.get_or_insert_with(|| {
                format!(
                    "`{}` is incomplete: the thread writing it stopped on an internal error",
                    w.path.display()
                )
            });
        }
        let mut slot = self.back.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(w);
    }
}

use crate::model::{
    Case, CaseView, Counts, Finding, LintCounts, ParseIssue, Position, ResultFile, SlowTest,
    SuiteError,
};
use crate::parsers::{self, Collector, Format, LazyCase, Outcome, ParseOptions, Sink};

/// Where result files may come from, and where they go.
pub struct Ctx<'a> {
    /// The workspace (absolute, normalized): relative patterns start here.
    pub cwd: &'a Path,
    /// Roots a pattern may point into (the workspace, and the run directory for runners).
    pub allowed: &'a [PathBuf],
    /// Directories a `**` walk never enters (the artifacts dir: old runs hold old copies).
    pub exclude: &'a [PathBuf],
    pub runner_id: &'a str,
    pub runner_dir: &'a Path,
    pub format: Option<Format>,
    pub opts: &'a ParseOptions,
    /// Every case and finding: cases.jsonl and what follows it (see [`Tap`], [`CasesTap`]).
    pub stream: &'a Mutex<Box<dyn Tap>>,
    pub findings: &'a Mutex<JsonlWriter>,
}

/// What a runner's result files yielded.
#[derive(Debug, Default)]
pub struct Collected {
    pub files: Vec<ResultFile>,
    pub counts: Counts,
    pub lint: LintCounts,
    pub parse_errors: Vec<ParseIssue>,
    pub warnings: Vec<ParseIssue>,
    pub suite_errors: Vec<SuiteError>,
    pub slowest: Vec<SlowTest>,
    /// Patterns that matched nothing.
    pub unmatched: Vec<String>,
    /// When no pattern matched any file: files in the workspace that look like test
    /// reports (path as the patterns are written, and the format their first bytes show),
    /// so the messages can say where the reports are.
    pub candidates: Vec<(String, Format)>,
}

/// Lexical normalization: resolves `.` and `..` without touching the disk.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '[', '{'])
}

/// Directories of installed dependencies: a wildcard walks past them unless the pattern
/// names them (`node_modules/pkg/junit.xml`, `vendor/**/*.xml`). Packages ship their own
/// test reports and fixtures, which are not the project's results.
pub const DEPENDENCY_DIRS: &[&str] = &[
    "node_modules",
    "bower_components",
    "site-packages",
    "dist-packages",
    ".venv",
    "venv",
    ".tox",
    "vendor",
];

/// Expands one pattern to regular files, sorted. Errors are user-facing sentences.
pub fn expand(pattern: &str, ctx: &Ctx<'_>) -> Result<Vec<PathBuf>, String> {
    expand_with_skips(pattern, ctx).map(|(files, _)| files)
}

/// A path a pattern matched that is not read, and why.
pub type Skipped = (PathBuf, String);

/// Like [`expand`], and also what the pattern matched but will not be read, each with the
/// reason (a FIFO would block the run, a symlink loop or a link out of the workspace is
/// refused): silently dropping them would leave the user wondering where a report went.
pub fn expand_with_skips(
    pattern: &str,
    ctx: &Ctx<'_>,
) -> Result<(Vec<PathBuf>, Vec<Skipped>), String> {
    let raw = Path::new(pattern);
    let abs = normalize(&if raw.is_absolute() {
        raw.to_path_buf()
    } else {
        ctx.cwd.join(raw)
    });
    if !ctx.allowed.iter().any(|root| abs.starts_with(root)) {
        return Err(format!(
            "`{pattern}` points outside the workspace `{}`; only files inside it are collected",
            ctx.cwd.display()
        ));
    }
    // The literal directory prefix before the first component with glob characters.
    let mut base = PathBuf::new();
    let mut globbed = false;
    for c in abs.components() {
        let s = c.as_os_str().to_string_lossy();
        if has_meta(&s) {
            globbed = true;
            break;
        }
        base.push(c.as_os_str());
    }
    if !globbed {
        // A path that does not exist matched nothing, like a glob that finds no file: the
        // runner's message says what that means (a report never written, a wrong path), and
        // the workspace's report-like files are looked for. A dangling symlink is not "no
        // file": it is refused with its own reason.
        if std::fs::symlink_metadata(&abs).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            return Ok((Vec::new(), Vec::new()));
        }
        return match regular_file(&abs, ctx) {
            Ok(()) => Ok((vec![abs], Vec::new())),
            Err(e) => Err(e),
        };
    }
    let matcher = GlobBuilder::new(&abs.to_string_lossy())
        .literal_separator(true)
        .build()
        .map_err(|e| format!("`{pattern}` is not a valid glob: {e}"))?
        .compile_matcher();
    let mut found = BTreeSet::new();
    // Dependency directories the pattern does not name are not walked: `**/junit*.xml` in a
    // JavaScript or Python project must not count a package's own test fixtures.
    let named: Vec<&str> = pattern.split(['/', '\\']).collect();
    let walker = WalkDir::new(&base)
        .follow_links(false)
        .max_depth(64)
        .into_iter()
        .filter_entry(|e| {
            let p = e.path();
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir()
                && p != base
                && (name == ".git"
                    || (DEPENDENCY_DIRS.contains(&name.as_ref())
                        && !named.contains(&name.as_ref()))
                    || ctx.exclude.iter().any(|x| p == x && !base.starts_with(x))))
        });
    let mut skipped = Vec::new();
    for entry in walker.flatten() {
        let p = entry.path();
        if !matcher.is_match(p) {
            continue;
        }
        let ft = entry.file_type();
        if ft.is_file() {
            found.insert(p.to_path_buf());
        } else if ft.is_symlink() {
            match regular_file(p, ctx) {
                Ok(()) => {
                    found.insert(p.to_path_buf());
                }
                // A link to a directory is a directory: walked past, like one.
                Err(_) if p.is_dir() => {}
                Err(e) => skipped.push((p.to_path_buf(), e)),
            }
        } else if !ft.is_dir() {
            skipped.push((
                p.to_path_buf(),
                format!(
                    "`{}` matched `{pattern}` but is not a regular file (a FIFO, socket or \
                     device); it is skipped",
                    p.display()
                ),
            ));
        }
    }
    skipped.sort();
    Ok((found.into_iter().collect(), skipped))
}

/// Checks that `p` is (or links to) a regular file inside the allowed roots.
fn regular_file(p: &Path, ctx: &Ctx<'_>) -> Result<(), String> {
    let meta = std::fs::metadata(p).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => format!("`{}` is a symlink loop", p.display()),
        _ if e.kind() == std::io::ErrorKind::NotFound => {
            format!("`{}` does not exist", p.display())
        }
        _ => format!("cannot read `{}`: {e}", p.display()),
    })?;
    if !meta.is_file() {
        return Err(format!(
            "`{}` is not a regular file (a directory, FIFO or device); it is skipped",
            p.display()
        ));
    }
    if std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink()) {
        let real = std::fs::canonicalize(p).map_err(|e| format!("`{}`: {e}", p.display()))?;
        let inside = ctx.allowed.iter().any(|root| {
            real.starts_with(root) || std::fs::canonicalize(root).is_ok_and(|r| real.starts_with(r))
        });
        if !inside {
            return Err(format!(
                "`{}` is a symlink to `{}`, outside the workspace; it is skipped",
                p.display(),
                real.display()
            ));
        }
    }
    Ok(())
}

/// The display path of a file: relative to the workspace when inside it.
pub fn display_path(p: &Path, cwd: &Path) -> String {
    p.strip_prefix(cwd)
        .map(|r| r.to_string_lossy().into_owned())
        .unwrap_or_else(|_| p.to_string_lossy().into_owned())
}

/// Tags what a parser finds with the runner id and streams findings to findings.jsonl.
struct Tag<'a, 'b> {
    inner: &'a mut Collector<'b>,
    runner: &'a str,
    findings: &'a Mutex<JsonlWriter>,
    stream: &'a Mutex<Box<dyn Tap>>,
    /// A borrowed case copied here to carry the runner id (its strings keep their capacity).
    scratch: Case,
}

impl Sink for Tag<'_, '_> {
    fn case(&mut self, mut case: Case) {
        case.runner = self.runner.to_string();
        self.inner.case(case);
    }
    fn case_ref(&mut self, case: &Case) {
        self.scratch.clone_from(case);
        self.scratch.runner.clear();
        self.scratch.runner.push_str(self.runner);
        self.inner.case_ref(&self.scratch);
    }
    fn case_lazy(&mut self, outcome: Outcome, case: &mut dyn LazyCase) {
        // The parser's refilled case gets the runner id in place: no copy per passing test.
        self.inner.case_lazy(
            outcome,
            &mut WithRunner {
                inner: case,
                runner: self.runner,
            },
        );
    }
    fn finding(&mut self, mut f: Finding) {
        f.runner = self.runner.to_string();
        if let Ok(mut w) = self.findings.lock() {
            w.write(&f);
            // Under the findings lock, so the stream sees them in findings.jsonl's order.
            if let Ok(mut t) = self.stream.lock() {
                t.finding(&f);
            }
        }
        self.inner.finding(f);
    }
    fn suite_error(&mut self, mut e: SuiteError) {
        e.runner = self.runner.to_string();
        self.inner.suite_error(e);
    }
    fn warning(&mut self, position: Option<Position>, message: String) {
        self.inner.warning(position, message);
    }
}

/// A lazy case that carries the runner id once it is built.
struct WithRunner<'a, 'b> {
    inner: &'a mut dyn LazyCase,
    runner: &'b str,
}

impl LazyCase for WithRunner<'_, '_> {
    fn case(&mut self) -> &mut Case {
        let c = self.inner.case();
        if c.runner != self.runner {
            c.runner.clear();
            c.runner.push_str(self.runner);
        }
        c
    }
}

/// Collects every file matched by `patterns` (already interpolated).
pub fn collect(patterns: &[String], ctx: &Ctx<'_>) -> Collected {
    let mut out = Collected::default();
    let mut seen = BTreeSet::new();
    for pat in patterns {
        match expand_with_skips(pat, ctx) {
            Ok((files, skipped)) => {
                for (p, message) in skipped {
                    if seen.insert(p.clone()) {
                        out.warnings.push(ParseIssue {
                            missing: false,
                            shard: None,
                            file: display_path(&p, ctx.cwd),
                            position: None,
                            message,
                        });
                    }
                }
                if files.is_empty() {
                    out.unmatched.push(pat.clone());
                }
                for f in files {
                    if seen.insert(f.clone()) {
                        collect_one(&f, ctx, &mut out);
                    }
                }
            }
            Err(message) => out.parse_errors.push(ParseIssue {
                missing: false,
                shard: None,
                file: pat.clone(),
                position: None,
                message,
            }),
        }
    }
    out.slowest
        .sort_by(|a, b| b.duration.total_cmp(&a.duration));
    out.slowest.truncate(parsers::collect::SLOWEST_N);
    if out.files.is_empty() && !out.unmatched.is_empty() {
        out.candidates = report_like_files(ctx, CANDIDATES_MAX);
    }
    out
}

/// Report-like files named when no pattern matched.
pub const CANDIDATES_MAX: usize = 5;
/// Entries a search for report-like files looks at, at most (a monorepo's walk stays short:
/// this only runs when nothing was collected).
const CANDIDATES_WALK: usize = 20_000;

/// Files under the workspace whose first bytes are a test report of a known format, in path
/// order, at most `max`: what a pattern that matched nothing probably meant. Dependency and
/// tool directories (`node_modules`, virtualenvs, hidden directories, the artifacts dir with
/// old runs' copies) are not searched; build output (`target/`, `build/`) is, since test
/// reports live there.
pub fn report_like_files(ctx: &Ctx<'_>, max: usize) -> Vec<(String, Format)> {
    const SKIP: &[&str] = &["__pycache__"];
    const EXTENSIONS: &[&str] = &["xml", "trx", "json", "jsonl", "ndjson", "tap"];
    let root = ctx.cwd;
    let walker = WalkDir::new(root)
        .follow_links(false)
        .max_depth(10)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy();
            !(e.file_type().is_dir()
                && e.depth() > 0
                && (name.starts_with('.')
                    || SKIP.contains(&name.as_ref())
                    || DEPENDENCY_DIRS.contains(&name.as_ref())
                    || ctx.exclude.iter().any(|x| e.path() == x)))
        });
    let mut found = Vec::new();
    for entry in walker.take(CANDIDATES_WALK).flatten() {
        if found.len() >= max {
            break;
        }
        if !entry.file_type().is_file() {
            continue;
        }
        let path = entry.path();
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if !EXTENSIONS.contains(&ext.as_str()) {
            continue;
        }
        let mut head = Vec::with_capacity(4096);
        let read = std::fs::File::open(path)
            .and_then(|f| std::io::Read::read_to_end(&mut std::io::Read::take(f, 4096), &mut head));
        if read.is_err() {
            continue;
        }
        let head = parsers::input::head_to_utf8(&head);
        let name = entry.file_name().to_string_lossy();
        if let Some(f) = parsers::sniff(&head, &name)
            && f.kind() == parsers::FormatKind::Tests
        {
            found.push((display_path(path, root), f));
        }
    }
    found
}

fn collect_one(path: &Path, ctx: &Ctx<'_>, out: &mut Collected) {
    let shown = display_path(path, ctx.cwd);
    let mut rf = ResultFile {
        path: shown.clone(),
        ..Default::default()
    };
    // Keep a copy in runners/<id>/ unless the runner wrote it into the run directory already.
    let run_dir = ctx
        .runner_dir
        .parent()
        .and_then(Path::parent)
        .unwrap_or(ctx.runner_dir);
    // Where the kept copy goes: none when the runner wrote the file into the run directory.
    let dest = if let Ok(rel) = path.strip_prefix(run_dir) {
        rf.copy = Some(rel.to_string_lossy().into_owned());
        None
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "result".into());
        let mut dest = ctx.runner_dir.join(&name);
        let mut n = 2;
        while dest.exists() {
            dest = ctx.runner_dir.join(format!("{n}-{name}"));
            n += 1;
        }
        Some(dest)
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            out.parse_errors.push(ParseIssue {
                missing: false,
                shard: None,
                file: shown,
                position: None,
                message: format!("cannot open: {e}"),
            });
            return;
        }
    };
    rf.bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    // One read of the file: the parser reads it through the redactor while the copy (the
    // evidence others download, so redacted too) is written and hashed on a worker thread;
    // a file already in the run is hashed as the parser reads it. The manifest needs both
    // sha256s, and neither file is read again.
    let generation = crate::redact::generation();
    let redactor = crate::redact::current();
    let mut copy_error = None;
    let mut reading = match &dest {
        Some(d) => match File::create(d).and_then(|f| crate::artifact::CopyOut::new(f, rf.bytes)) {
            Ok(w) => Reading::Copying(crate::redact::fs::RedactTee::new(&redactor, file, w)),
            Err(e) => {
                copy_error = Some(e);
                Reading::Hashing(crate::artifact::Hashing::new(file))
            }
        },
        None => Reading::Hashing(crate::artifact::Hashing::new(file)),
    };
    let runner = ctx.runner_id;
    let stream = ctx.stream;
    let mut col = Collector::with_hook(move |c: &Case| {
        if let Ok(mut t) = stream.lock() {
            t.case(c);
        }
    });
    let result = {
        let mut sink = Tag {
            inner: &mut col,
            runner,
            findings: ctx.findings,
            stream: ctx.stream,
            scratch: Case::default(),
        };
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        parsers::parse(
            BufReader::with_capacity(256 * 1024, &mut reading),
            &name,
            ctx.format,
            ctx.opts,
            &mut sink,
        )
    };
    // A parser that stopped early (an error) left the rest unread: the copy and the hash
    // take it too.
    match reading {
        Reading::Copying(tee) => {
            let d = dest.as_deref().unwrap_or(path);
            match tee.finish().and_then(|(w, _)| w.finish()) {
                Ok(h) => {
                    crate::artifact::record_hash(d, h.bytes, h.sha256());
                    crate::redact::fs::mark_redacted(d, generation);
                    rf.copy = Some(format!(
                        "{}/{}/{}",
                        crate::artifact::RUNNERS_DIR,
                        ctx.runner_id,
                        d.file_name().unwrap_or_default().to_string_lossy()
                    ));
                }
                Err(e) => copy_error = Some(e),
            }
        }
        Reading::Hashing(mut h) => {
            if dest.is_none() && std::io::copy(&mut h, &mut std::io::sink()).is_ok() {
                crate::artifact::record_hash(path, h.bytes, h.sha256());
            }
        }
    }
    if let (Some(e), Some(d)) = (copy_error, &dest) {
        // A copy cut short (disk full) must not sit in the run as if it were whole.
        let _ = std::fs::remove_file(d);
        out.warnings.push(ParseIssue {
            missing: false,
            shard: None,
            file: shown.clone(),
            position: None,
            message: format!("could not keep a copy in the run directory: {e}"),
        });
    }
    match result {
        Ok(p) => {
            rf.format = Some(p.format.name().to_string());
            rf.ok = true;
        }
        Err(e) => {
            rf.format = ctx.format.map(|f| f.name().to_string());
            out.parse_errors.push(e.into_issue(&shown));
        }
    }
    rf.counts = col.counts;
    rf.lint = col.lint;
    out.counts.add(&col.counts);
    out.lint.add(&col.lint);
    out.slowest.extend(col.slowest());
    // A whole-file error (a TAP bail-out, a plan cut short) names no suite: the file is
    // what the reader knows it by.
    for e in &mut col.suite_errors {
        if e.suite.is_empty() {
            e.suite.clone_from(&shown);
        }
    }
    out.suite_errors.append(&mut col.suite_errors);
    for (position, message) in col.warnings.drain(..) {
        out.warnings.push(ParseIssue {
            missing: false,
            shard: None,
            file: shown.clone(),
            position,
            message,
        });
    }
    if col.warnings_dropped > 0 {
        out.warnings.push(ParseIssue {
            missing: false,
            shard: None,
            file: shown.clone(),
            position: None,
            message: format!("{} more warnings not shown", col.warnings_dropped),
        });
    }
    out.files.push(rf);
}

/// How a result file is read: copied into the run as it is parsed, or (in the run already,
/// or when no copy can be written) hashed.
enum Reading<'r> {
    Copying(crate::redact::fs::RedactTee<'r, File, crate::artifact::CopyOut>),
    Hashing(crate::artifact::Hashing<File>),
}

impl std::io::Read for Reading<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Reading::Copying(t) => t.read(buf),
            Reading::Hashing(h) => h.read(buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ctx<R>(root: &Path, f: impl FnOnce(&Ctx<'_>) -> R) -> R {
        let cases = JsonlWriter::create(&root.join("cases.jsonl")).unwrap();
        let stream: Mutex<Box<dyn Tap>> = Mutex::new(Box::new(CasesTap::new(cases, None).0));
        let findings = Mutex::new(JsonlWriter::create(&root.join("findings.jsonl")).unwrap());
        let ws = root.join("ws");
        let rd = root.join("ws/.codeloop/runs/R/runners/r");
        std::fs::create_dir_all(&rd).unwrap();
        let allowed = [ws.clone()];
        let exclude = [ws.join(".codeloop")];
        let opts = ParseOptions::default();
        let ctx = Ctx {
            cwd: &ws,
            allowed: &allowed,
            exclude: &exclude,
            runner_id: "r",
            runner_dir: &rd,
            format: None,
            opts: &opts,
            stream: &stream,
            findings: &findings,
        };
        f(&ctx)
    }

    #[test]
    fn escaping_paths_are_refused() {
        let d = tempfile::tempdir().unwrap();
        with_ctx(d.path(), |ctx| {
            let e = expand("../outside/*.xml", ctx).unwrap_err();
            assert!(e.contains("outside the workspace"), "{e}");
            assert!(expand("/etc/passwd", ctx).is_err());
        });
    }

    #[test]
    fn globs_skip_fifos_loops_and_the_artifacts_dir() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir_all(ws.join("a/b")).unwrap();
        std::fs::write(ws.join("a/one.xml"), "<x/>").unwrap();
        std::fs::write(ws.join("a/b/two.xml"), "<x/>").unwrap();
        std::os::unix::fs::symlink(ws.join("a"), ws.join("a/b/loop")).unwrap();
        std::os::unix::fs::symlink(ws.join("self.xml"), ws.join("self.xml")).unwrap();
        let fifo = std::ffi::CString::new(ws.join("a/pipe.xml").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        with_ctx(d.path(), |ctx| {
            std::fs::write(ctx.runner_dir.join("old.xml"), "<x/>").unwrap();
            let got = expand("**/*.xml", ctx).unwrap();
            let rel: Vec<_> = got.iter().map(|p| display_path(p, ctx.cwd)).collect();
            assert_eq!(rel, ["a/b/two.xml", "a/one.xml"]);
            // What the glob matched but skips is named, with the reason.
            let (_, skipped) = expand_with_skips("**/*.xml", ctx).unwrap();
            let why: Vec<_> = skipped
                .iter()
                .map(|(p, e)| (display_path(p, ctx.cwd), e.as_str()))
                .collect();
            assert_eq!(why.len(), 2, "{why:?}");
            assert!(
                why[0].0 == "a/pipe.xml" && why[0].1.contains("FIFO"),
                "{why:?}"
            );
            assert!(
                why[1].0 == "self.xml" && why[1].1.contains("loop"),
                "{why:?}"
            );
            assert!(
                expand("a/pipe.xml", ctx)
                    .unwrap_err()
                    .contains("not a regular file")
            );
            assert!(
                expand("self.xml", ctx)
                    .unwrap_err()
                    .contains("symlink loop")
            );
        });
    }

    #[test]
    fn unparseable_file_is_a_parse_error_and_collection_goes_on() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("ws");
        std::fs::create_dir_all(&ws).unwrap();
        std::fs::write(ws.join("bad.txt"), "hello, I am not a report\n").unwrap();
        with_ctx(d.path(), |ctx| {
            let c = collect(&["bad.txt".into(), "missing/*.xml".into()], ctx);
            assert_eq!(c.parse_errors.len(), 1);
            assert_eq!(c.parse_errors[0].file, "bad.txt");
            assert_eq!(c.unmatched, ["missing/*.xml"]);
            assert_eq!(c.files.len(), 1);
            assert_eq!(c.files[0].copy.as_deref(), Some("runners/r/bad.txt"));
            assert!(ctx.runner_dir.join("bad.txt").is_file());
        });
    }
}
