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

/// kubectl's --as, --as-group and --token: the requests are made as that user, RBAC judges
/// them as such, and a token given on the command line is never printed.
#[tokio::test]
async fn as_and_token_act_as_another_user_like_kubectl() {
    use crate::support::{annotations, cluster, exit};
    let ns = TestNamespace::new("rbac-as").await;
    let value = canary("as");
    ns.secret_with_consumer("app", "TOKEN", &value, "api").await;
    ns.grant("limited", documented_rules());

    // The admin acting as reader, who has no rights here: refused, nothing written.
    let as_reader = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--as", "reader"]);
    assert_eq!(as_reader.code, exit::FORBIDDEN, "{as_reader:?}");
    assert_eq!(ns.secret_data("app").await["TOKEN"], value.as_bytes());
    let as_group = ns.run(&["verify", "--as", "reader", "--as-group", "system:masters"]);
    assert_eq!(as_group.code, exit::OK, "a group with every right: {as_group:?}");

    // limited's own token, given to the admin's kubeconfig: the rotation is limited's.
    let limited = std::fs::read_to_string(cluster().kubeconfig_of("limited")).unwrap();
    let token = limited
        .lines()
        .find_map(|l| l.trim().strip_prefix("token: "))
        .expect("limited's token")
        .to_string();
    let rotated = ns.run(&["rotate", "app", "--key", "TOKEN", "--yes", "--token", &token]);
    assert_eq!(rotated.code, exit::OK, "{rotated:?}");
    let by = ns.secret_annotation("app", annotations::CHANGED_BY).await.unwrap();
    assert!(by.ends_with("by limited"), "{by}");
    let rejected = ns.run(&["verify", "--token", "not-a-token-of-this-cluster"]);
    assert_eq!(rejected.code, exit::FORBIDDEN, "{rejected:?}");
    let new = String::from_utf8(ns.secret_data("app").await["TOKEN"].clone()).unwrap();
    for run in [&as_reader, &as_group, &rotated, &rejected] {
        run.assert_no_leak([
            value.as_str(),
            new.as_str(),
            token.as_str(),
            "not-a-token-of-this-cluster",
        ]);
    }
}
