//! Fleet mode on three real local clusters (`make fleet-up`): verify, list, audit, history and
//! diff across kubeconfig contexts, one combined answer with the worst exit code; a stopped
//! cluster and a forbidden one are rows with their errors, never an abort of the others.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::Client;
use serde_json::{json, Value};

use crate::support::{canary, client_for, deployment, exit, next_second, run_with, started, Run};

/// The fleet's kubeconfig (contexts bed-0, bed-1, bed-2): from `make e2e`, or started here.
fn fleet_kubeconfig() -> &'static PathBuf {
    static FLEET: OnceLock<PathBuf> = OnceLock::new();
    FLEET.get_or_init(|| started("KUBECTL_SECRETS_E2E_FLEET", "scripts/fleet-up.sh"))
}

/// One namespace of the same name in each of the three clusters.
struct FleetNamespace {
    name: String,
    clients: Vec<Client>,
}

impl FleetNamespace {
    async fn new(prefix: &str) -> Self {
        let name = format!("e2e-{prefix}-{}", canary("ns").to_lowercase().replace("canary-ns-", ""));
        let dir = fleet_kubeconfig().parent().expect("fleet dir").to_path_buf();
        let mut clients = Vec::new();
        for bed in 0..3 {
            let client = client_for(&dir.join(format!("bed-{bed}/admin.kubeconfig"))).await;
            let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
            Api::<Namespace>::all(client.clone())
                .create(&PostParams::default(), &ns)
                .await
                .expect("create namespace");
            clients.push(client);
        }
        FleetNamespace { name, clients }
    }

    async fn secret(&self, bed: usize, name: &str, key: &str, value: &str) {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {key: value}})).unwrap();
        Api::<Secret>::namespaced(self.clients[bed].clone(), &self.name)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

    async fn patch_secret(&self, bed: usize, name: &str, key: &str, value: &str) {
        let params = PatchParams {
            field_manager: Some("kubectl-patch".into()),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.clients[bed].clone(), &self.name)
            .patch(name, &params, &Patch::Merge(json!({"stringData": {key: value}})))
            .await
            .expect("patch secret");
    }

    async fn reader(&self, bed: usize, name: &str, secret: &str) {
        self.reader_with(bed, name, secret, json!({})).await;
    }

    /// A one-replica Deployment reading `secret` through envFrom, with these pod annotations,
    /// awaited until ready.
    async fn reader_with(&self, bed: usize, name: &str, secret: &str, pod_annotations: Value) {
        let spec =
            json!({"containers": [{"name": "app", "image": "app", "envFrom": [{"secretRef": {"name": secret}}]}]});
        let workload = crate::support::with_pod_annotations(deployment(name, 1, spec), pod_annotations);
        let d: Deployment = serde_json::from_value(workload).unwrap();
        let api = Api::<Deployment>::namespaced(self.clients[bed].clone(), &self.name);
        api.create(&PostParams::default(), &d).await.expect("create deployment");
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let d = api.get(name).await.expect("get deployment");
            if d.status.and_then(|s| s.ready_replicas) == Some(1) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} in bed-{bed} never became ready"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    fn run(&self, kubeconfig: &Path, args: &[&str]) -> Run {
        let mut full = args.to_vec();
        full.extend(["-n", &self.name]);
        run_with(kubeconfig, &full)
    }
}

/// The fleet's kubeconfig plus a context whose cluster is down (nothing listens on its port)
/// and one whose user may do nothing (bed-2's `limited`).
fn with_broken_contexts(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(fleet_kubeconfig()).unwrap();
    let mut config: Value = serde_saphyr::from_str(&text).unwrap();
    let bed2 = config["clusters"][2]["cluster"].clone();
    let mut down = bed2.clone();
    down["server"] = json!("https://127.0.0.1:38743");
    config["clusters"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "bed-down", "cluster": down}));
    let contexts = config["contexts"].as_array_mut().unwrap();
    contexts.push(json!({"name": "bed-down", "context": {"cluster": "bed-down", "user": "bed-2-admin"}}));
    contexts.push(json!({"name": "bed-2-limited", "context": {"cluster": "bed-2", "user": "bed-2-limited"}}));
    let path = dir.join("fleet-and-broken.kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

fn entry<'a>(report: &'a Value, context: &str) -> &'a Value {
    report["contexts"]
        .as_array()
        .expect("contexts")
        .iter()
        .find(|e| e["context"] == context)
        .unwrap_or_else(|| panic!("no entry for {context}: {report:#}"))
}

#[tokio::test]
async fn verify_list_audit_and_history_across_three_clusters() {
    let ns = FleetNamespace::new("fleet").await;
    let (password, drifted) = (canary("fleet-password"), canary("fleet-drifted"));
    for bed in 0..3 {
        ns.secret(bed, "shared-db", "PASSWORD", &password).await;
        ns.reader(bed, "api", "shared-db").await;
    }
    next_second().await;
    ns.patch_secret(1, "shared-db", "PASSWORD", &drifted).await;
    let fleet = fleet_kubeconfig();

    // The table: one row per context's workload, the drifted cluster stale; the worst exit.
    let verify = ns.run(fleet, &["verify", "--contexts", "bed-*"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    let row = |context: &str| {
        verify
            .stdout
            .lines()
            .find(|l| l.starts_with(context) && l.contains("deployment/api"))
            .unwrap_or_else(|| panic!("no row for {context}:\n{}", verify.stdout))
    };
    assert!(verify.stdout.starts_with("CONTEXT"), "{}", verify.stdout);
    assert!(row("bed-0").contains(" ok "), "{}", verify.stdout);
    assert!(row("bed-1").contains(" stale "), "{}", verify.stdout);
    assert!(row("bed-2").contains(" ok "), "{}", verify.stdout);
    assert!(
        verify.stdout.contains("3 contexts: 3 answered, 0 failed; exit 1"),
        "{}",
        verify.stdout
    );
    assert!(
        verify.stderr.contains("Asking 3 clusters: bed-0, bed-1, bed-2"),
        "{}",
        verify.stderr
    );

    let json = ns.run(fleet, &["verify", "--contexts", "/^bed-[01]$/", "-o", "json"]);
    assert_eq!(json.code, exit::FOUND, "{json:?}");
    let report = json.json();
    assert_eq!(report["kind"], "FleetReport");
    assert_eq!(report["command"], "verify");
    assert_eq!(
        report["summary"],
        json!({"contexts": 2, "answered": 2, "failed": 0, "exitCode": 1})
    );
    assert_eq!(entry(&report, "bed-1")["report"]["summary"]["stale"], 1);
    assert_eq!(entry(&report, "bed-0")["exitCode"], 0);

    // A stopped cluster and a forbidden one: rows with their errors; the others answer.
    let dir = tempfile::tempdir().unwrap();
    let broken = with_broken_contexts(dir.path());
    let mixed = ns.run(
        &broken,
        &["verify", "--all-contexts", "--cluster-timeout", "20s", "-o", "json"],
    );
    assert_eq!(mixed.code, exit::FORBIDDEN, "the worst exit code: {mixed:?}");
    let report = mixed.json();
    assert_eq!(entry(&report, "bed-down")["exitCode"], exit::UNREACHABLE, "{report:#}");
    assert!(entry(&report, "bed-down")["error"].as_str().unwrap().contains("38743"));
    assert_eq!(
        entry(&report, "bed-2-limited")["exitCode"],
        exit::FORBIDDEN,
        "{report:#}"
    );
    assert_eq!(entry(&report, "bed-1")["report"]["summary"]["stale"], 1);
    assert_eq!(report["summary"]["answered"], 3);
    assert_eq!(report["summary"]["failed"], 2);
    let table = ns.run(&broken, &["verify", "--all-contexts"]);
    assert_eq!(table.code, exit::FORBIDDEN);
    let down_row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("bed-down"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(down_row.contains("error") && down_row.contains("exit 4"), "{down_row}");
    assert!(table.stderr.contains("bed-down: failed (exit 4)"), "{}", table.stderr);

    // list, audit and history answer the same way.
    let list = ns.run(
        fleet,
        &["list", "--contexts", "bed-0", "--contexts", "bed-2", "-o", "json"],
    );
    assert_eq!(list.code, exit::OK, "{list:?}");
    let listed = list.json();
    assert_eq!(entry(&listed, "bed-2")["report"]["secrets"][0]["name"], "shared-db");
    let audit = ns.run(fleet, &["audit", "--contexts", "bed-*", "--fail-on", "critical"]);
    assert!(audit.stdout.starts_with("CONTEXT"), "{audit:?}");
    let history = ns.run(fleet, &["history", "shared-db", "--all-contexts"]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    assert_eq!(
        history.stdout.lines().filter(|l| l.contains("(current)")).count(),
        3,
        "{}",
        history.stdout
    );

    // One cluster or several: never both.
    let both = ns.run(fleet, &["verify", "--context", "bed-0", "--contexts", "bed-*"]);
    assert_eq!(both.code, exit::USAGE, "{both:?}");
    let none = ns.run(fleet, &["verify", "--contexts", "prod-*"]);
    assert_eq!(none.code, exit::USAGE);
    assert!(
        none.stderr.contains("--contexts prod-* matches no context"),
        "{}",
        none.stderr
    );

    for run in [&verify, &json, &mixed, &table, &list, &audit, &history] {
        run.assert_no_leak([&password, &drifted]);
    }
}

#[tokio::test]
async fn diff_across_contexts_shows_drift_and_reuse() {
    let ns = FleetNamespace::new("fleet-diff").await;
    let (shared, other) = (canary("fleet-shared"), canary("fleet-other"));
    ns.secret(0, "api-keys", "TOKEN", &shared).await;
    ns.secret(1, "api-keys", "TOKEN", &other).await;
    ns.secret(2, "api-keys", "TOKEN", &shared).await;
    let fleet = fleet_kubeconfig();

    let run = ns.run(fleet, &["diff", "api-keys", "--across-contexts", "--all-contexts"]);
    assert_eq!(run.code, exit::FOUND, "{run:?}");
    let row = |context: &str| {
        run.stdout
            .lines()
            .find(|l| l.starts_with(context) && l.contains("TOKEN"))
            .unwrap_or_else(|| panic!("no row for {context}:\n{}", run.stdout))
    };
    assert!(row("bed-1").contains("changed"), "{}", run.stdout);
    assert!(row("bed-2").contains("same"), "{}", run.stdout);
    assert!(
        run.stderr.contains("TOKEN has the same value in bed-0/") && run.stderr.contains("bed-2/"),
        "the reuse warning: {}",
        run.stderr
    );
    let json = ns.run(
        fleet,
        &["diff", "api-keys", "--across-contexts", "--all-contexts", "-o", "json"],
    );
    let report = json.json();
    assert_eq!(entry(&report, "bed-1")["exitCode"], exit::FOUND);
    assert_eq!(entry(&report, "bed-2")["report"]["reused"], json!(["TOKEN"]));
    // With nothing to compare with, clap says which flags would do.
    let missing_side = ns.run(fleet, &["diff", "api-keys", "--all-contexts"]);
    assert_eq!(missing_side.code, exit::USAGE, "{missing_side:?}");
    assert!(
        missing_side.stderr.contains("--across-contexts"),
        "{}",
        missing_side.stderr
    );
    for out in [&run, &json, &missing_side] {
        out.assert_no_leak([&shared, &other]);
    }
}

impl FleetNamespace {
    async fn data(&self, bed: usize, name: &str, key: &str) -> String {
        let secret = Api::<Secret>::namespaced(self.clients[bed].clone(), &self.name)
            .get(name)
            .await
            .expect("get secret");
        String::from_utf8(secret.data.unwrap_or_default()[key].0.clone()).unwrap()
    }

    async fn annotation(&self, bed: usize, name: &str, key: &str) -> Option<String> {
        let secret = Api::<Secret>::namespaced(self.clients[bed].clone(), &self.name)
            .get(name)
            .await
            .expect("get secret");
        secret.metadata.annotations.unwrap_or_default().get(key).cloned()
    }
}

#[tokio::test]
async fn a_shared_credential_rotated_in_waves_with_a_canary() {
    use crate::support::annotations;
    let ns = FleetNamespace::new("fleet-waves").await;
    let old = canary("fleet-wave-old");
    for bed in 0..3 {
        ns.secret(bed, "db-credentials", "PASSWORD", &old).await;
        ns.reader(bed, "api", "db-credentials").await;
    }
    let fleet = fleet_kubeconfig();
    let run = ns.run(
        fleet,
        &[
            "rotate",
            "db-credentials",
            "--contexts",
            "bed-*",
            "--wave",
            "canary=bed-1",
            "--key",
            "PASSWORD",
            "--no-issuer",
            "--yes",
        ],
    );
    assert_eq!(run.code, exit::OK, "{run:?}");
    // Planned everywhere before anything was written; the canary first.
    let position = |needle: &str| {
        run.stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}:\n{}", run.stderr))
    };
    assert!(
        position("== Cluster bed-2 (rest) ==") < position("Waves, in order"),
        "{}",
        run.stderr
    );
    // The plans on stdout say which cluster each is for, even with stderr away.
    for bed in 0..3 {
        let header = format!("Plan for namespace {} in cluster bed-{bed} ", ns.name);
        assert!(run.stdout.contains(&header), "{header}:\n{}", run.stdout);
    }
    assert!(
        position("Rotating in bed-1 (canary)") < position("Rotating in bed-0 (rest)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the same new values in every cluster"),
        "{}",
        run.stderr
    );
    let new = ns.data(0, "db-credentials", "PASSWORD").await;
    assert_ne!(new, old);
    for bed in 1..3 {
        assert_eq!(
            ns.data(bed, "db-credentials", "PASSWORD").await,
            new,
            "bed-{bed} shares the new value"
        );
        assert_eq!(
            ns.annotation(bed, "db-credentials", annotations::REVISION)
                .await
                .as_deref(),
            Some("1")
        );
    }
    let verify = ns.run(fleet, &["verify", "--all-contexts"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    for out in [&run, &verify] {
        out.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn a_failure_in_the_second_wave_rolls_that_cluster_back_and_stops() {
    use crate::support::annotations;
    let ns = FleetNamespace::new("fleet-stop").await;
    let old = canary("fleet-stop-old");
    for bed in 0..3 {
        ns.secret(bed, "payments", "TOKEN", &old).await;
    }
    ns.reader(0, "api", "payments").await;
    // In bed-1 the app rejects revision 1 (the new value): its rollout crash-loops.
    let crash = json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"payments":1}"#});
    ns.reader_with(1, "api", "payments", crash).await;
    ns.reader(2, "api", "payments").await;
    let fleet = fleet_kubeconfig();
    let run = ns.run(
        fleet,
        &[
            "rotate",
            "payments",
            "--contexts",
            "bed-*",
            "--waves",
            "3",
            "--key",
            "TOKEN",
            "--timeout",
            "60s",
            "--yes",
        ],
    );
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(run.stderr.contains("CrashLoopBackOff"), "{}", run.stderr);
    assert!(run.stderr.contains("the next waves are not started"), "{}", run.stderr);
    let summary = &run.stderr[run.stderr.find("across clusters:").expect("the summary")..];
    let row = |context: &str| summary.lines().find(|l| l.contains(context)).unwrap_or_default();
    assert!(row("bed-0").contains("done and verified"), "{summary}");
    assert!(row("bed-1").contains("failed and rolled back (exit 8)"), "{summary}");
    assert!(row("bed-2").contains("not started"), "{summary}");
    assert!(
        run.stderr
            .contains("kubectl secrets rollback payments --contexts bed-0"),
        "{}",
        run.stderr
    );
    // bed-0 rotated, bed-1 back to the old value (a new revision), bed-2 untouched.
    let rotated = ns.data(0, "payments", "TOKEN").await;
    assert_ne!(rotated, old);
    assert_eq!(ns.data(1, "payments", "TOKEN").await, old);
    assert_eq!(
        ns.annotation(1, "payments", annotations::REVISION).await.as_deref(),
        Some("2")
    );
    assert_eq!(ns.data(2, "payments", "TOKEN").await, old);
    assert_eq!(ns.annotation(2, "payments", annotations::REVISION).await, None);

    // The finished wave undone with one command.
    let undo = ns.run(fleet, &["rollback", "payments", "--contexts", "bed-0", "--yes"]);
    assert_eq!(undo.code, exit::OK, "{undo:?}");
    assert_eq!(ns.data(0, "payments", "TOKEN").await, old);
    for out in [&run, &undo] {
        out.assert_no_leak([&old, &rotated]);
    }
}

#[tokio::test]
async fn an_interrupted_rotation_across_clusters_is_resumed() {
    use crate::support::{annotations, Background};
    let ns = FleetNamespace::new("fleet-resume").await;
    let old = canary("fleet-resume-old");
    for bed in 0..3 {
        ns.secret(bed, "sessions", "KEY", &old).await;
        ns.reader(bed, "web", "sessions").await;
    }
    let fleet = fleet_kubeconfig();
    let args = [
        "rotate",
        "sessions",
        "--contexts",
        "bed-*",
        "--key",
        "KEY",
        "--yes",
        "-n",
        &ns.name,
    ];
    // Killed right after the first cluster's write: bed-0 holds the journal, the rest nothing.
    let tool = Background::spawn(fleet, &args, Some("written:30"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let killed = tool.finish();
    assert_ne!(killed.code, exit::OK);
    assert!(ns.annotation(0, "sessions", annotations::JOURNAL).await.is_some());
    assert_eq!(ns.annotation(1, "sessions", annotations::REVISION).await, None);

    let resumed = ns.run(
        fleet,
        &["rotate", "sessions", "--contexts", "bed-*", "--resume", "--yes"],
    );
    assert_eq!(resumed.code, exit::OK, "{resumed:?}");
    assert!(resumed.stderr.contains("No interrupted change"), "{}", resumed.stderr);
    assert_eq!(ns.annotation(0, "sessions", annotations::JOURNAL).await, None);
    let new = ns.data(0, "sessions", "KEY").await;
    assert_ne!(new, old);
    assert_eq!(ns.data(1, "sessions", "KEY").await, old, "never started there");
    for out in [&killed, &resumed] {
        out.assert_no_leak([&old, &new]);
    }
}

#[tokio::test]
async fn an_error_during_the_bake_still_says_where_every_cluster_stands() {
    use k8s_openapi::api::rbac::v1::RoleBinding;
    let ns = FleetNamespace::new("fleet-bake").await;
    let old = canary("fleet-bake-old");
    for bed in 0..3 {
        ns.secret(bed, "payments", "TOKEN", &old).await;
        ns.reader(bed, "api", "payments").await;
    }
    // In bed-1 the rotation runs as `limited`, allowed through a RoleBinding that goes away
    // during the bake (credentials revoked mid-rotation).
    let binding: RoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "rotator"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "limited"}]
    }))
    .unwrap();
    let bindings = Api::<RoleBinding>::namespaced(ns.clients[1].clone(), &ns.name);
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("create binding");
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fleet_kubeconfig()).unwrap();
    let mut config: Value = serde_saphyr::from_str(&text).unwrap();
    for context in config["contexts"].as_array_mut().unwrap() {
        if context["name"] == "bed-1" {
            context["context"]["user"] = json!("bed-1-limited");
        }
    }
    let kubeconfig = dir.path().join("fleet.kubeconfig");
    std::fs::write(&kubeconfig, serde_json::to_string(&config).unwrap()).unwrap();

    let args = [
        "rotate",
        "payments",
        "--contexts",
        "bed-*",
        "--wave",
        "canary=bed-1",
        "--key",
        "TOKEN",
        "--bake",
        "15s",
        "--yes",
        "-n",
        &ns.name,
    ];
    let tool = crate::support::Background::spawn(&kubeconfig, &args, None);
    tool.wait_for("baking");
    bindings.delete("rotator", &Default::default()).await.expect("revoke");
    let run = tool.finish();
    assert_ne!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("not allowed to"),
        "the error is said: {}",
        run.stderr
    );
    let summary = &run.stderr[run
        .stderr
        .find("across clusters:")
        .expect("the table, whatever happened")..];
    let row = |context: &str| summary.lines().find(|l| l.contains(context)).unwrap_or_default();
    assert!(row("bed-1").contains("some consumers run older values"), "{summary}");
    assert!(
        row("bed-0").contains("not started") && row("bed-2").contains("not started"),
        "{summary}"
    );
    assert!(
        run.stderr
            .contains("kubectl secrets rollback payments --contexts bed-1"),
        "the undo hint: {}",
        run.stderr
    );
    let rotated = ns.data(1, "payments", "TOKEN").await;
    assert_ne!(rotated, old, "the canary was rotated");
    assert_eq!(ns.data(0, "payments", "TOKEN").await, old, "the rest never started");
    run.assert_no_leak([&old, &rotated]);
}

#[tokio::test]
async fn one_value_sealed_for_three_clusters_opens_only_in_its_own() {
    let fleet = FleetNamespace::new("seal-fleet").await;
    let kubeconfig = fleet_kubeconfig();
    let value = canary("sealed-fleet");
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("token");
    std::fs::write(&source, &value).unwrap();
    let out = dir.path().join("sealed");
    let sealed = fleet.run(
        kubeconfig,
        &[
            "seal",
            "app",
            "--from-file",
            &format!("TOKEN={}", source.display()),
            "--contexts",
            "bed-*",
            "--output-dir",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    assert!(sealed.stderr.contains("Sealed app for 3 clusters"), "{}", sealed.stderr);
    let fingerprints: std::collections::BTreeSet<&str> = sealed
        .stderr
        .lines()
        .filter_map(|l| l.split("certificate sha256 ").nth(1))
        .collect();
    assert_eq!(fingerprints.len(), 3, "three certificates: {}", sealed.stderr);

    // Each cluster's controller can open its own copy and no other.
    let mut checks = Vec::new();
    for file_bed in 0..3 {
        let file = out.join(format!("bed-{file_bed}/app.yaml"));
        assert!(file.exists(), "{file:?}");
        for bed in 0..3 {
            let context = format!("bed-{bed}");
            let check = fleet.run(
                kubeconfig,
                &["seal", "--validate", file.to_str().unwrap(), "--context", &context],
            );
            let expected = if file_bed == bed { exit::OK } else { exit::FOUND };
            assert_eq!(check.code, expected, "bed-{file_bed}'s file in {context}: {check:?}");
            checks.push(check);
        }
    }
    // And bed-1's controller unseals its copy into the Secret.
    let applied = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--context", "bed-1", "apply", "-n", &fleet.name, "-f"])
        .arg(out.join("bed-1/app.yaml"))
        .output()
        .unwrap();
    assert!(applied.status.success(), "{}", String::from_utf8_lossy(&applied.stderr));
    let secrets = Api::<Secret>::namespaced(fleet.clients[1].clone(), &fleet.name);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let unsealed = loop {
        if let Some(secret) = secrets.get_opt("app").await.unwrap() {
            break secret;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "bed-1's controller never unsealed it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    assert_eq!(unsealed.data.unwrap()["TOKEN"].0, value.as_bytes());

    // A context that cannot give its certificate: nothing is written for any cluster.
    let again = dir.path().join("again");
    let broken = with_broken_contexts(dir.path());
    let refused = fleet.run(
        &broken,
        &[
            "seal",
            "app",
            "--from-file",
            &format!("TOKEN={}", source.display()),
            "--contexts",
            "bed-*",
            "--output-dir",
            again.to_str().unwrap(),
        ],
    );
    assert_ne!(refused.code, exit::OK, "{refused:?}");
    assert!(refused.stderr.contains("nothing was written"), "{}", refused.stderr);
    assert!(!again.exists(), "no file for any cluster");
    for run in checks.iter().chain([&sealed, &refused]) {
        run.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn the_clusters_of_a_wave_rotate_at_once_each_line_headed_by_its_cluster() {
    let ns = FleetNamespace::new("fleet-parallel").await;
    let old = canary("fleet-parallel");
    for bed in 0..3 {
        ns.secret(bed, "app", "TOKEN", &old).await;
        ns.reader(bed, "api", "app").await;
    }
    let fleet = fleet_kubeconfig();
    let run = ns.run(
        fleet,
        &[
            "rotate",
            "app",
            "--contexts",
            "bed-*",
            "--waves",
            "1",
            "--parallel-clusters",
            "3",
            "--key",
            "TOKEN",
            "--yes",
        ],
    );
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("up to 3 at once (--parallel-clusters)"),
        "{}",
        run.stderr
    );
    // All three started before any of them got to its verification.
    let position = |needle: &str| {
        run.stderr
            .find(needle)
            .unwrap_or_else(|| panic!("{needle}:\n{}", run.stderr))
    };
    let first_verification = position("Verifying the consumers");
    for bed in 0..3 {
        let started = position(&format!("[bed-{bed}] == Rotating in bed-{bed} (wave 1) =="));
        assert!(started < first_verification, "{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("[bed-{bed}]   deployment/api: complete")),
            "progress lines name their cluster: {}",
            run.stderr
        );
    }
    let new = ns.data(0, "app", "TOKEN").await;
    assert_ne!(new, old);
    for bed in 1..3 {
        assert_eq!(ns.data(bed, "app", "TOKEN").await, new, "bed-{bed}");
    }
    let verify = ns.run(fleet, &["verify", "--all-contexts"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    for out in [&run, &verify] {
        out.assert_no_leak([&old, &new]);
    }
}

/// cert-manager on one cluster of three (bed-1): list and audit across the contexts say who
/// issues each TLS Secret and why one is not issued there; the clusters without cert-manager
/// answer as usual (its API absent is not a finding).
#[tokio::test]
async fn cert_manager_is_read_across_clusters_where_it_runs() {
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    let ns = FleetNamespace::new("fleet-cm").await;
    let certificates = Api::<DynamicObject>::namespaced_with(
        ns.clients[1].clone(),
        &ns.name,
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
            "certificates",
        ),
    );
    for (name, issuer) in [("edge", "selfsigned"), ("orphan", "nowhere")] {
        let certificate: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": {"secretName": format!("{name}-tls"), "dnsNames": [format!("{name}.example")],
                     "privateKey": {"algorithm": "ECDSA", "size": 256},
                     "issuerRef": {"name": issuer, "kind": "ClusterIssuer"}}}))
        .unwrap();
        certificates
            .create(&PostParams::default(), &certificate)
            .await
            .expect("create certificate");
    }
    let secrets = Api::<Secret>::namespaced(ns.clients[1].clone(), &ns.name);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    let key = loop {
        if let Some(secret) = secrets.get_opt("edge-tls").await.unwrap() {
            let data = secret.data.unwrap_or_default();
            if let Some(key) = data.get("tls.key") {
                break String::from_utf8(key.0.clone()).unwrap();
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "edge-tls not issued on bed-1");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    };
    let key_lines: Vec<&str> = key.lines().filter(|l| l.len() > 20).collect();
    ns.secret(0, "plain", "TOKEN", &canary("fleet-cm")).await;
    let fleet = fleet_kubeconfig();

    let list = ns.run(fleet, &["list", "--contexts", "bed-*", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let listed = list.json();
    let edge = entry(&listed, "bed-1")["report"]["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "edge-tls")
        .cloned()
        .unwrap_or_else(|| panic!("{listed:#}"));
    assert_eq!(edge["owner"], "Certificate/edge (cert-manager)", "{edge}");
    assert_eq!(edge["certificate"]["certManager"]["issuer"], "ClusterIssuer/selfsigned");
    assert_eq!(entry(&listed, "bed-0")["report"]["secrets"][0]["name"], "plain");
    assert_eq!(entry(&listed, "bed-0")["exitCode"], 0);

    let audit = ns.run(fleet, &["audit", "--contexts", "bed-*", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let report = audit.json();
    let rules = |context: &str| -> Vec<String> {
        entry(&report, context)["report"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("{} {}", f["secret"].as_str().unwrap(), f["rule"].as_str().unwrap()))
            .collect()
    };
    assert!(
        rules("bed-1").contains(&"orphan-tls certificate-issuer-missing".to_string()),
        "{report:#}"
    );
    for context in ["bed-0", "bed-2"] {
        assert!(
            rules(context).iter().all(|r| !r.contains("certificate-")),
            "{context}: {report:#}"
        );
    }
    let table = ns.run(fleet, &["audit", "--contexts", "bed-*"]);
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("bed-1") && l.contains("certificate-issuer-missing"))
        .unwrap_or_else(|| panic!("{}", table.stdout));
    assert!(row.contains("orphan-tls"), "{row}");
    for run in [&list, &audit, &table] {
        run.assert_no_leak(&key_lines);
    }
}
