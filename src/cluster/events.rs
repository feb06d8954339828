//! Kubernetes Events (events.k8s.io/v1) for the audit trail: `kubectl describe` and event
//! exporters show who changed a Secret or restarted a workload, when, and how it ended.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::Connection;

/// The object an Event is about.
pub struct Regarding {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// `kubectl describe` finds an object's Events by its uid (empty: not known).
    pub uid: String,
}

pub struct Note<'a> {
    pub warning: bool,
    /// PascalCase, e.g. `Rotated`.
    pub reason: &'a str,
    /// PascalCase, e.g. `Rotate`.
    pub action: &'a str,
    /// A sentence: who, which change, the outcome. Never a value.
    pub message: String,
}

pub struct Events {
    recorder: Recorder,
}

impl Events {
    /// Events reported by kubectl-secrets on `host`.
    pub fn new(conn: &Connection, host: String) -> Self {
        let reporter = Reporter {
            controller: "kubectl-secrets".into(),
            instance: Some(host),
        };
        Events {
            recorder: Recorder::new(conn.client.clone(), reporter),
        }
    }

    /// Record one Event; a refusal (no permission to create Events) is returned, not retried.
    pub async fn record(&self, regarding: &Regarding, note: &Note<'_>) -> Result<(), kube::Error> {
        let reference = ObjectReference {
            api_version: Some(regarding.api_version.into()),
            kind: Some(regarding.kind.into()),
            namespace: Some(regarding.namespace.clone()),
            name: Some(regarding.name.clone()),
            uid: Some(regarding.uid.clone()).filter(|u| !u.is_empty()),
            ..Default::default()
        };
        // The API server limits a note to 1 kB.
        let mut message = note.message.clone();
        if message.len() > 1000 {
            let mut end = 1000;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.into(),
            note: Some(message),
            action: note.action.into(),
            secondary: None,
        };
        // A transient answer (500, 503, 429) is retried like every other request of the tool.
        super::retrying(|| self.recorder.publish(&event, &reference)).await
    }
}
