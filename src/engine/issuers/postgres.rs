//! PostgreSQL: `ALTER ROLE … PASSWORD` with a SCRAM-SHA-256 verifier computed here, so the
//! plaintext never reaches the server, its logs or pg_stat_statements. PostgreSQL keeps one
//! password per role: the change is single-phase (the old password stops working at once;
//! connections already open stay open).
//!
//! Two-phase, as seed 003 rotates (`user-key=` and a new name for that key): a new role is made
//! beside the old one, a member of it (so it has every privilege the old one has, and reaches
//! the objects it owns), with the new password; the Secret switches to it; once every consumer
//! runs it, the old role stops logging in (NOLOGIN, no password) but stays, holding the
//! privileges and objects its successor inherits. Nothing is copied or dropped by hand.

use futures::future::BoxFuture;
use futures::FutureExt as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::{successor_done, text, Issuer, Step, Target, CONNECT_TIMEOUT};
use crate::domain::issuer::{pg_ident, postgres_verifier, sql_literal, IssuerSpec};
use crate::domain::secret_value::SecretValue;
use crate::error::Result;

pub struct Postgres {
    spec: IssuerSpec,
    target: Target,
    /// The new role made beside `spec.user` (two-phase), when the change renames the user.
    successor: Option<String>,
}

/// Attributes a member of the old role could use through SET ROLE: such a role gets no
/// successor (its password changes in place).
const POWERS: &str = "rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls";

impl Postgres {
    pub fn new(spec: IssuerSpec, target: Target, successor: Option<String>) -> Self {
        Postgres {
            spec,
            target,
            successor,
        }
    }

    /// The comment a successor role carries: an undo removes only a role that says this.
    fn marker(&self) -> String {
        format!(
            "kubectl-secrets: successor of {} for {}/{}/{}",
            self.spec.user, self.target.namespace, self.target.secret, self.target.key
        )
    }

    /// Whether `name` exists, and whether it is the successor this key's change made.
    async fn successor_state(&self, client: &Client, name: &str) -> Result<Option<bool>> {
        let row = client
            .query_opt(
                "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1",
                &[&name],
            )
            .await
            .map_err(|e| self.target.unreachable(&self.what(), db_message(&e)))?;
        Ok(row.map(|r| r.get::<_, Option<String>>(0).as_deref() == Some(self.marker().as_str())))
    }

    /// Make the successor (or, after an interruption, give the one made before the new password).
    async fn add_successor(&self, successor: &str, new: &SecretValue) -> Result<()> {
        let client = self.connect(new).await?;
        let verifier = sql_literal(&postgres_verifier(new));
        let statements = match self.successor_state(&client, successor).await? {
            Some(true) => format!("ALTER ROLE {} LOGIN PASSWORD {verifier}", pg_ident(successor)),
            Some(false) => return Err(self.exists_already(successor)),
            None => format!(
                "BEGIN; CREATE ROLE {new_role} LOGIN PASSWORD {verifier} IN ROLE {old}; COMMENT ON ROLE {new_role} IS {marker}; COMMIT",
                new_role = pg_ident(successor),
                old = pg_ident(&self.spec.user),
                marker = sql_literal(&self.marker()),
            ),
        };
        client.batch_execute(&statements).await.map_err(|e| {
            self.target.refused(
                &self.what(),
                &format!("making role {successor}"),
                db_message(&e),
                "the administrator needs CREATEROLE and the right to grant the old role (ADMIN OPTION on it, or superuser)",
            )
        })
    }

    /// Undo of a two-phase change: the successor goes (what it came to own goes back to the old
    /// role first); a role of that name kubectl-secrets did not make for this key is left alone.
    async fn remove_successor(&self, successor: &str, old: &SecretValue) -> Result<()> {
        let client = self.connect(old).await?;
        match self.successor_state(&client, successor).await? {
            None => Ok(()),
            Some(false) => Err(self.exists_already(successor)),
            Some(true) => {
                let statements = format!(
                    "BEGIN; REASSIGN OWNED BY {new_role} TO {old_role}; DROP OWNED BY {new_role}; DROP ROLE {new_role}; COMMIT",
                    new_role = pg_ident(successor),
                    old_role = pg_ident(&self.spec.user),
                );
                client.batch_execute(&statements).await.map_err(|e| {
                    self.target.refused(
                        &self.what(),
                        &format!("removing role {successor}"),
                        db_message(&e),
                        "remove it by hand once nothing it owns is needed (REASSIGN OWNED, DROP OWNED, DROP ROLE in each database)",
                    )
                })
            }
        }
    }

    fn exists_already(&self, successor: &str) -> crate::error::Error {
        self.target.refused(
            &self.what(),
            "the check",
            format!("a role {successor} exists already and kubectl-secrets did not make it for this key"),
            "give the new role a name no role has (--set with the user key)",
        )
    }

    fn what(&self) -> String {
        format!("PostgreSQL role {}", self.spec.user)
    }

    /// A session as the administrator, or as the user with `own`.
    async fn connect(&self, own: &SecretValue) -> Result<Client> {
        let (user, password) = self.target.login(&self.spec.user, own);
        let mut config = tokio_postgres::Config::new();
        config
            .host(&self.target.host)
            .port(self.target.port)
            .user(user)
            .password(password.expose())
            .dbname(self.spec.database.as_deref().unwrap_or("postgres"))
            .application_name("kubectl-secrets")
            .connect_timeout(CONNECT_TIMEOUT);
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            if e.code() == Some(&SqlState::INVALID_PASSWORD)
                || e.code() == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
            {
                self.target.refused(
                    &self.what(),
                    &format!("the login of {user}"),
                    db_message(&e),
                    &self.target.login_fix(&self.spec.user),
                )
            } else {
                self.target.unreachable(&self.what(), db_message(&e))
            }
        })?;
        tokio::spawn(connection);
        Ok(client)
    }

    async fn set_password(&self, login_with: &SecretValue, password: &SecretValue, step: &str) -> Result<()> {
        let client = self.connect(login_with).await?;
        let statement = format!(
            "ALTER ROLE {} PASSWORD {}",
            pg_ident(&self.spec.user),
            sql_literal(&postgres_verifier(password))
        );
        client.batch_execute(&statement).await.map_err(|e| {
            self.target.refused(
                &self.what(),
                step,
                db_message(&e),
                "the administrator needs CREATEROLE (or to be superuser) to change another role's password",
            )
        })
    }

    async fn check_role(&self, old: &SecretValue) -> Result<()> {
        text(old)?;
        let client = self.connect(old).await?;
        if let Some(successor) = &self.successor {
            let powers = client
                .query_opt(
                    &format!("SELECT {POWERS} FROM pg_roles WHERE rolname = $1"),
                    &[&self.spec.user],
                )
                .await
                .map_err(|e| self.target.unreachable(&self.what(), db_message(&e)))?;
            if powers.is_some_and(|r| r.get::<_, bool>(0)) {
                return Err(self.target.refused(
                    &self.what(),
                    "the check",
                    format!(
                        "{} has SUPERUSER, CREATEROLE, REPLICATION or BYPASSRLS, which a member could use (SET ROLE)",
                        self.spec.user
                    ),
                    "change its password in place (without a new name for the user key), or make the new role by hand",
                ));
            }
            if self.successor_state(&client, successor).await? == Some(false) {
                return Err(self.exists_already(successor));
            }
        }
        let row = client
            .query_opt(
                "SELECT r.rolname = current_user, m.rolsuper OR m.rolcreaterole \
                 FROM pg_roles r, pg_roles m WHERE r.rolname = $1 AND m.rolname = current_user",
                &[&self.spec.user],
            )
            .await
            .map_err(|e| self.target.unreachable(&self.what(), db_message(&e)))?;
        match row {
            None => Err(self.target.refused(
                &self.what(),
                "the check",
                format!("there is no role {}", self.spec.user),
                "check the issuer's user=",
            )),
            Some(row) if !row.get::<_, bool>(0) && !row.get::<_, bool>(1) => Err(self.target.refused(
                &self.what(),
                "the check",
                "the administrator may not change another role's password",
                "give it CREATEROLE, or name another administrator (admin=SECRET/KEY)",
            )),
            Some(_) => Ok(()),
        }
    }
}

/// The server's message (never the statement, which holds the verifier).
fn db_message(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

impl Issuer for Postgres {
    fn describe(&self) -> String {
        if let Some(successor) = &self.successor {
            return format!(
                "{} at {} ({}): a new role {successor}, a member of {} (its privileges and objects) with the new password; \
                 {} stops logging in once every consumer runs {successor}, and stays, NOLOGIN, holding what {successor} inherits",
                self.what(),
                self.target.place,
                match &self.target.admin {
                    Some((admin, _)) => format!("as {admin}"),
                    None => "with its current password".into(),
                },
                self.spec.user,
                self.spec.user,
            );
        }
        self.target.describe(
            &self.what(),
            "ALTER ROLE with a SCRAM verifier computed here; single-phase (PostgreSQL keeps one password per role)",
        )
    }

    fn keeps_both(&self) -> bool {
        self.successor.is_some()
    }

    fn check<'a>(&'a self, old: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        self.check_role(old).boxed()
    }

    fn add<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            text(new)?;
            match &self.successor {
                Some(successor) => self.add_successor(successor, new).await,
                None => self.set_password(old, new, "the new password").await,
            }
        }
        .boxed()
    }

    fn undo<'a>(&'a self, old: &'a SecretValue, new: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>> {
        async move {
            if let Some(successor) = &self.successor {
                return self.remove_successor(successor, old).await;
            }
            // The role's current password is the new one (if the change got that far) or still
            // the old one: an administrator needs neither; the user itself tries both.
            if self.target.admin.is_some() {
                return self.set_password(old, old, "putting the previous password back").await;
            }
            match new {
                Some(new) => match self.set_password(new, old, "putting the previous password back").await {
                    Err(crate::error::Error::IssuerRefused { .. }) => {
                        self.set_password(old, old, "putting the previous password back").await
                    }
                    other => other,
                },
                None => self.set_password(old, old, "putting the previous password back").await,
            }
        }
        .boxed()
    }

    fn done(&self, step: Step) -> Option<String> {
        let successor = self.successor.as_deref()?;
        Some(successor_done(
            step,
            "role",
            &self.spec.user,
            successor,
            "no longer logs in (NOLOGIN; it stays, holding what its successor inherits)",
        ))
    }

    fn retire<'a>(&'a self, _: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            if self.successor.is_none() {
                return Ok(());
            }
            let client = self.connect(new).await?;
            let statement = format!("ALTER ROLE {} NOLOGIN PASSWORD NULL", pg_ident(&self.spec.user));
            client.batch_execute(&statement).await.map_err(|e| {
                self.target.refused(
                    &self.what(),
                    "retiring the previous role",
                    db_message(&e),
                    "the administrator needs CREATEROLE (and ADMIN OPTION on the role, or superuser)",
                )
            })
        }
        .boxed()
    }
}
