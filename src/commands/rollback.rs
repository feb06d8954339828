//! `rollback`: put a recorded backup's data back, as a change of its own (backed up first, so
//! a rollback can be rolled back), through the change engine.

use super::Outcome;
use crate::cli::RollbackArgs;
use crate::cluster;
use crate::context::Context;
use crate::domain::plan;
use crate::engine::{self, Change, Settings};
use crate::error::Result;

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, candidates) = cluster::secrets::with_backups(&conn, &namespace, &args.secret).await?;
    if let Some(pending) = engine::pending(&conn, &current).await? {
        return Err(pending.in_the_way(&namespace, &args.secret, false));
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
