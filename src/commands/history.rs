//! `codeloop history`: lists runs, newest first, marking incomplete ones, and what the local
//! runs say across runs — flaky tests (flip rate) and tests slower than their median — with
//! the same analysis as the data branch ([`crate::history`]). `--gc --keep N` deletes all
//! complete runs but the newest N, plus incomplete runs older than the newest complete one
//! (they were interrupted); incomplete runs newer than that may still be running and are
//! left alone. `--export` writes the local history file, `--fetch` downloads the data
//! branch's.
//!
//! The gate's history hook (`--history FILE` of gate-check and ci) is
//! [`crate::pipeline::history`].

use std::path::Path;

use serde::Serialize;

use crate::artifact::{self, RunDir};
use crate::cli::{HistoryArgs, OutputFormat};
use crate::exit;
use crate::history::{self, HistoryDoc, Index, Insights, InsightsBuilder, Thresholds};
use crate::model::{Counts, RunStatus};
use crate::pipeline::verify::resolve_settings;

/// The history of local complete runs, oldest first (the newest `max_runs`), under the
/// branch name `local`. Returns the history of every run but the newest, the newest run's
/// id, and the full history.
pub fn local_history(
    runs: &[RunDir],
    max_runs: usize,
) -> Option<(HistoryDoc<'static>, RunDir, HistoryDoc<'static>)> {
    let complete: Vec<&RunDir> = runs.iter().filter(|r| r.is_complete()).collect();
    let (newest, rest) = complete.split_last()?;
    let start = rest.len().saturating_sub(max_runs.saturating_sub(1));
    let mut doc = HistoryDoc::empty("local", max_runs);
    for r in &rest[start..] {
        doc = add_local(&doc, r, max_runs);
    }
    let full = add_local(&doc, newest, max_runs);
    Some((doc, (*newest).clone(), full))
}

fn add_local(doc: &HistoryDoc<'_>, r: &RunDir, max_runs: usize) -> HistoryDoc<'static> {
    let sha = artifact::read_json::<artifact::manifest::Manifest>(&r.file(artifact::MANIFEST))
        .ok()
        .and_then(|m| m.context.sha);
    let (entry, cases) = crate::publish::history::run_entry(&r.path, sha);
    history::append(Some(doc), "local", max_runs, entry, cases)
}

/// What the local runs say: flaky tests over all of them, and the newest run against the
/// ones before it.
pub fn local_insights(runs: &[RunDir], max_runs: usize) -> Option<(String, Insights)> {
    let (prev, newest, full) = local_history(runs, max_runs)?;
    let idx = Index::new(&prev);
    let mut b = InsightsBuilder::new(&idx, Thresholds::default());
    let _ = newest.cases(|c| b.observe(&c.key(), c.status, c.duration));
    let mut i = b.finish(false);
    // Flakiness counts the newest run too.
    let full_idx = Index::new(&full);
    let flaky = full_idx.flaky(&Thresholds::default());
    i.flaky_total = flaky.len();
    i.flaky = flaky
        .into_iter()
        .take(Insights::MAX_LISTED)
        .map(|(id, f)| history::FlakyTest {
            id,
            flips: f.flips,
            observed: f.observed,
            flip_rate: (f.rate() * 1000.0).round() / 1000.0,
            failing_now: false,
            quarantined: false,
        })
        .collect();
    i.history_runs = full.runs.len();
    Some((newest.id, i))
}

#[derive(Serialize)]
pub struct HistoryEntry {
    pub run_id: String,
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totals: Option<Counts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// What `history --format json` prints.
#[derive(Serialize)]
pub struct HistoryOutput {
    pub schema_version: u32,
    pub runs_dir: String,
    /// Newest first.
    pub runs: Vec<HistoryEntry>,
    /// Run ids deleted by --gc.
    pub deleted: Vec<String>,
    /// Flaky and slower tests across the local runs (docs/history.md); absent with fewer
    /// than two complete runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Insights>,
}

pub fn run(args: HistoryArgs) -> i32 {
    if let Some(dest) = &args.fetch {
        return fetch(&args, dest);
    }
    let r = match resolve_settings(&(&args.common).into()) {
        Ok(r) => r,
        Err(f) => {
            f.print();
            return f.code;
        }
    };
    let mut deleted = Vec::new();
    let mut code = exit::OK;
    if args.gc {
        let gc = crate::pipeline::runs::gc(&r.artifacts_dir, args.keep);
        for e in &gc.errors {
            crate::errln!("error: {e}");
            code = exit::INFRA;
        }
        deleted = gc.deleted;
    }
    let mut runs: Vec<RunDir> = artifact::list_runs(&r.artifacts_dir);
    let max_runs = if args.runs == 0 {
        history::DEFAULT_MAX_RUNS
    } else {
        args.runs
    };
    let analysis = local_insights(&runs, max_runs);
    if let Some(dest) = &args.export {
        let doc = local_history(&runs, max_runs).map(|x| x.2);
        let Some(doc) = doc else {
            crate::errln!(
                "error: no complete run under `{}` to export",
                artifact::runs_root(&r.artifacts_dir).display()
            );
            return exit::NO_RESULTS;
        };
        if let Err(e) = artifact::write_atomic(dest, &history::encode(&doc)) {
            crate::errln!("error: {e}");
            return exit::INFRA;
        }
    }
    runs.reverse();
    let entries: Vec<HistoryEntry> = runs
        .iter()
        .map(|x| {
            let doc = if x.is_complete() {
                x.verify().ok()
            } else {
                None
            };
            HistoryEntry {
                run_id: x.id.clone(),
                complete: x.is_complete(),
                status: doc.as_ref().map(|d| d.status),
                totals: doc.as_ref().map(|d| d.totals),
                finished_at: doc.map(|d| d.finished_at),
            }
        })
        .collect();
    if args.common.format == OutputFormat::Json {
        let out = HistoryOutput {
            schema_version: crate::model::SCHEMA_VERSION,
            runs_dir: artifact::runs_root(&r.artifacts_dir)
                .to_string_lossy()
                .into_owned(),
            runs: entries,
            deleted,
            analysis: analysis.map(|a| a.1),
        };
        match serde_json::to_string_pretty(&out) {
            Ok(s) => crate::outln!("{s}"),
            Err(e) => crate::errln!("error: {e}"),
        }
        return code;
    }
    if !deleted.is_empty() {
        crate::outln!(
            "deleted {} run(s), kept the newest {}",
            deleted.len(),
            args.keep
        );
    }
    if entries.is_empty() {
        crate::outln!(
            "no runs under `{}`",
            artifact::runs_root(&r.artifacts_dir).display()
        );
    }
    if let Some((newest, a)) = &analysis {
        print_analysis(newest, a);
    }
    for e in &entries {
        match (&e.status, &e.totals) {
            (Some(s), Some(t)) => crate::outln!(
                "{}  {:11}  {} tests, {} failed, {} errored",
                e.run_id,
                format!("{s:?}").to_lowercase(),
                t.tests,
                t.failed,
                t.errored
            ),
            _ if !e.complete => crate::outln!(
                "{}  incomplete   (no manifest.json: interrupted or still running)",
                e.run_id
            ),
            _ => crate::outln!(
                "{}  unreadable   (verify.json is missing or damaged)",
                e.run_id
            ),
        }
    }
    code
}

fn print_analysis(newest: &str, a: &Insights) {
    let t = &a.thresholds;
    crate::outln!(
        "flaky across the last {} runs: {} (status flipped ≥ {} times, passed only after retries, or both results on one commit)",
        a.history_runs,
        a.flaky_total,
        t.flaky_min_flips
    );
    for f in &a.flaky {
        crate::outln!(
            "  {:>4.0} %  {} flips in {} runs  {}",
            f.flip_rate * 100.0,
            f.flips,
            f.observed,
            crate::diagnose::one_line(&f.id, 200)
        );
    }
    crate::outln!(
        "slower in {newest} than their median: {} (≥ {}× and ≥ {:.0} ms more, over ≥ {} earlier passing runs)",
        a.slower_total,
        t.slower_factor,
        t.slower_min_ms,
        t.slower_min_samples
    );
    for s in &a.slower {
        crate::outln!(
            "  {:>8.0} ms  median {:.0} ms  {:.1}×  {}",
            s.ms,
            s.median_ms,
            s.ratio,
            crate::diagnose::one_line(&s.id, 200)
        );
    }
    crate::outln!("");
}

/// `--fetch FILE`: the data branch's history from the forge in the environment.
fn fetch(args: &HistoryArgs, dest: &Path) -> i32 {
    use crate::publish::context::{Env, GitHubContext};
    let env = Env::from_process();
    let ctx = GitHubContext::from_env(&env);
    let comment_key = match args
        .comment_key
        .as_deref()
        .map(crate::publish::github::comment_key)
        .transpose()
    {
        Ok(k) => k,
        Err(m) => {
            crate::ui::error(
                &std::io::Error::other(format!("--comment-key: {m}")),
                Some("use the key `publish --comment-key` is given"),
            );
            return exit::USAGE;
        }
    };
    let mut opts = crate::publish::PublishOptions {
        token: env.get("GITHUB_TOKEN").map(str::to_string),
        retry: crate::publish::PublishOptions::retry_from_env(&env),
        comment_key,
        // Reading is all this command does: the read may take the whole budget.
        writes_follow: false,
        ..Default::default()
    };
    opts.forge = crate::publish::detect_forge(&env);
    let publisher = crate::publish::Publisher::new(
        &env,
        &ctx,
        opts,
        crate::publish::actions::Redactor::from_env(env.iter()),
    );
    let settings = crate::publish::history::HistorySettings {
        branch: if args.data_branch.is_empty() {
            history::DEFAULT_BRANCH.into()
        } else {
            args.data_branch.clone()
        },
        ..Default::default()
    };
    match publisher.fetch_history(&settings, dest, &mut crate::ui::Stdout) {
        Some(p) => crate::outln!("history: wrote `{}`", p.display()),
        None => crate::outln!("history: none fetched; the gate runs without history"),
    }
    exit::OK
}
