//! `rotate` of Secrets cert-manager issues: renewals. cert-manager writes the new certificate
//! and key (the plugin never writes the Secret); the plugin asks for each renewal the way
//! `cmctl renew` does, waits for the new revision and the new certificate in the Secret,
//! restarts only the consumers that do not reload it (subPath mounts, env), and verifies. A
//! failed issuance restarts nothing for its Secret: the old certificate stays in place and the
//! controller's reason is said.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::{
    events, go_ahead, permissions, read_namespace, refuse_beyond_max_restarts, refuse_unattended_too_soon,
    restart_outside_a_change, targets_for, templates_of, verify_changed, warn_too_soon, Consent, Settings,
};
mod recover;
pub use recover::recover;

use super::lease::{self, Anchor, KeepAlive, Lease};
use crate::cluster::access::Permission;
use crate::cluster::secrets::JournalUpdate;
use crate::cluster::{self, Connection, Scope};
use crate::domain::certificates::{self, CertManager, CertificateState, Issuance, Stuck};
use crate::domain::consumers::{self, ChangedKeys, Consumer, ConsumerAction};
use crate::domain::drift::Snapshot;
use crate::domain::env::EnvNamePolicy;
use crate::domain::journal::{Journal, Phase, RenewalRecord};
use crate::domain::model::WorkloadId;
use crate::domain::plan::SecretState;
use crate::domain::restart_budget;
use crate::domain::rollout::RestartTarget;
use crate::domain::tls::{self, TlsCert};
use crate::error::{Error, Outcome, Result};
use crate::render;
use crate::render::rotate::{RenewalSummary, Strategy, Writes};

/// How often a Certificate is read while cert-manager issues.
const POLL: Duration = Duration::from_millis(500);
/// How long a Secret may lag behind its Certificate's new revision.
const SECRET_LAG: Duration = Duration::from_secs(30);

/// One certificate to renew: its Secret (as read, for the current serial) and its Certificate.
struct Renewal {
    secret: SecretState,
    certificate: CertificateState,
}

/// One namespace's share of the change: what its renewals make restart.
struct InNamespace {
    snapshot: Snapshot,
    policy: EnvNamePolicy,
}

/// Renew the certificate in `secret` (issued by Certificate `certificate`): plan, question,
/// renewal, restarts, verify. A renewal that cannot succeed is refused with the reason.
pub async fn renew(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    secret: &SecretState,
    certificate: &str,
) -> Result<Outcome> {
    let namespace = secret.namespace.as_str();
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let cm = &snapshot.cert_manager;
    let Some(cert) = cm
        .certificates
        .iter()
        .find(|c| c.namespace == namespace && c.name == certificate)
        .cloned()
    else {
        return Err(Error::NotFound(format!(
            "secret {namespace}/{} names cert-manager's Certificate {certificate}, which does not exist (or \
             cert-manager's API is not served, or you may not read Certificates): recreate the Certificate, or \
             remove the Secret's cert-manager.io/certificate-name annotation if nothing issues it any more",
            secret.name
        )));
    };
    if cert.secret_name != secret.name {
        return Err(Error::Usage(format!(
            "Certificate {namespace}/{certificate} writes Secret {}, not {}: rotate {} instead",
            cert.secret_name, secret.name, cert.secret_name
        )));
    }
    if let Some(refusal) = refusal(cm, &cert, secret.cert_manager_certificate.as_deref()) {
        return Err(refusal);
    }
    let renewal = Renewal {
        secret: secret.clone(),
        certificate: cert,
    };
    let namespaces = BTreeMap::from([(namespace.to_string(), InNamespace { snapshot, policy })]);
    renew_all(conn, consent, settings, vec![renewal], namespaces).await
}

/// `rotate --all-expiring --within D`: every Certificate in scope whose certificate expires
/// within D, renewed in one change. Those that cannot be renewed now are listed and left out.
pub async fn renew_expiring(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    scope: &Scope,
    within: Duration,
) -> Result<Outcome> {
    let cm = cluster::certificates::read(conn, scope, false).await?;
    let now = Timestamp::now();
    let window = SignedDuration::try_from(within).unwrap_or(SignedDuration::MAX);
    let due: Vec<&CertificateState> = cm
        .certificates
        .iter()
        .filter(|c| c.not_after.is_some_and(|at| at.duration_since(now) < window))
        .collect();
    if due.is_empty() {
        render::step(&format!(
            "No cert-manager Certificate in {} expires within {}: nothing to renew.",
            scope.describe(),
            humantime::format_duration(within)
        ));
        return Ok(Outcome::Clean);
    }
    let mut renewals = Vec::new();
    let mut left_out = Vec::new();
    for certificate in due {
        let secret = cluster::secrets::get(conn, &certificate.namespace, &certificate.secret_name).await;
        let annotated = secret.as_ref().ok().and_then(|s| s.cert_manager_certificate.as_deref());
        if let Some(refusal) = refusal(&cm, certificate, annotated) {
            left_out.push(format!("{}/{}: {refusal}", certificate.namespace, certificate.name));
            continue;
        }
        match secret {
            Ok(secret) if secret.journal.is_some() => left_out.push(format!(
                "{}/{}: an interrupted change is recorded on its Secret {}: kubectl secrets rotate {} -n {} --resume \
                 finishes it, or --abort",
                certificate.namespace, certificate.name, secret.name, secret.name, secret.namespace
            )),
            Ok(secret) => renewals.push(Renewal {
                secret,
                certificate: certificate.clone(),
            }),
            Err(Error::SecretNotFound { .. }) => left_out.push(format!(
                "{}/{}: its Secret {} does not exist (cert-manager issues it on its own)",
                certificate.namespace, certificate.name, certificate.secret_name
            )),
            Err(e) => return Err(e),
        }
    }
    for line in &left_out {
        render::warning(&format!("left out: {line}"));
    }
    if renewals.is_empty() {
        return Err(Error::Usage(format!(
            "{} expiring within {} cannot be renewed now (above): nothing was changed",
            render::plural(left_out.len(), "Certificate"),
            humantime::format_duration(within)
        )));
    }
    let mut namespaces = BTreeMap::new();
    for name in renewals
        .iter()
        .map(|r| r.secret.namespace.clone())
        .collect::<BTreeSet<_>>()
    {
        let (snapshot, policy) = read_namespace(conn, &name).await?;
        namespaces.insert(name, InNamespace { snapshot, policy });
    }
    renew_all(conn, consent, settings, renewals, namespaces).await
}

/// Why a renewal cannot be asked for now: the issuer is missing or not Ready (the renewal would
/// fail), an issuance is already under way, or another Certificate issues its Secret (issuing
/// this one would overwrite it, and cert-manager would issue the other again: a loop).
fn refusal(cm: &CertManager, cert: &CertificateState, annotated: Option<&str>) -> Option<Error> {
    let (reason, fix) = match cm.stuck(cert, annotated, Timestamp::now()) {
        Some(Stuck::SecretTaken { by, .. }) => {
            return Some(Error::Usage(format!(
                "Certificate {ns}/{name} does not issue Secret {secret}: Certificate {by} does (cert-manager issues \
                 one Certificate per Secret): nothing was changed. Give {name} a Secret of its own \
                 (spec.secretName); Secret {secret} is renewed with kubectl secrets rotate {secret} -n {ns}",
                ns = cert.namespace,
                name = cert.name,
                secret = cert.secret_name
            )))
        }
        Some(Stuck::IssuerMissing) => (
            format!("{} does not exist", cert.issuer.describe()),
            "create it, or point the Certificate's spec.issuerRef at one that exists, then rotate again",
        ),
        Some(Stuck::IssuerNotReady(why)) => (
            format!("it is not Ready: {why}"),
            "fix the issuer first (kubectl describe it), then rotate again",
        ),
        _ if cert.issuing.as_ref().is_some_and(|c| c.is_true()) => {
            return Some(Error::Usage(format!(
                "Certificate {ns}/{name} is being issued already (its Issuing condition is True): nothing was \
                 changed. Wait for it (kubectl get certificate {name} -n {ns} -w), then run kubectl secrets verify \
                 -n {ns} to see which consumers still need a restart",
                ns = cert.namespace,
                name = cert.name
            )))
        }
        _ => return None,
    };
    Some(Error::IssuerRefused {
        issuer: format!("cert-manager's {}", cert.issuer.describe()),
        step: format!("to renew Certificate {}/{}", cert.namespace, cert.name),
        reason,
        fix: format!("nothing was changed: the current certificate stays in place; {fix}"),
    })
}

/// The certificate a Secret holds, when it can be read.
fn current_certificate(secret: &SecretState) -> Option<tls::TlsInfo> {
    let pem = secret.data.get(tls::CERT_KEY)?;
    match tls::parse(pem.expose(), &BTreeMap::new()) {
        TlsCert::Read(info) => Some(info),
        TlsCert::Unreadable(_) => None,
    }
}

/// Each namespace's consumers of the given Secrets (cert-manager rewrites every key of each).
fn consumers_in(
    namespaces: &BTreeMap<String, InNamespace>,
    renewals: &[&Renewal],
    settings: &Settings,
) -> BTreeMap<String, Vec<Consumer>> {
    let mut by_namespace = BTreeMap::new();
    for (name, state) in namespaces {
        let changed: ChangedKeys = renewals
            .iter()
            .filter(|r| &r.secret.namespace == name)
            .map(|r| (r.secret.name.clone(), r.secret.data.keys().cloned().collect()))
            .collect();
        if changed.is_empty() {
            continue;
        }
        let consumers = consumers::consumers_of(&state.snapshot, &changed, state.policy, settings.restart_all);
        by_namespace.insert(name.clone(), consumers);
    }
    by_namespace
}

/// The workloads to restart among `consumers`, as restart targets (nothing stamped: cert-manager's
/// writes carry no revision of the plugin's).
fn restart_targets(consumers: &[Consumer], snapshot: &Snapshot, settings: &Settings) -> Vec<RestartTarget> {
    let restarts: Vec<WorkloadId> = consumers
        .iter()
        .filter(|c| settings.restart && c.action == ConsumerAction::Restart)
        .map(|c| c.id.clone())
        .collect();
    targets_for(&restarts, &templates_of(snapshot), &BTreeMap::new(), None)
}

/// Plan → permissions → question → renew each → restart → verify.
async fn renew_all(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    renewals: Vec<Renewal>,
    namespaces: BTreeMap<String, InNamespace>,
) -> Result<Outcome> {
    let all: Vec<&Renewal> = renewals.iter().collect();
    let consumers = consumers_in(&namespaces, &all, settings);
    let mut too_soon = Vec::new();
    let mut restarts = 0;
    for (name, list) in &consumers {
        let state = &namespaces[name];
        let targets = restart_targets(list, &state.snapshot, settings);
        restarts += targets.len();
        let ids: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
        too_soon.extend(restart_budget::too_soon(
            &state.snapshot.workloads,
            &ids,
            settings.min_restart_interval,
            Timestamp::now(),
        ));
        let mut needed: Vec<Permission> = permissions(&targets)
            .into_iter()
            .filter(|p| p.resource != "secrets")
            .collect();
        needed.push(Permission::new("get", certificates::GROUP, "certificates"));
        needed.push(Permission::new("patch", certificates::GROUP, "certificates/status"));
        cluster::access::require(conn, name, &needed).await?;
    }
    let scope = match namespaces.keys().collect::<Vec<_>>().as_slice() {
        [one] => one.to_string(),
        many => format!("{} namespaces", many.len()),
    };
    refuse_beyond_max_restarts(settings, &scope, restarts)?;
    let summaries: Vec<RenewalSummary> = renewals.iter().map(summary).collect();
    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        batch_interval: settings.batch_interval,
        timeout: settings.timeout,
        restart: settings.restart,
        writes: Writes::Renewal,
    };
    let every_consumer: Vec<Consumer> = consumers.values().flatten().cloned().collect();
    render::rotate::renewal_plan(
        &conn.context,
        &scope,
        &summaries,
        &every_consumer,
        &strategy,
        consent.output,
    )?;
    warn_too_soon(&too_soon, settings);
    refuse_unattended_too_soon(&too_soon, settings, consent.yes && !consent.dry_run)?;
    let question = match renewals.len() {
        1 => "Renew this certificate?".to_string(),
        n => format!("Renew these {n} certificates?"),
    };
    if !go_ahead(consent, &question)? {
        return Ok(Outcome::Clean);
    }
    run(conn, settings, &renewals, &namespaces).await
}

fn summary(renewal: &Renewal) -> RenewalSummary {
    let cert = &renewal.certificate;
    let current = current_certificate(&renewal.secret);
    RenewalSummary {
        namespace: cert.namespace.clone(),
        secret: renewal.secret.name.clone(),
        certificate: cert.name.clone(),
        issuer: cert.issuer.describe(),
        revision: cert.revision,
        serial: current.as_ref().map(|c| c.serial.clone()),
        not_after: current.as_ref().map(|c| c.not_after).or(cert.not_after),
        renewal_time: cert.renewal_time,
        dns_names: current.map(|c| c.dns_names).unwrap_or_default(),
    }
}

/// The confirmed renewals: a journal on each Secret, then ask for each, wait for each, restart
/// the consumers of those renewed, verify, clear the journals. A failed renewal restarts nothing
/// for its Secret and is said at the end (exit 15).
async fn run(
    conn: &Connection,
    settings: &Settings,
    renewals: &[Renewal],
    namespaces: &BTreeMap<String, InNamespace>,
) -> Result<Outcome> {
    let leases = begin_all(conn, settings, renewals, namespaces).await?;
    let _alive = KeepAlive::start(leases.clone());
    crate::failpoint::pause("renewal-begun").await;
    for renewal in renewals {
        let cert = &renewal.certificate;
        if cluster::certificates::request_renewal(conn, &cert.namespace, &cert.name, cert.revision).await? {
            render::step(&format!(
                "Asked cert-manager to renew Certificate {}/{} (revision {} follows {}).",
                cert.namespace,
                cert.name,
                cert.revision.unwrap_or(0) + 1,
                cert.revision.map_or("none".to_string(), |r| r.to_string())
            ));
        } else {
            render::step(&format!(
                "cert-manager started issuing Certificate {}/{} on its own since the plan: waiting for that \
                 issuance instead of asking for another.",
                cert.namespace, cert.name
            ));
        }
    }
    crate::failpoint::pause("renewal-asked").await;
    let mut renewed = Vec::new();
    let mut failures = Vec::new();
    for (renewal, lease) in renewals.iter().zip(&leases) {
        let serial = current_certificate(&renewal.secret).map(|c| c.serial);
        match await_renewal(conn, settings, &renewal.certificate, serial.as_deref()).await {
            Ok(()) => {
                lease.enter(Phase::Restarting).await?;
                renewed.push((renewal, lease.clone()));
            }
            Err(error) => {
                // The old certificate is still in place everywhere: nothing to finish or undo.
                lease.clear().await?;
                failures.push((renewal, error));
            }
        }
    }
    crate::failpoint::pause("renewed").await;
    let mut outcome = Outcome::Clean;
    let mut result = Ok(());
    for namespace in namespaces.keys() {
        let here: Vec<&(&Renewal, Arc<Lease>)> = renewed
            .iter()
            .filter(|(r, _)| &r.secret.namespace == namespace)
            .collect();
        let Some((_, lease)) = here.first() else {
            continue;
        };
        let secrets: Vec<&Renewal> = here.iter().map(|(r, _)| *r).collect();
        let consumers = consumers_in(namespaces, &secrets, settings);
        let list = consumers.get(namespace).map(Vec::as_slice).unwrap_or_default();
        let targets = restart_targets(list, &namespaces[namespace].snapshot, settings);
        let restarted: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
        let changed: BTreeSet<String> = secrets.iter().map(|r| r.secret.name.clone()).collect();
        let done = restart_and_verify(conn, settings, namespace, &changed, &targets, lease).await;
        for renewal in &secrets {
            let said = done.as_ref().copied();
            events::after_renewal(conn, settings, &renewal.secret, &renewal.certificate, &restarted, said).await;
        }
        for (_, lease) in &here {
            match &done {
                // Kept for --resume, which restarts what is left.
                Err(Error::RolloutFailed(_)) => lease.release().await?,
                _ => lease.clear().await?,
            }
        }
        match done {
            Ok(Outcome::Clean) => {}
            Ok(found) => outcome = found,
            Err(error) => result = Err(error),
        }
    }
    for (renewal, error) in &failures {
        events::after_renewal(conn, settings, &renewal.secret, &renewal.certificate, &[], Err(error)).await;
    }
    result?;
    match failures.into_iter().next() {
        Some((_, error)) if renewals.len() == 1 => Err(error),
        Some(_) => Err(Error::IssuerRefused {
            issuer: "cert-manager".into(),
            step: "some of the renewals".into(),
            reason: "see the warnings above".into(),
            fix: "the Secrets renewed had their readers restarted and verified; the others keep their current \
                  certificate: fix their cause, then rotate them again"
                .into(),
        }),
        None => Ok(outcome),
    }
}

/// A journal on each renewal's Secret (written alone, with the Secret's resourceVersion): the
/// Certificate, what the Secret held, and the readers it will restart. One id for the run, so
/// the readers it restarts say which change did. Those already written are cleared if one fails.
async fn begin_all(
    conn: &Connection,
    settings: &Settings,
    renewals: &[Renewal],
    namespaces: &BTreeMap<String, InNamespace>,
) -> Result<Vec<Arc<Lease>>> {
    let id = super::new_rotation_id();
    let started_at = Timestamp::now();
    let mut leases: Vec<Arc<Lease>> = Vec::new();
    for renewal in renewals {
        let consumers = consumers_in(namespaces, &[renewal], settings);
        let namespace = renewal.secret.namespace.as_str();
        let list = consumers.get(namespace).map(Vec::as_slice).unwrap_or_default();
        let workloads = restart_targets(list, &namespaces[namespace].snapshot, settings)
            .into_iter()
            .map(|t| t.id)
            .collect();
        let journal = Journal {
            id: id.clone(),
            action: settings.action.clone(),
            phase: Phase::Renewing,
            started_at,
            holder: lease::this_run(&settings.changed_by),
            secrets: BTreeMap::new(),
            workloads,
            sealed: None,
            external: None,
            issuers: Vec::new(),
            renewal: Some(RenewalRecord {
                certificate: renewal.certificate.name.clone(),
                revision: renewal.certificate.revision,
                serial: current_certificate(&renewal.secret).map(|c| c.serial),
            }),
        };
        let update = JournalUpdate::Write(&journal);
        let written = cluster::secrets::update_journal(
            conn,
            namespace,
            &renewal.secret.name,
            &renewal.secret.resource_version,
            &update,
        )
        .await;
        match written {
            Ok(_) => leases.push(Lease::held(
                conn,
                namespace,
                Anchor::Secret(renewal.secret.name.clone()),
                journal,
            )),
            Err(error) => {
                for lease in &leases {
                    let _ = lease.clear().await;
                }
                return Err(error);
            }
        }
    }
    Ok(leases)
}

/// Restart what does not reload the renewed Secrets of one namespace (recorded as `lease`'s
/// change), then verify their readers.
async fn restart_and_verify(
    conn: &Connection,
    settings: &Settings,
    namespace: &str,
    changed: &BTreeSet<String>,
    targets: &[RestartTarget],
    lease: &Lease,
) -> Result<Outcome> {
    if !targets.is_empty() {
        let title = format!("Restarting the readers in {namespace} that do not reload their certificate:");
        let failed = restart_outside_a_change(conn, settings, namespace, targets, &title, Some(lease)).await?;
        if !failed.is_empty() {
            let first = changed.first().map(String::as_str).unwrap_or_default();
            return Err(Error::RolloutFailed(format!(
                "the certificate was renewed, but the restart did not complete: {} (a certificate cannot be \
                 un-issued; the journal is kept: fix the rollout, then kubectl secrets rotate {first} -n {namespace} \
                 --resume restarts what is left, or --abort leaves it)",
                failed.join("; ")
            )));
        }
    }
    verify_changed(conn, namespace, changed, settings).await
}

/// The next revision issued and its certificate in the Secret (its serial no longer `serial`).
async fn await_renewal(
    conn: &Connection,
    settings: &Settings,
    before: &CertificateState,
    serial: Option<&str>,
) -> Result<()> {
    let issued = match await_issuance(conn, settings, before).await {
        Ok(()) => await_new_certificate(conn, &before.namespace, &before.secret_name, serial).await,
        Err(error) => Err(error),
    };
    match issued {
        Ok(info) => {
            render::step(&format!(
                "Renewed: Secret {}/{} holds a new certificate (serial {}, valid until {}).",
                before.namespace, before.secret_name, info.serial, info.not_after
            ));
            Ok(())
        }
        Err(error) => {
            render::warning(&format!(
                "not renewed, nothing restarted for it: {}",
                render::clean_line(&error.to_string())
            ));
            Err(error)
        }
    }
}

/// Wait until cert-manager has issued the next revision, or says why it cannot.
async fn await_issuance(conn: &Connection, settings: &Settings, before: &CertificateState) -> Result<()> {
    let namespace = before.namespace.as_str();
    let deadline = tokio::time::Instant::now() + settings.timeout;
    let refused = |reason: String, fix: String| Error::IssuerRefused {
        issuer: format!("cert-manager's {}", before.issuer.describe()),
        step: format!("the renewal of Certificate {namespace}/{}", before.name),
        reason,
        fix,
    };
    loop {
        let Some(now) = cluster::certificates::get(conn, namespace, &before.name).await? else {
            return Err(Error::NotFound(format!(
                "Certificate {namespace}/{} was deleted during its renewal: nothing was restarted for it",
                before.name
            )));
        };
        let requests = cluster::certificates::requests_of(conn, namespace, &before.name).await?;
        let next = before.revision.unwrap_or(0) + 1;
        let request = requests.iter().find(|r| r.revision == Some(next));
        match certificates::issuance(before.revision, &now, request) {
            Issuance::Issued => return Ok(()),
            Issuance::Failed(why) => {
                return Err(refused(
                    why,
                    format!(
                        "nothing was restarted: Secret {} still holds the current certificate, and cert-manager \
                         retries on its own; fix the cause (kubectl describe certificate {} -n {namespace}), then \
                         rotate again",
                        before.secret_name, before.name
                    ),
                ))
            }
            Issuance::Pending => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(refused(
                format!(
                    "no new certificate within --timeout {}",
                    humantime::format_duration(settings.timeout)
                ),
                format!(
                    "nothing was restarted; is cert-manager's controller running (kubectl get pods -n cert-manager)? \
                     kubectl describe certificate {} -n {namespace} says where the issuance stands",
                    before.name
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The Secret's new certificate (its serial differs from the one it held before the renewal).
async fn await_new_certificate(
    conn: &Connection,
    namespace: &str,
    name: &str,
    serial_before: Option<&str>,
) -> Result<tls::TlsInfo> {
    let deadline = tokio::time::Instant::now() + SECRET_LAG;
    loop {
        let now = cluster::secrets::get(conn, namespace, name).await?;
        if let Some(info) = current_certificate(&now).filter(|c| Some(c.serial.as_str()) != serial_before) {
            return Ok(info);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Api {
                action: format!("read secret {namespace}/{name}"),
                message: format!(
                    "cert-manager reports the renewal done, but the Secret still holds the previous certificate after \
                     {}: nothing was restarted for it (kubectl describe certificate -n {})",
                    humantime::format_duration(SECRET_LAG),
                    namespace
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
