//! The kubeconfig authentication kinds users have, against the bed's real API server: an exec
//! credential plugin whose short-lived token must be refreshed, a client certificate signed by
//! the cluster's CA, a token file, a `proxy-url` through an HTTP CONNECT proxy, and a token the
//! server rejects (exit 5, never printed).

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::support::*;

/// The bed's server URL, CA (base64) and the admin's token, from its admin kubeconfig and PKI.
struct Bed {
    server: String,
    ca_data: String,
    pki: PathBuf,
    admin_token: String,
}

fn bed() -> Bed {
    let admin = &cluster().admin_kubeconfig;
    let config: Value = serde_saphyr::from_str(&std::fs::read_to_string(admin).unwrap()).unwrap();
    let cluster = &config["clusters"][0]["cluster"];
    Bed {
        server: cluster["server"].as_str().unwrap().to_string(),
        ca_data: cluster["certificate-authority-data"].as_str().unwrap().to_string(),
        pki: admin.with_file_name("pki"),
        admin_token: config["users"][0]["user"]["token"].as_str().unwrap().to_string(),
    }
}

/// A kubeconfig with this `user` entry (and `proxy-url` when given), written into `dir`.
fn kubeconfig(dir: &Path, name: &str, bed: &Bed, user: Value, proxy: Option<&str>) -> PathBuf {
    let mut cluster = json!({"server": bed.server, "certificate-authority-data": bed.ca_data});
    if let Some(proxy) = proxy {
        cluster["proxy-url"] = json!(proxy);
    }
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "bed", "cluster": cluster}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": "bed", "user": name}}],
        "current-context": name,
    });
    let path = dir.join(format!("{name}.kubeconfig"));
    std::fs::write(&path, config.to_string()).unwrap();
    path
}

/// A helper process stopped when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn executable(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn run_in(kubeconfig: &Path, ns: &TestNamespace, args: &[&str]) -> Run {
    let mut full = args.to_vec();
    full.extend(["-n", &ns.name]);
    run_with(kubeconfig, &full)
}

#[tokio::test]
async fn an_exec_plugin_token_that_expires_is_fetched_again() {
    let ns = TestNamespace::new("auth-exec").await;
    let value = canary("exec");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let plugin = dir.path().join("bed-credentials");
    // Like `aws eks get-token`: a token valid for one second, so a rotation outlives it.
    executable(
        &plugin,
        &format!(
            "#!/bin/sh\necho call >> {}\nexpires=$(date -u -d '+1 second' +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{{\"token\":\"%s\",\"expirationTimestamp\":\"%s\"}}}}' '{}' \"$expires\"\n",
            calls.display(),
            bed.admin_token
        ),
    );
    let user = json!({"exec": {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": plugin.display().to_string(),
        "interactiveMode": "Never"
    }});
    let config = kubeconfig(dir.path(), "exec", &bed, user, None);
    let run = run_in(&config, &ns, &["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let called = std::fs::read_to_string(&calls).unwrap().lines().count();
    assert!(called >= 2, "the expired token was fetched again: {called} calls");
    run.assert_no_leak([&value, &bed.admin_token]);
}

#[tokio::test]
async fn a_client_certificate_a_token_file_and_a_proxy_url_all_work() {
    let ns = TestNamespace::new("auth-kinds").await;
    let value = canary("kinds");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // A client certificate for a member of system:masters, signed by the cluster's CA.
    let key = d.join("client.key");
    let csr = d.join("client.csr");
    // A v3 certificate for client authentication, as kubeadm issues them (webpki rejects v1).
    let ext = d.join("client.ext");
    std::fs::write(
        &ext,
        "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n",
    )
    .unwrap();
    let crt = d.join("client.crt");
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "openssl {args:?}");
    };
    let path = |p: &Path| p.display().to_string();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/O=system:masters/CN=e2e-cert-user",
        "-keyout",
        &path(&key),
        "-out",
        &path(&csr),
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        &path(&csr),
        "-CA",
        &path(&bed.pki.join("ca.crt")),
        "-CAkey",
        &path(&bed.pki.join("ca.key")),
        "-CAcreateserial",
        "-CAserial",
        &path(&d.join("ca.srl")),
        "-days",
        "1",
        "-extfile",
        &path(&ext),
        "-out",
        &path(&crt),
    ]);
    let certificate = kubeconfig(
        d,
        "certificate",
        &bed,
        json!({"client-certificate": path(&crt), "client-key": path(&key)}),
        None,
    );
    let token_file = d.join("token");
    std::fs::write(&token_file, &bed.admin_token).unwrap();
    let file = kubeconfig(d, "token-file", &bed, json!({"tokenFile": path(&token_file)}), None);

    // Through an HTTP CONNECT proxy (kubectl's proxy-url).
    let log = d.join("proxy.log");
    let mut proxy = KillOnDrop(
        Command::new("python3")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed/connect-proxy.py"))
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut port = String::new();
    std::io::BufReader::new(proxy.0.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let proxied = kubeconfig(
        d,
        "proxied",
        &bed,
        json!({"token": bed.admin_token}),
        Some(&format!("http://127.0.0.1:{}", port.trim())),
    );

    let mut runs = Vec::new();
    for config in [&certificate, &file, &proxied] {
        let verify = run_in(config, &ns, &["verify", "app"]);
        assert_eq!(verify.code, exit::OK, "{config:?}: {verify:?}");
        assert!(
            verify.stdout.contains("deployment/api"),
            "{config:?}: {}",
            verify.stdout
        );
        runs.push(verify);
    }
    let rotate = run_in(&proxied, &ns, &["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(rotate.code, exit::OK, "{rotate:?}");
    drop(proxy);
    let tunnels = std::fs::read_to_string(&log).unwrap_or_default();
    let api = bed.server.trim_start_matches("https://");
    assert!(
        tunnels.contains(&format!("CONNECT {api}")),
        "no request went through the proxy: {tunnels:?}"
    );
    runs.push(rotate);
    for run in &runs {
        run.assert_no_leak([value.as_str(), bed.admin_token.as_str()]);
    }
}

#[tokio::test]
async fn a_token_the_server_rejects_is_exit_5_and_never_printed() {
    let ns = TestNamespace::new("auth-expired").await;
    let bed = bed();
    let dir = tempfile::tempdir().unwrap();
    let revoked = format!("{}-revoked", canary("token"));
    let config = kubeconfig(dir.path(), "revoked", &bed, json!({"token": revoked}), None);
    let run = run_in(&config, &ns, &["list"]);
    assert_eq!(run.code, exit::FORBIDDEN, "{run:?}");
    assert!(
        run.stderr.contains("rejected the credentials") && run.stderr.contains("\"revoked\""),
        "{}",
        run.stderr
    );
    run.assert_no_leak([&revoked]);
}
