//! Two-phase rotation of versioned keys (`jwt-secret-v1` → `jwt-secret-v2`): the new version is
//! added beside the old one and a pointer key (`active-key`) moves to it; the old versions are
//! retired later, once whatever they signed has expired.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use super::model::{EnvValue, PodSpecInfo, WorkloadId};
use super::plan::{ChangeKind, KeyChange, PlanError, SecretChange, SecretState};
use super::secret_value::SecretValue;

/// A key named `<prefix><N>`, where the prefix ends in `v`/`V` (`jwt-secret-v2`, `API_KEY_V3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedKey {
    pub prefix: String,
    pub version: u32,
}

impl VersionedKey {
    pub fn parse(key: &str) -> Option<Self> {
        let digits = key.len() - key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 || digits > 6 {
            return None;
        }
        let (prefix, number) = key.split_at(key.len() - digits);
        let before_v = prefix.strip_suffix(['v', 'V'])?;
        // "v2" alone or "apiv2" are not a family of keys: ask for a separator before the v.
        if !before_v.ends_with(['-', '_', '.']) || before_v.len() < 2 {
            return None;
        }
        Some(VersionedKey {
            prefix: prefix.to_string(),
            version: number.parse().ok()?,
        })
    }

    pub fn name(&self) -> String {
        format!("{}{}", self.prefix, self.version)
    }

    /// The base name users know the family by: the prefix without its `-v`.
    pub fn base(&self) -> &str {
        self.prefix[..self.prefix.len() - 1].trim_end_matches(['-', '_', '.'])
    }

    fn label(&self) -> String {
        format!("{}{}", &self.prefix[self.prefix.len() - 1..], self.version)
    }
}

/// The versions of one family present in a Secret, oldest first.
#[derive(Debug, Clone)]
pub struct Family {
    pub prefix: String,
    pub versions: Vec<VersionedKey>,
}

impl Family {
    pub fn newest(&self) -> &VersionedKey {
        self.versions.last().expect("a family has at least one version")
    }
}

/// The family `selector` names (a base such as `jwt-secret` or a member such as
/// `jwt-secret-v1`), or the only family of the Secret when no selector is given.
pub fn family(secret: &SecretState, selector: Option<&str>) -> Result<Family, PlanError> {
    let mut families: BTreeMap<String, Vec<VersionedKey>> = BTreeMap::new();
    for key in secret.data.keys() {
        if let Some(parsed) = VersionedKey::parse(key) {
            families.entry(parsed.prefix.clone()).or_default().push(parsed);
        }
    }
    let name = format!("{}/{}", secret.namespace, secret.name);
    let found: Vec<(String, Vec<VersionedKey>)> = families
        .into_iter()
        .filter(|(_, versions)| match selector {
            None => true,
            Some(wanted) => wanted == versions[0].base() || versions.iter().any(|v| v.name() == wanted),
        })
        .collect();
    match found.len() {
        1 => {
            let (prefix, mut versions) = found.into_iter().next().expect("one family");
            versions.sort_by_key(|v| v.version);
            Ok(Family { prefix, versions })
        }
        0 => Err(PlanError::NoVersionedKey {
            secret: name,
            wanted: selector.map(str::to_string),
            keys: secret.data.keys().cloned().collect::<Vec<_>>().join(", "),
        }),
        _ => Err(PlanError::AmbiguousVersionedKey {
            secret: name,
            families: found
                .iter()
                .map(|(_, v)| v[0].base().to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// Keys whose value names the newest version (`active-key: jwt-secret-v1`, or `v1`): they
/// move with it.
fn pointers<'a>(secret: &'a SecretState, newest: &VersionedKey) -> Vec<(&'a String, bool)> {
    let full = newest.name();
    let label = newest.label();
    secret
        .data
        .iter()
        .filter_map(|(key, value)| {
            let text = std::str::from_utf8(value.expose()).ok()?.trim_end();
            if text == full {
                Some((key, true))
            } else if text == label {
                Some((key, false))
            } else {
                None
            }
        })
        .collect()
}

/// Phase one: `<prefix><N+1>` with `new_value`, the pointer keys moved to it, the old
/// versions kept.
pub fn plan_add(
    secret: &SecretState,
    family: &Family,
    new_value: SecretValue,
    how: String,
) -> Result<Vec<KeyChange>, PlanError> {
    let newest = family.newest();
    let added = VersionedKey {
        prefix: family.prefix.clone(),
        version: newest.version + 1,
    };
    if secret.data.values().any(|v| *v == new_value) {
        return Err(PlanError::Unchanged { key: added.name() });
    }
    let mut keys = vec![KeyChange {
        key: added.name(),
        kind: ChangeKind::AddedVersion {
            after: newest.name(),
            how,
        },
        old: None,
        new: Some(new_value),
    }];
    for (key, full) in pointers(secret, newest) {
        let target = if full { added.name() } else { added.label() };
        keys.push(KeyChange {
            key: key.clone(),
            kind: ChangeKind::Pointer { to: added.name() },
            old: secret.data.get(key).cloned(),
            new: Some(SecretValue::new(target.into_bytes())),
        });
    }
    Ok(keys)
}

/// Phase two: remove every version older than the newest, once `after` has passed since the
/// newest was added (`added_at`, recorded by phase one).
pub fn plan_retire(
    secret: &SecretState,
    family: &Family,
    added_at: Option<Timestamp>,
    after: Duration,
    now: Timestamp,
) -> Result<Vec<KeyChange>, PlanError> {
    let newest = family.newest();
    let name = format!("{}/{}", secret.namespace, secret.name);
    if family.versions.len() < 2 {
        return Err(PlanError::NothingToRetire {
            secret: name,
            key: newest.name(),
        });
    }
    for version in &family.versions[..family.versions.len() - 1] {
        if let Some((pointer, _)) = pointers(secret, version).first() {
            return Err(PlanError::PointerOnOldVersion {
                secret: name,
                pointer: (*pointer).clone(),
                key: version.name(),
            });
        }
    }
    let wait = SignedDuration::try_from(after).unwrap_or(SignedDuration::MAX);
    match added_at {
        None if !after.is_zero() => {
            return Err(PlanError::AddedAtUnknown {
                secret: name,
                key: newest.name(),
            })
        }
        Some(at) => {
            let earliest = at.checked_add(wait).unwrap_or(Timestamp::MAX);
            if earliest > now {
                return Err(PlanError::TooEarly {
                    key: newest.name(),
                    added_at: at.to_string(),
                    earliest: earliest.to_string(),
                    remaining: humantime::format_duration(Duration::from_secs(
                        now.duration_until(earliest).as_secs().max(1) as u64,
                    ))
                    .to_string(),
                });
            }
        }
        None => {}
    }
    Ok(family.versions[..family.versions.len() - 1]
        .iter()
        .map(|version| KeyChange {
            key: version.name(),
            kind: ChangeKind::Retired { by: newest.name() },
            old: secret.data.get(&version.name()).cloned(),
            new: None,
        })
        .collect())
}

/// Containers that name `key` of `secret` without `optional: true` (env or volume items): a
/// pod started after the key is gone would fail with CreateContainerConfigError.
pub fn required_by(
    specs: &BTreeMap<WorkloadId, &PodSpecInfo>,
    namespace: &str,
    secret: &str,
    key: &str,
) -> Vec<String> {
    let mut found = Vec::new();
    for (id, spec) in specs.iter().filter(|(id, _)| id.namespace == namespace) {
        for container in &spec.containers {
            let by_env = container.env.iter().any(|var| {
                matches!(&var.value, EnvValue::SecretKey { secret: s, key: k, optional: false } if s == secret && k == key)
            });
            if by_env {
                found.push(format!(
                    "{}/{} (container {}, env)",
                    id.kind.as_str(),
                    id.name,
                    container.name
                ));
            }
        }
        let by_volume = spec.volumes.iter().any(|volume| {
            volume.sources.iter().any(|source| {
                source.secret == secret
                    && !source.optional
                    && source
                        .items
                        .as_ref()
                        .is_some_and(|items| items.iter().any(|i| i == key))
            })
        });
        if by_volume {
            found.push(format!("{}/{} (volume items)", id.kind.as_str(), id.name));
        }
    }
    found
}

/// Apply planned key changes to the Secret's data.
pub fn change(secret: &SecretState, keys: Vec<KeyChange>) -> SecretChange {
    let mut after = secret.data.clone();
    for key in &keys {
        match &key.new {
            Some(value) => after.insert(key.key.clone(), value.clone()),
            None => after.remove(&key.key),
        };
    }
    SecretChange {
        before: secret.clone(),
        after,
        new_revision: secret.revision + 1,
        keys,
        left_out: Vec::new(),
    }
}

/// When each versioned key of `after` was added: kept for those already there, `now` for new
/// ones, so `rotate --phase retire --after` can wait from the real time.
pub fn added_times(
    before: &SecretState,
    after: &BTreeMap<String, SecretValue>,
    now: Timestamp,
) -> BTreeMap<String, Timestamp> {
    let now = Timestamp::from_second(now.as_second()).unwrap_or(now);
    after
        .keys()
        .filter(|key| VersionedKey::parse(key).is_some())
        .filter_map(|key| match before.versions_added_at.get(key) {
            Some(at) => Some((key.clone(), *at)),
            None if !before.data.contains_key(key) => Some((key.clone(), now)),
            None => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    fn jwt_keys(data: &[(&str, &str)]) -> SecretState {
        SecretState {
            namespace: "platform".into(),
            name: "jwt-keys".into(),
            data: data.iter().map(|(k, val)| (k.to_string(), v(val))).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn parses_versioned_key_names_and_rejects_others() {
        let parsed = VersionedKey::parse("jwt-secret-v12").unwrap();
        assert_eq!(
            (parsed.prefix.as_str(), parsed.version, parsed.base()),
            ("jwt-secret-v", 12, "jwt-secret")
        );
        assert_eq!(VersionedKey::parse("API_KEY_V3").unwrap().name(), "API_KEY_V3");
        for not_versioned in ["password", "v2", "apiv2", "jwt-secret-v", "key-2", "-v1"] {
            assert_eq!(VersionedKey::parse(not_versioned), None, "{not_versioned}");
        }
    }

    #[test]
    fn add_writes_the_next_version_and_moves_the_pointer() {
        let secret = jwt_keys(&[("jwt-secret-v1", "old-signing-key"), ("active-key", "jwt-secret-v1")]);
        let family = family(&secret, None).unwrap();
        let keys = plan_add(&secret, &family, v("new-signing-key"), "generated".into()).unwrap();
        let after = change(&secret, keys).after;
        assert_eq!(after["jwt-secret-v2"], v("new-signing-key"));
        assert_eq!(after["jwt-secret-v1"], v("old-signing-key"));
        assert_eq!(after["active-key"], v("jwt-secret-v2"));
    }

    #[test]
    fn short_pointer_labels_keep_their_form() {
        let secret = jwt_keys(&[("KEY_V4", "a"), ("KEY_V5", "b"), ("CURRENT", "V5")]);
        let keys = plan_add(&secret, &family(&secret, Some("KEY")).unwrap(), v("c"), "typed".into()).unwrap();
        let after = change(&secret, keys).after;
        assert_eq!((after["KEY_V6"].clone(), after["CURRENT"].clone()), (v("c"), v("V6")));
    }

    #[test]
    fn selects_a_family_by_base_or_member_and_says_when_it_is_ambiguous() {
        let secret = jwt_keys(&[("jwt-secret-v1", "a"), ("api-key-v2", "b")]);
        assert!(matches!(
            family(&secret, None),
            Err(PlanError::AmbiguousVersionedKey { .. })
        ));
        assert_eq!(family(&secret, Some("api-key")).unwrap().newest().name(), "api-key-v2");
        assert_eq!(
            family(&secret, Some("jwt-secret-v1")).unwrap().newest().name(),
            "jwt-secret-v1"
        );
        assert!(matches!(
            family(&secret, Some("password")),
            Err(PlanError::NoVersionedKey { .. })
        ));
    }

    #[test]
    fn retire_waits_for_the_recorded_time() {
        let secret = jwt_keys(&[
            ("jwt-secret-v1", "a"),
            ("jwt-secret-v2", "b"),
            ("active-key", "jwt-secret-v2"),
        ]);
        let family = family(&secret, None).unwrap();
        let added: Timestamp = "2026-11-24T10:00:00Z".parse().unwrap();
        let fifteen = Duration::from_secs(900);
        let early = plan_retire(
            &secret,
            &family,
            Some(added),
            fifteen,
            "2026-11-24T10:05:00Z".parse().unwrap(),
        );
        assert!(matches!(early, Err(PlanError::TooEarly { ref remaining, .. }) if remaining == "10m"));
        let keys = plan_retire(
            &secret,
            &family,
            Some(added),
            fifteen,
            "2026-11-24T10:15:00Z".parse().unwrap(),
        )
        .unwrap();
        let after = change(&secret, keys).after;
        assert_eq!(after.keys().collect::<Vec<_>>(), ["active-key", "jwt-secret-v2"]);
        assert!(matches!(
            plan_retire(&secret, &family, None, fifteen, added),
            Err(PlanError::AddedAtUnknown { .. })
        ));
        assert!(plan_retire(&secret, &family, None, Duration::ZERO, added).is_ok());
    }

    #[test]
    fn retire_refuses_while_a_pointer_names_an_old_version() {
        let secret = jwt_keys(&[
            ("jwt-secret-v1", "a"),
            ("jwt-secret-v2", "b"),
            ("active-key", "jwt-secret-v1"),
        ]);
        let result = plan_retire(
            &secret,
            &family(&secret, None).unwrap(),
            None,
            Duration::ZERO,
            Timestamp::now(),
        );
        assert!(matches!(result, Err(PlanError::PointerOnOldVersion { ref pointer, .. }) if pointer == "active-key"));
        let single = jwt_keys(&[("jwt-secret-v1", "a")]);
        let result = plan_retire(
            &single,
            &family(&single, None).unwrap(),
            None,
            Duration::ZERO,
            Timestamp::now(),
        );
        assert!(matches!(result, Err(PlanError::NothingToRetire { .. })));
    }
}
