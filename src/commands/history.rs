use super::Outcome;
use crate::cli::HistoryArgs;
use crate::context::Context;
use crate::core::history;
use crate::error::Result;
use crate::kube;
use crate::{prompt, render};

pub async fn run(ctx: &Context, args: &HistoryArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let (current, backups) = tokio::try_join!(
        kube::secrets::get(&conn, &namespace, &args.secret),
        kube::secrets::backups_of(&conn, &namespace, &args.secret)
    )?;
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
