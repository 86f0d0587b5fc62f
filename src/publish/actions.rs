//! The GitHub Actions runner protocol: the job summary (`GITHUB_STEP_SUMMARY`), step outputs
//! (`GITHUB_OUTPUT` with random heredoc delimiters), `::stop-commands::` around echoed
//! untrusted text, and secret masking (`::add-mask::`; the redaction itself is `crate::redact`). The annotation lines themselves come from
//! `diagnose::output::annotations` (one per repair task, within GitHub's caps).
//!
//! Formatting is pure (returns strings); only the small `append_*`/`write_*` helpers touch
//! files, so everything that decides *what* is printed is unit-testable.

use std::borrow::Cow;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// GitHub's limit for one step's summary file.
pub const SUMMARY_MAX_BYTES: usize = 1024 * 1024;

/// Errors writing the runner's files. Each names the file and the variable that pointed to it.
#[derive(Debug, thiserror::Error)]
pub enum ActionsError {
    #[error("cannot write `{path}` (from {var}): {source}")]
    Write {
        var: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Annotation level (check-run annotations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

impl Level {
    pub fn command(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Notice => "notice",
        }
    }
}

/// One check-run annotation (one per problem; the Checks API takes them all, 50 a request).
#[derive(Clone, Debug, PartialEq)]
pub struct Annotation {
    pub level: Level,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub end_line: Option<u32>,
    pub column: Option<u32>,
    pub title: String,
    pub message: String,
}

/// A random token for heredoc delimiters and `::stop-commands::`; 128 bits, so untrusted text
/// cannot guess it.
pub fn random_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Wraps untrusted text (test output, comment bodies) so the runner does not execute workflow
/// commands hidden in it: `::stop-commands::TOKEN` ... `::TOKEN::`.
pub fn stop_commands_wrap(text: &str) -> String {
    let token = random_token();
    let nl = if text.ends_with('\n') { "" } else { "\n" };
    format!("::stop-commands::{token}\n{text}{nl}::{token}::\n")
}

/// Formats `name=value` pairs for `GITHUB_OUTPUT` with heredoc syntax and a random delimiter
/// per value, so a value holding newlines or a fake delimiter cannot inject another output.
pub fn format_outputs(pairs: &[(&str, String)]) -> String {
    let mut out = String::new();
    for (name, value) in pairs {
        let mut delim = format!("ghadelimiter_{}", random_token());
        while value.contains(&delim) {
            delim = format!("ghadelimiter_{}", random_token());
        }
        out.push_str(&format!("{name}<<{delim}\n{value}\n{delim}\n"));
    }
    out
}

fn append(var: &'static str, path: &Path, text: &str) -> Result<(), ActionsError> {
    let err = |source| ActionsError::Write {
        var,
        path: path.to_path_buf(),
        source,
    };
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

/// Appends outputs to the `GITHUB_OUTPUT` file.
pub fn write_outputs(path: &Path, pairs: &[(&str, String)]) -> Result<(), ActionsError> {
    // Outputs are read by later steps and may be echoed anywhere: never a secret in them.
    let pairs: Vec<(&str, String)> = pairs
        .iter()
        .map(|(k, v)| (*k, crate::redact::redact(v).into_owned()))
        .collect();
    append("GITHUB_OUTPUT", path, &format_outputs(&pairs))
}

/// Cuts `text` so that a file already holding `existing` bytes stays within `max` bytes,
/// ending on a char boundary with a note saying where the rest is.
pub fn budget_summary(text: &str, existing: usize, max: usize) -> Cow<'_, str> {
    let room = max.saturating_sub(existing);
    if text.len() <= room {
        return Cow::Borrowed(text);
    }
    const NOTE: &str = "\n\n> [!NOTE]\n> The summary was cut to fit GitHub's 1 MiB limit; the full report is in the run directory.\n";
    let mut cut = room.saturating_sub(NOTE.len());
    while cut > 0 && !text.is_char_boundary(cut) {
        cut -= 1;
    }
    if room < NOTE.len() {
        return Cow::Owned(String::new());
    }
    Cow::Owned(format!("{}{NOTE}", &text[..cut]))
}

/// Appends the job summary, keeping the whole file within [`SUMMARY_MAX_BYTES`].
pub fn append_summary(path: &Path, text: &str) -> Result<(), ActionsError> {
    let text = &*crate::redact::redact(text);
    let existing = std::fs::metadata(path)
        .map(|m| m.len() as usize)
        .unwrap_or(0);
    let body = budget_summary(text, existing, SUMMARY_MAX_BYTES);
    if body.is_empty() {
        return Ok(());
    }
    let sep = if existing > 0 { "\n" } else { "" };
    append("GITHUB_STEP_SUMMARY", path, &format!("{sep}{body}\n"))
}

/// Secret values to mask in logs and redact from what we write (one implementation, in
/// [`crate::redact`]; re-exported here where the publisher has always found it).
pub use crate::redact::Redactor;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_use_unique_delimiters() {
        let s = format_outputs(&[("json", "a\nb".into()), ("score", "97.5".into())]);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 7);
        let (name, delim) = lines[0].split_once("<<").unwrap();
        assert_eq!(name, "json");
        assert!(delim.starts_with("ghadelimiter_") && delim.len() > 40);
        assert_eq!(&lines[1..4], &["a", "b", delim]);
        let (_, d2) = lines[4].split_once("<<").unwrap();
        assert_ne!(delim, d2);
    }

    #[test]
    fn stop_commands_use_a_fresh_token() {
        let w = stop_commands_wrap("::error::fake\n");
        let first = w.lines().next().unwrap();
        let token = first.strip_prefix("::stop-commands::").unwrap();
        assert_eq!(token.len(), 32);
        assert!(w.ends_with(&format!("::{token}::\n")));
        assert_ne!(w, stop_commands_wrap("::error::fake\n"));
    }

    #[test]
    fn summary_budget_counts_existing_bytes_and_cuts_on_char_boundary() {
        let text = "é".repeat(400);
        assert_eq!(budget_summary(&text, 0, 10_000), text.as_str());
        let cut = budget_summary(&text, 9_500, 10_000);
        assert!(cut.len() <= 500, "{}", cut.len());
        assert!(cut.contains("1 MiB limit"));
        assert_eq!(budget_summary(&text, 10_000, 10_000), "");
    }

    #[test]
    fn redactor_masks_secret_looking_values_only() {
        let r = Redactor::from_env([
            ("INPUT_GITHUB-TOKEN", "ghs_abcdefghijklmnop"),
            ("MY_API_KEY", "k3y-value-123"),
            ("GITHUB_REF", "refs/heads/main-branch"),
            ("SHORT_TOKEN", "true"),
        ]);
        let s = r
            .redact("token ghs_abcdefghijklmnop key k3y-value-123 ref refs/heads/main-branch true");
        assert_eq!(s, "token *** key *** ref refs/heads/main-branch true");
        assert_eq!(r.mask_commands().lines().count(), 2);
    }
}
