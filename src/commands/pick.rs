//! The Secret a command works on when its name is left out: picked from a fuzzy list on a
//! terminal (kubectx-style), with each Secret's type, age and consumers; off a terminal, the
//! usage error it always was.

use jiff::Timestamp;

use crate::cluster::{self, Connection, Scope};
use crate::context::Context;
use crate::domain::inventory::{self, ListOptions};
use crate::error::{Error, Result};
use crate::{prompt, render};

/// `given`, else the Secret picked in the namespace; `command` words the question and the error.
pub async fn secret(ctx: &Context, conn: &Connection, given: Option<&str>, command: &str) -> Result<String> {
    if let Some(name) = given {
        return Ok(name.to_string());
    }
    if !prompt::interactive() {
        return Err(missing(command));
    }
    let namespace = ctx.namespace(conn);
    let scope = Scope::Namespace(namespace.clone());
    let (snapshot, minor) = tokio::try_join!(
        cluster::snapshot::read(conn, &scope, None),
        cluster::server_minor_version(conn)
    )?;
    let report = super::assess(&snapshot, minor, false);
    let now = Timestamp::now();
    let options = ListOptions {
        now,
        max_age: None,
        all_types: false,
        cert_expiry: None,
    };
    let rows = inventory::rows(&snapshot, &report, &options);
    if rows.is_empty() {
        cluster::require_namespace(conn, &scope).await?;
        return Err(Error::NotFound(format!(
            "no Secret for {command} in namespace {namespace} (kubectl secrets list -n {namespace} --all-types shows the ones hidden here)"
        )));
    }
    let items = render::list::picker_items(&rows, now);
    let purpose = match command {
        "history" => "whose history to show",
        "rollback" => "to roll back",
        "diff" => "to compare",
        other => other,
    };
    let purpose = if purpose == command {
        format!("to {command}")
    } else {
        purpose.to_string()
    };
    let index = prompt::pick(
        &format!("Secret {purpose} in namespace {namespace} (type to filter)"),
        &items,
    )?;
    Ok(rows[index].name.clone())
}

/// Refuse a left-out name before the cluster is reached when nothing could ask for it.
pub fn check_askable(given: Option<&str>, command: &str) -> Result<()> {
    if given.is_none() && !prompt::interactive() {
        return Err(missing(command));
    }
    Ok(())
}

/// The name left out where nothing can ask for it.
pub fn missing(command: &str) -> Error {
    Error::Usage(format!(
        "say which Secret: kubectl secrets {command} SECRET (in a terminal, leave it out to pick one from a list)"
    ))
}
