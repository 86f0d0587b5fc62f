//! codeloop's own generic JSON format, for any tool that can print JSON but has no report
//! format codeloop knows. Documented in `docs/generic-json.md`; JSON Schema in
//! `schemas/generic-json.schema.json`.
//!
//! ```json
//! {"codeloop_generic": 1, "tool": "my-runner",
//!  "tests": [{"name": "adds", "suite": ["math"], "status": "failed", "duration": 0.12,
//!             "file": "math.c", "line": 12, "message": "1 != 2"}],
//!  "suite_errors": [{"suite": "io", "kind": "load", "message": "cannot open fixture"}]}
//! ```
//!
//! `tests` and `suite_errors` are streamed one element at a time. Counting is what the file
//! says: `status` is one of `passed`, `failed`, `errored`, `skipped` (aliases: `pass`/`ok`,
//! `fail`/`failure`, `error`, `skip`/`pending`/`todo`/`disabled`); `flaky: true` marks a pass
//! after retries. An unknown status is a warning and counts as errored, so a typo in a
//! producer is seen rather than silently passing.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// The schema version this build reads.
pub const VERSION: u64 = 1;

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut version: Option<u64> = None;
    let mut seen_tests = false;
    json::walk_object(
        reader,
        sink,
        "codeloop generic JSON",
        |jr, key, sink| match key {
            "codeloop_generic" => {
                let pos = jr.position();
                let v = jr.read_value()?;
                match v.as_u64() {
                    Some(n) if n <= VERSION => version = Some(n),
                    Some(n) => {
                        return Err(ParseError::at(
                            pos,
                            format!(
                                "codeloop_generic version {n} is newer than this codeloop reads ({VERSION}); upgrade codeloop"
                            ),
                        ));
                    }
                    None => {
                        return Err(ParseError::at(
                            pos,
                            format!(
                                "`codeloop_generic` must be the schema version number ({VERSION}), found {v}"
                            ),
                        ));
                    }
                }
                Ok(())
            }
            "tests" => {
                seen_tests = true;
                jr.for_each_item(|_: &mut JsonReader, t, pos| {
                    test(&t, pos, opts, sink);
                    Ok(())
                })
            }
            "suite_errors" => jr.for_each_item(|_: &mut JsonReader, e, pos| {
                suite_error(&e, pos, opts, sink);
                Ok(())
            }),
            _ => jr.skip_value(),
        },
    )?;
    if version.is_none() {
        return Err(ParseError::new(
            "not a codeloop generic JSON report: `\"codeloop_generic\": 1` is missing (see docs/generic-json.md)",
        ));
    }
    if !seen_tests {
        sink.warning(None, "the report has no `tests` array".into());
    }
    Ok(())
}

fn test(t: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let max = opts.max_text_bytes;
    let name = json::text_of(t, "name").unwrap_or_default();
    if name.is_empty() {
        sink.warning(Some(pos), "a test has no `name`".into());
    }
    let raw = json::str_of(t, "status").unwrap_or("");
    let status = match raw.to_ascii_lowercase().as_str() {
        "passed" | "pass" | "ok" | "success" => Status::Passed,
        "failed" | "fail" | "failure" => Status::Failed,
        "errored" | "error" => Status::Errored,
        "skipped" | "skip" | "pending" | "todo" | "disabled" | "ignored" => Status::Skipped,
        other => {
            sink.warning(
                Some(pos),
                format!("test `{name}` has an unknown status `{other}`; counted as errored"),
            );
            Status::Errored
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
    case.classname = json::text_of(t, "classname");
    case.file = json::text_of(t, "file");
    case.line = json::u32_of(t, "line");
    case.duration =
        json::seconds_of(t, "duration", 1.0).or_else(|| json::seconds_of(t, "duration_ms", 0.001));
    case.retries = json::u32_of(t, "retries").unwrap_or(0);
    case.flaky = status == Status::Passed && json::bool_of(t, "flaky").unwrap_or(false);
    if status.is_bad() {
        case.failure = Some(Failure {
            kind: json::text_of(t, "failure_type"),
            message: json::clean_opt(json::str_of(t, "message"), max),
            trace: json::clean_opt(json::str_of(t, "trace"), max),
        });
    }
    if status == Status::Skipped {
        case.skip_reason = json::clean_opt(
            json::str_of(t, "skip_reason").or_else(|| json::str_of(t, "message")),
            max,
        );
    }
    case.output = json::clean_opt(json::str_of(t, "output"), max);
    sink.case(case);
}

fn suite_error(e: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let message = json::text_of(e, "message").unwrap_or_default();
    if message.is_empty() {
        sink.warning(Some(pos), "a suite error has no `message`".into());
    }
    sink.suite_error(SuiteError {
        suite: json::text_of(e, "suite").unwrap_or_default(),
        message: json::clean(&message, opts.max_text_bytes),
        file: json::text_of(e, "file"),
        line: json::u32_of(e, "line"),
        kind: json::text_of(e, "kind").unwrap_or_else(|| "load".into()),
        trace: json::clean_opt(json::str_of(e, "trace"), opts.max_text_bytes),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn reads_the_documented_example() {
        let doc = include_str!("../../docs/generic-json.example.json");
        let (c, r) = parse_bytes(doc.as_bytes(), "results.json", None);
        assert_eq!(r.unwrap().format, Format::GenericJson);
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped, n.flaky),
            (5, 2, 1, 1, 1, 1)
        );
        assert_eq!(c.suite_errors.len(), 1);
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[2].suite, vec!["math", "division"]);
        assert_eq!(
            all[2].failure.as_ref().unwrap().kind.as_deref(),
            Some("AssertionError")
        );
        assert_eq!(all[0].duration, Some(0.012));
    }

    #[test]
    fn version_is_required_and_checked() {
        let (_, r) = parse_bytes(br#"{"tests": []}"#, "x.json", Some(Format::GenericJson));
        assert!(r.unwrap_err().message.contains("codeloop_generic"));
        let (_, r) = parse_bytes(
            br#"{"codeloop_generic": 9, "tests": []}"#,
            "x.json",
            Some(Format::GenericJson),
        );
        assert!(r.unwrap_err().message.contains("upgrade"));
        let (c, r) = parse_bytes(
            br#"{"codeloop_generic": 1, "tests": [{"name": "t", "status": "weird"}]}"#,
            "x.json",
            Some(Format::GenericJson),
        );
        r.unwrap();
        assert_eq!(c.counts.errored, 1);
        assert_eq!(c.warnings.len(), 1);
    }
}
