//! One change of several Secrets: which keys of which Secret the flags name (`SECRET/KEY` for
//! one Secret's key, `KEY` for every selected Secret that has it), and one new value per
//! distinct old value, so that a credential shared by several Secrets stays shared.

use std::collections::BTreeMap;

use super::generate::Generator;
use super::plan::SecretState;
use super::secret_value::SecretValue;

/// New values of one Secret's keys, with where each came from.
pub type NewValues = BTreeMap<String, (SecretValue, String)>;

/// `[SECRET/]KEY`: key names cannot contain '/', so the first one separates the Secret.
pub fn split_qualified(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((secret, key)) => (Some(secret), key),
        None => (None, name),
    }
}

/// One `--key [SECRET/]KEY[=GENERATOR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub secret: Option<String>,
    pub key: String,
    pub generator: Option<Generator>,
}

impl std::str::FromStr for KeySpec {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        let (name, generator) = match spec.split_once('=') {
            Some((name, generator)) => (name, Some(generator.parse()?)),
            None => (spec, None),
        };
        let (secret, key) = split_qualified(name);
        if key.is_empty() || secret.is_some_and(str::is_empty) {
            return Err(format!("--key {spec:?}: use KEY or SECRET/KEY, optionally =GENERATOR"));
        }
        Ok(KeySpec {
            secret: secret.map(str::to_string),
            key: key.to_string(),
            generator,
        })
    }
}

/// Each target's new values, in the order of `targets`. `given` holds values read from files
/// under `SECRET/KEY`. A key named without a Secret applies to every target that has it; each
/// target must end up with at least one key (or a `--set` value: `has_sets`). Generated values
/// are drawn once per distinct old value: keys that held the same value get the same new one.
pub fn choose(
    targets: &[&SecretState],
    specs: &[KeySpec],
    all_keys: bool,
    mut given: BTreeMap<String, (SecretValue, String)>,
    has_sets: &dyn Fn(&str) -> bool,
    mut generate: impl FnMut(&Generator) -> SecretValue,
) -> Result<Vec<NewValues>, String> {
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let unknown = |secret: &str, what: &str| {
        format!(
            "{what} names Secret {secret}, which is not one of the Secrets rotated here ({})",
            names.join(", ")
        )
    };
    for spec in specs {
        if let Some(secret) = spec.secret.as_deref().filter(|s| !names.contains(s)) {
            return Err(unknown(secret, &format!("--key {secret}/{}", spec.key)));
        }
        if spec.secret.is_none() && !targets.iter().any(|t| t.data.contains_key(&spec.key)) {
            return Err(format!(
                "--key {}: none of the Secrets rotated here ({}) has that key",
                spec.key,
                names.join(", ")
            ));
        }
    }
    for name in given.keys() {
        match split_qualified(name) {
            (Some(secret), _) if names.contains(&secret) => {}
            (Some(secret), _) => return Err(unknown(secret, &format!("--from-file {name}"))),
            (None, key) => {
                return Err(format!(
                    "--from-file {key}=...: with several Secrets, say whose key it is (--from-file SECRET/{key}=PATH)"
                ))
            }
        }
    }

    // Old value → the new value drawn for it, and the first key it was drawn for.
    let mut drawn: BTreeMap<Vec<u8>, (SecretValue, String)> = BTreeMap::new();
    let mut chosen = Vec::new();
    for target in targets {
        let mut values = NewValues::new();
        for (name, value) in std::mem::take(&mut given) {
            match split_qualified(&name) {
                (Some(secret), key) if secret == target.name => {
                    values.insert(key.to_string(), value);
                }
                _ => {
                    given.insert(name, value);
                }
            }
        }
        let not_generated = |key: &str| super::not_generated::for_key(&target.data, &target.generation, key);
        let wanted: Vec<(String, Option<Generator>)> = if all_keys {
            // Keys issued elsewhere and identifiers are left out (the plan says which).
            target
                .data
                .keys()
                .filter(|k| not_generated(k).is_none())
                .map(|k| (k.clone(), None))
                .collect()
        } else {
            specs
                .iter()
                .filter(|s| {
                    s.secret.as_deref().is_some_and(|n| n == target.name)
                        || (s.secret.is_none() && target.data.contains_key(&s.key))
                })
                .map(|s| (s.key.clone(), s.generator))
                .collect()
        };
        for (key, generator) in wanted {
            if values.contains_key(&key) && all_keys {
                continue;
            }
            if values.contains_key(&key) {
                return Err(format!("{}/{key} is given twice (--key and --from-file)", target.name));
            }
            let Some(old) = target.data.get(&key) else {
                return Err(format!(
                    "secret {}/{} has no key {key:?} (its keys: {})",
                    target.namespace,
                    target.name,
                    target.data.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            };
            let here = format!("{}/{key}", target.name);
            let value = match drawn.get(old.expose()) {
                Some((new, first)) => (new.clone(), format!("generated, shared with {first}")),
                None => {
                    if let (None, Some(reason)) = (generator, not_generated(&key)) {
                        let secret = format!("{}/{}", target.namespace, target.name);
                        return Err(reason.refusal(&secret, &key));
                    }
                    let generator = generator.unwrap_or_else(|| Generator::like(old.expose()));
                    let new = generate(&generator);
                    drawn.insert(old.expose().to_vec(), (new.clone(), here));
                    (new, format!("generated, {generator}"))
                }
            };
            values.insert(key, value);
        }
        if values.is_empty() && !has_sets(&target.name) {
            return Err(format!(
                "no key of Secret {} is chosen: add --key {}/KEY (or a KEY it has), or --all-keys{}",
                target.name,
                target.name,
                if all_keys {
                    " (every key it has is issued elsewhere or not a secret: give their values with --from-file)"
                } else {
                    ""
                }
            ));
        }
        chosen.push(values);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(name: &str, data: &[(&str, &str)]) -> SecretState {
        SecretState {
            namespace: "shop".into(),
            name: name.into(),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), SecretValue::new(v.as_bytes().to_vec())))
                .collect(),
            ..Default::default()
        }
    }

    fn counter() -> impl FnMut(&Generator) -> SecretValue {
        let mut n = 0;
        move |_| {
            n += 1;
            SecretValue::new(format!("new-{n}").into_bytes())
        }
    }

    fn no_sets(_: &str) -> bool {
        false
    }

    #[test]
    fn qualified_and_unqualified_keys_and_shared_values() {
        let a = secret("a", &[("password", "shared"), ("token", "t")]);
        let b = secret("b", &[("password", "shared"), ("other", "o")]);
        let c = secret("c", &[("token", "t2")]);
        let specs: Vec<KeySpec> = ["password", "c/token=hex:16"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let chosen = choose(&[&a, &b, &c], &specs, false, BTreeMap::new(), &no_sets, counter()).unwrap();
        let keys: Vec<Vec<&str>> = chosen.iter().map(|v| v.keys().map(String::as_str).collect()).collect();
        assert_eq!(keys, [vec!["password"], vec!["password"], vec!["token"]]);
        // a and b held the same password: they get the same new one.
        assert_eq!(chosen[0]["password"].0, chosen[1]["password"].0);
        assert!(chosen[1]["password"].1.contains("shared with a/password"));
        assert_ne!(chosen[2]["token"].0, chosen[0]["password"].0);
        assert!(chosen[2]["token"].1.contains("hex:16"));
    }

    #[test]
    fn every_target_needs_a_key_and_names_must_exist() {
        let a = secret("a", &[("password", "p")]);
        let b = secret("b", &[("other", "o")]);
        let specs: Vec<KeySpec> = vec!["password".parse().unwrap()];
        let err = choose(&[&a, &b], &specs, false, BTreeMap::new(), &no_sets, counter()).unwrap_err();
        assert!(err.contains("no key of Secret b"), "{err}");
        assert!(choose(
            &[&a, &b],
            &specs,
            false,
            BTreeMap::new(),
            &|s: &str| s == "b",
            counter()
        )
        .is_ok());
        let specs: Vec<KeySpec> = vec!["z/password".parse().unwrap()];
        let err = choose(&[&a, &b], &specs, false, BTreeMap::new(), &no_sets, counter()).unwrap_err();
        assert!(err.contains("Secret z, which is not one"), "{err}");
        let specs: Vec<KeySpec> = vec!["missing".parse().unwrap()];
        let err = choose(&[&a, &b], &specs, false, BTreeMap::new(), &no_sets, counter()).unwrap_err();
        assert!(err.contains("none of the Secrets"), "{err}");
        assert!("a/".parse::<KeySpec>().is_err() && "/k".parse::<KeySpec>().is_err());
    }

    #[test]
    fn all_keys_and_values_from_files() {
        let a = secret("a", &[("k1", "x"), ("k2", "y")]);
        let b = secret("b", &[("k3", "x")]);
        let given = BTreeMap::from([(
            "a/k1".to_string(),
            (SecretValue::new(b"from-file".to_vec()), "from file f".to_string()),
        )]);
        let specs: Vec<KeySpec> = vec!["b/k3".parse().unwrap()];
        let chosen = choose(&[&a, &b], &specs, false, given.clone(), &|s: &str| s == "a", counter()).unwrap();
        assert_eq!(chosen[0]["k1"].0.expose(), b"from-file");
        assert_eq!(chosen[1]["k3"].0.expose(), b"new-1");
        let all = choose(&[&a, &b], &[], true, BTreeMap::new(), &no_sets, counter()).unwrap();
        assert_eq!(all[0].len() + all[1].len(), 3);
        // k1 and k3 held the same value.
        assert_eq!(all[0]["k1"].0, all[1]["k3"].0);
        let unqualified = BTreeMap::from([("k1".to_string(), given["a/k1"].clone())]);
        assert!(choose(&[&a, &b], &[], true, unqualified, &no_sets, counter())
            .unwrap_err()
            .contains("say whose key"));
    }
}
