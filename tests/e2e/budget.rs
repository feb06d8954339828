//! The restart budget across runs: each restart is recorded on the workload, a second one
//! within --min-restart-interval is refused under --yes (a question on a terminal), undo paths
//! are never held back, and --max-restarts caps a plan before anything is written.

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use crate::support::{annotations, canary, deployment, exit, TestNamespace};

async fn last_restart(ns: &TestNamespace, name: &str) -> Option<serde_json::Value> {
    let d = kube::Api::<Deployment>::namespaced(ns.client.clone(), &ns.name)
        .get(name)
        .await
        .expect("get deployment");
    let text = d.metadata.annotations?.get(annotations::LAST_RESTART)?.clone();
    Some(serde_json::from_str(&text).expect("the record is JSON"))
}

fn reader(name: &str) -> serde_json::Value {
    deployment(
        name,
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
    )
}

#[tokio::test]
async fn a_second_restart_within_the_interval_is_refused_under_yes_and_undo_is_never_held_back() {
    let ns = TestNamespace::new("budget").await;
    let token = canary("token");
    ns.secret("app", &[("TOKEN", &token)]).await;
    ns.create_deployment(reader("api")).await;
    ns.wait_ready("deployment", "api").await;
    assert_eq!(last_restart(&ns, "api").await, None);

    let first = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(first.code, exit::OK, "{first:?}");
    let rotated = ns.secret_data("app").await["TOKEN"].clone();
    let change = ns.secret_annotation("app", annotations::ROTATION_ID).await.unwrap();
    let record = last_restart(&ns, "api")
        .await
        .expect("the restart is recorded on the workload");
    assert_eq!(record["change"], json!(change), "{record}");
    assert!(record["at"].as_str().unwrap().ends_with('Z'), "{record}");

    // A minute later (here: at once), unattended: refused, naming the workload, the change
    // that restarted it and the ways on; nothing written.
    let second = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(second.code, exit::USAGE, "{second:?}");
    for part in [
        format!("deployment/api was restarted by kubectl-secrets by change {change}"),
        "--min-restart-interval 5m".to_string(),
        "nothing was changed".to_string(),
        "--min-restart-interval 0".to_string(),
    ] {
        assert!(second.stderr.contains(&part), "{part}: {}", second.stderr);
    }
    assert_eq!(ns.secret_data("app").await["TOKEN"], rotated);

    // The plan says so (a dry run, or before the question on a terminal).
    let dry = ns.run(&["rotate", "app", "--key", "TOKEN", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stderr
            .contains("restarting it again within --min-restart-interval 5m"),
        "{}",
        dry.stderr
    );

    // Undoing is never held back.
    let rollback = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert_eq!(ns.secret_data("app").await["TOKEN"], token.as_bytes());

    // Asked for explicitly: restarted again.
    let again = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(again.code, exit::OK, "{again:?}");
    for out in [&first, &second, &dry, &rollback, &again] {
        out.assert_no_leak([&token]);
    }
}

#[tokio::test]
async fn max_restarts_refuses_a_plan_that_restarts_more_before_anything_is_written() {
    let ns = TestNamespace::new("budget-max").await;
    let token = canary("token");
    ns.secret("app", &[("TOKEN", &token)]).await;
    for name in ["api", "web"] {
        ns.create_deployment(reader(name)).await;
    }
    ns.wait_ready("deployment", "web").await;
    let capped = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--max-restarts", "1"]);
    assert_eq!(capped.code, exit::USAGE, "{capped:?}");
    assert!(
        capped.stderr.contains("would restart 2 workloads") && capped.stderr.contains("--max-restarts 1"),
        "{}",
        capped.stderr
    );
    assert_eq!(ns.secret_data("app").await["TOKEN"], token.as_bytes());
    assert_eq!(last_restart(&ns, "api").await, None, "nothing restarted");
    let enough = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--max-restarts", "2"]);
    assert_eq!(enough.code, exit::OK, "{enough:?}");
    for out in [&capped, &enough] {
        out.assert_no_leak([&token]);
    }
}

#[tokio::test]
async fn a_restart_record_written_far_ahead_holds_nothing_back() {
    let ns = TestNamespace::new("budget-forged").await;
    let token = canary("token");
    ns.secret("app", &[("TOKEN", &token)]).await;
    ns.create_deployment(reader("api")).await;
    ns.wait_ready("deployment", "api").await;
    // Whoever may edit the workload could write this to hold every scheduled rotation back.
    let patch = json!({"metadata": {"annotations": {
        annotations::LAST_RESTART: r#"{"at":"2099-01-01T00:00:00Z","change":"forged"}"#
    }}});
    kube::Api::<Deployment>::namespaced(ns.client.clone(), &ns.name)
        .patch(
            "api",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("annotate the deployment");
    let run = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(!run.stderr.contains("forged"), "{}", run.stderr);
    let record = last_restart(&ns, "api").await.unwrap();
    assert_ne!(record["change"], "forged", "replaced by the real restart: {record}");
    run.assert_no_leak([&token]);
}
