//! Renderings of a diagnosis for CI systems (pure): GitHub workflow-command annotations
//! (escaped per GitHub's rules, within its caps), SARIF 2.1.0 for code scanning, and GitLab
//! Code Quality JSON.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
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
/// others are counted in the run's properties). Typed and borrowed from the diagnosis (a
/// `serde_json::Value` of 2,000 results was a map allocation per key); fields are declared
/// in the order of their names, the order a JSON map writes them in.
pub fn sarif<'a>(doc: &'a DiagnoseDoc, tool_version: &'a str) -> Sarif<'a> {
    let mut rules: Vec<SarifRule<'a>> = Vec::new();
    let mut rule_index: HashMap<String, usize> = HashMap::new();
    let mut results = Vec::new();
    let mut unlocated = 0u64;
    for p in &doc.problems {
        let Some(loc) = &p.location else {
            unlocated += 1;
            continue;
        };
        let rid = rule_id(p);
        let idx = match rule_index.get(&rid) {
            Some(i) => *i,
            None => {
                rules.push(SarifRule {
                    default_configuration: Level {
                        level: sarif_level(p.severity),
                    },
                    name: rid.replace(['/', '-'], "_"),
                    id: rid.clone(),
                    properties: RuleProperties {
                        category: p.category.as_str(),
                    },
                    short_description: Text {
                        text: category_text(p.category).into(),
                    },
                });
                rule_index.insert(rid.clone(), rules.len() - 1);
                rules.len() - 1
            }
        };
        let region = loc.line.map(|l| Region {
            start_column: loc.column,
            start_line: l,
        });
        let mut text = p.title.clone();
        if !p.evidence.is_empty() {
            text.push_str("\n\n");
            text.push_str(&crate::parsers::text::bound_text(&p.evidence, 4000));
        }
        if let Some(r) = &p.reproduce {
            text.push_str("\n\nReproduce: ");
            text.push_str(r);
        }
        results.push(SarifResult {
            level: sarif_level(p.severity),
            locations: [SarifLocation {
                physical_location: Physical {
                    artifact_location: Artifact {
                        uri: uri_path(&loc.file),
                        uri_base_id: "%SRCROOT%",
                    },
                    region,
                },
            }],
            message: Text { text },
            partial_fingerprints: Fingerprints {
                codeloop_problem_v1: fingerprint(p),
            },
            properties: ResultProperties {
                category: p.category.as_str(),
                runner: &p.runner,
                test: p.test.as_deref(),
            },
            rule_id: rid,
            rule_index: idx,
        });
    }
    Sarif {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        runs: [SarifRun {
            automation_details: Id {
                id: format!("codeloop/{}", doc.run_id),
            },
            original_uri_base_ids: BaseIds {
                src_root: Description {
                    description: Text {
                        text: "The repository root.".into(),
                    },
                },
            },
            properties: RunProperties {
                truncated_problems: doc.truncated,
                unlocated_problems: unlocated,
            },
            results,
            tool: Tool {
                driver: Driver {
                    information_uri: "https://github.com/codeloop/codeloop-verify",
                    name: "codeloop",
                    rules,
                    version: tool_version,
                },
            },
        }],
        version: "2.1.0",
    }
}

/// A SARIF 2.1.0 log ([`sarif`]).
#[derive(Serialize)]
pub struct Sarif<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    runs: [SarifRun<'a>; 1],
    version: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRun<'a> {
    automation_details: Id,
    original_uri_base_ids: BaseIds,
    properties: RunProperties,
    results: Vec<SarifResult<'a>>,
    tool: Tool<'a>,
}

#[derive(Serialize)]
struct Id {
    id: String,
}

#[derive(Serialize)]
struct BaseIds {
    #[serde(rename = "%SRCROOT%")]
    src_root: Description,
}

#[derive(Serialize)]
struct Description {
    description: Text,
}

#[derive(Serialize)]
struct Text {
    text: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RunProperties {
    truncated_problems: u64,
    unlocated_problems: u64,
}

#[derive(Serialize)]
struct Tool<'a> {
    driver: Driver<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver<'a> {
    information_uri: &'static str,
    name: &'static str,
    rules: Vec<SarifRule<'a>>,
    version: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifRule<'a> {
    default_configuration: Level,
    id: String,
    name: String,
    properties: RuleProperties<'a>,
    short_description: Text,
}

#[derive(Serialize)]
struct Level {
    level: &'static str,
}

#[derive(Serialize)]
struct RuleProperties<'a> {
    category: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    level: &'static str,
    locations: [SarifLocation; 1],
    message: Text,
    partial_fingerprints: Fingerprints,
    properties: ResultProperties<'a>,
    rule_id: String,
    rule_index: usize,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifLocation {
    physical_location: Physical,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Physical {
    artifact_location: Artifact,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<Region>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Artifact {
    uri: String,
    uri_base_id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    #[serde(skip_serializing_if = "Option::is_none")]
    start_column: Option<u32>,
    start_line: u32,
}

#[derive(Serialize)]
struct Fingerprints {
    #[serde(rename = "codeloopProblem/v1")]
    codeloop_problem_v1: String,
}

#[derive(Serialize)]
struct ResultProperties<'a> {
    category: &'a str,
    runner: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    test: Option<&'a str>,
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
pub fn gitlab_code_quality(doc: &DiagnoseDoc) -> Vec<CodeQualityIssue<'_>> {
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
        out.push(CodeQualityIssue {
            check_name: rule_id(p),
            description: one_line(&p.title, 500),
            fingerprint: fp,
            location: CodeQualityLocation {
                lines: Begin {
                    begin: loc.line.unwrap_or(1),
                },
                path: &loc.file,
            },
            severity,
        });
    }
    out
}

/// One GitLab Code Quality issue (fields in the order of their names, as a JSON map
/// writes them).
#[derive(Serialize)]
pub struct CodeQualityIssue<'a> {
    check_name: String,
    description: String,
    fingerprint: String,
    location: CodeQualityLocation<'a>,
    severity: &'static str,
}

#[derive(Serialize)]
struct CodeQualityLocation<'a> {
    lines: Begin,
    path: &'a str,
}

#[derive(Serialize)]
struct Begin {
    begin: u32,
}
