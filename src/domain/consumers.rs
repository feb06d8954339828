//! Which workloads a change to some Secrets affects, and what to do with each: restart it
//! (env and subPath copies are fixed at container start), nothing (volumes update in place),
//! or report it (bare pods, Jobs and orphan ReplicaSets are not restarted by rotate).

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::drift::{group_workloads, Snapshot};
use super::env::{self, EnvNamePolicy};
use super::model::{SecretInfo, WorkloadId};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum ConsumerAction {
    Restart,
    /// Only mounted as volumes without subPath: the kubelet updates the files in place.
    AutoUpdates,
    /// Not a Deployment, StatefulSet or DaemonSet: its pods must be replaced by hand.
    ReplaceByHand {
        hint: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Consumer {
    pub id: WorkloadId,
    pub action: ConsumerAction,
    /// The changed Secrets this workload reads.
    pub secrets: BTreeSet<String>,
}

pub fn consumers_of(
    snapshot: &Snapshot,
    changed: &BTreeSet<String>,
    policy: EnvNamePolicy,
    restart_all: bool,
) -> Vec<Consumer> {
    let secrets: HashMap<(&str, &str), &SecretInfo> = snapshot
        .secrets
        .iter()
        .map(|s| ((s.namespace.as_str(), s.name.as_str()), s))
        .collect();
    let (specs, _) = group_workloads(snapshot);
    let mut consumers = Vec::new();
    for (id, spec) in specs {
        let in_namespace: HashMap<&str, &SecretInfo> = secrets
            .iter()
            .filter(|((ns, _), _)| *ns == id.namespace)
            .map(|((_, name), s)| (*name, *s))
            .collect();
        let mut used = BTreeSet::new();
        let mut fixed_at_start = false;
        for container in &spec.containers {
            let view = env::resolve(spec, container, &in_namespace, policy);
            for c in view.consumed.iter().filter(|c| changed.contains(&c.secret)) {
                used.insert(c.secret.clone());
                fixed_at_start |= c.via.fixed_at_start();
            }
        }
        if used.is_empty() {
            continue;
        }
        let action = if !id.kind.restartable() {
            ConsumerAction::ReplaceByHand {
                hint: format!(
                    "delete its pods to pick up the change ({} is not restarted)",
                    id.kind.as_str()
                ),
            }
        } else if fixed_at_start || restart_all {
            ConsumerAction::Restart
        } else {
            ConsumerAction::AutoUpdates
        };
        consumers.push(Consumer {
            id,
            action,
            secrets: used,
        });
    }
    consumers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{
        ContainerSpec, EnvFrom, Mount, PodSpecInfo, SecretVolume, VolumeSecret, Workload, WorkloadKind,
    };

    fn workload(kind: WorkloadKind, name: &str, spec: PodSpecInfo) -> Workload {
        Workload {
            id: WorkloadId {
                namespace: "ns".into(),
                kind,
                name: name.into(),
            },
            spec,
            secret_revisions: Default::default(),
        }
    }

    fn env_from(secret: &str) -> PodSpecInfo {
        PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "c".into(),
                env_from: vec![EnvFrom::Secret {
                    name: secret.into(),
                    prefix: String::new(),
                    optional: false,
                }],
                ..Default::default()
            }],
            volumes: vec![],
        }
    }

    fn volume(secret: &str) -> PodSpecInfo {
        PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "c".into(),
                mounts: vec![Mount {
                    volume: "v".into(),
                    path: "/etc/s".into(),
                    sub_path: false,
                }],
                ..Default::default()
            }],
            volumes: vec![SecretVolume {
                volume: "v".into(),
                sources: vec![VolumeSecret {
                    secret: secret.into(),
                    items: None,
                    optional: false,
                }],
            }],
        }
    }

    #[test]
    fn env_consumers_restart_volume_consumers_do_not_unless_asked() {
        let secret = SecretInfo {
            namespace: "ns".into(),
            name: "app".into(),
            keys: ["K".to_string()].into(),
            ..Default::default()
        };
        let snapshot = Snapshot {
            secrets: vec![secret],
            workloads: vec![
                workload(WorkloadKind::Deployment, "api", env_from("app")),
                workload(WorkloadKind::DaemonSet, "reader", volume("app")),
                workload(WorkloadKind::StatefulSet, "other", env_from("unrelated")),
            ],
            ..Default::default()
        };
        let changed: BTreeSet<String> = ["app".to_string()].into();
        let found = consumers_of(&snapshot, &changed, EnvNamePolicy::Relaxed, false);
        let actions: Vec<(&str, &ConsumerAction)> = found.iter().map(|c| (c.id.name.as_str(), &c.action)).collect();
        assert_eq!(
            actions,
            [
                ("api", &ConsumerAction::Restart),
                ("reader", &ConsumerAction::AutoUpdates)
            ]
        );
        let all = consumers_of(&snapshot, &changed, EnvNamePolicy::Relaxed, true);
        assert!(all.iter().all(|c| c.action == ConsumerAction::Restart));
    }
}
