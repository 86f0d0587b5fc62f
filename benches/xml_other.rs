//! Throughput of the TRX / NUnit / xUnit.net / Catch2 / checkstyle parsers on one file,
//! next to a bare quick-xml event pass over the same bytes (the floor): run through
//! `scripts/bench-xml-other.sh`, which generates the files and measures peak RSS too.
//!
//! `cargo bench --bench xml_other -- FILE FORMAT [parse|floor]`
//!
//! The parse pass uses the standard [`Collector`] (aggregates only, failures kept), exactly
//! what `codeloop verify` uses, without writing cases.jsonl.
#![allow(clippy::disallowed_macros)] // a measuring tool, not the product: prints with std

use std::fs::File;
use std::io::BufReader;
use std::time::Instant;

use codeloop::parsers::{self, Collector, Format, ParseOptions};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(path), Some(format)) = (args.first(), args.get(1)) else {
        eprintln!("usage: cargo bench --bench xml_other -- FILE FORMAT [parse|floor]");
        std::process::exit(2);
    };
    let mode = args.get(2).map(String::as_str).unwrap_or("parse");
    let Some(format) = Format::from_name(format) else {
        eprintln!(
            "unknown format {format:?}; one of {}",
            Format::names().join(", ")
        );
        std::process::exit(2);
    };
    let bytes = match std::fs::metadata(path) {
        Ok(m) => m.len(),
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let mb = bytes as f64 / 1e6;
    let open = || match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot open {path}: {e}");
            std::process::exit(2);
        }
    };
    let t = Instant::now();
    match mode {
        "floor" => {
            let mut r =
                quick_xml::Reader::from_reader(BufReader::with_capacity(256 * 1024, open()));
            let mut buf = Vec::with_capacity(64 * 1024);
            let mut events = 0u64;
            loop {
                match r.read_event_into(&mut buf) {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => events += 1,
                    Err(e) => {
                        eprintln!("quick-xml stopped: {e}");
                        break;
                    }
                }
                buf.clear();
            }
            let s = t.elapsed().as_secs_f64();
            println!(
                "floor  {format:<10} {mb:8.1} MB {s:7.3} s {:8.1} MB/s  {events} events",
                mb / s,
                format = format.name()
            );
        }
        _ => {
            let mut c = Collector::default();
            let r = parsers::parse(open(), path, Some(format), &ParseOptions::default(), &mut c);
            let s = t.elapsed().as_secs_f64();
            if let Err(e) = r {
                eprintln!("parse error: {e}");
            }
            let n = c.counts;
            println!(
                "parse  {format:<10} {mb:8.1} MB {s:7.3} s {:8.1} MB/s  tests={} passed={} \
                 failed={} errored={} skipped={} findings={} kept={}",
                mb / s,
                n.tests,
                n.passed,
                n.failed,
                n.errored,
                n.skipped,
                c.lint.total(),
                c.problems.len(),
                format = format.name()
            );
        }
    }
}
