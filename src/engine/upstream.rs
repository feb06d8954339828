//! The steps a change takes once it has written a Secret's source outside the Secret (a
//! SealedSecret's ciphertexts, a provider's versions) and a controller has brought the new data
//! in: restart the consumers, then clear the journal; on a failed rollout, put the source back,
//! wait for the controller to bring the previous data in, and restart again. Written once here,
//! for the first run and for `--resume` / `--abort`; each source says only how it is put back.

use std::collections::BTreeMap;

use futures::future::BoxFuture;

use super::Machine;
use crate::domain::journal::Phase;
use crate::domain::model::WorkloadId;
use crate::domain::rollout::RestartTarget;
use crate::error::{Error, Result};
use crate::render;

/// A Secret's source outside the cluster's Secret, as the machine sees it after the write.
pub(super) trait Upstream: Sync {
    /// The machine holding the change's journal.
    fn machine(&self) -> &Machine<'_>;
    /// The Secret the controller writes.
    fn secret(&self) -> &str;
    /// Said as the undo starts ("Putting the previous SealedSecret back.").
    fn undo_step(&self) -> String;
    /// What a finished undo put back, for the error that ends the change (exit 8).
    fn put_back_words(&self) -> String;
    /// Put the source's previous data back, wait until the controller has brought it into the
    /// Secret, and stamp it there: the Secret's revision then.
    fn put_back(&self) -> BoxFuture<'_, Result<u64>>;
    /// A failed rollout that cannot be undone here because nothing was written at the source
    /// (`rotate --synced`): the error it ends with, the journal cleared.
    fn cannot_undo(&self, _what_failed: &str) -> Option<Error> {
        None
    }
}

/// Restart `targets` (the Secret holds the new data), then clear the journal; on a failed
/// rollout, undo: every one of `workloads` (the change's consumers, some perhaps restarted
/// before an interruption) restarts again with the previous data.
pub(super) async fn restart_then_clear(
    source: &impl Upstream,
    targets: &[RestartTarget],
    workloads: &[WorkloadId],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
) -> Result<()> {
    let m = source.machine();
    m.lease.enter(Phase::Restarting).await?;
    if !targets.is_empty() {
        let failures = m.restart(targets, "Restarting consumers:").await?;
        if !failures.is_empty() {
            let what_failed = failures.join("; ");
            if let Some(error) = source.cannot_undo(&what_failed) {
                m.lease.clear().await?;
                return Err(error);
            }
            return Err(undo(source, workloads, templates, &what_failed).await);
        }
    }
    m.lease.clear().await
}

/// Undo after `what_failed`: the error the change ends with (rolled back, or the undo's own
/// failure with the journal kept for `--abort`).
pub(super) async fn undo(
    source: &impl Upstream,
    workloads: &[WorkloadId],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    what_failed: &str,
) -> Error {
    let undone = try_undo(source, workloads, templates).await;
    source.machine().undo_outcome(
        source.secret(),
        what_failed,
        undone,
        &source.put_back_words(),
        !workloads.is_empty(),
    )
}

/// The source put back, the previous data in the Secret, `workloads` restarted with it, the
/// journal cleared (`--abort` runs this alone).
pub(super) async fn try_undo(
    source: &impl Upstream,
    workloads: &[WorkloadId],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
) -> Result<()> {
    let m = source.machine();
    render::step(&source.undo_step());
    m.lease.enter(Phase::RollingBack).await?;
    let revision = source.put_back().await?;
    // The wait for the controller may have been long: the heartbeat (and phase) again.
    m.lease.enter(Phase::RollingBack).await?;
    m.restart_back_and_clear(source.secret(), revision, workloads, templates)
        .await
}
