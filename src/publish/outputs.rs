//! The action's step outputs (`GITHUB_OUTPUT`): what a published run says to the steps after
//! it — verdict, score, counts, where the run and its badge are, the comment — and what the
//! history push adds. Deciding the pairs is pure; [`write`] appends them (redacted, in the
//! runner's heredoc format) through [`super::actions::write_outputs`].

use std::path::{Path, PathBuf};

use super::history::HistoryPush;
use super::{PublishReport, RunView};

/// A path for an output: relative to the workspace when inside it, because a Docker action
/// sees the workspace at another path than the steps after it do.
pub fn output_path(p: &Path, workspace: &Path) -> String {
    p.strip_prefix(workspace)
        .unwrap_or(p)
        .to_string_lossy()
        .into_owned()
}

/// The outputs of a published run. `badge`: the badge files are outputs (the `badge` input).
pub fn run_outputs(
    view: &RunView,
    report: &PublishReport,
    run_dir: &Path,
    workspace: &Path,
    badge: bool,
) -> Vec<(&'static str, String)> {
    let g = view.gate.as_ref();
    let counts = g.map(|g| g.counts).unwrap_or_default();
    let (svg, png) = if badge {
        super::badge_paths(run_dir)
    } else {
        (None, None)
    };
    let p = |o: Option<PathBuf>| o.map(|p| output_path(&p, workspace)).unwrap_or_default();
    let run_dir_out = output_path(run_dir, workspace);
    let verdict = g.map(|g| g.verdict.as_str()).unwrap_or("unknown");
    let score = g.map(|g| format!("{:.1}", g.score)).unwrap_or_default();
    let json = serde_json::json!({
        "run_id": view.run_id,
        "run_dir": run_dir_out,
        "verdict": verdict,
        "score": g.map(|g| g.score),
        "counts": counts,
        "comment_id": report.comment_id,
        "comment_url": report.comment_url,
        "check_run_url": report.check_run_url,
        "comment": report.comment_action,
        "publish_errors": report.errors.len(),
    });
    vec![
        ("verdict", verdict.to_string()),
        ("score", score),
        ("tests", counts.tests.to_string()),
        ("passed", counts.passed.to_string()),
        ("failed", counts.failed.to_string()),
        ("errored", counts.errored.to_string()),
        ("skipped", counts.skipped.to_string()),
        ("flaky", counts.flaky.to_string()),
        ("run-id", view.run_id.clone()),
        ("run-dir", run_dir_out),
        (
            "comment-id",
            report.comment_id.map(|i| i.to_string()).unwrap_or_default(),
        ),
        (
            "comment-url",
            report.comment_url.clone().unwrap_or_default(),
        ),
        ("badge-svg", p(svg)),
        ("badge-png", p(png)),
        ("json", json.to_string()),
    ]
}

/// `badge-url` (the data branch's badge.svg, for a README) and `history-commit`.
pub fn history_outputs(
    badge_url: Option<String>,
    pushed: &HistoryPush,
) -> Vec<(&'static str, String)> {
    vec![
        ("badge-url", badge_url.unwrap_or_default()),
        ("history-commit", pushed.commit.clone().unwrap_or_default()),
    ]
}

/// Appends `pairs` to the file `GITHUB_OUTPUT` names, if any; a file that cannot be written
/// is a warning (the run's verdict does not depend on it).
pub fn write(env: &super::context::Env, pairs: &[(&str, String)]) {
    let Some(path) = env.get("GITHUB_OUTPUT") else {
        return;
    };
    if let Err(e) = super::actions::write_outputs(Path::new(path), pairs) {
        crate::ui::warn(&e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counts, GateDoc, Verdict};

    #[test]
    fn outputs_name_paths_from_the_workspace_and_say_unknown_without_a_gate() {
        let ws = Path::new("/github/workspace");
        let run = ws.join("backend/.codeloop/runs/r1");
        let view = RunView {
            run_id: "r1".into(),
            ..RunView::default()
        };
        let report = PublishReport {
            comment_id: Some(7),
            comment_action: "created".into(),
            ..PublishReport::default()
        };
        let out = run_outputs(&view, &report, &run, ws, false);
        let get = |k: &str| out.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("verdict"), Some("unknown"));
        assert_eq!(get("score"), Some(""));
        assert_eq!(get("run-dir"), Some("backend/.codeloop/runs/r1"));
        assert_eq!(get("comment-id"), Some("7"));
        assert_eq!(get("badge-svg"), Some(""));
        let json: serde_json::Value = serde_json::from_str(get("json").unwrap()).unwrap();
        assert_eq!(json["comment"], "created");
        assert_eq!(json["score"], serde_json::Value::Null);

        let gate = GateDoc {
            schema_version: 1,
            run_id: "r1".into(),
            verdict: Verdict::Fail,
            score: 92.0,
            components: Vec::new(),
            rules: Vec::new(),
            reasons: Vec::new(),
            counts: Counts {
                tests: 10,
                passed: 8,
                failed: 2,
                ..Counts::default()
            },
            lint: Default::default(),
            delta: None,
        };
        let view = RunView {
            gate: Some(gate),
            ..view
        };
        // Outside the workspace, a path stays whole.
        let out = run_outputs(&view, &report, Path::new("/tmp/r1"), ws, false);
        let get = |k: &str| out.iter().find(|(n, _)| *n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("verdict"), Some("fail"));
        assert_eq!(get("score"), Some("92.0"));
        assert_eq!((get("tests"), get("failed")), (Some("10"), Some("2")));
        assert_eq!(get("run-dir"), Some("/tmp/r1"));
    }
}
