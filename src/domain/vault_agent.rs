//! Pods fed by HashiCorp Vault's Agent Injector. Its annotations on a pod template name the
//! Vault paths the agent renders into files under /vault/secrets, and whether it keeps
//! re-rendering them (a sidecar) or renders them once before the app starts
//! (`agent-pre-populate-only`). No Kubernetes Secret is involved, so such a pod refers to no
//! Secret at all; kubectl-secrets does not read Vault's versions either, so a value rendered
//! once at start is judged `unknown`, never `ok`.

use std::collections::BTreeMap;

use serde::Serialize;

const PREFIX: &str = "vault.hashicorp.com/";
const INJECT: &str = "agent-inject";
const SECRET: &str = "agent-inject-secret-";
const FILE: &str = "agent-inject-file-";
const COMMAND: &str = "agent-inject-command-";
const PRE_POPULATE_ONLY: &str = "agent-pre-populate-only";
const SECRET_VOLUME_PATH: &str = "secret-volume-path";
/// Where the injector mounts the rendered files unless told otherwise.
const DEFAULT_DIRECTORY: &str = "/vault/secrets";

/// One Vault path the agent renders for a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRead {
    /// The Vault path, as the annotation names it ("secret/data/db", "database/creds/app").
    pub path: String,
    /// The file the app reads it from.
    pub file: String,
    pub rendering: Rendering,
    /// A command the agent runs after each render (typically a reload signal to the app).
    pub reload_command: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Rendering {
    /// Only the init container runs: the file is written once, before the app starts.
    OnceAtStart,
    /// A sidecar keeps the file current while the pod runs.
    WhileRunning,
}

impl AgentRead {
    /// "vault:secret/data/db", the name reports use where a Secret's name would stand.
    pub fn source(&self) -> String {
        format!("vault:{}", self.path)
    }
}

/// What Vault's metadata says of a path pods render once at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvState {
    /// A KV v2 path: its current version and when that version was written.
    Current {
        version: u64,
        created: Option<jiff::Timestamp>,
    },
    /// Why it could not be read (no token, no permission, not a KV v2 path...).
    Unreadable(String),
}

/// The KV v2 mount and path of an injector path ("secret/data/shop/db" → ("secret",
/// "shop/db")); None for anything else (a KV v1 path, dynamic credentials).
pub fn kv_v2_path(path: &str) -> Option<(&str, &str)> {
    let (mount, rest) = path.trim_start_matches('/').split_once("/data/")?;
    (!mount.is_empty() && !rest.is_empty()).then_some((mount, rest))
}

/// As the injector reads its booleans (Go's strconv.ParseBool); anything else is not "true".
fn is_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// The Vault paths a pod template's annotations make the injector render; empty when the
/// injector is not asked to inject (`vault.hashicorp.com/agent-inject` not true).
pub fn reads(annotations: &BTreeMap<String, String>) -> Vec<AgentRead> {
    let get = |name: &str| annotations.get(&format!("{PREFIX}{name}")).map(String::as_str);
    if !get(INJECT).is_some_and(is_true) {
        return Vec::new();
    }
    let rendering = if get(PRE_POPULATE_ONLY).is_some_and(is_true) {
        Rendering::OnceAtStart
    } else {
        Rendering::WhileRunning
    };
    let directory = get(SECRET_VOLUME_PATH)
        .unwrap_or(DEFAULT_DIRECTORY)
        .trim_end_matches('/');
    let mut reads: Vec<AgentRead> = annotations
        .iter()
        .filter_map(|(key, path)| {
            let name = key.strip_prefix(PREFIX)?.strip_prefix(SECRET)?;
            let file = match get(&format!("{FILE}{name}")) {
                Some(file) if file.starts_with('/') => file.to_string(),
                Some(file) => format!("{directory}/{file}"),
                None => format!("{directory}/{name}"),
            };
            Some(AgentRead {
                path: path.trim().to_string(),
                file,
                rendering,
                reload_command: get(&format!("{COMMAND}{name}")).is_some_and(|c| !c.trim().is_empty()),
            })
        })
        // Whoever writes the namespace writes these: a path or file with control characters
        // (escape sequences for the operator's terminal) is no Vault path; it is left out.
        .filter(|r| !r.path.is_empty() && ![&r.path, &r.file].iter().any(|t| t.chars().any(char::is_control)))
        .collect();
    reads.sort();
    reads
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{PREFIX}{k}"), v.to_string()))
            .collect()
    }

    #[test]
    fn the_injectors_annotations_name_paths_files_and_how_they_are_rendered() {
        let sidecar = reads(&annotations(&[
            ("agent-inject", "true"),
            ("role", "chatbox"),
            ("agent-inject-secret-db", "secret/data/chatbox/db"),
            (
                "agent-inject-template-db",
                "{{ with secret \"secret/data/chatbox/db\" }}...{{ end }}",
            ),
            ("agent-inject-secret-llm", "secret/data/chatbox/llm"),
            ("agent-inject-file-llm", "llm.env"),
            ("agent-inject-command-llm", "kill -HUP $(pidof app)"),
        ]));
        assert_eq!(
            sidecar,
            vec![
                AgentRead {
                    path: "secret/data/chatbox/db".into(),
                    file: "/vault/secrets/db".into(),
                    rendering: Rendering::WhileRunning,
                    reload_command: false,
                },
                AgentRead {
                    path: "secret/data/chatbox/llm".into(),
                    file: "/vault/secrets/llm.env".into(),
                    rendering: Rendering::WhileRunning,
                    reload_command: true,
                },
            ]
        );
        assert_eq!(sidecar[0].source(), "vault:secret/data/chatbox/db");

        let once = reads(&annotations(&[
            ("agent-inject", "1"),
            ("agent-pre-populate-only", "true"),
            ("secret-volume-path", "/etc/app/"),
            ("agent-inject-secret-token", "auth/token"),
        ]));
        assert_eq!(once.len(), 1);
        assert_eq!(once[0].rendering, Rendering::OnceAtStart);
        assert_eq!(once[0].file, "/etc/app/token");
    }

    #[test]
    fn nothing_is_read_unless_injection_is_asked_for() {
        for inject in [None, Some("false"), Some("yes"), Some("")] {
            let mut pairs = vec![("agent-inject-secret-db", "secret/data/db")];
            if let Some(value) = inject {
                pairs.push(("agent-inject", value));
            }
            assert!(reads(&annotations(&pairs)).is_empty(), "{inject:?}");
        }
        assert!(reads(&annotations(&[
            ("agent-inject", "true"),
            ("agent-inject-secret-db", " ")
        ]))
        .is_empty());
        let escape = reads(&annotations(&[
            ("agent-inject", "true"),
            ("agent-inject-secret-db", "secret/\u{1b}[2Jdb"),
        ]));
        assert!(escape.is_empty(), "an escape sequence is never a path");
    }
}
