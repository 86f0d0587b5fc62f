//! Streamed run files: [`JsonlWriter`] for cases.jsonl / findings.jsonl, and [`Events`] for
//! events.jsonl (one timestamped line per thing that happened, flushed at once so an
//! interrupted run still shows how far it got).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

/// A JSON Lines file written line by line (cases.jsonl, findings.jsonl, events.jsonl).
pub struct JsonlWriter {
    out: Option<BufWriter<File>>,
    pub path: PathBuf,
    /// The first write error, reported once at the end.
    pub error: Option<String>,
    pub lines: u64,
    /// The redactor, refreshed when a runner's `::add-mask::` adds a secret.
    redactor: crate::redact::Cached,
    /// One line, serialized before it is redacted (reused: no allocation per line).
    scratch: Vec<u8>,
}

impl JsonlWriter {
    pub fn create(path: &Path) -> std::io::Result<JsonlWriter> {
        let f = File::create(path)?;
        Ok(JsonlWriter {
            out: Some(BufWriter::with_capacity(256 * 1024, f)),
            path: path.to_path_buf(),
            error: None,
            lines: 0,
            redactor: Default::default(),
            scratch: Vec::new(),
        })
    }

    /// Each line is redacted (`crate::redact`) before it reaches the file; with no secrets
    /// known, it is serialized straight into the buffer.
    pub fn write<T: serde::Serialize>(&mut self, v: &T) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        let redactor = self.redactor.get();
        let r = if redactor.is_empty() {
            serde_json::to_writer(&mut *out, v)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(b"\n"))
        } else {
            self.scratch.clear();
            serde_json::to_writer(&mut self.scratch, v)
                .map_err(std::io::Error::from)
                .and_then(|_| out.write_all(&redactor.redact_json(&self.scratch)))
                .and_then(|_| out.write_all(b"\n"))
        };
        match r {
            Ok(()) => self.lines += 1,
            Err(e) => {
                self.error
                    .get_or_insert_with(|| format!("cannot write `{}`: {e}", self.path.display()));
                self.out = None;
            }
        }
    }

    pub fn flush(&mut self) {
        if let Some(out) = self.out.as_mut()
            && let Err(e) = out.flush()
        {
            self.error
                .get_or_insert_with(|| format!("cannot write `{}`: {e}", self.path.display()));
        }
    }
}

/// One line of events.jsonl.
#[derive(Serialize, Debug, Clone, Default)]
pub struct Event {
    /// RFC 3339 UTC.
    pub ts: String,
    /// `run.started`, `runner.started`, `runner.finished`, `stage.started`, `stage.finished`,
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
pub struct Events(Mutex<JsonlWriter>);

impl Events {
    pub fn create(path: &Path) -> std::io::Result<Events> {
        Ok(Events(Mutex::new(JsonlWriter::create(path)?)))
    }

    /// Opens an existing events.jsonl for appending (later stages: diagnose, gate, publish).
    pub fn append(path: &Path) -> std::io::Result<Events> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Events(Mutex::new(JsonlWriter {
            out: Some(BufWriter::new(f)),
            path: path.to_path_buf(),
            error: None,
            lines: 0,
            redactor: Default::default(),
            scratch: Vec::new(),
        })))
    }

    /// `stage.started` / `stage.finished` for `stage`.
    pub fn stage(&self, stage: &str, finished: bool, message: Option<String>) {
        let mut e = Event::new(if finished {
            "stage.finished"
        } else {
            "stage.started"
        });
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
