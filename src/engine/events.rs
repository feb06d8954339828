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

/// After a change of `secrets` in `namespace` that restarted `restarted`. `reached_outside`:
/// the change wrote at a provider or a database server, whose answers stay on the operator's
/// terminal (see `failure_text`).
pub(super) async fn after_change(
    conn: &Connection,
    settings: &Settings,
    namespace: &str,
    secrets: &[String],
    restarted: &[WorkloadId],
    result: &Result<Outcome>,
    reached_outside: bool,
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
                    restarted_text(restarted),
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
                message: format!(
                    "{} (rotation {rotation}): {}",
                    settings.changed_by,
                    failure_text(error, reached_outside)
                ),
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
                message: format!(
                    "{} for Secret {for_secrets}: {}",
                    settings.changed_by,
                    failure_text(error, reached_outside)
                ),
            },
        };
        notes.push((About::Workload(id.clone()), note));
    }
    publish(conn, notes).await;
}

/// After `rotate` renewed a certificate cert-manager issues: an Event on the Secret (cert-manager
/// wrote it) and on each workload restarted.
pub(super) async fn after_renewal(
    conn: &Connection,
    settings: &Settings,
    issued: &crate::domain::plan::SecretState,
    certificate: &crate::domain::certificates::CertificateState,
    restarted: &[WorkloadId],
    result: std::result::Result<Outcome, &Error>,
) {
    let what = format!(
        "renewal of Certificate {} asked by {}",
        certificate.name, settings.changed_by
    );
    let mut notes = Vec::new();
    let secret_note = match result {
        Ok(outcome) => Note {
            warning: false,
            reason: "Renewed",
            action: "Renew",
            message: format!(
                "{what}: issued by cert-manager; {}; verified: {}",
                restarted_text(restarted),
                match outcome {
                    Outcome::Clean => "every consumer runs with the current certificate",
                    Outcome::Found | Outcome::Code(_) =>
                        "some consumers still run with an older one (kubectl secrets verify)",
                }
            ),
        },
        Err(error) => Note {
            warning: true,
            reason: "RenewalFailed",
            action: "Renew",
            message: format!("{what}: {}", summary(error)),
        },
    };
    notes.push((secret(&issued.namespace, &issued.name, &issued.uid), secret_note));
    for id in restarted {
        let note = match result {
            Ok(_) => Note {
                warning: false,
                reason: "Restarted",
                action: "Restart",
                message: format!("restarted for the {what}"),
            },
            Err(error) => Note {
                warning: true,
                reason: "RenewalFailed",
                action: "Restart",
                message: format!("{what}: {}", summary(error)),
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

/// What an Event says of a failure. Events are read by whoever may read the namespace, so a
/// change that reached a provider or a database server (whose answers can name the operator's
/// identity, an ARN, a server's address) says only the kind of failure; the operator's terminal
/// had the whole message. A change inside the cluster gives the error's first sentence.
fn failure_text(error: &Error, reached_outside: bool) -> String {
    if !reached_outside {
        return summary(error);
    }
    let kind = match error {
        Error::RolledBack(_) => "the change failed and was rolled back: the previous data is back",
        Error::RollbackFailed(_) => {
            "the change failed and its undo did not finish: the journal is kept for `kubectl secrets rotate --abort`"
        }
        Error::RolloutFailed(_) => "a rollout of a consumer failed",
        Error::ProviderDenied { .. } => "the secrets provider refused the operator's request",
        Error::ProviderUnreachable { .. } | Error::ProviderCredentials { .. } => {
            "the secrets provider could not be used with the operator's credentials"
        }
        Error::IssuerRefused { .. } => "the database server refused the change",
        Error::IssuerUnreachable { .. } => "the database server could not be reached",
        Error::Interrupted => "interrupted",
        _ => "the change failed",
    };
    format!(
        "{kind} (exit {}; the operator who ran it has the details)",
        error.exit_code()
    )
}

/// "restarted A, B" or "no workload restarted", for a changed Secret's Event.
fn restarted_text(restarted: &[WorkloadId]) -> String {
    if restarted.is_empty() {
        "no workload restarted".to_string()
    } else {
        format!(
            "restarted {}",
            restarted.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
        )
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_that_reached_outside_the_cluster_says_only_its_kind() {
        let arn = "arn:aws:iam::123456789012:user/platform-oncall";
        let errors = [
            Error::ProviderDenied {
                action: "secretsmanager:PutSecretValue".into(),
                secret: "prod/team-b/db".into(),
                reason: format!("User: {arn} is not authorized"),
            },
            Error::RollbackFailed(format!("AccessDenied for {arn}; moving AWSCURRENT back failed too")),
            Error::RolledBack(format!("the change was rolled back: postgres at 10.0.0.7 said {arn}")),
        ];
        for error in &errors {
            let text = failure_text(error, true);
            assert!(!text.contains(arn) && !text.contains("10.0.0.7"), "{text}");
            assert!(text.contains(&format!("exit {}", error.exit_code())), "{text}");
        }
        assert!(failure_text(&errors[2], true).contains("rolled back"));
        // Inside the cluster, the first sentence is the useful part (a pod's crash loop).
        let rollout = Error::RolledBack("deployment/api: CrashLoopBackOff; restored app".into());
        assert_eq!(failure_text(&rollout, false), "deployment/api: CrashLoopBackOff");
    }
}
