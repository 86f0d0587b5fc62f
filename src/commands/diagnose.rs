//! `codeloop diagnose`: flags → the diagnose stage alone on a run directory → print.

use crate::artifact;
use crate::cli::{DiagnoseArgs, OutputFormat};
use crate::commands::output::print_summary;
use crate::diagnose::output::{self, AnnotationLimits};
use crate::pipeline::diagnose::{
    DiagnoseError, Loaded, artifacts_dir, config_path, diagnose_stage, want_annotations,
};
use crate::settings::Config;
use crate::{exit, ui};

pub fn run(args: DiagnoseArgs) -> i32 {
    let cfg = match Config::load(&config_path(&(&args.common).into())) {
        Ok((c, warnings)) => {
            for w in warnings {
                ui::warn(&w);
            }
            c
        }
        Err(e) => {
            let e = DiagnoseError::from(e);
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            return code;
        }
    };
    let result = (|| -> Result<Loaded, DiagnoseError> {
        let run = artifact::resolve(
            &artifacts_dir(&(&args.common).into(), &cfg),
            args.run.as_deref(),
        )?;
        Ok(diagnose_stage(run, &args.common.cwd)?)
    })();
    match result {
        Ok(l) => {
            if want_annotations(args.annotations, args.no_annotations, &cfg) {
                for line in output::annotations(&l.doc, AnnotationLimits::default()) {
                    crate::outln!("{line}");
                }
            }
            match args.common.format {
                OutputFormat::Json => {
                    crate::ui::out(&serde_json::to_string_pretty(&l.doc).unwrap_or_default());
                }
                OutputFormat::Human => print_summary(&l.doc, &l.run),
            }
            exit::OK
        }
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            ui::error(&e, hint);
            code
        }
    }
}
