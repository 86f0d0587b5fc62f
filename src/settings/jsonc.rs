//! JSONC (JSON with comments, as tsconfig.json and editor settings use it) for codeloop's own
//! files, `.codeloop/config.json` and `.codeloop/plugins.json`: `//` line comments, `/* */`
//! block comments and trailing commas before `}` or `]`.
//!
//! This is a preprocessing step, not a parser: [`blank`] replaces every byte of a comment and
//! every trailing comma with a space, keeping newlines, so the text has the same length and
//! the same lines as the user's file and serde_json's line and column (and the key scanner in
//! [`super::lenient`]) still point into the file the user edits. Comment markers inside
//! strings are text (`"https://x"` stays a URL). An unterminated `/*` is left as it is, so
//! serde_json reports a syntax error at the place where it starts.

/// The text with comments and trailing commas blanked (same length, same line breaks).
pub fn blank(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    // Position of a comma that is trailing if the next significant byte closes a container.
    let mut comma: Option<usize> = None;
    // The last significant byte outside strings and comments (`"` for a string): a comma
    // right after `[`, `{` or another comma is not trailing, it is an error to keep.
    let mut prev = 0u8;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                comma = None;
                prev = b'"';
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    // Skip the escaped byte (`\"` does not end the string).
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let Some(len) = find(&b[i + 2..], b"*/") else {
                    // Unterminated: leave it for serde_json to point at.
                    break;
                };
                let end = i + 2 + len + 2;
                for o in &mut out[i..end] {
                    if *o != b'\n' && *o != b'\r' {
                        *o = b' ';
                    }
                }
                i = end;
                continue;
            }
            b',' => {
                comma = (!matches!(prev, 0 | b'[' | b'{' | b',')).then_some(i);
                prev = b',';
            }
            b'}' | b']' => {
                if let Some(c) = comma.take() {
                    out[c] = b' ';
                }
                prev = b[i];
            }
            c if c.is_ascii_whitespace() => {}
            c => {
                comma = None;
                prev = c;
            }
        }
        i += 1;
    }
    // Only ASCII bytes were replaced, and only whole comments (which end at ASCII bytes), so
    // the result is still UTF-8; the lossy path is never taken.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parse(s: &str) -> Value {
        serde_json::from_str(&blank(s)).unwrap_or_else(|e| panic!("{e}: {:?}", blank(s)))
    }

    #[test]
    fn comments_and_trailing_commas_are_blanked() {
        let s = "{\n  // a comment with ünïcode, \"quotes\" and a , comma\n  \"a\": 1, /* inline */\n  \"b\": [1, 2, /* x */ ],\n  /* multi\n     line */\n  \"c\": {\"d\": true,},\n}\n";
        assert_eq!(parse(s), json!({"a": 1, "b": [1, 2], "c": {"d": true}}));
        let out = blank(s);
        assert_eq!(out.len(), s.len());
        assert_eq!(out.matches('\n').count(), s.matches('\n').count());
    }

    #[test]
    fn markers_inside_strings_are_text() {
        let s = r#"{"url": "https://x.test/a//b", "glob": "src/**/*.rs", "q": "say \"/* no\" ,]"}"#;
        assert_eq!(
            parse(s),
            json!({"url": "https://x.test/a//b", "glob": "src/**/*.rs", "q": "say \"/* no\" ,]"})
        );
        assert_eq!(blank(s), s);
    }

    #[test]
    fn positions_of_later_errors_are_unchanged() {
        // The error is on line 4, column 8, both in the original and the blanked text.
        let s = "{\n  /* c */ \"a\": 1, // c\n  \"b\": 2,\n  \"c\": x\n}";
        let e = serde_json::from_str::<Value>(&blank(s)).unwrap_err();
        assert_eq!((e.line(), e.column()), (4, 8), "{e}");
    }

    #[test]
    fn plain_json_is_unchanged_and_a_comma_that_is_not_trailing_stays() {
        let s = "{\"a\": [1, 2], \"b\": {\"c\": null}}";
        assert_eq!(blank(s), s);
        // A doubled comma is still an error (only the one before the bracket goes).
        assert!(serde_json::from_str::<Value>(&blank("[1,,]")).is_err());
        // A comma at the very start of a container is not trailing either.
        assert!(serde_json::from_str::<Value>(&blank("[,]")).is_err());
    }

    #[test]
    fn unterminated_block_comment_is_left_for_the_parser() {
        let s = "{\"a\": 1 /* never closed\n}";
        assert_eq!(blank(s), s);
        let e = serde_json::from_str::<Value>(&blank(s)).unwrap_err();
        assert_eq!(e.line(), 1);
    }
}
