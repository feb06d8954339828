//! Output of `history`: one row per revision, newest first; never a value.

use super::{print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::external::RemoteHistory;
use crate::domain::history::HistoryEntry;
use crate::error::Result;

pub fn entries(
    namespace: &str,
    secret: &str,
    rows: &[HistoryEntry],
    provider: &[RemoteHistory],
    output: OutputFormat,
) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml => {
            let mut doc = serde_json::json!({"namespace": namespace, "secret": secret, "revisions": rows});
            if !provider.is_empty() {
                doc["providerVersions"] = serde_json::json!(provider);
            }
            print_document("SecretHistory", &doc, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus => {
            let mut t = table(&["REVISION", "WRITTEN", "BY", "REPLACED", "BY", "KEYS CHANGED", "BACKUP"]);
            let or_dash = |text: Option<String>| {
                text.filter(|t| !t.is_empty())
                    .map(|t| super::clean(&t))
                    .unwrap_or_else(|| "-".into())
            };
            for row in rows {
                let revision = if row.current {
                    format!("{} (current)", row.revision)
                } else {
                    row.revision.to_string()
                };
                t.add_row(vec![
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
                ]);
            }
            let mut text = table_lines(&t);
            if !provider.is_empty() {
                text.push_str("\nExternal Secrets syncs it: its earlier values are the provider's versions (rollback makes AWSPREVIOUS's value current again).\n");
                for remote in provider {
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
            } else if rows.len() == 1 {
                text.push_str("\nNo backups yet: rotate and rollback save one before every change.\n");
            }
            write_stdout(&text)?;
            for row in rows.iter().filter(|r| r.untrusted.is_some()) {
                super::warning(&format!(
                    "{} claims to be a backup of {secret} (revision {}), but {}. Someone other than kubectl-secrets \
                     made it, or a run that never wrote left it: it is never restored or pruned; check who created \
                     it and delete it.",
                    super::clean(row.backup.as_deref().unwrap_or_default()),
                    row.revision,
                    row.untrusted.as_deref().unwrap_or_default()
                ));
            }
            Ok(())
        }
    }
}
