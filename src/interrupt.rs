//! Process-wide SIGINT/SIGTERM for the commands that run stages one after another (`ci`,
//! `action`, `merge`), all in this one process (`pipeline`). `verify` handles its own
//! signals while its runners run (it stops their process groups and records the run as
//! interrupted); this module covers the rest of the process's life: it remembers that a
//! signal came, so the next stage is not started. Installing the handlers matters in the
//! Docker action, where codeloop is PID 1 and `docker stop` signals only PID 1: without
//! them a signal there would be ignored, not acted on.

use std::sync::Once;
use std::sync::atomic::{AtomicI32, Ordering};

/// The signal received (0 = none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

/// Starts watching SIGINT and SIGTERM (once per process). Returns after the handlers are
/// installed, so no signal sent after this call can take the default action (death).
pub fn watch() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("codeloop-signals".into())
            .spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    let _ = tx.send(());
                    return;
                };
                rt.block_on(async move {
                    use tokio::signal::unix::{SignalKind, signal};
                    let streams = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                    );
                    let _ = tx.send(());
                    let (Ok(mut int), Ok(mut term)) = streams else {
                        return;
                    };
                    loop {
                        let sig = tokio::select! {
                            _ = int.recv() => libc::SIGINT,
                            _ = term.recv() => libc::SIGTERM,
                        };
                        RECEIVED.store(sig, Ordering::SeqCst);
                    }
                });
            });
        if spawned.is_ok() {
            let _ = rx.recv();
        }
    });
}

/// The signal received since [`watch`], by name.
pub fn received() -> Option<&'static str> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        s => Some(crate::model::signal_name(s).unwrap_or("a signal")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Set in the child process the test below re-runs itself in.
    const OWN_PROCESS: &str = "CODELOOP_TEST_INTERRUPT_OWN_PROCESS";

    #[test]
    fn a_signal_is_remembered_not_fatal() {
        // The handlers and the remembered signal are process-wide, and with `cargo test` every
        // unit test shares this process: a SIGTERM raised here would reach the signal streams
        // of any other test and leave `received()` set for the rest of the run. So the test
        // runs in a process of its own: this test binary re-run with only this test.
        if std::env::var_os(OWN_PROCESS).is_none() {
            let name = "interrupt::tests::a_signal_is_remembered_not_fatal";
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args(["--exact", name, "--nocapture", "--test-threads", "1"])
                .env(OWN_PROCESS, "1")
                .stdin(std::process::Stdio::null())
                .output()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "{text}");
            assert!(text.contains("1 passed"), "the test did not run:\n{text}");
            return;
        }
        watch();
        assert_eq!(received(), None);
        // SAFETY: signalling ourselves; watch() installed the handler, so this does not kill
        // the test process.
        unsafe { libc::raise(libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while received().is_none() {
            assert!(Instant::now() < deadline, "the signal was never seen");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(received(), Some("SIGTERM"));
    }
}
