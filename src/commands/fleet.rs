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
use crate::error::{Error, Result};
use crate::render::fleet::FleetProgress;

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
