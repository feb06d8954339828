//! The backup revisions rotate and rollback keep: what each holds, when it was saved, what
//! replaced it. Values stay inside `SecretState`; only metadata is shown.

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;

use super::annotations;
use super::plan::SecretState;

#[derive(Debug, Clone)]
pub struct BackupRevision {
    pub name: String,
    /// The revision of the data it holds.
    pub revision: u64,
    /// When the change that replaced this data saved it.
    pub saved_at: Option<Timestamp>,
    /// The change that replaced it: what and who, its id, the keys it changed.
    pub replaced_by: String,
    pub rotation_id: String,
    pub keys_changed: Vec<String>,
    pub state: SecretState,
}

impl From<&Secret> for BackupRevision {
    fn from(secret: &Secret) -> Self {
        let annotations = secret.metadata.annotations.clone().unwrap_or_default();
        let text = |key: &str| annotations.get(key).cloned().unwrap_or_default();
        BackupRevision {
            saved_at: secret.metadata.creation_timestamp.as_ref().map(|t| t.0),
            keys_changed: text(annotations::KEYS_CHANGED)
                .split(',')
                .filter(|k| !k.is_empty())
                .map(str::to_string)
                .collect(),
            replaced_by: text(annotations::REPLACED_BY),
            ..BackupRevision::from_state(SecretState::from(secret))
        }
    }
}

impl BackupRevision {
    /// A backup as far as its Secret state tells (name, revision and rotation it holds).
    pub fn from_state(state: SecretState) -> Self {
        BackupRevision {
            name: state.name.clone(),
            revision: state.revision,
            saved_at: None,
            replaced_by: String::new(),
            rotation_id: state.rotation_id.clone().unwrap_or_default(),
            keys_changed: Vec::new(),
            state,
        }
    }
}

/// One row of `history`, as printed (no values).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub revision: u64,
    pub current: bool,
    /// When and by what this revision was written (unknown if not by kubectl-secrets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written_by: Option<String>,
    /// For backups: when and by what change this revision was replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_changed: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub rotation_id: String,
    /// The backup Secret holding this revision's data (none for the current one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// False for a Secret that carries the backup label but that the Secret does not record
    /// as its own backup: shown, never restored (`untrusted` says why).
    pub recorded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untrusted: Option<String>,
}

/// One cluster's history of a Secret (the document's body).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretHistory {
    pub namespace: String,
    pub secret: String,
    pub revisions: Vec<HistoryEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provider_versions: Vec<super::external::RemoteHistory>,
}

/// Newest first: the current data, then each backup (recorded or merely claiming to be one).
pub fn entries(current: &SecretState, backups: &[BackupRevision]) -> Vec<HistoryEntry> {
    let mut rows = vec![HistoryEntry {
        revision: current.revision,
        current: true,
        written_at: current.rotated_at,
        written_by: current.changed_by.clone(),
        replaced_at: None,
        replaced_by: None,
        keys_changed: Vec::new(),
        rotation_id: String::new(),
        backup: None,
        recorded: true,
        untrusted: None,
    }];
    let mut sorted: Vec<&BackupRevision> = backups.iter().collect();
    sorted.sort_by(|a, b| b.revision.cmp(&a.revision).then(b.saved_at.cmp(&a.saved_at)));
    rows.extend(sorted.into_iter().map(|b| {
        let untrusted = match super::journal::trust(current, b) {
            super::journal::Trust::Recorded => None,
            super::journal::Trust::NotRecorded { reason } => Some(reason),
        };
        HistoryEntry {
            revision: b.revision,
            current: false,
            written_at: b.state.rotated_at,
            written_by: b.state.changed_by.clone(),
            replaced_at: b.saved_at,
            replaced_by: Some(b.replaced_by.clone()),
            keys_changed: b.keys_changed.clone(),
            rotation_id: b.rotation_id.clone(),
            backup: Some(b.name.clone()),
            recorded: untrusted.is_none(),
            untrusted,
        }
    }));
    rows
}

/// The backup to roll back to: the given revision (newest copy of it), else the newest backup.
pub fn choose(backups: &[BackupRevision], revision: Option<u64>) -> Option<&BackupRevision> {
    backups
        .iter()
        .filter(|b| revision.is_none_or(|r| b.revision == r))
        .max_by(|a, b| a.revision.cmp(&b.revision).then(a.saved_at.cmp(&b.saved_at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup(revision: u64, second: i64) -> BackupRevision {
        BackupRevision {
            name: format!("app.backup-r{revision}-x"),
            revision,
            saved_at: Some(Timestamp::from_second(1_800_000_000 + second).unwrap()),
            rotation_id: "x".into(),
            keys_changed: vec!["TOKEN".into()],
            replaced_by: "kubectl-secrets rotate by admin".into(),
            state: SecretState {
                namespace: "ns".into(),
                name: "app".into(),
                type_: "Opaque".into(),
                revision,
                ..Default::default()
            },
        }
    }

    #[test]
    fn chooses_the_newest_or_the_asked_revision() {
        let backups = [backup(0, 1), backup(2, 3), backup(1, 2)];
        assert_eq!(choose(&backups, None).unwrap().revision, 2);
        assert_eq!(choose(&backups, Some(1)).unwrap().revision, 1);
        assert!(choose(&backups, Some(7)).is_none());
        assert!(choose(&[], None).is_none());
    }

    #[test]
    fn history_lists_current_then_backups_newest_first() {
        let backups = [backup(0, 1), backup(1, 2)];
        let rows = entries(&backups[1].state, &backups);
        let revisions: Vec<(u64, bool)> = rows.iter().map(|r| (r.revision, r.current)).collect();
        assert_eq!(revisions, [(1, true), (1, false), (0, false)]);
        assert!(
            rows[1..].iter().all(|r| !r.recorded && r.untrusted.is_some()),
            "the Secret records none of them"
        );
    }
}
