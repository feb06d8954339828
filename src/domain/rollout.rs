//! When is a restart finished? kubectl's own rules (kubectl/pkg/polymorphichelpers/rollout_status.go),
//! plus failing fast on pods that will never become ready, which `kubectl rollout status` does not do.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;

use super::model::{WorkloadId, WorkloadKind};

/// A workload to restart, with the Secret revisions its new pods are started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartTarget {
    pub id: WorkloadId,
    /// Secret name → revision, written on the pod template (exact evidence for verify).
    pub revisions: BTreeMap<String, u64>,
    /// Set when this change already restarted it (its template carries these revisions): the
    /// rollout is only awaited, from that moment, never restarted a second time.
    pub restarted_since: Option<jiff::Timestamp>,
}

/// The revisions a workload's new pods are started for: what its template recorded, with the
/// Secrets a change wrote (or restored) at their new revision, and nothing else. A Secret the
/// change did not write keeps the revision the template had: stamping it higher would claim
/// pods hold data they never saw.
pub fn stamped(template: &BTreeMap<String, u64>, written: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut revisions = template.clone();
    revisions.extend(written.iter().map(|(s, r)| (s.clone(), *r)));
    revisions
}

/// Whether a template already carries every revision of `written` (the change restarted it).
pub fn carries(template: &BTreeMap<String, u64>, written: &BTreeMap<String, u64>) -> bool {
    !written.is_empty() && written.iter().all(|(s, r)| template.get(s) == Some(r))
}

/// Container states that do not resolve by waiting.
pub const FATAL_WAITING_REASONS: [&str; 6] = [
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
];

/// The status fields the rules read, for any of the three kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutStatus {
    pub generation: i64,
    pub observed_generation: i64,
    pub desired: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// Pods still counted by the workload (old ones included) — Deployments only.
    pub total: i32,
    pub paused: bool,
    pub on_delete: bool,
    pub progress_deadline_exceeded: bool,
    /// StatefulSet: pods below the partition are not updated.
    pub partition: i32,
    pub revisions_match: bool,
    /// An Argo Rollout's own status (phase, pauses, abort).
    pub argo: Option<super::argo::ArgoStatus>,
}

impl RolloutStatus {
    /// Under way, waiting for what is said, with the counts as they are.
    pub fn progressing(&self, waiting_for: String) -> RolloutState {
        RolloutState::Progressing {
            desired: self.desired,
            updated: self.updated,
            ready: self.ready,
            available: self.available,
            waiting_for,
        }
    }

    /// The controller has not seen the change yet: its counts describe the previous one.
    fn unobserved(&self) -> RolloutState {
        RolloutState::Progressing {
            desired: self.desired,
            updated: 0,
            ready: self.ready,
            available: self.available,
            waiting_for: "the controller to observe the change".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "state")]
pub enum RolloutState {
    Progressing {
        desired: i32,
        updated: i32,
        ready: i32,
        available: i32,
        waiting_for: String,
    },
    Complete {
        desired: i32,
    },
    Failed {
        reason: String,
    },
    /// Paused Deployments and OnDelete strategies: reported, never awaited.
    NotAwaited {
        reason: String,
    },
    /// An Argo Rollout waiting for a person at a step (promote continues it).
    Paused {
        reason: String,
    },
}

impl RolloutState {
    pub fn is_terminal(&self) -> bool {
        !matches!(self, RolloutState::Progressing { .. })
    }
}

pub fn evaluate(kind: WorkloadKind, status: &RolloutStatus, failing_pod: Option<&str>) -> RolloutState {
    if kind == WorkloadKind::Rollout {
        return evaluate_argo(status, failing_pod);
    }
    if status.paused {
        return RolloutState::NotAwaited {
            reason: "the Deployment is paused: run `kubectl rollout resume` to roll it out".into(),
        };
    }
    if status.on_delete {
        return RolloutState::NotAwaited {
            reason: "updateStrategy is OnDelete: its pods change only when you delete them".into(),
        };
    }
    if let Some(reason) = failing_pod {
        return RolloutState::Failed {
            reason: reason.to_string(),
        };
    }
    if status.progress_deadline_exceeded {
        return RolloutState::Failed {
            reason: "ProgressDeadlineExceeded: the Deployment stopped making progress".into(),
        };
    }
    let progressing = |waiting_for: String| status.progressing(waiting_for);
    if status.observed_generation < status.generation {
        // The counts still describe the previous generation.
        return status.unobserved();
    }
    let s = status;
    match kind {
        WorkloadKind::Deployment => {
            if s.updated < s.desired {
                progressing(format!("{} of {} updated", s.updated, s.desired))
            } else if s.total > s.updated {
                progressing(format!("{} old replicas to terminate", s.total - s.updated))
            } else if s.available < s.updated {
                progressing(format!("{} of {} updated available", s.available, s.updated))
            } else {
                RolloutState::Complete { desired: s.desired }
            }
        }
        WorkloadKind::StatefulSet => {
            if s.ready < s.desired {
                progressing(format!("{} of {} ready", s.ready, s.desired))
            } else if s.partition > 0 {
                let want = s.desired - s.partition;
                if s.updated < want {
                    progressing(format!("{} of {} updated (partition {})", s.updated, want, s.partition))
                } else {
                    RolloutState::Complete { desired: s.desired }
                }
            } else if !s.revisions_match {
                progressing(format!("{} of {} updated", s.updated, s.desired))
            } else {
                RolloutState::Complete { desired: s.desired }
            }
        }
        WorkloadKind::DaemonSet => {
            if s.updated < s.desired {
                progressing(format!("{} of {} updated", s.updated, s.desired))
            } else if s.available < s.desired {
                progressing(format!("{} of {} available", s.available, s.desired))
            } else {
                RolloutState::Complete { desired: s.desired }
            }
        }
        other => RolloutState::NotAwaited {
            reason: format!("a {} is not restarted", other.as_str()),
        },
    }
}

/// An Argo Rollout: its controller's phase decides, once it has observed the change.
fn evaluate_argo(status: &RolloutStatus, failing_pod: Option<&str>) -> RolloutState {
    let argo = status.argo.clone().unwrap_or_default();
    if let Some(reason) = failing_pod {
        return RolloutState::Failed {
            reason: reason.to_string(),
        };
    }
    let progressing = |waiting_for: String| status.progressing(waiting_for);
    if status.observed_generation < status.generation {
        return status.unobserved();
    }
    if argo.aborted || argo.phase == "Degraded" {
        let message = if argo.message.is_empty() {
            "the update was aborted".to_string()
        } else {
            argo.message
        };
        return RolloutState::Failed {
            reason: format!("Degraded: {message}"),
        };
    }
    if status.paused {
        return RolloutState::NotAwaited {
            reason: "the Rollout is paused (spec.paused): `kubectl argo rollouts promote` continues it".into(),
        };
    }
    if let Some(reason) = argo.waiting_for_promotion {
        return RolloutState::Paused { reason };
    }
    match argo.phase.as_str() {
        "Healthy" => RolloutState::Complete {
            desired: status.desired,
        },
        "Paused" => progressing(format!("a timed pause ({})", argo.waiting_for())),
        _ => progressing(format!("the Rollout ({})", argo.waiting_for())),
    }
}

impl From<&Deployment> for RolloutStatus {
    fn from(d: &Deployment) -> Self {
        let s = d.status.clone().unwrap_or_default();
        let deadline = s.conditions.iter().flatten().any(|c| {
            c.type_.as_deref() == Some("Progressing") && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        });
        RolloutStatus {
            generation: d.metadata.generation.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            desired: d.spec.replicas.unwrap_or(1),
            updated: s.updated_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
            total: s.replicas.unwrap_or(0),
            paused: d.spec.paused.unwrap_or(false),
            on_delete: false,
            progress_deadline_exceeded: deadline,
            partition: 0,
            revisions_match: true,
            argo: None,
        }
    }
}

impl From<&StatefulSet> for RolloutStatus {
    fn from(sts: &StatefulSet) -> Self {
        let s = sts.status.clone().unwrap_or_default();
        let strategy = sts.spec.update_strategy.as_ref();
        RolloutStatus {
            generation: sts.metadata.generation.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            desired: sts.spec.replicas.unwrap_or(1),
            updated: s.updated_replicas.unwrap_or(0),
            ready: s.ready_replicas.unwrap_or(0),
            available: s.available_replicas.unwrap_or(0),
            total: s.replicas,
            paused: false,
            on_delete: strategy.and_then(|st| st.type_.as_deref()) == Some("OnDelete"),
            progress_deadline_exceeded: false,
            partition: strategy
                .and_then(|st| st.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .unwrap_or(0),
            revisions_match: s.update_revision.is_some() && s.current_revision == s.update_revision,
            argo: None,
        }
    }
}

impl From<&DaemonSet> for RolloutStatus {
    fn from(ds: &DaemonSet) -> Self {
        let s = ds.status.clone().unwrap_or_default();
        RolloutStatus {
            generation: ds.metadata.generation.unwrap_or(0),
            observed_generation: s.observed_generation.unwrap_or(0),
            desired: s.desired_number_scheduled,
            updated: s.updated_number_scheduled.unwrap_or(0),
            ready: s.number_ready,
            available: s.number_available.unwrap_or(0),
            total: s.current_number_scheduled,
            paused: false,
            on_delete: ds.spec.update_strategy.as_ref().and_then(|st| st.type_.as_deref()) == Some("OnDelete"),
            progress_deadline_exceeded: false,
            partition: 0,
            revisions_match: true,
            argo: None,
        }
    }
}

/// If this pod is stuck for good, why ("pod api-7d9 container api: CrashLoopBackOff").
pub fn fatal_pod_reason(pod: &Pod) -> Option<String> {
    let status = pod.status.as_ref()?;
    let containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    containers.into_iter().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        FATAL_WAITING_REASONS.contains(&reason).then(|| {
            format!(
                "pod {} container {}: {reason}",
                pod.metadata.name.as_deref().unwrap_or("?"),
                c.name
            )
        })
    })
}

/// The workload a pod belongs to, given the ReplicaSet → Deployment (or Rollout) ownership.
pub fn pod_owner(pod: &Pod, replica_set_owner: impl Fn(&str) -> Option<(WorkloadKind, String)>) -> Option<WorkloadId> {
    let namespace = pod.metadata.namespace.clone().unwrap_or_default();
    let owner = pod
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))?;
    let (kind, name) = match owner.kind.as_str() {
        "ReplicaSet" => replica_set_owner(&owner.name)?,
        "StatefulSet" => (WorkloadKind::StatefulSet, owner.name.clone()),
        "DaemonSet" => (WorkloadKind::DaemonSet, owner.name.clone()),
        _ => return None,
    };
    Some(WorkloadId { namespace, kind, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restart_stamps_only_what_the_change_wrote() {
        let template = BTreeMap::from([("app".to_string(), 2), ("unrelated".to_string(), 1)]);
        let written = BTreeMap::from([("app".to_string(), 3)]);
        let stamps = stamped(&template, &written);
        assert_eq!(stamps["app"], 3);
        assert_eq!(
            stamps["unrelated"], 1,
            "a Secret the change did not write keeps its revision"
        );
        assert!(carries(&stamps, &written));
        assert!(!carries(&template, &written));
        assert!(
            !carries(&template, &BTreeMap::new()),
            "nothing written: nothing restarted for it"
        );
    }

    fn status(desired: i32, updated: i32, ready: i32, available: i32) -> RolloutStatus {
        RolloutStatus {
            generation: 2,
            observed_generation: 2,
            desired,
            updated,
            ready,
            available,
            total: updated,
            revisions_match: true,
            ..Default::default()
        }
    }

    #[test]
    fn deployment_completes_when_all_updated_available_and_old_gone() {
        let d = WorkloadKind::Deployment;
        assert!(matches!(
            evaluate(d, &status(3, 1, 1, 1), None),
            RolloutState::Progressing { .. }
        ));
        let old_left = RolloutStatus {
            total: 4,
            ..status(3, 3, 3, 3)
        };
        assert!(
            matches!(evaluate(d, &old_left, None), RolloutState::Progressing { waiting_for, .. } if waiting_for.contains("old replicas"))
        );
        assert!(matches!(
            evaluate(d, &status(3, 3, 3, 2), None),
            RolloutState::Progressing { .. }
        ));
        assert_eq!(
            evaluate(d, &status(3, 3, 3, 3), None),
            RolloutState::Complete { desired: 3 }
        );
        let unobserved = RolloutStatus {
            observed_generation: 1,
            ..status(3, 3, 3, 3)
        };
        assert!(matches!(
            evaluate(d, &unobserved, None),
            RolloutState::Progressing { .. }
        ));
    }

    #[test]
    fn failures_and_not_awaited_cases() {
        let d = WorkloadKind::Deployment;
        let deadline = RolloutStatus {
            progress_deadline_exceeded: true,
            ..status(3, 1, 1, 1)
        };
        assert!(matches!(evaluate(d, &deadline, None), RolloutState::Failed { .. }));
        assert!(
            matches!(evaluate(d, &status(3, 1, 0, 0), Some("pod x: CrashLoopBackOff")), RolloutState::Failed { reason } if reason.contains("CrashLoop"))
        );
        let paused = RolloutStatus {
            paused: true,
            ..status(3, 0, 0, 0)
        };
        assert!(matches!(evaluate(d, &paused, None), RolloutState::NotAwaited { .. }));
        let on_delete = RolloutStatus {
            on_delete: true,
            ..status(1, 0, 1, 1)
        };
        assert!(matches!(
            evaluate(WorkloadKind::StatefulSet, &on_delete, None),
            RolloutState::NotAwaited { .. }
        ));
    }

    #[test]
    fn stateful_set_waits_for_revisions_and_respects_partitions() {
        let s = WorkloadKind::StatefulSet;
        let old_revision = RolloutStatus {
            revisions_match: false,
            ..status(3, 2, 3, 3)
        };
        assert!(matches!(
            evaluate(s, &old_revision, None),
            RolloutState::Progressing { .. }
        ));
        assert_eq!(
            evaluate(s, &status(3, 3, 3, 3), None),
            RolloutState::Complete { desired: 3 }
        );
        let partitioned = RolloutStatus {
            partition: 2,
            revisions_match: false,
            ..status(3, 1, 3, 3)
        };
        assert_eq!(evaluate(s, &partitioned, None), RolloutState::Complete { desired: 3 });
    }

    #[test]
    fn daemon_set_waits_for_every_node() {
        let ds = WorkloadKind::DaemonSet;
        assert!(matches!(
            evaluate(ds, &status(3, 2, 3, 3), None),
            RolloutState::Progressing { .. }
        ));
        assert!(matches!(
            evaluate(ds, &status(3, 3, 3, 2), None),
            RolloutState::Progressing { .. }
        ));
        assert_eq!(
            evaluate(ds, &status(3, 3, 3, 3), None),
            RolloutState::Complete { desired: 3 }
        );
    }
}
