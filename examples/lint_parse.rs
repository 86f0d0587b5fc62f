//! Parses one report file through codeloop's parser registry (auto-detected, or with a format
//! name as second argument) into the standard `Collector`, and prints the format, the counts,
//! the wall and CPU time, the throughput (per CPU second) and the process's peak RSS. Used by `scripts/lint-bench.sh`
//! to show that lint parsers stream: memory follows the findings kept, not the file size.
//!
//! `cargo run --example lint_parse -- FILE [FORMAT]`
#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::process::ExitCode;
use std::time::Instant;

use codeloop::parsers::{self, Collector, Format, ParseOptions};

/// Peak resident set size in MiB (Linux `VmHWM`), when the platform tells.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// CPU seconds (user + system) this process used so far: on a shared machine the wall time
/// says more about the neighbours than about the parser.
fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return f64::NAN;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: lint_parse FILE [FORMAT]");
        return ExitCode::from(2);
    };
    let hint = match args.get(1) {
        Some(name) => match Format::from_name(name) {
            Some(f) => Some(f),
            None => {
                eprintln!(
                    "unknown format {name:?}; one of: {}",
                    Format::names().join(", ")
                );
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot open {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut c = Collector::default();
    let start = Instant::now();
    let cpu_start = cpu_seconds();
    let result = parsers::parse(file, path, hint, &ParseOptions::default(), &mut c);
    let wall = start.elapsed().as_secs_f64();
    let secs = cpu_seconds() - cpu_start;
    let mb = bytes as f64 / 1e6;
    match &result {
        Ok(p) => print!("{:<20}", p.format.name()),
        Err(e) => print!("error: {e} "),
    }
    println!(
        " {:>8.1} MB  wall {:>6.2} s  cpu {:>6.2} s  {:>7.1} MB/s (cpu)  findings {:>7} (e {} w {} n {})  suite errors {}  peak RSS {:.1} MiB",
        mb,
        wall,
        secs,
        mb / secs.max(1e-9),
        c.findings.len(),
        c.lint.errors,
        c.lint.warnings,
        c.lint.notes,
        c.suite_errors.len(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    if result.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
