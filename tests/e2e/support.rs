//! Test-bed helpers: a throw-away namespace per test, objects made with the kube client, the
//! real binary run as a user would, and the leak check every test ends with.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{json, Value};

/// The crate's own exit codes and annotation names: tests never hard-code them.
pub use kubectl_secrets::domain::annotations;
pub use kubectl_secrets::error::exit;

pub struct Cluster {
    pub admin_kubeconfig: PathBuf,
}

impl Cluster {
    /// Another test user's kubeconfig (reader, patcher, limited), made by cluster-up.
    pub fn kubeconfig_of(&self, user: &str) -> PathBuf {
        self.admin_kubeconfig.with_file_name(format!("{user}.kubeconfig"))
    }
}

const MAIN_CLUSTER: &str = "KUBECTL_SECRETS_E2E_KUBECONFIG";

/// The local cluster: from `make e2e` / `make test`, which always name it.
pub fn cluster() -> &'static Cluster {
    static CLUSTER: OnceLock<Cluster> = OnceLock::new();
    CLUSTER.get_or_init(|| Cluster {
        admin_kubeconfig: started(MAIN_CLUSTER, "scripts/cluster-up.sh"),
    })
}

/// The kubeconfig `env_var` names (set by make). `auto` starts (or finds) the clusters with
/// `script` and takes the kubeconfig it prints last. Unset: plain `cargo test` on a machine
/// without the bed; this target then ends at once, successfully, saying so in one line, so that
/// the unit, CLI and engine tests are the contributor's inner loop. A run that names the main
/// cluster but not the fleet fails instead: a half-named bed never skips tests silently.
pub fn started(env_var: &str, script: &str) -> PathBuf {
    let path = match std::env::var(env_var).unwrap_or_default().as_str() {
        "" if env_var != MAIN_CLUSTER && std::env::var(MAIN_CLUSTER).is_ok_and(|v| !v.is_empty()) => {
            panic!("{env_var} is unset while {MAIN_CLUSTER} is set: give both (make e2e does), or {env_var}=auto")
        }
        "" => {
            // Straight to the stream: libtest captures eprintln! inside a test, and this line must be seen.
            let _ = writeln!(
                std::io::stderr(),
                "\ne2e: skipped, no local cluster named ({env_var} unset): `make e2e` or `make test` run these tests against the bed ({env_var}=auto starts it from here)"
            );
            std::process::exit(0);
        }
        "auto" => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let out = Command::new("bash")
                .arg(&script)
                .output()
                .expect("run the bed's script");
            assert!(
                out.status.success(),
                "{} failed:\n{}",
                script.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8(out.stdout).expect("utf-8 path");
            PathBuf::from(stdout.lines().last().expect("kubeconfig path").trim())
        }
        path => PathBuf::from(path),
    };
    assert!(
        path.exists(),
        "kubeconfig {path:?} does not exist: is the local cluster up (make cluster-up, make fleet-up)?"
    );
    path
}

pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

pub async fn admin() -> Client {
    client_for(&cluster().admin_kubeconfig).await
}

/// What one run of the binary printed, and how it ended.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// No secret value, nor its base64 form, appears in anything the tool printed.
    pub fn assert_no_leak<S: AsRef<str>>(&self, values: impl IntoIterator<Item = S>) {
        use base64::Engine as _;
        for value in values {
            let value = value.as_ref();
            let encoded = base64::engine::general_purpose::STANDARD.encode(value);
            for (stream, text) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
                assert!(!text.contains(value), "a secret value leaked into {stream}:\n{text}");
                assert!(
                    !text.contains(&encoded),
                    "a base64-encoded secret value leaked into {stream}:\n{text}"
                );
            }
        }
    }

    pub fn yaml(&self) -> Value {
        serde_saphyr::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not YAML ({e}):\n{}", self.stdout))
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The row of Secret `name` in `list -o json`'s output.
    pub fn listed(&self, name: &str) -> Value {
        self.json()["secrets"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["name"] == name))
            .cloned()
            .unwrap_or_else(|| panic!("{name} is not listed:\n{}", self.stdout))
    }
}

/// Run `kubectl-secrets ARGS` as a user would, with the given kubeconfig.
pub fn run_with(kubeconfig: &Path, args: &[&str]) -> Run {
    run_with_stdin(kubeconfig, args, b"")
}

/// Same, with bytes on standard input (which is not a terminal).
pub fn run_with_stdin(kubeconfig: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run_full(kubeconfig, args, stdin, &[])
}

/// Same, with extra environment variables.
pub fn run_full(kubeconfig: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args(args)
        .envs(provider_env())
        .envs(env.iter().copied())
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl-secrets");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait for kubectl-secrets");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A random value that must never be printed: tests plant it in Secrets and check every output.
pub fn canary(label: &str) -> String {
    use rand::Rng as _;
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("canary-{label}-{suffix}")
}

/// A namespace of its own for one test, deleted (without waiting) when the test ends.
pub struct TestNamespace {
    pub name: String,
    pub client: Client,
}

impl TestNamespace {
    pub async fn new(prefix: &str) -> Self {
        use rand::Rng as _;
        let suffix: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(6)
            .map(char::from)
            .collect();
        let name = format!("e2e-{prefix}-{}", suffix.to_lowercase());
        let client = admin().await;
        let ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"kubectl-secrets.io/e2e": "true"}}
        }))
        .unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        TestNamespace { name, client }
    }

    /// Run the binary as admin in this namespace.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_as("admin", args, b"")
    }

    /// Run the binary as admin in this namespace with extra environment (an editor, say).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-n", &self.name]);
        run_full(&cluster().kubeconfig_of("admin"), &full, b"", env)
    }

    /// Run the binary as a test user in this namespace, with bytes on stdin.
    pub fn run_as(&self, user: &str, args: &[&str], stdin: &[u8]) -> Run {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["-n", &self.name]);
        run_with_stdin(&cluster().kubeconfig_of(user), &full, stdin)
    }

    pub async fn get_secret(&self, name: &str) -> Option<Secret> {
        Api::<Secret>::namespaced(self.client.clone(), &self.name)
            .get_opt(name)
            .await
            .expect("get secret")
    }

    /// The Secret's data, key → bytes (panics if it does not exist).
    pub async fn secret_data(&self, name: &str) -> BTreeMap<String, Vec<u8>> {
        let secret = self
            .get_secret(name)
            .await
            .unwrap_or_else(|| panic!("secret {name} does not exist"));
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect()
    }

    pub async fn secret_annotation(&self, name: &str, key: &str) -> Option<String> {
        self.get_secret(name).await?.metadata.annotations?.get(key).cloned()
    }

    /// Names of the Secrets of this namespace.
    pub async fn secret_names(&self) -> Vec<String> {
        let list = Api::<Secret>::namespaced(self.client.clone(), &self.name)
            .list(&Default::default())
            .await
            .expect("list");
        list.items.into_iter().filter_map(|s| s.metadata.name).collect()
    }

    /// Names of the running (not terminating) pods whose names start with `prefix`.
    pub async fn pod_names(&self, prefix: &str) -> Vec<String> {
        let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(self.client.clone(), &self.name);
        let mut names: Vec<String> = pods
            .list(&Default::default())
            .await
            .expect("list pods")
            .items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter_map(|p| p.metadata.name)
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        names
    }

    pub async fn template_annotation(&self, deployment: &str, key: &str) -> Option<String> {
        let d = Api::<Deployment>::namespaced(self.client.clone(), &self.name)
            .get(deployment)
            .await
            .expect("get deployment");
        d.spec.template.metadata?.annotations?.get(key).cloned()
    }

    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.name);
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        };
        api.create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

    /// Create any Secret, given as its JSON manifest.
    pub async fn create_secret(&self, manifest: Value) {
        let secret: Secret = serde_json::from_value(manifest).expect("a Secret manifest");
        Api::<Secret>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &secret)
            .await
            .expect("create secret");
    }

    /// The most common scenario: Secret `secret` {key: value} read through envFrom by a ready
    /// one-replica Deployment `deployment`.
    pub async fn secret_with_consumer(&self, secret: &str, key: &str, value: &str, deployment_name: &str) {
        self.secret(secret, &[(key, value)]).await;
        let spec = json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": secret}}]}]});
        self.create_deployment(deployment(deployment_name, 1, spec)).await;
        self.wait_ready("deployment", deployment_name).await;
    }

    /// Change keys the way `kubectl patch secret` does (a different field manager).
    pub async fn patch_secret(&self, name: &str, data: &[(&str, &str)]) {
        use base64::Engine as _;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.name);
        let encoded: BTreeMap<&str, String> = data
            .iter()
            .map(|(k, v)| (*k, base64::engine::general_purpose::STANDARD.encode(v)))
            .collect();
        let params = PatchParams {
            field_manager: Some("kubectl-patch".into()),
            ..Default::default()
        };
        api.patch(name, &params, &Patch::Merge(json!({"data": encoded})))
            .await
            .expect("patch secret");
    }

    /// Annotate a Secret as `kubectl annotate` does: under a field manager of its own (the test
    /// client made the data; a write under its name would count as an edit of the data).
    pub async fn annotate_secret(&self, name: &str, annotations: BTreeMap<&str, String>) {
        let params = PatchParams {
            field_manager: Some("kubectl-annotate".into()),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.client.clone(), &self.name)
            .patch(
                name,
                &params,
                &Patch::Merge(json!({"metadata": {"annotations": annotations}})),
            )
            .await
            .expect("annotate secret");
    }

    pub async fn create_deployment(&self, deployment: Value) {
        let d: Deployment = serde_json::from_value(deployment).expect("deployment json");
        Api::<Deployment>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &d)
            .await
            .expect("create deployment");
    }

    pub async fn create_stateful_set(&self, stateful_set: Value) {
        let s: StatefulSet = serde_json::from_value(stateful_set).expect("statefulset json");
        Api::<StatefulSet>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &s)
            .await
            .expect("create statefulset");
    }

    pub async fn create_daemon_set(&self, daemon_set: Value) {
        let d: DaemonSet = serde_json::from_value(daemon_set).expect("daemonset json");
        Api::<DaemonSet>::namespaced(self.client.clone(), &self.name)
            .create(&PostParams::default(), &d)
            .await
            .expect("create daemonset");
    }

    /// Wait until every pod of the workload is updated and ready (polling, bounded).
    pub async fn wait_ready(&self, kind: &str, name: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            if self.is_ready(kind, name).await {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{kind}/{name} in {} did not become ready in 90 s",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn is_ready(&self, kind: &str, name: &str) -> bool {
        let ns = &self.name;
        match kind {
            "deployment" => {
                let d = Api::<Deployment>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .expect("get deployment");
                let want = d.spec.replicas.unwrap_or(1);
                let s = d.status.unwrap_or_default();
                s.observed_generation == d.metadata.generation
                    && s.updated_replicas == Some(want)
                    && s.ready_replicas == Some(want)
                    && s.replicas == Some(want)
            }
            "statefulset" => {
                let d = Api::<StatefulSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .expect("get statefulset");
                let want = d.spec.replicas.unwrap_or(1);
                let s = d.status.unwrap_or_default();
                s.observed_generation == d.metadata.generation
                    && s.ready_replicas == Some(want)
                    && s.updated_replicas == Some(want)
                    && s.current_revision == s.update_revision
            }
            "daemonset" => {
                let d = Api::<DaemonSet>::namespaced(self.client.clone(), ns)
                    .get(name)
                    .await
                    .expect("get daemonset");
                let s = d.status.unwrap_or_default();
                s.observed_generation == d.metadata.generation
                    && s.desired_number_scheduled > 0
                    && s.number_ready == s.desired_number_scheduled
                    && s.updated_number_scheduled == Some(s.desired_number_scheduled)
            }
            other => panic!("unknown workload kind {other}"),
        }
    }

    /// Grant a test user a Role in this namespace only.
    pub fn grant(&self, user: &str, rules: Value) {
        let manifest = json!({
            "apiVersion": "v1", "kind": "List", "items": [
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                 "metadata": {"name": format!("e2e-{user}"), "namespace": self.name}, "rules": rules},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": {"name": format!("e2e-{user}"), "namespace": self.name},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": format!("e2e-{user}")},
                 "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}
            ]
        });
        kubectl_apply(&manifest.to_string());
        // The API server's authorizer learns of a new RoleBinding from its own watch, a moment
        // later: wait until the first rule is in force, or a test runs on stale permissions.
        let rule = &rules[0];
        let group = rule["apiGroups"][0].as_str().unwrap_or_default();
        let resource = rule["resources"][0].as_str().unwrap_or_default();
        let resource = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        let verb = rule["verbs"][0].as_str().unwrap_or("get");
        for _ in 0..100 {
            let answer = Command::new(kubectl_path())
                .arg("--kubeconfig")
                .arg(&cluster().admin_kubeconfig)
                .args(["auth", "can-i", verb, &resource, "-n", &self.name, "--as", user])
                .output()
                .expect("kubectl auth can-i");
            if String::from_utf8_lossy(&answer.stdout).trim() == "yes" {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the grant to {user} never took effect");
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = Command::new(kubectl_path())
            .args(["--kubeconfig"])
            .arg(&cluster().admin_kubeconfig)
            .args(["delete", "namespace", &self.name, "--wait=false"])
            .output();
    }
}

/// The test bed's own kubectl (built by scripts/build-testbed.sh).
pub fn kubectl_path() -> PathBuf {
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-testbed.sh"))
        .output()
        .expect("run build-testbed.sh");
    let dir = String::from_utf8(out.stdout).expect("utf-8").trim().to_string();
    PathBuf::from(dir).join("kubectl")
}

pub fn kubectl_apply(manifest: &str) {
    use std::io::Write as _;
    let mut child = Command::new(kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kubectl apply");
    child.stdin.take().unwrap().write_all(manifest.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "kubectl apply failed");
}

/// A Deployment manifest: `containers` is the list of container specs (env, envFrom, mounts).
pub fn deployment(name: &str, replicas: i32, pod_spec: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
        }
    })
}

pub fn stateful_set(name: &str, replicas: i32, pod_spec: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "serviceName": name,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
        }
    })
}

pub fn daemon_set(name: &str, pod_spec: Value) -> Value {
    json!({
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}
        }
    })
}

/// The same manifest with annotations on its pod template (kwok Stages read them).
pub fn with_pod_annotations(mut workload: Value, annotations: Value) -> Value {
    workload["spec"]["template"]["metadata"]["annotations"] = annotations;
    workload
}

/// Container start times and managedFields times have one-second resolution: wait past the
/// next second so "before" and "after" are unambiguous.
pub async fn next_second() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

/// The Sealed Secrets controller's HTTP address (for kubeseal --cert URL).
pub fn sealed_secrets_url() -> String {
    let path = cluster().admin_kubeconfig.with_file_name("sealed-secrets-url");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path:?}: {e}"))
        .trim()
        .to_string()
}

/// Seal a Secret with the real kubeseal (strict scope) into a temporary file.
pub fn kubeseal_to_file(namespace: &str, name: &str, data: &[(&str, &str)]) -> tempfile::NamedTempFile {
    let manifest = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "stringData": data.iter().map(|(k, v)| (k.to_string(), Value::String(v.to_string()))).collect::<serde_json::Map<_, _>>()
    });
    let mut kubeseal = Command::new(kubectl_path().with_file_name("kubeseal"));
    kubeseal.args([
        "--cert",
        &format!("{}/v1/cert.pem", sealed_secrets_url()),
        "--format",
        "json",
    ]);
    let sealed = output_with_stdin(kubeseal, manifest.to_string().as_bytes());
    let file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    std::fs::write(file.path(), sealed).unwrap();
    file
}

/// Run a program of the bed with `stdin` (values go there, never in its arguments); its stdout.
fn output_with_stdin(mut command: Command, stdin: &[u8]) -> Vec<u8> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Seal a Secret with the real kubeseal and apply it; the real controller unseals it.
pub fn kubeseal_and_apply(namespace: &str, name: &str, data: &[(&str, &str)]) {
    let file = kubeseal_to_file(namespace, name, data);
    kubectl_apply(&std::fs::read_to_string(file.path()).unwrap());
}

/// Metric name → secret label → value, as prometheus_client's own text parser reads `text`
/// (panics if the parser rejects it).
pub fn parse_prometheus(text: &str) -> Value {
    let parse = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.setdefault(s.name, {})[s.labels["secret"]] = s.value
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .args(["-c", parse])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the output:\n{text}"
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A certificate for `dns_names` valid from `start` to `end` (openssl's YYYYMMDDHHMMSSZ),
/// self-signed by a CA named `issuer`: (certificate PEM, private key PEM).
pub fn make_certificate(issuer: &str, dns_names: &[&str], start: &str, end: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let san: Vec<String> = dns_names.iter().map(|d| format!("DNS:{d}")).collect();
    // openssl ca (not req -x509) because it can set both dates.
    let sh = format!(
        "openssl req -newkey rsa:2048 -nodes -keyout ca.key -subj '/CN={issuer}' -x509 -days 3650 -out ca.pem 2>/dev/null \
         && openssl req -newkey rsa:2048 -nodes -keyout tls.key -subj '/CN={first}' -out tls.csr 2>/dev/null \
         && touch index.txt && echo 01 > serial \
         && printf '[ca]\ndefault_ca=x\n[x]\ndatabase=index.txt\nserial=serial\nnew_certs_dir=.\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n[san]\nsubjectAltName={san}\n' > ca.cnf \
         && openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in tls.csr -out tls.crt \
            -extensions san -startdate {start} -enddate {end} 2>/dev/null",
        first = dns_names[0],
        san = san.join(","),
    );
    let ok = Command::new("sh")
        .args(["-c", &sh])
        .current_dir(dir.path())
        .status()
        .unwrap()
        .success();
    assert!(ok, "openssl could not make the test certificate");
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
    (read("tls.crt"), read("tls.key"))
}

/// kubectl-secrets running in the background, its stderr read line by line.
pub struct Background {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Background {
    pub fn spawn(kubeconfig: &std::path::Path, args: &[&str], failpoint: Option<&str>) -> Background {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
        command
            .args(args)
            .envs(provider_env())
            .env("KUBECONFIG", kubeconfig)
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(point) = failpoint {
            command.env("KUBECTL_SECRETS_FAILPOINT", point);
        }
        let mut child = command.spawn().unwrap();
        let stderr_pipe = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = Arc::new(Mutex::new(String::new()));
        let all = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                all.lock().unwrap().push_str(&format!("{line}\n"));
                let _ = tx.send(line);
            }
        });
        Background { child, lines, stderr }
    }

    /// Block until a line of stderr contains `marker`.
    pub fn wait_for(&self, marker: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
                if line.contains(marker) {
                    return;
                }
            }
        }
        panic!(
            "kubectl-secrets never printed {marker:?}:\n{}",
            self.stderr.lock().unwrap()
        );
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    pub fn finish(mut self) -> Run {
        let mut stdout = String::new();
        self.child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().unwrap().clone();
        Run {
            code: status.code().unwrap_or(-1),
            stdout,
            stderr,
        }
    }
}

/// The bed's AWS Secrets Manager (moto) settings, from the aws.env cluster-up writes beside the
/// admin kubeconfig: every run of the binary gets them, as a person who sourced it would.
pub fn aws_env() -> Vec<(String, String)> {
    static ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ENV.get_or_init(|| env_file("aws.env")).clone()
}

/// What every run of the binary gets: the bed's AWS and Vault settings (VAULT_ADDR and the
/// dev server's token), as a person who sourced aws.env and vault.env would.
pub fn provider_env() -> Vec<(String, String)> {
    static ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();
    ENV.get_or_init(|| [env_file("aws.env"), env_file("vault.env")].concat())
        .clone()
}

/// The `export K=V ...` lines of a file cluster-up writes beside the admin kubeconfig
/// (aws.env, vault.env); none when the bed has no such file.
fn env_file(name: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(cluster().admin_kubeconfig.with_file_name(name)).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .flat_map(|l| l.split_whitespace())
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run Python with boto3 against the bed's AWS Secrets Manager, as a person would from a shell
/// (`c` is the secretsmanager client); returns stdout.
pub fn boto3(code: &str) -> String {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    let python = PYTHON.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/install-moto.sh");
        let out = Command::new("bash").arg(script).output().expect("install-moto.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/python")
    });
    let program = format!("import boto3, json\nc = boto3.client('secretsmanager')\n{code}\n");
    let out = Command::new(python)
        .arg("-c")
        .arg(program)
        .envs(aws_env())
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "boto3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `vault kv put -mount=secret PATH -` with `data` (JSON) on stdin, as a person would from a
/// shell with the bed's vault.env sourced; returns the version Vault made.
pub fn vault_kv_put(path: &str, data: &Value) -> u64 {
    let answer = vault(
        &["kv", "put", "-format=json", "-mount=secret", path, "-"],
        data.to_string().as_bytes(),
    );
    answer["data"]["version"].as_u64().expect("the version Vault made")
}

/// `vault ARGS` (with -format=json among them) and the bed's vault.env, as a person would run
/// it; its answer (null when it prints none).
pub fn vault(args: &[&str], stdin: &[u8]) -> Value {
    static VAULT: OnceLock<PathBuf> = OnceLock::new();
    let vault = VAULT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-vault.sh");
        let out = Command::new("bash").arg(script).output().expect("build-vault.sh");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("vault")
    });
    let mut command = Command::new(vault);
    command.args(args).envs(env_file("vault.env"));
    let out = output_with_stdin(command, stdin);
    // Writes without an answer (`kv metadata put`) print nothing.
    if out.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(&out).unwrap()
}

/// `vault kv metadata get -mount=secret PATH`: current_version, versions, custom_metadata...
pub fn vault_metadata(path: &str) -> Value {
    vault(&["kv", "metadata", "get", "-format=json", "-mount=secret", path], b"")["data"].clone()
}

/// The data of a version of a KV v2 path (`vault kv get -version=N`).
pub fn vault_data(path: &str, version: u64) -> Value {
    let version = format!("-version={version}");
    vault(&["kv", "get", "-format=json", "-mount=secret", &version, path], b"")["data"]["data"].clone()
}

/// The stages of each version of a remote secret: version id → stages.
pub fn aws_stages(secret: &str) -> BTreeMap<String, Vec<String>> {
    let out = boto3(&format!(
        "print(json.dumps({{v['VersionId']: v['VersionStages'] for v in c.list_secret_version_ids(SecretId='{secret}', IncludeDeprecated=True)['Versions']}}))"
    ));
    serde_json::from_str(&out).unwrap()
}

/// The current (AWSCURRENT) JSON of a remote secret.
pub fn aws_current(secret: &str) -> Value {
    // The stage is named: moto answers a request without one from the version last put.
    let out = boto3(&format!(
        "print(c.get_secret_value(SecretId='{secret}', VersionStage='AWSCURRENT')['SecretString'])"
    ));
    serde_json::from_str(&out).unwrap()
}

impl TestNamespace {
    /// `kubectl apply` of a manifest (its namespace set to this one when it has none).
    pub fn apply(&self, manifest: &Value) {
        let mut manifest = manifest.clone();
        if manifest["metadata"].get("namespace").is_none() {
            manifest["metadata"]["namespace"] = json!(self.name);
        }
        kubectl_apply(&manifest.to_string());
    }

    /// An ExternalSecret (external-secrets.io/v1) in this namespace, and its synced Secret awaited.
    pub async fn create_external_secret(&self, manifest: Value) {
        use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
        let resource = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("external-secrets.io", "v1", "ExternalSecret"),
            "externalsecrets",
        );
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &self.name, &resource);
        let object: DynamicObject = serde_json::from_value(manifest).unwrap();
        let target = object.data["spec"]["target"]["name"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| object.metadata.name.clone().unwrap());
        api.create(&PostParams::default(), &object)
            .await
            .expect("create ExternalSecret");
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.get_secret(&target).await.is_none() {
            assert!(Instant::now() < deadline, "External Secrets never created {target}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A verify report's (`-o json`) entry for one workload.
pub fn workload<'a>(report: &'a Value, kind: &str, name: &str) -> &'a Value {
    report["workloads"]
        .as_array()
        .expect("workloads array")
        .iter()
        .find(|w| w["kind"] == kind && w["name"] == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in report: {report:#}"))
}

/// A Deployment as Vault's Agent Injector leaves it (the webhook does not run on the bed: the
/// annotations and the agent's containers are in the template, as the injector adds them).
pub fn vault_agent_deployment(name: &str, path: &str, once: bool) -> Value {
    let mut annotations = json!({
        "vault.hashicorp.com/agent-inject": "true",
        "vault.hashicorp.com/agent-inject-status": "injected",
        "vault.hashicorp.com/role": "chatbox",
        "vault.hashicorp.com/agent-inject-secret-config": path,
    });
    let agent = json!({"name": "vault-agent", "image": "hashicorp/vault:1.13"});
    let mut spec = json!({
        "initContainers": [{"name": "vault-agent-init", "image": "hashicorp/vault:1.13"}],
        "containers": [{"name": name, "image": "chatbox:1"}],
    });
    if once {
        annotations["vault.hashicorp.com/agent-pre-populate-only"] = json!("true");
    } else {
        spec["containers"].as_array_mut().unwrap().push(agent);
    }
    let mut object = deployment(name, 1, spec);
    object["spec"]["template"]["metadata"]["annotations"] = annotations;
    object
}

/// A Vault-backed ExternalSecret `backend` (Secret `backend-secrets`): the password at
/// `NAMESPACE/db` (written as version 1 from `data`) as key DB_PASSWORD. Returns the path.
pub async fn vault_backed_external_secret(ns: &TestNamespace, data: Value) -> String {
    let path = format!("{}/db", ns.name);
    assert_eq!(vault_kv_put(&path, &data), 1);
    ns.create_external_secret(json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": "backend"},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"},
            "target": {"name": "backend-secrets"},
            "data": [{"secretKey": "DB_PASSWORD", "remoteRef": {"key": path, "property": "password"}}]
        }
    }))
    .await;
    path
}

/// After a rotation of `secret` to `revision`: each workload's template was restarted for it,
/// and `verify -o json` judges every workload ok. Returns the verify run (for the leak check).
pub async fn assert_restarted_and_ok(ns: &TestNamespace, workloads: &[&str], secret: &str, revision: u64) -> Run {
    let stamp = format!(r#"{{"{secret}":{revision}}}"#);
    for workload in workloads {
        assert_eq!(
            ns.template_annotation(workload, annotations::POD_SECRET_REVISIONS)
                .await
                .as_deref(),
            Some(stamp.as_str()),
            "{workload}"
        );
    }
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");
    for workload in verify.json()["workloads"].as_array().unwrap() {
        assert_eq!(workload["status"], "ok", "{workload}");
    }
    verify
}
