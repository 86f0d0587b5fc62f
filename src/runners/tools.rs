//! Which programs a runner's `command` starts, for `doctor` (is each one on PATH?). Pure: a
//! small reading of the `sh -c` line, not a shell. It splits on `;`, `&&`, `||`, `|`, `&`,
//! newlines and parentheses, skips `VAR=value` assignments, wrappers that run their argument
//! (`env`, `exec`, `time`, `nohup`, `command`), shell keywords and builtins, and anything the
//! shell expands at run time (`$X`, `{run_dir}`, backquotes), because only the shell knows
//! what those name.

/// Shell keywords that come before a command (`then pytest`): skipped.
const KEYWORDS: &[&str] = &[
    "!", "if", "then", "elif", "else", "fi", "do", "done", "while", "until", "{", "}",
];

/// Shell builtins and the keywords whose next word is not a command: never looked up.
const BUILTINS: &[&str] = &[
    ".", ":", "[", "[[", "alias", "break", "case", "cd", "continue", "echo", "esac", "eval",
    "exit", "export", "false", "for", "function", "in", "local", "printf", "pwd", "read", "return",
    "set", "shift", "source", "test", "trap", "true", "type", "ulimit", "umask", "unset", "wait",
];

/// Words that run the next word as the program.
const WRAPPERS: &[&str] = &["env", "exec", "time", "nohup", "command", "nice"];

/// The programs `command` starts, in order, each once.
pub fn programs(command: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for segment in segments(command) {
        let mut words = segment.iter().map(String::as_str).peekable();
        while let Some(w) = words.next() {
            if is_assignment(w)
                || KEYWORDS.contains(&w)
                || WRAPPERS.contains(&w)
                || w.starts_with('-')
            {
                // `env -i X=1 prog`, `nice -n 5 prog`: options of a wrapper are skipped too
                // (a numeric option value looks like a program only to nobody).
                if w == "-n"
                    && words
                        .peek()
                        .is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
                {
                    words.next();
                }
                continue;
            }
            if BUILTINS.contains(&w) || expands(w) {
                break;
            }
            if !out.iter().any(|o| o == w) {
                out.push(w.to_string());
            }
            break;
        }
    }
    out
}

fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// A word whose value the shell (or codeloop's interpolation) decides at run time.
fn expands(w: &str) -> bool {
    w.contains(['$', '`', '{', '*', '?']) || w.is_empty()
}

/// Simple commands as word lists: quotes respected (and removed), operators split.
fn segments(command: &str) -> Vec<Vec<String>> {
    let mut segs = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = command.chars().peekable();
    let end_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        _ => word.push(q),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next()
                    && n != '\n'
                {
                    word.push(n);
                }
            }
            '#' if !in_word => {
                // A comment runs to the end of the line.
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_word(&mut word, &mut in_word, &mut words);
                segs.push(std::mem::take(&mut words));
            }
            ';' | '&' | '|' | '\n' | '(' | ')' => {
                end_word(&mut word, &mut in_word, &mut words);
                segs.push(std::mem::take(&mut words));
            }
            '<' | '>' => {
                // A redirection: drop its target word (and a `2>&1`'s fd digits).
                if in_word && word.chars().all(|d| d.is_ascii_digit()) {
                    word.clear();
                    in_word = false;
                }
                end_word(&mut word, &mut in_word, &mut words);
                while chars.peek().is_some_and(|n| matches!(n, '>' | '<' | '&')) {
                    chars.next();
                }
                while chars.peek().is_some_and(|n| *n == ' ' || *n == '\t') {
                    chars.next();
                }
                let mut target = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, ';' | '&' | '|' | ')') {
                        break;
                    }
                    target.push(n);
                    chars.next();
                }
            }
            c if c.is_whitespace() => end_word(&mut word, &mut in_word, &mut words),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut words);
    segs.push(words);
    segs.retain(|s| !s.is_empty());
    segs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_word_of_every_simple_command() {
        assert_eq!(
            programs("pytest --junitxml={run_dir}/x.xml && ruff check . | tee out; exit 0"),
            ["pytest", "ruff", "tee"]
        );
        assert_eq!(
            programs("RUSTC_BOOTSTRAP=1 cargo test -- -Z unstable-options"),
            ["cargo"]
        );
        assert_eq!(
            programs(
                "printf 'x' > {runner_dir}/n.toml && cargo nextest run; s=$?; cp a b 2>/dev/null; exit $s"
            ),
            ["cargo", "cp"]
        );
        assert_eq!(
            programs("env -i FOO=1 nice -n 5 ./manage.py test"),
            ["./manage.py"]
        );
    }

    #[test]
    fn quotes_builtins_and_expansions() {
        assert_eq!(
            programs("echo 'configure me; pytest' >&2; exit 1"),
            Vec::<String>::new()
        );
        assert_eq!(programs("\"my tool\" --x"), ["my tool"]);
        assert_eq!(programs("$PYTHON -m pytest || (cd sub && make)"), ["make"]);
        assert_eq!(
            programs("if true; then bundle exec rspec; fi # then rake"),
            ["bundle"]
        );
        assert_eq!(programs("pytest\npytest -k x"), ["pytest"]);
    }
}
