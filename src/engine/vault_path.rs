//! `rotate vault:MOUNT/PATH`: a Vault KV v2 path that pods read through Vault's Agent Injector
//! (no Secret in between). A new version is written with check-and-set and the rotation's
//! anchor (the same store as an ExternalSecret's, `external::vault`); the pods that render the
//! path once at start are restarted; a pod that never becomes ready puts the previous data back
//! as a new version and restarts them again; verify judges them by Vault's version times.
//!
//! The path's custom_metadata is the journal: besides the anchor, `restarts-pending` names the
//! namespace whose pods still have to be restarted, from before the write until verify. A
//! rotation interrupted in between is found there by the next run (`--resume` restarts and
//! verifies, `--abort` writes the previous data back). Only the operator's own token writes
//! it: a tenant cannot plant it.

use std::collections::{BTreeMap, BTreeSet};

use super::external::vault::Vault;
use super::external::{RemoteState, Store as _};
use super::recovery::Recovery;
use super::{
    go_ahead, permissions, read_namespace, refuse_unattended_too_soon, restart_outside_a_change, run_fingerprints,
    targets_for, templates_of, verify_changed, warn_too_soon, Consent, Settings,
};
use crate::cluster::vault::VaultApi;
use crate::cluster::{self, Connection};
use crate::domain::consumers::{self, Consumer};
use crate::domain::drift::Snapshot;
use crate::domain::external::{self, Provider, RemoteField};
use crate::domain::journal::RemoteEntry;
use crate::domain::model::WorkloadId;
use crate::domain::plan::{ChangeKind, KeyChange, SecretChange, SecretState};
use crate::domain::restart_budget;
use crate::domain::rollout::RestartTarget;
use crate::domain::secret_value::SecretValue;
use crate::domain::vault_kv::{self, NotRollable, REPLACES, ROTATION};
use crate::error::{Error, Outcome, Result};
use crate::render::{self, rotate::Strategy, rotate::Writes};

/// The namespace whose pods a rotation of the path still has to restart (and verify).
pub const RESTARTS_PENDING: &str = "kubectl-secrets.io/restarts-pending";

/// A path named on the command line (`vault:secret/shop/db`, `vault:secret/data/shop/db`).
pub struct VaultPath {
    store: Vault,
    mount: String,
    /// The path under the mount.
    path: String,
}

impl VaultPath {
    /// Find the path's KV v2 mount (as `vault kv` does); anything else is refused.
    pub async fn open(target: &str) -> Result<Self> {
        let named = target.trim_start_matches('/');
        let api = VaultApi::from_env();
        let (mount, kind, version) = api.mount_of(named).await?;
        if kind != "kv" || version != "2" {
            return Err(Error::Usage(format!(
                "vault:{named} is in a {kind} engine{} at {mount}/: rotate writes KV version 2 paths only",
                if version.is_empty() {
                    String::new()
                } else {
                    format!(" (version {version})")
                }
            )));
        }
        let path = vault_kv::relative_path(&mount, named);
        if path.is_empty() {
            return Err(Error::Usage(format!(
                "vault:{named} is the mount itself: name a secret under it"
            )));
        }
        let provider = Provider::Vault {
            server: api.addr().to_string(),
            mount: mount.clone(),
            kv: "v2".into(),
            namespace: None,
        };
        let store = Vault::connect(&provider).expect("a KV v2 provider has a store");
        Ok(VaultPath { store, mount, path })
    }

    /// "secret/shop/db", as `vault kv` users name it.
    pub fn shown(&self) -> String {
        render::clean_line(&format!("{}/{}", self.mount, self.path))
    }

    /// "vault:secret/data/shop/db": how the injector's annotations (and verify) name it.
    fn source(&self) -> String {
        format!("vault:{}/data/{}", self.mount, self.path)
    }
}

/// Keys of the path as a Secret-like state, for choosing new values the same way as for a
/// Secret's keys (generators shaped like the old values, issued credentials left out).
pub async fn read(vault: &VaultPath, namespace: &str) -> Result<SecretState> {
    let current = vault.store.current(&vault.path).await?;
    let data = external::properties(&current.text)
        .into_iter()
        .filter_map(|field| {
            let field_ref = RemoteField {
                remote_key: vault.path.clone(),
                property: Some(field.clone()),
            };
            external::read_field(&current.text, &field_ref)
                .ok()
                .map(|value| (field, SecretValue::new(value)))
        })
        .collect();
    Ok(SecretState {
        namespace: namespace.to_string(),
        name: format!("vault:{}", vault.shown()),
        uid: vault.source(),
        data,
        ..Default::default()
    })
}

/// The ExternalSecrets that sync the path (in `namespace`, and in others), from the stores
/// that read the same mount: rotating their Secret is the way for them (it restarts both).
async fn syncing(conn: &Connection, vault: &VaultPath) -> Result<Vec<(String, String, String)>> {
    let all = match cluster::external::list(conn, &cluster::Scope::AllNamespaces).await {
        Ok(all) => all,
        Err(e) => {
            render::warning(&format!(
                "could not list ExternalSecrets in all namespaces ({e}): whether one syncs {} is not known",
                vault.shown()
            ));
            return Ok(Vec::new());
        }
    };
    let providers = cluster::external::providers_of(conn, &all).await;
    let mut found = Vec::new();
    for es in &all {
        let Some(Some(Provider::Vault { mount, .. })) = providers.get(&external::store_key(es)) else {
            continue;
        };
        let reads = es
            .remotes()
            .into_iter()
            .any(|remote| *mount == vault.mount && vault_kv::relative_path(mount, remote) == vault.path);
        if reads {
            found.push((es.namespace.clone(), es.name.clone(), es.target.clone()));
        }
    }
    Ok(found)
}

/// Before any value is chosen: an interrupted rotation of the path, or an ExternalSecret that
/// syncs it (its Secret is the way in), stops here.
pub async fn check(conn: &Connection, settings: &Settings, vault: &VaultPath, namespace: &str) -> Result<()> {
    let custom = vault.store.custom_metadata(&vault.path).await?;
    if let Some(pending) = custom.get(RESTARTS_PENDING) {
        return Err(Error::Usage(format!(
            "a rotation of vault:{} was interrupted before its restarts (pods in namespace {}): nothing was changed. \
             `kubectl secrets rotate vault:{} -n {} --resume` restarts and verifies them, or --abort puts the previous \
             version's data back",
            vault.shown(),
            render::clean_line(pending),
            vault.shown(),
            render::clean_line(pending)
        )));
    }
    let synced = syncing(conn, vault).await?;
    if let Some((ns, es, secret)) = synced.iter().find(|(ns, _, _)| ns == namespace) {
        return Err(Error::Usage(format!(
            "ExternalSecret {ns}/{es} syncs vault:{} into Secret {secret}: rotate that Secret (`kubectl secrets rotate \
             {secret} -n {ns} --key KEY`), which writes the same Vault version and restarts its readers and the pods \
             that render the path",
            vault.shown()
        )));
    }
    let elsewhere: Vec<String> = synced.iter().map(|(ns, es, _)| format!("{ns}/{es}")).collect();
    if !elsewhere.is_empty() && !settings.allow_shared_remote {
        return Err(Error::Unconsented(format!(
            "vault:{} is also synced by ExternalSecret {} in other namespaces: a new version there reaches them at their \
             next refresh, without restarts. Pass --allow-shared-remote if that is meant",
            vault.shown(),
            elsewhere.join(", ")
        )));
    }

    Ok(())
}

/// Who reads the path in a namespace: the pods the injector renders it into.
struct Readers {
    snapshot: Snapshot,
    consumers: Vec<Consumer>,
    /// Those that render it once at start (unless --no-restart): restarted.
    restarts: Vec<WorkloadId>,
}

impl Readers {
    async fn of(conn: &Connection, settings: &Settings, vault: &VaultPath, namespace: &str) -> Result<Self> {
        let (snapshot, policy) = read_namespace(conn, namespace).await?;
        let changed = consumers::ChangedKeys::from([(vault.source(), BTreeSet::new())]);
        let consumers = consumers::consumers_of(&snapshot, &changed, policy, settings.restart_all);
        let restarts = match settings.restart {
            true => consumers::to_restart(&consumers),
            false => Vec::new(),
        };
        Ok(Readers {
            snapshot,
            consumers,
            restarts,
        })
    }

    /// Restart them for the version now current at Vault; the rollouts that failed.
    async fn restart(
        &self,
        conn: &Connection,
        settings: &Settings,
        vault: &VaultPath,
        namespace: &str,
        title: &str,
    ) -> Result<Vec<String>> {
        if self.restarts.is_empty() {
            return Ok(Vec::new());
        }
        let version = vault.store.current(&vault.path).await?.version_id;
        let targets = self.targets(vault, Some(&version));
        restart_outside_a_change(conn, settings, namespace, &targets, title, None).await
    }

    /// The restarts, their templates stamped with the Vault version the new pods render
    /// (`vault:PATH` in kubectl-secrets.io/secret-revisions, beside the Secrets' revisions).
    fn targets(&self, vault: &VaultPath, version: Option<&str>) -> Vec<RestartTarget> {
        let written: BTreeMap<String, u64> = version
            .and_then(|v| v.parse().ok())
            .map(|v| BTreeMap::from([(vault.source(), v)]))
            .unwrap_or_default();
        targets_for(&self.restarts, &templates_of(&self.snapshot), &written, None)
    }
}

/// The rotation (after `check`): plan, question, pending mark, write, restarts, verify.
pub async fn rotate(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    vault: &VaultPath,
    target: &SecretState,
    new_values: &BTreeMap<String, (SecretValue, String)>,
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    // The new data: the given fields changed, the others kept.
    let current = vault.store.current(&vault.path).await?;
    let changes: Vec<(Option<String>, &SecretValue)> = new_values
        .iter()
        .map(|(field, (value, _))| (Some(field.clone()), value))
        .collect();
    let new_text = external::write_fields(&current.text, &changes)
        .map_err(|e| Error::Usage(format!("vault:{}: {e}", vault.shown())))?;
    let notes = vault.store.precheck(&vault.path, &new_text).await?;
    let mut after = target.data.clone();
    let mut keys = Vec::new();
    for (field, (value, how)) in new_values {
        after.insert(field.clone(), value.clone());
        keys.push(KeyChange {
            key: field.clone(),
            kind: ChangeKind::Rotated { how: how.clone() },
            old: target.data.get(field).cloned(),
            new: Some(value.clone()),
        });
    }
    let change = SecretChange {
        before: target.clone(),
        after,
        new_revision: 0,
        keys,
        left_out: Vec::new(),
    };

    let readers = Readers::of(conn, settings, vault, namespace).await?;
    super::refuse_beyond_max_restarts(settings, namespace, readers.restarts.len())?;
    let targets = readers.targets(vault, None);
    let too_soon = restart_budget::too_soon(
        &readers.snapshot.workloads,
        &readers.restarts,
        settings.min_restart_interval,
        jiff::Timestamp::now(),
    );
    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        batch_interval: settings.batch_interval,
        timeout: settings.timeout,
        restart: settings.restart,
        writes: Writes::VaultPath,
    };
    render::rotate::plan(
        &conn.context,
        namespace,
        std::slice::from_ref(&change),
        &readers.consumers,
        &strategy,
        &run_fingerprints(),
        consent.output,
    )?;
    render::step(&format!(
        "HashiCorp Vault ({}): a new version of {} ({}; replaces version {}) is written with check-and-set on the version \
         read; the path's custom_metadata records the rotation and the restarts still to do.",
        render::clean_line(vault.store.location()),
        vault.shown(),
        notes.join(", "),
        current.version_id
    ));
    warn_too_soon(&too_soon, settings);
    refuse_unattended_too_soon(&too_soon, settings, consent.yes && !consent.dry_run)?;
    let needed = permissions(&targets);
    if !targets.is_empty() {
        cluster::access::require(conn, namespace, &needed).await?;
    }
    if !go_ahead(consent, "Apply this plan?")? {
        return Ok(Outcome::Clean);
    }

    let id = super::new_rotation_id();
    let token = external::version_token(&id, &vault.source());
    vault
        .store
        .mark(&vault.path, RESTARTS_PENDING, Some(namespace.to_string()))
        .await?;
    let entry = RemoteEntry {
        key: vault.path.clone(),
        previous: current.version_id.clone(),
        new: token.clone(),
    };
    let written = match vault
        .store
        .write(&vault.path, &token, &new_text, &current.version_id)
        .await
    {
        Ok(version) => version,
        Err(error) => {
            // Nothing reached Vault (a conflict among them): nothing to restart, the mark goes.
            // Where Vault cannot say, or says the version was written, it stays for --resume.
            let not_written = matches!(error, Error::ProviderConflict(_))
                || matches!(vault.store.state(&entry).await, Ok(Ok(RemoteState::NotWritten)));
            if not_written {
                vault.store.mark(&vault.path, RESTARTS_PENDING, None).await?;
                return Err(error);
            }
            return Err(Error::RollbackFailed(format!(
                "{error}. Whether the new version of {} reached Vault is not known: `kubectl secrets rotate vault:{} -n \
                 {namespace} --resume` finishes it (or --abort puts the previous data back)",
                vault.shown(),
                vault.shown()
            )));
        }
    };
    render::step(&format!(
        "Wrote version {written} of {} at Vault: it is the current version (Vault keeps the previous one).",
        vault.shown()
    ));
    crate::failpoint::pause("vault-path-written").await;
    restart_verify_clear(conn, settings, vault, namespace, &readers, &entry).await
}

/// The restarts, verify, and the pending mark cleared; a failed restart puts the previous
/// data back as a new version and restarts again (exit 8).
async fn restart_verify_clear(
    conn: &Connection,
    settings: &Settings,
    vault: &VaultPath,
    namespace: &str,
    readers: &Readers,
    entry: &RemoteEntry,
) -> Result<Outcome> {
    {
        let failures = readers
            .restart(conn, settings, vault, namespace, "Restarting consumers:")
            .await?;
        if !failures.is_empty() {
            let what_failed = failures.join("; ");
            render::step(&format!(
                "{what_failed}. Writing version {}'s data back to {} and restarting again.",
                entry.previous,
                vault.shown()
            ));
            return Err(undo(conn, settings, vault, namespace, readers, entry, &what_failed).await);
        }
    }
    let changed = BTreeSet::from([vault.source()]);
    let outcome = verify_changed(conn, namespace, &changed, settings).await?;
    vault.store.mark(&vault.path, RESTARTS_PENDING, None).await?;
    Ok(outcome)
}

async fn undo(
    conn: &Connection,
    settings: &Settings,
    vault: &VaultPath,
    namespace: &str,
    readers: &Readers,
    entry: &RemoteEntry,
    what_failed: &str,
) -> Error {
    let undone = async {
        vault.store.move_back(entry).await?;
        let again = readers
            .restart(conn, settings, vault, namespace, "Restarting with the previous data:")
            .await?;
        vault.store.mark(&vault.path, RESTARTS_PENDING, None).await?;
        Ok::<_, Error>(again)
    }
    .await;
    match undone {
        Ok(again) if again.is_empty() => Error::RolledBack(format!(
            "{what_failed}: the previous data of {} was written back as a new version at Vault and the pods restarted \
             with it",
            vault.shown()
        )),
        Ok(again) => Error::RollbackFailed(format!(
            "{what_failed}; the previous data of {} was written back, but restarting again failed too: {}",
            vault.shown(),
            again.join("; ")
        )),
        Err(e) => Error::RollbackFailed(format!(
            "{what_failed}; putting the previous data of {} back failed: {e}. `kubectl secrets rotate vault:{} -n \
             {namespace} --abort` tries again",
            vault.shown(),
            vault.shown()
        )),
    }
}

/// `--resume` / `--abort` of a rotation of the path that stopped before its restarts were
/// verified: its record is the path's custom_metadata (the anchor and the pending namespace).
pub async fn recover(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    vault: &VaultPath,
    namespace: &str,
    choice: Recovery,
) -> Result<Outcome> {
    let custom = vault.store.custom_metadata(&vault.path).await?;
    let shown = vault.shown();
    let Some(pending) = custom.get(RESTARTS_PENDING) else {
        return Err(Error::NotFound(format!(
            "no interrupted rotation of vault:{shown}: its custom_metadata records no restarts pending"
        )));
    };
    if pending != namespace {
        return Err(Error::Usage(format!(
            "the interrupted rotation of vault:{shown} restarts pods in namespace {}: run it with -n {}",
            render::clean_line(pending),
            render::clean_line(pending)
        )));
    }
    let (Some(token), Some(previous)) = (custom.get(ROTATION), custom.get(REPLACES)) else {
        return Err(Error::Usage(format!(
            "vault:{shown} records restarts pending but no rotation: nothing was written; clear it with `vault kv \
             metadata patch -mount={} -custom-metadata={RESTARTS_PENDING}= {}`",
            vault.mount, vault.path
        )));
    };
    let entry = RemoteEntry {
        key: vault.path.clone(),
        previous: previous.clone(),
        new: token.clone(),
    };
    let state = vault.store.state(&entry).await?.map_err(|e| {
        Error::Usage(format!(
            "the rotation recorded at {e}: look at it with `vault kv metadata get`"
        ))
    })?;
    let readers = Readers::of(conn, settings, vault, namespace).await?;
    let (what, resumable) = match state {
        RemoteState::NotWritten => ("the new version never reached Vault", false),
        RemoteState::Current => ("the new version is current", true),
        RemoteState::MovedBack => ("the previous data is current again", false),
        RemoteState::Pending => ("the new version is written, not current", false),
    };
    let names: Vec<String> = readers.restarts.iter().map(|w| w.to_string()).collect();
    render::step(&format!(
        "Interrupted rotation of vault:{shown} (replacing version {}): {what}. {} in namespace {namespace}: {}.",
        render::clean_line(previous),
        match choice {
            Recovery::Resume => "--resume restarts and verifies",
            Recovery::Abort => "--abort puts the previous data back and restarts",
        },
        if names.is_empty() {
            "no pod renders it once".to_string()
        } else {
            names.join(", ")
        }
    ));
    if choice == Recovery::Resume && !resumable {
        return Err(Error::Usage(format!(
            "the rotation of vault:{shown} cannot be resumed: {what}. `--abort` clears it"
        )));
    }
    if !go_ahead(consent, "Go ahead?")? {
        return Ok(Outcome::Clean);
    }
    match choice {
        Recovery::Resume => restart_verify_clear(conn, settings, vault, namespace, &readers, &entry).await,
        Recovery::Abort if state == RemoteState::Current => {
            vault.store.move_back(&entry).await?;
            restart_verify_clear(conn, settings, vault, namespace, &readers, &entry).await
        }
        Recovery::Abort => {
            // Never written, or already moved back: only the restarts remain for the latter.
            if state == RemoteState::MovedBack {
                return restart_verify_clear(conn, settings, vault, namespace, &readers, &entry).await;
            }
            vault.store.mark(&vault.path, RESTARTS_PENDING, None).await?;
            render::step(&format!(
                "Nothing reached Vault: the record of the rotation of vault:{shown} is cleared."
            ));
            Ok(Outcome::Clean)
        }
    }
}

/// `history vault:PATH`: Vault's versions of the path (newest first, with their state).
pub async fn versions(vault: &VaultPath) -> Result<crate::domain::external::RemoteHistory> {
    Ok(crate::domain::external::RemoteHistory {
        provider: format!("HashiCorp Vault ({})", render::clean_line(vault.store.location())),
        remote: vault.shown(),
        versions: external::newest_versions(vault.store.versions(&vault.path).await?, 10),
    })
}

/// `rollback vault:PATH [--to-revision N]`: the fields of version N (default: the version the
/// current one replaced), written back as a new version through the same plan, restarts and
/// verify as a rotation (a rollback can be rolled back). The current version stays in Vault's
/// history.
pub async fn rollback(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    vault: &VaultPath,
    namespace: &str,
    to_version: Option<u64>,
) -> Result<Outcome> {
    check(conn, settings, vault, namespace).await?;
    let target = read(vault, namespace).await?;
    let versions = vault.store.versions(&vault.path).await?;
    let shown = vault.shown();
    let wanted = to_version.map(|n| n.to_string()).unwrap_or_default();
    let previous = vault_kv::rollback_target(&versions, to_version).map_err(|why| match why {
        NotRollable::NoPrevious => Error::NotFound(format!(
            "vault:{shown} has no previous version to go back to (the one before the current is deleted, destroyed or \
             never was): `kubectl secrets history vault:{shown}` lists them, --to-revision N picks one"
        )),
        NotRollable::Missing => Error::NotFound(format!(
            "vault:{shown} has no version {wanted} (never written, or no longer kept): `kubectl secrets history \
             vault:{shown}` lists them"
        )),
        NotRollable::Current => Error::NotFound(format!(
            "version {wanted} is the current version of vault:{shown}: nothing to roll back"
        )),
        NotRollable::Deleted => Error::Usage(format!(
            "version {wanted} of vault:{shown} is deleted: `vault kv undelete -mount={} -versions={wanted} {}` brings \
             its data back first",
            vault.mount, vault.path
        )),
        NotRollable::Destroyed => Error::Usage(format!(
            "version {wanted} of vault:{shown} is destroyed: its data is gone; `kubectl secrets history vault:{shown}` \
             lists the versions still kept"
        )),
    })?;
    let before = vault.store.value_at(&vault.path, &previous.id).await?;
    let how = format!("back to version {}", previous.id);
    let mut new_values = BTreeMap::new();
    let fields = external::properties(&before.text);
    // A field added since that version is not removed: a rollback changes values, not shape.
    let added: Vec<String> = target
        .data
        .keys()
        .filter(|f| !fields.contains(*f))
        .map(|f| render::clean_line(f))
        .collect();
    if !added.is_empty() {
        render::warning(&format!(
            "{} of vault:{shown} {} not in version {}: kept as {} now",
            added.join(", "),
            if added.len() == 1 { "is" } else { "are" },
            previous.id,
            if added.len() == 1 { "it is" } else { "they are" }
        ));
    }
    for field in fields {
        let field_ref = RemoteField {
            remote_key: vault.path.clone(),
            property: Some(field.clone()),
        };
        let Ok(value) = external::read_field(&before.text, &field_ref) else {
            continue;
        };
        if target.data.get(&field).map(|v| v.expose()) != Some(value.as_slice()) {
            new_values.insert(field, (SecretValue::new(value), how.clone()));
        }
    }
    if new_values.is_empty() {
        return Err(Error::NotFound(format!(
            "version {} of vault:{} holds the same fields as the current one: nothing to roll back",
            previous.id,
            vault.shown()
        )));
    }
    rotate(conn, consent, settings, vault, &target, &new_values).await
}
