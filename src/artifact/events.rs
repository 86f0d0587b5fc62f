//! Streamed run files: [`JsonlWriter`] for cases.jsonl / findings.jsonl, and [`Events`] for
//! events.jsonl (one timestamped line per thing that happened, flushed at once so an
//! interrupted run still shows how far it got).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// Bytes of serialized lines redacted and written at once.
const BATCH: usize = 64 * 1024;

/// Where a [`JsonlWriter`]'s bytes go, hashed as written.
enum Out {
    /// In this thread (events.jsonl: each line on disk at once).
    Here(BufWriter<super::Hashing<File>>),
    /// On a worker thread (cases.jsonl, findings.jsonl: the big ones).
    Offload(super::Offload),
}

impl Write for Out {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Out::Here(w) => w.write(b),
            Out::Offload(w) => w.write(b),
        }
    }
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Out::Here(w) => w.write_all(b),
            Out::Offload(w) => w.write_all(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Here(w) => w.flush(),
            Out::Offload(w) => w.flush(),
        }
    }
}

/// A JSON Lines file written line by line (cases.jsonl, findings.jsonl, events.jsonl).
pub struct JsonlWriter {
    /// Hashed as written (see [`JsonlWriter::finish`]); appended files are hashed from their
    /// appended bytes only, so [`Events::append`] never records its hash.
    out: Option<Out>,
    pub path: PathBuf,
    /// The first write error, reported once at the end.
    pub error: Option<String>,
    pub lines: u64,
    /// The redactor, refreshed when a runner's `::add-mask::` adds a secret.
    redactor: crate::redact::Cached,
    /// Lines serialized but not yet redacted and written (up to [`BATCH`] bytes; reused).
    scratch: Vec<u8>,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> std::io::Result<JsonlWriter> {
        let f = File::create(path)?;
        Ok(JsonlWriter {
            out: Some(Out::Here(BufWriter::with_capacity(
                256 * 1024,
                super::Hashing::new(f),
            ))),
            path: path.to_path_buf(),
            error: None,
            lines: 0,
            redactor: Default::default(),
            scratch: Vec::new(),
        })
    }

    /// Like [`JsonlWriter::create`], written and hashed on a worker thread ([`super::Offload`]):
    /// for the run's big files, whose lines need not be on disk the moment they are written.
    pub fn create_offloaded(path: &Path) -> std::io::Result<JsonlWriter> {
        let f = File::create(path)?;
        Ok(JsonlWriter {
            out: Some(Out::Offload(super::Offload::new(f)?)),
            path: path.to_path_buf(),
            error: None,
            lines: 0,
            redactor: Default::default(),
            scratch: Vec::new(),
        })
    }

    /// Each line is redacted (`crate::redact`: known values and token shapes) before it
    /// reaches the file.
    pub fn write<T: serde::Serialize>(&mut self, v: &T) {
        self.write_with(|buf| serde_json::to_writer(buf, v).map_err(std::io::Error::from));
    }

    /// A case, through its own JSON writer ([`crate::model::Case::write_json`]: the same
    /// bytes as [`JsonlWriter::write`], faster on the million lines of a big run).
    pub fn write_case(&mut self, c: &crate::model::Case) {
        self.write_case_view(&c.view());
    }

    /// [`JsonlWriter::write_case`] of a borrowed case.
    pub fn write_case_view<T: AsRef<str>>(&mut self, c: &crate::model::CaseView<'_, T>) {
        self.write_with(|buf| {
            c.write_json(buf);
            Ok(())
        });
    }

    /// A line already serialized (one JSON value, no line break), written as it is: a merged
    /// case that is a shard's line unchanged.
    pub fn write_line(&mut self, line: &str) {
        self.write_with(|buf| {
            buf.extend_from_slice(line.as_bytes());
            Ok(())
        });
    }

    fn write_with(&mut self, ser: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) {
        if self.out.is_none() {
            return;
        }
        let start = self.scratch.len();
        match ser(&mut self.scratch) {
            Ok(()) => {
                self.scratch.push(b'\n');
                self.lines += 1;
            }
            Err(e) => {
                self.scratch.truncate(start);
                return self.fail(e);
            }
        }
        let batch = match self.out {
            // Handed to the worker as it is (see `drain`): a whole chunk at a time.
            Some(Out::Offload(_)) => super::OFFLOAD_CHUNK,
            _ => BATCH,
        };
        if self.scratch.len() >= batch {
            self.drain();
        }
    }

    /// Writes the pending lines through the redactor: one scan of the whole batch, and line
    /// by line ([`crate::redact::Redactor::redact_json`], which keeps each line valid JSON)
    /// only when it found something. A secret never spans lines: JSON escapes line breaks.
    fn drain(&mut self) {
        let Some(out) = self.out.as_mut() else {
            self.scratch.clear();
            return;
        };
        let redactor = self.redactor.get();
        let r = if redactor.is_match(&self.scratch) {
            self.scratch
                .split_inclusive(|b| *b == b'\n')
                .try_for_each(|line| {
                    let body = line.strip_suffix(b"\n").unwrap_or(line);
                    out.write_all(&redactor.redact_json(body))?;
                    out.write_all(b"\n")
                })
        } else {
            match out {
                Out::Offload(o) => o.write_vec(&mut self.scratch),
                Out::Here(w) => w.write_all(&self.scratch),
            }
        };
        self.scratch.clear();
        if let Err(e) = r {
            self.fail(e);
        }
    }

    /// Appends the whole of `src`, `len` bytes in `lines` whole lines already as this writer
    /// would write them (a merged shard's cases.jsonl that pass 1 read, checked, and found
    /// no secret in), after the lines written so far: copied on the worker thread when the
    /// writer has one, the bytes not looked at here.
    pub fn append_file(&mut self, src: File, len: u64, lines: u64) {
        self.drain();
        if self.out.is_some() {
            self.lines += lines;
        }
        let r = match self.out.as_mut() {
            Some(Out::Offload(o)) => o.append_file(src, len),
            Some(Out::Here(w)) => {
                let mut src = src;
                std::io::copy(&mut src, w).and_then(|n| super::appended(n, len))
            }
            None => Ok(()),
        };
        if let Err(e) = r {
            self.fail(e);
        }
    }

    pub fn flush(&mut self) {
        self.drain();
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.fail(e);
        }
    }

    /// Flushes and, when every write succeeded, records the file's size and sha256 for the
    /// manifest (taken while writing: the file is not read back). For files this writer
    /// created, not appended to.
    pub fn finish(&mut self) {
        self.flush();
        match self.out.take() {
            Some(Out::Here(w)) => {
                let h = w.get_ref();
                super::record_hash(&self.path, h.bytes, h.sha256());
                self.out = Some(Out::Here(w));
            }
            // The worker's file is closed here: later lines are dropped (nothing writes after
            // the finish).
            Some(Out::Offload(w)) => match w.finish() {
                Ok(h) => super::record_hash(&self.path, h.bytes, h.sha256()),
                Err(e) => {
                    self.fail(e);
                    self.cut_on_disk();
                }
            },
            None => {}
        }
    }

    /// The first write error: remember it, stop writing, and cut the file back to its last
    /// complete line, so that what was written before stays valid JSON Lines (a disk that
    /// filled up mid-line must not leave half a JSON document).
    fn fail(&mut self, e: std::io::Error) {
        self.error
            .get_or_insert_with(|| format!("cannot write `{}`: {e}", self.path.display()));
        match self.out.take() {
            Some(Out::Here(out)) => {
                // Drop the buffered rest without flushing it: it could not be written anyway.
                let (file, _) = out.into_parts();
                let _ = cut_to_last_line(&file.inner, &self.path);
            }
            Some(Out::Offload(w)) => {
                // The worker stops at its first error; what it wrote is cut the same way.
                let _ = w.finish();
                self.cut_on_disk();
            }
            // After an offloaded finish (or a first failure) nothing is open.
            None => {}
        }
    }

    /// Cuts the file at `path` back to its last complete line (the offloaded writer's file
    /// is closed by its worker, so it is opened again).
    fn cut_on_disk(&self) {
        if let Ok(f) = std::fs::OpenOptions::new().write(true).open(&self.path) {
            let _ = cut_to_last_line(&f, &self.path);
        }
    }
}

impl Drop for JsonlWriter {
    /// The pending batch reaches the file (its `BufWriter` then flushes as it drops).
    fn drop(&mut self) {
        self.drain();
    }
}

/// Truncates `file` (open for writing at `path`) after its last `\n`.
fn cut_to_last_line(file: &File, path: &Path) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    let mut r = File::open(path)?;
    let mut end = len;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let chunk = &mut buf[..(end - start) as usize];
        r.seek(SeekFrom::Start(start))?;
        r.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|b| *b == b'\n') {
            return file.set_len(start + i as u64 + 1);
        }
        end = start;
    }
    file.set_len(0)
}

/// One line of events.jsonl.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Event {
    /// RFC 3339 UTC.
    pub ts: String,
    /// `run.started`, `runner.started`, `runner.finished`, `stage.started`, `stage.finished`,
    /// `stage.failed` (see `super::stage`),
    /// `run.finished`, `warning`.
    pub event: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl Event {
    pub fn new(event: &str) -> Event {
        Event {
            ts: super::now_rfc3339(),
            event: event.to_string(),
            ..Default::default()
        }
    }
    pub fn runner(mut self, id: &str) -> Event {
        self.runner = Some(id.to_string());
        self
    }
    pub fn status(mut self, s: &str) -> Event {
        self.status = Some(s.to_string());
        self
    }
    pub fn message(mut self, m: impl Into<String>) -> Event {
        self.message = Some(m.into());
        self
    }
}

/// events.jsonl, shared by concurrent runners.
pub struct Events(Mutex<JsonlWriter>, StageClock);

/// When each open stage started, for the duration of its `stage.finished`.
#[derive(Default)]
struct StageClock(Mutex<Vec<(String, std::time::Instant)>>);

impl StageClock {
    fn start(&self, stage: &str) {
        if let Ok(mut v) = self.0.lock() {
            v.push((stage.to_string(), std::time::Instant::now()));
        }
    }
    fn finish(&self, stage: &str) -> Option<f64> {
        let mut v = self.0.lock().ok()?;
        let i = v.iter().rposition(|(s, _)| s == stage)?;
        let (_, t) = v.remove(i);
        Some((t.elapsed().as_secs_f64() * 1000.0).round() / 1000.0)
    }
}

impl Events {
    pub fn create(path: &Path) -> std::io::Result<Events> {
        Ok(Events(
            Mutex::new(JsonlWriter::create(path)?),
            StageClock::default(),
        ))
    }

    /// Opens an existing events.jsonl for appending (later stages: diagnose, gate, publish).
    pub fn append(path: &Path) -> std::io::Result<Events> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Events(
            Mutex::new(JsonlWriter {
                out: Some(Out::Here(BufWriter::new(super::Hashing::new(f)))),
                path: path.to_path_buf(),
                error: None,
                lines: 0,
                redactor: Default::default(),
                scratch: Vec::new(),
            }),
            StageClock::default(),
        ))
    }

    /// `stage.started` / `stage.finished` (with its duration) for `stage`, within one
    /// process that holds events.jsonl open (verify's `run`/`collect`). Stages over an
    /// existing run use [`super::stage::StageEvents`].
    pub fn stage(&self, stage: &str, finished: bool, message: Option<String>) {
        let mut e = Event::new(if finished {
            "stage.finished"
        } else {
            "stage.started"
        });
        if finished {
            e.duration = self.1.finish(stage);
            e.status = Some("ok".into());
        } else {
            self.1.start(stage);
        }
        e.stage = Some(stage.to_string());
        e.message = message;
        self.emit(e);
    }
    pub fn emit(&self, e: Event) {
        if let Ok(mut w) = self.0.lock() {
            w.write(&e);
            w.flush();
        }
    }
    pub fn error(&self) -> Option<String> {
        self.0.lock().ok().and_then(|w| w.error.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batched_lines_are_redacted_line_by_line_when_one_holds_a_secret() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cases.jsonl");
        let token = "ghp_0123456789abcdefghijABCDEFGHIJ012345";
        {
            let mut w = JsonlWriter::create(&p).unwrap();
            for i in 0..3000 {
                let mut c =
                    crate::model::Case::new(format!("test {i}"), crate::model::Status::Passed);
                if i == 1500 {
                    c.output = Some(format!("token={token}"));
                }
                w.write_case(&c);
            }
            // Dropped without a flush: the last batch still lands.
        }
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().count(), 3000);
        assert!(!text.contains(token));
        for (i, l) in text.lines().enumerate() {
            let c: crate::model::Case = serde_json::from_str(l).unwrap();
            assert_eq!(c.name, format!("test {i}"));
            assert_eq!(c.output.is_some(), i == 1500);
        }
    }

    #[test]
    fn a_failed_write_leaves_only_complete_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cases.jsonl");
        let mut w = JsonlWriter::create(&p).unwrap();
        w.write(&serde_json::json!({"a": 1}));
        w.write(&serde_json::json!({"b": 2}));
        w.flush();
        // Simulate a disk that filled up in the middle of the third line.
        {
            let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
            f.write_all(b"{\"c\": 3, \"hal").unwrap();
        }
        w.fail(std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
        assert!(w.error.as_deref().unwrap().contains("cases.jsonl"));
        // Later writes are dropped, not appended after the cut.
        w.write(&serde_json::json!({"d": 4}));
        w.flush();
        assert_eq!(std::fs::read_to_string(&p).unwrap().lines().count(), 2);
        // A file with no complete line at all is emptied.
        let q = d.path().join("e.jsonl");
        std::fs::write(&q, "{\"x\":").unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&q).unwrap();
        cut_to_last_line(&f, &q).unwrap();
        assert_eq!(std::fs::read(&q).unwrap(), b"");
    }
}
