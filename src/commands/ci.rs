//! `codeloop ci`: verify → diagnose → gate-check → report (→ notify, when webhooks are
//! configured) in one command and one process,
//! the local and non-GitHub entry point. Flags → settings (once) → the pipeline: verify
//! streams the cases into the in-memory run, and the stages after it work from that (see
//! [`crate::pipeline`]). Takes verify's flags plus the gate's, and exits with the gate's code.

use crate::artifact::RunDir;
use crate::cli::{CiArgs, OutputFormat};
use crate::commands::flow::{self, Printing};
use crate::commands::output::{print_human, progress_mode, warn_unmatched};
use crate::pipeline::diagnose::{artifacts_dir, want_annotations};
use crate::pipeline::options::{Common, ReportOptions, VerifyOptions};
use crate::pipeline::{self, Loop, verify};
use crate::{exit, ui};

pub fn run(args: CiArgs) -> i32 {
    // verify handles signals while runners run; this covers the stages after it, which
    // would otherwise swallow a SIGTERM (verify's handler outlives its runtime).
    crate::interrupt::watch();
    let common = Common::from(&args.verify.common);
    let json = args.verify.common.format == OutputFormat::Json;
    let (cfg, cfg_warnings, g) = match flow::loop_settings(&common, &(&args.gate).into()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // `--format json` means one document on stdout: verify runs quietly and ci prints the
    // result after the gate.
    let vopts = VerifyOptions::from(&args.verify);
    let prepared = match verify::prepare(&vopts) {
        Ok(p) => p,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    // The config file's warnings were printed with the settings.
    for w in prepared.plan_warnings() {
        ui::warn(w);
    }
    let cwd = prepared.resolved.cwd.clone();
    let lp = Loop {
        cwd: common.cwd.clone(),
        artifacts: artifacts_dir(&common, &cfg),
        cfg,
        cfg_warnings,
        gate: g,
        flags: (&args.gate).into(),
        // The dashboard page is what CI users upload as an artifact.
        report: ReportOptions {
            common,
            all: true,
            html: true,
            ..ReportOptions::default()
        },
    };
    // Stage 1: verify, streaming into the in-memory run. It exits 1 when a runner failed;
    // that is the gate's business.
    let v = match pipeline::verify(
        &vopts,
        prepared,
        progress_mode(vopts.quiet),
        // A baseline named up front: keep every test key's hash while parsing (a baseline
        // from the history or the API is only known later; its hashes are read then).
        lp.flags.baseline.is_some() || lp.flags.history.is_some(),
        true,
    ) {
        Ok(v) => v,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    warn_unmatched(&v.executed.doc);
    if !vopts.quiet {
        print_human(&v.executed.doc, &v.executed.run_dir, &cwd);
    }
    let code = v.executed.code;
    // Nothing collected (exit 3) is a whole run too: the gate says why and the report and
    // the comment show it, as in the action. Only a run verify could not finish stops here.
    if code != exit::OK && code != exit::GATE_FAILED && code != exit::NO_RESULTS {
        ui::warn("verify did not complete; nothing to diagnose");
        return code;
    }
    // Continue on the run this invocation created (not "latest", which a concurrent `ci`
    // sharing the artifacts directory could have replaced).
    let run = match RunDir::open(&v.executed.run_dir.path) {
        Ok(r) => r,
        Err(e) => {
            ui::error(&e, None);
            return exit::INFRA;
        }
    };
    let annotate = want_annotations(args.annotations, false, &lp.cfg);
    flow::after_verify(
        &lp,
        run,
        Some((v.executed.doc, v.digest)),
        Printing {
            json,
            annotate,
            stage_lines: false,
            notify: true,
        },
    )
}
