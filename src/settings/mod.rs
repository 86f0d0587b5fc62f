//! Settings: defaults < `.codeloop/config.json` < environment / action inputs < CLI flags.
//! This module owns the config file's schema (the structs below) and its loading, including
//! the errors a user sees for a bad file (file, line, key and the fix) and warnings for
//! unknown keys (with the closest valid key).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Default location of the config file, relative to the working directory.
pub const CONFIG_PATH: &str = ".codeloop/config.json";
/// Default location of the plugin file, relative to the working directory.
pub const PLUGINS_PATH: &str = ".codeloop/plugins.json";
/// Default artifacts directory, relative to the working directory.
pub const ARTIFACTS_DIR: &str = ".codeloop";

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Documentation pointer; ignored.
    #[serde(rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub verify: VerifyConfig,
    pub gate: GateConfig,
    pub report: ReportConfig,
    pub publish: PublishConfig,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VerifyConfig {
    /// Per-runner timeout in seconds (a plugin runner's `timeout_sec` wins).
    pub timeout_sec: u64,
    /// Parallel runners; 0 = number of cores.
    pub jobs: usize,
    /// Report globs to collect (collect mode).
    pub reports: Vec<String>,
    /// Only these runner ids (empty = all detected).
    pub runners: Vec<String>,
    /// Disable built-in detection (only plugins.json and reports).
    pub builtin_runners: bool,
    /// Bound for each message/trace/output kept per test case.
    pub max_text_bytes: usize,
    pub artifacts_dir: Option<String>,
}

impl Default for VerifyConfig {
    fn default() -> Self {
        VerifyConfig {
            timeout_sec: 30 * 60,
            jobs: 0,
            reports: Vec::new(),
            runners: Vec::new(),
            builtin_runners: true,
            max_text_bytes: 16 * 1024,
            artifacts_dir: None,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum FailOn {
    /// Any failure fails the gate.
    #[default]
    Any,
    /// Only failures that are new against the baseline fail the gate.
    Regression,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Weights {
    pub build: f64,
    pub tests: f64,
    pub lint: f64,
    pub flaky: f64,
    pub missing: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            build: 30.0,
            tests: 40.0,
            lint: 10.0,
            flaky: 10.0,
            missing: 10.0,
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// The gate fails below this score (0–100).
    pub min_score: f64,
    /// The gate fails with more failed+errored tests than this.
    pub max_failures: Option<u64>,
    pub max_flaky: Option<u64>,
    pub max_lint_errors: Option<u64>,
    /// Runner ids or kinds (`build`, `test`, `lint`) that must have run and produced results.
    pub require: Vec<String>,
    /// Fail when no test results were found at all.
    pub fail_on_empty: bool,
    pub fail_on: FailOn,
    pub weights: Weights,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            min_score: 0.0,
            max_failures: Some(0),
            max_flaky: None,
            max_lint_errors: None,
            require: Vec::new(),
            fail_on_empty: true,
            fail_on: FailOn::Any,
            weights: Weights::default(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BadgeStyle {
    #[default]
    Flat,
    FlatSquare,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BadgeConfig {
    pub style: BadgeStyle,
    pub label: String,
    pub label_color: String,
    /// Colors by verdict/score band; CSS hex.
    pub pass_color: String,
    pub warn_color: String,
    pub fail_color: String,
}

impl Default for BadgeConfig {
    fn default() -> Self {
        BadgeConfig {
            style: BadgeStyle::Flat,
            label: "codeloop".into(),
            label_color: "#555".into(),
            pass_color: "#4c1".into(),
            warn_color: "#dfb317".into(),
            fail_color: "#e05d44".into(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Directory with template overrides (comment.md, summary.md, report.html, badge.svg).
    pub template_dir: Option<String>,
    /// Budget for the sticky comment (GitHub's hard limit is 65,536).
    pub max_comment_chars: usize,
    /// Budget for the job summary (GitHub's limit is 1 MiB).
    pub max_summary_bytes: usize,
    /// How many slowest tests to show.
    pub slowest: usize,
    pub badge: BadgeConfig,
}

impl Default for ReportConfig {
    fn default() -> Self {
        ReportConfig {
            template_dir: None,
            max_comment_chars: 60_000,
            max_summary_bytes: 1_000_000,
            slowest: 10,
            badge: BadgeConfig::default(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CommentMode {
    #[default]
    Always,
    OnFailure,
    Off,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct PublishConfig {
    pub comment: CommentMode,
    /// With `comment: on-failure`, delete a stale comment when the gate passes.
    pub delete_on_pass: bool,
    pub summary: bool,
    pub annotations: bool,
    pub check_run: bool,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            comment: CommentMode::Always,
            delete_on_pass: true,
            summary: true,
            annotations: true,
            check_run: false,
        }
    }
}

/// Errors reading settings files. Each names the file and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid JSON in `{path}` at line {line}, column {column}: {message}")]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid setting in `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Config {
    /// Loads `path` if it exists (defaults otherwise). Returns warnings for lenient reads.
    pub fn load(path: &Path) -> Result<(Config, Vec<String>), SettingsError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((Config::default(), Vec::new()));
            }
            Err(source) => {
                return Err(SettingsError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let cfg: Config = serde_json::from_str(&text).map_err(|e| SettingsError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        Ok((cfg, Vec::new()))
    }
}
