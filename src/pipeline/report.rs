//! The report stage: renders the comment, summary, badge, JUnit XML and HTML page with the
//! pure [`crate::report`] and [`crate::badge`] modules from a run's documents and its
//! [`Digest`] — in memory after verify (`ci`, `action`: [`render_with`]), or read from the
//! run directory (the stage alone: [`render_run`], one pass over cases.jsonl) — writes them
//! into `<run>/report/` (atomically), then refreshes the run's manifest so it lists them.
//!
//! Missing stage files (no diagnose.json or gate.json yet) are not errors: the report says
//! less. A bad baseline comment or a missing template falls back with a warning; a template
//! with a syntax error is reported with file and line, the built-in template is used for the
//! files, and the command exits 2 so the mistake is not missed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::digest::{Digest, DigestTap, PendingWrite, ThreadedTap, read_case_views};
use super::options::ReportOptions;
use crate::artifact::manifest::{Context, Manifest};
use crate::artifact::stage::StageEvents;
use crate::artifact::{self, ArtifactError, RunDir};
use crate::badge;
use crate::model::{DiagnoseDoc, GateDoc, VerifyDoc};
use crate::report::html::FlakyTest;
use crate::report::{self, RenderInput, Templates};
use crate::settings::{self, Config};

/// Errors of the report command. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum ReportCmdError {
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(transparent)]
    Settings(#[from] settings::SettingsError),
    #[error(transparent)]
    Render(#[from] report::ReportError),
    #[error("cannot render the badge PNG: {0}")]
    Badge(#[from] badge::BadgeError),
    #[error(transparent)]
    Lost(#[from] super::digest::DigestLost),
}

/// One file written.
#[derive(Serialize, Debug)]
pub struct Written {
    pub path: String,
    pub bytes: usize,
}

/// What [`render_run`] did (the `--format json` document).
#[derive(Serialize, Debug)]
pub struct Outcome {
    pub run_id: String,
    pub report_dir: String,
    pub files: Vec<Written>,
    /// Fallbacks and omissions the user should know about.
    pub notices: Vec<String>,
    /// A user template that failed (the files were rendered with the built-in one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_error: Option<String>,
}

pub fn artifacts_dir(args: &ReportOptions, cfg: &Config) -> PathBuf {
    let cwd = &args.common.cwd;
    match (&args.common.artifacts_dir, &cfg.verify.artifacts_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => cwd.join(d),
        (None, None) => cwd.join(settings::ARTIFACTS_DIR),
    }
}

/// Reads an optional stage document: missing is `None`, unreadable is a warning and `None`.
fn optional<T>(
    path: &Path,
    read: impl FnOnce() -> Result<T, ArtifactError>,
    notices: &mut Vec<String>,
) -> Option<T> {
    if !path.exists() {
        return None;
    }
    match read() {
        Ok(v) => Some(v),
        Err(e) => {
            notices.push(format!("{e}; the report leaves it out"));
            None
        }
    }
}

/// The template directory: `--template-dir`, else `report.template_dir` (project-relative).
fn template_dir(args: &ReportOptions, cfg: &Config, cwd: &Path) -> Option<PathBuf> {
    args.template_dir
        .clone()
        .or_else(|| cfg.report.template_dir.as_ref().map(|d| cwd.join(d)))
}

/// A user override (`report.html`, `badge.svg`) from the template directory: `None` when the
/// directory or the file is absent (the built-in one is used, silently: overriding it is
/// optional); an unreadable file is a notice.
fn read_override(
    dir: Option<&Path>,
    name: &str,
    notices: &mut Vec<String>,
) -> Option<(String, String)> {
    let p = dir?.join(name);
    match std::fs::read_to_string(&p) {
        Ok(src) => Some((p.display().to_string(), src)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            notices.push(format!(
                "cannot read `{}`: {e}; using the built-in {name}",
                p.display()
            ));
            None
        }
    }
}

fn load_templates(
    args: &ReportOptions,
    cfg: &Config,
    cwd: &Path,
    notices: &mut Vec<String>,
) -> (Templates, Option<String>) {
    let Some(dir) = template_dir(args, cfg, cwd) else {
        return (Templates::embedded(), None);
    };
    if !dir.is_dir() {
        notices.push(format!(
            "template directory `{}` does not exist: using the built-in templates",
            dir.display()
        ));
        return (Templates::embedded(), None);
    }
    let shown = dir.display().to_string();
    let mut read_errors = Vec::new();
    let loaded = Templates::with_overrides(&shown, |name| {
        let p = dir.join(name);
        match std::fs::read_to_string(&p) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                read_errors.push(format!("cannot read `{}`: {e}", p.display()));
                None
            }
        }
    });
    notices.extend(read_errors);
    match loaded {
        Ok(t) => (t, None),
        Err(e) => (Templates::embedded(), Some(e.to_string())),
    }
}

/// The run's documents the report shows (each optional: a stage that has not run yet makes
/// the report say less).
#[derive(Default)]
pub struct Docs {
    pub manifest: Option<Manifest>,
    pub verify: Option<VerifyDoc>,
    pub diagnose: Option<DiagnoseDoc>,
    pub gate: Option<GateDoc>,
}

/// The stage alone, without printing: read the run (its documents, then cases.jsonl and
/// findings.jsonl once into a [`Digest`]), render, write `<run>/report/`.
pub fn render_run(args: &ReportOptions) -> Result<Outcome, ReportCmdError> {
    let cwd = &args.common.cwd;
    let config_path = args
        .common
        .config
        .clone()
        .unwrap_or_else(|| cwd.join(settings::CONFIG_PATH));
    let (cfg, cfg_warnings) = Config::load(&config_path)?;
    let run = artifact::resolve(&artifacts_dir(args, &cfg), args.run.as_deref())?;
    let stage = StageEvents::start(&run.path, "report");
    stage.record(read_and_render(args, &cfg, cfg_warnings, &run))
}

/// [`render_run`] on a resolved run.
fn read_and_render(
    args: &ReportOptions,
    cfg: &Config,
    mut notices: Vec<String>,
    run: &RunDir,
) -> Result<Outcome, ReportCmdError> {
    let (_, _, _, want_junit) = args.wanted();

    let manifest: Option<Manifest> = optional(
        &run.file(artifact::MANIFEST),
        || artifact::read_json(&run.file(artifact::MANIFEST)),
        &mut notices,
    );
    let verify = optional(&run.file(artifact::VERIFY), || run.verify(), &mut notices);
    let diagnose = optional(
        &run.file(artifact::DIAGNOSE),
        || run.diagnose(),
        &mut notices,
    );
    let gate = optional(&run.file(artifact::GATE), || run.gate(), &mut notices);

    // Filled as verify's parse fills it: each line read borrowed on this thread, the digest
    // (the JUnit writer, the report's counts) on the second core.
    let (tap, back) = DigestTap::new(Digest {
        junit: want_junit.then(|| super::junit::spooled(&run.report_dir())),
        // Deltas from a baseline comment need this run's test keys: a failing test that is
        // gone is not "Fixed" (as in `ci`, whose gate keeps them).
        tests: args
            .baseline_from_comment
            .is_some()
            .then(crate::gate::KeySet::default),
        ..Digest::default()
    });
    let mut tap = ThreadedTap::spawn(Box::new(tap));
    let bad_lines = read_case_views(&run.file(artifact::CASES), |c| tap.case_view(c))?;
    if bad_lines > 0 {
        notices.push(format!(
            "{bad_lines} unreadable lines in `{}` were skipped",
            run.file(artifact::CASES).display()
        ));
    }
    if want_junit {
        run.findings(|f| tap.finding(&f))?;
    }
    // Dropping the tap waits for its thread: the digest is complete.
    drop(tap);
    let digest = back.take()?;
    let docs = Docs {
        manifest,
        verify,
        diagnose,
        gate,
    };
    render_inner(args, cfg, notices, run, docs, digest)
}

/// The history sections (comment, summary) from `<run>/history.json`, when gate-check wrote
/// one; an unreadable file is a notice.
fn history_sections(run: &RunDir, notices: &mut Vec<String>) -> Option<(String, String)> {
    let p = run.file(crate::history::INSIGHTS_FILE);
    if !p.is_file() {
        return None;
    }
    match artifact::read_json::<crate::history::Insights>(&p) {
        Ok(i) => Some((
            crate::history::render::section(&i, 10),
            crate::history::render::section(&i, crate::history::Insights::MAX_LISTED),
        )),
        Err(e) => {
            notices.push(format!("{e}; the report has no history section"));
            None
        }
    }
}

/// Renders and writes `<run>/report/` from documents and a digest already in memory.
/// `notices` are the warnings so far (config, unreadable documents). Recorded as the
/// `report` stage in the run's events.jsonl.
pub fn render_with(
    args: &ReportOptions,
    cfg: &Config,
    notices: Vec<String>,
    run: &RunDir,
    docs: Docs,
    digest: Digest,
) -> Result<Outcome, ReportCmdError> {
    let stage = StageEvents::start(&run.path, "report");
    stage.record(render_inner(args, cfg, notices, run, docs, digest))
}

fn render_inner(
    args: &ReportOptions,
    cfg: &Config,
    mut notices: Vec<String>,
    run: &RunDir,
    docs: Docs,
    digest: Digest,
) -> Result<Outcome, ReportCmdError> {
    let cwd = &args.common.cwd;
    let (want_comment, want_summary, want_badge, want_junit) = args.wanted();
    let Docs {
        manifest,
        verify,
        diagnose,
        gate,
    } = docs;
    if gate.is_none() {
        notices.push(format!(
            "run `{}` has no gate.json: the report shows no score or verdict (run `codeloop gate-check`)",
            run.id
        ));
    }
    // junit.xml, when being written since diagnose started (`junit_behind`), is joined where
    // the report lists it, so the comment, summary and badge are rendered while it finishes.
    let Digest {
        cases: digest,
        junit,
        junit_behind,
        flaky,
        tests,
        ..
    } = digest;

    let delta =
        args.baseline_from_comment
            .as_ref()
            .and_then(|p| match std::fs::read_to_string(p) {
                Ok(body) => match report::state::decode(&body) {
                    Ok(base) => {
                        let counts = gate
                            .as_ref()
                            .map(|g| g.counts)
                            .or(verify.as_ref().map(|v| v.totals))
                            .unwrap_or(digest.counts);
                        Some(report::state::delta_from(
                            &base,
                            gate.as_ref().map(|g| g.score),
                            &counts,
                            &digest.failing_keys,
                            tests.as_ref(),
                        ))
                    }
                    Err(e) => {
                        notices.push(format!("`{}`: {e}; no deltas shown", p.display()));
                        None
                    }
                },
                Err(e) => {
                    notices.push(format!(
                        "cannot read `{}`: {e}; no deltas shown",
                        p.display()
                    ));
                    None
                }
            });

    let (templates, mut template_error) = load_templates(args, cfg, cwd, &mut notices);
    let tdir = template_dir(args, cfg, cwd).filter(|d| d.is_dir());
    let context: Context = manifest
        .as_ref()
        .map(|m| m.context.clone())
        .unwrap_or_default();
    let tool_version = manifest
        .as_ref()
        .map(|m| m.tool_version.clone())
        .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string());
    let badge_in = gate.as_ref().map(|g| (g.score, g.verdict));
    // The HTML page shows the same documents (copies: the render input owns its own).
    let page_docs = args
        .html
        .then(|| (verify.clone(), diagnose.clone(), gate.clone()));
    let input = RenderInput {
        run_id: run.id.clone(),
        tool_version,
        verify,
        diagnose,
        gate,
        context,
        cases: digest,
        delta,
        // A merged run says which shard ran what, for how long.
        shards: artifact::read_json::<crate::merge::MergeDoc>(
            &run.path.join(crate::merge::MERGE_FILE),
        )
        .map(|m| m.sources)
        .unwrap_or_default(),
    };

    let dir = run.report_dir();
    let mut files = Vec::new();
    let write = |name: &str, bytes: &[u8]| -> Result<Written, ReportCmdError> {
        let p = dir.join(name);
        artifact::write_atomic(&p, bytes)?;
        Ok(Written {
            path: p.display().to_string(),
            bytes: bytes.len(),
        })
    };
    if want_comment || want_summary {
        // The base branch's history (gate-check wrote it with --history): its section goes
        // after the body, and the body's budget leaves room for it.
        let history = history_sections(run, &mut notices);
        let mut rcfg = cfg.report.clone();
        if let Some((c, s)) = &history {
            rcfg.max_comment_chars = rcfg.max_comment_chars.saturating_sub(c.len());
            rcfg.max_summary_bytes = rcfg.max_summary_bytes.saturating_sub(s.len());
        }
        let mut out = match report::render(&input, &templates, &rcfg) {
            Ok(out) => out,
            // A user template that fails while rendering (bad filter, wrong type): report it
            // like a syntax error and still write the files from the built-in templates.
            Err(e @ report::ReportError::Template { .. }) if template_error.is_none() => {
                template_error = Some(e.to_string());
                report::render(&input, &Templates::embedded(), &rcfg)?
            }
            Err(e) => return Err(e.into()),
        };
        if let Some((c, s)) = &history {
            out.comment = crate::history::render::insert_into_comment(&out.comment, c);
            out.summary = format!("{}\n{s}", out.summary.trim_end_matches('\n'));
        }
        notices.extend(out.notices);
        if want_comment {
            files.push(write("comment.md", out.comment.as_bytes())?);
        }
        if want_summary {
            files.push(write("summary.md", out.summary.as_bytes())?);
        }
    }
    if want_badge {
        let b = badge::for_gate(
            badge_in.map(|x| x.0),
            badge_in.map(|x| x.1),
            &cfg.report.badge,
        );
        let built_in = || -> Result<(String, Vec<u8>), ReportCmdError> {
            let svg = badge::svg(&b);
            let png = badge::png(&svg, 2.0)?;
            Ok((svg, png))
        };
        // A user badge.svg must render and rasterize; otherwise the built-in badge is written
        // and the error reported like a template error.
        let (svg, png) = match read_override(tdir.as_deref(), "badge.svg", &mut notices) {
            None => built_in()?,
            Some((file, src)) => {
                let rendered = report::custom::badge(
                    &file,
                    &src,
                    &b,
                    badge_in.map(|x| x.1),
                    badge_in.map(|x| x.0),
                )
                .map_err(|e| e.to_string())
                .and_then(|svg| {
                    badge::png(&svg, 2.0)
                        .map(|png| (svg, png))
                        .map_err(|e| format!("template `{file}`: {e}"))
                });
                match rendered {
                    Ok(x) => x,
                    Err(e) => {
                        template_error = template_error.or(Some(e));
                        built_in()?
                    }
                }
            }
        };
        files.push(write("badge.svg", svg.as_bytes())?);
        files.push(write("badge.png", &png)?);
    }
    if want_junit {
        // Streamed from the spools into the file (never whole in memory), or already being
        // written on its own thread since diagnose started.
        let p = dir.join("junit.xml");
        let behind = junit_behind.map(|b| b.and_then(PendingWrite::join));
        let bytes = match (behind, junit) {
            (Some(done), _) => Some(done?),
            (None, Some(j)) => Some(super::junit::write(&p, j)?),
            (None, None) => None,
        };
        if let Some(bytes) = bytes {
            files.push(Written {
                path: p.display().to_string(),
                bytes: bytes as usize,
            });
        }
    }
    if let Some((verify, diagnose, gate)) = page_docs {
        let artifacts = artifacts_dir(args, cfg);
        match verify {
            Some(v) => {
                let page = html_page_with(
                    &artifacts,
                    run,
                    &v,
                    diagnose.as_ref(),
                    gate.as_ref(),
                    &flaky,
                    false,
                    &[],
                );
                let page = match read_override(tdir.as_deref(), "report.html", &mut notices) {
                    None => page,
                    Some((file, src)) => match report::custom::html(
                        &file,
                        &src,
                        &page,
                        &run.id,
                        badge_in.map(|x| x.1),
                        badge_in.map(|x| x.0),
                    ) {
                        Ok(p) => p,
                        Err(e) => {
                            template_error = template_error.or(Some(e.to_string()));
                            page
                        }
                    },
                };
                files.push(write("index.html", page.as_bytes())?);
            }
            None => notices.push(format!(
                "run `{}` has no readable verify.json; report/index.html was not written",
                run.id
            )),
        }
    }
    refresh_manifest(run, manifest, &mut notices);
    Ok(Outcome {
        run_id: run.id.clone(),
        report_dir: dir.display().to_string(),
        files,
        notices,
        template_error,
    })
}

/// The manifest lists every file of the run; add the report files to it.
fn refresh_manifest(run: &RunDir, manifest: Option<Manifest>, notices: &mut Vec<String>) {
    let Some(m) = manifest else { return };
    // The manifest the stage read may be older than the one on disk now; the file list is
    // re-made either way (hashes reused for unchanged files, see `artifact::manifest`).
    if let Err(e) = m.rewrite(run, true) {
        notices.push(format!("{e}; the manifest does not list the report files"));
    }
}

/// At most this many runs in the dashboard's score trend, and flaky tests listed.
const TREND_MAX: usize = 30;

/// The HTML dashboard page of `run`: its documents, the score trend of the complete runs up
/// to it, and its flaky tests (streamed from cases.jsonl, bounded). `live` makes the page
/// refresh itself (a run still being written); `other_runs` adds links for the server.
pub fn html_page(
    artifacts: &Path,
    run: &RunDir,
    live: bool,
    other_runs: &[String],
) -> Result<String, ArtifactError> {
    let verify = run.verify()?;
    let diagnose = run
        .file(artifact::DIAGNOSE)
        .is_file()
        .then(|| run.diagnose().ok())
        .flatten();
    let gate = run
        .file(artifact::GATE)
        .is_file()
        .then(|| run.gate().ok())
        .flatten();
    let mut flaky = Vec::new();
    read_case_views(&run.file(artifact::CASES), |c| {
        if c.flaky && flaky.len() < super::digest::FLAKY_MAX {
            flaky.push(FlakyTest {
                runner: c.runner.to_string(),
                id: c.key(),
                retries: c.retries,
            });
        }
    })?;
    Ok(html_page_with(
        artifacts,
        run,
        &verify,
        diagnose.as_ref(),
        gate.as_ref(),
        &flaky,
        live,
        other_runs,
    ))
}

/// [`html_page`] from documents and flaky tests already in memory.
#[allow(clippy::too_many_arguments)]
pub fn html_page_with(
    artifacts: &Path,
    run: &RunDir,
    verify: &VerifyDoc,
    diagnose: Option<&DiagnoseDoc>,
    gate: Option<&GateDoc>,
    flaky: &[FlakyTest],
    live: bool,
    other_runs: &[String],
) -> String {
    use crate::report::html::{self, HtmlInput, TrendPoint};
    let mut trend: Vec<TrendPoint> = artifact::list_runs(artifacts)
        .into_iter()
        .filter(|r| r.id <= run.id && r.is_complete())
        .filter_map(|r| {
            // This run's gate is the one in memory (its file may be from an earlier stage).
            let g = if r.id == run.id {
                gate.cloned()
            } else {
                r.gate().ok()
            };
            g.map(|g| TrendPoint {
                run_id: r.id.clone(),
                score: g.score,
                verdict: g.verdict,
            })
        })
        .collect();
    if trend.len() > TREND_MAX {
        trend.drain(..trend.len() - TREND_MAX);
    }
    html::render(&HtmlInput {
        verify,
        diagnose,
        gate,
        trend: &trend,
        flaky,
        live,
        other_runs,
    })
}
