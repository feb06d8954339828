//! Reading and writing Secrets for a change: every write carries the resourceVersion it was
//! planned against (409 means someone else changed it: nothing is overwritten), and the
//! previous data is saved as a backup Secret first.

use std::collections::BTreeMap;

use base64::Engine as _;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::ByteString;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde_json::{json, Map, Value};

use super::{api_error, list_mapped, Action, Connection, Scope};
use crate::core::annotations;
use crate::core::history::BackupRevision;
use crate::core::plan::{Journal, SecretState};
use crate::core::secret_value::SecretValue;
use crate::core::versioned;
use crate::error::{Error, Result};

/// Field manager for every write, so managedFields show who changed what.
pub const FIELD_MANAGER: &str = "kubectl-secrets";

fn api(conn: &Connection, namespace: &str) -> Api<Secret> {
    Api::namespaced(conn.client.clone(), namespace)
}

pub async fn get(conn: &Connection, namespace: &str, name: &str) -> Result<SecretState> {
    get_object(conn, namespace, name).await.map(|s| SecretState::from(&s))
}

/// A Secret as the API returns it (values included), for comparisons.
pub async fn get_object(conn: &Connection, namespace: &str, name: &str) -> Result<Secret> {
    // A name with '/' would address another URL: refuse it before any request.
    crate::core::plan::check_object_name("Secret", name).map_err(Error::Usage)?;
    crate::core::plan::check_object_name("namespace", namespace).map_err(Error::Usage)?;
    let scope = Scope::Namespace(namespace.into());
    match api(conn, namespace).get(name).await {
        Ok(secret) => Ok(secret),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(Error::SecretNotFound {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(e) => Err(api_error(e, &Action::new("get", "secrets", &scope), conn)),
    }
}

/// Every Secret of a scope, values included, mapped page by page.
pub async fn list_objects<T>(conn: &Connection, scope: &Scope, map: impl FnMut(Secret) -> T) -> Result<Vec<T>> {
    list_mapped(
        scope.api::<Secret>(&conn.client),
        ListParams::default(),
        Action::new("list", "secrets", scope),
        conn,
        map,
    )
    .await
}

/// Every Secret of the namespace with its values (for --propagate).
pub async fn list_with_values(conn: &Connection, namespace: &str) -> Result<Vec<SecretState>> {
    let scope = Scope::Namespace(namespace.into());
    list_mapped(
        api(conn, namespace),
        ListParams::default(),
        Action::new("list", "secrets", &scope),
        conn,
        |s| SecretState::from(&s),
    )
    .await
}

/// Annotations a change stamps on the Secret (times and revisions only, never a value).
pub struct Stamp<'a> {
    pub revision: u64,
    pub rotation_id: &'a str,
    pub changed_by: &'a str,
    pub at: Timestamp,
    /// What to do with the rotation journal annotation in the same write.
    pub journal: JournalUpdate<'a>,
}

pub enum JournalUpdate<'a> {
    Keep,
    Write(&'a Journal),
    Clear,
}

fn journal_value(update: &JournalUpdate) -> Option<Value> {
    match update {
        JournalUpdate::Keep => None,
        JournalUpdate::Write(journal) => Some(Value::String(
            serde_json::to_string(journal).expect("journal serialises"),
        )),
        JournalUpdate::Clear => Some(Value::Null),
    }
}

/// Replace the data of `before` by `after` (keys absent from `after` are removed), only if the
/// Secret is still at `before`'s resourceVersion. Returns the new resourceVersion.
pub async fn write_data(
    conn: &Connection,
    before: &SecretState,
    expected_resource_version: &str,
    after: &BTreeMap<String, SecretValue>,
    stamp: &Stamp<'_>,
) -> Result<String> {
    let mut data = Map::new();
    for key in before.data.keys().filter(|k| !after.contains_key(*k)) {
        data.insert(key.clone(), Value::Null);
    }
    for (key, value) in after {
        data.insert(
            key.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(value.expose())),
        );
    }
    let mut annotations = json!({
        annotations::REVISION: stamp.revision.to_string(),
        // Whole seconds, like every other time the API server records.
        annotations::ROTATED_AT: Timestamp::from_second(stamp.at.as_second()).unwrap_or(stamp.at).to_string(),
        annotations::ROTATION_ID: stamp.rotation_id,
        annotations::CHANGED_BY: stamp.changed_by,
    });
    if before.has_last_applied {
        annotations[annotations::LAST_APPLIED] = Value::Null;
    }
    if let Some(journal) = journal_value(&stamp.journal) {
        annotations[annotations::JOURNAL] = journal;
    }
    let added_at = versioned::added_times(before, after, stamp.at);
    if added_at != before.versions_added_at {
        annotations[annotations::VERSIONS_ADDED_AT] = if added_at.is_empty() {
            Value::Null
        } else {
            Value::String(serde_json::to_string(&added_at).expect("times serialise"))
        };
    }
    let patch = json!({
        "metadata": {"resourceVersion": expected_resource_version, "annotations": annotations},
        "data": data,
    });
    let scope = Scope::Namespace(before.namespace.clone());
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api(conn, &before.namespace)
        .patch(&before.name, &params, &Patch::Merge(patch))
        .await
    {
        Ok(secret) => Ok(secret.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Conflict {
            namespace: before.namespace.clone(),
            name: before.name.clone(),
        }),
        Err(e) => Err(api_error(e, &Action::new("patch", "secrets", &scope), conn)),
    }
}

/// Set or clear the journal annotation alone.
pub async fn update_journal(conn: &Connection, namespace: &str, name: &str, update: &JournalUpdate<'_>) -> Result<()> {
    let Some(value) = journal_value(update) else {
        return Ok(());
    };
    let patch = json!({"metadata": {"annotations": {annotations::JOURNAL: value}}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    let scope = Scope::Namespace(namespace.into());
    api(conn, namespace)
        .patch(name, &params, &Patch::Merge(patch))
        .await
        .map_err(|e| api_error(e, &Action::new("patch", "secrets", &scope), conn))?;
    Ok(())
}

/// Save `secret`'s current data as a backup Secret (same namespace, same RBAC), owned by it so
/// that deleting the Secret deletes its backups. Returns the backup's name.
pub async fn create_backup(
    conn: &Connection,
    secret: &SecretState,
    name: &str,
    rotation_id: &str,
    keys_changed: &[String],
    replaced_by: &str,
) -> Result<String> {
    let label_value = truncate_label(&secret.name);
    let mut annotations = BTreeMap::from([
        (annotations::BACKUP_OF.to_string(), secret.name.clone()),
        (annotations::REVISION.to_string(), secret.revision.to_string()),
        (annotations::ROTATION_ID.to_string(), rotation_id.to_string()),
        (annotations::KEYS_CHANGED.to_string(), keys_changed.join(",")),
        (annotations::REPLACED_BY.to_string(), replaced_by.to_string()),
    ]);
    // When and by what the saved revision itself was written, if kubectl-secrets wrote it.
    if let Some(at) = secret.rotated_at {
        annotations.insert(annotations::ROTATED_AT.to_string(), at.to_string());
    }
    if let Some(by) = &secret.changed_by {
        annotations.insert(annotations::CHANGED_BY.to_string(), by.clone());
    }
    let backup = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(secret.namespace.clone()),
            labels: Some(BTreeMap::from([(annotations::BACKUP_OF.to_string(), label_value)])),
            annotations: Some(annotations),
            owner_references: Some(vec![OwnerReference {
                api_version: "v1".into(),
                kind: "Secret".into(),
                name: secret.name.clone(),
                uid: secret.uid.clone(),
                controller: None,
                block_owner_deletion: None,
            }]),
            ..Default::default()
        },
        type_: Some(secret.type_.clone()),
        data: Some(
            secret
                .data
                .iter()
                .map(|(k, v)| (k.clone(), ByteString(v.expose().to_vec())))
                .collect(),
        ),
        ..Default::default()
    };
    let scope = Scope::Namespace(secret.namespace.clone());
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    api(conn, &secret.namespace)
        .create(&params, &backup)
        .await
        .map_err(|e| api_error(e, &Action::new("create", "secrets", &scope), conn))?;
    Ok(name.into())
}

/// Label values are at most 63 characters; the annotation keeps the full name.
fn truncate_label(name: &str) -> String {
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

/// Backups of `secret`, newest (highest revision) first.
pub async fn backups_of(conn: &Connection, namespace: &str, secret: &str) -> Result<Vec<BackupRevision>> {
    let scope = Scope::Namespace(namespace.into());
    let params = ListParams::default().labels(&format!("{}={}", annotations::BACKUP_OF, truncate_label(secret)));
    let mut backups = list_mapped(
        api(conn, namespace),
        params,
        Action::new("list", "secrets", &scope),
        conn,
        |s| {
            let full_name = s
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(annotations::BACKUP_OF))
                .cloned();
            (full_name, BackupRevision::from(&s))
        },
    )
    .await?
    .into_iter()
    .filter(|(full, _)| full.as_deref() == Some(secret))
    .map(|(_, backup)| backup)
    .collect::<Vec<_>>();
    backups.sort_by(|a, b| b.revision.cmp(&a.revision).then(b.saved_at.cmp(&a.saved_at)));
    Ok(backups)
}

pub async fn delete(conn: &Connection, namespace: &str, name: &str) -> Result<()> {
    let scope = Scope::Namespace(namespace.into());
    api(conn, namespace)
        .delete(name, &DeleteParams::default())
        .await
        .map_err(|e| api_error(e, &Action::new("delete", "secrets", &scope), conn))?;
    Ok(())
}

/// A Secret and its backups, read together (history, rollback).
pub async fn with_backups(
    conn: &Connection,
    namespace: &str,
    name: &str,
) -> Result<(SecretState, Vec<BackupRevision>)> {
    tokio::try_join!(get(conn, namespace, name), backups_of(conn, namespace, name))
}

/// Keep the newest `keep` backups of `secret`, delete the rest.
pub async fn prune_backups(conn: &Connection, namespace: &str, secret: &str, keep: usize) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for old in backups_of(conn, namespace, secret).await?.into_iter().skip(keep) {
        delete(conn, namespace, &old.name).await?;
        deleted.push(old.name);
    }
    Ok(deleted)
}
