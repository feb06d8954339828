//! The Secret a command works on when its name is left out, and the context or namespace when
//! `--context` or `-n` is given without a value: picked from a fuzzy list on a terminal
//! (kubectx/kubens-style, for this run only: the kubeconfig is never changed), with each
//! Secret's type, age and consumers; off a terminal, a usage error naming what to give.

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
        "seal --from-secret" => "to seal",
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

/// `--context` or `-n` given without a value: pick them (the context first, as the namespaces
/// listed are that cluster's); off a terminal, the usage error naming the flag.
pub async fn context_and_namespace(global: &mut crate::cli::GlobalArgs) -> Result<()> {
    let wants_context = global.context.as_deref() == Some("");
    let wants_namespace = global.namespace.as_deref() == Some("");
    if !wants_context && !wants_namespace {
        return Ok(());
    }
    if !prompt::interactive() {
        let flag = if wants_context {
            "--context NAME"
        } else {
            "-n NAMESPACE"
        };
        return Err(Error::Usage(format!(
            "give {flag} (in a terminal, the flag alone picks one from a list)"
        )));
    }
    if wants_context {
        let names = cluster::client::contexts(global.kubeconfig.as_deref())?;
        if names.is_empty() {
            return Err(Error::Usage("the kubeconfig has no context to pick".into()));
        }
        let current = cluster::client::current_context(global.kubeconfig.as_deref());
        let items: Vec<String> = names
            .iter()
            .map(|n| {
                let marker = if current.as_deref() == Some(n.as_str()) {
                    " (current)"
                } else {
                    ""
                };
                format!("{}{marker}", render::clean_line(n))
            })
            .collect();
        let index = prompt::pick(
            "Context for this run (type to filter; the kubeconfig is not changed)",
            &items,
        )?;
        global.context = Some(names[index].clone());
    }
    if wants_namespace {
        let ctx = Context::new(global.clone());
        let conn = ctx.connect().await?;
        let mut names = cluster::names::namespaces(&conn).await.map_err(|e| match e {
            Error::Forbidden { .. } => Error::Usage(format!(
                "cannot list the namespaces of context {} to pick one ({e}): give -n NAMESPACE",
                conn.context
            )),
            other => other,
        })?;
        names.sort();
        let default = names.iter().position(|n| n == &conn.default_namespace).unwrap_or(0);
        let items: Vec<String> = names.iter().map(|n| render::clean_line(n)).collect();
        let index = prompt::pick_from(
            &format!(
                "Namespace in context {} (type to filter)",
                render::clean_line(&conn.context)
            ),
            &items,
            default,
        )?;
        global.namespace = Some(names[index].clone());
    }
    Ok(())
}
