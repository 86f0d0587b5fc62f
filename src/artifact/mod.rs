//! The run directory (DESIGN §1): layout, run ids, atomic writes, the manifest, and finding
//! runs (`latest`, by id, by path). Every other stage reads and writes run files only through
//! this module, so the contract lives in one place.
//!
//! The manifest's sha256 of a file is taken while the file is written ([`write_atomic`],
//! [`Hashing`] for streamed files and for result files as the parser reads them) and kept in
//! a per-process ledger ([`record_hash`]); the manifest reads a file back only when nobody
//! hashed it (a runner's own output, a log).

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::model::SCHEMA_VERSION;

pub const MANIFEST: &str = "manifest.json";
pub const VERIFY: &str = "verify.json";
pub const CASES: &str = "cases.jsonl";
pub const FINDINGS: &str = "findings.jsonl";
pub const DIAGNOSE: &str = "diagnose.json";
pub const GATE: &str = "gate.json";
pub const EVENTS: &str = "events.jsonl";
pub const RUNNERS_DIR: &str = "runners";
pub const REPORT_DIR: &str = "report";
pub const RUNS_DIR: &str = "runs";

/// Errors touching the run directory. Each names the path.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("`{path}` is not valid: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("no run `{id}` under `{dir}`")]
    NoSuchRun { id: String, dir: PathBuf },
    #[error("no complete run under `{0}`: run `codeloop verify` first")]
    NoRuns(PathBuf),
    #[error("run `{0}` is incomplete (no manifest.json): it was interrupted or is still running")]
    Incomplete(PathBuf),
    #[error(
        "`{path}` has schema_version {found}, newer than this codeloop understands ({SCHEMA_VERSION}): upgrade codeloop"
    )]
    NewerSchema { path: PathBuf, found: u64 },
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename.
/// A killed process leaves either the old file or the new one, never half of one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    write_atomic_with(path, bytes, true)
}

/// [`write_atomic`] with the fsync optional. Without it the write is still atomic for a
/// killed process (rename is atomic); only an OS crash could lose it. `verify` skips the fsync
/// by default (`verify.fsync` in config.json turns it on): it dominated its overhead on busy
/// CI disks, and a run directory is evidence for one job, not a database.
///
/// Text (valid UTF-8) is redacted on the way (`crate::redact`): every JSON document and
/// report goes through here (`.json`/`.sarif` so that they stay valid JSON). Binary content
/// (the PNG badge) is written as is.
pub fn write_atomic_with(path: &Path, bytes: &[u8], sync: bool) -> Result<(), ArtifactError> {
    let redactor = crate::redact::current();
    let json = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e, "json" | "sarif"));
    let bytes: &[u8] = &if std::str::from_utf8(bytes).is_err() {
        std::borrow::Cow::Borrowed(bytes)
    } else if json {
        redactor.redact_json(bytes)
    } else {
        redactor.redact_bytes(bytes)
    };
    via_temp(path, |tmp| {
        let mut f = File::create(tmp)?;
        f.write_all(bytes)?;
        if sync {
            f.sync_all()?;
        }
        Ok((bytes.len() as u64, hex(&Sha256::digest(bytes))))
    })
    .map(drop)
}

/// Writes a file too big to hold in memory atomically (temp file + rename), streamed by
/// `fill`, with its sha256 taken on the way for the manifest (both on a worker thread,
/// [`Offload`]). Not redacted here: `fill`
/// writes text that went through the redactor already (see `pipeline::junit`). Returns the
/// bytes written.
pub fn write_atomic_stream(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<u64, ArtifactError> {
    via_temp(path, |tmp| {
        // Hashed and written on a worker thread while `fill` produces the bytes.
        let mut w = Offload::new(File::create(tmp)?)?;
        fill(&mut w)?;
        let h = w.finish()?;
        if sync {
            h.inner.sync_all()?;
        }
        Ok((h.bytes, h.sha256()))
    })
}

/// Runs `write` on a temp file beside `path` (created with its directory), then renames the
/// temp file over `path` and records the size and sha256 `write` returns; a failed write
/// leaves no temp file behind.
fn via_temp(
    path: &Path,
    write: impl FnOnce(&Path) -> io::Result<(u64, String)>,
) -> Result<u64, ArtifactError> {
    let err = |source| ArtifactError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(err)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let (bytes, sha) = match write(&tmp) {
        Ok(x) => x,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(err(e));
        }
    };
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        err(e)
    })?;
    record_hash(path, bytes, sha);
    Ok(bytes)
}

/// A part of a file [`write_atomic_assembled`] puts together: bytes, or the whole of another
/// file from its start. That file must be one only this process holds (an unlinked spool):
/// it is mapped to be hashed, and a file someone else could truncate meanwhile must not be.
pub enum Part {
    Bytes(Vec<u8>),
    File(File),
}

/// Writes `parts` one after another to `path`, atomically, and records the result's size and
/// sha256. The files among them are copied by the kernel (`copy_file_range`: their bytes never
/// pass through this process), and hashed meanwhile on a second thread straight from the page
/// cache (mapped a window at a time, not read into a buffer): a big spooled document
/// (junit.xml) is assembled in about the time its hash takes.
pub fn write_atomic_assembled(path: &Path, parts: Vec<Part>) -> Result<u64, ArtifactError> {
    via_temp(path, |tmp| {
        let mut out = File::create(tmp)?;
        let written = std::thread::scope(|s| {
            let hasher = std::thread::Builder::new()
                .name("codeloop-hash".into())
                .spawn_scoped(s, || hash_parts(&parts))?;
            let copied = parts.iter().try_for_each(|p| match p {
                Part::Bytes(b) => out.write_all(b),
                Part::File(f) => {
                    let mut f = f;
                    io::Seek::seek(&mut f, io::SeekFrom::Start(0))?;
                    io::copy(&mut f, &mut out).map(drop)
                }
            });
            let hashed = hasher
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked")));
            copied?;
            let (bytes, sha) = hashed?;
            // The copy and the hash went over the same bytes: the sizes must agree.
            let on_disk = out.metadata()?.len();
            if on_disk != bytes {
                return Err(io::Error::other(format!(
                    "wrote {on_disk} bytes but hashed {bytes}"
                )));
            }
            Ok((bytes, sha))
        });
        // Closing an unlinked spool frees its pages (tens of milliseconds for a big one):
        // that happens on a thread of its own, not before the caller can go on.
        let spools: Vec<Part> = parts
            .into_iter()
            .filter(|p| matches!(p, Part::File(_)))
            .collect();
        if let Err(e) = std::thread::Builder::new()
            .name("codeloop-free".into())
            .spawn(move || drop(spools))
        {
            // No thread to be had: the spools were moved into the closure and closed with it.
            drop(e);
        }
        written
    })
}

/// Size and sha256 of the parts one after another.
fn hash_parts(parts: &[Part]) -> io::Result<(u64, String)> {
    let mut h = Sha256::new();
    let mut bytes = 0u64;
    for p in parts {
        match p {
            Part::Bytes(b) => {
                h.update(b);
                bytes += b.len() as u64;
            }
            Part::File(f) => bytes += hash_file(f, &mut h)?,
        }
    }
    Ok((bytes, hex(&h.finalize())))
}

/// Bytes of a spool mapped at a time while hashing it: each window is unmapped before the
/// next, so the process's resident memory grows by one window, not by the file.
const HASH_WINDOW: u64 = 4 << 20;

/// Hashes all of `f` (from its start, whatever its offset): mapped a window at a time when it
/// can be, else read at explicit offsets (the file's own offset belongs to the copy running
/// beside).
fn hash_file(f: &File, h: &mut Sha256) -> io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let len = f.metadata()?.len();
    let mut at = 0u64;
    while at < len {
        let n = HASH_WINDOW.min(len - at);
        match mapped::Mapped::new(f, at, n) {
            Some(m) => h.update(m.bytes()),
            None => break,
        }
        at += n;
    }
    if at == len {
        return Ok(len);
    }
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match f.read_at(&mut buf, at) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(at);
        }
        h.update(&buf[..n]);
        at += n as u64;
    }
}

mod mapped {
    //! A read-only mapping of part of a file, for hashing a spool this process wrote and
    //! alone holds (unlinked at creation: no one else can truncate it under the mapping, which
    //! is what makes mapping safe here and is why result files of other tools are never
    //! mapped).

    use std::fs::File;
    use std::os::fd::AsRawFd;

    pub struct Mapped {
        ptr: *mut libc::c_void,
        len: usize,
    }

    impl Mapped {
        /// `len` bytes of `f` from `offset` (a multiple of the page size); `None` for an
        /// empty range or when the mapping fails (the caller reads instead).
        pub fn new(f: &File, offset: u64, len: u64) -> Option<Mapped> {
            let len = usize::try_from(len).ok().filter(|l| *l > 0)?;
            let offset = libc::off_t::try_from(offset).ok()?;
            // SAFETY: a fresh read-only private mapping of an open file descriptor; the
            // result is checked before use, and unmapped once in Drop.
            let ptr = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    len,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE,
                    f.as_raw_fd(),
                    offset,
                )
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            // SAFETY: advice on the range just mapped; failure only loses the read-ahead hint.
            unsafe { libc::madvise(ptr, len, libc::MADV_SEQUENTIAL) };
            Some(Mapped { ptr, len })
        }

        pub fn bytes(&self) -> &[u8] {
            // SAFETY: `ptr` maps `len` readable bytes for as long as `self` lives; the file is
            // one only this process holds (see the module docs), so the bytes do not change.
            unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `new`, once.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

/// Serializes `doc` as pretty JSON and writes it atomically.
pub fn write_json<T: Serialize>(path: &Path, doc: &T) -> Result<(), ArtifactError> {
    write_json_with(path, doc, true)
}

/// [`write_json`] with the fsync optional (see [`write_atomic_with`]).
pub fn write_json_with<T: Serialize>(
    path: &Path,
    doc: &T,
    sync: bool,
) -> Result<(), ArtifactError> {
    let mut bytes = serde_json::to_vec_pretty(doc).map_err(|e| ArtifactError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes.push(b'\n');
    write_atomic_with(path, &bytes, sync)
}

/// Reads a JSON document, refusing a newer `schema_version`.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, ArtifactError> {
    let bytes = fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ArtifactError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if let Some(v) = value.get("schema_version").and_then(|v| v.as_u64())
        && v > u64::from(SCHEMA_VERSION)
    {
        return Err(ArtifactError::NewerSchema {
            path: path.to_path_buf(),
            found: v,
        });
    }
    serde_json::from_value(value).map_err(|e| ArtifactError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// Streams a JSON Lines file, one `T` per line; malformed lines are reported, not fatal.
pub fn read_jsonl<T: DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(T),
) -> Result<u64, ArtifactError> {
    read_jsonl_lines(path, |line| match serde_json::from_str(line) {
        Ok(v) => {
            each(v);
            true
        }
        Err(_) => false,
    })
}

/// The lines of a JSON Lines file for [`read_jsonl`], each handed to `each` from one buffer
/// reused for every line (a reader can borrow from it: no allocation per line); `each` says
/// whether the line was readable, and the unreadable ones are counted. Blank lines are
/// skipped; a line that is not UTF-8 stops the read with an error, as a read error does.
pub fn read_jsonl_lines(path: &Path, each: impl FnMut(&str) -> bool) -> Result<u64, ArtifactError> {
    read_jsonl_regions(path, each, |_| {})
}

/// [`read_jsonl_lines`], handing `region` the file's bytes as well, in runs of whole lines
/// with their line breaks (no line split between two runs: a scan for secrets, which never
/// span lines, sees every one whole), one call per read of the buffer, not per line.
pub fn read_jsonl_regions(
    path: &Path,
    mut each: impl FnMut(&str) -> bool,
    mut region: impl FnMut(&[u8]),
) -> Result<u64, ArtifactError> {
    let read_err = |source| ArtifactError::Read {
        path: path.to_path_buf(),
        source,
    };
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => return Err(read_err(source)),
    };
    let mut rd = BufReader::with_capacity(256 * 1024, f);
    // A line that spans two reads of the buffer is gathered here; the others are handed
    // out of the read buffer itself (no copy of the million lines of a big run).
    let mut partial: Vec<u8> = Vec::new();
    let mut bad = 0;
    // Whether one line was unreadable (1) or not (0).
    let mut one = |line: &[u8]| -> Result<u64, ArtifactError> {
        // The line ends `BufRead::lines` strips.
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| {
            read_err(io::Error::new(
                io::ErrorKind::InvalidData,
                "stream did not contain valid UTF-8",
            ))
        })?;
        Ok(u64::from(!line.trim().is_empty() && !each(line)))
    };
    loop {
        let chunk = match rd.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        if chunk.is_empty() {
            if !partial.is_empty() {
                region(&partial);
                bad += one(&partial)?;
            }
            return Ok(bad);
        }
        let mut used = 0;
        // Where the chunk's run of whole lines starts (after a line begun in the last one).
        let mut whole = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            if partial.is_empty() {
                bad += one(&chunk[used..end])?;
            } else {
                partial.extend_from_slice(&chunk[used..=end]);
                region(&partial);
                bad += one(&partial[..partial.len() - 1])?;
                partial.clear();
                whole = end + 1;
            }
            used = end + 1;
        }
        if used > whole {
            region(&chunk[whole..used]);
        }
        partial.extend_from_slice(&chunk[used..]);
        let n = chunk.len();
        rd.consume(n);
    }
}

/// A file's size and sha256 as taken while it was written, and its mtime then: an entry is
/// used only while the file still has that size and mtime.
#[derive(Clone, Debug)]
struct Hashed {
    bytes: u64,
    sha256: String,
    modified: Option<SystemTime>,
}

/// By path: a run of thousands of result files (a Surefire file per test class) records and
/// looks up one hash per file, and a list searched end to end made that quadratic (half of
/// `verify`'s CPU on 5,000 files).
static LEDGER: std::sync::LazyLock<Mutex<std::collections::HashMap<PathBuf, Hashed>>> =
    std::sync::LazyLock::new(Default::default);

/// Remembers the size and sha256 of `path`, computed while it was written or read whole.
pub fn record_hash(path: &Path, bytes: u64, sha256: String) {
    let modified = fs::metadata(path).ok().and_then(|m| m.modified().ok());
    if let Ok(mut l) = LEDGER.lock() {
        l.insert(
            path.to_path_buf(),
            Hashed {
                bytes,
                sha256,
                modified,
            },
        );
    }
}

/// The recorded hash of `path`, if the file is still what was hashed.
pub fn recorded_hash(path: &Path, meta: &fs::Metadata) -> Option<(u64, String)> {
    let l = LEDGER.lock().ok()?;
    let h = l.get(path)?;
    (h.bytes == meta.len() && h.modified.is_some() && h.modified == meta.modified().ok())
        .then(|| (h.bytes, h.sha256.clone()))
}

/// A reader or writer that hashes every byte passing through it (a file being written,
/// a result file being parsed), so the manifest never reads it back.
pub struct Hashing<T> {
    pub inner: T,
    hasher: Sha256,
    pub bytes: u64,
}

impl<T> Hashing<T> {
    pub fn new(inner: T) -> Hashing<T> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }
    /// The hex sha256 of everything so far.
    pub fn sha256(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

impl<T: io::Read> io::Read for Hashing<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

impl<T: Write> Write for Hashing<T> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file written and hashed by a worker thread (the second core): the writer hands over
/// 256 KiB chunks through a bounded channel and goes on, so hashing and the kernel's copy of
/// a big run file (cases.jsonl, a kept result file) leave the parse's thread. [`Offload::finish`]
/// waits for the worker and returns the hashed file; a write error surfaces on the next
/// chunk handed over, or at the finish. Dropped without a finish, it still writes everything.
pub struct Offload {
    buf: Vec<u8>,
    tx: Option<std::sync::mpsc::SyncSender<Job>>,
    /// Chunks the worker is done with, reused (no allocation per chunk).
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<io::Result<Hashing<File>>>>,
}

pub(crate) const OFFLOAD_CHUNK: usize = 256 * 1024;

/// What an [`Offload`]'s worker is handed: bytes to write, or a file to append whole.
enum Job {
    Bytes(Vec<u8>),
    Copy(File, u64),
}

/// [`Offload::append_file`]'s copy on the worker: the kernel copies `src` into the file
/// (`io::copy` between files is `copy_file_range`: no byte passes through this process)
/// while a second thread hashes the same bytes, read at their offsets from the page cache;
/// both must come to `len` bytes.
fn append_copy(src: File, len: u64, out: &mut Hashing<File>) -> io::Result<()> {
    use std::os::unix::fs::FileExt as _;
    let Hashing {
        inner,
        hasher,
        bytes,
    } = out;
    let hash = |hasher: &mut Sha256| -> io::Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut at = 0u64;
        loop {
            let n = match src.read_at(&mut buf, at) {
                Ok(0) => return Ok(at),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            at += n as u64;
        }
    };
    // Locked by whichever thread hashes (the spawned one, or this one if none could start).
    let hasher = Mutex::new(hasher);
    let hash_locked = || match hasher.lock() {
        Ok(mut h) => hash(&mut h),
        Err(_) => Err(io::Error::other("the hashing thread panicked")),
    };
    let (copied, hashed) = std::thread::scope(|s| {
        let hashing = std::thread::Builder::new()
            .name("codeloop-hash".into())
            .spawn_scoped(s, hash_locked);
        let copied = io::copy(&mut &src, inner);
        let hashed = match hashing {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the hashing thread panicked"))),
            // No second thread to be had: hashed after the copy, here.
            Err(_) => hash_locked(),
        };
        (copied, hashed)
    });
    let (copied, hashed) = (copied?, hashed?);
    *bytes += copied;
    appended(copied, len).and(appended(hashed, len))
}

/// Whether a file appended whole came to the `len` bytes it was taken to hold.
pub(crate) fn appended(got: u64, len: u64) -> io::Result<()> {
    if got == len {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "a file appended to it held {got} bytes instead of {len} (it changed while it was read)"
        )))
    }
}

impl Offload {
    pub fn new(f: File) -> io::Result<Offload> {
        use std::sync::mpsc::sync_channel;
        // Twelve chunks in flight: the parse never waits on a disk that keeps up, nor on a
        // worker the scheduler has not run for a moment, and memory stays at ~4 MiB per file
        // (four spent chunks kept for reuse).
        let (tx, rx) = sync_channel::<Job>(12);
        let (back, spare) = sync_channel::<Vec<u8>>(4);
        let worker = std::thread::Builder::new()
            .name("codeloop-write".into())
            .spawn(move || {
                let mut out = Hashing::new(f);
                for job in rx {
                    match job {
                        Job::Bytes(mut chunk) => {
                            out.write_all(&chunk)?;
                            chunk.clear();
                            let _ = back.try_send(chunk);
                        }
                        Job::Copy(src, len) => append_copy(src, len, &mut out)?,
                    }
                }
                Ok(out)
            })?;
        Ok(Offload {
            buf: Vec::with_capacity(OFFLOAD_CHUNK + 64 * 1024),
            tx: Some(tx),
            spare,
            worker: Some(worker),
        })
    }

    fn send(&mut self) -> io::Result<()> {
        let next = self.spare_chunk();
        let chunk = std::mem::replace(&mut self.buf, next);
        self.hand_over(chunk)
    }

    fn spare_chunk(&mut self) -> Vec<u8> {
        self.spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(OFFLOAD_CHUNK + 64 * 1024))
    }

    /// Hands `v`'s bytes to the worker as they are, without copying them into a chunk of its
    /// own (a caller that fills a buffer of its own, like cases.jsonl's writer, gives the
    /// buffer away), and leaves `v` empty with a spare chunk's room. Small buffers are copied.
    pub fn write_vec(&mut self, v: &mut Vec<u8>) -> io::Result<()> {
        if v.len() < OFFLOAD_CHUNK / 4 {
            self.write_all(v)?;
            v.clear();
            return Ok(());
        }
        // What was buffered goes first: the file keeps the order of the writes.
        if !self.buf.is_empty() {
            self.send()?;
        }
        let next = self.spare_chunk();
        let chunk = std::mem::replace(v, next);
        self.hand_over(chunk)
    }

    /// Appends the whole of `src` (which must hold `len` bytes) after what was written so
    /// far: read, hashed and written on the worker thread, so a file kept as it is (a merged
    /// shard's cases.jsonl) costs this thread nothing. A file of another length fails the
    /// write (it changed since its length was taken).
    pub fn append_file(&mut self, src: File, len: u64) -> io::Result<()> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.send_job(Job::Copy(src, len))
    }

    fn hand_over(&mut self, chunk: Vec<u8>) -> io::Result<()> {
        self.send_job(Job::Bytes(chunk))
    }

    fn send_job(&mut self, job: Job) -> io::Result<()> {
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            // The worker stopped: its error says why.
            Err(self.join().err().unwrap_or_else(|| {
                io::Error::other("the writer thread stopped before the end of the file")
            }))
        }
    }

    fn join(&mut self) -> io::Result<Hashing<File>> {
        drop(self.tx.take());
        match self.worker.take() {
            Some(w) => w
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked"))),
            None => Err(io::Error::other("the file was already finished")),
        }
    }

    /// Writes what is left, waits for the worker, and returns the file with its size and
    /// sha256.
    pub fn finish(mut self) -> io::Result<Hashing<File>> {
        if !self.buf.is_empty() {
            self.send()?;
        }
        self.join()
    }
}

impl Write for Offload {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(b);
        if self.buf.len() >= OFFLOAD_CHUNK {
            self.send()?;
        }
        Ok(b.len())
    }
    /// Hands the buffered bytes to the worker (it does not wait for them to reach the file).
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() || self.tx.is_none() {
            return Ok(());
        }
        self.send()
    }
}

impl Drop for Offload {
    fn drop(&mut self) {
        if self.worker.is_some() {
            if !self.buf.is_empty() {
                let _ = self.send();
            }
            let _ = self.join();
        }
    }
}

/// Where the kept copy of a result file is written and hashed: on an [`Offload`] worker when
/// the file is big (its hashing and writing then run beside the parse), on the parse's own
/// thread when it is small. A thread per small file cost more than its work: a Surefire run
/// writes a file per test class, and 5,000 of them spent ~2 ms each starting a worker and
/// waiting for it to be scheduled and joined (14 s of `verify` for 20 MB of reports).
pub enum CopyOut {
    Offload(Offload),
    Here(Hashing<File>),
}

impl CopyOut {
    /// Files up to this size are copied on the caller's thread.
    pub const HERE_MAX: u64 = 4 << 20;

    /// A copy of a file of `len` bytes into `f`.
    pub fn new(f: File, len: u64) -> io::Result<CopyOut> {
        if len <= Self::HERE_MAX {
            Ok(CopyOut::Here(Hashing::new(f)))
        } else {
            Offload::new(f).map(CopyOut::Offload)
        }
    }

    /// Writes what is left (and waits for a worker) and returns the file with its size and
    /// sha256.
    pub fn finish(self) -> io::Result<Hashing<File>> {
        match self {
            CopyOut::Offload(o) => o.finish(),
            CopyOut::Here(h) => Ok(h),
        }
    }
}

impl Write for CopyOut {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            CopyOut::Offload(o) => o.write(b),
            CopyOut::Here(h) => h.write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            CopyOut::Offload(o) => o.flush(),
            CopyOut::Here(h) => h.flush(),
        }
    }
}

/// A relative path as the manifest names files: its components joined by `/`.
pub fn slash_path(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// SHA-256 of a file, hex, streaming.
pub fn sha256_file(path: &Path) -> io::Result<(u64, String)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((n, hex(&h.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A run directory on disk.
#[derive(Clone, Debug)]
pub struct RunDir {
    pub path: PathBuf,
    pub id: String,
}

impl RunDir {
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    pub fn report_dir(&self) -> PathBuf {
        self.path.join(REPORT_DIR)
    }
    pub fn runner_dir(&self, runner_id: &str) -> PathBuf {
        self.path.join(RUNNERS_DIR).join(runner_id)
    }
    pub fn is_complete(&self) -> bool {
        self.path.join(MANIFEST).is_file()
    }

    /// Opens an existing, complete run directory by path.
    pub fn open(path: &Path) -> Result<RunDir, ArtifactError> {
        if !path.is_dir() {
            return Err(ArtifactError::NoSuchRun {
                id: path.display().to_string(),
                dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            });
        }
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let rd = RunDir {
            path: path.to_path_buf(),
            id,
        };
        if !rd.is_complete() {
            return Err(ArtifactError::Incomplete(rd.path));
        }
        Ok(rd)
    }

    pub fn verify(&self) -> Result<crate::model::VerifyDoc, ArtifactError> {
        read_json(&self.file(VERIFY))
    }
    pub fn diagnose(&self) -> Result<crate::model::DiagnoseDoc, ArtifactError> {
        read_json(&self.file(DIAGNOSE))
    }
    pub fn gate(&self) -> Result<crate::model::GateDoc, ArtifactError> {
        read_json(&self.file(GATE))
    }
    /// Streams every case of the run.
    pub fn cases(&self, each: impl FnMut(crate::model::Case)) -> Result<u64, ArtifactError> {
        read_jsonl(&self.file(CASES), each)
    }
    /// Streams every lint/build finding of the run.
    pub fn findings(&self, each: impl FnMut(crate::model::Finding)) -> Result<u64, ArtifactError> {
        read_jsonl(&self.file(FINDINGS), each)
    }
}

/// `<artifacts>/runs`
pub fn runs_root(artifacts_dir: &Path) -> PathBuf {
    artifacts_dir.join(RUNS_DIR)
}

/// All run directories (complete or not), oldest first (run ids sort by time).
pub fn list_runs(artifacts_dir: &Path) -> Vec<RunDir> {
    let root = runs_root(artifacts_dir);
    let mut v: Vec<RunDir> = fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .filter_map(|e| {
            let id = e.file_name().to_str()?.to_string();
            (!id.starts_with('.')).then(|| RunDir { path: e.path(), id })
        })
        .collect();
    v.sort_by(|a, b| a.id.cmp(&b.id));
    v
}

/// Resolves `latest`, a run id, or a path to a run directory.
pub fn resolve(artifacts_dir: &Path, which: Option<&str>) -> Result<RunDir, ArtifactError> {
    match which {
        None | Some("latest") => list_runs(artifacts_dir)
            .into_iter()
            .rev()
            .find(|r| r.is_complete())
            .ok_or_else(|| ArtifactError::NoRuns(runs_root(artifacts_dir))),
        Some(id) => {
            let as_path = Path::new(id);
            if as_path.join(MANIFEST).exists() || as_path.components().count() > 1 {
                return RunDir::open(as_path);
            }
            let p = runs_root(artifacts_dir).join(id);
            if !p.is_dir() {
                return Err(ArtifactError::NoSuchRun {
                    id: id.to_string(),
                    dir: runs_root(artifacts_dir),
                });
            }
            RunDir::open(&p)
        }
    }
}

/// A new run id: UTC timestamp (sorts by time) plus 4 random hex digits.
/// `now` is `(unix seconds, nanoseconds)`, passed in so the id is testable.
pub fn new_run_id(unix_secs: i64, nanos: u32) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]");
    let stamp = t.format(&fmt).unwrap_or_else(|_| unix_secs.to_string());
    let r: u16 = rand::random();
    // Millisecond digits keep ids of runs started in the same second in order.
    format!("{stamp}{:03}Z-{r:04x}", nanos / 1_000_000)
}

/// RFC 3339 UTC timestamp for documents and events.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub mod events;
pub mod manifest;
pub mod owner;
pub mod stage;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_lines_come_whole_across_read_buffers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lines.jsonl");
        // Lines of every length around the 256 KiB read buffer (one far longer), CRLF ends,
        // blank lines, and a last line with no line break.
        let mut text = String::new();
        let mut want = Vec::new();
        for (i, len) in [10usize, 262_100, 40, 262_144, 600_000, 3, 262_143]
            .into_iter()
            .enumerate()
        {
            let line = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(len));
            text.push_str(&line);
            text.push_str(if i % 2 == 0 { "\n" } else { "\r\n" });
            if i == 2 {
                text.push_str("\n   \n");
            }
            want.push(line);
        }
        text.push_str("not json");
        std::fs::write(&p, &text).unwrap();
        let mut got = Vec::new();
        let bad = read_jsonl_lines(&p, |l| {
            got.push(l.to_string());
            l.starts_with('{')
        })
        .unwrap();
        want.push("not json".into());
        assert_eq!(got.len(), want.len());
        assert!(got == want, "lines differ");
        assert_eq!(bad, 1);
        // Not UTF-8: the read stops with an error naming the file.
        std::fs::write(&p, b"{\"a\":1}\n\xff\xfe\n").unwrap();
        let e = read_jsonl_lines(&p, |_| true).unwrap_err();
        assert!(e.to_string().contains("lines.jsonl"), "{e}");
    }

    #[test]
    fn an_assembled_file_is_its_parts_in_order_hashed_as_written() {
        let d = tempfile::tempdir().unwrap();
        let spool = |bytes: &[u8], at: u64| {
            let mut f = tempfile::tempfile().unwrap();
            f.write_all(bytes).unwrap();
            // Whatever the offset the spool was left at, all of it is taken.
            io::Seek::seek(&mut f, io::SeekFrom::Start(at)).unwrap();
            f
        };
        // Over several hashing windows, the last one partial.
        let big: Vec<u8> = (0..2 * HASH_WINDOW as usize + 3 * OFFLOAD_CHUNK + 17)
            .map(|i| (i % 251) as u8)
            .collect();
        let parts = vec![
            Part::Bytes(b"<head>".to_vec()),
            Part::File(spool(&big, 5)),
            Part::Bytes(Vec::new()),
            Part::File(spool(b"", 0)),
            Part::File(spool(b"small", 2)),
            Part::Bytes(b"</head>\n".to_vec()),
        ];
        let p = d.path().join("sub/doc.xml");
        let n = write_atomic_assembled(&p, parts).unwrap();
        let mut want = b"<head>".to_vec();
        want.extend_from_slice(&big);
        want.extend_from_slice(b"small</head>\n");
        let got = std::fs::read(&p).unwrap();
        assert_eq!(n as usize, want.len());
        assert!(got == want, "the file is not its parts in order");
        // The recorded hash is the file's, so the manifest need not read it.
        let meta = std::fs::metadata(&p).unwrap();
        assert_eq!(recorded_hash(&p, &meta), Some(sha256_file(&p).unwrap()));
        // No temp file is left beside it.
        let names: Vec<_> = std::fs::read_dir(d.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["doc.xml"]);
    }

    #[test]
    fn offload_takes_a_whole_buffer_in_the_order_of_the_writes() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("given.jsonl");
        let mut w = Offload::new(File::create(&p).unwrap()).unwrap();
        let mut want = Vec::new();
        for i in 0..40u8 {
            // Small writes buffered, then a buffer given away whole (or copied, when small).
            w.write_all(&[b'a' + i % 26; 10]).unwrap();
            want.extend_from_slice(&[b'a' + i % 26; 10]);
            let len = if i % 3 == 0 {
                100
            } else {
                OFFLOAD_CHUNK + i as usize
            };
            let mut v = vec![i; len];
            want.extend_from_slice(&v);
            w.write_vec(&mut v).unwrap();
            assert!(v.is_empty());
        }
        let h = w.finish().unwrap();
        assert!(std::fs::read(&p).unwrap() == want, "bytes out of order");
        assert_eq!((h.bytes, h.sha256()), sha256_file(&p).unwrap());
    }

    #[test]
    fn offload_writes_and_hashes_every_byte_in_order() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.jsonl");
        let mut w = Offload::new(File::create(&p).unwrap()).unwrap();
        let mut want = Vec::new();
        // Odd write sizes across many chunks, with flushes in between.
        for i in 0..20_000u32 {
            let line = format!(
                "{{\"n\":{i},\"pad\":\"{}\"}}\n",
                "x".repeat((i % 97) as usize)
            );
            w.write_all(line.as_bytes()).unwrap();
            want.extend_from_slice(line.as_bytes());
            if i % 5000 == 0 {
                w.flush().unwrap();
            }
        }
        let h = w.finish().unwrap();
        assert!(want.len() > 4 * OFFLOAD_CHUNK);
        assert_eq!(std::fs::read(&p).unwrap(), want);
        assert_eq!((h.bytes, h.sha256()), sha256_file(&p).unwrap());
        // Dropped without a finish: everything still reaches the file.
        let q = d.path().join("dropped");
        {
            let mut w = Offload::new(File::create(&q).unwrap()).unwrap();
            w.write_all(&want).unwrap();
        }
        assert_eq!(std::fs::read(&q).unwrap(), want);
    }

    #[test]
    fn a_kept_copy_is_hashed_here_when_small_and_by_a_worker_when_big() {
        use crate::redact::fs::CopySink as _;
        let d = tempfile::tempdir().unwrap();
        for (name, len) in [("small", 3000u64), ("big", CopyOut::HERE_MAX + 1)] {
            let p = d.path().join(name);
            let mut w = CopyOut::new(File::create(&p).unwrap(), len).unwrap();
            assert_eq!(matches!(w, CopyOut::Here(_)), name == "small");
            let mut want = Vec::new();
            let mut i = 0u64;
            while (want.len() as u64) < len {
                let mut v = format!("line {i}\n").into_bytes();
                want.extend_from_slice(&v);
                // Both ways a copy is handed its bytes: whole buffers and plain writes.
                if i.is_multiple_of(2) {
                    w.write_vec(&mut v).unwrap();
                    assert!(v.is_empty());
                } else {
                    w.write_all(&v).unwrap();
                }
                i += 1;
            }
            let h = w.finish().unwrap();
            assert_eq!(std::fs::read(&p).unwrap(), want, "{name}");
            assert_eq!((h.bytes, h.sha256()), sha256_file(&p).unwrap(), "{name}");
        }
    }

    #[test]
    fn hashes_are_recorded_by_path_and_only_trusted_while_the_file_is_unchanged() {
        let d = tempfile::tempdir().unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|i| d.path().join(format!("f{i}"))).collect();
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(p, vec![b'a'; i + 1]).unwrap();
            record_hash(p, i as u64 + 1, format!("h{i}"));
        }
        // Recorded again: the newer entry is the one that counts.
        record_hash(&paths[1], 2, "h1-again".into());
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        assert_eq!(
            recorded_hash(&paths[0], &meta(&paths[0])),
            Some((1, "h0".into()))
        );
        assert_eq!(
            recorded_hash(&paths[1], &meta(&paths[1])),
            Some((2, "h1-again".into()))
        );
        // A file that changed size since is hashed again by whoever asks.
        std::fs::write(&paths[2], b"changed!").unwrap();
        assert_eq!(recorded_hash(&paths[2], &meta(&paths[2])), None);
        assert_eq!(
            recorded_hash(&d.path().join("never"), &meta(&paths[0])),
            None
        );
    }

    #[test]
    fn offload_reports_the_workers_write_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("ro");
        std::fs::write(&p, b"").unwrap();
        // A file opened read-only: every write the worker makes fails.
        let mut w = Offload::new(File::open(&p).unwrap()).unwrap();
        let mut failed = false;
        for _ in 0..64 {
            if w.write_all(&[b'x'; 64 * 1024]).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed || w.finish().is_err());
    }

    #[test]
    fn run_ids_sort_by_time() {
        let a = new_run_id(1_700_000_000, 5_000_000);
        let b = new_run_id(1_700_000_000, 6_000_000);
        let c = new_run_id(1_700_000_001, 0);
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!(a.starts_with("20231114T221320005Z-"), "{a}");
    }

    #[test]
    fn atomic_write_and_newer_schema_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x/gate.json");
        write_json(&p, &serde_json::json!({"schema_version": 99})).unwrap();
        let e = read_json::<serde_json::Value>(&p).unwrap_err();
        assert!(e.to_string().contains("upgrade codeloop"), "{e}");
        // no temp files left behind
        let names: Vec<_> = fs::read_dir(p.parent().unwrap())
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(names.len(), 1);
    }
}
