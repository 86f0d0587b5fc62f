//! A lenient, streaming JSON reader for real-world report files, shared by every JSON parser.
//!
//! `serde_json` is strict where reporters are sloppy: it refuses `NaN`/`Infinity` (Python's
//! `json` writes them), numbers that overflow `f64` (`1e400`), lone UTF-16 surrogates
//! (JavaScript strings cut in half), raw control characters inside strings, and invalid UTF-8;
//! and it has to see a whole document before a caller gets anything. This reader:
//!
//! - reads the file once through a fixed-size buffer and lets the caller walk the top-level
//!   object key by key ([`JsonReader::enter_object`], [`JsonReader::next_key`]) and big arrays
//!   element by element ([`JsonReader::enter_array`], [`JsonReader::next_item`]), so only one
//!   element (one test, one suite) is materialized at a time and memory stays bounded;
//! - materializes single elements as `serde_json::Value` ([`JsonReader::read_value`]), or skips
//!   them without allocating ([`JsonReader::skip_value`]);
//! - reads `NaN`, `Infinity`, `-Infinity` and out-of-range numbers as `null`, lone surrogates as
//!   U+FFFD, raw control characters and invalid UTF-8 as they are (lossily) — each with a
//!   warning that says where;
//! - limits nesting depth ([`MAX_DEPTH`]) and reports it as a [`ParseError`] with a position
//!   instead of overflowing the stack;
//! - gives every error a line/column/byte position, and names a truncated file as such.
//!
//! Also the small helpers the JSON parsers share to read fields leniently ([`str_of`],
//! [`seconds_of`], ...).

use std::io::BufRead;

use serde_json::{Map, Number, Value};

use super::{ParseError, Sink};
use crate::model::Position;

/// Deepest nesting [`JsonReader::read_value`] accepts. Real reports nest a few levels (suites
/// in suites); thousands of levels are an attack or a broken writer.
pub const MAX_DEPTH: usize = 256;

/// How many warnings one reader keeps before it only counts them.
const MAX_WARNINGS: usize = 100;

/// One nesting level the caller is walking by hand.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Frame {
    Object { first: bool },
    Array { first: bool },
}

/// See the module docs.
pub struct JsonReader<'r> {
    r: &'r mut dyn BufRead,
    buf: Vec<u8>,
    i: usize,
    len: usize,
    eof: bool,
    /// Absolute byte offset of `buf[0]`.
    base: u64,
    line: u64,
    line_start: u64,
    frames: Vec<Frame>,
    warnings: Vec<(Position, String)>,
    warnings_dropped: u64,
    /// Added to reported line numbers (JSON Lines callers parse one line at a time).
    line_offset: u64,
    /// Reused for strings that are checked but not kept (see [`Keep`]).
    scratch: Vec<u8>,
}

/// Which parts of a value [`JsonReader::read_value_only`] builds. Big reports carry much more
/// than a parser reads (pytest's `keywords` and `metadata`, jest's per-test `failureDetails`,
/// go's `Time`); building those as `Value`s was most of the parse time. Parts left out are
/// still read with exactly the checks, warnings and errors of [`JsonReader::read_value`] —
/// only no `Value` is built — so what a parser sees of the kept parts, and every warning or
/// error about the file, is the same as with a full read.
#[derive(Clone, Copy, Debug)]
pub enum Keep {
    /// The whole value.
    All,
    /// For an object: only these keys, each with its own `Keep` (other keys are checked and
    /// dropped); for an array: each element with this same `Keep`; scalars are kept.
    Only(&'static [(&'static str, Keep)]),
}

/// What [`JsonReader::value_at`] does with the value it reads.
#[derive(Clone, Copy)]
enum Mode {
    Build(Keep),
    /// Read and check, build nothing.
    Check,
}

impl<'r> JsonReader<'r> {
    pub fn new(r: &'r mut dyn BufRead) -> Self {
        JsonReader::with_buffer(r, Vec::new())
    }

    /// A reader that uses `buf` as its read buffer (a fresh 64 KiB one if it is empty), so
    /// that a caller reading many small documents (JSON Lines) reuses one buffer; [`take_buffer`](Self::take_buffer)
    /// hands it back.
    fn with_buffer(r: &'r mut dyn BufRead, buf: Vec<u8>) -> Self {
        let mut jr = JsonReader::new_empty(r);
        jr.buf = if buf.is_empty() {
            vec![0; 64 * 1024]
        } else {
            buf
        };
        jr
    }

    fn new_empty(r: &'r mut dyn BufRead) -> Self {
        JsonReader {
            r,
            buf: Vec::new(),
            i: 0,
            len: 0,
            eof: false,
            base: 0,
            line: 1,
            line_start: 0,
            frames: Vec::new(),
            warnings: Vec::new(),
            warnings_dropped: 0,
            line_offset: 0,
            scratch: Vec::new(),
        }
    }

    fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Reports positions as if the input started on line `line` (1-based) of a bigger file.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line_offset = line.saturating_sub(1);
        self
    }

    /// Where the reader is now.
    pub fn position(&self) -> Position {
        let byte = self.base + self.i as u64;
        Position {
            line: self.line + self.line_offset,
            column: byte - self.line_start + 1,
            byte,
        }
    }

    /// Hands the warnings collected so far to `sink`.
    pub fn flush_warnings(&mut self, sink: &mut dyn Sink) {
        for (p, m) in self.warnings.drain(..) {
            sink.warning(Some(p), m);
        }
        if self.warnings_dropped > 0 {
            sink.warning(
                None,
                format!(
                    "{} more lenient reads in this file were not listed",
                    self.warnings_dropped
                ),
            );
            self.warnings_dropped = 0;
        }
    }

    fn warn(&mut self, pos: Position, msg: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push((pos, msg.into()));
        } else {
            self.warnings_dropped += 1;
        }
    }

    fn err(&self, msg: impl Into<String>) -> ParseError {
        ParseError::at(self.position(), msg)
    }

    fn fill(&mut self) -> Result<bool, ParseError> {
        if self.i < self.len {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.len as u64;
        self.i = 0;
        self.len = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.len = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.err(format!("cannot read the file: {e}"))),
            }
        }
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>, ParseError> {
        if self.i < self.len {
            return Ok(Some(self.buf[self.i]));
        }
        Ok(if self.fill()? {
            Some(self.buf[self.i])
        } else {
            None
        })
    }

    #[inline]
    fn bump(&mut self) -> Result<Option<u8>, ParseError> {
        let b = self.peek()?;
        if let Some(c) = b {
            self.i += 1;
            if c == b'\n' {
                self.line += 1;
                self.line_start = self.base + self.i as u64;
            }
        }
        Ok(b)
    }

    fn eof_error(&self) -> ParseError {
        self.err("unexpected end of file: the report is truncated (was the runner killed while writing it?)")
    }

    /// Skips whitespace and returns the next byte without consuming it.
    pub fn peek_token(&mut self) -> Result<Option<u8>, ParseError> {
        loop {
            match self.peek()? {
                Some(b' ' | b'\t' | b'\n' | b'\r') => {
                    self.bump()?;
                }
                other => return Ok(other),
            }
        }
    }

    fn expect_token(&mut self) -> Result<u8, ParseError> {
        self.peek_token()?.ok_or_else(|| self.eof_error())
    }

    fn unexpected(&self, b: u8, wanted: &str) -> ParseError {
        let shown = if b.is_ascii_graphic() {
            format!("`{}`", b as char)
        } else {
            format!("byte 0x{b:02x}")
        };
        self.err(format!("expected {wanted}, found {shown}"))
    }

    /// Consumes `{`; then call [`next_key`](Self::next_key) until it returns `None`.
    pub fn enter_object(&mut self) -> Result<(), ParseError> {
        match self.expect_token()? {
            b'{' => {
                self.bump()?;
                self.frames.push(Frame::Object { first: true });
                Ok(())
            }
            b => Err(self.unexpected(b, "a JSON object `{`")),
        }
    }

    /// Consumes `[`; then call [`next_item`](Self::next_item) until it returns `false`.
    pub fn enter_array(&mut self) -> Result<(), ParseError> {
        match self.expect_token()? {
            b'[' => {
                self.bump()?;
                self.frames.push(Frame::Array { first: true });
                Ok(())
            }
            b => Err(self.unexpected(b, "a JSON array `[`")),
        }
    }

    /// The next key of the object being walked (its value must be consumed next), or `None`
    /// after the closing `}`.
    pub fn next_key(&mut self) -> Result<Option<String>, ParseError> {
        let first = match self.frames.last_mut() {
            Some(Frame::Object { first }) => std::mem::replace(first, false),
            _ => return Err(self.err("internal: next_key outside an object")),
        };
        let mut b = self.expect_token()?;
        if b == b'}' {
            self.bump()?;
            self.frames.pop();
            return Ok(None);
        }
        if !first {
            if b != b',' {
                return Err(self.unexpected(b, "`,` or `}` in an object"));
            }
            self.bump()?;
            b = self.expect_token()?;
        }
        if b != b'"' {
            return Err(self.unexpected(b, "a property name in double quotes"));
        }
        let key = self.read_string()?;
        let c = self.expect_token()?;
        if c != b':' {
            return Err(self.unexpected(c, "`:` after a property name"));
        }
        self.bump()?;
        Ok(Some(key))
    }

    /// Whether the array being walked has another element (to be consumed next).
    pub fn next_item(&mut self) -> Result<bool, ParseError> {
        let first = match self.frames.last_mut() {
            Some(Frame::Array { first }) => std::mem::replace(first, false),
            _ => return Err(self.err("internal: next_item outside an array")),
        };
        let b = self.expect_token()?;
        if b == b']' {
            self.bump()?;
            self.frames.pop();
            return Ok(false);
        }
        if !first {
            if b != b',' {
                return Err(self.unexpected(b, "`,` or `]` in an array"));
            }
            self.bump()?;
        }
        Ok(true)
    }

    /// Consumes an array value element by element, calling `each` on every element read
    /// as a `Value` (with the position where it starts). Accepts `null` as an empty array.
    pub fn for_each_item(
        &mut self,
        each: impl FnMut(&mut Self, Value, Position) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        self.for_each_item_only(Keep::All, each)
    }

    /// [`for_each_item`](Self::for_each_item), building only the parts of each element that
    /// `keep` names (see [`Keep`]).
    pub fn for_each_item_only(
        &mut self,
        keep: Keep,
        mut each: impl FnMut(&mut Self, Value, Position) -> Result<(), ParseError>,
    ) -> Result<(), ParseError> {
        if self.expect_token()? == b'n' {
            self.read_value()?;
            return Ok(());
        }
        self.enter_array()?;
        while self.next_item()? {
            let pos = self.position();
            let v = self.read_value_only(keep)?;
            each(self, v, pos)?;
        }
        Ok(())
    }

    /// After the top-level value: only whitespace may follow (anything else is a warning, so
    /// a report with a trailing log line is still read).
    pub fn finish(&mut self) -> Result<(), ParseError> {
        if let Some(b) = self.peek_token()? {
            let p = self.position();
            let shown = if b.is_ascii_graphic() {
                format!("`{}`", b as char)
            } else {
                format!("byte 0x{b:02x}")
            };
            self.warn(
                p,
                format!("ignored content after the end of the JSON document (starts with {shown})"),
            );
        }
        Ok(())
    }

    /// Reads one whole value. Nesting deeper than [`MAX_DEPTH`] is an error.
    pub fn read_value(&mut self) -> Result<Value, ParseError> {
        self.value_at(0, Mode::Build(Keep::All))
    }

    /// Reads one whole value but builds only the parts `keep` names; the rest is checked
    /// exactly as [`read_value`](Self::read_value) would (same warnings, same errors).
    pub fn read_value_only(&mut self, keep: Keep) -> Result<Value, ParseError> {
        self.value_at(0, Mode::Build(keep))
    }

    /// The one value reader behind [`read_value`](Self::read_value) and
    /// [`read_value_only`](Self::read_value_only); in [`Mode::Check`] it returns `Null`.
    fn value_at(&mut self, depth: usize, mode: Mode) -> Result<Value, ParseError> {
        if depth + self.frames.len() > MAX_DEPTH {
            return Err(self.err(format!(
                "the JSON nests deeper than {MAX_DEPTH} levels; no test report does that"
            )));
        }
        match self.expect_token()? {
            b'{' => {
                self.bump()?;
                let mut map = Map::new();
                let mut first = true;
                loop {
                    let mut b = self.expect_token()?;
                    if b == b'}' {
                        self.bump()?;
                        return Ok(match mode {
                            Mode::Build(_) => Value::Object(map),
                            Mode::Check => Value::Null,
                        });
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.unexpected(b, "`,` or `}` in an object"));
                        }
                        self.bump()?;
                        b = self.expect_token()?;
                    }
                    first = false;
                    if b != b'"' {
                        return Err(self.unexpected(b, "a property name in double quotes"));
                    }
                    let kept = match mode {
                        Mode::Build(Keep::All) => Some((self.read_string()?, Keep::All)),
                        Mode::Build(Keep::Only(keys)) => self.read_key_among(keys)?,
                        Mode::Check => {
                            self.check_string()?;
                            None
                        }
                    };
                    let c = self.expect_token()?;
                    if c != b':' {
                        return Err(self.unexpected(c, "`:` after a property name"));
                    }
                    self.bump()?;
                    match kept {
                        Some((key, keep)) => {
                            let v = self.value_at(depth + 1, Mode::Build(keep))?;
                            map.insert(key, v);
                        }
                        None => {
                            self.value_at(depth + 1, Mode::Check)?;
                        }
                    }
                }
            }
            b'[' => {
                self.bump()?;
                let mut arr = Vec::new();
                let mut n = 0usize;
                loop {
                    let b = self.expect_token()?;
                    if b == b']' {
                        self.bump()?;
                        return Ok(match mode {
                            Mode::Build(_) => Value::Array(arr),
                            Mode::Check => Value::Null,
                        });
                    }
                    if n > 0 {
                        if b != b',' {
                            return Err(self.unexpected(b, "`,` or `]` in an array"));
                        }
                        self.bump()?;
                    }
                    n += 1;
                    let v = self.value_at(depth + 1, mode)?;
                    if let Mode::Build(_) = mode {
                        arr.push(v);
                    }
                }
            }
            b'"' => match mode {
                Mode::Build(_) => Ok(Value::String(self.read_string()?)),
                Mode::Check => {
                    self.check_string()?;
                    Ok(Value::Null)
                }
            },
            b'-' | b'0'..=b'9' | b'+' | b'.' => self.read_number(),
            b'a'..=b'z' | b'A'..=b'Z' => self.read_word(),
            b => Err(self.unexpected(b, "a JSON value")),
        }
    }

    /// Reads a property name (the reader is at its opening quote) and returns it with its
    /// [`Keep`] when it is one of `keys`; other names are checked and not allocated.
    fn read_key_among(
        &mut self,
        keys: &'static [(&'static str, Keep)],
    ) -> Result<Option<(String, Keep)>, ParseError> {
        let start = self.position();
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let res = self.scan_string(&mut out);
        let found = match res {
            Err(e) => Err(e),
            Ok(()) => Ok(match std::str::from_utf8(&out) {
                Ok(k) => keys
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(name, keep)| ((*name).to_string(), *keep)),
                Err(_) => {
                    self.warn(start, "invalid UTF-8 in a string; replaced with U+FFFD");
                    let k = String::from_utf8_lossy(&out).into_owned();
                    keys.iter()
                        .find(|(name, _)| *name == k)
                        .map(|(_, keep)| (k, *keep))
                }
            }),
        };
        self.put_scratch(out);
        found
    }

    /// Reads a string exactly as [`read_string`](Self::read_string) does (same warnings and
    /// errors) without keeping it.
    fn check_string(&mut self) -> Result<(), ParseError> {
        let start = self.position();
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        let res = self.scan_string(&mut out);
        if res.is_ok() && std::str::from_utf8(&out).is_err() {
            self.warn(start, "invalid UTF-8 in a string; replaced with U+FFFD");
        }
        self.put_scratch(out);
        res
    }

    fn put_scratch(&mut self, out: Vec<u8>) {
        // One huge skipped string (a captured log) must not stay allocated.
        if out.capacity() <= 1 << 20 {
            self.scratch = out;
        }
    }

    /// Skips one value without building it (strings are still checked for their end).
    pub fn skip_value(&mut self) -> Result<(), ParseError> {
        let mut depth: usize = 0;
        loop {
            match self.expect_token()? {
                b'{' | b'[' => {
                    if depth + self.frames.len() >= MAX_DEPTH {
                        return Err(self.err(format!(
                            "the JSON nests deeper than {MAX_DEPTH} levels; no test report does that"
                        )));
                    }
                    self.bump()?;
                    depth += 1;
                }
                b'}' | b']' => {
                    if depth == 0 {
                        let b = self.peek()?.unwrap_or(b' ');
                        return Err(self.unexpected(b, "a JSON value"));
                    }
                    self.bump()?;
                    depth -= 1;
                }
                b'"' => self.skip_string()?,
                b',' | b':' if depth > 0 => {
                    self.bump()?;
                    continue;
                }
                b'-' | b'0'..=b'9' | b'+' | b'.' | b'a'..=b'z' | b'A'..=b'Z' => {
                    while let Some(c) = self.peek()? {
                        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.') {
                            self.bump()?;
                        } else {
                            break;
                        }
                    }
                }
                b => return Err(self.unexpected(b, "a JSON value")),
            }
            if depth == 0 {
                return Ok(());
            }
        }
    }

    fn skip_string(&mut self) -> Result<(), ParseError> {
        self.bump()?; // opening quote
        loop {
            // Fast path: scan the buffer for the quote or a backslash.
            if self.i < self.len {
                let hay = &self.buf[self.i..self.len];
                match memchr::memchr3(b'"', b'\\', b'\n', hay) {
                    Some(k) => {
                        self.i += k;
                    }
                    None => {
                        self.i = self.len;
                        continue;
                    }
                }
            }
            match self.bump()? {
                None => return Err(self.eof_error()),
                Some(b'"') => return Ok(()),
                Some(b'\\') => {
                    if self.bump()?.is_none() {
                        return Err(self.eof_error());
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// Consumes the bytes that satisfy `take` (never a newline), copying the first
    /// `out.len()` of them into `out`; returns how many were copied.
    fn scan_run(&mut self, out: &mut [u8], take: impl Fn(u8) -> bool) -> Result<usize, ParseError> {
        let mut n = 0;
        while self.fill()? {
            let hay = &self.buf[self.i..self.len];
            let k = hay.iter().position(|&c| !take(c)).unwrap_or(hay.len());
            let copy = k.min(out.len() - n);
            out[n..n + copy].copy_from_slice(&hay[..copy]);
            n += copy;
            self.i += k;
            if self.i < self.len {
                break;
            }
        }
        Ok(n)
    }

    fn read_word(&mut self) -> Result<Value, ParseError> {
        let pos = self.position();
        // At most 16 letters are read (the rest is left for the caller to reject).
        let mut tmp = [0u8; 16];
        let mut n = 0;
        while n < tmp.len() {
            match self.peek()? {
                Some(c) if c.is_ascii_alphanumeric() => {
                    tmp[n] = c;
                    n += 1;
                    self.i += 1;
                }
                _ => break,
            }
        }
        // Only ASCII bytes were taken.
        let w = std::str::from_utf8(&tmp[..n]).unwrap_or("");
        match w {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            "null" => Ok(Value::Null),
            "NaN" | "Infinity" => {
                self.warn(pos, format!("`{w}` is not valid JSON; read as null"));
                Ok(Value::Null)
            }
            _ => Err(ParseError::at(
                pos,
                format!("expected a JSON value, found `{w}`"),
            )),
        }
    }

    fn read_number(&mut self) -> Result<Value, ParseError> {
        let pos = self.position();
        // On the stack, scanned a buffer at a time: numbers are most of the values of a
        // report (durations, line numbers, timestamps).
        let mut tmp = [0u8; 400];
        let n = self.scan_run(&mut tmp, |c| {
            c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.')
        })?;
        // Only ASCII bytes were taken.
        let s = std::str::from_utf8(&tmp[..n]).unwrap_or("");
        if s == "-Infinity" || s == "+Infinity" || s == "-NaN" {
            self.warn(pos, format!("`{s}` is not valid JSON; read as null"));
            return Ok(Value::Null);
        }
        if let Ok(i) = s.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = s.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        match s.parse::<f64>() {
            Ok(f) => match Number::from_f64(f) {
                Some(n) if f.is_finite() => Ok(Value::Number(n)),
                _ => {
                    self.warn(pos, format!("number `{s}` is out of range; read as null"));
                    Ok(Value::Null)
                }
            },
            Err(_) => Err(ParseError::at(pos, format!("invalid number `{s}`"))),
        }
    }

    /// Reads a string (the reader is at its opening quote).
    fn read_string(&mut self) -> Result<String, ParseError> {
        let start = self.position();
        let mut out: Vec<u8> = Vec::new();
        self.scan_string(&mut out)?;
        match String::from_utf8(out) {
            Ok(s) => Ok(s),
            Err(e) => {
                self.warn(start, "invalid UTF-8 in a string; replaced with U+FFFD");
                Ok(String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
        }
    }

    /// Reads a string (the reader is at its opening quote), appending its unescaped bytes to
    /// `out` (not checked for UTF-8: the caller does that, and warns).
    fn scan_string(&mut self, out: &mut Vec<u8>) -> Result<(), ParseError> {
        self.bump()?; // opening quote
        let mut warned_control = false;
        loop {
            // Fast path: copy plain bytes in bulk (memchr for the quote and the backslash,
            // then one branch-free pass for a raw control character before them).
            if self.i < self.len {
                let hay = &self.buf[self.i..self.len];
                let mut k = memchr::memchr2(b'"', b'\\', hay).unwrap_or(hay.len());
                if has_control(&hay[..k]) {
                    k = hay[..k].iter().position(|&c| c < 0x20).unwrap_or(k);
                }
                out.extend_from_slice(&hay[..k]);
                self.i += k;
                if self.i == self.len {
                    if !self.fill()? {
                        return Err(self.eof_error());
                    }
                    continue;
                }
            }
            let c = match self.bump()? {
                None => return Err(self.eof_error()),
                Some(c) => c,
            };
            match c {
                b'"' => break,
                b'\\' => {
                    let e = self.bump()?.ok_or_else(|| self.eof_error())?;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let p = self.position();
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi) {
                                // A high surrogate must be followed by `\uDC00..DFFF`.
                                if self.peek()? == Some(b'\\') {
                                    self.bump()?;
                                    if self.peek()? == Some(b'u') {
                                        self.bump()?;
                                        let lo = self.hex4()?;
                                        if (0xDC00..0xE000).contains(&lo) {
                                            let cp = 0x10000
                                                + ((hi as u32 - 0xD800) << 10)
                                                + (lo as u32 - 0xDC00);
                                            char::from_u32(cp).unwrap_or('\u{fffd}')
                                        } else {
                                            self.warn(
                                                p,
                                                "lone UTF-16 surrogate in a string; read as U+FFFD",
                                            );
                                            push_char(out, '\u{fffd}');
                                            char::from_u32(lo as u32).unwrap_or('\u{fffd}')
                                        }
                                    } else {
                                        // `\` followed by another escape: handle it next turn
                                        // by re-dispatching on a synthetic escape.
                                        self.warn(
                                            p,
                                            "lone UTF-16 surrogate in a string; read as U+FFFD",
                                        );
                                        push_char(out, '\u{fffd}');
                                        let e2 = self.bump()?.ok_or_else(|| self.eof_error())?;
                                        out.extend_from_slice(simple_escape(e2).as_bytes());
                                        continue;
                                    }
                                } else {
                                    self.warn(
                                        p,
                                        "lone UTF-16 surrogate in a string; read as U+FFFD",
                                    );
                                    '\u{fffd}'
                                }
                            } else if (0xDC00..0xE000).contains(&hi) {
                                self.warn(p, "lone UTF-16 surrogate in a string; read as U+FFFD");
                                '\u{fffd}'
                            } else {
                                char::from_u32(hi as u32).unwrap_or('\u{fffd}')
                            };
                            push_char(out, ch);
                        }
                        other => {
                            let p = self.position();
                            self.warn(
                                p,
                                format!(
                                    "invalid escape `\\{}` in a string; kept as is",
                                    other as char
                                ),
                            );
                            out.push(b'\\');
                            out.push(other);
                        }
                    }
                }
                c => {
                    // A raw control character (< 0x20): invalid JSON, but real reporters
                    // write them (captured terminal output). Keep it; say where once.
                    if !warned_control {
                        warned_control = true;
                        let p = self.position();
                        self.warn(
                            p,
                            format!("raw control character 0x{c:02x} inside a string; read as is"),
                        );
                    }
                    out.push(c);
                }
            }
        }
        Ok(())
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let mut v: u16 = 0;
        for _ in 0..4 {
            let c = self.bump()?.ok_or_else(|| self.eof_error())?;
            let d = (c as char)
                .to_digit(16)
                .ok_or_else(|| self.err("invalid `\\u` escape in a string"))?;
            v = v * 16 + d as u16;
        }
        Ok(v)
    }
}

/// Whether `b` holds a byte below 0x20 (written without an early exit so that it vectorizes:
/// the spans checked are the plain runs of a string, usually all clean).
fn has_control(b: &[u8]) -> bool {
    b.iter().fold(false, |acc, &c| acc | (c < 0x20))
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut b = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
}

fn simple_escape(e: u8) -> String {
    match e {
        b'n' => "\n".into(),
        b't' => "\t".into(),
        b'r' => "\r".into(),
        b'"' => "\"".into(),
        b'\\' => "\\".into(),
        b'/' => "/".into(),
        other => format!("\\{}", other as char),
    }
}

/// Reads a whole document that must be a JSON object, walking its top-level keys with
/// `on_key` (which must consume each value). Rejects non-objects with a clear error.
pub fn walk_object(
    r: &mut dyn BufRead,
    sink: &mut dyn Sink,
    what: &str,
    mut on_key: impl FnMut(&mut JsonReader, &str, &mut dyn Sink) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut jr = JsonReader::new(r);
    let res = (|| {
        match jr.peek_token()? {
            None => {
                return Err(ParseError::new(
                    "the file is empty: the runner may have crashed before writing its report",
                ));
            }
            Some(b'{') => {}
            Some(b) => {
                return Err(jr.unexpected(b, &format!("a JSON object (a {what} report)")));
            }
        }
        jr.enter_object()?;
        while let Some(k) = jr.next_key()? {
            on_key(&mut jr, &k, sink)?;
            jr.flush_warnings(sink);
        }
        jr.finish()
    })();
    jr.flush_warnings(sink);
    res
}

/// One line of a JSON Lines stream.
pub enum Line<'a> {
    /// A line holding a JSON object, and where it starts.
    Value(Value, Position),
    /// Any other non-empty line (trimmed) and its 1-based number.
    Other(&'a str, u64),
}

/// Reads a JSON Lines stream line by line, handing each non-empty line to `on_line`.
/// A line that starts like JSON but does not parse is a warning, not the end of the file: a
/// runner killed mid-write leaves a half last line.
pub fn for_each_line(
    r: &mut dyn BufRead,
    sink: &mut dyn Sink,
    on_line: impl FnMut(Line<'_>, &mut dyn Sink) -> Result<(), ParseError>,
) -> Result<u64, ParseError> {
    for_each_line_only(r, sink, Keep::All, on_line)
}

/// [`for_each_line`], building only the parts of each line's object that `keep` names (see
/// [`Keep`]).
pub fn for_each_line_only(
    r: &mut dyn BufRead,
    sink: &mut dyn Sink,
    keep: Keep,
    mut on_line: impl FnMut(Line<'_>, &mut dyn Sink) -> Result<(), ParseError>,
) -> Result<u64, ParseError> {
    for_each_line_fast(r, sink, keep, |l, sink| match l {
        FastLine::Json(..) => Ok(false),
        FastLine::Line(l) => on_line(l, sink).map(|_| true),
    })
}

/// What [`for_each_line_fast`] hands its callback.
pub enum FastLine<'a> {
    /// A line that starts with `{` (trimmed), before the lenient reader sees it: the callback
    /// may handle it with a strict parser and return `true`; `false` sends it through the
    /// lenient reader (then it comes again as a `Line`).
    Json(&'a [u8], Position),
    Line(Line<'a>),
}

/// [`for_each_line_only`] with a fast path: each JSON line is first offered raw. A caller
/// that parses it strictly (serde) and falls back to the lenient reader whenever the strict
/// parser refuses keeps every warning of the lenient reader.
pub fn for_each_line_fast(
    r: &mut dyn BufRead,
    sink: &mut dyn Sink,
    keep: Keep,
    mut f: impl FnMut(FastLine<'_>, &mut dyn Sink) -> Result<bool, ParseError>,
) -> Result<u64, ParseError> {
    let mut line = Vec::with_capacity(4096);
    // One read buffer for all lines (a fresh 64 KiB buffer per line cost more than the
    // parse).
    let mut jbuf: Vec<u8> = Vec::new();
    let mut lineno: u64 = 0;
    let mut byte: u64 = 0;
    let mut values = 0u64;
    loop {
        line.clear();
        let n = r
            .read_until(b'\n', &mut line)
            .map_err(|e| ParseError::new(format!("cannot read the file: {e}")))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let start_byte = byte;
        byte += n as u64;
        let trimmed = trim_ascii(&line);
        if trimmed.is_empty() {
            continue;
        }
        if trimmed[0] == b'{' {
            let pos = Position {
                line: lineno,
                column: 1,
                byte: start_byte,
            };
            if f(FastLine::Json(trimmed, pos), sink)? {
                values += 1;
                continue;
            }
            let mut slice: &[u8] = trimmed;
            let mut jr =
                JsonReader::with_buffer(&mut slice, std::mem::take(&mut jbuf)).at_line(lineno);
            let pos = Position {
                line: lineno,
                column: 1,
                byte: start_byte,
            };
            let res = jr
                .read_value_only(keep)
                .and_then(|v| jr.finish().map(|_| v));
            let res = match res {
                Ok(v) => {
                    jr.flush_warnings(sink);
                    values += 1;
                    f(FastLine::Line(Line::Value(v, pos)), sink).map(|_| ())
                }
                Err(e) => {
                    jr.flush_warnings(sink);
                    sink.warning(
                        e.position.or(Some(pos)),
                        format!("skipped a line that is not valid JSON: {}", e.message),
                    );
                    Ok(())
                }
            };
            jbuf = jr.take_buffer();
            res?;
        } else {
            let text = String::from_utf8_lossy(trimmed);
            f(FastLine::Line(Line::Other(&text, lineno)), sink)?;
        }
    }
    Ok(values)
}

/// For a file no format recognized: when its head looks like JSON, the syntax error and its
/// position (`None` when the head is valid JSON, or not JSON at all).
pub fn explain_unrecognized(head: &[u8]) -> Option<ParseError> {
    let start = head.iter().position(|c| !c.is_ascii_whitespace())?;
    if !matches!(head[start], b'{' | b'[') {
        return None;
    }
    let mut slice = head;
    let mut jr = JsonReader::new(&mut slice);
    match jr.read_value().and_then(|_| jr.finish()) {
        // Valid JSON (or cut off at the end of the head): just not a known report.
        Ok(()) => Some(ParseError::at(
            Position {
                line: 1,
                column: 1,
                byte: 0,
            },
            "valid JSON, but not a test or lint report codeloop recognizes (no keys of a known \
             report format); set the format explicitly (result_format / --format-hint) if it is one",
        )),
        Err(e) if e.message.contains("truncated") && head.len() >= super::SNIFF_BYTES => None,
        Err(e) => Some(ParseError {
            message: format!("malformed JSON: {}", e.message),
            position: e.position,
        }),
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

// ---- lenient field access -------------------------------------------------------------

/// A string field; numbers and booleans are rendered as text.
pub fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    match v.get(key)? {
        Value::String(s) => Some(s.as_str()),
        _ => None,
    }
}

/// A string field, owned, also accepting numbers/booleans; `None` for empty strings.
pub fn text_of(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A suite path field: either `"outer > inner"` (the CTRF convention) or an array of names.
pub fn suite_path_of(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::String(s)) if !s.is_empty() => s.split(" > ").map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// A number field, also accepting numeric strings (`"0.25"`, `"1,234.5"`, `"0.003s"`).
pub fn num_of(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => {
            let t = s.trim().trim_end_matches('s');
            super::text::parse_seconds(t)
        }
        _ => None,
    }
}

/// A non-negative duration in the unit given by `scale` (1.0 = seconds, 0.001 = ms) →
/// seconds. Negative values are dropped.
pub fn seconds_of(v: &Value, key: &str, scale: f64) -> Option<f64> {
    num_of(v, key).filter(|f| *f >= 0.0).map(|f| f * scale)
}

/// A small unsigned integer field (line numbers, retry counts).
pub fn u32_of(v: &Value, key: &str) -> Option<u32> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64().and_then(|u| u32::try_from(u).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn bool_of(v: &Value, key: &str) -> Option<bool> {
    match v.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// Cleans (control characters, ANSI) and bounds an untrusted text.
pub fn clean(s: &str, max: usize) -> String {
    super::text::bound_text(&super::text::clean_control(s), max)
}

/// Cleans and bounds, `None` when empty after cleaning.
pub fn clean_opt(s: Option<&str>, max: usize) -> Option<String> {
    let s = s?;
    let c = clean(s, max);
    (!c.trim().is_empty()).then_some(c)
}

/// The first line of a text (for a one-line message out of a stack trace).
pub fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(s: &str) -> (Result<Value, ParseError>, Vec<(Position, String)>) {
        let mut b = s.as_bytes();
        let mut jr = JsonReader::new(&mut b);
        let v = jr.read_value();
        let w = jr.warnings.clone();
        (v, w)
    }

    #[test]
    fn reads_plain_json_like_serde() {
        let s = r#"{"a": [1, -2, 3.5, "x\"y\u00e9\n", true, false, null], "b": {}}"#;
        let (v, w) = read(s);
        let expected: Value = serde_json::from_str(s).unwrap();
        assert_eq!(v.unwrap(), expected);
        assert!(w.is_empty());
    }

    #[test]
    fn nan_infinity_and_overflow_are_null_with_warnings() {
        let (v, w) = read(r#"[NaN, Infinity, -Infinity, 1e400, 18446744073709551616]"#);
        let v = v.unwrap();
        assert_eq!(v[0], Value::Null);
        assert_eq!(v[1], Value::Null);
        assert_eq!(v[2], Value::Null);
        assert_eq!(v[3], Value::Null);
        assert!(v[4].is_f64(), "u64 overflow becomes a float: {v:?}");
        assert_eq!(w.len(), 4, "{w:?}");
        assert_eq!(w[3].0.column, 28);
    }

    #[test]
    fn lone_surrogates_and_control_chars_are_kept() {
        let (v, w) = read("[\"a\\ud800b\", \"\\udc00\", \"\\ud83d\\ude00\", \"x\u{1}y\"]");
        let v = v.unwrap();
        assert_eq!(v[0], "a\u{fffd}b");
        assert_eq!(v[1], "\u{fffd}");
        assert_eq!(v[2], "😀");
        assert_eq!(v[3], "x\u{1}y");
        assert_eq!(w.len(), 3, "{w:?}");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut b: &[u8] = b"\"a\xffb\"";
        let mut jr = JsonReader::new(&mut b);
        assert_eq!(jr.read_value().unwrap(), "a\u{fffd}b");
        assert_eq!(jr.warnings.len(), 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let s = "[".repeat(100_000);
        let (v, _) = read(&s);
        let e = v.unwrap_err();
        assert!(e.message.contains("deeper than"), "{e}");
        assert_eq!(e.position.unwrap().column, MAX_DEPTH as u64 + 2);
    }

    #[test]
    fn errors_have_positions() {
        let (v, _) = read("{\n  \"a\": 1,\n  b: 2}");
        let e = v.unwrap_err();
        assert_eq!(e.position.unwrap().line, 3);
        assert_eq!(e.position.unwrap().column, 3);
        assert!(e.message.contains("property name"), "{e}");
        let (v, _) = read("{\"a\": [1, 2");
        assert!(v.unwrap_err().message.contains("truncated"));
    }

    const KEEP_A: Keep = Keep::Only(&[("a", Keep::All), ("list", Keep::Only(&[("n", Keep::All)]))]);

    /// `v` with only what `keep` names (the model of [`Keep`]).
    fn project(v: &Value, keep: Keep) -> Value {
        match (keep, v) {
            (Keep::All, _) => v.clone(),
            (Keep::Only(keys), Value::Object(m)) => Value::Object(
                m.iter()
                    .filter_map(|(k, x)| {
                        let (_, sub) = keys.iter().find(|(n, _)| n == k)?;
                        Some((k.clone(), project(x, *sub)))
                    })
                    .collect(),
            ),
            (Keep::Only(_), Value::Array(a)) => {
                Value::Array(a.iter().map(|x| project(x, keep)).collect())
            }
            _ => v.clone(),
        }
    }

    /// Reads `doc` fully and with `keep`: the kept parts, every warning and any error must be
    /// the same.
    fn same_as_full_read(doc: &[u8], keep: Keep) {
        let mut b = doc;
        let mut full = JsonReader::new(&mut b);
        let v_full = full.read_value();
        let mut b = doc;
        let mut only = JsonReader::new(&mut b);
        let v_only = only.read_value_only(keep);
        match (&v_full, &v_only) {
            (Ok(f), Ok(o)) => {
                assert_eq!(&project(f, keep), o, "{:?}", String::from_utf8_lossy(doc))
            }
            (Err(f), Err(o)) => {
                assert_eq!(f.message, o.message);
                assert_eq!(f.position, o.position);
            }
            _ => panic!(
                "{v_full:?} vs {v_only:?} for {:?}",
                String::from_utf8_lossy(doc)
            ),
        }
        assert_eq!(
            full.warnings,
            only.warnings,
            "{:?}",
            String::from_utf8_lossy(doc)
        );
        assert_eq!(full.position(), only.position());
    }

    #[test]
    fn keep_drops_parts_but_not_their_warnings_or_errors() {
        let docs: &[&[u8]] = &[
            br#"{"a": 1, "b": [NaN, 1e400, -Infinity], "list": [{"n": 1, "x": "q\u0001r"}, 3]}"#,
            b"{\"b\": \"bad \xff utf8\", \"a\": \"ok \xfe\", \"\xff\": 1}",
            br#"{"b": "\ud800 lone", "c": "\q invalid escape", "a": {"deep": [true, null]}}"#,
            b"{\"b\": \"raw\ncontrol\", \n \"a\": 2}",
            br#"{"b": [1, 2,, 3], "a": 1}"#,
            br#"{"b": {"x" 1}, "a": 1}"#,
            br#"{"a": 1, "b": [1, {"y": "trunc"#,
            br#"{"b": tru, "a": 1}"#,
            br#"{"b": 12abc, "a": 1}"#,
            br#"{"list": [{"n": "\u00e9\ud83d\ude00", "m": Infinity}], "a": -0.5e-3}"#,
            br#"[{"a": 1, "b": 2}, {"a": [3], "c": {}}]"#,
        ];
        for d in docs {
            same_as_full_read(d, KEEP_A);
        }
        // Nesting limits: the same error at the same place whether built or not.
        let deep = format!("{{\"b\": {}}}", "[".repeat(MAX_DEPTH + 10));
        same_as_full_read(deep.as_bytes(), KEEP_A);
        let deep = format!(
            "{{\"a\": 1, \"b\": {}1{}}}",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        same_as_full_read(deep.as_bytes(), KEEP_A);
    }

    proptest::proptest! {
        /// Any byte-level damage to a report-like document: a filtered read sees the same
        /// warnings and errors as a full one.
        #[test]
        fn keep_matches_a_full_read_on_damaged_input(
            cut in 0usize..400,
            flips in proptest::collection::vec((0usize..400, proptest::prelude::any::<u8>()), 0..4),
        ) {
            let base = br#"{"a": "x\"y", "b": {"c": [1, 2.5, "t\u00e9", null, true]}, "list": [{"n": 1, "m": "\ud83d\ude00"}, {"n": "z", "k": [[]]}], "e": -3}"#;
            let mut d = base.to_vec();
            for (at, b) in flips {
                if let Some(x) = d.get_mut(at % base.len()) {
                    *x = b;
                }
            }
            d.truncate(cut.max(1).min(d.len()));
            same_as_full_read(&d, KEEP_A);
        }
    }

    #[test]
    fn walking_streams_and_skips() {
        let s = r#"{"skip": {"x": [1, {"y": "]}\""}]}, "items": [{"n": 1}, {"n": 2}], "z": 3}"#;
        let mut b = s.as_bytes();
        let mut jr = JsonReader::new(&mut b);
        jr.enter_object().unwrap();
        let mut seen = Vec::new();
        while let Some(k) = jr.next_key().unwrap() {
            match k.as_str() {
                "items" => jr
                    .for_each_item(|_, v, _| {
                        seen.push(v["n"].as_i64().unwrap());
                        Ok(())
                    })
                    .unwrap(),
                _ => jr.skip_value().unwrap(),
            }
        }
        jr.finish().unwrap();
        assert_eq!(seen, vec![1, 2]);
    }
}
