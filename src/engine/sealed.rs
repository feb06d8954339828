//! The SealedSecret path of the machine: a Secret the Sealed Secrets controller unseals is
//! changed through its SealedSecret. The object written is the SealedSecret, so it carries the
//! journal and the backup record, in the same merge patch (with a resourceVersion precondition)
//! as the new ciphertexts of the rotated keys (and only those) and the revision stamps of its
//! template, which the controller copies onto the Secret together with the new data.
//!
//! Steps: backup of the Secret's data → patch the SealedSecret → rewrite the GitOps file → wait
//! for the controller to unseal → restart → verify → clear. A failure puts the previous
//! ciphertexts back into the cluster and the file (and restarts again if pods had restarted).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::lease::{self, Anchor};
use super::recovery::{confirm, read_named, recovery_row, show_plan, untrusted, Recovery};
use super::upstream::{self, Upstream};
use super::{verify_changed, Consent, Machine, Settings};
use crate::cluster::access::Permission;
use crate::cluster::secrets::Stamp;
use crate::cluster::{self, Connection};
use crate::domain::annotations;
use crate::domain::journal::{self, Journal, JournalEntry, Phase, Progress, RecordedBackup, SealedJournal};
use crate::domain::model::{SealedSecretState, WorkloadId};
use crate::domain::plan::{SecretChange, SecretState};
use crate::domain::rollout::RestartTarget;
use crate::domain::seal::{self, Scope, SealingCert};
use crate::domain::sealed_file::{self, SealedFile};
use crate::domain::secret_value::SecretValue;
use crate::error::Outcome;
use crate::error::{Error, Result};
use crate::render;

/// The SealedSecret side of a planned change, prepared (and sealed) before the question.
pub struct SealedChange {
    pub owner: String,
    pub file: PathBuf,
    /// sha256 of the file as read (recorded, for a recovery to recognise it).
    before_sha256: String,
    /// The file with the new ciphertexts.
    after_text: String,
    /// The cluster's SealedSecret as read: the precondition of the write.
    cluster: SealedSecretState,
    /// Rotated key → its new ciphertext (None: the key is removed).
    ciphertexts: BTreeMap<String, Option<String>>,
    scope: Scope,
    /// Also write the cluster (else only the file, for GitOps to apply).
    pub apply: bool,
}

impl SealedChange {
    /// A file written for GitOps needs nothing of the cluster; an applied one patches the
    /// SealedSecret (the controller writes the Secret).
    pub(super) fn adjust_permissions(&self, needed: &mut Vec<Permission>) {
        if self.apply {
            needed.push(Permission::new("patch", "bitnami.com", "sealedsecrets"));
        } else {
            needed.clear();
        }
    }

    pub fn describe(&self, namespace: &str) -> String {
        format!(
            "The new values are sealed into {} (SealedSecret {}, {}){}.",
            self.file.display(),
            self.owner,
            self.scope.explain(namespace, &self.owner),
            if self.apply {
                "; only their ciphertexts change in the cluster's SealedSecret, and the controller's unsealing is awaited before any restart"
            } else {
                "; the cluster is not changed (commit the file, or run again with --apply)"
            }
        )
    }
}

/// Read the file and the cluster's SealedSecret `owner`, refuse when they disagree about keys
/// this change does not rotate (applying the file would revert them: exit 7), and seal the new
/// values with `cert`.
pub async fn prepare(
    conn: &Connection,
    path: &Path,
    owner: &str,
    change: &SecretChange,
    cert: &SealingCert,
    apply: bool,
) -> Result<SealedChange> {
    let namespace = change.before.namespace.as_str();
    let before = read_file(path)?;
    let (index, doc) = owner_doc(&before, path, owner, namespace)?;
    let scope = Scope::of_manifest(&doc);
    let cluster = cluster::sealed::get(conn, namespace, owner)
        .await?
        .ok_or_else(|| Error::NotFound(format!("SealedSecret {namespace}/{owner} does not exist")))?;
    let rotated: BTreeSet<String> = change.keys.iter().map(|k| k.key.clone()).collect();
    let file_encrypted = before.sealed()[index].encrypted_data();
    let differing = sealed_file::disagreements(&file_encrypted, &cluster.encrypted, &rotated);
    if !differing.is_empty() {
        return Err(Error::SealedConflict {
            namespace: namespace.into(),
            owner: owner.into(),
            file: path.display().to_string(),
            keys: differing.join(", "),
        });
    }
    let mut rng = rsa::rand_core::OsRng;
    let mut ciphertexts = BTreeMap::new();
    for key in &change.keys {
        let sealed = match &key.new {
            Some(value) => Some(
                seal::seal_value(cert, scope, namespace, owner, value, &mut rng)
                    .map_err(|e| Error::Usage(e.to_string()))?,
            ),
            None => None,
        };
        ciphertexts.insert(key.key.clone(), sealed);
    }
    let after = before.with_encrypted_data(index, &sealed_file::with_ciphertexts(&file_encrypted, &ciphertexts));
    Ok(SealedChange {
        owner: owner.into(),
        file: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
        before_sha256: file_hash(&before.text),
        after_text: after.text,
        cluster,
        ciphertexts,
        scope,
        apply,
    })
}

/// sha256 of a SealedSecret file's text (ciphertexts only).
fn file_hash(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

fn read_file(path: &Path) -> Result<SealedFile> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::InputFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    sealed_file::parse(&text).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// The file's SealedSecret `owner` (its index among SealedSecrets, and its document).
fn owner_doc(file: &SealedFile, path: &Path, owner: &str, namespace: &str) -> Result<(usize, Value)> {
    file.sealed()
        .into_iter()
        .enumerate()
        .find(|(_, d)| d.name == owner && (d.namespace.is_empty() || d.namespace == namespace))
        .map(|(i, d)| (i, d.doc))
        .ok_or_else(|| {
            Error::Usage(format!(
                "{} holds no SealedSecret {namespace}/{owner}: pass the file the Secret is unsealed from",
                path.display()
            ))
        })
}

/// Put `ciphertexts` into the owner's document of the file at `path`, if it holds other ones.
fn rewrite_file(
    path: &Path,
    owner: &str,
    namespace: &str,
    ciphertexts: &BTreeMap<String, Option<String>>,
) -> Result<bool> {
    let file = read_file(path)?;
    let (index, _) = owner_doc(&file, path, owner, namespace)?;
    let current = file.sealed()[index].encrypted_data();
    let wanted = sealed_file::with_ciphertexts(&current, ciphertexts);
    if wanted == current {
        return Ok(false);
    }
    crate::files::write_atomically(
        path,
        file.with_encrypted_data(index, &wanted).text.as_bytes(),
        crate::files::Access::AsBefore,
    )?;
    Ok(true)
}

/// The change: backup, SealedSecret, file, unsealing, restarts (or only the file without --apply).
pub async fn run(
    conn: &Connection,
    settings: &Settings,
    secret: &SecretChange,
    sealed: SealedChange,
    targets: &[RestartTarget],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
) -> Result<()> {
    let namespace = secret.before.namespace.as_str();
    if !sealed.apply {
        crate::files::write_atomically(
            &sealed.file,
            sealed.after_text.as_bytes(),
            crate::files::Access::AsBefore,
        )?;
        render::step(&format!(
            "Wrote {}: commit and push it. Once the controller has unsealed it, `kubectl secrets verify {} -n {namespace} --fix` restarts the consumers.",
            sealed.file.display(),
            secret.name()
        ));
        return Ok(());
    }
    let id = super::new_rotation_id();
    let name = crate::domain::plan::backup_name(secret.name(), secret.before.revision, &id);
    let keys: Vec<String> = secret.keys.iter().map(|k| k.key.clone()).collect();
    let backup = cluster::secrets::create_backup(conn, &secret.before, &name, &id, &keys, &settings.changed_by).await?;
    crate::failpoint::pause("backed-up").await;

    let stamp = Stamp {
        revision: secret.new_revision,
        rotation_id: &id,
        changed_by: &settings.changed_by,
        at: Timestamp::now(),
        journal: crate::cluster::secrets::JournalUpdate::Keep,
        record: None,
        key_changes: None,
        journal_on: None,
    };
    let stamps = cluster::secrets::stamp_annotations(&stamp);
    let journal = Journal {
        id: id.clone(),
        action: settings.action.clone(),
        phase: Phase::Unsealing,
        started_at: Timestamp::now(),
        holder: lease::this_run(&settings.changed_by),
        secrets: BTreeMap::from([(
            secret.name().to_string(),
            JournalEntry {
                backup: backup.name.clone(),
                backup_uid: backup.uid.clone(),
                from: secret.before.revision,
                to: secret.new_revision,
            },
        )]),
        workloads: targets.iter().map(|t| t.id.clone()).collect(),
        sealed: Some(SealedJournal {
            owner: sealed.owner.clone(),
            previous: sealed
                .ciphertexts
                .keys()
                .map(|k| (k.clone(), sealed.cluster.encrypted.get(k).cloned()))
                .collect(),
            previous_stamps: stamps
                .keys()
                .map(|k| (k.clone(), sealed.cluster.template_annotations.get(k).cloned()))
                .collect(),
            file: Some(sealed.file.display().to_string()),
            file_sha256: Some(journal::FileHashes {
                before: sealed.before_sha256.clone(),
                after: file_hash(&sealed.after_text),
            }),
        }),
        external: None,
        issuers: Vec::new(),
        renewal: None,
    };
    let (record, dropped) = journal::record_with(
        &sealed.cluster.backup_record,
        RecordedBackup {
            name: backup.name.clone(),
            uid: backup.uid.clone(),
            rotation_id: id.clone(),
            revision: secret.before.revision,
        },
        usize::from(settings.keep_backups),
    );
    let annotations_patch = json!({
        annotations::JOURNAL: journal::journal_text(&journal),
        annotations::BACKUPS: journal::record_text(&record),
    });
    let spec_patch = json!({
        "encryptedData": sealed.ciphertexts,
        "template": {"metadata": {"annotations": stamps}}
    });
    let written = match patch_spec(conn, namespace, &sealed, &annotations_patch, &spec_patch, &id).await {
        Ok(written) => written,
        Err(error) => {
            super::discard_backups(conn, namespace, std::slice::from_ref(&backup)).await;
            return Err(error);
        }
    };
    let anchor = Anchor::SealedSecret(sealed.owner.clone());
    let machine = Machine::holding(conn, namespace, settings, anchor, journal.clone());
    let steps = SealedSteps {
        machine: &machine,
        secret: secret.name().to_string(),
        previous_data: secret.before.data.clone(),
        file: Some(sealed.file.clone()),
    };
    let workloads: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
    if let Err(error) = crate::files::write_atomically(
        &sealed.file,
        sealed.after_text.as_bytes(),
        crate::files::Access::AsBefore,
    ) {
        return Err(upstream::undo(
            &steps,
            &workloads,
            templates,
            &format!("writing the file failed ({error})"),
        )
        .await);
    }
    render::step(&format!(
        "Wrote {} and SealedSecret {} (backup: {}); waiting for the controller to unseal it.",
        sealed.file.display(),
        sealed.owner,
        backup.name
    ));
    for old in dropped {
        if let Err(e) = cluster::secrets::delete(conn, namespace, &old.name, Some(&old.uid)).await {
            render::warning(&format!("could not delete the old backup {}: {e}", old.name));
        }
    }
    crate::failpoint::pause("written").await;
    if let Err(reason) = steps.unsealed(secret.new_revision, written.generation).await? {
        return Err(upstream::undo(&steps, &workloads, templates, &reason).await);
    }
    upstream::restart_then_clear(&steps, targets, &workloads, templates).await
}

/// Write the SealedSecret, only if what the plan was checked against (its ciphertexts and
/// template annotations) is unchanged. Its status (written by the controller) may have moved
/// the resourceVersion meanwhile: then the object is read again and the write retried; an
/// earlier attempt that landed is recognised by the journal's rotation id.
async fn patch_spec(
    conn: &Connection,
    namespace: &str,
    sealed: &SealedChange,
    annotations: &Value,
    spec: &Value,
    id: &str,
) -> Result<SealedSecretState> {
    let conflict = || Error::Conflict {
        namespace: namespace.into(),
        name: format!("{} (SealedSecret)", sealed.owner),
    };
    for _ in 0..3 {
        let current = cluster::sealed::get(conn, namespace, &sealed.owner)
            .await?
            .ok_or_else(conflict)?;
        if current
            .journal
            .as_ref()
            .and_then(|j| j.as_ref().ok())
            .is_some_and(|j| j.id == id)
        {
            return Ok(current);
        }
        if current.encrypted != sealed.cluster.encrypted
            || current.template_annotations != sealed.cluster.template_annotations
        {
            return Err(conflict());
        }
        let patch = json!({
            "metadata": {"resourceVersion": current.resource_version, "annotations": annotations},
            "spec": with_sealed_generation(spec, &current),
        });
        match cluster::sealed::patch(conn, namespace, &sealed.owner, &patch).await {
            Err(Error::Conflict { .. }) => continue,
            other => return other,
        }
    }
    Err(conflict())
}

/// `spec` (which stamps the template) with the generation this write of `current` produces,
/// stamped too: the write is conditional on `current`'s resourceVersion and changes the spec,
/// so it is `current`'s generation plus one. Should another spec change slip in between, the
/// stamp names a generation the SealedSecret has already left and never confirms anything.
fn with_sealed_generation(spec: &Value, current: &SealedSecretState) -> Value {
    let mut spec = spec.clone();
    spec["template"]["metadata"]["annotations"][annotations::SEALED_GENERATION] =
        json!((current.generation + 1).to_string());
    spec
}

/// The steps after the SealedSecret write, shared by the first run and recovery.
struct SealedSteps<'a> {
    machine: &'a Machine<'a>,
    secret: String,
    /// The Secret's data before the change (what an undo makes the controller unseal again).
    previous_data: BTreeMap<String, SecretValue>,
    /// The file an undo rewrites: the one this run wrote, or the one the operator names for a
    /// recovery (never the path a journal says).
    file: Option<PathBuf>,
}

impl SealedSteps<'_> {
    fn journal(&self) -> Journal {
        self.machine.lease.journal()
    }

    fn sealed_journal(&self) -> SealedJournal {
        self.journal().sealed.expect("a sealed change's journal")
    }

    /// Wait until the controller has unsealed the Secret at `revision` (Ok(Ok)), said it cannot
    /// (Ok(Err(reason)) once its status speaks of `generation` or later), or the time is up.
    async fn unsealed(&self, revision: u64, generation: i64) -> Result<std::result::Result<(), String>> {
        let m = self.machine;
        let owner = self.sealed_journal().owner;
        let id = self.journal().id;
        let deadline = Instant::now() + m.settings.timeout;
        let mut beat = Instant::now();
        loop {
            let current = cluster::secrets::get(m.conn, m.namespace, &self.secret).await?;
            if current.rotation_id.as_deref() == Some(id.as_str()) && current.revision == revision {
                return Ok(Ok(()));
            }
            if let Some(sealed) = cluster::sealed::get(m.conn, m.namespace, &owner).await? {
                if sealed.observed_generation >= generation && sealed.status.synced == Some(false) {
                    return Ok(Err(format!(
                        "the controller could not unseal SealedSecret {}/{owner}: {}",
                        m.namespace,
                        render::clean(&sealed.status.message)
                    )));
                }
            }
            if Instant::now() >= deadline {
                return Ok(Err(format!(
                    "the controller did not unseal SealedSecret {}/{owner} within {}",
                    m.namespace,
                    humantime::format_duration(m.settings.timeout)
                )));
            }
            if beat.elapsed() >= journal::HEARTBEAT_EVERY {
                m.lease.renew().await?;
                beat = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Put the previous ciphertexts back into the SealedSecret and the file, wait for the
/// controller to unseal the previous data, and restart the consumers with it. Whether the new
/// data reached the Secret (the controller may unseal it at any moment until the previous
/// ciphertexts are back) cannot be known without a race, so the restored data always gets the
/// next revision and the consumers always restart: afterwards every pod provably runs with the
/// previous data. The journal stays when the undo cannot finish.
impl Upstream for SealedSteps<'_> {
    fn machine(&self) -> &Machine<'_> {
        self.machine
    }

    fn secret(&self) -> &str {
        &self.secret
    }

    fn undo_step(&self) -> String {
        "Putting the previous SealedSecret back.".into()
    }

    fn put_back_words(&self) -> String {
        format!(
            "the previous SealedSecret ciphertexts were put back into the cluster and {}",
            self.file
                .as_ref()
                .map_or_else(|| "no file (none named)".into(), |f| f.display().to_string())
        )
    }

    fn put_back(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let m = self.machine;
            let journal = self.journal();
            let sealed = self.sealed_journal();
            let restored_revision = journal.secrets[&self.secret].to + 1;
            let changed_by = format!("{} (undoing {})", m.settings.changed_by, journal.id);
            let stamp = Stamp {
                revision: restored_revision,
                rotation_id: &journal.id,
                changed_by: &changed_by,
                at: Timestamp::now(),
                journal: crate::cluster::secrets::JournalUpdate::Keep,
                record: None,
                key_changes: None,
                journal_on: None,
            };
            let spec = json!({
                "encryptedData": sealed.previous,
                "template": {"metadata": {"annotations": cluster::secrets::stamp_annotations(&stamp)}}
            });
            // The controller's status updates move the resourceVersion too: read again and retry.
            let mut attempts = 0;
            let undone = loop {
                let object = cluster::sealed::get(m.conn, m.namespace, &sealed.owner)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("SealedSecret {}/{} is gone", m.namespace, sealed.owner)))?;
                let patch = json!({
                    "metadata": {"resourceVersion": object.resource_version},
                    "spec": with_sealed_generation(&spec, &object)
                });
                match cluster::sealed::patch(m.conn, m.namespace, &sealed.owner, &patch).await {
                    Err(Error::Conflict { .. }) if attempts < 3 => attempts += 1,
                    other => break other?,
                }
            };
            if let Some(path) = &self.file {
                if path.exists() {
                    rewrite_file(path, &sealed.owner, m.namespace, &sealed.previous)?;
                } else {
                    render::warning(&format!(
                        "{} is not on this machine: put the previous SealedSecret back into it from Git",
                        path.display()
                    ));
                }
            }
            // The controller unseals the previous data again (given at least a minute: the undo must
            // not give up as fast as a short --timeout gave up on the change).
            let wait = m.undo_timeout();
            let deadline = Instant::now() + wait;
            // Until the controller has handled this very generation (it may still have been working
            // through the new ciphertexts), and the Secret holds the previous data.
            loop {
                let handled = cluster::sealed::get(m.conn, m.namespace, &sealed.owner)
                    .await?
                    .is_some_and(|s| s.observed_generation >= undone.generation);
                if handled && cluster::secrets::get(m.conn, m.namespace, &self.secret).await?.data == self.previous_data
                {
                    break;
                }
                if Instant::now() >= deadline {
                    return Err(Error::RollbackFailed(format!(
                        "the controller did not unseal the previous data of {} within {}",
                        self.secret,
                        humantime::format_duration(wait)
                    )));
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Ok(restored_revision)
        })
    }
}

enum FileProblem {
    Usage(String),
    Mismatch(String),
}

/// The file a recovery may rewrite: only one the operator names with --sealed-file, and only
/// when it is the file the journal recorded (the same path) as it was before the change or as
/// the change wrote it (its sha256). A journal is written by whoever may write the namespace:
/// a path in it alone never chooses a file on the operator's machine.
fn operator_file(
    journal: &SealedJournal,
    given: Option<&Path>,
    secret: &str,
    namespace: &str,
) -> std::result::Result<Option<PathBuf>, FileProblem> {
    let recorded = match (&journal.file, given) {
        (None, None) => return Ok(None),
        (None, Some(path)) => {
            return Err(FileProblem::Usage(format!(
                "the interrupted change of {namespace}/{secret} wrote no file: run again without --sealed-file {}",
                path.display()
            )))
        }
        (Some(recorded), None) => {
            return Err(FileProblem::Usage(format!(
                "the interrupted change of {namespace}/{secret} also rewrote the file {}: name it with --sealed-file PATH \
                 (the file is only ever the one you name), e.g. kubectl secrets rotate {secret} -n {namespace} --resume \
                 --sealed-file {}",
                render::clean_line(recorded),
                render::clean_line(recorded)
            )))
        }
        (Some(recorded), Some(_)) => recorded,
    };
    let given = given.expect("matched above");
    let same = |a: &Path, b: &Path| match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => std::path::absolute(a).ok() == std::path::absolute(b).ok(),
    };
    if !same(given, Path::new(recorded)) {
        return Err(FileProblem::Mismatch(format!(
            "it recorded the file {}, not {}",
            render::clean_line(recorded),
            given.display()
        )));
    }
    if let Some(hashes) = &journal.file_sha256 {
        let text =
            crate::files::read_text(given, "the SealedSecret file").map_err(|e| FileProblem::Usage(e.to_string()))?;
        let now = file_hash(&text);
        if now != hashes.before && now != hashes.after {
            return Err(FileProblem::Mismatch(format!(
                "{} is neither the file as it was before that change nor as the change wrote it: it was changed since \
                 (pull the latest, or put the right SealedSecret into it by hand)",
                given.display()
            )));
        }
    }
    Ok(Some(given.to_path_buf()))
}

/// `rotate --resume|--abort` of a Secret whose SealedSecret carries the journal.
#[allow(clippy::too_many_arguments)]
pub async fn recover(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    target: &SecretState,
    owner: &str,
    journal: Journal,
    choice: Recovery,
    sealed_file: Option<&Path>,
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    let anchor = Anchor::SealedSecret(owner.to_string());
    let refuse = |found: String| untrusted(namespace, &anchor, found);
    let object = cluster::sealed::get(conn, namespace, owner)
        .await?
        .ok_or_else(|| Error::NotFound(format!("SealedSecret {namespace}/{owner} does not exist")))?;
    let Some(sealed_journal) = journal.sealed.clone().filter(|s| s.owner == owner) else {
        return Err(refuse("it does not describe a change of this SealedSecret".into()));
    };
    if object.template_rotation_id() != Some(journal.id.as_str()) {
        return Err(refuse(format!(
            "the SealedSecret's template was not written by rotation {} (a journal is only ever written with it)",
            journal.id
        )));
    }
    if journal.secrets.keys().ne([&target.name]) {
        return Err(refuse(format!("it names other Secrets than {}", target.name)));
    }
    // The record lives on the SealedSecret: check the backups against it.
    let (mut secrets, backups) = read_named(conn, namespace, &journal).await?;
    if let Some(state) = secrets.get_mut(&target.name) {
        state.backup_record = object.backup_record.clone();
    }
    let checked = journal::check_journal(&journal, None, &secrets, &backups, Timestamp::now()).map_err(refuse)?;
    let entry = &checked[0];
    let previous_data = match (&entry.backup, entry.progress.clone()) {
        (Some(backup), _) => backup.state.data.clone(),
        (None, _) => {
            // Not unsealed yet: the Secret still holds the previous data; its backup must exist all the same.
            let backup = backups
                .get(&entry.entry.backup)
                .filter(|b| journal::trust(&secrets[&target.name], b).is_recorded())
                .ok_or_else(|| refuse(format!("the backup {} is not recorded by {owner}", entry.entry.backup)))?;
            backup.state.data.clone()
        }
    };

    let revision = match choice {
        Recovery::Resume => entry.entry.to,
        Recovery::Abort => entry.entry.to + 1,
    };
    let written = BTreeMap::from([(target.name.clone(), revision)]);
    let rows = vec![recovery_row(entry, choice)];
    let plan = show_plan(conn, consent, namespace, &journal, choice, &written, &rows).await?;
    let (workloads, templates, targets) = (plan.workloads, plan.templates, plan.targets);
    let file = operator_file(&sealed_journal, sealed_file, &target.name, namespace).map_err(|e| match e {
        FileProblem::Usage(message) => Error::Usage(message),
        FileProblem::Mismatch(found) => refuse(found),
    })?;
    if let Some(file) = &file {
        render::step(&format!(
            "The file {} is {} too.",
            file.display(),
            match choice {
                Recovery::Resume => "brought in line with the cluster's new ciphertexts",
                Recovery::Abort => "given its previous ciphertexts back",
            }
        ));
    }
    if !confirm(consent, choice)? {
        return Ok(Outcome::Clean);
    }
    let machine = Machine::taking_over(conn, namespace, settings, anchor, &journal, &object.resource_version).await?;
    let steps = SealedSteps {
        machine: &machine,
        secret: target.name.clone(),
        previous_data,
        file: file.clone(),
    };
    match choice {
        Recovery::Abort => upstream::try_undo(&steps, &workloads, &templates).await?,
        Recovery::Resume => {
            if let Some(path) = &file {
                let now: BTreeMap<String, Option<String>> = sealed_journal
                    .previous
                    .keys()
                    .map(|k| (k.clone(), object.encrypted.get(k).cloned()))
                    .collect();
                rewrite_file(path, owner, namespace, &now)?;
            }
            if entry.progress == Progress::NotWritten {
                if let Err(reason) = steps.unsealed(entry.entry.to, object.generation).await? {
                    return Err(upstream::undo(&steps, &workloads, &templates, &reason).await);
                }
            }
            upstream::restart_then_clear(&steps, &targets, &workloads, &templates).await?;
        }
    }
    let changed = BTreeSet::from([target.name.clone()]);
    verify_changed(conn, namespace, &changed, settings).await
}
