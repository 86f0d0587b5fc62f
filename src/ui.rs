//! User-facing messages in one shape: `error: ...`, then `caused by:` lines, then `hint:`.
//! Also knows whether stdout is a terminal (live view) or a CI log (plain lines).

use std::io::IsTerminal;

/// Prints an error with its causes and an optional hint to stderr.
pub fn error(err: &(dyn std::error::Error + 'static), hint: Option<&str>) {
    eprintln!("error: {err}");
    let mut src = err.source();
    while let Some(s) = src {
        eprintln!("caused by: {s}");
        src = s.source();
    }
    if let Some(h) = hint {
        eprintln!("hint: {h}");
    }
}

/// A warning line on stderr.
pub fn warn(msg: &str) {
    eprintln!("warning: {msg}");
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
