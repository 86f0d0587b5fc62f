//! Stage events: every stage that works on a run directory (diagnose, gate-check, report,
//! publish, merge) appends `stage.started`, then `stage.finished` with its duration or
//! `stage.failed` with the error, to the run's events.jsonl, so a run directory is an audit
//! trail of everything that happened to it.
//!
//! One line per stage function: `let stage = StageEvents::start(&run.path, "diagnose");` at
//! its start and `stage.record(result)` (or [`StageEvents::finished`] /
//! [`StageEvents::failed`]) at its end. A guard dropped without either (a panic, an early
//! `?` return) records `stage.failed`.
//!
//! # Appends after the manifest
//!
//! A stage usually runs over a complete run, whose manifest.json already lists events.jsonl
//! with its bytes and sha256. Each append therefore, under an exclusive `flock` on
//! events.jsonl (concurrent stages over the same run take turns): writes the line, hashes the
//! file, and rewrites manifest.json atomically (temp file + rename) with that entry updated,
//! so the manifest stays truthful after every event. [`super::manifest::Manifest::rewrite`]
//! takes the same lock. A run without a manifest (verify still running, an interrupted run) is
//! only appended to: the manifest written last will list the file.
//!
//! Recording is best effort: a run directory that cannot be written (a read-only download)
//! costs one warning, never the stage.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::events::Event;
use super::manifest::{Manifest, ManifestFile};
use super::{ArtifactError, EVENTS, MANIFEST};

/// The record of one stage on one run directory (see the module docs).
#[must_use = "a stage guard records `stage.failed` when dropped unfinished"]
pub struct StageEvents {
    run_dir: PathBuf,
    stage: String,
    start: Instant,
    done: bool,
}

impl StageEvents {
    /// Appends `stage.started` for `stage` to `<run_dir>/events.jsonl`.
    pub fn start(run_dir: &Path, stage: &str) -> StageEvents {
        let mut e = Event::new("stage.started");
        e.stage = Some(stage.to_string());
        append_best_effort(run_dir, &e);
        StageEvents {
            run_dir: run_dir.to_path_buf(),
            stage: stage.to_string(),
            start: Instant::now(),
            done: false,
        }
    }

    fn event(&self, name: &str) -> Event {
        let mut e = Event::new(name);
        e.stage = Some(self.stage.clone());
        e.duration = Some((self.start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0);
        e
    }

    /// `stage.finished` with the duration.
    pub fn finished(mut self) {
        self.done = true;
        let e = self.event("stage.finished").status("ok");
        append_best_effort(&self.run_dir, &e);
    }

    /// `stage.failed` with the duration and the error (redacted like every line).
    pub fn failed(mut self, error: &dyn std::fmt::Display) {
        self.done = true;
        let e = self
            .event("stage.failed")
            .status("failed")
            .message(error.to_string());
        append_best_effort(&self.run_dir, &e);
    }

    /// Records the stage's result (finished on `Ok`, failed with the error on `Err`) and
    /// passes it on.
    pub fn record<T, E: std::fmt::Display>(self, result: Result<T, E>) -> Result<T, E> {
        match &result {
            Ok(_) => self.finished(),
            Err(e) => self.failed(e),
        }
        result
    }
}

impl Drop for StageEvents {
    fn drop(&mut self) {
        if !self.done {
            let why = if std::thread::panicking() {
                "codeloop failed inside this stage (panic)"
            } else {
                "the stage ended without a result"
            };
            let e = self.event("stage.failed").status("failed").message(why);
            append_best_effort(&self.run_dir, &e);
        }
    }
}

/// Set after the first failed append: one warning per process is enough.
static WARNED: AtomicBool = AtomicBool::new(false);

fn append_best_effort(run_dir: &Path, e: &Event) {
    if let Err(err) = append(run_dir, e)
        && !WARNED.swap(true, Ordering::SeqCst)
    {
        crate::ui::warn(&format!(
            "{err}; stage events of this run are not recorded (the stage itself goes on)"
        ));
    }
}

/// Opens (creating it) and exclusively locks events.jsonl; the lock goes with the file.
pub(super) fn lock_events(run_dir: &Path) -> Result<File, ArtifactError> {
    let path = run_dir.join(EVENTS);
    let f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| ArtifactError::Write {
            path: path.clone(),
            source,
        })?;
    loop {
        // SAFETY: flock(2) on a descriptor this function owns.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) } == 0 {
            return Ok(f);
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(ArtifactError::Write { path, source: e });
        }
    }
}

/// Appends one event line (redacted) to `<run_dir>/events.jsonl` and, when the run has a
/// manifest, updates its events.jsonl entry (see the module docs).
pub fn append(run_dir: &Path, e: &Event) -> Result<(), ArtifactError> {
    let path = run_dir.join(EVENTS);
    let mut f = lock_events(run_dir)?;
    let werr = |source| ArtifactError::Write {
        path: path.clone(),
        source,
    };
    let mut line = serde_json::to_vec(e).map_err(|e| werr(e.into()))?;
    line = crate::redact::current().redact_json(&line).into_owned();
    line.push(b'\n');
    // One write of a whole line in append mode: concurrent writers cannot interleave it.
    f.write_all(&line).map_err(werr)?;
    if run_dir.join(MANIFEST).is_file() {
        update_manifest_entry(run_dir, EVENTS)?;
    }
    Ok(())
}

/// Rewrites manifest.json (atomically) with `name`'s current bytes and sha256.
fn update_manifest_entry(run_dir: &Path, name: &str) -> Result<(), ArtifactError> {
    let mpath = run_dir.join(MANIFEST);
    let mut m: Manifest = super::read_json(&mpath)?;
    let (bytes, sha256) =
        super::sha256_file(&run_dir.join(name)).map_err(|source| ArtifactError::Read {
            path: run_dir.join(name),
            source,
        })?;
    match m.files.iter_mut().find(|f| f.path == name) {
        Some(f) => {
            f.bytes = bytes;
            f.sha256 = sha256;
        }
        None => {
            m.files.push(ManifestFile {
                path: name.to_string(),
                bytes,
                sha256,
            });
            m.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }
    super::write_json_with(&mpath, &m, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::RunDir;
    use crate::model::RunStatus;

    fn events(dir: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(dir.join(EVENTS))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn stages_append_and_keep_the_manifest_truthful() {
        let d = tempfile::tempdir().unwrap();
        let run = RunDir {
            path: d.path().to_path_buf(),
            id: "r".into(),
        };
        std::fs::write(run.file(EVENTS), "{\"event\":\"run.finished\"}\n").unwrap();
        Manifest::write(
            &run,
            "a".into(),
            "b".into(),
            RunStatus::Passed,
            None,
            Default::default(),
        )
        .unwrap();
        let s = StageEvents::start(&run.path, "diagnose");
        s.finished();
        let s = StageEvents::start(&run.path, "gate-check");
        let r: Result<(), String> = s.record(Err("cannot write `gate.json`: disk full".into()));
        assert!(r.is_err());
        {
            let _s = StageEvents::start(&run.path, "report");
            // dropped unfinished
        }
        let ev = events(&run.path);
        let names: Vec<(&str, &str)> = ev
            .iter()
            .skip(1)
            .map(|e| (e["event"].as_str().unwrap(), e["stage"].as_str().unwrap()))
            .collect();
        assert_eq!(
            names,
            [
                ("stage.started", "diagnose"),
                ("stage.finished", "diagnose"),
                ("stage.started", "gate-check"),
                ("stage.failed", "gate-check"),
                ("stage.started", "report"),
                ("stage.failed", "report"),
            ]
        );
        assert!(ev[2]["duration"].as_f64().is_some());
        assert_eq!(ev[4]["message"], "cannot write `gate.json`: disk full");
        // The manifest lists events.jsonl as it is now.
        let m: Manifest = crate::artifact::read_json(&run.file(MANIFEST)).unwrap();
        let entry = m.files.iter().find(|f| f.path == EVENTS).unwrap();
        let (bytes, sha) = crate::artifact::sha256_file(&run.file(EVENTS)).unwrap();
        assert_eq!((entry.bytes, entry.sha256.as_str()), (bytes, sha.as_str()));
    }

    #[test]
    fn a_run_without_manifest_is_only_appended_to() {
        let d = tempfile::tempdir().unwrap();
        StageEvents::start(d.path(), "merge").finished();
        assert_eq!(events(d.path()).len(), 2);
        assert!(!d.path().join(MANIFEST).exists());
    }
}
