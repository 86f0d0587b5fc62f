//! Reports (pure): the sticky comment (`comment.md`), the job summary (`summary.md`) and JUnit
//! out (`junit.xml`), rendered from a run's documents. No I/O and no clock here: the
//! `codeloop report` command reads the run directory and writes the files; the GitHub and
//! GitLab publishers call [`render`] for the body and [`state`] for the hidden state.
//!
//! # API
//!
//! ```no_run
//! use codeloop::report::{self, RenderInput, Templates};
//! # fn demo(input: RenderInput) -> Result<(), Box<dyn std::error::Error>> {
//! let templates = Templates::embedded();            // or Templates::with_overrides(...)
//! let out = report::render(&input, &templates, &Default::default())?;
//! // out.comment: first line is report::state::MARKER..., last line the hidden state;
//! // out.summary: the job summary; out.notices: what the user should know (fallbacks).
//! let previous = report::state::decode(&out.comment)?; // what the next run reads back
//! # Ok(()) }
//! ```
//!
//! # How the budget is kept
//!
//! Templates get lists that are already cut to a cap, each with a `more` count for the
//! "and N more" line, and every string already escaped ([`escape`]) and bounded. [`render`]
//! renders, measures, and when the result is over budget lowers every cap and renders again,
//! so a list is cut between items, never in the middle of markup. The marker (first line) and
//! the hidden state (last line) are added by code outside the template and always survive.
//! If a (user) template is still too long with empty lists, a minimal built-in body is used.
//! Sizes are measured in UTF-8 bytes, which is never less than GitHub's character count.

pub mod custom;
pub mod escape;
pub mod html;
pub mod junit;
pub mod state;

use std::collections::BTreeMap;

use minijinja::Environment;
use serde::Serialize;

use crate::artifact::manifest::Context;
use crate::model::{
    Case, CaseView, Category, Counts, Delta, DiagnoseDoc, GateDoc, Location, RepairTask,
    RunnerKind, RunnerStatus, Verdict, VerifyDoc,
};
use crate::settings::ReportConfig;
use escape::{inline, pre};
pub use state::HiddenState;

/// GitHub's hard limit for an issue/PR comment body.
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;
/// The template files [`Templates`] knows, by file name.
pub const TEMPLATE_NAMES: [&str; 2] = ["comment.md", "summary.md"];

const EMBEDDED_COMMENT: &str = include_str!("../../templates/comment.md");
const EMBEDDED_SUMMARY: &str = include_str!("../../templates/summary.md");

/// Errors from rendering: a template that does not compile or fails while rendering.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("template `{file}` line {line}: {message}")]
    Template {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot write JUnit XML: {0}")]
    Junit(String),
}

/// One failing test as the report needs it (from cases.jsonl; bounded by [`CaseDigest`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FailingCase {
    /// `Case::key()`.
    pub key: String,
    pub runner: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Failure message and trace, bounded.
    pub message: String,
    /// The failure's one-line message (or its kind), for a title.
    pub summary: String,
    pub errored: bool,
}

/// Everything [`render`] reads. Build it from a run directory (the `report` command does) or
/// directly from the model types (the publishers and tests do).
#[derive(Clone, Debug, Default)]
pub struct RenderInput {
    pub run_id: String,
    pub tool_version: String,
    pub verify: Option<VerifyDoc>,
    pub diagnose: Option<DiagnoseDoc>,
    pub gate: Option<GateDoc>,
    pub context: Context,
    pub cases: CaseDigest,
    /// Overrides `gate.delta` (e.g. from `--baseline-from-comment`).
    pub delta: Option<Delta>,
    /// A merged run's shards (from merge.json), for the per-shard breakdown; empty otherwise.
    pub shards: Vec<crate::merge::MergedSource>,
}

/// A bounded digest of cases.jsonl: counts, failing tests (details for the first
/// [`CaseDigest::MAX_DETAILED`], keys for the first [`CaseDigest::MAX_KEYS`]) and flaky tests.
/// Feed it every case with [`CaseDigest::observe`]; memory stays bounded for any run size.
#[derive(Clone, Debug, Default)]
pub struct CaseDigest {
    pub counts: Counts,
    pub failing: Vec<FailingCase>,
    /// State keys ([`state::state_key`]) of failing tests, in file order.
    pub failing_keys: Vec<String>,
    pub flaky: Vec<String>,
}

impl CaseDigest {
    pub const MAX_DETAILED: usize = 500;
    pub const MAX_KEYS: usize = 20_000;
    pub const MAX_FLAKY: usize = 1_000;

    pub fn observe(&mut self, c: &Case) {
        self.observe_view(&c.view());
    }

    pub fn observe_view<T: AsRef<str>>(&mut self, c: &CaseView<'_, T>) {
        self.counts.add_case(c.status, c.flaky);
        if c.status.is_bad() {
            let key = c.key();
            if self.failing_keys.len() < Self::MAX_KEYS {
                self.failing_keys.push(state::state_key(&key));
            }
            if self.failing.len() < Self::MAX_DETAILED {
                let f = c.failure.unwrap_or_default();
                // The trace usually repeats the message (and the kind): show each text once.
                let mut message = String::new();
                let trace = f.trace.unwrap_or_default();
                for part in [f.kind, f.message].into_iter().flatten() {
                    if !part.trim().is_empty()
                        && !trace.contains(part.trim())
                        && !message.contains(part)
                    {
                        message.push_str(&escape::truncate_chars(part, 4_000));
                        message.push('\n');
                    }
                }
                message.push_str(&escape::truncate_chars(trace, 4_000));
                let summary = c
                    .failure
                    .and_then(|f| f.message.or(f.kind))
                    .and_then(|m| m.lines().map(str::trim).find(|l| !l.is_empty()))
                    .map(|l| escape::truncate_chars(l.trim_start_matches("E ").trim(), 160))
                    .unwrap_or_default();
                self.failing.push(FailingCase {
                    key: escape::truncate_chars(&key, 1_000),
                    runner: c.runner.to_string(),
                    file: c.file.map(str::to_string),
                    line: c.line,
                    message,
                    summary,
                    errored: c.status == crate::model::Status::Errored,
                });
            }
        } else if c.flaky && self.flaky.len() < Self::MAX_FLAKY {
            self.flaky.push(escape::truncate_chars(&c.key(), 1_000));
        }
    }
}

/// What [`render`] produces.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// The sticky comment: marker line, body, hidden-state line. Within the budget.
    pub comment: String,
    /// The job summary, within `max_summary_bytes`.
    pub summary: String,
    /// The state encoded in the comment's last line.
    pub state: HiddenState,
    /// Things the user should know (template fallbacks, lists that were cut).
    pub notices: Vec<String>,
}

/// The comment and summary templates, embedded or overridden by a user directory.
#[derive(Clone, Debug)]
pub struct Templates {
    /// name -> (file name shown in errors, source)
    sources: BTreeMap<&'static str, (String, String)>,
    notices: Vec<String>,
}

impl Templates {
    /// The templates built into the binary.
    pub fn embedded() -> Templates {
        let mut sources = BTreeMap::new();
        sources.insert(
            "comment.md",
            (
                "comment.md (built-in)".to_string(),
                EMBEDDED_COMMENT.to_string(),
            ),
        );
        sources.insert(
            "summary.md",
            (
                "summary.md (built-in)".to_string(),
                EMBEDDED_SUMMARY.to_string(),
            ),
        );
        Templates {
            sources,
            notices: Vec::new(),
        }
    }

    /// Templates from a user directory. `read(name)` returns the file's text or `None` when
    /// the directory has no such file; a missing file falls back to the built-in one with a
    /// notice. Every template is compiled here, so a syntax error names file and line now.
    pub fn with_overrides(
        dir: &str,
        mut read: impl FnMut(&str) -> Option<String>,
    ) -> Result<Templates, ReportError> {
        let mut t = Templates::embedded();
        for name in TEMPLATE_NAMES {
            let shown = format!("{}/{name}", dir.trim_end_matches('/'));
            match read(name) {
                Some(src) => {
                    t.sources.insert(name, (shown, src));
                }
                None => t.notices.push(format!(
                    "template `{shown}` not found: using the built-in {name}"
                )),
            }
        }
        t.environment()?;
        Ok(t)
    }

    /// Notices from loading (fallbacks to built-in templates).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    fn environment(&self) -> Result<Environment<'static>, ReportError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        // Every value is escaped by us for Markdown; no HTML auto-escaping on top.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        for (file, src) in self.sources.values() {
            env.add_template_owned(file.clone(), src.clone())
                .map_err(|e| template_error(file, &e))?;
        }
        Ok(env)
    }

    fn file(&self, name: &str) -> String {
        self.sources
            .get(name)
            .map(|(f, _)| f.clone())
            .unwrap_or_else(|| name.to_string())
    }
}

fn template_error(file: &str, e: &minijinja::Error) -> ReportError {
    let what = e.kind().to_string();
    let message = match e.detail() {
        Some(d) => format!("{what}: {d}"),
        None => what,
    };
    ReportError::Template {
        file: e.name().unwrap_or(file).to_string(),
        line: e.line().unwrap_or(0),
        message,
    }
}

/// How many items each list may show; lowered until the output fits.
#[derive(Clone, Copy, Debug)]
struct Caps {
    tasks: usize,
    tests_per_task: usize,
    evidence_chars: usize,
    evidence_lines: usize,
    deltas: usize,
    flaky: usize,
    slowest: usize,
    runners: usize,
    reasons: usize,
    reason_chars: usize,
    name_chars: usize,
}

impl Caps {
    fn comment(slowest: usize) -> Caps {
        Caps {
            tasks: 15,
            tests_per_task: 5,
            evidence_chars: 1_500,
            evidence_lines: 25,
            deltas: 10,
            flaky: 10,
            slowest,
            runners: 30,
            reasons: 5,
            reason_chars: 160,
            name_chars: 200,
        }
    }
    fn summary(slowest: usize) -> Caps {
        Caps {
            tasks: 300,
            tests_per_task: 20,
            evidence_chars: 6_000,
            evidence_lines: 80,
            deltas: 300,
            flaky: 200,
            slowest: slowest.max(20),
            runners: 300,
            reasons: 50,
            reason_chars: 2_000,
            name_chars: 500,
        }
    }
    /// Two thirds of every cap (lists at least lose one item).
    fn shrink(&mut self) -> bool {
        let f = |n: usize| if n == 0 { 0 } else { (n * 2 / 3).min(n - 1) };
        let before = (
            self.tasks,
            self.deltas,
            self.flaky,
            self.slowest,
            self.runners,
        );
        self.tasks = f(self.tasks);
        self.tests_per_task = f(self.tests_per_task);
        self.evidence_chars = f(self.evidence_chars).max(200);
        self.evidence_lines = f(self.evidence_lines).max(5);
        self.deltas = f(self.deltas);
        self.flaky = f(self.flaky);
        self.slowest = f(self.slowest);
        self.runners = f(self.runners);
        self.reasons = f(self.reasons).max(1);
        self.name_chars = f(self.name_chars).max(60);
        before
            != (
                self.tasks,
                self.deltas,
                self.flaky,
                self.slowest,
                self.runners,
            )
    }
}

#[derive(Serialize)]
struct List<T> {
    items: Vec<T>,
    more: usize,
    total: usize,
}

fn cut<T, U>(all: &[T], cap: usize, f: impl FnMut(&T) -> U) -> List<U> {
    let items: Vec<U> = all.iter().take(cap).map(f).collect();
    List {
        more: all.len() - items.len(),
        total: all.len(),
        items,
    }
}

#[derive(Serialize)]
struct RunnerRow {
    icon: &'static str,
    id: String,
    kind: &'static str,
    status: String,
    counts: String,
    duration: String,
    hint: String,
}

/// One shard of a merged run: which shard, what it ran, its results, how long.
#[derive(Serialize)]
struct ShardRow {
    icon: &'static str,
    name: String,
    runners: String,
    counts: String,
    duration: String,
}

#[derive(Serialize)]
struct TaskView {
    n: usize,
    /// One of its tests fails now and did not in the baseline (listed first; not set when
    /// every task is new).
    new: bool,
    icon: &'static str,
    category: &'static str,
    title: String,
    location: String,
    tests: List<String>,
    evidence: String,
    reproduce: String,
}

#[derive(Serialize)]
struct SlowView {
    id: String,
    duration: String,
    status: &'static str,
}

#[derive(Serialize)]
struct ComponentView {
    name: String,
    points: String,
    weight: String,
    explanation: String,
}

#[derive(Serialize)]
struct RuleView {
    icon: &'static str,
    rule: String,
    limit: String,
    actual: String,
    reason: String,
}

#[derive(Serialize)]
struct View {
    run_id: String,
    tool_version: String,
    icon: &'static str,
    headline: &'static str,
    verdict: &'static str,
    score: String,
    score_delta: String,
    counts: Counts,
    /// ` (+2)` style suffixes per count, empty without a baseline.
    d: BTreeMap<&'static str, String>,
    lint: crate::model::LintCounts,
    has_lint: bool,
    /// What the lint counts are: `lint`, or `build` when every error among them is a
    /// compiler's (diagnose's build errors from collected compiler output).
    lint_label: &'static str,
    reasons: List<String>,
    runners: List<RunnerRow>,
    shards: List<ShardRow>,
    tasks: List<TaskView>,
    problems_total: usize,
    /// `5 to fix` or `120 problems, 5 to fix`.
    broke_note: String,
    has_baseline: bool,
    baseline_run: String,
    new_failures: List<String>,
    fixed: List<String>,
    /// Failing now, not in a cut baseline: whether they failed before is unknown.
    unknown_failures: List<String>,
    flaky: List<String>,
    flaky_total: u64,
    slowest: List<SlowView>,
    components: Vec<ComponentView>,
    rules: Vec<RuleView>,
    run_url: String,
    commit: String,
}

/// A score as people read it: `92`, `61.5` (one decimal only when there is one).
pub fn fmt_score(score: f64) -> String {
    let s = (score.clamp(0.0, 100.0) * 10.0).round() / 10.0;
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s:.1}")
    }
}

/// Human duration: `0.42s`, `12.3s`, `3m 04s`, `1h 02m`.
/// The headline of a gate reason: `11 failing tests: 6 in js/spec: A (x.js:3), ... (max_failures
/// is 0)` → `11 failing tests (max_failures is 0)` (the part before the first `: ` and the
/// closing parenthesis). A reason without a list is returned whole.
pub fn short_reason(r: &str) -> String {
    let Some((head, _)) = r.split_once(": ") else {
        return r.to_string();
    };
    match r.rfind(" (").filter(|_| r.ends_with(')')) {
        Some(i) if i > head.len() => format!("{head}{}", &r[i..]),
        _ => head.to_string(),
    }
}

/// A gate reason within `max` characters, never cut inside a test name: whole when it fits,
/// else its headline ([`short_reason`]), else cut at a word with `…`.
pub fn fit_reason(r: &str, max: usize) -> String {
    if r.chars().count() <= max {
        return r.to_string();
    }
    let short = short_reason(r);
    if short.chars().count() <= max {
        return short;
    }
    let mut out = String::new();
    for w in short.split(' ') {
        if out.chars().count() + w.chars().count() + 2 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.push('…');
    out
}

/// Whether [`fmt_duration`] shows `secs` as more than zero (at least 0.005 s).
pub fn shows_as_time(secs: f64) -> bool {
    secs.is_finite() && secs >= 0.005
}

pub fn fmt_duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    if secs < 10.0 {
        format!("{secs:.2}s")
    } else if secs < 60.0 {
        format!("{secs:.1}s")
    } else if secs < 3600.0 {
        let s = secs.round() as u64;
        format!("{}m {:02}s", s / 60, s % 60)
    } else {
        let m = (secs / 60.0).round() as u64;
        format!("{}h {:02}m", m / 60, m % 60)
    }
}

fn signed(n: i64) -> String {
    if n > 0 {
        format!(" (+{n})")
    } else if n < 0 {
        format!(" (−{})", -n)
    } else {
        String::new()
    }
}

fn runner_icon(s: RunnerStatus) -> &'static str {
    match s {
        RunnerStatus::Passed => "✅",
        RunnerStatus::Failed | RunnerStatus::Crashed | RunnerStatus::LimitExceeded => "❌",
        RunnerStatus::Timeout => "⏱️",
        RunnerStatus::Blocked | RunnerStatus::Interrupted => "⛔",
        RunnerStatus::Unavailable => "⚠️",
        RunnerStatus::Skipped => "⏭️",
    }
}

fn category_icon(c: Category) -> &'static str {
    match c {
        Category::BuildError => "🧱",
        Category::Crash => "💥",
        Category::Timeout => "⏱️",
        Category::TestFailure | Category::TestError => "❌",
        Category::Flaky => "🎲",
        Category::Lint => "🧹",
        Category::NoResults | Category::ParseError => "📭",
        Category::Blocked => "⛔",
        Category::Unavailable => "⚠️",
    }
}

fn category_label(c: Category) -> &'static str {
    match c {
        Category::BuildError => "build error",
        Category::Crash => "crash",
        Category::Timeout => "timeout",
        Category::TestFailure => "test failure",
        Category::TestError => "test error",
        Category::Flaky => "flaky",
        Category::Lint => "lint",
        Category::NoResults => "no results",
        Category::Blocked => "blocked",
        Category::Unavailable => "unavailable",
        Category::ParseError => "unreadable report",
    }
}

/// `file:line` as a link to the file at the head commit when the CI context allows, as
/// escaped `<code>` otherwise. Empty without a location.
fn location_md(loc: Option<&Location>, ctx: &Context, max: usize) -> String {
    let Some(loc) = loc else {
        return String::new();
    };
    let text = inline(&loc.to_string(), max);
    let server = ctx.server_url.as_deref().and_then(escape::safe_url);
    let repo = ctx.repository.as_deref().filter(|r| escape::safe_repo(r));
    let sha = ctx.sha.as_deref().filter(|s| escape::safe_sha(s));
    match (server, repo, sha) {
        (Some(server), Some(repo), Some(sha)) if escape::linkable_path(&loc.file) => {
            let blob = if ctx.ci.as_deref() == Some("gitlab") {
                "-/blob"
            } else {
                "blob"
            };
            let anchor = loc.line.map(|l| format!("#L{l}")).unwrap_or_default();
            format!(
                "[<code>{text}</code>]({server}/{repo}/{blob}/{sha}/{}{anchor})",
                escape::url_path(&loc.file)
            )
        }
        _ => format!("<code>{text}</code>"),
    }
}

/// `1 error`, `2 errors`: a count with its noun (a regular plural), as every count line of
/// the loop says it (the comment, the progress lines, verify's totals).
pub fn count(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn runner_counts(r: &crate::model::RunnerResult) -> String {
    let c = &r.counts;
    let mut parts = Vec::new();
    if r.kind == RunnerKind::Lint || (c.tests == 0 && r.lint.total() > 0) {
        let l = &r.lint;
        parts.push(count(l.errors, "error"));
        if l.warnings > 0 {
            parts.push(count(l.warnings, "warning"));
        }
    } else if c.tests > 0 {
        parts.push(format!("{} passed", c.passed));
        for (n, what) in [
            (c.failed, "failed"),
            (c.errored, "errored"),
            (c.skipped, "skipped"),
            (c.flaky, "flaky"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
    } else if !r.suite_errors.is_empty() {
        parts.push(count(r.suite_errors.len() as u64, "error"));
    } else {
        parts.push("no results".into());
    }
    parts.join(", ")
}

/// One pseudo-task per failing test, for a run without diagnose.json (so the comment still
/// says what broke and where). Empty when diagnose has tasks.
fn pseudo_tasks(input: &RenderInput) -> Vec<RepairTask> {
    if input.diagnose.as_ref().is_some_and(|d| !d.tasks.is_empty()) {
        return Vec::new();
    }
    input
        .cases
        .failing
        .iter()
        .enumerate()
        .map(|(i, f)| RepairTask {
            id: format!("t{}", i + 1),
            category: if f.errored {
                Category::TestError
            } else {
                Category::TestFailure
            },
            title: if f.summary.is_empty() {
                f.key.clone()
            } else {
                format!("{} — {}", f.key, f.summary)
            },
            location: f.file.as_ref().map(|file| Location {
                file: file.clone(),
                line: f.line,
                column: None,
                exists: None,
            }),
            evidence: f.message.clone(),
            reproduce: None,
            problems: Vec::new(),
            tests: Vec::new(),
        })
        .collect()
}

/// The order "What broke" lists repair tasks in, each with whether it covers a failure new
/// since the baseline: those that do first (in diagnose's order among themselves), so the
/// first task is the one this change most likely caused; then the others in diagnose's order.
/// The check run's annotations follow the same order.
pub fn broke_order<'a>(
    tasks: impl IntoIterator<Item = &'a RepairTask>,
    new_failures: &[String],
) -> Vec<(bool, &'a RepairTask)> {
    let new_keys: std::collections::HashSet<&str> =
        new_failures.iter().map(String::as_str).collect();
    let mut tasks: Vec<(bool, &RepairTask)> = tasks
        .into_iter()
        .map(|t| (t.tests.iter().any(|k| new_keys.contains(k.as_str())), t))
        .collect();
    tasks.sort_by_key(|(new, _)| !new);
    tasks
}

struct Prepared<'a> {
    tasks: &'a [RepairTask],
    delta: Option<&'a Delta>,
    counts: Counts,
}

/// `build` when the run's findings with errors are all a compiler's (diagnose's
/// [`Category::BuildError`] from a finding: no test, no suite), `lint` otherwise: the
/// headline's `lint: 4 errors` said lint of `cargo build` output diagnose calls build errors.
fn lint_label(diagnose: Option<&crate::model::DiagnoseDoc>) -> &'static str {
    let Some(d) = diagnose else { return "lint" };
    let build = d
        .problems
        .iter()
        .any(|p| p.category == Category::BuildError && p.test.is_none() && p.suite_error.is_none());
    let lint_errors = d
        .problems
        .iter()
        .any(|p| p.category == Category::Lint && p.severity == crate::model::Severity::Error);
    if build && !lint_errors {
        "build"
    } else {
        "lint"
    }
}

fn build_view(input: &RenderInput, p: &Prepared<'_>, caps: &Caps) -> View {
    let nc = caps.name_chars;
    let gate = input.gate.as_ref();
    let (icon, headline, verdict) = match gate.map(|g| g.verdict) {
        Some(Verdict::Pass) => ("✅", "passed", "pass"),
        Some(Verdict::Fail) => ("❌", "failed", "fail"),
        None => ("⚪", "not gated", ""),
    };
    let delta = p.delta;
    let score = gate.map(|g| fmt_score(g.score)).unwrap_or_default();
    let score_delta = match delta.and_then(|d| d.score_change) {
        Some(x) if x.abs() >= 0.05 => {
            if x > 0.0 {
                format!(" (+{x:.1})")
            } else {
                format!(" (−{:.1})", -x)
            }
        }
        Some(_) => " (±0)".into(),
        None => String::new(),
    };
    let c = p.counts;
    let mut d = BTreeMap::new();
    let before = delta.and_then(|d| d.counts_before);
    for (k, now, was) in [
        ("tests", c.tests, before.map(|b| b.tests)),
        ("passed", c.passed, before.map(|b| b.passed)),
        ("failed", c.failed, before.map(|b| b.failed)),
        ("errored", c.errored, before.map(|b| b.errored)),
        ("skipped", c.skipped, before.map(|b| b.skipped)),
        ("flaky", c.flaky, before.map(|b| b.flaky)),
    ] {
        let s = was
            .map(|w| signed(now as i64 - w as i64))
            .unwrap_or_default();
        d.insert(k, s);
    }
    let lint = gate
        .map(|g| g.lint)
        .or(input.verify.as_ref().map(|v| v.lint))
        .unwrap_or_default();
    let reasons: Vec<String> = gate.map(|g| g.reasons.clone()).unwrap_or_default();
    let runners = input
        .verify
        .as_ref()
        .map(|v| v.runners.as_slice())
        .unwrap_or(&[]);
    let ctx = &input.context;
    let new_failures = delta.map(|d| d.new_failures.as_slice()).unwrap_or(&[]);
    let fixed = delta.map(|d| d.fixed.as_slice()).unwrap_or(&[]);
    let unknown = delta.map(|d| d.unknown.as_slice()).unwrap_or(&[]);
    // A row that would read `0.00s` says nothing (sub-resolution timers, formats without
    // durations): only tests measurable at the shown resolution are listed.
    let slowest: Vec<crate::model::SlowTest> = input
        .verify
        .as_ref()
        .map(|v| v.slowest.as_slice())
        .unwrap_or(&[])
        .iter()
        .filter(|s| shows_as_time(s.duration))
        .cloned()
        .collect();
    let code = |s: &String| format!("<code>{}</code>", inline(s, nc));
    // A test key is `runner::test`; with one runner the prefix is the same on every line and
    // says nothing the runners table does not. A key listed twice (the same test in two
    // reports, a repeated name) is shown once.
    let one_runner = match runners {
        [r] => Some(format!("{}::", r.id)),
        _ => None,
    };
    let test_label = |k: &String| -> String {
        let short = one_runner
            .as_deref()
            .and_then(|p| k.strip_prefix(p))
            .filter(|s| !s.is_empty())
            .unwrap_or(k);
        format!("<code>{}</code>", inline(short, nc))
    };
    let problems_total = input
        .diagnose
        .as_ref()
        .map(|d| d.problems.len() + d.truncated as usize)
        .unwrap_or(p.tasks.len());
    // A flaky test passed: it is not something that broke, and the Flaky section lists it.
    let flaky_listed = !input.cases.flaky.is_empty();
    let mut tasks = broke_order(
        p.tasks
            .iter()
            .filter(|t| !(flaky_listed && t.category == Category::Flaky)),
        new_failures,
    );
    // Marked only when some are new and some are not: when all are, the mark says nothing.
    if tasks.iter().all(|(new, _)| *new) {
        tasks.iter_mut().for_each(|(new, _)| *new = false);
    }
    let mut n = 0;
    View {
        run_id: inline(&input.run_id, 80),
        tool_version: inline(&input.tool_version, 40),
        icon,
        headline,
        verdict,
        score,
        score_delta,
        counts: c,
        d,
        lint,
        has_lint: lint.total() > 0,
        lint_label: lint_label(input.diagnose.as_ref()),
        reasons: cut(&reasons, caps.reasons, |r| {
            escape::inline_code(&fit_reason(r, caps.reason_chars), caps.reason_chars)
        }),
        runners: cut(runners, caps.runners, |r| RunnerRow {
            icon: runner_icon(r.status),
            id: inline(&r.id, 60),
            kind: r.kind.as_str(),
            // In a merged run, where a runner that did not pass ended that way.
            status: match r.shards_shown() {
                Some(sh) if r.status != RunnerStatus::Passed => {
                    format!("{} {}", r.status.as_str(), inline(&sh, 120))
                }
                _ => r.status.as_str().to_string(),
            },
            counts: runner_counts(r),
            duration: fmt_duration(r.duration),
            hint: r
                .hint
                .as_deref()
                .map(|h| inline(h, 200))
                .unwrap_or_default(),
        }),
        shards: cut(&input.shards, caps.runners, |s| {
            let c = s.counts;
            ShardRow {
                icon: if !s.complete {
                    "⚠️"
                } else if c.bad() > 0 || !s.failed.is_empty() {
                    "❌"
                } else {
                    "✅"
                },
                name: match s.shard {
                    Some(sh) => sh.to_string(),
                    None => inline(
                        s.dir.rsplit('/').find(|p| !p.is_empty()).unwrap_or(&s.dir),
                        60,
                    ),
                },
                // How a runner that did not pass ended, beside its name: `build (crashed)`.
                runners: inline(
                    &s.runners
                        .iter()
                        .map(|id| match s.failed.iter().find(|f| &f.id == id) {
                            Some(f) => format!("{id} ({})", f.status.as_str()),
                            None => id.clone(),
                        })
                        .collect::<Vec<_>>()
                        .join(", "),
                    200,
                ),
                counts: format!(
                    "{} tests: {} passed, {} failed{}",
                    c.tests,
                    c.passed,
                    c.bad(),
                    if c.skipped > 0 {
                        format!(", {} skipped", c.skipped)
                    } else {
                        String::new()
                    }
                ),
                duration: fmt_duration(s.duration),
            }
        }),
        tasks: cut(&tasks, caps.tasks, |&(new, t)| {
            n += 1;
            TaskView {
                n,
                new,
                icon: category_icon(t.category),
                category: category_label(t.category),
                // A test's title is its name and message, both the test's own text: a
                // backtick in a name would pair with one in the message and change both.
                // Our own titles (runners, suites) quote names in backticks: code spans.
                title: if t.tests.is_empty() {
                    escape::inline_code(&t.title, nc)
                } else {
                    inline(&t.title, nc)
                },
                location: location_md(t.location.as_ref(), ctx, nc),
                tests: {
                    let shown = t.failing_tests();
                    // One test whose name the title already says: do not repeat it.
                    if let [one] = shown.as_slice()
                        && t.title
                            .contains(one.rsplit("::").next().unwrap_or_default())
                    {
                        cut(&[], 0, code)
                    } else {
                        cut(&shown, caps.tests_per_task, |k| test_label(k))
                    }
                },
                evidence: pre(&t.evidence, caps.evidence_chars, caps.evidence_lines),
                reproduce: t
                    .reproduce
                    .as_deref()
                    .map(|r| pre(r, 500, 3))
                    .unwrap_or_default(),
            }
        }),
        problems_total,
        broke_note: if problems_total > p.tasks.len() {
            format!("{problems_total} problems, {} to fix", p.tasks.len())
        } else {
            format!("{} to fix", p.tasks.len())
        },
        has_baseline: delta.is_some(),
        baseline_run: delta
            .and_then(|d| d.baseline_run_id.as_deref())
            .map(|r| inline(r, 80))
            .unwrap_or_default(),
        new_failures: cut(new_failures, caps.deltas, test_label),
        fixed: cut(fixed, caps.deltas, test_label),
        unknown_failures: cut(unknown, caps.deltas, test_label),
        flaky: cut(&input.cases.flaky, caps.flaky, test_label),
        flaky_total: c.flaky,
        slowest: cut(&slowest, caps.slowest, |s| SlowView {
            id: code(&s.id),
            duration: fmt_duration(s.duration),
            status: s.status.as_str(),
        }),
        components: gate
            .map(|g| {
                g.components
                    .iter()
                    .map(|c| ComponentView {
                        name: inline(&c.name, 60),
                        points: format!("{:.1}", c.points),
                        weight: format!("{:.0}", c.weight),
                        explanation: inline(&c.explanation, 300),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        rules: gate
            .map(|g| {
                g.rules
                    .iter()
                    .map(|r| RuleView {
                        icon: if r.passed { "✅" } else { "❌" },
                        rule: inline(&r.rule, 60),
                        limit: inline(&r.limit, 100),
                        actual: inline(&r.actual, 100),
                        // A failed rule's reason is already under "Verdict": its headline
                        // here, so the list of tests is not printed twice.
                        reason: if !r.passed && reasons.contains(&r.reason) {
                            escape::inline_code(&short_reason(&r.reason), 300)
                        } else {
                            escape::inline_code(&fit_reason(&r.reason, 300), 300)
                        },
                    })
                    .collect()
            })
            .unwrap_or_default(),
        run_url: ctx
            .run_url
            .as_deref()
            .and_then(escape::safe_url)
            .unwrap_or_default(),
        commit: ctx
            .sha
            .as_deref()
            .filter(|s| escape::safe_sha(s))
            .map(|s| s[..s.len().min(7)].to_string())
            .unwrap_or_default(),
    }
}

fn render_one(env: &Environment<'_>, file: &str, view: &View) -> Result<String, ReportError> {
    let tmpl = env
        .get_template(file)
        .map_err(|e| template_error(file, &e))?;
    let out = tmpl.render(view).map_err(|e| template_error(file, &e))?;
    // Collapse runs of blank lines a template's conditionals leave behind.
    let mut clean = String::with_capacity(out.len());
    let mut blank = 0;
    for line in out.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        clean.push_str(line.trim_end());
        clean.push('\n');
    }
    Ok(clean.trim().to_string())
}

/// Renders with shrinking caps until `fits`; `None` if even empty lists do not fit.
fn render_within(
    env: &Environment<'_>,
    file: &str,
    input: &RenderInput,
    p: &Prepared<'_>,
    mut caps: Caps,
    budget: usize,
) -> Result<(String, bool), ReportError> {
    let mut cut_lists = false;
    loop {
        let view = build_view(input, p, &caps);
        let body = render_one(env, file, &view)?;
        if body.len() <= budget {
            return Ok((body, cut_lists));
        }
        cut_lists = true;
        if !caps.shrink() {
            // Still too long with (almost) empty lists: a user template that prints too much.
            let mut minimal = format!(
                "## {} codeloop: {}{}\n\nThe report did not fit in {budget} bytes; see the job summary{}.",
                view.icon,
                view.headline,
                if view.score.is_empty() {
                    String::new()
                } else {
                    format!(" — score {}", view.score)
                },
                if view.run_url.is_empty() {
                    String::new()
                } else {
                    format!(" and the [run]({})", view.run_url)
                }
            );
            let mut end = budget.min(minimal.len());
            while !minimal.is_char_boundary(end) {
                end -= 1;
            }
            minimal.truncate(end);
            return Ok((minimal, true));
        }
    }
}

/// Renders the comment and the summary for one run. Pure: no I/O, no clock.
pub fn render(
    input: &RenderInput,
    templates: &Templates,
    settings: &ReportConfig,
) -> Result<Rendered, ReportError> {
    let env = templates.environment()?;
    let mut notices = templates.notices.clone();
    let counts = input
        .gate
        .as_ref()
        .map(|g| g.counts)
        .or(input.verify.as_ref().map(|v| v.totals))
        .unwrap_or(input.cases.counts);
    let pseudo = pseudo_tasks(input);
    let p = Prepared {
        tasks: match &input.diagnose {
            Some(d) if !d.tasks.is_empty() => &d.tasks,
            _ => &pseudo,
        },
        delta: input
            .delta
            .as_ref()
            .or_else(|| input.gate.as_ref().and_then(|g| g.delta.as_ref())),
        counts,
    };

    let hidden = HiddenState {
        v: 1,
        run_id: input.run_id.clone(),
        score: input.gate.as_ref().map(|g| g.score),
        verdict: input.gate.as_ref().map(|g| g.verdict.as_str().to_string()),
        counts,
        failing: input.cases.failing_keys.clone(),
        failing_total: counts.bad().max(input.cases.failing_keys.len() as u64),
        ..Default::default()
    };
    let limit = settings
        .max_comment_chars
        .clamp(1_000, GITHUB_COMMENT_LIMIT);
    // The state gets at most a fifth of the comment, so the story always has room. Encoding
    // a state of thousands of failing keys takes tens of milliseconds (compressed until it
    // fits): it is done beside the job summary, which does not need it.
    let summary_limit = settings.max_summary_bytes.clamp(10_000, 1024 * 1024 - 1);
    let summary_file = templates.file("summary.md");
    let (state_line, summary) = std::thread::scope(|s| {
        let state =
            s.spawn(|| state::encode_within(&hidden, (limit / 5).min(state::MAX_STATE_CHARS)));
        let summary = render_within(
            &env,
            &summary_file,
            input,
            &p,
            Caps::summary(settings.slowest),
            summary_limit - 1,
        );
        let state = state
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e));
        (state, summary)
    });
    let (summary, cut_s) = summary?;
    let marker = format!(
        "{} run={} -->",
        state::MARKER,
        escape::url_path(&escape::truncate_chars(&input.run_id, 64))
    );
    let limit = settings
        .max_comment_chars
        .clamp(1_000, GITHUB_COMMENT_LIMIT);
    let budget = limit.saturating_sub(marker.len() + state_line.len() + 4);
    let comment_file = templates.file("comment.md");
    let (body, cut_c) = render_within(
        &env,
        &comment_file,
        input,
        &p,
        Caps::comment(settings.slowest),
        budget,
    )?;
    if cut_c {
        notices.push(format!(
            "the comment was shortened to fit {limit} characters; the job summary has more"
        ));
    }
    let comment = format!("{marker}\n{body}\n\n{state_line}\n");
    if cut_s {
        notices.push(format!(
            "the job summary was shortened to fit {summary_limit} bytes"
        ));
    }
    let state = state::decode(&state_line).unwrap_or(hidden);
    Ok(Rendered {
        comment,
        summary: summary + "\n",
        state,
        notices,
    })
}

#[cfg(test)]
mod reason_tests {
    use super::*;

    #[test]
    fn long_reasons_are_shortened_to_their_headline_never_mid_name() {
        let r = "11 failing tests: 6 in js/spec: Hook failure::never really runs (js/a.js:4), B (js/b.js:9) and 2 more; 5 in tests: C (t.py:1) (max_failures is 0)";
        assert_eq!(short_reason(r), "11 failing tests (max_failures is 0)");
        assert_eq!(fit_reason(r, 500), r);
        assert_eq!(fit_reason(r, 60), "11 failing tests (max_failures is 0)");
        assert_eq!(fit_reason(r, 20), "11 failing tests…");
        assert_eq!(
            short_reason("score 41 < min_score 80"),
            "score 41 < min_score 80"
        );
        assert_eq!(short_reason("2 failing tests: a, b"), "2 failing tests");
    }

    /// The runners table said `1 errors` for a linter with one finding.
    #[test]
    fn runner_counts_say_one_error_in_the_singular() {
        let mut r: crate::model::RunnerResult = serde_json::from_value(serde_json::json!({
            "id": "ruff", "kind": "lint", "source": "builtin", "status": "failed",
            "duration": 0.3
        }))
        .unwrap();
        r.lint.errors = 1;
        r.lint.warnings = 1;
        assert_eq!(runner_counts(&r), "1 error, 1 warning");
        r.lint.errors = 2;
        r.lint.warnings = 0;
        assert_eq!(runner_counts(&r), "2 errors");
    }

    #[test]
    fn zero_durations_are_not_shown_as_time() {
        assert!(!shows_as_time(0.0) && !shows_as_time(0.004) && !shows_as_time(f64::NAN));
        assert!(shows_as_time(0.005) && shows_as_time(2.0));
    }
}
