//! Output of `verify`: a table per workload (wide: per pod and container), or the report as
//! JSON/YAML under a stable `apiVersion`/`kind` (documented in docs/output.md).

use std::collections::BTreeMap;
use std::io::IsTerminal;

use comfy_table::{Cell, Color};

use super::{coloured, plural, print_document, table, write_stdout};
use crate::cli::OutputFormat;
use crate::cluster::Scope;
use crate::domain::drift::{Finding, FixPlan, Status, VerifyReport, WorkloadReport};
use crate::domain::fleet::FleetReport;
use crate::domain::model::{CronSchedule, WorkloadKind};
use crate::error::Result;

/// verify's answer for `scope` (named when nothing was found: "No workloads found in namespace X.").
pub fn report(report: &VerifyReport, output: OutputFormat, scope: &Scope) -> Result<()> {
    let wide = output == OutputFormat::Wide;
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("VerifyReport", report, output)
        }
        _ => write_stdout(&table_text(report, scope, wide)),
    }
}

fn status_cell(status: Status) -> Cell {
    let color = match status {
        Status::Ok => Color::Green,
        Status::Unknown => Color::Cyan,
        Status::Shadowed => Color::Magenta,
        Status::Stale => Color::Yellow,
        Status::Missing => Color::Red,
    };
    coloured(status.as_str(), color)
}

/// The table's headers and rows, and the lines that follow it (summary, revocation, ...).
pub(super) fn table_parts(
    report: &VerifyReport,
    show_namespace: bool,
    wide: bool,
    place: &str,
) -> (Vec<&'static str>, Vec<Vec<Cell>>, String) {
    let mut headers = vec!["WORKLOAD", "STATUS", "SECRET", "ENV / KEY", "EVIDENCE"];
    if show_namespace {
        headers.insert(0, "NAMESPACE");
    }
    if wide {
        headers.extend(["POD", "CONTAINER"]);
    }
    headers.push("DETAIL");
    let mut rows_out = Vec::new();
    for workload in &report.workloads {
        for row in rows(workload, wide) {
            let mut cells = vec![
                Cell::new(format!("{}/{}", workload.kind.as_str().to_lowercase(), workload.name)),
                status_cell(row.status),
                Cell::new(&row.secret),
                Cell::new(&row.target),
                Cell::new(&row.evidence),
            ];
            if show_namespace {
                cells.insert(0, Cell::new(&workload.namespace));
            }
            if wide {
                cells.extend([Cell::new(&row.pod), Cell::new(&row.container)]);
            }
            cells.push(Cell::new(&row.detail));
            rows_out.push(cells);
        }
    }
    let s = &report.summary;
    let mut text = if !report.workloads.is_empty() {
        String::new()
    } else if s.workloads > 0 {
        format!("No workload in {place} reads a Secret.\n")
    } else {
        format!("No workloads found in {place}.\n")
    };
    let unlisted = s.workloads.saturating_sub(report.workloads.len());
    let without_secrets = match (s.without_secrets, unlisted) {
        (0, _) => String::new(),
        (n, 0) => format!(" ({n} read no Secret)"),
        (n, _) => format!(" ({n} read no Secret, not listed: -o wide lists them)"),
    };
    text.push_str(&format!(
        "\n{}{without_secrets}, {} checked: {} ok, {}{} stale, {} missing, {} shadowed\n",
        plural(s.workloads, "workload"),
        plural(s.containers_checked, "running container"),
        s.ok,
        unknown_count(s.unknown),
        s.stale,
        s.missing,
        s.shadowed
    ));
    if s.unknown > 0 {
        text.push_str(
            "Unknown: pods that read a Vault path once at start whose versions Vault did not tell (DETAIL says why: \
             with VAULT_ADDR and a token that may read the path's metadata, they are judged by time)\n",
        );
    }
    if s.stale > 0 && place != "scope" {
        let scope = match place.strip_prefix("namespace ") {
            Some(namespace) => format!("-n {namespace}"),
            None => "-A".to_string(),
        };
        text.push_str(&format!(
            "Next: `kubectl secrets verify {scope} --fix` restarts the stale workloads (plan first, then asks)\n"
        ));
    }
    // "ns/name" with -A, else "name".
    let named = |namespace: &str, name: &str| {
        if show_namespace {
            format!("{namespace}/{name}")
        } else {
            name.to_string()
        }
    };
    for r in report.revocation.iter().filter(|r| !r.already_said) {
        let name = named(&r.namespace, &r.secret);
        match (r.safe, r.since) {
            (true, Some(since)) => text.push_str(&format!(
                "Safe to revoke: no pod uses a value of {name} older than revision {} since {since}: revoke the previous value at its provider\n",
                r.revision
            )),
            (true, None) => text.push_str(&format!("Safe to revoke: {}\n", r.reason)),
            (false, _) => text.push_str(&format!("Not yet safe to revoke the previous value of {name}: {}\n", r.reason)),
        }
    }
    for sealed in &report.unsealing_failed {
        let name = named(&sealed.namespace, &sealed.name);
        text.push_str(&format!(
            "SealedSecret {name} was not unsealed by the controller: {}\n",
            super::clean(&sealed.message)
        ));
    }
    for failed in &report.sync_failed {
        let name = named(&failed.namespace, &failed.name);
        let held = match failed.secret_changed_at {
            Some(at) => format!("secret {} holds data from {at}", failed.secret),
            None => format!("secret {} may not exist", failed.secret),
        };
        text.push_str(&format!(
            "ExternalSecret {name} failed to sync ({}: {}): {held}; `kubectl describe externalsecret {} -n {}` says why\n",
            super::clean(&failed.reason),
            super::clean(&failed.message),
            failed.name,
            failed.namespace
        ));
    }
    for edited in &report.edited_since_sync {
        let name = named(&edited.namespace, &edited.name);
        text.push_str(&format!(
            "Secret {name} was changed after External Secrets last synced it: its next refresh puts the provider's value back \
             under the running pods. Change the value at the provider instead (kubectl secrets rotate {} -n {} rotates it there)\n",
            edited.name, edited.namespace
        ));
    }
    if !report.unused_secrets.is_empty() {
        let names: Vec<String> = report
            .unused_secrets
            .iter()
            .map(|r| {
                if show_namespace {
                    format!("{}/{}", r.namespace, r.name)
                } else {
                    r.name.clone()
                }
            })
            .collect();
        text.push_str(&format!(
            "Secrets without consumers ({}): {}\n",
            names.len(),
            names.join(", ")
        ));
    }
    (headers, rows_out, text)
}

/// The verification after a change of `changed` in `namespace`: its consumers only, so an
/// empty table means nothing reads them (not that the namespace is empty).
pub fn after_change(report: &VerifyReport, namespace: &str, changed: &str) -> Result<()> {
    let place = format!("namespace {namespace}");
    let mut text = table_text(report, &Scope::Namespace(namespace.to_string()), false);
    if report.workloads.is_empty() {
        text = text.replacen(
            &format!("No workloads found in {place}.\n"),
            &format!("No workload in {place} reads {changed}: nothing to verify.\n"),
            1,
        );
    }
    write_stdout(&text)
}

fn table_text(report: &VerifyReport, scope: &Scope, wide: bool) -> String {
    let show_namespace = matches!(scope, Scope::AllNamespaces);
    let (headers, rows, footer) = table_parts(report, show_namespace, wide, &scope.describe());
    let mut text = String::new();
    if !rows.is_empty() {
        let mut table = table(&headers);
        for row in rows {
            table.add_row(row);
        }
        text.push_str(&super::table_lines(&table));
    }
    text.push_str(&footer);
    text
}

/// verify across contexts: one table with a CONTEXT column, or a FleetReport document.
pub fn fleet(report: &FleetReport<VerifyReport>, output: OutputFormat, show_namespace: bool) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("FleetReport", report, output)
        }
        OutputFormat::Table | OutputFormat::Prometheus | OutputFormat::Wide | OutputFormat::Name => {
            let wide = output == OutputFormat::Wide;
            write_stdout(&super::fleet::combined(report, |r| {
                table_parts(r, show_namespace, wide, "scope")
            }))
        }
    }
}

struct Row {
    status: Status,
    secret: String,
    target: String,
    evidence: String,
    pod: String,
    container: String,
    detail: String,
}

fn target(finding: &Finding) -> String {
    match (&finding.key, finding.targets.as_slice()) {
        (_, [one]) if finding.key.as_deref().is_none_or(|k| k == one) => one.clone(),
        (Some(key), []) => key.clone(),
        (Some(key), targets) => format!("{} (key {key})", targets.join(", ")),
        (None, targets) => targets.join(", "),
    }
}

fn row(finding: &Finding) -> Row {
    Row {
        status: finding.status,
        secret: finding.secret.clone(),
        target: target(finding),
        evidence: finding.evidence.map(|e| e.as_str().to_string()).unwrap_or_default(),
        pod: finding.pod.clone(),
        container: finding.container.clone(),
        detail: finding.detail.clone(),
    }
}

/// Wide: every finding, ok ones included. Narrow: problems only, the per-pod stale and ok
/// checks folded into one row per Secret and container.
fn rows(workload: &WorkloadReport, wide: bool) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    if wide {
        rows.extend(workload.findings.iter().map(row));
    } else {
        rows.extend(
            workload
                .findings
                .iter()
                .filter(|f| f.pod.is_empty() && f.status != Status::Ok)
                .map(row),
        );
        let mut per_secret: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
        for f in workload.findings.iter().filter(|f| !f.pod.is_empty()) {
            per_secret
                .entry((f.secret.as_str(), f.container.as_str()))
                .or_default()
                .push(f);
        }
        for ((_, container), checks) in per_secret {
            let stale: Vec<&&Finding> = checks.iter().filter(|f| f.status == Status::Stale).collect();
            let Some(first) = stale.first() else { continue };
            let mut folded = row(first);
            folded.detail = format!(
                "{} of {}: {} (container {container}): {}",
                stale.len(),
                plural(checks.len(), "pod"),
                first_few(stale.iter().map(|f| f.pod.as_str())),
                first.detail
            );
            rows.push(folded);
        }
    }
    if rows.is_empty() {
        let mut auto = String::new();
        let (vault, volumes): (Vec<&str>, Vec<&str>) = workload
            .auto_updating
            .iter()
            .map(String::as_str)
            .partition(|name| name.starts_with("vault:"));
        if !volumes.is_empty() {
            auto = format!("; auto-updating volume: {}", volumes.join(", "));
        }
        if !vault.is_empty() {
            auto.push_str(&format!(
                "; re-rendered by the Vault Agent sidecar: {} (an app that reads the file only at start keeps the old value)",
                vault.join(", ")
            ));
        }
        // The Secrets it reads, so an ok row answers "which Secret?" too.
        let secrets: std::collections::BTreeSet<&str> = workload
            .findings
            .iter()
            .map(|f| f.secret.as_str())
            .chain(workload.auto_updating.iter().map(String::as_str))
            .collect();
        rows.push(Row {
            status: workload.status,
            secret: secrets.into_iter().collect::<Vec<_>>().join(", "),
            target: String::new(),
            evidence: weakest_evidence(workload),
            pod: String::new(),
            container: String::new(),
            detail: match &workload.schedule {
                Some(schedule) => next_run(schedule),
                None => format!(
                    "{}, {} checked{auto}",
                    plural(workload.pods, "pod"),
                    plural(workload.containers_checked, "running container")
                ),
            },
        });
    }
    rows
}

/// "2 unknown, " where there are any (the summary reads as before otherwise).
fn unknown_count(unknown: usize) -> String {
    match unknown {
        0 => String::new(),
        n => format!("{n} unknown, "),
    }
}

/// "pod-a, pod-b, pod-c, +4": the first few names, then how many more.
fn first_few<'a>(names: impl Iterator<Item = &'a str>) -> String {
    const SHOWN: usize = 3;
    let names: Vec<&str> = names.collect();
    let mut text = names.iter().take(SHOWN).copied().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(", +{}", names.len() - SHOWN));
    }
    text
}

/// A CronJob's row: its Jobs' pods are judged as Jobs; its next run starts with current values.
fn next_run(schedule: &CronSchedule) -> String {
    match (&schedule.next_run, schedule.suspended, &schedule.problem) {
        (_, true, _) => format!(
            "suspended ({}): its next run will read the values current then",
            schedule.schedule
        ),
        (Some(at), _, _) => format!("next run {at} ({}) reads the current values", schedule.schedule),
        (None, _, Some(problem)) => format!(
            "its next run reads the current values (when: {})",
            super::clean(problem)
        ),
        (None, _, None) => "its next run reads the current values".into(),
    }
}

/// For an all-ok workload: the weakest evidence among its checks (what the "ok" rests on).
fn weakest_evidence(workload: &WorkloadReport) -> String {
    workload
        .findings
        .iter()
        .filter_map(|f| f.evidence)
        .max()
        .map(|e| e.as_str().to_string())
        .unwrap_or_default()
}

/// What `verify --fix` will do, on stderr (stdout keeps the report).
/// verify --fix's plan, on stdout like rotate's (with --dry-run it is the answer), except
/// beside a JSON or YAML report.
pub fn fix_plan(plan: &FixPlan, output: OutputFormat) -> Result<()> {
    let mut text = String::new();
    if plan.restart.is_empty() && plan.by_hand.is_empty() {
        text.push_str("Nothing to fix: no workload runs with stale values.\n");
    }
    if !plan.restart.is_empty() {
        let names: Vec<String> = plan
            .restart
            .iter()
            .map(|t| format!("{}/{}", t.id.namespace, t.id))
            .collect();
        text.push_str(&format!(
            "Fix: restart {} ({}), wait for the rollouts, verify again.\n",
            plural(names.len(), "workload"),
            names.join(", ")
        ));
    }
    for id in &plan.by_hand {
        if id.kind == WorkloadKind::Job {
            text.push_str(&format!(
                "Not restarted: {}/{id} is a Job: its running pods keep the old values until they finish (the next Job reads the new ones).\n",
                id.namespace
            ));
        } else {
            text.push_str(&format!(
                "Not restarted: {}/{id} is a {}; delete its pods to pick up the change.\n",
                id.namespace,
                id.kind.as_str()
            ));
        }
    }
    // Beside a JSON or YAML report, stdout stays one document.
    if matches!(
        output,
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns
    ) {
        super::write_stderr(&super::for_cluster(&text));
        Ok(())
    } else {
        write_stdout(&super::for_cluster(&text))
    }
}

/// `verify --watch`: each new verdict shown as it comes. On a terminal the table is redrawn in
/// place, the rows that changed in bold; elsewhere the first table, then a line per changed row
/// (JSON/YAML: one report per change).
pub struct WatchView {
    output: OutputFormat,
    scope: Scope,
    terminal: bool,
    /// Each row shown last (its key → status, evidence and detail).
    shown: Option<BTreeMap<String, (Status, String)>>,
}

impl WatchView {
    pub fn new(output: OutputFormat, scope: Scope) -> Self {
        let table = matches!(output, OutputFormat::Table | OutputFormat::Wide);
        WatchView {
            output,
            scope,
            terminal: table && std::io::stdout().is_terminal(),
            shown: None,
        }
    }

    /// Show `report` when a row differs from what was shown (always the first time).
    pub fn show(&mut self, report: &VerifyReport, at: jiff::Timestamp) -> Result<()> {
        let wide = self.output == OutputFormat::Wide;
        let show_namespace = matches!(self.scope, Scope::AllNamespaces);
        let keyed = keyed_rows(report, wide, show_namespace);
        let now: BTreeMap<String, (Status, String)> = keyed.iter().cloned().collect();
        let first = self.shown.is_none();
        let previous = self.shown.replace(now.clone()).unwrap_or_default();
        let changed: Vec<&String> = now
            .keys()
            .chain(previous.keys())
            .filter(|k| now.get(*k) != previous.get(*k))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !first && changed.is_empty() {
            return Ok(());
        }
        let at = jiff::Timestamp::from_second(at.as_second()).unwrap_or(at);
        let time = at.strftime("%H:%M:%S");
        match self.output {
            OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
                if !first && self.output == OutputFormat::Yaml {
                    write_stdout("---\n")?;
                }
                print_document("VerifyReport", report, self.output)
            }
            _ if self.terminal => {
                let (headers, rows, footer) = table_parts(report, show_namespace, wide, &self.scope.describe());
                let mut table = table(&headers);
                for ((key, _), row) in keyed.iter().zip(rows) {
                    let bold = !first && changed.contains(&key);
                    table.add_row(if bold {
                        row.into_iter()
                            .map(|c| c.add_attribute(comfy_table::Attribute::Bold))
                            .collect()
                    } else {
                        row
                    });
                }
                let mut text = String::from("\x1b[H\x1b[2J");
                text.push_str(&format!(
                    "Watching {} (Ctrl-C stops): {}\n\n",
                    self.scope.describe(),
                    if first {
                        format!("as of {time}")
                    } else {
                        format!("last change at {time}, {}", plural(changed.len(), "row"))
                    }
                ));
                if !keyed.is_empty() {
                    text.push_str(&super::table_lines(&table));
                }
                text.push_str(&footer);
                write_stdout(&text)
            }
            _ if first => write_stdout(&table_text(report, &self.scope, wide)),
            _ => {
                let mut text = String::new();
                for key in changed {
                    let was = previous.get(key).map_or("absent", |(s, _)| s.as_str());
                    let (is, detail) = now
                        .get(key)
                        .map_or(("gone", String::new()), |(s, d)| (s.as_str(), d.clone()));
                    text.push_str(&format!("{at}  {key}: {was} -> {is}{detail}\n"));
                }
                let s = &report.summary;
                text.push_str(&format!(
                    "{at}  now: {} ok, {}{} stale, {} missing, {} shadowed\n",
                    s.ok,
                    unknown_count(s.unknown),
                    s.stale,
                    s.missing,
                    s.shadowed
                ));
                write_stdout(&text)
            }
        }
    }
}

/// The table's rows in order, each with a key naming it (workload, Secret, env or key, pod,
/// container) and what it says (status; evidence and detail).
fn keyed_rows(report: &VerifyReport, wide: bool, show_namespace: bool) -> Vec<(String, (Status, String))> {
    let mut keyed = Vec::new();
    for workload in &report.workloads {
        for row in rows(workload, wide) {
            let mut key = format!("{}/{}", workload.kind.as_str().to_lowercase(), workload.name);
            if show_namespace {
                key = format!("{}/{key}", workload.namespace);
            }
            // A row is the workload's and the Secret's (wide: also the env or key, pod and
            // container); the default view's stale row names a sample pod, which is no key.
            let parts = if wide {
                vec![&row.secret, &row.target, &row.pod, &row.container]
            } else {
                vec![&row.secret]
            };
            for part in parts.into_iter().filter(|p| !p.is_empty()) {
                key.push(' ');
                key.push_str(part);
            }
            // Two rows of one workload and Secret (a missing key beside stale pods): told
            // apart by what they name.
            if keyed.iter().any(|(k, _)| k == &key) {
                key.push_str(&format!(" {}", row.target));
            }
            let said = if row.detail.is_empty() {
                String::new()
            } else {
                format!(" ({}; {})", row.evidence, row.detail)
            };
            keyed.push((key, (row.status, said)));
        }
    }
    keyed
}
