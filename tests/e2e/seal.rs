//! `seal` and `unseal` against the real Sealed Secrets controller and the real kubeseal:
//! what seal makes, the controller unseals into exactly the original bytes (every scope); what
//! kubeseal makes, unseal opens; --merge-into keeps kubeseal's other keys.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::support::{canary, cluster, exit, kubeseal_to_file, run_with_stdin, sealed_secrets_url, TestNamespace};

fn cert_url() -> String {
    format!("{}/v1/cert.pem", sealed_secrets_url())
}

fn seal(ns: &TestNamespace, args: &[&str], stdin: &[u8]) -> crate::support::Run {
    let url = cert_url();
    let mut full = vec!["seal", "--cert", url.as_str(), "--allow-insecure-cert-url"];
    full.extend_from_slice(args);
    ns.run_as("admin", &full, stdin)
}

fn apply(ns: &TestNamespace, manifest: &str) {
    let out = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        // Server-side: a client-side apply would copy the (large) manifest into an annotation.
        .args(["apply", "--server-side", "-n", &ns.name, "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin.take().unwrap().write_all(manifest.as_bytes())?;
            c.wait()
        })
        .unwrap();
    assert!(out.success());
}

/// The controller's unsealed Secret, once it appears.
pub async fn unsealed(ns: &TestNamespace, name: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if ns.get_secret(name).await.is_some() {
            return ns.secret_data(name).await;
        }
        assert!(Instant::now() < deadline, "the controller did not unseal {name}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_controller_unseals_exactly_the_original_bytes_in_every_scope() {
    let ns = TestNamespace::new("seal").await;
    let dir = tempfile::tempdir().unwrap();
    let binary: Vec<u8> = (0..=255u8).chain([b'\n', 0, b'\r']).collect();
    let large = canary("large").repeat(6_000);
    let text = format!("{}\n", canary("text"));
    std::fs::write(dir.path().join("binary"), &binary).unwrap();
    std::fs::write(dir.path().join("large"), &large).unwrap();
    std::fs::write(dir.path().join("empty"), b"").unwrap();
    std::fs::write(dir.path().join("text"), &text).unwrap();
    let file = |name: &str| format!("{name}={}", dir.path().join(name).display());
    let (b, l, e, t) = (file("binary"), file("large"), file("empty"), file("text"));
    let strict = seal(
        &ns,
        &[
            "app",
            "--from-file",
            &b,
            "--from-file",
            &l,
            "--from-file",
            &e,
            "--from-file",
            &t,
        ],
        b"",
    );
    assert_eq!(strict.code, exit::OK, "{}", strict.stderr);
    assert!(
        strict.stderr.contains(&format!("only {}/app can unseal this", ns.name)),
        "{}",
        strict.stderr
    );
    apply(&ns, &strict.stdout);
    let data = unsealed(&ns, "app").await;
    assert_eq!(data["binary"], binary);
    assert_eq!(data["large"], large.as_bytes());
    assert_eq!(data["empty"], b"");
    assert_eq!(data["text"], text.as_bytes(), "the trailing newline is kept");
    strict.assert_no_leak([&text, &large]);

    // namespace-wide: another name in the same namespace works.
    let nw = seal(
        &ns,
        &["nw", "--from-file", &t, "--scope", "namespace-wide", "-o", "json"],
        b"",
    );
    assert_eq!(nw.code, exit::OK, "{}", nw.stderr);
    let renamed = nw.stdout.replace("\"nw\"", "\"renamed\"");
    apply(&ns, &renamed);
    assert_eq!(unsealed(&ns, "renamed").await["text"], text.as_bytes());

    // cluster-wide: another namespace and name.
    let other = TestNamespace::new("seal-other").await;
    let cw = seal(
        &ns,
        &["cw", "--from-file", &t, "--scope", "cluster-wide", "-o", "json"],
        b"",
    );
    assert_eq!(cw.code, exit::OK, "{}", cw.stderr);
    let moved = cw
        .stdout
        .replace(&format!("\"{}\"", ns.name), &format!("\"{}\"", other.name))
        .replace("\"cw\"", "\"moved\"");
    apply(&other, &moved);
    assert_eq!(unsealed(&other, "moved").await["text"], text.as_bytes());

    // strict really is strict: under another name the controller refuses.
    let refused = strict.stdout.replace("name: app", "name: stolen");
    apply(&ns, &refused);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        ns.get_secret("stolen").await.is_none(),
        "a strict SealedSecret must not unseal under another name"
    );
    // verify reports what the controller could not unseal.
    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(verify.code, exit::FOUND, "{verify:?}");
    let failed = &verify.json()["unsealingFailed"];
    assert_eq!(failed[0]["name"], "stolen", "{failed}");
    assert_eq!(failed[0]["synced"], false);
    let table = ns.run(&["verify"]);
    assert!(
        table
            .stdout
            .contains("SealedSecret stolen was not unsealed by the controller"),
        "{}",
        table.stdout
    );
    for out in [&nw, &cw, &verify, &table] {
        out.assert_no_leak([&text]);
    }
}

#[tokio::test]
async fn kubeseal_files_are_opened_by_unseal_and_extended_by_merge_into() {
    let ns = TestNamespace::new("unseal").await;
    let (a, b) = (canary("kubeseal-a"), canary("merged-b"));
    let sealed = kubeseal_to_file(&ns.name, "api-keys", &[("openai", &a)]);
    let keys = tempfile::NamedTempFile::new().unwrap();
    let exported = std::process::Command::new(crate::support::kubectl_path())
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args([
            "get",
            "secret",
            "-n",
            "kube-system",
            "-l",
            "sealedsecrets.bitnami.com/sealed-secrets-key",
            "-o",
            "yaml",
        ])
        .output()
        .unwrap();
    std::fs::write(keys.path(), &exported.stdout).unwrap();

    let unseal = |file: &Path| {
        ns.run(&[
            "unseal",
            file.to_str().unwrap(),
            "--private-key",
            keys.path().to_str().unwrap(),
            "-o",
            "json",
        ])
    };
    let opened = unseal(sealed.path());
    assert_eq!(opened.code, exit::OK, "{}", opened.stderr);
    let secret: Value = opened.json();
    assert_eq!(secret["kind"], "Secret");
    let value = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["openai"].as_str().unwrap())
        .unwrap();
    assert_eq!(value, a.as_bytes());

    // Add a key to kubeseal's JSON file: it stays JSON, keeps openai, and the controller unseals both.
    let b_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(b_file.path(), &b).unwrap();
    let merge = ns.run_as(
        "admin",
        &[
            "seal",
            "api-keys",
            "--cert",
            &cert_url(),
            "--allow-insecure-cert-url",
            "--from-file",
            &format!("anthropic={}", b_file.path().display()),
            "--merge-into",
            sealed.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(merge.code, exit::OK, "{}", merge.stderr);
    assert!(merge.stdout.is_empty());
    let merged_text = std::fs::read_to_string(sealed.path()).unwrap();
    assert!(merged_text.trim_start().starts_with('{'), "JSON stays JSON");
    apply(&ns, &merged_text);
    let data = unsealed(&ns, "api-keys").await;
    assert_eq!(
        (data["openai"].as_slice(), data["anthropic"].as_slice()),
        (a.as_bytes(), b.as_bytes())
    );

    // Tampered: a clear error naming the key, nothing on stdout.
    let mut doc: Value = serde_json::from_str(&merged_text).unwrap();
    let ciphertext = doc["spec"]["encryptedData"]["anthropic"].as_str().unwrap().to_string();
    let mut bytes = base64::engine::general_purpose::STANDARD.decode(&ciphertext).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    doc["spec"]["encryptedData"]["anthropic"] = Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    let tampered = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tampered.path(), doc.to_string()).unwrap();
    let failed = unseal(tampered.path());
    assert_eq!(failed.code, exit::USAGE, "{failed:?}");
    assert!(
        failed.stderr.contains("key anthropic") && failed.stderr.contains("tampered"),
        "{}",
        failed.stderr
    );
    assert!(failed.stdout.is_empty(), "no partial output");

    // A SealedSecret for another namespace cannot be merged into this file.
    let wrong = run_with_stdin(
        &cluster().admin_kubeconfig,
        &[
            "seal",
            "api-keys",
            "-n",
            "elsewhere",
            "--cert",
            &cert_url(),
            "--allow-insecure-cert-url",
            "--from-file",
            &format!("x={}", b_file.path().display()),
            "--merge-into",
            sealed.path().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(wrong.code, exit::USAGE, "{wrong:?}");
    assert!(wrong.stderr.contains("same -n, name and --scope"), "{}", wrong.stderr);
    for out in [&merge, &failed, &wrong] {
        out.assert_no_leak([&a, &b]);
    }
}

#[tokio::test]
async fn bad_certificates_and_inputs_are_clear_errors() {
    let ns = TestNamespace::new("seal-bad").await;
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("cert.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();
    let value = canary("bad");
    let run = ns.run_as(
        "admin",
        &[
            "seal",
            "app",
            "--from-literal",
            &format!("k={value}"),
            "--cert",
            garbage.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(run.code, exit::USAGE);
    assert!(run.stderr.contains("not a PEM X.509 certificate"), "{}", run.stderr);
    // A certificate fetched in clear text could be swapped on the way: refused unless asked for.
    let http = ns.run_as(
        "admin",
        &[
            "seal",
            "app",
            "--from-literal",
            "k=v",
            "--cert",
            "http://127.0.0.1:1/v1/cert.pem",
        ],
        b"",
    );
    assert_eq!(http.code, exit::USAGE, "{http:?}");
    assert!(
        http.stderr.contains("is not https") && http.stderr.contains("--allow-insecure-cert-url"),
        "{}",
        http.stderr
    );
    let unreachable = ns.run_as(
        "admin",
        &[
            "seal",
            "app",
            "--from-literal",
            "k=v",
            "--cert",
            "http://127.0.0.1:1/v1/cert.pem",
            "--allow-insecure-cert-url",
        ],
        b"",
    );
    assert_eq!(unreachable.code, exit::USAGE);
    assert!(
        unreachable.stderr.contains("cannot fetch the certificate") && unreachable.stderr.contains("--cert FILE"),
        "{}",
        unreachable.stderr
    );
    let broken_manifest = run_with_stdin(
        &cluster().admin_kubeconfig,
        &["seal", "-f", "-", "--cert", &cert_url(), "--allow-insecure-cert-url"],
        format!("kind: Secret\ndata: [{value}\n").as_bytes(),
    );
    assert_eq!(broken_manifest.code, exit::USAGE);
    assert!(
        broken_manifest.stderr.contains("not a Secret manifest"),
        "{}",
        broken_manifest.stderr
    );
    for out in [&run, &unreachable, &broken_manifest] {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn fetch_cert_goes_through_the_api_server_and_seal_uses_it() {
    let ns = TestNamespace::new("fetch-cert").await;
    let fetched = ns.run(&["fetch-cert"]);
    assert_eq!(fetched.code, exit::OK, "{fetched:?}");
    assert!(
        fetched.stdout.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        fetched.stdout
    );
    let direct = std::process::Command::new("curl")
        .args(["-fsS", &cert_url()])
        .output()
        .unwrap();
    assert_eq!(
        fetched.stdout.as_bytes(),
        direct.stdout,
        "the same certificate the controller serves"
    );

    // seal without --cert fetches it the same way; the controller unseals the result.
    let dir = tempfile::tempdir().unwrap();
    let value = canary("fetched");
    std::fs::write(dir.path().join("token"), &value).unwrap();
    let sealed = ns.run(&[
        "seal",
        "app",
        "--from-file",
        &format!("token={}", dir.path().join("token").display()),
    ]);
    assert_eq!(sealed.code, exit::OK, "{}", sealed.stderr);
    apply(&ns, &sealed.stdout);
    assert_eq!(unsealed(&ns, "app").await["token"], value.as_bytes());

    let missing = ns.run(&["fetch-cert", "--controller-name", "nope"]);
    assert_eq!(missing.code, exit::UNREACHABLE, "{missing:?}");
    assert!(
        missing.stderr.contains("Service kube-system/nope") && missing.stderr.contains("--controller-name"),
        "{}",
        missing.stderr
    );
    // reader may read Secrets but not Services: the message names what is missing.
    let reader = ns.run_as("reader", &["fetch-cert"], b"");
    assert_eq!(reader.code, exit::FORBIDDEN, "{reader:?}");
    assert!(
        reader.stderr.contains("not allowed to get services"),
        "{}",
        reader.stderr
    );
    for out in [&fetched, &sealed, &missing, &reader] {
        out.assert_no_leak([&value]);
    }
}

#[tokio::test]
async fn from_secret_moves_a_cluster_secret_to_gitops_and_raw_seals_one_value() {
    let ns = TestNamespace::new("seal-move").await;
    let (value, raw_value) = (canary("moved"), canary("raw"));
    ns.secret("legacy", &[("TOKEN", &value)]).await;
    let sealed = ns.run(&["seal", "legacy", "--from-secret"]);
    assert_eq!(sealed.code, exit::OK, "{}", sealed.stderr);
    sealed.assert_no_leak([&value]);
    // The controller will not take over a Secret it does not own: as in a real migration, the
    // plain Secret goes and the SealedSecret brings it back.
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(ns.client.clone(), &ns.name);
    api.delete("legacy", &Default::default()).await.unwrap();
    while ns.get_secret("legacy").await.is_some() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    apply(&ns, &sealed.stdout);
    assert_eq!(unsealed(&ns, "legacy").await["TOKEN"], value.as_bytes());

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("openai"), &raw_value).unwrap();
    let raw = ns.run(&[
        "seal",
        "api-keys",
        "--raw",
        "--from-file",
        &format!("openai={}", dir.path().join("openai").display()),
    ]);
    assert_eq!(raw.code, exit::OK, "{}", raw.stderr);
    let ciphertext = raw.stdout.trim();
    assert!(
        !ciphertext.contains(' ') && ciphertext.len() > 300,
        "one base64 value: {ciphertext}"
    );
    let manifest = serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "api-keys", "namespace": ns.name},
        "spec": {"encryptedData": {"openai": ciphertext}, "template": {"metadata": {"name": "api-keys", "namespace": ns.name}}}
    });
    apply(&ns, &manifest.to_string());
    assert_eq!(unsealed(&ns, "api-keys").await["openai"], raw_value.as_bytes());
    raw.assert_no_leak([&raw_value]);

    let two = ns.run(&["seal", "x", "--raw", "--from-literal", "a=1", "--from-literal", "b=2"]);
    assert_eq!(two.code, exit::USAGE);
    assert!(two.stderr.contains("exactly one value"), "{}", two.stderr);
}

#[tokio::test]
async fn an_expired_certificate_is_said_before_sealing() {
    let ns = TestNamespace::new("seal-expired").await;
    // A certificate that expired in 2020 (openssl ca can set the dates; req -x509 cannot here).
    let dir = tempfile::tempdir().unwrap();
    let sh = format!(
        "cd {} && openssl req -newkey rsa:2048 -nodes -keyout key.pem -subj /CN=old-controller -out req.csr 2>/dev/null \
         && touch index.txt && echo 01 > serial \
         && printf '[ca]\\ndefault_ca=x\\n[x]\\ndatabase=index.txt\\nserial=serial\\nnew_certs_dir=.\\ndefault_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf \
         && openssl ca -batch -notext -config ca.cnf -selfsign -keyfile key.pem -in req.csr -out cert.pem \
            -startdate 20200101000000Z -enddate 20200102000000Z 2>/dev/null",
        dir.path().display()
    );
    assert!(std::process::Command::new("sh")
        .args(["-c", &sh])
        .status()
        .unwrap()
        .success());
    let value = canary("expired");
    let cert = dir.path().join("cert.pem");
    let run = ns.run(&[
        "seal",
        "app",
        "--from-literal",
        &format!("k={value}"),
        "--cert",
        cert.to_str().unwrap(),
    ]);
    assert_eq!(run.code, exit::OK, "sealing still works, like kubeseal: {run:?}");
    assert!(run.stderr.contains("expired at 2020-01-02"), "{}", run.stderr);
    assert!(run.stdout.contains("kind: SealedSecret"));
    run.assert_no_leak([&value]);
}

#[tokio::test]
async fn env_file_values_are_sealed_literally_never_from_the_environment() {
    let ns = TestNamespace::new("seal-envfile").await;
    let local_credential = canary("shell-variable");
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("backend.env");
    std::fs::write(&env_file, "A=${SOME_VAR}\nPASSWORD=pa$word\nQUOTED=\"kept\"\n").unwrap();
    // The person's shell holds a credential under that name: it must not end up in the file.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
        .args([
            "seal",
            "backend",
            "--from-env-file",
            env_file.to_str().unwrap(),
            "--cert",
            &cert_url(),
            "--allow-insecure-cert-url",
            "-n",
            &ns.name,
        ])
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .env("SOME_VAR", &local_credential)
        .env("word", &local_credential)
        .output()
        .unwrap();
    let sealed = crate::support::Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(sealed.code, exit::OK, "{sealed:?}");
    apply(&ns, &sealed.stdout);
    let data = unsealed(&ns, "backend").await;
    assert_eq!(data["A"], b"${SOME_VAR}", "kept literally, like kubectl");
    assert_eq!(data["PASSWORD"], b"pa$word");
    assert_eq!(data["QUOTED"], b"\"kept\"");

    // The same file against the cluster: the same values, literally (no difference).
    let diff = ns.run(&["diff", "backend", "--against", env_file.to_str().unwrap()]);
    assert_eq!(diff.code, exit::OK, "{diff:?}");
    // A key without '=' would take its value from the environment in kubectl: refused here.
    std::fs::write(&env_file, "SOME_VAR\n").unwrap();
    let refused = ns.run(&[
        "seal",
        "backend",
        "--from-env-file",
        env_file.to_str().unwrap(),
        "--cert",
        &cert_url(),
        "--allow-insecure-cert-url",
    ]);
    assert_eq!(refused.code, exit::USAGE, "{refused:?}");
    assert!(refused.stderr.contains("line 1 is not KEY=VALUE"), "{}", refused.stderr);
    for out in [&sealed, &diff, &refused] {
        out.assert_no_leak([&local_credential]);
    }
}

#[tokio::test]
async fn two_clusters_with_the_same_context_name_never_share_a_cached_certificate() {
    let ns = TestNamespace::new("seal-cache").await;
    let cache = tempfile::tempdir().unwrap();
    let with = |kubeconfig: &Path, args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .env("XDG_CACHE_HOME", cache.path())
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        crate::support::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    };
    // This bed's certificate, cached under its context's name.
    let fetched = with(&cluster().admin_kubeconfig, &["fetch-cert"]);
    assert_eq!(fetched.code, exit::OK, "{fetched:?}");
    // Another cluster whose kubeconfig calls its context the same (as kind and minikube do),
    // unreachable right now: its values must not be sealed with this bed's key.
    let text = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let mut other: Value = serde_saphyr::from_str(&text).unwrap();
    for c in other["clusters"].as_array_mut().unwrap() {
        c["cluster"]["server"] = Value::String("https://127.0.0.1:1".into());
    }
    let dir = tempfile::tempdir().unwrap();
    let other_path = dir.path().join("other.kubeconfig");
    std::fs::write(&other_path, serde_json::to_string(&other).unwrap()).unwrap();
    let value = canary("other-cluster");
    let sealed = with(
        &other_path,
        &["seal", "app", "-n", &ns.name, "--from-literal", &format!("k={value}")],
    );
    assert_eq!(sealed.code, exit::UNREACHABLE, "{sealed:?}");
    assert!(sealed.stdout.is_empty(), "nothing sealed: {}", sealed.stdout);
    // The cache entry is the controller's too: another controller of the same cluster has none.
    let same = with(
        &cluster().admin_kubeconfig,
        &[
            "seal",
            "app",
            "-n",
            &ns.name,
            "--from-literal",
            &format!("k={value}"),
            "--controller-name",
            "not-there",
        ],
    );
    assert_eq!(
        same.code,
        exit::UNREACHABLE,
        "another controller name is another cache entry: {same:?}"
    );
    for out in [&fetched, &sealed, &same] {
        out.assert_no_leak([&value]);
    }
}
