//! Issuers on the bed's real database servers (PostgreSQL, MariaDB, Redis): a rotated password
//! changes at the server first, the Secret after; a failed rollout puts the old one back at the
//! server; `--dry-run` only logs in; a refusing server stops before the Secret is written; and no
//! plaintext reaches the output or the servers' logs.

use std::path::PathBuf;
use std::sync::OnceLock;

use mysql_async::prelude::Queryable as _;
use serde_json::{json, Value};

use crate::support::{
    annotations, canary, cluster, deployment, exit, stateful_set, with_pod_annotations, Background, TestNamespace,
};

/// The bed's database servers, from the databases.env cluster-up writes beside the kubeconfig.
struct Databases {
    postgres_port: u16,
    postgres_password: String,
    mysql_port: u16,
    mysql_password: String,
    redis_port: u16,
    redis_admin: String,
    redis_password: String,
    identity_ports: (u16, u16),
}

fn databases() -> &'static Databases {
    static DB: OnceLock<Databases> = OnceLock::new();
    DB.get_or_init(|| {
        let text = std::fs::read_to_string(cluster().admin_kubeconfig.with_file_name("databases.env"))
            .expect("databases.env beside the admin kubeconfig (cluster-up starts the databases)");
        let vars: std::collections::BTreeMap<String, String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let port = |k: &str| vars[k].parse::<u16>().unwrap();
        let (low, high) = vars["BED_IDENTITY_PORTS"].split_once('-').unwrap();
        Databases {
            postgres_port: port("BED_POSTGRES_PORT"),
            postgres_password: vars["BED_POSTGRES_PASSWORD"].clone(),
            mysql_port: port("BED_MYSQL_PORT"),
            mysql_password: vars["BED_MYSQL_PASSWORD"].clone(),
            redis_port: port("BED_REDIS_PORT"),
            redis_admin: vars["BED_REDIS_ADMIN"].clone(),
            redis_password: vars["BED_REDIS_PASSWORD"].clone(),
            identity_ports: (low.parse().unwrap(), high.parse().unwrap()),
        }
    })
}

/// A server log of the bed (every statement PostgreSQL ran, MariaDB's general log).
fn server_log(name: &str) -> String {
    let path: PathBuf = cluster().admin_kubeconfig.with_file_name("logs").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// PostgreSQL's log has `statement` with a SCRAM verifier, and never the password itself.
fn assert_sent_a_verifier(statement: &str, password: &str) {
    let log = server_log("postgres.log");
    assert!(
        log.contains(&format!("{statement} 'SCRAM-SHA-256$")),
        "{statement}… is logged with a verifier"
    );
    assert!(!log.contains(password), "no plaintext in the server's log");
}

/// A database name of this test: the namespace's, as an identifier.
fn db_name(ns: &TestNamespace, suffix: &str) -> String {
    format!("{}_{suffix}", ns.name.replace('-', "_"))
}

/// A session as `user` on the bed's PostgreSQL, or None if the login fails.
async fn postgres_client(user: &str, password: &str) -> Option<tokio_postgres::Client> {
    let mut config = tokio_postgres::Config::new();
    config
        .host("127.0.0.1")
        .port(databases().postgres_port)
        .user(user)
        .password(password)
        .dbname("postgres");
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.ok()?;
    tokio::spawn(connection);
    Some(client)
}

async fn postgres_login(user: &str, password: &str) -> bool {
    match postgres_client(user, password).await {
        Some(client) => client.simple_query("SELECT 1").await.is_ok(),
        None => false,
    }
}

async fn postgres_admin(sql: &str) {
    let client = postgres_client("postgres", &databases().postgres_password)
        .await
        .expect("postgres admin login");
    client.batch_execute(sql).await.expect(sql);
}

fn mysql_opts(user: &str, password: &str) -> mysql_async::OptsBuilder {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(databases().mysql_port)
        .user(Some(user))
        .pass(Some(password))
        .prefer_socket(false)
}

async fn mysql_login(user: &str, password: &str) -> bool {
    match mysql_async::Conn::new(mysql_opts(user, password)).await {
        Ok(mut conn) => conn.query_drop("SELECT 1").await.is_ok(),
        Err(_) => false,
    }
}

async fn mysql_admin(sql: &str) {
    let mut conn = mysql_async::Conn::new(mysql_opts("root", &databases().mysql_password))
        .await
        .expect("mariadb admin login");
    conn.query_drop(sql).await.expect(sql);
}

async fn redis_login(port: u16, user: Option<&str>, password: &str) -> bool {
    let mut settings = redis::RedisConnectionInfo::default().set_password(password);
    if let Some(user) = user {
        settings = settings.set_username(user);
    }
    let info = redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp("127.0.0.1".into(), port))
        .unwrap()
        .set_redis_settings(settings);
    match redis::Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
    {
        Ok(mut conn) => redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok(),
        Err(_) => false,
    }
}

async fn redis_admin(args: &[&str]) {
    let db = databases();
    let settings = redis::RedisConnectionInfo::default()
        .set_username(&db.redis_admin)
        .set_password(&db.redis_password);
    let info =
        redis::IntoConnectionInfo::into_connection_info(redis::ConnectionAddr::Tcp("127.0.0.1".into(), db.redis_port))
            .unwrap()
            .set_redis_settings(settings);
    let mut conn = redis::Client::open(info)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis admin login");
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async::<redis::Value>(&mut conn)
        .await
        .expect("redis admin command");
}

/// The first column of the first row of `sql` as `user`, or None if the login or the query fails.
async fn postgres_query(user: &str, password: &str, sql: &str) -> Option<i64> {
    let client = postgres_client(user, password).await?;
    client.query_one(sql, &[]).await.ok().map(|row| row.get::<_, i64>(0))
}

/// Whether the bed's PostgreSQL has a role of that name (asked as its administrator).
async fn postgres_role_exists(name: &str) -> bool {
    let sql = format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}'");
    postgres_query("postgres", &databases().postgres_password, &sql).await == Some(1)
}

/// `kubectl secrets ARGS` killed right after its change reached the issuer (failpoint
/// `issued`): the server has the new password or user, the Secret does not yet.
fn killed_after_the_server_step(args: &[&str]) -> crate::support::Run {
    let background = Background::spawn(&cluster().admin_kubeconfig, args, Some("issued:30"));
    background.wait_for("failpoint issued");
    background.signal("-KILL");
    background.finish()
}

/// An app reading the user and the password, as seed 003's backend does.
fn backend_with_user(secret: &str) -> Value {
    deployment(
        "backend",
        2,
        json!({"containers": [{"name": "app", "image": "app:1", "env": [
            {"name": "DB_USER", "valueFrom": {"secretKeyRef": {"name": secret, "key": "username"}}},
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}
        ]}]}),
    )
}

/// Seed 003's PostgreSQL set-up: the role owns a schema with a table and a row, as the app's
/// migrations leave it; the administrator's password in a Secret of the namespace.
async fn seed_003_scenario(ns: &TestNamespace, role: &str, old: &str, app: Value) {
    postgres_scenario(ns, "db", role, old, app).await;
    postgres_admin(&format!("CREATE SCHEMA {role} AUTHORIZATION {role}")).await;
    let client = postgres_client(role, old).await.expect("the role logs in");
    client
        .batch_execute(&format!(
            "CREATE TABLE {role}.orders (id int); INSERT INTO {role}.orders VALUES (1), (2)"
        ))
        .await
        .unwrap();
    ns.secret("pg-admin", &[("password", &databases().postgres_password)])
        .await;
}

/// The official postgres image reading the password (it does so only on its first start), and
/// an app reading it as DB_PASSWORD: the seed 001 shape.
async fn postgres_scenario(ns: &TestNamespace, secret: &str, role: &str, password: &str, app: Value) {
    postgres_admin(&format!("CREATE ROLE {role} LOGIN PASSWORD '{password}'")).await;
    ns.secret(secret, &[("username", role), ("password", password)]).await;
    let server = json!({"containers": [{"name": "postgres", "image": "postgres:16", "env": [
        {"name": "POSTGRES_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}
    ]}]});
    ns.create_stateful_set(stateful_set("postgres", 1, server)).await;
    ns.create_deployment(app).await;
    ns.wait_ready("statefulset", "postgres").await;
    ns.wait_ready("deployment", "backend").await;
}

fn backend(secret: &str) -> Value {
    deployment(
        "backend",
        2,
        json!({"containers": [{"name": "app", "image": "app:1", "env": [
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": "password"}}}
        ]}]}),
    )
}

/// A server process of a test's own, stopped however the test ends.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_postgres_password_changes_at_the_server_first_and_the_database_is_not_restarted() {
    let ns = TestNamespace::new("issuer-pg").await;
    let role = db_name(&ns, "app");
    let old = canary("pg-old");
    postgres_scenario(&ns, "db", &role, &old, backend("db")).await;
    let server_pods = ns.pod_names("postgres-").await;
    let app_pods = ns.pod_names("backend-").await;
    // Kept on the Secret, as a team would for every later rotation.
    let annotate = crate::support::kubectl_path();
    let status = std::process::Command::new(annotate)
        .arg("--kubeconfig")
        .arg(&cluster().admin_kubeconfig)
        .args(["annotate", "secret", "db", "-n", &ns.name])
        .arg(format!(
            "issuer.kubectl-secrets.io/password=postgresql:user={role},server=statefulset/postgres"
        ))
        .status()
        .unwrap();
    assert!(status.success());

    let run = ns.run(&["rotate", "db", "--key", "password", "--yes"]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    let new = text(&ns.secret_data("db").await["password"]);
    assert_ne!(new, old);
    assert!(postgres_login(&role, &new).await, "the server accepts the new password");
    assert!(
        !postgres_login(&role, &old).await,
        "and no longer the old one (single-phase)"
    );
    assert!(
        run.stderr.contains(&format!(
            "PostgreSQL role {role} at statefulset/postgres (pod postgres-0) port 5432"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("none: the issuer"), "{}", run.stdout);
    assert_eq!(
        ns.pod_names("postgres-").await,
        server_pods,
        "the database itself is not restarted"
    );
    let after = ns.pod_names("backend-").await;
    assert!(after.iter().all(|p| !app_pods.contains(p)), "its consumers are");
    assert_eq!(ns.secret_annotation("db", annotations::JOURNAL).await, None);
    assert_sent_a_verifier(&format!("ALTER ROLE \"{role}\" PASSWORD"), &new);
    run.assert_no_leak([&old, &new]);

    let verify = ns.run(&["verify", "db"]);
    assert_eq!(
        verify.code,
        exit::OK,
        "the database reads the password only at its first start: not stale\n{verify:?}"
    );
    verify.assert_no_leak([&old, &new]);
}

#[tokio::test]
async fn a_failed_rollout_puts_the_old_password_back_at_the_server_before_the_secret() {
    let ns = TestNamespace::new("issuer-pg-undo").await;
    let role = db_name(&ns, "app");
    let old = canary("pg-old");
    // The new value makes the app crash (as a wrong password would), the previous one runs.
    let crashing = with_pod_annotations(
        backend("db"),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"db":1}"#}),
    );
    postgres_scenario(&ns, "db", &role, &old, crashing).await;
    let issuer = format!("password=postgresql:user={role},server=statefulset/postgres");
    let run = ns.run(&[
        "rotate",
        "db",
        "--key",
        "password",
        "--issuer",
        &issuer,
        "--timeout",
        "20s",
        "--yes",
    ]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    assert!(
        run.stderr
            .contains("Put the previous password of db/password back at its issuer"),
        "{}",
        run.stderr
    );
    assert_eq!(
        text(&ns.secret_data("db").await["password"]),
        old,
        "the Secret holds the old password again"
    );
    assert!(postgres_login(&role, &old).await, "and the server accepts it again");
    // The Event the tenant reads says what kind of failure, not what the server answered.
    let all = crate::events::events(&ns);
    let on_secret = crate::events::about(&all, "Secret", "db");
    let note = on_secret.last().expect("a RotationFailed Event")["message"]
        .as_str()
        .unwrap();
    assert!(
        note.contains("the change failed and was rolled back") && note.contains("(exit 8;"),
        "{note}"
    );
    assert!(!note.contains("CrashLoopBackOff") && !note.contains(&role), "{note}");
    run.assert_no_leak([&old]);
}

#[tokio::test]
async fn dry_run_only_logs_in_and_a_refusing_server_stops_before_the_secret_is_written() {
    let ns = TestNamespace::new("issuer-refuse").await;
    let role = db_name(&ns, "app");
    let old = canary("pg-old");
    postgres_scenario(&ns, "db", &role, &old, backend("db")).await;
    let issuer = format!("password=postgresql:user={role},server=statefulset/postgres,admin=pg-admin/password");

    // The administrator's password is right: --dry-run logs in, checks, and changes nothing.
    ns.secret("pg-admin", &[("password", &databases().postgres_password)])
        .await;
    let dry = ns.run(&["rotate", "db", "--key", "password", "--issuer", &issuer, "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(dry.stderr.contains("Dry run: nothing was changed"), "{}", dry.stderr);
    assert!(dry.stderr.contains("(as postgres)"), "{}", dry.stderr);
    assert!(postgres_login(&role, &old).await, "the server was not changed");
    assert_eq!(text(&ns.secret_data("db").await["password"]), old);

    // A wrong administrator password: refused at the check, exit 15, nothing written anywhere.
    let wrong = canary("wrong-admin");
    ns.patch_secret("pg-admin", &[("password", &wrong)]).await;
    let refused = ns.run(&["rotate", "db", "--key", "password", "--issuer", &issuer, "--yes"]);
    assert_eq!(refused.code, exit::ISSUER_REFUSED, "{refused:?}");
    assert!(
        refused.stderr.contains("refused the login of postgres"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("check the password of postgres"),
        "{}",
        refused.stderr
    );
    assert_eq!(text(&ns.secret_data("db").await["password"]), old);
    assert_eq!(ns.secret_annotation("db", annotations::JOURNAL).await, None);
    assert!(
        !ns.secret_names().await.iter().any(|n| n.starts_with("db.backup-")),
        "no backup was made for a change that never started"
    );
    assert!(postgres_login(&role, &old).await);

    // The role itself lacks the privilege to change another role: refused the same way.
    let other = db_name(&ns, "other");
    postgres_admin(&format!("CREATE ROLE {other} LOGIN PASSWORD '{old}'")).await;
    ns.patch_secret("pg-admin", &[("password", &old)]).await;
    let unprivileged = format!(
        "password=postgresql:user={role},server=statefulset/postgres,admin=pg-admin/password,admin-user={other}"
    );
    let denied = ns.run(&["rotate", "db", "--key", "password", "--issuer", &unprivileged, "--yes"]);
    assert_eq!(denied.code, exit::ISSUER_REFUSED, "{denied:?}");
    assert!(
        denied.stderr.contains("may not change another role's password"),
        "{}",
        denied.stderr
    );
    for out in [&dry, &refused, &denied] {
        out.assert_no_leak([old.as_str(), wrong.as_str(), databases().postgres_password.as_str()]);
    }
}

#[tokio::test]
async fn a_database_password_without_an_issuer_is_refused_unless_changed_elsewhere() {
    let ns = TestNamespace::new("issuer-none").await;
    let role = db_name(&ns, "app");
    let old = canary("pg-old");
    postgres_scenario(&ns, "db", &role, &old, backend("db")).await;
    // audit says so before anyone rotates.
    let audit = ns.run(&["audit", "-o", "json"]);
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    assert!(
        findings
            .iter()
            .any(|f| f["rule"] == "no-issuer" && f["secret"] == "db" && f["key"] == "password"),
        "{findings:#?}"
    );
    audit.assert_no_leak([&old]);

    let run = ns.run(&["rotate", "db", "--key", "password", "--yes"]);
    assert_eq!(run.code, exit::USAGE, "{run:?}");
    assert!(
        run.stderr.contains(
            "looks like a database password (statefulset/postgres (image postgres) reads it as POSTGRES_PASSWORD)"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--issuer password=") && run.stderr.contains("--no-issuer"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&ns.secret_data("db").await["password"]), old);

    // The operator changed it at the server already: --no-issuer rotates the Secret only.
    let elsewhere = ns.run(&["rotate", "db", "--key", "password", "--no-issuer", "--yes"]);
    assert_eq!(elsewhere.code, exit::OK, "{elsewhere:?}");
    assert!(
        elsewhere
            .stderr
            .contains("--no-issuer: the servers that check these passwords"),
        "{}",
        elsewhere.stderr
    );
    assert_ne!(text(&ns.secret_data("db").await["password"]), old);
    for out in [&run, &elsewhere] {
        out.assert_no_leak([&old]);
    }
}

#[tokio::test]
async fn an_annotation_may_not_send_the_administrator_credential_outside_the_namespace() {
    let ns = TestNamespace::new("issuer-trust").await;
    let old = canary("pg-old");
    ns.secret("db", &[("password", &old)]).await;
    ns.create_secret(json!({
        "metadata": {"name": "db-annotated", "annotations": {
            "issuer.kubectl-secrets.io/password": "postgresql:user=app,server=evil.example:5432,admin=pg-admin/password"
        }},
        "stringData": {"password": old}
    }))
    .await;
    let run = ns.run(&["rotate", "db-annotated", "--key", "password", "--yes"]);
    assert_eq!(run.code, exit::UNTRUSTED, "{run:?}");
    assert!(
        run.stderr
            .contains("an annotation may only name a pod or workload of its own namespace"),
        "{}",
        run.stderr
    );
    assert_eq!(text(&ns.secret_data("db-annotated").await["password"]), old);

    // Inside the namespace, an annotation that acts as an administrator chooses whose password
    // the administrator's power changes: without a question, the operator must name it.
    let role = db_name(&ns, "app");
    postgres_admin(&format!("CREATE ROLE {role} LOGIN PASSWORD '{old}'")).await;
    ns.secret("pg-admin", &[("password", &databases().postgres_password)])
        .await;
    let spec = format!("postgresql:user={role},server=statefulset/postgres,admin=pg-admin/password");
    ns.create_secret(json!({
        "metadata": {"name": "db-admin", "annotations": {"issuer.kubectl-secrets.io/password": spec}},
        "stringData": {"password": old}
    }))
    .await;
    let server = json!({"containers": [{"name": "postgres", "image": "postgres:16"}]});
    ns.create_stateful_set(stateful_set("postgres", 1, server)).await;
    ns.wait_ready("statefulset", "postgres").await;
    // Before consent, the administrator's credential goes nowhere: an issuer pointed at a
    // listener of this test's own (a pod port the bed forwards as is) gets no connection.
    let (low, high) = databases().identity_ports;
    let trap = (low..=high)
        .find_map(|p| std::net::TcpListener::bind(("127.0.0.1", p)).ok())
        .expect("a free identity port");
    trap.set_nonblocking(true).unwrap();
    let trap_port = trap.local_addr().unwrap().port();
    ns.create_secret(json!({
        "metadata": {"name": "db-trap", "annotations": {"issuer.kubectl-secrets.io/password":
            format!("postgresql:user={role},server=statefulset/postgres,port={trap_port},admin=pg-admin/password")}},
        "stringData": {"password": old}
    }))
    .await;
    let trapped = ns.run(&["rotate", "db-trap", "--key", "password", "--yes"]);
    assert_eq!(trapped.code, exit::UNTRUSTED, "{trapped:?}");
    let dry = ns.run(&["rotate", "db-trap", "--key", "password", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(dry.stderr.contains("reached only once you confirm"), "{}", dry.stderr);
    assert!(
        trap.accept().is_err(),
        "nothing connected to the server an annotation named before consent"
    );
    for out in [&trapped, &dry] {
        out.assert_no_leak([old.as_str(), databases().postgres_password.as_str()]);
    }

    let unattended = ns.run(&["rotate", "db-admin", "--key", "password", "--yes"]);
    assert_eq!(unattended.code, exit::UNTRUSTED, "{unattended:?}");
    assert!(
        unattended
            .stderr
            .contains("name it on the command line (--issuer password=…) to consent"),
        "{}",
        unattended.stderr
    );
    assert!(postgres_login(&role, &old).await, "nothing changed at the server");
    assert_eq!(text(&ns.secret_data("db-admin").await["password"]), old);
    let consented = ns.run(&[
        "rotate",
        "db-admin",
        "--key",
        "password",
        "--issuer",
        &format!("password={spec}"),
        "--yes",
    ]);
    assert_eq!(consented.code, exit::OK, "{consented:?}");
    let new = text(&ns.secret_data("db-admin").await["password"]);
    assert!(postgres_login(&role, &new).await);
    for out in [&run, &unattended, &consented] {
        out.assert_no_leak([old.as_str(), new.as_str(), databases().postgres_password.as_str()]);
    }
}

#[tokio::test]
async fn mariadb_takes_the_native_hash_single_phase() {
    let ns = TestNamespace::new("issuer-maria").await;
    let user = db_name(&ns, "app");
    let old = canary("maria-old");
    mysql_admin(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{old}'")).await;
    ns.secret("mysql-credentials", &[("username", &user), ("password", &old)])
        .await;
    ns.secret("mysql-admin", &[("root-password", &databases().mysql_password)])
        .await;
    let server = json!({"containers": [{"name": "mariadb", "image": "mariadb:11", "env": [
        {"name": "MARIADB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "mysql-credentials", "key": "password"}}}
    ]}]});
    ns.create_stateful_set(stateful_set("mariadb", 1, server)).await;
    ns.create_deployment(backend("mysql-credentials")).await;
    ns.wait_ready("statefulset", "mariadb").await;
    ns.wait_ready("deployment", "backend").await;
    let issuer = format!("password=mysql:user={user},server=statefulset/mariadb,admin=mysql-admin/root-password");
    let run = ns.run(&[
        "rotate",
        "mysql-credentials",
        "--key",
        "password",
        "--issuer",
        &issuer,
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr.contains("single-phase (MariaDB has no dual passwords)"),
        "{}",
        run.stderr
    );
    let new = text(&ns.secret_data("mysql-credentials").await["password"]);
    assert!(mysql_login(&user, &new).await, "MariaDB accepts the new password");
    assert!(!mysql_login(&user, &old).await, "and no longer the old one");
    let log = server_log("mariadb-general.log");
    assert!(log.contains("IDENTIFIED BY PASSWORD '*"), "the native hash was sent");
    assert!(!log.contains(&new), "no plaintext in MariaDB's general log");
    run.assert_no_leak([&old, &new, &databases().mysql_password]);
}

#[tokio::test]
async fn redis_acl_keeps_both_passwords_until_verify_then_retires_the_old_one() {
    let ns = TestNamespace::new("issuer-redis").await;
    let user = db_name(&ns, "app");
    let old = canary("redis-old");
    redis_admin(&[
        "ACL",
        "SETUSER",
        &user,
        "on",
        &format!(">{old}"),
        "~*",
        "+@read",
        "+ping",
    ])
    .await;
    ns.secret("redis-credentials", &[("username", &user), ("password", &old)])
        .await;
    ns.secret("redis-admin", &[("password", &databases().redis_password)])
        .await;
    let server = json!({"containers": [{"name": "redis", "image": "redis:7", "args": ["--requirepass", "$(REDIS_PASSWORD)"], "env": [
        {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-credentials", "key": "password"}}}
    ]}]});
    ns.create_stateful_set(stateful_set("redis", 1, server)).await;
    ns.create_deployment(backend("redis-credentials")).await;
    ns.wait_ready("statefulset", "redis").await;
    ns.wait_ready("deployment", "backend").await;
    let redis_pods = ns.pod_names("redis-").await;

    // Interrupted right after the server took the new password: both are valid there.
    let issuer = format!(
        "password=redis:user={user},server=statefulset/redis,admin=redis-admin/password,admin-user={}",
        databases().redis_admin
    );
    let args = [
        "rotate",
        "redis-credentials",
        "--key",
        "password",
        "--issuer",
        &issuer,
        "--yes",
        "-n",
        &ns.name,
    ];
    let killed = killed_after_the_server_step(&args);
    let journal = ns
        .secret_annotation("redis-credentials", annotations::JOURNAL)
        .await
        .expect("journal written before the server step");
    assert!(
        journal.contains("\"issuing\"") && journal.contains("redis:user="),
        "{journal}"
    );
    assert_eq!(
        text(&ns.secret_data("redis-credentials").await["password"]),
        old,
        "the Secret was not written yet"
    );
    assert!(
        redis_login(databases().redis_port, Some(&user), &old).await,
        "the old password still works"
    );

    // --resume cannot finish it (the new value was never stored); --abort removes it at the server.
    let resume = ns.run(&["rotate", "redis-credentials", "--resume", "--issuer", &issuer, "--yes"]);
    assert_eq!(resume.code, exit::IN_PROGRESS, "{resume:?}");
    let abort = ns.run(&["rotate", "redis-credentials", "--abort", "--issuer", &issuer, "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert!(redis_login(databases().redis_port, Some(&user), &old).await);
    assert_eq!(
        ns.secret_annotation("redis-credentials", annotations::JOURNAL).await,
        None
    );

    // The whole rotation: the new password added, the Secret written, the consumers verified,
    // the old password retired. The Redis StatefulSet (the issuer) is not restarted.
    let run = ns.run(&[
        "rotate",
        "redis-credentials",
        "--key",
        "password",
        "--issuer",
        &issuer,
        "--yes",
    ]);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(run.stderr.contains("both valid until retired"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("Retired the previous password of redis-credentials/password"),
        "{}",
        run.stderr
    );
    let new = text(&ns.secret_data("redis-credentials").await["password"]);
    assert!(redis_login(databases().redis_port, Some(&user), &new).await);
    assert!(
        !redis_login(databases().redis_port, Some(&user), &old).await,
        "retired after verify"
    );
    assert_eq!(ns.pod_names("redis-").await, redis_pods);
    for out in [&killed, &resume, &abort, &run] {
        out.assert_no_leak([old.as_str(), new.as_str(), databases().redis_password.as_str()]);
    }
}

#[tokio::test]
async fn the_redis_default_user_password_requirepass_changes_on_a_server_of_its_own() {
    let ns = TestNamespace::new("issuer-requirepass").await;
    let old = canary("requirepass-old");
    // A Redis of this test's own (its requirepass is its own), on a port the bed's fake pods
    // forward as is.
    let (low, high) = databases().identity_ports;
    let port = (low..=high)
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free identity port");
    let dir = tempfile::tempdir().unwrap();
    let _server = Stopped(
        std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--requirepass",
                &old,
            ])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server"),
    );
    for _ in 0..40 {
        if redis_login(port, None, &old).await {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ns.secret("redis-secrets", &[("redis-password", &old)]).await;
    let server_pod = json!({"containers": [{"name": "redis", "image": "redis:7"}]});
    ns.create_stateful_set(stateful_set("redis", 1, server_pod)).await;
    ns.create_deployment(deployment(
        "backend",
        1,
        json!({"containers": [{"name": "app", "image": "app:1", "env": [
            {"name": "REDIS_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "redis-secrets", "key": "redis-password"}}}
        ]}]}),
    ))
    .await;
    ns.wait_ready("statefulset", "redis").await;
    ns.wait_ready("deployment", "backend").await;
    let issuer = format!("redis-password=redis:user=default,server=statefulset/redis,port={port}");
    let run = ns.run(&[
        "rotate",
        "redis-secrets",
        "--key",
        "redis-password",
        "--issuer",
        &issuer,
        "--yes",
    ]);
    let new = text(&ns.secret_data("redis-secrets").await["redis-password"]);
    let (new_works, old_works) = (redis_login(port, None, &new).await, redis_login(port, None, &old).await);
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(new_works, "the server takes the new password");
    assert!(!old_works, "the previous one is retired after verify");
    run.assert_no_leak([&old, &new]);
}

/// A seed 003 scenario and what its two-phase rotation is given.
struct NewRole {
    role: String,
    successor: String,
    old: String,
    /// `--issuer password=…,user-key=username`.
    issuer: String,
    /// `username=<successor>` for `--set`.
    rename: String,
}

async fn new_role_scenario(ns: &TestNamespace, app: Value) -> NewRole {
    let role = db_name(ns, "backend");
    let successor = format!("{role}_v2");
    let old = canary("pg-role-old");
    seed_003_scenario(ns, &role, &old, app).await;
    NewRole {
        issuer: format!(
            "password=postgresql:user={role},server=statefulset/postgres,admin=pg-admin/password,user-key=username"
        ),
        rename: format!("username={successor}"),
        role,
        successor,
        old,
    }
}

/// Seed 003's zero-downtime rotation as one command: a new role beside the old one (a member of
/// it: its privileges and its table), the Secret switched to it, the consumers restarted and
/// verified, and only then the old role stops logging in (it stays, holding what the new one
/// inherits). The plan says so first; a name that is taken is refused before anything changes.
#[tokio::test]
async fn a_new_role_is_made_beside_the_old_one_which_stops_logging_in_after_verify() {
    let ns = TestNamespace::new("issuer-pg-role").await;
    let NewRole {
        role,
        successor,
        old,
        issuer,
        rename,
    } = new_role_scenario(&ns, backend_with_user("db")).await;
    let app_pods = ns.pod_names("backend-").await;
    let args = [
        "rotate", "db", "--key", "password", "--set", &rename, "--issuer", &issuer,
    ];

    let dry = ns.run(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stderr
            .contains(&format!("a new role {successor}, a member of {role}")),
        "{}",
        dry.stderr
    );
    assert!(!postgres_login(&successor, "anything").await);
    assert_eq!(text(&ns.secret_data("db").await["username"]), role, "nothing written");

    let run = ns.run(&[&args[..], &["--yes"]].concat());
    assert_eq!(run.code, exit::OK, "{run:?}");
    let data = ns.secret_data("db").await;
    let new = text(&data["password"]);
    assert_ne!(new, old);
    assert_eq!(text(&data["username"]), successor, "the Secret names the new role");
    assert_eq!(
        postgres_query(&successor, &new, &format!("SELECT count(*) FROM {role}.orders")).await,
        Some(2),
        "the new role logs in with the new password and reads the old role's table"
    );
    assert!(
        !postgres_login(&role, &old).await,
        "after verify the old role no longer logs in"
    );
    assert!(
        run.stderr.contains(&format!(
            "At the issuer of db/password: {role} no longer logs in (NOLOGIN"
        )),
        "{}",
        run.stderr
    );
    let after = ns.pod_names("backend-").await;
    assert!(
        after.iter().all(|p| !app_pods.contains(p)),
        "the consumers were restarted"
    );
    assert_eq!(ns.secret_annotation("db", annotations::JOURNAL).await, None);
    assert_sent_a_verifier(&format!("CREATE ROLE \"{successor}\" LOGIN PASSWORD"), &new);
    let verify = ns.run(&["verify", "db"]);
    assert_eq!(verify.code, exit::OK, "{verify:?}");

    // The Secret now holds the new role: an issuer still naming the old one is refused, and a
    // new name that is taken (the old role's) is refused before anything is written.
    let stale = ns.run(&[&args[..], &["--yes"]].concat());
    assert_eq!(stale.code, exit::USAGE, "{stale:?}");
    assert!(
        stale.stderr.contains("does not hold the issuer's user="),
        "{}",
        stale.stderr
    );
    let issuer_now = format!(
        "password=postgresql:user={successor},server=statefulset/postgres,admin=pg-admin/password,user-key=username"
    );
    let back = format!("username={role}");
    let taken = ns.run(&[
        "rotate",
        "db",
        "--key",
        "password",
        "--set",
        &back,
        "--issuer",
        &issuer_now,
        "--yes",
    ]);
    assert_eq!(taken.code, exit::ISSUER_REFUSED, "{taken:?}");
    assert!(
        taken.stderr.contains(&format!("a role {role} exists already")),
        "{}",
        taken.stderr
    );
    assert_eq!(text(&ns.secret_data("db").await["password"]), new, "nothing written");
    for out in [&dry, &run, &verify, &stale, &taken] {
        out.assert_no_leak([&old, &new]);
    }
}

/// A failed rollout undoes a two-phase change at the server first: the new role goes, the old
/// one logs in with its password as before, and the Secret names it again.
#[tokio::test]
async fn a_failed_rollout_removes_the_new_role_and_the_old_one_still_logs_in() {
    let ns = TestNamespace::new("issuer-pg-role-undo").await;
    let crashing = with_pod_annotations(
        backend_with_user("db"),
        json!({"testbed.kubectl-secrets.io/crash-with-revisions": r#"{"db":1}"#}),
    );
    let NewRole {
        role,
        successor,
        old,
        issuer,
        rename,
    } = new_role_scenario(&ns, crashing).await;
    let run = ns.run(&[
        "rotate",
        "db",
        "--key",
        "password",
        "--set",
        &rename,
        "--issuer",
        &issuer,
        "--timeout",
        "20s",
        "--yes",
    ]);
    assert_eq!(run.code, exit::ROLLED_BACK, "{run:?}");
    let data = ns.secret_data("db").await;
    assert_eq!(text(&data["username"]), role);
    assert_eq!(text(&data["password"]), old);
    assert_eq!(
        postgres_query(&role, &old, &format!("SELECT count(*) FROM {role}.orders")).await,
        Some(2),
        "the old role logs in and keeps its table"
    );
    assert!(!postgres_login(&successor, "x").await);
    assert!(!postgres_role_exists(&successor).await, "the new role is removed");
    run.assert_no_leak([&old]);
}

/// Seed 003's set-up on MariaDB: a user with SELECT and INSERT on a database of its own holding
/// a table of three rows, its Secret, the administrator's, the server's StatefulSet and a backend
/// reading user and password. Returns what the two-phase rotation is given, and the database.
async fn new_mariadb_user_scenario(ns: &TestNamespace) -> (NewRole, String) {
    let user = db_name(ns, "app");
    let old = canary("maria-user-old");
    let db = db_name(ns, "shop");
    mysql_admin(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{old}'")).await;
    mysql_admin(&format!("CREATE DATABASE {db}")).await;
    mysql_admin(&format!("CREATE TABLE {db}.orders (id INT)")).await;
    mysql_admin(&format!("INSERT INTO {db}.orders VALUES (1), (2), (3)")).await;
    mysql_admin(&format!("GRANT SELECT, INSERT ON {db}.* TO '{user}'@'%'")).await;
    ns.secret("mysql-credentials", &[("username", &user), ("password", &old)])
        .await;
    ns.secret("mysql-admin", &[("root-password", &databases().mysql_password)])
        .await;
    let server = json!({"containers": [{"name": "mariadb", "image": "mariadb:11"}]});
    ns.create_stateful_set(stateful_set("mariadb", 1, server)).await;
    ns.create_deployment(backend_with_user("mysql-credentials")).await;
    ns.wait_ready("statefulset", "mariadb").await;
    ns.wait_ready("deployment", "backend").await;
    let successor = format!("{user}_v2");
    let scenario = NewRole {
        issuer: format!(
            "password=mysql:user={user},server=statefulset/mariadb,admin=mysql-admin/root-password,user-key=username"
        ),
        rename: format!("username={successor}"),
        role: user,
        successor,
        old,
    };
    (scenario, db)
}

/// The same on MariaDB, which has no role a new user could inherit from: the new user gets the
/// old one's grants (its database, not more) and the new password's hash; after verify the old
/// account is locked. A user with global privileges is not copied: refused before any change.
#[tokio::test]
async fn a_new_mariadb_user_gets_the_old_ones_grants_and_the_old_one_is_locked_after_verify() {
    let ns = TestNamespace::new("issuer-maria-user").await;
    let (
        NewRole {
            role: user,
            successor,
            old,
            issuer,
            rename,
        },
        db,
    ) = new_mariadb_user_scenario(&ns).await;
    let args = [
        "rotate",
        "mysql-credentials",
        "--key",
        "password",
        "--set",
        &rename,
        "--issuer",
        &issuer,
    ];

    let run = ns.run(&[&args[..], &["--yes"]].concat());
    assert_eq!(run.code, exit::OK, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("a new user {successor} with {user}'s grants")),
        "{}",
        run.stderr
    );
    let data = ns.secret_data("mysql-credentials").await;
    let new = text(&data["password"]);
    assert_eq!(text(&data["username"]), successor);
    let mut conn = mysql_async::Conn::new(mysql_opts(&successor, &new))
        .await
        .expect("the new user logs in with the new password");
    let rows: Option<i64> = conn
        .query_first(format!("SELECT COUNT(*) FROM {db}.orders"))
        .await
        .expect("and reads the old user's database");
    assert_eq!(rows, Some(3));
    let denied = conn.query_drop("CREATE DATABASE not_granted_here").await;
    assert!(denied.is_err(), "and has no more than the old user had");
    assert!(
        !mysql_login(&user, &old).await,
        "the old account is locked after verify"
    );
    assert!(
        run.stderr.contains(&format!(
            "At the issuer of mysql-credentials/password: {user} is locked (ACCOUNT LOCK"
        )),
        "{}",
        run.stderr
    );
    let log = server_log("mariadb-general.log");
    assert!(!log.contains(&new), "no plaintext in MariaDB's general log");
    run.assert_no_leak([&old, &new, &databases().mysql_password]);

    // An account with global privileges is not copied: refused before anything is written.
    let admin_like = db_name(&ns, "ops");
    let ops_password = canary("maria-ops");
    mysql_admin(&format!(
        "CREATE USER '{admin_like}'@'%' IDENTIFIED BY '{ops_password}'"
    ))
    .await;
    mysql_admin(&format!("GRANT ALL PRIVILEGES ON *.* TO '{admin_like}'@'%'")).await;
    ns.secret(
        "ops-credentials",
        &[("username", &admin_like), ("password", &ops_password)],
    )
    .await;
    let issuer = format!(
        "password=mysql:user={admin_like},server=statefulset/mariadb,admin=mysql-admin/root-password,user-key=username"
    );
    let rename = format!("username={admin_like}_v2");
    let refused = ns.run(&[
        "rotate",
        "ops-credentials",
        "--key",
        "password",
        "--set",
        &rename,
        "--issuer",
        &issuer,
        "--no-restart",
        "--yes",
    ]);
    assert_eq!(refused.code, exit::ISSUER_REFUSED, "{refused:?}");
    assert!(refused.stderr.contains("global privileges"), "{}", refused.stderr);
    assert_eq!(text(&ns.secret_data("ops-credentials").await["password"]), ops_password);
    assert!(mysql_login(&admin_like, &ops_password).await);
    refused.assert_no_leak([&ops_password, &databases().mysql_password]);
}

/// A two-phase change interrupted right after the server step, then `--abort`: the journal names
/// the new role; PostgreSQL's is removed (its comment says kubectl-secrets made it for this key),
/// and the old role logs in as before. (A MySQL user named only by the journal is left: below.)
#[tokio::test]
async fn an_interrupted_new_role_is_removed_by_abort_and_the_old_one_logs_in() {
    let ns = TestNamespace::new("issuer-pg-role-abort").await;
    let NewRole {
        role,
        successor,
        old,
        issuer,
        rename,
    } = new_role_scenario(&ns, backend_with_user("db")).await;
    killed_after_the_server_step(&[
        "rotate", "db", "--key", "password", "--set", &rename, "--issuer", &issuer, "--yes", "-n", &ns.name,
    ]);
    let journal = ns
        .secret_annotation("db", annotations::JOURNAL)
        .await
        .expect("journal written before the server step");
    assert!(journal.contains(&format!("\"successor\":\"{successor}\"")), "{journal}");
    assert!(
        postgres_role_exists(&successor).await,
        "the new role was made before the interruption"
    );

    let abort = ns.run(&["rotate", "db", "--abort", "--issuer", &issuer, "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert!(!postgres_role_exists(&successor).await, "the new role is removed");
    assert_eq!(text(&ns.secret_data("db").await["username"]), role);
    assert_eq!(ns.secret_annotation("db", annotations::JOURNAL).await, None);
    abort.assert_no_leak([&old]);
}

/// The same interruption on MariaDB: `--abort` puts the Secret back but leaves the new user,
/// which only the journal (the namespace's to write) names and which carries no mark of who made
/// it, and says so; the old user logs in as before.
#[tokio::test]
async fn an_interrupted_new_mariadb_user_is_left_by_abort_which_says_so() {
    let ns = TestNamespace::new("issuer-maria-abort").await;
    let (
        NewRole {
            role: user,
            successor,
            old,
            issuer,
            rename,
        },
        _,
    ) = new_mariadb_user_scenario(&ns).await;
    let args = [
        "rotate",
        "mysql-credentials",
        "--key",
        "password",
        "--set",
        &rename,
        "--issuer",
        &issuer,
        "--yes",
        "-n",
        &ns.name,
    ];
    killed_after_the_server_step(&args);

    let abort = ns.run(&["rotate", "mysql-credentials", "--abort", "--issuer", &issuer, "--yes"]);
    assert_eq!(abort.code, exit::OK, "{abort:?}");
    assert!(
        abort.stderr.contains(&format!(
            "left user {successor} at the issuer of mysql-credentials/password"
        )),
        "{}",
        abort.stderr
    );
    assert!(mysql_login(&user, &old).await, "the old user logs in as before");
    assert_eq!(text(&ns.secret_data("mysql-credentials").await["username"]), user);
    assert_eq!(
        ns.secret_annotation("mysql-credentials", annotations::JOURNAL).await,
        None
    );
    abort.assert_no_leak([&old, &databases().mysql_password]);
}
