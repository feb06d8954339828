//! The read side of verify, list, audit and rotate: one paginated LIST per kind per scope, run
//! concurrently, never a request per pod.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DynamicObject, ListParams};

use super::{list_mapped, list_metadata_mapped, list_viewed, Action, Connection, Scope};
use crate::domain::cron;
use crate::domain::drift::Snapshot;
use crate::domain::external::ExternalSecretState;
use crate::domain::model::{ConfigMapInfo, PodInfo, PodSpecs, ReplicaSetInfo, SealedSecretInfo, SecretInfo, Workload};
use crate::domain::plan::SecretState;
use crate::error::{Error, Result};

/// Read Secrets, workloads, ReplicaSets and Pods of the scope. A label selector narrows the
/// workloads and pods; Secrets and ReplicaSets are always read whole (ownership, references).
pub async fn read(conn: &Connection, scope: &Scope, selector: Option<&str>) -> Result<Snapshot> {
    // Values are dropped page by page: only key names and change times are kept.
    let secrets = list_mapped(
        scope.api::<Secret>(&conn.client),
        ListParams::default(),
        Action::new("list", "secrets", scope),
        conn,
        |s| SecretInfo::from(&s),
    );
    let (secrets, sealed_secrets, external_secrets, cert_manager, mut snapshot) = tokio::try_join!(
        secrets,
        sealed_secrets(conn, scope),
        external_secrets(conn, scope),
        super::certificates::read(conn, scope, false),
        read_workloads(conn, scope, selector)
    )?;
    snapshot.secrets = secrets;
    snapshot.sealed_secrets = sealed_secrets;
    snapshot.external_secrets = external_secrets;
    snapshot.cert_manager = cert_manager;
    snapshot.confirm_sealed_stamps();
    if snapshot.secrets.is_empty() && snapshot.workloads.is_empty() {
        super::require_namespace(conn, scope).await?;
    }
    Ok(snapshot)
}

/// Like `read`, and also every Secret's values (for audit), from the same single LIST.
pub async fn read_with_values(conn: &Connection, scope: &Scope) -> Result<(Snapshot, Vec<SecretState>)> {
    let secrets = list_mapped(
        scope.api::<Secret>(&conn.client),
        ListParams::default(),
        Action::new("list", "secrets", scope),
        conn,
        |s| (SecretInfo::from(&s), SecretState::from(&s)),
    );
    let (pairs, external_secrets, cert_manager, mut snapshot) = tokio::try_join!(
        secrets,
        external_secrets(conn, scope),
        super::certificates::read(conn, scope, true),
        read_workloads(conn, scope, None)
    )?;
    let (infos, states) = pairs.into_iter().unzip();
    snapshot.secrets = infos;
    snapshot.external_secrets = external_secrets;
    snapshot.cert_manager = cert_manager;
    if snapshot.secrets.is_empty() && snapshot.workloads.is_empty() {
        super::require_namespace(conn, scope).await?;
    }
    Ok((snapshot, states))
}

/// SealedSecrets and their unseal status; none where the CRD is not installed (404) or the user
/// may not list them (403: verify still answers for the rest).
async fn sealed_secrets(conn: &Connection, scope: &Scope) -> Result<Vec<SealedSecretInfo>> {
    let resource = super::sealed::sealed_secret_resource();
    let api: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) => Api::namespaced_with(conn.client.clone(), ns, &resource),
        Scope::AllNamespaces => Api::all_with(conn.client.clone(), &resource),
    };
    let listed = list_mapped(
        api,
        ListParams::default(),
        Action::new("list", "sealedsecrets", scope),
        conn,
        |o| SealedSecretInfo::from_object(&o.metadata, &o.data["status"]),
    )
    .await;
    match listed {
        // No CRD (404), or no permission to list them (403): verify still answers for the rest.
        Err(Error::NotFound(_)) | Err(Error::Forbidden { .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// ExternalSecrets and their sync status; none where ESO is not installed or the user may not
/// list them (verify still answers for the rest).
async fn external_secrets(conn: &Connection, scope: &Scope) -> Result<Vec<ExternalSecretState>> {
    match super::external::list(conn, scope).await {
        Err(Error::NotFound(_)) | Err(Error::Forbidden { .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// ConfigMaps' key names (values are dropped page by page), for env precedence; None where the
/// user may not list them (verify then reads env as if no ConfigMap overrode a Secret key).
async fn config_maps(conn: &Connection, scope: &Scope) -> Result<Option<Vec<ConfigMapInfo>>> {
    let listed = list_mapped(
        scope.api::<ConfigMap>(&conn.client),
        ListParams::default(),
        Action::new("list", "configmaps", scope),
        conn,
        |c| ConfigMapInfo::from(&c),
    )
    .await;
    match listed {
        Err(Error::Forbidden { .. }) => Ok(None),
        other => other.map(Some),
    }
}

/// Deployments, StatefulSets, DaemonSets, Argo Rollouts, CronJobs, ReplicaSets, Pods and
/// ConfigMaps (no Secrets).
async fn read_workloads(conn: &Connection, scope: &Scope, selector: Option<&str>) -> Result<Snapshot> {
    let selected = match selector {
        Some(s) => ListParams::default().labels(s),
        None => ListParams::default(),
    };
    let client = &conn.client;
    let list = |resource: &'static str| Action::new("list", resource, scope);
    // CronJobs: none where the user may not list them (verify still answers for the rest).
    let cron_jobs = async {
        let listed = list_mapped(
            scope.api::<CronJob>(client),
            selected.clone(),
            list("cronjobs"),
            conn,
            |c| Workload::from(&c),
        )
        .await;
        match listed {
            Err(Error::Forbidden { .. }) | Err(Error::NotFound(_)) => Ok(Vec::new()),
            other => other,
        }
    };
    let (deployments, stateful_sets, daemon_sets, replica_sets, pods, mut cron_jobs, config_maps, rollouts) = tokio::try_join!(
        list_mapped(
            scope.api::<Deployment>(client),
            selected.clone(),
            list("deployments"),
            conn,
            |d| Workload::from(&d)
        ),
        list_mapped(
            scope.api::<StatefulSet>(client),
            selected.clone(),
            list("statefulsets"),
            conn,
            |s| Workload::from(&s)
        ),
        list_mapped(
            scope.api::<DaemonSet>(client),
            selected.clone(),
            list("daemonsets"),
            conn,
            |d| Workload::from(&d)
        ),
        // Only their owners are read: metadata is all that crosses the wire.
        list_metadata_mapped(
            scope.api::<ReplicaSet>(client),
            ListParams::default(),
            list("replicasets"),
            conn,
            |meta| ReplicaSetInfo::from(&meta)
        ),
        async {
            let mut specs = PodSpecs::default();
            list_viewed(
                scope.api::<Pod>(client),
                selected.clone(),
                list("pods"),
                conn,
                |p: PodView| {
                    let mut pod = PodInfo::from(&Pod::from(p));
                    specs.share(&mut pod);
                    pod
                },
            )
            .await
        },
        cron_jobs,
        config_maps(conn, scope),
        super::argo::list(conn, scope, selected.clone()),
    )?;
    cron::fill_next_runs(&mut cron_jobs, jiff::Timestamp::now());
    let workloads = deployments
        .into_iter()
        .chain(stateful_sets)
        .chain(daemon_sets)
        .chain(cron_jobs)
        .chain(rollouts)
        .collect();
    Ok(Snapshot {
        secrets: Vec::new(),
        workloads,
        replica_sets,
        pods,
        sealed_secrets: Vec::new(),
        external_secrets: Vec::new(),
        cert_manager: Default::default(),
        config_maps,
        vault_kv: Default::default(),
    })
}

/// A Pod as a LIST returns it, with only what `PodInfo` reads decoded: name, namespace, uid,
/// annotations, owner references, deletion time, spec and container states.
#[derive(serde::Deserialize)]
struct PodView {
    metadata: PodMetaView,
    spec: Option<k8s_openapi::api::core::v1::PodSpec>,
    status: Option<PodStatusView>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodMetaView {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    annotations: Option<std::collections::BTreeMap<String, String>>,
    owner_references: Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>,
    deletion_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    creation_timestamp: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodStatusView {
    container_statuses: Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
    init_container_statuses: Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
}

impl From<PodView> for Pod {
    fn from(view: PodView) -> Self {
        let meta = view.metadata;
        Pod {
            metadata: kube::api::ObjectMeta {
                name: meta.name,
                namespace: meta.namespace,
                uid: meta.uid,
                annotations: meta.annotations,
                owner_references: meta.owner_references,
                deletion_timestamp: meta.deletion_timestamp,
                creation_timestamp: meta.creation_timestamp,
                ..Default::default()
            },
            spec: view.spec,
            status: view.status.map(|s| k8s_openapi::api::core::v1::PodStatus {
                container_statuses: s.container_statuses,
                init_container_statuses: s.init_container_statuses,
                ..Default::default()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    /// A pod as the API server lists it: managedFields, conditions, a service account token
    /// volume named per pod, a Secret volume, env from a Secret.
    fn listed_pod(name: &str, token_volume: &str, env_secret: &str) -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": name, "namespace": "shop", "uid": format!("uid-{name}"),
                "annotations": {"kubectl-secrets.io/secret-revisions": "{\"db\":3}", "other": "x"},
                "labels": {"app": "api"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "api-5d9", "uid": "rs", "controller": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "fieldsType": "FieldsV1",
                                   "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}]
            },
            "spec": {
                "containers": [{
                    "name": "api", "image": "api",
                    "envFrom": [{"secretRef": {"name": env_secret}}],
                    "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}],
                    "volumeMounts": [{"name": "tls", "mountPath": "/tls"},
                                     {"name": token_volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
                }],
                "volumes": [{"name": "tls", "secret": {"secretName": "api-tls"}},
                            {"name": token_volume, "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]
            },
            "status": {
                "phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "api", "image": "api", "imageID": "", "ready": true, "restartCount": 0,
                                       "state": {"running": {"startedAt": "2026-11-30T10:00:00Z"}}}]
            }
        })
    }

    #[test]
    fn the_pod_view_reads_what_the_whole_pod_gives() {
        let listed = listed_pod("api-1", "kube-api-access-abcde", "api-env");
        let whole: Pod = serde_json::from_value(listed.clone()).unwrap();
        let view: PodView = serde_json::from_value(listed).unwrap();
        assert_eq!(
            format!("{:?}", PodInfo::from(&whole)),
            format!("{:?}", PodInfo::from(&Pod::from(view)))
        );
    }

    #[test]
    fn pods_of_one_template_share_their_spec_and_a_changed_pod_keeps_its_own() {
        let info = |name: &str, token: &str, env: &str| {
            let view: PodView = serde_json::from_value(listed_pod(name, token, env)).unwrap();
            PodInfo::from(&Pod::from(view))
        };
        let mut specs = PodSpecs::default();
        let (mut first, mut second, mut edited) = (
            info("api-1", "kube-api-access-abcde", "api-env"),
            info("api-2", "kube-api-access-fghij", "api-env"),
            info("api-3", "kube-api-access-klmno", "injected-env"),
        );
        for pod in [&mut first, &mut second, &mut edited] {
            specs.share(pod);
        }
        assert!(
            Arc::ptr_eq(&first.spec, &second.spec),
            "the token volume's name differs per pod"
        );
        assert!(!Arc::ptr_eq(&first.spec, &edited.spec));
        assert_eq!(
            first.spec.containers[0].mounts.len(),
            1,
            "only the Secret volume's mount is kept"
        );
        assert_eq!(first.spec.containers[0].mounts[0].volume, "tls");
    }
}
