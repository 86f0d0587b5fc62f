//! Parse benchmark: on ONE JUnit file, in the same run, measures
//!
//! - `floor`: a bare quick-xml event pass (`read_event_into` until EOF, nothing kept) — the
//!   fastest any quick-xml-based parser can be;
//! - `xmlreader`: our `parsers::xml::XmlReader` alone (no JUnit logic), to split the cost;
//! - `codeloop`: `parsers::parse` with auto-detection into the standard `Collector` (what
//!   `verify` does, minus writing cases.jsonl): passing cases take the lazy path
//!   (`Sink::case_lazy`, names decoded only for the slowest-N);
//! - `codeloop-full`: the same with a hook that looks at every case, so every case is built
//!   in full — the path verify takes when it streams `cases.jsonl`.
//!
//! Each measurement runs in a fresh child process (this binary re-executed), so that its peak
//! RSS (`ru_maxrss` from `wait4`) and CPU time (user + system) are its own. Runs alternate and
//! medians are reported. Throughput is computed from CPU time, which stays meaningful on a
//! shared, loaded CI machine where wall time mostly measures the neighbours; wall time is
//! printed too.
//!
//! ```text
//! scripts/gen-big-junit.sh /tmp/big-junit.xml          # ~200 MB, 1,000,000 testcases
//! cargo bench --bench parse -- /tmp/big-junit.xml [RUNS]
//! ```
#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::fs::File;
use std::io::BufReader;
use std::process::Command;
use std::time::Instant;

use codeloop::parsers::xml::{Event, XmlReader};
use codeloop::parsers::{self, Collector, ParseOptions};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        child(&args[1], &args[2]);
        return;
    }
    let Some(path) = args.first() else {
        eprintln!(
            "usage: cargo bench --bench parse -- FILE [RUNS]   (make FILE with scripts/gen-big-junit.sh)"
        );
        std::process::exit(2);
    };
    let runs: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let bytes = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
        .len();
    let mb = bytes as f64 / 1e6;
    println!("file: {path} ({mb:.1} MB), {runs} runs each, medians:");
    let mut results = Vec::new();
    for what in ["floor", "xmlreader", "codeloop", "codeloop-full"] {
        results.push((what, Vec::new(), Vec::new(), String::new(), Vec::new()));
    }
    for _ in 0..runs {
        for r in results.iter_mut() {
            let m = run_child(r.0, path);
            r.1.push(m.cpu);
            r.2.push(m.rss_kb);
            r.3 = m.out;
            r.4.push(m.wall);
        }
    }
    let mut floor_tp = 0.0;
    for (what, cpu, rss, out, wall) in &mut results {
        let s = median(cpu);
        let r = median(rss);
        let w = median(wall);
        let tp = mb / s;
        if *what == "floor" {
            floor_tp = tp;
        }
        println!(
            "{what:>13}: cpu {s:>6.3} s  {tp:>7.1} MB/s  (wall {w:>6.3} s)  peak RSS {:>6.1} MB   {out}",
            r / 1024.0
        );
    }
    let ours = mb / median(&mut results[2].1);
    // CPU-time based (see the module docs).
    println!(
        "ratio: codeloop runs at {:.0}% of the bare quick-xml pass (target >= 50%); peak RSS target < 100 MB",
        100.0 * ours / floor_tp
    );
    let full = mb / median(&mut results[3].1);
    println!(
        "ratio: codeloop-full (every case built, as with cases.jsonl) runs at {:.0}% of the bare pass",
        100.0 * full / floor_tp
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

struct Measure {
    /// User + system CPU seconds of the child.
    cpu: f64,
    /// Wall seconds of the timed part.
    wall: f64,
    rss_kb: f64,
    out: String,
}

/// Runs one measurement in a child process.
// The child is reaped with `libc::wait4` (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run_child(what: &str, path: &str) -> Measure {
    let exe = std::env::current_exe().expect("current exe");
    let start = Instant::now();
    let child = Command::new(exe)
        .args(["--child", what, path])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn child");
    let pid = child.id() as libc::pid_t;
    let mut stdout = child.stdout.expect("stdout");
    let mut out = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut out).expect("read child output");
    let mut status = 0;
    // SAFETY: rusage is plain old data; wait4 fills it for our own child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    assert!(
        r == pid && status == 0,
        "child {what} failed (status {status})"
    );
    let secs: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("secs="))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| start.elapsed().as_secs_f64());
    let summary = out
        .lines()
        .find_map(|l| l.strip_prefix("out="))
        .unwrap_or("")
        .to_string();
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    Measure {
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        wall: secs,
        rss_kb: ru.ru_maxrss as f64,
        out: summary,
    }
}

/// One measurement; prints `secs=` (the timed part only, process start excluded) and `out=`.
fn child(what: &str, path: &str) {
    let start = Instant::now();
    let out = match what {
        "floor" => {
            let f = File::open(path).expect("open");
            let mut r = quick_xml::Reader::from_reader(BufReader::with_capacity(256 * 1024, f));
            let mut buf = Vec::with_capacity(4096);
            let mut events = 0u64;
            loop {
                match r.read_event_into(&mut buf) {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => events += 1,
                    Err(e) => panic!("quick-xml: {e}"),
                }
                buf.clear();
            }
            format!("{events} events")
        }
        "xmlreader" => {
            // Our XML layer alone (positions, balanced events, attribute scan), no JUnit.
            let f = File::open(path).expect("open");
            let mut r = XmlReader::new(BufReader::with_capacity(256 * 1024, f), 16 * 1024);
            let mut starts = 0u64;
            loop {
                match r.next() {
                    Ok(Event::Start(_)) => starts += 1,
                    Ok(Event::End(_)) => {}
                    Ok(Event::Eof) => break,
                    Err(e) => panic!("xml: {e}"),
                }
            }
            format!("{starts} elements")
        }
        _ => {
            let f = File::open(path).expect("open");
            // `codeloop-full`: a hook that looks at every case, as verify's cases.jsonl
            // writer does, so every passing case is built in full (the lazy path is off).
            let mut seen = 0usize;
            let full = what == "codeloop-full";
            let mut c = if full {
                Collector::with_hook(|k| seen += k.name.len() + k.suite.len())
            } else {
                Collector::default()
            };
            let r = parsers::parse(f, path, None, &ParseOptions::default(), &mut c);
            let n = c.counts;
            format!(
                "{} ({} tests: {} passed, {} failed, {} errored, {} skipped, {} flaky; {} problems kept){}",
                r.as_ref().map(|p| p.format.name()).unwrap_or("error"),
                n.tests,
                n.passed,
                n.failed,
                n.errored,
                n.skipped,
                n.flaky,
                c.problems.len(),
                r.err().map(|e| format!(" ERROR {e}")).unwrap_or_default()
            )
        }
    };
    println!("secs={}", start.elapsed().as_secs_f64());
    println!("out={out}");
}
