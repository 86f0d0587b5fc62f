//! The gate stage: settings (config file < flags) validated, the baseline loaded (a run
//! directory, a run id or a gate.json), the pure [`crate::gate`] evaluated on a diagnosed
//! run, and gate.json written. The exit code is [`crate::gate::exit_code`] (0 pass, 1 fail,
//! 3 no results where required).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::diagnose::{DiagnoseError, Loaded, refresh_manifest};
use super::options::GateFlags;
use crate::artifact::{self, ArtifactError, RunDir};
use crate::gate::{self, Baseline, GateInput};
use crate::model::GateDoc;
use crate::settings::{Config, GateConfig};
use crate::{exit, ui};

/// Errors of gate-check. Each names the file or setting and the fix.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Diagnose(#[from] DiagnoseError),
    #[error("invalid gate setting {0}")]
    Setting(String),
    #[error("--baseline `{path}` cannot be used: {message}")]
    Baseline { path: PathBuf, message: String },
}

impl From<ArtifactError> for GateError {
    fn from(e: ArtifactError) -> Self {
        GateError::Diagnose(DiagnoseError::Artifact(e))
    }
}

impl GateError {
    pub fn exit_and_hint(&self) -> (i32, Option<&'static str>) {
        match self {
            GateError::Diagnose(d) => d.exit_and_hint(),
            GateError::Setting(_) => (
                exit::USAGE,
                Some(
                    "fix the `gate` section of .codeloop/config.json or the flag (see docs/gate.md)",
                ),
            ),
            GateError::Baseline { .. } => (
                exit::USAGE,
                Some(
                    "--baseline takes a complete run directory (the folder holding manifest.json), a run id under the artifacts directory (`codeloop status` lists them), a gate.json or saved comment written by codeloop, or `comment`; fix the path or leave --baseline out",
                ),
            ),
        }
    }
}

/// A misspelled gate rule would be silently ignored and let a gate pass that should fail:
/// unknown keys under `gate` (in config.json's load warnings) are errors; other unknown keys
/// stay warnings. The same check for `ci`, `gate-check` and the action.
pub fn check_gate_keys(warnings: &[String]) -> Result<(), GateError> {
    let unknown: Vec<String> = warnings
        .iter()
        .filter(|w| w.contains("unknown key `gate."))
        .map(|w| w.replace(" is ignored;", " is not a gate setting;"))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(GateError::Setting(format!(
        "(unknown gate rule): {}",
        unknown.join("; ")
    )))
}

/// The gate settings: config file, then flags; validated.
pub fn gate_config(
    cfg: &Config,
    warnings: &[String],
    flags: &GateFlags,
    config_file: &Path,
) -> Result<GateConfig, GateError> {
    check_gate_keys(warnings)?;
    for w in warnings
        .iter()
        .filter(|w| !w.contains("unknown key `gate."))
    {
        ui::warn(w);
    }
    let mut g = cfg.gate.clone();
    if let Some(s) = flags.min_score {
        g.min_score = s;
    }
    if let Some(m) = flags.max_failures {
        g.max_failures = Some(m);
    }
    if let Some(f) = flags.fail_on {
        g.fail_on = f;
    }
    let issues = gate::validate(&g);
    if !issues.is_empty() {
        let list = issues
            .iter()
            .map(|i| {
                let src = if i.key == "gate.min_score" && flags.min_score.is_some() {
                    "--min-score".to_string()
                } else {
                    format!("`{}` in {}", i.key, config_file.display())
                };
                format!("{src}: {}", i.message)
            })
            .collect::<Vec<_>>()
            .join("; ");
        return Err(GateError::Setting(list));
    }
    Ok(g)
}

/// `--baseline` as given: `comment` reads the PR's/MR's sticky comment of `comment_key`
/// through the API (`None` when there is none yet, or it cannot be read: a warning, and the
/// gate says it has no baseline); anything else is [`load_baseline`]. The comment is read on
/// `run`'s publishing budget (a later `codeloop publish` of it gets what is left).
pub fn load_baseline_flag(
    spec: &str,
    comment_key: Option<&str>,
    artifacts: &Path,
    cwd: &Path,
    run: Option<&Path>,
) -> Result<Option<Baseline>, GateError> {
    if spec != "comment" {
        return load_baseline(spec, artifacts, cwd).map(Some);
    }
    let key = match comment_key
        .map(crate::publish::github::comment_key)
        .transpose()
    {
        Ok(k) => k,
        Err(m) => return Err(GateError::Setting(format!("--comment-key: {m}"))),
    };
    let Some(body) = crate::publish::previous_comment_from_env(key, run) else {
        ui::warn(
            "--baseline comment: no previous codeloop comment of this key on the PR/MR (or it could not be read); the gate has no baseline",
        );
        return Ok(None);
    };
    match crate::report::state::decode(&body) {
        Ok(state) => Ok(Some(gate::baseline_from_state(&state))),
        Err(e) => {
            ui::warn(&format!(
                "--baseline comment: {e}; the gate has no baseline"
            ));
            Ok(None)
        }
    }
}

/// Where a `--baseline` on disk is: a file (a gate.json or a saved comment) or a run.
enum BaselineSource {
    File(PathBuf),
    Run(RunDir),
}

/// Finds the baseline `spec` names, without reading it: a file, a run directory, or a run id
/// under `artifacts`. A path or id that is not there is a [`GateError::Baseline`] (a usage
/// error naming `--baseline`), not "no results": the run itself is fine.
fn locate_baseline(spec: &str, artifacts: &Path, cwd: &Path) -> Result<BaselineSource, GateError> {
    let given = Path::new(spec);
    // Relative paths: as given (the shell's directory), else under --cwd.
    let under_cwd = cwd.join(given);
    let p: &Path = if given.is_relative() && !given.exists() && under_cwd.exists() {
        &under_cwd
    } else {
        given
    };
    if p.is_file() {
        return Ok(BaselineSource::File(p.to_path_buf()));
    }
    let bad = |message: String| GateError::Baseline {
        path: p.to_path_buf(),
        message,
    };
    let found = if p.is_dir() {
        RunDir::open(p)
    } else {
        artifact::resolve(artifacts, Some(spec))
    };
    match found {
        Ok(run) => Ok(BaselineSource::Run(run)),
        Err(ArtifactError::NoSuchRun { .. }) | Err(ArtifactError::NoRuns(_)) => Err(bad(
            if given.components().count() > 1 || given.is_absolute() {
                "no such file or run directory".into()
            } else {
                format!(
                    "no such file, run directory, or run id under {}",
                    artifact::runs_root(artifacts).display()
                )
            },
        )),
        Err(ArtifactError::Incomplete(d)) => Err(bad(format!(
            "{} is not a complete run (no manifest.json: the run was interrupted, or it is not a run directory)",
            d.display()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Checks, before anything runs, that `flags.baseline` names a baseline that can be read: a
/// bad path or run id is found in a second, not after minutes of tests. A file (a gate.json
/// or a saved comment: small) is read whole here; a run only opened (its cases are read
/// while the new run is diagnosed). `comment` is read through the API later, as before.
pub fn check_baseline(
    flags: &super::options::GateFlags,
    artifacts: &Path,
    cwd: &Path,
) -> Result<(), GateError> {
    match flags.baseline.as_deref() {
        None | Some("comment") => Ok(()),
        Some(spec) => match locate_baseline(spec, artifacts, cwd)? {
            BaselineSource::File(p) => read_baseline_file(&p).map(drop),
            BaselineSource::Run(_) => Ok(()),
        },
    }
}

/// Loads a baseline: a gate.json file, a saved codeloop comment (its hidden state), a run
/// directory, or a run id.
pub fn load_baseline(spec: &str, artifacts: &Path, cwd: &Path) -> Result<Baseline, GateError> {
    match locate_baseline(spec, artifacts, cwd)? {
        BaselineSource::File(p) => read_baseline_file(&p),
        BaselineSource::Run(run) => baseline_from_run(&run),
    }
}

/// A baseline file: a saved comment (the action hands the previous sticky comment over as a
/// file) or a gate.json.
fn read_baseline_file(p: &Path) -> Result<Baseline, GateError> {
    let bad = |message: String| GateError::Baseline {
        path: p.to_path_buf(),
        message,
    };
    if let Ok(text) = std::fs::read_to_string(p)
        && text.contains(crate::report::state::STATE_PREFIX)
        && !text.trim_start().starts_with('{')
    {
        return crate::report::state::decode(&text)
            .map(|s| gate::baseline_from_state(&s))
            .map_err(|e| bad(e.to_string()));
    }
    let v: serde_json::Value = artifact::read_json(p)?;
    gate::baseline_from_gate_json(&v).map_err(|m| bad(format!("not a codeloop gate.json: {m}")))
}

/// A baseline from a run directory: its failing tests, all test keys, counts and score.
pub fn baseline_from_run(run: &RunDir) -> Result<Baseline, GateError> {
    let verify = run.verify()?;
    let mut failing = BTreeSet::new();
    let mut tests = gate::KeySet::default();
    super::digest::read_case_views(&run.file(artifact::CASES), |c| {
        tests.insert(gate::case_key_hash(c));
        if c.status.is_bad() {
            failing.insert(c.key());
        }
    })?;
    let score = if run.file(artifact::GATE).is_file() {
        Some(run.gate()?.score)
    } else {
        None
    };
    Ok(Baseline {
        run_id: Some(verify.run_id.clone()),
        score,
        failing,
        tests: Some(tests),
        counts: Some(verify.totals),
        cut: None,
    })
}

/// Evaluates the gate on a diagnosed run and writes gate.json.
pub fn gate_loaded(
    l: &Loaded,
    g: &GateConfig,
    baseline: Option<&Baseline>,
) -> Result<GateDoc, GateError> {
    gate_loaded_with(l, g, baseline, Vec::new())
}

/// [`gate_loaded`] with rules decided outside the pure gate (the history's quarantine),
/// added to gate.json's rules and reasons.
pub fn gate_loaded_with(
    l: &Loaded,
    g: &GateConfig,
    baseline: Option<&Baseline>,
    extra: Vec<crate::model::RuleResult>,
) -> Result<GateDoc, GateError> {
    let input = GateInput {
        verify: &l.verify,
        diagnose: &l.doc,
        failing: &l.failing,
        tests: l.tests.as_ref(),
        baseline,
    };
    let mut doc = gate::evaluate(&input, g);
    for r in extra {
        doc.reasons.push(r.reason.clone());
        doc.rules.push(r);
    }
    artifact::write_json(
        &l.run.file(artifact::GATE),
        &gate::to_json(&doc, &l.failing),
    )?;
    refresh_manifest(&l.run)?;
    Ok(doc)
}
