//! The merge stage (`codeloop merge`, the action's `merge:` input, the MCP tool): the fan-in
//! of a CI matrix. Reads shard run directories (downloaded artifacts) and folds them with
//! [`crate::merge`]'s steps, streaming: each used shard's cases.jsonl is read twice (pass 1
//! reads the case keys, the shards side by side on the cores; pass 2 folds and writes), so
//! memory holds only the tests seen by more than one shard, never every case. A merged case
//! seen by one shard only is its shard's line as it was (read whole, so only valid cases are
//! merged and counted, but not serialized again). Writes one new run (cases, findings,
//! verify.json, merge.json, every shard's files under `shards/<run_id>/`, copied by the
//! kernel with the hashes their manifests recorded, manifest.json last).
//!
//! Pass 2 also feeds each merged case to a [`Digest`] when the entry point asks ([`Keep`]),
//! as `pipeline::verify` does while parsing: diagnose → gate → report then run once on the
//! merged run from memory (`commands::flow::after_verify`), and nothing written is read back.
//!
//! Errors carry their exit code (3 nothing to merge, 2 a bad --out, 4 the merged run could
//! not be written). Bad shards are warnings: the merge reports what it has.

use std::path::{Path, PathBuf};

use walkdir::WalkDir;

use crate::artifact::events::{Event, Events, JsonlWriter};
use crate::artifact::manifest::{Context, Manifest};
use crate::artifact::stage::StageEvents;
use crate::artifact::{self, RunDir};
use crate::merge::{self, CaseKey, ManifestInfo, Source, Target};
use crate::model::{Case, Finding, VerifyDoc};
use crate::pipeline::digest::{Digest, DigestLost, DigestTap, ThreadedTap};
use crate::runners::collect::Tap;
use crate::{exit, ui};

/// Where merge puts each shard's own files inside the merged run.
pub const SHARDS_DIR: &str = "shards";

/// I/O failures of merge (reading shards is never fatal; writing the merged run is).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge: no run directory (a folder with verify.json) under {0}")]
    NothingToMerge(String),
    #[error("--out `{0}` already holds files; merge writes a new run directory")]
    OutNotEmpty(PathBuf),
    #[error("cannot write the merged run `{path}`: {message}")]
    Write { path: PathBuf, message: String },
    #[error(transparent)]
    Lost(#[from] DigestLost),
}

impl MergeError {
    pub fn exit_and_hint(&self) -> (i32, Option<String>) {
        match self {
            MergeError::NothingToMerge(_) => (
                exit::NO_RESULTS,
                Some("pass the directories the shard jobs uploaded (each is <artifacts>/runs/<run_id>/, or a folder containing them)".into()),
            ),
            MergeError::OutNotEmpty(_) => (
                exit::USAGE,
                Some("pass a new or empty directory with --out, or leave --out out".into()),
            ),
            MergeError::Write { .. } => (
                exit::INFRA,
                Some("free disk space or make the directory writable (--out / --artifacts-dir)".into()),
            ),
            MergeError::Lost(_) => (exit::INFRA, Some(DigestLost::HINT.into())),
        }
    }
}

/// Finds run directories: the path itself when it holds verify.json, else every directory
/// below it (three levels) that does. Sorted, so the merge order is stable.
pub fn find_run_dirs(path: &Path) -> Vec<PathBuf> {
    if path.join(artifact::VERIFY).is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = WalkDir::new(path)
        .min_depth(1)
        .max_depth(3)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir() && e.path().join(artifact::VERIFY).is_file())
        // Our own earlier merges keep their shards under shards/: not new inputs. Only the
        // part below `path` counts: the documented download folder is itself `shards/`.
        .filter(|e| {
            !e.path()
                .strip_prefix(path)
                .unwrap_or(e.path())
                .components()
                .any(|c| c.as_os_str() == SHARDS_DIR)
        })
        .map(|e| e.into_path())
        .collect();
    out.dedup();
    out
}

/// The run directories below `wd` whose path relative to it matches the glob `pattern` (the
/// action's `merge: 'shards/*'`), to six levels, sorted. A directory counts when it holds
/// verify.json or manifest.json: a glob like `shards/*` also matches the folders inside a
/// shard (`runners/`, `report/`), which are not runs.
pub fn runs_matching(wd: &Path, pattern: &str) -> Result<Vec<PathBuf>, globset::Error> {
    let glob = globset::Glob::new(pattern.trim())?.compile_matcher();
    Ok(WalkDir::new(wd)
        .min_depth(1)
        .max_depth(6)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_dir())
        .filter(|e| e.path().strip_prefix(wd).is_ok_and(|r| glob.is_match(r)))
        .map(|e| e.into_path())
        .filter(|p| p.join(artifact::VERIFY).is_file() || p.join(artifact::MANIFEST).is_file())
        .collect())
}

/// Reads one shard's documents and findings (its cases are streamed later). `None` (with a
/// warning) when verify.json cannot be read.
fn read_source(dir: &Path) -> Option<(Source, Context, Recorded)> {
    let label = dir.display().to_string();
    let mut verify: VerifyDoc = match artifact::read_json(&dir.join(artifact::VERIFY)) {
        Ok(v) => v,
        Err(e) => {
            ui::warn(&format!(
                "{label}: left out, its verify.json cannot be read ({e}); re-run that shard"
            ));
            return None;
        }
    };
    let manifest_path = dir.join(artifact::MANIFEST);
    let manifest: Option<Manifest> = if manifest_path.is_file() {
        match artifact::read_json(&manifest_path) {
            Ok(m) => Some(m),
            Err(e) => {
                ui::warn(&format!("{label}: manifest.json cannot be read ({e})"));
                None
            }
        }
    } else {
        None
    };
    let mut findings: Vec<Finding> = Vec::new();
    let rd = RunDir {
        path: dir.to_path_buf(),
        id: verify.run_id.clone(),
    };
    if let Err(e) = rd.findings(|f| findings.push(f)) {
        ui::warn(&format!(
            "{label}: findings.jsonl: {e}; its findings are left out"
        ));
    }
    // The shard's own files move under shards/<run_id>/: point the runners there.
    let prefix = format!("{SHARDS_DIR}/{}", safe_name(&verify.run_id));
    for r in &mut verify.runners {
        for f in &mut r.result_files {
            if let Some(c) = &mut f.copy {
                *c = format!("{prefix}/{c}");
            }
        }
        for log in [&mut r.stdout_log, &mut r.stderr_log].into_iter().flatten() {
            if !Path::new(log.as_str()).is_absolute() {
                *log = format!("{prefix}/{log}");
            }
        }
    }
    let context = manifest
        .as_ref()
        .map(|m| m.context.clone())
        .unwrap_or_default();
    let recorded: Recorded = manifest
        .as_ref()
        .map(|m| {
            m.files
                .iter()
                .map(|f| (f.path.clone(), (f.bytes, f.sha256.clone())))
                .collect()
        })
        .unwrap_or_default();
    let info = manifest.map(|m| ManifestInfo {
        schema_version: m.schema_version,
        shard: m.shard,
        sha: m.context.sha.clone(),
    });
    Some((
        Source {
            label,
            verify,
            manifest: info,
            findings,
        },
        context,
        recorded,
    ))
}

/// A shard's files as its manifest recorded them: relative path → (bytes, sha256).
type Recorded = std::collections::HashMap<String, (u64, String)>;

/// A run id as a directory name (ids come from files we did not write).
fn safe_name(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("run{s}")
    } else {
        s
    }
}

/// What the stages after the merge want of the merged cases, kept while the fold writes them
/// (the digest `pipeline::verify` fills while parsing: the problems always, the rest asked).
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// Every test key's hash: a baseline named up front will be compared.
    pub tests: bool,
    /// report/junit.xml's spools: the report will write junit.xml.
    pub junit: bool,
}

/// The merged run, and what the stages after it need in memory.
pub struct Merged {
    pub run: RunDir,
    /// verify.json as written.
    pub verify: VerifyDoc,
    /// The merged cases' digest and findings ([`Keep`]); `None` when none was asked for.
    pub digest: Option<Digest>,
}

/// Merges `dirs` into a new run (under `artifacts` or at `out`) and returns it, with the
/// merged cases' digest when `keep` asks for one.
pub fn merge_dirs(
    dirs: &[PathBuf],
    out: Option<&Path>,
    artifacts: &Path,
    cwd: &Path,
    keep: Option<Keep>,
) -> Result<Merged, MergeError> {
    let started_at = artifact::now_rfc3339();
    let mut run_dirs = Vec::new();
    for d in dirs {
        let found = find_run_dirs(d);
        if found.is_empty() {
            ui::warn(&format!(
                "{}: no run directory (verify.json) here; left out",
                d.display()
            ));
        }
        run_dirs.extend(found);
    }
    let mut sources = Vec::new();
    let mut context: Option<Context> = None;
    for d in &run_dirs {
        if let Some((s, c, recorded)) = read_source(d) {
            if context.is_none() && s.manifest.is_some() {
                context = Some(c);
            }
            sources.push((d.clone(), s, recorded));
        }
    }
    if sources.is_empty() {
        return Err(MergeError::NothingToMerge(
            dirs.iter()
                .map(|d| format!("`{}`", d.display()))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    let run = match out {
        Some(o) => {
            if o.read_dir().is_ok_and(|mut it| it.next().is_some()) {
                return Err(MergeError::OutNotEmpty(o.to_path_buf()));
            }
            std::fs::create_dir_all(o).map_err(|e| MergeError::Write {
                path: o.to_path_buf(),
                message: e.to_string(),
            })?;
            let path = std::fs::canonicalize(o).unwrap_or_else(|_| o.to_path_buf());
            let id = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "merged".into());
            RunDir { path, id }
        }
        None => super::verify::create_run_dir(artifacts).map_err(|f| MergeError::Write {
            path: artifacts.to_path_buf(),
            message: f.message,
        })?,
    };
    let stage = StageEvents::start(&run.path, "merge");
    stage.record(write_merged(
        run, sources, context, started_at, out, artifacts, cwd, keep,
    ))
}

/// The rest of [`merge_dirs`] once the merged run's directory exists.
#[allow(clippy::too_many_arguments)]
fn write_merged(
    run: RunDir,
    sources: Vec<(PathBuf, Source, Recorded)>,
    context: Option<Context>,
    started_at: String,
    out: Option<&Path>,
    artifacts: &Path,
    cwd: &Path,
    keep: Option<Keep>,
) -> Result<Merged, MergeError> {
    let werr = |path: &Path, e: &dyn std::fmt::Display| MergeError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    // Keep every shard's own files (runner logs, result files, its reports).
    let mut copies = Vec::with_capacity(sources.len());
    let mut dirs = Vec::with_capacity(sources.len());
    let sources: Vec<Source> = sources
        .into_iter()
        .map(|(dir, s, recorded)| {
            let dest = run.path.join(SHARDS_DIR).join(safe_name(&s.verify.run_id));
            copies.push(ShardCopy {
                from: dir.clone(),
                to: dest,
                recorded,
            });
            dirs.push(dir);
            s
        })
        .collect();
    let copied = copy_shards(copies);
    let cwd_abs = std::fs::canonicalize(cwd).unwrap_or_else(|_| cwd.to_path_buf());
    let plan = merge::plan(&sources);
    for w in &plan.warnings {
        ui::warn(w);
    }
    // Appended: the merge stage's own `stage.started` is already there.
    let events = Events::append(&run.file(artifact::EVENTS)).map_err(|e| werr(&run.path, &e))?;
    let mut ev = Event::new("merge.finished").message(format!(
        "{} run(s) merged into {}",
        plan.used.len(),
        run.id
    ));
    ev.run_id = Some(run.id.clone());
    events.emit(ev);
    let used: Vec<(&Path, &str)> = plan
        .used
        .iter()
        .map(|&i| (dirs[i].as_path(), sources[i].label.as_str()))
        .collect();
    // Pass 1: the identities only (nothing but the key's fields read), the sources side by
    // side on the cores. Each file's size and time are noted: pass 2 trusts pass 1's plan
    // of a file only if it is unchanged.
    let mut census = merge::Census::default();
    let mut stamps = Vec::with_capacity(used.len());
    let paths: Vec<PathBuf> = used.iter().map(|(d, _)| d.join(artifact::CASES)).collect();
    // A source every line of which is a valid case, as cases.jsonl's writer writes it, and
    // that holds no secret this run knows, can be written whole in pass 2 (when no digest
    // needs its cases): pass 1 reads it whole on the cores, pass 2 only copies it.
    let whole_ok = keep.is_none();
    let redactor = crate::redact::current();
    for (p, (_, label)) in on_cores(&paths, |p| census_of(p, whole_ok.then_some(&*redactor)))
        .into_iter()
        .zip(&used)
    {
        if let Err(e) = p.read {
            ui::warn(&format!(
                "{label}: cases.jsonl: {e}; its cases after that point are left out"
            ));
        }
        census.push_counted(p.source);
        stamps.push((p.stamp, p.whole));
    }
    // Pass 2: the same lines again, each merged case written as soon as it is complete (and
    // observed into the digest, as verify's parse does: what the report and diagnose need).
    let mut folder = census.into_folder();
    let digest = keep.map(|k| {
        DigestTap::new(Digest {
            problems: Some(Vec::new()),
            tests: k.tests.then(crate::gate::KeySet::default),
            junit: k.junit.then(|| super::junit::spooled(&run.report_dir())),
            ..Digest::default()
        })
    });
    // The digest runs on its own thread, as verify's does: the fold only hands each case over.
    let (mut tap, digest) = match digest {
        Some((t, back)) => (Some(ThreadedTap::spawn(Box::new(t))), Some(back)),
        None => (None, None),
    };
    let path = run.file(artifact::CASES);
    // Written and hashed on the worker thread (the fold keeps this one), hash recorded: the
    // manifest does not read the merged cases back.
    let mut w = JsonlWriter::create_offloaded(&path).map_err(|e| werr(&path, &e))?;
    let emit = |w: &mut JsonlWriter, tap: &mut Option<Box<dyn Tap>>, c: &Case| {
        w.write_case(c);
        if let Some(t) = tap.as_mut() {
            t.case(c);
        }
    };
    for ((dir, label), (stamp_1, whole)) in used.iter().zip(&stamps) {
        folder.source();
        let cases = dir.join(artifact::CASES);
        // Read errors were named in pass 1; the same lines up to the same point come through.
        if stamp(&cases) != *stamp_1 || stamp_1.is_none() {
            if stamp_1.is_some() {
                ui::warn(&format!(
                    "{label}: cases.jsonl changed while it was being merged; merged as it is now"
                ));
            }
            let _ = artifact::read_jsonl::<Case>(&cases, |c| {
                folder.case(c, |c| emit(&mut w, &mut tap, c))
            });
            continue;
        }
        if let Some(whole) = whole
            && tap.is_none()
            && folder.source_is_plain()
            && let Ok(f) = std::fs::File::open(&cases)
        {
            w.append_file(f, whole.bytes, whole.lines);
            folder.plain_source(whole);
            continue;
        }
        let _ = artifact::read_jsonl_lines(&cases, |line| {
            let take = folder.take();
            if take == merge::Take::Skip {
                return false;
            }
            // Every line is read whole: only a valid case is merged, and counted. A line
            // written as it is, with no digest to feed, is only counted: read borrowed.
            if take == merge::Take::Plain && tap.is_none() {
                // Read in one pass when laid out as written (nearly every line), else by serde.
                match merge::CaseLine::counted(line) {
                    Some(counts) => folder.plain_counts(counts),
                    None => match serde_json::from_str::<merge::CaseLine>(line) {
                        Ok(c) => folder.plain_line(&c),
                        Err(_) => return false,
                    },
                }
                w.write_line(line);
                return true;
            }
            if let merge::Take::Fold(id) = take {
                let Ok(c) = serde_json::from_str::<Case>(line) else {
                    return false;
                };
                folder.fold(id, c, |c| emit(&mut w, &mut tap, c));
                return true;
            }
            // A test no other line shares: the merged case is the line as it was written
            // (not serialized again), and the digest reads it borrowed from the line (read in
            // one pass when laid out as written, else by serde).
            let Some(c) = merge::CaseLine::read(line) else {
                return false;
            };
            folder.plain_line(&c);
            w.write_line(line);
            if let Some(t) = tap.as_mut() {
                t.case_view(&c.view(&c.suite_parts()));
            }
            true
        });
    }
    let counts = folder.finish(|c| emit(&mut w, &mut tap, c));
    w.finish();
    if let Some(e) = w.error.take() {
        return Err(werr(&path, &e));
    }
    let merged = merge::finish(
        plan,
        sources,
        &counts,
        Target {
            run_id: run.id.clone(),
            started_at: started_at.clone(),
            finished_at: artifact::now_rfc3339(),
            cwd: cwd_abs.to_string_lossy().into_owned(),
        },
    );
    let path = run.file(artifact::FINDINGS);
    let mut w = JsonlWriter::create(&path).map_err(|e| werr(&path, &e))?;
    merged.findings.iter().for_each(|f| w.write(f));
    w.finish();
    if let Some(e) = w.error.take() {
        return Err(werr(&path, &e));
    }
    // After every case, as the report run alone feeds findings.jsonl to the JUnit writer.
    if let Some(t) = tap.as_mut() {
        merged.findings.iter().for_each(|f| t.finding(f));
    }
    // Dropping the tap waits for its thread: the digest is complete.
    drop(tap);
    let digest = digest.map(|back| back.take()).transpose()?;
    copied()?;
    artifact::write_json(&run.file(artifact::VERIFY), &merged.verify)
        .map_err(|e| werr(&run.path, &e))?;
    artifact::write_json(&run.file(merge::MERGE_FILE), &merged.doc)
        .map_err(|e| werr(&run.path, &e))?;
    // The merged run is this (fan-in) job's: its links name this job, not the first shard's;
    // what this job's environment does not say comes from the shards.
    let mut context = match (context, super::verify::context_from_env()) {
        (Some(shard), here) if matches!(here.ci.as_deref(), Some("github" | "gitlab")) => Context {
            ci: here.ci,
            repository: here.repository.or(shard.repository),
            sha: here.sha.or(shard.sha),
            git_ref: here.git_ref.or(shard.git_ref),
            server_url: here.server_url.or(shard.server_url),
            run_url: here.run_url.or(shard.run_url),
            pr_number: here.pr_number.or(shard.pr_number),
        },
        (Some(shard), _) => shard,
        (None, here) => here,
    };
    if context.sha.is_none() {
        context.sha = merged.sha.clone();
    }
    Manifest::write(
        &run,
        started_at,
        merged.verify.finished_at.clone(),
        merged.verify.status,
        None,
        context,
    )
    .map_err(|e| werr(&run.path, &e))?;
    if out.is_none() {
        super::verify::update_latest(artifacts, &run.id);
    }
    let t = &merged.verify.totals;
    crate::outln!(
        "codeloop merge: {} run(s){} → {}",
        merged.doc.sources.len(),
        match merged.doc.expected_shards {
            Some(n) => format!(
                " of {n} shard(s){}",
                if merged.doc.missing_shards.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", missing {}",
                        merged
                            .doc
                            .missing_shards
                            .iter()
                            .map(u32::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            None => String::new(),
        },
        run.path.display()
    );
    crate::outln!(
        "tests: {} total, {} passed, {} failed, {} errored, {} skipped{}",
        t.tests,
        t.passed,
        t.failed,
        t.errored,
        t.skipped,
        if t.flaky > 0 {
            format!(" ({} flaky)", t.flaky)
        } else {
            String::new()
        }
    );
    Ok(Merged {
        run,
        verify: merged.verify,
        digest,
    })
}

/// `f` of every item, on as many threads as there are cores (at most one per item), in the
/// items' order.
fn on_cores<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break };
            done.push((i, f(item)));
        }
        done
    };
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("codeloop-merge-read".into())
                    .spawn_scoped(scope, work)
                    .ok()
            })
            .collect();
        // A helper that could not start leaves its items to this thread (the shared counter).
        let mut all = work();
        for h in helpers {
            match h.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        all
    });
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Pass 1 over one shard's cases.jsonl: its keys, how the read ended, and the file's stamp;
/// with a `redactor`, also its lines read whole and counted, when the file can be written
/// as it is (every line a valid case, nothing but its lines and their line breaks, no
/// secret the redactor knows).
fn census_of(path: &Path, redactor: Option<&crate::redact::Redactor>) -> Pass1 {
    let mut source = merge::SourceCensus::default();
    let mut whole = merge::SourceCounts::default();
    let mut secret = false;
    let read = artifact::read_jsonl_regions(
        path,
        |line| match CaseKey::of_line(line) {
            Some(k) => {
                source.key(k.hash());
                if redactor.is_some() {
                    whole.line(line);
                }
                true
            }
            None => {
                source.unreadable();
                whole.all_valid = false;
                false
            }
        },
        |region| {
            if let Some(r) = redactor {
                secret = secret || r.is_match(region);
            }
        },
    );
    let stamp_1 = stamp(path);
    // Blank lines, `\r\n` line ends or a last line with no break make the file's size
    // differ from its lines': such a file is not written as it is.
    let as_written = redactor.is_some()
        && whole.all_valid
        && !secret
        && read.as_ref().is_ok_and(|bad| *bad == 0)
        && stamp_1.is_some_and(|(len, _)| len == whole.bytes);
    Pass1 {
        source: source.identities(),
        read,
        stamp: stamp_1,
        whole: as_written.then_some(whole),
    }
}

/// What pass 1 found of one source ([`census_of`]).
struct Pass1 {
    source: merge::CountedSource,
    read: Result<u64, artifact::ArtifactError>,
    stamp: Option<(u64, std::time::SystemTime)>,
    whole: Option<merge::SourceCounts>,
}

/// A file's size and modification time (`None` when it cannot be read).
fn stamp(path: &Path) -> Option<(u64, std::time::SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

/// One shard's directory, where its files go in the merged run, and its manifest's record
/// of them.
struct ShardCopy {
    from: PathBuf,
    to: PathBuf,
    recorded: Recorded,
}

/// Copies every shard's files on a worker thread while this one folds the cases (no file is
/// both read by the fold and written by the copies). Returns the wait for it, called before
/// the manifest is written.
fn copy_shards(copies: Vec<ShardCopy>) -> Box<dyn FnOnce() -> Result<(), MergeError>> {
    fn copy_all(copies: &[ShardCopy]) -> Result<(), MergeError> {
        for c in copies {
            copy_tree(c).map_err(|e| MergeError::Write {
                path: c.to.clone(),
                message: e.to_string(),
            })?;
        }
        Ok(())
    }
    let copies = std::sync::Arc::new(copies);
    let theirs = copies.clone();
    match std::thread::Builder::new()
        .name("codeloop-merge-copy".into())
        .spawn(move || copy_all(&theirs))
    {
        Ok(h) => Box::new(move || {
            h.join().unwrap_or_else(|_| {
                Err(MergeError::Write {
                    path: PathBuf::from(SHARDS_DIR),
                    message: "the thread copying the shards' files panicked".into(),
                })
            })
        }),
        // No thread to be had: copied here, before the fold.
        Err(_) => {
            let done = copy_all(&copies);
            Box::new(move || done)
        }
    }
}

/// Copies the regular files of one shard (no symlinks followed), each recorded for the
/// manifest with its size and sha256 (which then does not read the copies back).
///
/// With no secret to keep out, a file is copied by the kernel and carries over the sha256
/// its shard's manifest recorded, when the copy has the recorded size: the merged run
/// vouches for the bytes the shard job wrote, and a file changed since then still fails a
/// check against its manifest, in the shard and in the merge alike. A file the manifest
/// does not list (or with another size) is hashed. With a secret, every file goes through
/// the redactor and is hashed as written.
fn copy_tree(c: &ShardCopy) -> std::io::Result<()> {
    let redactor = crate::redact::current();
    for e in WalkDir::new(&c.from).follow_links(false) {
        let e = e.map_err(std::io::Error::other)?;
        let rel = e.path().strip_prefix(&c.from).unwrap_or(e.path());
        let dest = c.to.join(rel);
        if e.file_type().is_dir() {
            std::fs::create_dir_all(&dest)?;
        } else if e.file_type().is_file() {
            let (bytes, sha256) = if redactor.is_empty() {
                let bytes = copy_file(e.path(), &dest)?;
                match c.recorded.get(&artifact::slash_path(rel)) {
                    Some((n, sha)) if *n == bytes => (bytes, sha.clone()),
                    _ => artifact::sha256_file(&dest)?,
                }
            } else {
                // Through the redactor: this job's secrets never enter the merged run.
                copy_redacted(&redactor, e.path(), &dest)?
            };
            artifact::record_hash(&dest, bytes, sha256);
        }
    }
    Ok(())
}

/// A plain copy, the kernel's (`io::copy` between files is `copy_file_range` on Linux).
/// Returns its size.
fn copy_file(from: &Path, to: &Path) -> std::io::Result<u64> {
    let mut src = std::fs::File::open(from)?;
    // Created as a redacted copy is (default permissions), not with the source's.
    let mut dst = std::fs::File::create(to)?;
    std::io::copy(&mut src, &mut dst)
}

/// A copy through the redactor, hashed as written. Returns its size and sha256.
fn copy_redacted(
    r: &crate::redact::Redactor,
    from: &Path,
    to: &Path,
) -> std::io::Result<(u64, String)> {
    use std::io::Write;
    let mut src = std::fs::File::open(from)?;
    let mut dst = artifact::Hashing::new(std::io::BufWriter::new(std::fs::File::create(to)?));
    crate::redact::fs::redact_stream(r, &mut src, &mut dst)?;
    dst.flush()?;
    Ok((dst.bytes, dst.sha256()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pass 1 lets pass 2 copy a source whole only when its file is exactly its valid lines,
    /// each with its line break, and holds no secret; then its counts are the lines'.
    #[test]
    fn only_a_file_of_valid_written_lines_and_no_secret_is_kept_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let line = |name: &str, status: &str| {
            format!(r#"{{"runner":"t","name":"{name}","status":"{status}","duration":0.5}}"#)
        };
        let good = format!(
            "{}\n{}\n{}\n",
            line("a", "passed"),
            line("b", "failed"),
            // serde's layout (other key order, spaces): valid, read by serde.
            r#"{"status": "skipped", "name": "c", "flaky": true, "runner": "u"}"#
        );
        let token = format!("ghp_{}", "A".repeat(36));
        let cases = [
            (good.clone(), true),
            (good.replace('\n', "\r\n"), false),
            (format!("{good}\n"), false),
            (good.trim_end().to_string(), false),
            (format!("{good}{}\n", line("d", "running")), false),
            (
                format!("{good}{}\n", r#"{"name":3,"status":"passed"}"#),
                false,
            ),
            (format!("{good}{}\n", line(&token, "passed")), false),
            // No line at all: nothing to leave out either.
            (String::new(), true),
        ];
        let redactor = crate::redact::Redactor::default();
        for (i, (body, whole)) in cases.iter().enumerate() {
            let p = tmp.path().join(format!("{i}.jsonl"));
            std::fs::write(&p, body).unwrap();
            let got = census_of(&p, Some(&redactor));
            assert_eq!(got.whole.is_some(), *whole, "{body:?}");
            assert!(census_of(&p, None).whole.is_none());
            if let Some(w) = got.whole.filter(|_| !body.is_empty()) {
                assert_eq!((w.bytes, w.lines), (body.len() as u64, 3));
                let n = |r: &str| w.runners.iter().find(|(id, _)| id == r).unwrap().1;
                assert_eq!((n("t").tests, n("t").passed, n("t").failed), (2, 1, 1));
                assert_eq!((n("u").tests, n("u").skipped, n("u").flaky), (1, 1, 1));
            }
        }
    }
}
