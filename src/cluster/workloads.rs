//! Restarting workloads (what `kubectl rollout restart` does, plus the Secret revisions the new
//! pods are started for) and watching their rollouts: one watch per kind for the namespace.

use std::collections::{BTreeMap, BTreeSet};

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PartialObjectMeta, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::json;

use super::{api_error, retrying, Action, Connection, Scope};
use crate::domain::annotations;
use crate::domain::model::{WorkloadId, WorkloadKind};
use crate::domain::rollout::{self, RolloutStatus};
use crate::error::{Error, Result};

/// kubectl's restart annotation: changing it makes the controller roll out new pods.
const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// Patch the pod template: restartedAt, and which revision of each Secret the new pods get.
/// Returns the workload's generation after the patch: its rollout is only judged once the
/// controller has observed that generation.
pub async fn restart(
    conn: &Connection,
    id: &WorkloadId,
    revisions: &BTreeMap<String, u64>,
    at: Timestamp,
    change: Option<&str>,
) -> Result<i64> {
    // The workload's own annotation records the restart for the next change's budget; on the
    // object, not the template, so it starts no rollout of its own.
    let patch = json!({
        "metadata": {"annotations": {
            annotations::LAST_RESTART: crate::domain::restart_budget::LastRestart::annotation(at, change),
        }},
        "spec": {"template": {"metadata": {"annotations": {
            RESTARTED_AT: at.to_string(),
            annotations::POD_SECRET_REVISIONS: serde_json::to_string(revisions).expect("map serialises"),
        }}}},
    });
    // A Rollout's template change is a new revision its own strategy rolls out (steps, pauses,
    // analysis), as a Deployment's is.
    if id.kind == WorkloadKind::Rollout {
        return super::argo::patch(conn, id, &patch).await;
    }
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
        dry_run: conn.server_dry_run,
        ..Default::default()
    };
    let scope = Scope::Namespace(id.namespace.clone());
    let client = conn.client.clone();
    let ns = &id.namespace;
    // The same restartedAt makes a repeated patch a no-op: safe to retry.
    let patch = Patch::Merge(patch);
    let result = match id.kind {
        WorkloadKind::Deployment => {
            let api = Api::<Deployment>::namespaced(client, ns);
            retrying(|| api.patch(&id.name, &params, &patch))
                .await
                .map(|o| o.metadata.generation.unwrap_or(0))
        }
        WorkloadKind::StatefulSet => {
            let api = Api::<StatefulSet>::namespaced(client, ns);
            retrying(|| api.patch(&id.name, &params, &patch))
                .await
                .map(|o| o.metadata.generation.unwrap_or(0))
        }
        WorkloadKind::DaemonSet => {
            let api = Api::<DaemonSet>::namespaced(client, ns);
            retrying(|| api.patch(&id.name, &params, &patch))
                .await
                .map(|o| o.metadata.generation.unwrap_or(0))
        }
        other => {
            return Err(Error::Api {
                action: format!("restart {id}"),
                message: format!("a {} cannot be restarted", other.as_str()),
            })
        }
    };
    result.map_err(|e| api_error(e, &Action::new("patch", resource_of(id.kind), &scope), conn))
}

pub fn resource_of(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Deployment => "deployments",
        WorkloadKind::StatefulSet => "statefulsets",
        WorkloadKind::DaemonSet => "daemonsets",
        WorkloadKind::ReplicaSet => "replicasets",
        WorkloadKind::Job => "jobs",
        WorkloadKind::CronJob => "cronjobs",
        WorkloadKind::Rollout => "rollouts",
        WorkloadKind::Pod => "pods",
    }
}

/// What a rollout watch sees.
#[derive(Debug, Clone)]
pub enum Observation {
    Workload {
        id: WorkloadId,
        status: RolloutStatus,
    },
    /// A pod of a workload that is stuck for good (CrashLoopBackOff, ...).
    FailingPod {
        owner: WorkloadId,
        created: Option<Timestamp>,
        reason: String,
    },
}

/// Watch the Deployments, StatefulSets, DaemonSets and Pods of a namespace as one stream, and
/// its Argo Rollouts when `with_rollouts` (only then: without the CRD that watch would fail).
pub fn watch(
    conn: &Connection,
    namespace: &str,
    with_rollouts: bool,
) -> impl Stream<Item = Result<Observation>> + Send + 'static {
    let client = conn.client.clone();
    let conn = conn.clone();
    let scope = Scope::Namespace(namespace.into());
    let config = watcher::Config::default();
    let id = |kind, meta: &kube::api::ObjectMeta| WorkloadId {
        namespace: meta.namespace.clone().unwrap_or_default(),
        kind,
        name: meta.name.clone().unwrap_or_default(),
    };
    let deployments = watcher(Api::<Deployment>::namespaced(client.clone(), namespace), config.clone())
        .default_backoff()
        .applied_objects()
        .map(move |d| {
            d.map(|d| Observation::Workload {
                id: id(WorkloadKind::Deployment, &d.metadata),
                status: RolloutStatus::from(&d),
            })
        })
        .boxed();
    let stateful_sets = watcher(
        Api::<StatefulSet>::namespaced(client.clone(), namespace),
        config.clone(),
    )
    .default_backoff()
    .applied_objects()
    .map(move |s| {
        s.map(|s| Observation::Workload {
            id: id(WorkloadKind::StatefulSet, &s.metadata),
            status: RolloutStatus::from(&s),
        })
    })
    .boxed();
    let daemon_sets = watcher(Api::<DaemonSet>::namespaced(client.clone(), namespace), config.clone())
        .default_backoff()
        .applied_objects()
        .map(move |d| {
            d.map(|d| Observation::Workload {
                id: id(WorkloadKind::DaemonSet, &d.metadata),
                status: RolloutStatus::from(&d),
            })
        })
        .boxed();
    let pods = watcher(Api::<Pod>::namespaced(client, namespace), config)
        .default_backoff()
        .applied_objects()
        .filter_map(|pod| async move {
            match pod {
                Err(e) => Some(Err(e)),
                Ok(pod) => {
                    let reason = rollout::fatal_pod_reason(&pod)?;
                    let owner = rollout::pod_owner(&pod, |rs| owner_of_replica_set(&pod, rs))?;
                    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
                    Some(Ok(Observation::FailingPod { owner, created, reason }))
                }
            }
        })
        .boxed();
    let mut streams = vec![deployments, stateful_sets, daemon_sets, pods];
    if with_rollouts {
        streams.push(
            super::argo::watch(&conn, namespace)
                .map(|o| o.map(|(id, status)| Observation::Workload { id, status }))
                .boxed(),
        );
    }
    futures::stream::select_all(streams).map(move |item| {
        item.map_err(|e| match e {
            watcher::Error::InitialListFailed(e)
            | watcher::Error::WatchStartFailed(e)
            | watcher::Error::WatchFailed(e) => api_error(e, &Action::new("watch", "workloads", &scope), &conn),
            other => Error::Api {
                action: format!("watch workloads in {}", scope.describe()),
                message: other.to_string(),
            },
        })
    })
}

/// A Deployment's ReplicaSet is named `<deployment>-<pod-template-hash>`, and its pods carry
/// that hash as a label: no extra request is needed to find the Deployment. An Argo Rollout's
/// are named the same way, with the hash in `rollouts-pod-template-hash`.
fn owner_of_replica_set(pod: &Pod, replica_set: &str) -> Option<(WorkloadKind, String)> {
    let labels = pod.metadata.labels.as_ref()?;
    let (kind, hash) = match labels.get(crate::domain::argo::POD_TEMPLATE_HASH) {
        Some(hash) => (WorkloadKind::Rollout, hash),
        None => (WorkloadKind::Deployment, labels.get("pod-template-hash")?),
    };
    let name = replica_set.strip_suffix(&format!("-{hash}"))?;
    Some((kind, name.to_string()))
}

/// A workload's uid, for Events about it (`kubectl describe` finds them by uid); None when it
/// cannot be read.
pub async fn uid(conn: &Connection, id: &WorkloadId) -> Option<String> {
    let client = conn.client.clone();
    let ns = &id.namespace;
    match id.kind {
        WorkloadKind::Deployment => uid_of(Api::<Deployment>::namespaced(client, ns), &id.name).await,
        WorkloadKind::StatefulSet => uid_of(Api::<StatefulSet>::namespaced(client, ns), &id.name).await,
        WorkloadKind::DaemonSet => uid_of(Api::<DaemonSet>::namespaced(client, ns), &id.name).await,
        WorkloadKind::Rollout => super::argo::uid(conn, id).await,
        _ => None,
    }
}

async fn uid_of<K>(api: Api<K>, name: &str) -> Option<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.get_metadata(name).await.ok()?.metadata.uid
}

/// Wait until each pod (name, uid) is gone or replaced, or `until` passes. One watch of the
/// namespace's pod metadata: the wait ends as the last deletion is seen (polling each pod in
/// turn, then sleeping, ended up to half a second later with fifty of them).
pub async fn wait_gone(conn: &Connection, namespace: &str, pods: &[(String, String)], until: Timestamp) -> Result<()> {
    let Ok(left) = std::time::Duration::try_from(until.duration_since(Timestamp::now())) else {
        return Ok(());
    };
    let api = Api::<PartialObjectMeta<Pod>>::namespaced(conn.client.clone(), namespace);
    let action = Action::new("watch", "pods", &Scope::Namespace(namespace.into()));
    let mut remaining: BTreeSet<&str> = pods.iter().map(|(_, uid)| uid.as_str()).collect();
    // The uids of a (re)listing: a pod it leaves out was deleted meanwhile.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    let uid = |meta: &kube::api::ObjectMeta| meta.uid.clone().unwrap_or_default();
    let watch = async {
        while !remaining.is_empty() {
            match events.next().await {
                Some(Ok(watcher::Event::Delete(pod))) => {
                    remaining.remove(uid(&pod.metadata).as_str());
                }
                Some(Ok(watcher::Event::Init)) => listed.clear(),
                Some(Ok(watcher::Event::InitApply(pod))) => {
                    listed.insert(uid(&pod.metadata));
                }
                Some(Ok(watcher::Event::InitDone)) => remaining.retain(|u| listed.contains(*u)),
                Some(Ok(watcher::Event::Apply(_))) => {}
                // Retried with backoff while the API server cannot be reached; anything else
                // (no permission to watch pods) ends the wait with its reason.
                Some(Err(e)) => match watcher_error(e, conn, &action) {
                    Error::Unreachable { .. } => {}
                    other => return Err(other),
                },
                None => break,
            }
        }
        Ok(())
    };
    match tokio::time::timeout(left, watch).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// The label the StatefulSet controller puts on each pod: the revision it was made from.
const REVISION_HASH: &str = "controller-revision-hash";

/// A StatefulSet with `updateStrategy: OnDelete` never replaces its pods on a template change
/// (kubernetes#64500). After a restart (generation `generation`), do what its controller does
/// for RollingUpdate: delete its pods one at a time, highest ordinal first (counted from
/// `spec.ordinals.start`), each once the previous one's replacement from the update revision is
/// Ready. Returns false, doing nothing, for any other strategy. Each wait is a watch of the one object.
pub async fn roll_on_delete(conn: &Connection, id: &WorkloadId, generation: i64) -> Result<bool> {
    use kube::runtime::wait::await_condition;
    let scope = Scope::Namespace(id.namespace.clone());
    let sets = Api::<StatefulSet>::namespaced(conn.client.clone(), &id.namespace);
    let pods = Api::<Pod>::namespaced(conn.client.clone(), &id.namespace);
    let get = Action::new("get", "statefulsets", &scope);
    let set = retrying(|| sets.get(&id.name))
        .await
        .map_err(|e| api_error(e, &get, conn))?;
    let strategy = set.spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref());
    if strategy != Some("OnDelete") {
        return Ok(false);
    }
    // The revision the restarted template became, once the controller has seen it.
    let observed = await_condition(sets.clone(), &id.name, move |s: Option<&StatefulSet>| {
        s.and_then(|s| s.status.as_ref())
            .is_some_and(|st| st.observed_generation.unwrap_or(0) >= generation && st.update_revision.is_some())
    });
    let set = observed
        .await
        .map_err(|e| watch_error(e, conn, &get))?
        .ok_or_else(|| Error::NotFound(format!("statefulset {id} was deleted during its rollout")))?;
    let update = set.status.and_then(|s| s.update_revision).unwrap_or_default();
    let owner_uid = set.metadata.uid.unwrap_or_default();
    let replicas = set.spec.replicas.unwrap_or(1);
    // Pods are numbered from `spec.ordinals.start` (0 unless set).
    let first = set.spec.ordinals.as_ref().and_then(|o| o.start).unwrap_or(0);
    let delete = Action::new("delete", "pods", &scope);
    for ordinal in (first..first + replicas).rev() {
        let name = format!("{}-{ordinal}", id.name);
        let current = retrying(|| pods.get_opt(&name))
            .await
            .map_err(|e| api_error(e, &delete, conn))?;
        // Only a pod this StatefulSet controls is ever deleted (anchored by the owner's uid).
        if let Some(pod) = current.as_ref().filter(|p| !controlled_by(p, &owner_uid)) {
            return Err(Error::Api {
                action: format!("delete pod {}/{name}", id.namespace),
                message: format!(
                    "it is not controlled by statefulset {} (another owner, or none): not deleted; look at {}",
                    id.name,
                    pod.metadata.name.as_deref().unwrap_or_default()
                ),
            });
        }
        let old_uid = match &current {
            Some(pod) if revision_of(pod) == Some(update.as_str()) => None,
            Some(pod) => pod.metadata.uid.clone(),
            None => None,
        };
        if let Some(uid) = &old_uid {
            let params = kube::api::DeleteParams {
                preconditions: Some(kube::api::Preconditions {
                    uid: Some(uid.clone()),
                    resource_version: None,
                }),
                ..Default::default()
            };
            match pods.delete(&name, &params).await {
                Ok(_) => {}
                // Already gone, or replaced meanwhile: wait for the replacement below.
                Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => {}
                Err(e) => return Err(api_error(e, &delete, conn)),
            }
        }
        let wanted = update.clone();
        let replaced = await_condition(pods.clone(), &name, move |p: Option<&Pod>| {
            p.is_some_and(|p| {
                p.metadata.uid != old_uid
                    && p.metadata.deletion_timestamp.is_none()
                    && revision_of(p) == Some(wanted.as_str())
                    && pod_ready(p)
            })
        });
        replaced.await.map_err(|e| watch_error(e, conn, &delete))?;
    }
    Ok(true)
}

fn controlled_by(pod: &Pod, owner_uid: &str) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == owner_uid)
}

fn revision_of(pod: &Pod) -> Option<&str> {
    pod.metadata.labels.as_ref()?.get(REVISION_HASH).map(String::as_str)
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn watch_error(error: kube::runtime::wait::Error, conn: &Connection, action: &Action) -> Error {
    let kube::runtime::wait::Error::ProbeFailed(error) = error;
    watcher_error(error, conn, action)
}

fn watcher_error(error: watcher::Error, conn: &Connection, action: &Action) -> Error {
    match error {
        watcher::Error::InitialListFailed(e) | watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
            api_error(e, action, conn)
        }
        other => Error::Api {
            action: format!("watch {}", action.resource),
            message: other.to_string(),
        },
    }
}
