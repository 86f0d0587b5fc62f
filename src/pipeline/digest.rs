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
use crate::model::{Case, Finding};
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
const BATCH_CASES: usize = 512;
const BATCH_BYTES: usize = 1 << 20;

/// One batch of the stream: `n` cases in recycled slots, and the findings that came between
/// them (`(i, f)`: `f` came after the batch's first `i` cases).
#[derive(Default)]
struct Batch {
    cases: Vec<Case>,
    n: usize,
    bytes: usize,
    findings: Vec<(usize, Finding)>,
}

/// A [`Tap`] that runs another tap on its own thread, so the parse's thread only copies each
/// case into a recycled slot (no allocation once the slots have grown) and goes on, while the
/// inner tap (the digest: the JUnit writer, the report's counts, the failing cases) works on
/// the second core. Order is kept: the inner tap sees cases and findings exactly as they came.
/// Dropping it hands over the last batch and waits until the inner tap has seen everything.
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
                for mut b in rx {
                    if b.findings.is_empty() {
                        // Nearly every batch: cases only.
                        for c in &mut b.cases[..b.n] {
                            inner.case(c);
                            shed(c);
                        }
                        b.n = 0;
                        b.bytes = 0;
                        let _ = back.try_send(b);
                        continue;
                    }
                    let mut f = b.findings.drain(..).peekable();
                    for (i, c) in b.cases[..b.n].iter_mut().enumerate() {
                        while let Some((_, finding)) = f.next_if(|(at, _)| *at <= i) {
                            inner.finding(&finding);
                        }
                        inner.case(c);
                        shed(c);
                    }
                    for (_, finding) in f {
                        inner.finding(&finding);
                    }
                    b.n = 0;
                    b.bytes = 0;
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

    /// One more slot holds a case of `bytes` of text: the batch goes when it is full.
    fn filled(&mut self, bytes: usize) {
        let b = &mut self.batch;
        b.n += 1;
        b.bytes += bytes;
        if b.n >= BATCH_CASES || b.bytes >= BATCH_BYTES {
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

/// A slot that grew big (a long trace or output) is not kept around.
fn shed(c: &mut Case) {
    if c.failure.is_some() || c.output.as_ref().is_some_and(|o| o.capacity() > 4096) {
        *c = Case::default();
    }
}

/// `dst` made equal to `src`, reusing `dst`'s strings (every field named, so a new field of
/// [`Case`] cannot be forgotten here).
fn refill(dst: &mut Case, src: &Case) {
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
    } = src;
    dst.runner.clone_from(runner);
    dst.suite.clone_from(suite);
    dst.classname.clone_from(classname);
    dst.name.clone_from(name);
    dst.file.clone_from(file);
    dst.line = *line;
    dst.status = *status;
    dst.flaky = *flaky;
    dst.retries = *retries;
    dst.duration = *duration;
    dst.failure.clone_from(failure);
    dst.output.clone_from(output);
    dst.skip_reason.clone_from(skip_reason);
}

impl Tap for ThreadedTap {
    fn case(&mut self, case: &Case) {
        let b = &mut self.batch;
        if b.n < b.cases.len() {
            refill(&mut b.cases[b.n], case);
        } else {
            b.cases.push(case.clone());
        }
        self.filled(case.text_bytes());
    }

    fn case_swap(&mut self, case: &mut Case) {
        let bytes = case.text_bytes();
        let b = &mut self.batch;
        if b.n < b.cases.len() {
            // The caller gets the slot's old case: a parser refills it for its next test
            // (its strings keep their capacity), a merge drops it.
            std::mem::swap(&mut b.cases[b.n], case);
        } else {
            b.cases.push(std::mem::take(case));
        }
        self.filled(bytes);
    }

    fn finding(&mut self, finding: &Finding) {
        let b = &mut self.batch;
        b.findings.push((b.n, finding.clone()));
        b.bytes += finding.message.len();
        if b.findings.len() >= BATCH_CASES || b.bytes >= BATCH_BYTES {
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
        for (i, it) in items.iter().enumerate() {
            match it {
                // Borrowed and owned cases, mixed: slots filled both ways stay in order.
                Seen::Case(c) if i % 3 == 0 => tap.case_owned(c.clone()),
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
    fn refill_equals_clone_whatever_the_slot_held() {
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
        for (slot, src) in [(&full, &empty), (&empty, &full), (&full, &full)] {
            let mut dst = slot.clone();
            refill(&mut dst, src);
            assert_eq!(&dst, src);
        }
    }
}
