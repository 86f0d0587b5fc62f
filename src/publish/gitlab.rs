//! GitLab publishing: one sticky merge-request note through the REST API (v4), with reqwest
//! over rustls + webpki roots. Mirrors the GitHub side's rules: list every page, find our note
//! by the hidden marker AND the token's user (`GET /user`), update it in place (PUT), create
//! it when absent (POST, never blindly retried), then list again and delete our duplicates
//! (the oldest wins, so concurrent jobs converge); with `comment: on-failure` a passing run
//! deletes our notes (DELETE), as on GitHub. 5xx and connection errors are retried with
//! backoff on idempotent requests; 429 waits `Retry-After`. The token (`CODELOOP_GITLAB_TOKEN`
//! or `GITLAB_TOKEN`) is sent as `PRIVATE-TOKEN` and never printed. Notes are keyed like
//! GitHub comments (`--comment-key`), requests share the session's [`Budget`], and a 401 ends
//! publishing at once.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Budget;
use super::context::Env;
use super::github::{ATTEMPT_TIMEOUT, BUDGET_SPENT, MARKER, RetryPolicy, has_marker_for};

/// GitLab's note body limit (characters).
pub const MAX_NOTE_CHARS: usize = 1_000_000;

/// The advice when only `CI_JOB_TOKEN` is available.
pub const JOB_TOKEN_HINT: &str = "CI_JOB_TOKEN cannot write merge-request notes: create a project access token with the `api` scope (role Reporter or higher) and store it as a masked CI/CD variable named CODELOOP_GITLAB_TOKEN";

/// A merge-request pipeline, from GitLab's predefined variables.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct GitLabContext {
    pub api_url: String,
    pub server_url: Option<String>,
    pub project_id: String,
    pub project_path: Option<String>,
    pub mr_iid: Option<u64>,
    pub sha: Option<String>,
    pub pipeline_source: Option<String>,
}

impl GitLabContext {
    /// Reads `CI_*`; `None` outside GitLab CI (no `GITLAB_CI` and no `CI_API_V4_URL`).
    pub fn from_env(env: &Env) -> Option<GitLabContext> {
        let api = env.get("CI_API_V4_URL")?.trim_end_matches('/').to_string();
        Some(GitLabContext {
            api_url: api,
            server_url: env.get("CI_SERVER_URL").map(str::to_string),
            project_id: env.get("CI_PROJECT_ID").unwrap_or("").to_string(),
            project_path: env.get("CI_PROJECT_PATH").map(str::to_string),
            mr_iid: env
                .get("CI_MERGE_REQUEST_IID")
                .and_then(|v| v.trim().parse().ok()),
            sha: env.get("CI_COMMIT_SHA").map(str::to_string),
            pipeline_source: env.get("CI_PIPELINE_SOURCE").map(str::to_string),
        })
    }

    /// Why no note can be posted, if none can.
    pub fn cannot_post(&self) -> Option<String> {
        if self.project_id.is_empty() {
            return Some("CI_PROJECT_ID is not set, so there is no project to post to".into());
        }
        if self.mr_iid.is_none() {
            return Some(format!(
                "not a merge-request pipeline (CI_PIPELINE_SOURCE is `{}`, CI_MERGE_REQUEST_IID is not set), so no MR note; add `rules: - if: $CI_PIPELINE_SOURCE == \"merge_request_event\"` to the job",
                self.pipeline_source.as_deref().unwrap_or("unset")
            ));
        }
        None
    }
}

/// The token to use: `CODELOOP_GITLAB_TOKEN`, then `GITLAB_TOKEN`. Err explains what to do.
pub fn token(env: &Env) -> Result<String, String> {
    for k in ["CODELOOP_GITLAB_TOKEN", "GITLAB_TOKEN"] {
        if let Some(t) = env.get(k).map(str::trim).filter(|t| !t.is_empty()) {
            return Ok(t.to_string());
        }
    }
    if env.get("CI_JOB_TOKEN").is_some() {
        Err(JOB_TOKEN_HINT.into())
    } else {
        Err("no GitLab token: set CODELOOP_GITLAB_TOKEN (a project access token with the `api` scope) as a masked CI/CD variable".into())
    }
}

/// GitLab publishing errors. None fails the build.
#[derive(Debug, thiserror::Error)]
pub enum GitLabError {
    #[error("cannot set up the GitLab client: {0}")]
    Setup(String),
    #[error("{method} {url} failed: {message}")]
    Transport {
        method: String,
        url: String,
        message: String,
    },
    #[error("{method} {url} answered {status}: {message}")]
    Status {
        method: String,
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "the GitLab token may not write notes ({message}): give it the `api` scope (a project access token with role Reporter or higher), or the MR gets no note"
    )]
    Scope { message: String },
    #[error(
        "GitLab rate limit: {method} {url} would have to wait {wait_secs}s (limit {max_secs}s)"
    )]
    RateLimited {
        method: String,
        url: String,
        wait_secs: u64,
        max_secs: u64,
    },
    #[error("{method} {url}: unexpected answer: {message}")]
    InvalidResponse {
        method: String,
        url: String,
        message: String,
    },
    #[error(
        "{method} {url} answered 401 ({message}): the token is not valid; nothing more is sent (check CODELOOP_GITLAB_TOKEN)"
    )]
    Unauthorized {
        method: String,
        url: String,
        message: String,
    },
}

impl GitLabError {
    fn is_not_found(&self) -> bool {
        matches!(self, GitLabError::Status { status: 404, .. })
    }
    fn is_ambiguous(&self) -> bool {
        matches!(self, GitLabError::Transport { .. })
            || matches!(self, GitLabError::Status { status, .. } if *status >= 500)
    }
    pub fn is_scope(&self) -> bool {
        matches!(self, GitLabError::Scope { .. })
    }
}

#[derive(Deserialize, Debug, Clone)]
struct ApiUser {
    id: u64,
}

#[derive(Deserialize, Debug, Clone)]
struct ApiNote {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    author: Option<ApiUser>,
    #[serde(default)]
    system: bool,
}

/// A note we found or wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Note {
    pub id: u64,
    pub body: String,
}

/// What happened to our note.
#[derive(Clone, Debug, PartialEq)]
pub enum NoteOutcome {
    Created(Note),
    Updated(Note),
    /// Our notes were deleted (`comment: on-failure` and the gate passed); `id` is the
    /// sticky one (the oldest).
    Deleted {
        id: u64,
    },
    /// There was nothing of ours to delete.
    Unchanged,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// A client for one merge request.
pub struct GitLab {
    http: reqwest::Client,
    notes_url: String,
    /// `.../projects/:id`, for the history data branch ([`GitLab::write_data_branch`]).
    project_url: String,
    user_url: String,
    token: String,
    retry: RetryPolicy,
    me: std::sync::Mutex<Option<u64>>,
    /// Set when an idempotent request ran out of retries on connection errors or 5xx.
    down: std::sync::atomic::AtomicBool,
    /// Set by a 401: nothing more is sent.
    unauthorized: std::sync::atomic::AtomicBool,
    key: Option<String>,
    budget: Arc<Budget>,
}

/// Percent-encodes a path segment (project ids may be `group/project`).
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// GitLab's error text: `message` or `error`/`error_description`.
fn api_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let pick = |k: &str| match v.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(o @ Value::Object(_)) => Some(o.to_string()),
        _ => None,
    };
    pick("message")
        .or_else(|| {
            pick("error").map(|e| match pick("error_description") {
                Some(d) => format!("{e}: {d}"),
                None => e,
            })
        })
        .unwrap_or_else(|| super::github::cut_bytes(body.trim(), 200).to_string())
}

/// The next page: `X-Next-Page` (GitLab's offset pagination) or `Link: rel="next"`.
pub fn next_page(current: &str, x_next_page: Option<&str>, link: Option<&str>) -> Option<String> {
    if let Some(l) = link.and_then(super::github::next_link) {
        return Some(l);
    }
    let n: u64 = x_next_page?.trim().parse().ok()?;
    let base = match current.find("&page=") {
        Some(i) => {
            let rest = &current[i + 6..];
            let after = rest.find('&').map(|j| &rest[j..]).unwrap_or("");
            format!("{}{after}", &current[..i])
        }
        None => current.to_string(),
    };
    Some(format!("{base}&page={n}"))
}

/// Fits a note in `max` characters (at most GitLab's 1,000,000): marker first, visible part
/// cut with a note.
pub fn fit_note(body: &str, max: usize) -> String {
    let max = max.min(MAX_NOTE_CHARS);
    let (hidden, visible) = match body.find(MARKER) {
        Some(start) => {
            let end = body[start..]
                .find("-->")
                .map(|e| start + e + 3)
                .unwrap_or(body.len());
            (
                body[start..end].to_string(),
                format!("{}{}", &body[..start], &body[end..]),
            )
        }
        None => (format!("{MARKER} -->"), body.to_string()),
    };
    let visible = visible.trim_start_matches('\n');
    if hidden.chars().count() + 1 + visible.chars().count() <= max {
        return format!("{hidden}\n{visible}");
    }
    const NOTE: &str = "\n\n---\n_The note was cut to fit; the job log and the run directory have the full report._\n";
    let room = max.saturating_sub(hidden.chars().count() + 1 + NOTE.chars().count());
    let cut: String = visible.chars().take(room).collect();
    format!("{hidden}\n{cut}{NOTE}")
}

/// rustls with the bundled webpki roots (no system CA store needed); also used by webhooks.
pub(crate) fn tls() -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    Ok(rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth())
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(x) = src {
        s.push_str(": ");
        s.push_str(&x.to_string());
        src = x.source();
    }
    s
}

impl GitLab {
    pub fn new(
        ctx: &GitLabContext,
        token: &str,
        key: Option<&str>,
        retry: RetryPolicy,
        budget: Arc<Budget>,
    ) -> Result<GitLab, GitLabError> {
        let iid = ctx.mr_iid.unwrap_or(0);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls().map_err(GitLabError::Setup)?)
            .connect_timeout(ATTEMPT_TIMEOUT)
            .timeout(ATTEMPT_TIMEOUT)
            .user_agent(concat!("codeloop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| GitLabError::Setup(error_chain(&e)))?;
        Ok(GitLab {
            http,
            notes_url: format!(
                "{}/projects/{}/merge_requests/{iid}/notes",
                ctx.api_url,
                seg(&ctx.project_id)
            ),
            project_url: format!("{}/projects/{}", ctx.api_url, seg(&ctx.project_id)),
            user_url: format!("{}/user", ctx.api_url),
            token: token.to_string(),
            retry,
            me: std::sync::Mutex::new(None),
            down: std::sync::atomic::AtomicBool::new(budget.found_down_earlier().is_some()),
            unauthorized: std::sync::atomic::AtomicBool::new(false),
            key: key.map(str::to_string),
            budget,
        })
    }

    async fn backoff(&self, attempt: u32) {
        tokio::time::sleep(self.retry.delay(attempt).min(self.budget.remaining())).await;
    }

    fn may_retry(&self, attempt: u32, started: std::time::Instant) -> bool {
        self.retry.may_retry(attempt, started)
            && self.retry.delay(attempt) < self.budget.remaining()
    }

    /// One request under the retry rules. `idempotent` ones are retried on 5xx/transport.
    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Answer, GitLabError> {
        use std::sync::atomic::Ordering::Relaxed;
        let m = method.to_string();
        let not_tried = |message: &str| GitLabError::Transport {
            method: method.to_string(),
            url: url.to_string(),
            message: message.into(),
        };
        if self.unauthorized.load(Relaxed) {
            return Err(GitLabError::Unauthorized {
                method: m,
                url: url.to_string(),
                message: "not tried: an earlier request was refused with 401".into(),
            });
        }
        if self.down.load(Relaxed) {
            return Err(not_tried(super::github::API_DOWN));
        }
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = self.budget.remaining();
            if left.is_zero() {
                self.down.store(true, Relaxed);
                self.budget.mark_down(&format!("{m} {url}: {BUDGET_SPENT}"));
                return Err(not_tried(BUDGET_SPENT));
            }
            let mut req = self
                .http
                .request(method.clone(), url)
                .timeout(left.min(ATTEMPT_TIMEOUT))
                .header("PRIVATE-TOKEN", &self.token);
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = match req.send().await {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    r.text()
                        .await
                        .map(|body| Answer {
                            status,
                            headers,
                            body,
                        })
                        .map_err(|e| error_chain(&e))
                }
                Err(e) => Err(error_chain(&e)),
            };
            let a = match res {
                Ok(a) => a,
                Err(message) => {
                    if idempotent && self.may_retry(attempt, started) {
                        self.backoff(attempt).await;
                        continue;
                    }
                    if idempotent {
                        self.down.store(true, std::sync::atomic::Ordering::Relaxed);
                        self.budget
                            .mark_down(&format!("{m} {url} failed: {message}"));
                    }
                    return Err(GitLabError::Transport {
                        method: m,
                        url: url.to_string(),
                        message,
                    });
                }
            };
            if (200..300).contains(&a.status) {
                return Ok(a);
            }
            if a.status == 401 {
                self.unauthorized.store(true, Relaxed);
                return Err(GitLabError::Unauthorized {
                    method: m,
                    url: url.to_string(),
                    message: api_message(&a.body),
                });
            }
            if a.status == StatusCode::TOO_MANY_REQUESTS.as_u16() {
                let wait = a
                    .headers
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(self.retry.base_delay * 2u32.saturating_pow(attempt));
                if wait > self.retry.max_wait || wait >= self.budget.remaining() {
                    return Err(GitLabError::RateLimited {
                        method: m,
                        url: url.to_string(),
                        wait_secs: wait.as_secs(),
                        max_secs: self.retry.max_wait.as_secs(),
                    });
                }
                // A throttled request was not carried out: even a create may repeat.
                if attempt < self.retry.attempts {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            let message = api_message(&a.body);
            if a.status == 403 && (method != Method::GET || message.contains("insufficient_scope"))
            {
                return Err(GitLabError::Scope { message });
            }
            if a.status >= 500 && idempotent {
                if self.may_retry(attempt, started) {
                    self.backoff(attempt).await;
                    continue;
                }
                self.down.store(true, std::sync::atomic::Ordering::Relaxed);
                self.budget
                    .mark_down(&format!("{m} {url} answered {}", a.status));
            }
            return Err(GitLabError::Status {
                method: m,
                url: url.to_string(),
                status: a.status,
                message,
            });
        }
    }

    fn parse<T: for<'de> Deserialize<'de>>(
        m: &str,
        url: &str,
        a: &Answer,
    ) -> Result<T, GitLabError> {
        serde_json::from_str(&a.body).map_err(|e| GitLabError::InvalidResponse {
            method: m.into(),
            url: url.into(),
            message: e.to_string(),
        })
    }

    /// The id of the token's user (cached).
    async fn me(&self) -> Result<u64, GitLabError> {
        if let Some(id) = self.me.lock().ok().and_then(|g| *g) {
            return Ok(id);
        }
        let a = self.send(Method::GET, &self.user_url, None, true).await?;
        let u: ApiUser = Self::parse("GET", &self.user_url, &a)?;
        if let Ok(mut g) = self.me.lock() {
            *g = Some(u.id);
        }
        Ok(u.id)
    }

    /// Every note of the MR, all pages, oldest first.
    async fn list(&self) -> Result<Vec<ApiNote>, GitLabError> {
        let mut url = Some(format!(
            "{}?per_page=100&sort=asc&order_by=created_at",
            self.notes_url
        ));
        let mut all = Vec::new();
        let mut pages = 0;
        while let Some(u) = url.take() {
            let a = self.send(Method::GET, &u, None, true).await?;
            let page: Vec<ApiNote> = Self::parse("GET", &u, &a)?;
            let empty = page.is_empty();
            all.extend(page);
            pages += 1;
            let h = |n: &str| a.headers.get(n).and_then(|v| v.to_str().ok());
            if pages < 1000 && !empty {
                url = next_page(&u, h("x-next-page"), h("link"));
            }
        }
        Ok(all)
    }

    /// Our notes (marker AND the token's user, not system notes), oldest first.
    pub async fn find_ours(&self) -> Result<Vec<Note>, GitLabError> {
        let me = self.me().await?;
        let mut ours: Vec<Note> = self
            .list()
            .await?
            .into_iter()
            .filter(|n| {
                !n.system
                    && n.author.as_ref().is_some_and(|a| a.id == me)
                    && n.body
                        .as_deref()
                        .is_some_and(|b| has_marker_for(b, self.key.as_deref()))
            })
            .map(|n| Note {
                id: n.id,
                body: n.body.unwrap_or_default(),
            })
            .collect();
        ours.sort_by_key(|n| n.id);
        Ok(ours)
    }

    async fn put(&self, id: u64, body: &str) -> Result<Note, GitLabError> {
        let url = format!("{}/{id}", self.notes_url);
        let a = self
            .send(Method::PUT, &url, Some(&json!({ "body": body })), true)
            .await?;
        let n: ApiNote = Self::parse("PUT", &url, &a)?;
        Ok(Note {
            id: n.id,
            body: n.body.unwrap_or_default(),
        })
    }

    async fn delete(&self, id: u64) -> Result<(), GitLabError> {
        let url = format!("{}/{id}", self.notes_url);
        match self.send(Method::DELETE, &url, None, true).await {
            Err(e) if e.is_not_found() => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn create(&self, body: &str) -> Result<Note, GitLabError> {
        let a = self
            .send(
                Method::POST,
                &self.notes_url,
                Some(&json!({ "body": body })),
                false,
            )
            .await?;
        let n: ApiNote = Self::parse("POST", &self.notes_url, &a)?;
        Ok(Note {
            id: n.id,
            body: n.body.unwrap_or_default(),
        })
    }

    /// Creates or updates our one note with `body` (already fitted). Leaves exactly one.
    /// `known`: our notes as already listed this session (not listed again).
    pub async fn upsert(
        &self,
        body: &str,
        known: Option<Vec<Note>>,
    ) -> Result<NoteOutcome, GitLabError> {
        let mut ours = match known {
            Some(k) => k,
            None => self.find_ours().await?,
        };
        let mut creates = 0;
        loop {
            if let Some(keep) = ours.first().cloned() {
                match self.put(keep.id, body).await {
                    Ok(n) => {
                        for dup in &ours[1..] {
                            self.delete(dup.id).await?;
                        }
                        return Ok(NoteOutcome::Updated(n));
                    }
                    Err(e) if e.is_not_found() => {
                        ours = self.find_ours().await?;
                        ours.retain(|n| n.id != keep.id);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            creates += 1;
            let created = match self.create(body).await {
                Ok(n) => n,
                Err(e) if e.is_ambiguous() && creates < 3 => {
                    // The create may have happened: look before trying again.
                    self.backoff(creates).await;
                    ours = self.find_ours().await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // A concurrent job may have created one too: the oldest wins.
            let now = self.find_ours().await?;
            let Some(oldest) = now.first() else {
                return Ok(NoteOutcome::Created(created));
            };
            if oldest.id == created.id {
                for dup in &now[1..] {
                    self.delete(dup.id).await?;
                }
                return Ok(NoteOutcome::Created(created));
            }
            let kept = self.put(oldest.id, body).await?;
            for dup in now.iter().skip(1) {
                self.delete(dup.id).await?;
            }
            return Ok(NoteOutcome::Updated(kept));
        }
    }

    /// Deletes our notes of this key (the sticky one and any duplicates): the gate passed
    /// under `comment: on-failure`, so the old failure report would mislead. Another user's
    /// note, even one quoting our marker, is never ours. `known`: our notes as already
    /// listed this session (not listed again).
    pub async fn delete_ours(&self, known: Option<Vec<Note>>) -> Result<NoteOutcome, GitLabError> {
        let ours = match known {
            Some(k) => k,
            None => self.find_ours().await?,
        };
        let Some(first) = ours.first() else {
            return Ok(NoteOutcome::Unchanged);
        };
        for n in &ours {
            self.delete(n.id).await?;
        }
        Ok(NoteOutcome::Deleted { id: first.id })
    }

    /// The web URL of a note.
    pub fn note_url(ctx: &GitLabContext, id: u64) -> Option<String> {
        Some(format!(
            "{}/{}/-/merge_requests/{}#note_{id}",
            ctx.server_url.as_deref()?.trim_end_matches('/'),
            ctx.project_path.as_deref()?,
            ctx.mr_iid?
        ))
    }
}

/// The history data branch through the repository files and commits API: read with
/// `GET .../repository/files/:path?ref=`, written with one `POST .../repository/commits`
/// whose update of the history file names the `last_commit_id` it was read at, so a
/// concurrent writer's commit makes GitLab refuse ours (400): read again and redo, at most
/// [`super::data_branch::MAX_ATTEMPTS`] times. A missing branch is started from the default
/// branch (`start_branch`; GitLab cannot create an orphan branch through the API).
impl GitLab {
    /// A file of `branch` and the last commit that changed it; `None` when the branch or
    /// the file does not exist.
    pub async fn read_data_file(
        &self,
        branch: &str,
        path: &str,
    ) -> Result<Option<(Vec<u8>, String)>, GitLabError> {
        use base64::Engine;
        let url = format!(
            "{}/repository/files/{}?ref={}",
            self.project_url,
            seg(path),
            seg(branch)
        );
        let a = match self.send(Method::GET, &url, None, true).await {
            Ok(a) => a,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let v: Value = Self::parse("GET", &url, &a)?;
        let bad = |message: String| GitLabError::InvalidResponse {
            method: "GET".into(),
            url: url.clone(),
            message,
        };
        let content: String = v["content"]
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(content)
            .map_err(|e| bad(format!("content is not base64: {e}")))?;
        let last = v["last_commit_id"]
            .as_str()
            .ok_or_else(|| bad("no last_commit_id".into()))?;
        Ok(Some((bytes, last.to_string())))
    }

    async fn branch_exists(&self, branch: &str) -> Result<bool, GitLabError> {
        let url = format!("{}/repository/branches/{}", self.project_url, seg(branch));
        match self.send(Method::GET, &url, None, true).await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Commits the files `make` computes from the branch's current history file. Returns
    /// the commit sha and the attempts it took.
    pub async fn write_data_branch(
        &self,
        branch: &str,
        default_branch: &str,
        read_path: &str,
        message: &str,
        mut make: impl FnMut(
            Option<&[u8]>,
        ) -> Result<
            Vec<super::data_branch::DataFile>,
            super::data_branch::DataBranchError,
        >,
    ) -> Result<(String, u32), super::data_branch::DataBranchError> {
        use super::data_branch::{DataBranchError, MAX_ATTEMPTS};
        use base64::Engine;
        let gl = |e: GitLabError| DataBranchError::Declined(format!("GitLab API: {e}"));
        for attempt in 1..=MAX_ATTEMPTS {
            let current = self.read_data_file(branch, read_path).await.map_err(gl)?;
            let exists = current.is_some() || self.branch_exists(branch).await.map_err(gl)?;
            let files = make(current.as_ref().map(|c| c.0.as_slice()))?;
            let actions: Vec<Value> = files
                .iter()
                .map(|f| {
                    let mut a = json!({
                        "action": if current.is_some() { "update" } else { "create" },
                        "file_path": f.path,
                        "content": base64::engine::general_purpose::STANDARD.encode(&f.bytes),
                        "encoding": "base64",
                    });
                    if let Some((_, last)) = &current
                        && f.path == read_path
                    {
                        a["last_commit_id"] = json!(last);
                    }
                    a
                })
                .collect();
            let mut body = json!({"branch": branch, "commit_message": message, "actions": actions});
            if !exists {
                body["start_branch"] = json!(default_branch);
            }
            let url = format!("{}/repository/commits", self.project_url);
            match self.send(Method::POST, &url, Some(&body), false).await {
                Ok(a) => {
                    let v: Value = Self::parse("POST", &url, &a).map_err(gl)?;
                    let id = v["id"].as_str().unwrap_or_default().to_string();
                    return Ok((id, attempt));
                }
                // Another writer changed the file (or created the branch) since we read it.
                Err(GitLabError::Status {
                    status, message, ..
                }) if status == 409
                    || (status == 400
                        && (message.contains("changed since")
                            || message.contains("already exists")
                            || message.contains("doesn't exist")
                            || message.contains("does not exist"))) =>
                {
                    continue;
                }
                Err(e) => return Err(gl(e)),
            }
        }
        Err(DataBranchError::Busy {
            branch: branch.to_string(),
            attempts: MAX_ATTEMPTS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_x_next_page_or_link() {
        assert_eq!(
            next_page("http://h/notes?per_page=100", Some("2"), None).as_deref(),
            Some("http://h/notes?per_page=100&page=2")
        );
        assert_eq!(
            next_page("http://h/notes?per_page=100&page=2&x=1", Some("3"), None).as_deref(),
            Some("http://h/notes?per_page=100&x=1&page=3")
        );
        assert_eq!(next_page("http://h/n?a=1", Some(""), None), None);
        assert_eq!(
            next_page(
                "u",
                None,
                Some("<http://h/n?page=4>; rel=\"next\", <http://h/n?page=9>; rel=\"last\"")
            )
            .as_deref(),
            Some("http://h/n?page=4")
        );
    }

    #[test]
    fn tokens_and_contexts_explain_themselves() {
        let env = Env::from_pairs([("CI_JOB_TOKEN", "x")]);
        assert_eq!(token(&env).unwrap_err(), JOB_TOKEN_HINT);
        let env = Env::from_pairs([("GITLAB_TOKEN", "g"), ("CODELOOP_GITLAB_TOKEN", "c")]);
        assert_eq!(token(&env).unwrap(), "c");
        let env = Env::from_pairs([
            ("CI_API_V4_URL", "https://gl.example/api/v4/"),
            ("CI_PROJECT_ID", "42"),
            ("CI_PIPELINE_SOURCE", "push"),
        ]);
        let ctx = GitLabContext::from_env(&env).unwrap();
        assert_eq!(ctx.api_url, "https://gl.example/api/v4");
        assert!(ctx.cannot_post().unwrap().contains("`push`"));
        assert!(GitLabContext::from_env(&Env::from_pairs([])).is_none());
    }

    #[test]
    fn notes_fit_the_budget_and_keep_the_marker() {
        let body = format!("{MARKER} state -->\n{}", "x".repeat(2_000_000));
        let f = fit_note(&body, usize::MAX);
        assert!(f.chars().count() <= MAX_NOTE_CHARS);
        assert!(f.starts_with(MARKER) && f.contains("was cut"));
        assert_eq!(fit_note("hi", 100), format!("{MARKER} -->\nhi"));
        assert_eq!(seg("group/sub project"), "group%2Fsub%20project");
        assert_eq!(
            api_message(r#"{"error":"insufficient_scope","error_description":"higher"}"#),
            "insufficient_scope: higher"
        );
    }
}
