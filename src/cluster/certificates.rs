//! cert-manager's objects in a scope (Certificates, Issuers, ClusterIssuers,
//! CertificateRequests): one LIST each, run together; nothing where cert-manager is not
//! installed or the user may not read them (the rest of a report still answers).

use jiff::Timestamp;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams};
use serde_json::Value;

use super::{api_error, list_viewed, retrying, Action, Connection, Scope};
use crate::domain::annotations;
use crate::domain::certificates::{self, CertManager, CertificateState, RequestState, GROUP, VERSION};
use crate::error::{Error, Result};

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, kind), plural)
}

/// A LIST of one kind, each object read by `parse`: empty on 404 (not installed), None on 403
/// (the user may not read them).
async fn list<T>(
    conn: &Connection,
    api: Api<DynamicObject>,
    action: Action,
    parse: impl FnMut(Value) -> T,
) -> Result<Option<Vec<T>>> {
    match list_viewed(api, ListParams::default(), action, conn, parse).await {
        Err(Error::NotFound(_)) => Ok(Some(Vec::new())),
        Err(Error::Forbidden { .. }) => Ok(None),
        other => other.map(Some),
    }
}

fn scoped(conn: &Connection, scope: &Scope, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = resource(kind, plural);
    match scope {
        Scope::Namespace(ns) => Api::namespaced_with(conn.client.clone(), ns, &resource),
        Scope::AllNamespaces => Api::all_with(conn.client.clone(), &resource),
    }
}

/// With `requests`, also every CertificateRequest in scope (audit's "why is it not renewed"):
/// cert-manager keeps one per issuance, each with its CSR and certificate, so the commands that
/// do not judge them (verify, list, rotate) do not read them.
pub async fn read(conn: &Connection, scope: &Scope, requests: bool) -> Result<CertManager> {
    let all = Scope::AllNamespaces;
    let read_requests = async {
        if !requests {
            return Ok(Some(Vec::new()));
        }
        list(
            conn,
            scoped(conn, scope, "CertificateRequest", "certificaterequests"),
            Action::new("list", "certificaterequests", scope),
            |o| certificates::parse_request(&o),
        )
        .await
    };
    let (certificates, issuers, cluster_issuers, requests) = tokio::try_join!(
        list(
            conn,
            scoped(conn, scope, "Certificate", "certificates"),
            Action::new("list", "certificates", scope),
            |o| certificates::parse_certificate(&o)
        ),
        list(
            conn,
            scoped(conn, scope, "Issuer", "issuers"),
            Action::new("list", "issuers", scope),
            |o| certificates::parse_issuer(&o)
        ),
        list(
            conn,
            Api::all_with(conn.client.clone(), &resource("ClusterIssuer", "clusterissuers")),
            Action::new("list", "clusterissuers", &all),
            |o| certificates::parse_issuer(&o)
        ),
        read_requests,
    )?;
    Ok(CertManager {
        certificates: certificates.unwrap_or_default(),
        issuers_unreadable: issuers.is_none(),
        cluster_issuers_unreadable: cluster_issuers.is_none(),
        issuers: issuers
            .into_iter()
            .flatten()
            .chain(cluster_issuers.into_iter().flatten())
            .collect(),
        requests: requests.unwrap_or_default(),
    })
}

fn certificates_api(conn: &Connection, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(conn.client.clone(), namespace, &resource("Certificate", "certificates"))
}

/// One Certificate as it stands; None when it does not exist.
pub async fn get(conn: &Connection, namespace: &str, name: &str) -> Result<Option<CertificateState>> {
    let scope = Scope::Namespace(namespace.into());
    let api = certificates_api(conn, namespace);
    match retrying(|| api.get_opt(name)).await {
        Ok(found) => Ok(found.map(|o| certificates::parse_certificate(&serde_json::to_value(&o).unwrap_or_default()))),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(e) => Err(api_error(e, &Action::new("get", "certificates", &scope), conn)),
    }
}

/// Ask cert-manager to issue a Certificate again, as `cmctl renew` does: its Issuing condition
/// set True on the status (with the resourceVersion read, so a concurrent status write is a
/// conflict that is read again, not overwritten).
/// Returns false when nothing was asked: the Certificate had moved past `revision_before`, or
/// cert-manager was issuing it already (see `certificates::renewal_request`).
pub async fn request_renewal(
    conn: &Connection,
    namespace: &str,
    name: &str,
    revision_before: Option<u64>,
) -> Result<bool> {
    let scope = Scope::Namespace(namespace.into());
    let action = Action::new("patch", "certificates/status", &scope);
    let api = certificates_api(conn, namespace);
    let params = PatchParams {
        field_manager: Some(annotations::FIELD_MANAGER.into()),
        ..Default::default()
    };
    let mut attempts = 0;
    loop {
        attempts += 1;
        let object = retrying(|| api.get(name))
            .await
            .map_err(|e| api_error(e, &Action::new("get", "certificates", &scope), conn))?;
        let object = serde_json::to_value(&object).unwrap_or_default();
        let Some(patch) = certificates::renewal_request(&object, Timestamp::now(), revision_before) else {
            return Ok(false);
        };
        match api.patch_status(name, &params, &Patch::Merge(&patch)).await {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 3 => continue,
            Err(e) => return Err(api_error(e, &action, conn)),
        }
    }
}

/// The CertificateRequests of one Certificate in a namespace.
pub async fn requests_of(conn: &Connection, namespace: &str, certificate: &str) -> Result<Vec<RequestState>> {
    let scope = Scope::Namespace(namespace.into());
    let requests = list(
        conn,
        scoped(conn, &scope, "CertificateRequest", "certificaterequests"),
        Action::new("list", "certificaterequests", &scope),
        |o| certificates::parse_request(&o),
    )
    .await?;
    Ok(requests
        .into_iter()
        .flatten()
        .filter(|r| r.certificate.as_deref() == Some(certificate))
        .collect())
}
