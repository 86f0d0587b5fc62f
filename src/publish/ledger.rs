//! The publishing budget across commands: `publish-budget.json` in the run directory.
//!
//! The documented binary recipe is several processes — `codeloop ci --baseline comment`
//! reads the previous comment, `codeloop publish` posts — and each used to get the whole
//! budget, so an API that is down cost the job the budget twice. Each publishing session on
//! a run records here, when it ends, how much of the budget the run's publishing has spent
//! and whether the API was found down; a later session of the same CI job on the same run
//! starts with only what is left, and sends nothing at all when the API was found down.
//!
//! The record counts only for the CI job that wrote it (`GITHUB_RUN_ID`/`GITHUB_RUN_ATTEMPT`/
//! `GITHUB_JOB`, GitLab's `CI_JOB_ID`, …): a run downloaded and posted by another job (the
//! fork recipe's `workflow_run` job), or published again by a re-run, gets a whole budget.
//! Outside CI (no job id) it counts for [`LOCAL_WINDOW`] after it was written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::context::Env;

/// The file, in the run directory.
pub const FILE: &str = "publish-budget.json";
/// Without a CI job id, how long a record counts (a later local `publish` gets a new budget).
pub const LOCAL_WINDOW: Duration = Duration::from_secs(600);

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct Record {
    /// The CI job whose publishing this is (`None` outside CI).
    #[serde(default)]
    job: Option<String>,
    /// The budget of the whole run's publishing, in seconds.
    budget_secs: f64,
    /// Spent by the sessions so far, in seconds.
    spent_secs: f64,
    /// The outage that ended publishing (a request out of retries, or the budget spent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    down: Option<String>,
    /// Unix seconds of the last write.
    updated: u64,
}

/// What earlier sessions of this job left for this one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Earlier {
    pub spent: Duration,
    /// The outage an earlier session found: this one sends nothing.
    pub down: Option<String>,
}

/// Where this session's spending is recorded, and for which job.
#[derive(Clone, Debug)]
pub struct Ledger {
    path: PathBuf,
    job: Option<String>,
}

/// The CI job this process runs in, as far as the environment says.
pub fn job_id(env: &Env) -> Option<String> {
    if let Some(run) = env.get("GITHUB_RUN_ID") {
        return Some(format!(
            "github:{run}/{}/{}",
            env.get("GITHUB_RUN_ATTEMPT").unwrap_or("1"),
            env.get("GITHUB_JOB").unwrap_or("")
        ));
    }
    [
        ("gitlab", "CI_JOB_ID"),
        ("buildkite", "BUILDKITE_JOB_ID"),
        ("circleci", "CIRCLE_WORKFLOW_JOB_ID"),
        ("jenkins", "BUILD_TAG"),
    ]
    .into_iter()
    .find_map(|(ci, var)| env.get(var).map(|v| format!("{ci}:{v}")))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Ledger {
    pub fn new(run_dir: &Path, env: &Env) -> Ledger {
        Ledger {
            path: run_dir.join(FILE),
            job: job_id(env),
        }
    }

    /// What earlier sessions of this job spent on this run (nothing when the record is
    /// absent, unreadable, or another job's).
    pub fn earlier(&self) -> Earlier {
        let Ok(r) = crate::artifact::read_json::<Record>(&self.path) else {
            return Earlier::default();
        };
        let fresh = match (&r.job, &self.job) {
            (Some(a), Some(b)) => a == b,
            (None, None) => unix_now().saturating_sub(r.updated) <= LOCAL_WINDOW.as_secs(),
            _ => false,
        };
        if !fresh || !r.spent_secs.is_finite() || r.spent_secs < 0.0 {
            return Earlier::default();
        }
        Earlier {
            spent: Duration::from_secs_f64(r.spent_secs.min(86_400.0)),
            down: r.down,
        }
    }

    /// Records the run's publishing so far. A record that cannot be written is a warning:
    /// the next command then has its whole budget, as before.
    pub fn save(&self, budget: Duration, spent: Duration, down: Option<&str>) {
        let r = Record {
            job: self.job.clone(),
            budget_secs: budget.as_secs_f64(),
            spent_secs: (spent.as_secs_f64() * 1000.0).round() / 1000.0,
            down: down.map(str::to_string),
            updated: unix_now(),
        };
        if let Err(e) = crate::artifact::write_json(&self.path, &r) {
            crate::ui::warn(&format!(
                "cannot record the publishing budget spent ({e}); a later `codeloop publish` of this run gets a whole budget"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_counts_for_its_job_only() {
        let dir = tempfile::tempdir().unwrap();
        let job = |id: &str| {
            Env::from_pairs([
                ("GITHUB_RUN_ID", id),
                ("GITHUB_RUN_ATTEMPT", "1"),
                ("GITHUB_JOB", "test"),
            ])
        };
        let l = Ledger::new(dir.path(), &job("7"));
        assert_eq!(l.earlier(), Earlier::default());
        l.save(
            Duration::from_secs(20),
            Duration::from_millis(15_250),
            Some("GET /user failed"),
        );
        let e = Ledger::new(dir.path(), &job("7")).earlier();
        assert_eq!(e.spent, Duration::from_millis(15_250));
        assert_eq!(e.down.as_deref(), Some("GET /user failed"));
        // Another job (a re-run, the fork recipe's posting job): a whole budget.
        assert_eq!(
            Ledger::new(dir.path(), &job("8")).earlier(),
            Earlier::default()
        );
        assert_eq!(
            Ledger::new(dir.path(), &Env::default()).earlier(),
            Earlier::default()
        );
        assert_eq!(
            job_id(&Env::from_pairs([("CI_JOB_ID", "42")])).as_deref(),
            Some("gitlab:42")
        );
    }
}
