//! Output of `list`.

use comfy_table::{Cell, Color};

use super::{coloured, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::core::inventory::SecretRow;
use crate::error::Result;

pub fn rows(rows: &[SecretRow], output: OutputFormat, show_namespace: bool, with_policy: bool) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print_document("SecretList", &serde_json::json!({"secrets": rows}), output)
        }
        OutputFormat::Prometheus => write_stdout(&prometheus(rows)),
        OutputFormat::Table | OutputFormat::Wide => {
            let mut headers = vec![
                "NAME",
                "TYPE",
                "KEYS",
                "AGE",
                "LAST ROTATION",
                "OWNER",
                "CONSUMERS",
                "STALE",
            ];
            if show_namespace {
                headers.insert(0, "NAMESPACE");
            }
            if output == OutputFormat::Wide {
                headers.push("ROTATED BY");
            }
            let mut t = table(&headers);
            for r in rows {
                let age = r.age_days.map(|d| format!("{d}d")).unwrap_or_else(|| "?".into());
                let age_cell = if r.overdue {
                    coloured(&format!("{age} overdue"), Color::Red)
                } else {
                    Cell::new(age)
                };
                let mut cells = vec![
                    Cell::new(&r.name),
                    Cell::new(&r.type_),
                    Cell::new(r.keys),
                    age_cell,
                    Cell::new(r.last_rotation.map(|t| t.to_string()).unwrap_or_else(|| "-".into())),
                    Cell::new(r.owner.clone().unwrap_or_else(|| "-".into())),
                    Cell::new(r.consumers),
                    if r.stale_consumers > 0 {
                        coloured(&r.stale_consumers.to_string(), Color::Yellow)
                    } else {
                        Cell::new(0)
                    },
                ];
                if show_namespace {
                    cells.insert(0, Cell::new(&r.namespace));
                }
                if output == OutputFormat::Wide {
                    cells.push(Cell::new(r.rotated_by.clone().unwrap_or_else(|| "-".into())));
                }
                t.add_row(cells);
            }
            let mut text = if rows.is_empty() {
                "No Secrets found in scope.\n".to_string()
            } else {
                table_lines(&t)
            };
            if with_policy {
                let overdue = rows.iter().filter(|r| r.overdue).count();
                text.push_str(&format!(
                    "\n{overdue} of {} Secrets overdue for rotation.\n",
                    rows.len()
                ));
            }
            write_stdout(&text)
        }
    }
}

/// Label values escaped as the exposition format requires.
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A gauge: name, help text, and its value for one Secret (None: not exported).
type Gauge = (&'static str, &'static str, fn(&SecretRow) -> Option<f64>);

/// The Prometheus text exposition format: the seed 003 alerts (`secret_age_days > 80`) work on it.
pub fn prometheus(rows: &[SecretRow]) -> String {
    let metrics: [Gauge; 4] = [
        (
            "kubectl_secrets_secret_age_days",
            "Days since the Secret's data last changed.",
            |r| r.age_days.map(|d| d as f64),
        ),
        (
            "kubectl_secrets_secret_overdue",
            "1 when the data is older than the --max-age policy.",
            |r| Some(if r.overdue { 1.0 } else { 0.0 }),
        ),
        (
            "kubectl_secrets_secret_consumers",
            "Workloads that read the Secret.",
            |r| Some(r.consumers as f64),
        ),
        (
            "kubectl_secrets_secret_stale_consumers",
            "Workloads running with an older version of the Secret's data.",
            |r| Some(r.stale_consumers as f64),
        ),
    ];
    let mut out = String::new();
    for (name, help, value) in metrics {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
        for row in rows {
            if let Some(v) = value(row) {
                out.push_str(&format!(
                    "{name}{{namespace=\"{}\",secret=\"{}\",type=\"{}\"}} {v}\n",
                    label(&row.namespace),
                    label(&row.name),
                    label(&row.type_)
                ));
            }
        }
    }
    out
}
