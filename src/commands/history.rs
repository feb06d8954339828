use super::Outcome;
use crate::cli::HistoryArgs;
use crate::context::Context;
use crate::core::history::{self, BackupRevision};
use crate::error::{Error, Result};
use crate::kube;
use crate::{prompt, render};

pub async fn run(ctx: &Context, args: &HistoryArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, backups) = kube::secrets::with_backups(&conn, &namespace, &args.secret).await?;
    render::history::entries(
        &namespace,
        &args.secret,
        &history::entries(&current, &backups),
        ctx.output(),
    )?;
    if !args.prune {
        return Ok(Outcome::Clean);
    }
    let doomed: Vec<&str> = backups
        .iter()
        .skip(usize::from(args.keep))
        .map(|b| b.name.as_str())
        .collect();
    if doomed.is_empty() {
        render::rotate::step(&format!(
            "Nothing to prune: {} backups, keeping {}.",
            backups.len(),
            args.keep
        ));
        return Ok(Outcome::Clean);
    }
    render::rotate::step(&format!("Prune: delete {}.", doomed.join(", ")));
    if ctx.global.dry_run {
        render::rotate::step("Dry run: nothing was deleted.");
        return Ok(Outcome::Clean);
    }
    if !prompt::confirm_change(ctx.global.yes, "Delete these backups?")? {
        render::rotate::step("Cancelled: nothing was deleted.");
        return Ok(Outcome::Clean);
    }
    let deleted = kube::secrets::prune_backups(&conn, &namespace, &args.secret, usize::from(args.keep)).await?;
    render::rotate::step(&format!("Deleted {}.", render::plural(deleted.len(), "backup")));
    Ok(Outcome::Clean)
}

/// The backup of `revision` (or the newest), or an error saying which exist and where they come from.
pub fn choose_backup<'a>(
    namespace: &str,
    name: &str,
    backups: &'a [BackupRevision],
    revision: Option<u64>,
) -> Result<&'a BackupRevision> {
    history::choose(backups, revision).ok_or_else(|| Error::NoBackup {
        namespace: namespace.to_string(),
        name: name.to_string(),
        revision,
        available: backups
            .iter()
            .map(|b| b.revision.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
