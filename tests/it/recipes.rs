//! The CI recipes of docs/other-ci.md, run. Each YAML/Groovy block there is marked
//! `<!-- recipe-test: NAME -->`; this test extracts the job scripts of every marked block
//! (GitLab `before_script`/`script` lists, GitHub/CircleCI/Buildkite `run:`/`command:`
//! blocks, Jenkins `sh '''...'''`) and runs them with `sh -e` on a small Python project, in
//! the order and with the environment the CI would give them (GitLab `parallel:` nodes,
//! matrix shards, artifacts handed from one job to the next).
//!
//! Only installation lines are left out — the `curl ... releases/download ...` of the
//! codeloop binary (this build's binary is on PATH instead) and `pip install` (the machine's
//! pytest is used) — so a command in the doc that does not work fails here, and a new block
//! without a marker fails too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::bin;

/// One CI job of a recipe: its name and its shell lines, in order.
#[derive(Debug)]
struct Job {
    name: String,
    lines: Vec<String>,
}

fn doc() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/other-ci.md")).unwrap()
}

/// Marked blocks: recipe name → (language, body).
fn recipes(doc: &str) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    let mut lines = doc.lines().peekable();
    let mut marker: Option<String> = None;
    while let Some(l) = lines.next() {
        if let Some(name) = l
            .trim()
            .strip_prefix("<!-- recipe-test:")
            .and_then(|r| r.strip_suffix("-->"))
        {
            marker = Some(name.trim().to_string());
            continue;
        }
        if let Some(lang) = l.strip_prefix("```").filter(|x| !x.is_empty()) {
            let mut body = String::new();
            for b in lines.by_ref() {
                if b.starts_with("```") {
                    break;
                }
                body.push_str(b);
                body.push('\n');
            }
            if lang == "yaml" || lang == "groovy" {
                let name = marker.take().unwrap_or_else(|| {
                    panic!(
                        "a ```{lang} block of docs/other-ci.md has no recipe-test marker:\n{body}"
                    )
                });
                assert!(
                    out.insert(name.clone(), (lang.to_string(), body)).is_none(),
                    "{name} twice"
                );
            }
        }
        if !l.trim().is_empty() {
            marker = None;
        }
    }
    out
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

/// The jobs of a block, with their scripts (see the module doc).
fn jobs(lang: &str, body: &str) -> Vec<Job> {
    let lines: Vec<&str> = body.lines().collect();
    let mut jobs: Vec<Job> = Vec::new();
    let mut push = |name: &str, new: Vec<String>| match jobs.last_mut() {
        Some(j) if j.name == name => j.lines.extend(new),
        _ => jobs.push(Job {
            name: name.to_string(),
            lines: new,
        }),
    };
    // GitLab and Buildkite jobs are top-level keys; GitHub and CircleCI ones sit under `jobs:`.
    let job_indent = if lines.contains(&"jobs:") { 2 } else { 0 };
    let mut job = String::from("main");
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim_start();
        let base = indent(l);
        if lang == "groovy" {
            if t.starts_with("sh '''") {
                let mut block = Vec::new();
                i += 1;
                while i < lines.len() && lines[i].trim() != "'''" {
                    block.push(lines[i].trim().to_string());
                    i += 1;
                }
                push(&job, block);
            }
            i += 1;
            continue;
        }
        if base == job_indent && t.ends_with(':') && !t.starts_with('-') && !t.starts_with('#') {
            job = t.trim_end_matches(':').to_string();
        }
        let key = t.trim_start_matches("- ");
        if key == "script:" || key == "before_script:" {
            let mut block = Vec::new();
            i += 1;
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > base) {
                if let Some(item) = lines[i].trim().strip_prefix("- ") {
                    block.push(item.to_string());
                }
                i += 1;
            }
            push(&job, block);
            continue;
        }
        if let Some(v) = key
            .strip_prefix("run:")
            .or_else(|| key.strip_prefix("command:"))
        {
            let v = v.trim();
            if v == "|" {
                let mut block = Vec::new();
                i += 1;
                while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > base) {
                    block.push(lines[i].trim().to_string());
                    i += 1;
                }
                push(&job, block);
                continue;
            }
            push(&job, vec![v.to_string()]);
        }
        i += 1;
    }
    jobs
}

/// A job's script as CI runs it: installation lines out, CI-syntax substitutions in.
fn script(job: &Job, subst: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for l in &job.lines {
        let l = l.trim();
        if l.is_empty()
            || l.starts_with('#')
            || l.contains("releases/download/")
            || l.starts_with("pip install")
        {
            continue;
        }
        let mut l = l.to_string();
        for (from, to) in subst {
            l = l.replace(from, to);
        }
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// A Python project with three tests, one of them failing.
fn project(dir: &Path) {
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(
        dir.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\n\n[tool.pytest.ini_options]\ntestpaths = [\"tests\"]\npythonpath = [\".\"]\n",
    )
    .unwrap();
    std::fs::write(dir.join("app.py"), "def add(a, b):\n    return a + b\n").unwrap();
    std::fs::write(
        dir.join("tests/test_app.py"),
        "from app import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\ndef test_add_wrong():\n    assert add(1, 2) == 4\n\n\ndef test_more():\n    assert add(2, 2) == 4\n",
    )
    .unwrap();
}

/// A directory whose `codeloop` is this build's binary (first on PATH).
fn bin_dir(root: &Path) -> PathBuf {
    let d = root.join("bin");
    std::fs::create_dir_all(&d).unwrap();
    std::os::unix::fs::symlink(bin(), d.join("codeloop")).unwrap();
    d
}

struct Ran {
    code: Option<i32>,
    out: String,
}

fn run(ws: &Path, bin_dir: &Path, script: &str, env: &[(&str, &str)]) -> Ran {
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("sh");
    cmd.arg("-e").arg("-c").arg(script).current_dir(ws);
    // Nothing of the machine's (or this test runner's) CI may leak into the recipe's job.
    for (k, _) in std::env::vars() {
        if k.starts_with("GITHUB_")
            || k.starts_with("CI_")
            || k.starts_with("CODELOOP_")
            || k.starts_with("INPUT_")
            || ["CI", "GITLAB_CI", "ACT", "GITLAB_TOKEN", "BUILDKITE"].contains(&k.as_str())
        {
            cmd.env_remove(k);
        }
    }
    cmd.env("PATH", path)
        .env("CI", "true")
        .envs(env.iter().copied());
    let o = cmd.output().unwrap();
    Ran {
        code: o.status.code(),
        out: format!(
            "--- script\n{script}--- stdout\n{}--- stderr\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    }
}

/// What every recipe must leave behind: the gate failed on `test_add_wrong` (exit 1), and
/// the report files the CI's artifacts point at.
fn assert_failed_with_report(r: &Ran, report: &Path) {
    assert_eq!(r.code, Some(1), "{}", r.out);
    for f in [
        "junit.xml",
        "gl-code-quality.json",
        "comment.md",
        "summary.md",
    ] {
        assert!(report.join(f).is_file(), "{} missing\n{}", f, r.out);
    }
    // (Names are escaped for Markdown: `_` is `&#95;`.)
    let comment = std::fs::read_to_string(report.join("comment.md"))
        .unwrap()
        .replace("&#95;", "_");
    assert!(comment.contains("test_add_wrong"), "{comment}");
    assert!(comment.contains("tests/test_app.py"), "{comment}");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walkdir::WalkDir::new(from) {
        let e = e.unwrap();
        let rel = e.path().strip_prefix(from).unwrap();
        let dest = to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
        } else if e.file_type().is_symlink() {
            let _ = std::fs::remove_file(&dest);
            std::os::unix::fs::symlink(std::fs::read_link(e.path()).unwrap(), &dest).unwrap();
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

fn job<'a>(jobs: &'a [Job], name: &str) -> &'a Job {
    jobs.iter()
        .find(|j| j.name == name)
        .unwrap_or_else(|| panic!("no job `{name}` in {jobs:?}"))
}

const GITLAB_ENV: &[(&str, &str)] = &[("GITLAB_CI", "true")];

#[test]
fn every_documented_recipe_runs() {
    let doc = doc();
    let all = recipes(&doc);
    let known = [
        "buildkite",
        "circleci",
        "github-macos",
        "github-macos-setup",
        "github-matrix",
        "gitlab-collect",
        "gitlab-one-job",
        "gitlab-parallel",
        "jenkins",
    ];
    assert_eq!(
        all.keys().map(String::as_str).collect::<Vec<_>>(),
        known,
        "a recipe was added or renamed in docs/other-ci.md: run it here too"
    );
    // The recipes run the machine's pytest (their `pip install` lines are left out): without
    // it every job would fail for a reason that is not the doc's. Said, not hidden.
    let pytest = Command::new("python3")
        .args(["-m", "pytest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !pytest {
        eprintln!("skipped: the recipes need pytest (`python3 -m pip install pytest`)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bins = bin_dir(tmp.path());
    let fresh = |name: &str| {
        let ws = tmp.path().join(name);
        project(&ws);
        ws
    };

    // Single jobs in the project's image: the whole loop in one script.
    for (name, job_name, subst, env) in [
        ("gitlab-one-job", "codeloop", &[][..], GITLAB_ENV),
        ("jenkins", "main", &[][..], &[][..]),
        (
            "buildkite",
            "steps",
            &[("$$", "$")][..],
            &[("BUILDKITE", "true")][..],
        ),
        ("circleci", "test", &[][..], &[][..]),
        ("github-macos-setup", "main", &[][..], &[][..]),
        ("github-macos", "test", &[][..], &[][..]),
    ] {
        let (lang, body) = &all[name];
        let jobs = jobs(lang, body);
        let s = script(job(&jobs, job_name), subst);
        assert!(s.contains("codeloop ci"), "{name}: {s}");
        let ws = fresh(name);
        let r = run(&ws, &bins, &s, env);
        assert_failed_with_report(&r, &ws.join(".codeloop/runs/latest/report"));
        if s.contains("codeloop-report") {
            assert!(
                ws.join("codeloop-report/junit.xml").is_file(),
                "{name}: {}",
                r.out
            );
        }
    }

    // GitLab: tests in any image write a report; codeloop in our image collects it.
    {
        let (lang, body) = &all["gitlab-collect"];
        let jobs = jobs(lang, body);
        let ws = fresh("gitlab-collect");
        let r = run(&ws, &bins, &script(job(&jobs, "tests"), &[]), GITLAB_ENV);
        assert_eq!(r.code, Some(0), "{}", r.out);
        assert!(ws.join("reports/junit.xml").is_file(), "{}", r.out);
        let r = run(&ws, &bins, &script(job(&jobs, "codeloop"), &[]), GITLAB_ENV);
        assert_failed_with_report(&r, &ws.join("codeloop-report"));
    }

    // GitLab `parallel: 2`: each node runs in its own checkout; the fan-in job gets every
    // node's artifacts extracted into one .codeloop/runs/.
    {
        let (lang, body) = &all["gitlab-parallel"];
        let jobs = jobs(lang, body);
        assert!(body.contains("parallel: 2"));
        let fan_in = fresh("gitlab-parallel-fan-in");
        for k in ["1", "2"] {
            let ws = fresh(&format!("gitlab-parallel-{k}"));
            let env = [
                ("GITLAB_CI", "true"),
                ("CI_NODE_INDEX", k),
                ("CI_NODE_TOTAL", "2"),
            ];
            let r = run(&ws, &bins, &script(job(&jobs, "tests"), &[]), &env);
            assert_eq!(r.code, Some(0), "{}", r.out);
            copy_dir(&ws.join(".codeloop/runs"), &fan_in.join(".codeloop/runs"));
        }
        let r = run(
            &fan_in,
            &bins,
            &script(job(&jobs, "codeloop"), &[]),
            GITLAB_ENV,
        );
        assert_failed_with_report(&r, &fan_in.join("codeloop-report"));
        let gate: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fan_in.join("merged-run/gate.json")).unwrap())
                .unwrap();
        // Shard 1 ran pytest whole, shard 2 skipped it: every test counted once.
        assert_eq!(gate["counts"]["tests"], 3, "{gate}");
    }

    // GitHub matrix: four shard jobs, their runs downloaded into shards/<artifact>/, one
    // report job.
    {
        let (lang, body) = &all["github-matrix"];
        let jobs = jobs(lang, body);
        let report = fresh("github-matrix-report");
        for k in ["1", "2", "3", "4"] {
            let ws = fresh(&format!("github-matrix-{k}"));
            let s = script(job(&jobs, "shard"), &[("${{ matrix.shard }}", k)]);
            assert!(s.contains(&format!("--shard {k}/4")), "{s}");
            let r = run(&ws, &bins, &s, &[]);
            assert_eq!(r.code, Some(0), "{}", r.out);
            // upload-artifact of `.codeloop/runs/` without `latest`, then download-artifact
            // with `pattern: codeloop-shard-*` into shards/.
            let dest = report.join(format!("shards/codeloop-shard-{k}"));
            for e in std::fs::read_dir(ws.join(".codeloop/runs")).unwrap() {
                let e = e.unwrap();
                if e.file_name() != "latest" {
                    copy_dir(&e.path(), &dest.join(e.file_name()));
                }
            }
        }
        let r = run(&report, &bins, &script(job(&jobs, "report"), &[]), &[]);
        assert_failed_with_report(&r, &report.join("merged-run/report"));
    }
}

#[test]
fn the_extractor_reads_each_ci_syntax() {
    let gl = "a:\n  before_script:\n    - one\n  script:\n    - two || x=$?\n    # note\n    - exit 0\n  artifacts:\n    paths: [x]\nb:\n  script:\n    - three\n";
    let j = jobs("yaml", gl);
    assert_eq!(j.len(), 2);
    assert_eq!(j[0].lines, ["one", "two || x=$?", "exit 0"]);
    assert_eq!(j[1].name, "b");
    let gh = "jobs:\n  t:\n    steps:\n      - run: echo hi\n      - name: x\n        run: |\n          a\n          b\n      - uses: y\n";
    let j = jobs("yaml", gh);
    assert_eq!(j[0].name, "t");
    assert_eq!(j[0].lines, ["echo hi", "a", "b"]);
    let groovy = "stage {\n  sh '''\n    a\n    b\n  '''\n}\n";
    assert_eq!(jobs("groovy", groovy)[0].lines, ["a", "b"]);
    let s = script(
        &Job {
            name: "x".into(),
            lines: vec![
                "curl -fsSL https://github.com/o/r/releases/download/v1/x.tgz | tar -xz".into(),
                "pip install pytest".into(),
                "codeloop ci || code=$$?".into(),
            ],
        },
        &[("$$", "$")],
    );
    assert_eq!(s, "codeloop ci || code=$?\n");
}
