//! Restarting workloads (what `kubectl rollout restart` does, plus the Secret revisions the new
//! pods are started for) and watching their rollouts: one watch per kind for the namespace.

use std::collections::BTreeMap;

use futures::{Stream, StreamExt};
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
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
) -> Result<i64> {
    let patch = json!({"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: at.to_string(),
        annotations::POD_SECRET_REVISIONS: serde_json::to_string(revisions).expect("map serialises"),
    }}}}});
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
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

/// Watch the Deployments, StatefulSets, DaemonSets and Pods of a namespace as one stream.
pub fn watch(conn: &Connection, namespace: &str) -> impl Stream<Item = Result<Observation>> + Send + 'static {
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
                    let owner = rollout::pod_owner(&pod, |rs| deployment_of_replica_set(&pod, rs))?;
                    let created = pod.metadata.creation_timestamp.as_ref().map(|t| t.0);
                    Some(Ok(Observation::FailingPod { owner, created, reason }))
                }
            }
        })
        .boxed();
    futures::stream::select_all([deployments, stateful_sets, daemon_sets, pods]).map(move |item| {
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
/// that hash as a label: no extra request is needed to find the Deployment.
fn deployment_of_replica_set(pod: &Pod, replica_set: &str) -> Option<String> {
    let hash = pod.metadata.labels.as_ref()?.get("pod-template-hash")?;
    replica_set.strip_suffix(&format!("-{hash}")).map(str::to_string)
}

/// A workload's uid, for Events about it (`kubectl describe` finds them by uid); None when it
/// cannot be read.
pub async fn uid(conn: &Connection, id: &WorkloadId) -> Option<String> {
    let client = conn.client.clone();
    let ns = &id.namespace;
    let name = &id.name;
    match id.kind {
        WorkloadKind::Deployment => {
            Api::<Deployment>::namespaced(client, ns)
                .get_metadata(name)
                .await
                .ok()?
                .metadata
                .uid
        }
        WorkloadKind::StatefulSet => {
            Api::<StatefulSet>::namespaced(client, ns)
                .get_metadata(name)
                .await
                .ok()?
                .metadata
                .uid
        }
        WorkloadKind::DaemonSet => {
            Api::<DaemonSet>::namespaced(client, ns)
                .get_metadata(name)
                .await
                .ok()?
                .metadata
                .uid
        }
        _ => None,
    }
}
