//! What the CI told us about where we run: the `GITHUB_*` variables and the event payload
//! (`GITHUB_EVENT_PATH`). Reading is done once by the caller into an [`Env`] map, so the
//! decisions here (which PR, which head sha, is it a fork) are pure and testable.

use std::collections::BTreeMap;

use serde_json::Value;

/// A snapshot of environment variables. `""` counts as unset, like the runner's inputs.
#[derive(Clone, Debug, Default)]
pub struct Env(pub BTreeMap<String, String>);

impl Env {
    pub fn from_process() -> Env {
        Env(std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Env {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    }

    /// The value of `name`, `None` when unset or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// An action input. The runner names it `INPUT_<NAME>` with the name upper-cased, hyphens
    /// kept and spaces turned into `_`; `act` and older runners use `_` for hyphens, so both
    /// spellings are accepted.
    pub fn input(&self, name: &str) -> Option<&str> {
        let upper = name.to_ascii_uppercase().replace(' ', "_");
        self.get(&format!("INPUT_{upper}"))
            .or_else(|| self.get(&format!("INPUT_{}", upper.replace('-', "_"))))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// The GitHub context of this job.
#[derive(Clone, Debug, Default)]
pub struct GitHubContext {
    /// `owner/repo`.
    pub repository: Option<String>,
    pub api_url: String,
    pub server_url: String,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub workspace: Option<String>,
    pub event_name: Option<String>,
    /// The event payload; `Null` when there is none or it could not be read.
    pub event: Value,
    /// Set when `GITHUB_EVENT_PATH` was given but unreadable: shown as a warning.
    pub event_error: Option<String>,
}

impl GitHubContext {
    /// Reads the context. The event file is the only I/O; a broken one is a warning, not a
    /// failure (we can still write the summary).
    pub fn from_env(env: &Env) -> GitHubContext {
        let (event, event_error) = match env.get("GITHUB_EVENT_PATH") {
            None => (Value::Null, None),
            Some(p) => match std::fs::read(p) {
                Err(e) => (Value::Null, Some(format!("cannot read `{p}`: {e}"))),
                Ok(bytes) => match serde_json::from_slice(&bytes) {
                    Ok(v) => (v, None),
                    Err(e) => (Value::Null, Some(format!("`{p}` is not valid JSON: {e}"))),
                },
            },
        };
        GitHubContext {
            repository: env.get("GITHUB_REPOSITORY").map(str::to_string),
            api_url: env
                .get("GITHUB_API_URL")
                .unwrap_or("https://api.github.com")
                .trim_end_matches('/')
                .to_string(),
            server_url: env
                .get("GITHUB_SERVER_URL")
                .unwrap_or("https://github.com")
                .trim_end_matches('/')
                .to_string(),
            sha: env.get("GITHUB_SHA").map(str::to_string),
            git_ref: env.get("GITHUB_REF").map(str::to_string),
            run_id: env.get("GITHUB_RUN_ID").map(str::to_string),
            run_attempt: env.get("GITHUB_RUN_ATTEMPT").map(str::to_string),
            workspace: env.get("GITHUB_WORKSPACE").map(str::to_string),
            event_name: env.get("GITHUB_EVENT_NAME").map(str::to_string),
            event,
            event_error,
        }
    }

    /// `(owner, repo)` of the repository the job runs in.
    pub fn owner_repo(&self) -> Option<(&str, &str)> {
        let r = self.repository.as_deref()?;
        let (o, n) = r.split_once('/')?;
        (!o.is_empty() && !n.is_empty() && !n.contains('/')).then_some((o, n))
    }

    /// The pull request number: from the payload (`pull_request`, `issue` of an
    /// `issue_comment` on a PR, `workflow_run.pull_requests[0]`) or `refs/pull/N/...`.
    pub fn pr_number(&self) -> Option<u64> {
        let e = &self.event;
        if let Some(n) = e.pointer("/pull_request/number").and_then(Value::as_u64) {
            return Some(n);
        }
        if e.pointer("/issue/pull_request").is_some()
            && let Some(n) = e.pointer("/issue/number").and_then(Value::as_u64)
        {
            return Some(n);
        }
        if let Some(n) = e
            .pointer("/workflow_run/pull_requests/0/number")
            .and_then(Value::as_u64)
        {
            return Some(n);
        }
        let r = self.git_ref.as_deref()?;
        r.strip_prefix("refs/pull/")?
            .split('/')
            .next()?
            .parse()
            .ok()
    }

    /// The commit a check run belongs to: the PR's head, not `GITHUB_SHA` (on `pull_request`
    /// that is a merge commit nobody sees); the triggering run's head for `workflow_run`.
    pub fn head_sha(&self) -> Option<String> {
        let e = &self.event;
        e.pointer("/pull_request/head/sha")
            .or_else(|| e.pointer("/workflow_run/head_sha"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.sha.clone())
    }

    /// A pull request from a fork on a `pull_request` event: its token is read-only, so
    /// comments and check runs cannot be written (`pull_request_target` and `workflow_run`
    /// jobs get a write token and are not affected).
    pub fn is_fork_pr(&self) -> bool {
        if self.event_name.as_deref() != Some("pull_request") {
            return false;
        }
        let head = self
            .event
            .pointer("/pull_request/head/repo/full_name")
            .and_then(Value::as_str);
        let base = self
            .event
            .pointer("/pull_request/base/repo/full_name")
            .and_then(Value::as_str);
        matches!((head, base), (Some(h), Some(b)) if !h.eq_ignore_ascii_case(b))
            // A deleted fork has `head.repo: null`.
            || (base.is_some() && self.event.pointer("/pull_request/head/repo") == Some(&Value::Null))
    }

    /// Link to this workflow run, for the comment and the check run.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(event_name: &str, event: Value) -> GitHubContext {
        GitHubContext {
            repository: Some("octo/app".into()),
            sha: Some("merge000".into()),
            git_ref: Some("refs/pull/7/merge".into()),
            event_name: Some(event_name.into()),
            event,
            ..Default::default()
        }
    }

    #[test]
    fn inputs_accept_both_spellings_and_blank_is_unset() {
        let env = Env::from_pairs([
            ("INPUT_MIN-SCORE", "80"),
            ("INPUT_FAIL_ON", "regression"),
            ("INPUT_DRY-RUN", ""),
            ("INPUT_DRY_RUN", "  "),
        ]);
        assert_eq!(env.input("min-score"), Some("80"));
        assert_eq!(env.input("fail-on"), Some("regression"));
        assert_eq!(env.input("dry-run"), None);
    }

    #[test]
    fn pull_request_uses_head_sha_and_detects_forks() {
        let ev = json!({"pull_request": {"number": 42,
            "head": {"sha": "head111", "repo": {"full_name": "evil/app"}},
            "base": {"sha": "base", "repo": {"full_name": "octo/app"}}}});
        let c = ctx("pull_request", ev.clone());
        assert_eq!(c.pr_number(), Some(42));
        assert_eq!(c.head_sha().as_deref(), Some("head111"));
        assert!(c.is_fork_pr());
        assert!(!ctx("pull_request_target", ev).is_fork_pr());
        let same = json!({"pull_request": {"number": 1,
            "head": {"sha": "h", "repo": {"full_name": "octo/app"}},
            "base": {"repo": {"full_name": "Octo/App"}}}});
        assert!(!ctx("pull_request", same).is_fork_pr());
    }

    #[test]
    fn pr_number_falls_back_to_ref_and_workflow_run() {
        let c = ctx("push", Value::Null);
        assert_eq!(c.pr_number(), Some(7));
        assert_eq!(c.head_sha().as_deref(), Some("merge000"));
        let wr = ctx(
            "workflow_run",
            json!({"workflow_run": {"head_sha": "abc", "pull_requests": [{"number": 9}]}}),
        );
        assert_eq!(wr.pr_number(), Some(9));
        assert_eq!(wr.head_sha().as_deref(), Some("abc"));
        let mut push = ctx("push", Value::Null);
        push.git_ref = Some("refs/heads/main".into());
        assert_eq!(push.pr_number(), None);
    }
}
