//! Jest and Vitest `--json` reports (`jest --json --outputFile=x.json`,
//! `vitest run --reporter=json`).
//!
//! Layout: a top-level object whose `testResults` array holds one entry per test file, each
//! with `assertionResults` (one per test). `testResults` is streamed one file at a time.
//!
//! Counting rules (they match jest's `Tests:` line and vitest's `Tests` line):
//! - `passed` → passed; `failed` → failed (jest and vitest have no error category: a
//!   thrown exception or a failing `beforeEach` fails each test behind it);
//! - `pending`, `skipped`, `disabled` and `todo` → skipped (jest prints todo separately; we
//!   fold it into skipped and say `todo` in the skip reason);
//! - a retried test (`invocations` > 1, `jest.retryTimes`) that passed in the end is flaky
//!   with `retries = invocations - 1`;
//! - a test file that failed to load (status `failed`, no assertion results, a `message` or
//!   `testExecError`) is a [`SuiteError`] of kind `load`, not a test — jest counts it under
//!   `Test Suites: N failed`, not under `Tests:`;
//! - a file whose tests all passed but which still failed (an `afterAll` hook threw) is a
//!   [`SuiteError`] of kind `hook`.
//!
//! Durations are milliseconds in the file and seconds in the model.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader, Keep};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// What [`file_result`] and [`assertion`] read of a test file entry; the rest (per-test
/// `failureDetails`, `perfStats`, ...) is checked, not built.
const FILE_KEYS: Keep = Keep::Only(&[
    ("name", Keep::All),
    ("testFilePath", Keep::All),
    ("assertionResults", TEST_KEYS),
    ("status", Keep::All),
    ("message", Keep::All),
    ("failureMessage", Keep::All),
    ("testExecError", Keep::All),
]);
const TEST_KEYS: Keep = Keep::Only(&[
    ("title", Keep::All),
    ("fullName", Keep::All),
    ("status", Keep::All),
    ("ancestorTitles", Keep::All),
    ("location", Keep::All),
    ("duration", Keep::All),
    ("invocations", Keep::All),
    ("retryReasons", Keep::All),
    ("failureMessages", Keep::All),
]);

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_results = false;
    json::walk_object(reader, sink, "Jest/Vitest JSON", |jr, key, sink| {
        if key == "testResults" {
            seen_results = true;
            jr.for_each_item_only(FILE_KEYS, |_: &mut JsonReader, file, pos| {
                file_result(&file, pos, opts, sink);
                Ok(())
            })
        } else {
            jr.skip_value()
        }
    })?;
    if !seen_results {
        return Err(ParseError::new(
            "not a Jest/Vitest JSON report: it has no `testResults` array",
        ));
    }
    Ok(())
}

fn file_result(file: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let max = opts.max_text_bytes;
    let name = json::str_of(file, "name")
        .or_else(|| json::str_of(file, "testFilePath"))
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        sink.warning(
            Some(pos),
            "a test file entry has no `name`; its tests are reported without a file".into(),
        );
    }
    let mut any_failed = false;
    let mut n = 0usize;
    if let Some(Value::Array(tests)) = file.get("assertionResults") {
        for t in tests {
            n += 1;
            let case = assertion(t, &name, pos, max, sink);
            any_failed |= case.status.is_bad();
            sink.case(case);
        }
    }
    let status = json::str_of(file, "status").unwrap_or("");
    let message = json::str_of(file, "message")
        .filter(|m| !m.trim().is_empty())
        .or_else(|| json::str_of(file, "failureMessage").filter(|m| !m.trim().is_empty()))
        .map(str::to_string)
        .or_else(|| {
            file.get("testExecError")
                .and_then(|e| json::text_of(e, "message").or_else(|| json::text_of(e, "stack")))
        });
    let exec_error = matches!(file.get("testExecError"), Some(Value::Object(_)));
    let failed_file = status == "failed" || exec_error;
    if failed_file && !any_failed {
        let (kind, what) = if n == 0 {
            ("load", "the test file failed to load")
        } else {
            ("hook", "the test file failed outside its tests")
        };
        let text = message.unwrap_or_default();
        let first = json::first_line(&super::text::clean_control(&text))
            .trim_start_matches('●')
            .trim()
            .to_string();
        sink.suite_error(SuiteError {
            suite: name.clone(),
            message: if first.is_empty() || first == "Test suite failed to run" {
                // jest's generic header; the real reason is the next non-empty line.
                let cleaned = super::text::clean_control(&text);
                let reason = cleaned
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.contains("Test suite failed to run"))
                    .map(|l| l.trim_start_matches('●').trim())
                    .next()
                    .unwrap_or("")
                    .to_string();
                if reason.is_empty() {
                    what.to_string()
                } else {
                    format!("{what}: {reason}")
                }
            } else {
                format!("{what}: {first}")
            },
            file: (!name.is_empty()).then(|| name.clone()),
            kind: kind.into(),
            trace: json::clean_opt(Some(&text), max),
            ..Default::default()
        });
    }
}

fn assertion(t: &Value, file: &str, pos: Position, max: usize, sink: &mut dyn Sink) -> Case {
    let title = json::str_of(t, "title")
        .or_else(|| json::str_of(t, "fullName"))
        .unwrap_or("")
        .to_string();
    let raw_status = json::str_of(t, "status").unwrap_or("");
    let status = match raw_status {
        "passed" => Status::Passed,
        "failed" => Status::Failed,
        "pending" | "skipped" | "disabled" | "todo" => Status::Skipped,
        other => {
            sink.warning(
                Some(pos),
                format!("test `{title}` has an unknown status `{other}`; counted as skipped"),
            );
            Status::Skipped
        }
    };
    let mut case = Case::new(
        if title.is_empty() {
            "(unnamed test)".to_string()
        } else {
            title
        },
        status,
    );
    if let Some(Value::Array(a)) = t.get("ancestorTitles") {
        case.suite = a
            .iter()
            .filter_map(|x| x.as_str())
            .map(str::to_string)
            .collect();
    }
    if !file.is_empty() {
        case.file = Some(file.to_string());
    }
    case.line = t.get("location").and_then(|l| json::u32_of(l, "line"));
    case.duration = json::seconds_of(t, "duration", 0.001);
    let invocations = json::u32_of(t, "invocations").unwrap_or(1);
    let retry_reasons = match t.get("retryReasons") {
        Some(Value::Array(a)) => a.len() as u32,
        _ => 0,
    };
    case.retries = invocations.saturating_sub(1).max(retry_reasons);
    case.flaky = status == Status::Passed && case.retries > 0;
    if raw_status == "todo" {
        case.skip_reason = Some("todo".into());
    }
    if status == Status::Failed {
        let msgs: Vec<String> = match t.get("failureMessages") {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|m| m.as_str())
                .map(String::from)
                .collect(),
            _ => Vec::new(),
        };
        let trace = msgs.join("\n\n");
        case.failure = Some(failure_from_trace(&trace, max));
    }
    case
}

/// `Error: msg\n    at ...` → kind `Error`, message `msg` (all lines before the first stack
/// frame), the whole text as trace.
pub(crate) fn failure_from_trace(trace: &str, max: usize) -> Failure {
    let cleaned = super::text::clean_control(trace);
    // The message is everything before the first stack frame (`    at ...`).
    let head: Vec<&str> = cleaned
        .lines()
        .take_while(|l| !l.trim_start().starts_with("at "))
        .collect();
    let (kind, message) = split_kind_text(&head.join("\n"));
    let message = message.trim();
    Failure {
        kind,
        message: (!message.is_empty()).then(|| json::clean(message, max)),
        trace: json::clean_opt(Some(&cleaned), max),
    }
}

/// Like [`split_kind`] for a whole (possibly multi-line) message: the kind prefix is taken
/// off its first line and the other lines are kept.
pub(crate) fn split_kind_text(text: &str) -> (Option<String>, String) {
    let t = text.trim();
    let (first, rest) = match t.split_once('\n') {
        Some((f, r)) => (f, Some(r)),
        None => (t, None),
    };
    let (kind, msg) = split_kind(first.trim());
    match rest {
        Some(r) => (kind, format!("{msg}\n{r}")),
        None => (kind, msg.to_string()),
    }
}

/// Splits `TypeError: msg` / `AssertionError [ERR_ASSERTION]: msg` into kind and message.
pub(crate) fn split_kind(line: &str) -> (Option<String>, &str) {
    if let Some((head, rest)) = line.split_once(": ") {
        let name = head.split(" [").next().unwrap_or(head);
        let ident = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '$'))
            && name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        if ident && (name.ends_with("Error") || name.ends_with("Exception") || name == "Error") {
            return (Some(name.to_string()), rest.trim());
        }
    }
    (None, line)
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn counts_todo_as_skipped_and_load_failures_as_suite_errors() {
        let doc = r#"{"numTotalTests": 4, "testResults": [
          {"name": "/w/a.test.js", "status": "failed", "message": "", "assertionResults": [
            {"ancestorTitles": ["A"], "title": "ok", "status": "passed", "duration": 12},
            {"ancestorTitles": ["A"], "title": "bad", "status": "failed", "duration": "3",
             "failureMessages": ["TypeError: x is null\n    at f (a.test.js:3:1)"],
             "location": {"line": 3, "column": 1}},
            {"ancestorTitles": [], "title": "later", "status": "todo"},
            {"ancestorTitles": [], "title": "retried", "status": "passed", "invocations": 3}
          ]},
          {"name": "/w/broken.test.js", "status": "failed", "assertionResults": [],
           "message": "  ● Test suite failed to run\n\n    Cannot find module 'x'"}
        ]}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::JestJson));
        r.unwrap();
        assert_eq!(
            (
                c.counts.tests,
                c.counts.passed,
                c.counts.failed,
                c.counts.skipped,
                c.counts.flaky
            ),
            (4, 2, 1, 1, 1)
        );
        let bad = &c.problems[0];
        assert_eq!(bad.suite, vec!["A"]);
        assert_eq!(bad.line, Some(3));
        assert_eq!(bad.duration, Some(0.003));
        let f = bad.failure.as_ref().unwrap();
        assert_eq!(f.kind.as_deref(), Some("TypeError"));
        assert_eq!(f.message.as_deref(), Some("x is null"));
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].kind, "load");
        assert!(
            c.suite_errors[0].message.contains("Cannot find module"),
            "{:?}",
            c.suite_errors
        );
    }

    #[test]
    fn non_reports_are_rejected() {
        let (_, r) = parse_bytes(
            br#"{"name": "pkg", "version": "1.0.0"}"#,
            "package.json",
            Some(Format::JestJson),
        );
        assert!(r.unwrap_err().message.contains("testResults"));
    }
}
