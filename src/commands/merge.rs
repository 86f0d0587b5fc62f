//! `codeloop merge RUN_DIR... [--out DIR]`: flags → the merge stage (`pipeline::merge`:
//! shard runs folded into one new run) → diagnose → gate → report once on it from memory,
//! like `codeloop ci`.
//!
//! Exit codes: the gate's (0/1/3); 2 usage/config error; 3 nothing to merge; 4 the merged run
//! could not be written. Bad shards are warnings: the merge reports what it has.

use crate::cli::{MergeArgs, OutputFormat};
use crate::commands::flow::{self, Printing};
use crate::pipeline::Loop;
use crate::pipeline::diagnose::artifacts_dir;
use crate::pipeline::merge::{Keep, merge_dirs};
use crate::pipeline::options::{Common, ReportOptions};
use crate::{exit, ui};

pub fn run(args: MergeArgs) -> i32 {
    let common = Common::from(&args.common);
    let (cfg, cfg_warnings, g) = match flow::loop_settings(&common, &(&args.gate).into()) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let lp = Loop {
        cwd: common.cwd.clone(),
        artifacts: artifacts_dir(&common, &cfg),
        cfg,
        cfg_warnings,
        gate: g,
        flags: (&args.gate).into(),
        report: ReportOptions {
            common,
            all: true,
            html: true,
            ..ReportOptions::default()
        },
    };
    // What the stages after the merge need is kept while the fold writes the cases (as
    // `ci`'s verify does), so they read nothing back; `--no-gate` needs none of it.
    let keep = (!args.no_gate).then(|| Keep {
        // A baseline named up front: its comparison needs every test key's hash.
        tests: lp.flags.baseline.is_some() || lp.flags.history.is_some(),
        junit: lp.report.wanted().3,
    });
    let merged = match merge_dirs(
        &args.dirs,
        args.out.as_deref(),
        &lp.artifacts,
        &args.common.cwd,
        keep,
    ) {
        Ok(m) => m,
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint.as_deref());
            return code;
        }
    };
    let Some(digest) = merged.digest else {
        return exit::OK;
    };
    flow::after_verify(
        &lp,
        merged.run,
        Some((merged.verify, digest)),
        Printing {
            json: args.common.format == OutputFormat::Json,
            annotate: false,
            stage_lines: false,
            notify: true,
        },
    )
}
