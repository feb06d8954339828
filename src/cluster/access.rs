//! "Can I?" before the first write: SelfSubjectAccessReview for every step a command will
//! take, so a forbidden later step fails before anything changed.

use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec};
use kube::api::{Api, PostParams};

use super::{api_error, retrying, Action, Connection, Scope};
use crate::error::{Error, Result};

/// One permission: verb on resource (in API group) in a namespace; a subresource is written
/// `rollouts/status`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
}

impl Permission {
    pub const fn new(verb: &'static str, group: &'static str, resource: &'static str) -> Self {
        Permission { verb, group, resource }
    }
}

/// Fail with the first permission the user lacks, naming it.
pub async fn require(conn: &Connection, namespace: &str, permissions: &[Permission]) -> Result<()> {
    let api: Api<SelfSubjectAccessReview> = Api::all(conn.client.clone());
    let checks = permissions.iter().map(|p| {
        let (resource, subresource) = match p.resource.split_once('/') {
            Some((resource, sub)) => (resource, Some(sub.to_string())),
            None => (p.resource, None),
        };
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    namespace: Some(namespace.into()),
                    verb: Some(p.verb.into()),
                    group: Some(p.group.into()),
                    resource: Some(resource.into()),
                    subresource,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let api = api.clone();
        async move {
            let params = PostParams::default();
            (p, retrying(|| api.create(&params, &review)).await)
        }
    });
    for (permission, answer) in futures::future::join_all(checks).await {
        let action = Action {
            verb: "create",
            resource: "selfsubjectaccessreviews",
            scope: "the cluster".into(),
        };
        let review = answer.map_err(|e| api_error(e, &action, conn))?;
        if !review.status.is_some_and(|s| s.allowed) {
            let resource = if permission.group.is_empty() {
                permission.resource.to_string()
            } else {
                format!("{}.{}", permission.resource, permission.group)
            };
            return Err(Error::Forbidden {
                verb: permission.verb.into(),
                resource,
                scope: Scope::Namespace(namespace.into()).describe(),
            });
        }
    }
    Ok(())
}

/// The user name the API server knows us by (SelfSubjectReview), for the change records; None
/// when the server does not say (older servers, restricted RBAC).
pub async fn whoami(conn: &Connection) -> Option<String> {
    let api: Api<SelfSubjectReview> = Api::all(conn.client.clone());
    let review = api
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .ok()?;
    review.status?.user_info?.username
}
