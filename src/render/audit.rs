//! Output of `audit`: findings by severity, each with the object, the key and the fix.

use comfy_table::{Cell, Color};

use super::{coloured, plural, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::audit::{AuditFinding, Severity};
use crate::error::Result;

pub fn findings(findings: &[AuditFinding], output: OutputFormat, show_namespace: bool) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml => {
            print_document("AuditReport", &serde_json::json!({"findings": findings}), output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus => {
            let mut headers = vec!["SEVERITY", "SECRET", "KEY", "RULE", "FINDING", "FIX"];
            if show_namespace {
                headers.insert(1, "NAMESPACE");
            }
            let mut t = table(&headers);
            for f in findings {
                let color = match f.severity {
                    Severity::Critical => Color::Red,
                    Severity::Warning => Color::Yellow,
                    Severity::Info => Color::Blue,
                };
                let mut cells = vec![
                    coloured(f.severity.as_str(), color),
                    Cell::new(&f.secret),
                    Cell::new(f.key.clone().unwrap_or_else(|| "-".into())),
                    Cell::new(f.rule),
                    Cell::new(super::clean(&f.message)),
                    Cell::new(&f.fix),
                ];
                if show_namespace {
                    cells.insert(1, Cell::new(&f.namespace));
                }
                t.add_row(cells);
            }
            let count = |s| findings.iter().filter(|f| f.severity == s).count();
            let mut text = if findings.is_empty() {
                "No findings.\n".to_string()
            } else {
                table_lines(&t)
            };
            text.push_str(&format!(
                "\n{}: {} critical, {} warning, {} info\n",
                plural(findings.len(), "finding"),
                count(Severity::Critical),
                count(Severity::Warning),
                count(Severity::Info)
            ));
            write_stdout(&text)
        }
    }
}
