//! Output of `rotate`: the plan (values shown as length and per-run fingerprint only), live
//! rollout progress on stderr, and the outcome.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::{plural, print_json, print_yaml, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::core::consumers::{Consumer, ConsumerAction};
use crate::core::model::WorkloadId;
use crate::core::plan::{ChangeKind, SecretChange};
use crate::core::rollout::RolloutState;
use crate::core::secret_value::{Fingerprinter, SecretValue};
use crate::error::Result;

/// How the plan will be carried out, for the summary line.
pub struct Strategy {
    pub max_parallel: Option<u16>,
    pub timeout: Duration,
    pub restart: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlanDocument<'a> {
    api_version: &'static str,
    kind: &'static str,
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

fn describe_change(kind: &ChangeKind) -> String {
    match kind {
        ChangeKind::Rotated { how } => format!("rotated ({how})"),
        ChangeKind::Propagated { from_key, encoding } => format!("embeds {from_key}: replaced {}", encoding.describe()),
        ChangeKind::KeptPrevious { of } => format!("previous value of {of}"),
        ChangeKind::Restored { revision } => format!("restored from revision {revision}"),
        ChangeKind::Set => "set to the value given with --set".to_string(),
        ChangeKind::AddedVersion { after, how } => format!("new version beside {after} ({how})"),
        ChangeKind::Pointer { to } => format!("moved to {to}"),
        ChangeKind::Retired { by } => format!("old version removed ({by} has taken over)"),
    }
}

pub fn plan(
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
                    change: describe_change(&k.kind),
                    before: k.old.as_ref().map(|v| masked(v, fp)),
                    after: k.new.as_ref().map(|v| masked(v, fp)),
                })
                .collect(),
        })
        .collect();
    match output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let doc = PlanDocument {
                api_version: "kubectl-secrets.io/v1",
                kind: "RotationPlan",
                namespace,
                secrets,
                workloads: consumers,
            };
            if output == OutputFormat::Json {
                print_json(&doc)
            } else {
                print_yaml(&doc)
            }
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus => {
            let last_applied: Vec<String> = changes
                .iter()
                .filter(|c| c.before.has_last_applied)
                .map(|c| c.name().to_string())
                .collect();
            write_stdout(&plan_text(namespace, &secrets, &last_applied, consumers, strategy))
        }
    }
}

fn show(m: Option<&Masked>) -> String {
    m.map(|m| format!("{} bytes, {}", m.length, m.fingerprint))
        .unwrap_or_else(|| "(absent)".into())
}

fn plan_text(
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
        "Plan for namespace {namespace} (values shown as length and a fingerprint valid for this run only)\n\n"
    );
    text.push_str(&table_lines(&keys));
    text.push('\n');
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
                (ConsumerAction::ReplaceByHand { hint }, _) => hint.clone(),
            };
            workloads.add_row(vec![
                c.id.to_string(),
                action,
                c.secrets.iter().cloned().collect::<Vec<_>>().join(", "),
            ]);
        }
        text.push_str(&table_lines(&workloads));
    }
    if !changes_with_last_applied.is_empty() {
        text.push_str(&format!(
            "\nAlso removes kubectl's last-applied-configuration annotation from {}: it holds the old values.\n",
            changes_with_last_applied.join(", ")
        ));
    }
    let restarts = consumers.iter().filter(|c| c.action == ConsumerAction::Restart).count();
    let parallel = strategy
        .max_parallel
        .map(|n| format!("at most {n} at a time"))
        .unwrap_or_else(|| "all at once".into());
    text.push_str(&format!(
        "\nSteps: back up {} (kept as backup Secrets), write {} with a resourceVersion check",
        plural(secrets.len(), "Secret"),
        if secrets.len() == 1 { "it" } else { "them" }
    ));
    if strategy.restart && restarts > 0 {
        text.push_str(&format!(
            ", restart {} {parallel}, wait up to {} for the rollouts, verify; on failure restore the previous data and restart again.\n",
            plural(restarts, "workload"),
            humantime::format_duration(strategy.timeout)
        ));
    } else {
        text.push_str(".\n");
    }
    text
}

/// Live progress of concurrent rollouts on stderr: one bar per workload and an overall bar on
/// a terminal, one line per change of state otherwise.
pub struct RolloutProgress {
    bars: Option<(MultiProgress, BTreeMap<WorkloadId, ProgressBar>, ProgressBar)>,
    last_line: BTreeMap<WorkloadId, String>,
    started: Instant,
    done: usize,
}

impl RolloutProgress {
    pub fn new(title: &str, targets: &[WorkloadId]) -> Self {
        eprintln!("{title}");
        let started = Instant::now();
        if !std::io::stderr().is_terminal() {
            return RolloutProgress {
                bars: None,
                last_line: BTreeMap::new(),
                started,
                done: 0,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let width = targets.iter().map(|t| t.to_string().len()).max().unwrap_or(10);
        let style = ProgressStyle::with_template(&format!(
            "{{prefix:<{width}}} [{{bar:24}}] {{pos}}/{{len}} {{elapsed:>4}} {{msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> ");
        let bars = targets
            .iter()
            .map(|t| {
                let bar = multi.add(ProgressBar::new(0).with_style(style.clone()).with_prefix(t.to_string()));
                bar.set_message("restarting");
                (t.clone(), bar)
            })
            .collect();
        let overall_style = ProgressStyle::with_template("{prefix} [{bar:24}] {pos}/{len} workloads {elapsed:>4}")
            .expect("valid template")
            .progress_chars("=> ");
        let overall = multi.add(
            ProgressBar::new(targets.len() as u64)
                .with_style(overall_style)
                .with_prefix(format!("{:<width$}", "all")),
        );
        RolloutProgress {
            bars: Some((multi, bars, overall)),
            last_line: BTreeMap::new(),
            started,
            done: 0,
        }
    }

    pub fn update(&mut self, id: &WorkloadId, state: &RolloutState) {
        let line = match state {
            RolloutState::Progressing {
                desired,
                updated,
                ready,
                available,
                waiting_for,
            } => {
                format!("{updated}/{desired} updated, {ready} ready, {available} available: waiting for {waiting_for}")
            }
            RolloutState::Complete { desired } => {
                format!("complete: {} updated and available", plural(*desired as usize, "pod"))
            }
            RolloutState::Failed { reason } => format!("FAILED: {reason}"),
            RolloutState::NotAwaited { reason } => format!("not awaited: {reason}"),
        };
        if self.last_line.get(id) == Some(&line) {
            return;
        }
        self.last_line.insert(id.clone(), line.clone());
        if state.is_terminal() {
            self.done += 1;
        }
        match &self.bars {
            None => eprintln!("  {id}: {line} ({:.1}s)", self.started.elapsed().as_secs_f64()),
            Some((_, bars, overall)) => {
                let Some(bar) = bars.get(id) else { return };
                if let RolloutState::Progressing {
                    desired,
                    updated,
                    ready,
                    ..
                } = state
                {
                    bar.set_length(*desired as u64);
                    bar.set_position((*updated).min(*ready).max(0) as u64);
                }
                match state {
                    RolloutState::Progressing { .. } => bar.set_message(line),
                    RolloutState::Complete { desired } => {
                        bar.set_length(*desired as u64);
                        bar.set_position(*desired as u64);
                        bar.finish_with_message(line);
                    }
                    RolloutState::Failed { .. } | RolloutState::NotAwaited { .. } => bar.abandon_with_message(line),
                }
                overall.set_position(self.done as u64);
            }
        }
    }

    pub fn finish(&self) {
        if let Some((_, bars, overall)) = &self.bars {
            for bar in bars.values().filter(|b| !b.is_finished()) {
                bar.abandon();
            }
            overall.finish();
        }
    }
}

/// One line on stderr about what the tool is doing.
pub fn step(message: &str) {
    eprintln!("{message}");
}
