//! `rotate` of a Secret cert-manager issues: a renewal. cert-manager writes the new certificate
//! and key (the plugin never writes the Secret); the plugin asks for the renewal the way
//! `cmctl renew` does, waits for the new revision and the new certificate in the Secret,
//! restarts only the consumers that do not reload it (subPath mounts, env), and verifies. A
//! failed issuance restarts nothing: the old certificate stays in place and the controller's
//! reason is said.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;

use super::{
    events, go_ahead, permissions, read_namespace, refuse_beyond_max_restarts, refuse_unattended_too_soon, restart,
    targets_for, templates_of, verify_changed, warn_too_soon, Consent, Settings,
};
use crate::cluster::access::Permission;
use crate::cluster::{self, Connection};
use crate::domain::certificates::{self, CertificateState, Issuance, Stuck};
use crate::domain::consumers::{self, ConsumerAction};
use crate::domain::model::WorkloadId;
use crate::domain::plan::SecretState;
use crate::domain::restart_budget;
use crate::domain::tls::{self, TlsCert};
use crate::error::{Error, Outcome, Result};
use crate::render;
use crate::render::rotate::{RenewalSummary, Strategy, Writes};

/// How often the Certificate is read while cert-manager issues.
const POLL: Duration = Duration::from_millis(500);
/// How long the Secret may lag behind the Certificate's new revision.
const SECRET_LAG: Duration = Duration::from_secs(30);

/// Renew the certificate in `secret` (issued by Certificate `certificate`): plan, question,
/// renewal, restarts, verify.
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
    refuse_doomed(cm.stuck(cert, Timestamp::now()), cert)?;
    if cert.issuing.as_ref().is_some_and(|c| c.is_true()) {
        return Err(Error::Usage(format!(
            "Certificate {namespace}/{certificate} is being issued already (its Issuing condition is True): nothing was \
             changed. Wait for it (kubectl get certificate {certificate} -n {namespace} -w), then run \
             kubectl secrets verify -n {namespace} to see which consumers still need a restart"
        )));
    }

    // cert-manager rewrites the certificate, its key and the CA together.
    let keys: BTreeSet<String> = secret.data.keys().cloned().collect();
    let changed_keys = BTreeMap::from([(secret.name.clone(), keys)]);
    let consumers = consumers::consumers_of(&snapshot, &changed_keys, policy, settings.restart_all);
    let restarts: Vec<WorkloadId> = if settings.restart {
        consumers
            .iter()
            .filter(|c| c.action == ConsumerAction::Restart)
            .map(|c| c.id.clone())
            .collect()
    } else {
        Vec::new()
    };
    refuse_beyond_max_restarts(settings, namespace, restarts.len())?;
    let too_soon = restart_budget::too_soon(
        &snapshot.workloads,
        &restarts,
        settings.min_restart_interval,
        Timestamp::now(),
    );
    // cert-manager's writes carry no revision of the plugin's: nothing is stamped on templates.
    let targets = targets_for(&restarts, &templates_of(&snapshot), &BTreeMap::new(), None);
    let current = current_certificate(secret);
    let summary = RenewalSummary {
        secret: secret.name.clone(),
        certificate: cert.name.clone(),
        issuer: cert.issuer.describe(),
        revision: cert.revision,
        serial: current.as_ref().map(|c| c.serial.clone()),
        not_after: current.as_ref().map(|c| c.not_after).or(cert.not_after),
        renewal_time: cert.renewal_time,
        dns_names: current.map(|c| c.dns_names).unwrap_or_default(),
    };
    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        batch_interval: settings.batch_interval,
        timeout: settings.timeout,
        restart: settings.restart,
        writes: Writes::Renewal,
    };
    render::rotate::renewal_plan(
        &conn.context,
        namespace,
        &summary,
        &consumers,
        &strategy,
        consent.output,
    )?;
    warn_too_soon(&too_soon, settings);
    let mut needed: Vec<Permission> = permissions(&targets)
        .into_iter()
        .filter(|p| p.resource != "secrets")
        .collect();
    needed.push(Permission::new("get", certificates::GROUP, "certificates"));
    needed.push(Permission::new("patch", certificates::GROUP, "certificates/status"));
    cluster::access::require(conn, namespace, &needed).await?;
    refuse_unattended_too_soon(&too_soon, settings, consent.yes && !consent.dry_run)?;
    if !go_ahead(consent, "Renew this certificate?")? {
        return Ok(Outcome::Clean);
    }
    let restarted: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
    let result = run(conn, settings, secret, cert, summary.serial.as_deref(), &targets).await;
    events::after_renewal(conn, settings, secret, cert, &restarted, &result).await;
    result
}

/// A renewal that cannot succeed is refused before the question, with the reason.
fn refuse_doomed(stuck: Option<Stuck>, cert: &CertificateState) -> Result<()> {
    let issuer = format!("cert-manager's {}", cert.issuer.describe());
    let (reason, fix) = match stuck {
        Some(Stuck::IssuerMissing) => (
            format!("{} does not exist", cert.issuer.describe()),
            "create it, or point the Certificate's spec.issuerRef at one that exists, then rotate again",
        ),
        Some(Stuck::IssuerNotReady(why)) => (
            format!("it is not Ready: {why}"),
            "fix the issuer first (kubectl describe it), then rotate again",
        ),
        _ => return Ok(()),
    };
    Err(Error::IssuerRefused {
        issuer,
        step: format!("to renew Certificate {}/{}", cert.namespace, cert.name),
        reason,
        fix: format!("nothing was changed: the current certificate stays in place; {fix}"),
    })
}

/// The certificate the Secret holds now, when it can be read.
fn current_certificate(secret: &SecretState) -> Option<tls::TlsInfo> {
    let pem = secret.data.get(tls::CERT_KEY)?;
    match tls::parse(pem.expose(), &BTreeMap::new()) {
        TlsCert::Read(info) => Some(info),
        TlsCert::Unreadable(_) => None,
    }
}

/// The confirmed renewal: ask, wait for the new certificate, restart, verify.
async fn run(
    conn: &Connection,
    settings: &Settings,
    secret: &SecretState,
    cert: &CertificateState,
    serial_before: Option<&str>,
    targets: &[crate::domain::rollout::RestartTarget],
) -> Result<Outcome> {
    let namespace = secret.namespace.as_str();
    cluster::certificates::request_renewal(conn, namespace, &cert.name).await?;
    render::step(&format!(
        "Asked cert-manager to renew Certificate {} (revision {} follows {}).",
        cert.name,
        cert.revision.unwrap_or(0) + 1,
        cert.revision.map_or("none".to_string(), |r| r.to_string())
    ));
    await_issuance(conn, settings, cert).await?;
    let serial = await_new_certificate(conn, secret, serial_before).await?;
    render::step(&format!(
        "Renewed: Secret {} holds a new certificate (serial {}, valid until {}).",
        secret.name, serial.serial, serial.not_after
    ));
    if !targets.is_empty() {
        let title = format!("Restarting the consumers of {} that do not reload it:", secret.name);
        let states = restart::restart_and_wait(
            conn,
            namespace,
            targets,
            settings.pacing(settings.timeout),
            &title,
            None,
            !settings.leave_on_delete,
            settings.forward_promotion(),
        )
        .await?;
        let failed = restart::failures_of(&states);
        if !failed.is_empty() {
            return Err(Error::RolloutFailed(format!(
                "the certificate was renewed, but the restart did not complete: {} (a certificate cannot be \
                 un-issued; fix the rollout, then kubectl secrets verify --fix -n {namespace})",
                failed.join("; ")
            )));
        }
    }
    let changed = BTreeSet::from([secret.name.clone()]);
    verify_changed(conn, namespace, &changed, settings).await
}

/// Wait until cert-manager has issued the next revision, or says why it cannot.
async fn await_issuance(conn: &Connection, settings: &Settings, before: &CertificateState) -> Result<()> {
    let namespace = before.namespace.as_str();
    let deadline = tokio::time::Instant::now() + settings.timeout;
    loop {
        let Some(now) = cluster::certificates::get(conn, namespace, &before.name).await? else {
            return Err(Error::NotFound(format!(
                "Certificate {namespace}/{} was deleted during its renewal: nothing was restarted",
                before.name
            )));
        };
        let requests = cluster::certificates::requests_of(conn, namespace, &before.name).await?;
        let next = before.revision.unwrap_or(0) + 1;
        let request = requests.iter().find(|r| r.revision == Some(next));
        match certificates::issuance(before.revision, &now, request) {
            Issuance::Issued => return Ok(()),
            Issuance::Failed(why) => {
                return Err(Error::IssuerRefused {
                    issuer: format!("cert-manager's {}", before.issuer.describe()),
                    step: format!("the renewal of Certificate {namespace}/{}", before.name),
                    reason: why,
                    fix: format!(
                        "nothing was restarted: Secret {} still holds the current certificate, and cert-manager \
                         retries on its own; fix the cause (kubectl describe certificate {} -n {namespace}), then \
                         rotate again",
                        before.secret_name, before.name
                    ),
                })
            }
            Issuance::Pending => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::IssuerRefused {
                issuer: format!("cert-manager's {}", before.issuer.describe()),
                step: format!("the renewal of Certificate {namespace}/{}", before.name),
                reason: format!(
                    "no new certificate within --timeout {}",
                    humantime::format_duration(settings.timeout)
                ),
                fix: format!(
                    "nothing was restarted; is cert-manager's controller running (kubectl get pods -n cert-manager)? \
                     kubectl describe certificate {} -n {namespace} says where the issuance stands",
                    before.name
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The Secret's new certificate (its serial differs from the one before the renewal).
async fn await_new_certificate(
    conn: &Connection,
    secret: &SecretState,
    serial_before: Option<&str>,
) -> Result<tls::TlsInfo> {
    let deadline = tokio::time::Instant::now() + SECRET_LAG;
    loop {
        let now = cluster::secrets::get(conn, &secret.namespace, &secret.name).await?;
        if let Some(info) = current_certificate(&now).filter(|c| Some(c.serial.as_str()) != serial_before) {
            return Ok(info);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Api {
                action: format!("read secret {}/{}", secret.namespace, secret.name),
                message: format!(
                    "cert-manager reports the renewal done, but the Secret still holds the previous certificate after \
                     {}: nothing was restarted (kubectl describe certificate -n {})",
                    humantime::format_duration(SECRET_LAG),
                    secret.namespace
                ),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}
