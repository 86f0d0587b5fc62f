//! Progress on stderr while runners run: in a terminal, a live table (one line per runner,
//! redrawn in place, with a spinner and elapsed time); in CI or a pipe, plain lines when a
//! runner starts and when it ends, so logs stay readable and grep-able.

use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use crate::model::{RunnerKind, RunnerStatus};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Redraw in place (a terminal, not CI).
    Live,
    /// One line per start/finish (CI logs, pipes).
    Plain,
    /// Nothing (`--format json` keeps stderr for errors only).
    Quiet,
}

enum State {
    Pending,
    Running(Instant),
    Done {
        status: RunnerStatus,
        secs: f64,
        summary: String,
    },
}

struct Row {
    id: String,
    kind: RunnerKind,
    state: State,
}

pub struct Progress {
    mode: Mode,
    rows: Mutex<(Vec<Row>, usize)>,
    tick: Mutex<usize>,
}

const SPIN: [&str; 4] = ["-", "\\", "|", "/"];

/// A short mark for a status, ASCII only (CI logs are not always UTF-8 aware).
pub fn mark(s: RunnerStatus) -> &'static str {
    match s {
        RunnerStatus::Passed => "ok",
        RunnerStatus::Failed => "FAIL",
        RunnerStatus::Timeout => "TIMEOUT",
        RunnerStatus::Crashed => "CRASH",
        RunnerStatus::Blocked => "blocked",
        RunnerStatus::Unavailable => "unavailable",
        RunnerStatus::Interrupted => "interrupted",
        RunnerStatus::Skipped => "skipped",
    }
}

impl Progress {
    pub fn new(mode: Mode, runners: &[(String, RunnerKind)]) -> Progress {
        let rows = runners
            .iter()
            .map(|(id, kind)| Row {
                id: id.clone(),
                kind: *kind,
                state: State::Pending,
            })
            .collect();
        Progress {
            mode,
            rows: Mutex::new((rows, 0)),
            tick: Mutex::new(0),
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn started(&self, id: &str) {
        self.update(id, State::Running(Instant::now()));
        if self.mode == Mode::Plain {
            crate::errln!("codeloop: {id}: started");
        }
    }

    pub fn finished(&self, id: &str, status: RunnerStatus, secs: f64, summary: String) {
        if self.mode == Mode::Plain {
            let tail = if summary.is_empty() {
                String::new()
            } else {
                format!(" ({summary})")
            };
            crate::errln!("codeloop: {id}: {} in {secs:.1}s{tail}", status.as_str());
        }
        self.update(
            id,
            State::Done {
                status,
                secs,
                summary,
            },
        );
    }

    fn update(&self, id: &str, state: State) {
        if let Ok(mut g) = self.rows.lock()
            && let Some(r) = g.0.iter_mut().find(|r| r.id == id)
        {
            r.state = state;
        }
    }

    /// Redraws the live table (no-op in other modes).
    pub fn draw(&self) {
        if self.mode != Mode::Live {
            return;
        }
        let tick = {
            let mut t = self.tick.lock().unwrap_or_else(|e| e.into_inner());
            *t += 1;
            *t
        };
        let Ok(mut g) = self.rows.lock() else {
            return;
        };
        let width = g.0.iter().map(|r| r.id.len()).max().unwrap_or(0);
        let mut out = String::new();
        if g.1 > 0 {
            out.push_str(&format!("\x1b[{}A", g.1));
        }
        for r in &g.0 {
            let line = match &r.state {
                State::Pending => format!("  .  {:width$}  {:5}  waiting", r.id, r.kind.as_str()),
                State::Running(t) => format!(
                    "  {}  {:width$}  {:5}  running {:.1}s",
                    SPIN[tick % SPIN.len()],
                    r.id,
                    r.kind.as_str(),
                    t.elapsed().as_secs_f64()
                ),
                State::Done {
                    status,
                    secs,
                    summary,
                } => format!(
                    "  {}  {:width$}  {:5}  {} {secs:.1}s  {summary}",
                    if *status == RunnerStatus::Passed {
                        "\x1b[32mv\x1b[0m"
                    } else {
                        "\x1b[31mx\x1b[0m"
                    },
                    r.id,
                    r.kind.as_str(),
                    status.as_str()
                ),
            };
            out.push_str("\x1b[2K");
            out.push_str(&line);
            out.push('\n');
        }
        g.1 = g.0.len();
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(out.as_bytes());
        let _ = e.flush();
    }
}
