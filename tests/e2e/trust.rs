//! What the plugin may believe: a Secret that merely looks like a backup, or a journal that
//! names another Secret as one, drives no write. Only what the Secret itself records, in the
//! same write as its data, is restored, pruned, resumed or undone.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::support::{annotations, canary, deployment, exit, next_second, with_pod_annotations, Run, TestNamespace};

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn uid_of(ns: &TestNamespace, name: &str) -> String {
    ns.get_secret(name).await.unwrap().metadata.uid.unwrap()
}

/// Secret `app` {TOKEN: value} read through envFrom by Deployment `api`.
async fn app_with_consumer(ns: &TestNamespace, value: &str) {
    ns.secret_with_consumer("app", "TOKEN", value, "api").await;
}

/// A Secret made to look exactly like a backup of `app` (label, annotations, owner), as anyone
/// who may create Secrets in the namespace could make it.
async fn plant_backup(ns: &TestNamespace, name: &str, revision: u64, value: &str) {
    let owner_uid = uid_of(ns, "app").await;
    ns.create_secret(json!({
        "metadata": {
            "name": name,
            "labels": {annotations::BACKUP_OF: "app"},
            "annotations": {
                annotations::BACKUP_OF: "app",
                annotations::REVISION: revision.to_string(),
                annotations::ROTATION_ID: "x",
                annotations::REPLACED_BY: "kubectl-secrets rotate by admin",
            },
            "ownerReferences": [{"apiVersion": "v1", "kind": "Secret", "name": "app", "uid": owner_uid}]
        },
        "stringData": {"TOKEN": value}
    }))
    .await;
}

#[tokio::test]
async fn a_planted_backup_is_shown_as_such_reported_by_audit_and_never_restored_or_pruned() {
    let ns = TestNamespace::new("trust-planted").await;
    let original = canary("original");
    let planted = canary("planted");
    app_with_consumer(&ns, &original).await;
    let first = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(first.code, exit::OK, "{first:?}");
    let rotated = text(&ns.secret_data("app").await["TOKEN"]);
    plant_backup(&ns, "app.backup-r999-x", 999, &planted).await;

    let history = ns.run(&["history", "app"]);
    assert_eq!(history.code, exit::OK, "{history:?}");
    let planted_row = history
        .stdout
        .lines()
        .find(|l| l.contains("app.backup-r999-x"))
        .unwrap_or_else(|| panic!("history lists the planted Secret: {}", history.stdout));
    assert!(planted_row.contains("NOT RECORDED"), "{}", history.stdout);
    assert!(history.stdout.contains("never restored"), "{}", history.stdout);
    let as_json = ns.run(&["history", "app", "-o", "json"]).json();
    let rows = as_json["revisions"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["revision"] == 999 && r["recorded"] == false));
    assert!(rows.iter().any(|r| r["revision"] == 0 && r["recorded"] == true));

    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let finding = findings
        .iter()
        .find(|f| f["rule"] == "unrecorded-backup")
        .unwrap_or_else(|| panic!("audit reports the planted backup: {}", audit.stdout));
    assert_eq!(finding["severity"], "critical");
    assert_eq!(finding["secret"], "app.backup-r999-x");

    // A plain rollback restores the real previous value (revision 0), not the planted one.
    let rollback = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert!(
        rollback.stdout.contains("restored from revision 0"),
        "{}",
        rollback.stdout
    );
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), original);
    // Asked for by its revision: refused, nothing written.
    let asked = ns.run(&["rollback", "app", "--to-revision", "999", "--yes"]);
    assert_eq!(asked.code, exit::UNTRUSTED, "{asked:?}");
    assert!(asked.stderr.contains("never restored"), "{}", asked.stderr);
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), original);
    let diff = ns.run(&["diff", "app", "--revision", "999"]);
    assert_eq!(diff.code, exit::UNTRUSTED, "{diff:?}");

    // Pruning (keep 1) deletes only recorded backups: the planted one stays for a person to look at.
    let pruned = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--keep-backups",
        "1",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(pruned.code, exit::OK, "{pruned:?}");
    let names = ns.secret_names().await;
    let backups: Vec<&String> = names.iter().filter(|n| n.starts_with("app.backup-")).collect();
    assert!(names.contains(&"app.backup-r999-x".to_string()), "{names:?}");
    assert_eq!(
        backups.len(),
        2,
        "one recorded backup kept, plus the planted one: {names:?}"
    );
    let latest = text(&ns.secret_data("app").await["TOKEN"]);
    for out in [&first, &history, &audit, &rollback, &asked, &diff, &pruned] {
        out.assert_no_leak([&original, &planted, &rotated, &latest]);
    }
}

/// `audit -o json` in `ns`, which must report `secret`'s record as untrusted.
fn audit_reports_untrusted(ns: &TestNamespace, secret: &str) -> Run {
    let audit = ns.run(&["audit", "-o", "json"]);
    assert!(
        audit.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["rule"] == "untrusted-record" && f["secret"] == secret),
        "{}",
        audit.stdout
    );
    audit
}

/// A journal in the current format that names `backup` as the backup of `app`.
fn forged_journal(backup: &str, backup_uid: &str, workload: &str, ns: &str) -> String {
    json!({
        "id": "f0f0f0f0f0f0f0f0",
        "action": "rotate",
        "phase": "restarting",
        "startedAt": "2026-01-01T00:00:00Z",
        "holder": {"by": "kubectl-secrets rotate by admin", "host": "elsewhere", "pid": 1, "token": "t"},
        "secrets": {"app": {"backup": backup, "backupUid": backup_uid, "from": 0, "to": 1}},
        "workloads": [{"namespace": ns, "kind": "Deployment", "name": workload}]
    })
    .to_string()
}

/// A journal that records two kinds of change (here provider versions and a cert-manager
/// renewal) is no journal kubectl-secrets wrote: it never chooses which machine acts on it.
#[tokio::test]
async fn a_journal_naming_two_kinds_of_change_is_refused_with_no_write() {
    let ns = TestNamespace::new("trust-two-kinds").await;
    let value = canary("app");
    app_with_consumer(&ns, &value).await;
    let pods = ns.pod_names("api-").await;
    let mut journal: serde_json::Value =
        serde_json::from_str(&forged_journal("app.backup-r0-x", "u", "api", &ns.name)).unwrap();
    journal["external"] = json!({"owner": "app", "provider": "AWS Secrets Manager (us-east-1)", "region": "us-east-1",
        "remotes": [{"key": "team-b/db", "previous": "v1", "new": "v2"}]});
    journal["renewal"] = json!({"certificate": "app"});
    ns.annotate_secret("app", BTreeMap::from([(annotations::JOURNAL, journal.to_string())]))
        .await;
    let mut runs = Vec::new();
    for choice in ["--resume", "--abort", "--key=TOKEN"] {
        let run = ns.run(&["rotate", "app", choice, "--yes"]);
        assert_eq!(run.code, exit::UNTRUSTED, "{choice}: {run:?}");
        assert!(
            run.stderr
                .contains("it records provider versions and a cert-manager renewal, which no single change writes"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("kubectl annotate secret app"), "{}", run.stderr);
        runs.push(run);
    }
    runs.push(audit_reports_untrusted(&ns, "app"));
    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        value,
        "app was never written"
    );
    assert_eq!(ns.pod_names("api-").await, pods, "nothing was restarted");
    assert!(
        ns.secret_annotation("app", annotations::JOURNAL).await.is_some(),
        "left for a person"
    );
    for out in &runs {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn a_forged_journal_is_refused_with_no_write() {
    let ns = TestNamespace::new("trust-journal").await;
    let value = canary("app");
    let admin_password = canary("db-admin");
    app_with_consumer(&ns, &value).await;
    ns.secret("db-admin", &[("TOKEN", &admin_password)]).await;
    let pods = ns.pod_names("api-").await;
    let db_uid = uid_of(&ns, "db-admin").await;

    // The issue's journal: the old format, naming db-admin as the backup.
    let old_format = json!({"id": "x", "phase": "restarting", "startedAt": "2026-01-01T00:00:00Z",
        "backups": {"app": "db-admin"}, "revisions": {"app": 1}, "workloads": []})
    .to_string();
    ns.annotate_secret("app", BTreeMap::from([(annotations::JOURNAL, old_format)]))
        .await;
    let mut runs = Vec::new();
    for args in [
        &["rotate", "app", "--abort", "--yes"][..],
        &["rotate", "app", "--abort", "--dry-run"],
        &["rotate", "app", "--resume", "--yes"],
        &["rotate", "app", "--key", "TOKEN", "--yes"],
    ] {
        let run = ns.run(args);
        assert_eq!(run.code, exit::UNTRUSTED, "{args:?}: {run:?}");
        assert!(run.stderr.contains("not a journal"), "{}", run.stderr);
        runs.push(run);
    }
    runs.push(audit_reports_untrusted(&ns, "app"));

    // The current format, naming db-admin (even with its uid) as the backup.
    let journal = forged_journal("db-admin", &db_uid, "api", &ns.name);
    ns.annotate_secret("app", BTreeMap::from([(annotations::JOURNAL, journal.clone())]))
        .await;
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::UNTRUSTED, "{abort:?}");
    assert!(abort.stderr.contains("was not written by rotation"), "{}", abort.stderr);
    runs.push(abort);

    // Someone who may annotate app also writes the rotation id and a record naming db-admin.
    let record =
        json!([{"name": "db-admin", "uid": db_uid, "rotationId": "f0f0f0f0f0f0f0f0", "revision": 0}]).to_string();
    ns.annotate_secret(
        "app",
        BTreeMap::from([
            (annotations::ROTATION_ID, "f0f0f0f0f0f0f0f0".to_string()),
            (annotations::REVISION, "1".to_string()),
            (annotations::BACKUPS, record),
        ]),
    )
    .await;
    for args in [
        &["rotate", "app", "--abort", "--yes"][..],
        &["rotate", "app", "--abort", "--dry-run"],
    ] {
        let run = ns.run(args);
        assert_eq!(run.code, exit::UNTRUSTED, "{args:?}: {run:?}");
        assert!(run.stderr.contains("not owned by app"), "{}", run.stderr);
        runs.push(run);
    }

    assert_eq!(
        text(&ns.secret_data("app").await["TOKEN"]),
        value,
        "app was never written"
    );
    assert_eq!(text(&ns.secret_data("db-admin").await["TOKEN"]), admin_password);
    assert_eq!(ns.pod_names("api-").await, pods, "nothing was restarted");
    for out in &runs {
        out.assert_no_leak([&value, &admin_password]);
    }
}

#[tokio::test]
async fn after_an_automatic_rollback_an_unrelated_secret_keeps_its_exact_revision() {
    let ns = TestNamespace::new("trust-stamps").await;
    let (app_value, other_value) = (canary("app"), canary("unrelated"));
    ns.secret("app", &[("TOKEN", &app_value)]).await;
    ns.secret("unrelated", &[("OTHER", &other_value)]).await;
    // Crash-loops when started for app revision 1 with unrelated revision 1 (a bad new value).
    let api = with_pod_annotations(
        deployment(
            "api",
            1,
            json!({"containers": [{"name": "c", "image": "i",
                "envFrom": [{"secretRef": {"name": "app"}}, {"secretRef": {"name": "unrelated"}}]}]}),
        ),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"app":1,"unrelated":1}"#}),
    );
    ns.create_deployment(api).await;
    ns.wait_ready("deployment", "api").await;
    let first = ns.run(&[
        "rotate",
        "unrelated",
        "--key",
        "OTHER",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(first.code, exit::OK, "{first:?}");

    let failed = ns.run(&[
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--yes",
        "--min-restart-interval",
        "0",
        "--timeout",
        "60s",
    ]);
    assert_eq!(failed.code, exit::ROLLED_BACK, "{failed:?}");
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), app_value);
    assert_eq!(
        ns.template_annotation("api", annotations::POD_SECRET_REVISIONS)
            .await
            .as_deref(),
        Some(r#"{"app":2,"unrelated":1}"#),
        "the rollback stamps only what it restored"
    );

    // unrelated changes without a restart: its pods hold the old value, and verify says so.
    next_second().await;
    let quiet = ns.run(&[
        "rotate",
        "unrelated",
        "--key",
        "OTHER",
        "--no-restart",
        "--yes",
        "--min-restart-interval",
        "0",
    ]);
    assert_eq!(quiet.code, exit::OK, "{quiet:?}");
    let verify = ns.run(&["verify", "unrelated", "-o", "json"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    let report = verify.json();
    let findings = report["workloads"][0]["findings"].as_array().unwrap().clone();
    assert!(
        findings
            .iter()
            .any(|f| f["secret"] == "unrelated" && f["status"] == "stale" && f["evidence"] == "exact"),
        "{}",
        verify.stdout
    );
    let rotated = text(&ns.secret_data("unrelated").await["OTHER"]);
    for out in [&first, &failed, &quiet, &verify] {
        out.assert_no_leak([&app_value, &other_value, &rotated]);
    }
}

#[tokio::test]
async fn escape_sequences_in_cluster_strings_never_reach_the_terminal() {
    let ns = TestNamespace::new("trust-escapes").await;
    let value = canary("escapes");
    app_with_consumer(&ns, &value).await;
    // OSC 52 writes the terminal's clipboard; CSI 2J clears the screen; U+202E reverses what
    // follows (an "exe.txt" that reads "txt.exe"); U+200B hides a character.
    let hostile = "mallory\u{1b}]52;c;SGVsbG8=\u{7}\u{1b}[2J\u{202e}\u{200b}";
    ns.annotate_secret(
        "app",
        BTreeMap::from([
            (annotations::CHANGED_BY, hostile.to_string()),
            (annotations::ROTATED_AT, "2026-01-01T00:00:00Z".to_string()),
        ]),
    )
    .await;
    let mut runs = Vec::new();
    for args in [&["list", "-o", "wide"][..], &["history", "app"], &["verify", "app"]] {
        let run = ns.run(args);
        assert!(run.code == exit::OK || run.code == exit::FOUND, "{args:?}: {run:?}");
        for stream in [&run.stdout, &run.stderr] {
            assert!(
                !stream.contains('\u{1b}') && !stream.contains('\u{7}'),
                "{args:?}: {stream:?}"
            );
            assert!(
                !stream.contains('\u{202e}') && !stream.contains('\u{200b}'),
                "bidi and zero-width characters are cleaned too: {args:?}: {stream:?}"
            );
        }
        runs.push(run);
    }
    assert!(
        runs[0].stdout.contains("mallory"),
        "the rest is shown: {}",
        runs[0].stdout
    );
    for out in &runs {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn a_heartbeat_far_in_the_future_holds_nothing() {
    let ns = TestNamespace::new("trust-future").await;
    let value = canary("app");
    app_with_consumer(&ns, &value).await;
    // An interrupted change (kill -9 after the write), whose journal then says its holder on
    // another machine beats a day from now: a wrong clock, or planted to hold every change off.
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool =
        crate::support::Background::spawn(&crate::support::cluster().admin_kubeconfig, &args, Some("written:10"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let killed = tool.finish();
    let rotated = text(&ns.secret_data("app").await["TOKEN"]);
    let journal = ns
        .secret_annotation("app", annotations::JOURNAL)
        .await
        .expect("journal left");
    let mut parsed: serde_json::Value = serde_json::from_str(&journal).unwrap();
    let tomorrow = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(24);
    parsed["holder"]["heartbeatAt"] = json!(tomorrow.to_string());
    parsed["holder"]["host"] = json!("build-7");
    // Under a field manager of its own, as `kubectl annotate` would (the test client made the
    // Secret's data: a write under its name would count as an edit of the data since).
    let params = PatchParams {
        field_manager: Some("kubectl-annotate".into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(ns.client.clone(), &ns.name)
        .patch(
            "app",
            &params,
            &Patch::Merge(json!({"metadata": {"annotations": {annotations::JOURNAL: parsed.to_string()}}})),
        )
        .await
        .unwrap();

    let next = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(next.code, exit::IN_PROGRESS, "{next:?}");
    assert!(
        next.stderr.contains("Its heartbeat is 23h 59m")
            && next.stderr.contains("in the future (written on build-7 as pid"),
        "{}",
        next.stderr
    );
    assert!(!next.stderr.contains("ago"), "no negative age: {}", next.stderr);
    // Not a live holder: --abort needs no --force.
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert_eq!(text(&ns.secret_data("app").await["TOKEN"]), value);
    for out in [&killed, &next, &abort] {
        out.assert_no_leak([&value, &rotated]);
    }
}

#[tokio::test]
async fn a_pods_own_revision_stamp_is_not_exact_evidence() {
    use k8s_openapi::api::core::v1::Pod;
    let ns = TestNamespace::new("trust-stamp").await;
    let value = canary("stamp");
    app_with_consumer(&ns, &value).await;
    next_second().await;
    // Rotated without restarting: the pods run the old value, and verify says so exactly.
    let rotate = ns.run(&["rotate", "app", "--key", "TOKEN", "--no-restart", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = text(&ns.secret_data("app").await["TOKEN"]);
    let before = ns.run(&["verify", "app", "-o", "json"]);
    assert_eq!(before.code, exit::FOUND, "{before:?}");

    // Whoever may patch pods writes the stamp rotate writes on pods it restarted.
    let pods = Api::<Pod>::namespaced(ns.client.clone(), &ns.name);
    for name in ns.pod_names("api-").await {
        let stamp = json!({"metadata": {"annotations": {annotations::POD_SECRET_REVISIONS: r#"{"app":999}"#}}});
        pods.patch(&name, &PatchParams::default(), &Patch::Merge(stamp))
            .await
            .unwrap();
    }
    let forged = ns.run(&["verify", "app", "-o", "json"]);
    assert_eq!(
        forged.code,
        exit::FOUND,
        "the pods still run the old value: {}",
        forged.stdout
    );
    let report = forged.json();
    let findings = report["workloads"][0]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .all(|f| f["status"] == "stale" && f["evidence"] == "time"),
        "the forged stamp is not taken as exact: {findings:#?}"
    );

    // The Secret deleted and made again (its revisions start over): the pods restarted for
    // revision 1 of the old one are not exact for revision 1 of the new one.
    let restart = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(restart.code, exit::OK, "{restart:?}");
    let restarted = text(&ns.secret_data("app").await["TOKEN"]);
    Api::<Secret>::namespaced(ns.client.clone(), &ns.name)
        .delete("app", &Default::default())
        .await
        .unwrap();
    next_second().await;
    ns.secret("app", &[("TOKEN", &value)]).await;
    let again = ns.run(&["rotate", "app", "--key", "TOKEN", "--no-restart", "--yes"]);
    assert_eq!(again.code, exit::OK, "{again:?}");
    let recreated = ns.run(&["verify", "app", "-o", "json"]);
    assert_eq!(recreated.code, exit::FOUND, "{}", recreated.stdout);
    let newest = text(&ns.secret_data("app").await["TOKEN"]);
    for out in [&rotate, &before, &forged, &restart, &again, &recreated] {
        out.assert_no_leak([&value, &rotated, &restarted, &newest]);
    }
}

#[tokio::test]
async fn a_journal_on_one_secret_never_rolls_back_another() {
    let ns = TestNamespace::new("trust-a-to-b").await;
    // B: rotated for real (its rotation id, revision and backup are on its annotations for all to see).
    let (b_old, a_value) = (canary("b-old"), canary("a"));
    ns.secret("team-b", &[("TOKEN", &b_old)]).await;
    let rotate = ns.run(&["rotate", "team-b", "--key", "TOKEN", "--no-restart", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let b_new = text(&ns.secret_data("team-b").await["TOKEN"]);
    let b = ns.get_secret("team-b").await.unwrap();
    let b_annotations = b.metadata.annotations.unwrap();
    let id = b_annotations[annotations::ROTATION_ID].clone();
    let record: serde_json::Value = serde_json::from_str(&b_annotations[annotations::BACKUPS]).unwrap();
    let (b_backup, b_backup_uid) = (
        record[0]["name"].as_str().unwrap().to_string(),
        record[0]["uid"].as_str().unwrap().to_string(),
    );

    // A: everything whoever may write A (not B) can make: A's own stamps, record and backup,
    // and a journal naming B with B's own rotation id, revision and recorded backup.
    app_with_consumer(&ns, &a_value).await;
    let a_backup = format!("app.backup-r0-{id}");
    plant_backup(&ns, &a_backup, 0, &a_value).await;
    let a_backup_uid = uid_of(&ns, &a_backup).await;
    ns.annotate_secret(
        a_backup.as_str(),
        BTreeMap::from([(annotations::ROTATION_ID, id.clone())]),
    )
    .await;
    next_second().await;
    let a_record = json!([{"name": a_backup, "uid": a_backup_uid, "rotationId": id, "revision": 0}]).to_string();
    let journal = json!({
        "id": id, "action": "rotate", "phase": "restarting", "startedAt": jiff::Timestamp::now().to_string(),
        "holder": {"by": "kubectl-secrets rotate by admin", "host": "elsewhere", "pid": 1, "token": "t"},
        "secrets": {
            "app": {"backup": a_backup, "backupUid": a_backup_uid, "from": 0, "to": 1},
            "team-b": {"backup": b_backup, "backupUid": b_backup_uid, "from": 0, "to": 1}
        },
        "workloads": []
    })
    .to_string();
    ns.annotate_secret(
        "app",
        BTreeMap::from([
            (annotations::ROTATION_ID, id.clone()),
            (annotations::REVISION, "1".to_string()),
            (annotations::BACKUPS, a_record),
            (annotations::JOURNAL, journal),
        ]),
    )
    .await;

    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(
        text(&ns.secret_data("team-b").await["TOKEN"]),
        b_new,
        "B keeps its value: A's journal drives no write to it\n{abort:?}"
    );
    assert_eq!(
        ns.secret_annotation("team-b", annotations::REVISION).await.as_deref(),
        Some("1")
    );
    assert!(
        abort.stdout.contains("team-b") && abort.stdout.contains("not written"),
        "the plan says B is not part of it: {abort:?}"
    );
    for out in [&rotate, &abort] {
        out.assert_no_leak([&b_old, &b_new, &a_value]);
    }
}

#[tokio::test]
async fn backups_are_opaque_whatever_the_type_of_the_secret() {
    let ns = TestNamespace::new("trust-backup-type").await;
    let password = canary("basic-auth");
    // A typed Secret: a backup of the same type could make a controller act on it (a backup
    // typed service-account-token would have the token controller issue it a token).
    ns.create_secret(json!({
        "metadata": {"name": "web-login"},
        "type": "kubernetes.io/basic-auth",
        "stringData": {"username": "web", "password": password}
    }))
    .await;
    let run = ns.run(&["rotate", "web-login", "--key", "password", "--no-restart", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let names = ns.secret_names().await;
    let backup = names
        .iter()
        .find(|n| n.starts_with("web-login.backup-"))
        .expect("a backup");
    let backup = ns.get_secret(backup).await.unwrap();
    assert_eq!(backup.type_.as_deref(), Some("Opaque"));
    assert_eq!(
        backup
            .metadata
            .annotations
            .unwrap()
            .get("kubectl-secrets.io/source-type")
            .map(String::as_str),
        Some("kubernetes.io/basic-auth")
    );
    let new = text(&ns.secret_data("web-login").await["password"]);
    // A rollback restores into the Secret, whose own type never changes.
    let rollback = ns.run(&["rollback", "web-login", "--no-restart", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    assert_eq!(text(&ns.secret_data("web-login").await["password"]), password);
    for out in [&run, &rollback] {
        out.assert_no_leak([&password, &new]);
    }
}

#[tokio::test]
async fn a_key_change_record_written_after_its_data_is_ignored_and_reported() {
    let ns = TestNamespace::new("trust-keyrecord").await;
    let value = canary("keyrecord");
    app_with_consumer(&ns, &value).await;
    let rotate = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    let rotated = text(&ns.secret_data("app").await["TOKEN"]);
    let rules = |audit: &crate::support::Run| -> Vec<String> {
        audit.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["secret"] == "app")
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    let honest = ns.run(&["audit", "-o", "json"]);
    assert!(
        !rules(&honest).contains(&"rewritten-record".to_string()),
        "{}",
        honest.stdout
    );

    // Someone who may annotate the Secret rewrites the record and its stamp under
    // kubectl-secrets' field manager name, claiming TOKEN last changed long ago (a second
    // after the restarted pod started, so that the times tell them apart).
    next_second().await;
    let key_changes = ns
        .secret_annotation("app", "kubectl-secrets.io/key-changes")
        .await
        .unwrap();
    let mut forged: serde_json::Value = serde_json::from_str(&key_changes).unwrap();
    forged["keys"]["TOKEN"]["at"] = json!("2026-01-01T00:00:00Z");
    let out = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&crate::support::cluster().admin_kubeconfig)
        .args([
            "annotate",
            "secret",
            "app",
            "-n",
            &ns.name,
            "--overwrite",
            "--field-manager=kubectl-secrets",
        ])
        .arg(format!("kubectl-secrets.io/key-changes={forged}"))
        .arg("kubectl-secrets.io/rotated-at=2026-01-01T00:00:00Z")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let audit = ns.run(&["audit", "-o", "json"]);
    assert!(
        rules(&audit).contains(&"rewritten-record".to_string()),
        "{}",
        audit.stdout
    );
    let table = ns.run(&["audit", "-o", "wide"]);
    assert!(
        table
            .stdout
            .contains("by a request under kubectl-secrets' field manager name"),
        "{}",
        table.stdout
    );
    // verify believes neither the record nor the stamp: the request that wrote them under
    // kubectl-secrets' name counts as a change of the data, so the pods that started before it
    // are stale (a writer of the Secret can make its readers look stale, never current).
    let verify = ns.run(&["verify", "app"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    assert!(
        verify.stdout.contains("before the Secret's data changed"),
        "{}",
        verify.stdout
    );
    for out in [&rotate, &honest, &audit, &table, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
}
