//! The history data branch end to end through the binary: default-branch `codeloop action`
//! runs build `codeloop-data` (history, badge) through the fake GitHub's git data API; a PR
//! run then reads it (new vs already failing on the base, flaky tests, a slower test, the
//! quarantine); concurrent writers, a 422 on the ref, a missing branch, unreadable and
//! newer-schema histories; the README badge URL; the same through GitLab's commits API;
//! `codeloop history` over local runs.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use codeloop::history::{self, HistoryDoc};
use serde_json::{Value, json};

use crate::common::bin;
use crate::fake_github::{FakeGitHub, Fault, READ_ONLY_TOKEN, TOKEN};

const BRANCH: &str = "codeloop-data";

/// One test's result in a run: name, passed?, seconds.
type T<'a> = (&'a str, bool, f64);

fn junit(tests: &[T]) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"app\">\n");
    for (name, ok, secs) in tests {
        s.push_str(&format!(
            "<testcase classname=\"tests.app\" name=\"{name}\" time=\"{secs}\">"
        ));
        if !ok {
            s.push_str("<failure message=\"boom\">assert False</failure>");
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("</testsuite></testsuites>\n");
    s
}

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Ws {
    fn new() -> Ws {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::create_dir_all(root.join("ws/reports")).unwrap();
        Ws { _dir: dir, root }
    }
    fn ws(&self) -> PathBuf {
        self.root.join("ws")
    }
    fn reports(&self, tests: &[T]) {
        std::fs::write(self.ws().join("reports/app.xml"), junit(tests)).unwrap();
    }
}

fn push_event() -> Value {
    json!({"ref": "refs/heads/main", "repository": {"full_name": "octo/app", "default_branch": "main"}})
}

fn pr_event(fork: bool) -> Value {
    json!({"action": "synchronize", "number": 3, "pull_request": {"number": 3,
        "head": {"sha": "feedface", "ref": "feature",
                 "repo": {"full_name": if fork { "mallory/app" } else { "octo/app" }}},
        "base": {"sha": "base", "ref": "main", "repo": {"full_name": "octo/app"}}},
        "repository": {"full_name": "octo/app", "default_branch": "main"}})
}

/// `codeloop action` as the runner starts it, over the workspace's reports.
fn action(fake: &FakeGitHub, w: &Ws, event: &Value, sha: &str, extra: &[(&str, &str)]) -> Output {
    let name = if event.get("pull_request").is_some() {
        "pull_request"
    } else {
        "push"
    };
    let ev_path = w.root.join(format!("event-{sha}.json"));
    std::fs::write(&ev_path, event.to_string()).unwrap();
    let out = w.root.join(format!("output-{sha}"));
    let summary = w.root.join(format!("summary-{sha}"));
    let s = |v: &str| v.to_string();
    let mut env: BTreeMap<String, String> = [
        ("INPUT_GITHUB-TOKEN", s(TOKEN)),
        ("INPUT_REPORTS", s("reports/*.xml")),
        ("INPUT_COMMENT", s("always")),
        ("INPUT_FAIL-ON-GATE", s("false")),
        ("INPUT_FROM", s("")),
        ("GITHUB_ACTIONS", s("true")),
        ("CI", s("true")),
        ("GITHUB_REPOSITORY", s("octo/app")),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_SERVER_URL", s("https://github.com")),
        ("GITHUB_SHA", s(sha)),
        (
            "GITHUB_REF",
            s(if name == "push" {
                "refs/heads/main"
            } else {
                "refs/pull/3/merge"
            }),
        ),
        ("GITHUB_EVENT_NAME", s(name)),
        ("GITHUB_EVENT_PATH", ev_path.to_string_lossy().into_owned()),
        ("GITHUB_WORKSPACE", w.ws().to_string_lossy().into_owned()),
        ("GITHUB_OUTPUT", out.to_string_lossy().into_owned()),
        (
            "GITHUB_STEP_SUMMARY",
            summary.to_string_lossy().into_owned(),
        ),
        ("GITHUB_RUN_ID", s("77")),
        ("CODELOOP_RETRY_BASE_MS", s("10")),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Command::new(bin())
        .arg("action")
        .env_clear()
        .envs(&env)
        .current_dir(w.ws())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn outputs(w: &Ws, sha: &str) -> BTreeMap<String, String> {
    let t = std::fs::read_to_string(w.root.join(format!("output-{sha}"))).unwrap_or_default();
    let mut m = BTreeMap::new();
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        if let Some((k, delim)) = l.split_once("<<") {
            let mut v = Vec::new();
            for x in lines.by_ref() {
                if x == delim {
                    break;
                }
                v.push(x);
            }
            m.insert(k.to_string(), v.join("\n"));
        } else if let Some((k, v)) = l.split_once('=') {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// The data branch's history, decoded.
fn stored(fake: &FakeGitHub) -> HistoryDoc<'static> {
    let gz = fake
        .file(BRANCH, history::FILE)
        .expect("history on the data branch");
    let json = history::gunzip(&gz).unwrap();
    history::parse(&json).unwrap().into_owned()
}

fn statuses(doc: &HistoryDoc, id_end: &str) -> String {
    doc.tests
        .iter()
        .find(|r| r.0.ends_with(id_end))
        .map(|r| r.1.to_string())
        .unwrap_or_else(|| panic!("{id_end} not in {:?}", doc.tests))
}

/// Six pushes to main: `flaky` alternates (ends passing), `broken` breaks in the last two,
/// `slow` takes a second, `fresh` always passes.
const MAIN_RUNS: usize = 6;
fn main_run(i: usize) -> Vec<T<'static>> {
    vec![
        ("stable", true, 0.05),
        ("broken", i < 4, 0.05),
        ("flaky", i % 2 == 1, 0.05),
        ("slow", true, 1.0),
        ("fresh", true, 0.05),
    ]
}

fn build_main(fake: &FakeGitHub, w: &Ws) {
    for i in 0..MAIN_RUNS {
        w.reports(&main_run(i));
        let sha = format!("{:040x}", i + 1);
        let o = action(fake, w, &push_event(), &sha, &[]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let t = text(&o);
        assert!(
            t.contains(&format!("added to branch `{BRANCH}`")),
            "run {i}: {t}"
        );
        assert_eq!(stored(fake).runs.len(), i + 1);
    }
}

#[test]
fn default_branch_runs_build_the_history_and_a_pr_reads_it() {
    let fake = FakeGitHub::start();
    let w = Ws::new();
    build_main(&fake, &w);
    // The branch did not exist: the first run created it (POST refs), the others moved it.
    let writes = fake.writes();
    let creates = writes
        .iter()
        .filter(|r| r.path.ends_with("/git/refs"))
        .count();
    let patches = writes
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/git/refs/heads/"))
        .count();
    assert_eq!((creates, patches), (1, MAIN_RUNS - 1));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let doc = stored(&fake);
    assert_eq!(doc.branch, "main");
    assert_eq!(doc.schema_version, history::SCHEMA_VERSION);
    assert_eq!(statuses(&doc, "::flaky"), "FPFPFP");
    assert_eq!(statuses(&doc, "::broken"), "P4F2");
    assert_eq!(statuses(&doc, "::stable"), "P6");
    assert_eq!(
        doc.runs.last().unwrap().sha.as_deref(),
        Some(&*format!("{:040x}", 6))
    );
    // Each run is one commit on the branch, with the badge files.
    assert_eq!(fake.git().log(BRANCH).len(), MAIN_RUNS);
    let svg = fake.file(BRANCH, "badge.svg").unwrap();
    assert!(String::from_utf8_lossy(&svg).starts_with("<svg"));
    assert!(
        fake.file(BRANCH, "badge.png")
            .unwrap()
            .starts_with(b"\x89PNG")
    );
    let shields: Value = serde_json::from_slice(&fake.file(BRANCH, "badge.json").unwrap()).unwrap();
    assert_eq!(shields["schemaVersion"], 1);
    assert!(
        shields["message"].as_str().unwrap().contains("failing"),
        "{shields}"
    );

    // The PR: `fresh` breaks (new), `broken` still fails (already failing on main), `flaky`
    // fails (flaky on main), `slow` takes 3.5 s (median 1 s).
    let writes_before = fake.writes().len();
    w.reports(&[
        ("stable", true, 0.05),
        ("broken", false, 0.05),
        ("flaky", false, 0.05),
        ("slow", true, 3.5),
        ("fresh", false, 0.05),
    ]);
    let o = action(
        &fake,
        &w,
        &pr_event(false),
        "prsha1",
        &[("INPUT_FAIL-ON", "regression")],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // Reading wrote nothing but the comment.
    let new_writes: Vec<_> = fake.writes()[writes_before..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        new_writes.iter().all(|w| w.ends_with("/issues/3/comments")),
        "{new_writes:?}"
    );
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    let body = &ours[0].body;
    let section = &body[body.find("### History of `main`").expect(body)..];
    let list_after = |title: &str| -> String {
        let s = &section[section
            .find(title)
            .unwrap_or_else(|| panic!("{title}: {section}"))..];
        // From a list's title to the next title.
        s[..s[2..].find("\n**").map(|i| i + 2).unwrap_or(s.len())].to_string()
    };
    let new = list_after("**New in this PR** (2)");
    assert!(
        new.contains("tests.app::fresh") && new.contains("tests.app::flaky"),
        "{new}"
    );
    let old = list_after("**Already failing on `main`** (1)");
    assert!(
        old.contains("tests.app::broken") && !old.contains("fresh"),
        "{old}"
    );
    let flaky = list_after("**Flaky on `main`** (1)");
    // 5 flips over 6 runs: 100 % flip rate, and it failed here.
    assert!(
        flaky.contains("tests.app::flaky | 100 % | 5 in 6 runs | failed |"),
        "{flaky}"
    );
    let slow = list_after("**Slower than usual** (1)");
    assert!(slow.contains("tests.app::slow | 3.5 s |"), "{slow}");
    // The hidden state stays the comment's last line.
    assert!(
        body.trim_end()
            .lines()
            .last()
            .unwrap()
            .starts_with("<!-- codeloop-verify:state")
    );
    // fail-on: regression gated against the base: two new failures.
    let gate: Value = serde_json::from_slice(
        &std::fs::read(
            w.ws()
                .join(".codeloop/runs")
                .join(outputs(&w, "prsha1")["run-id"].clone())
                .join("gate.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(gate["verdict"], "fail");
    let rule = gate["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "max_failures")
        .unwrap();
    assert_eq!(rule["actual"], "2", "{rule}");
    assert!(
        gate["delta"]["baseline_run_id"]
            .as_str()
            .unwrap()
            .ends_with("(main)")
    );

    // With quarantine, the flaky failure is shown but does not count; only `fresh` does.
    let o = action(
        &fake,
        &w,
        &pr_event(false),
        "prsha2",
        &[
            ("INPUT_FAIL-ON", "regression"),
            ("INPUT_QUARANTINE", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let body = &fake.ours()[0].body;
    assert!(body.contains("failed (quarantined)"), "{body}");
    let run_dir = w
        .ws()
        .join(".codeloop/runs")
        .join(outputs(&w, "prsha2")["run-id"].clone());
    let gate: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("gate.json")).unwrap()).unwrap();
    let rules = gate["rules"].as_array().unwrap();
    let q = rules
        .iter()
        .find(|r| r["rule"] == "quarantine")
        .expect("quarantine rule");
    assert_eq!(q["actual"], "1");
    let mf = rules.iter().find(|r| r["rule"] == "max_failures").unwrap();
    assert_eq!(mf["actual"], "1", "{mf}");
    assert!(mf["reason"].as_str().unwrap().contains("fresh"), "{mf}");

    // Only already-failing tests fail: `fail-on: regression` passes against the base.
    w.reports(&[
        ("stable", true, 0.05),
        ("broken", false, 0.05),
        ("flaky", true, 0.05),
        ("slow", true, 1.0),
        ("fresh", true, 0.05),
    ]);
    let o = action(
        &fake,
        &w,
        &pr_event(true),
        "prsha3",
        &[
            ("INPUT_FAIL-ON", "regression"),
            ("INPUT_FAIL-ON-GATE", "true"),
            ("INPUT_GITHUB-TOKEN", READ_ONLY_TOKEN),
        ],
    );
    // A fork PR with a read-only token reads the history too, and passes.
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(outputs(&w, "prsha3")["verdict"], "pass");
    let summary = std::fs::read_to_string(w.root.join("summary-prsha3")).unwrap();
    assert!(
        summary.contains("**Already failing on `main`** (1)"),
        "{summary}"
    );
    assert!(!summary.contains("New in this PR"), "{summary}");
}

#[test]
fn concurrent_writers_and_a_lost_race_keep_every_run() {
    let fake = FakeGitHub::start();
    let w = Ws::new();
    w.reports(&main_run(0));
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 1), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // A 422 "Update is not a fast forward" on the ref: read again, redo, once.
    let mut f = Fault::new("PATCH", "/git/refs/heads/codeloop-data", 422);
    f.body = json!({"message": "Update is not a fast forward",
        "documentation_url": "https://docs.github.com/rest/git/refs#update-a-reference", "status": "422"});
    fake.fault(f);
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 2), &[]);
    let t = text(&o);
    assert!(t.contains("after 2 attempts"), "{t}");
    assert_eq!(stored(&fake).runs.len(), 2);

    // Two jobs at once, each slowed between reading the ref and updating it, so both read
    // the same head: one loses the race, re-reads and re-applies its run on top.
    fake.state.lock().unwrap().commit_delay = std::time::Duration::from_secs(3);
    let w2 = Ws::new();
    w2.reports(&main_run(1));
    std::thread::scope(|s| {
        let a = s.spawn(|| action(&fake, &w, &push_event(), &format!("{:040x}", 3), &[]));
        let b = s.spawn(|| action(&fake, &w2, &push_event(), &format!("{:040x}", 4), &[]));
        let outs = [a.join().unwrap(), b.join().unwrap()];
        for o in &outs {
            assert_eq!(o.status.code(), Some(0), "{}", text(o));
            assert!(!text(o).contains("was not updated"), "{}", text(o));
        }
        assert!(
            outs.iter().any(|o| text(o).contains("after 2 attempts")),
            "no writer lost the race: {}\n{}",
            text(&outs[0]),
            text(&outs[1])
        );
    });
    let doc = stored(&fake);
    let shas: Vec<&str> = doc.runs.iter().filter_map(|r| r.sha.as_deref()).collect();
    assert_eq!(shas.len(), 4, "{shas:?}");
    for i in 1..=4 {
        assert!(shas.contains(&&*format!("{:040x}", i)), "{shas:?}");
    }
    // Every test row is aligned with the 4 runs.
    for r in &doc.tests {
        let mut b = Vec::new();
        history::rle_decode(&r.1, &mut b).unwrap();
        assert_eq!(b.len(), 4, "{r:?}");
    }
    // The lost race shows as a rejected PATCH in the log, and no forced update happened.
    let rejected = fake
        .requests()
        .iter()
        .filter(|r| r.method == "PATCH" && r.path.contains("/git/refs/heads/"))
        .count();
    assert!(rejected >= 4, "{rejected}");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[test]
fn missing_unreadable_and_newer_histories_degrade_to_a_warning() {
    let fake = FakeGitHub::start();
    let w = Ws::new();
    w.reports(&[("a", false, 0.1), ("b", true, 0.1)]);
    // No branch: the PR run says so and shows no history section.
    let o = action(&fake, &w, &pr_event(false), "pr1", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("no history yet"), "{}", text(&o));
    assert!(!fake.ours()[0].body.contains("### History"));

    // Garbage on the branch: a warning, no section, and the push replaces it.
    fake.put_files(BRANCH, &[(history::FILE, b"not gzip at all")]);
    let o = action(&fake, &w, &pr_event(false), "pr2", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("is not used"), "{}", text(&o));
    assert!(!fake.ours()[0].body.contains("### History"));
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 9), &[]);
    assert!(text(&o).contains("starting a new one"), "{}", text(&o));
    assert_eq!(stored(&fake).runs.len(), 1);

    // A token that may not write (no `contents: write`): a warning with the fix, exit 0.
    let o = action(
        &fake,
        &w,
        &push_event(),
        &format!("{:040x}", 11),
        &[("INPUT_GITHUB-TOKEN", READ_ONLY_TOKEN)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("contents: write"), "{}", text(&o));

    // A history from a newer codeloop: read by nobody, overwritten by nobody.
    let mut newer = HistoryDoc::empty("main", 50);
    newer.schema_version = history::SCHEMA_VERSION + 1;
    let head = fake.put_files(BRANCH, &[(history::FILE, &history::encode(&newer))]);
    let o = action(&fake, &w, &pr_event(false), "pr3", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("newer than this codeloop reads"),
        "{}",
        text(&o)
    );
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 10), &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("was not updated"), "{}", text(&o));
    assert_eq!(fake.git().refs[&format!("heads/{BRANCH}")], head);

    // `history: false` does neither.
    let o = action(
        &fake,
        &w,
        &push_event(),
        &format!("{:040x}", 12),
        &[("INPUT_HISTORY", "false")],
    );
    assert!(!text(&o).contains("history"), "{}", text(&o));
    assert_eq!(fake.git().refs[&format!("heads/{BRANCH}")], head);
    // A bad input names itself.
    let o = action(
        &fake,
        &w,
        &push_event(),
        "x",
        &[("INPUT_HISTORY-RUNS", "1")],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("history-runs"), "{}", text(&o));
}

/// GET an `http://host:port/path` URL (HTTP/1.1, `Connection: close`): status and body.
fn http_get(url: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect(url);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut c = std::net::TcpStream::connect(host).unwrap();
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    c.read_to_end(&mut buf).unwrap();
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    assert!(
        !head.to_ascii_lowercase().contains("chunked"),
        "the fake answers with a length: {head}"
    );
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, buf[split + 4..].to_vec())
}

#[test]
fn the_readme_badge_url_serves_the_file_written() {
    let fake = FakeGitHub::start();
    let w = Ws::new();
    w.reports(&[("a", true, 0.1)]);
    // A GitHub Enterprise Server (the fake) serves raw files at /{repo}/raw/{branch}/{file}.
    let o = action(
        &fake,
        &w,
        &push_event(),
        &format!("{:040x}", 1),
        &[("GITHUB_SERVER_URL", &fake.url())],
    );
    let t = text(&o);
    let url = outputs(&w, &format!("{:040x}", 1))["badge-url"].clone();
    assert_eq!(
        url,
        format!("{}/octo/app/raw/{BRANCH}/badge.svg", fake.url())
    );
    assert!(
        t.contains(&format!("README badge: [![codeloop]({url})]")),
        "{t}"
    );
    let (status, body) = http_get(&url);
    assert_eq!(status, 200);
    assert_eq!(body, fake.file(BRANCH, "badge.svg").unwrap());
    assert!(String::from_utf8_lossy(&body).contains("passing"));

    // On github.com the line points at raw.githubusercontent.com/{repo}/{branch}/badge.svg:
    // the same path on the fake's raw host serves the same file.
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 2), &[]);
    let line = history::readme_badge_line("https://github.com", "octo/app", BRANCH, None);
    assert!(text(&o).contains(&line), "{}", text(&o));
    let gh = outputs(&w, &format!("{:040x}", 2))["badge-url"].clone();
    let path = gh
        .strip_prefix("https://raw.githubusercontent.com")
        .expect(&gh);
    let (status, body) = http_get(&format!("{}{path}", fake.url()));
    assert_eq!(status, 200);
    assert_eq!(body, fake.file(BRANCH, "badge.svg").unwrap());
}

/// A monorepo's `backend` and `frontend` jobs (each with its own `comment-key`) keep their own
/// history on the data branch: a backend PR's baseline is backend's newest run on main, even
/// when frontend pushed after it, and each key has its own badge.
#[test]
fn keyed_jobs_keep_their_own_history_baseline_and_badge() {
    let fake = FakeGitHub::start();
    let w = Ws::new();
    let backend = [
        ("INPUT_COMMENT-KEY", "backend"),
        ("INPUT_FAIL-ON", "regression"),
    ];
    let frontend = [
        ("INPUT_COMMENT-KEY", "frontend"),
        ("INPUT_FAIL-ON", "regression"),
    ];
    w.reports(&[("b_ok", true, 0.1), ("b_broken", false, 0.1)]);
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 1), &backend);
    assert!(text(&o).contains("added to branch"), "{}", text(&o));
    w.reports(&[("f_ok", true, 0.1), ("f_broken", false, 0.1)]);
    let o = action(&fake, &w, &push_event(), &format!("{:040x}", 2), &frontend);
    assert!(text(&o).contains("added to branch"), "{}", text(&o));
    let sha = format!("{:040x}", 2);
    assert_eq!(
        outputs(&w, &sha)["badge-url"],
        format!("https://raw.githubusercontent.com/octo/app/{BRANCH}/keys/frontend/badge.svg")
    );

    // Each key's history holds its own runs; there is no shared one.
    let doc = |key: &str| {
        let gz = fake
            .file(BRANCH, &format!("keys/{key}/{}", history::FILE))
            .unwrap_or_else(|| panic!("no history of `{key}`"));
        history::parse(&history::gunzip(&gz).unwrap())
            .unwrap()
            .into_owned()
    };
    let (b, f) = (doc("backend"), doc("frontend"));
    assert_eq!((b.runs.len(), f.runs.len()), (1, 1));
    assert!(b.tests.iter().all(|t| t.0.contains("b_")), "{:?}", b.tests);
    assert!(f.tests.iter().all(|t| t.0.contains("f_")), "{:?}", f.tests);
    assert!(fake.file(BRANCH, history::FILE).is_none());
    let svg = fake.file(BRANCH, "keys/backend/badge.svg").unwrap();
    assert!(String::from_utf8_lossy(&svg).contains("failing"));
    assert!(fake.file(BRANCH, "keys/frontend/badge.png").is_some());

    // A backend PR with backend's known failure: already failing on main, so the regression
    // gate passes (against frontend's run it would have been new).
    w.reports(&[("b_ok", true, 0.1), ("b_broken", false, 0.1)]);
    let o = action(
        &fake,
        &w,
        &pr_event(false),
        "prsha-b",
        &[backend[0], backend[1], ("INPUT_FAIL-ON-GATE", "true")],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("already failing"), "{t}");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

/// `codeloop history` over local run directories: the same flaky and slower analysis.
#[test]
fn local_history_shows_flaky_and_slower_tests() {
    let w = Ws::new();
    let ws = w.ws();
    let run = |tests: &[T]| {
        w.reports(tests);
        let o = Command::new(bin())
            .args(["verify", "--report", "reports/app.xml"])
            .current_dir(&ws)
            .env_remove("GITHUB_ACTIONS")
            .output()
            .unwrap();
        assert!(o.status.code().is_some(), "{}", text(&o));
        // Run ids sort by time: keep them apart.
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    for i in 0..5 {
        run(&[("steady", true, 1.0), ("wobbly", i % 2 == 0, 0.1)]);
    }
    run(&[("steady", true, 4.0), ("wobbly", true, 0.1)]);
    let o = Command::new(bin())
        .args(["history"])
        .current_dir(&ws)
        .output()
        .unwrap();
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(t.contains("flaky across the last 6 runs: 1"), "{t}");
    assert!(t.contains("tests.app::wobbly"), "{t}");
    assert!(
        t.contains("slower in ") && t.contains("than their median: 1"),
        "{t}"
    );
    assert!(t.contains("tests.app::steady"), "{t}");
    let o = Command::new(bin())
        .args(["history", "--format", "json", "--export", "local.json.gz"])
        .current_dir(&ws)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", text(&o)));
    assert_eq!(v["analysis"]["flaky"][0]["flips"], 4);
    assert_eq!(
        v["analysis"]["slower"][0]["ratio"]
            .as_f64()
            .map(|r| r > 3.0),
        Some(true)
    );
    let gz = std::fs::read(ws.join("local.json.gz")).unwrap();
    let json = history::gunzip(&gz).unwrap();
    assert_eq!(history::parse(&json).unwrap().runs.len(), 6);
}

/// The data branch file written by the action is what the published JSON Schema describes.
#[test]
fn the_history_file_matches_its_schema() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas/history.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let fake = FakeGitHub::start();
    let w = Ws::new();
    for i in 0..3 {
        w.reports(&main_run(i));
        action(&fake, &w, &push_event(), &format!("{:040x}", i + 1), &[]);
    }
    let gz = fake.file(BRANCH, history::FILE).unwrap();
    let v: Value = serde_json::from_slice(&history::gunzip(&gz).unwrap()).unwrap();
    if let Err(e) = jsonschema::validate(&schema, &v) {
        panic!("{e}: {v}");
    }
    let mut bad = v.clone();
    assert_eq!(v["schema_version"], history::SCHEMA_VERSION);
    bad["statuses"] = json!("X3");
    assert!(jsonschema::validate(&schema, &bad).is_err());
    // Version 1 files (rows in `tests`) are still read, and described.
    let v1 = json!({"schema_version": 1, "branch": "main", "max_runs": 50,
        "runs": [{"run_id": "r"}], "tests": [["t::a", "P", "A"]]});
    if let Err(e) = jsonschema::validate(&schema, &v1) {
        panic!("{e}: {v1}");
    }
}

/// A fake GitLab repository API: files (GET with `last_commit_id`), branches, commits with
/// `actions` (create/update, base64, `last_commit_id` checked like GitLab: a stale one is
/// 400), and raw files at `/{project}/-/raw/{branch}/{file}`.
mod gitlab_fake {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};
    use base64::Engine;
    use serde_json::{Value, json};

    pub const TOKEN: &str = "glpat-history-writer-0123456789";

    #[derive(Default)]
    pub struct State {
        /// branch → path → (bytes, last commit id)
        pub branches: HashMap<String, BTreeMap<String, (Vec<u8>, String)>>,
        pub commits: u64,
        /// Answer the next commit POST as if another writer had changed the history first.
        pub conflict_once: bool,
        pub log: Vec<String>,
    }

    pub struct Fake {
        pub state: Arc<Mutex<State>>,
        pub url: String,
    }

    pub fn start() -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let mut files = BTreeMap::new();
        files.insert(
            "README.md".to_string(),
            (b"# app\n".to_vec(), "c0".to_string()),
        );
        state.lock().unwrap().branches.insert("main".into(), files);
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                let app =
                    Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
                        let st = st.clone();
                        async move { handle(&st, m, u, h, b) }
                    });
                axum::serve(l, app).await.unwrap();
            });
        });
        let addr = rx.recv().unwrap();
        Fake {
            state,
            url: format!("http://{addr}"),
        }
    }

    fn msg(status: u16, m: &str) -> Response {
        (
            StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({ "message": m })),
        )
            .into_response()
    }

    fn decode(s: &str) -> String {
        let mut out = Vec::new();
        let b = s.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' && i + 2 < b.len() {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            } else {
                out.push(b[i]);
                i += 1;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    fn handle(st: &Mutex<State>, m: Method, u: Uri, h: HeaderMap, b: Bytes) -> Response {
        let mut s = st.lock().unwrap();
        let path = u.path().to_string();
        let q: HashMap<String, String> = u
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), decode(v))))
            .collect();
        s.log.push(format!("{m} {path}"));
        if let Some(rest) = path.strip_prefix("/group/app/-/raw/") {
            let (branch, file) = rest.split_once('/').unwrap_or((rest, ""));
            return match s.branches.get(branch).and_then(|f| f.get(file)) {
                Some((bytes, _)) => (StatusCode::OK, bytes.clone()).into_response(),
                None => msg(404, "404 Not Found"),
            };
        }
        if h.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
            return msg(401, "401 Unauthorized");
        }
        let Some(rest) = path.strip_prefix("/api/v4/projects/42/repository/") else {
            return msg(404, "404 Not Found");
        };
        let seg: Vec<&str> = rest.split('/').collect();
        match (m.as_str(), seg.as_slice()) {
            ("GET", ["files", file]) => {
                let file = decode(file);
                let r = q.get("ref").cloned().unwrap_or_default();
                match s.branches.get(&r).and_then(|f| f.get(&file)) {
                    Some((bytes, last)) => axum::Json(json!({
                        "file_name": file, "file_path": file, "size": bytes.len(),
                        "encoding": "base64",
                        "content": base64::engine::general_purpose::STANDARD.encode(bytes),
                        "content_sha256": "0", "ref": r, "blob_id": "b", "commit_id": last,
                        "last_commit_id": last, "execute_filemode": false
                    }))
                    .into_response(),
                    None => msg(404, "404 File Not Found"),
                }
            }
            ("GET", ["branches", name]) => match s.branches.get(&decode(name)) {
                Some(_) => axum::Json(json!({"name": decode(name), "merged": false,
                    "protected": false, "default": false}))
                .into_response(),
                None => msg(404, "404 Branch Not Found"),
            },
            ("POST", ["commits"]) => {
                let body: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                let branch = body["branch"].as_str().unwrap_or_default().to_string();
                if body["commit_message"].as_str().is_none_or(str::is_empty) {
                    return msg(400, "commit_message is missing");
                }
                let mut files = match (s.branches.get(&branch), body["start_branch"].as_str()) {
                    (Some(f), _) => f.clone(),
                    (None, Some(start)) => match s.branches.get(start) {
                        Some(f) => f.clone(),
                        None => return msg(400, "Invalid start branch"),
                    },
                    (None, None) => {
                        return msg(
                            400,
                            "You can only create or edit files when you are on a branch",
                        );
                    }
                };
                if std::mem::take(&mut s.conflict_once) {
                    // Another writer committed first: the history moved under us.
                    if let Some(f) = s.branches.get_mut(&branch)
                        && let Some(e) = f.get_mut("history.json.gz")
                    {
                        e.1 = "someone-else".into();
                    }
                    return msg(
                        400,
                        "You are attempting to update a file that has changed since you started editing it.",
                    );
                }
                s.commits += 1;
                let id = format!("{:040x}", 0xc0de_0000 + s.commits);
                for a in body["actions"].as_array().into_iter().flatten() {
                    let p = a["file_path"].as_str().unwrap_or_default().to_string();
                    let content = a["content"].as_str().unwrap_or_default();
                    let bytes = if a["encoding"] == "base64" {
                        match base64::engine::general_purpose::STANDARD.decode(content) {
                            Ok(x) => x,
                            Err(_) => return msg(400, "invalid base64"),
                        }
                    } else {
                        content.as_bytes().to_vec()
                    };
                    match (a["action"].as_str(), files.get(&p)) {
                        (Some("create"), Some(_)) => {
                            return msg(400, "A file with this name already exists");
                        }
                        (Some("update"), None) => {
                            return msg(400, "A file with this name doesn't exist");
                        }
                        (Some("update"), Some((_, last))) => {
                            if let Some(want) = a["last_commit_id"].as_str()
                                && want != last
                            {
                                return msg(
                                    400,
                                    "You are attempting to update a file that has changed since you started editing it.",
                                );
                            }
                        }
                        (Some("create"), None) => {}
                        _ => return msg(400, "action is invalid"),
                    }
                    files.insert(p, (bytes, id.clone()));
                }
                s.branches.insert(branch, files);
                (
                    StatusCode::CREATED,
                    axum::Json(json!({"id": id, "short_id": &id[..8],
                    "title": body["commit_message"], "message": body["commit_message"]})),
                )
                    .into_response()
            }
            _ => msg(404, "404 Not Found"),
        }
    }
}

#[test]
fn gitlab_pushes_write_the_history_and_merge_requests_read_it() {
    let fake = gitlab_fake::start();
    let w = Ws::new();
    let run = |args: &[&str], mr: bool, sha: &str| -> Output {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(w.ws())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITLAB_CI", "true")
            .env("CI", "true")
            .env("CI_API_V4_URL", format!("{}/api/v4", fake.url))
            .env("CI_SERVER_URL", &fake.url)
            .env("CI_PROJECT_ID", "42")
            .env("CI_PROJECT_PATH", "group/app")
            .env("CI_DEFAULT_BRANCH", "main")
            .env("CI_COMMIT_SHA", sha)
            .env("CODELOOP_GITLAB_TOKEN", gitlab_fake::TOKEN)
            .env("CODELOOP_RETRY_BASE_MS", "10");
        if mr {
            c.env("CI_PIPELINE_SOURCE", "merge_request_event")
                .env("CI_MERGE_REQUEST_IID", "7")
                .env("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main");
        } else {
            c.env("CI_PIPELINE_SOURCE", "push")
                .env("CI_COMMIT_BRANCH", "main");
        }
        c.output().unwrap()
    };
    for i in 0..4 {
        w.reports(&main_run(i));
        let sha = format!("{:040x}", i + 1);
        run(&["ci", "--report", "reports/app.xml"], false, &sha);
        if i == 2 {
            fake.state.lock().unwrap().conflict_once = true;
        }
        let o = run(&["publish"], false, &sha);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o));
        let t = text(&o);
        assert!(t.contains("added to branch `codeloop-data`"), "{t}");
        if i == 2 {
            assert!(t.contains("after 2 attempts"), "{t}");
        }
    }
    let (gz, readme) = {
        let s = fake.state.lock().unwrap();
        let f = &s.branches["codeloop-data"];
        (f["history.json.gz"].0.clone(), f.contains_key("README.md"))
    };
    // Started from the default branch (GitLab has no orphan branches through the API).
    assert!(readme);
    let json = history::gunzip(&gz).unwrap();
    let doc = history::parse(&json).unwrap();
    assert_eq!(doc.runs.len(), 4);
    assert_eq!(statuses(&doc, "::flaky"), "FPFP");

    // A keyed job (`--comment-key api`) writes its own history under keys/api/, and
    // `history --fetch --comment-key api` reads that one.
    w.reports(&[("api_only", true, 0.05)]);
    let sha = format!("{:040x}", 9);
    run(&["ci", "--report", "reports/app.xml"], false, &sha);
    let o = run(&["publish", "--comment-key", "api"], false, &sha);
    assert!(text(&o).contains("added to branch"), "{}", text(&o));
    let keyed = {
        let s = fake.state.lock().unwrap();
        s.branches["codeloop-data"]
            .get("keys/api/history.json.gz")
            .map(|f| f.0.clone())
    };
    let keyed =
        history::parse(&history::gunzip(&keyed.expect("keys/api/history.json.gz")).unwrap())
            .unwrap()
            .into_owned();
    assert_eq!(keyed.runs.len(), 1);
    assert_eq!(statuses(&keyed, "::api_only"), "P");
    let o = run(
        &["history", "--fetch", "api.json.gz", "--comment-key", "api"],
        true,
        "mr0",
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let fetched = std::fs::read(w.ws().join("api.json.gz")).unwrap();
    let fetched = history::parse(&history::gunzip(&fetched).unwrap())
        .unwrap()
        .into_owned();
    assert_eq!(fetched.runs, keyed.runs);

    // The merge request: fetch, gate with it, and the report has the section.
    w.reports(&[
        ("stable", true, 0.05),
        ("broken", true, 0.05),
        ("flaky", false, 0.05),
        ("slow", true, 3.5),
        ("fresh", false, 0.05),
    ]);
    let o = run(&["history", "--fetch", "base.json.gz"], true, "mr1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(w.ws().join("base.json.gz").is_file(), "{}", text(&o));
    let o = run(
        &[
            "ci",
            "--report",
            "reports/app.xml",
            "--history",
            "base.json.gz",
            "--fail-on",
            "regression",
        ],
        true,
        "mr1",
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let runs = codeloop::artifact::list_runs(&w.ws().join(".codeloop"));
    let newest = runs.last().unwrap();
    let comment = std::fs::read_to_string(newest.path.join("report/comment.md")).unwrap();
    assert!(comment.contains("**New in this PR** (2)"), "{comment}");
    assert!(comment.contains("**Flaky on `main`** (1)"), "{comment}");
    assert!(comment.contains("**Slower than usual** (1)"), "{comment}");
    // The MR pipeline wrote nothing to the repository.
    let commits = fake.state.lock().unwrap().commits;
    let o = run(&["publish", "--comment", "off"], true, "mr1");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(fake.state.lock().unwrap().commits, commits);
    // The badge URL of GitLab's raw files serves the badge written.
    let url = format!("{}/group/app/-/raw/codeloop-data/badge.svg", fake.url);
    let (status, body) = http_get(&url);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).starts_with("<svg"));
}
