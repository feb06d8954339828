//! The audit trail in the cluster: rotate, rollback and verify --fix record Events on the
//! Secrets they change and the workloads they restart, and `kubectl get events` and
//! `kubectl describe` show them. Never a value.

use std::process::Command;

use serde_json::{json, Value};

use crate::support::{canary, cluster, deployment, exit, kubectl_path, TestNamespace};

/// `kubectl get events` of the namespace as JSON (core/v1 view of events.k8s.io Events).
pub(crate) fn events(ns: &TestNamespace) -> Vec<Value> {
    let out = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["get", "events", "-n", &ns.name, "-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    list["items"].as_array().unwrap().clone()
}

pub(crate) fn about<'a>(events: &'a [Value], kind: &str, name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["involvedObject"]["kind"] == kind && e["involvedObject"]["name"] == name)
        .filter(|e| e["reportingComponent"] == "kubectl-secrets")
        .collect()
}

fn describe(ns: &TestNamespace, what: &str) -> String {
    let out = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["describe", what, "-n", &ns.name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn rotate_rollback_and_fix_leave_events_on_the_secret_and_the_workloads() {
    let ns = TestNamespace::new("events").await;
    let value = canary("events");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;

    let rotate = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    let rotation = ns
        .secret_annotation("app", crate::support::annotations::ROTATION_ID)
        .await
        .unwrap();

    let all = events(&ns);
    let on_secret = about(&all, "Secret", "app");
    assert_eq!(on_secret.len(), 1, "{all:#?}");
    assert_eq!(on_secret[0]["reason"], "Rotated");
    assert_eq!(on_secret[0]["type"], "Normal");
    let note = on_secret[0]["message"].as_str().unwrap();
    for part in [
        "kubectl-secrets rotate by admin",
        "revision 1",
        &format!("rotation {rotation}"),
        "restarted deployment/api",
        "every consumer runs with the current data",
    ] {
        assert!(note.contains(part), "{part}: {note}");
    }
    let on_api = about(&all, "Deployment", "api");
    assert_eq!(on_api.len(), 1, "{all:#?}");
    assert_eq!(on_api[0]["reason"], "Restarted");
    assert!(
        on_api[0]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("for Secret app revision 1 (rotation {rotation})")),
        "{:?}",
        on_api[0]
    );
    // kubectl describe finds a workload's Events by its uid (it shows none for Secrets: a field
    // selector finds those).
    let described = describe(&ns, "deployment/api");
    assert!(
        described.contains("Restarted") && described.contains("kubectl-secrets"),
        "{described}"
    );
    let selected = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args([
            "get",
            "events",
            "-n",
            &ns.name,
            "--field-selector",
            "involvedObject.kind=Secret,involvedObject.name=app",
        ])
        .output()
        .unwrap();
    let selected = String::from_utf8_lossy(&selected.stdout);
    assert!(
        selected.contains("Rotated") && selected.contains("secret/app"),
        "{selected}"
    );

    let rollback = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    let all = events(&ns);
    assert!(
        about(&all, "Secret", "app")
            .iter()
            .any(|e| e["reason"] == "RolledBack" && e["message"].as_str().unwrap().contains("revision 2")),
        "{all:#?}"
    );

    // verify --fix: the Secret changes behind the workload's back (in a later second than the
    // rollback's write, which managedFields tell apart), then the fix restarts it.
    std::thread::sleep(std::time::Duration::from_secs(2));
    ns.patch_secret("app", &[("TOKEN", "changed-by-hand-0123456789")]).await;
    crate::support::next_second().await;
    let fix = ns.run(&["verify", "--fix", "--yes"]);
    assert_eq!(fix.code, exit::OK, "{fix:?}");
    let all = events(&ns);
    let restarts: Vec<&Value> = about(&all, "Deployment", "api")
        .into_iter()
        .filter(|e| e["message"].as_str().unwrap().contains("verify --fix"))
        .collect();
    assert_eq!(restarts.len(), 1, "{fix:?}");
    assert!(restarts[0]["message"]
        .as_str()
        .unwrap()
        .contains("ran with older data of Secret app"));

    let text = serde_json::to_string(&all).unwrap();
    for secret in [&value, &rotated, &"changed-by-hand-0123456789".to_string()] {
        assert!(!text.contains(secret.as_str()), "a value reached an Event");
    }
    for run in [&rotate, &rollback, &fix] {
        run.assert_no_leak([&value, &rotated]);
    }
}

#[tokio::test]
async fn a_failed_rotation_is_a_warning_event_and_no_permission_for_events_changes_nothing_else() {
    let ns = TestNamespace::new("events-fail").await;
    let value = canary("events-fail");
    ns.secret("app", &[("TOKEN", &value)]).await;
    let spec = json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]});
    // The app rejects revision 1 of the Secret (kwok Stage): a bad new value.
    let crashing = crate::support::with_pod_annotations(
        deployment("api", 1, spec),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"app":1}"#}),
    );
    ns.create_deployment(crashing).await;
    ns.wait_ready("deployment", "api").await;

    let failed = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--timeout", "60s"]);
    assert_eq!(failed.code, exit::ROLLED_BACK, "{failed:?}");
    let all = events(&ns);
    let on_secret = about(&all, "Secret", "app");
    assert_eq!(on_secret.len(), 1, "{all:#?}");
    assert_eq!(
        (&on_secret[0]["type"], &on_secret[0]["reason"]),
        (&json!("Warning"), &json!("RotationFailed"))
    );
    assert!(
        on_secret[0]["message"].as_str().unwrap().contains("CrashLoopBackOff"),
        "{:?}",
        on_secret[0]
    );
    assert!(
        about(&all, "Deployment", "api").iter().any(|e| e["type"] == "Warning"),
        "{all:#?}"
    );

    // A user with every permission of the rotate role except Events: the rotation works and
    // says the audit trail could not be written.
    ns.grant(
        "limited",
        json!([
            {"apiGroups": [""], "resources": ["secrets", "pods"], "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"], "verbs": ["get", "list", "watch", "patch"]}
        ]),
    );
    let run = ns.run_as(
        "limited",
        &["rotate", "app", "--key", "TOKEN", "--no-restart", "--yes"],
        b"",
    );
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("could not record") && run.stderr.contains("the change itself is done"),
        "{}",
        run.stderr
    );
    assert_eq!(about(&events(&ns), "Secret", "app").len(), 1, "no new Event");
    let rotated = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    assert_ne!(rotated, value);
    for out in [&failed, &run] {
        out.assert_no_leak([&value, &rotated]);
    }
}
