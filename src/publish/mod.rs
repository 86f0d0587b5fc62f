//! Publishing a finished run directory to where people look: the forge (GitHub now: sticky
//! PR comment and check run, see [`github`]), and the CI runner itself (job summary and
//! annotations, see [`actions`]). This is the only async code in codeloop; the runtime is
//! created here, so callers stay synchronous.
//!
//! Publishing never decides the build: every problem here becomes a warning in
//! [`PublishReport`], and the caller chooses (`fail-on-publish-error`) whether it matters.
//!
//! One [`Publisher`] is one publishing session: the sticky comment's listing is read once
//! ([`Publisher::previous_comment`], after the run is on disk: its hidden state is the
//! baseline for deltas and `fail-on: regression`) and reused by the upsert; every API request
//! of the session shares one [`Budget`] (20 s by default, whatever the fault); `dry-run` and
//! `act` send no request at all.

pub mod actions;
pub mod context;
pub mod data_branch;
pub mod github;
pub mod gitlab;
pub mod history;
pub mod ledger;
pub mod outputs;
pub mod sharing;

use std::cell::{OnceCell, RefCell};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::artifact;
use crate::model::{DiagnoseDoc, GateDoc, Severity, Verdict};
use crate::settings::CommentMode;
use actions::{Annotation, Level, Redactor};
use context::{Env, GitHubContext};
use github::{CheckRun, Comment, CommentOutcome, GitHub, GitHubError, RetryPolicy};

/// Where to publish. `Auto` picks GitHub when the environment is a GitHub Actions job (or
/// names a GitHub repository); other forges (GitLab) will be added to this enum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Forge {
    #[default]
    Auto,
    GitHub,
    /// A GitLab merge-request pipeline: one sticky MR note (see [`gitlab`]).
    GitLab,
    /// Post nothing; print what would be posted.
    None,
}

impl std::str::FromStr for Forge {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Forge::Auto),
            "github" => Ok(Forge::GitHub),
            "gitlab" => Ok(Forge::GitLab),
            "none" => Ok(Forge::None),
            other => Err(format!(
                "unknown forge `{other}`: use auto, github, gitlab or none"
            )),
        }
    }
}

/// Detects the forge from the environment.
pub fn detect_forge(env: &Env) -> Forge {
    if env.is_true("GITHUB_ACTIONS") || env.get("GITHUB_REPOSITORY").is_some() {
        Forge::GitHub
    } else if env.is_true("GITLAB_CI") || env.get("CI_API_V4_URL").is_some() {
        Forge::GitLab
    } else {
        Forge::None
    }
}

/// The time all API requests of one publishing session may take together. The clock starts
/// at the first request, so a long test run does not eat it, and stops after an optional read
/// ([`Budget::pause`]) until the next request, so the local stages between the previous
/// comment's read and the writes (diagnose, gate, report on a big run) do not eat it either. With a [`ledger::Ledger`] (the
/// run directory's `publish-budget.json`) the budget is the run's, not the process's: what
/// earlier commands of the job spent is gone, and when one of them found the API down,
/// nothing is sent at all.
#[derive(Debug)]
pub struct Budget {
    total: Duration,
    clock: std::sync::Mutex<Clock>,
    earlier: ledger::Earlier,
    /// The outage this session found (the first one).
    down: std::sync::Mutex<Option<String>>,
    ledger: Option<ledger::Ledger>,
}

impl Budget {
    /// The default: publishing never costs a job more than this, whatever the API does.
    pub const DEFAULT: Duration = Duration::from_secs(20);

    pub fn new(total: Duration) -> Arc<Budget> {
        Budget::with_ledger(total, None)
    }

    /// A budget shared with earlier (and later) commands through `ledger`.
    pub fn with_ledger(total: Duration, ledger: Option<ledger::Ledger>) -> Arc<Budget> {
        Arc::new(Budget {
            total,
            clock: std::sync::Mutex::new(Clock::default()),
            earlier: ledger.as_ref().map(|l| l.earlier()).unwrap_or_default(),
            down: std::sync::Mutex::new(None),
            ledger,
        })
    }

    /// Time left (starts the clock on first use, and again after a [`Budget::pause`]).
    pub fn remaining(&self) -> Duration {
        let spent = self.clock().run();
        self.total
            .saturating_sub(self.earlier.spent)
            .saturating_sub(spent)
    }

    /// Stops the clock until the next request asks for [`Budget::remaining`]: what follows is
    /// local work (the stages after the previous comment's read), not the API's time.
    pub fn pause(&self) {
        self.clock().pause();
    }

    fn clock(&self) -> std::sync::MutexGuard<'_, Clock> {
        // A poisoned clock is still a clock: its two fields are always consistent.
        self.clock.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The outage an earlier command of this job found on this run: send nothing.
    pub fn found_down_earlier(&self) -> Option<&str> {
        self.earlier.down.as_deref()
    }

    /// What earlier commands of this job spent on this run's publishing.
    pub fn spent_earlier(&self) -> Duration {
        self.earlier.spent
    }

    /// The share of the budget the optional reads (the previous comment read for deltas, the
    /// base branch's history) leave to the writes that follow them (the comment upsert, the
    /// check run): 60 %, 12 s of the default 20 s, room for a whole 8 s attempt and a retry.
    pub const KEPT_FOR_WRITES: f64 = 0.6;

    /// How long an optional read may take now: what is left above the share kept for the
    /// writes ([`Budget::KEPT_FOR_WRITES`] of the run's budget). `None`: nothing is, so the
    /// read is not tried. Starts the clock, like [`Budget::remaining`].
    pub fn optional_slice(&self) -> Option<Duration> {
        let kept = self.total.mul_f64(Self::KEPT_FOR_WRITES);
        Some(self.remaining().saturating_sub(kept)).filter(|s| !s.is_zero())
    }

    /// The whole budget (the run's, earlier commands' spending included).
    pub fn total(&self) -> Duration {
        self.total
    }

    /// Records that the API is down (a request ran out of retries, or of budget).
    pub fn mark_down(&self, why: &str) {
        if let Ok(mut d) = self.down.lock() {
            d.get_or_insert_with(|| why.to_string());
        }
    }

    /// Writes what this session spent (and found) to the ledger, when it sent anything.
    pub fn save(&self) {
        let Some(ledger) = &self.ledger else {
            return;
        };
        let Some(own) = self.clock().spent() else {
            return;
        };
        let spent = (self.earlier.spent + own).min(self.total);
        let down = self.down.lock().ok().and_then(|d| d.clone());
        ledger.save(
            self.total,
            spent,
            self.earlier.down.as_deref().or(down.as_deref()),
        );
    }
}

/// A [`Budget`]'s clock: the time spent in earlier stretches, and the running one's start.
#[derive(Debug, Default)]
struct Clock {
    spent: Duration,
    since: Option<Instant>,
    started: bool,
}

impl Clock {
    /// Starts (or keeps) the clock running; the time spent so far.
    fn run(&mut self) -> Duration {
        self.started = true;
        let since = *self.since.get_or_insert_with(Instant::now);
        self.spent + since.elapsed()
    }

    fn pause(&mut self) {
        if let Some(since) = self.since.take() {
            self.spent += since.elapsed();
        }
    }

    /// The time spent, `None` when the clock never ran (nothing was sent).
    fn spent(&self) -> Option<Duration> {
        self.started
            .then(|| self.spent + self.since.map_or(Duration::ZERO, |s| s.elapsed()))
    }
}

/// What to publish and how.
#[derive(Clone, Debug)]
pub struct PublishOptions {
    pub forge: Forge,
    pub comment: CommentMode,
    /// With `comment: on-failure`, remove our old comment when the gate passes.
    pub delete_on_pass: bool,
    pub summary: bool,
    pub annotations: bool,
    pub check_run: bool,
    pub check_name: String,
    /// The most annotations the check run carries (`publish.max_check_annotations`).
    pub max_check_annotations: usize,
    /// Render and print, post nothing (also forced by `ACT=true`).
    pub dry_run: bool,
    pub token: Option<String>,
    /// Login our comments are written as (default `github-actions[bot]`).
    pub author: Option<String>,
    /// Overrides the PR number from the event (fork recipe: from the artifact).
    pub pr: Option<u64>,
    /// Overrides the head sha for the check run.
    pub head_sha: Option<String>,
    pub max_comment_chars: usize,
    pub retry: RetryPolicy,
    /// Keys the sticky comment (`comment-key`): each key has its own comment, hidden state
    /// and baseline. `None` is the default comment (no key in its marker).
    pub comment_key: Option<String>,
    /// All API requests of the session together (`CODELOOP_PUBLISH_BUDGET_SECS`).
    pub budget: Duration,
    /// The run being published: its `publish-budget.json` ([`ledger`]) makes the budget the
    /// run's across commands of one CI job (`ci --baseline comment`, then `publish`).
    pub run_dir: Option<PathBuf>,
    /// Writes follow the optional reads on this budget (the comment, the check run): the
    /// reads then get only [`Budget::optional_slice`]. `false` for a command that only reads
    /// (`codeloop history fetch`).
    pub writes_follow: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            forge: Forge::Auto,
            comment: CommentMode::Always,
            delete_on_pass: true,
            summary: true,
            annotations: true,
            check_run: false,
            check_name: "codeloop".into(),
            max_check_annotations: github::CHECK_ANNOTATIONS_PER_REQUEST,
            dry_run: false,
            token: None,
            author: None,
            pr: None,
            head_sha: None,
            max_comment_chars: 60_000,
            retry: RetryPolicy::default(),
            comment_key: None,
            budget: Budget::DEFAULT,
            run_dir: None,
            writes_follow: true,
        }
    }
}

impl PublishOptions {
    /// Retry delays can be shortened with `CODELOOP_RETRY_BASE_MS`,
    /// `CODELOOP_RETRY_MAX_WAIT_SECS` and `CODELOOP_RETRY_BUDGET_SECS` (tests and impatient
    /// users).
    pub fn budget_from_env(env: &Env) -> Duration {
        env.get("CODELOOP_PUBLISH_BUDGET_SECS")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Budget::DEFAULT)
    }

    pub fn retry_from_env(env: &Env) -> RetryPolicy {
        let mut r = RetryPolicy::default();
        if let Some(ms) = env
            .get("CODELOOP_RETRY_BASE_MS")
            .and_then(|v| v.parse().ok())
        {
            r.base_delay = Duration::from_millis(ms);
        }
        if let Some(s) = env
            .get("CODELOOP_RETRY_MAX_WAIT_SECS")
            .and_then(|v| v.parse().ok())
        {
            r.max_wait = Duration::from_secs(s);
        }
        if let Some(s) = env
            .get("CODELOOP_RETRY_BUDGET_SECS")
            .and_then(|v| v.parse().ok())
        {
            r.budget = Duration::from_secs(s);
        }
        r
    }
}

/// The file (in the artifacts directory) the previous sticky comment is saved to, for the
/// stages' `--baseline` / `--baseline-from-comment`.
pub const PREVIOUS_COMMENT_FILE: &str = "previous-comment.md";

/// What publishing did, for outputs and the exit code.
#[derive(Clone, Debug, Default)]
pub struct PublishReport {
    pub comment_id: Option<u64>,
    pub comment_url: Option<String>,
    pub check_run_url: Option<String>,
    /// `created`, `updated`, `deleted`, `unchanged`, `printed`, `skipped`.
    pub comment_action: String,
    /// Problems that did not stop the run (already printed as warnings).
    pub errors: Vec<String>,
    /// The token could not write (fork PR or read-only permissions).
    pub read_only: bool,
    /// How many of `errors` are API outages (connection errors, 5xx, long rate limits), as
    /// opposed to setup problems the user can fix.
    pub outages: usize,
}

/// The parts of a run directory that publishing shows.
#[derive(Clone, Debug, Default)]
pub struct RunView {
    pub run_id: String,
    pub gate: Option<GateDoc>,
    pub comment: String,
    pub summary: String,
    /// Check-run annotations, one per problem, most useful first ([`annotations_of`]).
    pub annotations: Vec<Annotation>,
    /// Problems diagnose left out of diagnose.json (so without an annotation).
    pub problems_left_out: u64,
    /// Workflow-command lines from diagnose (one per repair task, within GitHub's caps).
    pub workflow_annotations: Vec<String>,
    /// The run directory it was loaded from: publishing records its stage events there.
    pub run_dir: Option<std::path::PathBuf>,
}

impl RunView {
    pub fn verdict(&self) -> Option<Verdict> {
        self.gate.as_ref().map(|g| g.verdict)
    }
}

/// Reads what publishing needs from a run directory. `report/comment.md` and
/// `report/summary.md` come from the report stage; when it did not run, a short body is made
/// from gate.json so the PR still learns the verdict.
pub fn load_run(run_dir: &Path) -> Result<RunView, artifact::ArtifactError> {
    let mut gate: Option<GateDoc> = match artifact::read_json(&run_dir.join(artifact::GATE)) {
        Ok(g) => Some(g),
        Err(artifact::ArtifactError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => return Err(e),
    };
    let diagnose: Option<DiagnoseDoc> = artifact::read_json(&run_dir.join(artifact::DIAGNOSE)).ok();
    let read =
        |name: &str| std::fs::read_to_string(run_dir.join(artifact::REPORT_DIR).join(name)).ok();
    let run_id = gate
        .as_ref()
        .map(|g| g.run_id.clone())
        .or_else(|| {
            run_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default();
    // The fork recipe's trusted job publishes a run directory the fork's job wrote: its run
    // id reaches the log (a line the runner reads for workflow commands), the outputs and
    // the check run, so it is held to what a run id is.
    let run_id = plain_run_id(&run_id);
    if let Some(g) = gate.as_mut() {
        g.run_id.clone_from(&run_id);
    }
    let comment = read("comment.md").unwrap_or_else(|| fallback_body(&run_id, gate.as_ref()));
    let summary = read("summary.md").unwrap_or_else(|| strip_hidden(&comment));
    let new_failures = gate
        .as_ref()
        .and_then(|g| g.delta.as_ref())
        .map(|d| d.new_failures.as_slice())
        .unwrap_or(&[]);
    let annotations = diagnose
        .as_ref()
        .map(|d| annotations_of(d, new_failures))
        .unwrap_or_default();
    let problems_left_out = diagnose.as_ref().map_or(0, |d| d.truncated);
    let workflow_annotations = diagnose
        .as_ref()
        .map(|d| {
            crate::diagnose::output::annotations(
                d,
                crate::diagnose::output::AnnotationLimits::default(),
            )
        })
        .unwrap_or_default();
    Ok(RunView {
        run_dir: Some(run_dir.to_path_buf()),
        run_id,
        gate,
        comment,
        summary,
        annotations,
        problems_left_out,
        workflow_annotations,
    })
}

/// The first 12 hex digits of a commit, as a warning shows it.
fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// A run id as the log and the API may show it: the characters a run id is made of
/// (`20261121T223000Z-3f9c`), at most 128; anything else (a line break that would start a
/// workflow command, markup) becomes `_`.
pub fn plain_run_id(id: &str) -> String {
    id.chars()
        .take(128)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn strip_hidden(body: &str) -> String {
    match body.find(github::MARKER) {
        Some(s) => match body[s..].find("-->") {
            Some(e) => format!(
                "{}{}",
                &body[..s],
                body[s + e + 3..].trim_start_matches('\n')
            ),
            None => body[..s].to_string(),
        },
        None => body.to_string(),
    }
}

/// A minimal body when the report stage produced none: verdict, score and counts.
fn fallback_body(run_id: &str, gate: Option<&GateDoc>) -> String {
    let mut s = format!("{} -->\n### codeloop\n\n", github::MARKER);
    match gate {
        Some(g) => {
            let c = &g.counts;
            s.push_str(&format!(
                "**{}** · score {:.1} · {} tests: {} passed, {} failed, {} errored, {} skipped\n",
                if g.verdict == Verdict::Pass {
                    "Passed"
                } else {
                    "Failed"
                },
                g.score,
                c.tests,
                c.passed,
                c.failed,
                c.errored,
                c.skipped
            ));
            for r in g.reasons.iter().take(10) {
                s.push_str(&format!("- {}\n", crate::publish::escape_md_line(r)));
            }
        }
        None => s.push_str("No gate result: the run did not finish its checks.\n"),
    }
    s.push_str(&format!("\n<sub>run `{run_id}`</sub>\n"));
    s
}

/// Neutralises text for one Markdown line: no @mentions, no HTML, no line breaks.
pub fn escape_md_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{200b}")
}

/// Annotations from diagnose's problems, most useful first, so a cap keeps what the comment
/// shows: one for each task of the comment's "What broke", in its order
/// ([`crate::report::broke_order`]: new failures first; the task's first problem with a
/// location), then the other problems of those tasks in the same order, then any problem no
/// task covers (diagnose's order).
pub fn annotations_of(d: &DiagnoseDoc, new_failures: &[String]) -> Vec<Annotation> {
    use std::collections::{HashMap, HashSet};
    let by_id: HashMap<&str, &crate::model::Problem> =
        d.problems.iter().map(|p| (p.id.as_str(), p)).collect();
    // A flaky test passed: "What broke" leaves it to the Flaky section; it goes last here.
    let flaky = |t: &&crate::model::RepairTask| t.category == crate::model::Category::Flaky;
    let tasks = crate::report::broke_order(
        d.tasks
            .iter()
            .filter(|t| !flaky(t))
            .chain(d.tasks.iter().filter(flaky)),
        new_failures,
    );
    let of = |t: &'_ crate::model::RepairTask| -> Vec<&crate::model::Problem> {
        t.problems
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).copied())
            .collect()
    };
    let mut seen: HashSet<&str> = HashSet::new();
    let mut order: Vec<&crate::model::Problem> = Vec::with_capacity(d.problems.len());
    for (_, t) in &tasks {
        if let Some(p) = of(t).into_iter().find(|p| p.location.is_some())
            && seen.insert(p.id.as_str())
        {
            order.push(p);
        }
    }
    let rest = tasks
        .iter()
        .flat_map(|(_, t)| of(t))
        .chain(d.problems.iter());
    for p in rest {
        if seen.insert(p.id.as_str()) {
            order.push(p);
        }
    }
    order
        .into_iter()
        .map(|p| {
            let level = match p.severity {
                Severity::Error => Level::Error,
                Severity::Warning => Level::Warning,
                Severity::Note => Level::Notice,
            };
            let message = if p.evidence.trim().is_empty() {
                p.title.clone()
            } else {
                github::cut_bytes(&p.evidence, 4096).to_string()
            };
            Annotation {
                level,
                file: p.location.as_ref().map(|l| l.file.clone()),
                line: p.location.as_ref().and_then(|l| l.line),
                end_line: None,
                column: p.location.as_ref().and_then(|l| l.column),
                title: github::cut_bytes(&p.title, 255).to_string(),
                message,
            }
        })
        .collect()
}

/// The check run's annotations within `cap` (the first ones: [`annotations_of`] puts the most
/// useful first), and when some were left out, the note that says so (`showing N of M
/// annotations`), for the check run's summary and the log.
fn capped_check_annotations(
    anns: &[Annotation],
    cap: usize,
    left_out_by_diagnose: u64,
) -> (Vec<serde_json::Value>, Option<String>) {
    let mut all = check_annotations(anns);
    let total = all.len();
    if total <= cap {
        return (all, None);
    }
    all.truncate(cap);
    let more = if left_out_by_diagnose > 0 {
        format!(
            "; {left_out_by_diagnose} more problems are not in diagnose.json, so have no annotation"
        )
    } else {
        String::new()
    };
    let note = format!(
        "showing {cap} of {total} annotations (the first in the order of the comment's \"What broke\"; `publish.max_check_annotations` in config.json sets the cap){more}. The job summary and the run directory have every failure."
    );
    (all, Some(note))
}

/// The check run's summary with `note` at its end, within GitHub's limit (the summary is cut,
/// never the note).
fn summary_with_note(summary: &str, note: Option<&str>) -> String {
    match note {
        None => summary.to_string(),
        Some(n) => {
            let note = format!("\n\n---\n_codeloop: {n}_\n");
            let room = github::MAX_CHECK_TEXT_BYTES.saturating_sub(note.len());
            format!("{}{note}", github::cut_bytes(summary.trim_end(), room))
        }
    }
}

fn check_annotations(anns: &[Annotation]) -> Vec<serde_json::Value> {
    anns.iter()
        .filter_map(|a| {
            let path = a.file.as_ref()?;
            let line = a.line.unwrap_or(1).max(1);
            let level = match a.level {
                Level::Error => "failure",
                Level::Warning => "warning",
                Level::Notice => "notice",
            };
            let mut v = serde_json::json!({
                "path": path, "start_line": line, "end_line": line,
                "annotation_level": level, "message": github::cut_bytes(&a.message, 64 * 1024),
            });
            if !a.title.is_empty() {
                v["title"] = a.title.clone().into();
            }
            Some(v)
        })
        .collect()
}

/// The hint printed when the token cannot write.
/// A 403 "Resource not accessible by integration" on a pull request of this repository:
/// the job's token lacks the permission (a workflow with `permissions:` that leaves it out,
/// or a Dependabot PR, whose token is read-only).
pub const NO_PERMISSION_HINT: &str = "the job's GITHUB_TOKEN lacks the permission: add `permissions: pull-requests: write` (and `checks: write` for `check-run`) to the job; Dependabot pull requests get a read-only token, like forks (see docs/github-action.md#pull-requests-from-forks). The job summary has the report";

pub const READ_ONLY_HINT: &str = "pull requests from forks get a read-only GITHUB_TOKEN, so codeloop wrote the job summary only. To comment on fork PRs, upload the run directory as an artifact and post it from a `workflow_run` job with `codeloop publish --from RUN_DIR` (see docs/github-action.md#pull-requests-from-forks).";

/// Publishing to GitHub or GitLab, shared by `codeloop action`, `codeloop publish` and the
/// `--baseline comment` of the gate: one session (see the module docs).
pub struct Publisher<'a> {
    pub env: &'a Env,
    pub ctx: &'a GitHubContext,
    pub opts: PublishOptions,
    pub redactor: Redactor,
    session: Session,
}

/// What one session keeps between reading the previous comment and publishing.
#[derive(Default)]
struct Session {
    budget: OnceCell<Arc<Budget>>,
    rt: OnceCell<Result<tokio::runtime::Runtime, String>>,
    gh: OnceCell<Result<GitHub, String>>,
    gl: OnceCell<Result<gitlab::GitLab, String>>,
    /// Our comments (GitHub) as listed for the baseline, reused by the upsert.
    ours: RefCell<Option<Vec<Comment>>>,
    /// Our notes (GitLab), the same.
    notes: RefCell<Option<Vec<gitlab::Note>>>,
    /// The previous comment was another job's of this CI run ([`sharing`]), already said.
    shared_warned: std::cell::Cell<bool>,
}

impl Drop for Session {
    /// The session's spending goes to the run's ledger for the next command of the job.
    fn drop(&mut self) {
        if let Some(b) = self.budget.get() {
            b.save();
        }
    }
}

impl<'a> Publisher<'a> {
    pub fn new(
        env: &'a Env,
        ctx: &'a GitHubContext,
        opts: PublishOptions,
        redactor: Redactor,
    ) -> Publisher<'a> {
        Publisher {
            env,
            ctx,
            opts,
            redactor,
            session: Session::default(),
        }
    }
}

impl Publisher<'_> {
    /// Under `act` or `dry-run`, nothing is posted.
    pub fn is_dry(&self) -> bool {
        self.opts.dry_run || self.env.is_true("ACT") || self.forge() == Forge::None
    }

    pub fn forge(&self) -> Forge {
        match self.opts.forge {
            Forge::Auto => detect_forge(self.env),
            f => f,
        }
    }

    fn pr(&self) -> Option<u64> {
        self.opts.pr.or_else(|| self.ctx.pr_number())
    }

    /// In a `workflow_run` job given the PR's number (`pr-number`, from the uploaded run),
    /// the commit the triggering run tested: the PR's head must be it.
    fn untrusted_pr_head(&self) -> Option<String> {
        if self.ctx.event_name.as_deref() != Some("workflow_run") || self.opts.pr.is_none() {
            return None;
        }
        self.ctx
            .event
            .pointer("/workflow_run/head_sha")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }

    /// Why we cannot post, if we cannot (no repository, no token, a fork PR).
    fn cannot_post(&self) -> Option<String> {
        if self.ctx.owner_repo().is_none() {
            return Some("GITHUB_REPOSITORY is not set (expected owner/repo)".into());
        }
        if self.opts.token.is_none() {
            return Some(
                "no GitHub token: pass `github-token` (the default `${{ github.token }}` needs `permissions: pull-requests: write`)".into(),
            );
        }
        if self.ctx.is_fork_pr() && self.opts.pr.is_none() {
            return Some(READ_ONLY_HINT.into());
        }
        None
    }

    fn budget(&self) -> Arc<Budget> {
        self.session
            .budget
            .get_or_init(|| {
                let ledger = self
                    .opts
                    .run_dir
                    .as_deref()
                    .map(|d| ledger::Ledger::new(d, self.env));
                Budget::with_ledger(self.opts.budget, ledger)
            })
            .clone()
    }

    /// The session's runtime (one for the whole session, so the clients live across calls).
    fn runtime(&self) -> Result<&tokio::runtime::Runtime, String> {
        self.session
            .rt
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the async runtime: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The session's GitHub client (made inside the runtime, which it needs).
    fn client(&self) -> Result<&GitHub, String> {
        let rt = self.runtime()?;
        self.session
            .gh
            .get_or_init(|| {
                let (owner, repo) = self.ctx.owner_repo().unwrap_or(("", ""));
                rt.block_on(async {
                    GitHub::new(
                        &self.ctx.api_url,
                        owner,
                        repo,
                        self.opts.token.as_deref(),
                        self.opts.author.as_deref(),
                        self.opts.comment_key.as_deref(),
                        self.opts.retry.clone(),
                        self.budget(),
                    )
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The session's GitLab client and context; Err is the warning to show.
    fn gitlab_client(&self) -> Result<&gitlab::GitLab, String> {
        self.session
            .gl
            .get_or_init(|| {
                let ctx = gitlab::GitLabContext::from_env(self.env).ok_or_else(|| {
                    "GitLab: CI_API_V4_URL is not set, so there is no GitLab API to post to"
                        .to_string()
                })?;
                let token = gitlab::token(self.env)?;
                let rt = self.runtime()?;
                rt.block_on(async {
                    gitlab::GitLab::new(
                        &ctx,
                        &token,
                        self.opts.comment_key.as_deref(),
                        self.opts.retry.clone(),
                        self.budget(),
                    )
                })
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The body of our existing comment (or MR note) of this comment key: the baseline for
    /// deltas and `fail-on: regression` (its hidden state). `None` when there is none, or
    /// when we cannot or may not read it; never a request under `dry-run` or `act`. The
    /// listing is kept for [`Publisher::publish`], which then does not list again.
    pub fn previous_comment(&self) -> Option<String> {
        // The one predicate that decides whether the API is asked: the action asks it before
        // verify, and must get the answer this then acts on.
        if !self.may_read_previous_comment() {
            return None;
        }
        let gitlab = self.forge() == Forge::GitLab;
        let what = if gitlab {
            "the previous codeloop note is not read"
        } else {
            "the previous codeloop comment is not read"
        };
        if let Some(w) = self.down_earlier(what) {
            crate::ui::warn(&self.redactor.redact(&w));
            return None;
        }
        let body = if gitlab {
            self.previous_gitlab()
        } else {
            self.previous_github()
        }?;
        // Another job of this CI run wrote it (a matrix leg without its own key): its results
        // are not this job's earlier ones, so it is no baseline.
        let me = sharing::Writer::from_env(self.env);
        match (sharing::shared_with(me.as_ref(), &body), &me) {
            (Some(other), Some(me)) => {
                self.warn_shared(me, &other, false);
                None
            }
            _ => Some(body),
        }
    }

    /// Says once per session that the comment is shared with another job of this CI run
    /// (and each time that it was kept as that job left it).
    fn warn_shared(&self, me: &sharing::Writer, other: &sharing::Writer, kept: bool) {
        let said = self.session.shared_warned.replace(true);
        if kept || !said {
            crate::ui::warn(
                &self
                    .redactor
                    .redact(&sharing::warning(me, other, kept, said)),
            );
        }
    }

    /// What to post over `previous` (the body of our comment now, if any), with `keyed` the
    /// body this run would post: `Err` when another job of this CI run wrote it and failed,
    /// and this run passed (it stays, the log says why; `Err(Some)` is that body with the
    /// notice it lacked, from that job's side); `Ok(Some)` the body with a notice when
    /// another job of this run shares the comment; `Ok(None)` the body as it is.
    fn shared_body(
        &self,
        keyed: &str,
        previous: Option<&str>,
        passed: bool,
    ) -> Result<Option<String>, Option<String>> {
        let me = sharing::Writer::from_env(self.env);
        match (
            sharing::decide(me.as_ref(), previous, passed),
            &me,
            previous,
        ) {
            (sharing::Sharing::Keep(other), Some(me), Some(prev)) => {
                self.warn_shared(me, &other, true);
                Err((!sharing::has_notice(prev))
                    .then(|| sharing::insert_notice(prev, &sharing::notice(&other, me))))
            }
            (sharing::Sharing::Shared(other), Some(me), _) => {
                self.warn_shared(me, &other, false);
                Ok(Some(sharing::insert_notice(
                    keyed,
                    &sharing::notice(me, &other),
                )))
            }
            _ => Ok(None),
        }
    }

    /// Reads the previous sticky comment ([`Publisher::previous_comment`]) and saves it in
    /// `artifacts` ([`PREVIOUS_COMMENT_FILE`]) for the stages: the baseline of the gate
    /// (`fail-on: regression`) and of the report's deltas. `None` when there is none, when it
    /// carries no state (an older codeloop's, or one cut by hand), or when it cannot be
    /// saved (each a warning: the run goes on without a baseline).
    pub fn save_previous_comment(&self, artifacts: &Path) -> Option<std::path::PathBuf> {
        let body = self.previous_comment()?;
        if let Some(why) =
            sharing::not_a_baseline(sharing::Writer::from_env(self.env).as_ref(), &body)
        {
            crate::ui::err_line(&format!(
                "codeloop: the previous codeloop comment is no baseline for this run: {why}"
            ));
            return None;
        }
        if let Err(e) = crate::report::state::decode(&body) {
            crate::ui::warn(&format!(
                "the previous codeloop comment cannot be the baseline ({e}); this run has no deltas"
            ));
            return None;
        }
        let p = artifacts.join(PREVIOUS_COMMENT_FILE);
        match artifact::write_atomic(&p, body.as_bytes()) {
            Ok(()) => Some(p),
            Err(e) => {
                crate::ui::warn(&format!(
                    "{e}; this run has no baseline from the previous comment"
                ));
                None
            }
        }
    }

    /// Runs `read`, an optional read (the previous comment, read for the baseline and the
    /// deltas; the base branch's history), within [`Budget::optional_slice`] when writes follow
    /// on the same budget: a read that hangs is cut where the share kept for the writes
    /// starts, so it never costs the PR comment its time, and it marks nothing down (the
    /// writes try for themselves). `Err` says why it was not tried or was cut, for the caller's
    /// one-line warning.
    fn optional_read<F: std::future::Future>(
        &self,
        rt: &tokio::runtime::Runtime,
        read: F,
    ) -> Result<F::Output, String> {
        if !self.opts.writes_follow {
            return Ok(rt.block_on(read));
        }
        let b = self.budget();
        let total = b.total().as_secs_f64();
        let Some(slice) = b.optional_slice() else {
            return Err(format!(
                "not tried: the rest of the {total:.0} s publishing budget is kept for posting the results"
            ));
        };
        let answer = rt.block_on(async { tokio::time::timeout(slice, read).await });
        // Local work follows an optional read (the stages, after the previous comment's): it
        // is not the API's time.
        b.pause();
        answer.map_err(|_| {
                format!(
                    "no answer within {:.1} s, the share of the {total:.0} s publishing budget an optional read may use; the rest is kept for posting the results",
                    slice.as_secs_f64()
                )
            })
    }

    /// The warning when an earlier command of this job found the forge's API down: this
    /// session sends nothing (the run's budget would only be spent again on the same answer).
    fn down_earlier(&self, what: &str) -> Option<String> {
        let b = self.budget();
        let why = b.found_down_earlier()?;
        let api = if self.forge() == Forge::GitLab {
            "GitLab"
        } else {
            "GitHub"
        };
        Some(format!(
            "{api} API: not tried: an earlier codeloop command of this job found the API down ({why}) after {:.1} s of the run's {:.0} s publishing budget; {what} (the job summary and outputs have the result, and the exit code is the gate's)",
            b.spent_earlier().as_secs_f64(),
            self.opts.budget.as_secs_f64()
        ))
    }

    /// Whether [`Publisher::previous_comment`] would ask the API at all (a pull or merge
    /// request we may comment on): no request is made here. The action keeps every test's
    /// key hash during the parse when it would, so a baseline found then needs no second
    /// pass over cases.jsonl.
    pub fn may_read_previous_comment(&self) -> bool {
        if self.is_dry() {
            return false;
        }
        match self.forge() {
            Forge::GitHub => self.cannot_post().is_none() && self.pr().is_some(),
            // Without a token the client is never built.
            Forge::GitLab => {
                gitlab::GitLabContext::from_env(self.env)
                    .is_some_and(|ctx| ctx.cannot_post().is_none())
                    && gitlab::token(self.env).is_ok()
            }
            _ => false,
        }
    }

    /// [`Publisher::previous_comment`] on GitHub, once it may ask.
    fn previous_github(&self) -> Option<String> {
        let pr = self.pr()?;
        let rt = self.runtime().ok()?;
        let gh = self.client().ok()?;
        let read = self
            .optional_read(rt, gh.find_ours(pr))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match read {
            Ok(ours) => {
                let body = ours.first().map(|c| c.body.clone());
                *self.session.ours.borrow_mut() = Some(ours);
                body
            }
            Err(e) => {
                // Deltas need the previous comment; without it the run goes on without them.
                crate::ui::warn(&self.redactor.redact(&format!(
                    "GitHub API: cannot read the previous codeloop comment ({e}); this run's report has no deltas"
                )));
                None
            }
        }
    }

    /// [`Publisher::previous_comment`] on GitLab, once it may ask.
    fn previous_gitlab(&self) -> Option<String> {
        let gl = self.gitlab_client().ok()?;
        let rt = self.runtime().ok()?;
        let read = self
            .optional_read(rt, gl.find_ours())
            .and_then(|r| r.map_err(|e| e.to_string()));
        match read {
            Ok(ours) => {
                let body = ours.first().map(|n| n.body.clone());
                *self.session.notes.borrow_mut() = Some(ours);
                body
            }
            Err(e) => {
                crate::ui::warn(&self.redactor.redact(&format!(
                    "GitLab API: cannot read the previous codeloop note ({e}); this run's report has no deltas"
                )));
                None
            }
        }
    }

    /// `codeloop: gate FAIL · score 72.5 · run ID` and the reasons: printed before anything
    /// is posted, so the verdict is in the log whatever the API does.
    fn print_gate(&self, run: &RunView, out: &mut dyn Write) {
        let Some(g) = &run.gate else {
            let _ = writeln!(
                out,
                "codeloop: run {} has no gate.json (gate-check did not run)",
                run.run_id
            );
            return;
        };
        let v = match g.verdict {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
        };
        let _ = writeln!(
            out,
            "codeloop: gate {v} · score {} · run {}",
            g.score, g.run_id
        );
        for r in &g.reasons {
            let _ = writeln!(out, "  - {}", self.redactor.redact(&escape_md_line(r)));
        }
    }

    /// Publishes a loaded run: summary, annotations, comment, check run. `out` is the log.
    /// Publishes `run` (the `publish` stage in the run's events.jsonl: failed with the
    /// problems when there were any, which stay warnings).
    pub fn publish(&self, run: &RunView, out: &mut dyn Write) -> PublishReport {
        let stage = run
            .run_dir
            .as_deref()
            .map(|d| crate::artifact::stage::StageEvents::start(d, "publish"));
        let report = self.publish_view(run, out);
        if let Some(stage) = stage {
            if report.errors.is_empty() {
                stage.finished();
            } else {
                stage.failed(&report.errors.join("; "));
            }
        }
        report
    }

    fn publish_view(&self, run: &RunView, out: &mut dyn Write) -> PublishReport {
        let mut report = PublishReport::default();
        let warn = |report: &mut PublishReport, msg: String| {
            crate::ui::warn(&self.redactor.redact(&msg));
            report.errors.push(msg);
        };
        // The marker names the comment's key and the CI job that posts it (see `sharing`).
        let keyed = github::with_key(
            &github::heading_with_key(
                &sharing::with_writer(&run.comment, sharing::Writer::from_env(self.env).as_ref()),
                self.opts.comment_key.as_deref(),
            ),
            self.opts.comment_key.as_deref(),
        );
        // A body as posted: redacted, then fitted to the comment's size.
        let fit =
            |b: &str| github::fit_comment(&self.redactor.redact(b), self.opts.max_comment_chars);
        let comment = fit(&keyed);
        let summary = self.redactor.redact(&run.summary).into_owned();
        self.print_gate(run, out);

        if self.opts.summary
            && let Some(path) = self.env.get("GITHUB_STEP_SUMMARY")
            && let Err(e) = actions::append_summary(Path::new(path), &summary)
        {
            warn(&mut report, e.to_string());
        }

        // Printed here, after the stages' output (which is wrapped in `::stop-commands::`),
        // so the runner acts on them; the lines are already escaped by diagnose.
        if self.opts.annotations && self.env.get("GITHUB_ACTIONS").is_some() {
            for line in &run.workflow_annotations {
                let _ = writeln!(out, "{}", self.redactor.redact(line));
            }
        }

        let verdict = run.verdict();
        let want_comment = match self.opts.comment {
            CommentMode::Off => false,
            CommentMode::Always => true,
            CommentMode::OnFailure => verdict != Some(Verdict::Pass),
        };
        let want_delete = self.opts.comment == CommentMode::OnFailure
            && !want_comment
            && self.opts.delete_on_pass;

        if self.is_dry() {
            if want_comment {
                let _ = writeln!(
                    out,
                    "codeloop: dry run (nothing is posted); the PR comment would be:"
                );
                // Fenced only where a runner would act on commands hidden in it.
                let text = if self.env.is_true("GITHUB_ACTIONS") {
                    actions::stop_commands_wrap(&comment)
                } else {
                    comment.clone()
                };
                let _ = out.write_all(text.as_bytes());
            }
            report.comment_action = "printed".into();
            return report;
        }
        if !want_comment && !want_delete && !self.opts.check_run {
            report.comment_action = "skipped".into();
            return report;
        }
        if let Some(w) = self.down_earlier("nothing is posted") {
            report.outages += 1;
            warn(&mut report, w);
            report.comment_action = "skipped".into();
            return report;
        }
        if self.forge() == Forge::GitLab {
            // `want_delete` too: with `comment: on-failure` a passing run removes our old
            // failing note, as on GitHub, instead of leaving it to say the MR fails.
            if want_comment || want_delete {
                let passed = verdict == Some(Verdict::Pass);
                self.publish_gitlab(&keyed, passed, want_comment, &mut report, out);
            } else {
                report.comment_action = "skipped".into();
            }
            return report;
        }
        if let Some(why) = self.cannot_post() {
            report.read_only = why == READ_ONLY_HINT;
            warn(&mut report, why);
            report.comment_action = "skipped".into();
            return report;
        }
        let (rt, gh) = match self.runtime().and_then(|rt| Ok((rt, self.client()?))) {
            Ok(x) => x,
            Err(e) => {
                warn(&mut report, e);
                return report;
            }
        };
        let known = self.session.ours.borrow_mut().take();
        rt.block_on(async {
            let mut pr = self.pr();
            // Set when the PR's number was refused (its head is not the tested commit).
            let mut refused = false;
            // The fork recipe: the number came with the run the fork's job uploaded, so it
            // is the fork's word. The comment goes on that PR only if its head is the commit
            // the triggering workflow run tested; else a fork could make us post its text
            // on any pull request (or its results on a newer push's PR).
            if let (Some(n), Some(tested)) = (pr, self.untrusted_pr_head()) {
                match gh.pull_head(n).await {
                    Ok(head) if head == tested => {}
                    Ok(head) => {
                        pr = None;
                        refused = true;
                        report.comment_action = "skipped".into();
                        warn(
                            &mut report,
                            format!(
                                "pr-number {n}: its head is {}, not {}, the commit the workflow run that made these results tested, so no comment was posted (the number comes from the uploaded run; a newer push to the PR posts its own results)",
                                short_sha(&head),
                                short_sha(&tested)
                            ),
                        );
                    }
                    Err(e) => {
                        pr = None;
                        refused = true;
                        report.comment_action = "skipped".into();
                        warn(
                            &mut report,
                            format!("GitHub API: {e}; pr-number {n} could not be checked against the tested commit, so no comment was posted"),
                        );
                    }
                }
            }
            let mut read_only_warned = false;
            let mut on_err = |report: &mut PublishReport, e: GitHubError, what: &str| {
                if e.is_read_only() {
                    report.read_only = true;
                    if !read_only_warned {
                        read_only_warned = true;
                        let hint = if self.ctx.is_fork_pr() || self.opts.pr.is_some() {
                            READ_ONLY_HINT
                        } else {
                            NO_PERMISSION_HINT
                        };
                        warn(report, format!("{e}: {hint}"));
                    }
                } else {
                    if e.is_outage() {
                        report.outages += 1;
                    }
                    warn(
                        report,
                        format!(
                            "GitHub API: {e}; {what} (the job summary and outputs have the result, and the exit code is the gate's)"
                        ),
                    );
                }
            };
            match (pr, want_comment || want_delete) {
                (Some(pr), true) => {
                    // The comment as it is now: listed for the baseline, else here (the
                    // upsert would list it anyway).
                    let listed = match known {
                        Some(k) => Ok(k),
                        None => gh.find_ours(pr).await,
                    };
                    // Set when the comment stays as another job of this run left it.
                    let mut kept = None;
                    let res = match listed {
                        Err(e) => Err(e),
                        Ok(ours) => {
                            let previous = ours.first().map(|c| c.body.as_str());
                            let passed = verdict == Some(Verdict::Pass);
                            match self.shared_body(&keyed, previous, passed) {
                                Err(noticed) => {
                                    kept = ours.first().cloned();
                                    match noticed {
                                        // The kept comment learns that it is shared.
                                        Some(b) => {
                                            gh.upsert_comment(pr, &fit(&b), Some(ours), None)
                                                .await
                                        }
                                        None => Ok(CommentOutcome::Unchanged),
                                    }
                                }
                                Ok(noticed) if want_comment => {
                                    let body = match noticed {
                                        Some(b) => fit(&b),
                                        None => comment.clone(),
                                    };
                                    // Another job's comment that appears meanwhile
                                    // gets the same decision as one listed before.
                                    let race = |theirs: &str| match self.shared_body(
                                        &keyed,
                                        Some(theirs),
                                        passed,
                                    ) {
                                        Err(noticed) => noticed.map(|b| fit(&b)),
                                        Ok(Some(b)) => Some(fit(&b)),
                                        Ok(None) => Some(body.clone()),
                                    };
                                    gh.upsert_comment(pr, &body, Some(ours), Some(&race)).await
                                }
                                Ok(_) => gh.delete_ours(pr, Some(ours)).await,
                            }
                        }
                    };
                    match res {
                        Ok(CommentOutcome::Created(Comment { id, url, .. })) => {
                            report.comment_action = "created".into();
                            report.comment_id = Some(id);
                            report.comment_url = Some(url);
                        }
                        Ok(CommentOutcome::Updated(Comment { id, url, .. })) => {
                            report.comment_action = "updated".into();
                            report.comment_id = Some(id);
                            report.comment_url = Some(url);
                        }
                        Ok(CommentOutcome::Deleted { .. }) => report.comment_action = "deleted".into(),
                        Ok(CommentOutcome::Unchanged) => report.comment_action = "unchanged".into(),
                        Ok(CommentOutcome::Kept(Comment { id, url, .. })) => {
                            report.comment_action = "kept".into();
                            report.comment_id = Some(id);
                            report.comment_url = Some(url);
                        }
                        Err(e) => on_err(&mut report, e, "the PR comment was not updated"),
                    }
                    if let Some(c) = kept {
                        report.comment_action = "kept".into();
                        report.comment_id = Some(c.id);
                        report.comment_url = Some(c.url);
                    }
                }
                (None, true) if refused => {}
                (None, true) => {
                    report.comment_action = "skipped".into();
                    let _ = writeln!(
                        out,
                        "codeloop: not a pull request ({}), so no PR comment; the job summary has the report",
                        self.ctx.event_name.as_deref().unwrap_or("unknown event")
                    );
                }
                _ => {}
            }
            // A refused token (401) ends publishing: the check run is not even tried.
            if self.opts.check_run && !report.read_only && !gh.is_unauthorized() {
                match (self.opts.head_sha.clone().or_else(|| self.ctx.head_sha()), verdict) {
                    (Some(sha), v) => {
                        let (annotations, note) = capped_check_annotations(
                            &run.annotations,
                            self.opts.max_check_annotations,
                            run.problems_left_out,
                        );
                        if let Some(n) = &note {
                            crate::ui::err_line(&format!("codeloop: check run: {n}"));
                        }
                        let run = CheckRun {
                            name: self.opts.check_name.clone(),
                            head_sha: sha,
                            conclusion: match v {
                                Some(Verdict::Pass) => "success",
                                Some(Verdict::Fail) => "failure",
                                None => "neutral",
                            }
                            .into(),
                            title: check_title(run.gate.as_ref()),
                            summary: summary_with_note(&summary, note.as_deref()),
                            details_url: self.ctx.run_url(),
                            external_id: Some(run.run_id.clone()),
                            annotations,
                        };
                        match gh.create_check_run(&run).await {
                            Ok(url) => report.check_run_url = Some(url),
                            Err(e) => on_err(&mut report, e, "the check run was not created"),
                        }
                    }
                    (None, _) => warn(&mut report, "check-run: no commit sha (GITHUB_SHA) to attach it to".into()),
                }
            }
        });
        report
    }
}

impl Publisher<'_> {
    /// The sticky MR note: posted (`post`), else our old one deleted (`comment: on-failure`
    /// and the gate passed). Every problem is a warning: a note never fails the build.
    fn publish_gitlab(
        &self,
        body: &str,
        passed: bool,
        post: bool,
        report: &mut PublishReport,
        out: &mut dyn Write,
    ) {
        let warn = |report: &mut PublishReport, msg: String| {
            crate::ui::warn(&self.redactor.redact(&msg));
            report.errors.push(msg);
        };
        report.comment_action = "skipped".into();
        let Some(ctx) = gitlab::GitLabContext::from_env(self.env) else {
            warn(
                report,
                "GitLab: CI_API_V4_URL is not set, so there is no GitLab API to post to".into(),
            );
            return;
        };
        if let Some(why) = ctx.cannot_post() {
            let _ = writeln!(out, "codeloop: {why}");
            return;
        }
        let (rt, gl) = match self
            .runtime()
            .and_then(|rt| Ok((rt, self.gitlab_client()?)))
        {
            Ok(x) => x,
            Err(why) => {
                warn(report, why);
                return;
            }
        };
        let known = self.session.notes.borrow_mut().take();
        let res = rt.block_on(async {
            // The note as it is now: listed for the baseline, else here (the upsert would
            // list it anyway).
            let ours = match known {
                Some(k) => k,
                None => gl.find_ours().await?,
            };
            let previous = ours.first().map(|n| n.body.as_str());
            match self.shared_body(body, previous, passed) {
                // Another job of this pipeline failed and wrote it, and this one passed: it
                // stays, learning that it is shared if it did not know.
                Err(noticed) => {
                    let first = ours.first().cloned();
                    if let Some(b) = noticed {
                        let note =
                            gitlab::fit_note(&self.redactor.redact(&b), gitlab::MAX_NOTE_CHARS);
                        gl.upsert(&note, Some(ours)).await?;
                    }
                    Ok(Err(first))
                }
                Ok(_) if !post => gl.delete_ours(Some(ours)).await.map(Ok),
                Ok(noticed) => {
                    let note = gitlab::fit_note(
                        &self.redactor.redact(noticed.as_deref().unwrap_or(body)),
                        gitlab::MAX_NOTE_CHARS,
                    );
                    gl.upsert(&note, Some(ours)).await.map(Ok)
                }
            }
        });
        let res = match res {
            Ok(Err(kept)) => {
                report.comment_action = "kept".into();
                if let Some(n) = kept {
                    report.comment_id = Some(n.id);
                    report.comment_url = gitlab::GitLab::note_url(&ctx, n.id);
                }
                return;
            }
            Ok(Ok(outcome)) => Ok(outcome),
            Err(e) => Err(e),
        };
        match res {
            Ok(outcome) => {
                let (action, n) = match outcome {
                    gitlab::NoteOutcome::Created(n) => ("created", n),
                    gitlab::NoteOutcome::Updated(n) => ("updated", n),
                    // No id or URL: the note is gone (as a deleted GitHub comment).
                    gitlab::NoteOutcome::Deleted { .. } => {
                        report.comment_action = "deleted".into();
                        return;
                    }
                    gitlab::NoteOutcome::Unchanged => {
                        report.comment_action = "unchanged".into();
                        return;
                    }
                };
                report.comment_action = action.into();
                report.comment_id = Some(n.id);
                report.comment_url = gitlab::GitLab::note_url(&ctx, n.id);
            }
            Err(e) => {
                report.read_only = e.is_scope();
                warn(
                    report,
                    format!(
                        "GitLab API: {e}; {} (the exit code is the gate's)",
                        if post {
                            "the MR note was not updated"
                        } else {
                            "the old MR note was not deleted"
                        }
                    ),
                );
            }
        }
    }
}

/// The previous sticky comment (or MR note) of `key` on this PR/MR, read with the process
/// environment's context and token (`GITHUB_TOKEN` or the `github-token` input; the GitLab
/// token variables): what `--baseline comment` reads. `None` when there is none, we may not
/// read it, or under `act`. With `run_dir`, the session spends the run's publishing budget
/// ([`ledger`]), so a later `codeloop publish` of the run gets only what is left.
pub fn previous_comment_from_env(key: Option<String>, run_dir: Option<&Path>) -> Option<String> {
    let env = Env::from_process();
    let ctx = GitHubContext::from_env(&env);
    let token = env
        .get("GITHUB_TOKEN")
        .or_else(|| env.input("github-token"))
        .map(str::to_string);
    let mut redactor = Redactor::from_env(env.iter());
    if let Some(t) = &token {
        redactor.add(t);
    }
    let opts = PublishOptions {
        token,
        author: env.input("comment-author").map(str::to_string),
        comment_key: key,
        retry: PublishOptions::retry_from_env(&env),
        budget: PublishOptions::budget_from_env(&env),
        run_dir: run_dir.map(Path::to_path_buf),
        // With the run, `codeloop publish` posts on what this read leaves of its budget.
        writes_follow: run_dir.is_some(),
        ..PublishOptions::default()
    };
    Publisher::new(&env, &ctx, opts, redactor).previous_comment()
}

fn check_title(g: Option<&GateDoc>) -> String {
    match g {
        Some(g) => format!(
            "{} · score {:.1} · {} failed of {}",
            if g.verdict == Verdict::Pass {
                "Passed"
            } else {
                "Failed"
            },
            g.score,
            g.counts.bad(),
            g.counts.tests
        ),
        None => "No gate result".into(),
    }
}

/// Paths of a run's badge files, when the report stage wrote them.
pub fn badge_paths(run_dir: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let f = |n: &str| {
        let p = run_dir.join(artifact::REPORT_DIR).join(n);
        p.is_file().then_some(p)
    };
    (f("badge.svg"), f("badge.png"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_detection_and_names() {
        assert_eq!(
            detect_forge(&Env::from_pairs([("GITHUB_ACTIONS", "true")])),
            Forge::GitHub
        );
        assert_eq!(detect_forge(&Env::default()), Forge::None);
        assert_eq!("GitHub".parse::<Forge>(), Ok(Forge::GitHub));
        assert!(
            "gitlabx"
                .parse::<Forge>()
                .unwrap_err()
                .contains("auto, github, gitlab or none")
        );
        assert_eq!(
            detect_forge(&Env::from_pairs([("GITLAB_CI", "true")])),
            Forge::GitLab
        );
        assert_eq!("gitlab".parse::<Forge>(), Ok(Forge::GitLab));
    }

    #[test]
    fn the_budget_starts_at_first_use_and_runs_out() {
        let b = Budget::new(Duration::from_millis(50));
        std::thread::sleep(Duration::from_millis(60));
        // Not started yet: all of it is left.
        assert!(b.remaining() > Duration::from_millis(40));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(b.remaining(), Duration::ZERO);
        let env = Env::from_pairs([("CODELOOP_PUBLISH_BUDGET_SECS", "2.5")]);
        assert_eq!(
            PublishOptions::budget_from_env(&env),
            Duration::from_millis(2500)
        );
        let bad = Env::from_pairs([("CODELOOP_PUBLISH_BUDGET_SECS", "-1")]);
        assert_eq!(PublishOptions::budget_from_env(&bad), Budget::DEFAULT);
    }

    #[test]
    fn the_budget_does_not_count_the_local_work_after_a_pause() {
        let b = Budget::new(Duration::from_secs(1));
        assert!(b.remaining() > Duration::from_millis(950));
        std::thread::sleep(Duration::from_millis(50));
        b.pause();
        // The stages run here: more than the whole budget's worth of local work.
        std::thread::sleep(Duration::from_millis(1100));
        let left = b.remaining();
        assert!(
            !left.is_zero() && left <= Duration::from_millis(950),
            "{left:?}"
        );
        // Running again: the clock counts from the restart, on top of what was spent.
        std::thread::sleep(left + Duration::from_millis(10));
        assert_eq!(b.remaining(), Duration::ZERO);
        // A paused clock stays paused, and a clock that never ran has spent nothing.
        b.pause();
        b.pause();
        assert!(b.clock().spent().unwrap() >= Duration::from_millis(1000));
        assert_eq!(Budget::new(Duration::from_secs(1)).clock().spent(), None);
    }

    #[test]
    fn optional_reads_leave_the_writes_their_share() {
        let b = Budget::new(Duration::from_secs(10));
        let s = b.optional_slice().unwrap();
        assert!(
            s <= Duration::from_secs(4) && s > Duration::from_millis(3900),
            "{s:?}"
        );
        // Past 40 % of the budget, an optional read is not tried; the writes still have time.
        let b = Budget::new(Duration::from_secs(2));
        assert!(b.optional_slice().is_some());
        std::thread::sleep(Duration::from_millis(850));
        assert_eq!(b.optional_slice(), None);
        assert!(!b.remaining().is_zero());
    }

    #[test]
    fn the_check_run_note_survives_a_long_summary() {
        let s = summary_with_note(&"é".repeat(40_000), Some("showing 50 of 120 annotations"));
        assert!(s.len() <= github::MAX_CHECK_TEXT_BYTES, "{}", s.len());
        assert!(s.ends_with("\n---\n_codeloop: showing 50 of 120 annotations_\n"));
        assert_eq!(summary_with_note("hi\n", None), "hi\n");
    }

    #[test]
    fn dry_runs_read_no_previous_comment() {
        let env = Env::from_pairs([
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "o/r"),
            // Nothing listens here: a request would be a warning and a delay.
            ("GITHUB_API_URL", "http://127.0.0.1:9"),
            ("GITHUB_REF", "refs/pull/1/merge"),
            ("ACT", "true"),
        ]);
        let ctx = GitHubContext::from_env(&env);
        let opts = PublishOptions {
            token: Some("t".into()),
            ..PublishOptions::default()
        };
        let p = Publisher::new(&env, &ctx, opts, Redactor::default());
        assert!(p.is_dry());
        assert_eq!(p.previous_comment(), None);
        assert!(
            p.session.budget.get().is_none(),
            "no request was even prepared"
        );
    }

    #[test]
    fn a_previous_comment_is_expected_only_where_one_could_be_read() {
        let may = |pairs: &[(&str, &str)], token: Option<&str>| {
            let env = Env::from_pairs(pairs.iter().copied());
            let ctx = GitHubContext::from_env(&env);
            let opts = PublishOptions {
                token: token.map(str::to_string),
                ..PublishOptions::default()
            };
            let p = Publisher::new(&env, &ctx, opts, Redactor::default());
            let may = p.may_read_previous_comment();
            // Asking makes no request.
            assert!(p.session.budget.get().is_none());
            may
        };
        let pr = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_REF", "refs/pull/1/merge"),
        ];
        assert!(may(&pr, Some("t")));
        assert!(!may(&pr, None), "no token");
        assert!(
            !may(
                &[pr[0], pr[1], ("GITHUB_REF", "refs/heads/main")],
                Some("t")
            ),
            "a push has no pull request"
        );
        assert!(
            !may(&[pr[0], pr[1], pr[2], ("ACT", "true")], Some("t")),
            "act"
        );
        assert!(!may(&[("GITHUB_REPOSITORY", "o/r")], Some("t")), "no forge");
        // GitLab: an MR pipeline with a token (CODELOOP_GITLAB_TOKEN or GITLAB_TOKEN).
        let mr = [
            ("GITLAB_CI", "true"),
            ("CI_API_V4_URL", "https://gitlab.example/api/v4"),
            ("CI_PROJECT_ID", "7"),
            ("CI_MERGE_REQUEST_IID", "3"),
        ];
        assert!(may(
            &[mr[0], mr[1], mr[2], mr[3], ("GITLAB_TOKEN", "t")],
            None
        ));
        assert!(
            !may(&[mr[0], mr[1], mr[2], mr[3], ("CI_JOB_TOKEN", "j")], None),
            "the job token cannot read notes"
        );
        assert!(
            !may(&[mr[0], mr[1], mr[2], ("GITLAB_TOKEN", "t")], None),
            "not an MR pipeline"
        );
    }

    #[test]
    fn md_lines_cannot_mention_or_inject_html() {
        assert_eq!(
            escape_md_line("@org/team <b>x</b>\nnext"),
            "@\u{200b}org/team &lt;b&gt;x&lt;/b&gt; next"
        );
    }

    #[test]
    fn hidden_block_is_stripped_for_the_summary() {
        let b = "<!-- codeloop-verify:v1 s=1 -->\n## Hi\n";
        assert_eq!(strip_hidden(b), "## Hi\n");
    }
}
