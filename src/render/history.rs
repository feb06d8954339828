//! Output of `history`: one row per revision, newest first; never a value.

use comfy_table::Cell;

use super::{print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::fleet::FleetReport;
use crate::domain::history::SecretHistory;
use crate::error::Result;

pub fn entries(history: &SecretHistory, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("SecretHistory", history, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let (headers, rows, footer) = table_parts(history);
            // A Vault path has no revisions in the cluster: its versions are the history.
            let revisions = if rows.is_empty() {
                String::new()
            } else {
                let mut t = table(&headers);
                for row in rows {
                    t.add_row(row);
                }
                table_lines(&t)
            };
            write_stdout(&format!("{revisions}{footer}"))?;
            warn_untrusted(history);
            Ok(())
        }
    }
}

/// history across contexts: one table with a CONTEXT column, or a FleetReport document.
pub fn fleet(report: &FleetReport<SecretHistory>, output: OutputFormat) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("FleetReport", report, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            write_stdout(&super::fleet::combined(report, table_parts))?;
            report
                .contexts
                .iter()
                .filter_map(|e| e.report.as_ref())
                .for_each(warn_untrusted);
            Ok(())
        }
    }
}

fn table_parts(history: &SecretHistory) -> (Vec<&'static str>, Vec<Vec<Cell>>, String) {
    let headers = vec!["REVISION", "WRITTEN", "BY", "REPLACED", "BY", "KEYS CHANGED", "BACKUP"];
    let or_dash = |text: Option<String>| {
        text.filter(|t| !t.is_empty())
            .map(|t| super::clean(&t))
            .unwrap_or_else(|| "-".into())
    };
    let rows = history
        .revisions
        .iter()
        .map(|row| {
            let revision = if row.current {
                format!("{} (current)", row.revision)
            } else {
                row.revision.to_string()
            };
            vec![
                revision,
                or_dash(row.written_at.map(|t| t.to_string())),
                or_dash(row.written_by.clone()),
                or_dash(row.replaced_at.map(|t| t.to_string())),
                or_dash(row.replaced_by.clone().map(|by| format!("{by} ({})", row.rotation_id))),
                or_dash(Some(row.keys_changed.join(", "))),
                match &row.untrusted {
                    None => or_dash(row.backup.clone()),
                    Some(_) => format!(
                        "{} (NOT RECORDED: never restored)",
                        super::clean(row.backup.as_deref().unwrap_or_default())
                    ),
                },
            ]
            .into_iter()
            .map(Cell::new)
            .collect()
        })
        .collect();
    let mut text = String::new();
    if !history.provider_versions.is_empty() {
        text.push_str(if history.revisions.is_empty() {
            "Vault keeps its versions (rollback writes the previous version's data as a new current one).\n"
        } else {
            "\nExternal Secrets syncs it: its earlier values are the provider's versions (rollback writes the previous version's value as a new current one).\n"
        });
        for remote in &history.provider_versions {
            let mut versions = table(&["VERSION", "STAGES", "CREATED"]);
            for v in &remote.versions {
                versions.add_row(vec![
                    super::clean(&v.id),
                    if v.stages.is_empty() {
                        "-".to_string()
                    } else {
                        super::clean(&v.stages.join(", "))
                    },
                    v.created.map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
                ]);
            }
            text.push_str(&format!("\n{} {}:\n", remote.provider, super::clean(&remote.remote)));
            text.push_str(&table_lines(&versions));
        }
    } else if history.revisions.len() == 1 {
        text.push_str("\nNo backups yet: rotate and rollback save one before every change.\n");
    }
    (headers, rows, text)
}

fn warn_untrusted(history: &SecretHistory) {
    for row in history.revisions.iter().filter(|r| r.untrusted.is_some()) {
        super::warning(&format!(
            "{} claims to be a backup of {} (revision {}), but {}. Someone other than kubectl-secrets \
             made it, or a run that never wrote left it: it is never restored or pruned; check who created \
             it and delete it.",
            super::clean(row.backup.as_deref().unwrap_or_default()),
            history.secret,
            row.revision,
            row.untrusted.as_deref().unwrap_or_default()
        ));
    }
}
