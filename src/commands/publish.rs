//! `codeloop publish --from RUN_DIR`: publishes an existing run directory. The fork recipe
//! uses it: the untrusted `pull_request` job uploads its run directory as an artifact, and a
//! trusted `workflow_run` job downloads it and posts it with a write token. The forge is
//! detected from the environment (GitHub, GitLab MR pipelines; `--forge none` prints what
//! would be posted).

use crate::artifact;
use crate::cli::PublishArgs;
use crate::exit;
use crate::publish::actions::Redactor;
use crate::publish::context::{Env, GitHubContext};
use crate::publish::{self, Forge, Publisher};
use crate::settings::{CommentMode, Config};

/// Whether the run directory was made by this GitHub Actions workflow run (its manifest's
/// run URL is this job's).
fn made_in_this_workflow_run(run_dir: &std::path::Path, ctx: &GitHubContext) -> bool {
    let Ok(m) =
        artifact::read_json::<artifact::manifest::Manifest>(&run_dir.join(artifact::MANIFEST))
    else {
        return false;
    };
    let (Some(made), Some(here)) = (m.context.run_url, ctx.run_url()) else {
        return false;
    };
    made == here
}

pub fn run(args: PublishArgs) -> i32 {
    let env = Env::from_process();
    let ctx = GitHubContext::from_env(&env);
    let forge: Forge = match args.forge.parse() {
        Ok(f) => f,
        Err(e) => {
            crate::ui::error(&std::io::Error::other(format!("--forge: {e}")), None);
            return exit::USAGE;
        }
    };
    let cwd = &args.common.cwd;
    let config_path = args
        .common
        .config
        .clone()
        .unwrap_or_else(|| cwd.join(crate::settings::CONFIG_PATH));
    let cfg = match Config::load(&config_path) {
        Ok((c, _)) => {
            crate::redact::add_env_names(&c.redact.env, |k| std::env::var(k).ok());
            c
        }
        Err(e) => {
            crate::ui::error(&e, Some("fix the file or pass --config"));
            return exit::USAGE;
        }
    };
    let artifacts = args
        .common
        .artifacts_dir
        .clone()
        .unwrap_or_else(|| cwd.join(crate::settings::ARTIFACTS_DIR));
    let run = match artifact::resolve(&artifacts, args.from.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            crate::ui::error(
                &e,
                Some("pass --from with the run directory (the folder holding manifest.json)"),
            );
            return exit::USAGE;
        }
    };
    let token = env
        .get("GITHUB_TOKEN")
        .or_else(|| env.input("github-token"))
        .map(str::to_string);
    let mut redactor = Redactor::from_env(env.iter());
    if let Some(t) = &token {
        redactor.add(t);
    }
    redactor.extend(cfg.redact.env.iter().filter_map(|n| env.get(n)));
    let mut opts = crate::pipeline::publish::publish_options(&cfg, &env, token);
    opts.forge = forge;
    opts.dry_run = args.dry_run;
    opts.pr = args.pr;
    opts.head_sha = args.sha.clone();
    // The run's budget: what `ci --baseline comment` of this job spent on it is gone.
    opts.run_dir = Some(run.path.clone());
    opts.check_run |= args.check_run;
    opts.author = env.input("comment-author").map(str::to_string);
    if let Some(k) = &args.comment_key {
        match crate::publish::github::comment_key(k) {
            Ok(k) => opts.comment_key = Some(k),
            Err(m) => {
                crate::ui::error(
                    &std::io::Error::other(format!("--comment-key `{k}`: {m}")),
                    None,
                );
                return exit::USAGE;
            }
        }
    }
    if let Some(m) = &args.comment {
        opts.comment = match m.as_str() {
            "always" => CommentMode::Always,
            "on-failure" => CommentMode::OnFailure,
            "off" => CommentMode::Off,
            other => {
                crate::ui::error(
                    &std::io::Error::other(format!(
                        "--comment `{other}`: use always, on-failure or off"
                    )),
                    None,
                );
                return exit::USAGE;
            }
        };
    }
    // The documented recipe is `codeloop ci` then `codeloop publish` in one job: ci (or
    // diagnose) already printed the workflow-command annotations of a run made in this
    // workflow run, so printing them again would show every one twice. A run made elsewhere
    // (the fork recipe's uploaded run, posted from a `workflow_run` job) gets them here.
    if made_in_this_workflow_run(&run.path, &ctx) {
        opts.annotations = false;
    }
    let view = match publish::load_run(&run.path) {
        Ok(v) => v,
        Err(e) => {
            crate::ui::error(&e, None);
            return exit::INFRA;
        }
    };
    let publisher = Publisher::new(&env, &ctx, opts, redactor);
    let mut report = publisher.publish(&view, &mut crate::ui::Stdout);
    if let Some(url) = &report.comment_url {
        crate::outln!("codeloop: comment {} at {url}", report.comment_action);
    } else if report.comment_action == "deleted" {
        // Said, so a log reader knows why the PR/MR no longer shows the failure report.
        crate::outln!(
            "codeloop: comment deleted (the gate passed and `comment` is on-failure, so the old failure report is gone)"
        );
    }
    // A push to the default branch adds its run (and the badge) to the history data branch.
    let settings = crate::publish::history::HistorySettings {
        enabled: !args.no_history,
        branch: if args.history_branch.is_empty() {
            crate::history::DEFAULT_BRANCH.into()
        } else {
            args.history_branch.clone()
        },
        max_runs: args.history_runs.clamp(2, 500),
        quarantine: false,
    };
    let pushed = publisher.push_history(
        &settings,
        &run.path,
        &cfg.report.badge,
        &mut crate::ui::Stdout,
    );
    // A history that could not be written is never the build's fault.
    report.outages += pushed.warnings.len();
    report.errors.extend(pushed.warnings);
    // Publishing is this command's whole job, so its setup failures (no token, read-only
    // token) are its exit code — except on GitLab, where `codeloop publish` is a plain script line after the tests: a note that
    // cannot be written (no token, no `api` scope, API down) is a warning, never a red
    // pipeline, unless CODELOOP_FAIL_ON_PUBLISH_ERROR=true.
    // Nor does an outage of GitHub's API (connection errors, 5xx after the retries): the
    // verdict is printed and in the job summary, and an outage is not the build's fault.
    let outage_only = report.outages == report.errors.len();
    let lenient = (publisher.forge() == Forge::GitLab || outage_only)
        && !env.is_true("CODELOOP_FAIL_ON_PUBLISH_ERROR");
    if report.errors.is_empty() || lenient {
        exit::OK
    } else {
        exit::INFRA
    }
}
