//! The annotations kubectl-secrets writes. They carry revisions and times, never a value or
//! a hash of one.

use std::collections::BTreeMap;

pub const PREFIX: &str = "kubectl-secrets.io/";
/// On a Secret: how many times rotate has changed it.
pub const REVISION: &str = "kubectl-secrets.io/revision";
/// On a Secret: when rotate last changed its data (RFC 3339).
pub const ROTATED_AT: &str = "kubectl-secrets.io/rotated-at";
/// The revision whose "safe to revoke" a change already said (so verify does not repeat it).
pub const REVOCATION_SAID: &str = "kubectl-secrets.io/revocation-said";
/// In a SealedSecret's template (so on the Secret its controller unseals): the SealedSecret
/// generation the change's write produced. While the SealedSecret is still at that generation,
/// the controller's later writes of the Secret (it may lag behind the stamp's time) unsealed
/// that very write, so the stamp still holds.
pub const SEALED_GENERATION: &str = "kubectl-secrets.io/sealed-generation";
/// On a Secret: id of the rotation that last changed it.
pub const ROTATION_ID: &str = "kubectl-secrets.io/rotation-id";
/// On a Secret: what changed it ("kubectl-secrets rotate", "kubectl-secrets rollback").
pub const CHANGED_BY: &str = "kubectl-secrets.io/changed-by";
/// On the object a change writes while the change is under way: the journal (JSON) that lets a
/// rerun finish or undo it.
pub const JOURNAL: &str = "kubectl-secrets.io/rotation-journal";
/// On the object a change writes (the Secret, or the SealedSecret that owns it): JSON list of
/// the backups it made ({name, uid, rotationId, revision}), written in the same request as the data.
pub const BACKUPS: &str = "kubectl-secrets.io/backups";
/// On a Secret: JSON map of versioned key (`jwt-secret-v2`) → when `rotate --phase add` added it.
pub const VERSIONS_ADDED_AT: &str = "kubectl-secrets.io/versions-added-at";
/// On a Secret: JSON record of when each key last changed ({revision, keys: {KEY: {revision,
/// at}}}), written with the data, so verify can judge a workload by the keys it reads.
pub const KEY_CHANGES: &str = "kubectl-secrets.io/key-changes";
/// Label on a backup Secret: the Secret whose data it holds (annotation of the same name has the full name).
pub const BACKUP_OF: &str = "kubectl-secrets.io/backup-of";
/// On a backup Secret: what replaced the data it holds ("kubectl-secrets rotate by alice").
pub const REPLACED_BY: &str = "kubectl-secrets.io/replaced-by";
/// On a backup Secret: the type of the Secret it backs up, when not Opaque (a backup is always
/// Opaque: a backup typed `kubernetes.io/service-account-token` would have the token controller
/// issue a token for it).
pub const SOURCE_TYPE: &str = "kubectl-secrets.io/source-type";
/// On a Secret written by a change of several Secrets whose journal lives on another one (the
/// first): that Secret's name, written with the data. A journal on one Secret only ever drives
/// a write to another that says, in its own write, that it belongs to that journal.
pub const JOURNAL_ON: &str = "kubectl-secrets.io/journal-on";
/// On a backup Secret: the keys the rotation changed (comma-separated names).
pub const KEYS_CHANGED: &str = "kubectl-secrets.io/keys-changed";
/// kubectl apply's copy of the last applied manifest: for a Secret, its values too.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// On a pod template (so on its pods): JSON map of Secret name → revision it was restarted for.
pub const POD_SECRET_REVISIONS: &str = "kubectl-secrets.io/secret-revisions";

/// On a workload (not its template): the last restart kubectl-secrets made, JSON
/// `{"at": RFC3339, "change": rotation id}`, read by the restart budget of the next change.
pub const LAST_RESTART: &str = "kubectl-secrets.io/last-restart";

/// Field manager of every write of data, so managedFields show who changed what.
pub const FIELD_MANAGER: &str = "kubectl-secrets";
/// Field manager of journal-only updates (heartbeats, phase, clearing), so they never move the
/// time managedFields give for the data.
pub const JOURNAL_FIELD_MANAGER: &str = "kubectl-secrets-journal";

/// Parse the pod annotation; an unreadable one counts as absent (evidence falls back to time).
pub fn parse_revisions(text: &str) -> BTreeMap<String, u64> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_round_trip_and_garbage_is_absent() {
        let parsed = parse_revisions(r#"{"backend-secrets":3}"#);
        assert_eq!(parsed.get("backend-secrets"), Some(&3));
        assert!(parse_revisions("not json").is_empty());
    }
}
