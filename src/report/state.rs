//! The comment's hidden markers and compact state.
//!
//! The first line of every comment is the versioned marker `<!-- codeloop-verify:v1 ... -->`
//! that publishers look for to find their sticky comment; the last line carries the state the
//! next run needs for its deltas (score, verdict, counts, failing test keys), as JSON, deflated
//! and base64-encoded: `<!-- codeloop-verify:state:v1 <base64> -->`. Both are written by code,
//! never by a template, and untrusted text can never contain `<` (see [`super::escape`]), so
//! a test named like the marker cannot spoof either line.
//!
//! The state is bounded ([`MAX_STATE_CHARS`]): failing keys that do not fit are counted in
//! `failing_total` but not listed, and keys longer than [`MAX_KEY_CHARS`] are replaced by a
//! hash, so a 100 KB test name costs 20 bytes. [`state_key`] is the same transform for the
//! current run, so deltas compare like with like.

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
    let json = serde_json::to_vec(state).unwrap_or_default();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(&json);
    let bytes = enc.finish().unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The state line (without a trailing newline), within [`MAX_STATE_CHARS`]: drops listed keys
/// (keeping the first ones, which the caller sorts by importance) until it fits.
pub fn encode(state: &HiddenState) -> String {
    encode_within(state, MAX_STATE_CHARS)
}

/// [`encode`] within `max` chars (at least room for score and counts).
pub fn encode_within(state: &HiddenState, max: usize) -> String {
    let mut s = state.clone();
    s.v = 1;
    s.run_id = super::escape::truncate_chars(&s.run_id, 64);
    s.failing = s.failing.iter().map(|k| state_key(k)).collect();
    let mut line = format!("{STATE_PREFIX}{} -->", compress(&s));
    while line.len() > max && !s.failing.is_empty() {
        // Keys compress about evenly: aim straight at the budget (with 10% slack), then trim.
        let fit = (s.failing.len() as f64 * max as f64 / line.len() as f64 * 0.9) as usize;
        let keep = fit.min(s.failing.len() * 9 / 10);
        s.failing.truncate(keep);
        line = format!("{STATE_PREFIX}{} -->", compress(&s));
    }
    line
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
pub fn delta_from(
    baseline: &HiddenState,
    score: Option<f64>,
    counts: &Counts,
    failing: &[String],
) -> Delta {
    let before: HashSet<&str> = baseline.failing.iter().map(String::as_str).collect();
    let now: Vec<String> = failing.iter().map(|k| state_key(k)).collect();
    let now_set: HashSet<&str> = now.iter().map(String::as_str).collect();
    // When the baseline list was cut, a failure not in it may have failed before too: only
    // call it new when the list was complete.
    let complete = baseline.failing.len() as u64 >= baseline.failing_total;
    let mut new_failures = Vec::new();
    let mut still_failing = Vec::new();
    for k in &now {
        if before.contains(k.as_str()) {
            still_failing.push(k.clone());
        } else if complete {
            new_failures.push(k.clone());
        }
    }
    let fixed = baseline
        .failing
        .iter()
        .filter(|k| !now_set.contains(k.as_str()))
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
        assert!(!back.failing.is_empty() && back.failing.len() < 50_000);
        assert!(back.failing[0].starts_with("sha256:"));
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
        let d = delta_from(&base, Some(90.0), &counts, &["b".into(), "c".into()]);
        assert_eq!(d.new_failures, vec!["c"]);
        assert_eq!(d.fixed, vec!["a"]);
        assert_eq!(d.still_failing, vec!["b"]);
        assert_eq!(d.score_change, Some(10.0));
        assert_eq!((d.tests_added, d.tests_removed), (2, 0));
    }
}
