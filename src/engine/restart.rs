//! Restarting workloads and waiting for their rollouts: concurrent, bounded by --max-parallel,
//! watched (never polled), with a deadline; the journal's heartbeat is renewed meanwhile.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use futures::stream::FuturesUnordered;
use futures::{StreamExt as _, TryStreamExt as _};
use jiff::Timestamp;
use tokio::time::Instant;

use super::lease::Lease;
use crate::cluster::workloads::Observation;
use crate::cluster::{self, Connection};
use crate::domain::journal::HEARTBEAT_EVERY;
use crate::domain::model::{WorkloadId, WorkloadKind};
use crate::domain::rollout::{self, RestartTarget, RolloutState, RolloutStatus};
use crate::error::{Error, Result};
use crate::render;
use crate::render::progress::RolloutProgress;

/// How fast restarts are started, and how long they are awaited.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// At most this many rollouts at a time (None: all at once).
    pub max_parallel: Option<u16>,
    /// Batches of `max_parallel`: each started once the previous one is done and this long
    /// after it; each batch has the whole `timeout` (else: a sliding window, one deadline).
    pub batch_interval: Option<Duration>,
    pub timeout: Duration,
}

/// Restart requests in flight at once: fifty rollouts start together, as a script's `&` would
/// start them (16 at a time delayed the last start by 0.1-0.2 s at 50), and the connections
/// opened stay bounded for hundreds of workloads.
const RESTARTS_AT_ONCE: usize = 64;

/// What to do about Argo Rollouts that pause for a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Promotion {
    /// Report the pause and stop waiting for that Rollout.
    Never,
    /// Promote each pause (`--promote`), as `kubectl argo rollouts promote` does.
    Steps,
    /// Promote to the end as soon as the update has started (an undo: the values it restores
    /// ran before, so the steps that guard a new release only delay it).
    Full,
}

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
    target: &RestartTarget,
    at: Timestamp,
    change: Option<&str>,
    deadline: Instant,
) -> Result<i64> {
    let mut delay = Duration::from_millis(250);
    loop {
        match cluster::workloads::restart(conn, &target.id, &target.revisions, at, change).await {
            Err(Error::Unreachable { reason, .. }) if Instant::now() + delay < deadline => {
                render::warning(&format!("restarting {}: {reason} (retrying in {delay:?})", target.id));
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            other => return other,
        }
    }
}

/// Restart the workloads (at most `max_parallel` rollouts at a time, or in paced batches; those the change already
/// restarted are only awaited) and watch them until each is complete, failed, or not awaited,
/// or the deadline passes. Stops starting new ones after a failure. While it waits, the
/// journal's holder renews its heartbeat. With `roll_on_delete`, StatefulSets whose
/// updateStrategy is OnDelete have their pods deleted one at a time (else they are reported).
/// Argo Rollouts paused for a person are promoted as `promotion` says.
#[allow(clippy::too_many_arguments)]
pub async fn restart_and_wait(
    conn: &Connection,
    namespace: &str,
    targets: &[RestartTarget],
    pacing: Pacing,
    title: &str,
    lease: Option<&Lease>,
    roll_on_delete: bool,
    promotion: Promotion,
) -> Result<BTreeMap<WorkloadId, RolloutState>> {
    let ids: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
    // Recorded on each workload restarted (the next change's restart budget).
    let change_id = lease.map(|l| l.journal().id);
    let change_id = change_id.as_deref();
    let mut progress = RolloutProgress::new(title, &ids);
    let timeout = pacing.timeout;
    let mut deadline = Instant::now() + timeout;
    let with_rollouts = ids.iter().any(|id| id.kind == WorkloadKind::Rollout);
    // The watches start now, while the restarts are sent, so their first listing is ready by
    // the time the restarts are; dropping `watching` on return stops them.
    let mut observations = cluster::workloads::watch(conn, namespace, with_rollouts);
    let (observed, mut observed_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watching = tokio::task::JoinSet::new();
    watching.spawn(async move {
        while let Some(observation) = observations.next().await {
            if observed.send(observation).is_err() {
                break;
            }
        }
    });
    // Rollouts this run promoted fully (once each).
    let mut promoted_full: BTreeSet<WorkloadId> = BTreeSet::new();
    let mut heartbeat = tokio::time::interval_at(Instant::now() + HEARTBEAT_EVERY, HEARTBEAT_EVERY);
    let limit = pacing.max_parallel.map(usize::from).unwrap_or(targets.len()).max(1);
    // With a batch interval: when the next batch may start (None: now, or not yet scheduled).
    let mut next_batch_at: Option<Instant> = None;
    let mut queue: VecDeque<&RestartTarget> = targets.iter().collect();
    // Per started workload: the generation our restart produced (0: whatever it is now) and
    // since when its new pods count as ours.
    let mut started: BTreeMap<WorkloadId, (i64, Timestamp)> = BTreeMap::new();
    let mut statuses: BTreeMap<WorkloadId, RolloutStatus> = BTreeMap::new();
    let mut failing: BTreeMap<WorkloadId, String> = BTreeMap::new();
    let mut states: BTreeMap<WorkloadId, RolloutState> = BTreeMap::new();
    let is_done = |states: &BTreeMap<WorkloadId, RolloutState>, id: &WorkloadId| {
        states.get(id).is_some_and(RolloutState::is_terminal)
    };
    // The pod deletions of OnDelete StatefulSets, one driver per StatefulSet.
    let mut drivers = FuturesUnordered::new();

    loop {
        let active = started.keys().filter(|id| !is_done(&states, id)).count();
        let any_failed = states.values().any(|s| matches!(s, RolloutState::Failed { .. }));
        if let Some(interval) = pacing.batch_interval {
            // A batch is done and more wait: the next starts `interval` from now.
            if active == 0 && !started.is_empty() && !queue.is_empty() && !any_failed && next_batch_at.is_none() {
                next_batch_at = Some(Instant::now() + interval);
                progress.note(&format!(
                    "batch done; the next {} in {} (--batch-interval)",
                    render::plural(queue.len().min(limit), "workload"),
                    humantime::format_duration(interval)
                ));
            }
        }
        let may_start = match pacing.batch_interval {
            None => true,
            Some(_) => active == 0 && (started.is_empty() || next_batch_at.is_some_and(|at| Instant::now() >= at)),
        };
        if !any_failed && may_start {
            if pacing.batch_interval.is_some() && !queue.is_empty() {
                next_batch_at = None;
                deadline = Instant::now() + timeout;
            }
            let batch: Vec<&RestartTarget> = (active..limit).map_while(|_| queue.pop_front()).collect();
            // The restarts of a batch are sent together (a few at a time): one after the
            // other, fifty of them would delay the last rollout's start by a second.
            let entries: Vec<(i64, Timestamp)> = futures::stream::iter(batch.iter().map(|target| async move {
                match target.restarted_since {
                    Some(since) => Ok::<_, Error>((0, since)),
                    None => {
                        let at = Timestamp::now();
                        Ok((restart_retrying(conn, target, at, change_id, deadline).await?, at))
                    }
                }
            }))
            .buffered(RESTARTS_AT_ONCE)
            .try_collect()
            .await?;
            for (target, entry) in batch.into_iter().zip(entries) {
                if roll_on_delete && target.id.kind == WorkloadKind::StatefulSet {
                    let (id, generation) = (target.id.clone(), entry.0);
                    drivers.push(async move {
                        let result = cluster::workloads::roll_on_delete(conn, &id, generation).await;
                        (id, result)
                    });
                }
                started.insert(target.id.clone(), entry);
            }
        }
        let active = started.keys().filter(|id| !is_done(&states, id)).count();
        if active == 0 && (queue.is_empty() || any_failed) {
            break;
        }
        let batch_wait = next_batch_at.filter(|_| active == 0);
        let next = tokio::select! {
            _ = tokio::time::sleep_until(batch_wait.unwrap_or(deadline)), if batch_wait.is_some() => continue,
            Some((id, result)) = drivers.next(), if !drivers.is_empty() => {
                if let Err(error) = result {
                    let state = RolloutState::Failed {
                        reason: format!("deleting its pods one at a time (updateStrategy OnDelete): {error}"),
                    };
                    progress.update(&id, &state);
                    states.insert(id, state);
                }
                continue;
            }
            // While a batch waits for its start, no rollout is awaited against the deadline.
            next = tokio::time::timeout_at(
                if batch_wait.is_some() { Instant::now() + Duration::from_secs(86_400) } else { deadline },
                observed_rx.recv(),
            ) => next,
            _ = heartbeat.tick() => {
                if let Some(lease) = lease {
                    lease.renew().await?;
                }
                continue;
            }
        };
        let next = match next {
            Err(_) => {
                for id in started.keys() {
                    if !is_done(&states, id) {
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
            if is_done(&states, id) {
                continue;
            }
            let Some(status) = statuses.get(id) else { continue };
            let mut status = status.clone();
            if roll_on_delete && id.kind == WorkloadKind::StatefulSet && status.on_delete {
                // Its pods are being replaced here; its currentRevision never moves under
                // OnDelete, so the updated count says when it is done.
                status.on_delete = false;
                status.revisions_match = status.updated >= status.desired;
            }
            let status = &status;
            let mut state = if status.generation < *generation {
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
            if id.kind == WorkloadKind::Rollout {
                state = promote_if_asked(conn, id, status, *generation, state, promotion, &mut promoted_full).await?;
            }
            progress.update(id, &state);
            states.insert(id.clone(), state);
        }
    }
    progress.finish();
    for (id, state) in &states {
        if let RolloutState::Paused { reason } = state {
            render::step(&format!(
                "{id} waits for a person ({reason}): continue it with `kubectl argo rollouts promote {} -n {namespace}` \
                 (or pass --promote); `kubectl secrets verify` shows which pods still run the old values",
                id.name
            ));
        }
    }
    Ok(states)
}

/// Whether the update a Rollout is in is this run's to promote. After this run's restart
/// (`generation` > 0) only while the spec is still the one that restart made: a later change
/// by someone else (another release, a paused canary of theirs) is theirs to promote. With no
/// restart of this run (`generation` 0: the template already carried the data, as on a
/// resume), `--promote` continues the pauses the operator asked about, but a full promotion
/// (an undo's, skipping steps and analysis) is never given to an update this run did not make.
fn ours_to_promote(promotion: Promotion, generation: i64, status: &RolloutStatus) -> bool {
    match promotion {
        Promotion::Never => false,
        _ if generation > 0 => status.generation == generation,
        Promotion::Steps => true,
        Promotion::Full => false,
    }
}

/// An Argo Rollout's promotion: each pause under `Steps`, to the end once its update has
/// started under `Full`. Returns the state to show (a promoted pause keeps progressing).
async fn promote_if_asked(
    conn: &Connection,
    id: &WorkloadId,
    status: &RolloutStatus,
    generation: i64,
    state: RolloutState,
    promotion: Promotion,
    promoted_full: &mut BTreeSet<WorkloadId>,
) -> Result<RolloutState> {
    let started = status.generation >= generation && status.observed_generation >= status.generation;
    let already_full = status.argo.as_ref().is_some_and(|a| a.promote_full);
    let progressing = |waiting_for: String| status.progressing(waiting_for);
    if !ours_to_promote(promotion, generation, status) {
        return Ok(state);
    }
    match (promotion, &state) {
        (Promotion::Full, RolloutState::Progressing { .. } | RolloutState::Paused { .. })
            if started && !already_full && !promoted_full.contains(id) =>
        {
            cluster::argo::promote(conn, id, true).await?;
            promoted_full.insert(id.clone());
            Ok(progressing(
                "its full promotion (the previous values ran before)".into(),
            ))
        }
        (Promotion::Full, RolloutState::Paused { reason }) => Ok(progressing(format!("its full promotion ({reason})"))),
        (Promotion::Steps, RolloutState::Paused { reason }) => {
            cluster::argo::promote(conn, id, false).await?;
            Ok(progressing(format!("the next step (promoted: {reason})")))
        }
        _ => Ok(state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_update_this_run_made_is_promoted_fully() {
        let at = |generation| RolloutStatus {
            generation,
            observed_generation: generation,
            ..Default::default()
        };
        // This run's restart made generation 7, and it is still the spec.
        assert!(ours_to_promote(Promotion::Full, 7, &at(7)));
        assert!(ours_to_promote(Promotion::Steps, 7, &at(7)));
        // Someone changed the Rollout since (another release, their canary).
        assert!(!ours_to_promote(Promotion::Full, 7, &at(8)));
        assert!(!ours_to_promote(Promotion::Steps, 7, &at(8)));
        // Not restarted by this run: the template already carried the data.
        assert!(!ours_to_promote(Promotion::Full, 0, &at(8)));
        assert!(ours_to_promote(Promotion::Steps, 0, &at(8)), "--promote on a resume");
        assert!(!ours_to_promote(Promotion::Never, 7, &at(7)));
    }
}
