//! The pipeline: `ci` runs verify → diagnose → gate → report in one process over one
//! in-memory run, and writes the same run directory, byte for byte (run ids, timestamps and
//! wall-clock durations aside), as the stages run one by one over the run directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use crate::common::bin;

/// Every file of the run directory (manifest and events aside), relative path → content,
/// with what differs between two runs of the same inputs normalized.
pub(crate) fn files(run: &Path, ws: &Path, run_id: &str) -> BTreeMap<String, Vec<u8>> {
    let ts = regex::bytes::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
        .unwrap();
    let dur = regex::bytes::Regex::new(r#""duration": [0-9.e-]+"#).unwrap();
    // The comment's hidden state is compressed and holds the run id.
    let state = regex::bytes::Regex::new(r"state:v1 [A-Za-z0-9+/=]+").unwrap();
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(run).sort_by_file_name() {
        let e = e.unwrap();
        if !e.file_type().is_file() {
            continue;
        }
        let rel = e
            .path()
            .strip_prefix(run)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == "manifest.json" || rel == "events.jsonl" {
            continue;
        }
        let mut b = std::fs::read(e.path()).unwrap();
        if !rel.ends_with(".png") {
            let s = String::from_utf8(b).unwrap();
            let s = s
                .replace(&ws.display().to_string(), "WS")
                .replace(run_id, "RUN");
            b = ts.replace_all(s.as_bytes(), &b"TS"[..]).into_owned();
            b = state.replace_all(&b, &b"state:v1 S"[..]).into_owned();
            if rel == "verify.json" {
                // The runner's wall time (cases keep their reported durations elsewhere).
                b = dur.replace_all(&b, &b"\"duration\": D"[..]).into_owned();
            }
        }
        out.insert(rel, b);
    }
    out
}

fn codeloop(ws: &Path, args: &[&str]) -> std::process::Output {
    let o = Command::new(bin())
        .args(args)
        .arg("--cwd")
        .arg(ws)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn workspace(dir: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/reports");
    std::fs::create_dir_all(dir.join("reports")).unwrap();
    for f in ["jest-junit.xml", "pytest-junit.xml"] {
        std::fs::copy(src.join(f), dir.join("reports").join(f)).unwrap();
    }
}

fn only_run(ws: &Path) -> (std::path::PathBuf, String) {
    let runs: Vec<_> = std::fs::read_dir(ws.join(".codeloop/runs"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().unwrap().is_dir())
        .collect();
    assert_eq!(runs.len(), 1);
    let id = runs[0].file_name().to_string_lossy().into_owned();
    (runs[0].path(), id)
}

#[test]
fn ci_writes_what_the_stages_write_one_by_one() {
    let tmp = tempfile::tempdir().unwrap();
    // Same-length workspace paths, so sizes in the manifest compare too.
    let (a, b) = (tmp.path().join("wa"), tmp.path().join("wb"));
    workspace(&a);
    workspace(&b);
    let ci = codeloop(&a, &["ci", "--report", "reports/*.xml"]);
    assert_eq!(ci.status.code(), Some(1));
    codeloop(&b, &["verify", "--report", "reports/*.xml"]);
    codeloop(&b, &["diagnose"]);
    codeloop(&b, &["gate-check"]);
    codeloop(&b, &["report", "--all", "--html"]);
    let (ra, ida) = only_run(&a);
    let (rb, idb) = only_run(&b);
    let fa = files(&ra, &a, &ida);
    let fb = files(&rb, &b, &idb);
    assert_same_files(("ci", &fa), ("stages", &fb));
    for f in [
        "cases.jsonl",
        "report/junit.xml",
        "diagnose.json",
        "gate.json",
    ] {
        assert!(fa.contains_key(f), "{f} written");
    }
    // The manifest lists the same files, each with the size and hash of the file on disk
    // (taken while writing, never read back: they must still be right).
    for run in [&ra, &rb] {
        assert_manifest_matches_disk(run);
    }
}

/// Two run directories' files (see [`files`]) are the same, name by name and byte for byte.
pub(crate) fn assert_same_files(
    (a, fa): (&str, &BTreeMap<String, Vec<u8>>),
    (b, fb): (&str, &BTreeMap<String, Vec<u8>>),
) {
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files"
    );
    for (name, bytes) in fa {
        assert!(
            bytes == &fb[name],
            "{name} differs:\n--- {a}\n{}\n--- {b}\n{}",
            String::from_utf8_lossy(bytes),
            String::from_utf8_lossy(&fb[name])
        );
    }
}

/// The run's manifest lists every file on disk, in order, each with the size and sha256 of
/// the file (taken while writing, never read back: they must still be right).
pub(crate) fn assert_manifest_matches_disk(run: &Path) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("manifest.json")).unwrap()).unwrap();
    let listed: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let mut on_disk: Vec<String> = walkdir::WalkDir::new(run)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(run)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|p| p != "manifest.json")
        .collect();
    on_disk.sort();
    assert_eq!(listed, on_disk);
    for f in m["files"].as_array().unwrap() {
        // events.jsonl is appended to by later stages (their stage events).
        if f["path"] == "events.jsonl" {
            continue;
        }
        let p = run.join(f["path"].as_str().unwrap());
        let bytes = std::fs::read(&p).unwrap();
        use sha2::Digest;
        let sha: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(f["bytes"].as_u64(), Some(bytes.len() as u64), "{p:?}");
        assert_eq!(f["sha256"].as_str(), Some(sha.as_str()), "{p:?}");
    }
}
