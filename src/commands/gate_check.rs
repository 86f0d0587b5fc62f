//! `codeloop gate-check`: flags → the gate stage alone on a run directory (diagnosing it
//! first, without writing diagnose.json) → print the verdict; exits with the gate's code.

use crate::artifact;
use crate::cli::{GateCheckArgs, OutputFormat};
use crate::commands::output::print_verdict;
use crate::gate;
use crate::model::GateDoc;
use crate::pipeline::diagnose::{DiagnoseError, artifacts_dir, config_path};
use crate::pipeline::gate::{GateError, gate_config};
use crate::pipeline::options::GateFlags;
use crate::settings::Config;
use crate::ui;

pub fn run(args: GateCheckArgs) -> i32 {
    let common: crate::pipeline::options::Common = (&args.common).into();
    let cfg_path = config_path(&common);
    let result = (|| -> Result<GateDoc, GateError> {
        let (cfg, warnings) = Config::load(&cfg_path).map_err(DiagnoseError::from)?;
        let flags = GateFlags::from(&args.gate);
        let g = gate_config(&cfg, &warnings, &flags, &cfg_path)?;
        let artifacts = artifacts_dir(&common, &cfg);
        let run = artifact::resolve(&artifacts, args.run.as_deref())?;
        // With --history: the base branch's history (baseline, history.json, quarantine).
        crate::pipeline::gate_alone(run, &flags, &g, &artifacts, &args.common.cwd).map(|x| x.1)
    })();
    match result {
        Ok(doc) => {
            match args.common.format {
                OutputFormat::Json => {
                    crate::ui::out(&serde_json::to_string_pretty(&doc).unwrap_or_default())
                }
                OutputFormat::Human => print_verdict(&doc),
            }
            gate::exit_code(&doc)
        }
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            code
        }
    }
}
