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
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, candidates) = cluster::secrets::with_backups(&conn, &namespace, &args.secret).await?;
    if let Some(pending) = engine::pending(&conn, &current).await? {
        return Err(pending.in_the_way(&namespace, &args.secret, false));
    }
    // A Secret an ExternalSecret syncs goes back through its provider's previous version.
    if let Some(owner) = current.controller.as_ref().filter(|o| o.kind == "ExternalSecret") {
        if args.to_revision.is_some() {
            return Err(Error::Usage(format!(
                "secret {namespace}/{} is synced by ExternalSecret {}: it rolls back to its provider's previous version (AWSPREVIOUS); --to-revision is for in-cluster backups",
                args.secret, owner.name
            )));
        }
        let (secret, external) = engine::external_rollback(&conn, &current, &owner.name).await?;
        let settings = Settings::new("rollback", &args.change, &conn).await;
        let change = Change {
            namespace,
            secrets: vec![secret],
            sealed: None,
            external: Some(external),
        };
        return engine::apply(&conn, ctx.consent(), &settings, change).await;
    }
    let backup = super::history::choose_backup(&current, &candidates, args.to_revision)?;
    let change = plan::restore_plan(&current, &backup.state)?;
    let settings = Settings::new("rollback", &args.change, &conn).await;
    let change = Change {
        namespace,
        secrets: vec![change],
        sealed: None,
        external: None,
    };
    engine::apply(&conn, ctx.consent(), &settings, change).await
}
