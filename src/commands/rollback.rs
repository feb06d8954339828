//! `rollback`: put a recorded backup's data back, as a change of its own (backed up first, so
//! a rollback can be rolled back), through the change engine. A Secret an ExternalSecret syncs
//! from AWS Secrets Manager goes back to its provider's previous version instead.

use super::Outcome;
use crate::cli::RollbackArgs;
use crate::cluster;
use crate::context::Context;
use crate::domain::plan;
use crate::engine::{self, Change, Settings};
use crate::error::{Error, Result};

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<Outcome> {
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        return across(ctx, args, &fleet).await;
    }
    if let Some(path) = args.secret.as_deref().and_then(|n| n.strip_prefix("vault:")) {
        let conn = ctx.connect().await?;
        let namespace = ctx.namespace(&conn);
        let settings = Settings::new("rollback", &args.change, &conn).await.undoing();
        let vault = engine::vault_path::VaultPath::open(path).await?;
        return engine::vault_path::rollback(&conn, ctx.consent(), &settings, &vault, &namespace, args.to_revision)
            .await;
    }
    super::pick::check_askable(args.secret.as_deref(), "rollback")?;
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let name = super::pick::secret(ctx, &conn, args.secret.as_deref(), "rollback").await?;
    let (current, candidates) = cluster::secrets::with_backups(&conn, &namespace, &name).await?;
    if let Some(pending) = engine::pending(&conn, &current).await? {
        return Err(pending.in_the_way(&namespace, &name, false));
    }
    // A Secret an ExternalSecret syncs goes back through its provider's previous version.
    if let Some(owner) = current.controller.as_ref().filter(|o| o.kind == "ExternalSecret") {
        if args.to_revision.is_some() {
            return Err(Error::Usage(format!(
                "secret {namespace}/{} is synced by ExternalSecret {}: it rolls back to its provider's previous version (AWSPREVIOUS, Vault's previous version); --to-revision is for in-cluster backups",
                name, owner.name
            )));
        }
        let (secret, external) = engine::external_rollback(&conn, &current, &owner.name).await?;
        let settings = Settings::new("rollback", &args.change, &conn).await.undoing();
        let change = Change {
            namespace,
            secrets: vec![secret],
            source: engine::Source::External(Box::new(external)),
            issuers: Vec::new(),
            no_issuer: false,
        };
        return engine::apply(&conn, ctx.consent(), &settings, change).await;
    }
    let backup = super::history::choose_backup(&current, &candidates, args.to_revision)?;
    let change = plan::restore_plan(&current, &backup.state)?;
    let settings = Settings::new("rollback", &args.change, &conn).await.undoing();
    let change = Change {
        namespace,
        secrets: vec![change],
        source: engine::Source::InPlace,
        issuers: Vec::new(),
        no_issuer: false,
    };
    engine::apply(&conn, ctx.consent(), &settings, change).await
}

/// rollback in several clusters: each cluster's backup chosen and its restore planned first
/// (any problem stops it before a write), one question, then each by its own change engine.
/// A failed cluster does not stop the others: an undo goes as far as it can.
async fn across(ctx: &Context, args: &RollbackArgs, fleet: &super::fleet::Fleet) -> Result<Outcome> {
    use super::fleet::{named, FleetMember};
    let name = args.secret.as_deref().ok_or_else(|| super::pick::missing("rollback"))?;
    let mut members = Vec::new();
    for context in &fleet.contexts {
        let conn = named(context, ctx.connect_one_of_many(context).await)?;
        let namespace = ctx.namespace(&conn);
        let (current, candidates) = named(context, cluster::secrets::with_backups(&conn, &namespace, name).await)?;
        if let Some(pending) = named(context, engine::pending(&conn, &current).await)? {
            crate::render::step(&format!("In cluster {context}:"));
            return Err(pending.in_the_way(&namespace, name, false));
        }
        if let Some(owner) = current.controller.as_ref().filter(|o| o.kind == "ExternalSecret") {
            return Err(Error::Usage(format!(
                "in cluster {context}, secret {namespace}/{name} is synced by ExternalSecret {}: roll it back at its provider, one cluster at a time (--context)",
                owner.name
            )));
        }
        let backup = named(
            context,
            super::history::choose_backup(&current, &candidates, args.to_revision),
        )?;
        let restore = named(
            context,
            plan::restore_plan(&current, &backup.state).map_err(Error::from),
        )?;
        let settings = Settings::new("rollback", &args.change, &conn).await.undoing();
        crate::render::step(&format!("\n== Cluster {context} =="));
        let change = Change {
            namespace: namespace.clone(),
            secrets: vec![restore],
            source: engine::Source::InPlace,
            issuers: Vec::new(),
            no_issuer: false,
        };
        let prepared = named(context, engine::prepare(&conn, ctx.output(), &settings, change).await)?;
        named(context, prepared.check_consent(ctx.consent(), &settings))?;
        members.push(FleetMember {
            context: context.clone(),
            conn,
            namespace,
            settings,
            prepared: Some(prepared),
        });
    }
    if !engine::go_ahead(ctx.consent(), "Roll back in these clusters?")? {
        return Ok(Outcome::Clean);
    }
    let all = crate::domain::waves::Wave {
        name: "rollback".into(),
        contexts: fleet.contexts.clone(),
    };
    // One after the other: a rollback is the way back, read line by line.
    super::fleet::run_changes(members, &[all], usize::MAX, 1, None, name, "rollback").await
}
