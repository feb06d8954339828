//! The External Secrets path of the machine: a Secret an ExternalSecret syncs changes at its
//! provider. Where the plugin writes the provider (a [`Store`]: AWS Secrets Manager in
//! `aws.rs`), it writes the new version itself; for any provider, `--synced` takes a value the
//! person already changed there. This file knows ExternalSecrets, not providers: a provider is
//! one file behind `Store`, and one arm in [`open`].
//!
//! Steps: journal on the Secret (ESO keeps annotations it does not manage) → new provider
//! versions → force-sync → wait until the Secret holds the new values → stamp the revision →
//! restart → verify → clear. A failure makes the previous versions current again, syncs, and
//! restarts again. The journal names each version by the rotation's token, and recovery checks
//! it against the provider's own record, never trusting it alone.

mod aws;
pub mod vault;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use jiff::Timestamp;
use tokio::time::Instant;

use super::lease::{self, Anchor};
use super::recovery::{confirm, show_plan, untrusted, Recovery};
use super::upstream::{self, Upstream};
use super::{verify_changed, Consent, Machine, Settings};
use futures::future::BoxFuture;

use crate::cluster::access::Permission;
use crate::cluster::secrets::{JournalUpdate, Stamp};
use crate::cluster::{self, Connection};
use crate::domain::external::{self, ExternalSecretState, Provider, RemoteValue, RemoteVersion};
use crate::domain::journal::{self, ExternalJournal, Journal, JournalEntry, Phase, RemoteEntry};
use crate::domain::model::WorkloadId;
use crate::domain::plan::{ChangeKind, KeyChange, SecretChange, SecretState};
use crate::domain::rollout::RestartTarget;
use crate::domain::secret_value::SecretValue;
use crate::error::Outcome;
use crate::error::{Error, Result};
use crate::render;
use crate::render::rotate::RecoveryRow;

/// One provider's versioned store, as the plugin writes it: every provider-specific step of a
/// change, so that the machine below is the same for each. A version is named by the
/// rotation's token (`external::version_token`), which makes a repeated write a no-op.
pub trait Store: Send + Sync {
    /// "AWS Secrets Manager (us-east-1)": the same words as `Provider::describe`.
    fn describe(&self) -> String;
    /// Where the store is (a region, an address): recorded in the journal, checked on recovery.
    fn location(&self) -> &str;
    /// The provider's own names for its versions, for plans and messages.
    fn words(&self) -> &'static Words;
    /// The version External Secrets reads now.
    fn current<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<RemoteValue>>;
    fn value_at<'a>(&'a self, remote: &'a str, version: &'a str) -> BoxFuture<'a, Result<RemoteValue>>;
    fn versions<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<Vec<RemoteVersion>>>;
    /// The version the current one replaced (what a rollback goes back to), if the store keeps it.
    fn replaced<'v>(&self, versions: &'v [RemoteVersion]) -> Option<&'v RemoteVersion>;
    /// Before the question: refuse a value or a remote the store cannot take back exactly,
    /// and say what the plan should show about it (how many versions it keeps...).
    fn precheck<'a>(&'a self, _remote: &'a str, _text: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    /// Write `text` as a new version anchored on the rotation's `token` and make it current
    /// (replacing `previous`, which must still be current). Returns the version's id.
    fn write<'a>(
        &'a self,
        remote: &'a str,
        token: &'a str,
        text: &'a str,
        previous: &'a str,
    ) -> BoxFuture<'a, Result<String>>;
    /// Finish a write an interruption left: the journal's new version made current.
    fn make_current<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>>;
    /// Undo: the journal's previous version current again (where the new one is).
    fn move_back<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>>;
    /// Where a journal's remote stands by the provider's own record (Err: they disagree).
    fn state<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<std::result::Result<RemoteState, String>>>;
    /// After verify: mark `previous` as no longer in use.
    fn retire<'a>(&'a self, remote: &'a str, previous: &'a str) -> BoxFuture<'a, Result<()>>;
}

/// A store's own words for its versions ("AWSCURRENT"), so messages read as its users know them.
pub struct Words {
    /// "AWS"
    pub short: &'static str,
    /// The version External Secrets reads.
    pub current: &'static str,
    /// The version a change replaced.
    pub previous: &'static str,
    /// A version written, not current yet.
    pub pending: &'static str,
    /// How a new version is written, for the plan.
    pub how_written: &'static str,
    /// After a write: what the new version is now.
    pub made_current: &'static str,
    /// After a verified rotation: what keeps the replaced versions, and what retiring does.
    pub keeps_previous: &'static str,
    /// What `--retire-previous` did to the replaced versions.
    pub retired: &'static str,
}

/// The store the plugin writes for `provider`; None where it does not write (change the value
/// there and use `--synced`).
async fn open(provider: &Provider) -> Option<Box<dyn Store>> {
    match provider {
        Provider::AwsSecretsManager { region } => Some(Box::new(aws::Aws::connect(region).await)),
        Provider::Vault { .. } => vault::Vault::connect(provider).map(|v| Box::new(v) as Box<dyn Store>),
        Provider::Other(_) => None,
    }
}

/// The ExternalSecret side of a planned change, prepared before the question.
pub struct ExternalChange {
    pub es: ExternalSecretState,
    pub provider: Provider,
    /// New provider versions; empty for `--synced`.
    writes: Vec<RemoteWrite>,
    /// The provider's words, where the plugin writes it.
    words: Option<&'static Words>,
    /// The values the Secret holds once ESO has synced the new versions.
    expected: BTreeMap<String, SecretValue>,
    /// Retire the replaced versions once every consumer runs the new one.
    pub retire_previous: bool,
    /// Per remote written: the ExternalSecrets of other namespaces that read it too (None: they
    /// could not be listed).
    shared: Option<BTreeMap<String, Vec<String>>>,
}

struct RemoteWrite {
    key: String,
    previous: String,
    text: SecretValue,
    fields: Vec<String>,
}

impl ExternalChange {
    pub fn is_synced(&self) -> bool {
        self.writes.is_empty()
    }

    /// The Vault paths this change writes, as pods fed by Vault's Agent Injector name them
    /// ("vault:secret/data/db"): they read the new version too.
    pub fn agent_sources(&self) -> Vec<String> {
        match &self.provider {
            Provider::Vault { mount, .. } => self
                .writes
                .iter()
                .map(|w| {
                    format!(
                        "vault:{mount}/data/{}",
                        crate::domain::vault_kv::relative_path(mount, &w.key)
                    )
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    /// What the operator must consent to, read from the namespace: the remotes this change
    /// writes a version of. Without a question (`unattended`) each must be named with
    /// --remote; one that other namespaces' ExternalSecrets read is refused unless
    /// --allow-shared-remote.
    pub fn check_consent(&self, namespace: &str, settings: &Settings, unattended: bool) -> Result<()> {
        for write in &self.writes {
            let remote = render::clean_line(&write.key);
            if let Some(readers) = self.shared.as_ref().and_then(|s| s.get(&write.key)) {
                if !readers.is_empty() && !settings.allow_shared_remote {
                    return Err(Error::Unconsented(format!(
                        "{remote} is also read by ExternalSecret {} in other namespaces: a new version there reaches them \
                         too. Pass --allow-shared-remote if that is meant",
                        readers.join(", ")
                    )));
                }
            }
            if unattended && !settings.remotes.contains(&write.key) {
                return Err(Error::Unconsented(format!(
                    "this writes a new version of {} secret {remote}, which ExternalSecret {namespace}/{} names (whoever \
                     writes the namespace may edit it): name it with --remote {remote} to consent, or run without --yes \
                     and confirm the plan, which names it",
                    self.provider.describe(),
                    self.es.name
                )));
            }
        }
        Ok(())
    }

    /// The provider is written, not the Secret (External Secrets creates nothing new here); the
    /// ExternalSecret is patched to make it sync.
    pub(in crate::engine) fn adjust_permissions(&self, needed: &mut Vec<Permission>) {
        needed.retain(|p| p.verb != "create");
        needed.push(Permission::new("patch", "external-secrets.io", "externalsecrets"));
    }

    pub fn describe(&self, namespace: &str) -> String {
        let es = format!("ExternalSecret {namespace}/{}", self.es.name);
        if self.writes.is_empty() {
            return format!(
                "The new value is already at the provider ({}): {es} is synced (force-sync) and its Secret's data awaited before any restart.",
                self.provider.describe()
            );
        }
        let remotes: Vec<String> = self
            .writes
            .iter()
            .map(|w| {
                format!(
                    "{} ({}; replaces version {})",
                    render::clean_line(&w.key),
                    w.fields.join(", "),
                    render::clean_line(&w.previous)
                )
            })
            .collect();
        format!(
            "{}: a new version of {} is {}; then {es} is synced (force-sync) and the Secret's new data awaited before any \
             restart.",
            self.provider.describe(),
            remotes.join(", "),
            self.words.map_or("written", |w| w.how_written)
        )
    }
}

/// The ExternalSecret `owner` of `target` and its store's provider, refusing an ExternalSecret
/// that is failing to sync (rotating on top of it would never reach the pods).
async fn read_owner(conn: &Connection, target: &SecretState, owner: &str) -> Result<(ExternalSecretState, Provider)> {
    let namespace = target.namespace.as_str();
    let es = cluster::external::get(conn, namespace, owner).await?;
    if es.target != target.name {
        return Err(Error::Usage(format!(
            "ExternalSecret {namespace}/{owner} owns secret {namespace}/{} but targets {}: check its spec.target.name",
            target.name, es.target
        )));
    }
    if es.status.ready == Some(false) {
        return Err(Error::Usage(format!(
            "ExternalSecret {namespace}/{owner} is failing to sync ({}: {}): fix that first (kubectl describe externalsecret {owner} -n {namespace}); a rotation would not reach the pods",
            render::clean(&es.status.reason),
            render::clean(&es.status.message)
        )));
    }
    if let Some(reason) = es.never_resyncs() {
        return Err(Error::Usage(format!(
            "ExternalSecret {namespace}/{owner} would never take a new value: {reason}. Set spec.refreshInterval (e.g. 1h) \
             or refreshPolicy: OnChange, then rotate"
        )));
    }
    let provider = cluster::external::provider(conn, namespace, &es.store).await?;
    Ok((es, provider))
}

/// `rotate --synced`: the value was changed at the provider; sync, restart, verify.
pub async fn prepare_synced(
    conn: &Connection,
    target: &SecretState,
    owner: &str,
) -> Result<(SecretChange, ExternalChange)> {
    let (es, provider) = read_owner(conn, target, owner).await?;
    let mut before = target.clone();
    before.has_last_applied = false;
    let change = SecretChange {
        before,
        after: target.data.clone(),
        new_revision: target.revision + 1,
        keys: Vec::new(),
        left_out: Vec::new(),
    };
    Ok((
        change,
        ExternalChange {
            es,
            provider,
            writes: Vec::new(),
            words: None,
            expected: BTreeMap::new(),
            retire_previous: false,
            shared: None,
        },
    ))
}

/// `rotate` of keys of a Secret synced from a store the plugin writes: map each key to its remote
/// secret and property, check the Secret holds the provider's current values, and compute the
/// new remote values and what ESO will then write into the Secret.
pub async fn prepare(
    conn: &Connection,
    target: &SecretState,
    owner: &str,
    new_values: &BTreeMap<String, (SecretValue, String)>,
) -> Result<(SecretChange, ExternalChange)> {
    let namespace = target.namespace.as_str();
    let secret = format!("{namespace}/{}", target.name);
    let (es, provider) = read_owner(conn, target, owner).await?;
    let Some(store) = open(&provider).await else {
        return Err(Error::Usage(format!(
            "secret {secret} is synced by ExternalSecret {owner} from {}, which kubectl-secrets does not write to: \
             change the value there, then `kubectl secrets rotate {} -n {namespace} --synced` syncs, restarts and verifies",
            provider.describe(),
            target.name
        )));
    };
    let words = store.words();
    let mut current: BTreeMap<String, String> = BTreeMap::new();
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    for remote in &es.extracts {
        let value = store.current(remote).await?;
        versions.insert(remote.clone(), value.version_id);
        current.insert(remote.clone(), value.text);
    }
    let extracted: BTreeMap<String, BTreeSet<String>> = current
        .iter()
        .map(|(k, v)| (k.clone(), external::properties(v)))
        .collect();
    let mut by_remote: BTreeMap<String, Vec<(String, external::RemoteField)>> = BTreeMap::new();
    for key in new_values.keys() {
        let field =
            external::field_of(&es, key, &extracted).map_err(|e| Error::Usage(format!("secret {secret}: {e}")))?;
        by_remote
            .entry(field.remote_key.clone())
            .or_default()
            .push((key.clone(), field));
    }
    for remote in by_remote.keys() {
        if !current.contains_key(remote) {
            let value = store.current(remote).await?;
            versions.insert(remote.clone(), value.version_id);
            current.insert(remote.clone(), value.text);
        }
    }
    let mut writes = Vec::new();
    let mut after_texts = current.clone();
    for (remote, fields) in &by_remote {
        let text = &current[remote];
        let mut changes = Vec::new();
        for (key, field) in fields {
            let now = external::read_field(text, field).map_err(|e| Error::Usage(format!("secret {secret}: {e}")))?;
            if target.data.get(key).map(|v| v.expose()) != Some(now.as_slice()) {
                return Err(Error::Usage(format!(
                    "secret {secret} key {key} does not hold the current {} value of {} ({}): External Secrets \
                     has not synced the latest version yet, or the Secret was edited. Sync it first: \
                     kubectl secrets rotate {} -n {namespace} --synced",
                    words.short,
                    field.describe(),
                    words.current,
                    target.name
                )));
            }
            changes.push((field.property.clone(), &new_values[key].0));
        }
        let new_text = external::write_fields(text, &changes)
            .map_err(|e| Error::Usage(format!("{remote} in {}: {e}", words.short)))?;
        let notes = store.precheck(remote, &new_text).await?;
        after_texts.insert(remote.clone(), new_text.clone());
        writes.push(RemoteWrite {
            key: remote.clone(),
            previous: versions[remote].clone(),
            text: SecretValue::new(new_text.into_bytes()),
            fields: fields
                .iter()
                .map(|(_, f)| {
                    f.property
                        .clone()
                        .map_or_else(|| "whole value".to_string(), |p| format!("property {p}"))
                })
                .chain(notes)
                .collect(),
        });
    }
    let change = secret_change(target, &es, &current, &after_texts, |key| {
        new_values.get(key).map(|(_, how)| how.clone())
    });
    let mut external = external_change(es, provider, words, writes, &current, &after_texts);
    find_shared(conn, &mut external).await;
    Ok((change, external))
}

/// The Secret change ESO will make when the remotes go from `current` to `after` (remote key →
/// text); `how` says where a key's value came from (None: it reads the same provider value).
fn secret_change(
    target: &SecretState,
    es: &ExternalSecretState,
    current: &BTreeMap<String, String>,
    after_texts: &BTreeMap<String, String>,
    how: impl Fn(&str) -> Option<String>,
) -> SecretChange {
    let before_synced = external::synced_data(es, current);
    let after_synced = external::synced_data(es, after_texts);
    let mut after = target.data.clone();
    let mut keys = Vec::new();
    for (key, value) in &after_synced {
        if before_synced.get(key) == Some(value) {
            continue;
        }
        after.insert(key.clone(), value.clone());
        keys.push(KeyChange {
            key: key.clone(),
            kind: ChangeKind::Rotated {
                how: how(key).unwrap_or_else(|| "the same provider value".into()),
            },
            old: target.data.get(key).cloned(),
            new: Some(value.clone()),
        });
    }
    // Nothing is written to the Secret itself: kubectl's last-applied annotation (which ESO
    // copies from the ExternalSecret, without values) stays.
    let mut before = target.clone();
    before.has_last_applied = false;
    SecretChange {
        before,
        after,
        new_revision: target.revision + 1,
        keys,
        left_out: Vec::new(),
    }
}

fn external_change(
    es: ExternalSecretState,
    provider: Provider,
    words: &'static Words,
    writes: Vec<RemoteWrite>,
    current: &BTreeMap<String, String>,
    after_texts: &BTreeMap<String, String>,
) -> ExternalChange {
    let before_synced = external::synced_data(&es, current);
    let expected = external::synced_data(&es, after_texts)
        .into_iter()
        .filter(|(k, v)| before_synced.get(k) != Some(v))
        .collect();
    ExternalChange {
        es,
        provider,
        writes,
        words: Some(words),
        expected,
        retire_previous: false,
        shared: None,
    }
}

/// Which other namespaces' ExternalSecrets read the remotes `change` writes (as far as the
/// operator may list them; a refused list is said, not guessed).
async fn find_shared(conn: &Connection, change: &mut ExternalChange) {
    if change.writes.is_empty() {
        return;
    }
    match cluster::external::list(conn, &crate::cluster::Scope::AllNamespaces).await {
        Ok(mut all) => {
            all.retain(|es| es.namespace != change.es.namespace);
            let providers = cluster::external::providers_of(conn, &all).await;
            change.shared = Some(
                change
                    .writes
                    .iter()
                    .map(|w| {
                        let readers =
                            external::other_readers(&w.key, &change.provider, &change.es.namespace, &all, &providers)
                                .iter()
                            .map(|es| format!("{}/{}", es.namespace, es.name))
                            .collect();
                        (w.key.clone(), readers)
                    })
                    .collect(),
            );
        }
        Err(e) => render::warning(&format!(
            "could not list ExternalSecrets in all namespaces ({e}): whether others read the same remote secret is not known"
        )),
    }
}

/// `history` of a Secret synced from a store the plugin reads: each remote secret's versions
/// and stages (empty for another provider, whose versions the plugin does not read).
pub async fn provider_history(conn: &Connection, target: &SecretState) -> Result<Vec<external::RemoteHistory>> {
    let Some(owner) = target.controller.as_ref().filter(|o| o.kind == "ExternalSecret") else {
        return Ok(Vec::new());
    };
    let es = cluster::external::get(conn, &target.namespace, &owner.name).await?;
    let provider = cluster::external::provider(conn, &target.namespace, &es.store).await?;
    let Some(store) = open(&provider).await else {
        return Ok(Vec::new());
    };
    let mut history = Vec::new();
    for remote in es.remotes() {
        history.push(external::RemoteHistory {
            provider: store.describe(),
            remote: remote.clone(),
            versions: external::newest_versions(store.versions(remote).await?, 10),
        });
    }
    Ok(history)
}

/// `rollback` of a Secret synced from a store the plugin writes: each remote secret it reads
/// gets a new version holding the value of the version the current one replaced (AWSPREVIOUS;
/// that version stays as it is, and the version rolled back from becomes the replaced one: a
/// rollback can be rolled back). The same machine as a rotation runs it: sync, restart,
/// verify, undo on failure.
pub async fn prepare_rollback(
    conn: &Connection,
    target: &SecretState,
    owner: &str,
) -> Result<(SecretChange, ExternalChange)> {
    let namespace = target.namespace.as_str();
    let (es, provider) = read_owner(conn, target, owner).await?;
    let Some(store) = open(&provider).await else {
        return Err(Error::Usage(format!(
            "secret {namespace}/{} is synced by ExternalSecret {owner} from {}: put the previous value back there, then \
             `kubectl secrets rotate {} -n {namespace} --synced`",
            target.name,
            provider.describe(),
            target.name
        )));
    };
    let words = store.words();
    let remotes: BTreeSet<String> = es.remotes().into_iter().cloned().collect();
    let mut current = BTreeMap::new();
    let mut after_texts = BTreeMap::new();
    let mut writes = Vec::new();
    for remote in &remotes {
        let now = store.current(remote).await?;
        let versions = store.versions(remote).await?;
        let Some(previous) = store.replaced(&versions) else {
            current.insert(remote.clone(), now.text.clone());
            after_texts.insert(remote.clone(), now.text);
            continue;
        };
        let before = store.value_at(remote, &previous.id).await?;
        if before.text != now.text {
            let notes = store.precheck(remote, &before.text).await?;
            writes.push(RemoteWrite {
                key: remote.clone(),
                previous: now.version_id.clone(),
                text: SecretValue::new(before.text.clone().into_bytes()),
                fields: std::iter::once(format!("the value of version {} ({})", previous.id, words.previous))
                    .chain(notes)
                    .collect(),
            });
        }
        current.insert(remote.clone(), now.text);
        after_texts.insert(remote.clone(), before.text);
    }
    if writes.is_empty() {
        return Err(Error::NotFound(format!(
            "no remote secret of ExternalSecret {namespace}/{owner} has a version marked {} with another value: nothing to \
             roll back to",
            words.previous
        )));
    }
    let change = secret_change(target, &es, &current, &after_texts, |_| {
        Some(format!("back to {}", words.previous))
    });
    let mut external = external_change(es, provider, words, writes, &current, &after_texts);
    find_shared(conn, &mut external).await;
    Ok((change, external))
}

/// `diff --against-provider`: what ESO would sync into `target` from the provider's current
/// versions (keys a template computes keep the cluster's value: they cannot be computed here).
pub async fn provider_data(conn: &Connection, target: &SecretState) -> Result<(String, BTreeMap<String, SecretValue>)> {
    let namespace = target.namespace.as_str();
    let owner = target
        .controller
        .as_ref()
        .filter(|o| o.kind == "ExternalSecret")
        .ok_or_else(|| {
            Error::Usage(format!(
                "--against-provider is for a Secret an ExternalSecret syncs; {namespace}/{} is not",
                target.name
            ))
        })?;
    let es = cluster::external::get(conn, namespace, &owner.name).await?;
    let provider = cluster::external::provider(conn, namespace, &es.store).await?;
    let Some(store) = open(&provider).await else {
        return Err(Error::Usage(format!(
            "ExternalSecret {namespace}/{} reads {}: --against-provider reads AWS Secrets Manager and Vault KV v2 only (verify shows whether it syncs)",
            es.name,
            provider.describe()
        )));
    };
    let mut texts = BTreeMap::new();
    for remote in es.remotes() {
        texts.insert(remote.clone(), store.current(remote).await?.text);
    }
    let mut data = external::synced_data(&es, &texts);
    for key in target
        .data
        .keys()
        .filter(|k| es.templates_everything || es.templated.contains(*k))
    {
        data.insert(key.clone(), target.data[key].clone());
    }
    Ok((
        format!(
            "{} {} (ExternalSecret {})",
            store.describe(),
            store.words().current,
            es.name
        ),
        data,
    ))
}

/// The change: journal, provider versions, sync, restarts (or, `--synced`, sync and restarts).
pub async fn run(
    conn: &Connection,
    settings: &Settings,
    secret: &SecretChange,
    change: &ExternalChange,
    targets: &[RestartTarget],
    templates: &BTreeMap<WorkloadId, BTreeMap<String, u64>>,
) -> Result<()> {
    let namespace = secret.before.namespace.as_str();
    let id = super::new_rotation_id();
    let token = external::version_token(&id, &secret.before.uid);
    let store = match change.is_synced() {
        true => None,
        false => open(&change.provider).await,
    };
    let location = store.as_ref().map(|s| s.location().to_string()).unwrap_or_default();
    let journal = Journal {
        id: id.clone(),
        action: settings.action.clone(),
        phase: if change.is_synced() {
            Phase::Syncing
        } else {
            Phase::Writing
        },
        started_at: Timestamp::now(),
        holder: lease::this_run(&settings.changed_by),
        secrets: BTreeMap::from([(
            secret.name().to_string(),
            // No backup Secret: the provider keeps the previous version.
            JournalEntry {
                backup: String::new(),
                backup_uid: String::new(),
                from: secret.before.revision,
                to: secret.new_revision,
            },
        )]),
        workloads: targets.iter().map(|t| t.id.clone()).collect(),
        sealed: None,
        external: Some(ExternalJournal {
            owner: change.es.name.clone(),
            provider: change.provider.describe(),
            region: location,
            remotes: change
                .writes
                .iter()
                .map(|w| RemoteEntry {
                    key: w.key.clone(),
                    previous: w.previous.clone(),
                    new: token.clone(),
                })
                .collect(),
        }),
        issuers: Vec::new(),
        renewal: None,
    };
    cluster::secrets::update_journal(
        conn,
        namespace,
        secret.name(),
        &secret.before.resource_version,
        &JournalUpdate::Write(&journal),
    )
    .await?;
    let machine = Machine::holding(conn, namespace, settings, Anchor::Secret(secret.name().into()), journal);
    let steps = ExternalSteps {
        machine: &machine,
        secret: secret.name().to_string(),
        es: change.es.clone(),
        store,
    };
    crate::failpoint::pause("backed-up").await;
    if let Some(store) = &steps.store {
        let words = store.words();
        let mut written = Vec::new();
        for (i, write) in change.writes.iter().enumerate() {
            let text = String::from_utf8(write.text.expose().to_vec()).expect("remote values are text");
            let version = store.write(&write.key, &token, &text, &write.previous).await;
            if let Ok(version) = &version {
                written.push(format!(
                    "version {} of {}",
                    render::clean_line(version),
                    render::clean_line(&write.key)
                ));
            }
            if let Err(error) = version {
                // Versions already made current go back before the journal is cleared.
                let undo = steps.move_back(&journal_remotes(&steps)[..i]).await;
                return Err(match undo.and(machine.lease.clear().await) {
                    Ok(()) => error,
                    Err(undo_error) => Error::RollbackFailed(format!(
                        "{error}; moving {} back failed too: {undo_error}. The journal is kept: \
                         `kubectl secrets rotate {} -n {namespace} --abort` finishes the undo",
                        words.current,
                        secret.name()
                    )),
                });
            }
        }
        render::step(&format!(
            "Wrote {} in {}: {}.",
            written.join(", "),
            store.describe(),
            words.made_current
        ));
    }
    crate::failpoint::pause("written").await;
    let workloads: Vec<WorkloadId> = targets.iter().map(|t| t.id.clone()).collect();
    let synced = steps
        .sync(&change.expected, &secret.before.data, settings.timeout)
        .await?;
    let data = match synced {
        Ok(data) => data,
        Err(problem) if steps.store.is_some() => {
            return Err(upstream::undo(&steps, &workloads, templates, &problem.to_string()).await)
        }
        // --synced: nothing was written, nothing restarted; the journal goes.
        Err(problem) => {
            machine.lease.clear().await?;
            return Err(match problem {
                SyncProblem::Unchanged(reason) => Error::Usage(reason),
                SyncProblem::Failed(reason) => Error::RolloutFailed(reason),
            });
        }
    };
    steps.stamp(&data, secret.new_revision).await?;
    upstream::restart_then_clear(&steps, targets, &workloads, templates).await
}

fn journal_remotes(steps: &ExternalSteps) -> Vec<RemoteEntry> {
    steps
        .machine
        .lease
        .journal()
        .external
        .map(|e| e.remotes)
        .unwrap_or_default()
}

/// Why a sync did not bring the data a change waits for.
#[derive(Debug)]
enum SyncProblem {
    /// External Secrets failed to sync, or did not within the time given.
    Failed(String),
    /// It synced, and the provider's value was the one the Secret already held (`--synced`).
    Unchanged(String),
}

impl std::fmt::Display for SyncProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SyncProblem::Failed(reason) | SyncProblem::Unchanged(reason) => f.write_str(reason),
        }
    }
}

/// The steps after the journal is written, shared by the first run and recovery.
struct ExternalSteps<'a> {
    machine: &'a Machine<'a>,
    secret: String,
    es: ExternalSecretState,
    /// None for `--synced`: nothing is written at the provider.
    store: Option<Box<dyn Store>>,
}

impl ExternalSteps<'_> {
    fn journal(&self) -> Journal {
        self.machine.lease.journal()
    }

    /// The store's name for the version External Secrets reads ("AWSCURRENT").
    fn current(&self) -> &'static str {
        self.store.as_ref().map_or("the current version", |s| s.words().current)
    }

    /// The previous version current again at each remote (where the new one is).
    async fn move_back(&self, remotes: &[RemoteEntry]) -> Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        for remote in remotes {
            store.move_back(remote).await?;
        }
        Ok(())
    }

    /// Ask ESO to sync and wait until the Secret holds `expected` (or, with nothing expected:
    /// until ESO has synced after the request and the data differs from `before`). Ok(Err)
    /// carries why not: ESO reports a failure, or the time is up.
    async fn sync(
        &self,
        expected: &BTreeMap<String, SecretValue>,
        before: &BTreeMap<String, SecretValue>,
        timeout: Duration,
    ) -> Result<std::result::Result<BTreeMap<String, SecretValue>, SyncProblem>> {
        let m = self.machine;
        m.lease.enter(Phase::Syncing).await?;
        let journal = self.journal();
        let mut asked = cluster::external::get(m.conn, m.namespace, &self.es.name).await?;
        let request = format!("{}-{}", journal.id, Timestamp::now().as_second());
        cluster::external::force_sync(m.conn, m.namespace, &self.es.name, &request).await?;
        // A sync that ESO was already doing when the request went in can end after it with
        // the value read before: "unchanged" is only concluded from a second, later sync.
        let mut asked_again = false;
        let es = format!("ExternalSecret {}/{}", m.namespace, self.es.name);
        let deadline = Instant::now() + timeout;
        let mut beat = Instant::now();
        loop {
            let secret = cluster::secrets::get(m.conn, m.namespace, &self.secret).await?;
            let now = cluster::external::get(m.conn, m.namespace, &self.es.name).await?;
            let synced_since = now.status.synced_resource_version != asked.status.synced_resource_version;
            if !expected.is_empty() && expected.iter().all(|(k, v)| secret.data.get(k) == Some(v)) {
                return Ok(Ok(secret.data));
            }
            if expected.is_empty() && synced_since && now.status.ready == Some(true) {
                if secret.data == *before && !asked_again {
                    asked_again = true;
                    asked = now;
                    let request = format!("{}-{}-again", journal.id, Timestamp::now().as_second());
                    cluster::external::force_sync(m.conn, m.namespace, &self.es.name, &request).await?;
                    continue;
                }
                if secret.data == *before {
                    return Ok(Err(SyncProblem::Unchanged(format!(
                        "{es} synced, but the provider's value is the one the Secret already held: change it at the provider first \
                         (nothing was restarted)"
                    ))));
                }
                return Ok(Ok(secret.data));
            }
            if now.status.ready == Some(false) {
                return Ok(Err(SyncProblem::Failed(format!(
                    "External Secrets could not sync {es}: {}: {}",
                    render::clean(&now.status.reason),
                    render::clean(&now.status.message)
                ))));
            }
            if Instant::now() >= deadline {
                return Ok(Err(SyncProblem::Failed(format!(
                    "External Secrets did not sync {es} within {}",
                    humantime::format_duration(timeout)
                ))));
            }
            if beat.elapsed() >= journal::HEARTBEAT_EVERY {
                m.lease.renew().await?;
                beat = Instant::now();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stamp the revision of the synced data (exact evidence for verify), journal → Restarting.
    async fn stamp(&self, data: &BTreeMap<String, SecretValue>, revision: u64) -> Result<()> {
        let m = self.machine;
        let journal = self.journal();
        let changed_by = if revision > journal.secrets[&self.secret].to {
            format!("{} (undoing {})", m.settings.changed_by, journal.id)
        } else {
            m.settings.changed_by.clone()
        };
        let stamp = Stamp {
            revision,
            rotation_id: &journal.id,
            changed_by: &changed_by,
            at: Timestamp::now(),
            journal: JournalUpdate::Keep,
            record: None,
            key_changes: None,
            journal_on: None,
        };
        cluster::secrets::stamp_synced(m.conn, m.namespace, &self.secret, data, &stamp).await?;
        Ok(())
    }

    /// What the Secret holds once ESO syncs the remotes' previous versions.
    async fn previous_data(&self, remotes: &[RemoteEntry]) -> Result<BTreeMap<String, SecretValue>> {
        self.data_of(remotes, |r| r.previous.clone()).await
    }

    async fn data_of(
        &self,
        remotes: &[RemoteEntry],
        version: impl Fn(&RemoteEntry) -> String,
    ) -> Result<BTreeMap<String, SecretValue>> {
        let Some(store) = &self.store else {
            return Ok(BTreeMap::new());
        };
        let mut texts = BTreeMap::new();
        for remote in remotes {
            let value = store.value_at(&remote.key, &version(remote)).await?;
            texts.insert(remote.key.clone(), value.text);
        }
        Ok(external::synced_data(&self.es, &texts))
    }
}

impl Upstream for ExternalSteps<'_> {
    fn machine(&self) -> &Machine<'_> {
        self.machine
    }

    fn secret(&self) -> &str {
        &self.secret
    }

    fn undo_step(&self) -> String {
        format!(
            "Moving {} back to the previous version and syncing again.",
            self.current()
        )
    }

    fn put_back_words(&self) -> String {
        format!(
            "{} was moved back to the previous version, External Secrets synced it",
            self.current()
        )
    }

    fn put_back(&self) -> BoxFuture<'_, Result<u64>> {
        Box::pin(async move {
            let journal = self.journal();
            let remotes = journal.external.clone().map(|e| e.remotes).unwrap_or_default();
            self.move_back(&remotes).await?;
            let expected = self.previous_data(&remotes).await?;
            let data = match self
                .sync(&expected, &BTreeMap::new(), self.machine.undo_timeout())
                .await?
            {
                Ok(data) => data,
                Err(problem) => return Err(Error::RollbackFailed(problem.to_string())),
            };
            self.machine.lease.enter(Phase::RollingBack).await?;
            let restored = journal.secrets[&self.secret].to + 1;
            self.stamp(&data, restored).await?;
            Ok(restored)
        })
    }

    fn cannot_undo(&self, what_failed: &str) -> Option<Error> {
        self.store.is_none().then(|| {
            Error::RolloutFailed(format!(
                "the provider's new value does not run: {what_failed}. Put the previous value back at the provider, \
                 then `kubectl secrets rotate {} -n {} --synced` again",
                self.secret, self.machine.namespace
            ))
        })
    }
}

/// After a verified rotation at a store: say which previous versions may be retired, and with
/// `--retire-previous` retire them (AWS: AWSPREVIOUS removed), only once every consumer runs
/// the new one.
pub async fn after_verify(change: &ExternalChange, outcome: &Outcome) -> Result<()> {
    let Some(words) = change.words.filter(|_| !change.writes.is_empty()) else {
        return Ok(());
    };
    let short = words.short;
    let previous: Vec<String> = change
        .writes
        .iter()
        .map(|w| format!("{} (version {})", w.key, w.previous))
        .collect();
    if *outcome != Outcome::Clean {
        render::step(&format!(
            "Not yet safe to retire the previous {short} versions of {}: some pods may still use them (see above).",
            previous.join(", ")
        ));
        return Ok(());
    }
    if !change.retire_previous {
        render::step(&format!(
            "Safe to retire the previous {short} versions ({}): every consumer runs the new one. {}.",
            previous.join(", "),
            words.keeps_previous
        ));
        return Ok(());
    }
    let Some(store) = open(&change.provider).await else {
        return Ok(());
    };
    for write in &change.writes {
        store.retire(&write.key, &write.previous).await?;
    }
    render::step(&format!(
        "Retired the previous {short} versions: {} {}.",
        previous.join(", "),
        words.retired
    ));
    Ok(())
}

/// `rotate --resume|--abort` of a Secret whose journal records an ExternalSecret change.
pub async fn recover(
    conn: &Connection,
    consent: Consent,
    settings: &Settings,
    target: &SecretState,
    journal: Journal,
    choice: Recovery,
) -> Result<Outcome> {
    let namespace = target.namespace.as_str();
    let anchor = Anchor::Secret(target.name.clone());
    let refuse = |found: String| untrusted(namespace, &anchor, found);
    let ext = journal.external.clone().expect("dispatched on an external journal");
    match target.controller.as_ref() {
        Some(owner) if owner.kind == "ExternalSecret" && owner.name == ext.owner => {}
        _ => {
            return Err(refuse(format!(
                "the Secret is not synced by ExternalSecret {}",
                ext.owner
            )))
        }
    }
    if journal.secrets.keys().ne([&target.name]) {
        return Err(refuse(format!("it names other Secrets than {}", target.name)));
    }
    let es = cluster::external::get(conn, namespace, &ext.owner).await?;
    if es.status.ready == Some(false) {
        return Err(refuse(format!(
            "ExternalSecret {} is failing to sync ({}): fix it first, a recovery would not reach the pods",
            ext.owner,
            render::clean_line(&es.status.reason)
        )));
    }
    // The remotes come from the journal: without a question, the operator names each.
    if consent.yes && !consent.dry_run {
        if let Some(remote) = ext.remotes.iter().find(|r| !settings.remotes.contains(&r.key)) {
            return Err(Error::Unconsented(format!(
                "the interrupted change's journal names {} secret {}: name it with --remote {} to consent to acting on it, \
                 or run without --yes and confirm the plan, which names it",
                render::clean_line(&ext.provider),
                render::clean_line(&remote.key),
                render::clean_line(&remote.key)
            )));
        }
    }
    let provider = cluster::external::provider(conn, namespace, &es.store).await?;
    let token = external::version_token(&journal.id, &target.uid);
    let mut remote_states = Vec::new();
    let store = match ext.remotes.is_empty() {
        true => None,
        false => match open(&provider).await {
            Some(store) if store.location() == ext.region && store.describe() == ext.provider => Some(store),
            _ => {
                return Err(refuse(format!(
                    "its store is not {}",
                    render::clean_line(&ext.provider)
                )))
            }
        },
    };
    if let Some(store) = &store {
        for remote in &ext.remotes {
            if remote.new != token || !external::reads_remote(&es, &remote.key) {
                return Err(refuse(format!(
                    "its version {} of {} is not one this change would have made",
                    remote.new, remote.key
                )));
            }
            let state = store.state(remote).await?.map_err(&refuse)?;
            remote_states.push((remote.clone(), state));
        }
    }
    let words = store.as_ref().map(|s| s.words());
    let entry = journal.secrets[&target.name].clone();
    let choice = if choice == Recovery::Resume && journal.phase == Phase::RollingBack {
        render::step("It was rolling back after a failed rollout: --resume finishes the rollback.");
        Recovery::Abort
    } else {
        choice
    };
    let never_written = remote_states.iter().any(|(_, s)| *s == RemoteState::NotWritten);
    if choice == Recovery::Resume && (never_written || (ext.remotes.is_empty() && journal.phase == Phase::Writing)) {
        return Err(Error::Usage(format!(
            "the change of {namespace}/{} cannot be resumed: the new version never reached {} (its value was never stored \
             anywhere). Undo it with `kubectl secrets rotate {} -n {namespace} --abort`, then rotate again",
            target.name,
            words.map_or("the provider", |w| w.short),
            target.name
        )));
    }
    let revision = match choice {
        Recovery::Resume => entry.to,
        Recovery::Abort => entry.to + 1,
    };
    let mut rows: Vec<RecoveryRow> = remote_states
        .iter()
        .zip(std::iter::repeat(words.expect("remote states come from a store")))
        .map(|((remote, state), words)| RecoveryRow {
            secret: format!("{} ({})", remote.key, words.short),
            state: state.describe(words),
            action: match choice {
                Recovery::Resume => format!("keep the new version as {}, sync, restart", words.current),
                Recovery::Abort => format!("{} back to {}, sync, restart", words.current, remote.previous),
            },
        })
        .collect();
    if rows.is_empty() {
        rows.push(RecoveryRow {
            secret: target.name.clone(),
            state: "synced from the provider".into(),
            action: match choice {
                Recovery::Resume => "sync, restart".into(),
                Recovery::Abort => "nothing to undo at the provider: clear the journal".into(),
            },
        });
    }
    let written = BTreeMap::from([(target.name.clone(), revision)]);
    let plan = show_plan(conn, consent, namespace, &journal, choice, &written, &rows).await?;
    if !confirm(consent, choice)? {
        return Ok(Outcome::Clean);
    }
    let machine = Machine::taking_over(conn, namespace, settings, anchor, &journal, &target.resource_version).await?;
    let steps = ExternalSteps {
        machine: &machine,
        secret: target.name.clone(),
        es,
        store,
    };
    match choice {
        Recovery::Abort if ext.remotes.is_empty() => machine.lease.clear().await?,
        Recovery::Abort => upstream::try_undo(&steps, &plan.workloads, &plan.templates).await?,
        Recovery::Resume => {
            if let Some(store) = &steps.store {
                for remote in &ext.remotes {
                    store.make_current(remote).await?;
                }
            }
            let expected = steps.data_of(&ext.remotes, |r| r.new.clone()).await?;
            let before = if expected.is_empty() {
                BTreeMap::new()
            } else {
                target.data.clone()
            };
            let data = match steps.sync(&expected, &before, settings.timeout).await? {
                Ok(data) => data,
                // Already synced before the interruption: the data is there.
                Err(_) if expected.is_empty() || expected.iter().all(|(k, v)| target.data.get(k) == Some(v)) => {
                    target.data.clone()
                }
                Err(problem) => {
                    return Err(upstream::undo(&steps, &plan.workloads, &plan.templates, &problem.to_string()).await)
                }
            };
            steps.stamp(&data, entry.to).await?;
            upstream::restart_then_clear(&steps, &plan.targets, &plan.workloads, &plan.templates).await?;
        }
    }
    let changed = BTreeSet::from([target.name.clone()]);
    verify_changed(conn, namespace, &changed, settings).await
}

/// Where one remote of an interrupted change stands, by the provider's own record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteState {
    /// The change's version does not exist: nothing reached the provider.
    NotWritten,
    /// Written but not current yet.
    Pending,
    /// The change's version is current.
    Current,
    /// Moved back: the previous version is current again.
    MovedBack,
}

impl RemoteState {
    fn describe(&self, words: &Words) -> String {
        match self {
            RemoteState::NotWritten => "new version never written".into(),
            RemoteState::Pending => format!("new version written ({}), not current", words.pending),
            RemoteState::Current => format!("new version is {}", words.current),
            RemoteState::MovedBack => format!("previous version is {} again", words.current),
        }
    }
}
