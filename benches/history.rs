//! History benchmark: the data branch's `history.json.gz` for 100,000 tests × 50 runs.
//!
//! - size: the file after 50 runs, against the stated cap (`history::MAX_BYTES`, 1 MiB);
//! - read: what a pull request pays before its gate — gunzip, parse, index, and the
//!   insights over the PR's 100,000 cases (baseline, flaky tests, slower tests) — wall and
//!   CPU time, median of RUNS (default 5). The budget is 50 ms.
//!
//! The tests are generated like a big monorepo's: ids `runner::path/to/test_file.py::Class::
//! test_name` (shared prefixes), steady durations from 1 ms to 20 s with ±15 % noise per
//! run, 1 % of tests flaky (fail 1 run in 10), 0.5 % broken for a while.
//!
//! ```text
//! cargo bench --bench history -- [RUNS]
//! ```
//!
//! Exits 1 when the size or the read time is over its budget.

#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::time::Instant;

use codeloop::history::{
    self, HistoryDoc, Index, InsightsBuilder, Observation, RunEntry, Thresholds,
};
use codeloop::model::Status;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const TESTS: usize = 100_000;
const RUNS: usize = 50;
const READ_BUDGET_MS: f64 = 50.0;

fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we pass; no other memory is touched.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

struct TestSpec {
    id: String,
    base_secs: f64,
    kind: u8, // 0 steady, 1 flaky, 2 broken in runs 20..30
}

fn tests(rng: &mut StdRng) -> Vec<TestSpec> {
    let runners = ["pytest", "jest", "cargo"];
    (0..TESTS)
        .map(|i| {
            let runner = runners[i % 3];
            let id = format!(
                "{runner}::src/pkg_{:03}/module_{:02}/test_{}_{:03}.py::Test{}::test_case_{:05}",
                i / 1000,
                (i / 100) % 10,
                ["api", "db", "ui", "core"][(i / 50) % 4],
                i / 20,
                ["Read", "Write", "Parse", "Render"][(i / 5) % 4],
                i
            );
            let base_secs = 10f64.powf(rng.random_range(-3.0..1.3));
            let r: f64 = rng.random();
            let kind = if r < 0.01 {
                1
            } else if r < 0.015 {
                2
            } else {
                0
            };
            TestSpec {
                id,
                base_secs,
                kind,
            }
        })
        .collect()
}

fn observe(t: &TestSpec, run: usize, rng: &mut StdRng) -> Observation {
    let fail = match t.kind {
        1 => rng.random::<f64>() < 0.1,
        2 => (20..30).contains(&run),
        _ => false,
    };
    Observation {
        key: t.id.clone(),
        status: if fail { Status::Failed } else { Status::Passed },
        flaky: false,
        duration: Some(t.base_secs * rng.random_range(0.85..1.15)),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let mut rng = StdRng::seed_from_u64(17);
    let specs = tests(&mut rng);

    let t0 = Instant::now();
    let mut doc: Option<HistoryDoc<'static>> = None;
    for run in 0..RUNS {
        let cases: Vec<Observation> = specs.iter().map(|t| observe(t, run, &mut rng)).collect();
        let entry = RunEntry {
            run_id: format!("20261201T{run:06}Z-abcd"),
            sha: Some(format!("{run:040x}")),
            ..Default::default()
        };
        doc = Some(history::append(doc.as_ref(), "main", RUNS, entry, cases));
    }
    let doc = doc.unwrap();
    let build = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let (bytes, dropped) = history::encode_capped(&doc, usize::MAX).unwrap();
    let encode = t1.elapsed().as_secs_f64();
    let json_len = history::gunzip(&bytes).unwrap().len();
    println!(
        "history: {TESTS} tests x {RUNS} runs: {} bytes gzip ({:.1} KiB; cap {} KiB), {} bytes JSON; built in {build:.1} s, encoded in {:.0} ms",
        bytes.len(),
        bytes.len() as f64 / 1024.0,
        history::MAX_BYTES / 1024,
        json_len,
        encode * 1000.0
    );
    assert_eq!(dropped, 0);

    // What a PR run pays: its cases are the newest main run's with a few changes.
    let pr: Vec<Observation> = specs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut o = observe(t, RUNS, &mut rng);
            if i % 10_000 == 0 {
                o.status = Status::Failed;
            }
            if i % 7_777 == 0 {
                o.duration = Some(t.base_secs * 5.0 + 1.0);
            }
            o
        })
        .collect();
    let (mut walls, mut cpus) = (Vec::new(), Vec::new());
    let mut last = None;
    for _ in 0..runs {
        let (w0, c0) = (Instant::now(), cpu_secs());
        let json = history::gunzip(&bytes).unwrap();
        let d = history::parse(&json).unwrap();
        let idx = Index::new(&d);
        let mut b = InsightsBuilder::new(&idx, Thresholds::default());
        for o in &pr {
            b.observe(&o.key, o.status, o.duration);
        }
        let i = b.finish(false);
        walls.push(w0.elapsed().as_secs_f64() * 1000.0);
        cpus.push((cpu_secs() - c0) * 1000.0);
        last = Some((
            i.new_failures_total,
            i.already_failing_total,
            i.flaky_total,
            i.slower_total,
        ));
    }
    let (wall, cpu) = (median(walls), median(cpus));
    let (new, old, flaky, slower) = last.unwrap();
    println!(
        "read + insights for a PR of {TESTS} cases: {wall:.1} ms wall, {cpu:.1} ms CPU (median of {runs}; budget {READ_BUDGET_MS} ms): {new} new failures, {old} already failing, {flaky} flaky, {slower} slower"
    );
    let mut bad = false;
    if bytes.len() > history::MAX_BYTES {
        eprintln!("over the cap: {} > {}", bytes.len(), history::MAX_BYTES);
        bad = true;
    }
    if cpu > READ_BUDGET_MS {
        eprintln!("reading takes {cpu:.1} ms CPU, over the {READ_BUDGET_MS} ms budget");
        bad = true;
    }
    if bad {
        std::process::exit(1);
    }
}
