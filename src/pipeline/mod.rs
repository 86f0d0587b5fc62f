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
pub mod history;
pub mod junit;
pub mod merge;
pub mod notify;
pub mod options;
pub mod publish;
pub mod report;
pub mod runs;
pub mod verify;

use std::path::PathBuf;

use crate::artifact::stage::StageEvents;
use crate::artifact::{self, RunDir};
use crate::model::{GateDoc, VerifyDoc};
use crate::runners::progress::Mode;
use crate::settings::{Config, GateConfig};
use diagnose::Loaded;
use digest::{Digest, DigestTap};
use gate::GateError;
use options::{GateFlags, ReportOptions, VerifyOptions};
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
    /// Where the gate's baseline comes from: `--baseline` (a run directory, run id,
    /// gate.json, saved comment, or `comment` with `--comment-key`), and the base branch's
    /// history (`--history`, `--quarantine`). The rest of the flags is in `gate`.
    pub flags: GateFlags,
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
        tests: keep_tests.then(crate::gate::KeySet::default),
        junit: junit.then(|| junit::spooled(&p.run_dir.report_dir())),
        ..Digest::default()
    };
    // The digest runs beside cases.jsonl's writer on the second core: the parse's thread
    // only hands each case over. The tap is dropped (its digest handed back) by the time
    // the runners are done.
    let (tap, back) = DigestTap::new(digest);
    let executed = verify::run_prepared(opts, p, mode, Some(Box::new(tap)))?;
    let digest = back.take().map_err(|e| Fail {
        message: e.to_string(),
        hint: Some(digest::DigestLost::HINT.into()),
        code: crate::exit::INFRA,
        warnings: Vec::new(),
    })?;
    Ok(Verified { executed, digest })
}

/// Diagnose, then gate, on the in-memory run: writes diagnose.json, report/codeloop.sarif,
/// report/gl-code-quality.json (and history.json with a history) and gate.json, refreshing
/// the manifest after each; each stage is recorded in events.jsonl.
pub fn diagnose_and_gate(
    lp: &Loop,
    run: RunDir,
    verify: VerifyDoc,
    digest: &mut Digest,
) -> Result<(Loaded, GateDoc), GateError> {
    if lp.report.wanted().3 {
        // junit.xml needs nothing diagnose finds: it is written on the second core meanwhile.
        digest.write_junit_behind(run.report_dir().join("junit.xml"));
    }
    let problems = digest.problems.take().unwrap_or_default();
    let tests = digest.tests.take();
    let findings = &digest.findings;
    let stage = StageEvents::start(&run.path, "diagnose");
    let run_path = run.path.clone();
    let p = stage.record(
        history::diagnose_with_history(
            &lp.flags,
            &lp.artifacts,
            &lp.cwd,
            &run_path,
            |want_tests| {
                let mut loaded =
                    diagnose::diagnose_memory(run, verify, findings, &lp.cwd, problems)
                        .map_err(diagnose::DiagnoseError::from)?;
                if want_tests {
                    // Kept by the parse when a baseline was known before verify; else the hook
                    // reads them.
                    loaded.tests = tests;
                }
                Ok(loaded)
            },
        )
        .and_then(|p| {
            diagnose::write_outputs(&p.loaded.run, &p.loaded.doc)
                .map_err(diagnose::DiagnoseError::from)?;
            Ok(p)
        }),
    )?;
    gate_stage(lp, p)
}

/// Diagnose, then gate, on a run directory (merged runs), each stage recorded.
pub fn diagnose_and_gate_on_disk(lp: &Loop, run: RunDir) -> Result<(Loaded, GateDoc), GateError> {
    let stage = StageEvents::start(&run.path, "diagnose");
    let run_path = run.path.clone();
    let p = stage.record(
        history::diagnose_with_history(
            &lp.flags,
            &lp.artifacts,
            &lp.cwd,
            &run_path,
            |want_tests| {
                Ok(diagnose::diagnose_run(run, &lp.cwd, want_tests)
                    .map_err(diagnose::DiagnoseError::from)?)
            },
        )
        .and_then(|p| {
            diagnose::write_outputs(&p.loaded.run, &p.loaded.doc)
                .map_err(diagnose::DiagnoseError::from)?;
            Ok(p)
        }),
    )?;
    gate_stage(lp, p)
}

/// The gate stage on a diagnosed run, recorded as `gate-check`.
fn gate_stage(lp: &Loop, p: history::Prepared) -> Result<(Loaded, GateDoc), GateError> {
    let stage = StageEvents::start(&p.loaded.run.path, "gate-check");
    let doc = stage.record(gate::gate_loaded_with(
        &p.loaded,
        &lp.gate,
        p.baseline.as_ref(),
        p.extra,
    ))?;
    let mut loaded = p.loaded;
    // The report shows verify.json's counts, not the gate's quarantined ones.
    loaded.verify.totals = p.totals;
    Ok((loaded, doc))
}

/// The gate stage alone on a run directory (`codeloop gate-check`): diagnosed again without
/// writing diagnose.json, with the history hook; recorded as `gate-check`.
pub fn gate_alone(
    run: RunDir,
    flags: &GateFlags,
    g: &GateConfig,
    artifacts: &std::path::Path,
    cwd: &std::path::Path,
) -> Result<(Loaded, GateDoc), GateError> {
    let stage = StageEvents::start(&run.path, "gate-check");
    let run_path = run.path.clone();
    stage.record((|| {
        let p = history::diagnose_with_history(flags, artifacts, cwd, &run_path, |want_tests| {
            Ok(diagnose::diagnose_run(run, cwd, want_tests)
                .map_err(diagnose::DiagnoseError::from)?)
        })?;
        let doc = gate::gate_loaded_with(&p.loaded, g, p.baseline.as_ref(), p.extra)?;
        Ok((p.loaded, doc))
    })())
}

/// The report stage on the in-memory run (documents and digest handed over, not re-read).
pub fn report_from_memory(
    lp: &Loop,
    loaded: &mut Loaded,
    gate: &GateDoc,
    mut digest: Digest,
) -> Result<Outcome, ReportCmdError> {
    let mut notices = lp.cfg_warnings.clone();
    // The deltas against the previous comment need this run's test keys (a failure of the
    // comment whose test is gone is not "fixed"): the gate took them over from the digest.
    if digest.tests.is_none() && lp.report.baseline_from_comment.is_some() {
        // Moved, not cloned: a million keys' hashes are ~17 MB, and the gate is done.
        digest.tests = loaded.tests.take();
    }
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
