//! manifest.json: written last, it lists every file of the run with its size and sha256, so
//! a run with a manifest is complete and verifiable. Hashes come from the ledger of files
//! hashed while written ([`super::recorded_hash`]) or, when a later stage refreshes the
//! manifest, from the previous manifest for files unchanged since it was written; only a file
//! nobody hashed is read.

use std::path::Path;

use serde::{Deserialize, Serialize};
use walkdir::WalkDir;

use super::{ArtifactError, MANIFEST, RunDir, recorded_hash, sha256_file, write_json_with};
use crate::model::{RunStatus, SCHEMA_VERSION, Shard};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ManifestFile {
    /// Relative to the run directory, `/`-separated.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Git and CI context of the run, as far as the environment told us.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Context {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_number: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub run_id: String,
    pub tool: String,
    pub tool_version: String,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    #[serde(default)]
    pub context: Context,
    pub files: Vec<ManifestFile>,
    /// Files of the run that could not be written whole (disk full, file size limit), so a
    /// reader knows which evidence is partial. Absent when there were none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Manifest {
    /// Hashes every file under the run directory (except the manifest itself and temp files)
    /// and writes manifest.json atomically. Call it last.
    pub fn write(
        run: &RunDir,
        started_at: String,
        finished_at: String,
        status: RunStatus,
        shard: Option<Shard>,
        context: Context,
    ) -> Result<Manifest, ArtifactError> {
        Manifest::write_with(run, started_at, finished_at, status, shard, context, true)
    }

    /// [`Manifest::write`] with the fsync optional (see [`super::write_atomic_with`]).
    pub fn write_with(
        run: &RunDir,
        started_at: String,
        finished_at: String,
        status: RunStatus,
        shard: Option<Shard>,
        context: Context,
        sync: bool,
    ) -> Result<Manifest, ArtifactError> {
        let files = list_files(&run.path)?;
        let m = Manifest {
            schema_version: SCHEMA_VERSION,
            run_id: run.id.clone(),
            tool: "codeloop".into(),
            tool_version: env!("CARGO_PKG_VERSION").into(),
            started_at,
            finished_at,
            status,
            shard,
            context,
            files,
            errors: Vec::new(),
        };
        write_json_with(&run.file(MANIFEST), &m, sync)?;
        Ok(m)
    }

    /// Writes this manifest again with the run's current file list (after a later stage
    /// added files), keeping everything else, `errors` included.
    pub fn rewrite(mut self, run: &RunDir, sync: bool) -> Result<Manifest, ArtifactError> {
        // Stage events append to events.jsonl and update its entry under this lock
        // (`super::stage`): hashing it meanwhile could list half an append.
        let _lock = if run.file(super::EVENTS).is_file() {
            Some(super::stage::lock_events(&run.path)?)
        } else {
            None
        };
        let written = std::fs::metadata(run.file(MANIFEST))
            .and_then(|m| m.modified())
            .ok();
        self.files = list_files_since(&run.path, written.map(|t| (&self.files[..], t)))?;
        write_json_with(&run.file(MANIFEST), &self, sync)?;
        Ok(self)
    }
}

/// Every regular file under `root`, sorted, with size and sha256.
pub fn list_files(root: &Path) -> Result<Vec<ManifestFile>, ArtifactError> {
    list_files_since(root, None)
}

/// [`list_files`], reusing the entries of a previous manifest (written at the given time) for
/// files of the same size not modified since.
pub fn list_files_since(
    root: &Path,
    previous: Option<(&[ManifestFile], std::time::SystemTime)>,
) -> Result<Vec<ManifestFile>, ArtifactError> {
    let mut files = Vec::new();
    for entry in WalkDir::new(root).follow_links(false).sort_by_file_name() {
        let entry = entry.map_err(|e| ArtifactError::Read {
            path: root.to_path_buf(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).unwrap_or(entry.path());
        let rel_s = super::slash_path(rel);
        let name = entry.file_name().to_string_lossy();
        if rel_s == MANIFEST || name.starts_with('.') && name.contains(".tmp-") {
            continue;
        }
        let read_err = |source| ArtifactError::Read {
            path: entry.path().to_path_buf(),
            source,
        };
        let meta = entry.metadata().map_err(|e| read_err(e.into()))?;
        let old = previous.and_then(|(files, at)| {
            let f = files.iter().find(|f| f.path == rel_s)?;
            let unchanged = f.bytes == meta.len() && meta.modified().is_ok_and(|m| m <= at);
            unchanged.then(|| (f.bytes, f.sha256.clone()))
        });
        let (bytes, sha256) = match recorded_hash(entry.path(), &meta).or(old) {
            Some(h) => h,
            None => sha256_file(entry.path()).map_err(read_err)?,
        };
        files.push(ManifestFile {
            path: rel_s,
            bytes,
            sha256,
        });
    }
    Ok(files)
}
