//! cert-manager as the plugin reads it: the Certificates that issue Secrets, their Issuers and
//! ClusterIssuers, and the CertificateRequests of each issuance. Only references and status are
//! read (a private key never is), enough to say who issues a Secret and why a renewal does not
//! happen — the runbook's "cert-manager not renewing cert" questions.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use serde_json::Value;

/// cert-manager's API group and the version the plugin reads.
pub const GROUP: &str = "cert-manager.io";
pub const VERSION: &str = "v1";
/// The annotation cert-manager puts on each CertificateRequest: the revision it issues.
const REQUEST_REVISION: &str = "cert-manager.io/certificate-revision";
/// A renewal this long past its time is overdue: the controller renews within seconds.
const RENEWAL_GRACE: SignedDuration = SignedDuration::from_mins(5);

/// One status condition (Ready, Issuing, Approved, Denied).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// True, False or Unknown.
    pub status: String,
    pub reason: String,
    pub message: String,
}

impl Condition {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }

    /// "Reason: message", or whichever of the two is set.
    pub fn explain(&self) -> String {
        match (self.reason.is_empty(), self.message.is_empty()) {
            (false, false) => format!("{}: {}", self.reason, self.message),
            (false, true) => self.reason.clone(),
            (true, false) => self.message.clone(),
            (true, true) => format!("status {}", self.status),
        }
    }
}

/// `spec.issuerRef` of a Certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct IssuerRef {
    pub name: String,
    /// Issuer (the default) or ClusterIssuer; an external issuer's own kind otherwise.
    pub kind: String,
    pub group: String,
}

impl IssuerRef {
    /// An Issuer or ClusterIssuer of cert-manager itself (external issuers have their own group).
    pub fn is_cert_manager(&self) -> bool {
        (self.group.is_empty() || self.group == GROUP) && matches!(self.kind.as_str(), "Issuer" | "ClusterIssuer")
    }

    /// "ClusterIssuer/letsencrypt"
    pub fn describe(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertificateState {
    pub namespace: String,
    pub name: String,
    /// `spec.secretName`: the Secret it writes.
    pub secret_name: String,
    pub issuer: IssuerRef,
    pub not_after: Option<Timestamp>,
    pub renewal_time: Option<Timestamp>,
    /// Issuances so far (`status.revision`); None before the first.
    pub revision: Option<u64>,
    pub ready: Option<Condition>,
    /// Present while an issuance runs (True), or after one failed (False).
    pub issuing: Option<Condition>,
    pub failed_issuance_attempts: u64,
    pub last_failure_time: Option<Timestamp>,
    /// `metadata.creationTimestamp`: among Certificates naming one Secret, cert-manager issues
    /// the oldest unless the Secret names another.
    pub created: Option<Timestamp>,
}

impl CertificateState {
    pub fn is_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(Condition::is_true)
    }

    /// "Ready", or "not Ready (Reason: message)".
    pub fn readiness(&self) -> String {
        match &self.ready {
            Some(c) if c.is_true() => "Ready".into(),
            Some(c) => format!("not Ready ({})", c.explain()),
            None => "not Ready (no status yet)".into(),
        }
    }

    /// The Issuing condition of a failed issuance (cert-manager retries later). With cert-manager's
    /// ServerSideApply feature a successful issuance also leaves Issuing False, reason "Issued".
    pub fn failed_issuing(&self) -> Option<&Condition> {
        self.issuing
            .as_ref()
            .filter(|c| c.status == "False" && c.reason != "Issued")
    }

    /// Whether its renewal time has passed by more than the controller needs to act on it.
    pub fn renewal_overdue(&self, now: Timestamp) -> bool {
        self.renewal_time
            .is_some_and(|at| at.checked_add(RENEWAL_GRACE).is_ok_and(|due| due < now))
    }
}

/// An Issuer (namespace set) or a ClusterIssuer (no namespace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerState {
    pub namespace: Option<String>,
    pub name: String,
    /// How it signs: CA, SelfSigned, ACME, Vault, Venafi (the key set in its spec).
    pub signs_with: String,
    /// A CA issuer: the Secret holding its CA certificate and key (in its namespace, or for a
    /// ClusterIssuer in cert-manager's cluster resource namespace).
    pub ca_secret: Option<String>,
    pub ready: Option<Condition>,
}

impl IssuerState {
    pub fn is_ready(&self) -> bool {
        self.ready.as_ref().is_some_and(Condition::is_true)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestState {
    pub namespace: String,
    pub name: String,
    /// The Certificate that made it (its controller owner).
    pub certificate: Option<String>,
    /// The certificate revision it issues.
    pub revision: Option<u64>,
    pub ready: Option<Condition>,
    pub approved: Option<Condition>,
    pub denied: Option<Condition>,
    pub created: Option<Timestamp>,
}

impl RequestState {
    /// Why this request will not issue: denied, or failed (the controller's reason).
    pub fn failure(&self) -> Option<String> {
        if let Some(denied) = self.denied.as_ref().filter(|c| c.is_true()) {
            return Some(format!("denied ({})", denied.explain()));
        }
        let ready = self.ready.as_ref()?;
        (ready.status == "False" && matches!(ready.reason.as_str(), "Failed" | "Denied" | "InvalidRequest"))
            .then(|| format!("failed ({})", ready.explain()))
    }
}

/// Everything of cert-manager in a scope; empty where its API is not installed.
#[derive(Debug, Clone, Default)]
pub struct CertManager {
    pub certificates: Vec<CertificateState>,
    /// Issuers of the scope and every ClusterIssuer.
    pub issuers: Vec<IssuerState>,
    pub requests: Vec<RequestState>,
    /// The user may not list Issuers in the scope, or ClusterIssuers: a Certificate naming one
    /// is not judged by its issuer (it is not missing, just unseen).
    pub issuers_unreadable: bool,
    pub cluster_issuers_unreadable: bool,
}

impl CertManager {
    /// The Certificate that writes this Secret. When several name it, cert-manager issues only
    /// one (its trigger controller skips the others): the one the Secret's
    /// `cert-manager.io/certificate-name` annotation names, else the oldest, then by name.
    pub fn certificate_for(&self, namespace: &str, secret: &str, annotated: Option<&str>) -> Option<&CertificateState> {
        let mut naming: Vec<&CertificateState> = self
            .certificates
            .iter()
            .filter(|c| c.namespace == namespace && c.secret_name == secret)
            .collect();
        if let Some(named) = naming.iter().find(|c| Some(c.name.as_str()) == annotated) {
            return Some(named);
        }
        naming.sort_by(|a, b| (a.created, &a.name).cmp(&(b.created, &b.name)));
        naming.first().copied()
    }

    /// The Issuer or ClusterIssuer a Certificate names; None when it is missing (or not one of
    /// cert-manager's own kinds).
    pub fn issuer_of(&self, certificate: &CertificateState) -> Option<&IssuerState> {
        let wanted = &certificate.issuer;
        let namespace = match wanted.kind.as_str() {
            "ClusterIssuer" => None,
            _ => Some(certificate.namespace.as_str()),
        };
        self.issuers
            .iter()
            .find(|i| i.name == wanted.name && i.namespace.as_deref() == namespace)
    }

    /// The newest CertificateRequest of a Certificate (highest revision, then newest).
    pub fn latest_request(&self, certificate: &CertificateState) -> Option<&RequestState> {
        self.requests
            .iter()
            .filter(|r| r.namespace == certificate.namespace && r.certificate.as_deref() == Some(&certificate.name))
            .max_by_key(|r| (r.revision, r.created))
    }

    /// Why a Certificate does not (re)issue, most specific cause first; None when nothing is
    /// wrong that the plugin can see.
    /// `annotated` is the Certificate its Secret's annotation names (which of several
    /// Certificates naming one Secret cert-manager issues).
    pub fn stuck(&self, certificate: &CertificateState, annotated: Option<&str>, now: Timestamp) -> Option<Stuck> {
        if let Some(issued) = self
            .certificate_for(&certificate.namespace, &certificate.secret_name, annotated)
            .filter(|issued| issued.name != certificate.name)
        {
            return Some(Stuck::SecretTaken {
                by: issued.name.clone(),
                readiness: certificate.readiness(),
            });
        }
        let issuer = &certificate.issuer;
        let unseen = match issuer.kind.as_str() {
            "ClusterIssuer" => self.cluster_issuers_unreadable,
            _ => self.issuers_unreadable,
        };
        if issuer.is_cert_manager() && !unseen {
            match self.issuer_of(certificate) {
                None => return Some(Stuck::IssuerMissing),
                Some(found) if !found.is_ready() => {
                    return Some(Stuck::IssuerNotReady(
                        found
                            .ready
                            .as_ref()
                            .map(Condition::explain)
                            .unwrap_or_else(|| "no status yet".into()),
                    ))
                }
                Some(_) => {}
            }
        }
        // A failed request matters while it is the latest word: a later successful issuance
        // (Ready, revision at or past it) supersedes it.
        if let Some(request) = self.latest_request(certificate) {
            let superseded = certificate.is_ready() && certificate.revision >= request.revision;
            if let Some(failure) = request.failure().filter(|_| !superseded) {
                return Some(Stuck::RequestFailed {
                    request: request.name.clone(),
                    why: failure,
                });
            }
        }
        if let Some(issuing) = certificate.failed_issuing() {
            return Some(Stuck::IssuanceFailed(issuing.explain()));
        }
        if !certificate.is_ready() && certificate.issuing.as_ref().is_none_or(|c| !c.is_true()) {
            return Some(Stuck::NotReady(certificate.readiness()));
        }
        if certificate.renewal_overdue(now) {
            return Some(Stuck::RenewalOverdue);
        }
        None
    }
}

/// Why a Certificate is not renewed, as `audit` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stuck {
    /// Its Issuer or ClusterIssuer does not exist.
    IssuerMissing,
    /// Its issuer is not Ready (the issuer's reason).
    IssuerNotReady(String),
    /// Its latest CertificateRequest failed or was denied.
    RequestFailed { request: String, why: String },
    /// The Issuing condition is False (the last issuance failed; cert-manager retries later).
    IssuanceFailed(String),
    /// Another Certificate names the same Secret and is the one cert-manager issues: this one is
    /// never issued (its readiness as the controller says it).
    SecretTaken { by: String, readiness: String },
    /// Not Ready for another reason.
    NotReady(String),
    /// Ready, but its renewal time has passed without a renewal (is the controller running?).
    RenewalOverdue,
}

/// The status patch that asks for a renewal, as `cmctl renew` does: the Issuing condition set
/// True (the other conditions kept), with the object's resourceVersion so that a concurrent
/// status write is a conflict rather than lost. None when the Certificate has moved past
/// `revision_before` or is being issued already: asking then would issue once more for nothing.
pub fn renewal_request(object: &Value, now: Timestamp, revision_before: Option<u64>) -> Option<Value> {
    let state = parse_certificate(object);
    if state.revision != revision_before || state.issuing.as_ref().is_some_and(Condition::is_true) {
        return None;
    }
    let mut conditions: Vec<Value> = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["type"] != "Issuing")
        .cloned()
        .collect();
    conditions.push(serde_json::json!({
        "type": "Issuing",
        "status": "True",
        "reason": "ManuallyTriggered",
        "message": "Certificate re-issuance manually triggered by kubectl-secrets",
        "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "observedGeneration": object["metadata"]["generation"].as_i64().unwrap_or(0),
    }));
    Some(serde_json::json!({
        "metadata": {"resourceVersion": object["metadata"]["resourceVersion"]},
        "status": {"conditions": conditions},
    }))
}

/// Where a requested renewal stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issuance {
    /// The new revision is issued and the Certificate is Ready.
    Issued,
    /// The issuance failed: cert-manager's reason (it retries later on its own).
    Failed(String),
    /// Still under way.
    Pending,
}

/// How far an interrupted renewal got (for `--resume`/`--abort`), from the Certificate as it
/// stands and the serial of the certificate its Secret holds now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenewalStage {
    /// The Secret holds a certificate of a later revision than the one recorded.
    Renewed { revision: u64, serial: String },
    /// cert-manager is issuing (or has issued and not yet written the Secret).
    Issuing,
    /// Nothing happened: the request never landed, or the issuance failed.
    NotRenewed,
}

pub fn renewal_stage(
    revision_before: Option<u64>,
    serial_before: Option<&str>,
    now: &CertificateState,
    serial_now: Option<&str>,
) -> RenewalStage {
    let later = now.revision > revision_before;
    match serial_now {
        Some(serial) if later && now.is_ready() && Some(serial) != serial_before => RenewalStage::Renewed {
            revision: now.revision.unwrap_or_default(),
            serial: serial.to_string(),
        },
        _ if later || now.issuing.as_ref().is_some_and(Condition::is_true) => RenewalStage::Issuing,
        _ => RenewalStage::NotRenewed,
    }
}

/// Judge a renewal asked for at `revision_before` from the Certificate as it stands and its
/// request for the next revision (when one exists yet).
pub fn issuance(revision_before: Option<u64>, now: &CertificateState, request: Option<&RequestState>) -> Issuance {
    let next = revision_before.unwrap_or(0) + 1;
    if let Some(why) = request
        .filter(|r| r.revision == Some(next))
        .and_then(RequestState::failure)
    {
        return Issuance::Failed(format!(
            "its CertificateRequest {} {why}",
            request.map(|r| r.name.as_str()).unwrap_or("")
        ));
    }
    if let Some(issuing) = now.failed_issuing() {
        return Issuance::Failed(issuing.explain());
    }
    let issued = now.revision.is_some_and(|r| r >= next);
    if issued && now.is_ready() && now.issuing.as_ref().is_none_or(|c| !c.is_true()) {
        Issuance::Issued
    } else {
        Issuance::Pending
    }
}

fn text(value: &Value, path: &[&str]) -> Option<String> {
    let mut at = value;
    for step in path {
        at = at.get(step)?;
    }
    at.as_str().map(str::to_string)
}

fn time(value: &Value, path: &[&str]) -> Option<Timestamp> {
    text(value, path).and_then(|t| t.parse().ok())
}

fn condition(object: &Value, kind: &str) -> Option<Condition> {
    let found = object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)?;
    Some(Condition {
        status: text(found, &["status"]).unwrap_or_default(),
        reason: text(found, &["reason"]).unwrap_or_default(),
        message: text(found, &["message"]).unwrap_or_default(),
    })
}

/// A Certificate object as the API returns it.
pub fn parse_certificate(object: &Value) -> CertificateState {
    let meta = &object["metadata"];
    let spec = &object["spec"];
    let status = &object["status"];
    CertificateState {
        namespace: text(meta, &["namespace"]).unwrap_or_default(),
        name: text(meta, &["name"]).unwrap_or_default(),
        secret_name: text(spec, &["secretName"]).unwrap_or_default(),
        issuer: IssuerRef {
            name: text(spec, &["issuerRef", "name"]).unwrap_or_default(),
            kind: text(spec, &["issuerRef", "kind"])
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "Issuer".into()),
            group: text(spec, &["issuerRef", "group"]).unwrap_or_default(),
        },
        not_after: time(status, &["notAfter"]),
        renewal_time: time(status, &["renewalTime"]),
        revision: status["revision"].as_u64(),
        ready: condition(object, "Ready"),
        issuing: condition(object, "Issuing"),
        failed_issuance_attempts: status["failedIssuanceAttempts"].as_u64().unwrap_or(0),
        last_failure_time: time(status, &["lastFailureTime"]),
        created: time(meta, &["creationTimestamp"]),
    }
}

/// An Issuer (namespaced) or ClusterIssuer object.
pub fn parse_issuer(object: &Value) -> IssuerState {
    let meta = &object["metadata"];
    let signs_with = [
        "acme:ACME",
        "ca:CA",
        "selfSigned:SelfSigned",
        "vault:Vault",
        "venafi:Venafi",
    ]
    .iter()
    .find_map(|pair| {
        let (key, name) = pair.split_once(':')?;
        object["spec"]
            .get(key)
            .filter(|v| !v.is_null())
            .map(|_| name.to_string())
    })
    .unwrap_or_else(|| "unknown".into());
    IssuerState {
        namespace: text(meta, &["namespace"]).filter(|n| !n.is_empty()),
        name: text(meta, &["name"]).unwrap_or_default(),
        signs_with,
        ca_secret: text(object, &["spec", "ca", "secretName"]).filter(|n| !n.is_empty()),
        ready: condition(object, "Ready"),
    }
}

/// A CertificateRequest object.
pub fn parse_request(object: &Value) -> RequestState {
    let meta = &object["metadata"];
    let certificate = meta["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["kind"] == "Certificate" && text(o, &["apiVersion"]).is_some_and(|v| v.starts_with(GROUP)))
        .and_then(|o| text(o, &["name"]));
    RequestState {
        namespace: text(meta, &["namespace"]).unwrap_or_default(),
        name: text(meta, &["name"]).unwrap_or_default(),
        certificate,
        revision: text(&meta["annotations"], &[REQUEST_REVISION]).and_then(|r| r.parse().ok()),
        ready: condition(object, "Ready"),
        approved: condition(object, "Approved"),
        denied: condition(object, "Denied"),
        created: time(meta, &["creationTimestamp"]),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn certificate(status: Value) -> Value {
        json!({
            "metadata": {"namespace": "platform", "name": "platform-tls"},
            "spec": {"secretName": "platform-tls", "issuerRef": {"name": "platform-ca"}},
            "status": status,
        })
    }

    fn ready_ca() -> Value {
        json!({"metadata": {"namespace": "platform", "name": "platform-ca"}, "spec": {"ca": {"secretName": "platform-ca"}},
               "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KeyPairVerified"}]}})
    }

    fn now() -> Timestamp {
        "2026-12-06T12:00:00Z".parse().unwrap()
    }

    fn healthy() -> Value {
        json!({"notAfter": "2027-03-06T12:00:00Z", "renewalTime": "2027-02-04T12:00:00Z", "revision": 3,
               "conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}]})
    }

    #[test]
    fn reads_a_certificate_with_its_defaults() {
        let read = parse_certificate(&certificate(healthy()));
        assert_eq!(read.secret_name, "platform-tls");
        assert_eq!(read.issuer.describe(), "Issuer/platform-ca");
        assert!(read.issuer.is_cert_manager());
        assert_eq!(read.revision, Some(3));
        assert_eq!(read.renewal_time, Some("2027-02-04T12:00:00Z".parse().unwrap()));
        assert_eq!(read.readiness(), "Ready");
    }

    #[test]
    fn a_healthy_certificate_is_not_stuck() {
        let cm = CertManager {
            certificates: vec![parse_certificate(&certificate(healthy()))],
            issuers: vec![parse_issuer(&ready_ca())],
            requests: Vec::new(),
            ..Default::default()
        };
        assert_eq!(cm.issuers[0].signs_with, "CA");
        assert_eq!(cm.stuck(&cm.certificates[0], None, now()), None);
    }

    #[test]
    fn the_most_specific_cause_is_named() {
        let cert = parse_certificate(&certificate(healthy()));
        let missing = CertManager {
            certificates: vec![cert.clone()],
            ..Default::default()
        };
        assert_eq!(missing.stuck(&cert, None, now()), Some(Stuck::IssuerMissing));

        let mut issuer = parse_issuer(&ready_ca());
        issuer.ready = Some(Condition {
            status: "False".into(),
            reason: "ErrGetKeyPair".into(),
            message: "Error getting keypair for CA issuer: secrets \"platform-ca\" not found".into(),
        });
        let not_ready = CertManager {
            issuers: vec![issuer],
            ..missing.clone()
        };
        match not_ready.stuck(&cert, None, now()) {
            Some(Stuck::IssuerNotReady(why)) => assert!(why.starts_with("ErrGetKeyPair: Error getting keypair")),
            other => panic!("{other:?}"),
        }
        // A ClusterIssuer of the same name does not stand in for a missing Issuer.
        let mut cluster = parse_issuer(&ready_ca());
        cluster.namespace = None;
        let elsewhere = CertManager {
            issuers: vec![cluster],
            ..missing
        };
        assert_eq!(elsewhere.stuck(&cert, None, now()), Some(Stuck::IssuerMissing));
        // Issuers the user may not list are unseen, not missing.
        let unseen = CertManager {
            issuers_unreadable: true,
            ..elsewhere
        };
        assert_eq!(unseen.stuck(&cert, None, now()), None);
    }

    #[test]
    fn a_failed_request_is_reported_until_a_later_issuance_supersedes_it() {
        let mut status = healthy();
        status["conditions"] = json!([
            {"type": "Ready", "status": "True", "reason": "Ready"},
            {"type": "Issuing", "status": "False", "reason": "Failed", "message": "The certificate request has failed to complete and will be retried"}
        ]);
        let cert = parse_certificate(&certificate(status));
        let request = parse_request(&json!({
            "metadata": {"namespace": "platform", "name": "platform-tls-4", "creationTimestamp": "2026-12-06T11:00:00Z",
                         "annotations": {REQUEST_REVISION: "4"},
                         "ownerReferences": [{"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "name": "platform-tls", "controller": true}]},
            "status": {"conditions": [
                {"type": "Approved", "status": "True", "reason": "cert-manager.io"},
                {"type": "Ready", "status": "False", "reason": "Failed", "message": "The CA Secret could not be read"}]}
        }));
        assert_eq!(request.certificate.as_deref(), Some("platform-tls"));
        let cm = CertManager {
            certificates: vec![cert.clone()],
            issuers: vec![parse_issuer(&ready_ca())],
            requests: vec![request.clone()],
            ..Default::default()
        };
        match cm.stuck(&cert, None, now()) {
            Some(Stuck::RequestFailed { request, why }) => {
                assert_eq!(request, "platform-tls-4");
                assert_eq!(why, "failed (Failed: The CA Secret could not be read)");
            }
            other => panic!("{other:?}"),
        }
        let mut renewed = cert.clone();
        renewed.revision = Some(4);
        renewed.issuing = None;
        let cm = CertManager {
            certificates: vec![renewed.clone()],
            ..cm
        };
        assert_eq!(cm.stuck(&renewed, None, now()), None);
    }

    #[test]
    fn an_overdue_renewal_is_stuck_after_the_grace() {
        let mut status = healthy();
        status["renewalTime"] = json!("2026-12-06T11:58:00Z");
        let cert = parse_certificate(&certificate(status));
        let cm = CertManager {
            certificates: vec![cert.clone()],
            issuers: vec![parse_issuer(&ready_ca())],
            requests: Vec::new(),
            ..Default::default()
        };
        assert_eq!(
            cm.stuck(&cert, None, now()),
            None,
            "within the controller's few minutes"
        );
        let later = now().checked_add(SignedDuration::from_mins(10)).unwrap();
        assert_eq!(cm.stuck(&cert, None, later), Some(Stuck::RenewalOverdue));
    }

    #[test]
    fn a_renewal_request_sets_issuing_and_keeps_the_other_conditions() {
        let mut object = certificate(healthy());
        object["metadata"]["resourceVersion"] = json!("42");
        object["metadata"]["generation"] = json!(2);
        let patch = renewal_request(&object, now(), Some(3)).expect("revision 3, not issuing: asked");
        assert_eq!(patch["metadata"]["resourceVersion"], "42");
        let conditions = patch["status"]["conditions"].as_array().unwrap();
        assert_eq!(conditions.len(), 2);
        assert_eq!(conditions[0]["type"], "Ready");
        assert_eq!(conditions[1]["type"], "Issuing");
        assert_eq!(conditions[1]["status"], "True");
        assert_eq!(conditions[1]["observedGeneration"], 2);
        assert_eq!(conditions[1]["lastTransitionTime"], "2026-12-06T12:00:00Z");
        // Renewed since the plan (revision 3, planned at 2), or being issued: nothing asked.
        assert_eq!(renewal_request(&object, now(), Some(2)), None);
        let mut issuing = healthy();
        issuing["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Issuing", "status": "True", "reason": "Expiring"}));
        assert_eq!(renewal_request(&certificate(issuing), now(), Some(3)), None);
    }

    #[test]
    fn an_issuance_is_judged_by_revision_readiness_and_its_request() {
        let before = parse_certificate(&certificate(healthy()));
        assert_eq!(
            issuance(Some(3), &before, None),
            Issuance::Pending,
            "revision 3 is the old one"
        );
        let mut renewed = before.clone();
        renewed.revision = Some(4);
        assert_eq!(issuance(Some(3), &renewed, None), Issuance::Issued);
        renewed.issuing = Some(Condition {
            status: "True".into(),
            ..Default::default()
        });
        assert_eq!(issuance(Some(3), &renewed, None), Issuance::Pending, "still issuing");
        let mut failed = before.clone();
        failed.issuing = Some(Condition {
            status: "False".into(),
            reason: "Failed".into(),
            message: "The certificate request has failed to complete and will be retried".into(),
        });
        assert_eq!(
            issuance(Some(3), &failed, None),
            Issuance::Failed("Failed: The certificate request has failed to complete and will be retried".into())
        );
        let request = RequestState {
            name: "platform-tls-4".into(),
            revision: Some(4),
            ready: Some(Condition {
                status: "False".into(),
                reason: "Failed".into(),
                message: "secret \"platform-ca\" not found".into(),
            }),
            ..Default::default()
        };
        match issuance(Some(3), &before, Some(&request)) {
            Issuance::Failed(why) => assert!(why.contains("platform-tls-4 failed (Failed: secret")),
            other => panic!("{other:?}"),
        }
        let older = RequestState {
            revision: Some(3),
            ..request
        };
        assert_eq!(
            issuance(Some(3), &before, Some(&older)),
            Issuance::Pending,
            "an older request says nothing"
        );
    }

    #[test]
    fn of_certificates_naming_one_secret_only_the_one_cert_manager_issues_is_judged_on_its_own() {
        let mut older = parse_certificate(&certificate(healthy()));
        older.created = Some("2026-01-01T00:00:00Z".parse().unwrap());
        let mut newer = older.clone();
        newer.name = "platform-tls-copy".into();
        newer.created = Some("2026-06-01T00:00:00Z".parse().unwrap());
        newer.ready = Some(Condition {
            status: "False".into(),
            reason: "IncorrectCertificate".into(),
            message: "Secret was issued for \"platform-tls\"".into(),
        });
        let cm = CertManager {
            certificates: vec![newer.clone(), older.clone()],
            issuers: vec![parse_issuer(&ready_ca())],
            ..Default::default()
        };
        // Without the Secret's annotation the oldest is the one issued.
        let issued = |annotated| {
            cm.certificate_for("platform", "platform-tls", annotated)
                .map(|c| c.name.clone())
        };
        assert_eq!(issued(None).as_deref(), Some("platform-tls"));
        assert_eq!(issued(Some("platform-tls-copy")).as_deref(), Some("platform-tls-copy"));
        assert_eq!(
            issued(Some("gone")).as_deref(),
            Some("platform-tls"),
            "a name not among them"
        );
        assert_eq!(cm.stuck(&older, Some("platform-tls"), now()), None);
        assert_eq!(
            cm.stuck(&newer, Some("platform-tls"), now()),
            Some(Stuck::SecretTaken {
                by: "platform-tls".into(),
                readiness: "not Ready (IncorrectCertificate: Secret was issued for \"platform-tls\")".into(),
            })
        );
        assert!(matches!(
            cm.stuck(&older, Some("platform-tls-copy"), now()),
            Some(Stuck::SecretTaken { by, .. }) if by == "platform-tls-copy"
        ));
    }

    #[test]
    fn a_successful_issuance_under_server_side_apply_is_not_a_failure() {
        // cert-manager's ServerSideApply feature leaves Issuing False, reason Issued, on success.
        let mut status = healthy();
        status["revision"] = json!(4);
        status["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Issuing", "status": "False", "reason": "Issued",
                         "message": "The certificate has been successfully issued"}));
        let cert = parse_certificate(&certificate(status));
        let cm = CertManager {
            certificates: vec![cert.clone()],
            issuers: vec![parse_issuer(&ready_ca())],
            ..Default::default()
        };
        assert_eq!(cm.stuck(&cert, None, now()), None);
        assert_eq!(issuance(Some(3), &cert, None), Issuance::Issued);
    }

    #[test]
    fn an_issuance_in_progress_is_not_stuck() {
        let cert = parse_certificate(&certificate(json!({"conditions": [
            {"type": "Ready", "status": "False", "reason": "DoesNotExist", "message": "Issuing certificate as Secret does not exist"},
            {"type": "Issuing", "status": "True", "reason": "DoesNotExist"}]})));
        let cm = CertManager {
            certificates: vec![cert.clone()],
            issuers: vec![parse_issuer(&ready_ca())],
            requests: Vec::new(),
            ..Default::default()
        };
        assert_eq!(cm.stuck(&cert, None, now()), None);
        assert_eq!(
            cm.certificate_for("platform", "platform-tls", None)
                .map(|c| c.name.as_str()),
            Some("platform-tls")
        );
    }

    #[test]
    fn an_interrupted_renewal_is_judged_from_the_revision_and_the_serial() {
        let ready = parse_certificate(&certificate(healthy()));
        // Revision 3 recorded before; still 3, not issuing: never asked (or failed).
        assert_eq!(
            renewal_stage(Some(3), Some("AA"), &ready, Some("AA")),
            RenewalStage::NotRenewed
        );
        // Revision 3 now after 2, a new serial in the Secret: renewed.
        assert_eq!(
            renewal_stage(Some(2), Some("AA"), &ready, Some("BB")),
            RenewalStage::Renewed {
                revision: 3,
                serial: "BB".into()
            }
        );
        // Issued, but the Secret still holds the old serial: waiting for it.
        assert_eq!(
            renewal_stage(Some(2), Some("AA"), &ready, Some("AA")),
            RenewalStage::Issuing
        );
        // Being issued.
        let mut issuing = healthy();
        issuing["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Issuing", "status": "True", "reason": "ManuallyTriggered"}));
        let issuing = parse_certificate(&certificate(issuing));
        assert_eq!(
            renewal_stage(Some(3), Some("AA"), &issuing, Some("AA")),
            RenewalStage::Issuing
        );
        // A first issuance (no revision before) that has happened.
        assert_eq!(
            renewal_stage(None, None, &ready, Some("CC")),
            RenewalStage::Renewed {
                revision: 3,
                serial: "CC".into()
            }
        );
    }
}
