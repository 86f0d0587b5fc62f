//! The action's inputs (`INPUT_*`, as `action.yml` declares them): parsed and checked once,
//! each bad one named with what it accepts, then laid over the config (config.json <
//! inputs). Also the one refusal the inputs decide before anything runs: no commands from an
//! untrusted checkout under `pull_request_target`.

use crate::publish::context::{Env, GitHubContext};
use crate::settings::{CommentMode, Config, FailOn};

/// A bad input: which one, what it was, and what is accepted.
#[derive(Debug, thiserror::Error)]
#[error("input `{name}` is {value:?}: {expected}")]
pub struct InputError {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

/// The action's inputs, parsed and validated.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    pub token: Option<String>,
    pub reports: Vec<String>,
    pub runners: Vec<String>,
    pub working_directory: Option<String>,
    pub config: Option<String>,
    pub min_score: Option<f64>,
    pub fail_on: Option<FailOn>,
    pub comment: Option<CommentMode>,
    pub check_run: Option<bool>,
    pub summary: Option<bool>,
    pub annotations: Option<bool>,
    pub badge: bool,
    pub artifacts_dir: Option<String>,
    pub template_dir: Option<String>,
    pub dry_run: bool,
    pub timeout: Option<u64>,
    pub jobs: Option<usize>,
    pub fail_on_gate: bool,
    pub fail_on_publish_error: bool,
    pub allow_untrusted_commands: bool,
    pub comment_author: Option<String>,
    pub from: Option<String>,
    /// Glob of shard run directories to fold with `codeloop merge` (the fan-in job).
    pub merge: Option<String>,
    pub check_name: Option<String>,
    pub pr_number: Option<u64>,
    /// Keys the sticky comment (`comment-key`): own comment, hidden state and baseline.
    pub comment_key: Option<String>,
    /// The history data branch (`history`, `history-branch`, `history-runs`, `quarantine`).
    pub history: crate::publish::history::HistorySettings,
    /// Webhooks to notify after the gate (`webhook-urls`), besides config.json's.
    pub webhook_urls: Vec<String>,
    pub webhook_secret: Option<String>,
    pub webhook_format: Option<crate::notify::Format>,
}

fn bool_input(env: &Env, name: &'static str, default: bool) -> Result<bool, InputError> {
    match env.input(name) {
        None => Ok(default),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(v) => Err(InputError {
            name,
            value: v.into(),
            expected: "use true or false".into(),
        }),
    }
}

fn opt_bool(env: &Env, name: &'static str) -> Result<Option<bool>, InputError> {
    env.input(name)
        .map(|_| bool_input(env, name, false))
        .transpose()
}

/// A list input: one item a line or comma-separated, blanks and `#` comments ignored.
fn list_input(env: &Env, name: &str) -> Vec<String> {
    env.input(name)
        .map(|v| {
            v.lines()
                .flat_map(|l| l.split(','))
                .map(str::trim)
                .filter(|s| !s.is_empty() && !s.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A branch name we are willing to put in an API path (a conservative subset of git's rules).
fn valid_branch(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 200
        && !v.starts_with(['/', '.', '-'])
        && !v.ends_with(['/', '.'])
        && !v.contains("..")
        && !v.contains("//")
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
}

impl Inputs {
    pub fn parse(env: &Env) -> Result<Inputs, InputError> {
        let s = |n: &str| env.input(n).map(str::to_string);
        let min_score = match env.input("min-score") {
            None => None,
            Some(v) => match v.parse::<f64>() {
                Ok(x) if (0.0..=100.0).contains(&x) => Some(x),
                _ => {
                    return Err(InputError {
                        name: "min-score",
                        value: v.into(),
                        expected: "use a number from 0 to 100".into(),
                    });
                }
            },
        };
        let fail_on = match env.input("fail-on") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "any" => FailOn::Any,
                "regression" | "regressions" => FailOn::Regression,
                _ => {
                    return Err(InputError {
                        name: "fail-on",
                        value: v.into(),
                        expected: "use `any` (every failure fails the gate) or `regression` (only new failures do)".into(),
                    });
                }
            }),
        };
        let comment = match env.input("comment") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "always" | "true" => CommentMode::Always,
                "on-failure" | "on_failure" => CommentMode::OnFailure,
                "off" | "false" | "never" => CommentMode::Off,
                _ => {
                    return Err(InputError {
                        name: "comment",
                        value: v.into(),
                        expected: "use always, on-failure or off".into(),
                    });
                }
            }),
        };
        let timeout = match env.input("timeout") {
            None => None,
            Some(v) => Some(
                crate::settings::parse_duration_secs(v).map_err(|e| InputError {
                    name: "timeout",
                    value: v.into(),
                    expected: e,
                })?,
            ),
        };
        let jobs = match env.input("jobs") {
            None => None,
            Some(v) => Some(v.parse::<usize>().map_err(|_| InputError {
                name: "jobs",
                value: v.into(),
                expected: "use a whole number (0 = one per CPU core)".into(),
            })?),
        };
        let pr_number = match env.input("pr-number") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| InputError {
                name: "pr-number",
                value: v.into(),
                expected: "use the pull request's number (digits only)".into(),
            })?),
        };
        let comment_key = match env.input("comment-key") {
            None => None,
            Some(v) => {
                Some(
                    crate::publish::github::comment_key(v).map_err(|expected| InputError {
                        name: "comment-key",
                        value: v.into(),
                        expected,
                    })?,
                )
            }
        };
        let history_runs = match env.input("history-runs") {
            None => crate::history::DEFAULT_MAX_RUNS,
            Some(v) => v
                .parse::<usize>()
                .ok()
                .filter(|n| (2..=500).contains(n))
                .ok_or_else(|| InputError {
                    name: "history-runs",
                    value: v.into(),
                    expected: "use a whole number from 2 to 500 (runs kept on the data branch)"
                        .into(),
                })?,
        };
        let history_branch = match env.input("history-branch") {
            None => crate::history::DEFAULT_BRANCH.to_string(),
            Some(v) if valid_branch(v) => v.to_string(),
            Some(v) => {
                return Err(InputError {
                    name: "history-branch",
                    value: v.into(),
                    expected: "use a branch name (letters, digits, `-`, `_`, `.`, `/`)".into(),
                });
            }
        };
        let webhook_format = match env.input("webhook-format") {
            None => None,
            Some(v) => Some(v.parse().map_err(|e: String| InputError {
                name: "webhook-format",
                value: v.into(),
                expected: e,
            })?),
        };
        Ok(Inputs {
            comment_key,
            history: crate::publish::history::HistorySettings {
                enabled: bool_input(env, "history", true)?,
                branch: history_branch,
                max_runs: history_runs,
                quarantine: bool_input(env, "quarantine", false)?,
            },
            pr_number,
            token: s("github-token"),
            reports: list_input(env, "reports"),
            runners: list_input(env, "runners"),
            working_directory: s("working-directory"),
            config: s("config"),
            min_score,
            fail_on,
            comment,
            check_run: opt_bool(env, "check-run")?,
            summary: opt_bool(env, "summary")?,
            annotations: opt_bool(env, "annotations")?,
            badge: bool_input(env, "badge", true)?,
            artifacts_dir: s("artifacts-dir"),
            template_dir: s("template-dir"),
            dry_run: bool_input(env, "dry-run", false)?,
            timeout,
            jobs,
            fail_on_gate: bool_input(env, "fail-on-gate", true)?,
            fail_on_publish_error: bool_input(env, "fail-on-publish-error", false)?,
            allow_untrusted_commands: bool_input(env, "allow-untrusted-commands", false)?,
            comment_author: s("comment-author"),
            from: s("from"),
            merge: s("merge"),
            check_name: s("check-name"),
            webhook_urls: list_input(env, "webhook-urls"),
            webhook_secret: s("webhook-secret"),
            webhook_format,
        })
    }

    /// Applies the inputs over the project's config (inputs win over config.json).
    pub fn apply(&self, cfg: &mut Config) {
        if let Some(x) = self.min_score {
            cfg.gate.min_score = x;
        }
        if let Some(x) = self.fail_on {
            cfg.gate.fail_on = x;
        }
        if let Some(x) = &self.template_dir {
            cfg.report.template_dir = Some(x.clone());
        }
        if let Some(x) = self.timeout {
            cfg.verify.timeout_sec = x;
        }
        if let Some(x) = self.jobs {
            cfg.verify.jobs = x;
        }
        if !self.reports.is_empty() {
            cfg.verify.reports = self.reports.clone();
        }
        if !self.runners.is_empty() {
            cfg.verify.runners = self.runners.clone();
        }
        if let Some(x) = self.comment {
            cfg.publish.comment = x;
        }
        if let Some(x) = self.check_run {
            cfg.publish.check_run = x;
        }
        if let Some(x) = self.summary {
            cfg.publish.summary = x;
        }
        if let Some(x) = self.annotations {
            cfg.publish.annotations = x;
        }
    }
}

/// Under `pull_request_target` the checkout may be the PR's code while the token can write:
/// running its runners or plugins would run untrusted code with that token. Returns the
/// input to fix (`runners` when set, else the missing `reports`) and why.
pub fn untrusted_refusal(ctx: &GitHubContext, inputs: &Inputs) -> Option<(&'static str, String)> {
    if ctx.event_name.as_deref() != Some("pull_request_target")
        || inputs.allow_untrusted_commands
        || inputs.from.is_some()
    {
        return None;
    }
    if !inputs.runners.is_empty() {
        return Some(("runners", "under `pull_request_target`, codeloop does not run `runners` from the checked-out pull request (it would run untrusted code with a write token)".into()));
    }
    if inputs.reports.is_empty() {
        return Some(("reports", "under `pull_request_target`, codeloop only collects reports: set `reports` to the result files an earlier step wrote (runners and plugins from the pull request are not run)".into()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_and_name_the_bad_one() {
        let env = Env::from_pairs([
            ("INPUT_REPORTS", "junit/*.xml, build/a.json\n# note\nx.tap"),
            ("INPUT_MIN-SCORE", "85"),
            ("INPUT_COMMENT", "on-failure"),
            ("INPUT_TIMEOUT", "15m"),
            ("INPUT_FAIL-ON-GATE", "FALSE"),
        ]);
        let i = Inputs::parse(&env).unwrap();
        assert_eq!(i.reports, ["junit/*.xml", "build/a.json", "x.tap"]);
        assert_eq!(i.min_score, Some(85.0));
        assert_eq!(i.comment, Some(CommentMode::OnFailure));
        assert_eq!(i.timeout, Some(900));
        assert!(!i.fail_on_gate && i.badge);
        let mut cfg = Config::default();
        i.apply(&mut cfg);
        assert_eq!(cfg.gate.min_score, 85.0);
        assert_eq!(cfg.verify.timeout_sec, 900);

        let e = Inputs::parse(&Env::from_pairs([("INPUT_CHECK-RUN", "yes")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input `check-run` is \"yes\": use true or false"
        );
        let e = Inputs::parse(&Env::from_pairs([("INPUT_MIN_SCORE", "120")])).unwrap_err();
        assert!(e.to_string().contains("0 to 100"), "{e}");
    }

    #[test]
    fn pull_request_target_only_collects() {
        let ctx = GitHubContext {
            event_name: Some("pull_request_target".into()),
            ..Default::default()
        };
        let mut i = Inputs::default();
        let (name, why) = untrusted_refusal(&ctx, &i).unwrap();
        assert_eq!(name, "reports");
        assert!(why.contains("set `reports`"), "{why}");
        i.reports = vec!["r.xml".into()];
        assert!(untrusted_refusal(&ctx, &i).is_none());
        i.runners = vec!["pytest".into()];
        let (name, why) = untrusted_refusal(&ctx, &i).unwrap();
        assert_eq!(name, "runners");
        assert!(why.contains("untrusted code"), "{why}");
        i.allow_untrusted_commands = true;
        assert!(untrusted_refusal(&ctx, &i).is_none());
        let push = GitHubContext {
            event_name: Some("pull_request".into()),
            ..Default::default()
        };
        assert!(untrusted_refusal(&push, &Inputs::default()).is_none());
    }
}
