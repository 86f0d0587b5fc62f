//! The starter files of `codeloop init` and the MCP tool `codeloop_init`: a
//! `.codeloop/config.json`, a `.codeloop/plugins.json` for the detected stack, and
//! `.codeloop/README.md`, written when missing (files the user already has are kept, unless
//! forced), and the `.mcp.json` entry MCP clients discover.
//!
//! The files are JSONC (comments allowed), but the starter files are generated from values,
//! so they carry their comments as `"_comment"` keys, which the loader ignores at any depth.
//! The README next to them explains every setting.

use std::path::Path;

use serde_json::{Value, json};

use crate::model::RunnerSource;
use crate::runners::{RunnerDef, detect};
use crate::settings::Config;

/// The starter config.json: every default spelled out, with comments.
pub fn starter_config() -> Value {
    let d = Config::default();
    json!({
        "_comment": "codeloop settings. Keys starting with _ or $ are comments. Precedence: defaults < this file < CODELOOP_* env < CLI flags. See .codeloop/README.md.",
        "verify": {
            "_comment": "timeout_sec: per runner (a plugin runner's timeout_sec wins); jobs: parallel runners, 0 = cores; reports: globs to collect instead of running anything.",
            "timeout_sec": d.verify.timeout_sec,
            "grace_sec": d.verify.grace_sec,
            "jobs": d.verify.jobs,
            "reports": d.verify.reports,
            "runners": d.verify.runners,
            "builtin_runners": d.verify.builtin_runners,
            "fsync": d.verify.fsync,
            "limits": {
                "_comment": "Per runner (a plugin runner's limits win key by key); 0 = off. memory_mb: cgroup v2 memory.max where possible, else RLIMIT_AS per process. cpu_time_sec: RLIMIT_CPU per process. log_max_bytes: head + tail kept of each of stdout.log and stderr.log.",
                "memory_mb": d.verify.limits.memory_mb,
                "cpu_time_sec": d.verify.limits.cpu_time_sec,
                "log_max_bytes": d.verify.limits.log_max_bytes
            }
        },
        "gate": {
            "_comment": "The gate fails with more than max_failures failing tests, below min_score, when nothing ran (fail_on_empty), or when a result file could not be read (fail_on_unreadable).",
            "min_score": d.gate.min_score,
            "max_failures": d.gate.max_failures,
            "fail_on_empty": d.gate.fail_on_empty,
            "fail_on_unreadable": d.gate.fail_on_unreadable,
            "fail_on": "any"
        }
    })
}

fn runner_json(d: &RunnerDef) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("id".into(), json!(d.id));
    m.insert("kind".into(), json!(d.kind.as_str()));
    if let Some(f) = &d.detect_file {
        m.insert("detect_file".into(), json!(f));
    }
    if let Some(c) = &d.command {
        m.insert("command".into(), json!(c));
    }
    match d.result_files.len() {
        0 => {}
        1 => {
            m.insert("result_file".into(), json!(d.result_files[0]));
        }
        _ => {
            m.insert("result_file".into(), json!(d.result_files));
        }
    }
    m.insert(
        "result_format".into(),
        json!(d.result_format.map(|f| f.name()).unwrap_or("auto")),
    );
    Value::Object(m)
}

/// The starter plugins.json: the detected built-ins spelled out (so they can be edited: a
/// plugin runner replaces the built-in with the same id), or an example when nothing is
/// detected.
pub fn starter_plugins(dir: &Path) -> Value {
    let detected: Vec<RunnerDef> = detect::detect(dir, &detect::PathTools)
        .into_iter()
        .filter(|d| d.source == RunnerSource::Builtin)
        .collect();
    let runners: Vec<Value> = if detected.is_empty() {
        vec![json!({
            "_comment": "An example: replace the command with your test command and point result_file at its report.",
            "id": "tests",
            "kind": "test",
            "command": "echo 'configure me in .codeloop/plugins.json' >&2; exit 1",
            "result_file": "{run_dir}/tests.xml",
            "result_format": "junit-xml",
            "timeout_sec": 600
        })]
    } else {
        detected.iter().map(runner_json).collect()
    };
    json!({
        "_comment": "Runners for this project. {run_id}, {run_dir} and {runner_dir} are replaced (also in env as CODELOOP_RUN_ID, CODELOOP_RUN_DIR, CODELOOP_RUNNER_ID). A runner without command only collects result_file globs. Delete runners you do not want; built-ins with the same id are replaced.",
        "name": dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into()),
        "version": "1.0.0",
        "runners": runners
    })
}

pub const README: &str = "# .codeloop\n\n\
codeloop reads two files here. Both are JSONC: `//` and `/* */` comments and trailing\n\
commas are allowed, and any key that starts with `_` or `$` (`\"_comment\"`, `\"$schema\"`)\n\
is ignored wherever it appears; unknown keys are warned about with the closest valid key.\n\n\
- `config.json`: settings. Precedence: defaults < config.json < environment\n\
  (`CODELOOP_TIMEOUT_SEC`, `CODELOOP_JOBS`, `CODELOOP_GRACE_SEC`, `CODELOOP_REPORTS`,\n\
  `CODELOOP_RUNNERS`, `CODELOOP_ARTIFACTS_DIR`, `CODELOOP_CONFIG`) < command-line flags.\n\
- `plugins.json`: runners (`id`, `kind`: build|test|lint, `detect_file`, `command`,\n\
  `result_file` (a path, glob or list), `result_format` (a parser name or `auto`),\n\
  `timeout_sec`). A plugin runner replaces the built-in runner with the same id.\n\n\
Runs are written to `runs/<run_id>/` (`.gitignore` here keeps them out of git).\n\
`codeloop doctor` checks this setup; `codeloop verify` runs it.\n";

/// What [`write_starter`] did, as paths relative to the project.
#[derive(Debug, Default, serde::Serialize)]
pub struct Starter {
    pub written: Vec<String>,
    pub kept: Vec<String>,
    pub stacks: Vec<&'static str>,
}

/// Writes the starter files that are missing under `<cwd>/.codeloop/` (all of them with
/// `force`). Files the user already has are kept: a project that has its plugins.json
/// still gets the missing config.json and README. Prints nothing (the MCP server uses it).
pub fn write_starter(cwd: &Path, force: bool) -> Result<Starter, crate::artifact::ArtifactError> {
    let dir = cwd.join(".codeloop");
    let files = [
        ("config.json", pretty(&starter_config())),
        ("plugins.json", pretty(&starter_plugins(cwd))),
        ("README.md", README.to_string()),
        (
            ".gitignore",
            "# codeloop run directories (artifacts, not sources)\nruns/\n".to_string(),
        ),
    ];
    let mut out = Starter {
        stacks: detect::stacks(cwd),
        ..Starter::default()
    };
    for (name, text) in &files {
        let p = dir.join(name);
        if !force && p.exists() {
            out.kept.push(format!(".codeloop/{name}"));
            continue;
        }
        crate::artifact::write_atomic(&p, text.as_bytes())?;
        out.written.push(format!(".codeloop/{name}"));
    }
    Ok(out)
}

/// The `.mcp.json` entry MCP clients (Claude Code, Cursor, ...) discover in a project.
pub fn mcp_entry() -> Value {
    json!({"command": "codeloop", "args": ["mcp"], "env": {}})
}

/// Adds (or replaces) `mcpServers.codeloop` in `<cwd>/.mcp.json`, keeping other servers.
pub fn write_mcp_json(cwd: &Path) -> Result<(), String> {
    let path = cwd.join(".mcp.json");
    let mut doc: Value = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map_err(|e| format!("`{}` is not valid JSON: {e}", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(format!("cannot read `{}`: {e}", path.display())),
    };
    let Some(obj) = doc.as_object_mut() else {
        return Err(format!("`{}` is not a JSON object", path.display()));
    };
    let servers = obj.entry("mcpServers").or_insert_with(|| json!({}));
    let Some(servers) = servers.as_object_mut() else {
        return Err(format!(
            "`mcpServers` in `{}` is not an object",
            path.display()
        ));
    };
    servers.insert("codeloop".into(), mcp_entry());
    crate::artifact::write_atomic(&path, pretty(&doc).as_bytes()).map_err(|e| e.to_string())
}

pub fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_json_keeps_other_servers_and_rejects_garbage() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".mcp.json");
        std::fs::write(&p, r#"{"mcpServers": {"other": {"command": "x"}}}"#).unwrap();
        write_mcp_json(d.path()).unwrap();
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(v["mcpServers"]["other"]["command"], "x");
        assert_eq!(v["mcpServers"]["codeloop"]["args"][0], "mcp");
        std::fs::write(&p, "[1,").unwrap();
        let e = write_mcp_json(d.path()).unwrap_err();
        assert!(
            e.contains(".mcp.json") && e.contains("not valid JSON"),
            "{e}"
        );
    }

    #[test]
    fn starter_files_load_without_warnings() {
        let text = pretty(&starter_config());
        let (c, w) = Config::from_text(Path::new("config.json"), &text).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c, Config::default());
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("pytest.ini"), "").unwrap();
        let p = pretty(&starter_plugins(d.path()));
        let loaded = crate::runners::plugins::from_text(Path::new("plugins.json"), &p).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.runners[0].id, "pytest");
        let empty = tempfile::tempdir().unwrap();
        let p = pretty(&starter_plugins(empty.path()));
        let loaded = crate::runners::plugins::from_text(Path::new("plugins.json"), &p).unwrap();
        assert_eq!(loaded.runners[0].id, "tests");
    }
}
