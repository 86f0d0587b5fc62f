//! User overrides of the HTML page and the badge (`report.html`, `badge.svg` in
//! `--template-dir` / `report.template_dir`), rendered with minijinja like the Markdown
//! templates. Pure: sources and built-in renderings in, text out; the report command reads
//! the files and falls back to the built-in output (with the error) when one fails.
//!
//! `report.html` sees `head` and `body` (the inner HTML of the built-in page's `<head>` and
//! `<body>`, to wrap or restyle), `page` (the whole built-in page), `run_id`, `verdict`
//! (`pass`/`fail`/empty) and `score`. `badge.svg` sees [`crate::badge::Layout`]: `label`,
//! `message`, `color`, `label_color`, `label_width`, `message_width`, `width`, `height`,
//! `label_text_width`, `message_text_width`, plus `verdict` and `score`. Every value is
//! already escaped for HTML/XML (no auto-escaping on top).

use minijinja::Environment;
use serde::Serialize;

use super::{ReportError, template_error};
use crate::model::Verdict;

/// The override files this module renders.
pub const OVERRIDE_NAMES: [&str; 2] = ["report.html", "badge.svg"];

fn render(file: &str, src: &str, ctx: impl Serialize) -> Result<String, ReportError> {
    let mut env = Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.add_template(file, src)
        .map_err(|e| template_error(file, &e))?;
    env.get_template(file)
        .and_then(|t| t.render(ctx))
        .map_err(|e| template_error(file, &e))
}

/// The part of `page` between `<tag...>` and `</tag>` (empty when absent).
fn inner<'a>(page: &'a str, tag: &str) -> &'a str {
    let open = format!("<{tag}");
    let Some(start) = page.find(&open) else {
        return "";
    };
    let Some(gt) = page[start..].find('>') else {
        return "";
    };
    let from = start + gt + 1;
    match page[from..].rfind(&format!("</{tag}>")) {
        Some(end) => &page[from..from + end],
        None => "",
    }
}

fn verdict_word(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "pass",
        Some(Verdict::Fail) => "fail",
        None => "",
    }
}

fn score_text(score: Option<f64>) -> String {
    score
        .filter(|s| s.is_finite())
        .map(|s| format!("{s:.1}"))
        .unwrap_or_default()
}

/// Renders a user `report.html` around the built-in `page`.
pub fn html(
    file: &str,
    src: &str,
    page: &str,
    run_id: &str,
    verdict: Option<Verdict>,
    score: Option<f64>,
) -> Result<String, ReportError> {
    render(
        file,
        src,
        minijinja::context! {
            head => inner(page, "head"),
            body => inner(page, "body"),
            page => page,
            run_id => super::html::esc(run_id),
            verdict => verdict_word(verdict),
            score => score_text(score),
        },
    )
}

/// Renders a user `badge.svg` from the badge's measured parts.
pub fn badge(
    file: &str,
    src: &str,
    b: &crate::badge::Badge,
    verdict: Option<Verdict>,
    score: Option<f64>,
) -> Result<String, ReportError> {
    #[derive(Serialize)]
    struct Ctx {
        #[serde(flatten)]
        layout: crate::badge::Layout,
        verdict: &'static str,
        score: String,
    }
    render(
        file,
        src,
        Ctx {
            layout: crate::badge::layout(b),
            verdict: verdict_word(verdict),
            score: score_text(score),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_override_wraps_the_built_in_body() {
        let page =
            "<!DOCTYPE html><html><head><title>t</title></head><body><main>M</main></body></html>";
        let out = html(
            "report.html",
            "<html><head>{{ head }}</head><body><h1>ACME {{ verdict }} {{ score }}</h1>{{ body }}</body></html>",
            page,
            "r<1>",
            Some(Verdict::Fail),
            Some(41.25),
        )
        .unwrap();
        assert_eq!(
            out,
            "<html><head><title>t</title></head><body><h1>ACME fail 41.2</h1><main>M</main></body></html>"
        );
        let e = html("report.html", "{% if %}", page, "r", None, None).unwrap_err();
        assert!(e.to_string().contains("report.html"), "{e}");
    }

    #[test]
    fn badge_override_gets_escaped_measured_parts() {
        let b = crate::badge::Badge {
            label: "a<b".into(),
            message: "92 · passing".into(),
            label_color: "#555".into(),
            color: "javascript:x".into(),
            style: Default::default(),
        };
        let out = badge(
            "badge.svg",
            "<svg width=\"{{ width }}\">{{ label }}|{{ message }}|{{ color }}|{{ verdict }}</svg>",
            &b,
            Some(Verdict::Pass),
            Some(92.0),
        )
        .unwrap();
        assert!(out.starts_with("<svg width=\""), "{out}");
        assert!(out.contains(">a&lt;b|92 · passing|#9f9f9f|pass<"), "{out}");
    }
}
