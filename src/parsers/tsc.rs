//! `tsc`: TypeScript compiler diagnostics as findings, in both of tsc's shapes:
//! - plain (`--pretty false`, the default when not on a terminal):
//!   `src/a.ts(3,7): error TS2322: Type 'number' is not assignable to type 'string'.`
//! - pretty (`--pretty`, colored or not): `src/a.ts:3:7 - error TS2322: ...` followed by a
//!   code frame, and a closing `Found N errors in M files.`;
//! - global diagnostics without a file: `error TS5023: Unknown compiler option '--foo'.`
//!
//! - Severity: tsc's category: `error` → error, `warning` → warning, `message` → note.
//! - Rule: `TS<code>`. Message: the first line plus tsc's indented elaboration lines that
//!   follow it directly ("Types of parameters 'a' and 'a' are incompatible."), joined by
//!   newlines; code frames and related-information blocks are not part of it.
//! - tsc's own `Found N errors` line is checked against the errors read; a difference is a
//!   warning (it would mean a line shape we do not know).
//! - ANSI colors are removed first. Other lines (watch-mode banners, `npm` noise) are skipped;
//!   a file with text but no diagnostic at all is a parse error naming its first line.

use std::io::BufRead;
use std::sync::LazyLock;

use regex::Regex;

use super::lint_util::{at_line, clean_message, clean_short, finding, for_each_line};
use super::text::clean_control;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Severity};

static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>\S.*?)\((?P<line>\d+),(?P<col>\d+)\): (?P<cat>error|warning|message) TS(?P<code>\d+): ?(?P<msg>.*)$")
        .expect("static regex")
});
static PRETTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>\S.*?):(?P<line>\d+):(?P<col>\d+) - (?P<cat>error|warning|message) TS(?P<code>\d+): ?(?P<msg>.*)$")
        .expect("static regex")
});
static GLOBAL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<cat>error|warning|message) TS(?P<code>\d+): ?(?P<msg>.*)$")
        .expect("static regex")
});
static FOUND: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Found (\d+) errors?\b").expect("static regex"));

/// `src/a.ts(3,7): error TS2322: ...`, `src/a.ts:3:7 - error TS2322: ...` or
/// `error TS5023: ...` (colors allowed). Used by sniffing.
pub fn looks_like_tsc_line(line: &str) -> bool {
    let owned;
    let l = if line.contains('\u{1b}') {
        owned = clean_control(line);
        owned.as_str()
    } else {
        line
    };
    let l = l.trim_end();
    PLAIN.is_match(l) || PRETTY.is_match(l) || GLOBAL.is_match(l)
}

fn severity(cat: &str) -> Severity {
    match cat {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Note,
    }
}

/// One diagnostic header line as a finding (message not yet extended by elaborations).
fn header(line: &str, opts: &ParseOptions) -> Option<Finding> {
    let (c, has_file) = if let Some(c) = PLAIN.captures(line) {
        (c, true)
    } else if let Some(c) = PRETTY.captures(line) {
        (c, true)
    } else {
        (GLOBAL.captures(line)?, false)
    };
    let mut f = finding("tsc", severity(&c["cat"]), clean_message(&c["msg"], opts));
    f.rule = Some(format!("TS{}", &c["code"]));
    if has_file {
        f.file = Some(clean_short(&c["file"]));
        f.line = c["line"].parse().ok().filter(|n| *n > 0);
        f.column = c["col"].parse().ok().filter(|n| *n > 0);
    }
    Some(f)
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    // The diagnostic being read: it collects its elaboration lines until a line that is not
    // one, then goes to the sink.
    let mut current: Option<Finding> = None;
    let mut found = 0u64;
    let mut errors = 0u64;
    let mut said_errors: Option<(u64, u64)> = None;
    let mut first_other: Option<u64> = None;
    for_each_line(reader, |n, raw| {
        let line = clean_control(raw);
        let line = line.trim_end();
        if let Some(f) = current.as_mut() {
            // Elaboration: indented, directly under the header (no blank line between).
            if line.starts_with(' ') && !line.trim().is_empty() {
                let add = line.strip_prefix("  ").unwrap_or(line);
                let m = format!("{}\n{}", f.message, add);
                f.message = clean_message(&m, opts);
                return Ok(());
            }
            if let Some(done) = current.take() {
                emit(done, sink, &mut errors);
            }
        }
        if line.trim().is_empty() {
            return Ok(());
        }
        if let Some(f) = header(line, opts) {
            found += 1;
            current = Some(f);
        } else if let Some(c) = FOUND.captures(line) {
            if let Ok(k) = c[1].parse() {
                said_errors = Some((k, n));
            }
        } else if first_other.is_none() && !line.starts_with(' ') && !is_code_frame(line) {
            first_other = Some(n);
        }
        Ok(())
    })?;
    if let Some(done) = current.take() {
        emit(done, sink, &mut errors);
    }
    if found == 0
        && let Some(n) = first_other
    {
        return Err(ParseError::at(
            at_line(n),
            "no tsc diagnostic in the file: expected lines like `src/a.ts(3,7): error \
                 TS2322: ...` or `src/a.ts:3:7 - error TS2322: ...`",
        ));
    }
    if let Some((k, n)) = said_errors
        && k != errors
    {
        sink.warning(
            Some(at_line(n)),
            format!("tsc says it found {k} errors but {errors} were read"),
        );
    }
    Ok(())
}

fn emit(f: Finding, sink: &mut dyn Sink, errors: &mut u64) {
    if f.severity == Severity::Error {
        *errors += 1;
    }
    sink.finding(f);
}

/// A line of a pretty code frame: `12 const x = 1;` or the `~~~` underline (after colors are
/// removed), or the `Errors  Files` table at the end of pretty output.
fn is_code_frame(line: &str) -> bool {
    let t = line.trim_start();
    t.chars().next().is_some_and(|c| c.is_ascii_digit())
        || t.starts_with('~')
        || t.starts_with("Errors ")
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn a_found_count_that_disagrees_is_a_warning() {
        let text = "a.ts(1,1): error TS1: x\nsomething odd\n\nFound 2 errors in 1 file.\n";
        let (c, r) = parse_bytes(text.as_bytes(), "t.txt", Some(Format::Tsc));
        r.unwrap();
        assert_eq!(c.findings.len(), 1);
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.warnings[0].0.map(|p| p.line), Some(4));
        let (c, r) = parse_bytes(
            b"a.ts(1,1): error TS1: x\nFound 1 error.\n",
            "t",
            Some(Format::Tsc),
        );
        r.unwrap();
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn text_without_diagnostics_is_an_error() {
        let (_, r) = parse_bytes(b"\nhello\nworld\n", "t.txt", Some(Format::Tsc));
        assert_eq!(r.unwrap_err().position.map(|p| p.line), Some(2));
    }

    #[test]
    fn sniffing_lines() {
        assert!(looks_like_tsc_line("src/a.ts(3,7): error TS2322: x"));
        assert!(looks_like_tsc_line("src/a.ts:3:7 - error TS2322: x"));
        assert!(looks_like_tsc_line(
            "\u{1b}[96msrc/a.ts\u{1b}[0m:\u{1b}[93m3\u{1b}[0m:\u{1b}[93m7\u{1b}[0m - \u{1b}[91merror\u{1b}[0m\u{1b}[90m TS2322: \u{1b}[0mx"
        ));
        assert!(looks_like_tsc_line(
            "error TS5023: Unknown compiler option '--x'."
        ));
        assert!(!looks_like_tsc_line("src/a.c:3:7: error: x"));
        assert!(!looks_like_tsc_line("ok 1 - error TS"));
    }
}
