//! MySQL and MariaDB: `ALTER USER` for every host the user is defined for. MySQL 8.0.14 and
//! later keep the current password valid beside the new one (`RETAIN CURRENT PASSWORD`, then
//! `DISCARD OLD PASSWORD` on retire: no window at all); MariaDB has no dual passwords, so there
//! the change is single-phase and the new password is given as its `mysql_native_password`
//! hash, computed here (the plaintext never reaches the server or its general log).
//!
//! Two-phase with a new user (`user-key=` and a new name for that key), on either: the new user
//! is created for each of the old one's hosts with the new password's hash and the old one's
//! grants (see `mysql_successor_grants` for what is refused); the Secret switches to it; once
//! every consumer runs it, the old account is locked (ACCOUNT LOCK), not dropped: views and
//! routines it defined keep working.

use std::sync::OnceLock;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, OptsBuilder};

use super::{successor_done, text, Issuer, Step, Target, CONNECT_TIMEOUT};
use crate::domain::issuer::{
    mysql_account, mysql_native_hash, mysql_statements, mysql_successor_grants, sql_literal, IssuerSpec, MySqlServer,
    MySqlStep,
};
use crate::domain::secret_value::SecretValue;
use crate::error::Result;

pub struct MySql {
    spec: IssuerSpec,
    target: Target,
    /// What `check` found: the server's version, and the hosts the user is defined for.
    server: OnceLock<(MySqlServer, Vec<String>)>,
    /// The new user made beside `spec.user` (two-phase), when the change renames the user.
    successor: Option<String>,
}

impl MySql {
    pub fn new(spec: IssuerSpec, target: Target, successor: Option<String>) -> Self {
        MySql {
            spec,
            target,
            server: OnceLock::new(),
            successor,
        }
    }

    /// The grants `user@host` has, one statement a line.
    async fn grants_of(&self, conn: &mut Conn, user: &str, host: &str) -> Result<Vec<String>> {
        conn.query(format!("SHOW GRANTS FOR {}@{}", sql_literal(user), sql_literal(host)))
            .await
            .map_err(|e| {
                self.target.refused(
                    &self.what(),
                    "reading grants",
                    error_message(&e),
                    "the administrator needs SELECT on the mysql schema",
                )
            })
    }

    /// What the successor is given on `host`: the old account's grants, or why not.
    async fn successor_grants(&self, conn: &mut Conn, successor: &str, host: &str) -> Result<Vec<String>> {
        let grants = self.grants_of(conn, &self.spec.user, host).await?;
        mysql_successor_grants(
            &grants,
            &mysql_account(&self.spec.user, host),
            &mysql_account(successor, host),
        )
        .map_err(|why| {
            self.target.refused(
                &self.what(),
                "the check",
                why,
                "change its password in place (without a new name for the user key), or make the new user by hand",
            )
        })
    }

    /// Whether the successor exists on `host`, and whether it is the copy this key's change made
    /// (its grants are the old account's, renamed: a user with anything else is not ours).
    async fn successor_state(&self, conn: &mut Conn, successor: &str, host: &str) -> Result<Option<bool>> {
        let count: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM mysql.user WHERE User = ? AND Host = ?",
                (successor.to_string(), host.to_string()),
            )
            .await
            .map_err(|e| self.target.unreachable(&self.what(), error_message(&e)))?;
        if count.unwrap_or(0) == 0 {
            return Ok(None);
        }
        let mut expected = self.successor_grants(conn, successor, host).await?;
        let mut found: Vec<String> = self
            .grants_of(conn, successor, host)
            .await?
            .into_iter()
            .filter(|g| !g.starts_with("GRANT USAGE ON *.* "))
            .collect();
        expected.sort();
        found.sort();
        Ok(Some(found == expected))
    }

    fn exists_already(&self, successor: &str) -> crate::error::Error {
        self.target.refused(
            &self.what(),
            "the check",
            format!("a user {successor} exists already and is not the copy kubectl-secrets made for this key"),
            "give the new user a name no user has (--set with the user key)",
        )
    }

    /// The successor with the new password's hash and the old account's grants, on every host
    /// (after an interruption, the copy made before gets the password).
    async fn add_successor(&self, successor: &str, new: &SecretValue) -> Result<()> {
        let mut conn = self.connect(new).await?;
        let (server, hosts) = self.inspect(&mut conn).await?;
        let hash = sql_literal(&mysql_native_hash(new));
        for host in &hosts {
            let account = format!("{}@{}", sql_literal(successor), sql_literal(host));
            let identified = if server.is_mariadb() {
                format!("IDENTIFIED BY PASSWORD {hash}")
            } else {
                format!("IDENTIFIED WITH mysql_native_password AS {hash}")
            };
            let mut statements = match self.successor_state(&mut conn, successor, host).await? {
                Some(true) => vec![format!("ALTER USER {account} {identified}")],
                Some(false) => return Err(self.exists_already(successor)),
                None => vec![format!("CREATE USER {account} {identified}")],
            };
            if statements[0].starts_with("CREATE") {
                statements.extend(self.successor_grants(&mut conn, successor, host).await?);
            }
            for statement in statements {
                conn.query_drop(statement).await.map_err(|e| {
                    self.target.refused(
                        &self.what(),
                        &format!("making user {successor}"),
                        error_message(&e),
                        "the administrator needs CREATE USER and the privileges it copies, WITH GRANT OPTION",
                    )
                })?;
            }
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    /// Undo of a two-phase change: the copy goes on every host; a user of that name that is not
    /// the copy is left alone.
    async fn remove_successor(&self, successor: &str, old: &SecretValue) -> Result<()> {
        let mut conn = self.connect(old).await?;
        let (_, hosts) = self.inspect(&mut conn).await?;
        for host in &hosts {
            match self.successor_state(&mut conn, successor, host).await? {
                None => continue,
                Some(false) => return Err(self.exists_already(successor)),
                Some(true) => conn
                    .query_drop(format!("DROP USER {}@{}", sql_literal(successor), sql_literal(host)))
                    .await
                    .map_err(|e| {
                        self.target.refused(
                            &self.what(),
                            &format!("removing user {successor}"),
                            error_message(&e),
                            "remove it by hand (DROP USER)",
                        )
                    })?,
            }
        }
        let _ = conn.disconnect().await;
        Ok(())
    }

    fn what(&self) -> String {
        format!("MySQL/MariaDB user {}", self.spec.user)
    }

    async fn connect(&self, own: &SecretValue) -> Result<Conn> {
        let (user, password) = self.target.login(&self.spec.user, own);
        let opts = OptsBuilder::default()
            .ip_or_hostname(self.target.host.clone())
            .tcp_port(self.target.port)
            .user(Some(user))
            .pass(Some(text(password)?))
            .prefer_socket(false);
        match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await {
            Err(_) => Err(self.target.unreachable(&self.what(), "no answer within 10s")),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(mysql_async::Error::Server(e))) if e.code == 1045 || e.code == 1698 => Err(self.target.refused(
                &self.what(),
                &format!("the login of {user}"),
                server_message(&e),
                &self.target.login_fix(&self.spec.user),
            )),
            Ok(Err(e)) => Err(self.target.unreachable(&self.what(), error_message(&e))),
        }
    }

    /// The server's version and the user's hosts, read once.
    async fn inspect(&self, conn: &mut Conn) -> Result<(MySqlServer, Vec<String>)> {
        if let Some(found) = self.server.get() {
            return Ok(found.clone());
        }
        let version: Option<String> = conn
            .query_first("SELECT VERSION()")
            .await
            .map_err(|e| self.target.unreachable(&self.what(), error_message(&e)))?;
        let hosts: Vec<String> = if self.target.admin.is_some() {
            conn.exec("SELECT Host FROM mysql.user WHERE User = ?", (self.spec.user.clone(),))
                .await
                .map_err(|e| {
                    self.target.refused(
                        &self.what(),
                        "the check",
                        error_message(&e),
                        "the administrator needs SELECT on mysql.user and CREATE USER",
                    )
                })?
        } else {
            Vec::new()
        };
        let found = (
            MySqlServer {
                version: version.unwrap_or_default(),
            },
            hosts,
        );
        let _ = self.server.set(found.clone());
        Ok(found)
    }

    /// The accounts a statement names: each host of the user, or the session's own account.
    fn accounts(&self, hosts: &[String]) -> Vec<String> {
        if self.target.admin.is_none() {
            return vec!["CURRENT_USER()".into()];
        }
        hosts
            .iter()
            .map(|h| format!("{}@{}", sql_literal(&self.spec.user), sql_literal(h)))
            .collect()
    }

    /// Log in with `login_with` and run `step` (setting `password`) for each of the user's accounts.
    async fn run(&self, login_with: &SecretValue, step: MySqlStep, password: &SecretValue, what: &str) -> Result<()> {
        let mut conn = self.connect(login_with).await?;
        let (server, hosts) = self.inspect(&mut conn).await?;
        for account in self.accounts(&hosts) {
            for statement in mysql_statements(step, &account, &server, password) {
                conn.query_drop(statement).await.map_err(|e| {
                    self.target.refused(
                        &self.what(),
                        what,
                        error_message(&e),
                        "the administrator needs CREATE USER (or UPDATE on mysql.*)",
                    )
                })?;
            }
        }
        let _ = conn.disconnect().await;
        Ok(())
    }
}

fn server_message(e: &mysql_async::ServerError) -> String {
    format!("{} ({})", e.message, e.code)
}

/// The server's message, never a statement (which may hold a hash or, on MySQL 8, the value).
fn error_message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => server_message(s),
        mysql_async::Error::Io(io) => io.to_string(),
        mysql_async::Error::Driver(d) => d.to_string(),
        _ => "the client failed".into(),
    }
}

impl Issuer for MySql {
    fn describe(&self) -> String {
        if let Some(successor) = &self.successor {
            return format!(
                "{} at {} (as {}): a new user {successor} with {}'s grants and the new password's hash; {} is locked \
                 (ACCOUNT LOCK) once every consumer runs {successor}",
                self.what(),
                self.target.place,
                self.target
                    .admin
                    .as_ref()
                    .map(|(a, _)| a.as_str())
                    .unwrap_or("the user"),
                self.spec.user,
                self.spec.user,
            );
        }
        let how = match self.server.get() {
            Some((server, _)) if server.dual_passwords() => {
                "ALTER USER … RETAIN CURRENT PASSWORD: both valid until retired (DISCARD OLD PASSWORD)".to_string()
            }
            Some((server, _)) => format!(
                "ALTER USER with the native password hash computed here; single-phase ({} has no dual passwords)",
                if server.is_mariadb() { "MariaDB" } else { "this MySQL" }
            ),
            None => "ALTER USER".to_string(),
        };
        self.target.describe(&self.what(), &how)
    }

    fn keeps_both(&self) -> bool {
        self.successor.is_some() || self.server.get().is_some_and(|(s, _)| s.dual_passwords())
    }

    fn check<'a>(&'a self, old: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            let mut conn = self.connect(old).await?;
            let (_, hosts) = self.inspect(&mut conn).await?;
            if self.target.admin.is_some() && hosts.is_empty() {
                return Err(self.target.refused(
                    &self.what(),
                    "the check",
                    format!("there is no user {}", self.spec.user),
                    "check the issuer's user=",
                ));
            }
            // Two-phase: the old account's grants can be copied, and the new name is free (or
            // is this key's copy, after an interruption).
            if let Some(successor) = &self.successor {
                for host in &hosts {
                    self.successor_grants(&mut conn, successor, host).await?;
                    if self.successor_state(&mut conn, successor, host).await? == Some(false) {
                        return Err(self.exists_already(successor));
                    }
                }
            }
            let _ = conn.disconnect().await;
            Ok(())
        }
        .boxed()
    }

    fn add<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            text(new)?;
            match &self.successor {
                Some(successor) => self.add_successor(successor, new).await,
                None => self.run(old, MySqlStep::Add, new, "the new password").await,
            }
        }
        .boxed()
    }

    fn undo<'a>(&'a self, old: &'a SecretValue, new: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>> {
        async move {
            if let Some(successor) = &self.successor {
                return self.remove_successor(successor, old).await;
            }
            // The user itself logs in with what is valid now: the new password on a single-phase
            // server once the change got that far; the old one while both are valid.
            let login = match (&self.target.admin, new) {
                (None, Some(new)) if !self.keeps_both() => new,
                _ => old,
            };
            let what = "putting the previous password back";
            match self.run(login, MySqlStep::Undo, old, what).await {
                // Interrupted before the new password was set: the old one still logs in.
                Err(crate::error::Error::IssuerRefused { .. }) if !std::ptr::eq(login, old) => {
                    self.run(old, MySqlStep::Undo, old, what).await
                }
                other => other,
            }
        }
        .boxed()
    }

    fn done(&self, step: Step) -> Option<String> {
        let successor = self.successor.as_deref()?;
        Some(successor_done(
            step,
            "user",
            &self.spec.user,
            successor,
            "is locked (ACCOUNT LOCK; it stays, with what it defined)",
        ))
    }

    fn retire<'a>(&'a self, _: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            if let Some(successor) = &self.successor {
                let mut conn = self.connect(new).await?;
                let (_, hosts) = self.inspect(&mut conn).await?;
                for host in &hosts {
                    let statement = format!(
                        "ALTER USER {}@{} ACCOUNT LOCK",
                        sql_literal(&self.spec.user),
                        sql_literal(host)
                    );
                    conn.query_drop(statement).await.map_err(|e| {
                        self.target.refused(
                            &self.what(),
                            &format!("locking the previous user (now {successor})"),
                            error_message(&e),
                            "the administrator needs CREATE USER",
                        )
                    })?;
                }
                let _ = conn.disconnect().await;
                return Ok(());
            }
            if !self.keeps_both() {
                return Ok(());
            }
            self.run(new, MySqlStep::Retire, new, "retiring the previous password")
                .await
        }
        .boxed()
    }
}
