//! The in-memory run: one consumer of the parse's stream of cases and findings (a
//! [`Tap`] beside cases.jsonl) that keeps only what the later stages need — the failing and
//! flaky cases for diagnose, the test-key hashes for a baseline, the report's bounded
//! [`CaseDigest`], the first flaky tests for the HTML page — and feeds the JUnit writer,
//! which spools each case to disk at once. Memory grows with failures, not with the run.
//!
//! The report stage run alone fills the same digest from cases.jsonl, so both paths render
//! from one value.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::junit::FileSpool;
use crate::artifact::ArtifactError;
use crate::model::{Case, CaseView, FailureView, Finding, Status};
use crate::report::CaseDigest;
use crate::report::html::FlakyTest;
use crate::report::junit::JunitOut;
use crate::runners::collect::Tap;

/// Flaky tests listed on the HTML page.
pub const FLAKY_MAX: usize = 50;

/// What the stages after verify need of the run's cases.
#[derive(Default)]
pub struct Digest {
    /// Failing and flaky cases, in cases.jsonl order (diagnose; only when asked).
    pub problems: Option<Vec<Case>>,
    /// Findings, in findings.jsonl order.
    pub findings: Vec<Finding>,
    /// Hashes of every test key (a regression gate's baseline comparison; only when asked).
    pub tests: Option<crate::gate::KeySet>,
    pub cases: CaseDigest,
    pub flaky: Vec<FlakyTest>,
    pub junit: Option<JunitOut<FileSpool>>,
    /// report/junit.xml being assembled from the spools on its own thread (started by
    /// [`Digest::write_junit_behind`] while diagnose runs), or why no thread could take
    /// it; the report stage joins it.
    pub junit_behind: Option<Result<PendingWrite, ArtifactError>>,
}

/// A file being written on its own thread. Dropped without [`PendingWrite::join`] (the run
/// stopped before the stage that owns the file), it waits for the thread and removes the
/// file: nothing is left half-written, and the run directory holds only what its stages
/// wrote and recorded in the manifest.
pub struct PendingWrite {
    path: PathBuf,
    handle: Option<JoinHandle<Result<u64, ArtifactError>>>,
}

impl PendingWrite {
    /// Bytes written, or why not.
    pub fn join(mut self) -> Result<u64, ArtifactError> {
        self.wait()
    }

    fn wait(&mut self) -> Result<u64, ArtifactError> {
        let failed = |why: &str| ArtifactError::Write {
            path: self.path.clone(),
            source: std::io::Error::other(why.to_string()),
        };
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err(failed("the writer thread panicked"))),
            None => Err(failed("already joined")),
        }
    }
}

impl Drop for PendingWrite {
    fn drop(&mut self) {
        if self.handle.is_some() && self.wait().is_ok() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Digest {
    pub fn observe(&mut self, c: &Case) {
        self.observe_view(&c.view());
    }

    pub fn observe_view<T: AsRef<str>>(&mut self, c: &CaseView<'_, T>) {
        if let Some(p) = self.problems.as_mut()
            && (c.status.is_bad() || c.flaky)
        {
            p.push(c.to_case());
        }
        if let Some(t) = self.tests.as_mut() {
            t.insert(crate::gate::case_key_hash(c));
        }
        self.cases.observe_view(c);
        if c.flaky && self.flaky.len() < FLAKY_MAX {
            self.flaky.push(FlakyTest {
                runner: c.runner.to_string(),
                id: c.key(),
                retries: c.retries,
            });
        }
        if let Some(j) = self.junit.as_mut() {
            j.case_view(c);
        }
    }

    pub fn finding(&mut self, f: &Finding) {
        if let Some(j) = self.junit.as_mut() {
            j.finding(f);
        }
        self.findings.push(f.clone());
    }
}

impl Digest {
    /// Starts writing the JUnit document to `path` on its own thread (the second core, while
    /// diagnose and gate run on this one). The report stage takes the result from
    /// `junit_behind`; dropped before that, the write is waited for and its file removed.
    pub fn write_junit_behind(&mut self, path: PathBuf) {
        let Some(j) = self.junit.take() else { return };
        let to = path.clone();
        let handle = std::thread::Builder::new()
            .name("codeloop-junit".into())
            .spawn(move || super::junit::write(&to, j));
        // No thread to be had: the document is lost with the closure, so the report stage
        // reports that where it would report a failed write.
        self.junit_behind = Some(match handle {
            Ok(h) => Ok(PendingWrite {
                path,
                handle: Some(h),
            }),
            Err(e) => Err(ArtifactError::Write { path, source: e }),
        });
    }
}

/// A [`Tap`] filling a [`Digest`] it owns (no lock per case: it runs on one thread, the
/// consumer's), and leaving it in the slot [`DigestTap::new`] returned when dropped — after
/// the last case, since a [`ThreadedTap`] drops its inner tap only when the stream is done.
pub struct DigestTap {
    digest: Digest,
    back: DigestBack,
}

/// Where a dropped [`DigestTap`] leaves its digest: `Err` when a panic dropped it.
#[derive(Clone, Default)]
pub struct DigestBack(Arc<Mutex<Option<Result<Digest, DigestLost>>>>);

/// A digest that did not see the whole stream: its tap was dropped by a panic on its thread
/// (or never dropped), so the cases after that point never reached it. Counts, the report
/// and the gate from it would be wrong while looking right: the stage stops instead.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "the run's in-memory results are incomplete: the thread reading the cases stopped on an internal error{}; nothing was reported from them",
    .0.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
)]
pub struct DigestLost(Option<String>);

impl DigestLost {
    pub const HINT: &str = "this is a bug in codeloop: please report it with the panic message above; the run's files on disk are intact up to that point";
}

impl DigestBack {
    /// The digest, once its tap was dropped whole.
    pub fn take(&self) -> Result<Digest, DigestLost> {
        match self.0.lock() {
            Ok(mut d) => d
                .take()
                .unwrap_or_else(|| Err(DigestLost(Some("it was never finished".into())))),
            Err(_) => Err(DigestLost(None)),
        }
    }
}

impl DigestTap {
    pub fn new(digest: Digest) -> (DigestTap, DigestBack) {
        let back = DigestBack::default();
        let tap = DigestTap {
            digest,
            back: back.clone(),
        };
        (tap, back)
    }
}

impl Drop for DigestTap {
    fn drop(&mut self) {
        // Dropped by a panic on its thread: the cases after it never reached the digest.
        let left = if std::thread::panicking() {
            Err(DigestLost(None))
        } else {
            Ok(std::mem::take(&mut self.digest))
        };
        if let Ok(mut slot) = self.back.0.lock() {
            *slot = Some(left);
        }
    }
}

impl Tap for DigestTap {
    fn case(&mut self, case: &Case) {
        self.digest.observe(case);
    }
    fn case_view(&mut self, case: &CaseView<'_>) {
        self.digest.observe_view(case);
    }
    fn finding(&mut self, finding: &Finding) {
        self.digest.finding(finding);
    }
}

/// Every case of the cases.jsonl at `path`, each read borrowed from its line (in one pass
/// when laid out as written, else by serde: [`crate::merge::CaseLine`]), for the stages run
/// alone: no `Case` is built per line. Returns the unreadable lines, as
/// [`crate::artifact::read_jsonl`] does (a line is readable exactly when it is a `Case`).
pub fn read_case_views(
    path: &std::path::Path,
    mut each: impl FnMut(&CaseView<'_>),
) -> Result<u64, ArtifactError> {
    crate::artifact::read_jsonl_lines(path, |line| {
        let Some(c) = crate::merge::CaseLine::read(line) else {
            return false;
        };
        each(&c.view(&c.suite_parts()));
        true
    })
}

/// Cases handed over per batch (and a byte bound, so batches of long failures stay small).
const BATCH_CASES: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;

/// One batch of the stream: cases packed one after another (see [`Packed`]), and the
/// findings that came between them (`(i, f)`: `f` came after the batch's first `i` cases).
#[derive(Default)]
struct Batch {
    packed: Packed,
    findings: Vec<(usize, Finding)>,
    /// Bytes of the findings' messages.
    finding_bytes: usize,
}

/// A [`Tap`] that runs another tap on its own thread, so the parse's thread only packs each
/// case into a recycled buffer and goes on, while the inner tap (cases.jsonl's writer, the
/// digest: the JUnit writer, the report's counts, the failing cases) works on the second
/// core. Order is kept: the inner tap sees cases and findings exactly as they came. Dropping
/// it hands over the last batch and waits until the inner tap has seen everything.
///
/// Why packed and not the cases themselves: a case's texts are a handful of small heap
/// strings; handed over as they are (or swapped for a consumed case to refill), each was
/// written on one core and first read on the other, and every such string was a separate
/// wait on both sides (~10% of the parse's thread, ~15% of the consumer's). One buffer
/// written and read front to back is what the cores' prefetchers stream well; the inner tap
/// reads each case borrowed from it ([`Tap::case_view`]), copying no text.
pub struct ThreadedTap {
    batch: Batch,
    tx: Option<SyncSender<Batch>>,
    spare: Receiver<Batch>,
    worker: Option<JoinHandle<()>>,
}

impl ThreadedTap {
    /// Runs `inner` on a new thread; when no thread can be started, `inner` runs here (the
    /// returned tap is then `inner` itself).
    pub fn spawn(inner: Box<dyn Tap>) -> Box<dyn Tap> {
        // Eight batches queued (≤ 1 MiB each, ~150 KiB of passing cases): on two cores four
        // threads take turns, and a deeper queue lets each run longer before it waits on
        // another (two gave ~15 % idle CPU in the parse; eight, 2 % less wall time). Only
        // four spent batches are kept for reuse: a batch of long failures keeps its room.
        let (tx, rx) = sync_channel::<Batch>(8);
        let (back, spare) = sync_channel::<Batch>(4);
        let (give, take) = sync_channel::<Box<dyn Tap>>(1);
        let spawned = std::thread::Builder::new()
            .name("codeloop-digest".into())
            .spawn(move || {
                let Ok(mut inner) = take.recv() else { return };
                for mut b in rx {
                    let mut at = Cursor::default();
                    let mut f = b.findings.drain(..).peekable();
                    // The suite path of the case being read (a view's parts are borrowed).
                    let mut suite: Vec<&str> = Vec::new();
                    for i in 0..b.packed.cases() {
                        while let Some((_, finding)) = f.next_if(|(k, _)| *k <= i) {
                            inner.finding(&finding);
                        }
                        let runner = b.packed.head(&mut at, &mut suite);
                        inner.case_view(&b.packed.rest(&mut at, runner, &suite));
                    }
                    for (_, finding) in f {
                        inner.finding(&finding);
                    }
                    b.finding_bytes = 0;
                    b.packed.clear();
                    let _ = back.try_send(b);
                }
            });
        match spawned {
            Ok(worker) => {
                if let Err(back) = give.send(inner) {
                    return back.0;
                }
                Box::new(ThreadedTap {
                    batch: Batch::default(),
                    tx: Some(tx),
                    spare,
                    worker: Some(worker),
                })
            }
            Err(_) => inner,
        }
    }

    fn send_if_full(&mut self) {
        let p = &self.batch.packed;
        if p.cases() >= BATCH_CASES || p.bytes() >= BATCH_BYTES {
            self.send();
        }
    }

    fn send(&mut self) {
        let next = self.spare.try_recv().unwrap_or_default();
        let b = std::mem::replace(&mut self.batch, next);
        if let Some(tx) = &self.tx
            && tx.send(b).is_err()
        {
            // The consumer is gone (it panicked): nothing more can reach it.
            self.tx = None;
        }
    }
}

/// Cases one after another: their texts concatenated in one string, each text's length
/// (or [`NONE`]) in `lens`, the other fields in `fields`. A text is read back as a slice of
/// `text` (`str::get`: no UTF-8 check of its bytes, only of its two ends).
#[derive(Default)]
struct Packed {
    text: String,
    lens: Vec<usize>,
    fields: Vec<Fields>,
}

/// A length in [`Packed::lens`] that stands for a text that is not there (`None`).
const NONE: usize = usize::MAX;

/// A case's fields other than its texts.
struct Fields {
    line: Option<u32>,
    status: Status,
    flaky: bool,
    retries: u32,
    duration: Option<f64>,
    failure: bool,
}

impl Fields {
    /// What a case read past the batch's end gets (never, short of a bug).
    const NONE: Fields = Fields {
        line: None,
        status: Status::Passed,
        flaky: false,
        retries: 0,
        duration: None,
        failure: false,
    };
}

/// Where the next case of a [`Packed`] starts.
#[derive(Default)]
struct Cursor {
    text: usize,
    lens: usize,
    fields: usize,
}

impl Packed {
    fn clear(&mut self) {
        self.text.clear();
        self.lens.clear();
        self.fields.clear();
        // A batch that held a long failure is not kept that big.
        if self.text.capacity() > 4 * BATCH_BYTES {
            self.text = String::new();
        }
    }

    fn bytes(&self) -> usize {
        self.text.len()
    }

    fn cases(&self) -> usize {
        self.fields.len()
    }

    fn put(&mut self, s: Option<&str>) {
        match s {
            Some(s) => {
                self.lens.push(s.len());
                self.text.push_str(s);
            }
            None => self.lens.push(NONE),
        }
    }

    /// Appends `c`.
    fn pack(&mut self, c: &Case) {
        self.pack_view(&c.view());
    }

    /// Appends `c` (every field named, so a new field of [`CaseView`] cannot be forgotten
    /// here; [`Packed::head`] and [`Packed::rest`] read them back in the same order).
    fn pack_view<T: AsRef<str>>(&mut self, c: &CaseView<'_, T>) {
        let CaseView {
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
        } = c;
        self.put(Some(runner));
        self.lens.push(suite.len());
        for s in suite.iter() {
            self.put(Some(s.as_ref()));
        }
        self.put(*classname);
        self.put(Some(name));
        self.put(*file);
        if let Some(FailureView {
            kind,
            message,
            trace,
        }) = failure
        {
            self.put(*kind);
            self.put(*message);
            self.put(*trace);
        }
        self.put(*output);
        self.put(*skip_reason);
        self.fields.push(Fields {
            line: *line,
            status: *status,
            flaky: *flaky,
            retries: *retries,
            duration: *duration,
            failure: failure.is_some(),
        });
    }

    /// Reads the runner and the suite path (into `suite`) of the case at `at`; [`Packed::rest`]
    /// reads the rest. Together they read what [`Packed::pack`] wrote, borrowed from the
    /// batch: the consumer copies no text. The batch is one `pack` filled: every read is in
    /// range; the fallbacks only keep a bug from becoming a panic.
    fn head<'a>(&'a self, at: &mut Cursor, suite: &mut Vec<&'a str>) -> &'a str {
        let runner = self.text_at(at).unwrap_or_default();
        let n = self.len_at(at);
        let n = if n == NONE { 0 } else { n };
        suite.clear();
        for _ in 0..n {
            suite.push(self.text_at(at).unwrap_or_default());
        }
        runner
    }

    /// The case at `at` (after [`Packed::head`]), and moves `at` past it.
    fn rest<'a>(&'a self, at: &mut Cursor, runner: &'a str, suite: &'a [&'a str]) -> CaseView<'a> {
        let classname = self.text_at(at);
        let name = self.text_at(at).unwrap_or_default();
        let file = self.text_at(at);
        let f = self.fields.get(at.fields);
        at.fields += 1;
        let failure = f.is_some_and(|f| f.failure).then(|| FailureView {
            kind: self.text_at(at),
            message: self.text_at(at),
            trace: self.text_at(at),
        });
        let output = self.text_at(at);
        let skip_reason = self.text_at(at);
        let f = f.unwrap_or(&Fields::NONE);
        CaseView {
            runner,
            suite,
            classname,
            name,
            file,
            line: f.line,
            status: f.status,
            flaky: f.flaky,
            retries: f.retries,
            duration: f.duration,
            failure,
            output,
            skip_reason,
        }
    }

    fn len_at(&self, at: &mut Cursor) -> usize {
        let n = self.lens.get(at.lens).copied().unwrap_or(NONE);
        at.lens += 1;
        n
    }

    fn text_at(&self, at: &mut Cursor) -> Option<&str> {
        let n = self.len_at(at);
        if n == NONE {
            return None;
        }
        let s = self.text.get(at.text..at.text.saturating_add(n));
        at.text = at.text.saturating_add(n);
        Some(s.unwrap_or_default())
    }
}

impl Tap for ThreadedTap {
    fn case(&mut self, case: &Case) {
        self.batch.packed.pack(case);
        self.send_if_full();
    }

    fn case_view(&mut self, case: &CaseView<'_>) {
        self.batch.packed.pack_view(case);
        self.send_if_full();
    }

    fn finding(&mut self, finding: &Finding) {
        let b = &mut self.batch;
        b.findings.push((b.packed.cases(), finding.clone()));
        b.finding_bytes += finding.message.len();
        if b.findings.len() >= BATCH_CASES || b.packed.bytes() + b.finding_bytes >= BATCH_BYTES {
            self.send();
        }
    }
}

impl Drop for ThreadedTap {
    fn drop(&mut self) {
        if self.batch.packed.cases() > 0 || !self.batch.findings.is_empty() {
            self.send();
        }
        drop(self.tx.take());
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Failure, Status};

    #[test]
    fn cases_read_borrowed_are_the_cases_serde_reads_and_bad_lines_are_counted_alike() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("cases.jsonl");
        let mut full = Case::new("t \"q\" é", Status::Failed);
        full.runner = "r".into();
        full.suite = vec!["a".into(), "b".into()];
        full.duration = Some(0.1 + 0.2);
        full.failure = Some(Failure {
            kind: Some("K".into()),
            message: Some("m\nline".into()),
            trace: None,
        });
        let mut body = String::new();
        for c in [full, Case::new("plain", Status::Passed)] {
            let mut b = Vec::new();
            c.write_json(&mut b);
            body.push_str(std::str::from_utf8(&b).unwrap());
            body.push('\n');
        }
        // Spelled otherwise (serde's path), blank, invalid, and not a case.
        body.push_str("{ \"status\": \"skipped\", \"name\": \"s\", \"duration\": 1e-3 }\n\n");
        body.push_str("{\"name\":\"x\",\"status\":\"bogus\"}\nnot json\n");
        std::fs::write(&p, &body).unwrap();
        let mut want = Vec::new();
        let want_bad = crate::artifact::read_jsonl::<Case>(&p, |c| want.push(c)).unwrap();
        let mut got = Vec::new();
        let bad = read_case_views(&p, |c| got.push(c.to_case())).unwrap();
        assert_eq!((got, bad), (want, want_bad));
        assert_eq!(bad, 2);
    }

    #[derive(Debug, PartialEq)]
    enum Seen {
        Case(Case),
        Finding(Finding),
    }

    struct Record(Arc<Mutex<Vec<Seen>>>);

    impl Tap for Record {
        fn case(&mut self, c: &Case) {
            self.0.lock().unwrap().push(Seen::Case(c.clone()));
        }
        fn finding(&mut self, f: &Finding) {
            self.0.lock().unwrap().push(Seen::Finding(f.clone()));
        }
    }

    #[test]
    fn threaded_tap_hands_over_everything_in_order() {
        // Cases of every shape (slots are refilled from bigger and smaller ones), findings
        // between them and at batch edges, and failures long enough to cut batches by size.
        let mut items = Vec::new();
        for i in 0..3000u32 {
            let mut c = Case {
                runner: format!("r{}", i % 3),
                name: format!("t{i}"),
                status: Status::Passed,
                ..Case::default()
            };
            if i % 7 == 0 {
                c.suite = (0..i % 4).map(|k| format!("s{k}")).collect();
                c.classname = Some(format!("C{i}"));
            }
            if i % 97 == 0 {
                c.status = Status::Failed;
                c.failure = Some(Failure {
                    kind: None,
                    message: Some("boom".into()),
                    trace: Some("x".repeat(300_000)),
                });
                c.output = Some("o".repeat(5000));
            }
            if i % 13 == 0 {
                c.file = Some("f.py".into());
                c.line = Some(i);
                c.duration = Some(0.5);
            }
            items.push(Seen::Case(c));
            if i % 511 == 0 || i % 512 == 0 {
                items.push(Seen::Finding(Finding {
                    tool: "lint".into(),
                    message: format!("f{i}"),
                    ..Finding::default()
                }));
            }
        }
        let got = Arc::new(Mutex::new(Vec::new()));
        let mut tap = ThreadedTap::spawn(Box::new(Record(got.clone())));
        for it in &items {
            match it {
                Seen::Case(c) => tap.case(c),
                Seen::Finding(f) => tap.finding(f),
            }
        }
        drop(tap);
        let got = std::mem::take(&mut *got.lock().unwrap());
        assert_eq!(got.len(), items.len());
        for (i, (a, b)) in got.iter().zip(&items).enumerate() {
            assert_eq!(a, b, "item {i}");
        }
    }

    /// A consumer after cases.jsonl that panics (a bug) stops the worker: the cases after it
    /// never reach the file, and the writer handed back says so instead of passing for
    /// complete.
    #[test]
    fn a_panic_on_the_worker_leaves_cases_jsonl_marked_incomplete() {
        struct Boom;
        impl Tap for Boom {
            fn case(&mut self, c: &Case) {
                assert!(c.name != "t7", "boom at {}", c.name);
            }
            fn finding(&mut self, _: &Finding) {}
        }
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("cases.jsonl");
        let w = crate::artifact::events::JsonlWriter::create(&path).unwrap();
        let (cases, back) = crate::runners::collect::CasesTap::new(w, Some(Box::new(Boom)));
        let mut tap = ThreadedTap::spawn(Box::new(cases));
        for i in 0..3000 {
            tap.case(&Case {
                name: format!("t{i}"),
                ..Case::default()
            });
        }
        drop(tap);
        let mut w = back.lock().unwrap().take().expect("the writer comes back");
        w.finish();
        let e = w.error.take().expect("an incomplete file is an error");
        assert!(e.contains("incomplete"), "{e}");
        // What came before the panic was written.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.lines().count() >= 7, "{text}");
    }

    /// The same panic beside a digest (merge's and the report's stream) leaves no digest:
    /// a partial one would give counts, a comment and a gate that look whole. Without the
    /// panic, every case reaches it.
    #[test]
    fn a_panic_on_the_worker_leaves_no_digest_to_report_from() {
        struct Boom(DigestTap, &'static str);
        impl Tap for Boom {
            fn case(&mut self, c: &Case) {
                assert!(c.name != self.1, "boom at {}", c.name);
                self.0.case(c);
            }
            fn finding(&mut self, f: &Finding) {
                self.0.finding(f);
            }
        }
        for boom_at in ["t7", "never"] {
            let (digest, back) = DigestTap::new(Digest {
                problems: Some(Vec::new()),
                ..Digest::default()
            });
            let mut tap = ThreadedTap::spawn(Box::new(Boom(digest, boom_at)));
            for i in 0..3000 {
                tap.case(&Case::new(format!("t{i}"), Status::Failed));
            }
            drop(tap);
            match (boom_at, back.take()) {
                ("never", Ok(d)) => assert_eq!(d.problems.map(|p| p.len()), Some(3000)),
                ("t7", Err(e)) => {
                    assert!(e.to_string().contains("incomplete"), "{e}");
                }
                (at, got) => panic!("boom at {at}: {:?}", got.map(|d| d.problems)),
            }
        }
    }

    #[test]
    fn junit_written_behind_is_kept_when_joined_and_removed_when_not() {
        let d = tempfile::tempdir().unwrap();
        let report = d.path().join("report");
        let case = Case {
            runner: "r".into(),
            name: "t".into(),
            status: Status::Passed,
            ..Case::default()
        };
        let digest_with_case = || {
            let mut g = Digest {
                junit: Some(super::super::junit::spooled(&report)),
                ..Digest::default()
            };
            g.observe(&case);
            g
        };
        let path = report.join("junit.xml");
        let mut taken = digest_with_case();
        taken.write_junit_behind(path.clone());
        let bytes = taken.junit_behind.take().unwrap().unwrap().join().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(bytes as usize, text.len());
        assert!(text.contains("<testcase name=\"t\""), "{text}");
        std::fs::remove_file(&path).unwrap();
        // A run that stops before the report stage leaves no junit.xml (and no temp file).
        let mut dropped = digest_with_case();
        dropped.write_junit_behind(path.clone());
        drop(dropped);
        let left: Vec<_> = std::fs::read_dir(&report).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_packed_case_reads_back_as_it_was_whatever_it_held() {
        let full = Case {
            runner: "r".into(),
            suite: vec!["a".into(), "b".into()],
            classname: Some("C".into()),
            name: "n".into(),
            file: Some("f".into()),
            line: Some(3),
            status: Status::Errored,
            flaky: true,
            retries: 2,
            duration: Some(1.5),
            failure: Some(Failure {
                kind: Some("K".into()),
                message: Some("m".into()),
                trace: Some("t".into()),
            }),
            output: Some("o".into()),
            skip_reason: Some("s".into()),
        };
        let empty = Case::default();
        let mut longer = full.clone();
        longer.suite = vec!["x".into(); 5];
        longer.name = "é".repeat(300);
        for (first, second) in [
            (&full, &empty),
            (&empty, &full),
            (&full, &full),
            (&longer, &full),
            (&full, &longer),
        ] {
            // Two cases packed one after the other: the cursor lands on the second.
            let mut buf = Packed::default();
            buf.pack(first);
            buf.pack(second);
            let (mut suite, mut at) = (Vec::new(), Cursor::default());
            for c in [first, second] {
                let runner = buf.head(&mut at, &mut suite);
                let view = buf.rest(&mut at, runner, &suite);
                assert_eq!(&view.to_case(), c);
                // What the consumers write of it is what they write of the case.
                let (mut a, mut b) = (Vec::new(), Vec::new());
                view.write_json(&mut a);
                c.write_json(&mut b);
                assert_eq!(a, b);
            }
            assert_eq!(
                (at.text, at.lens, at.fields),
                (buf.text.len(), buf.lens.len(), buf.fields.len())
            );
        }
    }
}
