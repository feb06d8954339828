//! Completion through kubectl's own plugin completion: `kubectl __complete secrets ...` runs
//! `kubectl_complete-secrets`, which asks the plugin for Secret names and keys.

use std::process::Command;

use crate::support::{canary, cluster, kubectl_path, TestNamespace};

/// A folder holding `kubectl-secrets` (a link, not a copy: a file just written can be "busy"
/// when a parallel test forks), and PATH with it first.
fn plugin_on_path() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kubectl-secrets"),
        dir.path().join("kubectl-secrets"),
    )
    .unwrap();
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap_or_default());
    (dir, path)
}

/// `kubectl __complete secrets WORDS...` with the plugin and its helper on PATH.
fn kubectl_complete(words: &[&str]) -> (Vec<String>, String) {
    let (dir, path) = plugin_on_path();
    let made = Command::new(dir.path().join("kubectl-secrets"))
        .args(["completion", "kubectl-plugin", "--output-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let out = Command::new(kubectl_path())
        .args(["__complete", "secrets"])
        .args(words)
        .env("PATH", path)
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<String> = stdout.lines().map(str::to_string).collect();
    (lines, stdout)
}

#[tokio::test]
async fn kubectl_completes_subcommands_secret_names_and_keys() {
    let ns = TestNamespace::new("complete").await;
    let value = canary("complete");
    ns.secret("backend-secrets", &[("JWT_SECRET", &value), ("REDIS_PASSWORD", &value)])
        .await;
    ns.secret("api-keys", &[("openai", &value)]).await;

    let (subcommands, _) = kubectl_complete(&["ro"]);
    assert_eq!(subcommands, ["rotate", "rollback", ":4"]);

    let (secrets, out) = kubectl_complete(&["-n", &ns.name, "rotate", ""]);
    assert_eq!(secrets, ["api-keys", "backend-secrets", ":4"], "{out}");

    let (keys, out) = kubectl_complete(&["-n", &ns.name, "rotate", "backend-secrets", "--key", "R"]);
    assert_eq!(keys, ["REDIS_PASSWORD", ":4"], "{out}");
    assert!(!out.contains(&value));

    let (flags, _) = kubectl_complete(&["verify", "--fi"]);
    assert_eq!(flags, ["--fix", ":4"]);
}

/// `kubectl-secrets completion bash`, sourced in a real bash, completes through the same engine:
/// subcommands, Secret names and keys of the cluster, flags.
#[tokio::test]
async fn bash_completes_subcommands_secret_names_and_keys() {
    let ns = TestNamespace::new("complete-bash").await;
    let value = canary("bash");
    ns.secret("backend-secrets", &[("JWT_SECRET", &value), ("REDIS_PASSWORD", &value)])
        .await;
    ns.secret("api-keys", &[("openai", &value)]).await;
    let (_dir, path) = plugin_on_path();
    // What bash does on <TAB>: COMP_WORDS and COMP_CWORD set, the function called, COMPREPLY read.
    let complete = |words: &[&str]| -> Vec<String> {
        let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
        let script = format!(
            "source <(kubectl-secrets completion bash)\n\
             COMP_WORDS=(kubectl-secrets {})\nCOMP_CWORD={}\n_kubectl_secrets\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            quoted.join(" "),
            words.len()
        );
        let out = Command::new("bash")
            .args(["--norc", "--noprofile", "-c", &script])
            .env("PATH", &path)
            .env("KUBECONFIG", &cluster().admin_kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!stdout.contains(&value));
        stdout.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    };
    assert_eq!(complete(&["ro"]), ["rotate", "rollback"]);
    assert_eq!(
        complete(&["rotate", "-n", &ns.name, ""]),
        ["api-keys", "backend-secrets"]
    );
    assert_eq!(
        complete(&["rotate", "-n", &ns.name, "backend-secrets", "--key", "R"]),
        ["REDIS_PASSWORD"]
    );
    assert_eq!(complete(&["verify", "--fi"]), ["--fix"]);
}

/// `kubectl-secrets completion fish`, sourced in a real fish: what `complete -C` (the same as
/// <TAB>) offers is the cluster's names and keys, flags, and file names where a flag takes a file.
#[tokio::test]
async fn fish_completes_subcommands_secret_names_keys_and_files() {
    let ns = TestNamespace::new("complete-fish").await;
    let value = canary("fish");
    ns.secret("backend-secrets", &[("JWT_SECRET", &value), ("REDIS_PASSWORD", &value)])
        .await;
    ns.secret("api-keys", &[("openai", &value)]).await;
    let (dir, path) = plugin_on_path();
    std::fs::write(dir.path().join("app.env"), "A=1\n").unwrap();
    let complete = |line: &str| -> Vec<String> {
        let script = format!("source (kubectl-secrets completion fish | psub)\ncomplete -C '{line}'");
        let out = Command::new("fish")
            .args(["--no-config", "-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .env("KUBECONFIG", &cluster().admin_kubeconfig)
            .output()
            .expect("fish runs (scripts/install-deps.sh installs it)");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(!stdout.contains(&value));
        stdout.lines().map(str::to_string).collect()
    };
    // fish sorts what it is given.
    assert_eq!(complete("kubectl-secrets ro"), ["rollback", "rotate"]);
    assert_eq!(
        complete(&format!("kubectl-secrets rotate -n {} ", ns.name)),
        ["api-keys", "backend-secrets"]
    );
    assert_eq!(
        complete(&format!(
            "kubectl-secrets rotate -n {} backend-secrets --key R",
            ns.name
        )),
        ["REDIS_PASSWORD"]
    );
    assert_eq!(complete("kubectl-secrets verify --fi"), ["--fix"]);
    assert_eq!(complete("kubectl-secrets seal --from-env-file a"), ["app.env"]);
}
