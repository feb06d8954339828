//! `kubectl secrets rotate` on the real cluster: the runbooks' rotations as one command,
//! backups, propagation, rollbacks, refusals, permissions, and never a value in the output.

use serde_json::{json, Value};

use crate::support::{
    annotations, canary, cluster, daemon_set, deployment, exit, with_pod_annotations, workload, Background,
    TestNamespace,
};

fn env_from(secret: &str) -> Value {
    json!([{"secretRef": {"name": secret}}])
}

fn key_ref(var: &str, secret: &str, key: &str) -> Value {
    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 value")
}

fn backups(names: &[String], secret: &str) -> Vec<String> {
    names
        .iter()
        .filter(|n| n.starts_with(&format!("{secret}.backup-r")))
        .cloned()
        .collect()
}

#[tokio::test]
async fn seed_000_jwt_rotation_restarts_both_deployments_and_verifies_exactly() {
    let ns = TestNamespace::new("rotate-000").await;
    let (jwt, redis) = (canary("jwt"), canary("redis"));
    ns.secret("backend-secrets", &[("JWT_SECRET", &jwt), ("REDIS_PASSWORD", &redis)])
        .await;
    let backend =
        json!({"containers": [{"name": "backend", "image": "backend", "envFrom": env_from("backend-secrets")}]});
    let sfu = json!({"containers": [{"name": "sfu", "image": "sfu", "env": [key_ref("JWT_SECRET", "backend-secrets", "JWT_SECRET")]}]});
    let certs = json!({
        "containers": [{"name": "proxy", "image": "proxy", "volumeMounts": [{"name": "s", "mountPath": "/etc/s"}]}],
        "volumes": [{"name": "s", "secret": {"secretName": "backend-secrets"}}]
    });
    ns.create_deployment(deployment("backend-deployment", 2, backend)).await;
    ns.create_deployment(deployment("rust-sfu-deployment", 2, sfu)).await;
    ns.create_daemon_set(daemon_set("proxy", certs)).await;
    for (kind, name) in [
        ("deployment", "backend-deployment"),
        ("deployment", "rust-sfu-deployment"),
        ("daemonset", "proxy"),
    ] {
        ns.wait_ready(kind, name).await;
    }
    let before_backend = ns.pod_names("backend-deployment-").await;
    let before_proxy = ns.pod_names("proxy-").await;

    let run = ns.run(&["rotate", "backend-secrets", "--key", "JWT_SECRET=base64:48", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");

    let data = ns.secret_data("backend-secrets").await;
    let new_jwt = text(&data["JWT_SECRET"]);
    assert_eq!(new_jwt.len(), 64, "base64:48 is 64 characters");
    assert_ne!(new_jwt, jwt);
    assert_eq!(text(&data["REDIS_PASSWORD"]), redis, "other keys are untouched");
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None,
        "journal cleared"
    );

    let names = ns.secret_names().await;
    let backup = backups(&names, "backend-secrets");
    assert_eq!(backup.len(), 1, "{names:?}");
    assert_eq!(
        text(&ns.secret_data(&backup[0]).await["JWT_SECRET"]),
        jwt,
        "the backup holds the previous data"
    );

    let after_backend = ns.pod_names("backend-deployment-").await;
    assert_eq!(after_backend.len(), 2);
    assert!(
        after_backend.iter().all(|p| !before_backend.contains(p)),
        "every backend pod was replaced"
    );
    assert_eq!(
        ns.pod_names("proxy-").await,
        before_proxy,
        "volume-only consumers are not restarted"
    );
    assert_eq!(
        ns.template_annotation("rust-sfu-deployment", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":1}"#)
    );

    assert!(run.stdout.contains("rotated (generated, base64:48)"), "{}", run.stdout);
    assert!(run.stdout.contains("deployment/backend-deployment") && run.stdout.contains("restart"));
    assert!(
        run.stdout.contains("daemonset/proxy") && run.stdout.contains("update in place"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("deployment/rust-sfu-deployment: complete"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("exact"),
        "verified with exact evidence: {}",
        run.stdout
    );

    let verify = ns.run(&["verify", "backend-secrets", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{}", verify.stdout);
    let revocation = &verify.json()["revocation"][0];
    assert_eq!(
        (revocation["secret"].as_str(), revocation["safe"].as_bool()),
        (Some("backend-secrets"), Some(true)),
        "{revocation}"
    );
    assert!(
        run.stdout
            .contains("Safe to revoke: no pod uses a value of backend-secrets older than revision 1"),
        "{}",
        run.stdout
    );
    // Said once, by the rotation: verify keeps it in its JSON, marked, and does not repeat it.
    assert_eq!(revocation["alreadySaid"], serde_json::json!(true), "{revocation}");
    let table = ns.run(&["verify", "backend-secrets"]);
    assert_eq!(table.code, exit::OK, "{table:?}");
    assert!(!table.stdout.contains("Safe to revoke"), "{}", table.stdout);
    for out in [&run, &verify, &table] {
        out.assert_no_leak([&jwt, &redis, &new_jwt]);
    }
}

#[tokio::test]
async fn dry_run_and_missing_yes_change_nothing() {
    let ns = TestNamespace::new("rotate-dry").await;
    let value = canary("dry");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let pods = ns.pod_names("api-").await;

    let dry = ns.run(&["rotate", "app", "--key", "TOKEN", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stdout.contains("TOKEN") && dry.stderr.contains("nothing was changed"),
        "{dry:?}"
    );
    let plan = ns
        .run(&["rotate", "app", "--key", "TOKEN", "--dry-run", "-o", "json"])
        .json();
    assert_eq!(plan["kind"], "RotationPlan");
    assert_eq!(plan["context"], "testbed-admin", "the context the plan is for");
    assert_eq!(
        plan["secrets"][0]["keys"][0]["after"]["length"], 44,
        "like an alphanumeric value: at least 44 characters"
    );

    let no_yes = ns.run(&["rotate", "app", "--key", "TOKEN"]);
    assert_eq!(no_yes.code, exit::USAGE, "{no_yes:?}");
    assert!(no_yes.stderr.contains("--yes"), "{}", no_yes.stderr);
    let no_keys = ns.run(&["rotate", "app", "--yes"]);
    assert_eq!(no_keys.code, exit::USAGE);
    assert!(no_keys.stderr.contains("--key"), "{}", no_keys.stderr);
    let bad_key = ns.run(&["rotate", "app", "--key", "NOPE", "--yes"]);
    assert_eq!(bad_key.code, exit::USAGE);
    assert!(
        bad_key.stderr.contains("has no key \"NOPE\"") && bad_key.stderr.contains("TOKEN"),
        "{}",
        bad_key.stderr
    );
    let bad_generator = ns.run(&["rotate", "app", "--key", "TOKEN=hex:4", "--yes"]);
    assert_eq!(bad_generator.code, exit::USAGE);
    let missing = ns.run(&["rotate", "nope", "--key", "TOKEN", "--yes"]);
    assert_eq!(missing.code, exit::NOT_FOUND);

    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), value);
    assert!(
        backups(&ns.secret_names().await, "app").is_empty(),
        "no backup without a write"
    );
    assert_eq!(ns.pod_names("api-").await, pods, "nothing restarted");
    for out in [&dry, &no_yes, &no_keys, &bad_key, &bad_generator, &missing] {
        out.assert_no_leak([&value]);
    }
}

/// `rotate ... 2>&1 | head -1`: the reader of the progress lines goes away at once. The rotation
/// still runs to its end (a line that cannot be written is not a reason to stop half-way).
#[tokio::test]
async fn a_rotation_whose_stderr_reader_went_away_still_finishes() {
    let ns = TestNamespace::new("rotate-epipe").await;
    let value = canary("epipe");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let pods = ns.pod_names("api-").await;
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(["rotate", "app", "-n", &ns.name, "--key", "TOKEN", "--yes"])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .stderr(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::OK), "{}", out.status);
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&value));
    assert_ne!(text(&ns.secret_data("app").await["TOKEN"]), value, "rotated");
    assert_eq!(
        ns.secret_annotation("app", annotations::JOURNAL).await,
        None,
        "no change left open"
    );
    let now = ns.pod_names("api-").await;
    assert!(now.iter().all(|p| !pods.contains(p)), "restarted: {pods:?} -> {now:?}");
}

#[tokio::test]
async fn seed_001_password_propagates_into_uris_with_special_characters() {
    let ns = TestNamespace::new("rotate-001").await;
    let password = format!("p@ss/w:rd+{}=", canary("db"));
    let encoded = password.replace('@', "%40").replace('/', "%2F").replace(':', "%3A");
    let uri = format!("postgresql+psycopg://aura:{encoded}@postgres:5432/aura_db");
    let jwt = canary("jwt");
    ns.secret(
        "postgres-secrets",
        &[("postgres-user", "aura"), ("postgres-password", &password)],
    )
    .await;
    ns.secret(
        "backend-secrets",
        &[("POSTGRES_DB_URI", &uri), ("JWT_SECRET_KEY", &jwt)],
    )
    .await;
    ns.create_deployment(deployment(
        "backend",
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from("backend-secrets")}]}),
    ))
    .await;
    ns.wait_ready("deployment", "backend").await;

    let run = ns.run(&[
        "rotate",
        "postgres-secrets",
        "--key",
        "postgres-password=alnum:40",
        "--propagate",
        // The propagation into URIs is tested here; the server's side in issuers.rs.
        "--no-issuer",
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let new_password = text(&ns.secret_data("postgres-secrets").await["postgres-password"]);
    assert_eq!(new_password.len(), 40);
    let backend = ns.secret_data("backend-secrets").await;
    assert_eq!(
        text(&backend["POSTGRES_DB_URI"]),
        format!("postgresql+psycopg://aura:{new_password}@postgres:5432/aura_db")
    );
    assert_eq!(text(&backend["JWT_SECRET_KEY"]), jwt);
    assert!(
        run.stdout.contains("embeds postgres-password: replaced URL-encoded"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("deployment/backend: complete"),
        "the URI's consumer restarted: {}",
        run.stderr
    );
    assert_eq!(
        backups(&ns.secret_names().await, "backend-secrets").len(),
        1,
        "the propagated Secret is backed up too"
    );
    run.assert_no_leak([&password, &encoded, &uri, &new_password, &jwt]);
}

#[tokio::test]
async fn seed_002_provider_key_from_stdin_and_keep_previous() {
    let ns = TestNamespace::new("rotate-002").await;
    let (old, new) = (canary("sk-old"), canary("sk-new"));
    ns.secret("api-keys", &[("openai", &old)]).await;
    let run = ns.run_as(
        "admin",
        &[
            "rotate",
            "api-keys",
            "--from-stdin",
            "openai",
            "--keep-previous",
            "--yes",
        ],
        new.as_bytes(),
    );
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("api-keys").await;
    assert_eq!(text(&data["openai"]), new, "exactly the bytes given on stdin");
    assert_eq!(text(&data["openai_PREVIOUS"]), old);
    assert!(
        run.stdout.contains("No workload in the namespace reads these Secrets"),
        "{}",
        run.stdout
    );
    // The verification after it says the same, not that the namespace is empty.
    assert!(
        run.stdout.contains(&format!(
            "No workload in namespace {} reads api-keys: nothing to verify.",
            ns.name
        )) && !run.stdout.contains("No workloads found"),
        "{}",
        run.stdout
    );

    let with_newline = ns.run_as(
        "admin",
        &["rotate", "api-keys", "--from-stdin", "openai", "--yes"],
        format!("{old}\n").as_bytes(),
    );
    assert_eq!(with_newline.code, exit::OK, "{with_newline:?}");
    assert!(
        with_newline.stderr.contains("ends with a newline"),
        "{}",
        with_newline.stderr
    );
    for out in [&run, &with_newline] {
        out.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn seed_004_chat_secrets_all_keys_and_the_shadowed_key_is_reported() {
    let ns = TestNamespace::new("rotate-004").await;
    let (jwt, enc) = (canary("jwt"), canary("enc"));
    ns.secret("chat-secrets", &[("JWT_SECRET", &jwt), ("ENCRYPTION_KEY", &enc)])
        .await;
    let spec = json!({"containers": [{"name": "ws", "image": "ws", "envFrom": env_from("chat-secrets"),
        "env": [{"name": "JWT_SECRET", "value": "PLACEHOLDER_JWT_SECRET"}]}]});
    ns.create_deployment(deployment("chatbox-websocket", 2, spec)).await;
    ns.wait_ready("deployment", "chatbox-websocket").await;

    let run = ns.run(&["rotate", "chat-secrets", "--all-keys", "--yes"]);
    assert_eq!(run.code, exit::OK, "shadowed is reported, not a failure: {run:?}");
    assert!(
        run.stdout.contains("shadowed") && run.stdout.contains("literal value"),
        "{}",
        run.stdout
    );
    let data = ns.secret_data("chat-secrets").await;
    assert_ne!(text(&data["JWT_SECRET"]), jwt);
    assert_ne!(text(&data["ENCRYPTION_KEY"]), enc);
    run.assert_no_leak([&jwt, &enc, &text(&data["JWT_SECRET"]), &text(&data["ENCRYPTION_KEY"])]);
}

#[tokio::test]
async fn all_keys_leaves_third_party_credentials_and_identifiers_alone_and_says_so() {
    let ns = TestNamespace::new("rotate-issued").await;
    let (jwt, smtp, token) = (canary("jwt"), canary("smtp"), canary("sms"));
    let openai = format!("sk-{}", canary("openai").replace('-', ""));
    let sid = "AC0123456789abcdef0123456789abcdef";
    ns.secret(
        "chat-secrets",
        &[
            ("JWT_SECRET", &jwt),
            ("SMTP_USER", "notifications"),
            ("SMTP_PASS", &smtp),
            ("SMS_ACCOUNT_SID", sid),
            ("SMS_AUTH_TOKEN", &token),
            ("LLM_PROVIDER_1_API_KEY", &openai),
        ],
    )
    .await;
    let spec = json!({"containers": [{"name": "ws", "image": "ws", "envFrom": env_from("chat-secrets")}]});
    ns.create_deployment(deployment("chatbox-websocket", 1, spec)).await;
    ns.wait_ready("deployment", "chatbox-websocket").await;
    let secrets = [jwt.as_str(), smtp.as_str(), token.as_str(), openai.as_str()];

    let plan = ns.run(&["rotate", "chat-secrets", "--all-keys", "--dry-run"]);
    assert_eq!(plan.code, exit::OK, "{plan:?}");
    for line in [
        "chat-secrets/SMTP_USER: an identifier (a user name)",
        "chat-secrets/SMTP_PASS: a credential issued by the mail provider (SMTP)",
        "chat-secrets/SMS_ACCOUNT_SID: an identifier",
        "chat-secrets/SMS_AUTH_TOKEN: a credential issued by the SMS provider",
        "chat-secrets/LLM_PROVIDER_1_API_KEY: a credential issued by",
    ] {
        assert!(plan.stdout.contains(line), "{line}: {}", plan.stdout);
    }
    let json = ns.run(&["rotate", "chat-secrets", "--all-keys", "--dry-run", "-o", "json"]);
    let planned = &json.json()["secrets"][0];
    let rotated: Vec<&str> = planned["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap())
        .collect();
    assert_eq!(rotated, ["JWT_SECRET"], "{planned}");
    assert_eq!(planned["leftOut"].as_array().unwrap().len(), 5, "{planned}");

    // With --yes: only JWT_SECRET changes.
    let run = ns.run(&[
        "rotate",
        "chat-secrets",
        "--all-keys",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("chat-secrets").await;
    assert_ne!(text(&data["JWT_SECRET"]), jwt);
    for (key, value) in [
        ("SMTP_PASS", &smtp),
        ("SMS_AUTH_TOKEN", &token),
        ("LLM_PROVIDER_1_API_KEY", &openai),
    ] {
        assert_eq!(text(&data[key]), *value, "{key} untouched");
    }
    assert_eq!(text(&data["SMTP_USER"]), "notifications");

    // Named without a generator and without a terminal: refused with the ways on, nothing written.
    let revision = ns.secret_annotation("chat-secrets", annotations::REVISION).await;
    let refused = ns.run(&[
        "rotate",
        "chat-secrets",
        "--key",
        "LLM_PROVIDER_1_API_KEY",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(
        refused.stderr.contains("--from-stdin LLM_PROVIDER_1_API_KEY")
            && refused.stderr.contains("--key LLM_PROVIDER_1_API_KEY=alnum:48"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        ns.secret_annotation("chat-secrets", annotations::REVISION).await,
        revision
    );

    // The Secret's own annotation says its SMTP password is generated here (a relay of its own).
    ns.annotate_secret(
        "chat-secrets",
        [("kubectl-secrets.io/generate", "SMTP_PASS".to_string())].into(),
    )
    .await;
    let own = ns.run(&[
        "rotate",
        "chat-secrets",
        "--key",
        "SMTP_PASS",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(own.code, exit::OK, "{own:?}");
    let after = ns.secret_data("chat-secrets").await;
    assert_ne!(text(&after["SMTP_PASS"]), smtp);

    // audit: an overdue credential issued elsewhere is its own finding, with the way to rotate it.
    let audit = ns.run(&["audit", "--max-age", "1s", "-o", "json"]);
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let issued = findings
        .iter()
        .find(|f| f["rule"] == "overdue-issued" && f["key"] == "LLM_PROVIDER_1_API_KEY")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        issued["fix"]
            .as_str()
            .unwrap()
            .contains("--from-stdin LLM_PROVIDER_1_API_KEY"),
        "{issued}"
    );
    for out in [&plan, &json, &run, &refused, &own, &audit] {
        out.assert_no_leak(secrets);
        out.assert_no_leak([text(&data["JWT_SECRET"]).as_str(), text(&after["SMTP_PASS"]).as_str()]);
    }
}

#[tokio::test]
async fn crash_looping_rollout_is_rolled_back_to_the_previous_data() {
    let ns = TestNamespace::new("rotate-crash").await;
    let value = canary("good");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let spec = json!({"containers": [{"name": "api", "image": "api", "envFrom": env_from("app")}]});
    // The app rejects revision 1 of the Secret (kwok Stage): a bad new value.
    let crashing = with_pod_annotations(
        deployment("api", 2, spec.clone()),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"app":1}"#}),
    );
    ns.create_deployment(crashing).await;
    ns.create_deployment(deployment("worker", 1, spec)).await;
    ns.wait_ready("deployment", "api").await;
    ns.wait_ready("deployment", "worker").await;

    let run = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(
        run.stderr.contains("rolled back") && run.stderr.contains("app (now revision 2)"),
        "{}",
        run.stderr
    );

    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        value,
        "the previous data is back"
    );
    assert_eq!(
        ns.secret_annotation("app", annotations::REVISION).await.as_deref(),
        Some("2")
    );
    assert_eq!(ns.secret_annotation("app", annotations::JOURNAL).await, None);
    ns.wait_ready("deployment", "api").await;
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"app":2}"#)
    );
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(
        verify.code,
        exit::OK,
        "healthy pods with the previous value: {}",
        verify.stdout
    );
    run.assert_no_leak([&value]);
}

#[tokio::test]
async fn forbidden_restart_fails_before_any_write() {
    let ns = TestNamespace::new("rotate-rbac").await;
    let value = canary("rbac");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;

    // patcher may write Secrets but not Deployments.
    let run = ns.run_as("patcher", &["rotate", "app", "--key", "TOKEN", "--yes"], b"");
    assert_eq!(run.code, exit::FORBIDDEN, "{run:?}");
    assert!(
        run.stderr.contains("not allowed to patch deployments.apps"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), value);
    assert!(backups(&ns.secret_names().await, "app").is_empty());

    // reader may not even write Secrets.
    let reader = ns.run_as(
        "reader",
        &["rotate", "app", "--key", "TOKEN", "--yes", "--no-restart"],
        b"",
    );
    assert_eq!(reader.code, exit::FORBIDDEN, "{reader:?}");
    assert!(reader.stderr.contains("secrets in namespace"), "{}", reader.stderr);
    for out in [&run, &reader] {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn concurrent_rollouts_with_different_readiness_and_max_parallel() {
    let ns = TestNamespace::new("rotate-parallel").await;
    let value = canary("parallel");
    ns.secret("shared", &[("TOKEN", &value)]).await;
    let spec = json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from("shared")}]});
    for (name, delay) in [("fast", "1s"), ("medium", "2s"), ("slow", "3s")] {
        let d = with_pod_annotations(
            deployment(name, 2, spec.clone()),
            json!({"testbed.kubectl-secrets.io/ready-delay": delay}),
        );
        ns.create_deployment(d).await;
    }
    for name in ["fast", "medium", "slow"] {
        ns.wait_ready("deployment", name).await;
    }
    let run = ns.run(&["rotate", "shared", "--key", "TOKEN", "--yes", "--max-parallel", "2"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    for name in ["fast", "medium", "slow"] {
        assert!(
            run.stderr.contains(&format!("deployment/{name}: complete")),
            "{}",
            run.stderr
        );
    }
    assert!(run.stdout.contains("at most 2 at a time"), "{}", run.stdout);
    run.assert_no_leak([&value]);
}

/// Start a rotation of `app` in `ns` and press Ctrl-C once it has written the new data.
/// Returns the value it wrote.
async fn interrupt_rotation(ns: &TestNamespace, secret: &str, key: &str, old: &str) -> String {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(["rotate", secret, "--key", key, "--yes", "-n", &ns.name])
        .env("KUBECONFIG", &crate::support::cluster().admin_kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ns.secret_annotation(secret, annotations::JOURNAL).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotation never wrote its journal"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(exit::INTERRUPTED), "{stderr}");
    let rotated = text(&ns.secret_data(secret).await[key]);
    assert_ne!(rotated, old, "interrupted after the write");
    for value in [old, rotated.as_str()] {
        assert!(
            !stdout.contains(value) && !stderr.contains(value),
            "a value leaked: {stdout}{stderr}"
        );
    }
    rotated
}

async fn slow_consumer(ns: &TestNamespace, secret: &str) {
    let slow = with_pod_annotations(
        deployment(
            "api",
            1,
            json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from(secret)}]}),
        ),
        json!({"testbed.kubectl-secrets.io/ready-delay": "4s"}),
    );
    ns.create_deployment(slow).await;
    ns.wait_ready("deployment", "api").await;
}

#[tokio::test]
async fn interrupted_rotation_is_found_and_undone_with_abort() {
    let ns = TestNamespace::new("rotate-abort").await;
    let value = canary("abort");
    ns.secret("app", &[("TOKEN", &value)]).await;
    slow_consumer(&ns, "app").await;
    let rotated = interrupt_rotation(&ns, "app", "TOKEN", &value).await;

    let again = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(again.code, exit::IN_PROGRESS, "{again:?}");
    assert!(
        again.stderr.contains("was interrupted")
            && again.stderr.contains("--resume")
            && again.stderr.contains("--abort"),
        "{}",
        again.stderr
    );

    let dry = ns.run(&["rotate", "app", "--abort", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stdout.contains("Plan to undo") && dry.stdout.contains("restore revision 0"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        rotated,
        "--dry-run wrote nothing"
    );
    assert!(ns.secret_annotation("app", annotations::JOURNAL).await.is_some());
    let unconfirmed = ns.run(&["rotate", "app", "--abort"]);
    assert_eq!(
        unconfirmed.code,
        exit::USAGE,
        "--abort asks like any change: {unconfirmed:?}"
    );
    assert!(unconfirmed.stdout.contains("Plan to undo"), "{}", unconfirmed.stdout);
    assert_ne!(text(&ns.secret_data("app").await["TOKEN"]), value, "nothing was done");
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        value,
        "--abort restored the previous data"
    );
    assert_eq!(ns.secret_annotation("app", annotations::JOURNAL).await, None);
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{}", verify.stdout);

    let resume_nothing = ns.run(&["rotate", "app", "--resume"]);
    assert_eq!(resume_nothing.code, exit::USAGE);
    for out in [&again, &abort, &verify, &resume_nothing] {
        out.assert_no_leak([&value, &rotated]);
    }
}

#[tokio::test]
async fn interrupted_rotation_is_finished_with_resume() {
    let ns = TestNamespace::new("rotate-finish").await;
    let value = canary("finish");
    ns.secret("app", &[("TOKEN", &value)]).await;
    slow_consumer(&ns, "app").await;
    let rotated = interrupt_rotation(&ns, "app", "TOKEN", &value).await;

    let dry = ns.run(&["rotate", "app", "--resume", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(dry.stderr.contains("Dry run: nothing was changed"), "{}", dry.stderr);
    assert!(
        ns.secret_annotation("app", annotations::JOURNAL).await.is_some(),
        "--dry-run left the journal"
    );
    let resume = ns.run(&["rotate", "app", "--resume", "--yes"]);
    assert_eq!(resume.code, exit::OK, "{resume:?}");
    assert!(
        resume.stdout.contains("Plan to finish") && resume.stderr.contains("deployment/api: complete"),
        "{resume:?}"
    );
    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        rotated,
        "the new value stays"
    );
    assert_eq!(ns.secret_annotation("app", annotations::JOURNAL).await, None);
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{}", verify.stdout);
    assert_eq!(verify.json()["workloads"][0]["findings"][0]["evidence"], "exact");
    for out in [&resume, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
}

#[tokio::test]
async fn a_secret_owned_by_a_sealed_secret_is_refused_with_the_right_path() {
    let ns = TestNamespace::new("rotate-sealed").await;
    let value = canary("sealed");
    crate::support::kubeseal_and_apply(&ns.name, "api-keys", &[("openai", &value)]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ns.get_secret("api-keys").await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the controller never unsealed the SealedSecret"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let run = ns.run(&["rotate", "api-keys", "--key", "openai", "--yes"]);
    assert_eq!(run.code, exit::USAGE, "{run:?}");
    assert!(
        run.stderr.contains("unsealed from SealedSecret api-keys")
            && run.stderr.contains("--sealed-file FILE [--apply]"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&ns.secret_data("api-keys").await["openai"]), value);
    assert!(backups(&ns.secret_names().await, "api-keys").is_empty());
    run.assert_no_leak([&value]);
}

#[tokio::test]
async fn a_second_rotation_while_one_is_under_way_changes_nothing() {
    let ns = TestNamespace::new("rotate-twice").await;
    let value = canary("twice");
    ns.secret("app", &[("TOKEN", &value)]).await;
    slow_consumer(&ns, "app").await;
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name])
        .env("KUBECONFIG", &crate::support::cluster().admin_kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while ns.secret_annotation("app", annotations::JOURNAL).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first rotation never wrote its journal"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let written_by_first = ns.secret_data("app").await["TOKEN"].clone();
    let second = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(second.code, exit::IN_PROGRESS, "{second:?}");
    // Nor may anyone undo (or finish) it while it runs: its holder is alive.
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::IN_PROGRESS, "{abort:?}");
    assert!(
        abort.stderr.contains("Another run holds it") && abort.stderr.contains("--force"),
        "{}",
        abort.stderr
    );
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        written_by_first,
        "the abort changed nothing"
    );
    assert!(
        second.stderr.contains("is under way or was interrupted") && second.stderr.contains("nothing was changed"),
        "{}",
        second.stderr
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(
        first.status.code(),
        Some(exit::OK),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        written_by_first,
        "no lost update: the first rotation's value stands"
    );
    assert_eq!(
        ns.secret_annotation("app", annotations::REVISION).await.as_deref(),
        Some("1")
    );
    let rotated = String::from_utf8(written_by_first).unwrap();
    second.assert_no_leak([&value, &rotated]);
    abort.assert_no_leak([&value, &rotated]);
    let first_out = format!(
        "{}{}",
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(!first_out.contains(&value) && !first_out.contains(&rotated));
}

#[tokio::test]
async fn only_workloads_reading_a_changed_key_are_restarted() {
    let ns = TestNamespace::new("rotate-keys").await;
    let (jwt, redis) = (canary("jwt"), canary("redis"));
    ns.secret("backend", &[("JWT_SECRET", &jwt), ("REDIS_URL", &redis)])
        .await;
    let workloads = [
        (
            "all-keys",
            json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from("backend")}]}),
        ),
        (
            "jwt",
            json!({"containers": [{"name": "c", "image": "i", "env": [key_ref("JWT", "backend", "JWT_SECRET")]}]}),
        ),
        (
            "cache",
            json!({"containers": [{"name": "c", "image": "i", "env": [key_ref("REDIS", "backend", "REDIS_URL")]}]}),
        ),
        // One item of the Secret, copied once through a subPath: reads REDIS_URL only.
        (
            "redis-file",
            json!({
                "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "s", "mountPath": "/etc/redis", "subPath": "redis"}]}],
                "volumes": [{"name": "s", "secret": {"secretName": "backend", "items": [{"key": "REDIS_URL", "path": "redis"}]}}]
            }),
        ),
    ];
    for (name, spec) in &workloads {
        ns.create_deployment(deployment(name, 1, spec.clone())).await;
    }
    for (name, _) in &workloads {
        ns.wait_ready("deployment", name).await;
    }
    let before: Vec<Vec<String>> = {
        let mut pods = Vec::new();
        for (name, _) in &workloads {
            pods.push(ns.pod_names(&format!("{name}-")).await);
        }
        pods
    };

    let run = ns.run(&[
        "rotate",
        "backend",
        "--key",
        "JWT_SECRET",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    for (name, action) in [
        ("all-keys", "restart"),
        ("jwt", "restart"),
        (
            "cache",
            "none: reads only REDIS_URL, unchanged (--restart-all restarts it)",
        ),
        (
            "redis-file",
            "none: reads only REDIS_URL, unchanged (--restart-all restarts it)",
        ),
    ] {
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(&format!("deployment/{name} ")))
            .unwrap_or_else(|| panic!("{name} is in the plan: {}", run.stdout));
        assert!(line.contains(action), "{name}: {line}");
    }
    for ((name, _), pods) in workloads.iter().zip(&before) {
        let now = ns.pod_names(&format!("{name}-")).await;
        let restarted = now.iter().all(|p| !pods.contains(p));
        assert_eq!(
            restarted,
            ["all-keys", "jwt"].contains(name),
            "{name}: {pods:?} → {now:?}"
        );
    }
    // Nothing runs with an old value of a key that changed: verify agrees, judging the readers
    // of REDIS_URL by that key, and the old JWT_SECRET can be revoked.
    let verify = ns.run(&["verify", "backend", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    let report = verify.json();
    let finding = |name: &str| workload(&report, "Deployment", name)["findings"][0].clone();
    assert_eq!(finding("cache")["keys"], json!(["REDIS_URL"]), "{report}");
    assert_eq!(finding("cache")["status"], "ok", "{report}");
    assert_eq!(finding("redis-file")["keys"], json!(["REDIS_URL"]), "{report}");
    assert_eq!(finding("jwt")["evidence"], "exact", "{report}");
    assert_eq!(report["revocation"][0]["safe"], true, "{report}");

    // --restart-all restarts every reader, as before.
    let cache_pods = ns.pod_names("cache-").await;
    let all = ns.run(&[
        "rotate",
        "backend",
        "--key",
        "JWT_SECRET",
        "--restart-all",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(all.code, exit::OK, "{all:?}");
    assert!(ns.pod_names("cache-").await.iter().all(|p| !cache_pods.contains(p)));
    let new_jwt = text(&ns.secret_data("backend").await["JWT_SECRET"]);

    // REDIS_URL changed without restarts: its readers are stale, the JWT reader is not.
    let quiet = ns.run(&[
        "rotate",
        "backend",
        "--key",
        "REDIS_URL",
        "--no-restart",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(quiet.code, exit::OK, "{quiet:?}");
    assert!(
        quiet.stdout.contains("none: reads only JWT_SECRET, unchanged"),
        "{}",
        quiet.stdout
    );
    let stale = ns.run(&["verify", "backend", "-o", "json"]);
    assert_eq!(stale.code, exit::FOUND, "{stale:?}");
    let report = stale.json();
    let status = |name: &str| workload(&report, "Deployment", name)["status"].clone();
    for (name, expected) in [
        ("all-keys", "stale"),
        ("cache", "stale"),
        ("redis-file", "stale"),
        ("jwt", "ok"),
    ] {
        assert_eq!(status(name), expected, "{name}: {report}");
    }
    let new_redis = text(&ns.secret_data("backend").await["REDIS_URL"]);
    for out in [&run, &verify, &all, &quiet, &stale] {
        out.assert_no_leak([&jwt, &redis, &new_jwt, &new_redis]);
    }
}

/// Pod name → (uid, creation time) of a StatefulSet's pods.
async fn pods_of(ns: &TestNamespace, prefix: &str) -> std::collections::BTreeMap<String, (String, String)> {
    let pods = kube::Api::<k8s_openapi::api::core::v1::Pod>::namespaced(ns.client.clone(), &ns.name);
    pods.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with(prefix)))
        .map(|p| {
            let created = p
                .metadata
                .creation_timestamp
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            (p.metadata.name.unwrap(), (p.metadata.uid.unwrap(), created))
        })
        .collect()
}

#[tokio::test]
async fn on_delete_stateful_sets_are_rolled_pod_by_pod_highest_ordinal_first() {
    let ns = TestNamespace::new("rotate-ondelete").await;
    let value = canary("ondelete");
    ns.secret("db", &[("PASSWORD", &value)]).await;
    let spec = json!({"containers": [{"name": "db", "image": "postgres", "envFrom": env_from("db")}]});
    let mut set = crate::support::stateful_set("postgres", 3, spec.clone());
    set["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    // Numbered from 4 (spec.ordinals.start): postgres-4, -5, -6.
    set["spec"]["ordinals"] = json!({"start": 4});
    ns.create_stateful_set(set).await;
    let mut other = crate::support::stateful_set("replica", 2, spec);
    other["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    ns.create_stateful_set(other).await;
    ns.wait_ready("statefulset", "postgres").await;
    ns.wait_ready("statefulset", "replica").await;

    // --leave-on-delete: reported, the pods untouched, verify says they are stale.
    let before = pods_of(&ns, "replica-").await;
    // OnDelete mechanics, not the database: its password is taken as changed at the server.
    let left = ns.run(&[
        "rotate",
        "db",
        "--key",
        "PASSWORD",
        "--leave-on-delete",
        "--no-issuer",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(left.code, exit::FOUND, "{left:?}");
    assert!(left.stderr.contains("updateStrategy is OnDelete"), "{}", left.stderr);
    assert_eq!(pods_of(&ns, "replica-").await, before, "left as they were");

    // By default: every pod replaced, one at a time, postgres-6 first.
    let before = pods_of(&ns, "postgres-").await;
    let run = ns.run(&[
        "rotate",
        "db",
        "--key",
        "PASSWORD",
        "--no-issuer",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(run.stderr.contains("statefulset/postgres: complete"), "{}", run.stderr);
    let after = pods_of(&ns, "postgres-").await;
    assert_eq!(after.len(), 3, "{after:?}");
    for (name, (uid, _)) in &after {
        assert_ne!(&before[name].0, uid, "{name} was replaced");
    }
    // Each replacement waited for the previous one to be Ready (pods are Ready after 1 s here),
    // so they were created in order, a second or more apart.
    let created: Vec<&String> = ["postgres-6", "postgres-5", "postgres-4"]
        .iter()
        .map(|n| &after[*n].1)
        .collect();
    assert!(created[0] < created[1] && created[1] < created[2], "{after:?}");
    assert_eq!(
        ns.run(&["verify", "db"]).code,
        exit::OK,
        "every pod of both StatefulSets runs with the current value"
    );
    let new_value = text(&ns.secret_data("db").await["PASSWORD"]);
    for out in [&left, &run] {
        out.assert_no_leak([&value, &new_value]);
    }
}

#[tokio::test]
async fn an_on_delete_pod_the_stateful_set_does_not_control_is_never_deleted() {
    let ns = TestNamespace::new("rotate-planted").await;
    let value = canary("planted");
    ns.secret("db", &[("PASSWORD", &value)]).await;
    let mut set = crate::support::stateful_set(
        "vault",
        2,
        json!({"containers": [{"name": "v", "image": "vault", "envFrom": env_from("db")}]}),
    );
    set["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
    ns.create_stateful_set(set).await;
    ns.wait_ready("statefulset", "vault").await;
    // vault-1 becomes someone else's pod: no owner, other labels (the controller cannot adopt it).
    let planted = json!([
        {"op": "remove", "path": "/metadata/ownerReferences"},
        {"op": "replace", "path": "/metadata/labels", "value": {"planted": "yes"}}
    ]);
    let out = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&crate::support::cluster().admin_kubeconfig)
        .args([
            "patch",
            "pod",
            "vault-1",
            "-n",
            &ns.name,
            "--type=json",
            "-p",
            &planted.to_string(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let before = pods_of(&ns, "vault-1").await;

    let run = ns.run(&[
        "rotate",
        "db",
        "--key",
        "PASSWORD",
        "--no-issuer",
        "--yes",
        "--timeout",
        "20s",
    ]);
    assert_eq!(run.code, exit::ROLLBACK_FAILED, "{run:?}");
    assert!(
        run.stderr
            .contains("it is not controlled by statefulset vault (another owner, or none): not deleted"),
        "{}",
        run.stderr
    );
    assert_eq!(pods_of(&ns, "vault-1").await, before, "the planted pod is untouched");
    assert_eq!(
        text(&ns.secret_data("db").await["PASSWORD"]),
        value,
        "the previous data is back"
    );
    run.assert_no_leak([&value]);
}

/// The finalizer that keeps this file's pods Terminating until the test removes it (the bed's
/// kwok deletes a pod only once it has none, as a kubelet's pod only goes once its finalizers do).
const HOLD: &str = "e2e.kubectl-secrets.io/hold";

/// A Deployment whose pods stay Terminating until released, with this grace period.
fn held_deployment(name: &str, secret: &str, grace_seconds: i64) -> Value {
    let mut d = deployment(
        name,
        1,
        json!({"terminationGracePeriodSeconds": grace_seconds,
               "containers": [{"name": "c", "image": "i", "envFrom": env_from(secret)}]}),
    );
    d["spec"]["template"]["metadata"]["finalizers"] = json!([HOLD]);
    d
}

/// Remove the hold from these pods.
async fn release(ns: &TestNamespace, names: &[String]) {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, Patch, PatchParams};
    let api = Api::<Pod>::namespaced(ns.client.clone(), &ns.name);
    let patch = json!({"metadata": {"finalizers": null}});
    for name in names {
        let _ = api.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await;
    }
}

/// Rollouts are complete once the new pods are available; an old pod may still be terminating,
/// running the old value. rotate waits for it to go (a watch sees it leave) before it verifies:
/// released while rotate waits, it is gone and the verification is clean; never released, the
/// wait ends with its grace period and the verification names the pod that still runs it.
#[tokio::test]
async fn rotate_verifies_only_once_the_old_pods_are_gone() {
    let ns = TestNamespace::new("rotate-held").await;
    let (released, kept) = (canary("held-released"), canary("held-kept"));
    ns.secret("released", &[("TOKEN", &released)]).await;
    ns.secret("kept", &[("TOKEN", &kept)]).await;
    ns.create_deployment(held_deployment("released", "released", 30)).await;
    ns.create_deployment(held_deployment("kept", "kept", 2)).await;
    ns.wait_ready("deployment", "released").await;
    ns.wait_ready("deployment", "kept").await;
    let old = ns.pod_names("released-").await;

    let args = ["rotate", "released", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, None);
    tool.wait_for("Waiting for 1 old pod to finish terminating");
    release(&ns, &old).await;
    let run = tool.finish();
    assert_eq!(run.code, exit::OK, "gone before the verification: {run:?}");
    assert!(run.stdout.contains("deployment/released"), "{}", run.stdout);

    let mut held_pods = ns.pod_names("kept-").await;
    let held = ns.run(&["rotate", "kept", "--key", "TOKEN", "--yes"]);
    assert_eq!(
        held.code,
        exit::FOUND,
        "the held pod still runs the old value: {held:?}"
    );
    assert!(
        held.stderr.contains("Waiting for 1 old pod to finish terminating"),
        "{}",
        held.stderr
    );
    assert!(held.stdout.contains("stale"), "{}", held.stdout);
    // The held pod, and the running ones (their template holds them too): all released, so
    // that the namespace can go.
    held_pods.extend(ns.pod_names("").await);
    release(&ns, &held_pods).await;
    let new = [
        text(&ns.secret_data("released").await["TOKEN"]),
        text(&ns.secret_data("kept").await["TOKEN"]),
    ];
    for out in [&run, &held] {
        out.assert_no_leak([&released, &kept, &new[0], &new[1]]);
    }
}

#[tokio::test]
async fn dry_run_server_sends_every_write_with_dry_run_and_a_refusing_server_stops_it() {
    let ns = TestNamespace::new("rotate-dry-server").await;
    let value = canary("dry-server");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let pods = ns.pod_names("api-").await;

    // Accepted: the writes were judged by the API server, nothing was stored.
    let dry = ns.run(&["rotate", "app", "--key", "TOKEN", "--dry-run=server", "--yes"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stderr
            .contains("Server dry run: the API server accepted 3 writes of this change"),
        "{}",
        dry.stderr
    );
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), value);
    assert!(backups(&ns.secret_names().await, "app").is_empty(), "no backup stored");
    assert_eq!(ns.pod_names("api-").await, pods, "nothing restarted");

    // A policy of the cluster's own (a ValidatingAdmissionPolicy) forbids changing this
    // namespace's Secrets: the client-side dry run cannot know, the server-side one is refused.
    let policy = format!("e2e-frozen-{}", ns.name);
    crate::support::kubectl_apply(
        &json!({"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
             "metadata": {"name": policy},
             "spec": {"failurePolicy": "Fail",
                      "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                          "operations": ["UPDATE"], "resources": ["secrets"]}]},
                      "validations": [{"expression": "false", "message": "Secrets of this namespace are frozen"}]}},
            {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
             "metadata": {"name": policy},
             "spec": {"policyName": policy, "validationActions": ["Deny"],
                      "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}}}}}
        ]})
        .to_string(),
    );
    let client_side = ns.run(&["rotate", "app", "--key", "TOKEN", "--dry-run"]);
    assert_eq!(client_side.code, exit::OK, "{client_side:?}");
    // The API server learns of a new policy from its own watch, a moment later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refused = loop {
        let run = ns.run(&["rotate", "app", "--key", "TOKEN", "--dry-run=server", "--yes"]);
        if run.code != exit::OK || std::time::Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    assert_ne!(refused.code, exit::OK, "{refused:?}");
    assert!(
        refused.stderr.contains("Secrets of this namespace are frozen"),
        "{}",
        refused.stderr
    );
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), value, "nothing written");
    assert!(backups(&ns.secret_names().await, "app").is_empty());
    assert_eq!(ns.pod_names("api-").await, pods);
    // Where the writes are not a change of Secrets through the engine, it is not pretended.
    let fix = ns.run(&["verify", "--fix", "--dry-run=server"]);
    assert_eq!(fix.code, exit::USAGE, "{fix:?}");
    assert!(fix.stderr.contains("does not take --dry-run=server"), "{}", fix.stderr);
    let _ = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&crate::support::cluster().admin_kubeconfig)
        .args([
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            &policy,
        ])
        .output();
    for out in [&dry, &client_side, &refused, &fix] {
        out.assert_no_leak([&value]);
    }
}
