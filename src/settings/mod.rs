//! Settings: defaults < `.codeloop/config.json` < environment / action inputs < CLI flags.
//! This module owns the config file's schema (the structs below) and its loading, including
//! the errors a user sees for a bad file (file, line, key and the fix) and warnings for
//! unknown keys (with the closest valid key).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod jsonc;
pub mod lenient;

pub use lenient::LoadError;

/// Default location of the config file, relative to the working directory.
pub const CONFIG_PATH: &str = ".codeloop/config.json";
/// Default location of the plugin file, relative to the working directory.
pub const PLUGINS_PATH: &str = ".codeloop/plugins.json";
/// Default artifacts directory, relative to the working directory.
pub const ARTIFACTS_DIR: &str = ".codeloop";

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Config {
    /// Documentation pointer; ignored.
    #[serde(rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub verify: VerifyConfig,
    pub gate: GateConfig,
    pub report: ReportConfig,
    pub publish: PublishConfig,
    pub redact: RedactConfig,
    pub notify: NotifyConfig,
    pub mcp: McpConfig,
}

/// `codeloop mcp`: which tools agents may call.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct McpConfig {
    /// Allow-list of tool names (`codeloop_verify` or just `verify`); empty = every tool.
    /// Tools not in it are not listed, and a call to one is refused (and logged).
    pub tools: Vec<String>,
}

impl McpConfig {
    /// Whether the tool `name` (e.g. `codeloop_verify`) may be called.
    pub fn allows(&self, name: &str) -> bool {
        let short = name.strip_prefix("codeloop_").unwrap_or(name);
        self.tools.is_empty()
            || self
                .tools
                .iter()
                .any(|t| t.strip_prefix("codeloop_").unwrap_or(t) == short)
    }
}

/// Webhooks after the gate (`crate::notify`). URLs here are committed: for a URL that is a
/// credential (Slack's), name the variable that holds it with `url_env`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct NotifyConfig {
    pub webhooks: Vec<WebhookConfig>,
    /// Time budget for each webhook, all attempts included (seconds).
    pub timeout_sec: u64,
    /// Attempts after the first one, on 5xx, 408, 429, timeouts and connection errors.
    pub retries: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            webhooks: Vec::new(),
            timeout_sec: 8,
            retries: 3,
        }
    }
}

/// One webhook endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct WebhookConfig {
    /// The endpoint (http or https).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The environment variable that holds the endpoint (instead of `url`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
    /// `json` (codeloop's payload) or `slack` (a Slack incoming-webhook message).
    pub format: crate::notify::Format,
    /// The environment variable that holds this endpoint's signing secret (default:
    /// `CODELOOP_WEBHOOK_SECRET`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// Secret redaction (`crate::redact`). Values never go in this file (it is committed): it
/// names the variables that hold them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct RedactConfig {
    /// Extra environment variables whose values are secrets, for names the built-in rule
    /// does not recognize (e.g. `CONN_STRING`).
    pub env: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
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
    /// Seconds between SIGTERM and SIGKILL when a runner times out or codeloop is stopped.
    pub grace_sec: u64,
    /// fsync verify.json and manifest.json (durable across an OS crash; slower on busy disks).
    pub fsync: bool,
    /// Per-runner limits (a plugin runner's own `limits` win key by key).
    pub limits: LimitsConfig,
}

/// Per-runner resource limits (`verify.limits`). `0` turns a limit off.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(default)]
pub struct LimitsConfig {
    /// Memory per runner in MiB: a cgroup v2 `memory.max` over the whole runner where codeloop
    /// may create a cgroup, else `RLIMIT_AS` (address space) on each of its processes. Off by
    /// default: runtimes like the JVM, Go and V8 reserve far more address space than they use.
    pub memory_mb: u64,
    /// CPU seconds per process (`RLIMIT_CPU`). Off by default: `timeout_sec` bounds wall time.
    pub cpu_time_sec: u64,
    /// Bytes kept of each of stdout.log and stderr.log: the first and the last half, with an
    /// exact "N bytes cut by codeloop" marker between them.
    pub log_max_bytes: u64,
}

/// The default `verify.limits.log_max_bytes`: 16 MiB per stream.
pub const DEFAULT_LOG_MAX_BYTES: u64 = 16 * 1024 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            memory_mb: 0,
            cpu_time_sec: 0,
            log_max_bytes: DEFAULT_LOG_MAX_BYTES,
        }
    }
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
            grace_sec: 5,
            fsync: false,
            limits: LimitsConfig::default(),
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
#[serde(default)]
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
#[serde(default)]
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
    /// Fail when a result file could not be read whole (empty, truncated, not a report):
    /// its results are missing or partial.
    pub fail_on_unreadable: bool,
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
            fail_on_unreadable: true,
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
#[serde(default)]
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
#[serde(default)]
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
#[serde(default)]
pub struct PublishConfig {
    pub comment: CommentMode,
    /// With `comment: on-failure`, delete a stale comment when the gate passes.
    pub delete_on_pass: bool,
    pub summary: bool,
    pub annotations: bool,
    pub check_run: bool,
    /// The most annotations the check run carries (the first of the comment's "What broke",
    /// in its order); its summary says when there were more. 50 is one request: GitHub takes
    /// 50 per request, and thousands are no use in its UI but a secondary rate limit risk.
    pub max_check_annotations: usize,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            comment: CommentMode::Always,
            delete_on_pass: true,
            summary: true,
            annotations: true,
            check_run: false,
            max_check_annotations: crate::publish::github::CHECK_ANNOTATIONS_PER_REQUEST,
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
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("invalid value {value:?} in environment variable `{var}`: {message}")]
    Env {
        var: String,
        value: String,
        message: String,
    },
}

impl SettingsError {
    /// How to fix it, for the `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            SettingsError::Load(e) => Some(e.hint()),
            SettingsError::Env { var, .. } => {
                Some(format!("unset `{var}` or give it a valid value"))
            }
            SettingsError::Json { .. } => Some("fix the JSON syntax near that line".into()),
            SettingsError::Read { .. } => {
                Some("check the path and its permissions (or pass --config FILE)".into())
            }
            SettingsError::Invalid { .. } => None,
        }
    }
}

impl Config {
    /// Loads `path` if it exists (defaults otherwise). Returns warnings for unknown keys.
    /// Errors name the file, the line and the key (see [`lenient`]).
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
        Config::from_text(path, &text)
    }

    /// Parses the text of a config file (`path` is used in messages only).
    pub fn from_text(path: &Path, text: &str) -> Result<(Config, Vec<String>), SettingsError> {
        let l = lenient::load::<Config>(path, text, &Config::shape())?;
        Ok((l.value, l.warnings))
    }

    /// Every valid key, for unknown-key warnings: the default config serialized.
    pub fn shape() -> serde_json::Value {
        let mut v = serde_json::to_value(Config::default()).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.insert("$schema".into(), serde_json::Value::Null);
        }
        // An array's shape is its first element: every key a webhook may have.
        v["notify"]["webhooks"] = serde_json::json!([
            {"url": "", "url_env": "", "format": "json", "secret_env": ""}
        ]);
        v
    }

    /// The environment layer (between config.json and CLI flags). `get` reads a variable;
    /// passed in so tests need not touch the process environment.
    ///
    /// `CODELOOP_TIMEOUT_SEC` (a duration: `900`, `15m`), `CODELOOP_JOBS`, `CODELOOP_GRACE_SEC`,
    /// `CODELOOP_MEMORY_MB`, `CODELOOP_CPU_TIME_SEC`, `CODELOOP_LOG_MAX_BYTES` (numbers),
    /// `CODELOOP_REPORTS` and `CODELOOP_RUNNERS` (comma- or newline-separated lists).
    /// (`CODELOOP_ARTIFACTS_DIR` and `CODELOOP_CONFIG` are read by the CLI itself.)
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<(), SettingsError> {
        fn num<T: std::str::FromStr>(var: &str, v: &str) -> Result<T, SettingsError> {
            v.trim().parse().map_err(|_| SettingsError::Env {
                var: var.into(),
                value: v.into(),
                message: "expected a whole number".into(),
            })
        }
        let present = |var: &str| get(var).filter(|v| !v.trim().is_empty());
        if let Some(v) = present("CODELOOP_TIMEOUT_SEC") {
            self.verify.timeout_sec = parse_duration_secs(&v).map_err(|m| SettingsError::Env {
                var: "CODELOOP_TIMEOUT_SEC".into(),
                value: v.clone(),
                message: m,
            })?;
        }
        if let Some(v) = present("CODELOOP_JOBS") {
            self.verify.jobs = num("CODELOOP_JOBS", &v)?;
        }
        if let Some(v) = present("CODELOOP_GRACE_SEC") {
            self.verify.grace_sec = num("CODELOOP_GRACE_SEC", &v)?;
        }
        if let Some(v) = present("CODELOOP_MEMORY_MB") {
            self.verify.limits.memory_mb = num("CODELOOP_MEMORY_MB", &v)?;
        }
        if let Some(v) = present("CODELOOP_CPU_TIME_SEC") {
            self.verify.limits.cpu_time_sec = num("CODELOOP_CPU_TIME_SEC", &v)?;
        }
        if let Some(v) = present("CODELOOP_LOG_MAX_BYTES") {
            self.verify.limits.log_max_bytes = num("CODELOOP_LOG_MAX_BYTES", &v)?;
        }
        let list = |v: String| -> Vec<String> {
            v.split([',', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        };
        if let Some(v) = present("CODELOOP_REPORTS") {
            self.verify.reports = list(v);
        }
        if let Some(v) = present("CODELOOP_RUNNERS") {
            self.verify.runners = list(v);
        }
        Ok(())
    }
}

/// A duration in whole seconds: `900`, `900s`, `15m`, `2h` or `1h30m` — the one parser
/// behind `--timeout`, the action's `timeout` input and `CODELOOP_TIMEOUT_SEC`, so they
/// accept the same values. The error says what is accepted.
pub fn parse_duration_secs(v: &str) -> Result<u64, String> {
    let bad = || {
        format!(
            "`{v}` is not a duration: use seconds (900) or a number with s, m or h (90s, 15m, 2h, 1h30m)"
        )
    };
    let t = v.trim();
    if t.is_empty() {
        return Err(bad());
    }
    // A timeout of nothing stops every runner as it starts (it was clamped to 1 s, silently).
    let nonzero = |n: u64| {
        if n == 0 {
            Err(format!(
                "`{v}` is no time: a timeout of 0 would stop every runner as it starts; use at least 1s (e.g. 900 or 15m)"
            ))
        } else {
            Ok(n)
        }
    };
    if let Ok(n) = t.parse::<u64>() {
        return nonzero(n);
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in t.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        num.clear();
        total = n
            .checked_mul(mult)
            .and_then(|x| total.checked_add(x))
            .ok_or_else(bad)?;
    }
    if !num.is_empty() {
        return Err(bad());
    }
    nonzero(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_and_units() {
        assert_eq!(parse_duration_secs("900"), Ok(900));
        assert_eq!(parse_duration_secs(" 15m "), Ok(900));
        assert_eq!(parse_duration_secs("2h"), Ok(7200));
        assert_eq!(parse_duration_secs("1h30m"), Ok(5400));
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        for bad in [
            "",
            "m",
            "15x",
            "1.5h",
            "-3",
            "15m3",
            "99999999999999999999h",
            "0",
            "0s",
            "0m0s",
        ] {
            let e = parse_duration_secs(bad).unwrap_err();
            assert!(e.contains("15m"), "{bad}: {e}");
        }
        assert!(
            parse_duration_secs("0m")
                .unwrap_err()
                .contains("a timeout of 0 would stop every runner")
        );
    }

    #[test]
    fn unknown_keys_warn_and_known_ones_load() {
        let text = r#"{"_comment": "starter", "verify": {"timeout_sec": 60, "jbos": 2},
                       "gate": {"min_score": 80}}"#;
        let (c, w) = Config::from_text(Path::new(".codeloop/config.json"), text).unwrap();
        assert_eq!(c.verify.timeout_sec, 60);
        assert_eq!(c.gate.min_score, 80.0);
        assert_eq!(c.verify.jobs, 0);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("did you mean `verify.jobs`"), "{}", w[0]);
    }

    #[test]
    fn wrong_type_error_names_file_line_and_key() {
        let text = "{\n  \"verify\": {\n    \"jobs\": \"four\"\n  }\n}\n";
        let e = Config::from_text(Path::new("cfg.json"), text).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("`cfg.json`") && s.contains("line 3") && s.contains("`verify.jobs`"),
            "{s}"
        );
        assert!(e.hint().is_some());
    }

    #[test]
    fn env_overrides_config_and_rejects_garbage() {
        let mut c = Config::default();
        let env = |k: &str| match k {
            "CODELOOP_TIMEOUT_SEC" => Some("7".to_string()),
            "CODELOOP_REPORTS" => Some("a.xml, b/*.xml\nc.json".to_string()),
            _ => None,
        };
        c.apply_env(env).unwrap();
        assert_eq!(c.verify.timeout_sec, 7);
        assert_eq!(c.verify.reports, vec!["a.xml", "b/*.xml", "c.json"]);
        let e = c
            .apply_env(|k| (k == "CODELOOP_JOBS").then(|| "many".to_string()))
            .unwrap_err();
        assert!(e.to_string().contains("CODELOOP_JOBS"), "{e}");
    }
}
