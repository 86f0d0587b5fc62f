//! The Plugin SDK file, `.codeloop/plugins.json` (DESIGN §2): pure config, no hooks.
//!
//! ```json
//! {"name": "django-plugin", "version": "1.0.0", "runners": [
//!   {"id": "django_pytest", "kind": "test", "detect_file": "manage.py",
//!    "command": "pytest --junitxml={run_dir}/django.xml",
//!    "result_file": "{run_dir}/django.xml", "result_format": "junit-xml",
//!    "timeout_sec": 600}]}
//! ```
//!
//! `result_file` may also be a list of paths/globs. A runner without `command` only collects.
//! Keys starting with `_` or `$` are comments. Unknown keys are warnings (with the closest
//! valid key); a wrong type, a bad id or an unknown `result_format` is an error that names the
//! file, the line and the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{LimitOverrides, RunnerDef, valid_id};
use crate::model::{RunnerKind, RunnerSource};
use crate::parsers::Format;
use crate::settings::lenient::{self, LoadError, line_of};

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct PluginFile {
    pub name: String,
    pub version: String,
    pub runners: Vec<PluginRunner>,
}

/// One path or a list of paths/globs.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct PluginRunner {
    pub id: String,
    pub kind: RunnerKind,
    #[serde(default)]
    pub detect_file: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub result_file: Option<OneOrMany>,
    /// A parser registry name or `auto`.
    #[serde(default)]
    pub result_format: Option<String>,
    #[serde(default)]
    pub timeout_sec: Option<u64>,
    /// Limits of this runner (`memory_mb`, `cpu_time_sec`, `log_max_bytes`), each over the
    /// same key of `verify.limits` in config.json.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<LimitOverrides>,
}

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("invalid `{key}` in `{}` at line {line}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        line: usize,
        key: String,
        message: String,
        hint: String,
    },
}

impl PluginError {
    pub fn hint(&self) -> String {
        match self {
            PluginError::Read { .. } => "check the file's permissions".into(),
            PluginError::Load(e) => e.hint(),
            PluginError::Invalid { hint, .. } => hint.clone(),
        }
    }
}

/// The shape of a complete plugins.json, for unknown-key warnings.
fn shape() -> serde_json::Value {
    serde_json::json!({
        "name": "", "version": "", "runners": [{
            "id": "", "kind": "test", "detect_file": "", "command": "",
            "result_file": "", "result_format": "", "timeout_sec": 0,
            "limits": {"memory_mb": 0, "cpu_time_sec": 0, "log_max_bytes": 0}
        }]
    })
}

/// A loaded plugin file: its runners as definitions, plus warnings.
#[derive(Debug, Default)]
pub struct Plugins {
    pub file: PluginFile,
    pub runners: Vec<RunnerDef>,
    pub warnings: Vec<String>,
    /// Invalid runners (bad id, unknown result_format, ...): all of them, so one edit fixes
    /// every problem. The valid runners are still in `runners`.
    pub errors: Vec<PluginError>,
}

/// Loads `path` if it exists; a missing file is no plugins.
pub fn load(path: &Path) -> Result<Plugins, PluginError> {
    match std::fs::read_to_string(path) {
        Ok(t) => from_text(path, &t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Plugins::default()),
        Err(source) => Err(PluginError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Parses and validates the text of a plugins.json (`path` is for messages).
pub fn from_text(path: &Path, text: &str) -> Result<Plugins, PluginError> {
    let l = lenient::load::<PluginFile>(path, text, &shape())?;
    let invalid = |key: String, message: String, hint: &str| PluginError::Invalid {
        path: path.to_path_buf(),
        line: line_of(&l.lines, &key),
        key,
        message,
        hint: hint.to_string(),
    };
    let mut defs: Vec<RunnerDef> = Vec::new();
    let mut errors = Vec::new();
    for (i, r) in l.value.runners.iter().enumerate() {
        match validate(i, r, &defs, &invalid) {
            Ok(d) => defs.push(d),
            Err(e) => errors.push(e),
        }
    }
    Ok(Plugins {
        file: l.value,
        runners: defs,
        warnings: l.warnings.into_iter().map(with_tip).collect(),
        errors,
    })
}

/// Keys other runner configs have (a working directory, environment variables) that a
/// plugin runner does without: the warning says how to get the same from `command`.
fn with_tip(warning: String) -> String {
    const DIR: &[&str] = &[
        "cwd",
        "dir",
        "workdir",
        "working_dir",
        "working_directory",
        "working-directory",
    ];
    const ENV: &[&str] = &["env", "environment", "variables"];
    let named = |keys: &[&str]| {
        keys.iter()
            .any(|k| warning.contains(&format!("].{k}` is ignored")))
    };
    if named(DIR) {
        format!(
            "{warning} (a runner's command runs in the project directory: write `cd DIR && ...` in `command`, and give `result_file` relative to the project directory)"
        )
    } else if named(ENV) {
        format!("{warning} (set variables in `command` itself: `NAME=value tool ...`)")
    } else {
        warning
    }
}

fn validate(
    i: usize,
    r: &PluginRunner,
    defs: &[RunnerDef],
    invalid: &dyn Fn(String, String, &str) -> PluginError,
) -> Result<RunnerDef, PluginError> {
    if !valid_id(&r.id) {
        return Err(invalid(
            format!("runners[{i}].id"),
            format!("{:?} is not a valid runner id", r.id),
            "use letters, digits, `-`, `_` or `.` (it names a directory), at most 64 characters",
        ));
    }
    if defs.iter().any(|d| d.id == r.id) {
        return Err(invalid(
            format!("runners[{i}].id"),
            format!("runner id `{}` is used twice", r.id),
            "give every runner a distinct id",
        ));
    }
    let format = match r.result_format.as_deref().map(str::trim) {
        None | Some("") | Some("auto") => None,
        Some(name) => Some(Format::from_name(name).ok_or_else(|| {
            invalid(
                format!("runners[{i}].result_format"),
                format!("unknown result_format `{name}`"),
                &format!("use `auto` or one of: {}", Format::names().join(", ")),
            )
        })?),
    };
    let results = r
        .result_file
        .as_ref()
        .map(OneOrMany::to_vec)
        .unwrap_or_default();
    let command = r.command.clone().filter(|c| !c.trim().is_empty());
    if command.is_none() && results.is_empty() {
        return Err(invalid(
            format!("runners[{i}]"),
            format!("runner `{}` has neither `command` nor `result_file`", r.id),
            "add a `command` to run, or a `result_file` glob to collect",
        ));
    }
    if r.timeout_sec == Some(0) {
        return Err(invalid(
            format!("runners[{i}].timeout_sec"),
            "timeout_sec must be at least 1".into(),
            "give a number of seconds, or remove the key to use the default",
        ));
    }
    let mut d = RunnerDef::new(&r.id, r.kind, RunnerSource::Plugin);
    d.detect_file = r.detect_file.clone().filter(|s| !s.is_empty());
    d.command = command;
    d.result_files = results;
    d.result_format = format;
    d.timeout_sec = r.timeout_sec;
    d.limits = r.limits.clone().unwrap_or_default();
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"name": "django-plugin", "version": "1.0.0", "runners": [
    {"id": "django_pytest", "kind": "test", "detect_file": "manage.py",
     "command": "pytest --junitxml={run_dir}/django.xml",
     "result_file": "{run_dir}/django.xml", "result_format": "junit-xml"}]}"#;

    #[test]
    fn the_seed_format_loads() {
        let p = from_text(Path::new("plugins.json"), SEED).unwrap();
        assert_eq!(p.file.name, "django-plugin");
        let r = &p.runners[0];
        assert_eq!(r.id, "django_pytest");
        assert_eq!(r.kind, RunnerKind::Test);
        assert_eq!(r.detect_file.as_deref(), Some("manage.py"));
        assert_eq!(r.result_files, vec!["{run_dir}/django.xml"]);
        assert_eq!(r.result_format, Some(Format::JunitXml));
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn unknown_result_format_lists_valid_ones_with_line() {
        let text = "{\"runners\": [\n {\"id\": \"a\", \"kind\": \"test\",\n  \"command\": \"true\",\n  \"result_format\": \"junitxml2\"}]}";
        let p = from_text(Path::new(".codeloop/plugins.json"), text).unwrap();
        let e = &p.errors[0];
        let s = e.to_string();
        assert!(
            s.contains("line 4") && s.contains("runners[0].result_format"),
            "{s}"
        );
        assert!(e.hint().contains("junit-xml") && e.hint().contains("auto"));
    }

    #[test]
    fn typo_key_warns_and_bad_kind_errors() {
        let text =
            r#"{"runners": [{"id": "a", "kind": "test", "comand": "x", "result_file": "r.xml"}]}"#;
        let p = from_text(Path::new("p.json"), text).unwrap();
        assert!(
            p.warnings[0].contains("did you mean `runners[0].command`"),
            "{:?}",
            p.warnings
        );
        let text = "{\"runners\": [{\"id\": \"a\",\n \"kind\": \"tests\", \"command\": \"x\"}]}";
        let s = from_text(Path::new("p.json"), text)
            .unwrap_err()
            .to_string();
        assert!(s.contains("runners[0].kind") && s.contains("line 2"), "{s}");
        assert!(s.contains("`build`, `test`, `lint`"), "{s}");
    }

    #[test]
    fn a_working_directory_or_env_key_says_how_to_do_it_in_command() {
        let text = "{\"runners\": [{\"id\": \"a\", \"kind\": \"test\",\n \"cwd\": \"backend\", \"env\": {\"X\": \"1\"},\n \"timeout\": 10, \"command\": \"true\"}]}";
        let p = from_text(Path::new("p.json"), text).unwrap();
        assert_eq!(p.warnings.len(), 3, "{:?}", p.warnings);
        let cwd = p
            .warnings
            .iter()
            .find(|w| w.contains("`runners[0].cwd`"))
            .unwrap();
        assert!(
            cwd.contains("line 2") && cwd.contains("`cd DIR && ...`"),
            "{cwd}"
        );
        assert!(!cwd.contains("did you mean `runners[0].id`"), "{cwd}");
        let env = p
            .warnings
            .iter()
            .find(|w| w.contains("`runners[0].env`"))
            .unwrap();
        assert!(env.contains("`NAME=value tool ...`"), "{env}");
        let t = p
            .warnings
            .iter()
            .find(|w| w.contains("`runners[0].timeout`"))
            .unwrap();
        assert!(t.contains("did you mean `runners[0].timeout_sec`"), "{t}");
    }

    #[test]
    fn list_of_globs_and_collect_only() {
        let text =
            r#"{"runners": [{"id": "c", "kind": "lint", "result_file": ["a/*.json", "b.json"]}]}"#;
        let p = from_text(Path::new("p.json"), text).unwrap();
        assert_eq!(p.runners[0].command, None);
        assert_eq!(p.runners[0].result_files.len(), 2);
        let text = r#"{"runners": [{"id": "c", "kind": "lint"}, {"id": "../x", "kind": "lint", "command": "x"}]}"#;
        let p = from_text(Path::new("p.json"), text).unwrap();
        assert_eq!(p.errors.len(), 2);
        assert!(p.runners.is_empty());
    }
}
