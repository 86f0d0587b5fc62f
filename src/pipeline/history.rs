//! The gate's history hook: `--history FILE [--quarantine]` of gate-check and ci, and the
//! action on pull requests (the base branch's history from the data branch). The history's
//! newest run is the gate's baseline unless `--baseline` names one, `<run>/history.json`
//! gets the insights the report shows (new vs already failing, flaky and slower tests), and
//! with `--quarantine` failing known-flaky tests are taken out of the gate's failures.
//!
//! The insights need every case of the run, which the in-memory run does not keep: with a
//! history, cases.jsonl is read once more (the only read-back of `ci` and the action).

use std::collections::BTreeMap;
use std::path::Path;

use super::diagnose::Loaded;
use super::gate::{GateError, load_baseline, load_baseline_flag};
use super::options::GateFlags;
use crate::artifact;
use crate::gate::Baseline;
use crate::history::{self, HistoryDoc, Index, InsightsBuilder, Thresholds};
use crate::model::{Counts, RuleResult, Status};

/// A run diagnosed for the gate, with what the base history adds.
pub struct Prepared {
    pub loaded: Loaded,
    pub baseline: Option<Baseline>,
    /// The quarantine rule, when it applies.
    pub extra: Vec<RuleResult>,
    /// verify.json's totals as written: the quarantine changes `loaded`'s for the gate only
    /// (the report shows the run's own counts).
    pub totals: Counts,
}

/// Reads and decompresses a history file; a problem is a warning and `None` (the run goes
/// on as without history). [`diagnose_with_history`] parses it, once.
pub fn read_history_json(path: &Path) -> Option<Vec<u8>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            crate::ui::warn(&format!(
                "--history `{}`: cannot read it ({e}); the gate runs without history",
                path.display()
            ));
            return None;
        }
    };
    match history::gunzip(&bytes) {
        Ok(j) => Some(j),
        Err(e) => {
            warn_unusable(path, &e);
            None
        }
    }
}

fn warn_unusable(path: &Path, e: &history::HistoryFormatError) {
    crate::ui::warn(&format!(
        "--history `{}`: {e}; the gate runs without history",
        path.display()
    ));
}

/// Diagnoses a run for the gate with the baseline the flags name: `--baseline` (a run, a
/// gate.json, a saved comment, or `comment`), else the history's newest run. `diagnose`
/// diagnoses the run (its argument: whether the gate compares with a baseline, so every
/// test key's hash is wanted); a run it returns without the hashes gets them here.
/// `run`: its directory, whose publishing budget a `--baseline comment` read spends.
pub fn diagnose_with_history(
    flags: &GateFlags,
    artifacts: &Path,
    cwd: &Path,
    run: &Path,
    diagnose: impl FnOnce(bool) -> Result<Loaded, GateError>,
) -> Result<Prepared, GateError> {
    let json = flags.history.as_deref().and_then(read_history_json);
    let doc: Option<HistoryDoc<'_>> = match (json.as_deref(), flags.history.as_deref()) {
        (Some(j), Some(path)) => history::parse(j).map_err(|e| warn_unusable(path, &e)).ok(),
        _ => None,
    };
    let idx = doc.as_ref().map(Index::new);
    let (baseline, loaded) = match flags.baseline.as_deref() {
        // A baseline on disk (a run, a gate.json, a saved comment) is read on a second core
        // while this run is diagnosed: a run directory as baseline is a whole cases.jsonl to
        // read, as diagnosing a run alone is. Its error wins, as when it was read first.
        Some(b) if b != "comment" => std::thread::scope(|s| {
            let other = std::thread::Builder::new()
                .name("codeloop-baseline".into())
                .spawn_scoped(s, || load_baseline(b, artifacts, cwd));
            let loaded = diagnose(true);
            let baseline = match other {
                Ok(h) => h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
                Err(_) => load_baseline(b, artifacts, cwd),
            };
            baseline.map(|b| (Some(b), loaded))
        })?,
        Some(b) => {
            let explicit =
                load_baseline_flag(b, flags.comment_key.as_deref(), artifacts, cwd, Some(run))?;
            let baseline = explicit.or_else(|| idx.as_ref().and_then(Index::baseline));
            let loaded = diagnose(baseline.is_some());
            (baseline, loaded)
        }
        None => {
            let baseline = idx.as_ref().and_then(Index::baseline);
            let loaded = diagnose(baseline.is_some());
            (baseline, loaded)
        }
    };
    let mut loaded = loaded?;
    let totals = loaded.verify.totals;
    let need_tests = baseline.is_some() && loaded.tests.is_none();
    let mut extra = Vec::new();
    if idx.is_some() || need_tests {
        let mut tests = need_tests.then(crate::gate::KeySet::default);
        let mut b = idx
            .as_ref()
            .map(|idx| InsightsBuilder::new(idx, Thresholds::default()));
        // Each line read borrowed (no `Case` built per line).
        super::digest::read_case_views(&loaded.run.file(artifact::CASES), |c| {
            if let Some(t) = tests.as_mut() {
                t.insert(crate::gate::case_key_hash(c));
            }
            if let Some(b) = b.as_mut() {
                b.observe(&c.key(), c.status, c.duration);
            }
        })?;
        if need_tests {
            loaded.tests = tests;
        }
        if let Some(b) = b {
            let quarantined = if flags.quarantine {
                b.failing_flaky().clone()
            } else {
                Default::default()
            };
            let insights = b.finish(flags.quarantine);
            artifact::write_json(&loaded.run.file(history::INSIGHTS_FILE), &insights)?;
            if !quarantined.is_empty() {
                extra.push(quarantine(&mut loaded, &quarantined));
            }
        }
    }
    Ok(Prepared {
        loaded,
        baseline,
        extra,
        totals,
    })
}

/// Takes quarantined tests out of the failures (they count as flaky: passed after a retry
/// is what "known-flaky" means to the score) and says so in a rule that passes.
fn quarantine(loaded: &mut Loaded, tests: &BTreeMap<String, Status>) -> RuleResult {
    let t = &mut loaded.verify.totals;
    for (k, s) in tests {
        loaded.failing.remove(k);
        match s {
            Status::Errored => t.errored = t.errored.saturating_sub(1),
            _ => t.failed = t.failed.saturating_sub(1),
        }
        t.passed += 1;
        t.flaky += 1;
    }
    let names: Vec<String> = tests
        .keys()
        .take(5)
        .map(|k| crate::diagnose::one_line(k, 120))
        .collect();
    let more = if tests.len() > names.len() {
        format!(" and {} more", tests.len() - names.len())
    } else {
        String::new()
    };
    RuleResult {
        rule: "quarantine".into(),
        passed: true,
        limit: "-".into(),
        actual: tests.len().to_string(),
        reason: format!(
            "{} known-flaky {} failed and {} quarantined, not counted: {}{more}",
            tests.len(),
            if tests.len() == 1 { "test" } else { "tests" },
            if tests.len() == 1 { "is" } else { "are" },
            names.join(", ")
        ),
    }
}
