//! PostgreSQL: `ALTER ROLE … PASSWORD` with a SCRAM-SHA-256 verifier computed here, so the
//! plaintext never reaches the server, its logs or pg_stat_statements. PostgreSQL keeps one
//! password per role: the change is single-phase (the old password stops working at once;
//! connections already open stay open).

use futures::future::BoxFuture;
use futures::FutureExt as _;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::{text, Issuer, Target, CONNECT_TIMEOUT};
use crate::domain::issuer::{pg_ident, postgres_verifier, sql_literal, IssuerSpec};
use crate::domain::secret_value::SecretValue;
use crate::error::Result;

pub struct Postgres {
    spec: IssuerSpec,
    target: Target,
}

impl Postgres {
    pub fn new(spec: IssuerSpec, target: Target) -> Self {
        Postgres { spec, target }
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
        format!(
            "{} at {} ({}): ALTER ROLE with a SCRAM verifier computed here; single-phase (PostgreSQL keeps one password per role)",
            self.what(),
            self.target.place,
            match &self.target.admin {
                Some((admin, _)) => format!("as {admin}"),
                None => "with its current password".into(),
            }
        )
    }

    fn keeps_both(&self) -> bool {
        false
    }

    fn check<'a>(&'a self, old: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        self.check_role(old).boxed()
    }

    fn add<'a>(&'a self, old: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async move {
            text(new)?;
            self.set_password(old, new, "the new password").await
        }
        .boxed()
    }

    fn undo<'a>(&'a self, old: &'a SecretValue, new: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>> {
        async move {
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

    fn retire<'a>(&'a self, _: &'a SecretValue, _: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        async { Ok(()) }.boxed()
    }
}
