//! Folding shard runs into one run (`codeloop merge`, DESIGN §5). Pure: the command reads the
//! run directories and writes the result; this module decides. It never holds every case:
//!
//! 1. [`plan`] decides from each shard's verify.json and manifest which [`Source`]s are used,
//!    and names the rest in warnings (below).
//! 2. [`Census`] (pass 1) is fed the key of every case of the used sources, in order (each
//!    source a [`SourceCensus`], which can be filled on its own thread), and finds the
//!    identities seen more than once, and the lines that hold them.
//! 3. [`CaseFolder`] (pass 2) is fed the lines again: a case whose identity occurs once is
//!    emitted at once ([`Take::Plain`]: the caller writes the line as it was read); a
//!    duplicated one is held (folded with the occurrences before it) until its last
//!    occurrence, then emitted. Memory grows with duplicated tests only.
//! 4. [`finish`] builds verify.json and merge.json from the plan and the per-runner counts the
//!    folder accumulated as it emitted.
//!
//! [`fold`] runs the same steps over cases already in memory.
//!
//! Rules: counts are recomputed from the merged cases, so a test seen by two shards counts
//! once, with its worst status (errored > failed > passed > skipped) and `flaky` when one shard
//! failed it and another passed it. The j-th occurrence of a key in one source folds into the
//! j-th merged one, so a parametrized test repeated inside one shard stays repeated. Runners
//! with the same id fold into one (worst status, the longest duration, every result file, parse
//! error and suite error kept). Sources that cannot be trusted are named in warnings: no
//! manifest (incomplete shard, used as far as it goes), another schema version or a repeated
//! run id (left out), different commits (kept, warned). Missing shards (from the recorded
//! totals) become `skipped` runners named `shard-K-of-N`, which the gate's
//! `require: ["shards"]` turns into a failure.
//!
//! Order of the merged cases: the used sources' cases in order, except that a test seen by more
//! than one source is written where its last occurrence is (it is complete only then).
//!
//! Identity of a case: the first 128 bits of the SHA-256 of its [`Case::key`] (and, for the
//! j-th repetition inside one source, j > 0, of that hash and j). Two different tests are
//! folded into one only if their identities collide: for n cases the odds are about
//! n² / 2¹²⁹, 1.5 × 10⁻²⁷ for a million cases, and a crafted name cannot aim for it (SHA-256).
//! Pass 1 keeps 16 bytes per case (16 MB for a million) and pass 2 only the duplicated ones.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::{
    Case, CaseView, Counts, FailureView, Finding, LintCounts, RunStatus, RunnerKind, RunnerResult,
    RunnerSource, RunnerStatus, SCHEMA_VERSION, Shard, SlowTest, Status, VerifyDoc,
};

/// Runner ids merge gives to shards that sent no run directory.
pub const MISSING_SHARD_PREFIX: &str = "shard-";

/// The file in the merged run that says what was merged.
pub const MERGE_FILE: &str = "merge.json";

/// One input run, as read from disk (its cases are streamed, not held: see the module docs).
#[derive(Clone, Debug)]
pub struct Source {
    /// Where it came from (a path), for messages.
    pub label: String,
    pub verify: VerifyDoc,
    /// The manifest's schema version, shard and commit; `None` when manifest.json is missing.
    pub manifest: Option<ManifestInfo>,
    /// Findings are few (lint and build messages): held.
    pub findings: Vec<Finding>,
}

/// What merge needs from a manifest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManifestInfo {
    pub schema_version: u32,
    pub shard: Option<Shard>,
    pub sha: Option<String>,
}

/// One merged source, as recorded in merge.json.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MergedSource {
    pub dir: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    /// False when it had no manifest.json (an interrupted or partly uploaded shard).
    pub complete: bool,
    /// What the shard ran: its runner ids (for the comment's per-shard breakdown); a runner
    /// the shard skipped (another shard ran it whole) is not among them.
    #[serde(default)]
    pub runners: Vec<String>,
    /// The runners that did not pass in this shard, with how they ended (failed, crashed,
    /// timed out, …): a shard whose tests all passed can still have crashed its build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<ShardRunner>,
    /// The shard's own counts, before folding.
    #[serde(default)]
    pub counts: Counts,
    /// How long the shard's runners took (the longest one: they run in parallel), seconds.
    #[serde(default)]
    pub duration: f64,
}

/// A runner of one shard that did not pass, in merge.json.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ShardRunner {
    pub id: String,
    pub status: RunnerStatus,
}

/// What a shard ran and which of its runners did not pass: [`MergedSource::runners`] and
/// [`MergedSource::failed`].
fn shard_runners(v: &VerifyDoc) -> (Vec<String>, Vec<ShardRunner>) {
    let ran = v
        .runners
        .iter()
        .filter(|r| r.status != RunnerStatus::Skipped);
    let failed = ran
        .clone()
        .filter(|r| r.status != RunnerStatus::Passed)
        .map(|r| ShardRunner {
            id: r.id.clone(),
            status: r.status,
        })
        .collect();
    (ran.map(|r| r.id.clone()).collect(), failed)
}

/// merge.json
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MergeDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub sources: Vec<MergedSource>,
    /// Sources left out, with the reason.
    #[serde(default)]
    pub skipped: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_shards: Option<u32>,
    #[serde(default)]
    pub missing_shards: Vec<u32>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The merged run but its cases (written as [`CaseFolder`] hands them out), ready to write.
#[derive(Clone, Debug)]
pub struct Merged {
    pub verify: VerifyDoc,
    pub findings: Vec<Finding>,
    pub doc: MergeDoc,
    /// The commit every used source agreed on (or the first one named).
    pub sha: Option<String>,
}

/// Identity of the merged run.
pub struct Target {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub cwd: String,
}

fn status_rank(s: Status) -> u8 {
    match s {
        Status::Skipped => 0,
        Status::Passed => 1,
        Status::Failed => 2,
        Status::Errored => 3,
    }
}

fn runner_rank(s: RunnerStatus) -> u8 {
    match s {
        RunnerStatus::Skipped => 0,
        RunnerStatus::Passed => 1,
        RunnerStatus::Blocked => 2,
        RunnerStatus::Unavailable => 3,
        RunnerStatus::Failed => 4,
        RunnerStatus::Timeout => 5,
        RunnerStatus::Crashed => 6,
        RunnerStatus::LimitExceeded => 7,
        RunnerStatus::Interrupted => 8,
    }
}

/// Folds `b` (the same test from another shard) into `a`.
fn fold_case(a: &mut Case, b: Case) {
    let a_bad = matches!(a.status, Status::Failed | Status::Errored);
    let b_bad = matches!(b.status, Status::Failed | Status::Errored);
    let passed_somewhere = a.status == Status::Passed || b.status == Status::Passed;
    if (a_bad || b_bad) && passed_somewhere {
        a.flaky = true;
    }
    a.flaky |= b.flaky;
    a.retries = a.retries.saturating_add(b.retries).saturating_add(1);
    a.duration = match (a.duration, b.duration) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    if status_rank(b.status) > status_rank(a.status) {
        let flaky = a.flaky;
        let retries = a.retries;
        let duration = a.duration;
        *a = b;
        a.flaky = flaky;
        a.retries = retries;
        a.duration = duration;
    }
}

fn fold_runner(a: &mut RunnerResult, b: RunnerResult) {
    if runner_rank(b.status) > runner_rank(a.status) {
        a.status = b.status;
        a.exit_code = b.exit_code;
        a.signal = b.signal;
        a.hint = b.hint.clone();
        a.command = b.command.clone();
        a.stdout_log = b.stdout_log.clone();
        a.stderr_log = b.stderr_log.clone();
        a.shards = b.shards.clone();
    } else if b.status == a.status {
        // As bad in this shard too: name it with the others.
        for sh in &b.shards {
            if !a.shards.contains(sh) {
                a.shards.push(sh.clone());
            }
        }
    }
    a.duration = a.duration.max(b.duration);
    a.result_files.extend(b.result_files);
    a.parse_errors.extend(b.parse_errors);
    a.warnings.extend(b.warnings);
    a.suite_errors.extend(b.suite_errors);
    for c in b.candidates {
        if a.candidates.len() < crate::runners::collect::CANDIDATES_MAX
            && !a.candidates.contains(&c)
        {
            a.candidates.push(c);
        }
    }
    for d in b.depends_on {
        if !a.depends_on.contains(&d) {
            a.depends_on.push(d);
        }
    }
}

/// Which sources a merge uses, and what it found wrong with the others (step 1).
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Indexes of the used sources in the slice given to [`plan`], in merge order: the
    /// sources whose cases are streamed through [`Census`] and [`CaseFolder`].
    pub used: Vec<usize>,
    /// Every warning, the left-out sources' last (as merge.json records them).
    pub warnings: Vec<String>,
    /// Sources left out, with the reason.
    pub skipped: Vec<String>,
    pub expected_shards: Option<u32>,
    pub missing_shards: Vec<u32>,
    /// The commit every used source agreed on (or the first one named).
    pub sha: Option<String>,
}

/// Decides which sources are used (schema, repeated run ids) and warns about incomplete
/// shards, mixed commits and missing or repeated shards.
pub fn plan(sources: &[Source]) -> Plan {
    let mut warnings = Vec::new();
    let mut skipped = Vec::new();
    let mut used: Vec<usize> = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, s) in sources.iter().enumerate() {
        let schema = s
            .manifest
            .as_ref()
            .map_or(s.verify.schema_version, |m| m.schema_version);
        if schema != SCHEMA_VERSION || s.verify.schema_version != SCHEMA_VERSION {
            skipped.push(format!(
                "{}: schema version {schema} (this codeloop reads {SCHEMA_VERSION}); left out — produce every shard with the same codeloop version",
                s.label
            ));
            continue;
        }
        if !ids.insert(s.verify.run_id.as_str()) {
            skipped.push(format!(
                "{}: run id {} was already merged from another directory (the same artifact downloaded twice?); left out",
                s.label, s.verify.run_id
            ));
            continue;
        }
        if s.manifest.is_none() {
            warnings.push(format!(
                "{}: no manifest.json, so this shard did not finish (interrupted, or its upload was cut); its results are merged as far as they go",
                s.label
            ));
        }
        used.push(i);
    }
    let used_sources = || used.iter().map(|&i| &sources[i]);
    // Commits: all sources should test the same one.
    let shas: BTreeSet<&str> = used_sources()
        .filter_map(|s| s.manifest.as_ref()?.sha.as_deref())
        .collect();
    if shas.len() > 1 {
        let list: Vec<String> = used_sources()
            .map(|s| {
                format!(
                    "{} at {}",
                    s.label,
                    s.manifest
                        .as_ref()
                        .and_then(|m| m.sha.as_deref())
                        .unwrap_or("an unknown commit")
                )
            })
            .collect();
        warnings.push(format!(
            "the shards tested different commits ({}); the merged counts mix them — download the run directories of one pipeline only",
            list.join(", ")
        ));
    }
    let sha = used_sources().find_map(|s| s.manifest.as_ref()?.sha.clone());

    // Shard coverage.
    let shards: Vec<Shard> = used_sources().filter_map(shard_of).collect();
    let totals: BTreeSet<u32> = shards.iter().map(|s| s.total).collect();
    if totals.len() > 1 {
        warnings.push(format!(
            "the shards disagree on the shard count ({}); missing shards are counted against the largest",
            totals.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ));
    }
    let expected = totals.iter().max().copied();
    let mut missing = Vec::new();
    if let Some(n) = expected {
        let seen: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
        missing = (1..=n).filter(|k| !seen.contains(k)).collect();
        if !missing.is_empty() {
            warnings.push(format!(
                "missing shard(s) {} of {n}: their jobs failed before writing a run, or their artifacts were not downloaded; the merged counts lack their tests",
                missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        let mut dup = BTreeSet::new();
        for s in &shards {
            if !dup.insert(s.index) {
                warnings.push(format!(
                    "shard {}/{} appears more than once (a retried job?); its tests are counted once",
                    s.index, s.total
                ));
            }
        }
    }
    warnings.extend(skipped.iter().cloned());
    Plan {
        used,
        warnings,
        skipped,
        expected_shards: expected,
        missing_shards: missing,
        sha,
    }
}

fn shard_of(s: &Source) -> Option<Shard> {
    s.manifest.as_ref().and_then(|m| m.shard).or(s.verify.shard)
}

/// How a merged run names one of its shards: `K/N`, or the shard run's id.
fn shard_label(shard: Option<Shard>, run_id: &str) -> String {
    shard.map_or_else(|| run_id.to_string(), |sh| sh.to_string())
}

/// Marks a shard's runner, and its unreadable result files, with the shard (what a run that
/// was itself merged names keeps its shard): the fold keeps the worst shard's status, and
/// its mark with it.
fn tag_runner(r: &mut RunnerResult, label: &str) {
    for pe in &mut r.parse_errors {
        pe.shard.get_or_insert_with(|| label.to_string());
    }
    if r.shards.is_empty() {
        r.shards.push(label.to_string());
    }
}

/// A case's identity as pass 1 reads it: the fields of [`Case::key`] (and the status, so that
/// the lines pass 1 reads are the lines pass 2 can read), nothing else deserialized, and the
/// texts borrowed from the line unless they hold escapes (no allocation per case).
#[derive(Deserialize, Clone, Debug, Default)]
pub struct CaseKey<'a> {
    #[serde(default, borrow)]
    pub runner: Text<'a>,
    #[serde(default, borrow)]
    pub suite: Vec<Text<'a>>,
    #[serde(default, borrow)]
    pub classname: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Text<'a>,
    pub status: Status,
}

impl CaseKey<'_> {
    pub fn hash(&self) -> u128 {
        key_hash_parts(
            &self.runner,
            &self.suite,
            self.classname.as_deref(),
            &self.name,
        )
    }
}

impl<'a> CaseKey<'a> {
    /// The key of one cases.jsonl line: read straight from the line when it is laid out as
    /// [`Case::write_json`] writes it (the key's fields first, then the status, no escapes in
    /// them), else by serde. Only the line's start is looked at in the first case: pass 2
    /// reads every line whole, and leaves out the ones that are not valid cases.
    pub fn of_line(line: &'a str) -> Option<CaseKey<'a>> {
        Self::written(line).or_else(|| serde_json::from_str(line).ok())
    }

    fn written(line: &'a str) -> Option<CaseKey<'a>> {
        let mut r = Fields { s: line, i: 0 };
        let mut k = CaseKey::default();
        let mut named = false;
        r.byte(b'{')?;
        loop {
            match r.string()? {
                "runner" => {
                    r.byte(b':')?;
                    k.runner = Text(r.string()?.into());
                }
                "suite" => {
                    r.byte(b':')?;
                    r.byte(b'[')?;
                    if !r.eat(b']') {
                        loop {
                            k.suite.push(Text(r.string()?.into()));
                            if r.eat(b']') {
                                break;
                            }
                            r.byte(b',')?;
                        }
                    }
                }
                "classname" => {
                    r.byte(b':')?;
                    k.classname = Some(Text(r.string()?.into()));
                }
                "name" => {
                    r.byte(b':')?;
                    k.name = Text(r.string()?.into());
                    named = true;
                }
                "file" => {
                    r.byte(b':')?;
                    r.string()?;
                }
                "line" => {
                    r.byte(b':')?;
                    r.digits()?;
                }
                "status" => {
                    r.byte(b':')?;
                    let s = r.string()?;
                    k.status = [
                        Status::Passed,
                        Status::Failed,
                        Status::Errored,
                        Status::Skipped,
                    ]
                    .into_iter()
                    .find(|x| x.as_str() == s)?;
                    // Serde requires the name as well.
                    return named.then_some(k);
                }
                _ => return None,
            }
            r.byte(b',')?;
        }
    }
}

/// A cursor over a line for [`CaseKey::written`]: no whitespace, strings without escapes.
struct Fields<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Fields<'a> {
    fn byte(&mut self, b: u8) -> Option<()> {
        self.eat(b).then_some(())
    }
    fn eat(&mut self, b: u8) -> bool {
        let hit = self.s.as_bytes().get(self.i) == Some(&b);
        self.i += usize::from(hit);
        hit
    }
    fn string(&mut self) -> Option<&'a str> {
        self.byte(b'"')?;
        let rest = self.s.get(self.i..)?;
        let end = memchr::memchr2(b'"', b'\\', rest.as_bytes())?;
        if rest.as_bytes()[end] != b'"' {
            return None;
        }
        self.i += end + 1;
        rest.get(..end)
    }
    fn digits(&mut self) -> Option<()> {
        let n = self.s.as_bytes()[self.i.min(self.s.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.i += n;
        (n > 0).then_some(())
    }
    /// A string as JSON allows it unescaped: no `\\` and no control character.
    fn plain_string(&mut self) -> Option<&'a str> {
        let s = self.string()?;
        let control = crate::model::any_window::<16>(s.as_bytes(), |c| {
            c.iter().fold(false, |a, &b| a | (b < 0x20))
        });
        (!control).then_some(s)
    }
    fn literal(&mut self, word: &str) -> bool {
        let hit = self.s.as_bytes()[self.i.min(self.s.len())..].starts_with(word.as_bytes());
        self.i += if hit { word.len() } else { 0 };
        hit
    }
    /// A JSON integer that fits a u32 (no sign, no leading zero).
    fn u32(&mut self) -> Option<u32> {
        let start = self.i;
        self.digits()?;
        let d = &self.s[start..self.i];
        (d == "0" || !d.starts_with('0')).then_some(())?;
        d.parse::<u32>().ok()
    }
    /// A JSON number that is a finite f64: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`,
    /// as written.
    fn number(&mut self) -> Option<&'a str> {
        let start = self.i;
        self.eat(b'-');
        let int = self.i;
        self.digits()?;
        (self.i - int == 1 || self.s.as_bytes()[int] != b'0').then_some(())?;
        if self.eat(b'.') {
            self.digits()?;
        }
        if self.eat(b'e') || self.eat(b'E') {
            let _ = self.eat(b'+') || self.eat(b'-');
            self.digits()?;
        } else if self.i - int <= 300 {
            // Fewer integer digits than f64's range has, no exponent: finite for certain.
            return self.s.get(start..self.i);
        }
        let n = self.s.get(start..self.i)?;
        n.parse::<f64>().ok().filter(|d| d.is_finite()).map(|_| n)
    }
}

/// A JSON string borrowed from the input when it has no escapes (serde's own `Cow<str>` is
/// borrowed only as a field of its own, never inside an `Option` or a `Vec`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Text<'a>(pub std::borrow::Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// A whole cases.jsonl line read as a [`Case`] is, field for field and type for type, with
/// its texts borrowed from the line: a line is a valid case exactly when it reads as this
/// (tested), for the merged lines pass 2 writes as they are and only counts (no allocation
/// per case).
#[derive(Deserialize, Debug, Default)]
pub struct CaseLine<'a> {
    #[serde(default, borrow)]
    pub runner: Text<'a>,
    #[serde(default, borrow)]
    pub suite: Vec<Text<'a>>,
    #[serde(default, borrow)]
    pub classname: Option<Text<'a>>,
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(default, borrow)]
    pub file: Option<Text<'a>>,
    #[serde(default)]
    pub line: Option<u32>,
    pub status: Status,
    #[serde(default)]
    pub flaky: bool,
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub duration: Option<f64>,
    #[serde(default, borrow)]
    pub failure: Option<FailureLine<'a>>,
    #[serde(default, borrow)]
    pub output: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub skip_reason: Option<Text<'a>>,
}

/// A [`Case`]'s fields as cases.jsonl names them, in the order [`Case::write_json`] writes
/// them.
const CASE_FIELDS: [&str; 13] = [
    "runner",
    "suite",
    "classname",
    "name",
    "file",
    "line",
    "status",
    "flaky",
    "retries",
    "duration",
    "failure",
    "output",
    "skip_reason",
];

/// What [`CaseFolder::plain_line`] counts of a line: its runner, status and flakiness.
pub type LineCounts<'a> = (&'a str, Status, bool);

/// `runner`'s counts in a list of counts per runner (in order of first appearance), added
/// (zero) when it is not there yet.
fn runner_counts<'c>(list: &'c mut Vec<(String, Counts)>, runner: &str) -> &'c mut Counts {
    let i = match list.iter().position(|(r, _)| r == runner) {
        Some(i) => i,
        None => {
            list.push((runner.to_string(), Counts::default()));
            list.len() - 1
        }
    };
    &mut list[i].1
}

/// A field of a line laid out as [`Case::write_json`] writes it, as
/// [`CaseLine::read_laid_out`] meets it (texts borrowed from the line, numbers as read).
enum Laid<'a> {
    Runner(&'a str),
    Suite(&'a str),
    Classname(&'a str),
    Name(&'a str),
    File(&'a str),
    Line(u32),
    Status(Status),
    Flaky(bool),
    Retries(u32),
    /// The number as written (serde reads it, so the value is serde's to the bit).
    Duration(&'a str),
    /// `"failure":{`, before its texts.
    Failure,
    Kind(&'a str),
    Message(&'a str),
    Trace(&'a str),
    Output(&'a str),
    SkipReason(&'a str),
}

impl<'a> CaseLine<'a> {
    /// Reads a line that is a valid case laid out as [`Case::write_json`] writes it (its keys
    /// in that order, no whitespace, strings without escapes) in one pass over its bytes,
    /// handing each field to `on`; `None` for any other line, which serde then reads (and may
    /// still find valid). Sound, not complete: what it accepts, serde reads as the same
    /// `Case` (tested). One reader for [`CaseLine::counted`] and [`CaseLine::laid_out`].
    #[inline]
    fn read_laid_out(line: &'a str, mut on: impl FnMut(Laid<'a>)) -> Option<()> {
        let mut r = Fields { s: line, i: 0 };
        let (mut named, mut status) = (false, false);
        // Keys in CASE_FIELDS order, each at most once: none twice, none unknown.
        let mut next = 0;
        r.byte(b'{')?;
        loop {
            let key = r.plain_string()?;
            let k = next + CASE_FIELDS[next..].iter().position(|k| *k == key)?;
            next = k + 1;
            r.byte(b':')?;
            match CASE_FIELDS[k] {
                "runner" => on(Laid::Runner(r.plain_string()?)),
                "suite" => {
                    r.byte(b'[')?;
                    if !r.eat(b']') {
                        loop {
                            on(Laid::Suite(r.plain_string()?));
                            if r.eat(b']') {
                                break;
                            }
                            r.byte(b',')?;
                        }
                    }
                }
                "name" => {
                    on(Laid::Name(r.plain_string()?));
                    named = true;
                }
                "classname" => on(Laid::Classname(r.plain_string()?)),
                "file" => on(Laid::File(r.plain_string()?)),
                "output" => on(Laid::Output(r.plain_string()?)),
                "skip_reason" => on(Laid::SkipReason(r.plain_string()?)),
                "line" => on(Laid::Line(r.u32()?)),
                "retries" => on(Laid::Retries(r.u32()?)),
                "status" => {
                    let s = r.plain_string()?;
                    on(Laid::Status(
                        [
                            Status::Passed,
                            Status::Failed,
                            Status::Errored,
                            Status::Skipped,
                        ]
                        .into_iter()
                        .find(|x| x.as_str() == s)?,
                    ));
                    status = true;
                }
                "flaky" => on(Laid::Flaky(if r.literal("true") {
                    true
                } else if r.literal("false") {
                    false
                } else {
                    return None;
                })),
                "duration" => on(Laid::Duration(r.number()?)),
                _ => {
                    // "failure": its texts, in Failure's order.
                    r.byte(b'{')?;
                    on(Laid::Failure);
                    let mut fnext = 0;
                    if !r.eat(b'}') {
                        loop {
                            let key = r.plain_string()?;
                            let f = ["kind", "message", "trace"].get(fnext..)?;
                            let at = fnext + f.iter().position(|k| *k == key)?;
                            fnext = at + 1;
                            r.byte(b':')?;
                            let v = r.plain_string()?;
                            on(match at {
                                0 => Laid::Kind(v),
                                1 => Laid::Message(v),
                                _ => Laid::Trace(v),
                            });
                            if r.eat(b'}') {
                                break;
                            }
                            r.byte(b',')?;
                        }
                    }
                }
            }
            if r.eat(b'}') {
                break;
            }
            r.byte(b',')?;
        }
        // Nothing after the object; the two fields serde requires were there.
        (r.i == line.len() && named && status).then_some(())
    }

    /// The counted fields of a line laid out as written (see [`CaseLine::read_laid_out`]):
    /// the merge counts the same lines as serde would.
    pub fn counted(line: &'a str) -> Option<LineCounts<'a>> {
        let (mut runner, mut status, mut flaky) = ("", Status::Passed, false);
        Self::read_laid_out(line, |f| match f {
            Laid::Runner(r) => runner = r,
            Laid::Status(s) => status = s,
            Laid::Flaky(b) => flaky = b,
            _ => {}
        })?;
        Some((runner, status, flaky))
    }

    /// The whole line laid out as written (see [`CaseLine::read_laid_out`]), every text
    /// borrowed: what serde reads of it, several times faster.
    pub fn laid_out(line: &'a str) -> Option<CaseLine<'a>> {
        let text = |s: &'a str| Text(std::borrow::Cow::Borrowed(s));
        let mut c = CaseLine::default();
        let mut duration = None;
        fn failure<'c, 'a>(c: &'c mut CaseLine<'a>) -> &'c mut FailureLine<'a> {
            c.failure.get_or_insert_with(FailureLine::default)
        }
        Self::read_laid_out(line, |f| match f {
            Laid::Runner(s) => c.runner = text(s),
            Laid::Suite(s) => c.suite.push(text(s)),
            Laid::Classname(s) => c.classname = Some(text(s)),
            Laid::Name(s) => c.name = text(s),
            Laid::File(s) => c.file = Some(text(s)),
            Laid::Line(n) => c.line = Some(n),
            Laid::Status(s) => c.status = s,
            Laid::Flaky(b) => c.flaky = b,
            Laid::Retries(n) => c.retries = n,
            Laid::Duration(s) => duration = Some(s),
            Laid::Failure => {
                failure(&mut c);
            }
            Laid::Kind(s) => failure(&mut c).kind = Some(text(s)),
            Laid::Message(s) => failure(&mut c).message = Some(text(s)),
            Laid::Trace(s) => failure(&mut c).trace = Some(text(s)),
            Laid::Output(s) => c.output = Some(text(s)),
            Laid::SkipReason(s) => c.skip_reason = Some(text(s)),
        })?;
        if let Some(d) = duration {
            // serde's own reading of the number, so the value is the same to the bit.
            c.duration = Some(serde_json::from_str::<f64>(d).ok()?);
        }
        Some(c)
    }

    /// Any line that is a valid case, its texts borrowed where it has no escapes: in one pass
    /// when laid out as written ([`CaseLine::laid_out`]), else by serde.
    pub fn read(line: &'a str) -> Option<CaseLine<'a>> {
        Self::laid_out(line).or_else(|| serde_json::from_str(line).ok())
    }
}

/// A source's lines as pass 1 read them whole, for a pass 2 that writes its file as it is:
/// the counts per runner (in order of first appearance), the bytes of its lines with their
/// line breaks, and whether every line was a valid case.
#[derive(Clone, Debug)]
pub struct SourceCounts {
    pub runners: Vec<(String, Counts)>,
    pub lines: u64,
    pub bytes: u64,
    pub all_valid: bool,
}

impl Default for SourceCounts {
    fn default() -> Self {
        SourceCounts {
            runners: Vec::new(),
            lines: 0,
            bytes: 0,
            all_valid: true,
        }
    }
}

impl SourceCounts {
    /// The next non-blank line (`line` without its line break); counted when it is a case.
    pub fn line(&mut self, line: &str) {
        self.lines += 1;
        self.bytes += line.len() as u64 + 1;
        match CaseLine::counted(line) {
            Some((runner, status, flaky)) => {
                runner_counts(&mut self.runners, runner).add_case(status, flaky);
            }
            None => match serde_json::from_str::<CaseLine>(line) {
                Ok(l) => runner_counts(&mut self.runners, &l.runner).add_case(l.status, l.flaky),
                Err(_) => self.all_valid = false,
            },
        }
    }
}

impl<'a> CaseLine<'a> {
    /// The case as the stream's consumers read it, its suite path given as `suite` (the
    /// parts of `self.suite`, borrowed: see [`CaseLine::suite_parts`]).
    pub fn view<'b>(&'b self, suite: &'b [&'b str]) -> CaseView<'b> {
        let text = |t: &'b Option<Text<'a>>| t.as_deref();
        CaseView {
            runner: &self.runner,
            suite,
            classname: text(&self.classname),
            name: &self.name,
            file: text(&self.file),
            line: self.line,
            status: self.status,
            flaky: self.flaky,
            retries: self.retries,
            duration: self.duration,
            failure: self.failure.as_ref().map(|f| FailureView {
                kind: text(&f.kind),
                message: text(&f.message),
                trace: text(&f.trace),
            }),
            output: text(&self.output),
            skip_reason: text(&self.skip_reason),
        }
    }

    /// The suite path's parts, borrowed.
    pub fn suite_parts(&self) -> Vec<&str> {
        self.suite.iter().map(|p| &**p).collect()
    }
}

/// [`crate::model::Failure`] as [`CaseLine`] reads it.
#[derive(Deserialize, Debug, Default)]
pub struct FailureLine<'a> {
    #[serde(default, borrow)]
    pub kind: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub message: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub trace: Option<Text<'a>>,
}

/// The first 128 bits of the SHA-256 of [`Case::key`].
pub fn key_hash(c: &Case) -> u128 {
    key_hash_parts(&c.runner, &c.suite, c.classname.as_deref(), &c.name)
}

/// [`key_hash`] from the key's parts, fed to the digest piece by piece
/// ([`crate::model::key_pieces`]: no string built).
fn key_hash_parts<S: AsRef<str>>(
    runner: &str,
    suite: &[S],
    classname: Option<&str>,
    name: &str,
) -> u128 {
    let mut h = Sha256::new();
    crate::model::key_pieces(runner, suite, classname, name, |s| h.update(s.as_bytes()));
    first_128(&h.finalize())
}

fn first_128(d: &[u8]) -> u128 {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_le_bytes(b)
}

/// The identity of the j-th occurrence (from 0) of a key inside one source.
fn identity(key: u128, j: u32) -> u128 {
    if j == 0 {
        return key;
    }
    let mut h = Sha256::new();
    h.update(key.to_le_bytes());
    h.update(j.to_le_bytes());
    first_128(&h.finalize())
}

/// Identities are SHA-256 bits already: the map uses them as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        // Truncation wanted: any 64 of the bits are as good as the others.
        self.0 = n as u64;
    }
}

type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;
type IdSet = HashSet<u128, BuildHasherDefault<IdHasher>>;

/// Pass 1 of one source: its case keys in line order. Sources are independent, so each can
/// be read on its own thread; [`Census::push`] takes them in the sources' order.
#[derive(Default)]
pub struct SourceCensus {
    /// Key hashes, in line order.
    keys: Vec<u128>,
    /// The lines (numbered among the non-blank ones) that could not be read.
    unreadable: Vec<u32>,
    lines: u32,
}

impl SourceCensus {
    /// The next line's case, by its [`key_hash`] (or [`CaseKey::hash`]).
    pub fn key(&mut self, key_hash: u128) {
        self.keys.push(key_hash);
        self.lines = self.lines.saturating_add(1);
    }

    /// The next line could not be read (pass 2 skips it too).
    pub fn unreadable(&mut self) {
        self.unreadable.push(self.lines);
        self.lines = self.lines.saturating_add(1);
    }

    /// The source's identities in line order (the j-th occurrence of a key in line order is
    /// identity j, as pass 2 counts them), sorted as well, and the keys it holds more than
    /// once. The costly half of pass 1's bookkeeping, done where the source was read (on
    /// its own core): [`Census::push_counted`] takes it.
    pub fn identities(self) -> CountedSource {
        let mut sorted = self.keys.clone();
        sorted.sort_unstable();
        let mut repeated = IdSet::default();
        for run in sorted.chunk_by(|a, b| a == b) {
            if run.len() > 1 {
                repeated.insert(run[0]);
            }
        }
        let mut seen: IdMap<u32> = IdMap::default();
        let ids: Vec<u128> = self
            .keys
            .into_iter()
            .map(|k| {
                if repeated.contains(&k) {
                    let n = seen.entry(k).or_insert(0);
                    let j = *n;
                    *n += 1;
                    identity(k, j)
                } else {
                    k
                }
            })
            .collect();
        if !repeated.is_empty() {
            // Repeated keys became distinct identities: sorted again.
            sorted.clear();
            sorted.extend_from_slice(&ids);
            sorted.sort_unstable();
        }
        CountedSource {
            ids,
            sorted,
            unreadable: self.unreadable,
            repeated,
        }
    }
}

/// A source after pass 1 ([`SourceCensus::identities`]).
pub struct CountedSource {
    /// The identity of each readable line, in line order (16 bytes a case): pass 2 is told
    /// which lines fold without reading their keys again.
    ids: Vec<u128>,
    /// The same, sorted (each once: a source's identities are distinct).
    sorted: Vec<u128>,
    unreadable: Vec<u32>,
    /// Key hashes held more than once (the only ones whose occurrence index
    /// [`CaseFolder::case`] has to count).
    repeated: IdSet,
}

/// Pass 1: every used source's case keys, in the order [`CaseFolder`] will see the cases.
#[derive(Default)]
pub struct Census {
    done: Vec<CountedSource>,
    /// The source being fed through [`Census::source`] and [`Census::key`].
    current: Option<SourceCensus>,
}

impl Census {
    /// Starts the next used source (call it before each source's cases, even an empty one).
    pub fn source(&mut self) {
        if let Some(s) = self.current.replace(SourceCensus::default()) {
            self.push(s);
        }
    }

    /// One case of the current source, by its [`key_hash`] (or [`CaseKey::hash`]).
    pub fn key(&mut self, key_hash: u128) {
        self.current.get_or_insert_default().key(key_hash);
    }

    /// A line of the current source that could not be read (pass 2 skips it too).
    pub fn unreadable(&mut self) {
        self.current.get_or_insert_default().unreadable();
    }

    /// The next used source, read whole (on any thread).
    pub fn push(&mut self, s: SourceCensus) {
        self.done.push(s.identities());
    }

    /// [`Census::push`] of a source whose identities were taken where it was read.
    pub fn push_counted(&mut self, s: CountedSource) {
        self.done.push(s);
    }

    /// Ends pass 1: keeps only the identities seen more than once, with their count, and
    /// for each source the lines that hold one of them.
    pub fn into_folder(mut self) -> CaseFolder {
        if let Some(s) = self.current.take() {
            self.push(s);
        }
        // The identities in more than one source: the sources' sorted lists walked side by
        // side (a source holds each of its identities once), no sort of them all.
        let mut pending = IdMap::default();
        let mut heads: std::collections::BinaryHeap<std::cmp::Reverse<(u128, usize)>> = self
            .done
            .iter()
            .enumerate()
            .filter_map(|(k, d)| Some(std::cmp::Reverse((*d.sorted.first()?, k))))
            .collect();
        let mut at = vec![0usize; self.done.len()];
        // The identity being counted, and in how many sources so far.
        let mut run: Option<(u128, u32)> = None;
        let mut close = |run: Option<(u128, u32)>| {
            if let Some((id, n)) = run.filter(|&(_, n)| n > 1) {
                pending.insert(
                    id,
                    Pending {
                        remaining: n,
                        case: None,
                        seq: 0,
                    },
                );
            }
        };
        while let Some(std::cmp::Reverse((id, k))) = heads.pop() {
            match &mut run {
                Some((r, n)) if *r == id => *n += 1,
                _ => close(run.replace((id, 1))),
            }
            at[k] += 1;
            if let Some(&next) = self.done[k].sorted.get(at[k]) {
                heads.push(std::cmp::Reverse((next, k)));
            }
        }
        close(run);
        self.done.iter_mut().for_each(|d| d.sorted = Vec::new());
        pending.shrink_to_fit();
        let mut repeated = Vec::with_capacity(self.done.len());
        let plans = self
            .done
            .into_iter()
            .map(|d| {
                let mut fold = Vec::new();
                let mut skip = d.unreadable.iter().peekable();
                let mut line = 0u32;
                // With nothing shared between sources (shards, nearly always), no line folds.
                let ids = if pending.is_empty() {
                    Vec::new()
                } else {
                    d.ids
                };
                for id in ids {
                    while skip.next_if(|&&u| u == line).is_some() {
                        line += 1;
                    }
                    if pending.contains_key(&id) {
                        fold.push((line, id));
                    }
                    line += 1;
                }
                repeated.push(d.repeated);
                SourcePlan {
                    unreadable: d.unreadable,
                    fold,
                }
            })
            .collect();
        CaseFolder {
            pending,
            repeated,
            plans,
            source: None,
            local: IdMap::default(),
            line: 0,
            next_skip: 0,
            next_fold: 0,
            seq: 0,
            counts: Vec::new(),
        }
    }
}

/// A duplicated identity in pass 2: how many occurrences are still to come, and the fold of
/// those seen.
struct Pending {
    remaining: u32,
    case: Option<Box<Case>>,
    /// When it was first held: the order of what is still held at the end.
    seq: u32,
}

/// What pass 1 learnt of one source's lines: the unreadable ones, and the ones whose
/// identity another line shares (with that identity), both in line order.
struct SourcePlan {
    unreadable: Vec<u32>,
    fold: Vec<(u32, u128)>,
}

/// How pass 2 takes the next line of the current source ([`CaseFolder::take`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// Pass 1 could not read it: left out.
    Skip,
    /// Its test occurs once in the merge: emitted as it is ([`CaseFolder::plain`]).
    Plain,
    /// Folded with the other occurrences of this identity ([`CaseFolder::fold`]).
    Fold(u128),
}

/// Pass 2: folds the cases of the used sources, fed in pass 1's order, and hands each merged
/// case out once it is complete. Counts per runner are taken as cases go out.
///
/// Fed line by line ([`CaseFolder::take`]), it says which lines are merged cases as they
/// stand, so that the caller can write those lines as they were read; fed whole cases
/// ([`CaseFolder::case`]), it finds their identities again (a source whose file changed
/// since pass 1).
pub struct CaseFolder {
    pending: IdMap<Pending>,
    repeated: Vec<IdSet>,
    plans: Vec<SourcePlan>,
    source: Option<usize>,
    /// Occurrences so far of the current source's repeated keys.
    local: IdMap<u32>,
    /// The current source's next line, and where its plan's lists stand.
    line: u32,
    next_skip: usize,
    next_fold: usize,
    seq: u32,
    counts: Vec<(String, Counts)>,
}

impl CaseFolder {
    /// Starts the next used source (as [`Census::source`] did).
    pub fn source(&mut self) {
        self.source = Some(self.source.map_or(0, |s| s + 1));
        self.local.clear();
        self.line = 0;
        self.next_skip = 0;
        self.next_fold = 0;
    }

    /// The next line of the current source (every non-blank line, readable or not, as pass 1
    /// saw them): what to do with it.
    pub fn take(&mut self) -> Take {
        let line = self.line;
        self.line = self.line.saturating_add(1);
        let Some(plan) = self.source.and_then(|s| self.plans.get(s)) else {
            return Take::Plain;
        };
        if plan.unreadable.get(self.next_skip) == Some(&line) {
            self.next_skip += 1;
            return Take::Skip;
        }
        match plan.fold.get(self.next_fold) {
            Some(&(at, id)) if at == line => {
                self.next_fold += 1;
                Take::Fold(id)
            }
            _ => Take::Plain,
        }
    }

    /// A [`Take::Plain`] line's case, which the caller emits itself: counted.
    pub fn plain(&mut self, c: &Case) {
        self.count(c);
    }

    /// [`CaseFolder::plain`] for a line read as a [`CaseLine`] (only its counts are needed).
    pub fn plain_line(&mut self, c: &CaseLine<'_>) {
        self.count_parts(&c.runner, c.status, c.flaky);
    }

    /// [`CaseFolder::plain_line`] of what [`CaseLine::counted`] read.
    pub fn plain_counts(&mut self, (runner, status, flaky): LineCounts<'_>) {
        self.count_parts(runner, status, flaky);
    }

    /// Whether every line of the current source is emitted as it is (none folded with
    /// another source's, none left out): then its file may be written whole, and counted
    /// from pass 1's [`SourceCounts`] ([`CaseFolder::plain_source`]).
    pub fn source_is_plain(&self) -> bool {
        self.source
            .and_then(|s| self.plans.get(s))
            .is_none_or(|p| p.fold.is_empty() && p.unreadable.is_empty())
    }

    /// The current source written whole: its lines counted as pass 1 counted them.
    pub fn plain_source(&mut self, counts: &SourceCounts) {
        for (runner, n) in &counts.runners {
            runner_counts(&mut self.counts, runner).add(n);
        }
    }

    /// A [`Take::Fold`] line's case: held until the identity's last occurrence, then emitted.
    pub fn fold(&mut self, id: u128, c: Case, mut emit: impl FnMut(&Case)) {
        let Some(p) = self.pending.get_mut(&id) else {
            self.out(&c, &mut emit);
            return;
        };
        match &mut p.case {
            Some(a) => fold_case(a, c),
            None => {
                p.case = Some(Box::new(c));
                p.seq = self.seq;
                self.seq = self.seq.wrapping_add(1);
            }
        }
        p.remaining = p.remaining.saturating_sub(1);
        if p.remaining == 0
            && let Some(p) = self.pending.remove(&id)
            && let Some(c) = p.case
        {
            self.out(&c, &mut emit);
        }
    }

    /// One case of the current source, its identity found again from its key; `emit` gets
    /// every merged case that is complete.
    pub fn case(&mut self, c: Case, mut emit: impl FnMut(&Case)) {
        let key = key_hash(&c);
        let repeated = self
            .source
            .and_then(|s| self.repeated.get(s))
            .is_some_and(|r| r.contains(&key));
        let j = if repeated {
            let n = self.local.entry(key).or_insert(0);
            let j = *n;
            *n += 1;
            j
        } else {
            0
        };
        self.fold(identity(key, j), c, &mut emit);
    }

    fn count(&mut self, c: &Case) {
        self.count_parts(&c.runner, c.status, c.flaky);
    }

    fn count_parts(&mut self, runner: &str, status: Status, flaky: bool) {
        runner_counts(&mut self.counts, runner).add_case(status, flaky);
    }

    fn out(&mut self, c: &Case, emit: &mut impl FnMut(&Case)) {
        self.count(c);
        emit(c);
    }

    /// Ends pass 2. Emits what is still held (nothing, unless a cases.jsonl read differently
    /// the second time), in the order it was first seen; returns the counts per runner.
    pub fn finish(mut self, mut emit: impl FnMut(&Case)) -> CaseCounts {
        let mut left: Vec<(u32, Box<Case>)> = self
            .pending
            .drain()
            .filter_map(|(_, p)| Some((p.seq, p.case?)))
            .collect();
        left.sort_by_key(|(seq, _)| *seq);
        for (_, c) in left {
            self.out(&c, &mut emit);
        }
        CaseCounts(self.counts)
    }
}

/// Counts of the merged cases per runner id, from [`CaseFolder::finish`].
#[derive(Clone, Debug, Default)]
pub struct CaseCounts(Vec<(String, Counts)>);

impl CaseCounts {
    fn get(&self, runner: &str) -> Counts {
        self.0
            .iter()
            .find(|(r, _)| r == runner)
            .map(|(_, c)| *c)
            .unwrap_or_default()
    }
}

/// Step 4: the merged verify.json, merge.json and findings from the plan, the sources it was
/// made from and the counts of the merged cases.
pub fn finish(plan: Plan, sources: Vec<Source>, cases: &CaseCounts, target: Target) -> Merged {
    let mut sources: Vec<Option<Source>> = sources.into_iter().map(Some).collect();
    let used: Vec<Source> = plan
        .used
        .iter()
        .filter_map(|&i| sources.get_mut(i).and_then(Option::take))
        .collect();
    let mut findings: Vec<Finding> = Vec::new();
    let mut seen_findings: HashMap<String, usize> = HashMap::new();
    let mut runners: Vec<RunnerResult> = Vec::new();
    let mut slowest: Vec<SlowTest> = Vec::new();
    let mut sources_doc = Vec::new();
    for s in used {
        let shard = shard_of(&s);
        let label = shard_label(shard, &s.verify.run_id);
        let (ran, failed) = shard_runners(&s.verify);
        sources_doc.push(MergedSource {
            dir: s.label.clone(),
            run_id: s.verify.run_id.clone(),
            shard,
            sha: s.manifest.as_ref().and_then(|m| m.sha.clone()),
            complete: s.manifest.is_some(),
            runners: ran,
            failed,
            counts: s.verify.totals,
            duration: s
                .verify
                .runners
                .iter()
                .map(|r| r.duration)
                .fold(0.0, f64::max),
        });
        // Findings: identical ones (same runner, rule, place, message) are one finding.
        let mut local_f: HashMap<String, usize> = HashMap::new();
        for f in s.findings {
            let key = serde_json::to_string(&f).unwrap_or_default();
            let n = local_f.entry(key.clone()).or_insert(0);
            let have = seen_findings.entry(key).or_insert(0);
            if *n >= *have {
                findings.push(f);
                *have += 1;
            }
            *n += 1;
        }
        for mut r in s.verify.runners {
            tag_runner(&mut r, &label);
            match runners.iter_mut().find(|x| x.id == r.id) {
                Some(a) => fold_runner(a, r),
                None => runners.push(r),
            }
        }
        slowest.extend(s.verify.slowest);
    }
    // Counts from the merged cases and findings.
    let mut lint_by_runner: HashMap<&str, LintCounts> = HashMap::new();
    for f in &findings {
        lint_by_runner
            .entry(f.runner.as_str())
            .or_default()
            .add_finding(f.severity);
    }
    for r in &mut runners {
        r.counts = cases.get(&r.id);
        r.lint = lint_by_runner
            .get(r.id.as_str())
            .copied()
            .unwrap_or_default();
    }
    let expected = plan.expected_shards;
    for k in &plan.missing_shards {
        let n = expected.unwrap_or(0);
        runners.push(RunnerResult {
            shards: Vec::new(),
            candidates: Vec::new(),
            id: format!("{MISSING_SHARD_PREFIX}{k}-of-{n}"),
            kind: RunnerKind::Test,
            source: RunnerSource::Collect,
            command: None,
            cwd: None,
            status: RunnerStatus::Skipped,
            exit_code: None,
            signal: None,
            duration: 0.0,
            hint: Some(format!(
                "shard {k}/{n} sent no run directory: its job failed before writing one, or its artifact was not downloaded"
            )),
            counts: Counts::default(),
            lint: LintCounts::default(),
            result_files: Vec::new(),
            parse_errors: Vec::new(),
            warnings: Vec::new(),
            suite_errors: Vec::new(),
            stdout_log: None,
            stderr_log: None,
            depends_on: Vec::new(),
            limits: None,
        });
    }
    let mut totals = Counts::default();
    let mut lint = LintCounts::default();
    for r in &runners {
        totals.add(&r.counts);
        lint.add(&r.lint);
    }
    slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
    slowest.dedup_by(|a, b| a.id == b.id && a.runner == b.runner);
    slowest.truncate(crate::parsers::collect::SLOWEST_N);
    let interrupted = runners
        .iter()
        .any(|r| r.status == RunnerStatus::Interrupted);
    let all_passed = runners
        .iter()
        .all(|r| matches!(r.status, RunnerStatus::Passed | RunnerStatus::Skipped));
    let status = if interrupted {
        RunStatus::Interrupted
    } else if all_passed {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    };
    let verify = VerifyDoc {
        schema_version: SCHEMA_VERSION,
        run_id: target.run_id.clone(),
        started_at: target.started_at,
        finished_at: target.finished_at,
        status,
        cwd: target.cwd,
        shard: None,
        runners,
        totals,
        lint,
        slowest,
    };
    Merged {
        verify,
        findings,
        doc: MergeDoc {
            schema_version: SCHEMA_VERSION,
            run_id: target.run_id,
            sources: sources_doc,
            skipped: plan.skipped,
            expected_shards: expected,
            missing_shards: plan.missing_shards,
            warnings: plan.warnings,
        },
        sha: plan.sha,
    }
}

/// Every step over cases already in memory (`cases[i]` are the cases of `sources[i]`): the
/// merged run and its cases, in the order the streaming merge writes them.
pub fn fold(sources: Vec<Source>, cases: Vec<Vec<Case>>, target: Target) -> (Merged, Vec<Case>) {
    let plan = plan(&sources);
    let mut cases: Vec<Option<Vec<Case>>> = cases.into_iter().map(Some).collect();
    let used: Vec<Vec<Case>> = plan
        .used
        .iter()
        .map(|&i| cases.get_mut(i).and_then(Option::take).unwrap_or_default())
        .collect();
    let mut census = Census::default();
    for s in &used {
        census.source();
        s.iter().for_each(|c| census.key(key_hash(c)));
    }
    let mut folder = census.into_folder();
    let mut out = Vec::new();
    for s in used {
        folder.source();
        for c in s {
            match folder.take() {
                Take::Skip => {}
                Take::Plain => {
                    folder.plain(&c);
                    out.push(c);
                }
                Take::Fold(id) => folder.fold(id, c, |c| out.push(c.clone())),
            }
        }
    }
    let counts = folder.finish(|c| out.push(c.clone()));
    (finish(plan, sources, &counts, target), out)
}

/// Missing shards named by merge in this run (`shard-K-of-N` runners), for `require: ["shards"]`.
pub fn missing_shards(v: &VerifyDoc) -> Vec<&str> {
    v.runners
        .iter()
        .filter(|r| {
            r.source == RunnerSource::Collect
                && r.status == RunnerStatus::Skipped
                && r.id.starts_with(MISSING_SHARD_PREFIX)
                && r.id.contains("-of-")
        })
        .map(|r| r.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(runner: &str, name: &str, status: Status) -> Case {
        let mut c = Case::new(name, status);
        c.runner = runner.into();
        c
    }

    fn runner(id: &str, status: RunnerStatus) -> RunnerResult {
        let v: serde_json::Value = serde_json::json!({
            "id": id, "kind": "test", "source": "builtin", "status": status.as_str(),
            "duration": 1.0, "counts": Counts::default(), "lint": LintCounts::default(),
        });
        serde_json::from_value(v).unwrap()
    }

    fn source(
        label: &str,
        run_id: &str,
        shard: Option<(u32, u32)>,
        sha: &str,
        cases: Vec<Case>,
    ) -> (Source, Vec<Case>) {
        let status = if cases.iter().any(|c| c.status == Status::Failed) {
            RunnerStatus::Failed
        } else {
            RunnerStatus::Passed
        };
        let shard = shard.map(|(index, total)| Shard { index, total });
        let s = Source {
            label: label.into(),
            verify: VerifyDoc {
                schema_version: SCHEMA_VERSION,
                run_id: run_id.into(),
                started_at: String::new(),
                finished_at: String::new(),
                status: RunStatus::Passed,
                cwd: "/p".into(),
                shard,
                runners: vec![runner("t", status)],
                totals: Counts::default(),
                lint: LintCounts::default(),
                slowest: Vec::new(),
            },
            manifest: Some(ManifestInfo {
                schema_version: SCHEMA_VERSION,
                shard,
                sha: Some(sha.into()),
            }),
            findings: Vec::new(),
        };
        (s, cases)
    }

    /// The streaming fold over sources in memory, its merged run only.
    fn fold_all(sources: Vec<(Source, Vec<Case>)>) -> Merged {
        let (s, c) = sources.into_iter().unzip();
        fold(s, c, target()).0
    }

    fn target() -> Target {
        Target {
            run_id: "M".into(),
            started_at: "s".into(),
            finished_at: "f".into(),
            cwd: "/p".into(),
        }
    }

    #[test]
    fn counts_add_and_a_test_in_two_shards_counts_once_flaky() {
        let a = source(
            "a",
            "R1",
            Some((1, 2)),
            "abc",
            vec![
                case("t", "x", Status::Passed),
                case("t", "y", Status::Failed),
            ],
        );
        let b = source(
            "b",
            "R2",
            Some((2, 2)),
            "abc",
            vec![
                case("t", "y", Status::Passed),
                case("t", "z", Status::Skipped),
            ],
        );
        let m = fold_all(vec![a, b]);
        let t = m.verify.totals;
        assert_eq!(
            (t.tests, t.passed, t.failed, t.skipped, t.flaky),
            (3, 1, 1, 1, 1)
        );
        assert_eq!(m.verify.runners.len(), 1);
        assert_eq!(m.verify.runners[0].status, RunnerStatus::Failed);
        assert_eq!(m.verify.status, RunStatus::Failed);
        assert!(m.doc.warnings.is_empty(), "{:?}", m.doc.warnings);
        assert!(m.doc.missing_shards.is_empty());
    }

    #[test]
    fn a_runner_is_named_with_every_shard_it_ended_worst_in() {
        // Shards 1 and 3 of 5 fail the runner, 2 passes it, 4 and 5 have no shard number.
        let failing = |k: u32| {
            source(
                &format!("s{k}"),
                &format!("R{k}"),
                (k <= 3).then_some((k, 5)),
                "abc",
                vec![case("t", &format!("x{k}"), Status::Failed)],
            )
        };
        let passing = source(
            "s2",
            "R2",
            Some((2, 5)),
            "abc",
            vec![case("t", "y", Status::Passed)],
        );
        let m = fold_all(vec![failing(1), passing.clone(), failing(3)]);
        let r = &m.verify.runners[0];
        assert_eq!(r.status, RunnerStatus::Failed);
        assert_eq!(r.shards, ["1/5", "3/5"]);
        assert_eq!(r.shown(), "`t` in shards 1/5, 3/5");
        // The worst shard replaces better ones, whatever the order.
        let m = fold_all(vec![passing.clone(), failing(3)]);
        assert_eq!(m.verify.runners[0].shards, ["3/5"]);
        assert_eq!(m.verify.runners[0].shown(), "`t` in shard 3/5");
        // At most four named; a shard without a number is named by its run id.
        let m = fold_all(vec![failing(1), failing(3), failing(4), failing(5), {
            let mut s = failing(6);
            s.0.verify.run_id = "R6".into();
            s
        }]);
        assert_eq!(
            m.verify.runners[0].shown(),
            "`t` in shards 1/5, 3/5, R4, R5 and 1 more"
        );
        // Outside a merged run, the runner alone.
        assert_eq!(runner("t", RunnerStatus::Failed).shown(), "`t`");
    }

    #[test]
    fn repeated_names_inside_one_shard_stay_separate() {
        let a = source(
            "a",
            "R1",
            None,
            "abc",
            vec![
                case("t", "p", Status::Passed),
                case("t", "p", Status::Passed),
            ],
        );
        let m = fold_all(vec![a]);
        assert_eq!(m.verify.totals.tests, 2);
    }

    #[test]
    fn bad_sources_are_named_and_the_rest_merged() {
        let a = source(
            "dir-a",
            "R1",
            Some((1, 4)),
            "abc",
            vec![case("t", "x", Status::Passed)],
        );
        let dup = source(
            "dir-dup",
            "R1",
            Some((1, 4)),
            "abc",
            vec![case("t", "q", Status::Passed)],
        );
        let mut old = source(
            "dir-old",
            "R3",
            Some((2, 4)),
            "abc",
            vec![case("t", "o", Status::Passed)],
        );
        old.0.verify.schema_version = SCHEMA_VERSION + 1;
        let mut partial = source(
            "dir-partial",
            "R4",
            Some((3, 4)),
            "def",
            vec![case("t", "w", Status::Failed)],
        );
        partial.0.manifest = None;
        let m = fold_all(vec![a, dup, old, partial]);
        let all = m.doc.warnings.join("\n");
        assert!(
            all.contains("dir-dup: run id R1 was already merged"),
            "{all}"
        );
        assert!(all.contains("dir-old: schema version"), "{all}");
        assert!(all.contains("dir-partial: no manifest.json"), "{all}");
        // partial has no manifest, so its commit is unknown: no disagreement among the rest.
        assert!(!all.contains("different commits"), "{all}");
        assert_eq!(m.doc.missing_shards, vec![2, 4]);
        assert!(all.contains("missing shard(s) 2, 4 of 4"), "{all}");
        assert_eq!(m.verify.totals.tests, 2);
        assert_eq!(
            missing_shards(&m.verify),
            vec!["shard-2-of-4", "shard-4-of-4"]
        );
        assert_eq!(m.doc.skipped.len(), 2);
    }

    #[test]
    fn different_commits_warn() {
        let a = source("a", "R1", None, "abc", vec![]);
        let b = source("b", "R2", None, "def", vec![]);
        let m = fold_all(vec![a, b]);
        assert!(
            m.doc
                .warnings
                .iter()
                .any(|w| w.contains("different commits (a at abc, b at def)")),
            "{:?}",
            m.doc.warnings
        );
        assert_eq!(m.sha.as_deref(), Some("abc"));
    }

    /// A source as the old fold took it: its cases in memory.
    struct OldSource {
        label: String,
        verify: VerifyDoc,
        manifest: Option<ManifestInfo>,
        cases: Vec<Case>,
        findings: Vec<Finding>,
    }

    struct OldMerged {
        verify: VerifyDoc,
        cases: Vec<Case>,
        findings: Vec<Finding>,
        doc: MergeDoc,
        sha: Option<String>,
    }

    /// The fold as it was before it streamed (every case in memory), verbatim: the oracle.
    fn old_fold(sources: Vec<OldSource>, target: Target) -> OldMerged {
        let mut warnings = Vec::new();
        let mut skipped = Vec::new();
        let mut used: Vec<OldSource> = Vec::new();
        let mut ids = BTreeSet::new();
        for s in sources {
            let schema = s
                .manifest
                .as_ref()
                .map_or(s.verify.schema_version, |m| m.schema_version);
            if schema != SCHEMA_VERSION || s.verify.schema_version != SCHEMA_VERSION {
                skipped.push(format!(
                    "{}: schema version {schema} (this codeloop reads {SCHEMA_VERSION}); left out — produce every shard with the same codeloop version",
                    s.label
                ));
                continue;
            }
            if !ids.insert(s.verify.run_id.clone()) {
                skipped.push(format!(
                    "{}: run id {} was already merged from another directory (the same artifact downloaded twice?); left out",
                    s.label, s.verify.run_id
                ));
                continue;
            }
            if s.manifest.is_none() {
                warnings.push(format!(
                    "{}: no manifest.json, so this shard did not finish (interrupted, or its upload was cut); its results are merged as far as they go",
                    s.label
                ));
            }
            used.push(s);
        }
        // Commits: all sources should test the same one.
        let shas: BTreeSet<&str> = used
            .iter()
            .filter_map(|s| s.manifest.as_ref()?.sha.as_deref())
            .collect();
        if shas.len() > 1 {
            let list: Vec<String> = used
                .iter()
                .map(|s| {
                    format!(
                        "{} at {}",
                        s.label,
                        s.manifest
                            .as_ref()
                            .and_then(|m| m.sha.as_deref())
                            .unwrap_or("an unknown commit")
                    )
                })
                .collect();
            warnings.push(format!(
                "the shards tested different commits ({}); the merged counts mix them — download the run directories of one pipeline only",
                list.join(", ")
            ));
        }
        let sha = used.iter().find_map(|s| s.manifest.as_ref()?.sha.clone());

        // Shard coverage.
        let shards: Vec<Shard> = used
            .iter()
            .filter_map(|s| s.manifest.as_ref().and_then(|m| m.shard).or(s.verify.shard))
            .collect();
        let totals: BTreeSet<u32> = shards.iter().map(|s| s.total).collect();
        if totals.len() > 1 {
            warnings.push(format!(
                "the shards disagree on the shard count ({}); missing shards are counted against the largest",
                totals.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        let expected = totals.iter().max().copied();
        let mut missing = Vec::new();
        if let Some(n) = expected {
            let seen: BTreeSet<u32> = shards.iter().map(|s| s.index).collect();
            missing = (1..=n).filter(|k| !seen.contains(k)).collect();
            if !missing.is_empty() {
                warnings.push(format!(
                    "missing shard(s) {} of {n}: their jobs failed before writing a run, or their artifacts were not downloaded; the merged counts lack their tests",
                    missing.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                ));
            }
            let mut dup = BTreeSet::new();
            for s in &shards {
                if !dup.insert(s.index) {
                    warnings.push(format!(
                        "shard {}/{} appears more than once (a retried job?); its tests are counted once",
                        s.index, s.total
                    ));
                }
            }
        }

        // Cases: the j-th occurrence of a key in one source folds into the j-th merged one, so a
        // parametrized test repeated inside one shard stays repeated.
        let mut cases: Vec<Case> = Vec::new();
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        let mut findings: Vec<Finding> = Vec::new();
        let mut seen_findings: HashMap<String, usize> = HashMap::new();
        let mut runners: Vec<RunnerResult> = Vec::new();
        let mut slowest: Vec<SlowTest> = Vec::new();
        let mut sources_doc = Vec::new();
        for s in used {
            let shard = s.manifest.as_ref().and_then(|m| m.shard).or(s.verify.shard);
            let (ran, failed) = shard_runners(&s.verify);
            let label = shard_label(shard, &s.verify.run_id);
            sources_doc.push(MergedSource {
                dir: s.label.clone(),
                run_id: s.verify.run_id.clone(),
                shard,
                sha: s.manifest.as_ref().and_then(|m| m.sha.clone()),
                complete: s.manifest.is_some(),
                runners: ran,
                failed,
                counts: s.verify.totals,
                duration: s
                    .verify
                    .runners
                    .iter()
                    .map(|r| r.duration)
                    .fold(0.0, f64::max),
            });
            let mut local: HashMap<String, usize> = HashMap::new();
            for c in s.cases {
                let key = c.key();
                let n = local.entry(key.clone()).or_insert(0);
                let slots = index.entry(key).or_default();
                if let Some(&i) = slots.get(*n) {
                    fold_case(&mut cases[i], c);
                } else {
                    slots.push(cases.len());
                    cases.push(c);
                }
                *n += 1;
            }
            // Findings: identical ones (same runner, rule, place, message) are one finding.
            let mut local_f: HashMap<String, usize> = HashMap::new();
            for f in s.findings {
                let key = serde_json::to_string(&f).unwrap_or_default();
                let n = local_f.entry(key.clone()).or_insert(0);
                let have = seen_findings.entry(key).or_insert(0);
                if *n >= *have {
                    findings.push(f);
                    *have += 1;
                }
                *n += 1;
            }
            for mut r in s.verify.runners {
                tag_runner(&mut r, &label);
                match runners.iter_mut().find(|x| x.id == r.id) {
                    Some(a) => fold_runner(a, r),
                    None => runners.push(r),
                }
            }
            slowest.extend(s.verify.slowest);
        }
        // Counts from the merged cases and findings.
        let mut by_runner: HashMap<&str, (Counts, LintCounts)> = HashMap::new();
        for c in &cases {
            by_runner
                .entry(c.runner.as_str())
                .or_default()
                .0
                .add_case(c.status, c.flaky);
        }
        for f in &findings {
            by_runner
                .entry(f.runner.as_str())
                .or_default()
                .1
                .add_finding(f.severity);
        }
        for r in &mut runners {
            let (c, l) = by_runner.get(r.id.as_str()).copied().unwrap_or_default();
            r.counts = c;
            r.lint = l;
        }
        for k in &missing {
            let n = expected.unwrap_or(0);
            let mut r = RunnerResult {
                shards: Vec::new(),
                candidates: Vec::new(),
                id: format!("{MISSING_SHARD_PREFIX}{k}-of-{n}"),
                kind: RunnerKind::Test,
                source: RunnerSource::Collect,
                command: None,
                cwd: None,
                status: RunnerStatus::Skipped,
                exit_code: None,
                signal: None,
                duration: 0.0,
                hint: None,
                counts: Counts::default(),
                lint: LintCounts::default(),
                result_files: Vec::new(),
                parse_errors: Vec::new(),
                warnings: Vec::new(),
                suite_errors: Vec::new(),
                stdout_log: None,
                stderr_log: None,
                depends_on: Vec::new(),
                limits: None,
            };
            r.hint = Some(format!(
                "shard {k}/{n} sent no run directory: its job failed before writing one, or its artifact was not downloaded"
            ));
            runners.push(r);
        }
        let mut totals = Counts::default();
        let mut lint = LintCounts::default();
        for r in &runners {
            totals.add(&r.counts);
            lint.add(&r.lint);
        }
        slowest.sort_by(|a, b| b.duration.total_cmp(&a.duration).then(a.id.cmp(&b.id)));
        slowest.dedup_by(|a, b| a.id == b.id && a.runner == b.runner);
        slowest.truncate(crate::parsers::collect::SLOWEST_N);
        let interrupted = runners
            .iter()
            .any(|r| r.status == RunnerStatus::Interrupted);
        let all_passed = runners
            .iter()
            .all(|r| matches!(r.status, RunnerStatus::Passed | RunnerStatus::Skipped));
        let status = if interrupted {
            RunStatus::Interrupted
        } else if all_passed {
            RunStatus::Passed
        } else {
            RunStatus::Failed
        };
        for w in &skipped {
            warnings.push(w.clone());
        }
        let verify = VerifyDoc {
            schema_version: SCHEMA_VERSION,
            run_id: target.run_id.clone(),
            started_at: target.started_at,
            finished_at: target.finished_at,
            status,
            cwd: target.cwd,
            shard: None,
            runners,
            totals,
            lint,
            slowest,
        };
        OldMerged {
            verify,
            cases,
            findings,
            doc: MergeDoc {
                schema_version: SCHEMA_VERSION,
                run_id: target.run_id,
                sources: sources_doc,
                skipped,
                expected_shards: expected,
                missing_shards: missing,
                warnings,
            },
            sha,
        }
    }

    fn json<T: Serialize>(v: &T) -> String {
        serde_json::to_string(v).unwrap()
    }

    /// The streaming fold and the old one agree on everything merge writes: verify.json
    /// (counts, runner statuses), merge.json, findings, the commit, and the merged cases as a
    /// multiset (statuses, flaky flags, retries, durations); the order may differ only for
    /// tests seen by more than one source.
    fn assert_same_as_old(sources: Vec<(Source, Vec<Case>)>) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for c in sources.iter().flat_map(|(_, c)| c) {
            *seen.entry(c.key()).or_default() += 1;
        }
        let once_keys: HashSet<String> = seen
            .into_iter()
            .filter(|(_, n)| *n == 1)
            .map(|(k, _)| k)
            .collect();
        let old_sources: Vec<OldSource> = sources
            .iter()
            .map(|(s, c)| OldSource {
                label: s.label.clone(),
                verify: s.verify.clone(),
                manifest: s.manifest.clone(),
                cases: c.clone(),
                findings: s.findings.clone(),
            })
            .collect();
        let old = old_fold(old_sources, target());
        let (s, c) = sources.into_iter().unzip();
        let (new, cases) = fold(s, c, target());
        assert_eq!(json(&new.verify), json(&old.verify));
        assert_eq!(json(&new.doc), json(&old.doc));
        assert_eq!(json(&new.findings), json(&old.findings));
        assert_eq!(new.sha, old.sha);
        let mut a: Vec<String> = cases.iter().map(json).collect();
        let mut b: Vec<String> = old.cases.iter().map(json).collect();
        a.sort();
        b.sort();
        assert_eq!(a.len(), b.len());
        assert_eq!(a, b);
        // Tests seen once keep their relative order.
        let once = |cs: &[Case]| -> Vec<String> {
            cs.iter()
                .filter(|c| once_keys.contains(&c.key()))
                .map(json)
                .collect()
        };
        assert_eq!(once(&cases), once(&old.cases));
        let t = new.verify.totals;
        assert_eq!(t.tests, cases.len() as u64);
        assert_eq!(t.flaky, cases.iter().filter(|c| c.flaky).count() as u64);
    }

    fn fixtures() -> Vec<Vec<(Source, Vec<Case>)>> {
        let mut out = Vec::new();
        // counts_add_and_a_test_in_two_shards_counts_once_flaky
        out.push(vec![
            source(
                "a",
                "R1",
                Some((1, 2)),
                "abc",
                vec![
                    case("t", "x", Status::Passed),
                    case("t", "y", Status::Failed),
                ],
            ),
            source(
                "b",
                "R2",
                Some((2, 2)),
                "abc",
                vec![
                    case("t", "y", Status::Passed),
                    case("t", "z", Status::Skipped),
                ],
            ),
        ]);
        // repeated_names_inside_one_shard_stay_separate
        out.push(vec![source(
            "a",
            "R1",
            None,
            "abc",
            vec![
                case("t", "p", Status::Passed),
                case("t", "p", Status::Passed),
            ],
        )]);
        // bad_sources_are_named_and_the_rest_merged
        let mut old = source(
            "dir-old",
            "R3",
            Some((2, 4)),
            "abc",
            vec![case("t", "o", Status::Passed)],
        );
        old.0.verify.schema_version = SCHEMA_VERSION + 1;
        let mut partial = source(
            "dir-partial",
            "R4",
            Some((3, 4)),
            "def",
            vec![case("t", "w", Status::Failed)],
        );
        partial.0.manifest = None;
        out.push(vec![
            source(
                "dir-a",
                "R1",
                Some((1, 4)),
                "abc",
                vec![case("t", "x", Status::Passed)],
            ),
            source(
                "dir-dup",
                "R1",
                Some((1, 4)),
                "abc",
                vec![case("t", "q", Status::Passed)],
            ),
            old,
            partial,
        ]);
        // different_commits_warn
        out.push(vec![
            source("a", "R1", None, "abc", vec![]),
            source("b", "R2", None, "def", vec![]),
        ]);
        out
    }

    #[test]
    fn streamed_fold_matches_the_old_fold_on_the_fixtures() {
        for f in fixtures() {
            assert_same_as_old(f);
        }
    }

    /// Deterministic pseudo-random cases (xorshift): few names, so that tests repeat across
    /// shards and inside one shard, over two runners, with every status, incoming flaky flags,
    /// retries, missing durations and classname-less (suite path) cases.
    fn random_sources(
        seed: u64,
        n_sources: usize,
        per: usize,
        names: u64,
    ) -> Vec<(Source, Vec<Case>)> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::new();
        for k in 0..n_sources {
            let mut cases = Vec::new();
            for _ in 0..per {
                let n = next() % names;
                let runner = if n.is_multiple_of(5) { "u" } else { "t" };
                let status = match next() % 7 {
                    0 => Status::Failed,
                    1 => Status::Errored,
                    2 => Status::Skipped,
                    _ => Status::Passed,
                };
                let mut c = case(runner, &format!("test_{n}"), status);
                if n.is_multiple_of(3) {
                    c.suite = vec!["outer".into(), format!("mod{}", n % 4)];
                } else {
                    c.classname = Some(format!("pkg.C{}", n % 6));
                }
                c.flaky = next() % 11 == 0;
                c.retries = u32::try_from(next() % 3).unwrap();
                c.duration = (next() % 4 != 0).then(|| (next() % 1000) as f64 / 1000.0);
                if matches!(status, Status::Failed | Status::Errored) {
                    c.failure = Some(crate::model::Failure {
                        message: Some(format!("boom {}", next() % 3)),
                        ..Default::default()
                    });
                }
                cases.push(c);
            }
            let mut s = source(
                &format!("dir-{k}"),
                &format!("R{k}"),
                Some((
                    u32::try_from(k).unwrap() + 1,
                    u32::try_from(n_sources).unwrap() + 1,
                )),
                "abc",
                cases,
            );
            s.0.verify.runners.push(runner("u", RunnerStatus::Passed));
            s.0.findings = (0..next() % 4)
                .map(|i| {
                    serde_json::from_value(serde_json::json!({
                        "runner": "t", "tool": "lint", "rule": format!("r{i}"),
                        "severity": if i % 2 == 0 { "warning" } else { "error" },
                        "message": format!("m{}", i % 2),
                    }))
                    .unwrap()
                })
                .collect();
            out.push(s);
        }
        out
    }

    #[test]
    fn streamed_fold_matches_the_old_fold_with_duplicates_across_and_inside_shards() {
        for seed in 1..=20u64 {
            assert_same_as_old(random_sources(seed * 7919, 4, 200, 150));
        }
        // Many repeats inside one shard, and a single shard.
        assert_same_as_old(random_sources(42, 1, 500, 40));
        assert_same_as_old(random_sources(43, 3, 300, 20));
    }

    /// Pass 2 fed line by line ([`CaseFolder::take`], unreadable lines among them) and fed
    /// whole cases ([`CaseFolder::case`], a file changed since pass 1) merge the same cases
    /// in the same order, with the same counts.
    #[test]
    fn lines_and_whole_cases_fold_alike_and_unreadable_lines_are_skipped() {
        fn json_all(v: &[Case]) -> Vec<String> {
            v.iter().map(json).collect()
        }
        for seed in 1..=8u64 {
            let sources: Vec<Vec<Case>> = random_sources(seed * 104_729, 3, 250, 70)
                .into_iter()
                .map(|(_, c)| c)
                .collect();
            // Every 7th line of each source is unreadable to pass 1.
            let bad = |i: usize| i % 7 == 3;
            let mut census = Census::default();
            for s in &sources {
                census.source();
                for (i, c) in s.iter().enumerate() {
                    if bad(i) {
                        census.unreadable();
                    } else {
                        census.key(key_hash(c));
                    }
                }
            }
            let mut by_line = census.into_folder();
            let mut a = Vec::new();
            for s in &sources {
                by_line.source();
                for (i, c) in s.iter().enumerate() {
                    match by_line.take() {
                        Take::Skip => assert!(bad(i), "line {i} skipped"),
                        Take::Plain => {
                            assert!(!bad(i));
                            by_line.plain(c);
                            a.push(c.clone());
                        }
                        Take::Fold(id) => {
                            assert!(!bad(i));
                            assert_ne!(id, 0);
                            by_line.fold(id, c.clone(), |c| a.push(c.clone()));
                        }
                    }
                }
            }
            let counts_a = by_line.finish(|c| a.push(c.clone()));
            let mut census = Census::default();
            for s in &sources {
                census.source();
                for (i, c) in s.iter().enumerate() {
                    if !bad(i) {
                        census.key(key_hash(c));
                    }
                }
            }
            let mut whole = census.into_folder();
            let mut b = Vec::new();
            for s in &sources {
                whole.source();
                for (i, c) in s.iter().enumerate() {
                    if !bad(i) {
                        whole.case(c.clone(), |c| b.push(c.clone()));
                    }
                }
            }
            let counts_b = whole.finish(|c| b.push(c.clone()));
            assert_eq!(json_all(&a), json_all(&b), "seed {seed}");
            assert!(a.len() < sources.iter().map(Vec::len).sum::<usize>());
            for r in ["t", "u"] {
                assert_eq!(
                    json(&counts_a.get(r)),
                    json(&counts_b.get(r)),
                    "seed {seed}, runner {r}"
                );
            }
        }
    }

    #[test]
    fn a_test_seen_once_is_emitted_at_once_and_a_duplicate_at_its_last_occurrence() {
        let a = source(
            "a",
            "R1",
            None,
            "abc",
            vec![
                case("t", "x", Status::Failed),
                case("t", "p", Status::Passed),
                case("t", "p", Status::Failed),
            ],
        );
        let b = source(
            "b",
            "R2",
            None,
            "abc",
            vec![
                case("t", "y", Status::Passed),
                case("t", "x", Status::Passed),
            ],
        );
        let (s, c) = vec![a, b].into_iter().unzip();
        let (m, cases) = fold(s, c, target());
        let got: Vec<(&str, Status, bool)> = cases
            .iter()
            .map(|c| (c.name.as_str(), c.status, c.flaky))
            .collect();
        assert_eq!(
            got,
            vec![
                ("p", Status::Passed, false),
                ("p", Status::Failed, false),
                ("y", Status::Passed, false),
                ("x", Status::Failed, true),
            ]
        );
        assert_eq!(m.verify.totals.tests, 4);
        assert_eq!(m.verify.totals.flaky, 1);
    }

    #[test]
    fn the_key_hash_is_the_hash_of_case_key() {
        let mut shapes = Vec::new();
        for runner in ["", "t"] {
            for classname in [None, Some(""), Some("pkg.C"), Some("n")] {
                for suite in [
                    vec![],
                    vec!["a".to_string(), "b".to_string()],
                    vec!["n".to_string()],
                ] {
                    let mut c = Case::new("n", Status::Passed);
                    if suite.len() == 2 {
                        // Every field a case line can carry, around the key's.
                        c.file = Some("src/a.rs".into());
                        c.line = Some(12);
                        c.status = Status::Errored;
                        c.flaky = true;
                        c.retries = 2;
                        c.duration = Some(0.5);
                        c.failure = Some(crate::model::Failure {
                            message: Some("boom \"q\"".into()),
                            ..Default::default()
                        });
                        c.output = Some("out\n".into());
                    }
                    c.runner = runner.into();
                    c.classname = classname.map(str::to_string);
                    c.suite = suite;
                    shapes.push(c);
                }
            }
        }
        // Texts with escapes (the key reader owns those instead of borrowing them).
        let mut c = Case::new("q\"uote\\d\n", Status::Failed);
        c.runner = "r\u{1}".into();
        c.suite = vec!["s\t".into(), "é".into()];
        shapes.push(c.clone());
        c.classname = Some("pkg.\"C\"".into());
        shapes.push(c);
        let mut seen = HashSet::new();
        for c in &shapes {
            let want = first_128(&Sha256::digest(c.key().as_bytes()));
            assert_eq!(key_hash(c), want, "{}", c.key());
            let line = json(c);
            let k: CaseKey = serde_json::from_str(&line).unwrap();
            assert_eq!(k.hash(), want, "{}", c.key());
            // The line read without serde: the same key, whenever the key has no escapes.
            let fast = CaseKey::written(&line);
            let escaped = line[..line.find("\"status\"").unwrap()].contains('\\');
            assert_eq!(fast.is_none(), escaped, "{line}");
            let of_line = CaseKey::of_line(&line).unwrap();
            assert_eq!(
                (
                    of_line.hash(),
                    of_line.status,
                    &of_line.suite,
                    &of_line.classname
                ),
                (want, k.status, &k.suite, &k.classname),
                "{line}"
            );
            seen.insert((c.key(), want));
        }
        // Lines in another layout, or not cases at all: serde decides, as before.
        for (line, key) in [
            (r#"{ "name": "n", "status": "failed" }"#, Some("n")),
            (r#"{"status":"failed","name":"n"}"#, Some("n")),
            // Only the start is read: pass 2, which reads lines whole, leaves this one out.
            (r#"{"name":"n","status":"failed","name":"m"}"#, Some("n")),
            (r#"{"runner":"t","status":"passed"}"#, None),
            (r#"{"name":"n","status":"green"}"#, None),
            (r#"{"name":"n","duration":1,"status":"passed"}"#, Some("n")),
            (r#"{"name":"n","line":"7","status":"passed"}"#, Some("n")),
            (r#"{"name":"n""#, None),
            ("", None),
        ] {
            let got = CaseKey::of_line(line);
            assert_eq!(got.as_ref().map(|k| &*k.name), key, "{line}");
            let got = got.map(|k| k.status);
            match serde_json::from_str::<CaseKey>(line) {
                Ok(want) => assert_eq!(got, Some(want.status), "{line}"),
                Err(_) => assert!(serde_json::from_str::<Case>(line).is_err(), "{line}"),
            }
        }
        // A whole line reads as a CaseLine exactly when it reads as a Case (pass 2 counts the
        // lines it writes as they are from the CaseLine): every field of a full case given
        // every kind of JSON value, missing, twice, or unknown.
        let full = r#"{"runner":"r","suite":["a","b\"c"],"classname":"C","name":"n","file":"f.rs","line":7,"status":"failed","flaky":true,"retries":2,"duration":0.5,"failure":{"kind":"K","message":"m","trace":"t\nu"},"output":"o","skip_reason":"s"}"#;
        let values = [
            "null",
            "1",
            "-1",
            "1.5",
            "4294967296",
            "true",
            "\"passed\"",
            "\"x\"",
            "\"\\ud800\"",
            "[]",
            "[\"x\"]",
            "[1]",
            "{}",
            "{\"message\":\"m\"}",
            "{\"message\":3}",
            "{\"kind\":null,\"trace\":\"t\"}",
        ];
        let fields = CASE_FIELDS;
        let doc: serde_json::Map<String, serde_json::Value> = serde_json::from_str(full).unwrap();
        let mut lines = vec![
            full.to_string(),
            r#"{"name":"n","status":"skipped"}"#.into(),
        ];
        for f in fields {
            for v in values {
                let mut d = doc.clone();
                d.insert(
                    f.into(),
                    serde_json::from_str(v).unwrap_or(serde_json::Value::Null),
                );
                lines.push(serde_json::to_string(&d).unwrap());
                // The raw value put in front as well: the field twice (serde_json::Value
                // would not keep a lone surrogate escape either).
                lines.push(format!("{}\"{f}\":{v},{}", &full[..1], &full[1..]));
                lines.push(format!(r#"{{"name":"n","status":"passed","{f}":{v}}}"#));
            }
            let mut d = doc.clone();
            d.remove(f);
            lines.push(serde_json::to_string(&d).unwrap());
        }
        lines.push(full.replace("\"name\":\"n\"", "\"name\":\"n\",\"extra\":[1,{}]"));
        // The one-pass reader of written lines is sound: what it reads, serde reads the
        // same. It must read the lines Case::write_json writes (or it saves nothing).
        let plain = r#"{"runner":"r","suite":["a","b"],"classname":"C","name":"n","file":"f.rs","line":7,"status":"failed","flaky":true,"retries":2,"duration":0.5,"failure":{"kind":"K","message":"m","trace":"t"},"output":"o","skip_reason":"s"}"#;
        let mut fast = 0;
        let mut tried = lines.clone();
        tried.push(plain.to_string());
        for c in [
            serde_json::from_str::<Case>(plain).unwrap(),
            Case::new("n", Status::Passed),
        ] {
            let mut b = Vec::new();
            c.write_json(&mut b);
            tried.push(String::from_utf8(b).unwrap());
        }
        // Each field of the plain line given each value, each number in other spellings, a
        // byte cut off or added at each place.
        for f in fields {
            let at = plain.find(&format!("\"{f}\":")).unwrap() + f.len() + 3;
            let end = at + plain[at..].find([',', '}']).unwrap_or(0);
            for v in values.iter().chain(&[
                "0",
                "01",
                "-0",
                "1e3",
                "1E+3",
                "2.",
                ".5",
                "-",
                "1e400",
                "4294967295",
                "false",
                "\"a\tb\"",
                "\"\t\"",
                // Escaped strings: serde reads them (or refuses them), never the one pass.
                r#""a\"b""#,
                r#""line\nbreak \u00e9 \ud83d\ude00 \/""#,
                r#""ends in a backslash\\""#,
                r#""\\\"""#,
                r#""\ud83d lone""#,
                r#""\x bad""#,
                r#""\u12""#,
                r#""open \""#,
                "\"esc\\n and raw\ttab\"",
                r#"["a\"b","c\\"]"#,
                "[\"a\",]",
                "{\"kind\":\"k\",\"kind\":\"k\"}",
                "{\"trace\":\"t\",\"kind\":\"k\"}",
                "{\"other\":\"x\"}",
            ]) {
                tried.push(format!("{}{v}{}", &plain[..at], &plain[end..]));
            }
        }
        for i in 0..plain.len() {
            tried.push(format!("{}{}", &plain[..i], &plain[i + 1..]));
            tried.push(format!("{} {}", &plain[..i], &plain[i..]));
        }
        tried.push(format!("{plain} "));
        // Numbers past f64's range with no exponent, and just inside it.
        for digits in [300, 308, 309, 400] {
            let big = format!("1{}", "0".repeat(digits));
            tried.push(plain.replace("\"duration\":0.5", &format!("\"duration\":{big}")));
            tried.push(plain.replace("\"duration\":0.5", &format!("\"duration\":-{big}.5")));
        }
        tried.push(plain.replace("\"name\":\"n\",", ""));
        tried.push(plain.replace("\"status\":\"failed\",", ""));
        for line in &tried {
            let case = serde_json::from_str::<Case>(line);
            let read = serde_json::from_str::<CaseLine>(line);
            assert_eq!(case.is_ok(), read.is_ok(), "{line}");
            if let (Ok(c), Ok(l)) = (&case, read) {
                assert_eq!(
                    (c.runner.as_str(), c.status, c.flaky),
                    (&*l.runner, l.status, l.flaky)
                );
                // What the digest is fed of a borrowed line is the case itself.
                assert_eq!(&l.view(&l.suite_parts()).to_case(), c, "{line}");
            }
            if let Some(counted) = CaseLine::counted(line) {
                fast += 1;
                let c = case.as_ref().unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(counted, (c.runner.as_str(), c.status, c.flaky), "{line}");
            }
            // The whole line read in one pass is the case serde reads, to the duration's bit.
            let laid = CaseLine::laid_out(line);
            assert_eq!(laid.is_some(), CaseLine::counted(line).is_some(), "{line}");
            if let Some(l) = laid {
                let c = case.as_ref().unwrap_or_else(|e| panic!("{line}: {e}"));
                assert_eq!(&l.view(&l.suite_parts()).to_case(), c, "{line}");
                assert_eq!(
                    l.duration.map(f64::to_bits),
                    c.duration.map(f64::to_bits),
                    "{line}"
                );
            }
        }
        assert!(CaseLine::counted(plain).is_some());
        assert!(CaseLine::laid_out(plain).is_some());
        assert!(fast > 60, "{fast}");
        // Equal keys, equal hashes; different keys, different hashes.
        let keys: HashSet<&String> = seen.iter().map(|(k, _)| k).collect();
        let hashes: HashSet<u128> = seen.iter().map(|(_, h)| *h).collect();
        assert_eq!(keys.len(), hashes.len());
        assert_ne!(identity(7, 1), identity(7, 2));
        assert_eq!(identity(7, 0), 7);
    }
}
