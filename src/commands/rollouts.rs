//! Restarting workloads and waiting for their rollouts, shared by rotate, verify --fix and
//! rollback: concurrent, bounded by --max-parallel, watched (never polled), with a deadline.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use futures::StreamExt as _;
use jiff::Timestamp;
use tokio::time::Instant;

use crate::core::model::WorkloadId;
use crate::core::rollout::{self, RestartTarget, RolloutState, RolloutStatus};
use crate::error::{Error, Result};
use crate::kube::workloads::Observation;
use crate::kube::{self, Connection};
use crate::render;
use crate::render::rotate::RolloutProgress;

/// What to say for each workload whose rollout failed.
pub fn failures_of(states: &BTreeMap<WorkloadId, RolloutState>) -> Vec<String> {
    states
        .iter()
        .filter_map(|(id, state)| match state {
            RolloutState::Failed { reason } => Some(format!("{id}: {reason}")),
            _ => None,
        })
        .collect()
}

/// Restart one workload. The restart is idempotent (the same restartedAt), so while the API
/// server cannot be reached it is retried, with backoff, until the deadline.
async fn restart_retrying(
    conn: &Connection,
    id: &WorkloadId,
    revisions: &BTreeMap<String, u64>,
    at: Timestamp,
    deadline: Instant,
) -> Result<i64> {
    let mut delay = Duration::from_millis(250);
    loop {
        match kube::workloads::restart(conn, id, revisions, at).await {
            Err(Error::Unreachable { reason, .. }) if Instant::now() + delay < deadline => {
                render::warning(&format!("restarting {id}: {reason} (retrying in {delay:?})"));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Restart the workloads (at most `max_parallel` rollouts at a time) and watch them until each
/// is complete, failed, or not awaited, or the deadline passes. Stops early on a failure.
pub async fn restart_and_wait(
    conn: &Connection,
    namespace: &str,
    targets: &[RestartTarget],
    max_parallel: Option<u16>,
    timeout: Duration,
    title: &str,
) -> Result<BTreeMap<WorkloadId, RolloutState>> {
    let ids: Vec<WorkloadId> = targets.iter().map(|(id, _)| id.clone()).collect();
    let mut progress = RolloutProgress::new(title, &ids);
    let deadline = Instant::now() + timeout;
    let mut observations = kube::workloads::watch(conn, namespace);
    let limit = max_parallel.map(usize::from).unwrap_or(targets.len()).max(1);
    let mut queue: VecDeque<&RestartTarget> = targets.iter().collect();
    // Per started workload: the generation our restart produced and when it was made.
    let mut started: BTreeMap<WorkloadId, (i64, Timestamp)> = BTreeMap::new();
    let mut statuses: BTreeMap<WorkloadId, RolloutStatus> = BTreeMap::new();
    let mut failing: BTreeMap<WorkloadId, String> = BTreeMap::new();
    let mut states: BTreeMap<WorkloadId, RolloutState> = BTreeMap::new();

    loop {
        let active = started
            .keys()
            .filter(|id| !states.get(*id).is_some_and(RolloutState::is_terminal))
            .count();
        let any_failed = states.values().any(|s| matches!(s, RolloutState::Failed { .. }));
        if !any_failed {
            for _ in active..limit {
                let Some((id, revisions)) = queue.pop_front() else {
                    break;
                };
                let at = Timestamp::now();
                let generation = restart_retrying(conn, id, revisions, at, deadline).await?;
                started.insert(id.clone(), (generation, at));
            }
        }
        let active = started
            .keys()
            .filter(|id| !states.get(*id).is_some_and(RolloutState::is_terminal))
            .count();
        if active == 0 && (queue.is_empty() || any_failed) {
            break;
        }
        let next = match tokio::time::timeout_at(deadline, observations.next()).await {
            Err(_) => {
                for id in started.keys() {
                    if !states.get(id).is_some_and(RolloutState::is_terminal) {
                        let last = match states.get(id) {
                            Some(RolloutState::Progressing { waiting_for, .. }) => {
                                format!(" (still waiting for {waiting_for})")
                            }
                            _ => String::new(),
                        };
                        let state = RolloutState::Failed {
                            reason: format!("timed out after {}{last}", humantime::format_duration(timeout)),
                        };
                        progress.update(id, &state);
                        states.insert(id.clone(), state);
                    }
                }
                break;
            }
            Ok(None) => {
                return Err(Error::Api {
                    action: format!("watch workloads in namespace {namespace}"),
                    message: "the watch ended".into(),
                })
            }
            Ok(Some(next)) => next,
        };
        match next {
            // The watch retries with backoff; a passing API server outage only delays progress.
            Err(e) => render::warning(&format!("watching rollouts: {e} (retrying)")),
            Ok(Observation::Workload { id, status }) => {
                statuses.insert(id, status);
            }
            Ok(Observation::FailingPod { owner, created, reason }) => {
                // Only pods made by our restart count: older ones may be failing for other reasons.
                if let Some((_, at)) = started.get(&owner) {
                    if created.is_some_and(|c| c >= *at - jiff::SignedDuration::from_secs(1)) {
                        failing.insert(owner, reason);
                    }
                }
            }
        }
        for (id, (generation, _)) in &started {
            if states.get(id).is_some_and(RolloutState::is_terminal) {
                continue;
            }
            let Some(status) = statuses.get(id) else { continue };
            let state = if status.generation < *generation {
                RolloutState::Progressing {
                    desired: status.desired,
                    updated: 0,
                    ready: 0,
                    available: 0,
                    waiting_for: "the restart to be observed".into(),
                }
            } else {
                rollout::evaluate(id.kind, status, failing.get(id).map(String::as_str))
            };
            progress.update(id, &state);
            states.insert(id.clone(), state);
        }
    }
    progress.finish();
    Ok(states)
}
