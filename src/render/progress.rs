//! Live progress of concurrent rollouts on stderr: one bar per workload and an overall bar on
//! a terminal, one line per change of state otherwise.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::plural;
use crate::domain::model::WorkloadId;
use crate::domain::rollout::RolloutState;

/// Live progress of concurrent rollouts on stderr: one bar per workload and an overall bar on
/// a terminal, one line per change of state otherwise.
pub struct RolloutProgress {
    bars: Option<(
        MultiProgress,
        BTreeMap<WorkloadId, ProgressBar>,
        ProgressBar,
        ProgressStyle,
    )>,
    last_line: BTreeMap<WorkloadId, String>,
    started: Instant,
    done: usize,
}

impl RolloutProgress {
    pub fn new(title: &str, targets: &[WorkloadId]) -> Self {
        super::step(title);
        let started = Instant::now();
        // Bars of clusters rotating at once would draw over each other: lines then.
        if !std::io::stderr().is_terminal() || super::among_clusters() {
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
            "{{prefix:<{width}}} [{{bar:24}}] {{pos}}/{{len}} {{elapsed:>4}} {{wide_msg}}"
        ))
        .expect("valid template")
        .progress_chars("=> ");
        // Until its rollout reports how many pods it wants, a bar is drawn empty (indicatif
        // draws a bar of length 0 full, which would read as done).
        let unknown = ProgressStyle::with_template(&format!(
            "{{prefix:<{width}}} [{:24}] -/- {{elapsed:>4}} {{wide_msg}}",
            ""
        ))
        .expect("valid template");
        let bars = targets
            .iter()
            .map(|t| {
                let bar = multi.add(
                    ProgressBar::new(0)
                        .with_style(unknown.clone())
                        .with_prefix(t.to_string()),
                );
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
            bars: Some((multi, bars, overall, style)),
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
            RolloutState::Paused { reason } => format!("paused: {reason}"),
        };
        // A waiting reason comes from the cluster: no control character reaches the terminal.
        let line = super::clean(&line);
        if self.last_line.get(id) == Some(&line) {
            return;
        }
        self.last_line.insert(id.clone(), line.clone());
        if state.is_terminal() {
            self.done += 1;
        }
        match &self.bars {
            None => super::step(&format!(
                "  {id}: {line} ({:.1}s)",
                self.started.elapsed().as_secs_f64()
            )),
            Some((_, bars, overall, style)) => {
                let Some(bar) = bars.get(id) else { return };
                if matches!(state, RolloutState::Progressing { .. } | RolloutState::Complete { .. }) {
                    bar.set_style(style.clone());
                }
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
                    RolloutState::Failed { .. } | RolloutState::NotAwaited { .. } | RolloutState::Paused { .. } => {
                        bar.abandon_with_message(line)
                    }
                }
                overall.set_position(self.done as u64);
            }
        }
    }

    /// A line between the bars (or among the progress lines).
    pub fn note(&self, text: &str) {
        let text = super::clean(text);
        match &self.bars {
            Some((multi, _, _, _)) => {
                let _ = multi.println(format!("  {text}"));
            }
            None => super::step(&format!("  {text} ({:.1}s)", self.started.elapsed().as_secs_f64())),
        }
    }

    pub fn finish(&self) {
        if let Some((_, bars, overall, _)) = &self.bars {
            for bar in bars.values().filter(|b| !b.is_finished()) {
                bar.abandon();
            }
            overall.finish();
        }
    }
}
