//! `cargo-json`: rustc and clippy diagnostics as findings, from
//! `cargo build|check|clippy|test --message-format=json` (one JSON object a line, `reason`
//! `compiler-message`) and from `rustc --error-format=json` (bare diagnostics with
//! `"$message_type": "diagnostic"`).
//!
//! What counts:
//! - One finding per top-level diagnostic, at its primary span. When the primary span lies in
//!   a macro definition outside the project (`<...>`, `/rustc/...`, the cargo registry), the
//!   macro's call site is used instead, as the place the user can change.
//! - Message: rustc's `message`, followed by `: <label of the primary span>` when there is one,
//!   exactly as `--error-format=short` prints it ("mismatched types: expected `u32`, found
//!   `&str`"). Child notes and help are part of rustc's rendering, not separate findings.
//! - Rule: the diagnostic code (`E0308`, `unused_variables`, `clippy::needless_range_loop`);
//!   tool is `clippy` for `clippy::` codes, `rustc` otherwise.
//! - Severity: `error` and `error: internal compiler error` → error, `warning` → warning,
//!   `note`/`help` → note. Summaries are dropped: `failure-note` lines ("For more information
//!   about this error...") and span-less "aborting due to..." / "N warnings emitted".
//! - The same diagnostic reported for several targets of one package (`lib` and `lib test`
//!   under `--all-targets`) is counted once, as a reader of the code sees it once.
//! - `build-finished` with `success: false` and no error diagnostic becomes a build
//!   [`SuiteError`]: the cause (build script, linker, registry) is only in the log.
//!
//! Lenient: lines that are not JSON (cargo's own `Compiling ...` / `error: could not compile`
//! when stderr is merged into the file, a test binary's output) are skipped; other `reason`s
//! (`compiler-artifact`, `build-script-executed`, ...) are ignored. A file with text but no
//! cargo/rustc JSON line at all is a parse error.

use std::collections::HashSet;
use std::io::BufRead;

use serde_json::Value;

use super::lint_util::{
    at_line, clean_message, clean_short, end_after, finding, for_each_line, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Severity, SuiteError};

type DedupKey = (
    Option<String>,
    Option<u32>,
    Option<u32>,
    Option<String>,
    Severity,
    String,
);

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let mut seen: HashSet<DedupKey> = HashSet::new();
    let mut json_lines = 0u64;
    let mut first_text: Option<u64> = None;
    let mut errors = 0u64;
    let mut build_failed = false;
    let mut bad_json = 0u64;

    for_each_line(reader, |n, line| {
        let t = line.trim();
        if t.is_empty() {
            return Ok(());
        }
        if !t.starts_with('{') {
            first_text.get_or_insert(n);
            return Ok(());
        }
        // cargo writes `reason` first: artifacts and build-script lines (most of a big log)
        // are counted without being parsed.
        if let Some(reason) = t
            .strip_prefix("{\"reason\":\"")
            .and_then(|r| r.split('"').next())
            && reason != "compiler-message"
            && reason != "build-finished"
        {
            json_lines += 1;
            return Ok(());
        }
        let v: Value = match serde_json::from_str(t) {
            Ok(v) => v,
            Err(e) => {
                bad_json += 1;
                if bad_json <= 5 {
                    sink.warning(
                        Some(at_line(n)),
                        format!("skipped a line that is not valid JSON: {e}"),
                    );
                }
                return Ok(());
            }
        };
        let diag = match v.get("reason").and_then(Value::as_str) {
            Some("compiler-message") => {
                json_lines += 1;
                match v.get("message") {
                    Some(m) => m,
                    None => return Ok(()),
                }
            }
            Some("build-finished") => {
                json_lines += 1;
                if v.get("success") == Some(&Value::Bool(false)) {
                    build_failed = true;
                }
                return Ok(());
            }
            Some(_) => {
                json_lines += 1;
                return Ok(());
            }
            None if v.get("$message_type").and_then(Value::as_str) == Some("diagnostic")
                || (v.get("level").is_some() && v.get("spans").is_some()) =>
            {
                json_lines += 1;
                &v
            }
            // JSON from something else in a merged log (libtest, a test's own output).
            None => return Ok(()),
        };
        let Some(f) = diagnostic(diag, opts) else {
            return Ok(());
        };
        let key = (
            f.file.clone(),
            f.line,
            f.column,
            f.rule.clone(),
            f.severity,
            f.message.clone(),
        );
        if seen.insert(key) {
            if f.severity == Severity::Error {
                errors += 1;
            }
            sink.finding(f);
        }
        Ok(())
    })?;

    if json_lines == 0
        && let Some(n) = first_text
    {
        return Err(ParseError::at(
            at_line(n),
            "no cargo or rustc JSON message in the file: expected lines like \
                 {\"reason\":\"compiler-message\",...} from `cargo build --message-format=json` \
                 or {\"$message_type\":\"diagnostic\",...} from `rustc --error-format=json`",
        ));
    }
    if build_failed && errors == 0 {
        sink.suite_error(SuiteError {
            suite: "cargo".to_string(),
            message: "cargo reported a failed build (build-finished: success=false) without a \
                      compiler error; the cause (build script, linker, dependency resolution) \
                      is in the runner's log"
                .to_string(),
            kind: "build".to_string(),
            ..Default::default()
        });
    }
    Ok(())
}

/// Where a span points into code the user does not own: macro definitions of the standard
/// library or of dependencies.
fn is_external(file: &str) -> bool {
    file.starts_with('<')
        || file.starts_with("/rustc/")
        || file.contains("/.cargo/registry/")
        || file.contains("/.cargo/git/")
        || file.contains("/.rustup/toolchains/")
}

fn severity(level: &str) -> Option<Severity> {
    match level {
        "error" | "error: internal compiler error" => Some(Severity::Error),
        "warning" => Some(Severity::Warning),
        "note" | "help" => Some(Severity::Note),
        // "failure-note": rustc's closing remarks ("For more information about this error").
        "failure-note" => None,
        _ => Some(Severity::Warning),
    }
}

/// A summary line rustc prints after the real diagnostics.
fn is_summary(message: &str) -> bool {
    let m = message.trim();
    if m.starts_with("aborting due to") {
        return true;
    }
    // "3 warnings emitted", "1 error emitted", "2 errors; 1 warning emitted"
    m.ends_with(" emitted") && m.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn diagnostic(d: &Value, opts: &ParseOptions) -> Option<Finding> {
    let level = d.get("level").and_then(Value::as_str).unwrap_or("error");
    let sev = severity(level)?;
    let message = d.get("message").and_then(Value::as_str).unwrap_or("");
    let spans: &[Value] = d
        .get("spans")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if spans.is_empty() && is_summary(message) {
        return None;
    }
    let code = d
        .get("code")
        .and_then(|c| c.get("code"))
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty());
    let tool = if code.is_some_and(|c| c.starts_with("clippy::")) {
        "clippy"
    } else {
        "rustc"
    };

    let mut span = spans
        .iter()
        .find(|s| s.get("is_primary") == Some(&Value::Bool(true)))
        .or_else(|| spans.first());
    let label = span
        .and_then(|s| s.get("label"))
        .and_then(Value::as_str)
        .filter(|l| !l.trim().is_empty());
    // Follow macro expansions out of code the user does not own (bounded: expansions nest).
    for _ in 0..32 {
        let Some(s) = span else { break };
        let file = s.get("file_name").and_then(Value::as_str).unwrap_or("");
        if !is_external(file) {
            break;
        }
        match s.get("expansion").and_then(|e| e.get("span")) {
            Some(next) if next.is_object() => span = Some(next),
            _ => break,
        }
    }

    let text = match label {
        Some(l) if !message.contains(l.trim()) => format!("{message}: {l}"),
        _ => message.to_string(),
    };
    let mut f = finding(tool, sev, clean_message(&text, opts));
    f.rule = code.map(clean_short);
    if let Some(s) = span {
        f.file = str_of(s, "file_name").map(clean_short);
        f.line = u32_of(s, "line_start");
        f.column = u32_of(s, "column_start");
        f.end_line = end_after(f.line, u32_of(s, "line_end"));
        f.end_column = u32_of(s, "column_end");
    }
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parsers::{Format, parse_bytes};

    #[test]
    fn summaries_are_recognized() {
        assert!(is_summary("aborting due to 2 previous errors"));
        assert!(is_summary("3 warnings emitted"));
        assert!(is_summary("1 error; 2 warnings emitted"));
        assert!(!is_summary("linking with `cc` failed: exit status: 1"));
    }

    #[test]
    fn spanless_real_errors_are_kept_and_summaries_dropped() {
        let input = concat!(
            r#"{"$message_type":"diagnostic","message":"linking with `cc` failed: exit status: 1","code":null,"level":"error","spans":[],"children":[],"rendered":"x"}"#,
            "\n",
            r#"{"$message_type":"diagnostic","message":"aborting due to 1 previous error","code":null,"level":"error","spans":[],"children":[],"rendered":"x"}"#,
            "\n"
        );
        let (c, r) = parse_bytes(input.as_bytes(), "b.json", Some(Format::CargoJson));
        r.unwrap();
        assert_eq!(c.findings.len(), 1);
        assert_eq!(
            c.findings[0].message,
            "linking with `cc` failed: exit status: 1"
        );
        assert_eq!(c.findings[0].file, None);
    }

    #[test]
    fn macro_spans_in_std_move_to_the_call_site() {
        let input = r#"{"reason":"compiler-message","message":{"message":"m","code":null,"level":"warning","spans":[{"file_name":"/rustc/abc/library/core/src/macros/mod.rs","line_start":5,"line_end":5,"column_start":1,"column_end":2,"is_primary":true,"label":null,"expansion":{"span":{"file_name":"src/lib.rs","line_start":9,"line_end":9,"column_start":3,"column_end":12,"is_primary":false,"expansion":null},"macro_decl_name":"assert!"}}],"children":[],"rendered":"r"}}"#;
        let (c, r) = parse_bytes(input.as_bytes(), "b.json", Some(Format::CargoJson));
        r.unwrap();
        let f = &c.findings[0];
        assert_eq!(
            (f.file.as_deref(), f.line, f.column),
            (Some("src/lib.rs"), Some(9), Some(3))
        );
        assert_eq!(f.severity, Severity::Warning);
    }

    #[test]
    fn build_failure_without_diagnostics_is_a_suite_error() {
        let input = "   Compiling x v0.1.0\nerror: failed to run custom build command for `x`\n{\"reason\":\"build-finished\",\"success\":false}\n";
        let (c, r) = parse_bytes(input.as_bytes(), "b.json", None);
        assert_eq!(r.unwrap().format, Format::CargoJson);
        assert!(c.findings.is_empty());
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].kind, "build");
    }

    #[test]
    fn text_without_json_is_an_error_with_its_line() {
        let (_, r) = parse_bytes(
            b"\n   Compiling x\nerror: nope\n",
            "b.json",
            Some(Format::CargoJson),
        );
        let e = r.unwrap_err();
        assert_eq!(e.position.map(|p| p.line), Some(2));
        assert!(e.message.contains("message-format=json"), "{}", e.message);
    }

    #[test]
    fn broken_json_lines_are_warned_and_skipped() {
        let input = "{\"reason\":\"compiler-message\",\"mess\n{\"reason\":\"build-finished\",\"success\":true}\n";
        let (c, r) = parse_bytes(input.as_bytes(), "b.json", Some(Format::CargoJson));
        r.unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert_eq!(c.warnings[0].0.map(|p| p.line), Some(1));
    }
}
