use std::collections::BTreeMap;

use super::Outcome;
use crate::cli::DiffArgs;
use crate::cluster::{self, Scope};
use crate::context::Context;
use crate::domain::diff::{self, SecretDiff};
use crate::domain::fleet::{FleetEntry, FleetReport};
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
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        return across(ctx, args, &fleet, file.as_ref(), &fingerprints).await;
    }
    if args.across_contexts {
        return Err(Error::Usage(
            "--across-contexts compares the clusters --contexts PATTERN (or --all-contexts) selects: give them".into(),
        ));
    }
    if !ctx.global.all_namespaces {
        super::pick::check_askable(args.secret.as_deref(), "diff")?;
    }
    let conn = ctx.connect().await?;
    if ctx.global.all_namespaces {
        let Some(other_context) = &args.to_context else {
            return Err(Error::Usage(
                "-A compares whole clusters: use it with --to-context CONTEXT".into(),
            ));
        };
        return all_secrets(ctx, &conn, other_context, &fingerprints, args.show_secret).await;
    }
    let picked = super::pick::secret(ctx, &conn, args.secret.as_deref(), "diff").await?;
    let args = &DiffArgs {
        secret: Some(picked),
        ..args.clone()
    };
    let (result, cluster, other) = diff_one(ctx, args, &conn, file, &fingerprints).await?;
    render::diff::report(&result, ctx.output())?;
    if args.show_secret {
        render::diff::changed_values(&result, &cluster, &other)?;
    }
    render::diff::reuse_warnings(&result);
    Ok(outcome(std::slice::from_ref(&result)))
}

fn outcome(diffs: &[SecretDiff]) -> Outcome {
    if diffs.iter().all(SecretDiff::identical) {
        Outcome::Clean
    } else {
        Outcome::Found
    }
}

/// The Secret in one cluster against what the flags name: a file, another namespace or
/// context, a backup revision, or its provider.
async fn diff_one(
    ctx: &Context,
    args: &DiffArgs,
    conn: &cluster::Connection,
    file: Option<SecretSide>,
    fingerprints: &Fingerprinter,
) -> Result<(SecretDiff, SecretSide, SecretSide)> {
    let namespace = ctx.namespace(conn);
    let name = args.secret.clone().expect("given or picked in run");
    let other_name = args.to_name.clone().unwrap_or_else(|| name.clone());
    let same_place = match (&args.to_namespace, &args.to_context) {
        (Some(other), _) => *other == namespace,
        (None, Some(other)) => *other == conn.context && ctx.global.namespace.is_some(),
        _ => false,
    };
    if same_place && other_name == name && file.is_none() {
        return Err(Error::Usage(format!(
            "this compares secret {namespace}/{name} with itself: name another namespace (--to-namespace), \
             context (--to-context), Secret (--to-name) or a revision (--revision N)"
        )));
    }
    let cluster_object = cluster::secrets::get_object(conn, &namespace, &name).await?;
    let cluster = SecretSide::from_secret(format!("{}/{namespace}/{name}", conn.context), &cluster_object);
    let (other, environments) = if let Some(file) = file {
        (file, false)
    } else if let Some(other_namespace) = &args.to_namespace {
        let object = cluster::secrets::get_object(conn, other_namespace, &other_name).await?;
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
        let (description, data) = crate::engine::provider_data(conn, &state).await?;
        let provider = crate::domain::plan::SecretState { data, ..state };
        (SecretSide::values_only(description, &provider), false)
    } else {
        let revision = args.revision.ok_or_else(|| {
            Error::Usage("say what to compare with: --against FILE, --to-namespace, --to-context, --revision N or --against-provider".into())
        })?;
        let (current, backups) = cluster::secrets::with_backups(conn, &namespace, &name).await?;
        let backup = super::history::choose_backup(&current, &backups, Some(revision))?;
        (
            SecretSide::values_only(format!("revision {revision}"), &backup.state),
            false,
        )
    };
    let mut result = diff::diff(&cluster, &other, environments, fingerprints);
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
        let status = cluster::sealed::get(conn, &namespace, &name).await?.map(|s| s.status);
        result
            .metadata
            .extend(diff::sealed_rows(&name, owner.as_ref(), status.as_ref()));
    }
    Ok((result, cluster, other))
}

/// diff across contexts: with --across-contexts, the Secret as each cluster holds it against
/// the first cluster that has it; else each cluster's Secret against the flags' other side.
/// A cluster that fails is reported (its error, its exit code) and the others still compared.
async fn across(
    ctx: &Context,
    args: &DiffArgs,
    fleet: &super::fleet::Fleet,
    file: Option<&SecretSide>,
    fingerprints: &Fingerprinter,
) -> Result<Outcome> {
    if ctx.global.all_namespaces || args.show_secret {
        return Err(Error::Usage(
            "across contexts diff compares one Secret (no -A) and never prints values (no --show-secret)".into(),
        ));
    }
    let name = args.secret.clone().ok_or_else(|| super::pick::missing("diff"))?;
    let entries = if args.across_contexts {
        let sides = super::fleet::run(ctx, fleet, |conn| {
            let name = name.clone();
            async move {
                let namespace = ctx.namespace(&conn);
                let object = cluster::secrets::get_object(&conn, &namespace, &name).await?;
                let side = SecretSide::from_secret(format!("{}/{namespace}/{name}", conn.context), &object);
                Ok((side, Outcome::Clean))
            }
        })
        .await;
        let reference = sides.iter().find_map(|e| e.report.clone());
        sides
            .into_iter()
            .map(|entry| {
                let diff = match (&reference, &entry.report) {
                    (Some(first), Some(side)) if first.description != side.description => {
                        Some(diff::diff(first, side, true, fingerprints))
                    }
                    _ => None,
                };
                let exit_code = match &diff {
                    Some(d) if !d.identical() => entry.exit_code.max(crate::error::exit::FOUND),
                    _ => entry.exit_code,
                };
                FleetEntry {
                    context: entry.context,
                    server: entry.server,
                    exit_code,
                    duration_ms: entry.duration_ms,
                    error: entry.error,
                    report: diff,
                }
            })
            .collect()
    } else {
        super::fleet::run(ctx, fleet, |conn| async move {
            let (result, _, _) = diff_one(ctx, args, &conn, file.cloned(), fingerprints).await?;
            let outcome = outcome(std::slice::from_ref(&result));
            Ok((result, outcome))
        })
        .await
    };
    let report = FleetReport::new("diff", entries);
    render::diff::fleet(&report, ctx.output())?;
    for result in report.contexts.iter().filter_map(|e| e.report.as_ref()) {
        render::diff::reuse_warnings(result);
    }
    Ok(Outcome::Code(report.summary.exit_code))
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
