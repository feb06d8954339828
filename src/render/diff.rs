//! Output of `diff`: per key added / removed / changed / same with masked values; the changed
//! lines of values only with --show-secret, and never for a key on one side only.

use super::{coloured, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::diff::{KeyStatus, Masked, SecretDiff};
use crate::domain::fleet::FleetReport;
use crate::domain::manifest::SecretSide;
use crate::error::Result;

fn show(m: &Option<Masked>) -> String {
    m.as_ref()
        .map(|m| format!("{} bytes, {}", m.length, m.fingerprint))
        .unwrap_or_else(|| "-".into())
}

fn status_cell(status: KeyStatus) -> comfy_table::Cell {
    use comfy_table::Color;
    let (text, color) = match status {
        KeyStatus::Same => ("same", Color::Green),
        KeyStatus::Changed => ("changed", Color::Yellow),
        KeyStatus::Added => ("added", Color::Cyan),
        KeyStatus::Removed => ("removed", Color::Red),
        KeyStatus::Unknown => ("sealed", Color::Blue),
    };
    coloured(text, color)
}

pub fn report(d: &SecretDiff, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("SecretDiff", d, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            write_stdout(&text(d))
        }
    }
}

fn text(d: &SecretDiff) -> String {
    let mut out = format!("--- {}\n+++ {}\n", d.cluster, d.other);
    let mut keys = table(&["KEY", "STATUS", "CLUSTER", "OTHER"]);
    for k in &d.keys {
        keys.add_row(vec![
            comfy_table::Cell::new(&k.key),
            status_cell(k.status),
            comfy_table::Cell::new(show(&k.cluster)),
            comfy_table::Cell::new(show(&k.other)),
        ]);
    }
    out.push_str(&table_lines(&keys));
    // Label and annotation values come from the cluster or a file: no control character passes.
    for m in &d.metadata {
        out.push_str(&format!(
            "{}: {} → {}\n",
            super::clean(&m.field),
            super::clean(m.cluster.as_deref().unwrap_or("(none)")),
            super::clean(m.other.as_deref().unwrap_or("(none)"))
        ));
    }
    out.push_str(if d.identical() { "No differences.\n" } else { "" });
    out
}

/// diff across contexts: one key table with a CONTEXT column (what each context's row compares
/// is said below it), or a FleetReport document.
pub fn fleet(report: &FleetReport<SecretDiff>, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("FleetReport", report, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            write_stdout(&super::fleet::combined(report, |d| {
                let rows = d
                    .keys
                    .iter()
                    .map(|k| {
                        vec![
                            comfy_table::Cell::new(&k.key),
                            status_cell(k.status),
                            comfy_table::Cell::new(show(&k.cluster)),
                            comfy_table::Cell::new(show(&k.other)),
                        ]
                    })
                    .collect();
                let mut footer = format!("--- {} +++ {}", d.cluster, d.other);
                footer.push_str(if d.identical() { ": no differences\n" } else { "\n" });
                for m in &d.metadata {
                    footer.push_str(&format!(
                        "{}: {} → {}\n",
                        super::clean(&m.field),
                        super::clean(m.cluster.as_deref().unwrap_or("(none)")),
                        super::clean(m.other.as_deref().unwrap_or("(none)"))
                    ));
                }
                (vec!["KEY", "STATUS", "CLUSTER", "OTHER"], rows, footer)
            }))
        }
    }
}

pub fn many(diffs: &[SecretDiff], output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("SecretDiffList", &serde_json::json!({ "secrets": diffs }), output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let mut t = table(&["SECRET", "STATUS", "KEYS CHANGED", "ADDED", "REMOVED", "REUSED VALUES"]);
            for d in diffs {
                let count = |s| d.keys.iter().filter(|k| k.status == s).count().to_string();
                let status = if d.identical() { "same" } else { "different" };
                let name = d.cluster.split_once('/').map(|(_, rest)| rest).unwrap_or(&d.cluster);
                t.add_row(vec![
                    name.to_string(),
                    status.to_string(),
                    count(KeyStatus::Changed),
                    count(KeyStatus::Added),
                    count(KeyStatus::Removed),
                    d.reused.join(", "),
                ]);
            }
            let differing = diffs.iter().filter(|d| !d.identical()).count();
            write_stdout(&format!(
                "{}\n{} Secrets in both clusters, {differing} different.\n",
                table_lines(&t),
                diffs.len()
            ))
        }
    }
}

/// The changed lines of each changed value, like `diff -u` (asked for with --show-secret).
pub fn changed_values(d: &SecretDiff, cluster: &SecretSide, other: &SecretSide) -> Result<()> {
    let mut out = String::new();
    for key in d.changed_keys() {
        let (Some(Some(a)), Some(Some(b))) = (cluster.data.get(key), other.data.get(key)) else {
            continue;
        };
        match (std::str::from_utf8(a.expose()), std::str::from_utf8(b.expose())) {
            (Ok(a), Ok(b)) => out.push_str(&crate::domain::diff::changed_lines(
                a,
                b,
                &format!("{} {key}", d.cluster),
                &format!("{} {key}", d.other),
            )),
            _ => out.push_str(&format!(
                "{key}: binary values differ ({} bytes, {} bytes)\n",
                a.len(),
                b.len()
            )),
        }
    }
    write_stdout(&out)
}

/// The same value in two environments is one secret in two places: a leak of one is a leak of both.
pub fn reuse_warnings(d: &SecretDiff) {
    for key in &d.reused {
        super::warning(&format!(
            "{key} has the same value in {} and {}: a reused secret; rotate one of them",
            d.cluster, d.other
        ));
    }
}
