use jiff::{SignedDuration, Timestamp};

use super::Outcome;
use crate::cli::{AuditArgs, FailOn};
use crate::context::Context;
use crate::domain::audit::{self, AuditOptions, AuditReport, Severity};
use crate::domain::fleet::FleetReport;
use crate::domain::secret_value::Fingerprinter;
use crate::error::Result;
use crate::{cluster, render};

pub async fn run(ctx: &Context, args: &AuditArgs) -> Result<Outcome> {
    let show_namespace = ctx.global.all_namespaces;
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        let entries = super::fleet::run(ctx, &fleet, |conn| async move { audit(ctx, args, &conn).await }).await;
        let report = FleetReport::new("audit", entries);
        render::audit::fleet(&report, ctx.output(), show_namespace)?;
        return Ok(Outcome::Code(report.summary.exit_code));
    }
    let conn = ctx.connect().await?;
    let (report, outcome) = audit(ctx, args, &conn).await?;
    render::audit::findings(&report.findings, ctx.output(), show_namespace)?;
    Ok(outcome)
}

/// One cluster's findings, and whether any is at or above --fail-on.
async fn audit(ctx: &Context, args: &AuditArgs, conn: &cluster::Connection) -> Result<(AuditReport, Outcome)> {
    let scope = ctx.scope(conn);
    let ((snapshot, values), minor) = tokio::try_join!(
        cluster::snapshot::read_with_values(conn, &scope),
        cluster::server_minor_version(conn)
    )?;
    let report = super::assess(&snapshot, minor, true);
    let options = AuditOptions {
        now: Timestamp::now(),
        max_age: args.max_age.and_then(|d| SignedDuration::try_from(d).ok()),
        cert_expiry: SignedDuration::try_from(args.cert_expiry).unwrap_or(SignedDuration::MAX),
        policy: crate::domain::env::EnvNamePolicy::for_server_minor(minor),
    };
    let mut snapshot = snapshot;
    if options.max_age.is_some() {
        snapshot.vault_kv = cluster::vault::all_agent_paths(&snapshot).await;
    }
    let mut findings = audit::audit(
        &snapshot,
        &report,
        &values,
        &Fingerprinter::new(rand::random()),
        &options,
    );
    drop(values);
    findings.extend(audit::vault_age_findings(&snapshot, &options));
    findings.extend(audit::vault_findings(
        &cluster::vault::kept_versions(conn, &snapshot).await,
    ));
    audit::sort(&mut findings);
    let threshold = match args.fail_on {
        FailOn::Info => Severity::Info,
        FailOn::Warning => Severity::Warning,
        FailOn::Critical => Severity::Critical,
    };
    let outcome = if findings.iter().any(|f| f.severity >= threshold) {
        Outcome::Found
    } else {
        Outcome::Clean
    };
    Ok((AuditReport { findings }, outcome))
}
