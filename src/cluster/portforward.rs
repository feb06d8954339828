//! A database server in the cluster, reached the way `kubectl port-forward` reaches it: through
//! the API server's pods/portforward subresource (a WebSocket to the kubelet). Database clients
//! want a TCP address, so a bridge listens on 127.0.0.1 (an ephemeral port, this process only
//! while the change runs) and opens one port-forward stream per connection it accepts.

use std::net::SocketAddr;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::{api_error, Action, Connection, Scope};
use crate::domain::issuer::ServerWorkload;
use crate::error::{Error, Result};

/// A local address that leads to `port` of a pod; stops listening when dropped.
pub struct Bridge {
    pub local: SocketAddr,
    /// The pod the connections reach ("postgres-0").
    pub pod: String,
    task: JoinHandle<()>,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The pod a server reference leads to: the pod itself, or a Ready pod of the StatefulSet or
/// Deployment (a StatefulSet's lowest ordinal, usually its primary; else the first by name).
pub async fn pod_of(conn: &Connection, namespace: &str, kind: ServerWorkload, name: &str) -> Result<String> {
    let scope = Scope::Namespace(namespace.into());
    if kind == ServerWorkload::Pod {
        return Ok(name.to_string());
    }
    let selector = match kind {
        ServerWorkload::StatefulSet => {
            let api: Api<StatefulSet> = Api::namespaced(conn.client.clone(), namespace);
            let action = Action::new("get", "statefulsets", &scope);
            api.get(name)
                .await
                .map_err(|e| api_error(e, &action, conn))?
                .spec
                .selector
        }
        _ => {
            let api: Api<Deployment> = Api::namespaced(conn.client.clone(), namespace);
            let action = Action::new("get", "deployments", &scope);
            api.get(name)
                .await
                .map_err(|e| api_error(e, &action, conn))?
                .spec
                .selector
        }
    };
    let labels = selector
        .match_labels
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), namespace);
    let action = Action::new("list", "pods", &scope);
    let mut ready: Vec<String> = pods
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|e| api_error(e, &action, conn))?
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
        .filter_map(|p| p.metadata.name)
        .collect();
    // The lowest ordinal, as a number ("db-10" after "db-9"; with `spec.ordinals.start` the
    // first pod is not "-0").
    ready.sort_by_key(|n| (ordinal(n), n.clone()));
    ready.into_iter().next().ok_or_else(|| {
        Error::NotFound(format!(
            "{} {namespace}/{name} has no Ready pod to reach its database server through (kubectl get pods -n {namespace})",
            kind.as_str()
        ))
    })
}

fn ordinal(pod: &str) -> u64 {
    pod.rsplit('-').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Listen on 127.0.0.1 and forward every connection to `port` of `pod`.
pub async fn bridge(conn: &Connection, namespace: &str, pod: &str, port: u16) -> Result<Bridge> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| Error::Api {
        action: format!("listen on 127.0.0.1 for the port-forward to pod {namespace}/{pod}"),
        message: e.to_string(),
    })?;
    let local = listener.local_addr().map_err(|e| Error::Api {
        action: "read the bridge's address".into(),
        message: e.to_string(),
    })?;
    // The first stream is opened here, so that a pod that cannot be forwarded to fails the step
    // with the API server's answer rather than a database client's "connection reset".
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), namespace);
    let action = Action::new("create", "pods/portforward", &Scope::Namespace(namespace.into()));
    let first = pods
        .portforward(pod, &[port])
        .await
        .map_err(|e| api_error(e, &action, conn))?;
    let pod_name = pod.to_string();
    let task = tokio::spawn(async move {
        let mut first = Some(first);
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let forwarder = match first.take() {
                Some(f) => Ok(f),
                None => pods.portforward(&pod_name, &[port]).await,
            };
            // A stream that cannot be opened closes the client's connection: the database
            // client reports it, and the step fails with that.
            let Ok(mut forwarder) = forwarder else {
                continue;
            };
            tokio::spawn(async move {
                if let Some(mut stream) = forwarder.take_stream(port) {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
                }
                forwarder.abort();
            });
        }
    });
    Ok(Bridge {
        local,
        pod: pod.to_string(),
        task,
    })
}

#[cfg(test)]
mod tests {
    use super::ordinal;

    #[test]
    fn pods_are_ordered_by_their_ordinal_as_a_number() {
        let mut pods = vec!["db-10".to_string(), "db-9".into(), "web-abc12".into(), "db-11".into()];
        pods.sort_by_key(|n| (ordinal(n), n.clone()));
        assert_eq!(pods, ["db-9", "db-10", "db-11", "web-abc12"]);
    }
}
