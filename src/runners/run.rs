//! Running a plan of runners: build runners first, test runners wait for them (and are
//! `blocked` when one failed), lint runners start at once (but clippy, which compiles what
//! the build compiles, waits like a test runner: [`super::RunnerDef::after_build`]); at most
//! `jobs` at a time. Each runner's result files are collected after it ends (also after a
//! failure or a timeout: partial reports are evidence). Cancellation stops running runners
//! and marks the rest `interrupted`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use super::collect::{self, Collected, JsonlWriter};
use super::exec::{self, Ended, Spawn};
use super::limits;
use super::progress::Progress;
use super::{RunnerDef, Vars, env_vars, find_on_path, interpolate};
use crate::artifact::events::{Event, Events};
use crate::model::{RunnerKind, RunnerLimits, RunnerResult, RunnerSource, RunnerStatus, SlowTest};
use crate::parsers::ParseOptions;

/// The longest timeout honoured (a week); larger values are clamped, not overflowed.
pub const MAX_TIMEOUT_SEC: u64 = 7 * 24 * 3600;

/// A runner in the plan, possibly already decided (`skipped` because its detect_file is
/// missing).
#[derive(Clone, Debug)]
pub struct Planned {
    pub def: RunnerDef,
    pub decided: Option<(RunnerStatus, String)>,
}

/// Everything the runners share.
pub struct Shared {
    pub cwd: PathBuf,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub jobs: usize,
    /// `--timeout` (wins over everything).
    pub timeout_override: Option<u64>,
    /// config/env default (a plugin's `timeout_sec` wins over it).
    pub timeout_default: u64,
    pub grace: Duration,
    /// `verify.limits` (a plugin runner's own `limits` win key by key).
    pub limits: crate::settings::LimitsConfig,
    pub opts: ParseOptions,
    /// Roots result files may come from.
    pub allowed: Vec<PathBuf>,
    /// Never walked by `**` globs (the artifacts dir).
    pub exclude: Vec<PathBuf>,
    /// Every case and finding the runners' result files yield (cases.jsonl and the
    /// pipeline's in-memory run: [`collect::CasesTap`]).
    pub stream: Mutex<Box<dyn collect::Tap>>,
    pub findings: Mutex<JsonlWriter>,
    pub events: Events,
    pub progress: Progress,
    /// The slowest tests of every runner (merged and cut to N at the end).
    pub slow: Mutex<Vec<SlowTest>>,
}

/// What [`run_all`] returns: results in plan order and the slowest tests overall.
pub struct Finished {
    pub results: Vec<RunnerResult>,
    pub slowest: Vec<SlowTest>,
}

/// Runs the plan. `cancel` turning true stops everything.
pub async fn run_all(
    plan: Vec<Planned>,
    shared: Arc<Shared>,
    cancel: watch::Receiver<bool>,
) -> Finished {
    let sem = Arc::new(Semaphore::new(shared.jobs.max(1)));
    // Failed build runner ids, once every build runner has ended.
    let (builds_tx, builds_rx) = watch::channel::<Option<Vec<String>>>(None);
    let mut build_handles = Vec::new();
    let mut handles = Vec::new();
    for p in plan.iter().cloned() {
        let shared = shared.clone();
        let sem = sem.clone();
        let cancel = cancel.clone();
        let builds_rx = builds_rx.clone();
        let is_build = p.def.kind == RunnerKind::Build;
        let h = tokio::spawn(async move { run_one(p, shared, sem, cancel, builds_rx).await });
        if is_build {
            build_handles.push(handles.len());
        }
        handles.push(h);
    }
    // Join build runners first (their results gate the test runners), then the rest.
    let mut results: Vec<Option<RunnerResult>> = vec![None; handles.len()];
    let mut handles: Vec<Option<tokio::task::JoinHandle<RunnerResult>>> =
        handles.into_iter().map(Some).collect();
    let mut failed_builds = Vec::new();
    for &i in &build_handles {
        if let Some(h) = handles[i].take() {
            let r = join(h, &plan[i].def).await;
            if r.status != RunnerStatus::Passed && r.status != RunnerStatus::Skipped {
                failed_builds.push(r.id.clone());
            }
            results[i] = Some(r);
        }
    }
    let _ = builds_tx.send(Some(failed_builds));
    for (i, h) in handles.iter_mut().enumerate() {
        if let Some(h) = h.take() {
            results[i] = Some(join(h, &plan[i].def).await);
        }
    }
    let results: Vec<RunnerResult> = results.into_iter().flatten().collect();
    let mut slowest: Vec<SlowTest> = Vec::new();
    if let Ok(g) = shared.slow.lock() {
        slowest = g.clone();
    }
    slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
    slowest.truncate(crate::parsers::collect::SLOWEST_N);
    Finished { results, slowest }
}

async fn join(h: tokio::task::JoinHandle<RunnerResult>, def: &RunnerDef) -> RunnerResult {
    match h.await {
        Ok(r) => r,
        // A panic inside one runner's task must not take the run down: record it.
        Err(e) => {
            let mut r = base_result(def);
            r.status = RunnerStatus::Crashed;
            r.hint = Some(format!("codeloop failed while handling this runner: {e}"));
            r
        }
    }
}

fn base_result(def: &RunnerDef) -> RunnerResult {
    RunnerResult {
        shards: Vec::new(),
        candidates: Vec::new(),
        id: def.id.clone(),
        kind: def.kind,
        source: def.source,
        command: def.command.clone(),
        cwd: None,
        status: RunnerStatus::Skipped,
        exit_code: None,
        signal: None,
        duration: 0.0,
        hint: None,
        counts: Default::default(),
        lint: Default::default(),
        result_files: Vec::new(),
        parse_errors: Vec::new(),
        warnings: Vec::new(),
        suite_errors: Vec::new(),
        stdout_log: None,
        stderr_log: None,
        depends_on: Vec::new(),
        limits: None,
    }
}

fn finish(shared: &Shared, r: RunnerResult) -> RunnerResult {
    let secs = r.duration;
    finish_showing(shared, r, secs)
}

/// [`finish`], the progress line saying `secs` (a collecting runner's reading time).
fn finish_showing(shared: &Shared, r: RunnerResult, secs: f64) -> RunnerResult {
    let mut e = Event::new("runner.finished")
        .runner(&r.id)
        .status(r.status.as_str());
    e.exit_code = r.exit_code;
    e.duration = Some(r.duration);
    e.message = r.hint.clone();
    shared.events.emit(e);
    shared.progress.finished(&r.id, r.status, secs, summary(&r));
    r
}

/// `15 tests, 4 failed` / `3 errors, 1 warning`, for progress lines.
pub fn summary(r: &RunnerResult) -> String {
    let mut parts = Vec::new();
    use crate::report::count;
    if r.counts.tests > 0 {
        parts.push(count(r.counts.tests, "test"));
        if r.counts.failed > 0 {
            parts.push(format!("{} failed", r.counts.failed));
        }
        if r.counts.errored > 0 {
            parts.push(format!("{} errored", r.counts.errored));
        }
    }
    // A build's findings are the compiler's errors, not lint.
    let (error, warning) = if r.kind == RunnerKind::Build {
        ("error", "warning")
    } else {
        ("lint error", "lint warning")
    };
    if r.lint.errors > 0 {
        parts.push(count(r.lint.errors, error));
    }
    if r.lint.warnings > 0 {
        parts.push(count(r.lint.warnings, warning));
    }
    let missing = r.parse_errors.iter().filter(|p| p.missing).count();
    if missing > 0 {
        parts.push(if missing == 1 {
            "no report written".to_string()
        } else {
            format!("{missing} reports not written")
        });
    }
    if r.parse_errors.len() > missing {
        parts.push(count(
            (r.parse_errors.len() - missing) as u64,
            "parse error",
        ));
    }
    if parts.is_empty()
        && let Some(h) = &r.hint
    {
        parts.push(h.clone());
    }
    parts.join(", ")
}

async fn run_one(
    p: Planned,
    shared: Arc<Shared>,
    sem: Arc<Semaphore>,
    mut cancel: watch::Receiver<bool>,
    mut builds: watch::Receiver<Option<Vec<String>>>,
) -> RunnerResult {
    let def = p.def;
    let mut r = base_result(&def);
    if let Some((status, hint)) = p.decided {
        r.status = status;
        r.hint = Some(hint);
        return finish(&shared, r);
    }
    if def.kind == RunnerKind::Test || def.after_build {
        let failed = tokio::select! {
            v = builds.wait_for(|v| v.is_some()) => v.ok().and_then(|v| v.clone()).unwrap_or_default(),
            _ = exec::cancelled(&mut cancel) => Vec::new(),
        };
        if !failed.is_empty() {
            r.status = RunnerStatus::Blocked;
            r.hint = Some(format!(
                "not run: build runner {} failed",
                failed
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
            r.depends_on = failed;
            return finish(&shared, r);
        }
    }
    let _permit = tokio::select! {
        p = sem.acquire() => p.ok(),
        _ = exec::cancelled(&mut cancel) => None,
    };
    if *cancel.borrow() {
        r.status = RunnerStatus::Interrupted;
        r.hint = Some("not started: codeloop was interrupted".into());
        return finish(&shared, r);
    }
    let runner_dir = shared
        .run_dir
        .join(crate::artifact::RUNNERS_DIR)
        .join(&def.id);
    if let Err(e) = std::fs::create_dir_all(&runner_dir) {
        r.status = RunnerStatus::Crashed;
        r.hint = Some(format!("cannot create `{}`: {e}", runner_dir.display()));
        return finish(&shared, r);
    }
    let vars = Vars {
        run_id: &shared.run_id,
        run_dir: &shared.run_dir,
        runner_id: &def.id,
        runner_dir: &runner_dir,
    };
    let command = def.command.as_ref().map(|c| interpolate(c, &vars));
    r.command = command.clone();
    r.cwd = Some(shared.cwd.to_string_lossy().into_owned());
    let mut ev = Event::new("runner.started").runner(&def.id);
    ev.message = command.clone();
    shared.events.emit(ev);
    shared.progress.started(&def.id);

    let mut status = RunnerStatus::Passed;
    if let Some(cmd) = command {
        if let Some(tool) = def.tool.as_deref()
            && find_on_path(tool).is_none()
        {
            r.status = RunnerStatus::Unavailable;
            r.hint = Some(format!(
                "`{tool}` is not on PATH; {}",
                def.install_hint.as_deref().unwrap_or("install it")
            ));
            return finish(&shared, r);
        }
        let timeout = shared
            .timeout_override
            .or(def.timeout_sec)
            .unwrap_or(shared.timeout_default)
            .clamp(1, MAX_TIMEOUT_SEC);
        let limits = def.limits.resolve(&shared.limits);
        let spec = Spawn {
            command: cmd.clone(),
            cwd: shared.cwd.clone(),
            env: env_vars(&vars),
            stdout: runner_dir.join("stdout.log"),
            stderr: runner_dir.join("stderr.log"),
            timeout: Duration::from_secs(timeout),
            grace: shared.grace,
            limits,
            name: def.id.clone(),
        };
        r.stdout_log = Some(format!("runners/{}/stdout.log", def.id));
        r.stderr_log = Some(format!("runners/{}/stderr.log", def.id));
        let out = exec::run(&spec, cancel.clone()).await;
        if let Some(e) = &out.log_error {
            shared
                .events
                .emit(Event::new("warning").runner(&def.id).message(e.clone()));
        }
        let exceeded = limits::exceeded(
            &out.ended,
            &limits,
            out.memory_via,
            out.oom_killed,
            &format!(
                "{}\n{}",
                read_tail(&spec.stderr, 8192),
                read_tail(&spec.stdout, 8192)
            ),
        );
        r.limits = Some(RunnerLimits {
            memory_mb: limits.memory_mb,
            memory_via: out.memory_via.map(|v| v.as_str().to_string()),
            cpu_time_sec: limits.cpu_time_sec,
            log_max_bytes: limits.log_max_bytes,
            exceeded,
            stdout_cut_bytes: out.cut[0],
            stderr_cut_bytes: out.cut[1],
        });
        // Before anything reads the logs (hints, tails, copies): masks the runner asked for,
        // then every known secret out of both logs.
        {
            let (sh, logs) = (shared.clone(), [spec.stdout.clone(), spec.stderr.clone()]);
            let _ = tokio::task::spawn_blocking(move || redact_logs(&logs, &sh.events)).await;
        }
        r.duration = round3(out.duration.as_secs_f64());
        if let Some(kind) = exceeded {
            r.status = RunnerStatus::LimitExceeded;
            r.hint = Some(limits::reason(kind, &limits, out.memory_via));
            match out.ended {
                Ended::Exited(c) => r.exit_code = Some(c),
                Ended::Signaled(sig) => r.signal = Some(sig),
                _ => {}
            }
        }
        match out.ended {
            // Stopped by a limit: recorded above; its partial results are still collected.
            _ if exceeded.is_some() => status = RunnerStatus::LimitExceeded,
            Ended::Exited(0) => {}
            Ended::Exited(127) => match not_found(&spec.stderr) {
                Some(what) => {
                    r.exit_code = Some(127);
                    r.status = RunnerStatus::Unavailable;
                    r.hint = Some(format!(
                        "`{what}` was not found: install it, or fix the command{}",
                        match def.source {
                            RunnerSource::Plugin => " in .codeloop/plugins.json",
                            _ => "",
                        }
                    ));
                    return finish(&shared, r);
                }
                None => status = RunnerStatus::Failed,
            },
            // The command's program ran, but the tool it starts is not installed
            // (`python3 -m pytest` without pytest, `npx --no-install jest` before `npm ci`):
            // no report was written, and the fix is installing it, not reading a missing file.
            // (A report on disk means the tool ran: a test's subprocess said it.)
            Ended::Exited(c)
                if missing_tool(&spec.stderr).is_some()
                    && !def.result_files.iter().any(|p| {
                        let p = interpolate(p, &vars);
                        !p.contains(['*', '?', '[']) && shared.cwd.join(&p).is_file()
                    }) =>
            {
                let what = missing_tool(&spec.stderr).unwrap_or_default();
                r.exit_code = Some(c);
                r.status = RunnerStatus::Unavailable;
                r.hint = Some(format!(
                    "`{what}` is not installed: {}",
                    def.install_hint
                        .as_deref()
                        .unwrap_or("install it, or fix the command in .codeloop/plugins.json")
                ));
                return finish(&shared, r);
            }
            // `sh -c` reports a command killed by a signal as exit 128+N: a test binary that
            // segfaulted or was OOM-killed under the runner's shell is a crash, not a failure.
            Ended::Exited(c) if crash_signal(c).is_some() => {
                let sig = c - 128;
                r.signal = Some(sig);
                status = RunnerStatus::Crashed;
                r.hint = Some(format!(
                    "exited with {c}: a process it ran was killed by signal {sig} ({})",
                    signal_name(sig)
                ));
            }
            Ended::Exited(_) => status = RunnerStatus::Failed,
            Ended::Signaled(sig) => {
                r.signal = Some(sig);
                status = RunnerStatus::Crashed;
                r.hint = Some(format!("killed by signal {sig} ({})", signal_name(sig)));
            }
            Ended::TimedOut => {
                status = RunnerStatus::Timeout;
                r.hint = Some(format!(
                    "exceeded its timeout of {timeout}s; its process group was stopped"
                ));
            }
            Ended::Interrupted => {
                r.status = RunnerStatus::Interrupted;
                r.hint = Some("stopped: codeloop was interrupted".into());
                return finish(&shared, r);
            }
            Ended::SpawnFailed(m) => {
                r.status = RunnerStatus::Crashed;
                r.hint = Some(m);
                return finish(&shared, r);
            }
        }
        if let Ended::Exited(c) = out.ended {
            r.exit_code = Some(c);
        }
    }
    let mut shown_secs = r.duration;
    // Collect results (a blocking task: parsing is CPU and file I/O).
    let patterns: Vec<String> = def
        .result_files
        .iter()
        .map(|p| super::interpolate_path(p, &vars))
        .collect();
    if !patterns.is_empty() {
        let sh = shared.clone();
        let rd = runner_dir.clone();
        let id = def.id.clone();
        let fmt = def.result_format;
        let shown = patterns.join(", ");
        let started = std::time::Instant::now();
        let c = tokio::task::spawn_blocking(move || {
            let ctx = collect::Ctx {
                cwd: &sh.cwd,
                allowed: &sh.allowed,
                exclude: &sh.exclude,
                runner_id: &id,
                runner_dir: &rd,
                format: fmt,
                opts: &sh.opts,
                stream: &sh.stream,
                findings: &sh.findings,
            };
            collect::collect(&patterns, &ctx)
        })
        .await;
        let c = collected_or_internal_error(c, &shown);
        // A runner that only collects ran no command (its recorded duration stays 0, so the
        // run's files do not vary with the machine's speed), but its progress line says how
        // long reading its reports took: "failed in 0.0s" after seconds of reading thousands
        // of files said nothing true.
        if def.command.is_none() {
            shown_secs = started.elapsed().as_secs_f64();
        }
        let ran = def.command.as_ref().map(|_| how_it_ended(&r, status));
        absorb(&mut r, c, &shared, ran.as_deref(), &mut status);
    }
    // Failing tests, lint errors, suites that failed to load and reports that could not be
    // read fail a runner even when its tool exited 0: a green runner must mean "all evidence
    // read, nothing broken", or a truncated report would pass silently.
    let broken = r.counts.bad() > 0
        || r.lint.errors > 0
        || !r.suite_errors.is_empty()
        || !r.parse_errors.is_empty();
    if broken && status == RunnerStatus::Passed {
        status = RunnerStatus::Failed;
    }
    r.status = status;
    finish_showing(&shared, r, shown_secs)
}

/// What collecting gave; a panic while collecting (a bug in a parser) is a parse error that
/// names it, so that the runner fails and the gate's `unreadable` rule says why, instead of
/// a runner that silently read nothing.
fn collected_or_internal_error(
    got: Result<Collected, tokio::task::JoinError>,
    patterns: &str,
) -> Collected {
    match got {
        Ok(c) => c,
        Err(e) => {
            let why = match e.try_into_panic() {
                Ok(p) => p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".into()),
                Err(e) => e.to_string(),
            };
            Collected {
                parse_errors: vec![crate::model::ParseIssue {
                    missing: false,
                    shard: None,
                    file: patterns.to_string(),
                    position: None,
                    message: format!(
                        "internal error while reading the results ({}); this is a bug in codeloop, please report it with this message: the runner's results are left out",
                        crate::diagnose::one_line(&why, 300)
                    ),
                }],
                ..Collected::default()
            }
        }
    }
}

/// Adds the `::add-mask::` values a runner printed to the process-wide redactor, then
/// rewrites its logs without any secret. A failure is an event, never a failed runner.
fn redact_logs(logs: &[PathBuf], events: &Events) {
    use crate::redact;
    let logs: Vec<&PathBuf> = logs.iter().filter(|p| p.is_file()).collect();
    for log in &logs {
        match redact::fs::scan_masks(log) {
            Ok(masks) => {
                redact::add_global(masks);
            }
            Err(e) => events.emit(Event::new("redact.error").message(e.to_string())),
        }
    }
    let r = redact::current();
    for log in &logs {
        if let Err(e) = redact::fs::redact_file(&r, log) {
            events.emit(Event::new("redact.error").message(e.to_string()));
        }
    }
}

pub use crate::model::NO_MATCH;

fn absorb(
    r: &mut RunnerResult,
    c: Collected,
    shared: &Shared,
    ran: Option<&str>,
    status: &mut RunnerStatus,
) {
    let collect_only = ran.is_none();
    r.counts = c.counts;
    r.lint = c.lint;
    r.result_files = c.files;
    r.parse_errors = c.parse_errors;
    r.warnings = c.warnings;
    r.suite_errors = c.suite_errors;
    for u in &c.unmatched {
        // The pattern as the reader knows it: `{run_dir}/x.xml` was interpolated to an
        // absolute path, shown relative to the workspace when inside it.
        let file = collect::display_path(Path::new(u), &shared.cwd);
        // Collecting: a pattern that matched nothing read nothing wrong — a warning (the
        // runner still fails below when nothing at all was collected). A runner that ran
        // and left no report is an error that says how its command ended.
        match ran {
            None => r.warnings.push(crate::model::ParseIssue {
                file,
                message: NO_MATCH.into(),
                ..Default::default()
            }),
            Some(ended) => {
                let mut message = format!("no report was written there: {ended}");
                // A command that exited 0 probably wrote its report somewhere else.
                if r.exit_code == Some(0)
                    && let Some(c) = candidates_shown(&c.candidates)
                {
                    message.push_str(&format!("; files that look like test reports: {c}"));
                }
                r.parse_errors.push(crate::model::ParseIssue {
                    file,
                    message,
                    missing: true,
                    ..Default::default()
                });
            }
        }
    }
    if collect_only && r.result_files.is_empty() {
        *status = RunnerStatus::Failed;
        r.hint = Some(if c.unmatched.is_empty() {
            // Every pattern was refused (outside the workspace, ...): the parse errors say why.
            "no result file was collected: see the errors above".to_string()
        } else {
            let mut hint = format!(
                "no result files found for {}",
                c.unmatched
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(c) = candidates_shown(&c.candidates) {
                hint.push_str(&format!(
                    "; files that look like test reports: {c}: point the pattern at them"
                ));
            }
            hint
        });
        r.candidates = c.candidates.iter().map(|(p, _)| p.clone()).collect();
    }
    if let Ok(mut g) = shared.slow.lock() {
        g.extend(c.slowest);
    }
}

/// `` `out/a.xml` (junit-xml), `b.json` (jest-json) ``, or `None` when there are none.
fn candidates_shown(c: &[(String, crate::parsers::Format)]) -> Option<String> {
    (!c.is_empty()).then(|| {
        c.iter()
            .map(|(p, f)| format!("`{p}` ({})", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// How a runner's command ended, for a report it did not write: the reader's first question
/// is whether the tool failed before writing it or wrote it somewhere else.
fn how_it_ended(r: &RunnerResult, status: RunnerStatus) -> String {
    match (status, r.exit_code, r.signal) {
        (RunnerStatus::Timeout, _, _) => {
            "the command was stopped by its timeout before it wrote one".into()
        }
        (RunnerStatus::LimitExceeded, _, _) => {
            "the command was stopped by its limit before it wrote one".into()
        }
        (_, _, Some(sig)) => format!(
            "the command was killed by signal {sig} ({}) before it wrote one",
            crate::model::signal_name(sig).unwrap_or("a signal")
        ),
        (_, Some(0), _) | (RunnerStatus::Passed, None, _) => {
            "the command exited 0 without writing it: check that `result_file` names the path \
             the tool writes its report to"
                .into()
        }
        (_, Some(c), _) => format!(
            "the command exited with code {c} before writing it (its output is in the \
             runner's stdout.log and stderr.log)"
        ),
        (_, None, _) => "the command failed before writing it".into(),
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `sh: 1: foo: not found` / `sh: foo: command not found` → `foo`.
fn not_found(stderr: &Path) -> Option<String> {
    let text = read_tail(stderr, 4096);
    text.lines().rev().find_map(|l| {
        let l = l.trim();
        let rest = l
            .strip_suffix(": not found")
            .or_else(|| l.strip_suffix(": command not found"))?;
        let name = rest.rsplit(": ").next()?.trim();
        (!name.is_empty()).then(|| name.to_string())
    })
}

/// The tool a command could not start because it is not installed, from the messages of
/// the launchers the built-in runners use: `python3 -m X` (`/usr/bin/python3: No module named
/// X`, unquoted, unlike a test's own `ModuleNotFoundError: No module named 'x'`), `npx
/// --no-install X` (`npx canceled due to missing packages and no YES option: ["X@1.2"]`),
/// `pnpm exec X` (`Command "X" not found`), `yarn run X` (`error Command "X" not found.`) and
/// `bundle exec X` (`bundler: command not found: X`).
fn missing_tool(stderr: &Path) -> Option<String> {
    let text = read_tail(stderr, 4096);
    let word = |s: &str| {
        let w = s.trim().trim_end_matches('.');
        (!w.is_empty() && !w.contains(char::is_whitespace) && !w.contains(['\'', '"']))
            .then(|| w.to_string())
    };
    text.lines().find_map(|l| {
        let l = l.trim();
        if let Some((head, m)) = l.rsplit_once(": No module named ")
            && !head.contains("Error")
        {
            return word(m);
        }
        if let Some((_, pkgs)) = l.split_once("npx canceled due to missing packages") {
            let first = pkgs.split('"').nth(1)?;
            // `jest@30.5.2`, `@scope/pkg@1`: the name before the version's `@`.
            let name = match first.rfind('@') {
                Some(i) if i > 0 => &first[..i],
                _ => first,
            };
            return word(name);
        }
        if let Some(rest) = l.split_once("Command \"").map(|(_, r)| r)
            && let Some((name, tail)) = rest.split_once('"')
            && tail.trim_start().starts_with("not found")
        {
            return word(name);
        }
        l.split_once("bundler: command not found: ")
            .and_then(|(_, n)| word(n))
    })
}

/// The last `n` bytes of a file, lossily decoded.
pub fn read_tail(p: &Path, n: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(p) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(n)));
    let mut buf = Vec::new();
    let _ = f.take(n).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The signal behind a shell's exit code 128+N, when N is one that means a crash (not one a
/// tool sends itself on purpose, like SIGTERM or SIGINT, and not a plain exit code).
fn crash_signal(code: i32) -> Option<i32> {
    let sig = code.checked_sub(128)?;
    [
        libc::SIGSEGV,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGFPE,
        libc::SIGILL,
        libc::SIGKILL,
        libc::SIGSYS,
    ]
    .contains(&sig)
    .then_some(sig)
}

/// `SIGSEGV, a crash`: the signal's name and, for the common ones, what it usually means.
fn signal_name(sig: i32) -> String {
    let name = crate::model::signal_name(sig).unwrap_or("a signal");
    let meaning = match sig {
        libc::SIGSEGV => ", a crash",
        libc::SIGABRT => ", an abort",
        libc::SIGKILL => ", possibly the out-of-memory killer",
        libc::SIGXCPU => ", the CPU time limit",
        libc::SIGXFSZ => ", the file size limit",
        _ => "",
    };
    format!("{name}{meaning}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_summaries_count_in_the_singular_and_a_build_has_no_lint() {
        let mut r: RunnerResult = serde_json::from_value(serde_json::json!({
            "id": "cargo-build", "kind": "build", "source": "builtin", "status": "failed",
            "duration": 0.3
        }))
        .unwrap();
        r.lint.errors = 1;
        r.lint.warnings = 2;
        assert_eq!(summary(&r), "1 error, 2 warnings");
        r.kind = RunnerKind::Lint;
        assert_eq!(summary(&r), "1 lint error, 2 lint warnings");
        r.kind = RunnerKind::Test;
        r.lint = Default::default();
        r.counts.tests = 1;
        r.counts.failed = 1;
        assert_eq!(summary(&r), "1 test, 1 failed");
    }

    #[test]
    fn not_found_reads_dash_and_bash_messages() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stderr.log");
        std::fs::write(&p, "some output\nsh: 1: pytestx: not found\n").unwrap();
        assert_eq!(not_found(&p).as_deref(), Some("pytestx"));
        std::fs::write(&p, "bash: line 1: rspec: command not found\n").unwrap();
        assert_eq!(not_found(&p).as_deref(), Some("rspec"));
        std::fs::write(&p, "exit 127 for other reasons\n").unwrap();
        assert_eq!(not_found(&p), None);
    }

    /// A built-in runner whose tool is not installed is `unavailable` with the install hint,
    /// not a parse error about a report that was never written.
    #[test]
    fn missing_tool_reads_the_launchers_messages() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("stderr.log");
        let read = |text: &str| {
            std::fs::write(&p, text).unwrap();
            missing_tool(&p)
        };
        assert_eq!(
            read("/usr/bin/python3: No module named pytest\n").as_deref(),
            Some("pytest")
        );
        assert_eq!(
            read("npm error npx canceled due to missing packages and no YES option: [\"jest@30.5.2\"]\nnpm error A complete log\n").as_deref(),
            Some("jest")
        );
        assert_eq!(
            read("npm error npx canceled due to missing packages and no YES option: [\"@playwright/test@1.2\"]\n").as_deref(),
            Some("@playwright/test")
        );
        assert_eq!(
            read(" ERR_PNPM_RECURSIVE_EXEC_FIRST_FAIL  Command \"vitest\" not found\n").as_deref(),
            Some("vitest")
        );
        assert_eq!(
            read("error Command \"eslint\" not found.\n").as_deref(),
            Some("eslint")
        );
        assert_eq!(
            read("bundler: command not found: rspec\n").as_deref(),
            Some("rspec")
        );
        // A test's own import error, a failing test: not a missing tool.
        assert_eq!(
            read("E   ModuleNotFoundError: No module named 'requests'\n"),
            None
        );
        assert_eq!(
            read("FAILED tests/test_x.py::test_a - assert 1 == 2\n"),
            None
        );
    }

    #[test]
    fn shell_exit_codes_of_crash_signals_are_crashes() {
        assert_eq!(crash_signal(139), Some(libc::SIGSEGV));
        assert_eq!(crash_signal(137), Some(libc::SIGKILL));
        assert_eq!(crash_signal(134), Some(libc::SIGABRT));
        // SIGTERM/SIGINT (143/130) are sent on purpose; 1 and 2 are plain failures.
        assert_eq!(crash_signal(143), None);
        assert_eq!(crash_signal(130), None);
        assert_eq!(crash_signal(1), None);
        assert_eq!(crash_signal(11), None);
    }

    /// A parser that panics leaves a parse error naming the files and the panic, not a
    /// runner that silently read nothing.
    #[test]
    fn a_panic_while_collecting_is_a_parse_error_that_says_so() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let got = rt.block_on(async {
            tokio::task::spawn_blocking(|| -> Collected { panic!("index out of bounds") }).await
        });
        let c = collected_or_internal_error(got, "reports/*.xml");
        assert_eq!(c.parse_errors.len(), 1);
        let e = &c.parse_errors[0];
        assert_eq!(e.file, "reports/*.xml");
        assert!(
            e.message.contains("internal error") && e.message.contains("index out of bounds"),
            "{}",
            e.message
        );
        let ok = rt.block_on(async { tokio::task::spawn_blocking(Collected::default).await });
        assert!(collected_or_internal_error(ok, "x").parse_errors.is_empty());
    }
}
