//! Kubernetes Events (events.k8s.io/v1) for the audit trail: `kubectl describe` and event
//! exporters show who changed a Secret or restarted a workload, when, and how it ended.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use super::Connection;

/// The object an Event is about.
pub struct Regarding<'a> {
    pub api_version: &'a str,
    pub kind: &'a str,
    pub namespace: &'a str,
    pub name: &'a str,
    /// `kubectl describe` finds an object's Events by its uid.
    pub uid: &'a str,
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
    pub async fn record(&self, regarding: &Regarding<'_>, note: &Note<'_>) -> Result<(), kube::Error> {
        let reference = ObjectReference {
            api_version: Some(regarding.api_version.into()),
            kind: Some(regarding.kind.into()),
            namespace: Some(regarding.namespace.into()),
            name: Some(regarding.name.into()),
            uid: Some(regarding.uid.into()).filter(|u: &String| !u.is_empty()),
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
        self.recorder.publish(&event, &reference).await
    }
}
