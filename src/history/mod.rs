//! History across runs (pure): the compact file kept on the data branch (`codeloop-data` by
//! default) or built from local run directories, and what is read out of it — the base
//! branch's baseline, flaky tests across runs, and duration regressions. No I/O and no clock:
//! the forge I/O lives in `publish::data_branch` / `publish::gitlab`, the local reading in
//! `commands::history`.
//!
//! # The file: `history.json.gz`
//!
//! Gzip-compressed JSON (`schemas/history.schema.json`, docs/history.md):
//!
//! - `runs`: the last `max_runs` runs of the branch, oldest first (id, commit, verdict,
//!   score, counts);
//! - the tests, sorted by id (`Case::key()`), as three columns (version 2; version 1 had
//!   rows `[id, statuses, durations]`, still read):
//!   - `ids`: front-coded, `shared:len:suffix;` per test — the id is the previous id's first
//!     `shared` bytes followed by the `len` bytes of `suffix`;
//!   - `statuses`: per test one letter per run (`P` passed, `K` passed after retries, `F`
//!     failed, `E` errored, `S` skipped, `-` absent), run-length encoded (`P48F2`), aligned
//!     with `runs`; tests separated by `,`;
//!   - `durations`: per test up to [`DURATION_WINDOW`] codes of the newest *passing* runs,
//!     one base64url letter each on a log scale (`q = round(ln(ms + 1) / ln 1.25)`, ±12 %);
//!     tests separated by `,`.
//!
//! Sorted, front-coded ids are short, a steady test's statuses are three letters and
//! columns of alike values compress well, so the file stays small and quick to read
//! (`benches/history.rs` measures 100,000 tests × 50 runs).
//! [`encode_capped`] enforces [`MAX_BYTES`] by dropping the oldest runs.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::gate::{Baseline, key_hash};
use crate::model::{Counts, Status, Verdict};

pub mod render;

/// The history file's `schema_version` this build writes (it reads 1 and 2): 2 stores the
/// tests as three columns with front-coded ids, 1 as rows of `[id, statuses, durations]`.
pub const SCHEMA_VERSION: u32 = 2;
/// The `schema_version` of `<run>/history.json` ([`Insights`]), versioned on its own.
pub const INSIGHTS_SCHEMA_VERSION: u32 = 1;
/// The file on the data branch.
pub const FILE: &str = "history.json.gz";
/// The shields.io endpoint file on the data branch.
pub const SHIELDS_FILE: &str = "badge.json";
/// The default data branch.
pub const DEFAULT_BRANCH: &str = "codeloop-data";
/// Runs kept by default.
pub const DEFAULT_MAX_RUNS: usize = 50;
/// The stated cap of `history.json.gz`: 1 MiB (the GitHub contents API serves files up to
/// 1 MB inline; the benchmark's 100,000 tests × 50 runs measure well under it).
pub const MAX_BYTES: usize = 1 << 20;
/// Passing durations kept per test (the median is over them).
pub const DURATION_WINDOW: usize = 5;
/// The run-dir file with what the history says about one run (written by gate-check).
pub const INSIGHTS_FILE: &str = "history.json";

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Why a history file cannot be used. Every one of them degrades to "no history".
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum HistoryFormatError {
    #[error("not gzip-compressed history ({0})")]
    Gzip(String),
    #[error("not a codeloop history file ({0})")]
    Json(String),
    #[error(
        "written with history schema_version {found}, newer than this codeloop reads ({SCHEMA_VERSION}); upgrade codeloop"
    )]
    NewerSchema { found: u32 },
    #[error("test `{id}`: {message}")]
    Row { id: String, message: String },
}

/// One run of the branch.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct RunEntry {
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default)]
    pub counts: Counts,
}

/// `[id, statuses (RLE), durations]`. Borrowed from the decompressed buffer when reading.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TestRow<'a>(
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
    #[serde(borrow)] pub Cow<'a, str>,
);

/// The whole history file, as read (any version) or to be written ([`encode`]).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryDoc<'a> {
    /// The version it was read with ([`encode`] writes [`SCHEMA_VERSION`]'s layout).
    pub schema_version: u32,
    /// The branch these runs are of (the repository's default branch).
    pub branch: String,
    pub max_runs: usize,
    /// Oldest first.
    pub runs: Vec<RunEntry>,
    /// Sorted by id.
    pub tests: Vec<TestRow<'a>>,
}

impl HistoryDoc<'_> {
    /// The same history, no longer borrowing the buffer it was parsed from.
    pub fn into_owned(self) -> HistoryDoc<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        HistoryDoc {
            schema_version: self.schema_version,
            branch: self.branch,
            max_runs: self.max_runs,
            runs: self.runs,
            tests: self
                .tests
                .into_iter()
                .map(|r| TestRow(own(r.0), own(r.1), own(r.2)))
                .collect(),
        }
    }

    pub fn empty(branch: &str, max_runs: usize) -> HistoryDoc<'static> {
        HistoryDoc {
            schema_version: SCHEMA_VERSION,
            branch: branch.to_string(),
            max_runs,
            runs: Vec::new(),
            tests: Vec::new(),
        }
    }
}

/// One test of the run being added.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub key: String,
    pub status: Status,
    pub flaky: bool,
    /// Seconds.
    pub duration: Option<f64>,
}

/// The status letter of one run of a test.
pub fn status_letter(status: Status, flaky: bool) -> u8 {
    match status {
        Status::Passed if flaky => b'K',
        Status::Passed => b'P',
        Status::Failed => b'F',
        Status::Errored => b'E',
        Status::Skipped => b'S',
    }
}

fn is_fail(s: u8) -> bool {
    s == b'F' || s == b'E'
}

fn is_pass(s: u8) -> bool {
    s == b'P' || s == b'K'
}

/// Run-length encodes status letters: `PPPF` → `P3F`.
pub fn rle_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(8);
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        let mut j = i + 1;
        while j < s.len() && s[j] == c {
            j += 1;
        }
        out.push(c as char);
        if j - i > 1 {
            out.push_str(&(j - i).to_string());
        }
        i = j;
    }
    out
}

/// Decodes [`rle_encode`]'s form; `None` on a letter outside the alphabet or a bad count.
pub fn rle_decode(s: &str, into: &mut Vec<u8>) -> Option<()> {
    into.clear();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if !matches!(c, b'P' | b'K' | b'F' | b'E' | b'S' | b'-') {
            return None;
        }
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let n: usize = if start == i {
            1
        } else {
            s[start..i]
                .parse()
                .ok()
                .filter(|n| *n > 0 && *n <= 100_000)?
        };
        into.extend(std::iter::repeat_n(c, n));
    }
    Some(())
}

/// A duration's one-letter code (log scale, base 1.25).
pub fn duration_code(secs: f64) -> u8 {
    let ms = (secs * 1000.0).max(0.0);
    let q = ((ms + 1.0).ln() / 1.25f64.ln()).round();
    B64URL[q.clamp(0.0, 63.0) as usize]
}

/// Each byte's position in [`B64URL`], 255 for bytes outside it.
const B64URL_INDEX: [u8; 256] = {
    let mut t = [255u8; 256];
    let mut i = 0;
    while i < 64 {
        t[B64URL[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Milliseconds each code stands for: `1.25^q - 1`.
static CODE_MS: std::sync::LazyLock<[f64; 64]> =
    std::sync::LazyLock::new(|| std::array::from_fn(|q| 1.25f64.powi(q as i32) - 1.0));

/// Milliseconds a code stands for (the middle of its bucket).
pub fn duration_ms(code: u8) -> Option<f64> {
    let q = B64URL_INDEX[usize::from(code)];
    (q < 64).then(|| CODE_MS[usize::from(q)])
}

/// Median in milliseconds of a durations string; `None` when it has fewer than `min` codes.
/// No allocation: it runs once per passing test of a PR.
pub fn median_ms(codes: &str, min: usize) -> Option<f64> {
    let mut v = [0f64; 16];
    let mut n = 0;
    for ms in codes.bytes().filter_map(duration_ms) {
        if n == v.len() {
            break;
        }
        v[n] = ms;
        n += 1;
    }
    if n < min.max(1) {
        return None;
    }
    let v = &mut v[..n];
    v.sort_by(f64::total_cmp);
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The newest run's letter of an RLE statuses string (its last letter), without decoding.
pub fn last_status(rle: &str) -> Option<u8> {
    rle.bytes().rev().find(|b| !b.is_ascii_digit())
}

/// What a history file holds, in any version this build reads. Version 1 has `tests`
/// (rows of three strings); version 2 has the three columns `ids`, `statuses`, `durations`.
#[derive(Deserialize)]
struct Wire<'a> {
    schema_version: u32,
    branch: String,
    max_runs: usize,
    runs: Vec<RunEntry>,
    #[serde(default, borrow)]
    tests: Option<Vec<TestRow<'a>>>,
    #[serde(default, borrow)]
    ids: Option<Text<'a>>,
    #[serde(default, borrow)]
    statuses: Option<Text<'a>>,
    #[serde(default, borrow)]
    durations: Option<Text<'a>>,
}

/// A string borrowed from the JSON when it has no escapes (serde does not borrow through
/// `Option<Cow>` by itself).
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// What version 2 writes.
#[derive(Serialize)]
struct WireOut<'d> {
    schema_version: u32,
    branch: &'d str,
    max_runs: usize,
    runs: &'d [RunEntry],
    ids: String,
    statuses: String,
    durations: String,
}

/// Parses a history file. The result borrows `json`, which must hold the decompressed
/// JSON: call [`gunzip`] first. Reads versions 1 and 2.
pub fn parse(json: &[u8]) -> Result<HistoryDoc<'_>, HistoryFormatError> {
    #[derive(Deserialize)]
    struct Probe {
        schema_version: u32,
    }
    let wire: Result<Wire<'_>, _> = serde_json::from_slice(json);
    let version = |e: serde_json::Error| match serde_json::from_slice::<Probe>(json) {
        Ok(p) if p.schema_version > SCHEMA_VERSION => HistoryFormatError::NewerSchema {
            found: p.schema_version,
        },
        _ => HistoryFormatError::Json(e.to_string()),
    };
    let w = wire.map_err(version)?;
    if w.schema_version > SCHEMA_VERSION {
        return Err(HistoryFormatError::NewerSchema {
            found: w.schema_version,
        });
    }
    let tests = match (w.schema_version, w.tests, w.ids, w.statuses, w.durations) {
        (0 | 1, Some(tests), ..) => tests,
        (2, _, Some(ids), Some(statuses), Some(durations)) => {
            columns(ids.0, statuses.0, durations.0)?
        }
        (v, ..) => {
            let what = if v < 2 {
                "`tests`"
            } else {
                "`ids`, `statuses` and `durations`"
            };
            return Err(HistoryFormatError::Json(format!(
                "schema_version {v} needs {what}"
            )));
        }
    };
    Ok(HistoryDoc {
        schema_version: w.schema_version,
        branch: w.branch,
        max_runs: w.max_runs,
        runs: w.runs,
        tests,
    })
}

/// One column of version 2 (`,`-separated), borrowed when the JSON string was.
fn column<'a>(text: Cow<'a, str>) -> Box<dyn Iterator<Item = Cow<'a, str>> + 'a> {
    match text {
        Cow::Borrowed(s) => Box::new(s.split(',').map(Cow::Borrowed)),
        Cow::Owned(s) => {
            let v: Vec<Cow<'a, str>> = s.split(',').map(|p| Cow::Owned(p.to_string())).collect();
            Box::new(v.into_iter())
        }
    }
}

/// Version 2's rows from its columns: `ids` front-coded, `shared:len:suffix;` per test (the
/// id is the previous id's first `shared` bytes and the next `len` bytes), `statuses` and
/// `durations` one entry per test separated by `,`.
fn columns<'a>(
    ids: Cow<'a, str>,
    statuses: Cow<'a, str>,
    durations: Cow<'a, str>,
) -> Result<Vec<TestRow<'a>>, HistoryFormatError> {
    let bad = |what: &str| HistoryFormatError::Json(format!("`ids`: {what}"));
    let empty = ids.is_empty();
    if empty != statuses.is_empty() || empty != durations.is_empty() {
        return Err(HistoryFormatError::Json(
            "`ids`, `statuses` and `durations` do not hold the same tests".into(),
        ));
    }
    // A steady test's statuses are 3 bytes and its durations 6: a bound, not a count.
    let mut rows = Vec::with_capacity(statuses.len() / 4 + 1);
    if empty {
        return Ok(rows);
    }
    let mut st = column(statuses);
    let mut du = column(durations);
    let s = ids.as_ref();
    let b = s.as_bytes();
    let mut cur = String::new();
    let mut pos = 0;
    while pos < b.len() {
        let (shared, p) = number(b, pos, b':').ok_or_else(|| bad("a bad prefix length"))?;
        let (len, p) = number(b, p, b':').ok_or_else(|| bad("a bad suffix length"))?;
        let end = p
            .checked_add(len)
            .ok_or_else(|| bad("a bad suffix length"))?;
        let suffix = s
            .get(p..end)
            .filter(|_| b.get(end) == Some(&b';'))
            .ok_or_else(|| bad("a suffix runs past its `;`"))?;
        if shared > cur.len() || !cur.is_char_boundary(shared) {
            return Err(bad("a prefix longer than the previous id"));
        }
        cur.truncate(shared);
        cur.push_str(suffix);
        let (Some(sts), Some(durs)) = (st.next(), du.next()) else {
            return Err(HistoryFormatError::Json(
                "`statuses` or `durations` has fewer tests than `ids`".into(),
            ));
        };
        rows.push(TestRow(Cow::Owned(cur.clone()), sts, durs));
        pos = end + 1;
    }
    if st.next().is_some() || du.next().is_some() {
        return Err(HistoryFormatError::Json(
            "`statuses` or `durations` has more tests than `ids`".into(),
        ));
    }
    Ok(rows)
}

/// A decimal number at `b[pos..]` ended by `end`: the number and where after `end`.
fn number(b: &[u8], mut pos: usize, end: u8) -> Option<(usize, usize)> {
    let start = pos;
    let mut n: usize = 0;
    while let Some(d) = b.get(pos).filter(|c| c.is_ascii_digit()) {
        n = n.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
        pos += 1;
    }
    (pos > start && pos - start <= 9 && b.get(pos) == Some(&end)).then_some((n, pos + 1))
}

/// Version 2's columns of `tests` (see [`columns`]).
fn to_columns(tests: &[TestRow<'_>]) -> (String, String, String) {
    let id_bytes: usize = tests.iter().map(|r| r.0.len()).sum();
    let mut ids = String::with_capacity(id_bytes / 4 + tests.len() * 8);
    let mut statuses = String::with_capacity(tests.len() * 4);
    let mut durations = String::with_capacity(tests.len() * (DURATION_WINDOW + 1));
    let mut prev: &str = "";
    for (i, r) in tests.iter().enumerate() {
        let id: &str = &r.0;
        let mut shared = prev
            .bytes()
            .zip(id.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !id.is_char_boundary(shared) {
            shared -= 1;
        }
        let suffix = &id[shared..];
        use std::fmt::Write as _;
        let _ = write!(ids, "{shared}:{}:{suffix};", suffix.len());
        if i > 0 {
            statuses.push(',');
            durations.push(',');
        }
        statuses.push_str(&r.1);
        durations.push_str(&r.2);
        prev = id;
    }
    (ids, statuses, durations)
}

/// Gunzips a history file (bounded: 256 MiB of JSON at most).
pub fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, HistoryFormatError> {
    let mut out = Vec::with_capacity(bytes.len() * 8);
    flate2::read::GzDecoder::new(bytes)
        .take(256 << 20)
        .read_to_end(&mut out)
        .map_err(|e| HistoryFormatError::Gzip(e.to_string()))?;
    Ok(out)
}

/// Serializes and compresses.
/// Always in this build's layout (version 2), whatever version `doc` was read from.
pub fn encode(doc: &HistoryDoc<'_>) -> Vec<u8> {
    let (ids, statuses, durations) = to_columns(&doc.tests);
    let wire = WireOut {
        schema_version: doc.schema_version.max(SCHEMA_VERSION),
        branch: &doc.branch,
        max_runs: doc.max_runs,
        runs: &doc.runs,
        ids,
        statuses,
        durations,
    };
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = gz.write_all(&json);
    gz.finish().unwrap_or_default()
}

/// [`encode`] within `cap` bytes: the oldest runs are dropped until it fits (at least one run
/// stays). Returns the bytes and how many runs were dropped; `None` when even one run does
/// not fit.
pub fn encode_capped(doc: &HistoryDoc<'_>, cap: usize) -> Option<(Vec<u8>, usize)> {
    let mut bytes = encode(doc);
    if bytes.len() <= cap {
        return Some((bytes, 0));
    }
    let mut keep = doc.runs.len();
    while keep > 1 {
        // Shrink in proportion to the overshoot, at least one run at a time.
        let ratio = cap as f64 / bytes.len() as f64;
        let next = ((keep as f64 * ratio * 0.95) as usize).clamp(1, keep - 1);
        keep = next;
        let trimmed = trim_runs(doc, keep);
        bytes = encode(&trimmed);
        if bytes.len() <= cap {
            return Some((bytes, doc.runs.len() - keep));
        }
    }
    None
}

/// The same history with only the newest `keep` runs (tests absent from all of them dropped).
pub fn trim_runs(doc: &HistoryDoc<'_>, keep: usize) -> HistoryDoc<'static> {
    let drop = doc.runs.len().saturating_sub(keep);
    let mut buf = Vec::new();
    let tests = doc
        .tests
        .iter()
        .filter_map(|r| {
            rle_decode(&r.1, &mut buf)?;
            let rest = buf.get(drop..)?;
            rest.iter().any(|s| *s != b'-').then(|| {
                TestRow(
                    Cow::Owned(r.0.to_string()),
                    Cow::Owned(rle_encode(rest)),
                    Cow::Owned(r.2.to_string()),
                )
            })
        })
        .collect();
    HistoryDoc {
        schema_version: SCHEMA_VERSION,
        branch: doc.branch.clone(),
        max_runs: doc.max_runs,
        runs: doc.runs[drop..].to_vec(),
        tests,
    }
}

/// Adds one run to a history (or starts one): every known test gets this run's letter (`-`
/// when absent), new tests get `-` for the runs before, and only the newest `max_runs` runs
/// are kept. Rows that cannot be decoded are dropped (they are re-learnt from new runs).
pub fn append(
    prev: Option<&HistoryDoc<'_>>,
    branch: &str,
    max_runs: usize,
    run: RunEntry,
    cases: impl IntoIterator<Item = Observation>,
) -> HistoryDoc<'static> {
    let max_runs = max_runs.max(1);
    let prev_runs = prev.map(|d| d.runs.len()).unwrap_or(0);
    // Runs kept from the previous history (the new one takes a slot).
    let keep_prev = prev_runs.min(max_runs - 1);
    let drop = prev_runs - keep_prev;
    let mut rows: BTreeMap<String, (Vec<u8>, String)> = BTreeMap::new();
    if let Some(p) = prev {
        let mut buf = Vec::new();
        for r in &p.tests {
            if rle_decode(&r.1, &mut buf).is_none() || buf.len() != prev_runs {
                continue;
            }
            let statuses = buf[drop..].to_vec();
            rows.insert(r.0.to_string(), (statuses, r.2.to_string()));
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for c in cases {
        // A test reported twice in one run (two runners, parametrized duplicates): the worst
        // status wins, so a failure is never hidden by a pass.
        let letter = status_letter(c.status, c.flaky);
        let entry = rows
            .entry(c.key.clone())
            .or_insert_with(|| (vec![b'-'; keep_prev], String::new()));
        if seen.contains(&c.key) {
            if let Some(last) = entry.0.last_mut()
                && rank(letter) > rank(*last)
            {
                *last = letter;
            }
            continue;
        }
        entry.0.push(letter);
        if is_pass(letter)
            && let Some(d) = c.duration.filter(|d| d.is_finite())
        {
            entry.1.push(duration_code(d) as char);
            if entry.1.len() > DURATION_WINDOW {
                entry.1.drain(..entry.1.len() - DURATION_WINDOW);
            }
        }
        seen.insert(c.key);
    }
    let tests = rows
        .into_iter()
        .filter_map(|(id, (mut statuses, durations))| {
            if statuses.len() == keep_prev {
                statuses.push(b'-');
            }
            statuses.iter().any(|s| *s != b'-').then(|| {
                TestRow(
                    Cow::Owned(id),
                    Cow::Owned(rle_encode(&statuses)),
                    durations.into(),
                )
            })
        })
        .collect();
    let mut runs: Vec<RunEntry> = prev.map(|p| p.runs[drop..].to_vec()).unwrap_or_default();
    runs.push(run);
    HistoryDoc {
        schema_version: SCHEMA_VERSION,
        branch: branch.to_string(),
        max_runs,
        runs,
        tests,
    }
}

fn rank(s: u8) -> u8 {
    match s {
        b'E' => 5,
        b'F' => 4,
        b'K' => 3,
        b'P' => 2,
        b'S' => 1,
        _ => 0,
    }
}

/// The documented thresholds of the analysis (docs/history.md).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Thresholds {
    /// A test is flaky when its pass/fail status flipped at least this often over the kept
    /// runs (a break and its fix are two flips, so the default 3 needs a second break), or
    /// when one run passed it only after retries, or one commit saw it both pass and fail.
    pub flaky_min_flips: u32,
    /// A passing test is slower when it took at least `slower_factor` × its median ...
    pub slower_factor: f64,
    /// ... and at least this many milliseconds more ...
    pub slower_min_ms: f64,
    /// ... over at least this many earlier passing durations.
    pub slower_min_samples: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            flaky_min_flips: 3,
            slower_factor: 2.0,
            slower_min_ms: 500.0,
            slower_min_samples: 3,
        }
    }
}

/// What one test's statuses say about flakiness.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Flips {
    /// Pass↔fail changes between consecutive runs where it ran.
    pub flips: u32,
    /// Runs where it passed or failed.
    pub observed: u32,
    /// Runs where it passed only after retries.
    pub retried: u32,
    /// Some commit saw it both pass and fail.
    pub same_commit: bool,
}

impl Flips {
    /// flips ÷ (observed − 1), 0 with fewer than two observations.
    pub fn rate(&self) -> f64 {
        if self.observed < 2 {
            0.0
        } else {
            f64::from(self.flips) / f64::from(self.observed - 1)
        }
    }

    pub fn is_flaky(&self, t: &Thresholds) -> bool {
        self.flips >= t.flaky_min_flips || self.retried > 0 || self.same_commit
    }
}

/// Counts flips over a test's decoded statuses (`shas[i]` is run i's commit).
pub fn flips(statuses: &[u8], shas: &[Option<&str>]) -> Flips {
    let mut f = Flips::default();
    let mut last: Option<bool> = None;
    let mut by_sha: HashMap<&str, (bool, bool)> = HashMap::new();
    for (i, s) in statuses.iter().enumerate() {
        let ok = if is_pass(*s) {
            true
        } else if is_fail(*s) {
            false
        } else {
            continue;
        };
        if *s == b'K' {
            f.retried += 1;
        }
        f.observed += 1;
        if last.is_some_and(|l| l != ok) {
            f.flips += 1;
        }
        last = Some(ok);
        if let Some(Some(sha)) = shas.get(i) {
            let e = by_sha.entry(sha).or_default();
            if ok {
                e.0 = true;
            } else {
                e.1 = true;
            }
            if e.0 && e.1 {
                f.same_commit = true;
            }
        }
    }
    f
}

/// A flaky test as reports show it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FlakyTest {
    pub id: String,
    pub flips: u32,
    pub observed: u32,
    /// flips ÷ (observed − 1), 0–1.
    pub flip_rate: f64,
    /// Failed in the run being looked at.
    pub failing_now: bool,
    /// Its failure here does not count for the gate (`quarantine`).
    pub quarantined: bool,
}

/// A test much slower than its recent median.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SlowTest {
    pub id: String,
    pub ms: f64,
    pub median_ms: f64,
    pub ratio: f64,
}

/// What the history says about one run (`<run>/history.json`, written by gate-check).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Insights {
    pub schema_version: u32,
    /// The branch the history is of (the PR's base).
    pub base_branch: String,
    /// Runs in the history.
    pub history_runs: usize,
    /// The newest run of the base branch, the baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_sha: Option<String>,
    /// Failing here, not failing in the base's newest run (first [`Insights::MAX_LISTED`]).
    pub new_failures: Vec<String>,
    pub new_failures_total: usize,
    /// Failing here and in the base's newest run.
    pub already_failing: Vec<String>,
    pub already_failing_total: usize,
    /// Flaky in the base's history, most flips first.
    pub flaky: Vec<FlakyTest>,
    pub flaky_total: usize,
    /// Failing here, flaky in history, and quarantined (not counted by the gate).
    pub quarantined: Vec<String>,
    /// Slower than their median, slowest ratio first.
    pub slower: Vec<SlowTest>,
    pub slower_total: usize,
    pub thresholds: Thresholds,
}

impl Insights {
    pub const MAX_LISTED: usize = 50;
}

/// A history indexed by test id, for lookups from a run's cases. The map hashes with
/// foldhash (seeded per process): a PR looks up each of its cases, and SipHash over 100,000
/// long ids was a good part of what reading the history cost.
pub struct Index<'d, 'a> {
    pub doc: &'d HistoryDoc<'a>,
    by_id: HashMap<&'d str, Entry, foldhash::fast::RandomState>,
}

/// A row of the index, with its durations' median worked out while the rows are read in
/// order: a PR's lookups then touch the map and the id, not the row and its durations.
#[derive(Clone, Copy)]
struct Entry {
    row: u32,
    /// Durations the median is over.
    samples: u32,
    median_ms: f64,
}

impl<'d, 'a> Index<'d, 'a> {
    pub fn new(doc: &'d HistoryDoc<'a>) -> Index<'d, 'a> {
        let mut by_id = HashMap::with_capacity_and_hasher(doc.tests.len(), Default::default());
        by_id.extend(doc.tests.iter().zip(0u32..).map(|(r, row)| {
            let samples = r.2.bytes().filter_map(duration_ms).count().min(16) as u32;
            let median_ms = median_ms(&r.2, 1).unwrap_or(0.0);
            let e = Entry {
                row,
                samples,
                median_ms,
            };
            (r.0.as_ref(), e)
        }));
        Index { doc, by_id }
    }

    pub fn row(&self, id: &str) -> Option<&'d TestRow<'a>> {
        self.by_id.get(id).map(|e| &self.doc.tests[e.row as usize])
    }

    /// The newest run's failing tests (the baseline's `failing`, without hashing every id).
    pub fn failing(&self) -> BTreeSet<String> {
        if self.doc.runs.is_empty() {
            return BTreeSet::new();
        }
        self.doc
            .tests
            .iter()
            .filter(|r| last_status(&r.1).is_some_and(is_fail))
            .map(|r| r.0.to_string())
            .collect()
    }

    /// The base baseline: the newest run's failing tests and its test set.
    pub fn baseline(&self) -> Option<Baseline> {
        let last = self.doc.runs.last()?;
        let mut failing = BTreeSet::new();
        let mut tests =
            crate::gate::KeySet::with_capacity_and_hasher(self.doc.tests.len(), Default::default());
        for r in &self.doc.tests {
            match last_status(&r.1) {
                Some(b'-') | None => {}
                Some(s) => {
                    tests.insert(key_hash(&r.0));
                    if is_fail(s) {
                        failing.insert(r.0.to_string());
                    }
                }
            }
        }
        Some(Baseline {
            run_id: Some(format!("{} ({})", last.run_id, self.doc.branch)),
            score: last.score,
            failing,
            tests: Some(tests),
            counts: Some(last.counts),
            cut: None,
        })
    }

    /// Every flaky test of the history with its flips, most flips first.
    pub fn flaky(&self, t: &Thresholds) -> Vec<(String, Flips)> {
        let mut shas: Vec<Option<&str>> = self.doc.runs.iter().map(|r| r.sha.as_deref()).collect();
        // Same-commit checks only matter when a commit ran twice; without that, no per-test
        // map is built at all.
        let distinct: HashSet<&str> = shas.iter().flatten().copied().collect();
        if distinct.len() == shas.iter().flatten().count() {
            shas.clear();
        }
        let mut buf = Vec::new();
        let mut out: Vec<(String, Flips)> = self
            .doc
            .tests
            .iter()
            .filter_map(|r| {
                // Most tests have one status throughout (`P50`): no flip, no decoding.
                if let [first, rest @ ..] = r.1.as_bytes()
                    && *first != b'K'
                    && t.flaky_min_flips > 0
                    && rest.iter().all(u8::is_ascii_digit)
                {
                    return None;
                }
                rle_decode(&r.1, &mut buf)?;
                let f = flips(&buf, &shas);
                f.is_flaky(t).then(|| (r.0.to_string(), f))
            })
            .collect();
        out.sort_by(|a, b| {
            b.1.rate()
                .total_cmp(&a.1.rate())
                .then(b.1.flips.cmp(&a.1.flips))
                .then(a.0.cmp(&b.0))
        });
        out
    }

    /// A passing test's duration against its median: `Some` when it is a regression.
    pub fn slower(&self, id: &str, secs: f64, t: &Thresholds) -> Option<SlowTest> {
        let e = self.by_id.get(id)?;
        if e.samples == 0 || (e.samples as usize) < t.slower_min_samples {
            return None;
        }
        let median = e.median_ms;
        let ms = secs * 1000.0;
        (ms >= median * t.slower_factor && ms - median >= t.slower_min_ms).then(|| SlowTest {
            id: id.to_string(),
            ms,
            median_ms: median,
            ratio: ms / median.max(1.0),
        })
    }
}

/// Builds [`Insights`] for one run from the base history. `cases` yields every case of the
/// run; `quarantine` marks failing flaky tests quarantined.
pub fn insights(
    idx: &Index<'_, '_>,
    cases: impl IntoIterator<Item = Observation>,
    t: &Thresholds,
    quarantine: bool,
) -> Insights {
    let mut b = InsightsBuilder::new(idx, *t);
    for c in cases {
        b.observe(&c.key, c.status, c.duration);
    }
    b.finish(quarantine)
}

/// [`insights`] one case at a time, so a run's cases are streamed, never held: memory grows
/// with the failing and slower tests only.
pub struct InsightsBuilder<'i, 'd, 'a> {
    idx: &'i Index<'d, 'a>,
    t: Thresholds,
    /// The base's newest run's failing tests.
    base_failing: BTreeSet<String>,
    flaky: Vec<(String, Flips)>,
    flaky_ids: HashSet<String>,
    failing_flaky: BTreeMap<String, Status>,
    new: BTreeSet<String>,
    old: BTreeSet<String>,
    slower: Vec<SlowTest>,
}

impl<'i, 'd, 'a> InsightsBuilder<'i, 'd, 'a> {
    pub fn new(idx: &'i Index<'d, 'a>, t: Thresholds) -> Self {
        let flaky = idx.flaky(&t);
        let flaky_ids = flaky.iter().map(|f| f.0.clone()).collect();
        InsightsBuilder {
            idx,
            t,
            base_failing: idx.failing(),
            flaky,
            flaky_ids,
            failing_flaky: BTreeMap::new(),
            new: BTreeSet::new(),
            old: BTreeSet::new(),
            slower: Vec::new(),
        }
    }

    pub fn observe(&mut self, key: &str, status: Status, duration: Option<f64>) {
        if status.is_bad() {
            if self.base_failing.contains(key) {
                self.old.insert(key.to_string());
            } else {
                self.new.insert(key.to_string());
            }
            if self.flaky_ids.contains(key) {
                self.failing_flaky.insert(key.to_string(), status);
            }
        } else if status == Status::Passed
            && let Some(d) = duration
            && let Some(s) = self.idx.slower(key, d, &self.t)
        {
            self.slower.push(s);
        }
    }

    /// Failing tests that are flaky in the history, with their status here.
    pub fn failing_flaky(&self) -> &BTreeMap<String, Status> {
        &self.failing_flaky
    }

    pub fn finish(self, quarantine: bool) -> Insights {
        let mut slower = self.slower;
        slower.sort_by(|a, b| b.ratio.total_cmp(&a.ratio).then(a.id.cmp(&b.id)));
        let failing_now = &self.failing_flaky;
        let quarantined: Vec<String> = if quarantine {
            failing_now.keys().cloned().collect()
        } else {
            Vec::new()
        };
        let mut flaky_out: Vec<FlakyTest> = self
            .flaky
            .iter()
            .map(|(id, f)| FlakyTest {
                id: id.clone(),
                flips: f.flips,
                observed: f.observed,
                flip_rate: (f.rate() * 1000.0).round() / 1000.0,
                failing_now: failing_now.contains_key(id),
                quarantined: quarantine && failing_now.contains_key(id),
            })
            .collect();
        // Failing-now flaky tests first: they are what the reader needs to judge.
        flaky_out.sort_by_key(|f| !f.failing_now);
        let last = self.idx.doc.runs.last();
        let cut = |s: BTreeSet<String>| -> (Vec<String>, usize) {
            let n = s.len();
            (s.into_iter().take(Insights::MAX_LISTED).collect(), n)
        };
        let (new_failures, new_failures_total) = cut(self.new);
        let (already_failing, already_failing_total) = cut(self.old);
        let (flaky_total, slower_total) = (flaky_out.len(), slower.len());
        flaky_out.truncate(Insights::MAX_LISTED);
        slower.truncate(Insights::MAX_LISTED);
        Insights {
            schema_version: INSIGHTS_SCHEMA_VERSION,
            base_branch: self.idx.doc.branch.clone(),
            history_runs: self.idx.doc.runs.len(),
            base_run_id: last.map(|r| r.run_id.clone()),
            base_sha: last.and_then(|r| r.sha.clone()),
            new_failures,
            new_failures_total,
            already_failing,
            already_failing_total,
            flaky: flaky_out,
            flaky_total,
            quarantined,
            slower,
            slower_total,
            thresholds: self.t,
        }
    }
}

/// The shields.io endpoint JSON for a badge (`https://img.shields.io/endpoint?url=...`).
pub fn shields_json(b: &crate::badge::Badge) -> String {
    serde_json::json!({
        "schemaVersion": 1,
        "label": b.label,
        "message": b.message,
        "color": b.color.trim_start_matches('#'),
        "labelColor": b.label_color.trim_start_matches('#'),
    })
    .to_string()
}

/// Where a data-branch file of comment key `key` lives: the default comment's at the top
/// (`history.json.gz`, `badge.svg`), a key's under `keys/<key>/`. Each key (a monorepo's
/// `backend` and `frontend` job, the legs of a matrix) has its own history, so its baseline,
/// flaky tests and badge are its own runs', never another job's.
pub fn data_path(key: Option<&str>, file: &str) -> String {
    match key {
        Some(k) => format!("keys/{k}/{file}"),
        None => file.to_string(),
    }
}

/// The README line for the badge: the raw URL of the data branch's `badge.svg` (of `key`),
/// linking to the repository's workflow runs.
pub fn readme_badge_line(
    server_url: &str,
    repository: &str,
    branch: &str,
    key: Option<&str>,
) -> String {
    let raw = raw_url(server_url, repository, branch, &data_path(key, "badge.svg"));
    let server = server_url.trim_end_matches('/');
    format!("[![codeloop]({raw})]({server}/{repository}/actions)")
}

/// Where a data-branch file is served raw: `raw.githubusercontent.com` for github.com, the
/// `/raw/` path of a GitHub Enterprise Server.
pub fn raw_url(server_url: &str, repository: &str, branch: &str, file: &str) -> String {
    let server = server_url.trim_end_matches('/');
    if server == "https://github.com" {
        format!("https://raw.githubusercontent.com/{repository}/{branch}/{file}")
    } else {
        format!("{server}/{repository}/raw/{branch}/{file}")
    }
}

#[cfg(test)]
mod tests;
