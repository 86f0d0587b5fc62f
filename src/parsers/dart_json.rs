//! Dart and Flutter `--reporter json` (`dart test --reporter json`, `flutter test
//! --machine`): a JSON Lines event stream (`start`, `suite`, `group`, `testStart`, `print`,
//! `error`, `testDone`, `done`). Read line by line; only tests still running are held.
//!
//! Counting rules (they match `dart test`'s `+N ~N -N` summary):
//! - `testDone` with `result: success` → passed, or skipped when `skipped: true`;
//!   `failure` (a failed expectation) → failed; `error` (an exception, a timeout) → errored;
//! - `hidden: true` tests are the runner's own `loading <file>` pseudo-tests: not counted;
//!   when one does not succeed, the file failed to load → [`SuiteError`] of kind `load`;
//! - a test that started but never finished (the runner was killed) → errored, with a
//!   warning.
//!
//! `time` is milliseconds since the start of the run; durations are in seconds.

use std::collections::HashMap;
use std::io::BufRead;

use serde_json::Value;

use super::json;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

struct Running {
    name: String,
    suite: String,
    groups: Vec<String>,
    file: Option<String>,
    line: Option<u32>,
    start: Option<f64>,
    skip_reason: Option<String>,
    errors: Vec<(String, String)>,
    output: String,
    pos: Position,
}

#[derive(Default)]
struct State {
    suites: HashMap<i64, String>,
    groups: HashMap<i64, String>,
    running: HashMap<i64, Running>,
    done: bool,
    events: u64,
}

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut st = State::default();
    let max = opts.max_text_bytes;
    json::for_each_line(reader, sink, |line, sink| {
        // Other lines are Flutter's own console output.
        if let json::Line::Value(v, pos) = line {
            event(&mut st, &v, pos, max, sink);
        }
        Ok(())
    })?;
    if st.events == 0 {
        return Err(ParseError::new(
            "not a Dart/Flutter JSON report: no `testStart`/`testDone` events",
        ));
    }
    // Tests still running when the stream ended, in file order.
    let mut left: Vec<Running> = st.running.into_values().collect();
    left.sort_by_key(|r| r.pos.byte);
    for r in left {
        {
            sink.warning(
                Some(r.pos),
                format!(
                    "test `{}` started but never finished: the run was cut short",
                    r.name
                ),
            );
            let mut case = finish(r, Status::Errored, None, max);
            case.failure = Some(Failure {
                kind: None,
                message: Some(
                    "the test did not finish (the run was interrupted or crashed)".into(),
                ),
                trace: case.failure.and_then(|f| f.trace),
            });
            sink.case(case);
        }
    }
    if !st.done {
        sink.warning(
            None,
            "the event stream has no `done` event: the run may have been cut short".into(),
        );
    }
    Ok(())
}

fn event(st: &mut State, v: &Value, pos: Position, max: usize, sink: &mut dyn Sink) {
    let ty = json::str_of(v, "type").unwrap_or("");
    match ty {
        "suite" => {
            if let Some(s) = v.get("suite")
                && let Some(id) = s.get("id").and_then(Value::as_i64)
            {
                st.suites
                    .insert(id, json::text_of(s, "path").unwrap_or_default());
            }
        }
        "group" => {
            if let Some(g) = v.get("group")
                && let Some(id) = g.get("id").and_then(Value::as_i64)
            {
                st.groups
                    .insert(id, json::text_of(g, "name").unwrap_or_default());
            }
        }
        "testStart" => {
            st.events += 1;
            let Some(t) = v.get("test") else { return };
            let Some(id) = t.get("id").and_then(Value::as_i64) else {
                sink.warning(Some(pos), "a `testStart` event has no test id".into());
                return;
            };
            let suite = t
                .get("suiteID")
                .and_then(Value::as_i64)
                .and_then(|s| st.suites.get(&s).cloned())
                .unwrap_or_default();
            let groups = match t.get("groupIDs") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(Value::as_i64)
                    .filter_map(|g| st.groups.get(&g))
                    .filter(|n| !n.is_empty())
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            let url = json::text_of(t, "root_url").or_else(|| json::text_of(t, "url"));
            let file = url
                .map(|u| u.strip_prefix("file://").map(str::to_string).unwrap_or(u))
                .or_else(|| (!suite.is_empty()).then(|| suite.clone()));
            let line = json::u32_of(t, "root_line").or_else(|| json::u32_of(t, "line"));
            let skip_reason = t
                .get("metadata")
                // Bounded like every text (found by fuzzing).
                .and_then(|m| json::clean_opt(json::str_of(m, "skipReason"), max));
            st.running.insert(
                id,
                Running {
                    name: json::text_of(t, "name").unwrap_or_else(|| "(unnamed test)".into()),
                    suite,
                    groups,
                    file,
                    line,
                    start: json::num_of(v, "time"),
                    skip_reason,
                    errors: Vec::new(),
                    output: String::new(),
                    pos,
                },
            );
        }
        "print" => {
            if let Some(r) = v
                .get("testID")
                .and_then(Value::as_i64)
                .and_then(|id| st.running.get_mut(&id))
                && r.output.len() < max
                && let Some(m) = json::str_of(v, "message")
            {
                r.output.push_str(m);
                r.output.push('\n');
            }
        }
        "error" => {
            if let Some(r) = v
                .get("testID")
                .and_then(Value::as_i64)
                .and_then(|id| st.running.get_mut(&id))
                && r.errors.len() < 20
            {
                r.errors.push((
                    json::text_of(v, "error").unwrap_or_default(),
                    json::text_of(v, "stackTrace").unwrap_or_default(),
                ));
            }
        }
        "testDone" => {
            let Some(id) = v.get("testID").and_then(Value::as_i64) else {
                sink.warning(Some(pos), "a `testDone` event has no test id".into());
                return;
            };
            let Some(r) = st.running.remove(&id) else {
                sink.warning(Some(pos), format!("`testDone` for unknown test id {id}"));
                return;
            };
            let result = json::str_of(v, "result").unwrap_or("");
            let hidden = json::bool_of(v, "hidden").unwrap_or(false);
            if hidden {
                if result != "success" {
                    let (msg, trace) = r.errors.first().cloned().unwrap_or_default();
                    let file = r.suite.clone();
                    sink.suite_error(SuiteError {
                        suite: r.suite.clone(),
                        message: format!(
                            "the test file failed to load: {}",
                            json::first_line(&super::text::clean_control(&msg))
                        ),
                        file: (!file.is_empty()).then_some(file),
                        kind: "load".into(),
                        trace: json::clean_opt(Some(&format!("{msg}\n{trace}")), max),
                        ..Default::default()
                    });
                }
                return;
            }
            let status = match result {
                "success" if json::bool_of(v, "skipped").unwrap_or(false) => Status::Skipped,
                "success" => Status::Passed,
                "failure" => Status::Failed,
                "error" => Status::Errored,
                other => {
                    sink.warning(
                        Some(pos),
                        format!(
                            "test `{}` has an unknown result `{other}`; counted as errored",
                            r.name
                        ),
                    );
                    Status::Errored
                }
            };
            let end = json::num_of(v, "time");
            sink.case(finish(r, status, end, max));
        }
        "done" => st.done = true,
        _ => {}
    }
}

fn finish(r: Running, status: Status, end: Option<f64>, max: usize) -> Case {
    let mut case = Case::new(r.name, status);
    case.suite = r.groups;
    if !r.suite.is_empty() {
        case.classname = Some(r.suite);
    }
    case.file = r.file;
    case.line = r.line;
    case.duration = match (r.start, end) {
        (Some(s), Some(e)) if e >= s => Some((e - s) / 1000.0),
        _ => None,
    };
    if status == Status::Skipped {
        case.skip_reason = r.skip_reason;
    }
    if status.is_bad() {
        let msg = r.errors.first().map(|e| e.0.clone()).unwrap_or_default();
        let trace: String = r
            .errors
            .iter()
            .map(|(m, s)| format!("{m}\n{s}"))
            .collect::<Vec<_>>()
            .join("\n");
        let cleaned = super::text::clean_control(&msg);
        case.failure = Some(Failure {
            kind: None,
            message: json::clean_opt(Some(cleaned.trim()), max),
            trace: json::clean_opt(Some(&trace), max),
        });
        case.output = json::clean_opt(Some(&r.output), max);
    }
    case
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn hidden_loading_tests_are_not_counted() {
        let doc = br#"{"protocolVersion":"0.1.1","runnerVersion":"1.15.4","type":"start","time":0}
{"suite":{"id":0,"platform":"vm","path":"test/a_test.dart"},"type":"suite","time":0}
{"test":{"id":1,"name":"loading test/a_test.dart","suiteID":0,"groupIDs":[]},"type":"testStart","time":1}
{"testID":1,"result":"success","skipped":false,"hidden":true,"type":"testDone","time":5}
{"group":{"id":2,"suiteID":0,"parentID":null,"name":"G"},"type":"group","time":6}
{"test":{"id":3,"name":"G ok","suiteID":0,"groupIDs":[2],"line":4,"url":"file:///w/test/a_test.dart"},"type":"testStart","time":10}
{"testID":3,"result":"success","skipped":false,"hidden":false,"type":"testDone","time":1510}
{"test":{"id":4,"name":"G bad","suiteID":0,"groupIDs":[2],"line":7},"type":"testStart","time":11}
{"testID":4,"error":"Expected: <1>\n  Actual: <2>","stackTrace":"test/a_test.dart 8:5  main.<fn>","isFailure":true,"type":"error","time":12}
{"testID":4,"result":"failure","skipped":false,"hidden":false,"type":"testDone","time":13}
not json: flutter noise
{"test":{"id":5,"name":"G skip","suiteID":0,"groupIDs":[2],"metadata":{"skip":true,"skipReason":"later"}},"type":"testStart","time":14}
{"testID":5,"result":"success","skipped":true,"hidden":false,"type":"testDone","time":14}
{"test":{"id":6,"name":"loading test/b_test.dart","suiteID":0,"groupIDs":[]},"type":"testStart","time":20}
{"testID":6,"error":"Failed to load \"test/b_test.dart\": compile error","stackTrace":"","isFailure":false,"type":"error","time":21}
{"testID":6,"result":"error","skipped":false,"hidden":true,"type":"testDone","time":22}
{"success":false,"type":"done","time":30}
"#;
        let (c, r) = parse_bytes(doc, "r.json", Some(Format::DartJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!((n.tests, n.passed, n.failed, n.skipped), (3, 1, 1, 1));
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].suite, vec!["G"]);
        assert_eq!(all[0].duration, Some(1.5));
        assert_eq!(all[0].file.as_deref(), Some("/w/test/a_test.dart"));
        assert!(
            all[1]
                .failure
                .as_ref()
                .unwrap()
                .message
                .as_deref()
                .unwrap()
                .contains("Expected: <1>")
        );
        assert_eq!(all[2].skip_reason.as_deref(), Some("later"));
        assert_eq!(c.suite_errors.len(), 1);
        assert!(c.suite_errors[0].message.contains("compile error"));
    }

    #[test]
    fn long_skip_reasons_are_bounded() {
        // Found by fuzzing: `metadata.skipReason` was kept whole.
        let doc = format!(
            "{{\"test\":{{\"id\":1,\"name\":\"s\",\"suiteID\":0,\"groupIDs\":[],\"metadata\":{{\"skip\":true,\"skipReason\":\"{}\"}}}},\"type\":\"testStart\",\"time\":1}}\n\
             {{\"testID\":1,\"result\":\"success\",\"skipped\":true,\"hidden\":false,\"type\":\"testDone\",\"time\":2}}\n",
            "r".repeat(40_000)
        );
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::DartJson));
        r.unwrap();
        let reason = c.all.as_ref().unwrap()[0].skip_reason.as_deref().unwrap();
        let max = crate::parsers::ParseOptions::default().max_text_bytes;
        assert!(
            reason.len() <= max && reason.starts_with("rrr"),
            "{}",
            reason.len()
        );
    }
}
