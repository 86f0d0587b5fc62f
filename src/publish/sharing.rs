//! One sticky comment written by two jobs of the same CI run: the legs of a matrix, or a
//! `backend` and a `frontend` job, none with its own comment key. Each would replace the
//! other's results, and a leg that passes last would leave a green comment on a PR whose
//! other leg failed.
//!
//! Every comment's marker names the job that wrote it (`ci=github/4242.1/test`: the forge,
//! the run and its attempt, the job; on GitLab the pipeline and the job's name). Before it
//! writes, a job compares that with its own ([`decide`]):
//! - another job of the same run wrote it: the comment gets a notice that names that job and
//!   the fix (a `comment-key` each), and is not this job's baseline (deltas against another
//!   leg's results would be wrong numbers);
//! - and that job failed while this one passed: the comment stays that job's (a passing job
//!   never hides another job's failure), with the notice added once from that job's side
//!   ([`NOTICE_TAG`] marks it), and a warning in the log.
//!
//! On GitHub the legs of a matrix share the job id, and any re-run is a new attempt, so any
//! earlier writer of the same run attempt is another job. Another workflow file is another
//! job too (a monorepo's `backend.yml` and `frontend.yml`, each started by the same push with
//! its `paths:` filter); its failure is kept only when it is of the same commit, since an
//! older push's failure would leave a stale comment. A `workflow_run` job posts the results
//! of the workflow that started it, so it names no workflow of its own. On GitLab each leg
//! has its own job name, and a retried job keeps its name: only another name in the same
//! pipeline shares.
//!
//! Pure: the environment comes in as [`Env`], bodies as text.

use super::context::Env;
use crate::report::escape;
use crate::report::state::MARKER;

/// The CI job that writes a comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Writer {
    /// `github` or `gitlab`.
    pub ci: String,
    /// GitHub: `<run id>.<attempt>`; GitLab: the pipeline id.
    pub run: String,
    /// GitHub: the job's id (`GITHUB_JOB`, the same for every leg of a matrix); GitLab: the
    /// job's name (`CI_JOB_NAME`, one per leg).
    pub job: String,
    /// GitHub: the workflow file (`.github/workflows/backend.yml`, from `GITHUB_WORKFLOW_REF`);
    /// empty on GitLab, in a `workflow_run` job (it posts another workflow's results) and in
    /// markers written before it was recorded.
    pub workflow: String,
    /// GitHub: the first 12 hex digits of `GITHUB_SHA` (every workflow a push starts has the
    /// same one); empty where `workflow` is.
    pub commit: String,
}

/// What a job does with the comment it is about to replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sharing {
    /// No comment yet, or one an earlier run (or this job, retried) wrote.
    Alone,
    /// Another job of this run wrote it: replace it, with [`notice`] in the body.
    Shared(Writer),
    /// Another job of this run wrote it and failed, and this one passed: leave it.
    Keep(Writer),
}

impl Writer {
    /// The job this process runs in, on the forges that have sticky comments.
    pub fn from_env(env: &Env) -> Option<Writer> {
        if let Some(run) = env.get("GITHUB_RUN_ID") {
            // A `workflow_run` job posts the results of the workflow that triggered it: it
            // is not a second workflow writing the comment.
            let own = env.get("GITHUB_EVENT_NAME") != Some("workflow_run");
            let workflow = env
                .get("GITHUB_WORKFLOW_REF")
                .filter(|_| own)
                .map(workflow_file)
                .unwrap_or_default();
            let commit = match (workflow.is_empty(), env.get("GITHUB_SHA")) {
                (false, Some(sha)) => sha.chars().take(12).collect(),
                _ => String::new(),
            };
            return Some(Writer {
                ci: "github".into(),
                run: format!("{run}.{}", env.get("GITHUB_RUN_ATTEMPT").unwrap_or("1")),
                job: env.get("GITHUB_JOB").unwrap_or_default().to_string(),
                workflow,
                commit,
            });
        }
        let pipeline = env.get("CI_PIPELINE_ID")?;
        Some(Writer {
            ci: "gitlab".into(),
            run: pipeline.to_string(),
            job: env.get("CI_JOB_NAME").unwrap_or_default().to_string(),
            workflow: String::new(),
            commit: String::new(),
        })
    }

    /// Whether `earlier` ran in another workflow than this job (both known): two workflows
    /// of one push (a monorepo's `backend.yml` and `frontend.yml`) writing one comment.
    fn other_workflow(&self, earlier: &Writer) -> bool {
        self.ci == earlier.ci
            && !self.workflow.is_empty()
            && !earlier.workflow.is_empty()
            && self.workflow != earlier.workflow
    }

    /// Whether `earlier`, the writer of the comment this job is about to replace, is another
    /// job of this same CI run.
    pub fn shares_with(&self, earlier: &Writer) -> bool {
        self.ci == earlier.ci
            && (self.run == earlier.run && (self.ci == "github" || self.job != earlier.job)
                || self.other_workflow(earlier))
    }

    /// Whether `earlier`'s results are of the same push as this job's: the same CI run, or
    /// another workflow on the same commit. Only then does a failure there outrank a pass
    /// here: a failure of an older push is no reason to keep a stale comment.
    fn same_push(&self, earlier: &Writer) -> bool {
        self.run == earlier.run || (!self.commit.is_empty() && self.commit == earlier.commit)
    }

    /// The marker's `ci=` value: each part percent-encoded, so a GitLab job name with spaces,
    /// slashes or `-->` stays one word of the marker.
    fn marker_value(&self) -> String {
        let mut parts = vec![&self.ci, &self.run, &self.job];
        if !self.workflow.is_empty() {
            parts.extend([&self.workflow, &self.commit]);
        }
        parts
            .iter()
            .map(|p| pct_encode(p))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Three parts (markers before workflows were recorded, GitLab) or five.
    fn parse(v: &str) -> Option<Writer> {
        let mut parts = v
            .split('/')
            .map(pct_decode)
            .collect::<Option<Vec<String>>>()?
            .into_iter();
        let (ci, run, job) = (parts.next()?, parts.next()?, parts.next()?);
        let (workflow, commit) = match (parts.next(), parts.next(), parts.next()) {
            (None, None, None) => (String::new(), String::new()),
            (Some(workflow), Some(commit), None) => (workflow, commit),
            _ => return None,
        };
        Some(Writer {
            ci,
            run,
            job,
            workflow,
            commit,
        })
    }
}

/// `.github/workflows/ci.yml` of `GITHUB_WORKFLOW_REF`
/// (`owner/repo/.github/workflows/ci.yml@refs/pull/7/merge`).
fn workflow_file(r: &str) -> String {
    let path = r.split('@').next().unwrap_or(r);
    match path.find(".github/") {
        Some(at) => path[at..].to_string(),
        None => path.to_string(),
    }
}

/// `backend.yml` of `.github/workflows/backend.yml`.
fn base_name(workflow: &str) -> &str {
    workflow.rsplit('/').next().unwrap_or(workflow)
}

impl Writer {}

fn pct_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn pct_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = [bytes.next()?, bytes.next()?];
            let hex = std::str::from_utf8(&hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).ok()
}

/// Names `writer` in the body's marker (`ci=…` after the marker's start); a body without a
/// marker is returned as it is (the publisher adds the marker with the key first).
pub fn with_writer(body: &str, writer: Option<&Writer>) -> String {
    match (writer, body.find(MARKER)) {
        (Some(w), Some(i)) => {
            let at = i + MARKER.len();
            format!("{} ci={}{}", &body[..at], w.marker_value(), &body[at..])
        }
        _ => body.to_string(),
    }
}

/// The writer a comment's marker names, if it names one (comments of codeloop before this,
/// or by hand, do not).
pub fn writer_of(body: &str) -> Option<Writer> {
    Writer::parse(super::github::marker_field(body, "ci")??)
}

/// The other job of this CI run that wrote `body`, if another did.
pub fn shared_with(me: Option<&Writer>, body: &str) -> Option<Writer> {
    writer_of(body).filter(|o| me.is_some_and(|me| me.shares_with(o)))
}

/// A comment already shared by the jobs of an earlier attempt of this workflow run (its
/// notice says so): a re-run (`GITHUB_RUN_ATTEMPT` 2) of one leg cannot tell whether its own
/// leg or another wrote it, so it is shared still, never this leg's own.
fn shared_in_an_earlier_attempt(me: Option<&Writer>, body: &str) -> Option<Writer> {
    let me = me?;
    let other = writer_of(body)?;
    let run = |w: &Writer| w.run.split('.').next().unwrap_or_default().to_string();
    (me.ci == "github" && other.ci == "github" && run(me) == run(&other) && has_notice(body))
        .then_some(other)
}

/// Why the comment `body` is no baseline for this job (`me`), if it is not: it was written
/// for this same commit (a re-run: its failures are this commit's own, so none would be
/// new), or by another job of this run (its tests are not this job's).
pub fn not_a_baseline(me: Option<&Writer>, body: &str) -> Option<&'static str> {
    let me = me?;
    let other = writer_of(body)?;
    if me.shares_with(&other) || shared_in_an_earlier_attempt(Some(me), body).is_some() {
        return Some("another job of this workflow run wrote it");
    }
    (!me.commit.is_empty() && me.commit == other.commit).then_some(
        "it was written for this same commit (a re-run), so its failures are this commit's own",
    )
}

/// What this job (`me`, whose run `passed` or not) does with `previous`, the body of the
/// comment it would replace.
pub fn decide(me: Option<&Writer>, previous: Option<&str>, passed: bool) -> Sharing {
    let Some(body) = previous else {
        return Sharing::Alone;
    };
    let Some(other) = shared_with(me, body).or_else(|| shared_in_an_earlier_attempt(me, body))
    else {
        return Sharing::Alone;
    };
    let other_failed = crate::report::state::decode(body)
        .ok()
        .and_then(|s| s.verdict)
        .is_some_and(|v| v == crate::model::Verdict::Fail.as_str());
    if passed && other_failed && me.is_some_and(|me| me.same_push(&other)) {
        Sharing::Keep(other)
    } else {
        Sharing::Shared(other)
    }
}

/// A job's name as the comment shows it (`md`: in `<code>`, escaped like a test name: a code
/// span would show the escapes) or as the log does.
fn name(job: &str, md: bool) -> String {
    if md {
        format!("<code>{}</code>", escape::inline(job, 100))
    } else {
        format!("`{job}`")
    }
}

/// Who else writes the comment, in words.
fn who(me: &Writer, other: &Writer, md: bool) -> String {
    let run = if me.ci == "gitlab" {
        "pipeline"
    } else {
        "workflow run"
    };
    if me.other_workflow(other) {
        let job = if other.job.is_empty() {
            "a job".to_string()
        } else {
            format!("job {}", name(&other.job, md))
        };
        format!("{job} of workflow {}", name(base_name(&other.workflow), md))
    } else if same_job(me, other) {
        // In the log, also the other way it happens: a second codeloop step in one job.
        let step = if md {
            ""
        } else {
            " (or another codeloop step of it)"
        };
        format!(
            "another leg of the matrix job {}{step} in this {run}",
            name(&me.job, md)
        )
    } else if other.job.is_empty() {
        format!("another job of this {run}")
    } else {
        format!("job {} of this {run}", name(&other.job, md))
    }
}

fn same_job(me: &Writer, other: &Writer) -> bool {
    other.job == me.job && !me.job.is_empty() && !me.other_workflow(other)
}

/// How to give each job its own comment, in the words of the forge.
fn fix(me: &Writer, other: &Writer) -> String {
    let each = if same_job(me, other) { "leg" } else { "job" };
    if me.ci == "gitlab" {
        format!("give each {each} its own `--comment-key` (e.g. `--comment-key \"$CI_JOB_NAME\"`)")
    } else if same_job(me, other) {
        "give each leg its own `comment-key` (e.g. `comment-key: ${{ matrix.os }}`), or merge the legs in one fan-in job (`merge:`)".into()
    } else {
        "give each job its own `comment-key` (e.g. `comment-key: backend`)".into()
    }
}

/// What the forge calls the sticky comment.
fn comment(me: &Writer) -> &'static str {
    if me.ci == "gitlab" {
        "MR note"
    } else {
        "PR comment"
    }
}

/// Capitalizes the first letter of `s`.
fn sentence(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The line before a notice: a body that has it says it is shared already. Untrusted text
/// never holds `<` (see [`crate::report::escape`]), so a test name cannot fake it.
/// Not a `codeloop-verify:` hidden line, which `fit_comment` moves to the end.
pub const NOTICE_TAG: &str = "<!-- codeloop:shared -->";

/// Whether `body` carries a notice already.
pub fn has_notice(body: &str) -> bool {
    body.contains(NOTICE_TAG)
}

/// The notice a shared comment carries, under its heading.
pub fn notice(me: &Writer, other: &Writer) -> String {
    let mine = if me.other_workflow(other) {
        format!("workflow {}'s", name(base_name(&me.workflow), true))
    } else if me.job.is_empty() {
        "this job's".to_string()
    } else if same_job(me, other) {
        "one leg's".to_string()
    } else {
        format!("job {}'s", name(&me.job, true))
    };
    let this = if me.ci == "gitlab" { "note" } else { "comment" };
    format!(
        "{NOTICE_TAG}\n> [!WARNING]\n> {} writes this {this} too, so each replaces the other's results: it shows {mine} only. {}.\n",
        sentence(&who(me, other, true)),
        sentence(&fix(me, other))
    )
}

/// The log's warning for a shared comment: `kept` when it was left as the other job wrote
/// it (that job failed, this one passed); `said` when the log has the shared warning already
/// (the fix is not repeated).
pub fn warning(me: &Writer, other: &Writer, kept: bool, said: bool) -> String {
    let (who, fix, comment) = (who(me, other, false), fix(me, other), comment(me));
    if kept {
        let elsewhere = if me.ci == "gitlab" {
            "its job log and report artifacts"
        } else {
            "its job summary"
        };
        let what = if said { "that job" } else { who.as_str() };
        let fix = if said {
            String::new()
        } else {
            format!(" To keep their comments apart, {fix}")
        };
        format!(
            "the {comment} is left as {what} wrote it: that job failed and this one passed, and a passing job does not hide a failure; this job's result is in {elsewhere}.{fix}"
        )
    } else {
        format!(
            "the {comment} is shared: {who} writes it too, and each replaces the other's results (it is not this run's baseline either). To keep them apart, {fix}"
        )
    }
}

/// `body` with `notice` under its first heading (a `#` line after the marker), or under the
/// marker when a template has no heading.
pub fn insert_notice(body: &str, notice: &str) -> String {
    let mut at = None;
    let mut offset = 0;
    for (i, line) in body.split_inclusive('\n').enumerate() {
        offset += line.len();
        if i == 0 && line.starts_with(MARKER) {
            at = Some(offset);
            continue;
        }
        if line.starts_with('#') {
            at = Some(offset);
            break;
        }
        if i > 8 {
            break;
        }
    }
    let at = at.unwrap_or(0);
    let (head, tail) = body.split_at(at);
    let before = if head.is_empty() || head.ends_with('\n') {
        "\n"
    } else {
        "\n\n"
    };
    // One blank line after the notice (the heading usually has one under it already).
    let after = if tail.starts_with('\n') { "" } else { "\n" };
    format!("{head}{before}{notice}{after}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env::from_pairs(vars.iter().copied())
    }

    fn gh(run: &str, job: &str) -> Writer {
        Writer {
            ci: "github".into(),
            run: run.into(),
            job: job.into(),
            workflow: String::new(),
            commit: String::new(),
        }
    }

    fn gl(pipeline: &str, job: &str) -> Writer {
        Writer {
            ci: "gitlab".into(),
            run: pipeline.into(),
            job: job.into(),
            workflow: String::new(),
            commit: String::new(),
        }
    }

    #[test]
    fn the_writer_comes_from_the_forge_s_run_and_job() {
        let w = Writer::from_env(&env(&[
            ("GITHUB_RUN_ID", "4242"),
            ("GITHUB_RUN_ATTEMPT", "2"),
            ("GITHUB_JOB", "test"),
        ]));
        assert_eq!(w, Some(gh("4242.2", "test")));
        let w = Writer::from_env(&env(&[("GITHUB_RUN_ID", "7")]));
        assert_eq!(w, Some(gh("7.1", "")));
        let w = Writer::from_env(&env(&[
            ("CI_PIPELINE_ID", "99"),
            ("CI_JOB_NAME", "test: [linux, 3.12]"),
        ]));
        assert_eq!(w, Some(gl("99", "test: [linux, 3.12]")));
        assert_eq!(Writer::from_env(&env(&[("CI", "true")])), None);
    }

    #[test]
    fn another_job_of_the_same_run_shares_and_a_retry_or_a_new_run_does_not() {
        // GitHub: a matrix's legs share the job id; a re-run is a new attempt.
        assert!(gh("1.1", "test").shares_with(&gh("1.1", "test")));
        assert!(gh("1.1", "backend").shares_with(&gh("1.1", "frontend")));
        assert!(!gh("1.2", "test").shares_with(&gh("1.1", "test")));
        assert!(!gh("2.1", "test").shares_with(&gh("1.1", "test")));
        // GitLab: legs have their own names; a retried job keeps its name.
        assert!(gl("9", "test 1/2").shares_with(&gl("9", "test 2/2")));
        assert!(!gl("9", "test").shares_with(&gl("9", "test")));
        assert!(!gl("10", "a").shares_with(&gl("9", "b")));
        assert!(!gl("9", "a").shares_with(&gh("9", "b")));
    }

    fn wf(run: &str, job: &str, workflow: &str, commit: &str) -> Writer {
        Writer {
            workflow: format!(".github/workflows/{workflow}"),
            commit: commit.into(),
            ..gh(run, job)
        }
    }

    /// A monorepo's per-directory workflows, each started by the same push: two runs, one
    /// comment. A failure of the same commit is kept; an older push's is not (it is stale).
    #[test]
    fn another_workflow_shares_and_keeps_only_a_failure_of_the_same_commit() {
        use crate::model::Verdict::{Fail, Pass};
        let w = Writer::from_env(&env(&[
            ("GITHUB_RUN_ID", "70"),
            ("GITHUB_JOB", "test"),
            ("GITHUB_EVENT_NAME", "pull_request"),
            ("GITHUB_SHA", "0123456789abcdef0123"),
            (
                "GITHUB_WORKFLOW_REF",
                "octo/app/.github/workflows/frontend.yml@refs/pull/7/merge",
            ),
        ]))
        .unwrap();
        assert_eq!(w, wf("70.1", "test", "frontend.yml", "0123456789ab"));
        // A workflow_run job posts another workflow's results: no workflow of its own.
        let posting = Writer::from_env(&env(&[
            ("GITHUB_RUN_ID", "71"),
            ("GITHUB_JOB", "comment"),
            ("GITHUB_EVENT_NAME", "workflow_run"),
            ("GITHUB_SHA", "0123456789abcdef0123"),
            (
                "GITHUB_WORKFLOW_REF",
                "octo/app/.github/workflows/codeloop-comment.yml@refs/heads/main",
            ),
        ]))
        .unwrap();
        assert_eq!(posting, gh("71.1", "comment"));
        assert!(!posting.shares_with(&wf("70.1", "test", "tests.yml", "0123456789ab")));

        let backend = wf("69.1", "test", "backend.yml", "0123456789ab");
        assert!(w.shares_with(&backend));
        assert!(!w.shares_with(&wf("60.1", "test", "frontend.yml", "fedcba987654")));
        // Markers without a workflow (older codeloop, GitLab) are compared as before.
        assert!(!w.shares_with(&gh("69.1", "test")));

        let failed = comment(&backend, Fail);
        assert_eq!(writer_of(&failed), Some(backend.clone()));
        assert_eq!(
            decide(Some(&w), Some(&failed), true),
            Sharing::Keep(backend.clone())
        );
        let older = wf("50.1", "test", "backend.yml", "aaaaaaaaaaaa");
        assert_eq!(
            decide(Some(&w), Some(&comment(&older, Fail)), true),
            Sharing::Shared(older)
        );
        assert_eq!(
            decide(Some(&w), Some(&comment(&backend, Pass)), true),
            Sharing::Shared(backend.clone())
        );
        // Both jobs are called `test`: the words name the workflows, not a matrix.
        let n = notice(&w, &backend);
        assert!(
            n.contains("> Job <code>test</code> of workflow <code>backend.yml</code> writes this comment too, so each replaces the other's results: it shows workflow <code>frontend.yml</code>'s only. Give each job its own `comment-key`"),
            "{n}"
        );
        assert!(!n.contains("matrix"), "{n}");
    }

    /// A re-run (attempt 2) of one leg of an unkeyed matrix finds the comment both legs of
    /// attempt 1 shared: it is shared still (kept when it failed and this leg passed), and no
    /// baseline; nor is a comment written for this same commit (a re-run of the same job),
    /// whose failures are this commit's own: with it as the baseline none would be new.
    #[test]
    fn a_re_run_neither_takes_a_shared_comment_nor_its_own_commit_as_a_baseline() {
        use crate::model::Verdict::{Fail, Pass};
        let leg_a = wf("70.1", "test", "ci.yml", "0123456789ab");
        let me = wf("70.2", "test", "ci.yml", "0123456789ab");
        let failed = comment(&leg_a, Fail);
        let shared = insert_notice(&failed, &notice(&me, &leg_a));
        assert!(has_notice(&shared));
        assert_eq!(
            decide(Some(&me), Some(&shared), true),
            Sharing::Keep(leg_a.clone())
        );
        assert_eq!(
            not_a_baseline(Some(&me), &shared),
            Some("another job of this workflow run wrote it")
        );
        // Without the notice it is this job's own earlier attempt: replaced, as before...
        assert_eq!(decide(Some(&me), Some(&failed), true), Sharing::Alone);
        // ...but of this same commit, so no baseline.
        assert!(
            not_a_baseline(Some(&me), &failed)
                .unwrap()
                .contains("same commit")
        );
        // A comment of an earlier push is the baseline, and another run's notice is not ours.
        let earlier = wf("60.1", "test", "ci.yml", "fedcba987654");
        assert_eq!(not_a_baseline(Some(&me), &comment(&earlier, Fail)), None);
        let other_run = insert_notice(&comment(&earlier, Pass), &notice(&earlier, &leg_a));
        assert_eq!(decide(Some(&me), Some(&other_run), false), Sharing::Alone);
        // GitLab and older markers name no commit: as before.
        assert_eq!(
            not_a_baseline(Some(&gh("9.1", "t")), &comment(&gh("8.1", "t"), Fail)),
            None
        );
    }

    #[test]
    fn the_marker_carries_any_job_name_as_one_word() {
        let w = gl("9", "test: [linux] --> <b>/x");
        let body = with_writer(&format!("{MARKER} key=api run=r1 -->\n## t\n"), Some(&w));
        let first = body.lines().next().unwrap();
        assert!(
            first.starts_with(&format!(
                "{MARKER} ci=gitlab/9/test%3A%20%5Blinux%5D%20--%3E"
            )),
            "{first}"
        );
        assert_eq!(first.matches("-->").count(), 1, "{first}");
        assert_eq!(writer_of(&body), Some(w.clone()));
        // The key is still read as before.
        assert_eq!(crate::publish::github::marker_key(&body), Some(Some("api")));
        // `ci=` after the marker's end is text; damaged values are no writer.
        assert_eq!(writer_of(&format!("{MARKER} -->\nci=github/1.1/t")), None);
        assert_eq!(writer_of(&format!("{MARKER} ci=github/1.1 -->")), None);
        assert_eq!(writer_of(&format!("{MARKER} ci=github/1.1/%G0 -->")), None);
        assert_eq!(with_writer("no marker", Some(&w)), "no marker");
    }

    fn comment(w: &Writer, verdict: crate::model::Verdict) -> String {
        let state = crate::report::state::HiddenState {
            v: 1,
            run_id: "r1".into(),
            verdict: Some(verdict.as_str().into()),
            ..Default::default()
        };
        let body = format!(
            "{MARKER} run=r1 -->\n## x\n{}\n",
            crate::report::state::encode(&state)
        );
        with_writer(&body, Some(w))
    }

    #[test]
    fn a_passing_leg_keeps_a_failing_leg_s_comment_and_replaces_a_passing_one() {
        use crate::model::Verdict::{Fail, Pass};
        let me = gh("5.1", "test");
        let failed = comment(&gh("5.1", "test"), Fail);
        let passed = comment(&gh("5.1", "test"), Pass);
        let earlier_run = comment(&gh("4.1", "test"), Fail);
        assert_eq!(
            decide(Some(&me), Some(&failed), true),
            Sharing::Keep(gh("5.1", "test"))
        );
        assert_eq!(
            decide(Some(&me), Some(&failed), false),
            Sharing::Shared(gh("5.1", "test"))
        );
        assert_eq!(
            decide(Some(&me), Some(&passed), true),
            Sharing::Shared(gh("5.1", "test"))
        );
        assert_eq!(decide(Some(&me), Some(&earlier_run), true), Sharing::Alone);
        assert_eq!(decide(None, Some(&failed), true), Sharing::Alone);
        assert_eq!(decide(Some(&me), None, true), Sharing::Alone);
        // A comment of an older codeloop names no writer.
        assert_eq!(
            decide(Some(&me), Some(&format!("{MARKER} run=r0 -->\n")), true),
            Sharing::Alone
        );
    }

    #[test]
    fn the_notice_names_the_other_job_escaped_and_sits_under_the_heading() {
        let n = notice(&gl("9", "test 2/2"), &gl("9", "test <1>/2 @team"));
        assert!(
            n.contains("> Job <code>test &lt;1&gt;/2 @\u{200b}team</code> of this pipeline writes this note too"),
            "{n}"
        );
        assert!(n.contains("--comment-key"), "{n}");
        let n = notice(&gh("5.1", "test"), &gh("5.1", "test"));
        assert!(
            n.contains("> Another leg of the matrix job <code>test</code> in this workflow run writes this comment too"),
            "{n}"
        );
        assert!(n.contains("comment-key: ${{ matrix.os }}"), "{n}");
        let body = format!("{MARKER} run=r1 -->\n## ❌ failed\n\nrest\n");
        let out = insert_notice(&body, &n);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[1], "## ❌ failed");
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], NOTICE_TAG);
        assert_eq!(lines[4], "> [!WARNING]");
        assert_eq!(lines[6], "");
        assert_eq!(lines[7], "rest");
        assert!(has_notice(&out) && !has_notice(&body));
        // No heading: under the marker.
        let out = insert_notice(&format!("{MARKER} run=r1 -->\nplain"), &n);
        assert!(
            out.starts_with(&format!(
                "{MARKER} run=r1 -->\n\n{NOTICE_TAG}\n> [!WARNING]"
            )),
            "{out}"
        );
    }
}
