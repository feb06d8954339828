//! HashiCorp Vault KV v2 on the bed (a real `vault server -dev`) behind the real External
//! Secrets controller: rotation writes a new Vault version with check-and-set on the version
//! read, anchors it in the path's custom_metadata, syncs, restarts, verifies; failures write the
//! previous data back as a new version; recovery checks the journal against Vault's record.

use serde_json::{json, Value};

use crate::support::*;

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The bed's Vault token (from vault.env), which must never be printed.
fn vault_token() -> String {
    provider_env()
        .into_iter()
        .find(|(k, _)| k == "VAULT_TOKEN")
        .map(|(_, v)| v)
        .expect("vault.env names VAULT_TOKEN")
}

fn reads_db_password() -> Value {
    json!({"containers": [{"name": "app", "image": "app", "env": [
        {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "backend-secrets", "key": "DB_PASSWORD"}}}
    ]}]})
}

fn current_version(path: &str) -> u64 {
    vault_metadata(path)["current_version"].as_u64().unwrap()
}

fn rotate_args<'a>(path: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "rotate",
        "backend-secrets",
        "--key",
        "DB_PASSWORD",
        "--remote",
        path,
        "--yes",
        "--min-restart-interval",
        "0",
    ];
    args.extend(extra);
    args
}

#[tokio::test]
async fn a_vault_rotation_writes_a_checked_version_restarts_both_consumers_and_retires_the_old_one() {
    let ns = TestNamespace::new("vault-rotate").await;
    let old = canary("vault-db-old");
    let path = vault_backed_external_secret(&ns, json!({"username": "backend", "password": old})).await;
    ns.create_deployment(deployment("api", 2, reads_db_password())).await;
    ns.create_deployment(deployment("worker", 1, reads_db_password())).await;
    ns.wait_ready("deployment", "api").await;
    ns.wait_ready("deployment", "worker").await;
    let token = vault_token();

    // No token: exit 5 before anything is planned or written, the token's absence named.
    let home = tempfile::tempdir().unwrap();
    let mut args = rotate_args(&path, &[]);
    args.extend(["-n", &ns.name]);
    let no_token = run_full(
        &cluster().admin_kubeconfig,
        &args,
        b"",
        &[("VAULT_TOKEN", ""), ("HOME", home.path().to_str().unwrap())],
    );
    assert_eq!(no_token.code, exit::FORBIDDEN, "{no_token:?}");
    assert!(no_token.stderr.contains("no Vault token"), "{}", no_token.stderr);
    // A token Vault does not know is told apart from a policy that lacks a capability.
    let wrong = run_full(
        &cluster().admin_kubeconfig,
        &args,
        b"",
        &[("VAULT_TOKEN", "hvs.not-a-token")],
    );
    assert_eq!(wrong.code, exit::FORBIDDEN, "{wrong:?}");
    assert!(wrong.stderr.contains("does not accept the token"), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("hvs.not-a-token"), "{}", wrong.stderr);
    // The bed's Vault speaks TLS: without its CA the server is not trusted (exit 4, the address
    // and the settings named, nothing written); a folder of CAs (VAULT_CAPATH) does as the file.
    let untrusted = run_full(&cluster().admin_kubeconfig, &args, b"", &[("VAULT_CACERT", "")]);
    assert_eq!(untrusted.code, exit::UNREACHABLE, "{untrusted:?}");
    assert!(
        untrusted.stderr.contains("cannot reach Vault at https://127.0.0.1:")
            && untrusted.stderr.contains("VAULT_CACERT / VAULT_CAPATH"),
        "{}",
        untrusted.stderr
    );
    let cas = tempfile::tempdir().unwrap();
    let ca_file = provider_env()
        .into_iter()
        .find(|(k, _)| k == "VAULT_CACERT")
        .map(|(_, v)| v)
        .expect("vault.env names VAULT_CACERT");
    std::fs::copy(&ca_file, cas.path().join("bed-vault-ca.pem")).unwrap();
    let by_folder = run_full(
        &cluster().admin_kubeconfig,
        &["history", "backend-secrets", "-n", &ns.name],
        b"",
        &[("VAULT_CACERT", ""), ("VAULT_CAPATH", cas.path().to_str().unwrap())],
    );
    assert_eq!(by_folder.code, exit::OK, "{by_folder:?}");
    assert!(by_folder.stdout.contains("current"), "{}", by_folder.stdout);
    // Without a question, the Vault path an ExternalSecret names is written only when the
    // operator names it too.
    let unconsented = ns.run(&["rotate", "backend-secrets", "--key", "DB_PASSWORD", "--yes"]);
    assert_eq!(unconsented.code, exit::UNTRUSTED, "{unconsented:?}");
    assert!(
        unconsented.stderr.contains(&format!("--remote {path}")),
        "{}",
        unconsented.stderr
    );
    assert_eq!(current_version(&path), 1, "nothing written at Vault");

    let run = ns.run(&rotate_args(&path, &[]));
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("Vault keeps 10 versions; replaces version 1")
            && run.stderr.contains("check-and-set")
            && run
                .stderr
                .contains(&format!("Wrote version 2 of {path} in HashiCorp Vault")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("Safe to retire the previous Vault versions"),
        "{}",
        run.stderr
    );

    // Vault's record: version 2 current with the new password, the other field kept, the
    // rotation anchored in custom_metadata.
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 2, "{meta}");
    let custom = &meta["custom_metadata"];
    assert_eq!(custom["kubectl-secrets.io/replaces"], "1", "{meta}");
    assert_eq!(custom["kubectl-secrets.io/wrote"], "2", "{meta}");
    assert!(
        custom["kubectl-secrets.io/rotation"]
            .as_str()
            .is_some_and(|t| t.starts_with("kubectl-secrets-")),
        "{meta}"
    );
    let data = vault_data(&path, 2);
    let new_password = data["password"].as_str().unwrap().to_string();
    assert_ne!(new_password, old);
    assert_eq!(data["username"], "backend", "other fields are kept");
    assert_eq!(
        vault_data(&path, 1)["password"],
        old.as_str(),
        "the old version is kept"
    );

    // ESO synced it; both consumers restarted for it; verify is exact.
    assert_eq!(
        text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]),
        new_password
    );
    let verify = assert_restarted_and_ok(&ns, &["api", "worker"], "backend-secrets", 1).await;
    let history = ns.run(&["history", "backend-secrets"]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    assert!(
        history.stdout.contains(&format!("KV v2 at secret/) {path}:")),
        "{}",
        history.stdout
    );
    let diff = ns.run(&["diff", "backend-secrets", "--against-provider"]);
    assert_eq!(diff.code, exit::OK, "{diff:?}");
    assert!(diff.stdout.contains("No differences."), "{}", diff.stdout);

    // The next rotation soft-deletes the version it replaced once every consumer runs the new
    // one: its data is hidden, not destroyed.
    let again = ns.run(&rotate_args(&path, &["--retire-previous"]));
    assert_eq!(again.code, exit::OK, "{again:?}");
    assert!(
        again.stderr.contains(&format!(
            "Retired the previous Vault versions: {path} (version 2) soft-deleted"
        )),
        "{}",
        again.stderr
    );
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert_ne!(meta["versions"]["2"]["deletion_time"], "", "{meta}");
    assert_eq!(meta["versions"]["2"]["destroyed"], false, "{meta}");
    assert_eq!(meta["versions"]["1"]["deletion_time"], "", "{meta}");
    let newest = vault_data(&path, 3)["password"].as_str().unwrap().to_string();
    for r in [
        &no_token,
        &wrong,
        &untrusted,
        &by_folder,
        &unconsented,
        &run,
        &verify,
        &history,
        &diff,
        &again,
    ] {
        r.assert_no_leak([&old, &new_password, &newest, &token]);
    }
}

#[tokio::test]
async fn a_crash_looping_consumer_gets_the_previous_vault_data_back_as_a_new_version() {
    let ns = TestNamespace::new("vault-crash").await;
    let old = canary("vault-db-good");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    // The app rejects revision 1 (the new value) and runs again with revision 2 (the old one).
    let crashing = with_pod_annotations(
        deployment("api", 2, reads_db_password()),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"backend-secrets":1}"#}),
    );
    ns.create_deployment(crashing).await;
    ns.wait_ready("deployment", "api").await;

    let run = ns.run(&rotate_args(&path, &["--timeout", "40s"]));
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(
        run.stderr.contains("the current version was moved back"),
        "{}",
        run.stderr
    );

    // Version 2 (the new password) stays in Vault's history; version 3 holds the old data.
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert_eq!(
        meta["custom_metadata"]["kubectl-secrets.io/moved-back-in"], "3",
        "{meta}"
    );
    assert_eq!(vault_data(&path, 3)["password"], old.as_str());
    let rejected = vault_data(&path, 2)["password"].as_str().unwrap().to_string();
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), old);
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
    run.assert_no_leak([&old, &rejected, &vault_token()]);
}

/// Someone writes the path between the plan and the write: check-and-set refuses ours, nothing
/// is restarted, their version stays.
#[tokio::test]
async fn a_write_at_vault_between_plan_and_write_is_a_conflict_and_nothing_restarts() {
    let ns = TestNamespace::new("vault-race").await;
    let old = canary("vault-db-old");
    let theirs = canary("vault-db-theirs");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    ns.create_deployment(deployment("api", 1, reads_db_password())).await;
    ns.wait_ready("deployment", "api").await;

    let mut args = rotate_args(&path, &[]);
    args.extend(["-n", &ns.name]);
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("backed-up:6"));
    tool.wait_for("failpoint backed-up");
    assert_eq!(vault_kv_put(&path, &json!({"password": theirs})), 2);
    let run = tool.finish();
    assert_eq!(run.code, exit::CONFLICT, "{run:?}");
    assert!(
        run.stderr.contains("version 2 is current, not version 1 that was read")
            && run.stderr.contains("no pod was restarted"),
        "{}",
        run.stderr
    );
    assert_eq!(current_version(&path), 2);
    assert_eq!(vault_data(&path, 2)["password"], theirs.as_str());
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS).await,
        None,
        "nothing restarted"
    );

    // The same between the anchor and the write: check-and-set refuses it there, and the
    // anchor goes (nothing may take their version for this rotation's).
    let synced = ns.run(&[
        "rotate",
        "backend-secrets",
        "--synced",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(synced.code, exit::OK, "{synced:?}");
    let restarted = ns.template_annotation("api", annotations::POD_SECRET_REVISIONS).await;
    let again = canary("vault-db-again");
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("vault-anchored:6"));
    tool.wait_for("failpoint vault-anchored");
    assert_eq!(vault_kv_put(&path, &json!({"password": again})), 3);
    let late = tool.finish();
    assert_eq!(late.code, exit::CONFLICT, "{late:?}");
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert!(
        meta["custom_metadata"].get("kubectl-secrets.io/rotation").is_none(),
        "{meta}"
    );
    assert_eq!(vault_data(&path, 3)["password"], again.as_str());
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS).await,
        restarted,
        "nothing restarted"
    );
    for r in [&run, &synced, &late] {
        r.assert_no_leak([&old, &theirs, &again, &vault_token()]);
    }
}

/// Interrupted after the write: Ctrl-C then --resume finishes; kill -9 then --abort writes the
/// previous data back. Killed between the anchor and the write: --resume is refused (nothing
/// reached Vault) and --abort only clears the journal.
#[tokio::test]
async fn interrupted_at_the_vault_write_then_resume_or_abort() {
    let ns = TestNamespace::new("vault-interrupt").await;
    let old = canary("vault-db-old");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    ns.create_deployment(deployment("api", 1, reads_db_password())).await;
    ns.wait_ready("deployment", "api").await;
    let mut args = rotate_args(&path, &[]);
    args.extend(["-n", &ns.name]);
    let recover = |how: &str| {
        ns.run(&[
            "rotate",
            "backend-secrets",
            how,
            "--remote",
            &path,
            "--yes",
            "--min-restart-interval",
            "0",
        ])
    };

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-INT");
    let interrupted = tool.finish();
    assert_eq!(interrupted.code, exit::INTERRUPTED, "{interrupted:?}");
    assert_eq!(current_version(&path), 2, "the write landed before the interruption");
    let resumed = recover("--resume");
    assert_eq!(resumed.code, exit::OK, "{resumed:?}");
    let first = vault_data(&path, 2)["password"].as_str().unwrap().to_string();
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), first);
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
    assert_eq!(current_version(&path), 3);
    let second = vault_data(&path, 3)["password"].as_str().unwrap().to_string();
    let aborted = recover("--abort");
    assert_eq!(aborted.code, exit::OK, "{aborted:?}");
    assert_eq!(
        current_version(&path),
        4,
        "the previous data written back as a new version"
    );
    assert_eq!(vault_data(&path, 4)["password"], first.as_str());
    assert_eq!(text(&ns.secret_data("backend-secrets").await["DB_PASSWORD"]), first);
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("vault-anchored:30"));
    tool.wait_for("failpoint vault-anchored");
    tool.signal("-KILL");
    let cut = tool.finish();
    assert_ne!(cut.code, exit::OK);
    assert_eq!(current_version(&path), 4, "killed before the write");
    let refused = recover("--resume");
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(refused.stderr.contains("never reached Vault"), "{}", refused.stderr);
    let cleared = recover("--abort");
    assert_eq!(cleared.code, exit::OK, "{cleared:?}");
    assert_eq!(current_version(&path), 4, "nothing to put back");
    assert_eq!(
        ns.secret_annotation("backend-secrets", annotations::JOURNAL).await,
        None
    );
    for r in [&interrupted, &resumed, &killed, &aborted, &cut, &refused, &cleared] {
        r.assert_no_leak([&old, &first, &second, &vault_token()]);
    }
}

/// Pods Vault's Agent Injector renders a path into once at start are judged by Vault's own
/// version times; a rotation through the ExternalSecret that syncs the same path restarts them
/// too, and without a token they are unknown, never ok.
#[tokio::test]
async fn injector_pods_are_judged_by_vaults_versions_and_restarted_by_a_rotation_of_their_path() {
    let ns = TestNamespace::new("vault-injector").await;
    let old = canary("vault-db-old");
    let by_hand = canary("vault-db-by-hand");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    let kv_path = format!("secret/data/{path}");
    // Times are compared in whole seconds (the API server's precision).
    next_second().await;
    ns.create_deployment(vault_agent_deployment("chat-api", &kv_path, true))
        .await;
    ns.create_deployment(vault_agent_deployment("chat-worker", &kv_path, false))
        .await;
    ns.create_deployment(deployment("api", 1, reads_db_password())).await;
    for name in ["chat-api", "chat-worker", "api"] {
        ns.wait_ready("deployment", name).await;
    }
    let source = format!("vault:{kv_path}");
    let finding = |run: &Run, workload: &str| -> Value {
        run.json()["workloads"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["name"] == workload)
            .and_then(|w| {
                w["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["secret"] == source.as_str())
                    .cloned()
            })
            .unwrap_or_else(|| panic!("{workload} has no finding for {source}: {}", run.stdout))
    };

    // Created after version 1 was written: ok, by time (Vault's created_time).
    let before = ns.run(&["verify", "-o", "json"]);
    assert_eq!(before.code, exit::OK, "{before:?}");
    let api = finding(&before, "chat-api");
    assert_eq!(
        (api["status"].as_str(), api["evidence"].as_str()),
        (Some("ok"), Some("time")),
        "{api}"
    );

    // A new version written by hand: the pod rendered once is stale; the sidecar's is not.
    next_second().await;
    assert_eq!(vault_kv_put(&path, &json!({"password": by_hand})), 2);
    let stale = ns.run(&["verify", "-o", "json"]);
    assert_eq!(stale.code, exit::FOUND, "{stale:?}");
    let api = finding(&stale, "chat-api");
    assert_eq!(api["status"], "stale", "{api}");
    assert!(api["detail"].as_str().unwrap().contains("before version 2"), "{api}");
    let worker = stale.json()["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "chat-worker")
        .cloned()
        .unwrap();
    assert_eq!(worker["status"], "ok", "{worker}");
    // Without a token, Vault cannot be asked: unknown, and why.
    let home = tempfile::tempdir().unwrap();
    let blind = run_full(
        &cluster().admin_kubeconfig,
        &["verify", "-o", "json", "-n", &ns.name],
        b"",
        &[("VAULT_TOKEN", ""), ("HOME", home.path().to_str().unwrap())],
    );
    assert_eq!(blind.code, exit::OK, "unknown is not drift: {blind:?}");
    let api = finding(&blind, "chat-api");
    assert_eq!(api["status"], "unknown", "{api}");
    assert!(api["detail"].as_str().unwrap().contains("no Vault token"), "{api}");

    // --synced first (the Secret must hold Vault's current value), then a rotation of the path
    // restarts the Secret's reader and the pods the injector renders it into once; not the
    // sidecar's.
    let synced = ns.run(&[
        "rotate",
        "backend-secrets",
        "--synced",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(synced.code, exit::OK, "{synced:?}");
    let run = ns.run(&rotate_args(&path, &[]));
    assert_eq!(run.code, exit::OK, "{run:?}");
    let plan_row = run
        .stdout
        .lines()
        .find(|l| l.starts_with("deployment/chat-api"))
        .unwrap_or_else(|| panic!("chat-api not in the plan: {}", run.stdout));
    assert!(plan_row.contains("restart") && plan_row.contains(&source), "{plan_row}");
    assert!(
        !run.stdout
            .lines()
            .any(|l| l.starts_with("deployment/chat-worker") && l.contains("restart")),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains(&format!("Verifying the consumers of backend-secrets, {source}")),
        "{}",
        run.stderr
    );
    let after = ns.run(&["verify", "-o", "json"]);
    assert_eq!(after.code, exit::OK, "{after:?}");
    // Restarted after the write: ok (by time, or "time cannot tell" within the same second).
    let api = finding(&after, "chat-api");
    assert_eq!(api["status"], "ok", "{api}");
    assert!(
        api["detail"].as_str().unwrap().contains("version 3 was written"),
        "{api}"
    );
    let newest = vault_data(&path, 3)["password"].as_str().unwrap().to_string();
    for r in [&before, &stale, &blind, &synced, &run, &after] {
        r.assert_no_leak([&old, &by_hand, &newest, &vault_token()]);
    }
}

/// Another namespace reading the same Vault path through a SecretStore of its own (naming the
/// server differently) is a reader too: the rotation is refused without --allow-shared-remote,
/// nothing written; with it, the write goes ahead.
#[tokio::test]
async fn a_vault_path_another_namespace_reads_through_its_own_store_is_shared() {
    let team_a = TestNamespace::new("vault-share-a").await;
    let old = canary("vault-share-old");
    let path = vault_backed_external_secret(&team_a, json!({"password": old})).await;
    let team_b = TestNamespace::new("vault-share-b").await;
    team_b.apply(&json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "SecretStore",
        "metadata": {"name": "own-vault"},
        "spec": {"provider": {"vault": {
            "server": "https://vault.vault.svc:8200", "path": "secret", "version": "v2",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}
        }}}
    }));
    team_b.apply(&json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "db"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "SecretStore", "name": "own-vault"},
            "target": {"name": "db-secrets"},
            "data": [{"secretKey": "PASSWORD", "remoteRef": {"key": format!("secret/data/{path}"), "property": "password"}}]
        }
    }));

    let refused = team_a.run(&rotate_args(&path, &[]));
    assert_eq!(refused.code, exit::UNTRUSTED, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains(&format!("also read by ExternalSecret {}/db", team_b.name))
            && refused.stderr.contains("--allow-shared-remote"),
        "{}",
        refused.stderr
    );
    assert_eq!(current_version(&path), 1, "nothing written");
    let allowed = team_a.run(&rotate_args(&path, &["--allow-shared-remote"]));
    assert_eq!(allowed.code, exit::OK, "{allowed:?}");
    assert_eq!(current_version(&path), 2);
    let new = vault_data(&path, 2)["password"].as_str().unwrap().to_string();
    for r in [&refused, &allowed] {
        r.assert_no_leak([&old, &new, &vault_token()]);
    }
}

/// audit: a Vault path that keeps one version (nothing to roll back to) and an ExternalSecret
/// pinned to a version (no rotation reaches it); rotate refuses the path that keeps one.
#[tokio::test]
async fn audit_names_a_vault_path_without_room_for_a_rollback_and_a_pinned_version() {
    let ns = TestNamespace::new("vault-audit").await;
    let old = canary("vault-db-old");
    let path = vault_backed_external_secret(&ns, json!({"password": old})).await;
    ns.create_deployment(deployment("api", 1, reads_db_password())).await;
    ns.wait_ready("deployment", "api").await;
    let pinned_path = format!("{}/pinned", ns.name);
    let pinned_value = canary("vault-pinned");
    vault_kv_put(&pinned_path, &json!({"token": pinned_value}));
    ns.create_external_secret(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "pinned"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            "target": {"name": "pinned-secrets"},
            "data": [{"secretKey": "TOKEN", "remoteRef": {"key": pinned_path, "property": "token", "version": "1"}}]
        }
    }))
    .await;
    vault(
        &[
            "kv",
            "metadata",
            "put",
            "-format=json",
            "-mount=secret",
            "-max-versions=1",
            &path,
        ],
        b"",
    );

    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let rule = |name: &str| findings.iter().find(|f| f["rule"] == name).cloned();
    let kept = rule("vault-max-versions").unwrap_or_else(|| panic!("{}", audit.stdout));
    assert_eq!(kept["secret"], "backend-secrets", "{kept}");
    assert!(
        kept["message"].as_str().unwrap().contains(&format!("secret/{path}")),
        "{kept}"
    );
    assert_eq!(
        kept["fix"],
        format!("vault kv metadata put -max-versions=5 -mount=secret {path}")
    );
    let pinned = rule("external-pinned-version").unwrap_or_else(|| panic!("{}", audit.stdout));
    assert_eq!(
        (pinned["secret"].as_str(), pinned["key"].as_str()),
        (Some("pinned-secrets"), Some("TOKEN"))
    );

    assert!(
        rule("vault-overdue").is_none(),
        "no --max-age, no age rule: {}",
        audit.stdout
    );

    // A path only the Agent Injector renders: with --max-age, its current version's age.
    let agent_path = format!("{}/agent", ns.name);
    let agent_value = canary("vault-agent");
    vault_kv_put(&agent_path, &json!({"key": agent_value}));
    ns.create_deployment(vault_agent_deployment(
        "reader",
        &format!("secret/data/{agent_path}"),
        true,
    ))
    .await;
    ns.wait_ready("deployment", "reader").await;
    next_second().await;
    next_second().await;
    let aged = ns.run(&["audit", "--max-age", "1s", "-o", "json"]);
    assert_eq!(aged.code, exit::FOUND, "{aged:?}");
    let findings = aged.json()["findings"].as_array().unwrap().clone();
    let overdue = findings
        .iter()
        .find(|f| f["rule"] == "vault-overdue")
        .unwrap_or_else(|| panic!("{}", aged.stdout));
    assert_eq!(overdue["secret"], format!("vault:secret/{agent_path}"), "{overdue}");
    assert_eq!(overdue["namespace"], ns.name.as_str(), "{overdue}");
    assert!(
        overdue["message"]
            .as_str()
            .unwrap()
            .contains("version 1 unchanged for 0 days")
            && overdue["message"].as_str().unwrap().contains("deployment/reader"),
        "{overdue}"
    );
    assert_eq!(
        overdue["fix"],
        format!(
            "kubectl secrets rotate vault:secret/{agent_path} -n {} --all-keys",
            ns.name
        )
    );

    let refused = ns.run(&rotate_args(&path, &[]));
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(refused.stderr.contains("keeps 1 version"), "{}", refused.stderr);
    assert_eq!(current_version(&path), 1, "nothing written");
    for r in [&audit, &aged, &refused] {
        r.assert_no_leak([&old, &pinned_value, &agent_value, &vault_token()]);
    }
}

/// `rotate vault:PATH`: a path only Vault's Agent Injector reads (no Secret in between). The
/// pods that render it once are restarted and verified by Vault's version times; the sidecar's
/// update in place; a path an ExternalSecret of the namespace syncs is rotated through its Secret.
#[tokio::test]
async fn a_vault_path_rotation_restarts_the_pods_that_render_it_once_and_verifies_them() {
    let ns = TestNamespace::new("vault-path").await;
    let old = canary("vault-api-old");
    let path = format!("{}/app", ns.name);
    assert_eq!(vault_kv_put(&path, &json!({"api_key": old, "region": "eu"})), 1);
    let kv_path = format!("secret/data/{path}");
    next_second().await;
    ns.create_deployment(vault_agent_deployment("web", &kv_path, true))
        .await;
    ns.create_deployment(vault_agent_deployment("worker", &kv_path, false))
        .await;
    for name in ["web", "worker"] {
        ns.wait_ready("deployment", name).await;
    }
    let target = format!("vault:secret/{path}");

    let run = ns.run(&[
        "rotate",
        &target,
        "--key",
        "api_key",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("deployment/{name} ")))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        row("web").contains("restart") && row("web").contains(&format!("vault:{kv_path}")),
        "{}",
        run.stdout
    );
    assert!(
        row("worker").contains("auto-updates") || !row("worker").contains("restart"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains(&format!("Wrote version 2 of secret/{path} at Vault")),
        "{}",
        run.stderr
    );
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 2, "{meta}");
    assert_eq!(meta["custom_metadata"]["kubectl-secrets.io/wrote"], "2", "{meta}");
    assert!(
        meta["custom_metadata"]
            .get("kubectl-secrets.io/restarts-pending")
            .is_none(),
        "{meta}"
    );
    let data = vault_data(&path, 2);
    let new = data["api_key"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(data["region"], "eu", "other fields kept");
    assert!(
        ns.template_annotation("web", "kubectl.kubernetes.io/restartedAt")
            .await
            .is_some(),
        "web restarted"
    );
    assert_eq!(
        ns.template_annotation("worker", "kubectl.kubernetes.io/restartedAt")
            .await,
        None,
        "the sidecar's pods re-render it: not restarted"
    );
    next_second().await;
    let verify = ns.run(&["verify"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    assert!(
        verify
            .stdout
            .lines()
            .any(|l| l.starts_with("deployment/web") && l.contains(" ok ") && l.contains(" exact ")),
        "{}",
        verify.stdout
    );

    // history lists Vault's versions; rollback writes version 1's data back as version 3.
    let history = ns.run(&["history", &target]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    let lines: Vec<&str> = history.stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("2 ") && l.contains("current"))
            && lines.iter().any(|l| l.starts_with("1 ") && l.contains("previous")),
        "{}",
        history.stdout
    );
    let rollback = ns.run(&["rollback", &target, "--yes", "--min-restart-interval", "0"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert!(rollback.stdout.contains("back to version 1"), "{}", rollback.stdout);
    assert_eq!(current_version(&path), 3);
    assert_eq!(vault_data(&path, 3), json!({"api_key": old, "region": "eu"}));
    // Any kept version by its number: version 2's data back as version 5 (a field added by
    // hand in version 4 is kept, and said). The current version, one Vault never had and a
    // soft-deleted one are refused, with nothing written.
    vault(
        &["kv", "patch", "-format=json", "-mount=secret", &path, "owner=team-a"],
        b"",
    );
    let to_version = ns.run(&[
        "rollback",
        &target,
        "--to-revision",
        "2",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(to_version.code, exit::OK, "{to_version:?}");
    assert!(to_version.stdout.contains("back to version 2"), "{}", to_version.stdout);
    assert!(
        to_version.stderr.contains("owner of vault:secret/") && to_version.stderr.contains("is not in version 2"),
        "{}",
        to_version.stderr
    );
    assert_eq!(current_version(&path), 5);
    assert_eq!(
        vault_data(&path, 5),
        json!({"api_key": new, "region": "eu", "owner": "team-a"})
    );
    vault(
        &["kv", "delete", "-format=json", "-mount=secret", "-versions=1", &path],
        b"",
    );
    let mut refusals = Vec::new();
    for (version, code, says) in [
        ("5", exit::NOT_FOUND, "version 5 is the current version"),
        ("9", exit::NOT_FOUND, "has no version 9"),
        ("1", exit::USAGE, "vault kv undelete -mount=secret -versions=1"),
    ] {
        let refused = ns.run(&["rollback", &target, "--to-revision", version, "--yes"]);
        assert_eq!(refused.code, code, "{refused:?}");
        assert!(refused.stderr.contains(says), "{}", refused.stderr);
        refusals.push(refused);
    }
    assert_eq!(current_version(&path), 5, "nothing written");

    // A path an ExternalSecret of this namespace syncs: its Secret is the way in.
    ns.create_external_secret(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "app"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            "target": {"name": "app-secrets"},
            "dataFrom": [{"extract": {"key": path}}]
        }
    }))
    .await;
    let refused = ns.run(&["rotate", &target, "--key", "api_key", "--yes"]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(
        refused.stderr.contains("into Secret app-secrets: rotate that Secret"),
        "{}",
        refused.stderr
    );
    assert_eq!(current_version(&path), 5, "nothing written");
    for r in [&run, &verify, &history, &rollback, &to_version, &refused]
        .into_iter()
        .chain(&refusals)
    {
        r.assert_no_leak([&old, &new, &vault_token()]);
    }
}

/// Interrupted after the write, before the restarts: the path's custom_metadata says so, a new
/// rotation is refused, --resume restarts and verifies; --abort writes the previous data back.
#[tokio::test]
async fn an_interrupted_vault_path_rotation_is_resumed_or_aborted_from_vaults_record() {
    let ns = TestNamespace::new("vault-path-cut").await;
    let old = canary("vault-api-old");
    let path = format!("{}/app", ns.name);
    vault_kv_put(&path, &json!({"api_key": old}));
    ns.create_deployment(vault_agent_deployment("web", &format!("secret/data/{path}"), true))
        .await;
    ns.wait_ready("deployment", "web").await;
    let target = format!("vault:secret/{path}");
    let args = [
        "rotate",
        &target,
        "-n",
        &ns.name,
        "--key",
        "api_key",
        "--yes",
        "--min-restart-interval",
        "0",
    ];
    let recover = |how: &str| ns.run(&["rotate", &target, how, "--yes", "--min-restart-interval", "0"]);

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("vault-path-written:30"));
    tool.wait_for("failpoint vault-path-written");
    tool.signal("-KILL");
    let killed = tool.finish();
    assert_ne!(killed.code, exit::OK);
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 2);
    assert_eq!(
        meta["custom_metadata"]["kubectl-secrets.io/restarts-pending"],
        ns.name.as_str(),
        "{meta}"
    );
    let first = vault_data(&path, 2)["api_key"].as_str().unwrap().to_string();

    let again = ns.run(
        &args[..2]
            .iter()
            .copied()
            .chain(["--key", "api_key", "--yes"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(again.code, exit::USAGE, "{again:?}");
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    assert_eq!(current_version(&path), 2, "nothing written");

    let resumed = recover("--resume");
    assert_eq!(resumed.code, exit::OK, "{resumed:?}");
    assert!(
        ns.template_annotation("web", "kubectl.kubernetes.io/restartedAt")
            .await
            .is_some(),
        "restarted by --resume"
    );
    assert!(vault_metadata(&path)["custom_metadata"]
        .get("kubectl-secrets.io/restarts-pending")
        .is_none());

    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("vault-path-written:30"));
    tool.wait_for("failpoint vault-path-written");
    tool.signal("-KILL");
    let killed_again = tool.finish();
    assert_eq!(current_version(&path), 3);
    let second = vault_data(&path, 3)["api_key"].as_str().unwrap().to_string();
    let aborted = recover("--abort");
    assert_eq!(aborted.code, exit::OK, "{aborted:?}");
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 4, "the previous data as a new version: {meta}");
    assert_eq!(vault_data(&path, 4)["api_key"], first.as_str());
    assert!(
        meta["custom_metadata"]
            .get("kubectl-secrets.io/restarts-pending")
            .is_none(),
        "{meta}"
    );
    let nothing = recover("--resume");
    assert_eq!(nothing.code, exit::NOT_FOUND, "{nothing:?}");
    for r in [&killed, &again, &resumed, &killed_again, &aborted, &nothing] {
        r.assert_no_leak([&old, &first, &second, &vault_token()]);
    }
}

/// `rotate vault:PATH` whose restarted pods crash-loop on the new version: the previous data is
/// written back as a new version and the pods restarted with it (exit 8). The restarts stamp the
/// Vault version the new pods render, beside the Secrets' revisions.
#[tokio::test]
async fn a_vault_path_rotation_whose_pods_crash_puts_the_previous_data_back() {
    let ns = TestNamespace::new("vault-path-crash").await;
    let old = canary("vault-api-good");
    let path = format!("{}/app", ns.name);
    vault_kv_put(&path, &json!({"api_key": old}));
    let kv_path = format!("secret/data/{path}");
    // The injector's annotations stay; the bed's crash rule is added beside them.
    let mut crashing = vault_agent_deployment("web", &kv_path, true);
    crashing["spec"]["template"]["metadata"]["annotations"]["testbed.kubectl-secrets.io/crash-with-revisions"] =
        json!(format!(r#"{{"vault:{kv_path}":2}}"#));
    ns.create_deployment(crashing).await;
    ns.wait_ready("deployment", "web").await;

    let target = format!("vault:secret/{path}");
    let run = ns.run(&["rotate", &target, "--key", "api_key", "--yes", "--timeout", "40s"]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    let meta = vault_metadata(&path);
    assert_eq!(meta["current_version"], 3, "{meta}");
    assert_eq!(vault_data(&path, 3)["api_key"], old.as_str());
    assert!(
        meta["custom_metadata"]
            .get("kubectl-secrets.io/restarts-pending")
            .is_none(),
        "{meta}"
    );
    let rejected = vault_data(&path, 2)["api_key"].as_str().unwrap().to_string();
    ns.wait_ready("deployment", "web").await;
    assert_eq!(
        ns.template_annotation("web", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(format!(r#"{{"vault:{kv_path}":3}}"#).as_str())
    );
    run.assert_no_leak([&old, &rejected, &vault_token()]);
}
