//! Checkstyle XML (`<checkstyle><file name><error line column severity message source/>`),
//! the lint format many tools can write: Checkstyle itself, PHP_CodeSniffer
//! (`--report=checkstyle`), ESLint (`-f checkstyle`), ktlint (`--reporter=checkstyle`),
//! detekt (`--report xml:`), SwiftLint (`--reporter checkstyle`), and others.
//!
//! One [`Finding`] per `<error>`. Severity: `error` → error, `warning` → warning,
//! `info` → note; `ignore` entries (Checkstyle writes them only when asked to) are skipped;
//! anything else counts as a warning, with a parse warning that names it. The tool and the
//! rule are read from `source`, whose shape tells the tools apart:
//!
//! | source | tool | rule |
//! |---|---|---|
//! | `eslint.rules.no-unused-vars` | eslint | `no-unused-vars` |
//! | `detekt.MagicNumber` | detekt | `MagicNumber` |
//! | `swiftlint.rules.line_length` | swiftlint | `line_length` |
//! | `standard:no-wildcard-imports`, `ktlint:…` | ktlint | as written |
//! | `com.puppycrawl.tools.checkstyle.checks.…​.LineLengthCheck` | checkstyle | `LineLength` |
//! | `Generic.Files.LineLength.TooLong` (Capitalized dotted parts) | phpcs | as written |
//! | anything else | checkstyle | as written |
//!
//! `<exception>` children (phpcs/Checkstyle internal errors on one file) become error
//! findings with rule `exception`. Line or column `0` means "none".

use std::io::BufRead;

use super::xml::{Event, Tag, XmlReader};
use super::{ParseError, ParseOptions, Sink, text};
use crate::model::{Finding, Severity};

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut xml = XmlReader::new(reader, opts.max_text_bytes);
    let r = run(&mut xml, opts, sink);
    xml.flush_warnings(sink);
    r
}

fn run<R: BufRead>(
    xml: &mut XmlReader<R>,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_root = false;
    let mut file: Option<String> = None;
    let mut depth = 0usize;
    // Depth of an open <exception> whose text is being captured.
    let mut exception_at: Option<usize> = None;
    let mut unknown_warned = false;
    loop {
        match xml.next()? {
            Event::Start(tag) => {
                depth += 1;
                if !seen_root {
                    seen_root = true;
                    if tag.name() != b"checkstyle" {
                        return Err(ParseError::at(
                            tag.position(),
                            format!(
                                "not a checkstyle report: the root element is <{}>, expected \
                                 <checkstyle>",
                                String::from_utf8_lossy(tag.name())
                            ),
                        ));
                    }
                    continue;
                }
                match tag.name() {
                    b"file" => file = tag.attr("name").map(|n| n.into_owned()),
                    b"error" => {
                        let severity = tag.attr("severity").unwrap_or_default();
                        let severity = match severity.trim().to_ascii_lowercase().as_str() {
                            "error" | "fatal" => Severity::Error,
                            "warning" | "warn" => Severity::Warning,
                            "info" | "note" | "hint" => Severity::Note,
                            "ignore" => continue,
                            other => {
                                if !unknown_warned {
                                    unknown_warned = true;
                                    sink.warning(
                                        Some(tag.position()),
                                        format!(
                                            "unknown checkstyle severity {other:?}: counted as \
                                             a warning"
                                        ),
                                    );
                                }
                                Severity::Warning
                            }
                        };
                        sink.finding(finding(&tag, file.clone(), severity, opts));
                    }
                    b"exception" if exception_at.is_none() => {
                        xml.capture_text();
                        exception_at = Some(depth);
                    }
                    _ => {}
                }
            }
            Event::End(name) => {
                let file_ends = name == b"file";
                if exception_at == Some(depth) {
                    exception_at = None;
                    let t = text::clean_control(&xml.take_text());
                    sink.finding(Finding {
                        tool: "checkstyle".into(),
                        rule: Some("exception".into()),
                        severity: Severity::Error,
                        message: t.trim().to_string(),
                        file: file.clone(),
                        ..Default::default()
                    });
                }
                if file_ends {
                    file = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
        }
    }
    if !seen_root {
        return Err(ParseError::new(
            "no checkstyle elements found: the file is empty or not XML",
        ));
    }
    Ok(())
}

fn finding(
    tag: &Tag<'_>,
    file: Option<String>,
    severity: Severity,
    opts: &ParseOptions,
) -> Finding {
    let num = |k: &str| {
        tag.attr(k)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
    };
    let message = tag.attr("message").unwrap_or_default();
    let message = text::bound_text(text::clean_control(&message).trim(), opts.max_text_bytes);
    let (tool, rule) = match tag.attr("source") {
        Some(s) if !s.trim().is_empty() => tool_and_rule(s.trim()),
        _ => ("checkstyle", None),
    };
    Finding {
        tool: tool.to_string(),
        rule,
        severity,
        message,
        file,
        line: num("line"),
        column: num("column"),
        ..Default::default()
    }
}

/// Which tool wrote a checkstyle `source`, and the rule id in that tool's own terms.
pub(crate) fn tool_and_rule(source: &str) -> (&'static str, Option<String>) {
    let own = |s: &str| Some(s.to_string());
    if let Some(r) = source.strip_prefix("eslint.rules.") {
        return ("eslint", own(r));
    }
    if let Some(r) = source.strip_prefix("swiftlint.rules.") {
        return ("swiftlint", own(r));
    }
    if let Some(r) = source.strip_prefix("detekt.") {
        return ("detekt", own(r));
    }
    if source.starts_with("ktlint:")
        || (source.contains(':') && !source.contains('.') && !source.contains(' '))
    {
        return ("ktlint", own(source));
    }
    if source.starts_with("com.puppycrawl.tools.checkstyle.") {
        let last = source.rsplit('.').next().unwrap_or(source);
        return (
            "checkstyle",
            own(last.strip_suffix("Check").unwrap_or(last)),
        );
    }
    let parts: Vec<&str> = source.split('.').collect();
    if (3..=5).contains(&parts.len())
        && parts.iter().all(|p| {
            p.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
    {
        return ("phpcs", own(source));
    }
    ("checkstyle", own(source))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{Collector, Format, parse_bytes, sniff};

    fn parse(xml: &str) -> Collector<'static> {
        let (c, r) = parse_bytes(xml.as_bytes(), "checkstyle.xml", None);
        assert_eq!(r.unwrap().format, Format::Checkstyle);
        c
    }

    #[test]
    fn eslint_checkstyle_output() {
        // `eslint -f checkstyle` (as eslint-formatter-checkstyle writes it).
        let c = parse(
            r#"<?xml version="1.0" encoding="utf-8"?><checkstyle version="4.3">
<file name="/home/runner/work/app/src/a.js"><error line="3" column="7" severity="error" message="&apos;x&apos; is assigned a value but never used. (no-unused-vars)" source="eslint.rules.no-unused-vars" /><error line="9" column="1" severity="warning" message="Unexpected console statement. (no-console)" source="eslint.rules.no-console" /></file>
<file name="/home/runner/work/app/src/b.js"></file></checkstyle>"#,
        );
        assert_eq!((c.lint.errors, c.lint.warnings, c.lint.notes), (1, 1, 0));
        let f = &c.findings[0];
        assert_eq!(f.tool, "eslint");
        assert_eq!(f.rule.as_deref(), Some("no-unused-vars"));
        assert_eq!(f.file.as_deref(), Some("/home/runner/work/app/src/a.js"));
        assert_eq!((f.line, f.column), (Some(3), Some(7)));
        assert_eq!(
            f.message,
            "'x' is assigned a value but never used. (no-unused-vars)"
        );
    }

    #[test]
    fn tools_are_told_apart_by_source() {
        let c = parse(
            r#"<checkstyle version="8.0">
<file name="src/Main.java">
 <error line="12" column="0" severity="warning" message="Line is longer than 100 characters." source="com.puppycrawl.tools.checkstyle.checks.sizes.LineLengthCheck"/>
 <error line="0" severity="info" message="ok" source="com.puppycrawl.tools.checkstyle.checks.TodoCommentCheck"/>
 <error line="1" severity="ignore" message="hidden" source="x"/>
</file>
<file name="src/A.kt"><error line="1" column="1" severity="error" message="Wildcard import" source="standard:no-wildcard-imports"/>
 <error line="2" column="5" severity="warning" message="magic" source="detekt.MagicNumber"/></file>
<file name="a.swift"><error line="4" column="1" severity="warning" message="Line should be 120 characters or less" source="swiftlint.rules.line_length"/></file>
<file name="a.php"><error line="5" column="9" severity="error" message="Line exceeds 120 characters" source="Generic.Files.LineLength.TooLong"/>
 <exception>could not tokenize</exception></file>
</checkstyle>"#,
        );
        let got: Vec<(String, Option<String>, Severity)> = c
            .findings
            .iter()
            .map(|f| (f.tool.clone(), f.rule.clone(), f.severity))
            .collect();
        let s = |t: &str, r: &str, sev| (t.to_string(), Some(r.to_string()), sev);
        assert_eq!(
            got,
            [
                s("checkstyle", "LineLength", Severity::Warning),
                s("checkstyle", "TodoComment", Severity::Note),
                s("ktlint", "standard:no-wildcard-imports", Severity::Error),
                s("detekt", "MagicNumber", Severity::Warning),
                s("swiftlint", "line_length", Severity::Warning),
                s("phpcs", "Generic.Files.LineLength.TooLong", Severity::Error),
                s("checkstyle", "exception", Severity::Error),
            ]
        );
        assert_eq!((c.findings[0].line, c.findings[0].column), (Some(12), None));
        assert_eq!(c.findings[1].line, None);
        assert_eq!(c.findings[6].message, "could not tokenize");
        assert_eq!(c.findings[6].file.as_deref(), Some("a.php"));
    }

    #[test]
    fn bad_input() {
        let (_, r) = parse_bytes(b"<svg/>", "x.xml", Some(Format::Checkstyle));
        assert!(r.unwrap_err().message.contains("<svg>"));
        let (c, r) = parse_bytes(
            b"<checkstyle><file name='a'><error line='1' severity='bogus' message='m'/>",
            "x.xml",
            Some(Format::Checkstyle),
        );
        assert!(r.is_err(), "truncated");
        assert_eq!(c.findings.len(), 1);
        assert_eq!(c.findings[0].severity, Severity::Warning);
        assert!(c.warnings[0].1.contains("\"bogus\""), "{:?}", c.warnings);
        assert_eq!(
            sniff(b"<checkstyle version='1'>", "x"),
            Some(Format::Checkstyle)
        );
    }
}
