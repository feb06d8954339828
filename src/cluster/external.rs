//! External Secrets Operator objects: ExternalSecrets (read, annotated to force a sync) and the
//! (Cluster)SecretStores they read from. Served as external-secrets.io/v1 by ESO 0.16 and
//! later; v1beta1 is tried when a cluster's ESO is older.

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::json;

use super::{api_error, list_mapped, retrying, Action, Connection, Scope};
use crate::domain::annotations;
use crate::domain::external::{self, ExternalSecretState, Provider, StoreRef};
use crate::error::{Error, Result};

const GROUP: &str = "external-secrets.io";
const VERSIONS: [&str; 2] = ["v1", "v1beta1"];

fn resource(version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, version, kind), plural)
}

/// GET of a namespaced or cluster object, trying each served version; None when absent.
async fn get_object(
    conn: &Connection,
    namespace: Option<&str>,
    kind: &str,
    plural: &'static str,
    name: &str,
) -> Result<Option<DynamicObject>> {
    let scope = namespace.map_or(Scope::AllNamespaces, |ns| Scope::Namespace(ns.into()));
    for version in VERSIONS {
        let resource = resource(version, kind, plural);
        let api: Api<DynamicObject> = match namespace {
            Some(ns) => Api::namespaced_with(conn.client.clone(), ns, &resource),
            None => Api::all_with(conn.client.clone(), &resource),
        };
        match retrying(|| api.get(name)).await {
            Ok(object) => return Ok(Some(object)),
            // 404 is "no such object" or "no such version": try the older version.
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => return Err(api_error(e, &Action::new("get", plural, &scope), conn)),
        }
    }
    Ok(None)
}

pub async fn get(conn: &Connection, namespace: &str, name: &str) -> Result<ExternalSecretState> {
    let object = get_object(conn, Some(namespace), "ExternalSecret", "externalsecrets", name)
        .await?
        .ok_or_else(|| Error::NotFound(format!("ExternalSecret {namespace}/{name} does not exist")))?;
    Ok(external::parse_external_secret(
        &serde_json::to_value(&object).unwrap_or_default(),
    ))
}

/// The provider of the store an ExternalSecret reads from.
pub async fn provider(conn: &Connection, namespace: &str, store: &StoreRef) -> Result<Provider> {
    let object = match store.kind.as_str() {
        "ClusterSecretStore" => {
            get_object(conn, None, "ClusterSecretStore", "clustersecretstores", &store.name).await?
        }
        _ => get_object(conn, Some(namespace), "SecretStore", "secretstores", &store.name).await?,
    };
    let object = object.ok_or_else(|| {
        Error::NotFound(format!(
            "{} does not exist{} (the ExternalSecret's spec.secretStoreRef names it: create it, or fix the reference)",
            store.describe(),
            if store.kind == "ClusterSecretStore" {
                String::new()
            } else {
                format!(" in namespace {namespace}")
            }
        ))
    })?;
    Ok(external::parse_provider(
        &serde_json::to_value(&object).unwrap_or_default(),
    ))
}

/// The provider of each store the ExternalSecrets read (None where the store cannot be read:
/// missing, or not the operator's to read); each store read once, a few at a time.
pub async fn providers_of(
    conn: &Connection,
    all: &[ExternalSecretState],
) -> std::collections::BTreeMap<external::StoreKey, Option<Provider>> {
    use futures::StreamExt as _;
    let stores: std::collections::BTreeMap<external::StoreKey, &ExternalSecretState> =
        all.iter().map(|es| (external::store_key(es), es)).collect();
    futures::stream::iter(stores)
        .map(|(key, es)| async move { (key, provider(conn, &es.namespace, &es.store).await.ok()) })
        .buffer_unordered(8)
        .collect()
        .await
}

/// Ask ESO to sync now: a new value of its force-sync annotation (any annotation change makes
/// it refresh). Returns the ExternalSecret as written.
pub async fn force_sync(conn: &Connection, namespace: &str, name: &str, token: &str) -> Result<ExternalSecretState> {
    let patch = json!({"metadata": {"annotations": {external::FORCE_SYNC: token}}});
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
        ..Default::default()
    };
    let scope = Scope::Namespace(namespace.into());
    for version in VERSIONS {
        let api: Api<DynamicObject> = Api::namespaced_with(
            conn.client.clone(),
            namespace,
            &resource(version, "ExternalSecret", "externalsecrets"),
        );
        let merge = Patch::Merge(&patch);
        match retrying(|| api.patch(name, &params, &merge)).await {
            Ok(object) => {
                return Ok(external::parse_external_secret(
                    &serde_json::to_value(&object).unwrap_or_default(),
                ))
            }
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => return Err(api_error(e, &Action::new("patch", "externalsecrets", &scope), conn)),
        }
    }
    Err(Error::NotFound(format!(
        "ExternalSecret {namespace}/{name} does not exist"
    )))
}

/// Every ExternalSecret in scope (verify, list, audit); empty where ESO is not installed.
/// The ExternalSecret API in each version External Secrets serves, newest first.
pub fn external_secret_resources() -> Vec<ApiResource> {
    VERSIONS
        .iter()
        .map(|version| resource(version, "ExternalSecret", "externalsecrets"))
        .collect()
}

pub async fn list(conn: &Connection, scope: &Scope) -> Result<Vec<ExternalSecretState>> {
    for version in VERSIONS {
        let resource = resource(version, "ExternalSecret", "externalsecrets");
        let api: Api<DynamicObject> = match scope {
            Scope::Namespace(ns) => Api::namespaced_with(conn.client.clone(), ns, &resource),
            Scope::AllNamespaces => Api::all_with(conn.client.clone(), &resource),
        };
        let listed = list_mapped(
            api,
            kube::api::ListParams::default(),
            Action::new("list", "externalsecrets", scope),
            conn,
            |o| external::parse_external_secret(&serde_json::to_value(&o).unwrap_or_default()),
        )
        .await;
        match listed {
            Ok(all) => return Ok(all),
            Err(Error::NotFound(_)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(Vec::new())
}
