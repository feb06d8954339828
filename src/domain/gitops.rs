//! Who deploys a Secret from a source outside the cluster: Argo CD and Flux from Git, Helm from
//! a chart's values. Their next sync or upgrade writes the Secret back from that source, so a
//! change made in the cluster alone is reverted (argo-cd#15588, bitnami/charts#28893).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// Argo CD's annotation tracking (the default since 3.0): `APP:GROUP/KIND:NAMESPACE/NAME`.
const ARGO_TRACKING_ID: &str = "argocd.argoproj.io/tracking-id";
/// The label teams set as Argo CD's tracking label (`application.instanceLabelKey`).
const ARGO_INSTANCE: &str = "argocd.argoproj.io/instance";
const FLUX_KUSTOMIZATION: (&str, &str) = (
    "kustomize.toolkit.fluxcd.io/name",
    "kustomize.toolkit.fluxcd.io/namespace",
);
const FLUX_HELM_RELEASE: (&str, &str) = ("helm.toolkit.fluxcd.io/name", "helm.toolkit.fluxcd.io/namespace");
const HELM_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Argo CD's default tracking label before 3.0 (`application.instanceLabelKey`), which Helm
/// charts and kustomizations also set: on its own it proves nothing, so the Application it
/// names is looked up (`argo_candidate`, `argo_listed`).
pub const COMMON_INSTANCE: &str = "app.kubernetes.io/instance";
/// Argo CD's Application resource, whose status lists what it deploys.
pub const ARGO_APPLICATION: (&str, &str, &str, &str) = ("argoproj.io", "v1alpha1", "Application", "applications");
const HELM_RELEASE_NAME: &str = "meta.helm.sh/release-name";
const HELM_RELEASE_NAMESPACE: &str = "meta.helm.sh/release-namespace";
/// Field managers of these tools' writes, for objects without their labels (Argo CD with
/// label tracking on a label others use too, for one).
const MANAGERS: [(&str, Tool); 5] = [
    ("argocd-controller", Tool::ArgoCd),
    ("argocd-application-controller", Tool::ArgoCd),
    ("kustomize-controller", Tool::Flux),
    ("helm-controller", Tool::Flux),
    ("helm", Tool::Helm),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Tool {
    #[serde(rename = "Argo CD")]
    ArgoCd,
    Flux,
    Helm,
}

impl Tool {
    pub fn as_str(self) -> &'static str {
        match self {
            Tool::ArgoCd => "Argo CD",
            Tool::Flux => "Flux",
            Tool::Helm => "Helm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GitOpsOwner {
    pub tool: Tool,
    /// What deploys it: `Application/web`, `Kustomization/flux-system/apps`, `Helm/release`.
    pub source: String,
    /// The label, annotation or field manager that says so.
    pub evidence: String,
}

impl GitOpsOwner {
    /// "Argo CD Application/web".
    pub fn describe(&self) -> String {
        match self.tool {
            Tool::Helm => format!("Helm release {}", self.source.trim_start_matches("Helm/")),
            tool => format!("{} {}", tool.as_str(), self.source),
        }
    }

    /// Where the value must change so that it stays changed.
    pub fn right_path(&self) -> &'static str {
        match self.tool {
            Tool::ArgoCd | Tool::Flux => {
                "change the value in Git (better: keep it there as a SealedSecret, `kubectl secrets seal --from-secret`, \
                 or in a secret store behind an ExternalSecret) and let it sync"
            }
            Tool::Helm => "change the value in the release's values and run `helm upgrade`",
        }
    }

    /// Why a change in the cluster alone is refused, and what to do instead.
    pub fn refusal(&self, namespace: &str, name: &str) -> String {
        format!(
            "secret {namespace}/{name} is deployed by {} ({}): its next sync writes the old value back. \
             To rotate it, {}; or pass --allow-gitops-drift to change it here until then",
            self.describe(),
            self.evidence,
            self.right_path()
        )
    }

    /// Said when the change is made anyway.
    pub fn drift_warning(&self, namespace: &str, name: &str) -> String {
        format!(
            "secret {namespace}/{name} is deployed by {}: its next sync or upgrade reverts this change \
             (--allow-gitops-drift). Before then, {}",
            self.describe(),
            self.right_path()
        )
    }
}

/// The tool deploying an object, from its labels and annotations first, then from the field
/// managers that wrote its data.
pub fn owner_of(meta: &ObjectMeta) -> Option<GitOpsOwner> {
    let empty = BTreeMap::new();
    let labels = meta.labels.as_ref().unwrap_or(&empty);
    let annotations = meta.annotations.as_ref().unwrap_or(&empty);
    let managers = meta
        .managed_fields
        .iter()
        .flatten()
        .filter(|entry| {
            entry
                .fields_v1
                .as_ref()
                .is_some_and(|f| f.0.get("f:data").is_some() || f.0.get("f:stringData").is_some())
        })
        .filter_map(|entry| entry.manager.as_deref());
    from_marks(labels, annotations, managers)
}

fn from_marks<'a>(
    labels: &BTreeMap<String, String>,
    annotations: &BTreeMap<String, String>,
    data_managers: impl IntoIterator<Item = &'a str>,
) -> Option<GitOpsOwner> {
    let owner = |tool, source: String, evidence: String| Some(GitOpsOwner { tool, source, evidence });
    if let Some(id) = annotations.get(ARGO_TRACKING_ID) {
        let app = id.split(':').next().unwrap_or(id);
        return owner(
            Tool::ArgoCd,
            format!("Application/{app}"),
            format!("annotation {ARGO_TRACKING_ID}"),
        );
    }
    if let Some(app) = labels.get(ARGO_INSTANCE) {
        return owner(
            Tool::ArgoCd,
            format!("Application/{app}"),
            format!("label {ARGO_INSTANCE}"),
        );
    }
    for ((name_label, namespace_label), kind) in [
        (FLUX_KUSTOMIZATION, "Kustomization"),
        (FLUX_HELM_RELEASE, "HelmRelease"),
    ] {
        if let Some(name) = labels.get(name_label) {
            let source = match labels.get(namespace_label) {
                Some(ns) => format!("{kind}/{ns}/{name}"),
                None => format!("{kind}/{name}"),
            };
            return owner(Tool::Flux, source, format!("label {name_label}"));
        }
    }
    if labels.get(HELM_MANAGED_BY).is_some_and(|m| m == "Helm") {
        let release = annotations.get(HELM_RELEASE_NAME).map_or("?", String::as_str);
        let evidence = match annotations.get(HELM_RELEASE_NAMESPACE) {
            Some(ns) => format!("label {HELM_MANAGED_BY}=Helm, release {ns}/{release}"),
            None => format!("label {HELM_MANAGED_BY}=Helm"),
        };
        return owner(Tool::Helm, format!("Helm/{release}"), evidence);
    }
    for manager in data_managers {
        if let Some((_, tool)) = MANAGERS.iter().find(|(m, _)| *m == manager) {
            return owner(
                *tool,
                format!("field manager {manager}"),
                format!("its data written by {manager}"),
            );
        }
    }
    None
}

/// The Argo CD Application an object whose owner is not known otherwise (`owner_of` found
/// none) may be tracked by through the common instance label; not when it is Helm's label.
pub fn argo_candidate(labels: &BTreeMap<String, String>) -> Option<&str> {
    if labels.get(HELM_MANAGED_BY).is_some_and(|m| m == "Helm") {
        return None;
    }
    labels
        .get(COMMON_INSTANCE)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
}

/// Whether an Application's `status.resources` lists the Secret `namespace/name` (what Argo CD
/// itself shows as the application's resources). The Application is the operator's object in
/// Argo CD's namespace; the label in the tenant's namespace only says where to look.
pub fn argo_listed(application: &serde_json::Value, namespace: &str, name: &str) -> bool {
    application["status"]["resources"].as_array().is_some_and(|resources| {
        resources.iter().any(|r| {
            r["kind"] == "Secret"
                && r["group"].as_str().unwrap_or("").is_empty()
                && r["namespace"] == namespace
                && r["name"] == name
        })
    })
}

/// The owner found through the instance label and the Application `app_namespace/app`.
pub fn argo_by_instance(app_namespace: &str, app: &str) -> GitOpsOwner {
    GitOpsOwner {
        tool: Tool::ArgoCd,
        source: format!("Application/{app}"),
        evidence: format!("label {COMMON_INSTANCE}, listed by Application {app_namespace}/{app}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn each_tool_is_told_by_its_own_marks() {
        let none = BTreeMap::new();
        let argo = from_marks(&none, &map(&[(ARGO_TRACKING_ID, "web:/Secret:prod/db")]), []).unwrap();
        assert_eq!((argo.tool, argo.source.as_str()), (Tool::ArgoCd, "Application/web"));
        assert_eq!(argo.describe(), "Argo CD Application/web");
        let label = from_marks(&map(&[(ARGO_INSTANCE, "api")]), &none, []).unwrap();
        assert_eq!(label.source, "Application/api");
        let flux = from_marks(
            &map(&[(FLUX_KUSTOMIZATION.0, "apps"), (FLUX_KUSTOMIZATION.1, "flux-system")]),
            &none,
            [],
        )
        .unwrap();
        assert_eq!(
            (flux.tool, flux.source.as_str()),
            (Tool::Flux, "Kustomization/flux-system/apps")
        );
        let helm = from_marks(
            &map(&[(HELM_MANAGED_BY, "Helm")]),
            &map(&[(HELM_RELEASE_NAME, "redis"), (HELM_RELEASE_NAMESPACE, "cache")]),
            [],
        )
        .unwrap();
        assert_eq!(helm.describe(), "Helm release redis");
        assert!(helm.refusal("cache", "redis").contains("helm upgrade"));
        let by_manager = from_marks(&none, &none, ["kubectl-edit", "kustomize-controller"]).unwrap();
        assert_eq!(by_manager.tool, Tool::Flux);
    }

    #[test]
    fn common_labels_alone_are_not_ownership() {
        let labels = map(&[
            ("app.kubernetes.io/instance", "web"),
            ("app.kubernetes.io/managed-by", "kustomize"),
        ]);
        assert_eq!(
            from_marks(&labels, &BTreeMap::new(), ["kubectl-client-side-apply"]),
            None
        );
    }

    #[test]
    fn the_common_instance_label_is_only_a_place_to_look() {
        assert_eq!(argo_candidate(&map(&[(COMMON_INSTANCE, "web")])), Some("web"));
        assert_eq!(
            argo_candidate(&map(&[(COMMON_INSTANCE, "web"), (HELM_MANAGED_BY, "Helm")])),
            None,
            "Helm's own label"
        );
        assert_eq!(argo_candidate(&map(&[("app", "web")])), None);
        let app = serde_json::json!({"status": {"resources": [
            {"kind": "Secret", "namespace": "prod", "name": "db"},
            {"group": "apps", "kind": "Deployment", "namespace": "prod", "name": "api"}
        ]}});
        assert!(argo_listed(&app, "prod", "db"));
        assert!(!argo_listed(&app, "staging", "db"));
        assert!(!argo_listed(&app, "prod", "api"));
        assert!(!argo_listed(&serde_json::json!({}), "prod", "db"));
        let owner = argo_by_instance("argocd", "web");
        assert!(owner.refusal("prod", "db").contains("listed by Application argocd/web"));
    }

    #[test]
    fn the_refusal_names_the_owner_the_evidence_and_both_ways_out() {
        let owner = from_marks(&BTreeMap::new(), &map(&[(ARGO_TRACKING_ID, "web:/Secret:prod/db")]), []).unwrap();
        let text = owner.refusal("prod", "db");
        for part in [
            "prod/db",
            "Argo CD Application/web",
            ARGO_TRACKING_ID,
            "Git",
            "--allow-gitops-drift",
        ] {
            assert!(text.contains(part), "{part} missing from: {text}");
        }
    }
}
