//! verify's rules: for every workload in scope, which containers see a missing, stale or
//! shadowed secret, with the strongest evidence available.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use jiff::Timestamp;
use serde::Serialize;

use super::annotations;
use super::env::{self, Consumption, EnvNamePolicy, Sources, SpecProblem, Via};
use super::key_changes::KeyChange;
use super::model::{
    ConfigMapInfo, ContainerState, CronSchedule, PodInfo, PodSpecInfo, ReplicaSetInfo, SealedSecretInfo, SecretInfo,
    Workload, WorkloadId, WorkloadKind,
};
use super::rollout::RestartTarget;
use super::vault_agent::{AgentRead, KvState, Rendering};

/// Where cert-manager looks for the Secrets of ClusterIssuers (its default
/// `--cluster-resource-namespace`).
const CLUSTER_RESOURCE_NAMESPACE: &str = "cert-manager";

/// Everything verify reads, as plain facts (one LIST per kind).
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    pub secrets: Vec<SecretInfo>,
    pub workloads: Vec<Workload>,
    pub replica_sets: Vec<ReplicaSetInfo>,
    pub pods: Vec<PodInfo>,
    /// Empty where the SealedSecret API is not installed.
    pub sealed_secrets: Vec<SealedSecretInfo>,
    /// Empty where External Secrets is not installed.
    pub external_secrets: Vec<super::external::ExternalSecretState>,
    /// Empty where cert-manager is not installed.
    pub cert_manager: super::certificates::CertManager,
    /// Key names only; None where they could not be read (the user may not list them).
    pub config_maps: Option<Vec<ConfigMapInfo>>,
    /// Vault paths pods render once at start (Agent Injector), as Vault's metadata has them:
    /// path → its current version, or why it could not be read.
    pub vault_kv: BTreeMap<String, super::vault_agent::KvState>,
}

impl Snapshot {
    /// Mark the Secrets whose SealedSecret is still at the generation their stamp came from:
    /// the controller may write them well after the stamp's time (a busy controller), and
    /// the stamp still describes their data. A SealedSecret changed since (re-sealed, with
    /// the template kept) leaves the stamp unconfirmed: time decides.
    pub fn confirm_sealed_stamps(&mut self) {
        let generations: HashMap<(&str, &str), i64> = self
            .sealed_secrets
            .iter()
            .map(|s| ((s.namespace.as_str(), s.name.as_str()), s.generation))
            .collect();
        for secret in &mut self.secrets {
            let owner = secret
                .owner
                .as_ref()
                .filter(|o| o.kind == "SealedSecret")
                .map(|o| o.name.as_str());
            secret.stamp_confirmed = match (owner, secret.sealed_stamp) {
                (Some(owner), Some(stamped)) => generations.get(&(secret.namespace.as_str(), owner)) == Some(&stamped),
                _ => false,
            };
        }
    }

    /// Each namespace's Secrets and ConfigMaps, as the kubelet resolves env against them.
    pub fn sources(&self) -> HashMap<&str, Sources<'_>> {
        let mut by_namespace: HashMap<&str, Sources> = HashMap::new();
        for secret in &self.secrets {
            by_namespace
                .entry(secret.namespace.as_str())
                .or_insert_with(|| self.no_sources())
                .secrets
                .insert(secret.name.as_str(), secret);
        }
        for config_map in self.config_maps.iter().flatten() {
            let sources = by_namespace
                .entry(config_map.namespace.as_str())
                .or_insert_with(|| self.no_sources());
            if let Some(config_maps) = &mut sources.config_maps {
                config_maps.insert(config_map.name.as_str(), config_map);
            }
        }
        by_namespace
    }

    /// What uses a Secret besides pods: a cert-manager CA Issuer signing with it, or an issuer
    /// annotation naming it as the administrator's credential ("Issuer/platform-ca (its CA)",
    /// "admin of postgresql-credentials/password"). Such a Secret is never "without consumers".
    pub fn used_by(&self, namespace: &str, name: &str) -> Vec<String> {
        let mut users: Vec<String> = self
            .cert_manager
            .issuers
            .iter()
            .filter(|i| i.ca_secret.as_deref() == Some(name))
            .filter_map(|i| match i.namespace.as_deref() {
                Some(own) if own == namespace => Some(format!("Issuer/{} (its CA)", i.name)),
                None if namespace == CLUSTER_RESOURCE_NAMESPACE => Some(format!("ClusterIssuer/{} (its CA)", i.name)),
                _ => None,
            })
            .collect();
        for secret in self.secrets.iter().filter(|s| s.namespace == namespace) {
            for (key, admin) in &secret.issuer_admins {
                if admin == name {
                    users.push(format!("admin of {}/{key}", secret.name));
                }
            }
        }
        users
    }

    /// A namespace without Secrets or ConfigMaps.
    pub fn no_sources(&self) -> Sources<'_> {
        Sources {
            secrets: HashMap::new(),
            config_maps: self.config_maps.as_ref().map(|_| HashMap::new()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Nothing kubectl-secrets can read says whether the running value is current (a Vault
    /// path rendered once at start): never counted as ok, not drift either (exit 0).
    Unknown,
    Shadowed,
    Stale,
    Missing,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unknown => "unknown",
            Status::Shadowed => "shadowed",
            Status::Stale => "stale",
            Status::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    Exact,
    Time,
    Unknown,
}

impl Evidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::Exact => "exact",
            Evidence::Time => "time",
            Evidence::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub status: Status,
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Env var names (or mount paths) through which the container sees the Secret.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The keys it reads, when it reads only some of them (`secretKeyRef`, volume `items`, a
    /// subPath) and kubectl-secrets recorded when each changed: it is judged by those keys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    pub via: Via,
    /// Empty for findings about the pod template rather than a running pod.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pod: String,
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// When the running container started (checks of running containers only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    pub detail: String,
}

/// After a rotation: can the previous value still be in use? Only exact evidence (pods started
/// for the current revision) counts; then the old value can be revoked at its provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Revocation {
    pub namespace: String,
    pub secret: String,
    pub revision: u64,
    pub safe: bool,
    /// Since when no running container can hold an older revision (safe only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<Timestamp>,
    pub reason: String,
    /// Safe, and already said for this revision (by the change itself, or an earlier verify on
    /// this machine): the table does not repeat it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub already_said: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadReport {
    pub kind: WorkloadKind,
    pub namespace: String,
    pub name: String,
    pub status: Status,
    pub pods: usize,
    pub containers_checked: usize,
    /// Whether its template or pods refer to any Secret at all.
    pub reads_secrets: bool,
    /// Secrets only mounted as volumes without subPath: updated in place, never stale.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub auto_updating: BTreeSet<String>,
    /// A CronJob: when its next Job starts (with the values current then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CronSchedule>,
    pub findings: Vec<Finding>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub workloads: usize,
    /// Of `workloads`, those that refer to no Secret (neither ok nor anything else).
    pub without_secrets: usize,
    pub containers_checked: usize,
    pub ok: usize,
    /// Workloads with a read whose currency cannot be judged (Vault Agent, rendered at start).
    #[serde(default)]
    pub unknown: usize,
    pub stale: usize,
    pub missing: usize,
    pub shadowed: usize,
    pub unused_secrets: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub workloads: Vec<WorkloadReport>,
    /// Secrets no workload in scope refers to (information, not a failure). Empty when a
    /// selector or a Secret name narrows the scope.
    pub unused_secrets: Vec<SecretRef>,
    /// SealedSecrets the controller could not unseal: their Secret is missing or old.
    pub unsealing_failed: Vec<SealedSecretInfo>,
    /// ExternalSecrets whose last sync failed: their Secret is missing or holds older data.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_failed: Vec<SyncFailure>,
    /// Secrets External Secrets writes whose data someone changed after its last sync: the
    /// next refresh puts the provider's value back under the running pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edited_since_sync: Vec<SecretRef>,
    /// For Secrets rotated by kubectl-secrets: whether the previous value may still be in use.
    pub revocation: Vec<Revocation>,
    pub summary: Summary,
}

impl VerifyReport {
    /// Exit status 1 is for what breaks or misleads running code: stale or missing.
    pub fn has_drift(&self) -> bool {
        self.workloads
            .iter()
            .any(|w| matches!(w.status, Status::Stale | Status::Missing))
            || !self.unsealing_failed.is_empty()
            || !self.sync_failed.is_empty()
            || !self.edited_since_sync.is_empty()
    }
}

/// An ExternalSecret External Secrets could not sync (the controller's reason, never a value).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncFailure {
    pub namespace: String,
    pub name: String,
    pub secret: String,
    pub reason: String,
    pub message: String,
    /// When the Secret's data last changed, if it is older than the failing refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_changed_at: Option<Timestamp>,
}

pub struct Options<'a> {
    pub policy: EnvNamePolicy,
    /// Only the consumers of this Secret.
    pub secret: Option<&'a str>,
    /// Report Secrets without consumers (only meaningful when the whole scope was read).
    pub report_unused: bool,
    /// List workloads that refer to no Secret too (they are always counted).
    pub list_without_secrets: bool,
}

/// Only Secrets meant for pods can be "unused" by pods: not tokens, Helm releases, TLS and
/// registry credentials (used by Ingresses and image pulls), Sealed Secrets' keys, or
/// kubectl-secrets' own backups.
fn counts_as_unused_candidate(secret: &SecretInfo) -> bool {
    const NOT_FOR_PODS: [&str; 6] = [
        "kubernetes.io/service-account-token",
        "helm.sh/release.v1",
        "bootstrap.kubernetes.io/token",
        "kubernetes.io/tls",
        "kubernetes.io/dockerconfigjson",
        "kubernetes.io/dockercfg",
    ];
    const NOT_FOR_PODS_LABELS: [&str; 2] = [super::annotations::PREFIX, "sealedsecrets.bitnami.com/"];
    !NOT_FOR_PODS.contains(&secret.type_.as_str())
        && !secret
            .labels
            .keys()
            .any(|k| NOT_FOR_PODS_LABELS.iter().any(|prefix| k.starts_with(prefix)))
}

pub fn assess(snapshot: &Snapshot, options: &Options) -> VerifyReport {
    let sources_by_namespace = snapshot.sources();
    let empty = snapshot.no_sources();
    let (specs, pods_of) = group_workloads(snapshot);
    // What each controller's template was last restarted for: the anchor a pod's own stamp
    // must match to count as exact evidence (whoever may patch a pod could write that stamp).
    let templates: HashMap<&WorkloadId, &BTreeMap<String, u64>> = snapshot
        .workloads
        .iter()
        .map(|w| (&w.id, &w.secret_revisions))
        .collect();
    let schedules: HashMap<&WorkloadId, &CronSchedule> = snapshot
        .workloads
        .iter()
        .filter_map(|w| w.schedule.as_ref().map(|s| (&w.id, s)))
        .collect();

    let mut referenced: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut reports = Vec::new();
    for (id, spec) in &specs {
        let sources = sources_by_namespace.get(id.namespace.as_str()).unwrap_or(&empty);
        let pods = pods_of.get(id).map(Vec::as_slice).unwrap_or_default();
        let mut reads_secrets = !spec.vault_agent.is_empty();
        for name in env::referenced_secrets(spec).chain(pods.iter().flat_map(|p| env::referenced_secrets(&p.spec))) {
            referenced.insert((id.namespace.as_str(), name));
            reads_secrets = true;
        }
        let template = templates.get(id).copied();
        let mut report = assess_workload(id, spec, pods, template, sources, options.policy, &snapshot.vault_kv);
        report.schedule = schedules.get(id).map(|s| (*s).clone());
        report.reads_secrets = reads_secrets;
        let relevant = match options.secret {
            Some(name) => {
                env::referenced_secrets(spec).any(|s| s == name)
                    || pods.iter().any(|p| env::referenced_secrets(&p.spec).any(|s| s == name))
            }
            None => true,
        };
        if relevant {
            reports.push(narrow_to_secret(report, options.secret));
        }
    }

    let unused_secrets = if options.report_unused {
        snapshot
            .secrets
            .iter()
            .filter(|s| counts_as_unused_candidate(s) && !referenced.contains(&(s.namespace.as_str(), s.name.as_str())))
            .filter(|s| snapshot.used_by(&s.namespace, &s.name).is_empty())
            .map(|s| SecretRef {
                namespace: s.namespace.clone(),
                name: s.name.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let summary = summarize(&reports, unused_secrets.len());
    if !options.list_without_secrets {
        reports.retain(|r| r.reads_secrets);
    }
    let unsealing_failed = snapshot
        .sealed_secrets
        .iter()
        .filter(|s| s.synced == Some(false))
        .filter(|s| options.secret.is_none_or(|name| name == s.name))
        .cloned()
        .collect();
    let sync_failed = snapshot
        .external_secrets
        .iter()
        .filter(|e| e.status.ready == Some(false))
        .filter(|e| options.secret.is_none_or(|name| name == e.target))
        .map(|e| SyncFailure {
            namespace: e.namespace.clone(),
            name: e.name.clone(),
            secret: e.target.clone(),
            reason: e.status.reason.clone(),
            message: e.status.message.clone(),
            secret_changed_at: snapshot
                .secrets
                .iter()
                .find(|s| s.namespace == e.namespace && s.name == e.target)
                .and_then(|s| s.data_changed_at),
        })
        .collect();
    let edited_since_sync = snapshot
        .secrets
        .iter()
        .filter(|s| s.edited_since_sync)
        .filter(|s| options.secret.is_none_or(|name| name == s.name))
        .map(|s| SecretRef {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
        })
        .collect();
    let revocation = snapshot
        .secrets
        .iter()
        .filter(|s| options.secret.is_none_or(|name| name == s.name))
        .filter(|s| !s.labels.contains_key(annotations::BACKUP_OF))
        .filter_map(|s| revocation(s, &reports))
        .collect();
    VerifyReport {
        workloads: reports,
        unused_secrets,
        unsealing_failed,
        sync_failed,
        edited_since_sync,
        revocation,
        summary,
    }
}

/// Whether the previous value of a rotated Secret can still be in a running container.
pub fn revocation(secret: &SecretInfo, reports: &[WorkloadReport]) -> Option<Revocation> {
    let revision = secret.revision?;
    // A current container judged by keys that did not change at this revision never held the
    // values it replaced.
    let checks: Vec<&Finding> = reports
        .iter()
        .filter(|w| w.namespace == secret.namespace)
        .flat_map(|w| w.findings.iter())
        .filter(|f| f.secret == secret.name && !f.pod.is_empty())
        .filter(|f| f.keys.is_empty() || f.status == Status::Stale)
        .collect();
    let stale = checks.iter().filter(|f| f.status == Status::Stale).count();
    let not_exact = checks.iter().filter(|f| f.evidence != Some(Evidence::Exact)).count();
    let (safe, since, reason) = if stale > 0 {
        (
            false,
            None,
            match stale {
                1 => "1 running container still holds an older revision".to_string(),
                n => format!("{n} running containers still hold an older revision"),
            },
        )
    } else if not_exact > 0 {
        let (count, verb) = match not_exact {
            1 => ("1 running container".to_string(), "was"),
            n => (format!("{n} running containers"), "were"),
        };
        (
            false,
            None,
            format!("{count} {verb} not started by kubectl-secrets for revision {revision}: evidence is not exact"),
        )
    } else {
        let since = checks.iter().filter_map(|f| f.started_at).max().or(secret.rotated_at);
        (true, since, format!("no running container can hold a value older than revision {revision}: revoke the previous value at its provider"))
    };
    Some(Revocation {
        namespace: secret.namespace.clone(),
        secret: secret.name.clone(),
        revision,
        safe,
        since,
        reason,
        already_said: safe && secret.revocation_said == Some(revision),
    })
}

/// Every workload of the snapshot with the pod spec to judge it by (its template, or for pods
/// without a listed owner, the pod's own spec) and its pods.
#[allow(clippy::type_complexity)]
pub fn group_workloads(
    snapshot: &Snapshot,
) -> (BTreeMap<WorkloadId, &PodSpecInfo>, BTreeMap<WorkloadId, Vec<&PodInfo>>) {
    // ReplicaSets of Deployments and of Argo Rollouts.
    let deployment_of: HashMap<(&str, &str), (WorkloadKind, &str)> = snapshot
        .replica_sets
        .iter()
        .filter_map(|rs| {
            let owner = rs.controller.as_ref()?;
            let kind = match owner.kind.as_str() {
                "Deployment" => WorkloadKind::Deployment,
                "Rollout" => WorkloadKind::Rollout,
                _ => return None,
            };
            Some(((rs.namespace.as_str(), rs.name.as_str()), (kind, owner.name.as_str())))
        })
        .collect();
    // Workloads from their own LISTs, then those only known through their pods.
    let mut specs: BTreeMap<WorkloadId, &PodSpecInfo> =
        snapshot.workloads.iter().map(|w| (w.id.clone(), &w.spec)).collect();
    let mut pods_of: BTreeMap<WorkloadId, Vec<&PodInfo>> = BTreeMap::new();
    for pod in &snapshot.pods {
        let id = owner_workload(pod, &deployment_of);
        specs.entry(id.clone()).or_insert(&pod.spec);
        pods_of.entry(id).or_default().push(pod);
    }
    (specs, pods_of)
}

fn owner_workload(pod: &PodInfo, deployment_of: &HashMap<(&str, &str), (WorkloadKind, &str)>) -> WorkloadId {
    let ns = pod.namespace.clone();
    let id = |kind, name: &str| WorkloadId {
        kind,
        namespace: ns.clone(),
        name: name.to_string(),
    };
    match &pod.controller {
        Some(o) if o.kind == "ReplicaSet" => match deployment_of.get(&(pod.namespace.as_str(), o.name.as_str())) {
            Some((kind, owner)) => id(*kind, owner),
            None => id(WorkloadKind::ReplicaSet, &o.name),
        },
        Some(o) if o.kind == "StatefulSet" => id(WorkloadKind::StatefulSet, &o.name),
        Some(o) if o.kind == "DaemonSet" => id(WorkloadKind::DaemonSet, &o.name),
        Some(o) if o.kind == "Job" => id(WorkloadKind::Job, &o.name),
        _ => id(WorkloadKind::Pod, &pod.name),
    }
}

fn assess_workload(
    id: &WorkloadId,
    spec: &PodSpecInfo,
    pods: &[&PodInfo],
    template: Option<&BTreeMap<String, u64>>,
    sources: &Sources,
    policy: EnvNamePolicy,
    vault_kv: &BTreeMap<String, KvState>,
) -> WorkloadReport {
    let mut findings = Vec::new();
    let mut auto_updating = BTreeSet::new();
    // Missing and shadowed are properties of the spec: judged once, on the workload's template.
    for container in &spec.containers {
        let view = env::resolve(spec, container, sources, policy);
        findings.extend(view.problems.into_iter().map(|p| spec_finding(p, &container.name)));
        auto_updating.extend(
            view.consumed
                .iter()
                .filter(|c| c.via.updates_in_place())
                .map(|c| c.secret.clone()),
        );
    }
    // Vault paths the injector renders: a sidecar keeps the file current (like a volume); once
    // at start, each pod is judged by when it was created against when Vault's current
    // version was written; where Vault could not be read: unknown, never ok.
    for read in &spec.vault_agent {
        match (read.rendering, vault_kv.get(&read.path)) {
            (Rendering::WhileRunning, _) => {
                auto_updating.insert(read.source());
            }
            (Rendering::OnceAtStart, Some(KvState::Current { version, created })) => {
                findings.extend(
                    pods.iter()
                        .filter(|p| p.terminating_until.is_none())
                        .map(|pod| rendered_once_at_start(read, pod, *version, *created)),
                );
            }
            (Rendering::OnceAtStart, state) => findings.push(vault_once_at_start(read, state)),
        }
    }
    // Stale is a property of each running container: judged on the pods.
    let mut containers_checked = 0;
    for pod in pods {
        for container in &pod.spec.containers {
            let Some(ContainerState::Running { started_at }) = pod.containers.get(&container.name) else {
                continue;
            };
            containers_checked += 1;
            let view = env::resolve(&pod.spec, container, sources, policy);
            for (secret_name, uses) in group_fixed_at_start(&view.consumed) {
                let Some(secret) = sources.secrets.get(secret_name) else {
                    continue;
                };
                let pod_revision = pod.secret_revisions.get(secret_name).copied();
                let claim = PodClaim {
                    revision: pod_revision,
                    anchored: anchored(
                        pod_revision,
                        template.and_then(|t| t.get(secret_name)),
                        secret.rotated_at,
                        *started_at,
                    ),
                };
                let by_keys = judged_by_keys(secret, &uses);
                let (status, evidence, detail) = match &by_keys {
                    Some((keys, change)) => key_staleness(keys, *change, claim, *started_at),
                    None => staleness(secret, claim, *started_at),
                };
                findings.push(Finding {
                    status,
                    secret: secret_name.to_string(),
                    key: None,
                    targets: uses.iter().map(|u| u.target.clone()).collect(),
                    keys: by_keys.map(|(keys, _)| keys.into_iter().collect()).unwrap_or_default(),
                    via: uses[0].via,
                    pod: pod.name.clone(),
                    container: container.name.clone(),
                    evidence: Some(evidence),
                    started_at: *started_at,
                    detail,
                });
            }
        }
    }
    findings.sort();
    let status = findings.iter().map(|f| f.status).max().unwrap_or(Status::Ok);
    WorkloadReport {
        kind: id.kind,
        namespace: id.namespace.clone(),
        name: id.name.clone(),
        status,
        pods: pods.len(),
        containers_checked,
        reads_secrets: true,
        auto_updating,
        schedule: None,
        findings,
    }
}

fn vault_once_at_start(read: &AgentRead, state: Option<&KvState>) -> Finding {
    let why = match state {
        Some(KvState::Unreadable(why)) => why.clone(),
        _ => "Vault's versions were not read".into(),
    };
    Finding {
        status: Status::Unknown,
        secret: read.source(),
        key: None,
        targets: vec![read.file.clone()],
        keys: Vec::new(),
        via: Via::VaultAgent,
        pod: String::new(),
        container: "vault-agent-init".into(),
        evidence: Some(Evidence::Unknown),
        started_at: None,
        detail: format!(
            "rendered once at start by the Vault Agent (pre-populate-only): a new version at Vault reaches these pods \
             only when they restart; which one they run cannot be told: {}",
            crate::render::clean_line(&why)
        ),
    }
}

/// A pod that rendered `read` once at start: it runs Vault's current version if it was
/// created after that version was written (time evidence; a pod created just before the write
/// but rendered after is called stale: the safe side).
fn rendered_once_at_start(read: &AgentRead, pod: &PodInfo, version: u64, written: Option<Timestamp>) -> Finding {
    // The API server keeps whole seconds: within the same second, time cannot tell. A pod
    // that `rotate vault:PATH` (or its undo) restarted for this very version carries it; the
    // stamp is the pod's own (anyone who may patch it may write it), so it only decides where
    // time does not contradict it.
    let seconds = |t: Timestamp| t.as_second();
    let stamped = pod.secret_revisions.get(&read.source()).copied();
    let (status, evidence, detail) = match (pod.created, written) {
        (Some(created), Some(written)) if stamped == Some(version) && seconds(created) >= seconds(written) => (
            Status::Ok,
            Evidence::Exact,
            format!("restarted by kubectl-secrets for version {version}, rendered at start"),
        ),
        (Some(created), Some(written)) if seconds(created) > seconds(written) => (
            Status::Ok,
            Evidence::Time,
            format!("rendered at start, after version {version} was written at Vault ({written})"),
        ),
        (Some(created), Some(written)) if seconds(created) == seconds(written) => (
            Status::Ok,
            Evidence::Unknown,
            format!("created in the second version {version} was written at Vault ({written}): time cannot tell"),
        ),
        (Some(_), Some(written)) => (
            Status::Stale,
            Evidence::Time,
            format!(
                "rendered at start, before version {version} was written at Vault ({written}): restart it (the Vault Agent \
                 renders pre-populate-only paths once)"
            ),
        ),
        _ => (
            Status::Unknown,
            Evidence::Unknown,
            format!("no time to compare with version {version}"),
        ),
    };
    Finding {
        status,
        secret: read.source(),
        key: None,
        targets: vec![read.file.clone()],
        keys: Vec::new(),
        via: Via::VaultAgent,
        pod: pod.name.clone(),
        container: "vault-agent-init".into(),
        evidence: Some(evidence),
        started_at: pod.created,
        detail,
    }
}

fn group_fixed_at_start(consumed: &[Consumption]) -> BTreeMap<&str, Vec<&Consumption>> {
    let mut grouped: BTreeMap<&str, Vec<&Consumption>> = BTreeMap::new();
    for c in consumed.iter().filter(|c| c.via.fixed_at_start()) {
        grouped.entry(c.secret.as_str()).or_default().push(c);
    }
    grouped
}

fn spec_finding(problem: SpecProblem, container: &str) -> Finding {
    let (status, secret, key, targets, via, detail) = match problem {
        SpecProblem::Missing {
            secret,
            key,
            env,
            via,
            detail,
        } => (Status::Missing, secret, key, env.into_iter().collect(), via, detail),
        SpecProblem::Shadowed {
            secret,
            key,
            env,
            via,
            detail,
        } => (Status::Shadowed, secret, Some(key), vec![env], via, detail),
    };
    Finding {
        status,
        secret,
        key,
        targets,
        keys: Vec::new(),
        via,
        pod: String::new(),
        container: container.into(),
        evidence: None,
        started_at: None,
        detail,
    }
}

/// The keys a container reads of a Secret and their newest recorded change, when it reads only
/// some keys and those did not change at the Secret's current revision (otherwise judging the
/// whole Secret gives the same answer). envFrom and whole volumes read every key.
fn judged_by_keys(secret: &SecretInfo, uses: &[&Consumption]) -> Option<(BTreeSet<String>, KeyChange)> {
    let changes = secret.key_changes.as_ref()?;
    let mut keys = BTreeSet::new();
    for used in uses {
        match used.via {
            Via::EnvFrom => return None,
            Via::EnvKeyRef | Via::EnvFirstStart => keys.extend(used.key.clone()),
            Via::VolumeMount | Via::SubPathMount => keys.extend(used.volume_keys.clone()?),
            Via::VaultAgent => return None,
        }
    }
    let change = changes.newest_of(&keys)?;
    (change.revision < changes.revision).then_some((keys, change))
}

/// The revision a pod says it was restarted for (its own annotation), and whether that claim
/// is anchored: its controller's template carries the same revision and the pod started after
/// the rotation that wrote it. A claim of an older revision only ever makes a verdict stricter
/// (stale), so it needs no anchor; a claim of the current one does, or it counts for nothing
/// and time decides.
#[derive(Debug, Clone, Copy)]
pub struct PodClaim {
    pub revision: Option<u64>,
    pub anchored: bool,
}

impl PodClaim {
    /// The claim, as a pod restarted by rotate makes it (tests, and callers that know).
    pub fn anchored(revision: Option<u64>) -> Self {
        PodClaim {
            revision,
            anchored: true,
        }
    }

    /// At least `revision`, and believable.
    fn vouches_for(self, revision: u64) -> Option<u64> {
        self.revision.filter(|p| *p >= revision && self.anchored)
    }
}

fn anchored(
    pod: Option<u64>,
    template: Option<&u64>,
    rotated_at: Option<Timestamp>,
    started_at: Option<Timestamp>,
) -> bool {
    // Container start times have one-second resolution: a pod restarted right after the write
    // may read as started in the same second, before the sub-second rotation time.
    let started_after = match (rotated_at, started_at) {
        (Some(at), Some(started)) => started + jiff::SignedDuration::from_secs(1) > at,
        _ => false,
    };
    pod.is_some() && pod.as_ref() == template && started_after
}

/// Decide whether a container that reads only `keys` started with their current values.
fn key_staleness(
    keys: &BTreeSet<String>,
    change: KeyChange,
    claim: PodClaim,
    started_at: Option<Timestamp>,
) -> (Status, Evidence, String) {
    let names = keys.iter().cloned().collect::<Vec<_>>().join(", ");
    let revision = change.revision;
    let pod_revision = claim.revision;
    match (pod_revision, started_at, change.at) {
        (Some(p), _, _) if claim.vouches_for(revision).is_some() => (
            Status::Ok,
            Evidence::Exact,
            format!("restarted for revision {p}; {names} last changed at revision {revision}"),
        ),
        (Some(p), started, Some(at)) if p < revision && started.is_none_or(|s| s <= at) => (
            Status::Stale,
            Evidence::Exact,
            format!("restarted for revision {p}, but {names} changed at revision {revision}"),
        ),
        (_, Some(started), Some(at)) if started < at => (
            Status::Stale,
            Evidence::Time,
            format!("container started {started}, before {names} changed at {at}"),
        ),
        (_, Some(started), Some(at)) if started > at => (
            Status::Ok,
            Evidence::Time,
            format!("container started {started}, after {names} last changed at {at} (revision {revision})"),
        ),
        (_, Some(_), Some(at)) => (
            Status::Ok,
            Evidence::Unknown,
            format!("container started in the same second as {names} changed at {at}"),
        ),
        (_, None, _) => (
            Status::Ok,
            Evidence::Unknown,
            "the container's start time is not reported".into(),
        ),
        (_, _, None) => (
            Status::Ok,
            Evidence::Unknown,
            format!("when {names} last changed is not recorded"),
        ),
    }
}

/// Decide whether a container started with the Secret's current data.
pub fn staleness(secret: &SecretInfo, claim: PodClaim, started_at: Option<Timestamp>) -> (Status, Evidence, String) {
    let pod_revision = claim.revision;
    let changed = secret.data_changed_at;
    // Exact: rotate stamped the Secret, nobody changed its data since, and the pod template
    // was restarted for a known revision of it.
    if let (Some(revision), Some(rotated_at), Some(pod_revision)) = (secret.revision, secret.rotated_at, pod_revision) {
        let untouched_since_rotate =
            secret.stamp_confirmed || changed.is_none_or(|c| c <= rotated_at + jiff::SignedDuration::from_secs(1));
        if untouched_since_rotate {
            if claim.vouches_for(revision).is_some() {
                return (
                    Status::Ok,
                    Evidence::Exact,
                    format!("restarted for revision {pod_revision}, the Secret's current one"),
                );
            }
            if pod_revision < revision && started_at.is_none_or(|s| s <= rotated_at) {
                return (
                    Status::Stale,
                    Evidence::Exact,
                    format!("restarted for revision {pod_revision}, but the Secret is at revision {revision}"),
                );
            }
        }
    }
    match (started_at, changed) {
        (Some(started), Some(changed)) if started < changed => (
            Status::Stale,
            Evidence::Time,
            format!("container started {started}, before the Secret's data changed at {changed}"),
        ),
        (Some(started), Some(changed)) if started > changed => (
            Status::Ok,
            Evidence::Time,
            format!("container started {started}, after the Secret's last change at {changed}"),
        ),
        (Some(_), Some(changed)) => (
            Status::Ok,
            Evidence::Unknown,
            format!("container started in the same second as the Secret's change at {changed}"),
        ),
        (None, _) => (
            Status::Ok,
            Evidence::Unknown,
            "the container's start time is not reported".into(),
        ),
        (_, None) => (
            Status::Ok,
            Evidence::Unknown,
            "the Secret's last data change is not recorded".into(),
        ),
    }
}

/// With a Secret name given, keep only what concerns that Secret.
fn narrow_to_secret(mut report: WorkloadReport, secret: Option<&str>) -> WorkloadReport {
    if let Some(name) = secret {
        report.findings.retain(|f| f.secret == name);
        report.auto_updating.retain(|s| s == name);
        report.status = report.findings.iter().map(|f| f.status).max().unwrap_or(Status::Ok);
    }
    report
}

/// Counts workloads: `ok` those that read a Secret and have nothing to report, the others those with at least one
/// finding of that status (a workload can be both missing and shadowed).
pub fn summarize(reports: &[WorkloadReport], unused_secrets: usize) -> Summary {
    let count = |status| {
        reports
            .iter()
            .filter(|r| r.findings.iter().any(|f| f.status == status))
            .count()
    };
    Summary {
        workloads: reports.len(),
        without_secrets: reports.iter().filter(|r| !r.reads_secrets).count(),
        containers_checked: reports.iter().map(|r| r.containers_checked).sum(),
        ok: reports
            .iter()
            .filter(|r| r.reads_secrets && r.status == Status::Ok)
            .count(),
        unknown: count(Status::Unknown),
        stale: count(Status::Stale),
        missing: count(Status::Missing),
        shadowed: count(Status::Shadowed),
        unused_secrets,
    }
}

/// What `verify --fix` restarts: every restartable workload with a stale container, with the
/// Secret revisions its new pods start for; and the stale ones it cannot restart.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FixPlan {
    pub restart: Vec<RestartTarget>,
    pub by_hand: Vec<WorkloadId>,
}

pub fn fix_plan(report: &VerifyReport, snapshot: &Snapshot) -> FixPlan {
    let mut plan = FixPlan::default();
    for workload in report
        .workloads
        .iter()
        .filter(|w| w.findings.iter().any(|f| f.status == Status::Stale))
    {
        let id = WorkloadId {
            namespace: workload.namespace.clone(),
            kind: workload.kind,
            name: workload.name.clone(),
        };
        if !id.kind.restartable() {
            plan.by_hand.push(id);
            continue;
        }
        let mut revisions = snapshot
            .workloads
            .iter()
            .find(|w| w.id == id)
            .map(|w| w.secret_revisions.clone())
            .unwrap_or_default();
        for finding in workload.findings.iter().filter(|f| f.status == Status::Stale) {
            let revision = snapshot
                .secrets
                .iter()
                .find(|s| s.namespace == id.namespace && s.name == finding.secret)
                .and_then(|s| s.revision);
            if let Some(revision) = revision {
                revisions.insert(finding.secret.clone(), revision);
            }
        }
        plan.restart.push(RestartTarget {
            id,
            revisions,
            restarted_since: None,
        });
    }
    plan
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::domain::model::{ContainerSpec, EnvFrom, EnvValue, EnvVar, OwnerRef};

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn secret(name: &str, keys: &[&str], changed: i64) -> SecretInfo {
        SecretInfo {
            namespace: "ns".into(),
            name: name.into(),
            type_: "Opaque".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            data_changed_at: Some(at(changed)),
            ..Default::default()
        }
    }

    fn rotated(mut s: SecretInfo, revision: u64, at_second: i64) -> SecretInfo {
        s.revision = Some(revision);
        s.rotated_at = Some(at(at_second));
        s.data_changed_at = Some(at(at_second));
        s
    }

    fn env_from_spec(secret: &str) -> PodSpecInfo {
        PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "app".into(),
                env_from: vec![EnvFrom::Secret {
                    name: secret.into(),
                    prefix: String::new(),
                    optional: false,
                }],
                ..Default::default()
            }],
            volumes: vec![],
            ..Default::default()
        }
    }

    fn pod(name: &str, owner: Option<(&str, &str)>, spec: PodSpecInfo, started: i64) -> PodInfo {
        PodInfo {
            uid: format!("uid-{name}"),
            terminating_until: None,
            created: Some(at(started)),
            namespace: "ns".into(),
            name: name.into(),
            controller: owner.map(|(kind, name)| OwnerRef {
                kind: kind.into(),
                name: name.into(),
            }),
            spec: spec.into(),
            secret_revisions: BTreeMap::new(),
            containers: [(
                "app".to_string(),
                ContainerState::Running {
                    started_at: Some(at(started)),
                },
            )]
            .into(),
        }
    }

    fn options() -> Options<'static> {
        Options {
            policy: EnvNamePolicy::Relaxed,
            secret: None,
            report_unused: true,
            list_without_secrets: true,
        }
    }

    #[test]
    fn workloads_reading_no_secret_are_counted_and_listed_only_on_request() {
        let plain = PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "app".into(),
                ..Default::default()
            }],
            volumes: vec![],
            ..Default::default()
        };
        let snapshot = Snapshot {
            secrets: vec![secret("a", &["K"], 100)],
            pods: vec![
                pod("uses-a", None, env_from_spec("a"), 150),
                pod("plain", None, plain, 150),
            ],
            ..Default::default()
        };
        let counted = assess(
            &snapshot,
            &Options {
                list_without_secrets: false,
                ..options()
            },
        );
        let names: Vec<&str> = counted.workloads.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["uses-a"]);
        let s = &counted.summary;
        assert_eq!((s.workloads, s.without_secrets, s.ok), (2, 1, 1));
        let listed = assess(&snapshot, &options());
        let plain = listed.workloads.iter().find(|w| w.name == "plain").unwrap();
        assert!(!plain.reads_secrets && listed.workloads.len() == 2);
        assert_eq!(listed.summary.ok, 1);
    }

    #[test]
    fn vault_agent_paths_rendered_once_are_unknown_and_a_sidecars_update_in_place() {
        let with_agent = |name: &str, rendering: Rendering| PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "app".into(),
                ..Default::default()
            }],
            vault_agent: vec![AgentRead {
                path: format!("secret/data/{name}"),
                file: format!("/vault/secrets/{name}"),
                rendering,
                reload_command: false,
            }],
            ..Default::default()
        };
        let snapshot = Snapshot {
            pods: vec![
                pod("once", None, with_agent("db", Rendering::OnceAtStart), 150),
                pod("sidecar", None, with_agent("llm", Rendering::WhileRunning), 150),
            ],
            ..Default::default()
        };
        let report = assess(&snapshot, &options());
        let once = report.workloads.iter().find(|w| w.name == "once").unwrap();
        assert!(once.reads_secrets, "a Vault reader is not 'reads no Secret'");
        assert_eq!(once.status, Status::Unknown);
        assert_eq!(once.findings[0].secret, "vault:secret/data/db");
        assert_eq!(once.findings[0].evidence, Some(Evidence::Unknown));
        let sidecar = report.workloads.iter().find(|w| w.name == "sidecar").unwrap();
        assert_eq!(sidecar.status, Status::Ok);
        assert!(sidecar.auto_updating.contains("vault:secret/data/llm"));
        let s = &report.summary;
        assert_eq!((s.ok, s.unknown, s.without_secrets), (1, 1, 0));
        assert!(!report.has_drift(), "unknown is said, not an exit 1");

        // With Vault's metadata read: a pod created after the current version was written
        // runs it; one created before is stale.
        let judged = |written: i64| {
            let snapshot = Snapshot {
                vault_kv: BTreeMap::from([(
                    "secret/data/db".to_string(),
                    KvState::Current {
                        version: 4,
                        created: Some(at(written)),
                    },
                )]),
                ..snapshot.clone()
            };
            let report = assess(&snapshot, &options());
            let once = report.workloads.iter().find(|w| w.name == "once").unwrap().clone();
            (once.status, once.findings[0].evidence, once.findings[0].detail.clone())
        };
        let (status, evidence, detail) = judged(120);
        assert_eq!((status, evidence), (Status::Ok, Some(Evidence::Time)));
        assert!(detail.contains("after version 4"), "{detail}");
        let (status, evidence, detail) = judged(160);
        assert_eq!((status, evidence), (Status::Stale, Some(Evidence::Time)));
        let (status, evidence, _) = judged(150);
        assert_eq!(
            (status, evidence),
            (Status::Ok, Some(Evidence::Unknown)),
            "the same second"
        );
        // Restarted by rotate for version 4: exact, whatever the clock says.
        let mut stamped = snapshot.clone();
        for pod in &mut stamped.pods {
            pod.secret_revisions.insert("vault:secret/data/db".into(), 4);
        }
        stamped.vault_kv = BTreeMap::from([(
            "secret/data/db".to_string(),
            KvState::Current {
                version: 4,
                created: Some(at(150)),
            },
        )]);
        let report = assess(&stamped, &options());
        let once = report.workloads.iter().find(|w| w.name == "once").unwrap();
        assert_eq!(
            (once.status, once.findings[0].evidence),
            (Status::Ok, Some(Evidence::Exact))
        );
        // A stamp on a pod created before the version was written proves nothing.
        stamped.vault_kv = BTreeMap::from([(
            "secret/data/db".to_string(),
            KvState::Current {
                version: 4,
                created: Some(at(160)),
            },
        )]);
        let report = assess(&stamped, &options());
        let once = report.workloads.iter().find(|w| w.name == "once").unwrap();
        assert_eq!(once.status, Status::Stale);
        assert!(detail.contains("restart it"), "{detail}");
        let unreadable = Snapshot {
            vault_kv: BTreeMap::from([(
                "secret/data/db".to_string(),
                KvState::Unreadable("no Vault token".into()),
            )]),
            ..snapshot
        };
        let report = assess(&unreadable, &options());
        let once = report.workloads.iter().find(|w| w.name == "once").unwrap();
        assert_eq!(once.status, Status::Unknown);
        assert!(
            once.findings[0].detail.ends_with("no Vault token"),
            "{}",
            once.findings[0].detail
        );
    }

    /// The verdict without its explanation.
    fn judge(s: &SecretInfo, pod_revision: Option<u64>, started: Option<i64>) -> (Status, Evidence) {
        let (status, evidence, _) = staleness(s, PodClaim::anchored(pod_revision), started.map(at));
        (status, evidence)
    }

    #[test]
    fn time_evidence_compares_start_with_last_change() {
        let s = secret("app", &["TOKEN"], 100);
        assert_eq!(judge(&s, None, Some(99)), (Status::Stale, Evidence::Time));
        assert_eq!(judge(&s, None, Some(101)), (Status::Ok, Evidence::Time));
        // Same second: cannot tell, and says so.
        assert_eq!(judge(&s, None, Some(100)), (Status::Ok, Evidence::Unknown));
        assert_eq!(judge(&s, None, None), (Status::Ok, Evidence::Unknown));
        let unknown_change = SecretInfo {
            data_changed_at: None,
            ..s
        };
        assert_eq!(judge(&unknown_change, None, Some(5)), (Status::Ok, Evidence::Unknown));
    }

    #[test]
    fn readers_of_some_keys_are_judged_by_those_keys() {
        let keys: BTreeSet<String> = ["REDIS".to_string()].into();
        let change = KeyChange {
            revision: 1,
            at: Some(at(100)),
        };
        let judge = |pod_revision, started: i64| {
            let (status, evidence, _) =
                key_staleness(&keys, change, PodClaim::anchored(pod_revision), Some(at(started)));
            (status, evidence)
        };
        assert_eq!(
            judge(Some(1), 50),
            (Status::Ok, Evidence::Exact),
            "restarted for a revision at least as new"
        );
        assert_eq!(judge(Some(0), 50), (Status::Stale, Evidence::Exact));
        assert_eq!(judge(None, 150), (Status::Ok, Evidence::Time));
        assert_eq!(judge(None, 50), (Status::Stale, Evidence::Time));
        let unknown = key_staleness(
            &keys,
            KeyChange { revision: 1, at: None },
            PodClaim::anchored(None),
            Some(at(50)),
        );
        assert_eq!((unknown.0, unknown.1), (Status::Ok, Evidence::Unknown));
    }

    #[test]
    fn exact_evidence_from_revisions_and_its_limits() {
        let s = rotated(secret("app", &["TOKEN"], 0), 3, 100);
        assert_eq!(judge(&s, Some(3), Some(50)), (Status::Ok, Evidence::Exact));
        assert_eq!(judge(&s, Some(2), Some(50)), (Status::Stale, Evidence::Exact));
        // A container restarted (crash, eviction) after the rotation re-read its env.
        assert_eq!(judge(&s, Some(2), Some(150)), (Status::Ok, Evidence::Time));
        // Someone edited the data after rotate: the revision no longer tells the whole story.
        let edited = SecretInfo {
            data_changed_at: Some(at(200)),
            ..s
        };
        assert_eq!(judge(&edited, Some(3), Some(150)), (Status::Stale, Evidence::Time));
    }

    #[test]
    fn a_pods_own_stamp_is_exact_only_when_its_template_and_start_time_agree() {
        let s = rotated(secret("app", &["TOKEN"], 0), 3, 100);
        // Anchored: the template carries 3 and the pod started after the rotation.
        assert!(anchored(Some(3), Some(&3), s.rotated_at, Some(at(101))));
        // In the same second as the rotation (start times are whole seconds): still after.
        assert!(anchored(
            Some(3),
            Some(&3),
            Some(at(100) + jiff::SignedDuration::from_millis(400)),
            Some(at(100))
        ));
        // `kubectl annotate pod ... secret-revisions={"app":999}` on a pod of an older template.
        assert!(!anchored(Some(999), Some(&2), s.rotated_at, Some(at(50))));
        // The stamp matches the template, but the pod started before the rotation (a rotation
        // that did not restart, or a Secret deleted and made again whose revisions restart).
        assert!(!anchored(Some(3), Some(&3), s.rotated_at, Some(at(50))));
        // A bare pod has no template to agree with.
        assert!(!anchored(Some(3), None, s.rotated_at, Some(at(101))));
        let forged = PodClaim {
            revision: Some(999),
            anchored: false,
        };
        assert_eq!(
            staleness(&s, forged, Some(at(50))).0,
            Status::Stale,
            "time decides: it started before"
        );
        assert_eq!(staleness(&s, forged, Some(at(50))).1, Evidence::Time);
    }

    /// A Secret as a SealedSecret's controller writes it: stamped for revision 3 at second 100
    /// from the SealedSecret's generation 7, and the managedFields entries `writes` (manager,
    /// second, whether it also owns the sealed stamp).
    fn unsealed_secret(writes: &[(&str, i64, bool)]) -> SecretInfo {
        let managed: Vec<serde_json::Value> = writes
            .iter()
            .map(|(manager, second, with_stamp)| {
                let mut fields = serde_json::json!({"f:data": {"f:TOKEN": {}}});
                if *with_stamp {
                    fields["f:metadata"] =
                        serde_json::json!({"f:annotations": {format!("f:{}", annotations::SEALED_GENERATION): {}}});
                }
                serde_json::json!({"manager": manager, "operation": "Update", "apiVersion": "v1",
                    "time": at(*second).to_string(), "fieldsType": "FieldsV1", "fieldsV1": fields})
            })
            .collect();
        let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "app", "namespace": "ns",
                "annotations": {
                    annotations::REVISION: "3",
                    annotations::ROTATED_AT: at(100).to_string(),
                    annotations::SEALED_GENERATION: "7",
                },
                "ownerReferences": [{"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                    "name": "app", "uid": "u", "controller": true}],
                "managedFields": managed,
            },
            "data": {"TOKEN": "eA=="},
        }))
        .unwrap();
        SecretInfo::from(&secret)
    }

    fn sealed_at(generation: i64) -> SealedSecretInfo {
        SealedSecretInfo {
            namespace: "ns".into(),
            name: "app".into(),
            generation,
            synced: Some(true),
            message: String::new(),
        }
    }

    #[test]
    fn a_late_unseal_keeps_exact_evidence_while_the_sealed_secret_is_unchanged() {
        let restarted = PodClaim::anchored(Some(3));
        // The controller wrote the data and the stamp together, 5 s after the stamp's time.
        let late = unsealed_secret(&[("controller", 105, true)]);
        let mut snapshot = Snapshot {
            secrets: vec![late.clone()],
            sealed_secrets: vec![sealed_at(7)],
            ..Default::default()
        };
        snapshot.confirm_sealed_stamps();
        let (status, evidence, _) = staleness(&snapshot.secrets[0], restarted, Some(at(106)));
        assert_eq!((status, evidence), (Status::Ok, Evidence::Exact));
        // Unconfirmed (no SealedSecret read), time alone decides: the data is newer than the stamp.
        let (status, evidence, _) = staleness(&late, restarted, Some(at(106)));
        assert_eq!((status, evidence), (Status::Ok, Evidence::Time));

        // Re-sealed since (kubeseal --merge-into keeps the template, so the stamp rides along):
        // generation 8, the stamp proves nothing and the pod that started before is stale.
        let mut resealed = Snapshot {
            secrets: vec![late],
            sealed_secrets: vec![sealed_at(8)],
            ..Default::default()
        };
        resealed.confirm_sealed_stamps();
        let (status, evidence, _) = staleness(&resealed.secrets[0], restarted, Some(at(103)));
        assert_eq!((status, evidence), (Status::Stale, Evidence::Time));

        // Edited in place after the controller's write: that write carries no stamp.
        let edited = unsealed_secret(&[("controller", 105, true), ("kubectl-edit", 110, false)]);
        assert_eq!(edited.sealed_stamp, None);
        let mut edited = Snapshot {
            secrets: vec![edited],
            sealed_secrets: vec![sealed_at(7)],
            ..Default::default()
        };
        edited.confirm_sealed_stamps();
        assert!(!edited.secrets[0].stamp_confirmed);
        let (status, evidence, _) = staleness(&edited.secrets[0], restarted, Some(at(106)));
        assert_eq!((status, evidence), (Status::Stale, Evidence::Time));
    }

    #[test]
    fn pods_are_attributed_to_their_deployment_through_the_replica_set() {
        let snapshot = Snapshot {
            secrets: vec![secret("app", &["TOKEN"], 100)],
            workloads: vec![Workload {
                id: WorkloadId {
                    namespace: "ns".into(),
                    kind: WorkloadKind::Deployment,
                    name: "api".into(),
                },
                spec: env_from_spec("app"),
                schedule: None,
                secret_revisions: BTreeMap::new(),
                last_restart: None,
            }],
            replica_sets: vec![ReplicaSetInfo {
                namespace: "ns".into(),
                name: "api-abc".into(),
                controller: Some(OwnerRef {
                    kind: "Deployment".into(),
                    name: "api".into(),
                }),
            }],
            pods: vec![
                pod("api-abc-1", Some(("ReplicaSet", "api-abc")), env_from_spec("app"), 50),
                pod("api-abc-2", Some(("ReplicaSet", "api-abc")), env_from_spec("app"), 150),
                pod("debug", None, env_from_spec("app"), 150),
            ],
            ..Default::default()
        };
        let report = assess(&snapshot, &options());
        let api = report.workloads.iter().find(|w| w.name == "api").unwrap();
        assert_eq!((api.status, api.pods, api.containers_checked), (Status::Stale, 2, 2));
        let stale: Vec<&str> = api
            .findings
            .iter()
            .filter(|f| f.status == Status::Stale)
            .map(|f| f.pod.as_str())
            .collect();
        assert_eq!(stale, ["api-abc-1"]);
        let bare = report.workloads.iter().find(|w| w.kind == WorkloadKind::Pod).unwrap();
        assert_eq!((bare.name.as_str(), bare.status), ("debug", Status::Ok));
        assert!(report.has_drift());
        assert_eq!(report.summary.stale, 1);
    }

    #[test]
    fn fix_restarts_stale_workloads_for_the_current_revisions() {
        let mut s = secret("app", &["TOKEN"], 100);
        s.revision = Some(4);
        let snapshot = Snapshot {
            secrets: vec![s],
            workloads: vec![Workload {
                id: WorkloadId {
                    namespace: "ns".into(),
                    kind: WorkloadKind::Deployment,
                    name: "api".into(),
                },
                spec: env_from_spec("app"),
                schedule: None,
                secret_revisions: BTreeMap::from([("other".to_string(), 2)]),
                last_restart: None,
            }],
            replica_sets: vec![ReplicaSetInfo {
                namespace: "ns".into(),
                name: "api-abc".into(),
                controller: Some(OwnerRef {
                    kind: "Deployment".into(),
                    name: "api".into(),
                }),
            }],
            pods: vec![
                pod("api-abc-1", Some(("ReplicaSet", "api-abc")), env_from_spec("app"), 50),
                pod("debug", None, env_from_spec("app"), 50),
            ],
            ..Default::default()
        };
        let report = assess(&snapshot, &options());
        let plan = fix_plan(&report, &snapshot);
        assert_eq!(plan.restart.len(), 1);
        assert_eq!(
            plan.restart[0].revisions,
            BTreeMap::from([("app".to_string(), 4), ("other".to_string(), 2)])
        );
        assert_eq!(
            plan.by_hand.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(),
            ["debug"]
        );
    }

    #[test]
    fn revocation_needs_exact_evidence_for_every_running_container() {
        let rotated_secret = rotated(secret("app", &["TOKEN"], 0), 2, 100);
        // Pods of Deployment api, whose template rotate restarted for revision 2.
        let owner = Some(("ReplicaSet", "api-abc"));
        let mut fresh = pod("api-1", owner, env_from_spec("app"), 150);
        fresh.secret_revisions.insert("app".into(), 2);
        let restarted_by_hand = pod("api-2", owner, env_from_spec("app"), 150);
        let api = Workload {
            id: WorkloadId {
                namespace: "ns".into(),
                kind: WorkloadKind::Deployment,
                name: "api".into(),
            },
            spec: env_from_spec("app"),
            schedule: None,
            secret_revisions: BTreeMap::from([("app".to_string(), 2)]),
            last_restart: None,
        };
        let replica_set = ReplicaSetInfo {
            namespace: "ns".into(),
            name: "api-abc".into(),
            controller: Some(OwnerRef {
                kind: "Deployment".into(),
                name: "api".into(),
            }),
        };
        let safe = assess(
            &Snapshot {
                secrets: vec![rotated_secret.clone()],
                workloads: vec![api.clone()],
                replica_sets: vec![replica_set.clone()],
                pods: vec![fresh.clone()],
                ..Default::default()
            },
            &options(),
        );
        assert_eq!(
            (safe.revocation[0].safe, safe.revocation[0].since),
            (true, Some(at(150)))
        );
        let unsure = assess(
            &Snapshot {
                secrets: vec![rotated_secret.clone()],
                workloads: vec![api.clone()],
                replica_sets: vec![replica_set.clone()],
                pods: vec![fresh.clone(), restarted_by_hand],
                ..Default::default()
            },
            &options(),
        );
        assert!(!unsure.revocation[0].safe, "time evidence is not enough to revoke");
        // A bare pod's own stamp is no evidence of anything: nothing anchors it.
        let mut bare = fresh;
        bare.controller = None;
        let unanchored = assess(
            &Snapshot {
                secrets: vec![rotated_secret.clone()],
                pods: vec![bare],
                ..Default::default()
            },
            &options(),
        );
        assert!(
            !unanchored.revocation[0].safe,
            "a stamp only the pod carries proves nothing"
        );
        let unused = assess(
            &Snapshot {
                secrets: vec![rotated_secret],
                ..Default::default()
            },
            &options(),
        );
        assert_eq!(
            (unused.revocation[0].safe, unused.revocation[0].since),
            (true, Some(at(100)))
        );
        let never_rotated = assess(
            &Snapshot {
                secrets: vec![secret("app", &["TOKEN"], 0)],
                ..Default::default()
            },
            &options(),
        );
        assert!(never_rotated.revocation.is_empty());
    }

    #[test]
    fn containers_that_are_not_running_are_not_judged_stale() {
        let mut waiting = pod("api-1", None, env_from_spec("app"), 0);
        waiting.containers.insert(
            "app".into(),
            ContainerState::Waiting {
                reason: "CrashLoopBackOff".into(),
            },
        );
        let snapshot = Snapshot {
            secrets: vec![secret("app", &["TOKEN"], 100)],
            pods: vec![waiting],
            ..Default::default()
        };
        let report = assess(&snapshot, &options());
        assert_eq!(report.workloads[0].containers_checked, 0);
        assert_eq!(report.workloads[0].status, Status::Ok);
    }

    #[test]
    fn unused_secrets_exclude_system_types_and_referenced_ones() {
        let mut token = secret("sa-token", &[], 0);
        token.type_ = "kubernetes.io/service-account-token".into();
        let mut sealed_key = secret("sealed-secrets-key", &[], 0);
        sealed_key
            .labels
            .insert("sealedsecrets.bitnami.com/sealed-secrets-key".into(), "active".into());
        let spec = PodSpecInfo {
            containers: vec![ContainerSpec {
                name: "app".into(),
                env: vec![EnvVar {
                    name: "X".into(),
                    value: EnvValue::SecretKey {
                        secret: "used".into(),
                        key: "k".into(),
                        optional: false,
                    },
                }],
                ..Default::default()
            }],
            volumes: vec![],
            ..Default::default()
        };
        let snapshot = Snapshot {
            secrets: vec![
                secret("used", &["k"], 0),
                secret("lonely", &["k"], 0),
                token,
                sealed_key,
            ],
            pods: vec![pod("p", None, spec, 10)],
            ..Default::default()
        };
        let report = assess(&snapshot, &options());
        let unused: Vec<&str> = report.unused_secrets.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(unused, ["lonely"]);
        let narrowed = assess(
            &snapshot,
            &Options {
                report_unused: false,
                ..options()
            },
        );
        assert!(narrowed.unused_secrets.is_empty());
    }

    #[test]
    fn secret_filter_keeps_only_its_consumers_and_findings() {
        let snapshot = Snapshot {
            secrets: vec![secret("a", &["K"], 100), secret("b", &["K"], 100)],
            pods: vec![
                pod("uses-a", None, env_from_spec("a"), 50),
                pod("uses-b", None, env_from_spec("b"), 150),
            ],
            ..Default::default()
        };
        let report = assess(
            &snapshot,
            &Options {
                secret: Some("b"),
                report_unused: false,
                ..options()
            },
        );
        assert_eq!(report.workloads.len(), 1);
        assert_eq!(report.workloads[0].name, "uses-b");
        assert!(!report.has_drift());
    }
}
