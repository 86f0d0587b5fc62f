//! clap definitions only: every command, flag and its help text. No behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "codeloop",
    version,
    about = "The CI evidence loop: run or collect tests, diagnose failures, gate, publish.",
    long_about = "codeloop runs your project's build/test/lint runners (or collects the reports \
earlier CI steps wrote), parses every common result format into one model, explains failures \
with file:line locations and repair tasks, computes a confidence score and a pass/fail gate, and \
publishes one sticky PR comment, a job summary and a badge.\n\nEvery run is a directory under \
<artifacts-dir>/runs/<run_id>/; each command reads and writes it, so stages also work alone.",
    after_help = "Exit codes: 0 gate passed, 1 gate failed (verify: a runner failed), 2 usage or \
config error, 3 no results where required, 4 infrastructure failure."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the project's runners (or collect reports) and write a new run directory.
    Verify(VerifyArgs),
    /// Show the latest run in a few lines.
    Status(StatusArgs),
    /// List runs; with --gc delete all but the newest N.
    History(HistoryArgs),
    /// Write a commented starter .codeloop/config.json and plugins.json for the detected stack
    /// (files that exist are kept; --force overwrites).
    Init(InitArgs),
    /// Check the setup: detected runners, tools on PATH, where runs go, what is wrong.
    Doctor(DoctorArgs),
    /// The GitHub Action entrypoint: reads INPUT_* and GITHUB_*, runs verify → diagnose →
    /// gate-check → report → publish, writes outputs and the job summary.
    Action(ActionArgs),
    /// Publish a finished run directory (sticky PR comment, check run, job summary).
    Publish(PublishArgs),
    /// Explain a run's failures: categories, file:line, evidence, repair tasks; writes
    /// diagnose.json, report/codeloop.sarif and report/gl-code-quality.json.
    Diagnose(DiagnoseArgs),
    /// Score a run and decide pass/fail; writes gate.json. Exit 0 pass, 1 fail, 3 no results.
    GateCheck(GateCheckArgs),
    /// verify → diagnose → gate-check → report in one command; exits with the gate's code.
    Ci(CiArgs),
    /// Render a run's sticky comment, job summary, badge and JUnit XML into <run>/report/.
    Report(ReportArgs),
    /// Fold shard run directories (CI matrix jobs, downloaded artifacts) into one new run,
    /// then diagnose, gate and report it once; exits with the gate's code.
    Merge(MergeArgs),
    /// Serve the Model Context Protocol on stdio for coding agents (Cursor, Claude Code, ...).
    Mcp(McpArgs),
    /// Serve the run directories read-only as HTML dashboards on localhost.
    Dashboard(DashboardArgs),
    /// POST a gated run's result to the configured webhooks (signed JSON or a Slack message).
    /// A webhook that cannot be delivered is a warning: exits 0 unless a setting is wrong.
    Notify(NotifyArgs),
    /// List every report format: its name (for --format-hint / result_format), what writes
    /// it and how `auto` recognises it.
    Formats(FormatsArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Readable lines (a live view in a terminal, plain lines in CI).
    #[default]
    Human,
    /// One stable JSON document on stdout.
    Json,
}

/// Flags shared by every command that looks at a project and its runs.
#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Project directory (where runners run and .codeloop/ lives).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub cwd: PathBuf,
    /// Where run directories go (default: <cwd>/.codeloop).
    #[arg(long, value_name = "DIR", env = "CODELOOP_ARTIFACTS_DIR")]
    pub artifacts_dir: Option<PathBuf>,
    /// Config file (default: <cwd>/.codeloop/config.json).
    #[arg(long, value_name = "FILE", env = "CODELOOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}

#[derive(Args, Debug, Clone, Default)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Only run this runner (repeatable).
    #[arg(long = "runner", value_name = "ID")]
    pub runners: Vec<String>,
    /// Collect result files matching GLOB instead of running anything (repeatable).
    #[arg(long = "report", value_name = "GLOB")]
    pub reports: Vec<String>,
    /// Parser for --report files (default: auto-detect). `codeloop formats` lists them.
    #[arg(long, value_name = "NAME")]
    pub format_hint: Option<String>,
    /// Per-runner timeout: seconds (900) or with a unit (90s, 15m, 2h, 1h30m), as the
    /// action's `timeout` input.
    #[arg(long, value_name = "DURATION", value_parser = crate::settings::parse_duration_secs)]
    pub timeout: Option<u64>,
    /// Runners to run in parallel (default: number of cores).
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Set by `ci --format json`: verify prints nothing on stdout, so that `ci` can print one
    /// JSON document at the end.
    #[arg(skip)]
    pub quiet: bool,
    /// Run only shard K of N (1-based) of a CI matrix: nextest/jest/vitest/pytest/go tests
    /// are split; other runners run whole in shard 1. Default: GitLab `parallel:`
    /// (CI_NODE_INDEX/CI_NODE_TOTAL). Fold the shards with `codeloop merge`.
    #[arg(long, value_name = "K/N", env = "CODELOOP_SHARD")]
    pub shard: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run id, `latest`, or a run directory path.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub common: Common,
    /// Delete old runs, keeping the newest --keep.
    #[arg(long)]
    pub gc: bool,
    /// How many runs --gc keeps.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub keep: usize,
    /// How many of the newest local runs the flaky and duration analysis reads.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub runs: usize,
    /// Write the local runs' history (the data branch's format, history.json.gz) to FILE.
    #[arg(long, value_name = "FILE")]
    pub export: Option<PathBuf>,
    /// Download the data branch's history to FILE (for `--history FILE` of ci/gate-check in
    /// merge-request pipelines); a missing or unusable history is a warning, exit code 0.
    #[arg(long, value_name = "FILE")]
    pub fetch: Option<PathBuf>,
    /// The data branch --fetch reads.
    #[arg(long, value_name = "NAME", default_value = "codeloop-data")]
    pub data_branch: String,
    /// With --fetch: the history of this comment key (`keys/KEY/` on the data branch), as
    /// `publish --comment-key KEY` writes it. Default: the unkeyed history.
    #[arg(long, value_name = "KEY")]
    pub comment_key: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct InitArgs {
    #[command(flatten)]
    pub common: Common,
    /// Overwrite existing files (without it, files that exist are kept and only the missing
    /// ones are written).
    #[arg(long)]
    pub force: bool,
    /// Also write (or update) .mcp.json so MCP clients find `codeloop mcp`.
    #[arg(long)]
    pub mcp: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ActionArgs {
    /// Render everything and post nothing (same as the `dry-run` input or ACT=true).
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct PublishArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run directory to publish (e.g. downloaded from another job's artifact), or a run id
    /// (default: the latest run). `--run` is the same flag.
    #[arg(long, alias = "run", value_name = "RUN_DIR")]
    pub from: Option<String>,
    /// Where to publish: auto (detect from the CI environment), github, gitlab, none (print only).
    #[arg(long, value_name = "FORGE", default_value = "auto")]
    pub forge: String,
    /// Pull request number (default: from the event payload). The fork recipe passes it.
    #[arg(long, value_name = "N")]
    pub pr: Option<u64>,
    /// Commit for the check run (default: the PR head from the event payload).
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// When to comment: always, on-failure, off.
    #[arg(long, value_name = "MODE")]
    pub comment: Option<String>,
    /// Also create a check run on the head commit.
    #[arg(long)]
    pub check_run: bool,
    /// Print what would be posted; post nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Key of the sticky comment/MR note: each key has its own comment, hidden state and
    /// baseline (e.g. `backend`, `frontend` in a monorepo). Default: the one unkeyed comment.
    #[arg(long, value_name = "KEY")]
    pub comment_key: Option<String>,
    /// Do not add the run to the history data branch (which a push to the default branch
    /// otherwise does; see docs/history.md).
    #[arg(long)]
    pub no_history: bool,
    /// The history data branch.
    #[arg(long, value_name = "NAME", default_value = "codeloop-data")]
    pub history_branch: String,
    /// Runs the history keeps.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub history_runs: usize,
}

#[derive(Args, Debug, Clone, Default)]
pub struct DiagnoseArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run id, `latest`, or a run directory path.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Print GitHub workflow-command annotations (default: only under GitHub Actions).
    #[arg(long)]
    pub annotations: bool,
    /// Never print annotations, even under GitHub Actions.
    #[arg(long, conflicts_with = "annotations")]
    pub no_annotations: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOnArg {
    /// Any failure fails the gate.
    Any,
    /// Only failures new against the baseline fail the gate.
    Regression,
}

/// Gate flags (override `gate` in .codeloop/config.json).
#[derive(Args, Debug, Clone, Default)]
pub struct GateFlags {
    /// Baseline: a run directory, a run id, a gate.json file, a saved codeloop comment (its
    /// hidden state), or `comment`: this PR's/MR's sticky comment of `--comment-key`, read
    /// through the API (GitHub or GitLab, detected from the CI environment).
    #[arg(long, value_name = "RUN_DIR|gate.json|FILE|comment")]
    pub baseline: Option<String>,
    /// With `--baseline comment`: the key of the sticky comment to read (see `publish`).
    #[arg(long, value_name = "KEY")]
    pub comment_key: Option<String>,
    /// Fail below this score (0–100).
    #[arg(long, value_name = "N")]
    pub min_score: Option<f64>,
    /// Fail with more failing (or, with --fail-on regression, new failing) tests than N.
    #[arg(long, value_name = "N")]
    pub max_failures: Option<u64>,
    /// Which failures fail the gate.
    #[arg(long, value_enum, value_name = "any|regression")]
    pub fail_on: Option<FailOnArg>,
    /// The base branch's history (history.json.gz from the data branch, see
    /// `codeloop history --fetch`): its newest run is the baseline unless --baseline is given,
    /// and the report shows new vs already failing, flaky and slower tests.
    #[arg(long, value_name = "FILE")]
    pub history: Option<PathBuf>,
    /// With --history: failing tests that are flaky in the history do not fail the gate
    /// (they are still listed).
    #[arg(long)]
    pub quarantine: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct GateCheckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run id, `latest`, or a run directory path.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    #[command(flatten)]
    pub gate: GateFlags,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CiArgs {
    #[command(flatten)]
    pub verify: VerifyArgs,
    #[command(flatten)]
    pub gate: GateFlags,
    /// Print GitHub workflow-command annotations (default: only under GitHub Actions).
    #[arg(long)]
    pub annotations: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct ReportArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run id, `latest`, or a run directory path.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Write report/comment.md (the sticky PR comment).
    #[arg(long)]
    pub comment: bool,
    /// Write report/summary.md (the job summary).
    #[arg(long)]
    pub summary: bool,
    /// Write report/badge.svg and report/badge.png.
    #[arg(long)]
    pub badge: bool,
    /// Write report/junit.xml (all runners' cases and lint findings).
    #[arg(long)]
    pub junit: bool,
    /// Write everything but the HTML (the default when no file is selected).
    #[arg(long)]
    pub all: bool,
    /// Write report/index.html: the self-contained dashboard page (no network needed).
    #[arg(long)]
    pub html: bool,
    /// Directory with comment.md, summary.md, report.html and/or badge.svg overriding the
    /// built-in templates (see docs/reports.md).
    #[arg(long, value_name = "DIR")]
    pub template_dir: Option<PathBuf>,
    /// A previous comment body (a file): its hidden state is the baseline for deltas.
    #[arg(long, value_name = "FILE")]
    pub baseline_from_comment: Option<PathBuf>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct MergeArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run directories to merge (each holds verify.json), or directories that contain them
    /// (e.g. an artifacts download with one folder per shard; searched three levels deep, so `shards/<leg>/.codeloop/runs/<id>` is found).
    #[arg(value_name = "RUN_DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Write the merged run to this directory (default: a new run under <artifacts-dir>/runs/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub gate: GateFlags,
    /// Only merge: skip diagnose, gate and report (exit 0 when the merged run was written).
    #[arg(long)]
    pub no_gate: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub common: Common,
    /// Run id, `latest` (the default), or a run directory path. It needs gate.json.
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct McpArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug, Clone, Default)]
pub struct DashboardArgs {
    #[command(flatten)]
    pub common: Common,
    /// TCP port to listen on.
    #[arg(long, value_name = "PORT", default_value_t = 3737)]
    pub port: u16,
    /// Address to bind (keep the default unless you mean to share the runs).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct FormatsArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
}
