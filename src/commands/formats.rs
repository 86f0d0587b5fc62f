//! `codeloop formats`: the parser registry as people and scripts read it — every format's
//! name, what writes it and how `auto` recognises it ([`crate::parsers::catalog`]).

use crate::cli::{FormatsArgs, OutputFormat};
use crate::parsers::catalog;
use crate::{exit, ui};

pub fn run(args: FormatsArgs) -> i32 {
    let all = catalog::all();
    match args.format {
        OutputFormat::Json => {
            let doc = serde_json::json!({
                "schema_version": crate::model::SCHEMA_VERSION,
                "formats": all,
            });
            match serde_json::to_string_pretty(&doc) {
                Ok(s) => ui::out_raw(&s),
                Err(e) => {
                    ui::warn(&format!("cannot print JSON: {e}"));
                    return exit::INFRA;
                }
            }
        }
        OutputFormat::Human => {
            ui::out_raw(&format!(
                "{} formats; `auto` (the default) sniffs each file's first 64 KiB.\n\
                 Pass a name (or an alias) as --format-hint or a plugin's result_format.\n",
                all.len()
            ));
            for kind in ["tests", "findings"] {
                ui::out_raw(if kind == "tests" {
                    "Test reports:"
                } else {
                    "Lint and build findings:"
                });
                for f in all.iter().filter(|f| f.kind == kind) {
                    ui::out_raw(&format!("  {}", f.name));
                    ui::out_raw(&format!("      reads:   {}", f.reads));
                    ui::out_raw(&format!("      sniffed: {}", f.sniffed));
                    if !f.aliases.is_empty() {
                        ui::out_raw(&format!("      aliases: {}", f.aliases.join(", ")));
                    }
                }
                ui::out_raw("");
            }
        }
    }
    exit::OK
}
