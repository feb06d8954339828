//! The plain facts `core` reasons about, and their conversion from API objects. A Secret is
//! reduced to its key names and change times here: verify never holds a value.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::Timestamp;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{self as corev1, ConfigMap, Pod, PodSpec, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde::{Deserialize, Serialize};

use super::annotations;
use super::tls::{self, TlsCert};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct OwnerRef {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default)]
pub struct SecretInfo {
    pub namespace: String,
    pub name: String,
    pub type_: String,
    pub keys: BTreeSet<String>,
    /// The latest moment the data may have changed: rotate's annotation, or the newest
    /// managedFields entry that owns `data`/`stringData`.
    pub data_changed_at: Option<Timestamp>,
    /// Revision written by rotate; with `rotated_at` it gives exact staleness evidence.
    pub revision: Option<u64>,
    pub rotated_at: Option<Timestamp>,
    /// What kubectl-secrets recorded as the last change ("kubectl-secrets rotate by alice").
    pub changed_by: Option<String>,
    pub created_at: Option<Timestamp>,
    /// The controller that writes it: SealedSecret, ExternalSecret, or nobody.
    pub owner: Option<OwnerRef>,
    /// Argo CD, Flux or Helm, which write it back from their source at the next sync.
    pub gitops: Option<super::gitops::GitOpsOwner>,
    pub labels: BTreeMap<String, String>,
    /// The certificate in `tls.crt`, when there is one (the key is never read).
    pub tls: Option<TlsCert>,
    /// For a Secret External Secrets writes: its data differs from what the last sync wrote
    /// (someone changed it since; the next refresh reverts it).
    pub edited_since_sync: bool,
    /// When each key last changed (kubectl-secrets' record, when it can be trusted).
    pub key_changes: Option<super::key_changes::KeyChanges>,
    /// The revision whose "safe to revoke" a change already said.
    pub revocation_said: Option<u64>,
    /// Key → the Secret of the same namespace holding the administrator's password its issuer
    /// annotation names (`issuer.kubectl-secrets.io/KEY: ...,admin=SECRET/KEY`).
    pub issuer_admins: BTreeMap<String, String>,
    /// The cert-manager Certificate that issued it (cert-manager's annotation).
    pub cert_manager_certificate: Option<String>,
    /// For a Secret a SealedSecret controller writes: the SealedSecret generation its stamp
    /// came from, given only when every write of the data after the stamp's time carried that
    /// stamp (a later `kubectl edit` of the data gives none).
    pub sealed_stamp: Option<i64>,
    /// The stamp is confirmed to describe the current data although the data was written
    /// after its time: the SealedSecret is still at `sealed_stamp` (`Snapshot::confirm_sealed_stamps`).
    pub stamp_confirmed: bool,
}

impl SecretInfo {
    /// When its data last changed, as well as can be told (for ages and rotation policies).
    pub fn data_age_since(&self) -> Option<Timestamp> {
        self.data_changed_at.or(self.created_at)
    }
}

/// A ConfigMap as the kubelet's environment sees it: the names of its `data` keys (the kubelet
/// reads no `binaryData` into env). Values are never kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigMapInfo {
    pub namespace: String,
    pub name: String,
    pub keys: BTreeSet<String>,
}

impl From<&ConfigMap> for ConfigMapInfo {
    fn from(config_map: &ConfigMap) -> Self {
        let (namespace, name) = name_and_namespace(&config_map.metadata);
        ConfigMapInfo {
            namespace,
            name,
            keys: config_map.data.iter().flatten().map(|(k, _)| k.clone()).collect(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
    DaemonSet,
    ReplicaSet,
    Job,
    CronJob,
    /// An Argo Rollout (argoproj.io/v1alpha1).
    Rollout,
    Pod,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::Rollout => "Rollout",
            WorkloadKind::Pod => "Pod",
        }
    }

    /// Workloads whose pods a pod-template annotation replaces.
    pub fn restartable(self) -> bool {
        matches!(
            self,
            WorkloadKind::Deployment | WorkloadKind::StatefulSet | WorkloadKind::DaemonSet | WorkloadKind::Rollout
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct WorkloadId {
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
}

impl std::fmt::Display for WorkloadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind.as_str().to_lowercase(), self.name)
    }
}

#[derive(Debug, Clone)]
pub struct Workload {
    pub id: WorkloadId,
    pub spec: PodSpecInfo,
    /// For a CronJob: its schedule (its pods are those of the Jobs it starts).
    pub schedule: Option<CronSchedule>,
    /// Secret name → revision the pod template was last restarted for (written by rotate).
    pub secret_revisions: BTreeMap<String, u64>,
    /// The last restart kubectl-secrets made of it (absent, or unreadable: none known).
    pub last_restart: Option<super::restart_budget::LastRestart>,
}

#[derive(Debug, Clone)]
pub struct ReplicaSetInfo {
    pub namespace: String,
    pub name: String,
    pub controller: Option<OwnerRef>,
}

#[derive(Debug, Clone)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub controller: Option<OwnerRef>,
    /// Shared between pods of the same template (see `PodSpecs`): 20,000 pods hold a few
    /// hundred specs, not 20,000 copies.
    pub spec: Arc<PodSpecInfo>,
    /// Secret name → revision the pod template was restarted for (written by rotate).
    pub secret_revisions: BTreeMap<String, u64>,
    pub containers: BTreeMap<String, ContainerState>,
    pub uid: String,
    /// Being deleted: when its grace period ends (its containers may run until then).
    pub terminating_until: Option<Timestamp>,
    /// When the pod was created: anything rendered into it once at start was rendered after.
    pub created: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running { started_at: Option<Timestamp> },
    Waiting { reason: String },
    Terminated { reason: String },
    NotStarted,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct PodSpecInfo {
    pub containers: Vec<ContainerSpec>,
    pub volumes: Vec<SecretVolume>,
    /// What Vault's Agent Injector renders into the pod (from the template's annotations).
    pub vault_agent: Vec<super::vault_agent::AgentRead>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ContainerSpec {
    pub name: String,
    /// The image reference (a database image's first-start-only env vars are told apart by it).
    pub image: String,
    pub env_from: Vec<EnvFrom>,
    pub env: Vec<EnvVar>,
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnvFrom {
    Secret {
        name: String,
        prefix: String,
        optional: bool,
    },
    ConfigMap {
        name: String,
        prefix: String,
        optional: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVar {
    pub name: String,
    pub value: EnvValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EnvValue {
    Literal,
    SecretKey {
        secret: String,
        key: String,
        optional: bool,
    },
    ConfigMapKey {
        config_map: String,
        key: String,
        optional: bool,
    },
    Field,
    Resource,
    File,
}

/// A pod volume that projects one or more Secrets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretVolume {
    pub volume: String,
    pub sources: Vec<VolumeSecret>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct VolumeSecret {
    pub secret: String,
    /// Keys listed in `items`; `None` projects every key.
    pub items: Option<Vec<String>>,
    /// For `items`: the file each key is written to (path → key).
    pub item_paths: BTreeMap<String, String>,
    pub optional: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Mount {
    pub volume: String,
    pub path: String,
    /// subPath mounts are copied once at container start and never updated.
    pub sub_path: bool,
    /// The file a literal subPath names (None for subPathExpr, which depends on the pod).
    pub sub_path_file: Option<String>,
}

/// One copy of each distinct pod spec: pods made from the same template share it (equal
/// specs only, compared whole, so a pod changed by an admission webhook keeps its own).
#[derive(Default)]
pub struct PodSpecs(std::collections::HashSet<Arc<PodSpecInfo>>);

impl PodSpecs {
    pub fn share(&mut self, pod: &mut PodInfo) {
        match self.0.get(&pod.spec) {
            Some(shared) => pod.spec = Arc::clone(shared),
            None => {
                self.0.insert(Arc::clone(&pod.spec));
            }
        }
    }
}

// ---- conversions from API objects ----------------------------------------------------------

fn controller_of(meta: &ObjectMeta) -> Option<OwnerRef> {
    meta.owner_references
        .as_ref()?
        .iter()
        .find(|o: &&OwnerReference| o.controller == Some(true))
        .map(|o| OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        })
}

/// When the newest managedFields entry that owns a Secret's `data`/`stringData` was written
/// (whole seconds), leaving out the field manager `except` when given.
pub fn last_data_change(meta: &ObjectMeta, except: Option<&str>) -> Option<Timestamp> {
    meta.managed_fields
        .iter()
        .flatten()
        .filter(|entry| except.is_none() || entry.manager.as_deref() != except)
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:data").is_some() || f.0.get("f:stringData").is_some())
        })
        .filter_map(|entry| entry.time.as_ref().map(|t| t.0))
        .max()
}

/// Whether every managedFields entry that owns the data and was written after the stamp's
/// time (with the second of slack the stamp's own write may take) also owns the sealed stamp:
/// the controller wrote the data and the stamp together, nobody else touched the data since.
fn later_data_writes_carry_stamp(meta: &ObjectMeta, rotated_at: Option<Timestamp>) -> bool {
    let Some(rotated_at) = rotated_at else {
        return false;
    };
    let stamp_field = format!("f:{}", annotations::SEALED_GENERATION);
    meta.managed_fields.iter().flatten().all(|entry| {
        let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
            return true;
        };
        let owns_data = fields.get("f:data").is_some() || fields.get("f:stringData").is_some();
        let later = entry
            .time
            .as_ref()
            .is_none_or(|t| t.0 > rotated_at + jiff::SignedDuration::from_secs(1));
        !(owns_data && later) || fields["f:metadata"]["f:annotations"].get(&stamp_field).is_some()
    })
}

fn name_and_namespace(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

fn parse_time(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// The admin Secrets a Secret's issuer annotations name (an annotation that does not parse
/// names none: `rotate` says what is wrong with it).
fn issuer_admins(annotations: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    use super::issuer::{AdminRef, IssuerSpec, Origin, ANNOTATION_PREFIX};
    annotations
        .iter()
        .filter_map(|(name, text)| {
            let key = name.strip_prefix(ANNOTATION_PREFIX)?;
            match IssuerSpec::parse(text, Origin::Annotation).ok()?.admin {
                AdminRef::Secret { secret, .. } => Some((key.to_string(), secret)),
                AdminRef::Own => None,
            }
        })
        .collect()
}

impl From<&Secret> for SecretInfo {
    fn from(secret: &Secret) -> Self {
        let meta = &secret.metadata;
        let (namespace, name) = name_and_namespace(meta);
        let annotations = meta.annotations.clone().unwrap_or_default();
        let rotated_at = annotations.get(annotations::ROTATED_AT).and_then(|t| parse_time(t));
        let revision = annotations.get(annotations::REVISION).and_then(|r| r.parse().ok());
        let managed_change = last_data_change(meta, None);
        let mut keys: BTreeSet<String> = secret.data.iter().flatten().map(|(k, _)| k.clone()).collect();
        keys.extend(secret.string_data.iter().flatten().map(|(k, _)| k.clone()));
        SecretInfo {
            namespace,
            name,
            type_: secret.type_.clone().unwrap_or_else(|| "Opaque".into()),
            keys,
            data_changed_at: [managed_change, rotated_at].into_iter().flatten().max(),
            revision,
            rotated_at,
            changed_by: annotations.get(annotations::CHANGED_BY).cloned(),
            cert_manager_certificate: annotations.get(tls::CERT_MANAGER_CERTIFICATE).cloned(),
            created_at: meta.creation_timestamp.as_ref().map(|t| t.0),
            owner: controller_of(meta),
            gitops: super::gitops::owner_of(meta),
            labels: meta.labels.clone().unwrap_or_default(),
            tls: secret
                .data
                .as_ref()
                .and_then(|d| d.get(tls::CERT_KEY))
                .map(|cert| tls::parse(&cert.0, &annotations)),
            edited_since_sync: annotations.get(super::external::DATA_HASH).is_some_and(|recorded| {
                let data = secret.data.iter().flatten().map(|(k, v)| (k, v.0.as_slice()));
                !super::external::written_by_last_sync(data, recorded)
            }),
            key_changes: super::key_changes::read(meta),
            revocation_said: annotations
                .get(annotations::REVOCATION_SAID)
                .and_then(|r| r.parse().ok()),
            issuer_admins: issuer_admins(&annotations),
            sealed_stamp: annotations
                .get(annotations::SEALED_GENERATION)
                .and_then(|g| g.parse().ok())
                .filter(|_| later_data_writes_carry_stamp(meta, rotated_at)),
            stamp_confirmed: false,
        }
    }
}

impl From<&PodSpec> for PodSpecInfo {
    fn from(spec: &PodSpec) -> Self {
        let volumes: Vec<SecretVolume> = spec.volumes.iter().flatten().filter_map(secret_volume).collect();
        let init = spec.init_containers.iter().flatten();
        let containers = init
            .chain(&spec.containers)
            .map(container_spec)
            .map(|mut container| {
                // Only mounts of Secret volumes matter; the others (the per-pod service account
                // token volume) would make every pod's spec differ from its template's.
                container
                    .mounts
                    .retain(|m| volumes.iter().any(|v| v.volume == m.volume));
                container
            })
            .collect();
        PodSpecInfo {
            containers,
            volumes,
            vault_agent: Vec::new(),
        }
    }
}

impl PodSpecInfo {
    /// The spec of a pod or pod template, with what its annotations ask Vault's injector for.
    fn with_metadata(spec: Option<&PodSpec>, meta: Option<&ObjectMeta>) -> Self {
        let mut info = spec.map(PodSpecInfo::from).unwrap_or_default();
        if let Some(annotations) = meta.and_then(|m| m.annotations.as_ref()) {
            info.vault_agent = super::vault_agent::reads(annotations);
        }
        info
    }
}

fn container_spec(container: &corev1::Container) -> ContainerSpec {
    let env_from = container
        .env_from
        .iter()
        .flatten()
        .filter_map(|source| {
            let prefix = source.prefix.clone().unwrap_or_default();
            if let Some(s) = &source.secret_ref {
                Some(EnvFrom::Secret {
                    name: s.name.clone(),
                    prefix,
                    optional: s.optional.unwrap_or(false),
                })
            } else {
                source.config_map_ref.as_ref().map(|c| EnvFrom::ConfigMap {
                    name: c.name.clone(),
                    prefix,
                    optional: c.optional.unwrap_or(false),
                })
            }
        })
        .collect();
    let env = container
        .env
        .iter()
        .flatten()
        .map(|var| EnvVar {
            name: var.name.clone(),
            value: env_value(var),
        })
        .collect();
    let mounts = container
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| Mount {
            volume: m.name.clone(),
            path: m.mount_path.clone(),
            sub_path: m.sub_path.as_deref().is_some_and(|p| !p.is_empty())
                || m.sub_path_expr.as_deref().is_some_and(|p| !p.is_empty()),
            sub_path_file: m.sub_path.clone().filter(|p| !p.is_empty()),
        })
        .collect();
    ContainerSpec {
        name: container.name.clone(),
        image: container.image.clone().unwrap_or_default(),
        env_from,
        env,
        mounts,
    }
}

fn env_value(var: &corev1::EnvVar) -> EnvValue {
    let Some(from) = &var.value_from else {
        return EnvValue::Literal;
    };
    if let Some(s) = &from.secret_key_ref {
        EnvValue::SecretKey {
            secret: s.name.clone(),
            key: s.key.clone(),
            optional: s.optional.unwrap_or(false),
        }
    } else if let Some(c) = &from.config_map_key_ref {
        EnvValue::ConfigMapKey {
            config_map: c.name.clone(),
            key: c.key.clone(),
            optional: c.optional.unwrap_or(false),
        }
    } else if from.field_ref.is_some() {
        EnvValue::Field
    } else if from.resource_field_ref.is_some() {
        EnvValue::Resource
    } else {
        EnvValue::File
    }
}

fn secret_volume(volume: &corev1::Volume) -> Option<SecretVolume> {
    let items =
        |items: &Option<Vec<corev1::KeyToPath>>| items.as_ref().map(|i| i.iter().map(|k| k.key.clone()).collect());
    let item_paths = |items: &Option<Vec<corev1::KeyToPath>>| {
        items
            .iter()
            .flatten()
            .map(|k| (k.path.trim_start_matches("./").to_string(), k.key.clone()))
            .collect()
    };
    let mut sources = Vec::new();
    if let Some(s) = &volume.secret {
        sources.push(VolumeSecret {
            secret: s.secret_name.clone().unwrap_or_default(),
            items: items(&s.items),
            item_paths: item_paths(&s.items),
            optional: s.optional.unwrap_or(false),
        });
    }
    if let Some(projected) = &volume.projected {
        for source in projected.sources.iter().flatten() {
            if let Some(s) = &source.secret {
                sources.push(VolumeSecret {
                    secret: s.name.clone(),
                    items: items(&s.items),
                    item_paths: item_paths(&s.items),
                    optional: s.optional.unwrap_or(false),
                });
            }
        }
    }
    (!sources.is_empty()).then(|| SecretVolume {
        volume: volume.name.clone(),
        sources,
    })
}

fn template_spec(template: &corev1::PodTemplateSpec) -> PodSpecInfo {
    PodSpecInfo::with_metadata(template.spec.as_ref(), template.metadata.as_ref())
}

pub(super) fn workload(kind: WorkloadKind, meta: &ObjectMeta, template: Option<&corev1::PodTemplateSpec>) -> Workload {
    let (namespace, name) = name_and_namespace(meta);
    let secret_revisions = template
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.get(annotations::POD_SECRET_REVISIONS))
        .map(|text| annotations::parse_revisions(text))
        .unwrap_or_default();
    let last_restart = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotations::LAST_RESTART))
        .and_then(|text| serde_json::from_str(text).ok());
    Workload {
        id: WorkloadId { kind, namespace, name },
        spec: template.map(template_spec).unwrap_or_default(),
        schedule: None,
        secret_revisions,
        last_restart,
    }
}

impl From<&Deployment> for Workload {
    fn from(d: &Deployment) -> Self {
        workload(WorkloadKind::Deployment, &d.metadata, Some(&d.spec.template))
    }
}

impl From<&StatefulSet> for Workload {
    fn from(s: &StatefulSet) -> Self {
        workload(WorkloadKind::StatefulSet, &s.metadata, Some(&s.spec.template))
    }
}

impl From<&DaemonSet> for Workload {
    fn from(d: &DaemonSet) -> Self {
        workload(WorkloadKind::DaemonSet, &d.metadata, Some(&d.spec.template))
    }
}

/// A CronJob's schedule and when it next starts a Job (whose pods read the current values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CronSchedule {
    pub schedule: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub suspended: bool,
    /// Filled in when read (it depends on the time): None when suspended or not computable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run: Option<Timestamp>,
    /// Why the next run could not be computed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl From<&CronJob> for Workload {
    fn from(c: &CronJob) -> Self {
        let template = c.spec.job_template.spec.as_ref().map(|s| &s.template);
        let mut workload = workload(WorkloadKind::CronJob, &c.metadata, template);
        workload.schedule = Some(CronSchedule {
            schedule: c.spec.schedule.clone(),
            time_zone: c.spec.time_zone.clone(),
            suspended: c.spec.suspend.unwrap_or(false),
            next_run: None,
            problem: None,
        });
        workload
    }
}

/// A ReplicaSet is known by its metadata alone (read through the metadata-only LIST).
impl From<&ObjectMeta> for ReplicaSetInfo {
    fn from(meta: &ObjectMeta) -> Self {
        let (namespace, name) = name_and_namespace(meta);
        ReplicaSetInfo {
            namespace,
            name,
            controller: controller_of(meta),
        }
    }
}

impl From<&Pod> for PodInfo {
    fn from(pod: &Pod) -> Self {
        let (namespace, name) = name_and_namespace(&pod.metadata);
        let secret_revisions = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(annotations::POD_SECRET_REVISIONS))
            .map(|text| annotations::parse_revisions(text))
            .unwrap_or_default();
        let mut containers = BTreeMap::new();
        if let Some(status) = &pod.status {
            let all = status
                .init_container_statuses
                .iter()
                .flatten()
                .chain(status.container_statuses.iter().flatten());
            for cs in all {
                containers.insert(cs.name.clone(), container_state(cs.state.as_ref()));
            }
        }
        PodInfo {
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            terminating_until: pod.metadata.deletion_timestamp.as_ref().map(|t| t.0),
            created: pod.metadata.creation_timestamp.as_ref().map(|t| t.0),
            namespace,
            name,
            controller: controller_of(&pod.metadata),
            spec: Arc::new(PodSpecInfo::with_metadata(pod.spec.as_ref(), Some(&pod.metadata))),
            secret_revisions,
            containers,
        }
    }
}

fn container_state(state: Option<&corev1::ContainerState>) -> ContainerState {
    let Some(state) = state else {
        return ContainerState::NotStarted;
    };
    if let Some(running) = &state.running {
        ContainerState::Running {
            started_at: running.started_at.as_ref().map(|t| t.0),
        }
    } else if let Some(waiting) = &state.waiting {
        ContainerState::Waiting {
            reason: waiting.reason.clone().unwrap_or_default(),
        }
    } else if let Some(terminated) = &state.terminated {
        ContainerState::Terminated {
            reason: terminated.reason.clone().unwrap_or_default(),
        }
    } else {
        ContainerState::NotStarted
    }
}

/// A SealedSecret and whether the controller managed to unseal it (its Synced condition).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretInfo {
    pub namespace: String,
    pub name: String,
    /// Its spec's generation (what a Secret's sealed stamp is compared with).
    #[serde(skip)]
    pub generation: i64,
    /// None: the controller has not reported yet.
    pub synced: Option<bool>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl SealedSecretInfo {
    pub fn from_object(meta: &ObjectMeta, status: &serde_json::Value) -> Self {
        let (namespace, name) = name_and_namespace(meta);
        let condition = status["conditions"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "Synced"));
        SealedSecretInfo {
            namespace,
            name,
            generation: meta.generation.unwrap_or(0),
            synced: condition.and_then(|c| c["status"].as_str()).map(|s| s == "True"),
            message: condition
                .and_then(|c| c["message"].as_str())
                .unwrap_or_default()
                .to_string(),
        }
    }
}

/// A SealedSecret as a change reads it: its ciphertexts, its template's annotations (copied by
/// the controller onto the Secret it unseals), and the journal and backup record a change keeps
/// on it (the SealedSecret is the object such a change writes).
#[derive(Debug, Clone, Default)]
pub struct SealedSecretState {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub resource_version: String,
    pub generation: i64,
    pub encrypted: BTreeMap<String, String>,
    pub template_annotations: BTreeMap<String, String>,
    pub journal: Option<Result<super::journal::Journal, String>>,
    pub backup_record: Vec<super::journal::RecordedBackup>,
    pub status: SealedSecretInfo,
    /// The generation the controller's status speaks of (0: it has not reported yet).
    pub observed_generation: i64,
}

impl SealedSecretState {
    pub fn from_object(meta: &ObjectMeta, spec: &serde_json::Value, status: &serde_json::Value) -> Self {
        let (namespace, name) = name_and_namespace(meta);
        let annotations = meta.annotations.clone().unwrap_or_default();
        let strings = |value: &serde_json::Value| -> BTreeMap<String, String> {
            value
                .as_object()
                .map(|o| {
                    o.iter()
                        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        SealedSecretState {
            namespace,
            name,
            uid: meta.uid.clone().unwrap_or_default(),
            resource_version: meta.resource_version.clone().unwrap_or_default(),
            generation: meta.generation.unwrap_or(0),
            encrypted: strings(&spec["encryptedData"]),
            template_annotations: strings(&spec["template"]["metadata"]["annotations"]),
            journal: annotations
                .get(annotations::JOURNAL)
                .map(|j| super::journal::parse_journal(j)),
            backup_record: annotations
                .get(annotations::BACKUPS)
                .and_then(|r| super::journal::parse_record(r).ok())
                .unwrap_or_default(),
            status: SealedSecretInfo::from_object(meta, status),
            observed_generation: status["observedGeneration"].as_i64().unwrap_or(0),
        }
    }

    /// The rotation id its template stamps on the Secret (what a journal on it is anchored to).
    pub fn template_rotation_id(&self) -> Option<&str> {
        self.template_annotations
            .get(annotations::ROTATION_ID)
            .map(String::as_str)
    }
}
