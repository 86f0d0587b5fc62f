//! report/junit.xml written as the cases stream: [`crate::report::junit::JunitOut`] serializes
//! each case into its suite's spool, an unlinked temp file beside the report (memory stays
//! flat for any run size), and [`write`] assembles the document into the run directory,
//! hashed on the way and redacted line by line when secrets are known.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::artifact::{self, ArtifactError, Part};
use crate::redact::Redactor;
use crate::report::junit::{JunitOut, Piece, Spool};

/// A suite's spool: a temp file whose name is removed at once (nothing is left behind, even
/// by a killed run), read back from the start when the document is assembled.
pub struct FileSpool(BufWriter<File>);

impl Write for FileSpool {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Spool for FileSpool {
    type Reader = BufReader<File>;
    fn into_reader(self) -> io::Result<Self::Reader> {
        let mut f = self.0.into_inner().map_err(|e| e.into_error())?;
        f.seek(SeekFrom::Start(0))?;
        Ok(BufReader::with_capacity(256 * 1024, f))
    }
}

/// A JUnit writer spooling its suites in `dir` (created when missing).
pub fn spooled(dir: &Path) -> JunitOut<FileSpool> {
    let dir: PathBuf = dir.to_path_buf();
    let mut n = 0u32;
    JunitOut::with_spools(
        "codeloop",
        Box::new(move || {
            std::fs::create_dir_all(&dir)?;
            n += 1;
            let p = dir.join(format!(".junit-{n}.tmp-{}", std::process::id()));
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&p)?;
            // Unlinked at once: the open handle keeps the data until the document is written.
            let _ = std::fs::remove_file(&p);
            Ok(FileSpool(BufWriter::with_capacity(64 * 1024, f)))
        }),
    )
}

/// Writes the document to `path` atomically. Returns the bytes written.
pub fn write(path: &Path, junit: JunitOut<FileSpool>) -> Result<u64, ArtifactError> {
    if crate::redact::current().is_empty() {
        write_assembled(path, junit)
    } else {
        write_streamed(path, junit)
    }
}

/// [`write`] with nothing to redact line by line: the suites' spools are copied by the
/// kernel and hashed beside the copy (`artifact::write_atomic_assembled`).
fn write_assembled(path: &Path, junit: JunitOut<FileSpool>) -> Result<u64, ArtifactError> {
    let pieces = junit.into_pieces().map_err(|e| ArtifactError::Write {
        path: path.to_path_buf(),
        source: io::Error::other(e.to_string()),
    })?;
    let parts = pieces
        .into_iter()
        .map(|p| match p {
            Piece::Bytes(b) => Part::Bytes(b),
            Piece::Body(r) => Part::File(r.into_inner()),
        })
        .collect();
    artifact::write_atomic_assembled(path, parts)
}

/// [`write`] through this process: each line redacted on the way (secrets are known).
pub fn write_streamed<S: Spool>(path: &Path, junit: JunitOut<S>) -> Result<u64, ArtifactError> {
    let redactor = crate::redact::current();
    let failed = |e: crate::report::ReportError| io::Error::other(e.to_string());
    artifact::write_atomic_stream(path, false, |w| {
        if redactor.is_empty() {
            junit.write_to(w).map(drop).map_err(failed)
        } else {
            let mut lines = RedactLines {
                inner: w,
                line: Vec::new(),
                redactor: &redactor,
            };
            junit.write_to(&mut lines).map_err(failed)?;
            lines.finish()
        }
    })
}

/// Redacts what passes through it one line at a time (a secret never spans lines of the
/// XML the writer produces: texts are escaped, and long ones stay on their lines).
struct RedactLines<'a, W: Write + ?Sized> {
    inner: &'a mut W,
    line: Vec<u8>,
    redactor: &'a Redactor,
}

impl<W: Write + ?Sized> RedactLines<'_, W> {
    fn emit(&mut self) -> io::Result<()> {
        let out = self.redactor.redact_bytes(&self.line);
        self.inner.write_all(&out)?;
        self.line.clear();
        Ok(())
    }
    fn finish(mut self) -> io::Result<()> {
        self.emit()?;
        self.inner.flush()
    }
}

impl<W: Write + ?Sized> Write for RedactLines<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            self.line.extend_from_slice(&rest[..=i]);
            self.emit()?;
            rest = &rest[i + 1..];
        }
        self.line.extend_from_slice(rest);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Case, Failure, Finding, Severity, Status};

    #[test]
    fn the_kernel_copied_document_is_the_streamed_one() {
        let d = tempfile::tempdir().unwrap();
        let fill = |j: &mut JunitOut<FileSpool>| {
            for i in 0..3000u32 {
                let runner = ["web", "api", "cli"][(i % 3) as usize];
                j.case(&Case {
                    runner: runner.into(),
                    name: format!("t{i} <&> \u{1b}[31m"),
                    status: [Status::Passed, Status::Failed, Status::Skipped][(i % 7 % 3) as usize],
                    duration: Some(f64::from(i) / 1000.0),
                    failure: (i % 7 % 3 == 1).then(|| Failure {
                        message: Some(format!("boom {i}")),
                        trace: Some("at x\n".repeat(20)),
                        ..Failure::default()
                    }),
                    ..Case::default()
                });
            }
            j.finding(&Finding {
                tool: "eslint".into(),
                severity: Severity::Error,
                message: "no-unused-vars".into(),
                file: Some("a.js".into()),
                line: Some(3),
                ..Finding::default()
            });
        };
        let (mut a, mut b) = (spooled(d.path()), spooled(d.path()));
        fill(&mut a);
        fill(&mut b);
        let (pa, pb) = (d.path().join("a.xml"), d.path().join("b.xml"));
        let na = write_assembled(&pa, a).unwrap();
        let nb = write_streamed(&pb, b).unwrap();
        let (ta, tb) = (std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());
        assert_eq!(na, nb);
        assert!(ta == tb, "the two ways differ");
        let text = String::from_utf8(ta).unwrap();
        assert!(
            text.contains("<testsuite name=\"api\" tests=\"1000\""),
            "{}",
            &text[..400]
        );
        assert!(text.contains("<testsuite name=\"lint\" tests=\"1\""));
        for p in [&pa, &pb] {
            let meta = std::fs::metadata(p).unwrap();
            assert_eq!(
                artifact::recorded_hash(p, &meta),
                Some(artifact::sha256_file(p).unwrap())
            );
        }
    }
}
