//! `codeloop status`: the latest (or a chosen) run in a few lines, or as JSON. Also says when
//! newer runs exist that are incomplete (interrupted, or still running).

use serde::Serialize;

use crate::artifact::{self, RunDir};
use crate::cli::{OutputFormat, StatusArgs};
use crate::exit;
use crate::model::{Counts, LintCounts, RunStatus, RunnerStatus};
use crate::pipeline::verify::resolve_settings;
use crate::runners::run::summary;

/// What `status --format json` prints.
#[derive(Serialize)]
pub struct StatusOutput {
    pub schema_version: u32,
    pub run_id: String,
    pub run_dir: String,
    pub status: RunStatus,
    pub started_at: String,
    pub finished_at: String,
    pub totals: Counts,
    pub lint: LintCounts,
    pub runners: Vec<RunnerLine>,
    /// Newer run ids without manifest.json (interrupted or still running).
    pub incomplete_newer: Vec<String>,
}

#[derive(Serialize)]
pub struct RunnerLine {
    pub id: String,
    pub status: RunnerStatus,
    pub duration: f64,
    pub summary: String,
}

pub fn run(args: StatusArgs) -> i32 {
    let r = match resolve_settings(&(&args.common).into()) {
        Ok(r) => r,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    let rd: RunDir = match artifact::resolve(&r.artifacts_dir, args.run.as_deref()) {
        Ok(rd) => rd,
        Err(e) => {
            let incomplete = artifact::list_runs(&r.artifacts_dir)
                .into_iter()
                .filter(|x| !x.is_complete())
                .count();
            let hint = if incomplete > 0 {
                format!(
                    "{incomplete} incomplete run(s) exist (no manifest.json): they were interrupted or are still running"
                )
            } else {
                "run `codeloop verify` first (or pass --artifacts-dir / --run)".into()
            };
            crate::ui::error(&e, Some(&hint));
            return exit::NO_RESULTS;
        }
    };
    let doc = match rd.verify() {
        Ok(d) => d,
        Err(e) => {
            crate::ui::error(
                &e,
                Some("the run directory is damaged; run `codeloop verify` again"),
            );
            return exit::INFRA;
        }
    };
    let incomplete_newer: Vec<String> = artifact::list_runs(&r.artifacts_dir)
        .into_iter()
        .filter(|x| x.id > rd.id && !x.is_complete())
        .map(|x| x.id)
        .collect();
    if args.common.format == OutputFormat::Json {
        let out = StatusOutput {
            schema_version: crate::model::SCHEMA_VERSION,
            run_id: doc.run_id.clone(),
            run_dir: rd.path.to_string_lossy().into_owned(),
            status: doc.status,
            started_at: doc.started_at.clone(),
            finished_at: doc.finished_at.clone(),
            totals: doc.totals,
            lint: doc.lint,
            runners: doc
                .runners
                .iter()
                .map(|x| RunnerLine {
                    id: x.id.clone(),
                    status: x.status,
                    duration: x.duration,
                    summary: summary(x),
                })
                .collect(),
            incomplete_newer,
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => crate::outln!("{s}"),
            Err(e) => crate::errln!("error: {e}"),
        }
        return exit::OK;
    }
    let word = match doc.status {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    };
    crate::outln!("run {} ({word}), finished {}", doc.run_id, doc.finished_at);
    let t = &doc.totals;
    crate::outln!(
        "tests: {} total, {} passed, {} failed, {} errored, {} skipped",
        t.tests,
        t.passed,
        t.failed,
        t.errored,
        t.skipped
    );
    let width = doc.runners.iter().map(|x| x.id.len()).max().unwrap_or(0);
    for x in &doc.runners {
        crate::outln!(
            "  {:width$}  {:11}  {}",
            x.id,
            x.status.as_str(),
            summary(x)
        );
    }
    for id in &incomplete_newer {
        crate::outln!("note: newer run {id} is incomplete (interrupted or still running)");
    }
    exit::OK
}
