//! `codeloop init`: writes a starter `.codeloop/config.json`, `.codeloop/plugins.json` for the
//! detected stack, and `.codeloop/README.md` — the ones that are missing: files the user
//! already has are kept (and listed), unless `--force`.
//!
//! The files are JSONC (comments allowed), but the starter files are generated from values,
//! so they carry their comments as `"_comment"` keys, which the loader ignores at any depth.
//! The README next to them explains every setting.
//!
//! The files and their writing are [`crate::setup::starter`]'s; this prints what was done.

use serde_json::json;

use crate::cli::{InitArgs, OutputFormat};
use crate::exit;
use crate::pipeline::verify::resolve_settings;
use crate::setup::starter::{pretty, write_mcp_json, write_starter};

pub fn run(args: InitArgs) -> i32 {
    let r = match resolve_settings(&(&args.common).into()) {
        Ok(r) => r,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    let mut written = Vec::new();
    if args.mcp {
        match write_mcp_json(&r.cwd) {
            Ok(()) => written.push(".mcp.json".to_string()),
            Err(e) => {
                crate::errln!("error: {e}");
                crate::errln!(
                    "hint: fix or remove .mcp.json, then run `codeloop init --mcp` again"
                );
                return exit::USAGE;
            }
        }
    }
    let done = match write_starter(&r.cwd, args.force) {
        Ok(d) => d,
        Err(e) => {
            crate::ui::error(&e, Some("make the project directory writable"));
            return exit::INFRA;
        }
    };
    written.extend(done.written);
    let kept = done.kept;
    // Detected once, by write_starter.
    let stacks = done.stacks;
    if args.common.format == OutputFormat::Json {
        let out = json!({"schema_version": crate::model::SCHEMA_VERSION, "written": written, "kept": kept, "stacks": stacks});
        crate::outln!("{}", pretty(&out));
    } else {
        for w in &written {
            crate::outln!("wrote {w}");
        }
        for k in &kept {
            crate::outln!("kept {k} (exists; `codeloop init --force` overwrites it)");
        }
        if stacks.is_empty() && !kept.iter().any(|k| k.ends_with("plugins.json")) {
            crate::outln!(
                "no known stack detected: edit the example runner in .codeloop/plugins.json"
            );
        } else if stacks.is_empty() {
            crate::outln!("no known stack detected");
        } else {
            crate::outln!("detected: {}", stacks.join(", "));
        }
        crate::outln!("next: `codeloop doctor`, then `codeloop verify`");
    }
    exit::OK
}
