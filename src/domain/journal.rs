//! The records a change keeps on the object it writes, and the rules for trusting them.
//!
//! Anything read from the cluster may have been written by someone else: whoever may create a
//! Secret can make one that looks like a backup, whoever may annotate can write a journal. So a
//! change records, in the same request as the data it writes, the journal of the change and the
//! list of backups it made (name, uid, rotation id, revision). Only what that record names, and
//! what matches it by uid, owner and name, is ever restored, pruned, resumed or undone.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use super::history::BackupRevision;
use super::model::WorkloadId;
use super::plan::SecretState;

/// One backup a Secret records as its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordedBackup {
    pub name: String,
    pub uid: String,
    pub rotation_id: String,
    /// The revision of the data the backup holds.
    pub revision: u64,
}

/// The record annotation as written (newest last).
pub fn record_text(record: &[RecordedBackup]) -> String {
    serde_json::to_string(record).expect("records serialise")
}

pub fn parse_record(text: &str) -> Result<Vec<RecordedBackup>, String> {
    serde_json::from_str(text).map_err(|_| "not a backup record kubectl-secrets wrote".to_string())
}

/// The record once `added` joins it, keeping the newest `keep`; and the entries that fall out
/// (their backups are deleted after the write that drops them).
pub fn record_with(
    record: &[RecordedBackup],
    added: RecordedBackup,
    keep: usize,
) -> (Vec<RecordedBackup>, Vec<RecordedBackup>) {
    let mut all: Vec<RecordedBackup> = record.iter().filter(|r| r.name != added.name).cloned().collect();
    all.push(added);
    let dropped = all.len().saturating_sub(keep.max(1));
    let kept = all.split_off(dropped);
    (kept, all)
}

/// Why a Secret carrying the backup label is not a backup that may be restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Named by the Secret's record and matching it by uid, owner and name.
    Recorded,
    /// Not named by the record, or not matching it: shown, never restored.
    NotRecorded { reason: String },
}

impl Trust {
    pub fn is_recorded(&self) -> bool {
        matches!(self, Trust::Recorded)
    }
}

/// Is `backup` one that `secret` recorded as its own?
pub fn trust(secret: &SecretState, backup: &BackupRevision) -> Trust {
    let not = |reason: String| Trust::NotRecorded { reason };
    let Some(entry) = secret.backup_record.iter().find(|r| r.name == backup.name) else {
        return not(format!("{} does not record it as a backup", secret.name));
    };
    if backup.state.uid != entry.uid {
        return not(format!(
            "it is not the object {} recorded (another uid: it was deleted and made again)",
            secret.name
        ));
    }
    match &backup.state.owner_secret {
        Some((name, uid)) if *name == secret.name && *uid == secret.uid => {}
        _ => return not(format!("it is not owned by {} (uid {})", secret.name, secret.uid)),
    }
    if backup.state.backup_of.as_deref() != Some(secret.name.as_str()) {
        return not(format!("its backup-of annotation does not name {}", secret.name));
    }
    if backup.revision != entry.revision || backup.rotation_id != entry.rotation_id {
        return not(format!(
            "its revision or rotation id differ from what {} recorded",
            secret.name
        ));
    }
    Trust::Recorded
}

/// Secrets of a namespace that carry the backup label of another Secret which does not record
/// them (someone else made them, or a kubectl-secrets run that never wrote left them behind).
pub fn unrecorded_backups(secrets: &[SecretState]) -> Vec<(&SecretState, String)> {
    let by_name: BTreeMap<(&str, &str), &SecretState> = secrets
        .iter()
        .map(|s| ((s.namespace.as_str(), s.name.as_str()), s))
        .collect();
    secrets
        .iter()
        .filter_map(|candidate| {
            let target = candidate.backup_of.as_deref()?;
            let reason = match by_name.get(&(candidate.namespace.as_str(), target)) {
                None => format!("{target} does not exist"),
                Some(owner) => match trust(owner, &BackupRevision::from_state(candidate.clone())) {
                    Trust::Recorded => return None,
                    Trust::NotRecorded { reason } => reason,
                },
            };
            Some((candidate, reason))
        })
        .collect()
}

/// Progress of a change, kept as an annotation on the object it writes (the Secret, or the
/// SealedSecret that owns it) so that a rerun after a crash or Ctrl-C can finish or undo it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Journal {
    pub id: String,
    /// What made the change ("rotate", "rollback").
    pub action: String,
    pub phase: Phase,
    pub started_at: Timestamp,
    pub holder: Holder,
    /// Secret name → the backup of its previous data and the revisions before and after.
    pub secrets: BTreeMap<String, JournalEntry>,
    /// The workloads the change restarts.
    pub workloads: Vec<WorkloadId>,
    /// For a Secret unsealed from a SealedSecret: what was changed in the SealedSecret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<SealedJournal>,
    /// For a Secret an ExternalSecret syncs: the provider versions the change made and replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalJournal>,
    /// The keys whose password the change sets at their issuer (before the Secret is written).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issuers: Vec<IssuerRecord>,
    /// For a Secret cert-manager issues: the renewal asked for (then `secrets` is empty: the
    /// plugin writes no data, cert-manager does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal: Option<RenewalRecord>,
}

/// Which machine an interrupted change is finished or undone by: each kind of change writes
/// exactly one of its parts (issuers only beside plain Secret writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Secrets written from backups (with the issuers' passwords set first, if any).
    Secrets,
    /// A SealedSecret's ciphertexts (and perhaps its GitOps file), unsealed by the controller.
    Sealed,
    /// Versions at an External Secrets provider, synced by External Secrets.
    Store,
    /// A renewal asked of cert-manager.
    Renewal,
}

impl Journal {
    /// The kind of change recorded, or why the journal cannot be one kubectl-secrets wrote
    /// (it names two kinds: a forged journal must not pick the machine that acts on it).
    pub fn recorded(&self) -> Result<Recorded, String> {
        let parts = [
            (self.sealed.is_some(), Recorded::Sealed, "a SealedSecret change"),
            (self.external.is_some(), Recorded::Store, "provider versions"),
            (self.renewal.is_some(), Recorded::Renewal, "a cert-manager renewal"),
        ];
        let found: Vec<_> = parts.iter().filter(|(set, ..)| *set).collect();
        match (found.as_slice(), self.issuers.is_empty()) {
            ([], _) => Ok(Recorded::Secrets),
            ([(_, kind, _)], true) => Ok(*kind),
            ([(_, _, what)], false) => Err(format!("it records issuers beside {what}, which no change writes")),
            (_, _) => Err(format!(
                "it records {}, which no single change writes",
                found.iter().map(|(_, _, what)| *what).collect::<Vec<_>>().join(" and ")
            )),
        }
    }
}

/// A renewal asked of cert-manager: the Certificate that writes the Secret, and what the
/// Secret held before (the Certificate's revision and the certificate's serial), so that a
/// rerun can tell whether the new certificate has arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenewalRecord {
    pub certificate: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
}

/// One key's issuer, as configured when the change started (never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IssuerRecord {
    pub secret: String,
    pub key: String,
    /// The issuer's configuration text (`postgresql:user=…,server=…`, or `command:…`).
    pub issuer: String,
    /// The role made beside the issuer's user (two-phase with a new role), which an undo removes
    /// (only if the server says kubectl-secrets made it for this key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JournalEntry {
    pub backup: String,
    pub backup_uid: String,
    pub from: u64,
    pub to: u64,
}

/// The SealedSecret's previous ciphertexts of the keys the change replaced (None: the key was
/// absent), the GitOps file it rewrote, and the template annotations it replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedJournal {
    pub owner: String,
    pub previous: BTreeMap<String, Option<String>>,
    pub previous_stamps: BTreeMap<String, Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// The file's sha256 before the change and with the new ciphertexts (ciphertext only: no
    /// value is hashed). Recovery rewrites only the file the operator names, and only when it
    /// is that file at one of these two points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<FileHashes>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileHashes {
    pub before: String,
    pub after: String,
}

/// The ExternalSecret side of a change: its name, the provider, and per remote secret the
/// version that was current before and the one the change made (its id is the rotation's
/// client request token). No remotes: `rotate --synced` (the value was changed at the provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalJournal {
    pub owner: String,
    pub provider: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub region: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remotes: Vec<RemoteEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoteEntry {
    pub key: String,
    pub previous: String,
    pub new: String,
}

/// Which run holds the journal: it renews `heartbeat_at` while it works and clears it when it
/// stops (Ctrl-C included). A journal whose holder is alive is not taken over without --force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Holder {
    /// "kubectl-secrets rotate by alice"
    pub by: String,
    pub host: String,
    pub pid: u32,
    /// Random per run: tells this run's journal from another's.
    pub token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_at: Option<Timestamp>,
}

/// How long a holder that stopped renewing still counts as running.
pub const HOLDER_LEASE: SignedDuration = SignedDuration::from_secs(30);
/// How often a running change renews its heartbeat.
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether another run may still be executing a journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The holder let go (finished a step and stopped, or was interrupted with Ctrl-C).
    Released,
    /// The holder ran on this machine and its process is gone (kill -9, crash).
    Gone,
    /// No heartbeat for longer than the lease.
    Expired { last: Timestamp },
    /// Heartbeat within the lease: it may still be working.
    Running { last: Timestamp },
    /// A heartbeat further in the future than clocks drift apart: no run can have written it
    /// now (a wrong clock, or planted to hold every change off), so it holds nothing.
    Future { ahead: SignedDuration },
}

/// How far apart two machines' clocks may be and a heartbeat still count.
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_secs(120);

/// `process_alive` answers for holders on this machine (None: cannot tell).
pub fn liveness(holder: &Holder, now: Timestamp, this_host: &str, process_alive: Option<bool>) -> Liveness {
    let Some(last) = holder.heartbeat_at else {
        return Liveness::Released;
    };
    if holder.host == this_host && process_alive == Some(false) {
        return Liveness::Gone;
    }
    let ahead = last.duration_since(now);
    if ahead > CLOCK_SKEW {
        return Liveness::Future { ahead };
    }
    if now.duration_since(last) > HOLDER_LEASE {
        Liveness::Expired { last }
    } else {
        Liveness::Running { last }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Backups made, the new passwords being set at their issuers (the Secrets not written yet).
    Issuing,
    /// Backups made, Secrets being written.
    Writing,
    /// The SealedSecret written; the controller's unsealing awaited.
    Unsealing,
    /// The provider holds the new value; the ExternalSecret's sync awaited.
    Syncing,
    /// cert-manager asked to renew the certificate; the new one awaited.
    Renewing,
    /// New data written; consumers being restarted.
    Restarting,
    /// A step failed; previous data being restored.
    RollingBack,
}

impl Phase {
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Issuing => "setting the new password at its issuer, before writing the Secret",
            Phase::Writing => "writing the new data",
            Phase::Unsealing => "SealedSecret written, waiting for the controller to unseal it",
            Phase::Syncing => "new value at the provider, waiting for External Secrets to sync it",
            Phase::Renewing => "renewal asked of cert-manager, waiting for the new certificate",
            Phase::Restarting => "new data written, consumers restarting",
            Phase::RollingBack => "rolling back to the previous data",
        }
    }
}

/// A journal as written by kubectl-secrets: its format, and one kind of change (`recorded`), so
/// that every reader (recovery, a new change finding it, audit) refuses the same forgeries.
pub fn parse_journal(text: &str) -> Result<Journal, String> {
    let journal: Journal = serde_json::from_str(text)
        .map_err(|_| "it is not a journal this version of kubectl-secrets wrote".to_string())?;
    journal.recorded()?;
    Ok(journal)
}

pub fn journal_text(journal: &Journal) -> String {
    serde_json::to_string(journal).expect("journals serialise")
}

/// Where one Secret of a journal stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Not written by this change (it was interrupted before): nothing to finish or undo.
    NotWritten,
    /// Holds the change's new data.
    Written,
    /// Already put back to the backup's data by this change (revision `to + 1`).
    Restored,
}

/// One Secret of a checked journal: its backup (trusted) and how far the change got.
#[derive(Debug, Clone)]
pub struct CheckedEntry {
    pub secret: String,
    pub entry: JournalEntry,
    pub progress: Progress,
    pub backup: Option<BackupRevision>,
    /// Someone other than kubectl-secrets changed its data after the change started.
    pub edited_by_others_at: Option<Timestamp>,
}

/// A change of the data by someone else at or after `started` (managedFields keep whole
/// seconds: an edit in the same second counts, to be safe).
pub fn edited_since(foreign_change: Option<Timestamp>, started: Timestamp) -> Option<Timestamp> {
    let from = Timestamp::from_second(started.as_second()).unwrap_or(started);
    foreign_change.filter(|t| *t >= from)
}

/// Check a journal against what the cluster holds: the Secrets it names (current state, with
/// their records) and the backup objects it names. `anchor` is the Secret whose data write
/// carried the journal (for a SealedSecret-owned change: None, the SealedSecret carries it).
/// Refuses (with what was found) anything that is not exactly what a change would have left.
pub fn check_journal(
    journal: &Journal,
    anchor: Option<&str>,
    secrets: &BTreeMap<String, SecretState>,
    backups: &BTreeMap<String, BackupRevision>,
    now: Timestamp,
) -> Result<Vec<CheckedEntry>, String> {
    if journal.secrets.is_empty() {
        return Err("it names no Secret".into());
    }
    // A start in the future would make every later edit look older than the change.
    if journal.started_at > now + CLOCK_SKEW {
        return Err(format!("it says it started at {}, in the future", journal.started_at));
    }
    if let Some(anchor) = anchor {
        if !journal.secrets.contains_key(anchor) {
            return Err(format!("it does not name {anchor}, the Secret it is on"));
        }
        let state = secrets.get(anchor).ok_or_else(|| format!("{anchor} was not read"))?;
        // A change with issuers writes its journal alone first, then sets the new passwords at
        // the servers, then writes the data: interrupted in between, nothing is written yet.
        if journal.phase == Phase::Issuing && !journal.issuers.is_empty() {
            return nothing_written(journal, secrets);
        }
        if state.rotation_id.as_deref() != Some(journal.id.as_str()) {
            return Err(format!(
                "{anchor} was not written by rotation {} (a journal is only ever written with the data it describes)",
                journal.id
            ));
        }
    }
    let mut checked = Vec::new();
    for (name, entry) in &journal.secrets {
        let state = secrets
            .get(name)
            .ok_or_else(|| format!("it names Secret {name}, which does not exist"))?;
        // Another Secret belongs to this journal only when it says so in its own write: a
        // journal on one Secret never drives a write to another that did not sign up to it.
        let signed_up = Some(name.as_str()) == anchor || anchor.is_none() || state.journal_on.as_deref() == anchor;
        let by_us = state.rotation_id.as_deref() == Some(journal.id.as_str()) && signed_up;
        let progress = match state.revision {
            r if by_us && r == entry.to => Progress::Written,
            r if by_us && r == entry.to + 1 => Progress::Restored,
            _ if by_us && Some(name.as_str()) == anchor => {
                return Err(format!(
                    "{name} is at revision {}, which rotation {} did not write",
                    state.revision, journal.id
                ))
            }
            _ => Progress::NotWritten,
        };
        let backup = if progress == Progress::NotWritten {
            None
        } else {
            Some(trusted_backup(journal, name, entry, state, backups)?)
        };
        checked.push(CheckedEntry {
            secret: name.clone(),
            entry: entry.clone(),
            progress,
            backup,
            edited_by_others_at: edited_since(state.foreign_data_change_at, journal.started_at),
        });
    }
    Ok(checked)
}

/// An issuing journal: every Secret it names must still hold data this rotation did not write.
fn nothing_written(journal: &Journal, secrets: &BTreeMap<String, SecretState>) -> Result<Vec<CheckedEntry>, String> {
    journal
        .secrets
        .iter()
        .map(|(name, entry)| {
            let state = secrets
                .get(name)
                .ok_or_else(|| format!("it names Secret {name}, which does not exist"))?;
            if state.rotation_id.as_deref() == Some(journal.id.as_str()) {
                return Err(format!(
                    "it says nothing was written yet, but {name} holds data of rotation {}",
                    journal.id
                ));
            }
            Ok(CheckedEntry {
                secret: name.clone(),
                entry: entry.clone(),
                progress: Progress::NotWritten,
                backup: None,
                edited_by_others_at: None,
            })
        })
        .collect()
}

fn trusted_backup(
    journal: &Journal,
    name: &str,
    entry: &JournalEntry,
    state: &SecretState,
    backups: &BTreeMap<String, BackupRevision>,
) -> Result<BackupRevision, String> {
    let recorded = state
        .backup_record
        .iter()
        .find(|r| r.name == entry.backup && r.uid == entry.backup_uid && r.rotation_id == journal.id);
    if recorded.is_none() {
        return Err(format!(
            "it names {} as the backup of {name}, but {name} records no such backup of rotation {}",
            entry.backup, journal.id
        ));
    }
    let backup = backups
        .get(&entry.backup)
        .ok_or_else(|| format!("the backup {} of {name} no longer exists", entry.backup))?;
    match trust(state, backup) {
        Trust::Recorded if backup.revision == entry.from => Ok(backup.clone()),
        Trust::Recorded => Err(format!(
            "the backup {} holds revision {}, not {}",
            entry.backup, backup.revision, entry.from
        )),
        Trust::NotRecorded { reason } => Err(format!("the backup {} of {name}: {reason}", entry.backup)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::secret_value::SecretValue;

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + second).unwrap()
    }

    fn secret(name: &str, uid: &str) -> SecretState {
        SecretState {
            namespace: "ns".into(),
            name: name.into(),
            uid: uid.into(),
            type_: "Opaque".into(),
            data: [("TOKEN".to_string(), SecretValue::new(b"v".to_vec()))].into(),
            ..Default::default()
        }
    }

    fn backup_of(owner: &SecretState, name: &str, uid: &str, revision: u64, rotation: &str) -> BackupRevision {
        let mut state = secret(name, uid);
        state.owner_secret = Some((owner.name.clone(), owner.uid.clone()));
        state.backup_of = Some(owner.name.clone());
        state.revision = revision;
        state.rotation_id = Some(rotation.into());
        BackupRevision::from_state(state)
    }

    fn recorded(backup: &BackupRevision) -> RecordedBackup {
        RecordedBackup {
            name: backup.name.clone(),
            uid: backup.state.uid.clone(),
            rotation_id: backup.rotation_id.clone(),
            revision: backup.revision,
        }
    }

    #[test]
    fn only_backups_the_secret_records_are_trusted() {
        let mut app = secret("app", "uid-app");
        let real = backup_of(&app, "app.backup-r1-aaaa", "uid-b1", 1, "aaaa");
        app.backup_record = vec![recorded(&real)];
        assert_eq!(trust(&app, &real), Trust::Recorded);

        // Planted: right label and owner, but not in the record.
        let planted = backup_of(&app, "app.backup-r999-x", "uid-p", 999, "x");
        assert!(!trust(&app, &planted).is_recorded());
        // Recreated under the recorded name: another uid.
        let recreated = backup_of(&app, "app.backup-r1-aaaa", "uid-other", 1, "aaaa");
        assert!(!trust(&app, &recreated).is_recorded());
        // Owned by another Secret.
        let other = secret("db-admin", "uid-db");
        let mut foreign = backup_of(&other, "app.backup-r1-aaaa", "uid-b1", 1, "aaaa");
        foreign.state.backup_of = Some("app".into());
        assert!(!trust(&app, &foreign).is_recorded());

        let all = vec![app.clone(), real.state.clone(), planted.state.clone()];
        let found = unrecorded_backups(&all);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0.name, "app.backup-r999-x");
    }

    #[test]
    fn the_record_keeps_the_newest_and_drops_the_rest() {
        let entry = |n: u64| RecordedBackup {
            name: format!("b{n}"),
            uid: format!("u{n}"),
            rotation_id: format!("r{n}"),
            revision: n,
        };
        let (kept, dropped) = record_with(&[entry(1), entry(2)], entry(3), 2);
        assert_eq!(kept, [entry(2), entry(3)]);
        assert_eq!(dropped, [entry(1)]);
        assert_eq!(parse_record(&record_text(&kept)).unwrap(), kept);
        assert!(parse_record(r#"[{"name":"x"}]"#).is_err());
    }

    fn journal_for(app: &SecretState, backup: &BackupRevision) -> Journal {
        Journal {
            id: "aaaa".into(),
            action: "rotate".into(),
            phase: Phase::Restarting,
            started_at: at(0),
            holder: Holder {
                by: "kubectl-secrets rotate by admin".into(),
                host: "laptop".into(),
                pid: 7,
                token: "t".into(),
                heartbeat_at: Some(at(1)),
            },
            secrets: [(
                app.name.clone(),
                JournalEntry {
                    backup: backup.name.clone(),
                    backup_uid: backup.state.uid.clone(),
                    from: 1,
                    to: 2,
                },
            )]
            .into(),
            workloads: vec![],
            sealed: None,
            external: None,
            issuers: vec![],
            renewal: None,
        }
    }

    #[test]
    fn a_journal_names_one_kind_of_change_or_is_refused() {
        let app = secret("app", "uid-app");
        let backup = backup_of(&app, "app.backup-r1-aaaa", "uid-b1", 1, "aaaa");
        let plain = journal_for(&app, &backup);
        assert_eq!(plain.recorded(), Ok(Recorded::Secrets));
        let external = ExternalJournal {
            owner: "app".into(),
            provider: "AWS Secrets Manager (us-east-1)".into(),
            region: "us-east-1".into(),
            remotes: vec![],
        };
        let store = Journal {
            external: Some(external.clone()),
            ..plain.clone()
        };
        assert_eq!(store.recorded(), Ok(Recorded::Store));
        let renewal = RenewalRecord {
            certificate: "tls".into(),
            revision: Some(1),
            serial: None,
        };
        let both = Journal {
            renewal: Some(renewal),
            ..store.clone()
        };
        let refused = both.recorded().unwrap_err();
        assert!(
            refused.contains("provider versions and a cert-manager renewal"),
            "{refused}"
        );
        assert_eq!(
            parse_journal(&journal_text(&both)),
            Err(refused),
            "every reader refuses it"
        );
        let issuer = IssuerRecord {
            secret: "app".into(),
            key: "PASSWORD".into(),
            issuer: "command:true".into(),
            successor: None,
        };
        let with_issuer = Journal {
            issuers: vec![issuer.clone()],
            ..plain.clone()
        };
        assert_eq!(with_issuer.recorded(), Ok(Recorded::Secrets));
        let forged = Journal {
            issuers: vec![issuer],
            ..store
        };
        assert!(forged
            .recorded()
            .unwrap_err()
            .contains("issuers beside provider versions"));
    }

    #[test]
    fn a_journal_is_trusted_only_when_the_secret_anchors_it() {
        let mut app = secret("app", "uid-app");
        let real = backup_of(&app, "app.backup-r1-aaaa", "uid-b1", 1, "aaaa");
        app.backup_record = vec![recorded(&real)];
        app.rotation_id = Some("aaaa".into());
        app.revision = 2;
        let journal = journal_for(&app, &real);
        let secrets = BTreeMap::from([("app".to_string(), app.clone())]);
        let backups = BTreeMap::from([(real.name.clone(), real.clone())]);
        let checked = check_journal(&journal, Some("app"), &secrets, &backups, at(10)).unwrap();
        assert_eq!(checked[0].progress, Progress::Written);
        assert_eq!(checked[0].backup.as_ref().unwrap().name, real.name);

        // The issue's forgery: another Secret named as the backup.
        let db_admin = secret("db-admin", "uid-db");
        let mut forged = journal.clone();
        forged.secrets.get_mut("app").unwrap().backup = "db-admin".into();
        forged.secrets.get_mut("app").unwrap().backup_uid = "uid-db".into();
        let with_db = BTreeMap::from([
            (real.name.clone(), real.clone()),
            ("db-admin".to_string(), BackupRevision::from_state(db_admin)),
        ]);
        let err = check_journal(&forged, Some("app"), &secrets, &with_db, at(10)).unwrap_err();
        assert!(err.contains("records no such backup"), "{err}");

        // A journal on a Secret that its rotation never wrote.
        let mut other = journal.clone();
        other.id = "bbbb".into();
        let err = check_journal(&other, Some("app"), &secrets, &backups, at(10)).unwrap_err();
        assert!(err.contains("was not written by rotation bbbb"), "{err}");

        // Restored already (revision to + 1), and edited by someone else since.
        let mut restored = app.clone();
        restored.revision = 3;
        restored.foreign_data_change_at = Some(at(5));
        let secrets = BTreeMap::from([("app".to_string(), restored)]);
        let checked = check_journal(&journal, Some("app"), &secrets, &backups, at(10)).unwrap();
        assert_eq!(checked[0].progress, Progress::Restored);
        assert_eq!(checked[0].edited_by_others_at, Some(at(5)));

        // A start in the future would make every later edit look older than the change.
        let mut future = journal.clone();
        future.started_at = at(86_400);
        let err = check_journal(&future, Some("app"), &secrets, &backups, at(10)).unwrap_err();
        assert!(err.contains("in the future"), "{err}");
    }

    #[test]
    fn a_journal_on_one_secret_drives_no_write_to_another_that_did_not_sign_up() {
        let mut app = secret("app", "uid-app");
        let app_backup = backup_of(&app, "app.backup-r1-aaaa", "uid-b1", 1, "aaaa");
        app.backup_record = vec![recorded(&app_backup)];
        app.rotation_id = Some("aaaa".into());
        app.revision = 2;
        // db was rotated on its own by rotation aaaa's id (visible on its annotations).
        let mut db = secret("db", "uid-db");
        let db_backup = backup_of(&db, "db.backup-r1-aaaa", "uid-b2", 1, "aaaa");
        db.backup_record = vec![recorded(&db_backup)];
        db.rotation_id = Some("aaaa".into());
        db.revision = 2;
        let mut journal = journal_for(&app, &app_backup);
        journal.secrets.insert(
            "db".into(),
            JournalEntry {
                backup: db_backup.name.clone(),
                backup_uid: "uid-b2".into(),
                from: 1,
                to: 2,
            },
        );
        let backups = BTreeMap::from([
            (app_backup.name.clone(), app_backup.clone()),
            (db_backup.name.clone(), db_backup.clone()),
        ]);
        let secrets = BTreeMap::from([("app".to_string(), app.clone()), ("db".to_string(), db.clone())]);
        let checked = check_journal(&journal, Some("app"), &secrets, &backups, at(10)).unwrap();
        let progress_of =
            |checked: &[CheckedEntry], name: &str| checked.iter().find(|c| c.secret == name).unwrap().progress.clone();
        assert_eq!(
            progress_of(&checked, "db"),
            Progress::NotWritten,
            "db never said app's journal is its own"
        );
        // Written by the same change, db says so in its own write.
        db.journal_on = Some("app".into());
        let secrets = BTreeMap::from([("app".to_string(), app), ("db".to_string(), db)]);
        let checked = check_journal(&journal, Some("app"), &secrets, &backups, at(10)).unwrap();
        assert_eq!(progress_of(&checked, "db"), Progress::Written);
    }

    #[test]
    fn old_or_foreign_journals_do_not_parse() {
        assert!(parse_journal(r#"{"id":"x","phase":"restarting","startedAt":"2026-01-01T00:00:00Z","backups":{"app":"db-admin"},"revisions":{},"workloads":[]}"#).is_err());
        let app = secret("app", "u");
        let backup = backup_of(&app, "b", "ub", 1, "aaaa");
        let journal = journal_for(&app, &backup);
        assert_eq!(parse_journal(&journal_text(&journal)).unwrap(), journal);
    }

    #[test]
    fn a_holder_is_alive_until_it_lets_go_dies_or_stops_renewing() {
        let app = secret("app", "u");
        let backup = backup_of(&app, "b", "ub", 1, "aaaa");
        let mut holder = journal_for(&app, &backup).holder;
        assert_eq!(
            liveness(&holder, at(10), "laptop", Some(true)),
            Liveness::Running { last: at(1) }
        );
        assert_eq!(liveness(&holder, at(10), "laptop", Some(false)), Liveness::Gone);
        assert_eq!(
            liveness(&holder, at(10), "other", Some(false)),
            Liveness::Running { last: at(1) },
            "a process on another machine cannot be checked"
        );
        assert_eq!(
            liveness(&holder, at(40), "other", None),
            Liveness::Expired { last: at(1) }
        );
        // A clock a little ahead still counts; one far ahead holds nothing.
        holder.heartbeat_at = Some(at(60));
        assert_eq!(
            liveness(&holder, at(10), "other", None),
            Liveness::Running { last: at(60) }
        );
        holder.heartbeat_at = Some(at(86_400));
        assert_eq!(
            liveness(&holder, at(10), "other", None),
            Liveness::Future {
                ahead: SignedDuration::from_secs(86_390)
            }
        );
        holder.heartbeat_at = None;
        assert_eq!(liveness(&holder, at(2), "laptop", Some(true)), Liveness::Released);
    }
}
