//! The test bed is a real control plane: a Deployment made with the kube client rolls out
//! through the controller-manager, the scheduler and kwok, and a restart rolls out again.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;

use crate::support::{deployment, TestNamespace};

#[tokio::test]
async fn deployment_rolls_out_and_restarts_on_the_real_control_plane() {
    let ns = TestNamespace::new("testbed").await;
    let nodes = Api::<Node>::all(ns.client.clone())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(nodes.items.len() >= 3, "expected at least 3 kwok nodes");

    ns.create_deployment(deployment(
        "web",
        3,
        json!({"containers": [{"name": "web", "image": "nginx"}]}),
    ))
    .await;
    ns.wait_ready("deployment", "web").await;
    let pods: Api<Pod> = Api::namespaced(ns.client.clone(), &ns.name);
    let before: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    assert_eq!(before.len(), 3);

    // What `kubectl rollout restart` does.
    let deployments: Api<Deployment> = Api::namespaced(ns.client.clone(), &ns.name);
    let restart = json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-01T00:00:00Z"}}}}});
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(restart))
        .await
        .unwrap();
    ns.wait_ready("deployment", "web").await;

    let replica_sets = Api::<ReplicaSet>::namespaced(ns.client.clone(), &ns.name)
        .list(&ListParams::default())
        .await
        .unwrap();
    assert_eq!(replica_sets.items.len(), 2, "the restart created a second ReplicaSet");
    // Old pods may still be terminating; the ready ones are all new.
    let after = pods.list(&ListParams::default()).await.unwrap().items;
    let ready_new: Vec<_> = after
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| !before.contains(p.metadata.name.as_ref().unwrap()))
        .collect();
    assert_eq!(ready_new.len(), 3, "three new pods replaced the old ones");
}
