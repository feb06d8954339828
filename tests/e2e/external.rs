//! External Secrets Operator on the bed: the real ESO controller syncing from moto's AWS
//! Secrets Manager API. Rotation writes a new AWS version (AWSPENDING → AWSCURRENT, the old one
//! AWSPREVIOUS), ESO syncs it, consumers restart, verify is exact; failures move AWSCURRENT back.

use serde_json::{json, Value};

use crate::support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A remote secret holding `value` as JSON, named after the namespace (unique per test).
fn remote(ns: &TestNamespace, name: &str, value: Value) -> String {
    let id = format!("{}/{name}", ns.name);
    boto3(&format!(
        "c.create_secret(Name='{id}', SecretString=json.dumps({value}))"
    ));
    id
}

/// Seed 000's shape: the backend's database password as a property, and every property.
fn external_secret(name: &str, target: &str, remote: &str) -> Value {
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": name},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "aws-secretsmanager"},
            "target": {"name": target},
            "data": [{"secretKey": "DB_PASSWORD", "remoteRef": {"key": remote, "property": "password"}}],
            "dataFrom": [{"extract": {"key": remote}}]
        }
    })
}

fn reads_db_password(secret: &str) -> Value {
    json!({"containers": [{"name": "app", "image": "app", "env": [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "DB_PASSWORD"}}}
    ]}]})
}

fn current_of(stages: &std::collections::BTreeMap<String, Vec<String>>, stage: &str) -> Option<String> {
    stages
        .iter()
        .find(|(_, s)| s.iter().any(|x| x == stage))
        .map(|(id, _)| id.clone())
}

#[tokio::test]
async fn eso_rotation_writes_an_aws_version_syncs_restarts_and_verifies_exactly() {
    let ns = TestNamespace::new("eso-rotate").await;
    let old = canary("db-old");
    let remote = remote(&ns, "backend", json!({"username": "backend", "password": old}));
    let first = current_of(&aws_stages(&remote), "AWSCURRENT").unwrap();
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    ns.create_deployment(deployment("api", 2, reads_db_password("backend-secrets")))
        .await;
    ns.create_deployment(deployment("worker", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;
    ns.wait_ready("deployment", "worker").await;

    // Without a question, the AWS secret an ExternalSecret names (whoever writes the namespace
    // may edit that) is written only when the operator names it too.
    let stages_before = aws_stages(&remote);
    let unconsented = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(unconsented.code, exit::UNTRUSTED, "{unconsented:?}");
    assert!(
        unconsented.stderr.contains(&format!("--remote {remote}")),
        "{}",
        unconsented.stderr
    );
    assert_eq!(aws_stages(&remote), stages_before, "nothing written at AWS");
    unconsented.assert_no_leak([&old]);
    let run = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stdout.contains("DB_PASSWORD") && run.stdout.contains("password"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("AWS Secrets Manager (us-east-1)") && run.stderr.contains("made it AWSCURRENT"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Safe to retire the previous AWS versions"),
        "{}",
        run.stderr
    );

    // AWS's own rotation model: the new version current, the old one AWSPREVIOUS, no AWSPENDING.
    let stages = aws_stages(&remote);
    let new = current_of(&stages, "AWSCURRENT").unwrap();
    assert!(new.starts_with("kubectl-secrets-"), "{stages:?}");
    assert_eq!(current_of(&stages, "AWSPREVIOUS").as_deref(), Some(first.as_str()));
    assert_eq!(current_of(&stages, "AWSPENDING"), None, "{stages:?}");
    let value = aws_current(&remote);
    let new_password = value["password"].as_str().unwrap().to_string();
    assert_ne!(new_password, old);
    assert_eq!(value["username"], "backend", "other properties are kept");

    // ESO synced it; the Secret carries the revision, the pods were restarted for it.
    let data = ns.secret_data("backend-secrets").await;
    assert_eq!(text(&data["DB_PASSWORD"]), new_password);
    assert_eq!(text(&data["password"]), new_password);
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    let verify = assert_restarted_and_ok(&ns, &["api", "worker"], "backend-secrets", 1).await;

    // A second rotation retires the version it replaces once verified.
    let again = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
        "--min-restart-interval",
        "0",
        "--retire-previous",
    ]);
    assert_eq!(again.code, exit::OK, "{again:?}");
    assert!(
        again.stderr.contains("Retired the previous AWS versions"),
        "{}",
        again.stderr
    );
    let stages = aws_stages(&remote);
    assert_eq!(
        stages[&new],
        Vec::<String>::new(),
        "AWSPREVIOUS removed from the replaced version: {stages:?}"
    );
    let newest = aws_current(&remote)["password"].as_str().unwrap().to_string();
    for r in [&run, &verify, &again] {
        r.assert_no_leak([&old, &new_password, &newest]);
    }
}

#[tokio::test]
async fn a_crash_looping_consumer_moves_awscurrent_back_and_restarts_with_the_previous_value() {
    let ns = TestNamespace::new("eso-crash").await;
    let old = canary("db-good");
    let remote = remote(&ns, "backend", json!({"username": "backend", "password": old}));
    let first = current_of(&aws_stages(&remote), "AWSCURRENT").unwrap();
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    // The app rejects revision 1 (the new value) and runs again with revision 2 (the old one).
    let crashing = with_pod_annotations(
        deployment("api", 2, reads_db_password("backend-secrets")),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"backend-secrets":1}"#}),
    );
    ns.create_deployment(crashing).await;
    ns.wait_ready("deployment", "api").await;

    let run = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
        "--timeout",
        "40s",
    ]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(run.stderr.contains("AWSCURRENT was moved back"), "{}", run.stderr);

    let stages = aws_stages(&remote);
    assert_eq!(
        current_of(&stages, "AWSCURRENT").as_deref(),
        Some(first.as_str()),
        "{stages:?}"
    );
    assert_eq!(aws_current(&remote)["password"], old.as_str());
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), old);
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    ns.wait_ready("deployment", "api").await;
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":2}"#)
    );
    run.assert_no_leak([&old]);
}

/// Interrupted after the provider write: SIGINT then --resume finishes; kill -9 then --abort
/// undoes it (AWSCURRENT back, synced, restarted).
#[tokio::test]
async fn interrupted_after_the_provider_write_then_resume_or_abort() {
    let ns = TestNamespace::new("eso-interrupt").await;
    let old = canary("db-old");
    let remote = remote(&ns, "backend", json!({"password": old}));
    let first = current_of(&aws_stages(&remote), "AWSCURRENT").unwrap();
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    ns.create_deployment(deployment("api", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;
    let args = [
        "rotate",
        "backend-secrets",
        "-n",
        &ns.name,
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
        "--min-restart-interval",
        "0",
    ];

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-INT");
    let interrupted = tool.finish();
    assert_eq!(interrupted.code, exit::INTERRUPTED, "{interrupted:?}");
    let new = current_of(&aws_stages(&remote), "AWSCURRENT").unwrap();
    assert!(
        new.starts_with("kubectl-secrets-"),
        "the provider write landed before the interruption"
    );
    assert!(ns
        .secret_annotation("backend-secrets", annotations::JOURNAL)
        .await
        .is_some());

    let resumed = ns.run(&[
        "rotate",
        "backend-secrets",
        "--resume",
        "--remote",
        &remote,
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(resumed.code, exit::OK, "{resumed:?}");
    let new_password = aws_current(&remote)["password"].as_str().unwrap().to_string();
    assert_eq!(
        text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]),
        new_password
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":1}"#)
    );

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let killed = tool.finish();
    assert_ne!(killed.code, exit::OK);
    let newest = current_of(&aws_stages(&remote), "AWSCURRENT").unwrap();
    assert_ne!(newest, new);
    let aborted = ns.run(&[
        "rotate",
        "backend-secrets",
        "--abort",
        "--remote",
        &remote,
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(aborted.code, exit::OK, "{aborted:?}");
    let stages = aws_stages(&remote);
    assert_eq!(
        current_of(&stages, "AWSCURRENT").as_deref(),
        Some(new.as_str()),
        "{stages:?}"
    );
    assert_eq!(
        text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]),
        new_password
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("3")
    );
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    assert_ne!(first, new);
    for r in [&interrupted, &resumed, &killed, &aborted] {
        r.assert_no_leak([&old, &new_password]);
    }
}

#[tokio::test]
async fn synced_takes_a_value_changed_at_the_provider_with_boto3() {
    let ns = TestNamespace::new("eso-synced").await;
    let old = canary("api-old");
    let new = canary("api-new");
    let remote = remote(&ns, "backend", json!({"password": old}));
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    ns.create_deployment(deployment("api", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;

    let unchanged = ns.run(&["rotate", "backend-secrets", "--synced", "--yes", "--timeout", "30s"]);
    assert_eq!(unchanged.code, exit::USAGE, "nothing to take: {unchanged:?}");
    assert!(
        unchanged.stderr.contains("change it at the provider first"),
        "{}",
        unchanged.stderr
    );

    boto3(&format!(
        "c.put_secret_value(SecretId='{remote}', SecretString=json.dumps({{'password': '{new}'}}))"
    ));
    let run = ns.run(&["rotate", "backend-secrets", "--synced", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), new);
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":1}"#)
    );
    let verify = ns.run(&["verify"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    for r in [&unchanged, &run, &verify] {
        r.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn mappings_the_plugin_cannot_write_back_are_refused_with_the_reason() {
    let ns = TestNamespace::new("eso-refuse").await;
    let old = canary("db");
    let remote = remote(&ns, "backend", json!({"password": old}));
    let mut templated = external_secret("backend", "backend-secrets", &remote);
    templated["spec"]["target"]["template"] = json!({
        "mergePolicy": "Merge",
        "data": {"DATABASE_URL": "postgres://backend:{{ .password }}@db:5432/app"}
    });
    ns.create_external_secret(templated).await;

    // A URL with a password is never generated unasked; asked for, it is still computed by the template.
    let unasked = ns.run(&["rotate", "backend-secrets", "--key", "DATABASE_URL", "--yes"]);
    assert_eq!(unasked.code, exit::USAGE, "{unasked:?}");
    assert!(
        unasked.stderr.contains("a URL with a password inside"),
        "{}",
        unasked.stderr
    );
    unasked.assert_no_leak([&old]);
    let computed = ns.run(&["rotate", "backend-secrets", "--key", "DATABASE_URL=alnum:40", "--yes"]);
    assert_eq!(computed.code, exit::USAGE, "{computed:?}");
    assert!(
        computed.stderr.contains("computed by the ExternalSecret's template"),
        "{}",
        computed.stderr
    );
    let flag = ns.run(&["rotate", "backend-secrets", "--key", "password", "--propagate", "--yes"]);
    assert_eq!(flag.code, exit::USAGE, "{flag:?}");
    assert!(flag.stderr.contains("--propagate is not for secret"), "{}", flag.stderr);

    // No AWS credentials at all: exit 5 naming what to set; nothing changed.
    let before = aws_stages(&remote);
    let mut args: Vec<&str> = vec![
        "rotate",
        "backend-secrets",
        "-n",
        &ns.name,
        "--key",
        "password",
        "--yes",
    ];
    let no_credentials = run_without_aws(&mut args, &[("AWS_EC2_METADATA_DISABLED", "true")]);
    assert_eq!(no_credentials.code, exit::FORBIDDEN, "{no_credentials:?}");
    assert!(
        no_credentials.stderr.contains("AWS credentials"),
        "{}",
        no_credentials.stderr
    );
    // The endpoint does not answer: exit 4 naming it.
    let unreachable = run_without_aws(
        &mut args,
        &[
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://127.0.0.1:9"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_MAX_ATTEMPTS", "1"),
        ],
    );
    assert_eq!(unreachable.code, exit::UNREACHABLE, "{unreachable:?}");
    assert!(
        unreachable.stderr.contains("http://127.0.0.1:9"),
        "{}",
        unreachable.stderr
    );
    assert_eq!(aws_stages(&remote), before, "nothing was written to AWS");
    assert_eq!(text(&ns.secret_data("backend-secrets").await["password"]), old);
    for r in [&computed, &flag, &no_credentials, &unreachable] {
        r.assert_no_leak([&old]);
    }
}

/// The binary with none of the bed's AWS settings, plus `extra`.
fn run_without_aws(args: &mut Vec<&str>, extra: &[(&str, &str)]) -> Run {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(args.iter())
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .env("NO_COLOR", "1")
        .env("HOME", "/nonexistent")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_REGION", "us-east-1")
        .envs(extra.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// ESO's own fake provider as a SecretStore holding `api-key`, and an ExternalSecret syncing
/// it into api-secrets (API_KEY): returns the store's manifest, to change it later.
async fn fake_store_and_external_secret(ns: &TestNamespace, value: &str) -> Value {
    let store = json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "fake", "namespace": ns.name},
        "spec": {"provider": {"fake": {"data": [{"key": "api-key", "value": value}]}}}
    });
    ns.apply(&store);
    ns.create_external_secret(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "api"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": "fake"},
            "target": {"name": "api-secrets"},
            "data": [{"secretKey": "API_KEY", "remoteRef": {"key": "api-key"}}]
        }
    }))
    .await;
    store
}

/// Any provider other than AWS Secrets Manager (here ESO's own fake provider): rotate says
/// how, and --synced does the rest once the value is changed there.
#[tokio::test]
async fn another_provider_is_never_written_to_and_synced_works_for_it() {
    let ns = TestNamespace::new("eso-fake").await;
    let old = canary("fake-old");
    let new = canary("fake-new");
    let store = fake_store_and_external_secret(&ns, &old).await;
    ns.create_deployment(deployment(
        "api",
        1,
        json!({"containers": [{"name": "app", "image": "app", "env": [
            {"name": "API_KEY", "valueFrom": {"secretKeyRef": {"name": "api-secrets", "key": "API_KEY"}}}
        ]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;

    let refused = ns.run(&["rotate", "api-secrets", "--key", "API_KEY", "--yes"]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("from fake, which kubectl-secrets does not write to")
            && refused.stderr.contains("--synced"),
        "{}",
        refused.stderr
    );
    let mut changed = store.clone();
    changed["spec"]["provider"]["fake"]["data"][0]["value"] = json!(new);
    ns.apply(&changed);
    let run = ns.run(&["rotate", "api-secrets", "--synced", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_eq!(text(&ns.secret_data("api-secrets").await["API_KEY"]), new);
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"api-secrets":1}"#)
    );
    for r in [&refused, &run] {
        r.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn verify_list_and_audit_know_external_secrets() {
    let ns = TestNamespace::new("eso-report").await;
    let value = canary("db");
    let remote = remote(&ns, "backend", json!({"password": value}));
    let mut backend = external_secret("backend", "backend-secrets", &remote);
    backend["spec"]["refreshInterval"] = json!("0");
    ns.create_external_secret(backend).await;
    ns.create_deployment(deployment("api", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;
    // A second writer of the same Secret, and an ExternalSecret whose remote secret is missing.
    let mut merging = external_secret("other", "backend-secrets", &remote);
    merging["spec"]["target"]["creationPolicy"] = json!("Merge");
    ns.apply(&merging);
    ns.apply(&external_secret(
        "broken",
        "broken-secrets",
        &format!("{}/missing", ns.name),
    ));
    // The Secret carries a rotation stamp (as after a rotation).
    kubectl_annotate(&ns, "backend-secrets", &format!("{}=1", annotations::REVISION));

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let verify = loop {
        let verify = ns.run(&["verify"]);
        if verify.code != exit::OK || std::time::Instant::now() > deadline {
            break verify;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    };
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("ExternalSecret broken failed to sync (SecretSyncedError"),
        "{}",
        verify.stdout
    );
    let json = ns.run(&["verify", "-o", "json"]).json();
    assert_eq!(json["syncFailed"][0]["secret"], "broken-secrets", "{json}");

    let list = ns.run(&["list"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    assert!(
        list.stdout.contains("SYNCED FROM")
            && list
                .stdout
                .contains("AWS Secrets Manager (us-east-1) via ClusterSecretStore/aws-secretsmanager, no refresh"),
        "{}",
        list.stdout
    );
    let audit = ns.run(&["audit", "-o", "json"]);
    let rules: Vec<String> = audit.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    assert!(rules.contains(&"external-no-refresh".to_string()), "{rules:?}");
    assert!(rules.contains(&"external-shared-target".to_string()), "{rules:?}");
    // And a rotation is refused before anything is written: ESO would never take the new value.
    let before = aws_stages(&remote);
    let rotate = ns.run(&["rotate", "backend-secrets", "--key", "DB_PASSWORD", "--yes"]);
    assert_eq!(rotate.code, exit::USAGE, "{rotate:?}");
    assert!(rotate.stderr.contains("refreshInterval is 0"), "{}", rotate.stderr);
    assert_eq!(aws_stages(&remote), before);
    for r in [&verify, &list, &audit, &rotate] {
        r.assert_no_leak([&value]);
    }
}

fn kubectl_annotate(ns: &TestNamespace, secret: &str, annotation: &str) {
    let status = std::process::Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["annotate", "secret", secret, "-n", &ns.name, annotation, "--overwrite"])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn rollback_and_diff_go_through_the_providers_versions() {
    let ns = TestNamespace::new("eso-rollback").await;
    let original = canary("db-original");
    let later = canary("db-later");
    let remote = remote(&ns, "backend", json!({"username": "backend", "password": original}));
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    ns.create_deployment(deployment("api", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;

    let rotate = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
    ]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = aws_current(&remote)["password"].as_str().unwrap().to_string();
    let same = ns.run(&["diff", "backend-secrets", "--against-provider"]);
    assert_eq!(same.code, exit::OK, "the Secret holds what AWSCURRENT syncs: {same:?}");

    let rollback = ns.run(&["rollback", "backend-secrets", "--remote", &remote, "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert!(rollback.stdout.contains("back to AWSPREVIOUS"), "{}", rollback.stdout);
    assert_eq!(
        aws_current(&remote)["password"],
        original.as_str(),
        "AWSCURRENT holds the previous value again"
    );
    let stages = aws_stages(&remote);
    assert!(
        current_of(&stages, "AWSCURRENT")
            .unwrap()
            .starts_with("kubectl-secrets-"),
        "a new version, so the rollback can be rolled back: {stages:?}"
    );
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), original);
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":2}"#)
    );

    // Changed at the provider but not synced yet: diff says which key differs, masked. (The
    // stage is moved explicitly: moto 5.2 leaves AWSCURRENT on two versions when a plain
    // PutSecretValue follows an UpdateSecretVersionStage; AWS itself moves it.)
    boto3(&format!(
        "v = c.put_secret_value(SecretId='{remote}', SecretString=json.dumps({{'username': 'backend', 'password': '{later}'}}), VersionStages=['AWSPENDING'])['VersionId']\n\
         cur = [x['VersionId'] for x in c.list_secret_version_ids(SecretId='{remote}')['Versions'] if 'AWSCURRENT' in x['VersionStages']][0]\n\
         c.update_secret_version_stage(SecretId='{remote}', VersionStage='AWSCURRENT', MoveToVersionId=v, RemoveFromVersionId=cur)"
    ));
    let drifted = ns.run(&["diff", "backend-secrets", "--against-provider"]);
    assert_eq!(drifted.code, exit::FOUND, "{drifted:?}");
    assert!(
        drifted.stdout.contains("DB_PASSWORD") && drifted.stdout.contains("changed"),
        "{}",
        drifted.stdout
    );
    for r in [&rotate, &same, &rollback, &drifted] {
        r.assert_no_leak([&original, &later, &rotated]);
    }
}

#[tokio::test]
async fn history_shows_the_providers_versions_and_list_names_the_provider() {
    let ns = TestNamespace::new("eso-history").await;
    let value = canary("db");
    let remote = remote(&ns, "backend", json!({"password": value}));
    ns.create_external_secret(external_secret("backend", "backend-secrets", &remote))
        .await;
    let rotate = ns.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &remote,
        "--yes",
    ]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let stages = aws_stages(&remote);

    let history = ns.run(&["history", "backend-secrets"]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    assert!(
        history
            .stdout
            .contains(&format!("AWS Secrets Manager (us-east-1) {remote}:")),
        "{}",
        history.stdout
    );
    for (id, stage) in &stages {
        assert!(
            history.stdout.contains(id.as_str()),
            "{id} {stage:?}:\n{}",
            history.stdout
        );
    }
    let json = ns.run(&["history", "backend-secrets", "-o", "json"]).json();
    let versions = json["providerVersions"][0]["versions"].as_array().unwrap();
    assert_eq!(versions[0]["stages"], json!(["AWSCURRENT"]), "{json}");
    assert_eq!(versions[1]["stages"], json!(["AWSPREVIOUS"]), "{json}");

    let list = ns.run(&["list"]);
    assert!(
        list.stdout
            .contains("AWS Secrets Manager (us-east-1) via ClusterSecretStore/aws-secretsmanager, every 1h"),
        "{}",
        list.stdout
    );
    let new = aws_current(&remote)["password"].as_str().unwrap().to_string();
    for r in [&rotate, &history, &list] {
        r.assert_no_leak([&value, &new]);
    }
}

/// A Secret External Secrets writes, changed by hand while ESO does not reconcile it (here its
/// store is handed to another controller class, as when ESO is down): ESO's data-hash no
/// longer matches, and verify says its next sync will put the provider's value back.
#[tokio::test]
async fn verify_reports_a_secret_edited_since_its_last_sync() {
    let ns = TestNamespace::new("eso-edited").await;
    let value = canary("api");
    let edited = canary("by-hand");
    let mut store = fake_store_and_external_secret(&ns, &value).await;
    let clean = ns.run(&["verify"]);
    assert_eq!(clean.code, exit::OK, "ESO's data-hash matches what it wrote: {clean:?}");

    store["spec"]["controller"] = json!("paused");
    ns.apply(&store);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    ns.patch_secret("api-secrets", &[("API_KEY", &edited)]).await;
    let verify = ns.run(&["verify"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("Secret api-secrets was changed after External Secrets last synced it"),
        "{}",
        verify.stdout
    );
    let json = ns.run(&["verify", "-o", "json"]).json();
    assert_eq!(json["editedSinceSync"][0]["name"], "api-secrets", "{json}");
    for r in [&clean, &verify] {
        r.assert_no_leak([&value, &edited]);
    }
}

#[tokio::test]
async fn a_remote_another_team_reads_is_not_written_from_a_mapping_in_this_namespace() {
    // Team B's database password, synced into team B's namespace.
    let team_b = TestNamespace::new("eso-team-b").await;
    let b_value = canary("team-b");
    let b_remote = remote(&team_b, "db", json!({"password": b_value}));
    team_b
        .create_external_secret(external_secret("backend", "backend-secrets", &b_remote))
        .await;
    // Team A, who may write only its own namespace, maps a key to team B's remote through the
    // shared ClusterSecretStore.
    let team_a = TestNamespace::new("eso-team-a").await;
    team_a
        .create_external_secret(external_secret("backend", "backend-secrets", &b_remote))
        .await;
    let before = aws_stages(&b_remote);

    // A scheduled run without a question: the remote is not the operator's to write.
    let unattended = team_a.run(&["rotate", "backend-secrets", "--key", "password", "--yes"]);
    assert_eq!(unattended.code, exit::UNTRUSTED, "{unattended:?}");
    // Even named, it is read in another namespace: said, and refused without the flag.
    let named = team_a.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &b_remote,
        "--yes",
    ]);
    assert_eq!(named.code, exit::UNTRUSTED, "{named:?}");
    assert!(
        named
            .stderr
            .contains(&format!("also read by ExternalSecret {}/backend", team_b.name))
            && named.stderr.contains("--allow-shared-remote"),
        "{}",
        named.stderr
    );
    let dry = team_a.run(&["rotate", "backend-secrets", "--key", "password", "--dry-run"]);
    assert_eq!(dry.code, exit::UNTRUSTED, "the plan says so too: {dry:?}");
    assert_eq!(aws_stages(&b_remote), before, "team B's secret was never written");
    assert_eq!(aws_current(&b_remote)["password"], b_value.as_str());
    for out in [&unattended, &named, &dry] {
        out.assert_no_leak([&b_value]);
    }
}

#[tokio::test]
async fn a_journal_forged_on_another_teams_secret_moves_no_aws_stage() {
    use k8s_openapi::api::core::v1::Secret;
    use kube::api::{Api, Patch, PatchParams};
    // Team B rotates for real: a version named by its rotation, AWSCURRENT on it.
    let team_b = TestNamespace::new("eso-forge-b").await;
    let b_value = canary("forge-b");
    let b_remote = remote(&team_b, "db", json!({"password": b_value}));
    team_b
        .create_external_secret(external_secret("backend", "backend-secrets", &b_remote))
        .await;
    let rotate = team_b.run(&[
        "rotate",
        "backend-secrets",
        "--key",
        "password",
        "--remote",
        &b_remote,
        "--yes",
    ]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let stages = aws_stages(&b_remote);
    let (new_version, previous) = (
        current_of(&stages, "AWSCURRENT").unwrap(),
        current_of(&stages, "AWSPREVIOUS").unwrap(),
    );
    let rotation_id = new_version
        .trim_start_matches("kubectl-secrets-")
        .split('-')
        .next()
        .unwrap()
        .to_string();

    // Team A maps its own Secret to B's remote and writes a journal copying B's rotation.
    let team_a = TestNamespace::new("eso-forge-a").await;
    team_a
        .create_external_secret(external_secret("backend", "backend-secrets", &b_remote))
        .await;
    let journal = json!({
        "id": rotation_id, "action": "rotate", "phase": "syncing", "startedAt": jiff::Timestamp::now().to_string(),
        "holder": {"by": "kubectl-secrets rotate by admin", "host": "elsewhere", "pid": 1, "token": "t"},
        "secrets": {"backend-secrets": {"backup": "", "backupUid": "", "from": 0, "to": 1}},
        "workloads": [],
        "external": {"owner": "backend", "provider": "AWS Secrets Manager (us-east-1)", "region": "us-east-1",
            "remotes": [{"key": b_remote, "previous": previous, "new": new_version}]}
    });
    let params = PatchParams {
        field_manager: Some("kubectl-annotate".into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(team_a.client.clone(), &team_a.name)
        .patch(
            "backend-secrets",
            &params,
            &Patch::Merge(json!({"metadata": {"annotations": {annotations::JOURNAL: journal.to_string()}}})),
        )
        .await
        .unwrap();
    let abort = team_a.run(&[
        "rotate",
        "backend-secrets",
        "--abort",
        "--remote",
        &b_remote,
        "--allow-shared-remote",
        "--yes",
    ]);
    assert_eq!(abort.code, exit::UNTRUSTED, "{abort:?}");
    assert!(
        abort.stderr.contains("is not one this change would have made"),
        "{}",
        abort.stderr
    );
    assert_eq!(aws_stages(&b_remote), stages, "no stage moved in team B's secret");
    let b_new = aws_current(&b_remote)["password"].as_str().unwrap().to_string();
    for out in [&rotate, &abort] {
        out.assert_no_leak([&b_value, &b_new]);
    }
}

/// The bed's real Vault (KV v2) behind the ClusterSecretStore `vault`: list names it, rotate
/// says the value changes at Vault, and after a `vault kv put` --synced syncs, restarts and
/// verifies.
#[tokio::test]
async fn a_vault_backed_secret_changed_at_vault_is_synced_restarted_and_verified() {
    let ns = TestNamespace::new("eso-vault").await;
    let old = canary("vault-old");
    let new = canary("vault-new");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), old);
    ns.create_deployment(deployment("api", 1, reads_db_password("backend-secrets")))
        .await;
    ns.wait_ready("deployment", "api").await;

    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let row = list.listed("backend-secrets");
    let provider = row["external"]["provider"].as_str().unwrap_or_default().to_string();
    assert!(
        provider.starts_with("HashiCorp Vault (https://127.0.0.1:") && provider.ends_with(", KV v2 at secret/)"),
        "{row}"
    );

    // The plugin writes KV v2 too (tests/e2e/vault.rs), with the operator's consent to the path.
    let refused = ns.run(&["rotate", "backend-secrets", "--key", "DB_PASSWORD", "--yes"]);
    assert_eq!(refused.code, exit::UNTRUSTED, "{refused:?}");
    assert!(
        refused.stderr.contains("HashiCorp Vault") && refused.stderr.contains(&format!("--remote {path}")),
        "{}",
        refused.stderr
    );

    assert_eq!(vault_kv_put(&path, &json!({"password": new})), 2);
    let run = ns.run(&["rotate", "backend-secrets", "--synced", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), new);
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"backend-secrets":1}"#)
    );
    let verify = ns.run(&["verify"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    for r in [&list, &refused, &run, &verify] {
        r.assert_no_leak([&old, &new]);
    }
}
