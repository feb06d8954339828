//! `rotate --sealed-file`: a Secret the Sealed Secrets controller unseals is rotated through its
//! SealedSecret file. The new values are sealed into the file (same scope, other keys kept);
//! with --apply the SealedSecret is applied, the controller's unsealing awaited, and the
//! consumers restarted and verified, with the previous SealedSecret re-applied if a rollout fails.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;
use tokio::time::Instant;

use super::apply::{self, read_namespace, verify_secrets, Settings};
use super::rollouts::{failures_of, restart_and_wait};
use super::Outcome;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::core::consumers::{self, ConsumerAction};
use crate::core::plan::{self, SecretChange};
use crate::core::rollout::RestartTarget;
use crate::core::seal::{self, Scope};
use crate::core::sealed_file::{self, SealedFile};
use crate::core::secret_value::Fingerprinter;
use crate::error::{Error, Result};
use crate::kube::access::Permission;
use crate::kube::secrets::{JournalUpdate, Stamp};
use crate::kube::{self, Connection};
use crate::render;
use crate::render::rotate::Strategy;

/// The file, and which of its SealedSecrets is the Secret's owner.
struct OwnerFile {
    file: SealedFile,
    index: usize,
    doc: Value,
    scope: Scope,
}

fn owner_file(path: &Path, owner: &str, namespace: &str) -> Result<OwnerFile> {
    let display = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("cannot read {display}: {e}")))?;
    let file = sealed_file::parse(&text).map_err(|e| Error::Usage(format!("{display}: {e}")))?;
    let found = file
        .sealed()
        .into_iter()
        .enumerate()
        .find(|(_, d)| d.name == owner && (d.namespace.is_empty() || d.namespace == namespace));
    let Some((index, doc)) = found else {
        return Err(Error::Usage(format!(
            "{display} holds no SealedSecret {namespace}/{owner}: pass the file the Secret is unsealed from"
        )));
    };
    let scope = Scope::of_manifest(&doc.doc);
    let doc = doc.for_controller(namespace);
    Ok(OwnerFile {
        file,
        index,
        doc,
        scope,
    })
}

pub async fn run(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    change: &SecretChange,
    owner: &str,
    settings: &Settings,
) -> Result<Outcome> {
    let path = args.sealed_file.as_deref().expect("--sealed-file given");
    let namespace = change.before.namespace.as_str();
    let owned = owner_file(path, owner, namespace)?;
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let changed = BTreeSet::from([change.name().to_string()]);
    let consumers = consumers::consumers_of(&snapshot, &changed, policy, settings.restart_all);
    let restarts: Vec<RestartTarget> = if args.apply && settings.restart {
        consumers
            .iter()
            .filter(|c| c.action == ConsumerAction::Restart)
            .map(|c| {
                (
                    c.id.clone(),
                    apply::revisions_after(&snapshot, &c.id, std::slice::from_ref(change)),
                )
            })
            .collect()
    } else {
        Vec::new()
    };
    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        timeout: settings.timeout,
        restart: args.apply && settings.restart,
    };
    let fingerprints = Fingerprinter::new(rand::random());
    render::rotate::plan(
        namespace,
        std::slice::from_ref(change),
        &consumers,
        &strategy,
        &fingerprints,
        ctx.output(),
    )?;
    render::rotate::step(&format!(
        "The new values are sealed into {} (SealedSecret {owner}, {}){}.",
        path.display(),
        owned.scope.explain(namespace, owner),
        if args.apply {
            ", which is then applied; the controller's unsealing is awaited before any restart"
        } else {
            "; the cluster is not changed (commit the file, or run again with --apply)"
        }
    ));
    let cert = {
        let (pem, source) = super::fetch_cert::certificate_for_seal(ctx, &args.controller).await?;
        let cert = seal::parse_cert(&source, &pem).map_err(|e| Error::Usage(e.to_string()))?;
        super::fetch_cert::warn_expiry(&source, &cert);
        cert
    };
    if args.apply {
        let mut needed = apply::permissions(&restarts);
        needed.push(Permission::new("patch", "bitnami.com", "sealedsecrets"));
        kube::access::require(conn, namespace, &needed).await?;
    }
    if !apply::go_ahead(ctx)? {
        return Ok(Outcome::Clean);
    }

    let mut encrypted = owned.file.sealed()[owned.index].encrypted_data();
    let mut rng = rsa::rand_core::OsRng;
    for key in &change.keys {
        match &key.new {
            Some(value) => {
                let sealed = seal::seal_value(&cert, owned.scope, namespace, owner, value, &mut rng)
                    .map_err(|e| Error::Usage(e.to_string()))?;
                encrypted.insert(key.key.clone(), Value::String(sealed));
            }
            None => {
                encrypted.remove(&key.key);
            }
        }
    }
    let updated = owned.file.with_encrypted_data(owned.index, &encrypted);
    if !args.apply {
        super::seal::write_atomically(path, &updated.text)?;
        render::rotate::step(&format!(
            "Wrote {}: commit and push it. Once the controller has unsealed it, `kubectl secrets verify {} -n {namespace} --fix` restarts the consumers.",
            path.display(),
            change.name()
        ));
        return Ok(Outcome::Clean);
    }

    let id = apply::new_rotation_id();
    let backup = plan::backup_name(change.name(), change.before.revision, &id);
    let keys: Vec<String> = change.keys.iter().map(|k| k.key.clone()).collect();
    kube::secrets::create_backup(conn, &change.before, &backup, &id, &keys, &settings.changed_by).await?;
    super::seal::write_atomically(path, &updated.text)?;
    let mut new_doc = owned.doc.clone();
    new_doc["spec"]["encryptedData"] = Value::Object(encrypted);
    kube::sealed::apply(conn, namespace, &new_doc).await?;
    render::rotate::step(&format!(
        "Wrote {} and applied SealedSecret {owner} (backup: {backup}); waiting for the controller to unseal it.",
        path.display()
    ));
    wait_unsealed(conn, change, settings.timeout).await?;
    stamp(conn, change, &id, &settings.changed_by).await?;

    if !restarts.is_empty() {
        let states = restart_and_wait(
            conn,
            namespace,
            &restarts,
            settings.max_parallel,
            settings.timeout,
            "Restarting consumers:",
        )
        .await?;
        let failed = failures_of(&states);
        if !failed.is_empty() {
            return Err(undo(conn, change, &owned, path, &restarts, settings, failed).await);
        }
    }
    verify_secrets(conn, namespace, &changed, settings.previous_kept.as_deref()).await
}

/// Wait until the controller has written the planned data into the Secret (or said it cannot).
async fn wait_unsealed(conn: &Connection, change: &SecretChange, timeout: Duration) -> Result<()> {
    let namespace = &change.before.namespace;
    let owner = change
        .before
        .controller
        .as_ref()
        .map(|o| o.name.clone())
        .unwrap_or_default();
    let started = Instant::now();
    let deadline = started + timeout;
    loop {
        let current = kube::secrets::get(conn, namespace, change.name()).await?;
        if current.data == change.after {
            return Ok(());
        }
        // The status may still be the one from before the apply: trust it after a moment.
        if started.elapsed() > Duration::from_secs(3) {
            if let Some(status) = kube::sealed::status(conn, namespace, &owner).await? {
                if status.synced == Some(false) {
                    return Err(Error::Usage(format!(
                        "the controller could not unseal SealedSecret {namespace}/{owner}: {}",
                        status.message
                    )));
                }
            }
        }
        if Instant::now() >= deadline {
            return Err(Error::Usage(format!(
                "the controller did not unseal SealedSecret {namespace}/{owner} within {}: check it with `kubectl get sealedsecret {owner} -n {namespace}`",
                humantime::format_duration(timeout)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Record the revision on the unsealed Secret, so the restarted pods give exact evidence.
async fn stamp(conn: &Connection, change: &SecretChange, id: &str, changed_by: &str) -> Result<()> {
    let current = kube::secrets::get(conn, &change.before.namespace, change.name()).await?;
    let stamp = Stamp {
        revision: change.new_revision,
        rotation_id: id,
        changed_by,
        at: Timestamp::now(),
        journal: JournalUpdate::Keep,
    };
    kube::secrets::write_data(conn, &current, &current.resource_version, &current.data, &stamp)
        .await
        .map(|_| ())
}

/// A rollout failed: the previous SealedSecret goes back into the file and the cluster, and the
/// consumers restart with the previous data.
async fn undo(
    conn: &Connection,
    change: &SecretChange,
    owned: &OwnerFile,
    path: &Path,
    restarts: &[RestartTarget],
    settings: &Settings,
    failed: Vec<String>,
) -> Error {
    let result: Result<()> = async {
        super::seal::write_atomically(path, &owned.file.text)?;
        kube::sealed::apply(conn, &change.before.namespace, &owned.doc).await?;
        let back = SecretChange {
            before: change.before.clone(),
            after: change.before.data.clone(),
            new_revision: change.new_revision + 1,
            keys: Vec::new(),
        };
        wait_unsealed(conn, &back, settings.timeout).await?;
        stamp(conn, &back, &apply::new_rotation_id(), &settings.changed_by).await?;
        let again: Vec<RestartTarget> = restarts
            .iter()
            .map(|(id, revisions)| {
                let mut revisions = revisions.clone();
                revisions.insert(change.name().to_string(), back.new_revision);
                (id.clone(), revisions)
            })
            .collect();
        let states = restart_and_wait(
            conn,
            &change.before.namespace,
            &again,
            settings.max_parallel,
            settings.timeout,
            "Restarting with the previous data:",
        )
        .await?;
        let still = failures_of(&states);
        if still.is_empty() {
            Ok(())
        } else {
            Err(Error::Usage(still.join("; ")))
        }
    }
    .await;
    match result {
        Ok(()) => Error::RolledBack(format!(
            "{}; the previous SealedSecret was put back into {} and applied, and the consumers restarted",
            failed.join("; "),
            path.display()
        )),
        Err(e) => Error::RollbackFailed(format!(
            "{}; putting the previous SealedSecret back failed too: {e}",
            failed.join("; ")
        )),
    }
}
