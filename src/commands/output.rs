//! What the adapters print: verify's table, diagnose's task list, the gate's verdict. Shared
//! by the commands that run those stages (alone, or in `ci`, `merge` and the action), so the
//! lines stay the same whichever entry point ran the stage.

use std::path::Path;

use crate::artifact::RunDir;
use crate::model::{
    DiagnoseDoc, GateDoc, RunStatus, RunnerResult, RunnerStatus, Verdict, VerifyDoc,
};
use crate::runners::progress::Mode;
use crate::runners::run::{NO_MATCH, summary};

/// How verify shows progress: nothing on stdout when quiet (a JSON document comes at the
/// end), a live table on a terminal, plain lines otherwise.
pub fn progress_mode(quiet: bool) -> Mode {
    if quiet {
        Mode::Quiet
    } else if crate::ui::live() {
        Mode::Live
    } else {
        Mode::Plain
    }
}

/// Human summary of a diagnosis.
pub fn print_summary(doc: &DiagnoseDoc, run: &RunDir) {
    crate::outln!(
        "diagnose: {} problem(s), {} repair task(s) in run {}",
        doc.problems.len() as u64 + doc.truncated,
        doc.tasks.len(),
        run.id
    );
    for (i, t) in doc.tasks.iter().take(20).enumerate() {
        let loc = t
            .location
            .as_ref()
            .map(|l| {
                let mark = if l.exists == Some(false) {
                    " (not in workspace)"
                } else {
                    ""
                };
                format!("  {l}{mark}")
            })
            .unwrap_or_default();
        crate::outln!("{:>3}. [{}]{loc}", i + 1, t.category.as_str());
        crate::outln!("     {}", t.title);
        if let Some(r) = &t.reproduce {
            crate::outln!("     reproduce: {r}");
        }
    }
    if doc.tasks.len() > 20 {
        crate::outln!(
            "     … and {} more task(s) in diagnose.json",
            doc.tasks.len() - 20
        );
    }
}

/// Warns on stderr about every result pattern that matched nothing (before the table, which
/// leaves them out).
pub fn warn_unmatched(doc: &VerifyDoc) {
    for r in &doc.runners {
        for w in r.warnings.iter().filter(|w| w.message == NO_MATCH) {
            crate::ui::warn(&format!(
                "no file matched `{}`",
                crate::parsers::text::clean_control(&w.file)
            ));
        }
    }
}

/// Prints the verdict in a few lines.
pub fn print_verdict(doc: &GateDoc) {
    let v = match doc.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    crate::outln!("gate: {v}  score {}  (run {})", doc.score, doc.run_id);
    for r in &doc.reasons {
        crate::outln!("  - {r}");
    }
}

pub fn print_human(doc: &VerifyDoc, run_dir: &RunDir, cwd: &Path) {
    let width = doc.runners.iter().map(|r| r.id.len()).max().unwrap_or(0);
    crate::outln!(
        "codeloop verify: run {} {}",
        doc.run_id,
        status_word(doc.status)
    );
    for r in &doc.runners {
        // A runner that only collected reports ran nothing: no time to show (its progress
        // line said how long reading them took).
        let took = match r.command {
            Some(_) => format!("{:.1}s", r.duration),
            None => "-".to_string(),
        };
        crate::outln!(
            "  {:width$}  {:5}  {:11}  {:>7}  {}",
            r.id,
            r.kind.as_str(),
            r.status.as_str(),
            took,
            summary(r)
        );
        print_issues(r);
    }
    let t = &doc.totals;
    crate::outln!(
        "tests: {} total, {} passed, {} failed, {} errored, {} skipped{}",
        t.tests,
        t.passed,
        t.failed,
        t.errored,
        t.skipped,
        if t.flaky > 0 {
            format!(" ({} flaky)", t.flaky)
        } else {
            String::new()
        }
    );
    if doc.lint.total() > 0 {
        use crate::report::count;
        crate::outln!(
            "lint: {}, {}, {}",
            count(doc.lint.errors, "error"),
            count(doc.lint.warnings, "warning"),
            count(doc.lint.notes, "note")
        );
    }
    let shown = run_dir
        .path
        .strip_prefix(cwd)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| run_dir.path.display().to_string());
    crate::outln!("run directory: {shown}");
}

fn print_issues(r: &RunnerResult) {
    // A hint the runner's row shows already (its summary when it has no counts) is not
    // printed a second time under it.
    if r.status != RunnerStatus::Passed
        && let Some(h) = &r.hint
        && summary(r) != *h
    {
        crate::outln!("      {h}");
    }
    // File names and messages quote untrusted text: no escape sequence reaches the terminal.
    let clean = crate::parsers::text::clean_control;
    for e in r.parse_errors.iter().take(5) {
        if e.missing {
            crate::outln!("      no report: {}: {}", clean(&e.file), clean(&e.message));
            continue;
        }
        match e.position {
            Some(p) => crate::outln!(
                "      parse error: {} at {p}: {}",
                clean(&e.file),
                clean(&e.message)
            ),
            None => crate::outln!(
                "      parse error: {}: {}",
                clean(&e.file),
                clean(&e.message)
            ),
        }
    }
    if r.parse_errors.len() > 5 {
        crate::outln!(
            "      ... and {} more parse errors",
            r.parse_errors.len() - 5
        );
    }
    // Files read leniently or skipped (a FIFO matched by a glob) are named too, each with its
    // first warning, so nobody has to open verify.json to learn why a report is missing.
    let mut files: Vec<&str> = Vec::new();
    // Patterns that matched nothing were warned about on stderr already.
    for w in r.warnings.iter().filter(|w| w.message != NO_MATCH) {
        if files.contains(&w.file.as_str()) {
            continue;
        }
        files.push(&w.file);
        if files.len() > 10 {
            continue;
        }
        let more = r
            .warnings
            .iter()
            .filter(|x| x.file == w.file)
            .count()
            .saturating_sub(1);
        let more = if more > 0 {
            format!(" (and {more} more in verify.json)")
        } else {
            String::new()
        };
        match w.position {
            Some(p) => crate::outln!(
                "      warning: {} at {p}: {}{more}",
                clean(&w.file),
                clean(&w.message)
            ),
            None => crate::outln!(
                "      warning: {}: {}{more}",
                clean(&w.file),
                clean(&w.message)
            ),
        }
    }
    if files.len() > 10 {
        crate::outln!(
            "      ... and warnings for {} more files (in verify.json)",
            files.len() - 10
        );
    }
}

fn status_word(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "FAILED",
        RunStatus::Interrupted => "INTERRUPTED",
    }
}
