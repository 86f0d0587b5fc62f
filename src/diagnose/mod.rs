//! Diagnose (pure): turns a run's results (verify.json, the failing cases, the findings) into
//! problems — each with a category, a repo-relative location, bounded evidence and a command
//! to reproduce it — and folds them into repair tasks, one per root cause, ordered build →
//! crashes → failures → lint. Also renders GitHub annotations, SARIF 2.1.0 and GitLab Code
//! Quality from the result ([`output`]).
//!
//! No I/O here: the `diagnose` command streams cases.jsonl (keeping only the failing and
//! flaky ones), reads log tails, and afterwards checks locations against the workspace.

pub mod explain;
pub mod location;
pub mod output;
pub mod reproduce;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;

use crate::model::{
    Case, Category, DiagnoseDoc, Finding, Location, Problem, RepairTask, RunnerKind, RunnerResult,
    RunnerStatus, SCHEMA_VERSION, Severity, Status, SuiteError, VerifyDoc,
};
use crate::parsers::text::clean_control;
use location::{PathContext, normalize_path, user_frame_at};

/// Bounds of the diagnosis.
#[derive(Clone, Debug)]
pub struct Options {
    /// Problems kept in diagnose.json; the rest are counted in `truncated`.
    pub max_problems: usize,
    /// Bytes of evidence per problem.
    pub evidence_bytes: usize,
    /// Lines of trace kept before and after the user's frame.
    pub context_lines: usize,
    /// Extra workspace roots (`GITHUB_WORKSPACE`, `CI_PROJECT_DIR`) besides verify's cwd.
    pub roots: Vec<String>,
    /// The workspace's files, repo-relative (listed by the command layer), for paths printed
    /// on another machine or in a container.
    pub workspace_files: Option<std::sync::Arc<std::collections::HashSet<String>>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_problems: 2000,
            evidence_bytes: 2000,
            context_lines: 3,
            roots: Vec::new(),
            workspace_files: None,
        }
    }
}

/// What diagnose reads.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    pub verify: &'a VerifyDoc,
    /// Non-passing and flaky cases (passing ones are not needed and may be millions).
    pub cases: &'a [Case],
    pub findings: &'a [Finding],
    /// Runner id → the tail of its logs, for runners that failed without results.
    pub logs: &'a BTreeMap<String, String>,
}

// Word boundaries are ASCII (`(?-u:\b)`): a Unicode `\b` makes the regex engine give up its
// DFA on any non-ASCII haystack (jest's `●`, pytest's `·`) and fall back to the slow PikeVM,
// which cost ~150 µs per failure; the words matched here are ASCII anyway.
static CRASH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)segmentation fault|(?-u:\b)SIG(?:SEGV|ABRT|BUS|ILL|FPE|KILL)(?-u:\b)|core dumped|has overflowed its stack|stack overflow|fatal runtime error|access violation|killed by signal|(?m:^\s*panic: )|fatal error: (?:all goroutines|concurrent map)|out of memory",
    )
    .expect("static regex")
});
static TIMEOUT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?-u:\b)timed out(?-u:\b)|exceeded timeout|timeout of \d+ ?ms|(?-u:\b)TimeoutError(?-u:\b)|test timed out|panic: test timed out|(?-u:\b)timeout after(?-u:\b)|Timeout >")
        .expect("static regex")
});

/// Category of a failing case from its status and failure text.
pub fn case_category(case: &Case) -> Category {
    if case.status == Status::Passed && case.flaky {
        return Category::Flaky;
    }
    let text = failure_text(case);
    if CRASH.is_match(&text) {
        Category::Crash
    } else if TIMEOUT.is_match(&text) {
        Category::Timeout
    } else if case.status == Status::Errored {
        Category::TestError
    } else {
        Category::TestFailure
    }
}

fn failure_text(case: &Case) -> String {
    let mut t = String::new();
    if let Some(f) = &case.failure {
        for s in [&f.kind, &f.message, &f.trace].into_iter().flatten() {
            t.push_str(s);
            t.push('\n');
        }
    }
    t
}

/// Diagnoses a run held in memory: [`Diagnoser`] over `input.cases`.
pub fn diagnose(input: &Input, opts: &Options) -> DiagnoseDoc {
    let mut d = Diagnoser::new(input.verify, input.findings, input.logs, opts);
    for c in input.cases {
        d.add_case(c);
    }
    d.finish()
}

/// Incremental diagnosis: runner-level problems and findings first, then one failing case at
/// a time (so a caller streaming cases.jsonl keeps only problems, not whole cases).
pub struct Diagnoser<'a> {
    verify: &'a VerifyDoc,
    opts: &'a Options,
    runners: HashMap<&'a str, &'a RunnerResult>,
    contexts: HashMap<String, PathContext>,
    problems: Vec<Problem>,
    memo: Memo,
    /// Each failing test's name as titles show it ([`display_name`]), by problem index, and
    /// the runners each name failed in: the same name from two runners (`unit` and `integ`
    /// both failing `t::bad`) gets its runner in the title, or two tasks read alike.
    names: Vec<(usize, String)>,
    runners_of: HashMap<String, std::collections::BTreeSet<String>>,
}

impl<'a> Diagnoser<'a> {
    pub fn new(
        verify: &'a VerifyDoc,
        findings: &[Finding],
        logs: &BTreeMap<String, String>,
        opts: &'a Options,
    ) -> Self {
        let runners = verify.runners.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut d = Diagnoser {
            verify,
            opts,
            runners,
            contexts: HashMap::new(),
            problems: Vec::new(),
            memo: Memo::default(),
            names: Vec::new(),
            runners_of: HashMap::new(),
        };
        // Runner-level problems first: they explain missing results.
        for r in &verify.runners {
            for p in runner_problems(r, logs, opts) {
                d.push(p);
            }
            for se in &r.suite_errors {
                let p = suite_problem(r, se, &d.context(&r.id), opts);
                d.push(p);
            }
        }
        for f in findings {
            let r = d.runners.get(f.runner.as_str()).copied();
            let p = finding_problem(f, r, &d.context(&f.runner));
            d.push(p);
        }
        d
    }

    /// How a runner's printed paths become repo-relative (cached per runner).
    fn context(&mut self, runner: &str) -> PathContext {
        if let Some(c) = self.contexts.get(runner) {
            return c.clone();
        }
        let v = self.verify;
        let base = self
            .runners
            .get(runner)
            .and_then(|r| r.cwd.as_deref())
            .map(|c| relative_base(c, &v.cwd))
            .unwrap_or_default();
        let mut roots = vec![v.cwd.clone()];
        roots.extend(self.opts.roots.iter().cloned());
        let ctx = PathContext::new(roots, &base).with_files(self.opts.workspace_files.clone());
        self.contexts.insert(runner.to_string(), ctx.clone());
        ctx
    }

    fn push(&mut self, mut p: Problem) {
        p.id = format!("p{}", self.problems.len() + 1);
        self.problems.push(p);
    }

    /// Adds one case; passing, non-flaky cases are ignored.
    pub fn add_case(&mut self, c: &Case) {
        if !(c.status.is_bad() || c.flaky) {
            return;
        }
        let r = self.runners.get(c.runner.as_str()).copied();
        let ctx = self.context(&c.runner);
        let p = case_problem(c, r, &ctx, self.opts, &mut self.memo);
        self.name(c);
        self.push(p);
    }

    /// Notes the name of the case whose problem is pushed next.
    fn name(&mut self, c: &Case) {
        let display = display_name(c);
        self.runners_of
            .entry(display.clone())
            .or_default()
            .insert(c.runner.clone());
        self.names.push((self.problems.len(), display));
    }

    /// Adds cases in order, as [`Diagnoser::add_case`] one by one would, with the per-case
    /// work (trace parsing, locations, evidence: pure and independent) split across up to
    /// `threads` threads. Problems keep the cases' order, so the document is the same.
    pub fn add_cases(&mut self, cases: &[Case], threads: usize) {
        let bad: Vec<&Case> = cases
            .iter()
            .filter(|c| c.status.is_bad() || c.flaky)
            .collect();
        // Below this, starting a thread costs more than it saves.
        const MIN_PER_THREAD: usize = 64;
        let threads = threads.clamp(1, 8).min(bad.len() / MIN_PER_THREAD).max(1);
        if threads == 1 {
            bad.into_iter().for_each(|c| self.add_case(c));
            return;
        }
        for c in &bad {
            self.context(&c.runner);
        }
        let (runners, contexts, opts) = (&self.runners, &self.contexts, self.opts);
        // Each thread keeps its own memo of the failures it has seen.
        let one = |memo: &mut Memo, c: &&Case| {
            let r = runners.get(c.runner.as_str()).copied();
            case_problem(c, r, &contexts[c.runner.as_str()], opts, memo)
        };
        let per = bad.len().div_ceil(threads);
        let problems: Vec<Vec<Problem>> = std::thread::scope(|s| {
            let mut chunks = bad.chunks(per);
            let first = chunks.next().unwrap_or_default();
            let others: Vec<_> = chunks
                .map(|ch| {
                    s.spawn(move || {
                        let mut memo = Memo::default();
                        ch.iter().map(|c| one(&mut memo, c)).collect::<Vec<_>>()
                    })
                })
                .collect();
            let mine = &mut self.memo;
            let mut all = vec![first.iter().map(|c| one(mine, c)).collect()];
            for h in others {
                // A panic in a worker is a bug in case_problem: surface it here.
                all.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
            }
            all
        });
        for (c, p) in bad.iter().zip(problems.into_iter().flatten()) {
            self.name(c);
            self.push(p);
        }
    }

    /// Folds the problems into tasks and bounds the problem list.
    pub fn finish(self) -> DiagnoseDoc {
        let mut problems = self.problems;
        for (i, display) in &self.names {
            if self.runners_of.get(display).is_some_and(|r| r.len() > 1)
                && let Some(p) = problems.get_mut(*i)
                && !p.runner.is_empty()
            {
                p.title = one_line(&format!("{}::{}", p.runner, p.title), 240);
            }
        }
        let tasks = fold_tasks(&problems);
        let total = problems.len();
        let max = self.opts.max_problems;
        let mut truncated = 0;
        if total > max {
            // Keep one problem of every task first (most important tasks first), then fill
            // up with the others, so each task still points at a problem in the file.
            let mut keep: Vec<bool> = vec![false; total];
            let mut kept = 0;
            let index = |pid: &str| {
                pid.strip_prefix('p')
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|i| *i >= 1 && *i <= total)
                    .map(|i| i - 1)
            };
            for pass in 0..2 {
                for t in &tasks {
                    let ids = if pass == 0 {
                        &t.problems[..t.problems.len().min(1)]
                    } else {
                        &t.problems[..]
                    };
                    for pid in ids {
                        if kept >= max {
                            break;
                        }
                        if let Some(i) = index(pid)
                            && !keep[i]
                        {
                            keep[i] = true;
                            kept += 1;
                        }
                    }
                }
            }
            let mut i = 0;
            problems.retain(|_| {
                i += 1;
                keep[i - 1]
            });
            truncated = (total - problems.len()) as u64;
        }
        DiagnoseDoc {
            schema_version: SCHEMA_VERSION,
            run_id: self.verify.run_id.clone(),
            problems,
            tasks,
            truncated,
        }
    }
}

/// The runner's cwd relative to the workspace (`python`), or empty.
fn relative_base(runner_cwd: &str, workspace: &str) -> String {
    let r = runner_cwd.replace('\\', "/");
    let w = workspace.replace('\\', "/");
    let w = w.trim_end_matches('/');
    if let Some(rest) = r.strip_prefix(w) {
        return rest.trim_matches('/').to_string();
    }
    if r.starts_with('/') {
        String::new()
    } else {
        r.trim_start_matches("./").trim_matches('/').to_string()
    }
}

fn runner_problems(
    r: &RunnerResult,
    logs: &BTreeMap<String, String>,
    opts: &Options,
) -> Vec<Problem> {
    let mut out = Vec::new();
    let log = logs
        .get(&r.id)
        .map(|l| bounded(&clean_control(l), opts.evidence_bytes))
        .unwrap_or_default();
    let hint = r.hint.clone().unwrap_or_default();
    let evidence = [hint.as_str(), log.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    let mk = |category: Category, title: String, severity: Severity| Problem {
        id: String::new(),
        category,
        runner: r.id.clone(),
        test: None,
        title,
        location: None,
        evidence: evidence.clone(),
        reproduce: rerun_command(r),
        severity,
        suite_error: None,
    };
    let has_findings = r.lint.total() > 0;
    let has_results = r.counts.tests > 0 || has_findings || !r.suite_errors.is_empty();
    match r.status {
        RunnerStatus::Timeout => out.push(mk(
            Category::Timeout,
            format!("runner {} timed out after {:.0}s", r.shown(), r.duration),
            Severity::Error,
        )),
        RunnerStatus::LimitExceeded => out.push(mk(
            Category::Crash,
            format!(
                "runner {} was stopped by its {} limit",
                r.shown(),
                match r.limits.as_ref().and_then(|l| l.exceeded) {
                    Some(crate::model::LimitKind::Memory) => "memory",
                    Some(crate::model::LimitKind::CpuTime) => "CPU time",
                    None => "resource",
                }
            ),
            Severity::Error,
        )),
        RunnerStatus::Crashed => out.push(mk(
            Category::Crash,
            match r.signal {
                Some(s) => match crate::model::signal_name(s) {
                    Some(name) => {
                        format!(
                            "runner {} crashed (killed by signal {s}, {name})",
                            r.shown()
                        )
                    }
                    None => format!("runner {} crashed (killed by signal {s})", r.shown()),
                },
                None => format!("runner {} crashed", r.shown()),
            },
            Severity::Error,
        )),
        RunnerStatus::Blocked => out.push(mk(
            Category::Blocked,
            if r.depends_on.is_empty() {
                format!("runner {} was not run: a build it needs failed", r.shown())
            } else {
                format!(
                    "runner {} was not run: build `{}` failed",
                    r.shown(),
                    r.depends_on.join("`, `")
                )
            },
            Severity::Error,
        )),
        RunnerStatus::Unavailable => out.push(mk(
            Category::Unavailable,
            format!(
                "runner {} could not run: its tool is not installed",
                r.shown()
            ),
            Severity::Error,
        )),
        RunnerStatus::Interrupted => out.push(mk(
            Category::NoResults,
            format!("runner {} was interrupted before it finished", r.shown()),
            Severity::Error,
        )),
        RunnerStatus::Skipped => {}
        RunnerStatus::Failed | RunnerStatus::Passed => {
            let build_explained = r.suite_errors.iter().any(|s| s.kind == "build")
                || (r.kind == RunnerKind::Build && r.lint.errors > 0);
            if r.kind == RunnerKind::Build && r.status == RunnerStatus::Failed && !build_explained {
                out.push(mk(
                    Category::BuildError,
                    match r.exit_code {
                        Some(c) => format!("build {} failed (exit code {c})", r.shown()),
                        None => format!("build {} failed", r.shown()),
                    },
                    Severity::Error,
                ));
            } else if r.kind == RunnerKind::Lint
                && r.status == RunnerStatus::Failed
                && !has_findings
                && r.parse_errors.is_empty()
            {
                out.push(mk(
                    Category::NoResults,
                    match r.exit_code {
                        Some(c) => format!(
                            "lint runner {} exited with code {c} but reported no finding",
                            r.shown()
                        ),
                        None => format!("lint runner {} failed but reported no finding", r.shown()),
                    },
                    Severity::Error,
                ));
            } else if r.kind == RunnerKind::Test
                && !has_results
                && r.parse_errors.is_empty()
                && r.result_files.is_empty()
                && let Some(patterns) = r.unmatched_shown()
            {
                // Collected reports: nothing "wrote" anything; the pattern found no file.
                out.push(mk(
                    Category::NoResults,
                    match r.candidates_shown() {
                        Some(c) => format!(
                            "no test results: no file matched {patterns}; test reports are at {c}"
                        ),
                        None => format!("no test results: no file matched {patterns}"),
                    },
                    Severity::Error,
                ));
            } else if r.kind == RunnerKind::Test && !has_results && r.parse_errors.is_empty() {
                let why = if r.result_files.is_empty() {
                    "wrote no result file".to_string()
                } else {
                    "result files hold no tests".to_string()
                };
                out.push(mk(
                    Category::NoResults,
                    format!("runner {} produced no test results: it {why}", r.shown()),
                    Severity::Error,
                ));
            } else if r.kind == RunnerKind::Test
                && r.status == RunnerStatus::Failed
                && r.counts.bad() == 0
                && r.suite_errors.is_empty()
                && r.parse_errors.is_empty()
                // Error findings (a compile error collected as compiler JSON) are why it failed.
                && r.lint.errors == 0
            {
                out.push(mk(
                    Category::TestError,
                    match r.exit_code {
                        Some(c) => format!(
                            "runner {} exited with code {c} but its results show no failing test",
                            r.shown()
                        ),
                        None => format!(
                            "runner {} failed but its results show no failing test",
                            r.shown()
                        ),
                    },
                    Severity::Error,
                ));
            }
        }
    }
    for pe in &r.parse_errors {
        if pe.missing {
            // A report the runner never wrote: how its command ended, then its output (why
            // it stopped before writing the report is usually there). A runner that timed
            // out or crashed has its problem above, which says why already.
            if matches!(
                r.status,
                RunnerStatus::Timeout
                    | RunnerStatus::Crashed
                    | RunnerStatus::LimitExceeded
                    | RunnerStatus::Interrupted
            ) {
                continue;
            }
            let mut p = mk(
                Category::NoResults,
                format!("runner {} wrote no report {}", r.shown(), pe.shown_file()),
                Severity::Error,
            );
            p.evidence = [clean_control(&pe.message), log.clone()]
                .iter()
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
                .join("\n");
            p.evidence = bounded(&p.evidence, opts.evidence_bytes);
            out.push(p);
            continue;
        }
        let pos = pe.position.map(|p| format!(" at {p}")).unwrap_or_default();
        let mut p = mk(
            Category::ParseError,
            format!("cannot read result file {}{pos}", pe.shown_file()),
            Severity::Error,
        );
        p.evidence = bounded(&clean_control(&pe.message), opts.evidence_bytes);
        p.reproduce = None;
        out.push(p);
    }
    out
}

fn suite_problem(r: &RunnerResult, se: &SuiteError, ctx: &PathContext, opts: &Options) -> Problem {
    let text = format!("{}\n{}", se.message, se.trace.as_deref().unwrap_or(""));
    let category = if se.kind == "build" {
        Category::BuildError
    } else if CRASH.is_match(&text) {
        Category::Crash
    } else if TIMEOUT.is_match(&text) {
        Category::Timeout
    } else {
        Category::TestError
    };
    let own = se.file.as_deref().and_then(|f| normalize_path(f, ctx));
    let (location, at) = locate(&text, ctx, own.as_deref(), se.line);
    let what = match se.kind.as_str() {
        "build" => "does not build",
        "load" => "failed to load",
        "bailout" => "bailed out",
        "hook" => "hook failed",
        _ => "failed",
    };
    // "bailed out: bail out: database down" says it twice.
    let message = first_line(&se.message);
    let message = match se.kind.as_str() {
        "bailout" => message.strip_prefix("bail out: ").unwrap_or(message),
        "load" => message
            .strip_prefix("the test file failed to load: ")
            .unwrap_or(message),
        _ => message,
    };
    Problem {
        id: String::new(),
        category,
        runner: r.id.clone(),
        test: None,
        title: one_line(
            &format!(
                "{} {what}: {}",
                normalize_path(&se.suite, ctx)
                    .filter(|_| se.suite.contains('/'))
                    .unwrap_or_else(|| se.suite.clone()),
                message
            ),
            200,
        ),
        location,
        evidence: evidence(first_line(&se.message), &text, 0, at, opts),
        reproduce: rerun_command(r),
        severity: Severity::Error,
        suite_error: Some(se.kind.clone())
            .filter(|k| !k.is_empty())
            .or(Some("suite".into())),
    }
}

/// Build tools whose error findings are build errors, not lint.
const BUILD_TOOLS: &[&str] = &[
    "rustc", "cargo", "tsc", "gcc", "clang", "javac", "kotlinc", "go", "go build", "go vet",
    "msbuild", "dotnet", "csc", "mcs",
];

/// The command that reruns a runner by hand: a built-in's without codeloop's report
/// plumbing ([`crate::runners::detect::rerun`]), a plugin's as it is written.
fn rerun_command(r: &RunnerResult) -> Option<String> {
    let cmd = r.command.as_deref()?;
    match r.source {
        crate::model::RunnerSource::Builtin => {
            crate::runners::detect::rerun(&r.id, cmd).or_else(|| Some(cmd.to_string()))
        }
        _ => Some(cmd.to_string()),
    }
}

fn finding_problem(f: &Finding, r: Option<&RunnerResult>, ctx: &PathContext) -> Problem {
    let build = f.severity == Severity::Error
        && (r.is_some_and(|r| r.kind == RunnerKind::Build)
            || BUILD_TOOLS.contains(&f.tool.to_ascii_lowercase().as_str()));
    let location = f
        .file
        .as_deref()
        .and_then(|p| normalize_path(p, ctx))
        .map(|file| Location {
            file,
            line: f.line.filter(|l| *l > 0),
            column: f.line.and(f.column).filter(|c| *c > 0),
            exists: None,
        });
    let rule = f
        .rule
        .as_deref()
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    Problem {
        id: String::new(),
        category: if build {
            Category::BuildError
        } else {
            Category::Lint
        },
        runner: f.runner.clone(),
        test: None,
        title: one_line(
            &format!("{}{rule}: {}", f.tool, first_line(&f.message)),
            200,
        ),
        location,
        evidence: bounded(&clean_control(&f.message), 2000),
        reproduce: r.and_then(rerun_command),
        severity: f.severity,
        suite_error: None,
    }
}

/// What a failing case's own fields decide, apart from its name: category, place, message
/// and evidence. Every case failing with the same text in the same file gets the same facts,
/// so they are worked out once per distinct failure ([`Memo`]): a mass failure (a service
/// down, a fixture or shared helper throwing, a parameterized test failing the same way) is
/// thousands of cases with one trace, and the trace scan is most of a case's cost.
#[derive(Clone, Debug)]
struct Facts {
    category: Category,
    /// The report's own file, repo-relative.
    own: Option<String>,
    location: Option<Location>,
    /// The failure's message line (Rust: the assertion after `panicked at`).
    message: String,
    evidence: String,
}

/// Everything [`Facts`] are computed from: a failing case's fields but its names.
type FactFields<'a> = (
    &'a str,
    Status,
    bool,
    Option<&'a str>,
    Option<u32>,
    Option<&'a crate::model::Failure>,
    Option<&'a str>,
);

fn fact_fields(c: &Case) -> FactFields<'_> {
    (
        &c.runner,
        c.status,
        c.flaky,
        c.file.as_deref(),
        c.line,
        c.failure.as_ref(),
        c.output.as_deref(),
    )
}

/// [`Facts`] of the distinct failures seen so far (one memo per diagnosing thread). Bounded:
/// past [`Memo::MAX`] distinct failures or [`Memo::MAX_BYTES`] of their texts, new ones are
/// computed and not kept, so the memo never holds more than a few megabytes, whatever the
/// run.
#[derive(Default)]
struct Memo {
    /// By a hash of the case's [`fact_fields`], with the first case seen of each (compared
    /// in full: no hash is trusted).
    seen: HashMap<u64, Vec<(Case, Facts)>>,
    kept: usize,
    bytes: usize,
    /// Each runner's tools, by runner id (the same for all its tests).
    tools: HashMap<String, reproduce::RunnerTools>,
}

impl Memo {
    const MAX: usize = 4096;
    const MAX_BYTES: usize = 8 << 20;

    fn tools(&mut self, r: &RunnerResult) -> &reproduce::RunnerTools {
        if !self.tools.contains_key(&r.id) {
            self.tools.insert(r.id.clone(), reproduce::runner_tools(r));
        }
        &self.tools[&r.id]
    }

    fn facts(&mut self, c: &Case, ctx: &PathContext, opts: &Options) -> Facts {
        use std::hash::BuildHasher;
        let fields = fact_fields(c);
        let hash = foldhash::fast::FixedState::with_seed(0x5eed).hash_one(fields);
        if let Some(f) = self
            .seen
            .get(&hash)
            .and_then(|v| v.iter().find(|(k, _)| fact_fields(k) == fields))
        {
            return f.1.clone();
        }
        let f = case_facts(c, ctx, opts);
        let size = c.text_bytes() + f.evidence.len() + f.message.len();
        if self.kept < Self::MAX && self.bytes + size <= Self::MAX_BYTES {
            self.kept += 1;
            self.bytes += size;
            self.seen
                .entry(hash)
                .or_default()
                .push((c.clone(), f.clone()));
        }
        f
    }
}

fn case_facts(c: &Case, ctx: &PathContext, opts: &Options) -> Facts {
    let category = case_category(c);
    let mut text = failure_text(c);
    // failure_text puts the kind and the message above the trace: an excerpt of the trace
    // starts below them (the evidence says the message once, first).
    let mut header = c.failure.as_ref().map_or(0, |f| {
        [&f.kind, &f.message]
            .into_iter()
            .flatten()
            .map(|s| s.split('\n').count())
            .sum()
    });
    let own = c.file.as_deref().and_then(|f| normalize_path(f, ctx));
    let (mut location, mut at) = locate(&text, ctx, own.as_deref(), c.line);
    // Some formats keep the panic/trace in the captured output (libtest JUnit keeps it in
    // system-out): look there when the failure itself names no place.
    if location.is_none()
        && let Some(out) = c.output.as_deref()
    {
        let (l, a) = locate(out, ctx, None, None);
        if l.is_some() {
            location = l;
            at = a;
            text = out.to_string();
            header = 0;
        }
    }
    let message = c.failure.as_ref().map_or("", failure_message);
    // Rust: the first line is `thread 'x' panicked at file:line:col:`; the assertion is the
    // next line.
    let message = if message.starts_with("thread '") && message.contains("panicked at") {
        let mut after_panic = false;
        text.lines()
            .map(str::trim)
            .find(|l| {
                let found = after_panic && !l.is_empty() && !l.contains("panicked at");
                after_panic = l.contains("panicked at") || (after_panic && l.is_empty());
                found
            })
            .unwrap_or(message)
            .to_string()
    } else {
        message.to_string()
    };
    let assertion = c
        .failure
        .as_ref()
        .map(|f| {
            let mut s = String::new();
            // A placeholder says nothing: the message found in the text instead.
            // No message at all: the text is the evidence as it is (jest-junit's starts
            // with the `Error: …` line; repeating it above would say it twice).
            // A Rust panic line (nextest's message) says where, not what: the assertion
            // found under it is the message, and the kind (`test failure with exit code
            // 101`) adds nothing to it.
            let panic_line = f
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("thread '") && m.contains("panicked at"))
                && !message.starts_with("thread '");
            let message = match f.message.as_deref() {
                Some(m) if is_placeholder(m) => message.as_str(),
                Some(_) if panic_line => message.as_str(),
                Some(m) => m,
                None => "",
            };
            if let Some(k) = &f.kind
                && !panic_line
                && !message.contains(k.as_str())
            {
                s.push_str(k);
                // A kind alone (libtest's `assert`) ends without a dangling `: `.
                if !message.trim().is_empty() {
                    s.push_str(": ");
                }
            }
            s.push_str(message);
            s
        })
        .unwrap_or_default();
    Facts {
        category,
        evidence: evidence(&assertion, &text, header, at, opts),
        own,
        location,
        message,
    }
}

fn case_problem(
    c: &Case,
    r: Option<&RunnerResult>,
    ctx: &PathContext,
    opts: &Options,
    memo: &mut Memo,
) -> Problem {
    let Facts {
        category,
        own,
        location,
        message,
        evidence,
    } = memo.facts(c, ctx, opts);
    let verb = test_verb(category);
    let display = display_name(c);
    let title = if message.is_empty() || category == Category::Flaky {
        format!("{display} {verb}")
    } else {
        format!("{display} {verb}: {message}")
    };
    Problem {
        id: String::new(),
        category,
        runner: c.runner.clone(),
        test: Some(c.key()),
        title: one_line(&title, 240),
        evidence,
        reproduce: r
            .and_then(|r| reproduce::command(memo.tools(r), c, own.as_deref(), location.as_ref())),
        location,
        severity: if category == Category::Flaky {
            Severity::Warning
        } else {
            Severity::Error
        },
        suite_error: None,
    }
}

/// The location of a failure: a trace frame in the report's own file wins (it points at the
/// failing line, not the test's first line), then the report's own file:line; only when the
/// report names no file, the innermost user frame anywhere in the trace.
fn locate(
    text: &str,
    ctx: &PathContext,
    own_file: Option<&str>,
    own_line: Option<u32>,
) -> (Option<Location>, Option<usize>) {
    let frame = user_frame_at(text, ctx, own_file);
    match (own_file, frame) {
        (Some(own), Some((loc, at))) if location::same_file(&loc.file, own) => {
            // Keep the longer (more complete) path of the two.
            let file = if own.len() >= loc.file.len() {
                own.to_string()
            } else {
                loc.file.clone()
            };
            (Some(Location { file, ..loc }), Some(at))
        }
        // No frame in the report's own file: that file still names the test's source.
        // (The evidence still shows the lines around the innermost user frame.)
        (Some(own), frame) => (Some(own_location(own, own_line)), frame.map(|(_, at)| at)),
        (_, Some((loc, at))) => (Some(loc), Some(at)),
        (None, None) => (None, None),
    }
}

fn own_location(file: &str, line: Option<u32>) -> Location {
    Location {
        file: file.to_string(),
        line: line.filter(|l| *l > 0),
        column: None,
        exists: None,
    }
}

/// Test name as a person reads it: `Class::name` or `suite / name`.
pub fn display_name(c: &Case) -> String {
    // jest-junit and others repeat the full name as the classname: say it once.
    match &c.classname {
        Some(cls) if !cls.is_empty() && c.name.starts_with(cls.as_str()) => one_line(&c.name, 160),
        _ => one_line(&c.id(), 160),
    }
}

/// A failure's message line: its message, else its exception type, else the text's first
/// meaningful line ([`meaningful_line`]; jest-junit keeps `TypeError: ...` only there). A
/// message that says nothing — a placeholder ([`is_placeholder`]: gotestsum writes
/// `message="Failed"` on every failure and the real one only in the text) or only the type
/// again — gives way to the text's first meaningful line.
fn failure_message(f: &crate::model::Failure) -> &str {
    let mut message = f.message.as_deref().map_or("", first_line);
    // GoogleTest's message opens with the place (`gtest_sample.cpp:9`): what failed is the
    // line after it.
    if bare_location(message)
        && let Some(l) = f.message.as_deref().and_then(meaningful_line)
    {
        message = l;
    }
    let kind = f.kind.as_deref().map_or("", str::trim);
    if !message.is_empty() && !is_placeholder(message) && message != kind {
        return message;
    }
    if message.is_empty() && !kind.is_empty() && !is_placeholder(kind) {
        return kind;
    }
    if let Some(l) = f.trace.as_deref().and_then(meaningful_line) {
        return l;
    }
    // A text of Go's framing alone (a parent test failing for its subtests) says nothing.
    [message, kind]
        .into_iter()
        .find(|s| !s.is_empty() && !is_placeholder(s))
        .unwrap_or("")
}

/// A failure message that only says that the test failed (`Failed`, `failure`, `Error`, …).
fn is_placeholder(message: &str) -> bool {
    let m = message.trim().trim_end_matches(['.', '!', ':']);
    m.is_empty()
        || ["fail", "failed", "failure", "error", "errored"]
            .iter()
            .any(|p| m.eq_ignore_ascii_case(p))
}

/// The first line of a failure text that says what went wrong: Go's test framing
/// (`=== RUN`, `--- FAIL: …`), placeholders and bare `file:line` lines (GoogleTest) skipped,
/// a Go `file_test.go:N: message` line as its message; a Go panic anywhere wins (the test's
/// log lines come before it), as the go-test-json parser picks a failure's message, so both
/// formats give one title. A Python traceback says it in its last, unindented line.
fn meaningful_line(text: &str) -> Option<&str> {
    let mut lines = text.lines().map(str::trim);
    if let Some(p) = lines.clone().find(|l| l.starts_with("panic:")) {
        return Some(p.trim_end_matches(" [recovered]"));
    }
    lines.find_map(|l| {
        if l == "Traceback (most recent call last):" {
            return text
                .lines()
                .rev()
                .find(|r| !r.trim().is_empty() && !r.starts_with(char::is_whitespace))
                .map(str::trim)
                .filter(|r| *r != l);
        }
        let go_framing = [
            "=== RUN",
            "=== PAUSE",
            "=== CONT",
            "=== NAME",
            "--- FAIL:",
            "--- PASS:",
            "--- SKIP:",
        ]
        .iter()
        .any(|f| l.starts_with(f));
        if l.is_empty() || go_framing || is_placeholder(l) || bare_location(l) {
            return None;
        }
        match crate::parsers::go_test_json::go_location(l) {
            Some((_, _, m)) if !m.is_empty() => Some(m),
            Some(_) => None,
            None => Some(l),
        }
    })
}

/// A line that is only a place (`gtest_sample.cpp:28`, GoogleTest's `unknown file`): says
/// where, not what.
fn bare_location(l: &str) -> bool {
    l == "unknown file"
        || l.rsplit_once(':').is_some_and(|(file, n)| {
            !file.contains(char::is_whitespace)
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
        })
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// One line, control characters removed, at most `max` chars (with `…`).
pub fn one_line(s: &str, max: usize) -> String {
    let clean = clean_control(s);
    // Words joined by one space, built in one pass that stops once past `max` (every
    // problem's title goes through here: no intermediate strings).
    let mut out = String::with_capacity(clean.len().min(max.saturating_mul(4)));
    let mut chars = 0usize;
    for word in clean.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        out.push_str(word);
        chars += word.chars().count();
        if chars > max {
            break;
        }
    }
    if chars > max {
        let cut = out
            .char_indices()
            .nth(max.saturating_sub(1))
            .map_or(out.len(), |(i, _)| i);
        out.truncate(cut);
        out.push('…');
    }
    out
}

fn bounded(s: &str, max: usize) -> String {
    crate::parsers::text::bound_text(s, max)
}

/// The assertion message, then the lines that explain it ([`explain`]: expected/received,
/// diff lines, assertion introspection) and the user's frame line; in a text of no known
/// shape, the trace lines around the user's frame. Bounded.
/// The evidence of one failure: the assertion (its message), then what explains it or the
/// trace's lines around `at` (the user's frame). `header` lines at the top of `trace` are the
/// kind and message again ([`failure_text`]); lines the assertion already says are not
/// repeated.
fn evidence(
    assertion: &str,
    trace: &str,
    header: usize,
    at: Option<usize>,
    opts: &Options,
) -> String {
    let mut out = clean_control(assertion.trim()).to_string();
    let why = explain::explain(trace);
    if !why.is_empty() {
        // The message's first line says what failed; its other lines (a whole jest diff, a
        // pytest repr) are what `explain` picks from.
        out = out
            .lines()
            .map(str::trim_end)
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .to_string();
        // A bare failure kind (`assert`, no message) says nothing the explanation does not.
        if !out.contains(char::is_whitespace) && !out.contains(':') && out.len() < 40 {
            out.clear();
        }
        // The message often repeats in the trace: keep each explaining line once. pytest
        // marks the exception's lines with `E   `: the same line.
        let plain = |l: &str| -> String {
            let l = l.trim();
            l.strip_prefix("E ").map_or(l, str::trim_start).to_string()
        };
        // pytest's `E` block is the message again, in pytest's words: the block reads
        // whole, so the message line above it goes.
        if let Some(first) = out.lines().next().map(plain)
            && why
                .iter()
                .any(|l| l.trim_start().starts_with("E ") && plain(l) == first)
        {
            out.clear();
        }
        let mut said: Vec<String> = out.lines().map(plain).collect();
        for l in why {
            let l = clean_control(&l).to_string();
            let p = plain(&l);
            // Said already: the same line, the message's kind (`AssertionError` above
            // `AssertionError: Expected values…`), or a sentence the message holds.
            // pytest's `E` block reads whole: its introspection (`E  assert [1, 2] == [1, 2,
            // 3]`) is not the source line above it that holds the same words.
            let pytest_e = l.trim_start().starts_with("E ");
            let repeats = |s: &String| {
                *s == p
                    || (!pytest_e
                        && (s.starts_with(&format!("{p}:")) || (p.len() >= 12 && s.contains(&p))))
            };
            if l.trim().is_empty() || said.iter().any(repeats) {
                continue;
            }
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&l);
            said.push(plain(&l));
        }
        // Where it failed: the user's frame line alone (its neighbours are other frames or
        // diff context).
        if let Some(at) = at.filter(|a| *a <= trace.len()) {
            let line_no = trace[..at].matches('\n').count();
            if let Some(frame) = trace.lines().nth(line_no).map(str::trim)
                && !frame.is_empty()
                && !said.iter().any(|s| s == frame)
            {
                out.push_str("\n---\n");
                out.push_str(&clean_control(frame));
            }
        }
        return bounded(&out, opts.evidence_bytes);
    }
    if let Some(at) = at
        && at <= trace.len()
    {
        let line_no = trace[..at].matches('\n').count();
        let lines: Vec<&str> = trace.lines().collect();
        let mut from = line_no.saturating_sub(opts.context_lines);
        if line_no >= header {
            from = from.max(header);
        }
        let to = (line_no + opts.context_lines + 1).min(lines.len());
        if from < to {
            // The trace's first line is often the assertion again (`Type: message`).
            let said = |l: &str| !l.trim().is_empty() && out.lines().any(|o| o.trim() == l.trim());
            let kept: Vec<&str> = (from..to)
                .filter(|&i| {
                    i == line_no || !(said(lines[i]) || location::is_library_frame(lines[i]))
                })
                .map(|i| lines[i])
                .collect();
            let excerpt = clean_control(&kept.join("\n"));
            if !out.contains(excerpt.trim()) {
                if !out.is_empty() {
                    out.push_str("\n---\n");
                }
                out.push_str(excerpt.trim_end());
            }
        }
    } else if out.is_empty() {
        out = clean_control(trace.trim());
    }
    bounded(&out, opts.evidence_bytes)
}

/// Priority of a category in the task list: build → setup → crashes → failures → lint.
pub fn priority(c: Category) -> u8 {
    match c {
        Category::BuildError => 0,
        Category::Unavailable => 1,
        Category::Crash => 2,
        Category::Timeout => 3,
        Category::TestFailure | Category::TestError => 4,
        Category::NoResults => 5,
        Category::ParseError => 6,
        Category::Flaky => 7,
        Category::Lint => 8,
        Category::Blocked => 9,
    }
}

/// The root-cause key of a problem: category group and `file:line`, or the message; lint by
/// tool, rule and file.
fn task_key(p: &Problem) -> String {
    let group = match p.category {
        Category::TestFailure | Category::TestError => "test",
        c => c.as_str(),
    };
    match (&p.category, &p.location) {
        (Category::Lint, loc) => {
            let rule = p.title.split(':').next().unwrap_or("");
            format!(
                "lint|{}|{rule}|{}",
                p.runner,
                loc.as_ref().map(|l| l.file.as_str()).unwrap_or("")
            )
        }
        (_, Some(loc)) if loc.line.is_some() => {
            format!("{group}|{}:{}", loc.file, loc.line.unwrap_or(0))
        }
        _ if p.test.is_some() => {
            let msg = p.title.split_once(": ").map(|(_, m)| m).unwrap_or(&p.title);
            format!("{group}|{}|msg|{msg}", p.runner)
        }
        _ => format!("{group}|{}|{}", p.runner, p.id),
    }
}

/// Tests that fail with one message at several places (a fixture that cannot reach its
/// database, the same missing key in a serializer, the same timeout) are one cause: 25
/// tasks saying "Connection refused" would push every other cause out of the comment.
/// Re-keys those problems to their message when at least three share it from two or more
/// places, and each place holds only that message (a line that fails two ways stays its
/// own task). A message shorter than 16 characters ("AssertionError", "Failed"), or one
/// bare name (an exception type in place of a message), says too little to be a cause. Returns the keys that fold by message.
fn regroup_by_message(problems: &[Problem], keys: &mut [String]) -> HashSet<String> {
    const MIN_CHARS: usize = 16;
    const MIN_TESTS: usize = 3;
    let message_key = |p: &Problem| -> Option<String> {
        if p.test.is_none()
            || !matches!(
                p.category,
                Category::TestFailure | Category::TestError | Category::Timeout | Category::Crash
            )
        {
            return None;
        }
        let (_, m) = p.title.split_once(": ")?;
        let m = m.trim();
        // A bare name is an exception type standing in for a message (PHPUnit's
        // `ExpectationFailedException` for every failed assertion): it names no cause.
        // The key is the whole explanation, not the title's first line: GoogleTest's
        // "Expected equality of these values:" and Jest's "expect(received).toBe(expected)"
        // open every failed assertion of their kind, and the values below them differ. The
        // place after `---` is each test's own.
        let explained = p.evidence.split("\n---").next().unwrap_or_default();
        (m.chars().count() >= MIN_CHARS && m.contains(char::is_whitespace))
            .then(|| format!("msg|{}|{}|{explained}", p.runner, p.category.as_str()))
    };
    let messages: Vec<Option<String>> = problems.iter().map(message_key).collect();
    // Per place (task key): the messages failing there; per message: its places and tests.
    let mut at_place: HashMap<&str, HashSet<Option<&str>>> = HashMap::new();
    let mut places: HashMap<&str, (HashSet<&str>, usize)> = HashMap::new();
    for (k, m) in keys.iter().zip(&messages) {
        at_place.entry(k).or_default().insert(m.as_deref());
        if let Some(m) = m {
            let e = places.entry(m).or_default();
            e.0.insert(k);
            e.1 += 1;
        }
    }
    let folded: HashSet<String> = places
        .iter()
        .filter(|(_, (p, n))| p.len() >= 2 && *n >= MIN_TESTS)
        .map(|(m, _)| m.to_string())
        .collect();
    let moves: Vec<(usize, String)> = keys
        .iter()
        .zip(&messages)
        .enumerate()
        .filter_map(|(i, (k, m))| {
            let m = m.as_ref().filter(|m| folded.contains(*m))?;
            (at_place.get(k.as_str())?.len() == 1).then(|| (i, m.clone()))
        })
        .collect();
    let mut used = HashSet::new();
    for (i, m) in moves {
        keys[i] = m.clone();
        used.insert(m);
    }
    used
}

/// What a test problem's title says it did: `{name} {verb}: {message}` ([`case_problem`]).
fn test_verb(category: Category) -> &'static str {
    match category {
        Category::Flaky => "is flaky",
        Category::Crash => "crashed",
        Category::Timeout => "timed out",
        Category::TestError => "errored",
        _ => "failed",
    }
}

/// The message part of a test problem's title; the whole title when it has none. Cut after
/// the verb, not the first `: `, so a name with `: ` in it (`describe: it`) stays out of it.
/// A task's title is its best-placed problem's, whose category (errored, failed) may not be
/// the task's: the earliest verb counts.
fn test_message(title: &str) -> &str {
    [
        Category::TestFailure,
        Category::TestError,
        Category::Timeout,
        Category::Crash,
    ]
    .into_iter()
    .filter_map(|c| {
        let verb = format!(" {}: ", test_verb(c));
        title.find(&verb).map(|i| (i, i + verb.len()))
    })
    .min()
    .map(|(_, m)| &title[m..])
    .filter(|m| !m.trim().is_empty())
    .unwrap_or(title)
}

/// Folds problems into repair tasks, one per root cause: the same category group and the
/// same location (40 tests failing on one line are one task), or — without a line — the same
/// message. Lint folds by tool, rule and file.
pub fn fold_tasks(problems: &[Problem]) -> Vec<RepairTask> {
    let mut order: Vec<String> = Vec::new();
    let mut by_key: HashMap<String, RepairTask> = HashMap::new();
    let mut first_index: HashMap<String, usize> = HashMap::new();
    let mut keys: Vec<String> = problems.iter().map(task_key).collect();
    // A parent test that failed only because a subtest did (Go `TestX` over `TestX/case`,
    // no place of its own) joins its subtest's task.
    let by_test: BTreeMap<&str, usize> = problems
        .iter()
        .enumerate()
        .filter_map(|(i, p)| p.test.as_deref().map(|t| (t, i)))
        .collect();
    let mut parents: Vec<(usize, usize)> = Vec::new();
    for (i, p) in problems.iter().enumerate() {
        let Some(t) = p.test.as_deref() else { continue };
        if p.location.as_ref().is_some_and(|l| l.line.is_some()) {
            continue;
        }
        let prefix = format!("{t}/");
        if let Some((_, &j)) = by_test
            .range(prefix.as_str()..)
            .next()
            .filter(|(k, _)| k.starts_with(&prefix))
        {
            parents.push((i, j));
        }
    }
    // Deepest parents first, so a grandparent follows its child's resolved key.
    parents.sort_by_key(|(i, _)| {
        std::cmp::Reverse(problems[*i].test.as_deref().map(str::len).unwrap_or(0))
    });
    for (i, j) in parents {
        keys[i] = keys[j].clone();
    }
    let by_message = regroup_by_message(problems, &mut keys);
    for (i, p) in problems.iter().enumerate() {
        let key = keys[i].clone();
        match by_key.get_mut(&key) {
            Some(t) => {
                // The task shows its best-placed problem.
                if t.location.is_none() && p.location.is_some() {
                    t.location = p.location.clone();
                    t.title = p.title.clone();
                    t.evidence = p.evidence.clone();
                    t.reproduce = p.reproduce.clone();
                }
                t.problems.push(p.id.clone());
                if let Some(test) = &p.test {
                    t.tests.push(test.clone());
                }
            }
            None => {
                order.push(key.clone());
                first_index.insert(key.clone(), i);
                by_key.insert(
                    key,
                    RepairTask {
                        id: String::new(),
                        category: p.category,
                        title: p.title.clone(),
                        location: p.location.clone(),
                        evidence: p.evidence.clone(),
                        reproduce: p.reproduce.clone(),
                        problems: vec![p.id.clone()],
                        tests: p.test.iter().cloned().collect(),
                    },
                );
            }
        }
    }
    let mut tasks: Vec<(usize, bool, RepairTask)> = order
        .into_iter()
        .filter_map(|k| {
            let idx = first_index.get(&k).copied().unwrap_or(0);
            let spread = by_message.contains(&k);
            by_key.remove(&k).map(|t| (idx, spread, t))
        })
        .collect();
    tasks.sort_by(|(ia, _, a), (ib, _, b)| {
        priority(a.category)
            .cmp(&priority(b.category))
            .then(b.problems.len().cmp(&a.problems.len()))
            .then(ia.cmp(ib))
    });
    tasks
        .into_iter()
        .enumerate()
        .map(|(i, (_, spread, mut t))| {
            t.id = format!("t{}", i + 1);
            let n = t.problems.len();
            if n > 1 && t.category == Category::Lint {
                let file = t
                    .location
                    .as_ref()
                    .map(|l| format!(" in {}", l.file))
                    .unwrap_or_default();
                t.title = one_line(&format!("{n} findings{file}: {}", t.title), 240);
            } else if n > 1 {
                let all_tests = t.tests.len() == n;
                // The count is of tests as the comment's "Tests:" list shows them
                // ([`RepairTask::failing_tests`]: each once, no Go parent of a subtest).
                let distinct = if all_tests {
                    t.failing_tests().len()
                } else {
                    n
                };
                let at = t
                    .location
                    .as_ref()
                    .filter(|_| !spread)
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                if t.category == Category::BuildError && !all_tests {
                    // Compiler errors at one place (an error and its follow-up) are errors,
                    // not something that "fails".
                    t.title = one_line(&format!("{n} errors{at}: {}", t.title), 240);
                } else if !all_tests {
                    t.title = one_line(
                        &format!("{n} problems fail the same way{at}: {}", t.title),
                        240,
                    );
                } else if distinct > 1 {
                    // Many tests failing one way: what they share is the message, not the
                    // first test's name (listed under "Tests:"); folded from several places,
                    // the location is only the first test's, so it is not said either.
                    let message = test_message(&t.title);
                    t.title = one_line(
                        &format!("{distinct} tests fail the same way{at}: {message}"),
                        240,
                    );
                }
            }
            t
        })
        .collect()
}

#[cfg(test)]
mod tests;
