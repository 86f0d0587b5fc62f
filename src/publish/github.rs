//! GitHub REST publishing through octocrab (rustls + bundled webpki roots, so no system CA
//! store is needed): the sticky PR comment and the check run.
//!
//! Every request goes through [`GitHub::send`], which owns the retry policy: 5xx answers and
//! connection errors are retried with backoff for idempotent requests (GET, PATCH, DELETE);
//! secondary rate limits wait for `retry-after` / `x-ratelimit-reset`; a create (POST) is
//! never retried blindly — the sticky-comment logic re-lists first, because a 502 may hide a
//! comment that was created after all.
//!
//! All requests of one publishing share a [`Budget`] (20 s by default): no attempt outlives
//! it, no retry or rate-limit wait starts that would end after it, and once the API is found
//! down (retries spent) or the token is refused (401), no further request is sent at all.
//!
//! Identity: whose comments are ours. `comment-author` wins; else `GET /user` names the
//! token's user (personal access tokens, user-to-server tokens); it answers 403 for an app
//! installation token, which is then taken to be the workflow's `GITHUB_TOKEN`
//! (`github-actions[bot]`). Another app's installation token should name its bot with
//! `comment-author` (`<app-slug>[bot]`); without it, the login GitHub reports for the first
//! comment we create is learnt, and the re-list after that create folds the older comment
//! of that login into one. A comment is ours only with our marker (and comment key) AND one
//! of those logins: a comment by anyone else carrying the marker is never edited.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use std::sync::Arc;

use http::Method;
use octocrab::Octocrab;

use super::Budget;
use serde::Deserialize;
use serde_json::{Value, json};

/// Every codeloop comment starts with this (the rest of the hidden block carries the state).
pub const MARKER: &str = "<!-- codeloop-verify:v1";
/// GitHub rejects comment bodies over this many characters (422 "Body is too long").
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// Check-run `output.summary` and `output.text` limit, in bytes.
pub const MAX_CHECK_TEXT_BYTES: usize = 65_535;
/// Annotations per check-run request.
pub const CHECK_ANNOTATIONS_PER_REQUEST: usize = 50;
/// The login `GITHUB_TOKEN` comments as.
pub const DEFAULT_AUTHOR: &str = "github-actions[bot]";
/// The longest a single attempt may wait for an answer (connect + read), so one hanging
/// request cannot spend the whole publishing budget alone.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
/// The longest comment key (`comment-key` input, `--comment-key` flag).
pub const MAX_KEY_CHARS: usize = 64;

/// A comment key as given (`comment-key` input, `--comment-key` flag) made safe: runs of
/// anything but `A-Z a-z 0-9 . _ - /` become one `-` (and are dropped at either end), so a
/// matrix value or a GitLab job name (`test: [linux, 3.12]` → `test-linux-3.12`) works as
/// given; the key then sits in the hidden marker unescaped, never closes it, and names a
/// folder of the history data branch. Err (what is accepted) when nothing usable is left,
/// when it is longer than 64 characters, or when a part between slashes is empty, `.` or `..`.
pub fn check_key(key: &str) -> Result<String, String> {
    let mut k = String::with_capacity(key.len());
    let mut gap = false;
    for c in key.trim().chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/') {
            if gap && !k.is_empty() {
                k.push('-');
            }
            gap = false;
            k.push(c);
        } else {
            gap = true;
        }
    }
    if k.is_empty()
        || k.chars().count() > MAX_KEY_CHARS
        // The key names a folder of the history data branch (`keys/<key>/`).
        || k.split('/').any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(format!(
            "use 1 to {MAX_KEY_CHARS} characters of letters, digits, `.`, `_`, `-` and `/` (others become `-`; e.g. `backend` or `linux/py3.12`; no empty, `.` or `..` part between slashes)"
        ));
    }
    Ok(k)
}

/// [`check_key`], saying in the log when the key is not the one given.
pub fn comment_key(given: &str) -> Result<String, String> {
    let k = check_key(given)?;
    if k != given.trim() {
        crate::ui::warn(&format!(
            "comment key `{}` is used as `{k}` (only letters, digits, `.`, `_`, `-` and `/` are kept)",
            given.trim()
        ));
    }
    Ok(k)
}

/// The value of the `name=` word of a body's codeloop marker (only inside the marker, up to
/// its `-->`): `None` when the body has no marker, `Some(None)` when the marker has no such
/// word.
pub fn marker_field<'a>(body: &'a str, name: &str) -> Option<Option<&'a str>> {
    let start = body.find(MARKER)?;
    let rest = &body[start + MARKER.len()..];
    let end = rest.find("-->").unwrap_or(rest.len());
    Some(
        rest[..end]
            .split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.strip_prefix('=')),
    )
}

/// The key of a body's codeloop marker: `None` when the body has no marker, `Some(None)` for
/// a marker without `key=` (the default comment, and every comment before keys existed).
pub fn marker_key(body: &str) -> Option<Option<&str>> {
    marker_field(body, "key")
}

/// Whether `body` is a codeloop body of comment key `key` (`None`: the default comment).
pub fn has_marker_for(body: &str, key: Option<&str>) -> bool {
    marker_key(body).is_some_and(|k| k == key)
}

/// Puts `key` into the body's marker (adding a marker when there is none). `None` leaves the
/// body as it is: the default comment's marker carries no key.
/// Names the key in the comment's heading (`## ❌ codeloop · <code>linux</code>: failed`):
/// with several keyed comments on one PR (an OS matrix, a monorepo's jobs), the reader must
/// see which one failed without opening the marker. A heading a template changed is left.
pub fn heading_with_key(body: &str, key: Option<&str>) -> String {
    let Some(key) = key else {
        return body.to_string();
    };
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        if line.starts_with("## ") {
            if let Some(i) = line.find(" codeloop: ") {
                let i = at + i + " codeloop".len();
                // A key is 1-64 of `A-Z a-z 0-9 . _ - /` (comment_key): nothing to escape.
                return format!("{} · <code>{key}</code>{}", &body[..i], &body[i..]);
            }
            break;
        }
        at += line.len();
    }
    body.to_string()
}

pub fn with_key(body: &str, key: Option<&str>) -> String {
    let Some(key) = key else {
        return body.to_string();
    };
    match body.find(MARKER) {
        Some(i) => {
            let at = i + MARKER.len();
            format!("{} key={key}{}", &body[..at], &body[at..])
        }
        None => format!("{MARKER} key={key} -->\n{body}"),
    }
}

/// Publishing errors. None of them fails the build unless the user asked for it.
#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("cannot set up the GitHub client for `{api}`: {message}")]
    Setup { api: String, message: String },
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
    #[error("the token cannot write to this repository ({message})")]
    ReadOnly { message: String },
    #[error(
        "GitHub rate limit: {method} {url} would have to wait {wait_secs}s (limit {max_secs}s)"
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
        "{method} {url} answered 401 ({message}): the token is not valid; nothing more is sent (check `github-token`)"
    )]
    Unauthorized {
        method: String,
        url: String,
        message: String,
    },
}

impl GitHubError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, GitHubError::Unauthorized { .. })
    }
    pub fn is_read_only(&self) -> bool {
        matches!(self, GitHubError::ReadOnly { .. })
    }
    fn is_not_found(&self) -> bool {
        matches!(self, GitHubError::Status { status: 404, .. })
    }
    /// GitHub is down or throttling (connection errors, 5xx, a rate limit too long to wait):
    /// nothing the user can fix in their setup, so it never fails the build by itself.
    pub fn is_outage(&self) -> bool {
        self.is_ambiguous() || matches!(self, GitHubError::RateLimited { .. })
    }
    /// The request may have been carried out although we got no success answer.
    fn is_ambiguous(&self) -> bool {
        matches!(self, GitHubError::Transport { .. })
            || matches!(self, GitHubError::Status { status, .. } if *status >= 500)
    }
}

/// Retry tuning. Tests shrink the delays; the defaults suit real GitHub.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts for one request (first try included).
    pub attempts: u32,
    /// First backoff delay; doubles each attempt.
    pub base_delay: Duration,
    /// The longest rate-limit wait we accept before giving up.
    pub max_wait: Duration,
    /// No retry of a failed request starts later than this after its first attempt, so an
    /// API that hangs (connect/read timeouts) cannot stretch the backoff schedule.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(1000),
            max_wait: Duration::from_secs(120),
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Whether another attempt may start after `attempt` failed, `started` being the first
    /// attempt's start: within the attempt count and, after the backoff, within the budget.
    pub fn may_retry(&self, attempt: u32, started: std::time::Instant) -> bool {
        attempt < self.attempts && started.elapsed() + self.delay(attempt) <= self.budget
    }

    /// The backoff before the retry that follows `attempt`: base × 2^(attempt-1), ≤ 30 s.
    pub fn delay(&self, attempt: u32) -> Duration {
        (self.base_delay * 2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(Duration::from_secs(30))
    }
}

/// Why a request was not even tried: an earlier one found the API down (its retries ran
/// out on connection errors or 5xx answers), and spending the budget again per request would
/// only make the job wait longer for the same answer.
pub const API_DOWN: &str = "not tried: the API did not answer an earlier request of this run";
/// Why a request was not tried: the publishing budget is spent.
pub const BUDGET_SPENT: &str = "not tried: the publishing time budget is spent";

/// One HTTP answer, read whole (GitHub's answers here are small).
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Deserialize, Debug, Clone)]
struct ApiUser {
    login: String,
}

#[derive(Deserialize, Debug, Clone)]
struct ApiComment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
    #[serde(default)]
    user: Option<ApiUser>,
}

/// What we read of a pull request (`GET /repos/{owner}/{repo}/pulls/{n}`).
#[derive(Deserialize, Debug, Clone)]
struct ApiPull {
    head: ApiPullHead,
}

#[derive(Deserialize, Debug, Clone)]
struct ApiPullHead {
    sha: String,
}

/// A comment we found or wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub url: String,
    pub body: String,
}

/// What happened to the sticky comment.
#[derive(Clone, Debug, PartialEq)]
pub enum CommentOutcome {
    Created(Comment),
    Updated(Comment),
    /// `comment: on-failure` and the gate passed: our old comment was removed.
    Deleted {
        id: u64,
    },
    /// Nothing to do (no comment of ours and nothing to post).
    Unchanged,
    /// Another job's comment, written at the same time, stays as it is (its failure is
    /// kept over this job's pass: [`super::sharing`]).
    Kept(Comment),
}

/// What to write over another job's comment that appeared while this one wrote its own:
/// given that comment's body, the body to write, or `None` to leave it.
pub type RaceDecision<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A completed check run to create.
#[derive(Clone, Debug)]
pub struct CheckRun {
    pub name: String,
    pub head_sha: String,
    /// `success`, `failure`, `neutral`.
    pub conclusion: String,
    pub title: String,
    pub summary: String,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    /// Already in the API's shape (`path`, `start_line`, `end_line`, `annotation_level`,
    /// `message`, `title`).
    pub annotations: Vec<Value>,
}

/// The GitHub REST client for one repository.
pub struct GitHub {
    octo: Octocrab,
    api: String,
    owner: String,
    repo: String,
    /// Logins whose comments count as ours (the configured author, plus the login GitHub
    /// reports for a comment we create).
    authors: std::sync::Mutex<Vec<String>>,
    retry: RetryPolicy,
    read_only: AtomicBool,
    /// Set when an idempotent request ran out of retries on connection errors or 5xx.
    down: AtomicBool,
    /// Set by a 401: the token is refused, so nothing more is sent.
    unauthorized: AtomicBool,
    /// Whether [`GitHub::identify`] has run (or `comment-author` made it unnecessary).
    identified: AtomicBool,
    /// The comment key: only comments whose marker carries it are ours.
    key: Option<String>,
    budget: Arc<Budget>,
}

/// Percent-encodes a path segment (owner/repo names are safe, but never trust them).
pub(crate) fn seg(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `rel="next"` URL of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// Prefix of every hidden codeloop block (the marker, and the report's state line
/// `<!-- codeloop-verify:state:v1 ... -->`).
const HIDDEN_PREFIX: &str = "<!-- codeloop-verify:";

/// Makes a comment body safe to post: starts with the marker, fits in GitHub's limit.
/// Hidden blocks are kept whole — the marker first, the others (the report's state line, the
/// baseline of the next run) last — and the visible part is cut at a char boundary with a note.
pub fn fit_comment(body: &str, max_chars: usize) -> String {
    let max_chars = max_chars.min(MAX_COMMENT_CHARS);
    let mut hidden: Vec<&str> = Vec::new();
    let mut visible = String::new();
    let mut rest = body;
    while let Some(start) = rest.find(HIDDEN_PREFIX) {
        let Some(len) = rest[start..].find("-->") else {
            break;
        };
        visible.push_str(&rest[..start]);
        hidden.push(&rest[start..start + len + 3]);
        rest = &rest[start + len + 3..];
    }
    visible.push_str(rest);
    let marker = match hidden.iter().position(|h| h.starts_with(MARKER)) {
        Some(i) => hidden.remove(i).to_string(),
        None => format!("{MARKER} -->"),
    };
    let tail: String = hidden.iter().map(|h| format!("\n{h}")).collect();
    let visible = visible.trim_matches('\n');
    let fixed = marker.chars().count() + 1 + tail.chars().count() + 1;
    if fixed + visible.chars().count() <= max_chars {
        return format!("{marker}\n{visible}{tail}\n");
    }
    const NOTE: &str = "\n\n---\n_The comment was cut to fit GitHub's 65,536-character limit; the job summary and the run directory have the full report._\n";
    let room = max_chars.saturating_sub(fixed + NOTE.chars().count());
    let cut: String = visible.chars().take(room).collect();
    format!("{marker}\n{cut}{NOTE}{}", tail.trim_start_matches('\n'))
}

impl GitHub {
    /// A client for `owner/repo` at `api` (`GITHUB_API_URL`; GHES works). Must be called
    /// inside a tokio runtime.
    // Each argument is a separate setting the one caller (the session) holds; a struct would
    // only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        api: &str,
        owner: &str,
        repo: &str,
        token: Option<&str>,
        author: Option<&str>,
        key: Option<&str>,
        retry: RetryPolicy,
        budget: Arc<Budget>,
    ) -> Result<GitHub, GitHubError> {
        let setup = |message: String| GitHubError::Setup {
            api: api.to_string(),
            message,
        };
        let api = api.trim_end_matches('/').to_string();
        let mut b = Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(|e| setup(format!("not a URL: {e}")))?
            // Our own retry policy decides; octocrab's would blindly retry creates.
            .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
            .set_connect_timeout(Some(ATTEMPT_TIMEOUT))
            .set_read_timeout(Some(ATTEMPT_TIMEOUT));
        if let Some(t) = token {
            b = b.personal_token(t.to_string());
        }
        let octo = b.build().map_err(|e| setup(e.to_string()))?;
        Ok(GitHub {
            octo,
            api,
            owner: owner.to_string(),
            repo: repo.to_string(),
            authors: std::sync::Mutex::new(vec![author.unwrap_or(DEFAULT_AUTHOR).to_string()]),
            retry,
            read_only: AtomicBool::new(false),
            // An earlier command of this job found the API down: nothing is sent.
            down: AtomicBool::new(budget.found_down_earlier().is_some()),
            unauthorized: AtomicBool::new(false),
            identified: AtomicBool::new(author.is_some()),
            key: key.map(str::to_string),
            budget,
        })
    }

    /// The token was refused (401): nothing more is sent.
    pub fn is_unauthorized(&self) -> bool {
        self.unauthorized.load(Ordering::Relaxed)
    }

    /// Finds out whose comments are ours (see the module docs): `GET /user` once.
    async fn identify(&self) -> Result<(), GitHubError> {
        if self.identified.load(Ordering::Relaxed) {
            return Ok(());
        }
        let url = format!("{}/user", self.api);
        match self.send(Method::GET, &url, None, true).await {
            Ok(a) => {
                let u: ApiUser = Self::parse("GET", &url, &a)?;
                if let Ok(mut authors) = self.authors.lock() {
                    *authors = vec![u.login];
                }
            }
            // An installation token (the workflow's GITHUB_TOKEN): keep github-actions[bot].
            // 404: an API without the endpoint (a proxy, an old GHES); same default.
            Err(GitHubError::Status {
                status: 403 | 404, ..
            }) => {}
            Err(e) => return Err(e),
        }
        self.identified.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub(crate) fn repo_url(&self) -> String {
        format!(
            "{}/repos/{}/{}",
            self.api,
            seg(&self.owner),
            seg(&self.repo)
        )
    }

    fn is_ours(&self, c: &ApiComment) -> bool {
        let Some(user) = &c.user else { return false };
        let authors = self.authors.lock().map(|a| a.clone()).unwrap_or_default();
        c.body
            .as_deref()
            .is_some_and(|b| has_marker_for(b, self.key.as_deref()))
            && authors.iter().any(|a| a.eq_ignore_ascii_case(&user.login))
    }

    fn learn_author(&self, c: &ApiComment) {
        if let (Some(u), Ok(mut a)) = (&c.user, self.authors.lock())
            && !a.iter().any(|x| x.eq_ignore_ascii_case(&u.login))
        {
            a.push(u.login.clone());
        }
    }

    /// Sends one request with the retry policy. `idempotent` requests are retried on 5xx and
    /// connection errors; all requests wait out secondary rate limits.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        idempotent: bool,
    ) -> Result<Answer, GitHubError> {
        if self.read_only.load(Ordering::Relaxed) && method != Method::GET {
            return Err(GitHubError::ReadOnly {
                message: "an earlier write was refused".into(),
            });
        }
        let m = method.to_string();
        let not_tried = |message: &str| GitHubError::Transport {
            method: method.to_string(),
            url: url.to_string(),
            message: message.into(),
        };
        if self.unauthorized.load(Ordering::Relaxed) {
            return Err(GitHubError::Unauthorized {
                method: m,
                url: url.to_string(),
                message: "not tried: an earlier request was refused with 401".into(),
            });
        }
        if self.down.load(Ordering::Relaxed) {
            return Err(not_tried(API_DOWN));
        }
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = self.budget.remaining();
            if left.is_zero() {
                self.down.store(true, Ordering::Relaxed);
                self.budget.mark_down(&format!("{m} {url}: {BUDGET_SPENT}"));
                return Err(not_tried(BUDGET_SPENT));
            }
            let limit = left.min(ATTEMPT_TIMEOUT);
            let call = async {
                let res = match method {
                    Method::GET => self.octo._get(url).await,
                    Method::POST => self.octo._post(url, body).await,
                    Method::PATCH => self.octo._patch(url, body).await,
                    Method::DELETE => self.octo._delete(url, body).await,
                    _ => self.octo._put(url, body).await,
                };
                match res {
                    Ok(resp) => {
                        let status = resp.status().as_u16();
                        let headers = resp.headers().clone();
                        match self.octo.body_to_string(resp).await {
                            Ok(body) => Ok(Answer {
                                status,
                                headers,
                                body,
                            }),
                            Err(e) => Err(error_chain(&e)),
                        }
                    }
                    Err(e) => Err(error_chain(&e)),
                }
            };
            let answer = match tokio::time::timeout(limit, call).await {
                Ok(a) => a,
                Err(_) => Err(format!("no answer within {:.1} s", limit.as_secs_f64())),
            };
            let answer = match answer {
                Ok(a) => a,
                Err(message) => {
                    let err = GitHubError::Transport {
                        method: m.clone(),
                        url: url.to_string(),
                        message,
                    };
                    if idempotent && self.may_retry(attempt, started) {
                        self.backoff(attempt).await;
                        continue;
                    }
                    if idempotent {
                        self.down.store(true, Ordering::Relaxed);
                        self.budget.mark_down(&err.to_string());
                    }
                    return Err(err);
                }
            };
            if (200..300).contains(&answer.status) {
                return Ok(answer);
            }
            let message = api_message(&answer.body);
            if answer.status == 401 {
                self.unauthorized.store(true, Ordering::Relaxed);
                return Err(GitHubError::Unauthorized {
                    method: m,
                    url: url.to_string(),
                    message,
                });
            }
            if let Some(wait) = rate_limit_wait(&answer, unix_now()) {
                if wait > self.retry.max_wait || wait >= self.budget.remaining() {
                    return Err(GitHubError::RateLimited {
                        method: m,
                        url: url.to_string(),
                        wait_secs: wait.as_secs(),
                        max_secs: self.retry.max_wait.as_secs(),
                    });
                }
                // A rate-limited request was not carried out, so even a create may repeat.
                if attempt < self.retry.attempts {
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if answer.status == 403
                && method != Method::GET
                && message.contains("Resource not accessible by integration")
            {
                self.read_only.store(true, Ordering::Relaxed);
                return Err(GitHubError::ReadOnly { message });
            }
            if answer.status >= 500 && idempotent {
                if self.may_retry(attempt, started) {
                    self.backoff(attempt).await;
                    continue;
                }
                self.down.store(true, Ordering::Relaxed);
                self.budget
                    .mark_down(&format!("{m} {url} answered {}", answer.status));
            }
            return Err(GitHubError::Status {
                method: m,
                url: url.to_string(),
                status: answer.status,
                message,
            });
        }
    }

    async fn backoff(&self, attempt: u32) {
        tokio::time::sleep(self.retry.delay(attempt).min(self.budget.remaining())).await;
    }

    /// The retry policy, and the backoff must end inside the publishing budget.
    fn may_retry(&self, attempt: u32, started: std::time::Instant) -> bool {
        self.retry.may_retry(attempt, started)
            && self.retry.delay(attempt) < self.budget.remaining()
    }

    pub(crate) fn parse<T: for<'de> Deserialize<'de>>(
        method: &str,
        url: &str,
        a: &Answer,
    ) -> Result<T, GitHubError> {
        serde_json::from_str(&a.body).map_err(|e| GitHubError::InvalidResponse {
            method: method.into(),
            url: url.into(),
            message: e.to_string(),
        })
    }

    /// All comments of the PR, every page (`per_page=100`, following `Link: rel="next"`).
    async fn list_comments(&self, pr: u64) -> Result<Vec<ApiComment>, GitHubError> {
        let mut url = Some(format!(
            "{}/issues/{pr}/comments?per_page=100",
            self.repo_url()
        ));
        let mut all = Vec::new();
        let mut pages = 0;
        while let Some(u) = url.take() {
            let a = self.send(Method::GET, &u, None, true).await?;
            let page: Vec<ApiComment> = Self::parse("GET", &u, &a)?;
            all.extend(page);
            pages += 1;
            // A guard against a Link loop: 1000 pages is 100,000 comments.
            if pages < 1000 {
                url = a.header("link").and_then(next_link);
            }
        }
        Ok(all)
    }

    /// The commit at the head of pull request `pr` now.
    pub async fn pull_head(&self, pr: u64) -> Result<String, GitHubError> {
        let url = format!("{}/pulls/{pr}", self.repo_url());
        let a = self.send(Method::GET, &url, None, true).await?;
        let p: ApiPull = Self::parse("GET", &url, &a)?;
        Ok(p.head.sha)
    }

    /// Our comments on the PR (marker of our key AND author), oldest first.
    pub async fn find_ours(&self, pr: u64) -> Result<Vec<Comment>, GitHubError> {
        self.identify().await?;
        let mut ours: Vec<Comment> = self
            .list_comments(pr)
            .await?
            .into_iter()
            .filter(|c| self.is_ours(c))
            .map(|c| Comment {
                id: c.id,
                url: c.html_url,
                body: c.body.unwrap_or_default(),
            })
            .collect();
        ours.sort_by_key(|c| c.id);
        Ok(ours)
    }

    async fn patch_comment(&self, id: u64, body: &str) -> Result<Comment, GitHubError> {
        let url = format!("{}/issues/comments/{id}", self.repo_url());
        let a = self
            .send(Method::PATCH, &url, Some(&json!({ "body": body })), true)
            .await?;
        let c: ApiComment = Self::parse("PATCH", &url, &a)?;
        Ok(Comment {
            id: c.id,
            url: c.html_url,
            body: c.body.unwrap_or_default(),
        })
    }

    async fn delete_comment(&self, id: u64) -> Result<(), GitHubError> {
        let url = format!("{}/issues/comments/{id}", self.repo_url());
        match self.send(Method::DELETE, &url, None, true).await {
            // Already gone (a concurrent job deleted it): the goal is reached.
            Err(e) if e.is_not_found() => Ok(()),
            r => r.map(|_| ()),
        }
    }

    async fn create_comment(&self, pr: u64, body: &str) -> Result<Comment, GitHubError> {
        let url = format!("{}/issues/{pr}/comments", self.repo_url());
        let a = self
            .send(Method::POST, &url, Some(&json!({ "body": body })), false)
            .await?;
        let c: ApiComment = Self::parse("POST", &url, &a)?;
        self.learn_author(&c);
        Ok(Comment {
            id: c.id,
            url: c.html_url,
            body: c.body.unwrap_or_default(),
        })
    }

    /// Creates or updates our one comment on `pr` with `body` (already fitted with
    /// [`fit_comment`]). Leaves exactly one comment of ours, even with concurrent jobs.
    ///
    /// `race`: when another job created the comment at the same time (the oldest wins), what
    /// to write over its body (`None`: leave it; see [`super::sharing`]); without it, `body`.
    pub async fn upsert_comment(
        &self,
        pr: u64,
        body: &str,
        known: Option<Vec<Comment>>,
        race: Option<RaceDecision<'_>>,
    ) -> Result<CommentOutcome, GitHubError> {
        let mut ours = match known {
            Some(k) => k,
            None => self.find_ours(pr).await?,
        };
        let mut creates = 0;
        loop {
            if let Some(keep) = ours.first().cloned() {
                match self.patch_comment(keep.id, body).await {
                    Ok(c) => {
                        for dup in &ours[1..] {
                            self.delete_comment(dup.id).await?;
                        }
                        return Ok(CommentOutcome::Updated(c));
                    }
                    // Deleted by someone since we listed it: list again (it may have been a
                    // duplicate another job removed) and fall through to create.
                    Err(e) if e.is_not_found() => {
                        ours = self.find_ours(pr).await?;
                        ours.retain(|c| c.id != keep.id);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            creates += 1;
            let created = match self.create_comment(pr, body).await {
                Ok(c) => c,
                Err(e) if e.is_ambiguous() && creates < 3 => {
                    // The create may have happened: look before trying again.
                    self.backoff(creates).await;
                    ours = self.find_ours(pr).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Another job may have created one at the same time: the oldest wins, so every
            // job converges on the same comment; ours is folded into it.
            let now = self.find_ours(pr).await?;
            let Some(oldest) = now.first() else {
                return Ok(CommentOutcome::Created(created));
            };
            if oldest.id == created.id {
                for dup in &now[1..] {
                    self.delete_comment(dup.id).await?;
                }
                return Ok(CommentOutcome::Created(created));
            }
            // The oldest is another job's, written while this one wrote: it was not in the
            // listing the sharing decision read, so decide now on its body.
            let write = match race {
                Some(decide) => decide(&oldest.body),
                None => Some(body.to_string()),
            };
            let kept = match &write {
                Some(b) => self.patch_comment(oldest.id, b).await,
                None => Ok(oldest.clone()),
            };
            for dup in now.iter().skip(1) {
                self.delete_comment(dup.id).await?;
            }
            if !now.iter().any(|c| c.id == created.id) {
                self.delete_comment(created.id).await?;
            }
            return match kept {
                Ok(c) if write.is_none() => Ok(CommentOutcome::Kept(c)),
                Ok(c) => Ok(CommentOutcome::Updated(c)),
                Err(e) if e.is_not_found() => Ok(CommentOutcome::Created(created)),
                Err(e) => Err(e),
            };
        }
    }

    /// Deletes our comments on `pr` (`comment: on-failure` when the gate passed).
    pub async fn delete_ours(
        &self,
        pr: u64,
        known: Option<Vec<Comment>>,
    ) -> Result<CommentOutcome, GitHubError> {
        let ours = match known {
            Some(k) => k,
            None => self.find_ours(pr).await?,
        };
        let Some(first) = ours.first() else {
            return Ok(CommentOutcome::Unchanged);
        };
        for c in &ours {
            self.delete_comment(c.id).await?;
        }
        Ok(CommentOutcome::Deleted { id: first.id })
    }

    /// Creates one completed check run; annotations beyond the first 50 are added with
    /// PATCH requests of 50 each. Returns the check run's `html_url`.
    pub async fn create_check_run(&self, run: &CheckRun) -> Result<String, GitHubError> {
        let url = format!("{}/check-runs", self.repo_url());
        let summary = cut_bytes(&run.summary, MAX_CHECK_TEXT_BYTES);
        let mut chunks = run.annotations.chunks(CHECK_ANNOTATIONS_PER_REQUEST);
        let first: Vec<Value> = chunks.next().map(<[Value]>::to_vec).unwrap_or_default();
        let mut body = json!({
            "name": run.name,
            "head_sha": run.head_sha,
            "status": "completed",
            "conclusion": run.conclusion,
            "output": {"title": run.title, "summary": summary, "annotations": first},
        });
        if let Some(d) = &run.details_url {
            body["details_url"] = json!(d);
        }
        if let Some(x) = &run.external_id {
            body["external_id"] = json!(x);
        }
        // A create is not retried on 5xx: a duplicate check run is worse than a missing one.
        let a = self.send(Method::POST, &url, Some(&body), false).await?;
        let created: Value = Self::parse("POST", &url, &a)?;
        let id = created.get("id").and_then(Value::as_u64).ok_or_else(|| {
            GitHubError::InvalidResponse {
                method: "POST".into(),
                url: url.clone(),
                message: "no `id` in the check run".into(),
            }
        })?;
        let html = created
            .get("html_url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let patch_url = format!("{url}/{id}");
        for chunk in chunks {
            let body =
                json!({"output": {"title": run.title, "summary": summary, "annotations": chunk}});
            self.send(Method::PATCH, &patch_url, Some(&body), true)
                .await?;
        }
        Ok(html)
    }
}

/// Cuts `s` to at most `max` bytes on a char boundary.
pub fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    &s[..i]
}

/// An error with its causes (`client error (Connect): tcp connect error: Connection refused`),
/// because octocrab's own message stops at the first level.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        src = s.source();
    }
    msg
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// GitHub's `message` field of an error body (or the body itself, bounded).
fn api_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| cut_bytes(body.trim(), 200).to_string())
}

/// How long a rate-limited answer asks us to wait: `retry-after` (seconds) on 403/429, or
/// `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (epoch seconds). `None` when the
/// answer is not a rate limit.
fn rate_limit_wait(a: &Answer, now: u64) -> Option<Duration> {
    if a.status != 403 && a.status != 429 {
        return None;
    }
    if let Some(s) = a
        .header("retry-after")
        .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(s));
    }
    if a.header("x-ratelimit-remaining").map(str::trim) == Some("0")
        && let Some(reset) = a
            .header("x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<u64>().ok())
    {
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    // A secondary limit without headers: GitHub asks for at least a minute.
    (a.status == 429 || api_message(&a.body).contains("secondary rate limit"))
        .then(|| Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&'static str, &str)], body: &str) -> Answer {
        let mut h = http::HeaderMap::new();
        for (k, v) in headers {
            h.insert(*k, v.parse().unwrap());
        }
        Answer {
            status,
            headers: h,
            body: body.into(),
        }
    }

    #[test]
    fn link_header_next_is_found() {
        let l = r#"<https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2>; rel="next", <https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=3>; rel="last""#;
        assert_eq!(
            next_link(l).as_deref(),
            Some("https://api.github.com/repositories/1/issues/2/comments?per_page=100&page=2")
        );
        assert_eq!(next_link(r#"<https://x/y?page=1>; rel="prev""#), None);
    }

    #[test]
    fn rate_limits_are_recognised() {
        let a = answer(
            403,
            &[("retry-after", "7")],
            r#"{"message":"You have exceeded a secondary rate limit"}"#,
        );
        assert_eq!(rate_limit_wait(&a, 0), Some(Duration::from_secs(7)));
        let b = answer(
            403,
            &[
                ("x-ratelimit-remaining", "0"),
                ("x-ratelimit-reset", "1010"),
            ],
            "{}",
        );
        assert_eq!(rate_limit_wait(&b, 1000), Some(Duration::from_secs(11)));
        let ro = answer(
            403,
            &[],
            r#"{"message":"Resource not accessible by integration"}"#,
        );
        assert_eq!(rate_limit_wait(&ro, 0), None);
        assert_eq!(rate_limit_wait(&answer(502, &[], ""), 0), None);
    }

    #[test]
    fn comment_fitting_keeps_marker_and_hidden_state() {
        let hidden = "<!-- codeloop-verify:v1 state=eyJhIjoxfQ -->";
        let body = format!("{hidden}\n## Title\n{}", "x".repeat(100_000));
        let fitted = fit_comment(&body, 60_000);
        assert!(fitted.chars().count() <= 60_000);
        assert!(fitted.starts_with(hidden));
        assert!(fitted.contains("65,536-character limit"));
        // No marker: one is added.
        let f = fit_comment("hello", 60_000);
        assert_eq!(f, "<!-- codeloop-verify:v1 -->\nhello\n");
        // The report's state line stays last, also when the body is cut.
        let state = "<!-- codeloop-verify:state:v1 eJyrVkrLz1eyUlBKSixSqgUAK4MFJw -->";
        let with_state = format!("{hidden}\n## T\n{}\n{state}\n", "y".repeat(100_000));
        let f = fit_comment(&with_state, 60_000);
        assert!(f.chars().count() <= 60_000);
        assert!(
            f.starts_with(hidden) && f.trim_end().ends_with(state),
            "{}",
            &f[f.len() - 200..]
        );
        assert_eq!(f.matches(state).count(), 1);
        let small = fit_comment(&format!("{hidden}\nok\n{state}\n"), 60_000);
        assert_eq!(small, format!("{hidden}\nok\n{state}\n"));
        // Multi-byte text is cut on char boundaries and counted in chars.
        let wide = fit_comment(&"é".repeat(70_000), MAX_COMMENT_CHARS);
        assert!(wide.chars().count() <= MAX_COMMENT_CHARS);
    }

    #[test]
    fn comment_keys_live_in_the_marker() {
        assert_eq!(check_key(" backend ").unwrap(), "backend");
        assert_eq!(check_key("linux/py3.12_x-1").unwrap(), "linux/py3.12_x-1");
        // Anything else becomes `-`: a matrix value or a GitLab job name works as given.
        assert_eq!(check_key("a b").unwrap(), "a-b");
        assert_eq!(check_key("x-->").unwrap(), "x--");
        assert_eq!(check_key("test: [linux, 3.12]").unwrap(), "test-linux-3.12");
        assert_eq!(check_key("(py3.12)").unwrap(), "py3.12");
        // Nothing usable left, too long, or not a folder of the data branch.
        for bad in [
            "",
            "!!",
            "é",
            &"k".repeat(65),
            "..",
            "a/../b",
            "/a",
            "a//b",
            "a/",
        ] {
            assert!(check_key(bad).unwrap_err().contains("1 to 64"), "{bad:?}");
        }
        let plain = format!("{MARKER} run=r1 -->\nbody");
        assert_eq!(marker_key(&plain), Some(None));
        assert_eq!(marker_key("no marker"), None);
        let heading =
            format!("{MARKER} run=r1 -->\n## ❌ codeloop: failed · score **5**\n\ncodeloop: x\n");
        assert_eq!(
            heading_with_key(&heading, Some("linux-py3.12")),
            format!(
                "{MARKER} run=r1 -->\n## ❌ codeloop · <code>linux-py3.12</code>: failed · score **5**\n\ncodeloop: x\n"
            )
        );
        assert_eq!(heading_with_key(&heading, None), heading);
        assert_eq!(
            heading_with_key("# mine\n## other\n", Some("k")),
            "# mine\n## other\n"
        );
        let keyed = with_key(&plain, Some("api"));
        assert_eq!(keyed, format!("{MARKER} key=api run=r1 -->\nbody"));
        assert_eq!(marker_key(&keyed), Some(Some("api")));
        assert!(has_marker_for(&keyed, Some("api")));
        assert!(!has_marker_for(&keyed, None) && !has_marker_for(&plain, Some("api")));
        // `key=` after the marker's end is text, not a key.
        assert_eq!(marker_key(&format!("{MARKER} -->\nkey=api")), Some(None));
        assert_eq!(with_key(&plain, None), plain);
        assert_eq!(
            with_key("hello", Some("k")),
            format!("{MARKER} key=k -->\nhello")
        );
        // The fitted comment keeps the key in its first line.
        let fitted = fit_comment(&keyed, 60_000);
        assert!(fitted.starts_with(&format!("{MARKER} key=api ")));
    }

    #[test]
    fn cut_bytes_respects_char_boundaries() {
        assert_eq!(cut_bytes("aé", 2), "a");
        assert_eq!(cut_bytes("abc", 5), "abc");
    }
}
