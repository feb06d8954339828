//! HashiCorp Vault's KV v2 secrets engine as the plugin writes it: the path External Secrets
//! reads for a `remoteRef.key`, the versions Vault keeps for a path, and the anchor a rotation
//! leaves in the path's `custom_metadata` (KV v2 has no per-version labels: the anchor names
//! the rotation's token, the version it replaced, the version it wrote and, after an undo, the
//! version that put the previous data back). Pure: the answers come in as JSON.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde_json::Value;

use super::external::RemoteVersion;

/// The rotation (its version token) that last wrote the path through the plugin.
pub const ROTATION: &str = "kubectl-secrets.io/rotation";
/// The version that rotation replaced.
pub const REPLACES: &str = "kubectl-secrets.io/replaces";
/// The version that rotation wrote (set once Vault has answered the write).
pub const WROTE: &str = "kubectl-secrets.io/wrote";
/// The version an undo of that rotation wrote with the replaced version's data.
pub const MOVED_BACK: &str = "kubectl-secrets.io/moved-back-in";

/// Stage names shown in `history` for Vault's versions.
pub const CURRENT: &str = "current";
pub const PREVIOUS: &str = "previous";
pub const DELETED: &str = "deleted";
pub const DESTROYED: &str = "destroyed";

/// The path under the mount that External Secrets reads for `key`: like ESO's Vault provider,
/// a key that starts with the mount (and, for KV v2, `data/` after it) is taken as relative.
pub fn relative_path(mount: &str, key: &str) -> String {
    let key = key.trim_start_matches('/');
    let rest = match key.strip_prefix(&format!("{mount}/")) {
        Some(rest) if !mount.is_empty() => rest.strip_prefix("data/").unwrap_or(rest),
        _ => key,
    };
    rest.to_string()
}

/// One version as Vault's metadata lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvVersion {
    pub created: Option<Timestamp>,
    /// Soft-deleted (`vault kv delete`): its data is hidden until undeleted.
    pub deleted: bool,
    pub destroyed: bool,
}

/// A path's metadata (`GET <mount>/metadata/<path>`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvMetadata {
    pub current: u64,
    /// 0: the mount's setting (Vault's default keeps 10).
    pub max_versions: u64,
    pub cas_required: bool,
    pub versions: BTreeMap<u64, KvVersion>,
    pub custom: BTreeMap<String, String>,
}

/// Read the `data` of a metadata answer.
pub fn parse_metadata(data: &Value) -> KvMetadata {
    let time = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .and_then(|s| s.parse::<Timestamp>().ok())
    };
    let versions = data["versions"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(n, v)| {
            Some((
                n.parse::<u64>().ok()?,
                KvVersion {
                    created: time(&v["created_time"]),
                    deleted: time(&v["deletion_time"]).is_some(),
                    destroyed: v["destroyed"].as_bool().unwrap_or(false),
                },
            ))
        })
        .collect();
    let custom = data["custom_metadata"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
        .collect();
    KvMetadata {
        current: data["current_version"].as_u64().unwrap_or(0),
        max_versions: data["max_versions"].as_u64().unwrap_or(0),
        cas_required: data["cas_required"].as_bool().unwrap_or(false),
        versions,
        custom,
    }
}

impl KvMetadata {
    /// A version whose data can still be read.
    pub fn live(&self, version: u64) -> bool {
        self.versions.get(&version).is_some_and(|v| !v.deleted && !v.destroyed)
    }

    /// The version the current one replaced (what a rollback goes back to): the one just
    /// before it, while its data is kept.
    pub fn replaced(&self) -> Option<u64> {
        let before = self.current.checked_sub(1).filter(|v| *v > 0)?;
        self.live(before).then_some(before)
    }

    /// The versions as the engine lists them, with their state as stages.
    pub fn remote_versions(&self) -> Vec<RemoteVersion> {
        let replaced = self.replaced();
        self.versions
            .iter()
            .map(|(n, v)| {
                let mut stages = Vec::new();
                if *n == self.current {
                    stages.push(CURRENT.to_string());
                }
                if Some(*n) == replaced {
                    stages.push(PREVIOUS.to_string());
                }
                if v.destroyed {
                    stages.push(DESTROYED.to_string());
                } else if v.deleted {
                    stages.push(DELETED.to_string());
                }
                RemoteVersion {
                    id: n.to_string(),
                    stages,
                    created: v.created,
                }
            })
            .collect()
    }

    fn anchor(&self, key: &str) -> Option<u64> {
        self.custom.get(key).and_then(|v| v.parse().ok())
    }

    /// Whether the anchor names rotation `token` as the last one through the plugin.
    pub fn anchored_on(&self, token: &str) -> bool {
        self.custom.get(ROTATION).map(String::as_str) == Some(token)
    }

    /// The version rotation `token` wrote, by the anchor: recorded once Vault answered, or
    /// (interrupted between the write and that record) the one after the version it replaced,
    /// which check-and-set made sure nobody else could take.
    pub fn written_by(&self, token: &str) -> Option<u64> {
        if !self.anchored_on(token) {
            return None;
        }
        match self.anchor(WROTE) {
            Some(wrote) => Some(wrote),
            None => {
                let replaced = self.anchor(REPLACES)?;
                (self.current > replaced && self.versions.contains_key(&(replaced + 1))).then_some(replaced + 1)
            }
        }
    }

    /// The version an undo of rotation `token` wrote, if one did.
    pub fn moved_back_by(&self, token: &str) -> Option<u64> {
        self.anchored_on(token).then(|| self.anchor(MOVED_BACK)).flatten()
    }

    /// The version the anchor says rotation `token` replaced.
    pub fn replaced_by(&self, token: &str) -> Option<u64> {
        self.anchored_on(token).then(|| self.anchor(REPLACES)).flatten()
    }

    /// The custom_metadata with the anchor set to `fields` (other keys kept; the anchor's
    /// keys not named are removed).
    pub fn with_anchor(&self, fields: &[(&str, String)]) -> BTreeMap<String, String> {
        let mut custom = self.custom.clone();
        for key in [ROTATION, REPLACES, WROTE, MOVED_BACK] {
            custom.remove(key);
        }
        for (key, value) in fields {
            custom.insert(key.to_string(), value.clone());
        }
        custom
    }

    /// How many versions Vault keeps for the path, given the mount's setting (0: Vault's 10).
    pub fn kept_versions(&self, mount_max: u64) -> u64 {
        match (self.max_versions, mount_max) {
            (0, 0) => 10,
            (0, m) => m,
            (p, _) => p,
        }
    }
}

/// How many versions Vault keeps of a path an ExternalSecret syncs (for audit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptVersions {
    pub namespace: String,
    pub external_secret: String,
    /// The Secret it writes.
    pub secret: String,
    /// "secret/shop/db", as `vault kv` users name it.
    pub path: String,
    pub kept: u64,
}

/// Why a version cannot be what a rollback writes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotRollable {
    /// Vault has no such version (never written, or beyond max_versions).
    Missing,
    /// It is the current version already.
    Current,
    /// Soft-deleted: `vault kv undelete` brings its data back first.
    Deleted,
    /// Destroyed: its data is gone for good.
    Destroyed,
    /// No version asked, and the one before the current is not readable.
    NoPrevious,
}

/// The version a rollback writes back as a new one: `wanted`, or else the version the current
/// one replaced.
pub fn rollback_target(versions: &[RemoteVersion], wanted: Option<u64>) -> Result<&RemoteVersion, NotRollable> {
    let has = |v: &RemoteVersion, stage: &str| v.stages.iter().any(|s| s == stage);
    let Some(wanted) = wanted else {
        return versions
            .iter()
            .find(|v| has(v, PREVIOUS))
            .ok_or(NotRollable::NoPrevious);
    };
    let version = versions
        .iter()
        .find(|v| v.id == wanted.to_string())
        .ok_or(NotRollable::Missing)?;
    if has(version, CURRENT) {
        Err(NotRollable::Current)
    } else if has(version, DESTROYED) {
        Err(NotRollable::Destroyed)
    } else if has(version, DELETED) {
        Err(NotRollable::Deleted)
    } else {
        Ok(version)
    }
}

/// A data answer's fields as the text External Secrets works with (a JSON object; Go's
/// encoder and serde_json's both sort the keys).
pub fn data_text(data: &Value) -> Option<String> {
    data.as_object().map(|object| Value::Object(object.clone()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_are_read_as_external_secrets_reads_them() {
        assert_eq!(relative_path("secret", "shop/db"), "shop/db");
        assert_eq!(relative_path("secret", "secret/shop/db"), "shop/db");
        assert_eq!(relative_path("secret", "secret/data/shop/db"), "shop/db");
        assert_eq!(relative_path("secret", "/shop/db"), "shop/db");
        assert_eq!(relative_path("kv", "secretive/db"), "secretive/db");
    }

    fn metadata(current: u64, custom: Value) -> KvMetadata {
        let versions: serde_json::Map<String, Value> = (1..=current)
            .map(|n| {
                (
                    n.to_string(),
                    json!({"created_time": "2026-12-06T10:00:00Z", "deletion_time": "", "destroyed": false}),
                )
            })
            .collect();
        parse_metadata(&json!({
            "current_version": current, "max_versions": 0, "cas_required": false,
            "versions": versions, "custom_metadata": custom
        }))
    }

    #[test]
    fn versions_carry_their_state_and_the_replaced_one() {
        let mut meta = metadata(3, json!(null));
        assert_eq!(meta.replaced(), Some(2));
        let stages: Vec<(String, Vec<String>)> = meta.remote_versions().into_iter().map(|v| (v.id, v.stages)).collect();
        assert_eq!(
            stages,
            vec![
                ("1".into(), vec![]),
                ("2".into(), vec!["previous".to_string()]),
                ("3".into(), vec!["current".to_string()]),
            ]
        );
        meta.versions.get_mut(&2).unwrap().deleted = true;
        assert_eq!(meta.replaced(), None, "a soft-deleted version is not rolled back to");
        assert_eq!(meta.remote_versions()[1].stages, vec!["deleted".to_string()]);
        assert_eq!(meta.kept_versions(0), 10);
        assert_eq!(meta.kept_versions(4), 4);
    }

    #[test]
    fn a_rollback_goes_to_a_readable_version_other_than_the_current_one() {
        let mut meta = metadata(4, json!(null));
        meta.versions.get_mut(&1).unwrap().destroyed = true;
        meta.versions.get_mut(&2).unwrap().deleted = true;
        let versions = meta.remote_versions();
        let id = |r: Result<&RemoteVersion, NotRollable>| r.map(|v| v.id.clone());
        assert_eq!(id(rollback_target(&versions, None)), Ok("3".into()));
        assert_eq!(id(rollback_target(&versions, Some(3))), Ok("3".into()));
        assert_eq!(id(rollback_target(&versions, Some(4))), Err(NotRollable::Current));
        assert_eq!(id(rollback_target(&versions, Some(2))), Err(NotRollable::Deleted));
        assert_eq!(id(rollback_target(&versions, Some(1))), Err(NotRollable::Destroyed));
        assert_eq!(id(rollback_target(&versions, Some(9))), Err(NotRollable::Missing));
        meta.versions.get_mut(&3).unwrap().deleted = true;
        assert_eq!(
            id(rollback_target(&meta.remote_versions(), None)),
            Err(NotRollable::NoPrevious)
        );
    }

    #[test]
    fn the_anchor_names_the_version_a_rotation_wrote() {
        let token = "kubectl-secrets-0000000000000001-abc";
        let done = metadata(3, json!({ROTATION: token, REPLACES: "2", WROTE: "3", "team": "shop"}));
        assert_eq!(done.written_by(token), Some(3));
        assert_eq!(done.written_by("kubectl-secrets-other"), None);
        // Interrupted between the write and its record: the version after the replaced one.
        let unrecorded = metadata(3, json!({ROTATION: token, REPLACES: "2"}));
        assert_eq!(unrecorded.written_by(token), Some(3));
        // The anchor set, the write never made.
        let never = metadata(2, json!({ROTATION: token, REPLACES: "2"}));
        assert_eq!(never.written_by(token), None);
        let moved = metadata(4, json!({ROTATION: token, REPLACES: "2", WROTE: "3", MOVED_BACK: "4"}));
        assert_eq!(moved.moved_back_by(token), Some(4));
        let anchor = done.with_anchor(&[(ROTATION, "t2".into())]);
        assert_eq!(anchor.get("team").map(String::as_str), Some("shop"), "other keys kept");
        assert_eq!(anchor.get(WROTE), None, "the old anchor's keys go");
    }

    #[test]
    fn data_is_text_with_sorted_keys() {
        assert_eq!(
            data_text(&json!({"b": "2", "a": "1"})).as_deref(),
            Some(r#"{"a":"1","b":"2"}"#)
        );
        assert_eq!(data_text(&json!(null)), None);
    }
}
