//! `audit`: what the runbooks' policies say and nothing enforces. Placeholders shipped as
//! values, weak values, one value reused in several places, references to nothing, Secrets
//! nothing uses, previous keys left behind, overdue rotations. Findings name the object, the
//! key and the fix; never the value.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::certificates::Stuck;
use super::drift::{Snapshot, Status, VerifyReport};
use super::inventory::{consumer_counts, is_hidden_by_default};
use super::model::SecretInfo;
use super::plan::SecretState;
use super::secret_value::{Fingerprinter, SecretValue};
use super::tls::{self, TlsCert, TlsInfo};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditFinding {
    pub severity: Severity,
    pub namespace: String,
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A stable rule id: placeholder, empty, weak, reused, missing-reference, unused, previous-key, overdue,
    /// overdue-issued,
    /// unrecorded-backup, untrusted-record, rewritten-record, external-no-refresh, external-shared-target,
    /// external-pinned-version, vault-max-versions, vault-overdue, certificate-expired, certificate-expiring, certificate-unreadable, no-issuer.
    pub rule: &'static str,
    pub message: String,
    pub fix: String,
}

/// audit's answer for one cluster (the document's body).
#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub findings: Vec<AuditFinding>,
}

pub struct AuditOptions {
    pub now: Timestamp,
    pub max_age: Option<SignedDuration>,
    /// Certificates expiring sooner than this are a warning (expired ones are critical).
    pub cert_expiry: SignedDuration,
    /// The kubelet's env rules of the server's version.
    pub policy: super::env::EnvNamePolicy,
}

/// Values people paste from examples and forget ("<Paste JWT Secret Here>", "sk-xxx", "changeme").
pub fn looks_like_placeholder(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let lower = text.trim().to_lowercase();
    const EXACT: [&str; 10] = [
        "password", "secret", "test", "admin", "default", "123456", "changeit", "none", "null", "xxx",
    ];
    const CONTAINS: [&str; 14] = [
        "changeme",
        "change-me",
        "change_me",
        "placeholder",
        "your-",
        "your_",
        "yoursecret",
        "todo",
        "replace-me",
        "replace_me",
        "example",
        "dummy",
        "temp-value",
        "xxxx",
    ];
    (lower.starts_with('<') && lower.ends_with('>'))
        || lower.contains("-xxx")
        || lower.starts_with("xxx")
        || EXACT.contains(&lower.as_str())
        || CONTAINS.iter().any(|p| lower.contains(p))
}

/// Key names that announce a secret (and not an identifier of one).
pub fn is_secret_like_key(key: &str) -> bool {
    let k = key.to_lowercase();
    let secretish = [
        "secret",
        "password",
        "passwd",
        "pass",
        "pwd",
        "token",
        "key",
        "credential",
        "private",
    ]
    .iter()
    .any(|w| k.contains(w));
    let identifier = k.ends_with("_id")
        || k.ends_with("-id")
        || k.ends_with("sid")
        || k.contains("active-key")
        || k.contains("user");
    secretish && !identifier
}

/// Shannon entropy in bits per byte.
fn bits_per_byte(value: &[u8]) -> f64 {
    let mut counts = [0usize; 256];
    for b in value {
        counts[usize::from(*b)] += 1;
    }
    let n = value.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| *c as f64 / n)
        .map(|p| -p * p.log2())
        .sum()
}

const MIN_SECRET_BYTES: usize = 16;

/// Values compared for reuse: secret-like keys, and any value long enough not to repeat by
/// chance (provider keys under names like `openai`, URIs that embed a password). A previous
/// key kept by rotate equals nothing else on purpose.
fn worth_comparing(key: &str, value: &SecretValue) -> bool {
    !key.ends_with("_PREVIOUS")
        && !is_public_certificate(value)
        && ((is_secret_like_key(key) && value.len() >= 8) || value.len() >= 20)
}

/// PEM certificates only (no key in the value): public by design, and a CA certificate is meant
/// to be in every Secret its issuer signs for (`ca.crt`).
fn is_public_certificate(value: &SecretValue) -> bool {
    let text = String::from_utf8_lossy(value.expose());
    text.trim_start().starts_with("-----BEGIN CERTIFICATE-----") && !text.contains("PRIVATE KEY-----")
}

fn value_findings(secret: &SecretState, key: &str, value: &SecretValue) -> Option<AuditFinding> {
    let finding = |severity, rule, message: String, fix: String| AuditFinding {
        severity,
        namespace: secret.namespace.clone(),
        secret: secret.name.clone(),
        key: Some(key.to_string()),
        rule,
        message,
        fix,
    };
    let rotate = format!(
        "kubectl secrets rotate {} -n {} --key {key}",
        secret.name, secret.namespace
    );
    if value.is_empty() {
        return Some(finding(
            Severity::Warning,
            "empty",
            "the value is empty".into(),
            format!("set it: {rotate} (or remove the key)"),
        ));
    }
    if looks_like_placeholder(value.expose()) {
        return Some(finding(
            Severity::Critical,
            "placeholder",
            "the value looks like a placeholder or an example, not a real secret".into(),
            format!(
                "set the real value: kubectl secrets rotate {} -n {} --from-stdin {key} (or --key {key} to generate one)",
                secret.name, secret.namespace
            ),
        ));
    }
    if is_secret_like_key(key) && value.len() < MIN_SECRET_BYTES {
        return Some(finding(
            Severity::Warning,
            "weak",
            format!(
                "{} bytes is short for a secret (want {MIN_SECRET_BYTES} or more)",
                value.len()
            ),
            rotate,
        ));
    }
    if is_secret_like_key(key) && bits_per_byte(value.expose()) < 3.0 {
        return Some(finding(
            Severity::Warning,
            "weak",
            "the value is repetitive (low entropy)".into(),
            rotate,
        ));
    }
    None
}

pub fn audit(
    snapshot: &Snapshot,
    report: &VerifyReport,
    values: &[SecretState],
    fp: &Fingerprinter,
    options: &AuditOptions,
) -> Vec<AuditFinding> {
    let audited: Vec<&SecretState> = values
        .iter()
        .filter(|s| {
            let info = snapshot
                .secrets
                .iter()
                .find(|i| i.namespace == s.namespace && i.name == s.name);
            !info.is_some_and(is_hidden_by_default) && s.type_ != "kubernetes.io/service-account-token"
        })
        .collect();
    let mut findings = Vec::new();

    // One value, several places (compared by keyed fingerprint).
    let mut by_value: BTreeMap<[u8; 32], Vec<(&SecretState, &String)>> = BTreeMap::new();
    for secret in &audited {
        for (key, value) in &secret.data {
            if let Some(f) = value_findings(secret, key, value) {
                findings.push(f);
            } else if worth_comparing(key, value) {
                by_value.entry(fp.digest(value)).or_default().push((secret, key));
            }
        }
    }
    for places in by_value.values().filter(|p| p.len() > 1) {
        let names: Vec<String> = places
            .iter()
            .map(|(s, k)| format!("{}/{} {k}", s.namespace, s.name))
            .collect();
        for (secret, key) in places {
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: secret.namespace.clone(),
                secret: secret.name.clone(),
                key: Some((*key).clone()),
                rule: "reused",
                message: format!(
                    "the same value is used in {} places: {}",
                    places.len(),
                    names.join(", ")
                ),
                fix: "give each use its own value (a leak of one is a leak of all): kubectl secrets rotate".into(),
            });
        }
    }

    findings.extend(record_findings(values));

    // References to nothing, and Secrets nothing uses (from verify).
    for workload in &report.workloads {
        for f in workload.findings.iter().filter(|f| f.status == Status::Missing) {
            findings.push(AuditFinding {
                severity: Severity::Critical,
                namespace: workload.namespace.clone(),
                secret: f.secret.clone(),
                key: f.key.clone(),
                rule: "missing-reference",
                message: format!(
                    "{}/{} {}",
                    workload.kind.as_str().to_lowercase(),
                    workload.name,
                    f.detail
                ),
                fix: "create the Secret or key, mark the reference optional, or remove it".into(),
            });
        }
    }
    for unused in &report.unused_secrets {
        findings.push(AuditFinding {
            severity: Severity::Info,
            namespace: unused.namespace.clone(),
            secret: unused.name.clone(),
            key: None,
            rule: "unused",
            message: "no workload in scope uses it".into(),
            fix: "delete it if nothing outside the cluster needs it (fewer copies, fewer leaks)".into(),
        });
    }

    // Previous keys kept for a switch-over, and rotation policy.
    let counts = consumer_counts(snapshot, report);
    for info in snapshot.secrets.iter().filter(|s| !is_hidden_by_default(s)) {
        let (consumers, stale) = counts
            .get(&(info.namespace.clone(), info.name.clone()))
            .copied()
            .unwrap_or_default();
        for key in info.keys.iter().filter(|k| k.ends_with("_PREVIOUS")) {
            if stale == 0 {
                let since = info.rotated_at.map(|t| format!(" since {t}")).unwrap_or_default();
                findings.push(AuditFinding {
                    severity: Severity::Warning,
                    namespace: info.namespace.clone(),
                    secret: info.name.clone(),
                    key: Some(key.clone()),
                    rule: "previous-key",
                    message: format!("all {consumers} consumers run with the new value{since}: the previous value is no longer needed"),
                    fix: "remove the key and revoke the old value at its provider".into(),
                });
            }
        }
        if let (Some(max), Some(since)) = (options.max_age, info.data_age_since()) {
            if options.now.duration_since(since) > max {
                let age = format!(
                    "unchanged for {} days (policy: {} days)",
                    super::inventory::days_between(since, options.now),
                    max.as_secs() / 86_400
                );
                let values = audited
                    .iter()
                    .find(|s| s.namespace == info.namespace && s.name == info.name);
                let not_generated = values
                    .map(|s| super::not_generated::in_secret(&s.data, &s.generation))
                    .unwrap_or_default();
                // --all-keys rotates what may be generated; what another party issues is
                // rotated there first, then given.
                if not_generated.len() < info.keys.len() {
                    findings.push(AuditFinding {
                        severity: Severity::Warning,
                        namespace: info.namespace.clone(),
                        secret: info.name.clone(),
                        key: None,
                        rule: "overdue",
                        message: format!("data {age}"),
                        fix: format!("kubectl secrets rotate {} -n {} --all-keys", info.name, info.namespace),
                    });
                }
                for (key, reason) in not_generated.iter().filter(|(_, r)| r.is_issued_credential()) {
                    findings.push(AuditFinding {
                        severity: Severity::Warning,
                        namespace: info.namespace.clone(),
                        secret: info.name.clone(),
                        key: Some(key.clone()),
                        rule: "overdue-issued",
                        message: format!("{reason}, {age}"),
                        fix: format!(
                            "rotate it at the issuer, then: kubectl secrets rotate {} -n {} --from-stdin {key}",
                            info.name, info.namespace
                        ),
                    });
                }
            }
        }
    }
    for info in snapshot.secrets.iter().filter(|s| !is_hidden_by_default(s)) {
        if let Some(finding) = certificate_finding(info, options) {
            findings.push(finding);
        }
    }
    findings.extend(external_findings(snapshot));
    findings.extend(cert_manager_findings(snapshot, options.now));
    findings.extend(gitops_findings(snapshot));
    findings.extend(issuer_findings(snapshot, &audited, options.policy));
    sort(&mut findings);
    findings
}

/// Keys that look like database passwords and name no issuer (`issuer.kubectl-secrets.io/KEY`):
/// `rotate` refuses them, and a rotation by hand that forgets the server locks the app out.
fn issuer_findings(
    snapshot: &Snapshot,
    audited: &[&SecretState],
    policy: super::env::EnvNamePolicy,
) -> Vec<AuditFinding> {
    let mut findings = Vec::new();
    for secret in audited.iter().filter(|s| s.controller.is_none()) {
        for (key, value) in secret
            .data
            .iter()
            .filter(|(k, _)| !secret.issuer_annotations.contains_key(*k))
        {
            let readers = super::consumers::key_readers(snapshot, policy, &secret.namespace, &secret.name, key);
            let Some(reason) = super::issuer::database_password_reason(&secret.name, key, value, &readers) else {
                continue;
            };
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: secret.namespace.clone(),
                secret: secret.name.clone(),
                key: Some(key.clone()),
                rule: "no-issuer",
                message: format!("looks like a database password ({reason}) but names no issuer: rotate refuses it"),
                fix: format!(
                    "kubectl annotate secret {} -n {} {}{key}=postgresql|mysql|redis:user=NAME,server=statefulset/NAME",
                    secret.name,
                    secret.namespace,
                    super::issuer::ANNOTATION_PREFIX
                ),
            });
        }
    }
    findings
}

/// Plain Secrets that Argo CD, Flux or Helm deploy: their values sit in the source (Git or the
/// chart's values, base64 at best), and a rotation made in the cluster is reverted at the next sync.
fn gitops_findings(snapshot: &Snapshot) -> Vec<AuditFinding> {
    let plain = snapshot
        .secrets
        .iter()
        .filter(|s| !is_hidden_by_default(s) && s.owner.is_none());
    plain
        .filter_map(|s| s.gitops.as_ref().map(|g| (s, g)))
        .map(|(s, gitops)| {
            let (source, fix) = match gitops.tool {
                super::gitops::Tool::Helm => (
                    "the release's values (and every revision Helm keeps)",
                    "give the chart an existing Secret (most charts have an existingSecret value) that kubectl-secrets, \
                     a SealedSecret or an ExternalSecret manages"
                        .to_string(),
                ),
                _ => (
                    "the Git repository",
                    format!(
                        "commit a SealedSecret instead (kubectl secrets seal {} -n {} --from-secret), or move the values \
                         to a secret store behind an ExternalSecret",
                        s.name, s.namespace
                    ),
                ),
            };
            AuditFinding {
                severity: Severity::Warning,
                namespace: s.namespace.clone(),
                secret: s.name.clone(),
                key: None,
                rule: "gitops-plain-secret",
                message: format!(
                    "deployed as a plain Secret by {} ({}): its values are in {source}, and a rotation made in the \
                     cluster is reverted at the next sync",
                    gitops.describe(),
                    gitops.evidence
                ),
                fix,
            }
        })
        .collect()
}

/// ExternalSecrets that make rotations unreliable: no refresh (a new provider version never
/// arrives on its own) on a Secret that is rotated, and Secrets more than one writer fights over.
fn external_findings(snapshot: &Snapshot) -> Vec<AuditFinding> {
    let mut findings = Vec::new();
    let mut writers: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for es in &snapshot.external_secrets {
        writers
            .entry((es.namespace.as_str(), es.target.as_str()))
            .or_default()
            .push(es.name.as_str());
    }
    for es in &snapshot.external_secrets {
        let secret = snapshot
            .secrets
            .iter()
            .find(|s| s.namespace == es.namespace && s.name == es.target);
        let no_refresh = matches!(es.refresh_interval.as_deref(), Some("0") | Some("0s"));
        if no_refresh && secret.is_some_and(|s| s.revision.is_some()) {
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: es.namespace.clone(),
                secret: es.target.clone(),
                key: None,
                rule: "external-no-refresh",
                message: format!(
                    "ExternalSecret {} has refreshInterval 0 but its Secret is rotated: a new version at the provider never reaches it on its own",
                    es.name
                ),
                fix: format!(
                    "set spec.refreshInterval (e.g. 1h) on ExternalSecret {}, or rotate only with kubectl secrets rotate (it forces the sync)",
                    es.name
                ),
            });
        }
        // A pinned version is never left by a sync: whatever is rotated at the provider, the
        // Secret keeps that version's value.
        for mapping in es
            .mappings
            .iter()
            .filter(|m| m.version.as_deref().is_some_and(|v| v != super::external::AWS_CURRENT))
        {
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: es.namespace.clone(),
                secret: es.target.clone(),
                key: Some(mapping.secret_key.clone()),
                rule: "external-pinned-version",
                message: format!(
                    "ExternalSecret {} reads {} at the pinned version {}: a rotation at the provider never reaches this key",
                    es.name,
                    mapping.remote_key,
                    mapping.version.as_deref().unwrap_or_default()
                ),
                fix: format!(
                    "remove remoteRef.version from ExternalSecret {} (it then follows the current version)",
                    es.name
                ),
            });
        }
        let others: Vec<&str> = writers[&(es.namespace.as_str(), es.target.as_str())]
            .iter()
            .copied()
            .filter(|n| *n != es.name)
            .collect();
        let foreign_owner = secret
            .and_then(|s| s.owner.as_ref())
            .filter(|o| !(o.kind == "ExternalSecret" && o.name == es.name))
            .map(|o| format!("{} {}", o.kind, o.name));
        let fighting: Vec<String> = others
            .iter()
            .map(|n| format!("ExternalSecret {n}"))
            .chain(foreign_owner)
            .collect();
        if !fighting.is_empty() {
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: es.namespace.clone(),
                secret: es.target.clone(),
                key: None,
                rule: "external-shared-target",
                message: format!(
                    "ExternalSecret {} writes this Secret, and so does {}: each sync can undo the other's change",
                    es.name,
                    fighting.join(", ")
                ),
                fix: "give each writer a Secret of its own (spec.target.name)".into(),
            });
        }
    }
    findings
}

/// Most severe first, then by place.
pub fn sort(findings: &mut [AuditFinding]) {
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.cmp(b)));
}

/// Vault paths behind ExternalSecrets that keep a single version: a rotation there replaces
/// the only copy, so neither an undo nor a rollback can put the previous value back.
pub fn vault_findings(kept: &[super::vault_kv::KeptVersions]) -> Vec<AuditFinding> {
    kept.iter()
        .filter(|k| k.kept < 2)
        .map(|k| AuditFinding {
            severity: Severity::Warning,
            namespace: k.namespace.clone(),
            secret: k.secret.clone(),
            key: None,
            rule: "vault-max-versions",
            message: format!(
                "Vault keeps {} version of {} (ExternalSecret {}): a rotation there leaves nothing to roll back to",
                k.kept, k.path, k.external_secret
            ),
            fix: format!(
                "vault kv metadata put -max-versions=5 -mount={}",
                k.path.replacen('/', " ", 1)
            ),
        })
        .collect()
}

/// Vault paths the Agent Injector renders into pods (no Secret in between) whose current
/// version is older than --max-age: what "overdue" says of a Secret, for data only Vault holds.
/// A path whose versions could not be read is left out (audit reports what it could check).
pub fn vault_age_findings(snapshot: &Snapshot, options: &AuditOptions) -> Vec<AuditFinding> {
    use super::vault_agent::{kv_v2_path, KvState};
    let Some(max) = options.max_age else {
        return Vec::new();
    };
    // (namespace, path) → the workloads that read it.
    let mut readers: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for workload in &snapshot.workloads {
        for read in &workload.spec.vault_agent {
            let names = readers
                .entry((workload.id.namespace.as_str(), read.path.as_str()))
                .or_default();
            if !names.contains(&workload.id.to_string()) {
                names.push(workload.id.to_string());
            }
        }
    }
    let mut findings = Vec::new();
    for ((namespace, path), names) in readers {
        let (
            Some((mount, rest)),
            Some(KvState::Current {
                version,
                created: Some(created),
            }),
        ) = (kv_v2_path(path), snapshot.vault_kv.get(path))
        else {
            continue;
        };
        if options.now.duration_since(*created) <= max {
            continue;
        }
        findings.push(AuditFinding {
            severity: Severity::Warning,
            namespace: namespace.to_string(),
            secret: format!("vault:{mount}/{rest}"),
            key: None,
            rule: "vault-overdue",
            message: format!(
                "version {version} unchanged for {} days (policy: {} days); rendered by Vault's Agent Injector into {}",
                super::inventory::days_between(*created, options.now),
                max.as_secs() / 86_400,
                names.join(", ")
            ),
            fix: format!("kubectl secrets rotate vault:{mount}/{rest} -n {namespace} --all-keys"),
        });
    }
    findings
}

/// Certificates cert-manager does not (re)issue, each with its most specific cause: the
/// runbook's "cert-manager not renewing cert" questions, answered from the objects' status.
fn cert_manager_findings(snapshot: &Snapshot, now: Timestamp) -> Vec<AuditFinding> {
    let cm = &snapshot.cert_manager;
    let mut findings = Vec::new();
    for certificate in &cm.certificates {
        let annotated = snapshot
            .secrets
            .iter()
            .find(|s| s.namespace == certificate.namespace && s.name == certificate.secret_name)
            .and_then(|s| s.cert_manager_certificate.as_deref());
        let Some(stuck) = cm.stuck(certificate, annotated, now) else {
            continue;
        };
        let name = &certificate.name;
        let namespace = &certificate.namespace;
        let issuer = &certificate.issuer;
        let describe_issuer = match issuer.kind.as_str() {
            "ClusterIssuer" => format!("kubectl describe clusterissuer {}", issuer.name),
            _ => format!("kubectl describe issuer {} -n {namespace}", issuer.name),
        };
        let renew = format!(
            "then renew: kubectl secrets rotate {} -n {namespace}",
            certificate.secret_name
        );
        let (severity, rule, message, fix) = match stuck {
            Stuck::IssuerMissing => (
                Severity::Critical,
                "certificate-issuer-missing",
                format!("Certificate {name} names {}, which does not exist", issuer.describe()),
                format!("create it, or point the Certificate's spec.issuerRef at one that exists; {renew}"),
            ),
            Stuck::IssuerNotReady(why) => (
                Severity::Critical,
                "certificate-issuer-not-ready",
                format!("Certificate {name}'s issuer {} is not Ready: {why}", issuer.describe()),
                format!("fix the issuer ({describe_issuer}); {renew}"),
            ),
            Stuck::RequestFailed { request, why } => (
                Severity::Critical,
                "certificate-request-failed",
                format!("Certificate {name}'s CertificateRequest {request} {why}"),
                format!(
                    "fix the cause (kubectl describe certificaterequest {request} -n {namespace}; {describe_issuer}); {renew}"
                ),
            ),
            Stuck::IssuanceFailed(why) => (
                Severity::Critical,
                "certificate-issuance-failed",
                format!(
                    "Certificate {name}'s last issuance failed ({why}){}",
                    retry_note(certificate.failed_issuance_attempts, certificate.last_failure_time)
                ),
                format!("kubectl describe certificate {name} -n {namespace}; {renew}"),
            ),
            Stuck::SecretTaken { by, readiness } => (
                Severity::Warning,
                "certificate-not-ready",
                format!(
                    "Certificate {name} is {readiness}: its Secret {} is also the spec.secretName of Certificate {by}, \
                     the one cert-manager issues (it issues one Certificate per Secret)",
                    certificate.secret_name
                ),
                format!(
                    "give it a Secret of its own (kubectl edit certificate {name} -n {namespace}: spec.secretName), \
                     or delete it if Certificate {by} is the one meant"
                ),
            ),
            Stuck::NotReady(why) => (
                Severity::Warning,
                "certificate-not-ready",
                format!("Certificate {name} is {why}"),
                format!("kubectl describe certificate {name} -n {namespace}"),
            ),
            Stuck::RenewalOverdue => (
                Severity::Critical,
                "certificate-renewal-overdue",
                format!(
                    "Certificate {name} was due for renewal at {}{} and has not been renewed",
                    certificate.renewal_time.map(|t| t.to_string()).unwrap_or_default(),
                    certificate
                        .not_after
                        .map(|t| format!(" (it expires at {t})"))
                        .unwrap_or_default()
                ),
                format!("check that cert-manager's controller runs (kubectl get pods -n cert-manager); {renew}"),
            ),
        };
        findings.push(AuditFinding {
            severity,
            namespace: namespace.clone(),
            secret: certificate.secret_name.clone(),
            key: None,
            rule,
            message,
            fix,
        });
    }
    findings
}

/// ": 3 failed attempts, the last at T" after an issuance failure, when known.
fn retry_note(attempts: u64, last: Option<Timestamp>) -> String {
    let attempts_text = match attempts {
        1 => "1 failed attempt".to_string(),
        n => format!("{n} failed attempts"),
    };
    match (attempts, last) {
        (0, None) => String::new(),
        (_, Some(at)) => format!(": {attempts_text}, the last at {at}"),
        (_, None) => format!(": {attempts_text}"),
    }
}

/// An expired, soon-expiring or unreadable certificate in `tls.crt`.
fn certificate_finding(info: &SecretInfo, options: &AuditOptions) -> Option<AuditFinding> {
    let finding = |severity, rule, message: String, fix: String| AuditFinding {
        severity,
        namespace: info.namespace.clone(),
        secret: info.name.clone(),
        key: Some(tls::CERT_KEY.to_string()),
        rule,
        message,
        fix,
    };
    let renew = |cert: &TlsInfo| {
        match &cert.cert_manager_certificate {
        Some(name) => format!(
            "cert-manager should have renewed it: check `kubectl describe certificate {name} -n {}` (or `cmctl renew {name}`)",
            info.namespace
        ),
        None => "renew the certificate and replace tls.crt and tls.key together".to_string(),
    }
    };
    match info.tls.as_ref()? {
        TlsCert::Unreadable(reason) => Some(finding(
            Severity::Warning,
            "certificate-unreadable",
            reason.clone(),
            "put the PEM certificate chain (leaf first) in tls.crt".into(),
        )),
        TlsCert::Read(cert) if cert.not_after <= options.now => Some(finding(
            Severity::Critical,
            "certificate-expired",
            format!("the certificate for {} expired at {}", names(cert), cert.not_after),
            renew(cert),
        )),
        TlsCert::Read(cert) if cert.not_after.duration_since(options.now) < options.cert_expiry => Some(finding(
            Severity::Warning,
            "certificate-expiring",
            format!(
                "the certificate for {} expires in {} days ({}; issuer {})",
                names(cert),
                tls::days_left(cert, options.now),
                cert.not_after,
                cert.issuer
            ),
            renew(cert),
        )),
        TlsCert::Read(_) => None,
    }
}

fn names(cert: &TlsInfo) -> String {
    if cert.dns_names.is_empty() {
        cert.subject.clone()
    } else {
        cert.dns_names.join(", ")
    }
}

/// Records kubectl-secrets acts on that it did not write: Secrets that carry the backup label
/// of a Secret that does not record them (someone could hope to have them restored), and
/// journals or backup records it cannot read (someone wrote them by hand).
fn record_findings(values: &[SecretState]) -> Vec<AuditFinding> {
    let mut findings: Vec<AuditFinding> = super::journal::unrecorded_backups(values)
        .into_iter()
        .map(|(candidate, reason)| AuditFinding {
            severity: Severity::Critical,
            namespace: candidate.namespace.clone(),
            secret: candidate.name.clone(),
            key: None,
            rule: "unrecorded-backup",
            message: format!(
                "carries the backup label of {}, but {reason}: someone other than kubectl-secrets made it (or a run \
                 that never wrote left it); it is never restored or pruned",
                candidate.backup_of.as_deref().unwrap_or_default()
            ),
            fix: "check who created it (kubectl get secret NAME -o yaml --show-managed-fields), then delete it".into(),
        })
        .collect();
    for secret in values.iter().filter(|s| s.backup_of.is_none()) {
        if let Some((written, rotated_at)) = secret.key_changes_rewritten {
            findings.push(AuditFinding {
                severity: Severity::Warning,
                namespace: secret.namespace.clone(),
                secret: secret.name.clone(),
                key: None,
                rule: "rewritten-record",
                message: format!(
                    "its kubectl-secrets.io/key-changes record was written at {written} by a request under \
                     kubectl-secrets' field manager name, later than the data it describes (rotated-at {rotated_at}): \
                     kubectl-secrets writes both in one request, so someone else wrote it; verify ignores it and \
                     judges the Secret as a whole"
                ),
                fix: format!(
                    "check who wrote it (kubectl get secret {} -n {} -o yaml --show-managed-fields, and the API server's \
                     audit log); the next rotation writes a true record",
                    secret.name, secret.namespace
                ),
            });
        }
    }
    for secret in values {
        let problems = [
            secret
                .journal
                .as_ref()
                .and_then(|j| j.as_ref().err())
                .map(|p| ("change journal", p)),
            secret.record_problem.as_ref().map(|p| ("backup record", p)),
        ];
        for (what, problem) in problems.into_iter().flatten() {
            findings.push(AuditFinding {
                severity: Severity::Critical,
                namespace: secret.namespace.clone(),
                secret: secret.name.clone(),
                key: None,
                rule: "untrusted-record",
                message: format!(
                    "its {what} annotation is unreadable: {problem}; kubectl-secrets refuses to act on it"
                ),
                fix: "check who wrote it (--show-managed-fields) and remove the annotation if no change is under way"
                    .into(),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No age policy, certificates flagged 30 days ahead.
    fn plain_options() -> AuditOptions {
        AuditOptions {
            now: Timestamp::from_second(1_800_000_000).unwrap(),
            max_age: None,
            cert_expiry: SignedDuration::from_hours(24 * 30),
            policy: crate::domain::env::EnvNamePolicy::Relaxed,
        }
    }

    #[test]
    fn a_vault_path_the_injector_renders_is_overdue_by_its_current_versions_age() {
        use crate::domain::model::{PodSpecInfo, Workload, WorkloadId, WorkloadKind};
        use crate::domain::vault_agent::{AgentRead, KvState, Rendering};
        let reading = |name: &str, path: &str, rendering| Workload {
            id: WorkloadId {
                namespace: "shop".into(),
                kind: WorkloadKind::Deployment,
                name: name.into(),
            },
            spec: PodSpecInfo {
                vault_agent: vec![AgentRead {
                    path: path.into(),
                    file: "/vault/secrets/db".into(),
                    rendering,
                    reload_command: false,
                }],
                ..Default::default()
            },
            schedule: None,
            secret_revisions: Default::default(),
            last_restart: None,
        };
        let options = AuditOptions {
            max_age: Some(SignedDuration::from_hours(24 * 90)),
            ..plain_options()
        };
        let written = |days: i64| KvState::Current {
            version: 3,
            created: Some(options.now - SignedDuration::from_hours(24 * days)),
        };
        let snapshot = Snapshot {
            workloads: vec![
                reading("api", "secret/data/db", Rendering::OnceAtStart),
                reading("worker", "secret/data/db", Rendering::WhileRunning),
                reading("web", "secret/data/fresh", Rendering::OnceAtStart),
                reading("cron", "secret/data/unread", Rendering::OnceAtStart),
                reading("creds", "database/creds/app", Rendering::OnceAtStart),
            ],
            vault_kv: BTreeMap::from([
                ("secret/data/db".to_string(), written(120)),
                ("secret/data/fresh".to_string(), written(10)),
                ("secret/data/unread".to_string(), KvState::Unreadable("no token".into())),
            ]),
            ..Default::default()
        };
        let findings = vault_age_findings(&snapshot, &options);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(
            (f.rule, f.secret.as_str(), f.namespace.as_str()),
            ("vault-overdue", "vault:secret/db", "shop")
        );
        assert_eq!(
            f.message,
            "version 3 unchanged for 120 days (policy: 90 days); rendered by Vault's Agent Injector into \
             deployment/api, deployment/worker"
        );
        assert_eq!(f.fix, "kubectl secrets rotate vault:secret/db -n shop --all-keys");
        assert!(
            vault_age_findings(&snapshot, &plain_options()).is_empty(),
            "no policy, no finding"
        );
    }

    #[test]
    fn reuse_is_decided_by_the_whole_keyed_digest_not_the_printed_fingerprint() {
        let fp = Fingerprinter::new([7; 32]);
        // Two different values whose printed fingerprints (32 bits) collide: a birthday search.
        let mut seen: std::collections::HashMap<String, String> = std::collections::HashMap::new();
        let (a, b) = (0u64..)
            .find_map(|i| {
                let value = format!("value-long-enough-to-compare-{i:09}");
                let printed = fp.fingerprint(&SecretValue::new(value.clone().into_bytes()));
                seen.insert(printed, value.clone()).map(|earlier| (earlier, value))
            })
            .unwrap();
        let secret = |name: &str, value: &str| SecretState {
            namespace: "ns".into(),
            name: name.into(),
            type_: "Opaque".into(),
            data: [("DATABASE_URL".to_string(), SecretValue::new(value.as_bytes().to_vec()))].into(),
            ..Default::default()
        };
        let options = plain_options();
        let findings = audit(
            &Snapshot::default(),
            &VerifyReport::default(),
            &[secret("one", &a), secret("two", &b)],
            &fp,
            &options,
        );
        assert!(findings.iter().all(|f| f.rule != "reused"), "{findings:?}");
        let same = audit(
            &Snapshot::default(),
            &VerifyReport::default(),
            &[secret("one", &a), secret("two", &a)],
            &fp,
            &options,
        );
        assert_eq!(same.iter().filter(|f| f.rule == "reused").count(), 2);
    }

    #[test]
    fn a_shared_certificate_is_not_a_reused_secret_but_a_shared_key_is() {
        let cert = include_str!("testdata/tls.crt");
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        let secret = |name: &str| SecretState {
            namespace: "ns".into(),
            name: name.into(),
            type_: "kubernetes.io/tls".into(),
            data: [
                ("ca.crt".to_string(), SecretValue::new(cert.as_bytes().to_vec())),
                ("tls.key".to_string(), SecretValue::new(key.as_bytes().to_vec())),
            ]
            .into(),
            ..Default::default()
        };
        let options = plain_options();
        let findings = audit(
            &Snapshot::default(),
            &VerifyReport::default(),
            &[secret("one"), secret("two")],
            &Fingerprinter::new([3; 32]),
            &options,
        );
        let reused: Vec<_> = findings
            .iter()
            .filter(|f| f.rule == "reused")
            .map(|f| f.key.clone())
            .collect();
        assert_eq!(reused, [Some("tls.key".to_string()), Some("tls.key".to_string())]);
    }

    #[test]
    fn placeholders_from_the_runbooks_are_caught() {
        for value in [
            "<Paste Auth0 Secret Here>",
            "sk-xxx",
            "your-s3-access-key",
            "changeme",
            "temp-value",
            "PLACEHOLDER_JWT_SECRET",
            "password",
            "xxxxxxxx",
        ] {
            assert!(looks_like_placeholder(value.as_bytes()), "{value}");
        }
        for value in [
            "c2VjcmV0LXZhbHVl+/aZ",
            "postgresql://aura:Kx9@postgres:5432/aura_db",
            "AC0123456789abcdef",
        ] {
            assert!(!looks_like_placeholder(value.as_bytes()), "{value}");
        }
    }

    #[test]
    fn secret_like_keys_but_not_identifiers() {
        for key in [
            "JWT_SECRET",
            "postgres-password",
            "SMTP_PASS",
            "api-key",
            "SMS_AUTH_TOKEN",
            "jwt-secret-v1",
        ] {
            assert!(is_secret_like_key(key), "{key}");
        }
        for key in [
            "S3_ACCESS_KEY_ID",
            "SMS_ACCOUNT_SID",
            "postgres-user",
            "DATABASE_URL",
            "active-key",
        ] {
            assert!(!is_secret_like_key(key), "{key}");
        }
    }

    #[test]
    fn weak_and_empty_values() {
        let state = SecretState {
            namespace: "ns".into(),
            name: "s".into(),
            type_: "Opaque".into(),
            ..Default::default()
        };
        let check = |key: &str, value: &str| {
            value_findings(&state, key, &SecretValue::new(value.as_bytes().to_vec())).map(|f| f.rule)
        };
        assert_eq!(check("JWT_SECRET", ""), Some("empty"));
        assert_eq!(check("JWT_SECRET", "short-one"), Some("weak"));
        assert_eq!(check("JWT_SECRET", "aaaaaaaaaaaaaaaaaaaaaaaa"), Some("weak"));
        assert_eq!(check("JWT_SECRET", "Zq9vLm2xR8tYp4WnE7sKd1Hf"), None);
        assert_eq!(check("SMTP_USER", "ops"), None, "not a secret-like key");
        let finding = value_findings(&state, "API", &SecretValue::new(b"<Paste Here>".to_vec())).unwrap();
        assert!(
            !finding.message.contains("Paste") && !finding.fix.contains("Paste"),
            "never the value"
        );
    }

    #[test]
    fn certificates_expired_expiring_and_unreadable() {
        let cert = |not_after: &str, manager: Option<&str>| TlsInfo {
            not_after: not_after.parse().unwrap(),
            issuer: "CN=Platform CA".into(),
            subject: "CN=platform.example".into(),
            dns_names: vec!["platform.example".into()],
            serial: "01".into(),
            cert_manager_certificate: manager.map(str::to_string),
        };
        let options = AuditOptions {
            now: "2026-11-24T00:00:00Z".parse().unwrap(),
            max_age: None,
            cert_expiry: SignedDuration::from_hours(30 * 24),
            policy: crate::domain::env::EnvNamePolicy::Relaxed,
        };
        let finding_for = |tls: TlsCert| {
            let info = SecretInfo {
                namespace: "platform".into(),
                name: "platform-tls".into(),
                tls: Some(tls),
                ..Default::default()
            };
            certificate_finding(&info, &options).map(|f| (f.severity, f.rule, f.message, f.fix))
        };
        let expired = finding_for(TlsCert::Read(cert("2026-11-01T00:00:00Z", None))).unwrap();
        assert_eq!((expired.0, expired.1), (Severity::Critical, "certificate-expired"));
        let soon = finding_for(TlsCert::Read(cert("2026-12-04T00:00:00Z", Some("platform-tls-cert")))).unwrap();
        assert_eq!((soon.0, soon.1), (Severity::Warning, "certificate-expiring"));
        assert!(soon.2.contains("expires in 10 days") && soon.3.contains("certificate platform-tls-cert"));
        assert_eq!(finding_for(TlsCert::Read(cert("2027-06-01T00:00:00Z", None))), None);
        let unreadable = finding_for(TlsCert::Unreadable("tls.crt holds no PEM certificate".into())).unwrap();
        assert_eq!(unreadable.1, "certificate-unreadable");
    }
}
