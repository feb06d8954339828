//! Argo Rollouts as consumers, with the real Argo Rollouts controller: verify and list see them,
//! rotate restarts them through their own strategy (a canary pause step is reported, or
//! continued with --promote), and a crash-looping canary is rolled back.

use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::support::{annotations, canary, exit, next_second, workload, TestNamespace};

fn rollouts(ns: &TestNamespace) -> Api<DynamicObject> {
    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout"), "rollouts");
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

/// A canary Rollout of `replicas` pods reading Secret `secret` through envFrom: 50 %, then a
/// pause without a duration (a person's decision, or --promote).
fn canary_rollout(name: &str, replicas: i32, secret: &str, pod_annotations: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": pod_annotations},
                "spec": {"containers": [{"name": name, "image": name, "envFrom": [{"secretRef": {"name": secret}}]}]},
            },
        },
    })
}

async fn create(ns: &TestNamespace, manifest: Value) {
    let object: DynamicObject = serde_json::from_value(manifest).unwrap();
    rollouts(ns)
        .create(&PostParams::default(), &object)
        .await
        .expect("create Rollout");
}

async fn get(ns: &TestNamespace, name: &str) -> DynamicObject {
    rollouts(ns).get(name).await.expect("get Rollout")
}

/// Wait until the controller reports the phase for the current generation.
async fn wait_phase(ns: &TestNamespace, name: &str, phase: &str) -> DynamicObject {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let rollout = get(ns, name).await;
        let status = &rollout.data["status"];
        let observed = status["observedGeneration"]
            .as_str()
            .and_then(|g| g.parse::<i64>().ok());
        if observed == rollout.metadata.generation && status["phase"] == phase {
            return rollout;
        }
        assert!(
            Instant::now() < deadline,
            "rollout/{name} never became {phase}: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_canary_rollout_is_verified_rotated_paused_and_promoted() {
    let ns = TestNamespace::new("rollouts").await;
    let old = canary("rollout-old");
    ns.secret("checkout-secrets", &[("API_KEY", &old)]).await;
    create(&ns, canary_rollout("checkout", 2, "checkout-secrets", json!({}))).await;
    wait_phase(&ns, "checkout", "Healthy").await;

    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    let report = verify.json();
    let checkout = workload(&report, "Rollout", "checkout");
    assert_eq!(checkout["status"], "ok", "{checkout}");
    assert_eq!(checkout["containersChecked"], 2, "{checkout}");
    let list = ns.run(&["list", "-o", "json"]);
    let listed = &list.json()["secrets"][0];
    assert_eq!(listed["consumers"], 1, "the Rollout reads it: {listed}");

    // Without --promote the canary stops at its pause step: reported, nothing undone.
    next_second().await;
    let paused = ns.run(&[
        "rotate",
        "checkout-secrets",
        "--key",
        "API_KEY",
        "--yes",
        "--min-restart-interval",
        "0",
        "--timeout",
        "60s",
    ]);
    assert_eq!(
        paused.code,
        exit::FOUND,
        "the stable pod still runs the old value: {paused:?}"
    );
    assert!(paused.stderr.contains("rollout/checkout"), "{}", paused.stderr);
    assert!(
        paused.stderr.contains("paused at canary step 2 of 2"),
        "{}",
        paused.stderr
    );
    assert_eq!(
        ns.secret_annotation("checkout-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("1"),
        "a pause is not a failure: the new value stays"
    );
    assert_eq!(
        ns.secret_annotation("checkout-secrets", annotations::JOURNAL).await,
        None
    );
    let rollout = wait_phase(&ns, "checkout", "Paused").await;
    assert_eq!(
        rollout.data["status"]["currentStepIndex"], 1,
        "{:#}",
        rollout.data["status"]
    );
    let reported_stale = ns.run(&["verify", "checkout-secrets", "-o", "json"]);
    assert_eq!(reported_stale.code, exit::FOUND);
    assert_eq!(
        workload(&reported_stale.json(), "Rollout", "checkout")["status"],
        "stale"
    );
    let paused_value = String::from_utf8(ns.secret_data("checkout-secrets").await["API_KEY"].clone()).unwrap();

    // With --promote the next rotation runs through every step and ends with exact evidence.
    let promoted = ns.run(&[
        "rotate",
        "checkout-secrets",
        "--key",
        "API_KEY",
        "--promote",
        "--yes",
        "--min-restart-interval",
        "0",
        "--timeout",
        "90s",
    ]);
    assert_eq!(promoted.code, exit::OK, "{promoted:?}");
    assert!(promoted.stderr.contains("promoted"), "{}", promoted.stderr);
    let rollout = wait_phase(&ns, "checkout", "Healthy").await;
    let stamped =
        rollout.data["spec"]["template"]["metadata"]["annotations"][annotations::POD_SECRET_REVISIONS].clone();
    assert_eq!(stamped, json!(r#"{"checkout-secrets":2}"#), "{stamped}");
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    let report = verify.json();
    let findings = workload(&report, "Rollout", "checkout")["findings"]
        .as_array()
        .unwrap()
        .clone();
    let running: Vec<&Value> = findings.iter().filter(|f| f["pod"].is_string()).collect();
    assert_eq!(running.len(), 2, "{findings:?}");
    assert!(
        running.iter().all(|f| f["status"] == "ok" && f["evidence"] == "exact"),
        "{findings:?}"
    );
    let new_value = String::from_utf8(ns.secret_data("checkout-secrets").await["API_KEY"].clone()).unwrap();

    // Changed by hand: verify --fix restarts the Rollout through its steps, promoted.
    let by_hand = canary("rollout-by-hand");
    next_second().await;
    ns.patch_secret("checkout-secrets", &[("API_KEY", &by_hand)]).await;
    next_second().await;
    let fixed = ns.run(&["verify", "--fix", "--promote", "--yes", "--timeout", "90s"]);
    assert_eq!(fixed.code, exit::OK, "{fixed:?}");
    assert!(
        fixed.stdout.contains("restart 1 workload (") && fixed.stdout.contains("rollout/checkout"),
        "the plan is on stdout: {fixed:?}"
    );
    wait_phase(&ns, "checkout", "Healthy").await;
    for run in [&verify, &list, &paused, &reported_stale, &promoted, &fixed] {
        run.assert_no_leak([&old, &paused_value, &new_value, &by_hand]);
    }
}

#[tokio::test]
async fn a_crash_looping_canary_is_rolled_back_and_promoted_fully() {
    let ns = TestNamespace::new("rollouts-crash").await;
    let value = canary("rollout-crash");
    ns.secret("payments-secrets", &[("TOKEN", &value)]).await;
    // The app rejects revision 1 of the Secret (kwok Stage): a bad new value.
    let crashing = json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"payments-secrets":1}"#});
    create(&ns, canary_rollout("payments", 2, "payments-secrets", crashing)).await;
    wait_phase(&ns, "payments", "Healthy").await;

    let run = ns.run(&[
        "rotate",
        "payments-secrets",
        "--key",
        "TOKEN",
        "--yes",
        "--timeout",
        "60s",
    ]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(run.stderr.contains("rollout/payments"), "{}", run.stderr);
    assert_eq!(
        ns.secret_data("payments-secrets").await["TOKEN"],
        value.as_bytes(),
        "the previous data is back"
    );
    assert_eq!(
        ns.secret_annotation("payments-secrets", annotations::REVISION)
            .await
            .as_deref(),
        Some("2")
    );
    // The undo did not stop at the pause step: the Rollout is Healthy on revision 2.
    let rollout = wait_phase(&ns, "payments", "Healthy").await;
    assert_eq!(
        rollout.data["spec"]["template"]["metadata"]["annotations"][annotations::POD_SECRET_REVISIONS],
        json!(r#"{"payments-secrets":2}"#)
    );
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{}", verify.stdout);
    assert_eq!(workload(&verify.json(), "Rollout", "payments")["status"], "ok");
    run.assert_no_leak([&value]);
    verify.assert_no_leak([&value]);
}
