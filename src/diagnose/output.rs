//! Renderings of a diagnosis for CI systems (pure): GitHub workflow-command annotations
//! (escaped per GitHub's rules, within its caps), SARIF 2.1.0 for code scanning, and GitLab
//! Code Quality JSON.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::one_line;
use crate::model::{Category, DiagnoseDoc, Problem, RepairTask, Severity};

/// GitHub's annotation caps: per level per step, and per job.
#[derive(Clone, Copy, Debug)]
pub struct AnnotationLimits {
    pub per_level: usize,
    pub per_job: usize,
}

impl Default for AnnotationLimits {
    fn default() -> Self {
        AnnotationLimits {
            per_level: 10,
            per_job: 50,
        }
    }
}

/// Escapes the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a property value (`file=`, `title=`) of a workflow command.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The level of a task: the worst severity of its problems.
fn task_severity(t: &RepairTask, problems: &HashMap<&str, &Problem>) -> Severity {
    t.problems
        .iter()
        .filter_map(|id| problems.get(id.as_str()).map(|p| p.severity))
        .max()
        .unwrap_or(match t.category {
            Category::Flaky => Severity::Warning,
            _ => Severity::Error,
        })
}

fn level_name(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "notice",
    }
}

/// Workflow-command lines, one per repair task (most important first), within the caps; when
/// tasks are left out, a closing notice says how many (a notice slot is kept for it).
pub fn annotations(doc: &DiagnoseDoc, limits: AnnotationLimits) -> Vec<String> {
    let problems: HashMap<&str, &Problem> =
        doc.problems.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut used: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut chosen: Vec<(&'static str, &RepairTask)> = Vec::new();
    let mut left_out = 0usize;
    for t in &doc.tasks {
        let level = level_name(task_severity(t, &problems));
        let n = used.entry(level).or_default();
        if *n < limits.per_level && chosen.len() < limits.per_job {
            *n += 1;
            chosen.push((level, t));
        } else {
            left_out += 1;
        }
    }
    if left_out > 0 {
        // The closing notice needs a notice slot and a job slot: give up the least important
        // annotation that holds one.
        loop {
            let notices = used.get("notice").copied().unwrap_or(0);
            let drop_at = if notices >= limits.per_level {
                chosen.iter().rposition(|(l, _)| *l == "notice")
            } else if chosen.len() >= limits.per_job {
                chosen.len().checked_sub(1)
            } else {
                break;
            };
            let Some(i) = drop_at else { break };
            let (l, _) = chosen.remove(i);
            if let Some(n) = used.get_mut(l) {
                *n -= 1;
            }
            left_out += 1;
        }
    }
    let mut lines: Vec<String> = chosen
        .iter()
        .map(|(level, t)| annotation_line(level, t))
        .collect();
    if left_out > 0 && limits.per_level > 0 && limits.per_job > 0 {
        lines.push(format!(
            "::notice title=codeloop::{}",
            escape_data(&format!(
                "{left_out} more problem(s) not annotated (GitHub shows at most {} per level per step, {} per job): see diagnose.json or report/codeloop.sarif",
                limits.per_level, limits.per_job
            ))
        ));
    }
    lines
}

fn annotation_line(level: &str, t: &RepairTask) -> String {
    let mut props = Vec::new();
    if let Some(l) = &t.location {
        props.push(format!("file={}", escape_property(&l.file)));
        if let Some(line) = l.line {
            props.push(format!("line={line}"));
            if let Some(c) = l.column {
                props.push(format!("col={c}"));
            }
        }
    }
    props.push(format!(
        "title={}",
        escape_property(&one_line(
            &format!("{}: {}", t.category.as_str(), t.title),
            200
        ))
    ));
    let mut msg = String::new();
    let ev: String = t.evidence.lines().take(20).collect::<Vec<_>>().join("\n");
    msg.push_str(&crate::parsers::text::bound_text(&ev, 3000));
    if let Some(r) = &t.reproduce {
        msg.push_str("\nReproduce: ");
        msg.push_str(r);
    }
    if msg.trim().is_empty() {
        msg = t.title.clone();
    }
    format!("::{level} {}::{}", props.join(","), escape_data(msg.trim()))
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// Percent-encodes a repo-relative path for a SARIF `uri`.
fn uri_path(p: &str) -> String {
    let mut out = String::new();
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn rule_id(p: &Problem) -> String {
    if p.category == Category::Lint {
        // Title is `tool [rule]: message`.
        let head = p.title.split(": ").next().unwrap_or("lint");
        let head = head.replace(" [", "/").replace(']', "");
        format!("lint/{}", one_line(&head, 100).replace(' ', "_"))
    } else {
        p.category.as_str().to_string()
    }
}

fn fingerprint(p: &Problem) -> String {
    let mut h = Sha256::new();
    h.update(p.category.as_str());
    h.update([0]);
    h.update(p.test.as_deref().unwrap_or(""));
    h.update([0]);
    if let Some(l) = &p.location {
        h.update(&l.file);
        h.update([0]);
        h.update(l.line.unwrap_or(0).to_le_bytes());
    }
    h.update([0]);
    if p.test.is_none() {
        h.update(&p.title);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// SARIF 2.1.0 log: one result per located problem (code scanning needs a location; the
/// others are counted in the run's properties).
pub fn sarif(doc: &DiagnoseDoc, tool_version: &str) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut rule_index: HashMap<String, usize> = HashMap::new();
    let mut results = Vec::new();
    let mut unlocated = 0u64;
    for p in &doc.problems {
        let Some(loc) = &p.location else {
            unlocated += 1;
            continue;
        };
        let rid = rule_id(p);
        let idx = *rule_index.entry(rid.clone()).or_insert_with(|| {
            rules.push(json!({
                "id": rid,
                "name": rid.replace(['/', '-'], "_"),
                "shortDescription": {"text": category_text(p.category)},
                "defaultConfiguration": {"level": sarif_level(p.severity)},
                "properties": {"category": p.category.as_str()},
            }));
            rules.len() - 1
        });
        let mut region = serde_json::Map::new();
        if let Some(l) = loc.line {
            region.insert("startLine".into(), json!(l));
            if let Some(c) = loc.column {
                region.insert("startColumn".into(), json!(c));
            }
        }
        let mut physical = json!({
            "artifactLocation": {"uri": uri_path(&loc.file), "uriBaseId": "%SRCROOT%"},
        });
        if !region.is_empty() {
            physical["region"] = Value::Object(region);
        }
        let mut text = p.title.clone();
        if !p.evidence.is_empty() {
            text.push_str("\n\n");
            text.push_str(&crate::parsers::text::bound_text(&p.evidence, 4000));
        }
        if let Some(r) = &p.reproduce {
            text.push_str("\n\nReproduce: ");
            text.push_str(r);
        }
        let mut result = json!({
            "ruleId": rid,
            "ruleIndex": idx,
            "level": sarif_level(p.severity),
            "message": {"text": text},
            "locations": [{"physicalLocation": physical}],
            "partialFingerprints": {"codeloopProblem/v1": fingerprint(p)},
            "properties": {"category": p.category.as_str(), "runner": p.runner},
        });
        if let Some(t) = &p.test {
            result["properties"]["test"] = json!(t);
        }
        results.push(result);
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "codeloop",
                "version": tool_version,
                "informationUri": "https://github.com/codeloop/codeloop-verify",
                "rules": rules,
            }},
            "automationDetails": {"id": format!("codeloop/{}", doc.run_id)},
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The repository root."}}},
            "results": results,
            "properties": {"unlocatedProblems": unlocated, "truncatedProblems": doc.truncated},
        }],
    })
}

fn category_text(c: Category) -> &'static str {
    match c {
        Category::BuildError => "The build failed.",
        Category::Crash => "A test or runner crashed (signal, panic, segfault).",
        Category::Timeout => "A test or runner timed out.",
        Category::TestFailure => "A test assertion failed.",
        Category::TestError => "A test errored (unexpected exception, setup failure).",
        Category::Flaky => "A test passed only after retries.",
        Category::Lint => "A lint finding.",
        Category::NoResults => "A runner produced no results.",
        Category::Blocked => "A runner was not run because a build failed.",
        Category::Unavailable => "A runner's tool is not installed.",
        Category::ParseError => "A result file could not be read.",
    }
}

/// GitLab Code Quality report: located problems, fingerprints stable across runs and unique
/// within the report.
pub fn gitlab_code_quality(doc: &DiagnoseDoc) -> Value {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for p in &doc.problems {
        let Some(loc) = &p.location else { continue };
        let mut fp = fingerprint(p);
        let mut n = 1;
        while !seen.insert(fp.clone()) {
            n += 1;
            fp = format!("{}-{n}", fingerprint(p));
        }
        let severity = match (p.category, p.severity) {
            (Category::BuildError, _) => "blocker",
            (Category::Crash, _) => "critical",
            (_, Severity::Note) => "info",
            (Category::Flaky, _) | (_, Severity::Warning) => "minor",
            _ => "major",
        };
        out.push(json!({
            "description": one_line(&p.title, 500),
            "check_name": rule_id(p),
            "fingerprint": fp,
            "severity": severity,
            "location": {"path": loc.file, "lines": {"begin": loc.line.unwrap_or(1)}},
        }));
    }
    Value::Array(out)
}
