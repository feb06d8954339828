//! Output of `rotate` and `rollback`: the plan (values shown as length and a per-run
//! fingerprint only) and the plan of resuming or undoing an interrupted change.

use std::time::Duration;

use serde::Serialize;

use super::{clean_line, coloured, plural, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use comfy_table::{Cell, Color};

use crate::domain::consumers::{Consumer, ConsumerAction};
use crate::domain::journal::Journal;
use crate::domain::plan::{ChangeKind, KeyChange, SecretChange};
use crate::domain::rollout::RestartTarget;
use crate::domain::secret_value::{Fingerprinter, SecretValue};
use crate::domain::waves::{ClusterOutcome, ClusterRow};
use crate::error::Result;

/// How the plan will be carried out, for the summary line.
pub struct Strategy {
    pub max_parallel: Option<u16>,
    /// With max_parallel: batches this far apart.
    pub batch_interval: Option<Duration>,
    pub timeout: Duration,
    pub restart: bool,
    pub writes: Writes,
}

/// Where the new data is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    /// The Secrets themselves (or their SealedSecret), with backups.
    Secrets,
    /// New versions at the provider an ExternalSecret syncs from.
    Provider,
    /// Nothing: the value was changed at the provider (`rotate --synced`).
    Synced,
    /// Nothing: cert-manager issues the new certificate (a renewal).
    Renewal,
    /// A new version of a Vault path that pods render through Vault's Agent Injector.
    VaultPath,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
    /// The kubeconfig context the plan is for (a fleet's plans are told apart by it).
    context: &'a str,
    namespace: &'a str,
    secrets: Vec<PlannedSecret>,
    workloads: &'a [Consumer],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedSecret {
    name: String,
    revision: u64,
    keys: Vec<PlannedKey>,
    /// Keys --all-keys did not generate: credentials issued elsewhere, identifiers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    left_out: Vec<LeftOutKey>,
}

#[derive(Serialize)]
struct LeftOutKey {
    key: String,
    reason: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlannedKey {
    key: String,
    change: String,
    before: Option<Masked>,
    after: Option<Masked>,
}

/// A value as a table may show it.
#[derive(Serialize)]
struct Masked {
    length: usize,
    fingerprint: String,
}

fn masked(value: &SecretValue, fp: &Fingerprinter) -> Masked {
    Masked {
        length: value.len(),
        fingerprint: fp.fingerprint(value),
    }
}

fn describe_change(key: &KeyChange) -> String {
    match &key.kind {
        ChangeKind::Rotated { how } => format!("rotated ({how})"),
        ChangeKind::Propagated { from_key, encoding } => format!("embeds {from_key}: replaced {}", encoding.describe()),
        ChangeKind::KeptPrevious { of } => format!("previous value of {of}"),
        ChangeKind::Restored { revision } => format!("restored from revision {revision}"),
        ChangeKind::Set => "set to the value given with --set".to_string(),
        ChangeKind::AddedVersion { after, how } => format!("new version beside {after} ({how})"),
        ChangeKind::Pointer { to } => format!("moved to {to}"),
        ChangeKind::Retired { by } => format!("old version removed ({by} has taken over)"),
        ChangeKind::Edited => match (&key.old, &key.new) {
            (None, _) => "added in the editor",
            (_, None) => "removed in the editor",
            _ => "changed in the editor",
        }
        .to_string(),
    }
}

pub fn plan(
    context: &str,
    namespace: &str,
    changes: &[SecretChange],
    consumers: &[Consumer],
    strategy: &Strategy,
    fp: &Fingerprinter,
    output: OutputFormat,
) -> Result<()> {
    let secrets: Vec<PlannedSecret> = changes
        .iter()
        .map(|c| PlannedSecret {
            name: c.name().to_string(),
            revision: c.new_revision,
            keys: c
                .keys
                .iter()
                .map(|k| PlannedKey {
                    key: k.key.clone(),
                    change: describe_change(k),
                    before: k.old.as_ref().map(|v| masked(v, fp)),
                    after: k.new.as_ref().map(|v| masked(v, fp)),
                })
                .collect(),
            left_out: c
                .left_out
                .iter()
                .map(|(key, reason)| LeftOutKey {
                    key: key.clone(),
                    reason: reason.to_string(),
                })
                .collect(),
        })
        .collect();
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            let doc = PlanDocument {
                api_version: "kubectl-secrets.io/v1",
                kind: "RotationPlan",
                context,
                namespace,
                secrets,
                workloads: consumers,
            };
            super::print_structured(&doc, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let last_applied: Vec<String> = changes
                .iter()
                .filter(|c| c.before.has_last_applied)
                .map(|c| c.name().to_string())
                .collect();
            write_stdout(&plan_text(
                context,
                namespace,
                &secrets,
                &last_applied,
                consumers,
                strategy,
            ))
        }
    }
}

fn show(m: Option<&Masked>) -> String {
    m.map(|m| format!("{} bytes, {}", m.length, m.fingerprint))
        .unwrap_or_else(|| "(absent)".into())
}

fn plan_text(
    context: &str,
    namespace: &str,
    secrets: &[PlannedSecret],
    changes_with_last_applied: &[String],
    consumers: &[Consumer],
    strategy: &Strategy,
) -> String {
    let mut keys = table(&["SECRET", "KEY", "CHANGE", "BEFORE", "AFTER"]);
    for secret in secrets {
        for key in &secret.keys {
            keys.add_row(vec![
                secret.name.clone(),
                key.key.clone(),
                key.change.clone(),
                show(key.before.as_ref()),
                show(key.after.as_ref()),
            ]);
        }
    }
    let mut text = format!(
        "Plan for namespace {namespace} in cluster {context} (values shown as length and a fingerprint valid for this run only)\n\n"
    );
    text.push_str(&table_lines(&keys));
    text.push('\n');
    let left_out: Vec<String> = secrets
        .iter()
        .flat_map(|s| {
            s.left_out
                .iter()
                .map(move |k| format!("  {}/{}: {}\n", s.name, clean_line(&k.key), k.reason))
        })
        .collect();
    if !left_out.is_empty() {
        text.push_str(
            "Left out of --all-keys (a random value would work nowhere: rotate a credential where it is issued, \
             then give it with --from-stdin KEY):\n",
        );
        text.extend(left_out);
        text.push('\n');
    }
    text.push_str(&consumers_text(consumers, strategy));
    if !changes_with_last_applied.is_empty() {
        text.push_str(&format!(
            "\nAlso removes kubectl's last-applied-configuration annotation from {}: it holds the old values.\n",
            changes_with_last_applied.join(", ")
        ));
    }
    let (write, undo) = match strategy.writes {
        Writes::Secrets => (
            format!(
                "back up {} (kept as backup Secrets), write {} with a resourceVersion check",
                plural(secrets.len(), "Secret"),
                if secrets.len() == 1 { "it" } else { "them" }
            ),
            "restore the previous data and restart again",
        ),
        Writes::Provider => (
            "write the new provider version, wait for External Secrets to sync it".to_string(),
            "put the previous provider version back, sync and restart again",
        ),
        Writes::Synced => (
            "sync from the provider, wait for the new data".to_string(),
            "stop and say so (the provider's previous value is yours to put back)",
        ),
        Writes::Renewal => (
            "ask cert-manager to issue the certificate again, wait for it".to_string(),
            "stop and say why (an issued certificate cannot be un-issued)",
        ),
        Writes::VaultPath => (
            "write the new Vault version (check-and-set on the version read)".to_string(),
            "write the previous version's data back as a new version and restart again",
        ),
    };
    text.push_str(&steps_text(&write, undo, consumers, strategy));
    text
}

/// What a renewal's plan shows of the Certificate and its current certificate (never the key).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenewalSummary {
    pub namespace: String,
    pub secret: String,
    pub certificate: String,
    /// "Issuer/platform-ca"
    pub issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_after: Option<jiff::Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub renewal_time: Option<jiff::Timestamp>,
    pub dns_names: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RenewalDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
    context: &'a str,
    /// The namespace, or "N namespaces" (each certificate names its own).
    scope: &'a str,
    certificates: &'a [RenewalSummary],
    workloads: &'a [Consumer],
}

/// The plan of `rotate` for Secrets cert-manager issues: renew them, then restart only what does
/// not reload them.
pub fn renewal_plan(
    context: &str,
    scope: &str,
    summaries: &[RenewalSummary],
    consumers: &[Consumer],
    strategy: &Strategy,
    output: OutputFormat,
) -> Result<()> {
    if matches!(
        output,
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns
    ) {
        let doc = RenewalDocument {
            api_version: "kubectl-secrets.io/v1",
            kind: "RenewalPlan",
            context,
            scope,
            certificates: summaries,
            workloads: consumers,
        };
        return super::print_structured(&doc, output);
    }
    let several_namespaces = summaries.iter().any(|s| s.namespace != summaries[0].namespace);
    let mut headers = vec![
        "SECRET",
        "CERTIFICATE",
        "ISSUER",
        "REVISION",
        "SERIAL",
        "EXPIRES",
        "RENEWAL DUE",
    ];
    if several_namespaces {
        headers.insert(0, "NAMESPACE");
    }
    let mut facts = table(&headers);
    let or_dash = |value: Option<String>| value.unwrap_or_else(|| "-".into());
    for summary in summaries {
        let mut row = vec![
            clean_line(&summary.secret),
            clean_line(&summary.certificate),
            clean_line(&summary.issuer),
            or_dash(summary.revision.map(|r| r.to_string())),
            or_dash(summary.serial.clone()),
            or_dash(summary.not_after.map(|t| t.to_string())),
            or_dash(summary.renewal_time.map(|t| t.to_string())),
        ];
        if several_namespaces {
            row.insert(0, clean_line(&summary.namespace));
        }
        facts.add_row(row);
    }
    let what = match summaries {
        [one] => format!("the certificate in Secret {}", clean_line(&one.secret)),
        many => format!("{} certificates", many.len()),
    };
    let mut text = format!(
        "Plan for {} in cluster {context}: renew {what} (cert-manager issues them; the plugin never writes \
         them)\n\n",
        if several_namespaces {
            scope.to_string()
        } else {
            format!("namespace {scope}")
        }
    );
    text.push_str(&table_lines(&facts));
    text.push('\n');
    text.push_str(&consumers_text(consumers, strategy));
    text.push_str(&steps_text(
        "ask cert-manager to issue each again (as `cmctl renew` does), wait for the new certificate in its Secret",
        "stop and say why (a failed issuance leaves the current certificate in place and restarts nothing for \
         it; an issued certificate cannot be un-issued)",
        consumers,
        strategy,
    ));
    write_stdout(&text)
}

/// The consumers and what the change does with each.
fn consumers_text(consumers: &[Consumer], strategy: &Strategy) -> String {
    let mut text = String::new();
    if consumers.is_empty() {
        text.push_str("No workload in the namespace reads these Secrets.\n");
    } else {
        let mut workloads = table(&["WORKLOAD", "ACTION", "READS"]);
        for c in consumers {
            let action = match (&c.action, strategy.restart) {
                (ConsumerAction::Restart, true) => "restart".to_string(),
                (ConsumerAction::Restart, false) => {
                    "not restarted (--no-restart): will run with old values".to_string()
                }
                (ConsumerAction::AutoUpdates, _) => "none: the mounted files update in place".to_string(),
                (ConsumerAction::Issuer, _) => {
                    "none: the issuer (the password changes at this server, first)".to_string()
                }
                (ConsumerAction::FirstStartOnly, _) => {
                    "none: the database reads it only when its data is first made; the password changes at the server"
                        .to_string()
                }
                (ConsumerAction::Unaffected { reads }, _) if reads.is_empty() => {
                    "none: reads no key that changes (--restart-all restarts it)".to_string()
                }
                (ConsumerAction::Unaffected { reads }, _) => format!(
                    "none: reads only {}, unchanged (--restart-all restarts it)",
                    reads.iter().cloned().collect::<Vec<_>>().join(", ")
                ),
                (ConsumerAction::ReplaceByHand { hint }, _) => hint.clone(),
                (ConsumerAction::NextRun { at: Some(at), .. }, _) => {
                    format!("none: its next run, at {at}, reads the new values")
                }
                (ConsumerAction::NextRun { note, .. }, _) => format!(
                    "none: its next run reads the new values ({})",
                    note.as_deref().unwrap_or("when is not known")
                ),
            };
            workloads.add_row(vec![
                c.id.to_string(),
                action,
                c.secrets.iter().cloned().collect::<Vec<_>>().join(", "),
            ]);
        }
        text.push_str(&table_lines(&workloads));
    }
    text
}

/// "Steps: WRITE, restart N workloads ..., verify; on failure UNDO."
fn steps_text(write: &str, undo: &str, consumers: &[Consumer], strategy: &Strategy) -> String {
    let mut text = String::new();
    let restarts = consumers.iter().filter(|c| c.action == ConsumerAction::Restart).count();
    let parallel = match (strategy.max_parallel, strategy.batch_interval) {
        (Some(n), Some(interval)) => format!(
            "in batches of {n}, each {} after the previous one is complete",
            humantime::format_duration(interval)
        ),
        (Some(n), None) => format!("at most {n} at a time"),
        (None, _) => "all at once".into(),
    };
    text.push_str(&format!("\nSteps: {write}"));
    if strategy.restart && restarts > 0 {
        text.push_str(&format!(
            ", restart {} {parallel}, wait up to {} for the rollouts{}, verify; on failure {undo}.\n",
            plural(restarts, "workload"),
            humantime::format_duration(strategy.timeout),
            if strategy.batch_interval.is_some() {
                " of each batch"
            } else {
                ""
            }
        ));
    } else {
        text.push_str(".\n");
    }
    text
}

/// One Secret of an interrupted change: where it stands and what resuming or undoing does.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecoveryRow {
    pub secret: String,
    pub state: String,
    pub action: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecoveryWorkload {
    workload: String,
    action: &'static str,
}

/// The plan of `--resume` / `--abort`, shown (and confirmed) before anything is done.
pub fn recovery(
    namespace: &str,
    journal: &Journal,
    resume: bool,
    rows: &[RecoveryRow],
    targets: &[RestartTarget],
    output: OutputFormat,
) -> Result<()> {
    let workloads: Vec<RecoveryWorkload> = targets
        .iter()
        .map(|t| RecoveryWorkload {
            workload: t.id.to_string(),
            action: if t.restarted_since.is_some() {
                "await its rollout (already restarted by this change)"
            } else {
                "restart"
            },
        })
        .collect();
    let choice = if resume { "resume" } else { "abort" };
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document(
                "RecoveryPlan",
                &serde_json::json!({
                    "namespace": namespace,
                    "rotationId": journal.id,
                    "action": journal.action,
                    "phase": journal.phase,
                    "startedAt": journal.started_at,
                    "startedBy": super::clean(&journal.holder.by),
                    "choice": choice,
                    "secrets": rows,
                    "workloads": workloads,
                }),
                output,
            )
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let mut text = format!(
                "Plan to {} {} {} in namespace {namespace} (started {} by {})\n\n",
                match (resume, journal.renewal.is_some()) {
                    (true, _) => "finish",
                    // A certificate is never un-issued: an abort of a renewal stops it.
                    (false, true) => "stop",
                    (false, false) => "undo",
                },
                super::clean_line(&journal.action),
                super::clean_line(&journal.id),
                journal.started_at,
                super::clean_line(&journal.holder.by)
            );
            let mut secrets = table(&["SECRET", "NOW", "ACTION"]);
            for row in rows {
                secrets.add_row(vec![
                    super::clean_line(&row.secret),
                    super::clean_line(&row.state),
                    super::clean_line(&row.action),
                ]);
            }
            text.push_str(&table_lines(&secrets));
            text.push('\n');
            if workloads.is_empty() {
                text.push_str("No workload to restart.\n");
            } else {
                let mut t = table(&["WORKLOAD", "ACTION"]);
                for w in &workloads {
                    t.add_row(vec![w.workload.clone(), w.action.to_string()]);
                }
                text.push_str(&table_lines(&t));
            }
            write_stdout(&text)
        }
    }
}

/// The end of a change across clusters (`what`: "rotation", "rollback"): each cluster, its
/// wave, and how its part ended; for a rotation that did not finish, how to undo it.
pub fn fleet_summary(rows: &[ClusterRow], secret: &str, what: &str) {
    let mut t = super::table(&["WAVE", "CONTEXT", "RESULT"]);
    for row in rows {
        let result = match &row.outcome {
            ClusterOutcome::Rotated => coloured("done and verified", Color::Green),
            ClusterOutcome::NotVerified => coloured("done; some consumers run older values (verify)", Color::Yellow),
            // A rollback that failed left its journal: say so apart from one that restored.
            ClusterOutcome::Failed { code, reason } if *code == crate::error::exit::ROLLED_BACK => coloured(
                &format!("failed and rolled back (exit {code}): {}", super::clean_line(reason)),
                Color::Yellow,
            ),
            ClusterOutcome::Failed { code, reason } if *code == crate::error::exit::ROLLBACK_FAILED => coloured(
                &format!(
                    "failed, ROLLBACK FAILED (exit {code}), journal kept: kubectl secrets rotate {secret} --context {} --abort: {}",
                    row.context,
                    super::clean_line(reason)
                ),
                Color::Red,
            ),
            ClusterOutcome::Failed { code, reason } => {
                coloured(&format!("failed (exit {code}): {}", super::clean_line(reason)), Color::Red)
            }
            ClusterOutcome::NotStarted => Cell::new("not started"),
        };
        t.add_row(vec![Cell::new(&row.wave), Cell::new(&row.context), result]);
    }
    super::write_stderr(&format!(
        "\nThe {what} of {secret} across clusters:\n{}\n",
        super::table_lines(&t)
    ));
    let done: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.outcome, ClusterOutcome::Rotated | ClusterOutcome::NotVerified))
        .map(|r| r.context.as_str())
        .collect();
    if what == "rotation" && !done.is_empty() && rows.iter().any(|r| r.outcome != ClusterOutcome::Rotated) {
        super::write_stderr(&format!(
            "Rotated clusters keep the new values; to undo them: kubectl secrets rollback {secret} --contexts {} (with -n as here)\n",
            done.join(" --contexts ")
        ));
    }
}
