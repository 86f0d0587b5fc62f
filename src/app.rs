//! Dispatch: one arm per command, each returning its exit code (see [`crate::exit`]).

use crate::cli::{Cli, Command};
use crate::commands;

pub fn run(cli: Cli) -> i32 {
    // Secrets first: every file and message after this point goes through the redactor.
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    crate::redact::install(crate::redact::Redactor::from_env(
        env.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ));
    // Webhook URLs are credentials (a Slack URL is its own key) though their names do not
    // say "secret": `SLACK_WEBHOOK_URL`, `CODELOOP_WEBHOOK_URLS`, the `webhook-urls` input.
    crate::redact::add_global(
        env.iter()
            .filter(|(k, _)| crate::notify::url_var(k))
            .flat_map(|(_, v)| v.split([',', '\n']).map(str::trim).map(String::from)),
    );
    match cli.command {
        Command::Verify(a) => commands::verify::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::History(a) => commands::history::run(a),
        Command::Init(a) => commands::init::run(a),
        Command::Doctor(a) => commands::doctor::run(a),
        Command::Action(a) => commands::action::run(a),
        Command::Publish(a) => commands::publish::run(a),
        Command::Diagnose(a) => commands::diagnose::run(a),
        Command::GateCheck(a) => commands::gate_check::run(a),
        Command::Ci(a) => commands::ci::run(a),
        Command::Report(a) => commands::report::run(a),
        Command::Merge(a) => commands::merge::run(a),
        Command::Mcp(a) => commands::mcp::run(a),
        Command::Dashboard(a) => commands::dashboard::run(a),
        Command::Notify(a) => commands::notify::run(a),
        Command::Formats(a) => commands::formats::run(a),
    }
}
