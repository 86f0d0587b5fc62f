//! Which lines of a failure text explain it. A failure's text is mostly stack frames and
//! diff context; the evidence a person (or an agent) needs first is the comparison: jest /
//! vitest `Expected` / `Received` and the `- ` / `+ ` diff lines, pytest's `>` source line
//! and `E   ...` assertion introspection (`where ...`), Rust's `left:` / `right:`, JUnit's
//! `expected:<…> but was:<…>` and Hamcrest's `Expected: …` / `but: …`.
//!
//! Pure and shape-driven: each shape is recognised by its own markers, so a text in no known
//! shape yields nothing and the caller falls back to the lines around the user's frame.

/// Most lines an explanation keeps (the evidence is bounded again by bytes afterwards).
pub const MAX_LINES: usize = 30;

/// The explaining lines of `text`, in order, right-trimmed; empty when no shape matches.
pub fn explain(text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let picked = pytest(&lines)
        .or_else(|| rust(&lines))
        // Hamcrest's `Expected:` would pass for a jest label: the JUnit shapes go first.
        .or_else(|| junit(&lines))
        .or_else(|| jest(&lines))
        .unwrap_or_default();
    picked
        .into_iter()
        .take(MAX_LINES)
        .map(str::to_string)
        .collect()
}

/// A stack frame line of JS, Java/Kotlin, C# (`at ...`), or Python (`File "...", line N`).
fn is_frame(line: &str) -> bool {
    let t = line.trim_start();
    (t.starts_with("at ") && line.len() > t.len()) || t.starts_with("File \"")
}

/// pytest: the `>` source line before the first `E` line, then every `E` line that says
/// something (the assertion, its introspection, `where` / `+  where` lines).
fn pytest<'a>(lines: &[&'a str]) -> Option<Vec<&'a str>> {
    let is_e = |l: &str| l == "E" || l.starts_with("E ") || l.starts_with("E\t");
    let first = lines.iter().position(|l| is_e(l))?;
    let mut out = Vec::new();
    if let Some(src) = lines[..first].iter().rev().find(|l| l.starts_with('>')) {
        out.push(*src);
    }
    out.extend(
        lines[first..]
            .iter()
            .filter(|l| is_e(l) && !l[1..].trim().is_empty()),
    );
    Some(out)
}

/// Rust: the lines after `panicked at ...:` up to the backtrace or the `note:` — the
/// assertion (`assertion \`left == right\` failed: ...`) and its `left:` / `right:`.
fn rust<'a>(lines: &[&'a str]) -> Option<Vec<&'a str>> {
    let is_panic = |l: &str| {
        let t = l.trim_start();
        t.starts_with("thread '") && t.contains("panicked at ")
    };
    // nextest puts the panic line alone in the failure's `message` above the body, which
    // says it again with the assertion under it: the first panic line followed by what it
    // says is the one.
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| is_panic(l))
        .map(|(start, _)| {
            lines[start + 1..]
                .iter()
                .take_while(|l| {
                    let t = l.trim_start();
                    !(t.starts_with("stack backtrace:") || t.starts_with("note: ") || is_panic(l))
                })
                .filter(|l| !l.trim().is_empty())
                .copied()
                .collect::<Vec<&str>>()
        })
        .find(|out| !out.is_empty())
}

/// jest / vitest: the matcher line, `Expected` / `Received` labels with their values, a
/// `Message:` with its text, and the changed lines of the diff (`- ...` / `+ ...`, legend
/// included); unchanged diff context (`  ],`, `  }`) and stack frames are left out.
fn jest<'a>(lines: &[&'a str]) -> Option<Vec<&'a str>> {
    let end = lines
        .iter()
        .position(|l| is_frame(l))
        .unwrap_or(lines.len());
    let body = &lines[..end];
    let label = |l: &str| {
        let t = l.trim_start();
        t.starts_with("Expected") || t.starts_with("Received")
    };
    let diff = |l: &str| l.starts_with("- ") || l.starts_with("+ ") || l == "-" || l == "+";
    if !body.iter().any(|l| label(l) || l.starts_with("- Expected")) {
        return None;
    }
    let first = body.iter().position(|l| !l.trim().is_empty())?;
    let mut out: Vec<&str> = Vec::new();
    let mut take_next = false;
    for (i, &l) in body.iter().enumerate() {
        let t = l.trim();
        if t.is_empty() {
            // Node's assert puts a blank line between `Expected values to be strictly
            // equal:` and the values (`2 !== 3`): the label still waits for them.
            take_next = take_next && out.last().is_some_and(|p| label(p) && p.ends_with(':'));
            continue;
        }
        if i == first || take_next || label(l) || diff(l) || t == "Message:" {
            out.push(l);
            // `Expected value to equal:` / `Received:` / `Message:`: the value is below.
            take_next = (label(l) || t == "Message:") && t.ends_with(':');
        } else {
            take_next = false;
        }
    }
    Some(out)
}

/// JUnit / TestNG / Hamcrest / AssertJ comparisons: `expected:<4> but was:<3>`,
/// `expected: <4> but was: <3>`, `Expected: is <4>` + `but: was <3>`, `Expecting ...`.
fn junit<'a>(lines: &[&'a str]) -> Option<Vec<&'a str>> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if is_frame(l) {
            break;
        }
        let lower = l.to_ascii_lowercase();
        let compare = lower.contains("expected:") && lower.contains("but was");
        let hamcrest = l.trim_start().starts_with("Expected: ")
            && lines
                .get(i + 1)
                .is_some_and(|n| n.trim_start().starts_with("but: "));
        if compare {
            out.push(*l);
        } else if hamcrest {
            out.push(*l);
            out.push(lines[i + 1]);
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_assert_keeps_the_values_below_its_blank_line() {
        let text = "AssertionError\nExpected values to be strictly equal:\n\n2 !== 3\nAssertionError [ERR_ASSERTION]: Expected values to be strictly equal:\n\n2 !== 3\n\n    at Context.<anonymous> (test/a.test.js:3:35)";
        assert_eq!(
            explain(text),
            [
                "AssertionError",
                "Expected values to be strictly equal:",
                "2 !== 3"
            ]
        );
    }

    #[test]
    fn jest_deep_equal_keeps_expected_received_and_changed_lines() {
        let text = "assert.deepStrictEqual(received, expected)\n\nExpected value to deeply and strictly equal to:\n  {\"a\": 1, \"b\": [1, 2, 4]}\nReceived:\n  {\"a\": 1, \"b\": [1, 2, 3]}\n\nDifference:\n\n- Expected\n+ Received\n\n  Object {\n    \"a\": 1,\n    \"b\": Array [\n      1,\n      2,\n-     4,\n+     3,\n    ],\n  }\n    at Object.deepStrictEqual (/w/js/spec/mixed.spec.js:9:12)\n    at new Promise (<anonymous>)";
        let got = explain(text);
        assert_eq!(
            got,
            [
                "assert.deepStrictEqual(received, expected)",
                "Expected value to deeply and strictly equal to:",
                "  {\"a\": 1, \"b\": [1, 2, 4]}",
                "Received:",
                "  {\"a\": 1, \"b\": [1, 2, 3]}",
                "- Expected",
                "+ Received",
                "-     4,",
                "+     3,",
            ]
        );
    }

    #[test]
    fn pytest_keeps_source_and_e_lines() {
        let text = "def test_x():\n>       assert add(1, 2) == 4\nE       assert 3 == 4\nE        +  where 3 = add(1, 2)\nE\n\ntests/test_x.py:5: AssertionError";
        assert_eq!(
            explain(text),
            [
                ">       assert add(1, 2) == 4",
                "E       assert 3 == 4",
                "E        +  where 3 = add(1, 2)",
            ]
        );
    }

    #[test]
    fn rust_reads_past_nextests_lone_panic_line() {
        let text = "test failure with exit code 101\nthread 'tests::adds' (7) panicked at src/lib.rs:15:9\nthread 'tests::adds' (7) panicked at src/lib.rs:15:9:\nassertion `left == right` failed: math\n  left: 4\n right: 5\nstack backtrace:\n   0: x";
        assert_eq!(
            explain(text),
            [
                "assertion `left == right` failed: math",
                "  left: 4",
                " right: 5"
            ]
        );
    }

    #[test]
    fn rust_keeps_assertion_left_and_right() {
        let text = "thread 'tests::a' (1) panicked at src/lib.rs:16:9:\nassertion `left == right` failed: math\n  left: 4\n right: 5\nstack backtrace:\n   0: core::panicking";
        assert_eq!(
            explain(text),
            [
                "assertion `left == right` failed: math",
                "  left: 4",
                " right: 5"
            ]
        );
    }

    #[test]
    fn junit_and_hamcrest_comparisons() {
        let text = "java.lang.AssertionError: expected:<4> but was:<3>\n\tat a.B.c(B.java:3)\n\tat expected:<x> but was:<y>";
        assert_eq!(
            explain(text),
            ["java.lang.AssertionError: expected:<4> but was:<3>"]
        );
        let text =
            "java.lang.AssertionError: \nExpected: is <4>\n     but: was <3>\n\tat a.B.c(B.java:3)";
        assert_eq!(explain(text), ["Expected: is <4>", "     but: was <3>"]);
    }

    #[test]
    fn unknown_shapes_explain_nothing() {
        assert!(explain("TypeError: x is undefined\n    at f (a.js:1:2)").is_empty());
        assert!(explain("").is_empty());
    }
}
