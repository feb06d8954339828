//! `rotate`: choose the keys and their new values, plan the change (core), and hand it to the
//! change engine, which backs up, writes, restarts, waits, verifies and rolls back. A change
//! found interrupted is finished (--resume) or undone (--abort) by the same engine.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::Timestamp;

mod waves;

use super::Outcome;
use crate::cli::{IssuerArgs, KeyPhase, RotateArgs};
use crate::cluster::{self, Connection};
use crate::context::Context;
use crate::domain::generate::Generator;
use crate::domain::multi::{self, KeySpec};
use crate::domain::not_generated;
use crate::domain::plan::{self, ChangeKind, RotationRequest, SecretChange, SecretState};
use crate::domain::secret_value::SecretValue;
use crate::domain::versioned;
use crate::engine::{self, Change, Recovery, Settings};
use crate::error::{Error, Result};
use crate::prompt::{self, InterruptedChoice, ValueSource};
use crate::render;

pub async fn run(ctx: &Context, args: &RotateArgs) -> Result<Outcome> {
    // Values from stdin and files are read before the client exists: exec auth plugins share stdin.
    let given = read_given_values(args)?;
    // Across clusters: each its own client, never the current context's.
    if let Some(fleet) = super::fleet::selected(ctx, &args.fleet)? {
        let [name] = args.secrets.as_slice() else {
            return Err(Error::Usage(
                "across clusters, rotate one Secret at a time: give its name (no -l)".into(),
            ));
        };
        if ctx.global.selector.is_some() {
            return Err(Error::Usage(
                "across clusters, rotate one Secret at a time: give its name (no -l)".into(),
            ));
        }
        return waves::run(ctx, args, &fleet, name, given).await;
    }
    let conn = ctx.connect().await?;
    if args.all_expiring {
        let settings = Settings::new(action(args), &args.change, &conn).await;
        let scope = ctx.scope(&conn);
        return engine::renew_expiring(&conn, ctx.consent(), &settings, &scope, args.within).await;
    }
    let namespace = ctx.namespace(&conn);
    if let Some(path) = args.secrets.first().and_then(|n| n.strip_prefix("vault:")) {
        return rotate_vault_path(ctx, args, &conn, &namespace, path, given).await;
    }
    let names = target_names(ctx, args, &conn, &namespace).await?;
    let mut settings = Settings::new(action(args), &args.change, &conn).await;
    if args.abort {
        settings = settings.undoing();
    }
    settings.force = args.force;
    if names.len() > 1 {
        return rotate_many(ctx, args, &conn, settings, &names, given).await;
    }
    let name = names[0].as_str();
    let given = for_one_secret(name, given)?;
    let keys = keys_for_one_secret(name, &args.keys)?;
    let target = cluster::secrets::get(&conn, &namespace, name).await?;
    if args.resume || args.abort {
        let choice = if args.resume { Recovery::Resume } else { Recovery::Abort };
        let issuers = issuer_flags(&args.issuer, &[name])?;
        let named = engine::Named {
            issuers: &issuers,
            sealed_file: args.sealed_file.as_deref(),
        };
        return engine::recover(&conn, ctx.consent(), &settings, &namespace, name, choice, named).await;
    }
    if let Some(pending) = engine::pending(&conn, &target).await? {
        let issuers = issuer_flags(&args.issuer, &[name])?;
        let named = engine::Named {
            issuers: &issuers,
            sealed_file: args.sealed_file.as_deref(),
        };
        return interrupted(ctx, name, &conn, &settings, pending, named).await;
    }

    // A Secret cert-manager issues is renewed by cert-manager, never written.
    if let Some(certificate) = plan::cert_manager_certificate(&target) {
        refuse_values_for_renewal(args, &target, certificate)?;
        return engine::renew(&conn, ctx.consent(), &settings, &target, certificate).await;
    }

    // A Secret an ExternalSecret syncs changes at its provider.
    if let Some(owner) = target.controller.as_ref().filter(|o| o.kind == "ExternalSecret") {
        let owner = owner.name.clone();
        return rotate_external(ctx, args, &conn, settings, &target, &owner, given).await;
    }
    if args.synced || args.retire_previous {
        return Err(Error::Usage(format!(
            "--synced and --retire-previous are for a Secret an ExternalSecret syncs; {namespace}/{} is not (its owner: {})",
            name,
            target.controller.as_ref().map_or("none".to_string(), |o| format!("{} {}", o.kind, o.name))
        )));
    }

    // A Secret unsealed from a SealedSecret changes through its file (--sealed-file).
    let sealed_owner = target
        .controller
        .as_ref()
        .filter(|o| o.kind == "SealedSecret" && args.sealed_file.is_some())
        .map(|o| o.name.clone());
    let mut target = target;
    if sealed_owner.is_some() {
        target.controller = None;
    } else if args.sealed_file.is_some() {
        return Err(Error::Usage(format!(
            "--sealed-file is for a Secret unsealed from a SealedSecret; {namespace}/{} is not: rotate it without --sealed-file",
            name
        )));
    }
    let set_values = for_one_secret(name, parse_set_values(&args.set)?)?;
    let secrets = match args.phase {
        Some(KeyPhase::Add) => vec![phase_add(args, &target, given, &set_values)?],
        Some(KeyPhase::Retire) => vec![phase_retire(args, &conn, &target, &set_values).await?],
        None => {
            // A Secret its controller writes is refused before anything is generated or asked.
            if let Some(reason) = plan::managed_by_controller(&target) {
                return Err(Error::Plan(plan::PlanError::Managed(reason)));
            }
            let new_values = choose_new_values(args, ctx.global.yes, &keys, &target, given)?;
            let others = if args.propagate {
                cluster::secrets::list_with_values(&conn, &namespace).await?
            } else {
                Vec::new()
            };
            let request = RotationRequest {
                new_values,
                keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
                set_values,
            };
            let mut secrets = plan::plan(&target, &request, &others)?;
            if !args.propagate {
                warn_unpropagated(&conn, &namespace, &[(&target, &request)]).await;
            }
            if args.all_keys {
                secrets[0].note_left_out();
            }
            secrets
        }
    };
    settings.previous_kept = previous_kept_note(args, &secrets[0]);
    let sealed = match sealed_owner {
        Some(owner) => {
            let path = args.sealed_file.as_deref().expect("--sealed-file given");
            let (pem, source) = super::fetch_cert::certificate_for_seal(ctx, &args.controller).await?;
            let cert = crate::domain::seal::parse_cert(&source, &pem).map_err(|e| Error::Usage(e.to_string()))?;
            super::fetch_cert::warn_expiry(&source, &cert);
            Some(engine::sealed_change(&conn, path, &owner, &secrets[0], &cert, args.apply).await?)
        }
        None => None,
    };
    let change = Change {
        namespace,
        secrets,
        source: sealed.map_or(engine::Source::InPlace, |s| engine::Source::Sealed(Box::new(s))),
        issuers: issuer_flags(&args.issuer, &[name])?,
        no_issuer: args.issuer.no_issuer,
    };
    engine::apply(&conn, ctx.consent(), &settings, change).await
}

/// Without --propagate: the keys of the namespace that embed a rotated old value keep it (a
/// URI still holding the old password locks its readers out), said before the question. Read
/// best-effort: a user who may not list the namespace's Secrets is not stopped by it.
async fn warn_unpropagated(conn: &Connection, namespace: &str, targets: &[(&SecretState, &RotationRequest)]) {
    let Ok(others) = cluster::secrets::list_with_values(conn, namespace).await else {
        return;
    };
    let Ok(with) = plan::plan_many(targets, &others) else {
        return;
    };
    for (key, from) in plan::propagated(&with) {
        render::warning(&format!(
            "{key} embeds the old value of {from} and keeps it: its readers would still use the old one. \
             Add --propagate to write the new value into it in the same change"
        ));
    }
}

/// A renewal takes no values: cert-manager makes the new key and certificate.
fn refuse_values_for_renewal(args: &RotateArgs, target: &SecretState, certificate: &str) -> Result<()> {
    let given: Vec<&str> = [
        (!args.keys.is_empty(), "--key"),
        (args.all_keys, "--all-keys"),
        (args.from_stdin.is_some(), "--from-stdin"),
        (!args.from_file.is_empty(), "--from-file"),
        (!args.set.is_empty(), "--set"),
        (args.keep_previous, "--keep-previous"),
        (args.propagate, "--propagate"),
        (args.phase.is_some(), "--phase"),
        (args.sealed_file.is_some(), "--sealed-file"),
        (args.synced, "--synced"),
        (args.retire_previous, "--retire-previous"),
        (
            !args.issuer.issuers.is_empty() || !args.issuer.issuer_commands.is_empty(),
            "--issuer",
        ),
        (args.issuer.no_issuer, "--no-issuer"),
    ]
    .into_iter()
    .filter_map(|(set, flag)| set.then_some(flag))
    .collect();
    if given.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(format!(
        "secret {ns}/{name} is issued by cert-manager's Certificate {certificate}: rotate renews it there (cert-manager \
         makes the new key and certificate), so {} do not apply: nothing was changed. Run kubectl secrets rotate {name} \
         -n {ns} without them",
        given.join(", "),
        ns = target.namespace,
        name = target.name
    )))
}

/// The Secrets named on the command line and those `-l` selects, in that order, each once.
async fn target_names(ctx: &Context, args: &RotateArgs, conn: &Connection, namespace: &str) -> Result<Vec<String>> {
    let mut names = args.secrets.clone();
    if let Some(selector) = ctx.global.selector.as_deref() {
        if args.resume || args.abort {
            return Err(Error::Usage(
                "--resume and --abort name the Secret whose change was interrupted (the first of its change): give its name, not -l".into(),
            ));
        }
        let selected = cluster::secrets::names_selected(conn, namespace, selector).await?;
        if selected.is_empty() {
            return Err(Error::Usage(format!(
                "no Secret in namespace {namespace} matches -l {selector} (kubectl get secrets -n {namespace} -l '{selector}' lists them)"
            )));
        }
        names.extend(selected);
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(n.clone()));
    if names.is_empty() && crate::prompt::interactive() && !args.resume && !args.abort {
        names.push(super::pick::secret(ctx, conn, None, "rotate").await?);
    }
    match names.len() {
        0 => Err(Error::Usage(
            "say which Secret to rotate: a name (or several), or -l SELECTOR (in a terminal, leave it out to pick one from a list)".into(),
        )),
        1 => Ok(names),
        _ if args.resume || args.abort => Err(Error::Usage(
            "--resume and --abort take one Secret: the first of the interrupted change (its journal is there)".into(),
        )),
        _ => Ok(names),
    }
}

/// Values named `SECRET/KEY` (or `KEY`) for the one Secret rotated: keyed by KEY.
fn for_one_secret<V>(name: &str, values: BTreeMap<String, V>) -> Result<BTreeMap<String, V>> {
    values
        .into_iter()
        .map(|(qualified, value)| match multi::split_qualified(&qualified) {
            (Some(secret), key) if secret == name => Ok((key.to_string(), value)),
            (Some(secret), _) => Err(Error::Usage(format!(
                "{qualified} names Secret {secret}, but only {name} is rotated here"
            ))),
            (None, key) => Ok((key.to_string(), value)),
        })
        .collect()
}

/// `--key [SECRET/]KEY[=GENERATOR]` for the one Secret rotated: the Secret part must be it.
fn keys_for_one_secret(name: &str, specs: &[String]) -> Result<Vec<String>> {
    specs
        .iter()
        .map(|spec| match multi::split_qualified(spec) {
            (Some(secret), rest) if secret == name => Ok(rest.to_string()),
            (Some(secret), _) if !secret.contains('=') => Err(Error::Usage(format!(
                "--key {spec} names Secret {secret}, but only {name} is rotated here"
            ))),
            _ => Ok(spec.clone()),
        })
        .collect()
}

/// Several Secrets in one change: one plan, one backup and write, each consumer restarted once,
/// one verify. Owner paths (sealed files, External Secrets, two-phase keys) take one Secret.
async fn rotate_many(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    mut settings: Settings,
    names: &[String],
    given: BTreeMap<String, (SecretValue, String)>,
) -> Result<Outcome> {
    let namespace = ctx.namespace(conn);
    let single_only = [
        (args.phase.is_some(), "--phase"),
        (args.sealed_file.is_some(), "--sealed-file"),
        (args.synced, "--synced"),
        (args.retire_previous, "--retire-previous"),
        (
            args.from_stdin.is_some(),
            "--from-stdin (use --from-file SECRET/KEY=PATH)",
        ),
    ];
    if let Some((_, flag)) = single_only.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "{flag} is for one Secret at a time; {} Secrets are selected ({})",
            names.len(),
            names.join(", ")
        )));
    }
    let mut targets = Vec::new();
    for name in names {
        let target = cluster::secrets::get(conn, &namespace, name).await?;
        if let Some(pending) = engine::pending(conn, &target).await? {
            return Err(pending.in_the_way(&namespace, name, false));
        }
        if let Some(owner) = target.controller.as_ref().filter(|o| o.kind == "ExternalSecret") {
            return Err(Error::Usage(format!(
                "secret {namespace}/{name} is synced by ExternalSecret {}: its keys change at the provider; rotate it on its own",
                owner.name
            )));
        }
        targets.push(target);
    }
    if args.keys.is_empty() && !args.all_keys && given.is_empty() && args.set.is_empty() {
        return Err(Error::Usage(
            "say which keys to rotate: --key [SECRET/]KEY[=GENERATOR], --all-keys, or --from-file SECRET/KEY=PATH"
                .into(),
        ));
    }
    let specs: Vec<KeySpec> = args
        .keys
        .iter()
        .map(|s| s.parse())
        .collect::<std::result::Result<_, String>>()
        .map_err(Error::Usage)?;
    let sets = parse_set_values(&args.set)?;
    let mut sets_by_secret: BTreeMap<String, BTreeMap<String, SecretValue>> = BTreeMap::new();
    for (qualified, value) in sets {
        let (Some(secret), key) = multi::split_qualified(&qualified) else {
            return Err(Error::Usage(format!(
                "--set {qualified}=...: with several Secrets, say whose key it is (--set SECRET/{qualified}=VALUE)"
            )));
        };
        if !names.iter().any(|n| n == secret) {
            return Err(Error::Usage(format!(
                "--set {qualified}=... names Secret {secret}, which is not rotated here"
            )));
        }
        sets_by_secret
            .entry(secret.to_string())
            .or_default()
            .insert(key.to_string(), value);
    }
    let refs: Vec<&SecretState> = targets.iter().collect();
    let mut rng = rand::rng();
    let chosen = multi::choose(
        &refs,
        &specs,
        args.all_keys,
        given,
        &|name: &str| sets_by_secret.contains_key(name),
        |generator| generator.generate(&mut rng),
    )
    .map_err(Error::Usage)?;
    let requests: Vec<RotationRequest> = targets
        .iter()
        .zip(chosen)
        .map(|(target, new_values)| RotationRequest {
            new_values,
            keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
            set_values: sets_by_secret.remove(&target.name).unwrap_or_default(),
        })
        .collect();
    let others = if args.propagate {
        cluster::secrets::list_with_values(conn, &namespace).await?
    } else {
        Vec::new()
    };
    let pairs: Vec<(&SecretState, &RotationRequest)> = targets.iter().zip(&requests).collect();
    let mut secrets = plan::plan_many(&pairs, &others)?;
    if !args.propagate {
        warn_unpropagated(conn, &namespace, &pairs).await;
    }
    if args.all_keys {
        // Only the targets' own changes (propagated ones follow the plan of their own).
        for change in secrets.iter_mut().filter(|c| names.contains(&c.before.name)) {
            change.note_left_out();
        }
    }
    settings.previous_kept = secrets.iter().find_map(|c| previous_kept_note(args, c));
    let change = Change {
        namespace,
        secrets,
        source: engine::Source::InPlace,
        issuers: issuer_flags(&args.issuer, names)?,
        no_issuer: args.issuer.no_issuer,
    };
    engine::apply(conn, ctx.consent(), &settings, change).await
}

/// `rotate` of a Secret an ExternalSecret syncs: new provider versions (AWS Secrets Manager),
/// or `--synced` for a value changed at any provider.
async fn rotate_external(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    settings: Settings,
    target: &SecretState,
    owner: &str,
    given: BTreeMap<String, (SecretValue, String)>,
) -> Result<Outcome> {
    let refused = [
        (args.sealed_file.is_some(), "--sealed-file"),
        (args.propagate, "--propagate"),
        (args.keep_previous, "--keep-previous"),
        (args.phase.is_some(), "--phase"),
        (!args.set.is_empty(), "--set"),
    ];
    if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "{flag} is not for secret {}/{}: External Secrets writes it from ExternalSecret {owner}, so its keys change at the provider \
             (rotate it with --key/--all-keys, or change the value there and use --synced)",
            target.namespace, target.name
        )));
    }
    let (secret, mut external) = if args.synced {
        engine::external_synced(conn, target, owner).await?
    } else {
        let keys = keys_for_one_secret(&target.name, &args.keys)?;
        let new_values = choose_new_values(args, ctx.global.yes, &keys, target, given)?;
        let (mut secret, external) = engine::external_change(conn, target, owner, &new_values).await?;
        if args.all_keys {
            secret.note_left_out();
        }
        (secret, external)
    };
    external.retire_previous = args.retire_previous;
    let change = Change {
        namespace: target.namespace.clone(),
        secrets: vec![secret],
        source: engine::Source::External(Box::new(external)),
        issuers: issuer_flags(&args.issuer, &[target.name.as_str()])?,
        no_issuer: args.issuer.no_issuer,
    };
    engine::apply(conn, ctx.consent(), &settings, change).await
}

/// `rotate vault:MOUNT/PATH`: a Vault KV v2 path pods read through Vault's Agent Injector; a
/// new version, the pods that render it once restarted, verified (or `--resume`/`--abort`).
async fn rotate_vault_path(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    namespace: &str,
    path: &str,
    given: BTreeMap<String, (SecretValue, String)>,
) -> Result<Outcome> {
    let refused = [
        (args.secrets.len() > 1, "several targets"),
        (ctx.global.selector.is_some(), "-l"),
        (args.sealed_file.is_some(), "--sealed-file"),
        (args.propagate, "--propagate"),
        (args.keep_previous, "--keep-previous"),
        (args.phase.is_some(), "--phase"),
        (args.synced, "--synced"),
        (
            !args.issuer.issuers.is_empty() || !args.issuer.issuer_commands.is_empty(),
            "--issuer",
        ),
    ];
    if let Some((_, what)) = refused.iter().find(|(given, _)| *given) {
        return Err(Error::Usage(format!(
            "{what} is not for vault:{path}: a Vault path is rotated alone, its fields with --key, --all-keys, \
             --from-stdin, --from-file or --set"
        )));
    }
    let name = format!("vault:{path}");
    let mut settings = Settings::new(action(args), &args.change, conn).await;
    if args.abort {
        settings = settings.undoing();
    }
    let vault = engine::vault_path::VaultPath::open(path).await?;
    if args.resume || args.abort {
        let choice = if args.resume { Recovery::Resume } else { Recovery::Abort };
        return engine::vault_path::recover(conn, ctx.consent(), &settings, &vault, namespace, choice).await;
    }
    let given = for_one_secret(&name, given)?;
    let keys = keys_for_one_secret(&name, &args.keys)?;
    engine::vault_path::check(conn, &settings, &vault, namespace).await?;
    let target = engine::vault_path::read(&vault, namespace).await?;
    let mut given = given;
    for (field, value) in parse_set_values(&args.set)? {
        given.insert(field, (value, "set".to_string()));
    }
    let new_values = choose_new_values(args, ctx.global.yes, &keys, &target, given)?;
    engine::vault_path::rotate(conn, ctx.consent(), &settings, &vault, &target, &new_values).await
}

/// `--issuer [SECRET/]KEY=SPEC` and `--issuer-command [SECRET/]KEY=COMMAND`, for the Secrets
/// rotated (`names`): with one Secret, SECRET/ may be left out.
pub(crate) fn issuer_flags<S: AsRef<str>>(args: &IssuerArgs, names: &[S]) -> Result<Vec<engine::IssuedKey>> {
    let mut found = Vec::new();
    let given = args
        .issuers
        .iter()
        .map(|f| (f, "--issuer", false))
        .chain(args.issuer_commands.iter().map(|f| (f, "--issuer-command", true)));
    for (flag, name, is_command) in given {
        let (qualified, spec) = flag
            .split_once('=')
            .filter(|(k, s)| !k.is_empty() && !s.is_empty())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{name} {flag:?}: use {name} KEY={}",
                    if is_command {
                        "COMMAND"
                    } else {
                        "KIND:user=…,server=…"
                    }
                ))
            })?;
        let (secret, key) = match (multi::split_qualified(qualified), names) {
            ((Some(secret), key), _) => (secret.to_string(), key.to_string()),
            ((None, key), [only]) => (only.as_ref().to_string(), key.to_string()),
            ((None, key), _) => {
                return Err(Error::Usage(format!(
                    "{name} {key}=…: with several Secrets, say whose key it is ({name} SECRET/{key}=…)"
                )))
            }
        };
        if !names.iter().any(|n| n.as_ref() == secret) {
            return Err(Error::Usage(format!(
                "{name} {qualified}=…: Secret {secret} is not rotated here"
            )));
        }
        let config = if is_command {
            engine::issuers::IssuerConfig::Command(spec.to_string())
        } else {
            match crate::domain::issuer::IssuerSpec::parse(spec, crate::domain::issuer::Origin::CommandLine) {
                Ok(spec) => engine::issuers::IssuerConfig::Server(spec),
                Err(
                    crate::domain::issuer::SpecError::Invalid(problem)
                    | crate::domain::issuer::SpecError::Untrusted(problem),
                ) => return Err(Error::Usage(format!("{name} {qualified}=…: {problem}"))),
            }
        };
        if found
            .iter()
            .any(|f: &engine::IssuedKey| f.secret == secret && f.key == key)
        {
            return Err(Error::Usage(format!("the issuer of {secret}/{key} is given twice")));
        }
        found.push(engine::IssuedKey {
            secret,
            key,
            config,
            from_annotation: false,
        });
    }
    Ok(found)
}

/// What the change records as its maker: "rotate", or the recovery it is.
fn action(args: &RotateArgs) -> &'static str {
    if args.resume {
        "rotate --resume"
    } else if args.abort {
        "rotate --abort"
    } else {
        "rotate"
    }
}

/// Another change of the Secret is recorded as under way: ask what to do on a terminal,
/// otherwise refuse (saying how to finish or undo it).
async fn interrupted(
    ctx: &Context,
    name: &str,
    conn: &Connection,
    settings: &Settings,
    pending: engine::Pending,
    named: engine::Named<'_>,
) -> Result<Outcome> {
    let namespace = ctx.namespace(conn);
    let running = matches!(pending.liveness, crate::domain::journal::Liveness::Running { .. });
    if running || !prompt::interactive() || ctx.global.yes {
        return Err(pending.in_the_way(&namespace, name, false));
    }
    let choice = match prompt::interrupted_change(&pending.describe(&namespace))? {
        InterruptedChoice::Leave => {
            render::step("Left as it is.");
            return Ok(Outcome::Clean);
        }
        InterruptedChoice::Resume => Recovery::Resume,
        InterruptedChoice::Abort => Recovery::Abort,
    };
    engine::recover(conn, ctx.consent(), settings, &namespace, name, choice, named).await
}

/// What to say instead of "safe to revoke" when the old value stays in the Secret.
fn previous_kept_note(args: &RotateArgs, change: &SecretChange) -> Option<String> {
    let secret = format!("{}/{}", change.before.namespace, change.before.name);
    let kept: Vec<&str> = change
        .keys
        .iter()
        .filter_map(|k| match &k.kind {
            ChangeKind::KeptPrevious { .. } => Some(k.key.as_str()),
            ChangeKind::AddedVersion { after, .. } => Some(after.as_str()),
            _ => None,
        })
        .collect();
    if kept.is_empty() {
        return None;
    }
    let next = if args.phase == Some(KeyPhase::Add) {
        format!(
            "`kubectl secrets rotate {} -n {} --phase retire --after <lifetime of what it signed>`",
            change.before.name, change.before.namespace
        )
    } else {
        "removing it from the Secret and restarting".to_string()
    };
    Some(format!(
        "Not yet safe to revoke: {secret} still holds the previous value as {}, on purpose. Revoke it at its provider after {next}.",
        kept.join(", ")
    ))
}

/// `--set KEY=VALUE` pairs; the value is taken as given (it was typed on the command line).
fn parse_set_values(specs: &[String]) -> Result<BTreeMap<String, SecretValue>> {
    let mut values = BTreeMap::new();
    for spec in specs {
        let (key, value) = spec
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| Error::Usage("--set needs KEY=VALUE (e.g. --set username=backend_v2)".into()))?;
        plan::check_key_name(multi::split_qualified(key).1).map_err(Error::Usage)?;
        if values
            .insert(key.to_string(), SecretValue::new(value.as_bytes().to_vec()))
            .is_some()
        {
            return Err(Error::Usage(format!("--set {key}=... is given twice")));
        }
    }
    Ok(values)
}

/// The family `--key BASE[=GENERATOR]` (or the key of --from-stdin/--from-file) names, with
/// the generator asked for.
fn versioned_selector(
    args: &RotateArgs,
    given: &BTreeMap<String, (SecretValue, String)>,
) -> Result<Option<(String, Option<Generator>)>> {
    let mut selectors: Vec<(String, Option<Generator>)> = given.keys().map(|k| (k.clone(), None)).collect();
    for spec in &args.keys {
        selectors.push(match spec.split_once('=') {
            Some((key, generator)) => (key.to_string(), Some(generator.parse().map_err(Error::Usage)?)),
            None => (spec.clone(), None),
        });
    }
    if selectors.len() > 1 {
        return Err(Error::Usage(
            "--phase changes one versioned key at a time: give one --key BASE (e.g. --key jwt-secret)".into(),
        ));
    }
    Ok(selectors.pop())
}

/// `--phase add`: the next version of the family, generated like the newest unless given.
fn phase_add(
    args: &RotateArgs,
    target: &SecretState,
    mut given: BTreeMap<String, (SecretValue, String)>,
    set_values: &BTreeMap<String, SecretValue>,
) -> Result<SecretChange> {
    if let Some(reason) = plan::managed_by_controller(target) {
        return Err(Error::Plan(plan::PlanError::Managed(reason)));
    }
    let selector = versioned_selector(args, &given)?;
    let family = versioned::family(target, selector.as_ref().map(|(k, _)| k.as_str()))?;
    let newest = family.newest().name();
    let (value, how) = match selector {
        Some((key, _)) if given.contains_key(&key) => given.remove(&key).expect("checked"),
        Some((_, Some(generator))) => (generator.generate(&mut rand::rng()), format!("generated, {generator}")),
        _ => {
            let generator = Generator::like(target.data[&newest].expose());
            (generator.generate(&mut rand::rng()), format!("generated, {generator}"))
        }
    };
    let mut keys = versioned::plan_add(target, &family, value, how)?;
    let mut sets = plan::set_changes(target, set_values, &keys)?;
    keys.append(&mut sets);
    let change = versioned::change(target, keys);
    plan::check_size(target, &change.after)?;
    Ok(change)
}

/// `--phase retire`: the older versions removed, once --after has passed since the newest was
/// added and no pod spec still requires them.
async fn phase_retire(
    args: &RotateArgs,
    conn: &Connection,
    target: &SecretState,
    set_values: &BTreeMap<String, SecretValue>,
) -> Result<SecretChange> {
    if let Some(reason) = plan::managed_by_controller(target) {
        return Err(Error::Plan(plan::PlanError::Managed(reason)));
    }
    let after = args.after.ok_or_else(|| {
        Error::Usage(
            "--phase retire needs --after DURATION: how long the new version must have been in place (the lifetime \
             of what the old one signed, e.g. 15m; 0s retires now)"
                .into(),
        )
    })?;
    let selector = match versioned_selector(args, &BTreeMap::new())? {
        Some((_, Some(_))) => {
            return Err(Error::Usage(
                "--phase retire generates nothing: give --key BASE without a generator".into(),
            ))
        }
        selector => selector.map(|(key, _)| key),
    };
    if args.from_stdin.is_some() || !args.from_file.is_empty() {
        return Err(Error::Usage(
            "--phase retire takes no new value (--from-stdin/--from-file)".into(),
        ));
    }
    let family = versioned::family(target, selector.as_deref())?;
    let added_at = target.versions_added_at.get(&family.newest().name()).copied();
    let mut keys = versioned::plan_retire(target, &family, added_at, after, Timestamp::now())?;
    let mut sets = plan::set_changes(target, set_values, &keys)?;
    keys.append(&mut sets);
    let change = versioned::change(target, keys);
    super::edit::refuse_removing_required(conn, &change).await?;
    Ok(change)
}

/// Values given on stdin (`--from-stdin KEY`) and in files (`--from-file KEY=PATH`).
fn read_given_values(args: &RotateArgs) -> Result<BTreeMap<String, (SecretValue, String)>> {
    let mut given = BTreeMap::new();
    if let Some(key) = &args.from_stdin {
        // On a terminal, a typed value would stay in the scrollback: read it hidden, twice.
        let (value, how) = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            if !prompt::interactive() {
                return Err(Error::Usage(format!(
                    "--from-stdin {key}: standard input is a terminal but standard error is not, so the value cannot be asked for hidden: pipe it in"
                )));
            }
            (prompt::hidden_value(key)?, "typed")
        } else {
            let value = SecretValue::new(crate::files::read_stdin(&format!("the new value of {key}"))?);
            warn_if_odd(key, &value, "stdin");
            (value, "from stdin")
        };
        given.insert(key.clone(), (value, how.to_string()));
    }
    for spec in &args.from_file {
        let (key, path) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage(format!("--from-file {spec:?}: use KEY=PATH")))?;
        let value = read_file(key, Path::new(path))?;
        warn_if_odd(key, &value, path);
        given.insert(key.to_string(), (value, format!("from file {path}")));
    }
    Ok(given)
}

fn read_file(key: &str, path: &Path) -> Result<SecretValue> {
    crate::files::read(path, &format!("the new value of {key}")).map(SecretValue::new)
}

fn warn_if_odd(key: &str, value: &SecretValue, from: &str) {
    if value.is_empty() {
        render::warning(&format!("the new value of {key} from {from} is empty"));
    } else if value.expose().ends_with(b"\n") {
        render::warning(&format!(
            "the new value of {key} from {from} ends with a newline, which is kept (use printf, or strip it)"
        ));
    }
}

/// `--all-keys` on a Secret whose every key is issued elsewhere or an identifier.
fn nothing_to_generate(target: &SecretState, left_out: &BTreeMap<String, not_generated::Reason>) -> String {
    let why: Vec<String> = left_out
        .iter()
        .map(|(key, reason)| format!("{key} ({reason})"))
        .collect();
    format!(
        "--all-keys: no key of secret {}/{} may be generated: {}. Rotate each where it is issued, then give the \
         new values with --from-stdin KEY or --from-file KEY=PATH",
        target.namespace,
        target.name,
        why.join("; ")
    )
}

/// `--key KEY` names a key a random value would break: asked on a terminal (default no),
/// refused without one or under --yes (the generator must then be named).
fn confirm_generating(
    yes: bool,
    target: &SecretState,
    key: &str,
    reason: &not_generated::Reason,
    generator: Generator,
) -> Result<()> {
    let secret = format!("{}/{}", target.namespace, target.name);
    if yes || !prompt::interactive() {
        return Err(Error::Usage(reason.refusal(&secret, key)));
    }
    let question = format!("{secret}/{key} is {reason}: generate a random value ({generator}) anyway?");
    if prompt::confirm(&question)? {
        Ok(())
    } else {
        Err(Error::Usage(format!("{key} left as it is: {}", reason.next_step(key))))
    }
}

fn choose_new_values(
    args: &RotateArgs,
    yes: bool,
    key_specs: &[String],
    target: &SecretState,
    mut given: BTreeMap<String, (SecretValue, String)>,
) -> Result<BTreeMap<String, (SecretValue, String)>> {
    let mut rng = rand::rng();
    let old = |key: &str| -> Result<&SecretValue> {
        target.data.get(key).ok_or_else(|| {
            Error::Plan(plan::PlanError::NoSuchKey {
                secret: format!("{}/{}", target.namespace, target.name),
                key: key.to_string(),
                available: target.data.keys().cloned().collect::<Vec<_>>().join(", "),
            })
        })
    };
    let generated = |generator: Generator, rng: &mut rand::rngs::ThreadRng| {
        (generator.generate(rng), format!("generated, {generator}"))
    };
    let scripted = !key_specs.is_empty() || args.all_keys || !given.is_empty() || !args.set.is_empty();
    if !scripted {
        if !prompt::interactive() {
            return Err(Error::Usage(
                "say which keys to rotate: --key KEY[=GENERATOR], --all-keys, --from-stdin KEY or --from-file KEY=PATH"
                    .into(),
            ));
        }
        let keys: Vec<String> = target.data.keys().cloned().collect();
        for key in prompt::choose_keys(&format!("{}/{}", target.namespace, target.name), &keys)? {
            let issued = not_generated::for_key(&target.data, &target.generation, &key);
            let value = match prompt::choose_source(&key, Generator::like(old(&key)?.expose()), issued.as_ref())? {
                ValueSource::Generate(generator) => generated(generator, &mut rng),
                ValueSource::Typed => (prompt::hidden_value(&key)?, "typed".to_string()),
                ValueSource::File(path) => (read_file(&key, &path)?, format!("from file {}", path.display())),
            };
            given.insert(key, value);
        }
        if given.is_empty() {
            return Err(Error::Usage("no key chosen: nothing to rotate".into()));
        }
        return Ok(given);
    }
    let keys: Vec<(String, Option<Generator>)> = if args.all_keys {
        let left_out: BTreeMap<String, not_generated::Reason> =
            not_generated::in_secret(&target.data, &target.generation)
                .into_iter()
                .collect();
        let keys: Vec<_> = target
            .data
            .keys()
            .filter(|k| !left_out.contains_key(*k) && !given.contains_key(*k))
            .map(|k| (k.clone(), None))
            .collect();
        if keys.is_empty() && given.is_empty() {
            return Err(Error::Usage(nothing_to_generate(target, &left_out)));
        }
        keys
    } else {
        key_specs
            .iter()
            .map(|spec| match spec.split_once('=') {
                Some((key, generator)) => generator
                    .parse()
                    .map(|g| (key.to_string(), Some(g)))
                    .map_err(Error::Usage),
                None => Ok((spec.clone(), None)),
            })
            .collect::<Result<_>>()?
    };
    for (key, generator) in keys {
        if given.contains_key(&key) {
            return Err(Error::Usage(format!(
                "{key} is given twice (--key and --from-stdin/--from-file)"
            )));
        }
        let generator = match generator {
            Some(g) => g,
            None => {
                let like = Generator::like(old(&key)?.expose());
                if let Some(reason) = not_generated::for_key(&target.data, &target.generation, &key) {
                    confirm_generating(yes, target, &key, &reason, like)?;
                }
                like
            }
        };
        given.insert(key, generated(generator, &mut rng));
    }
    Ok(given)
}
