//! The read side of `verify --watch`: one watch per kind (with bookmarks; kube's watcher lists
//! again when its resourceVersion expires), each object mapped on arrival to what verify reads
//! (values dropped at once, as the LIST path does), kept by name, and assembled into a
//! `Snapshot` on demand. Nothing is polled.

use std::collections::BTreeMap;
use std::fmt::Debug;

use futures::stream::{self, BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{api_error, Action, Connection, Scope};
use crate::domain::cron;
use crate::domain::drift::Snapshot;
use crate::domain::external::{self, ExternalSecretState};
use crate::domain::model::{ConfigMapInfo, PodInfo, ReplicaSetInfo, SealedSecretInfo, SecretInfo, Workload};
use crate::error::{Error, Result};

/// One object as verify reads it.
#[derive(Clone)]
enum Item {
    Secret(SecretInfo),
    Workload(Workload),
    ReplicaSet(ReplicaSetInfo),
    Pod(PodInfo),
    Sealed(SealedSecretInfo),
    External(ExternalSecretState),
    ConfigMap(ConfigMapInfo),
}

/// What one kind's watch said.
enum Said {
    /// A new listing starts (the first, or after the resourceVersion expired).
    Relisting,
    Listed(String, Item),
    /// The listing is complete: it replaces what was known.
    ListDone,
    Put(String, Item),
    Gone(String),
    /// The watch failed for a moment (it retries with backoff).
    Trouble(String),
}

#[derive(Default)]
struct Kind {
    known: BTreeMap<String, Item>,
    relisting: Option<BTreeMap<String, Item>>,
    listed_once: bool,
}

/// The objects of a scope as the watches last saw them.
pub struct Live {
    kinds: BTreeMap<&'static str, Kind>,
    /// ConfigMaps cannot be read (403): env is read as if none overrode a Secret key.
    config_maps_hidden: bool,
    updates: BoxStream<'static, (&'static str, Said)>,
}

impl Live {
    /// Start the watches of `scope` (workloads and pods narrowed by `selector`). Kinds the user
    /// may not list, or that are not installed, are left out, as the LIST path leaves them out.
    pub async fn start(conn: &Connection, scope: &Scope, selector: Option<&str>) -> Result<Live> {
        let selected = || match selector {
            Some(s) => watcher::Config::default().labels(s),
            None => watcher::Config::default(),
        };
        let all = watcher::Config::default;
        let client = &conn.client;
        // The kinds verify always reads must be readable, as without --watch.
        let required = [
            ("secrets", can_list(scope.api::<Secret>(client)).await),
            ("deployments", can_list(scope.api::<Deployment>(client)).await),
            ("statefulsets", can_list(scope.api::<StatefulSet>(client)).await),
            ("daemonsets", can_list(scope.api::<DaemonSet>(client)).await),
            ("replicasets", can_list(scope.api::<ReplicaSet>(client)).await),
            ("pods", can_list(scope.api::<Pod>(client)).await),
        ];
        for (resource, answer) in required {
            answer.map_err(|e| api_error(e, &Action::new("list", resource, scope), conn))?;
        }
        let mut streams = vec![
            watch("secrets", scope.api::<Secret>(client), all(), |s| {
                Item::Secret(SecretInfo::from(s))
            }),
            watch("deployments", scope.api::<Deployment>(client), selected(), |d| {
                Item::Workload(Workload::from(d))
            }),
            watch("statefulsets", scope.api::<StatefulSet>(client), selected(), |s| {
                Item::Workload(Workload::from(s))
            }),
            watch("daemonsets", scope.api::<DaemonSet>(client), selected(), |d| {
                Item::Workload(Workload::from(d))
            }),
            // Only their owners are read: metadata is all that crosses the wire.
            watch(
                "replicasets",
                scope.api::<PartialObjectMeta<ReplicaSet>>(client),
                all(),
                |m| Item::ReplicaSet(ReplicaSetInfo::from(&m.metadata)),
            ),
            watch("pods", scope.api::<Pod>(client), selected(), |p| {
                Item::Pod(PodInfo::from(p))
            }),
        ];
        // The optional ones are left out where refused or not installed, as the LIST path does.
        if optional(can_list(scope.api::<CronJob>(client)).await)? {
            streams.push(watch("cronjobs", scope.api::<CronJob>(client), selected(), |c| {
                Item::Workload(Workload::from(c))
            }));
        }
        let config_maps_hidden = !optional(can_list(scope.api::<ConfigMap>(client)).await)?;
        if !config_maps_hidden {
            streams.push(watch("configmaps", scope.api::<ConfigMap>(client), all(), |c| {
                Item::ConfigMap(ConfigMapInfo::from(c))
            }));
        }
        let rollouts = dynamic(conn, scope, &super::argo::resource());
        if optional(can_list(rollouts.clone()).await)? {
            streams.push(watch("rollouts", rollouts, selected(), |o| {
                Item::Workload(crate::domain::argo::workload(&o.metadata, &o.data))
            }));
        }
        let sealed = dynamic(conn, scope, &super::sealed::sealed_secret_resource());
        if optional(can_list(sealed.clone()).await)? {
            streams.push(watch("sealedsecrets", sealed, all(), |o| {
                Item::Sealed(SealedSecretInfo::from_object(&o.metadata, &o.data["status"]))
            }));
        }
        for resource in super::external::external_secret_resources() {
            let api = dynamic(conn, scope, &resource);
            if optional(can_list(api.clone()).await)? {
                streams.push(watch("externalsecrets", api, all(), |o| {
                    Item::External(external::parse_external_secret(
                        &serde_json::to_value(o).unwrap_or_default(),
                    ))
                }));
                break;
            }
        }
        let kinds = streams.iter().map(|(kind, _)| (*kind, Kind::default())).collect();
        let updates = stream::select_all(streams.into_iter().map(|(_, s)| s)).boxed();
        Ok(Live {
            kinds,
            config_maps_hidden,
            updates,
        })
    }

    /// Wait for the next event and take it in: whether the scope changed (false while a
    /// listing is under way), or a watch's trouble as text for the caller to show (it retries).
    pub async fn next(&mut self) -> Option<std::result::Result<bool, String>> {
        let (kind, said) = self.updates.next().await?;
        let store = self.kinds.entry(kind).or_default();
        Some(Ok(match said {
            Said::Relisting => {
                store.relisting = Some(BTreeMap::new());
                false
            }
            Said::Listed(key, item) => {
                store.relisting.get_or_insert_with(BTreeMap::new).insert(key, item);
                false
            }
            Said::ListDone => {
                store.known = store.relisting.take().unwrap_or_default();
                store.listed_once = true;
                true
            }
            Said::Put(key, item) => {
                store.known.insert(key, item);
                true
            }
            Said::Gone(key) => {
                store.known.remove(&key);
                true
            }
            Said::Trouble(text) => return Some(Err(text)),
        }))
    }

    /// Whether every watch has listed its kind once.
    pub fn ready(&self) -> bool {
        self.kinds.values().all(|k| k.listed_once)
    }

    /// The scope as it stands, in the shape verify reads.
    pub fn snapshot(&self) -> Snapshot {
        let mut snapshot = Snapshot {
            secrets: Vec::new(),
            workloads: Vec::new(),
            replica_sets: Vec::new(),
            pods: Vec::new(),
            sealed_secrets: Vec::new(),
            external_secrets: Vec::new(),
            cert_manager: Default::default(),
            config_maps: (!self.config_maps_hidden).then(Vec::new),
            vault_kv: Default::default(),
        };
        let mut cron_jobs = Vec::new();
        for (kind, store) in &self.kinds {
            for item in store.known.values().cloned() {
                match item {
                    Item::Secret(s) => snapshot.secrets.push(s),
                    Item::Workload(w) if *kind == "cronjobs" => cron_jobs.push(w),
                    Item::Workload(w) => snapshot.workloads.push(w),
                    Item::ReplicaSet(r) => snapshot.replica_sets.push(r),
                    Item::Pod(p) => snapshot.pods.push(p),
                    Item::Sealed(s) => snapshot.sealed_secrets.push(s),
                    Item::External(e) => snapshot.external_secrets.push(e),
                    Item::ConfigMap(c) => {
                        if let Some(config_maps) = &mut snapshot.config_maps {
                            config_maps.push(c);
                        }
                    }
                }
            }
        }
        cron::fill_next_runs(&mut cron_jobs, jiff::Timestamp::now());
        snapshot.workloads.extend(cron_jobs);
        snapshot.confirm_sealed_stamps();
        snapshot
    }
}

/// One small LIST, to learn whether the kind may be listed before watching it.
async fn can_list<K>(api: Api<K>) -> std::result::Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    api.list_metadata(&ListParams::default().limit(1)).await.map(|_| ())
}

/// Whether an optional kind is watched: not where it is refused (403) or not installed (404).
fn optional(answer: std::result::Result<(), kube::Error>) -> Result<bool> {
    match answer {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 403 || status.code == 404 => Ok(false),
        Err(e) => Err(Error::Api {
            action: "start watching".into(),
            message: e.to_string(),
        }),
    }
}

fn dynamic(conn: &Connection, scope: &Scope, resource: &kube::api::ApiResource) -> Api<DynamicObject> {
    match scope {
        Scope::Namespace(ns) => Api::namespaced_with(conn.client.clone(), ns, resource),
        Scope::AllNamespaces => Api::all_with(conn.client.clone(), resource),
    }
}

fn key_of<K: Resource>(object: &K) -> String {
    format!("{}/{}", object.namespace().unwrap_or_default(), object.name_any())
}

/// One kind's watch, each object mapped as it arrives.
type Watch = (&'static str, BoxStream<'static, (&'static str, Said)>);

fn watch<K>(
    kind: &'static str,
    api: Api<K>,
    config: watcher::Config,
    map: impl Fn(&K) -> Item + Send + 'static,
) -> Watch
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let stream = watcher::watcher(api, config)
        .default_backoff()
        .map(move |event| (kind, said(event, &map)))
        .boxed();
    (kind, stream)
}

fn said<K: Resource>(event: std::result::Result<Event<K>, watcher::Error>, map: &impl Fn(&K) -> Item) -> Said {
    match event {
        Ok(Event::Init) => Said::Relisting,
        Ok(Event::InitApply(object)) => Said::Listed(key_of(&object), map(&object)),
        Ok(Event::InitDone) => Said::ListDone,
        Ok(Event::Apply(object)) => Said::Put(key_of(&object), map(&object)),
        Ok(Event::Delete(object)) => Said::Gone(key_of(&object)),
        Err(e) => Said::Trouble(e.to_string()),
    }
}
