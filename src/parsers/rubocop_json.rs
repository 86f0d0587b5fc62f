//! `rubocop-json`: `rubocop --format json` (`{"metadata", "files": [{"path", "offenses"}],
//! "summary"}`) as findings.
//!
//! - Severity, from RuboCop's six levels: `error`, `fatal` → error; `warning`, `convention`,
//!   `refactor` → warning (they fail the run by default but are not bugs); `info` → note.
//! - Rule: `cop_name` (`Style/StringLiterals`, `Lint/Syntax`). Message as reported (a leading
//!   `Cop/Name: ` prefix, printed when `DisplayCopNames` is on, is removed as it is the rule).
//! - Location: `path` as reported; `location.start_line`/`start_column`/`last_line`/
//!   `last_column` (older RuboCop: `line`/`column`).
//! - Files are streamed one by one; `summary.offense_count` is checked against the offenses
//!   read (a difference is a warning).

use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::lint_util::{
    ObjectWithArray, clean_message, clean_short, end_after, finding, finish_json, json_error,
    json_reader, shift_lines, start_of_json, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::Severity;

const WHAT: &str = "RuboCop JSON report";

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
                "not a RuboCop JSON report: it does not start with `{` (expected the output of \
                 `rubocop --format json`)",
            ));
        }
    }
    let mut offenses = 0u64;
    let mut each = |v: Value| {
        if v.get("path").is_none() && v.get("offenses").is_none() {
            return Err("not a RuboCop file entry (it has no `path` or `offenses`)".to_string());
        }
        offenses += file(&v, opts, sink);
        Ok(())
    };
    let mut de = json_reader(reader);
    let r = ObjectWithArray {
        field: "files",
        keep: &["summary"],
        each: &mut each,
        pick: None,
    }
    .deserialize(&mut de);
    let parts = r.map_err(|e| shift_lines(json_error(e, WHAT), lines_before))?;
    if parts.streamed.is_none() {
        return Err(ParseError::new(
            "not a RuboCop JSON report: the object has no `files` array",
        ));
    }
    if let Some(said) = parts
        .get("summary")
        .and_then(|s| s.get("offense_count"))
        .and_then(Value::as_u64)
        && said != offenses
    {
        sink.warning(
            None,
            format!("RuboCop's summary counts {said} offenses but {offenses} were read"),
        );
    }
    finish_json(&mut de, sink, WHAT, lines_before);
    Ok(())
}

pub(crate) fn severity(s: Option<&str>) -> Severity {
    match s.map(str::to_ascii_lowercase).as_deref() {
        Some("error") | Some("fatal") => Severity::Error,
        Some("info") => Severity::Note,
        _ => Severity::Warning,
    }
}

fn file(v: &Value, opts: &ParseOptions, sink: &mut dyn Sink) -> u64 {
    let path = str_of(v, "path").map(clean_short);
    let Some(offenses) = v.get("offenses").and_then(Value::as_array) else {
        return 0;
    };
    for o in offenses {
        let cop = str_of(o, "cop_name");
        let mut text = str_of(o, "message").unwrap_or("(no message)");
        if let Some(c) = cop
            && let Some(rest) = text.strip_prefix(c).and_then(|r| r.strip_prefix(": "))
        {
            text = rest;
        }
        let mut f = finding(
            "rubocop",
            severity(str_of(o, "severity")),
            clean_message(text, opts),
        );
        f.rule = cop.map(clean_short);
        f.file = path.clone();
        if let Some(loc) = o.get("location") {
            f.line = u32_of(loc, "start_line").or_else(|| u32_of(loc, "line"));
            f.column = u32_of(loc, "start_column").or_else(|| u32_of(loc, "column"));
            f.end_line = end_after(f.line, u32_of(loc, "last_line"));
            f.end_column = u32_of(loc, "last_column");
        }
        sink.finding(f);
    }
    offenses.len() as u64
}
