//! `codeloop mcp`: a Model Context Protocol server over stdio, built on the official Rust SDK
//! (`rmcp`). It owns the tool surface agents see: each tool is a thin adapter that calls the
//! library function of the matching command (verify, diagnose, gate-check, report, doctor,
//! history) and answers with JSON.
//!
//! Stateless between calls: every call re-reads settings and the run directories, so two
//! clients at once see the same runs. It never edits source code (repairs are task lists),
//! never shells out to its own binary, and never reads outside the workspace and the
//! artifacts directory: run ids are plain names resolved under `<artifacts>/runs/`, and
//! report globs must stay inside the workspace. stdout carries the protocol; anything a
//! stage prints goes to stderr.
//!
//! Guardrails: `mcp.tools` in config.json is an allow-list (tools not in it are neither
//! listed nor callable), and every call is logged as one JSON line — tool, arguments
//! (redacted), duration, outcome — to `mcp.jsonl` in the run directory it concerned, or in
//! the artifacts directory for calls about no run (doctor, history, init, refusals). The
//! log is appended after the run's manifest.json, so the manifest does not list it.

use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam, RequestMetaObject};
use rmcp::{
    ErrorData as McpError, Peer, RoleServer, ServerHandler, tool, tool_handler, tool_router,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::artifact::stage::StageEvents;
use crate::artifact::{self, RunDir};
use crate::model::{DiagnoseDoc, RunnerKind, RunnerSource};
use crate::pipeline::diagnose::{DiagnoseError, diagnose_and_write, diagnose_run};
use crate::pipeline::gate::{GateError, gate_config, gate_loaded, load_baseline};
use crate::pipeline::options::{
    Common, GateFlags, ReportOptions as ReportArgs, VerifyOptions as VerifyArgs,
};
use crate::pipeline::verify::{self, Prepared};
use crate::runners::RunnerDef;
use crate::runners::progress::Mode;
use crate::runners::run::{Planned, summary};
use crate::settings::Config;

/// Page size of `codeloop_list_failures` when none is given, and its maximum.
const PAGE_DEFAULT: usize = 20;
const PAGE_MAX: usize = 200;
/// At most this many failing tests are re-run by `codeloop_rerun_failed`.
const RERUN_MAX: usize = 25;

/// The server: where the workspace is and where its runs live. No other state.
#[derive(Clone)]
pub struct Server {
    common: Common,
    workspace: PathBuf,
    tool_router: ToolRouter<Self>,
}

fn err(msg: impl Into<String>) -> McpError {
    McpError::invalid_params(msg.into(), None)
}

fn internal(msg: impl Into<String>) -> McpError {
    McpError::internal_error(msg.into(), None)
}

fn ok_json(v: Value) -> Result<CallToolResult, McpError> {
    Ok(CallToolResult::structured(v))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, McpError> {
    serde_json::to_value(v).map_err(|e| internal(format!("cannot encode the answer: {e}")))
}

// ---- arguments (each one's JSON Schema is what clients see) ----

/// Which run to look at.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RunArg {
    /// Run id (as listed by codeloop_run_history) or "latest" (the default).
    #[serde(default)]
    pub run: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct VerifyParams {
    /// Only these runner ids (see codeloop_doctor), e.g. ["pytest", "lint"]. Default: all.
    #[serde(default)]
    pub runners: Vec<String>,
    /// Collect these result-file globs (relative to the workspace) instead of running
    /// anything, e.g. ["target/nextest/ci/junit.xml", "reports/*.xml"].
    #[serde(default)]
    pub reports: Vec<String>,
    /// Parser for `reports` (default "auto"), e.g. "junit-xml".
    #[serde(default)]
    pub format_hint: Option<String>,
    /// Per-runner timeout in seconds.
    #[serde(default)]
    pub timeout_sec: Option<u64>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GateParams {
    /// Run id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
    /// Fail below this score (0-100), e.g. 80.
    #[serde(default)]
    pub min_score: Option<f64>,
    /// Fail with more failing tests than this, e.g. 0.
    #[serde(default)]
    pub max_failures: Option<u64>,
    /// "any" (default) or "regression" (only failures new against `baseline`).
    #[serde(default)]
    pub fail_on: Option<FailOn>,
    /// Baseline run id for deltas and `fail_on: "regression"`.
    #[serde(default)]
    pub baseline: Option<String>,
}

#[derive(Deserialize, JsonSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    Any,
    Regression,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Delete old runs, keeping the newest `keep` complete ones.
    #[serde(default)]
    pub gc: bool,
    /// How many runs gc keeps (default 20, at least 1).
    #[serde(default)]
    pub keep: Option<usize>,
    /// At most this many runs listed, newest first (default 50).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ListFailuresParams {
    /// Run id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
    /// Index of the first failure (default 0).
    #[serde(default)]
    pub offset: usize,
    /// Page size (default 20, at most 200).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only this runner's failures, e.g. "pytest".
    #[serde(default)]
    pub runner: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetFailureParams {
    /// Run id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
    /// The failure's id from codeloop_list_failures, e.g. "p1".
    pub id: String,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RerunParams {
    /// Run whose failing tests to re-run: id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
    /// Only list the commands, run nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct MergeParams {
    /// Shard runs to fold into one new run: run ids (from codeloop_run_history) or
    /// directories inside the workspace that hold run directories, e.g. ["shards/"].
    pub runs: Vec<String>,
    /// Also diagnose and gate the merged run (default true).
    #[serde(default)]
    pub gate: Option<bool>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct PublishParams {
    /// Run id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct InitParams {
    /// Overwrite starter files that exist (default false: they are kept).
    #[serde(default)]
    pub force: bool,
}

#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RenderParams {
    /// Run id or "latest" (default).
    #[serde(default)]
    pub run: Option<String>,
}

impl Server {
    /// A server for the project in `common.cwd` (canonicalized: the workspace boundary).
    pub fn new(common: Common) -> Result<Server, String> {
        let workspace = std::fs::canonicalize(&common.cwd).map_err(|e| {
            format!(
                "cannot use `{}` as the workspace: {e} (pass an existing directory with --cwd)",
                common.cwd.display()
            )
        })?;
        let mut common = common;
        common.cwd = workspace.clone();
        let mut tool_router = Self::tool_router();
        // Tools outside the allow-list are not listed (calls are refused in `call_tool`,
        // which re-reads the config every time).
        if let Ok(r) = verify::resolve_settings(&common) {
            let names: Vec<String> = tool_router
                .list_all()
                .into_iter()
                .map(|t| t.name.to_string())
                .collect();
            for n in &names {
                if !r.config.mcp.allows(n) {
                    tool_router.disable_route(n.clone());
                }
            }
            for t in &r.config.mcp.tools {
                if !names
                    .iter()
                    .any(|n| r.config.mcp.allows(n) && tool_matches(n, t))
                {
                    crate::errln!(
                        "warning: mcp.tools names `{t}`, which is not a codeloop tool (tools: {})",
                        names.join(", ")
                    );
                }
            }
        }
        Ok(Server {
            common,
            workspace,
            tool_router,
        })
    }

    /// Appends one call to the log: in the run it concerned, else in the artifacts directory.
    fn log_call(&self, record: Value, run_id: Option<&str>) {
        let Ok((_, artifacts)) = self.settings() else {
            return;
        };
        let dir = run_id
            .filter(|id| valid_run_id(id))
            .map(|id| artifact::runs_root(&artifacts).join(id))
            .filter(|d| d.is_dir())
            .unwrap_or(artifacts);
        if let Err(e) = append_log(&dir.join(CALL_LOG), &record) {
            crate::errln!("warning: cannot write the MCP call log: {e}");
        }
    }

    /// Settings and the artifacts directory, read afresh for every call.
    fn settings(&self) -> Result<(Config, PathBuf), McpError> {
        let r = verify::resolve_settings(&self.common).map_err(|f| {
            err(match f.hint {
                Some(h) => format!("{} (hint: {h})", f.message),
                None => f.message,
            })
        })?;
        Ok((r.config, r.artifacts_dir))
    }

    /// A run inside the artifacts directory. Only ids and `latest`: never a path.
    fn run_dir(&self, which: Option<&str>) -> Result<RunDir, McpError> {
        let (_, artifacts) = self.settings()?;
        resolve_run(&artifacts, which)
    }

    /// diagnose.json when the run has one, else diagnose it in memory (nothing written).
    fn diagnosis(&self, run: RunDir) -> Result<(RunDir, DiagnoseDoc), McpError> {
        if run.file(artifact::DIAGNOSE).is_file() {
            let d = run.diagnose().map_err(|e| internal(e.to_string()))?;
            return Ok((run, d));
        }
        let l = diagnose_run(run, &self.workspace, false).map_err(|e| internal(e.to_string()))?;
        Ok((l.run, l.doc))
    }

    fn check_globs(&self, globs: &[String]) -> Result<(), McpError> {
        for g in globs {
            if let Err(why) = inside_workspace(&self.workspace, g) {
                return Err(err(format!(
                    "report glob `{g}` {why}: reports must be inside the workspace `{}`",
                    self.workspace.display()
                )));
            }
        }
        Ok(())
    }

    /// Runs verify with `args` (or a prepared plan), sending progress while it runs.
    async fn run_verify(
        &self,
        args: VerifyArgs,
        prepared: Prepared,
        progress: Option<(RequestMetaObject, Peer<RoleServer>)>,
        ct: CancellationToken,
    ) -> verify::Executed {
        let total = prepared.planned.plan.len();
        let events = prepared.run_dir.file(artifact::EVENTS);
        let (tx, rx) = tokio::sync::watch::channel(false);
        let reason = Arc::new(Mutex::new(None::<String>));
        let cancel_task = {
            let reason = reason.clone();
            tokio::spawn(async move {
                ct.cancelled().await;
                if let Ok(mut r) = reason.lock() {
                    *r = Some("cancelled by the MCP client".into());
                }
                let _ = tx.send(true);
                std::future::pending::<()>().await;
            })
        };
        // One notification before the runners start and one after they all finished, so a
        // client always sees the bounds; in between, a poll of the run's event log.
        let progress = progress.and_then(|(meta, peer)| Some((meta.get_progress_token()?, peer)));
        let notify = move |token: rmcp::model::ProgressToken,
                           peer: Peer<RoleServer>,
                           done: usize| async move {
            let _ = peer
                .notify_progress(
                    ProgressNotificationParam::new(token, done as f64)
                        .with_total(total as f64)
                        .with_message(format!("{done} of {total} runners finished")),
                )
                .await;
        };
        if let Some((token, peer)) = &progress {
            notify(token.clone(), peer.clone(), 0).await;
        }
        let progress_task = progress.clone().map(|(token, peer)| {
            tokio::spawn(async move {
                let mut last = 0;
                loop {
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    let done = count_finished(&events);
                    if done != last && done < total {
                        last = done;
                        notify(token.clone(), peer.clone(), done).await;
                    }
                }
            })
        });
        let out = verify::execute_prepared(&args, prepared, Mode::Quiet, rx, reason, None).await;
        cancel_task.abort();
        if let Some(t) = progress_task {
            t.abort();
        }
        if let Some((token, peer)) = progress {
            notify(token, peer, total).await;
        }
        out
    }
}

/// The call log's file name (in a run directory, or the artifacts directory).
pub const CALL_LOG: &str = "mcp.jsonl";

fn tool_matches(name: &str, entry: &str) -> bool {
    name.strip_prefix("codeloop_").unwrap_or(name)
        == entry.strip_prefix("codeloop_").unwrap_or(entry)
}

/// Arguments for the log: values of keys named like secrets become `***`, and every known
/// secret value is redacted (`crate::redact`).
pub fn redact_arguments(args: &Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if crate::redact::secret_name(k) {
                        *x = json!("***");
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    let mut v = args.clone();
    walk(&mut v);
    crate::redact::current().redact_value(&mut v);
    v
}

/// One line, appended (the file is created when missing). Lines are written whole with one
/// `write` call, so concurrent calls do not interleave within a line.
fn append_log(path: &Path, record: &Value) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(&line)
}

/// How many `runner.finished` events a run has logged so far.
fn count_finished(events: &Path) -> usize {
    std::fs::read_to_string(events)
        .map(|s| {
            s.lines()
                .filter(|l| l.contains("\"runner.finished\""))
                .count()
        })
        .unwrap_or(0)
}

/// Resolves `latest` or a run id under `<artifacts>/runs/`. Anything that looks like a
/// path is refused, so no call reads outside the artifacts directory.
pub fn resolve_run(artifacts: &Path, which: Option<&str>) -> Result<RunDir, McpError> {
    let which = which.map(str::trim).filter(|w| !w.is_empty());
    if let Some(id) = which
        && id != "latest"
        && !valid_run_id(id)
    {
        return Err(err(format!(
            "`{id}` is not a run id: pass an id from codeloop_run_history (letters, digits, \
             `-`, `_`, `.`; no paths) or \"latest\""
        )));
    }
    artifact::resolve(artifacts, which).map_err(|e| {
        let known: Vec<String> = artifact::list_runs(artifacts)
            .into_iter()
            .rev()
            .take(5)
            .map(|r| r.id)
            .collect();
        let hint = if known.is_empty() {
            "no runs yet: call codeloop_verify first".to_string()
        } else {
            format!("newest runs: {}", known.join(", "))
        };
        McpError::resource_not_found(format!("{e} ({hint})"), None)
    })
}

/// A run id is one plain path segment: no separators, no `..`, no leading dot.
pub fn valid_run_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Whether a glob stays inside the workspace: relative, no `..`, no root.
pub fn inside_workspace(workspace: &Path, glob: &str) -> Result<(), &'static str> {
    let p = Path::new(glob);
    let rel = if p.is_absolute() {
        p.strip_prefix(workspace)
            .map_err(|_| "is outside the workspace")?
    } else {
        p
    };
    if rel.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) {
        return Err("leaves the workspace (`..`)");
    }
    Ok(())
}

/// The gate's flags from the tool's arguments.
fn gate_flags(p: &GateParams) -> GateFlags {
    GateFlags {
        baseline: p.baseline.clone(),
        comment_key: None,
        min_score: p.min_score,
        max_failures: p.max_failures,
        fail_on: p.fail_on.map(|f| match f {
            FailOn::Any => crate::settings::FailOn::Any,
            FailOn::Regression => crate::settings::FailOn::Regression,
        }),
        ..Default::default()
    }
}

fn problem_brief(p: &crate::model::Problem) -> Value {
    json!({
        "id": p.id,
        "category": p.category,
        "runner": p.runner,
        "test": p.test,
        "title": p.title,
        "location": p.location.as_ref().map(|l| l.to_string()),
        "severity": p.severity,
    })
}

#[tool_router]
impl Server {
    #[tool(
        description = "Run the project's build/test/lint runners (or collect existing result files) and write a new run directory. Returns the run id, status and per-runner counts; sends progress notifications while runners finish. Examples: {} runs everything; {\"runners\": [\"pytest\"]} runs one runner; {\"reports\": [\"reports/*.xml\"], \"format_hint\": \"junit-xml\"} only parses files earlier steps wrote."
    )]
    async fn codeloop_verify(
        &self,
        Parameters(p): Parameters<VerifyParams>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        self.check_globs(&p.reports)?;
        let args = VerifyArgs {
            common: self.common.clone(),
            runners: p.runners,
            reports: p.reports,
            format_hint: p.format_hint,
            timeout: p.timeout_sec,
            jobs: None,
            // An agent verifies the whole project; shards are a CI matrix concern.
            shard: None,
            quiet: true,
        };
        let prepared = verify::prepare(&args).map_err(|f| {
            err(match &f.hint {
                Some(h) => format!("{} (hint: {h})", f.message),
                None => f.message.clone(),
            })
        })?;
        let warnings = prepared.warnings.clone();
        let out = self
            .run_verify(args, prepared, Some((meta, peer)), ct)
            .await;
        let d = &out.doc;
        ok_json(json!({
            "run_id": d.run_id,
            "status": d.status,
            "exit_code": out.code,
            "totals": d.totals,
            "lint": d.lint,
            "runners": d.runners.iter().map(|r| json!({
                "id": r.id, "kind": r.kind, "status": r.status,
                "summary": summary(r), "counts": r.counts,
            })).collect::<Vec<_>>(),
            "warnings": warnings,
            "next": "codeloop_diagnose, then codeloop_gate_check",
        }))
    }

    #[tool(
        description = "Explain a run's failures: category, file:line location, evidence and repair tasks; writes diagnose.json, SARIF and GitLab Code Quality files into the run. Example: {\"run\": \"latest\"}."
    )]
    async fn codeloop_diagnose(
        &self,
        Parameters(p): Parameters<RunArg>,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let stage = StageEvents::start(&run.path, "diagnose");
        let l = stage
            .record(diagnose_and_write(run, &self.workspace, false))
            .map_err(|e| internal(e.to_string()))?;
        ok_json(json!({
            "run_id": l.doc.run_id,
            "problems": l.doc.problems.len() as u64 + l.doc.truncated,
            "tasks": l.doc.tasks,
            "first_problems": l.doc.problems.iter().take(10).map(problem_brief).collect::<Vec<_>>(),
        }))
    }

    #[tool(
        description = "Score a run (0-100) and decide pass/fail with reasons; writes gate.json. Settings come from .codeloop/config.json, overridden by the arguments. Examples: {} or {\"min_score\": 80, \"max_failures\": 0} or {\"baseline\": \"20261121T223000Z-3f9c\", \"fail_on\": \"regression\"}."
    )]
    async fn codeloop_gate_check(
        &self,
        Parameters(p): Parameters<GateParams>,
    ) -> Result<CallToolResult, McpError> {
        let cfg_path = crate::pipeline::diagnose::config_path(&self.common);
        let (cfg, warnings) =
            Config::load(&cfg_path).map_err(|e| err(DiagnoseError::from(e).to_string()))?;
        let flags = gate_flags(&p);
        let g = gate_config(&cfg, &warnings, &flags, &cfg_path).map_err(|e| err(e.to_string()))?;
        let (_, artifacts) = self.settings()?;
        let baseline = match &p.baseline {
            Some(b) => {
                let base = resolve_run(&artifacts, Some(b))?;
                Some(
                    load_baseline(&base.path.to_string_lossy(), &artifacts, &self.workspace)
                        .map_err(|e| err(e.to_string()))?,
                )
            }
            None => None,
        };
        let run = resolve_run(&artifacts, p.run.as_deref())?;
        let stage = StageEvents::start(&run.path, "gate-check");
        let doc = stage
            .record(
                diagnose_run(run, &self.workspace, baseline.is_some())
                    .map_err(GateError::from)
                    .and_then(|l| gate_loaded(&l, &g, baseline.as_ref())),
            )
            .map_err(|e| internal(e.to_string()))?;
        let mut v = to_value(&doc)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("exit_code".into(), json!(crate::gate::exit_code(&doc)));
        }
        ok_json(v)
    }

    #[tool(
        description = "The latest (or a chosen) run in brief: status, totals, runners, and newer runs still in progress. Example: {}."
    )]
    async fn codeloop_status(
        &self,
        Parameters(p): Parameters<RunArg>,
    ) -> Result<CallToolResult, McpError> {
        let (_, artifacts) = self.settings()?;
        let run = resolve_run(&artifacts, p.run.as_deref())?;
        let d = run.verify().map_err(|e| internal(e.to_string()))?;
        let in_progress: Vec<String> = artifact::list_runs(&artifacts)
            .into_iter()
            .filter(|x| x.id > run.id && !x.is_complete())
            .map(|x| x.id)
            .collect();
        let verdict = run
            .gate()
            .ok()
            .map(|g| json!({"verdict": g.verdict, "score": g.score}));
        ok_json(json!({
            "run_id": d.run_id,
            "status": d.status,
            "finished_at": d.finished_at,
            "totals": d.totals,
            "lint": d.lint,
            "gate": verdict,
            "runners": d.runners.iter().map(|r| json!({"id": r.id, "status": r.status, "summary": summary(r)})).collect::<Vec<_>>(),
            "incomplete_newer": in_progress,
        }))
    }

    #[tool(
        description = "List runs newest first (id, complete, status, totals, gate score); with gc, delete all but the newest `keep` complete runs. Examples: {} or {\"limit\": 5} or {\"gc\": true, \"keep\": 10}."
    )]
    async fn codeloop_run_history(
        &self,
        Parameters(p): Parameters<HistoryParams>,
    ) -> Result<CallToolResult, McpError> {
        let (_, artifacts) = self.settings()?;
        let crate::pipeline::runs::Gc { deleted, errors } = if p.gc {
            crate::pipeline::runs::gc(&artifacts, p.keep.unwrap_or(20).max(1))
        } else {
            Default::default()
        };
        let limit = p.limit.unwrap_or(50).max(1);
        let runs: Vec<Value> = artifact::list_runs(&artifacts)
            .into_iter()
            .rev()
            .take(limit)
            .map(|r| {
                let v = r.verify().ok();
                let g = r.gate().ok();
                json!({
                    "run_id": r.id,
                    "complete": r.is_complete(),
                    "status": v.as_ref().map(|v| v.status),
                    "totals": v.as_ref().map(|v| v.totals),
                    "finished_at": v.as_ref().map(|v| v.finished_at.clone()),
                    "score": g.as_ref().map(|g| g.score),
                    "verdict": g.as_ref().map(|g| g.verdict),
                })
            })
            .collect();
        ok_json(json!({"runs": runs, "deleted": deleted, "errors": errors}))
    }

    #[tool(
        description = "One run's manifest (files, times, git/CI context), counts per runner and the gate verdict if gate-check ran. Example: {\"run\": \"latest\"}."
    )]
    async fn codeloop_get_run(
        &self,
        Parameters(p): Parameters<RunArg>,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let manifest: Value = artifact::read_json(&run.file(artifact::MANIFEST))
            .map_err(|e| internal(e.to_string()))?;
        let v = run.verify().map_err(|e| internal(e.to_string()))?;
        let gate = run.gate().ok();
        ok_json(json!({
            "run_id": run.id,
            "manifest": manifest,
            "status": v.status,
            "totals": v.totals,
            "lint": v.lint,
            "runners": v.runners.iter().map(|r| json!({
                "id": r.id, "kind": r.kind, "status": r.status, "exit_code": r.exit_code,
                "duration": r.duration, "counts": r.counts, "lint": r.lint,
                "parse_errors": r.parse_errors,
            })).collect::<Vec<_>>(),
            "gate": gate.map(|g| json!({"verdict": g.verdict, "score": g.score, "reasons": g.reasons})),
        }))
    }

    #[tool(
        description = "Failures of a run, a page at a time (id, category, runner, test, title, file:line). Uses diagnose.json, or diagnoses in memory. Examples: {} or {\"offset\": 20, \"limit\": 20} or {\"runner\": \"pytest\"}."
    )]
    async fn codeloop_list_failures(
        &self,
        Parameters(p): Parameters<ListFailuresParams>,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let (run, doc) = self.diagnosis(run)?;
        let limit = p.limit.unwrap_or(PAGE_DEFAULT).clamp(1, PAGE_MAX);
        let all: Vec<&crate::model::Problem> = doc
            .problems
            .iter()
            .filter(|x| p.runner.as_ref().is_none_or(|r| &x.runner == r))
            .collect();
        let page: Vec<Value> = all
            .iter()
            .skip(p.offset)
            .take(limit)
            .map(|x| problem_brief(x))
            .collect();
        let next = (p.offset + page.len() < all.len()).then_some(p.offset + page.len());
        ok_json(json!({
            "run_id": run.id,
            "total": all.len(),
            "truncated": doc.truncated,
            "offset": p.offset,
            "failures": page,
            "next_offset": next,
        }))
    }

    #[tool(
        description = "One failure in full: evidence excerpt, location, and the command that reproduces just that test. Example: {\"id\": \"p1\"} or {\"run\": \"20261121T223000Z-3f9c\", \"id\": \"p3\"}."
    )]
    async fn codeloop_get_failure(
        &self,
        Parameters(p): Parameters<GetFailureParams>,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let (run, doc) = self.diagnosis(run)?;
        let Some(found) = doc.problems.iter().find(|x| x.id == p.id) else {
            return Err(McpError::resource_not_found(
                format!(
                    "run {} has no failure `{}` (it has {}; list them with codeloop_list_failures)",
                    run.id,
                    p.id,
                    doc.problems.len()
                ),
                None,
            ));
        };
        let mut v = to_value(found)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("run_id".into(), json!(run.id));
        }
        ok_json(v)
    }

    #[tool(
        description = "The repair task list of a run: one task per root cause with location, evidence, reproduce command and the tests it covers. codeloop never edits code; act on these. Example: {}."
    )]
    async fn codeloop_repair_tasks(
        &self,
        Parameters(p): Parameters<RunArg>,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let (run, doc) = self.diagnosis(run)?;
        ok_json(json!({"run_id": run.id, "tasks": doc.tasks}))
    }

    #[tool(
        description = "Re-run only the failing tests of a run, using the per-test reproduce commands diagnose computed (for tools that support selecting one test: pytest, cargo, go, jest, ...). Writes a new run whose runners are those commands. Examples: {\"dry_run\": true} lists the commands; {} runs them."
    )]
    async fn codeloop_rerun_failed(
        &self,
        Parameters(p): Parameters<RerunParams>,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        ct: CancellationToken,
    ) -> Result<CallToolResult, McpError> {
        let run = self.run_dir(p.run.as_deref())?;
        let (run, doc) = self.diagnosis(run)?;
        let mut cmds: Vec<(String, String)> = Vec::new();
        let mut without = Vec::new();
        for x in doc.problems.iter().filter(|x| x.test.is_some()) {
            match &x.reproduce {
                Some(c) if !cmds.iter().any(|(_, k)| k == c) => {
                    cmds.push((x.id.clone(), c.clone()))
                }
                Some(_) => {}
                None => without.push(x.id.clone()),
            }
        }
        let skipped = cmds.len().saturating_sub(RERUN_MAX);
        cmds.truncate(RERUN_MAX);
        if p.dry_run || cmds.is_empty() {
            return ok_json(json!({
                "from_run": run.id,
                "commands": cmds.iter().map(|(id, c)| json!({"problem": id, "command": c})).collect::<Vec<_>>(),
                "no_reproduce_command": without,
                "left_out": skipped,
                "ran": false,
            }));
        }
        let args = VerifyArgs {
            common: self.common.clone(),
            ..VerifyArgs::default()
        };
        let resolved = verify::resolve_settings(&self.common).map_err(|f| err(f.message))?;
        let run_dir =
            verify::create_run_dir(&resolved.artifacts_dir).map_err(|f| internal(f.message))?;
        let plan = cmds
            .iter()
            .map(|(id, c)| {
                let mut d = RunnerDef::new(
                    &format!("rerun-{id}"),
                    RunnerKind::Test,
                    RunnerSource::Plugin,
                );
                d.command = Some(c.clone());
                Planned {
                    def: d,
                    decided: None,
                }
            })
            .collect();
        let prepared = Prepared {
            resolved,
            planned: verify::PlanOut {
                plan,
                collect_mode: false,
                warnings: Vec::new(),
            },
            run_dir,
            warnings: Vec::new(),
            shard: None,
        };
        let out = self
            .run_verify(args, prepared, Some((meta, peer)), ct)
            .await;
        let results: Vec<Value> = out
            .doc
            .runners
            .iter()
            .zip(cmds.iter())
            .map(|(r, (id, c))| {
                json!({
                    "problem": id, "command": c, "status": r.status, "exit_code": r.exit_code,
                    "stdout_log": r.stdout_log, "summary": summary(r),
                })
            })
            .collect();
        ok_json(json!({
            "from_run": run.id,
            "run_id": out.doc.run_id,
            "ran": true,
            "results": results,
            "no_reproduce_command": without,
            "left_out": skipped,
        }))
    }

    #[tool(
        description = "Render a run's reports into <run>/report/: sticky PR comment, job summary, badge, JUnit XML and the self-contained HTML dashboard (index.html). Returns the files written. Example: {}."
    )]
    async fn codeloop_render_report(
        &self,
        Parameters(p): Parameters<RenderParams>,
    ) -> Result<CallToolResult, McpError> {
        let (_, artifacts) = self.settings()?;
        let run = resolve_run(&artifacts, p.run.as_deref())?;
        let args = ReportArgs {
            common: self.common.clone(),
            run: Some(run.id.clone()),
            all: true,
            html: true,
            ..ReportArgs::default()
        };
        let out =
            crate::pipeline::report::render_run(&args).map_err(|e| internal(e.to_string()))?;
        ok_json(to_value(&out)?)
    }

    #[tool(
        description = "Fold shard runs (a CI matrix's run directories) into one new run, then diagnose and gate it once. Returns the merged run id, counts and verdict. Examples: {\"runs\": [\"20261121T223000Z-3f9c\", \"20261121T223001Z-77aa\"]} or {\"runs\": [\"shards/\"], \"gate\": false}."
    )]
    async fn codeloop_merge(
        &self,
        Parameters(p): Parameters<MergeParams>,
    ) -> Result<CallToolResult, McpError> {
        if p.runs.is_empty() {
            return Err(err(
                "`runs` is empty: pass run ids or directories with run directories",
            ));
        }
        let (cfg, artifacts) = self.settings()?;
        let mut dirs = Vec::new();
        for r in &p.runs {
            if valid_run_id(r) && artifact::runs_root(&artifacts).join(r).is_dir() {
                dirs.push(artifact::runs_root(&artifacts).join(r));
            } else if let Err(why) = inside_workspace(&self.workspace, r) {
                return Err(err(format!(
                    "`{r}` {why}: pass a run id or a directory inside the workspace `{}`",
                    self.workspace.display()
                )));
            } else {
                dirs.push(self.workspace.join(r));
            }
        }
        let gate = p.gate.unwrap_or(true);
        // Diagnose's failing cases are kept while the fold writes them: nothing is read back.
        let keep = gate.then(crate::pipeline::merge::Keep::default);
        let merged =
            crate::pipeline::merge::merge_dirs(&dirs, None, &artifacts, &self.workspace, keep)
                .map_err(|e| err(e.to_string()))?;
        let run = merged.run;
        let v = run.verify().map_err(|e| internal(e.to_string()))?;
        let mut out = json!({
            "run_id": run.id,
            "status": v.status,
            "totals": v.totals,
            "runners": v.runners.iter().map(|r| json!({"id": r.id, "status": r.status, "summary": summary(r)})).collect::<Vec<_>>(),
        });
        if let Some(mut digest) = merged.digest {
            let cfg_path = crate::pipeline::diagnose::config_path(&self.common);
            let g = gate_config(&cfg, &[], &GateFlags::default(), &cfg_path)
                .map_err(|e| err(e.to_string()))?;
            let stage = StageEvents::start(&run.path, "diagnose");
            let problems = digest.problems.take().unwrap_or_default();
            let l = stage
                .record(
                    crate::pipeline::diagnose::diagnose_memory(
                        run,
                        merged.verify,
                        &digest.findings,
                        &self.workspace,
                        problems,
                    )
                    .and_then(|l| {
                        crate::pipeline::diagnose::write_outputs(&l.run, &l.doc)?;
                        Ok(l)
                    }),
                )
                .map_err(|e| internal(e.to_string()))?;
            let stage = StageEvents::start(&l.run.path, "gate-check");
            let doc = stage
                .record(gate_loaded(&l, &g, None))
                .map_err(|e| internal(e.to_string()))?;
            out["verdict"] = json!(doc.verdict);
            out["score"] = json!(doc.score);
            out["reasons"] = json!(doc.reasons);
            out["exit_code"] = json!(crate::gate::exit_code(&doc));
        }
        ok_json(out)
    }

    #[tool(
        description = "Dry-run publishing: what would be posted for a run (the sticky PR/MR comment and the job summary, fitted to GitHub's limits and redacted, plus annotation counts). Posts nothing, ever. Example: {} or {\"run\": \"latest\"}."
    )]
    async fn codeloop_publish(
        &self,
        Parameters(p): Parameters<PublishParams>,
    ) -> Result<CallToolResult, McpError> {
        let (cfg, artifacts) = self.settings()?;
        let run = resolve_run(&artifacts, p.run.as_deref())?;
        let view = crate::publish::load_run(&run.path).map_err(|e| internal(e.to_string()))?;
        let redactor = crate::redact::current();
        let comment = crate::publish::github::fit_comment(
            &redactor.redact(&view.comment),
            cfg.report.max_comment_chars,
        );
        ok_json(json!({
            "run_id": view.run_id,
            "dry_run": true,
            "posted": false,
            "verdict": view.verdict(),
            "comment_mode": cfg.publish.comment,
            "comment": comment,
            "summary": redactor.redact(&view.summary),
            "annotations": view.annotations.len(),
            "workflow_annotations": view.workflow_annotations.len(),
            "next": "publish for real from CI: `codeloop publish` (or the GitHub Action)",
        }))
    }

    #[tool(
        description = "Write the starter .codeloop/config.json, plugins.json (for the detected stack) and README.md that are missing; existing files are kept unless force. Returns what was written and kept. Examples: {} or {\"force\": true}."
    )]
    async fn codeloop_init(
        &self,
        Parameters(p): Parameters<InitParams>,
    ) -> Result<CallToolResult, McpError> {
        let done = crate::setup::starter::write_starter(&self.workspace, p.force)
            .map_err(|e| internal(e.to_string()))?;
        ok_json(json!({
            "written": done.written,
            "kept": done.kept,
            "stacks": done.stacks,
            "next": "codeloop_doctor, then codeloop_verify",
        }))
    }

    #[tool(
        description = "Check the setup: detected stacks and runners, tools on PATH, config and plugins files, where runs go, and problems with their fixes. Example: {}."
    )]
    async fn codeloop_doctor(&self) -> Result<CallToolResult, McpError> {
        let (rep, code) = crate::setup::doctor::check(&self.common);
        let mut v = to_value(&rep)?;
        if let Some(o) = v.as_object_mut() {
            o.insert("exit_code".into(), json!(code));
        }
        ok_json(v)
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "codeloop",
    instructions = "codeloop runs a project's tests/linters and explains failures. Loop: codeloop_verify → codeloop_diagnose → codeloop_gate_check; then codeloop_repair_tasks / codeloop_get_failure to fix, and codeloop_rerun_failed to check a fix. Runs are identified by run ids (codeloop_run_history); \"latest\" is the newest complete run."
)]
impl ServerHandler for Server {
    /// Every call goes through here: the allow-list (re-read from config.json), then the
    /// tool, then one line in the call log.
    async fn call_tool(
        &self,
        request: rmcp::model::CallToolRequestParams,
        context: rmcp::service::RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, McpError> {
        let started = std::time::Instant::now();
        let tool = request.name.to_string();
        let args = Value::Object(request.arguments.clone().unwrap_or_default());
        let arg_run = args.get("run").and_then(Value::as_str).map(str::to_string);
        let allowed = match self.settings() {
            Ok((cfg, _)) => cfg.mcp.allows(&tool),
            // A broken config is the tool's own error to report.
            Err(_) => true,
        };
        let result = if allowed {
            let tcc = rmcp::handler::server::tool::ToolCallContext::new(self, request, context);
            self.tool_router.call(tcc).await
        } else {
            Err(McpError::invalid_request(
                format!(
                    "tool `{tool}` is not allowed here: `mcp.tools` in .codeloop/config.json does not list it"
                ),
                None,
            ))
        };
        let complete = match &result {
            Ok(rmcp::model::CallToolResponse::Complete(r)) => Some(r),
            _ => None,
        };
        let structured_run = complete
            .and_then(|r| r.structured_content.as_ref())
            .and_then(|s| s.get("run_id").or_else(|| s.get("from_run")))
            .and_then(Value::as_str)
            .map(str::to_string);
        let (outcome, error) = match &result {
            Ok(_) => match complete.and_then(|r| r.is_error) {
                Some(true) => (
                    "error",
                    complete.map(|r| {
                        r.content
                            .iter()
                            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                            .collect::<Vec<_>>()
                            .join("\n")
                    }),
                ),
                _ => ("ok", None),
            },
            Err(e) if !allowed => ("refused", Some(e.message.to_string())),
            Err(e) => ("error", Some(e.message.to_string())),
        };
        let record = json!({
            "ts": artifact::now_rfc3339(),
            "tool": tool,
            "arguments": redact_arguments(&args),
            "duration_ms": started.elapsed().as_millis() as u64,
            "outcome": outcome,
            "error": error.map(|e| crate::redact::current().redact(&e).into_owned()),
        });
        let run_id = structured_run.or(arg_run.filter(|r| r != "latest"));
        self.log_call(record, run_id.as_deref());
        result
    }
}

/// Serves MCP on stdin/stdout until the client disconnects.
pub async fn serve(common: Common) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = Server::new(common)?;
    let service = server
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| format!("MCP handshake failed: {e}"))?;
    service
        .waiting()
        .await
        .map_err(|e| format!("MCP server stopped: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_plain_names() {
        assert!(valid_run_id("20261121T223000Z-3f9c"));
        for bad in ["", "..", "../x", "a/b", "/etc", ".hidden", "a\\b", "x y"] {
            assert!(!valid_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn globs_must_stay_in_the_workspace() {
        let ws = Path::new("/w/project");
        assert!(inside_workspace(ws, "reports/*.xml").is_ok());
        assert!(inside_workspace(ws, "/w/project/a/*.xml").is_ok());
        assert!(inside_workspace(ws, "../other/*.xml").is_err());
        assert!(inside_workspace(ws, "a/../../x.xml").is_err());
        assert!(inside_workspace(ws, "/etc/passwd").is_err());
    }

    #[test]
    fn a_path_is_not_a_run() {
        let tmp = std::env::temp_dir().join("codeloop-mcp-no-runs");
        let e = resolve_run(&tmp, Some("../../etc"))
            .err()
            .map(|e| e.message.to_string());
        assert!(e.is_some_and(|m| m.contains("is not a run id")));
    }
}
