//! The run that holds a change's journal: it renews the heartbeat while it works, writes each
//! new phase, clears the journal at the end, and lets go of it when interrupted (Ctrl-C), so
//! that another run can tell "still running" from "interrupted" (see `journal::liveness`).
//!
//! Every update reads the object, checks that the journal is still this run's (its token), and
//! writes with that resourceVersion: a run that was taken over (`--force`) stops instead of
//! overwriting the other run's journal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use serde_json::json;

use crate::cluster::secrets::JournalUpdate;
use crate::cluster::{self, Connection};
use crate::domain::annotations;
use crate::domain::journal::{self, Holder, Journal, Phase};
use crate::error::{ChangeInProgress, Error, Result};

/// The object whose annotations carry the journal: the object the change writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    Secret(String),
    SealedSecret(String),
}

impl Anchor {
    pub fn describe(&self, namespace: &str) -> String {
        match self {
            Anchor::Secret(name) => format!("secret {namespace}/{name}"),
            Anchor::SealedSecret(name) => format!("SealedSecret {namespace}/{name}"),
        }
    }
}

pub struct Lease {
    conn: Connection,
    namespace: String,
    anchor: Anchor,
    journal: Mutex<Journal>,
    /// Let go of (released or cleared): a heartbeat still scheduled must not take it back.
    let_go: AtomicBool,
}

/// This run as a holder: who, where, and a token of its own.
pub fn this_run(by: &str) -> Holder {
    Holder {
        by: by.to_string(),
        host: this_host(),
        pid: std::process::id(),
        token: hex::encode(rand::random::<[u8; 8]>()),
        heartbeat_at: Some(Timestamp::now()),
    }
}

/// The machine's name where it can be read without a dependency (Linux); else "unknown".
pub fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// Whether process `pid` of this machine still runs (None where that cannot be told).
pub fn process_alive(pid: u32) -> Option<bool> {
    let proc = std::path::Path::new("/proc");
    proc.join("self").exists().then(|| proc.join(pid.to_string()).exists())
}

/// The leases held while Ctrl-C may come (a renewal of several Secrets holds one each): main
/// lets go of them before exiting with 130.
static HELD: Mutex<Vec<Arc<Lease>>> = Mutex::new(Vec::new());

/// Let go of the journals this run holds, if any (best effort, on Ctrl-C).
pub async fn release_held() {
    let held = std::mem::take(&mut *HELD.lock().expect("lease registry"));
    for lease in held {
        let _ = lease.release().await;
    }
}

/// Renews the heartbeat of `leases` every few seconds until dropped (for waits that do not
/// renew it themselves, and for the leases a restart of another one's workloads does not).
pub struct KeepAlive(tokio::task::JoinHandle<()>);

impl KeepAlive {
    pub fn start(leases: Vec<Arc<Lease>>) -> KeepAlive {
        KeepAlive(tokio::spawn(async move {
            let every = journal::HEARTBEAT_EVERY;
            let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                beat.tick().await;
                for lease in &leases {
                    // A lease taken over says so at this run's next step, not here.
                    let _ = lease.renew().await;
                }
            }
        }))
    }
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Lease {
    /// A journal this run has just written (or taken over) on `anchor`.
    pub fn held(conn: &Connection, namespace: &str, anchor: Anchor, journal: Journal) -> Arc<Lease> {
        let lease = Arc::new(Lease {
            conn: conn.clone(),
            namespace: namespace.to_string(),
            anchor,
            journal: Mutex::new(journal),
            let_go: AtomicBool::new(false),
        });
        HELD.lock().expect("lease registry").push(lease.clone());
        lease
    }

    /// Take over an interrupted change's journal `found` (as read, `expected` its object's
    /// resourceVersion) with this run as its holder. If the object moved meanwhile, the write is
    /// retried only while its journal is still exactly `found` (a controller's status update
    /// moves a SealedSecret's resourceVersion too); anything else is someone acting: 409.
    pub async fn take_over(
        conn: &Connection,
        namespace: &str,
        anchor: Anchor,
        found: &Journal,
        holder: Holder,
        expected: &str,
    ) -> Result<Arc<Lease>> {
        let mut journal = found.clone();
        journal.holder = holder;
        let lease = Lease {
            conn: conn.clone(),
            namespace: namespace.to_string(),
            anchor,
            journal: Mutex::new(journal.clone()),
            let_go: AtomicBool::new(false),
        };
        let mut expected = expected.to_string();
        for attempt in 0..4 {
            match lease.write(&expected, Some(&journal)).await {
                Ok(()) => break,
                Err(Error::Conflict { .. }) if attempt < 3 => {
                    let (current, rv) = lease.read().await?;
                    if current.as_ref() != Some(found) {
                        return Err(Error::Conflict {
                            namespace: namespace.into(),
                            name: lease.anchor.describe(namespace),
                        });
                    }
                    expected = rv;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Lease::held(conn, namespace, lease.anchor, journal))
    }

    pub fn journal(&self) -> Journal {
        self.journal.lock().expect("journal").clone()
    }

    pub fn anchor(&self) -> &Anchor {
        &self.anchor
    }

    /// The heartbeat, renewed (unless this run has let go of the journal).
    pub async fn renew(&self) -> Result<()> {
        self.write_change(true, |j| j.holder.heartbeat_at = Some(Timestamp::now()))
            .await
    }

    /// Stop holding the journal but keep it (the change is left for --resume or --abort).
    pub async fn release(&self) -> Result<()> {
        self.let_go.store(true, Ordering::SeqCst);
        let released = self.update(|j| j.holder.heartbeat_at = None).await;
        self.forget();
        released
    }

    /// The journal's next phase (and a fresh heartbeat).
    pub async fn enter(&self, phase: Phase) -> Result<()> {
        self.update(|j| {
            j.phase = phase;
            j.holder.heartbeat_at = Some(Timestamp::now());
        })
        .await
    }

    /// The change is over: remove the journal (if it is still this run's). A 409 after a lost
    /// answer is this very removal when the journal is gone on a second read.
    pub async fn clear(&self) -> Result<()> {
        self.let_go.store(true, Ordering::SeqCst);
        for attempt in 0..4 {
            let (current, rv) = self.read().await?;
            if attempt > 0 && current.is_none() {
                break;
            }
            self.check_ours(current.as_ref())?;
            match self.write(&rv, None).await {
                Ok(()) => break,
                Err(Error::Conflict { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        }
        self.forget();
        Ok(())
    }

    /// Nothing to let go of on Ctrl-C any more (the journal was never written, or is cleared).
    pub fn forget(&self) {
        HELD.lock()
            .expect("lease registry")
            .retain(|l| !std::ptr::eq(l.as_ref(), self));
    }

    /// Write a changed copy of the journal, if it is still this run's. A concurrent write of the
    /// object (409: a controller's status update, say) is retried with a fresh read.
    async fn update(&self, change: impl Fn(&mut Journal)) -> Result<()> {
        self.write_change(false, change).await
    }

    /// `update`, or nothing once this run has let go when `heartbeat` (checked before each
    /// attempt: a heartbeat retried after a conflict never takes back a release).
    async fn write_change(&self, heartbeat: bool, change: impl Fn(&mut Journal)) -> Result<()> {
        for attempt in 0..4 {
            if heartbeat && self.let_go.load(Ordering::SeqCst) {
                return Ok(());
            }
            let (current, rv) = self.read().await?;
            self.check_ours(current.as_ref())?;
            let mut journal = self.journal();
            change(&mut journal);
            match self.write(&rv, Some(&journal)).await {
                Ok(()) => {
                    *self.journal.lock().expect("journal") = journal;
                    return Ok(());
                }
                Err(Error::Conflict { .. }) if attempt < 3 => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }

    fn check_ours(&self, current: Option<&Journal>) -> Result<()> {
        let mine = self.journal();
        match current {
            Some(j) if j.id == mine.id && j.holder.token == mine.holder.token => Ok(()),
            other => Err(Error::InProgress(Box::new(ChangeInProgress {
                action: mine.action.clone(),
                namespace: self.namespace.clone(),
                name: match &self.anchor {
                    Anchor::Secret(n) | Anchor::SealedSecret(n) => n.clone(),
                },
                id: mine.id.clone(),
                started: mine.started_at.to_string(),
                by: other.map(|j| j.holder.by.clone()).unwrap_or_else(|| "nobody".into()),
                phase: "taken over".into(),
                what_to_do: "Another run took over this change (--force) or removed its journal: this run stopped \
                             without writing anything more. See `kubectl secrets verify` for where things stand."
                    .into(),
            }))),
        }
    }

    /// The journal on the anchor now (unreadable counts as another's) and its resourceVersion.
    async fn read(&self) -> Result<(Option<Journal>, String)> {
        match &self.anchor {
            Anchor::Secret(name) => {
                let secret = cluster::secrets::get(&self.conn, &self.namespace, name).await?;
                Ok((secret.journal.and_then(|j| j.ok()), secret.resource_version))
            }
            Anchor::SealedSecret(name) => {
                let sealed = cluster::sealed::get(&self.conn, &self.namespace, name)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("SealedSecret {}/{name} is gone", self.namespace)))?;
                Ok((sealed.journal.and_then(|j| j.ok()), sealed.resource_version))
            }
        }
    }

    async fn write(&self, rv: &str, journal: Option<&Journal>) -> Result<()> {
        match &self.anchor {
            Anchor::Secret(name) => {
                let update = match journal {
                    Some(j) => JournalUpdate::Write(j),
                    None => JournalUpdate::Clear,
                };
                cluster::secrets::update_journal(&self.conn, &self.namespace, name, rv, &update)
                    .await
                    .map(|_| ())
            }
            Anchor::SealedSecret(name) => {
                let value = journal.map(journal::journal_text);
                let patch = json!({"metadata": {
                    "resourceVersion": rv,
                    "annotations": {annotations::JOURNAL: value}
                }});
                cluster::sealed::patch(&self.conn, &self.namespace, name, &patch)
                    .await
                    .map(|_| ())
            }
        }
    }
}
