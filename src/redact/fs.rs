//! Applying a [`Redactor`] to files: runner logs rewritten in place, result files copied
//! through it, and a last pass over a run directory. Streams in chunks, so memory stays flat
//! whatever the file size; a file is only rewritten (temp file + rename) when it holds a
//! secret, so a clean run costs one read of each file and no write.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::Redactor;

const CHUNK: usize = 64 * 1024;

/// Errors redacting a file. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RedactError {
    #[error("cannot read `{path}` to redact secrets: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write `{path}` with secrets redacted: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Lines longer than this are not read as `::add-mask::` commands (a log with no line breaks
/// must not be held in memory whole).
const MAX_COMMAND_LINE: usize = 64 * 1024;

/// The values of every `::add-mask::` line in a file (a runner's log).
pub fn scan_masks(path: &Path) -> Result<Vec<String>, RedactError> {
    let err = |source| RedactError::Read {
        path: path.to_path_buf(),
        source,
    };
    let f = File::open(path).map_err(err)?;
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut too_long = false;
    let mut rd = BufReader::with_capacity(CHUNK, f);
    let take = |line: &[u8], out: &mut Vec<String>| {
        // Cheap test first: most lines are not commands.
        if memchr::memmem::find(line, b"add-mask").is_some()
            && let Some(v) = super::add_mask_value(&String::from_utf8_lossy(line))
        {
            out.push(v);
        }
    };
    loop {
        let buf = match rd.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        };
        if buf.is_empty() {
            if !too_long {
                take(&line, &mut out);
            }
            return Ok(out);
        }
        let (piece, end) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        if !too_long {
            if line.len() + piece.len() > MAX_COMMAND_LINE {
                too_long = true;
                line.clear();
            } else {
                line.extend_from_slice(piece);
            }
        }
        let n = piece.len();
        rd.consume(n);
        if end {
            if !too_long {
                take(&line, &mut out);
            }
            line.clear();
            too_long = false;
        }
    }
}

/// Files written through the redactor (a collected report's copy), each with the redactor's
/// generation when its writing began: the last pass over the run directory need not read
/// them again unless a secret was added since.
static REDACTED: std::sync::Mutex<Option<std::collections::HashMap<PathBuf, u64>>> =
    std::sync::Mutex::new(None);

/// Records that `path` was written through the redactor of `generation` (read before the
/// redactor itself, so a secret added in between makes the mark stale, never wrong).
pub fn mark_redacted(path: &Path, generation: u64) {
    if let Ok(mut m) = REDACTED.lock() {
        m.get_or_insert_with(Default::default)
            .insert(path.to_path_buf(), generation);
    }
}

/// Whether `path` was written through the redactor as it is now (no secret added since).
pub fn redacted_with_current(path: &Path) -> bool {
    let now = super::generation();
    REDACTED
        .lock()
        .is_ok_and(|m| m.as_ref().and_then(|m| m.get(path)) == Some(&now))
}

/// Streams `src` through the redactor into `dst`. Returns whether anything was replaced.
pub fn redact_stream(r: &Redactor, src: &mut dyn Read, dst: &mut dyn Write) -> io::Result<bool> {
    RedactTee::new(r, src, dst)
        .finish()
        .map(|(_, replaced)| replaced)
}

/// Whether the file holds any secret (one chunked read; matches across chunk edges count).
pub fn file_has_secret(r: &Redactor, path: &Path) -> Result<bool, RedactError> {
    let err = |source| RedactError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut f = File::open(path).map_err(err)?;
    let keep = r.max_len().saturating_sub(1);
    let mut window: Vec<u8> = Vec::with_capacity(CHUNK + keep);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(e)),
        };
        window.extend_from_slice(&buf[..n]);
        if r.is_match(&window) {
            return Ok(true);
        }
        let cut = window.len().saturating_sub(keep);
        window.drain(..cut);
    }
}

/// Rewrites `path` with every secret replaced, if it holds any (temp file + rename, so a
/// killed process leaves the old file or the new one). Returns whether it was rewritten.
pub fn redact_file(r: &Redactor, path: &Path) -> Result<bool, RedactError> {
    if !file_has_secret(r, path)? {
        return Ok(false);
    }
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{name}.redact-{}", std::process::id()));
    let result = (|| {
        let mut src = File::open(path).map_err(|source| RedactError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let werr = |source| RedactError::Write {
            path: path.to_path_buf(),
            source,
        };
        let mut dst = io::BufWriter::new(File::create(&tmp).map_err(werr)?);
        match Kind::of(path, &src) {
            Kind::Json => {
                let mut doc = Vec::new();
                src.read_to_end(&mut doc)
                    .map_err(|source| RedactError::Read {
                        path: path.to_path_buf(),
                        source,
                    })?;
                dst.write_all(&r.redact_json(&doc)).map_err(werr)?;
            }
            Kind::JsonLines => redact_lines(r, &mut src, &mut dst).map_err(werr)?,
            Kind::Bytes => {
                redact_stream(r, &mut src, &mut dst).map_err(werr)?;
            }
        }
        dst.flush().map_err(werr)?;
        drop(dst);
        std::fs::rename(&tmp, path).map_err(werr)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// How a file is redacted: run files that later stages parse must stay valid JSON.
enum Kind {
    Json,
    JsonLines,
    Bytes,
}

/// A JSON document read whole only up to this size; a bigger one (a runner's own report, not
/// read again by codeloop) is redacted as a byte stream.
const MAX_JSON_DOC: u64 = 64 * 1024 * 1024;

impl Kind {
    fn of(path: &Path, f: &File) -> Kind {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl") => Kind::JsonLines,
            Some("json" | "sarif") if f.metadata().is_ok_and(|m| m.len() <= MAX_JSON_DOC) => {
                Kind::Json
            }
            _ => Kind::Bytes,
        }
    }
}

/// JSON Lines, line by line through [`Redactor::redact_json`].
fn redact_lines(r: &Redactor, src: &mut dyn Read, dst: &mut dyn Write) -> io::Result<()> {
    let mut rd = BufReader::with_capacity(CHUNK, src);
    let mut line = Vec::new();
    loop {
        line.clear();
        if rd.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let body = line.strip_suffix(b"\n").unwrap_or(&line);
        dst.write_all(&r.redact_json(body))?;
        if line.ends_with(b"\n") {
            dst.write_all(b"\n")?;
        }
    }
}

/// Where a [`RedactTee`]'s copy goes: any writer. One that can take a filled buffer as it is
/// (the run directory's [`crate::artifact::Offload`]) spares the copy of every chunk into a
/// buffer of its own.
pub trait CopySink: Write {
    /// Writes all of `v` and leaves it empty (with whatever room: it may be another buffer).
    fn write_vec(&mut self, v: &mut Vec<u8>) -> io::Result<()> {
        self.write_all(v)?;
        v.clear();
        Ok(())
    }
}

impl CopySink for Vec<u8> {}
impl CopySink for &mut dyn Write {}
impl CopySink for crate::artifact::Offload {
    fn write_vec(&mut self, v: &mut Vec<u8>) -> io::Result<()> {
        crate::artifact::Offload::write_vec(self, v)
    }
}
impl CopySink for crate::artifact::CopyOut {
    fn write_vec(&mut self, v: &mut Vec<u8>) -> io::Result<()> {
        match self {
            crate::artifact::CopyOut::Offload(o) => o.write_vec(v),
            crate::artifact::CopyOut::Here(h) => {
                h.write_all(v)?;
                v.clear();
                Ok(())
            }
        }
    }
}

/// A reader over `src` through the redactor that also writes what it hands out to `dst`: a
/// result file is copied into the run directory, redacted, in the same pass the parser reads
/// it (one read of the source instead of copy, then parse the copy). The parser sees the
/// redacted bytes, as it did reading the copy. Call [`RedactTee::finish`] when the parser is
/// done: it copies what the parser left unread (a parser that stopped early) and flushes.
pub struct RedactTee<'r, R: Read, W: CopySink> {
    r: &'r Redactor,
    src: R,
    dst: W,
    /// Raw bytes read but not yet decided (a secret may straddle the next read), read into
    /// in place.
    carry: Vec<u8>,
    /// Redacted bytes ready for the reader, from `pos`: `out`, or, when the chunk had
    /// nothing to replace, `carry[..ready]` itself (given to `dst` at the next fill).
    out: Vec<u8>,
    in_carry: bool,
    ready: usize,
    pos: usize,
    eof: bool,
    replaced: bool,
    /// The undecided bytes behind `ready`, kept aside while `carry` goes to `dst`.
    tail: Vec<u8>,
    /// The copy's first write error: the copy stops, the reader goes on (the parse must not
    /// fail because the run directory's disk is full).
    dst_error: Option<io::Error>,
}

/// Bytes read from the source at a time.
const TEE_CHUNK: usize = 256 * 1024;

impl<'r, R: Read, W: CopySink> RedactTee<'r, R, W> {
    pub fn new(r: &'r Redactor, src: R, dst: W) -> Self {
        RedactTee {
            r,
            src,
            dst,
            carry: Vec::new(),
            in_carry: false,
            ready: 0,
            out: Vec::with_capacity(TEE_CHUNK + r.max_len()),
            pos: 0,
            eof: false,
            replaced: false,
            tail: Vec::new(),
            dst_error: None,
        }
    }

    fn fill(&mut self) -> io::Result<()> {
        // Bytes handed out from `carry` by the last fill are done with now: they go to the
        // copy as they are (the buffer itself, when `dst` takes it), and the undecided rest
        // starts the next chunk.
        if self.in_carry {
            self.tail.clear();
            self.tail.extend_from_slice(&self.carry[self.ready..]);
            self.carry.truncate(self.ready);
            if self.dst_error.is_none() {
                self.dst_error = self.dst.write_vec(&mut self.carry).err();
            }
            self.carry.clear();
            self.carry.extend_from_slice(&self.tail);
            self.in_carry = false;
        }
        // Read straight behind the carried bytes, into the buffer's spare room (not zeroed
        // first, unlike a slice to read into).
        let have = self.carry.len();
        self.carry.reserve(TEE_CHUNK);
        let read = (&mut self.src)
            .take(TEE_CHUNK as u64)
            .read_to_end(&mut self.carry);
        // Bytes read before an error stay in `carry`: the next fill (`finish`'s) takes them
        // on, so a copy that goes on after a failed read loses nothing it had read.
        read?;
        let n = self.carry.len() - have;
        let last = n == 0;
        self.out.clear();
        self.pos = 0;
        let (used, hit) = self
            .r
            .redact_chunk_if_needed(&self.carry, last, &mut self.out);
        self.replaced |= hit;
        if hit {
            self.carry.drain(..used);
            self.ready = self.out.len();
            if self.dst_error.is_none() {
                self.dst_error = self.dst.write_all(&self.out).err();
            }
        } else {
            // Nothing replaced: the reader and the copy take the raw bytes as they are.
            self.in_carry = true;
            self.ready = used;
            if last && self.dst_error.is_none() {
                // No fill comes after the last: its bytes (the few held back) go now.
                self.dst_error = self.dst.write_all(&self.carry[..used]).err();
            }
        }
        if last && self.dst_error.is_none() {
            self.dst_error = self.dst.flush().err();
        }
        self.eof = last;
        Ok(())
    }

    /// Copies the rest of the source to `dst` and returns it, with whether any secret was
    /// replaced; an error when the copy is not whole (a write failed, or the source could
    /// not be read to its end).
    pub fn finish(mut self) -> io::Result<(W, bool)> {
        while !self.eof && self.dst_error.is_none() {
            self.fill()?;
        }
        match self.dst_error.take() {
            Some(e) => Err(e),
            None => Ok((self.dst, self.replaced)),
        }
    }
}

impl<R: Read, W: CopySink> Read for RedactTee<'_, R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.ready {
            if self.eof {
                return Ok(0);
            }
            self.fill()?;
        }
        let from = if self.in_carry {
            &self.carry[..self.ready]
        } else {
            &self.out[..]
        };
        let n = buf.len().min(self.ready - self.pos);
        buf[..n].copy_from_slice(&from[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Copies `src` to `dst` through the redactor (a result file kept in the run directory).
pub fn copy_redacted(r: &Redactor, src: &Path, dst: &Path) -> io::Result<()> {
    let mut from = File::open(src)?;
    let mut to = io::BufWriter::new(File::create(dst)?);
    redact_stream(r, &mut from, &mut to)?;
    to.flush()
}

/// Redacts every regular file under `root` for which `skip` is false (symlinks are not
/// followed: they may point outside the run directory). Returns the files rewritten and the
/// errors met; one unreadable file does not stop the pass.
pub fn redact_tree(
    r: &Redactor,
    root: &Path,
    skip: &dyn Fn(&Path) -> bool,
) -> (Vec<PathBuf>, Vec<RedactError>) {
    let mut rewritten = Vec::new();
    let mut errors = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let Ok(e) = entry else { continue };
        if !e.file_type().is_file() || skip(e.path()) {
            continue;
        }
        match redact_file(r, e.path()) {
            Ok(true) => rewritten.push(e.path().to_path_buf()),
            Ok(false) => {}
            Err(err) => errors.push(err),
        }
    }
    (rewritten, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_marked_redacted_goes_stale_when_a_secret_is_added() {
        let p = Path::new("/nonexistent/run/runners/r/report.xml");
        mark_redacted(p, crate::redact::generation());
        assert!(redacted_with_current(p));
        assert!(!redacted_with_current(Path::new("/nonexistent/other.xml")));
        // A value no other test's text holds (the redactor is process-wide).
        assert!(crate::redact::add_global(["zq-mark-redacted-test-7f3a9"]));
        assert!(
            !redacted_with_current(p),
            "a new secret: the copy must be read again"
        );
    }

    #[test]
    fn a_log_is_rewritten_only_when_it_holds_a_secret() {
        let d = tempfile::tempdir().unwrap();
        let r = Redactor::with_values(["s3cr3t-value"]);
        let clean = d.path().join("clean.log");
        std::fs::write(&clean, "nothing here\n").unwrap();
        assert!(!redact_file(&r, &clean).unwrap());
        let dirty = d.path().join("dirty.log");
        // Over several chunks, with the secret across a chunk edge.
        let mut text = "x".repeat(CHUNK - 5);
        text.push_str("s3cr3t-value and again s3cr3t-value\n");
        std::fs::write(&dirty, &text).unwrap();
        assert!(redact_file(&r, &dirty).unwrap());
        let got = std::fs::read_to_string(&dirty).unwrap();
        assert!(got.ends_with("*** and again ***\n"));
        assert_eq!(got.len(), CHUNK - 5 + "*** and again ***\n".len());
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            2,
            "no temp left"
        );
    }

    #[test]
    fn run_json_files_stay_valid_json() {
        let d = tempfile::tempdir().unwrap();
        let r = Redactor::with_values(["1234567"]);
        let lines = d.path().join("cases.jsonl");
        std::fs::write(
            &lines,
            "{\"d\":1234567,\"m\":\"x 1234567\"}\n{\"n\":\"ok\"}\n",
        )
        .unwrap();
        assert!(redact_file(&r, &lines).unwrap());
        assert_eq!(
            std::fs::read_to_string(&lines).unwrap(),
            "{\"d\":1234567,\"m\":\"x ***\"}\n{\"n\":\"ok\"}\n"
        );
        let doc = d.path().join("verify.json");
        std::fs::write(&doc, "{\n  \"d\": 1234567,\n  \"m\": \"1234567\"\n}\n").unwrap();
        assert!(redact_file(&r, &doc).unwrap());
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&doc).unwrap()).unwrap();
        assert_eq!(v, serde_json::json!({"d": 1234567, "m": "***"}));
    }

    #[test]
    fn masks_are_read_from_a_log() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stdout.log");
        std::fs::write(
            &p,
            b"a\n::add-mask::masked-one\n\xff bad utf8\n::add-mask::x\n",
        )
        .unwrap();
        assert_eq!(scan_masks(&p).unwrap(), ["masked-one"]);
        // A line longer than the bound is skipped (not held whole); the next one is read,
        // and so is a last line without a line break.
        let mut long = vec![b'x'; 3 * MAX_COMMAND_LINE];
        long.extend_from_slice(b"\n::add-mask::after-long\n::add-mask::no-newline");
        std::fs::write(&p, &long).unwrap();
        assert_eq!(scan_masks(&p).unwrap(), ["after-long", "no-newline"]);
        assert!(matches!(
            scan_masks(&d.path().join("missing")),
            Err(RedactError::Read { .. })
        ));
    }

    #[test]
    fn the_tee_reads_and_copies_redacted_in_one_pass() {
        let secret = "s3cr3t-value-123";
        let r = Redactor::with_values([secret]);
        // The secret straddles the tee's read size, and a token shape sits near the end.
        let mut src = vec![b'x'; TEE_CHUNK - 5];
        src.extend_from_slice(secret.as_bytes());
        src.extend_from_slice(b" tail ghp_0123456789abcdefghijABCDEFGHIJ0123 end\n");
        let want = {
            let mut w = Vec::new();
            redact_stream(&r, &mut &src[..], &mut w).unwrap();
            w
        };
        assert!(!want.windows(secret.len()).any(|w| w == secret.as_bytes()));
        // Read whole: the reader and the copy both get the redacted bytes.
        let mut tee = RedactTee::new(&r, &src[..], Vec::new());
        let mut read = Vec::new();
        // Odd read sizes, as a BufReader over a parser would not use.
        let mut b = [0u8; 7777];
        loop {
            let n = tee.read(&mut b).unwrap();
            if n == 0 {
                break;
            }
            read.extend_from_slice(&b[..n]);
        }
        let (copy, replaced) = tee.finish().unwrap();
        assert!(replaced);
        assert_eq!(read, want);
        assert_eq!(copy, want);
        // The whole file redacted at once says the same.
        assert_eq!(want, r.redact_bytes(&src).as_ref());
        // Many reads, short and long, over several chunks with secrets on their edges.
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.1 = (self.1 * 7 + 3) % 5000 + 1;
                let n = self.1.min(buf.len()).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut big = Vec::new();
        for k in 0..5 {
            big.resize((k + 1) * TEE_CHUNK - 3 - k, b'y');
            big.extend_from_slice(secret.as_bytes());
        }
        for reader_sizes in [true, false] {
            let mut tee = if reader_sizes {
                RedactTee::new(&r, Box::new(Trickle(&big, 0)) as Box<dyn Read>, Vec::new())
            } else {
                RedactTee::new(&r, Box::new(&big[..]) as Box<dyn Read>, Vec::new())
            };
            let mut read = Vec::new();
            tee.read_to_end(&mut read).unwrap();
            let (copy, replaced) = tee.finish().unwrap();
            assert!(replaced);
            assert_eq!(read, r.redact_bytes(&big).as_ref());
            assert_eq!(copy, read);
        }
        // A copy that takes the tee's buffers as they are (as the run directory's writer
        // does) gets the same bytes: the tee reads on into a buffer of the copy's.
        struct Taking(Vec<u8>);
        impl Write for Taking {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        impl CopySink for Taking {
            fn write_vec(&mut self, v: &mut Vec<u8>) -> io::Result<()> {
                self.0.extend_from_slice(v);
                // A different buffer back, with old bytes in its room.
                *v = Vec::with_capacity(v.capacity() / 2 + 3);
                v.extend_from_slice(b"stale");
                v.clear();
                Ok(())
            }
        }
        for src in [&src, &big] {
            let mut tee = RedactTee::new(
                &r,
                Box::new(Trickle(src, 0)) as Box<dyn Read>,
                Taking(Vec::new()),
            );
            let mut read = Vec::new();
            tee.read_to_end(&mut read).unwrap();
            let (copy, _) = tee.finish().unwrap();
            assert!(read == r.redact_bytes(src).as_ref(), "read differs");
            assert!(copy.0 == read, "copy differs");
        }
        // A reader that stops early still leaves a whole copy.
        let mut tee = RedactTee::new(&r, &src[..], Vec::new());
        let mut head = [0u8; 100];
        tee.read_exact(&mut head).unwrap();
        let (copy, _) = tee.finish().unwrap();
        assert_eq!(copy, want);
    }

    #[test]
    fn a_failed_read_loses_nothing_from_the_copy() {
        // A source whose third read fails once (after the first reads of a chunk succeeded):
        // the reader sees the error, and the copy the tee then finishes is still whole.
        struct Hiccup {
            data: Vec<u8>,
            at: usize,
            reads: usize,
        }
        impl Read for Hiccup {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.reads += 1;
                if self.reads == 3 {
                    return Err(io::Error::other("disk hiccup"));
                }
                let n = buf.len().min(5000).min(self.data.len() - self.at);
                buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
                self.at += n;
                Ok(n)
            }
        }
        let data: Vec<u8> = (0..3 * TEE_CHUNK + 11)
            .map(|i| b'a' + (i % 26) as u8)
            .collect();
        let r = Redactor::with_values(["zz-not-in-the-data-zz"]);
        let src = Hiccup {
            data: data.clone(),
            at: 0,
            reads: 0,
        };
        let mut tee = RedactTee::new(&r, src, Vec::new());
        let mut got = Vec::new();
        let e = tee.read_to_end(&mut got).unwrap_err();
        assert!(e.to_string().contains("hiccup"), "{e}");
        let (copy, _) = tee.finish().unwrap();
        assert_eq!(copy.len(), data.len());
        assert!(copy == data, "the copy lost or changed bytes");
    }

    #[test]
    fn copy_and_tree_redact() {
        let d = tempfile::tempdir().unwrap();
        let r = Redactor::with_values(["tok-12345678"]);
        let src = d.path().join("in.xml");
        std::fs::write(&src, "<failure message=\"tok-12345678\"/>").unwrap();
        let dst = d.path().join("out.xml");
        copy_redacted(&r, &src, &dst).unwrap();
        assert_eq!(
            std::fs::read_to_string(&dst).unwrap(),
            "<failure message=\"***\"/>"
        );
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/a.txt"), "tok-12345678").unwrap();
        let (rewritten, errors) = redact_tree(&r, d.path(), &|p| p.ends_with("in.xml"));
        assert!(errors.is_empty());
        assert_eq!(rewritten, [d.path().join("sub/a.txt")]);
        assert!(
            std::fs::read_to_string(&src)
                .unwrap()
                .contains("tok-12345678")
        );
    }
}
