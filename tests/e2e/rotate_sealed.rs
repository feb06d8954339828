//! `rotate --sealed-file [--apply]`: a Secret the real Sealed Secrets controller unseals,
//! rotated through its GitOps file.

use serde_json::json;

use crate::support::{annotations, canary, cluster, deployment, exit, kubectl_path, Background, TestNamespace};

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
    // An OpenAI key is issued by OpenAI: a random one is generated only when the generator is named.
    let issued = ns.run(&["rotate", "api-keys", "--key", "openai", "--sealed-file", path, "--yes"]);
    assert_eq!(issued.code, exit::USAGE, "{issued:?}");
    assert!(
        issued.stderr.contains("issued by OpenAI") && issued.stderr.contains("--from-stdin openai"),
        "{}",
        issued.stderr
    );
    assert_eq!(encrypted(&file, "openai"), openai_before, "the file is not touched");
    let file_only = ns.run(&[
        "rotate",
        "api-keys",
        "--key",
        "openai=alnum:48",
        "--sealed-file",
        path,
        "--yes",
    ]);
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
    issued.assert_no_leak([&old, &keep]);

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

/// SealedSecret api-keys {openai, anthropic} sealed with this tool into a GitOps file, applied
/// and unsealed by the real controller, read by a one-replica Deployment `chatbox`.
async fn sealed_scenario(
    ns: &TestNamespace,
    dir: &std::path::Path,
    openai: &str,
    anthropic: &str,
) -> std::path::PathBuf {
    let file = dir.join("api-keys.yaml");
    let sealed = ns.run(&[
        "seal",
        "api-keys",
        "--from-literal",
        &format!("openai={openai}"),
        "--from-literal",
        &format!("anthropic={anthropic}"),
    ]);
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    std::fs::write(&file, &sealed.stdout).unwrap();
    kubectl_apply(ns, &file);
    crate::seal::unsealed(ns, "api-keys").await;
    let pod =
        json!({"containers": [{"name": "api", "image": "api", "envFrom": [{"secretRef": {"name": "api-keys"}}]}]});
    ns.create_deployment(deployment("chatbox", 1, pod)).await;
    ns.wait_ready("deployment", "chatbox").await;
    file
}

/// Re-seal `key` as `value` into `file` (kubeseal --merge-into: the rest of the file, template
/// included, is kept), apply it and wait until the controller has unsealed it.
async fn reseal_and_apply(ns: &TestNamespace, file: &std::path::Path, key: &str, value: &str) -> crate::support::Run {
    let merged = ns.run(&[
        "seal",
        "api-keys",
        "--from-literal",
        &format!("{key}={value}"),
        "--merge-into",
        file.to_str().unwrap(),
    ]);
    assert_eq!(merged.code, exit::OK, "{merged:?}");
    kubectl_apply(ns, file);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ns.secret_data("api-keys").await[key] != value.as_bytes() {
        assert!(
            std::time::Instant::now() < deadline,
            "the controller never unsealed the newer value"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    merged
}

/// `rotate api-keys --key openai=alnum:48` through `path`, applied, without questions.
fn rotate_args<'a>(path: &'a str, namespace: &'a str) -> [&'a str; 12] {
    [
        "rotate",
        "api-keys",
        "--key",
        "openai=alnum:48",
        "--sealed-file",
        path,
        "--apply",
        "--yes",
        "--min-restart-interval",
        "0",
        "-n",
        namespace,
    ]
}

/// The cluster's SealedSecret as JSON.
fn cluster_sealed(ns: &TestNamespace) -> serde_json::Value {
    let out = std::process::Command::new(kubectl_path())
        .args(["get", "sealedsecret", "api-keys", "-o", "json", "-n", &ns.name])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_stale_sealed_file_is_a_conflict_not_a_revert() {
    let ns = TestNamespace::new("sealed-stale").await;
    let (openai, anthropic, newer) = (canary("openai"), canary("anthropic"), canary("newer"));
    let dir = tempfile::tempdir().unwrap();
    let file = sealed_scenario(&ns, dir.path(), &openai, &anthropic).await;
    // Someone re-sealed anthropic in another copy of the file and applied it: ours is stale.
    let other = dir.path().join("other-copy.yaml");
    std::fs::copy(&file, &other).unwrap();
    let merged = reseal_and_apply(&ns, &other, "anthropic", &newer).await;
    let stale_text = std::fs::read_to_string(&file).unwrap();
    let before = cluster_sealed(&ns);

    let run = ns.run(&[
        "rotate",
        "api-keys",
        "--key",
        "openai=alnum:48",
        "--sealed-file",
        file.to_str().unwrap(),
        "--apply",
        "--yes",
    ]);
    assert_eq!(run.code, exit::CONFLICT, "{run:?}");
    assert!(run.stderr.contains("disagree about anthropic"), "{}", run.stderr);
    let data = ns.secret_data("api-keys").await;
    assert_eq!(data["anthropic"], newer.as_bytes(), "the newer value is not reverted");
    assert_eq!(data["openai"], openai.as_bytes());
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        stale_text,
        "the file is untouched"
    );
    assert_eq!(
        cluster_sealed(&ns)["spec"],
        before["spec"],
        "the SealedSecret is untouched"
    );
    assert!(
        ns.secret_names().await.iter().all(|n| !n.contains(".backup-")),
        "no backup made"
    );
    for out in [&merged, &run] {
        out.assert_no_leak([&openai, &anthropic, &newer]);
    }
}

#[tokio::test]
async fn an_interrupted_sealed_rotation_is_resumed_and_another_aborted() {
    let ns = TestNamespace::new("sealed-recover").await;
    let (openai, anthropic) = (canary("openai"), canary("anthropic"));
    let dir = tempfile::tempdir().unwrap();
    let file = sealed_scenario(&ns, dir.path(), &openai, &anthropic).await;
    let path = file.to_str().unwrap().to_string();
    let args = rotate_args(&path, &ns.name);

    // Killed after the SealedSecret and the file were written: --resume finishes it.
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let killed = tool.finish();
    let journal = cluster_sealed(&ns)["metadata"]["annotations"][annotations::JOURNAL].clone();
    assert!(journal.is_string(), "the SealedSecret carries the journal");
    let pods = ns.pod_names("chatbox-").await;
    // The journal names the file, but a file is only ever the one the operator names: without
    // it the recovery says which; another file (a copy elsewhere, say another cluster's) is refused.
    let unnamed = ns.run(&["rotate", "api-keys", "--resume", "--yes", "--min-restart-interval", "0"]);
    assert_eq!(unnamed.code, exit::USAGE, "{unnamed:?}");
    assert!(
        unnamed.stderr.contains("--sealed-file") && unnamed.stderr.contains(&path),
        "{}",
        unnamed.stderr
    );
    let elsewhere = dir.path().join("prod-api-keys.yaml");
    std::fs::copy(&file, &elsewhere).unwrap();
    let other = ns.run(&[
        "rotate",
        "api-keys",
        "--resume",
        "--sealed-file",
        elsewhere.to_str().unwrap(),
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(other.code, exit::UNTRUSTED, "{other:?}");
    assert!(other.stderr.contains("it recorded the file"), "{}", other.stderr);
    let resume = ns.run(&[
        "rotate",
        "api-keys",
        "--resume",
        "--sealed-file",
        &path,
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(resume.code, exit::OK, "{resume:?}");
    assert!(resume.stdout.contains("exact"), "verified: {}", resume.stdout);
    let rotated = String::from_utf8(ns.secret_data("api-keys").await["openai"].clone()).unwrap();
    assert_ne!(rotated, openai);
    assert_eq!(ns.secret_data("api-keys").await["anthropic"], anthropic.as_bytes());
    assert!(
        ns.pod_names("chatbox-").await.iter().all(|p| !pods.contains(p)),
        "restarted"
    );
    let sealed = cluster_sealed(&ns);
    assert!(
        sealed["metadata"]["annotations"][annotations::JOURNAL].is_null(),
        "journal cleared"
    );
    assert_eq!(
        sealed["spec"]["encryptedData"]["openai"].as_str().unwrap(),
        encrypted(&file, "openai"),
        "file and cluster hold the same ciphertext"
    );

    // Killed again at the same point: --abort puts the previous ciphertexts back everywhere.
    let previous_ciphertext = encrypted(&file, "openai");
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let killed_again = tool.finish();
    assert_ne!(
        encrypted(&file, "openai"),
        previous_ciphertext,
        "the file was rewritten before the kill"
    );
    let dry = ns.run(&["rotate", "api-keys", "--abort", "--sealed-file", &path, "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(cluster_sealed(&ns)["metadata"]["annotations"][annotations::JOURNAL].is_string());
    let abort = ns.run(&[
        "rotate",
        "api-keys",
        "--abort",
        "--sealed-file",
        &path,
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert_eq!(
        ns.secret_data("api-keys").await["openai"],
        rotated.as_bytes(),
        "the previous value is back"
    );
    assert_eq!(
        encrypted(&file, "openai"),
        previous_ciphertext,
        "and the file's ciphertext"
    );
    let sealed = cluster_sealed(&ns);
    assert_eq!(
        sealed["spec"]["encryptedData"]["openai"].as_str().unwrap(),
        previous_ciphertext
    );
    assert!(sealed["metadata"]["annotations"][annotations::JOURNAL].is_null());
    let verify = ns.run(&["verify", "api-keys"]);
    assert_eq!(
        verify.code,
        exit::OK,
        "the pods run with the restored value: {verify:?}"
    );
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(!written.contains(&openai) && !written.contains(&rotated));
    for out in [&killed, &unnamed, &other, &resume, &killed_again, &dry, &abort, &verify] {
        out.assert_no_leak([&openai, &anthropic, &rotated]);
    }
}

#[tokio::test]
async fn an_unsealing_timeout_restores_the_file_and_the_cluster() {
    let ns = TestNamespace::new("sealed-timeout").await;
    let (openai, anthropic) = (canary("openai"), canary("anthropic"));
    let dir = tempfile::tempdir().unwrap();
    let file = sealed_scenario(&ns, dir.path(), &openai, &anthropic).await;
    let text_before = std::fs::read_to_string(&file).unwrap();
    let spec_before = cluster_sealed(&ns)["spec"]["encryptedData"].clone();
    let pods = ns.pod_names("chatbox-").await;
    // No controller unseals within a millisecond: the change is undone.
    let run = ns.run(&[
        "rotate",
        "api-keys",
        "--key",
        "openai=alnum:48",
        "--sealed-file",
        file.to_str().unwrap(),
        "--apply",
        "--timeout",
        "1ms",
        "--yes",
    ]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(
        run.stderr.contains("previous SealedSecret ciphertexts were put back"),
        "{}",
        run.stderr
    );
    assert_eq!(ns.secret_data("api-keys").await["openai"], openai.as_bytes());
    assert_eq!(
        encrypted(&file, "openai"),
        spec_before["openai"].as_str().unwrap(),
        "the file holds the previous ciphertext again"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text_before, "byte for byte");
    let sealed = cluster_sealed(&ns);
    assert_eq!(
        sealed["spec"]["encryptedData"], spec_before,
        "and the cluster's SealedSecret"
    );
    assert!(
        sealed["metadata"]["annotations"][annotations::JOURNAL].is_null(),
        "journal cleared"
    );
    // Whether the controller unsealed the new value before the undo cannot be known: the pods
    // restart with the previous one, so that verify can prove it (exact evidence).
    assert!(
        ns.pod_names("chatbox-").await.iter().all(|p| !pods.contains(p)),
        "restarted"
    );
    let verify = ns.run(&["verify", "api-keys", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    assert_eq!(verify.json()["workloads"][0]["findings"][0]["evidence"], "exact");
    for out in [&run, &verify] {
        out.assert_no_leak([&openai, &anthropic]);
    }
}

/// The bed's Sealed Secrets controller, stopped (SIGSTOP to its process group) until dropped:
/// a controller that is busy elsewhere and unseals late.
struct StoppedController(String);

impl StoppedController {
    fn stop() -> Self {
        let pid_file = cluster().admin_kubeconfig.with_file_name("sealed-secrets.pid");
        let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_string();
        let group = format!("-{pid}");
        assert!(std::process::Command::new("kill")
            .args(["-STOP", "--", &group])
            .status()
            .unwrap()
            .success());
        StoppedController(group)
    }
}

impl Drop for StoppedController {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", "--", &self.0])
            .status();
    }
}

#[tokio::test]
async fn a_controller_that_unseals_late_still_gives_exact_evidence() {
    let ns = TestNamespace::new("sealed-late").await;
    let (openai, anthropic) = (canary("openai"), canary("anthropic"));
    let dir = tempfile::tempdir().unwrap();
    let file = sealed_scenario(&ns, dir.path(), &openai, &anthropic).await;
    let path = file.to_str().unwrap().to_string();
    let args = rotate_args(&path, &ns.name);
    // The controller unseals the rotation's write only seconds after the stamp's time. (It is
    // stopped once the plan is made: planning fetches its certificate.)
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("backed-up:2"));
    tool.wait_for("failpoint backed-up");
    let stopped = StoppedController::stop();
    tool.wait_for("waiting for the controller to unseal it");
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    drop(stopped);
    let run = tool.finish();
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("api-keys").await;
    assert_ne!(data["openai"], openai.as_bytes(), "rotated");
    assert_eq!(data["anthropic"], anthropic.as_bytes());

    // The controller's write of the data is seconds newer than the stamp it carries.
    let secret = serde_json::to_value(ns.get_secret("api-keys").await.unwrap()).unwrap();
    let rotated_at: jiff::Timestamp = secret["metadata"]["annotations"][annotations::ROTATED_AT]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let written: jiff::Timestamp = secret["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"].get("f:data").is_some())
        .filter_map(|e| e["time"].as_str()?.parse().ok())
        .max()
        .unwrap();
    assert!(
        written >= rotated_at + jiff::SignedDuration::from_secs(3),
        "unsealed late: stamp {rotated_at}, data written {written}"
    );
    // The SealedSecret is still at the generation the stamp names: the pods provably run it.
    let verify = ns.run(&["verify", "api-keys", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    assert_eq!(
        verify.json()["workloads"][0]["findings"][0]["evidence"],
        "exact",
        "{}",
        verify.stdout
    );

    // Re-sealed since with the template kept (the stamp rides along): the pods are stale, by time.
    let resealed = dir.path().join("resealed.yaml");
    std::fs::write(&resealed, serde_json::to_string(&cluster_sealed(&ns)).unwrap()).unwrap();
    let newer = canary("newer");
    let merged = reseal_and_apply(&ns, &resealed, "anthropic", &newer).await;
    let stale = ns.run(&["verify", "api-keys", "-o", "json"]);
    assert_eq!(stale.code, exit::FOUND, "{stale:?}");
    assert_eq!(
        stale.json()["workloads"][0]["findings"][0]["evidence"],
        "time",
        "{}",
        stale.stdout
    );
    for out in [&run, &verify, &merged, &stale] {
        out.assert_no_leak([&openai, &anthropic, &newer]);
    }
}
