//! The history section of the comment and the job summary (pure Markdown): new in this PR
//! vs already failing on the base branch, flaky tests with their flip rate, slower tests.
//! Every test id is untrusted text and goes through [`crate::report::escape::inline`].

use super::Insights;
use crate::report::escape::inline;

/// Longest test id shown, in characters.
const MAX_ID_CHARS: usize = 160;

fn more(shown: usize, total: usize) -> String {
    if total > shown {
        format!(" and {} more", total - shown)
    } else {
        String::new()
    }
}

fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

/// The section, with at most `max_items` tests per list. Empty when there is nothing to say
/// beyond "no failure, nothing flaky, nothing slower" (then one line says that).
pub fn section(i: &Insights, max_items: usize) -> String {
    let base = inline(&i.base_branch, 80);
    let mut s = format!("\n### History of `{base}`\n\n");
    let short_sha = i
        .base_sha
        .as_deref()
        .filter(|x| crate::report::escape::safe_sha(x))
        .map(|x| format!(" at {}", &x[..x.len().min(7)]))
        .unwrap_or_default();
    s.push_str(&format!(
        "<sub>Compared with the newest of {} runs of `{base}`{short_sha} (from the data branch).</sub>\n\n",
        i.history_runs
    ));
    let list = |s: &mut String, title: String, ids: &[String], total: usize| {
        if total == 0 {
            return;
        }
        s.push_str(&format!("**{title}** ({total})\n"));
        for id in ids.iter().take(max_items) {
            s.push_str(&format!("- {}\n", inline(id, MAX_ID_CHARS)));
        }
        let m = more(ids.len().min(max_items), total);
        if !m.is_empty() {
            s.push_str(&format!("- …{m}\n"));
        }
        s.push('\n');
    };
    list(
        &mut s,
        "New in this PR".into(),
        &i.new_failures,
        i.new_failures_total,
    );
    list(
        &mut s,
        format!("Already failing on `{base}`"),
        &i.already_failing,
        i.already_failing_total,
    );
    if !i.quarantined.is_empty() {
        s.push_str(&format!(
            "**Quarantined** ({}): known-flaky tests whose failure here does not fail the gate.\n\n",
            i.quarantined.len()
        ));
    }
    if i.flaky_total > 0 {
        s.push_str(&format!(
            "**Flaky on `{base}`** ({})\n\n| test | flip rate | flips | here |\n|---|---:|---:|---|\n",
            i.flaky_total
        ));
        for f in i.flaky.iter().take(max_items) {
            let here = match (f.failing_now, f.quarantined) {
                (true, true) => "failed (quarantined)",
                (true, false) => "failed",
                _ => "",
            };
            s.push_str(&format!(
                "| {} | {:.0} % | {} in {} runs | {here} |\n",
                inline(&f.id, MAX_ID_CHARS),
                f.flip_rate * 100.0,
                f.flips,
                f.observed
            ));
        }
        let m = more(i.flaky.len().min(max_items), i.flaky_total);
        if !m.is_empty() {
            s.push_str(&format!("| …{m} | | | |\n"));
        }
        s.push('\n');
    }
    if i.slower_total > 0 {
        s.push_str(&format!(
            "**Slower than usual** ({}): at least {}× the median of the last passing runs and {} more\n\n| test | now | median | × |\n|---|---:|---:|---:|\n",
            i.slower_total,
            i.thresholds.slower_factor,
            ms(i.thresholds.slower_min_ms)
        ));
        for t in i.slower.iter().take(max_items) {
            s.push_str(&format!(
                "| {} | {} | {} | {:.1} |\n",
                inline(&t.id, MAX_ID_CHARS),
                ms(t.ms),
                ms(t.median_ms),
                t.ratio
            ));
        }
        let m = more(i.slower.len().min(max_items), i.slower_total);
        if !m.is_empty() {
            s.push_str(&format!("| …{m} | | | |\n"));
        }
        s.push('\n');
    }
    if i.new_failures_total + i.already_failing_total + i.flaky_total + i.slower_total == 0 {
        s.push_str("No failure, no flaky test, nothing slower than usual.\n");
    }
    s
}

/// Inserts the section into a rendered comment: before the hidden-state line (the last
/// line, which must stay last), or at the end when there is none.
pub fn insert_into_comment(comment: &str, section: &str) -> String {
    let body = comment.trim_end_matches('\n');
    match body.rfind('\n') {
        Some(i) if body[i + 1..].starts_with(crate::report::state::STATE_PREFIX) => {
            format!("{}\n{section}\n{}\n", &body[..i], &body[i + 1..])
        }
        _ => format!("{body}\n{section}"),
    }
}
