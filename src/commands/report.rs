//! `codeloop report`: flags → the report stage alone on a run directory → print the files
//! written. A template with a syntax error exits 2 (the files use the built-in one).

use crate::artifact::ArtifactError;
use crate::cli::{OutputFormat, ReportArgs};
use crate::exit;
use crate::pipeline::digest::DigestLost;
use crate::pipeline::report::{ReportCmdError, render_run};
use crate::ui;

pub fn run(args: ReportArgs) -> i32 {
    match render_run(&(&args).into()) {
        Ok(out) => {
            match args.common.format {
                OutputFormat::Json => crate::outln!(
                    "{}",
                    serde_json::to_string_pretty(&out).unwrap_or_else(|_| "{}".into())
                ),
                OutputFormat::Human => {
                    for n in &out.notices {
                        ui::warn(n);
                    }
                    for f in &out.files {
                        crate::outln!("wrote {} ({} bytes)", f.path, f.bytes);
                    }
                }
            }
            if let Some(e) = &out.template_error {
                crate::errln!("error: {e}");
                crate::errln!(
                    "hint: fix the template; the files above were rendered with the built-in one"
                );
                return exit::USAGE;
            }
            exit::OK
        }
        Err(e) => {
            let (code, hint) = match &e {
                ReportCmdError::Artifact(
                    ArtifactError::NoRuns(_)
                    | ArtifactError::NoSuchRun { .. }
                    | ArtifactError::Incomplete(_),
                ) => (
                    exit::USAGE,
                    Some("pass --run ID (see `codeloop history`) or run `codeloop verify` first"),
                ),
                ReportCmdError::Settings(_) => (exit::USAGE, None),
                ReportCmdError::Lost(_) => (exit::INFRA, Some(DigestLost::HINT)),
                _ => (exit::INFRA, None),
            };
            ui::error(&e, hint);
            code
        }
    }
}
