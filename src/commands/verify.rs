//! `codeloop verify`: flags → the verify stage (`pipeline::verify`) → print.
//!
//! `--format json` prints one document on stdout: verify.json plus `run_dir` and
//! `exit_code` (see README "verify --format json"). Exit codes: 0 every runner passed, 1 a
//! runner did not pass, 2 usage/config error, 3 nothing to run or collect, 4 the run
//! directory could not be written or codeloop was interrupted.

use crate::cli::{OutputFormat, VerifyArgs};
use crate::commands::output::{print_human, progress_mode, warn_unmatched};
use crate::pipeline::options::VerifyOptions;
use crate::pipeline::verify::{self, VerifyOutput};
use crate::ui;

pub fn run(args: VerifyArgs) -> i32 {
    let json = args.common.format == OutputFormat::Json;
    let opts = VerifyOptions::from(&args);
    let prepared = match verify::prepare(&opts) {
        Ok(p) => p,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    for w in &prepared.warnings {
        ui::warn(w);
    }
    let cwd = prepared.resolved.cwd.clone();
    let out = match verify::run_prepared(&opts, prepared, progress_mode(opts.quiet), None) {
        Ok(o) => o,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    warn_unmatched(&out.doc);
    if json {
        let o = VerifyOutput {
            doc: &out.doc,
            run_dir: out.run_dir.path.to_string_lossy().into_owned(),
            exit_code: out.code,
        };
        match serde_json::to_string_pretty(&o) {
            Ok(s) => ui::out(&s),
            Err(e) => crate::errln!("error: cannot print JSON: {e}"),
        }
    } else if !opts.quiet {
        print_human(&out.doc, &out.run_dir, &cwd);
    }
    out.code
}
