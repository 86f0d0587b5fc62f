//! Folding shard runs into one run (`codeloop merge`, DESIGN §5). Pure: the command reads the
//! run directories into [`Source`]s and writes the [`Merged`] result; this module decides.
//!
//! Rules: counts are recomputed from the merged cases, so a test seen by two shards counts
//! once, with its worst status (errored > failed > passed > skipped) and `flaky` when one shard
//! failed it and another passed it. Runners with the same id fold into one (worst status, the
//! longest duration, every result file, parse error and suite error kept). Sources that cannot
//! be trusted are named in warnings: no manifest (incomplete shard, used as far as it goes),
//! another schema version or a repeated run id (left out), different commits (kept, warned).
//! Missing shards (from the recorded totals) become `skipped` runners named
//! `shard-K-of-N`, which the gate's `require: ["shards"]` turns into a failure.

use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{
    Case, Counts, Finding, LintCounts, RunStatus, RunnerKind, RunnerResult, RunnerSource,
    RunnerStatus, SCHEMA_VERSION, Shard, SlowTest, Status, VerifyDoc,
};

/// Runner ids merge gives to shards that sent no run directory.
pub const MISSING_SHARD_PREFIX: &str = "shard-";

/// The file in the merged run that says what was merged.
pub const MERGE_FILE: &str = "merge.json";

/// One input run, as read from disk.
#[derive(Clone, Debug)]
pub struct Source {
    /// Where it came from (a path), for messages.
    pub label: String,
    pub verify: VerifyDoc,
    /// The manifest's schema version, shard and commit; `None` when manifest.json is missing.
    pub manifest: Option<ManifestInfo>,
    pub cases: Vec<Case>,
    pub findings: Vec<Finding>,
}

/// What merge needs from a manifest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManifestInfo {
    pub schema_version: u32,
    pub shard: Option<Shard>,
    pub sha: Option<String>,
}

/// One merged source, as recorded in merge.json.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MergedSource {
    pub dir: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// False when it had no manifest.json (an interrupted or partly uploaded shard).
    pub complete: bool,
    /// What the shard ran: its runner ids (for the comment's per-shard breakdown).
    #[serde(default)]
    pub runners: Vec<String>,
    /// The shard's own counts, before folding.
    #[serde(default)]
    pub counts: Counts,
    /// How long the shard's runners took (the longest one: they run in parallel), seconds.
    #[serde(default)]
    pub duration: f64,
}

/// merge.json
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MergeDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub sources: Vec<MergedSource>,
    /// Sources left out, with the reason.
    #[serde(default)]
    pub skipped: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_shards: Option<u32>,
    #[serde(default)]
    pub missing_shards: Vec<u32>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The merged run, ready to write.
#[derive(Clone, Debug)]
pub struct Merged {
    pub verify: VerifyDoc,
    pub cases: Vec<Case>,
    pub findings: Vec<Finding>,
    pub doc: MergeDoc,
    /// The commit every used source agreed on (or the first one named).
    pub sha: Option<String>,
}

/// Identity of the merged run.
pub struct Target {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub cwd: String,
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Skipped => 0,
        Status::Passed => 1,
        Status::Failed => 2,
        Status::Errored => 3,
    }
}

fn runner_rank(s: RunnerStatus) -> u8 {
    match s {
        RunnerStatus::Skipped => 0,
        RunnerStatus::Passed => 1,
        RunnerStatus::Blocked => 2,
        RunnerStatus::Unavailable => 3,
        RunnerStatus::Failed => 4,
        RunnerStatus::Timeout => 5,
        RunnerStatus::Crashed => 6,
        RunnerStatus::LimitExceeded => 7,
        RunnerStatus::Interrupted => 8,
    }
}

/// Folds `b` (the same test from another shard) into `a`.
fn fold_case(a: &mut Case, b: Case) {
    let a_bad = matches!(a.status, Status::Failed | Status::Errored);
    let b_bad = matches!(b.status, Status::Failed | Status::Errored);
    let passed_somewhere = a.status == Status::Passed || b.status == Status::Passed;
    if (a_bad || b_bad) && passed_somewhere {
        a.flaky = true;
    }
    a.flaky |= b.flaky;
    a.retries = a.retries.saturating_add(b.retries).saturating_add(1);
    a.duration = match (a.duration, b.duration) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    if status_rank(b.status) > status_rank(a.status) {
        let flaky = a.flaky;
        let retries = a.retries;
        let duration = a.duration;
        *a = b;
        a.flaky = flaky;
        a.retries = retries;
        a.duration = duration;
    }
}

fn fold_runner(a: &mut RunnerResult, b: RunnerResult) {
    if runner_rank(b.status) > runner_rank(a.status) {
        a.status = b.status;
        a.exit_code = b.exit_code;
        a.signal = b.signal;
        a.hint = b.hint.clone();
        a.command = b.command.clone();
        a.stdout_log = b.stdout_log.clone();
        a.stderr_log = b.stderr_log.clone();
    }
    a.duration = a.duration.max(b.duration);
    a.result_files.extend(b.result_files);
    a.parse_errors.extend(b.parse_errors);
    a.warnings.extend(b.warnings);
    a.suite_errors.extend(b.suite_errors);
    for d in b.depends_on {
        if !a.depends_on.contains(&d) {
            a.depends_on.push(d);
        }
    }
}

/// Folds the sources into one run. Never fails: what cannot be used is named in warnings.
pub fn fold(sources: Vec<Source>, target: Target) -> Merged {
    let mut warnings = Vec::new();
    let mut skipped = Vec::new();
    let mut used: Vec<Source> = Vec::new();
    let mut ids = BTreeSet::new();
    for s in sources {
        let schema = s
            .manifest
            .as_ref()
            .map_or(s.verify.schema_version, |m| m.schema_version);
        if schema != SCHEMA_VERSION || s.verify.schema_version != SCHEMA_VERSION {
            skipped.push(format!(
                "{}: schema version {schema} (this codeloop reads {SCHEMA_VERSION}); left out — produce every shard with the same codeloop version",
                s.label
            ));
            continue;
        }
        if !ids.insert(s.verify.run_id.clone()) {
            skipped.push(format!(
                "{}: run id {} was already merged from another directory (the same artifact downloaded twice?); left out",
                s.label, s.verify.run_id
            ));
            continue;
        }
        if s.manifest.is_none() {
            warnings.push(format!(
                "{}: no manifest.json, so this shard did not finish (interrupted, or its upload was cut); its results are merged as far as they go",
                s.label
            ));
        }
        used.push(s);
    }
    // Commits: all sources should test the same one.
    let shas: BTreeSet<&str> = used
        .iter()
        .filter_map(|s| s.manifest.as_ref()?.sha.as_deref())
        .collect();
    if shas.len() > 1 {
        let list: Vec<String> = used
            .iter()
            .map(|s| {
                format!(
                    "{} at {}",
                    s.label,
                    s.manifest
                        .as_ref()
                        .and_then(|m| m.sha.as_deref())
                        .unwrap_or("an unknown commit")
                )
            })
            .collect();
        warnings.push(format!(
            "the shards tested different commits ({}); the merged counts mix them — download the run directories of one pipeline only",
            list.join(", ")
        ));
    }
    let sha = used.iter().find_map(|s| s.manifest.as_ref()?.sha.clone());

    // Shard coverage.
    let shards: Vec<Shard> = used
        .iter()
        .filter_map(|s| s.manifest.as_ref().and_then(|m| m.shard).or(s.verify.shard))
        .collect();
    let totals: BTreeSet<u32> = shards.iter().map(|s| s.total).collect();
    if totals.len() > 1 {
        warnings.push(format!(
            "the shards disagree on the shard count ({}); missing shards are counted against the largest",
            totals.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    let expected = totals.iter().max().copied();
    let mut missing = Vec::new();
    if let Some(n) = expected {
        let seen: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
        missing = (1..=n).filter(|k| !seen.contains(k)).collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "missing shard(s) {} of {n}: their jobs failed before writing a run, or their artifacts were not downloaded; the merged counts lack their tests",
                missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut dup = BTreeSet::new();
        for s in &shards {
            if !dup.insert(s.index) {
                warnings.push(format!(
                    "shard {}/{} appears more than once (a retried job?); its tests are counted once",
                    s.index, s.total
                ));
            }
        }
    }

    // Cases: the j-th occurrence of a key in one source folds into the j-th merged one, so a
    // parametrized test repeated inside one shard stays repeated.
    let mut cases: Vec<Case> = Vec::new();
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen_findings: HashMap<String, usize> = HashMap::new();
    let mut runners: Vec<RunnerResult> = Vec::new();
    let mut slowest: Vec<SlowTest> = Vec::new();
    let mut sources_doc = Vec::new();
    for s in used {
        sources_doc.push(MergedSource {
            dir: s.label.clone(),
            run_id: s.verify.run_id.clone(),
            shard: s.manifest.as_ref().and_then(|m| m.shard).or(s.verify.shard),
            sha: s.manifest.as_ref().and_then(|m| m.sha.clone()),
            complete: s.manifest.is_some(),
            runners: s.verify.runners.iter().map(|r| r.id.clone()).collect(),
            counts: s.verify.totals,
            duration: s
                .verify
                .runners
                .iter()
                .map(|r| r.duration)
                .fold(0.0, f64::max),
        });
        let mut local: HashMap<String, usize> = HashMap::new();
        for c in s.cases {
            let key = c.key();
            let n = local.entry(key.clone()).or_insert(0);
            let slots = index.entry(key).or_default();
            if let Some(&i) = slots.get(*n) {
                fold_case(&mut cases[i], c);
            } else {
                slots.push(cases.len());
                cases.push(c);
            }
            *n += 1;
        }
        // Findings: identical ones (same runner, rule, place, message) are one finding.
        let mut local_f: HashMap<String, usize> = HashMap::new();
        for f in s.findings {
            let key = serde_json::to_string(&f).unwrap_or_default();
            let n = local_f.entry(key.clone()).or_insert(0);
            let have = seen_findings.entry(key).or_insert(0);
            if *n >= *have {
                findings.push(f);
                *have += 1;
            }
            *n += 1;
        }
        for r in s.verify.runners {
            match runners.iter_mut().find(|x| x.id == r.id) {
                Some(a) => fold_runner(a, r),
                None => runners.push(r),
            }
        }
        slowest.extend(s.verify.slowest);
    }
    // Counts from the merged cases and findings.
    let mut by_runner: HashMap<&str, (Counts, LintCounts)> = HashMap::new();
    for c in &cases {
        by_runner
            .entry(c.runner.as_str())
            .or_default()
            .0
            .add_case(c.status, c.flaky);
    }
    for f in &findings {
        by_runner
            .entry(f.runner.as_str())
            .or_default()
            .1
            .add_finding(f.severity);
    }
    for r in &mut runners {
        let (c, l) = by_runner.get(r.id.as_str()).copied().unwrap_or_default();
        r.counts = c;
        r.lint = l;
    }
    for k in &missing {
        let n = expected.unwrap_or(0);
        let mut r = RunnerResult {
            id: format!("{MISSING_SHARD_PREFIX}{k}-of-{n}"),
            kind: RunnerKind::Test,
            source: RunnerSource::Collect,
            command: None,
            cwd: None,
            status: RunnerStatus::Skipped,
            exit_code: None,
            signal: None,
            duration: 0.0,
            hint: None,
            counts: Counts::default(),
            lint: LintCounts::default(),
            result_files: Vec::new(),
            parse_errors: Vec::new(),
            warnings: Vec::new(),
            suite_errors: Vec::new(),
            stdout_log: None,
            stderr_log: None,
            depends_on: Vec::new(),
            limits: None,
        };
        r.hint = Some(format!(
            "shard {k}/{n} sent no run directory: its job failed before writing one, or its artifact was not downloaded"
        ));
        runners.push(r);
    }
    let mut totals = Counts::default();
    let mut lint = LintCounts::default();
    for r in &runners {
        totals.add(&r.counts);
        lint.add(&r.lint);
    }
    slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
    slowest.dedup_by(|a, b| a.id == b.id && a.runner == b.runner);
    slowest.truncate(crate::parsers::collect::SLOWEST_N);
    let interrupted = runners
        .iter()
        .any(|r| r.status == RunnerStatus::Interrupted);
    let all_passed = runners
        .iter()
        .all(|r| matches!(r.status, RunnerStatus::Passed | RunnerStatus::Skipped));
    let status = if interrupted {
        RunStatus::Interrupted
    } else if all_passed {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    };
    for w in &skipped {
        warnings.push(w.clone());
    }
    let verify = VerifyDoc {
        schema_version: SCHEMA_VERSION,
        run_id: target.run_id.clone(),
        started_at: target.started_at,
        finished_at: target.finished_at,
        status,
        cwd: target.cwd,
        shard: None,
        runners,
        totals,
        lint,
        slowest,
    };
    Merged {
        verify,
        cases,
        findings,
        doc: MergeDoc {
            schema_version: SCHEMA_VERSION,
            run_id: target.run_id,
            sources: sources_doc,
            skipped,
            expected_shards: expected,
            missing_shards: missing,
            warnings,
        },
        sha,
    }
}

/// Missing shards named by merge in this run (`shard-K-of-N` runners), for `require: ["shards"]`.
pub fn missing_shards(v: &VerifyDoc) -> Vec<&str> {
    v.runners
        .iter()
        .filter(|r| {
            r.source == RunnerSource::Collect
                && r.status == RunnerStatus::Skipped
                && r.id.starts_with(MISSING_SHARD_PREFIX)
                && r.id.contains("-of-")
        })
        .map(|r| r.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(runner: &str, name: &str, status: Status) -> Case {
        let mut c = Case::new(name, status);
        c.runner = runner.into();
        c
    }

    fn runner(id: &str, status: RunnerStatus) -> RunnerResult {
        let v: serde_json::Value = serde_json::json!({
            "id": id, "kind": "test", "source": "builtin", "status": status.as_str(),
            "duration": 1.0, "counts": Counts::default(), "lint": LintCounts::default(),
        });
        serde_json::from_value(v).unwrap()
    }

    fn source(
        label: &str,
        run_id: &str,
        shard: Option<(u32, u32)>,
        sha: &str,
        cases: Vec<Case>,
    ) -> Source {
        let status = if cases.iter().any(|c| c.status == Status::Failed) {
            RunnerStatus::Failed
        } else {
            RunnerStatus::Passed
        };
        let shard = shard.map(|(index, total)| Shard { index, total });
        Source {
            label: label.into(),
            verify: VerifyDoc {
                schema_version: SCHEMA_VERSION,
                run_id: run_id.into(),
                started_at: String::new(),
                finished_at: String::new(),
                status: RunStatus::Passed,
                cwd: "/p".into(),
                shard,
                runners: vec![runner("t", status)],
                totals: Counts::default(),
                lint: LintCounts::default(),
                slowest: Vec::new(),
            },
            manifest: Some(ManifestInfo {
                schema_version: SCHEMA_VERSION,
                shard,
                sha: Some(sha.into()),
            }),
            cases,
            findings: Vec::new(),
        }
    }

    fn target() -> Target {
        Target {
            run_id: "M".into(),
            started_at: "s".into(),
            finished_at: "f".into(),
            cwd: "/p".into(),
        }
    }

    #[test]
    fn counts_add_and_a_test_in_two_shards_counts_once_flaky() {
        let a = source(
            "a",
            "R1",
            Some((1, 2)),
            "abc",
            vec![
                case("t", "x", Status::Passed),
                case("t", "y", Status::Failed),
            ],
        );
        let b = source(
            "b",
            "R2",
            Some((2, 2)),
            "abc",
            vec![
                case("t", "y", Status::Passed),
                case("t", "z", Status::Skipped),
            ],
        );
        let m = fold(vec![a, b], target());
        let t = m.verify.totals;
        assert_eq!(
            (t.tests, t.passed, t.failed, t.skipped, t.flaky),
            (3, 1, 1, 1, 1)
        );
        assert_eq!(m.verify.runners.len(), 1);
        assert_eq!(m.verify.runners[0].status, RunnerStatus::Failed);
        assert_eq!(m.verify.status, RunStatus::Failed);
        assert!(m.doc.warnings.is_empty(), "{:?}", m.doc.warnings);
        assert!(m.doc.missing_shards.is_empty());
    }

    #[test]
    fn repeated_names_inside_one_shard_stay_separate() {
        let a = source(
            "a",
            "R1",
            None,
            "abc",
            vec![
                case("t", "p", Status::Passed),
                case("t", "p", Status::Passed),
            ],
        );
        let m = fold(vec![a], target());
        assert_eq!(m.verify.totals.tests, 2);
    }

    #[test]
    fn bad_sources_are_named_and_the_rest_merged() {
        let a = source(
            "dir-a",
            "R1",
            Some((1, 4)),
            "abc",
            vec![case("t", "x", Status::Passed)],
        );
        let dup = source(
            "dir-dup",
            "R1",
            Some((1, 4)),
            "abc",
            vec![case("t", "q", Status::Passed)],
        );
        let mut old = source(
            "dir-old",
            "R3",
            Some((2, 4)),
            "abc",
            vec![case("t", "o", Status::Passed)],
        );
        old.verify.schema_version = SCHEMA_VERSION + 1;
        let mut partial = source(
            "dir-partial",
            "R4",
            Some((3, 4)),
            "def",
            vec![case("t", "w", Status::Failed)],
        );
        partial.manifest = None;
        let m = fold(vec![a, dup, old, partial], target());
        let all = m.doc.warnings.join("\n");
        assert!(
            all.contains("dir-dup: run id R1 was already merged"),
            "{all}"
        );
        assert!(all.contains("dir-old: schema version"), "{all}");
        assert!(all.contains("dir-partial: no manifest.json"), "{all}");
        // partial has no manifest, so its commit is unknown: no disagreement among the rest.
        assert!(!all.contains("different commits"), "{all}");
        assert_eq!(m.doc.missing_shards, vec![2, 4]);
        assert!(all.contains("missing shard(s) 2, 4 of 4"), "{all}");
        assert_eq!(m.verify.totals.tests, 2);
        assert_eq!(
            missing_shards(&m.verify),
            vec!["shard-2-of-4", "shard-4-of-4"]
        );
        assert_eq!(m.doc.skipped.len(), 2);
    }

    #[test]
    fn different_commits_warn() {
        let a = source("a", "R1", None, "abc", vec![]);
        let b = source("b", "R2", None, "def", vec![]);
        let m = fold(vec![a, b], target());
        assert!(
            m.doc
                .warnings
                .iter()
                .any(|w| w.contains("different commits (a at abc, b at def)")),
            "{:?}",
            m.doc.warnings
        );
        assert_eq!(m.sha.as_deref(), Some("abc"));
    }
}
