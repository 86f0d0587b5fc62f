//! The publish stage's settings: what `codeloop publish` and the action share (the publishing
//! itself is [`crate::publish`]).

use crate::publish::context::Env;
use crate::publish::{Forge, PublishOptions};
use crate::settings::Config;

/// Builds the publish options from the effective config and the environment.
pub fn publish_options(cfg: &Config, env: &Env, token: Option<String>) -> PublishOptions {
    PublishOptions {
        forge: Forge::Auto,
        comment: cfg.publish.comment,
        delete_on_pass: cfg.publish.delete_on_pass,
        summary: cfg.publish.summary,
        annotations: cfg.publish.annotations,
        check_run: cfg.publish.check_run,
        max_check_annotations: cfg.publish.max_check_annotations,
        token,
        max_comment_chars: cfg.report.max_comment_chars,
        retry: PublishOptions::retry_from_env(env),
        budget: PublishOptions::budget_from_env(env),
        ..PublishOptions::default()
    }
}
