//! The diagnose stage: the I/O around the pure [`crate::diagnose`] core. Takes the failing
//! and flaky cases from the in-memory run (`ci`, `action`, `merge`: [`diagnose_memory`]) or streams
//! cases.jsonl keeping only those (the stage alone: [`diagnose_run`]), reads log tails of runners that left
//! no results, checks every location against the workspace (exists, or resolves a path
//! suffix like a Java `com/x/FooTest.java` to the one file it names), writes diagnose.json,
//! report/codeloop.sarif and report/gl-code-quality.json, refreshes the manifest, and prints
//! GitHub annotations when under GitHub Actions or asked to.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::options::Common;
use crate::artifact::manifest::Manifest;
use crate::artifact::stage::StageEvents;
use crate::artifact::{self, ArtifactError, RunDir};
use crate::diagnose::location::resolve_suffix;
use crate::diagnose::output;
use crate::diagnose::{Diagnoser, Options};
use crate::exit;
use crate::model::{Case, DiagnoseDoc, Finding, Location, VerifyDoc};
use crate::settings::{CONFIG_PATH, Config, SettingsError};

pub const SARIF_FILE: &str = "codeloop.sarif";
pub const CODE_QUALITY_FILE: &str = "gl-code-quality.json";
/// Bytes of a runner's log kept as evidence when it left no results.
const LOG_TAIL: u64 = 4096;
/// Files indexed when resolving path suffixes (bounds the walk on huge monorepos).
const MAX_INDEX: usize = 200_000;
/// Directories never searched when resolving locations.
const SKIP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    ".codeloop",
    ".venv",
    "venv",
    "__pycache__",
    ".tox",
    "vendor",
    ".gradle",
    "bin",
    "obj",
];

/// Errors of the diagnose command. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum DiagnoseError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Settings(#[from] SettingsError),
}

impl DiagnoseError {
    /// Exit code and hint for this error.
    pub fn exit_and_hint(&self) -> (i32, Option<&'static str>) {
        match self {
            DiagnoseError::Artifact(ArtifactError::NoRuns(_))
            | DiagnoseError::Artifact(ArtifactError::NoSuchRun { .. }) => (
                exit::NO_RESULTS,
                Some("run `codeloop verify` (or `codeloop ci`) first, or pass --run ID|DIR"),
            ),
            DiagnoseError::Artifact(ArtifactError::Incomplete(_)) => (
                exit::NO_RESULTS,
                Some("rerun `codeloop verify`; an incomplete run cannot be diagnosed"),
            ),
            DiagnoseError::Artifact(ArtifactError::NewerSchema { .. })
            | DiagnoseError::Artifact(ArtifactError::Invalid { .. }) => (exit::USAGE, None),
            DiagnoseError::Artifact(_) => (exit::INFRA, None),
            DiagnoseError::Settings(_) => (
                exit::USAGE,
                Some(
                    "fix the key in .codeloop/config.json (README.md, \"Configuration\", lists every key; docs/gate.md the `gate` section), or delete it to use the default",
                ),
            ),
        }
    }
}

/// Config file path for these flags.
pub fn config_path(common: &Common) -> PathBuf {
    common
        .config
        .clone()
        .unwrap_or_else(|| common.cwd.join(CONFIG_PATH))
}

/// Artifacts directory: flag/env, then config, then `<cwd>/.codeloop`.
pub fn artifacts_dir(common: &Common, cfg: &Config) -> PathBuf {
    if let Some(d) = &common.artifacts_dir {
        return d.clone();
    }
    if let Some(d) = &cfg.verify.artifacts_dir {
        let p = PathBuf::from(d);
        return if p.is_absolute() {
            p
        } else {
            common.cwd.join(p)
        };
    }
    common.cwd.join(crate::settings::ARTIFACTS_DIR)
}

/// Everything read from a run for diagnose and the gate.
pub struct Loaded {
    pub run: RunDir,
    /// verify.json as read, but with the result files of parse errors named from the
    /// repository root, like the diagnosis's locations (what the gate and report show).
    pub verify: VerifyDoc,
    pub doc: DiagnoseDoc,
    /// Keys of every failed/errored test.
    pub failing: BTreeSet<String>,
    /// Hashes of every test key, when asked for (baselines).
    pub tests: Option<crate::gate::KeySet>,
}

/// Reads a run and diagnoses it (locations checked against `workspace`).
pub fn diagnose_run(
    run: RunDir,
    workspace: &Path,
    want_test_hashes: bool,
) -> Result<Loaded, ArtifactError> {
    let verify = run.verify()?;
    let mut findings: Vec<Finding> = Vec::new();
    run.findings(|f| findings.push(f))?;
    let cases = run.file(artifact::CASES);
    diagnose_fed(
        run,
        verify,
        &findings,
        workspace,
        want_test_hashes,
        DIAGNOSE_BATCH,
        |each: &mut dyn FnMut(Fed)| {
            if !want_test_hashes {
                return stream_cases(&cases, |c| each(Fed::Case(c))).map(drop);
            }
            // Every test's key hash: each line read borrowed; only a case diagnose keeps is
            // built (a passing test is only hashed).
            super::digest::read_case_views(&cases, |c| {
                if c.status.is_bad() || c.flaky {
                    each(Fed::Case(c.to_case()));
                } else {
                    each(Fed::Key(crate::gate::case_key_hash(c)));
                }
            })
            .map(drop)
        },
    )
}

/// What a feed of [`diagnose_fed`] hands over: a case to diagnose (and hash), or only the key
/// hash of a case diagnose does not keep.
// Handed over one at a time by value, never stored: boxing the case would only add an
// allocation per failing case.
#[allow(clippy::large_enum_variant)]
enum Fed {
    Case(Case),
    Key(u64),
}

/// Failing cases diagnosed together (split across the cores) when they stream from
/// cases.jsonl: memory holds one batch of them.
const DIAGNOSE_BATCH: usize = 2048;

/// Diagnoses the failing and flaky cases the in-memory run kept (`ci`, `action`, `merge`):
/// all in one batch split across the cores, since they are in memory already (batches bound
/// memory only when cases stream from cases.jsonl, and each costs a spawn and a join).
pub fn diagnose_memory(
    run: RunDir,
    verify: VerifyDoc,
    findings: &[Finding],
    workspace: &Path,
    cases: Vec<Case>,
) -> Result<Loaded, ArtifactError> {
    diagnose_fed(
        run,
        verify,
        findings,
        workspace,
        false,
        usize::MAX,
        |each: &mut dyn FnMut(Fed)| {
            cases.into_iter().for_each(|c| each(Fed::Case(c)));
            Ok(())
        },
    )
}

/// Diagnoses a run from documents already read: `feed` hands every failing or flaky case (and,
/// when `want_test_hashes`, every other case's key hash) to its callback, in cases.jsonl
/// order; the cases are diagnosed `batch_limit` at a time.
fn diagnose_fed(
    run: RunDir,
    verify: VerifyDoc,
    findings: &[Finding],
    workspace: &Path,
    want_test_hashes: bool,
    batch_limit: usize,
    feed: impl FnOnce(&mut dyn FnMut(Fed)) -> Result<(), ArtifactError>,
) -> Result<Loaded, ArtifactError> {
    let mut logs = BTreeMap::new();
    for r in &verify.runners {
        if crate::gate::has_results(r) && r.counts.bad() > 0 {
            continue;
        }
        let mut tail = String::new();
        for rel in [&r.stderr_log, &r.stdout_log].into_iter().flatten() {
            if let Some(t) = read_tail(&run.path.join(rel), LOG_TAIL) {
                if !tail.is_empty() && !t.trim().is_empty() {
                    tail.push('\n');
                }
                tail.push_str(t.trim_end());
            }
        }
        if !tail.trim().is_empty() {
            logs.insert(r.id.clone(), tail);
        }
    }
    let mut roots = Vec::new();
    for var in ["GITHUB_WORKSPACE", "CI_PROJECT_DIR"] {
        if let Ok(v) = std::env::var(var)
            && !v.is_empty()
        {
            roots.push(v);
        }
    }
    if let Ok(abs) = std::fs::canonicalize(workspace) {
        roots.push(abs.to_string_lossy().into_owned());
    }
    let ws = if Path::new(&verify.cwd).is_dir() {
        PathBuf::from(&verify.cwd)
    } else {
        workspace.to_path_buf()
    };
    // Users see files relative to the repository root (`working-directory`, `--cwd` in a
    // monorepo): the result files parse errors name now, the locations once diagnosed.
    let prefix = repo_prefix(&ws);
    let mut verify = verify;
    if let Some(prefix) = &prefix {
        crate::diagnose::location::rebase_result_files(&mut verify, prefix);
    }
    // The workspace's files: for paths printed on another machine or in a container, and
    // for completing path suffixes below. Bounded walk; skipped dirs see SKIP_DIRS.
    let index = index_workspace(&ws);
    let opts = Options {
        roots,
        workspace_files: Some(std::sync::Arc::new(index.iter().cloned().collect())),
        ..Options::default()
    };
    // Each failing case becomes a problem at once, so memory holds problems (bounded
    // evidence), never the run's cases.
    let mut failing = BTreeSet::new();
    let mut tests = want_test_hashes.then(crate::gate::KeySet::default);
    let mut d = Diagnoser::new(&verify, findings, &logs, &opts);
    // Failing cases are diagnosed in batches on every core (diagnose's per-case work is
    // independent); memory holds one batch of cases besides the problems.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut batch: Vec<Case> = Vec::new();
    feed(&mut |fed: Fed| {
        let c = match fed {
            Fed::Case(c) => c,
            Fed::Key(h) => {
                if let Some(t) = tests.as_mut() {
                    t.insert(h);
                }
                return;
            }
        };
        if let Some(t) = tests.as_mut() {
            t.insert(crate::gate::case_key_hash(&c.view()));
        }
        if c.status.is_bad() {
            failing.insert(c.key());
        }
        if c.status.is_bad() || c.flaky {
            // Moved in: the feed hands cases over (cases.jsonl's parsed lines, the digest's
            // failing cases), none is copied.
            batch.push(c);
            if batch.len() >= batch_limit {
                d.add_cases(&batch, threads);
                batch.clear();
            }
        }
    })?;
    d.add_cases(&batch, threads);
    drop(batch);
    let mut doc = d.finish();
    check_locations_with(&mut doc, &ws, Some(index));
    // Locations are project-relative so far (checked against the project above).
    if let Some(prefix) = &prefix {
        crate::diagnose::location::rebase(&mut doc, prefix);
    }
    Ok(Loaded {
        run,
        verify,
        doc,
        failing,
        tests,
    })
}

/// The project directory relative to the repository root (`backend`), or `None` when it is
/// the root or no root is known. The root is `GITHUB_WORKSPACE` or `CI_PROJECT_DIR` when the
/// project is inside it, else `git rev-parse --show-toplevel`; outside a repository the
/// project directory itself is the root. `CODELOOP_REPO_ROOT` names the root explicitly
/// (CI without these variables and without `.git`, or a project that is its own root).
pub fn repo_prefix(project: &Path) -> Option<String> {
    let project = std::fs::canonicalize(project).ok()?;
    let inside = |root: &Path| -> Option<String> {
        let root = std::fs::canonicalize(root).ok()?;
        let rel = project.strip_prefix(&root).ok()?;
        Some(artifact::slash_path(rel))
    };
    let from_env = ["CODELOOP_REPO_ROOT", "GITHUB_WORKSPACE", "CI_PROJECT_DIR"]
        .into_iter()
        .filter_map(|v| std::env::var_os(v).filter(|x| !x.is_empty()))
        .find_map(|root| inside(Path::new(&root)));
    let rel = match from_env {
        Some(r) => r,
        None => {
            let out = std::process::Command::new("git")
                .args(["rev-parse", "--show-toplevel"])
                .current_dir(&project)
                .stdin(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())?;
            let top = String::from_utf8(out.stdout).ok()?;
            inside(Path::new(top.trim()))?
        }
    };
    (!rel.is_empty()).then_some(rel)
}

/// Streams the cases of cases.jsonl diagnose keeps: lines of passing or skipped, non-flaky
/// cases are recognised by their compact-JSON text and not deserialized at all (they are nearly every
/// line of a big run, and diagnose needs none of them). Malformed lines are skipped, like
/// [`artifact::read_jsonl`] does.
pub fn stream_cases(path: &Path, mut each: impl FnMut(Case)) -> Result<u64, ArtifactError> {
    use std::io::BufRead;
    let f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(ArtifactError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, f);
    let mut buf = Vec::new();
    let mut bad = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| ArtifactError::Read {
                path: path.to_path_buf(),
                source,
            })?;
        if n == 0 {
            break;
        }
        if skippable(&buf) {
            continue;
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Case>(&buf) {
            Ok(c) => each(c),
            Err(_) => bad += 1,
        }
    }
    Ok(bad)
}

/// A passing or skipped case that is not flaky, told from its compact JSON line. Inside a
/// JSON string every `"` is escaped, so these byte sequences can only be the fields.
fn skippable(line: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(line) else {
        return false;
    };
    (s.contains(r#""status":"passed""#) || s.contains(r#""status":"skipped""#))
        && !s.contains(r#""flaky":true"#)
}

fn read_tail(path: &Path, n: u64) -> Option<String> {
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(n))).ok()?;
    let mut buf = Vec::new();
    f.take(n).read_to_end(&mut buf).ok()?;
    Some(crate::parsers::text::lossy(&buf))
}

/// Marks each location as existing or not; a location whose path is only a suffix of a
/// workspace file (and names exactly one) is completed.
pub fn check_locations(doc: &mut DiagnoseDoc, workspace: &Path) {
    check_locations_with(doc, workspace, None)
}

/// [`check_locations`] with an already listed workspace (listed on first need otherwise).
pub fn check_locations_with(doc: &mut DiagnoseDoc, workspace: &Path, listed: Option<Vec<String>>) {
    let mut index: Option<Vec<String>> = listed;
    let mut fix = |loc: &mut Location, hint: Option<&str>| {
        if workspace.join(&loc.file).is_file() {
            loc.exists = Some(true);
            return;
        }
        let idx = index.get_or_insert_with(|| index_workspace(workspace));
        match resolve_suffix(&loc.file, idx, hint) {
            Some(full) => {
                loc.file = full.to_string();
                loc.exists = Some(true);
            }
            None => loc.exists = Some(false),
        }
    };
    let mut resolved: BTreeMap<String, Location> = BTreeMap::new();
    for p in &mut doc.problems {
        let hint = p
            .test
            .as_deref()
            .and_then(|t| t.split("::").nth(1))
            .map(str::to_string);
        if let Some(loc) = p.location.as_mut() {
            let before = loc.file.clone();
            fix(loc, hint.as_deref());
            resolved.insert(before, loc.clone());
        }
    }
    for t in &mut doc.tasks {
        if let Some(loc) = t.location.as_mut() {
            match resolved.get(&loc.file) {
                Some(r) => {
                    loc.file = r.file.clone();
                    loc.exists = r.exists;
                }
                None => fix(loc, None),
            }
        }
    }
}

fn index_workspace(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir()
                    && e.file_name()
                        .to_str()
                        .is_some_and(|n| SKIP_DIRS.contains(&n)))
        });
    for e in walker.flatten() {
        if !e.file_type().is_file() {
            continue;
        }
        if let Ok(rel) = e.path().strip_prefix(root) {
            out.push(artifact::slash_path(rel));
        }
        if out.len() >= MAX_INDEX {
            break;
        }
    }
    out
}

/// The diagnose stage: [`diagnose_run`], then [`write_outputs`].
pub fn diagnose_and_write(
    run: RunDir,
    workspace: &Path,
    want_test_hashes: bool,
) -> Result<Loaded, ArtifactError> {
    let loaded = diagnose_run(run, workspace, want_test_hashes)?;
    write_outputs(&loaded.run, &loaded.doc)?;
    Ok(loaded)
}

/// The diagnose stage alone on a run directory (`codeloop diagnose`, the MCP tools):
/// [`diagnose_and_write`], recorded as `diagnose` in the run's events.jsonl.
pub fn diagnose_stage(run: RunDir, workspace: &Path) -> Result<Loaded, ArtifactError> {
    let stage = StageEvents::start(&run.path, "diagnose");
    stage.record(diagnose_and_write(run, workspace, false))
}

/// Writes diagnose.json and the report files, then refreshes the manifest so that it lists
/// them.
pub fn write_outputs(run: &RunDir, doc: &DiagnoseDoc) -> Result<(), ArtifactError> {
    let report = run.report_dir();
    // Three documents of the same problems, each built and serialized on its own: SARIF and
    // Code Quality on a second thread while diagnose.json is written (on a run with
    // thousands of failures each takes tens of milliseconds).
    let (own, other) = std::thread::scope(|s| {
        let other = s.spawn(|| {
            artifact::write_json(
                &report.join(SARIF_FILE),
                &output::sarif(doc, env!("CARGO_PKG_VERSION")),
            )?;
            artifact::write_json(
                &report.join(CODE_QUALITY_FILE),
                &output::gitlab_code_quality(doc),
            )
        });
        let own = artifact::write_json(&run.file(artifact::DIAGNOSE), doc);
        (own, other.join())
    });
    own?;
    other.unwrap_or_else(|e| std::panic::resume_unwind(e))?;
    refresh_manifest(run)
}

/// Rewrites manifest.json with the same metadata and the current file list.
pub fn refresh_manifest(run: &RunDir) -> Result<(), ArtifactError> {
    let m: Manifest = artifact::read_json(&run.file(artifact::MANIFEST))?;
    m.rewrite(run, true)?;
    Ok(())
}

/// Whether to print annotations: asked, or under GitHub Actions and not disabled.
pub fn want_annotations(asked: bool, refused: bool, cfg: &Config) -> bool {
    if refused {
        return false;
    }
    asked || (cfg.publish.annotations && std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;

    #[test]
    fn streaming_skips_only_passing_lines() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cases.jsonl");
        let mut hostile = Case::new(r#"x "status":"passed" y"#, Status::Failed);
        hostile.runner = "r".into();
        let mut flaky = Case::new("f", Status::Passed);
        flaky.flaky = true;
        let lines = [
            serde_json::to_string(&Case::new("ok", Status::Passed)).unwrap(),
            serde_json::to_string(&Case::new("skip", Status::Skipped)).unwrap(),
            serde_json::to_string(&hostile).unwrap(),
            serde_json::to_string(&flaky).unwrap(),
            "{not json".to_string(),
            String::new(),
        ];
        std::fs::write(&p, lines.join("\n")).unwrap();
        let mut got = Vec::new();
        let bad = stream_cases(&p, |c| got.push(c.name)).unwrap();
        assert_eq!(got, [r#"x "status":"passed" y"#, "f"]);
        assert_eq!(bad, 1);
        // Every case, when every test is hashed.
        let mut all = 0;
        let bad = crate::pipeline::digest::read_case_views(&p, |_| all += 1).unwrap();
        assert_eq!((all, bad), (4, 1));
    }
}
