//! CI matrix shards (`codeloop verify --shard K/N`, GitLab `parallel:`): parsing the split and
//! passing it to the runners that can split themselves. Pure: the caller probes the
//! environment (e.g. whether a pytest shard plugin is importable) and passes the answer in.
//!
//! Rules, per runner (DESIGN §5):
//! - build runners run in every shard (the tests of every shard need the build);
//! - built-in `nextest` gets `--partition count:K/N`, `jest`/`vitest` get `--shard=K/N`,
//!   `pytest` gets the split of pytest-split or pytest-shard when one is installed, `go-test`
//!   tests only the packages whose name hashes (cksum) into this shard;
//! - a runner that only collects (`--report`, the `reports` input, a plugin without a
//!   `command`) never shards: each node reads the reports it has (its own tests wrote them);
//! - every other runner (lint, plugins) runs whole in shard 1 only and is `skipped` in the
//!   others, so a test is never counted by two shards.

use crate::model::{RunnerKind, RunnerSource, RunnerStatus, Shard};

use super::RunnerDef;
use super::run::Planned;

/// The most shards we accept (a typo like 1/1000000 must not plan a million jobs).
pub const MAX_SHARDS: u32 = 1024;

/// Parses `K/N` (1-based, `1 <= K <= N <= 1024`). The error says what is wrong and the fix.
pub fn parse(s: &str) -> Result<Shard, String> {
    let bad = |why: &str| {
        format!("invalid shard `{s}`: {why}; write K/N with 1 <= K <= N (e.g. --shard 2/4)")
    };
    let (k, n) = s.trim().split_once('/').ok_or_else(|| bad("no `/`"))?;
    let index: u32 = k
        .trim()
        .parse()
        .map_err(|_| bad("K is not a whole number"))?;
    let total: u32 = n
        .trim()
        .parse()
        .map_err(|_| bad("N is not a whole number"))?;
    if total == 0 || total > MAX_SHARDS {
        return Err(bad(&format!("N must be between 1 and {MAX_SHARDS}")));
    }
    if index == 0 || index > total {
        return Err(bad("K must be between 1 and N"));
    }
    Ok(Shard { index, total })
}

/// The shard GitLab's `parallel: N` names (`CI_NODE_INDEX`/`CI_NODE_TOTAL`, 1-based), when
/// the job is parallel (total > 1). Returns an error for values that do not make a shard.
pub fn from_gitlab(index: Option<&str>, total: Option<&str>) -> Option<Result<Shard, String>> {
    let total = total?.trim();
    if total == "1" || total.is_empty() {
        return None;
    }
    let index = index.unwrap_or("").trim();
    Some(
        parse(&format!("{index}/{total}")).map_err(|e| format!("CI_NODE_INDEX/CI_NODE_TOTAL: {e}")),
    )
}

/// Which pytest shard plugin is installed (probed by the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PytestPlugin {
    /// pytest-split: `--splits N --group K` (1-based).
    Split,
    /// pytest-shard: `--shard-id K-1 --num-shards N` (0-based).
    Shard,
}

/// Applies the shard to one planned runner: rewrites its command or decides it `skipped`.
pub fn apply(p: &mut Planned, shard: Shard, pytest: Option<PytestPlugin>) {
    if p.decided.is_some() || shard.total <= 1 {
        return;
    }
    let Shard { index: k, total: n } = shard;
    // Collecting reads what this node's own tests wrote: nothing to split, nothing to skip.
    if p.def.kind == RunnerKind::Build
        || p.def.source == RunnerSource::Collect
        || p.def.command.is_none()
    {
        return;
    }
    let split = if p.def.source == RunnerSource::Builtin {
        split_command(&p.def, k, n, pytest)
    } else {
        None
    };
    match split {
        Some(cmd) => p.def.command = Some(cmd),
        None if k == 1 => {}
        None => {
            p.decided = Some((
                RunnerStatus::Skipped,
                format!(
                    "shard {k}/{n}: `{}` cannot split its work, so it runs whole in shard 1 only",
                    p.def.id
                ),
            ))
        }
    }
}

/// The command of a built-in runner that can split itself, or `None`.
fn split_command(def: &RunnerDef, k: u32, n: u32, pytest: Option<PytestPlugin>) -> Option<String> {
    let cmd = def.command.as_deref()?;
    match def.id.as_str() {
        "nextest" => {
            let needle = "cargo nextest run";
            cmd.contains(needle)
                .then(|| cmd.replacen(needle, &format!("{needle} --partition count:{k}/{n}"), 1))
        }
        "jest" | "vitest" => Some(format!("{cmd} --shard={k}/{n}")),
        "pytest" => match pytest? {
            PytestPlugin::Split => Some(format!("{cmd} --splits {n} --group {k}")),
            PytestPlugin::Shard => Some(format!("{cmd} --shard-id {} --num-shards {n}", k - 1)),
        },
        "go-test" => {
            let needle = "./...";
            cmd.contains(needle).then(|| {
                // Packages whose name hashes into this shard; none → a passing, empty shard.
                let pick = format!(
                    "pkgs=$(go list ./... | while read -r p; do h=$(printf %s \"$p\" | cksum | cut -d' ' -f1); \
[ $((h % {n})) -eq {} ] && echo \"$p\"; done); \
if [ -z \"$pkgs\" ]; then echo 'codeloop: no Go package hashes into shard {k}/{n}'; exit 0; fi; "
                    ,
                    k - 1
                );
                format!("{pick}{}", cmd.replacen(needle, "$pkgs", 1))
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(id: &str, kind: RunnerKind, src: RunnerSource, cmd: &str) -> Planned {
        let mut def = RunnerDef::new(id, kind, src);
        def.command = Some(cmd.into());
        Planned { def, decided: None }
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(parse("2/4"), Ok(Shard { index: 2, total: 4 }));
        assert_eq!(parse(" 1 / 1 "), Ok(Shard { index: 1, total: 1 }));
        for bad in ["0/4", "5/4", "2", "a/4", "1/0", "-1/4", "1/5000", ""] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(&format!("`{bad}`")) && e.contains("K/N"), "{e}");
        }
    }

    #[test]
    fn gitlab_parallel_maps_to_a_shard() {
        assert_eq!(
            from_gitlab(Some("3"), Some("4")),
            Some(Ok(Shard { index: 3, total: 4 }))
        );
        assert_eq!(from_gitlab(Some("1"), Some("1")), None);
        assert_eq!(from_gitlab(None, None), None);
        let e = from_gitlab(Some("9"), Some("4")).unwrap().unwrap_err();
        assert!(e.starts_with("CI_NODE_INDEX/CI_NODE_TOTAL"), "{e}");
    }

    #[test]
    fn splittable_builtins_get_the_split() {
        let s = Shard { index: 2, total: 4 };
        let mut nx = planned(
            "nextest",
            RunnerKind::Test,
            RunnerSource::Builtin,
            "x && cargo nextest run --profile codeloop; exit $s",
        );
        apply(&mut nx, s, None);
        assert_eq!(
            nx.def.command.as_deref(),
            Some("x && cargo nextest run --partition count:2/4 --profile codeloop; exit $s")
        );
        let mut j = planned(
            "jest",
            RunnerKind::Test,
            RunnerSource::Builtin,
            "npx jest --ci",
        );
        apply(&mut j, s, None);
        assert_eq!(j.def.command.as_deref(), Some("npx jest --ci --shard=2/4"));
        assert!(j.decided.is_none());
        let mut py = planned("pytest", RunnerKind::Test, RunnerSource::Builtin, "pytest");
        apply(&mut py, s, Some(PytestPlugin::Shard));
        assert_eq!(
            py.def.command.as_deref(),
            Some("pytest --shard-id 1 --num-shards 4")
        );
        let mut go = planned(
            "go-test",
            RunnerKind::Test,
            RunnerSource::Builtin,
            "go test -json ./...",
        );
        apply(&mut go, s, None);
        let c = go.def.command.unwrap();
        assert!(
            c.ends_with("go test -json $pkgs") && c.contains("% 4)) -eq 1"),
            "{c}"
        );
    }

    #[test]
    fn others_run_in_shard_one_only_and_builds_everywhere() {
        let one = Shard { index: 1, total: 3 };
        let three = Shard { index: 3, total: 3 };
        for (id, kind, src) in [
            ("pytest", RunnerKind::Test, RunnerSource::Plugin),
            ("pytest", RunnerKind::Test, RunnerSource::Builtin),
            ("clippy", RunnerKind::Lint, RunnerSource::Builtin),
        ] {
            let mut a = planned(id, kind, src, "cmd");
            apply(&mut a, one, None);
            assert!(a.decided.is_none() && a.def.command.as_deref() == Some("cmd"));
            let mut b = planned(id, kind, src, "cmd");
            apply(&mut b, three, None);
            let (st, why) = b.decided.unwrap();
            assert_eq!(st, RunnerStatus::Skipped);
            assert!(why.contains("shard 3/3") && why.contains(id), "{why}");
        }
        let mut b = planned("build", RunnerKind::Build, RunnerSource::Plugin, "make");
        apply(&mut b, three, None);
        assert!(b.decided.is_none());
    }

    #[test]
    fn collecting_never_shards() {
        let two = Shard { index: 2, total: 4 };
        let mut c = Planned {
            def: RunnerDef::new("reports", RunnerKind::Test, RunnerSource::Collect),
            decided: None,
        };
        apply(&mut c, two, None);
        assert!(c.decided.is_none() && c.def.command.is_none());
        // A plugin runner without a command only collects too.
        let mut p = Planned {
            def: RunnerDef::new("junit", RunnerKind::Test, RunnerSource::Plugin),
            decided: None,
        };
        apply(&mut p, two, None);
        assert!(p.decided.is_none());
    }
}
