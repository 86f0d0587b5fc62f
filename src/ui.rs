//! User-facing messages in one shape: `error: ...`, then `caused by:` lines, then `hint:`.
//! Also knows whether stdout is a terminal (live view) or a CI log (plain lines), and owns
//! every line codeloop prints: `println!` panics when the reader went away
//! (`codeloop ci | head -1`), so all printing goes through [`out`] / [`err_line`], which
//! treat a closed pipe as "stop printing" and let the command finish with its own exit code.
//! `clippy.toml` disallows the std print macros so no path slips past.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout's reader has gone (EPIPE): nothing more is written there.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
/// The same for stderr.
static STDERR_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` and a newline to `w` unless `closed`; a write error (a closed pipe, a full
/// disk behind a redirect) closes the stream for the rest of the process instead of
/// panicking like `println!` does.
fn write_line(w: &mut dyn Write, closed: &AtomicBool, text: &str) {
    if closed.load(Ordering::Relaxed) {
        return;
    }
    let r = w
        .write_all(text.as_bytes())
        .and_then(|()| w.write_all(b"\n"))
        .and_then(|()| w.flush());
    if r.is_err() {
        closed.store(true, Ordering::Relaxed);
    }
}

/// Whether stdout's reader has gone (a `| head` that has read enough).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// A line on stderr as is (no redaction), quiet when stderr is closed.
pub fn err_line(text: &str) {
    write_line(&mut std::io::stderr().lock(), &STDERR_CLOSED, text);
}

/// A line on stdout as is (no redaction), quiet when stdout is closed.
pub fn out_raw(text: &str) {
    write_line(&mut std::io::stdout().lock(), &STDOUT_CLOSED, text);
}

/// A [`Write`] over stdout that swallows write errors (a closed pipe) and marks stdout
/// closed, for code that streams into a `&mut dyn Write`.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !STDOUT_CLOSED.load(Ordering::Relaxed)
            && std::io::stdout().lock().write_all(buf).is_err()
        {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if !STDOUT_CLOSED.load(Ordering::Relaxed) && std::io::stdout().flush().is_err() {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}

/// Prints an error with its causes and an optional hint to stderr.
/// Everything is redacted (`crate::redact`): errors quote paths, commands and file content.
pub fn error(err: &(dyn std::error::Error + 'static), hint: Option<&str>) {
    let r = crate::redact::current();
    err_line(&format!("error: {}", r.redact(&err.to_string())));
    let mut src = err.source();
    while let Some(s) = src {
        err_line(&format!("caused by: {}", r.redact(&s.to_string())));
        src = s.source();
    }
    if let Some(h) = hint {
        err_line(&format!("hint: {}", r.redact(h)));
    }
}

/// A warning line on stderr.
pub fn warn(msg: &str) {
    err_line(&format!("warning: {}", crate::redact::redact(msg)));
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
    out_raw(&crate::redact::redact(text));
}

/// `println!` through [`out`] (redacted; quiet once stdout is closed).
#[macro_export]
macro_rules! outln {
    ($($t:tt)*) => { $crate::ui::out(&format!($($t)*)) };
}

/// `eprintln!` through [`err_line`] (quiet once stderr is closed).
#[macro_export]
macro_rules! errln {
    ($($t:tt)*) => { $crate::ui::err_line(&format!($($t)*)) };
}
