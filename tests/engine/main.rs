//! The change engine against a fake API server (no cluster, see `fake.rs`): a conflict on the
//! write writes nothing, a conflict during the restore keeps the journal, a failed rollout is
//! restored, an interruption at each step is finished by --resume and undone by --abort (both
//! ending consistent), and LISTs follow continue tokens. The e2e tests do the same on the real
//! bed; these script what a real cluster cannot produce on demand.

mod fake;

mod engine {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use base64::Engine as _;
    use http::Method;
    use kubectl_secrets::cli::OutputFormat;
    use kubectl_secrets::cluster::{self, Connection, Scope};
    use kubectl_secrets::domain::annotations;
    use kubectl_secrets::domain::plan::{self, RotationRequest};
    use kubectl_secrets::domain::secret_value::SecretValue;
    use kubectl_secrets::engine::{self, Change, Consent, Recovery, Settings};
    use kubectl_secrets::error::exit;
    use kubectl_secrets::Outcome;
    use serde_json::json;
    use tokio::sync::oneshot;

    use crate::fake::{Fake, Fault, NAMESPACE};

    const OLD: &str = "old-token-value";
    const NEW: &str = "new-token-value";

    /// Secret `app` {TOKEN: OLD} read through envFrom by Deployment `api` (ready).
    fn world() -> (Fake, Connection) {
        let (fake, conn) = Fake::start();
        fake.insert(
            "secrets",
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app"}, "type": "Opaque",
                "data": {"TOKEN": b64(OLD)}}),
        );
        fake.insert(
            "deployments",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "api", "generation": 1},
                "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "api"}},
                    "template": {"metadata": {"labels": {"app": "api"}},
                        "spec": {"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}}},
                "status": {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}}),
        );
        (fake, conn)
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn settings(action: &str, force: bool) -> Settings {
        Settings {
            action: action.into(),
            changed_by: format!("kubectl-secrets {action} by fake-admin"),
            keep_backups: 5,
            max_parallel: None,
            batch_interval: None,
            timeout: Duration::from_secs(20),
            restart: true,
            restart_all: false,
            previous_kept: None,
            force,
            allow_gitops_drift: false,
            leave_on_delete: false,
            promote: false,
            remotes: Vec::new(),
            allow_shared_remote: false,
            min_restart_interval: Duration::from_secs(300),
            max_restarts: None,
        }
    }

    fn consent(dry_run: bool) -> Consent {
        Consent {
            dry_run,
            server_dry_run: false,
            yes: true,
            output: OutputFormat::Table,
        }
    }

    /// The planned change: TOKEN of app to NEW.
    async fn rotation(conn: &Connection) -> Change {
        let target = cluster::secrets::get(conn, NAMESPACE, "app").await.unwrap();
        let request = RotationRequest {
            new_values: [("TOKEN".to_string(), (SecretValue::new(NEW.into()), "typed".to_string()))].into(),
            keep_previous_suffix: None,
            set_values: BTreeMap::new(),
        };
        Change {
            namespace: NAMESPACE.into(),
            secrets: plan::plan(&target, &request, &[]).unwrap(),
            source: kubectl_secrets::engine::Source::InPlace,
            issuers: Vec::new(),
            no_issuer: false,
        }
    }

    async fn rotate(conn: &Connection) -> Result<Outcome, kubectl_secrets::error::Error> {
        engine::apply(conn, consent(false), &settings("rotate", false), rotation(conn).await).await
    }

    fn token(fake: &Fake) -> String {
        let secret = fake.get("secrets", "app").unwrap();
        let encoded = secret["data"]["TOKEN"].as_str().unwrap();
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap()
    }

    fn annotation(fake: &Fake, plural: &str, name: &str, key: &str) -> Option<String> {
        fake.get(plural, name)?["metadata"]["annotations"][key]
            .as_str()
            .map(str::to_string)
    }

    /// The Secret revisions the Deployment's pods were last started for.
    fn stamps(fake: &Fake) -> Option<String> {
        fake.get("deployments", "api").unwrap()["spec"]["template"]["metadata"]["annotations"]
            [annotations::POD_SECRET_REVISIONS]
            .as_str()
            .map(str::to_string)
    }

    fn backups(fake: &Fake) -> Vec<String> {
        fake.names("secrets")
            .into_iter()
            .filter(|n| n.starts_with("app.backup-"))
            .collect()
    }

    fn count(log: &[String], prefix: &str) -> usize {
        log.iter().filter(|l| l.starts_with(prefix)).count()
    }

    /// The change ended: new (or old) value in place, the pods started for its revision, no
    /// journal, the backup recorded by the Secret.
    fn assert_settled(fake: &Fake, value: &str, revision: u64) {
        assert_eq!(token(fake), value);
        assert_eq!(
            annotation(fake, "secrets", "app", annotations::JOURNAL),
            None,
            "no journal left"
        );
        assert_eq!(
            annotation(fake, "secrets", "app", annotations::REVISION).as_deref(),
            Some(revision.to_string().as_str())
        );
        assert_eq!(
            stamps(fake),
            Some(format!(r#"{{"app":{revision}}}"#)),
            "pods started for it"
        );
        let record = annotation(fake, "secrets", "app", annotations::BACKUPS).unwrap();
        for backup in backups(fake) {
            assert!(record.contains(&backup), "{backup} is recorded: {record}");
        }
    }

    #[tokio::test]
    async fn a_rotation_writes_data_journal_and_record_in_one_request() {
        let (fake, conn) = world();
        let outcome = rotate(&conn).await.unwrap();
        assert_eq!(outcome, Outcome::Clean);
        assert_settled(&fake, NEW, 1);
        let log = fake.log();
        assert_eq!(
            count(&log, "POST /api/v1/namespaces/shop/secrets"),
            1,
            "one backup: {log:#?}"
        );
        assert_eq!(
            count(&log, "PATCH /apis/apps/v1/namespaces/shop/deployments/api"),
            1,
            "one restart"
        );
        assert_eq!(backups(&fake).len(), 1);
        let backup = fake.get("secrets", &backups(&fake)[0]).unwrap();
        assert_eq!(backup["data"]["TOKEN"], b64(OLD));
    }

    #[tokio::test]
    async fn a_conflict_on_the_write_writes_nothing() {
        let (fake, conn) = world();
        // Someone edits app between the plan and the write.
        let edit = json!({"data": {"TOKEN": b64("edited-by-someone")}});
        fake.on(
            Method::PATCH,
            "/secrets/app",
            Some("\"data\""),
            1,
            Fault::EditFirst(edit),
        );
        let error = rotate(&conn).await.unwrap_err();
        assert_eq!(error.exit_code(), exit::CONFLICT, "{error}");
        assert_eq!(token(&fake), "edited-by-someone", "their edit stands");
        assert!(backups(&fake).is_empty(), "the unused backup was deleted");
        assert_eq!(annotation(&fake, "secrets", "app", annotations::JOURNAL), None);
        assert_eq!(stamps(&fake), None, "nothing restarted");
    }

    #[tokio::test]
    async fn a_failed_rollout_restores_the_previous_data_and_restarts_again() {
        let (fake, conn) = world();
        fake.fail_rollout_for("api", r#"{"app":1}"#);
        let error = rotate(&conn).await.unwrap_err();
        assert_eq!(error.exit_code(), exit::ROLLED_BACK, "{error}");
        assert_settled(&fake, OLD, 2);
    }

    #[tokio::test]
    async fn a_conflict_during_the_restore_fails_the_rollback_and_keeps_the_journal() {
        let (fake, conn) = world();
        fake.fail_rollout_for("api", r#"{"app":1}"#);
        // Someone edits app while the rollout fails: the restore must not overwrite that.
        let edit = json!({"data": {"TOKEN": b64("edited-during-rollout")}});
        fake.on(
            Method::PATCH,
            "/secrets/app",
            Some("\"data\""),
            2,
            Fault::EditFirst(edit),
        );
        let error = rotate(&conn).await.unwrap_err();
        assert_eq!(error.exit_code(), exit::ROLLBACK_FAILED, "{error}");
        assert_eq!(token(&fake), "edited-during-rollout");
        let journal = annotation(&fake, "secrets", "app", annotations::JOURNAL).expect("journal kept");
        assert!(journal.contains("rolling-back"), "{journal}");
        // --abort from that journal refuses too: the data was changed by someone else.
        let abort = engine::recover(
            &conn,
            consent(false),
            &settings("rotate --abort", true),
            NAMESPACE,
            "app",
            Recovery::Abort,
            engine::Named::default(),
        )
        .await
        .unwrap_err();
        assert_eq!(abort.exit_code(), exit::CONFLICT, "{abort}");
        assert_eq!(token(&fake), "edited-during-rollout");
    }

    /// Where a run is interrupted (it never gets the answer of that request, as when killed).
    #[derive(Debug, Clone, Copy)]
    enum Step {
        /// The backup created, nothing written.
        BackedUp,
        /// The data and journal written, no restart.
        Written,
        /// The restart patched, its rollout not awaited.
        Restarted,
        /// The rollout failed and the previous data was restored, no second restart.
        RollingBack,
    }

    /// A rotation interrupted at `step`; the fake as it was left.
    async fn interrupted_at(step: Step) -> Fake {
        let (fake, conn) = world();
        let (reached, at_step) = oneshot::channel();
        let interrupt = Fault::Interrupt { applied: true, reached };
        match step {
            Step::BackedUp => fake.on(Method::POST, "/namespaces/shop/secrets", None, 1, interrupt),
            Step::Written => fake.on(Method::PATCH, "/secrets/app", Some("\"data\""), 1, interrupt),
            Step::Restarted => fake.on(Method::PATCH, "/deployments/api", None, 1, interrupt),
            Step::RollingBack => {
                fake.fail_rollout_for("api", r#"{"app":1}"#);
                fake.on(Method::PATCH, "/secrets/app", Some("\"data\""), 2, interrupt)
            }
        }
        tokio::select! {
            result = rotate(&conn) => panic!("{step:?}: the run was not interrupted: {result:?}"),
            _ = at_step => {}
        }
        fake
    }

    /// --resume or --abort (as another run: --force) on an independent copy of `left`.
    async fn recovered(
        left: &Fake,
        choice: Recovery,
        dry_run: bool,
    ) -> (Fake, Result<Outcome, kubectl_secrets::error::Error>) {
        let (world, conn) = left.fork();
        let action = match choice {
            Recovery::Resume => "rotate --resume",
            Recovery::Abort => "rotate --abort",
        };
        let result = engine::recover(
            &conn,
            consent(dry_run),
            &settings(action, true),
            NAMESPACE,
            "app",
            choice,
            engine::Named::default(),
        )
        .await;
        (world, result)
    }

    #[tokio::test]
    async fn an_interruption_at_each_step_is_resumed_or_aborted_and_ends_consistent() {
        for step in [Step::BackedUp, Step::Written, Step::Restarted, Step::RollingBack] {
            let left = interrupted_at(step).await;

            // --dry-run writes nothing, whatever the step.
            for choice in [Recovery::Resume, Recovery::Abort] {
                let (dry, _) = recovered(&left, choice, true).await;
                assert_eq!(token(&dry), token(&left), "{step:?}: --dry-run wrote nothing");
                let writes = dry
                    .log()
                    .into_iter()
                    .filter(|l| !l.starts_with("GET") && !l.contains("selfsubject"))
                    .count();
                assert_eq!(writes, 0, "{step:?}: {:#?}", dry.log());
            }

            let (resumed, resume) = recovered(&left, Recovery::Resume, false).await;
            let (aborted, abort) = recovered(&left, Recovery::Abort, false).await;
            match step {
                Step::BackedUp => {
                    // Nothing was written: nothing to finish or undo, nothing changed.
                    for (result, world) in [(resume, &resumed), (abort, &aborted)] {
                        assert_eq!(result.unwrap_err().exit_code(), exit::USAGE, "{step:?}");
                        assert_eq!(token(world), OLD);
                        assert_eq!(stamps(world), None);
                    }
                }
                Step::Written | Step::Restarted => {
                    resume.unwrap_or_else(|e| panic!("{step:?}: resume: {e}"));
                    assert_settled(&resumed, NEW, 1);
                    abort.unwrap_or_else(|e| panic!("{step:?}: abort: {e}"));
                    assert_settled(&aborted, OLD, 2);
                }
                Step::RollingBack => {
                    // A rollback under way is finished either way.
                    resume.unwrap_or_else(|e| panic!("{step:?}: resume: {e}"));
                    assert_settled(&resumed, OLD, 2);
                    abort.unwrap_or_else(|e| panic!("{step:?}: abort: {e}"));
                    assert_settled(&aborted, OLD, 2);
                }
            }
            if let Step::Restarted = step {
                // The restart the run had made is awaited, never made twice.
                let restarts = count(&resumed.log(), "PATCH /apis/apps/v1/namespaces/shop/deployments/api");
                assert_eq!(restarts, 0, "resume restarted again: {:#?}", resumed.log());
            }
        }
    }

    #[tokio::test]
    async fn every_list_follows_continue_tokens() {
        let (fake, conn) = Fake::start();
        for i in 0..1_200 {
            fake.insert(
                "secrets",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s-{i:04}")}, "data": {"K": b64("v")}}),
            );
        }
        for i in 0..520 {
            fake.insert(
                "sealedsecrets",
                json!({"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
                    "metadata": {"name": format!("ss-{i:03}")}, "spec": {"encryptedData": {}},
                    "status": {"conditions": [{"type": "Synced", "status": "False", "message": "no key could decrypt"}]}}),
            );
        }
        let secrets = cluster::secrets::list_with_values(&conn, NAMESPACE).await.unwrap();
        assert_eq!(secrets.len(), 1_200);
        let snapshot = cluster::snapshot::read(&conn, &Scope::Namespace(NAMESPACE.into()), None)
            .await
            .unwrap();
        assert_eq!(snapshot.secrets.len(), 1_200);
        assert_eq!(
            snapshot.sealed_secrets.len(),
            520,
            "SealedSecrets past the first page too"
        );
        let log = fake.log();
        let pages = |path: &str| {
            log.iter()
                .filter(|l| l.starts_with(&format!("GET {path}?")) && l.contains("continue="))
                .count()
        };
        assert_eq!(pages("/api/v1/namespaces/shop/secrets"), 2 * 2, "pages 2 and 3, twice");
        assert_eq!(pages("/apis/bitnami.com/v1alpha1/namespaces/shop/sealedsecrets"), 1);
    }

    #[tokio::test]
    async fn a_list_answer_that_cannot_be_decoded_is_reported_without_quoting_it() {
        let (fake, conn) = world();
        // Page 1 is fine; on the second, a value stands where a boolean should (serde's own
        // message would quote it).
        for i in 0..600 {
            fake.insert(
                "secrets",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s-{i:04}")}, "data": {"K": b64("v")}}),
            );
        }
        let broken = format!(
            r#"{{"kind":"SecretList","apiVersion":"v1","metadata":{{}},"items":[{{"metadata":{{"name":"x"}},"immutable":"{OLD}"}}]}}"#
        );
        fake.on(
            Method::GET,
            "/api/v1/namespaces/shop/secrets",
            None,
            2,
            Fault::Answer(broken),
        );
        let error = cluster::secrets::list_with_values(&conn, NAMESPACE).await.unwrap_err();
        let message = error.to_string();
        assert!(message.contains("list secrets in namespace shop"), "{message}");
        assert!(message.contains("could not be decoded"), "{message}");
        assert!(!message.contains(OLD), "the answer was quoted: {message}");
        assert_eq!(error.exit_code(), exit::API);
    }

    #[tokio::test]
    async fn dry_run_plans_and_writes_nothing() {
        let (fake, conn) = world();
        let outcome = engine::apply(&conn, consent(true), &settings("rotate", false), rotation(&conn).await)
            .await
            .unwrap();
        assert_eq!(outcome, Outcome::Clean);
        let writes: Vec<String> = fake
            .log()
            .into_iter()
            .filter(|l| {
                l.starts_with("PATCH") || l.starts_with("DELETE") || (l.starts_with("POST") && l.contains("/secrets"))
            })
            .collect();
        assert!(writes.is_empty(), "{writes:#?}");
        assert_eq!(token(&fake), OLD);
    }
}
