//! External Secrets Operator: what an ExternalSecret syncs from, which provider value each
//! Kubernetes key comes from, and the new provider values a rotation writes. Pure: the objects
//! come in as JSON read by `cluster::external`, the provider's values as strings.
//!
//! Only mappings the plugin can reverse exactly are written to: `data[]` entries and
//! `dataFrom[].extract` of the provider's current version, the whole value or a top-level
//! JSON property, with no template computing the key and no decoding. Anything else is refused
//! with the reason (the person changes the value at the provider and uses `rotate --synced`).

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::secret_value::SecretValue;

/// The annotation ESO watches to sync at once (any new value).
pub const FORCE_SYNC: &str = "force-sync";
/// The AWS stages of AWS's own rotation model.
pub const AWS_CURRENT: &str = "AWSCURRENT";
pub const AWS_PENDING: &str = "AWSPENDING";
pub const AWS_PREVIOUS: &str = "AWSPREVIOUS";

/// An ExternalSecret as read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExternalSecretState {
    pub namespace: String,
    pub name: String,
    pub resource_version: String,
    pub generation: i64,
    pub store: StoreRef,
    /// The Secret it writes (spec.target.name, else its own name).
    pub target: String,
    pub refresh_interval: Option<String>,
    /// spec.refreshPolicy: Periodic (the default), OnChange or CreatedOnce.
    pub refresh_policy: Option<String>,
    pub mappings: Vec<KeyMapping>,
    /// `dataFrom[].extract.key`: every top-level property of these remote secrets is a key.
    pub extracts: Vec<String>,
    /// What makes keys the plugin cannot map back (template data, find, rewrite, decoding...).
    pub unmappable: Vec<String>,
    /// Keys a template computes (or every key: templateFrom / template with mergePolicy Replace).
    pub templated: BTreeSet<String>,
    pub templates_everything: bool,
    pub status: SyncStatus,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreRef {
    /// SecretStore or ClusterSecretStore.
    pub kind: String,
    pub name: String,
}

impl StoreRef {
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.name)
    }
}

/// One `data[]` entry: Kubernetes key ← remote secret (and property).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMapping {
    pub secret_key: String,
    pub remote_key: String,
    pub property: Option<String>,
    pub version: Option<String>,
}

/// The controller's last word on the ExternalSecret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// The Ready condition: Some(true) synced, Some(false) failing.
    pub ready: Option<bool>,
    pub reason: String,
    pub message: String,
    pub refresh_time: Option<Timestamp>,
    pub synced_resource_version: String,
}

/// The store's provider, as far as the plugin cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provider {
    /// AWS Secrets Manager in a region (the one provider the plugin writes to).
    AwsSecretsManager { region: String },
    /// HashiCorp Vault's KV secrets engine at `mount` (KV v2 is written to; v1 only named).
    Vault {
        /// The address External Secrets reads (never sent the operator's token: see `cluster::vault`).
        server: String,
        mount: String,
        /// "v2" or "v1".
        kv: String,
        /// The store's Vault Enterprise namespace, if it names one.
        namespace: Option<String>,
    },
    /// Any other provider (or AWS Parameter Store): named, never written to.
    Other(String),
}

impl Provider {
    /// Whether `key` read through this provider and `other_key` read through `other` may be the
    /// same remote secret. AWS: the same secret (name or ARN) in the same region. Vault: the
    /// same path under the same mount and Vault namespace; the address is not compared, since
    /// one server answers under several names (in-cluster DNS, an ingress): taking two servers
    /// for one only asks for --allow-shared-remote, while missing a reader would change another
    /// team's Secret unasked.
    pub fn same_remote(&self, key: &str, other: &Provider, other_key: &str) -> bool {
        match (self, other) {
            (Provider::AwsSecretsManager { region: a }, Provider::AwsSecretsManager { region: b }) => {
                a == b && aws_secret_name(key) == aws_secret_name(other_key)
            }
            (
                Provider::Vault {
                    mount: a,
                    namespace: na,
                    ..
                },
                Provider::Vault {
                    mount: b,
                    namespace: nb,
                    ..
                },
            ) => {
                a == b
                    && na == nb
                    && super::vault_kv::relative_path(a, key) == super::vault_kv::relative_path(b, other_key)
            }
            _ => false,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Provider::AwsSecretsManager { region } => format!("AWS Secrets Manager ({region})"),
            Provider::Vault {
                server,
                mount,
                kv,
                namespace,
            } => {
                let namespace = namespace
                    .as_ref()
                    .map(|n| format!(", namespace {n}"))
                    .unwrap_or_default();
                format!("HashiCorp Vault ({server}, KV {kv} at {mount}/{namespace})")
            }
            Provider::Other(name) => name.clone(),
        }
    }
}

fn text(v: &Value, path: &[&str]) -> Option<String> {
    let mut at = v;
    for step in path {
        at = at.get(step)?;
    }
    at.as_str().map(str::to_string)
}

/// Read an ExternalSecret object (any served version: v1 and v1beta1 agree on these fields).
pub fn parse_external_secret(object: &Value) -> ExternalSecretState {
    let meta = &object["metadata"];
    let spec = &object["spec"];
    let name = text(meta, &["name"]).unwrap_or_default();
    let mut unmappable = Vec::new();
    let mut mappings = Vec::new();
    for entry in spec["data"].as_array().into_iter().flatten() {
        let remote = &entry["remoteRef"];
        if entry.get("sourceRef").is_some_and(|s| !s.is_null()) {
            unmappable.push(format!(
                "{} comes from a sourceRef (another store or a generator)",
                text(entry, &["secretKey"]).unwrap_or_default()
            ));
            continue;
        }
        if let Some(strategy) = text(remote, &["decodingStrategy"]).filter(|s| s != "None") {
            unmappable.push(format!(
                "{} is decoded ({strategy})",
                text(entry, &["secretKey"]).unwrap_or_default()
            ));
            continue;
        }
        mappings.push(KeyMapping {
            secret_key: text(entry, &["secretKey"]).unwrap_or_default(),
            remote_key: text(remote, &["key"]).unwrap_or_default(),
            property: text(remote, &["property"]).filter(|p| !p.is_empty()),
            version: text(remote, &["version"]).filter(|v| !v.is_empty()),
        });
    }
    let mut extracts = Vec::new();
    for entry in spec["dataFrom"].as_array().into_iter().flatten() {
        if let Some(extract) = entry.get("extract").filter(|e| !e.is_null()) {
            let plain = text(extract, &["version"]).is_none_or(|v| v.is_empty() || v == AWS_CURRENT)
                && text(extract, &["property"]).is_none_or(|p| p.is_empty())
                && text(extract, &["decodingStrategy"]).is_none_or(|s| s == "None")
                && text(extract, &["conversionStrategy"]).is_none_or(|s| s == "Default")
                && entry["rewrite"].as_array().is_none_or(|r| r.is_empty());
            if plain {
                extracts.push(text(extract, &["key"]).unwrap_or_default());
            } else {
                unmappable.push(format!(
                    "dataFrom extract of {} is rewritten, decoded or pinned",
                    text(extract, &["key"]).unwrap_or_default()
                ));
            }
        } else if entry.get("find").is_some_and(|f| !f.is_null()) {
            unmappable.push("dataFrom find (keys from a search of the store)".into());
        } else if entry.get("sourceRef").is_some_and(|s| !s.is_null()) {
            unmappable.push("dataFrom from a generator or another store".into());
        }
    }
    let template = &spec["target"]["template"];
    let templated: BTreeSet<String> = template["data"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let templates_everything = template["templateFrom"].as_array().is_some_and(|t| !t.is_empty())
        || (template.is_object()
            && text(template, &["mergePolicy"]).is_none_or(|p| p == "Replace")
            && !templated.is_empty());
    let ready = object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready");
    ExternalSecretState {
        namespace: text(meta, &["namespace"]).unwrap_or_default(),
        resource_version: text(meta, &["resourceVersion"]).unwrap_or_default(),
        generation: meta["generation"].as_i64().unwrap_or(0),
        store: StoreRef {
            kind: text(spec, &["secretStoreRef", "kind"]).unwrap_or_else(|| "SecretStore".into()),
            name: text(spec, &["secretStoreRef", "name"]).unwrap_or_default(),
        },
        target: text(spec, &["target", "name"])
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| name.clone()),
        name,
        refresh_interval: text(spec, &["refreshInterval"]),
        refresh_policy: text(spec, &["refreshPolicy"]),
        mappings,
        extracts,
        unmappable,
        templated,
        templates_everything,
        status: SyncStatus {
            ready: ready.and_then(|c| c["status"].as_str()).map(|s| s == "True"),
            reason: ready.and_then(|c| text(c, &["reason"])).unwrap_or_default(),
            message: ready.and_then(|c| text(c, &["message"])).unwrap_or_default(),
            refresh_time: text(&object["status"], &["refreshTime"]).and_then(|t| t.parse().ok()),
            synced_resource_version: text(&object["status"], &["syncedResourceVersion"]).unwrap_or_default(),
        },
    }
}

impl ExternalSecretState {
    /// Every remote secret it reads (`dataFrom[].extract` and `data[]`), each once, in order.
    pub fn remotes(&self) -> BTreeSet<&String> {
        self.extracts
            .iter()
            .chain(self.mappings.iter().map(|m| &m.remote_key))
            .collect()
    }

    /// Why a force-sync would not make ESO read the provider again, if it would not.
    pub fn never_resyncs(&self) -> Option<String> {
        match self.refresh_policy.as_deref() {
            Some("CreatedOnce") => Some("its refreshPolicy is CreatedOnce: it synced once and never again".into()),
            Some("OnChange") => None,
            _ if matches!(self.refresh_interval.as_deref(), Some("0") | Some("0s")) => {
                Some("its refreshInterval is 0: External Secrets syncs it once and ignores force-sync".into())
            }
            _ => None,
        }
    }
}

/// Read a (Cluster)SecretStore's provider.
pub fn parse_provider(store: &Value) -> Provider {
    let provider = &store["spec"]["provider"];
    let Some(map) = provider.as_object() else {
        return Provider::Other("no provider".into());
    };
    match map.get("aws") {
        Some(aws) if text(aws, &["service"]).is_none_or(|s| s == "SecretsManager") => Provider::AwsSecretsManager {
            region: text(aws, &["region"]).unwrap_or_default(),
        },
        Some(_) => Provider::Other("AWS Parameter Store".into()),
        None => match map.get("vault") {
            Some(vault) => Provider::Vault {
                server: text(vault, &["server"]).unwrap_or_default(),
                mount: text(vault, &["path"]).unwrap_or_default().trim_matches('/').to_string(),
                kv: text(vault, &["version"]).unwrap_or_else(|| "v2".into()),
                namespace: text(vault, &["namespace"]).filter(|n| !n.is_empty()),
            },
            None => Provider::Other(map.keys().next().cloned().unwrap_or_else(|| "unknown".into())),
        },
    }
}

/// Where one Kubernetes key's value lives at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteField {
    pub remote_key: String,
    /// A top-level JSON property of the remote value; None: the whole value.
    pub property: Option<String>,
}

impl RemoteField {
    pub fn describe(&self) -> String {
        match &self.property {
            Some(p) => format!("{} (property {p})", self.remote_key),
            None => self.remote_key.clone(),
        }
    }
}

/// Why a key cannot be written back to the provider.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MappingError {
    #[error("key {key} is computed by the ExternalSecret's template, so no provider value can be written for it; change the value at the provider and run `rotate --synced`")]
    Templated { key: String },
    #[error("key {key} is not read from the provider by a data[] entry or dataFrom extract the plugin can write back{}", if reasons.is_empty() { String::new() } else { format!(" ({reasons})") })]
    Unmapped { key: String, reasons: String },
    #[error("key {key} reads version {version} of {remote}, not AWSCURRENT: a new version would not change it; update spec.data's version instead")]
    Pinned {
        key: String,
        remote: String,
        version: String,
    },
    #[error("key {key} reads the nested property {property} of {remote}: only top-level properties are written back; change it at the provider and run `rotate --synced`")]
    Nested {
        key: String,
        remote: String,
        property: String,
    },
}

/// The remote field each key comes from. `extracted` holds, per dataFrom-extract remote
/// key, the top-level properties of its current value (read from the provider).
pub fn field_of(
    es: &ExternalSecretState,
    key: &str,
    extracted: &BTreeMap<String, BTreeSet<String>>,
) -> Result<RemoteField, MappingError> {
    if es.templates_everything || es.templated.contains(key) {
        return Err(MappingError::Templated { key: key.into() });
    }
    // Later entries win in ESO (data[] after dataFrom): look at data[] first, last one first.
    if let Some(mapping) = es.mappings.iter().rev().find(|m| m.secret_key == key) {
        if let Some(version) = mapping.version.as_ref().filter(|v| *v != AWS_CURRENT) {
            return Err(MappingError::Pinned {
                key: key.into(),
                remote: mapping.remote_key.clone(),
                version: version.clone(),
            });
        }
        if let Some(property) = mapping
            .property
            .as_ref()
            .filter(|p| p.contains(['.', '*', '?', '|', '#', '@']))
        {
            return Err(MappingError::Nested {
                key: key.into(),
                remote: mapping.remote_key.clone(),
                property: property.clone(),
            });
        }
        return Ok(RemoteField {
            remote_key: mapping.remote_key.clone(),
            property: mapping.property.clone(),
        });
    }
    if let Some(remote) = es
        .extracts
        .iter()
        .rev()
        .find(|r| extracted.get(*r).is_some_and(|props| props.contains(key)))
    {
        return Ok(RemoteField {
            remote_key: remote.clone(),
            property: Some(key.into()),
        });
    }
    Err(MappingError::Unmapped {
        key: key.into(),
        reasons: es.unmappable.join("; "),
    })
}

/// The top-level properties of a remote value (empty when it is not a JSON object).
pub fn properties(value: &str) -> BTreeSet<String> {
    serde_json::from_str::<Map<String, Value>>(value)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

/// The value ESO puts into the Kubernetes key for `field`, from the remote value (strings as
/// they are, other JSON as its text), or why there is none.
pub fn read_field(value: &str, field: &RemoteField) -> Result<Vec<u8>, String> {
    let Some(property) = &field.property else {
        return Ok(value.as_bytes().to_vec());
    };
    let object: Map<String, Value> = serde_json::from_str(value)
        .map_err(|_| format!("the current value of {} is not a JSON object", field.remote_key))?;
    match object.get(property) {
        Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
        Some(other) => Ok(other.to_string().into_bytes()),
        None => Err(format!(
            "property {property} is not in the current value of {} (its properties: {})",
            field.remote_key,
            object.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
    }
}

/// The new remote value: `current` with each field's property set to its new value (or, for
/// the whole value, the new value itself). New values must be text: Secrets Manager's JSON
/// properties are strings.
pub fn write_fields(current: &str, changes: &[(Option<String>, &SecretValue)]) -> Result<String, String> {
    let as_text = |v: &SecretValue| {
        String::from_utf8(v.expose().to_vec()).map_err(|_| "the new value is not UTF-8 text".to_string())
    };
    if let [(None, value)] = changes {
        return as_text(value);
    }
    let mut object: Map<String, Value> =
        serde_json::from_str(current).map_err(|_| "the current value is not a JSON object".to_string())?;
    for (property, value) in changes {
        let Some(property) = property else {
            return Err("the whole value and its properties cannot both change".into());
        };
        object.insert(property.clone(), Value::String(as_text(value)?));
    }
    Ok(Value::Object(object).to_string())
}

/// What ESO puts into the Secret from these remote values (remote key → its text), for the
/// keys the plugin can compute: dataFrom extracts first, then data[] entries (which win), and
/// none a template computes.
pub fn synced_data(es: &ExternalSecretState, remotes: &BTreeMap<String, String>) -> BTreeMap<String, SecretValue> {
    let mut data = BTreeMap::new();
    if es.templates_everything {
        return data;
    }
    for extract in &es.extracts {
        let Some(object) = remotes
            .get(extract)
            .and_then(|text| serde_json::from_str::<Map<String, Value>>(text).ok())
        else {
            continue;
        };
        for (key, value) in object {
            let bytes = match value {
                Value::String(s) => s.into_bytes(),
                other => other.to_string().into_bytes(),
            };
            data.insert(key, SecretValue::new(bytes));
        }
    }
    for mapping in &es.mappings {
        if mapping.version.as_ref().is_some_and(|v| v != AWS_CURRENT) {
            continue;
        }
        let Some(text) = remotes.get(&mapping.remote_key) else {
            continue;
        };
        let field = RemoteField {
            remote_key: mapping.remote_key.clone(),
            property: mapping.property.clone(),
        };
        if let Ok(value) = read_field(text, &field) {
            data.insert(mapping.secret_key.clone(), SecretValue::new(value));
        }
    }
    data.retain(|key, _| !es.templated.contains(key));
    data
}

/// Whether the ExternalSecret reads `remote` at all (a journal naming another is not ours).
pub fn reads_remote(es: &ExternalSecretState, remote: &str) -> bool {
    es.extracts.iter().any(|r| r == remote) || es.mappings.iter().any(|m| m.remote_key == remote)
}

/// ESO's record of the data it last wrote into a Secret.
pub const DATA_HASH: &str = "reconcile.external-secrets.io/data-hash";

/// Whether `data` is what ESO last wrote: its data-hash annotation is a hash of Go's `%+v`
/// text of the data map (sha3-224 since ESO 0.10, md5 before), which is recomputed here. A
/// mismatch means someone changed the Secret after the last sync: the next refresh reverts it.
/// Only the verdict leaves this function, never a digest of a value.
pub fn written_by_last_sync<'a>(data: impl Iterator<Item = (&'a String, &'a [u8])>, recorded: &str) -> bool {
    use sha3::Digest as _;
    let mut text = String::from("map[");
    for (i, (key, value)) in data.enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(key);
        text.push_str(":[");
        let bytes: Vec<String> = value.iter().map(u8::to_string).collect();
        text.push_str(&bytes.join(" "));
        text.push(']');
    }
    text.push(']');
    let computed = match recorded.len() {
        56 => hex::encode(sha3::Sha3_224::digest(text.as_bytes())),
        32 => hex::encode(md5::Md5::digest(text.as_bytes())),
        _ => return true,
    };
    computed == recorded
}

/// The client request token (= the new version's id) of a rotation: AWS makes a retried
/// PutSecretValue with the same token a no-op, and a journal names its version by it. It is
/// bound to the Secret the rotation changed (its uid): a journal on another Secret, whoever
/// wrote it, can never name a version this one made.
pub fn version_token(rotation_id: &str, secret_uid: &str) -> String {
    use sha2::Digest as _;
    let bound = sha2::Sha256::digest(format!("{secret_uid}:{rotation_id}").as_bytes());
    // 32 to 64 characters, as AWS requires: 16 + 16 + 1 + 24.
    format!("kubectl-secrets-{rotation_id:0>16}-{}", &hex::encode(bound)[..24])
}

/// An AWS secret's name, whether named or given by ARN (`arn:…:secret:NAME-AbCdEf`, the six
/// characters AWS appends).
fn aws_secret_name(key: &str) -> &str {
    let Some((_, name)) = key.strip_prefix("arn:").and_then(|arn| arn.split_once(":secret:")) else {
        return key;
    };
    match name.rsplit_once('-') {
        Some((base, suffix)) if suffix.len() == 6 => base,
        _ => name,
    }
}

/// Which store an ExternalSecret reads through, as one key: a ClusterSecretStore is the same
/// object from every namespace, a SecretStore is its namespace's own.
pub type StoreKey = (String, String, String);

pub fn store_key(es: &ExternalSecretState) -> StoreKey {
    let scope = if es.store.kind == "ClusterSecretStore" {
        String::new()
    } else {
        es.namespace.clone()
    };
    (scope, es.store.kind.clone(), es.store.name.clone())
}

/// ExternalSecrets of other namespaces (among those listed) that may read `remote` of
/// `provider`: through any store whose provider reaches the same secret (`providers`, by
/// store), or, where a store could not be read, naming the same key. A version written there
/// reaches their Secrets too.
pub fn other_readers<'a>(
    remote: &str,
    provider: &Provider,
    namespace: &str,
    all: &'a [ExternalSecretState],
    providers: &BTreeMap<StoreKey, Option<Provider>>,
) -> Vec<&'a ExternalSecretState> {
    all.iter()
        .filter(|es| es.namespace != namespace)
        .filter(|es| match providers.get(&store_key(es)) {
            Some(Some(theirs)) => es.remotes().iter().any(|r| provider.same_remote(remote, theirs, r)),
            _ => reads_remote(es, remote),
        })
        .collect()
}

/// A remote secret's versions and their stages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteVersion {
    pub id: String,
    pub stages: Vec<String>,
    pub created: Option<Timestamp>,
}

/// What a version of a remote secret holds.
pub struct RemoteValue {
    pub version_id: String,
    /// Text (AWS's SecretBinary is refused: ESO and the plugin map text).
    pub text: String,
}

/// One remote secret's versions, newest first, for `history`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteHistory {
    pub provider: String,
    pub remote: String,
    pub versions: Vec<RemoteVersion>,
}

/// Versions in the order people read them: AWSCURRENT, AWSPREVIOUS, AWSPENDING, other staged
/// ones, then the rest newest first; at most `keep` (AWS keeps up to about 100).
pub fn newest_versions(mut versions: Vec<RemoteVersion>, keep: usize) -> Vec<RemoteVersion> {
    let rank = |v: &RemoteVersion| {
        let has = |stage: &str| v.stages.iter().any(|s| s == stage);
        if has(AWS_CURRENT) {
            0
        } else if has(AWS_PREVIOUS) {
            1
        } else if has(AWS_PENDING) {
            2
        } else if !v.stages.is_empty() {
            3
        } else {
            4
        }
    };
    versions.sort_by(|a, b| rank(a).cmp(&rank(b)).then(b.created.cmp(&a.created)));
    versions.truncate(keep);
    versions
}

/// The version carrying `stage`.
pub fn with_stage<'a>(versions: &'a [RemoteVersion], stage: &str) -> Option<&'a RemoteVersion> {
    versions.iter().find(|v| v.stages.iter().any(|s| s == stage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn es(spec: Value) -> ExternalSecretState {
        parse_external_secret(&json!({"metadata": {"name": "backend", "namespace": "shop"}, "spec": spec}))
    }

    #[test]
    fn another_teams_store_reaching_the_same_secret_makes_it_a_shared_reader() {
        let vault = |mount: &str, server: &str| Provider::Vault {
            server: server.into(),
            mount: mount.into(),
            kv: "v2".into(),
            namespace: None,
        };
        let ours = vault("secret", "https://vault.example:8200");
        let in_ns = |ns: &str, kind: &str, store: &str, key: &str| {
            parse_external_secret(&json!({
                "metadata": {"name": "db", "namespace": ns},
                "spec": {
                    "secretStoreRef": {"kind": kind, "name": store},
                    "data": [{"secretKey": "P", "remoteRef": {"key": key, "property": "password"}}]
                }
            }))
        };
        let all = vec![
            in_ns("shop", "SecretStore", "vault", "shop/db"),
            // Their own store, another name for the same server, the path as ESO also reads it.
            in_ns("tenant", "SecretStore", "own", "secret/data/shop/db"),
            in_ns("other", "SecretStore", "kv", "shop/db"),
            in_ns("hidden", "SecretStore", "unreadable", "shop/db"),
            in_ns("unrelated", "SecretStore", "own", "billing/db"),
        ];
        let key = |ns: &str, name: &str| (ns.to_string(), "SecretStore".to_string(), name.to_string());
        let providers = BTreeMap::from([
            (
                key("tenant", "own"),
                Some(vault("secret", "http://vault.vault.svc:8200")),
            ),
            (key("other", "kv"), Some(vault("kv", "https://vault.example:8200"))),
            (key("hidden", "unreadable"), None),
            (
                key("unrelated", "own"),
                Some(vault("secret", "https://vault.example:8200")),
            ),
        ]);
        let readers: Vec<&str> = other_readers("shop/db", &ours, "shop", &all, &providers)
            .iter()
            .map(|es| es.namespace.as_str())
            .collect();
        assert_eq!(
            readers,
            ["tenant", "hidden"],
            "another mount is another secret; an unread store naming the key may read it"
        );

        let aws = |region: &str| Provider::AwsSecretsManager { region: region.into() };
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:shop/db-AbC123";
        assert!(aws("eu-west-1").same_remote("shop/db", &aws("eu-west-1"), arn));
        assert!(!aws("eu-west-1").same_remote("shop/db", &aws("us-east-1"), "shop/db"));
        assert!(!aws("eu-west-1").same_remote("shop/db", &ours, "shop/db"));
    }

    #[test]
    fn data_entries_and_extracts_map_keys_to_remote_fields() {
        let es = es(json!({
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws"},
            "data": [
                {"secretKey": "DB_PASSWORD", "remoteRef": {"key": "shop/db", "property": "password"}},
                {"secretKey": "API_KEY", "remoteRef": {"key": "shop/api"}},
                {"secretKey": "OLD", "remoteRef": {"key": "shop/db", "property": "password", "version": "v-1"}},
                {"secretKey": "DEEP", "remoteRef": {"key": "shop/db", "property": "a.b"}}
            ],
            "dataFrom": [{"extract": {"key": "shop/jwt"}}]
        }));
        assert_eq!(es.target, "backend");
        assert_eq!(es.store.describe(), "ClusterSecretStore aws");
        let extracted = BTreeMap::from([("shop/jwt".to_string(), BTreeSet::from(["JWT_SECRET".to_string()]))]);
        assert_eq!(
            field_of(&es, "DB_PASSWORD", &extracted),
            Ok(RemoteField {
                remote_key: "shop/db".into(),
                property: Some("password".into())
            })
        );
        assert_eq!(field_of(&es, "API_KEY", &extracted).unwrap().property, None);
        assert_eq!(field_of(&es, "JWT_SECRET", &extracted).unwrap().remote_key, "shop/jwt");
        assert!(matches!(
            field_of(&es, "OLD", &extracted),
            Err(MappingError::Pinned { .. })
        ));
        assert!(matches!(
            field_of(&es, "DEEP", &extracted),
            Err(MappingError::Nested { .. })
        ));
        assert!(matches!(
            field_of(&es, "NOPE", &extracted),
            Err(MappingError::Unmapped { .. })
        ));
    }

    #[test]
    fn a_key_a_template_computes_is_refused_with_the_reason() {
        let es = es(json!({
            "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}],
            "target": {"template": {"mergePolicy": "Merge", "data": {"DATABASE_URL": "postgres://u:{{ .password }}@db"}}}
        }));
        let err = field_of(&es, "DATABASE_URL", &BTreeMap::new()).unwrap_err();
        assert!(err.to_string().contains("template"), "{err}");
        assert!(field_of(&es, "password", &BTreeMap::new()).is_ok());
        let replaced = self::es(json!({
            "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}],
            "target": {"template": {"data": {"url": "{{ .password }}"}}}
        }));
        assert!(matches!(
            field_of(&replaced, "password", &BTreeMap::new()),
            Err(MappingError::Templated { .. })
        ));
    }

    #[test]
    fn fields_are_read_and_written_like_eso_reads_them() {
        let current = r#"{"username":"app","password":"old","port":5432}"#;
        let field = |p: Option<&str>| RemoteField {
            remote_key: "db".into(),
            property: p.map(str::to_string),
        };
        assert_eq!(read_field(current, &field(Some("password"))).unwrap(), b"old");
        assert_eq!(read_field(current, &field(Some("port"))).unwrap(), b"5432");
        assert_eq!(read_field(current, &field(None)).unwrap(), current.as_bytes());
        assert!(read_field(current, &field(Some("nope")))
            .unwrap_err()
            .contains("username"));
        let new = SecretValue::new(b"n3w".to_vec());
        let written = write_fields(current, &[(Some("password".into()), &new)]).unwrap();
        assert_eq!(read_field(&written, &field(Some("password"))).unwrap(), b"n3w");
        assert_eq!(read_field(&written, &field(Some("port"))).unwrap(), b"5432");
        assert_eq!(write_fields("anything", &[(None, &new)]).unwrap(), "n3w");
        assert!(write_fields("not json", &[(Some("p".into()), &new)]).is_err());
    }

    #[test]
    fn synced_data_is_what_eso_writes_for_the_remote_values() {
        let es = es(json!({
            "data": [{"secretKey": "DB_PASSWORD", "remoteRef": {"key": "db", "property": "password"}}],
            "dataFrom": [{"extract": {"key": "db"}}]
        }));
        let remotes = BTreeMap::from([("db".to_string(), r#"{"password":"p","port":5432}"#.to_string())]);
        let data = synced_data(&es, &remotes);
        let text = |k: &str| String::from_utf8(data[k].expose().to_vec()).unwrap();
        assert_eq!(text("DB_PASSWORD"), "p");
        assert_eq!(text("password"), "p");
        assert_eq!(text("port"), "5432");
        assert!(reads_remote(&es, "db") && !reads_remote(&es, "other"));
    }

    #[test]
    fn history_lists_staged_versions_first_then_the_newest() {
        let v = |id: &str, stages: &[&str], at: i64| RemoteVersion {
            id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: Timestamp::from_second(at).ok(),
        };
        let sorted = newest_versions(
            vec![
                v("old", &[], 1),
                v("prev", &["AWSPREVIOUS"], 2),
                v("cur", &["AWSCURRENT"], 3),
                v("new-unstaged", &[], 4),
            ],
            3,
        );
        let ids: Vec<&str> = sorted.iter().map(|v| v.id.as_str()).collect();
        assert_eq!(ids, ["cur", "prev", "new-unstaged"]);
    }

    #[test]
    fn the_data_hash_is_recomputed_as_eso_computes_it() {
        // The annotation External Secrets v0.16.2 wrote on the bed for {"a": "hi", "b": ""}
        // (sha3-224 of Go's "%+v" text "map[a:[104 105] b:[]]"); md5 is what ESO before 0.10 used.
        let data = BTreeMap::from([("a".to_string(), b"hi".to_vec()), ("b".to_string(), Vec::new())]);
        let pairs = || data.iter().map(|(k, v)| (k, v.as_slice()));
        let recorded = "7ea3465c6776a2d21a7c6afaa765c3abc9e38a7cb9b4d770456f0b89";
        assert!(written_by_last_sync(pairs(), recorded));
        use sha3::Digest as _;
        let md5 = hex::encode(md5::Md5::digest(b"map[a:[104 105] b:[]]"));
        assert!(written_by_last_sync(pairs(), &md5));
        let edited = BTreeMap::from([("a".to_string(), b"ho".to_vec()), ("b".to_string(), Vec::new())]);
        assert!(!written_by_last_sync(
            edited.iter().map(|(k, v)| (k, v.as_slice())),
            recorded
        ));
    }

    #[test]
    fn the_version_token_is_a_valid_client_request_token_bound_to_its_secret() {
        let token = version_token("0123456789abcdef", "uid-a");
        assert!((32..=64).contains(&token.len()), "{token}");
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{token}");
        assert_eq!(version_token("ab", "uid-a").len(), 57);
        // The same rotation id on another Secret names another version.
        assert_ne!(version_token("0123456789abcdef", "uid-b"), token);
    }

    #[test]
    fn providers_and_status_are_read() {
        let aws = json!({"spec": {"provider": {"aws": {"service": "SecretsManager", "region": "eu-west-1"}}}});
        assert_eq!(
            parse_provider(&aws),
            Provider::AwsSecretsManager {
                region: "eu-west-1".into()
            }
        );
        let vault = json!({"spec": {"provider": {"vault": {"server": "https://vault:8200", "path": "secret"}}}});
        assert_eq!(
            parse_provider(&vault).describe(),
            "HashiCorp Vault (https://vault:8200, KV v2 at secret/)"
        );
        let other = json!({"spec": {"provider": {"gcpsm": {"projectID": "p"}}}});
        assert_eq!(parse_provider(&other), Provider::Other("gcpsm".into()));
        let failing = parse_external_secret(&json!({
            "metadata": {"name": "x"},
            "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider"}]}
        }));
        assert_eq!(failing.status.ready, Some(false));
        assert_eq!(failing.status.reason, "SecretSyncedError");
    }
}
