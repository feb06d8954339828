//! Carrying out a planned change of Secrets, shared by rotate and rollback: show the plan,
//! check permissions, confirm, back up, write with preconditions, restart the consumers, wait,
//! verify, and restore + restart again when a rollout fails. A journal annotation on the
//! Secret records the change while it is under way.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use super::rollouts::{failures_of, restart_and_wait};
use super::Outcome;
use crate::cli::ChangeArgs;
use crate::context::Context;
use crate::core::consumers::{self, ConsumerAction};
use crate::core::drift::{self, Snapshot};
use crate::core::env::EnvNamePolicy;
use crate::core::model::WorkloadId;
use crate::core::plan::{self, Journal, Phase, SecretChange};
use crate::core::rollout::RestartTarget;
use crate::core::secret_value::Fingerprinter;
use crate::error::{Error, Result};
use crate::kube::access::Permission;
use crate::kube::secrets::{JournalUpdate, Stamp};
use crate::kube::{self, Connection, Scope};
use crate::prompt;
use crate::render;
use crate::render::rotate::Strategy;

/// The change's options (shared flags), the Secret that carries its journal, and the record
/// of who made it.
pub struct Settings {
    pub secret: String,
    pub keep_backups: u16,
    pub max_parallel: Option<u16>,
    pub timeout: Duration,
    pub restart: bool,
    pub restart_all: bool,
    /// Recorded on the Secret and its backups (kubectl-secrets.io/changed-by).
    pub changed_by: String,
    /// Set when the change keeps the previous value in the Secret (--keep-previous, --phase
    /// add): said instead of "safe to revoke", which would be wrong.
    pub previous_kept: Option<String>,
}

impl Settings {
    /// `action` ("kubectl-secrets rotate") plus the user the API server knows us as.
    pub async fn new(secret: &str, args: &ChangeArgs, action: &str, conn: &Connection) -> Self {
        Settings {
            secret: secret.to_string(),
            keep_backups: args.keep_backups,
            max_parallel: args.max_parallel,
            timeout: args.timeout,
            restart: !args.no_restart,
            restart_all: args.restart_all,
            changed_by: changed_by(action, conn).await,
            previous_kept: None,
        }
    }
}

const CHANGED_BY_ROLLBACK: &str = "kubectl-secrets (automatic rollback)";

/// "kubectl-secrets rotate by alice": what and who, for the change records.
async fn changed_by(action: &str, conn: &Connection) -> String {
    match kube::access::whoami(conn).await {
        Some(user) => format!("{action} by {user}"),
        None => action.to_string(),
    }
}

/// Plan → permissions → confirm → apply → verify for `changes` in `namespace`.
pub async fn plan_and_apply(
    ctx: &Context,
    conn: &Connection,
    namespace: &str,
    changes: &[SecretChange],
    settings: &Settings,
) -> Result<Outcome> {
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let changed: BTreeSet<String> = changes.iter().map(|c| c.name().to_string()).collect();
    let consumers = consumers::consumers_of(&snapshot, &changed, policy, settings.restart_all);
    let restarts: Vec<RestartTarget> = if !settings.restart {
        Vec::new()
    } else {
        consumers
            .iter()
            .filter(|c| c.action == ConsumerAction::Restart)
            .map(|c| (c.id.clone(), revisions_after(&snapshot, &c.id, changes)))
            .collect()
    };

    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        timeout: settings.timeout,
        restart: settings.restart,
    };
    let fingerprints = Fingerprinter::new(rand::random());
    render::rotate::plan(namespace, changes, &consumers, &strategy, &fingerprints, ctx.output())?;
    kube::access::require(conn, namespace, &permissions(&restarts)).await?;
    if !go_ahead(ctx)? {
        return Ok(Outcome::Clean);
    }

    let rotation = Rotation {
        conn,
        namespace,
        settings,
        id: new_rotation_id(),
        started_at: Timestamp::now(),
    };
    rotation.apply(changes, &restarts).await?;
    rotation.verify(&changed).await
}

/// After the plan: stop on --dry-run or a "no" (saying nothing was changed), else go ahead.
pub fn go_ahead(ctx: &Context) -> Result<bool> {
    if ctx.global.dry_run {
        render::rotate::step("Dry run: nothing was changed.");
        return Ok(false);
    }
    if !prompt::confirm_change(ctx.global.yes, "Apply this plan?")? {
        render::rotate::step("Cancelled: nothing was changed.");
        return Ok(false);
    }
    Ok(true)
}

pub struct Rotation<'a> {
    pub conn: &'a Connection,
    pub namespace: &'a str,
    pub settings: &'a Settings,
    pub id: String,
    pub started_at: Timestamp,
}

impl Rotation<'_> {
    pub async fn apply(&self, changes: &[SecretChange], restarts: &[RestartTarget]) -> Result<()> {
        let mut backups = BTreeMap::new();
        for change in changes {
            let name = plan::backup_name(change.name(), change.before.revision, &self.id);
            let keys: Vec<String> = change.keys.iter().map(|k| k.key.clone()).collect();
            kube::secrets::create_backup(
                self.conn,
                &change.before,
                &name,
                &self.id,
                &keys,
                &self.settings.changed_by,
            )
            .await?;
            backups.insert(change.name().to_string(), name);
        }
        crate::failpoint::pause("backed-up").await;
        let journal = Journal {
            id: self.id.clone(),
            phase: Phase::Restarting,
            started_at: self.started_at,
            backups: backups.clone(),
            revisions: changes.iter().map(|c| (c.name().to_string(), c.new_revision)).collect(),
            workloads: restarts.iter().map(|(id, _)| id.clone()).collect(),
        };

        // The rotated Secret is written first and carries the journal: from that moment on a
        // rerun knows what to finish or undo.
        let mut written: Vec<&SecretChange> = Vec::new();
        for (i, change) in changes.iter().enumerate() {
            let stamp = Stamp {
                revision: change.new_revision,
                rotation_id: &self.id,
                changed_by: &self.settings.changed_by,
                at: Timestamp::now(),
                journal: if i == 0 {
                    JournalUpdate::Write(&journal)
                } else {
                    JournalUpdate::Keep
                },
            };
            match kube::secrets::write_data(
                self.conn,
                &change.before,
                &change.before.resource_version,
                &change.after,
                &stamp,
            )
            .await
            {
                Ok(_) => written.push(change),
                Err(error) => {
                    let undo = self.restore(&written).await;
                    if written.is_empty() {
                        // Nothing changed: the backups would only hold data that is still in place.
                        for backup in backups.values() {
                            if let Err(e) = kube::secrets::delete(self.conn, self.namespace, backup).await {
                                render::warning(&format!("could not delete the unused backup {backup}: {e}"));
                            }
                        }
                        return Err(error);
                    }
                    self.clear_journal().await?;
                    return Err(match undo {
                        Ok(_) => error,
                        Err(undo_error) => Error::RollbackFailed(format!(
                            "{error}; restoring what was already written failed too: {undo_error}"
                        )),
                    });
                }
            }
        }
        let names: Vec<String> = backups.iter().map(|(s, b)| format!("{s} → {b}")).collect();
        render::rotate::step(&format!(
            "Wrote {} (backups: {}).",
            render::plural(changes.len(), "Secret"),
            names.join(", ")
        ));
        for change in changes {
            if let Err(e) = kube::secrets::prune_backups(
                self.conn,
                self.namespace,
                change.name(),
                usize::from(self.settings.keep_backups),
            )
            .await
            {
                render::warning(&format!("could not prune old backups of {}: {e}", change.name()));
            }
        }
        crate::failpoint::pause("written").await;
        if restarts.is_empty() {
            return self.clear_journal().await;
        }

        let states = restart_and_wait(
            self.conn,
            self.namespace,
            restarts,
            self.settings.max_parallel,
            self.settings.timeout,
            "Restarting consumers:",
        )
        .await?;
        let failures = failures_of(&states);
        if failures.is_empty() {
            return self.clear_journal().await;
        }
        self.roll_back(&written, restarts, &journal, &failures).await
    }

    /// Put the previous data back into every Secret this rotation wrote, only where the data
    /// is still what it wrote: someone else's later edit is reported, never overwritten.
    async fn restore(&self, written: &[&SecretChange]) -> Result<Vec<String>> {
        let mut restored = Vec::new();
        for change in written {
            let current = kube::secrets::get(self.conn, self.namespace, change.name()).await?;
            if current.data != change.after {
                return Err(Error::Conflict {
                    namespace: current.namespace,
                    name: current.name,
                });
            }
            let stamp = Stamp {
                revision: current.revision + 1,
                rotation_id: &self.id,
                changed_by: CHANGED_BY_ROLLBACK,
                at: Timestamp::now(),
                journal: JournalUpdate::Keep,
            };
            kube::secrets::write_data(
                self.conn,
                &current,
                &current.resource_version,
                &change.before.data,
                &stamp,
            )
            .await?;
            restored.push(format!("{} (now revision {})", change.name(), current.revision + 1));
        }
        Ok(restored)
    }

    async fn roll_back(
        &self,
        written: &[&SecretChange],
        restarts: &[RestartTarget],
        journal: &Journal,
        failures: &[String],
    ) -> Result<()> {
        let what_failed = failures.join("; ");
        render::rotate::step(&format!(
            "Rollout failed: {what_failed}. Restoring the previous data and restarting again."
        ));
        let rolling_back = Journal {
            phase: Phase::RollingBack,
            ..journal.clone()
        };
        kube::secrets::update_journal(
            self.conn,
            self.namespace,
            &self.settings.secret,
            &JournalUpdate::Write(&rolling_back),
        )
        .await?;
        let restored = match self.restore(written).await {
            Ok(restored) => restored,
            Err(e) => {
                return Err(Error::RollbackFailed(format!(
                    "rollout failed ({what_failed}) and restoring the previous data failed: {e}. The backups are kept \
                     ({}); the journal on {} is kept: run `kubectl secrets rotate {} -n {} --abort` once the cause is fixed",
                    journal.backups.values().cloned().collect::<Vec<_>>().join(", "),
                    self.settings.secret,
                    self.settings.secret,
                    self.namespace
                )))
            }
        };
        let back: Vec<RestartTarget> = restarts
            .iter()
            .map(|(id, revisions)| (id.clone(), revisions.iter().map(|(s, r)| (s.clone(), r + 1)).collect()))
            .collect();
        let states = restart_and_wait(
            self.conn,
            self.namespace,
            &back,
            self.settings.max_parallel,
            self.settings.timeout,
            "Restarting with the previous data:",
        )
        .await?;
        let still_failing = failures_of(&states);
        if !still_failing.is_empty() {
            return Err(Error::RollbackFailed(format!(
                "rollout failed ({what_failed}); the previous data was restored ({}) but the restart with it failed too ({}). \
                 The workloads need attention: kubectl secrets verify -n {}",
                restored.join(", "),
                still_failing.join("; "),
                self.namespace
            )));
        }
        self.clear_journal().await?;
        Err(Error::RolledBack(format!(
            "rotation rolled back: {what_failed}. Restored the previous data of {} and restarted {}: they run with the previous values again",
            restored.join(", "),
            render::plural(restarts.len(), "workload")
        )))
    }

    pub async fn clear_journal(&self) -> Result<()> {
        kube::secrets::update_journal(self.conn, self.namespace, &self.settings.secret, &JournalUpdate::Clear).await
    }

    /// verify's rules on the workloads that read the changed Secrets.
    pub async fn verify(&self, changed: &BTreeSet<String>) -> Result<Outcome> {
        if !self.settings.restart {
            render::rotate::step(&format!(
                "Consumers were not restarted: `kubectl secrets verify {} -n {}` shows which still run with old values.",
                self.settings.secret, self.namespace
            ));
            return Ok(Outcome::Clean);
        }
        verify_secrets(
            self.conn,
            self.namespace,
            changed,
            self.settings.previous_kept.as_deref(),
        )
        .await
    }
}

pub async fn verify_secrets(
    conn: &Connection,
    namespace: &str,
    changed: &BTreeSet<String>,
    previous_kept: Option<&str>,
) -> Result<Outcome> {
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let mut report = drift::assess(
        &snapshot,
        &drift::Options {
            policy,
            secret: None,
            report_unused: false,
        },
    );
    report.workloads.retain(|w| {
        w.findings.iter().any(|f| changed.contains(&f.secret)) || w.auto_updating.iter().any(|s| changed.contains(s))
    });
    for workload in &mut report.workloads {
        workload.findings.retain(|f| changed.contains(&f.secret));
        workload.status = workload
            .findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(drift::Status::Ok);
    }
    // Only what this change touched: other Secrets' problems are verify's to report.
    report.unsealing_failed.retain(|s| changed.contains(&s.name));
    report
        .revocation
        .retain(|r| changed.contains(&r.secret) && previous_kept.is_none());
    report.summary = drift::summarize(&report.workloads, 0);
    render::rotate::step(&format!(
        "Verifying the consumers of {}:",
        changed.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    render::verify::report(&report, crate::cli::OutputFormat::Table, false)?;
    if let Some(note) = previous_kept {
        render::rotate::step(note);
    }
    Ok(if report.has_drift() {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

pub async fn read_namespace(conn: &Connection, namespace: &str) -> Result<(Snapshot, EnvNamePolicy)> {
    let scope = Scope::Namespace(namespace.into());
    let (snapshot, minor) = tokio::try_join!(
        kube::snapshot::read(conn, &scope, None),
        kube::server_minor_version(conn)
    )?;
    Ok((snapshot, EnvNamePolicy::for_server_minor(minor)))
}

/// The revisions a workload's new pods are started for: what it had, plus this rotation's.
pub(super) fn revisions_after(snapshot: &Snapshot, id: &WorkloadId, changes: &[SecretChange]) -> BTreeMap<String, u64> {
    let mut revisions = snapshot
        .workloads
        .iter()
        .find(|w| &w.id == id)
        .map(|w| w.secret_revisions.clone())
        .unwrap_or_default();
    for change in changes {
        revisions.insert(change.name().to_string(), change.new_revision);
    }
    revisions
}

/// Everything the rotation will do, checked before the first write.
pub(super) fn permissions(restarts: &[RestartTarget]) -> Vec<Permission> {
    let mut needed = BTreeSet::from([
        Permission::new("create", "", "secrets"),
        Permission::new("patch", "", "secrets"),
    ]);
    if !restarts.is_empty() {
        needed.insert(Permission::new("watch", "", "pods"));
    }
    for (id, _) in restarts {
        let resource = kube::workloads::resource_of(id.kind);
        needed.insert(Permission::new("patch", "apps", resource));
        needed.insert(Permission::new("watch", "apps", resource));
    }
    needed.into_iter().collect()
}

pub(super) fn new_rotation_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
