//! When a job meets the history data branch, and what it does there: a push to the default
//! branch adds its run (and the badge) to the branch; a pull request (or merge request)
//! reads the history, read-only, as its base-branch baseline. Nothing else writes — not a
//! pull request, not `pull_request_target`, not a fork — so untrusted code never reaches
//! the branch.
//!
//! Every problem here is a warning: a missing, unreadable or newer-schema history leaves the
//! run as it would be without history, and a failed write never fails the build.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Publisher;
use super::context::{Env, GitHubContext};
use super::data_branch::{DataBranchError, DataFile};
use crate::artifact::{self, RunDir};
use crate::history::{self, HistoryDoc, HistoryFormatError, Observation, RunEntry};
use crate::model::Verdict;
use crate::settings::BadgeConfig;

/// The history settings of a job (action inputs `history`, `history-branch`,
/// `history-runs`, `quarantine`; CLI flags of the same names).
#[derive(Clone, Debug, PartialEq)]
pub struct HistorySettings {
    pub enabled: bool,
    pub branch: String,
    pub max_runs: usize,
    pub quarantine: bool,
}

impl Default for HistorySettings {
    fn default() -> Self {
        HistorySettings {
            enabled: true,
            branch: history::DEFAULT_BRANCH.into(),
            max_runs: history::DEFAULT_MAX_RUNS,
            quarantine: false,
        }
    }
}

/// What a push did: the data branch's new commit, or the warnings.
#[derive(Clone, Debug, Default)]
pub struct HistoryPush {
    pub commit: Option<String>,
    pub warnings: Vec<String>,
}

/// What this job does with the history.
#[derive(Clone, Debug, PartialEq)]
pub enum Role {
    /// A push to the default branch: add this run.
    Write { default_branch: String },
    /// A pull/merge request: read the history of its base branch.
    Read { base: String },
    /// Neither (the reason is shown in the log).
    Skip(String),
}

/// The role on GitHub, from the event.
pub fn github_role(ctx: &GitHubContext) -> Role {
    let ev = &ctx.event;
    match ctx.event_name.as_deref() {
        Some("push") => {
            let default = ev
                .pointer("/repository/default_branch")
                .and_then(Value::as_str);
            match (default, ctx.git_ref.as_deref()) {
                (Some(d), Some(r)) if r == format!("refs/heads/{d}") => Role::Write {
                    default_branch: d.to_string(),
                },
                (Some(d), r) => Role::Skip(format!(
                    "a push to `{}`, not to the default branch `{d}`: the history is not updated",
                    r.unwrap_or("?")
                )),
                (None, _) => Role::Skip(
                    "the push event names no default branch: the history is not updated".into(),
                ),
            }
        }
        Some("pull_request" | "pull_request_target") => {
            match ev.pointer("/pull_request/base/ref").and_then(Value::as_str) {
                Some(b) => Role::Read {
                    base: b.to_string(),
                },
                None => Role::Skip("the pull request event names no base branch".into()),
            }
        }
        other => Role::Skip(format!(
            "`{}` events neither read nor write the history (push to the default branch writes, pull requests read)",
            other.unwrap_or("unknown")
        )),
    }
}

/// The role on GitLab, from the predefined variables.
pub fn gitlab_role(env: &Env) -> Role {
    if let Some(target) = env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") {
        return Role::Read {
            base: target.to_string(),
        };
    }
    match (
        env.get("CI_PIPELINE_SOURCE"),
        env.get("CI_COMMIT_BRANCH"),
        env.get("CI_DEFAULT_BRANCH"),
    ) {
        (Some("push"), Some(b), Some(d)) if b == d => Role::Write {
            default_branch: d.to_string(),
        },
        (source, branch, _) => Role::Skip(format!(
            "a `{}` pipeline on `{}`: only pushes to the default branch write the history, merge requests read it",
            source.unwrap_or("unknown"),
            branch.unwrap_or("?")
        )),
    }
}

/// Reads a history file from bytes, for one use: checks the schema and the branch.
pub fn check(bytes: &[u8], base: &str) -> Result<Vec<u8>, String> {
    let json = history::gunzip(bytes).map_err(|e| e.to_string())?;
    let doc = history::parse(&json).map_err(|e| e.to_string())?;
    if doc.branch != base {
        return Err(format!(
            "it holds the runs of `{}`, and this change targets `{base}`",
            doc.branch
        ));
    }
    drop(doc);
    Ok(json)
}

/// The run to add, read from its run directory.
pub fn run_entry(run_dir: &Path, sha: Option<String>) -> (RunEntry, Vec<Observation>) {
    let mut entry = RunEntry {
        run_id: run_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        sha,
        ..Default::default()
    };
    let mut cases = Vec::new();
    if let Ok(run) = RunDir::open(run_dir) {
        if let Ok(v) = run.verify() {
            entry.run_id = v.run_id;
            entry.finished_at = Some(v.finished_at);
            entry.counts = v.totals;
        }
        if let Ok(g) = run.gate() {
            entry.verdict = Some(g.verdict);
            entry.score = Some(g.score);
            entry.counts = g.counts;
        }
        let _ = run.cases(|c| {
            cases.push(Observation {
                key: c.key(),
                status: c.status,
                flaky: c.flaky,
                duration: c.duration,
            })
        });
    }
    (entry, cases)
}

/// The files of the data branch for a history that already holds this run: the history,
/// `badge.svg`, `badge.png` and the shields.io endpoint `badge.json`, of comment key `key`
/// ([`history::data_path`]).
pub fn data_files(
    doc: &HistoryDoc<'_>,
    score: Option<f64>,
    verdict: Option<Verdict>,
    badge_cfg: &BadgeConfig,
    key: Option<&str>,
) -> Result<Vec<DataFile>, DataBranchError> {
    let (bytes, dropped) = history::encode_capped(doc, history::MAX_BYTES).ok_or_else(|| {
        DataBranchError::Declined(format!(
            "a history of {} tests does not fit in {} KiB even with one run: not written",
            doc.tests.len(),
            history::MAX_BYTES / 1024
        ))
    })?;
    if dropped > 0 {
        crate::ui::warn(&format!(
            "history: kept {} runs instead of {} to stay within {} KiB",
            doc.runs.len() - dropped,
            doc.runs.len(),
            history::MAX_BYTES / 1024
        ));
    }
    let b = crate::badge::for_gate(score, verdict, badge_cfg);
    let svg = crate::badge::svg(&b);
    let png = crate::badge::png(&svg, 2.0).map_err(|e| DataBranchError::Declined(e.to_string()))?;
    let path = |f: &str| history::data_path(key, f);
    Ok(vec![
        DataFile {
            path: path(history::FILE),
            bytes,
        },
        DataFile {
            path: path("badge.svg"),
            bytes: svg.into_bytes(),
        },
        DataFile {
            path: path("badge.png"),
            bytes: png,
        },
        DataFile {
            path: path(history::SHIELDS_FILE),
            bytes: history::shields_json(&b).into_bytes(),
        },
    ])
}

/// Folds this run into the branch's current history file (`None`: none yet). A newer
/// schema is never overwritten; an unreadable file is replaced by a new history.
pub fn next_files(
    current: Option<&[u8]>,
    default_branch: &str,
    s: &HistorySettings,
    entry: &RunEntry,
    cases: &[Observation],
    badge_cfg: &BadgeConfig,
    key: Option<&str>,
) -> Result<Vec<DataFile>, DataBranchError> {
    let json = match current.map(history::gunzip) {
        None => None,
        Some(Ok(j)) => Some(j),
        Some(Err(e)) => {
            crate::ui::warn(&format!(
                "history on `{}` is unreadable ({e}): starting a new one",
                s.branch
            ));
            None
        }
    };
    let prev = match json.as_deref().map(history::parse) {
        None => None,
        Some(Ok(d)) if d.branch == default_branch => Some(d),
        Some(Ok(d)) => {
            crate::ui::warn(&format!(
                "history on `{}` holds runs of `{}`, not of the default branch `{default_branch}`: starting a new one",
                s.branch, d.branch
            ));
            None
        }
        Some(Err(e @ HistoryFormatError::NewerSchema { .. })) => {
            return Err(DataBranchError::Declined(format!(
                "history on `{}`: {e}; it is left as it is",
                s.branch
            )));
        }
        Some(Err(e)) => {
            crate::ui::warn(&format!(
                "history on `{}` is unreadable ({e}): starting a new one",
                s.branch
            ));
            None
        }
    };
    // A redo after a lost race, or an update whose answer was lost: the run is there already.
    let doc = match &prev {
        Some(p) if p.runs.iter().any(|r| r.run_id == entry.run_id) => p.clone(),
        _ => history::append(
            prev.as_ref(),
            default_branch,
            s.max_runs,
            entry.clone(),
            cases.iter().cloned(),
        ),
    };
    data_files(&doc, entry.score, entry.verdict, badge_cfg, key)
}

impl Publisher<'_> {
    /// On a pull request: fetches the base branch's history into `dest`. `None` (with a
    /// warning or a note) when there is none or it cannot be used.
    pub fn fetch_history(
        &self,
        s: &HistorySettings,
        dest: &Path,
        out: &mut dyn Write,
    ) -> Option<PathBuf> {
        // `dry-run` and `act` make no API call at all, reads included.
        if !s.enabled || self.is_dry() {
            return None;
        }
        let base = match self.history_role() {
            Role::Read { base } => base,
            _ => return None,
        };
        let bytes = match self.forge() {
            super::Forge::GitHub => self.github_read(&s.branch),
            super::Forge::GitLab => self.gitlab_read(&s.branch),
            _ => return None,
        };
        let bytes = match bytes {
            Ok(Some(b)) => b,
            Ok(None) => {
                let _ = writeln!(
                    out,
                    "codeloop: no history yet (branch `{}` has no {}): a push to the default branch creates it",
                    s.branch,
                    self.history_path()
                );
                return None;
            }
            Err(e) => {
                crate::ui::warn(&self.redactor.redact(&format!(
                    "history: cannot read branch `{}` ({e}); this run is compared with nothing",
                    s.branch
                )));
                return None;
            }
        };
        if let Err(why) = check(&bytes, &base) {
            crate::ui::warn(&format!(
                "history on `{}` is not used: {why}; this run is compared with nothing",
                s.branch
            ));
            return None;
        }
        match artifact::write_atomic(dest, &bytes) {
            Ok(()) => Some(dest.to_path_buf()),
            Err(e) => {
                crate::ui::warn(&e.to_string());
                None
            }
        }
    }

    /// On a push to the default branch: adds the run to the history and writes the badge.
    /// Problems are printed and returned as warnings.
    pub fn push_history(
        &self,
        s: &HistorySettings,
        run_dir: &Path,
        badge_cfg: &BadgeConfig,
        out: &mut dyn Write,
    ) -> HistoryPush {
        let none = HistoryPush::default();
        if !s.enabled {
            return none;
        }
        let default_branch = match self.history_role() {
            Role::Write { default_branch } => default_branch,
            Role::Read { .. } => return none,
            Role::Skip(why) => {
                let _ = writeln!(out, "codeloop: history: {why}");
                return none;
            }
        };
        if self.is_dry() {
            let _ = writeln!(
                out,
                "codeloop: dry run: this run would be added to the history on branch `{}`",
                s.branch
            );
            return none;
        }
        let sha = match self.forge() {
            super::Forge::GitLab => self.env.get("CI_COMMIT_SHA").map(str::to_string),
            _ => self.ctx.sha.clone(),
        };
        let (entry, cases) = run_entry(run_dir, sha);
        let message = format!(
            "codeloop: run {} on {} ({})\n\n[skip ci]",
            entry.run_id,
            entry
                .sha
                .as_deref()
                .map(|s| &s[..s.len().min(12)])
                .unwrap_or("?"),
            match entry.verdict {
                Some(Verdict::Pass) => "pass",
                Some(Verdict::Fail) => "fail",
                None => "no verdict",
            }
        );
        let key = self.opts.comment_key.as_deref();
        let make = |cur: Option<&[u8]>| {
            next_files(cur, &default_branch, s, &entry, &cases, badge_cfg, key)
        };
        let res = match self.forge() {
            super::Forge::GitHub => self.github_write(&s.branch, &message, make),
            super::Forge::GitLab => self.gitlab_write(&s.branch, &default_branch, &message, make),
            _ => return none,
        };
        match res {
            Ok((commit, attempts)) => {
                let _ = writeln!(
                    out,
                    "codeloop: history: run {} added to branch `{}` (commit {}{})",
                    entry.run_id,
                    s.branch,
                    &commit[..commit.len().min(12)],
                    if attempts > 1 {
                        format!(", after {} attempts: other runs wrote meanwhile", attempts)
                    } else {
                        String::new()
                    }
                );
                if let Some(line) = self.badge_line(&s.branch) {
                    let _ = writeln!(out, "codeloop: README badge: {line}");
                }
                HistoryPush {
                    commit: Some(commit),
                    warnings: Vec::new(),
                }
            }
            Err(e) => {
                let hint = if e.is_read_only() {
                    " — give this job `permissions: contents: write` (GitLab: a token with the `api` scope), or set `history: false`"
                } else {
                    ""
                };
                let text = format!("history: branch `{}` was not updated: {e}{hint}", s.branch);
                let msg = self.redactor.redact(&text);
                crate::ui::warn(&msg);
                HistoryPush {
                    commit: None,
                    warnings: vec![msg.into_owned()],
                }
            }
        }
    }

    /// The history file of this comment key on the data branch.
    fn history_path(&self) -> String {
        history::data_path(self.opts.comment_key.as_deref(), history::FILE)
    }

    fn history_role(&self) -> Role {
        match self.forge() {
            super::Forge::GitHub => github_role(self.ctx),
            super::Forge::GitLab => gitlab_role(self.env),
            _ => Role::Skip("no forge in the environment".into()),
        }
    }

    /// The README line for the badge of this repository's data branch.
    pub fn badge_line(&self, branch: &str) -> Option<String> {
        match self.forge() {
            super::Forge::GitLab => {
                let server = self.env.get("CI_SERVER_URL")?;
                let path = self.env.get("CI_PROJECT_PATH")?;
                Some(format!(
                    "[![codeloop]({})]({server}/{path}/-/pipelines)",
                    self.badge_url(branch)?
                ))
            }
            _ => Some(history::readme_badge_line(
                &self.ctx.server_url,
                self.ctx.repository.as_deref()?,
                branch,
                self.opts.comment_key.as_deref(),
            )),
        }
    }

    /// The raw URL of the data branch's `badge.svg`.
    pub fn badge_url(&self, branch: &str) -> Option<String> {
        match self.forge() {
            super::Forge::GitLab => {
                let server = self.env.get("CI_SERVER_URL")?.trim_end_matches('/');
                let path = self.env.get("CI_PROJECT_PATH")?;
                let badge = history::data_path(self.opts.comment_key.as_deref(), "badge.svg");
                Some(format!("{server}/{path}/-/raw/{branch}/{badge}"))
            }
            _ => Some(history::raw_url(
                &self.ctx.server_url,
                self.ctx.repository.as_deref()?,
                branch,
                &history::data_path(self.opts.comment_key.as_deref(), "badge.svg"),
            )),
        }
    }

    fn github_read(&self, branch: &str) -> Result<Option<Vec<u8>>, String> {
        if self.ctx.owner_repo().is_none() {
            return Err("GITHUB_REPOSITORY is not set".into());
        }
        // The session's client is made inside its runtime: take it before `block_on`.
        let gh = self.client()?;
        let rt = self.runtime()?;
        // Optional: a hang here must not cost the PR comment its time.
        self.optional_read(rt, async {
            gh.read_data_file(branch, &self.history_path())
                .await
                .map_err(|e| e.to_string())
        })?
    }

    fn github_write(
        &self,
        branch: &str,
        message: &str,
        make: impl FnMut(Option<&[u8]>) -> Result<Vec<DataFile>, DataBranchError>,
    ) -> Result<(String, u32), DataBranchError> {
        if self.ctx.owner_repo().is_none() || self.opts.token.is_none() {
            return Err(DataBranchError::Declined(
                "no repository or no token (GITHUB_REPOSITORY, `github-token`)".into(),
            ));
        }
        let gh = self.client().map_err(DataBranchError::Declined)?;
        let rt = self.runtime().map_err(DataBranchError::Declined)?;
        rt.block_on(async {
            let o = gh
                .write_data_branch(branch, &self.history_path(), message, make)
                .await?;
            Ok((o.commit, o.attempts))
        })
    }

    fn gitlab_read(&self, branch: &str) -> Result<Option<Vec<u8>>, String> {
        let gl = self.gitlab_client()?;
        let rt = self.runtime()?;
        self.optional_read(rt, async {
            gl.read_data_file(branch, &self.history_path())
                .await
                .map(|o| o.map(|(b, _)| b))
                .map_err(|e| e.to_string())
        })?
    }

    fn gitlab_write(
        &self,
        branch: &str,
        default_branch: &str,
        message: &str,
        make: impl FnMut(Option<&[u8]>) -> Result<Vec<DataFile>, DataBranchError>,
    ) -> Result<(String, u32), DataBranchError> {
        let gl = self.gitlab_client().map_err(DataBranchError::Declined)?;
        let rt = self.runtime().map_err(DataBranchError::Declined)?;
        rt.block_on(async {
            gl.write_data_branch(branch, default_branch, &self.history_path(), message, make)
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(event_name: &str, git_ref: &str, event: Value) -> GitHubContext {
        GitHubContext {
            repository: Some("octo/app".into()),
            git_ref: Some(git_ref.into()),
            event_name: Some(event_name.into()),
            event,
            ..Default::default()
        }
    }

    #[test]
    fn only_default_branch_pushes_write_and_pull_requests_read() {
        let repo = json!({"repository": {"default_branch": "main"}});
        assert_eq!(
            github_role(&ctx("push", "refs/heads/main", repo.clone())),
            Role::Write {
                default_branch: "main".into()
            }
        );
        assert!(matches!(
            github_role(&ctx("push", "refs/heads/feature", repo)),
            Role::Skip(_)
        ));
        let pr = json!({"pull_request": {"number": 1, "base": {"ref": "main"},
            "head": {"repo": {"full_name": "evil/app"}}}});
        for ev in ["pull_request", "pull_request_target"] {
            assert_eq!(
                github_role(&ctx(ev, "refs/pull/1/merge", pr.clone())),
                Role::Read {
                    base: "main".into()
                }
            );
        }
        assert!(matches!(
            github_role(&ctx("workflow_run", "refs/heads/main", Value::Null)),
            Role::Skip(_)
        ));
        let gl = |pairs: &[(&str, &str)]| gitlab_role(&Env::from_pairs(pairs.iter().copied()));
        assert_eq!(
            gl(&[
                ("CI_PIPELINE_SOURCE", "push"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_DEFAULT_BRANCH", "main")
            ]),
            Role::Write {
                default_branch: "main".into()
            }
        );
        assert_eq!(
            gl(&[
                ("CI_PIPELINE_SOURCE", "merge_request_event"),
                ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main")
            ]),
            Role::Read {
                base: "main".into()
            }
        );
        assert!(matches!(
            gl(&[
                ("CI_PIPELINE_SOURCE", "schedule"),
                ("CI_COMMIT_BRANCH", "main"),
                ("CI_DEFAULT_BRANCH", "main")
            ]),
            Role::Skip(_)
        ));
    }

    #[test]
    fn a_newer_history_is_never_overwritten_and_junk_is_replaced() {
        let mut newer = HistoryDoc::empty("main", 5);
        newer.schema_version = history::SCHEMA_VERSION + 1;
        let bytes = history::encode(&newer);
        let s = HistorySettings::default();
        let entry = RunEntry {
            run_id: "r1".into(),
            ..Default::default()
        };
        let e = next_files(
            Some(&bytes),
            "main",
            &s,
            &entry,
            &[],
            &BadgeConfig::default(),
            None,
        )
        .unwrap_err();
        assert!(e.to_string().contains("newer"), "{e}");
        let files = next_files(
            Some(b"garbage"),
            "main",
            &s,
            &entry,
            &[],
            &BadgeConfig::default(),
            None,
        )
        .unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            ["history.json.gz", "badge.svg", "badge.png", "badge.json"]
        );
        let json = history::gunzip(&files[0].bytes).unwrap();
        assert_eq!(
            history::parse(&json).unwrap().runs,
            std::slice::from_ref(&entry)
        );
        // The same run again (a redo): not added twice.
        let again = next_files(
            Some(&files[0].bytes),
            "main",
            &s,
            &entry,
            &[],
            &BadgeConfig::default(),
            None,
        )
        .unwrap();
        let json = history::gunzip(&again[0].bytes).unwrap();
        assert_eq!(history::parse(&json).unwrap().runs.len(), 1);
        // A comment key's files live in its own folder.
        let keyed = next_files(
            None,
            "main",
            &s,
            &entry,
            &[],
            &BadgeConfig::default(),
            Some("linux/py3.12"),
        )
        .unwrap();
        let names: Vec<&str> = keyed.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            names,
            [
                "keys/linux/py3.12/history.json.gz",
                "keys/linux/py3.12/badge.svg",
                "keys/linux/py3.12/badge.png",
                "keys/linux/py3.12/badge.json"
            ]
        );
    }
}
