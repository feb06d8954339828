//! docs/rbac.yaml is enough: a user bound to exactly those rules (in one namespace) can run
//! every command there.

use serde_json::json;

use crate::support::{canary, TestNamespace};

/// The rules of docs/rbac.yaml's ClusterRoles, read from the file itself.
fn documented_rules() -> serde_json::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rbac.yaml")).unwrap();
    let docs: Vec<serde_json::Value> = serde_saphyr::from_str_multiple(&text).unwrap();
    let rules: Vec<serde_json::Value> = docs
        .iter()
        .flat_map(|d| d["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    json!(rules)
}

#[tokio::test]
async fn the_documented_role_is_enough_for_every_command() {
    let ns = TestNamespace::new("rbac").await;
    let value = canary("rbac");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    ns.grant("limited", documented_rules());

    let as_limited = |args: &[&str]| ns.run_as("limited", args, b"");
    let runs = [
        as_limited(&["verify"]),
        as_limited(&["rotate", "app", "--key", "TOKEN", "--yes"]),
        as_limited(&["history", "app"]),
        as_limited(&["diff", "app", "--revision", "0"]),
        as_limited(&["rollback", "app", "--yes"]),
        as_limited(&["list"]),
        as_limited(&["audit"]),
    ];
    let codes: Vec<i32> = runs.iter().map(|r| r.code).collect();
    // diff finds the rotated value differs from revision 0 (exit 1); audit may or may not find something.
    assert_eq!(&codes[..5], &[0, 0, 0, 1, 0], "{runs:#?}");
    assert!(codes[5] == 0 && (codes[6] == 0 || codes[6] == 1), "{runs:#?}");
    assert_eq!(
        ns.secret_data("app").await["TOKEN"],
        value.as_bytes(),
        "rolled back to the original"
    );
    for run in &runs {
        run.assert_no_leak([&value]);
        assert!(
            !run.stderr.contains("could not record"),
            "Events are in the documented role: {run:?}"
        );
    }
}
