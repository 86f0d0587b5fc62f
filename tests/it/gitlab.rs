//! `codeloop publish` in a GitLab merge-request pipeline against a fake GitLab: an in-process
//! axum server answering like the documented notes API (note objects with id, body,
//! author{id,username,...}, system, created_at, updated_at, noteable_type; X-Next-Page /
//! X-Page / X-Total / Link pagination; 401/403 error bodies), with scripted faults.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::common::bin;

pub(crate) const BOT_TOKEN: &str = "glpat-bot-token-for-tests-0123";
const READ_TOKEN: &str = "glpat-read-api-only-token-4567";
const BOT: (u64, &str) = (77, "project_42_bot_codeloop");
const HUMAN: (u64, &str) = (5, "alice");
const MARKER: &str = "<!-- codeloop-verify:v1";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
/// The fake serves small pages so that listing must follow them.
const PAGE: usize = 2;

#[derive(Clone, Debug)]
pub(crate) struct StoredNote {
    id: u64,
    pub(crate) body: String,
    author: (u64, &'static str),
    system: bool,
}

#[derive(Default)]
struct State {
    notes: Vec<StoredNote>,
    next_id: u64,
    /// (method, status, Retry-After) answered to the next request of that method.
    faults: VecDeque<(&'static str, u16, Option<u64>)>,
    log: Vec<String>,
}

pub(crate) struct FakeGitLab {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
}

fn note_json(n: &StoredNote) -> Value {
    json!({
        "id": n.id, "type": null, "body": n.body, "attachment": null,
        "author": {"id": n.author.0, "username": n.author.1, "name": n.author.1, "state": "active",
                   "avatar_url": "https://gitlab.example/uploads/a.png",
                   "web_url": format!("https://gitlab.example/{}", n.author.1)},
        "created_at": "2026-11-22T01:00:00.000Z", "updated_at": "2026-11-22T01:00:00.000Z",
        "system": n.system, "noteable_id": 9001, "noteable_type": "MergeRequest",
        "project_id": 42, "noteable_iid": 7, "resolvable": false, "confidential": false,
        "internal": false
    })
}

fn err(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

async fn handle(st: Arc<Mutex<State>>, m: Method, u: Uri, h: HeaderMap, b: Bytes) -> Response {
    let mut s = st.lock().unwrap();
    s.log.push(format!("{m} {}", u.path()));
    if let Some(i) = s.faults.iter().position(|f| f.0 == m.as_str()) {
        let (_, status, retry) = s.faults.remove(i).unwrap();
        let mut r = err(status, json!({"message": format!("{status} fault")}));
        if let Some(secs) = retry {
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
        }
        return r;
    }
    let user = match h.get("private-token").and_then(|v| v.to_str().ok()) {
        Some(BOT_TOKEN) | Some(READ_TOKEN) => BOT,
        _ => return err(401, json!({"message": "401 Unauthorized"})),
    };
    let read_only = h.get("private-token").and_then(|v| v.to_str().ok()) == Some(READ_TOKEN);
    let path = u.path();
    if path == "/api/v4/user" && m == Method::GET {
        return axum::Json(json!({"id": user.0, "username": user.1, "name": user.1, "state": "active", "bot": true})).into_response();
    }
    let Some(rest) = path.strip_prefix("/api/v4/projects/42/merge_requests/7/notes") else {
        return err(404, json!({"message": "404 Not Found"}));
    };
    if read_only && m != Method::GET {
        return err(
            403,
            json!({"error": "insufficient_scope",
                   "error_description": "The request requires higher privileges than provided by the access token.",
                   "scope": "api"}),
        );
    }
    let body = || -> Option<String> {
        let v: Value = serde_json::from_slice(&b).ok()?;
        v["body"].as_str().map(str::to_string)
    };
    match (m.as_str(), rest) {
        ("GET", "") => {
            let q = u.query().unwrap_or("");
            let page: usize = q
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            let total = s.notes.len();
            let pages = total.div_ceil(PAGE).max(1);
            let items: Vec<Value> = s
                .notes
                .iter()
                .skip((page - 1) * PAGE)
                .take(PAGE)
                .map(note_json)
                .collect();
            let mut r = axum::Json(Value::Array(items)).into_response();
            let hs = r.headers_mut();
            hs.insert("x-page", page.to_string().parse().unwrap());
            hs.insert("x-per-page", PAGE.to_string().parse().unwrap());
            hs.insert("x-total", total.to_string().parse().unwrap());
            hs.insert("x-total-pages", pages.to_string().parse().unwrap());
            let next = if page < pages {
                (page + 1).to_string()
            } else {
                String::new()
            };
            hs.insert("x-next-page", next.parse().unwrap());
            r
        }
        ("POST", "") => {
            let Some(text) = body() else {
                return err(400, json!({"error": "body is missing"}));
            };
            if text.chars().count() > 1_000_000 {
                return err(
                    400,
                    json!({"message": {"note": ["is too long (maximum is 1000000 characters)"]}}),
                );
            }
            s.next_id += 1;
            let n = StoredNote {
                id: s.next_id,
                body: text,
                author: user,
                system: false,
            };
            s.notes.push(n.clone());
            (StatusCode::CREATED, axum::Json(note_json(&n))).into_response()
        }
        (method, id) => {
            let Some(id) = id.strip_prefix('/').and_then(|i| i.parse::<u64>().ok()) else {
                return err(404, json!({"message": "404 Not Found"}));
            };
            let Some(i) = s.notes.iter().position(|n| n.id == id) else {
                return err(404, json!({"message": "404 Note Not Found"}));
            };
            if s.notes[i].author.0 != user.0 {
                return err(403, json!({"message": "403 Forbidden"}));
            }
            match method {
                "PUT" => {
                    let Some(text) = body() else {
                        return err(400, json!({"error": "body is missing"}));
                    };
                    s.notes[i].body = text;
                    axum::Json(note_json(&s.notes[i])).into_response()
                }
                "DELETE" => {
                    s.notes.remove(i);
                    StatusCode::NO_CONTENT.into_response()
                }
                _ => err(405, json!({"message": "405 Method Not Allowed"})),
            }
        }
    }
}

impl FakeGitLab {
    pub(crate) fn start() -> FakeGitLab {
        let state = Arc::new(Mutex::new(State {
            next_id: 100,
            ..Default::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let app =
                    Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
                        let st = st.clone();
                        async move { handle(st, m, u, h, b).await }
                    });
                axum::serve(listener, app).await.unwrap();
            });
        });
        FakeGitLab {
            state,
            addr: rx.recv().unwrap(),
        }
    }

    fn seed(&self, author: (u64, &'static str), body: &str, system: bool) -> u64 {
        let mut s = self.state.lock().unwrap();
        s.next_id += 1;
        let id = s.next_id;
        s.notes.push(StoredNote {
            id,
            body: body.into(),
            author,
            system,
        });
        id
    }

    pub(crate) fn ours(&self) -> Vec<StoredNote> {
        let s = self.state.lock().unwrap();
        s.notes
            .iter()
            .filter(|n| n.author == BOT)
            .cloned()
            .collect()
    }

    pub(crate) fn env(&self, token: Option<&str>) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = [
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_API_V4_URL", &format!("http://{}/api/v4", self.addr)),
            ("CI_SERVER_URL", "https://gitlab.example"),
            ("CI_PROJECT_ID", "42"),
            ("CI_PROJECT_PATH", "group/demo"),
            ("CI_PIPELINE_SOURCE", "merge_request_event"),
            ("CI_MERGE_REQUEST_IID", "7"),
            ("CI_COMMIT_SHA", SHA),
            ("CI_JOB_TOKEN", "job-token-cannot-write-notes"),
            ("CODELOOP_RETRY_BASE_MS", "5"),
            ("CODELOOP_RETRY_MAX_WAIT_SECS", "5"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if let Some(t) = token {
            v.push(("CODELOOP_GITLAB_TOKEN".into(), t.into()));
        }
        v
    }
}

fn codeloop(args: &[&str], env: &[(String, String)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args);
    for k in [
        "GITHUB_ACTIONS",
        "GITHUB_REPOSITORY",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "CODELOOP_GITLAB_TOKEN",
        "CODELOOP_ARTIFACTS_DIR",
        "CODELOOP_SHARD",
        "CI_NODE_TOTAL",
        "CI_NODE_INDEX",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run codeloop")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        if rel.starts_with(".codeloop/runs") {
            continue;
        }
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The demo run through `codeloop ci` inside the GitLab pipeline's environment.
fn demo_run(fake: &FakeGitLab) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo");
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo"),
        &project,
    );
    let out = codeloop(&["ci", "--cwd", project.to_str().unwrap()], &fake.env(None));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    (tmp, project)
}

fn publish(project: &Path, env: &[(String, String)]) -> Output {
    codeloop(&["publish", "--cwd", project.to_str().unwrap()], env)
}

#[test]
fn first_pipeline_creates_the_note_the_second_updates_it_in_place() {
    let fake = FakeGitLab::start();
    // Other people's notes (one quotes our marker), a system note, spread over pages.
    let quoted = format!("look at this:\n> {MARKER} -->\n> old report");
    let human_quote = fake.seed(HUMAN, &quoted, false);
    fake.seed(HUMAN, "LGTM", false);
    fake.seed(BOT, "added 1 commit", true);
    let (_tmp, project) = demo_run(&fake);

    let out = publish(&project, &fake.env(Some(BOT_TOKEN)));
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("comment created"), "{stdout}");
    assert!(
        stdout.contains("https://gitlab.example/group/demo/-/merge_requests/7#note_"),
        "{stdout}"
    );
    let ours = fake
        .ours()
        .into_iter()
        .filter(|n| !n.system)
        .collect::<Vec<_>>();
    assert_eq!(ours.len(), 1);
    let first = ours[0].clone();
    assert!(first.body.starts_with(MARKER), "{}", &first.body[..80]);
    // Links point at GitLab blob URLs of the pipeline's commit.
    let blob = format!("https://gitlab.example/group/demo/-/blob/{SHA}/tests/test_mixed.py#L19");
    assert!(first.body.contains(&blob), "{}", first.body);
    assert!(!stdout.contains(BOT_TOKEN) && !stderr.contains(BOT_TOKEN));

    // Second pipeline: the listing hits a 503 and the update a 429 first; both are retried.
    {
        let mut s = fake.state.lock().unwrap();
        s.faults.push_back(("GET", 503, None));
        s.faults.push_back(("PUT", 429, Some(1)));
        s.log.clear();
    }
    let out = publish(&project, &fake.env(Some(BOT_TOKEN)));
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("comment updated"), "{stdout}");
    let ours = fake
        .ours()
        .into_iter()
        .filter(|n| !n.system)
        .collect::<Vec<_>>();
    assert_eq!(ours.len(), 1, "still one note");
    assert_eq!(ours[0].id, first.id, "updated in place");
    let s = fake.state.lock().unwrap();
    assert!(!s.log.iter().any(|l| l.starts_with("POST")), "{:?}", s.log);
    assert_eq!(
        s.log.iter().filter(|l| l.starts_with("PUT")).count(),
        2,
        "{:?}",
        s.log
    );
    // The 503 hit `GET /user` (retried); then both pages of notes were read (3 seeded +
    // ours = 4 notes, 2 per page).
    let count = |p: &str| s.log.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count("GET /api/v4/user"), 2, "{:?}", s.log);
    assert_eq!(
        count("GET /api/v4/projects/42/merge_requests/7/notes"),
        2,
        "{:?}",
        s.log
    );
    let human = s.notes.iter().find(|n| n.id == human_quote).unwrap();
    assert_eq!(
        human.body, quoted,
        "another user's note quoting the marker is untouched"
    );
}

#[test]
fn duplicates_of_ours_are_removed_and_the_oldest_kept() {
    let fake = FakeGitLab::start();
    let keep = fake.seed(BOT, &format!("{MARKER} -->\nold"), false);
    let dup = fake.seed(BOT, &format!("{MARKER} -->\nolder copy"), false);
    let (_tmp, project) = demo_run(&fake);
    let out = publish(&project, &fake.env(Some(BOT_TOKEN)));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, keep);
    assert_ne!(ours[0].id, dup);
    assert!(ours[0].body.contains("codeloop"));
}

#[test]
fn a_token_without_api_scope_or_only_the_job_token_warns_and_never_fails() {
    let fake = FakeGitLab::start();
    let (_tmp, project) = demo_run(&fake);
    let out = publish(&project, &fake.env(Some(READ_TOKEN)));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("`api` scope"), "{stderr}");
    assert!(stderr.contains("insufficient_scope"), "{stderr}");
    assert!(!stderr.contains(READ_TOKEN) && !text(&out.stdout).contains(READ_TOKEN));
    assert!(fake.ours().is_empty());

    let out = publish(&project, &fake.env(None));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("CI_JOB_TOKEN cannot write merge-request notes"),
        "{stderr}"
    );
    assert!(fake.ours().is_empty());

    // Not an MR pipeline: says so, posts nothing.
    let env: Vec<(String, String)> = fake
        .env(Some(BOT_TOKEN))
        .into_iter()
        .filter(|(k, _)| k != "CI_MERGE_REQUEST_IID")
        .map(|(k, v)| {
            if k == "CI_PIPELINE_SOURCE" {
                (k, "push".into())
            } else {
                (k, v)
            }
        })
        .collect();
    let out = publish(&project, &env);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        text(&out.stdout).contains("not a merge-request pipeline"),
        "{}",
        text(&out.stdout)
    );
    assert!(fake.ours().is_empty());
}

/// A run of `project` that passes: every test of its JUnit report passed (`--report`, so
/// the demo's failing runners do not run).
fn passing_run(fake: &FakeGitLab, project: &Path) {
    let report = project.join("reports/passing.xml");
    std::fs::write(
        &report,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="0">
<testcase classname="tests.test_mixed" name="test_add" time="0.010"/>
<testcase classname="tests.test_mixed" name="test_sub" time="0.020"/>
</testsuite></testsuites>
"#,
    )
    .unwrap();
    let out = codeloop(
        &[
            "ci",
            "--cwd",
            project.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
        &fake.env(None),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn on_failure_a_passing_pipeline_deletes_our_old_note_and_only_ours() {
    let fake = FakeGitLab::start();
    // Another user's note quoting our marker, and a plain one: neither is ours.
    let quoted = format!("the bot said:\n> {MARKER} -->\n> 2 failed");
    let human_quote = fake.seed(HUMAN, &quoted, false);
    let lgtm = fake.seed(HUMAN, "LGTM", false);
    let (_tmp, project) = demo_run(&fake);
    let on_failure = |project: &Path| {
        codeloop(
            &[
                "publish",
                "--cwd",
                project.to_str().unwrap(),
                "--comment",
                "on-failure",
            ],
            &fake.env(Some(BOT_TOKEN)),
        )
    };

    // The failing pipeline posts its note.
    let out = on_failure(&project);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("comment created"), "{stdout}");
    let ours = fake.ours();
    assert_eq!(ours.len(), 1, "{ours:?}");
    let note = ours[0].id;

    // The next pipeline passes: our note is deleted, with a DELETE of exactly that note.
    passing_run(&fake, &project);
    fake.state.lock().unwrap().log.clear();
    let out = on_failure(&project);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("gate PASS"), "{stdout}");
    assert!(stdout.contains("comment deleted"), "{stdout}\n{stderr}");
    assert!(!stdout.contains(BOT_TOKEN) && !stderr.contains(BOT_TOKEN));
    assert!(fake.ours().is_empty(), "{:?}", fake.ours());
    {
        let s = fake.state.lock().unwrap();
        let deletes: Vec<&String> = s.log.iter().filter(|l| l.starts_with("DELETE")).collect();
        assert_eq!(
            deletes,
            [&format!(
                "DELETE /api/v4/projects/42/merge_requests/7/notes/{note}"
            )],
            "{:?}",
            s.log
        );
        assert!(
            !s.log
                .iter()
                .any(|l| l.starts_with("POST") || l.starts_with("PUT")),
            "{:?}",
            s.log
        );
        // Another user's notes, the one quoting our marker included, are untouched.
        let human = s.notes.iter().find(|n| n.id == human_quote).unwrap();
        assert_eq!(human.body, quoted);
        assert!(s.notes.iter().any(|n| n.id == lgtm));
        assert_eq!(s.notes.len(), 2);
    }

    // Passing again with no note of ours left: nothing to delete, nothing sent but reads.
    fake.state.lock().unwrap().log.clear();
    let out = on_failure(&project);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("comment deleted"));
    let s = fake.state.lock().unwrap();
    assert!(s.log.iter().all(|l| l.starts_with("GET")), "{:?}", s.log);
    assert_eq!(s.notes.len(), 2);
}
