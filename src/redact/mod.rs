//! Secret redaction, in one place: which values are secrets, and replacing them with `***`.
//!
//! A [`Redactor`] is built once per process from the environment ([`install`], called by
//! `app::run`) and grows when a runner prints `::add-mask::VALUE` ([`add_global`]). This module
//! is pure (no I/O, no clock); [`fs`] applies it to files. It is applied where text enters or
//! leaves the run directory, so everything rendered from the run is clean by construction:
//!
//! - runner logs (`runners/<id>/stdout.log`, `stderr.log`): rewritten right after the runner
//!   exits, after their `::add-mask::` lines were read (`runners::run`);
//! - result-file copies in `runners/<id>/`: copied through the redactor (`runners::collect`);
//! - every JSON Lines line (cases.jsonl, findings.jsonl, events.jsonl: `artifact::events`) and
//!   every atomically written text file (verify.json, diagnose.json, gate.json, the manifest,
//!   report/*, SARIF, code quality, JUnit out, HTML, badge SVG: `artifact::write_atomic`);
//! - a last pass over the run directory before manifest.json is written, for files a runner
//!   wrote into the run directory itself and for masks found after earlier files were written
//!   (`commands::verify`);
//! - what leaves the process: `ui::error`/`ui::warn`, the comment, job summary, annotations
//!   and step outputs (`publish`).
//!
//! # Which values are secrets
//!
//! - The value of every environment variable whose *name* looks secret ([`secret_name`]):
//!   `TOKEN`, `SECRET`, `PASSWORD`, `PASSWD`, `CREDENTIAL`, `APIKEY`, `PRIVATEKEY` anywhere in
//!   the name (so `GITHUB_TOKEN`, `INPUT_GITHUB-TOKEN`, `CI_JOB_TOKEN`, `NPM_TOKEN`,
//!   `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`), or a whole word `PASS`, `PASSPHRASE`, `AUTH`,
//!   `PAT`, `COOKIE`, or `KEY` next to `API`, `ACCESS`, `PRIVATE`, `SECRET`, `SIGNING`,
//!   `ENCRYPTION`, `MASTER`, `LICENSE`, `DEPLOY`, `CLIENT`, `SSH`, `GPG` (`MY_API_KEY`,
//!   `DEPLOY_KEY`). Words are split on `_`, `-` and `.`; case does not matter. Names whose
//!   last word is `SOCK`, `PATH`, `FILE` or `DIR` hold locations, not secrets.
//! - The password of any URL with credentials in any variable (`DATABASE_URL=postgres://app:PW@db`).
//! - Every line of `CODELOOP_MASK` and of the action input `mask` (`INPUT_MASK`): values the
//!   workflow masked that codeloop cannot see otherwise (GitHub does not pass masks into a
//!   container).
//! - The values of the variables listed in `.codeloop/config.json` under `redact.env`.
//! - Every `::add-mask::VALUE` (or `##[add-mask]VALUE`) line a runner prints.
//! - Known token shapes, whether or not codeloop was told the value ([`token_shapes`]):
//!   GitHub (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), GitLab (`glpat-`), AWS
//!   access key ids (`AKIA`, `ASIA`), Slack (`xox[abprs]-`). So a token pasted into a plugin
//!   command never reaches events.jsonl or verify.json.
//!
//! A value is ignored when it is shorter than [`MIN_LEN`] characters after trimming, or is a
//! word like `true`, `false`, `yes`, `no`, `null`, or all digits and shorter than 6: masking
//! those would destroy every log and name them to an attacker anyway.
//!
//! # What is and is not covered
//!
//! A multi-line value is masked whole and line by line (each line of [`MIN_LEN`]+ characters),
//! like GitHub's runner does, so a key printed with other line endings or indentation is still
//! masked. The JSON-escaped and HTML-escaped forms of a value are masked too, so a secret with
//! quotes or `<` is caught in already-serialized text. Not covered: a value split across lines
//! at places other than its own line breaks, encoded (base64, URL-encoding), reversed or
//! otherwise transformed values, and secrets the workflow masked but did not hand to codeloop.

pub mod fs;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// Values shorter than this (in characters, after trimming) are never masked.
pub const MIN_LEN: usize = 4;

/// The variables that hold extra values to mask, one per line.
pub const MASK_VARS: [&str; 2] = ["CODELOOP_MASK", "INPUT_MASK"];

/// The longest token shape [`token_shapes`] matches, in bytes.
pub const TOKEN_MAX_LEN: usize = 300;

/// Known token shapes, redacted whether or not their value was handed to codeloop: GitHub
/// (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and fine-grained `github_pat_`), GitLab personal
/// access tokens (`glpat-`), AWS access key ids (`AKIA`, `ASIA`), Slack (`xoxa-`, `xoxb-`,
/// `xoxp-`, `xoxr-`, `xoxs-`). Each needs a run of token characters after its prefix (16+ for
/// GitHub and GitLab, exactly 16 for AWS, 10+ for Slack), so words like `ghp_` or `xoxb-` in
/// prose are left alone.
pub fn token_shapes() -> &'static regex::bytes::Regex {
    static RE: std::sync::OnceLock<regex::bytes::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?-u)gh[pousr]_[A-Za-z0-9]{16,255}|github_pat_[A-Za-z0-9_]{16,255}|glpat-[A-Za-z0-9_-]{16,255}|(?:AKIA|ASIA)[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,255}",
        )
        .expect("the token shapes are a valid regex")
    })
}

/// Secret values and the automaton that finds them all in one pass.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    /// Longest first; whole values, their lines, and their escaped forms.
    secrets: Vec<String>,
    /// The values as given (for `::add-mask::` commands).
    originals: Vec<String>,
    ac: Option<AhoCorasick>,
}

/// Whether an environment variable's name says its value is a secret (see the module docs).
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    let words: Vec<&str> = n
        .split(['_', '-', '.', '/', ':'])
        .filter(|w| !w.is_empty())
        .collect();
    if matches!(
        words.last(),
        Some(&("SOCK" | "PATH" | "FILE" | "DIR" | "DIRECTORY"))
    ) {
        return false;
    }
    const STRONG: [&str; 7] = [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "CREDENTIAL",
        "APIKEY",
        "PRIVATEKEY",
    ];
    if STRONG.iter().any(|s| n.contains(s)) {
        return true;
    }
    const WORDS: [&str; 5] = ["PASS", "PASSPHRASE", "AUTH", "PAT", "COOKIE"];
    if words.iter().any(|w| WORDS.contains(w)) {
        return true;
    }
    const KEY_QUALIFIERS: [&str; 12] = [
        "API",
        "ACCESS",
        "PRIVATE",
        "SECRET",
        "SIGNING",
        "ENCRYPTION",
        "MASTER",
        "LICENSE",
        "DEPLOY",
        "CLIENT",
        "SSH",
        "GPG",
    ];
    words == ["KEY"]
        || words.windows(2).any(|w| {
            (w[1] == "KEY" && KEY_QUALIFIERS.contains(&w[0]))
                || (w[0] == "KEY" && KEY_QUALIFIERS.contains(&w[1]))
        })
}

/// Whether a value is worth masking: long enough, and not a word that is everywhere.
pub fn worth_masking(value: &str) -> bool {
    let v = value.trim();
    if v.chars().count() < MIN_LEN {
        return false;
    }
    const TRIVIAL: [&str; 12] = [
        "true",
        "false",
        "yes",
        "null",
        "none",
        "nil",
        "undefined",
        "enabled",
        "disabled",
        "on",
        "off",
        "0000",
    ];
    if TRIVIAL.iter().any(|t| v.eq_ignore_ascii_case(t)) {
        return false;
    }
    !(v.len() < 6 && v.bytes().all(|b| b.is_ascii_digit()))
}

/// The password of a URL with credentials (`scheme://user:password@host...`), if any.
pub fn url_password(value: &str) -> Option<&str> {
    let (_, rest) = value.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then_some(password)
}

/// Decodes the data of a workflow command (`%25` `%0D` `%0A`, as the runner does).
fn unescape_command_data(s: &str) -> String {
    s.replace("%0D", "\r")
        .replace("%0d", "\r")
        .replace("%0A", "\n")
        .replace("%0a", "\n")
        .replace("%25", "%")
}

/// The value of an `::add-mask::VALUE` or `##[add-mask]VALUE` line (leading blanks allowed,
/// as the runner allows them), decoded.
pub fn add_mask_value(line: &str) -> Option<String> {
    let l = line.trim_start().trim_end_matches(['\r', '\n']);
    let v = l
        .strip_prefix("::add-mask::")
        .or_else(|| l.strip_prefix("##[add-mask]"))?;
    let v = unescape_command_data(v);
    worth_masking(&v).then_some(v)
}

/// Every `::add-mask::` value in `text`.
pub fn add_mask_values(text: &str) -> Vec<String> {
    text.lines().filter_map(add_mask_value).collect()
}

fn json_escaped(s: &str) -> Option<String> {
    let j = serde_json::to_string(s).ok()?;
    let inner = j.get(1..j.len().saturating_sub(1))?;
    (inner != s).then(|| inner.to_string())
}

fn html_escaped(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    (out != s).then_some(out)
}

impl Redactor {
    /// A redactor for the given values (each checked with [`worth_masking`]).
    pub fn with_values<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> Redactor {
        let mut r = Redactor::default();
        r.extend(values);
        r
    }

    /// Collects the secret values of an environment (see the module docs for the rule).
    pub fn from_env<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> Redactor {
        let mut values: Vec<String> = Vec::new();
        for (k, v) in vars {
            if MASK_VARS.contains(&k) {
                values.extend(v.lines().map(|l| l.trim().to_string()));
            } else if secret_name(k) {
                values.push(v.to_string());
            }
            if let Some(pw) = url_password(v) {
                values.push(pw.to_string());
            }
        }
        Redactor::with_values(values)
    }

    /// Adds one value; returns whether it was new and worth masking.
    pub fn add(&mut self, secret: &str) -> bool {
        self.extend([secret])
    }

    /// Adds values; returns whether any was new. Rebuilds the automaton once.
    pub fn extend<S: AsRef<str>>(&mut self, values: impl IntoIterator<Item = S>) -> bool {
        let mut changed = false;
        for v in values {
            let v = v.as_ref();
            let trimmed = v.trim();
            if !worth_masking(trimmed) || self.originals.iter().any(|o| o == trimmed) {
                continue;
            }
            changed = true;
            self.originals.push(trimmed.to_string());
            let mut forms = vec![trimmed.to_string()];
            if v != trimmed && !v.trim_matches([' ', '\t']).is_empty() {
                forms.push(v.to_string());
            }
            // A multi-line value (a key) is masked line by line too, like the runner does.
            if trimmed.contains('\n') {
                forms.extend(
                    trimmed
                        .lines()
                        .map(str::trim)
                        .filter(|l| worth_masking(l))
                        .map(str::to_string),
                );
            }
            let escaped: Vec<String> = forms
                .iter()
                .flat_map(|f| [json_escaped(f), html_escaped(f)])
                .flatten()
                .collect();
            forms.extend(escaped);
            for f in forms {
                if !self.secrets.contains(&f) {
                    self.secrets.push(f);
                }
            }
        }
        if changed {
            // Longest first, so a secret containing another is replaced whole.
            self.secrets
                .sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
            self.ac = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&self.secrets)
                .ok();
        }
        changed
    }

    /// Whether it knows no secret *values* (token shapes are redacted all the same).
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// How many values (not forms) it masks.
    pub fn len(&self) -> usize {
        self.originals.len()
    }

    /// The longest match in bytes, values and token shapes (what a streaming pass must keep
    /// between chunks).
    pub fn max_len(&self) -> usize {
        self.secrets
            .first()
            .map_or(0, String::len)
            .max(TOKEN_MAX_LEN)
    }

    /// Whether `bytes` holds any secret value or token shape.
    pub fn is_match(&self, bytes: &[u8]) -> bool {
        self.ac.as_ref().is_some_and(|ac| ac.is_match(bytes)) || token_shapes().is_match(bytes)
    }

    /// Every secret in `bytes`, leftmost first, not overlapping: the values' automaton and
    /// the token shapes merged (at the same start the longer wins).
    fn matches(&self, bytes: &[u8]) -> Vec<(usize, usize)> {
        let mut all: Vec<(usize, usize)> = token_shapes()
            .find_iter(bytes)
            .map(|m| (m.start(), m.end()))
            .collect();
        if let Some(ac) = &self.ac {
            all.extend(ac.find_iter(bytes).map(|m| (m.start(), m.end())));
        }
        all.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(all.len());
        for m in all {
            match out.last_mut() {
                Some(last) if m.0 < last.1 => last.1 = last.1.max(m.1),
                _ => out.push(m),
            }
        }
        out
    }

    /// Replaces every secret value and token shape with `***`.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Matches are whole UTF-8 patterns (values) or ASCII (token shapes): replacing
            // them keeps the text valid.
            Cow::Owned(b) => Cow::Owned(
                String::from_utf8(b)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            ),
        }
    }

    /// [`Redactor::redact`] for bytes (logs need not be UTF-8).
    pub fn redact_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if !self.is_match(bytes) {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut pos = 0;
        for (start, end) in self.matches(bytes) {
            out.extend_from_slice(&bytes[pos..start]);
            out.extend_from_slice(MASK.as_bytes());
            pos = end;
        }
        out.extend_from_slice(&bytes[pos..]);
        Cow::Owned(out)
    }

    /// [`Redactor::redact_bytes`] for a JSON document (or one JSON Lines line) that stays valid
    /// JSON: replacing bytes could cut through JSON syntax (a numeric secret inside a number,
    /// a secret spanning a quote), so when the plain replacement no longer parses, the strings
    /// (and keys) of the parsed document are redacted one by one and it is written again.
    /// Invalid input is redacted as bytes.
    pub fn redact_json<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        let plain = self.redact_bytes(bytes);
        let Cow::Owned(changed) = plain else {
            return plain;
        };
        let parses = |b: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(b).is_ok();
        if parses(&changed) {
            return Cow::Owned(changed);
        }
        let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return Cow::Owned(changed);
        };
        self.redact_value(&mut doc);
        let pretty = bytes.contains(&b'\n');
        let out = if pretty {
            serde_json::to_vec_pretty(&doc)
        } else {
            serde_json::to_vec(&doc)
        };
        match out {
            Ok(mut v) => {
                if pretty && bytes.ends_with(b"\n") {
                    v.push(b'\n');
                }
                Cow::Owned(v)
            }
            Err(_) => Cow::Owned(changed),
        }
    }

    /// Redacts every string and object key of a JSON value in place.
    pub fn redact_value(&self, v: &mut serde_json::Value) {
        use serde_json::Value;
        match v {
            Value::String(s) => {
                if let Cow::Owned(r) = self.redact(s) {
                    *s = r;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.redact_value(x)),
            Value::Object(m) => {
                let old = std::mem::take(m);
                for (k, mut x) in old {
                    self.redact_value(&mut x);
                    m.insert(self.redact(&k).into_owned(), x);
                }
            }
            _ => {}
        }
    }

    /// Redacts `buf` as one chunk of a stream: writes the part that no later byte can change
    /// to `out`, and returns how many bytes of `buf` were consumed (the rest must be kept and
    /// passed again with the next chunk). With `last`, everything is consumed. Returns whether
    /// anything was replaced too.
    pub fn redact_chunk(&self, buf: &[u8], last: bool, out: &mut Vec<u8>) -> (usize, bool) {
        let (end, replaced) = self.redact_chunk_if_needed(buf, last, out);
        if !replaced {
            out.extend_from_slice(&buf[..end]);
        }
        (end, replaced)
    }

    /// [`Redactor::redact_chunk`], except that a chunk with nothing to replace is not
    /// copied: `out` is left alone and the redacted text is `buf[..consumed]` itself.
    pub fn redact_chunk_if_needed(
        &self,
        buf: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> (usize, bool) {
        // A match starting before `safe` is complete within `buf`: no match is longer.
        let safe = if last {
            buf.len()
        } else {
            buf.len().saturating_sub(self.max_len().saturating_sub(1))
        };
        let mut pos = 0;
        let mut replaced = false;
        for (start, end) in self.matches(buf) {
            if start >= safe {
                break;
            }
            out.extend_from_slice(&buf[pos..start]);
            out.extend_from_slice(MASK.as_bytes());
            pos = end;
            replaced = true;
        }
        let end = safe.max(pos);
        if replaced {
            out.extend_from_slice(&buf[pos..end]);
        }
        (end, replaced)
    }

    /// `::add-mask::` lines for the GitHub runner (one per value line). Only meaningful on a
    /// real GitHub runner: elsewhere (act, GitLab, a terminal) printing them leaks the values.
    pub fn mask_commands(&self) -> String {
        let mut out = String::new();
        for s in &self.originals {
            for line in s.lines().filter(|l| !l.trim().is_empty()) {
                out.push_str(&format!(
                    "::add-mask::{}\n",
                    crate::diagnose::output::escape_data(line)
                ));
            }
        }
        out
    }
}

/// The process-wide redactor.
static GLOBAL: RwLock<Option<Arc<Redactor>>> = RwLock::new(None);
/// How often it changed: [`install`] and every [`add_global`] that added a value.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Sets the process-wide redactor (once at start, from the environment).
pub fn install(r: Redactor) {
    if let Ok(mut g) = GLOBAL.write() {
        *g = Some(Arc::new(r));
        GENERATION.fetch_add(1, Ordering::Release);
    }
}

/// The process-wide redactor (empty until [`install`]).
pub fn current() -> Arc<Redactor> {
    GLOBAL
        .read()
        .ok()
        .and_then(|g| g.clone())
        .unwrap_or_default()
}

/// Bumped whenever the process-wide redactor changes: a writer that saw an older generation
/// may have let a newly found secret through. One atomic load (no lock).
pub fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// Adds values (from `::add-mask::` lines) to the process-wide redactor.
pub fn add_global<S: AsRef<str>>(values: impl IntoIterator<Item = S>) -> bool {
    let Ok(mut g) = GLOBAL.write() else {
        return false;
    };
    let mut r = g.take().map(Arc::unwrap_or_clone).unwrap_or_default();
    let changed = r.extend(values);
    *g = Some(Arc::new(r));
    if changed {
        GENERATION.fetch_add(1, Ordering::Release);
    }
    changed
}

/// The process-wide redactor, kept by a hot writer (one cases.jsonl line per case) and
/// refreshed only when [`generation`] moves, so a line costs one atomic load, not a lock.
#[derive(Debug)]
pub struct Cached {
    generation: u64,
    redactor: Arc<Redactor>,
}

impl Default for Cached {
    fn default() -> Self {
        Cached {
            generation: u64::MAX,
            redactor: Arc::default(),
        }
    }
}

impl Cached {
    pub fn get(&mut self) -> &Redactor {
        let now = generation();
        if now != self.generation {
            self.redactor = current();
            self.generation = now;
        }
        &self.redactor
    }
}

/// Adds the values of the variables named in `.codeloop/config.json` (`redact.env`) to the
/// process-wide redactor; `get` reads a variable.
pub fn add_env_names(names: &[String], get: impl Fn(&str) -> Option<String>) -> bool {
    add_global(names.iter().filter_map(|n| get(n)))
}

/// Redacts with the process-wide redactor.
pub fn redact(text: &str) -> Cow<'_, str> {
    let r = current();
    match r.redact(text) {
        Cow::Borrowed(_) => Cow::Borrowed(text),
        Cow::Owned(s) => Cow::Owned(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_hold_secrets() {
        for n in [
            "GITHUB_TOKEN",
            "INPUT_GITHUB-TOKEN",
            "INPUT_TOKEN",
            "GITLAB_TOKEN",
            "CI_JOB_TOKEN",
            "NPM_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "DB_PASSWORD",
            "MY_API_KEY",
            "STRIPE_APIKEY",
            "SSH_PRIVATE_KEY",
            "DEPLOY_KEY",
            "SMTP_PASS",
            "GH_PAT",
            "npm_config__authToken",
            "GOOGLE_CREDENTIALS",
            "KEY",
            "Client.Secret",
        ] {
            assert!(secret_name(n), "{n} should be secret");
        }
        for n in [
            "GITHUB_REF",
            "GIT_AUTHOR_NAME",
            "SSH_AUTH_SOCK",
            "CACHE_KEY",
            "KEYBOARD",
            "PATH",
            "PWD",
            "PATCH_LEVEL",
            "HOME",
            "GOOGLE_APPLICATION_CREDENTIALS_FILE",
            "PASSENGER_ENV",
        ] {
            assert!(!secret_name(n), "{n} should not be secret");
        }
    }

    #[test]
    fn trivial_values_are_left_alone() {
        for v in [
            "", "abc", "  ab ", "true", "FALSE", "1", "1234", "yes", "null",
        ] {
            assert!(!worth_masking(v), "{v:?}");
        }
        for v in ["abcd", "123456", "s3cr3t", "hunter2"] {
            assert!(worth_masking(v), "{v:?}");
        }
    }

    #[test]
    fn from_env_takes_secret_names_mask_lists_and_url_passwords() {
        let r = Redactor::from_env([
            ("INPUT_GITHUB-TOKEN", "ghs_abcdefghijklmnop"),
            ("MY_API_KEY", "k3y-value-123"),
            ("GITHUB_REF", "refs/heads/main-branch"),
            ("SHORT_TOKEN", "true"),
            ("DATABASE_URL", "postgres://app:pgpass99@db:5432/x"),
            ("CODELOOP_MASK", "first-mask\n  second-mask \n\nab"),
            ("INPUT_MASK", "from-input"),
        ]);
        let s = r.redact(
            "token ghs_abcdefghijklmnop key k3y-value-123 ref refs/heads/main-branch true \
             db postgres://app:pgpass99@db:5432/x m first-mask second-mask from-input ab",
        );
        assert_eq!(
            s,
            "token *** key *** ref refs/heads/main-branch true \
             db postgres://app:***@db:5432/x m *** *** *** ab"
        );
        assert_eq!(r.len(), 6);
        assert_eq!(r.mask_commands().lines().count(), 6);
    }

    #[test]
    fn longest_secret_wins_and_escaped_forms_are_caught() {
        let r = Redactor::with_values(["abcd", "abcdefgh", "pa\"ss<word>"]);
        assert_eq!(r.redact("xabcdefghx abcd"), "x***x ***");
        assert_eq!(r.redact(r#"{"m":"pa\"ss<word>"}"#), r#"{"m":"***"}"#);
        assert_eq!(r.redact("<p>pa&quot;ss&lt;word&gt;</p>"), "<p>***</p>");
        assert_eq!(r.redact("pa\"ss<word>"), "***");
    }

    #[test]
    fn multi_line_values_are_masked_whole_and_by_line() {
        let key = "-----BEGIN KEY-----\nAAAABBBBCCCC\nDDDDEEEE\n-----END KEY-----";
        let r = Redactor::with_values([key]);
        assert_eq!(r.redact(key), "***");
        assert_eq!(r.redact("  AAAABBBBCCCC\r\n  DDDDEEEE"), "  ***\r\n  ***");
        assert_eq!(r.redact(&serde_json::to_string(key).unwrap()), "\"***\"");
    }

    #[test]
    fn add_mask_lines_are_decoded() {
        let text = "x\n::add-mask::first-value\n  ::add-mask::pc%25t%0Anext\n##[add-mask]legacy-v\n::add-mask::ab\necho ::add-mask::not-at-start\n";
        assert_eq!(
            add_mask_values(text),
            ["first-value", "pc%t\nnext", "legacy-v"]
        );
    }

    #[test]
    fn chunked_redaction_matches_whole_redaction_at_every_split() {
        let r = Redactor::with_values(["secret-one", "secret-one-longer", "zzzz"]);
        let text = b"a secret-one-longer b secret-one c zzzzzz secret-on";
        let whole = r.redact_bytes(text).into_owned();
        for chunk in 1..text.len() {
            let mut out = Vec::new();
            let mut carry: Vec<u8> = Vec::new();
            let mut any = false;
            for piece in text.chunks(chunk) {
                carry.extend_from_slice(piece);
                let (used, hit) = r.redact_chunk(&carry, false, &mut out);
                any |= hit;
                carry.drain(..used);
            }
            let (_, hit) = r.redact_chunk(&carry, true, &mut out);
            any |= hit;
            assert_eq!(out, whole, "chunk size {chunk}");
            assert!(any);
        }
    }

    #[test]
    fn json_stays_valid_when_a_secret_cuts_through_its_syntax() {
        // A numeric secret inside a number, and one that spans a quote.
        let r = Redactor::with_values(["123456", "abc\",\"de"]);
        let doc = br#"{"line": 123456, "m": "pin 123456", "x": "abc","de": 1}"#;
        let out = r.redact_json(doc);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v["line"], 123456, "numbers are not strings: kept");
        assert_eq!(v["m"], "pin ***");
        // Nothing of the spanning secret is a whole string or key: left as parsed.
        assert_eq!(v["x"], "abc");
        let pretty =
            serde_json::to_vec_pretty(&serde_json::json!({"k": "pin 123456", "n": 123456}))
                .unwrap();
        let mut pretty_nl = pretty.clone();
        pretty_nl.push(b'\n');
        let out = r.redact_json(&pretty_nl);
        assert!(out.ends_with(b"}\n"));
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"k": "pin ***", "n": 123456}));
        // The common case is a plain replacement (valid JSON stays as written).
        let r = Redactor::with_values(["tok-abcdef"]);
        assert_eq!(&*r.redact_json(br#"{"a":"tok-abcdef"}"#), br#"{"a":"***"}"#);
        assert_eq!(&*r.redact_json(b"not json tok-abcdef"), b"not json ***");
    }

    #[test]
    fn empty_redactor_borrows() {
        let r = Redactor::default();
        assert!(matches!(r.redact("anything"), Cow::Borrowed(_)));
        assert!(!r.is_match(b"anything"));
    }
}
