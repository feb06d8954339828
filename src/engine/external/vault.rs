//! HashiCorp Vault KV v2 behind the provider seam. A new version is written with check-and-set
//! on the version the plan read (a concurrent writer is a conflict, nothing written), and the
//! path's custom_metadata anchors the rotation: its token and the version it replaced before
//! the write, the version it wrote after. Undo writes the replaced version's data as a new
//! version (Vault's own `kv rollback` does the same); retire soft-deletes the replaced version
//! (`vault kv undelete` brings it back). Only VAULT_ADDR is written, with the operator's token.

use futures::future::BoxFuture;
use serde_json::{json, Value};

use super::{RemoteState, Store, Words};
use crate::cluster::vault::VaultApi;
use crate::domain::external::{Provider, RemoteValue, RemoteVersion};
use crate::domain::journal::RemoteEntry;
use crate::domain::vault_kv::{self, KvMetadata, REPLACES, ROTATION, WROTE};
use crate::error::{Error, Result};
use crate::render;

const WORDS: Words = Words {
    short: "Vault",
    current: "the current version",
    previous: "the previous version",
    pending: "written",
    how_written: "written as a new version with check-and-set on the version read (Vault keeps the previous one; the \
                  path's custom_metadata records the rotation)",
    made_current: "it is the current version (Vault keeps the previous one)",
    keeps_previous:
        "Vault keeps them: --retire-previous soft-deletes them (`vault kv undelete` brings one back); revoke \
                     the old credential where it is used",
    retired: "soft-deleted",
};

pub struct Vault {
    api: VaultApi,
    mount: String,
    server: String,
    /// The Vault namespace the store reads (a namespaced SecretStore is the tenant's to write).
    store_namespace: Option<String>,
    describe: String,
}

impl Vault {
    /// Set (Some) or remove (None) one custom_metadata key of `remote`, keeping the others.
    pub async fn mark(&self, remote: &str, key: &str, value: Option<String>) -> Result<()> {
        let meta = self.metadata(remote).await?;
        let mut custom = meta.custom.clone();
        match value {
            Some(value) => custom.insert(key.to_string(), value),
            None => custom.remove(key),
        };
        let body = json!({ "custom_metadata": custom });
        self.api
            .post(&self.api_path("metadata", remote), body, "update")
            .await?;
        Ok(())
    }

    /// The custom_metadata of `remote` (its anchor among them).
    pub async fn custom_metadata(&self, remote: &str) -> Result<std::collections::BTreeMap<String, String>> {
        Ok(self.metadata(remote).await?.custom)
    }

    /// For a KV v2 store; None for anything else.
    pub fn connect(provider: &Provider) -> Option<Self> {
        let Provider::Vault {
            server,
            mount,
            kv,
            namespace,
        } = provider
        else {
            return None;
        };
        // The operator's environment decides where the token goes (VAULT_ADDR,
        // VAULT_NAMESPACE); the store's own namespace is only compared (precheck).
        (kv == "v2").then(|| Vault {
            api: VaultApi::from_env(),
            mount: mount.clone(),
            server: server.clone(),
            store_namespace: namespace.clone(),
            describe: provider.describe(),
        })
    }

    /// `mount/path`, as `vault kv` users name it.
    fn shown(&self, remote: &str) -> String {
        render::clean_line(&format!(
            "{}/{}",
            self.mount,
            vault_kv::relative_path(&self.mount, remote)
        ))
    }

    fn api_path(&self, kind: &str, remote: &str) -> String {
        format!("{}/{kind}/{}", self.mount, vault_kv::relative_path(&self.mount, remote))
    }

    fn missing(&self, remote: &str) -> Error {
        Error::NotFound(format!(
            "Vault at {} has no secret at {} (KV v2): check the ExternalSecret's remoteRef.key and the store's path",
            self.api.addr(),
            self.shown(remote)
        ))
    }

    async fn metadata(&self, remote: &str) -> Result<KvMetadata> {
        let answer = self.api.get(&self.api_path("metadata", remote), "read").await?;
        let answer = answer.ok_or_else(|| self.missing(remote))?;
        Ok(vault_kv::parse_metadata(&answer["data"]))
    }

    async fn read(&self, remote: &str, version: Option<u64>) -> Result<RemoteValue> {
        let mut path = self.api_path("data", remote);
        if let Some(v) = version {
            path.push_str(&format!("?version={v}"));
        }
        let answer = self.api.get(&path, "read").await?;
        let data = answer.as_ref().map(|a| &a["data"]);
        let text = data.and_then(|d| vault_kv::data_text(&d["data"]));
        match (data, text) {
            (Some(data), Some(text)) => Ok(RemoteValue {
                version_id: data["metadata"]["version"].as_u64().unwrap_or(0).to_string(),
                text,
            }),
            _ => Err(match version {
                Some(v) => Error::NotFound(format!(
                    "version {v} of {} in Vault is deleted or destroyed: its data cannot be read",
                    self.shown(remote)
                )),
                None => self.missing(remote),
            }),
        }
    }

    /// A new version holding `text`, if `cas` is still the current one. Returns its number.
    async fn put(&self, remote: &str, text: &str, cas: u64) -> Result<u64> {
        let data: Value = serde_json::from_str(text).map_err(|_| self.not_a_map(remote))?;
        if !data.is_object() {
            return Err(self.not_a_map(remote));
        }
        let body = json!({"options": {"cas": cas}, "data": data});
        match self.api.post(&self.api_path("data", remote), body, "update").await {
            Ok(answer) => Ok(answer.map_or(0, |a| a["data"]["version"].as_u64().unwrap_or(0))),
            Err(Error::VaultRefused { reason, .. }) if reason.contains("check-and-set") => {
                let now = self.metadata(remote).await.map(|m| m.current).unwrap_or(0);
                Err(self.changed(remote, now, cas))
            }
            Err(e) => Err(e),
        }
    }

    fn changed(&self, remote: &str, now: u64, read: u64) -> Error {
        Error::ProviderConflict(format!(
            "{} in Vault changed since the plan: version {now} is current, not version {read} that was read (someone \
             wrote it meanwhile). Nothing was written there and no pod was restarted. Look at it (`vault kv metadata get \
             -mount={} {}`), then rotate again",
            self.shown(remote),
            self.mount,
            render::clean_line(&vault_kv::relative_path(&self.mount, remote))
        ))
    }

    fn not_a_map(&self, remote: &str) -> Error {
        Error::Usage(format!(
            "{} in Vault holds a map of fields: the new value must be one of them (map the key with remoteRef.property, \
             or extract the path with dataFrom)",
            self.shown(remote)
        ))
    }

    async fn set_anchor(&self, remote: &str, meta: &KvMetadata, fields: &[(&str, String)]) -> Result<()> {
        let body = json!({"custom_metadata": meta.with_anchor(fields)});
        self.api
            .post(&self.api_path("metadata", remote), body, "update")
            .await?;
        Ok(())
    }

    /// Refuse before anything is written when the token's policy lacks what a rotation and its
    /// undo need: update on the data (a new version) and on the metadata (the anchor). Vault's
    /// own answer (sys/capabilities-self); where the token may not ask, the write will tell.
    async fn check_capabilities(&self, remote: &str) -> Result<()> {
        let paths = [self.api_path("data", remote), self.api_path("metadata", remote)];
        let body = json!({ "paths": paths });
        let Ok(Some(answer)) = self.api.post("sys/capabilities-self", body, "update").await else {
            return Ok(());
        };
        for path in &paths {
            let granted: Vec<&str> = answer[path.as_str()]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !granted.iter().any(|c| *c == "update" || *c == "root") {
                return Err(Error::VaultDenied {
                    capability: "update".into(),
                    path: path.clone(),
                });
            }
        }
        Ok(())
    }

    /// The version a journal names: a number, or a rotation's token (resolved by the anchor).
    async fn version_of(&self, remote: &str, version: &str) -> Result<u64> {
        if let Ok(n) = version.parse() {
            return Ok(n);
        }
        let meta = self.metadata(remote).await?;
        meta.written_by(version).ok_or_else(|| {
            Error::NotFound(format!(
                "{} in Vault has no version written by {}: its custom_metadata does not name that change",
                self.shown(remote),
                render::clean_line(version)
            ))
        })
    }

    /// Whether the current version holds the data of `version` (an undo's copy of it).
    async fn current_holds(&self, remote: &str, meta: &KvMetadata, version: u64) -> Result<bool> {
        if !meta.live(version) {
            return Ok(false);
        }
        Ok(self.read(remote, None).await?.text == self.read(remote, Some(version)).await?.text)
    }

    fn previous_of(entry: &RemoteEntry) -> std::result::Result<u64, String> {
        entry
            .previous
            .parse()
            .map_err(|_| format!("{} is not a Vault version number", render::clean_line(&entry.previous)))
    }
}

impl Store for Vault {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn location(&self) -> &str {
        self.api.addr()
    }

    fn words(&self) -> &'static Words {
        &WORDS
    }

    fn current<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<RemoteValue>> {
        Box::pin(self.read(remote, None))
    }

    fn value_at<'a>(&'a self, remote: &'a str, version: &'a str) -> BoxFuture<'a, Result<RemoteValue>> {
        Box::pin(async move {
            let version = self.version_of(remote, version).await?;
            self.read(remote, Some(version)).await
        })
    }

    fn versions<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<Vec<RemoteVersion>>> {
        Box::pin(async move { Ok(self.metadata(remote).await?.remote_versions()) })
    }

    fn replaced<'v>(&self, versions: &'v [RemoteVersion]) -> Option<&'v RemoteVersion> {
        versions
            .iter()
            .find(|v| v.stages.iter().any(|s| s == vault_kv::PREVIOUS))
    }

    fn precheck<'a>(&'a self, remote: &'a str, text: &'a str) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            if !serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) {
                return Err(self.not_a_map(remote));
            }
            if self.store_namespace.as_deref() != self.api.namespace() {
                return Err(Error::Unconsented(format!(
                    "the store reads Vault namespace {}, and this would write {}: a SecretStore's namespace does not \
                     steer the operator's token. Set VAULT_NAMESPACE to the store's namespace if that is the one meant",
                    render::clean_line(self.store_namespace.as_deref().unwrap_or("(root)")),
                    render::clean_line(self.api.namespace().unwrap_or("(root)"))
                )));
            }
            let meta = self.metadata(remote).await?;
            self.check_capabilities(remote).await?;
            let kept = meta.kept_versions(self.api.mount_max_versions(&self.mount).await);
            if kept < 2 {
                return Err(Error::Usage(format!(
                    "{} in Vault keeps {kept} version (max_versions): the version this replaces would be gone at once, \
                     and nothing could be put back. Raise it (`vault kv metadata put -max-versions=5 -mount={} {}`), then rotate",
                    self.shown(remote),
                    self.mount,
                    render::clean_line(&vault_kv::relative_path(&self.mount, remote))
                )));
            }
            let mut notes = vec![format!("Vault keeps {kept} versions")];
            if meta.cas_required {
                notes.push("cas_required".into());
            }
            if self.api.addr() != self.server {
                notes.push(format!(
                    "written at VAULT_ADDR {}; External Secrets reads {}",
                    render::clean_line(self.api.addr()),
                    render::clean_line(&self.server)
                ));
            }
            Ok(notes)
        })
    }

    fn write<'a>(
        &'a self,
        remote: &'a str,
        token: &'a str,
        text: &'a str,
        previous: &'a str,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            let read: u64 = previous.parse().unwrap_or(0);
            let meta = self.metadata(remote).await?;
            if let Some(done) = meta.written_by(token) {
                return Ok(done.to_string());
            }
            if meta.current != read {
                return Err(self.changed(remote, meta.current, read));
            }
            let anchor = [(ROTATION, token.to_string()), (REPLACES, read.to_string())];
            self.set_anchor(remote, &meta, &anchor).await?;
            crate::failpoint::pause("vault-anchored").await;
            let version = match self.put(remote, text, read).await {
                Ok(version) => version,
                Err(conflict @ Error::ProviderConflict(_)) => {
                    // Someone else's version follows the one read now: the anchor goes, so that
                    // nothing takes theirs for this rotation's.
                    self.set_anchor(remote, &self.metadata(remote).await?, &[]).await?;
                    return Err(conflict);
                }
                Err(e) => return Err(e),
            };
            let [rotation, replaces] = anchor;
            self.set_anchor(remote, &meta, &[rotation, replaces, (WROTE, version.to_string())])
                .await?;
            Ok(version.to_string())
        })
    }

    fn make_current<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let meta = self.metadata(&remote.key).await?;
            match meta.written_by(&remote.new) {
                Some(wrote) if wrote == meta.current => {
                    let fields = [
                        (ROTATION, remote.new.clone()),
                        (REPLACES, remote.previous.clone()),
                        (WROTE, wrote.to_string()),
                    ];
                    self.set_anchor(&remote.key, &meta, &fields).await
                }
                _ => Err(Error::Usage(format!(
                    "{} in Vault: the version this change wrote is not the current one (version {} is): abort it instead \
                     (--abort)",
                    self.shown(&remote.key),
                    meta.current
                ))),
            }
        })
    }

    fn move_back<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let meta = self.metadata(&remote.key).await?;
            let Some(wrote) = meta.written_by(&remote.new) else {
                return Ok(()); // never written: nothing to move back
            };
            let previous = Self::previous_of(remote).map_err(Error::Usage)?;
            let mut fields = vec![
                (ROTATION, remote.new.clone()),
                (REPLACES, previous.to_string()),
                (WROTE, wrote.to_string()),
            ];
            if meta.current != wrote {
                if self.current_holds(&remote.key, &meta, previous).await? {
                    fields.push((vault_kv::MOVED_BACK, meta.current.to_string()));
                    return self.set_anchor(&remote.key, &meta, &fields).await;
                }
                return Err(Error::ProviderConflict(format!(
                    "{} in Vault has version {} now, newer than version {wrote} this change wrote (someone wrote it since): \
                     it is not overwritten. Put the value you want there, then `kubectl secrets rotate SECRET --synced`",
                    self.shown(&remote.key),
                    meta.current
                )));
            }
            let before = self.read(&remote.key, Some(previous)).await?;
            let version = self.put(&remote.key, &before.text, wrote).await?;
            fields.push((vault_kv::MOVED_BACK, version.to_string()));
            self.set_anchor(&remote.key, &meta, &fields).await
        })
    }

    fn state<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<std::result::Result<RemoteState, String>>> {
        Box::pin(async move {
            let meta = self.metadata(&remote.key).await?;
            let holds_previous = match (Self::previous_of(remote), meta.written_by(&remote.new)) {
                (Ok(previous), Some(wrote)) if meta.current > wrote && meta.moved_back_by(&remote.new).is_none() => {
                    self.current_holds(&remote.key, &meta, previous).await?
                }
                _ => false,
            };
            Ok(remote_state(&meta, remote, holds_previous).map_err(|e| format!("{}: {e}", self.shown(&remote.key))))
        })
    }

    fn retire<'a>(&'a self, remote: &'a str, previous: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let version: u64 = previous.parse().unwrap_or(0);
            let meta = self.metadata(remote).await?;
            if version == 0 || version == meta.current {
                return Ok(());
            }
            let body = json!({"versions": [version]});
            self.api.post(&self.api_path("delete", remote), body, "update").await?;
            Ok(())
        })
    }
}

/// Where a journal's remote stands by Vault's own record: the path's anchor must name the
/// journal's token and the version the journal says it replaced. `holds_previous`: the current
/// version (newer than the one written) holds the replaced version's data (an undo's write).
fn remote_state(
    meta: &KvMetadata,
    remote: &RemoteEntry,
    holds_previous: bool,
) -> std::result::Result<RemoteState, String> {
    let previous = Vault::previous_of(remote)?;
    let token = remote.new.as_str();
    if !meta.anchored_on(token) {
        return if meta.current == previous {
            Ok(RemoteState::NotWritten)
        } else {
            Err(format!(
                "its custom_metadata does not name this change, and version {previous} (the journal's previous version) is \
                 not the current one ({})",
                meta.current
            ))
        };
    }
    if meta.replaced_by(token) != Some(previous) {
        return Err(format!(
            "Vault's record of this change names another replaced version than the journal's {previous}"
        ));
    }
    match meta.written_by(token) {
        None if meta.current == previous => Ok(RemoteState::NotWritten),
        None => Err(format!(
            "version {} is current, but this change's write is not recorded",
            meta.current
        )),
        Some(wrote) if meta.current == wrote => Ok(RemoteState::Current),
        Some(_) if meta.moved_back_by(token) == Some(meta.current) || holds_previous => Ok(RemoteState::MovedBack),
        Some(wrote) => Err(format!(
            "version {} is current, newer than version {wrote} this change wrote: someone wrote it since",
            meta.current
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::vault_kv::parse_metadata;

    fn meta(current: u64, custom: Value) -> KvMetadata {
        let versions: serde_json::Map<String, Value> = (1..=current)
            .map(|n| (n.to_string(), json!({"created_time": "2026-12-06T10:00:00Z"})))
            .collect();
        parse_metadata(&json!({"current_version": current, "versions": versions, "custom_metadata": custom}))
    }

    /// A namespaced SecretStore names a Vault namespace: the operator's token is not sent
    /// there on the store's word (refused before any request).
    #[tokio::test]
    async fn a_stores_vault_namespace_does_not_steer_the_write() {
        let provider = Provider::Vault {
            server: "http://127.0.0.1:1".into(),
            mount: "secret".into(),
            kv: "v2".into(),
            namespace: Some("team-b".into()),
        };
        let vault = Vault::connect(&provider).unwrap();
        let refused = vault.precheck("shop/db", r#"{"password":"x"}"#).await;
        assert!(
            matches!(&refused, Err(Error::Unconsented(m)) if m.contains("team-b")),
            "{refused:?}"
        );
    }

    #[test]
    fn a_journal_is_checked_against_vaults_own_record() {
        let token = "kubectl-secrets-0000000000000001-abcdef";
        let remote = RemoteEntry {
            key: "shop/db".into(),
            previous: "2".into(),
            new: token.into(),
        };
        let state = |m: &KvMetadata| remote_state(m, &remote, false);
        assert_eq!(state(&meta(2, json!(null))), Ok(RemoteState::NotWritten));
        assert_eq!(
            state(&meta(2, json!({ROTATION: token, REPLACES: "2"}))),
            Ok(RemoteState::NotWritten),
            "anchored, never written"
        );
        let written = json!({ROTATION: token, REPLACES: "2", WROTE: "3"});
        assert_eq!(state(&meta(3, written.clone())), Ok(RemoteState::Current));
        assert_eq!(
            state(&meta(3, json!({ROTATION: token, REPLACES: "2"}))),
            Ok(RemoteState::Current),
            "interrupted before the write was recorded"
        );
        let moved = json!({ROTATION: token, REPLACES: "2", WROTE: "3", vault_kv::MOVED_BACK: "4"});
        assert_eq!(state(&meta(4, moved)), Ok(RemoteState::MovedBack));
        assert_eq!(
            remote_state(&meta(4, written.clone()), &remote, true),
            Ok(RemoteState::MovedBack)
        );
        assert!(state(&meta(4, written)).is_err(), "someone wrote after the change");
        // A forged journal: another rotation's anchor, or another "previous" version.
        assert!(state(&meta(
            3,
            json!({ROTATION: "kubectl-secrets-other", REPLACES: "2", WROTE: "3"})
        ))
        .is_err());
        let forged = RemoteEntry {
            previous: "1".into(),
            ..remote.clone()
        };
        assert!(remote_state(
            &meta(3, json!({ROTATION: token, REPLACES: "2", WROTE: "3"})),
            &forged,
            false
        )
        .is_err());
        assert!(remote_state(
            &meta(3, json!(null)),
            &RemoteEntry {
                previous: "AWSCURRENT".into(),
                ..remote
            },
            false
        )
        .is_err());
    }
}
