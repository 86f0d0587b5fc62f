//! pytest-json-report (`pytest --json-report --json-report-file=x.json`).
//!
//! Layout: a top-level object with `summary`, `collectors` and `tests` (one entry per test
//! with `nodeid`, `lineno`, `outcome` and `setup`/`call`/`teardown` stages). `tests` is
//! streamed one test at a time.
//!
//! Counting rules (they match pytest's own summary line, normalized):
//! - `passed` and `xpassed` → passed (an unexpected pass is not a failure unless
//!   `xfail_strict`, in which case pytest itself reports `failed`);
//! - `failed` → failed (an exception inside the test body is a failure in pytest);
//! - `error` → errored (only setup/teardown exceptions are errors in pytest);
//! - `skipped` and `xfailed` → skipped;
//! - a collector that failed (a module that does not import) is a [`SuiteError`] of kind
//!   `load`: pytest counts it under "N errors" but it has no test;
//! - a test that passed but whose teardown raised is one entry with outcome `error` in the
//!   report; pytest's summary line shows it twice (as passed *and* as error), we count the
//!   test once, as errored, so that `passed + failed + errored + skipped` stays the number
//!   of tests.
//!
//! `lineno` is 0-based in the report (pytest's `location`), 1-based in the model.

use std::io::BufRead;

use serde_json::Value;

use super::json::{self, JsonReader, Keep};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Position, Status, SuiteError};

/// What [`test`] reads of a test entry (and of its stages); the rest (`keywords`,
/// `metadata`, ...) is checked, not built.
const TEST_KEYS: Keep = Keep::Only(&[
    ("nodeid", Keep::All),
    ("outcome", Keep::All),
    ("lineno", Keep::All),
    ("setup", STAGE_KEYS),
    ("call", STAGE_KEYS),
    ("teardown", STAGE_KEYS),
]);
const STAGE_KEYS: Keep = Keep::Only(&[
    ("duration", Keep::All),
    ("outcome", Keep::All),
    ("longrepr", Keep::All),
    ("crash", Keep::All),
    ("stdout", Keep::All),
    ("stderr", Keep::All),
    ("log", Keep::All),
]);

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen_tests = false;
    json::walk_object(
        reader,
        sink,
        "pytest-json-report",
        |jr, key, sink| match key {
            "tests" => {
                seen_tests = true;
                jr.for_each_item_only(TEST_KEYS, |_: &mut JsonReader, t, pos| {
                    test(&t, pos, opts, sink);
                    Ok(())
                })
            }
            "collectors" => jr.for_each_item(|_: &mut JsonReader, c, _| {
                collector(&c, opts, sink);
                Ok(())
            }),
            _ => jr.skip_value(),
        },
    )?;
    if !seen_tests {
        return Err(ParseError::new(
            "not a pytest-json-report file: it has no `tests` array",
        ));
    }
    Ok(())
}

fn collector(c: &Value, opts: &ParseOptions, sink: &mut dyn Sink) {
    if json::str_of(c, "outcome") != Some("failed") {
        return;
    }
    let nodeid = json::str_of(c, "nodeid").unwrap_or("").to_string();
    let longrepr = json::str_of(c, "longrepr").unwrap_or("");
    let cleaned = super::text::clean_control(longrepr);
    // The last `E   ...` line is the exception pytest shows.
    let reason = cleaned
        .lines()
        .filter_map(|l| l.strip_prefix('E'))
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| json::first_line(&cleaned))
        .to_string();
    sink.suite_error(SuiteError {
        suite: nodeid.clone(),
        message: if reason.is_empty() {
            "collection failed".into()
        } else {
            format!("collection failed: {reason}")
        },
        file: (!nodeid.is_empty()).then(|| nodeid.split("::").next().unwrap_or("").to_string()),
        kind: "load".into(),
        trace: json::clean_opt(Some(longrepr), opts.max_text_bytes),
        ..Default::default()
    });
}

fn test(t: &Value, pos: Position, opts: &ParseOptions, sink: &mut dyn Sink) {
    let max = opts.max_text_bytes;
    let nodeid = json::str_of(t, "nodeid").unwrap_or("");
    if nodeid.is_empty() {
        sink.warning(Some(pos), "a test has no `nodeid`".into());
    }
    let outcome = json::str_of(t, "outcome").unwrap_or("");
    let status = match outcome {
        "passed" | "xpassed" => Status::Passed,
        "failed" => Status::Failed,
        "error" => Status::Errored,
        "skipped" | "xfailed" => Status::Skipped,
        other => {
            sink.warning(
                Some(pos),
                format!("test `{nodeid}` has an unknown outcome `{other}`; counted as skipped"),
            );
            Status::Skipped
        }
    };
    let mut parts = nodeid.split("::");
    let file = parts.next().unwrap_or("").to_string();
    let rest: Vec<&str> = parts.collect();
    let (scope, name) = match rest.split_last() {
        Some((name, scope)) => (scope.to_vec(), name.to_string()),
        None => (Vec::new(), nodeid.to_string()),
    };
    let mut case = Case::new(
        if name.is_empty() {
            "(unnamed test)".to_string()
        } else {
            name
        },
        status,
    );
    if !file.is_empty() {
        // Same classname as pytest's JUnit XML: dotted module path plus classes.
        let module = file.trim_end_matches(".py").replace(['/', '\\'], ".");
        let mut cls = module;
        for s in &scope {
            cls.push('.');
            cls.push_str(s);
        }
        case.classname = Some(cls);
        case.file = Some(file);
    }
    case.line = json::u32_of(t, "lineno").map(|l| l + 1);
    let stages = ["setup", "call", "teardown"];
    let mut total = 0.0;
    let mut any_duration = false;
    for s in stages {
        if let Some(d) = t
            .get(s)
            .and_then(|st| json::seconds_of(st, "duration", 1.0))
        {
            total += d;
            any_duration = true;
        }
    }
    case.duration = any_duration.then_some(total);
    if outcome == "xfailed" {
        case.skip_reason = Some("xfail (expected failure)".into());
    }
    // The stage that decided the outcome.
    let deciding = stages.iter().find_map(|s| {
        let st = t.get(*s)?;
        match json::str_of(st, "outcome")? {
            "failed" | "error" => Some((*s, st)),
            "skipped" => Some((*s, st)),
            _ => None,
        }
    });
    if let Some((stage, st)) = deciding {
        let longrepr = st.get("longrepr").map(longrepr_text).unwrap_or_default();
        match status {
            Status::Failed | Status::Errored => {
                let crash = st.get("crash");
                let msg = crash
                    .and_then(|c| json::str_of(c, "message"))
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        longrepr
                            .lines()
                            .filter_map(|l| l.strip_prefix('E'))
                            .map(str::trim)
                            .find(|l| !l.is_empty())
                            .unwrap_or_else(|| json::first_line(&longrepr))
                            .to_string()
                    });
                let cleaned = super::text::clean_control(&msg);
                let (kind, mut message) = super::jest_json::split_kind_text(&cleaned);
                if status == Status::Errored && stage != "call" {
                    message = format!("error in {stage}: {message}");
                }
                case.failure = Some(Failure {
                    kind,
                    message: (!message.is_empty()).then(|| json::clean(&message, max)),
                    trace: json::clean_opt(Some(&longrepr), max),
                });
                let mut out = String::new();
                for s in stages {
                    if let Some(x) = t.get(s) {
                        for k in ["stdout", "stderr", "log"] {
                            if let Some(text) = json::str_of(x, k) {
                                out.push_str(text);
                            }
                        }
                    }
                }
                case.output = json::clean_opt(Some(&out), max);
            }
            Status::Skipped => {
                case.skip_reason = skip_reason(&longrepr).or(case.skip_reason.take());
            }
            Status::Passed => {}
        }
    }
    sink.case(case);
}

/// `longrepr` is a string, or for skips a `[path, line, "Skipped: why"]` triple.
fn longrepr_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `('/p/t.py', 35, 'Skipped: no network')` → `no network`.
fn skip_reason(longrepr: &str) -> Option<String> {
    let i = longrepr.find("Skipped: ")?;
    let r = &longrepr[i + "Skipped: ".len()..];
    let r = r
        .trim_end()
        .trim_end_matches(')')
        .trim_end_matches(['\'', '"']);
    (!r.is_empty()).then(|| super::text::clean_control(r))
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn outcomes_map_like_pytest_summary() {
        let doc = r#"{"exitcode": 1, "root": "/w", "tests": [
          {"nodeid": "t/test_a.py::test_ok", "lineno": 3, "outcome": "passed",
           "setup": {"duration": 0.5, "outcome": "passed"}, "call": {"duration": "0.25", "outcome": "passed"}},
          {"nodeid": "t/test_a.py::C::test_x", "lineno": 9, "outcome": "xpassed"},
          {"nodeid": "t/test_a.py::test_xf", "lineno": 9, "outcome": "xfailed"},
          {"nodeid": "t/test_a.py::test_sk", "outcome": "skipped",
           "setup": {"outcome": "skipped", "longrepr": "('/w/t/test_a.py', 35, 'Skipped: no net')"}},
          {"nodeid": "t/test_a.py::test_err", "outcome": "error",
           "setup": {"outcome": "failed", "crash": {"path": "/w/t/test_a.py", "lineno": 7, "message": "RuntimeError: db down"}, "longrepr": "E  RuntimeError: db down"}},
          {"nodeid": "t/test_a.py::test_f", "outcome": "failed",
           "call": {"outcome": "failed", "crash": {"message": "AssertionError: assert 1 == 2"}, "stdout": "hello\n"}}
        ], "collectors": [{"nodeid": "t/test_b.py", "outcome": "failed", "longrepr": "ImportError while importing\nE   ModuleNotFoundError: No module named 'x'"}]}"#;
        let (c, r) = parse_bytes(doc.as_bytes(), "r.json", Some(Format::PytestJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.errored, n.skipped),
            (6, 2, 1, 1, 2)
        );
        let all = c.all.as_ref().unwrap();
        assert_eq!(all[0].line, Some(4));
        assert_eq!(all[0].duration, Some(0.75));
        assert_eq!(all[1].classname.as_deref(), Some("t.test_a.C"));
        assert_eq!(all[3].skip_reason.as_deref(), Some("no net"));
        let err = all[4].failure.as_ref().unwrap();
        assert_eq!(err.kind.as_deref(), Some("RuntimeError"));
        assert_eq!(err.message.as_deref(), Some("error in setup: db down"));
        assert_eq!(all[5].output.as_deref(), Some("hello\n"));
        assert_eq!(c.suite_errors.len(), 1);
        assert!(c.suite_errors[0].message.contains("No module named"));
    }
}
