//! `eslint-json`: ESLint's `-f json` output (an array of files, each with `messages`) and
//! `-f json-with-metadata` (`{"results": [...], "metadata": {...}}`), as findings.
//!
//! - Severity: ESLint's `2` → error, `1` → warning (its own rule levels "error"/"warn");
//!   anything else (`0` is "off" and never printed) → note, with a warning.
//! - Rule: `ruleId`; fatal parse errors (`"fatal": true`, `ruleId: null`) have none and are
//!   errors, as ESLint counts them in `errorCount`.
//! - Location: `filePath` as reported, `line`/`column` (1-based) and `endLine`/`endColumn`.
//! - `suppressedMessages` (eslint-disable comments) are not findings.
//! - Files are streamed one by one; a file whose own `errorCount`/`warningCount` disagree
//!   with the messages read gets a warning (ESLint's counts are the oracle).

use std::io::BufRead;

use serde::de::DeserializeSeed;
use serde_json::Value;

use super::lint_util::{
    EachElement, ObjectWithArray, clean_message, clean_short, end_after, finding, finish_json,
    json_error, json_reader, shift_lines, start_of_json, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::Severity;

const WHAT: &str = "ESLint JSON report";
/// What is read of each file result (its `source` text, often most of the file, is not).
const FILE_KEYS: &[&str] = &["filePath", "messages", "errorCount", "warningCount"];

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let (first, lines_before) = start_of_json(reader, sink)?;
    let mut each = |file: Value| {
        if file.get("filePath").is_none() && file.get("messages").is_none() {
            return Err(
                "not an ESLint file result (it has no `filePath` or `messages`): is this \
                 the output of `eslint -f json`?"
                    .to_string(),
            );
        }
        read_file(&file, opts, sink);
        Ok(())
    };
    let mut de = json_reader(reader);
    let result = match first {
        None => return Ok(()),
        Some(b'[') => EachElement::picking(&mut each, FILE_KEYS)
            .deserialize(&mut de)
            .map(Some),
        Some(b'{') => ObjectWithArray {
            field: "results",
            keep: &[],
            each: &mut each,
            pick: Some(FILE_KEYS),
        }
        .deserialize(&mut de)
        .map(|p| p.streamed),
        Some(_) => {
            return Err(ParseError::new(
                "not an ESLint JSON report: it does not start with `[` (`eslint -f json`) or \
                 `{` (`eslint -f json-with-metadata`)",
            ));
        }
    };
    match result {
        Err(e) => Err(shift_lines(json_error(e, WHAT), lines_before)),
        Ok(None) => Err(ParseError::new(
            "not an ESLint JSON report: the object has no `results` array",
        )),
        Ok(Some(_)) => {
            finish_json(&mut de, sink, WHAT, lines_before);
            Ok(())
        }
    }
}

fn read_file(file: &Value, opts: &ParseOptions, sink: &mut dyn Sink) {
    let path = str_of(file, "filePath").map(clean_short);
    let Some(messages) = file.get("messages").and_then(Value::as_array) else {
        return;
    };
    let (mut errors, mut warnings) = (0u64, 0u64);
    for m in messages {
        let (severity, known) = match m.get("severity").and_then(Value::as_u64) {
            Some(2) => (Severity::Error, true),
            Some(1) => (Severity::Warning, true),
            _ => (Severity::Note, false),
        };
        let fatal = m.get("fatal") == Some(&Value::Bool(true));
        let severity = if fatal { Severity::Error } else { severity };
        match severity {
            Severity::Error => errors += 1,
            Severity::Warning => warnings += 1,
            Severity::Note => {}
        }
        if !known && !fatal {
            sink.warning(
                None,
                format!(
                    "ESLint message with unknown severity {} in `{}` read as a note",
                    m.get("severity").map(Value::to_string).unwrap_or_default(),
                    path.as_deref().unwrap_or("?")
                ),
            );
        }
        let text = str_of(m, "message").unwrap_or("(no message)");
        let mut f = finding("eslint", severity, clean_message(text, opts));
        f.rule = str_of(m, "ruleId").map(clean_short);
        f.file = path.clone();
        f.line = u32_of(m, "line");
        f.column = u32_of(m, "column");
        f.end_line = end_after(f.line, u32_of(m, "endLine"));
        f.end_column = u32_of(m, "endColumn");
        sink.finding(f);
    }
    let said_errors = file.get("errorCount").and_then(Value::as_u64);
    let said_warnings = file.get("warningCount").and_then(Value::as_u64);
    if said_errors.is_some_and(|n| n != errors) || said_warnings.is_some_and(|n| n != warnings) {
        sink.warning(None, format!(
            "ESLint counted {} errors and {} warnings in `{}` but its messages hold {errors} and \
             {warnings}",
            said_errors.unwrap_or(0),
            said_warnings.unwrap_or(0),
            path.as_deref().unwrap_or("?")
        ));
    }
}
