//! Issue 15 through the binary, the way the runner starts the container (INPUT_*, GITHUB_*,
//! an event JSON, a workspace with collected reports) against the fake GitHub: comment keys,
//! the regression gate from the previous comment, head-sha links, the publishing budget and
//! dry runs, workflow-command messages, identity and the single listing, the CLI recipe's
//! annotations, and the matrix fan-in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::bin;
use crate::fake_github::{BOT, FakeGitHub, PAT_LOGIN, PAT_TOKEN, TOKEN};

const MARK: &str = "<!-- codeloop-verify:v1";
const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const MERGE_SHA: &str = "ffffffffffffffffffffffffffffffffffffffff";

struct Ws {
    _dir: tempfile::TempDir,
    root: PathBuf,
    ws: PathBuf,
    event: PathBuf,
    output: PathBuf,
    summary: PathBuf,
    /// Workflow runs so far: each [`action`] call is a new push, so a new run id.
    pushes: std::cell::Cell<u32>,
}

fn workspace() -> Ws {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let ws = root.join("workspace");
    std::fs::create_dir_all(ws.join("reports")).unwrap();
    let event = root.join("event.json");
    std::fs::write(
        &event,
        json!({
            "action": "synchronize", "number": 1,
            "pull_request": {"number": 1,
                "head": {"sha": HEAD_SHA, "ref": "feature", "repo": {"full_name": "octo/app"}},
                "base": {"sha": "base0", "ref": "main", "repo": {"full_name": "octo/app"}}},
            "repository": {"full_name": "octo/app"}
        })
        .to_string(),
    )
    .unwrap();
    let output = root.join("github_output");
    let summary = root.join("step_summary.md");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    Ws {
        _dir: dir,
        root,
        ws,
        event,
        output,
        summary,
        pushes: std::cell::Cell::new(0),
    }
}

/// A JUnit report: `(name, failing)` test cases in `tests/test_app.py`.
fn junit(cases: &[(&str, bool)]) -> String {
    let mut s = String::from("<?xml version=\"1.0\"?>\n<testsuites><testsuite name=\"pytest\">\n");
    for (i, (name, failing)) in cases.iter().enumerate() {
        if *failing {
            s.push_str(&format!(
                "<testcase classname=\"tests.test_app\" name=\"{name}\" time=\"0.01\"><failure message=\"assert 1 == 2\">def {name}():\n&gt;       assert 1 == 2\nE       assert 1 == 2\n\ntests/test_app.py:{}: AssertionError</failure></testcase>\n",
                i * 10 + 3
            ));
        } else {
            s.push_str(&format!(
                "<testcase classname=\"tests.test_app\" name=\"{name}\" time=\"0.01\"/>\n"
            ));
        }
    }
    s.push_str("</testsuite></testsuites>\n");
    s
}

fn write_report(ws: &Ws, name: &str, cases: &[(&str, bool)]) {
    std::fs::write(ws.ws.join("reports").join(name), junit(cases)).unwrap();
}

/// The env a Docker action gets (unset inputs as ""), collecting `reports/*.xml`.
fn action_env(api: &str, w: &Ws) -> BTreeMap<String, String> {
    let mut e = BTreeMap::new();
    for input in [
        "RUNNERS",
        "WORKING-DIRECTORY",
        "CONFIG",
        "MIN-SCORE",
        "FAIL-ON",
        "CHECK-RUN",
        "ARTIFACTS-DIR",
        "DRY-RUN",
        "COMMENT-KEY",
        "COMMENT-AUTHOR",
        "FROM",
        "MERGE",
    ] {
        e.insert(format!("INPUT_{input}"), String::new());
    }
    let s = |v: &str| v.to_string();
    for (k, v) in [
        ("INPUT_GITHUB-TOKEN", s(TOKEN)),
        ("INPUT_REPORTS", s("reports/*.xml")),
        ("INPUT_COMMENT", s("always")),
        ("INPUT_FAIL-ON-GATE", s("true")),
        ("GITHUB_ACTIONS", s("true")),
        ("CI", s("true")),
        ("GITHUB_REPOSITORY", s("octo/app")),
        ("GITHUB_API_URL", s(api)),
        ("GITHUB_SERVER_URL", s("https://github.com")),
        ("GITHUB_SHA", s(MERGE_SHA)),
        ("GITHUB_REF", s("refs/pull/1/merge")),
        ("GITHUB_EVENT_NAME", s("pull_request")),
        ("GITHUB_EVENT_PATH", w.event.to_string_lossy().into_owned()),
        ("GITHUB_WORKSPACE", w.ws.to_string_lossy().into_owned()),
        ("GITHUB_OUTPUT", w.output.to_string_lossy().into_owned()),
        (
            "GITHUB_STEP_SUMMARY",
            w.summary.to_string_lossy().into_owned(),
        ),
        ("GITHUB_RUN_ID", s("4242")),
        ("CODELOOP_RETRY_BASE_MS", s("10")),
        ("PATH", std::env::var("PATH").unwrap_or_default()),
    ] {
        e.insert(k.into(), v);
    }
    e
}

fn run(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .unwrap()
}

/// The action in a new workflow run (a push): its own `GITHUB_RUN_ID` (4242, 4243, ...).
/// Runs of one workflow run share their comment only by mistake (see `sharing`).
fn action(api: &str, w: &Ws, extra: &[(&str, &str)]) -> Output {
    std::fs::write(&w.output, "").unwrap();
    let mut env = action_env(api, w);
    env.insert(
        "GITHUB_RUN_ID".into(),
        (4242 + w.pushes.replace(w.pushes.get() + 1)).to_string(),
    );
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    run(&env, &["action"])
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// GITHUB_OUTPUT's heredoc format.
fn outputs(path: &Path) -> BTreeMap<String, String> {
    let t = std::fs::read_to_string(path).unwrap();
    let mut m = BTreeMap::new();
    let mut lines = t.lines();
    while let Some(l) = lines.next() {
        let (name, delim) = l.split_once("<<").expect("heredoc line");
        let mut v = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            v.push(l);
        }
        m.insert(name.to_string(), v.join("\n"));
    }
    m
}

fn comment_listings(fake: &FakeGitHub) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/comments"))
        .count()
}

/// A test name as the comment shows it (Markdown-escaped `_`).
fn md(name: &str) -> String {
    name.replace('_', "&#95;")
}

fn assert_clean(fake: &FakeGitHub) {
    assert_eq!(fake.violations(), Vec::<String>::new());
}

/// Item 1: two keys, two comments, each with its own state; the unkeyed comment of an older
/// codeloop is the default key's and is left alone by keyed runs.
#[test]
fn comment_keys_keep_one_comment_each_with_its_own_baseline() {
    let fake = FakeGitHub::start();
    let w = workspace();
    let old = fake.seed(
        BOT,
        &format!("{MARK} run=old -->\n## codeloop: old default comment\n"),
    );
    write_report(&w, "r.xml", &[("test_api", true), ("test_db", false)]);
    let o = action(&fake.url(), &w, &[("INPUT_COMMENT-KEY", "backend")]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    write_report(&w, "r.xml", &[("test_ui", false), ("test_css", false)]);
    let o = action(&fake.url(), &w, &[("INPUT_COMMENT-KEY", "frontend")]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));

    let ours = fake.ours();
    assert_eq!(ours.len(), 3, "{ours:#?}");
    let by_key = |k: &str| {
        ours.iter()
            .find(|c| c.body.starts_with(&format!("{MARK} key={k} ")))
            .unwrap_or_else(|| panic!("no `{k}` comment in {ours:#?}"))
            .clone()
    };
    let backend = by_key("backend");
    let frontend = by_key("frontend");
    assert!(backend.body.contains(&md("test_api")), "{}", backend.body);
    // The frontend comment is the first of its key: no deltas invented from backend's.
    assert!(
        !frontend.body.contains("Since the last run"),
        "{}",
        frontend.body
    );
    assert!(
        !frontend.body.contains(&md("test_api")),
        "{}",
        frontend.body
    );
    // The old unkeyed comment is untouched by keyed runs.
    let old_now = fake.comments().into_iter().find(|c| c.id == old).unwrap();
    assert!(old_now.body.contains("old default comment"));

    // backend again, with test_api fixed: its own comment is updated, with deltas against
    // its own previous state.
    write_report(&w, "r.xml", &[("test_api", false), ("test_db", false)]);
    let o = action(&fake.url(), &w, &[("INPUT_COMMENT-KEY", "backend")]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let now = fake.comments();
    let b2 = now.iter().find(|c| c.id == backend.id).unwrap();
    assert!(b2.body.contains("Fixed (1)"), "{}", b2.body);
    assert_eq!(
        now.iter().find(|c| c.id == frontend.id).unwrap().body,
        frontend.body
    );
    assert_eq!(outputs(&w.output)["comment-id"], backend.id.to_string());

    // No key: the old default comment is the one updated (backward compatible).
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(outputs(&w.output)["comment-id"], old.to_string());
    assert_eq!(fake.ours().len(), 3);

    // A matrix value with spaces and brackets is a key as it is, made safe (and said so).
    let o = action(
        &fake.url(),
        &w,
        &[("INPUT_COMMENT-KEY", "Linux (py3.12) -->")],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let (out, err) = text(&o);
    assert!(
        format!("{out}{err}")
            .contains("comment key `Linux (py3.12) -->` is used as `Linux-py3.12---`"),
        "{out}{err}"
    );
    assert!(
        fake.ours().iter().any(|c| c
            .body
            .starts_with(&format!("{MARK} key=Linux-py3.12--- ci="))),
        "{:#?}",
        fake.ours()
    );
    // Each keyed comment says whose it is where the reader looks first.
    assert!(
        fake.ours()
            .iter()
            .any(|c| c.body.contains("codeloop · <code>Linux-py3.12---</code>: ")),
        "{:#?}",
        fake.ours()
    );
    // A key with nothing usable names the input and what is accepted.
    let o = action(&fake.url(), &w, &[("INPUT_COMMENT-KEY", "éé")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("comment-key"), "{}", text(&o).1);
    assert_clean(&fake);
}

/// Item 3: `fail-on: regression` takes the previous comment of the same key as baseline.
#[test]
fn fail_on_regression_gates_against_the_previous_comment() {
    let fake = FakeGitHub::start();
    let w = workspace();
    let reg = [("INPUT_FAIL-ON", "regression")];
    write_report(&w, "r.xml", &[("test_old", true), ("test_ok", false)]);
    // First run: no comment yet, every failure counts.
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    // Same failures as last run: the gate passes.
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("no new failure"), "{out}");
    assert!(!out.contains("no baseline"), "{out}");
    // One new failure: the gate fails naming it (and only it).
    write_report(
        &w,
        "r.xml",
        &[("test_old", true), ("test_ok", false), ("test_new", true)],
    );
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let reasons: Vec<&str> = out.lines().filter(|l| l.starts_with("  - ")).collect();
    assert!(
        reasons
            .iter()
            .any(|l| l.contains("test_new") && l.contains("new failure")),
        "{out}"
    );
    assert!(!reasons.iter().any(|l| l.contains("test_old")), "{out}");
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

/// Re-running a failing job (attempt 2, the same commit) must not turn `fail-on: regression`
/// green: the comment it finds is its own commit's, so its failures are not "already
/// failing". The next push (another commit) with the same failures passes, as before.
#[test]
fn a_re_run_of_a_failing_job_does_not_pass_fail_on_regression() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_broken", true), ("test_ok", false)]);
    let wf = (
        "GITHUB_WORKFLOW_REF",
        "octo/app/.github/workflows/ci.yml@refs/pull/1/merge",
    );
    let push_a = [
        ("INPUT_FAIL-ON", "regression"),
        wf,
        ("GITHUB_SHA", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
        ("GITHUB_RUN_ID", "500"),
    ];
    let o = action(&fake.url(), &w, &push_a);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let mut rerun = push_a.to_vec();
    rerun.push(("GITHUB_RUN_ATTEMPT", "2"));
    let o = action(&fake.url(), &w, &rerun);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        err.contains("is no baseline for this run: it was written for this same commit"),
        "{err}"
    );
    assert!(!out.contains("already failing"), "{out}");
    let push_b = [
        ("INPUT_FAIL-ON", "regression"),
        wf,
        ("GITHUB_SHA", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"),
        ("GITHUB_RUN_ID", "501"),
    ];
    let o = action(&fake.url(), &w, &push_b);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("no new failure"), "{out}");
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

/// A failing test deleted by the next push is gone, not fixed: the comment does not
/// celebrate it, while a test that now passes is fixed.
#[test]
fn a_deleted_failing_test_is_not_fixed() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(
        &w,
        "r.xml",
        &[
            ("test_gone", true),
            ("test_mended", true),
            ("test_ok", false),
        ],
    );
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    write_report(&w, "r.xml", &[("test_mended", false), ("test_ok", false)]);
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    let body = fake.ours()[0].body.clone();
    let fixed = body
        .lines()
        .find(|l| l.contains("Fixed"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(fixed.contains("Fixed (1)"), "{fixed}");
    assert!(fixed.contains("mended"), "{fixed}");
    assert!(!fixed.contains("gone"), "{fixed}");
    assert_clean(&fake);
}

/// Item 4: links in the comment and the summary use the PR head, not GITHUB_SHA.
#[test]
fn comment_and_summary_link_the_pr_head_commit() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_link", true)]);
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let body = fake.ours()[0].body.clone();
    assert!(
        body.contains(&format!("/octo/app/blob/{HEAD_SHA}/tests/test_app.py#L3")),
        "{body}"
    );
    assert!(
        !body.contains(MERGE_SHA) && !body.contains("fffffff"),
        "{body}"
    );
    let summary = std::fs::read_to_string(&w.summary).unwrap();
    assert!(summary.contains(&HEAD_SHA[..7]), "{summary}");
    assert!(!summary.contains("fffffff"), "{summary}");
}

/// A port that accepts connections and never answers.
fn black_hole() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    format!("http://{addr}")
}

/// Item 6: an API that accepts and never answers costs at most the publishing budget (20 s,
/// the default) for everything together; the verdict is still delivered.
#[test]
fn a_black_hole_api_costs_at_most_the_publishing_budget() {
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", false)]);
    let api = black_hole();
    let start = Instant::now();
    let o = action(&api, &w, &[("INPUT_CHECK-RUN", "true")]);
    let took = start.elapsed();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("codeloop: gate PASS"), "{out}");
    assert!(err.contains("no answer within"), "{err}");
    // 20 s for publishing, plus the stages (a few seconds on a busy 2-core machine).
    assert!(took < Duration::from_secs(28), "took {took:?}\n{err}");
    assert_eq!(outputs(&w.output)["verdict"], "pass");
}

/// An optional read that hangs (the base branch's history, read for trends) gets only its
/// share of the publishing budget: it is cut where the share kept for the writes starts, one
/// warning names it and why, and the sticky comment and the check run are still posted (they
/// used to be "not tried: the publishing time budget is spent").
#[test]
fn a_hanging_optional_read_leaves_the_comment_its_share_of_the_budget() {
    let fake = FakeGitHub::start();
    fake.state
        .lock()
        .unwrap()
        .hangs
        .push(("GET", "/contents/".into()));
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true), ("test_b", false)]);
    let start = Instant::now();
    let o = action(
        &fake.url(),
        &w,
        &[
            ("INPUT_CHECK-RUN", "true"),
            ("CODELOOP_PUBLISH_BUDGET_SECS", "5"),
        ],
    );
    let took = start.elapsed();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.path.contains("/contents/history.json.gz")),
        "the history was asked for"
    );
    assert_eq!(fake.ours().len(), 1, "the comment is posted\n{err}");
    assert_eq!(fake.state.lock().unwrap().check_runs.len(), 1, "{err}");
    assert_eq!(
        outputs(&w.output)["comment-id"],
        fake.ours()[0].id.to_string()
    );
    // One warning, naming what was cut and why; nothing else failed.
    assert_eq!(err.matches("::warning").count(), 1, "{err}");
    assert!(
        err.contains("::warning title=codeloop::history: cannot read branch `codeloop-data` (no answer within ")
            && err.contains(
                " s, the share of the 5 s publishing budget an optional read may use; the rest is kept for posting the results); this run is compared with nothing"
            ),
        "{err}"
    );
    assert!(!err.contains("not tried"), "{err}");
    // The read had at most 2 s (40 % of 5 s): the stages plus that, not the whole budget.
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert_clean(&fake);
}

/// Item 6: nothing is sent before the run is on disk; dry-run and act send nothing at all.
#[test]
fn nothing_is_sent_before_the_run_is_written_and_dry_runs_send_nothing() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true)]);
    for extra in [("INPUT_DRY-RUN", "true"), ("ACT", "true")] {
        let o = action(&fake.url(), &w, &[extra]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
        assert!(out.contains("dry run (nothing is posted)"), "{out}");
        assert_eq!(
            fake.requests().len(),
            0,
            "{extra:?}: {:#?}",
            fake.requests()
        );
    }
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let first = fake.requests()[0].wall;
    let runs = w.ws.join(".codeloop/runs");
    let newest = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .max()
        .unwrap();
    let verified = std::fs::metadata(newest.join("verify.json"))
        .unwrap()
        .modified()
        .unwrap();
    assert!(
        first >= verified,
        "a request went out before verify.json was written"
    );
}

/// Item 7: under GitHub Actions our messages are workflow commands; elsewhere plain lines,
/// and no `::stop-commands::` fencing.
#[test]
fn messages_are_workflow_commands_only_under_github_actions() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true)]);
    let o = action(&fake.url(), &w, &[("INPUT_COMMENT", "sometimes, 50%")]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.starts_with("::error title=codeloop::input `comment` is \"sometimes, 50%25\""),
        "{err}"
    );
    assert!(err.contains("%0Ahint: fix the `with:` block"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A warning (the API refuses the token) as a ::warning command.
    let o = action(
        &fake.url(),
        &w,
        &[("INPUT_GITHUB-TOKEN", "ghs_bad_token_000")],
    );
    let err = text(&o).1;
    assert!(
        err.lines()
            .any(|l| l.starts_with("::warning title=codeloop::GitHub API:") && l.contains("401")),
        "{err}"
    );

    // Outside GitHub Actions: plain lines, no workflow commands, no fencing.
    let mut env = action_env(&fake.url(), &w);
    env.remove("GITHUB_ACTIONS");
    env.insert("INPUT_COMMENT".into(), "sometimes".into());
    let o = run(&env, &["action"]);
    let err = text(&o).1;
    assert!(err.starts_with("error: input `comment`"), "{err}");
    assert!(err.contains("\nhint: "), "{err}");
    env.insert("INPUT_COMMENT".into(), "always".into());
    env.insert("INPUT_DRY-RUN".into(), "true".into());
    let o = run(&env, &["action"]);
    let (out, err) = text(&o);
    assert!(
        !out.contains("::stop-commands::") && !err.contains("::"),
        "{out}\n{err}"
    );
    assert!(out.contains("dry run"), "{out}");
}

/// Item 8: a PAT is identified with GET /user; the bot's comment carrying our marker is not
/// its own and is never edited; the listing is read once per run; a 401 ends publishing.
#[test]
fn identity_from_get_user_one_listing_and_401_stops_at_once() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true)]);
    let bots = fake.seed(
        BOT,
        &format!("{MARK} run=x -->\n## by the workflow token\n"),
    );
    let o = action(&fake.url(), &w, &[("INPUT_GITHUB-TOKEN", PAT_TOKEN)]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let mine = fake.ours_by(PAT_LOGIN);
    assert_eq!(mine.len(), 1, "{:#?}", fake.comments());
    let bot_now = fake.comments().into_iter().find(|c| c.id == bots).unwrap();
    assert!(bot_now.body.contains("by the workflow token"));
    let user_gets = |f: &FakeGitHub| {
        f.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/user")
            .count()
    };
    assert_eq!(user_gets(&fake), 1);
    // One listing for the baseline, reused by the upsert (plus the re-list after create).
    let listings = comment_listings(&fake);
    assert_eq!(listings, 2, "{:#?}", fake.requests());
    // Second run: it updates its comment, with exactly one listing.
    let o = action(&fake.url(), &w, &[("INPUT_GITHUB-TOKEN", PAT_TOKEN)]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(
        comment_listings(&fake) - listings,
        1,
        "{:#?}",
        fake.requests()
    );
    assert_eq!(fake.ours_by(PAT_LOGIN).len(), 1);
    assert_eq!(fake.ours_by(PAT_LOGIN)[0].id, mine[0].id);

    // The workflow's installation token: GET /user is refused (403), github-actions[bot]
    // is who we are, and the bot's comment is the one updated.
    let o = action(&fake.url(), &w, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(outputs(&w.output)["comment-id"], bots.to_string());

    // A refused token: one request (who am I → 401), nothing else, the gate's exit code.
    let fake = FakeGitHub::start();
    let o = action(
        &fake.url(),
        &w,
        &[
            ("INPUT_GITHUB-TOKEN", "ghs_bad_token_000"),
            ("INPUT_CHECK-RUN", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(fake.requests().len(), 1, "{:#?}", fake.requests());
    assert_clean(&fake);
}

/// Item 9: the documented binary recipe (`codeloop ci` then `codeloop publish` in one job)
/// prints every annotation once.
#[test]
fn the_ci_then_publish_recipe_prints_each_annotation_once() {
    let fake = FakeGitHub::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true), ("test_b", true)]);
    let mut env = action_env(&fake.url(), &w);
    env.retain(|k, _| !k.starts_with("INPUT_"));
    env.insert("GITHUB_TOKEN".into(), TOKEN.into());
    let ws = w.ws.to_string_lossy().into_owned();
    let ci = run(&env, &["ci", "--cwd", &ws, "--report", "reports/r.xml"]);
    let publish = run(&env, &["publish", "--cwd", &ws]);
    assert_eq!(ci.status.code(), Some(1), "{:?}", text(&ci));
    assert_eq!(publish.status.code(), Some(0), "{:?}", text(&publish));
    let all = format!("{}{}", text(&ci).0, text(&publish).0);
    let anns: Vec<&str> = all
        .lines()
        .filter(|l| l.starts_with("::error file="))
        .collect();
    assert_eq!(anns.len(), 2, "{all}");
    assert_ne!(anns[0], anns[1]);
    assert_eq!(fake.ours().len(), 1);

    // A run uploaded from another workflow run (the fork recipe) gets its annotations here.
    env.insert("GITHUB_RUN_ID".into(), "9999".into());
    let publish = run(&env, &["publish", "--cwd", &ws]);
    let out = text(&publish).0;
    assert_eq!(
        out.lines()
            .filter(|l| l.starts_with("::error file="))
            .count(),
        2,
        "{out}"
    );
}

/// Makes a shard: collects `cases` with `codeloop verify` into its own artifacts dir and
/// copies the run directory to `shards/<name>` (what actions/download-artifact leaves).
fn shard(w: &Ws, name: &str, cases: &[(&str, bool)]) {
    let src = w.root.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join(format!("{name}.xml")), junit(cases)).unwrap();
    let art = w.root.join(format!("art-{name}"));
    let _ = std::fs::remove_dir_all(&art);
    let o = Command::new(bin())
        .args(["verify", "--cwd"])
        .arg(&src)
        .arg("--artifacts-dir")
        .arg(&art)
        .args(["--report", &format!("{name}.xml")])
        .env_remove("GITHUB_ACTIONS")
        .output()
        .unwrap();
    assert!(o.status.code().is_some(), "{:?}", text(&o));
    // The run directory itself, not the `latest` link to it.
    let run = std::fs::read_dir(art.join("runs"))
        .unwrap()
        .flatten()
        .find(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .unwrap()
        .path();
    let dest = w.ws.join("shards").join(name);
    let _ = std::fs::remove_dir_all(&dest);
    for e in walkdir::WalkDir::new(&run) {
        let e = e.unwrap();
        let to = dest.join(e.path().strip_prefix(&run).unwrap());
        if e.file_type().is_symlink() {
            continue;
        }
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

/// Item 10: `merge: 'shards/*'` considers only run directories, and the merged comment has
/// "since last run" deltas and a per-shard breakdown.
#[test]
fn matrix_fan_in_has_deltas_and_a_per_shard_breakdown() {
    let fake = FakeGitHub::start();
    let w = workspace();
    shard(&w, "linux", &[("test_l1", false), ("test_l2", false)]);
    shard(&w, "macos", &[("test_m1", true), ("test_m2", false)]);
    std::fs::remove_dir_all(w.ws.join("reports")).unwrap();
    let merge = [("INPUT_MERGE", "shards/*"), ("INPUT_REPORTS", "")];
    let o = action(&fake.url(), &w, &merge);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(!err.contains("no run directory"), "{err}");
    assert!(!err.contains("runners"), "{err}");
    let body = fake.ours()[0].body.clone();
    assert!(body.contains("Shards (2)"), "{body}");
    for s in [
        "linux",
        "macos",
        "2 tests: 2 passed, 0 failed",
        "2 tests: 1 passed, 1 failed",
    ] {
        assert!(body.contains(s), "{s}: {body}");
    }
    // Next push: macos fixed, linux broke. The merged comment says so against the last one.
    shard(&w, "linux", &[("test_l1", true), ("test_l2", false)]);
    shard(&w, "macos", &[("test_m1", false), ("test_m2", false)]);
    let o = action(&fake.url(), &w, &merge);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let body = fake.ours()[0].body.clone();
    assert!(body.contains("Since the last run"), "{body}");
    assert!(
        body.contains("New failures (1)") && body.contains(&md("test_l1")),
        "{body}"
    );
    assert!(
        body.contains("Fixed (1)") && body.contains(&md("test_m1")),
        "{body}"
    );
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

/// GitLab: `codeloop ci --baseline comment` reads the MR's previous note (the same hidden
/// state) for `fail-on regression`, and `--comment-key` keys the note.
#[test]
fn gitlab_regression_gate_reads_the_previous_note() {
    let gl = crate::gitlab::FakeGitLab::start();
    let w = workspace();
    write_report(&w, "r.xml", &[("test_old", true), ("test_ok", false)]);
    let ws = w.ws.to_string_lossy().into_owned();
    let mut env: BTreeMap<String, String> =
        gl.env(Some(crate::gitlab::BOT_TOKEN)).into_iter().collect();
    env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    let ci = |extra: &[&str]| {
        let mut args = vec![
            "ci",
            "--cwd",
            &ws,
            "--report",
            "reports/r.xml",
            "--fail-on",
            "regression",
            "--baseline",
            "comment",
            "--comment-key",
            "api",
        ];
        args.extend_from_slice(extra);
        run(&env, &args)
    };
    let publish = || run(&env, &["publish", "--cwd", &ws, "--comment-key", "api"]);
    let o = ci(&[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(publish().status.code(), Some(0));
    let o = ci(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "same failures → pass: {:?}",
        text(&o)
    );
    assert_eq!(publish().status.code(), Some(0));
    write_report(
        &w,
        "r.xml",
        &[("test_old", true), ("test_ok", false), ("test_new", true)],
    );
    let o = ci(&[]);
    let out = text(&o).0;
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("test_new"), "{out}");
    let notes = gl.ours();
    assert_eq!(notes.len(), 1, "{notes:#?}");
    assert!(
        notes[0].body.contains(&format!("{MARK} key=api ")),
        "{}",
        notes[0].body
    );
}

/// A matrix whose legs post without their own `comment-key` (one workflow run, one job id):
/// a passing leg never replaces a failing leg's comment, a failing leg's comment says it is
/// shared and names the fix, and another leg's comment is no baseline (with `fail-on:
/// regression` the same failure in another leg would otherwise pass as "already failing").
#[test]
fn matrix_legs_without_keys_share_no_baseline_and_a_pass_never_hides_a_failure() {
    let fake = FakeGitHub::start();
    let w = workspace();
    let leg = |cases: &[(&str, bool)], run: &str| {
        write_report(&w, "r.xml", cases);
        std::fs::write(&w.output, "").unwrap();
        let mut env = action_env(&fake.url(), &w);
        for (k, v) in [
            ("GITHUB_RUN_ID", run),
            ("GITHUB_JOB", "test"),
            ("INPUT_FAIL-ON", "regression"),
        ] {
            env.insert(k.into(), v.into());
        }
        let o = run_env_action(&env);
        let json: serde_json::Value = serde_json::from_str(&outputs(&w.output)["json"]).unwrap();
        (o, json)
    };
    // Leg 1 fails and posts.
    let (o, json) = leg(&[("test_a", true), ("test_b", false)], "900");
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(json["comment"], "created");
    let first = fake.ours()[0].clone();
    assert!(
        first
            .body
            .starts_with(&format!("{MARK} ci=github/900.1/test run=")),
        "{}",
        first.body
    );
    assert!(!first.body.contains("[!WARNING]"), "{}", first.body);

    // Leg 2 passes: leg 1's failing comment stays, and the log says why.
    let (o, json) = leg(&[("test_a", false), ("test_b", false)], "900");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(json["comment"], "kept");
    assert_eq!(json["comment_id"], first.id);
    // Kept as leg 1 wrote it, plus the notice that it is shared (4 lines under the heading).
    let kept = fake.ours()[0].body.clone();
    assert_eq!(
        kept.lines().count(),
        first.body.lines().count() + 4,
        "{kept}"
    );
    assert!(
        first.body.lines().all(|l| kept.lines().any(|k| k == l)),
        "{kept}"
    );
    assert!(
        kept.contains("<!-- codeloop:shared -->\n> [!WARNING]\n> Another leg of the matrix job <code>test</code>"),
        "{kept}"
    );
    let log = format!("{out}{err}");
    // Two warnings: the comment is shared (no baseline), and it was left as leg 1 wrote it.
    assert!(
        log.contains("::warning title=codeloop::the PR comment is shared: another leg of the matrix job `test`")
            && log.contains("comment-key: ${{ matrix.os }}"),
        "{log}"
    );
    assert!(
        log.contains("::warning title=codeloop::the PR comment is left as that job wrote it: that job failed and this one passed"),
        "{log}"
    );

    // Leg 3 fails the same test: leg 1's comment is not its baseline, so the failure is not
    // "already failing" and the regression gate fails; the comment it posts says it is shared.
    let (o, json) = leg(&[("test_a", true), ("test_b", false)], "900");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(!out.contains("already failing"), "{out}");
    assert_eq!(json["comment"], "updated");
    let body = fake.ours()[0].body.clone();
    assert!(
        body.contains("> Another leg of the matrix job <code>test</code> in this workflow run writes this comment too"),
        "{body}"
    );
    assert!(!body.contains("Since the last run"), "{body}");
    let heading = body.lines().position(|l| l.starts_with("## ")).unwrap();
    let notice = body.lines().position(|l| l == "> [!WARNING]").unwrap();
    assert_eq!(notice, heading + 3, "{body}");
    assert_eq!(
        body.lines().nth(heading + 2),
        Some("<!-- codeloop:shared -->")
    );

    // The next push (a new workflow run): the comment is this job's baseline again, and not
    // shared.
    let (o, json) = leg(&[("test_a", true), ("test_b", false)], "901");
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("no new failure"), "{out}");
    assert_eq!(json["comment"], "updated");
    assert!(!fake.ours()[0].body.contains("[!WARNING]"));
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

/// A monorepo's two workflows (`backend.yml` and `frontend.yml`, each with its `paths:`
/// filter) started by one push, both with the three-line setup: two workflow runs, one
/// comment. A passing workflow keeps the other's failure of the same commit, with the notice
/// naming that workflow; a failure of an older push is stale and replaced (with the notice).
#[test]
fn two_workflows_without_keys_share_the_comment_and_say_so() {
    let fake = FakeGitHub::start();
    let w = workspace();
    let (first_push, second_push) = ("1".repeat(40), "2".repeat(40));
    let job = |workflow: &str, run: &str, sha: &str, cases: &[(&str, bool)]| {
        write_report(&w, "r.xml", cases);
        std::fs::write(&w.output, "").unwrap();
        let mut env = action_env(&fake.url(), &w);
        for (k, v) in [
            ("GITHUB_RUN_ID", run.to_string()),
            ("GITHUB_JOB", "test".to_string()),
            ("GITHUB_SHA", sha.to_string()),
            (
                "GITHUB_WORKFLOW_REF",
                format!("octo/app/.github/workflows/{workflow}@refs/pull/1/merge"),
            ),
        ] {
            env.insert(k.into(), v);
        }
        let o = run_env_action(&env);
        let json: serde_json::Value = serde_json::from_str(&outputs(&w.output)["json"]).unwrap();
        (o, json)
    };
    let (o, json) = job("backend.yml", "500", &first_push, &[("test_api", true)]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(json["comment"], "created");
    let first = fake.ours()[0].clone();
    assert!(
        first.body.starts_with(&format!(
            "{MARK} ci=github/500.1/test/.github%2Fworkflows%2Fbackend.yml/111111111111 run="
        )),
        "{}",
        first.body
    );

    // frontend.yml passes on the same commit: backend's failure stays on the PR.
    let (o, json) = job("frontend.yml", "501", &first_push, &[("test_ui", false)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(json["comment"], "kept");
    let kept = fake.ours()[0].body.clone();
    assert!(kept.contains("test&#95;api"), "{kept}");
    assert!(
        kept.contains("> Job <code>test</code> of workflow <code>frontend.yml</code> writes this comment too, so each replaces the other's results: it shows workflow <code>backend.yml</code>'s only."),
        "{kept}"
    );
    assert!(
        format!("{out}{err}").contains(
            "the PR comment is shared: job `test` of workflow `backend.yml` writes it too"
        ),
        "{out}{err}"
    );

    // The next push touches the frontend only: backend's failure is an older commit's, so
    // the comment shows this run, still saying it is shared.
    let (o, json) = job("frontend.yml", "502", &second_push, &[("test_ui", false)]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(json["comment"], "updated");
    let body = fake.ours()[0].body.clone();
    assert!(!body.contains("test&#95;api"), "{body}");
    assert!(
        body.contains(
            "> Job <code>test</code> of workflow <code>backend.yml</code> writes this comment too"
        ),
        "{body}"
    );
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

fn run_env_action(env: &BTreeMap<String, String>) -> Output {
    run(env, &["action"])
}

/// GitLab: two jobs of one pipeline publishing one MR note (no `--comment-key`) each say so in
/// it; a retried job (same name) does not.
#[test]
fn gitlab_jobs_of_one_pipeline_sharing_a_note_say_so_and_a_retry_does_not() {
    let gl = crate::gitlab::FakeGitLab::start();
    let w = workspace();
    let ws = w.ws.to_string_lossy().into_owned();
    let job = |name: &str, cases: &[(&str, bool)]| {
        write_report(&w, "r.xml", cases);
        let mut env: BTreeMap<String, String> =
            gl.env(Some(crate::gitlab::BOT_TOKEN)).into_iter().collect();
        env.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
        env.insert("CI_PIPELINE_ID".into(), "311".into());
        env.insert("CI_JOB_NAME".into(), name.into());
        let o = run(&env, &["ci", "--cwd", &ws, "--report", "reports/r.xml"]);
        assert!(o.status.code().is_some(), "{:?}", text(&o));
        let p = run(&env, &["publish", "--cwd", &ws]);
        assert_eq!(p.status.code(), Some(0), "{:?}", text(&p));
        text(&p)
    };
    job("test: [a]", &[("test_a", true)]);
    // A retry of the same job: not shared.
    let (out, err) = job("test: [a]", &[("test_a", true)]);
    assert!(!format!("{out}{err}").contains("shared"), "{out}{err}");
    assert!(!gl.ours()[0].body.contains("[!WARNING]"));
    // Another job of the pipeline, failing too: the note says which job shares it.
    let (out, err) = job("test: [b]", &[("test_b", true)]);
    assert!(
        format!("{out}{err}").contains("the MR note is shared"),
        "{out}{err}"
    );
    let notes = gl.ours();
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0]
            .body
            .contains("> Job <code>test: &#91;a&#93;</code> of this pipeline writes this note too"),
        "{}",
        notes[0].body
    );
    assert!(notes[0].body.contains("--comment-key"), "{}", notes[0].body);
    // A third job that passes leaves the failing note alone.
    let (out, err) = job("lint", &[("test_c", false)]);
    assert!(
        format!("{out}{err}").contains("is left as job `test: [b]`"),
        "{out}{err}"
    );
    assert_eq!(gl.ours()[0].body, notes[0].body);
}

/// A port that accepts connections and never answers, counting the connections.
fn counting_black_hole() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            seen.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    (format!("http://{addr}"), n)
}

/// The documented CLI recipe's env: no INPUT_*, the token in GITHUB_TOKEN, one CI job.
fn recipe_env(api: &str, w: &Ws, budget_secs: &str) -> BTreeMap<String, String> {
    let mut env = action_env(api, w);
    env.retain(|k, _| !k.starts_with("INPUT_"));
    env.insert("GITHUB_TOKEN".into(), TOKEN.into());
    env.insert("GITHUB_JOB".into(), "test".into());
    env.insert("GITHUB_RUN_ATTEMPT".into(), "1".into());
    env.insert("CODELOOP_PUBLISH_BUDGET_SECS".into(), budget_secs.into());
    env
}

/// `ci --fail-on regression --baseline comment` then `publish`, timed one by one.
fn ci_then_publish(env: &BTreeMap<String, String>, w: &Ws) -> [(Output, Duration); 2] {
    let ws = w.ws.to_string_lossy().into_owned();
    let t = Instant::now();
    let ci = run(
        env,
        &[
            "ci",
            "--cwd",
            &ws,
            "--report",
            "reports/r.xml",
            "--fail-on",
            "regression",
            "--baseline",
            "comment",
        ],
    );
    let ci_took = t.elapsed();
    let t = Instant::now();
    let publish = run(env, &["publish", "--cwd", &ws]);
    [(ci, ci_took), (publish, t.elapsed())]
}

/// Item 6 across processes: the CLI recipe's commands share one publishing budget through
/// the run directory. `ci --baseline comment`'s read is optional: against an API that never
/// answers it is cut at its share (40 % of the budget) and marks nothing down, so `publish`
/// still tries to post with the rest (the share kept for the writes), runs out, and records
/// the outage: a third command of the job then sends nothing and says why. A slow API leaves
/// `publish` only what `ci` did not spend; another job (a re-run) gets a whole budget again.
#[test]
fn the_cli_recipe_spends_one_publishing_budget_for_the_whole_run() {
    use std::sync::atomic::Ordering;
    let w = workspace();
    write_report(&w, "r.xml", &[("test_a", true), ("test_b", false)]);
    let (api, connections) = counting_black_hole();
    let env = recipe_env(&api, &w, "3");
    let [(ci, ci_took), (publish, publish_took)] = ci_then_publish(&env, &w);
    let (ci_out, ci_err) = text(&ci);
    assert_eq!(ci.status.code(), Some(1), "{ci_out}\n{ci_err}");
    assert!(
        ci_err.contains("cannot read the previous codeloop comment (no answer within 1.2 s, the share of the 3 s publishing budget an optional read may use"),
        "{ci_err}"
    );
    assert!(ci_took < Duration::from_secs(6), "ci took {ci_took:?}");
    // ci's read and publish's each opened a connection.
    let after_publish = connections.load(Ordering::SeqCst);
    assert!(after_publish >= 2, "{after_publish}");
    let (out, err) = text(&publish);
    assert_eq!(publish.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("codeloop: gate FAIL"), "{out}");
    // publish had the share kept for it (~1.8 s), not a whole budget, and not nothing.
    assert!(
        err.contains("no answer within 1.") && err.contains("the PR comment was not updated"),
        "{err}"
    );
    assert!(!err.contains("an earlier codeloop command"), "{err}");
    assert!(publish_took < Duration::from_secs(4), "{publish_took:?}");
    let run_dir = std::fs::canonicalize(w.ws.join(".codeloop/runs/latest")).unwrap();
    let ledger: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("publish-budget.json")).unwrap())
            .unwrap();
    assert_eq!(ledger["job"], "github:4242/1/test");
    assert!(ledger["spent_secs"].as_f64().unwrap() >= 2.9, "{ledger}");
    // A third command of the job: the API was found down, nothing is sent.
    let t = Instant::now();
    let o = run(&env, &["publish", "--cwd", &w.ws.to_string_lossy()]);
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(
        err.contains("::warning title=codeloop::GitHub API: not tried: an earlier codeloop command of this job found the API down (GET ")
            && err.contains("of the run's 3 s publishing budget; nothing is posted"),
        "{err}"
    );
    assert_eq!(err.matches("::warning").count(), 1, "{err}");
    assert!(t.elapsed() < Duration::from_secs(2));
    assert_eq!(
        connections.load(Ordering::SeqCst),
        after_publish,
        "a request was sent"
    );
    // A re-run of the job (another attempt) has a whole budget: it tries again.
    let mut again = env.clone();
    again.insert("GITHUB_RUN_ATTEMPT".into(), "2".into());
    let o = run(&again, &["publish", "--cwd", &w.ws.to_string_lossy()]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(connections.load(Ordering::SeqCst) > after_publish);
    assert!(
        !text(&o).1.contains("an earlier codeloop command"),
        "{:?}",
        text(&o)
    );

    // A slow API (1.2 s a read): ci's read is cut at its 1.2 s share, so publish has ~1.8 s,
    // not a whole budget: its second read runs out of time.
    let fake = FakeGitHub::start();
    fake.state.lock().unwrap().get_delay = Duration::from_millis(1200);
    let env = recipe_env(&fake.url(), &w, "3");
    let [(ci, _), (publish, publish_took)] = ci_then_publish(&env, &w);
    assert_eq!(ci.status.code(), Some(1), "{:?}", text(&ci));
    let (out, err) = text(&publish);
    assert_eq!(publish.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.contains("no answer within 0.") || err.contains("budget is spent"),
        "{err}"
    );
    assert!(
        publish_took < Duration::from_millis(2500),
        "{publish_took:?}"
    );
    assert!(
        fake.ours().is_empty(),
        "the run's budget was spent: nothing is posted"
    );
    assert_clean(&fake);
}

/// Failing-test names that do not compress (as real ones mostly do not).
fn scattered_names(n: usize, tag: &str) -> Vec<String> {
    use sha2::{Digest, Sha256};
    (0..n)
        .map(|i| {
            let h = Sha256::digest(format!("{tag}{i}").as_bytes());
            let hex: String = h.iter().take(10).map(|b| format!("{b:02x}")).collect();
            format!("test_{hex}_{i}")
        })
        .collect()
}

/// The hidden state's failing list is cut to fit the comment; the next run must not invent
/// regressions from the failures the cut list leaves out. 2,000 failures do not fit by name
/// in the state, but all of them fit as hashes: the same failures pass `fail-on: regression`,
/// one more fails naming only it. A state written before the hashes (names cut, a larger
/// `failing_total`) makes the unlisted failures unknown, not new.
#[test]
fn a_cut_comment_state_invents_no_regressions() {
    let fake = FakeGitHub::start();
    let w = workspace();
    let reg = [("INPUT_FAIL-ON", "regression")];
    let names = scattered_names(2_000, "a");
    let mut cases: Vec<(&str, bool)> = names.iter().map(|n| (n.as_str(), true)).collect();
    cases.push(("test_ok", false));
    write_report(&w, "r.xml", &cases);
    let o = action(&fake.url(), &w, &reg);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let body = fake.ours()[0].body.clone();
    let state = codeloop::report::state::decode(&body).unwrap();
    assert!(state.cut, "2,000 names do not fit the state");
    assert!(state.failing.len() < 2_000);
    assert_eq!(state.failing_total, 2_000);
    assert_eq!(state.failing_hashes.as_ref().unwrap().keys, 2_000);
    assert!(body.len() <= 65_536);
    // The runner part of the keys, as the state stores them.
    let prefix = state.failing[0]
        .strip_suffix(names[0].as_str())
        .unwrap()
        .to_string();

    // The same 2,000 failures: nothing is new, the gate passes.
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("no new failure (2000 tests were already failing"),
        "{out}"
    );
    let summary = std::fs::read_to_string(&w.summary).unwrap();
    assert!(!summary.contains("New failures"), "{summary}");

    // One more: it alone is new.
    cases.push(("test_regressed", true));
    write_report(&w, "r.xml", &cases);
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    assert!(
        out.contains("  - 1 new failure: test_app::test_regressed (max_failures is 0)"),
        "{out}"
    );
    assert!(out.contains("1 new, 2000 still failing"), "{out}");
    let body = fake.ours()[0].body.clone();
    assert!(body.contains("New failures (1)"), "{body}");

    // An older codeloop's cut state: 5 of 2,001 failures listed, no hashes.
    let old = codeloop::report::state::HiddenState {
        v: 1,
        run_id: "old-run".into(),
        score: Some(10.0),
        verdict: Some("fail".into()),
        failing: names[..5].iter().map(|n| format!("{prefix}{n}")).collect(),
        failing_total: 2_001,
        ..Default::default()
    };
    let line = codeloop::report::state::encode(&old);
    assert!(!line.is_empty());
    let fake = FakeGitHub::start();
    fake.seed(
        BOT,
        &format!("{MARK} run=old-run -->\n## codeloop\n\n{line}\n"),
    );
    let o = action(&fake.url(), &w, &reg);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        out.contains("so 1996 failing tests not in it are not counted as new"),
        "{out}"
    );
    let body = fake.ours()[0].body.clone();
    assert!(!body.contains("New failures"), "{body}");
    assert!(body.contains("Not in the last run"), "{body}");
    assert_clean(&fake);
}
