//! Issuers: the servers that check a credential. A database password is only rotated when the
//! server that checks it accepts the new one, so a change sets it there first (both passwords
//! valid where the server allows it), then writes the Secret, restarts, verifies, and retires
//! the old password after verify.
//!
//! The pure parts: the issuer specification (from `--issuer` or the Secret's annotation), which
//! keys look like database passwords, the statements sent, and the password hashes computed
//! here so that the plaintext never reaches the server (PostgreSQL's SCRAM-SHA-256 verifier,
//! MySQL's native password hash, Redis' SHA-256 ACL hash).

use std::fmt;

use sha1::{Digest as _, Sha1};
use sha2::Sha256;

use super::secret_value::SecretValue;

/// `issuer.kubectl-secrets.io/<key>`: the issuer of one key of the Secret carrying it.
pub const ANNOTATION_PREFIX: &str = "issuer.kubectl-secrets.io/";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssuerKind {
    PostgreSql,
    /// MySQL and MariaDB (the server's version decides dual passwords or not).
    MySql,
    Redis,
}

impl IssuerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IssuerKind::PostgreSql => "postgresql",
            IssuerKind::MySql => "mysql",
            IssuerKind::Redis => "redis",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            IssuerKind::PostgreSql => "PostgreSQL",
            IssuerKind::MySql => "MySQL/MariaDB",
            IssuerKind::Redis => "Redis",
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        match text {
            "postgresql" | "postgres" => Ok(IssuerKind::PostgreSql),
            "mysql" | "mariadb" => Ok(IssuerKind::MySql),
            "redis" => Ok(IssuerKind::Redis),
            other => Err(format!(
                "unknown issuer kind {other:?}: postgresql, mysql (MariaDB too) or redis; for anything else --issuer-command KEY=COMMAND"
            )),
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            IssuerKind::PostgreSql => 5432,
            IssuerKind::MySql => 3306,
            IssuerKind::Redis => 6379,
        }
    }

    fn default_admin_user(self) -> &'static str {
        match self {
            IssuerKind::PostgreSql => "postgres",
            IssuerKind::MySql => "root",
            IssuerKind::Redis => "default",
        }
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerRef {
    /// A pod, or a pod of a StatefulSet or Deployment, in the Secret's own namespace, reached
    /// through the API server's port-forward (as `kubectl port-forward` does).
    Workload {
        kind: ServerWorkload,
        name: String,
        port: u16,
    },
    /// A server outside the cluster: only ever from the operator's command line.
    Address { host: String, port: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerWorkload {
    Pod,
    StatefulSet,
    Deployment,
}

impl ServerWorkload {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerWorkload::Pod => "pod",
            ServerWorkload::StatefulSet => "statefulset",
            ServerWorkload::Deployment => "deployment",
        }
    }
}

impl ServerRef {
    pub fn port(&self) -> u16 {
        match self {
            ServerRef::Workload { port, .. } | ServerRef::Address { port, .. } => *port,
        }
    }
}

impl fmt::Display for ServerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerRef::Workload { kind, name, .. } => write!(f, "{}/{name}", kind.as_str()),
            ServerRef::Address { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Whose credential makes the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRef {
    /// The user changes its own password, logging in with the current one (as the runbooks'
    /// `psql -U aura -c "ALTER USER aura ..."` does).
    Own,
    /// An administrator whose password is a key of a Secret in the same namespace.
    Secret { secret: String, key: String, user: String },
}

/// One key's issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSpec {
    pub kind: IssuerKind,
    /// The database user (role) whose password the key is. Redis: `default` is the password of
    /// servers without ACL users (`requirepass`).
    pub user: String,
    pub server: ServerRef,
    pub admin: AdminRef,
    /// PostgreSQL: the database to connect to (default `postgres`).
    pub database: Option<String>,
    /// The Secret's key that holds `user`'s name. When the change also gives that key a new
    /// name (`--set KEY=NAME`), the server gets a new role or user of that name beside `user`
    /// (seed 003's two-phase rotation); the Secret must hold `user` now.
    pub user_key: Option<String>,
}

/// Where a spec was read: a record in the namespace may only choose within the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    CommandLine,
    Annotation,
}

/// A spec that is not allowed where it was found (it would steer the operator's credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    Invalid(String),
    Untrusted(String),
}

impl IssuerSpec {
    /// `KIND:user=NAME,server=statefulset/NAME|pod/NAME|deployment/NAME|HOST:PORT[,port=N]
    /// [,admin=SECRET/KEY][,admin-user=NAME][,database=NAME][,user-key=KEY]`.
    pub fn parse(text: &str, origin: Origin) -> Result<IssuerSpec, SpecError> {
        let invalid = |m: String| SpecError::Invalid(m);
        let (kind, options) = text.trim().split_once(':').unwrap_or((text.trim(), ""));
        let kind = IssuerKind::parse(kind).map_err(invalid)?;
        let mut user = None;
        let mut server = None;
        let mut port = None;
        let mut admin = None;
        let mut admin_user = None;
        let mut database = None;
        let mut user_key = None;
        for option in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let (name, value) = option
                .split_once('=')
                .ok_or_else(|| invalid(format!("issuer option {option:?} is not NAME=VALUE")))?;
            let slot = match name {
                "user" => &mut user,
                "server" => &mut server,
                "port" => &mut port,
                "admin" => &mut admin,
                "admin-user" => &mut admin_user,
                "database" => &mut database,
                "user-key" => &mut user_key,
                other => {
                    return Err(invalid(format!(
                        "unknown issuer option {other:?} (user, server, port, admin, admin-user, database, user-key)"
                    )))
                }
            };
            if value.is_empty() || slot.replace(value.to_string()).is_some() {
                return Err(invalid(format!("issuer option {name} is empty or given twice")));
            }
        }
        let user = user.ok_or_else(|| invalid(format!("the {} issuer needs user=NAME", kind.as_str())))?;
        check_name("user", &user).map_err(invalid)?;
        let port = match port {
            Some(p) => Some(
                p.parse::<u16>()
                    .map_err(|_| invalid(format!("port={p} is not a port number")))?,
            ),
            None => None,
        };
        let server = server.ok_or_else(|| {
            invalid("the issuer needs server=statefulset/NAME (or pod/NAME, deployment/NAME; HOST:PORT on the command line)".into())
        })?;
        let server = parse_server(&server, port.unwrap_or(kind.default_port()), origin)?;
        let admin = match admin.as_deref() {
            None | Some("self") => {
                if admin_user.is_some() {
                    return Err(invalid(
                        "admin-user= needs admin=SECRET/KEY (the administrator's password)".into(),
                    ));
                }
                AdminRef::Own
            }
            Some(reference) => {
                let (secret, key) = reference
                    .split_once('/')
                    .filter(|(s, k)| !s.is_empty() && !k.is_empty() && !k.contains('/'))
                    .ok_or_else(|| {
                        invalid(format!(
                            "admin={reference}: name the administrator's password as SECRET/KEY (a Secret of the same namespace), or admin=self"
                        ))
                    })?;
                let user = admin_user.unwrap_or_else(|| kind.default_admin_user().to_string());
                check_name("admin-user", &user).map_err(invalid)?;
                AdminRef::Secret {
                    secret: secret.to_string(),
                    key: key.to_string(),
                    user,
                }
            }
        };
        if let Some(db) = &database {
            if kind != IssuerKind::PostgreSql {
                return Err(invalid("database= is for the postgresql issuer".into()));
            }
            check_name("database", db).map_err(invalid)?;
        }
        if let Some(key) = &user_key {
            if kind == IssuerKind::Redis {
                return Err(invalid(
                    "user-key= (a new user beside the old one) is for postgresql and mysql; Redis ACL users keep both \
                     passwords until retired, with no new user"
                        .into(),
                ));
            }
            if admin == AdminRef::Own {
                return Err(invalid(
                    "user-key= makes a new role, which needs an administrator: add admin=SECRET/KEY".into(),
                ));
            }
            let valid = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !valid {
                return Err(invalid(format!("user-key={key}: not a Secret key name")));
            }
        }
        Ok(IssuerSpec {
            kind,
            user,
            server,
            admin,
            database,
            user_key,
        })
    }

    /// Redis' `default` user is the password of servers without ACL users (`requirepass`).
    pub fn is_requirepass(&self) -> bool {
        self.kind == IssuerKind::Redis && self.user == "default"
    }

    /// One line for the plan: "PostgreSQL role aura at statefulset/postgres:5432 (as postgres)".
    pub fn describe(&self) -> String {
        let what = match self.kind {
            IssuerKind::PostgreSql => format!("PostgreSQL role {}", self.user),
            IssuerKind::MySql => format!("MySQL/MariaDB user {}", self.user),
            IssuerKind::Redis if self.is_requirepass() => "Redis requirepass".to_string(),
            IssuerKind::Redis => format!("Redis ACL user {}", self.user),
        };
        let by = match &self.admin {
            AdminRef::Own => "with its current password".to_string(),
            AdminRef::Secret { secret, key, user } => format!("as {user}, password from {secret}/{key}"),
        };
        format!("{what} at {}:{} ({by})", self.server, self.server.port())
    }
}

/// The canonical text, as parsed back: what the journal records.
impl fmt::Display for IssuerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:user={},server={}", self.kind.as_str(), self.user, self.server)?;
        if let ServerRef::Workload { port, .. } = &self.server {
            write!(f, ",port={port}")?;
        }
        if let AdminRef::Secret { secret, key, user } = &self.admin {
            write!(f, ",admin={secret}/{key},admin-user={user}")?;
        }
        if let Some(db) = &self.database {
            write!(f, ",database={db}")?;
        }
        if let Some(key) = &self.user_key {
            write!(f, ",user-key={key}")?;
        }
        Ok(())
    }
}

fn parse_server(text: &str, port: u16, origin: Origin) -> Result<ServerRef, SpecError> {
    if let Some((kind, name)) = text.split_once('/') {
        let kind = match kind {
            "pod" | "po" => ServerWorkload::Pod,
            "statefulset" | "sts" => ServerWorkload::StatefulSet,
            "deployment" | "deploy" => ServerWorkload::Deployment,
            other => {
                return Err(SpecError::Invalid(format!(
                    "server={text}: {other} is not pod, statefulset or deployment"
                )))
            }
        };
        check_name("server", name).map_err(SpecError::Invalid)?;
        return Ok(ServerRef::Workload {
            kind,
            name: name.to_string(),
            port,
        });
    }
    if origin == Origin::Annotation {
        return Err(SpecError::Untrusted(format!(
            "server={text} is an address outside the namespace: an annotation may only name a pod or workload of its own \
             namespace (whoever writes the namespace would choose where the administrator's credential is sent); give \
             addresses with --issuer on the command line"
        )));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((host, p)) if !host.is_empty() => (
            host.trim_start_matches('[').trim_end_matches(']'),
            p.parse::<u16>()
                .map_err(|_| SpecError::Invalid(format!("server={text}: {p} is not a port number")))?,
        ),
        _ => (text, port),
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SpecError::Invalid(format!("server={text} is not HOST:PORT")));
    }
    Ok(ServerRef::Address {
        host: host.to_string(),
        port,
    })
}

/// Names that go into statements: letters, digits and `_ - . @ $` only, so quoting is never
/// the only thing between a name and the server's parser.
pub fn check_name(option: &str, name: &str) -> Result<(), String> {
    let ok =
        !name.is_empty() && name.len() <= 63 && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.@$".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{option}={name:?}: names are 1 to 63 letters, digits or _ - . @ $"
        ))
    }
}

/// A container that reads a key: its image and the env var it sees the key as (None: a file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReader {
    pub workload: String,
    pub image: String,
    pub env: Option<String>,
}

/// Images of database servers (the last path segment, without tag or digest).
const DATABASE_IMAGES: &[&str] = &[
    "postgres",
    "postgresql",
    "postgis",
    "mysql",
    "mariadb",
    "percona-server",
    "redis",
    "redis-stack-server",
    "valkey",
    "keydb",
];

/// Env vars that carry a database password by convention (the official images, libpq).
const DATABASE_ENV: &[&str] = &[
    "POSTGRES_PASSWORD",
    "PGPASSWORD",
    "POSTGRESQL_PASSWORD",
    "MYSQL_PASSWORD",
    "MYSQL_ROOT_PASSWORD",
    "MARIADB_PASSWORD",
    "MARIADB_ROOT_PASSWORD",
    "REDIS_PASSWORD",
    "DB_PASSWORD",
    "DATABASE_PASSWORD",
];

/// Words in a Secret's or key's name that say "database".
const DATABASE_WORDS: &[&str] = &[
    "db",
    "database",
    "pg",
    "postgres",
    "postgresql",
    "psql",
    "mysql",
    "mariadb",
    "maria",
    "redis",
    "valkey",
    "sql",
];
const PASSWORD_WORDS: &[&str] = &["password", "passwd", "pass", "pwd"];

/// The image's name without registry path, tag or digest: `docker.io/library/postgres:16` → `postgres`.
pub fn image_name(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

/// Whether the server image reads this env var only when its data directory is first made
/// (the official postgres, mysql and mariadb images): later values change nothing at the
/// server, so a pod started before a rotation is not stale for it.
pub fn seeds_only_first_start(image: &str, env: &str) -> bool {
    let image = image_name(image);
    let prefix = match image {
        "postgres" | "postgis" => "POSTGRES_",
        "mysql" | "percona-server" => "MYSQL_",
        "mariadb" => "MARIADB_",
        _ => return false,
    };
    // MariaDB's image reads the MYSQL_ names too.
    (env.starts_with(prefix) || (image == "mariadb" && env.starts_with("MYSQL_")))
        && ["PASSWORD", "USER", "DB", "DATABASE", "ROOT_PASSWORD"]
            .iter()
            .any(|suffix| env.ends_with(suffix))
}

fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// Why the plugin takes `key` of `secret` for a database password (None: it does not). Such a
/// key is only rotated with an issuer, or with `--no-issuer` when it was changed elsewhere.
pub fn database_password_reason(secret: &str, key: &str, value: &SecretValue, readers: &[KeyReader]) -> Option<String> {
    if let Some(r) = readers.iter().find(|r| DATABASE_IMAGES.contains(&image_name(&r.image))) {
        return Some(format!(
            "{} (image {}) reads it{}",
            r.workload,
            image_name(&r.image),
            r.env.as_ref().map(|e| format!(" as {e}")).unwrap_or_default()
        ));
    }
    if let Some(env) = readers
        .iter()
        .filter_map(|r| r.env.as_deref())
        .find(|e| DATABASE_ENV.contains(e))
    {
        return Some(format!("it is read as {env}"));
    }
    let key_words = words(key);
    let secret_words = words(secret);
    let password = key_words.iter().any(|w| PASSWORD_WORDS.contains(&w.as_str()));
    let database = key_words
        .iter()
        .chain(&secret_words)
        .any(|w| DATABASE_WORDS.contains(&w.as_str()));
    if password && database {
        return Some(format!("its name ({secret}/{key}) says it is a database password"));
    }
    if connection_uri_with_password(value) {
        return Some("its value is a database connection URI with a password".into());
    }
    None
}

/// `postgresql://user:password@host/db`, `mysql://…`, `redis://:password@host` and the like.
fn connection_uri_with_password(value: &SecretValue) -> bool {
    let Ok(text) = std::str::from_utf8(value.expose()) else {
        return false;
    };
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let scheme = scheme.split('+').next().unwrap_or("");
    let known = [
        "postgres",
        "postgresql",
        "mysql",
        "mariadb",
        "redis",
        "rediss",
        "mongodb",
        "amqp",
        "amqps",
    ];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    known.contains(&scheme)
        && authority
            .rsplit_once('@')
            .is_some_and(|(userinfo, _)| userinfo.split_once(':').is_some_and(|(_, p)| !p.is_empty()))
}

/// PostgreSQL: the SCRAM-SHA-256 verifier of `password` (a fresh random salt), which
/// `ALTER ROLE … PASSWORD` stores as is: the server, its logs and pg_stat_statements never see
/// the plaintext.
pub fn postgres_verifier(password: &SecretValue) -> String {
    postgres_protocol::password::scram_sha_256(password.expose())
}

/// MySQL/MariaDB `mysql_native_password` hash: `*` and the upper-case hex of SHA1(SHA1(pw)),
/// given to `IDENTIFIED BY PASSWORD` so the plaintext never reaches the server.
pub fn mysql_native_hash(password: &SecretValue) -> String {
    let inner = Sha1::digest(password.expose());
    format!("*{}", hex::encode_upper(Sha1::digest(inner)))
}

/// Redis ACL: the SHA-256 of the password, for `ACL SETUSER user #<hash>` (add) and `!<hash>`
/// (remove), so the plaintext never reaches the server.
pub fn redis_acl_hash(password: &SecretValue) -> String {
    hex::encode(Sha256::digest(password.expose()))
}

/// A PostgreSQL identifier, double-quoted.
pub fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A SQL string literal, single-quoted (PostgreSQL with standard_conforming_strings, MySQL
/// without NO_BACKSLASH_ESCAPES: names are checked to hold neither quote nor backslash).
pub fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// An account as `SHOW GRANTS` prints it: `` `user`@`host` ``.
pub fn mysql_account(user: &str, host: &str) -> String {
    format!("`{}`@`{}`", user.replace('`', "``"), host.replace('`', "``"))
}

/// MySQL/MariaDB two-phase with a new user (which cannot inherit from the old one as a
/// PostgreSQL role does): the old account's grants (`SHOW GRANTS FOR`, one statement a line)
/// given to the new account. The old password's clause is dropped (the new user is created with
/// its own first). Refused, so that a copy never spreads more than an application account
/// holds or weakens it: global privileges, the right to grant, PROXY, and REQUIRE or resource
/// limits (which a copy must keep; make such a user by hand).
pub fn mysql_successor_grants(grants: &[String], old: &str, new: &str) -> Result<Vec<String>, String> {
    let mut copied = Vec::new();
    for grant in grants {
        let refuse = |why: &str| Err(format!("{old} {why}: {grant}"));
        if let Some(rest) = grant.strip_prefix("SET DEFAULT ROLE ") {
            match rest.strip_suffix(&format!(" FOR {old}")) {
                Some(role) => copied.push(format!("SET DEFAULT ROLE {role} FOR {new}")),
                None => return refuse("has a default role statement kubectl-secrets does not read"),
            }
            continue;
        }
        if !grant.starts_with("GRANT ") {
            return refuse("has a grant kubectl-secrets does not read");
        }
        let Some((what, after)) = grant.split_once(&format!(" TO {old}")) else {
            return refuse("has a grant that does not name it as SHOW GRANTS does");
        };
        if what.contains(" PROXY ON ") || what.starts_with("GRANT PROXY") {
            return refuse("may act as another user (PROXY)");
        }
        if after.contains("WITH GRANT OPTION") || after.contains("WITH ADMIN OPTION") {
            return refuse("may grant its privileges to others");
        }
        let global = what.ends_with(" ON *.*");
        if global && what != "GRANT USAGE ON *.*" {
            return refuse("has global privileges (ON *.*)");
        }
        let identified = after.trim().is_empty()
            || (after.starts_with(" IDENTIFIED BY PASSWORD '")
                && after.ends_with('\'')
                && after.matches('\'').count() == 2);
        if !identified {
            return refuse("has REQUIRE, resource limits or another authentication clause, which a copy must keep");
        }
        // `GRANT USAGE ON *.*` says only that the account exists: CREATE USER made it.
        if !global {
            copied.push(format!("{what} TO {new}"));
        }
    }
    Ok(copied)
}

/// A step of a MySQL/MariaDB password change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySqlStep {
    /// Set the new password (the current one kept as secondary where the server can).
    Add,
    /// Back to the previous password alone.
    Undo,
    /// Drop the secondary (previous) password.
    Retire,
}

/// The statements of one step for one account (`'user'@'host'` or `CURRENT_USER()`); `password`
/// is the one being set. MySQL 8.0.14+ keeps the current password beside the new one (`RETAIN
/// CURRENT PASSWORD` … `DISCARD OLD PASSWORD`); its caching_sha2 hashes cannot be given with
/// RETAIN, so there the value is sent (MySQL rewrites it out of its logs). Elsewhere only the
/// native hash computed here is sent: MariaDB's `IDENTIFIED BY PASSWORD`, older MySQL's
/// `IDENTIFIED WITH mysql_native_password AS`.
pub fn mysql_statements(step: MySqlStep, account: &str, server: &MySqlServer, password: &SecretValue) -> Vec<String> {
    let hashed = || {
        let hash = sql_literal(&mysql_native_hash(password));
        if server.is_mariadb() {
            format!("ALTER USER {account} IDENTIFIED BY PASSWORD {hash}")
        } else {
            format!("ALTER USER {account} IDENTIFIED WITH mysql_native_password AS {hash}")
        }
    };
    let plain = || sql_literal(&String::from_utf8_lossy(password.expose()));
    match (step, server.dual_passwords()) {
        (MySqlStep::Add, true) => vec![format!(
            "ALTER USER {account} IDENTIFIED BY {} RETAIN CURRENT PASSWORD",
            plain()
        )],
        (MySqlStep::Undo, true) => vec![
            format!("ALTER USER {account} IDENTIFIED BY {}", plain()),
            format!("ALTER USER {account} DISCARD OLD PASSWORD"),
        ],
        (MySqlStep::Retire, true) => vec![format!("ALTER USER {account} DISCARD OLD PASSWORD")],
        (MySqlStep::Add | MySqlStep::Undo, false) => vec![hashed()],
        (MySqlStep::Retire, false) => Vec::new(),
    }
}

/// What the server said its version is (`SELECT VERSION()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MySqlServer {
    pub version: String,
}

impl MySqlServer {
    pub fn is_mariadb(&self) -> bool {
        self.version.to_ascii_lowercase().contains("mariadb")
    }

    /// MySQL 8.0.14 and later keep the current password valid beside a new one.
    pub fn dual_passwords(&self) -> bool {
        if self.is_mariadb() {
            return false;
        }
        let numbers: Vec<u32> = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .take(3)
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        matches!(numbers.as_slice(), [major, minor, patch] if (*major, *minor, *patch) >= (8, 0, 14))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    #[test]
    fn a_new_mysql_user_gets_the_old_ones_grants_and_nothing_more() {
        let old = mysql_account("app", "%");
        let new = mysql_account("app_v2", "%");
        let grants: Vec<String> = [
            "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9'",
            "GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app`@`%`",
            "GRANT SELECT (`id`) ON `shop`.`orders` TO `app`@`%`",
            "GRANT `reporting` TO `app`@`%`",
            "SET DEFAULT ROLE `reporting` FOR `app`@`%`",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            mysql_successor_grants(&grants, &old, &new).unwrap(),
            [
                "GRANT SELECT, INSERT, UPDATE ON `shop`.* TO `app_v2`@`%`",
                "GRANT SELECT (`id`) ON `shop`.`orders` TO `app_v2`@`%`",
                "GRANT `reporting` TO `app_v2`@`%`",
                "SET DEFAULT ROLE `reporting` FOR `app_v2`@`%`",
            ]
        );
        for (grant, why) in [
            ("GRANT ALL PRIVILEGES ON *.* TO `app`@`%`", "global privileges"),
            ("GRANT SELECT ON `shop`.* TO `app`@`%` WITH GRANT OPTION", "may grant"),
            ("GRANT PROXY ON ''@'%' TO `app`@`%`", "PROXY"),
            (
                "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*AB' REQUIRE SSL",
                "REQUIRE",
            ),
            ("GRANT SELECT ON `shop`.* TO `other`@`%`", "does not name it"),
            ("REVOKE SELECT ON `shop`.* FROM `app`@`%`", "does not read"),
        ] {
            let error = mysql_successor_grants(&[grant.to_string()], &old, &new).unwrap_err();
            assert!(error.contains(why), "{grant}: {error}");
        }
    }

    #[test]
    fn a_spec_parses_and_prints_back_the_same() {
        let text = "postgresql:user=aura,server=statefulset/postgres,admin=pg-admin/password";
        let spec = IssuerSpec::parse(text, Origin::Annotation).unwrap();
        assert_eq!(spec.kind, IssuerKind::PostgreSql);
        assert_eq!(spec.server.port(), 5432);
        assert_eq!(
            spec.admin,
            AdminRef::Secret {
                secret: "pg-admin".into(),
                key: "password".into(),
                user: "postgres".into()
            }
        );
        let again = IssuerSpec::parse(&spec.to_string(), Origin::Annotation).unwrap();
        assert_eq!(again, spec);
        let two_phase = IssuerSpec::parse(&format!("{text},user-key=username"), Origin::Annotation).unwrap();
        assert_eq!(two_phase.user_key.as_deref(), Some("username"));
        assert_eq!(
            IssuerSpec::parse(&two_phase.to_string(), Origin::Annotation).unwrap(),
            two_phase
        );
        let own = IssuerSpec::parse("redis:user=backend,server=sts/redis,port=6380", Origin::Annotation).unwrap();
        assert_eq!(own.admin, AdminRef::Own);
        assert_eq!(own.server.port(), 6380);
        assert!(
            IssuerSpec::parse("redis:user=default,server=pod/redis-0", Origin::Annotation)
                .unwrap()
                .is_requirepass()
        );
    }

    #[test]
    fn an_annotation_may_not_send_the_credential_outside_the_namespace() {
        let text = "mysql:user=app,server=db.example.com:3306,admin=admin/password";
        assert!(matches!(
            IssuerSpec::parse(text, Origin::Annotation),
            Err(SpecError::Untrusted(_))
        ));
        let spec = IssuerSpec::parse(text, Origin::CommandLine).unwrap();
        assert_eq!(
            spec.server,
            ServerRef::Address {
                host: "db.example.com".into(),
                port: 3306
            }
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        for (text, expected) in [
            ("oracle:user=a,server=pod/x", "unknown issuer kind"),
            ("postgresql:server=pod/x", "needs user="),
            ("postgresql:user=a", "needs server="),
            ("postgresql:user=a;drop,server=pod/x", "names are"),
            ("postgresql:user=a,server=job/x", "not pod, statefulset"),
            ("redis:user=a,server=pod/x,database=d", "database= is for"),
            ("postgresql:user=a,server=pod/x,admin=only-secret", "SECRET/KEY"),
            ("postgresql:user=a,server=pod/x,user=b", "given twice"),
            ("postgresql:user=a,server=pod/x,port=99999", "not a port"),
            (
                "postgresql:user=a,server=pod/x,user-key=username",
                "needs an administrator",
            ),
            (
                "redis:user=a,server=pod/x,admin=s/k,user-key=username",
                "for postgresql and mysql",
            ),
            (
                "postgresql:user=a,server=pod/x,admin=s/k,user-key=a/b",
                "not a Secret key",
            ),
        ] {
            match IssuerSpec::parse(text, Origin::CommandLine) {
                Err(SpecError::Invalid(message)) => assert!(message.contains(expected), "{text}: {message}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn database_passwords_are_recognised_by_reader_env_name_and_value() {
        let plain = value("s3cret-value-123");
        let reader = |image: &str, env: &str| KeyReader {
            workload: "statefulset/postgres".into(),
            image: image.into(),
            env: Some(env.into()),
        };
        assert!(database_password_reason("x", "k", &plain, &[reader("docker.io/library/postgres:16", "X")]).is_some());
        assert!(database_password_reason("x", "k", &plain, &[reader("app:1", "REDIS_PASSWORD")]).is_some());
        assert!(database_password_reason("postgres-secrets", "postgres-password", &plain, &[]).is_some());
        assert!(database_password_reason("db-credentials", "password", &plain, &[]).is_some());
        assert!(database_password_reason("backend-secrets", "REDIS_PASSWORD", &plain, &[]).is_some());
        assert!(
            database_password_reason("s", "DATABASE_URL", &value("postgresql://vc:pw@postgres:5432/db"), &[]).is_some()
        );
        // Not databases: an SMTP password, a JWT key, a URI without a password.
        assert!(database_password_reason("chat-secrets", "SMTP_PASS", &plain, &[]).is_none());
        assert!(database_password_reason("backend-secrets", "JWT_SECRET", &plain, &[reader("app:1", "JWT")]).is_none());
        assert!(database_password_reason("s", "REDIS_URL", &value("redis://redis:6379/0"), &[]).is_none());
    }

    #[test]
    fn first_start_only_env_of_database_images() {
        assert!(seeds_only_first_start("postgres:16", "POSTGRES_PASSWORD"));
        assert!(seeds_only_first_start("mariadb:11", "MYSQL_ROOT_PASSWORD"));
        assert!(!seeds_only_first_start("redis:7", "REDIS_PASSWORD"));
        assert!(!seeds_only_first_start("registry/app:1", "POSTGRES_PASSWORD"));
    }

    #[test]
    fn hashes_are_the_servers_own_formats() {
        // MySQL's documented example: PASSWORD('mypass').
        assert_eq!(
            mysql_native_hash(&value("mypass")),
            "*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4"
        );
        assert_eq!(
            redis_acl_hash(&value("foo")),
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
        );
        let verifier = postgres_verifier(&value("pw"));
        assert!(verifier.starts_with("SCRAM-SHA-256$4096:"), "{verifier}");
        assert!(!verifier.contains("pw$"));
    }

    #[test]
    fn mysql_statements_follow_the_server() {
        let pw = value("n3w");
        let mariadb = MySqlServer {
            version: "10.11.19-MariaDB-0+deb12u1".into(),
        };
        let mysql = MySqlServer {
            version: "8.0.36".into(),
        };
        let old_mysql = MySqlServer {
            version: "8.0.13".into(),
        };
        assert!(!mariadb.dual_passwords() && mysql.dual_passwords() && !old_mysql.dual_passwords());
        let account = "'app'@'%'";
        let single = mysql_statements(MySqlStep::Add, account, &mariadb, &pw);
        assert_eq!(single.len(), 1);
        assert!(
            single[0].starts_with("ALTER USER 'app'@'%' IDENTIFIED BY PASSWORD '*"),
            "{single:?}"
        );
        assert!(!single[0].contains("n3w"));
        assert!(mysql_statements(MySqlStep::Retire, account, &mariadb, &pw).is_empty());
        let older = mysql_statements(MySqlStep::Add, account, &old_mysql, &pw);
        assert!(
            older[0].contains("IDENTIFIED WITH mysql_native_password AS '*"),
            "{older:?}"
        );
        let dual = mysql_statements(MySqlStep::Add, account, &mysql, &pw);
        assert!(dual[0].ends_with("RETAIN CURRENT PASSWORD"), "{dual:?}");
        let undo = mysql_statements(MySqlStep::Undo, account, &mysql, &pw);
        assert_eq!(undo[1], "ALTER USER 'app'@'%' DISCARD OLD PASSWORD");
        assert_eq!(
            mysql_statements(MySqlStep::Retire, account, &mysql, &pw),
            ["ALTER USER 'app'@'%' DISCARD OLD PASSWORD"]
        );
        assert_eq!(pg_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(sql_literal("o'k"), "'o''k'");
    }
}
