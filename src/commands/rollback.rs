use super::apply::{self, Settings};
use super::Outcome;
use crate::cli::RollbackArgs;
use crate::context::Context;
use crate::core::{history, plan};
use crate::error::{Error, Result};
use crate::kube;

pub async fn run(ctx: &Context, args: &RollbackArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, backups) = tokio::try_join!(
        kube::secrets::get(&conn, &namespace, &args.secret),
        kube::secrets::backups_of(&conn, &namespace, &args.secret)
    )?;
    if let Some(journal) = &current.journal {
        return Err(Error::RotationInProgress {
            namespace: namespace.clone(),
            name: args.secret.clone(),
            id: journal.id.clone(),
            started: journal.started_at.to_string(),
            phase: journal.phase.describe().into(),
        });
    }
    let backup = history::choose(&backups, args.to_revision).ok_or_else(|| Error::NoBackup {
        namespace: namespace.clone(),
        name: args.secret.clone(),
        revision: args.to_revision,
        available: backups
            .iter()
            .map(|b| b.revision.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    let change = plan::restore_plan(&current, &backup.state)?;
    let settings = Settings {
        secret: args.secret.clone(),
        keep_backups: args.keep_backups,
        max_parallel: args.max_parallel,
        timeout: args.timeout,
        restart: !args.no_restart,
        restart_all: args.restart_all,
        changed_by: apply::changed_by("kubectl-secrets rollback", &conn).await,
    };
    apply::plan_and_apply(ctx, &conn, &namespace, &[change], &settings).await
}
