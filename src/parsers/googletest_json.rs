//! GoogleTest JSON (`--gtest_output=json:x.json`).
//!
//! Layout: `{"tests", "failures", "disabled", "testsuites": [{"name", "testsuite": [test,
//! ...]}]}`. Suites and their tests are both streamed, one test at a time.
//!
//! Counting rules (normalized from gtest's summary: `tests = ran + disabled`):
//! - `result: COMPLETED` without failures → passed; with one or more `failures` → failed
//!   (gtest has no error category: an uncaught C++ exception is a failure too);
//! - `result: SKIPPED` (`GTEST_SKIP()`) → skipped;
//! - `status: NOTRUN` / `result: SUPPRESSED` (`DISABLED_` tests) → skipped, reason
//!   `disabled`.
//!
//! `time` is a string like `"0.004s"`.

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
    json::walk_object(reader, sink, "GoogleTest JSON", |jr, key, sink| {
        if key != "testsuites" {
            return jr.skip_value();
        }
        seen = true;
        jr.enter_array()?;
        while jr.next_item()? {
            jr.enter_object()?;
            let mut suite_name = String::new();
            while let Some(k) = jr.next_key()? {
                match k.as_str() {
                    "name" => {
                        suite_name = jr.read_value()?.as_str().unwrap_or("").to_string();
                    }
                    "testsuite" => {
                        let sn = suite_name.clone();
                        jr.for_each_item(|_: &mut JsonReader, t, _| {
                            sink.case(test(&t, &sn, opts));
                            Ok(())
                        })?;
                    }
                    _ => jr.skip_value()?,
                }
                jr.flush_warnings(sink);
            }
        }
        Ok(())
    })?;
    if !seen {
        return Err(ParseError::new(
            "not a GoogleTest JSON report: it has no `testsuites` array",
        ));
    }
    Ok(())
}

fn test(t: &Value, suite: &str, opts: &ParseOptions) -> Case {
    let max = opts.max_text_bytes;
    let name = json::str_of(t, "name")
        .unwrap_or("(unnamed test)")
        .to_string();
    let result = json::str_of(t, "result").unwrap_or("");
    let run_status = json::str_of(t, "status").unwrap_or("");
    let failures: Vec<&str> = match t.get("failures") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|f| json::str_of(f, "failure"))
            .collect(),
        _ => Vec::new(),
    };
    let disabled = run_status == "NOTRUN" || result == "SUPPRESSED";
    let status = if !failures.is_empty() {
        Status::Failed
    } else if disabled || result == "SKIPPED" {
        Status::Skipped
    } else {
        Status::Passed
    };
    let mut case = Case::new(name, status);
    let classname = json::text_of(t, "classname").unwrap_or_else(|| suite.to_string());
    if !classname.is_empty() {
        case.classname = Some(classname);
    }
    case.file = json::text_of(t, "file");
    case.line = json::u32_of(t, "line");
    case.duration = json::num_of(t, "time").filter(|d| *d >= 0.0);
    if disabled {
        case.skip_reason = Some("disabled".into());
    }
    if status == Status::Failed {
        let all = failures.join("\n\n");
        // Each failure starts with `file:line` on its own line; the message follows.
        let first = failures[0];
        let body = match first.split_once('\n') {
            Some((head, rest)) if head.contains(':') && !head.contains(' ') => rest,
            _ => first,
        };
        case.failure = Some(Failure {
            kind: None,
            message: json::clean_opt(Some(body.trim()), max),
            trace: json::clean_opt(Some(&all), max),
        });
    }
    case
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn disabled_and_skipped_are_skipped() {
        let doc = r#"{"tests": 4, "failures": 1, "disabled": 1, "testsuites": [{"name": "M", "testsuite": [
          {"name": "A", "status": "RUN", "result": "COMPLETED", "time": "0.5s", "classname": "M", "file": "m.cpp", "line": 8},
          {"name": "B", "status": "RUN", "result": "COMPLETED", "time": "0s", "classname": "M",
           "failures": [{"failure": "m.cpp:9\nExpected equality\n  1\n  2", "type": ""}, {"failure": "m.cpp:10\nsecond", "type": ""}]},
          {"name": "C", "status": "RUN", "result": "SKIPPED", "classname": "M"},
          {"name": "DISABLED_D", "status": "NOTRUN", "result": "SUPPRESSED", "classname": "M"}
        ]}]}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::GoogletestJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!((n.tests, n.passed, n.failed, n.skipped), (4, 1, 1, 2));
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].duration, Some(0.5));
        assert_eq!(all[0].id(), "M::A");
        let f = all[1].failure.as_ref().unwrap();
        assert_eq!(f.message.as_deref(), Some("Expected equality\n  1\n  2"));
        assert!(f.trace.as_deref().unwrap().contains("second"));
        assert_eq!(all[3].skip_reason.as_deref(), Some("disabled"));
    }
}
