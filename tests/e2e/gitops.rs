//! Secrets that Argo CD, Flux or Helm deploy: rotate and rollback refuse to change them in
//! place (the next sync reverts it) unless --allow-gitops-drift; list and audit say who owns them.

use serde_json::json;

use crate::support::{canary, exit, TestNamespace};

/// name, labels, annotations, who the refusal must name.
fn owners() -> Vec<(&'static str, serde_json::Value, serde_json::Value, &'static str)> {
    vec![
        (
            "argo",
            json!({}),
            json!({"argocd.argoproj.io/tracking-id": "payments:/Secret:prod/argo"}),
            "Argo CD Application/payments",
        ),
        (
            "flux",
            json!({"kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
            json!({}),
            "Flux Kustomization/flux-system/apps",
        ),
        (
            "helm",
            json!({"app.kubernetes.io/managed-by": "Helm"}),
            json!({"meta.helm.sh/release-name": "redis", "meta.helm.sh/release-namespace": "cache"}),
            "Helm release redis",
        ),
    ]
}

#[tokio::test]
async fn secrets_deployed_by_argo_cd_flux_or_helm_are_refused_then_changed_with_the_flag() {
    let ns = TestNamespace::new("gitops").await;
    let mut values = Vec::new();
    for (name, labels, annotations, _) in owners() {
        let value = canary(name);
        ns.create_secret(json!({
            "metadata": {"name": name, "labels": labels, "annotations": annotations},
            "stringData": {format!("{}_TOKEN", name.to_uppercase()): value}
        }))
        .await;
        values.push(value);
    }
    let spec = json!({"containers": [{"name": "c", "image": "i", "envFrom": [
        {"secretRef": {"name": "argo"}}, {"secretRef": {"name": "flux"}}, {"secretRef": {"name": "helm"}}
    ]}]});
    ns.create_deployment(crate::support::deployment("api", 1, spec)).await;
    ns.wait_ready("deployment", "api").await;
    let pods = ns.pod_names("api-").await;

    let mut runs = Vec::new();
    for (name, _, _, owner) in owners() {
        let before = ns.secret_data(name).await;
        let key = format!("{}_TOKEN", name.to_uppercase());
        let refused = ns.run(&["rotate", name, "--key", &key, "--yes"]);
        assert_eq!(refused.code, exit::USAGE, "{refused:?}");
        for part in [owner, "next sync writes the old value back", "--allow-gitops-drift"] {
            assert!(refused.stderr.contains(part), "{part}: {}", refused.stderr);
        }
        let path = if name == "helm" { "helm upgrade" } else { "Git" };
        assert!(refused.stderr.contains(path), "{}", refused.stderr);
        assert_eq!(ns.secret_data(name).await, before, "nothing written");
        runs.push(refused);
    }
    assert!(
        ns.secret_names().await.iter().all(|n| !n.contains(".backup-")),
        "no backup made for a refused change"
    );
    assert_eq!(ns.pod_names("api-").await, pods, "nothing restarted");

    // With the flag: changed, restarted, and told that the next sync reverts it.
    let allowed = ns.run(&["rotate", "argo", "--key", "ARGO_TOKEN", "--allow-gitops-drift", "--yes"]);
    assert_eq!(allowed.code, exit::OK, "{allowed:?}");
    assert!(
        allowed
            .stderr
            .contains("deployed by Argo CD Application/payments: its next sync or upgrade reverts this change"),
        "{}",
        allowed.stderr
    );
    let rotated = String::from_utf8(ns.secret_data("argo").await["ARGO_TOKEN"].clone()).unwrap();
    assert_ne!(rotated, values[0]);
    let now = ns.pod_names("api-").await;
    assert!(
        now.iter().all(|p| !pods.contains(p)),
        "consumer restarted: {pods:?} → {now:?}\n{allowed:?}"
    );

    // rollback is a write of the Secret too.
    let rollback = ns.run(&["rollback", "argo", "--yes"]);
    assert_eq!(rollback.code, exit::USAGE, "{rollback:?}");
    assert!(rollback.stderr.contains("--allow-gitops-drift"), "{}", rollback.stderr);
    let rollback = ns.run(&["rollback", "argo", "--allow-gitops-drift", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert_eq!(
        String::from_utf8(ns.secret_data("argo").await["ARGO_TOKEN"].clone()).unwrap(),
        values[0]
    );

    // list names the owner; audit says where the values really live.
    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let rows = list.json()["secrets"].clone();
    let owner_of = |name: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .map(|r| (r["owner"].clone(), r["gitops"]["tool"].clone()))
            .unwrap()
    };
    assert_eq!(
        owner_of("argo"),
        (json!("Application/payments (Argo CD)"), json!("Argo CD"))
    );
    assert_eq!(
        owner_of("flux"),
        (json!("Kustomization/flux-system/apps (Flux)"), json!("Flux"))
    );
    assert_eq!(owner_of("helm"), (json!("Helm/redis"), json!("Helm")));
    let table = ns.run(&["list"]);
    assert!(
        table.stdout.contains("Application/payments (Argo CD)"),
        "{}",
        table.stdout
    );

    let audit = ns.run(&["audit", "-o", "json"]);
    let findings: Vec<(String, String, String)> = audit.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "gitops-plain-secret")
        .map(|f| {
            let text = |field: &str| f[field].as_str().unwrap().to_string();
            (text("secret"), text("message"), text("fix"))
        })
        .collect();
    assert_eq!(findings.len(), 3, "{findings:?}");
    let finding = |secret: &str| findings.iter().find(|(s, _, _)| s == secret).unwrap();
    assert!(
        finding("argo").1.contains("its values are in the Git repository"),
        "{findings:?}"
    );
    assert!(
        finding("argo").2.contains(&format!(
            "kubectl secrets seal argo -n {} --from-secret), or move the values to a secret store",
            ns.name
        )),
        "{findings:?}"
    );
    assert!(finding("helm").1.contains("the release's values"), "{findings:?}");
    assert!(
        finding("helm")
            .2
            .contains("existingSecret value) that kubectl-secrets, a SealedSecret"),
        "{findings:?}"
    );

    runs.extend([allowed, rollback, list, table, audit]);
    for run in &runs {
        run.assert_no_leak(values.iter().chain([&rotated]));
    }
}

/// Argo CD's Application resource, as far as kubectl-secrets reads it (what it deploys, in
/// `status.resources`). The bed runs no Argo CD: the test writes the Application's status as
/// its controller would.
fn install_application_crd() {
    crate::support::kubectl_apply(
        &json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": "applications.argoproj.io"},
            "spec": {
                "group": "argoproj.io",
                "names": {"kind": "Application", "listKind": "ApplicationList", "plural": "applications", "singular": "application"},
                "scope": "Namespaced",
                "versions": [{"name": "v1alpha1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
            }
        })
        .to_string(),
    );
    let out = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&crate::support::cluster().admin_kubeconfig)
        .args([
            "wait",
            "--for=condition=Established",
            "crd/applications.argoproj.io",
            "--timeout=60s",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn argo_cds_instance_label_counts_once_an_application_lists_the_secret() {
    install_application_crd();
    let ns = TestNamespace::new("gitops-instance").await;
    let argocd = TestNamespace::new("gitops-argocd").await;
    // Unique across the bed: Applications are looked up by name in every namespace.
    let app = format!("web-{}", ns.name);
    let value = canary("instance");
    ns.create_secret(json!({
        "metadata": {"name": "web-db", "labels": {"app.kubernetes.io/instance": app}},
        "stringData": {"DB_TOKEN": value}
    }))
    .await;

    // The label alone (Helm charts and kustomizations set it too) is not ownership.
    let plain = ns.run(&["rotate", "web-db", "--key", "DB_TOKEN", "--yes"]);
    assert_eq!(plain.code, exit::OK, "{plain:?}");
    let rotated = String::from_utf8(ns.secret_data("web-db").await["DB_TOKEN"].clone()).unwrap();

    // An Application of that name that deploys another namespace's web-db: still not.
    let elsewhere = json!({"kind": "Secret", "namespace": "elsewhere", "name": "web-db", "version": "v1"});
    argocd.apply(&json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": app},
        "spec": {"project": "default"},
        "status": {"resources": [elsewhere]}
    }));
    let other = ns.run(&["rotate", "web-db", "--key", "DB_TOKEN", "--yes"]);
    assert_eq!(other.code, exit::OK, "{other:?}");
    let rotated_again = String::from_utf8(ns.secret_data("web-db").await["DB_TOKEN"].clone()).unwrap();

    // Once the Application lists this Secret, the next sync would write it back: refused.
    argocd.apply(&json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": app},
        "spec": {"project": "default"},
        "status": {"resources": [elsewhere, {"kind": "Secret", "namespace": ns.name, "name": "web-db", "version": "v1"}]}
    }));
    let before = ns.secret_data("web-db").await;
    let refused = ns.run(&["rotate", "web-db", "--key", "DB_TOKEN", "--yes"]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    for part in [
        format!("deployed by Argo CD Application/{app}"),
        format!(
            "label app.kubernetes.io/instance, listed by Application {}/{app}",
            argocd.name
        ),
        "--allow-gitops-drift".into(),
    ] {
        assert!(refused.stderr.contains(&part), "{part}: {}", refused.stderr);
    }
    assert_eq!(ns.secret_data("web-db").await, before, "nothing written");

    let allowed = ns.run(&["rotate", "web-db", "--key", "DB_TOKEN", "--allow-gitops-drift", "--yes"]);
    assert_eq!(allowed.code, exit::OK, "{allowed:?}");
    assert!(
        allowed.stderr.contains("its next sync or upgrade reverts this change"),
        "{}",
        allowed.stderr
    );
    let third = String::from_utf8(ns.secret_data("web-db").await["DB_TOKEN"].clone()).unwrap();

    // Someone who may rotate in this namespace but not list Applications is told what could
    // not be checked.
    ns.grant(
        "limited",
        json!([{"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
               {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["get", "list", "watch", "patch"]}]),
    );
    let unchecked = ns.run_as("limited", &["rotate", "web-db", "--key", "DB_TOKEN", "--yes"], b"");
    assert_eq!(unchecked.code, exit::OK, "{unchecked:?}");
    assert!(
        unchecked.stderr.contains(&format!(
            "carries app.kubernetes.io/instance={app}; whether an Argo CD Application of that name deploys it could not be checked"
        )),
        "{}",
        unchecked.stderr
    );
    for run in [&plain, &other, &refused, &allowed, &unchecked] {
        run.assert_no_leak([&value, &rotated, &rotated_again, &third]);
    }
}
