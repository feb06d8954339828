//! What every recovery path shares (the plain Secret's, the SealedSecret's, the External
//! Secrets'): the choice, the refusal of an untrusted journal, the Secrets and backups a journal
//! names, the plan shown before the question, and the question itself. Each path's own steps
//! live with it; `recover` only dispatches.

use std::collections::{BTreeMap, BTreeSet};

use super::lease::Anchor;
use super::{go_ahead, read_namespace, targets_for, templates_of, Consent};
use crate::cluster::{self, Connection};
use crate::domain::consumers;
use crate::domain::history::BackupRevision;
use crate::domain::journal::{CheckedEntry, Journal, Progress};
use crate::domain::model::WorkloadId;
use crate::domain::plan::SecretState;
use crate::error::{Error, Result, UntrustedRecord};
use crate::render;
use crate::render::rotate::RecoveryRow;

/// What the operator names for a recovery: the journal is written by whoever may write the
/// namespace, so an issuer's address or command, and a local file to rewrite, come from here.
#[derive(Default, Clone, Copy)]
pub struct Named<'a> {
    pub issuers: &'a [super::IssuedKey],
    pub sealed_file: Option<&'a std::path::Path>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    Resume,
    Abort,
}

/// The refusal for a journal or record that is not what a change would have left.
pub(super) fn untrusted(namespace: &str, anchor: &Anchor, found: String) -> Error {
    let (kind, name) = match anchor {
        Anchor::Secret(n) => ("secret", n.clone()),
        Anchor::SealedSecret(n) => ("sealedsecret", n.clone()),
    };
    Error::Untrusted(Box::new(UntrustedRecord {
        object: format!("the change journal on {}", anchor.describe(namespace)),
        found,
        kind: kind.into(),
        namespace: namespace.into(),
        name: name.clone(),
        fix: format!(
            ". If no change is under way, remove the annotation after checking: \
             kubectl annotate {kind} {name} -n {namespace} {}-",
            crate::domain::annotations::JOURNAL
        ),
    }))
}

/// The Secrets and backups a journal names, read from the cluster (absent ones left out).
pub(super) async fn read_named(
    conn: &Connection,
    namespace: &str,
    journal: &Journal,
) -> Result<(BTreeMap<String, SecretState>, BTreeMap<String, BackupRevision>)> {
    let mut secrets = BTreeMap::new();
    let mut backups = BTreeMap::new();
    for (name, entry) in &journal.secrets {
        if let Some(object) = cluster::secrets::find_object(conn, namespace, name).await? {
            secrets.insert(name.clone(), SecretState::from(&object));
        }
        if let Some(object) = cluster::secrets::find_object(conn, namespace, &entry.backup).await? {
            backups.insert(entry.backup.clone(), BackupRevision::from(&object));
        }
    }
    Ok((secrets, backups))
}

/// The journal's workloads that still read one of its Secrets (a journal names workloads, but
/// only consumers of what it changed are ever restarted from it).
pub(super) fn consumers_named(
    snapshot: &crate::domain::drift::Snapshot,
    policy: crate::domain::env::EnvNamePolicy,
    journal: &Journal,
) -> Vec<WorkloadId> {
    still_reading(snapshot, policy, &journal.workloads, journal.secrets.keys().cloned())
}

/// Those of `workloads` that read one of `secrets` now and do not pick a change up by themselves.
pub(super) fn still_reading(
    snapshot: &crate::domain::drift::Snapshot,
    policy: crate::domain::env::EnvNamePolicy,
    workloads: &[WorkloadId],
    secrets: impl IntoIterator<Item = String>,
) -> Vec<WorkloadId> {
    // Every reader counts here, whatever keys it reads: the journal says which were chosen.
    let changed: consumers::ChangedKeys = secrets.into_iter().map(|s| (s, BTreeSet::new())).collect();
    let reading: BTreeSet<WorkloadId> =
        consumers::to_restart(&consumers::consumers_of(snapshot, &changed, policy, true))
            .into_iter()
            .collect();
    workloads.iter().filter(|w| reading.contains(*w)).cloned().collect()
}

/// What a recovery restarts: the journal's workloads that still read its Secrets, their
/// templates, and the targets stamped with `revisions`.
pub(super) struct RecoveryPlan {
    pub workloads: Vec<WorkloadId>,
    pub templates: BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    pub targets: Vec<crate::domain::rollout::RestartTarget>,
}

/// Read what a recovery restarts and show it, with the Secrets' `rows`, as its plan.
pub(super) async fn show_plan(
    conn: &Connection,
    consent: Consent,
    namespace: &str,
    journal: &Journal,
    choice: Recovery,
    revisions: &BTreeMap<String, u64>,
    rows: &[RecoveryRow],
) -> Result<RecoveryPlan> {
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let templates = templates_of(&snapshot);
    let workloads = consumers_named(&snapshot, policy, journal);
    let targets = targets_for(&workloads, &templates, revisions, Some(journal.started_at));
    render::rotate::recovery(
        namespace,
        journal,
        choice == Recovery::Resume,
        rows,
        &targets,
        consent.output,
    )?;
    Ok(RecoveryPlan {
        workloads,
        templates,
        targets,
    })
}

/// The question of --resume / --abort (or --dry-run's stop).
pub(super) fn confirm(consent: Consent, choice: Recovery) -> Result<bool> {
    let question = match choice {
        Recovery::Resume => "Finish this change?",
        Recovery::Abort => "Undo this change?",
    };
    go_ahead(consent, question)
}

pub(super) fn recovery_row(checked: &CheckedEntry, choice: Recovery) -> RecoveryRow {
    let entry = &checked.entry;
    let (state, action) = match (&checked.progress, choice) {
        (Progress::NotWritten, _) => (
            format!("not written (revision {})", entry.from),
            "nothing to do".to_string(),
        ),
        (Progress::Written, Recovery::Resume) => (
            format!("new data (revision {})", entry.to),
            "keep: restart its consumers".to_string(),
        ),
        (Progress::Written, Recovery::Abort) => (
            format!("new data (revision {})", entry.to),
            format!(
                "restore revision {} from {} (as revision {})",
                entry.from,
                entry.backup,
                entry.to + 1
            ),
        ),
        (Progress::Restored, _) => (
            format!("already restored (revision {})", entry.to + 1),
            "restart its consumers".to_string(),
        ),
    };
    RecoveryRow {
        secret: checked.secret.clone(),
        state,
        action,
    }
}
