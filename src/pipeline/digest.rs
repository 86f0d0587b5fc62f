//! The in-memory run: one consumer of the parse's stream of cases and findings (a
//! [`Tap`] beside cases.jsonl) that keeps only what the later stages need — the failing and
//! flaky cases for diagnose, the test-key hashes for a baseline, the report's bounded
//! [`CaseDigest`], the first flaky tests for the HTML page — and feeds the JUnit writer,
//! which spools each case to disk at once. Memory grows with failures, not with the run.
//!
//! The report stage run alone fills the same digest from cases.jsonl, so both paths render
//! from one value.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::junit::FileSpool;
use crate::model::{Case, Finding};
use crate::report::CaseDigest;
use crate::report::html::FlakyTest;
use crate::report::junit::JunitOut;
use crate::runners::collect::Tap;

/// Flaky tests listed on the HTML page.
pub const FLAKY_MAX: usize = 50;

/// What the stages after verify need of the run's cases.
#[derive(Default)]
pub struct Digest {
    /// Failing and flaky cases, in cases.jsonl order (diagnose; only when asked).
    pub problems: Option<Vec<Case>>,
    /// Findings, in findings.jsonl order.
    pub findings: Vec<Finding>,
    /// Hashes of every test key (a regression gate's baseline comparison; only when asked).
    pub tests: Option<HashSet<u64>>,
    pub cases: CaseDigest,
    pub flaky: Vec<FlakyTest>,
    pub junit: Option<JunitOut<FileSpool>>,
    /// The JUnit writer's first error (the report leaves junit.xml out with a notice).
    pub junit_error: Option<String>,
}

impl Digest {
    pub fn observe(&mut self, c: &Case) {
        if let Some(p) = self.problems.as_mut()
            && (c.status.is_bad() || c.flaky)
        {
            p.push(c.clone());
        }
        if let Some(t) = self.tests.as_mut() {
            t.insert(crate::gate::key_hash(&c.key()));
        }
        self.cases.observe(c);
        if c.flaky && self.flaky.len() < FLAKY_MAX {
            self.flaky.push(FlakyTest {
                runner: c.runner.clone(),
                id: c.key(),
                retries: c.retries,
            });
        }
        if let Some(j) = self.junit.as_mut() {
            j.case(c);
        }
    }

    pub fn finding(&mut self, f: &Finding) {
        if let Some(j) = self.junit.as_mut() {
            j.finding(f);
        }
        self.findings.push(f.clone());
    }
}

/// A [`Tap`] filling a shared [`Digest`] (the pipeline keeps the other handle).
pub struct DigestTap(pub Arc<Mutex<Digest>>);

impl Tap for DigestTap {
    fn case(&mut self, case: &Case) {
        if let Ok(mut d) = self.0.lock() {
            d.observe(case);
        }
    }
    fn finding(&mut self, finding: &Finding) {
        if let Ok(mut d) = self.0.lock() {
            d.finding(finding);
        }
    }
}
