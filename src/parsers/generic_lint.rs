//! `generic-lint`: the `file:line[:col]: [severity:] message [rule]` lines most compilers and
//! linters print: gcc and clang, `shellcheck -f gcc`, mypy, rustc `--error-format=short`,
//! golint/go vet, make. One finding per matching line.
//!
//! - Severity: the word after the position, when there is one: `error`, `fatal error` →
//!   error; `warning` → warning; `note`, `info`, `information`, `hint`, `style`, `remark` →
//!   note (shellcheck prints its info and style levels as `note`). Without one, error: the
//!   line was printed by a tool that failed the step, and GitHub's problem matchers default
//!   to error too.
//! - Rule: a trailing `[...]` without spaces (`[-Wunused-variable]`, `[SC2086]`, mypy's
//!   `[assignment]`), or rustc's `error[E0308]:`; it is removed from the message.
//! - pylint's default lines (`a.py:1:0: C0114: Missing module docstring
//!   (missing-module-docstring)`): rule = the symbol, column made 1-based (pylint counts from
//!   0), severity by category: `E`/`F` → error, `C`/`R`/`W` → warning, `I` → note; tool
//!   `pylint`.
//! - Tool: `shellcheck` for `SC` rules, `lint` otherwise: gcc and clang print the same lines,
//!   and the runner id names the real tool.
//! - Paths are kept as printed (no spaces; a Windows drive prefix `C:\` is allowed). Context
//!   lines (`a.c: In function 'main':`, code frames, `In file included from`) do not match and
//!   are skipped; a file with text but no matching line is a parse error naming its first line.

use std::io::BufRead;
use std::sync::LazyLock;

use regex::Regex;

use super::lint_util::{at_line, clean_message, clean_short, finding, for_each_line};
use super::text::clean_control;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Severity};

static LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<file>(?:[A-Za-z]:[\\/])?[^\s:]+):(?P<line>\d+)(?::(?P<col>\d+))?(?:-\d+)?:(?:\s+(?P<rest>.*))?$",
    )
    .expect("static regex")
});
static SEVERITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^(?P<sev>fatal error|error|warning|note|info|information|hint|style|remark)(?:\[(?P<code>[^\]\s]+)\])?\s*:\s*(?P<msg>.*)$",
    )
    .expect("static regex")
});
/// pylint's default text: `C0114: Missing module docstring (missing-module-docstring)`.
static PYLINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<cat>[CRWEFI])(?P<num>\d{4}): (?P<msg>.*?)(?: \((?P<sym>[a-z0-9-]+)\))?$")
        .expect("static regex")
});
static RULE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s\[(?P<rule>[^\]\s]+)\]$").expect("static regex"));

/// `path:line[:col]: [severity:] message` (used by sniffing).
pub fn looks_like_lint_line(line: &str) -> bool {
    match LINE.captures(line.trim_end()) {
        Some(c) => {
            is_path_like(&c["file"])
                && c.name("rest")
                    .is_some_and(|r| !r.as_str().trim().is_empty())
        }
        None => false,
    }
}

/// Not a time stamp (`12:30:45`) or a bare number: a path has a letter in it.
fn is_path_like(file: &str) -> bool {
    file.chars().any(|c| c.is_alphabetic())
}

fn severity(word: &str) -> Severity {
    match word.to_ascii_lowercase().as_str() {
        "error" | "fatal error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Note,
    }
}

/// One line as a finding, or `None` when it does not have the shape.
pub fn parse_line(raw: &str, opts: &ParseOptions) -> Option<Finding> {
    let clean = clean_control(raw);
    let c = LINE.captures(clean.trim_end())?;
    let file = &c["file"];
    if !is_path_like(file) {
        return None;
    }
    let rest = c.name("rest")?.as_str().trim();
    if rest.is_empty() {
        return None;
    }
    let mut column: Option<u32> = c
        .name("col")
        .and_then(|m| m.as_str().parse().ok())
        .filter(|n| *n > 0);
    if let Some(p) = PYLINT.captures(rest) {
        // pylint counts columns from 0.
        column = c
            .name("col")
            .and_then(|m| m.as_str().parse::<u32>().ok())
            .map(|n| n.saturating_add(1));
        let sev = match &p["cat"] {
            "E" | "F" => Severity::Error,
            "I" => Severity::Note,
            _ => Severity::Warning,
        };
        let rule = match p.name("sym") {
            Some(sym) => sym.as_str().to_string(),
            None => format!("{}{}", &p["cat"], &p["num"]),
        };
        let mut f = finding("pylint", sev, clean_message(&p["msg"], opts));
        f.rule = Some(rule);
        f.file = Some(clean_short(file));
        f.line = c["line"].parse().ok().filter(|n| *n > 0);
        f.column = column;
        return Some(f);
    }
    let (sev, mut code, msg) = match SEVERITY.captures(rest) {
        Some(s) => (
            severity(&s["sev"]),
            s.name("code").map(|m| m.as_str().to_string()),
            s["msg"].to_string(),
        ),
        None => (Severity::Error, None, rest.to_string()),
    };
    let mut msg = msg.trim().to_string();
    if let Some(r) = RULE.captures(&msg) {
        let whole = r.get(0).map(|m| m.start()).unwrap_or(msg.len());
        if code.is_none() {
            code = Some(r["rule"].to_string());
        }
        msg.truncate(whole);
        msg.truncate(msg.trim_end().len());
    }
    let tool = match code.as_deref() {
        Some(r) if r.starts_with("SC") && r[2..].chars().all(|c| c.is_ascii_digit()) => {
            "shellcheck"
        }
        _ => "lint",
    };
    let mut f = finding(tool, sev, clean_message(&msg, opts));
    f.rule = code.map(|c| clean_short(&c));
    f.file = Some(clean_short(file));
    f.line = c["line"].parse().ok().filter(|n| *n > 0);
    f.column = column;
    Some(f)
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut found = 0u64;
    let mut first_other: Option<(u64, String)> = None;
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
                if first_other.is_none() {
                    first_other = Some((n, super::text::preview(line.as_bytes(), 60)));
                }
            }
        }
        Ok(())
    })?;
    if found == 0
        && let Some((n, text)) = first_other
    {
        return Err(ParseError::at(
            at_line(n),
            format!(
                "no line has the `file:line[:col]: [severity:] message` shape (this one is \
                     {text:?})"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(l: &str) -> Finding {
        parse_line(l, &ParseOptions::default()).unwrap()
    }

    #[test]
    fn common_shapes() {
        let f = one("main.c:4:9: warning: unused variable ‘unused’ [-Wunused-variable]");
        assert_eq!(
            (
                f.file.as_deref(),
                f.line,
                f.column,
                f.rule.as_deref(),
                f.severity,
                f.tool.as_str()
            ),
            (
                Some("main.c"),
                Some(4),
                Some(9),
                Some("-Wunused-variable"),
                Severity::Warning,
                "lint"
            )
        );
        assert_eq!(f.message, "unused variable ‘unused’");
        let m = one("pkg/a.py:3: error: Incompatible types in assignment [assignment]");
        assert_eq!(
            (m.line, m.column, m.rule.as_deref()),
            (Some(3), None, Some("assignment"))
        );
        let r = one("src/main.rs:2:18: error[E0308]: mismatched types");
        assert_eq!(
            (r.rule.as_deref(), r.message.as_str()),
            (Some("E0308"), "mismatched types")
        );
        let w = one(r"C:\src\a.c:1:10: fatal error: foo.h: No such file or directory");
        assert_eq!(
            (w.file.as_deref(), w.severity),
            (Some(r"C:\src\a.c"), Severity::Error)
        );
        assert_eq!(w.message, "foo.h: No such file or directory");
        let p = one("pkg/app.py:6:4: W0612: Unused variable 'unused' (unused-variable)");
        assert_eq!(
            (
                p.tool.as_str(),
                p.column,
                p.rule.as_deref(),
                p.severity,
                p.message.as_str()
            ),
            (
                "pylint",
                Some(5),
                Some("unused-variable"),
                Severity::Warning,
                "Unused variable 'unused'"
            )
        );
        let m2 = one("pkg/app.py:17: error: Name \"x\" is not defined  [name-defined]");
        assert_eq!(m2.message, "Name \"x\" is not defined");
        let g = one("main.go:3:1: exported function Foo should have comment");
        assert_eq!((g.severity, g.rule), (Severity::Error, None));
    }

    #[test]
    fn context_lines_do_not_match() {
        for l in [
            "main.c: In function ‘main’:",
            "    4 |     int unused;",
            "In file included from a.c:1:",
            "                 from b.h:3:",
            "12:30:45 build started",
            "thread 'main' panicked at src/main.rs:3:5:",
            "    foo_test.go:12: expected 1",
            "tests/test_a.py::test_x FAILED",
        ] {
            assert!(parse_line(l, &ParseOptions::default()).is_none(), "{l}");
            assert!(!looks_like_lint_line(l), "{l}");
        }
        assert!(looks_like_lint_line(
            "deploy.sh:6:1: warning: Use 'cd ... || exit'. [SC2164]"
        ));
    }
}
