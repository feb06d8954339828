use std::collections::BTreeMap;

use super::rollouts::{failures_of, restart_and_wait};
use super::Outcome;
use crate::cli::VerifyArgs;
use crate::context::Context;
use crate::core::drift::{self, Options, Snapshot, VerifyReport};
use crate::core::env::EnvNamePolicy;
use crate::core::rollout::RestartTarget;
use crate::error::{Error, Result};
use crate::kube::access::Permission;
use crate::kube::{self, Connection, Scope};
use crate::{prompt, render};

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let scope = ctx.scope(&conn);
    let (snapshot, report) = assess(ctx, args, &conn, &scope).await?;
    if let (Some(name), Scope::Namespace(namespace)) = (&args.secret, &scope) {
        let exists = snapshot.secrets.iter().any(|s| &s.name == name);
        if !exists && report.workloads.is_empty() {
            return Err(Error::SecretNotFound {
                namespace: namespace.clone(),
                name: name.clone(),
            });
        }
    }
    let show_namespace = matches!(scope, Scope::AllNamespaces);
    render::verify::report(&report, ctx.output(), show_namespace)?;
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

async fn assess(
    ctx: &Context,
    args: &VerifyArgs,
    conn: &Connection,
    scope: &Scope,
) -> Result<(Snapshot, VerifyReport)> {
    let selector = ctx.global.selector.as_deref();
    let (snapshot, minor) = tokio::try_join!(
        kube::snapshot::read(conn, scope, selector),
        kube::server_minor_version(conn)
    )?;
    let options = Options {
        policy: EnvNamePolicy::for_server_minor(minor),
        secret: args.secret.as_deref(),
        report_unused: args.secret.is_none() && selector.is_none(),
    };
    let report = drift::assess(&snapshot, &options);
    Ok((snapshot, report))
}

/// `--fix`: restart every restartable workload that runs with stale values, then verify again.
async fn fix(
    ctx: &Context,
    args: &VerifyArgs,
    conn: &Connection,
    scope: &Scope,
    snapshot: &Snapshot,
    report: &VerifyReport,
) -> Result<Outcome> {
    let plan = drift::fix_plan(report, snapshot);
    render::verify::fix_plan(&plan);
    if plan.restart.is_empty() {
        return Ok(outcome(report));
    }
    let mut by_namespace: BTreeMap<&str, Vec<RestartTarget>> = BTreeMap::new();
    for (id, revisions) in &plan.restart {
        by_namespace
            .entry(id.namespace.as_str())
            .or_default()
            .push((id.clone(), revisions.clone()));
    }
    for (namespace, targets) in &by_namespace {
        let mut needed = vec![Permission::new("watch", "", "pods")];
        for (id, _) in targets {
            let resource = kube::workloads::resource_of(id.kind);
            needed.push(Permission::new("patch", "apps", resource));
            needed.push(Permission::new("watch", "apps", resource));
        }
        kube::access::require(conn, namespace, &needed).await?;
    }
    if ctx.global.dry_run {
        render::rotate::step("Dry run: nothing was restarted.");
        return Ok(outcome(report));
    }
    if !prompt::confirm_change(ctx.global.yes, "Restart these workloads?")? {
        render::rotate::step("Cancelled: nothing was restarted.");
        return Ok(outcome(report));
    }
    let mut failed = Vec::new();
    for (namespace, targets) in &by_namespace {
        let title = format!("Restarting stale workloads in {namespace}:");
        let states = restart_and_wait(conn, namespace, targets, args.max_parallel, args.timeout, &title).await?;
        failed.extend(failures_of(&states));
    }
    if !failed.is_empty() {
        return Err(Error::Usage(format!(
            "the restart did not complete: {} (the Secrets were not changed; look at the pods, e.g. kubectl describe)",
            failed.join("; ")
        )));
    }
    render::rotate::step("After the restart:");
    let (_, after) = assess(ctx, args, conn, scope).await?;
    render::verify::report(&after, ctx.output(), matches!(scope, Scope::AllNamespaces))?;
    Ok(outcome(&after))
}
