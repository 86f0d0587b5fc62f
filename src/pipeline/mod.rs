//! The loop every entry point shares: verify → diagnose → gate → report, in one process over
//! one in-memory run, writing the run directory as it goes (DESIGN §1).
//!
//! - [`verify`] runs the runners and streams each parsed case to cases.jsonl and to a
//!   [`digest::Digest`] (the in-memory run: failing/flaky cases, the report's bounded digest,
//!   the JUnit spools), one producer with sinks that keep only what they need;
//! - [`diagnose`], [`gate`] and [`report`] then work from that digest and the documents in
//!   memory ([`diagnose_and_gate`], [`report_from_memory`]): nothing written is read back,
//!   and no stage holds the passing cases;
//! - each stage also runs alone over an existing run directory (`diagnose_run`, the gate on
//!   it, `render_run`), reading what the stages before it wrote, and writes the same files.
//!
//! Entry points (`commands/` for the CLI and the action, `mcp` for agents) resolve their
//! flags or inputs into [`options`] and a [`Loop`], call these functions and print; no clap
//! type reaches this module. The manifest is refreshed after each stage from hashes taken
//! while writing (`artifact`), so a refresh costs a directory walk, not a read of the run.

pub mod diagnose;
pub mod digest;
pub mod gate;
pub mod junit;
pub mod merge;
pub mod options;
pub mod publish;
pub mod report;
pub mod verify;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::artifact::{self, RunDir};
use crate::model::{GateDoc, VerifyDoc};
use crate::runners::progress::Mode;
use crate::settings::{Config, GateConfig};
use diagnose::Loaded;
use digest::{Digest, DigestTap};
use gate::GateError;
use options::{ReportOptions, VerifyOptions};
use report::{Docs, Outcome, ReportCmdError};
use verify::{Executed, Fail, Prepared};

/// Everything the stages after verify need, resolved once by the entry point.
pub struct Loop {
    /// The workspace locations are checked against (the working directory).
    pub cwd: PathBuf,
    /// Where the runs are (baselines by run id).
    pub artifacts: PathBuf,
    /// The config file's settings (with the action's inputs applied).
    pub cfg: Config,
    /// Warnings from reading it (the report repeats them as notices).
    pub cfg_warnings: Vec<String>,
    /// The gate's settings: config < flags, validated.
    pub gate: GateConfig,
    /// A baseline run directory, run id or gate.json (`--baseline`).
    pub baseline: Option<String>,
    /// What the report stage writes.
    pub report: ReportOptions,
}

/// The run verify wrote, and its cases' digest in memory.
pub struct Verified {
    pub executed: Executed,
    pub digest: Digest,
}

/// Runs the verify stage with the in-memory run attached: cases, findings and the JUnit
/// spools are filled by the parse as it streams. `keep_tests`: also keep every test key's
/// hash (a baseline will be compared).
pub fn verify(
    opts: &VerifyOptions,
    p: Prepared,
    mode: Mode,
    keep_tests: bool,
    junit: bool,
) -> Result<Verified, Fail> {
    let digest = Digest {
        problems: Some(Vec::new()),
        tests: keep_tests.then(HashSet::new),
        junit: junit.then(|| junit::spooled(&p.run_dir.report_dir())),
        ..Digest::default()
    };
    let shared = Arc::new(Mutex::new(digest));
    let mut executed =
        verify::run_prepared(opts, p, mode, Some(Box::new(DigestTap(shared.clone()))))?;
    drop(executed.tap.take());
    let digest = shared
        .lock()
        .map(|mut d| std::mem::take(&mut *d))
        .unwrap_or_default();
    Ok(Verified { executed, digest })
}

/// Diagnose, then gate, on the in-memory run: writes diagnose.json, report/codeloop.sarif,
/// report/gl-code-quality.json and gate.json (refreshing the manifest after each).
pub fn diagnose_and_gate(
    lp: &Loop,
    run: RunDir,
    verify: VerifyDoc,
    digest: &mut Digest,
) -> Result<(Loaded, GateDoc), GateError> {
    let baseline = match &lp.baseline {
        Some(b) => Some(gate::load_baseline(b, &lp.artifacts, &lp.cwd)?),
        None => None,
    };
    let problems = digest.problems.take().unwrap_or_default();
    let mut loaded = diagnose::diagnose_with(
        run,
        verify,
        &digest.findings,
        &lp.cwd,
        false,
        |each: &mut dyn FnMut(&crate::model::Case)| {
            problems.iter().for_each(each);
            Ok(())
        },
    )
    .map_err(diagnose::DiagnoseError::from)?;
    if baseline.is_some() {
        loaded.tests = digest.tests.take();
    }
    diagnose::write_outputs(&loaded.run, &loaded.doc).map_err(diagnose::DiagnoseError::from)?;
    let doc = gate::gate_loaded(&loaded, &lp.gate, baseline.as_ref())?;
    Ok((loaded, doc))
}

/// Diagnose, then gate, on a run directory (the stages alone, and merged runs).
pub fn diagnose_and_gate_on_disk(lp: &Loop, run: RunDir) -> Result<(Loaded, GateDoc), GateError> {
    let baseline = match &lp.baseline {
        Some(b) => Some(gate::load_baseline(b, &lp.artifacts, &lp.cwd)?),
        None => None,
    };
    let loaded = diagnose::diagnose_run(run, &lp.cwd, baseline.is_some())
        .map_err(diagnose::DiagnoseError::from)?;
    diagnose::write_outputs(&loaded.run, &loaded.doc).map_err(diagnose::DiagnoseError::from)?;
    let doc = gate::gate_loaded(&loaded, &lp.gate, baseline.as_ref())?;
    Ok((loaded, doc))
}

/// The report stage on the in-memory run (documents and digest handed over, not re-read).
pub fn report_from_memory(
    lp: &Loop,
    loaded: &Loaded,
    gate: &GateDoc,
    digest: Digest,
) -> Result<Outcome, ReportCmdError> {
    let mut notices = lp.cfg_warnings.clone();
    let manifest = match artifact::read_json(&loaded.run.file(artifact::MANIFEST)) {
        Ok(m) => Some(m),
        Err(e) => {
            notices.push(format!("{e}; the report leaves it out"));
            None
        }
    };
    let docs = Docs {
        manifest,
        verify: Some(loaded.verify.clone()),
        diagnose: Some(loaded.doc.clone()),
        gate: Some(gate.clone()),
    };
    let opts = ReportOptions {
        run: Some(loaded.run.path.display().to_string()),
        ..lp.report.clone()
    };
    report::render_with(&opts, &lp.cfg, notices, &loaded.run, docs, digest)
}

/// The report stage on a run directory.
pub fn report_on_disk(lp: &Loop, run: &RunDir) -> Result<Outcome, ReportCmdError> {
    let opts = ReportOptions {
        run: Some(run.path.display().to_string()),
        ..lp.report.clone()
    };
    report::render_run(&opts)
}
