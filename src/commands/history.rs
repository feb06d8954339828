//! `history`: the revisions a Secret records (its current data and its backups), and the
//! Secrets that only claim to be its backups, marked as such; `--prune` deletes recorded
//! backups beyond --keep.

use super::Outcome;
use crate::cli::HistoryArgs;
use crate::cluster;
use crate::context::Context;
use crate::domain::fleet::FleetReport;
use crate::domain::history::{self, BackupRevision, SecretHistory};
use crate::domain::journal;
use crate::domain::plan::SecretState;
use crate::engine;
use crate::error::{Error, Result, UntrustedRecord};
use crate::render;

pub async fn run(ctx: &Context, args: &HistoryArgs) -> Result<Outcome> {
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        if args.prune {
            return Err(Error::Usage(
                "history --prune deletes backups in one cluster at a time: run it with --context CONTEXT".into(),
            ));
        }
        let name = args.secret.as_deref().ok_or_else(|| super::pick::missing("history"))?;
        let entries = super::fleet::run(ctx, &fleet, |conn| async move {
            let (history, _, _) = read(ctx, name, &conn).await?;
            Ok((history, Outcome::Clean))
        })
        .await;
        let report = FleetReport::new("history", entries);
        render::history::fleet(&report, ctx.output())?;
        return Ok(Outcome::Code(report.summary.exit_code));
    }
    if let Some(path) = args.secret.as_deref().and_then(|n| n.strip_prefix("vault:")) {
        if args.prune {
            return Err(Error::Usage(format!(
                "--prune deletes a Secret's backups; Vault keeps vault:{path}'s versions itself (max_versions)"
            )));
        }
        let conn = ctx.connect().await?;
        let vault = engine::vault_path::VaultPath::open(path).await?;
        let history = SecretHistory {
            namespace: ctx.namespace(&conn),
            secret: format!("vault:{}", vault.shown()),
            revisions: Vec::new(),
            provider_versions: vec![engine::vault_path::versions(&vault).await?],
        };
        render::history::entries(&history, ctx.output())?;
        return Ok(Outcome::Clean);
    }
    super::pick::check_askable(args.secret.as_deref(), "history")?;
    let conn = ctx.connect().await?;
    let name = super::pick::secret(ctx, &conn, args.secret.as_deref(), "history").await?;
    let (history, current, candidates) = read(ctx, &name, &conn).await?;
    render::history::entries(&history, ctx.output())?;
    if !args.prune {
        return Ok(Outcome::Clean);
    }
    // Only recorded backups are pruned: a Secret that merely claims to be one is not ours to delete.
    let recorded = recorded(&current, &candidates);
    engine::prune(&conn, ctx.consent(), &current, &recorded, usize::from(args.keep)).await?;
    Ok(Outcome::Clean)
}

/// One cluster's history of the Secret, with what it was read from.
async fn read(
    ctx: &Context,
    name: &str,
    conn: &cluster::Connection,
) -> Result<(SecretHistory, SecretState, Vec<BackupRevision>)> {
    let namespace = ctx.namespace(conn);
    let (current, candidates) = cluster::secrets::with_backups(conn, &namespace, name).await?;
    // A Secret an ExternalSecret syncs from AWS: its provider's versions are its history too.
    let provider_versions = engine::provider_history(conn, &current).await?;
    let history = SecretHistory {
        namespace,
        secret: name.to_string(),
        revisions: history::entries(&current, &candidates),
        provider_versions,
    };
    Ok((history, current, candidates))
}

/// The candidates the Secret records as its own backups, newest first.
pub fn recorded<'a>(current: &SecretState, candidates: &'a [BackupRevision]) -> Vec<&'a BackupRevision> {
    let mut recorded: Vec<&BackupRevision> = candidates
        .iter()
        .filter(|b| journal::trust(current, b).is_recorded())
        .collect();
    recorded.sort_by(|a, b| b.revision.cmp(&a.revision).then(b.saved_at.cmp(&a.saved_at)));
    recorded
}

/// The recorded backup of `revision` (or the newest), or an error saying which exist and,
/// when only an unrecorded Secret holds that revision, that it is never restored.
pub fn choose_backup<'a>(
    current: &SecretState,
    candidates: &'a [BackupRevision],
    revision: Option<u64>,
) -> Result<&'a BackupRevision> {
    let recorded = recorded(current, candidates);
    let owned: Vec<BackupRevision> = recorded.iter().map(|b| (*b).clone()).collect();
    if let Some(found) = history::choose(&owned, revision) {
        return Ok(recorded
            .into_iter()
            .find(|b| b.name == found.name)
            .expect("chosen from these"));
    }
    if let Some(claimed) = candidates.iter().find(|b| revision.is_none_or(|r| b.revision == r)) {
        if let journal::Trust::NotRecorded { reason } = journal::trust(current, claimed) {
            return Err(Error::Untrusted(Box::new(UntrustedRecord {
                object: format!("Secret {}/{}", current.namespace, claimed.name),
                found: format!(
                    "it carries the backup label of {} but {reason}; it is never restored",
                    current.name
                ),
                kind: "secret".into(),
                namespace: current.namespace.clone(),
                name: claimed.name.clone(),
                fix: format!(
                    ". The recorded revisions of {} are listed by `kubectl secrets history {} -n {}`",
                    current.name, current.name, current.namespace
                ),
            })));
        }
    }
    Err(Error::NoBackup {
        namespace: current.namespace.clone(),
        name: current.name.clone(),
        revision,
        available: recorded
            .iter()
            .map(|b| b.revision.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}
