//! Handing written files back to the workspace's owner. A Docker action runs as root (GitHub
//! requires it) in a workspace the runner's user owns, so everything codeloop writes there
//! (`.codeloop/`) would be root-owned: later steps could not clean or overwrite it, and
//! `actions/checkout` on a self-hosted runner fails on it. [`HandBack`] gives the tree it
//! guards the uid/gid of the workspace directory when it is dropped — only when codeloop runs
//! as root and the workspace belongs to someone else; otherwise it does nothing.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Chowns `dir` (and the root-owned directories between the workspace and it, which codeloop
/// created) to the workspace's owner on drop.
pub struct HandBack {
    workspace: PathBuf,
    dir: PathBuf,
}

impl HandBack {
    pub fn new(workspace: &Path, dir: &Path) -> HandBack {
        HandBack {
            workspace: workspace.to_path_buf(),
            dir: dir.to_path_buf(),
        }
    }
}

impl Drop for HandBack {
    fn drop(&mut self) {
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        if let Err(e) = hand_back(&self.workspace, &self.dir, euid) {
            crate::ui::warn(&format!(
                "cannot give `{}` to the workspace's owner: {e}; later steps may need `sudo` to remove it",
                self.dir.display()
            ));
        }
    }
}

/// What [`HandBack`] does, with the effective uid passed in (tests). Returns how many
/// entries were changed. A no-op unless `euid` is 0 and the workspace's owner is not.
pub fn hand_back(workspace: &Path, dir: &Path, euid: u32) -> std::io::Result<u64> {
    if euid != 0 || !dir.exists() {
        return Ok(0);
    }
    let ws = std::fs::metadata(workspace)?;
    let (uid, gid) = (ws.uid(), ws.gid());
    if uid == 0 {
        return Ok(0);
    }
    let mut changed = 0;
    let mut set = |p: &Path, m: &std::fs::Metadata| -> std::io::Result<()> {
        if m.uid() != uid || m.gid() != gid {
            std::os::unix::fs::lchown(p, Some(uid), Some(gid))?;
            changed += 1;
        }
        Ok(())
    };
    // Directories codeloop created on the way (`out/` of `artifacts-dir: out/codeloop`) are
    // root-owned; ones the checkout made already belong to the user and are left alone.
    if let Ok(rel) = dir.strip_prefix(workspace) {
        let mut p = workspace.to_path_buf();
        for c in rel.parent().into_iter().flat_map(|r| r.components()) {
            p.push(c);
            if let Ok(m) = std::fs::symlink_metadata(&p)
                && m.is_dir()
                && m.uid() == 0
            {
                set(&p, &m)?;
            }
        }
    }
    // Symlinks (runs/latest) are changed themselves, never followed.
    for e in walkdir::WalkDir::new(dir).follow_links(false) {
        let e = e.map_err(std::io::Error::other)?;
        let m = e.metadata().map_err(std::io::Error::other)?;
        set(e.path(), &m)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_happens_unless_root_with_a_foreign_workspace() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join(".codeloop");
        std::fs::create_dir_all(dir.join("runs")).unwrap();
        // Not root: nothing to do, whoever owns what.
        assert_eq!(hand_back(t.path(), &dir, 1000).unwrap(), 0);
        // A missing directory is fine too.
        assert_eq!(hand_back(t.path(), &t.path().join("nope"), 0).unwrap(), 0);
    }
}
