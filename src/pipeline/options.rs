//! What the entry points hand the pipeline: plain values, resolved from flags (`commands/`),
//! action inputs (`commands::action`) or MCP tool arguments (`mcp`). No clap type crosses
//! into the pipeline; each entry point converts its own.

use std::path::PathBuf;

use crate::settings::FailOn;

/// Where the project, its config and its runs are.
#[derive(Clone, Debug, Default)]
pub struct Common {
    /// The working directory: runners run here, `.codeloop/` lives here.
    pub cwd: PathBuf,
    /// Where run directories go (default: `<cwd>/.codeloop`, or `verify.artifacts_dir`).
    pub artifacts_dir: Option<PathBuf>,
    /// The config file (default: `<cwd>/.codeloop/config.json`).
    pub config: Option<PathBuf>,
}

/// The verify stage's settings beyond the config file.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    pub common: Common,
    /// Only these runners.
    pub runners: Vec<String>,
    /// Collect these result files (globs) instead of running anything.
    pub reports: Vec<String>,
    /// Parser for the reports (default: auto-detect).
    pub format_hint: Option<String>,
    pub timeout: Option<u64>,
    pub jobs: Option<usize>,
    /// Print nothing on stdout while running (one JSON document comes at the end).
    pub quiet: bool,
    /// `K/N` of a CI matrix.
    pub shard: Option<String>,
}

/// Gate settings that override the config file.
#[derive(Clone, Debug, Default)]
pub struct GateFlags {
    /// A run directory, run id, gate.json or saved codeloop comment to compare with, or
    /// `comment`: the PR's/MR's sticky comment of `comment_key`, read through the API.
    pub baseline: Option<String>,
    /// With `baseline: comment`: the key of the sticky comment to read.
    pub comment_key: Option<String>,
    pub min_score: Option<f64>,
    pub max_failures: Option<u64>,
    pub fail_on: Option<FailOn>,
    /// The base branch's history (history.json.gz): its newest run is the baseline unless
    /// `baseline` is given, and the report shows what it says (`crate::pipeline::history`).
    pub history: Option<PathBuf>,
    /// With `history`: failing tests that are flaky in the history do not fail the gate.
    pub quarantine: bool,
}

/// What the report stage renders (nothing selected means everything).
#[derive(Clone, Debug, Default)]
pub struct ReportOptions {
    pub common: Common,
    /// The run (id, path or `latest`; default: the newest complete run).
    pub run: Option<String>,
    pub comment: bool,
    pub summary: bool,
    pub badge: bool,
    pub junit: bool,
    pub all: bool,
    pub html: bool,
    pub template_dir: Option<PathBuf>,
    /// A previous sticky comment whose hidden state is the baseline for deltas.
    pub baseline_from_comment: Option<PathBuf>,
}

impl ReportOptions {
    /// Which files to render: (comment, summary, badge, junit).
    pub fn wanted(&self) -> (bool, bool, bool, bool) {
        let none_selected =
            !(self.comment || self.summary || self.badge || self.junit || self.html);
        let all = self.all || none_selected;
        (
            all || self.comment,
            all || self.summary,
            all || self.badge,
            all || self.junit,
        )
    }
}
