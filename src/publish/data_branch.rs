//! The history data branch on GitHub (`codeloop-data` by default), read and written through
//! the git data API — no checkout, no service. Owns the I/O only; the file format and the
//! analysis are [`crate::history`].
//!
//! Writing is compare-and-swap on the ref: blobs, a tree on the current commit's tree, a
//! commit whose parent is the ref's current sha, then `PATCH .../git/refs/heads/NAME` with
//! `force: false`. A concurrent writer makes that answer 422 ("Update is not a fast
//! forward"): the branch is read again and the run re-applied on top of what the other
//! writer left, at most [`MAX_ATTEMPTS`] times. A missing branch is created with
//! `POST .../git/refs` (422 "Reference already exists" when another writer won: redo).
//!
//! Reading (pull requests, read-only tokens, forks) is one `GET .../contents/PATH?ref=`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::github::{GitHub, GitHubError, seg};

/// Read-modify-write rounds before giving up on a busy branch.
pub const MAX_ATTEMPTS: u32 = 5;

/// Problems with the data branch. All of them are warnings for the caller: the build's
/// verdict never depends on the history.
#[derive(Debug, thiserror::Error)]
pub enum DataBranchError {
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error("`{path}` on branch `{branch}`: {message}")]
    Unreadable {
        branch: String,
        path: String,
        message: String,
    },
    #[error(
        "branch `{branch}` kept moving: {attempts} attempts to update it lost the race to other writers"
    )]
    Busy { branch: String, attempts: u32 },
    /// The caller declined to write (e.g. a history from a newer codeloop).
    #[error("{0}")]
    Declined(String),
}

impl DataBranchError {
    /// The token may not write (no `contents: write`, or a fork's read-only token).
    pub fn is_read_only(&self) -> bool {
        match self {
            DataBranchError::GitHub(e) => {
                e.is_read_only() || matches!(e, GitHubError::Status { status: 403, .. })
            }
            _ => false,
        }
    }
}

/// A file to put on the branch.
#[derive(Clone, Debug)]
pub struct DataFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteOutcome {
    pub commit: String,
    /// 1 when nobody else wrote meanwhile.
    pub attempts: u32,
    /// The branch did not exist and was created.
    pub created: bool,
}

/// The branch's head as read before a write.
struct Head {
    commit: String,
    tree: String,
}

fn ref_path(branch: &str) -> String {
    branch.split('/').map(seg).collect::<Vec<_>>().join("/")
}

#[derive(Deserialize)]
struct Sha {
    sha: String,
}

#[derive(Deserialize)]
struct RefAnswer {
    object: Sha,
}

#[derive(Deserialize)]
struct CommitAnswer {
    sha: String,
    tree: Sha,
}

#[derive(Deserialize)]
struct ContentAnswer {
    sha: String,
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    size: u64,
}

fn is_status(e: &GitHubError, code: u16) -> bool {
    matches!(e, GitHubError::Status { status, .. } if *status == code)
}

impl GitHub {
    /// A file of the data branch at `git_ref` (a branch name or a commit sha); `None` when
    /// the branch or the file does not exist.
    pub async fn read_data_file(
        &self,
        git_ref: &str,
        path: &str,
    ) -> Result<Option<Vec<u8>>, DataBranchError> {
        let url = format!(
            "{}/contents/{}?ref={}",
            self.repo_url(),
            ref_path(path),
            seg(git_ref)
        );
        let a = match self.send(Method::GET, &url, None, true).await {
            Ok(a) => a,
            Err(e) if is_status(&e, 404) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bad = |message: String| DataBranchError::Unreadable {
            branch: git_ref.to_string(),
            path: path.to_string(),
            message,
        };
        // A directory answers with an array: not our file.
        let c: ContentAnswer =
            GitHub::parse("GET", &url, &a).map_err(|e| bad(format!("not a file: {e}")))?;
        let inline = c
            .content
            .filter(|s| !s.is_empty() && c.encoding.as_deref() == Some("base64"));
        let b64 = match inline {
            Some(s) => s,
            // Files over 1 MB come without content: read the blob.
            None if c.size > 0 => {
                let url = format!("{}/git/blobs/{}", self.repo_url(), seg(&c.sha));
                let a = self.send(Method::GET, &url, None, true).await?;
                let v: Value = GitHub::parse("GET", &url, &a)?;
                v["content"].as_str().unwrap_or_default().to_string()
            }
            None => String::new(),
        };
        let clean: String = b64.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD
            .decode(clean)
            .map(Some)
            .map_err(|e| bad(format!("content is not base64: {e}")))
    }

    async fn head(&self, branch: &str) -> Result<Option<Head>, DataBranchError> {
        let url = format!("{}/git/ref/heads/{}", self.repo_url(), ref_path(branch));
        let a = match self.send(Method::GET, &url, None, true).await {
            Ok(a) => a,
            Err(e) if is_status(&e, 404) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let r: RefAnswer = GitHub::parse("GET", &url, &a)?;
        let url = format!("{}/git/commits/{}", self.repo_url(), seg(&r.object.sha));
        let a = self.send(Method::GET, &url, None, true).await?;
        let c: CommitAnswer = GitHub::parse("GET", &url, &a)?;
        Ok(Some(Head {
            commit: c.sha,
            tree: c.tree.sha,
        }))
    }

    /// Content-addressed creates are safe to repeat, so they are sent as idempotent.
    async fn create(&self, what: &str, body: &Value) -> Result<String, DataBranchError> {
        let url = format!("{}/git/{what}", self.repo_url());
        let a = self.send(Method::POST, &url, Some(body), true).await?;
        let s: Sha = GitHub::parse("POST", &url, &a)?;
        Ok(s.sha)
    }

    /// Reads `path` from the branch's head, lets `make` compute the files from it, and
    /// commits them on top of that head (compare-and-swap, see the module docs).
    pub async fn write_data_branch(
        &self,
        branch: &str,
        read_path: &str,
        message: &str,
        mut make: impl FnMut(Option<&[u8]>) -> Result<Vec<DataFile>, DataBranchError>,
    ) -> Result<WriteOutcome, DataBranchError> {
        for attempt in 1..=MAX_ATTEMPTS {
            let head = self.head(branch).await?;
            let current = match &head {
                Some(h) => self.read_data_file(&h.commit, read_path).await?,
                None => None,
            };
            let files = make(current.as_deref())?;
            let mut entries = Vec::new();
            for f in &files {
                let sha = self
                    .create(
                        "blobs",
                        &json!({"content": STANDARD.encode(&f.bytes), "encoding": "base64"}),
                    )
                    .await?;
                entries.push(json!({"path": f.path, "mode": "100644", "type": "blob", "sha": sha}));
            }
            let mut tree = json!({ "tree": entries });
            if let Some(h) = &head {
                tree["base_tree"] = json!(h.tree);
            }
            let tree_sha = self.create("trees", &tree).await?;
            let parents: Vec<&str> = head.iter().map(|h| h.commit.as_str()).collect();
            let commit = self
                .create(
                    "commits",
                    &json!({"message": message, "tree": tree_sha, "parents": parents}),
                )
                .await?;
            let res = match &head {
                Some(_) => {
                    let url = format!("{}/git/refs/heads/{}", self.repo_url(), ref_path(branch));
                    self.send(
                        Method::PATCH,
                        &url,
                        Some(&json!({"sha": commit, "force": false})),
                        true,
                    )
                    .await
                }
                None => {
                    let url = format!("{}/git/refs", self.repo_url());
                    self.send(
                        Method::POST,
                        &url,
                        Some(&json!({"ref": format!("refs/heads/{branch}"), "sha": commit})),
                        false,
                    )
                    .await
                }
            };
            match res {
                Ok(_) => {
                    return Ok(WriteOutcome {
                        commit,
                        attempts: attempt,
                        created: head.is_none(),
                    });
                }
                // Not a fast forward / reference already exists: another writer moved the
                // branch between our read and our update. Read it again and redo.
                Err(e) if is_status(&e, 422) || is_status(&e, 409) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DataBranchError::Busy {
            branch: branch.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }
}
