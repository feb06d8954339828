//! The only code that talks to the API server. No business logic: requests, paging, error
//! mapping, and handing plain structs to `core`.

pub mod access;
pub mod argo;
pub mod aws;
pub mod certificates;
pub mod client;
pub mod events;
pub mod external;
pub mod live;
pub mod names;
mod page;
pub mod portforward;
pub mod sealed;
pub mod secrets;
pub mod snapshot;
pub mod vault;
pub mod workloads;

use std::future::Future;
use std::time::Duration;

pub use client::{connect, ConnectOptions, Connection};

use k8s_openapi::serde::de::DeserializeOwned;
use kube::api::{Api, ListParams};

use crate::error::{Error, Result};

/// Page size for LISTs: large enough for few round trips, small enough to bound memory and
/// keep each response well under the API server's limits.
const PAGE_SIZE: u32 = 500;

/// Where a request applies: one namespace or all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Namespace(String),
    AllNamespaces,
}

impl Scope {
    pub fn describe(&self) -> String {
        match self {
            Scope::Namespace(ns) => format!("namespace {ns}"),
            Scope::AllNamespaces => "all namespaces".into(),
        }
    }

    pub fn api<K>(&self, client: &kube::Client) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        <K as kube::Resource>::DynamicType: Default,
    {
        match self {
            Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
            Scope::AllNamespaces => Api::all(client.clone()),
        }
    }
}

/// A namespace that does not exist is an error (exit 6), never an empty answer: `verify -n
/// prodution` must not read as "all clear". Checked when a namespace came back empty, so the
/// common case pays no request; a user who may not read namespaces (403) is given the benefit
/// of the doubt.
pub async fn require_namespace(conn: &Connection, scope: &Scope) -> Result<()> {
    let Scope::Namespace(namespace) = scope else {
        return Ok(());
    };
    let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(conn.client.clone());
    match api.get_metadata_opt(namespace).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Error::NotFound(format!(
            "namespace {namespace} not found in context {}: `kubectl get namespaces` lists them (check -n, or the \
             context's namespace)",
            conn.context
        ))),
        Err(kube::Error::Api(status)) if status.code == 403 => Ok(()),
        Err(e) => Err(api_error(
            e,
            &Action {
                verb: "get",
                resource: "namespaces",
                scope: "the cluster".into(),
            },
            conn,
        )),
    }
}

/// What a request was trying to do, so a failure can say it in the user's terms.
#[derive(Debug, Clone)]
pub struct Action {
    pub verb: &'static str,
    pub resource: &'static str,
    pub scope: String,
}

impl Action {
    pub fn new(verb: &'static str, resource: &'static str, scope: &Scope) -> Self {
        Action {
            verb,
            resource,
            scope: scope.describe(),
        }
    }

    /// "list secrets in namespace prod"
    pub fn describe(&self) -> String {
        format!("{} {} in {}", self.verb, self.resource, self.scope)
    }
}

/// Map a kube error into the tool's error, naming the action and the fix.
pub fn api_error(error: kube::Error, action: &Action, conn: &Connection) -> Error {
    match error {
        kube::Error::Api(status) => match status.code {
            401 => Error::Unauthorized {
                context: conn.context.clone(),
            },
            403 => Error::Forbidden {
                verb: action.verb.into(),
                resource: action.resource.into(),
                scope: action.scope.clone(),
            },
            404 => Error::NotFound(format!(
                "cannot {} {} in {}: the server has no such resource (is its CRD installed?)",
                action.verb, action.resource, action.scope
            )),
            _ => Error::Api {
                action: action.describe(),
                message: status.message.clone(),
            },
        },
        kube::Error::Auth(e) => credentials_error(&e, &conn.context, conn.exec_plugin.as_deref()),
        kube::Error::SerdeError(e) => undecodable(&e, action),
        kube::Error::HyperError(e) => Error::Unreachable {
            server: conn.server.clone(),
            reason: e.to_string(),
        },
        kube::Error::Service(e) => match auth_error_in(e.as_ref()) {
            Some(auth) => credentials_error(auth, &conn.context, conn.exec_plugin.as_deref()),
            None => Error::Unreachable {
                server: conn.server.clone(),
                reason: root_cause(e.as_ref()),
            },
        },
        other => Error::Api {
            action: action.describe(),
            message: other.to_string(),
        },
    }
}

/// The kubeconfig's credentials failed (an exec plugin, a token file, OIDC). Their own messages
/// can quote what a plugin printed, which may be a token: only the kind of failure and the
/// plugin's command (as the kubeconfig names it: kube's own description of the run also
/// carries the plugin's environment, which may hold a credential) are said, never its output.
pub(crate) fn credentials_error(error: &kube::client::AuthError, context: &str, plugin: Option<&str>) -> Error {
    use kube::client::AuthError as A;
    let problem = match error {
        A::AuthExecStart(io) => format!("its exec credential plugin could not be started ({io})"),
        A::AuthExecRun { out, .. } => format!(
            "its exec credential plugin `{}` failed ({}); what it printed is not shown, as it may hold a \
             credential: run the plugin yourself to see why",
            crate::render::clean_line(plugin.unwrap_or("(unnamed)")),
            out.status
        ),
        A::AuthExecParse(_) | A::AuthExec(_) | A::MissingCommand => {
            "its exec credential plugin did not answer with an ExecCredential (its output is not shown)".into()
        }
        A::ReadTokenFile(_, path) => format!("the token file {} cannot be read", path.display()),
        _ => "its credentials could not be used (the details are not shown: they may quote a credential)".into(),
    };
    Error::Credentials {
        context: context.to_string(),
        problem,
    }
}

/// An authentication error anywhere in a service error's chain of sources.
fn auth_error_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a kube::client::AuthError> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(auth) = e.downcast_ref::<kube::client::AuthError>() {
            return Some(auth);
        }
        current = e.source();
    }
    None
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// A failure that says the request may simply be tried again: the server failed or was
/// overloaded (5xx, 429), or the connection broke. kube's own retry layer already repeats
/// 429/503/504; this also covers 500, 502 and broken connections.
fn transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

const ATTEMPTS: u32 = 8;

/// Set once any request of this run has been answered: from then on a broken connection is a
/// moment of a server restart or a lost answer, worth the retries.
static REACHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn is_connection(error: &kube::Error) -> bool {
    matches!(error, kube::Error::HyperError(_) | kube::Error::Service(_))
}

/// Run one request, again with backoff while it fails transiently (at most 8 times, about 10 s
/// in all). Writes that may have landed before their answer was lost are made safe by their
/// callers: a resourceVersion precondition or a name that turns a repeat into 409, then a read
/// that recognises the change's own rotation id.
pub async fn retrying<T, F, Fut>(mut request: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match request().await {
            Ok(answer) => {
                REACHED.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(answer);
            }
            // A server never reached in this run is not there: said at once, as kubectl does
            // (and within --request-timeout), not after ten seconds of retries.
            Err(e) if is_connection(&e) && !REACHED.load(std::sync::atomic::Ordering::Relaxed) => return Err(e),
            Err(e) if transient(&e) && attempt < ATTEMPTS => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One paginated LIST (limit/continue), each object mapped as soon as its page arrives so
/// that nothing but the mapped form is kept (for Secrets: no values). Every LIST of the tool
/// (this, `list_viewed`, `list_metadata_mapped`) pages through `list_pages`, so no page is
/// ever left unread; shell completion's name lists are the exception (their first page only).
pub async fn list_mapped<K, T>(
    api: Api<K>,
    params: ListParams,
    action: Action,
    conn: &Connection,
    map: impl FnMut(K) -> T,
) -> Result<Vec<T>>
where
    K: kube::Resource + DeserializeOwned,
{
    list_viewed(api, params, action, conn, map).await
}

/// Like `list_mapped`, with each page decoded as `V`, a view holding only the fields the
/// mapping reads (serde skips the rest without building it): for pods, whose managedFields and
/// status conditions are a third of their size, this is most of a large cluster's reading time.
pub async fn list_viewed<K, V, T>(
    api: Api<K>,
    params: ListParams,
    action: Action,
    conn: &Connection,
    map: impl FnMut(V) -> T,
) -> Result<Vec<T>>
where
    K: kube::Resource,
    V: DeserializeOwned,
{
    list_pages(api, params, action, conn, kube::core::Request::list, map).await
}

/// Metadata only (the PartialObjectMetadata LIST): nothing else crosses the wire, so selecting
/// Secrets by label never transfers a value.
pub async fn list_metadata_mapped<K, T>(
    api: Api<K>,
    params: ListParams,
    action: Action,
    conn: &Connection,
    mut map: impl FnMut(kube::api::ObjectMeta) -> T,
) -> Result<Vec<T>>
where
    K: kube::Resource,
{
    #[derive(serde::Deserialize)]
    struct MetadataOnly {
        metadata: kube::api::ObjectMeta,
    }
    let map = |item: MetadataOnly| map(item.metadata);
    list_pages(api, params, action, conn, kube::core::Request::list_metadata, map).await
}

/// How one page's request is made: `Request::list` (whole objects) or `Request::list_metadata`.
type BuildList =
    fn(&kube::core::Request, &ListParams) -> std::result::Result<http::Request<Vec<u8>>, kube::core::request::Error>;

/// The paging loop of every LIST: `build` makes each page's request (whole objects or metadata).
/// The next page is asked for as soon as a page's continue token is read, so the server prepares
/// it while this page's items are decoded.
async fn list_pages<K, V, T>(
    api: Api<K>,
    params: ListParams,
    action: Action,
    conn: &Connection,
    build: BuildList,
    mut map: impl FnMut(V) -> T,
) -> Result<Vec<T>>
where
    K: kube::Resource,
    V: DeserializeOwned,
{
    let request = kube::core::Request::new(api.resource_url());
    let fetch = |params: &ListParams| {
        let (client, request, params) = (conn.client.clone(), request.clone(), params.clone());
        tokio::spawn(async move {
            retrying(|| async {
                let http_request = build(&request, &params).map_err(kube::Error::BuildRequest)?;
                client.request_text(http_request).await
            })
            .await
        })
    };
    let mut out = Vec::new();
    let mut params = params.limit(PAGE_SIZE);
    let mut pending = Some(fetch(&params));
    while let Some(answer) = pending.take() {
        let text = answer
            .await
            .map_err(|e| Error::Api {
                action: action.describe(),
                // A panic's message could quote data: never shown (see the panic hook).
                message: if e.is_panic() {
                    "the request failed unexpectedly".into()
                } else {
                    "the request was cancelled".into()
                },
            })?
            .map_err(|e| api_error(e, &action, conn))?;
        let ask_next = |token: &str| {
            params = params.clone().continue_token(token);
            pending = Some(fetch(&params));
        };
        page::decode(&text, ask_next, &mut map, &mut out).map_err(|e| undecodable(&e, &action))?;
    }
    Ok(out)
}

/// An answer that is not what its kind should be. serde's message can quote the text it could
/// not read (a Secret's value, say), so only where it failed is told.
fn undecodable(error: &serde_json::Error, action: &Action) -> Error {
    Error::Api {
        action: action.describe(),
        message: format!(
            "the server's answer could not be decoded ({} at line {}, column {}; the text is not shown, as it may hold a value)",
            // Only the kind of failure: serde's own message can quote the text.
            match error.classify() {
                serde_json::error::Category::Io => "read error",
                serde_json::error::Category::Syntax => "not JSON",
                serde_json::error::Category::Data => "unexpected content",
                serde_json::error::Category::Eof => "cut short",
            },
            error.line(),
            error.column()
        ),
    }
}

/// The API server's minor version, e.g. 37 for v1.37.2 (used for version-dependent kubelet rules).
pub async fn server_minor_version(conn: &Connection) -> Result<u32> {
    let info = retrying(|| conn.client.apiserver_version()).await.map_err(|e| {
        api_error(
            e,
            &Action {
                verb: "get",
                resource: "version",
                scope: "the cluster".into(),
            },
            conn,
        )
    })?;
    Ok(info.minor.trim_end_matches('+').parse().unwrap_or(u32::MAX))
}
