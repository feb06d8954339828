//! `kubectl secrets verify` on the real cluster: every status, every workload kind, scopes,
//! output formats, permissions, and never a value in the output.

use serde_json::{json, Value};

use crate::support::{
    annotations, canary, cluster, daemon_set, deployment, exit, next_second, run_with, stateful_set,
    vault_agent_deployment, workload, TestNamespace,
};

fn env_from(secret: &str) -> Value {
    json!([{"secretRef": {"name": secret}}])
}

fn key_ref(var: &str, secret: &str, key: &str) -> Value {
    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

fn table_row<'a>(stdout: &'a str, workload: &str, status: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(workload) && l.split_whitespace().nth(1) == Some(status))
        .unwrap_or_else(|| panic!("no {status} row for {workload}:\n{stdout}"))
}

#[tokio::test]
async fn reports_stale_missing_shadowed_and_ok_deployments() {
    let ns = TestNamespace::new("verify-statuses").await;
    let (token, api_key, edited) = (canary("token"), canary("api-key"), canary("edited"));
    ns.secret("app", &[("TOKEN", &token), ("API_KEY", &api_key)]).await;
    ns.create_deployment(deployment(
        "api",
        2,
        json!({"containers": [{"name": "api", "image": "api", "envFrom": env_from("app")}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;
    next_second().await;
    ns.patch_secret("app", &[("TOKEN", &edited)]).await;
    next_second().await;

    let shadowed = json!({"containers": [{"name": "web", "image": "web", "envFrom": env_from("app"),
        "env": [{"name": "TOKEN", "value": "from-config"}]}]});
    let missing = json!({"containers": [{"name": "worker", "image": "worker", "env": [key_ref("OPENAI_API_KEY", "app", "openai")]}]});
    let fresh = json!({"containers": [{"name": "fresh", "image": "fresh", "envFrom": env_from("app")}]});
    ns.create_deployment(deployment("web", 1, shadowed)).await;
    ns.create_deployment(deployment("worker", 1, missing)).await;
    ns.create_deployment(deployment("fresh", 1, fresh)).await;
    for name in ["web", "worker", "fresh"] {
        ns.wait_ready("deployment", name).await;
    }

    let table = ns.run(&["verify"]);
    assert_eq!(table.code, exit::FOUND, "stale and missing mean exit 1: {table:?}");
    let stale_row = table_row(&table.stdout, "deployment/api", "stale");
    assert!(
        stale_row.contains("TOKEN") && stale_row.contains("time") && stale_row.contains("2 of 2 pods"),
        "{stale_row}"
    );
    let missing_row = table_row(&table.stdout, "deployment/worker", "missing");
    assert!(
        missing_row.contains("OPENAI_API_KEY") && missing_row.contains("does not have"),
        "{missing_row}"
    );
    let shadowed_row = table_row(&table.stdout, "deployment/web", "shadowed");
    assert!(shadowed_row.contains("literal value"), "{shadowed_row}");
    // The stale pods are named in the default table, not only under -o wide.
    let api_pods = ns.pod_names("api-").await;
    assert!(api_pods.iter().all(|p| stale_row.contains(p.as_str())), "{stale_row}");
    let ok_row = table_row(&table.stdout, "deployment/fresh", "ok");
    assert!(ok_row.contains(" app "), "an ok row names its Secret: {ok_row}");
    assert!(table.stdout.contains("4 workloads"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains(&format!("Next: `kubectl secrets verify -n {} --fix`", ns.name)),
        "{}",
        table.stdout
    );
    table.assert_no_leak([&token, &api_key, &edited]);

    let json = ns.run(&["verify", "-o", "json"]);
    assert_eq!(json.code, exit::FOUND);
    let report = json.json();
    assert_eq!(report["apiVersion"], "kubectl-secrets.io/v1");
    assert_eq!(report["kind"], "VerifyReport");
    assert_eq!(workload(&report, "Deployment", "api")["status"], "stale");
    assert_eq!(workload(&report, "Deployment", "worker")["status"], "missing");
    assert_eq!(workload(&report, "Deployment", "web")["status"], "shadowed");
    assert_eq!(workload(&report, "Deployment", "fresh")["status"], "ok");
    let stale_pods: Vec<&Value> = workload(&report, "Deployment", "api")["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["status"] == "stale")
        .collect();
    assert_eq!(stale_pods.len(), 2, "one stale finding per pod");
    assert!(stale_pods
        .iter()
        .all(|f| f["evidence"] == "time" && f["pod"].as_str().is_some_and(|p| p.starts_with("api-"))));
    assert_eq!(report["summary"]["stale"], 1);
    assert_eq!(report["summary"]["missing"], 1);
    assert_eq!(report["summary"]["shadowed"], 1);
    assert_eq!(report["summary"]["ok"], 1);
    json.assert_no_leak([&token, &api_key, &edited]);

    let yaml = ns.run(&["verify", "-o", "yaml"]);
    assert_eq!(yaml.code, exit::FOUND);
    assert!(
        yaml.stdout.contains("kind: VerifyReport") && yaml.stdout.contains("status: stale"),
        "{}",
        yaml.stdout
    );
    yaml.assert_no_leak([&token, &api_key, &edited]);

    let wide = ns.run(&["verify", "-o", "wide"]);
    assert!(wide.stdout.lines().next().unwrap().contains("POD"), "{}", wide.stdout);
    assert_eq!(
        wide.stdout
            .lines()
            .filter(|l| l.starts_with("deployment/api ") && l.contains(" stale "))
            .count(),
        2
    );
    wide.assert_no_leak([&token, &api_key, &edited]);
}

#[tokio::test]
async fn stateful_sets_and_daemon_sets_env_and_sub_path_go_stale_volumes_do_not() {
    let ns = TestNamespace::new("verify-kinds").await;
    let (password, new_password) = (canary("password"), canary("new-password"));
    ns.secret("db", &[("password", &password)]).await;
    let sts =
        json!({"containers": [{"name": "worker", "image": "app", "env": [key_ref("DB_PASSWORD", "db", "password")]}]});
    // The official postgres image reads POSTGRES_PASSWORD only when its data is first made.
    let database = json!({"containers": [{"name": "postgres", "image": "postgres:16", "env": [key_ref("POSTGRES_PASSWORD", "db", "password")]}]});
    let sub_path = json!({
        "containers": [{"name": "agent", "image": "agent",
            "volumeMounts": [{"name": "db", "mountPath": "/etc/agent/password", "subPath": "password"}]}],
        "volumes": [{"name": "db", "secret": {"secretName": "db"}}]
    });
    let volume = json!({
        "containers": [{"name": "reader", "image": "reader", "volumeMounts": [{"name": "db", "mountPath": "/etc/db"}]}],
        "volumes": [{"name": "db", "projected": {"sources": [{"secret": {"name": "db"}}]}}]
    });
    ns.create_stateful_set(stateful_set("worker", 2, sts)).await;
    ns.create_stateful_set(stateful_set("postgres", 1, database)).await;
    ns.create_daemon_set(daemon_set("agent", sub_path)).await;
    ns.create_daemon_set(daemon_set("reader", volume)).await;
    ns.wait_ready("statefulset", "worker").await;
    ns.wait_ready("statefulset", "postgres").await;
    ns.wait_ready("daemonset", "agent").await;
    ns.wait_ready("daemonset", "reader").await;

    let before = ns.run(&["verify", "-o", "json"]);
    assert_eq!(before.code, exit::OK, "all fresh before the change: {}", before.stdout);

    next_second().await;
    ns.patch_secret("db", &[("password", &new_password)]).await;
    let after = ns.run(&["verify", "-o", "json"]);
    assert_eq!(after.code, exit::FOUND);
    let report = after.json();
    assert_eq!(workload(&report, "StatefulSet", "worker")["status"], "stale");
    let database = workload(&report, "StatefulSet", "postgres");
    assert_eq!(
        database["status"], "ok",
        "a password the database image reads only at its first start is never stale: {database:#}"
    );
    let agent = workload(&report, "DaemonSet", "agent");
    assert_eq!(agent["status"], "stale");
    assert!(agent["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["via"] == "subPathMount"));
    let reader = workload(&report, "DaemonSet", "reader");
    assert_eq!(reader["status"], "ok", "volumes update in place: {reader:#}");
    assert_eq!(reader["autoUpdating"], json!(["db"]));
    after.assert_no_leak([&password, &new_password]);
    before.assert_no_leak([&password, &new_password]);
}

#[tokio::test]
async fn exact_evidence_from_revision_annotations() {
    let ns = TestNamespace::new("verify-exact").await;
    let (v1, v2) = (canary("v1"), canary("v2"));
    ns.secret("jwt", &[("JWT_SECRET", &v1)]).await;
    let with_revision = |name: &str, revision: u64| {
        let mut d = deployment(
            name,
            1,
            json!({"containers": [{"name": "app", "image": "app", "envFrom": env_from("jwt")}]}),
        );
        d["spec"]["template"]["metadata"]["annotations"] =
            json!({annotations::POD_SECRET_REVISIONS: format!("{{\"jwt\":{revision}}}")});
        d
    };
    ns.create_deployment(with_revision("old", 1)).await;
    ns.wait_ready("deployment", "old").await;
    next_second().await;
    // What rotate writes: new data, a revision and the time, in one change.
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(ns.client.clone(), &ns.name);
    let patch = json!({
        "metadata": {"annotations": {annotations::REVISION: "2", annotations::ROTATED_AT: jiff::Timestamp::now().to_string()}},
        "stringData": {"JWT_SECRET": v2}
    });
    api.patch(
        "jwt",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(patch),
    )
    .await
    .unwrap();
    next_second().await;
    ns.create_deployment(with_revision("new", 2)).await;
    ns.wait_ready("deployment", "new").await;

    let run = ns.run(&["verify", "-o", "json"]);
    let report = run.json();
    let old = workload(&report, "Deployment", "old");
    assert_eq!(old["status"], "stale");
    assert_eq!(old["findings"][0]["evidence"], "exact", "{old:#}");
    assert_eq!(
        report["revocation"][0]["safe"], false,
        "an old pod may still hold the previous value"
    );
    let new = workload(&report, "Deployment", "new");
    assert_eq!(new["status"], "ok");
    assert_eq!(new["findings"][0]["evidence"], "exact", "{new:#}");
    run.assert_no_leak([&v1, &v2]);
}

#[tokio::test]
async fn selector_secret_filter_and_all_namespaces() {
    let ns = TestNamespace::new("verify-scope").await;
    let (a, b) = (canary("a"), canary("b"));
    ns.secret("alpha", &[("A", &a)]).await;
    ns.secret("beta", &[("B", &b)]).await;
    ns.secret("lonely", &[("C", &a)]).await;
    ns.create_deployment(deployment(
        "one",
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from("alpha")}]}),
    ))
    .await;
    ns.create_deployment(deployment(
        "two",
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": env_from("beta")}]}),
    ))
    .await;
    ns.wait_ready("deployment", "one").await;
    ns.wait_ready("deployment", "two").await;

    let all = ns.run(&["verify", "-o", "json"]).json();
    assert_eq!(all["workloads"].as_array().unwrap().len(), 2);
    assert_eq!(all["unusedSecrets"], json!([{"namespace": ns.name, "name": "lonely"}]));

    let selected = ns.run(&["verify", "-l", "app=two", "-o", "json"]);
    let selected_report = selected.json();
    let names: Vec<&str> = selected_report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["two"]);

    let by_secret = ns.run(&["verify", "alpha"]);
    assert_eq!(by_secret.code, exit::OK);
    assert!(
        by_secret.stdout.contains("deployment/one") && !by_secret.stdout.contains("deployment/two"),
        "{}",
        by_secret.stdout
    );

    let unknown = ns.run(&["verify", "nope"]);
    assert_eq!(unknown.code, exit::NOT_FOUND);
    assert!(
        unknown.stderr.contains(&format!("secret {}/nope not found", ns.name)),
        "{}",
        unknown.stderr
    );

    let everywhere = run_with(&cluster().admin_kubeconfig, &["verify", "-A", "-o", "json"]);
    assert!(everywhere.code == 0 || everywhere.code == 1, "{everywhere:?}");
    let report = everywhere.json();
    let ours: Vec<&Value> = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["namespace"] == ns.name.as_str())
        .collect();
    assert_eq!(ours.len(), 2);
    for run in [&selected, &by_secret, &unknown, &everywhere] {
        run.assert_no_leak([&a, &b]);
    }
}

#[tokio::test]
async fn a_user_without_cluster_wide_list_gets_a_clear_error() {
    let ns = TestNamespace::new("verify-rbac").await;
    let value = canary("rbac");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    ns.grant(
        "limited",
        json!([
            {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["list"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["list"]}
        ]),
    );
    let limited = cluster().kubeconfig_of("limited");

    let cluster_wide = run_with(&limited, &["verify", "-A"]);
    assert_eq!(cluster_wide.code, exit::FORBIDDEN, "{cluster_wide:?}");
    assert!(
        cluster_wide.stderr.contains("not allowed to list") && cluster_wide.stderr.contains("in all namespaces"),
        "{}",
        cluster_wide.stderr
    );
    assert!(cluster_wide.stdout.is_empty());

    let in_namespace = run_with(&limited, &["verify", "-n", &ns.name]);
    assert_eq!(in_namespace.code, exit::OK, "{in_namespace:?}");
    assert!(in_namespace.stdout.contains("deployment/api"));
    for run in [&cluster_wide, &in_namespace] {
        run.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn fix_restarts_what_is_stale_and_verifies_again() {
    let ns = TestNamespace::new("verify-fix").await;
    let (old, new) = (canary("old"), canary("new"));
    ns.secret("db-credentials", &[("password", &old)]).await;
    let env = json!({"containers": [{"name": "c", "image": "i", "env": [key_ref("DB_PASSWORD", "db-credentials", "password")]}]});
    ns.create_deployment(deployment("backend", 2, env.clone())).await;
    ns.create_stateful_set(stateful_set("postgres", 1, env)).await;
    ns.wait_ready("deployment", "backend").await;
    ns.wait_ready("statefulset", "postgres").await;
    next_second().await;
    ns.patch_secret("db-credentials", &[("password", &new)]).await;

    let without_yes = ns.run(&["verify", "--fix"]);
    assert_eq!(without_yes.code, exit::USAGE, "{without_yes:?}");
    assert!(
        without_yes.stdout.contains("Fix: restart 2 workloads") && without_yes.stderr.contains("--yes"),
        "the plan on stdout (as rotate's), the refusal on stderr: {without_yes:?}"
    );
    let dry_run = ns.run(&["verify", "--fix", "--dry-run"]);
    assert!(dry_run.stdout.contains("Fix: restart 2 workloads"), "{dry_run:?}");
    dry_run.assert_no_leak([&new]);

    let fixed = ns.run(&["verify", "--fix", "--yes"]);
    assert_eq!(fixed.code, exit::OK, "{fixed:?}");
    assert!(
        fixed.stderr.contains("statefulset/postgres: complete")
            && fixed.stderr.contains("deployment/backend: complete"),
        "{}",
        fixed.stderr
    );
    assert!(fixed.stderr.contains("After the restart"), "{}", fixed.stderr);
    let after = ns.run(&["verify", "-o", "json"]);
    assert_eq!(after.code, exit::OK, "{}", after.stdout);
    for run in [&without_yes, &fixed, &after] {
        run.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn trace_logging_prints_nothing_secret() {
    let ns = TestNamespace::new("verify-trace").await;
    let value = canary("trace");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(["verify", "-n", &ns.name, "-o", "json"])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .env("RUST_LOG", "trace")
        .env("RUST_BACKTRACE", "full")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::OK));
    let everything = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let encoded = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &value);
    assert!(
        !everything.contains(&value) && !everything.contains(&encoded),
        "a value reached the output with RUST_LOG=trace"
    );
    assert!(
        out.stderr.is_empty(),
        "no log output at all: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn every_unsealing_failure_is_reported_past_one_page() {
    use futures::{StreamExt as _, TryStreamExt as _};
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
    let ns = TestNamespace::new("verify-520").await;
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("bitnami.com", "v1alpha1", "SealedSecret"),
        "sealedsecrets",
    );
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(ns.client.clone(), &ns.name, &resource);
    // 520 SealedSecrets the controller could not unseal: more than one page (500) of a LIST.
    // They are labelled for the bed's controller to leave alone (it handles 5 a second); their
    // Synced=False status is written here, as the controller writes it.
    futures::stream::iter(0..520)
        .map(|i| {
            let api = api.clone();
            let name = format!("broken-{i:03}");
            async move {
                let object: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                    "metadata": {"name": name, "labels": {"testbed.kubectl-secrets.io/unwatched": "true"}},
                    "spec": {"encryptedData": {"k": "AgBnotaciphertext"}, "template": {"metadata": {"name": name}}}
                }))
                .unwrap();
                api.create(&PostParams::default(), &object).await?;
                let status = json!({"status": {"conditions": [{
                    "type": "Synced", "status": "False", "reason": "ErrUnsealFailed",
                    "message": "no key could decrypt secret (k)"
                }]}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                Ok::<_, kube::Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await
        .expect("create the SealedSecrets");

    for scope in [&["-A"][..], &["-n", &ns.name]] {
        let mut args = vec!["verify", "-o", "json"];
        args.extend_from_slice(scope);
        let run = crate::support::run_with(&crate::support::cluster().admin_kubeconfig, &args);
        assert_eq!(run.code, exit::FOUND, "{}", run.stderr);
        let report = run.json();
        let reported = report["unsealingFailed"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["namespace"] == ns.name.as_str())
            .count();
        assert_eq!(reported, 520, "{scope:?}: every one, past the first page of 500");
    }
}

#[tokio::test]
async fn a_fix_whose_rollout_fails_says_so_with_its_own_exit_code() {
    let ns = TestNamespace::new("verify-fix-fails").await;
    let (old, new) = (canary("old"), canary("new"));
    ns.secret("app", &[("TOKEN", &old)]).await;
    // Crash-loops once restarted (its pods then carry the revisions annotation `{}`).
    let api = crate::support::with_pod_annotations(
        deployment(
            "api",
            1,
            json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
        ),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": "{}"}),
    );
    ns.create_deployment(api).await;
    ns.wait_ready("deployment", "api").await;
    next_second().await;
    ns.patch_secret("app", &[("TOKEN", &new)]).await;
    let run = ns.run(&["verify", "--fix", "--yes", "--timeout", "60s"]);
    assert_eq!(run.code, exit::ROLLOUT_FAILED, "{run:?}");
    assert!(
        run.stderr.contains("the restart did not complete") && run.stderr.contains("no Secret was changed"),
        "{}",
        run.stderr
    );
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        new.as_bytes(),
        "the data is as it was"
    );
    run.assert_no_leak([&old, &new]);
}

/// The kubelet's precedence with ConfigMaps: a configMapRef after a secretRef hides the Secret's
/// key (named in the report), one before it does not, an optional reference to an absent
/// ConfigMap or key overrides nothing; workloads reading no Secret are counted, not listed.
#[tokio::test]
async fn config_maps_take_part_in_env_precedence_and_plain_workloads_are_only_counted() {
    let ns = TestNamespace::new("verify-configmaps").await;
    let (jwt, redis, setting) = (canary("jwt"), canary("redis"), canary("config-value"));
    ns.secret("chat", &[("JWT_SECRET", &jwt), ("REDIS_URL", &redis)]).await;
    ns.apply(
        &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "chat-config"},
        "data": {"REDIS_URL": setting, "LOG_LEVEL": "info"}}),
    );
    let containers = |name: &str, env_from: Value, env: Value| json!({"containers": [{"name": name, "image": name, "envFrom": env_from, "env": env}]});
    let config_map_ref = |name: &str, optional: bool| json!({"configMapRef": {"name": name, "optional": optional}});
    let secret_ref = json!({"secretRef": {"name": "chat"}});
    // After the Secret: REDIS_URL comes from the ConfigMap.
    let after = containers(
        "after",
        json!([secret_ref, config_map_ref("chat-config", false)]),
        json!([]),
    );
    // Before the Secret: the Secret wins.
    let before = containers(
        "before",
        json!([config_map_ref("chat-config", false), secret_ref]),
        json!([]),
    );
    // Optional references that do not resolve override nothing.
    let optional = containers(
        "optional",
        json!([secret_ref, config_map_ref("absent-config", true)]),
        json!([{"name": "JWT_SECRET", "valueFrom": {"configMapKeyRef": {"name": "chat-config", "key": "JWT_SECRET", "optional": true}}}]),
    );
    let plain = containers("plain", json!([config_map_ref("chat-config", false)]), json!([]));
    for (name, spec) in [
        ("after", after),
        ("before", before),
        ("optional", optional),
        ("plain", plain),
    ] {
        ns.create_deployment(deployment(name, 1, spec)).await;
    }
    for name in ["after", "before", "optional", "plain"] {
        ns.wait_ready("deployment", name).await;
    }

    let table = ns.run(&["verify"]);
    assert_eq!(table.code, exit::OK, "shadowed alone is not drift: {table:?}");
    let shadowed = table_row(&table.stdout, "deployment/after", "shadowed");
    assert!(
        shadowed.contains("REDIS_URL") && shadowed.contains("ConfigMap chat-config"),
        "{shadowed}"
    );
    table_row(&table.stdout, "deployment/before", "ok");
    table_row(&table.stdout, "deployment/optional", "ok");
    assert!(!table.stdout.contains("deployment/plain"), "{}", table.stdout);
    assert!(
        table
            .stdout
            .contains("4 workloads (1 read no Secret, not listed: -o wide lists them)"),
        "{}",
        table.stdout
    );
    table.assert_no_leak([&jwt, &redis, &setting]);

    let wide = ns.run(&["verify", "-o", "wide"]);
    assert_eq!(wide.code, exit::OK);
    assert!(wide.stdout.contains("deployment/plain"), "{}", wide.stdout);
    wide.assert_no_leak([&jwt, &redis, &setting]);

    let json = ns.run(&["verify", "-o", "json"]);
    let report = json.json();
    let after = workload(&report, "Deployment", "after");
    let finding = after["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["status"] == "shadowed")
        .unwrap();
    assert_eq!(finding["key"], "REDIS_URL", "{finding}");
    assert_eq!(finding["secret"], "chat");
    // The running container still reads JWT_SECRET from the Secret, REDIS_URL no longer.
    let running: Vec<&Value> = after["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["pod"].is_string())
        .collect();
    assert!(
        running.iter().all(|f| f["targets"] == json!(["JWT_SECRET"])),
        "{running:?}"
    );
    assert_eq!(workload(&report, "Deployment", "plain")["readsSecrets"], false);
    assert_eq!(report["summary"]["withoutSecrets"], 1);
    assert_eq!(report["summary"]["ok"], 2);
    json.assert_no_leak([&jwt, &redis, &setting]);

    // Named by a selector, a workload reading no Secret is listed.
    let named = ns.run(&["verify", "-l", "app=plain"]);
    assert_eq!(named.code, exit::OK);
    table_row(&named.stdout, "deployment/plain", "ok");
}

/// A mistyped namespace is an error naming it (exit 6) for every command with -n, never an
/// empty, all-clear answer; an empty namespace that exists is named in the answer.
#[tokio::test]
async fn a_namespace_that_does_not_exist_is_not_found_and_an_empty_one_is_named() {
    let ns = TestNamespace::new("empty-ns").await;
    let kubeconfig = &cluster().admin_kubeconfig;
    let missing = format!("{}-typo", ns.name);
    for args in [
        vec!["verify"],
        vec!["list"],
        vec!["audit"],
        vec!["history", "app"],
        vec!["diff", "app", "--revision", "1"],
        vec!["rollback", "app", "--yes"],
        vec!["rotate", "app", "--key", "TOKEN", "--yes"],
        vec!["rotate", "-l", "team=payments", "--all-keys", "--yes"],
    ] {
        let mut with_ns = args.clone();
        with_ns.extend(["-n", &missing]);
        let run = run_with(kubeconfig, &with_ns);
        assert_eq!(run.code, exit::NOT_FOUND, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(&format!("namespace {missing} not found")),
            "{args:?}: {}",
            run.stderr
        );
        assert!(run.stdout.is_empty(), "{args:?}: {}", run.stdout);
    }
    let verify = ns.run(&["verify"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains(&format!("No workloads found in namespace {}.", ns.name)),
        "{}",
        verify.stdout
    );
    let list = ns.run(&["list"]);
    assert!(
        list.stdout
            .contains(&format!("No Secrets found in namespace {}.", ns.name)),
        "{}",
        list.stdout
    );
}

#[tokio::test]
async fn verify_watch_off_a_terminal_prints_a_line_per_change_and_ends_on_sigint() {
    use std::io::BufRead as _;
    let ns = TestNamespace::new("watch-lines").await;
    let (value, changed) = (canary("watch-lines"), canary("watch-lines-changed"));
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(["verify", "--watch", "-n", &ns.name])
        .env("KUBECONFIG", &crate::support::cluster().admin_kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, seen) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut output = Vec::new();
    let wait_for = |text: &str, output: &mut Vec<String>| loop {
        let line = seen
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("waiting for {text:?}; so far: {output:#?}"));
        output.push(line.clone());
        if line.contains(text) {
            return line;
        }
    };
    wait_for("1 ok, 0 stale", &mut output);
    // A second after the pod started: times are whole seconds.
    crate::support::next_second().await;
    ns.patch_secret("app", &[("TOKEN", &changed)]).await;
    let line = wait_for("deployment/api app: ok -> stale", &mut output);
    assert!(line.contains("before the Secret's data changed"), "{line}");
    wait_for("now: 0 ok, 1 stale", &mut output);

    let interrupt = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupt.success());
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(exit::FOUND),
        "the last verdict was stale: {output:#?}"
    );
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("Stopped watching."), "{stderr}");
    let run = crate::support::Run {
        code: status.code().unwrap_or(-1),
        stdout: output.join("\n"),
        stderr,
    };
    run.assert_no_leak([&value, &changed]);
    // A namespace that does not exist is not watched as an empty one.
    let missing = crate::support::run_with(
        &cluster().admin_kubeconfig,
        &["verify", "--watch", "-n", &format!("{}-nope", ns.name)],
    );
    assert_eq!(missing.code, exit::NOT_FOUND, "{missing:?}");
}

#[tokio::test]
async fn v6_logs_each_request_and_never_a_value_or_a_credential() {
    let ns = TestNamespace::new("verify-v6").await;
    let value = canary("v6");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let rotate = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "-v", "9"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for request in [
        "GET https://127.0.0.1:".to_string(),
        format!("/api/v1/namespaces/{}/secrets/app 200 OK in ", ns.name),
        "PATCH https://127.0.0.1:".to_string(),
    ] {
        assert!(rotate.stderr.contains(&request), "{request}: {}", rotate.stderr);
    }
    // Below 6, nothing of the kind.
    let quiet = ns.run(&["verify", "-v", "5"]);
    assert_eq!(quiet.code, exit::OK, "{quiet:?}");
    assert!(!quiet.stderr.contains("GET https://"), "{}", quiet.stderr);
    // The kubeconfig's credentials never appear (a token or a client key).
    let kubeconfig = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let credentials: Vec<&str> = kubeconfig
        .lines()
        .filter_map(|l| l.split_once("token:").or_else(|| l.split_once("client-key-data:")))
        .map(|(_, v)| v.trim())
        .filter(|v| v.len() > 8)
        .collect();
    for credential in &credentials {
        assert!(!rotate.stderr.contains(credential), "a credential was logged");
    }
    rotate.assert_no_leak([&value, &rotated]);
}

#[tokio::test]
async fn safe_to_revoke_is_said_once_per_rotation() {
    let ns = TestNamespace::new("verify-revoke-once").await;
    let value = canary("revoke-once");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let state = tempfile::tempdir().unwrap();
    let env = [("XDG_STATE_HOME", state.path().to_str().unwrap())];
    let run = |args: &[&str]| {
        let mut full = args.to_vec();
        full.extend(["-n", &ns.name]);
        crate::support::run_full(&cluster().admin_kubeconfig, &full, b"", &env)
    };
    // Written without a restart (a second after the pod started: times are whole seconds): not
    // yet safe, and said so every time.
    crate::support::next_second().await;
    let rotate = run(&["rotate", "app", "--key", "TOKEN", "--no-restart", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for _ in 0..2 {
        let stale = run(&["verify"]);
        assert!(stale.stdout.contains("Not yet safe to revoke"), "{}", stale.stdout);
    }
    // The fix restarts the consumer: now safe, said once...
    let fix = run(&["verify", "--fix", "--yes"]);
    assert_eq!(fix.code, exit::OK, "{fix:?}");
    assert!(fix.stdout.contains("Safe to revoke"), "{}", fix.stdout);
    // ...and not on the next runs from this machine.
    let again = run(&["verify"]);
    assert_eq!(again.code, exit::OK, "{again:?}");
    assert!(!again.stdout.contains("revoke"), "{}", again.stdout);
    // Under --dry-run nothing is remembered (no file is written): said, and said again.
    let remembered = state.path().join("kubectl-secrets/revocations-said");
    let kept = std::fs::read(&remembered).unwrap();
    std::fs::remove_file(&remembered).unwrap();
    for _ in 0..2 {
        let dry = run(&["verify", "--fix", "--dry-run"]);
        assert!(dry.stdout.contains("Safe to revoke"), "{}", dry.stdout);
    }
    assert!(!remembered.exists(), "--dry-run wrote the state file");
    std::fs::write(&remembered, kept).unwrap();
    let json = run(&["verify", "-o", "json"]);
    assert_eq!(
        json.json()["revocation"][0]["alreadySaid"],
        json!(true),
        "{}",
        json.stdout
    );
    // A new rotation says it again, once.
    let next = run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(next.code, exit::OK, "{next:?}");
    assert!(next.stdout.contains("Safe to revoke"), "{}", next.stdout);
    assert!(!run(&["verify"]).stdout.contains("revoke"));
    let newest = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for out in [&rotate, &fix, &again, &json, &next] {
        out.assert_no_leak([&value, &rotated, &newest]);
    }
}

#[tokio::test]
async fn vault_agent_readers_are_listed_and_a_value_read_once_is_unknown_never_ok() {
    let ns = TestNamespace::new("verify-vault-agent").await;
    let value = canary("vault-neighbour");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    ns.create_deployment(vault_agent_deployment("chat-api", "secret/data/chatbox/db", true))
        .await;
    ns.create_deployment(vault_agent_deployment("chat-worker", "secret/data/chatbox/llm", false))
        .await;
    for name in ["chat-api", "chat-worker"] {
        ns.wait_ready("deployment", name).await;
    }

    let table = ns.run(&["verify"]);
    assert_eq!(table.code, exit::OK, "unknown is not drift: {table:?}");
    let row = table_row(&table.stdout, "deployment/chat-api", "unknown");
    assert!(row.contains("vault:secret/data/chatbox/db"), "{}", table.stdout);
    assert!(row.contains("/vault/secrets/config"), "{}", table.stdout);
    let worker = table_row(&table.stdout, "deployment/chat-worker", "ok");
    assert!(
        worker.contains("vault:secret/data/chatbox/llm") && worker.contains("re-rendered by the Vault Agent sidecar"),
        "{}",
        table.stdout
    );
    assert!(
        table.stdout.contains("2 ok, 1 unknown, 0 stale, 0 missing, 0 shadowed"),
        "{}",
        table.stdout
    );
    assert!(
        table
            .stdout
            .contains("Unknown: pods that read a Vault path once at start"),
        "{}",
        table.stdout
    );

    let json = ns.run(&["verify", "-o", "json"]);
    assert_eq!(json.code, exit::OK, "{json:?}");
    let report = json.json();
    let api = report["workloads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "chat-api")
        .expect("chat-api reported");
    assert_eq!(api["status"], "unknown");
    assert_eq!(api["readsSecrets"], true);
    assert_eq!(api["findings"][0]["via"], "vaultAgent");
    assert_eq!(api["findings"][0]["evidence"], "unknown");
    assert_eq!(report["summary"]["unknown"], 1);
    assert_eq!(report["summary"]["withoutSecrets"], 0);

    // list names the paths and who reads them, and how.
    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let paths = list.json()["vaultPaths"].clone();
    assert_eq!(
        paths,
        json!([
            {"namespace": ns.name, "path": "secret/data/chatbox/db", "readers": [
                {"workload": "deployment/chat-api", "file": "/vault/secrets/config", "rendering": "onceAtStart"}]},
            {"namespace": ns.name, "path": "secret/data/chatbox/llm", "readers": [
                {"workload": "deployment/chat-worker", "file": "/vault/secrets/config", "rendering": "whileRunning"}]}
        ])
    );
    let list_table = ns.run(&["list"]);
    assert!(
        list_table.stdout.contains(
            "vault:secret/data/chatbox/db: deployment/chat-api (/vault/secrets/config, rendered once at start)"
        ),
        "{}",
        list_table.stdout
    );

    // Narrowed to a Secret, the Vault readers are not its consumers.
    let narrowed = ns.run(&["verify", "app"]);
    assert_eq!(narrowed.code, exit::OK, "{narrowed:?}");
    assert!(!narrowed.stdout.contains("vault:"), "{}", narrowed.stdout);

    for run in [&table, &json, &list, &list_table, &narrowed] {
        run.assert_no_leak([&value]);
    }
}
