//! `rotate --contexts ...`: the same rotation in several clusters, wave by wave. Every cluster
//! is read and planned before anything is written; one question; then each wave's clusters are
//! rotated one after the other, each by its own change engine (its own backup, journal,
//! restarts, verify and rollback), the wave verified (and baked) before the next starts; a
//! wave with more failures than --max-failures stops the rotation.

use std::collections::BTreeMap;

use super::{choose_new_values, keys_for_one_secret, previous_kept_note};
use crate::cli::RotateArgs;
use crate::cluster;
use crate::commands::fleet::{named, Fleet, FleetMember};
use crate::commands::Outcome;
use crate::context::Context;
use crate::domain::plan::{self, RotationRequest, SecretState};
use crate::domain::secret_value::SecretValue;
use crate::domain::waves::{self, Wave};
use crate::engine::{self, Change, Recovery, Settings};
use crate::error::{exit, Error, Result};
use crate::render;

pub async fn run(
    ctx: &Context,
    args: &RotateArgs,
    fleet: &Fleet,
    name: &str,
    given: BTreeMap<String, (SecretValue, String)>,
) -> Result<Outcome> {
    if args.resume || args.abort {
        return recover_all(ctx, args, fleet, name).await;
    }
    let single_cluster_only = [
        (args.phase.is_some(), "--phase"),
        (args.sealed_file.is_some(), "--sealed-file"),
        (args.synced, "--synced"),
        (args.retire_previous, "--retire-previous"),
    ];
    if let Some((_, flag)) = single_cluster_only.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "{flag} works in one cluster at a time: use --context CONTEXT"
        )));
    }
    let waves =
        waves::plan(&fleet.contexts, &args.named_waves, args.wave_count.map(usize::from)).map_err(Error::Usage)?;
    let keys = keys_for_one_secret(name, &args.keys)?;

    // Every cluster read before anything is written: an unreachable one stops it here.
    let mut members = Vec::new();
    let mut targets: Vec<SecretState> = Vec::new();
    for context in &fleet.contexts {
        let conn = named(context, ctx.connect_one_of_many(context).await)?;
        let namespace = ctx.namespace(&conn);
        let target = named(context, cluster::secrets::get(&conn, &namespace, name).await)?;
        if let Some(pending) = named(context, engine::pending(&conn, &target).await)? {
            render::step(&format!("In cluster {context}:"));
            return Err(pending.in_the_way(&namespace, name, false));
        }
        if let Some(owner) = target
            .controller
            .as_ref()
            .filter(|o| o.kind == "ExternalSecret" || o.kind == "SealedSecret")
        {
            return Err(Error::Usage(format!(
                "in cluster {context}, secret {namespace}/{name} is written by {} {}: rotate it through its owner, one cluster at a time (--context)",
                owner.kind, owner.name
            )));
        }
        let mut settings = Settings::new("rotate", &args.change, &conn).await;
        settings.force = args.force;
        members.push(FleetMember {
            context: context.clone(),
            conn,
            namespace,
            settings,
            prepared: None,
        });
        targets.push(target);
    }

    // The same new values everywhere (a shared credential), or new ones per cluster.
    let shared = if args.per_cluster_values {
        None
    } else {
        Some(choose_new_values(
            args,
            ctx.global.yes,
            &keys,
            &targets[0],
            given.clone(),
        )?)
    };
    for (member, target) in members.iter_mut().zip(&targets) {
        let wave = &waves
            .iter()
            .find(|w| w.contexts.contains(&member.context))
            .expect("every cluster is in a wave")
            .name;
        render::step(&format!("\n== Cluster {} ({wave}) ==", member.context));
        let new_values = match &shared {
            Some(values) => values.clone(),
            None => choose_new_values(args, ctx.global.yes, &keys, target, given.clone())?,
        };
        let others = if args.propagate {
            named(
                &member.context,
                cluster::secrets::list_with_values(&member.conn, &member.namespace).await,
            )?
        } else {
            Vec::new()
        };
        let request = RotationRequest {
            new_values,
            keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
            set_values: super::for_one_secret(name, super::parse_set_values(&args.set)?)?,
        };
        let mut secrets = named(
            &member.context,
            plan::plan(target, &request, &others).map_err(Error::from),
        )?;
        if !args.propagate {
            super::warn_unpropagated(&member.conn, &member.namespace, &[(target, &request)]).await;
        }
        if args.all_keys {
            secrets[0].note_left_out();
        }
        member.settings.previous_kept = previous_kept_note(args, &secrets[0]);
        let change = Change {
            namespace: member.namespace.clone(),
            secrets,
            source: engine::Source::InPlace,
            issuers: super::issuer_flags(&args.issuer, &[name])?,
            no_issuer: args.issuer.no_issuer,
        };
        let prepared = named(
            &member.context,
            engine::prepare(&member.conn, ctx.output(), &member.settings, change).await,
        )?;
        named(&member.context, prepared.check_consent(ctx.consent(), &member.settings))?;
        member.prepared = Some(prepared);
    }
    render::step(&describe_waves(&waves, args, shared.is_some()));
    if !engine::go_ahead(ctx.consent(), "Rotate in these waves?")? {
        return Ok(Outcome::Clean);
    }

    super::super::fleet::run_changes(
        members,
        &waves,
        usize::from(args.max_failures),
        usize::from(args.parallel_clusters),
        args.bake,
        name,
        "rotation",
    )
    .await
}

/// `--resume`/`--abort` across the fleet: each cluster's own interrupted change, if it has one.
async fn recover_all(ctx: &Context, args: &RotateArgs, fleet: &Fleet, name: &str) -> Result<Outcome> {
    let choice = if args.resume { Recovery::Resume } else { Recovery::Abort };
    let mut worst = exit::OK;
    for context in &fleet.contexts {
        render::step(&format!("\n== {context} =="));
        let result = async {
            let conn = ctx.connect_one_of_many(context).await?;
            let namespace = ctx.namespace(&conn);
            let target = cluster::secrets::get(&conn, &namespace, name).await?;
            if engine::pending(&conn, &target).await?.is_none() {
                render::step(&format!("No interrupted change of {namespace}/{name} here."));
                return Ok(Outcome::Clean);
            }
            let mut settings = Settings::new(super::action(args), &args.change, &conn).await;
            if args.abort {
                settings = settings.undoing();
            }
            settings.force = args.force;
            let issuers = super::issuer_flags(&args.issuer, &[name])?;
            let named = engine::Named {
                issuers: &issuers,
                sealed_file: args.sealed_file.as_deref(),
            };
            engine::recover(&conn, ctx.consent(), &settings, &namespace, name, choice, named).await
        }
        .await;
        let code = match result {
            Ok(outcome) => outcome.exit_code(),
            Err(error) => {
                render::error(&error);
                error.exit_code()
            }
        };
        worst = worst.max(code);
    }
    Ok(if worst == exit::OK {
        Outcome::Clean
    } else {
        Outcome::Code(worst)
    })
}

fn describe_waves(waves: &[Wave], args: &RotateArgs, shared: bool) -> String {
    let list: Vec<String> = waves
        .iter()
        .map(|w| format!("{}: {}", w.name, w.contexts.join(", ")))
        .collect();
    let bake = args
        .bake
        .map(|b| format!(", then {} of bake", humantime::format_duration(b)))
        .unwrap_or_default();
    let at_once = match args.parallel_clusters {
        1 => "one after the other".to_string(),
        n => format!("up to {n} at once (--parallel-clusters)"),
    };
    format!(
        "\nWaves, in order ({}): {}. Each wave's clusters {at_once}, the wave verified{bake} before the next; \
         more than {} failed cluster(s) in a wave stops the rotation (a failed cluster is rolled back by its own change).",
        if shared {
            "the same new values in every cluster"
        } else {
            "new values per cluster"
        },
        list.join("; "),
        args.max_failures
    )
}
