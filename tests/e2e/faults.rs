//! Faults at each phase of a rotation: the API server cut off (through a proxy of the test's
//! own, so the rest of the suite keeps its API server), Ctrl-C, and kill -9, at the pause
//! points of a debug build (backed-up: backups made, nothing written; written: new data and
//! journal written, no restart yet) and during the rollouts. Afterwards the rotation has either
//! completed or can be finished (--resume) or undone (--abort), and no value is ever lost.
//! Each scenario's outcome is recorded for docs/reliability.md.

use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{
    annotations, canary, cluster, deployment, exit, with_pod_annotations, Background, Run, TestNamespace,
};

/// A TCP proxy in front of the API server that the test can cut (every open connection reset,
/// new ones closed at once, as when the API server dies) and restore.
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (down_flag, open_list) = (down.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if down_flag.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let mut list = open_list.lock().unwrap();
                list.push(client.try_clone().unwrap());
                list.push(server.try_clone().unwrap());
                drop(list);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Proxy { port, down, open }
    }

    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }

    /// The admin kubeconfig, pointed at this proxy.
    fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        let text = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
        let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for cluster in config["clusters"].as_array_mut().unwrap() {
            cluster["cluster"]["server"] = json!(format!("https://127.0.0.1:{}", self.port));
        }
        let path = dir.join("proxied.kubeconfig");
        std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
        path
    }
}

/// `rotate app --key TOKEN` in the background through a new proxy (5 s request timeout, plus
/// `extra` flags), stopping at `failpoint` if given. The folder holds its kubeconfig.
fn rotate_through_proxy(
    ns: &TestNamespace,
    extra: &[&str],
    failpoint: Option<&str>,
) -> (Proxy, Background, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start(api_server());
    let kubeconfig = proxy.kubeconfig(dir.path());
    let mut args = vec![
        "rotate",
        "app",
        "--key",
        "TOKEN",
        "--yes",
        "-n",
        &ns.name,
        "--request-timeout",
        "5s",
    ];
    args.extend_from_slice(extra);
    let tool = Background::spawn(&kubeconfig, &args, failpoint);
    (proxy, tool, dir)
}

/// The API server's address, from the admin kubeconfig.
fn api_server() -> String {
    let text = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
    let config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    let server = config["clusters"][0]["cluster"]["server"].as_str().unwrap();
    server.trim_start_matches("https://").to_string()
}

/// Secret `app` {TOKEN: canary} read through envFrom by Deployment `api` whose pods take 3 s
/// to become ready, so a rollout is long enough to be interrupted.
async fn scenario(prefix: &str) -> (TestNamespace, String) {
    let ns = TestNamespace::new(prefix).await;
    let value = canary(prefix);
    ns.secret("app", &[("TOKEN", &value)]).await;
    let api = with_pod_annotations(
        deployment(
            "api",
            1,
            json!({"containers": [{"name": "c", "image": "i", "envFrom": [{"secretRef": {"name": "app"}}]}]}),
        ),
        json!({"testbed.kubectl-secrets.io/ready-delay": "3s"}),
    );
    ns.create_deployment(api).await;
    ns.wait_ready("deployment", "api").await;
    (ns, value)
}

fn token(data: &std::collections::BTreeMap<String, Vec<u8>>) -> String {
    String::from_utf8(data["TOKEN"].clone()).unwrap()
}

/// The journal annotation, if a rotation is recorded as under way.
async fn journal(ns: &TestNamespace) -> Option<String> {
    ns.secret_annotation("app", annotations::JOURNAL).await
}

/// One line of docs/reliability.md: appended to target/reliability/faults.jsonl.
fn record(test: &str, scenario: &str, fault: &str, outcome: &str) {
    use std::io::Write as _;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/reliability");
    std::fs::create_dir_all(&dir).unwrap();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("faults.jsonl"))
        .unwrap();
    let line = json!({"test": test, "scenario": scenario, "fault": fault, "outcome": outcome});
    writeln!(file, "{line}").unwrap();
}

/// The cluster is consistent: no journal, the value is `expected`, the pods run with it
/// (verify exits 0 with exact evidence).
async fn assert_settled(ns: &TestNamespace, expected: &str) -> Run {
    assert_eq!(journal(ns).await, None, "no rotation left under way");
    assert_eq!(token(&ns.secret_data("app").await), expected);
    let verify = ns.run(&["verify", "app"]);
    assert_eq!(verify.code, exit::OK, "the pods run with the current value: {verify:?}");
    verify
}

#[tokio::test]
async fn api_server_cut_after_the_backup_changes_nothing() {
    let (ns, value) = scenario("fault-backup").await;
    let (proxy, tool, _dir) = rotate_through_proxy(&ns, &[], Some("backed-up:3"));
    tool.wait_for("failpoint backed-up");
    proxy.cut();
    let run = tool.finish();
    proxy.restore();
    assert_eq!(run.code, exit::UNREACHABLE, "the API server is unreachable: {run:?}");
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert_eq!(token(&ns.secret_data("app").await), value, "nothing was written");
    assert_eq!(journal(&ns).await, None);
    let after = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(after.code, exit::OK, "the next rotation works: {after:?}");
    let rotated = token(&ns.secret_data("app").await);
    let verify = assert_settled(&ns, &rotated).await;
    for out in [&run, &after, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::api_server_cut_after_the_backup_changes_nothing",
        "rotate: API server unreachable after the backup, before the write",
        "proxy cut at failpoint backed-up",
        "exit 4 naming the server; Secret unchanged, no journal; the next rotate succeeds",
    );
}

#[tokio::test]
async fn api_server_cut_after_the_write_is_finished_with_resume() {
    let (ns, value) = scenario("fault-written").await;
    // Restarts are retried while the API server is unreachable, until --timeout.
    let (proxy, tool, _dir) = rotate_through_proxy(&ns, &["--timeout", "6s"], Some("written:3"));
    tool.wait_for("failpoint written");
    proxy.cut();
    let run = tool.finish();
    proxy.restore();
    assert_eq!(run.code, exit::UNREACHABLE, "{run:?}");
    let rotated = token(&ns.secret_data("app").await);
    assert_ne!(rotated, value, "the new value was written before the cut");
    assert!(journal(&ns).await.is_some(), "the journal says what to finish");
    let backups: Vec<String> = ns
        .secret_names()
        .await
        .into_iter()
        .filter(|n| n.starts_with("app.backup-r0"))
        .collect();
    assert_eq!(
        token(&ns.secret_data(&backups[0]).await),
        value,
        "the old value is in the backup"
    );

    let resume = ns.run(&["rotate", "app", "--resume", "--yes"]);
    assert_eq!(resume.code, exit::OK, "{resume:?}");
    let verify = assert_settled(&ns, &rotated).await;
    for out in [&run, &resume, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::api_server_cut_after_the_write_is_finished_with_resume",
        "rotate: API server unreachable after the write, before the restarts",
        "proxy cut at failpoint written",
        "restarts retried until --timeout (6 s), then exit 4; new value and journal in place, old value in the backup; rotate --resume restarts the consumers and verifies (exit 0)",
    );
}

#[tokio::test]
async fn api_server_cut_during_the_rollout_then_back() {
    let (ns, value) = scenario("fault-rollout").await;
    let (proxy, tool, _dir) = rotate_through_proxy(&ns, &[], None);
    tool.wait_for("Restarting consumers");
    proxy.cut();
    std::thread::sleep(Duration::from_secs(2));
    proxy.restore();
    let run = tool.finish();
    let rotated = token(&ns.secret_data("app").await);
    assert_ne!(rotated, value);
    let outcome = if run.code == 0 {
        "the restart was retried and the watch reconnected: the rotation completed (exit 0)"
    } else {
        assert_eq!(run.code, exit::UNREACHABLE, "a clear error, not a crash: {run:?}");
        assert!(journal(&ns).await.is_some(), "left resumable");
        let resume = ns.run(&["rotate", "app", "--resume", "--yes"]);
        assert_eq!(resume.code, exit::OK, "{resume:?}");
        resume.assert_no_leak([&value, &rotated]);
        "exit 4 with the journal left; rotate --resume completed it (exit 0)"
    };
    let verify = assert_settled(&ns, &rotated).await;
    for out in [&run, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::api_server_cut_during_the_rollout_then_back",
        "rotate: API server unreachable for 2 s during the rollout",
        "proxy cut while waiting for the rollout",
        outcome,
    );
}

#[tokio::test]
async fn ctrl_c_after_the_backup_leaves_the_secret_untouched() {
    let (ns, value) = scenario("sigint-backup").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("backed-up:10"));
    tool.wait_for("failpoint backed-up");
    tool.signal("-INT");
    let run = tool.finish();
    assert_eq!(run.code, exit::INTERRUPTED, "{run:?}");
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let verify = assert_settled(&ns, &value).await;
    for out in [&run, &verify] {
        out.assert_no_leak([&value]);
    }
    record(
        "faults::ctrl_c_after_the_backup_leaves_the_secret_untouched",
        "rotate: Ctrl-C after the backup, before the write",
        "SIGINT at failpoint backed-up",
        "exit 130; Secret unchanged, no journal, consumers untouched",
    );
}

#[tokio::test]
async fn ctrl_c_after_the_write_is_undone_with_abort() {
    let (ns, value) = scenario("sigint-written").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:10"));
    tool.wait_for("failpoint written");
    tool.signal("-INT");
    let run = tool.finish();
    assert_eq!(run.code, exit::INTERRUPTED, "{run:?}");
    let rotated = token(&ns.secret_data("app").await);
    assert!(journal(&ns).await.is_some());
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    let verify = assert_settled(&ns, &value).await;
    for out in [&run, &abort, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::ctrl_c_after_the_write_is_undone_with_abort",
        "rotate: Ctrl-C after the write, before the restarts",
        "SIGINT at failpoint written",
        "exit 130 with the journal left; rotate --abort restores the exact previous value and restarts (exit 0)",
    );
}

#[tokio::test]
async fn kill_9_after_the_write_is_found_by_the_next_run_and_finished() {
    let (ns, value) = scenario("kill-written").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("written:10"));
    tool.wait_for("failpoint written");
    tool.signal("-KILL");
    let run = tool.finish();
    assert_eq!(run.code, -1, "killed by a signal");
    let rotated = token(&ns.secret_data("app").await);
    let next = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    assert_eq!(
        next.code,
        exit::IN_PROGRESS,
        "the next rotation finds the interrupted one: {next:?}"
    );
    assert!(next.stderr.contains("was interrupted"), "{}", next.stderr);
    assert_eq!(token(&ns.secret_data("app").await), rotated, "and changes nothing");
    let resume = ns.run(&["rotate", "app", "--resume", "--yes"]);
    assert_eq!(resume.code, exit::OK, "{resume:?}");
    let verify = assert_settled(&ns, &rotated).await;
    for out in [&run, &next, &resume, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::kill_9_after_the_write_is_found_by_the_next_run_and_finished",
        "rotate: kill -9 after the write, before the restarts",
        "SIGKILL at failpoint written",
        "journal left; the next rotate refuses (exit 14, names --resume/--abort); the killed holder is seen gone (same host, no process), so rotate --resume completes without --force (exit 0)",
    );
}

#[tokio::test]
async fn kill_9_during_the_rollout_is_undone_with_abort() {
    let (ns, value) = scenario("kill-rollout").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, None);
    tool.wait_for("Restarting consumers");
    tool.signal("-KILL");
    let run = tool.finish();
    assert_eq!(run.code, -1);
    let rotated = token(&ns.secret_data("app").await);
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    let verify = assert_settled(&ns, &value).await;
    for out in [&run, &abort, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::kill_9_during_the_rollout_is_undone_with_abort",
        "rotate: kill -9 during the rollout",
        "SIGKILL while waiting for the rollout",
        "journal left; rotate --abort restores the exact previous value, restarts and verifies (exit 0)",
    );
}

#[tokio::test]
async fn a_deployment_scaled_and_edited_during_its_rollout_still_completes() {
    let (ns, value) = scenario("edit-rollout").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, None);
    tool.wait_for("Restarting consumers");
    let kubectl = |args: &[&str]| {
        let out = Command::new(crate::support::kubectl_path())
            .args(args)
            .args(["-n", &ns.name])
            .env("KUBECONFIG", &cluster().admin_kubeconfig)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    kubectl(&["scale", "deployment/api", "--replicas", "2"]);
    kubectl(&["set", "env", "deployment/api", "LOG_LEVEL=debug"]);
    let run = tool.finish();
    assert_eq!(run.code, exit::OK, "{run:?}");
    let rotated = token(&ns.secret_data("app").await);
    assert_ne!(rotated, value);
    let verify = assert_settled(&ns, &rotated).await;
    assert_eq!(ns.pod_names("api-").await.len(), 2, "the scale-up is kept");
    for out in [&run, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    record(
        "faults::a_deployment_scaled_and_edited_during_its_rollout_still_completes",
        "rotate: the Deployment scaled and edited (kubectl set env) during its rollout",
        "concurrent kubectl scale + set env",
        "the rollout of the newest template is awaited; exit 0, verify exact, the user's edits kept",
    );
}

#[tokio::test]
async fn a_crash_after_the_write_shows_no_message_and_is_undone_with_abort() {
    let (ns, value) = scenario("crash-written").await;
    let args = ["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name];
    // The crash's own message carries a canary: it must not reach the terminal.
    let secret_in_message = canary("panic-message");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-secrets"));
    let out = command
        .args(args)
        .env("KUBECONFIG", &cluster().admin_kubeconfig)
        .env("NO_COLOR", "1")
        .env("KUBECTL_SECRETS_FAILPOINT", "written:panic")
        .env("KUBECTL_SECRETS_FAILPOINT_PANIC", &secret_in_message)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_eq!(run.code, 101, "a crash: {run:?}");
    assert!(run.stderr.contains("hit a bug at src/"), "{}", run.stderr);
    assert!(run.stderr.contains("--abort"), "{}", run.stderr);
    let rotated = token(&ns.secret_data("app").await);
    let abort = ns.run(&["rotate", "app", "--abort", "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    let verify = assert_settled(&ns, &value).await;
    for out in [&run, &abort, &verify] {
        out.assert_no_leak([&value, &rotated, &secret_in_message]);
    }
    record(
        "faults::a_crash_after_the_write_shows_no_message_and_is_undone_with_abort",
        "rotate: a crash (panic) after the write",
        "panic at failpoint written, its message holding a canary",
        "exit 101 naming the source location, message withheld; journal left; rotate --abort restores the previous value (exit 0)",
    );
}

/// scripts/testbed/fault-proxy.py in front of the API server: plain HTTP on 127.0.0.1, every
/// request forwarded over TLS after a delay, or answered with 500/503 by the proxy itself.
struct HttpProxy {
    child: std::process::Child,
    port: u16,
}

impl HttpProxy {
    fn start(extra: &[&str]) -> HttpProxy {
        use std::io::BufRead as _;
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/testbed/fault-proxy.py");
        let ca = cluster().admin_kubeconfig.with_file_name("pki").join("ca.crt");
        let mut child = Command::new("python3")
            .arg(script)
            .args(["--upstream", &format!("https://{}", api_server()), "--ca"])
            .arg(ca)
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the fault proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        HttpProxy {
            child,
            port: line.trim().parse().expect("the proxy prints its port"),
        }
    }

    /// The admin kubeconfig, pointed at this proxy.
    fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
        let text = std::fs::read_to_string(&cluster().admin_kubeconfig).unwrap();
        let mut config: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        for cluster in config["clusters"].as_array_mut().unwrap() {
            cluster["cluster"] = json!({"server": format!("http://127.0.0.1:{}", self.port)});
        }
        let path = dir.join("through-proxy.kubeconfig");
        std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
        path
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn replica_sets(ns: &TestNamespace) -> usize {
    kube::Api::<k8s_openapi::api::apps::v1::ReplicaSet>::namespaced(ns.client.clone(), &ns.name)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .len()
}

/// The same rotation as ever, through a proxy started with `proxy_args`: the outcome must be
/// identical (new value, one backup, one restart, verified, journal cleared), only slower.
async fn rotation_through(prefix: &str, proxy_args: &[&str]) -> (Run, Duration) {
    let (ns, value) = scenario(prefix).await;
    let sets_before = replica_sets(&ns).await;
    let proxy = HttpProxy::start(proxy_args);
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = proxy.kubeconfig(dir.path());
    let started = std::time::Instant::now();
    let run = crate::support::run_with(
        &kubeconfig,
        &["rotate", "app", "--key", "TOKEN", "--yes", "-n", &ns.name],
    );
    let took = started.elapsed();
    assert_eq!(run.code, exit::OK, "{run:?}");
    let rotated = token(&ns.secret_data("app").await);
    assert_ne!(rotated, value);
    let backups: Vec<String> = ns
        .secret_names()
        .await
        .into_iter()
        .filter(|n| n.starts_with("app.backup-"))
        .collect();
    assert_eq!(backups.len(), 1, "exactly one backup: {backups:?}");
    assert_eq!(token(&ns.secret_data(&backups[0]).await), value);
    assert_eq!(replica_sets(&ns).await, sets_before + 1, "exactly one restart");
    let verify = assert_settled(&ns, &rotated).await;
    assert!(run.stdout.contains("exact"), "verified: {}", run.stdout);
    for out in [&run, &verify] {
        out.assert_no_leak([&value, &rotated]);
    }
    (run, took)
}

#[tokio::test]
async fn a_rotation_through_a_slow_api_server_ends_the_same() {
    let (_, took) = rotation_through("slow-api", &["--delay", "1"]).await;
    record(
        "faults::a_rotation_through_a_slow_api_server_ends_the_same",
        "rotate through a proxy adding 1 s to every API request",
        "1 s latency on every request",
        &format!(
            "exit 0 after {:.0} s; new value, exactly one backup and one restart, verified exact, journal cleared",
            took.as_secs_f64()
        ),
    );
}

#[tokio::test]
async fn a_rotation_through_a_failing_api_server_ends_the_same() {
    let (run, _) = rotation_through("failing-api", &["--fail-every", "5"]).await;
    assert!(
        !run.stderr.contains("error:")
            && run
                .stderr
                .lines()
                .filter(|l| l.contains("injected"))
                .all(|l| l.contains("(retrying)")),
        "failed requests are retried, at most a warning says so: {}",
        run.stderr
    );
    record(
        "faults::a_rotation_through_a_failing_api_server_ends_the_same",
        "rotate through a proxy that answers every fifth request with 500 or 503",
        "HTTP 500/503 on one request in five",
        "exit 0; each failed request retried (writes made safe by preconditions and rotation-id checks): new value, exactly one backup and one restart, verified exact, journal cleared",
    );
}

#[tokio::test]
async fn a_rotation_whose_answers_are_lost_ends_the_same_without_duplicates() {
    rotation_through("lost-answers", &["--lose-answer-every", "4"]).await;
    record(
        "faults::a_rotation_whose_answers_are_lost_ends_the_same_without_duplicates",
        "rotate through a proxy that forwards every fourth request but answers 500 instead of the API server",
        "the server acted, its answer lost (one request in four)",
        "exit 0; a repeated create finds its own backup (rotation id, owner), a repeated write finds its own revision, a repeated restart is the same restartedAt: exactly one backup and one restart, verified exact, journal cleared",
    );
}
