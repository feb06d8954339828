//! Finishing (`--resume`) or undoing (`--abort`) an interrupted change: the journal is checked
//! against what the Secrets themselves record (never trusted on its own), the plan is shown and
//! confirmed like any change (`--dry-run` writes nothing), the journal is taken over with a
//! resourceVersion precondition, and the same machine runs the remaining steps.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::lease::{self, Anchor};
use super::recovery::{confirm, read_named, recovery_row, show_plan, untrusted, Named, Recovery};
use super::{targets_for, verify_changed, Consent, Machine, Restore, Settings};
use crate::cluster::{self, Connection};
use crate::domain::journal::{self, Journal, Liveness, Phase, Progress, Recorded};
use crate::domain::plan::SecretState;
use crate::error::{ChangeInProgress, Error, Outcome, Result};
use crate::render;
use crate::render::rotate::RecoveryRow;

/// A change recorded as under way on a Secret (or on the SealedSecret it is unsealed from).
pub struct Pending {
    pub journal: Journal,
    pub anchor: Anchor,
    pub liveness: Liveness,
}

impl Pending {
    /// "A change of secret ns/app (`kubectl secrets rotate`) was interrupted (1a2b..., started ...)"
    pub fn describe(&self, namespace: &str) -> String {
        format!(
            "A change of {} (`kubectl secrets {}`) was interrupted ({}, started {} by {}, {})",
            self.anchor.describe(namespace),
            render::clean_line(&self.journal.action),
            render::clean_line(&self.journal.id),
            self.journal.started_at,
            render::clean_line(&self.journal.holder.by),
            self.journal.phase.describe()
        )
    }

    /// The refusal when a change finds this one in its way (or --resume/--abort without --force
    /// finds it still running).
    pub fn in_the_way(&self, namespace: &str, secret: &str, force_hint: bool) -> Error {
        let what_to_do = match &self.liveness {
            Liveness::Running { last } => format!(
                "Another run holds it (last heartbeat {}s ago, on {} as pid {}): wait for it to finish. If that run \
                 is gone, `kubectl secrets rotate {secret} -n {namespace} --resume --force` finishes the change or \
                 `--abort --force` undoes it",
                // A clock a little ahead (within the skew allowed) is "0s ago", never negative.
                Timestamp::now().duration_since(*last).as_secs().max(0),
                render::clean_line(&self.journal.holder.host),
                self.journal.holder.pid
            ),
            Liveness::Future { ahead } => format!(
                "Its heartbeat is {} in the future (written on {} as pid {}): no run can have written that now, so it is \
                 not taken as running (check that machine's clock). `kubectl secrets rotate {secret} -n {namespace} --resume` \
                 finishes it, or `--abort` restores the previous data",
                humantime::format_duration(std::time::Duration::from_secs(ahead.as_secs().unsigned_abs())),
                render::clean_line(&self.journal.holder.host),
                self.journal.holder.pid
            ),
            _ if force_hint => "It is no longer running: run again without --force".into(),
            _ => format!(
                "`kubectl secrets rotate {secret} -n {namespace} --resume` finishes it, or `--abort` restores the previous data"
            ),
        };
        Error::InProgress(Box::new(ChangeInProgress {
            action: render::clean_line(&self.journal.action),
            namespace: namespace.to_string(),
            name: secret.to_string(),
            id: render::clean_line(&self.journal.id),
            started: self.journal.started_at.to_string(),
            by: render::clean_line(&self.journal.holder.by),
            phase: self.journal.phase.describe().into(),
            what_to_do,
        }))
    }
}

/// The change recorded on `target` (or its SealedSecret), if any. A journal annotation that is
/// not one kubectl-secrets wrote is refused, never ignored.
pub async fn pending(conn: &Connection, target: &SecretState) -> Result<Option<Pending>> {
    let (journal, anchor) = match &target.journal {
        Some(found) => (found.clone(), Anchor::Secret(target.name.clone())),
        None => match target.controller.as_ref().filter(|o| o.kind == "SealedSecret") {
            None => return Ok(None),
            Some(owner) => match cluster::sealed::get(conn, &target.namespace, &owner.name).await? {
                Some(sealed) => match sealed.journal {
                    Some(found) => (found, Anchor::SealedSecret(owner.name.clone())),
                    None => return Ok(None),
                },
                None => return Ok(None),
            },
        },
    };
    let journal = journal.map_err(|problem| untrusted(&target.namespace, &anchor, problem))?;
    let alive = lease::process_alive(journal.holder.pid);
    let liveness = journal::liveness(&journal.holder, Timestamp::now(), &lease::this_host(), alive);
    Ok(Some(Pending {
        journal,
        anchor,
        liveness,
    }))
}

/// `rotate SECRET --resume|--abort`. `named`: what the operator names now (the only way an
/// issuer's address or command, or a file, in the journal is acted on).
pub async fn recover(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    namespace: &str,
    secret: &str,
    choice: Recovery,
    named: Named<'_>,
) -> Result<Outcome> {
    let target = cluster::secrets::get(conn, namespace, secret).await?;
    let Some(pending) = pending(conn, &target).await? else {
        return Err(Error::Usage(format!(
            "there is no interrupted change of {namespace}/{secret} to finish or undo"
        )));
    };
    match (&pending.liveness, settings.force) {
        (Liveness::Running { .. }, false) => return Err(pending.in_the_way(namespace, secret, false)),
        (Liveness::Running { .. }, true) => render::warning(&format!(
            "--force: taking over from {} (pid {} on {}), which may still be running",
            pending.journal.holder.by, pending.journal.holder.pid, pending.journal.holder.host
        )),
        _ => {}
    }
    render::step(&pending.describe(namespace));
    let recorded = pending
        .journal
        .recorded()
        .map_err(|found| untrusted(namespace, &pending.anchor, found))?;
    match (pending.anchor.clone(), recorded) {
        (Anchor::Secret(_), Recorded::Renewal) => {
            super::renewal::recover(conn, consent, settings, &target, pending.journal, choice).await
        }
        (Anchor::Secret(_), Recorded::Store) => {
            super::external::recover(conn, consent, settings, &target, pending.journal, choice).await
        }
        (Anchor::Secret(_), Recorded::Secrets) => {
            recover_secret(conn, consent, settings, &target, pending.journal, choice, named.issuers).await
        }
        (Anchor::SealedSecret(owner), Recorded::Sealed) => {
            super::sealed::recover(
                conn,
                consent,
                settings,
                &target,
                &owner,
                pending.journal,
                choice,
                named.sealed_file,
            )
            .await
        }
        (anchor, _) => Err(untrusted(
            namespace,
            &anchor,
            format!(
                "it records a kind of change that {} never carries",
                anchor.describe(namespace)
            ),
        )),
    }
}

async fn recover_secret(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    target: &SecretState,
    journal: Journal,
    choice: Recovery,
    issuers: &[super::IssuedKey],
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    let anchor = Anchor::Secret(target.name.clone());
    let (secrets, backups) = read_named(conn, namespace, &journal).await?;
    let checked = journal::check_journal(&journal, Some(&target.name), &secrets, &backups, Timestamp::now())
        .map_err(|found| untrusted(namespace, &anchor, found))?;
    let choice = if choice == Recovery::Resume && journal.phase == Phase::RollingBack {
        render::step("It was rolling back after a failed rollout: --resume finishes the rollback.");
        Recovery::Abort
    } else {
        choice
    };
    if choice == Recovery::Resume {
        if let Some(unfinished) = checked.iter().find(|c| c.progress != Progress::Written) {
            return Err(Error::InProgress(Box::new(ChangeInProgress {
                action: journal.action.clone(),
                namespace: namespace.into(),
                name: target.name.clone(),
                id: journal.id.clone(),
                started: journal.started_at.to_string(),
                by: journal.holder.by.clone(),
                phase: journal.phase.describe().into(),
                what_to_do: format!(
                    "It cannot be resumed: {} does not hold the new data (the change stopped before writing it, and \
                     the new value was never stored anywhere). Undo it with `kubectl secrets rotate {} -n {namespace} --abort`",
                    unfinished.secret, target.name
                ),
            })));
        }
    }
    if choice == Recovery::Abort {
        if let Some(edited) = checked
            .iter()
            .find(|c| c.progress == Progress::Written && c.edited_by_others_at.is_some())
        {
            return Err(Error::Conflict {
                namespace: namespace.into(),
                name: edited.secret.clone(),
            });
        }
    }

    // Already restored ones too: the restore recognises them, and their revision is stamped.
    let restores: Vec<Restore> = checked
        .iter()
        .filter(|c| c.progress != Progress::NotWritten)
        .filter_map(|c| {
            c.backup.as_ref().map(|b| Restore {
                secret: c.secret.clone(),
                data: b.state.data.clone(),
                written: c.entry.to,
                wrote: None,
            })
        })
        .collect();
    let revisions: BTreeMap<String, u64> = checked
        .iter()
        .filter(|c| c.progress != Progress::NotWritten)
        .map(|c| {
            let revision = match choice {
                Recovery::Resume => c.entry.to,
                Recovery::Abort => c.entry.to + 1,
            };
            (c.secret.clone(), revision)
        })
        .collect();
    // The issuers' side: each key's previous password from its recorded backup, the new one
    // from the Secret when it holds it; their servers reached and checked before the question.
    // A Secret the change did not write still holds the previous password itself.
    let mut reopened = super::issued::reopen(
        conn,
        namespace,
        &journal.issuers,
        issuers,
        consent.yes,
        |secret, key| {
            let entry = checked.iter().find(|c| c.secret == secret)?;
            let current = secrets.get(secret).and_then(|s| s.data.get(key).cloned());
            match entry.progress {
                Progress::NotWritten => Some((current?, None)),
                Progress::Written => Some((entry.backup.as_ref()?.state.data.get(key)?.clone(), current)),
                Progress::Restored => Some((entry.backup.as_ref()?.state.data.get(key)?.clone(), None)),
            }
        },
    )
    .await?;
    let nothing_written = checked.iter().all(|c| c.progress == Progress::NotWritten);
    let mut rows: Vec<RecoveryRow> = checked.iter().map(|c| recovery_row(c, choice)).collect();
    rows.extend(reopened.iter().map(|p| RecoveryRow {
        secret: format!("{}/{} (issuer)", p.record.secret, p.record.key),
        state: p.describe(),
        action: match choice {
            Recovery::Resume => "keep the new password; retire the previous one after verify".into(),
            Recovery::Abort => "put the previous password back, before the Secret".into(),
        },
    }));
    let plan = show_plan(conn, consent, namespace, &journal, choice, &revisions, &rows).await?;
    let (workloads, templates, targets) = (plan.workloads, plan.templates, plan.targets);
    if !confirm(consent, choice)? {
        return Ok(Outcome::Clean);
    }
    super::issued::connect_all(conn, namespace, &mut reopened).await?;
    let machine = Machine::taking_over(conn, namespace, settings, anchor, &journal, &target.resource_version)
        .await?
        .with_issued(&reopened);
    match choice {
        Recovery::Resume => machine.finish(&targets, &restores, &templates).await?,
        Recovery::Abort => {
            machine.lease.enter(Phase::RollingBack).await?;
            super::issued::undo_all(&reopened).await?;
            let restored = machine.restore(&restores).await?;
            // Stopped at the issuers: no pod ever saw a new value, nothing to restart.
            let workloads = if nothing_written { Vec::new() } else { workloads };
            let again = targets_for(&workloads, &templates, &restored, Some(journal.started_at));
            let failures = machine.restart_back(&again).await?;
            if !failures.is_empty() {
                return Err(Error::RollbackFailed(format!(
                    "the previous data was restored but the restart failed: {}. The journal is kept: run --abort again once the cause is fixed",
                    failures.join("; ")
                )));
            }
            machine.lease.clear().await?;
        }
    }
    let changed: BTreeSet<String> = journal.secrets.keys().cloned().collect();
    let outcome = verify_changed(conn, namespace, &changed, settings).await?;
    if choice == Recovery::Resume {
        super::issued::retire_all(&reopened, outcome == Outcome::Clean && settings.restart).await?;
    }
    Ok(outcome)
}
