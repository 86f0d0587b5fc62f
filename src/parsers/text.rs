//! Text helpers shared by parsers: bounding long texts (head and tail kept with a marker),
//! repairing invalid UTF-8 and control characters, and lenient number parsing.

/// Keeps at most `max` bytes of `s`: the head and the tail, joined by a marker that says how
/// much was cut. Cuts on char boundaries.
pub fn bound_text(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let marker_room = 64;
    let keep = max.saturating_sub(marker_room);
    let head_len = floor_boundary(s, keep * 2 / 3);
    let tail_start = ceil_boundary(s, s.len() - (keep - head_len.min(keep)));
    let cut = tail_start - head_len;
    format!(
        "{}\n[… {cut} bytes cut by codeloop …]\n{}",
        &s[..head_len],
        &s[tail_start..]
    )
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// UTF-8 from possibly invalid bytes; invalid sequences become U+FFFD.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Removes ANSI escape sequences and control characters other than `\n` and `\t`.
pub fn clean_control(s: &str) -> String {
    // Most texts have nothing to remove: one branch-free pass over the bytes (it vectorizes)
    // and a copy. Flagged: C0 controls but `\n` and `\t`, DEL, and 0xC2 (the lead byte of
    // the C1 controls U+0080..U+009F, and of other characters: those take the slow path).
    let suspicious = s.bytes().fold(false, |acc, b| {
        acc | ((b < 0x20) & (b != b'\n') & (b != b'\t')) | (b == 0x7f) | (b == 0xc2)
    });
    if !suspicious {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte(0x40..=0x7e); other escapes: drop ESC + one char.
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&d) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
            continue;
        }
        if c == '\n' || c == '\t' || !c.is_control() {
            out.push(c);
        } else if c == '\r' {
            // CRLF → LF; a lone CR is dropped.
        }
    }
    out
}

/// A duration in seconds from what real reporters write: `1.5`, `1,234.5`, `"0.001"`,
/// ` 3 `, `1e-3`. `None` for empty, negative, NaN or infinite values.
pub fn parse_seconds(s: &str) -> Option<f64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(v) = simple_decimal(t.as_bytes()) {
        return Some(v);
    }
    let v: f64 = match t.parse() {
        Ok(v) => v,
        Err(_) => t.replace(',', "").parse().ok()?,
    };
    (v.is_finite() && v >= 0.0).then_some(v)
}

/// `123` or `0.045` (the form nearly every reporter writes), without the general float
/// parser: at most 15 digits are exact in an f64, and so is 10^k for k <= 22, so one
/// division is correctly rounded — the same value `str::parse` gives (Clinger's fast path).
pub fn simple_decimal(b: &[u8]) -> Option<f64> {
    let (mut mantissa, mut digits, mut frac, mut dot) = (0u64, 0u32, 0i32, false);
    for &c in b {
        match c {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                digits += 1;
                frac += i32::from(dot);
                if digits > 15 {
                    return None;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if digits == 0 || (dot && frac == 0) {
        return None;
    }
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let p = POW10.get(usize::try_from(frac).ok()?)?;
    Some(mantissa as f64 / p)
}

/// A short printable preview of raw bytes for error messages.
pub fn preview(bytes: &[u8], max_chars: usize) -> String {
    let s = String::from_utf8_lossy(&bytes[..bytes.len().min(max_chars * 4)]);
    let s: String = s.trim_start().chars().take(max_chars).collect();
    clean_control(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_decimals_parse_exactly_like_the_float_parser() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            // xorshift: varied digit counts and decimal positions.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 15 + 1) as usize;
            let n = (x >> 8) % 10u64.pow(digits as u32);
            let mut s = format!("{n:0digits$}");
            let dot = (x >> 40) as usize % (digits + 1);
            if dot < digits {
                s.insert(dot, '.');
            }
            assert_eq!(parse_seconds(&s), s.parse::<f64>().ok(), "{s}");
        }
        for s in [
            "1.",
            ".5",
            "0.000",
            "12",
            "1,234.5",
            "1e3",
            "-1",
            "0.1.2",
            ".",
            "1234567890123456",
        ] {
            let std = s.replace(',', "").parse::<f64>().ok().filter(|v| *v >= 0.0);
            assert_eq!(parse_seconds(s), std, "{s}");
        }
    }

    #[test]
    fn bound_keeps_head_and_tail() {
        let s = format!("{}{}", "a".repeat(10_000), "Z".repeat(10_000));
        let b = bound_text(&s, 1000);
        assert!(b.len() <= 1000, "{}", b.len());
        assert!(b.starts_with("aaa") && b.ends_with("ZZZ"));
        assert!(b.contains("bytes cut by codeloop"));
        assert_eq!(bound_text("short", 1000), "short");
        // multi-byte chars never split
        let m = "é".repeat(5000);
        let b = bound_text(&m, 500);
        assert!(b.len() <= 500);
    }

    #[test]
    fn durations_are_lenient() {
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds(" 0.25 "), Some(0.25));
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds(""), None);
    }

    #[test]
    fn clean_control_fast_path_agrees_with_the_char_loop() {
        // The char-by-char rule, written out: what the fast path must never differ from.
        fn slow(s: &str) -> String {
            let mut t = String::from("\u{0}");
            t.push_str(s); // forces the slow path
            clean_control(&t)
        }
        for s in [
            "plain text\nwith\ttabs",
            "del\u{7f}x",
            "c1\u{85}\u{9f}x",
            "latin1 é ü £ ¢ ©",
            "cr\r\nlf",
            "esc\u{1b}[1;31mred",
            "",
        ] {
            assert_eq!(clean_control(s), slow(s), "{s:?}");
        }
        assert_eq!(clean_control("a\u{7f}b\u{85}c"), "abc");
        assert_eq!(clean_control("£ é"), "£ é");
    }

    #[test]
    fn control_chars_and_ansi_are_removed() {
        assert_eq!(
            clean_control("a\u{1b}[31mred\u{1b}[0m\u{0}b\r\n"),
            "aredb\n"
        );
    }
}
