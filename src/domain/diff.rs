//! Comparing a Secret with another one (file, namespace, context, backup revision): per key
//! added / removed / changed / same, the metadata that matters, and values reused across two
//! environments. Directions follow `kubectl diff`: "added" exists only on the other side.

use std::collections::BTreeSet;

use serde::Serialize;

use super::annotations;
use super::manifest::SecretSide;
use super::model::{OwnerRef, SealedSecretInfo};
use super::secret_value::{Fingerprinter, SecretValue};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    Same,
    Changed,
    /// Only on the other side.
    Added,
    /// Only on the cluster's side.
    Removed,
    /// On both sides, but the other side's value cannot be read (SealedSecret).
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Masked {
    pub length: usize,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyDiff {
    pub key: String,
    pub status: KeyStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<Masked>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<Masked>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetaDiff {
    pub field: String,
    pub cluster: Option<String>,
    pub other: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDiff {
    pub cluster: String,
    pub other: String,
    pub keys: Vec<KeyDiff>,
    pub metadata: Vec<MetaDiff>,
    /// Keys with the same value on both sides of two environments: one secret used twice.
    pub reused: Vec<String>,
}

impl SecretDiff {
    pub fn identical(&self) -> bool {
        self.keys.iter().all(|k| k.status == KeyStatus::Same) && self.metadata.is_empty()
    }

    pub fn changed_keys(&self) -> impl Iterator<Item = &str> {
        self.keys
            .iter()
            .filter(|k| k.status == KeyStatus::Changed)
            .map(|k| k.key.as_str())
    }
}

/// Annotations that describe the object's own history, not its meaning.
fn compared_annotation(key: &str) -> bool {
    !key.starts_with(annotations::PREFIX)
        && key != annotations::LAST_APPLIED
        && !key.starts_with("kubectl.kubernetes.io/")
}

/// `environments`: the two sides are different environments (namespaces or clusters), so a
/// value equal on both is reported as reused.
pub fn diff(cluster: &SecretSide, other: &SecretSide, environments: bool, fp: &Fingerprinter) -> SecretDiff {
    let masked = |v: &SecretValue| Masked {
        length: v.len(),
        fingerprint: fp.fingerprint(v),
    };
    let keys: BTreeSet<&String> = cluster.data.keys().chain(other.data.keys()).collect();
    let mut reused = Vec::new();
    let keys = keys
        .into_iter()
        .map(|key| {
            let here = cluster.data.get(key).and_then(Option::as_ref);
            let there = other.data.get(key);
            let status = match (cluster.data.contains_key(key), there) {
                (true, None) => KeyStatus::Removed,
                (false, Some(_)) => KeyStatus::Added,
                (_, Some(None)) => KeyStatus::Unknown,
                (_, Some(Some(value))) if here == Some(value) => KeyStatus::Same,
                _ => KeyStatus::Changed,
            };
            if environments && status == KeyStatus::Same && here.is_some_and(|v| !v.is_empty()) {
                reused.push(key.clone());
            }
            KeyDiff {
                key: key.clone(),
                status,
                cluster: here.map(masked),
                other: there.and_then(Option::as_ref).map(masked),
            }
        })
        .collect();
    SecretDiff {
        cluster: cluster.description.clone(),
        other: other.description.clone(),
        keys,
        metadata: metadata(cluster, other),
        reused,
    }
}

fn metadata(cluster: &SecretSide, other: &SecretSide) -> Vec<MetaDiff> {
    let mut found = Vec::new();
    let mut compare = |field: String, a: Option<String>, b: Option<String>| {
        if a != b {
            found.push(MetaDiff {
                field,
                cluster: a,
                other: b,
            });
        }
    };
    // A .env file has no type or metadata: compare only what the other side states.
    if other.type_.is_some() {
        compare("type".into(), cluster.type_.clone(), other.type_.clone());
        compare(
            "immutable".into(),
            cluster.immutable.map(|b| b.to_string()),
            other.immutable.map(|b| b.to_string()),
        );
        let labels: BTreeSet<&String> = cluster.labels.keys().chain(other.labels.keys()).collect();
        for key in labels {
            compare(
                format!("label {key}"),
                cluster.labels.get(key).cloned(),
                other.labels.get(key).cloned(),
            );
        }
        let notes: BTreeSet<&String> = cluster
            .annotations
            .keys()
            .chain(other.annotations.keys())
            .filter(|k| compared_annotation(k))
            .collect();
        for key in notes {
            compare(
                format!("annotation {key}"),
                cluster.annotations.get(key).cloned(),
                other.annotations.get(key).cloned(),
            );
        }
    }
    found
}

/// For a SealedSecret file: is the cluster's Secret unsealed from a SealedSecret of that name,
/// and did the controller manage it? (What can be checked without the private key.)
pub fn sealed_rows(name: &str, owner: Option<&OwnerRef>, status: Option<&SealedSecretInfo>) -> Vec<MetaDiff> {
    let mut rows = Vec::new();
    let expected = format!("SealedSecret/{name}");
    let actual = owner.map(|o| format!("{}/{}", o.kind, o.name));
    if actual.as_deref() != Some(expected.as_str()) {
        rows.push(MetaDiff {
            field: "owner".into(),
            cluster: actual,
            other: Some(expected),
        });
    }
    let unsealed = match status {
        None => Some("no SealedSecret in the cluster".to_string()),
        Some(s) if s.synced == Some(true) => None,
        Some(s) if s.synced == Some(false) => Some(format!("not unsealed: {}", s.message)),
        Some(_) => Some("not reported by the controller yet".to_string()),
    };
    if let Some(state) = unsealed {
        rows.push(MetaDiff {
            field: "unsealed by the controller".into(),
            cluster: Some(state),
            other: Some("yes".into()),
        });
    }
    rows
}

/// The lines of two values that differ, as a unified diff without context: a line both sides
/// share is never printed, even with --show-secret.
pub fn changed_lines(a: &str, b: &str, a_name: &str, b_name: &str) -> String {
    let mut out = similar::TextDiff::from_lines(a, b)
        .unified_diff()
        .context_radius(0)
        .header(a_name, b_name)
        .to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_secret_prints_only_the_lines_that_differ() {
        let before = "host=db\nuser=aura\npassword=old-one\nport=5432\n";
        let after = "host=db\nuser=aura\npassword=new-one\nport=5432\n";
        let shown = changed_lines(before, after, "cluster", "file");
        assert!(
            shown.contains("-password=old-one") && shown.contains("+password=new-one"),
            "{shown}"
        );
        for same in ["host=db", "user=aura", "port=5432"] {
            assert!(!shown.contains(same), "{same} is the same on both sides: {shown}");
        }
    }

    fn side(name: &str, data: &[(&str, &str)]) -> SecretSide {
        SecretSide {
            description: name.into(),
            type_: Some("Opaque".into()),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), Some(SecretValue::new(v.as_bytes().to_vec()))))
                .collect(),
            ..Default::default()
        }
    }

    fn statuses(d: &SecretDiff) -> Vec<(&str, KeyStatus)> {
        d.keys.iter().map(|k| (k.key.as_str(), k.status)).collect()
    }

    #[test]
    fn classifies_every_key() {
        let fp = Fingerprinter::new([9; 32]);
        let a = side("prod", &[("SAME", "x1234567"), ("CHANGED", "old"), ("GONE", "g")]);
        let b = side("file", &[("SAME", "x1234567"), ("CHANGED", "new"), ("NEW", "n")]);
        let d = diff(&a, &b, false, &fp);
        assert_eq!(
            statuses(&d),
            [
                ("CHANGED", KeyStatus::Changed),
                ("GONE", KeyStatus::Removed),
                ("NEW", KeyStatus::Added),
                ("SAME", KeyStatus::Same)
            ]
        );
        assert!(!d.identical());
        assert!(d.reused.is_empty(), "a file is not another environment");
        assert!(diff(&a, &a, false, &fp).identical());
    }

    #[test]
    fn equal_values_across_environments_are_reused_secrets() {
        let fp = Fingerprinter::new([9; 32]);
        let staging = side("staging/app", &[("JWT_SECRET", "same-everywhere"), ("EMPTY", "")]);
        let prod = side("prod/app", &[("JWT_SECRET", "same-everywhere"), ("EMPTY", "")]);
        assert_eq!(diff(&staging, &prod, true, &fp).reused, ["JWT_SECRET"]);
    }

    #[test]
    fn metadata_that_matters_and_history_that_does_not() {
        let fp = Fingerprinter::new([9; 32]);
        let mut a = side("a", &[]);
        let mut b = side("b", &[]);
        b.type_ = Some("kubernetes.io/tls".into());
        a.labels.insert("team".into(), "payments".into());
        a.annotations.insert("kubectl-secrets.io/revision".into(), "3".into());
        a.annotations.insert("owner".into(), "sre".into());
        let fields: Vec<String> = diff(&a, &b, false, &fp).metadata.into_iter().map(|m| m.field).collect();
        assert_eq!(fields, ["type", "label team", "annotation owner"]);
    }

    #[test]
    fn sealed_rows_say_what_can_be_checked_without_the_key() {
        let owner = OwnerRef {
            kind: "SealedSecret".into(),
            name: "app".into(),
        };
        let synced = |ok| SealedSecretInfo {
            namespace: "ns".into(),
            name: "app".into(),
            generation: 1,
            synced: Some(ok),
            message: "no key could decrypt".into(),
        };
        assert!(sealed_rows("app", Some(&owner), Some(&synced(true))).is_empty());
        let failing = sealed_rows("app", Some(&owner), Some(&synced(false)));
        assert_eq!(
            failing[0].cluster.as_deref(),
            Some("not unsealed: no key could decrypt")
        );
        let unowned = sealed_rows("app", None, None);
        assert_eq!(
            unowned.iter().map(|r| r.field.as_str()).collect::<Vec<_>>(),
            ["owner", "unsealed by the controller"]
        );
    }

    #[test]
    fn sealed_values_are_unknown_not_changed() {
        let fp = Fingerprinter::new([9; 32]);
        let cluster = side("c", &[("A", "x")]);
        let mut sealed = side("s", &[]);
        sealed.data.insert("A".into(), None);
        sealed.data.insert("B".into(), None);
        assert_eq!(
            statuses(&diff(&cluster, &sealed, false, &fp)),
            [("A", KeyStatus::Unknown), ("B", KeyStatus::Added)]
        );
    }
}
