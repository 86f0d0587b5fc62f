//! The HTML dashboard of one run: a single self-contained page (inline CSS and JS, no
//! network) with the verdict, the score trend over the run history, runners, failures with
//! evidence and locations, flaky and slowest tests, and a filter box. Pure: documents in,
//! a string out. Every piece of run data is untrusted text and goes through [`esc`]; the
//! script reads nothing but the page's own elements.

use std::fmt::Write as _;

use crate::model::{DiagnoseDoc, GateDoc, SlowTest, Verdict, VerifyDoc};

/// One point of the score trend (oldest first).
#[derive(Clone, Debug, PartialEq)]
pub struct TrendPoint {
    pub run_id: String,
    pub score: f64,
    pub verdict: Verdict,
}

/// A flaky test: passed after retries.
#[derive(Clone, Debug, PartialEq)]
pub struct FlakyTest {
    pub runner: String,
    pub id: String,
    pub retries: u32,
}

/// What the page shows.
pub struct HtmlInput<'a> {
    pub verify: &'a VerifyDoc,
    pub diagnose: Option<&'a DiagnoseDoc>,
    pub gate: Option<&'a GateDoc>,
    pub trend: &'a [TrendPoint],
    pub flaky: &'a [FlakyTest],
    /// The run is still being written: the page reloads itself every few seconds.
    pub live: bool,
    /// Links to other runs (`../<id>/`), for the dashboard server; empty in a file report.
    pub other_runs: &'a [String],
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// [`esc`] for our sentences that quote names in backticks (reasons, task titles): each
/// closed pair becomes `<code>`, as in the comment (see `escape::inline_code`).
pub fn esc_code(s: &str) -> String {
    super::escape::code_pairs(&esc(s), "`")
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1f2328;background:#f6f8fa}
header{padding:16px 24px;background:#fff;border-bottom:1px solid #d0d7de;display:flex;gap:24px;align-items:center;flex-wrap:wrap}
main{padding:16px 24px;max-width:1200px}
h1{font-size:18px;margin:0}h2{font-size:16px;margin:24px 0 8px}
.verdict{font-weight:700;font-size:20px;padding:4px 12px;border-radius:6px;color:#fff}
.pass{background:#1a7f37}.fail{background:#cf222e}.none{background:#6e7781}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}
.st-passed{color:#1a7f37}.st-failed,.st-errored,.st-timed_out,.st-crashed,.st-limit_exceeded{color:#cf222e}
.st-skipped,.st-unavailable,.st-blocked{color:#6e7781}
.failure{background:#fff;border:1px solid #d0d7de;border-left:4px solid #cf222e;border-radius:6px;padding:8px 12px;margin:8px 0}
.failure.sev-warning{border-left-color:#bf8700}
.failure .meta{color:#57606a;font-size:12px}
.loc{font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;padding:8px;overflow:auto;max-height:320px;margin:6px 0;white-space:pre-wrap}
.controls{display:flex;gap:8px;margin:8px 0}
input,select{font:inherit;padding:4px 8px}
.hidden{display:none}
.muted{color:#57606a}
svg.trend{background:#fff;border:1px solid #d0d7de}
"#;

const JS: &str = r#"
(function(){
  var q=document.getElementById('q'),cat=document.getElementById('cat'),run=document.getElementById('runner'),cnt=document.getElementById('shown');
  function apply(){
    var t=q.value.toLowerCase(),c=cat.value,r=run.value,n=0;
    document.querySelectorAll('.failure').forEach(function(el){
      var ok=(!t||el.textContent.toLowerCase().indexOf(t)>=0)&&(!c||el.dataset.category===c)&&(!r||el.dataset.runner===r);
      el.classList.toggle('hidden',!ok);if(ok)n++;
    });
    cnt.textContent=n;
  }
  [q,cat,run].forEach(function(e){e.addEventListener('input',apply);e.addEventListener('change',apply);});
  apply();
})();
"#;

fn fmt_secs(s: f64) -> String {
    if s >= 60.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!("{s:.2}s")
    }
}

/// The score trend as an inline SVG polyline (0–100 on the y axis).
fn trend_svg(points: &[TrendPoint]) -> String {
    if points.is_empty() {
        return "<p class=\"muted\">No scored runs yet (run gate-check).</p>".into();
    }
    let (w, h, pad) = (600.0_f64, 120.0_f64, 10.0_f64);
    let n = points.len();
    let x = |i: usize| {
        if n == 1 {
            w / 2.0
        } else {
            pad + (w - 2.0 * pad) * i as f64 / (n - 1) as f64
        }
    };
    let y = |s: f64| pad + (h - 2.0 * pad) * (1.0 - s.clamp(0.0, 100.0) / 100.0);
    let mut o = format!(
        "<svg class=\"trend\" id=\"trend\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"score trend\">"
    );
    let pts: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.score)))
        .collect();
    let _ = write!(
        o,
        "<polyline fill=\"none\" stroke=\"#0969da\" stroke-width=\"2\" points=\"{}\"/>",
        pts.join(" ")
    );
    for (i, p) in points.iter().enumerate() {
        let color = if p.verdict == Verdict::Pass {
            "#1a7f37"
        } else {
            "#cf222e"
        };
        let _ = write!(
            o,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{} score {}</title></circle>",
            x(i),
            y(p.score),
            esc(&p.run_id),
            p.score
        );
    }
    o.push_str("</svg>");
    o
}

/// Renders the page.
pub fn render(input: &HtmlInput) -> String {
    let v = input.verify;
    let mut o = String::with_capacity(16 * 1024);
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    o.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    // No network: the page may load nothing but itself.
    o.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">");
    if input.live {
        o.push_str("<meta http-equiv=\"refresh\" content=\"3\">");
    }
    let _ = write!(
        o,
        "<title>codeloop run {}</title><style>{CSS}</style></head><body>",
        esc(&v.run_id)
    );

    // Header: verdict, score, totals.
    let (vclass, vword, score) = match input.gate {
        Some(g) if g.verdict == Verdict::Pass => ("pass", "PASS", Some(g.score)),
        Some(g) => ("fail", "FAIL", Some(g.score)),
        None => ("none", "NOT GATED", None),
    };
    let _ = write!(
        o,
        "<header><h1>codeloop · run <span id=\"run-id\">{}</span></h1><span class=\"verdict {vclass}\" id=\"verdict\">{vword}</span>",
        esc(&v.run_id)
    );
    if let Some(s) = score {
        let _ = write!(o, "<span id=\"score\">score <b>{s}</b>/100</span>");
    }
    let t = &v.totals;
    let _ = write!(
        o,
        "<span id=\"totals\">{} tests · {} passed · {} failed · {} errored · {} skipped · {} flaky</span>",
        t.tests, t.passed, t.failed, t.errored, t.skipped, t.flaky
    );
    if input.live {
        o.push_str("<span class=\"muted\">run in progress — refreshing</span>");
    }
    o.push_str("</header><main>");

    if let Some(g) = input.gate
        && !g.reasons.is_empty()
    {
        o.push_str("<h2>Why</h2><ul id=\"reasons\">");
        for r in &g.reasons {
            let _ = write!(o, "<li>{}</li>", esc_code(r));
        }
        o.push_str("</ul>");
    }

    o.push_str("<h2>Score trend</h2>");
    o.push_str(&trend_svg(input.trend));

    // Runners.
    o.push_str("<h2>Runners</h2><table id=\"runners\"><tr><th>runner</th><th>kind</th><th>status</th><th>tests</th><th>failed</th><th>lint</th><th>duration</th></tr>");
    for r in &v.runners {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|s| s.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td class=\"st-{s}\">{s}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.id),
            esc(r.kind.as_str()),
            r.counts.tests,
            r.counts.failed + r.counts.errored,
            r.lint.errors + r.lint.warnings,
            fmt_secs(r.duration),
            s = esc(&status),
        );
    }
    o.push_str("</table>");

    // Failures with filters.
    let problems = input.diagnose.map(|d| d.problems.as_slice()).unwrap_or(&[]);
    // diagnose.json keeps the first problems only: the total says how many there were.
    let left_out = input.diagnose.map_or(0, |d| d.truncated as usize);
    let _ = write!(
        o,
        "<h2>Failures (<span id=\"shown\">{}</span> shown of {})</h2>",
        problems.len(),
        problems.len() + left_out
    );
    if left_out > 0 {
        let _ = write!(
            o,
            "<p class=\"muted\">{left_out} more are not listed: diagnose.json keeps the first {} (cases.jsonl has every failing test).</p>",
            problems.len()
        );
    }
    if input.diagnose.is_none() {
        o.push_str("<p class=\"muted\">Not diagnosed yet: run <code>codeloop diagnose</code>.</p>");
    }
    let mut cats: Vec<&str> = problems.iter().map(|p| p.category.as_str()).collect();
    cats.sort_unstable();
    cats.dedup();
    let mut runners: Vec<&str> = problems.iter().map(|p| p.runner.as_str()).collect();
    runners.sort_unstable();
    runners.dedup();
    o.push_str("<div class=\"controls\"><input id=\"q\" type=\"search\" placeholder=\"search failures\" aria-label=\"search failures\"><select id=\"cat\" aria-label=\"category\"><option value=\"\">all categories</option>");
    for c in &cats {
        let _ = write!(o, "<option value=\"{0}\">{0}</option>", esc(c));
    }
    o.push_str("</select><select id=\"runner\" aria-label=\"runner\"><option value=\"\">all runners</option>");
    for r in &runners {
        let _ = write!(o, "<option value=\"{0}\">{0}</option>", esc(r));
    }
    o.push_str("</select></div><div id=\"failures\">");
    for p in problems {
        let sev = serde_json::to_value(p.severity)
            .ok()
            .and_then(|s| s.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = write!(
            o,
            "<div class=\"failure sev-{}\" data-category=\"{}\" data-runner=\"{}\"><div><b>{}</b></div><div class=\"meta\">{} · {}",
            esc(&sev),
            esc(p.category.as_str()),
            esc(&p.runner),
            // A test's title is its own text (see report::TaskView's title).
            if p.test.is_some() {
                esc(&p.title)
            } else {
                esc_code(&p.title)
            },
            esc(p.category.as_str()),
            esc(&p.runner),
        );
        if let Some(l) = &p.location {
            let _ = write!(o, " · <span class=\"loc\">{}</span>", esc(&l.to_string()));
        }
        o.push_str("</div>");
        if !p.evidence.is_empty() {
            let _ = write!(o, "<pre>{}</pre>", esc(&p.evidence));
        }
        if let Some(r) = &p.reproduce {
            let _ = write!(
                o,
                "<div class=\"meta\">reproduce: <code>{}</code></div>",
                esc(r)
            );
        }
        o.push_str("</div>");
    }
    o.push_str("</div>");
    if let Some(d) = input.diagnose
        && d.truncated > 0
    {
        let _ = write!(
            o,
            "<p class=\"muted\">{} more failures are in cases.jsonl.</p>",
            d.truncated
        );
    }

    // Flaky and slowest.
    o.push_str("<h2>Flaky tests</h2>");
    if input.flaky.is_empty() {
        o.push_str("<p class=\"muted\">None.</p>");
    } else {
        o.push_str("<table id=\"flaky\"><tr><th>runner</th><th>test</th><th>retries</th></tr>");
        for f in input.flaky {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&f.runner),
                esc(&f.id),
                f.retries
            );
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>Slowest tests</h2>");
    slowest_table(&mut o, &v.slowest);

    if !input.other_runs.is_empty() {
        o.push_str("<h2>Other runs</h2><ul id=\"other-runs\">");
        for id in input.other_runs {
            let _ = write!(o, "<li><a href=\"../{0}/\">{0}</a></li>", esc(id));
        }
        o.push_str("</ul>");
    }
    let _ = writeln!(
        o,
        "<p class=\"muted\">started {} · finished {}</p></main><script>{JS}</script></body></html>",
        esc(&v.started_at),
        esc(&v.finished_at)
    );
    o
}

fn slowest_table(o: &mut String, slow: &[SlowTest]) {
    // Rows that would read 0.00s say nothing (see report::shows_as_time).
    let slow: Vec<&SlowTest> = slow
        .iter()
        .filter(|s| super::shows_as_time(s.duration))
        .collect();
    if slow.is_empty() {
        o.push_str("<p class=\"muted\">No durations reported.</p>");
        return;
    }
    o.push_str("<table id=\"slowest\"><tr><th>test</th><th>runner</th><th>duration</th></tr>");
    for s in slow.iter().take(20) {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&s.id),
            esc(&s.runner),
            fmt_secs(s.duration)
        );
    }
    o.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_are_code_and_markup_stays_text() {
        assert_eq!(
            esc_code("no file matched `**/<b>.xml` and `open"),
            "no file matched <code>**/&lt;b&gt;.xml</code> and `open"
        );
        assert_eq!(esc_code("plain & simple"), "plain &amp; simple");
    }

    /// diagnose.json keeps the first problems only: the page's total is every problem, and
    /// it says how many are not listed (it said "2000 shown of 2000" for 5,000 failures).
    #[test]
    fn the_failures_total_counts_the_problems_diagnose_left_out() {
        let verify: VerifyDoc = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "started_at": "", "finished_at": "",
            "status": "failed", "cwd": "/ws", "runners": [],
            "totals": {"tests": 5, "passed": 0, "failed": 5, "errored": 0, "skipped": 0, "flaky": 0},
            "lint": {"errors": 0, "warnings": 0, "notes": 0}
        }))
        .unwrap();
        let problem = |i: usize| {
            serde_json::json!({"id": format!("p{i}"), "category": "test_failure",
                "runner": "t", "title": format!("t{i} failed"), "severity": "error"})
        };
        let diagnose: DiagnoseDoc = serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "problems": [problem(1), problem(2)],
            "tasks": [], "truncated": 3
        }))
        .unwrap();
        let page = render(&HtmlInput {
            verify: &verify,
            diagnose: Some(&diagnose),
            gate: None,
            trend: &[],
            flaky: &[],
            live: false,
            other_runs: &[],
        });
        assert!(
            page.contains("Failures (<span id=\"shown\">2</span> shown of 5)"),
            "{page}"
        );
        assert!(page.contains("3 more are not listed: diagnose.json keeps the first 2"));
    }

    #[test]
    fn esc_neutralises_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
        assert_eq!(esc("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn trend_has_one_point_per_run() {
        let pts = vec![
            TrendPoint {
                run_id: "r1".into(),
                score: 100.0,
                verdict: Verdict::Pass,
            },
            TrendPoint {
                run_id: "r2<x>".into(),
                score: 40.0,
                verdict: Verdict::Fail,
            },
        ];
        let s = trend_svg(&pts);
        assert_eq!(s.matches("<circle").count(), 2);
        assert!(s.contains("r2&lt;x&gt;"));
        // 100 is at the top (y = pad), 40 lower down.
        assert!(s.contains("points=\"10.0,10.0 590.0,70.0\""), "{s}");
    }
}
