//! CTRF, the Common Test Report Format (<https://ctrf.io>): `{"results": {"tool", "summary",
//! "tests": [...]}}`, written by reporters for jest, mocha, pytest, playwright, cypress, ...
//!
//! `results.tests` is streamed one test at a time.
//!
//! Counting rules:
//! - `passed` → passed; with `flaky: true` (or `retries` > 0) it is flaky, with its retries;
//! - `failed` → failed, except pytest-ctrf's `rawStatus` `setup_failed`/`teardown_failed`
//!   (and any `rawStatus` `error`), which pytest itself counts as errors → errored;
//! - `skipped` and `pending` → skipped (jest's and mocha's CTRF reporters write skipped and
//!   todo tests as `pending`; the tools count them as skipped);
//! - `other` → skipped, with the raw status as the skip reason and a warning (CTRF uses it
//!   for statuses that are neither a pass nor a failure).
//!
//! The summary block is not trusted for counts: every test is counted from `tests`.
//! Durations are milliseconds in the file and seconds in the model.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status};

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_tests = false;
    json::walk_object(reader, sink, "CTRF", |jr, key, sink| {
        if key != "results" {
            return jr.skip_value();
        }
        jr.enter_object()?;
        while let Some(k) = jr.next_key()? {
            if k == "tests" {
                seen_tests = true;
                jr.for_each_item(|_: &mut JsonReader, t, pos| {
                    test(&t, pos, opts, sink);
                    Ok(())
                })?;
            } else {
                jr.skip_value()?;
            }
            jr.flush_warnings(sink);
        }
        Ok(())
    })?;
    if !seen_tests {
        return Err(ParseError::new(
            "not a CTRF report: it has no `results.tests` array",
        ));
    }
    Ok(())
}

fn test(t: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let max = opts.max_text_bytes;
    let name = json::str_of(t, "name").unwrap_or("").to_string();
    let raw = json::str_of(t, "rawStatus").unwrap_or("");
    let st = json::str_of(t, "status").unwrap_or("");
    let status = match st {
        "passed" => Status::Passed,
        "failed"
            if matches!(
                raw,
                "setup_failed" | "teardown_failed" | "error" | "errored"
            ) =>
        {
            Status::Errored
        }
        "failed" => Status::Failed,
        "skipped" | "pending" => Status::Skipped,
        other => {
            sink.warning(
                Some(pos),
                format!("test `{name}` has status `{other}`; counted as skipped"),
            );
            Status::Skipped
        }
    };
    let mut case = Case::new(
        if name.is_empty() {
            "(unnamed test)".to_string()
        } else {
            name
        },
        status,
    );
    case.suite = json::suite_path_of(t, "suite");
    case.file = json::text_of(t, "filePath");
    case.line = json::u32_of(t, "line");
    case.duration = json::seconds_of(t, "duration", 0.001);
    case.retries = json::u32_of(t, "retries").unwrap_or(0);
    case.flaky = status == Status::Passed
        && (json::bool_of(t, "flaky").unwrap_or(false) || case.retries > 0);
    match status {
        Status::Failed | Status::Errored => {
            let message = json::str_of(t, "message").unwrap_or("");
            let trace = json::str_of(t, "trace").unwrap_or("");
            let cleaned = super::text::clean_control(message);
            let (kind, short) = super::jest_json::split_kind_text(&cleaned);
            case.failure = Some(Failure {
                kind,
                message: json::clean_opt(Some(&short), max),
                trace: json::clean_opt(Some(trace), max),
            });
        }
        Status::Skipped => {
            case.skip_reason = json::clean_opt(json::str_of(t, "message"), max)
                .or_else(|| (st == "other").then(|| format!("status other ({raw})")));
        }
        Status::Passed => {}
    }
    let mut out = String::new();
    for k in ["stdout", "stderr"] {
        if let Some(Value::Array(a)) = t.get(k) {
            for l in a.iter().filter_map(|x| x.as_str()) {
                out.push_str(l);
                out.push('\n');
            }
        }
    }
    if status.is_bad() {
        case.output = json::clean_opt(Some(&out), max);
    }
    sink.case(case);
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn statuses_retries_and_pytest_errors() {
        let doc = r#"{"reportFormat": "CTRF", "results": {"tool": {"name": "x"},
          "summary": {"tests": 99},
          "tests": [
            {"name": "a", "status": "passed", "duration": 1500, "suite": "f.js > A"},
            {"name": "b", "status": "passed", "retries": 2, "flaky": true},
            {"name": "c", "status": "failed", "message": "AssertionError: nope", "trace": "at c.js:3", "line": 3},
            {"name": "d", "status": "failed", "rawStatus": "setup_failed", "message": "fixture broke"},
            {"name": "e", "status": "pending"},
            {"name": "f", "status": "other"}
          ]}}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::CtrfJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped, n.flaky),
            (6, 2, 1, 1, 2, 1)
        );
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].suite, vec!["f.js", "A"]);
        assert_eq!(all[0].duration, Some(1.5));
        assert_eq!(all[1].retries, 2);
        let f = all[2].failure.as_ref().unwrap();
        assert_eq!(
            (f.kind.as_deref(), f.message.as_deref()),
            (Some("AssertionError"), Some("nope"))
        );
        assert_eq!(c.warnings.len(), 1);
    }
}
