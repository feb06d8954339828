//! The test bed is a real control plane: a Deployment made with the kube client rolls out
//! through the controller-manager, the scheduler and kwok, and a restart rolls out again; its
//! binaries say which Kubernetes release they are.

use std::process::Command;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use crate::support::{admin, cluster, deployment, kubectl_path, TestNamespace};

/// A version pinned in scripts/versions.env.
fn pinned(name: &str) -> String {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/versions.env")).unwrap();
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} is not pinned in scripts/versions.env"));
    line.trim_matches('"').to_string()
}

#[tokio::test]
async fn the_control_plane_and_kubectl_report_their_real_release() {
    // scripts/test-compat.sh names the older release its bed runs.
    let expected = std::env::var("KUBECTL_SECRETS_E2E_KUBERNETES_VERSION")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| pinned("KUBERNETES_VERSION"));
    let info = admin().await.apiserver_version().await.unwrap();
    assert_eq!(info.git_version, expected, "{info:?}");
    assert_eq!(info.major, "1");
    assert!(expected.starts_with(&format!("v1.{}.", info.minor)), "{info:?}");
    assert!(["clean", "archive"].contains(&info.git_tree_state.as_str()), "{info:?}");

    let out = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let versions: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(versions["clientVersion"]["gitVersion"], pinned("KUBERNETES_VERSION"));
    assert_eq!(versions["serverVersion"]["gitVersion"], expected.as_str());
}

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

/// A second checkout (its own, empty state) that runs cluster-up on the ports of a bed already
/// running is refused, and neither its refusal nor its clean-up touches the running bed: the
/// Sealed Secrets controller in that bed's network namespace still answers afterwards.
#[tokio::test]
async fn a_second_checkouts_bed_is_refused_and_leaves_the_running_one_whole() {
    let ns = TestNamespace::new("second-bed").await;
    let kubeconfig = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let api_port = kubeconfig
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: https://127.0.0.1:"))
        .expect("the bed's API server address")
        .trim()
        .to_string();
    let other_state = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster-up.sh"))
        .env("STATE_DIR", other_state.path())
        .env("API_PORT", &api_port)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("is already taken"), "{stderr}");
    let down = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster-down.sh"))
        .env("STATE_DIR", other_state.path())
        .output()
        .unwrap();
    assert!(down.status.success());
    let fetched = ns.run(&["fetch-cert"]);
    assert_eq!(
        fetched.code, 0,
        "the running bed's controller still answers: {fetched:?}"
    );
    assert!(fetched.stdout.contains("BEGIN CERTIFICATE"), "{}", fetched.stdout);
}
