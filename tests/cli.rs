//! CLI behaviour that needs no cluster: help, version, overview, kubeconfig errors, exit codes.

use kubectl_secrets::error::exit;
use std::process::Command;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Run the binary with a HOME and KUBECONFIG of our choosing (nothing from the real machine).
fn run(args: &[&str], kubeconfig: Option<&std::path::Path>) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
    cmd.args(args).env("HOME", home.path()).env("NO_COLOR", "1");
    match kubeconfig {
        Some(path) => cmd.env("KUBECONFIG", path),
        None => cmd.env_remove("KUBECONFIG"),
    };
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn kubeconfig_file(server: &str, contexts: &[&str]) -> tempfile::NamedTempFile {
    let mut text = format!("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {server}\nusers:\n- name: u\n  user:\n    token: t0ken-not-printed\ncontexts:\n");
    for ctx in contexts {
        text.push_str(&format!(
            "- name: {ctx}\n  context: {{cluster: c, user: u, namespace: team-a}}\n"
        ));
    }
    text.push_str(&format!("current-context: {}\n", contexts[0]));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn no_arguments_shows_an_overview_on_stdout() {
    let out = run(&[], None);
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    assert!(
        out.stdout.contains("verify") && out.stdout.contains("Exit codes"),
        "{}",
        out.stdout
    );
}

#[test]
fn help_and_version_never_read_a_kubeconfig() {
    let broken = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(broken.path(), "{{{ not yaml").unwrap();
    for args in [&["--help"][..], &["verify", "--help"], &["--version"]] {
        let out = run(args, Some(broken.path()));
        assert_eq!(out.code, exit::OK, "{args:?}: {}", out.stderr);
        assert!(out.stderr.is_empty(), "{args:?}: {}", out.stderr);
    }
    let help = run(&["verify", "--help"], None);
    assert!(
        help.stdout.contains("kubectl secrets verify -n video-conferencing"),
        "examples from the runbooks: {}",
        help.stdout
    );
    assert!(run(&["--version"], None).stdout.starts_with("kubectl-secrets "));
}

#[test]
fn missing_kubeconfig_is_a_clear_config_error() {
    let out = run(&["verify"], None);
    assert_eq!(out.code, exit::CONFIG);
    assert!(
        out.stderr.contains("no kubeconfig found") && out.stderr.contains("--kubeconfig"),
        "{}",
        out.stderr
    );
    let explicit = run(&["verify", "--kubeconfig", "/nonexistent/config"], None);
    assert_eq!(explicit.code, exit::CONFIG);
    assert!(explicit.stderr.contains("/nonexistent/config"), "{}", explicit.stderr);
    // KUBECONFIG is set, to a file that is not there: the hint names it, not "set KUBECONFIG".
    let named = run(&["verify"], Some(std::path::Path::new("/nonexistent/kubeconfig")));
    assert_eq!(named.code, exit::CONFIG);
    assert!(
        named
            .stderr
            .contains("KUBECONFIG names /nonexistent/kubeconfig, which does not exist")
            && !named.stderr.contains("set KUBECONFIG"),
        "{}",
        named.stderr
    );
}

#[test]
fn unknown_context_names_the_context_and_the_fix() {
    let config = kubeconfig_file("https://127.0.0.1:1", &["prod"]);
    let out = run(&["verify", "--context", "staging"], Some(config.path()));
    assert_eq!(out.code, exit::CONFIG);
    assert!(
        out.stderr.contains("\"staging\"") && out.stderr.contains("get-contexts"),
        "{}",
        out.stderr
    );
}

#[test]
fn malformed_kubeconfig_does_not_echo_its_content() {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        "apiVersion: v1\nusers: [ {name: u, user: {token: s3cr3t-token-value}\n",
    )
    .unwrap();
    let out = run(&["verify"], Some(file.path()));
    assert_eq!(out.code, exit::CONFIG, "{}", out.stderr);
    assert!(!out.stderr.contains("s3cr3t-token-value"), "{}", out.stderr);
}

/// Off a terminal, a Secret name left out is the usage error it always was (exit 2, naming the
/// argument and the picker), before any server is contacted.
#[test]
fn a_secret_name_left_out_off_a_terminal_is_a_usage_error() {
    let config = kubeconfig_file("https://127.0.0.1:1", &["prod"]);
    for command in [
        &["edit"][..],
        &["history"],
        &["rollback"],
        &["diff", "--to-namespace", "b"],
        &["rotate"],
    ] {
        let out = run(command, Some(config.path()));
        assert_eq!(out.code, exit::USAGE, "{command:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("pick one from a list"),
            "{command:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("127.0.0.1:1"),
            "no server contacted: {}",
            out.stderr
        );
    }
}

#[test]
fn unreachable_server_exits_4_and_names_it() {
    let config = kubeconfig_file("https://127.0.0.1:1", &["prod"]);
    let out = run(&["verify", "--request-timeout", "5s"], Some(config.path()));
    assert_eq!(out.code, exit::UNREACHABLE, "{}", out.stderr);
    assert!(out.stderr.contains("127.0.0.1:1"), "{}", out.stderr);
    assert!(!out.stderr.contains("t0ken-not-printed"));
}

/// A server that was never reached in this run is reported at once, as kubectl does: one
/// connection, not eight retries over ten seconds (retries are for a server that answered
/// before and broke off mid-change).
#[test]
fn a_server_never_reached_is_not_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream); // closed before TLS: a broken connection
        }
    });
    let config = kubeconfig_file(&format!("https://127.0.0.1:{port}"), &["prod"]);
    // history's first request is one GET: every connection beyond it would be a retry.
    let out = run(&["history", "app"], Some(config.path()));
    assert_eq!(out.code, exit::UNREACHABLE, "{}", out.stderr);
    let connections = accepted.load(std::sync::atomic::Ordering::SeqCst);
    assert!(connections <= 2, "{connections} connections to a server never reached");
}

#[test]
fn kubeconfig_list_skips_missing_files_like_kubectl() {
    let config = kubeconfig_file("https://127.0.0.1:1", &["prod"]);
    let list = std::env::join_paths([std::path::Path::new("/nonexistent/a"), config.path()]).unwrap();
    let out = run(
        &["verify", "--request-timeout", "2s"],
        Some(std::path::Path::new(&list)),
    );
    assert_eq!(
        out.code,
        exit::UNREACHABLE,
        "reached the server of the second file: {}",
        out.stderr
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = run(&["verify", "-o", "xml"], None);
    assert_eq!(out.code, exit::USAGE);
    let out = run(&["verify", "-n", "a", "-A"], None);
    assert_eq!(out.code, exit::USAGE);
    let out = run(&["verify", "--request-timeout", "soon"], None);
    assert_eq!(out.code, exit::USAGE);
    assert!(out.stderr.contains("30s"), "{}", out.stderr);
}

/// `-o jsonpath=TEMPLATE` as kubectl takes it: text, expressions, range/end and quoted
/// literals over the document `-o json` prints; a broken template is a usage error naming -o.
#[test]
fn jsonpath_output_reads_the_json_document_as_kubectl_does() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path());
    let cert = cert.to_str().unwrap();
    let value = "jsonpath-canary-value";
    let literal = format!("token={value}");
    let seal = |output: &str| {
        run(
            &[
                "seal",
                "app",
                "-n",
                "team-a",
                "--from-literal",
                &literal,
                "--from-literal",
                "other=x",
                "--cert",
                cert,
                "-o",
                output,
            ],
            None,
        )
    };
    let out = seal(r#"jsonpath={.kind} {.metadata.namespace}/{.metadata.name}{"\n"}"#);
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    assert_eq!(out.stdout, "SealedSecret team-a/app\n");
    let keys = seal(r#"jsonpath={range .spec.template.metadata}{.name}{end}:{.spec.encryptedData.token}"#);
    assert_eq!(keys.code, exit::OK, "{}", keys.stderr);
    let (name, sealed) = keys.stdout.split_once(':').unwrap();
    assert_eq!(name, "app");
    assert!(
        sealed.len() > 100 && !sealed.contains(value),
        "a ciphertext, never the value"
    );
    for (template, says) in [
        ("jsonpath={.kind", "never closed"),
        ("jsonpath={range .items[*]}{.name}", "no {end}"),
        ("jsonpath={.items[?(}", "not a JSONPath expression"),
        ("jsonpath", "give the template"),
        (
            "xml",
            "possible values: table, wide, json, yaml, prometheus, name, jsonpath=",
        ),
    ] {
        let refused = seal(template);
        assert_eq!(refused.code, exit::USAGE, "{template}: {}", refused.stderr);
        assert!(refused.stderr.contains(says), "{template}: {}", refused.stderr);
        assert!(refused.stdout.is_empty());
    }
}

/// `-o custom-columns=...` and `-o custom-columns-file=FILE` as kubectl takes them: a Kubernetes
/// object is one row; `--no-headers` drops the header; a broken spec or file is a usage error.
#[test]
fn custom_columns_output_is_a_table_of_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path());
    let cert = cert.to_str().unwrap();
    let value = "columns-canary-value";
    let literal = format!("token={value}");
    let seal = |extra: &[&str]| {
        let mut args = vec![
            "seal",
            "app",
            "-n",
            "team-a",
            "--from-literal",
            &literal,
            "--cert",
            cert,
        ];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    let out = seal(&[
        "-o",
        "custom-columns=KIND:.kind,NAME:.metadata.name,SCOPE:{.metadata.annotations}",
    ]);
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    let lines: Vec<Vec<&str>> = out.stdout.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(
        lines,
        [["KIND", "NAME", "SCOPE"], ["SealedSecret", "app", "<none>"]],
        "{}",
        out.stdout
    );
    let file = dir.path().join("columns.txt");
    std::fs::write(&file, "NAME      NAMESPACE\n.metadata.name   .metadata.namespace\n").unwrap();
    let from_file = seal(&["--no-headers", "-o", &format!("custom-columns-file={}", file.display())]);
    assert_eq!(from_file.code, exit::OK, "{}", from_file.stderr);
    assert_eq!(
        from_file.stdout.split_whitespace().collect::<Vec<_>>(),
        ["app", "team-a"]
    );
    for (output, says) in [
        ("custom-columns=NAME", "expected HEADER:JSONPATH"),
        ("custom-columns=NAME:{.a}{.b}", "not a column expression"),
        ("custom-columns", "give the columns"),
        ("custom-columns-file=/no/such/file", "cannot read /no/such/file"),
    ] {
        let refused = seal(&["-o", output]);
        assert_eq!(refused.code, exit::USAGE, "{output}: {}", refused.stderr);
        assert!(refused.stderr.contains(says), "{output}: {}", refused.stderr);
        assert!(refused.stdout.is_empty());
    }
    for out in [&out, &from_file] {
        assert!(!out.stdout.contains(value) && !out.stderr.contains(value));
    }
}

/// Hints that point the right way: an age without a unit suggests days, an unknown flag is not
/// suggested as a Secret's name (clap's `-- -x`), a similar flag still is.
#[test]
fn hints_point_the_right_way() {
    for command in ["list", "audit"] {
        let out = run(&[command, "--max-age", "90"], None);
        assert_eq!(out.code, exit::USAGE, "{}", out.stderr);
        assert!(
            out.stderr.contains("90 has no unit") && out.stderr.contains("90d") && !out.stderr.contains("90ms"),
            "{}",
            out.stderr
        );
    }
    let unknown = run(&["rotate", "app", "-x"], None);
    assert_eq!(unknown.code, exit::USAGE);
    assert!(
        unknown.stderr.contains("unexpected argument '-x'") && !unknown.stderr.contains("-- -x"),
        "{}",
        unknown.stderr
    );
    let similar = run(&["rotate", "app", "--yess"], None);
    assert!(similar.stderr.contains("'--yes'"), "{}", similar.stderr);
}

#[test]
fn completion_scripts_need_no_cluster() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = run(&["completion", shell], None);
        assert_eq!(out.code, exit::OK, "{shell}: {}", out.stderr);
        assert!(out.stdout.contains("kubectl-secrets"), "{shell}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "completion",
            "kubectl-plugin",
            "--output-dir",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    let helper = dir.path().join("kubectl_complete-secrets");
    assert!(std::fs::read_to_string(&helper)
        .unwrap()
        .contains("kubectl-secrets __complete"));
    // Without a kubeconfig, dynamic completion is silently empty, not an error.
    let out = run(&["__complete", "verify", ""], None);
    assert_eq!(out.code, exit::OK);
    assert_eq!(out.stdout, ":4\n");
    assert!(out.stderr.is_empty(), "{}", out.stderr);
}

/// The binary's output, or a failed test if it has not ended within `limit` (it is then killed).
fn output_within(mut cmd: Command, limit: std::time::Duration) -> Run {
    use std::process::Stdio;
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let out = match finished.recv_timeout(limit) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("kubectl-secrets was still reading after {limit:?}: an unbounded read");
        }
    };
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn endless_inputs_are_refused_not_waited_on() {
    use std::process::Stdio;
    let kubeconfig = kubeconfig_file("https://127.0.0.1:1", &["ctx"]);
    let home = tempfile::tempdir().unwrap();
    let command = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
        cmd.args(args)
            .env("HOME", home.path())
            .env("KUBECONFIG", kubeconfig.path())
            .env("NO_COLOR", "1");
        cmd
    };
    let limit = std::time::Duration::from_secs(30);

    let mut urandom = command(&["diff", "app", "--against", "/dev/urandom"]);
    urandom.stdin(Stdio::null());
    let run = output_within(urandom, limit);
    assert_eq!(run.code, exit::INPUT, "{}", run.stderr);
    assert!(
        run.stderr.contains("/dev/urandom") && run.stderr.contains("a device"),
        "{}",
        run.stderr
    );

    // A named pipe nobody writes to: opening it would wait forever.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("value");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut pipe = command(&[
        "rotate",
        "app",
        "--from-file",
        &format!("TOKEN={}", fifo.display()),
        "--yes",
    ]);
    pipe.stdin(Stdio::null());
    let run = output_within(pipe, limit);
    assert_eq!(run.code, exit::INPUT, "{}", run.stderr);
    assert!(run.stderr.contains("a named pipe"), "{}", run.stderr);

    // A shell's <(command) is a stream of this process: read, bounded, as any input.
    let mut endless = command(&["diff", "app", "--against", "/dev/fd/0"]);
    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    endless.stdin(yes.stdout.take().unwrap());
    let run = output_within(endless, limit);
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(run.code, exit::INPUT, "{}", run.stderr);
    assert!(run.stderr.contains("larger than 8 MiB"), "{}", run.stderr);

    let mut yes = Command::new("yes").stdout(Stdio::piped()).spawn().unwrap();
    let mut rotate = command(&["rotate", "app", "--from-stdin", "TOKEN", "--yes"]);
    rotate.stdin(yes.stdout.take().unwrap());
    let run = output_within(rotate, limit);
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(run.code, exit::INPUT, "{}", run.stderr);
    assert!(
        run.stderr.contains("standard input") && run.stderr.contains("larger than 8 MiB"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_controller_name_that_is_not_a_kubernetes_name_is_refused_before_any_request() {
    // The server does not exist: any request would end in "cannot reach".
    let kubeconfig = kubeconfig_file("https://127.0.0.1:1", &["ctx"]);
    for args in [
        &["fetch-cert", "--controller-name", "sealed-secrets/../../api"][..],
        &["fetch-cert", "--controller-namespace", "kube-system/x"],
        &["backup-keys", "/nonexistent/keys.yaml", "--controller-namespace", "a/b"],
    ] {
        let out = run(args, Some(kubeconfig.path()));
        assert_eq!(out.code, exit::USAGE, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("is not a valid"), "{}", out.stderr);
        assert!(
            !out.stderr.contains("cannot reach"),
            "no request was made: {}",
            out.stderr
        );
    }
}

/// A self-signed RSA certificate made by openssl, as a file.
fn certificate(dir: &std::path::Path) -> std::path::PathBuf {
    let cert = dir.join("cert.pem");
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=sealed-secrets",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(&cert)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "openssl made the certificate");
    cert
}

#[test]
fn dry_run_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let cert = certificate(dir.path());
    let cert = cert.to_str().unwrap();
    let sealed = run(
        &["seal", "app", "-n", "team-a", "--from-literal", "k=v", "--cert", cert],
        None,
    );
    assert_eq!(sealed.code, exit::OK, "{}", sealed.stderr);
    let file = dir.path().join("app.yaml");
    std::fs::write(&file, &sealed.stdout).unwrap();
    let path = file.to_str().unwrap();
    for args in [
        &[
            "seal",
            "app",
            "-n",
            "team-a",
            "--from-literal",
            "k2=v2",
            "--cert",
            cert,
            "--merge-into",
            path,
            "--dry-run",
        ][..],
        &[
            "seal",
            "--edit",
            path,
            "--from-literal",
            "k3=v3",
            "--cert",
            cert,
            "--dry-run",
        ],
    ] {
        let out = run(args, None);
        assert_eq!(out.code, exit::OK, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains("Dry run"), "{}", out.stderr);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            sealed.stdout,
            "{args:?} wrote the file"
        );
    }
    let plugin_dir = dir.path().join("bin");
    std::fs::create_dir(&plugin_dir).unwrap();
    let out = run(
        &[
            "completion",
            "kubectl-plugin",
            "--output-dir",
            plugin_dir.to_str().unwrap(),
            "--dry-run",
        ],
        None,
    );
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    assert_eq!(std::fs::read_dir(&plugin_dir).unwrap().count(), 0, "nothing written");
}

#[test]
fn a_misbehaving_exec_credential_plugin_never_shows_what_it_printed() {
    let dir = tempfile::tempdir().unwrap();
    let canary = "exec-plugin-token-canary-8c1f0b";
    // A value in the plugin's environment, with a space (kube's description of the run quotes it).
    let env_canary = "exec-plugin-env-canary-77d2";
    for (name, body) in [
        // Fails, printing a token on both streams.
        ("failing", format!("echo {canary}; echo {canary} >&2; exit 1")),
        // Succeeds, but answers something that is not an ExecCredential, quoting the token.
        ("garbage", format!("echo 'token: [{canary}'")),
    ] {
        let plugin = dir.path().join(format!("{name}-credentials"));
        std::fs::write(&plugin, format!("#!/bin/sh\n{body}\n")).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&plugin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let kubeconfig = dir.path().join(format!("{name}.kubeconfig"));
        std::fs::write(
            &kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n\
                 users:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: {}\n      interactiveMode: Never\n\
                 \x20     env: [{{name: SESSION, value: \"ticket {env_canary}\"}}]\n\
                 contexts:\n- name: x\n  context: {{cluster: c, user: u}}\ncurrent-context: x\n",
                plugin.display()
            ),
        )
        .unwrap();
        let out = run(&["verify"], Some(&kubeconfig));
        assert_eq!(out.code, exit::FORBIDDEN, "{name}: {}", out.stderr);
        assert!(out.stderr.contains("exec credential plugin"), "{name}: {}", out.stderr);
        if name == "failing" {
            let named = format!("`{}` failed", plugin.display());
            assert!(out.stderr.contains(&named), "the kubeconfig's command: {}", out.stderr);
        }
        assert!(
            ![canary, env_canary]
                .iter()
                .any(|c| out.stderr.contains(c) || out.stdout.contains(c)),
            "{name}: the plugin's output leaked: {}",
            out.stderr
        );
    }
}

/// An https server on 127.0.0.1 (its CA written to `ca.pem` in `dir`) serving `cert` at /cert.pem
/// and redirecting /redirect to http://127.0.0.1:PORT/cert.pem; returns it and its port.
fn https_server(dir: &std::path::Path, cert: &std::path::Path) -> (std::process::Child, u16) {
    let script = r#"
set -e
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=test-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
"#;
    assert!(Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .status()
        .unwrap()
        .success());
    let server = r#"
import http.server, ssl, sys
cert = open(sys.argv[1], 'rb').read()
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        if self.path == '/redirect':
            self.send_response(302)
            self.send_header('Location', 'http://127.0.0.1:%d/cert.pem' % self.server.server_address[1])
            self.send_header('Content-Length', '0')
            self.end_headers()
        else:
            self.send_response(200)
            self.send_header('Content-Length', str(len(cert)))
            self.end_headers()
            self.wfile.write(cert)
s = http.server.HTTPServer(('127.0.0.1', 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain('server.pem', 'server.key')
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = Command::new("python3")
        .args(["-c", server])
        .arg(cert)
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    (child, line.trim().parse().unwrap())
}

#[test]
fn certificate_urls_are_https_from_the_trust_store_and_never_redirected_to_http() {
    let dir = tempfile::tempdir().unwrap();
    let sealing = certificate(dir.path());
    let (mut server, port) = https_server(dir.path(), &sealing);
    let seal = |url: &str| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
        cmd.args(["seal", "app", "-n", "team-a", "--from-literal", "k=v", "--cert", url])
            .env("HOME", dir.path())
            .env_remove("KUBECONFIG")
            .env("NO_COLOR", "1")
            // The system trust store, with this test's CA as the company CA.
            .env("SSL_CERT_FILE", dir.path().join("ca.pem"));
        output_within(cmd, std::time::Duration::from_secs(60))
    };
    let fetched = seal(&format!("https://127.0.0.1:{port}/cert.pem"));
    let redirected = seal(&format!("https://127.0.0.1:{port}/redirect"));
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(
        fetched.code,
        exit::OK,
        "an https URL trusted by the system: {}",
        fetched.stderr
    );
    assert!(fetched.stdout.contains("kind: SealedSecret"), "{}", fetched.stdout);
    assert_eq!(redirected.code, exit::USAGE, "{}", redirected.stderr);
    assert!(
        redirected.stderr.contains("cannot fetch the certificate")
            && redirected.stderr.to_lowercase().contains("https"),
        "{}",
        redirected.stderr
    );
    assert!(
        redirected.stdout.is_empty(),
        "nothing sealed with a certificate fetched over http"
    );
}

/// A global flag a subcommand does not use is refused naming both, before any kubeconfig is
/// read; a malformed -l is a usage error naming -l, not an API error.
#[test]
fn flags_a_command_does_not_use_are_refused_not_ignored() {
    let refusals = [
        (
            &["rotate", "app", "--key", "TOKEN", "-A"][..],
            "`kubectl secrets rotate` does not take -A",
        ),
        (&["history", "app", "-A"], "`kubectl secrets history` does not take -A"),
        (&["list", "--yes"], "`kubectl secrets list` does not take --yes"),
        (
            &["audit", "--dry-run"],
            "`kubectl secrets audit` does not take --dry-run",
        ),
        (&["verify", "--yes"], "does not take --yes without --fix"),
        (&["verify", "--watch", "--fix"], "cannot be used with"),
        (
            &["verify", "-n"],
            "give -n NAMESPACE (in a terminal, the flag alone picks one",
        ),
        (&["list", "--context"], "give --context NAME (in a terminal"),
        (
            &["seal", "--from-secret"],
            "say which Secret: kubectl secrets seal --from-secret SECRET",
        ),
        (
            &["unseal", "--private-key", "key.pem"],
            "say which file: kubectl secrets unseal FILE",
        ),
        (
            &["history", "app", "--dry-run"],
            "does not take --dry-run without --prune",
        ),
        (&["audit", "-o", "prometheus"], "does not take -o prometheus"),
        (
            &["verify", "-o", "name"],
            "`kubectl secrets verify` does not take -o name",
        ),
        (
            &["list", "-o", "json", "--no-headers"],
            "does not take --no-headers: with this -o there is no header line",
        ),
        (
            &["diff", "app", "--revision", "1", "-l", "a=b"],
            "`kubectl secrets diff` does not take -l",
        ),
        (&["verify", "-l", "app=back end"], "-l \"app=back end\""),
        (&["list", "-l", "env in prod"], "in parentheses"),
        (&["verify", "--as-group", "admins"], "--as <USER>"),
        (
            &["verify", "--fix", "--dry-run=server"],
            "`kubectl secrets verify` does not take --dry-run=server",
        ),
        (
            &["rotate", "app", "--key", "K", "--dry-run=maybe"],
            "--dry-run=client, --dry-run=server or --dry-run=none",
        ),
    ];
    for (args, expected) in refusals {
        let out = run(args, None);
        assert_eq!(out.code, exit::USAGE, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(expected), "{args:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains("kubeconfig"),
            "refused before any kubeconfig: {}",
            out.stderr
        );
    }
    // What they do use still passes the check (and then needs a kubeconfig).
    for args in [
        &["verify", "--fix", "--yes", "-l", "app in (a,b)"][..],
        &["history", "app", "--prune", "--yes"],
        &["list", "-A", "-l", "team=payments", "-o", "prometheus"],
        &["rotate", "app", "--key", "K", "--dry-run=client"],
        &["rotate", "app", "--key", "K", "--dry-run=server"],
        &["list", "--dry-run=none"],
    ] {
        let out = run(args, None);
        assert_eq!(out.code, exit::CONFIG, "{args:?}: {}", out.stderr);
    }
}

/// Every subcommand a user runs (not the hidden `__complete`).
const SUBCOMMANDS: [&str; 13] = [
    "verify",
    "rotate",
    "diff",
    "seal",
    "fetch-cert",
    "unseal",
    "backup-keys",
    "completion",
    "list",
    "audit",
    "history",
    "rollback",
    "edit",
];

/// Help as kubectl lays it out: usage, examples (that paste: a long command is continued with
/// `\`, never wrapped), the subcommand's options, then the global ones; no runbook seed numbers.
#[test]
fn help_puts_examples_first_and_global_options_last() {
    for command in SUBCOMMANDS {
        let out = run(&[command, "--help"], None);
        assert_eq!(out.code, exit::OK, "{command}: {}", out.stderr);
        let at = |heading: &str| {
            out.stdout
                .find(heading)
                .unwrap_or_else(|| panic!("{command} --help has no {heading}"))
        };
        assert!(at("\nExamples:") < at("\nOptions:"), "{command}: examples first");
        assert!(
            at("\nOptions:") < at("\nGlobal options:"),
            "{command}: global options last"
        );
        assert!(!out.stdout.contains("Seed 0"), "{command}: no seed numbers");
        let examples = &out.stdout[at("\nExamples:")..];
        let mut continued = false;
        for line in examples.lines() {
            let command_line = continued || line.starts_with("  kubectl") || line.starts_with("  pbpaste");
            let one_word = line.split_whitespace().count() == 1;
            if command_line && !one_word {
                assert!(
                    line.chars().count() <= 80,
                    "{command}: an example wider than 80 columns: {line}"
                );
            }
            continued = command_line && line.ends_with('\\');
        }
    }
}

/// docs/k9s-plugins.yaml: every entry has what k9s requires, runs `kubectl secrets ...` in the
/// foreground, and its arguments (k9s' variables filled in) parse as this version's CLI.
#[test]
fn the_k9s_plugins_in_docs_parse_as_commands_of_this_version() {
    use clap::Parser as _;
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/k9s-plugins.yaml")).unwrap();
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let plugins = doc["plugins"].as_object().expect("plugins:");
    assert!(plugins.len() >= 4);
    for (name, plugin) in plugins {
        for field in ["shortCut", "description", "scopes", "command"] {
            assert!(plugin.get(field).is_some(), "{name}: k9s requires {field}");
        }
        assert_eq!(plugin["command"], "kubectl", "{name}");
        assert_eq!(plugin["background"], false, "{name}: questions need the terminal");
        let args: Vec<String> = plugin["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                a.as_str()
                    .unwrap()
                    .replace("$NAMESPACE", "shop")
                    .replace("$NAME", "db")
                    .replace("$CONTEXT", "prod")
            })
            .collect();
        assert_eq!(args[0], "secrets", "{name}");
        let parsed = kubectl_secrets::cli::Cli::try_parse_from(
            std::iter::once("kubectl-secrets".to_string()).chain(args[1..].iter().cloned()),
        );
        assert!(parsed.is_ok(), "{name}: {args:?}: {}", parsed.err().unwrap());
    }
}

/// `seal --cert A --cert B` seals one copy per certificate without any cluster: each copy opens
/// with its own key only; a file each under --output-dir, named after the certificate files.
#[test]
fn one_value_sealed_with_two_certificates_opens_only_with_its_own_key() {
    let dir = tempfile::tempdir().unwrap();
    let value = "s3cr3t-two-certs-canary";
    for cluster in ["prod", "staging"] {
        let own = dir.path().join(cluster);
        std::fs::create_dir(&own).unwrap();
        std::fs::copy(certificate(&own), dir.path().join(format!("{cluster}.pem"))).unwrap();
    }
    let path = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    let literal = format!("password={value}");
    let seal = |extra: &[&str]| {
        let mut args = vec!["seal", "db", "-n", "shop", "--from-literal", literal.as_str()];
        args.extend_from_slice(extra);
        run(&args, None)
    };
    let (prod, staging) = (path("prod.pem"), path("staging.pem"));

    // On stdout: two documents, each headed by its certificate's fingerprint.
    let out = seal(&["--cert", &prod, "--cert", &staging]);
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    assert_eq!(out.stdout.matches("kind: SealedSecret").count(), 2, "{}", out.stdout);
    for cert in [&prod, &staging] {
        let fingerprint = Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in", cert])
            .output()
            .unwrap();
        let fingerprint = String::from_utf8_lossy(&fingerprint.stdout);
        let fingerprint = fingerprint
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .replace(':', "")
            .to_lowercase();
        assert!(
            out.stdout
                .contains(&format!("# certificate {cert}: sha256 {fingerprint}")),
            "{}",
            out.stdout
        );
    }
    assert!(out.stderr.contains("Sealed db with 2 certificates"), "{}", out.stderr);

    // A file each; each opens with its own cluster's key and not with the other's.
    let copies = dir.path().join("sealed");
    let out = seal(&[
        "--cert",
        &prod,
        "--cert",
        &staging,
        "--output-dir",
        copies.to_str().unwrap(),
    ]);
    assert_eq!(out.code, exit::OK, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    for (cluster, other) in [("prod", "staging"), ("staging", "prod")] {
        let file = copies.join(cluster).join("db.yaml");
        let file = file.to_str().unwrap();
        let own_key = path(&format!("{cluster}/key.pem"));
        let opened = run(&["unseal", file, "--private-key", &own_key], None);
        assert_eq!(opened.code, exit::OK, "{cluster}: {}", opened.stderr);
        assert!(opened.stdout.contains("password"), "{}", opened.stdout);
        let other_key = path(&format!("{other}/key.pem"));
        let refused = run(&["unseal", file, "--private-key", &other_key], None);
        assert_ne!(refused.code, exit::OK, "{cluster}'s copy opened with {other}'s key");
        for text in [&opened.stdout, &opened.stderr, &refused.stdout, &refused.stderr] {
            assert!(!text.contains(value));
        }
    }

    // Two certificate files of one name would be one file: refused before anything is written.
    let clash = dir.path().join("clash");
    let out = seal(&[
        "--cert",
        &path("prod/cert.pem"),
        "--cert",
        &path("staging/cert.pem"),
        "--output-dir",
        clash.to_str().unwrap(),
    ]);
    assert_eq!(out.code, exit::USAGE, "{}", out.stderr);
    assert!(out.stderr.contains("--output-name"), "{}", out.stderr);
    assert!(!clash.exists());
    // One copy only: --raw and --merge-into with several certificates are refused.
    let out = seal(&["--cert", &prod, "--cert", &staging, "--raw"]);
    assert_eq!(out.code, exit::USAGE, "{}", out.stderr);
    assert!(out.stderr.contains("give one --cert"), "{}", out.stderr);
    assert!(!out.stdout.contains(value) && !out.stderr.contains(value));
}

/// A reader of stderr that went away (`2>&1 | head`) never turns into a crash: the command ends
/// with its own exit code (a rotation must not stop half-way on a progress line).
#[test]
fn a_closed_stderr_is_not_a_crash() {
    for args in [&["verify", "-n", "team-a"][..], &["rotate", "app", "--yess"]] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let home = tempfile::tempdir().unwrap();
        let status = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"))
            .args(args)
            .env("HOME", home.path())
            .env_remove("KUBECONFIG")
            .stderr(writer)
            .status()
            .unwrap();
        let expected = if args[0] == "verify" { exit::CONFIG } else { exit::USAGE };
        assert_eq!(status.code(), Some(expected), "{args:?}: {status}");
    }
}

/// Every example command of the README's code blocks and of each subcommand's --help, split as
/// a shell would: its flags and values are what the binary takes (no usage error). Without a
/// cluster each then stops at the missing kubeconfig, or (a picker example) asks for a terminal.
#[test]
fn every_documented_example_is_accepted() {
    let mut examples: Vec<(String, String)> = Vec::new();
    let readme = include_str!("../README.md");
    let mut in_block = false;
    for line in readme.replace("\\\n", " ").lines() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let command = line.trim().trim_start_matches("$ ");
        if in_block && command.starts_with("kubectl secrets ") {
            examples.push(("README.md".into(), command.to_string()));
        }
    }
    let help_of = |subcommand: &str| run(&[subcommand, "--help"], None).stdout;
    for subcommand in SUBCOMMANDS {
        let help = help_of(subcommand);
        let Some((_, examples_part)) = help.split_once("Examples:") else {
            continue;
        };
        for line in examples_part.replace("\\\n", " ").lines() {
            let command = line.trim();
            if command.starts_with("kubectl secrets ") {
                examples.push((format!("{subcommand} --help"), command.to_string()));
            }
        }
    }
    assert!(examples.len() > 40, "found {} examples", examples.len());
    for (source, example) in &examples {
        let words = shlex::split(example).unwrap_or_else(|| panic!("{source}: cannot split {example}"));
        // What follows a pipe or a redirection is the shell's.
        let args: Vec<&str> = words
            .iter()
            .skip(2)
            .map(String::as_str)
            .take_while(|w| !matches!(*w, "|" | ">" | "<" | "&&" | ";") && !w.starts_with('>'))
            .collect();
        let out = run(&args, None);
        let picker = out.stderr.contains("leave it out to pick");
        assert!(
            out.code != exit::USAGE || picker,
            "{source}: `{example}` is refused: {}",
            out.stderr
        );
        assert!(out.code != 101, "{source}: `{example}` crashed: {}", out.stderr);
    }
}
