//! `list` and `audit` on the real cluster: ages and the rotation policy, consumers, hidden
//! types, and every audit rule, without a value in the output.

use serde_json::{json, Value};

use crate::support::{canary, deployment, exit, next_second, parse_prometheus, TestNamespace};

fn find<'a>(findings: &'a Value, rule: &str, secret: &str) -> Vec<&'a Value> {
    findings["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == rule && f["secret"] == secret)
        .collect()
}

#[tokio::test]
async fn list_shows_ages_consumers_and_the_rotation_policy() {
    let ns = TestNamespace::new("list").await;
    let value = canary("list");
    ns.secret("app", &[("TOKEN", &value), ("OTHER", &value)]).await;
    ns.secret("unused", &[("X", &value)]).await;
    let helm: k8s_openapi::api::core::v1::Secret =
        serde_json::from_value(json!({"metadata": {"name": "sh.helm.release.v1.app.v1"}, "type": "helm.sh/release.v1", "stringData": {"release": "x"}})).unwrap();
    kube::Api::<k8s_openapi::api::core::v1::Secret>::namespaced(ns.client.clone(), &ns.name)
        .create(&Default::default(), &helm)
        .await
        .unwrap();
    ns.create_deployment(deployment(
        "api",
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;
    next_second().await;
    ns.patch_secret("app", &[("TOKEN", &canary("edited"))]).await;
    next_second().await;

    let run = ns.run(&["list", "--max-age", "1s"]);
    assert_eq!(run.code, exit::FOUND, "overdue Secrets mean exit 1: {run:?}");
    let row = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {}", run.stdout))
            .to_string()
    };
    assert!(row("app").contains("overdue"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("sh.helm.release"),
        "Helm releases are hidden: {}",
        run.stdout
    );

    let json = ns.run(&["list", "-o", "json"]).json();
    let app = json["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "app")
        .unwrap();
    assert_eq!(
        (
            app["keys"].as_u64(),
            app["consumers"].as_u64(),
            app["staleConsumers"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let all = ns.run(&["list", "--all-types", "-o", "json"]).json();
    assert!(all["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["type"] == "helm.sh/release.v1"));

    let relaxed = ns.run(&["list", "--max-age", "90d"]);
    assert_eq!(relaxed.code, exit::OK, "{relaxed:?}");
    for out in [&run, &relaxed] {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn audit_finds_what_the_runbooks_warn_about() {
    let ns = TestNamespace::new("audit").await;
    let (strong, reused, previous) = (canary("strong"), canary("reused-everywhere"), canary("jwt"));
    ns.secret(
        "backend-secrets",
        &[
            ("AUTH0_CLIENT_SECRET", "<Paste Auth0 Secret Here>"),
            ("JWT_SECRET", &strong),
            ("REDIS_PASSWORD", &reused),
        ],
    )
    .await;
    ns.secret("api-keys", &[("openai", "sk-xxx"), ("anthropic", &reused)])
        .await;
    ns.secret("db", &[("password", "hunter2")]).await;
    ns.secret("jwt-keys", &[("JWT_SECRET", &previous)]).await;
    let lonely = canary("forgotten");
    ns.secret("forgotten", &[("TOKEN", &lonely)]).await;
    let spec = |secret: &str| {
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": secret}}],
        "env": [{"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "api-keys", "key": "mistral"}}}]}]})
    };
    for (name, secret) in [
        ("backend", "backend-secrets"),
        ("llm", "api-keys"),
        ("db", "db"),
        ("auth", "jwt-keys"),
    ] {
        ns.create_deployment(deployment(name, 1, spec(secret))).await;
    }
    for name in ["backend", "llm", "db", "auth"] {
        ns.wait_ready("deployment", name).await;
    }
    // Seed 003's switch-over: the previous key kept, and every consumer restarted since.
    let rotate = ns.run(&["rotate", "jwt-keys", "--key", "JWT_SECRET", "--keep-previous", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");

    let run = ns.run(&["audit", "-o", "json"]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    let report = run.json();
    assert_eq!(report["kind"], "AuditReport");
    assert_eq!(
        find(&report, "placeholder", "backend-secrets")[0]["key"],
        "AUTH0_CLIENT_SECRET"
    );
    assert_eq!(
        find(&report, "placeholder", "backend-secrets")[0]["severity"],
        "critical"
    );
    assert_eq!(find(&report, "placeholder", "api-keys")[0]["key"], "openai");
    assert_eq!(find(&report, "weak", "db")[0]["key"], "password");
    assert_eq!(find(&report, "reused", "backend-secrets")[0]["key"], "REDIS_PASSWORD");
    assert_eq!(find(&report, "reused", "api-keys")[0]["key"], "anthropic");
    assert_eq!(
        find(&report, "reused", "backend-secrets").len(),
        1,
        "only REDIS_PASSWORD is reused: {report:#}"
    );
    assert!(find(&report, "reused", "forgotten").is_empty());
    assert_eq!(find(&report, "missing-reference", "api-keys")[0]["key"], "mistral");
    assert_eq!(find(&report, "unused", "forgotten").len(), 1);
    assert_eq!(
        find(&report, "previous-key", "jwt-keys")[0]["key"],
        "JWT_SECRET_PREVIOUS"
    );
    assert!(
        find(&report, "weak", "backend-secrets").is_empty(),
        "a strong value is not weak"
    );

    let only_critical = ns.run(&["audit", "--fail-on", "critical"]);
    assert_eq!(only_critical.code, exit::FOUND);
    assert!(
        only_critical.stdout.contains("critical") && only_critical.stdout.contains("--from-stdin openai"),
        "{}",
        only_critical.stdout
    );
    let new_jwt = String::from_utf8(ns.secret_data("jwt-keys").await["JWT_SECRET"].clone()).unwrap();
    for out in [&run, &only_critical, &rotate] {
        out.assert_no_leak([
            strong.as_str(),
            &reused,
            &previous,
            &new_jwt,
            &lonely,
            "hunter2",
            "<Paste Auth0 Secret Here>",
        ]);
    }
}

#[tokio::test]
async fn list_metrics_parse_with_prometheus_own_parser() {
    let ns = TestNamespace::new("metrics").await;
    let value = canary("metrics");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    next_second().await;
    ns.patch_secret("app", &[("TOKEN", &canary("edited"))]).await;
    next_second().await;
    let run = ns.run(&["list", "-o", "prometheus", "--max-age", "1s"]);
    assert_eq!(run.code, exit::FOUND, "overdue: {run:?}");
    run.assert_no_leak([&value]);

    // Parsed by prometheus_client's own text parser, as a textfile collector would.
    let metrics = parse_prometheus(&run.stdout);
    assert_eq!(metrics["kubectl_secrets_secret_overdue"]["app"], 1.0);
    assert_eq!(metrics["kubectl_secrets_secret_consumers"]["app"], 1.0);
    assert_eq!(metrics["kubectl_secrets_secret_stale_consumers"]["app"], 1.0);
    assert_eq!(metrics["kubectl_secrets_secret_age_days"]["app"], 0.0);

    let refused = ns.run(&["verify", "-o", "prometheus"]);
    assert_eq!(refused.code, exit::USAGE);
    assert!(
        refused
            .stderr
            .contains("`kubectl secrets verify` does not take -o prometheus"),
        "{}",
        refused.stderr
    );
}

/// `list -l` lists the Secrets the selector selects (it used to list them all).
#[tokio::test]
async fn list_with_a_selector_lists_only_what_it_selects() {
    let ns = TestNamespace::new("list-selector").await;
    let (a, b) = (canary("payments"), canary("other"));
    for (name, team, value) in [("payments-api", "payments", &a), ("search-api", "search", &b)] {
        ns.create_secret(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "labels": {"team": team}},
            "stringData": {"TOKEN": value}
        }))
        .await;
    }
    let run = ns.run(&["list", "-l", "team=payments", "-o", "json"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let names: Vec<String> = run.json()["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["payments-api"]);
    let none = ns.run(&["list", "-l", "team=nobody"]);
    assert_eq!(none.code, exit::OK, "{none:?}");
    assert!(
        none.stdout.contains(&format!(
            "No Secrets found in namespace {} matching -l team=nobody.",
            ns.name
        )),
        "{}",
        none.stdout
    );
    // kubectl's script habits: -o name, and a table without its header.
    let names = ns.run(&["list", "-o", "name"]);
    assert_eq!(names.code, exit::OK, "{names:?}");
    assert_eq!(names.stdout, "secret/payments-api\nsecret/search-api\n");
    let rows = ns.run(&["list", "--no-headers"]);
    assert_eq!(rows.code, exit::OK, "{rows:?}");
    let lines: Vec<&str> = rows.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", rows.stdout);
    assert!(
        lines[0].starts_with("payments-api ") && lines[1].starts_with("search-api "),
        "{}",
        rows.stdout
    );
    assert!(!rows.stdout.contains("NAME"), "{}", rows.stdout);
    let template = r#"jsonpath={range .secrets[*]}{.name}{"\t"}{.keys}{"\n"}{end}"#;
    let picked = ns.run(&["list", "-o", template]);
    assert_eq!(picked.code, exit::OK, "{picked:?}");
    assert_eq!(picked.stdout, "payments-api\t1\nsearch-api\t1\n");
    // kubectl's custom columns: one row per Secret of the list, <none> where nothing matches.
    let columns = ns.run(&["list", "-o", "custom-columns=SECRET:.name,KEYS:keys,OWNER:{.owner}"]);
    assert_eq!(columns.code, exit::OK, "{columns:?}");
    let cells: Vec<Vec<&str>> = columns.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        cells,
        [
            ["SECRET", "KEYS", "OWNER"],
            ["payments-api", "1", "<none>"],
            ["search-api", "1", "<none>"]
        ],
        "{}",
        columns.stdout
    );
    let findings = ns.run(&[
        "audit",
        "--no-headers",
        "-o",
        "custom-columns=RULE:.rule,SECRET:.secret",
    ]);
    assert!(
        findings.stdout.lines().all(|l| l.split_whitespace().count() == 2) && !findings.stdout.contains("RULE"),
        "{findings:?}"
    );
    let bad = ns.run(&["list", "-o", "custom-columns=SECRET"]);
    assert_eq!(bad.code, exit::USAGE, "{bad:?}");
    assert!(bad.stderr.contains("expected HEADER:JSONPATH"), "{}", bad.stderr);
    for out in [&run, &none, &names, &rows, &picked, &columns, &findings, &bad] {
        out.assert_no_leak([&a, &b]);
    }
}

#[tokio::test]
async fn secrets_used_besides_pods_say_by_what_and_are_never_without_consumers() {
    let ns = TestNamespace::new("used-by").await;
    let (admin, password, lonely) = (canary("admin"), canary("password"), canary("lonely"));
    ns.secret("pg-admin", &[("password", &admin)]).await;
    ns.secret("lonely", &[("token", &lonely)]).await;
    ns.create_secret(json!({
        "metadata": {"name": "db", "annotations": {
            "issuer.kubectl-secrets.io/password": "postgresql:user=app,server=statefulset/postgres,admin=pg-admin/password"
        }},
        "stringData": {"password": password}
    }))
    .await;
    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let rows = list.json()["secrets"].as_array().unwrap().clone();
    let used_by = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap()["usedBy"].clone();
    assert_eq!(used_by("pg-admin"), json!(["admin of db/password"]));
    assert_eq!(used_by("lonely"), Value::Null, "nothing uses it: no usedBy");

    let table = ns.run(&["list"]);
    let row = table.stdout.lines().find(|l| l.starts_with("pg-admin ")).unwrap();
    assert!(row.contains("0 (+1)"), "{}", table.stdout);
    assert!(
        table.stdout.contains("CONSUMERS (+N): also used besides pods"),
        "{}",
        table.stdout
    );
    let wide = ns.run(&["list", "-o", "wide"]);
    assert!(wide.stdout.contains("admin of db/password"), "{}", wide.stdout);

    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    let unused: Vec<String> = verify.json()["unusedSecrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert!(unused.contains(&"lonely".to_string()), "{unused:?}");
    assert!(
        !unused.contains(&"pg-admin".to_string()),
        "a Secret an issuer uses is not 'without consumers': {unused:?}"
    );
    for run in [&list, &table, &wide, &verify] {
        run.assert_no_leak([&admin, &password, &lonely]);
    }
}
