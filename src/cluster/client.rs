//! Building a client from kubeconfig exactly like kubectl: `--kubeconfig`, else every file
//! listed in `KUBECONFIG` merged (missing ones skipped), else `~/.kube/config`; `--context`
//! else the current context; the context's namespace else "default". Never in-cluster config.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};

use crate::error::{Error, Result};

/// What the user said about where to connect (the global flags).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub request_timeout: Option<Duration>,
}

/// A ready client plus the facts about it that commands and messages need.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub default_namespace: String,
    pub context: String,
    pub server: String,
    /// SHA-256 of the CA certificates the kubeconfig trusts for this server ("system" when it
    /// names none): with `server`, what tells one cluster from another (context names do not).
    pub ca_fingerprint: String,
}

pub async fn connect(options: &ConnectOptions) -> Result<Connection> {
    let kubeconfig = load_kubeconfig(options.kubeconfig.as_deref())?;
    let context = match &options.context {
        Some(name) => {
            if !kubeconfig.contexts.iter().any(|c| &c.name == name) {
                return Err(Error::UnknownContext { context: name.clone() });
            }
            name.clone()
        }
        None => kubeconfig
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or(Error::NoCurrentContext)?,
    };
    let config_options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &config_options)
        .await
        .map_err(|e| kubeconfig_error(e, &context))?;
    if let Some(timeout) = options.request_timeout {
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
    }
    // 429/503/504 are retried with exponential backoff by kube's default retry layer.
    config.default_retry = true;
    let server = config.cluster_url.to_string();
    let ca_fingerprint = match &config.root_cert {
        Some(certs) if !certs.is_empty() => {
            use sha2::Digest as _;
            let mut hash = sha2::Sha256::new();
            for cert in certs {
                hash.update(cert);
            }
            hex::encode(hash.finalize())
        }
        _ => "system".into(),
    };
    let default_namespace = config.default_namespace.clone();
    // An exec credential plugin may run here already: its output must never reach the message.
    let client = Client::try_from(config).map_err(|e| match e {
        kube::Error::Auth(auth) => super::credentials_error(&auth, &context),
        _ => Error::KubeconfigInvalid {
            reason: "its TLS or client-certificate settings cannot be used (check certificate-authority, client-certificate and client-key; the details are not shown: they may quote a credential)".into(),
        },
    })?;
    Ok(Connection {
        client,
        default_namespace,
        context,
        server,
        ca_fingerprint,
    })
}

fn load_kubeconfig(explicit: Option<&Path>) -> Result<Kubeconfig> {
    if let Some(path) = explicit {
        if !path.exists() {
            return Err(Error::KubeconfigUnreadable {
                path: path.into(),
                reason: "no such file".into(),
            });
        }
        return read_file(path);
    }
    let paths: Vec<PathBuf> = match std::env::var_os("KUBECONFIG") {
        Some(list) if !list.is_empty() => std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        _ => home_kubeconfig().into_iter().collect(),
    };
    // kubectl skips files of the list that do not exist; the first file to set a value wins.
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        return Err(Error::NoKubeconfig);
    }
    let mut merged = Kubeconfig::default();
    for path in existing {
        let next = read_file(path)?;
        merged = merged.merge(next).map_err(|e| Error::KubeconfigUnreadable {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(merged)
}

fn read_file(path: &Path) -> Result<Kubeconfig> {
    Kubeconfig::read_from(path).map_err(|e| Error::KubeconfigUnreadable {
        path: path.into(),
        reason: describe(&e),
    })
}

fn home_kubeconfig() -> Option<PathBuf> {
    std::env::var_os("HOME").map(|home| Path::new(&home).join(".kube").join("config"))
}

/// The parser's own message can quote the offending line of the file; a kubeconfig may hold
/// tokens, so only the kind of problem is reported.
fn describe(error: &KubeconfigError) -> String {
    match error {
        KubeconfigError::ReadConfig(io, _) => io.to_string(),
        KubeconfigError::Parse(_) => "not valid kubeconfig YAML".into(),
        other => other.to_string(),
    }
}

fn kubeconfig_error(error: KubeconfigError, context: &str) -> Error {
    match error {
        KubeconfigError::LoadContext(_) => Error::UnknownContext {
            context: context.into(),
        },
        KubeconfigError::CurrentContextNotSet => Error::NoCurrentContext,
        other => Error::KubeconfigInvalid {
            reason: format!("context {context:?}: {}", describe(&other)),
        },
    }
}

/// Context names of the kubeconfig (no network), for completion; empty when there is none.
pub fn context_names(explicit: Option<&Path>) -> Vec<String> {
    load_kubeconfig(explicit)
        .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}
