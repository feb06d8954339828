//! The restart budget across runs: every restart kubectl-secrets makes is recorded on the
//! workload, and a change that would restart a workload again sooner than
//! `--min-restart-interval` after the last one says so in its plan (a question on a terminal,
//! a refusal under `--yes`). `--max-restarts` caps one run. Two rotations a minute apart, a
//! flapping source or a loop in a script then cannot restart the same pods over and over.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::model::{Workload, WorkloadId};

/// The annotation's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastRestart {
    pub at: Timestamp,
    /// The rotation id of the change that restarted it (none for `verify --fix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

impl LastRestart {
    pub fn annotation(at: Timestamp, change: Option<&str>) -> String {
        let record = LastRestart {
            at: Timestamp::from_second(at.as_second()).unwrap_or(at),
            change: change.map(str::to_string),
        };
        serde_json::to_string(&record).expect("a record serialises")
    }
}

/// A workload the plan restarts although kubectl-secrets restarted it a short while ago.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooSoon {
    pub id: WorkloadId,
    pub last: LastRestart,
    /// How long ago, and how long until the interval has passed.
    pub ago: Duration,
    pub wait: Duration,
}

impl TooSoon {
    pub fn describe(&self) -> String {
        let change = self
            .last
            .change
            .as_deref()
            .map(|c| format!(" by change {c}"))
            .unwrap_or_default();
        format!(
            "{} was restarted by kubectl-secrets{change} {} ago",
            self.id,
            humantime::format_duration(self.ago)
        )
    }
}

/// Clocks of the machines that ran earlier changes may run this far ahead of ours.
const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(60);

/// The workloads of `restarts` last restarted by kubectl-secrets less than `interval` before
/// `now` (a zero interval: none). A record slightly ahead (clock skew) counts as now; one further
/// ahead was not written by a restart (whoever may edit the workload could write it, to hold
/// every later rotation back) and counts for nothing.
pub fn too_soon(workloads: &[Workload], restarts: &[WorkloadId], interval: Duration, now: Timestamp) -> Vec<TooSoon> {
    if interval.is_zero() {
        return Vec::new();
    }
    let last: BTreeMap<&WorkloadId, &LastRestart> = workloads
        .iter()
        .filter_map(|w| w.last_restart.as_ref().map(|l| (&w.id, l)))
        .collect();
    restarts
        .iter()
        .filter_map(|id| {
            let record = last.get(id)?;
            if record.at > now + CLOCK_SKEW {
                return None;
            }
            let ago = Duration::from_secs(now.duration_since(record.at).as_secs().max(0) as u64);
            (ago < interval).then(|| TooSoon {
                id: id.clone(),
                last: (*record).clone(),
                ago,
                wait: interval - ago,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::WorkloadKind;

    fn workload(name: &str, last: Option<&str>) -> Workload {
        Workload {
            id: id(name),
            spec: Default::default(),
            schedule: None,
            secret_revisions: Default::default(),
            last_restart: last.map(|text| serde_json::from_str(text).unwrap()),
        }
    }

    fn id(name: &str) -> WorkloadId {
        WorkloadId {
            namespace: "shop".into(),
            kind: WorkloadKind::Deployment,
            name: name.into(),
        }
    }

    #[test]
    fn only_workloads_restarted_within_the_interval_are_too_soon() {
        let now: Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let workloads = [
            workload("api", Some(r#"{"at":"2026-12-05T11:59:00Z","change":"abc"}"#)),
            workload("web", Some(r#"{"at":"2026-12-05T11:50:00Z"}"#)),
            workload("worker", None),
            workload("skewed", Some(r#"{"at":"2026-12-05T12:00:30Z"}"#)),
            workload("forged", Some(r#"{"at":"2099-01-01T00:00:00Z"}"#)),
        ];
        let restarts = [id("api"), id("web"), id("worker"), id("skewed"), id("forged")];
        let found = too_soon(&workloads, &restarts, Duration::from_secs(300), now);
        let names: Vec<&str> = found.iter().map(|t| t.id.name.as_str()).collect();
        // A record far ahead would hold every rotation back for ever: not one of ours.
        assert_eq!(names, ["api", "skewed"]);
        assert_eq!(found[0].wait, Duration::from_secs(240));
        assert_eq!(
            found[0].describe(),
            "deployment/api was restarted by kubectl-secrets by change abc 1m ago"
        );
        assert!(too_soon(&workloads, &restarts, Duration::ZERO, now).is_empty());
        // Only what this plan restarts counts.
        assert!(too_soon(&workloads, &[id("web")], Duration::from_secs(300), now).is_empty());
    }

    #[test]
    fn the_annotation_round_trips_in_whole_seconds() {
        let at: Timestamp = "2026-12-05T12:00:00.123Z".parse().unwrap();
        let text = LastRestart::annotation(at, Some("abc"));
        assert_eq!(text, r#"{"at":"2026-12-05T12:00:00Z","change":"abc"}"#);
        let back: LastRestart = serde_json::from_str(&text).unwrap();
        assert_eq!(back.change.as_deref(), Some("abc"));
    }
}
