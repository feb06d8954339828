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
    /// --as, --as-group, --token: who the requests are made as, over the kubeconfig's user.
    pub identity: Identity,
    /// One of many clusters asked at once: credential plugins may not prompt (several would
    /// share one terminal), and a context whose plugin must is refused at once.
    pub non_interactive: bool,
}

/// kubectl's --as, --as-group and --token.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub impersonate: Option<String>,
    pub groups: Vec<String>,
    pub token: Option<String>,
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
    /// The kubeconfig's exec credential plugin command, named when it fails.
    pub exec_plugin: Option<String>,
    /// `--dry-run=server`: the writes made through this connection carry dryRun=All.
    pub server_dry_run: bool,
}

pub async fn connect(options: &ConnectOptions) -> Result<Connection> {
    let mut kubeconfig = load_kubeconfig(options.kubeconfig.as_deref())?;
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
    if options.non_interactive {
        without_prompts(&mut kubeconfig, &context)?;
    }
    let config_options = KubeConfigOptions {
        context: Some(context.clone()),
        ..Default::default()
    };
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &config_options)
        .await
        .map_err(|e| kubeconfig_error(e, &context))?;
    if let Some(user) = &options.identity.impersonate {
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_groups =
            (!options.identity.groups.is_empty()).then(|| options.identity.groups.clone());
    }
    if let Some(token) = &options.identity.token {
        // As kubectl: the token replaces the kubeconfig user's other ways of authenticating.
        let auth = &mut config.auth_info;
        auth.token = Some(secrecy::SecretString::from(token.clone()));
        auth.token_file = None;
        auth.exec = None;
        auth.auth_provider = None;
        auth.username = None;
        auth.password = None;
    }
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
    let exec_plugin = config.auth_info.exec.as_ref().and_then(|e| e.command.clone());
    // An exec credential plugin may run here already: its output must never reach the message.
    let client = build_client(config).map_err(|e| match e {
        kube::Error::Auth(auth) => super::credentials_error(&auth, &context, exec_plugin.as_deref()),
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
        exec_plugin,
        server_dry_run: false,
    })
}

/// -v 6 and up: each request's method, URL, status and time on stderr (as kubectl's
/// round_trippers lines); never a header (a token) or a body (a value).
static LOG_REQUESTS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

pub fn log_requests(on: bool) {
    let _ = LOG_REQUESTS.set(on);
}

fn build_client(config: Config) -> kube::Result<Client> {
    if !LOG_REQUESTS.get().copied().unwrap_or(false) {
        return Client::try_from(config);
    }
    // Requests reach this layer before the cluster's address is put in: it says it.
    let server: std::sync::Arc<str> = config.cluster_url.to_string().trim_end_matches('/').into();
    let builder = kube::client::ClientBuilder::try_from(config)?;
    let layer = tower::layer::layer_fn(|inner| RequestLog {
        inner,
        server: server.clone(),
    });
    Ok(builder.with_layer(&layer).build())
}

/// A layer of the client's stack that logs each request when its answer (or failure) comes.
#[derive(Clone)]
struct RequestLog<S> {
    inner: S,
    server: std::sync::Arc<str>,
}

impl<S, B> tower::Service<http::Request<kube::client::Body>> for RequestLog<S>
where
    S: tower::Service<http::Request<kube::client::Body>, Response = http::Response<B>>,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<kube::client::Body>) -> Self::Future {
        let method = request.method().clone();
        let uri = match request.uri().host() {
            Some(_) => request.uri().to_string(),
            None => format!("{}{}", self.server, request.uri()),
        };
        let started = std::time::Instant::now();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let took = started.elapsed().as_millis();
            match &result {
                Ok(response) => crate::render::step(&format!("{method} {uri} {} in {took} ms", response.status())),
                Err(error) => crate::render::step(&format!("{method} {uri} failed in {took} ms: {error}")),
            }
            result
        })
    }
}

/// Credential plugins of `context` run without a terminal (interactiveMode Never); a plugin
/// that always needs one (interactiveMode Always) is refused, naming the context.
fn without_prompts(kubeconfig: &mut Kubeconfig, context: &str) -> Result<()> {
    use kube::config::ExecInteractiveMode;
    let user = kubeconfig
        .contexts
        .iter()
        .find(|c| c.name == context)
        .and_then(|c| c.context.as_ref())
        .and_then(|c| c.user.clone());
    let Some(user) = user else { return Ok(()) };
    for named in kubeconfig.auth_infos.iter_mut().filter(|a| a.name == user) {
        let Some(exec) = named.auth_info.as_mut().and_then(|a| a.exec.as_mut()) else {
            continue;
        };
        if exec.interactive_mode == Some(ExecInteractiveMode::Always) {
            return Err(Error::Credentials {
                context: context.into(),
                problem: "its credential plugin always asks for an interactive login, which cannot run for several \
                          clusters at once: log in first (kubectl --context CONTEXT get namespaces), or ask it alone with --context"
                    .replace("CONTEXT", context),
            });
        }
        exec.interactive_mode = Some(ExecInteractiveMode::Never);
    }
    Ok(())
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
    let from_env = std::env::var_os("KUBECONFIG").filter(|list| !list.is_empty());
    let paths: Vec<PathBuf> = match &from_env {
        Some(list) => std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => home_kubeconfig().into_iter().collect(),
    };
    // kubectl skips files of the list that do not exist; the first file to set a value wins.
    let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::NoKubeconfig(match from_env {
            Some(_) => format!(
                "KUBECONFIG names {}, which does not exist: correct KUBECONFIG, or pass --kubeconfig",
                named.join(", ")
            ),
            None => format!(
                "{} does not exist and KUBECONFIG is not set: set KUBECONFIG or pass --kubeconfig",
                named.first().map_or("~/.kube/config", String::as_str)
            ),
        }));
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

/// Context names of the kubeconfig in its order (no network), for fleet mode; the kubeconfig's
/// problem when it cannot be read.
pub fn contexts(explicit: Option<&Path>) -> Result<Vec<String>> {
    Ok(load_kubeconfig(explicit)?
        .contexts
        .into_iter()
        .map(|c| c.name)
        .collect())
}

/// The kubeconfig's current context, if it names one.
pub fn current_context(explicit: Option<&Path>) -> Option<String> {
    load_kubeconfig(explicit)
        .ok()?
        .current_context
        .filter(|c| !c.is_empty())
}

/// Context names of the kubeconfig (no network), for completion; empty when there is none.
pub fn context_names(explicit: Option<&Path>) -> Vec<String> {
    load_kubeconfig(explicit)
        .map(|k| k.contexts.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(mode: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:1'}}}}]
users: [{{name: u, user: {{exec: {{apiVersion: client.authentication.k8s.io/v1, command: login, interactiveMode: {mode}}}}}}}]
contexts: [{{name: prod, context: {{cluster: c, user: u}}}}]
"
        ))
        .unwrap()
    }

    #[test]
    fn one_of_many_never_prompts_and_refuses_a_plugin_that_must() {
        use kube::config::ExecInteractiveMode;
        let mut config = kubeconfig("IfAvailable");
        without_prompts(&mut config, "prod").unwrap();
        let exec = config.auth_infos[0].auth_info.as_ref().unwrap().exec.as_ref().unwrap();
        assert_eq!(exec.interactive_mode, Some(ExecInteractiveMode::Never));
        let mut config = kubeconfig("Always");
        let error = without_prompts(&mut config, "prod").unwrap_err();
        assert!(
            error.to_string().contains("kubectl --context prod get namespaces"),
            "{error}"
        );
        assert_eq!(error.exit_code(), crate::error::exit::FORBIDDEN);
    }
}
