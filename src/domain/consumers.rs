//! Which workloads a change to some Secrets affects, and what to do with each: restart it
//! (env and subPath copies are fixed at container start), nothing (volumes update in place, or
//! it reads none of the changed keys), or report it (bare pods, Jobs and orphan ReplicaSets are
//! not restarted by rotate).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::drift::{group_workloads, Snapshot};
use super::env::{self, EnvNamePolicy};
use super::model::{WorkloadId, WorkloadKind};

/// What a change touches: Secret name → the keys it writes, adds or removes; and a Vault path
/// written ("vault:secret/data/db", as `AgentRead::source` names it) → no keys: the pods its
/// Agent Injector renders it into read it too.
pub type ChangedKeys = BTreeMap<String, BTreeSet<String>>;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase", tag = "action")]
pub enum ConsumerAction {
    Restart,
    /// Only mounted as volumes without subPath: the kubelet updates the files in place.
    AutoUpdates,
    /// A database that reads the changed keys only when its data directory is first made
    /// (`POSTGRES_PASSWORD`): a restart changes nothing; the password changes at the server.
    FirstStartOnly,
    /// The server that checks the changed password (its issuer): the password changes there,
    /// in the same change; the workload is not restarted.
    Issuer,
    /// Reads only keys the change leaves alone (`secretKeyRef`, volume `items`, subPath).
    Unaffected {
        /// The keys of the changed Secrets it reads.
        reads: BTreeSet<String>,
    },
    /// Not a Deployment, StatefulSet or DaemonSet: its pods must be replaced by hand.
    ReplaceByHand {
        hint: String,
    },
    /// A CronJob: never restarted; its next Job starts with the new values.
    NextRun {
        #[serde(skip_serializing_if = "Option::is_none")]
        at: Option<jiff::Timestamp>,
        /// Why there is no time: suspended, or a schedule that could not be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Consumer {
    pub id: WorkloadId,
    pub action: ConsumerAction,
    /// The changed Secrets this workload reads.
    pub secrets: BTreeSet<String>,
}

/// The consumers a change restarts (read in a way fixed at container start).
pub fn to_restart(consumers: &[Consumer]) -> Vec<WorkloadId> {
    consumers
        .iter()
        .filter(|c| c.action == ConsumerAction::Restart)
        .map(|c| c.id.clone())
        .collect()
}

/// The consumers of the changed Secrets. A workload is restarted when it reads a changed key
/// in a way fixed at container start; `restart_all` restarts every reader of a changed Secret
/// (the keys and volumes notwithstanding).
pub fn consumers_of(
    snapshot: &Snapshot,
    changed: &ChangedKeys,
    policy: EnvNamePolicy,
    restart_all: bool,
) -> Vec<Consumer> {
    let sources = snapshot.sources();
    let empty = snapshot.no_sources();
    let (specs, _) = group_workloads(snapshot);
    let mut consumers = Vec::new();
    for (id, spec) in specs {
        let in_namespace = sources.get(id.namespace.as_str()).unwrap_or(&empty);
        let mut used = BTreeSet::new();
        let mut affected = false;
        let mut fixed_at_start = false;
        let mut in_place = false;
        let mut reads = BTreeSet::new();
        for container in &spec.containers {
            let view = env::resolve(spec, container, in_namespace, policy);
            for c in &view.consumed {
                let Some(keys) = changed.get(&c.secret) else {
                    continue;
                };
                used.insert(c.secret.clone());
                reads.extend(c.key.iter().chain(c.volume_keys.iter().flatten()).cloned());
                if c.reads_any(keys) {
                    affected = true;
                    fixed_at_start |= c.via.fixed_at_start();
                    in_place |= c.via.updates_in_place();
                }
            }
        }
        for read in spec.vault_agent.iter().filter(|r| changed.contains_key(&r.source())) {
            used.insert(read.source());
            affected = true;
            // Rendered once before the app starts: only a new pod renders the new version.
            fixed_at_start |= read.rendering == super::vault_agent::Rendering::OnceAtStart;
            in_place |= read.rendering == super::vault_agent::Rendering::WhileRunning;
        }
        if used.is_empty() {
            continue;
        }
        let action = if id.kind == WorkloadKind::CronJob {
            let schedule = snapshot
                .workloads
                .iter()
                .find(|w| w.id == id)
                .and_then(|w| w.schedule.as_ref());
            ConsumerAction::NextRun {
                at: schedule.and_then(|s| s.next_run),
                note: schedule.and_then(|s| {
                    if s.suspended {
                        Some("suspended".to_string())
                    } else {
                        s.problem.clone()
                    }
                }),
            }
        } else if id.kind == WorkloadKind::Job {
            ConsumerAction::ReplaceByHand {
                hint: "never restarted: its running pods keep the old values until they finish; the next Job reads the new ones"
                    .into(),
            }
        } else if !id.kind.restartable() {
            ConsumerAction::ReplaceByHand {
                hint: format!(
                    "delete its pods to pick up the change ({} is not restarted)",
                    id.kind.as_str()
                ),
            }
        } else if restart_all || (affected && fixed_at_start) {
            ConsumerAction::Restart
        } else if affected && in_place {
            ConsumerAction::AutoUpdates
        } else if affected {
            ConsumerAction::FirstStartOnly
        } else {
            ConsumerAction::Unaffected { reads }
        };
        consumers.push(Consumer {
            id,
            action,
            secrets: used,
        });
    }
    consumers
}

/// The containers of `namespace` that read `key` of `secret`, with their image and the env var
/// they see it as (None: a file): what tells a database password apart.
pub fn key_readers(
    snapshot: &Snapshot,
    policy: EnvNamePolicy,
    namespace: &str,
    secret: &str,
    key: &str,
) -> Vec<super::issuer::KeyReader> {
    let sources = snapshot.sources();
    let empty = snapshot.no_sources();
    let in_namespace = sources.get(namespace).unwrap_or(&empty);
    let (specs, _) = group_workloads(snapshot);
    let changed = BTreeSet::from([key.to_string()]);
    let mut readers = Vec::new();
    for (id, spec) in specs.iter().filter(|(id, _)| id.namespace == namespace) {
        for container in &spec.containers {
            let view = env::resolve(spec, container, in_namespace, policy);
            // An env var names one key; a volume reads the key when it projects it.
            let reads = |c: &&env::Consumption| match &c.key {
                Some(k) => k == key,
                None => c.reads_any(&changed),
            };
            for c in view.consumed.iter().filter(|c| c.secret == secret).filter(reads) {
                readers.push(super::issuer::KeyReader {
                    workload: id.to_string(),
                    image: container.image.clone(),
                    env: c.key.as_ref().map(|_| c.target.clone()),
                });
            }
        }
    }
    readers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{
        ConfigMapInfo, ContainerSpec, EnvFrom, EnvValue, EnvVar, Mount, PodSpecInfo, SecretInfo, SecretVolume,
        VolumeSecret, Workload, WorkloadKind,
    };

    fn workload(kind: WorkloadKind, name: &str, spec: PodSpecInfo) -> Workload {
        Workload {
            id: WorkloadId {
                namespace: "ns".into(),
                kind,
                name: name.into(),
            },
            spec,
            schedule: None,
            secret_revisions: Default::default(),
            last_restart: None,
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
            ..Default::default()
        }
    }

    fn volume(secret: &str) -> PodSpecInfo {
        PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "c".into(),
                mounts: vec![Mount {
                    volume: "v".into(),
                    path: "/etc/s".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            volumes: vec![SecretVolume {
                volume: "v".into(),
                sources: vec![VolumeSecret {
                    secret: secret.into(),
                    ..Default::default()
                }],
            }],
            ..Default::default()
        }
    }

    /// A secretKeyRef followed by a configMapKeyRef of the same name: the ConfigMap's value is
    /// what the container sees, unless that reference is optional and does not resolve.
    #[test]
    fn a_key_hidden_by_a_config_map_is_not_read_an_unresolved_optional_one_hides_nothing() {
        let spec = |config_key: &str| PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "c".into(),
                env: vec![
                    EnvVar {
                        name: "TOKEN".into(),
                        value: EnvValue::SecretKey {
                            secret: "app".into(),
                            key: "K".into(),
                            optional: false,
                        },
                    },
                    EnvVar {
                        name: "TOKEN".into(),
                        value: EnvValue::ConfigMapKey {
                            config_map: "settings".into(),
                            key: config_key.into(),
                            optional: true,
                        },
                    },
                ],
                ..Default::default()
            }],
            volumes: vec![],
            ..Default::default()
        };
        let snapshot = Snapshot {
            secrets: vec![SecretInfo {
                namespace: "ns".into(),
                name: "app".into(),
                keys: ["K".to_string()].into(),
                ..Default::default()
            }],
            config_maps: Some(vec![ConfigMapInfo {
                namespace: "ns".into(),
                name: "settings".into(),
                keys: ["TOKEN".to_string()].into(),
            }]),
            workloads: vec![
                workload(WorkloadKind::Deployment, "hidden", spec("TOKEN")),
                workload(WorkloadKind::Deployment, "unresolved", spec("ABSENT")),
            ],
            ..Default::default()
        };
        let changed: ChangedKeys = [("app".to_string(), ["K".to_string()].into())].into();
        let found = consumers_of(&snapshot, &changed, EnvNamePolicy::Relaxed, false);
        let names: Vec<&str> = found.iter().map(|c| c.id.name.as_str()).collect();
        assert_eq!(names, ["unresolved"]);
        assert_eq!(found[0].action, ConsumerAction::Restart);
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
        let changed: ChangedKeys = [("app".to_string(), ["K".to_string()].into())].into();
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

    fn key_ref(var: &str, secret: &str, key: &str) -> PodSpecInfo {
        PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "c".into(),
                env: vec![EnvVar {
                    name: var.into(),
                    value: EnvValue::SecretKey {
                        secret: secret.into(),
                        key: key.into(),
                        optional: false,
                    },
                }],
                ..Default::default()
            }],
            volumes: vec![],
            ..Default::default()
        }
    }

    #[test]
    fn only_readers_of_a_changed_key_restart() {
        let secret = SecretInfo {
            namespace: "ns".into(),
            name: "backend".into(),
            keys: ["JWT_SECRET".to_string(), "REDIS_URL".to_string()].into(),
            ..Default::default()
        };
        let snapshot = Snapshot {
            secrets: vec![secret],
            workloads: vec![
                workload(WorkloadKind::Deployment, "all-keys", env_from("backend")),
                workload(WorkloadKind::Deployment, "jwt", key_ref("JWT", "backend", "JWT_SECRET")),
                workload(
                    WorkloadKind::Deployment,
                    "cache",
                    key_ref("REDIS", "backend", "REDIS_URL"),
                ),
            ],
            ..Default::default()
        };
        let changed: ChangedKeys = [("backend".to_string(), ["JWT_SECRET".to_string()].into())].into();
        let found = consumers_of(&snapshot, &changed, EnvNamePolicy::Relaxed, false);
        let actions: Vec<(&str, &ConsumerAction)> = found.iter().map(|c| (c.id.name.as_str(), &c.action)).collect();
        let unaffected = ConsumerAction::Unaffected {
            reads: ["REDIS_URL".to_string()].into(),
        };
        assert_eq!(
            actions,
            [
                ("all-keys", &ConsumerAction::Restart),
                ("cache", &unaffected),
                ("jwt", &ConsumerAction::Restart)
            ]
        );
        let all = consumers_of(&snapshot, &changed, EnvNamePolicy::Relaxed, true);
        assert!(all.iter().all(|c| c.action == ConsumerAction::Restart), "{all:?}");
    }
}
