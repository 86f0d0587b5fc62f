//! `codeloop ci`: verify → diagnose → gate-check → report (→ notify, when webhooks are
//! configured) in one command, the local and
//! non-GitHub entry point. Takes verify's flags plus the gate's, and exits with the gate's
//! code. Each stage is one library call, so wiring a stage that lands later is one line.

use crate::artifact::stage::StageEvents;
use crate::artifact::{self, RunDir};
use crate::cli::{CiArgs, OutputFormat};
use crate::commands::diagnose::{
    DiagnoseError, artifacts_dir, config_path, want_annotations, write_outputs,
};
use crate::commands::gate_check::{GateError, gate_config, gate_loaded_with, print_verdict};
use crate::diagnose::output::{self, AnnotationLimits};
use crate::settings::Config;
use crate::{exit, gate, ui};

pub fn run(args: CiArgs) -> i32 {
    // verify handles signals while runners run; this covers the stages after it, which
    // would otherwise swallow a SIGTERM (verify's handler outlives its runtime).
    crate::interrupt::watch();
    let common = args.verify.common.clone();
    let cfg_path = config_path(&common);
    // Settings first: a bad gate setting should stop us before minutes of tests.
    let (cfg, g) = match Config::load(&cfg_path)
        .map_err(|e| GateError::from(DiagnoseError::from(e)))
        .and_then(|(cfg, warnings)| {
            gate_config(&cfg, &warnings, &args.gate, &cfg_path).map(|g| (cfg, g))
        }) {
        Ok(x) => x,
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            return code;
        }
    };
    // Stage 1: verify. It exits 1 when a runner failed; that is the gate's business.
    // `--format json` means one document on stdout: verify runs quietly and ci prints the
    // result after the gate.
    let mut verify_args = args.verify.clone();
    if verify_args.common.format == OutputFormat::Json {
        verify_args.common.format = OutputFormat::Human;
        verify_args.quiet = true;
    }
    let (code, created) = crate::commands::verify::run_with_dir(verify_args);
    if code != exit::OK && code != exit::GATE_FAILED {
        ui::warn("verify did not complete; nothing to diagnose");
        return code;
    }
    // Continue on the run this invocation created (not "latest", which a concurrent `ci`
    // sharing the artifacts directory could have replaced).
    let run = match created.map(|r| artifact::RunDir::open(&r.path)) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            ui::error(&e, None);
            return exit::INFRA;
        }
        None => {
            ui::warn("verify wrote no new complete run");
            return exit::INFRA;
        }
    };
    let annotate = want_annotations(args.annotations, false, &cfg);
    after_verify(run, &args, &cfg, &g, annotate)
}

/// Stages after verify on an existing run: diagnose, gate, report. Returns the gate's code.
pub fn after_verify(
    run: RunDir,
    args: &CiArgs,
    cfg: &Config,
    g: &crate::settings::GateConfig,
    annotate: bool,
) -> i32 {
    let artifacts = artifacts_dir(&args.verify.common, cfg);
    let json = args.verify.common.format == OutputFormat::Json;
    let result = (|| -> Result<_, GateError> {
        // Stage 2: diagnose (with the base branch's history when given).
        let stage = StageEvents::start(&run.path, "diagnose");
        let p = stage.record(
            crate::commands::history::diagnose_with_history(
                run,
                &args.gate,
                &artifacts,
                &args.verify.common.cwd,
            )
            .and_then(|p| {
                write_outputs(&p.loaded.run, &p.loaded.doc).map_err(DiagnoseError::from)?;
                Ok(p)
            }),
        )?;
        // Stage 3: gate.
        let stage = StageEvents::start(&p.loaded.run.path, "gate-check");
        let doc = stage.record(gate_loaded_with(&p.loaded, g, p.baseline.as_ref(), p.extra))?;
        Ok((p.loaded, doc))
    })();
    let (loaded, doc) = match result {
        Ok(x) => x,
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            return code;
        }
    };
    if let Some(sig) = crate::interrupt::received() {
        ui::error(
            &std::io::Error::other(format!(
                "codeloop received {sig} after verify: stopped before the report stage"
            )),
            Some("diagnose.json and gate.json are written; run `codeloop report` to finish"),
        );
        return exit::INFRA;
    }
    if annotate && !json {
        for line in output::annotations(&loaded.doc, AnnotationLimits::default()) {
            crate::outln!("{line}");
        }
    }
    if !json {
        crate::commands::diagnose::print_summary(&loaded.doc, &loaded.run);
    }
    // Stage 4: report. A report that cannot be written is a warning: the gate decides the code.
    let report_args = crate::cli::ReportArgs {
        common: args.verify.common.clone(),
        run: Some(loaded.run.path.display().to_string()),
        all: true,
        // The dashboard page is what CI users upload as an artifact.
        html: true,
        ..Default::default()
    };
    let mut report_dir = None;
    match crate::commands::report::render_run(&report_args) {
        Ok(out) => {
            for n in out.notices.iter().chain(&out.template_error) {
                ui::warn(n);
            }
            if !json {
                crate::outln!(
                    "report: wrote {} files to {}",
                    out.files.len(),
                    out.report_dir
                );
            }
            report_dir = Some(out.report_dir);
        }
        Err(e) => ui::warn(&format!("report: {e}")),
    }
    // Stage 5: webhooks, when configured. Warnings only: the gate decides the code.
    crate::commands::notify::after_gate(&loaded.run.path, cfg, json);
    let code = gate::exit_code(&doc);
    if json {
        print_json(&loaded.run, &loaded.doc, &doc, report_dir, code);
    } else {
        print_verdict(&doc);
    }
    code
}

/// `ci --format json`: one stable document for scripts — where the run is, the verdict with
/// its reasons, the repair tasks, and the exit code ci exits with.
fn print_json(
    run: &RunDir,
    diagnose: &crate::model::DiagnoseDoc,
    gate: &crate::model::GateDoc,
    report_dir: Option<String>,
    exit_code: i32,
) {
    let doc = serde_json::json!({
        "schema_version": crate::model::SCHEMA_VERSION,
        "run_id": gate.run_id,
        "run_dir": run.path.to_string_lossy(),
        "report_dir": report_dir,
        "verdict": gate.verdict,
        "score": gate.score,
        "counts": gate.counts,
        "lint": gate.lint,
        "reasons": gate.reasons,
        "tasks": diagnose.tasks,
        "gate": gate,
        "exit_code": exit_code,
    });
    match serde_json::to_string_pretty(&doc) {
        Ok(s) => ui::out(&s),
        Err(e) => ui::warn(&format!("cannot print JSON: {e}")),
    }
}
