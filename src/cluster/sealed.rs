//! The Sealed Secrets controller's certificate through the API server's service proxy, found
//! the way kubeseal finds it (a Service name and namespace; its first port).

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;

use super::{api_error, list_mapped, retrying, Action, Connection, Scope};
use crate::domain::model::SealedSecretState;
use crate::domain::plan::check_object_name;
use crate::error::{Error, Result};

pub struct Controller {
    pub namespace: String,
    pub name: String,
}

impl Controller {
    /// The controller named by flags or the environment, checked as Kubernetes names before
    /// they go into any URL (a '/' would address another path of the API server).
    pub fn named(namespace: &str, name: &str) -> Result<Controller> {
        check_object_name("Sealed Secrets controller Service", name).map_err(Error::Usage)?;
        check_object_name("namespace", namespace).map_err(Error::Usage)?;
        Ok(Controller {
            namespace: namespace.into(),
            name: name.into(),
        })
    }
}

/// The container images of the pods behind the controller's Service (its release, for the
/// warnings that depend on it); none when they cannot be read (no permission, no selector).
pub async fn controller_images(conn: &Connection, controller: &Controller) -> Vec<String> {
    use k8s_openapi::api::core::v1::Pod;
    let services = Api::<Service>::namespaced(conn.client.clone(), &controller.namespace);
    let Ok(service) = retrying(|| services.get(&controller.name)).await else {
        return Vec::new();
    };
    let selector = service.spec.and_then(|s| s.selector).unwrap_or_default();
    if selector.is_empty() {
        return Vec::new();
    }
    let labels = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods = Api::<Pod>::namespaced(conn.client.clone(), &controller.namespace);
    let params = kube::api::ListParams::default().labels(&labels);
    let Ok(list) = retrying(|| pods.list(&params)).await else {
        return Vec::new();
    };
    list.items
        .into_iter()
        .filter_map(|p| p.spec)
        .flat_map(|spec| spec.containers)
        .filter_map(|c| c.image)
        .collect()
}

/// `/api/v1/namespaces/NS/services/http:NAME:PORT/proxy`: the controller's HTTP API through
/// the API server, with the Service's first port as kubeseal uses it.
async fn proxy_base(conn: &Connection, controller: &Controller) -> Result<String> {
    let scope = Scope::Namespace(controller.namespace.clone());
    let services = Api::<Service>::namespaced(conn.client.clone(), &controller.namespace);
    let service = match retrying(|| services.get(&controller.name)).await {
        Ok(service) => service,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Err(Error::Controller {
                step: format!("finding Service {}/{}", controller.namespace, controller.name),
                detail: "it does not exist".into(),
                fix: "pass --controller-name/--controller-namespace (Helm installs it as sealed-secrets in its release namespace), \
                      set SEALED_SECRETS_CONTROLLER_NAME/_NAMESPACE, or use --cert FILE|URL"
                    .into(),
            })
        }
        Err(e) => return Err(api_error(e, &Action::new("get", "services", &scope), conn)),
    };
    let port = service
        .spec
        .and_then(|s| s.ports)
        .and_then(|ports| ports.into_iter().next())
        .map(|p| p.name.filter(|n| !n.is_empty()).unwrap_or_else(|| p.port.to_string()))
        .ok_or_else(|| Error::Controller {
            step: format!("reading Service {}/{}", controller.namespace, controller.name),
            detail: "it has no ports".into(),
            fix: "check the controller's installation, or use --cert FILE|URL".into(),
        })?;
    Ok(format!(
        "/api/v1/namespaces/{}/services/http:{}:{port}/proxy",
        controller.namespace, controller.name
    ))
}

pub async fn fetch_cert(conn: &Connection, controller: &Controller) -> Result<Vec<u8>> {
    let (status, body) = call(conn, controller, "GET", "/v1/cert.pem", Vec::new()).await?;
    if status == 200 {
        Ok(body)
    } else {
        Err(Error::CertFetch {
            step: format!("GET /v1/cert.pem of {}/{} through the API server", controller.namespace, controller.name),
            detail: format!("HTTP {status}"),
            fix: "the Service exists but the API server cannot reach the controller: check its pods and endpoints, or use --cert FILE|URL".into(),
        })
    }
}

/// One request to the controller's HTTP API (`/v1/verify`, `/v1/rotate`, `/v1/cert.pem`):
/// the HTTP status it answered and its body. 403 from the API server is a missing permission.
pub async fn call(
    conn: &Connection,
    controller: &Controller,
    method: &str,
    endpoint: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>)> {
    let scope = Scope::Namespace(controller.namespace.clone());
    let path = format!("{}{endpoint}", proxy_base(conn, controller).await?);
    let request = http::Request::builder()
        .method(method)
        .uri(&path)
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body))
        .map_err(|e| Error::Api {
            action: "build request".into(),
            message: e.to_string(),
        })?;
    let verb = if method == "GET" { "get" } else { "create" };
    let response = conn
        .client
        .send(request)
        .await
        .map_err(|e| api_error(e, &Action::new(verb, "services/proxy", &scope), conn))?;
    let status = response.status().as_u16();
    // The answer is bounded like every input: a misbehaving endpoint cannot exhaust memory.
    use http_body_util::BodyExt as _;
    let limit = usize::try_from(crate::files::MAX_INPUT).unwrap_or(usize::MAX);
    let bytes = http_body_util::Limited::new(response.into_body(), limit)
        .collect()
        .await
        .map_err(|e| Error::InputFile {
            path: format!(
                "the answer of {}/{} to {method} {endpoint}",
                controller.namespace, controller.name
            ),
            reason: if e.is::<http_body_util::LengthLimitError>() {
                format!(
                    "larger than {} MiB, the most kubectl-secrets reads",
                    crate::files::MAX_INPUT >> 20
                )
            } else {
                e.to_string()
            },
        })?
        .to_bytes();
    if status == 403 {
        return Err(Error::Forbidden {
            verb: verb.into(),
            resource: "services/proxy".into(),
            scope: scope.describe(),
        });
    }
    if status == 502 || status == 503 {
        return Err(Error::Controller {
            step: format!(
                "{method} {endpoint} of {}/{} through the API server",
                controller.namespace, controller.name
            ),
            detail: format!("HTTP {status}"),
            fix: "the API server cannot reach the controller: check its pods and endpoints".into(),
        });
    }
    Ok((status, bytes.to_vec()))
}

fn sealed_secrets_api(conn: &Connection, namespace: &str) -> Api<kube::api::DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &sealed_secret_resource())
}

pub fn sealed_secret_resource() -> kube::api::ApiResource {
    use kube::api::{ApiResource, GroupVersionKind};
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    )
}

/// The SealedSecret of that name (ciphertexts, template, journal, status), if it exists.
pub async fn get(conn: &Connection, namespace: &str, name: &str) -> Result<Option<SealedSecretState>> {
    let api = sealed_secrets_api(conn, namespace);
    match retrying(|| api.get(name)).await {
        Ok(o) => Ok(Some(SealedSecretState::from_object(
            &o.metadata,
            &o.data["spec"],
            &o.data["status"],
        ))),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(e) => Err(api_error(
            e,
            &Action::new("get", "sealedsecrets", &Scope::Namespace(namespace.into())),
            conn,
        )),
    }
}

/// The controller's key Secrets (label `sealedsecrets.bitnami.com/sealed-secrets-key`, active
/// and compromised alike), private keys included: for backup-keys only.
pub async fn key_secrets(conn: &Connection, namespace: &str) -> Result<Vec<k8s_openapi::api::core::v1::Secret>> {
    check_object_name("namespace", namespace).map_err(Error::Usage)?;
    let scope = Scope::Namespace(namespace.into());
    list_mapped(
        Api::<k8s_openapi::api::core::v1::Secret>::namespaced(conn.client.clone(), namespace),
        kube::api::ListParams::default().labels(KEY_LABEL),
        Action::new("list", "secrets", &scope),
        conn,
        |s| s,
    )
    .await
}

/// The label the controller puts on its key Secrets.
pub const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// A JSON merge patch of a SealedSecret, only if it is still at the resourceVersion the patch
/// names (`metadata.resourceVersion`): only the fields the patch holds change. Returns its state
/// afterwards. 409 means someone else changed it.
pub async fn patch(
    conn: &Connection,
    namespace: &str,
    name: &str,
    patch: &serde_json::Value,
) -> Result<SealedSecretState> {
    use kube::api::{Patch, PatchParams};
    let api = sealed_secrets_api(conn, namespace);
    let params = PatchParams {
        field_manager: Some(crate::domain::annotations::FIELD_MANAGER.into()),
        ..Default::default()
    };
    let patch = Patch::Merge(patch);
    match retrying(|| api.patch(name, &params, &patch)).await {
        Ok(o) => Ok(SealedSecretState::from_object(
            &o.metadata,
            &o.data["spec"],
            &o.data["status"],
        )),
        Err(kube::Error::Api(status)) if status.code == 409 => Err(Error::Conflict {
            namespace: namespace.into(),
            name: format!("{name} (SealedSecret)"),
        }),
        Err(e) => Err(api_error(
            e,
            &Action::new("patch", "sealedsecrets", &Scope::Namespace(namespace.into())),
            conn,
        )),
    }
}
