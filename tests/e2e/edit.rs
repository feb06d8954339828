//! `edit` on the real cluster: the decoded values in an editor (here a script, as
//! KUBE_EDITOR), the saved change applied by the engine with a backup and restarts, and every
//! way out (unchanged, editor failure, unreadable file, owned Secrets, required keys) changing
//! nothing and leaving no file behind.

use std::path::PathBuf;

use serde_json::json;

use crate::support::{canary, deployment, exit, TestNamespace};

/// An editor script in its own folder; it records the file it was given (path and modes) in
/// `seen` beside it, then runs `body` with the file as $1.
pub struct Editor {
    dir: tempfile::TempDir,
}

impl Editor {
    pub fn new(body: &str) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("editor.sh");
        let seen = dir.path().join("seen");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nset -e\nprintf '%s %s %s\\n' \"$1\" \"$(stat -c %a \"$1\")\" \"$(stat -c %a \"$(dirname \"$1\")\")\" >> '{}'\n{body}\n",
                seen.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        Editor { dir }
    }

    pub fn command(&self) -> String {
        self.dir.path().join("editor.sh").display().to_string()
    }

    /// Each file the editor was given: its path, its mode and its folder's mode.
    pub fn seen(&self) -> Vec<(PathBuf, String, String)> {
        std::fs::read_to_string(self.dir.path().join("seen"))
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let parts: Vec<&str> = line.split(' ').collect();
                (PathBuf::from(parts[0]), parts[1].to_string(), parts[2].to_string())
            })
            .collect()
    }

    pub fn assert_private_and_gone(&self) {
        let seen = self.seen();
        assert!(!seen.is_empty(), "the editor never ran");
        for (file, mode, folder_mode) in seen {
            assert_eq!(
                (mode.as_str(), folder_mode.as_str()),
                ("600", "700"),
                "{}",
                file.display()
            );
            assert!(!file.exists(), "{} left behind", file.display());
            assert!(!file.parent().unwrap().exists(), "its folder left behind");
        }
    }
}

fn edit(ns: &TestNamespace, editor: &Editor, args: &[&str]) -> crate::support::Run {
    let command = editor.command();
    let mut full = vec!["edit"];
    full.extend_from_slice(args);
    ns.run_env(&full, &[("KUBE_EDITOR", command.as_str()), ("EDITOR", "false")])
}

pub async fn secret_with_consumer(ns: &TestNamespace, data: &[(&str, &str)]) {
    ns.secret("app", data).await;
    ns.create_deployment(deployment(
        "api",
        1,
        json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "api").await;
}

fn resource_version_unchanged(before: &k8s_openapi::api::core::v1::Secret, after: &k8s_openapi::api::core::v1::Secret) {
    assert_eq!(
        before.metadata.resource_version, after.metadata.resource_version,
        "the Secret was written"
    );
}

#[tokio::test]
async fn an_edit_changes_adds_and_removes_keys_with_a_backup_restarts_and_verifies() {
    let ns = TestNamespace::new("edit").await;
    let (token, old, keep, new_token, added) = (
        canary("token"),
        canary("old"),
        canary("keep"),
        canary("newtoken"),
        canary("added"),
    );
    secret_with_consumer(&ns, &[("TOKEN", &token), ("OLD", &old), ("KEEP", &keep)]).await;
    let editor = Editor::new(&format!(
        "grep -q 'TOKEN: \"{token}\"' \"$1\"\n\
         sed -i -e 's/^  TOKEN: .*/  TOKEN: \"{new_token}\"/' -e '/^  OLD:/d' \"$1\"\n\
         sed -i 's/^stringData:$/stringData:\\n  ADDED: {added}/' \"$1\""
    ));
    let pods_before = ns.pod_names("api-").await;
    let run = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    editor.assert_private_and_gone();
    let data = ns.secret_data("app").await;
    assert_eq!(data["TOKEN"], new_token.as_bytes());
    assert_eq!(data["ADDED"], added.as_bytes());
    assert_eq!(data["KEEP"], keep.as_bytes());
    assert!(!data.contains_key("OLD"), "removed in the editor");
    for (key, change) in [
        ("TOKEN", "changed in the editor"),
        ("ADDED", "added in the editor"),
        ("OLD", "removed in the editor"),
    ] {
        assert!(
            run.stdout.lines().any(|l| l.contains(key) && l.contains(change)),
            "{key}: {change}\n{}",
            run.stdout
        );
    }
    assert!(
        ns.pod_names("api-").await.iter().all(|p| !pods_before.contains(p)),
        "the consumer restarted"
    );
    assert!(run.stdout.contains("exact"), "verified: {}", run.stdout);
    run.assert_no_leak([&token, &old, &keep, &new_token, &added]);

    // Backed up first: history lists the edit, and rollback brings every key back.
    let history = ns.run(&["history", "app"]);
    assert!(
        history.stdout.contains("kubectl-secrets edit by admin"),
        "{}",
        history.stdout
    );
    let rollback = ns.run(&["rollback", "app", "--yes"]);
    assert_eq!(rollback.code, exit::OK, "{rollback:?}");
    let data = ns.secret_data("app").await;
    assert_eq!(data["TOKEN"], token.as_bytes());
    assert_eq!(data["OLD"], old.as_bytes());
    assert!(!data.contains_key("ADDED"));
    for out in [&history, &rollback] {
        out.assert_no_leak([&token, &old, &keep, &new_token, &added]);
    }
}

#[tokio::test]
async fn unchanged_failed_or_unreadable_edits_change_nothing_and_leave_no_file() {
    let ns = TestNamespace::new("edit-ways-out").await;
    let token = canary("token");
    secret_with_consumer(&ns, &[("TOKEN", &token)]).await;
    let before = ns.get_secret("app").await.unwrap();

    // Saved unchanged: cancelled, as kubectl edit says it.
    let editor = Editor::new("true");
    let unchanged = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(unchanged.code, exit::OK, "{unchanged:?}");
    assert!(
        unchanged.stderr.contains("Edit cancelled, no changes made."),
        "{unchanged:?}"
    );
    editor.assert_private_and_gone();

    // Emptied: cancelled too.
    let editor = Editor::new(": > \"$1\"");
    let emptied = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(emptied.code, exit::OK, "{emptied:?}");
    assert!(emptied.stderr.contains("Edit cancelled"), "{emptied:?}");

    // The editor fails: exit 12, nothing written.
    let editor = Editor::new("sed -i 's/^  TOKEN: .*/  TOKEN: \"x\"/' \"$1\"\nexit 3");
    let failed = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(failed.code, exit::INPUT, "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("exited with exit status: 3: nothing was changed"),
        "{}",
        failed.stderr
    );
    editor.assert_private_and_gone();

    // Garbage saved, then the same garbage again: reopened once with the error on top, then
    // given up (exit 12).
    let editor =
        Editor::new("grep -q 'could not be read' \"$1\" || printf 'stringData:\\n  TOKEN: [broken\\n' > \"$1\"");
    let garbage = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(garbage.code, exit::INPUT, "{garbage:?}");
    assert_eq!(editor.seen().len(), 2, "reopened once");
    assert!(
        garbage.stderr.contains("cannot be read") && garbage.stderr.contains("reopening"),
        "{}",
        garbage.stderr
    );
    assert!(garbage.stderr.contains("still cannot be read"), "{}", garbage.stderr);
    editor.assert_private_and_gone();

    // Without a terminal and without --yes: refused before the editor opens.
    let editor = Editor::new("true");
    let no_yes = edit(&ns, &editor, &["app"]);
    assert_eq!(no_yes.code, exit::USAGE, "{no_yes:?}");
    assert!(no_yes.stderr.contains("--yes"), "{}", no_yes.stderr);
    assert!(editor.seen().is_empty(), "the editor did not open");

    resource_version_unchanged(&before, &ns.get_secret("app").await.unwrap());
    for out in [&unchanged, &emptied, &failed, &garbage, &no_yes] {
        out.assert_no_leak([&token]);
    }
}

#[tokio::test]
async fn garbage_then_a_fix_is_applied_after_the_reopened_file() {
    let ns = TestNamespace::new("edit-fix").await;
    let (token, fixed) = (canary("token"), canary("fixed"));
    secret_with_consumer(&ns, &[("TOKEN", &token)]).await;
    let editor = Editor::new(&format!(
        "if grep -q 'could not be read' \"$1\"; then printf 'stringData:\\n  TOKEN: {fixed}\\n' > \"$1\"; \
         else printf 'stringData:\\n  TOKEN: [broken {token}\\n' > \"$1\"; fi"
    ));
    let run = edit(&ns, &editor, &["app", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert_eq!(editor.seen().len(), 2);
    assert_eq!(ns.secret_data("app").await["TOKEN"], fixed.as_bytes());
    editor.assert_private_and_gone();
    run.assert_no_leak([&token, &fixed]);
}

#[tokio::test]
async fn owned_secrets_and_required_keys_are_refused_with_the_way_that_fits() {
    let ns = TestNamespace::new("edit-refused").await;
    let value = canary("sealed");
    crate::support::kubeseal_and_apply(&ns.name, "api-keys", &[("openai", &value)]);
    crate::seal::unsealed(&ns, "api-keys").await;
    let editor = Editor::new("true");
    let sealed = edit(&ns, &editor, &["api-keys", "--yes"]);
    assert_eq!(sealed.code, exit::USAGE, "{sealed:?}");
    assert!(
        sealed.stderr.contains("unsealed from SealedSecret api-keys") && sealed.stderr.contains("seal --edit FILE"),
        "{}",
        sealed.stderr
    );
    assert!(editor.seen().is_empty(), "refused before the editor");

    // One External Secrets syncs (ESO's own fake provider): its value lives at the provider.
    let synced_value = canary("synced");
    ns.apply(&json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "fake"},
        "spec": {"provider": {"fake": {"data": [{"key": "api-key", "value": synced_value}]}}}
    }));
    ns.create_external_secret(json!({
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
        "metadata": {"name": "api"},
        "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "SecretStore", "name": "fake"},
                 "target": {"name": "api-secrets"},
                 "data": [{"secretKey": "API_KEY", "remoteRef": {"key": "api-key"}}]}
    }))
    .await;
    let synced = edit(&ns, &editor, &["api-secrets", "--yes"]);
    assert_eq!(synced.code, exit::USAGE, "{synced:?}");
    assert!(
        synced.stderr.contains("synced by ExternalSecret api") && synced.stderr.contains("rotate"),
        "{}",
        synced.stderr
    );
    assert!(editor.seen().is_empty(), "refused before the editor");
    assert_eq!(ns.secret_data("api-secrets").await["API_KEY"], synced_value.as_bytes());
    synced.assert_no_leak([&synced_value]);

    // A key a container requires (secretKeyRef, not optional) cannot be removed.
    let token = canary("token");
    ns.secret("db", &[("PASSWORD", &token), ("EXTRA", "x")]).await;
    ns.create_deployment(deployment(
        "reader",
        1,
        json!({"containers": [{"name": "c", "image": "i", "env": [
            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "PASSWORD"}}}
        ]}]}),
    ))
    .await;
    let before = ns.get_secret("db").await.unwrap();
    let editor = Editor::new("sed -i '/^  PASSWORD:/d' \"$1\"");
    let required = edit(&ns, &editor, &["db", "--yes", "--no-issuer"]);
    assert_eq!(required.code, exit::USAGE, "{required:?}");
    assert!(
        required.stderr.contains("PASSWORD is still required by") && required.stderr.contains("reader"),
        "{}",
        required.stderr
    );
    resource_version_unchanged(&before, &ns.get_secret("db").await.unwrap());
    editor.assert_private_and_gone();

    // Not found: exit 6, no editor.
    let editor = Editor::new("true");
    let missing = edit(&ns, &editor, &["nope", "--yes"]);
    assert_eq!(missing.code, exit::NOT_FOUND, "{missing:?}");
    assert!(editor.seen().is_empty());
    for out in [&sealed, &required, &missing] {
        out.assert_no_leak([&value, &token]);
    }
}
