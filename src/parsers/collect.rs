//! [`Collector`]: the standard [`Sink`]. It keeps aggregates for everything (counts, lint
//! counts, the slowest N tests) and full records only for what needs attention (failed,
//! errored and flaky cases, findings, suite errors), so memory grows with the number of
//! failures, not with the number of tests. Every case can also be forwarded to a callback
//! (verify streams them to `cases.jsonl`).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::{LazyCase, Outcome, Sink};
use crate::model::{Case, Counts, Finding, LintCounts, Position, SlowTest, SuiteError};

/// How many lenient-read warnings are kept per file; the rest are only counted.
pub const MAX_WARNINGS: usize = 50;
/// How many slow tests are kept.
pub const SLOWEST_N: usize = 20;

type CaseHook<'a> = Box<dyn FnMut(&Case) + 'a>;

#[derive(Default)]
pub struct Collector<'a> {
    pub counts: Counts,
    pub lint: LintCounts,
    /// Failed, errored and flaky cases, in file order.
    pub problems: Vec<Case>,
    pub findings: Vec<Finding>,
    pub suite_errors: Vec<SuiteError>,
    pub warnings: Vec<(Option<Position>, String)>,
    /// Warnings beyond [`MAX_WARNINGS`].
    pub warnings_dropped: u64,
    slow: BinaryHeap<MinSlow>,
    /// When set, every case is also kept here (tests and small inputs only).
    pub all: Option<Vec<Case>>,
    on_case: Option<CaseHook<'a>>,
}

impl std::fmt::Debug for Collector<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("counts", &self.counts)
            .field("lint", &self.lint)
            .field("problems", &self.problems.len())
            .field("findings", &self.findings.len())
            .field("suite_errors", &self.suite_errors.len())
            .field("warnings", &self.warnings.len())
            .finish()
    }
}

impl<'a> Collector<'a> {
    /// A collector that keeps every case in `all` (for tests and snapshots).
    pub fn keep_all() -> Self {
        Collector {
            all: Some(Vec::new()),
            ..Default::default()
        }
    }

    /// A collector that hands every case to `hook` before aggregating it.
    pub fn with_hook(hook: impl FnMut(&Case) + 'a) -> Self {
        Collector {
            on_case: Some(Box::new(hook)),
            ..Default::default()
        }
    }

    /// The slowest tests seen, slowest first.
    pub fn slowest(&self) -> Vec<SlowTest> {
        let mut v: Vec<SlowTest> = self.slow.iter().map(|m| m.0.clone()).collect();
        v.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
        v
    }
}

impl Collector<'_> {
    /// What every case costs: the hook, the counts and the slowest-N check.
    fn observe(&mut self, case: &Case) {
        if let Some(h) = self.on_case.as_mut() {
            h(case);
        }
        self.counts.add_case(case.status, case.flaky);
        if let Some(d) = case.duration.filter(|d| self.is_slow(*d)) {
            self.push_slow(case, d);
        }
    }

    /// Whether a test of duration `d` enters the slowest-N (decided before building the
    /// entry: its id is a fresh String, and most cases of a large run are not among them).
    fn is_slow(&self, d: f64) -> bool {
        d > 0.0
            && (self.slow.len() < SLOWEST_N || self.slow.peek().is_some_and(|m| m.0.duration < d))
    }

    fn push_slow(&mut self, case: &Case, d: f64) {
        let entry = MinSlow(SlowTest {
            id: case.id(),
            runner: case.runner.clone(),
            duration: d,
            status: case.status,
        });
        if self.slow.len() >= SLOWEST_N {
            self.slow.pop();
        }
        self.slow.push(entry);
    }

    /// Keeps a case that needs attention (and every case when `all` is set).
    fn keep(&mut self, case: Case) {
        // Moved, not cloned, when only one list keeps it (traces can be large).
        let problem = case.status.is_bad() || case.flaky;
        match (problem, self.all.as_mut()) {
            (true, Some(all)) => {
                all.push(case.clone());
                self.problems.push(case);
            }
            (true, None) => self.problems.push(case),
            (false, Some(all)) => all.push(case),
            (false, None) => {}
        }
    }
}

impl Sink for Collector<'_> {
    fn case(&mut self, case: Case) {
        self.observe(&case);
        self.keep(case);
    }

    fn case_ref(&mut self, case: &Case) {
        self.observe(case);
        // Copied only when kept: a passing case of a large run is just counted.
        if case.status.is_bad() || case.flaky || self.all.is_some() {
            self.keep(case.clone());
        }
    }

    fn case_lazy(&mut self, outcome: Outcome, lazy: &mut dyn LazyCase) {
        let Outcome {
            status,
            flaky,
            duration,
        } = outcome;
        let kept = self.all.is_some() || status.is_bad() || flaky;
        if self.on_case.is_some() || kept {
            let c: &Case = lazy.case();
            return self.case_ref(c);
        }
        // A passing case is counted from its status and duration; its names are decoded
        // only when it enters the slowest-N.
        self.counts.add_case(status, flaky);
        if let Some(d) = duration.filter(|d| self.is_slow(*d)) {
            let c: &Case = lazy.case();
            self.push_slow(c, d);
        }
    }

    fn finding(&mut self, finding: Finding) {
        self.lint.add_finding(finding.severity);
        self.findings.push(finding);
    }

    fn suite_error(&mut self, error: SuiteError) {
        self.suite_errors.push(error);
    }

    fn warning(&mut self, position: Option<Position>, message: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push((position, message));
        } else {
            self.warnings_dropped += 1;
        }
    }
}

/// Min-heap entry by duration (BinaryHeap is a max-heap, so the order is reversed).
struct MinSlow(SlowTest);

impl PartialEq for MinSlow {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for MinSlow {}
impl PartialOrd for MinSlow {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for MinSlow {
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.duration.total_cmp(&self.0.duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn keeps_only_problems_and_the_slowest() {
        let mut c = Collector::default();
        for i in 0..100 {
            let mut k = Case::new(
                format!("t{i}"),
                if i % 10 == 0 {
                    Status::Failed
                } else {
                    Status::Passed
                },
            );
            k.duration = Some(i as f64);
            c.case(k);
        }
        assert_eq!(c.counts.tests, 100);
        assert_eq!(c.counts.failed, 10);
        assert_eq!(c.problems.len(), 10);
        let s = c.slowest();
        assert_eq!(s.len(), SLOWEST_N);
        assert_eq!(s[0].id, "t99");
        assert_eq!(s[SLOWEST_N - 1].id, format!("t{}", 100 - SLOWEST_N));
    }

    #[test]
    fn borrowed_cases_count_once_and_only_problems_are_copied() {
        let mut seen = 0;
        let mut c = Collector::with_hook(|_| seen += 1);
        let mut k = Case::new("ok", Status::Passed);
        k.duration = Some(2.0);
        c.case_ref(&k);
        k.name = "bad".into();
        k.status = Status::Failed;
        c.case_ref(&k);
        assert_eq!(
            (c.counts.tests, c.counts.passed, c.counts.failed),
            (2, 1, 1)
        );
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].name, "bad");
        assert_eq!(c.slowest().len(), 2);
        drop(c);
        assert_eq!(seen, 2);
    }

    struct Mock {
        case: Case,
        built: usize,
    }

    impl LazyCase for Mock {
        fn case(&mut self) -> &mut Case {
            self.built += 1;
            &mut self.case
        }
    }

    #[test]
    fn lazy_passing_cases_are_built_only_for_the_slowest() {
        let mut c = Collector::default();
        let mut m = Mock {
            case: Case::new("t", Status::Passed),
            built: 0,
        };
        // Durations 1..=SLOWEST_N fill the heap (each built once for its id), then faster
        // tests are only counted, and one slower test is built again.
        for i in 1..=SLOWEST_N {
            m.case.duration = Some(i as f64);
            c.case_lazy(Outcome::of(&m.case), &mut m);
        }
        assert_eq!(m.built, SLOWEST_N);
        for _ in 0..100 {
            m.case.duration = Some(0.5);
            c.case_lazy(Outcome::of(&m.case), &mut m);
        }
        m.case.duration = None;
        c.case_lazy(Outcome::of(&m.case), &mut m);
        assert_eq!(m.built, SLOWEST_N);
        m.case.name = "slow".into();
        m.case.duration = Some(99.0);
        c.case_lazy(Outcome::of(&m.case), &mut m);
        assert_eq!(m.built, SLOWEST_N + 1);
        assert_eq!(c.slowest()[0].id, "slow");
        assert_eq!(
            (c.counts.tests, c.counts.passed),
            (SLOWEST_N as u64 + 102, SLOWEST_N as u64 + 102)
        );
        assert!(c.problems.is_empty());
        // A failing case offered lazily is built and kept; with a hook every case is built.
        m.case.status = Status::Failed;
        c.case_lazy(Outcome::of(&m.case), &mut m);
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.counts.failed, 1);
        let mut seen = Vec::new();
        let mut h = Collector::with_hook(|k: &Case| seen.push(k.name.clone()));
        m.case.status = Status::Passed;
        m.case.duration = None;
        h.case_lazy(Outcome::of(&m.case), &mut m);
        drop(h);
        assert_eq!(seen, ["slow"]);
    }
}
