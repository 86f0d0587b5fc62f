//! `codeloop action` and `codeloop publish` end to end: the binary runs with the environment
//! the GitHub runner gives a Docker action (INPUT_*, GITHUB_*, an event JSON file, a
//! workspace, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files) against the fake GitHub.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use codeloop::artifact::{
    self, RunDir,
    manifest::{Context, Manifest},
};
use codeloop::model::*;
use serde_json::json;

use crate::common::bin;
use crate::fake_github::{BOT, FakeGitHub, Fault, READ_ONLY_TOKEN, TOKEN};

const MARK: &str = "<!-- codeloop-verify:v1";
const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
const MERGE_SHA: &str = "ffffffffffffffffffffffffffffffffffffffff";

struct Job {
    _dir: tempfile::TempDir,
    ws: PathBuf,
    run_rel: String,
    event: PathBuf,
    output: PathBuf,
    summary: PathBuf,
}

struct RunSpec {
    verdict: Verdict,
    failed: u64,
    comment: String,
    problems: usize,
}

impl Default for RunSpec {
    fn default() -> Self {
        RunSpec {
            verdict: Verdict::Fail,
            failed: 2,
            comment: format!(
                "{MARK} state=abc -->\n## codeloop: 2 failed\n- `test_a` at src/a.py:3\n"
            ),
            problems: 3,
        }
    }
}

fn pr_event(fork: bool) -> serde_json::Value {
    json!({
        "action": "synchronize",
        "number": 1,
        "pull_request": {
            "number": 1,
            "head": {"sha": HEAD_SHA, "ref": "feature",
                     "repo": {"full_name": if fork { "mallory/app" } else { "octo/app" }}},
            "base": {"sha": "base0", "ref": "main", "repo": {"full_name": "octo/app"}}
        },
        "repository": {"full_name": "octo/app"}
    })
}

fn make_job(spec: RunSpec, event: serde_json::Value) -> Job {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("workspace");
    let run_id = "20261122T000000000Z-abcd";
    let run_path = ws.join(".codeloop/runs").join(run_id);
    std::fs::create_dir_all(run_path.join("report")).unwrap();
    let counts = Counts {
        tests: 10,
        passed: 10 - spec.failed,
        failed: spec.failed,
        ..Default::default()
    };
    let gate = GateDoc {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.into(),
        verdict: spec.verdict,
        score: if spec.verdict == Verdict::Pass {
            100.0
        } else {
            72.5
        },
        components: vec![],
        rules: vec![],
        reasons: vec![format!("{} tests failed", spec.failed)],
        counts,
        lint: LintCounts::default(),
        delta: None,
    };
    artifact::write_json(&run_path.join("gate.json"), &gate).unwrap();
    let problems: Vec<Problem> = (0..spec.problems)
        .map(|i| Problem {
            id: format!("p{i}"),
            category: Category::TestFailure,
            runner: "pytest".into(),
            test: Some(format!("pytest::t{i}")),
            title: format!("test_{i} failed"),
            location: Some(Location {
                file: format!("src/m{i}.py"),
                line: Some(i as u32 + 1),
                column: None,
                exists: None,
            }),
            evidence: format!("assert {i} == 0\n::error::injected"),
            reproduce: None,
            severity: if i % 2 == 0 {
                Severity::Error
            } else {
                Severity::Warning
            },
            suite_error: None,
        })
        .collect();
    let tasks = problems
        .iter()
        .map(|p: &Problem| RepairTask {
            id: format!("t{}", p.id),
            category: p.category,
            title: p.title.clone(),
            location: p.location.clone(),
            evidence: p.evidence.clone(),
            reproduce: None,
            problems: vec![p.id.clone()],
            tests: p.test.iter().cloned().collect(),
        })
        .collect();
    let diag = DiagnoseDoc {
        schema_version: SCHEMA_VERSION,
        run_id: run_id.into(),
        problems,
        tasks,
        truncated: 0,
    };
    artifact::write_json(&run_path.join("diagnose.json"), &diag).unwrap();
    std::fs::write(run_path.join("report/comment.md"), &spec.comment).unwrap();
    std::fs::write(
        run_path.join("report/summary.md"),
        "## codeloop summary\n2 failed\n",
    )
    .unwrap();
    std::fs::write(run_path.join("report/badge.svg"), "<svg/>").unwrap();
    let rd = RunDir {
        path: run_path.clone(),
        id: run_id.into(),
    };
    Manifest::write(
        &rd,
        "a".into(),
        "b".into(),
        RunStatus::Failed,
        None,
        Context::default(),
    )
    .unwrap();
    let ev = dir.path().join("event.json");
    std::fs::write(&ev, serde_json::to_vec(&event).unwrap()).unwrap();
    let output = dir.path().join("output.txt");
    let summary = dir.path().join("summary.md");
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    Job {
        _dir: dir,
        ws,
        run_rel: format!(".codeloop/runs/{run_id}"),
        event: ev,
        output,
        summary,
    }
}

/// The env a Docker action gets: every declared input (unset ones as ""), GITHUB_* context.
fn action_env(fake: &FakeGitHub, job: &Job) -> BTreeMap<String, String> {
    let mut e = BTreeMap::new();
    for input in [
        "REPORTS",
        "RUNNERS",
        "WORKING-DIRECTORY",
        "CONFIG",
        "MIN-SCORE",
        "FAIL-ON",
        "CHECK-RUN",
        "SUMMARY",
        "ANNOTATIONS",
        "ARTIFACTS-DIR",
        "TEMPLATE-DIR",
        "DRY-RUN",
        "TIMEOUT",
        "JOBS",
    ] {
        e.insert(format!("INPUT_{input}"), String::new());
    }
    let s = |v: &str| v.to_string();
    for (k, v) in [
        ("INPUT_GITHUB-TOKEN", s(TOKEN)),
        ("INPUT_COMMENT", s("always")),
        ("INPUT_BADGE", s("true")),
        ("INPUT_FAIL-ON-GATE", s("true")),
        ("INPUT_FROM", job.run_rel.clone()),
        ("GITHUB_ACTIONS", s("true")),
        ("CI", s("true")),
        ("GITHUB_REPOSITORY", s("octo/app")),
        ("GITHUB_API_URL", fake.url()),
        ("GITHUB_SERVER_URL", s("https://github.com")),
        ("GITHUB_SHA", s(MERGE_SHA)),
        ("GITHUB_REF", s("refs/pull/1/merge")),
        ("GITHUB_EVENT_NAME", s("pull_request")),
        (
            "GITHUB_EVENT_PATH",
            job.event.to_string_lossy().into_owned(),
        ),
        ("GITHUB_WORKSPACE", job.ws.to_string_lossy().into_owned()),
        ("GITHUB_OUTPUT", job.output.to_string_lossy().into_owned()),
        (
            "GITHUB_STEP_SUMMARY",
            job.summary.to_string_lossy().into_owned(),
        ),
        ("GITHUB_RUN_ID", s("4242")),
        ("CODELOOP_RETRY_BASE_MS", s("10")),
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

fn action(fake: &FakeGitHub, job: &Job, extra: &[(&str, &str)]) -> Output {
    let mut env = action_env(fake, job);
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

/// Parses GITHUB_OUTPUT's heredoc format.
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

fn assert_clean(fake: &FakeGitHub) {
    assert_eq!(
        fake.violations(),
        Vec::<String>::new(),
        "requests GitHub would reject"
    );
}

#[test]
fn first_run_creates_second_updates_the_same_comment() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    let (out, err) = text(&o);
    assert_eq!(
        o.status.code(),
        Some(1),
        "gate failed → exit 1\n{out}\n{err}"
    );
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    let id = ours[0].id;
    assert!(ours[0].body.starts_with(MARK));
    let outs = outputs(&job.output);
    assert_eq!(outs["comment-id"], id.to_string());
    assert!(outs["comment-url"].ends_with(&format!("#issuecomment-{id}")));
    assert_eq!(outs["verdict"], "fail");
    assert_eq!(outs["score"], "72.5");
    assert_eq!(
        (outs["tests"].as_str(), outs["failed"].as_str()),
        ("10", "2")
    );
    // Paths are workspace-relative: the container's /github/workspace is not the host's path.
    assert_eq!(outs["run-dir"], job.run_rel);
    assert_eq!(
        outs["badge-svg"],
        format!("{}/report/badge.svg", job.run_rel)
    );
    assert_eq!(outs["badge-png"], "");
    let j: serde_json::Value = serde_json::from_str(&outs["json"]).unwrap();
    assert_eq!(j["comment"], "created");
    let summary = std::fs::read_to_string(&job.summary).unwrap();
    assert!(summary.contains("## codeloop summary"), "{summary}");
    // Annotations as workflow commands; the injected command in evidence is escaped.
    assert!(
        out.contains(
            "::error file=src/m0.py,line=1,title=test_failure%3A test_0 failed::assert 0 == 0%0A::error::injected"
        ),
        "{out}"
    );
    assert!(out.contains("::warning file=src/m1.py,line=2"), "{out}");
    // The token only appears in the runner's own `::add-mask::` command, which the runner
    // consumes instead of logging.
    assert!(out.contains(&format!("::add-mask::{TOKEN}")), "{out}");
    let logged: Vec<&str> = out
        .lines()
        .filter(|l| !l.starts_with("::add-mask::"))
        .collect();
    assert!(
        !logged.join("\n").contains(TOKEN) && !err.contains(TOKEN),
        "token leaked"
    );

    // Second run: same comment id, updated with PATCH, no new POST.
    let job2 = make_job(
        RunSpec {
            comment: format!("{MARK} state=def -->\nsecond run\n"),
            ..Default::default()
        },
        pr_event(false),
    );
    let before = fake.requests().len();
    let o = action(&fake, &job2, &[]);
    assert_eq!(o.status.code(), Some(1));
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, id);
    assert!(ours[0].body.contains("second run"));
    let new: Vec<_> = fake.requests().into_iter().skip(before).collect();
    assert!(new.iter().any(|r| r.method == "PATCH"));
    assert!(!new.iter().any(|r| r.method == "POST"));
    assert_eq!(outputs(&job2.output)["comment-id"], id.to_string());
    assert_clean(&fake);
}

#[test]
fn finds_our_comment_on_page_three_of_250() {
    let fake = FakeGitHub::start();
    let mut ours_id = 0;
    for i in 0..250 {
        if i == 230 {
            ours_id = fake.seed(BOT, &format!("{MARK} old -->\nold report"));
        } else {
            fake.seed(
                if i % 2 == 0 { "alice" } else { BOT },
                &format!("comment {i}"),
            );
        }
    }
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let gets: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/comments"))
        .collect();
    assert!(
        gets[0].query.contains("per_page=100"),
        "{:?}",
        gets[0].query
    );
    assert!(gets.iter().any(|r| r.query.contains("page=3")));
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(ours[0].id, ours_id);
    assert!(ours[0].body.contains("2 failed"));
    assert_eq!(fake.comments().len(), 250);
    assert!(!fake.writes().iter().any(|r| r.method == "POST"));
    assert_clean(&fake);
}

#[test]
fn another_users_comment_quoting_the_marker_is_never_touched() {
    let fake = FakeGitHub::start();
    let quoted = format!("look at this: {MARK} fake -->\n@maintainer why?");
    let theirs = fake.seed("mallory", &quoted);
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let all = fake.comments();
    assert_eq!(all.len(), 2);
    let t = all.iter().find(|c| c.id == theirs).unwrap();
    assert_eq!(t.body, quoted);
    assert_eq!(fake.ours().len(), 1);
    assert!(
        !fake
            .writes()
            .iter()
            .any(|r| r.path.ends_with(&theirs.to_string()))
    );
    assert_clean(&fake);
}

#[test]
fn two_concurrent_runs_leave_one_comment() {
    let fake = FakeGitHub::start();
    // Both jobs list (finding nothing) before either create is answered.
    fake.state.lock().unwrap().post_delay = Duration::from_millis(400);
    let job_a = make_job(RunSpec::default(), pr_event(false));
    let job_b = make_job(RunSpec::default(), pr_event(false));
    let env_a = action_env(&fake, &job_a);
    let env_b = action_env(&fake, &job_b);
    let a = std::thread::spawn(move || run(&env_a, &["action"]));
    let b = std::thread::spawn(move || run(&env_b, &["action"]));
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert_eq!(a.status.code(), Some(1), "{:?}", text(&a));
    assert_eq!(b.status.code(), Some(1), "{:?}", text(&b));
    let posts = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 2, "both jobs created a comment");
    assert_eq!(fake.ours().len(), 1, "{:?}", fake.comments());
    // Both jobs report the surviving comment.
    let id = fake.ours()[0].id.to_string();
    assert_eq!(outputs(&job_a.output)["comment-id"], id);
    assert_eq!(outputs(&job_b.output)["comment-id"], id);
    assert_clean(&fake);
}

/// Two legs of one unkeyed matrix finish together: both list no comment, both create one,
/// and the oldest wins. Whichever it is, the failing leg's results are what stays (with the
/// notice that the comment is shared): the passing leg never writes over a failure it did
/// not see when it listed.
#[test]
fn concurrent_legs_keep_the_failing_legs_comment() {
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo/reports");
    for round in 0..2 {
        let fake = FakeGitHub::start();
        // Both jobs list (finding nothing) before either create is answered.
        fake.state.lock().unwrap().post_delay = Duration::from_millis(400);
        let failing = make_job(RunSpec::default(), pr_event(false));
        let passing = make_job(RunSpec::default(), pr_event(false));
        std::fs::create_dir_all(failing.ws.join("reports")).unwrap();
        std::fs::copy(
            demo.join("pytest-junit.xml"),
            failing.ws.join("reports/junit.xml"),
        )
        .unwrap();
        std::fs::create_dir_all(passing.ws.join("reports")).unwrap();
        std::fs::write(
            passing.ws.join("reports/junit.xml"),
            r#"<testsuite name="s" tests="1"><testcase classname="t" name="test_ok"/></testsuite>"#,
        )
        .unwrap();
        let env = |job: &Job| {
            let mut e = action_env(&fake, job);
            e.insert("INPUT_FROM".into(), String::new());
            e.insert("INPUT_REPORTS".into(), "reports/*.xml".into());
            e.insert("GITHUB_JOB".into(), "test".into());
            e
        };
        let (env_f, env_p) = (env(&failing), env(&passing));
        // Each order of the creates: the first round starts the passing leg first.
        let (first, second) = if round == 0 {
            (env_p, env_f)
        } else {
            (env_f, env_p)
        };
        let a = std::thread::spawn(move || run(&first, &["action"]));
        std::thread::sleep(Duration::from_millis(150));
        let b = std::thread::spawn(move || run(&second, &["action"]));
        let (a, b) = (a.join().unwrap(), b.join().unwrap());
        for o in [&a, &b] {
            assert!(matches!(o.status.code(), Some(0 | 1)), "{:?}", text(o));
        }
        let ours = fake.ours();
        assert_eq!(ours.len(), 1, "round {round}: {:?}", fake.comments());
        let body = &ours[0].body;
        assert!(body.contains("codeloop: failed"), "round {round}: {body}");
        assert!(
            body.contains("writes this comment too"),
            "round {round}: {body}"
        );
        assert_clean(&fake);
    }
}

#[test]
fn deleted_comment_is_recreated() {
    let fake = FakeGitHub::start();
    let old = fake.seed(BOT, &format!("{MARK} -->\nold"));
    // Someone deletes it between our list and our PATCH.
    let mut f = Fault::new("PATCH", &format!("/comments/{old}"), 404);
    f.delete_first = Some(old);
    f.body = json!({"message": "Not Found"});
    fake.fault(f);
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_ne!(ours[0].id, old);
    assert_eq!(outputs(&job.output)["comment-id"], ours[0].id.to_string());
    assert_clean(&fake);
}

#[test]
fn bad_gateway_twice_then_success() {
    let fake = FakeGitHub::start();
    fake.seed(BOT, &format!("{MARK} -->\nold"));
    fake.fault(Fault::new("GET", "/comments", 502));
    fake.fault(Fault::new("GET", "/comments", 502));
    fake.fault(Fault::new("PATCH", "/comments/", 502));
    fake.fault(Fault::new("PATCH", "/comments/", 503));
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(fake.ours().len(), 1);
    assert!(fake.ours()[0].body.contains("2 failed"));
    // Who am I (once), then the listing: two 502s and the answer.
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/comments"))
            .count(),
        3
    );
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/user")
            .count(),
        1
    );
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "PATCH")
            .count(),
        3
    );
    assert_clean(&fake);
}

#[test]
fn create_after_a_502_relists_instead_of_posting_twice() {
    let fake = FakeGitHub::start();
    // The create succeeds on the server but the client sees a 502.
    let mut f = Fault::new("POST", "/comments", 502);
    f.after = true;
    fake.fault(f);
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1
    );
    assert_eq!(fake.ours().len(), 1);
    assert_eq!(
        outputs(&job.output)["comment-id"],
        fake.ours()[0].id.to_string()
    );
    assert_clean(&fake);
}

#[test]
fn secondary_rate_limit_waits_for_retry_after() {
    let fake = FakeGitHub::start();
    let mut f = Fault::new("POST", "/comments", 403);
    f.headers = vec![("retry-after", "1".into())];
    f.body = json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."});
    fake.fault(f);
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    let waited = posts[1].at.duration_since(posts[0].at);
    assert!(waited >= Duration::from_millis(950), "waited {waited:?}");
    assert_eq!(fake.ours().len(), 1);
    assert_clean(&fake);
}

#[test]
fn fork_pr_writes_summary_warns_once_and_exits_with_the_gate() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(true));
    let o = action(&fake, &job, &[("INPUT_GITHUB-TOKEN", READ_ONLY_TOKEN)]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(
        err.matches("::warning title=codeloop::").count(),
        1,
        "{err}"
    );
    assert!(err.contains("workflow_run"), "{err}");
    assert!(fake.writes().is_empty());
    assert!(
        std::fs::read_to_string(&job.summary)
            .unwrap()
            .contains("codeloop summary")
    );
    assert_eq!(outputs(&job.output)["comment-id"], "");

    // Same-repo PR but a read-only token (permissions: read): 403 → one warning, gate's code.
    let job = make_job(
        RunSpec {
            verdict: Verdict::Pass,
            failed: 0,
            ..Default::default()
        },
        pr_event(false),
    );
    let o = action(
        &fake,
        &job,
        &[
            ("INPUT_GITHUB-TOKEN", READ_ONLY_TOKEN),
            ("INPUT_CHECK-RUN", "true"),
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        err.matches("::warning title=codeloop::").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("Resource not accessible by integration"),
        "{err}"
    );
    // Not a fork: the fix is the job's permissions, not the fork recipe.
    assert!(
        err.contains("add `permissions: pull-requests: write`"),
        "{err}"
    );
    assert!(!err.contains("fork gets"), "{err}");
    assert_eq!(
        fake.writes().len(),
        1,
        "no check run after the token proved read-only"
    );
    assert_clean(&fake);
}

#[test]
fn fail_on_publish_error_turns_a_publish_failure_red() {
    let fake = FakeGitHub::start();
    let job = make_job(
        RunSpec {
            verdict: Verdict::Pass,
            failed: 0,
            ..Default::default()
        },
        pr_event(false),
    );
    let o = action(
        &fake,
        &job,
        &[
            ("INPUT_GITHUB-TOKEN", READ_ONLY_TOKEN),
            ("INPUT_FAIL-ON-PUBLISH-ERROR", "true"),
        ],
    );
    assert_eq!(o.status.code(), Some(4), "{:?}", text(&o));
    // And `fail-on-gate: false` keeps a failing gate green.
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[("INPUT_FAIL-ON-GATE", "false")]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
}

#[test]
fn body_over_budget_is_cut_with_the_marker_kept() {
    let fake = FakeGitHub::start();
    let huge = format!("{MARK} state=xyz -->\n{}", "| row | ✓ |\n".repeat(20_000));
    let job = make_job(
        RunSpec {
            comment: huge,
            ..Default::default()
        },
        pr_event(false),
    );
    let o = action(&fake, &job, &[]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    let n = ours[0].body.chars().count();
    assert!(n <= 65_536 && n > 50_000, "{n}");
    // The marker names the job that wrote it (`GITHUB_JOB` unset here).
    assert!(
        ours[0]
            .body
            .starts_with(&format!("{MARK} ci=github/4242.1/ state=xyz -->"))
    );
    assert!(ours[0].body.contains("65,536-character limit"));
    assert_clean(&fake);
}

#[test]
fn dry_run_and_act_post_nothing_and_print_the_comment_safely() {
    let fake = FakeGitHub::start();
    for extra in [[("INPUT_DRY-RUN", "true")], [("ACT", "true")]] {
        let job = make_job(RunSpec::default(), pr_event(false));
        let mut env = action_env(&fake, &job);
        env.remove("INPUT_GITHUB-TOKEN");
        for (k, v) in extra {
            env.insert(k.into(), v.into());
        }
        let o = run(&env, &["action"]);
        let (out, err) = text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        let start = out.find("::stop-commands::").expect(&out);
        let token = out[start + 17..].lines().next().unwrap();
        let end = out.find(&format!("::{token}::")).unwrap();
        assert!(out[start..end].contains("## codeloop: 2 failed"));
        assert!(
            std::fs::read_to_string(&job.summary)
                .unwrap()
                .contains("codeloop summary")
        );
    }
    assert!(fake.requests().is_empty());
}

/// The paths of a check-run request's annotations, in the order sent.
fn annotation_paths(v: &serde_json::Value) -> Vec<String> {
    v["output"]["annotations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn check_run_goes_to_the_pr_head_with_at_most_50_annotations_and_says_so() {
    let fake = FakeGitHub::start();
    let job = make_job(
        RunSpec {
            problems: 120,
            ..Default::default()
        },
        pr_event(false),
    );
    let o = action(&fake, &job, &[("INPUT_CHECK-RUN", "true")]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    let st = fake.state.lock().unwrap();
    assert_eq!(st.check_runs.len(), 1);
    let cr = &st.check_runs[0];
    assert_eq!(cr["head_sha"], HEAD_SHA);
    assert_eq!(cr["conclusion"], "failure");
    assert_eq!(cr["status"], "completed");
    // One request: the first 50, no update with more.
    assert_eq!(cr["output"]["annotations"].as_array().unwrap().len(), 50);
    assert!(
        st.check_run_updates.is_empty(),
        "{:?}",
        st.check_run_updates
    );
    assert_eq!(
        cr["details_url"],
        "https://github.com/octo/app/actions/runs/4242"
    );
    let summary = cr["output"]["summary"].as_str().unwrap();
    assert!(summary.starts_with("## codeloop summary"), "{summary}");
    insta::assert_snapshot!(
        "check_run_summary_capped",
        &summary[summary.find("\n---").unwrap()..]
    );
    drop(st);
    // The log says it once, as a plain line (not one more annotation).
    let line = "codeloop: check run: showing 50 of 120 annotations";
    assert_eq!(err.matches(line).count(), 1, "{err}");
    assert!(!err.contains(&format!("::notice title=codeloop::{line}")));
    // Workflow-command annotations stay within 10 per level, with a note about the rest.
    assert_eq!(out.matches("::error file=").count(), 10);
    assert_eq!(out.matches("::warning file=").count(), 10);
    assert!(
        out.contains("::notice title=codeloop::100 more problem(s) not annotated"),
        "{out}"
    );
    assert_clean(&fake);

    // `publish.max_check_annotations` raises the cap: the rest goes in PATCHes of 50.
    let fake = FakeGitHub::start();
    std::fs::create_dir_all(job.ws.join(".codeloop")).unwrap();
    std::fs::write(
        job.ws.join(".codeloop/config.json"),
        r#"{"publish": {"max_check_annotations": 500}}"#,
    )
    .unwrap();
    let o = action(&fake, &job, &[("INPUT_CHECK-RUN", "true")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("showing"), "{err}");
    let st = fake.state.lock().unwrap();
    let cr = &st.check_runs[0];
    assert_eq!(cr["output"]["annotations"].as_array().unwrap().len(), 50);
    assert!(
        !cr["output"]["summary"]
            .as_str()
            .unwrap()
            .contains("showing")
    );
    let more: Vec<usize> = st
        .check_run_updates
        .iter()
        .map(|u| u["output"]["annotations"].as_array().unwrap().len())
        .collect();
    assert_eq!(more, [50, 20]);
    drop(st);
    assert_clean(&fake);
}

/// The capped check run keeps what the comment's "What broke" lists, in its order: a task
/// with a failure new since the baseline first, then one annotation per task (a task that
/// folds 80 tests gives one, not 50), then the other problems of the folded task.
#[test]
fn capped_check_run_annotations_follow_what_broke() {
    let fake = FakeGitHub::start();
    let job = make_job(
        RunSpec {
            problems: 120,
            ..Default::default()
        },
        pr_event(false),
    );
    let run = job.ws.join(&job.run_rel);
    let mut diag: DiagnoseDoc = artifact::read_json(&run.join("diagnose.json")).unwrap();
    // p0..p79 share one root cause (one task); p80..p119 have a task each.
    let mut tasks = diag.tasks.split_off(80);
    let mut folded = diag.tasks[0].clone();
    folded.problems = (0..80).map(|i| format!("p{i}")).collect();
    folded.tests = (0..80).map(|i| format!("pytest::t{i}")).collect();
    tasks.insert(0, folded);
    diag.tasks = tasks;
    artifact::write_json(&run.join("diagnose.json"), &diag).unwrap();
    // t110 is new since the baseline: "What broke" lists it first.
    let mut gate: GateDoc = artifact::read_json(&run.join("gate.json")).unwrap();
    gate.delta = Some(Delta {
        new_failures: vec!["pytest::t110".into()],
        ..Delta::default()
    });
    artifact::write_json(&run.join("gate.json"), &gate).unwrap();
    let o = action(&fake, &job, &[("INPUT_CHECK-RUN", "true")]);
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let st = fake.state.lock().unwrap();
    let m = |i: usize| format!("src/m{i}.py");
    let want: Vec<String> = [110, 0]
        .into_iter()
        .chain((80..120).filter(|i| *i != 110))
        .chain(1..10)
        .map(m)
        .collect();
    assert_eq!(annotation_paths(&st.check_runs[0]), want);
    assert!(st.check_run_updates.is_empty());
    drop(st);
    assert_clean(&fake);
}

#[test]
fn on_failure_mode_deletes_a_stale_comment_when_the_gate_passes() {
    let fake = FakeGitHub::start();
    fake.seed(BOT, &format!("{MARK} -->\nold failure"));
    let other = fake.seed("alice", "thanks!");
    let job = make_job(
        RunSpec {
            verdict: Verdict::Pass,
            failed: 0,
            ..Default::default()
        },
        pr_event(false),
    );
    let o = action(&fake, &job, &[("INPUT_COMMENT", "on-failure")]);
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert!(fake.ours().is_empty());
    assert_eq!(fake.comments().len(), 1);
    assert_eq!(fake.comments()[0].id, other);
    assert_clean(&fake);
}

#[test]
fn publish_from_a_run_directory_for_the_fork_recipe() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    // A workflow_run job: the event has no PR (forks), the number comes from the artifact.
    let ev = json!({"workflow_run": {"head_sha": HEAD_SHA, "pull_requests": []}});
    std::fs::write(&job.event, ev.to_string()).unwrap();
    let mut env = action_env(&fake, &job);
    env.retain(|k, _| !k.starts_with("INPUT_"));
    env.insert("GITHUB_TOKEN".into(), TOKEN.into());
    env.insert("GITHUB_EVENT_NAME".into(), "workflow_run".into());
    env.insert("GITHUB_REF".into(), "refs/heads/main".into());
    let run_dir = job.ws.join(&job.run_rel);
    let o = run(
        &env,
        &[
            "publish",
            "--from",
            run_dir.to_str().unwrap(),
            "--pr",
            "1",
            "--check-run",
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert_eq!(fake.ours().len(), 1);
    assert!(
        out.contains("comment created at https://github.com/octo/app/pull/1#issuecomment-"),
        "{out}"
    );
    assert_eq!(
        fake.state.lock().unwrap().check_runs[0]["head_sha"],
        HEAD_SHA
    );
    // --forge none prints and posts nothing.
    let before = fake.requests().len();
    let o = run(
        &env,
        &[
            "publish",
            "--from",
            run_dir.to_str().unwrap(),
            "--forge",
            "none",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).0.contains("## codeloop: 2 failed"));
    assert_eq!(fake.requests().len(), before);
    assert_clean(&fake);
}

#[test]
fn bad_inputs_name_the_input_and_the_fix() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    let o = action(&fake, &job, &[("INPUT_COMMENT", "sometimes")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err.contains("input `comment` is \"sometimes\": use always, on-failure or off"),
        "{err}"
    );
    // A timeout of nothing is refused (it was clamped to 1 s and stopped every runner).
    let o = action(&fake, &job, &[("INPUT_TIMEOUT", "0")]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("input `timeout` is \"0\"") && err.contains("use at least 1s"),
        "{err}"
    );
    // pull_request_target without reports: refused before running anything.
    let o = action(
        &fake,
        &job,
        &[
            ("INPUT_FROM", ""),
            ("GITHUB_EVENT_NAME", "pull_request_target"),
            ("INPUT_RUNNERS", "pytest"),
        ],
    );
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("allow-untrusted-commands"), "{err}");
    assert!(fake.requests().is_empty());
}

/// The fake itself must reject what GitHub rejects, or the scenarios above prove nothing.
#[test]
fn the_fake_rejects_bodies_that_break_the_official_schema() {
    use std::io::{Read, Write};
    let fake = FakeGitHub::start();
    let send = |method: &str, path: &str, body: &str| {
        let mut s = std::net::TcpStream::connect(fake.addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        r
    };
    let r = send(
        "POST",
        "/repos/octo/app/issues/1/comments",
        r#"{"text":"hi"}"#,
    );
    assert!(r.starts_with("HTTP/1.1 422"), "{r}");
    let r = send(
        "POST",
        "/repos/octo/app/check-runs",
        r#"{"name":"c","head_sha":"x","conclusion":"green"}"#,
    );
    assert!(r.starts_with("HTTP/1.1 422"), "{r}");
    let long = format!(r#"{{"body":"{}"}}"#, "x".repeat(65_537));
    let r = send("POST", "/repos/octo/app/issues/1/comments", &long);
    assert!(
        r.contains("Body is too long (maximum is 65536 characters)"),
        "{r}"
    );
    assert_eq!(fake.violations().len(), 3, "{:?}", fake.violations());
    assert!(fake.comments().is_empty());
}

#[test]
fn the_action_posts_an_uploaded_run_from_a_workflow_run_job() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    // Fork PRs are not listed in workflow_run.pull_requests: the number comes as an input.
    let ev = json!({"workflow_run": {"head_sha": HEAD_SHA, "event": "pull_request", "pull_requests": []}});
    std::fs::write(&job.event, ev.to_string()).unwrap();
    let o = action(
        &fake,
        &job,
        &[
            ("GITHUB_EVENT_NAME", "workflow_run"),
            ("GITHUB_REF", "refs/heads/main"),
            ("INPUT_PR-NUMBER", "1"),
            ("INPUT_CHECK-RUN", "true"),
            ("INPUT_FAIL-ON-GATE", "false"),
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{:?}", text(&o));
    assert_eq!(fake.ours().len(), 1);
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert!(
        posts[0].path.ends_with("/issues/1/comments"),
        "{}",
        posts[0].path
    );
    assert_eq!(
        fake.state.lock().unwrap().check_runs[0]["head_sha"],
        HEAD_SHA
    );
    let o = action(&fake, &job, &[("INPUT_PR-NUMBER", "1; rm -rf /")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("input `pr-number`"));
    assert_clean(&fake);

    // The number is the uploaded run's word: on a PR whose head is not the tested commit
    // (another PR the fork named, or a newer push) nothing is posted; the check run still
    // goes on the tested commit.
    fake.state
        .lock()
        .unwrap()
        .pr_heads
        .insert(2, "0123456789abcdef0123456789abcdef01234567".into());
    let before = fake.writes().len();
    let o = action(
        &fake,
        &job,
        &[
            ("GITHUB_EVENT_NAME", "workflow_run"),
            ("GITHUB_REF", "refs/heads/main"),
            ("INPUT_PR-NUMBER", "2"),
            ("INPUT_CHECK-RUN", "true"),
            ("INPUT_FAIL-ON-GATE", "false"),
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(
        err.contains("pr-number 2: its head is 0123456789ab, not 6dcb09b5b578"),
        "{err}"
    );
    let writes: Vec<_> = fake.writes().into_iter().skip(before).collect();
    assert!(
        writes.iter().all(|r| !r.path.contains("/issues/")),
        "{writes:?}"
    );
    assert!(
        writes.iter().any(|r| r.path.ends_with("/check-runs")),
        "{writes:?}"
    );
    assert_eq!(outputs(&job.output)["comment-id"], "");
}

/// The fork recipe's trusted job publishes a run directory the fork's job wrote: a run id
/// made to start workflow commands on lines of their own reaches neither the log nor the
/// outputs as commands.
#[test]
fn a_run_id_from_an_uploaded_run_cannot_start_workflow_commands() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    let gate_path = job.ws.join(&job.run_rel).join("gate.json");
    let mut gate: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&gate_path).unwrap()).unwrap();
    gate["run_id"] = json!(
        "r1\n::set-output name=verdict::pass\n::error title=pwn::INJECTED\n::add-mask::codeloop"
    );
    std::fs::write(&gate_path, gate.to_string()).unwrap();
    let ev = json!({"workflow_run": {"head_sha": HEAD_SHA, "event": "pull_request", "pull_requests": []}});
    std::fs::write(&job.event, ev.to_string()).unwrap();
    let o = action(
        &fake,
        &job,
        &[
            ("GITHUB_EVENT_NAME", "workflow_run"),
            ("GITHUB_REF", "refs/heads/main"),
            ("INPUT_PR-NUMBER", "1"),
            ("INPUT_CHECK-RUN", "true"),
        ],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    for line in out.lines().chain(err.lines()) {
        assert!(
            !line.starts_with("::set-output")
                && !line.starts_with("::error title=pwn")
                && !line.starts_with("::add-mask::codeloop"),
            "{line}\n{out}"
        );
    }
    assert!(
        out.contains("run r1___set-output_name_verdict__pass___error_title_pwn__INJECTED"),
        "{out}"
    );
    let outs = outputs(&job.output);
    assert!(!outs["run-id"].contains('\n'), "{outs:?}");
    assert!(!outs["json"].contains("::set-output"), "{outs:?}");
    assert!(
        fake.state.lock().unwrap().check_runs[0]["external_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("r1___set-output")),
    );
}

/// The release contract without Docker: no CA store, no fonts, nothing but the binary and
/// libc (scripts/container-contract.sh). Skipped where user namespaces are unavailable.
#[test]
fn binary_works_in_an_emptied_root_without_ca_store_or_fonts() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/container-contract.sh");
    let o = Command::new("bash")
        .arg(&script)
        .arg(bin())
        .output()
        .unwrap();
    let (out, err) = text(&o);
    if o.status.code() == Some(77) {
        eprintln!("skipped: {err}");
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{out}\n{err}");
    assert!(out.contains("container contract: ok"), "{out}");
}

/// The whole pipeline with the real stages: collect the demo's reports, verify → diagnose →
/// gate-check → (report) → publish, exactly as the runner starts the container.
#[test]
fn the_action_runs_the_stages_on_collected_reports_and_posts_once() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    let reports = job.ws.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let demo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/demo/reports");
    for f in ["pytest-junit.xml", "jest-junit.xml"] {
        std::fs::copy(demo.join(f), reports.join(f)).unwrap();
    }
    let o = action(
        &fake,
        &job,
        &[("INPUT_FROM", ""), ("INPUT_REPORTS", "reports/*.xml")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let outs = outputs(&job.output);
    assert_eq!(outs["verdict"], "fail");
    assert_eq!(
        [
            &outs["tests"],
            &outs["passed"],
            &outs["failed"],
            &outs["errored"],
            &outs["skipped"]
        ],
        ["27", "10", "10", "1", "6"]
    );
    assert_ne!(outs["run-dir"], job.run_rel, "a new run was made");
    assert!(job.ws.join(&outs["run-dir"]).join("gate.json").is_file());
    let ours = fake.ours();
    assert_eq!(ours.len(), 1);
    assert_eq!(outs["comment-id"], ours[0].id.to_string());
    // The stages' output is fenced off from the runner's command parser...
    let fence = out.find("::stop-commands::").expect(&out);
    let token = out[fence + 17..].lines().next().unwrap();
    assert!(out.contains(&format!("::{token}::")));
    // ...and the annotations come after, un-fenced, one per repair task.
    let is_fence_end = |l: &str| {
        l.len() == 36
            && l.starts_with("::")
            && l.ends_with("::")
            && l[2..34].bytes().all(|b| b.is_ascii_hexdigit())
    };
    let last_fence_end = out
        .lines()
        .rev()
        .find(|l| is_fence_end(l))
        .and_then(|l| out.rfind(l))
        .expect("fences closed");
    let ann = out
        .find("::error file=tests/test_mixed.py,line=19")
        .expect(&out);
    assert!(ann > last_fence_end, "{out}");
    let first_body = ours[0].body.clone();
    assert!(first_body.starts_with(MARK), "{first_body}");

    // A second push: the previous comment (its hidden state) is handed to the stages as the
    // baseline, and the same comment is updated.
    std::fs::write(&job.output, "").unwrap();
    let o = action(
        &fake,
        &job,
        &[
            ("INPUT_FROM", ""),
            ("INPUT_REPORTS", "reports/*.xml"),
            ("GITHUB_RUN_ID", "4243"),
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{:?}", text(&o));
    let prev = job.ws.join(".codeloop/previous-comment.md");
    assert_eq!(std::fs::read_to_string(&prev).unwrap(), first_body);
    let ours2 = fake.ours();
    assert_eq!(ours2.len(), 1);
    assert_eq!(ours2[0].id, ours[0].id);
    assert_eq!(outputs(&job.output)["comment-id"], ours[0].id.to_string());
    assert_clean(&fake);
}

/// Issue 18 item 4 through the action's inputs: a merged JUnit file (junit-report-merger) and
/// pytest-rerunfailures' repeated testcases count each suite by its own tool's rules.
#[test]
fn the_action_counts_merged_junit_files_and_pytest_reruns_as_the_tools_do() {
    let fake = FakeGitHub::start();
    let job = make_job(RunSpec::default(), pr_event(false));
    let reports = job.ws.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::copy(
        fixtures.join("junit-merged/merged-jrm.xml"),
        reports.join("merged.xml"),
    )
    .unwrap();
    std::fs::copy(
        fixtures.join("pytest-reruns/reruns-xdist.xml"),
        reports.join("xdist.xml"),
    )
    .unwrap();
    let o = action(
        &fake,
        &job,
        &[("INPUT_FROM", ""), ("INPUT_REPORTS", "reports/*.xml")],
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}\n{err}");
    let outs = outputs(&job.output);
    // 44 tests in the merged file (19 passed, 12 failed, 6 errored, 7 skipped) + pytest's
    // "2 failed, 7 passed, 1 skipped, 9 rerun".
    assert_eq!(
        [
            &outs["tests"],
            &outs["passed"],
            &outs["failed"],
            &outs["errored"],
            &outs["skipped"]
        ],
        ["54", "26", "14", "6", "8"]
    );
}
