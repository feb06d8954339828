//! Argo Rollouts (`argoproj.io/v1alpha1` Rollout) as a consumer: its pod template, and when an
//! update is done by its own controller's rules. The controller computes `status.phase`
//! (Healthy, Progressing, Paused, Degraded) and `status.message` from its conditions, steps and
//! pauses (utils/rollout CalculateRolloutPhase), so those are read rather than recomputed.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use super::model::{Workload, WorkloadKind};
use super::rollout::RolloutStatus;

pub const GROUP: &str = "argoproj.io";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "Rollout";
pub const PLURAL: &str = "rollouts";
/// The label Argo Rollouts puts on the pods of each of its ReplicaSets (Deployments use
/// `pod-template-hash`).
pub const POD_TEMPLATE_HASH: &str = "rollouts-pod-template-hash";

/// What a Rollout's status says beyond the replica counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArgoStatus {
    /// Healthy, Progressing, Paused or Degraded (empty before the controller first saw it).
    pub phase: String,
    pub message: String,
    pub aborted: bool,
    /// Set when it waits for a person: a canary pause step without a duration, a blue-green
    /// rollout without auto-promotion, an inconclusive analysis. Says where it waits.
    pub waiting_for_promotion: Option<String>,
    /// The Rollout's spec says to promote fully (`status.promoteFull`), set by a rollback.
    pub promote_full: bool,
    /// A canary with steps: "step 3 of 4" (the step it is at, counted from 1).
    pub step: Option<String>,
}

impl ArgoStatus {
    /// What the controller says it waits for, with the step: "step 3 of 4: more replicas need
    /// to be updated".
    pub fn waiting_for(&self) -> String {
        match (&self.step, self.message.is_empty()) {
            (Some(step), false) => format!("{step}: {}", self.message),
            (Some(step), true) => step.clone(),
            (None, false) => self.message.clone(),
            (None, true) => "its controller".into(),
        }
    }
}

/// A Rollout as a workload: its pod template (none when it borrows a Deployment's through
/// `workloadRef`: its pods are then judged by their own spec).
pub fn workload(meta: &ObjectMeta, data: &Value) -> Workload {
    let template: Option<PodTemplateSpec> = serde_json::from_value(data["spec"]["template"].clone()).ok();
    super::model::workload(WorkloadKind::Rollout, meta, template.as_ref())
}

/// The status fields the wait reads.
pub fn status(meta: &ObjectMeta, data: &Value) -> RolloutStatus {
    let spec = &data["spec"];
    let status = &data["status"];
    let count = |field: &str| status[field].as_i64().unwrap_or(0) as i32;
    // The controller writes observedGeneration as a string.
    let observed_generation = match &status["observedGeneration"] {
        Value::String(text) => text.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    };
    let argo = ArgoStatus {
        phase: status["phase"].as_str().unwrap_or_default().to_string(),
        message: status["message"].as_str().unwrap_or_default().to_string(),
        aborted: status["abort"].as_bool().unwrap_or(false),
        waiting_for_promotion: waiting_for_promotion(spec, status),
        promote_full: status["promoteFull"].as_bool().unwrap_or(false),
        step: canary_step(spec, status),
    };
    RolloutStatus {
        generation: meta.generation.unwrap_or(0),
        observed_generation,
        desired: spec["replicas"].as_i64().unwrap_or(1) as i32,
        updated: count("updatedReplicas"),
        ready: count("readyReplicas"),
        available: count("availableReplicas"),
        total: count("replicas"),
        paused: spec["paused"].as_bool().unwrap_or(false),
        argo: Some(argo),
        ..Default::default()
    }
}

fn canary_step(spec: &Value, status: &Value) -> Option<String> {
    let steps = spec["strategy"]["canary"]["steps"].as_array()?.len();
    let index = status["currentStepIndex"].as_i64()?;
    (steps > 0 && (index as usize) < steps).then(|| format!("step {} of {steps}", index + 1))
}

/// Where a paused Rollout waits for a person, if it does (timed pauses end by themselves).
fn waiting_for_promotion(spec: &Value, status: &Value) -> Option<String> {
    let reasons: Vec<&str> = status["pauseConditions"]
        .as_array()?
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    let reason = *reasons.first()?;
    match reason {
        "CanaryPauseStep" => {
            let steps = spec["strategy"]["canary"]["steps"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let index = status["currentStepIndex"].as_i64().unwrap_or(0);
            let step = &spec["strategy"]["canary"]["steps"][index as usize];
            if step["pause"]["duration"].is_null() {
                Some(format!(
                    "paused at canary step {} of {steps}, a pause without a duration",
                    index + 1
                ))
            } else {
                None
            }
        }
        "BlueGreenPause" => spec["strategy"]["blueGreen"]["autoPromotionSeconds"]
            .is_null()
            .then(|| "paused before promoting the preview (autoPromotionEnabled: false)".to_string()),
        other => Some(format!("paused ({other})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rollout::{evaluate, RolloutState};
    use serde_json::json;

    fn meta(generation: i64) -> ObjectMeta {
        ObjectMeta {
            name: Some("checkout".into()),
            namespace: Some("shop".into()),
            generation: Some(generation),
            ..Default::default()
        }
    }

    fn canary(status: Value) -> RolloutStatus {
        let data = json!({
            "spec": {"replicas": 4, "strategy": {"canary": {"steps": [
                {"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": "10s"}}
            ]}}},
            "status": status,
        });
        super::status(&meta(3), &data)
    }

    fn state(status: &RolloutStatus) -> RolloutState {
        evaluate(WorkloadKind::Rollout, status, None)
    }

    #[test]
    fn the_controller_must_observe_the_change_first() {
        let s = canary(
            json!({"observedGeneration": "2", "phase": "Healthy", "updatedReplicas": 4, "availableReplicas": 4}),
        );
        assert!(matches!(state(&s), RolloutState::Progressing { waiting_for, .. } if waiting_for.contains("observe")));
        let s = canary(
            json!({"observedGeneration": "3", "phase": "Healthy", "updatedReplicas": 4, "availableReplicas": 4}),
        );
        assert_eq!(state(&s), RolloutState::Complete { desired: 4 });
    }

    #[test]
    fn an_indefinite_pause_step_waits_for_promotion_a_timed_one_does_not() {
        let s = canary(
            json!({"observedGeneration": "3", "phase": "Paused", "currentStepIndex": 1,
            "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
        );
        assert!(
            matches!(state(&s), RolloutState::Paused { reason } if reason.contains("canary step 2 of 4")),
            "{:?}",
            state(&s)
        );
        let s = canary(
            json!({"observedGeneration": "3", "phase": "Paused", "currentStepIndex": 3,
            "message": "CanaryPauseStep", "pauseConditions": [{"reason": "CanaryPauseStep"}]}),
        );
        assert!(matches!(state(&s), RolloutState::Progressing { .. }), "{:?}", state(&s));
    }

    #[test]
    fn degraded_or_aborted_fails_fast_with_the_controllers_words() {
        let s = canary(json!({"observedGeneration": "3", "phase": "Degraded",
            "message": "RolloutAborted: Rollout aborted update to revision 3"}));
        assert!(matches!(state(&s), RolloutState::Failed { reason } if reason.contains("RolloutAborted")));
        let s = canary(json!({"observedGeneration": "3", "phase": "Progressing", "abort": true}));
        assert!(matches!(state(&s), RolloutState::Failed { .. }));
    }

    #[test]
    fn blue_green_waits_for_promotion_only_without_auto_promotion() {
        let data = |auto: Value| {
            json!({
                "spec": {"replicas": 2, "strategy": {"blueGreen": {"activeService": "a", "autoPromotionSeconds": auto}}},
                "status": {"observedGeneration": "1", "phase": "Paused", "pauseConditions": [{"reason": "BlueGreenPause"}]},
            })
        };
        let manual = super::status(&meta(1), &data(Value::Null));
        assert!(matches!(state(&manual), RolloutState::Paused { .. }));
        let timed = super::status(&meta(1), &data(json!(30)));
        assert!(matches!(state(&timed), RolloutState::Progressing { .. }));
    }

    #[test]
    fn a_workload_ref_rollout_has_no_template_of_its_own() {
        let data = json!({"spec": {"workloadRef": {"kind": "Deployment", "name": "checkout"}}});
        let w = workload(&meta(1), &data);
        assert_eq!(w.id.kind, WorkloadKind::Rollout);
        assert!(w.spec.containers.is_empty());
        let data = json!({"spec": {"template": {"metadata": {"annotations": {
            "kubectl-secrets.io/secret-revisions": "{\"app\":4}"}},
            "spec": {"containers": [{"name": "app", "image": "app", "envFrom": [{"secretRef": {"name": "app"}}]}]}}}});
        let w = workload(&meta(1), &data);
        assert_eq!(w.spec.containers.len(), 1);
        assert_eq!(w.secret_revisions.get("app"), Some(&4));
    }
}
