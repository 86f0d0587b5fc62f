//! Per-runner resource limits (`verify.limits`, a plugin runner's `limits`): how each is
//! enforced on the runner's processes, and how a runner stopped by one is recognized.
//!
//! - **memory** (`memory_mb`): a cgroup v2 child of codeloop's own cgroup with `memory.max`
//!   (and no swap) when codeloop may create one — a unified hierarchy at `/sys/fs/cgroup`, a
//!   writable cgroup whose `cgroup.subtree_control` enables `memory` — so the limit covers
//!   the resident memory of every process of the runner and the kernel's OOM kill is seen in
//!   `memory.events`. Elsewhere (cgroup v1, a container without delegation) it is
//!   `RLIMIT_AS` on each process: allocations beyond it fail, and a runner that then fails
//!   with an out-of-memory message is recognized by that message.
//! - **CPU time** (`cpu_time_sec`): `RLIMIT_CPU` on each process; the kernel sends `SIGXCPU`
//!   at the limit and `SIGKILL` one second later to a process that ignores it.
//! - **logs** (`log_max_bytes`): see [`super::exec`], which keeps the head and the tail.
//!
//! The limits are applied in the child between `fork` and `exec` ([`PreExec::apply`]), so
//! only async-signal-safe calls are made there: `write(2)` to an already open
//! `cgroup.procs`, `getrlimit(2)`, `setrlimit(2)`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::exec::{Ended, Limits};
use crate::model::LimitKind;

/// Where the unified (v2) cgroup hierarchy is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Seconds between `SIGXCPU` (soft limit) and `SIGKILL` (hard limit).
const CPU_HARD_EXTRA_SEC: u64 = 1;

/// A cgroup v2 made for one runner, removed again by [`Cgroup::remove`].
#[derive(Debug)]
pub struct Cgroup {
    dir: PathBuf,
    /// `cgroup.procs`, open before the fork: the child writes `0` to it to move itself in.
    procs: File,
}

impl Cgroup {
    /// Creates `codeloop-<pid>-<name>` under codeloop's own cgroup with `memory.max`, or
    /// `None` where that is not possible (then `RLIMIT_AS` is used).
    pub fn create(name: &str, memory_bytes: u64) -> Option<Cgroup> {
        let root = Path::new(CGROUP_ROOT);
        if !root.join("cgroup.controllers").is_file() {
            return None; // no unified hierarchy at the usual place (cgroup v1 or hybrid)
        }
        let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
        let parent = own_cgroup_dir(&own, root)?;
        let enabled = std::fs::read_to_string(parent.join("cgroup.subtree_control")).ok()?;
        if !enabled.split_whitespace().any(|c| c == "memory") {
            return None;
        }
        let dir = parent.join(format!("codeloop-{}-{name}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        let made = (|| {
            std::fs::write(dir.join("memory.max"), memory_bytes.to_string()).ok()?;
            // Without swap the limit is the limit (the file is absent without swap accounting).
            let _ = std::fs::write(dir.join("memory.swap.max"), "0");
            let procs = std::fs::OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
                .ok()?;
            Some(procs)
        })();
        match made {
            Some(procs) => Some(Cgroup { dir, procs }),
            None => {
                let _ = std::fs::remove_dir(&dir);
                None
            }
        }
    }

    /// Whether process `pid` is in this cgroup (the child's move can fail).
    pub fn contains(&self, pid: u32) -> bool {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .is_ok_and(|t| t.lines().any(|l| l.trim() == pid.to_string()))
    }

    /// Whether the kernel killed a process of the runner for the cgroup's `memory.max`.
    pub fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.dir.join("memory.events")).is_ok_and(|t| oom_kills(&t) > 0)
    }

    /// Removes the cgroup once its processes are gone (the kernel may need a moment).
    pub fn remove(self) {
        let Cgroup { dir, procs } = self;
        drop(procs);
        for _ in 0..50 {
            if std::fs::remove_dir(&dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The directory of codeloop's own cgroup, from `/proc/self/cgroup` (the `0::/path` line).
fn own_cgroup_dir(proc_self_cgroup: &str, root: &Path) -> Option<PathBuf> {
    let rel = proc_self_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim()
        .trim_start_matches('/');
    if rel.split('/').any(|c| c == "..") {
        return None;
    }
    Some(if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(rel)
    })
}

/// `oom_kill N` of a `memory.events` file.
fn oom_kills(events: &str) -> u64 {
    events
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(k, _)| *k == "oom_kill")
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// What the child applies to itself before `exec`. Plain numbers only: the closure runs
/// after `fork`, where nothing may allocate or lock.
#[derive(Clone, Copy, Debug)]
pub struct PreExec {
    /// `cgroup.procs` of the runner's cgroup.
    pub cgroup_procs: Option<i32>,
    /// `RLIMIT_AS` in bytes: always without a cgroup, and as a fallback when the move into
    /// the cgroup fails.
    pub address_space: Option<u64>,
    pub cpu_sec: Option<u64>,
}

impl PreExec {
    pub fn new(limits: &Limits, cgroup: Option<&Cgroup>) -> PreExec {
        PreExec {
            cgroup_procs: cgroup.map(|c| c.procs.as_raw_fd()),
            address_space: limits.memory_mb.map(|m| m.saturating_mul(1024 * 1024)),
            cpu_sec: limits.cpu_time_sec,
        }
    }

    pub fn is_noop(&self) -> bool {
        self.address_space.is_none() && self.cpu_sec.is_none()
    }

    /// Runs in the child between `fork` and `exec`: async-signal-safe calls only.
    pub fn apply(&self) -> std::io::Result<()> {
        let mut in_cgroup = false;
        if let Some(fd) = self.cgroup_procs {
            // SAFETY: write(2) of a 1-byte static buffer to an open descriptor.
            in_cgroup = unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } == 1;
        }
        if let (false, Some(bytes)) = (in_cgroup, self.address_space) {
            lower_limit(libc::RLIMIT_AS, bytes, bytes)?;
        }
        if let Some(sec) = self.cpu_sec {
            lower_limit(
                libc::RLIMIT_CPU,
                sec,
                sec.saturating_add(CPU_HARD_EXTRA_SEC),
            )?;
        }
        Ok(())
    }
}

// glibc types the resource as its own enum; musl (the release and container builds), like
// the BSDs and macOS, as a plain int.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
type Resource = libc::c_int;

/// Sets a limit, never above the hard limit the process already has (raising it would fail).
// `rlim_t` is `u64` on Linux but not everywhere: the casts are for the other platforms.
#[allow(clippy::unnecessary_cast)]
fn lower_limit(resource: Resource, soft: u64, hard: u64) -> std::io::Result<()> {
    let mut cur = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        if libc::getrlimit(resource, &mut cur) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let max = cur.rlim_max as u64;
        let new = libc::rlimit {
            rlim_cur: soft.min(max) as libc::rlim_t,
            rlim_max: hard.min(max) as libc::rlim_t,
        };
        if libc::setrlimit(resource, &new) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// How a memory limit was enforced, for verify.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryVia {
    Cgroup,
    RlimitAs,
}

impl MemoryVia {
    pub fn as_str(self) -> &'static str {
        match self {
            MemoryVia::Cgroup => "cgroup",
            MemoryVia::RlimitAs => "rlimit_as",
        }
    }
}

/// What runtimes print when an allocation fails (Python, Rust, C/C++, glibc tools, Node,
/// the JVM, Go, Ruby, .NET, awk).
const OOM_MESSAGES: [&str; 12] = [
    "MemoryError",
    "memory allocation of",
    "Cannot allocate memory",
    "out of memory",
    "Out of memory",
    "std::bad_alloc",
    "heap out of memory",
    "OutOfMemoryError",
    "failed to allocate",
    "NoMemoryError",
    "OutOfMemoryException",
    "failed to reserve",
];

/// Which limit stopped a runner, if one did. `log_tail` is the end of its stderr and stdout.
pub fn exceeded(
    ended: &Ended,
    limits: &Limits,
    memory_via: Option<MemoryVia>,
    oom_killed: bool,
    log_tail: &str,
) -> Option<LimitKind> {
    let failed = !matches!(
        ended,
        Ended::Exited(0) | Ended::TimedOut | Ended::Interrupted
    );
    if oom_killed && failed {
        return Some(LimitKind::Memory);
    }
    // `sh -c` reports a child killed by signal N as exit 128+N.
    let signal = match *ended {
        Ended::Signaled(s) => Some(s),
        Ended::Exited(c) if c > 128 => Some(c - 128),
        _ => None,
    };
    if limits.cpu_time_sec.is_some() {
        match signal {
            Some(libc::SIGXCPU) => return Some(LimitKind::CpuTime),
            // The hard limit, one second after a SIGXCPU the process ignored. A cgroup OOM
            // kill was ruled out above, and RLIMIT_AS makes allocations fail, not kills.
            Some(libc::SIGKILL) if memory_via != Some(MemoryVia::Cgroup) => {
                return Some(LimitKind::CpuTime);
            }
            _ => {}
        }
    }
    if memory_via == Some(MemoryVia::RlimitAs)
        && failed
        && OOM_MESSAGES.iter().any(|m| log_tail.contains(m))
    {
        return Some(LimitKind::Memory);
    }
    None
}

/// The reason shown for a runner stopped by `kind` (hint in verify.json, gate reason).
pub fn reason(kind: LimitKind, limits: &Limits, memory_via: Option<MemoryVia>) -> String {
    match kind {
        LimitKind::Memory => format!(
            "stopped by its memory limit of {} MiB ({}): raise `limits.memory_mb` of this runner in .codeloop/plugins.json or `verify.limits.memory_mb` in .codeloop/config.json, or find what uses so much memory",
            limits.memory_mb.unwrap_or(0),
            match memory_via {
                Some(MemoryVia::Cgroup) => "cgroup memory.max: the kernel killed it",
                _ => "RLIMIT_AS: an allocation failed",
            }
        ),
        LimitKind::CpuTime => format!(
            "stopped by its CPU time limit of {}s (RLIMIT_CPU, SIGXCPU): raise `limits.cpu_time_sec` of this runner in .codeloop/plugins.json or `verify.limits.cpu_time_sec` in .codeloop/config.json, or look for a busy loop",
            limits.cpu_time_sec.unwrap_or(0)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cgroup_is_read_from_the_unified_line() {
        let root = Path::new("/sys/fs/cgroup");
        assert_eq!(
            own_cgroup_dir("12:memory:/x\n0::/user.slice/job.scope\n", root),
            Some(PathBuf::from("/sys/fs/cgroup/user.slice/job.scope"))
        );
        assert_eq!(own_cgroup_dir("0::/\n", root), Some(root.to_path_buf()));
        assert_eq!(own_cgroup_dir("4:memory:/docker/abc\n", root), None);
        assert_eq!(own_cgroup_dir("0::/../../etc\n", root), None);
        assert_eq!(
            oom_kills("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n"),
            1
        );
        assert_eq!(oom_kills("low 0\noom_kill 0\n"), 0);
    }

    #[test]
    fn the_limit_that_stopped_a_runner() {
        let cpu = Limits {
            cpu_time_sec: Some(1),
            ..Default::default()
        };
        let mem = Limits {
            memory_mb: Some(64),
            ..Default::default()
        };
        let as_ = Some(MemoryVia::RlimitAs);
        let xcpu = Ended::Signaled(libc::SIGXCPU);
        assert_eq!(
            exceeded(&xcpu, &cpu, None, false, ""),
            Some(LimitKind::CpuTime)
        );
        assert_eq!(
            exceeded(&Ended::Exited(128 + libc::SIGXCPU), &cpu, None, false, ""),
            Some(LimitKind::CpuTime)
        );
        // Without a CPU limit SIGXCPU is someone else's doing.
        assert_eq!(exceeded(&xcpu, &mem, as_, false, ""), None);
        assert_eq!(
            exceeded(&Ended::Exited(1), &mem, as_, false, "MemoryError\n"),
            Some(LimitKind::Memory)
        );
        // A passing runner that printed the word, or one without a memory limit, is not.
        assert_eq!(
            exceeded(&Ended::Exited(0), &mem, as_, false, "MemoryError"),
            None
        );
        assert_eq!(
            exceeded(&Ended::Exited(1), &cpu, None, false, "MemoryError"),
            None
        );
        assert_eq!(
            exceeded(
                &Ended::Signaled(libc::SIGKILL),
                &mem,
                Some(MemoryVia::Cgroup),
                true,
                ""
            ),
            Some(LimitKind::Memory)
        );
        assert_eq!(exceeded(&Ended::Exited(1), &mem, as_, false, "boom"), None);
        let r = reason(LimitKind::CpuTime, &cpu, None);
        assert!(
            r.contains("CPU time limit of 1s") && r.contains("cpu_time_sec"),
            "{r}"
        );
        let r = reason(LimitKind::Memory, &mem, as_);
        assert!(
            r.contains("memory limit of 64 MiB") && r.contains("RLIMIT_AS"),
            "{r}"
        );
    }
}
