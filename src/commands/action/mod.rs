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
use crate::settings::{Config, GateConfig};

mod inputs;
pub use inputs::{InputError, Inputs, untrusted_refusal};

pub use crate::pipeline::publish::publish_options;

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
    // A `config` input that names no file is a typo, not "use the defaults": the gate the
    // workflow meant would be silently replaced by the default one (as `--config` refuses).
    if inputs.config.is_some() && !config_path.is_file() {
        crate::ui::error(
            &InputError {
                name: "config",
                value: inputs.config.clone().unwrap_or_default(),
                expected: format!("`{}` is not a file", config_path.display()),
            },
            Some(
                "give the config file's path relative to `working-directory`, or remove the input to use .codeloop/config.json",
            ),
        );
        return exit::USAGE;
    }
    let mut cfg = match Config::load(&config_path) {
        Ok((c, warnings)) => {
            // A misspelled gate rule stops the step, as it stops `codeloop ci`: ignored, it
            // would let a gate pass that should fail.
            if let Err(e) = crate::pipeline::gate::check_gate_keys(&warnings) {
                let (code, hint) = e.exit_and_hint();
                crate::ui::error(&e, hint);
                return code;
            }
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
    // Under `pull_request_target` the config file is the pull request's, while the job holds
    // a write token: its webhooks would let the PR choose where the results go and which
    // variable signs them (a `secret_env` of GITHUB_TOKEN). Only the workflow's own
    // `webhook-urls` are posted, unless the workflow opted in.
    if ctx.event_name.as_deref() == Some("pull_request_target")
        && !inputs.allow_untrusted_commands
        && !cfg.notify.webhooks.is_empty()
    {
        crate::ui::warn(&format!(
            "notify: the {} webhook(s) of {} are not posted under `pull_request_target` (the file is the pull request's): set `webhook-urls` in the workflow instead",
            cfg.notify.webhooks.len(),
            config_path.display()
        ));
        cfg.notify.webhooks.clear();
    }
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
            // verify's own error (inside the fence) speaks the CLI's flags; say it again in
            // the inputs' words.
            let hint = if inputs.reports.is_empty() && inputs.runners.is_empty() {
                "set `reports:` to the result files an earlier step wrote (e.g. `reports: 'reports/**/*.xml'`), or `runners:` to the runners to run, or add .codeloop/plugins.json (`codeloop init` writes a starter)"
            } else {
                "see the verify output above"
            };
            crate::ui::error(
                &InputError {
                    name: "reports",
                    value: inputs.reports.join(","),
                    expected: "verify produced no run directory".into(),
                },
                Some(hint),
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
    // The config file's warnings were printed when the action read it.
    for w in prepared.plan_warnings() {
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
