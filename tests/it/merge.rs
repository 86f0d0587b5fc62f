//! `codeloop verify --shard K/N` and `codeloop merge` end to end on examples/demo: four
//! shards fold into the same counts as one unsharded run; bad shards are named; missing
//! shards fail the gate under `require: ["shards"]`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sha2::Digest as _;

use crate::common::bin;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn codeloop(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env("CI", "true")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env_remove("CODELOOP_SHARD")
        .env_remove("CI_NODE_INDEX")
        .env_remove("CI_NODE_TOTAL")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .expect("run codeloop")
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

fn read(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// Runs verify (optionally sharded) with its runs under `artifacts`; returns the run dir.
fn verify(project: &Path, artifacts: &Path, shard: Option<&str>) -> PathBuf {
    let mut args = vec![
        "verify",
        "--cwd",
        project.to_str().unwrap(),
        "--artifacts-dir",
        artifacts.to_str().unwrap(),
        "--format",
        "json",
    ];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let out = codeloop(&args);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", text(&out.stdout), text(&out.stderr)));
    PathBuf::from(v["run_dir"].as_str().unwrap())
}

fn counts(run: &Path) -> (Value, Value, Vec<(String, Value, Value)>) {
    let v = read(&run.join("verify.json"));
    let mut per: Vec<(String, Value, Value)> = v["runners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["counts"].clone(),
                r["lint"].clone(),
            )
        })
        .collect();
    per.sort_by(|a, b| a.0.cmp(&b.0));
    (v["totals"].clone(), v["lint"].clone(), per)
}

struct Shards {
    _tmp: tempfile::TempDir,
    project: PathBuf,
    dirs: Vec<PathBuf>,
}

fn four_shards() -> Shards {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &project);
    let dirs = (1..=4)
        .map(|k| {
            verify(
                &project,
                &tmp.path().join(format!("shard{k}")),
                Some(&format!("{k}/4")),
            )
        })
        .collect();
    Shards {
        _tmp: tmp,
        project,
        dirs,
    }
}

#[test]
fn four_demo_shards_merge_to_the_counts_of_one_unsharded_run() {
    let s = four_shards();
    for (k, d) in s.dirs.iter().enumerate() {
        let m = read(&d.join("manifest.json"));
        assert_eq!(m["shard"]["index"], k as u64 + 1);
        assert_eq!(m["shard"]["total"], 4);
        assert_eq!(read(&d.join("verify.json"))["shard"], m["shard"]);
    }
    // Shards 2–4 run only what every shard needs (build); the demo's plugin runners are whole
    // in shard 1.
    let (t2, _, _) = counts(&s.dirs[1]);
    assert_eq!(t2["tests"], 0);

    let whole = verify(&s.project, &s.project.join("whole"), None);
    let out_dir = s.project.join("merged-run");
    let mut args = vec!["merge", "--cwd", s.project.to_str().unwrap(), "--out"];
    args.push(out_dir.to_str().unwrap());
    let dirs: Vec<String> = s.dirs.iter().map(|d| d.display().to_string()).collect();
    args.extend(dirs.iter().map(String::as_str));
    let out = codeloop(&args);
    let stdout = text(&out.stdout);
    // The demo fails its gate: the merged run must too, with the same code as `ci`.
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("4 run(s) of 4 shard(s)"), "{stdout}");
    assert!(
        !text(&out.stderr).contains("missing shard"),
        "{}",
        text(&out.stderr)
    );

    let (mt, ml, mper) = counts(&out_dir);
    let (wt, wl, wper) = counts(&whole);
    assert_eq!(mt, wt, "totals");
    assert_eq!(ml, wl, "lint");
    assert_eq!(mper, wper, "per runner");
    assert_eq!(wt["tests"], 27);
    // Same cases, same statuses.
    let lines = |p: &Path| {
        let mut v: Vec<String> = std::fs::read_to_string(p.join("cases.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let c: Value = serde_json::from_str(l).unwrap();
                format!("{}|{}|{}", c["runner"], c["name"], c["status"])
            })
            .collect();
        v.sort();
        v
    };
    assert_eq!(lines(&out_dir), lines(&whole));
    // Complete, diagnosed, gated, reported, and the shards' own files kept.
    assert!(out_dir.join("manifest.json").is_file());
    assert!(out_dir.join("gate.json").is_file());
    assert!(out_dir.join("report/junit.xml").is_file());
    assert!(out_dir.join("report/gl-code-quality.json").is_file());
    let v = read(&out_dir.join("verify.json"));
    let pytest = v["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "pytest")
        .unwrap();
    let copy = pytest["result_files"][0]["copy"].as_str().unwrap();
    assert!(copy.starts_with("shards/"), "{copy}");
    assert!(out_dir.join(copy).is_file(), "{copy}");
    let merge = read(&out_dir.join("merge.json"));
    assert_eq!(merge["sources"].as_array().unwrap().len(), 4);
    assert_eq!(merge["expected_shards"], 4);
}

#[test]
fn bad_shards_are_named_and_missing_shards_fail_a_gate_that_requires_them() {
    let s = four_shards();
    // Shard 3 never uploaded; shard 2 was cut off before its manifest; shard 1 twice.
    std::fs::remove_file(s.dirs[1].join("manifest.json")).unwrap();
    std::fs::create_dir_all(s.project.join(".codeloop")).unwrap();
    std::fs::write(
        s.project.join(".codeloop/config.json"),
        r#"{"gate": {"require": ["shards"], "max_failures": 100, "min_score": 0}}"#,
    )
    .unwrap();
    let out_dir = s.project.join("m");
    let dup = s.project.join("dup");
    copy_dir(&s.dirs[0], &dup);
    let args: Vec<String> = [
        "merge".to_string(),
        "--cwd".into(),
        s.project.display().to_string(),
        "--out".into(),
        out_dir.display().to_string(),
        s.dirs[0].display().to_string(),
        dup.display().to_string(),
        s.dirs[1].display().to_string(),
        s.dirs[3].display().to_string(),
    ]
    .into();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = codeloop(&args);
    let err = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert!(err.contains("no manifest.json"), "{err}");
    assert!(err.contains("was already merged"), "{err}");
    assert!(err.contains("missing shard(s) 3 of 4"), "{err}");
    // Results are still merged (shard 1 holds the demo's tests) ...
    let (t, _, _) = counts(&out_dir);
    assert_eq!(t["tests"], 27);
    // ... but the gate requires every shard: exit 3 (required results missing).
    assert_eq!(out.status.code(), Some(3), "{stdout}\n{err}");
    let gate = read(&out_dir.join("gate.json"));
    let text_gate = gate.to_string();
    assert!(text_gate.contains("shard-3-of-4"), "{text_gate}");

    // Nothing to merge at all: a clear error, exit 3.
    let empty = s.project.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = codeloop(&[
        "merge",
        "--cwd",
        s.project.to_str().unwrap(),
        empty.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("nothing to merge"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_bad_shard_spec_is_a_usage_error_and_gitlab_parallel_maps_to_the_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &project);
    let out = codeloop(&[
        "verify",
        "--cwd",
        project.to_str().unwrap(),
        "--shard",
        "5/4",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid shard `5/4`"),
        "{}",
        text(&out.stderr)
    );
    let out = Command::new(bin())
        .args([
            "verify",
            "--cwd",
            project.to_str().unwrap(),
            "--format",
            "json",
        ])
        .env("CI", "true")
        .env_remove("CODELOOP_SHARD")
        .env("CI_NODE_INDEX", "2")
        .env("CI_NODE_TOTAL", "3")
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shard"]["index"], 2);
    assert_eq!(v["shard"]["total"], 3);
    assert_eq!(v["totals"]["tests"], 0);
}

#[test]
fn the_action_merge_input_folds_downloaded_shards_and_comments_once() {
    let s = four_shards();
    // What actions/download-artifact leaves: one folder per shard artifact.
    for (k, d) in s.dirs.iter().enumerate() {
        copy_dir(
            d,
            &s.project
                .join(format!("shards/codeloop-shard-{}", k + 1))
                .join(d.file_name().unwrap()),
        );
    }
    let out = Command::new(bin())
        .arg("action")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_REPOSITORY")
        .env_remove("CODELOOP_ARTIFACTS_DIR")
        .env("GITHUB_WORKSPACE", &s.project)
        .env("INPUT_MERGE", "shards/*/*")
        .env("INPUT_DRY-RUN", "true")
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("4 run(s) of 4 shard(s)"),
        "{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains("the PR comment would be"), "{stdout}");
    assert!(stdout.contains("**10** failed"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
}

/// A case line as the tests below write it: runner, classname, name, status, flaky.
type CaseRow<'a> = (&'a str, &'a str, String, &'a str, bool);

/// Writes a shard run directory by hand: verify.json, manifest.json (unless `complete` is
/// false) and cases.jsonl with `cases` as (runner, classname, name, status, flaky).
fn write_shard(dir: &Path, run_id: &str, shard: (u32, u32), complete: bool, cases: &[CaseRow]) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for (runner, classname, name, status, flaky) in cases {
        let mut c = serde_json::json!({"runner": runner, "classname": classname, "name": name,
            "status": status, "duration": 0.001});
        if *flaky {
            c["flaky"] = true.into();
        }
        lines.push_str(&format!("{c}\n"));
    }
    std::fs::write(dir.join("cases.jsonl"), lines).unwrap();
    let shard = serde_json::json!({"index": shard.0, "total": shard.1});
    let zero = serde_json::json!({"tests": 0, "passed": 0, "failed": 0, "errored": 0,
        "skipped": 0, "flaky": 0});
    let lint = serde_json::json!({"errors": 0, "warnings": 0, "notes": 0});
    let runner = |id: &str| {
        serde_json::json!({"id": id, "kind": "test", "source": "builtin", "status": "failed",
            "duration": 1.0, "counts": zero, "lint": lint})
    };
    let verify = serde_json::json!({"schema_version": 1, "run_id": run_id, "started_at": "x",
        "finished_at": "x", "status": "failed", "cwd": "/p", "shard": shard,
        "runners": [runner("t"), runner("u")], "totals": zero, "lint": lint, "slowest": []});
    std::fs::write(dir.join("verify.json"), verify.to_string()).unwrap();
    if complete {
        let manifest = serde_json::json!({"schema_version": 1, "run_id": run_id,
            "tool": "codeloop", "tool_version": "0", "started_at": "x", "finished_at": "x",
            "status": "failed", "shard": shard, "context": {"sha": "abc"}, "files": []});
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    }
}

fn status_rank(s: &str) -> u8 {
    match s {
        "skipped" => 0,
        "passed" => 1,
        "failed" => 2,
        _ => 3,
    }
}

/// The merge rules written plainly over every case in memory (the old fold's case rules): the
/// j-th occurrence of a key in one shard folds into the j-th merged one, worst status, flaky
/// when one shard failed it and another passed it. Sorted "runner|classname|name|status|flaky".
fn naive_merge(shards: &[Vec<CaseRow>]) -> Vec<String> {
    let mut merged: Vec<(String, String, bool)> = Vec::new();
    let mut index: std::collections::HashMap<String, Vec<usize>> = Default::default();
    for cases in shards {
        let mut local: std::collections::HashMap<String, usize> = Default::default();
        for (runner, classname, name, status, flaky) in cases {
            let key = format!("{runner}|{classname}|{name}");
            let n = local.entry(key.clone()).or_insert(0);
            let slots = index.entry(key.clone()).or_default();
            if let Some(&i) = slots.get(*n) {
                let a = &mut merged[i];
                let bad = |s: &str| matches!(s, "failed" | "errored");
                if (bad(&a.1) || bad(status)) && (a.1 == "passed" || *status == "passed") {
                    a.2 = true;
                }
                a.2 |= *flaky;
                if status_rank(status) > status_rank(&a.1) {
                    a.1 = status.to_string();
                }
            } else {
                slots.push(merged.len());
                merged.push((key, status.to_string(), *flaky));
            }
            *n += 1;
        }
    }
    let mut out: Vec<String> = merged
        .into_iter()
        .map(|(k, s, f)| format!("{k}|{s}|{f}"))
        .collect();
    out.sort();
    out
}

#[test]
fn streamed_merge_folds_tests_seen_by_several_shards_and_keeps_repeats_inside_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Three shards of 3,000 cases: each repeats the last third of the one before (duplicates
    // across shards), names repeat inside a shard (parametrized tests), a second runner, the
    // third shard has no manifest (merged as far as it goes).
    let statuses = ["passed", "passed", "passed", "failed", "errored", "skipped"];
    let mut shards = Vec::new();
    for k in 0..3u32 {
        let mut cases = Vec::new();
        for i in 0..3000u32 {
            let n = k * 2000 + i;
            let name = if n % 10 == 0 {
                format!("param_{}", n % 70)
            } else {
                format!("test_{n}")
            };
            let runner = if n % 7 == 0 { "u" } else { "t" };
            let status = statuses[((n * 31 + k * 17) % 6) as usize];
            cases.push((runner, "pkg.C", name, status, n % 97 == 0));
        }
        shards.push(cases);
    }
    let mut dirs = Vec::new();
    for (k, cases) in shards.iter().enumerate() {
        let d = tmp.path().join(format!("in/run{k}"));
        let k = u32::try_from(k).unwrap();
        write_shard(&d, &format!("R{k}"), (k + 1, 3), k != 2, cases);
        dirs.push(d);
    }
    let out_dir = tmp.path().join("out");
    let out = codeloop(&[
        "merge",
        "--cwd",
        tmp.path().to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
        "--no-gate",
        tmp.path().join("in").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let want = naive_merge(&shards);
    let body = std::fs::read_to_string(out_dir.join("cases.jsonl")).unwrap();
    let mut got: Vec<String> = body
        .lines()
        .map(|l| {
            let c: Value = serde_json::from_str(l).unwrap();
            format!(
                "{}|{}|{}|{}|{}",
                c["runner"].as_str().unwrap(),
                c["classname"].as_str().unwrap(),
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["flaky"].as_bool().unwrap_or(false)
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    // Counts per runner and in total are the merged cases'.
    let (t, _, per) = counts(&out_dir);
    let count = |runner: Option<&str>, field: &str| -> u64 {
        want.iter()
            .filter(|l| runner.is_none_or(|r| l.starts_with(&format!("{r}|"))))
            .filter(|l| match field {
                "tests" => true,
                "flaky" => l.ends_with("|true"),
                s => l.contains(&format!("|{s}|")),
            })
            .count() as u64
    };
    for field in ["tests", "passed", "failed", "errored", "skipped", "flaky"] {
        assert_eq!(t[field], count(None, field), "{field}");
        for (id, c, _) in &per {
            assert_eq!(c[field], count(Some(id), field), "{id} {field}");
        }
    }
    assert!(t["flaky"].as_u64().unwrap() > 0);
    assert!(text(&out.stderr).contains("no manifest.json"));
}

/// `merge` into `<tmp>/merged-from-memory` (diagnose → gate → report from what its fold kept
/// in memory), and into `<tmp>/merged-from-stages` with `--no-gate` followed by the stages
/// one by one over that run directory (each reading what the one before wrote): the same
/// files, byte for byte once run ids and timestamps are normalized, and manifests whose
/// sizes and hashes are those of the files on disk. Returns the in-memory run's files.
fn assert_merge_writes_what_the_stages_write(
    tmp: &Path,
    cwd: &Path,
    dirs: &[PathBuf],
) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let cwd_s = cwd.to_str().unwrap();
    // Same-length names: sizes compare too.
    let (a, b) = (
        tmp.join("merged-from-memory"),
        tmp.join("merged-from-stages"),
    );
    let merge = |out: &Path, extra: &[&str]| {
        let mut args = vec!["merge", "--cwd", cwd_s, "--out", out.to_str().unwrap()];
        args.extend(extra);
        args.extend(dirs.iter().map(String::as_str));
        let o = codeloop(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
    };
    merge(&a, &[]);
    merge(&b, &["--no-gate"]);
    assert!(!b.join("diagnose.json").exists(), "--no-gate runs no stage");
    let b_s = b.to_str().unwrap();
    for stage in [
        &["diagnose", "--run", b_s][..],
        &["gate-check", "--run", b_s],
        &["report", "--run", b_s, "--all", "--html"],
    ] {
        let mut args = stage.to_vec();
        args.extend(["--cwd", cwd_s]);
        let o = codeloop(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{stage:?}: {}",
            text(&o.stderr)
        );
    }
    let fa = crate::pipeline::files(&a, cwd, "merged-from-memory");
    let fb = crate::pipeline::files(&b, cwd, "merged-from-stages");
    crate::pipeline::assert_same_files(("merge", &fa), ("stages", &fb));
    for f in [
        "cases.jsonl",
        "diagnose.json",
        "gate.json",
        "report/junit.xml",
        "report/index.html",
        "report/comment.md",
        "report/codeloop.sarif",
    ] {
        assert!(fa.contains_key(f), "{f} written");
    }
    // Every file is listed with the size and sha256 of what is on disk (the shards' copies
    // and the merged cases are hashed while written, never read back: they must be right).
    for run in [&a, &b] {
        crate::pipeline::assert_manifest_matches_disk(run);
    }
    fa
}

#[test]
fn merge_writes_from_memory_what_the_stages_write_over_the_merged_run() {
    // The demo's four shards: runners with logs, result files, lint findings, a failing gate.
    let s = four_shards();
    let tmp = tempfile::tempdir().unwrap();
    let files = assert_merge_writes_what_the_stages_write(tmp.path(), &s.project, &s.dirs);
    let junit = text(&files["report/junit.xml"]);
    assert!(junit.contains("<failure"), "{junit}");

    // Tests seen by several shards and repeated inside one, failing, errored, flaky and
    // skipped ones, a shard without its manifest.
    let tmp = tempfile::tempdir().unwrap();
    let statuses = ["passed", "failed", "passed", "errored", "skipped", "passed"];
    let mut dirs = Vec::new();
    for k in 0..3u32 {
        let cases: Vec<CaseRow> = (0..400u32)
            .map(|i| {
                let n = k * 300 + i;
                let name = if n % 9 == 0 {
                    format!("param_{}", n % 40)
                } else {
                    format!("test_{n}")
                };
                let runner = if n % 5 == 0 { "u" } else { "t" };
                let status = statuses[((n * 7 + k * 3) % 6) as usize];
                (runner, "pkg.C", name, status, n % 41 == 0)
            })
            .collect();
        let d = tmp.path().join(format!("in/run{k}"));
        write_shard(&d, &format!("R{k}"), (k + 1, 3), k != 1, &cases);
        dirs.push(d);
    }
    let files = assert_merge_writes_what_the_stages_write(tmp.path(), tmp.path(), &dirs);
    let diagnose = text(&files["diagnose.json"]);
    assert!(diagnose.contains("param_"), "{diagnose}");
    assert!(text(&files["report/index.html"]).contains("flaky"));
}

/// The shards' files in a merged run carry the sha256 their shard's manifest recorded when
/// the copy has the recorded size (no second read of what the shard job already hashed):
/// the merged manifest matches the files on disk, a file changed in place since its shard
/// wrote it (same size) keeps the shard's hash, so a check of the merged run fails on it as
/// a check of the shard does, and a file of another size is hashed as it is now.
#[test]
fn merged_shard_files_carry_their_manifests_hashes() {
    let s = four_shards();
    let tmp = tempfile::tempdir().unwrap();
    let merge_to = |name: &str| -> PathBuf {
        let out_dir = tmp.path().join(name);
        let mut args = vec![
            "merge",
            "--cwd",
            s.project.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--no-gate",
        ];
        args.extend(s.dirs.iter().map(|d| d.to_str().unwrap()));
        let out = codeloop(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        out_dir
    };
    let clean = merge_to("clean");
    crate::pipeline::assert_manifest_matches_disk(&clean);
    let listed = |run: &Path, rel: &str| -> (u64, String) {
        let m = read(&run.join("manifest.json"));
        let f = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == rel)
            .unwrap_or_else(|| panic!("{rel} not in {}", run.display()))
            .clone();
        (
            f["bytes"].as_u64().unwrap(),
            f["sha256"].as_str().unwrap().to_string(),
        )
    };
    let sha = |p: &Path| -> String {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(std::fs::read(p).unwrap()))
    };
    // Shard 1: cases.jsonl changed in place (one byte, same size); shard 2: cases.jsonl
    // grown by a line.
    let shard1 = &s.dirs[0];
    let shard2 = &s.dirs[1];
    let mut body = std::fs::read(shard1.join("cases.jsonl")).unwrap();
    let at = body.iter().position(|b| *b == b'"').unwrap();
    body[at + 1] = body[at + 1].to_ascii_uppercase();
    std::fs::write(shard1.join("cases.jsonl"), &body).unwrap();
    let recorded_1 = listed(shard1, "cases.jsonl");
    assert_ne!(recorded_1.1, sha(&shard1.join("cases.jsonl")));
    let mut grown = std::fs::read(shard2.join("cases.jsonl")).unwrap();
    grown.extend_from_slice(b"{\"runner\":\"x\",\"name\":\"late\",\"status\":\"passed\"}\n");
    std::fs::write(shard2.join("cases.jsonl"), &grown).unwrap();
    let changed = merge_to("changed");
    let id = |d: &Path| {
        read(&d.join("verify.json"))["run_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let rel_1 = format!("shards/{}/cases.jsonl", id(shard1));
    let rel_2 = format!("shards/{}/cases.jsonl", id(shard2));
    assert_eq!(listed(&changed, &rel_1), recorded_1);
    assert_ne!(sha(&changed.join(&rel_1)), recorded_1.1);
    assert_eq!(
        listed(&changed, &rel_2),
        (grown.len() as u64, sha(&changed.join(&rel_2)))
    );
    // Every other file is as its manifest says.
    let m = read(&changed.join("manifest.json"));
    for f in m["files"].as_array().unwrap() {
        let rel = f["path"].as_str().unwrap();
        if rel == rel_1 || rel == "events.jsonl" {
            continue;
        }
        assert_eq!(
            f["sha256"].as_str().unwrap(),
            sha(&changed.join(rel)),
            "{rel}"
        );
    }
}

/// Shards whose tests no other shard ran are written into the merged cases.jsonl as they
/// are (copied whole when the file is exactly its valid lines and holds no secret), the
/// others line by line: blank lines and `\r\n` ends dropped, an invalid line left out, a
/// token masked. Either way the merged file is each shard's cases in shard order, and the
/// full merge (which reads every line for its digest) writes the same bytes and counts.
#[test]
fn shards_with_no_shared_test_merge_to_their_lines_in_order_copied_or_not() {
    let tmp = tempfile::tempdir().unwrap();
    // Both runners the shards' verify.json name have cases (one with none is "no results").
    let line = |k: usize, i: usize, status: &str| {
        let runner = if k == 4 { "u" } else { "t" };
        format!(
            r#"{{"runner":"{runner}","classname":"pkg.C{k}","name":"test_{i}","status":"{status}","duration":0.001}}"#
        )
    };
    let token = format!("ghp_{}", "B".repeat(36));
    let mut bodies = Vec::new();
    let mut want = String::new();
    for k in 0..5 {
        let lines: Vec<String> = (0..300)
            .map(|i| line(k, i, ["passed", "failed", "skipped"][(i * 7 + k) % 3]))
            .collect();
        let mut body = lines.join("\n") + "\n";
        let mut kept = lines.clone();
        match k {
            1 => body = body.replace('\n', "\r\n") + "\n",
            2 => {
                body.push_str("{\"name\":3,\"status\":\"passed\"}\n");
                body = body.trim_end().to_string();
            }
            3 => {
                let secret = line(k, 999, "passed").replace("test_999", &token);
                body.push_str(&format!("{secret}\n"));
                kept.push(secret.replace(&token, "***"));
            }
            _ => {}
        }
        for l in &kept {
            want.push_str(l);
            want.push('\n');
        }
        bodies.push(body);
    }
    for (k, body) in bodies.iter().enumerate() {
        let d = tmp.path().join(format!("in/run{k}"));
        let k = u32::try_from(k).unwrap();
        write_shard(&d, &format!("R{k}"), (k + 1, 5), true, &[]);
        std::fs::write(d.join("cases.jsonl"), body).unwrap();
    }
    let mut runs = Vec::new();
    for (out, flags) in [("plain", vec!["--no-gate"]), ("full", vec![])] {
        let out_dir = tmp.path().join(out);
        let mut args = vec![
            "merge",
            "--cwd",
            tmp.path().to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ];
        args.extend(flags);
        let input = tmp.path().join("in");
        args.push(input.to_str().unwrap());
        let o = codeloop(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{:?}\n{}",
            o.status.code(),
            text(&o.stderr)
        );
        let body = std::fs::read(out_dir.join("cases.jsonl")).unwrap();
        // The manifest's hash is the file's.
        let manifest = read(&out_dir.join("manifest.json"));
        let entry = manifest["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"] == "cases.jsonl")
            .unwrap()
            .clone();
        assert_eq!(entry["bytes"], body.len() as u64);
        let sha: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entry["sha256"], sha.as_str());
        runs.push((String::from_utf8(body).unwrap(), counts(&out_dir).0));
    }
    assert_eq!(runs[0].0, want);
    assert_eq!(runs[1].0, want);
    assert_eq!(runs[0].1, runs[1].1);
    assert_eq!(runs[0].1["tests"], 5 * 300 + 1);
}

/// `codeloop merge` of two shard runs into `dir/merged`, which fails its gate; returns it.
fn merge_two(dir: &Path, runs: &[PathBuf]) -> PathBuf {
    let merged = dir.join("merged");
    let out = codeloop(&[
        "merge",
        "--cwd",
        dir.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
        runs[0].to_str().unwrap(),
        runs[1].to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    merged
}

#[test]
fn an_unreadable_file_in_a_merged_run_names_the_shard_it_was_read_in() {
    // Every shard of a matrix reads the same paths: the merged run must say whose file it was.
    let t = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for k in 1..=2u32 {
        let project = t.path().join(format!("job{k}"));
        std::fs::create_dir_all(project.join("reports")).unwrap();
        std::fs::write(
            project.join("reports/junit.xml"),
            format!(
                r#"<testsuites><testsuite name="s{k}" tests="1"><testcase name="t{k}"/></testsuite></testsuites>"#
            ),
        )
        .unwrap();
        if k == 2 {
            std::fs::write(
                project.join("reports/cut.xml"),
                r#"<testsuites><testsuite name="c" tests="2"><testcase name="a"/><testcase name="b""#,
            )
            .unwrap();
        }
        let artifacts = t.path().join(format!("shards/{k}"));
        let shard = format!("{k}/2");
        let out = codeloop(&[
            "verify",
            "--cwd",
            project.to_str().unwrap(),
            "--artifacts-dir",
            artifacts.to_str().unwrap(),
            "--report",
            "reports/*.xml",
            "--shard",
            &shard,
        ]);
        assert!(out.status.code().is_some(), "{}", text(&out.stderr));
        runs.push(artifacts);
    }
    let merged = merge_two(t.path(), &runs);
    let v = read(&merged.join("verify.json"));
    let issues: Vec<&Value> = v["runners"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["parse_errors"].as_array().unwrap())
        .collect();
    assert_eq!(issues.len(), 1, "{v:#}");
    assert_eq!(issues[0]["file"], "reports/cut.xml");
    assert_eq!(issues[0]["shard"], "2/2");
    let gate = read(&merged.join("gate.json"));
    assert_eq!(
        gate["reasons"][0],
        "1 result file could not be read, so its results are incomplete: `reports/cut.xml` of shard 2/2 truncated at line 1, column 81"
    );
    // Partial results are not a perfect score.
    assert!(gate["score"].as_f64().unwrap() < 100.0, "{gate:#}");
    let diagnose = read(&merged.join("diagnose.json"));
    assert_eq!(
        diagnose["tasks"][0]["title"],
        "cannot read result file `reports/cut.xml` of shard 2/2 at line 1, column 81"
    );
}

#[test]
fn a_runner_that_crashed_in_one_shard_is_named_with_that_shard() {
    // The build runs in every shard; it crashes in shard 2 only.
    let t = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for k in 1..=2u32 {
        let project = t.path().join(format!("job{k}"));
        std::fs::create_dir_all(project.join(".codeloop")).unwrap();
        std::fs::create_dir_all(project.join("reports")).unwrap();
        std::fs::write(
            project.join("reports/junit.xml"),
            r#"<testsuites><testsuite name="s" tests="1"><testcase name="t"/></testsuite></testsuites>"#,
        )
        .unwrap();
        let build = if k == 2 { "kill -SEGV $$" } else { "true" };
        std::fs::write(
            project.join(".codeloop/plugins.json"),
            serde_json::json!({"name": "x", "version": "1", "runners": [
                {"id": "build", "kind": "build", "command": build},
                {"id": "unit", "kind": "test", "command": "cat reports/junit.xml > {run_dir}/r.xml",
                 "result_file": "{run_dir}/r.xml"}
            ]})
            .to_string(),
        )
        .unwrap();
        let artifacts = t.path().join(format!("shards/{k}"));
        verify(&project, &artifacts, Some(&format!("{k}/2")));
        runs.push(artifacts);
    }
    let merged = merge_two(t.path(), &runs);
    let v = read(&merged.join("verify.json"));
    let build = v["runners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "build")
        .unwrap();
    assert_eq!(
        (&build["status"], &build["shards"]),
        (&"crashed".into(), &serde_json::json!(["2/2"]))
    );
    let gate = read(&merged.join("gate.json"));
    let reasons: Vec<&str> = gate["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    // One reason says which build, in which shard, and how; the crash rule fails too, with
    // the same words, and is not repeated among the reasons.
    assert_eq!(
        reasons,
        ["the build failed: `build` in shard 2/2 crashed (killed by signal 11, SIGSEGV)"]
    );
    let crash = gate["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == "crash")
        .unwrap();
    assert_eq!(crash["passed"], false);
    assert_eq!(
        crash["reason"],
        "1 runner crashed, so its results are incomplete: `build` in shard 2/2 (killed by signal 11, SIGSEGV)"
    );
    let diagnose = read(&merged.join("diagnose.json"));
    assert_eq!(
        diagnose["tasks"][0]["title"],
        "runner `build` in shard 2/2 crashed (killed by signal 11, SIGSEGV)"
    );
    // The comment's shard table: shard 2's tests did not fail, its build crashed; it ran
    // only the build (unit runs whole in shard 1).
    let m = read(&merged.join("merge.json"));
    assert_eq!(
        m["sources"][1]["failed"],
        serde_json::json!([{"id": "build", "status": "crashed"}]),
        "{m:#}"
    );
    let comment = std::fs::read_to_string(merged.join("report/comment.md")).unwrap();
    assert!(
        comment.contains("| ❌ | build | build | crashed in shard 2/2 |"),
        "{comment}"
    );
    assert!(comment.contains("| ✅ | 1/2 | build, unit |"), "{comment}");
    assert!(
        comment.contains("| ❌ | 2/2 | build (crashed) |"),
        "{comment}"
    );
}

/// The merged run is the fan-in job's: its manifest (and so the comment's "run" link) names
/// that job, not the first shard's; what the fan-in job's environment leaves out (here the
/// MR) still comes from the shards.
#[test]
fn the_merged_run_links_the_fan_in_job_not_a_shard() {
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("demo");
    copy_dir(&repo().join("examples/demo"), &project);
    let gitlab = |job: &str| {
        vec![
            ("GITLAB_CI", "true".to_string()),
            ("CI_PROJECT_PATH", "group/app".into()),
            (
                "CI_COMMIT_SHA",
                "0123456789abcdef0123456789abcdef01234567".into(),
            ),
            ("CI_SERVER_URL", "https://gitlab.example".into()),
            (
                "CI_JOB_URL",
                format!("https://gitlab.example/group/app/-/jobs/{job}"),
            ),
        ]
    };
    for k in 1..=2 {
        let shard = format!("{k}/2");
        let artifacts = tmp.path().join(format!("shards/s{k}"));
        let mut env = gitlab(&format!("60{k}"));
        env.push(("CI_MERGE_REQUEST_IID", "7".into()));
        let o = Command::new(bin())
            .args([
                "verify",
                "--cwd",
                project.to_str().unwrap(),
                "--artifacts-dir",
            ])
            .arg(&artifacts)
            .args(["--shard", &shard])
            .env_remove("CODELOOP_SHARD")
            .env_remove("CI_NODE_INDEX")
            .env_remove("CI_NODE_TOTAL")
            .env_remove("GITHUB_ACTIONS")
            .envs(env)
            .output()
            .unwrap();
        assert!(
            o.status.code().is_some_and(|c| c <= 1),
            "{}",
            text(&o.stderr)
        );
    }
    let merged = tmp.path().join("merged");
    let o = Command::new(bin())
        .arg("merge")
        .arg(tmp.path().join("shards"))
        .arg("--out")
        .arg(&merged)
        .args(["--cwd", project.to_str().unwrap()])
        .env_remove("GITHUB_ACTIONS")
        .envs(gitlab("6100"))
        .output()
        .unwrap();
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        text(&o.stderr)
    );
    let manifest = read(&merged.join("manifest.json"));
    let ctx = &manifest["context"];
    assert_eq!(
        ctx["run_url"], "https://gitlab.example/group/app/-/jobs/6100",
        "{manifest:#}"
    );
    assert_eq!(ctx["pr_number"], 7, "{manifest:#}");
    assert_eq!(ctx["ci"], "gitlab");
}
