//! Redis: with ACL users (Redis 6+) the new password is added beside the current one as its
//! SHA-256 (`ACL SETUSER user #<hash>`, the plaintext never sent) and the old one removed on
//! retire (`!<hash>`): no window. The `default` user is what `requirepass` sets; on a server
//! without ACLs it changes with `CONFIG SET requirepass` (and `masterauth` where it held the same
//! password): single-phase, and the value itself is sent.

use std::sync::OnceLock;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use redis::aio::MultiplexedConnection;
use redis::{ConnectionAddr, IntoConnectionInfo as _, RedisConnectionInfo};

use super::{text, Issuer, Target, CONNECT_TIMEOUT};
use crate::domain::issuer::{redis_acl_hash, IssuerSpec};
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};

pub struct Redis {
    spec: IssuerSpec,
    target: Target,
    /// Whether the server has ACL users (found by `check`).
    acl: OnceLock<bool>,
}

impl Redis {
    pub fn new(spec: IssuerSpec, target: Target) -> Self {
        Redis {
            spec,
            target,
            acl: OnceLock::new(),
        }
    }

    fn what(&self) -> String {
        if self.spec.is_requirepass() {
            "Redis default user (requirepass)".into()
        } else {
            format!("Redis ACL user {}", self.spec.user)
        }
    }

    async fn connect(&self, own: &SecretValue) -> Result<MultiplexedConnection> {
        let (user, password) = self.target.login(&self.spec.user, own);
        let mut settings = RedisConnectionInfo::default()
            .set_password(text(password)?)
            .set_skip_set_lib_name();
        // The default user logs in with AUTH <password> alone, which servers without ACLs know too.
        if user != "default" {
            settings = settings.set_username(user);
        }
        let info = ConnectionAddr::Tcp(self.target.host.clone(), self.target.port)
            .into_connection_info()
            .map_err(|e| self.target.unreachable(&self.what(), e))?
            .set_redis_settings(settings);
        let client = redis::Client::open(info).map_err(|e| self.target.unreachable(&self.what(), e))?;
        match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
            Err(_) => Err(self.target.unreachable(&self.what(), "no answer within 10s")),
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) if is_auth_error(&e) => Err(self.target.refused(
                &self.what(),
                &format!("the login of {user}"),
                redis_message(&e),
                &self.target.login_fix(&self.spec.user),
            )),
            Ok(Err(e)) => Err(self.target.unreachable(&self.what(), redis_message(&e))),
        }
    }

    async fn command(&self, conn: &mut MultiplexedConnection, args: &[&str], step: &str) -> Result<redis::Value> {
        let mut cmd = redis::cmd(args[0]);
        for arg in &args[1..] {
            cmd.arg(*arg);
        }
        cmd.query_async(conn).await.map_err(|e| {
            self.target.refused(
                &self.what(),
                step,
                redis_message(&e),
                "the administrator needs the ACL (or CONFIG) commands: +@admin, or +acl|setuser / +config|set",
            )
        })
    }

    fn uses_acl(&self) -> bool {
        self.acl.get().copied().unwrap_or(true)
    }

    /// `ACL SETUSER user <rules…>`, then `ACL SAVE` where users come from an ACL file (so a
    /// restart of the server keeps them).
    async fn set_user(&self, login_with: &SecretValue, rules: &[String], step: &str) -> Result<()> {
        let mut conn = self.connect(login_with).await?;
        let mut args = vec!["ACL", "SETUSER", self.spec.user.as_str()];
        args.extend(rules.iter().map(String::as_str));
        self.command(&mut conn, &args, step).await?;
        if let Ok(redis::Value::Array(values)) = self.command(&mut conn, &["CONFIG", "GET", "aclfile"], step).await {
            let configured = values
                .get(1)
                .is_some_and(|v| !matches!(v, redis::Value::BulkString(b) if b.is_empty()));
            if configured {
                self.command(&mut conn, &["ACL", "SAVE"], "saving the ACL file").await?;
            }
        }
        Ok(())
    }

    /// `CONFIG SET requirepass` (and `masterauth` where it held the same password).
    async fn set_requirepass(
        &self,
        login_with: &SecretValue,
        from: &SecretValue,
        to: &SecretValue,
        step: &str,
    ) -> Result<()> {
        let mut conn = self.connect(login_with).await?;
        let masterauth = self.command(&mut conn, &["CONFIG", "GET", "masterauth"], step).await?;
        let same_masterauth = matches!(&masterauth, redis::Value::Array(v)
            if matches!(v.get(1), Some(redis::Value::BulkString(b)) if b.as_slice() == from.expose()));
        self.command(&mut conn, &["CONFIG", "SET", "requirepass", text(to)?], step)
            .await?;
        if same_masterauth {
            self.command(&mut conn, &["CONFIG", "SET", "masterauth", text(to)?], step)
                .await?;
        }
        Ok(())
    }
}

fn is_auth_error(e: &redis::RedisError) -> bool {
    matches!(e.kind(), redis::ErrorKind::AuthenticationFailed)
        || e.code()
            .is_some_and(|c| c == "WRONGPASS" || c == "NOAUTH" || c == "NOPERM")
}

/// The server's reply, without the command (which may hold a value).
fn redis_message(e: &redis::RedisError) -> String {
    match (e.code(), e.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        _ => format!("{:?}", e.kind()),
    }
}

impl Issuer for Redis {
    fn describe(&self) -> String {
        let how = if self.uses_acl() {
            "ACL SETUSER with the SHA-256 of the new password: both valid until retired"
        } else {
            "CONFIG SET requirepass: single-phase (a server without ACL users keeps one password)"
        };
        self.target.describe(&self.what(), how)
    }

    fn keeps_both(&self) -> bool {
        self.uses_acl()
    }

    fn check<'a>(&'a self, old: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            let mut conn = self.connect(old).await?;
            // ACL GETUSER answers on Redis 6+ (nil for no such user); older servers do not know it.
            let acl = match redis::cmd("ACL")
                .arg("GETUSER")
                .arg(&self.spec.user)
                .query_async::<redis::Value>(&mut conn)
                .await
            {
                Ok(redis::Value::Nil) => {
                    return Err(self.target.refused(
                        &self.what(),
                        "the check",
                        format!("there is no ACL user {}", self.spec.user),
                        "check the issuer's user= (default for requirepass)",
                    ))
                }
                Ok(_) => true,
                Err(e) if e.code() == Some("ERR") && !self.spec.is_requirepass() => {
                    return Err(self.target.refused(
                        &self.what(),
                        "the check",
                        redis_message(&e),
                        "ACL users need Redis 6 or later; for requirepass use user=default",
                    ))
                }
                Err(e) if e.code() == Some("ERR") => false,
                Err(e) => {
                    return Err(self.target.refused(
                        &self.what(),
                        "the check",
                        redis_message(&e),
                        "the administrator needs +acl|getuser (and +acl|setuser)",
                    ))
                }
            };
            let _ = self.acl.set(acl);
            Ok(())
        }
        .boxed()
    }

    fn add<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            text(new)?;
            if self.uses_acl() {
                self.set_user(old, &[format!("#{}", redis_acl_hash(new))], "the new password")
                    .await
            } else {
                self.set_requirepass(old, old, new, "the new password").await
            }
        }
        .boxed()
    }

    fn undo<'a>(&'a self, old: &'a SecretValue, new: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>> {
        async move {
            let step = "putting the previous password back";
            if self.uses_acl() {
                // The old password was never removed: the new one goes. An interrupted change
                // that never kept the new one cannot name it: every password but the old goes.
                let rules = match new {
                    Some(n) => vec![format!("#{}", redis_acl_hash(old)), format!("!{}", redis_acl_hash(n))],
                    None => vec!["resetpass".to_string(), format!("#{}", redis_acl_hash(old))],
                };
                return self.set_user(old, &rules, step).await;
            }
            match (new, &self.target.admin) {
                (Some(new), None) => match self.set_requirepass(new, new, old, step).await {
                    Err(Error::IssuerRefused { .. }) => self.set_requirepass(old, new, old, step).await,
                    other => other,
                },
                (Some(new), Some(_)) => self.set_requirepass(old, new, old, step).await,
                (None, _) => self.set_requirepass(old, old, old, step).await,
            }
        }
        .boxed()
    }

    fn retire<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            if !self.uses_acl() {
                return Ok(());
            }
            self.set_user(
                new,
                &[format!("!{}", redis_acl_hash(old))],
                "retiring the previous password",
            )
            .await
        }
        .boxed()
    }
}
