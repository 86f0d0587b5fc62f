//! Helpers shared by the lint/build-output parsers (cargo, eslint, ruff, flake8, tsc,
//! golangci-lint, rubocop, SARIF, generic `file:line:col`): streaming JSON arrays element by
//! element, reading text line by line with positions, turning `serde_json` errors into
//! [`ParseError`]s with a position, lenient field access, and cleaning untrusted message text.
//!
//! Streaming: a JSON report is read with `serde_json::Deserializer::from_reader`, and the one
//! array that carries the findings (`[...]` at the top, `Issues`, `files`, `runs[].results`)
//! is walked with a [`DeserializeSeed`] that hands each element to a callback as soon as it is
//! complete. So memory holds one element at a time (plus the findings the sink keeps), and a
//! file truncated by a killed tool still yields every finding before the cut. Of each element
//! only the keys a finding needs are built ([`Pick`]): ESLint's embedded `source`, SARIF code
//! flows and ruff's fixes are skipped without being stored.
//!
//! Measured with `PROFILE=opt scripts/lint-bench.sh` (codeloop at opt-level 3, dependencies
//! at the dev profile's opt-level 1; 2 shared cores): ESLint JSON, 115 MB / 20,000 findings:
//! 93 MB per CPU second, peak RSS 9.4 MiB; cargo JSON, 186 MB / 5,000 findings: 237 MB/s,
//! 6.0 MiB; SARIF, 193 MB / 20,000 results with code flows: 92 MB/s, 13.8 MiB. Memory follows
//! the findings kept, not the file.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::text::{bound_text, clean_control};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Position, Severity};

/// A position at a 1-based line (column unknown).
pub fn at_line(line: u64) -> Position {
    Position {
        line,
        column: 0,
        byte: 0,
    }
}

/// A `serde_json` error as a [`ParseError`] with its line and column, and words that say what
/// probably happened (a truncated file reads very differently from a wrong format).
pub fn json_error(e: serde_json::Error, what: &str) -> ParseError {
    let pos = Position {
        line: e.line() as u64,
        column: e.column() as u64,
        byte: 0,
    };
    // serde_json appends " at line X column Y"; the position is carried separately.
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let message = match e.classify() {
        serde_json::error::Category::Eof => format!(
            "the {what} ends early ({text}): the file is truncated, perhaps the tool was \
             killed while writing it"
        ),
        serde_json::error::Category::Syntax => format!("the {what} is not valid JSON: {text}"),
        serde_json::error::Category::Data => {
            format!("the {what} does not have the expected shape: {text}")
        }
        serde_json::error::Category::Io => format!("cannot read the {what}: {text}"),
    };
    ParseError::at(pos, message)
}

/// How many lines of text before a JSON report [`start_of_json`] skips at most.
pub const MAX_LEADING_TEXT_LINES: u64 = 200;

/// Where a JSON report starts, past leading whitespace and lines of text (`npm warn ...` or
/// `WARN [runner] ...` when stderr was merged into the file), which are skipped with a
/// warning. Returns the first byte (`[`/`{`, or the first byte of text when no JSON starts
/// within [`MAX_LEADING_TEXT_LINES`]) and the number of lines consumed, which
/// [`shift_lines`] adds back to positions serde_json counts from the JSON start.
pub fn start_of_json(
    reader: &mut dyn BufRead,
    sink: &mut dyn Sink,
) -> Result<(Option<u8>, u64), ParseError> {
    let mut lines = 0u64;
    let mut skipped = 0u64;
    let mut first: Option<String> = None;
    loop {
        // Leading whitespace, counting the newlines in it.
        let b = loop {
            let buf = reader
                .fill_buf()
                .map_err(|e| ParseError::new(format!("cannot read the file: {e}")))?;
            if buf.is_empty() {
                break None;
            }
            match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    lines += buf[..i].iter().filter(|b| **b == b'\n').count() as u64;
                    let b = buf[i];
                    reader.consume(i);
                    break Some(b);
                }
                None => {
                    let n = buf.len();
                    lines += buf.iter().filter(|b| **b == b'\n').count() as u64;
                    reader.consume(n);
                }
            }
        };
        let done = match b {
            None => true,
            Some(b'[') | Some(b'{') => true,
            Some(_) => skipped >= MAX_LEADING_TEXT_LINES,
        };
        if done {
            if b.is_none() && skipped > 0 {
                return Err(ParseError::at(
                    at_line(1),
                    format!(
                        "no JSON in the file, only {skipped} line(s) of text, first: {:?}",
                        first.unwrap_or_default()
                    ),
                ));
            }
            if skipped > 0 && matches!(b, Some(b'[') | Some(b'{')) {
                sink.warning(
                    Some(at_line(1)),
                    format!(
                        "skipped {skipped} line(s) of text before the JSON report, first: {:?}",
                        first.unwrap_or_default()
                    ),
                );
            }
            return Ok((b, lines));
        }
        let mut line = Vec::new();
        reader
            .read_until(b'\n', &mut line)
            .map_err(|e| ParseError::new(format!("cannot read the file: {e}")))?;
        if first.is_none() {
            first = Some(super::text::preview(&line, 60));
        }
        if line.ends_with(b"\n") {
            lines += 1;
        }
        skipped += 1;
    }
}

/// A parse error whose line was counted from the JSON start, counted from the file start.
pub fn shift_lines(mut e: ParseError, lines: u64) -> ParseError {
    if let Some(p) = e.position.as_mut()
        && p.line > 0
    {
        p.line += lines;
    }
    e
}

/// Reads `reader` line by line (lossy UTF-8, `\r\n` and `\n`), calling `f(line_number, line)`.
/// Memory holds one line at a time.
pub fn for_each_line(
    reader: &mut dyn BufRead,
    mut f: impl FnMut(u64, &str) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut buf = Vec::with_capacity(4096);
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf).map_err(|e| {
            ParseError::at(at_line(line_no + 1), format!("cannot read the file: {e}"))
        })?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        let line = String::from_utf8_lossy(&buf);
        f(line_no, &line)?;
    }
}

/// Called with each element of a streamed array; an `Err` stops the parse with that message
/// (at the element's position), for elements that show the file is not what it claims.
pub type ElementFn<'a> = &'a mut dyn FnMut(Value) -> Result<(), String>;

/// Deserializes a JSON array (or `null`, read as empty), handing each element to `f` as soon
/// as it is read. The value is the number of elements.
pub struct EachElement<'a> {
    pub f: ElementFn<'a>,
    /// When set, only these keys of each (object) element are built into the `Value` handed
    /// to `f`; the others are skipped without being stored (ESLint's embedded `source`,
    /// SARIF's code flows and fixes: most of a big report, none of a finding).
    pub pick: Option<&'static [&'static str]>,
}

impl<'a> EachElement<'a> {
    pub fn new(f: ElementFn<'a>) -> Self {
        EachElement { f, pick: None }
    }
    pub fn picking(f: ElementFn<'a>, keys: &'static [&'static str]) -> Self {
        EachElement {
            f,
            pick: Some(keys),
        }
    }
}

/// Deserializes one JSON value keeping only `keys` of an object; any other value is read as
/// `null` (and skipped without being stored).
pub struct Pick(pub &'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Pick {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.0.contains(&key.as_str()) {
                let v = map.next_value::<Value>()?;
                out.insert(key, v);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Value::Object(out))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

impl<'de> DeserializeSeed<'de> for EachElement<'_> {
    type Value = u64;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<u64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EachElement<'_> {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array")
    }
    fn visit_unit<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<u64, E> {
        Ok(0)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<u64, A::Error> {
        let mut n = 0;
        loop {
            let next = match self.pick {
                Some(keys) => seq.next_element_seed(Pick(keys))?,
                None => seq.next_element::<Value>()?,
            };
            let Some(v) = next else { break };
            n += 1;
            (self.f)(v).map_err(|m| de::Error::custom(format!("element {n}: {m}")))?;
        }
        Ok(n)
    }
}

/// Walks a top-level JSON object: the array under `field` is streamed through `each`, the
/// values under the `keep` keys are returned whole (small metadata such as a summary), and
/// everything else is skipped without being stored.
pub struct ObjectWithArray<'a> {
    pub field: &'static str,
    pub keep: &'static [&'static str],
    pub each: ElementFn<'a>,
    /// Passed on to [`EachElement::pick`].
    pub pick: Option<&'static [&'static str]>,
}

/// What [`ObjectWithArray`] found.
#[derive(Debug, Default)]
pub struct ObjectParts {
    /// Elements streamed, or `None` when the object had no such field.
    pub streamed: Option<u64>,
    pub kept: Vec<(String, Value)>,
}

impl ObjectParts {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.kept.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

impl<'de> DeserializeSeed<'de> for ObjectWithArray<'_> {
    type Value = ObjectParts;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ObjectParts, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectWithArray<'_> {
    type Value = ObjectParts;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with a `{}` array", self.field)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectParts, A::Error> {
        let mut parts = ObjectParts::default();
        while let Some(key) = map.next_key::<String>()? {
            if key == self.field && parts.streamed.is_none() {
                let n = map.next_value_seed(EachElement {
                    f: self.each,
                    pick: self.pick,
                })?;
                parts.streamed = Some(n);
            } else if self.keep.contains(&key.as_str()) {
                let v = map.next_value::<Value>()?;
                parts.kept.push((key, v));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(parts)
    }
}

/// After a JSON document: warns about trailing non-whitespace text (golangci-lint v2 prints
/// its statistics after the JSON on stdout) instead of failing the file.
pub fn finish_json(de: &mut JsonReader<'_>, sink: &mut dyn Sink, what: &str, lines_before: u64) {
    if let Err(e) = de.end() {
        sink.warning(
            Some(Position {
                line: e.line() as u64 + lines_before,
                column: e.column() as u64,
                byte: 0,
            }),
            format!("ignored text after the end of the {what}"),
        );
    }
}

/// A streaming JSON reader over a report.
pub type JsonReader<'r> = serde_json::Deserializer<serde_json::de::IoRead<&'r mut dyn BufRead>>;

/// A JSON reader for report files. serde_json's default recursion limit (128 levels) is kept:
/// it protects the stack against deeply nested input.
pub fn json_reader<'r>(reader: &'r mut dyn BufRead) -> JsonReader<'r> {
    serde_json::Deserializer::from_reader(reader)
}

/// `v[key]` as a string (strings only; empty strings are `None`).
pub fn str_of<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// `v[key]` as a positive `u32`: numbers and numeric strings; 0, negatives and junk are
/// `None` (tools use 0 for "unknown column").
pub fn u32_of(v: &Value, key: &str) -> Option<u32> {
    let n = match v.get(key)? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))?,
        Value::String(s) => s.trim().parse::<u64>().ok()?,
        _ => return None,
    };
    u32::try_from(n).ok().filter(|n| *n > 0)
}

/// Untrusted message text: control characters and ANSI escapes removed, trimmed, bounded.
pub fn clean_message(s: &str, opts: &ParseOptions) -> String {
    bound_text(clean_control(s).trim(), opts.max_text_bytes)
}

/// Untrusted short text (paths, rule ids): control characters removed, trimmed, bounded.
pub fn clean_short(s: &str) -> String {
    bound_text(clean_control(s).trim(), 4096)
}

/// A finding with the fields every tool has; the caller fills in the rest.
pub fn finding(tool: &str, severity: Severity, message: String) -> Finding {
    Finding {
        tool: tool.to_string(),
        severity,
        message,
        ..Default::default()
    }
}

/// The end of a range only when it says more than the start (tools repeat the start or write
/// 0 when they have no end).
pub fn end_after(start: Option<u32>, end: Option<u32>) -> Option<u32> {
    match (start, end) {
        (Some(s), Some(e)) if e >= s => Some(e),
        (None, e) => e,
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_stream_element_by_element_and_truncation_keeps_what_came_before() {
        let mut seen = Vec::new();
        let mut f = |v: Value| {
            seen.push(v);
            Ok(())
        };
        let text = br#"[{"a":1},{"a":2},{"a":"#;
        let mut r: &[u8] = text;
        let mut de = json_reader(&mut r);
        let err = EachElement::new(&mut f).deserialize(&mut de).unwrap_err();
        let pe = json_error(err, "report");
        assert_eq!(seen.len(), 2);
        assert!(pe.message.contains("truncated"), "{}", pe.message);
        assert_eq!(pe.position.map(|p| p.line), Some(1));
    }

    #[test]
    fn objects_stream_one_field_and_keep_others() {
        let mut n = 0;
        let mut f = |_v: Value| {
            n += 1;
            Ok(())
        };
        let text = br#"{"x":{"deep":[1,2,3]},"Issues":[1,2],"Report":{"k":1}}"#;
        let mut r: &[u8] = text;
        let mut de = json_reader(&mut r);
        let parts = ObjectWithArray {
            field: "Issues",
            keep: &["Report"],
            each: &mut f,
            pick: None,
        }
        .deserialize(&mut de)
        .unwrap();
        assert_eq!(parts.streamed, Some(2));
        assert_eq!(
            parts.get("Report").and_then(|r| r.get("k")),
            Some(&1.into())
        );
        assert!(parts.get("x").is_none());
        assert_eq!(n, 2);
    }

    #[test]
    fn picking_keeps_only_the_named_keys() {
        let mut seen = Vec::new();
        let mut f = |v: Value| {
            seen.push(v);
            Ok(())
        };
        let text = br#"[{"a":1,"source":"big","b":[1,{"c":2}]},7,"s",[1],null]"#;
        let mut r: &[u8] = text;
        let mut de = json_reader(&mut r);
        let n = EachElement::picking(&mut f, &["a", "b"])
            .deserialize(&mut de)
            .unwrap();
        assert_eq!(n, 5);
        assert_eq!(seen[0], serde_json::json!({"a": 1, "b": [1, {"c": 2}]}));
        assert!(seen[1..].iter().all(Value::is_null));
    }

    #[test]
    fn text_before_json_is_skipped_and_counted() {
        struct W(Vec<String>);
        impl Sink for W {
            fn case(&mut self, _: crate::model::Case) {}
            fn finding(&mut self, _: Finding) {}
            fn suite_error(&mut self, _: crate::model::SuiteError) {}
            fn warning(&mut self, _: Option<Position>, m: String) {
                self.0.push(m);
            }
        }
        let mut w = W(Vec::new());
        let mut r: &[u8] = b"\nnpm warn config x\nnpm warn y\n\n  [1]";
        let (b, lines) = start_of_json(&mut r, &mut w).unwrap();
        assert_eq!((b, lines), (Some(b'['), 4));
        assert_eq!(r, b"[1]");
        assert_eq!(w.0.len(), 1);
        assert!(w.0[0].contains("npm warn config x"), "{}", w.0[0]);
        let mut r: &[u8] = b"plain text only\n";
        let e = start_of_json(&mut r, &mut w).unwrap_err();
        assert!(e.message.contains("no JSON"), "{}", e.message);
        let many = "text\n".repeat(300);
        let mut r: &[u8] = many.as_bytes();
        let (b, lines) = start_of_json(&mut r, &mut w).unwrap();
        assert_eq!((b, lines), (Some(b't'), MAX_LEADING_TEXT_LINES));
        let e = shift_lines(ParseError::at(at_line(2), "x"), 4);
        assert_eq!(e.position.map(|p| p.line), Some(6));
    }

    #[test]
    fn lenient_numbers() {
        let v: Value = serde_json::json!({"a": 3, "b": "7", "c": 0, "d": -1, "e": "x", "f": 2.0});
        assert_eq!(u32_of(&v, "a"), Some(3));
        assert_eq!(u32_of(&v, "b"), Some(7));
        assert_eq!(u32_of(&v, "c"), None);
        assert_eq!(u32_of(&v, "d"), None);
        assert_eq!(u32_of(&v, "e"), None);
        assert_eq!(u32_of(&v, "f"), Some(2));
        assert_eq!(u32_of(&v, "missing"), None);
    }

    #[test]
    fn lines_are_numbered_and_crlf_stripped() {
        let mut r: &[u8] = b"a\r\nb\n\xffc";
        let mut got = Vec::new();
        for_each_line(&mut r, |n, l| {
            got.push((n, l.to_string()));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                (1, "a".to_string()),
                (2, "b".to_string()),
                (3, "\u{fffd}c".to_string())
            ]
        );
    }
}
