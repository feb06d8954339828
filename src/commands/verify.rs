use super::Outcome;
use crate::cli::VerifyArgs;
use crate::context::Context;
use crate::core::drift::{self, Options};
use crate::core::env::EnvNamePolicy;
use crate::error::{Error, Result};
use crate::kube::{self, Scope};
use crate::render;

pub async fn run(ctx: &Context, args: &VerifyArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let scope = ctx.scope(&conn);
    let (snapshot, minor) = tokio::try_join!(
        kube::snapshot::read(&conn, &scope, ctx.global.selector.as_deref()),
        kube::server_minor_version(&conn)
    )?;
    let options = Options {
        policy: EnvNamePolicy::for_server_minor(minor),
        secret: args.secret.as_deref(),
        report_unused: args.secret.is_none() && ctx.global.selector.is_none(),
    };
    let report = drift::assess(&snapshot, &options);
    if let (Some(name), Scope::Namespace(namespace)) = (&args.secret, &scope) {
        let exists = snapshot.secrets.iter().any(|s| &s.name == name);
        if !exists && report.workloads.is_empty() {
            return Err(Error::SecretNotFound {
                namespace: namespace.clone(),
                name: name.clone(),
            });
        }
    }
    render::verify::report(&report, ctx.output(), matches!(scope, Scope::AllNamespaces))?;
    Ok(if report.has_drift() {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}
