//! What a container actually sees of its Secrets, following the kubelet's rules
//! (pkg/kubelet/kubelet_pods.go, makeEnvironmentVariables):
//! envFrom sources, Secrets and ConfigMaps alike, are applied in order with their prefixes (a
//! later source overrides an earlier one), then `env` entries in order override them; an
//! optional reference to an absent Secret, ConfigMap or key is skipped without overriding
//! anything. Service-link variables come last and only fill names still unset, so they never
//! hide a Secret's key. Volumes update in place unless mounted with subPath.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::model::{ConfigMapInfo, ContainerSpec, EnvFrom, EnvValue, Mount, PodSpecInfo, SecretInfo, VolumeSecret};

/// Whether the kubelet drops envFrom keys that are not C-style names. Kubelets up to 1.29
/// skipped names failing `[-._a-zA-Z][-._a-zA-Z0-9]*` (with an InvalidEnvironmentVariableNames
/// event); from 1.30 on, with RelaxedEnvironmentVariableValidation, `makeEnvironmentVariables`
/// passes every key and only the API server validates names (read from both releases' source).
/// The API server's version stands in for the kubelet's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvNamePolicy {
    Strict,
    Relaxed,
}

impl EnvNamePolicy {
    pub fn for_server_minor(minor: u32) -> Self {
        if minor >= 30 {
            EnvNamePolicy::Relaxed
        } else {
            EnvNamePolicy::Strict
        }
    }

    fn drops(self, name: &str) -> bool {
        match self {
            EnvNamePolicy::Relaxed => name.is_empty() || name.contains('='),
            EnvNamePolicy::Strict => {
                let mut chars = name.chars();
                let valid_first = chars
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || "-._".contains(c));
                !(valid_first && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)))
            }
        }
    }
}

/// How a container consumes a Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// `env[].valueFrom.secretKeyRef`
    EnvKeyRef,
    /// `envFrom[].secretRef`
    EnvFrom,
    /// a secret volume mounted with subPath (copied once, never updated)
    SubPathMount,
    /// a secret volume (updated in place by the kubelet)
    VolumeMount,
    /// an env var a database image reads only when its data directory is first made
    /// (`POSTGRES_PASSWORD` of the postgres image): later values change nothing, a restart
    /// neither; the password changes at the server (its issuer)
    EnvFirstStart,
    /// a file Vault's Agent Injector renders from a Vault path (no Kubernetes Secret involved)
    VaultAgent,
}

impl Via {
    /// Env values and subPath copies are fixed when the container starts (and a restart picks
    /// up a new value).
    pub fn fixed_at_start(self) -> bool {
        !matches!(self, Via::VolumeMount | Via::EnvFirstStart | Via::VaultAgent)
    }

    /// A secret volume without subPath: the kubelet updates the files in place.
    pub fn updates_in_place(self) -> bool {
        self == Via::VolumeMount
    }
}

/// A problem visible from the spec alone.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SpecProblem {
    /// A required Secret or key does not exist.
    Missing {
        secret: String,
        key: Option<String>,
        env: Option<String>,
        via: Via,
        detail: String,
    },
    /// A secret key the spec references never reaches the container's environment.
    Shadowed {
        secret: String,
        key: String,
        env: String,
        via: Via,
        detail: String,
    },
}

/// One Secret (or key of it) that reaches the container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Consumption {
    pub secret: String,
    pub key: Option<String>,
    /// The env var name, or the mount path for volumes.
    pub target: String,
    pub via: Via,
    /// For volumes: the keys it reads (its `items`, or the one file a subPath names);
    /// None: every key, including keys added later.
    pub volume_keys: Option<BTreeSet<String>>,
}

impl Consumption {
    /// Whether a change of these keys reaches what this consumption reads. envFrom reads every
    /// key (a key added or removed changes the environment too).
    pub fn reads_any(&self, changed: &BTreeSet<String>) -> bool {
        match self.via {
            Via::EnvFrom => true,
            Via::EnvKeyRef | Via::EnvFirstStart => self.key.as_ref().is_some_and(|k| changed.contains(k)),
            Via::VolumeMount | Via::SubPathMount => self
                .volume_keys
                .as_ref()
                .is_none_or(|keys| keys.iter().any(|k| changed.contains(k))),
            // Never a Secret's consumption (the injector's reads are no Consumption).
            Via::VaultAgent => false,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerView {
    pub problems: Vec<SpecProblem>,
    pub consumed: Vec<Consumption>,
}

/// What the kubelet resolves a container's environment against: one namespace's Secrets and
/// ConfigMaps (key names only).
#[derive(Debug, Clone, Default)]
pub struct Sources<'a> {
    pub secrets: HashMap<&'a str, &'a SecretInfo>,
    /// None where ConfigMaps could not be read: a `configMapKeyRef` is then taken to resolve
    /// (it overrides) and an envFrom `configMapRef` to add nothing (its keys are unknown).
    pub config_maps: Option<HashMap<&'a str, &'a ConfigMapInfo>>,
}

/// Where a variable's final value comes from.
#[derive(Debug, Clone)]
enum Origin {
    Secret { secret: String, key: String, via: Via },
    ConfigMap { name: String, key: String, env_from: bool },
    Other(String),
}

impl Origin {
    fn describe(&self, var: &str) -> String {
        match self {
            Origin::Secret {
                secret,
                key,
                via: Via::EnvFrom,
            } => format!("a later envFrom source (Secret {secret}, key {key})"),
            Origin::Secret { secret, key, .. } => format!("env {var} from Secret {secret}, key {key}"),
            Origin::ConfigMap {
                name,
                key,
                env_from: true,
            } => format!("a later envFrom source (ConfigMap {name}, key {key})"),
            Origin::ConfigMap { name, key, .. } => format!("env {var} from ConfigMap {name}, key {key}"),
            Origin::Other(what) => what.clone(),
        }
    }
}

/// Resolve one container of a pod spec against the Secrets and ConfigMaps of its namespace.
pub fn resolve(
    spec: &PodSpecInfo,
    container: &ContainerSpec,
    sources: &Sources,
    policy: EnvNamePolicy,
) -> ContainerView {
    let secrets = &sources.secrets;
    let mut view = ContainerView::default();
    let mut env: BTreeMap<String, Origin> = BTreeMap::new();

    for source in &container.env_from {
        match source {
            EnvFrom::Secret { name, prefix, optional } => match secrets.get(name.as_str()) {
                None if !optional => view.problems.push(SpecProblem::Missing {
                    secret: name.clone(),
                    key: None,
                    env: None,
                    via: Via::EnvFrom,
                    detail: format!("envFrom references Secret {name}, which does not exist"),
                }),
                None => {}
                Some(secret) => {
                    for key in &secret.keys {
                        let var = format!("{prefix}{key}");
                        if policy.drops(&var) {
                            view.problems.push(SpecProblem::Shadowed {
                                secret: name.clone(),
                                key: key.clone(),
                                env: var.clone(),
                                via: Via::EnvFrom,
                                detail: format!(
                                    "{var:?} is not a valid environment variable name: the kubelet skips it"
                                ),
                            });
                            continue;
                        }
                        let origin = Origin::Secret {
                            secret: name.clone(),
                            key: key.clone(),
                            via: Via::EnvFrom,
                        };
                        set_var(&mut env, &mut view, var, origin);
                    }
                }
            },
            EnvFrom::ConfigMap { name, prefix, .. } => {
                // Unreadable ConfigMaps add nothing we know of. An absent one adds nothing: an
                // optional one is skipped, a required one stops the container from starting.
                let Some(config_map) = sources.config_maps.as_ref().and_then(|c| c.get(name.as_str())) else {
                    continue;
                };
                for key in &config_map.keys {
                    let var = format!("{prefix}{key}");
                    if policy.drops(&var) {
                        continue;
                    }
                    let origin = Origin::ConfigMap {
                        name: name.clone(),
                        key: key.clone(),
                        env_from: true,
                    };
                    set_var(&mut env, &mut view, var, origin);
                }
            }
        }
    }

    for var in &container.env {
        let origin = match &var.value {
            EnvValue::SecretKey { secret, key, optional } => match secrets.get(secret.as_str()) {
                None => {
                    if !optional {
                        view.problems.push(SpecProblem::Missing {
                            secret: secret.clone(),
                            key: Some(key.clone()),
                            env: Some(var.name.clone()),
                            via: Via::EnvKeyRef,
                            detail: format!("env {} references Secret {secret}, which does not exist", var.name),
                        });
                    }
                    continue;
                }
                Some(s) if !s.keys.contains(key) => {
                    if !optional {
                        view.problems.push(SpecProblem::Missing {
                            secret: secret.clone(),
                            key: Some(key.clone()),
                            env: Some(var.name.clone()),
                            via: Via::EnvKeyRef,
                            detail: format!(
                                "env {} references key {key}, which Secret {secret} does not have",
                                var.name
                            ),
                        });
                    }
                    continue;
                }
                Some(_) => Origin::Secret {
                    secret: secret.clone(),
                    key: key.clone(),
                    via: Via::EnvKeyRef,
                },
            },
            EnvValue::Literal => Origin::Other(format!("env {} with a literal value", var.name)),
            EnvValue::ConfigMapKey {
                config_map,
                key,
                optional,
            } => {
                let resolves = sources
                    .config_maps
                    .as_ref()
                    .is_none_or(|c| c.get(config_map.as_str()).is_some_and(|c| c.keys.contains(key)));
                if !resolves && *optional {
                    continue;
                }
                Origin::ConfigMap {
                    name: config_map.clone(),
                    key: key.clone(),
                    env_from: false,
                }
            }
            EnvValue::Field => Origin::Other(format!("env {} from a fieldRef", var.name)),
            EnvValue::Resource => Origin::Other(format!("env {} from a resourceFieldRef", var.name)),
            EnvValue::File => Origin::Other(format!("env {} from a fileKeyRef", var.name)),
        };
        set_var(&mut env, &mut view, var.name.clone(), origin);
    }

    for (name, origin) in env {
        if let Origin::Secret { secret, key, via } = origin {
            let via = if crate::domain::issuer::seeds_only_first_start(&container.image, &name) {
                Via::EnvFirstStart
            } else {
                via
            };
            view.consumed.push(Consumption {
                secret,
                key: Some(key),
                target: name,
                via,
                volume_keys: None,
            });
        }
    }
    resolve_volumes(spec, container, secrets, &mut view);
    view.problems.sort();
    view.problems.dedup();
    view
}

fn set_var(env: &mut BTreeMap<String, Origin>, view: &mut ContainerView, name: String, origin: Origin) {
    if let Some(Origin::Secret { secret, key, via }) = env.get(&name) {
        view.problems.push(SpecProblem::Shadowed {
            secret: secret.clone(),
            key: key.clone(),
            env: name.clone(),
            via: *via,
            detail: format!("{name} is overridden by {}", origin.describe(&name)),
        });
    }
    env.insert(name, origin);
}

fn resolve_volumes(
    spec: &PodSpecInfo,
    container: &ContainerSpec,
    secrets: &HashMap<&str, &SecretInfo>,
    view: &mut ContainerView,
) {
    for mount in &container.mounts {
        let Some(volume) = spec.volumes.iter().find(|v| v.volume == mount.volume) else {
            continue;
        };
        for source in &volume.sources {
            let Some(secret) = secrets.get(source.secret.as_str()) else {
                if !source.optional {
                    view.problems.push(SpecProblem::Missing {
                        secret: source.secret.clone(),
                        key: None,
                        env: None,
                        via: Via::VolumeMount,
                        detail: format!(
                            "volume {} uses Secret {}, which does not exist",
                            volume.volume, source.secret
                        ),
                    });
                }
                continue;
            };
            for key in source.items.iter().flatten().filter(|k| !secret.keys.contains(*k)) {
                if !source.optional {
                    view.problems.push(SpecProblem::Missing {
                        secret: source.secret.clone(),
                        key: Some(key.clone()),
                        env: None,
                        via: Via::VolumeMount,
                        detail: format!(
                            "volume {} projects key {key}, which Secret {} does not have",
                            volume.volume, source.secret
                        ),
                    });
                }
            }
            let via = if mount.sub_path {
                Via::SubPathMount
            } else {
                Via::VolumeMount
            };
            view.consumed.push(Consumption {
                secret: source.secret.clone(),
                key: None,
                target: mount.path.clone(),
                via,
                volume_keys: volume_keys(source, mount),
            });
        }
    }
}

/// The keys of one Secret a mount reads: the listed `items`, narrowed by a subPath to the file
/// (or directory of items) it names. None: every key.
fn volume_keys(source: &VolumeSecret, mount: &Mount) -> Option<BTreeSet<String>> {
    let Some(file) = &mount.sub_path_file else {
        return source.items.as_ref().map(|i| i.iter().cloned().collect());
    };
    let file = file.trim_start_matches("./").trim_end_matches('/');
    Some(match &source.items {
        // Every key is a file at the volume's root.
        None => [file.split('/').next().unwrap_or(file).to_string()].into(),
        Some(_) => source
            .item_paths
            .iter()
            .filter(|(path, _)| *path == file || path.strip_prefix(file).is_some_and(|rest| rest.starts_with('/')))
            .map(|(_, key)| key.clone())
            .collect(),
    })
}

/// Every Secret name a pod spec refers to, present or not (for "unused" and filtering).
pub fn referenced_secrets(spec: &PodSpecInfo) -> impl Iterator<Item = &str> {
    let from_env = spec.containers.iter().flat_map(|c| {
        let env_from = c.env_from.iter().filter_map(|s| match s {
            EnvFrom::Secret { name, .. } => Some(name.as_str()),
            EnvFrom::ConfigMap { .. } => None,
        });
        let env = c.env.iter().filter_map(|v| match &v.value {
            EnvValue::SecretKey { secret, .. } => Some(secret.as_str()),
            _ => None,
        });
        env_from.chain(env)
    });
    let from_volumes = spec
        .volumes
        .iter()
        .flat_map(|v| v.sources.iter().map(|s| s.secret.as_str()));
    from_env.chain(from_volumes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{EnvVar, Mount, SecretVolume, VolumeSecret};

    fn secret(name: &str, keys: &[&str]) -> SecretInfo {
        SecretInfo {
            name: name.into(),
            namespace: "ns".into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
            ..Default::default()
        }
    }

    fn index(secrets: &[SecretInfo]) -> Sources<'_> {
        Sources {
            secrets: secrets.iter().map(|s| (s.name.as_str(), s)).collect(),
            config_maps: None,
        }
    }

    fn config_map(name: &str, keys: &[&str]) -> ConfigMapInfo {
        ConfigMapInfo {
            namespace: "ns".into(),
            name: name.into(),
            keys: keys.iter().map(|k| k.to_string()).collect(),
        }
    }

    fn with_config_maps<'a>(secrets: &'a [SecretInfo], config_maps: &'a [ConfigMapInfo]) -> Sources<'a> {
        Sources {
            config_maps: Some(config_maps.iter().map(|c| (c.name.as_str(), c)).collect()),
            ..index(secrets)
        }
    }

    fn config_map_from(name: &str, prefix: &str, optional: bool) -> EnvFrom {
        EnvFrom::ConfigMap {
            name: name.into(),
            prefix: prefix.into(),
            optional,
        }
    }

    fn config_map_key(var: &str, config_map: &str, key: &str, optional: bool) -> EnvVar {
        EnvVar {
            name: var.into(),
            value: EnvValue::ConfigMapKey {
                config_map: config_map.into(),
                key: key.into(),
                optional,
            },
        }
    }

    fn env_from(name: &str, prefix: &str, optional: bool) -> EnvFrom {
        EnvFrom::Secret {
            name: name.into(),
            prefix: prefix.into(),
            optional,
        }
    }

    fn key_ref(var: &str, secret: &str, key: &str, optional: bool) -> EnvVar {
        EnvVar {
            name: var.into(),
            value: EnvValue::SecretKey {
                secret: secret.into(),
                key: key.into(),
                optional,
            },
        }
    }

    fn literal(var: &str) -> EnvVar {
        EnvVar {
            name: var.into(),
            value: EnvValue::Literal,
        }
    }

    fn container(env_from: Vec<EnvFrom>, env: Vec<EnvVar>) -> ContainerSpec {
        ContainerSpec {
            name: "app".into(),
            env_from,
            env,
            ..Default::default()
        }
    }

    fn run(c: &ContainerSpec, secrets: &[SecretInfo]) -> ContainerView {
        resolve(&PodSpecInfo::default(), c, &index(secrets), EnvNamePolicy::Relaxed)
    }

    fn shadowed_vars(view: &ContainerView) -> Vec<String> {
        view.problems
            .iter()
            .filter_map(|p| match p {
                SpecProblem::Shadowed { env, .. } => Some(env.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn explicit_env_overrides_env_from() {
        let secrets = [secret("chat-secrets", &["JWT_SECRET", "ENCRYPTION_KEY"])];
        let c = container(vec![env_from("chat-secrets", "", false)], vec![literal("JWT_SECRET")]);
        let view = run(&c, &secrets);
        assert_eq!(shadowed_vars(&view), ["JWT_SECRET"]);
        let consumed: Vec<_> = view.consumed.iter().map(|c| c.target.as_str()).collect();
        assert_eq!(consumed, ["ENCRYPTION_KEY"]);
        let SpecProblem::Shadowed { detail, .. } = &view.problems[0] else {
            panic!("expected shadowed")
        };
        assert!(detail.contains("literal value"), "{detail}");
    }

    #[test]
    fn later_env_from_overrides_earlier_one() {
        let secrets = [secret("a", &["TOKEN"]), secret("b", &["TOKEN"])];
        let c = container(vec![env_from("a", "", false), env_from("b", "", false)], vec![]);
        let view = run(&c, &secrets);
        assert!(matches!(&view.problems[..], [SpecProblem::Shadowed { secret, .. }] if secret == "a"));
        assert_eq!(view.consumed[0].secret, "b");
    }

    #[test]
    fn later_env_entry_overrides_earlier_secret_key_ref() {
        let secrets = [secret("a", &["k"]), secret("b", &["k"])];
        let c = container(
            vec![],
            vec![key_ref("X", "a", "k", false), key_ref("X", "b", "k", false)],
        );
        let view = run(&c, &secrets);
        assert_eq!(shadowed_vars(&view), ["X"]);
        assert_eq!(view.consumed.len(), 1);
        assert_eq!(view.consumed[0].secret, "b");
    }

    #[test]
    fn prefix_is_applied_before_precedence() {
        let secrets = [secret("db", &["PASSWORD"])];
        let c = container(vec![env_from("db", "PG_", false)], vec![literal("PASSWORD")]);
        let view = run(&c, &secrets);
        assert!(view.problems.is_empty());
        assert_eq!(view.consumed[0].target, "PG_PASSWORD");
    }

    #[test]
    fn strict_kubelets_skip_invalid_names_relaxed_ones_keep_them() {
        let secrets = [secret("s", &["1KEY", "tls.crt", "GOOD"])];
        let c = container(vec![env_from("s", "", false)], vec![]);
        let strict = resolve(&PodSpecInfo::default(), &c, &index(&secrets), EnvNamePolicy::Strict);
        assert_eq!(shadowed_vars(&strict), ["1KEY"]);
        assert_eq!(strict.consumed.len(), 2);
        let relaxed = run(&c, &secrets);
        assert!(relaxed.problems.is_empty());
        assert_eq!(relaxed.consumed.len(), 3);
        assert_eq!(EnvNamePolicy::for_server_minor(29), EnvNamePolicy::Strict);
        assert_eq!(EnvNamePolicy::for_server_minor(30), EnvNamePolicy::Relaxed);
        assert_eq!(EnvNamePolicy::for_server_minor(37), EnvNamePolicy::Relaxed);
    }

    #[test]
    fn missing_secret_and_key_are_reported_unless_optional() {
        let secrets = [secret("api-keys", &["openai"])];
        let c = container(
            vec![env_from("gone", "", false), env_from("maybe", "", true)],
            vec![
                key_ref("ANTHROPIC", "api-keys", "anthropic", false),
                key_ref("OPT", "api-keys", "nope", true),
            ],
        );
        let view = run(&c, &secrets);
        let missing: Vec<_> = view
            .problems
            .iter()
            .filter_map(|p| match p {
                SpecProblem::Missing { secret, key, .. } => Some((secret.as_str(), key.as_deref())),
                _ => None,
            })
            .collect();
        assert_eq!(missing, [("api-keys", Some("anthropic")), ("gone", None)]);
    }

    #[test]
    fn absent_optional_ref_does_not_override_anything() {
        let secrets = [secret("main", &["TOKEN"])];
        let c = container(
            vec![env_from("main", "", false)],
            vec![key_ref("TOKEN", "absent", "TOKEN", true)],
        );
        let view = run(&c, &secrets);
        assert!(view.problems.is_empty());
        assert_eq!(view.consumed[0].secret, "main");
    }

    fn consumed_vars(view: &ContainerView) -> Vec<(&str, &str)> {
        view.consumed
            .iter()
            .map(|c| (c.target.as_str(), c.secret.as_str()))
            .collect()
    }

    #[test]
    fn a_later_config_map_ref_overrides_a_secret_key_and_is_named() {
        let secrets = [secret("chat-secrets", &["JWT_SECRET", "REDIS_URL"])];
        let config_maps = [config_map("chat-config", &["REDIS_URL", "LOG_LEVEL"])];
        let c = container(
            vec![
                env_from("chat-secrets", "", false),
                config_map_from("chat-config", "", false),
            ],
            vec![],
        );
        let view = resolve(
            &PodSpecInfo::default(),
            &c,
            &with_config_maps(&secrets, &config_maps),
            EnvNamePolicy::Relaxed,
        );
        assert_eq!(shadowed_vars(&view), ["REDIS_URL"]);
        let SpecProblem::Shadowed { detail, secret, .. } = &view.problems[0] else {
            panic!("expected shadowed")
        };
        assert_eq!(secret, "chat-secrets");
        assert!(detail.contains("ConfigMap chat-config, key REDIS_URL"), "{detail}");
        assert_eq!(consumed_vars(&view), [("JWT_SECRET", "chat-secrets")]);
    }

    #[test]
    fn a_config_map_ref_before_the_secret_is_overridden_by_it() {
        let secrets = [secret("s", &["TOKEN"])];
        let config_maps = [config_map("defaults", &["TOKEN"])];
        let c = container(
            vec![config_map_from("defaults", "", false), env_from("s", "", false)],
            vec![],
        );
        let view = resolve(
            &PodSpecInfo::default(),
            &c,
            &with_config_maps(&secrets, &config_maps),
            EnvNamePolicy::Relaxed,
        );
        assert!(view.problems.is_empty(), "{:?}", view.problems);
        assert_eq!(consumed_vars(&view), [("TOKEN", "s")]);
    }

    #[test]
    fn config_map_prefixes_apply_before_precedence() {
        let secrets = [secret("db", &["PG_PASSWORD", "PASSWORD"])];
        let config_maps = [config_map("pg", &["PASSWORD"])];
        let c = container(
            vec![env_from("db", "", false), config_map_from("pg", "PG_", false)],
            vec![],
        );
        let view = resolve(
            &PodSpecInfo::default(),
            &c,
            &with_config_maps(&secrets, &config_maps),
            EnvNamePolicy::Relaxed,
        );
        assert_eq!(shadowed_vars(&view), ["PG_PASSWORD"]);
        assert_eq!(consumed_vars(&view), [("PASSWORD", "db")]);
    }

    #[test]
    fn absent_optional_config_maps_and_keys_override_nothing() {
        let secrets = [secret("s", &["A", "B", "C"])];
        let config_maps = [config_map("present", &["OTHER"])];
        let c = container(
            vec![env_from("s", "", false), config_map_from("absent", "", true)],
            vec![
                config_map_key("A", "absent", "A", true),
                config_map_key("B", "present", "B", true),
            ],
        );
        let sources = with_config_maps(&secrets, &config_maps);
        let view = resolve(&PodSpecInfo::default(), &c, &sources, EnvNamePolicy::Relaxed);
        assert!(view.problems.is_empty(), "{:?}", view.problems);
        assert_eq!(consumed_vars(&view), [("A", "s"), ("B", "s"), ("C", "s")]);
        // A present key overrides, optional or not; an env entry overrides every envFrom source.
        let c = container(
            vec![env_from("s", "", false)],
            vec![config_map_key("C", "present", "OTHER", true)],
        );
        let view = resolve(&PodSpecInfo::default(), &c, &sources, EnvNamePolicy::Relaxed);
        assert_eq!(shadowed_vars(&view), ["C"]);
        let SpecProblem::Shadowed { detail, .. } = &view.problems[0] else {
            panic!("expected shadowed")
        };
        assert!(detail.contains("env C from ConfigMap present, key OTHER"), "{detail}");
    }

    #[test]
    fn unreadable_config_maps_keep_the_conservative_reading() {
        // Keys unknown: an envFrom configMapRef adds nothing; a configMapKeyRef overrides.
        let secrets = [secret("s", &["A", "B"])];
        let c = container(
            vec![env_from("s", "", false), config_map_from("cm", "", false)],
            vec![config_map_key("B", "cm", "B", true)],
        );
        let view = run(&c, &secrets);
        assert_eq!(shadowed_vars(&view), ["B"]);
        assert_eq!(consumed_vars(&view), [("A", "s")]);
    }

    #[test]
    fn an_env_secret_key_ref_after_a_config_map_wins() {
        let secrets = [secret("s", &["K"])];
        let config_maps = [config_map("cm", &["X"])];
        let c = container(
            vec![config_map_from("cm", "", false)],
            vec![key_ref("X", "s", "K", false)],
        );
        let view = resolve(
            &PodSpecInfo::default(),
            &c,
            &with_config_maps(&secrets, &config_maps),
            EnvNamePolicy::Relaxed,
        );
        assert!(view.problems.is_empty());
        assert_eq!(consumed_vars(&view), [("X", "s")]);
    }

    #[test]
    fn volumes_update_in_place_unless_sub_path() {
        let secrets = [secret("tls", &["tls.crt"]), secret("conf", &["app.yaml"])];
        let spec = PodSpecInfo {
            containers: vec![],
            volumes: vec![
                SecretVolume {
                    volume: "certs".into(),
                    sources: vec![VolumeSecret {
                        secret: "tls".into(),
                        ..Default::default()
                    }],
                },
                SecretVolume {
                    volume: "projected".into(),
                    sources: vec![VolumeSecret {
                        secret: "conf".into(),
                        items: Some(vec!["app.yaml".into(), "other".into()]),
                        item_paths: [
                            ("app.yaml".into(), "app.yaml".into()),
                            ("x/other".into(), "other".into()),
                        ]
                        .into(),
                        optional: false,
                    }],
                },
            ],
            ..Default::default()
        };
        let c = ContainerSpec {
            name: "app".into(),
            mounts: vec![
                Mount {
                    volume: "certs".into(),
                    path: "/certs".into(),
                    ..Default::default()
                },
                Mount {
                    volume: "projected".into(),
                    path: "/etc/app.yaml".into(),
                    sub_path: true,
                    sub_path_file: Some("app.yaml".into()),
                },
                Mount {
                    volume: "projected".into(),
                    path: "/etc/x".into(),
                    sub_path: true,
                    sub_path_file: Some("x".into()),
                },
            ],
            ..Default::default()
        };
        let view = resolve(&spec, &c, &index(&secrets), EnvNamePolicy::Relaxed);
        let vias: Vec<_> = view.consumed.iter().map(|c| (c.secret.as_str(), c.via)).collect();
        assert_eq!(
            vias,
            [
                ("tls", Via::VolumeMount),
                ("conf", Via::SubPathMount),
                ("conf", Via::SubPathMount)
            ]
        );
        // What each mount reads: every key, the item a subPath names, the items under a directory.
        let keys: Vec<_> = view.consumed.iter().map(|c| c.volume_keys.clone()).collect();
        assert_eq!(
            keys,
            [
                None,
                Some(["app.yaml".to_string()].into()),
                Some(["other".to_string()].into())
            ]
        );
        let changed: BTreeSet<String> = ["other".to_string()].into();
        let reading: Vec<bool> = view.consumed.iter().map(|c| c.reads_any(&changed)).collect();
        assert_eq!(reading, [true, false, true]);
        assert!(matches!(&view.problems[..], [SpecProblem::Missing { key: Some(k), .. }] if k == "other"));
        assert!(Via::SubPathMount.fixed_at_start() && !Via::VolumeMount.fixed_at_start());
    }
}
