//! A faithful fake of the GitHub REST endpoints codeloop uses: it answers with the official
//! example bodies from `tests/fixtures/github-openapi/` (full user objects, `html_url`, ...) and
//! validates every request body against the official request schema, recording a violation
//! (and answering 422 like GitHub) when codeloop sends something GitHub would reject.
//!
//! Behaviour that matters for the sticky comment is real: pagination with `Link` headers,
//! authors per token, read-only tokens (403 "Resource not accessible by integration"), the
//! 65,536-character body limit, and scripted faults (502s, rate limits, deleted comments).

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const BOT: &str = "github-actions[bot]";
pub const TOKEN: &str = "ghs_faketoken_for_tests_0123456789";
pub const READ_ONLY_TOKEN: &str = "ghs_readonly_token_for_tests_987654";
/// A personal access token: `GET /user` answers with its user, [`PAT_LOGIN`].
pub const PAT_TOKEN: &str = "ghp_personal_token_for_tests_246810";
pub const PAT_LOGIN: &str = "octocat";

#[derive(Clone, Debug)]
pub struct StoredComment {
    pub id: u64,
    pub body: String,
    pub login: String,
}

/// A canned answer for the next request matching `method` and a path containing `path`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: &'static str,
    pub path: String,
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
    /// Run the normal handler first, then answer with this fault (the write happened but the
    /// client saw an error, like a proxy 502 after the fact). Used for DELETE-on-PATCH too.
    pub after: bool,
    /// Delete this comment id before answering (a comment removed by a person).
    pub delete_first: Option<u64>,
}

impl Fault {
    pub fn new(method: &'static str, path: &str, status: u16) -> Fault {
        Fault {
            method,
            path: path.into(),
            status,
            headers: Vec::new(),
            body: json!({"message": "fault", "documentation_url": "https://docs.github.com/rest"}),
            after: false,
            delete_first: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
    pub at: std::time::Instant,
    /// Wall-clock time, to compare with file times.
    pub wall: std::time::SystemTime,
}

#[derive(Default)]
pub struct State {
    pub comments: Vec<StoredComment>,
    pub next_id: u64,
    pub requests: Vec<Request>,
    pub violations: Vec<String>,
    pub faults: VecDeque<Fault>,
    pub check_runs: Vec<Value>,
    pub check_run_updates: Vec<Value>,
    /// Delay before answering a comment POST (to make concurrent jobs overlap).
    pub post_delay: Duration,
    /// Delay before answering any GET (a slow API).
    pub get_delay: Duration,
    /// Requests that are accepted and never answered (an endpoint that hangs): `method` and
    /// a part of the path, as in [`Fault`].
    pub hangs: Vec<(&'static str, String)>,
    pub base: String,
    /// The git object store behind the git data and contents endpoints.
    pub git: Git,
    /// Delay before answering `POST .../git/commits` (to make concurrent writers overlap
    /// between reading the ref and updating it).
    pub commit_delay: Duration,
    /// Head commit of pull request N (`GET .../pulls/N`); unset ones have the official
    /// example's head, the tests' HEAD_SHA.
    pub pr_heads: HashMap<u64, String>,
}

/// A tiny git object store: flat trees (path → blob sha), commits, refs (`heads/NAME`).
#[derive(Default, Clone, Debug)]
pub struct Git {
    pub blobs: HashMap<String, Vec<u8>>,
    pub trees: HashMap<String, std::collections::BTreeMap<String, String>>,
    /// sha → (tree, parents, message)
    pub commits: HashMap<String, (String, Vec<String>, String)>,
    pub refs: HashMap<String, String>,
    pub counter: u64,
}

impl Git {
    fn object_sha(&mut self, kind: &str, bytes: &[u8]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(kind.as_bytes());
        h.update(bytes);
        let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        hex[..40].to_string()
    }

    /// The file at `path` of a branch name or a commit sha.
    pub fn file(&self, git_ref: &str, path: &str) -> Option<(String, Vec<u8>)> {
        let commit = self
            .refs
            .get(&format!("heads/{git_ref}"))
            .cloned()
            .or_else(|| {
                self.commits
                    .contains_key(git_ref)
                    .then(|| git_ref.to_string())
            })?;
        let tree = &self.commits.get(&commit)?.0;
        let sha = self.trees.get(tree)?.get(path)?.clone();
        let bytes = self.blobs.get(&sha)?.clone();
        Some((sha, bytes))
    }

    /// Is `ancestor` reachable from `commit` through parents?
    fn reaches(&self, commit: &str, ancestor: &str) -> bool {
        let mut todo = vec![commit.to_string()];
        let mut seen = std::collections::HashSet::new();
        while let Some(c) = todo.pop() {
            if c == ancestor {
                return true;
            }
            if seen.insert(c.clone())
                && let Some((_, parents, _)) = self.commits.get(&c)
            {
                todo.extend(parents.iter().cloned());
            }
        }
        false
    }

    /// Commits reachable from the branch, newest first (first parents).
    pub fn log(&self, branch: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut c = self.refs.get(&format!("heads/{branch}")).cloned();
        while let Some(sha) = c {
            c = self.commits.get(&sha).and_then(|x| x.1.first().cloned());
            out.push(sha);
        }
        out
    }
}

pub struct FakeGitHub {
    pub state: Arc<Mutex<State>>,
    pub addr: SocketAddr,
    ops: Arc<Value>,
}

fn openapi() -> Value {
    let p = super::common::github_openapi("github-openapi-subset.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).expect("openapi subset is JSON")
}

/// The git data and contents operations (tests/fixtures/github-openapi/git-data.json, taken
/// from GitHub's official description with `$ref`s resolved).
fn git_ops() -> serde_json::Map<String, Value> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/github-openapi/git-data.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let v: Value = serde_json::from_str(&text).expect("git-data.json is JSON");
    v["operations"].as_object().cloned().unwrap_or_default()
}

impl FakeGitHub {
    pub fn start() -> FakeGitHub {
        let mut ops = openapi()["operations"].clone();
        if let Some(m) = ops.as_object_mut() {
            m.extend(git_ops());
        }
        let ops = Arc::new(ops);
        let state = Arc::new(Mutex::new(State {
            next_id: 1000,
            ..Default::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let o = ops.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                st.lock().unwrap().base = format!("http://{addr}");
                tx.send(addr).unwrap();
                let app =
                    Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
                        let st = st.clone();
                        let o = o.clone();
                        async move { handle(st, o, m, u, h, b).await }
                    });
                axum::serve(listener, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        FakeGitHub { state, addr, ops }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seed(&self, login: &str, body: &str) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.comments.push(StoredComment {
            id,
            body: body.into(),
            login: login.into(),
        });
        id
    }

    pub fn fault(&self, f: Fault) {
        self.state.lock().unwrap().faults.push_back(f);
    }

    pub fn comments(&self) -> Vec<StoredComment> {
        self.state.lock().unwrap().comments.clone()
    }

    pub fn ours(&self) -> Vec<StoredComment> {
        self.ours_by(BOT)
    }

    /// Comments by `login` carrying the codeloop marker.
    pub fn ours_by(&self, login: &str) -> Vec<StoredComment> {
        self.comments()
            .into_iter()
            .filter(|c| c.login == login && c.body.contains("<!-- codeloop-verify:v1"))
            .collect()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }

    pub fn git(&self) -> Git {
        self.state.lock().unwrap().git.clone()
    }

    /// A file of a branch (or commit) of the fake repository.
    pub fn file(&self, git_ref: &str, path: &str) -> Option<Vec<u8>> {
        self.state
            .lock()
            .unwrap()
            .git
            .file(git_ref, path)
            .map(|f| f.1)
    }

    /// Puts files on a branch as one commit (the test's own setup, not through the API).
    pub fn put_files(&self, branch: &str, files: &[(&str, &[u8])]) -> String {
        let mut s = self.state.lock().unwrap();
        let g = &mut s.git;
        let parent = g.refs.get(&format!("heads/{branch}")).cloned();
        let mut tree = parent
            .as_ref()
            .and_then(|p| g.commits.get(p))
            .and_then(|c| g.trees.get(&c.0))
            .cloned()
            .unwrap_or_default();
        for (path, bytes) in files {
            let sha = g.object_sha("blob", bytes);
            g.blobs.insert(sha.clone(), bytes.to_vec());
            tree.insert(path.to_string(), sha);
        }
        let tsha = g.object_sha("tree", format!("{tree:?}").as_bytes());
        g.trees.insert(tsha.clone(), tree);
        g.counter += 1;
        let csha = g.object_sha(
            "commit",
            format!("{tsha} {parent:?} {}", g.counter).as_bytes(),
        );
        g.commits.insert(
            csha.clone(),
            (tsha, parent.into_iter().collect(), "setup".into()),
        );
        g.refs.insert(format!("heads/{branch}"), csha.clone());
        csha
    }
}

fn example(ops: &Value, op: &str, code: &str) -> Value {
    let ex = &ops[op]["responses"][code]["examples"];
    ex.get("default")
        .or_else(|| ex.as_object().and_then(|m| m.values().next()))
        .cloned()
        .unwrap_or(Value::Null)
}

/// The official example comment, with our id, body, author and URLs.
fn comment_json(ops: &Value, base: &str, owner: &str, repo: &str, c: &StoredComment) -> Value {
    let mut v = example(
        ops,
        "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}",
        "200",
    );
    v["id"] = json!(c.id);
    v["body"] = json!(c.body);
    v["url"] = json!(format!(
        "{base}/repos/{owner}/{repo}/issues/comments/{}",
        c.id
    ));
    v["html_url"] = json!(format!(
        "https://github.com/{owner}/{repo}/pull/1#issuecomment-{}",
        c.id
    ));
    v["user"]["login"] = json!(c.login);
    v["user"]["type"] = json!(if c.login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    });
    v
}

fn answer(status: u16, headers: Vec<(&'static str, String)>, body: Value) -> Response {
    let mut r = if body.is_null() {
        (StatusCode::from_u16(status).unwrap(), "").into_response()
    } else {
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    };
    for (k, v) in headers {
        r.headers_mut().insert(k, v.parse().unwrap());
    }
    r
}

fn validate(
    state: &mut State,
    ops: &Value,
    op: &str,
    schema_ptr: Option<&str>,
    body: &Option<Value>,
) -> bool {
    let mut schema = ops[op]["requestBody"]["schema"].clone();
    if let Some(p) = schema_ptr {
        schema = schema.pointer(p).cloned().unwrap_or(Value::Null);
    }
    let Some(b) = body else {
        state.violations.push(format!("{op}: no JSON body"));
        return false;
    };
    if let Err(e) = jsonschema::validate(&schema, b) {
        state.violations.push(format!("{op}: {e}"));
        return false;
    }
    true
}

async fn handle(
    st: Arc<Mutex<State>>,
    ops: Arc<Value>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Link targets use the repository-id form, as real GitHub does.
    let path = match uri.path().strip_prefix("/repositories/1296269/") {
        Some(rest) => format!("/repos/octo/app/{rest}"),
        None => uri.path().to_string(),
    };
    let query = uri.query().unwrap_or("").to_string();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        serde_json::from_slice(&body).ok()
    };
    let is_comment_post = method == Method::POST && path.ends_with("/comments");
    let is_commit_post = method == Method::POST && path.ends_with("/git/commits");
    let delay = {
        let mut s = st.lock().unwrap();
        s.requests.push(Request {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: json_body.clone(),
            at: std::time::Instant::now(),
            wall: std::time::SystemTime::now(),
        });
        if s.hangs
            .iter()
            .any(|(m, p)| *m == method.as_str() && path.contains(p.as_str()))
        {
            // Held until the client gives up and drops the connection.
            Duration::from_secs(3600)
        } else if is_comment_post {
            s.post_delay
        } else if is_commit_post {
            s.commit_delay
        } else if method == Method::GET {
            s.get_delay
        } else {
            Duration::ZERO
        }
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut s = st.lock().unwrap();

    // Faults scripted by the test, first match wins.
    let fault_idx = s
        .faults
        .iter()
        .position(|f| f.method == method.as_str() && path.contains(&f.path));
    let fault = fault_idx.and_then(|i| s.faults.remove(i));
    if let Some(f) = &fault
        && !f.after
    {
        if let Some(id) = f.delete_first {
            s.comments.retain(|c| c.id != id);
        }
        return answer(f.status, f.headers.clone(), f.body.clone());
    }

    // Raw files of a branch, served without a token like a public repository's:
    // raw.githubusercontent.com's `/{owner}/{repo}/{branch}/{path}` and a GitHub Enterprise
    // Server's `/{owner}/{repo}/raw/{branch}/{path}`.
    // (`/user` is the API's identity endpoint, answered below.)
    if method == Method::GET && !path.starts_with("/repos/") && path != "/user" {
        let seg: Vec<&str> = path.trim_start_matches('/').splitn(5, '/').collect();
        let (branch, file) = match seg.as_slice() {
            [_o, _r, "raw", b, f] => (b.to_string(), f.to_string()),
            [_o, _r, b, f @ ..] if !f.is_empty() => (b.to_string(), f.join("/")),
            _ => (String::new(), String::new()),
        };
        return match s.git.file(&branch, &file) {
            Some((_, bytes)) => (StatusCode::OK, bytes).into_response(),
            None => (StatusCode::NOT_FOUND, "404: Not Found").into_response(),
        };
    }

    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or("");
    let login = match token {
        TOKEN => BOT,
        READ_ONLY_TOKEN => BOT,
        PAT_TOKEN => PAT_LOGIN,
        _ => {
            return answer(
                401,
                vec![],
                json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
            );
        }
    };
    // Who am I: a personal access token's user; installation tokens (GITHUB_TOKEN) are
    // refused, as on github.com (the official example body, tests/fixtures/github/user.json,
    // copied from github-openapi-history.json).
    if method == Method::GET && path == "/user" {
        if token == PAT_TOKEN {
            let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/github/user.json");
            let mut user: Value =
                serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
            user["login"] = json!(PAT_LOGIN);
            return answer(200, vec![], user);
        }
        return answer(
            403,
            vec![],
            json!({"message": "Resource not accessible by integration",
                   "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                   "status": "403"}),
        );
    }
    if token == READ_ONLY_TOKEN && method != Method::GET {
        return answer(
            403,
            vec![],
            json!({"message": "Resource not accessible by integration",
            "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment", "status": "403"}),
        );
    }

    let seg: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let base = s.base.clone();
    let resp = match (method.as_str(), seg.as_slice()) {
        ("GET", ["repos", o, r, "issues", _n, "comments"]) => {
            let q: HashMap<String, String> = query
                .split('&')
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                })
                .collect();
            let per_page: usize = q
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30)
                .min(100);
            let page: usize = q
                .get("page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            let total = s.comments.len();
            let last = total.div_ceil(per_page).max(1);
            let items: Vec<Value> = s
                .comments
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|c| comment_json(&ops, &base, o, r, c))
                .collect();
            let mut links = Vec::new();
            let link = |p: usize, rel: &str| {
                format!(
                    "<{base}/repositories/1296269/issues/1/comments?per_page={per_page}&page={p}>; rel=\"{rel}\""
                )
            };
            if page < last {
                links.push(link(page + 1, "next"));
                links.push(link(last, "last"));
            }
            if page > 1 {
                links.push(link(1, "first"));
                links.push(link(page - 1, "prev"));
            }
            let h = if links.is_empty() {
                vec![]
            } else {
                vec![("link", links.join(", "))]
            };
            answer(200, h, Value::Array(items))
        }
        ("POST", ["repos", o, r, "issues", _n, "comments"]) => {
            let op = "POST /repos/{owner}/{repo}/issues/{issue_number}/comments";
            if !validate(&mut s, &ops, op, None, &json_body) {
                answer(422, vec![], json!({"message": "Invalid request."}))
            } else {
                let text = json_body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or("")
                    .to_string();
                if text.chars().count() > 65_536 {
                    s.violations.push(format!(
                        "POST comment body of {} chars",
                        text.chars().count()
                    ));
                    answer(
                        422,
                        vec![],
                        json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "Body is too long (maximum is 65536 characters)"}]}),
                    )
                } else {
                    s.next_id += 1;
                    let c = StoredComment {
                        id: s.next_id,
                        body: text,
                        login: login.into(),
                    };
                    s.comments.push(c.clone());
                    answer(
                        201,
                        vec![(
                            "location",
                            format!("{base}/repos/{o}/{r}/issues/comments/{}", c.id),
                        )],
                        comment_json(&ops, &base, o, r, &c),
                    )
                }
            }
        }
        ("PATCH", ["repos", o, r, "issues", "comments", id]) => {
            let op = "PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}";
            let id: u64 = id.parse().unwrap_or(0);
            if !validate(&mut s, &ops, op, None, &json_body) {
                answer(422, vec![], json!({"message": "Invalid request."}))
            } else {
                let text = json_body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or("")
                    .to_string();
                if text.chars().count() > 65_536 {
                    s.violations.push(format!(
                        "PATCH comment body of {} chars",
                        text.chars().count()
                    ));
                    answer(422, vec![], json!({"message": "Validation Failed"}))
                } else if let Some(c) = s.comments.iter_mut().find(|c| c.id == id) {
                    if c.login != login {
                        let who = c.login.clone();
                        s.violations
                            .push(format!("PATCH of comment {id} written by {who}"));
                    }
                    let c = s.comments.iter_mut().find(|c| c.id == id).unwrap();
                    c.body = text;
                    let c = c.clone();
                    answer(200, vec![], comment_json(&ops, &base, o, r, &c))
                } else {
                    answer(404, vec![], json!({"message": "Not Found"}))
                }
            }
        }
        ("DELETE", ["repos", _o, _r, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            if json_body.is_some() {
                s.violations.push("DELETE with a body".into());
            }
            match s.comments.iter().position(|c| c.id == id) {
                Some(i) => {
                    if s.comments[i].login != login {
                        let who = s.comments[i].login.clone();
                        s.violations
                            .push(format!("DELETE of comment {id} written by {who}"));
                    }
                    s.comments.remove(i);
                    answer(204, vec![], Value::Null)
                }
                None => answer(404, vec![], json!({"message": "Not Found"})),
            }
        }
        ("POST", ["repos", _o, _r, "check-runs"]) => {
            let op = "POST /repos/{owner}/{repo}/check-runs";
            if !validate(&mut s, &ops, op, None, &json_body) {
                answer(422, vec![], json!({"message": "Invalid request."}))
            } else {
                let b = json_body.clone().unwrap_or_default();
                s.check_runs.push(b.clone());
                let mut v = example(&ops, op, "201");
                v["id"] = json!(s.check_runs.len() as u64 + 4);
                v["head_sha"] = b["head_sha"].clone();
                v["conclusion"] = b["conclusion"].clone();
                answer(201, vec![], v)
            }
        }
        ("PATCH", ["repos", _o, _r, "check-runs", _id]) => {
            // Update a check run takes the same `output` object as create.
            let op = "POST /repos/{owner}/{repo}/check-runs";
            let out = json_body.as_ref().map(|b| b["output"].clone());
            if !validate(&mut s, &ops, op, Some("/properties/output"), &out) {
                answer(422, vec![], json!({"message": "Invalid request."}))
            } else {
                s.check_run_updates
                    .push(json_body.clone().unwrap_or_default());
                let mut v = example(&ops, op, "201");
                v["id"] = json!(5);
                answer(200, vec![], v)
            }
        }
        // A pull request: the official example (tests/fixtures/github/pull-request.json,
        // copied from github-openapi-history.json) with its number and head commit.
        ("GET", ["repos", _o, _r, "pulls", n]) => match n.parse::<u64>() {
            Ok(n) => {
                let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/github/pull-request.json");
                let mut pull: Value =
                    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
                pull["number"] = json!(n);
                if let Some(sha) = s.pr_heads.get(&n) {
                    pull["head"]["sha"] = json!(sha);
                }
                answer(200, vec![], pull)
            }
            Err(_) => answer(
                404,
                vec![],
                json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request", "status": "404"}),
            ),
        },
        (m, ["repos", o, r, "git", ..]) | (m @ "GET", ["repos", o, r, "contents", ..]) => {
            let (o, r) = (o.to_string(), r.to_string());
            git_data(
                &mut s,
                &ops,
                m,
                &seg[3..],
                &query,
                &json_body,
                &base,
                &o,
                &r,
            )
        }
        _ => {
            s.violations.push(format!("unexpected {method} {path}"));
            answer(404, vec![], json!({"message": "Not Found"}))
        }
    };
    if let Some(f) = fault
        && f.after
    {
        return answer(f.status, f.headers, f.body);
    }
    resp
}

fn not_found(docs: &str) -> Response {
    answer(
        404,
        vec![],
        json!({"message": "Not Found", "documentation_url": docs, "status": "404"}),
    )
}

fn unprocessable(message: &str, docs: &str) -> Response {
    answer(
        422,
        vec![],
        json!({"message": message, "documentation_url": docs, "status": "422"}),
    )
}

/// Base64 as GitHub sends it: lines of 60 characters.
fn b64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let s = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push('\n');
    out
}

/// The git data API (blobs, trees, commits, refs) and `GET contents` over [`Git`], with
/// the official example bodies, request validation, 404s for unknown objects and 422 for a
/// ref update that is not a fast forward.
#[allow(clippy::too_many_arguments)]
fn git_data(
    s: &mut State,
    ops: &Value,
    method: &str,
    rest: &[&str],
    query: &str,
    body: &Option<Value>,
    base: &str,
    o: &str,
    r: &str,
) -> Response {
    use base64::Engine;
    let repo_url = format!("{base}/repos/{o}/{r}");
    let q: HashMap<String, String> = query
        .split('&')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .collect();
    match (method, rest) {
        ("GET", ["contents", path @ ..]) => {
            let op = "GET /repos/{owner}/{repo}/contents/{path}";
            let path = path.join("/");
            let git_ref = q.get("ref").cloned().unwrap_or_else(|| "main".into());
            let git_ref = git_ref.replace("%2F", "/");
            let Some((sha, bytes)) = s.git.file(&git_ref, &path) else {
                return not_found(
                    "https://docs.github.com/rest/repos/contents#get-repository-content",
                );
            };
            let mut v = example(ops, op, "200");
            v["name"] = json!(path.rsplit('/').next().unwrap_or(&path));
            v["path"] = json!(path);
            v["sha"] = json!(sha);
            v["size"] = json!(bytes.len());
            v["url"] = json!(format!("{repo_url}/contents/{path}?ref={git_ref}"));
            v["git_url"] = json!(format!("{repo_url}/git/blobs/{sha}"));
            // Over 1 MB GitHub sends no content (read the blob instead).
            if bytes.len() > 1_000_000 {
                v["content"] = json!("");
                v["encoding"] = json!("none");
            } else {
                v["content"] = json!(b64_lines(&bytes));
                v["encoding"] = json!("base64");
            }
            answer(200, vec![], v)
        }
        ("GET", ["git", "blobs", sha]) => {
            let op = "GET /repos/{owner}/{repo}/git/blobs/{file_sha}";
            match s.git.blobs.get(*sha) {
                Some(bytes) => {
                    let mut v = example(ops, op, "200");
                    v["content"] = json!(b64_lines(bytes));
                    v["encoding"] = json!("base64");
                    v["sha"] = json!(sha);
                    v["size"] = json!(bytes.len());
                    v["url"] = json!(format!("{repo_url}/git/blobs/{sha}"));
                    answer(200, vec![], v)
                }
                None => not_found("https://docs.github.com/rest/git/blobs#get-a-blob"),
            }
        }
        ("POST", ["git", "blobs"]) => {
            let op = "POST /repos/{owner}/{repo}/git/blobs";
            if !validate(s, ops, op, None, body) {
                return unprocessable(
                    "Invalid request.",
                    "https://docs.github.com/rest/git/blobs#create-a-blob",
                );
            }
            let b = body.as_ref().unwrap();
            let content = b["content"].as_str().unwrap_or_default();
            let bytes = match b["encoding"].as_str().unwrap_or("utf-8") {
                "base64" => match base64::engine::general_purpose::STANDARD.decode(content) {
                    Ok(x) => x,
                    Err(_) => {
                        return unprocessable(
                            "Invalid Base64 content",
                            "https://docs.github.com/rest/git/blobs#create-a-blob",
                        );
                    }
                },
                _ => content.as_bytes().to_vec(),
            };
            let sha = s.git.object_sha("blob", &bytes);
            s.git.blobs.insert(sha.clone(), bytes);
            let mut v = example(ops, op, "201");
            v["sha"] = json!(sha);
            v["url"] = json!(format!("{repo_url}/git/blobs/{sha}"));
            answer(
                201,
                vec![("location", format!("{repo_url}/git/blobs/{sha}"))],
                v,
            )
        }
        ("POST", ["git", "trees"]) => {
            let op = "POST /repos/{owner}/{repo}/git/trees";
            let docs = "https://docs.github.com/rest/git/trees#create-a-tree";
            if !validate(s, ops, op, None, body) {
                return unprocessable("Invalid request.", docs);
            }
            let b = body.as_ref().unwrap();
            let mut tree = match b["base_tree"].as_str() {
                Some(t) => match s.git.trees.get(t) {
                    Some(t) => t.clone(),
                    None => return unprocessable("Invalid tree info", docs),
                },
                None => Default::default(),
            };
            for e in b["tree"].as_array().into_iter().flatten() {
                let path = e["path"].as_str().unwrap_or_default().to_string();
                match e["sha"].as_str() {
                    Some(sha) if s.git.blobs.contains_key(sha) => {
                        tree.insert(path, sha.to_string());
                    }
                    _ => return unprocessable("Invalid tree info", docs),
                }
            }
            let sha = s.git.object_sha("tree", format!("{tree:?}").as_bytes());
            s.git.trees.insert(sha.clone(), tree.clone());
            let mut v = example(ops, op, "201");
            v["sha"] = json!(sha);
            v["url"] = json!(format!("{repo_url}/git/trees/{sha}"));
            v["tree"] = Value::Array(
                tree.iter()
                    .map(|(p, b)| {
                        json!({"path": p, "mode": "100644", "type": "blob", "sha": b,
                        "size": s.git.blobs.get(b).map(Vec::len).unwrap_or(0),
                        "url": format!("{repo_url}/git/blobs/{b}")})
                    })
                    .collect(),
            );
            answer(
                201,
                vec![("location", format!("{repo_url}/git/trees/{sha}"))],
                v,
            )
        }
        ("POST", ["git", "commits"]) => {
            let op = "POST /repos/{owner}/{repo}/git/commits";
            let docs = "https://docs.github.com/rest/git/commits#create-a-commit";
            if !validate(s, ops, op, None, body) {
                return unprocessable("Invalid request.", docs);
            }
            let b = body.as_ref().unwrap();
            let tree = b["tree"].as_str().unwrap_or_default().to_string();
            let parents: Vec<String> = b["parents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect();
            if !s.git.trees.contains_key(&tree)
                || parents.iter().any(|p| !s.git.commits.contains_key(p))
            {
                return unprocessable("Tree SHA does not exist", docs);
            }
            let message = b["message"].as_str().unwrap_or_default().to_string();
            s.git.counter += 1;
            let n = s.git.counter;
            let sha = s.git.object_sha(
                "commit",
                format!("{tree} {parents:?} {message} {n}").as_bytes(),
            );
            s.git.commits.insert(
                sha.clone(),
                (tree.clone(), parents.clone(), message.clone()),
            );
            let mut v = example(ops, op, "201");
            v["sha"] = json!(sha);
            v["url"] = json!(format!("{repo_url}/git/commits/{sha}"));
            v["message"] = json!(message);
            v["tree"] = json!({"sha": tree, "url": format!("{repo_url}/git/trees/{tree}")});
            v["parents"] = Value::Array(
                parents
                    .iter()
                    .map(|p| json!({"sha": p, "url": format!("{repo_url}/git/commits/{p}")}))
                    .collect(),
            );
            answer(
                201,
                vec![("location", format!("{repo_url}/git/commits/{sha}"))],
                v,
            )
        }
        ("GET", ["git", "commits", sha]) => {
            let op = "GET /repos/{owner}/{repo}/git/commits/{commit_sha}";
            match s.git.commits.get(*sha).cloned() {
                Some((tree, parents, message)) => {
                    let mut v = example(ops, op, "200");
                    v["sha"] = json!(sha);
                    v["message"] = json!(message);
                    v["tree"] = json!({"sha": tree, "url": format!("{repo_url}/git/trees/{tree}")});
                    v["parents"] = Value::Array(
                        parents
                            .iter()
                            .map(
                                |p| json!({"sha": p, "url": format!("{repo_url}/git/commits/{p}")}),
                            )
                            .collect(),
                    );
                    answer(200, vec![], v)
                }
                None => not_found("https://docs.github.com/rest/git/commits#get-a-commit-object"),
            }
        }
        ("GET", ["git", "ref", name @ ..]) => {
            let op = "GET /repos/{owner}/{repo}/git/ref/{ref}";
            let name = name.join("/");
            match s.git.refs.get(&name) {
                Some(sha) => {
                    let mut v = example(ops, op, "200");
                    v["ref"] = json!(format!("refs/{name}"));
                    v["url"] = json!(format!("{repo_url}/git/refs/{name}"));
                    v["object"] = json!({"type": "commit", "sha": sha,
                        "url": format!("{repo_url}/git/commits/{sha}")});
                    answer(200, vec![], v)
                }
                None => not_found("https://docs.github.com/rest/git/refs#get-a-reference"),
            }
        }
        ("POST", ["git", "refs"]) => {
            let op = "POST /repos/{owner}/{repo}/git/refs";
            let docs = "https://docs.github.com/rest/git/refs#create-a-reference";
            if !validate(s, ops, op, None, body) {
                return unprocessable("Invalid request.", docs);
            }
            let b = body.as_ref().unwrap();
            let full = b["ref"].as_str().unwrap_or_default();
            let Some(name) = full.strip_prefix("refs/").filter(|n| n.contains('/')) else {
                return unprocessable(
                    "Reference name must start with 'refs/' and have at least two slashes.",
                    docs,
                );
            };
            let sha = b["sha"].as_str().unwrap_or_default().to_string();
            if s.git.refs.contains_key(name) {
                return unprocessable("Reference already exists", docs);
            }
            if !s.git.commits.contains_key(&sha) {
                return unprocessable("Object does not exist", docs);
            }
            s.git.refs.insert(name.to_string(), sha.clone());
            let mut v = example(ops, op, "201");
            v["ref"] = json!(full);
            v["url"] = json!(format!("{repo_url}/git/refs/{name}"));
            v["object"] = json!({"type": "commit", "sha": sha, "url": format!("{repo_url}/git/commits/{sha}")});
            answer(
                201,
                vec![("location", format!("{repo_url}/git/refs/{name}"))],
                v,
            )
        }
        ("PATCH", ["git", "refs", name @ ..]) => {
            let op = "PATCH /repos/{owner}/{repo}/git/refs/{ref}";
            let docs = "https://docs.github.com/rest/git/refs#update-a-reference";
            if !validate(s, ops, op, None, body) {
                return unprocessable("Invalid request.", docs);
            }
            let name = name.join("/");
            let b = body.as_ref().unwrap();
            let sha = b["sha"].as_str().unwrap_or_default().to_string();
            let force = b["force"].as_bool().unwrap_or(false);
            let Some(current) = s.git.refs.get(&name).cloned() else {
                return unprocessable("Reference does not exist", docs);
            };
            if !s.git.commits.contains_key(&sha) {
                return unprocessable("Object does not exist", docs);
            }
            if force {
                s.violations.push(format!("PATCH {name} with force: true"));
            }
            if !force && !s.git.reaches(&sha, &current) {
                return unprocessable("Update is not a fast forward", docs);
            }
            s.git.refs.insert(name.clone(), sha.clone());
            let mut v = example(ops, op, "200");
            v["ref"] = json!(format!("refs/{name}"));
            v["url"] = json!(format!("{repo_url}/git/refs/{name}"));
            v["object"] = json!({"type": "commit", "sha": sha, "url": format!("{repo_url}/git/commits/{sha}")});
            answer(200, vec![], v)
        }
        _ => {
            s.violations
                .push(format!("unexpected {method} git/{}", rest.join("/")));
            answer(404, vec![], json!({"message": "Not Found"}))
        }
    }
}
