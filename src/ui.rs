//! User-facing messages in one shape: `error: ...`, then `caused by:` lines, then `hint:`.
//! Also knows whether stdout is a terminal (live view) or a CI log (plain lines).

use std::io::IsTerminal;

/// Prints an error with its causes and an optional hint to stderr.
/// Everything is redacted (`crate::redact`): errors quote paths, commands and file content.
pub fn error(err: &(dyn std::error::Error + 'static), hint: Option<&str>) {
    let r = crate::redact::current();
    eprintln!("error: {}", r.redact(&err.to_string()));
    let mut src = err.source();
    while let Some(s) = src {
        eprintln!("caused by: {}", r.redact(&s.to_string()));
        src = s.source();
    }
    if let Some(h) = hint {
        eprintln!("hint: {}", r.redact(h));
    }
}

/// A warning line on stderr.
pub fn warn(msg: &str) {
    eprintln!("warning: {}", crate::redact::redact(msg));
}

/// True when running under a CI system (plain lines, no live redraw).
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
        || std::env::var_os("GITHUB_ACTIONS").is_some()
        || std::env::var_os("GITLAB_CI").is_some()
}

/// True when stderr is an interactive terminal and we are not in CI.
pub fn live() -> bool {
    std::io::stderr().is_terminal() && !in_ci()
}

/// A line on stdout through the redactor (`crate::redact`), for output that quotes run data:
/// hints, parse errors, test names, JSON documents.
pub fn out(text: &str) {
    println!("{}", crate::redact::redact(text));
}

/// `println!` through [`out`].
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::ui::out(&format!($($t)*)) };
}
