//! `codeloop history`: lists runs, newest first, marking incomplete ones; `--gc --keep N`
//! deletes all complete runs but the newest N, plus incomplete runs older than the newest
//! complete one (they were interrupted). Incomplete runs newer than that may still be running
//! and are left alone.

use serde::Serialize;

use crate::artifact::{self, RunDir};
use crate::cli::{HistoryArgs, OutputFormat};
use crate::exit;
use crate::model::{Counts, RunStatus};
use crate::pipeline::verify::resolve_settings;

#[derive(Serialize)]
pub struct HistoryEntry {
    pub run_id: String,
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// What `history --format json` prints.
#[derive(Serialize)]
pub struct HistoryOutput {
    pub schema_version: u32,
    pub runs_dir: String,
    /// Newest first.
    pub runs: Vec<HistoryEntry>,
    /// Run ids deleted by --gc.
    pub deleted: Vec<String>,
}

/// Which runs `--gc --keep N` deletes (ids), given all runs oldest first.
pub fn gc_victims(runs: &[(String, bool)], keep: usize) -> Vec<String> {
    let complete: Vec<&String> = runs.iter().filter(|r| r.1).map(|r| &r.0).collect();
    let newest_complete = complete.last().cloned();
    let cut = complete.len().saturating_sub(keep);
    let mut victims: Vec<String> = complete[..cut].iter().map(|s| (*s).clone()).collect();
    if let Some(newest) = newest_complete {
        victims.extend(
            runs.iter()
                .filter(|r| !r.1 && &r.0 < newest)
                .map(|r| r.0.clone()),
        );
    }
    victims.sort();
    victims
}

pub fn run(args: HistoryArgs) -> i32 {
    let r = match resolve_settings(&(&args.common).into()) {
        Ok(r) => r,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    let mut deleted = Vec::new();
    let mut code = exit::OK;
    if args.gc {
        let runs = artifact::list_runs(&r.artifacts_dir);
        let flags: Vec<(String, bool)> = runs
            .iter()
            .map(|x| (x.id.clone(), x.is_complete()))
            .collect();
        for id in gc_victims(&flags, args.keep) {
            let p = artifact::runs_root(&r.artifacts_dir).join(&id);
            match std::fs::remove_dir_all(&p) {
                Ok(()) => deleted.push(id),
                Err(e) => {
                    crate::errln!("error: cannot delete `{}`: {e}", p.display());
                    code = exit::INFRA;
                }
            }
        }
        // Re-point (or drop) `latest`.
        let root = artifact::runs_root(&r.artifacts_dir);
        match artifact::resolve(&r.artifacts_dir, None) {
            Ok(rd) => crate::pipeline::verify::update_latest(&r.artifacts_dir, &rd.id),
            Err(_) => {
                let _ = std::fs::remove_file(root.join("latest"));
            }
        }
    }
    let mut runs: Vec<RunDir> = artifact::list_runs(&r.artifacts_dir);
    runs.reverse();
    let entries: Vec<HistoryEntry> = runs
        .iter()
        .map(|x| {
            let doc = if x.is_complete() {
                x.verify().ok()
            } else {
                None
            };
            HistoryEntry {
                run_id: x.id.clone(),
                complete: x.is_complete(),
                status: doc.as_ref().map(|d| d.status),
                totals: doc.as_ref().map(|d| d.totals),
                finished_at: doc.map(|d| d.finished_at),
            }
        })
        .collect();
    if args.common.format == OutputFormat::Json {
        let out = HistoryOutput {
            schema_version: crate::model::SCHEMA_VERSION,
            runs_dir: artifact::runs_root(&r.artifacts_dir)
                .to_string_lossy()
                .into_owned(),
            runs: entries,
            deleted,
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => crate::outln!("{s}"),
            Err(e) => crate::errln!("error: {e}"),
        }
        return code;
    }
    if !deleted.is_empty() {
        crate::outln!(
            "deleted {} run(s), kept the newest {}",
            deleted.len(),
            args.keep
        );
    }
    if entries.is_empty() {
        crate::outln!(
            "no runs under `{}`",
            artifact::runs_root(&r.artifacts_dir).display()
        );
    }
    for e in &entries {
        match (&e.status, &e.totals) {
            (Some(s), Some(t)) => crate::outln!(
                "{}  {:11}  {} tests, {} failed, {} errored",
                e.run_id,
                format!("{s:?}").to_lowercase(),
                t.tests,
                t.failed,
                t.errored
            ),
            _ if !e.complete => crate::outln!(
                "{}  incomplete   (no manifest.json: interrupted or still running)",
                e.run_id
            ),
            _ => crate::outln!(
                "{}  unreadable   (verify.json is missing or damaged)",
                e.run_id
            ),
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gc_keeps_newest_complete_and_spares_running() {
        let runs = vec![
            ("a".to_string(), true),
            ("b".to_string(), false),
            ("c".to_string(), true),
            ("d".to_string(), true),
            ("e".to_string(), false),
        ];
        assert_eq!(gc_victims(&runs, 2), ["a", "b"]);
        assert_eq!(gc_victims(&runs, 0), ["a", "b", "c", "d"]);
        assert_eq!(gc_victims(&runs, 10), ["b"]);
    }
}
