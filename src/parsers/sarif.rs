//! `sarif`: SARIF 2.1.0 logs from any analyzer (CodeQL, ruff, ESLint's SARIF formatter,
//! clippy-sarif, Semgrep, ...) as findings.
//!
//! - One finding per `runs[].results[]`, tool = `runs[].tool.driver.name`.
//! - Rule: `ruleId`, else `rule.id`, else the id of `tool.driver.rules[ruleIndex]`.
//! - Severity: `level` (`error` → error, `warning` → warning, `note`/`none` → note); without
//!   one, the rule's `defaultConfiguration.level`, else `warning` — SARIF's own defaulting
//!   (§3.27.10). Results whose `kind` is `pass` or `notApplicable`, results with an accepted
//!   (or status-less) suppression, and results whose `baselineState` is `absent` are not
//!   findings: they are not open problems.
//! - Message: `message.text` (else `markdown`, else the rule's `messageStrings[id]`), with
//!   `{0}`-style placeholders filled from `message.arguments`.
//! - Location: the first `locations[].physicalLocation`: `artifactLocation.uri` (or the
//!   run's `artifacts[index]`), `file://` URIs turned into paths and `%xx` decoded, relative
//!   URIs kept as written (against their `uriBaseId`); `region.startLine`/`startColumn`/
//!   `endLine`/`endColumn`.
//! - Tool notifications (`invocations[].toolExecutionNotifications` and
//!   `toolConfigurationNotifications`) with level `error` are findings when they point at a
//!   file (ESLint's SARIF formatter reports parse errors that way), suite errors otherwise.
//!
//! Streaming: results are read one at a time into a compact form; because `tool` may come
//! after `results` in a run (ruff writes keys alphabetically), a run's findings are emitted
//! when the run ends, so memory holds one run's findings — which the sink keeps anyway.

use std::fmt;
use std::io::BufRead;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::lint_util::{
    EachElement, clean_message, clean_short, end_after, finding, finish_json, json_error,
    json_reader, shift_lines, start_of_json, str_of, u32_of,
};
use super::{ParseError, ParseOptions, Sink};
use crate::model::{Finding, Severity, SuiteError};

const WHAT: &str = "SARIF log";
/// What is read of each result: not its code flows, fixes, graphs, fingerprints or
/// properties, which are most of a big log.
const RESULT_KEYS: &[&str] = &[
    "ruleId",
    "ruleIndex",
    "rule",
    "level",
    "kind",
    "message",
    "locations",
    "suppressions",
    "baselineState",
];

pub fn parse(
    reader: &mut dyn BufRead,
    opts: &ParseOptions,
    sink: &mut dyn Sink,
) -> Result<(), ParseError> {
    let (first, lines_before) = start_of_json(reader, sink)?;
    match first {
        None => return Ok(()),
        Some(b'{') => {}
        Some(_) => {
            return Err(ParseError::new(
                "not a SARIF log: it does not start with `{`",
            ));
        }
    }
    let mut de = json_reader(reader);
    let found = Log {
        opts,
        sink: &mut *sink,
    }
    .deserialize(&mut de)
    .map_err(|e| shift_lines(json_error(e, WHAT), lines_before))?;
    if !found {
        return Err(ParseError::new(
            "not a SARIF log: the object has no `runs` array",
        ));
    }
    finish_json(&mut de, sink, WHAT, lines_before);
    Ok(())
}

/// The top-level object; its value says whether `runs` was there.
struct Log<'a> {
    opts: &'a ParseOptions,
    sink: &'a mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for Log<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Log<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SARIF log object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut found = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "runs" && !found {
                found = true;
                map.next_value_seed(Runs {
                    opts: self.opts,
                    sink: &mut *self.sink,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

struct Runs<'a> {
    opts: &'a ParseOptions,
    sink: &'a mut dyn Sink,
}

impl<'de> DeserializeSeed<'de> for Runs<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Runs<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of runs")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(run) = seq.next_element_seed(RunSeed { opts: self.opts })? {
            run.emit(self.opts, &mut *self.sink);
        }
        Ok(())
    }
}

/// A result, reduced to what a finding needs, until the run's tool and rules are known.
#[derive(Debug, Default)]
struct Pending {
    rule_id: Option<String>,
    rule_index: Option<usize>,
    level: Option<String>,
    kind: Option<String>,
    text: Option<String>,
    message_id: Option<String>,
    arguments: Vec<String>,
    uri: Option<String>,
    artifact_index: Option<usize>,
    line: Option<u32>,
    column: Option<u32>,
    end_line: Option<u32>,
    end_column: Option<u32>,
    /// A tool notification rather than a result.
    notification: bool,
}

#[derive(Debug, Default)]
struct Run {
    tool: Option<Value>,
    artifacts: Vec<Option<String>>,
    pending: Vec<Pending>,
}

struct RunSeed<'a> {
    opts: &'a ParseOptions,
}

impl<'de> DeserializeSeed<'de> for RunSeed<'_> {
    type Value = Run;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Run, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RunSeed<'_> {
    type Value = Run;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a SARIF run object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Run, A::Error> {
        let mut run = Run::default();
        let opts = self.opts;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "tool" => run.tool = Some(map.next_value::<Value>()?),
                "results" => {
                    let pending = &mut run.pending;
                    let mut each = |v: Value| {
                        if let Some(p) = pending_result(&v, opts) {
                            pending.push(p);
                        }
                        Ok(())
                    };
                    map.next_value_seed(EachElement::picking(&mut each, RESULT_KEYS))?;
                }
                "artifacts" => {
                    let artifacts = &mut run.artifacts;
                    let mut each = |v: Value| {
                        artifacts.push(
                            v.get("location")
                                .and_then(|l| str_of(l, "uri"))
                                .map(str::to_string),
                        );
                        Ok(())
                    };
                    map.next_value_seed(EachElement::new(&mut each))?;
                }
                "invocations" => {
                    let pending = &mut run.pending;
                    let mut each = |v: Value| {
                        for key in [
                            "toolExecutionNotifications",
                            "toolConfigurationNotifications",
                        ] {
                            for n in v.get(key).and_then(Value::as_array).into_iter().flatten() {
                                if n.get("level").and_then(Value::as_str) == Some("error")
                                    && let Some(mut p) = pending_result(n, opts)
                                {
                                    p.notification = true;
                                    p.rule_id = p.rule_id.or_else(|| {
                                        n.get("descriptor")
                                            .and_then(|d| str_of(d, "id"))
                                            .map(str::to_string)
                                    });
                                    pending.push(p);
                                }
                            }
                        }
                        Ok(())
                    };
                    map.next_value_seed(EachElement::new(&mut each))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(run)
    }
}

fn usize_of(v: &Value, key: &str) -> Option<usize> {
    v.get(key)?.as_u64().and_then(|n| usize::try_from(n).ok())
}

/// Reads one result (or notification); `None` when it is not an open problem.
fn pending_result(v: &Value, _opts: &ParseOptions) -> Option<Pending> {
    let kind = str_of(v, "kind").map(str::to_string);
    if matches!(kind.as_deref(), Some("pass") | Some("notApplicable")) {
        return None;
    }
    if str_of(v, "baselineState") == Some("absent") {
        return None;
    }
    if let Some(sups) = v.get("suppressions").and_then(Value::as_array) {
        let suppressed = sups.iter().any(|s| {
            matches!(
                s.get("status").and_then(Value::as_str),
                None | Some("accepted")
            )
        });
        if suppressed {
            return None;
        }
    }
    let mut p = Pending {
        rule_id: str_of(v, "ruleId")
            .or_else(|| v.get("rule").and_then(|r| str_of(r, "id")))
            .map(str::to_string),
        rule_index: usize_of(v, "ruleIndex")
            .or_else(|| v.get("rule").and_then(|r| usize_of(r, "index"))),
        level: str_of(v, "level").map(str::to_string),
        kind,
        ..Default::default()
    };
    if let Some(m) = v.get("message") {
        p.text = str_of(m, "text")
            .or_else(|| str_of(m, "markdown"))
            .map(str::to_string);
        p.message_id = str_of(m, "id").map(str::to_string);
        p.arguments = m
            .get("arguments")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
    }
    let physical = v
        .get("locations")
        .and_then(Value::as_array)
        .and_then(|l| l.iter().find_map(|l| l.get("physicalLocation")));
    if let Some(pl) = physical {
        if let Some(al) = pl.get("artifactLocation") {
            p.uri = str_of(al, "uri").map(str::to_string);
            p.artifact_index = usize_of(al, "index");
        }
        if let Some(r) = pl.get("region") {
            p.line = u32_of(r, "startLine");
            p.column = u32_of(r, "startColumn");
            p.end_line = end_after(p.line, u32_of(r, "endLine"));
            p.end_column = u32_of(r, "endColumn");
        }
    }
    Some(p)
}

impl Run {
    fn emit(self, opts: &ParseOptions, sink: &mut dyn Sink) {
        let driver = self.tool.as_ref().and_then(|t| t.get("driver"));
        let tool = driver
            .and_then(|d| str_of(d, "name"))
            .map(clean_short)
            .unwrap_or_else(|| "sarif".to_string());
        let rules: &[Value] = driver
            .and_then(|d| d.get("rules"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for p in self.pending {
            let rule = p.rule_index.and_then(|i| rules.get(i)).or_else(|| {
                let id = p.rule_id.as_deref()?;
                rules.iter().find(|r| str_of(r, "id") == Some(id))
            });
            let rule_id = p
                .rule_id
                .clone()
                .or_else(|| rule.and_then(|r| str_of(r, "id")).map(str::to_string));
            let level = p.level.clone().or_else(|| {
                rule.and_then(|r| r.get("defaultConfiguration"))
                    .and_then(|c| str_of(c, "level"))
                    .map(str::to_string)
            });
            let level = match (level.as_deref(), p.kind.as_deref()) {
                (Some(l), _) => l.to_string(),
                // §3.27.10: a non-`fail` kind without a level means `none`.
                (None, Some(k)) if k != "fail" => "none".to_string(),
                (None, _) => "warning".to_string(),
            };
            let severity = match level.as_str() {
                "error" => Severity::Error,
                "warning" => Severity::Warning,
                _ => Severity::Note,
            };
            let template = p.text.clone().or_else(|| {
                let id = p.message_id.as_deref()?;
                rule.and_then(|r| r.get("messageStrings"))
                    .and_then(|m| m.get(id))
                    .and_then(|m| str_of(m, "text"))
                    .map(str::to_string)
            });
            let text = template
                .map(|t| fill_placeholders(&t, &p.arguments))
                .unwrap_or_else(|| "(no message)".to_string());
            let uri = p.uri.clone().or_else(|| {
                p.artifact_index
                    .and_then(|i| self.artifacts.get(i).cloned().flatten())
            });
            let file = uri.as_deref().map(uri_to_path).map(|s| clean_short(&s));
            if p.notification && file.is_none() {
                sink.suite_error(SuiteError {
                    suite: tool.clone(),
                    message: clean_message(&text, opts),
                    kind: "tool".into(),
                    ..Default::default()
                });
                continue;
            }
            let mut f: Finding = finding(&tool, severity, clean_message(&text, opts));
            f.rule = rule_id.as_deref().map(clean_short);
            f.file = file;
            f.line = p.line;
            f.column = p.column;
            f.end_line = p.end_line;
            f.end_column = p.end_column;
            sink.finding(f);
        }
    }
}

/// `{0}`, `{1}`, ... replaced by the arguments; `{{`/`}}` are literal braces (§3.11.5).
fn fill_placeholders(t: &str, args: &[String]) -> String {
    if args.is_empty() && !t.contains("{{") && !t.contains("}}") {
        return t.to_string();
    }
    let mut out = String::with_capacity(t.len());
    let mut chars = t.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let rest = &t[i + 1..];
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let close = rest[digits.len()..].starts_with('}');
                match digits
                    .parse::<usize>()
                    .ok()
                    .filter(|_| close)
                    .and_then(|n| args.get(n))
                {
                    Some(a) => {
                        out.push_str(a);
                        for _ in 0..digits.len() + 1 {
                            chars.next();
                        }
                    }
                    None => out.push('{'),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// `file:///home/u/x%20y.rs` → `/home/u/x y.rs`; `file:///C:/x` → `C:/x`; relative URIs are
/// percent-decoded and otherwise kept.
fn uri_to_path(uri: &str) -> String {
    let rest = match uri.strip_prefix("file://") {
        Some(r) => {
            // Drop an authority (`file://localhost/...`), keep the leading slash.
            let r = match r.find('/') {
                Some(0) => r,
                Some(i) => &r[i..],
                None => r,
            };
            // `/C:/x` → `C:/x`
            let b = r.as_bytes();
            if b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' {
                &r[1..]
            } else {
                r
            }
        }
        None => uri,
    };
    percent_decode(rest)
}

fn percent_decode(s: &str) -> String {
    if !s.contains('%') {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_become_paths() {
        assert_eq!(uri_to_path("file:///tmp/a%20b.py"), "/tmp/a b.py");
        assert_eq!(uri_to_path("file:///C:/src/a.cs"), "C:/src/a.cs");
        assert_eq!(uri_to_path("file://localhost/x/y.go"), "/x/y.go");
        assert_eq!(uri_to_path("src/main.rs"), "src/main.rs");
        assert_eq!(uri_to_path("a%2"), "a%2");
        assert_eq!(uri_to_path("a%"), "a%");
    }

    use crate::parsers::{Format, parse_bytes};

    const LOG: &str = r#"{
      "version": "2.1.0",
      "runs": [{
        "results": [
          {"ruleIndex": 0, "message": {"id": "m", "arguments": ["x", "3"]},
           "locations": [{"physicalLocation": {"artifactLocation": {"index": 1},
             "region": {"startLine": 7, "startColumn": 2}}}]},
          {"ruleId": "R2", "level": "note", "message": {"text": "kept"},
           "locations": [{"physicalLocation": {"artifactLocation": {"uri": "src/a%20b.c", "uriBaseId": "SRCROOT"},
             "region": {"startLine": 1, "endLine": 3}}}]},
          {"ruleId": "R2", "kind": "pass", "message": {"text": "passed check"}},
          {"ruleId": "R2", "level": "error", "message": {"text": "suppressed"},
           "suppressions": [{"kind": "inSource"}]},
          {"ruleId": "R2", "level": "error", "message": {"text": "rejected suppression"},
           "suppressions": [{"kind": "external", "status": "rejected"}]},
          {"ruleId": "R2", "level": "error", "message": {"text": "fixed"}, "baselineState": "absent"},
          {"ruleId": "R3", "kind": "review", "message": {"text": "look at this"}}
        ],
        "artifacts": [{"location": {"uri": "file:///w/zero.c"}}, {"location": {"uri": "file:///w/one.c"}}],
        "invocations": [{"executionSuccessful": false,
          "toolExecutionNotifications": [
            {"level": "error", "message": {"text": "analyzer crashed"}},
            {"level": "warning", "message": {"text": "slow"}}]}],
        "tool": {"driver": {"name": "Analyzer", "rules": [
          {"id": "R1", "defaultConfiguration": {"level": "error"},
           "messageStrings": {"m": {"text": "'{0}' used {1} times"}}}]}}
      }]
    }"#;

    #[test]
    fn results_are_resolved_against_rules_artifacts_and_suppressions() {
        let (c, r) = parse_bytes(LOG.as_bytes(), "x.sarif", None);
        assert_eq!(r.unwrap().format, Format::Sarif);
        let got: Vec<_> = c
            .findings
            .iter()
            .map(|f| {
                (
                    f.tool.as_str(),
                    f.rule.as_deref(),
                    f.severity,
                    f.message.as_str(),
                    f.file.as_deref(),
                    f.line,
                    f.column,
                    f.end_line,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "Analyzer",
                    Some("R1"),
                    Severity::Error,
                    "'x' used 3 times",
                    Some("/w/one.c"),
                    Some(7),
                    Some(2),
                    None
                ),
                (
                    "Analyzer",
                    Some("R2"),
                    Severity::Note,
                    "kept",
                    Some("src/a b.c"),
                    Some(1),
                    None,
                    Some(3)
                ),
                (
                    "Analyzer",
                    Some("R2"),
                    Severity::Error,
                    "rejected suppression",
                    None,
                    None,
                    None,
                    None
                ),
                (
                    "Analyzer",
                    Some("R3"),
                    Severity::Note,
                    "look at this",
                    None,
                    None,
                    None,
                    None
                ),
            ]
        );
        assert_eq!(c.suite_errors.len(), 1);
        assert_eq!(c.suite_errors[0].message, "analyzer crashed");
        assert_eq!(c.suite_errors[0].suite, "Analyzer");
    }

    #[test]
    fn not_sarif_is_refused() {
        let (_, r) = parse_bytes(br#"{"version":"2.1.0"}"#, "x.sarif", Some(Format::Sarif));
        assert!(r.unwrap_err().message.contains("no `runs`"));
        let (_, r) = parse_bytes(br#"{"runs":{"a":1}}"#, "x.sarif", Some(Format::Sarif));
        let e = r.unwrap_err();
        assert!(e.position.is_some(), "{e:?}");
    }

    #[test]
    fn placeholders() {
        let a = vec!["x".to_string(), "y".to_string()];
        assert_eq!(
            fill_placeholders("{0} is {1}; {{0}} {5}", &a),
            "x is y; {0} {5}"
        );
        assert_eq!(fill_placeholders("plain", &[]), "plain");
    }
}
