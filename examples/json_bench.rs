//! Throughput and peak memory of the JSON/TAP parsers on one (big) file, against a floor.
//!
//! Throughput is computed from each child's CPU time (user + system, its own `getrusage`),
//! because the machines this runs on are shared and wall time mostly measures the
//! neighbours; the median wall time is printed too, for reference.
//!
//! For each file, in fresh child processes (this binary re-executed, so that each peak RSS —
//! `ru_maxrss` of the child — is its own), alternating, median of RUNS:
//!
//! - `floor`: the least work any parser must do on that file: for a JSON document,
//!   `serde_json::from_slice` into `IgnoredAny` (nothing kept; the file read into memory
//!   first, so the floor's RSS is the file size — only its time matters); for JSON Lines
//!   (`.jsonl`), the same per line; for TAP and other text, reading it line by line;
//! - `codeloop`: `parsers::parse` with auto-detection into the standard `Collector` (what
//!   `verify` does, minus writing cases.jsonl); the Collector keeps every failed case, so
//!   its memory grows with the number of failures in the file;
//! - `counts`: the same parse into a sink that only counts: the parser's own memory.
//!
//! With `JSON_BENCH_READER=1` also `reader` (codeloop's JSON reader skipping every element
//! of the top-level arrays) and `values` (building each element as a `serde_json::Value`).
//! `--child serde-value FILE` times `serde_json::from_slice::<Value>` on a whole file.
//!
//! ```text
//! scripts/gen-big-json.sh pytest /tmp/big-pytest.json     # ~200 MB; also: jest, go, tap
//! cargo run --release --example json_bench -- /tmp/big-pytest.json [RUNS]
//! ```
#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::process::Command;
use std::time::Instant;

use codeloop::parsers::{self, Collector, ParseOptions};
use serde::de::IgnoredAny;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1], &args[2]);
        return;
    }
    let Some(path) = args.first() else {
        eprintln!(
            "usage: cargo run --release --example json_bench -- FILE [RUNS]   (make FILE with scripts/gen-big-json.sh)"
        );
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(3);
    let bytes = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let mb = bytes as f64 / 1e6;
    println!("file: {path} ({mb:.1} MB), {runs} runs each, medians:");
    let modes: &[&str] = if std::env::var_os("JSON_BENCH_READER").is_some() {
        &["floor", "codeloop", "counts", "reader", "values"]
    } else {
        &["floor", "codeloop", "counts"]
    };
    struct Row {
        what: &'static str,
        cpu: Vec<f64>,
        wall: Vec<f64>,
        rss: Vec<f64>,
        out: String,
    }
    let mut results: Vec<Row> = modes
        .iter()
        .map(|w| Row {
            what: w,
            cpu: Vec::new(),
            wall: Vec::new(),
            rss: Vec::new(),
            out: String::new(),
        })
        .collect();
    for _ in 0..runs {
        for r in results.iter_mut() {
            let c = run_child(r.what, path);
            r.cpu.push(c.cpu);
            r.wall.push(c.wall);
            r.rss.push(c.rss_mb);
            r.out = c.out;
        }
    }
    let mut floor_tp = 0.0;
    for r in &mut results {
        let s = median(&mut r.cpu);
        let tp = mb / s;
        if r.what == "floor" {
            floor_tp = tp;
        }
        println!(
            "{:>9}: {s:>7.3} s CPU  {tp:>7.1} MB/s  (wall {:>6.3} s)  peak RSS {:>6.1} MB   {}",
            r.what,
            median(&mut r.wall),
            median(&mut r.rss),
            r.out
        );
    }
    let ours = mb / median(&mut results[1].cpu);
    println!("codeloop / floor throughput (CPU): {:.2}", ours / floor_tp);
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct ChildRun {
    /// The child's own user + system CPU seconds.
    cpu: f64,
    wall: f64,
    rss_mb: f64,
    /// The child's summary line.
    out: String,
}

/// Runs `--child WHAT PATH` and reads what it reports about itself.
fn run_child(what: &str, path: &str) -> ChildRun {
    let exe = std::env::current_exe().expect("current exe");
    let start = Instant::now();
    let out = Command::new(exe)
        .args(["--child", what, path])
        .output()
        .expect("spawn child");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // The child prints `rss_kb=N cpu_s=S` (its own ru_maxrss and CPU time) first.
    let (rss, rest) = text.split_once(' ').unwrap_or((&text, ""));
    let (cpu, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let kb: f64 = rss.trim_start_matches("rss_kb=").parse().unwrap_or(0.0);
    let cpu: f64 = cpu.trim_start_matches("cpu_s=").parse().unwrap_or(secs);
    ChildRun {
        cpu,
        wall: secs,
        rss_mb: kb / 1024.0,
        out: rest.to_string(),
    }
}

fn child(what: &str, path: &str) {
    let summary = match what {
        "floor" => floor(path),
        "serde-value" => {
            let bytes = std::fs::read(path).expect("read");
            let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
            format!(
                "serde_json Value: {} top-level keys",
                v.as_object().map_or(0, |o| o.len())
            )
        }
        "counts" => {
            // The parser alone: a sink that only counts, so RSS is the parser's own memory
            // (the standard Collector also keeps every failed case, by design).
            struct Count(u64, u64);
            impl parsers::Sink for Count {
                fn case(&mut self, c: codeloop::model::Case) {
                    self.0 += 1;
                    if c.status.is_bad() {
                        self.1 += 1;
                    }
                }
                fn finding(&mut self, _: codeloop::model::Finding) {}
                fn suite_error(&mut self, _: codeloop::model::SuiteError) {}
                fn warning(&mut self, _: Option<codeloop::model::Position>, _: String) {}
            }
            let f = File::open(path).expect("open");
            let mut c = Count(0, 0);
            let r = parsers::parse(f, path, None, &ParseOptions::default(), &mut c);
            format!(
                "parser only (counting sink): tests={} bad={} ok={}",
                c.0,
                c.1,
                r.is_ok()
            )
        }
        "reader" | "values" => {
            // codeloop's JSON reader alone: skip (or build) every top-level value.
            let mut f = BufReader::with_capacity(256 * 1024, File::open(path).expect("open"));
            let mut jr = codeloop::parsers::json::JsonReader::new(&mut f);
            let mut n = 0u64;
            jr.enter_object().expect("object");
            while let Some(_k) = jr.next_key().expect("key") {
                if jr.peek_token().expect("token") == Some(b'[') {
                    jr.enter_array().expect("array");
                    while jr.next_item().expect("item") {
                        if what == "values" {
                            jr.read_value().expect("value");
                        } else {
                            jr.skip_value().expect("value");
                        }
                        n += 1;
                    }
                } else {
                    jr.skip_value().expect("value");
                }
            }
            format!("{what}: {n} array elements")
        }
        _ => {
            let f = File::open(path).expect("open");
            let mut c = Collector::default();
            let r = parsers::parse(f, path, None, &ParseOptions::default(), &mut c);
            let fmt = match r {
                Ok(p) => p.format.name().to_string(),
                Err(e) => format!("ERROR {e}"),
            };
            format!(
                "{fmt}: tests={} passed={} failed={} skipped={} problems kept={}",
                c.counts.tests,
                c.counts.passed,
                c.counts.failed,
                c.counts.skipped,
                c.problems.len()
            )
        }
    };
    let (rss_kb, cpu_s) = self_usage();
    println!("rss_kb={rss_kb} cpu_s={cpu_s:.4} {summary}");
}

fn floor(path: &str) -> String {
    let f = BufReader::with_capacity(256 * 1024, File::open(path).expect("open"));
    if path.ends_with(".jsonl") {
        let mut n = 0u64;
        for line in f.lines() {
            let line = line.expect("read");
            if line.starts_with('{') && serde_json::from_str::<IgnoredAny>(&line).is_ok() {
                n += 1;
            }
        }
        format!("serde_json IgnoredAny per line: {n} lines")
    } else if path.ends_with(".json") {
        // The fastest serde_json path: the whole file in memory, then `from_slice`.
        drop(f);
        let bytes = std::fs::read(path).expect("read");
        let r = serde_json::from_slice::<IgnoredAny>(&bytes);
        format!(
            "serde_json from_slice IgnoredAny: {}",
            if r.is_ok() { "ok" } else { "error" }
        )
    } else {
        let mut n = 0u64;
        let mut buf = Vec::new();
        let mut f = f;
        while f.read_until(b'\n', &mut buf).expect("read") > 0 {
            n += 1;
            buf.clear();
        }
        let _ = f.read(&mut [0u8; 1]);
        format!("line pass: {n} lines")
    }
}

/// This process's peak RSS (KB) and user + system CPU seconds.
fn self_usage() -> (i64, f64) {
    // SAFETY: getrusage only writes the struct we pass it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (u.ru_maxrss, secs(u.ru_utime) + secs(u.ru_stime))
}
