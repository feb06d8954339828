//! The one change engine. Every write of Secret data and every restart of a workload goes
//! through here: `rotate` in all its modes (the SealedSecret path included), `rollback`,
//! `verify --fix`, and `rotate --resume` / `--abort`. A change is a plan (the Secrets and their
//! new data, the consumers to restart, the owner's own steps) run by one state machine:
//!
//! ```text
//! checks → backups → write (data + journal + backup record: one request per Secret, with a
//! resourceVersion precondition) → restart each consumer once → wait → verify → clear journal
//! ```
//!
//! A failure after the first write runs the same machine backwards: restore from the recorded
//! backups, restart again. `--resume` and `--abort` start the machine from the journal
//! (`recover`), once the journal has been checked against what the Secret itself records.

mod events;
mod external;
mod issued;
pub mod issuers;
mod lease;
mod recover;
mod recovery;
mod renewal;
mod restart;
mod sealed;
mod upstream;
pub mod vault_path;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

pub use external::{
    prepare as external_change, prepare_rollback as external_rollback, prepare_synced as external_synced,
    provider_data, provider_history, ExternalChange,
};
pub use issued::IssuedKey;
pub use lease::release_held;
use lease::{Anchor, Lease};
pub use recover::{pending, recover, Pending};
pub use recovery::{Named, Recovery};
pub use renewal::{renew, renew_expiring};
pub use sealed::{prepare as sealed_change, SealedChange};

use crate::cli::{ChangeArgs, OutputFormat};
use crate::cluster::access::Permission;
use crate::cluster::secrets::{JournalUpdate, Stamp};
use crate::cluster::{self, Connection, Scope};
use crate::domain::consumers::{self, ConsumerAction};
use crate::domain::drift::{self, Snapshot};
use crate::domain::env::EnvNamePolicy;
use crate::domain::gitops::GitOpsOwner;
use crate::domain::journal::{self, Journal, JournalEntry, Phase, RecordedBackup};
use crate::domain::key_changes;
use crate::domain::model::{WorkloadId, WorkloadKind};
use crate::domain::plan::{PlanError, SecretChange};
use crate::domain::restart_budget;
use crate::domain::rollout::{self, RestartTarget};
use crate::domain::secret_value::{Fingerprinter, SecretValue};
use crate::error::Outcome;
use crate::error::{Error, Result};
use crate::render::rotate::{Strategy, Writes};
use crate::{prompt, render};

/// How a change is carried out: the shared flags, and the record of who makes it.
pub struct Settings {
    /// What makes the change: "rotate", "rollback", "rotate --abort", ...
    pub action: String,
    /// Recorded on the Secret and its backups (kubectl-secrets.io/changed-by).
    pub changed_by: String,
    pub keep_backups: u16,
    pub max_parallel: Option<u16>,
    /// With max_parallel: batches, each this long after the previous one is done.
    pub batch_interval: Option<Duration>,
    pub timeout: Duration,
    pub restart: bool,
    pub restart_all: bool,
    /// Set when the change keeps the previous value in the Secret (--keep-previous, --phase
    /// add): said instead of "safe to revoke", which would be wrong.
    pub previous_kept: Option<String>,
    /// Act on a journal even though another run may still hold it.
    pub force: bool,
    /// Write a Secret that Argo CD, Flux or Helm deploys (their next sync reverts it).
    pub allow_gitops_drift: bool,
    /// Leave StatefulSets with updateStrategy OnDelete as they are (reported, not awaited)
    /// instead of deleting their pods one at a time.
    pub leave_on_delete: bool,
    /// Continue Argo Rollouts that pause for a person (else they are reported).
    pub promote: bool,
    /// Provider secrets the operator consents to this change writing (--remote).
    pub remotes: Vec<String>,
    /// Write a provider secret other namespaces' ExternalSecrets read too.
    pub allow_shared_remote: bool,
    /// A workload kubectl-secrets restarted less than this long ago is not restarted again
    /// without a question (zero: no limit).
    pub min_restart_interval: Duration,
    /// At most this many workloads restarted by one run.
    pub max_restarts: Option<u16>,
}

impl Settings {
    /// `action` ("rotate") plus the user the API server knows us as.
    pub async fn new(action: &str, args: &ChangeArgs, conn: &Connection) -> Self {
        let changed_by = match cluster::access::whoami(conn).await {
            Some(user) => format!("kubectl-secrets {action} by {user}"),
            None => format!("kubectl-secrets {action}"),
        };
        Settings {
            action: action.to_string(),
            changed_by,
            keep_backups: args.keep_backups,
            max_parallel: args.max_parallel,
            batch_interval: args.batch_interval,
            timeout: args.timeout,
            restart: !args.no_restart,
            restart_all: args.restart_all,
            previous_kept: None,
            force: false,
            allow_gitops_drift: args.allow_gitops_drift,
            leave_on_delete: args.leave_on_delete,
            promote: args.promote,
            remotes: args.remotes.clone(),
            allow_shared_remote: args.allow_shared_remote,
            min_restart_interval: args.min_restart_interval,
            max_restarts: args.max_restarts,
        }
    }

    /// Settings of an undo (rollback, `--abort`): it puts back what ran before, so it never
    /// waits for the restart budget of the change it undoes.
    pub fn undoing(mut self) -> Self {
        self.min_restart_interval = Duration::ZERO;
        self
    }
}

impl Settings {
    fn pacing(&self, timeout: Duration) -> restart::Pacing {
        restart::Pacing {
            max_parallel: self.max_parallel,
            batch_interval: self.batch_interval,
            timeout,
        }
    }

    /// How a change's own restarts treat Argo Rollouts that pause for a person.
    fn forward_promotion(&self) -> restart::Promotion {
        if self.promote {
            restart::Promotion::Steps
        } else {
            restart::Promotion::Never
        }
    }
}

/// What the user said ahead of the question "go ahead?".
#[derive(Debug, Clone, Copy)]
pub struct Consent {
    pub dry_run: bool,
    /// `--dry-run=server`: the change's writes are also sent with dryRun=All.
    pub server_dry_run: bool,
    pub yes: bool,
    pub output: OutputFormat,
}

/// A planned change of Secrets in one namespace.
pub struct Change {
    pub namespace: String,
    pub secrets: Vec<SecretChange>,
    /// Where the new data is written: the Secrets themselves, or their owner's source.
    pub source: Source,
    /// Keys whose password the operator names an issuer for on the command line (the Secrets'
    /// issuer annotations add the others).
    pub issuers: Vec<IssuedKey>,
    /// `--no-issuer`: database passwords were changed at their servers by the operator.
    pub no_issuer: bool,
}

/// Where a change writes the new data. One value, so that no change names two owners.
pub enum Source {
    /// The Secrets themselves (and, through their issuers, the database servers).
    InPlace,
    /// A SealedSecret's ciphertexts and the file they go to; `secrets` holds that one Secret,
    /// with the data the controller will unseal.
    Sealed(Box<SealedChange>),
    /// An ExternalSecret's provider; `secrets` holds that one Secret, with the data External
    /// Secrets will sync.
    External(Box<ExternalChange>),
}

impl Source {
    /// The Secrets are written here, not by their owner's controller.
    pub fn in_place(&self) -> bool {
        matches!(self, Source::InPlace)
    }

    /// The plan's line for the owner's side, if there is one.
    fn describe(&self, namespace: &str) -> Option<String> {
        match self {
            Source::InPlace => None,
            Source::Sealed(sealed) => Some(sealed.describe(namespace)),
            Source::External(external) => Some(external.describe(namespace)),
        }
    }

    /// Whether the consumers restart in this run (a SealedSecret file that is not applied
    /// restarts nothing until its controller unseals it).
    fn restarts(&self) -> bool {
        !matches!(self, Source::Sealed(sealed) if !sealed.apply)
    }

    fn writes(&self) -> Writes {
        match self {
            Source::External(external) if external.is_synced() => Writes::Synced,
            Source::External(_) => Writes::Provider,
            Source::InPlace | Source::Sealed(_) => Writes::Secrets,
        }
    }

    /// The permissions the in-place write needs, as this owner's path needs them instead.
    fn adjust_permissions(&self, needed: &mut Vec<Permission>) {
        match self {
            Source::InPlace => {}
            Source::Sealed(sealed) => sealed.adjust_permissions(needed),
            Source::External(external) => external.adjust_permissions(needed),
        }
    }

    /// Vault paths the change writes that pods render themselves (Agent Injector).
    fn agent_sources(&self) -> Vec<String> {
        match self {
            Source::External(external) => external.agent_sources().into_iter().collect(),
            Source::InPlace | Source::Sealed(_) => Vec::new(),
        }
    }
}

/// Plan → permissions → confirm → run the machine → verify.
pub async fn apply(conn: &Connection, consent: Consent, settings: &Settings, change: Change) -> Result<Outcome> {
    let prepared = prepare(conn, consent.output, settings, change).await?;
    prepared.check_consent(consent, settings)?;
    if consent.server_dry_run {
        let requests = server_check(conn, settings, &prepared).await?;
        render::step(&format!(
            "Server dry run: the API server accepted {} of this change (sent with dryRun=All: validation, admission \
             and permissions judged, nothing stored): nothing was changed.",
            render::plural(requests, "write")
        ));
        return Ok(Outcome::Clean);
    }
    if !go_ahead(consent, "Apply this plan?")? {
        return Ok(Outcome::Clean);
    }
    run_prepared(conn, settings, prepared).await
}

/// A change planned, shown and checked against the user's permissions, not yet confirmed.
pub struct Prepared {
    change: Change,
    changed: BTreeSet<String>,
    targets: Vec<RestartTarget>,
    templates: BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    issued: Vec<issued::Prepared>,
    /// Workloads restarted by kubectl-secrets within --min-restart-interval.
    too_soon: Vec<restart_budget::TooSoon>,
}

impl Prepared {
    /// Refuses, without a question (`--yes`), what the namespace chose and only the operator
    /// may consent to (an issuer acting as an administrator).
    pub fn check_consent(&self, consent: Consent, settings: &Settings) -> Result<()> {
        let unattended = consent.yes && !consent.dry_run;
        refuse_unattended_too_soon(&self.too_soon, settings, unattended)?;
        if let Source::External(external) = &self.change.source {
            external.check_consent(&self.change.namespace, settings, unattended)?;
        }
        issued::check_consent(&self.issued, &self.change.namespace, unattended)
    }

    /// How many workloads the change restarts.
    pub fn restarts(&self) -> usize {
        self.targets.len()
    }
}

/// Restarting the same pods again and again is how restart storms start: without a person to
/// ask (`--yes`), a second restart within --min-restart-interval is refused.
fn refuse_unattended_too_soon(
    too_soon: &[restart_budget::TooSoon],
    settings: &Settings,
    unattended: bool,
) -> Result<()> {
    if !unattended || too_soon.is_empty() {
        return Ok(());
    }
    let wait = too_soon.iter().map(|t| t.wait).max().unwrap_or_default();
    Err(Error::Usage(format!(
        "{}; with --yes a workload is not restarted again within --min-restart-interval {}: nothing was \
         changed. Run it again in {}, or pass --min-restart-interval 0 if the restart is wanted",
        too_soon.iter().map(|t| t.describe()).collect::<Vec<_>>().join("; "),
        humantime::format_duration(settings.min_restart_interval),
        humantime::format_duration(wait)
    )))
}

/// More restarts than --max-restarts allows: refused before anything is asked or written.
fn refuse_beyond_max_restarts(settings: &Settings, namespace: &str, restarts: usize) -> Result<()> {
    match settings.max_restarts.filter(|max| restarts > usize::from(*max)) {
        Some(max) => Err(Error::Usage(format!(
            "this change would restart {} in namespace {namespace}, more than --max-restarts {max}: nothing was changed. \
             Raise --max-restarts, pace it (--max-parallel N --batch-interval 30s), or change fewer Secrets at once",
            render::plural(restarts, "workload")
        ))),
        None => Ok(()),
    }
}

/// Warnings for workloads restarted again within --min-restart-interval (the question follows).
fn warn_too_soon(too_soon: &[restart_budget::TooSoon], settings: &Settings) {
    for soon in too_soon {
        render::warning(&format!(
            "{}: restarting it again within --min-restart-interval {} (answer no, or wait {})",
            soon.describe(),
            humantime::format_duration(settings.min_restart_interval),
            humantime::format_duration(soon.wait)
        ));
    }
}

/// Who deploys each changed Secret from outside the cluster: its own marks, else an Argo CD
/// Application that lists it under the common instance label it carries.
async fn gitops_owners<'a>(conn: &Connection, secrets: &'a [SecretChange]) -> Vec<(&'a str, GitOpsOwner)> {
    use cluster::argo::ApplicationLookup;
    let mut owners = Vec::new();
    // Discovery once per change, and only when a Secret carries the label.
    let mut served: Option<bool> = None;
    for c in secrets {
        if let Some(owner) = &c.before.gitops {
            owners.push((c.name(), owner.clone()));
            continue;
        }
        let Some(app) = crate::domain::gitops::argo_candidate(&c.before.labels) else {
            continue;
        };
        if served.is_none() {
            served = Some(cluster::argo::applications_served(conn).await);
        }
        if served == Some(false) {
            continue;
        }
        match cluster::argo::application_listing(conn, app, &c.before.namespace, c.name()).await {
            ApplicationLookup::Listed { app_namespace } => {
                owners.push((c.name(), crate::domain::gitops::argo_by_instance(&app_namespace, app)));
            }
            ApplicationLookup::NotListed => {}
            ApplicationLookup::Unknown(reason) => render::warning(&format!(
                "secret {}/{} carries {}={app}; whether an Argo CD Application of that name deploys it \
                 could not be checked ({reason}): if one does, its next sync reverts this change",
                c.before.namespace,
                c.name(),
                crate::domain::gitops::COMMON_INSTANCE
            )),
        }
    }
    owners
}

/// Plan → show it → permissions: everything before the question.
pub async fn prepare(conn: &Connection, output: OutputFormat, settings: &Settings, change: Change) -> Result<Prepared> {
    let namespace = change.namespace.as_str();
    // Secrets written in place that a GitOps tool deploys: refused unless the user accepts
    // that the next sync reverts them. (Sealed and ExternalSecret changes go to their source.)
    let gitops: Vec<(&str, GitOpsOwner)> = if change.source.in_place() {
        gitops_owners(conn, &change.secrets).await
    } else {
        Vec::new()
    };
    if let Some((name, owner)) = gitops.first().filter(|_| !settings.allow_gitops_drift) {
        return Err(PlanError::Managed(owner.refusal(namespace, name)).into());
    }
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    // Database passwords change at the server that checks them first (their issuers); one
    // with no issuer is refused unless the operator changed it there already.
    let in_place = change.source.in_place();
    let issued_keys = if in_place {
        issued::configured(&change.secrets, &change.issuers)?
    } else if let Some(flag) = change.issuers.first() {
        return Err(Error::Usage(format!(
            "--issuer {}: {}/{} is written by its owner (a SealedSecret or an ExternalSecret), which issuers do not support yet: \
             change the password at the server and in the owner's source, then --no-issuer",
            flag.key, namespace, flag.secret
        )));
    } else {
        Vec::new()
    };
    if in_place && !change.no_issuer {
        if let Some(refusal) = issued::unissued_database_password(&change.secrets, &issued_keys, &snapshot, policy) {
            return Err(refusal);
        }
    }
    let issued = issued::prepare(conn, namespace, &change.secrets, &issued_keys).await?;
    let changed: BTreeSet<String> = change.secrets.iter().map(|c| c.name().to_string()).collect();
    // Only the in-place write records when each key changed (what verify judges readers of some
    // keys by); a SealedSecret's controller or External Secrets writes the data otherwise, so
    // every reader of those Secrets restarts.
    let per_key = in_place;
    let changed_keys: consumers::ChangedKeys = change
        .secrets
        .iter()
        .map(|c| {
            let keys = if per_key {
                c.keys.iter().map(|k| k.key.clone()).collect()
            } else {
                c.before.data.keys().chain(c.after.keys()).cloned().collect()
            };
            (c.name().to_string(), keys)
        })
        .chain(
            change
                .source
                .agent_sources()
                .into_iter()
                .map(|source| (source, BTreeSet::new())),
        )
        .collect();
    let mut consumers = consumers::consumers_of(&snapshot, &changed_keys, policy, settings.restart_all);
    // An issuer's own workload is where the password changes: it is not restarted.
    for consumer in consumers.iter_mut() {
        if issued.iter().any(|i| i.server.as_ref() == Some(&consumer.id)) {
            consumer.action = ConsumerAction::Issuer;
        }
    }
    let restarting = settings.restart && change.source.restarts();
    let written: BTreeMap<String, u64> = change
        .secrets
        .iter()
        .map(|c| (c.name().to_string(), c.new_revision))
        .collect();
    let templates = templates_of(&snapshot);
    let restarts: Vec<WorkloadId> = if restarting {
        consumers::to_restart(&consumers)
    } else {
        Vec::new()
    };
    refuse_beyond_max_restarts(settings, namespace, restarts.len())?;
    let too_soon = restart_budget::too_soon(
        &snapshot.workloads,
        &restarts,
        settings.min_restart_interval,
        Timestamp::now(),
    );
    let targets = targets_for(&restarts, &templates, &written, None);

    let strategy = Strategy {
        max_parallel: settings.max_parallel,
        batch_interval: settings.batch_interval,
        timeout: settings.timeout,
        restart: restarting,
        writes: change.source.writes(),
    };
    let fingerprints = run_fingerprints();
    render::rotate::plan(
        &conn.context,
        namespace,
        &change.secrets,
        &consumers,
        &strategy,
        &fingerprints,
        output,
    )?;
    if let Some(line) = change.source.describe(namespace) {
        render::step(&line);
    }
    issued::describe(&issued, change.no_issuer);
    for (name, owner) in &gitops {
        render::warning(&owner.drift_warning(namespace, name));
    }
    warn_too_soon(&too_soon, settings);
    let mut needed = permissions(&targets);
    change.source.adjust_permissions(&mut needed);
    if !needed.is_empty() {
        cluster::access::require(conn, namespace, &needed).await?;
    }
    Ok(Prepared {
        change,
        changed,
        targets,
        templates,
        issued,
        too_soon,
    })
}

/// The confirmed change: run it, then leave its Events.
pub async fn run_prepared(conn: &Connection, settings: &Settings, prepared: Prepared) -> Result<Outcome> {
    let Prepared {
        change,
        changed,
        targets,
        templates,
        mut issued,
        too_soon: _,
    } = prepared;
    let namespace = change.namespace.clone();
    let reached_outside = matches!(change.source, Source::External(_)) || !issued.is_empty();
    // The issuers that waited for the operator's consent (given now) are reached first.
    issued::connect_all(conn, &namespace, &mut issued).await?;
    let names: Vec<String> = changed.iter().cloned().collect();
    let restarted: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
    let result = run_confirmed(conn, settings, change, &changed, &targets, &templates, &issued).await;
    events::after_change(conn, settings, &namespace, &names, &restarted, &result, reached_outside).await;
    result
}

/// The confirmed change, by its owner's path: write (or provider version), restart, verify.
async fn run_confirmed(
    conn: &Connection,
    settings: &Settings,
    change: Change,
    changed: &BTreeSet<String>,
    targets: &[RestartTarget],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    issued: &[issued::Prepared],
) -> Result<Outcome> {
    let namespace = change.namespace.as_str();
    match change.source {
        Source::External(external) => {
            let secret = change.secrets.first().expect("an external change has its Secret");
            external::run(conn, settings, secret, &external, targets, templates).await?;
            // Pods that render a written Vault path themselves (Agent Injector) are judged too.
            let mut changed = changed.clone();
            changed.extend(external.agent_sources());
            let outcome = verify_changed(conn, namespace, &changed, settings).await?;
            external::after_verify(&external, &outcome).await?;
            return Ok(outcome);
        }
        Source::Sealed(sealed) => {
            let secret = change
                .secrets
                .into_iter()
                .next()
                .expect("a sealed change has its Secret");
            sealed::run(conn, settings, &secret, *sealed, targets, templates).await?;
        }
        Source::InPlace => {
            write_and_restart(conn, settings, namespace, &change.secrets, targets, templates, issued).await?
        }
    }
    let outcome = verify_changed_except(conn, namespace, changed, settings, issued).await?;
    issued::retire_all(issued, outcome == Outcome::Clean && settings.restart).await?;
    Ok(outcome)
}

/// `verify --fix`: restart workloads whose pods run with stale values (no data changes),
/// after the permission check and the confirmation. Exit 11 when a rollout fails. Returns
/// whether anything was restarted (not on --dry-run or a "no").
pub async fn restart_stale(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    targets: &[RestartTarget],
) -> Result<bool> {
    let mut by_namespace: BTreeMap<&str, Vec<RestartTarget>> = BTreeMap::new();
    for target in targets {
        by_namespace
            .entry(target.id.namespace.as_str())
            .or_default()
            .push(target.clone());
    }
    for (namespace, targets) in &by_namespace {
        let needed: Vec<Permission> = permissions(targets)
            .into_iter()
            .filter(|p| p.resource != "secrets")
            .collect();
        cluster::access::require(conn, namespace, &needed).await?;
    }
    if !go_ahead(consent, "Restart these workloads?")? {
        return Ok(false);
    }
    let result = restart_confirmed(conn, settings, &by_namespace).await;
    events::after_fix(conn, settings, targets, &result).await;
    result
}

async fn restart_confirmed(
    conn: &Connection,
    settings: &Settings,
    by_namespace: &BTreeMap<&str, Vec<RestartTarget>>,
) -> Result<bool> {
    let mut failed = Vec::new();
    for (namespace, targets) in by_namespace {
        let title = format!("Restarting stale workloads in {namespace}:");
        failed.extend(restart_outside_a_change(conn, settings, namespace, targets, &title, None).await?);
    }
    if !failed.is_empty() {
        return Err(Error::RolloutFailed(format!(
            "the restart did not complete: {} (no Secret was changed; look at the pods, e.g. kubectl describe)",
            failed.join("; ")
        )));
    }
    Ok(true)
}

/// Restart workloads whose Secret the plugin did not write (verify --fix; a renewal, where
/// cert-manager wrote it and `lease` holds the renewal's journal): their rollouts awaited; the
/// failures, one line each.
async fn restart_outside_a_change(
    conn: &Connection,
    settings: &Settings,
    namespace: &str,
    targets: &[RestartTarget],
    title: &str,
    lease: Option<&Lease>,
) -> Result<Vec<String>> {
    let states = restart::restart_and_wait(
        conn,
        namespace,
        targets,
        settings.pacing(settings.timeout),
        title,
        lease,
        !settings.leave_on_delete,
        settings.forward_promotion(),
    )
    .await?;
    Ok(restart::failures_of(&states))
}

/// `history --prune`: delete the recorded backups of `secret` beyond the newest `keep` (only
/// recorded ones: `recorded` is newest first). The record is rewritten first, with the
/// Secret's resourceVersion, then the objects it no longer names are deleted (uid-checked).
pub async fn prune(
    conn: &Connection,
    consent: Consent,
    secret: &crate::domain::plan::SecretState,
    recorded: &[&crate::domain::history::BackupRevision],
    keep: usize,
) -> Result<()> {
    if recorded.len() <= keep {
        render::step(&format!(
            "Nothing to prune: {} recorded backups, keeping {keep}.",
            recorded.len()
        ));
        return Ok(());
    }
    let doomed = &recorded[keep..];
    let names: Vec<&str> = doomed.iter().map(|b| b.name.as_str()).collect();
    render::step(&format!("Prune: delete {}.", names.join(", ")));
    if !go_ahead(consent, "Delete these backups?")? {
        return Ok(());
    }
    let remaining: Vec<RecordedBackup> = secret
        .backup_record
        .iter()
        .filter(|r| !names.contains(&r.name.as_str()))
        .cloned()
        .collect();
    cluster::secrets::set_record(conn, secret, &remaining).await?;
    for backup in doomed {
        cluster::secrets::delete(conn, &secret.namespace, &backup.name, Some(&backup.state.uid)).await?;
    }
    render::step(&format!("Deleted {}.", render::plural(doomed.len(), "backup")));
    Ok(())
}

/// After the plan: stop on --dry-run or a "no" (saying nothing was changed), else go ahead.
pub fn go_ahead(consent: Consent, question: &str) -> Result<bool> {
    if consent.server_dry_run {
        return Err(Error::Usage(
            "--dry-run=server sends the writes of a change of one cluster's Secrets (rotate, edit, rollback); \
             here use --dry-run, which shows the plan and changes nothing"
                .into(),
        ));
    }
    if consent.dry_run {
        render::step("Dry run: nothing was changed.");
        return Ok(false);
    }
    if !prompt::confirm_change(consent.yes, question)? {
        render::step("Cancelled: nothing was changed.");
        return Ok(false);
    }
    Ok(true)
}

/// `--dry-run=server`: each write the change would make first (backups, the Secrets' data with
/// their stamps, the restarts), sent with dryRun=All so that the API server validates, admits
/// and authorises them without storing anything. Returns how many were sent. Writes outside
/// the API server (a provider, a database, a SealedSecret file) are not sent: refused here.
async fn server_check(conn: &Connection, settings: &Settings, prepared: &Prepared) -> Result<usize> {
    let change = &prepared.change;
    if !change.source.in_place() || !prepared.issued.is_empty() {
        return Err(Error::Usage(
            "--dry-run=server checks changes written in the cluster; this one writes at its owner or a database \
             server too, which cannot take a dry run: use --dry-run"
                .into(),
        ));
    }
    let dry = Connection {
        server_dry_run: true,
        ..conn.clone()
    };
    let id = new_rotation_id();
    let at = Timestamp::now();
    let mut requests = 0;
    for secret in &change.secrets {
        let name = crate::domain::plan::backup_name(secret.name(), secret.before.revision, &id);
        let keys: Vec<String> = secret.keys.iter().map(|k| k.key.clone()).collect();
        cluster::secrets::create_backup(&dry, &secret.before, &name, &id, &keys, &settings.changed_by).await?;
        let key_changes = key_changes::next(&secret.before, &secret.after, secret.new_revision, at);
        let stamp = Stamp {
            revision: secret.new_revision,
            rotation_id: &id,
            changed_by: &settings.changed_by,
            at,
            journal: JournalUpdate::Keep,
            record: None,
            key_changes: Some(&key_changes),
            journal_on: None,
        };
        cluster::secrets::write_data(&dry, &secret.before, &secret.after, &stamp).await?;
        requests += 2;
    }
    if settings.restart {
        for target in &prepared.targets {
            cluster::workloads::restart(&dry, &target.id, &target.revisions, at, Some(&id)).await?;
            requests += 1;
        }
    }
    Ok(requests)
}

/// One Secret to put back to a backup's data, if it still holds what the change wrote.
struct Restore {
    secret: String,
    data: BTreeMap<String, SecretValue>,
    /// The revision the change wrote (restoring writes the next one).
    written: u64,
    /// The data the change wrote, when this run knows it: then "still holds what the change
    /// wrote" is checked exactly; from a journal, by who last changed the data (managedFields).
    wrote: Option<BTreeMap<String, SecretValue>>,
}

/// The running machine: the namespace, the settings, and the journal this run holds.
struct Machine<'a> {
    conn: &'a Connection,
    namespace: &'a str,
    settings: &'a Settings,
    lease: Arc<Lease>,
    /// The issuers whose passwords this change sets: an undo puts them back first.
    issued: &'a [issued::Prepared],
}

/// Backups, then the writes (the first Secret's carries the journal), then the restarts; on a
/// failed rollout, the previous data back and the restarts again. With issuers, the journal is
/// written alone first and the new passwords set at the servers before any Secret is written;
/// an undo puts the servers back before the Secrets.
async fn write_and_restart(
    conn: &Connection,
    settings: &Settings,
    namespace: &str,
    changes: &[SecretChange],
    targets: &[RestartTarget],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    issued: &[issued::Prepared],
) -> Result<()> {
    let id = new_rotation_id();
    let mut backups = Vec::new();
    for change in changes {
        let name = crate::domain::plan::backup_name(change.name(), change.before.revision, &id);
        let keys: Vec<String> = change.keys.iter().map(|k| k.key.clone()).collect();
        match cluster::secrets::create_backup(conn, &change.before, &name, &id, &keys, &settings.changed_by).await {
            Ok(backup) => backups.push(backup),
            Err(error) => {
                discard_backups(conn, namespace, &backups).await;
                return Err(error);
            }
        }
    }
    crate::failpoint::pause("backed-up").await;

    let journal = Journal {
        id: id.clone(),
        action: settings.action.clone(),
        phase: if !issued.is_empty() {
            Phase::Issuing
        } else if changes.len() > 1 {
            Phase::Writing
        } else {
            Phase::Restarting
        },
        started_at: Timestamp::now(),
        holder: lease::this_run(&settings.changed_by),
        secrets: changes
            .iter()
            .zip(&backups)
            .map(|(c, b)| {
                let entry = JournalEntry {
                    backup: b.name.clone(),
                    backup_uid: b.uid.clone(),
                    from: c.before.revision,
                    to: c.new_revision,
                };
                (c.name().to_string(), entry)
            })
            .collect(),
        workloads: targets.iter().map(|t| t.id.clone()).collect(),
        sealed: None,
        external: None,
        issuers: issued.iter().map(|i| i.record.clone()).collect(),
        renewal: None,
    };
    let anchor = Anchor::Secret(changes[0].name().to_string());
    let mut first = changes[0].before.clone();
    if !issued.is_empty() {
        match cluster::secrets::update_journal(
            conn,
            namespace,
            &first.name,
            &first.resource_version,
            &JournalUpdate::Write(&journal),
        )
        .await
        {
            Ok(rv) => first.resource_version = rv,
            Err(error) => {
                discard_backups(conn, namespace, &backups).await;
                return Err(error);
            }
        }
    }
    let machine = Machine::holding(conn, namespace, settings, anchor, journal.clone()).with_issued(issued);
    if let Err(error) = issued::add_all(issued).await {
        let cleared = machine.lease.clear().await;
        discard_backups(conn, namespace, &backups).await;
        return Err(match cleared {
            Ok(()) => error,
            Err(e) => Error::RollbackFailed(format!("{error}; clearing the journal failed too: {e}")),
        });
    }
    crate::failpoint::pause("issued").await;
    let mut pruned = Vec::new();
    for (i, (change, backup)) in changes.iter().zip(&backups).enumerate() {
        let entry = RecordedBackup {
            name: backup.name.clone(),
            uid: backup.uid.clone(),
            rotation_id: id.clone(),
            revision: change.before.revision,
        };
        let (record, dropped) =
            journal::record_with(&change.before.backup_record, entry, usize::from(settings.keep_backups));
        let at = Timestamp::now();
        let key_changes = key_changes::next(&change.before, &change.after, change.new_revision, at);
        let stamp = Stamp {
            revision: change.new_revision,
            rotation_id: &id,
            changed_by: &settings.changed_by,
            at,
            // With issuers the journal is already there (written before them).
            journal: if i == 0 && issued.is_empty() {
                JournalUpdate::Write(&journal)
            } else {
                JournalUpdate::Keep
            },
            record: Some(&record),
            key_changes: Some(&key_changes),
            // The others say in their own write which Secret carries the change's journal.
            journal_on: (i > 0).then(|| changes[0].name()),
        };
        let before = if i == 0 { &first } else { &change.before };
        if let Err(error) = cluster::secrets::write_data(conn, before, &change.after, &stamp).await {
            if i == 0 && issued.is_empty() {
                machine.lease.forget();
                discard_backups(conn, namespace, &backups).await;
                return Err(error);
            }
            if i == 0 {
                // Nothing written to a Secret: the servers go back, then the journal.
                let undo = issued::undo_all(issued).await;
                if undo.is_ok() {
                    machine.lease.clear().await?;
                    discard_backups(conn, namespace, &backups).await;
                }
                return Err(match undo {
                    Ok(()) => error,
                    Err(undo_error) => Error::RollbackFailed(format!(
                        "{error}; putting the previous passwords back at their issuers failed too: {undo_error}. The journal is \
                         kept: `kubectl secrets rotate {} -n {namespace} --abort` finishes the undo",
                        changes[0].name()
                    )),
                });
            }
            // Some Secrets already hold the new data: put them (and the issuers) back, then say what failed.
            let undo = match issued::undo_all(issued).await {
                Ok(()) => machine.restore(&restores_of(&changes[..i])).await,
                Err(e) => Err(e),
            };
            machine.lease.clear().await?;
            return Err(match undo {
                Ok(_) => error,
                Err(undo_error) => Error::RollbackFailed(format!(
                    "{error}; restoring what was already written failed too: {undo_error}"
                )),
            });
        }
        pruned.push((change.before.namespace.clone(), dropped));
    }
    if changes.len() > 1 || !issued.is_empty() {
        machine.lease.enter(Phase::Restarting).await?;
    }
    let names: Vec<String> = changes
        .iter()
        .zip(&backups)
        .map(|(c, b)| format!("{} → {}", c.name(), b.name))
        .collect();
    render::step(&format!(
        "Wrote {} (backups: {}).",
        render::plural(changes.len(), "Secret"),
        names.join(", ")
    ));
    crate::failpoint::pause("written").await;
    for (namespace, dropped) in pruned {
        for old in dropped {
            if let Err(e) = cluster::secrets::delete(conn, &namespace, &old.name, Some(&old.uid)).await {
                render::warning(&format!("could not delete the old backup {}: {e}", old.name));
            }
        }
    }
    machine.finish(targets, &restores_of(changes), templates).await
}

/// The Secrets of `changes` as they were before: what an undo writes back.
fn restores_of(changes: &[SecretChange]) -> Vec<Restore> {
    changes
        .iter()
        .map(|c| Restore {
            secret: c.name().to_string(),
            data: c.before.data.clone(),
            written: c.new_revision,
            wrote: Some(c.after.clone()),
        })
        .collect()
}

/// Backups made for a change that wrote nothing hold data still in place: delete them.
async fn discard_backups(conn: &Connection, namespace: &str, backups: &[cluster::secrets::CreatedBackup]) {
    for backup in backups {
        if let Err(e) = cluster::secrets::delete(conn, namespace, &backup.name, Some(&backup.uid)).await {
            render::warning(&format!(
                "could not delete the unused backup {namespace}/{}: {e} (delete it: nothing refers to it)",
                backup.name
            ));
        }
    }
}

impl<'a> Machine<'a> {
    /// The machine of a change whose journal this run has just written on `anchor`.
    fn holding(
        conn: &'a Connection,
        namespace: &'a str,
        settings: &'a Settings,
        anchor: Anchor,
        journal: Journal,
    ) -> Self {
        Machine {
            conn,
            namespace,
            settings,
            lease: Lease::held(conn, namespace, anchor, journal),
            issued: &[],
        }
    }

    /// The same machine, with the issuers an undo puts back before the Secrets.
    fn with_issued(mut self, issued: &'a [issued::Prepared]) -> Self {
        self.issued = issued;
        self
    }

    /// The machine of an interrupted change, after the question: this run takes the journal
    /// over (its holder), written only if `anchor` is still at `expected` (409: someone acted
    /// meanwhile, nothing done).
    async fn taking_over(
        conn: &'a Connection,
        namespace: &'a str,
        settings: &'a Settings,
        anchor: Anchor,
        found: &Journal,
        expected: &str,
    ) -> Result<Self> {
        let holder = lease::this_run(&settings.changed_by);
        let lease = Lease::take_over(conn, namespace, anchor, found, holder, expected).await?;
        Ok(Machine {
            conn,
            namespace,
            settings,
            lease,
            issued: &[],
        })
    }

    /// Restart and wait; then clear the journal, or undo (restore, restart again) on failure.
    async fn finish(
        &self,
        targets: &[RestartTarget],
        restores: &[Restore],
        templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    ) -> Result<()> {
        if !targets.is_empty() {
            let failures = self.restart(targets, "Restarting consumers:").await?;
            if !failures.is_empty() {
                let workloads: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
                return Err(self.roll_back(restores, &workloads, templates, &failures).await);
            }
        }
        self.lease.clear().await
    }

    /// Restart and wait (up to --timeout); the rollouts that failed (empty: all complete).
    async fn restart(&self, targets: &[RestartTarget], title: &str) -> Result<Vec<String>> {
        self.restart_within(targets, title, self.settings.timeout, self.settings.forward_promotion())
            .await
    }

    /// Restart with the previous data: an undo waits at least a minute, so that it does not give
    /// up as fast as a short --timeout gave up on the change.
    async fn restart_back(&self, targets: &[RestartTarget]) -> Result<Vec<String>> {
        self.restart_within(
            targets,
            "Restarting with the previous data:",
            self.undo_timeout(),
            restart::Promotion::Full,
        )
        .await
    }

    /// An owner path's undo, once the Secret holds the previous data again at `revision`:
    /// restart `workloads` with it, then clear the journal.
    async fn restart_back_and_clear(
        &self,
        secret: &str,
        revision: u64,
        workloads: &[WorkloadId],
        templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    ) -> Result<()> {
        if !workloads.is_empty() {
            let written = BTreeMap::from([(secret.to_string(), revision)]);
            let again = targets_for(workloads, templates, &written, None);
            let failures = self.restart_back(&again).await?;
            if !failures.is_empty() {
                return Err(Error::RollbackFailed(format!(
                    "the previous data is back but the restart failed: {}",
                    failures.join("; ")
                )));
            }
        }
        self.lease.clear().await
    }

    /// How a change that failed at `what_failed` ends once its undo ran: what was `put_back`
    /// (exit 8), or the undo's own failure, the journal kept for `--abort`.
    fn undo_outcome(
        &self,
        secret: &str,
        what_failed: &str,
        undo: Result<()>,
        put_back: &str,
        restarted: bool,
    ) -> Error {
        match undo {
            Ok(()) => Error::RolledBack(format!(
                "{what_failed}; {put_back}{}",
                if restarted {
                    ", and the consumers restarted with the previous data"
                } else {
                    ""
                }
            )),
            Err(e) => Error::RollbackFailed(format!(
                "{what_failed}; the undo failed too: {e}. The journal is kept: `kubectl secrets rotate {secret} -n {} \
                 --abort` finishes it",
                self.namespace
            )),
        }
    }

    fn undo_timeout(&self) -> Duration {
        self.settings.timeout.max(Duration::from_secs(60))
    }

    async fn restart_within(
        &self,
        targets: &[RestartTarget],
        title: &str,
        timeout: Duration,
        promotion: restart::Promotion,
    ) -> Result<Vec<String>> {
        let states = restart::restart_and_wait(
            self.conn,
            self.namespace,
            targets,
            self.settings.pacing(timeout),
            title,
            Some(&self.lease),
            !self.settings.leave_on_delete,
            promotion,
        )
        .await?;
        Ok(restart::failures_of(&states))
    }

    /// Put each Secret back to its previous data, only where it still holds what this change
    /// wrote: someone else's later edit is reported, never overwritten. Returns the revision
    /// each restored Secret now has.
    async fn restore(&self, restores: &[Restore]) -> Result<BTreeMap<String, u64>> {
        let journal = self.lease.journal();
        let mut restored = BTreeMap::new();
        for restore in restores {
            let current = cluster::secrets::get(self.conn, self.namespace, &restore.secret).await?;
            let ours = current.rotation_id.as_deref() == Some(journal.id.as_str());
            if ours && current.revision == restore.written + 1 {
                restored.insert(restore.secret.clone(), current.revision);
                continue;
            }
            let edited = match &restore.wrote {
                Some(wrote) => current.data != *wrote,
                None => journal::edited_since(current.foreign_data_change_at, journal.started_at).is_some(),
            };
            if !ours || current.revision != restore.written || edited {
                return Err(Error::Conflict {
                    namespace: current.namespace,
                    name: current.name,
                });
            }
            let changed_by = format!("{} (undoing {})", self.settings.changed_by, journal.id);
            let at = Timestamp::now();
            let key_changes = key_changes::next(&current, &restore.data, restore.written + 1, at);
            let anchor = match self.lease.anchor() {
                Anchor::Secret(name) if *name != restore.secret => Some(name.as_str()),
                _ => None,
            };
            let stamp = Stamp {
                revision: restore.written + 1,
                rotation_id: &journal.id,
                changed_by: &changed_by,
                at,
                journal: JournalUpdate::Keep,
                record: None,
                key_changes: Some(&key_changes),
                journal_on: anchor,
            };
            cluster::secrets::write_data(self.conn, &current, &restore.data, &stamp).await?;
            restored.insert(restore.secret.clone(), restore.written + 1);
        }
        Ok(restored)
    }

    /// A rollout failed: restore, restart with the previous data, report. The journal stays
    /// when the undo cannot finish, so `--abort` can finish it later.
    async fn roll_back(
        &self,
        restores: &[Restore],
        workloads: &[WorkloadId],
        templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
        failures: &[String],
    ) -> Error {
        let what_failed = failures.join("; ");
        render::step(&format!(
            "Rollout failed: {what_failed}. Restoring the previous data and restarting again."
        ));
        if let Err(e) = self.lease.enter(Phase::RollingBack).await {
            return e;
        }
        let journal = self.lease.journal();
        // The servers first: once the Secrets hold the previous passwords, they must work.
        if let Err(e) = issued::undo_all(self.issued).await {
            return Error::RollbackFailed(format!(
                "rollout failed ({what_failed}) and putting the previous passwords back at their issuers failed: {e}. \
                 The Secrets still hold the new ones, which the servers accept; the journal is kept: run \
                 `kubectl secrets rotate {} -n {} --abort` once the cause is fixed",
                self.subject(),
                self.namespace
            ));
        }
        let restored = match self.restore(restores).await {
            Ok(restored) => restored,
            Err(e) => {
                let backups: Vec<&str> = journal.secrets.values().map(|e| e.backup.as_str()).collect();
                return Error::RollbackFailed(format!(
                    "rollout failed ({what_failed}) and restoring the previous data failed: {e}. The backups are kept \
                     ({}); the journal is kept: run `kubectl secrets rotate {} -n {} --abort` once the cause is fixed",
                    backups.join(", "),
                    self.subject(),
                    self.namespace
                ));
            }
        };
        let again = targets_for(workloads, templates, &restored, None);
        let still_failing = match self.restart_back(&again).await {
            Ok(failures) => failures,
            Err(e) => return e,
        };
        let restored_text: Vec<String> = restored
            .iter()
            .map(|(s, r)| format!("{s} (now revision {r})"))
            .collect();
        if !still_failing.is_empty() {
            return Error::RollbackFailed(format!(
                "rollout failed ({what_failed}); the previous data was restored ({}) but the restart with it failed too ({}). \
                 The workloads need attention: kubectl secrets verify -n {}",
                restored_text.join(", "),
                still_failing.join("; "),
                self.namespace
            ));
        }
        if let Err(e) = self.lease.clear().await {
            return e;
        }
        Error::RolledBack(format!(
            "the change was rolled back: {what_failed}. Restored the previous data of {} and restarted {}: they run with the previous values again",
            restored_text.join(", "),
            render::plural(workloads.len(), "workload")
        ))
    }

    /// The Secret users name in commands about this change.
    fn subject(&self) -> String {
        let journal = self.lease.journal();
        match self.lease.anchor() {
            Anchor::Secret(name) => name.clone(),
            Anchor::SealedSecret(_) => journal.secrets.keys().next().cloned().unwrap_or_default(),
        }
    }
}

/// Each restartable workload's template revisions (what its pods were last restarted for).
fn templates_of(snapshot: &Snapshot) -> BTreeMap<WorkloadId, BTreeMap<String, u64>> {
    snapshot
        .workloads
        .iter()
        .map(|w| (w.id.clone(), w.secret_revisions.clone()))
        .collect()
}

/// Restart targets stamped with exactly the revisions written; `restarted_since` marks those
/// whose template already carries them (only awaited).
fn targets_for(
    workloads: &[WorkloadId],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
    written: &BTreeMap<String, u64>,
    restarted_since: Option<Timestamp>,
) -> Vec<RestartTarget> {
    workloads
        .iter()
        .map(|id| {
            let template = templates.get(id).cloned().unwrap_or_default();
            RestartTarget {
                id: id.clone(),
                revisions: rollout::stamped(&template, written),
                restarted_since: restarted_since.filter(|_| rollout::carries(&template, written)),
            }
        })
        .collect()
}

/// verify's rules on the consumers of one Secret, shown as after a change (a wave's bake).
pub async fn verify_consumers(
    conn: &Connection,
    namespace: &str,
    secret: &str,
    settings: &Settings,
) -> Result<Outcome> {
    let changed = BTreeSet::from([secret.to_string()]);
    verify_changed(conn, namespace, &changed, settings).await
}

/// The namespace read once the old pods that read one of `changed` are gone. A rollout is
/// complete once its new pods are available; old ones may still be terminating, running the old
/// values until their grace period ends: wait for them (bounded), then read again.
pub async fn read_after_leaving_pods(
    conn: &Connection,
    namespace: &str,
    changed: &BTreeSet<String>,
    settings: &Settings,
) -> Result<(Snapshot, EnvNamePolicy)> {
    let (snapshot, policy) = read_namespace(conn, namespace).await?;
    let leaving: Vec<(String, String)> = snapshot
        .pods
        .iter()
        .filter(|p| p.terminating_until.is_some())
        .filter(|p| crate::domain::env::referenced_secrets(&p.spec).any(|s| changed.contains(s)))
        .map(|p| (p.name.clone(), p.uid.clone()))
        .collect();
    if leaving.is_empty() {
        return Ok((snapshot, policy));
    }
    let grace_ends = snapshot.pods.iter().filter_map(|p| p.terminating_until).max();
    let cap = Timestamp::now() + settings.timeout.min(Duration::from_secs(120));
    let until = grace_ends
        .map(|t| t + Duration::from_secs(2))
        .filter(|t| *t < cap)
        .unwrap_or(cap);
    render::step(&format!(
        "Waiting for {} to finish terminating (until {until} at the most)",
        render::plural(leaving.len(), "old pod")
    ));
    cluster::workloads::wait_gone(conn, namespace, &leaving, until).await?;
    read_namespace(conn, namespace).await
}

/// verify's rules on the workloads that read the changed Secrets.
async fn verify_changed(
    conn: &Connection,
    namespace: &str,
    changed: &BTreeSet<String>,
    settings: &Settings,
) -> Result<Outcome> {
    verify_changed_except(conn, namespace, changed, settings, &[]).await
}

/// The same, for a change with issuers: their servers are left out (the password changed at
/// them; not restarted, so not judged by when they started), and no "safe to revoke" is said of
/// their passwords (the issuer step says what became of the previous one).
async fn verify_changed_except(
    conn: &Connection,
    namespace: &str,
    changed: &BTreeSet<String>,
    settings: &Settings,
    issued: &[issued::Prepared],
) -> Result<Outcome> {
    let issuers: BTreeSet<&WorkloadId> = issued.iter().filter_map(|i| i.server.as_ref()).collect();
    if !settings.restart {
        render::step(&format!(
            "Consumers were not restarted: `kubectl secrets verify -n {namespace}` shows which still run with old values."
        ));
        return Ok(Outcome::Clean);
    }
    let previous_kept = settings.previous_kept.as_deref();
    let (snapshot, policy) = read_after_leaving_pods(conn, namespace, changed, settings).await?;
    let mut report = drift::assess(
        &snapshot,
        &drift::Options {
            policy,
            secret: None,
            report_unused: false,
            list_without_secrets: true,
        },
    );
    // CronJobs have no pods to judge: they are kept when their template reads a changed Secret.
    let cron_readers: BTreeSet<&WorkloadId> = snapshot
        .workloads
        .iter()
        .filter(|w| w.schedule.is_some())
        .filter(|w| crate::domain::env::referenced_secrets(&w.spec).any(|s| changed.contains(s)))
        .map(|w| &w.id)
        .collect();
    report.workloads.retain(|w| {
        let id = WorkloadId {
            namespace: w.namespace.clone(),
            kind: w.kind,
            name: w.name.clone(),
        };
        if issuers.contains(&id) {
            return false;
        }
        w.findings.iter().any(|f| changed.contains(&f.secret))
            || w.auto_updating.iter().any(|s| changed.contains(s))
            || cron_readers
                .iter()
                .any(|id| id.kind == w.kind && id.namespace == w.namespace && id.name == w.name)
    });
    for workload in &mut report.workloads {
        workload.findings.retain(|f| changed.contains(&f.secret));
        workload.status = workload
            .findings
            .iter()
            .map(|f| f.status)
            .max()
            .unwrap_or(drift::Status::Ok);
    }
    // Only what this change touched: other Secrets' problems are verify's to report.
    report.unsealing_failed.retain(|s| changed.contains(&s.name));
    report.sync_failed.retain(|s| changed.contains(&s.secret));
    report.edited_since_sync.retain(|s| changed.contains(&s.name));
    report.revocation.retain(|r| {
        changed.contains(&r.secret) && previous_kept.is_none() && !issued.iter().any(|i| i.record.secret == r.secret)
    });
    report.summary = drift::summarize(&report.workloads, 0);
    let names = changed.iter().cloned().collect::<Vec<_>>().join(", ");
    render::step(&format!("Verifying the consumers of {names}:"));
    render::verify::after_change(&report, namespace, &names)?;
    // Said once: later verify runs do not repeat it. A note only: failing to write it changes
    // nothing of the change.
    for said in report.revocation.iter().filter(|r| r.safe && !r.already_said) {
        let _ = cluster::secrets::note_revocation_said(conn, namespace, &said.secret, said.revision).await;
    }
    if let Some(note) = previous_kept {
        render::step(note);
    }
    Ok(if report.has_drift() {
        Outcome::Found
    } else {
        Outcome::Clean
    })
}

/// The namespace as verify sees it, with the kubelet rules of the server's version.
pub async fn read_namespace(conn: &Connection, namespace: &str) -> Result<(Snapshot, EnvNamePolicy)> {
    let scope = Scope::Namespace(namespace.into());
    let (mut snapshot, minor) = tokio::try_join!(
        cluster::snapshot::read(conn, &scope, None),
        cluster::server_minor_version(conn)
    )?;
    snapshot.vault_kv = cluster::vault::agent_paths(&snapshot).await;
    Ok((snapshot, EnvNamePolicy::for_server_minor(minor)))
}

/// Everything a change will do, checked before the first write.
fn permissions(targets: &[RestartTarget]) -> Vec<Permission> {
    let mut needed = BTreeSet::from([
        Permission::new("create", "", "secrets"),
        Permission::new("patch", "", "secrets"),
    ]);
    if !targets.is_empty() {
        needed.insert(Permission::new("watch", "", "pods"));
    }
    for target in targets {
        let resource = cluster::workloads::resource_of(target.id.kind);
        if target.id.kind == WorkloadKind::Rollout {
            // Restarted through the template, promoted through the status (an undo promotes).
            needed.insert(Permission::new("patch", "argoproj.io", resource));
            needed.insert(Permission::new("watch", "argoproj.io", resource));
            needed.insert(Permission::new("patch", "argoproj.io", "rollouts/status"));
        } else {
            needed.insert(Permission::new("patch", "apps", resource));
            needed.insert(Permission::new("watch", "apps", resource));
        }
    }
    needed.into_iter().collect()
}

/// Fingerprints comparable across everything this run shows (the plans of a rotation in
/// several clusters: the same new value has the same fingerprint), meaningless after it.
fn run_fingerprints() -> Fingerprinter {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    Fingerprinter::new(*KEY.get_or_init(rand::random))
}

fn new_rotation_id() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}
