//! RSpec JSON (`rspec --format json --out x.json`).
//!
//! Layout: a top-level object with `examples` (one per example), `summary` and
//! `summary_line`. `examples` is streamed one example at a time.
//!
//! Counting rules (they match rspec's `N examples, N failures, N pending` line):
//! - `passed` → passed, `failed` → failed (RSpec has no error category: exceptions, also in
//!   `before` hooks, are failures; a pending example that unexpectedly passes is reported by
//!   rspec itself as `failed` with `PendingExampleFixedError`);
//! - `pending` (skip, `xit`, and pending examples that failed as expected) → skipped, with
//!   the pending message as the skip reason;
//! - `errors_outside_of_examples_count` > 0 (a spec file that raised while loading) is a
//!   [`SuiteError`] of kind `load` carrying the top-level `messages`.
//!
//! Names follow rspec_junit_formatter, so a test keeps its identity across both formats:
//! classname is the spec file as a dotted path (`spec.models.user_spec`), name is the full
//! description.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_examples = false;
    let mut outside_errors = 0u64;
    let mut messages: Vec<String> = Vec::new();
    json::walk_object(reader, sink, "RSpec JSON", |jr, key, sink| match key {
        "examples" => {
            seen_examples = true;
            jr.for_each_item(|_: &mut JsonReader, e, pos| {
                example(&e, pos, opts, sink);
                Ok(())
            })
        }
        "summary" => {
            let s = jr.read_value()?;
            outside_errors = json::num_of(&s, "errors_outside_of_examples_count")
                .map(|f| f as u64)
                .unwrap_or(0);
            Ok(())
        }
        "messages" => {
            if let Value::Array(a) = jr.read_value()? {
                messages = a
                    .into_iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect();
            }
            Ok(())
        }
        _ => jr.skip_value(),
    })?;
    if !seen_examples {
        return Err(ParseError::new(
            "not an RSpec JSON report: it has no `examples` array",
        ));
    }
    if outside_errors > 0 {
        let text = messages.join("\n");
        let cleaned = super::text::clean_control(&text);
        let reason = cleaned
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with("An error occurred while loading"))
            .unwrap_or("")
            .to_string();
        let file = cleaned
            .lines()
            .find_map(|l| l.trim().strip_prefix("An error occurred while loading "))
            .map(|f| f.trim_end_matches('.').to_string());
        sink.suite_error(SuiteError {
            suite: file.clone().unwrap_or_else(|| "rspec".into()),
            message: format!(
                "{outside_errors} error(s) occurred outside of examples{}",
                if reason.is_empty() {
                    String::new()
                } else {
                    format!(": {reason}")
                }
            ),
            file,
            kind: "load".into(),
            trace: json::clean_opt(Some(&text), opts.max_text_bytes),
            ..Default::default()
        });
    }
    Ok(())
}

fn example(e: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let max = opts.max_text_bytes;
    let name = json::str_of(e, "full_description")
        .or_else(|| json::str_of(e, "description"))
        .unwrap_or("")
        .to_string();
    let raw = json::str_of(e, "status").unwrap_or("");
    let status = match raw {
        "passed" => Status::Passed,
        "failed" => Status::Failed,
        "pending" => Status::Skipped,
        other => {
            sink.warning(
                Some(pos),
                format!("example `{name}` has an unknown status `{other}`; counted as skipped"),
            );
            Status::Skipped
        }
    };
    let mut case = Case::new(
        if name.is_empty() {
            "(unnamed example)".to_string()
        } else {
            name
        },
        status,
    );
    if let Some(f) = json::str_of(e, "file_path") {
        let path = f.trim_start_matches("./");
        case.classname = Some(path.trim_end_matches(".rb").replace('/', "."));
        case.file = Some(path.to_string());
    }
    case.line = json::u32_of(e, "line_number");
    case.duration = json::seconds_of(e, "run_time", 1.0);
    match status {
        Status::Skipped => {
            case.skip_reason = json::clean_opt(json::str_of(e, "pending_message"), max);
        }
        Status::Failed => {
            let ex = e.get("exception").cloned().unwrap_or(Value::Null);
            let message = json::str_of(&ex, "message").unwrap_or("");
            let mut trace = message.to_string();
            if let Some(Value::Array(bt)) = ex.get("backtrace") {
                for l in bt.iter().filter_map(|l| l.as_str()) {
                    trace.push('\n');
                    trace.push_str(l);
                }
            }
            case.failure = Some(Failure {
                kind: json::text_of(&ex, "class"),
                message: json::clean_opt(Some(message.trim()), max),
                trace: json::clean_opt(Some(&trace), max),
            });
        }
        _ => {}
    }
    sink.case(case);
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn pending_is_skipped_and_load_errors_are_suite_errors() {
        let doc = r#"{"version": "3.12.0", "messages": ["\nAn error occurred while loading ./spec/b_spec.rb.\nNameError: uninitialized constant Foo"],
          "examples": [
            {"full_description": "A works", "status": "passed", "file_path": "./spec/a_spec.rb", "line_number": 2, "run_time": 0.01},
            {"full_description": "A later", "status": "pending", "pending_message": "not yet", "file_path": "./spec/a_spec.rb"},
            {"full_description": "A breaks", "status": "failed", "file_path": "./spec/a_spec.rb", "line_number": 9,
             "exception": {"class": "RSpec::Expectations::ExpectationNotMetError", "message": "\nexpected: 1\n     got: 2\n", "backtrace": ["./spec/a_spec.rb:10:in `block'"]}}
          ],
          "summary": {"example_count": 3, "failure_count": 1, "pending_count": 1, "errors_outside_of_examples_count": 1}}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::RspecJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!((n.tests, n.passed, n.failed, n.skipped), (3, 1, 1, 1));
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].classname.as_deref(), Some("spec.a_spec"));
        assert_eq!(all[1].skip_reason.as_deref(), Some("not yet"));
        let f = all[2].failure.as_ref().unwrap();
        assert_eq!(f.message.as_deref(), Some("expected: 1\n     got: 2"));
        assert!(f.trace.as_deref().unwrap().contains("a_spec.rb:10"));
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].file.as_deref(), Some("./spec/b_spec.rb"));
        assert!(c.suite_errors[0].message.contains("NameError"));
    }
}
