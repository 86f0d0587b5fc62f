//! Redaction benchmark: what secret redaction costs on big runs.
//!
//! - `log`: a generated ~100 MB runner log (cargo/pytest-like lines, one in 1,000 holding a
//!   secret) streamed through `redact::fs::redact_stream`, against a memcpy of the same
//!   bytes and the read-only scan (`Redactor::is_match` per chunk, what a clean log costs),
//!   with 3 and with 100 secrets;
//! - `jsonl`: 1,000,000 cases written to cases.jsonl by `JsonlWriter` with no secret known
//!   (serialized straight into the buffer) and with 3 secrets (serialized, scanned, written):
//!   in CI a token is always in the environment, so this is the cost every run pays.
//!
//! CPU time (user + system, `getrusage`) is reported next to wall time, because the machine
//! these run on is shared. Medians of RUNS (default 3).
//!
//! ```text
//! cargo bench --bench redact -- [RUNS]
//! ```
#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::io;
use std::time::Instant;

use codeloop::artifact::events::JsonlWriter;
use codeloop::model::{Case, Failure, Status};
use codeloop::redact::{self, Redactor};

fn cpu_secs() -> f64 {
    // SAFETY: getrusage fills the struct we pass; no other memory is touched.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

fn measure(f: &mut dyn FnMut()) -> (f64, f64) {
    let (c0, w0) = (cpu_secs(), Instant::now());
    f();
    (cpu_secs() - c0, w0.elapsed().as_secs_f64())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn secrets(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("ghs_{i:04}secretvalue{i:08x}"))
        .collect()
}

/// ~100 MB of log lines; every 1,000th line holds the first secret.
fn make_log() -> Vec<u8> {
    let lines = [
        "   Compiling serde_json v1.0.140 (registry+https://github.com/rust-lang/crates.io-index)\n",
        "test parsers::junit::tests::nested_suites_keep_their_path ... ok\n",
        "tests/test_api.py::test_login[user-admin] PASSED                                  [ 42%]\n",
        "    at Object.<anonymous> (/home/runner/work/app/app/src/api/client.test.ts:118:23)\n",
    ];
    let secret = &secrets(1)[0];
    let mut out = Vec::with_capacity(105_000_000);
    let mut i = 0usize;
    while out.len() < 100_000_000 {
        if i % 1000 == 999 {
            out.extend_from_slice(format!("Authorization: Bearer {secret}\n").as_bytes());
        } else {
            out.extend_from_slice(lines[i % lines.len()].as_bytes());
        }
        i += 1;
    }
    out
}

fn case(i: usize) -> Case {
    let failed = i.is_multiple_of(100);
    Case {
        runner: "pytest".into(),
        suite: vec![format!("tests.test_module_{}", i / 1000)],
        name: format!("test_case_number_{i}[param-{}]", i % 7),
        classname: Some(format!("tests.test_module_{}.TestThing", i / 1000)),
        file: Some(format!("tests/test_module_{}.py", i / 1000)),
        line: Some((i % 500) as u32 + 1),
        status: if failed {
            Status::Failed
        } else {
            Status::Passed
        },
        duration: Some((i % 1000) as f64 / 1000.0),
        failure: failed.then(|| Failure {
            kind: Some("AssertionError".into()),
            message: Some(format!("expected 200, got {}", 400 + i % 100)),
            trace: Some(format!(
                "tests/test_module_{}.py:{}: in test\n    assert r.status == 200\nE   AssertionError",
                i / 1000,
                i % 500 + 1
            )),
        }),
        ..Default::default()
    }
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3);
    let log = make_log();
    let mb = log.len() as f64 / 1e6;
    println!("log: {mb:.1} MB; {runs} runs each; medians of CPU s (wall s)");
    let report = |what: &str, m: Vec<(f64, f64)>, bytes: Option<f64>| {
        let cpu = median(m.iter().map(|x| x.0).collect());
        let wall = median(m.iter().map(|x| x.1).collect());
        match bytes {
            Some(mb) => println!(
                "  {what:<44} {cpu:>7.3} ({wall:.3})  {:>6.0} MB/s CPU",
                mb / cpu.max(1e-9)
            ),
            None => println!("  {what:<44} {cpu:>7.3} ({wall:.3})"),
        }
    };

    let mut copy = Vec::new();
    let mut buf = Vec::with_capacity(64 * 1024);
    for _ in 0..runs {
        copy.push(measure(&mut || {
            // The floor: what any pass that touches every byte costs (memcpy per chunk).
            let mut n = 0;
            for c in log.chunks(64 * 1024) {
                buf.clear();
                buf.extend_from_slice(std::hint::black_box(c));
                n += std::hint::black_box(&buf).len();
            }
            assert_eq!(n, log.len());
        }));
    }
    report("log: memcpy (64 KiB chunks, the floor)", copy, Some(mb));
    for n in [3, 100] {
        let r = Redactor::with_values(secrets(n));
        let mut scan = Vec::new();
        let mut redacted = Vec::new();
        for _ in 0..runs {
            scan.push(measure(&mut || {
                // What file_has_secret does on a clean log: one is_match per chunk.
                let mut hits = 0;
                for c in log.chunks(64 * 1024) {
                    hits += usize::from(r.is_match(c));
                }
                std::hint::black_box(hits);
            }));
            redacted.push(measure(&mut || {
                let mut out = io::sink();
                let any = redact::fs::redact_stream(&r, &mut &log[..], &mut out).unwrap();
                assert!(any);
            }));
        }
        report(&format!("log: scan only, {n} secrets"), scan, Some(mb));
        report(
            &format!("log: redact_stream, {n} secrets"),
            redacted,
            Some(mb),
        );
    }

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("cases.jsonl");
    for (what, r) in [
        (
            "jsonl: 1,000,000 cases, no secret known",
            Redactor::default(),
        ),
        (
            "jsonl: 1,000,000 cases, 3 secrets",
            Redactor::with_values(secrets(3)),
        ),
    ] {
        redact::install(r);
        let mut m = Vec::new();
        for _ in 0..runs {
            m.push(measure(&mut || {
                let mut w = JsonlWriter::create(&path).unwrap();
                for i in 0..1_000_000 {
                    w.write(&case(i));
                }
                w.flush();
                assert!(w.error.is_none());
            }));
        }
        report(what, m, None);
    }
}
