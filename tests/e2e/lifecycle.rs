//! The rest of the rotation lifecycle of seed 003: versioned keys in two phases and a new
//! database user with its password in one change.

use serde_json::{json, Value};

use crate::support::{annotations, canary, deployment, exit, stateful_set, TestNamespace};

fn key_ref(var: &str, secret: &str, key: &str) -> Value {
    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 value")
}

/// Seed 003's backend: ACTIVE_KEY from the pointer key, the keys themselves as a volume.
fn jwt_backend(extra_env: Vec<Value>) -> Value {
    let mut env = vec![key_ref("ACTIVE_KEY", "jwt-keys", "active-key")];
    env.extend(extra_env);
    deployment(
        "backend",
        2,
        json!({
            "containers": [{"name": "backend", "image": "backend", "env": env,
                "volumeMounts": [{"name": "jwt", "mountPath": "/etc/jwt"}]}],
            "volumes": [{"name": "jwt", "secret": {"secretName": "jwt-keys"}}]
        }),
    )
}

#[tokio::test]
async fn seed_003_jwt_keys_rotate_in_two_phases_and_retire_waits_for_the_token_lifetime() {
    let ns = TestNamespace::new("two-phase").await;
    let v1 = canary("jwt-v1");
    ns.secret("jwt-keys", &[("jwt-secret-v1", &v1), ("active-key", "jwt-secret-v1")])
        .await;
    ns.create_deployment(jwt_backend(vec![])).await;
    ns.wait_ready("deployment", "backend").await;
    let before = ns.pod_names("backend-").await;

    let add = ns.run(&[
        "rotate",
        "jwt-keys",
        "--phase",
        "add",
        "--key",
        "jwt-secret=base64:64",
        "--yes",
    ]);
    assert_eq!(add.code, exit::OK, "{add:?}");
    let data = ns.secret_data("jwt-keys").await;
    let v2 = text(&data["jwt-secret-v2"]);
    assert_eq!(v2.len(), 88, "base64:64 is 88 characters");
    assert_eq!(
        text(&data["jwt-secret-v1"]),
        v1,
        "the old version stays during phase one"
    );
    assert_eq!(text(&data["active-key"]), "jwt-secret-v2", "the pointer moved");
    assert!(
        add.stdout.contains("new version beside jwt-secret-v1"),
        "{}",
        add.stdout
    );
    assert!(add.stderr.contains("Not yet safe to revoke"), "{}", add.stderr);
    assert!(!add.stdout.contains("Safe to revoke"), "{}", add.stdout);
    let added_at = ns
        .secret_annotation("jwt-keys", annotations::VERSIONS_ADDED_AT)
        .await
        .expect("the time of phase one is recorded");
    assert!(added_at.contains("jwt-secret-v2"), "{added_at}");
    let after_add = ns.pod_names("backend-").await;
    assert!(
        after_add.iter().all(|p| !before.contains(p)),
        "restarted: {before:?} → {after_add:?}"
    );

    // Phase two before the tokens' lifetime has passed: refused, nothing changed.
    let early = ns.run(&["rotate", "jwt-keys", "--phase", "retire", "--after", "15m", "--yes"]);
    assert_eq!(early.code, exit::USAGE, "{early:?}");
    assert!(early.stderr.contains("may be retired from"), "{}", early.stderr);
    assert!(ns.secret_data("jwt-keys").await.contains_key("jwt-secret-v1"));
    let no_after = ns.run(&["rotate", "jwt-keys", "--phase", "retire", "--yes"]);
    assert_eq!(no_after.code, exit::USAGE, "{no_after:?}");
    assert!(no_after.stderr.contains("--after"), "{}", no_after.stderr);

    // Once it has: the old version goes, consumers restart, and revoking is safe.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let retire = ns.run(&["rotate", "jwt-keys", "--phase", "retire", "--after", "2s", "--yes"]);
    assert_eq!(retire.code, exit::OK, "{retire:?}");
    let data = ns.secret_data("jwt-keys").await;
    assert_eq!(data.keys().collect::<Vec<_>>(), ["active-key", "jwt-secret-v2"]);
    assert_eq!(text(&data["jwt-secret-v2"]), v2);
    assert!(retire.stdout.contains("Safe to revoke"), "{}", retire.stdout);
    // Retiring changes neither ACTIVE_KEY (env, fixed at start) nor anything else the pods fixed
    // at start: the key files update in place, so nothing restarts.
    assert!(
        retire.stdout.contains("none: the mounted files update in place"),
        "{}",
        retire.stdout
    );
    assert_eq!(ns.pod_names("backend-").await, after_add, "not restarted for a retire");

    let nothing_left = ns.run(&["rotate", "jwt-keys", "--phase", "retire", "--after", "0s", "--yes"]);
    assert_eq!(nothing_left.code, exit::USAGE, "{nothing_left:?}");
    assert!(
        nothing_left.stderr.contains("no older version to retire"),
        "{}",
        nothing_left.stderr
    );
    for run in [&add, &early, &no_after, &retire, &nothing_left] {
        run.assert_no_leak([&v1, &v2]);
    }
}

#[tokio::test]
async fn retiring_a_key_a_pod_spec_still_names_is_refused_before_any_write() {
    let ns = TestNamespace::new("retire-ref").await;
    let (v1, v2) = (canary("v1"), canary("v2"));
    ns.secret(
        "jwt-keys",
        &[
            ("jwt-secret-v1", &v1),
            ("jwt-secret-v2", &v2),
            ("active-key", "jwt-secret-v2"),
        ],
    )
    .await;
    ns.create_deployment(jwt_backend(vec![key_ref("JWT_SECRET_V1", "jwt-keys", "jwt-secret-v1")]))
        .await;
    ns.wait_ready("deployment", "backend").await;
    let before = ns.get_secret("jwt-keys").await.unwrap().metadata.resource_version;

    let run = ns.run(&["rotate", "jwt-keys", "--phase", "retire", "--after", "0s", "--yes"]);
    assert_eq!(run.code, exit::USAGE, "{run:?}");
    assert!(run.stderr.contains("Deployment/backend"), "{}", run.stderr);
    assert!(run.stderr.contains("optional"), "{}", run.stderr);
    assert_eq!(
        ns.get_secret("jwt-keys").await.unwrap().metadata.resource_version,
        before
    );
    assert_eq!(ns.secret_names().await.len(), 1, "no backup was made");

    // A pointer still on the old version is refused too.
    ns.patch_secret("jwt-keys", &[("active-key", "jwt-secret-v1")]).await;
    let dangling = ns.run(&[
        "rotate",
        "jwt-keys",
        "--phase",
        "retire",
        "--after",
        "0s",
        "--key",
        "jwt-secret",
        "--yes",
    ]);
    assert_eq!(dangling.code, exit::USAGE, "{dangling:?}");
    assert!(dangling.stderr.contains("active-key"), "{}", dangling.stderr);
    run.assert_no_leak([&v1, &v2]);
    dangling.assert_no_leak([&v1, &v2]);
}

#[tokio::test]
async fn seed_003_new_database_user_and_password_are_one_change() {
    let ns = TestNamespace::new("db-user").await;
    let password = canary("db-password");
    ns.secret(
        "postgresql-credentials",
        &[("username", "backend"), ("password", &password)],
    )
    .await;
    let backend = json!({"containers": [{"name": "backend", "image": "backend", "env": [
        key_ref("DB_USER", "postgresql-credentials", "username"),
        key_ref("DB_PASSWORD", "postgresql-credentials", "password"),
    ]}]});
    let postgres = json!({"containers": [{"name": "postgresql", "image": "postgres",
        "env": [key_ref("POSTGRES_PASSWORD", "postgresql-credentials", "password")]}]});
    ns.create_deployment(deployment("backend", 2, backend)).await;
    ns.create_stateful_set(stateful_set("postgresql", 1, postgres)).await;
    ns.wait_ready("deployment", "backend").await;
    ns.wait_ready("statefulset", "postgresql").await;

    let bad = ns.run(&[
        "rotate",
        "postgresql-credentials",
        "--key",
        "password",
        "--set",
        "=backend_v2",
        "--yes",
    ]);
    assert_eq!(bad.code, exit::USAGE, "{bad:?}");
    assert!(bad.stderr.contains("--set needs KEY=VALUE"), "{}", bad.stderr);
    let twice = ns.run(&[
        "rotate",
        "postgresql-credentials",
        "--key",
        "password",
        "--set",
        "password=x",
        "--yes",
    ]);
    assert_eq!(twice.code, exit::USAGE, "{twice:?}");

    let run = ns.run(&[
        "rotate",
        "postgresql-credentials",
        "--key",
        "password=base64:32",
        "--set",
        "username=backend_v2",
        // The runbook makes backend_v2 at the server itself ("create the user first").
        "--no-issuer",
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("postgresql-credentials").await;
    assert_eq!(text(&data["username"]), "backend_v2");
    let new_password = text(&data["password"]);
    assert_ne!(new_password, password);
    assert!(
        run.stdout.contains("set to the value given with --set"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("deployment/backend") && run.stdout.contains("statefulset/postgresql"));
    assert!(
        run.stdout.contains("Safe to revoke"),
        "the old user may be dropped: {}",
        run.stdout
    );
    assert_eq!(
        ns.secret_annotation("postgresql-credentials", annotations::REVISION)
            .await
            .as_deref(),
        Some("1"),
        "one revision for both keys"
    );
    for r in [&bad, &twice, &run] {
        r.assert_no_leak([&password, &new_password]);
    }
}
