//! `flake8`: flake8's default output, one `path:row:col: CODE message` a line, as findings.
//! ruff's `concise` text output has the same shape (with a `[*]` marker for fixable
//! violations, which is dropped) and is read by this parser too.
//!
//! - Severity by code prefix, following pycodestyle/pyflakes' own vocabulary: `E` (pycodestyle
//!   "errors", `E9` syntax/IO errors) and `F` (pyflakes) → error; `W` (pycodestyle warnings),
//!   `C` (mccabe complexity, comprehensions) and plugin codes (`B`, `D`, `N`, ...) → warning.
//! - Lines that do not have the shape (a plugin's crash traceback, `--statistics` or
//!   `--count` output) are skipped with a warning; a file with text but no such line is a
//!   parse error naming the first line.

use std::io::BufRead;
use std::sync::LazyLock;

use regex::Regex;

use super::lint_util::{at_line, clean_message, clean_short, finding, for_each_line};
use super::text::clean_control;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Severity};

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>\S(?:.*?\S)?):(?P<row>\d+):(?:(?P<col>\d+):)? (?P<code>[A-Z]{1,4}[0-9]{1,4}) (?P<msg>.*)$")
        .expect("static regex")
});

/// `path:row:col: CODE message` (used by sniffing).
pub fn looks_like_flake8_line(line: &str) -> bool {
    LINE.is_match(line.trim_end())
}

/// The documented severity of a flake8 code.
pub fn severity(code: &str) -> Severity {
    match code.chars().next() {
        Some('E') | Some('F') => Severity::Error,
        _ => Severity::Warning,
    }
}

/// One line as a finding, or `None` when it does not have the flake8 shape.
pub fn parse_line(line: &str, opts: &ParseOptions) -> Option<Finding> {
    let clean = clean_control(line);
    let c = LINE.captures(clean.trim_end())?;
    let code = &c["code"];
    let msg = c["msg"].trim_start();
    let msg = msg.strip_prefix("[*] ").unwrap_or(msg);
    let mut f = finding("flake8", severity(code), clean_message(msg, opts));
    f.rule = Some(code.to_string());
    f.file = Some(clean_short(&c["file"]));
    f.line = c["row"].parse().ok().filter(|n| *n > 0);
    f.column = c
        .name("col")
        .and_then(|m| m.as_str().parse().ok())
        .filter(|n| *n > 0);
    Some(f)
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut found = 0u64;
    let mut first_other: Option<(u64, String)> = None;
    let mut skipped = 0u64;
    for_each_line(reader, |n, line| {
        if line.trim().is_empty() {
            return Ok(());
        }
        match parse_line(line, opts) {
            Some(f) => {
                found += 1;
                sink.finding(f);
            }
            None => {
                skipped += 1;
                if first_other.is_none() {
                    first_other = Some((n, super::text::preview(line.as_bytes(), 60)));
                }
            }
        }
        Ok(())
    })?;
    if let Some((n, text)) = first_other {
        if found == 0 {
            return Err(ParseError::at(
                at_line(n),
                format!(
                    "no line has flake8's `path:row:col: CODE message` shape (this one is \
                     {text:?}); was flake8 run with a custom --format?"
                ),
            ));
        }
        sink.warning(
            Some(at_line(n)),
            format!("skipped {skipped} line(s) that are not flake8 findings, first: {text:?}"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_severities() {
        let o = ParseOptions::default();
        let f = parse_line("pkg/a.py:3:80: E501 line too long (97 > 79 characters)", &o).unwrap();
        assert_eq!(
            (
                f.file.as_deref(),
                f.line,
                f.column,
                f.rule.as_deref(),
                f.severity
            ),
            (
                Some("pkg/a.py"),
                Some(3),
                Some(80),
                Some("E501"),
                Severity::Error
            )
        );
        assert_eq!(f.message, "line too long (97 > 79 characters)");
        let w = parse_line(r"C:\src\a.py:1:6: W291 trailing whitespace", &o).unwrap();
        assert_eq!(w.file.as_deref(), Some(r"C:\src\a.py"));
        assert_eq!(w.severity, Severity::Warning);
        let r = parse_line("a.py:1:8: F401 [*] `os` imported but unused", &o).unwrap();
        assert_eq!(r.message, "`os` imported but unused");
        assert!(parse_line("Traceback (most recent call last):", &o).is_none());
        assert!(parse_line("3     E501 line too long", &o).is_none());
        assert_eq!(severity("C901"), Severity::Warning);
        assert_eq!(severity("B006"), Severity::Warning);
        assert_eq!(severity("F821"), Severity::Error);
    }
}
