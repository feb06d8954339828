//! The rotation plan: which Secrets and keys change to what, decided before anything is
//! written, so it can be shown, confirmed, and carried out (or undone) exactly.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;

use super::annotations;
use super::journal::{self, Journal, RecordedBackup};
use super::model::OwnerRef;
use super::propagate::{self, Encoding};
use super::secret_value::SecretValue;

/// A Secret with its values, as read for a change (values never leave `SecretValue`).
#[derive(Debug, Clone, Default)]
pub struct SecretState {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub type_: String,
    pub data: BTreeMap<String, SecretValue>,
    pub revision: u64,
    pub controller: Option<OwnerRef>,
    /// Argo CD, Flux or Helm, whose next sync writes their source's values back.
    pub gitops: Option<super::gitops::GitOpsOwner>,
    pub labels: BTreeMap<String, String>,
    /// The journal of a change under way: None when there is none, Err when the annotation is
    /// not one kubectl-secrets wrote (never acted upon).
    pub journal: Option<Result<Journal, String>>,
    /// The backups this Secret records as its own (written with its data); only these are
    /// ever restored or pruned.
    pub backup_record: Vec<RecordedBackup>,
    /// Set when the record annotation is there but unreadable.
    pub record_problem: Option<String>,
    /// The rotation that last wrote the data (kubectl-secrets.io/rotation-id).
    pub rotation_id: Option<String>,
    /// For a backup: the Secret that owns it (name, uid) and the one its annotation names.
    pub owner_secret: Option<(String, String)>,
    pub backup_of: Option<String>,
    /// The newest change of the data by anyone but kubectl-secrets (managedFields).
    pub foreign_data_change_at: Option<Timestamp>,
    /// `kubectl apply` keeps the whole object, values included, in an annotation: rotating
    /// without removing it would leave the old values readable.
    pub has_last_applied: bool,
    /// When and by what kubectl-secrets last changed the data (its annotations).
    pub rotated_at: Option<Timestamp>,
    pub changed_by: Option<String>,
    /// Versioned keys added by `rotate --phase add`, and when.
    pub versions_added_at: BTreeMap<String, Timestamp>,
    /// When each key last changed, when kubectl-secrets' record of it can be trusted.
    pub key_changes: Option<super::key_changes::KeyChanges>,
    /// The record was written by a later request than its data (when, and `rotated-at`).
    pub key_changes_rewritten: Option<(Timestamp, Timestamp)>,
    /// Key → its issuer's configuration, from `issuer.kubectl-secrets.io/<key>` annotations.
    pub issuer_annotations: BTreeMap<String, String>,
    /// Written with the data by a change of several Secrets: the Secret its journal is on.
    pub journal_on: Option<String>,
    /// Its own overrides of which keys rotate may generate (annotations).
    pub generation: super::not_generated::Overrides,
    /// The cert-manager Certificate that issues it (cert-manager's annotation).
    pub cert_manager_certificate: Option<String>,
}

impl From<&Secret> for SecretState {
    fn from(secret: &Secret) -> Self {
        let meta = &secret.metadata;
        let annotations = meta.annotations.clone().unwrap_or_default();
        let mut data: BTreeMap<String, SecretValue> = secret
            .data
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), SecretValue::new(v.0.clone())))
            .collect();
        // stringData is write-only in the API, but a manifest read from a file may carry it.
        for (k, v) in secret.string_data.iter().flatten() {
            data.insert(k.clone(), SecretValue::new(v.clone().into_bytes()));
        }
        let controller = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
            .map(|o| OwnerRef {
                kind: o.kind.clone(),
                name: o.name.clone(),
            });
        let owner_secret = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.kind == "Secret" && o.api_version == "v1")
            .map(|o| (o.name.clone(), o.uid.clone()));
        let (backup_record, record_problem) = match annotations.get(annotations::BACKUPS) {
            None => (Vec::new(), None),
            Some(text) => match journal::parse_record(text) {
                Ok(record) => (record, None),
                Err(problem) => (Vec::new(), Some(problem)),
            },
        };
        let foreign_data_change_at = super::model::last_data_change(meta, Some(annotations::FIELD_MANAGER));
        SecretState {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            type_: secret.type_.clone().unwrap_or_else(|| "Opaque".into()),
            data,
            revision: annotations
                .get(annotations::REVISION)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
            controller,
            gitops: super::gitops::owner_of(meta),
            labels: meta.labels.clone().unwrap_or_default(),
            journal: annotations.get(annotations::JOURNAL).map(|j| journal::parse_journal(j)),
            backup_record,
            record_problem,
            rotation_id: annotations.get(annotations::ROTATION_ID).cloned(),
            owner_secret,
            backup_of: annotations.get(annotations::BACKUP_OF).cloned(),
            foreign_data_change_at,
            has_last_applied: annotations.contains_key(annotations::LAST_APPLIED),
            rotated_at: annotations.get(annotations::ROTATED_AT).and_then(|t| t.parse().ok()),
            changed_by: annotations.get(annotations::CHANGED_BY).cloned(),
            versions_added_at: annotations
                .get(annotations::VERSIONS_ADDED_AT)
                .and_then(|j| serde_json::from_str(j).ok())
                .unwrap_or_default(),
            key_changes: super::key_changes::read(meta),
            key_changes_rewritten: super::key_changes::rewritten_after_data(meta),
            journal_on: annotations.get(annotations::JOURNAL_ON).cloned(),
            generation: super::not_generated::Overrides::from_annotations(&annotations),
            cert_manager_certificate: annotations.get(super::tls::CERT_MANAGER_CERTIFICATE).cloned(),
            issuer_annotations: annotations
                .iter()
                .filter_map(|(k, v)| {
                    k.strip_prefix(super::issuer::ANNOTATION_PREFIX)
                        .map(|key| (key.to_string(), v.clone()))
                })
                .collect(),
        }
    }
}

/// The cert-manager Certificate that issues a Secret: its controller owner (cert-manager's
/// --enable-certificate-owner-ref) or, by default, cert-manager's annotation.
pub fn cert_manager_certificate(secret: &SecretState) -> Option<&str> {
    secret
        .controller
        .as_ref()
        .filter(|o| o.kind == "Certificate")
        .map(|o| o.name.as_str())
        .or(secret.cert_manager_certificate.as_deref())
}

/// Why a Secret cannot be changed in place, and what to do instead.
pub fn managed_by_controller(secret: &SecretState) -> Option<String> {
    if let Some(certificate) = cert_manager_certificate(secret) {
        return Some(format!(
            "secret {}/{} is issued by cert-manager's Certificate {certificate}: a value written here would not match \
             what cert-manager issues and would be replaced at its next issuance. Renew it instead, on its own: \
             kubectl secrets rotate {} -n {}",
            secret.namespace, secret.name, secret.name, secret.namespace
        ));
    }
    let owner = secret.controller.as_ref()?;
    match owner.kind.as_str() {
        "SealedSecret" => Some(format!(
            "secret {}/{} is unsealed from SealedSecret {}: an edit would be reverted by the controller. \
             Rotate it through the SealedSecret's file: kubectl secrets rotate {} -n {} --key KEY --sealed-file FILE [--apply]",
            secret.namespace, secret.name, owner.name, secret.name, secret.namespace
        )),
        "ExternalSecret" => Some(format!(
            "secret {}/{} is synced by ExternalSecret {} from an external store: change the value there, then \
             force a sync with `kubectl annotate externalsecret {} force-sync=$(date +%s) --overwrite -n {}`",
            secret.namespace, secret.name, owner.name, owner.name, secret.namespace
        )),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// The key the user asked to rotate; `how` says where the value came from.
    Rotated { how: String },
    /// The old value was embedded here and replaced.
    Propagated { from_key: String, encoding: Encoding },
    /// The old value kept under a second key, for apps that accept two keys while switching.
    KeptPrevious { of: String },
    /// Set back to the value a backup revision holds (absent there: removed).
    Restored { revision: u64 },
    /// A companion value given with --set (a new user name beside its new password).
    Set,
    /// The next version of a versioned key, added beside `after` (two-phase rotation).
    AddedVersion { after: String, how: String },
    /// A key naming the active version, moved to `to`.
    Pointer { to: String },
    /// An old version removed once `by` has taken over.
    Retired { by: String },
    /// Added, changed or removed in the editor (`edit`).
    Edited,
}

#[derive(Debug, Clone)]
pub struct KeyChange {
    pub key: String,
    pub kind: ChangeKind,
    pub old: Option<SecretValue>,
    /// None: the key is removed.
    pub new: Option<SecretValue>,
}

#[derive(Debug, Clone)]
pub struct SecretChange {
    pub before: SecretState,
    pub after: BTreeMap<String, SecretValue>,
    pub new_revision: u64,
    pub keys: Vec<KeyChange>,
    /// Keys `--all-keys` left alone, and why (issued elsewhere, identifiers): said in the plan.
    pub left_out: Vec<(String, super::not_generated::Reason)>,
}

impl SecretChange {
    pub fn name(&self) -> &str {
        &self.before.name
    }

    /// With `--all-keys`: note the keys of the Secret that were not generated and not given.
    pub fn note_left_out(&mut self) {
        let changed: std::collections::BTreeSet<&str> = self.keys.iter().map(|k| k.key.as_str()).collect();
        self.left_out = super::not_generated::in_secret(&self.before.data, &self.before.generation)
            .into_iter()
            .filter(|(key, _)| !changed.contains(key.as_str()))
            .collect();
    }
}

/// What the user asked for, values already in hand (generated, typed, or read).
pub struct RotationRequest {
    pub new_values: BTreeMap<String, (SecretValue, String)>,
    pub keep_previous_suffix: Option<String>,
    /// Companion values (--set KEY=VALUE): written as given, new keys allowed.
    pub set_values: BTreeMap<String, SecretValue>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("secret {secret} has no key {key:?} (its keys: {available}); check the name, or rotate one of those")]
    NoSuchKey {
        secret: String,
        key: String,
        available: String,
    },
    #[error("the new value of {key} is the same as the current one: nothing would change")]
    Unchanged { key: String },
    #[error("{0}")]
    Managed(String),
    #[error("secret {secret} would hold {bytes} bytes, over Kubernetes' 1 MiB limit for a Secret (the largest key: {key}): store large files elsewhere")]
    TooLarge { secret: String, bytes: usize, key: String },
    #[error("the data of revision {revision} is the same as the current data: nothing to roll back")]
    SameAsBackup { revision: u64 },
    #[error("{key}{suffix} would overwrite the existing key {key}{suffix}: choose another with --previous-suffix")]
    PreviousClash { key: String, suffix: String },
    #[error("secret {secret} has no versioned key{} (its keys: {keys}); --phase needs keys named like jwt-secret-v1", wanted.as_ref().map(|w| format!(" {w}")).unwrap_or_default())]
    NoVersionedKey {
        secret: String,
        wanted: Option<String>,
        keys: String,
    },
    #[error("secret {secret} has several versioned keys ({families}): say which with --key BASE")]
    AmbiguousVersionedKey { secret: String, families: String },
    #[error("secret {secret} has only {key}: there is no older version to retire")]
    NothingToRetire { secret: String, key: String },
    #[error("{pointer} of secret {secret} still names {key}: retiring it would leave the pointer dangling; run --phase add first")]
    PointerOnOldVersion {
        secret: String,
        pointer: String,
        key: String,
    },
    #[error("there is no record of when {key} was added to secret {secret} (it was not added by `rotate --phase add`): pass --after 0s to retire the older versions now")]
    AddedAtUnknown { secret: String, key: String },
    #[error("{key} was added at {added_at}; the older versions may be retired from {earliest} (in {remaining}). Tokens signed with them may still be in use")]
    TooEarly {
        key: String,
        added_at: String,
        earliest: String,
        remaining: String,
    },
    #[error("{key} is still required by {users}: pods started without it fail with CreateContainerConfigError. Remove the reference (or make it optional: true) first")]
    StillRequired { key: String, users: String },
    #[error("--set {key}=...: {key} is also rotated; set it one way")]
    SetTwice { key: String },
}

/// What a change planned with --propagate writes besides the rotated keys: each "SECRET/KEY"
/// and the rotated key whose old value it embeds. Without --propagate these keep the old value
/// (a URI still holding the old password), so the plan says so.
pub fn propagated(changes: &[SecretChange]) -> Vec<(String, String)> {
    changes
        .iter()
        .flat_map(|change| {
            change.keys.iter().filter_map(move |key| match &key.kind {
                ChangeKind::Propagated { from_key, .. } => {
                    Some((format!("{}/{}", change.name(), key.key), from_key.clone()))
                }
                _ => None,
            })
        })
        .collect()
}

/// Plan the change of `target` and, when `others` are given (--propagate), of every other
/// Secret (or other key of the target) that embeds an old value.
pub fn plan(
    target: &SecretState,
    request: &RotationRequest,
    others: &[SecretState],
) -> Result<Vec<SecretChange>, PlanError> {
    plan_many(&[(target, request)], others)
}

/// One target's own keys: rotated, set, and (with --keep-previous) the old values kept.
fn plan_own_keys(
    target: &SecretState,
    request: &RotationRequest,
) -> Result<(BTreeMap<String, SecretValue>, Vec<KeyChange>), PlanError> {
    if let Some(reason) = managed_by_controller(target) {
        return Err(PlanError::Managed(reason));
    }
    let mut after = target.data.clone();
    let mut keys = Vec::new();
    for (key, (new, how)) in &request.new_values {
        let old = target.data.get(key).ok_or_else(|| PlanError::NoSuchKey {
            secret: format!("{}/{}", target.namespace, target.name),
            key: key.clone(),
            available: target.data.keys().cloned().collect::<Vec<_>>().join(", "),
        })?;
        if old == new {
            return Err(PlanError::Unchanged { key: key.clone() });
        }
        after.insert(key.clone(), new.clone());
        keys.push(KeyChange {
            key: key.clone(),
            kind: ChangeKind::Rotated { how: how.clone() },
            old: Some(old.clone()),
            new: Some(new.clone()),
        });
    }
    for set in set_changes(target, &request.set_values, &keys)? {
        after.insert(set.key.clone(), set.new.clone().expect("--set writes a value"));
        keys.push(set);
    }
    if keys.is_empty() {
        let key = request.set_values.keys().next().cloned().unwrap_or_default();
        return Err(PlanError::Unchanged { key });
    }
    if let Some(suffix) = &request.keep_previous_suffix {
        let rotated: Vec<(String, SecretValue)> = keys
            .iter()
            .filter(|k| matches!(k.kind, ChangeKind::Rotated { .. }))
            .filter_map(|k| Some((k.key.clone(), k.old.clone()?)))
            .collect();
        for (key, old) in rotated {
            let previous_key = format!("{key}{suffix}");
            if request.new_values.contains_key(&previous_key) {
                return Err(PlanError::PreviousClash {
                    key,
                    suffix: suffix.clone(),
                });
            }
            let existing = target.data.get(&previous_key).cloned();
            after.insert(previous_key.clone(), old.clone());
            keys.push(KeyChange {
                key: previous_key,
                kind: ChangeKind::KeptPrevious { of: key },
                old: existing,
                new: Some(old),
            });
        }
    }
    Ok((after, keys))
}

/// Replace each rotated old value wherever `secret` embeds it (not in `skip`), into `after`.
fn propagate_within(
    secret: &SecretState,
    rotated: &[(String, SecretValue, SecretValue)],
    after: &mut BTreeMap<String, SecretValue>,
    skip: &BTreeSet<String>,
) -> Vec<KeyChange> {
    let mut found = Vec::new();
    for (key, value) in &secret.data {
        if skip.contains(key) {
            continue;
        }
        let mut current = value.clone();
        for (from_key, old, new) in rotated {
            if let Some(encoding) = propagate::find(&current, old) {
                if let Some(replaced) = propagate::replace(&current, old, new, encoding) {
                    current = replaced;
                    found.push(KeyChange {
                        key: key.clone(),
                        kind: ChangeKind::Propagated {
                            from_key: from_key.clone(),
                            encoding,
                        },
                        old: Some(value.clone()),
                        new: Some(current.clone()),
                    });
                }
            }
        }
        if current != *value {
            after.insert(key.clone(), current);
        }
    }
    found
}

/// Plan one change of several Secrets (each with its own request), and, when `others` are
/// given (--propagate), of every other Secret or key that embeds one of their old values.
/// With several targets, a propagated value names its source as SECRET/KEY.
pub fn plan_many(
    targets: &[(&SecretState, &RotationRequest)],
    others: &[SecretState],
) -> Result<Vec<SecretChange>, PlanError> {
    let qualified = targets.len() > 1;
    let mut planned = Vec::new();
    let mut rotated: Vec<(String, SecretValue, SecretValue)> = Vec::new();
    for (target, request) in targets {
        let (after, keys) = plan_own_keys(target, request)?;
        for key in keys.iter().filter(|k| matches!(k.kind, ChangeKind::Rotated { .. })) {
            if let (Some(old), Some(new)) = (&key.old, &key.new) {
                let from = if qualified {
                    format!("{}/{}", target.name, key.key)
                } else {
                    key.key.clone()
                };
                rotated.push((from, old.clone(), new.clone()));
            }
        }
        planned.push((*target, after, keys));
    }

    let mut changes = Vec::new();
    for (target, mut after, mut keys) in planned {
        if !others.is_empty() {
            let touched: BTreeSet<String> = keys.iter().map(|k| k.key.clone()).collect();
            let mut found = propagate_within(target, &rotated, &mut after, &touched);
            keys.append(&mut found);
        }
        check_size(target, &after)?;
        changes.push(SecretChange {
            before: target.clone(),
            after,
            new_revision: target.revision + 1,
            keys,
            left_out: Vec::new(),
        });
    }

    let names: BTreeSet<&str> = targets.iter().map(|(t, _)| t.name.as_str()).collect();
    for other in others
        .iter()
        .filter(|o| !names.contains(o.name.as_str()) && is_application_secret(o))
    {
        let mut after = other.data.clone();
        let found = propagate_within(other, &rotated, &mut after, &BTreeSet::new());
        if found.is_empty() {
            continue;
        }
        if let Some(reason) = managed_by_controller(other) {
            return Err(PlanError::Managed(format!(
                "the old value is also embedded in {}/{}, and {reason}",
                other.namespace, other.name
            )));
        }
        changes.push(SecretChange {
            before: other.clone(),
            after,
            new_revision: other.revision + 1,
            keys: found,
            left_out: Vec::new(),
        });
    }
    Ok(changes)
}

/// The --set values that differ from what `target` holds, refusing keys another change of
/// the same rotation already writes.
pub fn set_changes(
    target: &SecretState,
    set_values: &BTreeMap<String, SecretValue>,
    planned: &[KeyChange],
) -> Result<Vec<KeyChange>, PlanError> {
    let mut changes = Vec::new();
    for (key, value) in set_values {
        if planned.iter().any(|k| &k.key == key) {
            return Err(PlanError::SetTwice { key: key.clone() });
        }
        let old = target.data.get(key);
        if old != Some(value) {
            changes.push(KeyChange {
                key: key.clone(),
                kind: ChangeKind::Set,
                old: old.cloned(),
                new: Some(value.clone()),
            });
        }
    }
    Ok(changes)
}

/// Kubernetes object names (DNS subdomains): lowercase letters, digits, '-' and '.'.
pub fn check_object_name(what: &str, name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid {what} name: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
        ))
    }
}

/// The API server's rule for Secret data keys, checked before anything is sent.
pub fn check_key_name(key: &str) -> Result<(), String> {
    let valid = !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{key:?} is not a valid Secret key: use up to 253 characters from letters, digits, '-', '_' and '.'"
        ))
    }
}

/// Kubernetes refuses Secrets over 1 MiB: say so before anything is written.
const MAX_SECRET_BYTES: usize = 1024 * 1024;

pub fn check_size(secret: &SecretState, data: &BTreeMap<String, SecretValue>) -> Result<(), PlanError> {
    let bytes: usize = data.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes <= MAX_SECRET_BYTES {
        return Ok(());
    }
    let key = data
        .iter()
        .max_by_key(|(_, v)| v.len())
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    Err(PlanError::TooLarge {
        secret: format!("{}/{}", secret.namespace, secret.name),
        bytes,
        key,
    })
}

/// Plan writing `edited` (the data as the editor left it) over `current`: every key added,
/// changed or removed, or None when nothing differs.
pub fn edit_plan(
    current: &SecretState,
    edited: &BTreeMap<String, SecretValue>,
) -> Result<Option<SecretChange>, PlanError> {
    let keys: std::collections::BTreeSet<&String> = current.data.keys().chain(edited.keys()).collect();
    let changes: Vec<KeyChange> = keys
        .into_iter()
        .filter(|key| current.data.get(*key) != edited.get(*key))
        .map(|key| KeyChange {
            key: key.clone(),
            kind: ChangeKind::Edited,
            old: current.data.get(key).cloned(),
            new: edited.get(key).cloned(),
        })
        .collect();
    if changes.is_empty() {
        return Ok(None);
    }
    check_size(current, edited)?;
    Ok(Some(SecretChange {
        before: current.clone(),
        after: edited.clone(),
        new_revision: current.revision + 1,
        keys: changes,
        left_out: Vec::new(),
    }))
}

/// Plan putting `backup`'s data back into `current` (rollback): every key that differs.
pub fn restore_plan(current: &SecretState, backup: &SecretState) -> Result<SecretChange, PlanError> {
    if let Some(reason) = managed_by_controller(current) {
        return Err(PlanError::Managed(reason));
    }
    let keys: BTreeSet<&String> = current.data.keys().chain(backup.data.keys()).collect();
    let changes: Vec<KeyChange> = keys
        .into_iter()
        .filter(|k| current.data.get(*k) != backup.data.get(*k))
        .map(|k| KeyChange {
            key: k.clone(),
            kind: ChangeKind::Restored {
                revision: backup.revision,
            },
            old: current.data.get(k).cloned(),
            new: backup.data.get(k).cloned(),
        })
        .collect();
    if changes.is_empty() {
        return Err(PlanError::SameAsBackup {
            revision: backup.revision,
        });
    }
    Ok(SecretChange {
        before: current.clone(),
        after: backup.data.clone(),
        new_revision: current.revision + 1,
        keys: changes,
        left_out: Vec::new(),
    })
}

/// Secrets that hold application values (not backups, tokens or controller keys).
fn is_application_secret(secret: &SecretState) -> bool {
    const SKIP_TYPES: [&str; 3] = [
        "kubernetes.io/service-account-token",
        "helm.sh/release.v1",
        "bootstrap.kubernetes.io/token",
    ];
    !SKIP_TYPES.contains(&secret.type_.as_str())
        && !secret.labels.contains_key(annotations::BACKUP_OF)
        && !secret
            .labels
            .keys()
            .any(|k| k.starts_with("sealedsecrets.bitnami.com/"))
}

/// The name of the backup Secret of `secret` holding the data of `revision`, within the
/// 253-character limit of object names.
pub fn backup_name(secret: &str, revision: u64, rotation_id: &str) -> String {
    let suffix = format!(".backup-r{revision}-{}", &rotation_id[..rotation_id.len().min(8)]);
    let keep = 253 - suffix.len();
    format!("{}{suffix}", &secret[..secret.len().min(keep)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    fn state(name: &str, data: &[(&str, &str)]) -> SecretState {
        SecretState {
            namespace: "aura-production".into(),
            name: name.into(),
            type_: "Opaque".into(),
            data: data.iter().map(|(k, val)| (k.to_string(), v(val))).collect(),
            ..Default::default()
        }
    }

    fn request(pairs: &[(&str, &str)], keep_previous: Option<&str>) -> RotationRequest {
        RotationRequest {
            new_values: pairs
                .iter()
                .map(|(k, val)| (k.to_string(), (v(val), "typed".to_string())))
                .collect(),
            keep_previous_suffix: keep_previous.map(str::to_string),
            set_values: BTreeMap::new(),
        }
    }

    #[test]
    fn rotates_the_chosen_keys_and_keeps_the_rest() {
        let target = state(
            "postgres-secrets",
            &[("postgres-user", "aura"), ("postgres-password", "old-password-1")],
        );
        let changes = plan(&target, &request(&[("postgres-password", "new-password-2")], None), &[]).unwrap();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].after["postgres-password"], v("new-password-2"));
        assert_eq!(changes[0].after["postgres-user"], v("aura"));
        assert_eq!(changes[0].new_revision, 1);
    }

    /// Two targets: the database password in one, a URI embedding it in the other (itself
    /// rotated for another key); a third Secret only embeds it. Propagation crosses targets.
    #[test]
    fn several_targets_propagate_into_each_other_and_the_rest() {
        let db = state("db", &[("password", "old-db-pass")]);
        let app = state(
            "app",
            &[
                ("api-key", "old-api"),
                ("database-url", "postgres://u:old-db-pass@db/app"),
            ],
        );
        let worker = state("worker", &[("dsn", "postgres://u:old-db-pass@db/app")]);
        let (db_request, app_request) = (
            request(&[("password", "new-db-pass")], None),
            request(&[("api-key", "new-api")], None),
        );
        let others = [db.clone(), app.clone(), worker.clone()];
        let changes = plan_many(&[(&db, &db_request), (&app, &app_request)], &others).unwrap();
        let names: Vec<&str> = changes.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["db", "app", "worker"]);
        assert_eq!(changes[1].after["api-key"], v("new-api"));
        assert_eq!(changes[1].after["database-url"], v("postgres://u:new-db-pass@db/app"));
        assert!(matches!(
            &changes[1].keys.last().unwrap().kind,
            ChangeKind::Propagated { from_key, .. } if from_key == "db/password"
        ));
        assert_eq!(changes[2].after["dsn"], v("postgres://u:new-db-pass@db/app"));
        // Without --propagate (no others), nothing beyond the targets' own keys.
        let changes = plan_many(&[(&db, &db_request), (&app, &app_request)], &[]).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[1].after["database-url"], v("postgres://u:old-db-pass@db/app"));
    }

    #[test]
    fn propagates_into_uris_of_other_secrets_and_its_own_keys() {
        let target = state(
            "redis-secrets",
            &[
                ("redis-password", "old/pass+word"),
                ("redis-url", "redis://:old%2Fpass+word@redis:6379/0"),
            ],
        );
        let backend = state(
            "backend-secrets",
            &[
                ("REDIS_URL", "redis://:old%2Fpass+word@redis:6379/0"),
                ("JWT", "unrelated-value"),
            ],
        );
        let changes = plan(
            &target,
            &request(&[("redis-password", "n3w/p@ss")], None),
            &[target.clone(), backend],
        )
        .unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].after["redis-url"], v("redis://:n3w%2Fp%40ss@redis:6379/0"));
        assert_eq!(changes[1].name(), "backend-secrets");
        assert_eq!(changes[1].after["REDIS_URL"], v("redis://:n3w%2Fp%40ss@redis:6379/0"));
        assert_eq!(changes[1].after["JWT"], v("unrelated-value"));
        assert!(
            matches!(&changes[1].keys[0].kind, ChangeKind::Propagated { from_key, encoding: Encoding::Userinfo } if from_key == "redis-password")
        );
    }

    #[test]
    fn keep_previous_writes_the_old_value_beside_the_new() {
        let target = state("jwt-keys", &[("JWT_SECRET", "old-jwt-secret")]);
        let changes = plan(
            &target,
            &request(&[("JWT_SECRET", "new-jwt-secret")], Some("_PREVIOUS")),
            &[],
        )
        .unwrap();
        assert_eq!(changes[0].after["JWT_SECRET_PREVIOUS"], v("old-jwt-secret"));
        assert_eq!(changes[0].after["JWT_SECRET"], v("new-jwt-secret"));
    }

    #[test]
    fn refuses_unknown_keys_unchanged_values_and_managed_secrets() {
        let target = state("api-keys", &[("openai", "sk-old-value")]);
        let err = plan(&target, &request(&[("anthropic", "x")], None), &[]).unwrap_err();
        assert!(err.to_string().contains("its keys: openai"), "{err}");
        let err = plan(&target, &request(&[("openai", "sk-old-value")], None), &[]).unwrap_err();
        assert_eq!(err, PlanError::Unchanged { key: "openai".into() });
        let mut sealed = target.clone();
        sealed.controller = Some(OwnerRef {
            kind: "SealedSecret".into(),
            name: "api-keys".into(),
        });
        let err = plan(&sealed, &request(&[("openai", "sk-new")], None), &[]).unwrap_err();
        assert!(err.to_string().contains("--sealed-file FILE [--apply]"), "{err}");
        let mut external = target;
        external.controller = Some(OwnerRef {
            kind: "ExternalSecret".into(),
            name: "api-keys".into(),
        });
        let err = plan(&external, &request(&[("openai", "sk-new")], None), &[]).unwrap_err();
        assert!(err.to_string().contains("force-sync"), "{err}");
    }

    #[test]
    fn restore_plan_sets_back_changed_keys_and_removes_added_ones() {
        let mut current = state(
            "jwt-keys",
            &[
                ("JWT_SECRET", "new-value-2"),
                ("JWT_SECRET_PREVIOUS", "old-value-1"),
                ("kept", "same"),
            ],
        );
        current.revision = 3;
        let mut backup = state(
            "jwt-keys.backup-r2-abc",
            &[("JWT_SECRET", "old-value-1"), ("kept", "same")],
        );
        backup.revision = 2;
        let change = restore_plan(&current, &backup).unwrap();
        let keys: Vec<(&str, bool)> = change.keys.iter().map(|k| (k.key.as_str(), k.new.is_some())).collect();
        assert_eq!(keys, [("JWT_SECRET", true), ("JWT_SECRET_PREVIOUS", false)]);
        assert_eq!(change.after, backup.data);
        assert_eq!(change.new_revision, 4);
        assert_eq!(
            restore_plan(&backup, &backup).unwrap_err(),
            PlanError::SameAsBackup { revision: 2 }
        );
    }

    #[test]
    fn secrets_over_one_mebibyte_are_refused_before_writing() {
        let target = state("big", &[("small", "x")]);
        let huge = SecretValue::new(vec![b'a'; 1024 * 1024 + 1]);
        let req = RotationRequest {
            new_values: [("small".to_string(), (huge, "file".to_string()))].into(),
            keep_previous_suffix: None,
            set_values: BTreeMap::new(),
        };
        assert!(matches!(plan(&target, &req, &[]).unwrap_err(), PlanError::TooLarge { key, .. } if key == "small"));
    }

    #[test]
    fn set_values_join_the_rotation_and_unchanged_ones_are_left_out() {
        let target = state(
            "postgresql-credentials",
            &[("username", "backend"), ("password", "old-password")],
        );
        let mut req = request(&[("password", "new-password")], None);
        req.set_values = [
            ("username".to_string(), v("backend_v2")),
            ("database".to_string(), v("platform")),
        ]
        .into();
        let change = &plan(&target, &req, &[]).unwrap()[0];
        assert_eq!(change.after["username"], v("backend_v2"));
        assert_eq!(change.after["database"], v("platform"), "a new key may be set");
        assert_eq!(change.keys.iter().filter(|k| k.kind == ChangeKind::Set).count(), 2);

        req.set_values = [("username".to_string(), v("backend"))].into();
        let change = &plan(&target, &req, &[]).unwrap()[0];
        assert_eq!(change.keys.len(), 1, "setting the current value changes nothing");

        req.set_values = [("password".to_string(), v("other"))].into();
        assert!(matches!(plan(&target, &req, &[]), Err(PlanError::SetTwice { .. })));
        assert!(check_key_name("bad/key").is_err() && check_key_name("DB_USER.v2").is_ok());
        assert!(check_object_name("Secret", "api-keys.v2").is_ok());
        for bad in ["", "No_Such", "a/b", "-x", "x.", "../secrets"] {
            assert!(check_object_name("Secret", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backup_names_fit_the_limit() {
        assert_eq!(
            backup_name("backend-secrets", 3, "0123456789abcdef"),
            "backend-secrets.backup-r3-01234567"
        );
        assert!(backup_name(&"x".repeat(253), 12, "abcdef0123").len() <= 253);
    }
}
