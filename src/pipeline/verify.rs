//! The verify stage: loads settings, plans the runners (built-in detection + plugins.json, or
//! collect mode with `--report`), runs them, and writes a new run directory: events.jsonl,
//! cases.jsonl, findings.jsonl, runners/<id>/, verify.json, and manifest.json last. The parse
//! streams every case to a worker thread that writes cases.jsonl and hands each case on to
//! an optional [`Tap`] (the pipeline's in-memory run, so the stages after verify never read
//! cases.jsonl back).
//!
//! Exit codes ([`Executed::code`]): 0 every runner passed, 1 a runner did not pass, 2
//! usage/config error, 3 nothing to run or collect, 4 the run directory could not be written
//! or codeloop was interrupted. Prints nothing but errors; `commands::verify` prints.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::options::{Common, VerifyOptions};
use crate::artifact::events::{Event, Events, JsonlWriter};
use crate::artifact::manifest::{Context, Manifest};
use crate::artifact::{self, RunDir};
use crate::exit;
use crate::model::{
    Counts, LintCounts, RunStatus, RunnerKind, RunnerSource, RunnerStatus, SCHEMA_VERSION, Shard,
    VerifyDoc,
};
use crate::parsers::{Format, FormatKind, ParseOptions};
use crate::runners::collect::Tap;
use crate::runners::progress::{Mode, Progress};
pub use crate::runners::run::NO_MATCH;
use crate::runners::run::{Planned, Shared, run_all};
use crate::runners::{RunnerDef, collect::normalize, detect, merge, plugins, select, shard};
use crate::settings::{self, Config};
use crate::ui;

/// Upper bounds for numbers from config/env/flags (a typo like 1e18 must not overflow).
pub const MAX_JOBS: usize = 256;
pub const MAX_GRACE_SEC: u64 = 3600;

/// The id of the runner `--report` creates.
pub const REPORTS_RUNNER: &str = "reports";

/// What `verify --format json` prints.
#[derive(Serialize)]
pub struct VerifyOutput<'a> {
    #[serde(flatten)]
    pub doc: &'a VerifyDoc,
    /// Absolute path of the run directory.
    pub run_dir: String,
    /// The exit code codeloop exits with.
    pub exit_code: i32,
}

/// Settings resolved from defaults < config.json < env < CLI flags.
pub struct Resolved {
    pub cwd: PathBuf,
    pub config: Config,
    pub artifacts_dir: PathBuf,
    pub warnings: Vec<String>,
}

/// A user-facing failure before or around the run: message, hint, exit code.
pub struct Fail {
    pub message: String,
    pub hint: Option<String>,
    pub code: i32,
    /// Warnings found on the way (printed before the error).
    pub warnings: Vec<String>,
}

impl Fail {
    fn usage(message: String, hint: Option<String>) -> Fail {
        Fail {
            message,
            hint,
            code: exit::USAGE,
            warnings: Vec::new(),
        }
    }
    pub fn print(&self) {
        for w in &self.warnings {
            ui::warn(w);
        }
        crate::errln!("error: {}", self.message);
        if let Some(h) = &self.hint {
            crate::errln!("hint: {h}");
        }
    }
}

/// Resolves the project directory, config file (plus env) and artifacts directory.
pub fn resolve_settings(common: &Common) -> Result<Resolved, Fail> {
    let cwd = std::fs::canonicalize(&common.cwd).map_err(|e| {
        Fail::usage(
            format!(
                "cannot use `{}` as the project directory: {e}",
                common.cwd.display()
            ),
            Some("pass an existing directory with --cwd".into()),
        )
    })?;
    if !cwd.is_dir() {
        return Err(Fail::usage(
            format!("`{}` is not a directory", cwd.display()),
            Some("pass a directory with --cwd".into()),
        ));
    }
    // Paths given on the command line (or env) are relative to where codeloop was started,
    // like every other CLI; paths inside config.json are relative to the project.
    let here = |p: &PathBuf| -> PathBuf {
        if p.is_absolute() {
            p.clone()
        } else {
            std::env::current_dir()
                .map(|d| d.join(p))
                .unwrap_or_else(|_| p.clone())
        }
    };
    let cfg_path = common
        .config
        .as_ref()
        .map(here)
        .unwrap_or_else(|| cwd.join(settings::CONFIG_PATH));
    if common.config.is_some() && !cfg_path.is_file() {
        return Err(Fail::usage(
            format!("config file `{}` does not exist", cfg_path.display()),
            Some("check --config / CODELOOP_CONFIG, or run `codeloop init`".into()),
        ));
    }
    let (mut config, warnings) =
        Config::load(&cfg_path).map_err(|e| Fail::usage(e.to_string(), e.hint()))?;
    config
        .apply_env(|k| std::env::var(k).ok())
        .map_err(|e| Fail::usage(e.to_string(), e.hint()))?;
    crate::redact::add_env_names(&config.redact.env, |k| std::env::var(k).ok());
    let artifacts_dir = match (&common.artifacts_dir, &config.verify.artifacts_dir) {
        (Some(p), _) => here(p),
        (None, Some(p)) if Path::new(p).is_absolute() => PathBuf::from(p),
        (None, Some(p)) => cwd.join(p),
        (None, None) => cwd.join(settings::ARTIFACTS_DIR),
    };
    Ok(Resolved {
        cwd,
        config,
        artifacts_dir: normalize(&artifacts_dir),
        warnings,
    })
}

/// The plan and whether it is collect mode.
pub struct PlanOut {
    pub plan: Vec<Planned>,
    pub collect_mode: bool,
    pub warnings: Vec<String>,
}

/// Builds the plan: `--report` globs (collect mode) or built-ins + plugins, then selection.
pub fn plan(
    r: &Resolved,
    reports: &[String],
    hint: Option<Format>,
    only: &[String],
) -> Result<PlanOut, Fail> {
    let mut warnings = Vec::new();
    if !reports.is_empty() {
        let kind = match hint.map(Format::kind) {
            Some(FormatKind::Findings) => RunnerKind::Lint,
            _ => RunnerKind::Test,
        };
        let mut d = RunnerDef::new(REPORTS_RUNNER, kind, RunnerSource::Collect);
        d.result_files = reports.to_vec();
        d.result_format = hint;
        return Ok(PlanOut {
            plan: vec![Planned {
                def: d,
                decided: None,
            }],
            collect_mode: true,
            warnings,
        });
    }
    let builtin = if r.config.verify.builtin_runners {
        detect::detect(&r.cwd, &detect::PathTools)
    } else {
        Vec::new()
    };
    let plugins_path = r.cwd.join(settings::PLUGINS_PATH);
    let p = plugins::load(&plugins_path).map_err(|e| Fail::usage(e.to_string(), Some(e.hint())))?;
    warnings.extend(p.warnings);
    if let Some(first) = p.errors.first() {
        let mut f = Fail::usage(
            p.errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\nerror: "),
            Some(first.hint()),
        );
        f.warnings = warnings;
        return Err(f);
    }
    let all = merge(builtin, p.runners);
    let chosen = select(all, only).map_err(|m| {
        Fail::usage(
            m,
            Some("run `codeloop doctor` to see the detected runners".into()),
        )
    })?;
    let plan = chosen
        .into_iter()
        .map(|def| {
            let decided = def.detect_file.as_ref().and_then(|f| {
                (!r.cwd.join(f).exists()).then(|| {
                    (
                        RunnerStatus::Skipped,
                        format!(
                            "detect_file `{f}` not found in `{}`: this runner does not apply here",
                            r.cwd.display()
                        ),
                    )
                })
            });
            Planned { def, decided }
        })
        .collect();
    Ok(PlanOut {
        plan,
        collect_mode: false,
        warnings,
    })
}

/// Creates `<artifacts>/runs/<new id>/` (never reusing an existing directory).
pub fn create_run_dir(artifacts_dir: &Path) -> Result<RunDir, Fail> {
    let root = artifact::runs_root(artifacts_dir);
    let infra = |e: std::io::Error, p: &Path| {
        Fail {
        message: format!("cannot create the run directory under `{}`: {e}", p.display()),
        hint: Some(
            "make it writable, or write runs elsewhere with --artifacts-dir DIR (or CODELOOP_ARTIFACTS_DIR)"
                .into(),
        ),
        code: exit::INFRA,
        warnings: Vec::new(),
    }
    };
    std::fs::create_dir_all(&root).map_err(|e| infra(e, &root))?;
    for _ in 0..16 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let id = artifact::new_run_id(now.as_secs() as i64, now.subsec_nanos());
        let path = root.join(&id);
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(RunDir { path, id }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(infra(e, &root)),
        }
    }
    Err(Fail {
        message: format!("could not pick a fresh run id under `{}`", root.display()),
        hint: None,
        code: exit::INFRA,
        warnings: Vec::new(),
    })
}

/// Git/CI context from the environment (GitHub Actions, GitLab CI).
pub fn context_from_env() -> Context {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if var("GITHUB_ACTIONS").is_some() {
        let server = var("GITHUB_SERVER_URL");
        let repo = var("GITHUB_REPOSITORY");
        let run_url = match (&server, &repo, var("GITHUB_RUN_ID")) {
            (Some(s), Some(r), Some(id)) => Some(format!("{s}/{r}/actions/runs/{id}")),
            _ => None,
        };
        // The PR's head commit, not GITHUB_SHA (a merge commit nobody sees: links to it show
        // other lines than the author's), and the PR number from the event payload.
        let gh = crate::publish::context::GitHubContext::from_env(
            &crate::publish::context::Env::from_process(),
        );
        return Context {
            ci: Some("github".into()),
            repository: repo,
            sha: gh.head_sha(),
            pr_number: gh.pr_number(),
            git_ref: var("GITHUB_REF"),
            server_url: server,
            run_url,
        };
    }
    if var("GITLAB_CI").is_some() {
        return Context {
            ci: Some("gitlab".into()),
            repository: var("CI_PROJECT_PATH"),
            sha: var("CI_COMMIT_SHA"),
            git_ref: var("CI_COMMIT_REF_NAME"),
            server_url: var("CI_SERVER_URL"),
            run_url: var("CI_JOB_URL"),
            pr_number: var("CI_MERGE_REQUEST_IID").and_then(|n| n.parse().ok()),
        };
    }
    Context {
        ci: var("CI").map(|_| "unknown".into()),
        ..Default::default()
    }
}

/// The shard to run: `--shard`/`CODELOOP_SHARD` wins, else GitLab `parallel:`
/// (`CI_NODE_INDEX`/`CI_NODE_TOTAL`). `None` runs everything.
pub fn resolve_shard(
    flag: Option<&str>,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<Shard>, String> {
    if let Some(f) = flag.filter(|f| !f.trim().is_empty()) {
        return shard::parse(f).map(|s| (s.total > 1).then_some(s));
    }
    match shard::from_gitlab(
        var("CI_NODE_INDEX").as_deref(),
        var("CI_NODE_TOTAL").as_deref(),
    ) {
        None => Ok(None),
        Some(r) => r.map(Some),
    }
}

/// Which pytest shard plugin the project's Python can import (pytest-split preferred).
fn probe_pytest_plugin(cwd: &Path) -> Option<shard::PytestPlugin> {
    use detect::Tools;
    let py = if detect::PathTools.has("python3") {
        "python3"
    } else {
        "python"
    };
    let can_import = |module: &str| {
        std::process::Command::new(py)
            .args(["-c", &format!("import {module}")])
            .current_dir(cwd)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if can_import("pytest_split") {
        Some(shard::PytestPlugin::Split)
    } else if can_import("pytest_shard") {
        Some(shard::PytestPlugin::Shard)
    } else {
        None
    }
}

/// Points `runs/latest` at `id` (a relative symlink, replaced atomically). Best effort.
pub fn update_latest(artifacts_dir: &Path, id: &str) {
    let root = artifact::runs_root(artifacts_dir);
    let tmp = root.join(format!(".latest.tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    if std::os::unix::fs::symlink(id, &tmp).is_ok()
        && std::fs::rename(&tmp, root.join("latest")).is_err()
    {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// Settings, plan and a fresh run directory: everything before the runners start.
pub struct Prepared {
    pub resolved: Resolved,
    pub planned: PlanOut,
    pub run_dir: RunDir,
    /// Config and plugins warnings (the caller shows them).
    pub warnings: Vec<String>,
    /// The CI shard this run covers (`--shard K/N`, GitLab `parallel:`), if any.
    pub shard: Option<Shard>,
}

impl Prepared {
    /// The warnings beyond the config file's own (the plan's, the plugins'): a caller that
    /// read the config file itself before (`ci`, the action) has shown those already.
    pub fn plan_warnings(&self) -> &[String] {
        self.warnings
            .get(self.resolved.warnings.len()..)
            .unwrap_or_default()
    }
}

/// Resolves settings, builds the plan and creates the run directory; prints nothing, so the
/// MCP server (whose stdout is the protocol) can call it too.
pub fn prepare(args: &VerifyOptions) -> Result<Prepared, Fail> {
    let resolved = resolve_settings(&args.common)?;
    let mut warnings = resolved.warnings.clone();
    let with_warnings = |mut f: Fail, w: &[String]| {
        let mut all = w.to_vec();
        all.append(&mut f.warnings);
        f.warnings = all;
        f
    };
    let hint = match args.format_hint.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(name) => match Format::from_name(name) {
            Some(f) => Some(f),
            None => {
                return Err(with_warnings(
                    Fail::usage(
                        format!("unknown --format-hint `{name}`"),
                        Some(format!(
                            "use `auto` or one of: {}",
                            Format::names().join(", ")
                        )),
                    ),
                    &warnings,
                ));
            }
        },
    };
    let reports = if args.reports.is_empty() {
        resolved.config.verify.reports.clone()
    } else {
        args.reports.clone()
    };
    let only = if args.runners.is_empty() {
        resolved.config.verify.runners.clone()
    } else {
        args.runners.clone()
    };
    let shard = resolve_shard(args.shard.as_deref(), |k| std::env::var(k).ok()).map_err(|e| {
        with_warnings(
            Fail::usage(
                e,
                Some(
                    "pass --shard K/N (or CODELOOP_SHARD), or leave it out to run everything"
                        .into(),
                ),
            ),
            &warnings,
        )
    })?;
    let mut planned =
        plan(&resolved, &reports, hint, &only).map_err(|f| with_warnings(f, &warnings))?;
    if let Some(s) = shard {
        let pytest = planned
            .plan
            .iter()
            .any(|p| p.def.id == "pytest" && p.def.source == RunnerSource::Builtin)
            .then(|| probe_pytest_plugin(&resolved.cwd))
            .flatten();
        for p in &mut planned.plan {
            shard::apply(p, s, pytest);
        }
    }
    warnings.extend(planned.warnings.iter().cloned());
    if planned.plan.is_empty() {
        return Err(Fail {
            message: format!(
                "nothing to run in `{}`: no runner detected and {}",
                resolved.cwd.display(),
                if resolved.cwd.join(settings::PLUGINS_PATH).is_file() {
                    format!("{} lists no runner", settings::PLUGINS_PATH)
                } else {
                    format!("no {}", settings::PLUGINS_PATH)
                }
            ),
            hint: Some(if resolved.cwd.join(settings::PLUGINS_PATH).is_file() {
                "add a runner to `runners` in .codeloop/plugins.json (README.md, \"The Plugin SDK\"), or collect existing reports with --report 'GLOB'"
                    .into()
            } else {
                "run `codeloop init` to write a starter plugins.json, or collect existing reports with --report 'GLOB'"
                    .into()
            }),
            code: exit::NO_RESULTS,
            warnings,
        });
    }
    let run_dir =
        create_run_dir(&resolved.artifacts_dir).map_err(|f| with_warnings(f, &warnings))?;
    Ok(Prepared {
        resolved,
        planned,
        run_dir,
        warnings,
        shard,
    })
}

/// Runs a prepared plan on its own single-threaded runtime, stopping the runners on
/// SIGINT/SIGTERM (a second signal kills them at once). `Err` only when the runtime cannot
/// start.
pub fn run_prepared(
    args: &VerifyOptions,
    p: Prepared,
    mode: Mode,
    tap: Option<Box<dyn Tap>>,
) -> Result<Executed, Fail> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail {
            message: format!("cannot start the async runtime: {e}"),
            hint: None,
            code: exit::INFRA,
            warnings: Vec::new(),
        })?;
    Ok(rt.block_on(execute(args, p, mode, tap)))
}

async fn execute(
    args: &VerifyOptions,
    p: Prepared,
    mode: Mode,
    tap: Option<Box<dyn Tap>>,
) -> Executed {
    // Ctrl-C / SIGTERM: stop the runners, then write what we have. Registered before any
    // runner starts, so no signal can slip past the handler.
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let reason = Arc::new(Mutex::new(None::<String>));
    {
        use tokio::signal::unix::{SignalKind, signal};
        let reason = reason.clone();
        let streams = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        tokio::spawn(async move {
            let (Ok(mut int), Ok(mut term)) = streams else {
                return;
            };
            let which = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            if let Ok(mut r) = reason.lock() {
                *r = Some(format!("received {which}"));
            }
            let _ = cancel_tx.send(true);
            // A second signal while the runners are being stopped: SIGKILL them now instead
            // of waiting out the grace period (the run directory is written as usual).
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
            crate::runners::exec::force_stop();
            // Keep the sender alive so receivers never see a closed channel.
            std::future::pending::<()>().await;
        });
    }
    execute_prepared(args, p, mode, cancel_rx, reason, tap).await
}

/// Left in `Shared` when the stream is taken back.
struct NoTap;

impl Tap for NoTap {
    fn case(&mut self, _: &crate::model::Case) {}
    fn case_view(&mut self, _: &crate::model::CaseView<'_>) {}
    fn finding(&mut self, _: &crate::model::Finding) {}
}

/// What [`execute_prepared`] produced.
pub struct Executed {
    pub doc: VerifyDoc,
    pub run_dir: RunDir,
    /// verify's exit code (0 all passed, 1 a runner failed, 3 nothing collected, 4 infra).
    pub code: i32,
}

/// Runs a prepared plan and writes the run directory (verify.json, manifest.json last).
/// Prints only errors (to stderr). `cancel_rx` turning true stops the runners; `reason` says
/// why (recorded as a `run.interrupted` event when it happens). `tap` sees every case and
/// finding, on the thread that writes cases.jsonl, and is dropped there before this returns.
pub async fn execute_prepared(
    args: &VerifyOptions,
    p: Prepared,
    mode: Mode,
    cancel_rx: tokio::sync::watch::Receiver<bool>,
    reason: Arc<Mutex<Option<String>>>,
    tap: Option<Box<dyn Tap>>,
) -> Executed {
    let Prepared {
        resolved,
        planned,
        run_dir,
        shard,
        ..
    } = p;
    let started_at = artifact::now_rfc3339();
    let redact_generation = crate::redact::generation();
    // The big files are written and hashed on a worker thread, beside the parse.
    let open = |name: &str| JsonlWriter::create_offloaded(&run_dir.file(name));
    let (events, cases, findings) = match (
        Events::create(&run_dir.file(artifact::EVENTS)),
        open(artifact::CASES),
        open(artifact::FINDINGS),
    ) {
        (Ok(e), Ok(c), Ok(f)) => (e, c, f),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            crate::errln!(
                "error: cannot write into the run directory `{}`: {e}",
                run_dir.path.display()
            );
            crate::errln!("hint: make it writable, or pass --artifacts-dir DIR");
            let now = artifact::now_rfc3339();
            return Executed {
                doc: VerifyDoc {
                    schema_version: SCHEMA_VERSION,
                    run_id: run_dir.id.clone(),
                    started_at,
                    finished_at: now,
                    status: RunStatus::Failed,
                    cwd: resolved.cwd.to_string_lossy().into_owned(),
                    shard,
                    runners: Vec::new(),
                    totals: Counts::default(),
                    lint: LintCounts::default(),
                    slowest: Vec::new(),
                },
                run_dir,
                code: exit::INFRA,
            };
        }
    };
    let mut ev = Event::new("run.started");
    ev.schema_version = Some(SCHEMA_VERSION);
    ev.run_id = Some(run_dir.id.clone());
    ev.message = Some(resolved.cwd.to_string_lossy().into_owned());
    events.emit(ev);

    let cfg = &resolved.config.verify;
    let jobs = args
        .jobs
        .filter(|j| *j > 0)
        .or((cfg.jobs > 0).then_some(cfg.jobs))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .min(MAX_JOBS);
    // cases.jsonl and the tap after it run on a worker thread: the parse's thread hands
    // each case over and goes on (the JSON of a million cases was a sixth of it).
    let (cases_tap, cases_back) = crate::runners::collect::CasesTap::new(cases, tap);
    let stream = super::digest::ThreadedTap::spawn(Box::new(cases_tap));
    let rows: Vec<(String, RunnerKind)> = planned
        .plan
        .iter()
        .map(|p| (p.def.id.clone(), p.def.kind))
        .collect();
    let mut allowed = vec![resolved.cwd.clone()];
    if !planned.collect_mode {
        allowed.push(run_dir.path.clone());
    }
    let shared = Arc::new(Shared {
        cwd: resolved.cwd.clone(),
        run_id: run_dir.id.clone(),
        run_dir: run_dir.path.clone(),
        jobs,
        timeout_override: args.timeout.filter(|t| *t > 0),
        timeout_default: cfg.timeout_sec.max(1),
        grace: Duration::from_secs(cfg.grace_sec.min(MAX_GRACE_SEC)),
        limits: cfg.limits.clone(),
        opts: ParseOptions {
            max_text_bytes: cfg.max_text_bytes.max(256),
        },
        allowed,
        exclude: vec![resolved.artifacts_dir.clone()],
        stream: Mutex::new(stream),
        findings: Mutex::new(findings),
        events,
        progress: Progress::new(mode, &rows),
        slow: Mutex::new(Vec::new()),
    });

    // Record the interruption when it happens (not after the runners stop).
    let watcher = {
        let shared = shared.clone();
        let mut rx = cancel_rx.clone();
        tokio::spawn(async move {
            if rx.wait_for(|v| *v).await.is_ok() {
                let why = reason
                    .lock()
                    .ok()
                    .and_then(|r| r.clone())
                    .unwrap_or_else(|| "cancelled".into());
                shared
                    .events
                    .emit(Event::new("run.interrupted").message(why));
            }
        })
    };
    let ticker = if mode == Mode::Live {
        let shared = shared.clone();
        Some(tokio::spawn(async move {
            loop {
                shared.progress.draw();
                tokio::time::sleep(Duration::from_millis(120)).await;
            }
        }))
    } else {
        None
    };
    shared.events.stage(
        if planned.collect_mode {
            "collect"
        } else {
            "run"
        },
        false,
        Some(format!("{} runner(s), up to {jobs} at a time", rows.len())),
    );
    let finished = run_all(planned.plan, shared.clone(), cancel_rx.clone()).await;
    shared.events.stage(
        if planned.collect_mode {
            "collect"
        } else {
            "run"
        },
        true,
        None,
    );
    if let Some(t) = ticker {
        t.abort();
        shared.progress.draw();
    }
    let was_interrupted = *cancel_rx.borrow();
    if was_interrupted {
        let _ = watcher.await;
    } else {
        watcher.abort();
    }

    // Every runner has ended: take the stream back and let it finish (dropping it waits
    // until its worker wrote the last case and the tap saw it; an aborted ticker may still
    // hold `shared`), then close the streamed files before verify.json and the manifest.
    {
        // A runner's thread that panicked while holding it leaves it poisoned, not broken.
        let mut t = shared.stream.lock().unwrap_or_else(|p| p.into_inner());
        drop(std::mem::replace(&mut *t, Box::new(NoTap)));
    }
    let mut io_errors = Vec::new();
    let cases = cases_back.lock().unwrap_or_else(|p| p.into_inner()).take();
    if cases.is_none() {
        io_errors.push(format!(
            "cannot write `{}`: its writer thread stopped",
            run_dir.file(artifact::CASES).display()
        ));
    }
    let mut finish = |w: &mut JsonlWriter| {
        w.finish();
        if let Some(e) = w.error.take() {
            io_errors.push(e);
        }
    };
    if let Some(mut w) = cases {
        finish(&mut w);
    }
    if let Ok(mut w) = shared.findings.lock() {
        finish(&mut w);
    }
    let mut totals = Counts::default();
    let mut lint = LintCounts::default();
    for r in &finished.results {
        totals.add(&r.counts);
        lint.add(&r.lint);
    }
    let all_passed = finished
        .results
        .iter()
        .all(|r| matches!(r.status, RunnerStatus::Passed | RunnerStatus::Skipped));
    let status = if was_interrupted {
        RunStatus::Interrupted
    } else if all_passed {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    };
    let finished_at = artifact::now_rfc3339();
    let doc = VerifyDoc {
        schema_version: SCHEMA_VERSION,
        run_id: run_dir.id.clone(),
        started_at: started_at.clone(),
        finished_at: finished_at.clone(),
        status,
        cwd: resolved.cwd.to_string_lossy().into_owned(),
        shard,
        runners: finished.results,
        totals,
        lint,
        slowest: finished.slowest,
    };
    let sync = resolved.config.verify.fsync;
    if let Err(e) = artifact::write_json_with(&run_dir.file(artifact::VERIFY), &doc, sync) {
        io_errors.push(e.to_string());
    }
    let mut code = if was_interrupted {
        exit::INFRA
    } else if planned.collect_mode && doc.runners.iter().all(|r| r.result_files.is_empty()) {
        exit::NO_RESULTS
    } else if all_passed {
        exit::OK
    } else {
        exit::GATE_FAILED
    };
    let mut ev = Event::new("run.finished").status(match status {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    });
    ev.exit_code = Some(code);
    shared.events.emit(ev);
    if let Some(e) = shared.events.error() {
        io_errors.push(e);
    }
    redact_run_dir(&run_dir, redact_generation);
    // manifest.json LAST: its presence marks the run complete.
    // With write errors the manifest is still written (the verdict can be computed from
    // what was kept) but it names the files that are partial.
    let written = Manifest::write_with(
        &run_dir,
        started_at,
        finished_at,
        status,
        shard,
        context_from_env(),
        sync,
    )
    .and_then(|m| {
        if io_errors.is_empty() {
            Ok(m)
        } else {
            Manifest {
                errors: io_errors.clone(),
                ..m
            }
            .rewrite(&run_dir, sync)
        }
    });
    match written {
        Ok(_) => update_latest(&resolved.artifacts_dir, &run_dir.id),
        Err(e) => io_errors.push(e.to_string()),
    }
    if !io_errors.is_empty() {
        for e in &io_errors {
            crate::errln!("error: {e}");
        }
        crate::errln!(
            "hint: the run directory `{}` is incomplete (what was written before is kept); free disk space, or write runs elsewhere with --artifacts-dir DIR (CODELOOP_ARTIFACTS_DIR, or `verify.artifacts_dir` in .codeloop/config.json)",
            run_dir.path.display()
        );
        code = exit::INFRA;
    }
    Executed { doc, run_dir, code }
}

/// The last redaction pass before the manifest: files a runner wrote into the run directory
/// itself (only copies we made went through the redactor), and, when a runner's
/// `::add-mask::` added a secret during the run, the streamed files written before it was
/// known — events.jsonl too (a command holding the value is in `runner.started`): verify
/// writes no event after `run.finished`, and later stages append by path, to the new file.
fn redact_run_dir(run_dir: &RunDir, generation_at_start: u64) {
    let redactor = crate::redact::current();
    let masks_added = crate::redact::generation() != generation_at_start;
    let ours = [
        artifact::CASES,
        artifact::FINDINGS,
        artifact::VERIFY,
        artifact::EVENTS,
    ];
    // A result file's copy went through the redactor as it was written: read again only
    // when a secret was added since, or the file changed after it was written.
    let redacted_copy = |p: &Path| {
        crate::redact::fs::redacted_with_current(p)
            && std::fs::symlink_metadata(p).is_ok_and(|m| artifact::recorded_hash(p, &m).is_some())
    };
    let skip = |p: &Path| {
        (p.parent() == Some(run_dir.path.as_path())
            && p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n == artifact::MANIFEST || (!masks_added && ours.contains(&n))))
            || redacted_copy(p)
    };
    let (_, errors) = crate::redact::fs::redact_tree(&redactor, &run_dir.path, &skip);
    // A file that cannot be read or rewritten (a runner's unreadable file, a full disk) is a
    // warning naming it: the evidence is still the run's, and the run is not failed for it.
    for e in errors {
        ui::warn(&format!("{e}; the file may still hold a secret"));
    }
}
