//! Issuers: the servers that check a rotated password, changed in the same plan as the Secret.
//! The engine calls one interface for all of them (one file per kind): check before the
//! question (`--dry-run` stops there), `add` the new password before the Secret is written
//! (the old one stays valid where the server allows it), `undo` on a failure before the Secret
//! is restored, `retire` the old password once verify says no pod runs it.
//!
//! Every connection is made for one step and closed after it; a server in the cluster is
//! reached through the API server's port-forward, as `kubectl port-forward` does.

mod command;
mod mysql;
mod postgres;
mod redis;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::cluster::portforward::{self, Bridge};
use crate::cluster::{self, Connection};
use crate::domain::issuer::{AdminRef, IssuerSpec, ServerRef};
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};

/// How long a database may take to answer a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One server's side of a password change.
pub trait Issuer: Send + Sync {
    /// For the plan: what is changed where, and how ("both valid until retired", "single-phase").
    fn describe(&self) -> String;
    /// Whether the old password stays valid beside the new one until `retire`.
    fn keeps_both(&self) -> bool;
    /// Log in and check the user exists and may be changed: before the question, and all a
    /// `--dry-run` does at the server.
    fn check<'a>(&'a self, old: &'a SecretValue) -> BoxFuture<'a, Result<()>>;
    /// Make `new` valid (and, single-phase, `old` invalid).
    fn add<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>>;
    /// Make `old` the password again and `new` invalid. `new` is None when an interrupted change
    /// never kept it (then only what needs no knowledge of it is done).
    fn undo<'a>(&'a self, old: &'a SecretValue, new: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>>;
    /// Make `old` invalid once nothing uses it (nothing to do for single-phase servers).
    fn retire<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>>;
    /// What `add` and `retire` did, when it was more than a password (a new role or user).
    fn done(&self, _step: Step) -> Option<String> {
        None
    }
}

/// The steps whose outcome an issuer may describe itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Add,
    Retire,
}

/// What a two-phase change with a new role or user did at `step` (`kind`: "role" or "user";
/// `retired`: what happened to the old one).
fn successor_done(step: Step, kind: &str, old: &str, successor: &str, retired: &str) -> String {
    match step {
        Step::Add => format!("made {kind} {successor} with the new password ({old} keeps working until retired)"),
        Step::Retire => format!("{old} {retired}: every consumer runs {successor}"),
    }
}

/// Where an issuer is, as this run reaches it: the configuration, and a bridge when it is a pod.
pub struct Target {
    pub namespace: String,
    pub secret: String,
    pub key: String,
    pub host: String,
    pub port: u16,
    /// "statefulset/postgres (pod postgres-0) port 5432" or "db.example.com:5432".
    pub place: String,
    /// The administrator's name and password (None: the user changes its own).
    pub admin: Option<(String, SecretValue)>,
    _bridge: Option<Bridge>,
}

/// What an issuer is configured as: a server, or the operator's command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerConfig {
    Server(IssuerSpec),
    /// `--issuer-command`: run with the value on stdin (never argv or env).
    Command(String),
}

impl IssuerConfig {
    /// What the journal records (never a value; the command as the operator typed it).
    pub fn record(&self) -> String {
        match self {
            IssuerConfig::Server(spec) => spec.to_string(),
            IssuerConfig::Command(command) => format!("command:{command}"),
        }
    }
}

/// Reach the issuer of `key` of `secret` and build its client: the pod (through a bridge) or the
/// address, and the administrator's password from its Secret (of the same namespace).
/// `successor`: the new role a two-phase change makes beside the configured user.
pub async fn open(
    conn: &Connection,
    namespace: &str,
    secret: &str,
    key: &str,
    config: &IssuerConfig,
    successor: Option<&str>,
) -> Result<Box<dyn Issuer>> {
    let spec = match config {
        IssuerConfig::Command(command) => {
            return Ok(Box::new(command::CommandIssuer::new(namespace, secret, key, command)));
        }
        IssuerConfig::Server(spec) => spec,
    };
    let (host, port, place, bridge) = match &spec.server {
        ServerRef::Address { host, port } => (host.clone(), *port, format!("{host}:{port}"), None),
        ServerRef::Workload { kind, name, port } => {
            let pod = portforward::pod_of(conn, namespace, *kind, name).await?;
            let bridge = portforward::bridge(conn, namespace, &pod, *port).await?;
            let place = if *kind == crate::domain::issuer::ServerWorkload::Pod {
                format!("pod/{pod} port {port}")
            } else {
                format!("{}/{name} (pod {pod}) port {port}", kind.as_str())
            };
            (bridge.local.ip().to_string(), bridge.local.port(), place, Some(bridge))
        }
    };
    let admin = match &spec.admin {
        AdminRef::Own => None,
        AdminRef::Secret {
            secret: admin_secret,
            key: admin_key,
            user,
        } => {
            if admin_secret == secret && admin_key == key {
                return Err(Error::Usage(format!(
                    "the issuer of {namespace}/{secret} key {key} names that same key as the administrator's password: use admin=self"
                )));
            }
            let state = cluster::secrets::get(conn, namespace, admin_secret).await?;
            let password = state.data.get(admin_key).cloned().ok_or_else(|| {
                Error::NotFound(format!(
                    "secret {namespace}/{admin_secret} has no key {admin_key} (the issuer's admin=): name the key that holds the password of {user}"
                ))
            })?;
            Some((user.clone(), password))
        }
    };
    let target = Target {
        namespace: namespace.into(),
        secret: secret.into(),
        key: key.into(),
        host,
        port,
        place,
        admin,
        _bridge: bridge,
    };
    Ok(match spec.kind {
        crate::domain::issuer::IssuerKind::PostgreSql => Box::new(postgres::Postgres::new(
            spec.clone(),
            target,
            successor.map(str::to_string),
        )),
        crate::domain::issuer::IssuerKind::MySql => {
            Box::new(mysql::MySql::new(spec.clone(), target, successor.map(str::to_string)))
        }
        crate::domain::issuer::IssuerKind::Redis => Box::new(redis::Redis::new(spec.clone(), target)),
    })
}

impl Target {
    /// The credential a step logs in with: the administrator, or the user with `own` (its
    /// current password, which is the old one before `add` and the new one after it on servers
    /// that keep only one).
    fn login<'a>(&'a self, user: &'a str, own: &'a SecretValue) -> (&'a str, &'a SecretValue) {
        match &self.admin {
            Some((admin, password)) => (admin.as_str(), password),
            None => (user, own),
        }
    }

    /// The plan's line for a step: "PostgreSQL user app at … (as postgres): how".
    fn describe(&self, what: &str, how: &str) -> String {
        let login = match &self.admin {
            Some((admin, _)) => format!("as {admin}"),
            None => "with its current password".into(),
        };
        format!("{what} at {} ({login}): {how}", self.place)
    }

    /// An error that names the server and says nothing of any value.
    fn unreachable(&self, what: &str, reason: impl std::fmt::Display) -> Error {
        Error::IssuerUnreachable {
            issuer: format!("{what} at {}", self.place),
            reason: reason.to_string(),
        }
    }

    fn refused(&self, what: &str, step: &str, reason: impl std::fmt::Display, fix: &str) -> Error {
        Error::IssuerRefused {
            issuer: format!("{what} at {}", self.place),
            step: step.to_string(),
            reason: crate::render::clean(&reason.to_string()),
            fix: fix.to_string(),
        }
    }

    /// The fix for a refused login: which password was used.
    fn login_fix(&self, user: &str) -> String {
        match &self.admin {
            Some((admin, _)) => format!(
                "check the password of {admin} in the Secret the issuer's admin= names, and that {admin} may change {user}"
            ),
            None => format!(
                "{user} logs in with the password {}/{} holds now: check it is the server's current one, or name an administrator (admin=SECRET/KEY)",
                self.secret, self.key
            ),
        }
    }
}

/// A password as the text clients send (generated values are; a value that is not UTF-8 cannot
/// be a database password).
fn text(value: &SecretValue) -> Result<&str> {
    std::str::from_utf8(value.expose()).map_err(|_| {
        Error::Usage("a database password must be text (UTF-8): generate it with base64:N, hex:N or alnum:N".into())
    })
}
