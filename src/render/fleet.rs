//! Output of a command across kubeconfig contexts: progress on stderr while the clusters
//! answer, then one table with a CONTEXT column (a context that failed is a row with its
//! error), each context's closing lines, and the fleet's summary.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use comfy_table::{Cell, Color};

use super::{clean, coloured, plural, table, table_lines};
use crate::domain::fleet::FleetReport;

/// Which clusters have answered, which are slow: one line per answer and, every few seconds,
/// the ones still awaited.
pub struct FleetProgress {
    waiting: BTreeSet<String>,
    started: Instant,
}

impl FleetProgress {
    pub fn new(contexts: &[String]) -> Self {
        super::write_stderr(&format!(
            "Asking {}: {}\n",
            plural(contexts.len(), "cluster"),
            contexts.join(", ")
        ));
        FleetProgress {
            waiting: contexts.iter().cloned().collect(),
            started: Instant::now(),
        }
    }

    pub fn answered(&mut self, context: &str, took: Duration, exit_code: i32, error: Option<&str>) {
        self.waiting.remove(context);
        let what = match (error, exit_code) {
            (Some(error), code) => format!("failed (exit {code}): {}", clean(error)),
            (None, 0) => "answered".to_string(),
            (None, code) => format!("answered (exit {code})"),
        };
        super::write_stderr(&format!("  {context}: {what} ({:.1}s)\n", took.as_secs_f64()));
    }

    pub fn still_waiting(&self) {
        if !self.waiting.is_empty() {
            let names: Vec<&str> = self.waiting.iter().map(String::as_str).collect();
            super::write_stderr(&format!(
                "  still waiting for {} ({:.0}s)\n",
                names.join(", "),
                self.started.elapsed().as_secs_f64()
            ));
        }
    }
}

/// The combined table: each context's rows (from `parts`: headers, rows, closing lines) with
/// the context first; an error row where a context failed.
pub fn combined<T>(
    report: &FleetReport<T>,
    parts: impl Fn(&T) -> (Vec<&'static str>, Vec<Vec<Cell>>, String),
) -> String {
    let mut headers: Vec<&'static str> = Vec::new();
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut footers = String::new();
    let mut failed: Vec<(&str, &str, i32)> = Vec::new();
    for entry in &report.contexts {
        match (&entry.report, &entry.error) {
            (Some(answer), _) => {
                let (own_headers, own_rows, footer) = parts(answer);
                headers = own_headers;
                rows.extend(own_rows.into_iter().map(|mut row| {
                    row.insert(0, Cell::new(&entry.context));
                    row
                }));
                for line in footer.lines().filter(|l| !l.trim().is_empty()) {
                    footers.push_str(&format!("{}: {line}\n", entry.context));
                }
            }
            (None, Some(error)) => failed.push((&entry.context, error.as_str(), entry.exit_code)),
            // Nothing of its own to show (the reference of a comparison).
            (None, None) => {}
        }
    }
    let mut text = String::new();
    if !headers.is_empty() {
        let status_column = headers.iter().position(|h| *h == "STATUS").map(|i| i + 1);
        let width = headers.len() + 1;
        for (context, error, code) in &failed {
            let mut row: Vec<Cell> = (0..width).map(|_| Cell::new("")).collect();
            row[0] = Cell::new(context);
            row[status_column.unwrap_or(1)] = coloured("error", Color::Red);
            row[width - 1] = Cell::new(format!("exit {code}: {}", clean(error)));
            rows.push(row);
        }
        let mut all_headers = vec!["CONTEXT"];
        all_headers.extend(headers);
        let mut table = table(&all_headers);
        for row in rows {
            table.add_row(row);
        }
        text.push_str(&table_lines(&table));
    } else {
        for (context, error, code) in &failed {
            text.push_str(&format!("{context}: error (exit {code}): {}\n", clean(error)));
        }
    }
    if !footers.is_empty() {
        text.push('\n');
        text.push_str(&footers);
    }
    let s = &report.summary;
    text.push_str(&format!(
        "\n{}: {} answered, {} failed; exit {}\n",
        plural(s.contexts, "context"),
        s.answered,
        s.failed,
        s.exit_code
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fleet::FleetEntry;

    fn entry(context: &str, rows: Option<Vec<&str>>, error: Option<&str>, exit_code: i32) -> FleetEntry<Vec<String>> {
        FleetEntry {
            context: context.into(),
            server: String::new(),
            exit_code,
            duration_ms: 1,
            error: error.map(str::to_string),
            report: rows.map(|r| r.into_iter().map(str::to_string).collect()),
        }
    }

    #[test]
    fn one_table_with_the_context_first_and_error_rows() {
        let report = FleetReport::new(
            "verify",
            vec![
                entry("prod-eu", Some(vec!["api"]), None, 0),
                entry("prod-us", None, Some("cannot reach the API server"), 4),
                entry("staging", Some(vec!["web", "worker"]), None, 1),
            ],
        );
        let text = combined(&report, |rows: &Vec<String>| {
            let cells = rows
                .iter()
                .map(|r| vec![Cell::new(r), Cell::new("ok"), Cell::new("")])
                .collect();
            (
                vec!["WORKLOAD", "STATUS", "DETAIL"],
                cells,
                format!("\n{} workloads\n", rows.len()),
            )
        });
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("CONTEXT") && lines[0].contains("WORKLOAD"),
            "{text}"
        );
        assert!(lines[1].starts_with("prod-eu") && lines[1].contains("api"), "{text}");
        let error = lines.iter().find(|l| l.starts_with("prod-us")).unwrap();
        assert!(
            error.contains("error") && error.contains("exit 4: cannot reach"),
            "{text}"
        );
        assert!(text.contains("staging: 2 workloads"), "{text}");
        assert!(text.ends_with("3 contexts: 2 answered, 1 failed; exit 4\n"), "{text}");
    }
}
