//! Output of `audit`: findings by severity, each with the object, the key and the fix.

use comfy_table::{Cell, Color};

use super::{coloured, plural, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::audit::{AuditFinding, AuditReport, Severity};
use crate::domain::fleet::FleetReport;
use crate::error::Result;

pub fn findings(findings: &[AuditFinding], output: OutputFormat, show_namespace: bool) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("AuditReport", &serde_json::json!({"findings": findings}), output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let (headers, rows, footer) = table_parts(findings, show_namespace);
            let mut text = if rows.is_empty() {
                "No findings.\n".to_string()
            } else {
                let mut t = table(&headers);
                for row in rows {
                    t.add_row(row);
                }
                table_lines(&t)
            };
            text.push_str(&footer);
            write_stdout(&text)
        }
    }
}

/// audit across contexts: one table with a CONTEXT column, or a FleetReport document.
pub fn fleet(report: &FleetReport<AuditReport>, output: OutputFormat, show_namespace: bool) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("FleetReport", report, output)
        }
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            write_stdout(&super::fleet::combined(report, |r| {
                table_parts(&r.findings, show_namespace)
            }))
        }
    }
}

/// The table's headers and rows, and the summary line after it.
fn table_parts(findings: &[AuditFinding], show_namespace: bool) -> (Vec<&'static str>, Vec<Vec<Cell>>, String) {
    let mut headers = vec!["SEVERITY", "SECRET", "KEY", "RULE", "FINDING", "FIX"];
    if show_namespace {
        headers.insert(1, "NAMESPACE");
    }
    let mut rows = Vec::new();
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
        rows.push(cells);
    }
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let footer = format!(
        "\n{}: {} critical, {} warning, {} info\n",
        plural(findings.len(), "finding"),
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    (headers, rows, footer)
}
