//! The setup check behind `codeloop doctor` and the MCP tool `codeloop_doctor`: the project
//! directory, config.json and plugins.json (valid? unknown keys?), the detected stacks and
//! runners, which tools are on PATH (each runner's declared tool and every program its command
//! starts, built-in or plugin), where runs go (writable? incomplete runs?), and the CI, as one
//! [`DoctorReport`] with each problem's fix. Reads the project; writes only a probe file it
//! removes at once.

use std::path::PathBuf;

use serde::Serialize;

use crate::artifact;
use crate::exit;
use crate::model::RunnerSource;
use crate::pipeline::options::Common;
use crate::pipeline::verify::{plan, resolve_settings};
use crate::runners::{detect, find_on_path, tools};
use crate::settings;

/// Tools codeloop's built-in runners may call.
pub const TOOLS: &[&str] = &[
    "sh",
    "git",
    "cargo",
    "cargo-nextest",
    "cargo-clippy",
    "node",
    "npm",
    "pnpm",
    "yarn",
    "python3",
    "ruff",
    "go",
    "golangci-lint",
    "ruby",
    "bundle",
    "dotnet",
    "java",
    "mvn",
    "gradle",
];

#[derive(Serialize, Default)]
pub struct Problem {
    pub problem: String,
    pub fix: String,
}

#[derive(Serialize)]
pub struct RunnerCheck {
    pub id: String,
    pub kind: String,
    pub source: String,
    pub command: Option<String>,
    pub tool: Option<String>,
    pub tool_found: Option<bool>,
    /// The declared tool and every program the command starts (see `runners::tools`).
    pub programs: Vec<String>,
    /// Those of `programs` not found (on PATH, or as a path relative to the project).
    pub missing: Vec<String>,
    pub applies: bool,
}

/// What `doctor --format json` prints.
#[derive(Serialize, Default)]
pub struct DoctorReport {
    pub schema_version: u32,
    pub version: String,
    pub cwd: String,
    pub config_file: String,
    pub config_found: bool,
    pub plugins_file: String,
    pub plugins_found: bool,
    pub stacks: Vec<String>,
    pub runners: Vec<RunnerCheck>,
    pub tools: Vec<(String, Option<String>)>,
    pub artifacts_dir: String,
    pub artifacts_writable: bool,
    pub runs: usize,
    pub incomplete_runs: usize,
    pub ci: Option<String>,
    pub warnings: Vec<String>,
    pub problems: Vec<Problem>,
}

pub fn check(common: &Common) -> (DoctorReport, i32) {
    let mut rep = DoctorReport {
        schema_version: crate::model::SCHEMA_VERSION,
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    };
    let mut code = exit::OK;
    rep.tools = TOOLS
        .iter()
        .map(|t| {
            (
                t.to_string(),
                find_on_path(t).map(|p| p.to_string_lossy().into_owned()),
            )
        })
        .collect();
    rep.ci = crate::pipeline::verify::context_from_env().ci;
    let r = match resolve_settings(common) {
        Ok(r) => r,
        Err(f) => {
            rep.problems.push(Problem {
                problem: f.message,
                fix: f.hint.unwrap_or_default(),
            });
            return (rep, exit::USAGE);
        }
    };
    rep.cwd = r.cwd.to_string_lossy().into_owned();
    let cfg: PathBuf = common
        .config
        .clone()
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
            }
        })
        .unwrap_or_else(|| r.cwd.join(settings::CONFIG_PATH));
    rep.config_file = cfg.to_string_lossy().into_owned();
    rep.config_found = cfg.is_file();
    let plugins = r.cwd.join(settings::PLUGINS_PATH);
    rep.plugins_file = plugins.to_string_lossy().into_owned();
    rep.plugins_found = plugins.is_file();
    rep.warnings.extend(r.warnings.iter().cloned());
    rep.stacks = detect::stacks(&r.cwd)
        .into_iter()
        .map(String::from)
        .collect();
    match plan(&r, &[], None, &[]) {
        Ok(p) => {
            rep.warnings.extend(p.warnings);
            for pl in &p.plan {
                let d = &pl.def;
                let applies = pl.decided.is_none();
                // The runner's declared tool, then every program its command starts.
                let mut wanted: Vec<String> = d.tool.iter().cloned().collect();
                for prog in d
                    .command
                    .as_deref()
                    .map(tools::programs)
                    .unwrap_or_default()
                {
                    if !wanted.contains(&prog) {
                        wanted.push(prog);
                    }
                }
                let missing: Vec<String> = wanted
                    .iter()
                    .filter(|t| !program_found(&r.cwd, t))
                    .cloned()
                    .collect();
                if applies {
                    for t in &missing {
                        let is_tool = d.tool.as_deref() == Some(t.as_str());
                        let fix = match (&d.install_hint, is_tool) {
                            (Some(h), true) => h.clone(),
                            _ if t.contains('/') => format!(
                                "create `{t}` (relative to {}) and make it executable, or fix the runner's command",
                                r.cwd.display()
                            ),
                            _ => format!(
                                "install `{t}` (or put it on PATH), or change runner `{}`'s command{}",
                                d.id,
                                if d.source == RunnerSource::Plugin {
                                    " in .codeloop/plugins.json"
                                } else {
                                    ""
                                }
                            ),
                        };
                        rep.problems.push(Problem {
                            problem: if t.contains('/') {
                                format!("runner `{}` runs `{t}`, which does not exist or is not executable", d.id)
                            } else if is_tool && d.source == RunnerSource::Builtin {
                                format!(
                                    "runner `{}` needs `{t}`, which is not on PATH (it will be reported as unavailable)",
                                    d.id
                                )
                            } else {
                                format!(
                                    "runner `{}` runs `{t}`, which is not on PATH (the runner will fail)",
                                    d.id
                                )
                            },
                            fix,
                        });
                    }
                }
                let tool_found = d.tool.as_deref().map(|t| !missing.iter().any(|m| m == t));
                rep.runners.push(RunnerCheck {
                    id: d.id.clone(),
                    kind: d.kind.as_str().into(),
                    source: format!("{:?}", d.source).to_lowercase(),
                    command: d.command.clone(),
                    tool: d.tool.clone(),
                    tool_found,
                    programs: wanted,
                    missing,
                    applies,
                });
            }
            if p.plan.is_empty() {
                rep.problems.push(Problem {
                    problem: "no runner detected and no .codeloop/plugins.json".into(),
                    fix: "run `codeloop init`, or collect reports with `codeloop verify --report 'GLOB'`".into(),
                });
            }
        }
        Err(f) => {
            rep.warnings.extend(f.warnings);
            rep.problems.push(Problem {
                problem: f.message,
                fix: f.hint.unwrap_or_default(),
            });
            code = exit::USAGE;
        }
    }
    rep.artifacts_dir = r.artifacts_dir.to_string_lossy().into_owned();
    let root = artifact::runs_root(&r.artifacts_dir);
    rep.artifacts_writable = writable(&root);
    if !rep.artifacts_writable {
        rep.problems.push(Problem {
            problem: format!("runs cannot be written to `{}`", root.display()),
            fix: "make it writable, or pass --artifacts-dir DIR (or set CODELOOP_ARTIFACTS_DIR)"
                .into(),
        });
        if code == exit::OK {
            code = exit::INFRA;
        }
    }
    let runs = artifact::list_runs(&r.artifacts_dir);
    rep.runs = runs.len();
    rep.incomplete_runs = runs.iter().filter(|x| !x.is_complete()).count();
    if rep.incomplete_runs > 0 {
        rep.warnings.push(format!(
            "{} incomplete run(s) (no manifest.json: interrupted or still running); `codeloop history --gc` removes old ones",
            rep.incomplete_runs
        ));
    }
    if find_on_path("sh").is_none() {
        rep.problems.push(Problem {
            problem: "`sh` is not on PATH: runner commands run with /bin/sh -c".into(),
            fix: "install a POSIX shell".into(),
        });
    }
    (rep, code)
}

/// Is `program` runnable: on PATH, or (with a `/`) an executable file relative to `cwd`.
fn program_found(cwd: &std::path::Path, program: &str) -> bool {
    if program.contains('/') {
        find_on_path(&cwd.join(program).to_string_lossy()).is_some()
    } else {
        find_on_path(program).is_some()
    }
}

/// Can we create files under `dir` (creating it if needed)? Leaves nothing behind.
fn writable(dir: &std::path::Path) -> bool {
    let existed = dir.exists();
    if std::fs::create_dir_all(dir).is_err() {
        return false;
    }
    let probe = dir.join(format!(".doctor-probe-{}", std::process::id()));
    let ok = std::fs::write(&probe, b"").is_ok();
    let _ = std::fs::remove_file(&probe);
    if !existed {
        let _ = std::fs::remove_dir(dir);
        if let Some(parent) = dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
    ok
}
