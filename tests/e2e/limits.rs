//! Sizes and bad input on the real cluster: thousands of keys, credentials the API server
//! rejects, invalid names. Each is a clear message with a documented exit code, no panic, and
//! no change to the cluster.

use serde_json::json;

use crate::support::{canary, cluster, deployment, exit, run_with, TestNamespace};

#[tokio::test]
async fn a_secret_with_thousands_of_keys_is_rotated_diffed_and_listed() {
    const KEYS: usize = 3_000;
    let ns = TestNamespace::new("many-keys").await;
    let marker = canary("many");
    let values: Vec<(String, String)> = (0..KEYS)
        .map(|i| (format!("KEY_{i:05}"), format!("{marker}-{i:05}")))
        .collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    ns.secret("many", &pairs).await;
    let pod = json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "many"}}]}]});
    ns.create_deployment(deployment("api", 1, pod)).await;
    ns.wait_ready("deployment", "api").await;

    let run = ns.run(&["rotate", "many", "--all-keys", "--yes"]);
    assert_eq!(run.code, exit::OK, "{}", run.stderr);
    let data = ns.secret_data("many").await;
    assert_eq!(data.len(), KEYS);
    let unchanged = values.iter().filter(|(k, v)| data[k.as_str()] == v.as_bytes()).count();
    assert_eq!(unchanged, 0, "every key rotated");
    assert!(run.stdout.contains("exact"), "verified");

    let diff = ns.run(&["diff", "many", "--revision", "0", "-o", "json"]);
    assert_eq!(diff.code, exit::FOUND, "{}", diff.stderr);
    let list = ns.run(&["list", "-o", "json"]);
    let row = list.listed("many");
    assert_eq!(row["keys"], KEYS);
    let audit = ns.run(&["audit"]);
    assert!(audit.code == 0 || audit.code == 1, "{}", audit.stderr);
    for out in [&run, &diff, &list, &audit] {
        out.assert_no_leak([&marker]);
        let new_values: Vec<String> = data
            .values()
            .take(20)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect();
        out.assert_no_leak(&new_values);
    }
}

#[tokio::test]
async fn rejected_credentials_and_invalid_names_change_nothing() {
    let ns = TestNamespace::new("bad-input").await;
    let value = canary("bad-input");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let before = ns.get_secret("app").await.unwrap().metadata.resource_version;

    // An expired or revoked token: the API server answers 401.
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    for user in config["users"].as_array_mut().unwrap() {
        user["user"] = json!({"token": "expired-or-revoked-token"});
    }
    let expired = dir.path().join("expired.kubeconfig");
    std::fs::write(&expired, serde_json::to_string(&config).unwrap()).unwrap();
    let unauthorized = run_with(&expired, &["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name]);
    assert_eq!(unauthorized.code, exit::FORBIDDEN, "{unauthorized:?}");
    assert!(
        unauthorized.stderr.contains("rejected the credentials"),
        "{}",
        unauthorized.stderr
    );
    assert!(
        !unauthorized.stderr.contains("expired-or-revoked-token"),
        "the token is never printed"
    );

    let bad_secret = ns.run(&["rotate", "No_Such/Secret", "--key", "TOKEN", "--yes"]);
    assert_eq!(bad_secret.code, exit::USAGE, "{bad_secret:?}");
    assert!(
        bad_secret.stderr.contains("not a valid Secret name"),
        "{}",
        bad_secret.stderr
    );
    let bad_key = ns.run(&["rotate", "app", "--key", "bad key", "--yes"]);
    assert_eq!(bad_key.code, exit::USAGE, "{bad_key:?}");
    assert!(bad_key.stderr.contains("has no key"), "{}", bad_key.stderr);
    // SECRET/KEY names another Secret's key: not this one's.
    let other_secret = ns.run(&["rotate", "app", "--key", "bad/key", "--yes"]);
    assert_eq!(other_secret.code, exit::USAGE, "{other_secret:?}");
    assert!(
        other_secret
            .stderr
            .contains("names Secret bad, but only app is rotated here"),
        "{}",
        other_secret.stderr
    );
    let bad_set = ns.run(&["rotate", "app", "--key", "TOKEN", "--set", "bad key=x", "--yes"]);
    assert_eq!(bad_set.code, exit::USAGE, "{bad_set:?}");
    assert!(bad_set.stderr.contains("not a valid Secret key"), "{}", bad_set.stderr);
    let bad_phase = ns.run(&["rotate", "app", "--phase", "add", "--yes"]);
    assert_eq!(bad_phase.code, exit::USAGE, "{bad_phase:?}");
    assert!(bad_phase.stderr.contains("no versioned key"), "{}", bad_phase.stderr);

    assert_eq!(ns.get_secret("app").await.unwrap().metadata.resource_version, before);
    assert_eq!(ns.secret_names().await, ["app"], "no backup either");
    for out in [&unauthorized, &bad_secret, &bad_key, &bad_set, &bad_phase] {
        out.assert_no_leak([&value]);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }
}
