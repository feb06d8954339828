//! The README's examples, run as written on the demo's namespaces (the seeds `make demo`
//! loads), in the README's order (one that asks before a change answered yes): each ends with the exit status the README shows after it
//! (`$ echo $?`), or else 0 or 1 (1: drift or findings, what verify and audit are for), and no
//! value of the demo's Secrets appears in any output. The examples that name a fleet of
//! clusters (`--contexts`, `--all-contexts`) run on the fleet bed in tests/e2e/fleet.rs.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{cluster, exit, run_with};

/// The namespaces scripts/load-seeds.sh makes.
const DEMO: [&str; 6] = [
    "video-conferencing",
    "video-conferencing-eso",
    "aura-production",
    "intelliprompt",
    "chatbox",
    "platform",
];

/// An example command and the exit status the README shows after it, if it shows one.
struct Example {
    command: String,
    shown_exit: Option<i32>,
}

fn examples() -> Vec<Example> {
    let readme = include_str!("../../README.md").replace("\\\n", " ");
    let mut found: Vec<Example> = Vec::new();
    let mut in_block = false;
    let mut lines = readme.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            continue;
        }
        let line = line.trim();
        if !in_block {
            continue;
        }
        if line == "$ echo $?" {
            let code = lines.peek().and_then(|l| l.trim().parse().ok());
            if let Some(last) = found.last_mut() {
                last.shown_exit = code;
            }
            continue;
        }
        let command = line.strip_prefix("$ ").unwrap_or(line);
        if command.starts_with("kubectl secrets ") {
            found.push(Example {
                command: command.to_string(),
                shown_exit: None,
            });
        }
    }
    found
}

/// Every value the demo's Secrets hold that is a credential (identifiers such as user and
/// database names may be named by a plan).
fn demo_values(kubeconfig: &std::path::Path) -> BTreeSet<String> {
    let mut values = BTreeSet::new();
    for ns in DEMO {
        let out = Command::new(crate::support::kubectl_path())
            .args([
                "--kubeconfig",
                kubeconfig.to_str().unwrap(),
                "get",
                "secrets",
                "-n",
                ns,
                "-o",
                "json",
            ])
            .output()
            .expect("kubectl get secrets");
        let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("a Secret list");
        for secret in list["items"].as_array().into_iter().flatten() {
            for (key, value) in secret["data"].as_object().into_iter().flatten() {
                let lower = key.to_lowercase();
                if lower.contains("user") || lower.ends_with("-db") || lower.contains("active") || lower.contains("sid")
                {
                    continue;
                }
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().unwrap_or_default())
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if text.len() >= 8 {
                    values.insert(text);
                }
            }
        }
    }
    values
}

#[tokio::test]
async fn the_readme_examples_run_as_written_on_the_demo_namespaces() {
    let kubeconfig = &cluster().admin_kubeconfig;
    let loaded = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/load-seeds.sh"))
        .arg(kubeconfig)
        .output()
        .expect("run load-seeds.sh");
    assert!(
        loaded.status.success(),
        "load-seeds.sh: {}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    let mut secrets = demo_values(kubeconfig);
    let examples = examples();
    let mut ran = 0;
    let mut elsewhere = Vec::new();
    for example in &examples {
        let words = shlex::split(&example.command).expect("an example splits as a shell would");
        let args: Vec<&str> = words
            .iter()
            .skip(2)
            .map(String::as_str)
            .take_while(|w| !matches!(*w, "|" | ">" | "&&" | ";"))
            .collect();
        if args.iter().any(|a| *a == "--all-contexts" || *a == "--contexts") {
            continue;
        }
        let namespace = args
            .windows(2)
            .find(|w| w[0] == "-n" || w[0] == "--namespace")
            .map(|w| w[1]);
        let all = args.contains(&"-A");
        if !all && !namespace.is_some_and(|ns| DEMO.contains(&ns)) {
            elsewhere.push(example.command.clone());
            continue;
        }
        // An example that asks before it changes anything is answered as a person would: yes.
        let mut args = args;
        if matches!(args[0], "rotate" | "rollback") && !args.iter().any(|a| *a == "--yes" || a.starts_with("--dry-run"))
        {
            args.push("--yes");
        }
        let run = run_with(kubeconfig, &args);
        // A picker example (a name left out) needs a terminal: tests/e2e/interactive.rs types
        // into it; here it is refused as a usage error that says so.
        if run.code == exit::USAGE && run.stderr.contains("leave it out to pick") {
            run.assert_no_leak(&secrets);
            continue;
        }
        match example.shown_exit {
            Some(code) => assert_eq!(
                run.code, code,
                "`{}` (the README shows {code}): {run:?}",
                example.command
            ),
            None => assert!(
                run.code == exit::OK || run.code == exit::FOUND,
                "`{}` exited {}: {}",
                example.command,
                run.code,
                run.stderr
            ),
        }
        run.assert_no_leak(&secrets);
        // A rotation's new values are secrets too, for the examples after it.
        secrets.extend(demo_values(kubeconfig));
        ran += 1;
    }
    assert!(
        elsewhere.is_empty(),
        "README examples that name no demo namespace (make them run on the demo's): {elsewhere:#?}"
    );
    assert!(ran >= 10, "ran {ran} of {} examples", examples.len());
}
