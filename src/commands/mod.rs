//! One module per CLI command: adapters from flags (or the action's inputs) to the
//! [`crate::pipeline`] and back to output. Each `run` returns an exit code from
//! [`crate::exit`]. No command module calls another: what several share lives in
//! [`output`] (what they print) and [`flow`] (the stages after verify, printed). The clap
//! types of [`crate::cli`] stop here: the conversions below hand the pipeline plain values.

pub mod action;
pub mod ci;
pub mod dashboard;
pub mod diagnose;
pub mod doctor;
pub mod flow;
pub mod formats;
pub mod gate_check;
pub mod history;
pub mod init;
pub mod mcp;
pub mod merge;
pub mod notify;
pub mod output;
pub mod publish;
pub mod report;
pub mod status;
pub mod verify;

use crate::cli;
use crate::pipeline::options;
use crate::settings::FailOn;

impl From<&cli::Common> for options::Common {
    fn from(c: &cli::Common) -> Self {
        options::Common {
            cwd: c.cwd.clone(),
            artifacts_dir: c.artifacts_dir.clone(),
            config: c.config.clone(),
        }
    }
}

impl From<&cli::VerifyArgs> for options::VerifyOptions {
    fn from(a: &cli::VerifyArgs) -> Self {
        options::VerifyOptions {
            common: (&a.common).into(),
            runners: a.runners.clone(),
            reports: a.reports.clone(),
            format_hint: a.format_hint.clone(),
            timeout: a.timeout,
            jobs: a.jobs,
            quiet: a.quiet || a.common.format == cli::OutputFormat::Json,
            shard: a.shard.clone(),
        }
    }
}

impl From<&cli::GateFlags> for options::GateFlags {
    fn from(g: &cli::GateFlags) -> Self {
        options::GateFlags {
            baseline: g.baseline.clone(),
            comment_key: g.comment_key.clone(),
            min_score: g.min_score,
            max_failures: g.max_failures,
            fail_on: g.fail_on.map(|f| match f {
                cli::FailOnArg::Any => FailOn::Any,
                cli::FailOnArg::Regression => FailOn::Regression,
            }),
            history: g.history.clone(),
            quarantine: g.quarantine,
        }
    }
}

impl From<&cli::ReportArgs> for options::ReportOptions {
    fn from(a: &cli::ReportArgs) -> Self {
        options::ReportOptions {
            common: (&a.common).into(),
            run: a.run.clone(),
            comment: a.comment,
            summary: a.summary,
            badge: a.badge,
            junit: a.junit,
            all: a.all,
            html: a.html,
            template_dir: a.template_dir.clone(),
            baseline_from_comment: a.baseline_from_comment.clone(),
        }
    }
}
