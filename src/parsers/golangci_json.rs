//! `golangci-lint-json`: golangci-lint's JSON output, v1 (`--out-format json`) and v2
//! (`--output.json.path stdout`): `{"Issues": [...], "Report": {...}}`.
//!
//! - One finding per issue: rule = `FromLinter` (`errcheck`, `staticcheck`), message =
//!   `Text`, location = `Pos.Filename`/`Line`/`Column` (column 0 means unknown), end line from
//!   `LineRange.To`.
//! - Severity: `Severity` is empty unless the user configured severities; empty → error
//!   (every issue fails `golangci-lint run`, and its checkstyle/GitHub outputs use error);
//!   `error`/`high`/`critical`/`blocker`/`major` → error; `warning`/`medium`/`minor` →
//!   warning; `info`/`note`/`low`/`hint` → note.
//! - `Report.Error` (a linter failed to load packages) becomes a [`SuiteError`].
//! - v2 prints its statistics (`2 issues:\n* errcheck: 1`) after the JSON on stdout; that
//!   trailing text is ignored with a warning. `"Issues": null` reads as no issue.

use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::lint_util::{
    ObjectWithArray, clean_message, clean_short, end_after, finding, finish_json, json_error,
    json_reader, shift_lines, start_of_json, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Severity, SuiteError};

const WHAT: &str = "golangci-lint JSON report";

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let (first, lines_before) = start_of_json(reader, sink)?;
    match first {
        None => return Ok(()),
        Some(b'{') => {}
        Some(_) => {
            return Err(ParseError::new(
                "not a golangci-lint JSON report: it does not start with `{` (expected the \
                 output of `golangci-lint run --out-format json` or `--output.json.path`)",
            ));
        }
    }
    let mut each = |v: Value| {
        if v.get("Text").is_none() && v.get("FromLinter").is_none() {
            return Err("not a golangci-lint issue (it has no `FromLinter` or `Text`)".to_string());
        }
        issue(&v, opts, sink);
        Ok(())
    };
    let mut de = json_reader(reader);
    let r = ObjectWithArray {
        field: "Issues",
        keep: &["Report"],
        each: &mut each,
        // Not `SourceLines` or `Replacement`.
        pick: Some(&["FromLinter", "Text", "Severity", "Pos", "LineRange"]),
    }
    .deserialize(&mut de);
    let parts = r.map_err(|e| shift_lines(json_error(e, WHAT), lines_before))?;
    if parts.streamed.is_none() && parts.get("Report").is_none() {
        return Err(ParseError::new(
            "not a golangci-lint JSON report: the object has no `Issues` array",
        ));
    }
    if let Some(err) = parts.get("Report").and_then(|r| str_of(r, "Error")) {
        sink.suite_error(SuiteError {
            suite: "golangci-lint".into(),
            message: clean_message(err, opts),
            kind: "load".into(),
            ..Default::default()
        });
    }
    finish_json(&mut de, sink, WHAT, lines_before);
    Ok(())
}

pub(crate) fn severity(s: Option<&str>) -> Severity {
    match s.map(|s| s.trim().to_ascii_lowercase()).as_deref() {
        Some("warning") | Some("warn") | Some("medium") | Some("minor") => Severity::Warning,
        Some("info") | Some("note") | Some("low") | Some("hint") | Some("information") => {
            Severity::Note
        }
        _ => Severity::Error,
    }
}

fn issue(v: &Value, opts: &ParseOptions, sink: &mut dyn Sink) {
    if !v.is_object() {
        sink.warning(
            None,
            "skipped a golangci-lint issue that is not an object".into(),
        );
        return;
    }
    let text = str_of(v, "Text").unwrap_or("(no message)");
    let mut f = finding(
        "golangci-lint",
        severity(str_of(v, "Severity")),
        clean_message(text, opts),
    );
    f.rule = str_of(v, "FromLinter").map(clean_short);
    if let Some(pos) = v.get("Pos") {
        f.file = str_of(pos, "Filename").map(clean_short);
        f.line = u32_of(pos, "Line");
        f.column = u32_of(pos, "Column");
    }
    if let Some(range) = v.get("LineRange") {
        f.end_line = end_after(f.line, u32_of(range, "To"));
    }
    sink.finding(f);
}
