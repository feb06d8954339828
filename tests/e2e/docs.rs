//! docs/output.md promises that field names never change: every field name the documents
//! print, and every value of their enumerations, appears in it (a new or renamed field fails
//! here until it is documented).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::support::{canary, deployment, exit, TestNamespace};

/// Every word inside backquotes in docs/output.md.
fn documented() -> BTreeSet<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/output.md")).unwrap();
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|quoted| quoted.split(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Field names, and the values of fields that are enumerations, in a document.
fn names(value: &Value, out: &mut BTreeSet<String>) {
    const ENUMERATIONS: [&str; 6] = ["action", "status", "via", "evidence", "severity", "rule"];
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                out.insert(key.clone());
                if let (true, Some(text)) = (ENUMERATIONS.contains(&key.as_str()), inner.as_str()) {
                    out.extend(text.split('-').map(str::to_string));
                }
                names(inner, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| names(item, out)),
        _ => {}
    }
}

/// The `workloads[].action.action` values of a plan.
fn actions(plan: &Value) -> Vec<String> {
    plan["workloads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|w| w["action"]["action"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn every_field_the_documents_print_is_in_docs_output_md() {
    let ns = TestNamespace::new("docs").await;
    let (token, openai) = (canary("token"), canary("openai"));
    ns.secret("app", &[("TOKEN", &token), ("OPENAI_API_KEY", &openai)])
        .await;
    let spec = json!({"containers": [{"name": "api", "image": "api",
        "envFrom": [{"secretRef": {"name": "app"}}],
        "env": [{"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "app", "key": "GONE"}}}]}]});
    ns.create_deployment(deployment("api", 1, spec)).await;
    ns.wait_ready("deployment", "api").await;
    let rotated = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes"]);
    // Exit 1: the rotation went through, and verify still reports the missing key.
    assert_eq!(rotated.code, exit::FOUND, "{rotated:?}");

    let documents = [
        vec!["verify", "-o", "json"],
        vec!["list", "-o", "json"],
        vec!["audit", "-o", "json", "--max-age", "1s"],
        vec!["history", "app", "-o", "json"],
        vec!["diff", "app", "--revision", "0", "-o", "json"],
        vec!["rotate", "app", "--all-keys", "--dry-run", "-o", "json"],
    ];
    let documented = documented();
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/output.md")).unwrap();
    for args in documents {
        let run = ns.run(&args);
        assert!(run.code == exit::OK || run.code == exit::FOUND, "{args:?}: {run:?}");
        let mut printed = BTreeSet::new();
        names(&run.json(), &mut printed);
        let missing: Vec<&String> = printed.iter().filter(|n| !documented.contains(*n)).collect();
        assert!(
            missing.is_empty(),
            "{args:?} prints {missing:?}, which docs/output.md does not name"
        );
        // A workload's action is documented as the JSON it is: {"action": "restart"}.
        for action in actions(&run.json()) {
            let written = format!("{{\"action\": \"{action}\"");
            assert!(
                text.contains(&written),
                "{args:?} prints {written}, which docs/output.md does not show"
            );
        }
        run.assert_no_leak([&token, &openai]);
    }
}
