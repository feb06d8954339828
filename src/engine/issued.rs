//! The issuer step of the machine: a key whose password a server checks is changed there in the
//! same change, in the runbooks' order: the new password set at the issuer first (both valid
//! where the server allows), then the Secret written, the consumers restarted and verified, and
//! the old password retired only after verify. A failure undoes the issuer before the Secret is
//! restored. The journal names each issuer (never a value), written before the first issuer
//! step, so an interrupted change can be undone at the server too.

use super::issuers::{self, Issuer, IssuerConfig};
use crate::cluster::Connection;
use crate::domain::drift::Snapshot;
use crate::domain::env::EnvNamePolicy;
use crate::domain::issuer::{self, IssuerSpec, Origin, ServerRef, SpecError};
use crate::domain::journal::IssuerRecord;
use crate::domain::model::{WorkloadId, WorkloadKind};
use crate::domain::plan::{ChangeKind, SecretChange};
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result, UntrustedRecord};
use crate::render;

/// A key of a planned change whose password changes at its issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedKey {
    pub secret: String,
    pub key: String,
    pub config: IssuerConfig,
    /// Read from the Secret's annotation (written by whoever writes the namespace), not given
    /// by the operator.
    pub from_annotation: bool,
}

/// An issued key, planned; its server reached and checked before the question, or (an issuer
/// that needs the operator's consent) only once it is given.
pub struct Prepared {
    pub record: IssuerRecord,
    config: IssuerConfig,
    client: Option<Box<dyn Issuer>>,
    /// For an interrupted change: the new password may be the one the server takes now.
    recovering: bool,
    pub old: SecretValue,
    /// None for an interrupted change that stopped before the Secret held the new password.
    pub new: Option<SecretValue>,
    /// The issuer's own workload in the namespace (not restarted: the password changes at it).
    pub server: Option<WorkloadId>,
    /// Why this issuer needs the operator's consent (a question, or the issuer on the command
    /// line): it was read from the namespace and acts with an administrator's credential.
    pub needs_consent: Option<String>,
}

/// An issuer read from the namespace that acts as an administrator chooses, with that
/// administrator's power, whose password changes: without a question (`--yes`), only the
/// operator naming it on the command line consents to that. A user changing its own password
/// (admin=self) needs nothing: whoever wrote the annotation could do that with the Secret.
fn consent_reason(config: &IssuerConfig, secret: &str, key: &str, read_from: &str) -> Option<String> {
    match config {
        IssuerConfig::Server(IssuerSpec {
            admin: issuer::AdminRef::Secret { user, .. },
            user: changed,
            ..
        }) => Some(format!(
            "the issuer of {secret}/{key} comes from {read_from} and changes the password of {changed} as {user} \
             (an administrator): without a question, name it on the command line (--issuer {key}=…) to consent"
        )),
        _ => None,
    }
}

impl Prepared {
    /// The reached server; every step after the question has one.
    fn client(&self) -> &dyn Issuer {
        self.client
            .as_deref()
            .expect("an issuer is reached before any step at it")
    }

    /// For the plan and the recovery table.
    pub fn describe(&self) -> String {
        match (&self.client, &self.config) {
            (Some(client), _) => client.describe(),
            (None, IssuerConfig::Server(spec)) => format!(
                "{} (reached only once you confirm: it acts as an administrator the namespace named)",
                spec.describe()
            ),
            (None, IssuerConfig::Command(command)) => format!("the command `{}`", render::clean_line(command)),
        }
    }

    pub fn keeps_both(&self) -> bool {
        self.client.as_ref().is_some_and(|c| c.keeps_both())
    }

    /// A new MySQL/MariaDB user an interrupted change's journal names, which an undo would drop.
    /// The journal is written by whoever writes the namespace, and such a user has nothing that
    /// says who made it (a PostgreSQL role carries kubectl-secrets' comment, checked before any
    /// drop): it is left for the operator. A run's own undo knows the name from its command line.
    fn journal_named_user_to_remove(&self) -> Option<&str> {
        let mysql = matches!(&self.config, IssuerConfig::Server(spec) if spec.kind == issuer::IssuerKind::MySql);
        (self.recovering && mysql)
            .then_some(self.record.successor.as_deref())
            .flatten()
    }

    /// Reach the server and log in with what it takes now: the previous password, or for an
    /// interrupted change maybe already the new one.
    async fn connect(&mut self, conn: &Connection, namespace: &str) -> Result<()> {
        if self.client.is_some() {
            return Ok(());
        }
        let client = issuers::open(
            conn,
            namespace,
            &self.record.secret,
            &self.record.key,
            &self.config,
            self.record.successor.as_deref(),
        )
        .await?;
        match (&self.new, self.recovering) {
            (Some(new), true) if client.check(new).await.is_ok() => {}
            _ => client.check(&self.old).await?,
        }
        self.client = Some(client);
        Ok(())
    }
}

/// Reach every issuer not reached yet: after the operator's consent (the question, or the
/// issuer on the command line).
pub async fn connect_all(conn: &Connection, namespace: &str, prepared: &mut [Prepared]) -> Result<()> {
    for p in prepared.iter_mut() {
        p.connect(conn, namespace).await?;
    }
    Ok(())
}

/// Refuses, under `--yes`, issuers that need the operator's consent (exit 13).
pub fn check_consent(prepared: &[Prepared], namespace: &str, unattended: bool) -> Result<()> {
    match prepared.iter().find_map(|p| p.needs_consent.clone().map(|r| (p, r))) {
        Some((p, reason)) if unattended => Err(Error::Unconsented(format!(
            "in {namespace}, {reason}, or run without --yes and confirm the plan, which names it ({})",
            p.describe()
        ))),
        _ => Ok(()),
    }
}

/// The issuers a change names: `--issuer`/`--issuer-command` for its keys, else the Secret's
/// `issuer.kubectl-secrets.io/<key>` annotation (which may only name servers of its own
/// namespace: an address or a command there is refused, exit 13).
pub fn configured(changes: &[SecretChange], flags: &[IssuedKey]) -> Result<Vec<IssuedKey>> {
    let mut found = Vec::new();
    for change in changes {
        for key in change.keys.iter().filter(|k| sets_a_new_password(&k.kind)) {
            if let Some(given) = flags.iter().find(|f| f.secret == change.name() && f.key == key.key) {
                found.push(given.clone());
                continue;
            }
            let Some(text) = change.before.issuer_annotations.get(&key.key) else {
                continue;
            };
            let config = from_annotation(&change.before.namespace, change.name(), &key.key, text)?;
            found.push(IssuedKey {
                secret: change.name().to_string(),
                key: key.key.clone(),
                config,
                from_annotation: true,
            });
        }
    }
    for flag in flags {
        let planned = changes.iter().any(|c| {
            c.name() == flag.secret && c.keys.iter().any(|k| k.key == flag.key && sets_a_new_password(&k.kind))
        });
        if !planned {
            return Err(Error::Usage(format!(
                "--issuer {}=…: {}/{} is not rotated by this command (rotate it with --key {})",
                flag.key, flag.secret, flag.key, flag.key
            )));
        }
    }
    Ok(found)
}

/// Keys that receive a new password (not a propagated copy, a pointer or a removal).
fn sets_a_new_password(kind: &ChangeKind) -> bool {
    matches!(
        kind,
        ChangeKind::Rotated { .. } | ChangeKind::Restored { .. } | ChangeKind::Edited
    )
}

fn from_annotation(namespace: &str, secret: &str, key: &str, text: &str) -> Result<IssuerConfig> {
    match IssuerSpec::parse(text, Origin::Annotation) {
        Ok(spec) => Ok(IssuerConfig::Server(spec)),
        Err(SpecError::Invalid(problem)) => Err(Error::Usage(format!(
            "secret {namespace}/{secret}: annotation {}{key}: {problem}",
            issuer::ANNOTATION_PREFIX
        ))),
        Err(SpecError::Untrusted(problem)) => Err(untrusted_annotation(namespace, secret, key, problem)),
    }
}

fn untrusted_annotation(namespace: &str, secret: &str, key: &str, found: String) -> Error {
    Error::Untrusted(Box::new(UntrustedRecord {
        object: format!("the issuer annotation of key {key} on secret {namespace}/{secret}"),
        found,
        kind: "secret".into(),
        namespace: namespace.into(),
        name: secret.into(),
        fix: format!(". Give the issuer on the command line instead: --issuer {key}=KIND:user=…,server=HOST:PORT"),
    }))
}

/// Keys the plugin takes for database passwords that have no issuer: refused (unless the
/// operator says the server was changed elsewhere). Returns the refusal, naming the key, why
/// it looks like one, and the ways on.
pub fn unissued_database_password(
    changes: &[SecretChange],
    issued: &[IssuedKey],
    snapshot: &Snapshot,
    policy: EnvNamePolicy,
) -> Option<Error> {
    for change in changes {
        for key in change
            .keys
            .iter()
            .filter(|k| matches!(k.kind, ChangeKind::Rotated { .. } | ChangeKind::Edited) && k.new.is_some())
        {
            if issued.iter().any(|i| i.secret == change.name() && i.key == key.key) {
                continue;
            }
            let readers = crate::domain::consumers::key_readers(
                snapshot,
                policy,
                &change.before.namespace,
                change.name(),
                &key.key,
            );
            let old = key.old.clone().unwrap_or_else(|| SecretValue::new(Vec::new()));
            if let Some(reason) = issuer::database_password_reason(change.name(), &key.key, &old, &readers) {
                let (secret, k, ns) = (change.name(), key.key.as_str(), change.before.namespace.as_str());
                return Some(Error::Usage(format!(
                    "secret {ns}/{secret} key {k} looks like a database password ({reason}): changing it only in the Secret \
                     would lock its users out of the database, which still checks the old one. Name the server that checks it: \
                     --issuer {k}=postgresql|mysql|redis:user=NAME,server=statefulset/NAME[,admin=SECRET/KEY] (or annotate the Secret: \
                     kubectl annotate secret {secret} -n {ns} {}{k}=…), --issuer-command {k}=COMMAND, or --no-issuer if the \
                     server already has the new password",
                    issuer::ANNOTATION_PREFIX
                )));
            }
        }
    }
    None
}

/// Plan every issuer, and reach and check those that need no consent before the question: a
/// server that cannot be reached, a wrong administrator password or a missing privilege ends
/// the change here, nothing written. One that acts as an administrator an annotation named is
/// reached only after the question (`connect_all`): its credential goes nowhere before consent.
pub async fn prepare(
    conn: &Connection,
    namespace: &str,
    changes: &[SecretChange],
    issued: &[IssuedKey],
) -> Result<Vec<Prepared>> {
    let mut prepared = Vec::new();
    for item in issued {
        let change = changes
            .iter()
            .find(|c| c.name() == item.secret)
            .expect("issued keys belong to the change");
        let key = change
            .keys
            .iter()
            .find(|k| k.key == item.key)
            .expect("issued keys are planned keys");
        let old = change
            .before
            .data
            .get(&item.key)
            .cloned()
            .unwrap_or_else(|| SecretValue::new(Vec::new()));
        let new = key.new.clone().ok_or_else(|| {
            Error::Usage(format!(
                "{}/{}: a removed key has no new password to set at its issuer",
                item.secret, item.key
            ))
        })?;
        let server = match &item.config {
            IssuerConfig::Server(IssuerSpec {
                server: ServerRef::Workload { kind, name, .. },
                ..
            }) => Some(WorkloadId {
                namespace: namespace.to_string(),
                kind: match kind {
                    issuer::ServerWorkload::Pod => WorkloadKind::Pod,
                    issuer::ServerWorkload::StatefulSet => WorkloadKind::StatefulSet,
                    issuer::ServerWorkload::Deployment => WorkloadKind::Deployment,
                },
                name: name.clone(),
            }),
            _ => None,
        };
        let needs_consent = item
            .from_annotation
            .then(|| consent_reason(&item.config, &item.secret, &item.key, "the Secret's annotation"))
            .flatten();
        let successor = successor_of(change, &item.config)?;
        let mut planned = Prepared {
            record: IssuerRecord {
                secret: item.secret.clone(),
                key: item.key.clone(),
                issuer: item.config.record(),
                successor,
            },
            config: item.config.clone(),
            client: None,
            recovering: false,
            old,
            new: Some(new),
            server,
            needs_consent,
        };
        if planned.needs_consent.is_none() {
            planned.connect(conn, namespace).await?;
        }
        prepared.push(planned);
    }
    Ok(prepared)
}

/// Two-phase with a new role (`user-key=`): the Secret's user key must hold the issuer's user
/// now (the operator or the annotation names the role whose privileges the new one inherits;
/// the Secret's own value never chooses it), and the change's new name for that key (`--set
/// KEY=NAME`) is the role made beside it. Without a new name, the password changes in place.
fn successor_of(change: &SecretChange, config: &IssuerConfig) -> Result<Option<String>> {
    let IssuerConfig::Server(spec) = config else {
        return Ok(None);
    };
    let Some(user_key) = &spec.user_key else {
        return Ok(None);
    };
    let (ns, secret) = (&change.before.namespace, change.name());
    let holds_user = change
        .before
        .data
        .get(user_key)
        .is_some_and(|v| v.expose() == spec.user.as_bytes());
    if !holds_user {
        return Err(Error::Usage(format!(
            "secret {ns}/{secret}: its key {user_key} does not hold the issuer's user={}: name the role the Secret \
             holds now in user= (--issuer, or the annotation {}KEY)",
            spec.user,
            issuer::ANNOTATION_PREFIX
        )));
    }
    let Some(renamed) = change.keys.iter().find(|k| &k.key == user_key) else {
        return Ok(None);
    };
    let new_name = match (&renamed.kind, &renamed.new) {
        (ChangeKind::Set, Some(name)) => std::str::from_utf8(name.expose()).ok().map(str::to_string),
        _ => None,
    };
    let Some(new_name) = new_name else {
        return Err(Error::Usage(format!(
            "secret {ns}/{secret}: this change renames the role in {user_key} other than with --set {user_key}=NAME; \
             a rollback or edit across a new role is done at the server by hand (ALTER ROLE … LOGIN on the previous one)"
        )));
    };
    if new_name == spec.user {
        return Ok(None);
    }
    issuer::check_name(&format!("--set {user_key}"), &new_name).map_err(Error::Usage)?;
    Ok(Some(new_name))
}

/// The issuers an interrupted change's journal names, reached again for `--resume`/`--abort`.
/// A journal is written by whoever may write the namespace: a record only counts when it names
/// a server of the namespace (as an annotation may), or when the operator gives the same issuer
/// on the command line now (addresses and commands only ever come from there). `values` gives
/// each key's previous password (from its recorded backup) and, when the Secret holds it, the new.
pub async fn reopen(
    conn: &Connection,
    namespace: &str,
    records: &[IssuerRecord],
    flags: &[IssuedKey],
    unattended: bool,
    values: impl Fn(&str, &str) -> Option<(SecretValue, Option<SecretValue>)>,
) -> Result<Vec<Prepared>> {
    let mut reopened = Vec::new();
    for record in records {
        let (config, from_journal) = config_of(namespace, record, flags)?;
        let needs_consent = from_journal
            .then(|| consent_reason(&config, &record.secret, &record.key, "the change journal"))
            .flatten();
        let (old, new) = values(&record.secret, &record.key).ok_or_else(|| {
            Error::NotFound(format!(
                "the previous password of {namespace}/{}/{} is not in its recorded backup: put it back at the issuer by hand",
                record.secret, record.key
            ))
        })?;
        reopened.push(Prepared {
            record: record.clone(),
            config,
            client: None,
            recovering: true,
            old,
            new,
            server: None,
            needs_consent,
        });
    }
    // Refused before any server is reached; the others are reached now, before the question.
    check_consent(&reopened, namespace, unattended)?;
    for p in reopened.iter_mut().filter(|p| p.needs_consent.is_none()) {
        p.connect(conn, namespace).await?;
    }
    Ok(reopened)
}

/// The issuer a journal record names, and whether it was taken from the journal (not from the
/// operator's matching flag).
fn config_of(namespace: &str, record: &IssuerRecord, flags: &[IssuedKey]) -> Result<(IssuerConfig, bool)> {
    let refuse = |found: String| {
        Error::Untrusted(Box::new(UntrustedRecord {
            object: format!(
                "the issuer the change journal names for {namespace}/{}/{}",
                record.secret, record.key
            ),
            found,
            kind: "secret".into(),
            namespace: namespace.into(),
            name: record.secret.clone(),
            fix: format!(
                ". Give the issuer the change was started with: --issuer {}=… or --issuer-command {}=…",
                record.key, record.key
            ),
        }))
    };
    if let Some(flag) = flags.iter().find(|f| f.secret == record.secret && f.key == record.key) {
        if flag.config.record() != record.issuer {
            return Err(refuse(format!(
                "it names `{}`, the command line `{}`",
                render::clean(&record.issuer),
                flag.config.record()
            )));
        }
        return Ok((flag.config.clone(), false));
    }
    if record.issuer.starts_with("command:") {
        return Err(refuse(
            "it names an issuer command, which is only ever run from the command line".into(),
        ));
    }
    match IssuerSpec::parse(&record.issuer, Origin::Annotation) {
        Ok(spec) => Ok((IssuerConfig::Server(spec), true)),
        Err(SpecError::Untrusted(problem)) => Err(refuse(problem)),
        Err(SpecError::Invalid(problem)) => {
            Err(refuse(format!("it is not an issuer kubectl-secrets wrote ({problem})")))
        }
    }
}

/// The plan's lines about the issuers.
pub fn describe(prepared: &[Prepared], no_issuer: bool) {
    for p in prepared {
        render::step(&format!(
            "Issuer of {}/{}: {}. The new password is set there first, before the Secret is written{}.",
            p.record.secret,
            p.record.key,
            p.describe(),
            if p.keeps_both() {
                "; the previous one is retired only once every consumer runs the new one"
            } else {
                ""
            }
        ));
    }
    if no_issuer {
        render::step("--no-issuer: the servers that check these passwords are taken to have the new values already (changed elsewhere).");
    }
}

/// Set every new password; on a failure, put back those already set and say what failed.
pub async fn add_all(prepared: &[Prepared]) -> Result<()> {
    for (i, p) in prepared.iter().enumerate() {
        let new = p.new.as_ref().expect("a planned change knows its new passwords");
        if let Err(error) = p.client().add(&p.old, new).await {
            return Err(match undo_all(&prepared[..i]).await {
                Ok(()) => error,
                Err(undo) => Error::RollbackFailed(format!(
                    "{error}; putting back the passwords already set failed too: {undo}"
                )),
            });
        }
        render::step(&match p.client().done(issuers::Step::Add) {
            Some(done) => format!("At the issuer of {}/{}: {done}.", p.record.secret, p.record.key),
            None => format!(
                "Set the new password of {}/{} at its issuer{}.",
                p.record.secret,
                p.record.key,
                if p.keeps_both() {
                    " (the previous one stays valid until retired)"
                } else {
                    ": the previous one no longer logs in"
                }
            ),
        });
    }
    Ok(())
}

/// The previous passwords back at every issuer (newest first).
pub async fn undo_all(prepared: &[Prepared]) -> Result<()> {
    for p in prepared.iter().rev() {
        if let Some(successor) = p.journal_named_user_to_remove() {
            render::warning(&format!(
                "left user {successor} at the issuer of {}/{}: only the change journal names it, and a MySQL/MariaDB \
                 user carries no mark of who made it; if kubectl-secrets made it for this change (its grants are a copy \
                 of the previous user's), remove it by hand (DROP USER)",
                p.record.secret, p.record.key
            ));
            continue;
        }
        p.client().undo(&p.old, p.new.as_ref()).await?;
        render::step(&format!(
            "Put the previous password of {}/{} back at its issuer.",
            p.record.secret, p.record.key
        ));
    }
    Ok(())
}

/// After verify: the previous passwords retired where both were valid, or why not yet.
pub async fn retire_all(prepared: &[Prepared], verified: bool) -> Result<()> {
    for p in prepared.iter().filter(|p| p.keeps_both()) {
        let name = format!("{}/{}", p.record.secret, p.record.key);
        let Some(new) = &p.new else { continue };
        if !verified {
            render::step(&format!(
                "Not retiring the previous password of {name} at its issuer: some pods may still use it (see above). \
                 Both stay valid; restart them, then retire it at the server."
            ));
            continue;
        }
        p.client().retire(&p.old, new).await?;
        render::step(&match p.client().done(issuers::Step::Retire) {
            Some(done) => format!("At the issuer of {name}: {done}."),
            None => format!("Retired the previous password of {name} at its issuer: every consumer runs the new one."),
        });
    }
    Ok(())
}
