//! Names only (metadata LISTs: no Secret value is transferred), for shell completion.

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams};

use super::{api_error, Action, Connection, Scope};
use crate::error::Result;

pub async fn namespaces(conn: &Connection) -> Result<Vec<String>> {
    let list = Api::<Namespace>::all(conn.client.clone())
        .list_metadata(&ListParams::default().limit(500))
        .await
        .map_err(|e| {
            api_error(
                e,
                &Action {
                    verb: "list",
                    resource: "namespaces",
                    scope: "the cluster".into(),
                },
                conn,
            )
        })?;
    Ok(list.items.into_iter().filter_map(|n| n.metadata.name).collect())
}

pub async fn secrets(conn: &Connection, namespace: &str) -> Result<Vec<String>> {
    let scope = Scope::Namespace(namespace.into());
    let list = Api::<Secret>::namespaced(conn.client.clone(), namespace)
        .list_metadata(&ListParams::default().limit(500))
        .await
        .map_err(|e| api_error(e, &Action::new("list", "secrets", &scope), conn))?;
    // kubectl-secrets' own backups are not what a user means to type.
    let is_backup = |s: &kube::api::PartialObjectMeta<Secret>| {
        s.metadata
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(crate::domain::annotations::BACKUP_OF))
    };
    Ok(list
        .items
        .into_iter()
        .filter(|s| !is_backup(s))
        .filter_map(|s| s.metadata.name)
        .collect())
}
