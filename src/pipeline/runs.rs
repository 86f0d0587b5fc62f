//! The run directories of an artifacts directory as a whole: `codeloop history --gc --keep N`
//! and the MCP tool's `gc` delete the same runs and leave `latest` the same way.

use std::path::Path;

use crate::artifact;

/// What [`gc`] did.
#[derive(Debug, Default)]
pub struct Gc {
    /// Ids of the runs deleted, oldest first.
    pub deleted: Vec<String>,
    /// Runs that could not be deleted, each naming its directory.
    pub errors: Vec<String>,
}

/// Deletes all but the newest `keep` complete runs (and the incomplete ones older than the
/// newest complete run: a run being written now is newer, and kept), then points `latest` at
/// the newest complete run left, or removes it when none is.
pub fn gc(artifacts: &Path, keep: usize) -> Gc {
    let flags: Vec<(String, bool)> = artifact::list_runs(artifacts)
        .iter()
        .map(|x| (x.id.clone(), x.is_complete()))
        .collect();
    let mut out = Gc::default();
    let root = artifact::runs_root(artifacts);
    for id in gc_victims(&flags, keep) {
        let p = root.join(&id);
        match std::fs::remove_dir_all(&p) {
            Ok(()) => out.deleted.push(id),
            Err(e) => out
                .errors
                .push(format!("cannot delete `{}`: {e}", p.display())),
        }
    }
    match artifact::resolve(artifacts, None) {
        Ok(rd) => super::verify::update_latest(artifacts, &rd.id),
        Err(_) => {
            let _ = std::fs::remove_file(root.join("latest"));
        }
    }
    out
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
