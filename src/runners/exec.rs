//! Running one runner's command: `sh -c` in its own process group, stdout/stderr written
//! straight to the log files (the OS does the streaming, so memory stays flat whatever the
//! output size), a timeout that stops the whole group (SIGTERM, grace, SIGKILL), and
//! cancellation (Ctrl-C / SIGTERM to codeloop) that does the same; a second signal cuts the
//! grace period short ([`force_stop`]).
//!
//! The group is also swept after a normal exit, so a background process a runner left behind
//! does not outlive it (and cannot hold the CI job open).
//!
//! With a log cap (`log_max_bytes`, on by default) the output goes through a pipe to a
//! capture thread per stream instead: it writes the first half of the cap to the log as it
//! comes, keeps the last half in a ring buffer, and at the end writes an exact
//! `[… N bytes cut by codeloop …]` marker and the tail, so memory stays bounded by the cap
//! whatever the runner prints. Memory and CPU limits are applied by [`super::limits`].

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::limits::{Cgroup, MemoryVia, PreExec};

/// A runner's limits, resolved from `verify.limits` and its own `limits` (`None` = off).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory_mb: Option<u64>,
    pub cpu_time_sec: Option<u64>,
    /// Bytes kept per log stream (head + tail).
    pub log_max_bytes: Option<u64>,
}

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
    pub limits: Limits,
    /// Names the runner's cgroup (a valid runner id).
    pub name: String,
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
    /// How the memory limit was enforced, when there was one.
    pub memory_via: Option<MemoryVia>,
    /// The runner's cgroup recorded an OOM kill.
    pub oom_killed: bool,
    /// Bytes cut from the middle of stdout.log and stderr.log.
    pub cut: [u64; 2],
    /// A log that could not be written whole.
    pub log_error: Option<String>,
}

impl Outcome {
    fn new(ended: Ended, start: Instant) -> Outcome {
        Outcome {
            ended,
            duration: start.elapsed(),
            swept: false,
            memory_via: None,
            oom_killed: false,
            cut: [0, 0],
            log_error: None,
        }
    }
}

fn create_log(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::create(p)
}

/// Where a stream goes: straight to its file, or through a capped capture thread.
fn log_target(file: std::fs::File, cap: Option<u64>) -> std::io::Result<(Stdio, Option<Capture>)> {
    let Some(max) = cap else {
        return Ok((Stdio::from(file), None));
    };
    let (reader, writer) = std::io::pipe()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = oneshot::channel();
    let flag = stop.clone();
    std::thread::Builder::new()
        .name("codeloop-log".into())
        .spawn(move || {
            let _ = tx.send(capture(reader, file, max, &flag));
        })?;
    Ok((Stdio::from(writer), Some(Capture { stop, done: rx })))
}

/// A capture thread: `stop` makes it finish (writing what it has) while a process that
/// escaped the group still holds the pipe open.
struct Capture {
    stop: Arc<AtomicBool>,
    done: oneshot::Receiver<std::io::Result<u64>>,
}

impl Capture {
    /// Waits for the end of the stream (every writer gone) until `deadline`, then stops it.
    async fn finish(mut self, deadline: tokio::time::Instant) -> std::io::Result<u64> {
        if let Ok(r) = tokio::time::timeout_at(deadline, &mut self.done).await {
            return r.unwrap_or_else(|_| Err(std::io::Error::other("the log thread ended")));
        }
        self.stop.store(true, Ordering::SeqCst);
        self.done
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the log thread ended")))
    }
}

/// The marker between the head and the tail of a capped log (the same words as the parsers'
/// cut text).
pub fn cut_marker(cut: u64) -> String {
    format!("\n[… {cut} bytes cut by codeloop …]\n")
}

/// Copies `reader` to `file` keeping the first half of `max` bytes and the last half, with
/// [`cut_marker`] between them when anything was cut. Returns the bytes cut.
fn capture(
    reader: std::io::PipeReader,
    file: std::fs::File,
    max: u64,
    stop: &AtomicBool,
) -> std::io::Result<u64> {
    use std::os::fd::AsRawFd;
    let head_max = max / 2;
    let mut tail = Ring::new((max - head_max).min(usize::MAX as u64) as usize);
    let mut head = 0u64;
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut buf = vec![0u8; 64 * 1024];
    let mut reader = reader;
    loop {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let mut pfd = libc::pollfd {
            fd: reader.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one valid descriptor with a local pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
        if ready == 0 {
            continue;
        }
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut chunk = &buf[..n];
        if head < head_max {
            let k = (head_max - head).min(n as u64) as usize;
            out.write_all(&chunk[..k])?;
            head += k as u64;
            chunk = &chunk[k..];
        }
        tail.push(chunk);
    }
    if tail.dropped > 0 {
        out.write_all(cut_marker(tail.dropped).as_bytes())?;
    }
    let (a, b) = tail.parts();
    out.write_all(a)?;
    out.write_all(b)?;
    out.flush()?;
    Ok(tail.dropped)
}

/// The last `cap` bytes of a stream, and how many bytes before them were dropped.
struct Ring {
    buf: Vec<u8>,
    cap: usize,
    /// Where the oldest byte is, once the buffer is full.
    pos: usize,
    dropped: u64,
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring {
            buf: Vec::new(),
            cap,
            pos: 0,
            dropped: 0,
        }
    }

    fn push(&mut self, mut data: &[u8]) {
        if data.len() >= self.cap {
            self.dropped += (self.buf.len() + data.len() - self.cap) as u64;
            self.buf.clear();
            self.buf.extend_from_slice(&data[data.len() - self.cap..]);
            self.pos = 0;
            return;
        }
        if self.buf.len() < self.cap {
            let room = self.cap - self.buf.len();
            let k = room.min(data.len());
            self.buf.extend_from_slice(&data[..k]);
            data = &data[k..];
        }
        // Full: overwrite the oldest bytes, wrapping around.
        self.dropped += data.len() as u64;
        while !data.is_empty() {
            let k = (self.cap - self.pos).min(data.len());
            self.buf[self.pos..self.pos + k].copy_from_slice(&data[..k]);
            self.pos = (self.pos + k) % self.cap;
            data = &data[k..];
        }
    }

    /// The kept bytes in order.
    fn parts(&self) -> (&[u8], &[u8]) {
        if self.buf.len() < self.cap {
            (&self.buf, &[])
        } else {
            (&self.buf[self.pos..], &self.buf[..self.pos])
        }
    }
}

/// Runs `spec` to completion, timeout or cancellation (`cancel` turning `true`).
pub async fn run(spec: &Spawn, cancel: watch::Receiver<bool>) -> Outcome {
    let start = Instant::now();
    let cgroup = spec
        .limits
        .memory_mb
        .and_then(|mb| Cgroup::create(&spec.name, mb.saturating_mul(1024 * 1024)));
    let mut out = run_in(spec, cancel, cgroup.as_ref(), start).await;
    if let Some(cg) = cgroup {
        out.oom_killed = out.memory_via == Some(MemoryVia::Cgroup) && cg.oom_killed();
        let _ = tokio::task::spawn_blocking(move || cg.remove()).await;
    }
    out
}

async fn run_in(
    spec: &Spawn,
    mut cancel: watch::Receiver<bool>,
    cgroup: Option<&Cgroup>,
    start: Instant,
) -> Outcome {
    let failed = |msg: String| Outcome::new(Ended::SpawnFailed(msg), start);
    let open = |p: &Path| {
        create_log(p)
            .and_then(|f| log_target(f, spec.limits.log_max_bytes))
            .map_err(|e| format!("cannot create `{}`: {e}", p.display()))
    };
    let (out, out_capture) = match open(&spec.stdout) {
        Ok(x) => x,
        Err(m) => return failed(m),
    };
    let (err, err_capture) = match open(&spec.stderr) {
        Ok(x) => x,
        Err(m) => return failed(m),
    };
    let mut cmd = tokio::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&spec.command)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .kill_on_drop(false);
    let pre = PreExec::new(&spec.limits, cgroup);
    if !pre.is_noop() {
        // SAFETY: `apply` makes only async-signal-safe calls (write, getrlimit, setrlimit) on
        // plain copied numbers: nothing is allocated or locked between fork and exec.
        unsafe {
            cmd.pre_exec(move || pre.apply());
        }
    }
    let spawned = cmd.spawn();
    // The command holds the write ends of the log pipes: close ours, or no capture thread
    // would ever see the end of its stream.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start `/bin/sh` with its limits: {e}")),
    };
    // With process_group(0) the group id is the child's pid.
    let Some(pid) = child.id() else {
        return failed("the process exited before it could be tracked".into());
    };
    let pgid = pid as i32;
    let memory_via = spec.limits.memory_mb.map(|_| match cgroup {
        Some(cg) if cg.contains(pid) => MemoryVia::Cgroup,
        _ => MemoryVia::RlimitAs,
    });
    let (ended, swept) = if *cancel.borrow() {
        stop_group(&mut child, pgid, spec.grace).await;
        (Ended::Interrupted, false)
    } else {
        let stopped = tokio::select! {
            status = child.wait() => {
                let ended = match status {
                    Ok(s) => from_status(s),
                    Err(e) => Ended::SpawnFailed(format!("waiting for the process failed: {e}")),
                };
                Err((ended, sweep(pgid)))
            }
            _ = tokio::time::sleep(spec.timeout) => Ok(Ended::TimedOut),
            _ = cancelled(&mut cancel) => Ok(Ended::Interrupted),
        };
        match stopped {
            Err(done) => done,
            Ok(ended) => {
                stop_group(&mut child, pgid, spec.grace).await;
                (ended, false)
            }
        }
    };
    let mut o = Outcome::new(ended, start);
    o.swept = swept;
    o.memory_via = memory_via;
    // The group is gone, so the pipes are at their end; only a process that left the group
    // (setsid) can still hold one open, and it does not hold the run.
    let deadline = tokio::time::Instant::now() + spec.grace.max(Duration::from_secs(1));
    for (i, (cap, path)) in [(out_capture, &spec.stdout), (err_capture, &spec.stderr)]
        .into_iter()
        .enumerate()
    {
        let Some(cap) = cap else { continue };
        match cap.finish(deadline).await {
            Ok(cut) => o.cut[i] = cut,
            Err(e) => {
                o.log_error
                    .get_or_insert_with(|| format!("cannot write `{}`: {e}", path.display()));
            }
        }
    }
    o
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
            limits: Limits::default(),
            name: "t".into(),
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn the_ring_keeps_the_last_bytes_at_every_chunking() {
        let data: Vec<u8> = (0..200u32).map(|i| (i % 251) as u8).collect();
        for cap in [1, 7, 64, 199, 200, 500] {
            for chunk in [1, 3, 64, 150, 200] {
                let mut r = Ring::new(cap);
                data.chunks(chunk).for_each(|c| r.push(c));
                let (a, b) = r.parts();
                let kept = [a, b].concat();
                let want = &data[data.len().saturating_sub(cap)..];
                assert_eq!(kept, want, "cap {cap} chunk {chunk}");
                assert_eq!(r.dropped as usize, data.len() - want.len());
            }
        }
    }

    #[test]
    fn a_capped_log_keeps_head_and_tail_with_an_exact_marker() {
        let d = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        let mut s = spec(
            d.path(),
            "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done; echo err >&2",
            10_000,
        );
        s.limits.log_max_bytes = Some(100);
        let o = rt().block_on(run(&s, rx));
        assert_eq!(o.ended, Ended::Exited(0));
        let full: String = (0..1000).map(|i| format!("line-{i}\n")).collect();
        let got = std::fs::read_to_string(&s.stdout).unwrap();
        let cut = full.len() as u64 - 100;
        assert_eq!(o.cut, [cut, 0]);
        assert_eq!(
            got,
            format!(
                "{}{}{}",
                &full[..50],
                cut_marker(cut),
                &full[full.len() - 50..]
            )
        );
        assert_eq!(std::fs::read_to_string(&s.stderr).unwrap(), "err\n");
    }

    #[test]
    fn a_process_that_left_the_group_does_not_hold_a_capped_log_open() {
        let d = tempfile::tempdir().unwrap();
        let (_tx, rx) = watch::channel(false);
        // setsid: out of the group, so the sweep cannot kill it; it keeps stdout open.
        let mut s = spec(
            d.path(),
            "echo before; setsid sh -c 'sleep 3; echo late' & sleep 0.3; echo after",
            10_000,
        );
        s.limits.log_max_bytes = Some(1 << 20);
        let t = Instant::now();
        let o = rt().block_on(run(&s, rx));
        assert_eq!(o.ended, Ended::Exited(0));
        // One wait of max(grace, 1 s) for both streams, not the 3 s of the process.
        assert!(
            t.elapsed() < Duration::from_millis(3000),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(o.log_error, None);
        assert_eq!(
            std::fs::read_to_string(&s.stdout).unwrap(),
            "before\nafter\n"
        );
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
