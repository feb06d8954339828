//! `rotate --sealed-file [--apply]`: a Secret the real Sealed Secrets controller unseals,
//! rotated through its GitOps file.

use serde_json::json;

use crate::support::{canary, cluster, deployment, exit, kubectl_path, TestNamespace};

fn kubectl_apply(ns: &TestNamespace, path: &std::path::Path) {
    let out = std::process::Command::new(kubectl_path())
        .args(["apply", "-f", path.to_str().unwrap(), "-n", &ns.name])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn encrypted(path: &std::path::Path, key: &str) -> String {
    let doc: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["spec"]["encryptedData"][key].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_sealed_secret_is_rotated_through_its_file_then_applied_unsealed_and_its_consumers_restarted() {
    let ns = TestNamespace::new("sealed-rotate").await;
    let (old, keep) = (canary("openai"), canary("keep"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-keys.yaml");
    let sealed = ns.run(&[
        "seal",
        "api-keys",
        "--from-literal",
        &format!("openai={old}"),
        "--from-literal",
        &format!("anthropic={keep}"),
    ]);
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    std::fs::write(&file, format!("# GitOps: sealed/api-keys.yaml\n{}", sealed.stdout)).unwrap();
    kubectl_apply(&ns, &file);
    crate::seal::unsealed(&ns, "api-keys").await;
    let pod =
        json!({"containers": [{"name": "api", "image": "api", "envFrom": [{"secretRef": {"name": "api-keys"}}]}]});
    ns.create_deployment(deployment("chatbox", 2, pod)).await;
    ns.wait_ready("deployment", "chatbox").await;
    let before_pods = ns.pod_names("chatbox-").await;
    let path = file.to_str().unwrap();

    let refused = ns.run(&["rotate", "api-keys", "--key", "openai", "--yes"]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(refused.stderr.contains("--sealed-file"), "{}", refused.stderr);

    // Without --apply: only the file changes (GitOps applies it).
    let anthropic_before = encrypted(&file, "anthropic");
    let openai_before = encrypted(&file, "openai");
    let file_only = ns.run(&["rotate", "api-keys", "--key", "openai", "--sealed-file", path, "--yes"]);
    assert_eq!(file_only.code, exit::OK, "{file_only:?}");
    assert_ne!(encrypted(&file, "openai"), openai_before);
    assert_eq!(encrypted(&file, "anthropic"), anthropic_before, "other keys untouched");
    assert!(
        std::fs::read_to_string(&file).unwrap().starts_with("# GitOps"),
        "comments kept"
    );
    assert_eq!(
        ns.secret_data("api-keys").await["openai"],
        old.as_bytes(),
        "the cluster is not changed"
    );
    assert_eq!(
        ns.secret_names().await.len(),
        1,
        "no backup: nothing was written to the cluster"
    );
    assert!(file_only.stderr.contains("commit and push it"), "{}", file_only.stderr);

    // With --apply: sealed, applied, unsealed by the controller, consumers restarted, verified.
    let run = ns.run(&[
        "rotate",
        "api-keys",
        "--key",
        "openai=alnum:40",
        "--sealed-file",
        path,
        "--apply",
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("api-keys").await;
    let new = String::from_utf8(data["openai"].clone()).unwrap();
    assert_eq!(new.len(), 40);
    assert_ne!(new, old);
    assert_eq!(data["anthropic"], keep.as_bytes());
    let after_pods = ns.pod_names("chatbox-").await;
    assert!(after_pods.iter().all(|p| !before_pods.contains(p)), "restarted");
    assert!(
        run.stdout.contains("exact"),
        "verified with exact evidence: {}",
        run.stdout
    );
    assert!(
        ns.secret_names()
            .await
            .iter()
            .any(|n| n.starts_with("api-keys.backup-r")),
        "the previous data was backed up"
    );
    let valid = ns.run(&["seal", "--validate", path]);
    assert_eq!(
        valid.code,
        exit::OK,
        "the file the controller unsealed is the one written: {valid:?}"
    );
    let owner = ns
        .get_secret("api-keys")
        .await
        .unwrap()
        .metadata
        .owner_references
        .unwrap();
    assert_eq!(owner[0].kind, "SealedSecret", "still the controller's Secret");
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(
        !written.contains(&new) && !written.contains(&old),
        "only ciphertext in the file"
    );
    for out in [&refused, &file_only, &run, &valid] {
        out.assert_no_leak([&old, &keep, &new]);
    }
}
