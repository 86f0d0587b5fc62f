//! The in-memory run: one consumer of the parse's stream of cases and findings (a
//! [`Tap`] beside cases.jsonl) that keeps only what the later stages need — the failing and
//! flaky cases for diagnose, the test-key hashes for a baseline, the report's bounded
//! [`CaseDigest`], the first flaky tests for the HTML page — and feeds the JUnit writer,
//! which spools each case to disk at once. Memory grows with failures, not with the run.
//!
//! The report stage run alone fills the same digest from cases.jsonl, so both paths render
//! from one value.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::junit::FileSpool;
use crate::artifact::ArtifactError;
use crate::model::{Case, Failure, Finding, Status};
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
    pub tests: Option<HashSet<u64>>,
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
        if let Some(p) = self.problems.as_mut()
            && (c.status.is_bad() || c.flaky)
        {
            p.push(c.clone());
        }
        if let Some(t) = self.tests.as_mut() {
            t.insert(crate::gate::case_key_hash(c));
        }
        self.cases.observe(c);
        if c.flaky && self.flaky.len() < FLAKY_MAX {
            self.flaky.push(FlakyTest {
                runner: c.runner.clone(),
                id: c.key(),
                retries: c.retries,
            });
        }
        if let Some(j) = self.junit.as_mut() {
            j.case(c);
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

/// A [`Tap`] filling a shared [`Digest`] (the pipeline keeps the other handle).
pub struct DigestTap(pub Arc<Mutex<Digest>>);

impl Tap for DigestTap {
    fn case(&mut self, case: &Case) {
        if let Ok(mut d) = self.0.lock() {
            d.observe(case);
        }
    }
    fn finding(&mut self, finding: &Finding) {
        if let Ok(mut d) = self.0.lock() {
            d.finding(finding);
        }
    }
}

/// Cases handed over per batch (and a byte bound, so batches of long failures stay small).
const BATCH_CASES: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;

/// One batch of the stream: `n` cases packed one after another into one buffer (see
/// [`pack`]), and the findings that came between them (`(i, f)`: `f` came after the
/// batch's first `i` cases).
#[derive(Default)]
struct Batch {
    packed: Vec<u8>,
    n: usize,
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
/// written and read front to back is what the cores' prefetchers stream well; each side
/// refills only strings of its own.
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
        // Two batches queued: the parse does not wait on a consumer that keeps up, and memory
        // stays at a few batches.
        let (tx, rx) = sync_channel::<Batch>(2);
        let (back, spare) = sync_channel::<Batch>(4);
        let (give, take) = sync_channel::<Box<dyn Tap>>(1);
        let spawned = std::thread::Builder::new()
            .name("codeloop-digest".into())
            .spawn(move || {
                let Ok(mut inner) = take.recv() else { return };
                let mut case = Case::default();
                for mut b in rx {
                    let mut at = 0;
                    let mut f = b.findings.drain(..).peekable();
                    for i in 0..b.n {
                        while let Some((_, finding)) = f.next_if(|(k, _)| *k <= i) {
                            inner.finding(&finding);
                        }
                        unpack(&b.packed, &mut at, &mut case);
                        inner.case(&case);
                        shed(&mut case);
                    }
                    for (_, finding) in f {
                        inner.finding(&finding);
                    }
                    b.n = 0;
                    b.finding_bytes = 0;
                    b.packed.clear();
                    if b.packed.capacity() > 4 * BATCH_BYTES {
                        b.packed = Vec::new();
                    }
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

/// A consumer's case whose strings grew big (a long trace or output) is not kept around.
fn shed(c: &mut Case) {
    if c.failure.is_some() || c.output.as_ref().is_some_and(|o| o.capacity() > 4096) {
        *c = Case::default();
    }
}

/// Appends `c` to `out` (every field named, so a new field of [`Case`] cannot be forgotten
/// here; [`unpack`] reads the fields back in the same order).
fn pack(out: &mut Vec<u8>, c: &Case) {
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
    } = c;
    put_str(out, runner);
    put_len(out, suite.len());
    for s in suite {
        put_str(out, s);
    }
    put_opt(out, classname.as_deref());
    put_str(out, name);
    put_opt(out, file.as_deref());
    match line {
        Some(l) => {
            out.push(1);
            out.extend_from_slice(&l.to_le_bytes());
        }
        None => out.push(0),
    }
    out.push(match status {
        Status::Passed => 0,
        Status::Failed => 1,
        Status::Errored => 2,
        Status::Skipped => 3,
    });
    out.push(u8::from(*flaky));
    out.extend_from_slice(&retries.to_le_bytes());
    match duration {
        Some(d) => {
            out.push(1);
            out.extend_from_slice(&d.to_le_bytes());
        }
        None => out.push(0),
    }
    match failure {
        Some(Failure {
            kind,
            message,
            trace,
        }) => {
            out.push(1);
            put_opt(out, kind.as_deref());
            put_opt(out, message.as_deref());
            put_opt(out, trace.as_deref());
        }
        None => out.push(0),
    }
    put_opt(out, output.as_deref());
    put_opt(out, skip_reason.as_deref());
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    // Texts are bounded far below 4 GiB (names and paths to a few KiB, traces and output
    // to `max_text_bytes`).
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

/// Reads the case [`pack`] wrote at `*at` into `c`, reusing its strings, and moves `at`
/// past it. The buffer is the one `pack` filled in this process: every read is in bounds
/// and every text was a `&str`; the checks below only keep a bug from becoming a panic.
fn unpack(buf: &[u8], at: &mut usize, c: &mut Case) {
    let mut r = Reader { buf, at: *at };
    c.runner.clear();
    c.runner.push_str(r.str());
    let n = r.len();
    c.suite.truncate(n);
    for (i, s) in (0..n).map(|_| r.str()).enumerate() {
        match c.suite.get_mut(i) {
            Some(d) => {
                d.clear();
                d.push_str(s);
            }
            None => c.suite.push(s.to_string()),
        }
    }
    let classname = r.opt();
    set_opt(&mut c.classname, classname);
    c.name.clear();
    c.name.push_str(r.str());
    let file = r.opt();
    set_opt(&mut c.file, file);
    c.line = (r.byte() == 1).then(|| u32::from_le_bytes(r.array()));
    c.status = match r.byte() {
        1 => Status::Failed,
        2 => Status::Errored,
        3 => Status::Skipped,
        _ => Status::Passed,
    };
    c.flaky = r.byte() == 1;
    c.retries = u32::from_le_bytes(r.array());
    c.duration = (r.byte() == 1).then(|| f64::from_le_bytes(r.array()));
    c.failure = (r.byte() == 1).then(|| {
        let kind = r.opt().map(str::to_string);
        let message = r.opt().map(str::to_string);
        let trace = r.opt().map(str::to_string);
        Failure {
            kind,
            message,
            trace,
        }
    });
    let output = r.opt();
    set_opt(&mut c.output, output);
    let skip_reason = r.opt();
    set_opt(&mut c.skip_reason, skip_reason);
    *at = r.at;
}

fn set_opt(dst: &mut Option<String>, v: Option<&str>) {
    match (dst.as_mut(), v) {
        (Some(d), Some(v)) => {
            d.clear();
            d.push_str(v);
        }
        (None, Some(v)) => *dst = Some(v.to_string()),
        (_, None) => *dst = None,
    }
}

/// A cursor over a packed batch.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.at.saturating_add(n).min(self.buf.len());
        let s = &self.buf[self.at.min(end)..end];
        self.at = end;
        s
    }
    fn byte(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    fn array<const N: usize>(&mut self) -> [u8; N] {
        self.take(N).try_into().unwrap_or([0; N])
    }
    fn len(&mut self) -> usize {
        u32::from_le_bytes(self.array()) as usize
    }
    fn str(&mut self) -> &'a str {
        let n = self.len();
        std::str::from_utf8(self.take(n)).unwrap_or_default()
    }
    fn opt(&mut self) -> Option<&'a str> {
        (self.byte() == 1).then(|| self.str())
    }
}

impl Tap for ThreadedTap {
    fn case(&mut self, case: &Case) {
        pack(&mut self.batch.packed, case);
        self.batch.n += 1;
        if self.batch.n >= BATCH_CASES || self.batch.packed.len() >= BATCH_BYTES {
            self.send();
        }
    }

    fn finding(&mut self, finding: &Finding) {
        let b = &mut self.batch;
        b.findings.push((b.n, finding.clone()));
        b.finding_bytes += finding.message.len();
        if b.findings.len() >= BATCH_CASES || b.packed.len() + b.finding_bytes >= BATCH_BYTES {
            self.send();
        }
    }
}

impl Drop for ThreadedTap {
    fn drop(&mut self) {
        if self.batch.n > 0 || !self.batch.findings.is_empty() {
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
    fn unpacked_equals_packed_whatever_the_case_held() {
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
        for (slot, src) in [
            (&full, &empty),
            (&empty, &full),
            (&full, &full),
            (&longer, &full),
            (&full, &longer),
        ] {
            // Two cases packed one after the other: the cursor lands on the second.
            let mut buf = Vec::new();
            pack(&mut buf, src);
            pack(&mut buf, slot);
            let (mut dst, mut at) = (slot.clone(), 0);
            unpack(&buf, &mut at, &mut dst);
            assert_eq!(&dst, src);
            unpack(&buf, &mut at, &mut dst);
            assert_eq!(&dst, slot);
            assert_eq!(at, buf.len());
        }
    }
}
