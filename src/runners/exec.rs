//! Running one runner's command: `sh -c` in its own process group, stdout/stderr written
//! straight to the log files (the OS does the streaming, so memory stays flat whatever the
//! output size), a timeout that stops the whole group (SIGTERM, grace, SIGKILL), and
//! cancellation (Ctrl-C / SIGTERM to codeloop) that does the same; a second signal cuts the
//! grace period short ([`force_stop`]).
//!
//! The group is also swept after a normal exit, so a background process a runner left behind
//! does not outlive it (and cannot hold the CI job open).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

/// What to run.
#[derive(Clone, Debug)]
pub struct Spawn {
    pub command: String,
    pub cwd: PathBuf,
    pub env: Vec<(&'static str, String)>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub timeout: Duration,
    /// Time between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// How the process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Exited by itself with this code.
    Exited(i32),
    /// Killed by a signal we did not send.
    Signaled(i32),
    /// Stopped by us after the timeout.
    TimedOut,
    /// Stopped by us because codeloop was interrupted.
    Interrupted,
    /// Could not be started (or its log files could not be created).
    SpawnFailed(String),
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub ended: Ended,
    pub duration: Duration,
    /// Whether processes were left in the group after the leader exited (and were killed).
    pub swept: bool,
}

fn create_log(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(p)
}

/// Runs `spec` to completion, timeout or cancellation (`cancel` turning `true`).
pub async fn run(spec: &Spawn, mut cancel: watch::Receiver<bool>) -> Outcome {
    let start = Instant::now();
    let failed = |msg: String| Outcome {
        ended: Ended::SpawnFailed(msg),
        duration: start.elapsed(),
        swept: false,
    };
    let out = match create_log(&spec.stdout) {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot create `{}`: {e}", spec.stdout.display())),
    };
    let err = match create_log(&spec.stderr) {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot create `{}`: {e}", spec.stderr.display())),
    };
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(false);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start `/bin/sh`: {e}")),
    };
    // With process_group(0) the group id is the child's pid.
    let Some(pgid) = child.id().map(|p| p as i32) else {
        return failed("the process exited before it could be tracked".into());
    };
    if *cancel.borrow() {
        stop_group(&mut child, pgid, spec.grace).await;
        return Outcome {
            ended: Ended::Interrupted,
            duration: start.elapsed(),
            swept: false,
        };
    }
    let ended = tokio::select! {
        status = child.wait() => {
            let ended = match status {
                Ok(s) => from_status(s),
                Err(e) => Ended::SpawnFailed(format!("waiting for the process failed: {e}")),
            };
            let swept = sweep(pgid);
            return Outcome { ended, duration: start.elapsed(), swept };
        }
        _ = tokio::time::sleep(spec.timeout) => Ended::TimedOut,
        _ = cancelled(&mut cancel) => Ended::Interrupted,
    };
    stop_group(&mut child, pgid, spec.grace).await;
    Outcome {
        ended,
        duration: start.elapsed(),
        swept: false,
    }
}

/// Resolves when `cancel` turns true; never, if its sender is gone without cancelling.
pub async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn from_status(s: std::process::ExitStatus) -> Ended {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(sig)) => Ended::Signaled(sig),
        (None, None) => Ended::Exited(-1),
    }
}

fn killpg(pgid: i32, sig: i32) -> bool {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-pgid, sig) == 0 }
}

/// Kills whatever is left in the group after the leader exited. True if anything was.
fn sweep(pgid: i32) -> bool {
    if killpg(pgid, 0) {
        killpg(pgid, libc::SIGKILL);
        true
    } else {
        false
    }
}

/// Set by a second Ctrl-C / SIGTERM while runners are being stopped: the person (or the CI
/// runner's escalation) does not want to wait out the grace period any longer.
static FORCE_STOP: AtomicBool = AtomicBool::new(false);

/// Cuts every grace period short: groups being stopped get SIGKILL now.
pub fn force_stop() {
    FORCE_STOP.store(true, Ordering::SeqCst);
}

/// SIGTERM to the group, wait up to `grace` for the whole group to go, then SIGKILL.
async fn stop_group(child: &mut tokio::process::Child, pgid: i32, grace: Duration) {
    killpg(pgid, libc::SIGTERM);
    let deadline = Instant::now() + grace;
    let mut leader_done = false;
    loop {
        if !leader_done {
            leader_done = matches!(child.try_wait(), Ok(Some(_)) | Err(_));
        }
        if leader_done && !killpg(pgid, 0) {
            return;
        }
        if Instant::now() >= deadline || FORCE_STOP.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    killpg(pgid, libc::SIGKILL);
    let _ = child.wait().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(dir: &Path, cmd: &str, timeout_ms: u64) -> Spawn {
        Spawn {
            command: cmd.into(),
            cwd: dir.to_path_buf(),
            env: vec![("CODELOOP_RUNNER_ID", "t".into())],
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
            timeout: Duration::from_millis(timeout_ms),
            grace: Duration::from_millis(300),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn exit_code_env_and_logs() {
        let d = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        let s = spec(
            d.path(),
            "echo out $CODELOOP_RUNNER_ID; echo err >&2; exit 3",
            10_000,
        );
        let o = rt().block_on(run(&s, rx));
        assert_eq!(o.ended, Ended::Exited(3));
        assert_eq!(std::fs::read_to_string(&s.stdout).unwrap(), "out t\n");
        assert_eq!(std::fs::read_to_string(&s.stderr).unwrap(), "err\n");
    }

    #[test]
    fn timeout_stops_a_term_ignoring_group() {
        let d = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        let s = spec(d.path(), "trap '' TERM; sleep 30 & sleep 30; wait", 200);
        let t = Instant::now();
        let o = rt().block_on(run(&s, rx));
        assert_eq!(o.ended, Ended::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn cancellation_interrupts() {
        let d = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(false);
        let s = spec(d.path(), "sleep 30", 60_000);
        let o = rt().block_on(async {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = tx.send(true);
            });
            run(&s, rx).await
        });
        assert_eq!(o.ended, Ended::Interrupted);
    }
}
