//! A read command across kubeconfig contexts (`--contexts PATTERN`, `--all-contexts`): one
//! client per context with its own credentials (never the current context implicitly), at most
//! `--max-clusters` at once, each bounded by `--cluster-timeout`; progress on stderr while they
//! answer; one entry per context, an unreachable or forbidden cluster being an entry with its
//! error, never an abort of the others.

use std::future::Future;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt as _;

use super::Outcome;
use crate::cli::FleetArgs;
use crate::cluster::{self, Connection};
use crate::context::Context;
use crate::domain::fleet::{self, ContextPattern, FleetEntry};
use crate::domain::waves::{self, ClusterOutcome, ClusterRow, Wave};
use crate::engine::{self, Settings};
use crate::error::exit;
use crate::error::{Error, Result};
use crate::render::{self, fleet::FleetProgress};

/// The contexts a command runs across.
pub struct Fleet {
    pub contexts: Vec<String>,
    max_clusters: usize,
    timeout: Duration,
}

/// The contexts selected by `--contexts`/`--all-contexts`; None without them (one cluster).
pub fn selected(ctx: &Context, args: &FleetArgs) -> Result<Option<Fleet>> {
    if args.contexts.is_empty() && !args.all_contexts {
        return Ok(None);
    }
    if let Some(context) = &ctx.global.context {
        return Err(Error::Usage(format!(
            "--context {context} selects one cluster and --contexts/--all-contexts several: give one of them"
        )));
    }
    let patterns: Vec<ContextPattern> = args
        .contexts
        .iter()
        .map(|p| p.parse())
        .collect::<std::result::Result<_, String>>()
        .map_err(Error::Usage)?;
    let names = cluster::client::contexts(ctx.global.kubeconfig.as_deref())?;
    let contexts = fleet::select(&names, &patterns, args.all_contexts).map_err(Error::Usage)?;
    Ok(Some(Fleet {
        contexts,
        max_clusters: usize::from(args.max_clusters),
        timeout: args.cluster_timeout,
    }))
}

/// Run `job` against every context of the fleet; the entries come back in the fleet's order.
pub async fn run<T, F, Fut>(ctx: &Context, fleet: &Fleet, job: F) -> Vec<FleetEntry<T>>
where
    F: Fn(Connection) -> Fut,
    Fut: Future<Output = Result<(T, Outcome)>>,
{
    let mut progress = FleetProgress::new(&fleet.contexts);
    let mut queue = fleet.contexts.iter().enumerate();
    let mut running = FuturesUnordered::new();
    let mut entries: Vec<Option<FleetEntry<T>>> = fleet.contexts.iter().map(|_| None).collect();
    let start = |index: usize, name: &String| {
        let name = name.clone();
        let job = &job;
        async move {
            let started = Instant::now();
            let conn = match ctx.connect_one_of_many(&name).await {
                Ok(conn) => conn,
                Err(error) => return (index, name, started.elapsed(), Err(error)),
            };
            let server = conn.server.clone();
            let answer = tokio::time::timeout(fleet.timeout, job(conn))
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Unreachable {
                        server: server.clone(),
                        reason: format!(
                            "no answer within {} (--cluster-timeout)",
                            humantime::format_duration(fleet.timeout)
                        ),
                    })
                })
                .map(|(report, outcome)| (server, report, outcome));
            (index, name, started.elapsed(), answer)
        }
    };
    for (index, name) in queue.by_ref().take(fleet.max_clusters) {
        running.push(start(index, name));
    }
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.tick().await;
    while !running.is_empty() {
        tokio::select! {
            Some((index, name, took, answer)) = running.next() => {
                let entry = match answer {
                    Ok((server, report, outcome)) => FleetEntry {
                        context: name,
                        server,
                        exit_code: outcome.exit_code(),
                        duration_ms: took.as_millis() as u64,
                        error: None,
                        report: Some(report),
                    },
                    Err(error) => FleetEntry {
                        context: name,
                        server: String::new(),
                        exit_code: error.exit_code(),
                        duration_ms: took.as_millis() as u64,
                        error: Some(error.to_string()),
                        report: None,
                    },
                };
                progress.answered(&entry.context, took, entry.exit_code, entry.error.as_deref());
                entries[index] = Some(entry);
                if let Some((index, name)) = queue.next() {
                    running.push(start(index, name));
                }
            }
            _ = tick.tick() => progress.still_waiting(),
        }
    }
    entries.into_iter().flatten().collect()
}

/// One cluster of a change across clusters, read and planned (not yet confirmed).
pub struct FleetMember {
    pub context: String,
    pub conn: Connection,
    pub namespace: String,
    pub settings: Settings,
    pub prepared: Option<engine::Prepared>,
}

/// One cluster's confirmed change, and how it ended (its position in the wave with it).
async fn rotate_one(
    member: &FleetMember,
    prepared: engine::Prepared,
    wave: &str,
    position: usize,
    among_others: bool,
) -> (usize, ClusterOutcome) {
    let context = member.context.clone();
    let work = async {
        render::step(&format!("\n== Rotating in {context} ({wave}) =="));
        match engine::run_prepared(&member.conn, &member.settings, prepared).await {
            Ok(Outcome::Clean) => ClusterOutcome::Rotated,
            Ok(_) => ClusterOutcome::NotVerified,
            Err(error) => {
                render::error(&error);
                ClusterOutcome::Failed {
                    code: error.exit_code(),
                    reason: error.to_string(),
                }
            }
        }
    };
    let outcome = if among_others {
        render::CLUSTER.scope(context.clone(), work).await
    } else {
        work.await
    };
    (position, outcome)
}

/// An error of one cluster, said with the cluster's name first.
pub fn named<T>(context: &str, result: Result<T>) -> Result<T> {
    if result.is_err() {
        crate::render::step(&format!("In cluster {context}:"));
    }
    result
}

/// Run confirmed changes wave by wave: each wave's clusters `parallel` at a time (their lines
/// headed by the cluster's name when more than one), each by its own change engine; more than `max_failures` failed clusters in a wave (or consumers found
/// running older values after the `bake`) stop the rest. Ends with a row per cluster; the exit
/// status is the worst cluster's.
#[allow(clippy::too_many_arguments)]
pub async fn run_changes(
    mut members: Vec<FleetMember>,
    waves: &[Wave],
    max_failures: usize,
    parallel: usize,
    bake: Option<Duration>,
    name: &str,
    what: &str,
) -> Result<Outcome> {
    let parallel = parallel.max(1);
    let mut rows: Vec<ClusterRow> = Vec::new();
    let mut stopped = false;
    for (index, wave) in waves.iter().enumerate() {
        if stopped {
            rows.extend(
                wave.contexts
                    .iter()
                    .map(|c| ClusterRow::new(&wave.name, c, ClusterOutcome::NotStarted)),
            );
            continue;
        }
        // The wave's clusters, up to `parallel` at once, each by its own engine; past
        // --max-failures no further cluster of the wave is started (results count as they come).
        let mut prepared: Vec<Option<engine::Prepared>> = wave
            .contexts
            .iter()
            .map(|context| {
                members
                    .iter_mut()
                    .find(|m| &m.context == context)
                    .expect("every cluster is a member")
                    .prepared
                    .take()
            })
            .collect();
        let mut outcomes: Vec<Option<ClusterOutcome>> = wave.contexts.iter().map(|_| None).collect();
        let mut failed = 0;
        let mut next = 0;
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < parallel && next < wave.contexts.len() && waves::may_continue(failed, max_failures) {
                let context = &wave.contexts[next];
                let member = members.iter().find(|m| &m.context == context).expect("member");
                let change = prepared[next].take().expect("planned once");
                running.push(rotate_one(member, change, &wave.name, next, parallel > 1));
                next += 1;
            }
            let Some((position, outcome)) = running.next().await else {
                break;
            };
            if !matches!(outcome, ClusterOutcome::Rotated) {
                failed += 1;
            }
            outcomes[position] = Some(outcome);
        }
        for (context, outcome) in wave.contexts.iter().zip(outcomes) {
            rows.push(ClusterRow::new(
                &wave.name,
                context,
                outcome.unwrap_or(ClusterOutcome::NotStarted),
            ));
        }
        let more = index + 1 < waves.len();
        if !waves::may_continue(failed, max_failures) {
            stopped = more;
            render::step(&format!(
                "{}: {} failed (--max-failures {}): {}",
                wave.name,
                render::plural(failed, "cluster"),
                max_failures,
                if more {
                    "the next waves are not started"
                } else {
                    "the rotation stops here"
                }
            ));
            continue;
        }
        if let (Some(bake), true) = (bake, more) {
            render::step(&format!(
                "{} verified; baking {} before the next wave",
                wave.name,
                humantime::format_duration(bake)
            ));
            tokio::time::sleep(bake).await;
            for context in &wave.contexts {
                let member = members.iter().find(|m| &m.context == context).expect("member");
                render::step(&format!("After the bake, in {context}:"));
                // A cluster that cannot be verified (unreachable, credentials revoked) stops the
                // waves like a stale one; the table below still says where every cluster stands.
                let verified =
                    match engine::verify_consumers(&member.conn, &member.namespace, name, &member.settings).await {
                        Ok(outcome) => outcome == Outcome::Clean,
                        Err(error) => {
                            render::error(&error);
                            false
                        }
                    };
                if !verified {
                    stopped = true;
                    if let Some(row) = rows.iter_mut().find(|r| &r.context == context) {
                        row.outcome = ClusterOutcome::NotVerified;
                    }
                }
            }
            if stopped {
                render::step(&format!(
                    "{}: consumers run with older values after the bake: the next waves are not started",
                    wave.name
                ));
            }
        }
    }
    render::rotate::fleet_summary(&rows, name, what);
    let code = rows.iter().map(ClusterRow::exit_code).max().unwrap_or(exit::OK);
    Ok(if code == exit::OK {
        Outcome::Clean
    } else {
        Outcome::Code(code)
    })
}
