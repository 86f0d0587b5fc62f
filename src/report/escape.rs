//! Escaping of untrusted text (test names, messages, paths) for GitHub/GitLab-flavoured
//! Markdown. Everything a test tool reports can be chosen by whoever writes a test, so every
//! string that reaches a comment goes through one of these functions.
//!
//! The rules, and why:
//! - `<`, `>`, `&` become entities, so no raw HTML, no `</details>` and no `<!-- marker -->`
//!   can appear in the raw body (a publisher searching the body for our marker cannot be
//!   fooled, and `<details>`/`<pre>` blocks cannot be closed early).
//! - Markdown punctuation (`` ` * _ [ ] \ ~ | ! $ ``) becomes numeric entities: no emphasis, links,
//!   images, code spans, strikethrough, and no `|` that would split a table cell. GFM decodes
//!   entities after splitting table rows, so `&#124;` is safe in a cell.
//! - `@` and `#` are followed by U+200B ZERO WIDTH SPACE. GitHub links mentions and issue
//!   references on the rendered text (after entity decoding), so an entity would not help; the
//!   invisible character breaks `@name` and `#123` for the matcher while reading the same.
//! - Control characters and ANSI escapes are removed; in inline contexts newlines become
//!   ` ⏎ ` so a name cannot start a new Markdown block.

use crate::parsers::text::clean_control;

/// The invisible character inserted after `@` and `#`.
pub const ZWSP: char = '\u{200B}';

/// Shortens `s` to at most `max` chars (not bytes), ending with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = s
                .char_indices()
                .nth(keep)
                .map(|(i, _)| i)
                .unwrap_or(s.len());
            format!("{}…", &s[..end])
        }
    }
}

/// The first `n` chars of `s` (a prefix slice, no copy).
fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '`' => out.push_str("&#96;"),
        '*' => out.push_str("&#42;"),
        '_' => out.push_str("&#95;"),
        '[' => out.push_str("&#91;"),
        ']' => out.push_str("&#93;"),
        '\\' => out.push_str("&#92;"),
        '~' => out.push_str("&#126;"),
        '|' => out.push_str("&#124;"),
        '!' => out.push_str("&#33;"),
        '$' => out.push_str("&#36;"),
        '@' | '#' => {
            out.push(c);
            out.push(ZWSP);
        }
        _ => out.push(c),
    }
}

/// Inline Markdown text: one line, at most `max` chars of the original, fully escaped.
/// Safe in paragraphs, list items, table cells, link texts and `<summary>`.
pub fn inline(s: &str, max: usize) -> String {
    // Only the shown part is cleaned: a 100 KB name costs what its first `max` chars cost.
    let clean = clean_control(head(s, max.saturating_mul(4).saturating_add(64)));
    let one_line = clean.trim().replace('\n', " ⏎ ").replace('\t', " ");
    let short = truncate_chars(&one_line, max);
    let mut out = String::with_capacity(short.len() + 16);
    for c in short.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Like [`inline`], for text that quotes names in backticks (a gate reason, a task title:
/// "no file matched `**/junit*.xml`"): each closed `` `…` `` pair shows as
/// `<code>…</code>`, its inside escaped like any untrusted text, and a backtick left open
/// shows as itself. Only the tags are ours, so a name holding a backtick can make the
/// pairing look odd, never reach the Markdown.
pub fn inline_code(s: &str, max: usize) -> String {
    code_pairs(&inline(s, max), "&#96;")
}

/// `escaped` (text escaped already, in which `tick` stands for a backtick) with each closed
/// pair of ticks turned into `<code>…</code>`; an open tick stays as it is. Shared by the
/// Markdown ([`inline_code`]) and the HTML page (`html::esc_code`).
pub fn code_pairs(escaped: &str, tick: &str) -> String {
    if !escaped.contains(tick) {
        return escaped.to_string();
    }
    let parts: Vec<&str> = escaped.split(tick).collect();
    let mut out = String::with_capacity(escaped.len() + 16);
    for (i, part) in parts.iter().enumerate() {
        // An odd part lies between two ticks when another part follows it.
        let code = i % 2 == 1 && i + 1 < parts.len();
        if i % 2 == 1 && !code {
            out.push_str(tick);
        }
        if code {
            out.push_str("<code>");
        }
        out.push_str(part);
        if code {
            out.push_str("</code>");
        }
    }
    out
}

/// Multi-line text for the inside of a `<pre>` block (an HTML block that Markdown leaves
/// alone): at most `max_lines` lines and `max` chars, with the same entity and mention rules,
/// and no blank-line tricks (a `<pre>` HTML block only ends at `</pre>`, which cannot occur).
pub fn pre(s: &str, max: usize, max_lines: usize) -> String {
    let clean = clean_control(head(s, max.saturating_mul(2).saturating_add(64)));
    let mut lines: Vec<&str> = clean.trim_matches('\n').lines().collect();
    let cut_lines = lines.len().saturating_sub(max_lines);
    lines.truncate(max_lines);
    let mut text = truncate_chars(&lines.join("\n"), max);
    if cut_lines > 0 {
        text.push_str(&format!("\n… {cut_lines} more lines"));
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            // Inside <pre>, Markdown is not parsed, so only HTML and pings matter; keeping
            // the punctuation readable in copy/paste.
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' | '#' => {
                out.push(c);
                out.push(ZWSP);
            }
            '\t' => out.push_str("    "),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a repo-relative path for a URL (keeps `/`, unreserved characters).
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A URL from the CI context (server, run link) if it is a plain http(s) URL that cannot
/// break Markdown link syntax; `None` otherwise.
pub fn safe_url(u: &str) -> Option<String> {
    let u = u.trim().trim_end_matches('/');
    let ok_scheme = u.starts_with("https://") || u.starts_with("http://");
    let ok_chars = u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-._~:/?=&%+,;".contains(c));
    (ok_scheme && ok_chars && u.len() < 2048).then(|| u.to_string())
}

/// True for a repository slug `owner/name` (GitLab: `group/sub/name`).
pub fn safe_repo(r: &str) -> bool {
    !r.is_empty()
        && r.len() < 256
        && r.contains('/')
        && !r.contains("..")
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._/".contains(c))
}

/// True for a commit sha (hex, 7..=64).
pub fn safe_sha(s: &str) -> bool {
    (7..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// True for a repo-relative path a blob link may point at.
pub fn linkable_path(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.contains('\\')
        && !p.contains(':')
        && !p.split('/').any(|seg| seg == ".." || seg.is_empty())
        && p.len() < 1024
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_show_as_code_and_stay_escaped() {
        assert_eq!(
            inline_code("no file matched `**/junit*.xml` (at `a_b.xml`)", 200),
            "no file matched <code>&#42;&#42;/junit&#42;.xml</code> (at <code>a&#95;b.xml</code>)"
        );
        // Markup inside a name stays text; an open backtick shows as itself.
        assert_eq!(
            inline_code("test `<b>x</b> @me` and `open", 200),
            "test <code>&lt;b&gt;x&lt;/b&gt; @\u{200b}me</code> and &#96;open"
        );
        // A literal entity in the text is not taken for a backtick.
        assert_eq!(
            inline_code("a &#96;b&#96; c", 200),
            "a &amp;#\u{200b}96;b&amp;#\u{200b}96; c"
        );
        assert_eq!(inline_code("plain", 200), inline("plain", 200));
        // Cut inside a pair: the open backtick shows as itself, nothing left unclosed.
        let cut = inline_code("see `a-very-long-name`", 10);
        assert_eq!(cut, "see &#96;a-ve…");
        assert!(!cut.contains("<code>"));
    }

    #[test]
    fn inline_neutralizes_markup_and_pings() {
        let s = inline("@octocat fixes #12 <b>|x|</b> `a` *b* [l](u)\nnext", 500);
        assert!(!s.contains('<') && !s.contains('|') && !s.contains('`') && !s.contains('\n'));
        assert!(
            s.contains("@\u{200B}octocat") && s.contains("#\u{200B}12"),
            "{s}"
        );
    }

    #[test]
    fn inline_strips_ansi_and_nul_and_bounds_chars() {
        let s = inline("\u{1b}[31mred\u{1b}[0m\0 é", 500);
        assert_eq!(s, "red é");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 3), "abc");
    }

    #[test]
    fn pre_keeps_lines_but_not_html() {
        let s = pre("a</pre>\n<!-- codeloop-verify:v1 -->\nc\nd", 1000, 2);
        assert!(!s.contains("</pre>") && !s.contains("<!--"), "{s}");
        assert!(s.ends_with("… 2 more lines"), "{s}");
    }

    #[test]
    fn urls_and_slugs_are_checked() {
        assert!(safe_url("https://github.com").is_some());
        assert!(safe_url("javascript:alert(1)").is_none());
        assert!(safe_url("https://x.y/a)b").is_none());
        assert!(safe_repo("o/r") && !safe_repo("o/../r") && !safe_repo("o r/x"));
        assert!(safe_sha("abc1234") && !safe_sha("xyz1234"));
        assert!(linkable_path("src/a b.rs") && !linkable_path("/abs") && !linkable_path("../x"));
        assert_eq!(url_path("src/a b#.rs"), "src/a%20b%23.rs");
    }
}
