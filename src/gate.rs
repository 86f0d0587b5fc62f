//! The gate (pure): a confidence score 0–100 from weighted components, rules that decide
//! pass or fail, deltas against a baseline, and every verdict explained in plain words.
//!
//! # Score
//!
//! `score = 100 × Σ(weightᵢ × valueᵢ) / Σ weightᵢ`, rounded to one decimal, where each value
//! is in 0..=1 (defaults in parentheses are the weights, `settings::Weights`):
//!
//! | component | value |
//! |-----------|-------|
//! | build (30) | 1 when nothing failed to build, else 0 |
//! | tests (40) | passed ÷ (passed + failed + errored); skipped tests do not count. No test executed: 1 when no test runner was expected, else 0 |
//! | lint (10) | 1 − min(1, (errors + 0.2 × warnings) ÷ 20); notes do not count |
//! | flaky (10) | 1 − min(1, 10 × flaky ÷ executed): each 1 % of flaky tests costs a tenth; 1 when nothing executed |
//! | missing (10) | runners that produced complete results (finished, every result file read) ÷ runners that should have (all but skipped); 0 when no runner ran |
//!
//! # Rules
//!
//! `build` (always: a build error fails), `min_score`, `max_failures` (with `fail_on:
//! regression`, only failures new against the baseline count), `max_flaky`,
//! `max_lint_errors`, `require` (each runner id or kind must have run and produced results),
//! `fail_on_empty` (no test results at all, or a test runner produced none), and, listed only
//! when they apply, `crash`, `timeout`, `unreadable` (a result file could not be read:
//! what was read of it is partial; `fail_on_unreadable: false` lets it pass) and
//! `suite_errors` (a test suite did not run to its end: a file that failed to load, a
//! bail-out, a failed hook, a TAP plan cut short; its tests are in no count). The verdict is
//! fail when any rule fails; the exit code is 3 when `require`/`fail_on_empty` failed (no
//! results where required), else 1 (see [`exit_code`]). docs/gate.md says the same for users.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::diagnose::one_line;
use crate::model::{
    Category, Counts, Delta, DiagnoseDoc, GateDoc, Location, RuleResult, RunnerKind, RunnerResult,
    RunnerStatus, SCHEMA_VERSION, ScoreComponent, Verdict, VerifyDoc,
};
use crate::settings::{FailOn, GateConfig};

/// Lint errors (plus weighted warnings) at which the lint component reaches 0.
pub const LINT_SATURATION: f64 = 20.0;
/// What one warning counts for, relative to an error.
pub const WARNING_WEIGHT: f64 = 0.2;
/// How hard flaky tests pull the flaky component down (× flaky share).
pub const FLAKY_FACTOR: f64 = 10.0;
/// Failing test keys stored in gate.json for a later baseline.
pub const MAX_STORED_FAILING: usize = 10_000;

/// A previous run to compare with.
#[derive(Clone, Debug, Default)]
pub struct Baseline {
    pub run_id: Option<String>,
    pub score: Option<f64>,
    /// `Case::key()` of every failed/errored test.
    pub failing: BTreeSet<String>,
    /// Hashes ([`key_hash`]) of every test key, when the baseline's cases were read.
    pub tests: Option<KeySet>,
    pub counts: Option<Counts>,
    /// Set when `failing` does not name every failing test of the baseline (a comment state
    /// or gate.json cut to its cap): what else it knows. A failure it cannot place is
    /// unknown, never new.
    pub cut: Option<crate::report::state::KnownFailing>,
}

/// Stable-within-a-process hash of a test key, for added/removed counts without holding
/// millions of strings.
/// A set of test keys' hashes ([`key_hash`]): already well mixed, so hashed again with
/// foldhash, not SipHash (a million of them are inserted for a baseline comparison).
pub type KeySet = HashSet<u64, foldhash::fast::RandomState>;

pub fn key_hash(key: &str) -> u64 {
    let mut h = Fnv::default();
    h.feed(key);
    h.0
}

/// [`key_hash`]`(&c.key())` without building the key (the digest hashes every test of a run
/// against a baseline: a million keys, three strings each, otherwise).
pub fn case_key_hash<T: AsRef<str>>(c: &crate::model::CaseView<'_, T>) -> u64 {
    let mut h = Fnv::default();
    crate::model::key_pieces(c.runner, c.suite, c.classname, c.name, |s| h.feed(s));
    h.0
}

/// FNV-1a: stable across Rust versions and processes, unlike DefaultHasher; fed in pieces,
/// it hashes their concatenation.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn feed(&mut self, s: &str) {
        for b in s.as_bytes() {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// What the gate reads.
#[derive(Clone, Copy, Debug)]
pub struct GateInput<'a> {
    pub verify: &'a VerifyDoc,
    pub diagnose: &'a DiagnoseDoc,
    /// Keys of every failed/errored test of this run (not bounded like diagnose's problems).
    pub failing: &'a BTreeSet<String>,
    /// Hashes of every test key of this run (only needed with a baseline).
    pub tests: Option<&'a KeySet>,
    pub baseline: Option<&'a Baseline>,
}

/// A setting that cannot be used, with the key and the fix.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigIssue {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}`: {}", self.key, self.message)
    }
}

/// Checks the gate settings: weights ≥ 0 and not all 0, min_score within 0–100, require
/// entries not empty.
pub fn validate(cfg: &GateConfig) -> Vec<ConfigIssue> {
    let mut out = Vec::new();
    let w = &cfg.weights;
    for (name, v) in [
        ("build", w.build),
        ("tests", w.tests),
        ("lint", w.lint),
        ("flaky", w.flaky),
        ("missing", w.missing),
    ] {
        if !v.is_finite() || v < 0.0 {
            out.push(ConfigIssue {
                key: format!("gate.weights.{name}"),
                message: format!(
                    "is {v}; a weight must be a number ≥ 0 (0 leaves the component out)"
                ),
            });
        }
    }
    if out.is_empty() && w.build + w.tests + w.lint + w.flaky + w.missing <= 0.0 {
        out.push(ConfigIssue {
            key: "gate.weights".into(),
            message: "all weights are 0; give at least one component a weight > 0".into(),
        });
    }
    if !cfg.min_score.is_finite() || !(0.0..=100.0).contains(&cfg.min_score) {
        out.push(ConfigIssue {
            key: "gate.min_score".into(),
            message: format!("is {}; it must be between 0 and 100", cfg.min_score),
        });
    }
    for (i, r) in cfg.require.iter().enumerate() {
        if r.trim().is_empty() {
            out.push(ConfigIssue {
                key: format!("gate.require[{i}]"),
                message: "is empty; name a runner id or a kind (build, test, lint)".into(),
            });
        }
    }
    out
}

/// Did this runner run and produce results?
pub fn has_results(r: &RunnerResult) -> bool {
    match r.status {
        RunnerStatus::Blocked
        | RunnerStatus::Unavailable
        | RunnerStatus::Interrupted
        | RunnerStatus::Skipped => false,
        RunnerStatus::Timeout | RunnerStatus::Crashed | RunnerStatus::LimitExceeded => {
            r.counts.tests > 0 || r.lint.total() > 0
        }
        RunnerStatus::Passed | RunnerStatus::Failed => match r.kind {
            RunnerKind::Build => true,
            RunnerKind::Test => r.counts.tests > 0 || !r.suite_errors.is_empty(),
            RunnerKind::Lint => r.lint.total() > 0 || r.parse_errors.is_empty(),
        },
    }
}

/// Did this runner produce all its results: it has results ([`has_results`]), finished (not
/// crashed, timed out or stopped by a limit), and every result file could be read?
pub fn has_complete_results(r: &RunnerResult) -> bool {
    has_results(r)
        && r.parse_errors.is_empty()
        && !matches!(
            r.status,
            RunnerStatus::Timeout | RunnerStatus::Crashed | RunnerStatus::LimitExceeded
        )
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// [`round1`] for what has a ceiling (`full`): short of it by any amount, it never shows the
/// ceiling (6 failures in 100,000 tests score 99.9, not 100, and fail `min_score: 100`).
fn round1_short_of(x: f64, full: f64) -> f64 {
    let r = round1(x);
    if r >= full && x < full - 1e-9 {
        round1(full - 0.1)
    } else {
        r
    }
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The score components and the score.
pub fn score(input: &GateInput, cfg: &GateConfig) -> (Vec<ScoreComponent>, f64) {
    let v = input.verify;
    let c = v.totals;
    let lint = v.lint;
    let w = &cfg.weights;
    let build_errors = build_errors(input);
    let executed = c.passed + c.failed + c.errored;
    let test_runners = v
        .runners
        .iter()
        .filter(|r| r.kind == RunnerKind::Test && r.status != RunnerStatus::Skipped)
        .count();
    let expected: Vec<&RunnerResult> = v
        .runners
        .iter()
        .filter(|r| r.status != RunnerStatus::Skipped)
        .collect();
    // Whole results only: a runner that crashed, timed out or left a result file that could
    // not be read has results, but partial ones. Counting them whole scored a run the
    // `crash`/`unreadable` rules fail at 100 ("failed · score 100").
    let produced = expected.iter().filter(|r| has_complete_results(r)).count();

    let mut comps = Vec::new();
    let build_v = if build_errors == 0 { 1.0 } else { 0.0 };
    comps.push((
        "build",
        w.build,
        build_v,
        if build_errors == 0 {
            "nothing failed to build".to_string()
        } else {
            format!(
                "{} failed",
                plural(build_errors, "build step", "build steps")
            )
        },
    ));
    let (tests_v, tests_x) = if executed > 0 {
        (
            c.passed as f64 / executed as f64,
            format!("{} of {executed} executed tests passed", c.passed),
        )
    } else if test_runners == 0 {
        (1.0, "no test runner was expected".to_string())
    } else {
        (0.0, "no test was executed".to_string())
    };
    comps.push(("tests", w.tests, tests_v, tests_x));
    let weighted = lint.errors as f64 + WARNING_WEIGHT * lint.warnings as f64;
    comps.push((
        "lint",
        w.lint,
        1.0 - (weighted / LINT_SATURATION).min(1.0),
        format!(
            "{} and {}",
            plural(lint.errors, "lint error", "lint errors"),
            plural(lint.warnings, "warning", "warnings")
        ),
    ));
    let flaky_v = if executed == 0 {
        1.0
    } else {
        1.0 - (FLAKY_FACTOR * c.flaky as f64 / executed as f64).min(1.0)
    };
    comps.push((
        "flaky",
        w.flaky,
        flaky_v,
        format!(
            "{} of {executed} executed",
            plural(c.flaky, "flaky test", "flaky tests")
        ),
    ));
    let missing_v = if expected.is_empty() {
        0.0
    } else {
        produced as f64 / expected.len() as f64
    };
    comps.push((
        "missing",
        w.missing,
        missing_v,
        if expected.is_empty() {
            "no runner ran".to_string()
        } else {
            format!(
                "{produced} of {} runners produced complete results",
                expected.len()
            )
        },
    ));
    let total_w: f64 = comps.iter().map(|(_, w, _, _)| *w).sum();
    let mut sum = 0.0;
    let components = comps
        .into_iter()
        .map(|(name, weight, value, explanation)| {
            let points = if total_w > 0.0 {
                100.0 * weight * value / total_w
            } else {
                0.0
            };
            sum += points;
            let full = if total_w > 0.0 {
                100.0 * weight / total_w
            } else {
                0.0
            };
            ScoreComponent {
                name: name.into(),
                weight,
                value: (value * 10_000.0).round() / 10_000.0,
                points: round1_short_of(points, full),
                explanation,
            }
        })
        .collect();
    (components, round1_short_of(sum, 100.0))
}

/// Build failures: build_error problems (diagnose), or failed build runners.
fn build_errors(input: &GateInput) -> u64 {
    let from_diag = input
        .diagnose
        .problems
        .iter()
        .filter(|p| p.category == Category::BuildError)
        .count() as u64;
    let from_tasks = input
        .diagnose
        .tasks
        .iter()
        .filter(|t| t.category == Category::BuildError)
        .count() as u64;
    let from_runners = input
        .verify
        .runners
        .iter()
        .filter(|r| {
            r.kind == RunnerKind::Build
                && matches!(
                    r.status,
                    RunnerStatus::Failed
                        | RunnerStatus::Timeout
                        | RunnerStatus::Crashed
                        | RunnerStatus::LimitExceeded
                )
        })
        .count() as u64;
    from_diag.max(from_tasks).max(from_runners)
}

/// Test key → location, from diagnose's problems.
fn locations(d: &DiagnoseDoc) -> HashMap<&str, &Location> {
    let mut m = HashMap::new();
    for p in &d.problems {
        if let (Some(t), Some(l)) = (&p.test, &p.location) {
            m.entry(t.as_str()).or_insert(l);
        }
    }
    m
}

/// "2 new failures in tests/api: test_a (tests/api/test_a.py:12), test_b (…)": grouped by
/// directory, a few names each, after `head` ("2 new failures"). `v` names the tests that
/// have no name of their own (see [`display_name`]).
pub fn describe_tests(
    head: &str,
    keys: &[&String],
    locs: &HashMap<&str, &Location>,
    v: &VerifyDoc,
) -> String {
    const GROUPS: usize = 3;
    const PER_GROUP: usize = 4;
    // A name two keys share (the same test failing in two runners) is said with its runner:
    // "unit::t::bad, integ::t::bad", not "t::bad, t::bad".
    let names: Vec<String> = keys.iter().map(|k| display_name(k, v)).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for n in &names {
        *seen.entry(n).or_default() += 1;
    }
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, name) in keys.iter().zip(&names) {
        let loc = locs.get(k.as_str());
        let dir = loc
            .map(|l| {
                l.file
                    .rsplit_once('/')
                    .map(|(d, _)| d.to_string())
                    .unwrap_or_else(|| ".".to_string())
            })
            .unwrap_or_default();
        let mut name = name.clone();
        if seen.get(name.as_str()).is_some_and(|n| *n > 1)
            && let Some(runner) = v
                .runners
                .iter()
                .map(|r| r.id.as_str())
                .filter(|id| !id.is_empty())
                .find(|id| k.starts_with(&format!("{id}::")))
        {
            name = format!("{runner}::{name}");
        }
        let item = match loc {
            Some(l) => format!("{name} ({l})"),
            None => name,
        };
        groups.entry(dir).or_default().push(one_line(&item, 160));
    }
    if groups.len() == 1 {
        let (dir, items) = groups.into_iter().next().unwrap_or_default();
        let where_ = if dir.is_empty() {
            String::new()
        } else {
            format!(" in {dir}")
        };
        return format!("{head}{where_}: {}", list(&items, PER_GROUP));
    }
    let mut parts: Vec<(String, Vec<String>)> = groups.into_iter().collect();
    parts.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    let shown: Vec<String> = parts
        .iter()
        .take(GROUPS)
        .map(|(dir, items)| {
            // No place known: not located, or past diagnose's cap of listed problems.
            if dir.is_empty() {
                format!("{} others: {}", items.len(), list(items, PER_GROUP))
            } else {
                format!("{} in {dir}: {}", items.len(), list(items, PER_GROUP))
            }
        })
        .collect();
    let rest: usize = parts.iter().skip(GROUPS).map(|(_, i)| i.len()).sum();
    let more = if rest > 0 {
        format!("; and {rest} more elsewhere")
    } else {
        String::new()
    };
    format!("{head}: {}{more}", shown.join("; "))
}

fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// How a failing test is named in a reason: its own name ([`short_name`]), or, for a test
/// the report gave no name (its key `runner::scope::` ends in an empty name), "an unnamed
/// test in" its classname or suite, else in its result file — never an empty name.
fn display_name(key: &str, v: &VerifyDoc) -> String {
    let Some(rest) = key.strip_suffix("::").or((key.is_empty()).then_some("")) else {
        return short_name(key);
    };
    let runner = v
        .runners
        .iter()
        .filter(|r| !r.id.is_empty())
        .find(|r| rest == r.id || rest.starts_with(&format!("{}::", r.id)));
    let scope = match runner {
        Some(r) => rest[r.id.len()..].trim_start_matches("::"),
        None => rest,
    };
    if !scope.is_empty() {
        return format!("an unnamed test in {scope}");
    }
    let Some(r) = runner else {
        return "an unnamed test".to_string();
    };
    // The report file it came from: the runner's only one, or the only one with failures.
    let files: Vec<&str> = r.result_files.iter().map(|f| f.path.as_str()).collect();
    let failing: Vec<&str> = r
        .result_files
        .iter()
        .filter(|f| f.counts.bad() > 0)
        .map(|f| f.path.as_str())
        .collect();
    match (files.as_slice(), failing.as_slice()) {
        ([one], _) | (_, [one]) => format!("an unnamed test in {one}"),
        ([], _) => format!("an unnamed test of {}", r.shown()),
        (all, _) => format!(
            "an unnamed test in one of the {} result files of {}",
            all.len(),
            r.shown()
        ),
    }
}

/// The test's own name from a key `runner::class::name`, keeping the class for context.
fn short_name(key: &str) -> String {
    let parts: Vec<&str> = key.split("::").collect();
    match parts.len() {
        0 | 1 => key.to_string(),
        2 => parts[1].to_string(),
        n if parts[n - 1].starts_with(parts[n - 2]) => parts[n - 1].to_string(),
        n => format!(
            "{}::{}",
            parts[n - 2].rsplit('.').next().unwrap_or(""),
            parts[n - 1]
        ),
    }
}

/// Deltas against the baseline.
pub fn delta(input: &GateInput, b: &Baseline, score: f64) -> Delta {
    use crate::report::state::{MAX_KEY_CHARS, state_key};
    let now = input.failing;
    // A baseline from a comment's state holds long keys as hashes: match those too.
    let hashed: BTreeSet<String> = now
        .iter()
        .filter(|k| k.chars().count() > MAX_KEY_CHARS)
        .map(|k| state_key(k))
        .collect();
    let listed = |k: &String| {
        b.failing.contains(k)
            || (k.chars().count() > MAX_KEY_CHARS && b.failing.contains(&state_key(k)))
    };
    // Some(true): failing before; Some(false): not; None: the baseline was cut and does not
    // say (unknown, never new).
    let was_failing = |k: &String| match &b.cut {
        None => Some(listed(k)),
        Some(known) => known.was_failing(listed(k), &state_key(k)),
    };
    let mut new_failures = Vec::new();
    let mut still = Vec::new();
    let mut unknown = Vec::new();
    for k in now {
        match was_failing(k) {
            Some(true) => still.push(k.clone()),
            Some(false) => new_failures.push(k.clone()),
            None => unknown.push(k.clone()),
        }
    }
    let fixed: Vec<String> = b
        .failing
        .difference(now)
        .filter(|k| !hashed.contains(*k))
        .filter(|k| input.tests.is_none_or(|t| t.contains(&key_hash(k))))
        .cloned()
        .collect();
    let (added, removed) = match (input.tests, &b.tests) {
        (Some(a), Some(before)) => (
            a.difference(before).count() as u64,
            before.difference(a).count() as u64,
        ),
        _ => {
            let before = b.counts.map(|c| c.tests).unwrap_or(0);
            let after = input.verify.totals.tests;
            (after.saturating_sub(before), before.saturating_sub(after))
        }
    };
    Delta {
        baseline_run_id: b.run_id.clone(),
        score_change: b.score.map(|s| round1(score - s)),
        new_failures,
        fixed,
        still_failing: still,
        unknown,
        tests_added: added,
        tests_removed: removed,
        counts_before: b.counts,
    }
}

/// Computes gate.json.
pub fn evaluate(input: &GateInput, cfg: &GateConfig) -> GateDoc {
    let v = input.verify;
    let c = v.totals;
    let (components, score) = score(input, cfg);
    let locs = locations(input.diagnose);
    let delta = input.baseline.map(|b| delta(input, b, score));
    let mut rules = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    let be = build_errors(input);
    // Rules whose failure another rule's reason already tells (left out of the reasons).
    let mut said_elsewhere: Vec<&str> = Vec::new();
    let mut build_said_how = false;
    let build_titles: Vec<String> = input
        .diagnose
        .tasks
        .iter()
        .filter(|t| t.category == Category::BuildError)
        .take(3)
        .map(|t| match &t.location {
            // A folded task's title says its place already ("2 errors at src/lib.rs:9:36: …").
            Some(l) if !t.title.contains(&format!(" at {l}")) => format!("{} at {l}", t.title),
            _ => t.title.clone(),
        })
        .collect();
    rules.push(RuleResult {
        rule: "build".into(),
        passed: be == 0,
        limit: "0".into(),
        actual: be.to_string(),
        reason: if be == 0 {
            "everything built".into()
        } else if build_titles.is_empty() {
            // No build error was diagnosed: the build runner itself did not finish (a crash,
            // a timeout, a limit). Say which and how, not only how many.
            let how: Vec<String> = v
                .runners
                .iter()
                .filter(|r| r.kind == RunnerKind::Build)
                .filter_map(|r| {
                    let verb = match r.status {
                        RunnerStatus::Failed => "failed",
                        RunnerStatus::Timeout => "timed out",
                        RunnerStatus::Crashed => "crashed",
                        RunnerStatus::LimitExceeded => "was stopped by a resource limit",
                        _ => return None,
                    };
                    // How it ended, as the crash and timeout rules say it: those rules then
                    // need not repeat it in the verdict's reasons.
                    let told = r.signal.is_some() || r.hint.is_some();
                    let why = if r.status != RunnerStatus::Failed && told {
                        format!(" ({})", how_it_ended(r))
                    } else {
                        String::new()
                    };
                    Some(format!("{} {verb}{why}", r.shown()))
                })
                .take(3)
                .collect();
            if how.is_empty() {
                format!("the build failed ({})", plural(be, "error", "errors"))
            } else {
                build_said_how = true;
                one_line(&format!("the build failed: {}", how.join("; ")), 600)
            }
        } else {
            one_line(
                &format!("the build failed: {}", build_titles.join("; ")),
                600,
            )
        },
    });

    // A runner that crashed or timed out did not finish: whatever results it left are partial,
    // so even all-green partial results must not pass. Only present when it applies. A runner
    // stopped by one of its limits (memory, CPU time) is a crash: its hint names the limit.
    for (rule, statuses) in [
        (
            "crash",
            &[RunnerStatus::Crashed, RunnerStatus::LimitExceeded][..],
        ),
        ("timeout", &[RunnerStatus::Timeout][..]),
    ] {
        let ended: Vec<&crate::model::RunnerResult> = v
            .runners
            .iter()
            .filter(|r| statuses.contains(&r.status))
            .collect();
        if ended.is_empty() {
            continue;
        }
        let hit: Vec<String> = ended
            .iter()
            .map(|r| format!("{} ({})", r.shown(), how_it_ended(r)))
            .collect();
        // Only build runners, which the build rule's reason already names with how they
        // ended: the rule still fails, but the verdict does not say it twice.
        if build_said_how && ended.iter().all(|r| r.kind == RunnerKind::Build) {
            said_elsewhere.push(rule);
        }
        let n = hit.len() as u64;
        let verb = if rule == "crash" {
            "crashed"
        } else {
            "timed out"
        };
        rules.push(RuleResult {
            rule: rule.into(),
            passed: false,
            limit: "0".into(),
            actual: n.to_string(),
            reason: one_line(
                &format!(
                    "{} {verb}, so its results are incomplete: {}",
                    plural(n, "runner", "runners"),
                    hit.join(", ")
                ),
                600,
            ),
        });
    }

    // A result file that could not be read (empty, truncated by a tool killed while writing
    // it, not a report) left its results missing or partial: as with a crash, all-green
    // partial results must not pass. Only present when it applies. The files are named
    // without a closing parenthetical: a comment short of room keeps the headline (before
    // ": ") and a trailing "(…)", which must be the rule's, not a file's.
    // A report a runner never wrote (its command failed first, or wrote it elsewhere) is the
    // same hole in the evidence, said as what it is: "could not be read" would send the
    // reader after a file that does not exist.
    // A runner that timed out, crashed or hit a limit has its own rule, which says why its
    // report is missing: not said twice.
    let stopped = |r: &crate::model::RunnerResult| {
        matches!(
            r.status,
            RunnerStatus::Timeout
                | RunnerStatus::Crashed
                | RunnerStatus::LimitExceeded
                | RunnerStatus::Interrupted
        )
    };
    let unreadable: Vec<&crate::model::ParseIssue> = v
        .runners
        .iter()
        .flat_map(|r| {
            r.parse_errors
                .iter()
                .filter(move |p| !(p.missing && stopped(r)))
        })
        .collect();
    if !unreadable.is_empty() {
        let n = unreadable.len() as u64;
        let unwritten: Vec<String> = v
            .runners
            .iter()
            .filter(|r| !stopped(r) && r.parse_errors.iter().any(|p| p.missing))
            .map(|r| {
                let files = r
                    .parse_errors
                    .iter()
                    .filter(|p| p.missing)
                    .map(|p| p.shown_file())
                    .collect::<Vec<_>>()
                    .join(", ");
                format!("{} ({files}{})", r.shown(), ended_short(r))
            })
            .collect();
        let read: Vec<&&crate::model::ParseIssue> =
            unreadable.iter().filter(|p| !p.missing).collect();
        let mut named: Vec<String> = read
            .iter()
            .take(3)
            .map(|p| {
                let how = if p.message.contains("truncated") {
                    " truncated"
                } else {
                    ""
                };
                match p.position {
                    Some(at) => format!("{}{how} at {at}", p.shown_file()),
                    None => format!("{}{how}", p.shown_file()),
                }
            })
            .collect();
        let nr = read.len() as u64;
        if nr > 3 {
            named.push(format!("and {} more", nr - 3));
        }
        let mut parts = Vec::new();
        if !unwritten.is_empty() {
            let k = unwritten.len();
            let mut shown: Vec<String> = unwritten.into_iter().take(3).collect();
            if k > 3 {
                shown.push(format!("and {} more", k - 3));
            }
            parts.push(format!(
                "{} no report, so {} results are missing: {}",
                if k == 1 {
                    "1 runner wrote".to_string()
                } else {
                    format!("{k} runners wrote")
                },
                if k == 1 { "its" } else { "their" },
                shown.join(", ")
            ));
        }
        if nr > 0 {
            parts.push(format!(
                "{} could not be read, so {} results are incomplete: {}",
                plural(nr, "result file", "result files"),
                if nr == 1 { "its" } else { "their" },
                named.join(", "),
            ));
        }
        rules.push(RuleResult {
            rule: "unreadable".into(),
            passed: !cfg.fail_on_unreadable,
            limit: "0".into(),
            actual: n.to_string(),
            reason: one_line(
                &format!(
                    "{}{}",
                    parts.join("; "),
                    if cfg.fail_on_unreadable {
                        ""
                    } else {
                        " (not failing: fail_on_unreadable is false)"
                    }
                ),
                600,
            ),
        });
    }

    // A suite that did not run to its end (a test file that failed to load, a bail-out, a
    // failed hook, a plan cut short) left tests that never ran and are in no count: green
    // counts beside it prove nothing, as with a crash. Build errors are the build rule's.
    // Only present when it applies.
    let suite_problems: Vec<&crate::model::Problem> = input
        .diagnose
        .problems
        .iter()
        .filter(|p| p.suite_error.as_deref().is_some_and(|k| k != "build"))
        .collect();
    let suite_errors = v
        .runners
        .iter()
        .flat_map(|r| &r.suite_errors)
        .filter(|e| e.kind != "build")
        .count()
        .max(suite_problems.len()) as u64;
    if suite_errors > 0 {
        let mut named: Vec<String> = suite_problems
            .iter()
            .take(3)
            // "at", not "(…)": a reason's closing parenthetical is the rule's own, and a
            // comment short of room keeps only that (report::short_reason).
            .map(|p| match &p.location {
                Some(l) => format!("{} at {l}", p.title),
                None => p.title.clone(),
            })
            .collect();
        if named.is_empty() {
            // A diagnose.json written before problems named their suite errors.
            named = v
                .runners
                .iter()
                .flat_map(|r| &r.suite_errors)
                .filter(|e| e.kind != "build")
                .take(3)
                .map(|e| one_line(&format!("{}: {}", e.suite, e.message), 200))
                .collect();
        }
        if suite_errors > named.len() as u64 {
            named.push(format!("and {} more", suite_errors - named.len() as u64));
        }
        rules.push(RuleResult {
            rule: "suite_errors".into(),
            passed: false,
            limit: "0".into(),
            actual: suite_errors.to_string(),
            reason: one_line(
                &format!(
                    "{} did not run to the end, so {} tests are missing: {}",
                    plural(suite_errors, "test suite", "test suites"),
                    if suite_errors == 1 { "its" } else { "their" },
                    named.join("; ")
                ),
                600,
            ),
        });
    }

    rules.push(RuleResult {
        rule: "min_score".into(),
        passed: score >= cfg.min_score,
        limit: fmt_num(cfg.min_score),
        actual: fmt_num(score),
        reason: if score >= cfg.min_score {
            format!(
                "score {} ≥ min_score {}",
                fmt_num(score),
                fmt_num(cfg.min_score)
            )
        } else {
            let worst = components
                .iter()
                .filter(|c| c.weight > 0.0 && c.value < 1.0)
                .map(|c| c.explanation.clone())
                .collect::<Vec<_>>()
                .join("; ");
            format!(
                "score {} is below min_score {} ({worst})",
                fmt_num(score),
                fmt_num(cfg.min_score)
            )
        },
    });

    if let Some(d) = delta.as_ref().filter(|d| !d.unknown.is_empty()) {
        notes.push(format!(
            "the baseline's list of failing tests was cut to fit (it had {}), so {} not in it {} not counted as new: whether {} failed before is unknown",
            input
                .baseline
                .and_then(|b| b.cut.as_ref())
                .map(|c| plural(c.total, "failing test", "failing tests"))
                .unwrap_or_else(|| "more failures than it lists".into()),
            plural(d.unknown.len() as u64, "failing test", "failing tests"),
            if d.unknown.len() == 1 { "is" } else { "are" },
            if d.unknown.len() == 1 { "it" } else { "they" },
        ));
    }
    if let Some(max) = cfg.max_failures {
        let all: Vec<&String> = input.failing.iter().collect();
        let (counted, what): (Vec<&String>, &str) = match (cfg.fail_on, &delta) {
            (FailOn::Regression, Some(d)) => (d.new_failures.iter().collect(), "new failure"),
            (FailOn::Regression, None) => {
                notes.push(
                    "fail_on is regression but there is no baseline: every failure counts as new"
                        .into(),
                );
                (all.clone(), "new failure")
            }
            (FailOn::Any, _) => (all.clone(), "failing test"),
        };
        // Without the key list (e.g. a run whose cases were not read), fall back to counts.
        let n = if counted.is_empty() && cfg.fail_on == FailOn::Any {
            c.bad()
        } else {
            counted.len() as u64
        };
        let passed = n <= max;
        let reason = if n == 0 {
            match cfg.fail_on {
                FailOn::Any => "no test failed".to_string(),
                FailOn::Regression => {
                    let old = delta.as_ref().map(|d| d.still_failing.len()).unwrap_or(0);
                    if old > 0 {
                        format!(
                            "no new failure ({} already failing in the baseline)",
                            plural(old as u64, "test was", "tests were")
                        )
                    } else {
                        "no new failure".to_string()
                    }
                }
            }
        } else {
            // The key list holds each failing test once (a test that failed in two attempts
            // or two reports is one failing test); the counts line counts every failed or
            // errored result. When they differ, the reason says both, so that its number
            // reconciles with "N failed · M errored".
            let results = c.bad();
            let head = if cfg.fail_on == FailOn::Any && !counted.is_empty() && results > n {
                format!(
                    "{} in {results} failed or errored results",
                    plural(n, "distinct failing test", "distinct failing tests")
                )
            } else {
                plural(n, what, &format!("{what}s"))
            };
            let text = if counted.is_empty() {
                head
            } else {
                describe_tests(&head, &counted, &locs, v)
            };
            if passed {
                format!("{text} (within max_failures {max})")
            } else {
                format!("{text} (max_failures is {max})")
            }
        };
        rules.push(RuleResult {
            rule: "max_failures".into(),
            passed,
            limit: max.to_string(),
            actual: n.to_string(),
            reason,
        });
    }

    if let Some(max) = cfg.max_flaky {
        rules.push(RuleResult {
            rule: "max_flaky".into(),
            passed: c.flaky <= max,
            limit: max.to_string(),
            actual: c.flaky.to_string(),
            reason: format!(
                "{} passed only after retries (max_flaky is {max})",
                plural(c.flaky, "test", "tests")
            ),
        });
    }
    if let Some(max) = cfg.max_lint_errors {
        rules.push(RuleResult {
            rule: "max_lint_errors".into(),
            passed: v.lint.errors <= max,
            limit: max.to_string(),
            actual: v.lint.errors.to_string(),
            reason: format!(
                "{} (max_lint_errors is {max})",
                plural(v.lint.errors, "lint error", "lint errors")
            ),
        });
    }
    if !cfg.require.is_empty() {
        let mut missing = Vec::new();
        for req in &cfg.require {
            // `shards`: every shard of a matrix reached `codeloop merge`.
            if req == "shards" {
                let gone = crate::merge::missing_shards(v);
                if !gone.is_empty() {
                    missing.push(format!("shards never merged: {}", gone.join(", ")));
                }
                continue;
            }
            let matching: Vec<&RunnerResult> = v
                .runners
                .iter()
                .filter(|r| r.id == *req || r.kind.as_str() == req)
                .collect();
            if matching.is_empty() {
                missing.push(format!("`{req}` did not run"));
            } else if !matching.iter().any(|r| has_results(r)) {
                let st = matching
                    .iter()
                    .map(|r| format!("{} {}", r.id, r.status.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ");
                missing.push(format!("`{req}` produced no results ({st})"));
            }
        }
        rules.push(RuleResult {
            rule: "require".into(),
            passed: missing.is_empty(),
            limit: format!("{:?}", cfg.require),
            actual: if missing.is_empty() {
                "all present".into()
            } else {
                missing.join("; ")
            },
            reason: if missing.is_empty() {
                format!(
                    "every required runner produced results ({})",
                    cfg.require.join(", ")
                )
            } else {
                format!("required results are missing: {}", missing.join("; "))
            },
        });
    }
    if cfg.fail_on_empty {
        let silent: Vec<&str> = v
            .runners
            .iter()
            .filter(|r| {
                r.kind == RunnerKind::Test
                    && r.status != RunnerStatus::Skipped
                    && r.status != RunnerStatus::Blocked
                    && !has_results(r)
            })
            .map(|r| r.id.as_str())
            .collect();
        let empty = c.tests == 0 && !v.runners.iter().any(has_results);
        // Test runners a failed build kept from running: why there are no results.
        let blocked: Vec<String> = v
            .runners
            .iter()
            .filter(|r| r.kind == RunnerKind::Test && r.status == RunnerStatus::Blocked)
            .take(3)
            .map(|r| r.shown())
            .collect();
        // No test ran because the build failed (compile errors collected from compiler
        // output, a build step that failed): the build rule says why; "check that the
        // runners write their reports" would send the reader after the wrong fault.
        // (Test runners the build blocked are named below instead, as a failing reason.)
        let explained_by_build = be > 0 && c.tests == 0 && blocked.is_empty();
        let passed = explained_by_build || (!empty && silent.is_empty());
        // Every test runner without results had its result files, but none could be read
        // (empty, truncated): that is why there are none, and the `unreadable` rule names
        // the files. "Check that the runners write their reports" would send the reader
        // after a glob that matched.
        let only_unreadable = empty
            && blocked.is_empty()
            && !unreadable.is_empty()
            && v.runners
                .iter()
                .filter(|r| r.kind == RunnerKind::Test && r.status != RunnerStatus::Skipped)
                .all(|r| !r.parse_errors.is_empty());
        // The collect patterns that found nothing, when nothing at all was collected: the
        // reason names them (the likeliest fault of a new setup is the pattern).
        let unmatched = v
            .runners
            .iter()
            .all(|r| r.result_files.is_empty())
            .then(|| {
                v.runners
                    .iter()
                    .filter_map(|r| r.unmatched_shown())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|p| !p.is_empty());
        let candidates = v.runners.iter().find_map(|r| r.candidates_shown());
        if only_unreadable && cfg.fail_on_unreadable {
            said_elsewhere.push("fail_on_empty");
        }
        rules.push(RuleResult {
            rule: "fail_on_empty".into(),
            passed,
            limit: "true".into(),
            actual: c.tests.to_string(),
            reason: if only_unreadable {
                format!(
                    "no tests were read: {} found could not be read",
                    if unreadable.len() == 1 {
                        "the one result file".to_string()
                    } else {
                        format!("the {} result files", unreadable.len())
                    }
                )
            } else if explained_by_build {
                "no tests ran: the build failed".to_string()
            } else if empty && !blocked.is_empty() {
                one_line(
                    &format!(
                        "no tests ran: the build failed, so {} did not run",
                        blocked.join(", ")
                    ),
                    600,
                )
            } else if let Some(patterns) = unmatched.filter(|_| empty) {
                match candidates {
                    Some(c) => format!(
                        "no results were found: no file matched {patterns} (test reports are at {c})"
                    ),
                    None => format!("no results were found: no file matched {patterns}"),
                }
            } else if empty {
                "no results were found at all: check that the runners write their reports (or --report matches them)".into()
            } else if !silent.is_empty() {
                format!("test runner(s) produced no results: {}", silent.join(", "))
            } else {
                format!("{} found", plural(c.tests, "test result", "test results"))
            },
        });
    }

    let verdict = if rules.iter().all(|r| r.passed) {
        Verdict::Pass
    } else {
        Verdict::Fail
    };
    let mut reasons: Vec<String> = rules
        .iter()
        .filter(|r| !r.passed && !said_elsewhere.contains(&r.rule.as_str()))
        .map(|r| r.reason.clone())
        .collect();
    if verdict == Verdict::Pass {
        reasons.push(format!(
            "passed: {}, score {}",
            if c.tests > 0 {
                format!(
                    "{} of {} tests passed ({} skipped)",
                    c.passed, c.tests, c.skipped
                )
            } else {
                "no tests".to_string()
            },
            fmt_num(score)
        ));
        if let Some(r) = rules
            .iter()
            .find(|r| r.rule == "max_failures" && r.reason != "no test failed")
        {
            reasons.push(r.reason.clone());
        }
    }
    if let Some(d) = &delta {
        let mut parts = Vec::new();
        if !d.fixed.is_empty() {
            parts.push(format!("{} fixed", d.fixed.len()));
        }
        if !d.new_failures.is_empty() {
            parts.push(format!("{} new", d.new_failures.len()));
        }
        if !d.still_failing.is_empty() {
            parts.push(format!("{} still failing", d.still_failing.len()));
        }
        if let Some(sc) = d.score_change {
            parts.push(format!(
                "score {}{}",
                if sc >= 0.0 { "+" } else { "" },
                fmt_num(sc)
            ));
        }
        if !parts.is_empty() {
            reasons.push(format!(
                "against baseline {}: {}",
                d.baseline_run_id.as_deref().unwrap_or("(unnamed)"),
                parts.join(", ")
            ));
        }
    }
    reasons.extend(notes);
    GateDoc {
        schema_version: SCHEMA_VERSION,
        run_id: v.run_id.clone(),
        verdict,
        score,
        components,
        rules,
        reasons,
        counts: c,
        lint: v.lint,
        delta,
    }
}

/// Exit code for a gate: 0 pass, 3 when results were required and missing, 1 otherwise.
pub fn exit_code(g: &GateDoc) -> i32 {
    if g.verdict == Verdict::Pass {
        crate::exit::OK
    } else if g
        .rules
        .iter()
        .any(|r| !r.passed && (r.rule == "crash" || r.rule == "timeout"))
    {
        // A runner that did not finish is a failure, even when it also left no results.
        crate::exit::GATE_FAILED
    } else if g
        .rules
        .iter()
        .any(|r| !r.passed && (r.rule == "require" || r.rule == "fail_on_empty"))
    {
        crate::exit::NO_RESULTS
    } else {
        crate::exit::GATE_FAILED
    }
}

/// `: exited with code 2` / `: timed out` / `` for a runner whose report is missing: the
/// short form of how its command ended (the diagnosis has its output).
fn ended_short(r: &crate::model::RunnerResult) -> String {
    match (r.status, r.exit_code, r.signal) {
        (RunnerStatus::Timeout, _, _) => ": timed out".into(),
        (RunnerStatus::LimitExceeded, _, _) => ": stopped by its limit".into(),
        (_, _, Some(sig)) => match crate::model::signal_name(sig) {
            Some(name) => format!(": killed by {name}"),
            None => format!(": killed by signal {sig}"),
        },
        (_, Some(0), _) => ": exited 0 without writing it".into(),
        (_, Some(c), _) => format!(": exited with code {c}"),
        _ => String::new(),
    }
}

/// How a runner that did not finish ended, for the verdict's reasons: the signal that killed
/// it, else its hint (the limit it hit, the timeout), else its status.
fn how_it_ended(r: &crate::model::RunnerResult) -> String {
    let signal = r
        .signal
        .filter(|_| r.status != RunnerStatus::LimitExceeded)
        .map(|s| (s, crate::model::signal_name(s)));
    match (signal, &r.hint) {
        (Some((s, Some(name))), _) => format!("killed by signal {s}, {name}"),
        (Some((s, None)), _) => format!("killed by signal {s}"),
        (None, Some(h)) => one_line(h, 160),
        (None, None) => r.status.as_str().to_string(),
    }
}

/// gate.json as written: the [`GateDoc`] plus `failing` (the failing test keys, bounded), so
/// that a later run can use this file as its baseline.
pub fn to_json(g: &GateDoc, failing: &BTreeSet<String>) -> serde_json::Value {
    let mut v = serde_json::to_value(g).unwrap_or(serde_json::Value::Null);
    if let Some(o) = v.as_object_mut() {
        let keys: Vec<&String> = failing.iter().take(MAX_STORED_FAILING).collect();
        o.insert("failing".into(), serde_json::json!(keys));
        if failing.len() > MAX_STORED_FAILING {
            o.insert(
                "failing_truncated".into(),
                serde_json::json!(failing.len() - MAX_STORED_FAILING),
            );
        }
    }
    v
}

/// A baseline from a codeloop comment's hidden state (the previous sticky comment of the same
/// key). Its failing keys are [`crate::report::state::state_key`]s: long names are hashes,
/// which [`delta`] matches.
pub fn baseline_from_state(s: &crate::report::state::HiddenState) -> Baseline {
    let known = s.known_failing();
    let names_complete = !s.cut && s.failing.len() as u64 >= s.failing_total;
    Baseline {
        run_id: Some(s.run_id.clone()),
        score: s.score,
        failing: s.failing.iter().cloned().collect(),
        tests: None,
        counts: Some(s.counts),
        cut: (!names_complete).then_some(known),
    }
}

/// A baseline from a gate.json value (as [`to_json`] wrote it).
pub fn baseline_from_gate_json(v: &serde_json::Value) -> Result<Baseline, String> {
    let g: GateDoc = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    let failing: BTreeSet<String> = v
        .get("failing")
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_else(|| {
            // Older gate.json without the key list: its delta's failures are all we know.
            g.delta
                .as_ref()
                .map(|d| {
                    d.new_failures
                        .iter()
                        .chain(&d.still_failing)
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        });
    // A gate.json lists at most MAX_STORED_FAILING keys and counts the rest.
    let cut = v
        .get("failing_truncated")
        .and_then(|n| n.as_u64())
        .filter(|n| *n > 0)
        .map(|n| crate::report::state::KnownFailing {
            hashes: None,
            complete: false,
            total: failing.len() as u64 + n,
        });
    Ok(Baseline {
        run_id: Some(g.run_id),
        score: Some(g.score),
        failing,
        tests: None,
        counts: Some(g.counts),
        cut,
    })
}

#[cfg(test)]
mod tests;
