//! Several Secrets in one change (`rotate S1 S2 ...`, `rotate -l SELECTOR`): one plan, one
//! backup and write, each consumer restarted once, paced batches, one verify.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use serde_json::json;

use crate::support::{annotations, canary, deployment, exit, TestNamespace};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 value")
}

async fn generation(ns: &TestNamespace, name: &str) -> i64 {
    Api::<Deployment>::namespaced(ns.client.clone(), &ns.name)
        .get(name)
        .await
        .expect("get deployment")
        .metadata
        .generation
        .unwrap_or(0)
}

async fn labelled_secret(ns: &TestNamespace, name: &str, team: &str, data: &[(&str, &str)]) {
    let string_data: serde_json::Map<String, serde_json::Value> =
        data.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    ns.create_secret(json!({
        "metadata": {"name": name, "labels": {"team": team}},
        "stringData": string_data,
    }))
    .await;
}

/// Three Secrets selected by label (two share a database password), a Deployment reading two
/// of them restarted once, another paced into a second batch; an unlabelled Secret untouched.
#[tokio::test]
async fn three_secrets_by_label_in_one_plan_restart_a_shared_consumer_once() {
    let ns = TestNamespace::new("rotate-many").await;
    let (api_key, password, untouched) = (canary("api-key"), canary("shared-password"), canary("untouched"));
    labelled_secret(&ns, "payments-api", "payments", &[("API_KEY", &api_key)]).await;
    labelled_secret(&ns, "payments-db", "payments", &[("DB_PASSWORD", &password)]).await;
    labelled_secret(&ns, "reporting-db", "payments", &[("DB_PASSWORD", &password)]).await;
    labelled_secret(&ns, "search", "search", &[("TOKEN", &untouched)]).await;
    let env_from = |secrets: &[&str]| {
        let sources: Vec<serde_json::Value> = secrets.iter().map(|s| json!({"secretRef": {"name": s}})).collect();
        json!({"containers": [{"name": "app", "image": "app", "envFrom": sources}]})
    };
    ns.create_deployment(deployment("checkout", 2, env_from(&["payments-api", "payments-db"])))
        .await;
    ns.create_deployment(deployment("reports", 1, env_from(&["reporting-db"])))
        .await;
    ns.create_deployment(deployment("search", 1, env_from(&["search"])))
        .await;
    for name in ["checkout", "reports", "search"] {
        ns.wait_ready("deployment", name).await;
    }
    let before: Vec<i64> =
        futures::future::join_all(["checkout", "reports", "search"].map(|d| generation(&ns, d))).await;

    let run = ns.run(&[
        "rotate",
        "-l",
        "team=payments",
        "--key",
        "payments-api/API_KEY=alnum:40",
        "--key",
        "DB_PASSWORD",
        "--max-parallel",
        "1",
        "--batch-interval",
        "2s",
        "--no-issuer",
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    // One plan: three Secrets, each consumer once.
    for secret in ["payments-api", "payments-db", "reporting-db"] {
        assert!(run.stdout.contains(secret), "{}", run.stdout);
    }
    assert!(!run.stdout.contains("search"), "{}", run.stdout);
    let plan_rows = |workload: &str| {
        run.stdout
            .lines()
            .filter(|l| l.starts_with(workload) && l.contains(" restart "))
            .count()
    };
    assert!(
        run.stdout
            .contains("in batches of 1, each 2s after the previous one is complete"),
        "{}",
        run.stdout
    );
    assert_eq!(plan_rows("deployment/checkout"), 1, "{}", run.stdout);
    assert_eq!(plan_rows("deployment/reports"), 1, "{}", run.stdout);
    assert!(
        run.stdout.contains("generated, shared with payments-db/DB_PASSWORD"),
        "{}",
        run.stdout
    );

    // Each consumer restarted exactly once, the unrelated one not at all.
    let after: Vec<i64> =
        futures::future::join_all(["checkout", "reports", "search"].map(|d| generation(&ns, d))).await;
    assert_eq!(after, [before[0] + 1, before[1] + 1, before[2]], "generations");
    assert_eq!(
        ns.template_annotation("checkout", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        // Every Secret the change wrote is stamped (one change, one set of revisions).
        Some(r#"{"payments-api":1,"payments-db":1,"reporting-db":1}"#)
    );
    // The shared password stays shared; the unlabelled Secret is as it was.
    let shared = text(&ns.secret_data("payments-db").await["DB_PASSWORD"]);
    assert_ne!(shared, password);
    assert_eq!(text(&ns.secret_data("reporting-db").await["DB_PASSWORD"]), shared);
    let new_key = text(&ns.secret_data("payments-api").await["API_KEY"]);
    assert_eq!(new_key.len(), 40);
    assert_eq!(text(&ns.secret_data("search").await["TOKEN"]), untouched);
    assert_eq!(ns.secret_annotation("search", annotations::REVISION).await, None);

    // Paced: the second batch starts after the first is complete and the interval said.
    let lines: Vec<&str> = run.stderr.lines().collect();
    let position = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let note = position("batch done; the next 1 workload in 2s").unwrap_or_else(|| panic!("{}", run.stderr));
    let first_done = position("complete").expect("a complete rollout");
    let second_start = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| *i > note)
        .find(|(_, l)| l.contains("deployment/"))
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("{}", run.stderr));
    assert!(first_done < note && note < second_start, "{}", run.stderr);

    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{}", verify.stdout);
    for out in [&run, &verify] {
        out.assert_no_leak([&api_key, &password, &untouched, &shared, &new_key]);
    }
}

/// Named Secrets with qualified keys; every refusal names the fix and changes nothing.
#[tokio::test]
async fn named_secrets_and_their_refusals() {
    let ns = TestNamespace::new("rotate-many-named").await;
    let (a, b) = (canary("a"), canary("b"));
    ns.secret("first", &[("TOKEN", &a)]).await;
    ns.secret("second", &[("PASSWORD", &b)]).await;

    let refusals = [
        (
            vec!["rotate", "first", "second", "--key", "TOKEN", "--yes"],
            "no key of Secret second",
        ),
        (
            vec!["rotate", "first", "second", "--key", "third/TOKEN", "--yes"],
            "Secret third, which is not one",
        ),
        (
            vec!["rotate", "first", "second", "--key", "TOKEN", "--phase", "add", "--yes"],
            "--phase is for one Secret",
        ),
        (vec!["rotate", "first", "second", "--resume"], "take one Secret"),
        (
            vec!["rotate", "-l", "team=nobody", "--all-keys", "--yes"],
            "no Secret in namespace",
        ),
        (
            vec!["rotate", "first", "--key", "second/PASSWORD", "--yes"],
            "only first is rotated here",
        ),
    ];
    for (args, expected) in &refusals {
        let run = ns.run(args);
        assert_eq!(run.code, exit::USAGE, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
        run.assert_no_leak([&a, &b]);
    }
    assert_eq!(ns.secret_annotation("first", annotations::REVISION).await, None);

    let run = ns.run(&[
        "rotate",
        "first",
        "second",
        "--key",
        "first/TOKEN",
        "--key",
        "second/PASSWORD=hex:16",
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_ne!(text(&ns.secret_data("first").await["TOKEN"]), a);
    assert_eq!(ns.secret_data("second").await["PASSWORD"].len(), 32);
    for name in ["first", "second"] {
        assert_eq!(
            ns.secret_annotation(name, annotations::REVISION).await.as_deref(),
            Some("1")
        );
    }
    run.assert_no_leak([&a, &b]);
}
