//! The audit trail a change leaves in the cluster: an Event on each Secret it changed and on
//! each workload it restarted (who, which rotation, which revision, how it ended; never a
//! value), so `kubectl describe`, `kubectl get events` and event exporters show it. Recording
//! is best effort: a change is never failed or undone because its Events could not be written.

use futures::{stream, StreamExt};

use super::{lease, Settings};
use crate::cluster::events::{Events, Note, Regarding};
use crate::cluster::{self, Connection};
use crate::domain::model::{WorkloadId, WorkloadKind};
use crate::domain::rollout::RestartTarget;
use crate::error::Outcome;
use crate::error::{Error, Result};
use crate::render;

/// Events written at once (each is one small request).
const CONCURRENT: usize = 8;

/// After a change of `secrets` in `namespace` that restarted `restarted`.
pub(super) async fn after_change(
    conn: &Connection,
    settings: &Settings,
    namespace: &str,
    secrets: &[String],
    restarted: &[WorkloadId],
    result: &Result<Outcome>,
) {
    let (verb, failed_reason) = match settings.action.split_whitespace().next() {
        Some("rollback") => ("RolledBack", "RollbackFailed"),
        _ => ("Rotated", "RotationFailed"),
    };
    let mut revisions = Vec::new();
    let mut written = Vec::new();
    for name in secrets {
        let Ok(secret) = cluster::secrets::get(conn, namespace, name).await else {
            continue;
        };
        let rotation = secret.rotation_id.clone().unwrap_or_else(|| "-".into());
        revisions.push(format!("{name} revision {} (rotation {rotation})", secret.revision));
        written.push((secret.name.clone(), secret.uid.clone(), secret.revision, rotation));
    }
    let workload_list = restarted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let mut notes = Vec::new();
    for (name, uid, revision, rotation) in &written {
        let note = match result {
            Ok(outcome) => Note {
                warning: false,
                reason: verb,
                action: "Change",
                message: format!(
                    "{}: revision {revision} (rotation {rotation}); {}; verified: {}",
                    settings.changed_by,
                    if restarted.is_empty() {
                        "no workload restarted".to_string()
                    } else {
                        format!("restarted {workload_list}")
                    },
                    match outcome {
                        Outcome::Clean => "every consumer runs with the current data",
                        Outcome::Found | Outcome::Code(_) => {
                            "some consumers still run with older data (kubectl secrets verify)"
                        }
                    }
                ),
            },
            Err(error) => Note {
                warning: true,
                reason: failed_reason,
                action: "Change",
                message: format!("{} (rotation {rotation}): {}", settings.changed_by, summary(error)),
            },
        };
        notes.push((secret(namespace, name, uid), note));
    }
    let for_secrets = revisions.join(", ");
    for id in restarted {
        let note = match result {
            Ok(_) => Note {
                warning: false,
                reason: "Restarted",
                action: "Restart",
                message: format!("restarted by {} for Secret {for_secrets}", settings.changed_by),
            },
            Err(error) => Note {
                warning: true,
                reason: failed_reason,
                action: "Restart",
                message: format!("{} for Secret {for_secrets}: {}", settings.changed_by, summary(error)),
            },
        };
        notes.push((About::Workload(id.clone()), note));
    }
    publish(conn, notes).await;
}

/// After `verify --fix` restarted `targets` (no Secret was changed).
pub(super) async fn after_fix(
    conn: &Connection,
    settings: &Settings,
    targets: &[RestartTarget],
    result: &Result<bool>,
) {
    let mut notes = Vec::new();
    for target in targets {
        let secrets = target
            .revisions
            .iter()
            .map(|(name, revision)| format!("{name} revision {revision}"))
            .collect::<Vec<_>>()
            .join(", ");
        let note = match result {
            Ok(_) => Note {
                warning: false,
                reason: "Restarted",
                action: "Restart",
                message: format!(
                    "restarted by {}: its pods ran with older data of Secret {secrets}",
                    settings.changed_by
                ),
            },
            Err(error) => Note {
                warning: true,
                reason: "RestartFailed",
                action: "Restart",
                message: format!("{}: {}", settings.changed_by, summary(error)),
            },
        };
        notes.push((About::Workload(target.id.clone()), note));
    }
    publish(conn, notes).await;
}

/// The first sentence of an error: Events are read in narrow columns.
fn summary(error: &Error) -> String {
    let text = error.to_string();
    text.split("; ").next().unwrap_or(&text).to_string()
}

/// What an Event is about: a Secret (uid known), or a workload (uid looked up when published).
enum About {
    Secret(Regarding),
    Workload(WorkloadId),
}

fn secret(namespace: &str, name: &str, uid: &str) -> About {
    About::Secret(Regarding {
        api_version: "v1",
        kind: "Secret",
        namespace: namespace.into(),
        name: name.into(),
        uid: uid.into(),
    })
}

/// Record the notes, a few at a time (a workload's uid is read in the same step).
async fn publish(conn: &Connection, notes: Vec<(About, Note<'_>)>) {
    let events = Events::new(conn, lease::this_host());
    let events = &events;
    let failures: Vec<String> = stream::iter(notes)
        .map(|(about, note)| async move {
            let regarding = match about {
                About::Secret(regarding) => regarding,
                About::Workload(id) => Regarding {
                    api_version: match id.kind {
                        WorkloadKind::Rollout => "argoproj.io/v1alpha1",
                        _ => "apps/v1",
                    },
                    kind: id.kind.as_str(),
                    uid: cluster::workloads::uid(conn, &id).await.unwrap_or_default(),
                    namespace: id.namespace,
                    name: id.name,
                },
            };
            events.record(&regarding, &note).await.err().map(|e| e.to_string())
        })
        .buffer_unordered(CONCURRENT)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    if let Some(first) = failures.first() {
        render::warning(&format!(
            "could not record {} Event(s) of this change ({first}): the change itself is done; \
             allow `create` on events.k8s.io/events to keep its audit trail in the cluster",
            failures.len()
        ));
    }
}
