//! Helpers shared by the integration tests: the result-file corpus (`tests/corpus/`), GitHub's
//! official API description (`tests/fixtures/github-openapi/`), the built binary, and running
//! it as a child whose peak RSS is its own.
//!
//! The corpus is checked in trimmed, with its big files gzipped (`X.gz`, see
//! tests/corpus/README.md). [`corpus_dir`] gives the tests a plain directory where every file
//! has its real name: the first test process that needs it decompresses the corpus once into
//! `target/tmp/corpus-<fingerprint>/corpus/` (atomically, so parallel nextest processes share
//! one copy), and later runs reuse it until a file under tests/corpus changes.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The corpus as checked in: small files plain, big ones as `X.gz`.
pub fn corpus_src() -> PathBuf {
    root().join("tests/corpus")
}

/// GitHub's official API description files (`github-openapi-subset.json`, …).
pub fn github_openapi(name: &str) -> PathBuf {
    root().join("tests/fixtures/github-openapi").join(name)
}

/// The corpus as a plain directory: `MANIFEST.tsv`, `generated/…`, `peers/…`, every file
/// under the path MANIFEST.tsv names (the gzipped ones decompressed). Its sibling
/// `../github-openapi/` holds the GitHub API description, as in the layout the corpus was
/// collected in. Read-only by convention: tests that write put their files elsewhere.
pub fn corpus_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        materialize().unwrap_or_else(|e| panic!("preparing the test corpus failed: {e}"))
    })
    .clone()
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            if e.file_type()?.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Names, sizes and modification times of the sources: a new fingerprint (and a fresh copy)
/// whenever a corpus file is added, removed or edited.
fn fingerprint(sources: &[(PathBuf, Vec<PathBuf>)]) -> std::io::Result<String> {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (dir, files) in sources {
        for f in files {
            let m = std::fs::metadata(dir.join(f))?;
            f.hash(&mut h);
            m.len().hash(&mut h);
            m.modified()?.hash(&mut h);
        }
    }
    Ok(format!("{:016x}", h.finish()))
}

fn materialize() -> Result<PathBuf, String> {
    let src = corpus_src();
    if !src.join("MANIFEST.tsv").is_file() {
        return Err(format!(
            "{} is missing: the corpus is part of the repository (restore it with \
             `git checkout -- tests/corpus`)",
            src.join("MANIFEST.tsv").display()
        ));
    }
    let openapi = github_openapi("");
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    let sources = [
        (src.clone(), files_under(&src).map_err(|e| io(&src, e))?),
        (
            openapi.clone(),
            files_under(&openapi).map_err(|e| io(&openapi, e))?,
        ),
    ];
    let fp = fingerprint(&sources).map_err(|e| io(&src, e))?;
    let tmp_root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let done = tmp_root.join(format!("corpus-{fp}"));
    if done.join("corpus/MANIFEST.tsv").is_file() {
        return Ok(done.join("corpus"));
    }
    // Built beside the final name and renamed into place: a parallel test process either sees
    // the whole copy or none, and the loser of a race drops its own.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let staging = tmp_root.join(format!(".corpus-{fp}.tmp-{}-{nanos}", std::process::id()));
    let build = || -> Result<(), String> {
        for ((dir, files), into) in sources.iter().zip(["corpus", "github-openapi"]) {
            for rel in files {
                let from = dir.join(rel);
                let (to, gz) = match rel.to_str().and_then(|s| s.strip_suffix(".gz")) {
                    Some(plain) => (staging.join(into).join(plain), true),
                    None => (staging.join(into).join(rel), false),
                };
                std::fs::create_dir_all(to.parent().unwrap()).map_err(|e| io(&to, e))?;
                if gz {
                    let mut r = flate2::read::GzDecoder::new(
                        std::fs::File::open(&from).map_err(|e| io(&from, e))?,
                    );
                    let mut w = std::fs::File::create(&to).map_err(|e| io(&to, e))?;
                    std::io::copy(&mut r, &mut w).map_err(|e| io(&from, e))?;
                } else {
                    std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
                }
            }
        }
        Ok(())
    };
    let built = build().and_then(|()| match std::fs::rename(&staging, &done) {
        Ok(()) => Ok(()),
        Err(_) if done.join("corpus/MANIFEST.tsv").is_file() => Ok(()),
        Err(e) => Err(io(&done, e)),
    });
    let _ = std::fs::remove_dir_all(&staging);
    built?;
    remove_stale_copies(&tmp_root, &done);
    Ok(done.join("corpus"))
}

/// Copies for older fingerprints are dropped once they are an hour old (a test process
/// started before the corpus changed may still be reading one).
fn remove_stale_copies(tmp_root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(tmp_root) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        let name = e.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with("corpus-") || name.starts_with(".corpus-");
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > std::time::Duration::from_secs(3600));
        if ours && old && p != keep {
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// The `codeloop` binary cargo built for these tests.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_codeloop"))
}

/// What one measured child did.
pub struct Measured {
    /// The raw `wait` status (`libc::WIFEXITED` …).
    pub status: libc::c_int,
    /// Peak resident set of the child alone, in KiB.
    pub max_rss_kb: u64,
    pub elapsed: std::time::Duration,
    /// The deadline passed and the child was killed.
    pub timed_out: bool,
}

/// A command for [`run_measured`]: program, arguments, directory, environment changes, and
/// the files its stdout and stderr go to (no pipe can fill up and block it).
pub struct MeasuredCommand {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// `(name, Some(value))` sets, `(name, None)` removes.
    pub env: Vec<(String, Option<String>)>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    pub deadline: std::time::Duration,
}

/// The environment variable that turns [`measure_probe`] on; it carries the command as JSON.
const PROBE_ENV: &str = "CODELOOP_TEST_MEASURE_PROBE";

/// Runs `cmd` and measures it alone: its peak RSS (`ru_maxrss` from `wait4`) and wall time,
/// killing it at the deadline.
///
/// Why a probe process in between: on Linux a child's `ru_maxrss` starts from the high-water
/// mark of the address space it was spawned from (fork copies it; `posix_spawn`'s vfork
/// shares it until exec, which records it), so a child spawned straight from this test
/// process reports the RSS of every test running in it — with `cargo test`, all of them. The
/// probe is this test binary re-run with only the ignored test `common::measure_probe`: a
/// fresh, small process (a few MiB) that spawns the command, waits for it with `wait4` and
/// writes what it measured to a file.
pub fn run_measured(cmd: &MeasuredCommand) -> Measured {
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().unwrap();
    let result = dir.path().join("result.json");
    let probe_log = dir.path().join("probe.log");
    let spec = serde_json::json!({
        "program": cmd.program,
        "args": cmd.args,
        "cwd": cmd.cwd,
        "env": cmd.env,
        "stdout": cmd.stdout,
        "stderr": cmd.stderr,
        "deadline_ms": cmd.deadline.as_millis() as u64,
        "result": result,
    });
    let log = std::fs::File::create(&probe_log).unwrap();
    let mut probe = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "common::measure_probe",
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(PROBE_ENV, spec.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn the measuring probe (this test binary)");
    // The probe enforces the deadline on the command; this one only guards against the probe
    // itself getting stuck.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = probe.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > cmd.deadline + Duration::from_secs(60) {
            let _ = probe.kill();
            let _ = probe.wait();
            panic!(
                "the measuring probe hung; its output:\n{}",
                std::fs::read_to_string(&probe_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let text = std::fs::read_to_string(&result).unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|_| {
        panic!(
            "the measuring probe wrote no result ({status}); its output:\n{}",
            std::fs::read_to_string(&probe_log).unwrap_or_default()
        )
    });
    Measured {
        status: doc["status"].as_i64().unwrap() as libc::c_int,
        max_rss_kb: doc["max_rss_kb"].as_u64().unwrap(),
        elapsed: Duration::from_millis(doc["elapsed_ms"].as_u64().unwrap()),
        timed_out: doc["timed_out"].as_bool().unwrap(),
    }
}

/// The probe of [`run_measured`]; not a test. It does nothing unless that function started
/// this binary for it, with the command in the environment.
#[test]
#[ignore = "the helper process of run_measured(), started by it; not a test of its own"]
fn measure_probe() {
    use std::time::{Duration, Instant};
    let Ok(spec) = std::env::var(PROBE_ENV) else {
        return;
    };
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let s = |k: &str| spec[k].as_str().unwrap().to_string();
    let mut c = std::process::Command::new(s("program"));
    c.current_dir(s("cwd")).env_remove(PROBE_ENV);
    for a in spec["args"].as_array().unwrap() {
        c.arg(a.as_str().unwrap());
    }
    for kv in spec["env"].as_array().unwrap() {
        let k = kv[0].as_str().unwrap();
        match kv[1].as_str() {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(s("stdout")).unwrap())
        .stderr(std::fs::File::create(s("stderr")).unwrap());
    let deadline = Duration::from_millis(spec["deadline_ms"].as_u64().unwrap());
    let start = Instant::now();
    // Reaped by `wait4` below, which also gives its resource usage.
    #[allow(clippy::zombie_processes)]
    let child = c.spawn().expect("spawn the measured command");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: wait4 on our own child with valid pointers.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert!(r == 0, "wait4 failed: {}", std::io::Error::last_os_error());
        if start.elapsed() > deadline {
            timed_out = true;
            // SAFETY: killing and reaping our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::wait4(pid, &mut status, 0, &mut usage);
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let doc = serde_json::json!({
        "status": status,
        // Linux reports ru_maxrss in KiB.
        "max_rss_kb": usage.ru_maxrss as u64,
        "elapsed_ms": start.elapsed().as_millis() as u64,
        "timed_out": timed_out,
    });
    std::fs::write(s("result"), doc.to_string()).unwrap();
}

/// A comment's markdown without its hidden `<!-- … -->` markers. The state marker is base64 of
/// the run (its id included), so it holds any short string now and then: a test that requires
/// the comment not to show "inf" or "e+" asks this text, or it fails one run in a few hundred.
pub fn visible_text(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(at) = rest.find("<!--") {
        // An unclosed marker hides nothing: the test sees what a reader would.
        let Some(end) = rest[at..].find("-->") else {
            break;
        };
        out.push_str(&rest[..at]);
        rest = &rest[at + end + 3..];
    }
    out.push_str(rest);
    out
}
