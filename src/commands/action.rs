//! `codeloop action`: the Docker action's entrypoint. Reads the inputs (`INPUT_*`) and the
//! job's context (`GITHUB_*`, the event payload), runs the pipeline — verify → diagnose →
//! gate → report in this process over one in-memory run (like `codeloop ci`), its output
//! fenced with `::stop-commands::` — then publishes and writes the step outputs.
//!
//! The exit code is the gate's (unless `fail-on-gate: false`); publishing problems are
//! warnings unless `fail-on-publish-error: true`.
//!
//! The previous sticky comment (of `comment-key`) is read once, after verify has put the run
//! on disk: its hidden state is the baseline of gate-check (`fail-on: regression`) and of the
//! report's deltas, and its listing is reused when the comment is updated.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::artifact::{self, RunDir};
use crate::cli::ActionArgs;
use crate::commands::flow::{self, Printing};
use crate::commands::output::{print_human, progress_mode, warn_unmatched};
use crate::exit;
use crate::model::Verdict;
use crate::pipeline::options::{Common, GateFlags, ReportOptions, VerifyOptions};
use crate::pipeline::{self, Loop};
use crate::publish::actions::{self, Redactor};
use crate::publish::context::{Env, GitHubContext};
use crate::publish::{self, Publisher};
use crate::settings::{CommentMode, Config, FailOn, GateConfig};

/// A bad input: which one, what it was, and what is accepted.
#[derive(Debug, thiserror::Error)]
#[error("input `{name}` is {value:?}: {expected}")]
pub struct InputError {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

/// The action's inputs, parsed and validated.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub token: Option<String>,
    pub reports: Vec<String>,
    pub runners: Vec<String>,
    pub working_directory: Option<String>,
    pub config: Option<String>,
    pub min_score: Option<f64>,
    pub fail_on: Option<FailOn>,
    pub comment: Option<CommentMode>,
    pub check_run: Option<bool>,
    pub summary: Option<bool>,
    pub annotations: Option<bool>,
    pub badge: bool,
    pub artifacts_dir: Option<String>,
    pub template_dir: Option<String>,
    pub dry_run: bool,
    pub timeout: Option<u64>,
    pub jobs: Option<usize>,
    pub fail_on_gate: bool,
    pub fail_on_publish_error: bool,
    pub allow_untrusted_commands: bool,
    pub comment_author: Option<String>,
    pub from: Option<String>,
    /// Glob of shard run directories to fold with `codeloop merge` (the fan-in job).
    pub merge: Option<String>,
    pub check_name: Option<String>,
    pub pr_number: Option<u64>,
    /// Keys the sticky comment (`comment-key`): own comment, hidden state and baseline.
    pub comment_key: Option<String>,
    /// The history data branch (`history`, `history-branch`, `history-runs`, `quarantine`).
    pub history: crate::publish::history::HistorySettings,
    /// Webhooks to notify after the gate (`webhook-urls`), besides config.json's.
    pub webhook_urls: Vec<String>,
    pub webhook_secret: Option<String>,
    pub webhook_format: Option<crate::notify::Format>,
}

fn bool_input(env: &Env, name: &'static str, default: bool) -> Result<bool, InputError> {
    match env.input(name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(InputError {
            name,
            value: v.into(),
            expected: "use true or false".into(),
        }),
    }
}

fn opt_bool(env: &Env, name: &'static str) -> Result<Option<bool>, InputError> {
    env.input(name)
        .map(|_| bool_input(env, name, false))
        .transpose()
}

/// A list input: one item a line or comma-separated, blanks and `#` comments ignored.
fn list_input(env: &Env, name: &str) -> Vec<String> {
    env.input(name)
        .map(|v| {
            v.lines()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A branch name we are willing to put in an API path (a conservative subset of git's rules).
fn valid_branch(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 200
        && !v.starts_with(['/', '.', '-'])
        && !v.ends_with(['/', '.'])
        && !v.contains("..")
        && !v.contains("//")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

impl Inputs {
    pub fn parse(env: &Env) -> Result<Inputs, InputError> {
        let s = |n: &str| env.input(n).map(str::to_string);
        let min_score = match env.input("min-score") {
            None => None,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if (0.0..=100.0).contains(&x) => Some(x),
                _ => {
                    return Err(InputError {
                        name: "min-score",
                        value: v.into(),
                        expected: "use a number from 0 to 100".into(),
                    });
                }
            },
        };
        let fail_on = match env.input("fail-on") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "any" => FailOn::Any,
                "regression" | "regressions" => FailOn::Regression,
                _ => {
                    return Err(InputError {
                        name: "fail-on",
                        value: v.into(),
                        expected: "use `any` (every failure fails the gate) or `regression` (only new failures do)".into(),
                    });
                }
            }),
        };
        let comment = match env.input("comment") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "always" | "true" => CommentMode::Always,
                "on-failure" | "on_failure" => CommentMode::OnFailure,
                "off" | "false" | "never" => CommentMode::Off,
                _ => {
                    return Err(InputError {
                        name: "comment",
                        value: v.into(),
                        expected: "use always, on-failure or off".into(),
                    });
                }
            }),
        };
        let timeout = match env.input("timeout") {
            None => None,
            Some(v) => Some(
                crate::settings::parse_duration_secs(v).map_err(|e| InputError {
                    name: "timeout",
                    value: v.into(),
                    expected: e,
                })?,
            ),
        };
        let jobs = match env.input("jobs") {
            None => None,
            Some(v) => Some(v.parse::<usize>().map_err(|_| InputError {
                name: "jobs",
                value: v.into(),
                expected: "use a whole number (0 = one per CPU core)".into(),
            })?),
        };
        let pr_number = match env.input("pr-number") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| InputError {
                name: "pr-number",
                value: v.into(),
                expected: "use the pull request's number (digits only)".into(),
            })?),
        };
        let comment_key = match env.input("comment-key") {
            None => None,
            Some(v) => {
                Some(
                    crate::publish::github::check_key(v).map_err(|expected| InputError {
                        name: "comment-key",
                        value: v.into(),
                        expected,
                    })?,
                )
            }
        };
        let history_runs = match env.input("history-runs") {
            None => crate::history::DEFAULT_MAX_RUNS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (2..=500).contains(n))
                .ok_or_else(|| InputError {
                    name: "history-runs",
                    value: v.into(),
                    expected: "use a whole number from 2 to 500 (runs kept on the data branch)"
                        .into(),
                })?,
        };
        let history_branch = match env.input("history-branch") {
            None => crate::history::DEFAULT_BRANCH.to_string(),
            Some(v) if valid_branch(v) => v.to_string(),
            Some(v) => {
                return Err(InputError {
                    name: "history-branch",
                    value: v.into(),
                    expected: "use a branch name (letters, digits, `-`, `_`, `.`, `/`)".into(),
                });
            }
        };
        let webhook_format = match env.input("webhook-format") {
            None => None,
            Some(v) => Some(v.parse().map_err(|e: String| InputError {
                name: "webhook-format",
                value: v.into(),
                expected: e,
            })?),
        };
        Ok(Inputs {
            comment_key,
            history: crate::publish::history::HistorySettings {
                enabled: bool_input(env, "history", true)?,
                branch: history_branch,
                max_runs: history_runs,
                quarantine: bool_input(env, "quarantine", false)?,
            },
            pr_number,
            token: s("github-token"),
            reports: list_input(env, "reports"),
            runners: list_input(env, "runners"),
            working_directory: s("working-directory"),
            config: s("config"),
            min_score,
            fail_on,
            comment,
            check_run: opt_bool(env, "check-run")?,
            summary: opt_bool(env, "summary")?,
            annotations: opt_bool(env, "annotations")?,
            badge: bool_input(env, "badge", true)?,
            artifacts_dir: s("artifacts-dir"),
            template_dir: s("template-dir"),
            dry_run: bool_input(env, "dry-run", false)?,
            timeout,
            jobs,
            fail_on_gate: bool_input(env, "fail-on-gate", true)?,
            fail_on_publish_error: bool_input(env, "fail-on-publish-error", false)?,
            allow_untrusted_commands: bool_input(env, "allow-untrusted-commands", false)?,
            comment_author: s("comment-author"),
            from: s("from"),
            merge: s("merge"),
            check_name: s("check-name"),
            webhook_urls: list_input(env, "webhook-urls"),
            webhook_secret: s("webhook-secret"),
            webhook_format,
        })
    }

    /// Applies the inputs over the project's config (inputs win over config.json).
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(x) = self.min_score {
            cfg.gate.min_score = x;
        }
        if let Some(x) = self.fail_on {
            cfg.gate.fail_on = x;
        }
        if let Some(x) = &self.template_dir {
            cfg.report.template_dir = Some(x.clone());
        }
        if let Some(x) = self.timeout {
            cfg.verify.timeout_sec = x;
        }
        if let Some(x) = self.jobs {
            cfg.verify.jobs = x;
        }
        if !self.reports.is_empty() {
            cfg.verify.reports = self.reports.clone();
        }
        if !self.runners.is_empty() {
            cfg.verify.runners = self.runners.clone();
        }
        if let Some(x) = self.comment {
            cfg.publish.comment = x;
        }
        if let Some(x) = self.check_run {
            cfg.publish.check_run = x;
        }
        if let Some(x) = self.summary {
            cfg.publish.summary = x;
        }
        if let Some(x) = self.annotations {
            cfg.publish.annotations = x;
        }
    }
}

pub use crate::pipeline::publish::publish_options;

/// Under `pull_request_target` the checkout may be the PR's code while the token can write:
/// running its runners or plugins would run untrusted code with that token. Returns the
/// input to fix (`runners` when set, else the missing `reports`) and why.
pub fn untrusted_refusal(ctx: &GitHubContext, inputs: &Inputs) -> Option<(&'static str, String)> {
    if ctx.event_name.as_deref() != Some("pull_request_target")
        || inputs.allow_untrusted_commands
        || inputs.from.is_some()
    {
        return None;
    }
    if !inputs.runners.is_empty() {
        return Some(("runners", "under `pull_request_target`, codeloop does not run `runners` from the checked-out pull request (it would run untrusted code with a write token)".into()));
    }
    if inputs.reports.is_empty() {
        return Some(("reports", "under `pull_request_target`, codeloop only collects reports: set `reports` to the result files an earlier step wrote (runners and plugins from the pull request are not run)".into()));
    }
    None
}

/// Fences the stages' output with `::stop-commands::` under GitHub Actions: test names and
/// runner output are untrusted, and a line like `::set-env` in them must not become a
/// workflow command. stderr is pointed at the fenced stdout meanwhile (the runner parses
/// commands on stderr too, and one stream keeps the order), and restored when the fence is
/// dropped.
struct Fence {
    token: String,
    saved_stderr: Option<i32>,
}

impl Fence {
    fn start(wrap: bool) -> Option<Fence> {
        if !wrap {
            return None;
        }
        let token = actions::random_token();
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "::stop-commands::{token}");
        let _ = out.flush();
        drop(out);
        let _ = std::io::stderr().flush();
        // SAFETY: dup/dup2 on the process's own standard descriptors; no Rust object owns
        // fd 2 (std's stderr writes to it unbuffered), and the copy is restored on drop.
        let saved = unsafe { libc::dup(2) };
        let saved_stderr = (saved >= 0 && unsafe { libc::dup2(1, 2) } >= 0).then_some(saved);
        if saved_stderr.is_none() && saved >= 0 {
            // SAFETY: `saved` is the descriptor dup returned above and nothing else uses it.
            unsafe { libc::close(saved) };
        }
        Some(Fence {
            token,
            saved_stderr,
        })
    }
}

impl Drop for Fence {
    fn drop(&mut self) {
        let _ = std::io::stderr().flush();
        let mut out = std::io::stdout().lock();
        let _ = out.flush();
        if let Some(fd) = self.saved_stderr.take() {
            // SAFETY: `fd` is our duplicate of the original stderr (see `start`).
            unsafe {
                libc::dup2(fd, 2);
                libc::close(fd);
            }
        }
        let _ = writeln!(out, "::{}::", self.token);
        let _ = out.flush();
    }
}

fn resolve_dir(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

pub fn run(args: ActionArgs) -> i32 {
    let env = Env::from_process();
    run_with(&env, args.dry_run, &mut crate::ui::Stdout)
}

/// The whole action with an explicit environment (the process env in production).
pub fn run_with(env: &Env, dry_flag: bool, out: &mut dyn Write) -> i32 {
    crate::interrupt::watch();
    let ctx = GitHubContext::from_env(env);
    let mut redactor = Redactor::from_env(env.iter());
    let inputs = match Inputs::parse(env) {
        Ok(i) => i,
        Err(e) => {
            crate::ui::error(&e, Some("fix the `with:` block of the codeloop step"));
            return exit::USAGE;
        }
    };
    let token = inputs
        .token
        .clone()
        .or_else(|| env.get("GITHUB_TOKEN").map(str::to_string));
    if let Some(t) = &token {
        redactor.add(t);
    }
    // Webhook URLs are credentials too (a Slack URL is its own key), like the secret.
    redactor.extend(inputs.webhook_urls.iter().chain(&inputs.webhook_secret));
    // Masks only on a real runner: elsewhere the commands would print the values.
    if env.is_true("GITHUB_ACTIONS") && !env.is_true("ACT") && !redactor.is_empty() {
        let _ = out.write_all(redactor.mask_commands().as_bytes());
    }
    if let Some(e) = &ctx.event_error {
        crate::ui::warn(&format!("event payload: {e}; PR details are unavailable"));
    }

    let workspace = env
        .get("GITHUB_WORKSPACE")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let wd = match &inputs.working_directory {
        Some(d) => resolve_dir(&workspace, d),
        None => workspace.clone(),
    };
    if !wd.is_dir() {
        crate::ui::error(
            &InputError {
                name: "working-directory",
                value: wd.display().to_string(),
                expected: "it is not a directory".into(),
            },
            Some("give a path relative to the repository root (GITHUB_WORKSPACE)"),
        );
        return exit::USAGE;
    }
    let config_path = match &inputs.config {
        Some(c) => resolve_dir(&wd, c),
        None => wd.join(crate::settings::CONFIG_PATH),
    };
    let mut cfg = match Config::load(&config_path) {
        Ok((c, warnings)) => {
            for w in warnings {
                crate::ui::warn(&w);
            }
            c
        }
        Err(e) => {
            crate::ui::error(
                &e,
                Some("fix the file or point the `config` input elsewhere"),
            );
            return exit::USAGE;
        }
    };
    // Variables the config names as secret (`redact.env`): masked like the built-in ones.
    let extra = Redactor::with_values(cfg.redact.env.iter().filter_map(|n| env.get(n)));
    if env.is_true("GITHUB_ACTIONS") && !env.is_true("ACT") && !extra.is_empty() {
        let _ = out.write_all(extra.mask_commands().as_bytes());
    }
    crate::redact::add_env_names(&cfg.redact.env, |n| env.get(n).map(str::to_string));
    redactor.extend(cfg.redact.env.iter().filter_map(|n| env.get(n)));
    inputs.apply(&mut cfg);
    let artifacts = match (&inputs.artifacts_dir, &cfg.verify.artifacts_dir) {
        (Some(a), _) | (None, Some(a)) => resolve_dir(&wd, a),
        (None, None) => wd.join(crate::settings::ARTIFACTS_DIR),
    };
    // Whatever is written below is the runner user's once we return (the container runs as
    // root): see artifact::owner.
    let _hand_back = artifact::owner::HandBack::new(&workspace, &artifacts);

    let mut opts = publish_options(&cfg, env, token);
    let dry_run = inputs.dry_run || dry_flag;
    opts.dry_run = dry_run;
    opts.author = inputs.comment_author.clone();
    opts.pr = inputs.pr_number;
    opts.comment_key = inputs.comment_key.clone();
    if let Some(n) = &inputs.check_name {
        opts.check_name = n.clone();
    }
    let publisher = Publisher::new(env, &ctx, opts, redactor);

    // The run to publish: an existing one (`from`), or a fresh one from the stages.
    let (run_dir, stage_code) = match &inputs.from {
        None if inputs.merge.is_some() => {
            let pattern = inputs.merge.as_deref().unwrap_or_default();
            let hist = base_history(&publisher, &inputs.history, &artifacts);
            match merge_stage(
                pattern,
                &wd,
                &artifacts,
                &cfg,
                &publisher,
                hist.as_deref(),
                inputs.history.quarantine,
            ) {
                Ok(x) => x,
                Err(code) => return code,
            }
        }
        Some(from) => {
            match artifact::resolve(&artifacts, Some(&resolve_dir(&wd, from).to_string_lossy())) {
                Ok(r) => (r.path, None),
                Err(e) => {
                    crate::ui::error(
                        &e,
                        Some("`from` must name a run directory (with manifest.json)"),
                    );
                    return exit::USAGE;
                }
            }
        }
        None => {
            if let Some((name, why)) = untrusted_refusal(&ctx, &inputs) {
                let value = if name == "runners" {
                    inputs.runners.join(",")
                } else {
                    inputs.reports.join(",")
                };
                crate::ui::error(
                    &InputError {
                        name,
                        value,
                        expected: why,
                    },
                    Some(
                        "set `allow-untrusted-commands: true` only if this workflow never checks out the PR's code",
                    ),
                );
                return exit::USAGE;
            }
            match run_stages(env, &inputs, &cfg, &wd, &artifacts, &publisher) {
                Ok(x) => x,
                Err(code) => return code,
            }
        }
    };

    let view = match publish::load_run(&run_dir) {
        Ok(v) => v,
        Err(e) => {
            crate::ui::error(
                &e,
                Some("the run directory is damaged; run the action again"),
            );
            return exit::INFRA;
        }
    };
    if stop_if_interrupted("before publishing").is_err() {
        return exit::INFRA;
    }
    let mut report = publisher.publish(&view, out);
    publish::outputs::write(
        env,
        &publish::outputs::run_outputs(&view, &report, &run_dir, &workspace, inputs.badge),
    );
    // A push to the default branch adds its run (and the badge) to the history data branch.
    let pushed = publisher.push_history(&inputs.history, &run_dir, &cfg.report.badge, out);
    if inputs.history.enabled {
        let url = publisher.badge_url(&inputs.history.branch);
        publish::outputs::write(env, &publish::outputs::history_outputs(url, &pushed));
    }
    report.errors.extend(pushed.warnings);
    // Webhooks, after the PR learned the verdict: warnings only, never the exit code.
    notify_stage(env, &inputs, &cfg, &run_dir, dry_run);

    let gate_code = match (view.verdict(), stage_code) {
        (_, Some(c)) if c == exit::INFRA => exit::INFRA,
        (Some(Verdict::Pass), _) => exit::OK,
        (Some(Verdict::Fail), Some(c)) if c == exit::NO_RESULTS => exit::NO_RESULTS,
        (Some(Verdict::Fail), _) => exit::GATE_FAILED,
        (None, Some(c)) => c,
        (None, None) => exit::OK,
    };
    let code = if inputs.fail_on_gate {
        gate_code
    } else {
        exit::OK
    };
    if inputs.fail_on_publish_error && !report.errors.is_empty() && code == exit::OK {
        crate::ui::warn("publishing failed and `fail-on-publish-error` is true");
        return exit::INFRA;
    }
    code
}

/// The notify step: the `webhook-*` inputs over the environment (`CODELOOP_WEBHOOK_*`), plus
/// config.json's `notify.webhooks`. A dry run (or `act`) posts nothing and says so.
fn notify_stage(env: &Env, inputs: &Inputs, cfg: &Config, run_dir: &Path, dry_run: bool) {
    use crate::pipeline::notify::{self, FORMAT_ENV, SECRET_ENV, URLS_ENV};
    let get = |k: &str| -> Option<String> {
        let input = match k {
            URLS_ENV => (!inputs.webhook_urls.is_empty()).then(|| inputs.webhook_urls.join("\n")),
            SECRET_ENV => inputs.webhook_secret.clone(),
            FORMAT_ENV => inputs.webhook_format.map(|f| match f {
                crate::notify::Format::Json => "json".to_string(),
                crate::notify::Format::Slack => "slack".to_string(),
            }),
            _ => None,
        };
        input.or_else(|| env.get(k).map(str::to_string))
    };
    if !notify::configured(&cfg.notify, &get) {
        return;
    }
    if dry_run {
        crate::ui::warn("notify: dry run: no webhook is posted");
        return;
    }
    let run = match artifact::RunDir::open(run_dir) {
        Ok(r) => r,
        Err(e) => {
            crate::ui::warn(&format!("notify: {e}"));
            return;
        }
    };
    match notify::notify_run(&run, &cfg.notify, &get) {
        Ok(s) => notify::print_human(&s, false),
        Err(e) => crate::ui::warn(&format!("notify: {e}")),
    }
}

/// The fan-in job (`merge:` input): folds the run directories matching `pattern` (relative to
/// the working directory) into one run, then diagnose → gate-check → report on it.
fn merge_stage(
    pattern: &str,
    wd: &Path,
    artifacts: &Path,
    cfg: &Config,
    publisher: &Publisher<'_>,
    history: Option<&Path>,
    quarantine: bool,
) -> Result<(PathBuf, Option<i32>), i32> {
    let dirs = match crate::pipeline::merge::runs_matching(wd, pattern) {
        Ok(d) => d,
        Err(e) => {
            crate::ui::error(
                &InputError {
                    name: "merge",
                    value: pattern.to_string(),
                    expected: format!("a glob of run directories ({e})"),
                },
                Some(
                    "for example `merge: 'shards/*'` after actions/download-artifact into shards/",
                ),
            );
            return Err(exit::USAGE);
        }
    };
    // The report writes junit.xml (`all`), and a baseline (the previous comment, the base
    // branch's history) is only known after the merge, as after the action's verify: on a
    // pull request the fold keeps the test keys' hashes (the previous comment is the usual
    // baseline), elsewhere the gate's hook reads them when there is one.
    let keep = crate::pipeline::merge::Keep {
        tests: publisher.may_read_previous_comment(),
        junit: true,
    };
    let merged = match crate::pipeline::merge::merge_dirs(&dirs, None, artifacts, wd, Some(keep)) {
        Ok(m) => m,
        Err(e) => {
            crate::ui::error(
                &e,
                Some("`merge` must match the downloaded shard run directories"),
            );
            return Err(exit::NO_RESULTS);
        }
    };
    // The merged run is on disk: the previous comment is the baseline for the deltas.
    let previous = publisher.save_previous_comment(artifacts);
    let common = Common {
        cwd: wd.to_path_buf(),
        artifacts_dir: Some(artifacts.to_path_buf()),
        config: None,
    };
    let lp = Loop {
        cwd: wd.to_path_buf(),
        artifacts: artifacts.to_path_buf(),
        cfg: cfg.clone(),
        cfg_warnings: Vec::new(),
        gate: cfg.gate.clone(),
        flags: gate_flags(history, quarantine, previous.as_deref()),
        report: ReportOptions {
            common,
            all: true,
            html: true,
            ..ReportOptions::default()
        },
    };
    let path = merged.run.path.clone();
    let mem = merged.digest.map(|d| (merged.verify, d));
    let code = flow::after_verify(&lp, merged.run, mem, Printing::default());
    Ok((path, Some(code)))
}

/// The gate's baseline (`fail-on: regression`): the base branch's history when this pull
/// request could read it (and its quarantine), else the previous comment's hidden state.
fn gate_flags(history: Option<&Path>, quarantine: bool, previous: Option<&Path>) -> GateFlags {
    GateFlags {
        baseline: match history {
            None => previous.map(|p| p.to_string_lossy().into_owned()),
            Some(_) => None,
        },
        history: history.map(Path::to_path_buf),
        quarantine: history.is_some() && quarantine,
        ..GateFlags::default()
    }
}

/// After a SIGINT/SIGTERM no further stage starts and nothing is published: the job is
/// being cancelled, and a verdict made from an interrupted run would be misleading.
fn stop_if_interrupted(when: &str) -> Result<(), i32> {
    match crate::interrupt::received() {
        None => Ok(()),
        Some(sig) => {
            crate::ui::error(
                &std::io::Error::other(format!(
                    "codeloop received {sig} {when}: stopped; nothing is published"
                )),
                Some(
                    "the run directory keeps what was written (verify records an interrupted run as such)",
                ),
            );
            Err(exit::INFRA)
        }
    }
}

/// Runs verify → diagnose → gate → report in this process. Returns the run directory and the
/// exit code that decides the build when there is no gate.json (the gate's, else verify's),
/// or verify's infrastructure failure (a run it could not write whole), which always wins.
///
/// The stages' output is fenced (verify's, then diagnose → gate → report's); between the two,
/// with the run on disk and outside the fence, the API is asked for the previous comment and
/// the base branch's history (nothing reaches the API before the run is on disk).
fn run_stages(
    env: &Env,
    inputs: &Inputs,
    cfg: &Config,
    wd: &Path,
    artifacts: &Path,
    publisher: &Publisher<'_>,
) -> Result<(PathBuf, Option<i32>), i32> {
    // The effective config (config.json + inputs), written where the run's readers find it.
    let eff = artifacts.join("action-config.json");
    if let Err(e) = artifact::write_json(&eff, cfg) {
        crate::ui::error(&e, Some("make the artifacts directory writable"));
        return Err(exit::INFRA);
    }
    let wrap = env.is_true("GITHUB_ACTIONS");
    let common = Common {
        cwd: wd.to_path_buf(),
        artifacts_dir: Some(artifacts.to_path_buf()),
        config: Some(eff.clone()),
    };
    let fence = Fence::start(wrap);
    let fenced = fenced_verify(
        inputs,
        cfg,
        &common,
        &eff,
        publisher.may_read_previous_comment(),
    );
    // Our own messages (not the stages') go out after the fence, on the real stderr.
    drop(fence);
    let (run, verified, g) = match fenced {
        Fenced::Verified {
            run,
            verified,
            gate,
        } => (run, verified, gate),
        Fenced::Interrupted(when) => {
            stop_if_interrupted(when)?;
            return Err(exit::INFRA);
        }
        Fenced::NoRun(code) => {
            crate::ui::error(
                &InputError {
                    name: "reports",
                    value: inputs.reports.join(","),
                    expected: "verify produced no run directory".into(),
                },
                Some("see the verify output above"),
            );
            return Err(code);
        }
        Fenced::Failed(code) => return Err(code),
    };
    // Nothing is sent to the API before the run is on disk: the previous comment is read
    // now, once (its listing is reused by the upsert).
    let previous = publisher.save_previous_comment(artifacts);
    // A pull request reads the base branch's history (read-only): the gate's baseline, and
    // the report's new-vs-already-failing, flaky and slower tests.
    let history = base_history(publisher, &inputs.history, artifacts);
    let lp = Loop {
        cwd: wd.to_path_buf(),
        artifacts: artifacts.to_path_buf(),
        cfg: cfg.clone(),
        cfg_warnings: Vec::new(),
        gate: g,
        flags: gate_flags(
            history.as_deref(),
            inputs.history.quarantine,
            previous.as_deref(),
        ),
        report: ReportOptions {
            common,
            // The previous comment's hidden state is the report's baseline for deltas.
            baseline_from_comment: previous,
            template_dir: inputs.template_dir.as_deref().map(|t| resolve_dir(wd, t)),
            ..ReportOptions::default()
        },
    };
    let verified = *verified;
    let verify_code = verified.executed.code;
    let fence = Fence::start(wrap);
    // Annotations are printed by publish, after the fence.
    let gate_code = flow::after_verify(
        &lp,
        run.clone(),
        Some((verified.executed.doc, verified.digest)),
        Printing {
            json: false,
            annotate: false,
            stage_lines: true,
            notify: false,
        },
    );
    drop(fence);
    stop_if_interrupted("during report")?;
    // verify could not write its run whole (disk full, read-only): the verdict is still
    // published from what was kept, but the step reports the infrastructure failure.
    if verify_code == exit::INFRA {
        return Ok((run.path, Some(verify_code)));
    }
    Ok((run.path, Some(gate_code)))
}

/// How the fenced verify ended.
enum Fenced {
    /// The run is on disk; the gate's settings were checked before it started.
    Verified {
        run: RunDir,
        verified: Box<pipeline::Verified>,
        gate: GateConfig,
    },
    /// A signal arrived (when): nothing after it runs, nothing is published.
    Interrupted(&'static str),
    /// verify wrote no complete run (its exit code).
    NoRun(i32),
    /// A setting stopped the stages (the error is printed).
    Failed(i32),
}

/// The verify stage, printing only its own output (inside the fence).
/// `keep_tests`: keep every test key's hash while parsing (a previous comment, the likely
/// baseline of a pull request, is read only after verify).
fn fenced_verify(
    inputs: &Inputs,
    cfg: &Config,
    common: &Common,
    eff: &Path,
    keep_tests: bool,
) -> Fenced {
    // Settings once: the gate's are checked before any runner starts.
    let g = match crate::pipeline::gate::gate_config(cfg, &[], &GateFlags::default(), eff) {
        Ok(g) => g,
        Err(e) => {
            let (code, hint) = e.exit_and_hint();
            crate::ui::error(&e, hint);
            return Fenced::Failed(code);
        }
    };
    let vopts = VerifyOptions {
        common: common.clone(),
        runners: inputs.runners.clone(),
        reports: inputs.reports.clone(),
        ..VerifyOptions::default()
    };
    let prepared = match pipeline::verify::prepare(&vopts) {
        Ok(p) => p,
        Err(f) => {
            f.print();
            return Fenced::NoRun(if f.code == exit::OK {
                exit::INFRA
            } else {
                f.code
            });
        }
    };
    for w in &prepared.warnings {
        crate::ui::warn(w);
    }
    let ws = prepared.resolved.cwd.clone();
    // A baseline (the previous comment, the base branch's history) is only known after
    // verify. On a pull request the previous comment usually is one, so the parse keeps the
    // test keys' hashes (a second pass over cases.jsonl was ~60 % of a 100,000-case
    // action); elsewhere the gate's hook reads them when a baseline turns up.
    let v = match pipeline::verify(&vopts, prepared, progress_mode(false), keep_tests, true) {
        Ok(v) => v,
        Err(f) => {
            f.print();
            return Fenced::NoRun(exit::INFRA);
        }
    };
    warn_unmatched(&v.executed.doc);
    print_human(&v.executed.doc, &v.executed.run_dir, &ws);
    if crate::interrupt::received().is_some() {
        return Fenced::Interrupted("during verify");
    }
    let verify_code = v.executed.code;
    match RunDir::open(&v.executed.run_dir.path) {
        Ok(run) => Fenced::Verified {
            run,
            verified: Box::new(v),
            gate: g,
        },
        Err(_) => Fenced::NoRun(if verify_code == exit::OK {
            exit::INFRA
        } else {
            verify_code
        }),
    }
}

/// The base branch's history (`base-history.json.gz` in the artifacts directory) when this is
/// a pull request and the data branch has a usable one; `None` otherwise.
fn base_history(
    publisher: &Publisher<'_>,
    s: &crate::publish::history::HistorySettings,
    artifacts: &Path,
) -> Option<PathBuf> {
    let dest = artifacts.join("base-history.json.gz");
    publisher.fetch_history(s, &dest, &mut crate::ui::Stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_and_name_the_bad_one() {
        let env = Env::from_pairs([
            ("INPUT_REPORTS", "junit/*.xml, build/a.json\n# note\nx.tap"),
            ("INPUT_MIN-SCORE", "85"),
            ("INPUT_COMMENT", "on-failure"),
            ("INPUT_TIMEOUT", "15m"),
            ("INPUT_FAIL-ON-GATE", "FALSE"),
        ]);
        let i = Inputs::parse(&env).unwrap();
        assert_eq!(i.reports, ["junit/*.xml", "build/a.json", "x.tap"]);
        assert_eq!(i.min_score, Some(85.0));
        assert_eq!(i.comment, Some(CommentMode::OnFailure));
        assert_eq!(i.timeout, Some(900));
        assert!(!i.fail_on_gate && i.badge);
        let mut cfg = Config::default();
        i.apply(&mut cfg);
        assert_eq!(cfg.gate.min_score, 85.0);
        assert_eq!(cfg.verify.timeout_sec, 900);

        let e = Inputs::parse(&Env::from_pairs([("INPUT_CHECK-RUN", "yes")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `check-run` is \"yes\": use true or false"
        );
        let e = Inputs::parse(&Env::from_pairs([("INPUT_MIN_SCORE", "120")])).unwrap_err();
        assert!(e.to_string().contains("0 to 100"), "{e}");
    }

    #[test]
    fn pull_request_target_only_collects() {
        let ctx = GitHubContext {
            event_name: Some("pull_request_target".into()),
            ..Default::default()
        };
        let mut i = Inputs::default();
        let (name, why) = untrusted_refusal(&ctx, &i).unwrap();
        assert_eq!(name, "reports");
        assert!(why.contains("set `reports`"), "{why}");
        i.reports = vec!["r.xml".into()];
        assert!(untrusted_refusal(&ctx, &i).is_none());
        i.runners = vec!["pytest".into()];
        let (name, why) = untrusted_refusal(&ctx, &i).unwrap();
        assert_eq!(name, "runners");
        assert!(why.contains("untrusted code"), "{why}");
        i.allow_untrusted_commands = true;
        assert!(untrusted_refusal(&ctx, &i).is_none());
        let push = GitHubContext {
            event_name: Some("pull_request".into()),
            ..Default::default()
        };
        assert!(untrusted_refusal(&push, &Inputs::default()).is_none());
    }
}
