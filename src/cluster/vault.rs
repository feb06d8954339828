//! HashiCorp Vault's HTTP API, configured like the vault CLI: VAULT_ADDR (default
//! https://127.0.0.1:8200), VAULT_TOKEN or the file `vault login` writes (~/.vault-token),
//! VAULT_CACERT / VAULT_CAPATH, VAULT_NAMESPACE. The operator's token only ever goes to
//! VAULT_ADDR, never to an address read from the cluster (a SecretStore in a tenant's namespace
//! names any server it likes). The token is never printed; errors name the kind of failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::Connection;
use crate::domain::drift::Snapshot;
use crate::domain::external::Provider;
use crate::domain::vault_agent::{self, KvState, Rendering};
use crate::domain::vault_kv::{self, KeptVersions};
use crate::error::{Error, Result};
use crate::render;

/// The largest answer read (a KV secret's data is at most about 1 MiB in Vault's storage).
const MAX_ANSWER: u64 = 8 * 1024 * 1024;

pub struct VaultApi {
    addr: String,
    token: Option<SecretString>,
    namespace: Option<String>,
    agent: std::result::Result<ureq::Agent, String>,
}

/// What a request came back with: Vault's answer (`None`: 404, nothing at that path).
pub type Answer = Option<Value>;

impl VaultApi {
    /// Configured from the environment, as the vault CLI is.
    pub fn from_env() -> Self {
        let addr = std::env::var("VAULT_ADDR")
            .ok()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "https://127.0.0.1:8200".into())
            .trim_end_matches('/')
            .to_string();
        let token = std::env::var("VAULT_TOKEN")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| {
                let home = std::env::var_os("HOME")?;
                std::fs::read_to_string(Path::new(&home).join(".vault-token")).ok()
            })
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(SecretString::from);
        let namespace = std::env::var("VAULT_NAMESPACE").ok().filter(|n| !n.is_empty());
        VaultApi {
            addr,
            token,
            namespace,
            agent: agent(),
        }
    }

    /// The address written to (VAULT_ADDR).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The Vault namespace requests go to (VAULT_NAMESPACE), if any.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The KV v2 mount's own max_versions, where the token may read it (0: not known, or
    /// Vault's default of 10).
    pub async fn mount_max_versions(&self, mount: &str) -> u64 {
        match self.get(&format!("{mount}/config"), "read").await {
            Ok(Some(config)) => config["data"]["max_versions"].as_u64().unwrap_or(0),
            _ => 0,
        }
    }

    /// The secrets engine mounted at `path`, as the vault CLI's kv commands find it: its mount
    /// (without the trailing slash), type and KV version ("1" or "2").
    pub async fn mount_of(&self, path: &str) -> Result<(String, String, String)> {
        let answer = self
            .get(
                &format!("sys/internal/ui/mounts/{}", path.trim_start_matches('/')),
                "read",
            )
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "Vault at {} has no secrets engine mounted at {path}",
                    self.addr
                ))
            })?;
        let data = &answer["data"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Ok((
            text(&data["path"]).trim_end_matches('/').to_string(),
            text(&data["type"]),
            text(&data["options"]["version"]),
        ))
    }

    pub async fn get(&self, path: &str, capability: &str) -> Result<Answer> {
        self.checked("GET", path, None, capability).await
    }

    pub async fn post(&self, path: &str, body: Value, capability: &str) -> Result<Answer> {
        self.checked("POST", path, Some(body), capability).await
    }

    /// Vault answers 403 both to a policy that lacks a capability and to a token it does not
    /// know: on a 403, the token's own lookup (which the default policy allows) tells them apart.
    async fn checked(&self, method: &'static str, path: &str, body: Option<Value>, capability: &str) -> Result<Answer> {
        match self.call(method, path, body, capability).await {
            Err(Error::VaultDenied { capability, path }) => {
                match self.call("GET", "auth/token/lookup-self", None, "read").await {
                    Err(Error::VaultDenied { .. }) => Err(Error::VaultCredentials {
                        reason: format!(
                            "Vault at {} does not accept the token (expired, revoked or mistyped): `vault login`, or set \
                             VAULT_TOKEN",
                            self.addr
                        ),
                    }),
                    _ => Err(Error::VaultDenied { capability, path }),
                }
            }
            other => other,
        }
    }

    /// One request to `/v1/<path>`. 404 is `Ok(None)`; 403 → exit 5 naming the path and the
    /// capability; a connection failure → exit 4 naming the address; 400 carries Vault's own
    /// words (a check-and-set mismatch among them) for the caller to read.
    async fn call(&self, method: &'static str, path: &str, body: Option<Value>, capability: &str) -> Result<Answer> {
        let Some(token) = &self.token else {
            return Err(Error::VaultCredentials {
                reason: "no Vault token: set VAULT_TOKEN, or `vault login` (which writes ~/.vault-token)".into(),
            });
        };
        let agent = self.agent.clone().map_err(|reason| Error::VaultUnreachable {
            addr: self.addr.clone(),
            reason,
        })?;
        let url = format!("{}/v1/{path}", self.addr);
        let token = token.expose_secret().to_string();
        let namespace = self.namespace.clone();
        let answer = tokio::task::spawn_blocking(move || -> std::result::Result<(u16, String), String> {
            let mut response = match (method, body) {
                ("GET", _) => {
                    let mut request = agent.get(&url).header("X-Vault-Token", &token);
                    if let Some(ns) = &namespace {
                        request = request.header("X-Vault-Namespace", ns);
                    }
                    request.call()
                }
                (_, body) => {
                    let mut request = agent
                        .post(&url)
                        .header("X-Vault-Token", &token)
                        .header("Content-Type", "application/json");
                    if let Some(ns) = &namespace {
                        request = request.header("X-Vault-Namespace", ns);
                    }
                    request.send(body.unwrap_or(Value::Null).to_string())
                }
            }
            .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER)
                .read_to_string()
                .map_err(|e| e.to_string())?;
            Ok((status, text))
        })
        .await
        .map_err(|e| Error::VaultUnreachable {
            addr: self.addr.clone(),
            reason: e.to_string(),
        })?;
        let (status, text) = answer.map_err(|reason| Error::VaultUnreachable {
            addr: self.addr.clone(),
            reason: render::clean_line(&reason),
        })?;
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let said = vault_errors(&json);
        match status {
            200..=299 => Ok(Some(json)),
            404 => Ok(None),
            403 if said.contains("permission denied") || said.is_empty() => Err(Error::VaultDenied {
                capability: capability.into(),
                path: path.into(),
            }),
            401 | 403 => Err(Error::VaultCredentials {
                reason: format!("Vault at {} refused the token ({status}: {said})", self.addr),
            }),
            400 => Err(Error::VaultRefused {
                path: path.into(),
                reason: said,
            }),
            _ => Err(Error::Api {
                action: format!("{method} {path} at Vault {}", self.addr),
                message: format!("{status}: {said}"),
            }),
        }
    }
}

/// Vault's `errors` list, cleaned (it never echoes the data written).
fn vault_errors(json: &Value) -> String {
    json["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(render::clean_line)
        .collect::<Vec<_>>()
        .join("; ")
}

/// An HTTP agent trusting VAULT_CACERT / VAULT_CAPATH when set, else the system's store.
fn agent() -> std::result::Result<ureq::Agent, String> {
    let mut files: Vec<PathBuf> = Vec::new();
    if let Some(file) = std::env::var_os("VAULT_CACERT").filter(|f| !f.is_empty()) {
        files.push(file.into());
    }
    if let Some(dir) = std::env::var_os("VAULT_CAPATH").filter(|d| !d.is_empty()) {
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("VAULT_CAPATH {}: {e}", Path::new(&dir).display()))?;
        files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.is_file()));
    }
    let roots = if files.is_empty() {
        ureq::tls::RootCerts::PlatformVerifier
    } else {
        let mut certs = Vec::new();
        for file in &files {
            let pem = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(ureq::tls::PemItem::Certificate(cert)) = item {
                    certs.push(cert);
                }
            }
        }
        if certs.is_empty() {
            return Err("VAULT_CACERT / VAULT_CAPATH hold no PEM certificate".into());
        }
        ureq::tls::RootCerts::new_with_certs(&certs)
    };
    let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into())
}

/// For each Vault path that pods of `snapshot` render once at start (Agent Injector), its
/// current version from Vault's metadata, read with the operator's Vault settings, for
/// verify's judgement; why not, where it cannot be read. Nothing is asked of Vault when no
/// such pod exists or no token is set.
pub async fn agent_paths(snapshot: &Snapshot) -> BTreeMap<String, KvState> {
    current_versions(agent_reads(snapshot, true)).await
}

/// The same for every path the injector renders, however (audit's age of each path).
pub async fn all_agent_paths(snapshot: &Snapshot) -> BTreeMap<String, KvState> {
    current_versions(agent_reads(snapshot, false)).await
}

fn agent_reads(snapshot: &Snapshot, once_at_start_only: bool) -> BTreeSet<&str> {
    snapshot
        .workloads
        .iter()
        .map(|w| &w.spec)
        .chain(snapshot.pods.iter().map(|p| p.spec.as_ref()))
        .flat_map(|spec| spec.vault_agent.iter())
        .filter(|read| !once_at_start_only || read.rendering == Rendering::OnceAtStart)
        .map(|read| read.path.as_str())
        .collect()
}

async fn current_versions(paths: BTreeSet<&str>) -> BTreeMap<String, KvState> {
    if paths.is_empty() {
        return BTreeMap::new();
    }
    let api = VaultApi::from_env();
    let mut states = BTreeMap::new();
    // Unreachable or refused credentials say the same of every path: asked once.
    let mut fatal: Option<String> = None;
    for path in paths {
        let state = match vault_agent::kv_v2_path(path) {
            Some(_) if fatal.is_some() => KvState::Unreadable(fatal.clone().unwrap_or_default()),
            None => KvState::Unreadable("not a KV v2 path (…/data/…): its versions are not read".into()),
            Some(_) if api.token.is_none() => KvState::Unreadable(
                "no Vault token (set VAULT_ADDR and VAULT_TOKEN to judge these pods by Vault's versions)".into(),
            ),
            Some((mount, rest)) => match api.get(&format!("{mount}/metadata/{rest}"), "read").await {
                Ok(Some(answer)) => {
                    let meta = crate::domain::vault_kv::parse_metadata(&answer["data"]);
                    KvState::Current {
                        version: meta.current,
                        created: meta.versions.get(&meta.current).and_then(|v| v.created),
                    }
                }
                Ok(None) => KvState::Unreadable(format!("Vault at {} has no secret at {path}", api.addr)),
                Err(e @ (Error::VaultUnreachable { .. } | Error::VaultCredentials { .. })) => {
                    fatal = Some(e.to_string());
                    KvState::Unreadable(e.to_string())
                }
                Err(e) => KvState::Unreadable(e.to_string()),
            },
        };
        states.insert(path.to_string(), state);
    }
    states
}

/// For audit: how many versions Vault keeps of each KV v2 path the ExternalSecrets of
/// `snapshot` sync through a Vault store. Nothing is asked without a token; a path or store
/// that cannot be read is left out (audit reports what it could check).
pub async fn kept_versions(conn: &Connection, snapshot: &Snapshot) -> Vec<KeptVersions> {
    let api = VaultApi::from_env();
    if api.token.is_none() {
        return Vec::new();
    }
    let providers = super::external::providers_of(conn, &snapshot.external_secrets).await;
    let mut mount_max: BTreeMap<String, u64> = BTreeMap::new();
    let mut kept = Vec::new();
    for es in &snapshot.external_secrets {
        let Some(Some(Provider::Vault { mount, kv, .. })) = providers.get(&crate::domain::external::store_key(es))
        else {
            continue;
        };
        if kv != "v2" {
            continue;
        }
        if !mount_max.contains_key(mount) {
            mount_max.insert(mount.clone(), api.mount_max_versions(mount).await);
        }
        for remote in es.remotes() {
            let path = vault_kv::relative_path(mount, remote);
            let Ok(Some(answer)) = api.get(&format!("{mount}/metadata/{path}"), "read").await else {
                continue;
            };
            let meta = vault_kv::parse_metadata(&answer["data"]);
            kept.push(KeptVersions {
                namespace: es.namespace.clone(),
                external_secret: es.name.clone(),
                secret: es.target.clone(),
                path: format!("{mount}/{path}"),
                kept: meta.kept_versions(mount_max[mount]),
            });
        }
    }
    kept
}
