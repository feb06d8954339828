//! The bench's floors (`make bench`; built with `cargo build --release --example bench-floor`):
//!
//! `bench-floor lists [-n NAMESPACE]`: the paged LISTs verify makes (same kinds, same page size,
//! ReplicaSets by their metadata only, as verify reads them),
//! one after the other over one connection, each page read whole and dropped: no kubectl start-up,
//! no decoding beyond the continue token, no printing. What any reader of the cluster must pay.
//!
//! `bench-floor rollouts -n NAMESPACE DEPLOYMENT...`: restarts the Deployments at once (the
//! annotation `kubectl rollout restart` sets) and prints the seconds from the first patch to the
//! last rollout complete (new pods updated and available, no old pod counted), as a watch sees it,
//! and the seconds until the last pod that ran before the restart is gone (a terminating pod
//! still runs the old values): the rollouts themselves, with no tool around them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use futures::{future::try_join_all, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;

/// verify's LISTs: core kinds, apps, batch, and the CRDs it reads when they exist; whether verify
/// reads only their metadata (the PartialObjectMetadata LIST).
const KINDS: &[(&str, &str, bool)] = &[
    ("/api/v1", "secrets", false),
    ("/api/v1", "pods", false),
    ("/api/v1", "configmaps", false),
    ("/apis/apps/v1", "deployments", false),
    ("/apis/apps/v1", "statefulsets", false),
    ("/apis/apps/v1", "daemonsets", false),
    ("/apis/apps/v1", "replicasets", true),
    ("/apis/batch/v1", "cronjobs", false),
    ("/apis/bitnami.com/v1alpha1", "sealedsecrets", false),
    ("/apis/external-secrets.io/v1", "externalsecrets", false),
    ("/apis/argoproj.io/v1alpha1", "rollouts", false),
];
/// The Accept header of a metadata-only LIST.
const METADATA_ONLY: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
/// verify's page size.
const PAGE_SIZE: u32 = 500;

#[derive(serde::Deserialize)]
struct Page {
    metadata: PageMeta,
}

#[derive(serde::Deserialize)]
struct PageMeta {
    #[serde(rename = "continue")]
    continue_token: Option<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let client = Client::try_default().await?;
    match args.first().map(String::as_str) {
        Some("lists") => {
            let namespace = match args.get(1).map(String::as_str) {
                Some("-n") => args.get(2).cloned(),
                _ => None,
            };
            lists(&client, namespace.as_deref()).await
        }
        Some("rollouts") if args.get(1).map(String::as_str) == Some("-n") && args.len() > 3 => {
            let (complete, gone) = rollouts(client, &args[2], &args[3..]).await?;
            println!("{complete:.3} {gone:.3}");
            Ok(())
        }
        _ => Err("usage: bench-floor lists [-n NAMESPACE] | rollouts -n NAMESPACE DEPLOYMENT...".into()),
    }
}

async fn lists(client: &Client, namespace: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    for (group, plural, metadata_only) in KINDS {
        let base = match namespace {
            Some(ns) => format!("{group}/namespaces/{ns}/{plural}"),
            None => format!("{group}/{plural}"),
        };
        let mut token: Option<String> = None;
        loop {
            let mut uri = format!("{base}?limit={PAGE_SIZE}");
            if let Some(t) = &token {
                uri.push_str("&continue=");
                uri.push_str(t);
            }
            let mut request = http::Request::get(uri);
            if *metadata_only {
                request = request.header(http::header::ACCEPT, METADATA_ONLY);
            }
            let request = request.body(Vec::new())?;
            let text = match client.request_text(request).await {
                Ok(text) => text,
                // A CRD that is not installed: verify reads none either.
                Err(kube::Error::Api(e)) if e.code == 404 => break,
                Err(e) => return Err(e.into()),
            };
            let page: Page = serde_json::from_str(&text)?;
            token = page.metadata.continue_token.filter(|t| !t.is_empty());
            if token.is_none() {
                break;
            }
        }
    }
    Ok(())
}

async fn rollouts(client: Client, namespace: &str, names: &[String]) -> Result<(f64, f64), Box<dyn std::error::Error>> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    // Both watches run before the first patch, so no completion and no deletion is missed.
    let mut events = watcher(api.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    events.try_next().await?;
    let mut pod_events = watcher(Api::<Pod>::namespaced(client, namespace), watcher::Config::default()).boxed();
    let mut old = BTreeSet::new();
    let mut listed = BTreeSet::new();
    // The pods running before the restart: the first listing, until it is done.
    loop {
        match pod_events.try_next().await? {
            Some(watcher::Event::InitApply(pod)) => {
                old.insert(pod.metadata.uid.unwrap_or_default());
            }
            Some(watcher::Event::InitDone) => break,
            Some(_) => {}
            None => return Err("the pod watch ended".into()),
        }
    }
    let started = Instant::now();
    let at = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": at
    }}}}});
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    let patched = try_join_all(names.iter().map(|name| api.patch(name, &params, &patch))).await?;
    let mut waiting: BTreeMap<String, i64> = patched
        .into_iter()
        .map(|d| (d.metadata.name.unwrap_or_default(), d.metadata.generation.unwrap_or(0)))
        .collect();
    let complete = async {
        while !waiting.is_empty() {
            let Some(deployment) = events.try_next().await? else {
                return Err("the watch ended".into());
            };
            let name = deployment.metadata.name.clone().unwrap_or_default();
            if let Some(generation) = waiting.get(&name) {
                if complete(&deployment, *generation) {
                    waiting.remove(&name);
                }
            }
        }
        Ok::<f64, Box<dyn std::error::Error>>(started.elapsed().as_secs_f64())
    };
    let gone = async {
        while !old.is_empty() {
            match pod_events.try_next().await? {
                Some(watcher::Event::Delete(pod)) => {
                    old.remove(&pod.metadata.uid.unwrap_or_default());
                }
                // A re-listed watch: old pods it no longer lists were deleted meanwhile.
                Some(watcher::Event::Init) => listed.clear(),
                Some(watcher::Event::InitApply(pod)) => {
                    listed.insert(pod.metadata.uid.unwrap_or_default());
                }
                Some(watcher::Event::InitDone) => old.retain(|uid| listed.contains(uid)),
                Some(watcher::Event::Apply(_)) => {}
                None => return Err("the pod watch ended".into()),
            }
        }
        Ok::<f64, Box<dyn std::error::Error>>(started.elapsed().as_secs_f64())
    };
    let (complete, gone) = tokio::try_join!(complete, gone)?;
    Ok((complete, gone.max(complete)))
}

/// `kubectl rollout status`'s rule: the new generation observed, every replica updated and
/// available, and no old replica left.
fn complete(deployment: &Deployment, generation: i64) -> bool {
    let desired = deployment.spec.replicas.unwrap_or(1);
    let Some(status) = &deployment.status else {
        return false;
    };
    status.observed_generation.unwrap_or(0) >= generation
        && status.updated_replicas.unwrap_or(0) == desired
        && status.replicas.unwrap_or(0) == desired
        && status.available_replicas.unwrap_or(0) == desired
}
