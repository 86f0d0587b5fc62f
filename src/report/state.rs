//! The comment's hidden markers and compact state.
//!
//! The first line of every comment is the versioned marker `<!-- codeloop-verify:v1 ... -->`
//! that publishers look for to find their sticky comment; the last line carries the state the
//! next run needs for its deltas (score, verdict, counts, failing test keys), as JSON, deflated
//! and base64-encoded: `<!-- codeloop-verify:state:v1 <base64> -->`. Both are written by code,
//! never by a template, and untrusted text can never contain `<` (see [`super::escape`]), so
//! a test named like the marker cannot spoof either line.
//!
//! The state is bounded ([`MAX_STATE_CHARS`]), and keys longer than [`MAX_KEY_CHARS`] are
//! replaced by a hash, so a 100 KB test name costs 20 bytes. [`state_key`] is the same
//! transform for the current run, so deltas compare like with like. When the failing keys do
//! not all fit by name, the state says so (`cut: true`, `failing_total`) and carries every
//! failing key as a compact hash set instead ([`KeyHashes`]: 64-bit hashes cut to
//! log2(n) + [`HASH_FP_BITS`] bits, Golomb-Rice coded, about 3.4 bytes a key, so a 12,000-char
//! state holds some 2,500 failures), with as many names as still fit beside it (they name
//! the fixed tests). A failure in neither the names nor the hashes of a state that does not
//! cover every failure is *unknown*, never *new* ([`HiddenState::was_failing`]). States
//! written before the hash set existed (names only, `failing_total` larger) are read the
//! same way: what they do not list is unknown.

use std::collections::HashSet;
use std::io::{Read, Write};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::{Counts, Delta};

/// Start of the first line of every comment codeloop writes.
pub const MARKER: &str = "<!-- codeloop-verify:v1";
/// Start of the state line.
pub const STATE_PREFIX: &str = "<!-- codeloop-verify:state:v1 ";
/// Upper bound of the whole state line, in chars.
pub const MAX_STATE_CHARS: usize = 12_000;
/// Keys longer than this are stored as a hash.
pub const MAX_KEY_CHARS: usize = 160;
/// Compressed JSON bigger than this is never decoded (a zip bomb in a comment).
const MAX_DECODED_BYTES: u64 = 4 * 1024 * 1024;

/// What one run leaves in its comment for the next one.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct HiddenState {
    /// State format version.
    pub v: u32,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    pub counts: Counts,
    /// Failing (failed or errored) test keys, normalized with [`state_key`].
    pub failing: Vec<String>,
    /// How many tests were failing, listed or not.
    pub failing_total: u64,
    /// `failing` does not name every failing test (it was cut to fit).
    #[serde(default, skip_serializing_if = "is_false")]
    pub cut: bool,
    /// With `cut`: every failing key (or as many as fit, see [`KeyHashes::keys`]) as hashes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_hashes: Option<KeyHashes>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Bits of each hash kept beyond log2(n): a key that is not in a set of n hashed keys is
/// taken for one of them with odds of 1 in 2^24 (16.7 million).
pub const HASH_FP_BITS: u32 = 24;
/// More hashed keys than this in a state are damage, not data.
const MAX_HASHED: u64 = 1_000_000;

/// A compact set of failing keys: each key's 64-bit hash (the first 8 bytes of SHA-256 of
/// its [`state_key`]), cut to its top `b` bits, sorted, and the gaps Golomb-Rice coded
/// with parameter `k` (the set a Golomb-coded-set filter stores; BIP 158 uses the same).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct KeyHashes {
    /// How many failing keys were hashed (the first ones of the run, in importance order).
    pub keys: u64,
    /// How many distinct hash values are coded.
    pub n: u64,
    /// Bits of each 64-bit hash kept (the top ones).
    pub b: u32,
    /// Golomb-Rice parameter: the low `k` bits of each gap are written as they are.
    pub k: u32,
    /// The coded gaps, base64.
    pub d: String,
}

/// The 64-bit hash of a state key: the first 8 bytes of its SHA-256.
pub fn hash64(state_key: &str) -> u64 {
    let h = Sha256::digest(state_key.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[..8]);
    u64::from_be_bytes(b)
}

fn top_bits(h: u64, b: u32) -> u64 {
    if b >= 64 { h } else { h >> (64 - b) }
}

impl KeyHashes {
    /// Hashes `keys` (already [`state_key`]s).
    pub fn build(keys: &[String]) -> KeyHashes {
        Self::of_hashes(keys.iter().map(|k| hash64(k)).collect())
    }

    /// [`KeyHashes::build`] from the keys' [`hash64`]s, in the keys' order.
    fn of_hashes(hashes: Vec<u64>) -> KeyHashes {
        let keys = hashes.len() as u64;
        let mut v = hashes;
        v.sort_unstable();
        v.dedup();
        let n = v.len() as u64;
        let log2n = if n == 0 { 0 } else { 64 - n.leading_zeros() };
        let b = (log2n + HASH_FP_BITS).min(64);
        let mut v: Vec<u64> = v.into_iter().map(|h| top_bits(h, b)).collect();
        v.dedup();
        // The mean gap is 2^b / n: its log2 is the best Rice parameter.
        let k = b.saturating_sub(log2n).min(63);
        let mut w = BitWriter::default();
        let mut prev = 0u64;
        for x in &v {
            let gap = x - prev;
            prev = *x;
            let q = gap >> k;
            for _ in 0..q {
                w.bit(true);
            }
            w.bit(false);
            for i in (0..k).rev() {
                w.bit(gap >> i & 1 == 1);
            }
        }
        KeyHashes {
            keys,
            n: v.len() as u64,
            b,
            k,
            d: base64::engine::general_purpose::STANDARD.encode(w.finish()),
        }
    }

    /// The hash values, sorted (Err: the set is damaged).
    pub fn decode(&self) -> Result<HashSet64, StateError> {
        let bad = |m: &str| StateError::Damaged(format!("failing_hashes: {m}"));
        if !(1..=64).contains(&self.b) || self.k > 63 || self.n > MAX_HASHED {
            return Err(bad("bad parameters"));
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.d)
            .map_err(|e| bad(&format!("not base64: {e}")))?;
        let mut r = BitReader {
            bytes: &bytes,
            at: 0,
        };
        let mut values = Vec::with_capacity(self.n as usize);
        let mut prev = 0u64;
        for _ in 0..self.n {
            let mut q = 0u64;
            while r.bit().ok_or_else(|| bad("ends early"))? {
                q += 1;
            }
            let mut low = 0u64;
            for _ in 0..self.k {
                low = low << 1 | u64::from(r.bit().ok_or_else(|| bad("ends early"))?);
            }
            let gap = q
                .checked_shl(self.k)
                .filter(|g| g >> self.k == q)
                .ok_or_else(|| bad("gap overflows"))?
                | low;
            prev = prev
                .checked_add(gap)
                .ok_or_else(|| bad("value overflows"))?;
            values.push(prev);
        }
        Ok(HashSet64 { b: self.b, values })
    }
}

/// Decoded [`KeyHashes`]: is a key (probably) in the set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HashSet64 {
    b: u32,
    values: Vec<u64>,
}

impl HashSet64 {
    /// Whether the [`state_key`] `key` is in the set (false positives: 1 in 2^24).
    pub fn contains(&self, state_key: &str) -> bool {
        self.values
            .binary_search(&top_bits(hash64(state_key), self.b))
            .is_ok()
    }
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    bits: u32,
}

impl BitWriter {
    fn bit(&mut self, one: bool) {
        if self.bits.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if one && let Some(last) = self.bytes.last_mut() {
            *last |= 0x80 >> (self.bits % 8);
        }
        self.bits += 1;
    }
    fn finish(self) -> Vec<u8> {
        self.bytes
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl BitReader<'_> {
    fn bit(&mut self) -> Option<bool> {
        let byte = self.bytes.get(self.at / 8)?;
        let one = byte & (0x80 >> (self.at % 8)) != 0;
        self.at += 1;
        Some(one)
    }
}

/// What a state knows about the previous run's failing tests, ready for lookups.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnownFailing {
    /// The hash set of a cut state (`None`: the names are all there is).
    pub hashes: Option<HashSet64>,
    /// Whether names and hashes together cover every failing test of that run.
    pub complete: bool,
    /// How many failing tests the run had.
    pub total: u64,
}

impl HiddenState {
    /// What this state knows beyond its names, for [`HiddenState::was_failing`]-style
    /// lookups; a damaged hash set counts as absent (so those failures are unknown).
    pub fn known_failing(&self) -> KnownFailing {
        let listed = self.failing.len() as u64;
        let hashes = self.failing_hashes.as_ref().and_then(|h| h.decode().ok());
        let hashed = match (&hashes, &self.failing_hashes) {
            (Some(_), Some(h)) => h.keys,
            _ => 0,
        };
        KnownFailing {
            complete: (!self.cut && listed >= self.failing_total) || hashed >= self.failing_total,
            hashes,
            total: self.failing_total,
        }
    }
}

impl KnownFailing {
    /// Whether the run of the state had `state_key` failing: `Some(true)` listed or hashed,
    /// `Some(false)` when the state covers every failure and it is not there, `None` when
    /// the state was cut and does not say (unknown: never a new failure).
    pub fn was_failing(&self, listed: bool, state_key: &str) -> Option<bool> {
        if listed || self.hashes.as_ref().is_some_and(|h| h.contains(state_key)) {
            Some(true)
        } else if self.complete {
            Some(false)
        } else {
            None
        }
    }
}

/// Errors reading a state back from a comment.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum StateError {
    #[error("no codeloop state line (`{STATE_PREFIX}...-->`) in the comment")]
    Missing,
    #[error("the codeloop state in the comment is damaged: {0}")]
    Damaged(String),
    #[error("the codeloop state has version {0}, newer than this codeloop understands")]
    Newer(u32),
}

/// A test key as the state stores it: itself when short, a hash when long.
pub fn state_key(key: &str) -> String {
    if key.chars().count() <= MAX_KEY_CHARS {
        key.to_string()
    } else {
        let h = Sha256::digest(key.as_bytes());
        let hex: String = h.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }
}

fn compress(state: &HiddenState) -> String {
    // Without a budget nothing stops early.
    compress_within(state, usize::MAX).unwrap_or_default()
}

/// A state whose compressed text would pass the budget: how long it would be, estimated
/// from the part compressed before stopping.
#[derive(Debug)]
struct Oversize {
    b64_estimate: usize,
}

/// The state compressed and base64-encoded, or, as soon as the compressed bytes show it
/// cannot fit in `max_b64` chars, an estimate of its full length (a state of 10,000 failing
/// names is not compressed whole at the best level just to learn that it does not fit).
fn compress_within(state: &HiddenState, max_b64: usize) -> Result<String, Oversize> {
    let json = serde_json::to_vec(state).unwrap_or_default();
    let cap = max_b64 / 4 * 3;
    // Far more JSON than room (JSON of test names compresses about 4 to 10 times): the
    // output is flushed after every piece so that what it holds so far is exact (deflate
    // otherwise holds back up to a block), which stops a state that cannot fit early and
    // estimates it well. The flush markers add a few bytes a piece and keep a valid stream.
    let probe = json.len() / 4 > cap;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    for (i, piece) in json.chunks(PIECE).enumerate() {
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(piece);
        if !probe {
            continue;
        }
        let _ = enc.flush();
        let out = enc.get_ref().len();
        if out > cap {
            let fed = ((i + 1) * PIECE).min(json.len());
            let estimate = (out as f64 * json.len() as f64 / fed as f64) as usize;
            return Err(Oversize {
                b64_estimate: estimate.div_ceil(3) * 4,
            });
        }
    }
    let bytes = enc.finish().unwrap_or_default();
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// Bytes of state JSON compressed between two looks at the output.
const PIECE: usize = 16 * 1024;

/// The state line (without a trailing newline), within [`MAX_STATE_CHARS`]: every failing
/// key by name when they fit; else every key hashed ([`KeyHashes`]) plus the first names
/// (the caller sorts by importance) that still fit, with `cut: true`.
pub fn encode(state: &HiddenState) -> String {
    encode_within(state, MAX_STATE_CHARS)
}

fn line_of(s: &HiddenState) -> String {
    format!("{STATE_PREFIX}{} -->", compress(s))
}

/// Cuts `list` (through `set`) until `make()` fits in `max` chars; returns the line.
fn shrink<T: Clone>(
    s: &mut HiddenState,
    max: usize,
    all: &[T],
    set: impl Fn(&mut HiddenState, &[T]),
) -> String {
    let frame = STATE_PREFIX.len() + " -->".len();
    // What every attempt carries (score, counts, and the hashes while names are cut): the
    // items add about the same length each on top of it, so a miss aims at the budget
    // from this base and the length per item (two or three tries, not one per 10% cut).
    set(s, &all[..0]);
    let base = frame + compress(s).len();
    let mut n = all.len();
    loop {
        set(s, &all[..n]);
        let len = match compress_within(s, max.saturating_sub(frame)) {
            Ok(b64) if frame + b64.len() <= max || n == 0 => {
                return format!("{STATE_PREFIX}{b64} -->");
            }
            Ok(b64) => frame + b64.len(),
            Err(o) => frame + o.b64_estimate,
        };
        if n == 0 {
            return line_of(s);
        }
        let per_item = len.saturating_sub(base).max(1) as f64 / n as f64;
        // 3% slack for the estimate and for items that compress less well than the average.
        let fit = (max.saturating_sub(base) as f64 / per_item * 0.97) as usize;
        n = fit.min(n - 1);
    }
}

/// [`encode`] within `max` chars (at least room for score and counts).
pub fn encode_within(state: &HiddenState, max: usize) -> String {
    let mut s = state.clone();
    s.v = 1;
    s.run_id = super::escape::truncate_chars(&s.run_id, 64);
    s.failing = s.failing.iter().map(|k| state_key(k)).collect();
    s.cut = false;
    s.failing_hashes = None;
    let frame = STATE_PREFIX.len() + " -->".len();
    if let Ok(b64) = compress_within(&s, max.saturating_sub(frame))
        && frame + b64.len() <= max
    {
        return format!("{STATE_PREFIX}{b64} -->");
    }
    // Names do not fit: the hash set first (what the next run's gate needs), cut only when
    // even it does not fit; then as many names as fit beside it.
    let names = std::mem::take(&mut s.failing);
    s.cut = true;
    // Each key hashed once, whatever the number of tries.
    let hashes: Vec<u64> = names.iter().map(|k| hash64(k)).collect();
    shrink(&mut s, max, &hashes, |s, hashes| {
        s.failing_hashes = Some(KeyHashes::of_hashes(hashes.to_vec()))
    });
    shrink(&mut s, max, &names, |s, keys| s.failing = keys.to_vec())
}

/// Reads the state from a comment body (the last state line wins: ours is always last).
pub fn decode(body: &str) -> Result<HiddenState, StateError> {
    let start = body.rfind(STATE_PREFIX).ok_or(StateError::Missing)?;
    let rest = &body[start + STATE_PREFIX.len()..];
    let end = rest
        .find("-->")
        .ok_or_else(|| StateError::Damaged("the state line is not closed with `-->`".into()))?;
    let b64 = rest[..end].trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| StateError::Damaged(format!("not base64: {e}")))?;
    let mut json = Vec::new();
    flate2::read::DeflateDecoder::new(bytes.as_slice())
        .take(MAX_DECODED_BYTES)
        .read_to_end(&mut json)
        .map_err(|e| StateError::Damaged(format!("not deflate data: {e}")))?;
    let v: serde_json::Value =
        serde_json::from_slice(&json).map_err(|e| StateError::Damaged(e.to_string()))?;
    let ver = v.get("v").and_then(|x| x.as_u64()).unwrap_or(0);
    if ver > 1 {
        return Err(StateError::Newer(u32::try_from(ver).unwrap_or(u32::MAX)));
    }
    serde_json::from_value(v).map_err(|e| StateError::Damaged(e.to_string()))
}

/// The delta of the current run against a state read from the previous comment.
/// `failing` are the current failing test keys (any form: they are normalized here).
/// `present`: hashes ([`crate::gate::key_hash`]) of every test of this run, when kept: a
/// failure of the baseline whose test is gone (deleted, renamed) is not "fixed".
pub fn delta_from(
    baseline: &HiddenState,
    score: Option<f64>,
    counts: &Counts,
    failing: &[String],
    present: Option<&crate::gate::KeySet>,
) -> Delta {
    let before: HashSet<&str> = baseline.failing.iter().map(String::as_str).collect();
    let now: Vec<String> = failing.iter().map(|k| state_key(k)).collect();
    let now_set: HashSet<&str> = now.iter().map(String::as_str).collect();
    // When the baseline was cut, a failure it does not name may have failed before too: it is
    // new only when the state covers every failure (by name or hash), else unknown.
    let known = baseline.known_failing();
    let mut new_failures = Vec::new();
    let mut still_failing = Vec::new();
    let mut unknown = Vec::new();
    for k in &now {
        match known.was_failing(before.contains(k.as_str()), k) {
            Some(true) => still_failing.push(k.clone()),
            Some(false) => new_failures.push(k.clone()),
            None => unknown.push(k.clone()),
        }
    }
    let fixed = baseline
        .failing
        .iter()
        .filter(|k| !now_set.contains(k.as_str()))
        // A long key is stored as its hash, which names no test to look up: kept.
        .filter(|k| {
            k.starts_with("sha256:")
                || present.is_none_or(|t| t.contains(&crate::gate::key_hash(k)))
        })
        .cloned()
        .collect();
    Delta {
        baseline_run_id: Some(baseline.run_id.clone()),
        score_change: match (score, baseline.score) {
            (Some(a), Some(b)) => Some(((a - b) * 10.0).round() / 10.0),
            _ => None,
        },
        new_failures,
        fixed,
        still_failing,
        unknown,
        tests_added: counts.tests.saturating_sub(baseline.counts.tests),
        tests_removed: baseline.counts.tests.saturating_sub(counts.tests),
        counts_before: Some(baseline.counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(failing: Vec<String>) -> HiddenState {
        HiddenState {
            v: 1,
            run_id: "r1".into(),
            score: Some(80.0),
            verdict: Some("fail".into()),
            counts: Counts {
                tests: 10,
                passed: 8,
                failed: 2,
                ..Default::default()
            },
            failing_total: failing.len() as u64,
            failing,
            ..Default::default()
        }
    }

    #[test]
    fn round_trips_through_a_comment_body() {
        let s = st(vec!["py::a".into(), "py::b".into()]);
        let body = format!("<!-- codeloop-verify:v1 -->\nhello\n{}\n", encode(&s));
        assert_eq!(decode(&body).unwrap(), s);
    }

    #[test]
    fn stays_bounded_with_50k_long_keys() {
        let keys: Vec<String> = (0..50_000)
            .map(|i| format!("runner::{}::{i}", "x".repeat(200)))
            .collect();
        let line = encode(&st(keys));
        assert!(line.len() <= MAX_STATE_CHARS, "{}", line.len());
        let back = decode(&line).unwrap();
        assert_eq!(back.failing_total, 50_000);
        assert!(back.cut);
        // Too many even for the hash set: it holds the first ones, and says how many.
        let h = back.failing_hashes.as_ref().unwrap();
        assert!(h.keys > 2_000 && h.keys < 50_000, "{}", h.keys);
        assert!(!back.known_failing().complete);
    }

    #[test]
    fn a_cut_state_fills_its_budget() {
        // Ten thousand failing keys: more than fit. The hash set takes the budget but a few
        // percent (it is sized from the room left and the length per key, not cut by a
        // tenth at a time), names fill what is left, and the line stays within the budget.
        let keys: Vec<String> = (0..10_776)
            .map(|i| format!("tests.test_mixed.r{}::test_fail_assert #{}", i / 7, i % 7))
            .collect();
        let line = encode(&st(keys.clone()));
        assert!(line.len() <= MAX_STATE_CHARS, "{}", line.len());
        assert!(line.len() >= MAX_STATE_CHARS * 95 / 100, "{}", line.len());
        let back = decode(&line).unwrap();
        let h = back.failing_hashes.as_ref().unwrap();
        assert!(h.keys >= 2_500 && h.keys < 10_776, "{}", h.keys);
        assert!(!back.failing.is_empty());
        assert_eq!(back.failing[..], keys[..back.failing.len()]);
        let known = back.known_failing();
        let hashed = h.keys as usize;
        assert!(
            keys[..hashed]
                .iter()
                .all(|k| known.was_failing(false, k) == Some(true))
        );
    }

    #[test]
    fn key_hashes_round_trip_and_stay_small() {
        for n in [0usize, 1, 2, 7, 1000, 3000] {
            let keys: Vec<String> = (0..n)
                .map(|i| format!("pytest::tests.t::test_{i}"))
                .collect();
            let h = KeyHashes::build(&keys);
            assert_eq!(h.keys, n as u64);
            let set = h.decode().unwrap();
            assert!(keys.iter().all(|k| set.contains(k)), "n={n}");
            let misses = (0..10_000)
                .filter(|i| set.contains(&format!("other::{i}")))
                .count();
            assert_eq!(misses, 0, "n={n}");
            if n >= 1000 {
                // log2(n) + 24 bits a key, Golomb-Rice coded: about 3.4 bytes a key.
                let bytes = h.d.len() * 3 / 4;
                assert!(bytes < n * 7 / 2, "n={n}: {bytes} bytes");
            }
        }
        let damaged = KeyHashes {
            n: 5,
            d: "AA==".into(),
            ..KeyHashes::build(&["a".into()])
        };
        assert!(damaged.decode().is_err());
    }

    #[test]
    fn a_cut_state_hashes_every_failure_and_names_what_fits() {
        // Names that do not compress (sequential ones would all fit by name).
        let keys: Vec<String> = (0..2_000)
            .map(|i| format!("pytest::tests.t::test_{}", hash64(&i.to_string())))
            .collect();
        let line = encode(&st(keys.clone()));
        assert!(line.len() <= MAX_STATE_CHARS, "{}", line.len());
        // The estimates from a partly compressed state still fill most of the budget.
        assert!(line.len() > MAX_STATE_CHARS * 7 / 10, "{}", line.len());
        let back = decode(&line).unwrap();
        assert!(back.cut && back.failing.len() < 2_000);
        assert!(back.failing.len() > 100, "{}", back.failing.len());
        assert_eq!(back.failing_hashes.as_ref().unwrap().keys, 2_000);
        let known = back.known_failing();
        assert!(known.complete);
        // Every old failure is recognised, named or not; a new one is new.
        let counts = Counts::default();
        let mut now = keys[1_990..].to_vec();
        now.push("pytest::tests.test_new::test_regressed".into());
        let d = delta_from(&back, None, &counts, &now, None);
        assert_eq!(d.still_failing.len(), 10);
        assert_eq!(
            d.new_failures,
            vec!["pytest::tests.test_new::test_regressed"]
        );
        assert!(d.unknown.is_empty());
    }

    #[test]
    fn an_old_cut_state_makes_unknowns_not_new_failures() {
        // Written before the hash set: 2 of 5 failures listed.
        let old = HiddenState {
            failing_total: 5,
            ..st(vec!["a".into(), "b".into()])
        };
        let body = format!("{STATE_PREFIX}{} -->", compress(&old));
        let back = decode(&body).unwrap();
        assert!(!back.cut && back.failing_hashes.is_none());
        let d = delta_from(
            &back,
            None,
            &Counts::default(),
            &["a".into(), "c".into()],
            None,
        );
        assert_eq!(d.still_failing, vec!["a"]);
        assert!(d.new_failures.is_empty());
        assert_eq!(d.unknown, vec!["c"]);
    }

    #[test]
    fn damaged_and_missing_states_are_errors() {
        assert_eq!(decode("no state"), Err(StateError::Missing));
        let e = decode(&format!("{STATE_PREFIX}!!! -->")).unwrap_err();
        assert!(matches!(e, StateError::Damaged(_)), "{e}");
    }

    #[test]
    fn delta_finds_new_fixed_and_still_failing() {
        let base = st(vec!["a".into(), "b".into()]);
        let counts = Counts {
            tests: 12,
            ..Default::default()
        };
        let d = delta_from(&base, Some(90.0), &counts, &["b".into(), "c".into()], None);
        // With this run's test keys known, a baseline failure whose test is gone is not fixed.
        let present: crate::gate::KeySet = ["b", "c"]
            .iter()
            .map(|k| crate::gate::key_hash(k))
            .collect();
        let gone = delta_from(
            &base,
            Some(90.0),
            &counts,
            &["b".into(), "c".into()],
            Some(&present),
        );
        assert!(gone.fixed.is_empty(), "{:?}", gone.fixed);
        assert!(!d.fixed.is_empty());
        assert_eq!(d.new_failures, vec!["c"]);
        assert_eq!(d.fixed, vec!["a"]);
        assert_eq!(d.still_failing, vec!["b"]);
        assert_eq!(d.score_change, Some(10.0));
        assert_eq!((d.tests_added, d.tests_removed), (2, 0));
    }
}
