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
use crate::cli::RotateArgs;
use crate::context::Context;
use crate::core::generate::Generator;
use crate::core::plan::{self, Journal, RotationRequest, SecretState};
use crate::core::rollout::RestartTarget;
use crate::core::secret_value::SecretValue;
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

    let new_values = choose_new_values(args, &target, given)?;
    let others = if args.propagate {
        kube::secrets::list_with_values(&conn, &namespace).await?
    } else {
        Vec::new()
    };
    let request = RotationRequest {
        new_values,
        keep_previous_suffix: args.keep_previous.then(|| args.previous_suffix.clone()),
    };
    let changes = plan::plan(&target, &request, &others)?;
    drop(others);

    let settings = Settings::new(&args.secret, &args.change, CHANGED_BY, &conn).await;
    apply::plan_and_apply(ctx, &conn, &namespace, &changes, &settings).await
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
    let scripted = !args.keys.is_empty() || args.all_keys || !given.is_empty();
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
            verify_secrets(conn, &target.namespace, &changed).await
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
            verify_secrets(conn, &target.namespace, &changed).await
        }
    }
}
