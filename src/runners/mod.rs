//! Runners (DESIGN §2): what codeloop runs or collects. This module owns the runner
//! definition ([`RunnerDef`]), built-in detection ([`detect`]), the Plugin SDK file
//! `.codeloop/plugins.json` ([`plugins`]), placeholder interpolation, selection (`--runner`),
//! process execution ([`exec`]) under per-runner limits ([`limits`]) and result-file
//! collection ([`collect`]).

pub mod collect;
pub mod detect;
pub mod exec;
pub mod limits;
pub mod plugins;
pub mod progress;
pub mod run;
pub mod shard;
pub mod tools;

use std::path::{Path, PathBuf};

use crate::model::{RunnerKind, RunnerSource};
use crate::parsers::Format;

/// One runner, after detection and plugin merging, before interpolation.
#[derive(Clone, Debug, PartialEq)]
pub struct RunnerDef {
    pub id: String,
    pub kind: RunnerKind,
    pub source: RunnerSource,
    /// The file whose presence (relative to the project) makes this runner apply.
    pub detect_file: Option<String>,
    /// Shell command (`sh -c`); `None` for a collect-only runner.
    pub command: Option<String>,
    /// Result file paths or globs (may use `{run_dir}`, `{run_id}`, `{runner_dir}`).
    pub result_files: Vec<String>,
    /// `None` = `auto` (sniff each file).
    pub result_format: Option<Format>,
    pub timeout_sec: Option<u64>,
    /// The program that must be on PATH (built-ins), for `unavailable` before spawning.
    pub tool: Option<String>,
    /// How to install the tool, shown when it is missing.
    pub install_hint: Option<String>,
    /// This runner's own limits (plugins.json); unset keys fall back to `verify.limits`.
    pub limits: LimitOverrides,
    /// A lint runner that compiles the project the build runners compile (clippy): it waits
    /// for them and is `blocked` when one failed, like a test runner, instead of reporting
    /// the same compiler errors a second time.
    pub after_build: bool,
}

/// A runner's own limits (`limits` of a plugins.json runner): each key wins over the same key
/// of `verify.limits` in config.json; `0` turns that limit off for this runner.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct LimitOverrides {
    pub memory_mb: Option<u64>,
    pub cpu_time_sec: Option<u64>,
    pub log_max_bytes: Option<u64>,
}

impl LimitOverrides {
    /// The effective limits over the config's defaults; `None` = off.
    pub fn resolve(&self, cfg: &crate::settings::LimitsConfig) -> exec::Limits {
        let on = |v: u64| (v > 0).then_some(v);
        exec::Limits {
            memory_mb: on(self.memory_mb.unwrap_or(cfg.memory_mb)),
            cpu_time_sec: on(self.cpu_time_sec.unwrap_or(cfg.cpu_time_sec)),
            log_max_bytes: on(self.log_max_bytes.unwrap_or(cfg.log_max_bytes)),
        }
    }
}

impl RunnerDef {
    pub fn new(id: &str, kind: RunnerKind, source: RunnerSource) -> Self {
        RunnerDef {
            id: id.to_string(),
            kind,
            source,
            detect_file: None,
            command: None,
            result_files: Vec::new(),
            result_format: None,
            timeout_sec: None,
            tool: None,
            install_hint: None,
            limits: LimitOverrides::default(),
            after_build: false,
        }
    }
}

/// The values substituted into commands and result paths, also exported to the runner's
/// environment as `CODELOOP_RUN_ID`, `CODELOOP_RUN_DIR`, `CODELOOP_RUNNER_ID` and
/// `CODELOOP_RUNNER_DIR`.
#[derive(Clone, Debug)]
pub struct Vars<'a> {
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub runner_id: &'a str,
    pub runner_dir: &'a Path,
}

/// Replaces `{run_id}`, `{run_dir}`, `{runner_id}` and `{runner_dir}`. Anything else in braces
/// (shell `${VAR}`, `{a,b}` globs) is left alone.
pub fn interpolate(s: &str, v: &Vars<'_>) -> String {
    s.replace("{run_id}", v.run_id)
        .replace("{run_dir}", &v.run_dir.to_string_lossy())
        .replace("{runner_id}", v.runner_id)
        .replace("{runner_dir}", &v.runner_dir.to_string_lossy())
}

/// [`interpolate`] for a result path: also the environment's names of the same values
/// (`$CODELOOP_RUNNER_DIR/x.xml`, `${CODELOOP_RUN_DIR}/x.xml`), which a command's own
/// shell expands, so a `result_file` written the same way as the command finds the file the
/// command wrote. (Result paths are not run through a shell.)
pub fn interpolate_path(s: &str, v: &Vars<'_>) -> String {
    let mut out = interpolate(s, v);
    for (name, value) in env_vars(v) {
        out = out.replace(&format!("${{{name}}}"), &value);
        let bare = format!("${name}");
        let mut rest = out.as_str();
        let mut next = String::with_capacity(out.len());
        while let Some(i) = rest.find(&bare) {
            let after = &rest[i + bare.len()..];
            next.push_str(&rest[..i]);
            // `$CODELOOP_RUN_DIRS` is another variable: only a whole name is replaced.
            if after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                next.push_str(&bare);
            } else {
                next.push_str(&value);
            }
            rest = after;
        }
        next.push_str(rest);
        out = next;
    }
    out
}

/// Environment variables for a runner's process.
pub fn env_vars(v: &Vars<'_>) -> Vec<(&'static str, String)> {
    vec![
        ("CODELOOP_RUN_ID", v.run_id.to_string()),
        ("CODELOOP_RUN_DIR", v.run_dir.to_string_lossy().into_owned()),
        ("CODELOOP_RUNNER_ID", v.runner_id.to_string()),
        (
            "CODELOOP_RUNNER_DIR",
            v.runner_dir.to_string_lossy().into_owned(),
        ),
    ]
}

/// Merges built-in and plugin runners: a plugin runner replaces the built-in with the same id
/// (in the built-in's position); new plugin runners follow in file order.
pub fn merge(builtin: Vec<RunnerDef>, plugin: Vec<RunnerDef>) -> Vec<RunnerDef> {
    let mut out: Vec<RunnerDef> = builtin;
    for p in plugin {
        match out.iter_mut().find(|b| b.id == p.id) {
            Some(slot) => *slot = p,
            None => out.push(p),
        }
    }
    out
}

/// Keeps only the runners named in `select` (all when empty). Unknown names are an error that
/// lists the known ids.
pub fn select(all: Vec<RunnerDef>, select: &[String]) -> Result<Vec<RunnerDef>, String> {
    if select.is_empty() {
        return Ok(all);
    }
    for s in select {
        if !all.iter().any(|r| &r.id == s) {
            let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
            return Err(format!(
                "no runner `{s}`; known runners: {}",
                if ids.is_empty() {
                    "(none detected)".to_string()
                } else {
                    ids.join(", ")
                }
            ));
        }
    }
    Ok(all.into_iter().filter(|r| select.contains(&r.id)).collect())
}

/// A runner id must be usable as a directory name.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

/// Finds a program on PATH (what a shell would run).
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(id: &str, src: RunnerSource) -> RunnerDef {
        RunnerDef::new(id, RunnerKind::Test, src)
    }

    #[test]
    fn plugin_replaces_builtin_in_place() {
        let b = vec![
            def("cargo-build", RunnerSource::Builtin),
            def("pytest", RunnerSource::Builtin),
        ];
        let p = vec![
            def("pytest", RunnerSource::Plugin),
            def("extra", RunnerSource::Plugin),
        ];
        let m = merge(b, p);
        let ids: Vec<_> = m.iter().map(|r| (r.id.as_str(), r.source)).collect();
        assert_eq!(
            ids,
            vec![
                ("cargo-build", RunnerSource::Builtin),
                ("pytest", RunnerSource::Plugin),
                ("extra", RunnerSource::Plugin)
            ]
        );
    }

    #[test]
    fn result_paths_take_the_environment_names_too() {
        let v = Vars {
            run_id: "R1",
            run_dir: Path::new("/x/runs/R1"),
            runner_id: "t",
            runner_dir: Path::new("/x/runs/R1/runners/t"),
        };
        assert_eq!(
            interpolate_path(
                "$CODELOOP_RUNNER_DIR/a.xml,${CODELOOP_RUN_DIR}/b-$CODELOOP_RUN_ID.xml,$CODELOOP_RUN_DIRS/c,{runner_id}/*.xml",
                &v
            ),
            "/x/runs/R1/runners/t/a.xml,/x/runs/R1/b-R1.xml,$CODELOOP_RUN_DIRS/c,t/*.xml"
        );
    }

    #[test]
    fn interpolation_leaves_shell_braces() {
        let v = Vars {
            run_id: "R1",
            run_dir: Path::new("/x/runs/R1"),
            runner_id: "t",
            runner_dir: Path::new("/x/runs/R1/runners/t"),
        };
        assert_eq!(
            interpolate(
                "cp ${T:-target}/a {run_dir}/a-{run_id}.xml {runner_dir}",
                &v
            ),
            "cp ${T:-target}/a /x/runs/R1/a-R1.xml /x/runs/R1/runners/t"
        );
    }

    #[test]
    fn select_unknown_lists_known() {
        let e = select(vec![def("a", RunnerSource::Builtin)], &["b".into()]).unwrap_err();
        assert!(e.contains("known runners: a"), "{e}");
        assert!(valid_id("django_pytest") && !valid_id("../x") && !valid_id(""));
    }
}
