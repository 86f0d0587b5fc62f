//! The webhook bodies (pure: documents in, JSON out). The `json` format is codeloop's own
//! documented payload (docs/webhooks.md); `slack` is a Slack incoming-webhook message (also
//! what Mattermost and Rocket.Chat accept), with test names escaped so they cannot mention
//! anyone or inject links.

use serde_json::{Value, json};

use crate::artifact::manifest::Context;
use crate::model::{DiagnoseDoc, GateDoc, Verdict};

/// At most this many new failures are listed (the total is always given).
pub const MAX_FAILURES: usize = 50;
/// The payload's `event`.
pub const EVENT: &str = "gate.completed";
/// Version of the payload's shape.
pub const PAYLOAD_VERSION: u32 = 1;

/// The gate result as the `json` webhook body. `diagnose` adds failure titles and locations;
/// `context` (from manifest.json) adds repository, commit and links.
pub fn gate_payload(
    gate: &GateDoc,
    diagnose: Option<&DiagnoseDoc>,
    context: &Context,
    tool_version: &str,
) -> Value {
    let (new_failures, total, baseline) = new_failures(gate, diagnose);
    let repo = context.repository.clone();
    // Links in the forge's own URL scheme (GitHub `/pull/N`, GitLab `/-/merge_requests/N`).
    let server = context
        .server_url
        .as_deref()
        .map(|s| s.trim_end_matches('/'));
    let (commit_url, pr_url) = match (server, &repo, context.ci.as_deref()) {
        (Some(s), Some(r), Some("github")) => (
            context.sha.as_ref().map(|x| format!("{s}/{r}/commit/{x}")),
            context.pr_number.map(|n| format!("{s}/{r}/pull/{n}")),
        ),
        (Some(s), Some(r), Some("gitlab")) => (
            context
                .sha
                .as_ref()
                .map(|x| format!("{s}/{r}/-/commit/{x}")),
            context
                .pr_number
                .map(|n| format!("{s}/{r}/-/merge_requests/{n}")),
        ),
        _ => (None, None),
    };
    json!({
        "schema_version": PAYLOAD_VERSION,
        "event": EVENT,
        "run_id": gate.run_id,
        "verdict": gate.verdict,
        "score": gate.score,
        "counts": gate.counts,
        "lint": gate.lint,
        "reasons": gate.reasons,
        "new_failures": new_failures,
        "new_failures_total": total,
        "baseline_run_id": baseline,
        "repository": repo,
        "sha": context.sha,
        "ref": context.git_ref,
        "pull_request": context.pr_number,
        "ci": context.ci,
        "links": {
            "run": context.run_url,
            "commit": commit_url,
            "pull_request": pr_url,
        },
        "tool_version": tool_version,
    })
}

/// New failures: against the baseline when the gate had one (its delta), else every failing
/// test (nothing was known before). Each with its title and location when diagnose has them.
fn new_failures(
    gate: &GateDoc,
    diagnose: Option<&DiagnoseDoc>,
) -> (Vec<Value>, usize, Option<String>) {
    let problems = diagnose.map(|d| d.problems.as_slice()).unwrap_or_default();
    let describe = |test: &str, runner: Option<&str>| -> Value {
        let p = problems.iter().find(|p| p.test.as_deref() == Some(test));
        json!({
            "test": test,
            "runner": p.map(|p| p.runner.as_str()).or(runner),
            "category": p.map(|p| p.category),
            "title": p.map(|p| p.title.as_str()),
            "location": p.and_then(|p| p.location.as_ref()).map(|l| l.to_string()),
        })
    };
    if let Some(delta) = &gate.delta {
        let list = delta
            .new_failures
            .iter()
            .take(MAX_FAILURES)
            .map(|t| describe(t, None))
            .collect();
        return (
            list,
            delta.new_failures.len(),
            delta.baseline_run_id.clone(),
        );
    }
    let failing: Vec<&crate::model::Problem> =
        problems.iter().filter(|p| p.test.is_some()).collect();
    let list = failing
        .iter()
        .take(MAX_FAILURES)
        .filter_map(|p| p.test.as_deref().map(|t| describe(t, Some(&p.runner))))
        .collect();
    (list, failing.len(), None)
}

/// Escapes text for Slack's mrkdwn: `&`, `<` and `>` are the control characters (links,
/// `<!channel>` mentions); `@` gets a zero-width joiner so `@here` stays text.
pub fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('@', "@\u{2060}")
}

/// The Slack message for a `json` payload (from [`gate_payload`]).
pub fn slack_payload(p: &Value) -> Value {
    let pass = p["verdict"] == json!(Verdict::Pass);
    let head = format!(
        "{} codeloop gate {} — score {}{}",
        if pass { ":white_check_mark:" } else { ":x:" },
        if pass { "passed" } else { "failed" },
        p["score"],
        match (p["repository"].as_str(), p["sha"].as_str()) {
            (Some(r), Some(s)) => format!(
                " — {}@{}",
                slack_escape(r),
                slack_escape(s.get(..7).unwrap_or(s))
            ),
            (Some(r), None) => format!(" — {}", slack_escape(r)),
            _ => String::new(),
        }
    );
    let c = &p["counts"];
    let mut lines = vec![
        format!("*{head}*"),
        format!(
            "{} tests: {} passed, {} failed, {} errored, {} skipped, {} flaky",
            c["tests"], c["passed"], c["failed"], c["errored"], c["skipped"], c["flaky"]
        ),
    ];
    if let Some(reasons) = p["reasons"].as_array() {
        for r in reasons.iter().filter_map(Value::as_str).take(3) {
            lines.push(format!("• {}", slack_escape(r)));
        }
    }
    let total = p["new_failures_total"].as_u64().unwrap_or(0);
    if total > 0 {
        lines.push(format!("*New failures ({total}):*"));
        let list = p["new_failures"].as_array().cloned().unwrap_or_default();
        for f in list.iter().take(10) {
            let name = f["test"].as_str().unwrap_or("?");
            let at = f["location"]
                .as_str()
                .map(|l| format!(" ({})", slack_escape(l)))
                .unwrap_or_default();
            lines.push(format!("• `{}`{at}", slack_escape(&name.replace('`', "'"))));
        }
        if total > 10 {
            lines.push(format!("… and {} more", total - 10));
        }
    }
    let links: Vec<String> = [
        ("run", "CI run"),
        ("pull_request", "pull request"),
        ("commit", "commit"),
    ]
    .iter()
    .filter_map(|(k, label)| {
        p["links"][k]
            .as_str()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| format!("<{}|{label}>", u.replace(['<', '>', '|'], "")))
    })
    .collect();
    if !links.is_empty() {
        lines.push(links.join(" · "));
    }
    let text = lines.join("\n");
    json!({
        "text": head.replace('*', ""),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Counts, Delta};

    fn gate(verdict: Verdict, delta: Option<Delta>) -> GateDoc {
        GateDoc {
            schema_version: 1,
            run_id: "20261121T223000Z-3f9c".into(),
            verdict,
            score: 72.5,
            components: vec![],
            rules: vec![],
            reasons: vec!["2 tests failed (max_failures: 0)".into()],
            counts: Counts {
                tests: 10,
                passed: 8,
                failed: 2,
                ..Counts::default()
            },
            lint: Default::default(),
            delta,
        }
    }

    fn ctx() -> Context {
        Context {
            ci: Some("github".into()),
            server_url: Some("https://github.com".into()),
            repository: Some("acme/app".into()),
            sha: Some("0123456789abcdef".into()),
            pr_number: Some(7),
            run_url: Some("https://github.com/acme/app/actions/runs/9".into()),
            ..Context::default()
        }
    }

    #[test]
    fn payload_carries_verdict_counts_links_and_the_delta() {
        let delta = Delta {
            baseline_run_id: Some("base".into()),
            score_change: None,
            new_failures: vec!["pytest::t::a".into()],
            fixed: vec![],
            still_failing: vec!["pytest::t::b".into()],
            unknown: Vec::new(),
            tests_added: 0,
            tests_removed: 0,
            counts_before: None,
        };
        let p = gate_payload(&gate(Verdict::Fail, Some(delta)), None, &ctx(), "0.1.0");
        assert_eq!(p["verdict"], "fail");
        assert_eq!(p["counts"]["failed"], 2);
        assert_eq!(p["new_failures_total"], 1);
        assert_eq!(p["new_failures"][0]["test"], "pytest::t::a");
        assert_eq!(p["baseline_run_id"], "base");
        assert_eq!(
            p["links"]["pull_request"],
            "https://github.com/acme/app/pull/7"
        );
        assert_eq!(
            p["links"]["commit"],
            "https://github.com/acme/app/commit/0123456789abcdef"
        );
        assert_eq!(p["event"], EVENT);
    }

    #[test]
    fn slack_message_escapes_untrusted_names() {
        let mut p = gate_payload(&gate(Verdict::Fail, None), None, &ctx(), "0.1.0");
        p["new_failures"] = json!([{"test": "t <!channel> @here & `x`", "location": "a.py:3"}]);
        p["new_failures_total"] = json!(1);
        let s = slack_payload(&p);
        let text = s["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(text.contains("&lt;!channel&gt;"), "{text}");
        assert!(!text.contains("@here"), "{text}");
        assert!(text.contains("&amp;"), "{text}");
        assert!(
            text.contains("<https://github.com/acme/app/pull/7|pull request>"),
            "{text}"
        );
        assert!(s["text"].as_str().unwrap().contains("failed"));
    }
}
