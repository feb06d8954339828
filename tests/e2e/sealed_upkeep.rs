//! Sealed Secrets upkeep against the real controller: validate and re-encrypt files after a
//! key renewal triggered on purpose, edit a file's keys, and back up the controller's keys.

use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use serde_json::json;

use crate::support::{canary, cluster, exit, kubeseal_to_file, TestNamespace};

const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

async fn controller_keys(ns: &TestNamespace) -> Vec<Secret> {
    let mut keys = Api::<Secret>::namespaced(ns.client.clone(), "kube-system")
        .list(&ListParams::default().labels(KEY_LABEL))
        .await
        .expect("list the controller's keys")
        .items;
    keys.sort_by_key(|k| {
        (
            k.metadata.creation_timestamp.clone().map(|t| t.0),
            k.metadata.name.clone(),
        )
    });
    keys
}

/// The controller makes a new key on SIGUSR1 (like its renewal period would): wait for it.
async fn renew_controller_key(ns: &TestNamespace) -> Secret {
    let before = controller_keys(ns).await.len();
    let pid_file = cluster().admin_kubeconfig.with_file_name("sealed-secrets.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("the controller's pid file");
    assert!(std::process::Command::new("kill")
        .args(["-USR1", pid.trim()])
        .status()
        .unwrap()
        .success());
    for _ in 0..100 {
        let keys = controller_keys(ns).await;
        if keys.len() > before {
            return keys.last().unwrap().clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the controller made no new key after SIGUSR1");
}

fn write_private_key(secret: &Secret, path: &Path) {
    let key = &secret.data.as_ref().unwrap()["tls.key"].0;
    std::fs::write(path, key).unwrap();
}

#[tokio::test]
async fn files_are_validated_and_re_encrypted_with_the_newest_key_keeping_their_format() {
    let ns = TestNamespace::new("reencrypt").await;
    let (jwt, db) = (canary("jwt"), canary("db"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    let app = dir.path().join("app.yaml");
    let sealed = ns.run(&["seal", "app", "--from-literal", &format!("JWT_SECRET={jwt}")]);
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    std::fs::write(&app, format!("# production: sealed by CI\n{}", sealed.stdout)).unwrap();
    let db_json = dir.path().join("sub/db.json");
    std::fs::copy(kubeseal_to_file(&ns.name, "db", &[("password", &db)]).path(), &db_json).unwrap();
    let other = dir.path().join("sub/configmap.yaml");
    std::fs::write(&other, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    std::fs::write(dir.path().join(".git/ignored.yaml"), "not: [yaml").unwrap();
    let folder = dir.path().to_str().unwrap();

    let valid = ns.run(&["seal", "--validate", folder]);
    assert_eq!(valid.code, exit::OK, "{valid:?}");
    assert_eq!(
        valid.stdout.matches("ok: the controller can decrypt it").count(),
        2,
        "{}",
        valid.stdout
    );

    let newest = renew_controller_key(&ns).await;
    let newest_key = dir.path().join("newest.key");
    write_private_key(&newest, &newest_key);
    let before = ns.run(&[
        "unseal",
        app.to_str().unwrap(),
        "--private-key",
        newest_key.to_str().unwrap(),
    ]);
    assert_ne!(
        before.code,
        exit::OK,
        "sealed before the renewal: the new key cannot open it"
    );

    let run = ns.run(&["seal", "--re-encrypt", folder]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_eq!(run.stdout.matches("re-encrypted (1 key)").count(), 2, "{}", run.stdout);
    let app_text = std::fs::read_to_string(&app).unwrap();
    assert!(
        app_text.starts_with("# production: sealed by CI\n"),
        "comments kept: {app_text}"
    );
    assert!(
        !app_text.contains(&jwt) && !app_text.contains(&base64_of(&jwt)),
        "only ciphertext is written"
    );
    assert!(
        std::fs::read_to_string(&db_json).unwrap().trim_start().starts_with('{'),
        "JSON stays JSON"
    );
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "other files untouched"
    );
    for (file, key, value) in [(&app, "JWT_SECRET", &jwt), (&db_json, "password", &db)] {
        let opened = ns.run(&[
            "unseal",
            file.to_str().unwrap(),
            "--private-key",
            newest_key.to_str().unwrap(),
        ]);
        assert_eq!(
            opened.code,
            exit::OK,
            "the newest key opens the re-encrypted file: {opened:?}"
        );
        let data = &opened.yaml()["data"][key];
        assert_eq!(data, &json!(base64_of(value)));
    }
    let still_valid = ns.run(&["seal", "--validate", folder, "-o", "json"]);
    assert_eq!(still_valid.code, exit::OK, "{still_valid:?}");
    assert_eq!(still_valid.json()["files"].as_array().unwrap().len(), 2);

    // A tampered file: validate says so (exit 1), re-encrypt leaves it as it was.
    let text = std::fs::read_to_string(&db_json).unwrap();
    let at = text.find("\"password\": \"").unwrap() + 40;
    let flipped = if &text[at..at + 1] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &text[..at], &text[at + 1..]);
    std::fs::write(&db_json, &tampered).unwrap();
    let invalid = ns.run(&["seal", "--validate", db_json.to_str().unwrap()]);
    assert_eq!(invalid.code, exit::FOUND, "{invalid:?}");
    assert!(
        invalid
            .stdout
            .contains("cannot be decrypted by this cluster's controller"),
        "{}",
        invalid.stdout
    );
    let refused = ns.run(&["seal", "--re-encrypt", db_json.to_str().unwrap()]);
    assert_eq!(refused.code, exit::FOUND, "{refused:?}");
    assert_eq!(std::fs::read_to_string(&db_json).unwrap(), tampered, "left as it was");

    let nothing = ns.run(&["seal", "--validate", other.to_str().unwrap()]);
    assert_eq!(nothing.code, exit::USAGE, "{nothing:?}");
    assert!(nothing.stderr.contains("holds no SealedSecret"), "{}", nothing.stderr);
    for out in [&valid, &run, &still_valid, &invalid, &refused, &nothing] {
        out.assert_no_leak([&jwt, &db]);
    }
}

fn base64_of(value: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(value)
}

#[tokio::test]
async fn edit_adds_replaces_and_removes_keys_the_controller_then_unseals() {
    let ns = TestNamespace::new("seal-edit").await;
    let (old, new, added) = (canary("old"), canary("new"), canary("added"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("api-keys.yaml");
    let sealed = ns.run(&[
        "seal",
        "api-keys",
        "--from-literal",
        &format!("openai={old}"),
        "--from-literal",
        "stale=x",
    ]);
    std::fs::write(&file, format!("# api keys\n{}", sealed.stdout)).unwrap();
    let value_file = dir.path().join("openai.key");
    std::fs::write(&value_file, &new).unwrap();
    let added_file = dir.path().join("anthropic.key");
    std::fs::write(&added_file, &added).unwrap();
    let path = file.to_str().unwrap();

    let missing = ns.run(&["seal", "--edit", path, "--remove-key", "nope"]);
    assert_eq!(missing.code, exit::USAGE, "{missing:?}");
    assert!(missing.stderr.contains("no key nope"), "{}", missing.stderr);
    let no_tty = ns.run(&["seal", "--edit", path]);
    assert_eq!(
        no_tty.code,
        exit::USAGE,
        "without a terminal it says what to pass: {no_tty:?}"
    );

    let run = ns.run(&[
        "seal",
        "--edit",
        path,
        "--from-file",
        &format!("openai={}", value_file.display()),
        "--from-file",
        &format!("anthropic={}", added_file.display()),
        "--remove-key",
        "stale",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("added anthropic; replaced openai; removed stale"),
        "{}",
        run.stderr
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# api keys\n"), "{text}");
    for value in [&old, &new, &added] {
        assert!(
            !text.contains(value.as_str()) && !text.contains(&base64_of(value)),
            "only ciphertext is written"
        );
    }

    let apply = std::process::Command::new(crate::support::kubectl_path())
        .args(["apply", "-f", path, "-n", &ns.name])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .output()
        .unwrap();
    assert!(apply.status.success(), "{}", String::from_utf8_lossy(&apply.stderr));
    let data = crate::seal::unsealed(&ns, "api-keys").await;
    assert_eq!(data.keys().collect::<Vec<_>>(), ["anthropic", "openai"]);
    assert_eq!(data["openai"], new.as_bytes());
    assert_eq!(data["anthropic"], added.as_bytes());
    for out in [&missing, &no_tty, &run] {
        out.assert_no_leak([&old, &new, &added]);
    }
}

#[tokio::test]
async fn backup_keys_writes_a_private_file_that_unseal_and_kubectl_read() {
    let ns = TestNamespace::new("backup-keys").await;
    let value = canary("backup");
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.yaml");
    let run = ns.run(&["backup-keys", keys.to_str().unwrap()]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("anyone who has it can decrypt every SealedSecret"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "nothing on stdout");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o600);

    let again = ns.run(&["backup-keys", keys.to_str().unwrap()]);
    assert_eq!(
        again.code,
        exit::USAGE,
        "an existing file is not replaced without --overwrite: {again:?}"
    );

    let sealed = kubeseal_to_file(&ns.name, "app", &[("token", &value)]);
    let opened = ns.run(&[
        "unseal",
        sealed.path().to_str().unwrap(),
        "--private-key",
        keys.to_str().unwrap(),
    ]);
    assert_eq!(opened.code, exit::OK, "{opened:?}");
    let dry_run = std::process::Command::new(crate::support::kubectl_path())
        .args(["apply", "--dry-run=server", "-f", keys.to_str().unwrap()])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .output()
        .unwrap();
    assert!(
        dry_run.status.success(),
        "kubectl can restore it: {}",
        String::from_utf8_lossy(&dry_run.stderr)
    );

    let elsewhere = dir.path().join("none.yaml");
    let nowhere = ns.run(&[
        "backup-keys",
        elsewhere.to_str().unwrap(),
        "--controller-namespace",
        &ns.name,
    ]);
    assert_eq!(nowhere.code, exit::NOT_FOUND, "no keys in that namespace: {nowhere:?}");
    assert!(!elsewhere.exists(), "no file written");
    let tls_key_lines: Vec<String> = std::fs::read_to_string(&keys)
        .unwrap()
        .lines()
        .filter(|l| l.contains("tls.key"))
        .map(|l| l.split(": ").nth(1).unwrap_or_default().to_string())
        .collect();
    for out in [&run, &again, &nowhere] {
        out.assert_no_leak(&tls_key_lines);
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn re_encryption_never_changes_a_scope_and_an_old_controller_is_named() {
    let ns = TestNamespace::new("reencrypt-scope").await;
    let token = canary("scope");
    let dir = tempfile::tempdir().unwrap();
    let sealed = ns.run(&["seal", "app", "--from-literal", &format!("TOKEN={token}")]);
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");

    // A strict SealedSecret whose template says cluster-wide: what a controller before
    // v0.36.0 would re-encrypt cluster-wide (CVE-2026-22728). Never sent, left as it was.
    let mut doc: serde_json::Value = serde_saphyr::from_str(&sealed.stdout).unwrap();
    doc["spec"]["template"]["metadata"]["annotations"] = json!({"sealedsecrets.bitnami.com/cluster-wide": "true"});
    let forged = dir.path().join("forged.json");
    let forged_text = serde_json::to_string_pretty(&doc).unwrap();
    std::fs::write(&forged, &forged_text).unwrap();
    let refused = ns.run(&["seal", "--re-encrypt", forged.to_str().unwrap()]);
    assert_eq!(refused.code, exit::FOUND, "{refused:?}");
    assert!(
        refused
            .stdout
            .contains("say cluster-wide but the SealedSecret is strict"),
        "{}",
        refused.stdout
    );
    assert_eq!(std::fs::read_to_string(&forged).unwrap(), forged_text, "left as it was");

    // The same controller behind a Service whose pod runs an older release's image: the
    // re-encryption is checked as always, and the release is named.
    let ip = crate::support::sealed_secrets_url()
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_string();
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "old-controller", "labels": {"app": "old-controller"},
                     "annotations": {"testbed.kubectl-secrets.io/pod-ip": ip}},
        "spec": {"containers": [{"name": "controller", "image": "bitnami/sealed-secrets-controller:0.35.1"}]}
    }));
    ns.apply(&json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "old-controller"},
        "spec": {"selector": {"app": "old-controller"}, "ports": [{"name": "http", "port": 8080, "targetPort": 8080}]}
    }));
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, &sealed.stdout).unwrap();
    let args = [
        "seal",
        "--re-encrypt",
        good.to_str().unwrap(),
        "--controller-namespace",
        ns.name.as_str(),
        "--controller-name",
        "old-controller",
    ];
    // The pod is scheduled and Ready, and the Service's endpoints follow, within moments.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let run = loop {
        let run = ns.run(&args);
        if run.code == exit::OK || std::time::Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr
            .contains("runs bitnami/sealed-secrets-controller:0.35.1, a release before v0.36.0"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("re-encrypted (1 key)"), "{}", run.stdout);
    for out in [&sealed, &refused, &run] {
        out.assert_no_leak([&token]);
    }
}
