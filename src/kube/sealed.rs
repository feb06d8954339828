//! The Sealed Secrets controller's certificate through the API server's service proxy, found
//! the way kubeseal finds it (a Service name and namespace; its first port).

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;

use super::{api_error, Action, Connection, Scope};
use crate::error::{Error, Result};

pub struct Controller {
    pub namespace: String,
    pub name: String,
}

pub async fn fetch_cert(conn: &Connection, controller: &Controller) -> Result<Vec<u8>> {
    let scope = Scope::Namespace(controller.namespace.clone());
    let service = match Api::<Service>::namespaced(conn.client.clone(), &controller.namespace).get(&controller.name).await {
        Ok(service) => service,
        Err(kube::Error::Api(status)) if status.code == 404 => {
            return Err(Error::CertFetch {
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
        .ok_or_else(|| Error::CertFetch {
            step: format!("reading Service {}/{}", controller.namespace, controller.name),
            detail: "it has no ports".into(),
            fix: "check the controller's installation, or use --cert FILE|URL".into(),
        })?;
    let path = format!(
        "/api/v1/namespaces/{}/services/http:{}:{port}/proxy/v1/cert.pem",
        controller.namespace, controller.name
    );
    let request = http::Request::get(&path).body(Vec::new()).map_err(|e| Error::Api {
        action: "build request".into(),
        message: e.to_string(),
    })?;
    match conn.client.request_text(request).await {
        Ok(pem) => Ok(pem.into_bytes()),
        Err(kube::Error::Api(status)) if status.code == 403 => Err(Error::Forbidden {
            verb: "get".into(),
            resource: "services/proxy".into(),
            scope: scope.describe(),
        }),
        Err(kube::Error::Api(status)) => Err(Error::CertFetch {
            step: format!("GET {path} through the API server"),
            detail: format!("{} {}", status.code, status.message),
            fix: "the Service exists but the API server cannot reach the controller: check its pods and endpoints, or use --cert FILE|URL".into(),
        }),
        Err(e) => Err(api_error(e, &Action::new("get", "services/proxy", &scope), conn)),
    }
}

/// The SealedSecret of that name and its unseal status, if the API and the object exist.
pub async fn status(
    conn: &Connection,
    namespace: &str,
    name: &str,
) -> Result<Option<crate::core::model::SealedSecretInfo>> {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(conn.client.clone(), namespace, &resource);
    match api.get(name).await {
        Ok(o) => Ok(Some(crate::core::model::SealedSecretInfo::from_object(
            &o.metadata,
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
