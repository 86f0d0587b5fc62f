//! Conformance against tests/corpus/MANIFEST.tsv: every input row with counts must agree
//! with its oracle, or be an explicit, reasoned exception; files the oracle rejects must be
//! rejected. Each group of formats has its own test (and exception table) below or in a
//! sibling module, so a failure names the file, the oracle and every differing number.

#![allow(dead_code)] // used by the per-format conformance modules as they land

use codeloop::model::Counts;
use codeloop::parsers::{self, Collector, ParseOptions};

use crate::common::corpus_dir;

/// One input row of MANIFEST.tsv.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub format: String,
    pub tests: Option<u64>,
    pub passed: Option<u64>,
    pub failures: Option<u64>,
    pub errors: Option<u64>,
    pub skipped: Option<u64>,
    pub count_source: String,
    pub notes: String,
}

impl Row {
    /// dorny/test-reporter's "failed" includes errors.
    pub fn failed_includes_errors(&self) -> bool {
        self.count_source.contains("failed includes errors")
    }
    pub fn must_be_rejected(&self) -> bool {
        self.count_source.contains(".exception")
    }
    pub fn has_counts(&self) -> bool {
        self.tests.is_some()
            || self.passed.is_some()
            || self.failures.is_some()
            || self.errors.is_some()
            || self.skipped.is_some()
    }
}

pub fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(corpus_dir().join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path, role, format) = (col("path"), col("role"), col("format"));
    let (tests, passed, failures, errors, skipped) = (
        col("tests"),
        col("passed"),
        col("failures"),
        col("errors"),
        col("skipped"),
    );
    let (count_source, notes) = (col("count_source"), col("notes"));
    let num = |s: &str| s.trim().parse::<u64>().ok();
    lines
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.get(role) != Some(&"input") {
                return None;
            }
            let g = |i: usize| f.get(i).copied().unwrap_or("");
            Some(Row {
                path: g(path).to_string(),
                format: g(format).to_string(),
                tests: num(g(tests)),
                passed: num(g(passed)),
                failures: num(g(failures)),
                errors: num(g(errors)),
                skipped: num(g(skipped)),
                count_source: g(count_source).to_string(),
                notes: g(notes).to_string(),
            })
        })
        .collect()
}

/// Parses a corpus file with auto-detection.
pub fn parse_row(
    row: &Row,
) -> (
    Collector<'static>,
    Result<parsers::Parsed, parsers::ParseError>,
) {
    let path = corpus_dir().join(&row.path);
    let f = std::fs::File::open(&path).unwrap();
    let mut c = Collector::default();
    let r = parsers::parse(f, &row.path, None, &ParseOptions::default(), &mut c);
    (c, r)
}

/// Differences between our counts and the oracle's, as readable text; empty when they agree.
pub fn diff(row: &Row, n: &Counts) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |what: &str, want: Option<u64>, got: u64| {
        if let Some(w) = want
            && w != got
        {
            d.push(format!("{what}: oracle {w}, ours {got}"));
        }
    };
    cmp("tests", row.tests, n.tests);
    cmp("passed", row.passed, n.passed);
    if row.failed_includes_errors() {
        cmp("failed (incl. errors)", row.failures, n.failed + n.errored);
    } else {
        cmp("failed", row.failures, n.failed);
        cmp("errors", row.errors, n.errored);
    }
    cmp("skipped", row.skipped, n.skipped);
    d
}

/// An input whose oracle we knowingly do not match, and why.
pub struct Exception {
    pub path: &'static str,
    pub reason: &'static str,
    /// The counts we do produce (so the exception still asserts something exact).
    pub ours: Counts,
}

/// Checks every row selected by `select`; returns the list of problems (empty = all good).
pub fn check_rows(select: impl Fn(&Row) -> bool, exceptions: &[Exception]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut checked = 0;
    for row in rows().iter().filter(|r| select(r)) {
        let (c, r) = parse_row(row);
        if let Some(ex) = exceptions.iter().find(|e| e.path == row.path) {
            if c.counts != ex.ours {
                problems.push(format!(
                    "{}: exception ({}) expects our counts {:?}, got {:?}",
                    row.path, ex.reason, ex.ours, c.counts
                ));
            }
            checked += 1;
            continue;
        }
        if row.must_be_rejected() {
            if r.is_ok() && c.counts.tests > 0 {
                problems.push(format!(
                    "{}: the oracle rejects this file, we read {:?}",
                    row.path, c.counts
                ));
            }
            checked += 1;
            continue;
        }
        if !row.has_counts() {
            continue;
        }
        checked += 1;
        let d = diff(row, &c.counts);
        if let Err(e) = &r {
            problems.push(format!(
                "{}: parse error: {e} (counts so far {:?})",
                row.path, c.counts
            ));
        } else if !d.is_empty() {
            problems.push(format!(
                "{} [{}]: {}",
                row.path,
                row.count_source,
                d.join("; ")
            ));
        }
    }
    assert!(checked > 0, "the selection matched no corpus rows");
    problems
}

#[test]
fn manifest_is_readable_and_has_inputs() {
    let rows = rows();
    assert!(rows.len() > 200, "only {} input rows", rows.len());
    assert!(rows.iter().filter(|r| r.has_counts()).count() > 150);
}

/// Every file MANIFEST.tsv names (inputs, docs, auxiliary files) is in the corpus with the
/// size the manifest records: nothing was lost trimming it, and gzipped files come back whole.
#[test]
fn every_manifest_file_is_present_with_its_recorded_size() {
    let dir = corpus_dir();
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (path, bytes) = (col("path"), col("bytes"));
    let mut problems = Vec::new();
    let mut n = 0;
    for l in lines {
        let f: Vec<&str> = l.split('\t').collect();
        n += 1;
        let want: u64 = f[bytes].parse().unwrap();
        match std::fs::metadata(dir.join(f[path])) {
            Ok(m) if m.len() == want => {}
            Ok(m) => problems.push(format!("{}: {} bytes, manifest {want}", f[path], m.len())),
            Err(e) => problems.push(format!("{}: {e}", f[path])),
        }
    }
    assert!(n > 250, "only {n} manifest rows");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The checked-in corpus stays small (the repository must stay cheap to clone): big files
/// are gzipped (tests/corpus/README.md), and the whole stays under a budget.
#[test]
fn the_checked_in_corpus_stays_small() {
    fn walk(d: &std::path::Path, out: &mut Vec<(std::path::PathBuf, u64)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), out);
            } else {
                out.push((e.path(), e.metadata().unwrap().len()));
            }
        }
    }
    let mut files = Vec::new();
    walk(&crate::common::corpus_src(), &mut files);
    let plain_big: Vec<_> = files
        .iter()
        .filter(|(p, len)| *len > 256 * 1024 && p.extension().is_none_or(|e| e != "gz"))
        .collect();
    assert!(
        plain_big.is_empty(),
        "files over 256 KiB must be stored gzipped (gzip -9n): {plain_big:?}"
    );
    let total: u64 = files.iter().map(|(_, len)| len).sum();
    assert!(
        total < 8 << 20,
        "tests/corpus holds {total} bytes: over the 8 MiB budget"
    );
}
