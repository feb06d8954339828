//! `history` and `rollback` on the real cluster: the backups rotate keeps, restoring exact
//! bytes, restarting the consumers, and rolling back a rollback.

use serde_json::json;

use crate::support::{canary, deployment, exit, TestNamespace};

#[tokio::test]
async fn rollback_restores_exact_bytes_restarts_consumers_and_can_itself_be_rolled_back() {
    let ns = TestNamespace::new("rollback").await;
    // Bytes that survive only if nothing re-encodes them: a trailing newline and non-UTF-8.
    let mut original = canary("orig").into_bytes();
    original.extend_from_slice(b"\n\xff\x00tail");
    let original_text = String::from_utf8_lossy(&original).into_owned();
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(ns.client.clone(), &ns.name);
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "app"},
        "data": {"TOKEN": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &original), "OTHER": "b3RoZXI="}
    }))
    .unwrap();
    api.create(&Default::default(), &secret).await.unwrap();
    ns.create_deployment(deployment(
        "api",
        2,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;

    let first = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN=hex:32",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(first.code, exit::OK, "{first:?}");
    let rotated = ns.secret_data("app").await["TOKEN"].clone();
    let second = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN=hex:32",
        "--keep-previous",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(second.code, exit::OK, "{second:?}");
    let rotated_again = ns.secret_data("app").await["TOKEN"].clone();

    let history = ns.run(&["history", "app"]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(
        lines[1].starts_with("2 (current)") && lines[1].contains("kubectl-secrets rotate by admin"),
        "{}",
        history.stdout
    );
    assert!(
        lines[2].starts_with("1 ") && lines[3].starts_with("0 "),
        "newest first: {}",
        history.stdout
    );
    let json = ns.run(&["history", "app", "-o", "json"]).json();
    assert_eq!(json["kind"], "SecretHistory");
    assert_eq!(json["revisions"][1]["keysChanged"], json!(["TOKEN", "TOKEN_PREVIOUS"]));

    // Back to the newest backup (revision 1): TOKEN_PREVIOUS disappears again.
    let pods_before = ns.pod_names("api-").await;
    let rollback = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert!(
        rollback.stdout.contains("restored from revision 1"),
        "{}",
        rollback.stdout
    );
    let data = ns.secret_data("app").await;
    assert_eq!(data["TOKEN"], rotated);
    assert!(
        !data.contains_key("TOKEN_PREVIOUS"),
        "keys the backup lacks are removed"
    );
    assert!(
        ns.pod_names("api-").await.iter().all(|p| !pods_before.contains(p)),
        "consumers restarted"
    );
    assert!(rollback.stdout.contains("exact"), "verified: {}", rollback.stdout);

    // To the original bytes, exactly.
    let to_original = ns.run(&["rollback", "app", "--to-revision", "0", "--yes"]);
    assert_eq!(to_original.code, exit::OK, "{to_original:?}");
    assert_eq!(ns.secret_data("app").await["TOKEN"], original, "byte for byte");

    // A rollback is backed up too: roll the last one back.
    let undo = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(undo.code, exit::OK, "{undo:?}");
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        rotated,
        "the rollback was rolled back"
    );

    let missing = ns.run(&["rollback", "app", "--to-revision", "99", "--yes"]);
    assert_eq!(missing.code, exit::NOT_FOUND, "{missing:?}");
    assert!(
        missing.stderr.contains("no backup of revision 99") && missing.stderr.contains("history"),
        "{}",
        missing.stderr
    );

    let prune = ns.run(&["history", "app", "--prune", "--keep", "1", "--yes"]);
    assert_eq!(prune.code, exit::OK, "{prune:?}");
    let backups = ns
        .secret_names()
        .await
        .into_iter()
        .filter(|n| n.starts_with("app.backup-"))
        .count();
    assert_eq!(backups, 1);

    let values = [
        original_text,
        String::from_utf8(rotated).unwrap(),
        String::from_utf8(rotated_again).unwrap(),
    ];
    for out in [
        &first,
        &second,
        &history,
        &rollback,
        &to_original,
        &undo,
        &missing,
        &prune,
    ] {
        out.assert_no_leak(values.iter());
    }
}

#[tokio::test]
async fn rollback_without_backups_says_where_they_come_from() {
    let ns = TestNamespace::new("rollback-none").await;
    let value = canary("none");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let run = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(run.code, exit::NOT_FOUND, "{run:?}");
    assert!(
        run.stderr.contains("backups: none") && run.stderr.contains("rotate and rollback keep them"),
        "{}",
        run.stderr
    );
    let history = ns.run(&["history", "app"]);
    assert_eq!(history.code, exit::OK);
    assert!(history.stdout.contains("No backups yet"), "{}", history.stdout);
    for out in [&run, &history] {
        out.assert_no_leak([&value]);
    }
}
