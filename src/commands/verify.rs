use std::collections::{BTreeMap, BTreeSet};

use super::Outcome;
use crate::cli::{ChangeArgs, OutputFormat, VerifyArgs};
use crate::cluster::{self, Connection, Scope};
use crate::context::Context;
use crate::domain::drift::{self, Options, Snapshot, VerifyReport};
use crate::domain::env::EnvNamePolicy;
use crate::domain::fleet::FleetReport;
use crate::engine;
use crate::error::{Error, Result};
use crate::render;

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<Outcome> {
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        if args.watch {
            return Err(Error::Usage(
                "verify --watch follows one cluster: run it with --context CONTEXT (one per terminal)".into(),
            ));
        }
        if args.fix {
            return Err(Error::Usage(
                "verify --fix restarts workloads in one cluster at a time: run it with --context CONTEXT".into(),
            ));
        }
        let entries = super::fleet::run(ctx, &fleet, |conn| async move {
            let scope = ctx.scope(&conn);
            let (_, report) = assess(ctx, args, &conn, &scope).await?;
            let outcome = outcome(&report);
            Ok((report, outcome))
        })
        .await;
        let report = FleetReport::new("verify", entries);
        render::verify::fleet(&report, ctx.output(), ctx.global.all_namespaces)?;
        return Ok(Outcome::Code(report.summary.exit_code));
    }
    let conn = ctx.connect().await?;
    let scope = ctx.scope(&conn);
    if args.watch {
        return watch(ctx, args, &conn, &scope).await;
    }
    let (snapshot, mut report) = assess(ctx, args, &conn, &scope).await?;
    said_before(&conn, &mut report, !ctx.global.dry_run.any());
    if let (Some(name), Scope::Namespace(namespace)) = (&args.secret, &scope) {
        let exists = snapshot.secrets.iter().any(|s| &s.name == name);
        if !exists && report.workloads.is_empty() {
            return Err(Error::SecretNotFound {
                namespace: namespace.clone(),
                name: name.clone(),
            });
        }
    }
    render::verify::report(&report, ctx.output(), &scope)?;
    if args.fix {
        return fix(ctx, args, &conn, &scope, &snapshot, &report).await;
    }
    Ok(outcome(&report))
}

fn outcome(report: &VerifyReport) -> Outcome {
    if report.has_drift() {
        Outcome::Found
    } else {
        Outcome::Clean
    }
}

/// Changes that arrive this close together are shown as one (a rollout moves many objects).
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// `--watch`: the verdict from the watches' view of the scope, shown again whenever a watch
/// changes it; Ctrl-C ends it with the last verdict's exit code.
async fn watch(ctx: &Context, args: &VerifyArgs, conn: &Connection, scope: &Scope) -> Result<Outcome> {
    let selector = ctx.global.selector.as_deref();
    let minor = cluster::server_minor_version(conn).await?;
    let mut live = cluster::live::Live::start(conn, scope, selector).await?;
    let options = options(ctx, args, minor);
    let mut view = render::verify::WatchView::new(ctx.output(), scope.clone());
    crate::CTRL_C_ENDS_COMMAND.store(true, std::sync::atomic::Ordering::SeqCst);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    let mut last: Option<VerifyReport> = None;
    let mut due: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep_until(due.unwrap_or_else(tokio::time::Instant::now)), if due.is_some() => {
                due = None;
                if !live.ready() {
                    continue;
                }
                let snapshot = live.snapshot();
                // As without --watch: a namespace that does not exist is not an empty one.
                if last.is_none() && snapshot.secrets.is_empty() && snapshot.workloads.is_empty() {
                    cluster::require_namespace(conn, scope).await?;
                }
                if let (Some(name), Scope::Namespace(namespace), None) = (&args.secret, scope, &last) {
                    if !snapshot.secrets.iter().any(|s| &s.name == name) {
                        return Err(Error::SecretNotFound { namespace: namespace.clone(), name: name.clone() });
                    }
                }
                let report = drift::assess(&snapshot, &options);
                view.show(&report, jiff::Timestamp::now())?;
                last = Some(report);
            }
            next = live.next() => match next {
                None => {
                    return Err(Error::Api {
                        action: format!("watch {}", scope.describe()),
                        message: "the watches ended".into(),
                    })
                }
                // The watch retries with backoff; a passing outage only delays the next verdict.
                Some(Err(trouble)) => render::warning(&format!("watching: {trouble} (retrying)")),
                Some(Ok(true)) => {
                    due.get_or_insert_with(|| tokio::time::Instant::now() + SETTLE);
                }
                Some(Ok(false)) => {}
            }
        }
    }
    crate::CTRL_C_ENDS_COMMAND.store(false, std::sync::atomic::Ordering::SeqCst);
    render::step("Stopped watching.");
    Ok(last.as_ref().map_or(Outcome::Clean, outcome))
}

fn options<'a>(ctx: &Context, args: &'a VerifyArgs, minor: u32) -> Options<'a> {
    let selector = ctx.global.selector.as_deref();
    Options {
        policy: EnvNamePolicy::for_server_minor(minor),
        secret: args.secret.as_deref(),
        report_unused: args.secret.is_none() && selector.is_none(),
        // The table lists workloads that read no Secret only when asked for (wide, or named
        // by a selector); JSON and YAML list every workload.
        list_without_secrets: selector.is_some() || !matches!(ctx.output(), OutputFormat::Table),
    }
}

async fn assess(
    ctx: &Context,
    args: &VerifyArgs,
    conn: &Connection,
    scope: &Scope,
) -> Result<(Snapshot, VerifyReport)> {
    let selector = ctx.global.selector.as_deref();
    let (mut snapshot, minor) = tokio::try_join!(
        cluster::snapshot::read(conn, scope, selector),
        cluster::server_minor_version(conn)
    )?;
    snapshot.vault_kv = cluster::vault::agent_paths(&snapshot).await;
    let report = drift::assess(&snapshot, &options(ctx, args, minor));
    Ok((snapshot, report))
}

/// `--fix`: restart every restartable workload that runs with stale values (through the change
/// engine, which checks permissions, asks, restarts and waits), then verify again.
async fn fix(
    ctx: &Context,
    args: &VerifyArgs,
    conn: &Connection,
    scope: &Scope,
    snapshot: &Snapshot,
    report: &VerifyReport,
) -> Result<Outcome> {
    let plan = drift::fix_plan(report, snapshot);
    render::verify::fix_plan(&plan, ctx.output())?;
    if plan.restart.is_empty() {
        return Ok(outcome(report));
    }
    let change = ChangeArgs {
        no_restart: false,
        restart_all: false,
        max_parallel: args.max_parallel,
        batch_interval: None,
        timeout: args.timeout,
        keep_backups: 1,
        allow_gitops_drift: false,
        leave_on_delete: args.leave_on_delete,
        promote: args.promote,
        remotes: Vec::new(),
        allow_shared_remote: false,
        // Stale pods are what --fix is for: it restarts them whenever it is asked to.
        min_restart_interval: std::time::Duration::ZERO,
        max_restarts: None,
    };
    let settings = engine::Settings::new("verify --fix", &change, conn).await;
    if !engine::restart_stale(conn, ctx.consent(), &settings, &plan.restart).await? {
        return Ok(outcome(report));
    }
    // Old pods still terminating hold the old values: judged only once they are gone.
    let mut changed: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for workload in &report.workloads {
        let stale = workload.findings.iter().filter(|f| f.status == drift::Status::Stale);
        changed
            .entry(workload.namespace.as_str())
            .or_default()
            .extend(stale.map(|f| f.secret.clone()));
    }
    changed.retain(|_, secrets| !secrets.is_empty());
    for (namespace, secrets) in &changed {
        engine::read_after_leaving_pods(conn, namespace, secrets, &settings).await?;
    }
    render::step("After the restart:");
    let (_, mut after) = assess(ctx, args, conn, scope).await?;
    said_before(conn, &mut after, !ctx.global.dry_run.any());
    render::verify::report(&after, ctx.output(), scope)?;
    Ok(outcome(&after))
}

/// "Safe to revoke" is said once per rotation: a change says it and records it on the Secret;
/// when verify is the first to find it safe, it remembers that in the user's state folder
/// (`$XDG_STATE_HOME/kubectl-secrets/revocations-said`: a cluster key, the Secret's name and
/// the revision; no value) and does not say it again on this machine. `remember`: false under
/// --dry-run, which writes no file (what was said before still counts).
fn said_before(conn: &Connection, report: &mut VerifyReport, remember: bool) {
    use sha2::Digest as _;
    let Some(path) = std::env::var_os("XDG_STATE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".local/state")))
        .map(|base| base.join("kubectl-secrets").join("revocations-said"))
    else {
        return;
    };
    let cluster = hex::encode(&sha2::Sha256::digest(format!("{}\n{}", conn.server, conn.ca_fingerprint))[..8]);
    let known = std::fs::read_to_string(&path).unwrap_or_default();
    let mut lines: Vec<String> = known.lines().map(str::to_string).collect();
    let mut added = false;
    for r in report.revocation.iter_mut().filter(|r| r.safe && !r.already_said) {
        let line = format!("{cluster} {}/{} {}", r.namespace, r.secret, r.revision);
        if lines.contains(&line) {
            r.already_said = true;
        } else {
            lines.push(line);
            added = true;
        }
    }
    if added && remember {
        // The newest few thousand are enough to not repeat a recent rotation's.
        let keep = lines.len().saturating_sub(2000);
        let text = lines[keep..].join("\n") + "\n";
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = crate::files::write_atomically(&path, text.as_bytes(), crate::files::Access::AsBefore);
    }
}
