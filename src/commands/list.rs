use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};

use super::Outcome;
use crate::cli::ListArgs;
use crate::context::Context;
use crate::domain::external::StoreRef;
use crate::domain::fleet::FleetReport;
use crate::domain::inventory::{self, ListOptions, SecretList};
use crate::error::Result;
use crate::{cluster, render};

pub async fn run(ctx: &Context, args: &ListArgs) -> Result<Outcome> {
    let show_namespace = ctx.global.all_namespaces;
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        if ctx.output() == crate::cli::OutputFormat::Prometheus {
            return Err(crate::error::Error::Usage(
                "-o prometheus is for one cluster (its metrics carry no context): run list --context CONTEXT per cluster".into(),
            ));
        }
        if ctx.output() == crate::cli::OutputFormat::Name {
            return Err(crate::error::Error::Usage(
                "-o name is for one cluster (a name carries no context): run list --context CONTEXT per cluster, or -o json".into(),
            ));
        }
        let entries = super::fleet::run(ctx, &fleet, |conn| async move { list(ctx, args, &conn).await }).await;
        let report = FleetReport::new("list", entries);
        render::list::fleet(&report, ctx.output(), show_namespace, args.max_age.is_some())?;
        return Ok(Outcome::Code(report.summary.exit_code));
    }
    let conn = ctx.connect().await?;
    let (list, outcome) = list(ctx, args, &conn).await?;
    let mut place = ctx.scope(&conn).describe();
    if let Some(selector) = &ctx.global.selector {
        place.push_str(&format!(" matching -l {selector}"));
    }
    render::list::rows(&list, ctx.output(), &place, show_namespace, args.max_age.is_some())?;
    Ok(outcome)
}

/// One cluster's Secrets, and whether a policy (--max-age, --cert-expiry) finds any.
async fn list(ctx: &Context, args: &ListArgs, conn: &cluster::Connection) -> Result<(SecretList, Outcome)> {
    let scope = ctx.scope(conn);
    let (snapshot, minor) = tokio::try_join!(
        cluster::snapshot::read(conn, &scope, None),
        cluster::server_minor_version(conn)
    )?;
    let report = super::assess(&snapshot, minor, false);
    let options = ListOptions {
        now: Timestamp::now(),
        max_age: args.max_age.and_then(|d| SignedDuration::try_from(d).ok()),
        all_types: args.all_types,
        cert_expiry: args.cert_expiry.and_then(|d| SignedDuration::try_from(d).ok()),
    };
    let mut rows = inventory::rows(&snapshot, &report, &options);
    if let Some(selector) = ctx.global.selector.as_deref() {
        let selected = cluster::secrets::selected_in(conn, &scope, selector).await?;
        rows.retain(|r| selected.contains(&(r.namespace.clone(), r.name.clone())));
    }
    name_providers(conn, &mut rows).await;
    // Like --max-age, --cert-expiry is the policy that turns findings into exit 1.
    let expiring =
        args.cert_expiry.is_some() && rows.iter().any(|r| r.certificate.as_ref().is_some_and(|c| c.expiring));
    let outcome = if rows.iter().any(|r| r.overdue) || expiring {
        Outcome::Found
    } else {
        Outcome::Clean
    };
    // A selector picks Secrets: the Vault paths are not among them.
    let vault_paths = match ctx.global.selector {
        Some(_) => Vec::new(),
        None => inventory::vault_paths(&snapshot),
    };
    Ok((
        SecretList {
            secrets: rows,
            vault_paths,
        },
        outcome,
    ))
}

/// Each External Secrets store's provider, read once per store (a store that cannot be read,
/// for want of permission say, leaves the column without it).
async fn name_providers(conn: &cluster::Connection, rows: &mut [inventory::SecretRow]) {
    let mut known: BTreeMap<(String, String), Option<String>> = BTreeMap::new();
    for row in rows.iter_mut() {
        let Some(external) = row.external.as_mut() else {
            continue;
        };
        let Some((kind, name)) = external.store.split_once('/') else {
            continue;
        };
        let namespace = if kind == "ClusterSecretStore" {
            ""
        } else {
            row.namespace.as_str()
        };
        let key = (namespace.to_string(), external.store.clone());
        if !known.contains_key(&key) {
            let store = StoreRef {
                kind: kind.to_string(),
                name: name.to_string(),
            };
            let provider = cluster::external::provider(conn, &row.namespace, &store).await.ok();
            known.insert(key.clone(), provider.map(|p| p.describe()));
        }
        external.provider = known[&key].clone();
    }
}
