//! Rust test harness JSON: libtest's `--format json` (`cargo test -- -Z unstable-options
//! --format json --report-time`) and cargo-nextest's libtest-json output
//! (`NEXTEST_EXPERIMENTAL_LIBTEST_JSON=1 cargo nextest run --message-format libtest-json`).
//! JSON Lines, read line by line; non-JSON lines (cargo's own messages) are ignored.
//!
//! Counting rules (they match `test result: ... N passed; N failed; N ignored` and nextest's
//! `Summary` line, normalized):
//! - `ok` → passed, `failed` → failed (libtest has no error category: panics, `Err` returns
//!   and a `should_panic` that did not panic are failures; a nextest timeout is `failed` with
//!   `reason: "time limit exceeded"`), `ignored` → skipped;
//! - nextest names a retried test `name#N` (attempt N): the suffix is stripped, `retries` is
//!   N-1, and an `ok` after retries is flaky;
//! - libtest's `timeout` event only says that a test runs for over 60 s: not an outcome;
//! - `started`, suite events and benches are not tests.
//!
//! Nextest names are `crate::binary$path::to::test`: the part before `$` becomes the
//! classname. A panic's `file:line` from the captured output goes into the failure.

use std::io::BufRead;

use serde_json::Value;

use super::json;
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Case, Failure, Status};

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut events = 0u64;
    let max = opts.max_text_bytes;
    json::for_each_line(reader, sink, |line, sink| {
        // Other lines are cargo's own messages.
        let json::Line::Value(v, pos) = line else {
            return Ok(());
        };
        {
            let ty = json::str_of(&v, "type").unwrap_or("");
            if ty == "suite" {
                events += 1;
                return Ok(());
            }
            if ty != "test" {
                return Ok(());
            }
            events += 1;
            let ev = json::str_of(&v, "event").unwrap_or("");
            let status = match ev {
                "ok" => Status::Passed,
                "failed" => Status::Failed,
                "ignored" => Status::Skipped,
                "started" | "timeout" => return Ok(()),
                other => {
                    sink.warning(
                        Some(pos),
                        format!("unknown test event `{other}`; the line is ignored"),
                    );
                    return Ok(());
                }
            };
            sink.case(test(&v, status, max));
            Ok(())
        }
    })?;
    if events == 0 {
        return Err(ParseError::new(
            "not a libtest/nextest JSON stream: no `{\"type\": \"test\"|\"suite\", ...}` lines",
        ));
    }
    Ok(())
}

fn test(v: &Value, status: Status, max: usize) -> Case {
    let raw = json::str_of(v, "name").unwrap_or("(unnamed test)");
    let (binary, path) = match raw.split_once('$') {
        Some((b, p)) => (Some(b), p),
        None => (None, raw),
    };
    let (name, attempt) = match path.rsplit_once('#') {
        Some((n, a)) if !a.is_empty() && a.chars().all(|c| c.is_ascii_digit()) => {
            (n, a.parse::<u32>().unwrap_or(1))
        }
        _ => (path, 1),
    };
    let mut case = Case::new(name, status);
    case.classname = binary.map(str::to_string);
    case.retries = attempt.saturating_sub(1);
    case.flaky = status == Status::Passed && case.retries > 0;
    case.duration = json::seconds_of(v, "exec_time", 1.0);
    let stdout = json::str_of(v, "stdout").unwrap_or("");
    match status {
        Status::Failed => {
            let cleaned = super::text::clean_control(stdout);
            let (message, loc) = panic_message(&cleaned);
            let reason = json::str_of(v, "reason").or_else(|| json::str_of(v, "message"));
            let message = match (reason, message) {
                (Some(r), _) if r.contains("time limit") => Some(format!("timed out ({r})")),
                (_, Some(m)) => Some(m),
                (Some(r), None) => Some(r.to_string()),
                (None, None) => cleaned
                    .lines()
                    .map(str::trim)
                    .find(|l| !l.is_empty())
                    .map(str::to_string),
            };
            if let Some((f, l)) = loc {
                case.file = Some(f);
                case.line = Some(l);
            }
            case.failure = Some(Failure {
                kind: None,
                message: message.map(|m| json::clean(&m, max)),
                trace: json::clean_opt(Some(&cleaned), max),
            });
        }
        Status::Skipped => {
            case.skip_reason = json::clean_opt(json::str_of(v, "message"), max);
        }
        Status::Passed | Status::Errored => {}
    }
    case
}

/// From `thread 'x' panicked at src/lib.rs:16:9:\nmessage\n...`: the message (up to the
/// backtrace or a blank line) and the location.
fn panic_message(out: &str) -> (Option<String>, Option<(String, u32)>) {
    let mut lines = out.lines();
    while let Some(l) = lines.next() {
        let Some(i) = l.find("panicked at ") else {
            continue;
        };
        let at = l[i + "panicked at ".len()..].trim_end_matches(':');
        // Older rustc: `panicked at 'msg', src/lib.rs:16:9`.
        let (inline_msg, loc) = match at.rsplit_once("', ") {
            Some((m, loc)) => (Some(m.trim_start_matches('\'').to_string()), loc),
            None => (None, at),
        };
        let mut parts = loc.rsplitn(3, ':');
        let (_col, line, file) = (parts.next(), parts.next(), parts.next());
        let location = match (file, line.and_then(|l| l.parse::<u32>().ok())) {
            (Some(f), Some(l)) => Some((f.to_string(), l)),
            _ => None,
        };
        let msg = inline_msg.or_else(|| {
            let body: Vec<&str> = lines
                .by_ref()
                .take_while(|l| {
                    !l.trim().is_empty()
                        && !l.starts_with("stack backtrace:")
                        && !l.starts_with("note: ")
                })
                .collect();
            (!body.is_empty()).then(|| body.join("\n"))
        });
        return (msg, location);
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn libtest_and_nextest_events() {
        let doc = br#"{ "type": "suite", "event": "started", "test_count": 4 }
{ "type": "test", "event": "started", "name": "tests::a" }
{ "type": "test", "name": "tests::a", "event": "ok", "exec_time": 0.5 }
{ "type": "test", "name": "tests::b", "event": "failed", "exec_time": 0.1, "stdout": "\nthread 'tests::b' (1) panicked at src/lib.rs:16:9:\nassertion `left == right` failed\n  left: 4\n right: 5\nstack backtrace:\n   0: x\n" }
{ "type": "test", "name": "tests::c", "event": "ignored", "message": "needs network" }
{ "type": "test", "name": "tests::slow", "event": "timeout" }
{"type":"test","event":"ok","name":"corpus::special$flaky#2","exec_time":0.02}
{"type":"test","event":"failed","name":"corpus::special$slow","exec_time":2.0,"reason":"time limit exceeded"}
{ "type": "suite", "event": "failed", "passed": 1, "failed": 1, "ignored": 1 }
"#;
        let (c, r) = parse_bytes(doc, "r.jsonl", Some(Format::LibtestJson));
        r.unwrap();
        let n = c.counts;
        assert_eq!(
            (n.tests, n.passed, n.failed, n.skipped, n.flaky),
            (5, 2, 2, 1, 1)
        );
        let all = c.all.as_ref().unwrap();
        let b = &all[1];
        assert_eq!((b.file.as_deref(), b.line), (Some("src/lib.rs"), Some(16)));
        assert_eq!(
            b.failure.as_ref().unwrap().message.as_deref(),
            Some("assertion `left == right` failed\n  left: 4\n right: 5")
        );
        assert_eq!(all[2].skip_reason.as_deref(), Some("needs network"));
        assert_eq!(
            (
                all[3].name.as_str(),
                all[3].classname.as_deref(),
                all[3].retries
            ),
            ("flaky", Some("corpus::special"), 1)
        );
        assert!(
            all[4]
                .failure
                .as_ref()
                .unwrap()
                .message
                .as_deref()
                .unwrap()
                .starts_with("timed out")
        );
    }
}
