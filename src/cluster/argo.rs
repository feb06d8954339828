//! Argo Rollouts objects: Rollouts listed as workloads, restarted through their pod template,
//! watched, and promoted the way `kubectl argo rollouts promote` does (a merge patch of the
//! status subresource).

use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use serde_json::{json, Value};

use super::{api_error, list_mapped, retrying, Action, Connection, Scope};
use crate::domain::annotations;
use crate::domain::argo;
use crate::domain::model::{Workload, WorkloadId, WorkloadKind};
use crate::domain::rollout::RolloutStatus;
use crate::error::{Error, Result};

pub fn resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(argo::GROUP, argo::VERSION, argo::KIND),
        argo::PLURAL,
    )
}

fn api(conn: &Connection, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &resource())
}

/// The Rollouts of the scope as workloads; none where Argo Rollouts is not installed (404) or
/// the user may not list them (403: verify still answers for the rest).
pub async fn list(conn: &Connection, scope: &Scope, params: ListParams) -> Result<Vec<Workload>> {
    let api: Api<DynamicObject> = match scope {
        Scope::Namespace(ns) => api(conn, ns),
        Scope::AllNamespaces => Api::all_with(conn.client.clone(), &resource()),
    };
    let listed = list_mapped(api, params, Action::new("list", argo::PLURAL, scope), conn, |o| {
        argo::workload(&o.metadata, &o.data)
    })
    .await;
    match listed {
        Err(Error::NotFound(_)) | Err(Error::Forbidden { .. }) => Ok(Vec::new()),
        other => other,
    }
}

/// Merge-patch a Rollout (the pod template, for a restart); returns its generation after it.
pub async fn patch(conn: &Connection, id: &WorkloadId, patch: &Value) -> Result<i64> {
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
        dry_run: conn.server_dry_run,
        ..Default::default()
    };
    let rollouts = api(conn, &id.namespace);
    let patch = Patch::Merge(patch);
    retrying(|| rollouts.patch(&id.name, &params, &patch))
        .await
        .map(|o| o.metadata.generation.unwrap_or(0))
        .map_err(|e| {
            api_error(
                e,
                &Action::new("patch", argo::PLURAL, &Scope::Namespace(id.namespace.clone())),
                conn,
            )
        })
}

/// Continue a Rollout paused at a step or before its blue-green promotion: what
/// `kubectl argo rollouts promote` does (clears the pause conditions). `full` promotes to the
/// end at once, skipping the remaining steps, pauses and analysis (`promote --full`).
pub async fn promote(conn: &Connection, id: &WorkloadId, full: bool) -> Result<()> {
    let status = if full {
        json!({"status": {"promoteFull": true}})
    } else {
        json!({"status": {"pauseConditions": null}})
    };
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
        ..Default::default()
    };
    let rollouts = api(conn, &id.namespace);
    let patch = Patch::Merge(&status);
    retrying(|| rollouts.patch_status(&id.name, &params, &patch))
        .await
        .map(|_| ())
        .map_err(|e| {
            api_error(
                e,
                &Action::new("patch", "rollouts/status", &Scope::Namespace(id.namespace.clone())),
                conn,
            )
        })
}

/// A Rollout's uid, for Events about it.
pub async fn uid(conn: &Connection, id: &WorkloadId) -> Option<String> {
    api(conn, &id.namespace).get_metadata(&id.name).await.ok()?.metadata.uid
}

/// The Rollouts of a namespace, as (id, status) whenever one changes.
pub fn watch(
    conn: &Connection,
    namespace: &str,
) -> impl Stream<Item = std::result::Result<(WorkloadId, RolloutStatus), watcher::Error>> + Send + 'static {
    watcher(api(conn, namespace), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .map(|o| {
            o.map(|o| {
                let id = WorkloadId {
                    namespace: o.metadata.namespace.clone().unwrap_or_default(),
                    kind: WorkloadKind::Rollout,
                    name: o.metadata.name.clone().unwrap_or_default(),
                };
                (id, argo::status(&o.metadata, &o.data))
            })
        })
}

/// What the cluster says of an Argo CD Application named by a Secret's instance label.
pub enum ApplicationLookup {
    /// Listed by the Application in this namespace.
    Listed { app_namespace: String },
    /// Argo CD is not installed, or no Application of that name lists the Secret.
    NotListed,
    /// Applications could not be listed (the reason).
    Unknown(String),
}

/// Whether the cluster serves Argo CD's Application API (discovery, which every authenticated
/// user may read): where it does not, a user who may not list Applications is not warned
/// about something that cannot be. An unclear answer counts as served (the LIST then says).
pub async fn applications_served(conn: &Connection) -> bool {
    let (group, version, _, plural) = crate::domain::gitops::ARGO_APPLICATION;
    match conn
        .client
        .list_api_group_resources(&format!("{group}/{version}"))
        .await
    {
        Ok(list) => list.resources.iter().any(|r| r.name == plural),
        Err(kube::Error::Api(status)) if status.code == 404 => false,
        Err(_) => true,
    }
}

/// Whether an Argo CD Application named `app`, in any namespace, lists the Secret
/// `namespace/name` among its resources (ask `applications_served` first).
pub async fn application_listing(conn: &Connection, app: &str, namespace: &str, name: &str) -> ApplicationLookup {
    use crate::domain::gitops::{argo_listed, ARGO_APPLICATION};
    let (group, version, kind, plural) = ARGO_APPLICATION;
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    let api: Api<DynamicObject> = Api::all_with(conn.client.clone(), &resource);
    let params = ListParams::default().fields(&format!("metadata.name={app}"));
    match retrying(|| api.list(&params)).await {
        Ok(list) => list
            .items
            .iter()
            .find(|a| argo_listed(&a.data, namespace, name))
            .map_or(ApplicationLookup::NotListed, |a| ApplicationLookup::Listed {
                app_namespace: a.metadata.namespace.clone().unwrap_or_default(),
            }),
        Err(kube::Error::Api(status)) if status.code == 404 => ApplicationLookup::NotListed,
        Err(e) => {
            let action = Action::new("list", plural, &Scope::AllNamespaces);
            ApplicationLookup::Unknown(api_error(e, &action, conn).to_string())
        }
    }
}
