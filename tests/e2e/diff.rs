//! `kubectl secrets diff` on the real cluster: every source (manifest, .env, SealedSecret made
//! by the real kubeseal, another namespace, another context, a backup revision), exit codes,
//! masking, --show-secret showing exactly the changed keys, and reused-value warnings.

use std::path::PathBuf;

use crate::support::{canary, cluster, exit, run_with, TestNamespace};

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test]
async fn against_a_manifest_and_an_env_file() {
    let ns = TestNamespace::new("diff-file").await;
    let (jwt, enc, other, added) = (canary("jwt"), canary("enc"), canary("other"), canary("added"));
    ns.secret(
        "chat-secrets",
        &[("JWT_SECRET", &jwt), ("ENCRYPTION_KEY", &enc), ("SMTP_PASS", &other)],
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let same = write(
        &dir,
        "same.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: chat-secrets\ntype: Opaque\nstringData:\n  JWT_SECRET: {jwt}\n  ENCRYPTION_KEY: {enc}\n  SMTP_PASS: {other}\n"),
    );
    let identical = ns.run(&["diff", "chat-secrets", "--against", same.to_str().unwrap()]);
    assert_eq!(identical.code, exit::OK, "{identical:?}");
    assert!(identical.stdout.contains("No differences"), "{}", identical.stdout);

    // JWT changed, SMTP_PASS gone, NEW added, and the file says another type.
    let different = write(
        &dir,
        "different.yaml",
        &format!("kind: Secret\nmetadata:\n  name: chat-secrets\ntype: kubernetes.io/tls\nstringData:\n  JWT_SECRET: \"line one\\n{jwt}-edited\\n\"\n  ENCRYPTION_KEY: {enc}\n  NEW: {added}\n"),
    );
    let run = ns.run(&["diff", "chat-secrets", "--against", different.to_str().unwrap()]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    let row = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key}: {}", run.stdout))
            .to_string()
    };
    assert!(row("JWT_SECRET").contains("changed"));
    assert!(row("SMTP_PASS").contains("removed"));
    assert!(row("NEW").contains("added"));
    assert!(row("ENCRYPTION_KEY").contains("same"));
    assert!(
        run.stdout.contains("type: Opaque → kubernetes.io/tls"),
        "{}",
        run.stdout
    );
    run.assert_no_leak([&jwt, &enc, &other, &added]);

    let json = ns.run(&[
        "diff",
        "chat-secrets",
        "--against",
        different.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(json.code, exit::FOUND);
    let doc = json.json();
    assert_eq!(doc["kind"], "SecretDiff");
    assert_eq!(doc["keys"][1]["status"], "changed");
    json.assert_no_leak([&jwt, &enc, &other, &added]);

    let shown = ns.run(&[
        "diff",
        "chat-secrets",
        "--against",
        different.to_str().unwrap(),
        "--show-secret",
    ]);
    assert_eq!(shown.code, exit::FOUND);
    assert!(
        shown.stdout.contains(&format!("-{jwt}")) && shown.stdout.contains(&format!("+{jwt}-edited")),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("+line one"), "{}", shown.stdout);
    assert!(
        !shown.stdout.contains(&other) && !shown.stdout.contains(&added),
        "one-sided keys are never shown: {}",
        shown.stdout
    );
    assert!(!shown.stdout.contains(&enc), "same values are not shown");

    let env = write(
        &dir,
        "prod.env",
        // As kubectl reads an env file: KEY=VALUE, values literal (quotes would be part of them).
        &format!("# production\n  JWT_SECRET={jwt}\nENCRYPTION_KEY={enc}\n\nSMTP_PASS={other}\n"),
    );
    let env_run = ns.run(&["diff", "chat-secrets", "--against", env.to_str().unwrap()]);
    assert_eq!(
        env_run.code,
        exit::OK,
        "a .env file states no type, so only values count: {env_run:?}"
    );
    env_run.assert_no_leak([&jwt, &enc, &other]);

    let garbage = write(
        &dir,
        "broken.env",
        &format!("JWT_SECRET={jwt}\nthis is not an assignment {enc}\n"),
    );
    let bad = ns.run(&["diff", "chat-secrets", "--against", garbage.to_str().unwrap()]);
    assert_eq!(bad.code, exit::USAGE, "{bad:?}");
    assert!(bad.stderr.contains("line 2 is not KEY=VALUE"), "{}", bad.stderr);
    bad.assert_no_leak([&jwt, &enc]);
}

#[tokio::test]
async fn against_a_sealed_secret_file_compares_key_sets() {
    let ns = TestNamespace::new("diff-sealed").await;
    let value = canary("sealed");
    ns.secret("api-keys", &[("openai", &value), ("anthropic", &value)])
        .await;
    let sealed = crate::support::kubeseal_to_file(&ns.name, "api-keys", &[("openai", &value)]);
    let run = ns.run(&["diff", "api-keys", "--against", sealed.path().to_str().unwrap()]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    assert!(run.stdout.contains("SealedSecret, strict"), "{}", run.stdout);
    let row = |key: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap()
            .to_string()
    };
    assert!(row("openai").contains("sealed"), "{}", run.stdout);
    assert!(row("anthropic").contains("removed"), "{}", run.stdout);
    // Without the private key: is the cluster's Secret the one this SealedSecret makes?
    assert!(
        run.stdout.contains("owner: (none) → SealedSecret/api-keys"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("unsealed by the controller: no SealedSecret in the cluster → yes"),
        "{}",
        run.stdout
    );
    run.assert_no_leak([&value]);
}

#[tokio::test]
async fn across_namespaces_and_contexts_with_reuse_warnings() {
    let staging = TestNamespace::new("diff-staging").await;
    let production = TestNamespace::new("diff-prod").await;
    let (shared, staging_only, prod_only) = (canary("shared-jwt"), canary("staging-db"), canary("prod-db"));
    staging
        .secret(
            "backend-secrets",
            &[("JWT_SECRET", &shared), ("DB_PASSWORD", &staging_only)],
        )
        .await;
    production
        .secret(
            "backend-secrets",
            &[("JWT_SECRET", &shared), ("DB_PASSWORD", &prod_only)],
        )
        .await;

    let run = staging.run(&["diff", "backend-secrets", "--to-namespace", &production.name]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    assert!(
        run.stderr.contains("JWT_SECRET has the same value") && run.stderr.contains("reused secret"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("DB_PASSWORD has the same"), "{}", run.stderr);
    run.assert_no_leak([&shared, &staging_only, &prod_only]);

    // The same Secret on both sides is a mistake, not ten "reused" warnings.
    let itself = staging.run(&["diff", "backend-secrets", "--to-namespace", &staging.name]);
    assert_eq!(itself.code, exit::USAGE, "{itself:?}");
    assert!(
        itself.stderr.contains("with itself") && !itself.stderr.contains("reused"),
        "{}",
        itself.stderr
    );

    // Two contexts of one kubeconfig, each with its own namespace (as two clusters would be).
    let admin = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let user = admin
        .lines()
        .skip_while(|l| !l.starts_with("users:"))
        .take_while(|l| !l.starts_with("contexts:"))
        .collect::<Vec<_>>()
        .join("\n");
    let clusters = admin
        .lines()
        .skip_while(|l| !l.starts_with("clusters:"))
        .take_while(|l| !l.starts_with("users:"))
        .collect::<Vec<_>>()
        .join("\n");
    let two_contexts = format!(
        "apiVersion: v1\nkind: Config\n{clusters}\n{user}\ncontexts:\n- name: staging\n  context: {{cluster: testbed, user: admin, namespace: {}}}\n- name: production\n  context: {{cluster: testbed, user: admin, namespace: {}}}\ncurrent-context: staging\n",
        staging.name, production.name
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = write(&dir, "config", &two_contexts);
    let contexts = run_with(&kubeconfig, &["diff", "backend-secrets", "--to-context", "production"]);
    assert_eq!(contexts.code, exit::FOUND, "{contexts:?}");
    assert!(
        contexts
            .stdout
            .contains(&format!("+++ production/{}/backend-secrets", production.name)),
        "{}",
        contexts.stdout
    );
    assert!(
        contexts.stderr.contains("JWT_SECRET has the same value"),
        "{}",
        contexts.stderr
    );

    let whole = run_with(&kubeconfig, &["diff", "-A", "--to-context", "production", "-o", "json"]);
    assert!(whole.code == 0 || whole.code == 1, "{whole:?}");
    let doc = whole.json();
    let ours = doc["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["cluster"] == format!("staging/{}/backend-secrets", staging.name).as_str())
        .expect("our Secret is compared");
    assert_eq!(
        ours["reused"],
        serde_json::json!(["DB_PASSWORD", "JWT_SECRET"]),
        "the same cluster twice: every value is reused"
    );
    for out in [&contexts, &whole] {
        out.assert_no_leak([&shared, &staging_only, &prod_only]);
    }
}

#[tokio::test]
async fn against_a_backup_revision() {
    let ns = TestNamespace::new("diff-revision").await;
    let (value, other) = (canary("rev"), canary("untouched"));
    ns.secret("app", &[("TOKEN", &value), ("OTHER", &other)]).await;
    let rotate = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let run = ns.run(&["diff", "app", "--revision", "0"]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    assert!(run.stdout.contains("+++ revision 0"), "{}", run.stdout);
    let changed: Vec<&str> = run.stdout.lines().filter(|l| l.contains(" changed ")).collect();
    assert_eq!(changed.len(), 1, "{}", run.stdout);
    assert!(changed[0].starts_with("TOKEN"));
    let missing = ns.run(&["diff", "app", "--revision", "7"]);
    assert_eq!(missing.code, exit::NOT_FOUND);
    let new_value = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for out in [&rotate, &run, &missing] {
        out.assert_no_leak([&value, &other, &new_value]);
    }
}
