//! The read side of verify (and later list/audit/rotate): one paginated LIST per kind per
//! scope, run concurrently, never a request per pod.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;

use super::{list_mapped, Action, Connection, Scope};
use crate::core::drift::Snapshot;
use crate::core::model::{PodInfo, ReplicaSetInfo, SecretInfo, Workload};
use crate::error::Result;

/// Read Secrets, workloads, ReplicaSets and Pods of the scope. A label selector narrows the
/// workloads and pods; Secrets and ReplicaSets are always read whole (ownership, references).
pub async fn read(conn: &Connection, scope: &Scope, selector: Option<&str>) -> Result<Snapshot> {
    let all = ListParams::default();
    let selected = match selector {
        Some(s) => ListParams::default().labels(s),
        None => ListParams::default(),
    };
    let client = &conn.client;
    let (secrets, deployments, stateful_sets, daemon_sets, replica_sets, pods) = tokio::try_join!(
        // Values are dropped page by page: only key names and change times are kept.
        list_mapped(
            scope.api::<Secret>(client),
            &all,
            Action::new("list", "secrets", scope),
            conn,
            |s| SecretInfo::from(&s)
        ),
        list_mapped(
            scope.api::<Deployment>(client),
            &selected,
            Action::new("list", "deployments", scope),
            conn,
            |d| Workload::from(&d)
        ),
        list_mapped(
            scope.api::<StatefulSet>(client),
            &selected,
            Action::new("list", "statefulsets", scope),
            conn,
            |s| Workload::from(&s)
        ),
        list_mapped(
            scope.api::<DaemonSet>(client),
            &selected,
            Action::new("list", "daemonsets", scope),
            conn,
            |d| Workload::from(&d)
        ),
        list_mapped(
            scope.api::<ReplicaSet>(client),
            &all,
            Action::new("list", "replicasets", scope),
            conn,
            |r| ReplicaSetInfo::from(&r)
        ),
        list_mapped(
            scope.api::<Pod>(client),
            &selected,
            Action::new("list", "pods", scope),
            conn,
            |p| PodInfo::from(&p)
        ),
    )?;
    let workloads = deployments
        .into_iter()
        .chain(stateful_sets)
        .chain(daemon_sets)
        .collect();
    Ok(Snapshot {
        secrets,
        workloads,
        replica_sets,
        pods,
    })
}
