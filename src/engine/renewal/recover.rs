//! `rotate SECRET --resume|--abort` of an interrupted renewal. The journal is read from the
//! Secret, so whoever may write the namespace may have written it: it only ever names a
//! Certificate of the same namespace that writes this very Secret, and the readers it restarts
//! are those that read the Secret now. A resume asks again if the request never landed, waits
//! for the new certificate, restarts the readers this change has not restarted yet, verifies.
//! An abort cannot un-issue a certificate: it restarts nothing further, and says which readers
//! still run the previous one.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;

use super::{await_renewal, current_certificate, refusal, restart_and_verify};
use crate::cluster::{self, Connection};
use crate::domain::certificates::{renewal_stage, CertificateState, RenewalStage as Stage};
use crate::domain::drift::Snapshot;
use crate::domain::journal::{Journal, Phase, RenewalRecord, CLOCK_SKEW};
use crate::domain::plan::SecretState;
use crate::domain::rollout::RestartTarget;
use crate::engine::lease::{self, Anchor, KeepAlive, Lease};
use crate::engine::recovery::{confirm, still_reading, untrusted, Recovery};
use crate::engine::{events, go_ahead, read_namespace, verify_changed, Consent, Settings};
use crate::error::{Error, Outcome, Result};
use crate::render;
use crate::render::rotate::RecoveryRow;

fn stage_of(record: &RenewalRecord, cert: &CertificateState, secret: &SecretState) -> Stage {
    let serial = current_certificate(secret).map(|c| c.serial);
    renewal_stage(record.revision, record.serial.as_deref(), cert, serial.as_deref())
}

/// The Certificate the journal names, if it is one a renewal of this Secret would name.
fn named_certificate(
    snapshot: &Snapshot,
    journal: &Journal,
    record: &RenewalRecord,
    secret: &SecretState,
) -> std::result::Result<CertificateState, String> {
    if journal.started_at > Timestamp::now() + CLOCK_SKEW {
        return Err(format!("it says it started at {}, in the future", journal.started_at));
    }
    if !journal.secrets.is_empty()
        || journal.sealed.is_some()
        || journal.external.is_some()
        || !journal.issuers.is_empty()
    {
        return Err("it mixes a renewal with a change of data, which no run writes".into());
    }
    let cert = snapshot
        .cert_manager
        .certificates
        .iter()
        .find(|c| c.namespace == secret.namespace && c.name == record.certificate)
        .ok_or_else(|| {
            format!(
                "it names Certificate {}, which does not exist in {}",
                record.certificate, secret.namespace
            )
        })?;
    if cert.secret_name != secret.name {
        return Err(format!(
            "it names Certificate {}, which writes Secret {}, not {}",
            cert.name, cert.secret_name, secret.name
        ));
    }
    Ok(cert.clone())
}

/// What a resume restarts: the journal's workloads that still read the Secret without
/// reloading it (or read it at all, if the change restarted every reader), each only awaited
/// if this change restarted it already.
fn restart_targets_named(
    snapshot: &Snapshot,
    policy: crate::domain::env::EnvNamePolicy,
    journal: &Journal,
    secret: &SecretState,
) -> Vec<RestartTarget> {
    still_reading(snapshot, policy, &journal.workloads, [secret.name.clone()])
        .into_iter()
        .map(|id| RestartTarget {
            restarted_since: snapshot
                .workloads
                .iter()
                .find(|w| w.id == id)
                .and_then(|w| w.last_restart.as_ref())
                .filter(|last| last.change.as_deref() == Some(journal.id.as_str()))
                .map(|last| last.at),
            id,
            revisions: BTreeMap::new(),
        })
        .collect()
}

fn row(secret: &str, stage: &Stage, choice: Recovery) -> RecoveryRow {
    let state = match stage {
        Stage::Renewed { revision, serial } => format!("renewed (revision {revision}, serial {serial})"),
        Stage::Issuing => "being issued by cert-manager".to_string(),
        Stage::NotRenewed => "not renewed yet".to_string(),
    };
    let action = match (stage, choice) {
        (Stage::Renewed { .. }, Recovery::Resume) => "keep: restart the readers that do not reload it",
        (Stage::Issuing, Recovery::Resume) => {
            "wait for the new certificate, then restart the readers that do not reload it"
        }
        (Stage::NotRenewed, Recovery::Resume) => {
            "ask cert-manager again, wait, then restart the readers that do not reload it"
        }
        (Stage::Renewed { .. }, Recovery::Abort) => {
            "cannot be undone (a certificate is never un-issued): stop here, restart nothing further"
        }
        (Stage::Issuing, Recovery::Abort) => {
            "cannot be undone: cert-manager finishes the issuance; stop here, restart nothing"
        }
        (Stage::NotRenewed, Recovery::Abort) => "nothing to undo: the current certificate stays; stop here",
    };
    RecoveryRow {
        secret: secret.to_string(),
        state,
        action: action.to_string(),
    }
}

/// Finish or stop the renewal recorded on `target`.
pub async fn recover(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    target: &SecretState,
    journal: Journal,
    choice: Recovery,
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    let anchor = Anchor::Secret(target.name.clone());
    let Some(record) = journal.renewal.clone() else {
        return Err(untrusted(namespace, &anchor, "it records no renewal".into()));
    };
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let cert = named_certificate(&snapshot, &journal, &record, target)
        .map_err(|found| untrusted(namespace, &anchor, found))?;
    let stage = stage_of(&record, &cert, target);
    let targets = restart_targets_named(&snapshot, policy, &journal, target);
    let rows = [row(&target.name, &stage, choice)];
    let shown: &[RestartTarget] = match choice {
        Recovery::Resume => &targets,
        Recovery::Abort => &[],
    };
    render::rotate::recovery(
        namespace,
        &journal,
        choice == Recovery::Resume,
        &rows,
        shown,
        consent.output,
    )?;
    let left: Vec<String> = targets
        .iter()
        .filter(|t| t.restarted_since.is_none())
        .map(|t| t.id.to_string())
        .collect();
    if choice == Recovery::Abort && !left.is_empty() && stage != Stage::NotRenewed {
        render::warning(&format!(
            "an abort restarts nothing: {} keep the previous certificate until restarted (kubectl secrets verify -n \
             {namespace} shows them, --fix restarts them)",
            left.join(", ")
        ));
    }
    if choice == Recovery::Resume && stage == Stage::NotRenewed {
        // Asking again must be possible now: a missing or broken issuer is said before the question.
        if let Some(refused) = refusal(
            &snapshot.cert_manager,
            &cert,
            target.cert_manager_certificate.as_deref(),
        ) {
            return Err(refused);
        }
    }
    let confirmed = match choice {
        Recovery::Resume => confirm(consent, choice)?,
        Recovery::Abort => go_ahead(consent, "Stop this renewal here?")?,
    };
    if !confirmed {
        return Ok(Outcome::Clean);
    }
    let holder = lease::this_run(&settings.changed_by);
    let lease = Lease::take_over(conn, namespace, anchor, &journal, holder, &target.resource_version).await?;
    if choice == Recovery::Abort {
        lease.clear().await?;
        render::step(&format!(
            "Stopped the renewal of Certificate {namespace}/{}: the journal is removed, nothing further was restarted.",
            cert.name
        ));
        let changed = BTreeSet::from([target.name.clone()]);
        return verify_changed(conn, namespace, &changed, settings).await;
    }
    resume(conn, settings, target, &cert, &record, &stage, &targets, &lease).await
}

#[allow(clippy::too_many_arguments)]
async fn resume(
    conn: &Connection,
    settings: &Settings,
    target: &SecretState,
    cert: &CertificateState,
    record: &RenewalRecord,
    stage: &Stage,
    targets: &[RestartTarget],
    lease: &std::sync::Arc<Lease>,
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    if !matches!(stage, Stage::Renewed { .. }) {
        let _alive = KeepAlive::start(vec![lease.clone()]);
        lease.enter(Phase::Renewing).await?;
        if *stage == Stage::NotRenewed {
            if cluster::certificates::request_renewal(conn, namespace, &cert.name, record.revision).await? {
                render::step(&format!(
                    "Asked cert-manager again to renew Certificate {namespace}/{}.",
                    cert.name
                ));
            } else {
                render::step(&format!(
                    "cert-manager started issuing Certificate {namespace}/{} on its own: waiting for it.",
                    cert.name
                ));
            }
        }
        let before = CertificateState {
            revision: record.revision,
            ..cert.clone()
        };
        if let Err(error) = await_renewal(conn, settings, &before, record.serial.as_deref()).await {
            lease.clear().await?;
            events::after_renewal(conn, settings, target, cert, &[], Err(&error)).await;
            return Err(error);
        }
    }
    lease.enter(Phase::Restarting).await?;
    let changed = BTreeSet::from([target.name.clone()]);
    let done = restart_and_verify(conn, settings, namespace, &changed, targets, lease).await;
    let restarted: Vec<_> = targets.iter().map(|t| t.id.clone()).collect();
    events::after_renewal(conn, settings, target, cert, &restarted, done.as_ref().copied()).await;
    match &done {
        Err(Error::RolloutFailed(_)) => lease.release().await?,
        _ => lease.clear().await?,
    }
    done
}
