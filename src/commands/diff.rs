use std::collections::BTreeMap;

use super::Outcome;
use crate::cli::DiffArgs;
use crate::cluster::{self, Scope};
use crate::context::Context;
use crate::domain::diff::{self, SecretDiff};
use crate::domain::manifest::{self, SecretSide};
use crate::domain::secret_value::Fingerprinter;
use crate::error::{Error, Result};
use crate::render;

pub async fn run(ctx: &Context, args: &DiffArgs) -> Result<Outcome> {
    // A file is read before connecting: a bad path fails without touching the cluster.
    let file = match &args.against {
        Some(path) => {
            let bytes = crate::files::read(path, "--against")?;
            Some(manifest::parse(&path.display().to_string(), &bytes).map_err(|e| Error::Usage(e.to_string()))?)
        }
        None => None,
    };
    let fingerprints = Fingerprinter::new(rand::random());
    let conn = ctx.connect().await?;
    if ctx.global.all_namespaces {
        let Some(other_context) = &args.to_context else {
            return Err(Error::Usage(
                "-A compares whole clusters: use it with --to-context CONTEXT".into(),
            ));
        };
        return all_secrets(ctx, &conn, other_context, &fingerprints, args.show_secret).await;
    }
    let namespace = ctx.namespace(&conn);
    let name = args.secret.clone().expect("clap requires SECRET without -A");
    let other_name = args.to_name.clone().unwrap_or_else(|| name.clone());
    let cluster_object = cluster::secrets::get_object(&conn, &namespace, &name).await?;
    let cluster = SecretSide::from_secret(format!("{}/{namespace}/{name}", conn.context), &cluster_object);
    let (other, environments) = if let Some(file) = file {
        (file, false)
    } else if let Some(other_namespace) = &args.to_namespace {
        let object = cluster::secrets::get_object(&conn, other_namespace, &other_name).await?;
        (
            SecretSide::from_secret(format!("{}/{other_namespace}/{other_name}", conn.context), &object),
            true,
        )
    } else if let Some(other_context) = &args.to_context {
        let other_conn = ctx.connect_to(Some(other_context.clone())).await?;
        // -n applies to both sides; without it each context uses its own namespace.
        let other_namespace = ctx
            .global
            .namespace
            .clone()
            .unwrap_or_else(|| other_conn.default_namespace.clone());
        let object = cluster::secrets::get_object(&other_conn, &other_namespace, &other_name).await?;
        (
            SecretSide::from_secret(format!("{other_context}/{other_namespace}/{other_name}"), &object),
            true,
        )
    } else if args.against_provider {
        let state = crate::domain::plan::SecretState::from(&cluster_object);
        let (description, data) = crate::engine::provider_data(&conn, &state).await?;
        let provider = crate::domain::plan::SecretState { data, ..state };
        (SecretSide::values_only(description, &provider), false)
    } else {
        let revision = args.revision.expect("clap requires one source");
        let (current, backups) = cluster::secrets::with_backups(&conn, &namespace, &name).await?;
        let backup = super::history::choose_backup(&current, &backups, Some(revision))?;
        (
            SecretSide::values_only(format!("revision {revision}"), &backup.state),
            false,
        )
    };
    let mut result = diff::diff(&cluster, &other, environments, &fingerprints);
    if args.against.is_some() && other.description.contains("(SealedSecret") {
        let owner = cluster_object
            .metadata
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true));
        let owner = owner.map(|o| crate::domain::model::OwnerRef {
            kind: o.kind.clone(),
            name: o.name.clone(),
        });
        let status = cluster::sealed::get(&conn, &namespace, &name).await?.map(|s| s.status);
        result
            .metadata
            .extend(diff::sealed_rows(&name, owner.as_ref(), status.as_ref()));
    }
    render::diff::report(&result, ctx.output())?;
    if args.show_secret {
        render::diff::changed_values(&result, &cluster, &other)?;
    }
    render::diff::reuse_warnings(&result);
    Ok(if result.identical() {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

/// `diff -A --to-context CTX`: every Secret present in both clusters, one paged LIST per side.
async fn all_secrets(
    ctx: &Context,
    conn: &cluster::Connection,
    other_context: &str,
    fp: &Fingerprinter,
    show_secret: bool,
) -> Result<Outcome> {
    let other_conn = ctx.connect_to(Some(other_context.to_string())).await?;
    let side = |context: String| {
        move |s: k8s_openapi::api::core::v1::Secret| {
            let key = (
                s.metadata.namespace.clone().unwrap_or_default(),
                s.metadata.name.clone().unwrap_or_default(),
            );
            let description = format!("{context}/{}/{}", key.0, key.1);
            (key, SecretSide::from_secret(description, &s))
        }
    };
    let (here, there) = tokio::try_join!(
        cluster::secrets::list_objects(conn, &Scope::AllNamespaces, side(conn.context.clone())),
        cluster::secrets::list_objects(&other_conn, &Scope::AllNamespaces, side(other_context.to_string()))
    )?;
    let there: BTreeMap<_, _> = there.into_iter().filter(|(_, s)| comparable(s)).collect();
    let mut diffs: Vec<SecretDiff> = Vec::new();
    for (key, cluster) in here.iter().filter(|(_, s)| comparable(s)) {
        if let Some(other) = there.get(key) {
            let result = diff::diff(cluster, other, true, fp);
            if show_secret {
                render::diff::changed_values(&result, cluster, other)?;
            }
            diffs.push(result);
        }
    }
    render::diff::many(&diffs, ctx.output())?;
    for result in &diffs {
        render::diff::reuse_warnings(result);
    }
    Ok(if diffs.iter().all(SecretDiff::identical) {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

/// Application Secrets: tokens, Helm releases and kubectl-secrets' backups differ by nature.
fn comparable(side: &SecretSide) -> bool {
    const SKIP_TYPES: [&str; 3] = [
        "kubernetes.io/service-account-token",
        "helm.sh/release.v1",
        "bootstrap.kubernetes.io/token",
    ];
    !side.type_.as_deref().is_some_and(|t| SKIP_TYPES.contains(&t))
        && !side
            .labels
            .keys()
            .any(|k| k.starts_with(crate::domain::annotations::PREFIX) || k.starts_with("sealedsecrets.bitnami.com/"))
}
