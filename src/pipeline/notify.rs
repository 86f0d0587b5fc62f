//! The notify step: delivering a gated run's result to the configured webhooks
//! (`notify.webhooks` in config.json, `CODELOOP_WEBHOOK_*`, the action's `webhook-*` inputs)
//! with [`crate::notify`]'s signed, retried deliveries. `ci`, `merge` and the action call
//! [`after_gate`] / [`notify_run`] after the gate; `codeloop notify` is the command alone.
//!
//! A webhook that cannot be delivered is a warning: the gate decides the build, never a
//! webhook. Only a bad setting or a run without gate.json is an error.

use std::path::Path;

use crate::artifact::{self, RunDir};
use crate::notify::{self, Format, Outcome, Policy, Target};
use crate::settings::{Config, NotifyConfig};
use crate::ui;

/// Extra webhook URLs (comma- or newline-separated), after the config's.
pub const URLS_ENV: &str = "CODELOOP_WEBHOOK_URLS";
/// Body format for the `CODELOOP_WEBHOOK_URLS` endpoints: `json` (default) or `slack`.
pub const FORMAT_ENV: &str = "CODELOOP_WEBHOOK_FORMAT";
/// The default signing secret.
pub const SECRET_ENV: &str = "CODELOOP_WEBHOOK_SECRET";

/// Whether any webhook is configured (so `ci`/`action` skip the step silently otherwise).
pub fn configured(cfg: &NotifyConfig, get: &dyn Fn(&str) -> Option<String>) -> bool {
    !cfg.webhooks.is_empty() || get(URLS_ENV).is_some_and(|v| !v.trim().is_empty())
}

/// The endpoints to deliver to, and warnings for the ones that cannot be used (a variable
/// that is not set, a malformed URL). Every URL and secret is added to the redactor: a
/// Slack webhook URL is a credential, and none may reach a file or a log.
pub fn targets(
    cfg: &NotifyConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Target>, Vec<String>), String> {
    let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    for (i, w) in cfg.webhooks.iter().enumerate() {
        let n = i + 1;
        let url = match (&w.url, &w.url_env) {
            (Some(u), _) if !u.trim().is_empty() => u.clone(),
            (_, Some(var)) => match nonempty(var) {
                Some(u) => u,
                None => {
                    warnings.push(format!(
                        "webhook {n} (notify.webhooks[{i}]): `url_env` names `{var}`, which is not set; skipped"
                    ));
                    continue;
                }
            },
            _ => {
                return Err(format!(
                    "notify.webhooks[{i}] has neither `url` nor `url_env`: give one of them"
                ));
            }
        };
        let secret = nonempty(w.secret_env.as_deref().unwrap_or(SECRET_ENV));
        out.push(Target {
            url,
            format: w.format,
            secret,
        });
    }
    if let Some(list) = nonempty(URLS_ENV) {
        let format: Format = match nonempty(FORMAT_ENV) {
            Some(f) => f.parse().map_err(|e| format!("{FORMAT_ENV}: {e}"))?,
            None => Format::Json,
        };
        for url in list
            .split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            out.push(Target {
                url: url.to_string(),
                format,
                secret: nonempty(SECRET_ENV),
            });
        }
    }
    crate::redact::add_global(
        out.iter()
            .flat_map(|t| std::iter::once(t.url.clone()).chain(t.secret.clone())),
    );
    let mut ok = Vec::new();
    for t in out {
        match notify::check_url(&t.url) {
            Ok(()) => ok.push(t),
            Err(e) => warnings.push(format!("{e}; skipped")),
        }
    }
    Ok((ok, warnings))
}

/// What one notify step did.
#[derive(Debug, Default, serde::Serialize)]
pub struct Summary {
    pub run_id: String,
    pub deliveries: Vec<Outcome>,
    pub warnings: Vec<String>,
}

impl Summary {
    pub fn delivered(&self) -> usize {
        self.deliveries.iter().filter(|d| d.delivered).count()
    }
}

/// Builds the bodies for `run` and delivers them. Errors are for things the user must fix
/// (no gate.json, a bad setting); an undeliverable webhook is a warning in the summary.
pub fn notify_run(
    run: &RunDir,
    cfg: &NotifyConfig,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Summary, String> {
    let gate = run.gate().map_err(|e| {
        format!(
            "run {} has no readable gate.json ({e}): run `codeloop gate-check --run {}` first",
            run.id, run.id
        )
    })?;
    let diagnose = run.diagnose().ok();
    let manifest: Option<artifact::manifest::Manifest> =
        artifact::read_json(&run.file(artifact::MANIFEST)).ok();
    let context = manifest.map(|m| m.context).unwrap_or_default();
    let (targets, mut warnings) = targets(cfg, get)?;
    let payload = notify::payload::gate_payload(
        &gate,
        diagnose.as_ref(),
        &context,
        env!("CARGO_PKG_VERSION"),
    );
    let slack = notify::payload::slack_payload(&payload);
    let bodies: Vec<(Target, Vec<u8>)> = targets
        .into_iter()
        .map(|t| {
            let v = match t.format {
                Format::Json => &payload,
                Format::Slack => &slack,
            };
            (t, serde_json::to_vec(v).unwrap_or_default())
        })
        .collect();
    let policy = Policy {
        budget: std::time::Duration::from_secs(cfg.timeout_sec.max(1)),
        retries: cfg.retries,
        ..Policy::default()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the webhook client: {e}"))?;
    let deliveries = if bodies.is_empty() {
        Vec::new()
    } else {
        match rt.block_on(notify::deliver_all(bodies, policy)) {
            Ok(d) => d,
            Err(e) => {
                warnings.push(format!("{e}; no webhook was sent"));
                Vec::new()
            }
        }
    };
    for d in deliveries.iter().filter(|d| !d.delivered) {
        warnings.push(format!(
            "webhook {} not delivered after {} attempt(s): {} (delivery {}); the gate's verdict is unchanged",
            d.target,
            d.attempts,
            d.error.as_deref().unwrap_or("failed"),
            d.delivery_id
        ));
    }
    Ok(Summary {
        run_id: run.id.clone(),
        deliveries,
        warnings,
    })
}

/// For `ci` and `action`: deliver when configured, print one line per webhook, warn about
/// the rest. Never changes the exit code.
pub fn after_gate(run: &Path, cfg: &Config, quiet: bool) {
    let get = |k: &str| std::env::var(k).ok();
    if !configured(&cfg.notify, &get) {
        return;
    }
    let run = match RunDir::open(run) {
        Ok(r) => r,
        Err(e) => {
            ui::warn(&format!("notify: {e}"));
            return;
        }
    };
    match notify_run(&run, &cfg.notify, &get) {
        Ok(s) => print_human(&s, quiet),
        Err(e) => ui::warn(&format!("notify: {e}")),
    }
}

pub fn print_human(s: &Summary, quiet: bool) {
    for w in &s.warnings {
        ui::warn(&format!("notify: {w}"));
    }
    if quiet {
        return;
    }
    for d in s.deliveries.iter().filter(|d| d.delivered) {
        ui::out(&format!(
            "notify: delivered to {} ({}, {}, {} attempt(s), delivery {})",
            d.target,
            match d.format {
                Format::Json => "json",
                Format::Slack => "slack",
            },
            if d.signed { "signed" } else { "unsigned" },
            d.attempts,
            d.delivery_id
        ));
    }
}
