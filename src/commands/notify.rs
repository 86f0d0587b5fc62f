//! `codeloop notify [--run ID]`: flags → the notify step (`pipeline::notify`) on a gated run
//! → print. Exit 0 whatever the webhooks answer; 2 for a bad setting or a run without
//! gate.json.

use serde_json::json;

use crate::artifact;
use crate::cli::{NotifyArgs, OutputFormat};
use crate::pipeline::diagnose::{artifacts_dir, config_path};
use crate::pipeline::notify::{URLS_ENV, configured, notify_run, print_human};
use crate::settings::Config;
use crate::{exit, ui};

pub fn run(args: NotifyArgs) -> i32 {
    let cfg = match Config::load(&config_path(&(&args.common).into())) {
        Ok((c, warnings)) => {
            for w in warnings {
                ui::warn(&w);
            }
            c
        }
        Err(e) => {
            let hint = e.hint();
            ui::error(&e, hint.as_deref());
            return exit::USAGE;
        }
    };
    let get = |k: &str| std::env::var(k).ok();
    let run = match artifact::resolve(
        &artifacts_dir(&(&args.common).into(), &cfg),
        args.run.as_deref(),
    ) {
        Ok(r) => r,
        Err(e) => {
            ui::error(
                &e,
                Some("pass --run with a run id, `latest` or a run directory"),
            );
            return exit::USAGE;
        }
    };
    if !configured(&cfg.notify, &get) {
        ui::warn(&format!(
            "no webhook configured: add `notify.webhooks` to .codeloop/config.json or set {URLS_ENV}"
        ));
    }
    let s = match notify_run(&run, &cfg.notify, &get) {
        Ok(s) => s,
        Err(e) => {
            ui::error(
                &std::io::Error::other(e),
                Some("see docs/webhooks.md for the settings"),
            );
            return exit::USAGE;
        }
    };
    if args.common.format == OutputFormat::Json {
        for w in &s.warnings {
            ui::warn(&format!("notify: {w}"));
        }
        let doc = json!({
            "schema_version": crate::model::SCHEMA_VERSION,
            "run_id": s.run_id,
            "delivered": s.delivered(),
            "deliveries": s.deliveries,
        });
        ui::out(&serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        print_human(&s, false);
        if s.deliveries.is_empty() {
            ui::out("notify: nothing sent");
        }
    }
    exit::OK
}
