//! `list`: every Secret with the age of its data, its last rotation, its owner, and how many
//! workloads read it (and how many of those run with stale values).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;

use super::certificates::CertificateState;
use super::drift::{group_workloads, Snapshot, Status, VerifyReport};
use super::env;
use super::gitops::{GitOpsOwner, Tool};
use super::model::{SecretInfo, WorkloadKind};
use super::tls::{self, TlsCert, TlsInfo};

/// Types people do not manage by hand: hidden unless --all-types.
const MACHINE_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "helm.sh/release.v1",
    "bootstrap.kubernetes.io/token",
];

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRow {
    pub namespace: String,
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub keys: usize,
    /// Whole days since the data last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_changed_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_rotation: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_by: Option<String>,
    /// "SealedSecret/name", "ExternalSecret/name", "Helm/release", "Application/name (Argo CD)",
    /// "Kustomization/ns/name (Flux)", or none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Argo CD, Flux or Helm deploying it, and how that was told.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gitops: Option<GitOpsOwner>,
    /// For a Secret an ExternalSecret syncs: where from, how often, and whether it syncs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRow>,
    pub consumers: usize,
    pub stale_consumers: usize,
    /// What uses it besides pods (a CA Issuer, an issuer's administrator credential).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateRow>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRow {
    pub external_secret: String,
    /// "ClusterSecretStore/aws-secretsmanager"
    pub store: String,
    /// "AWS Secrets Manager (us-east-1)", "vault", ... (None: the store could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// The controller's Ready condition (None: not reported yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synced: Option<bool>,
}

impl ExternalRow {
    /// "AWS Secrets Manager (us-east-1) via ClusterSecretStore/aws-secretsmanager, every 1h"
    /// (", failing" when its last sync failed).
    pub fn describe(&self) -> String {
        let every = match self.refresh_interval.as_deref() {
            Some("0") | Some("0s") => ", no refresh".to_string(),
            Some(interval) => format!(", every {interval}"),
            None => String::new(),
        };
        let failing = if self.synced == Some(false) { ", failing" } else { "" };
        let from = match &self.provider {
            Some(provider) => format!("{provider} via {}", self.store),
            None => self.store.clone(),
        };
        format!("{from}{every}{failing}")
    }
}

/// What a Secret's `tls.crt` says, for list and the metrics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateRow {
    /// None: tls.crt could not be read (`error` says why).
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub info: Option<TlsInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_left: Option<i64>,
    /// Expires within --cert-expiry (or has expired).
    pub expiring: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The cert-manager Certificate that issues it, as its status says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_manager: Option<CertManagerRow>,
}

/// A cert-manager Certificate's own view of the Secret it issues.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CertManagerRow {
    pub certificate: String,
    /// "ClusterIssuer/letsencrypt"
    pub issuer: String,
    pub ready: bool,
    /// "Ready", or "not Ready (Reason: message)".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

impl CertManagerRow {
    pub fn of(certificate: &CertificateState) -> Self {
        CertManagerRow {
            certificate: certificate.name.clone(),
            issuer: certificate.issuer.describe(),
            ready: certificate.is_ready(),
            status: certificate.readiness(),
            not_after: certificate.not_after,
            renewal_time: certificate.renewal_time,
            revision: certificate.revision,
        }
    }
}

impl CertificateRow {
    pub fn of(cert: &TlsCert, now: Timestamp, warn_within: Option<SignedDuration>) -> Self {
        match cert {
            TlsCert::Read(info) => {
                let left = tls::days_left(info, now);
                let expiring = info.not_after <= now
                    || warn_within.is_some_and(|within| info.not_after.duration_since(now) < within);
                CertificateRow {
                    info: Some(info.clone()),
                    days_left: Some(left),
                    expiring,
                    error: None,
                    cert_manager: None,
                }
            }
            TlsCert::Unreadable(reason) => CertificateRow {
                info: None,
                days_left: None,
                expiring: false,
                error: Some(reason.clone()),
                cert_manager: None,
            },
        }
    }
}

/// list's answer for one cluster (the document's body).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretList {
    pub secrets: Vec<SecretRow>,
    /// Vault paths pods read through Vault's Agent Injector (no Secret holds them).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vault_paths: Vec<VaultPathRow>,
}

/// One Vault path and the workloads whose pods Vault's Agent Injector renders it into.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultPathRow {
    pub namespace: String,
    pub path: String,
    pub readers: Vec<VaultReader>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VaultReader {
    /// "deployment/chatbox-llm-gateway"
    pub workload: String,
    pub file: String,
    pub rendering: super::vault_agent::Rendering,
}

/// The Vault paths the scope's workloads read through the Agent Injector, by namespace and path.
pub fn vault_paths(snapshot: &Snapshot) -> Vec<VaultPathRow> {
    // Grouping pods under their workloads costs a pass over every pod: only where one reads Vault.
    let templates = snapshot.workloads.iter().map(|w| &w.spec);
    if !templates
        .chain(snapshot.pods.iter().map(|p| &*p.spec))
        .any(|s| !s.vault_agent.is_empty())
    {
        return Vec::new();
    }
    let (specs, _) = group_workloads(snapshot);
    let mut paths: BTreeMap<(String, String), Vec<VaultReader>> = BTreeMap::new();
    for (id, spec) in &specs {
        for read in &spec.vault_agent {
            paths
                .entry((id.namespace.clone(), read.path.clone()))
                .or_default()
                .push(VaultReader {
                    workload: format!("{}/{}", id.kind.as_str().to_lowercase(), id.name),
                    file: read.file.clone(),
                    rendering: read.rendering,
                });
        }
    }
    paths
        .into_iter()
        .map(|((namespace, path), readers)| VaultPathRow {
            namespace,
            path,
            readers,
        })
        .collect()
}

pub struct ListOptions {
    pub now: Timestamp,
    pub max_age: Option<SignedDuration>,
    pub all_types: bool,
    /// Flag certificates that expire sooner than this.
    pub cert_expiry: Option<SignedDuration>,
}

pub fn is_hidden_by_default(secret: &SecretInfo) -> bool {
    MACHINE_TYPES.contains(&secret.type_.as_str()) || secret.labels.contains_key(super::annotations::BACKUP_OF)
}

pub fn days_between(from: Timestamp, to: Timestamp) -> i64 {
    (to.as_second() - from.as_second()).div_euclid(86_400)
}

/// Which workloads (by namespace/name of Secret) read each Secret, and which of them are stale.
pub fn consumer_counts(snapshot: &Snapshot, report: &VerifyReport) -> BTreeMap<(String, String), (usize, usize)> {
    let (specs, pods_of) = group_workloads(snapshot);
    // Each workload's stale Secrets, looked up once per workload (not a scan of the report each).
    let mut stale_of: HashMap<(&str, WorkloadKind, &str), BTreeSet<&str>> = HashMap::new();
    for w in &report.workloads {
        let stale = w
            .findings
            .iter()
            .filter(|f| f.status == Status::Stale)
            .map(|f| f.secret.as_str());
        stale_of
            .entry((w.namespace.as_str(), w.kind, w.name.as_str()))
            .or_default()
            .extend(stale);
    }
    let none = BTreeSet::new();
    let mut counts: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (id, spec) in &specs {
        let pods = pods_of.get(id).map(Vec::as_slice).unwrap_or_default();
        let names: BTreeSet<&str> = env::referenced_secrets(spec)
            .chain(pods.iter().flat_map(|p| env::referenced_secrets(&p.spec)))
            .collect();
        let stale = stale_of
            .get(&(id.namespace.as_str(), id.kind, id.name.as_str()))
            .unwrap_or(&none);
        for name in names {
            let entry = counts.entry((id.namespace.clone(), name.to_string())).or_default();
            entry.0 += 1;
            if stale.contains(name) {
                entry.1 += 1;
            }
        }
    }
    counts
}

pub fn rows(snapshot: &Snapshot, report: &VerifyReport, options: &ListOptions) -> Vec<SecretRow> {
    let counts = consumer_counts(snapshot, report);
    snapshot
        .secrets
        .iter()
        .filter(|s| options.all_types || !is_hidden_by_default(s))
        .map(|s| {
            let issued_by =
                snapshot
                    .cert_manager
                    .certificate_for(&s.namespace, &s.name, s.cert_manager_certificate.as_deref());
            let since = s.data_age_since();
            let age_days = since.map(|t| days_between(t, options.now));
            let overdue = match (options.max_age, since) {
                (Some(max), Some(since)) => options.now.duration_since(since) > max,
                _ => false,
            };
            let (consumers, stale_consumers) = counts
                .get(&(s.namespace.clone(), s.name.clone()))
                .copied()
                .unwrap_or_default();
            SecretRow {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
                type_: s.type_.clone(),
                keys: s.keys.len(),
                age_days,
                data_changed_at: since,
                last_rotation: s.rotated_at,
                rotated_by: s.changed_by.clone(),
                owner: s.owner.as_ref().map(|o| format!("{}/{}", o.kind, o.name)).or_else(|| {
                    if let Some(gitops) = &s.gitops {
                        return Some(match gitops.tool {
                            Tool::Helm => gitops.source.clone(),
                            tool => format!("{} ({})", gitops.source, tool.as_str()),
                        });
                    }
                    if let Some(certificate) = issued_by {
                        return Some(match certificate.is_ready() {
                            true => format!("Certificate/{} (cert-manager)", certificate.name),
                            false => format!("Certificate/{} (cert-manager, not Ready)", certificate.name),
                        });
                    }
                    let certificate = match &s.tls {
                        Some(TlsCert::Read(info)) => info.cert_manager_certificate.as_ref(),
                        _ => None,
                    };
                    certificate.map(|name| format!("Certificate/{name} (cert-manager)"))
                }),
                gitops: s.gitops.clone(),
                external: snapshot
                    .external_secrets
                    .iter()
                    .find(|e| e.namespace == s.namespace && e.target == s.name)
                    .map(|e| ExternalRow {
                        external_secret: e.name.clone(),
                        store: format!("{}/{}", e.store.kind, e.store.name),
                        provider: None,
                        refresh_interval: e.refresh_interval.clone(),
                        synced: e.status.ready,
                    }),
                consumers,
                stale_consumers,
                used_by: snapshot.used_by(&s.namespace, &s.name),
                overdue,
                certificate: s.tls.as_ref().map(|cert| CertificateRow {
                    cert_manager: issued_by.map(CertManagerRow::of),
                    ..CertificateRow::of(cert, options.now, options.cert_expiry)
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::drift::{assess, Options};
    use crate::domain::env::EnvNamePolicy;

    fn at(day: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + day * 86_400).unwrap()
    }

    fn secret(name: &str, type_: &str, changed_day: i64) -> SecretInfo {
        SecretInfo {
            namespace: "ns".into(),
            name: name.into(),
            type_: type_.into(),
            data_changed_at: Some(at(changed_day)),
            ..Default::default()
        }
    }

    #[test]
    fn ages_overdue_and_hidden_types() {
        let snapshot = Snapshot {
            secrets: vec![
                secret("fresh", "Opaque", 95),
                secret("old", "Opaque", 0),
                secret("token", "kubernetes.io/service-account-token", 0),
            ],
            ..Default::default()
        };
        let report = assess(
            &snapshot,
            &Options {
                policy: EnvNamePolicy::Relaxed,
                secret: None,
                report_unused: false,
                list_without_secrets: true,
            },
        );
        let options = ListOptions {
            now: at(100),
            max_age: Some(SignedDuration::from_hours(90 * 24)),
            all_types: false,
            cert_expiry: None,
        };
        let rows = rows(&snapshot, &report, &options);
        let summary: Vec<(&str, Option<i64>, bool)> =
            rows.iter().map(|r| (r.name.as_str(), r.age_days, r.overdue)).collect();
        assert_eq!(summary, [("fresh", Some(5), false), ("old", Some(100), true)]);
        let all = super::rows(
            &snapshot,
            &report,
            &ListOptions {
                all_types: true,
                ..options
            },
        );
        assert_eq!(all.len(), 3);
    }
}
