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

use super::{api_error, list_mapped, retrying, Action, Connection, Scope};
use crate::domain::annotations::{self, FIELD_MANAGER, JOURNAL_FIELD_MANAGER};
use crate::domain::history::BackupRevision;
use crate::domain::journal::{self, Journal, RecordedBackup};
use crate::domain::key_changes::{self, KeyChanges};
use crate::domain::plan::SecretState;
use crate::domain::secret_value::SecretValue;
use crate::domain::versioned;
use crate::error::{Error, Result};

fn api(conn: &Connection, namespace: &str) -> Api<Secret> {
    Api::namespaced(conn.client.clone(), namespace)
}

pub async fn get(conn: &Connection, namespace: &str, name: &str) -> Result<SecretState> {
    get_object(conn, namespace, name).await.map(|s| SecretState::from(&s))
}

/// A Secret as the API returns it (values included), for comparisons. Not there: a missing
/// namespace is said as such ("namespace X not found"), else SecretNotFound.
pub async fn get_object(conn: &Connection, namespace: &str, name: &str) -> Result<Secret> {
    match find_object(conn, namespace, name).await? {
        Some(secret) => Ok(secret),
        None => {
            super::require_namespace(conn, &Scope::Namespace(namespace.into())).await?;
            Err(Error::SecretNotFound {
                namespace: namespace.into(),
                name: name.into(),
            })
        }
    }
}

/// The Secret if it exists: for probes of names the tool itself recorded (a journal's Secrets
/// and backups), where absence is an answer and the namespace is known to exist.
pub async fn find_object(conn: &Connection, namespace: &str, name: &str) -> Result<Option<Secret>> {
    // A name with '/' would address another URL: refuse it before any request.
    crate::domain::plan::check_object_name("Secret", name).map_err(Error::Usage)?;
    crate::domain::plan::check_object_name("namespace", namespace).map_err(Error::Usage)?;
    let scope = Scope::Namespace(namespace.into());
    let api = api(conn, namespace);
    match retrying(|| api.get(name)).await {
        Ok(secret) => Ok(Some(secret)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
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

/// The names of the Secrets a label selector picks in a namespace (a metadata LIST: no value
/// is transferred; kubectl-secrets' own backups never count).
/// (namespace, name) of every Secret of `scope` that `selector` selects (metadata only).
pub async fn selected_in(
    conn: &Connection,
    scope: &Scope,
    selector: &str,
) -> Result<std::collections::BTreeSet<(String, String)>> {
    let listed = super::list_metadata_mapped(
        scope.api::<Secret>(&conn.client),
        ListParams::default().labels(selector),
        Action::new("list", "secrets", scope),
        conn,
        |meta| (meta.namespace.unwrap_or_default(), meta.name.unwrap_or_default()),
    )
    .await?;
    Ok(listed.into_iter().collect())
}

pub async fn names_selected(conn: &Connection, namespace: &str, selector: &str) -> Result<Vec<String>> {
    let scope = Scope::Namespace(namespace.into());
    let listed = super::list_metadata_mapped(
        api(conn, namespace),
        ListParams::default().labels(selector),
        Action::new("list", "secrets", &scope),
        conn,
        |meta| {
            let is_backup = meta
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(annotations::BACKUP_OF));
            (!is_backup).then(|| meta.name.unwrap_or_default())
        },
    )
    .await?;
    let mut names: Vec<String> = listed.into_iter().flatten().collect();
    if names.is_empty() {
        super::require_namespace(conn, &scope).await?;
    }
    names.sort();
    Ok(names)
}

/// Annotations a change stamps on the Secret with its data (times and revisions only, never
/// a value), and the bookkeeping written in the same request.
pub struct Stamp<'a> {
    pub revision: u64,
    pub rotation_id: &'a str,
    pub changed_by: &'a str,
    pub at: Timestamp,
    /// What to do with the journal annotation in the same write.
    pub journal: JournalUpdate<'a>,
    /// The Secret's backup record after this write (None: unchanged).
    pub record: Option<&'a [RecordedBackup]>,
    /// When each key last changed, after this write (None: the record is left as it is, and
    /// stops being trusted once the revision moves past it).
    pub key_changes: Option<&'a KeyChanges>,
    /// For a Secret of a change whose journal is on another Secret: that Secret's name.
    pub journal_on: Option<&'a str>,
}

pub enum JournalUpdate<'a> {
    Keep,
    Write(&'a Journal),
    Clear,
}

fn journal_value(update: &JournalUpdate) -> Option<Value> {
    match update {
        JournalUpdate::Keep => None,
        JournalUpdate::Write(j) => Some(Value::String(journal::journal_text(j))),
        JournalUpdate::Clear => Some(Value::Null),
    }
}

/// The stamp annotations as a JSON object (also written into a SealedSecret's template).
pub fn stamp_annotations(stamp: &Stamp) -> Map<String, Value> {
    let mut annotations = Map::new();
    annotations.insert(annotations::REVISION.into(), json!(stamp.revision.to_string()));
    // Whole seconds, like every other time the API server records.
    let at = Timestamp::from_second(stamp.at.as_second()).unwrap_or(stamp.at);
    annotations.insert(annotations::ROTATED_AT.into(), json!(at.to_string()));
    annotations.insert(annotations::ROTATION_ID.into(), json!(stamp.rotation_id));
    annotations.insert(annotations::CHANGED_BY.into(), json!(stamp.changed_by));
    if let Some(changes) = stamp.key_changes {
        annotations.insert(annotations::KEY_CHANGES.into(), json!(key_changes::text(changes)));
    }
    annotations.insert(
        annotations::JOURNAL_ON.into(),
        stamp.journal_on.map_or(Value::Null, |anchor| json!(anchor)),
    );
    annotations
}

fn params(conn: &Connection, manager: &str) -> PatchParams {
    PatchParams {
        field_manager: Some(manager.into()),
        dry_run: conn.server_dry_run,
        ..Default::default()
    }
}

/// Replace the data of `before` by `after` (keys absent from `after` are removed), with the
/// stamp, journal and record in the same request, only if the Secret is still at `before`'s
/// resourceVersion. A 409 is a conflict unless the Secret already holds this very write (an
/// earlier attempt landed but its answer was lost). Returns the new resourceVersion.
pub async fn write_data(
    conn: &Connection,
    before: &SecretState,
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
    let mut annotations = stamp_annotations(stamp);
    if before.has_last_applied {
        annotations.insert(annotations::LAST_APPLIED.into(), Value::Null);
    }
    if let Some(journal) = journal_value(&stamp.journal) {
        annotations.insert(annotations::JOURNAL.into(), journal);
    }
    if let Some(record) = stamp.record {
        annotations.insert(annotations::BACKUPS.into(), json!(journal::record_text(record)));
    }
    let added_at = versioned::added_times(before, after, stamp.at);
    if added_at != before.versions_added_at {
        let value = if added_at.is_empty() {
            Value::Null
        } else {
            Value::String(serde_json::to_string(&added_at).expect("times serialise"))
        };
        annotations.insert(annotations::VERSIONS_ADDED_AT.into(), value);
    }
    let patch = json!({
        "metadata": {"resourceVersion": before.resource_version, "annotations": annotations},
        "data": data,
    });
    let scope = Scope::Namespace(before.namespace.clone());
    let api = api(conn, &before.namespace);
    let params = params(conn, FIELD_MANAGER);
    let patch = Patch::Merge(&patch);
    match retrying(|| api.patch(&before.name, &params, &patch)).await {
        Ok(secret) => Ok(secret.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let now = get(conn, &before.namespace, &before.name).await?;
            if now.rotation_id.as_deref() == Some(stamp.rotation_id) && now.revision == stamp.revision {
                Ok(now.resource_version)
            } else {
                Err(Error::Conflict {
                    namespace: before.namespace.clone(),
                    name: before.name.clone(),
                })
            }
        }
        Err(e) => Err(api_error(e, &Action::new("patch", "secrets", &scope), conn)),
    }
}

/// Set or clear the journal annotation alone (under its own field manager, so managedFields
/// keep the time of the last data change), only if the Secret is still at `expected`.
pub async fn update_journal(
    conn: &Connection,
    namespace: &str,
    name: &str,
    expected: &str,
    update: &JournalUpdate<'_>,
) -> Result<String> {
    let Some(value) = journal_value(update) else {
        return Ok(expected.to_string());
    };
    let patch = json!({"metadata": {"resourceVersion": expected, "annotations": {annotations::JOURNAL: value}}});
    patch_metadata(conn, namespace, name, &patch).await
}

/// Replace the backup record alone (pruning), only if the Secret is still at `expected`.
pub async fn set_record(conn: &Connection, secret: &SecretState, record: &[RecordedBackup]) -> Result<String> {
    let value = if record.is_empty() {
        Value::Null
    } else {
        json!(journal::record_text(record))
    };
    let patch = json!({"metadata": {
        "resourceVersion": secret.resource_version,
        "annotations": {annotations::BACKUPS: value}
    }});
    patch_metadata(conn, &secret.namespace, &secret.name, &patch).await
}

/// Record that the "safe to revoke" of `revision` was said (so verify does not repeat it); a
/// note only, under the journal's field manager (the data's managedFields time is untouched).
pub async fn note_revocation_said(conn: &Connection, namespace: &str, name: &str, revision: u64) -> Result<()> {
    let patch = json!({"metadata": {"annotations": {annotations::REVOCATION_SAID: revision.to_string()}}});
    patch_metadata(conn, namespace, name, &patch).await.map(|_| ())
}

async fn patch_metadata(conn: &Connection, namespace: &str, name: &str, patch: &Value) -> Result<String> {
    let scope = Scope::Namespace(namespace.into());
    let api = api(conn, namespace);
    let params = params(conn, JOURNAL_FIELD_MANAGER);
    let patch = Patch::Merge(patch);
    match retrying(|| api.patch(name, &params, &patch)).await {
        Ok(secret) => Ok(secret.metadata.resource_version.unwrap_or_default()),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Conflict {
            namespace: namespace.into(),
            name: name.into(),
        }),
        Err(e) => Err(api_error(e, &Action::new("patch", "secrets", &scope), conn)),
    }
}

/// A backup just made: its name and uid, for the Secret's record.
pub struct CreatedBackup {
    pub name: String,
    pub uid: String,
}

/// Save `secret`'s current data as a backup Secret (same namespace, same RBAC), owned by it so
/// that deleting the Secret deletes its backups. A name already taken is this same backup only
/// if it carries this rotation's id and the Secret as owner (an earlier attempt landed).
pub async fn create_backup(
    conn: &Connection,
    secret: &SecretState,
    name: &str,
    rotation_id: &str,
    keys_changed: &[String],
    replaced_by: &str,
) -> Result<CreatedBackup> {
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
    if secret.type_ != "Opaque" {
        annotations.insert(annotations::SOURCE_TYPE.to_string(), secret.type_.clone());
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
        // Opaque whatever the source: a typed backup can make a controller act on it.
        type_: Some("Opaque".into()),
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
        dry_run: conn.server_dry_run,
    };
    let api = api(conn, &secret.namespace);
    match retrying(|| api.create(&params, &backup)).await {
        Ok(created) => Ok(CreatedBackup {
            name: name.into(),
            uid: created.metadata.uid.unwrap_or_default(),
        }),
        Err(kube::Error::Api(status)) if status.code == 409 => {
            let existing = BackupRevision::from(&get_object(conn, &secret.namespace, name).await?);
            let ours = existing.rotation_id == rotation_id
                && existing
                    .state
                    .owner_secret
                    .as_ref()
                    .is_some_and(|(_, uid)| *uid == secret.uid);
            if ours {
                Ok(CreatedBackup {
                    name: name.into(),
                    uid: existing.state.uid,
                })
            } else {
                Err(Error::Api {
                    action: format!("create the backup {}/{name}", secret.namespace),
                    message: "a Secret of that name already exists and is not this rotation's backup".into(),
                })
            }
        }
        Err(e) => Err(api_error(e, &Action::new("create", "secrets", &scope), conn)),
    }
}

/// Label values are at most 63 characters; the annotation keeps the full name.
fn truncate_label(name: &str) -> String {
    name.chars()
        .take(63)
        .collect::<String>()
        .trim_end_matches(['-', '.'])
        .to_string()
}

/// Every Secret that carries the backup label of `secret`, newest (highest revision) first:
/// candidates only. Which of them the Secret records as its own is decided by `journal::trust`.
pub async fn backups_of(conn: &Connection, namespace: &str, secret: &str) -> Result<Vec<BackupRevision>> {
    let scope = Scope::Namespace(namespace.into());
    let params = ListParams::default().labels(&format!("{}={}", annotations::BACKUP_OF, truncate_label(secret)));
    let mut backups = list_mapped(
        api(conn, namespace),
        params,
        Action::new("list", "secrets", &scope),
        conn,
        |s| BackupRevision::from(&s),
    )
    .await?
    .into_iter()
    .filter(|b| b.state.backup_of.as_deref() == Some(secret))
    .collect::<Vec<_>>();
    backups.sort_by(|a, b| b.revision.cmp(&a.revision).then(b.saved_at.cmp(&a.saved_at)));
    Ok(backups)
}

/// Delete a Secret, only the very object of `uid` when given (never one made again under
/// the same name). An object already gone counts as deleted.
pub async fn delete(conn: &Connection, namespace: &str, name: &str, uid: Option<&str>) -> Result<()> {
    let scope = Scope::Namespace(namespace.into());
    let mut params = DeleteParams::default();
    if let Some(uid) = uid {
        params = params.preconditions(kube::api::Preconditions {
            uid: Some(uid.to_string()),
            resource_version: None,
        });
    }
    let api = api(conn, namespace);
    match retrying(|| api.delete(name, &params)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(api_error(e, &Action::new("delete", "secrets", &scope), conn)),
    }
}

/// A Secret and the candidates for its backups, read together (history, rollback, diff).
pub async fn with_backups(
    conn: &Connection,
    namespace: &str,
    name: &str,
) -> Result<(SecretState, Vec<BackupRevision>)> {
    tokio::try_join!(get(conn, namespace, name), backups_of(conn, namespace, name))
}

/// Stamp a Secret another controller writes (External Secrets) with the revision of the data
/// it now holds: annotations only, so managedFields keep that controller's time for the data.
/// Retried on 409 (the controller may write meanwhile) as long as the data is still `data`.
pub async fn stamp_synced(
    conn: &Connection,
    namespace: &str,
    name: &str,
    data: &BTreeMap<String, SecretValue>,
    stamp: &Stamp<'_>,
) -> Result<SecretState> {
    let mut annotations = stamp_annotations(stamp);
    if let Some(journal) = journal_value(&stamp.journal) {
        annotations.insert(annotations::JOURNAL.into(), journal);
    }
    let scope = Scope::Namespace(namespace.into());
    let api = api(conn, namespace);
    let params = params(conn, FIELD_MANAGER);
    for _ in 0..4 {
        let current = get(conn, namespace, name).await?;
        if current.data != *data {
            break;
        }
        let patch = json!({"metadata": {"resourceVersion": current.resource_version, "annotations": annotations}});
        let patch = Patch::Merge(&patch);
        match retrying(|| api.patch(name, &params, &patch)).await {
            Ok(secret) => return Ok(SecretState::from(&secret)),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(api_error(e, &Action::new("patch", "secrets", &scope), conn)),
        }
    }
    Err(Error::Conflict {
        namespace: namespace.into(),
        name: name.into(),
    })
}
