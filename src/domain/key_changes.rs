//! When each key of a Secret last changed, so that verify can judge a workload by the keys it
//! reads: one reading only `REDIS_URL` (through `secretKeyRef`, volume `items` or a subPath) is
//! current after a rotation of `JWT_SECRET` that did not restart it.
//!
//! Written with the data, in the same request, as `kubectl-secrets.io/key-changes`: the
//! revision it describes and, per key, the revision and time of its last change (an upper
//! bound for keys older than the record). It is trusted only while it describes the Secret's
//! current revision and kubectl-secrets' own field manager owns it; anything else falls back
//! to judging the Secret as a whole.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::annotations::{FIELD_MANAGER, KEY_CHANGES, REVISION, ROTATED_AT};
use super::plan::SecretState;
use super::secret_value::SecretValue;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChanges {
    /// The Secret revision this record describes.
    pub revision: u64,
    pub keys: BTreeMap<String, KeyChange>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    /// The revision that last changed the key's value (or an earlier revision it predates).
    pub revision: u64,
    /// When, whole seconds; for a key older than the record, the Secret's last data change
    /// before it (a later time than the key's own change, never an earlier one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Timestamp>,
}

/// The record after writing `after` as revision `revision` at `at` over `before`.
pub fn next(before: &SecretState, after: &BTreeMap<String, SecretValue>, revision: u64, at: Timestamp) -> KeyChanges {
    let at = Timestamp::from_second(at.as_second()).unwrap_or(at);
    let known = before.key_changes.as_ref().filter(|k| k.revision == before.revision);
    // Without a record, an unchanged key changed at the latest at the last known data change.
    let previous_change = [before.foreign_data_change_at, before.rotated_at]
        .into_iter()
        .flatten()
        .max();
    let keys = after
        .iter()
        .map(|(key, value)| {
            let unchanged = before.data.get(key) == Some(value);
            let change = match known.and_then(|k| k.keys.get(key)) {
                Some(change) if unchanged => *change,
                _ if unchanged => KeyChange {
                    revision: before.revision,
                    at: previous_change,
                },
                _ => KeyChange { revision, at: Some(at) },
            };
            (key.clone(), change)
        })
        .collect();
    KeyChanges { revision, keys }
}

pub fn text(changes: &KeyChanges) -> String {
    serde_json::to_string(changes).expect("key changes serialise")
}

/// The record on a Secret, if kubectl-secrets' field manager wrote it, it describes the
/// Secret's current revision, and nobody else changed the data since kubectl-secrets did.
pub fn read(meta: &ObjectMeta) -> Option<KeyChanges> {
    if rewritten_after_data(meta).is_some() {
        return None;
    }
    let annotations = meta.annotations.as_ref()?;
    let text = annotations.get(KEY_CHANGES)?;
    let revision: u64 = annotations.get(REVISION)?.parse().ok()?;
    let rotated_at: Timestamp = annotations.get(ROTATED_AT)?.parse().ok()?;
    let foreign_change = super::model::last_data_change(meta, Some(FIELD_MANAGER));
    if foreign_change.is_some_and(|c| c > rotated_at + jiff::SignedDuration::from_secs(1)) {
        return None;
    }
    let owned = meta.managed_fields.iter().flatten().any(|entry| {
        entry.manager.as_deref() == Some(FIELD_MANAGER)
            && entry.fields_v1.as_ref().is_some_and(|f| {
                f.0.pointer(&format!(
                    "/f:metadata/f:annotations/f:{}",
                    KEY_CHANGES.replace('/', "~1")
                ))
                .is_some()
            })
    });
    let changes: KeyChanges = serde_json::from_str(text).ok()?;
    (owned && changes.revision == revision).then_some(changes)
}

/// Clock skew allowed between the client that stamps `rotated-at` and the API server that
/// times the request.
const STAMP_SKEW: jiff::SignedDuration = jiff::SignedDuration::from_secs(120);

/// When a request under kubectl-secrets' field manager last wrote the key-changes record, if
/// that was later (beyond clock skew) than the `rotated-at` written with the data: kubectl-
/// secrets writes the record, the stamp and the data in one request (its journal updates use a
/// field manager of their own), so a later one is someone else using its name. Returns that
/// time and `rotated-at`.
pub fn rewritten_after_data(meta: &ObjectMeta) -> Option<(Timestamp, Timestamp)> {
    let annotations = meta.annotations.as_ref()?;
    annotations.get(KEY_CHANGES)?;
    let rotated_at: Timestamp = annotations.get(ROTATED_AT)?.parse().ok()?;
    let pointer = format!("/f:metadata/f:annotations/f:{}", KEY_CHANGES.replace('/', "~1"));
    let written = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| entry.manager.as_deref() == Some(FIELD_MANAGER))
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer(&pointer).is_some())
        })
        .filter_map(|entry| entry.time.as_ref().map(|t| t.0))
        .max()?;
    (written > rotated_at + STAMP_SKEW).then_some((written, rotated_at))
}

impl KeyChanges {
    /// The newest change among `keys` (its time None when one is unknown); None when one of
    /// them is not recorded.
    pub fn newest_of(&self, keys: &BTreeSet<String>) -> Option<KeyChange> {
        let changes: Vec<KeyChange> = keys.iter().map(|k| self.keys.get(k).copied()).collect::<Option<_>>()?;
        let revision = changes.iter().map(|c| c.revision).max()?;
        let at = changes
            .iter()
            .map(|c| c.at)
            .collect::<Option<Vec<_>>>()
            .and_then(|t| t.into_iter().max());
        Some(KeyChange { revision, at })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_record_written_by_a_later_request_than_its_stamp_is_not_believed() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
        let meta = |written: i64| ObjectMeta {
            annotations: Some(
                [
                    (REVISION.to_string(), "1".to_string()),
                    (ROTATED_AT.to_string(), at(1_000).to_string()),
                    (
                        KEY_CHANGES.to_string(),
                        r#"{"revision":1,"keys":{"A":{"revision":1}}}"#.to_string(),
                    ),
                ]
                .into(),
            ),
            managed_fields: Some(vec![ManagedFieldsEntry {
                manager: Some(FIELD_MANAGER.into()),
                operation: Some("Update".into()),
                time: Some(Time(at(written))),
                fields_v1: Some(FieldsV1(
                    serde_json::json!({"f:data": {"f:A": {}}, "f:metadata": {"f:annotations": {
                        format!("f:{KEY_CHANGES}"): {}, format!("f:{REVISION}"): {}, format!("f:{ROTATED_AT}"): {}
                    }}}),
                )),
                ..Default::default()
            }]),
            ..Default::default()
        };
        // The same request, within clock skew: believed.
        assert_eq!(rewritten_after_data(&meta(1_001)), None);
        assert!(read(&meta(1_001)).is_some());
        // A request under the same name an hour later.
        assert_eq!(rewritten_after_data(&meta(4_600)), Some((at(4_600), at(1_000))));
        assert_eq!(read(&meta(4_600)), None);
    }
    use super::*;

    fn v(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    fn at(second: i64) -> Timestamp {
        Timestamp::from_second(second).unwrap()
    }

    #[test]
    fn only_changed_keys_move_and_older_keys_get_an_upper_bound() {
        let before = SecretState {
            revision: 0,
            foreign_data_change_at: Some(at(100)),
            data: [("JWT".to_string(), v("a")), ("REDIS".to_string(), v("r"))].into(),
            ..Default::default()
        };
        let after: BTreeMap<String, SecretValue> = [("JWT".to_string(), v("b")), ("REDIS".to_string(), v("r"))].into();
        let first = next(&before, &after, 1, at(200));
        assert_eq!(
            first.keys["JWT"],
            KeyChange {
                revision: 1,
                at: Some(at(200))
            }
        );
        assert_eq!(
            first.keys["REDIS"],
            KeyChange {
                revision: 0,
                at: Some(at(100))
            }
        );

        // The next rotation keeps what the record knows about untouched keys.
        let again = SecretState {
            revision: 1,
            rotated_at: Some(at(200)),
            key_changes: Some(first.clone()),
            data: after.clone(),
            ..Default::default()
        };
        let newer: BTreeMap<String, SecretValue> = [
            ("JWT".to_string(), v("c")),
            ("REDIS".to_string(), v("r")),
            ("NEW".to_string(), v("n")),
        ]
        .into();
        let second = next(&again, &newer, 2, at(300));
        assert_eq!(second.keys["REDIS"], first.keys["REDIS"]);
        assert_eq!(second.keys["NEW"].revision, 2);
        let read: BTreeSet<String> = ["REDIS".to_string(), "NEW".to_string()].into();
        assert_eq!(
            second.newest_of(&read),
            Some(KeyChange {
                revision: 2,
                at: Some(at(300))
            })
        );
        assert_eq!(second.newest_of(&["GONE".to_string()].into()), None);

        // A record for another revision (someone else wrote since) is not used.
        let stale = SecretState {
            revision: 2,
            key_changes: Some(first),
            data: newer.clone(),
            ..Default::default()
        };
        assert_eq!(next(&stale, &newer, 3, at(400)).keys["REDIS"].revision, 2);
    }

    fn meta(manager: &str, revision: &str, data_manager_at: Option<&str>) -> ObjectMeta {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry, Time};
        let record = KeyChanges {
            revision: 2,
            keys: [(
                "REDIS".to_string(),
                KeyChange {
                    revision: 0,
                    at: Some(at(100)),
                },
            )]
            .into(),
        };
        let mut entries = vec![ManagedFieldsEntry {
            manager: Some(manager.into()),
            operation: Some("Update".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({
                "f:metadata": {"f:annotations": {format!("f:{KEY_CHANGES}"): {}}}
            }))),
            ..Default::default()
        }];
        if let Some(time) = data_manager_at {
            entries.push(ManagedFieldsEntry {
                manager: Some("kubectl-edit".into()),
                operation: Some("Update".into()),
                time: Some(Time(time.parse().unwrap())),
                fields_v1: Some(FieldsV1(serde_json::json!({"f:data": {"f:REDIS": {}}}))),
                ..Default::default()
            });
        }
        ObjectMeta {
            annotations: Some(
                [
                    (KEY_CHANGES.to_string(), text(&record)),
                    (REVISION.to_string(), revision.to_string()),
                    (ROTATED_AT.to_string(), "2026-01-01T00:00:00Z".to_string()),
                ]
                .into(),
            ),
            managed_fields: Some(entries),
            ..Default::default()
        }
    }

    #[test]
    fn the_record_is_trusted_only_when_ours_current_and_not_edited_since() {
        assert!(read(&meta(FIELD_MANAGER, "2", None)).is_some());
        assert_eq!(
            read(&meta("kubectl-annotate", "2", None)),
            None,
            "written by someone else"
        );
        assert_eq!(
            read(&meta(FIELD_MANAGER, "3", None)),
            None,
            "describes another revision"
        );
        assert_eq!(
            read(&meta(FIELD_MANAGER, "2", Some("2026-02-01T00:00:00Z"))),
            None,
            "data edited by someone else after the record"
        );
    }
}
