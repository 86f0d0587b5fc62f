//! `codeloop doctor`: prints the setup check ([`crate::setup::doctor`]) for people, or as
//! JSON, and exits with its code (2 for a settings problem, 4 when runs cannot be written).

use crate::cli::{DoctorArgs, OutputFormat};
use crate::setup::doctor::check;

pub fn run(args: DoctorArgs) -> i32 {
    let (rep, code) = check(&(&args.common).into());
    if args.common.format == OutputFormat::Json {
        match serde_json::to_string_pretty(&rep) {
            Ok(s) => crate::outln!("{s}"),
            Err(e) => crate::errln!("error: {e}"),
        }
        return code;
    }
    crate::outln!("codeloop {}", rep.version);
    crate::outln!("project:    {}", rep.cwd);
    crate::outln!(
        "config:     {} ({})",
        rep.config_file,
        if rep.config_found {
            "found"
        } else {
            "not found: defaults apply"
        }
    );
    crate::outln!(
        "plugins:    {} ({})",
        rep.plugins_file,
        if rep.plugins_found {
            "found"
        } else {
            "not found"
        }
    );
    crate::outln!(
        "stacks:     {}",
        if rep.stacks.is_empty() {
            "none detected".to_string()
        } else {
            rep.stacks.join(", ")
        }
    );
    crate::outln!("runners:");
    if rep.runners.is_empty() {
        crate::outln!("  (none)");
    }
    for r in &rep.runners {
        let tool = if !r.missing.is_empty() {
            format!("MISSING: {}", r.missing.join(", "))
        } else if r.programs.is_empty() {
            String::new()
        } else {
            format!("{} found", r.programs.join(", "))
        };
        crate::outln!(
            "  {:16} {:5} {:8} {}{}",
            r.id,
            r.kind,
            r.source,
            if r.applies {
                ""
            } else {
                "(does not apply: detect_file missing) "
            },
            tool
        );
    }
    let found: Vec<&str> = rep
        .tools
        .iter()
        .filter(|t| t.1.is_some())
        .map(|t| t.0.as_str())
        .collect();
    crate::outln!("on PATH:    {}", found.join(", "));
    crate::outln!(
        "runs go to: {}/runs ({} runs{}; {})",
        rep.artifacts_dir,
        rep.runs,
        if rep.incomplete_runs > 0 {
            format!(", {} incomplete", rep.incomplete_runs)
        } else {
            String::new()
        },
        if rep.artifacts_writable {
            "writable"
        } else {
            "NOT writable"
        }
    );
    crate::outln!(
        "ci:         {}",
        rep.ci.as_deref().unwrap_or("none detected (local run)")
    );
    for w in &rep.warnings {
        crate::outln!("warning: {w}");
    }
    if rep.problems.is_empty() {
        crate::outln!("no problems found");
    }
    for p in &rep.problems {
        crate::outln!("problem: {}", p.problem);
        if !p.fix.is_empty() {
            crate::outln!("  fix: {}", p.fix);
        }
    }
    code
}
