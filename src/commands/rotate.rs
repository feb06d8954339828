//! `rotate`: select → plan → confirm → back up → write (resourceVersion-checked) → restart →
//! wait → verify, and restore + restart again when a rollout fails. A journal annotation on
//! the Secret lets a rerun finish (--resume) or undo (--abort) an interrupted rotation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use jiff::Timestamp;

use super::rollouts::{failures_of, restart_and_wait};
use super::Outcome;
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::core::consumers::{self, ConsumerAction};
use crate::core::drift::{self, Snapshot};
use crate::core::env::EnvNamePolicy;
use crate::core::generate::Generator;
use crate::core::model::WorkloadId;
use crate::core::plan::{self, Journal, Phase, RotationRequest, SecretChange, SecretState};
use crate::core::rollout::RestartTarget;
use crate::core::secret_value::{Fingerprinter, SecretValue};
use crate::error::{Error, Result};
use crate::kube::access::Permission;
use crate::kube::secrets::{JournalUpdate, Stamp};
use crate::kube::{self, Connection, Scope};
use crate::prompt::{self, InterruptedChoice, ValueSource};
use crate::render;
use crate::render::rotate::Strategy;

const CHANGED_BY: &str = "kubectl-secrets rotate";
const CHANGED_BY_ROLLBACK: &str = "kubectl-secrets rotate (rollback)";

pub async fn run(ctx: &Context, args: &RotateArgs) -> Result<Outcome> {
    // Values from stdin and files are read before the client exists: exec auth plugins share stdin.
    let given = read_given_values(args)?;
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let target = kube::secrets::get(&conn, &namespace, &args.secret).await?;
    if let Some(journal) = target.journal.clone() {
        return interrupted(ctx, args, &conn, &target, journal).await;
    }
    if args.resume || args.abort {
        return Err(Error::Usage(format!(
            "there is no interrupted rotation of {namespace}/{} to finish or undo",
            args.secret
        )));
    }

    let new_values = choose_new_values(args, &target, given)?;
    let others = if args.propagate {
        kube::secrets::list_with_values(&conn, &namespace).await?
    } else {
        Vec::new()
    };
    let request = RotationRequest {
        new_values,
        keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
    };
    let changes = plan::plan(&target, &request, &others)?;
    drop(others);

    let (snapshot, policy) = read_namespace(&conn, &namespace).await?;
    let changed: BTreeSet<String> = changes.iter().map(|c| c.name().to_string()).collect();
    let consumers = consumers::consumers_of(&snapshot, &changed, policy, args.restart_all);
    let restarts: Vec<RestartTarget> = if args.no_restart {
        Vec::new()
    } else {
        consumers
            .iter()
            .filter(|c| c.action == ConsumerAction::Restart)
            .map(|c| (c.id.clone(), revisions_after(&snapshot, &c.id, &changes)))
            .collect()
    };

    let strategy = Strategy {
        max_parallel: args.max_parallel,
        timeout: args.timeout,
        restart: !args.no_restart,
    };
    let fingerprints = Fingerprinter::new(rand::random());
    render::rotate::plan(&namespace, &changes, &consumers, &strategy, &fingerprints, ctx.output())?;
    kube::access::require(&conn, &namespace, &permissions(&restarts)).await?;
    if ctx.global.dry_run {
        render::rotate::step("Dry run: nothing was changed.");
        return Ok(Outcome::Clean);
    }
    if !prompt::confirm_change(ctx.global.yes, "Apply this plan?")? {
        render::rotate::step("Cancelled: nothing was changed.");
        return Ok(Outcome::Clean);
    }

    let rotation = Rotation {
        conn: &conn,
        namespace: &namespace,
        args,
        id: new_rotation_id(),
        started_at: Timestamp::now(),
    };
    rotation.apply(&changes, &restarts).await?;
    rotation.verify(&changed).await
}

struct Rotation<'a> {
    conn: &'a Connection,
    namespace: &'a str,
    args: &'a RotateArgs,
    id: String,
    started_at: Timestamp,
}

impl Rotation<'_> {
    async fn apply(&self, changes: &[SecretChange], restarts: &[RestartTarget]) -> Result<()> {
        let mut backups = BTreeMap::new();
        for change in changes {
            let name = plan::backup_name(change.name(), change.before.revision, &self.id);
            let keys: Vec<String> = change.keys.iter().map(|k| k.key.clone()).collect();
            kube::secrets::create_backup(self.conn, &change.before, &name, &self.id, &keys).await?;
            backups.insert(change.name().to_string(), name);
        }
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
                changed_by: CHANGED_BY,
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
                usize::from(self.args.keep_backups),
            )
            .await
            {
                render::warning(&format!("could not prune old backups of {}: {e}", change.name()));
            }
        }
        if restarts.is_empty() {
            return self.clear_journal().await;
        }

        let states = restart_and_wait(
            self.conn,
            self.namespace,
            restarts,
            self.args.max_parallel,
            self.args.timeout,
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
            &self.args.secret,
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
                    self.args.secret,
                    self.args.secret,
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
            self.args.max_parallel,
            self.args.timeout,
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

    async fn clear_journal(&self) -> Result<()> {
        kube::secrets::update_journal(self.conn, self.namespace, &self.args.secret, &JournalUpdate::Clear).await
    }

    /// verify's rules on the workloads that read the changed Secrets.
    async fn verify(&self, changed: &BTreeSet<String>) -> Result<Outcome> {
        if self.args.no_restart {
            render::rotate::step(&format!(
                "Consumers were not restarted: `kubectl secrets verify {} -n {}` shows which still run with old values.",
                self.args.secret, self.namespace
            ));
            return Ok(Outcome::Clean);
        }
        verify_secrets(self.conn, self.namespace, changed).await
    }
}

async fn verify_secrets(conn: &Connection, namespace: &str, changed: &BTreeSet<String>) -> Result<Outcome> {
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
    report.summary = drift::summarize(&report.workloads, 0);
    render::rotate::step(&format!(
        "Verifying the consumers of {}:",
        changed.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    render::verify::report(&report, crate::cli::OutputFormat::Table, false)?;
    Ok(if report.has_drift() {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

async fn read_namespace(conn: &Connection, namespace: &str) -> Result<(Snapshot, EnvNamePolicy)> {
    let scope = Scope::Namespace(namespace.into());
    let (snapshot, minor) = tokio::try_join!(
        kube::snapshot::read(conn, &scope, None),
        kube::server_minor_version(conn)
    )?;
    Ok((snapshot, EnvNamePolicy::for_server_minor(minor)))
}

/// The revisions a workload's new pods are started for: what it had, plus this rotation's.
fn revisions_after(snapshot: &Snapshot, id: &WorkloadId, changes: &[SecretChange]) -> BTreeMap<String, u64> {
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
fn permissions(restarts: &[RestartTarget]) -> Vec<Permission> {
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

fn new_rotation_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

/// Values given on stdin (`--from-stdin KEY`) and in files (`--from-file KEY=PATH`).
fn read_given_values(args: &RotateArgs) -> Result<BTreeMap<String, (SecretValue, String)>> {
    let mut given = BTreeMap::new();
    if let Some(key) = &args.from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Usage(format!("cannot read the value of {key} from stdin: {e}")))?;
        let value = SecretValue::new(bytes);
        warn_if_odd(key, &value, "stdin");
        given.insert(key.clone(), (value, "from stdin".to_string()));
    }
    for spec in &args.from_file {
        let (key, path) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--from-file {spec:?}: use KEY=PATH")))?;
        let value = read_file(key, Path::new(path))?;
        warn_if_odd(key, &value, path);
        given.insert(key.to_string(), (value, format!("from file {path}")));
    }
    Ok(given)
}

fn read_file(key: &str, path: &Path) -> Result<SecretValue> {
    std::fs::read(path).map(SecretValue::new).map_err(|e| {
        Error::Usage(format!(
            "cannot read the new value of {key} from {}: {e}",
            path.display()
        ))
    })
}

fn warn_if_odd(key: &str, value: &SecretValue, from: &str) {
    if value.is_empty() {
        render::warning(&format!("the new value of {key} from {from} is empty"));
    } else if value.expose().ends_with(b"\n") {
        render::warning(&format!(
            "the new value of {key} from {from} ends with a newline, which is kept (use printf, or strip it)"
        ));
    }
}

fn choose_new_values(
    args: &RotateArgs,
    target: &SecretState,
    mut given: BTreeMap<String, (SecretValue, String)>,
) -> Result<BTreeMap<String, (SecretValue, String)>> {
    let mut rng = rand::rng();
    let old = |key: &str| -> Result<&SecretValue> {
        target.data.get(key).ok_or_else(|| {
            Error::Plan(plan::PlanError::NoSuchKey {
                secret: format!("{}/{}", target.namespace, target.name),
                key: key.to_string(),
                available: target.data.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        })
    };
    let generated = |generator: Generator, rng: &mut rand::rngs::ThreadRng| {
        (generator.generate(rng), format!("generated, {generator}"))
    };
    let scripted = !args.keys.is_empty() || args.all_keys || !given.is_empty();
    if !scripted {
        if !prompt::interactive() {
            return Err(Error::Usage(
                "say which keys to rotate: --key KEY[=GENERATOR], --all-keys, --from-stdin KEY or --from-file KEY=PATH"
                    .into(),
            ));
        }
        let keys: Vec<String> = target.data.keys().cloned().collect();
        for key in prompt::choose_keys(&format!("{}/{}", target.namespace, target.name), &keys)? {
            let value = match prompt::choose_source(&key, Generator::like(old(&key)?.expose()))? {
                ValueSource::Generate(generator) => generated(generator, &mut rng),
                ValueSource::Typed => (prompt::hidden_value(&key)?, "typed".to_string()),
                ValueSource::File(path) => (read_file(&key, &path)?, format!("from file {}", path.display())),
            };
            given.insert(key, value);
        }
        if given.is_empty() {
            return Err(Error::Usage("no key chosen: nothing to rotate".into()));
        }
        return Ok(given);
    }
    let keys: Vec<(String, Option<Generator>)> = if args.all_keys {
        target.data.keys().map(|k| (k.clone(), None)).collect()
    } else {
        args.keys
            .iter()
            .map(|spec| match spec.split_once('=') {
                Some((key, generator)) => generator
                    .parse()
                    .map(|g| (key.to_string(), Some(g)))
                    .map_err(Error::Usage),
                None => Ok((spec.clone(), None)),
            })
            .collect::<Result<_>>()?
    };
    for (key, generator) in keys {
        if given.contains_key(&key) {
            return Err(Error::Usage(format!(
                "{key} is given twice (--key and --from-stdin/--from-file)"
            )));
        }
        let generator = match generator {
            Some(g) => g,
            None => Generator::like(old(&key)?.expose()),
        };
        given.insert(key, generated(generator, &mut rng));
    }
    Ok(given)
}

async fn interrupted(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    target: &SecretState,
    journal: Journal,
) -> Result<Outcome> {
    let description = format!(
        "A rotation of {}/{} was interrupted ({}, started {}, {})",
        target.namespace,
        target.name,
        journal.id,
        journal.started_at,
        journal.phase.describe()
    );
    let choice = if args.resume {
        InterruptedChoice::Resume
    } else if args.abort {
        InterruptedChoice::Abort
    } else if prompt::interactive() && !ctx.global.yes {
        prompt::interrupted_rotation(&description)?
    } else {
        return Err(Error::RotationInProgress {
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            id: journal.id.clone(),
            started: journal.started_at.to_string(),
            phase: journal.phase.describe().into(),
        });
    };
    let rotation = Rotation {
        conn,
        namespace: &target.namespace,
        args,
        id: journal.id.clone(),
        started_at: journal.started_at,
    };
    let changed: BTreeSet<String> = journal.revisions.keys().cloned().collect();
    match choice {
        InterruptedChoice::Leave => {
            render::rotate::step("Left as it is.");
            Ok(Outcome::Clean)
        }
        InterruptedChoice::Resume => {
            render::rotate::step(&format!("{description}: finishing it."));
            let (snapshot, _) = read_namespace(conn, &target.namespace).await?;
            let pending: Vec<RestartTarget> = journal
                .workloads
                .iter()
                .filter_map(|id| {
                    let current = snapshot.workloads.iter().find(|w| &w.id == id)?;
                    let mut revisions = current.secret_revisions.clone();
                    revisions.extend(journal.revisions.clone());
                    Some((id.clone(), revisions))
                })
                .collect();
            if !pending.is_empty() {
                let states = restart_and_wait(
                    conn,
                    &target.namespace,
                    &pending,
                    args.max_parallel,
                    args.timeout,
                    "Restarting consumers:",
                )
                .await?;
                let failed = failures_of(&states);
                if !failed.is_empty() {
                    return Err(Error::Usage(format!(
                        "the rotation could not be finished: {}. Run with --abort to restore the previous data",
                        failed.join("; ")
                    )));
                }
            }
            rotation.clear_journal().await?;
            verify_secrets(conn, &target.namespace, &changed).await
        }
        InterruptedChoice::Abort => {
            render::rotate::step(&format!("{description}: restoring the previous data."));
            let mut restored = Vec::new();
            for (secret, backup) in &journal.backups {
                let current = kube::secrets::get(conn, &target.namespace, secret).await?;
                let saved = kube::secrets::get(conn, &target.namespace, backup).await?;
                let stamp = Stamp {
                    revision: current.revision + 1,
                    rotation_id: &journal.id,
                    changed_by: CHANGED_BY_ROLLBACK,
                    at: Timestamp::now(),
                    journal: JournalUpdate::Keep,
                };
                kube::secrets::write_data(conn, &current, &current.resource_version, &saved.data, &stamp).await?;
                restored.push((secret.clone(), current.revision + 1));
            }
            let (snapshot, _) = read_namespace(conn, &target.namespace).await?;
            let back: Vec<RestartTarget> = journal
                .workloads
                .iter()
                .filter_map(|id| {
                    let current = snapshot.workloads.iter().find(|w| &w.id == id)?;
                    let mut revisions = current.secret_revisions.clone();
                    revisions.extend(restored.iter().cloned());
                    Some((id.clone(), revisions))
                })
                .collect();
            if !back.is_empty() {
                let states = restart_and_wait(
                    conn,
                    &target.namespace,
                    &back,
                    args.max_parallel,
                    args.timeout,
                    "Restarting with the previous data:",
                )
                .await?;
                let failed = failures_of(&states);
                if !failed.is_empty() {
                    return Err(Error::RollbackFailed(format!(
                        "the previous data was restored but the restart failed: {}",
                        failed.join("; ")
                    )));
                }
            }
            rotation.clear_journal().await?;
            verify_secrets(conn, &target.namespace, &changed).await
        }
    }
}
