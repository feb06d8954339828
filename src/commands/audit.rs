use jiff::{SignedDuration, Timestamp};

use super::Outcome;
use crate::cli::{AuditArgs, FailOn};
use crate::context::Context;
use crate::domain::audit::{self, AuditOptions, Severity};
use crate::domain::secret_value::Fingerprinter;
use crate::error::Result;
use crate::{cluster, render};

pub async fn run(ctx: &Context, args: &AuditArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let scope = ctx.scope(&conn);
    let ((snapshot, values), minor) = tokio::try_join!(
        cluster::snapshot::read_with_values(&conn, &scope),
        cluster::server_minor_version(&conn)
    )?;
    let report = super::assess(&snapshot, minor, true);
    let options = AuditOptions {
        now: Timestamp::now(),
        max_age: args.max_age.and_then(|d| SignedDuration::try_from(d).ok()),
        cert_expiry: SignedDuration::try_from(args.cert_expiry).unwrap_or(SignedDuration::MAX),
    };
    let findings = audit::audit(
        &snapshot,
        &report,
        &values,
        &Fingerprinter::new(rand::random()),
        &options,
    );
    drop(values);
    render::audit::findings(&findings, ctx.output(), matches!(scope, cluster::Scope::AllNamespaces))?;
    let threshold = match args.fail_on {
        FailOn::Info => Severity::Info,
        FailOn::Warning => Severity::Warning,
        FailOn::Critical => Severity::Critical,
    };
    Ok(if findings.iter().any(|f| f.severity >= threshold) {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}
