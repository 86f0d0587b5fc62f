//! `ruff-json`: `ruff check --output-format=json` (an array of diagnostics) as findings.
//!
//! - Rule: `code` (`F401`, `E501`); syntax errors have no code in older releases (`null`) and
//!   `invalid-syntax` in newer ones; without a code, the rule `name` is used.
//! - Severity: ruff's `severity` field where it has one (`error`/`warning`/`info`, recent
//!   releases); otherwise error, as every ruff violation fails `ruff check` and ruff's own
//!   GitHub output format reports each one as `::error`.
//! - Location: `filename` as reported (ruff writes absolute paths), `location.row`/`column`,
//!   `end_location.row`/`column`; in notebooks, the `cell` number is added to the message.
//! - Diagnostics are streamed one by one.

use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::lint_util::{
    EachElement, clean_message, clean_short, end_after, finding, finish_json, json_error,
    json_reader, shift_lines, start_of_json, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::Severity;

const WHAT: &str = "ruff JSON report";
/// What is read of each diagnostic (not its `fix` edits).
const KEYS: &[&str] = &[
    "code",
    "name",
    "message",
    "severity",
    "filename",
    "location",
    "end_location",
    "cell",
];

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let (first, lines_before) = start_of_json(reader, sink)?;
    match first {
        None => return Ok(()),
        Some(b'[') => {}
        Some(_) => {
            return Err(ParseError::new(
                "not a ruff JSON report: it does not start with `[` (expected the output of \
                 `ruff check --output-format=json`)",
            ));
        }
    }
    let mut each = |d: Value| {
        if d.get("message").is_none() && d.get("code").is_none() {
            return Err(
                "not a ruff diagnostic (it has no `code` or `message`): is this the output of \
                 `ruff check --output-format=json`?"
                    .to_string(),
            );
        }
        diagnostic(&d, opts, sink);
        Ok(())
    };
    let mut de = json_reader(reader);
    let r = EachElement::picking(&mut each, KEYS).deserialize(&mut de);
    r.map_err(|e| shift_lines(json_error(e, WHAT), lines_before))?;
    finish_json(&mut de, sink, WHAT, lines_before);
    Ok(())
}

pub(crate) fn severity(s: Option<&str>) -> Severity {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("warning") | Some("warn") => Severity::Warning,
        Some("info") | Some("note") | Some("hint") => Severity::Note,
        _ => Severity::Error,
    }
}

fn diagnostic(d: &Value, opts: &ParseOptions, sink: &mut dyn Sink) {
    if !d.is_object() {
        sink.warning(
            None,
            "skipped a ruff diagnostic that is not an object".into(),
        );
        return;
    }
    let mut text = str_of(d, "message").unwrap_or("(no message)").to_string();
    if let Some(cell) = u32_of(d, "cell") {
        text = format!("{text} (cell {cell})");
    }
    let mut f = finding(
        "ruff",
        severity(str_of(d, "severity")),
        clean_message(&text, opts),
    );
    f.rule = str_of(d, "code")
        .or_else(|| str_of(d, "name"))
        .map(clean_short);
    f.file = str_of(d, "filename").map(clean_short);
    if let Some(loc) = d.get("location") {
        f.line = u32_of(loc, "row");
        f.column = u32_of(loc, "column");
    }
    if let Some(end) = d.get("end_location") {
        f.end_line = end_after(f.line, u32_of(end, "row"));
        f.end_column = u32_of(end, "column");
    }
    sink.finding(f);
}
