//! The stages after verify as the adapters print them: diagnose → gate → report on one run
//! (in memory after `ci`'s and the action's verify and after a merge's fold; from disk when
//! no digest is handed over), then the verdict. Shared by `ci`, `merge` and the action;
//! returns the gate's exit code.

use crate::artifact::RunDir;
use crate::commands::output::{print_summary, print_verdict};
use crate::diagnose::output::{self, AnnotationLimits};
use crate::model::{DiagnoseDoc, GateDoc, VerifyDoc};
use crate::pipeline::diagnose::{DiagnoseError, artifacts_dir, config_path};
use crate::pipeline::digest::Digest;
use crate::pipeline::gate::{GateError, check_baseline, gate_config};
use crate::pipeline::options::{Common, GateFlags};
use crate::pipeline::{self, Loop};
use crate::settings::{Config, GateConfig};
use crate::{exit, gate, ui};

/// How the stages after verify print.
#[derive(Clone, Copy, Debug, Default)]
pub struct Printing {
    /// One JSON document at the end instead of the human lines.
    pub json: bool,
    /// GitHub annotations for the problems.
    pub annotate: bool,
    /// The stages' own lines, as `codeloop gate-check` and `codeloop report` print them (the
    /// action), instead of `ci`'s one report line before the verdict.
    pub stage_lines: bool,
    /// Send the configured webhooks after the report (`ci`, `merge`; the action notifies
    /// after publishing).
    pub notify: bool,
}

/// The settings of a whole-loop command (`ci`, `merge`), read before anything runs: the
/// config file, the gate's settings and `--baseline` (a bad gate setting or a baseline that
/// names nothing readable stops us before minutes of tests). A bad one is printed; `Err` is
/// its exit code. The config file's warnings are printed once, here.
pub fn loop_settings(
    common: &Common,
    flags: &GateFlags,
) -> Result<(Config, Vec<String>, GateConfig), i32> {
    let cfg_path = config_path(common);
    Config::load(&cfg_path)
        .map_err(|e| GateError::from(DiagnoseError::from(e)))
        .and_then(|(cfg, warnings)| {
            let g = gate_config(&cfg, &warnings, flags, &cfg_path)?;
            check_baseline(flags, &artifacts_dir(common, &cfg), &common.cwd)?;
            Ok((cfg, warnings, g))
        })
        .map_err(|e| {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            code
        })
}

/// Diagnose, gate and report `run`. `mem`: verify's documents and digest in memory (nothing
/// is read back); `None` reads the run directory.
pub fn after_verify(lp: &Loop, run: RunDir, mem: Option<(VerifyDoc, Digest)>, pr: Printing) -> i32 {
    let result = match mem {
        Some((verify, mut digest)) => pipeline::diagnose_and_gate(lp, run, verify, &mut digest)
            .map(|(l, g)| (l, g, Some(digest))),
        None => pipeline::diagnose_and_gate_on_disk(lp, run).map(|(l, g)| (l, g, None)),
    };
    let (mut loaded, doc, digest) = match result {
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
    if pr.annotate && !pr.json {
        for line in output::annotations(&loaded.doc, AnnotationLimits::default()) {
            crate::outln!("{line}");
        }
    }
    if !pr.json {
        print_summary(&loaded.doc, &loaded.run);
        if pr.stage_lines {
            print_verdict(&doc);
        }
    }
    // A report that cannot be written is a warning: the gate decides the code.
    let out = match digest {
        Some(d) => pipeline::report_from_memory(lp, &mut loaded, &doc, d),
        None => pipeline::report_on_disk(lp, &loaded.run),
    };
    let mut report_dir = None;
    match out {
        Ok(out) => {
            // The config file's warnings were printed when the settings were read (the
            // report keeps them among its notices for `--format json`).
            for n in out
                .notices
                .iter()
                .filter(|n| !lp.cfg_warnings.contains(n))
                .chain(&out.template_error)
            {
                ui::warn(n);
            }
            if !pr.json {
                if pr.stage_lines {
                    for f in &out.files {
                        crate::outln!("wrote {} ({} bytes)", f.path, f.bytes);
                    }
                } else {
                    crate::outln!(
                        "report: wrote {} files to {}",
                        out.files.len(),
                        out.report_dir
                    );
                }
            }
            report_dir = Some(out.report_dir);
        }
        Err(e) => ui::warn(&format!("report: {e}")),
    }
    // Webhooks, when configured. Warnings only: the gate decides the code.
    if pr.notify {
        crate::pipeline::notify::after_gate(&loaded.run.path, &lp.cfg, pr.json);
    }
    let code = gate::exit_code(&doc);
    if pr.json {
        print_json(&loaded.run, &loaded.doc, &doc, report_dir, code);
    } else if !pr.stage_lines {
        print_verdict(&doc);
    }
    // The process ends after this (the CLI and the action, never the MCP server): freeing
    // a big run's problems and keys one by one would only delay the exit.
    std::mem::forget(loaded);
    code
}

/// `ci --format json`: one stable document for scripts — where the run is, the verdict with
/// its reasons, the repair tasks, and the exit code ci exits with.
fn print_json(
    run: &RunDir,
    diagnose: &DiagnoseDoc,
    gate: &GateDoc,
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
