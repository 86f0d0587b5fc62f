//! Mocha's built-in JSON reporter (`mocha --reporter json`).
//!
//! Layout: a top-level object with `stats` and four arrays: `tests` (every test), `pending`,
//! `failures` and `passes`. The three outcome arrays are streamed one test at a time and
//! `tests` is skipped: the outcome arrays say the status, and they also hold hook failures.
//!
//! Counting rules (they match mocha's spec reporter `N passing / N pending / N failing`):
//! - `passes` → passed (a test that passed after `this.retries()` with `currentRetry` > 0 is
//!   flaky), `pending` → skipped, `failures` → failed (mocha has no error category);
//! - a failing hook (`"before each" hook for "x"`) is ONE failing pseudo-test in `failures`:
//!   mocha counts it as failing too (its `stats.tests` does not, so it is one lower), and the
//!   tests behind the hook never ran and appear nowhere.
//!
//! Durations are milliseconds in the file and seconds in the model.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Status};

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen = false;
    json::walk_object(reader, sink, "Mocha JSON", |jr, key, sink| {
        let status = match key {
            "passes" => Status::Passed,
            "pending" => Status::Skipped,
            "failures" => Status::Failed,
            _ => return jr.skip_value(),
        };
        seen = true;
        jr.for_each_item(|_: &mut JsonReader, t, _| {
            sink.case(test(&t, status, opts));
            Ok(())
        })
    })?;
    if !seen {
        return Err(ParseError::new(
            "not a Mocha JSON report: it has none of the `passes`, `pending`, `failures` arrays",
        ));
    }
    Ok(())
}

fn test(t: &Value, status: Status, opts: &ParseOptions) -> Case {
    let max = opts.max_text_bytes;
    let title = json::str_of(t, "title").unwrap_or("").to_string();
    let full = json::str_of(t, "fullTitle").unwrap_or("").to_string();
    let name = if title.is_empty() {
        full.clone()
    } else {
        title.clone()
    };
    let mut case = Case::new(
        if name.is_empty() {
            "(unnamed test)".to_string()
        } else {
            name
        },
        status,
    );
    // fullTitle = "<describe titles joined by spaces> <title>".
    if let Some(scope) = full.strip_suffix(&title).map(str::trim)
        && !scope.is_empty()
        && !title.is_empty()
    {
        case.suite = vec![scope.to_string()];
    }
    case.file = json::text_of(t, "file");
    case.duration = json::seconds_of(t, "duration", 0.001);
    let retry = json::u32_of(t, "currentRetry").unwrap_or(0);
    case.retries = retry;
    case.flaky = status == Status::Passed && retry > 0;
    if status == Status::Failed {
        let err = t.get("err").cloned().unwrap_or(Value::Null);
        let stack = json::str_of(&err, "stack").unwrap_or("");
        let message = json::str_of(&err, "message").unwrap_or("");
        let mut f = super::jest_json::failure_from_trace(
            if stack.is_empty() { message } else { stack },
            max,
        );
        if !message.trim().is_empty() {
            f.message = json::clean_opt(Some(message.trim()), max);
        }
        if let Some(n) = json::text_of(&err, "name") {
            f.kind = Some(n);
        }
        case.failure = Some(Failure { ..f });
    }
    case
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn hook_failures_count_and_retries_are_flaky() {
        let doc = r#"{"stats": {"tests": 3, "passes": 1, "pending": 1, "failures": 2},
          "tests": [{"title": "ignored here"}],
          "pending": [{"title": "later", "fullTitle": "S later", "file": "/w/t.js"}],
          "failures": [
            {"title": "\"before each\" hook for \"x\"", "fullTitle": "S \"before each\" hook for \"x\"", "duration": 3,
             "err": {"message": "boom", "stack": "Error: boom\n    at Context.<anonymous> (t.js:4:9)"}},
            {"title": "y", "fullTitle": "S y", "err": {"message": "expected 1 to equal 2", "stack": "AssertionError: expected 1 to equal 2\n at t.js:9:3"}}
          ],
          "passes": [{"title": "z", "fullTitle": "S z", "duration": 12, "currentRetry": 2}]}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::MochaJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.skipped, n.flaky),
            (4, 1, 2, 1, 1)
        );
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].suite, vec!["S"]);
        let f = all[1].failure.as_ref().unwrap();
        assert_eq!(
            (f.kind.as_deref(), f.message.as_deref()),
            (Some("Error"), Some("boom"))
        );
        assert_eq!(all[1].duration, Some(0.003));
        assert_eq!(all[3].retries, 2);
    }
}
