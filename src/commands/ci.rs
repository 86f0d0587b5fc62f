//! `codeloop ci`: verify → diagnose → gate-check → report in one command, the local and
//! non-GitHub entry point. Takes verify's flags plus the gate's, and exits with the gate's
//! code. Each stage is one library call, so wiring a stage that lands later is one line.

use crate::artifact::{self, RunDir};
use crate::cli::CiArgs;
use crate::commands::diagnose::{
    DiagnoseError, artifacts_dir, config_path, diagnose_run, want_annotations, write_outputs,
};
use crate::commands::gate_check::{
    GateError, gate_config, gate_loaded, load_baseline, print_verdict,
};
use crate::diagnose::output::{self, AnnotationLimits};
use crate::settings::Config;
use crate::{exit, gate, ui};

pub fn run(args: CiArgs) -> i32 {
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
    let (code, created) = crate::commands::verify::run_with_dir(args.verify.clone());
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
    let result = (|| -> Result<_, GateError> {
        let baseline = match &args.gate.baseline {
            Some(b) => Some(load_baseline(b, &artifacts, &args.verify.common.cwd)?),
            None => None,
        };
        // Stage 2: diagnose.
        let loaded = diagnose_run(run, &args.verify.common.cwd, baseline.is_some())
            .map_err(DiagnoseError::from)?;
        write_outputs(&loaded.run, &loaded.doc).map_err(DiagnoseError::from)?;
        // Stage 3: gate.
        let doc = gate_loaded(&loaded, g, baseline.as_ref())?;
        Ok((loaded, doc))
    })();
    let (loaded, doc) = match result {
        Ok(x) => x,
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            return code;
        }
    };
    if annotate {
        for line in output::annotations(&loaded.doc, AnnotationLimits::default()) {
            println!("{line}");
        }
    }
    crate::commands::diagnose::print_summary(&loaded.doc, &loaded.run);
    // Stage 4: report. A report that cannot be written is a warning: the gate decides the code.
    let report_args = crate::cli::ReportArgs {
        common: args.verify.common.clone(),
        run: Some(loaded.run.path.display().to_string()),
        all: true,
        // The dashboard page is what CI users upload as an artifact.
        html: true,
        ..Default::default()
    };
    match crate::commands::report::render_run(&report_args) {
        Ok(out) => {
            for n in out.notices.iter().chain(&out.template_error) {
                ui::warn(n);
            }
            println!(
                "report: wrote {} files to {}",
                out.files.len(),
                out.report_dir
            );
        }
        Err(e) => ui::warn(&format!("report: {e}")),
    }
    print_verdict(&doc);
    gate::exit_code(&doc)
}
