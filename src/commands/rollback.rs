use super::apply::{self, Settings};
use super::Outcome;
use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::core::plan;
use crate::error::{Error, Result};
use crate::kube;

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, backups) = kube::secrets::with_backups(&conn, &namespace, &args.secret).await?;
    if let Some(journal) = &current.journal {
        return Err(Error::RotationInProgress {
            namespace: namespace.clone(),
            name: args.secret.clone(),
            id: journal.id.clone(),
            started: journal.started_at.to_string(),
            phase: journal.phase.describe().into(),
        });
    }
    let backup = super::history::choose_backup(&namespace, &args.secret, &backups, args.to_revision)?;
    let change = plan::restore_plan(&current, &backup.state)?;
    let settings = Settings::new(&args.secret, &args.change, "kubectl-secrets rollback", &conn).await;
    apply::plan_and_apply(ctx, &conn, &namespace, &[change], &settings).await
}
