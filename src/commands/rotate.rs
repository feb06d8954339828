//! `rotate`: select → plan → confirm → back up → write (resourceVersion-checked) → restart →
//! wait → verify, and restore + restart again when a rollout fails. A journal annotation on
//! the Secret lets a rerun finish (--resume) or undo (--abort) an interrupted rotation.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use jiff::Timestamp;

use super::apply::{self, read_namespace, verify_secrets, Rotation, Settings};
use super::rollouts::{failures_of, restart_and_wait};
use super::Outcome;
use crate::cli::{KeyPhase, RotateArgs};
use crate::context::Context;
use crate::core::drift;
use crate::core::generate::Generator;
use crate::core::plan::{self, ChangeKind, Journal, RotationRequest, SecretChange, SecretState};
use crate::core::rollout::RestartTarget;
use crate::core::secret_value::SecretValue;
use crate::core::versioned;
use crate::error::{Error, Result};
use crate::kube::secrets::{JournalUpdate, Stamp};
use crate::kube::{self, Connection};
use crate::prompt::{self, InterruptedChoice, ValueSource};
use crate::render;

const CHANGED_BY: &str = "kubectl-secrets rotate";
const CHANGED_BY_ABORT: &str = "kubectl-secrets rotate --abort";

pub async fn run(ctx: &Context, args: &RotateArgs) -> Result<Outcome> {
    // Values from stdin and files are read before the client exists: exec auth plugins share stdin.
    let given = read_given_values(args)?;
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let target = kube::secrets::get(&conn, &namespace, &args.secret).await?;
    if let Some(journal) = target.journal.clone() {
        return interrupted(ctx, args, &conn, &target, journal).await;
    }
    if args.resume || args.abort {
        return Err(Error::Usage(format!(
            "there is no interrupted rotation of {namespace}/{} to finish or undo",
            args.secret
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
            args.secret
        )));
    }
    let set_values = parse_set_values(&args.set)?;
    let changes = match args.phase {
        Some(KeyPhase::Add) => vec![phase_add(args, &target, given, &set_values)?],
        Some(KeyPhase::Retire) => vec![phase_retire(args, &conn, &target, &set_values).await?],
        None => {
            let new_values = choose_new_values(args, &target, given)?;
            let others = if args.propagate {
                kube::secrets::list_with_values(&conn, &namespace).await?
            } else {
                Vec::new()
            };
            let request = RotationRequest {
                new_values,
                keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
                set_values,
            };
            plan::plan(&target, &request, &others)?
        }
    };

    let mut settings = Settings::new(&args.secret, &args.change, CHANGED_BY, &conn).await;
    settings.previous_kept = previous_kept_note(args, &changes[0]);
    if let Some(owner) = sealed_owner {
        return super::rotate_sealed::run(ctx, args, &conn, &changes[0], &owner, &settings).await;
    }
    apply::plan_and_apply(ctx, &conn, &namespace, &changes, &settings).await
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
        plan::check_key_name(key).map_err(Error::Usage)?;
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
    let (snapshot, _) = read_namespace(conn, &target.namespace).await?;
    let (specs, _) = drift::group_workloads(&snapshot);
    for retired in &keys {
        let users = versioned::required_by(&specs, &target.namespace, &target.name, &retired.key);
        if !users.is_empty() {
            return Err(Error::Plan(plan::PlanError::StillRequired {
                key: retired.key.clone(),
                users: users.join(", "),
            }));
        }
    }
    let mut sets = plan::set_changes(target, set_values, &keys)?;
    keys.append(&mut sets);
    Ok(versioned::change(target, keys))
}

/// Values given on stdin (`--from-stdin KEY`) and in files (`--from-file KEY=PATH`).
fn read_given_values(args: &RotateArgs) -> Result<BTreeMap<String, (SecretValue, String)>> {
    let mut given = BTreeMap::new();
    if let Some(key) = &args.from_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Usage(format!("cannot read the value of {key} from stdin: {e}")))?;
        let value = SecretValue::new(bytes);
        warn_if_odd(key, &value, "stdin");
        given.insert(key.clone(), (value, "from stdin".to_string()));
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
    std::fs::read(path).map(SecretValue::new).map_err(|e| {
        Error::Usage(format!(
            "cannot read the new value of {key} from {}: {e}",
            path.display()
        ))
    })
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

fn choose_new_values(
    args: &RotateArgs,
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
    let scripted = !args.keys.is_empty() || args.all_keys || !given.is_empty() || !args.set.is_empty();
    if !scripted {
        if !prompt::interactive() {
            return Err(Error::Usage(
                "say which keys to rotate: --key KEY[=GENERATOR], --all-keys, --from-stdin KEY or --from-file KEY=PATH"
                    .into(),
            ));
        }
        let keys: Vec<String> = target.data.keys().cloned().collect();
        for key in prompt::choose_keys(&format!("{}/{}", target.namespace, target.name), &keys)? {
            let value = match prompt::choose_source(&key, Generator::like(old(&key)?.expose()))? {
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
        target.data.keys().map(|k| (k.clone(), None)).collect()
    } else {
        args.keys
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
            None => Generator::like(old(&key)?.expose()),
        };
        given.insert(key, generated(generator, &mut rng));
    }
    Ok(given)
}

async fn interrupted(
    ctx: &Context,
    args: &RotateArgs,
    conn: &Connection,
    target: &SecretState,
    journal: Journal,
) -> Result<Outcome> {
    let description = format!(
        "A rotation of {}/{} was interrupted ({}, started {}, {})",
        target.namespace,
        target.name,
        journal.id,
        journal.started_at,
        journal.phase.describe()
    );
    let choice = if args.resume {
        InterruptedChoice::Resume
    } else if args.abort {
        InterruptedChoice::Abort
    } else if prompt::interactive() && !ctx.global.yes {
        prompt::interrupted_rotation(&description)?
    } else {
        return Err(Error::RotationInProgress {
            namespace: target.namespace.clone(),
            name: target.name.clone(),
            id: journal.id.clone(),
            started: journal.started_at.to_string(),
            phase: journal.phase.describe().into(),
        });
    };
    let settings = Settings::new(&args.secret, &args.change, CHANGED_BY, conn).await;
    let rotation = Rotation {
        conn,
        namespace: &target.namespace,
        settings: &settings,
        id: journal.id.clone(),
        started_at: journal.started_at,
    };
    let changed: BTreeSet<String> = journal.revisions.keys().cloned().collect();
    match choice {
        InterruptedChoice::Leave => {
            render::rotate::step("Left as it is.");
            Ok(Outcome::Clean)
        }
        InterruptedChoice::Resume => {
            render::rotate::step(&format!("{description}: finishing it."));
            let (snapshot, _) = read_namespace(conn, &target.namespace).await?;
            let pending: Vec<RestartTarget> = journal
                .workloads
                .iter()
                .filter_map(|id| {
                    let current = snapshot.workloads.iter().find(|w| &w.id == id)?;
                    let mut revisions = current.secret_revisions.clone();
                    revisions.extend(journal.revisions.clone());
                    Some((id.clone(), revisions))
                })
                .collect();
            if !pending.is_empty() {
                let states = restart_and_wait(
                    conn,
                    &target.namespace,
                    &pending,
                    args.change.max_parallel,
                    args.change.timeout,
                    "Restarting consumers:",
                )
                .await?;
                let failed = failures_of(&states);
                if !failed.is_empty() {
                    return Err(Error::Usage(format!(
                        "the rotation could not be finished: {}. Run with --abort to restore the previous data",
                        failed.join("; ")
                    )));
                }
            }
            rotation.clear_journal().await?;
            verify_secrets(conn, &target.namespace, &changed, None).await
        }
        InterruptedChoice::Abort => {
            render::rotate::step(&format!("{description}: restoring the previous data."));
            let mut restored = Vec::new();
            for (secret, backup) in &journal.backups {
                let current = kube::secrets::get(conn, &target.namespace, secret).await?;
                let saved = kube::secrets::get(conn, &target.namespace, backup).await?;
                let stamp = Stamp {
                    revision: current.revision + 1,
                    rotation_id: &journal.id,
                    changed_by: CHANGED_BY_ABORT,
                    at: Timestamp::now(),
                    journal: JournalUpdate::Keep,
                };
                kube::secrets::write_data(conn, &current, &current.resource_version, &saved.data, &stamp).await?;
                restored.push((secret.clone(), current.revision + 1));
            }
            let (snapshot, _) = read_namespace(conn, &target.namespace).await?;
            let back: Vec<RestartTarget> = journal
                .workloads
                .iter()
                .filter_map(|id| {
                    let current = snapshot.workloads.iter().find(|w| &w.id == id)?;
                    let mut revisions = current.secret_revisions.clone();
                    revisions.extend(restored.iter().cloned());
                    Some((id.clone(), revisions))
                })
                .collect();
            if !back.is_empty() {
                let states = restart_and_wait(
                    conn,
                    &target.namespace,
                    &back,
                    args.change.max_parallel,
                    args.change.timeout,
                    "Restarting with the previous data:",
                )
                .await?;
                let failed = failures_of(&states);
                if !failed.is_empty() {
                    return Err(Error::RollbackFailed(format!(
                        "the previous data was restored but the restart failed: {}",
                        failed.join("; ")
                    )));
                }
            }
            rotation.clear_journal().await?;
            verify_secrets(conn, &target.namespace, &changed, None).await
        }
    }
}
