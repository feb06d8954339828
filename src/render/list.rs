//! Output of `list`.

use comfy_table::{Cell, Color};

use super::{coloured, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::fleet::FleetReport;
use crate::domain::inventory::{CertificateRow, SecretList, SecretRow, VaultPathRow};
use crate::domain::vault_agent::Rendering;
use crate::error::Result;

/// list's rows; `place` ("namespace shop") is named when there are none.
pub fn rows(
    list: &SecretList,
    output: OutputFormat,
    place: &str,
    show_namespace: bool,
    with_policy: bool,
) -> Result<()> {
    let rows = list.secrets.as_slice();
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("SecretList", list, output)
        }
        OutputFormat::Prometheus => write_stdout(&prometheus(rows)),
        // As `kubectl get -o name`: one line per object, nothing else.
        OutputFormat::Name => write_stdout(&rows.iter().map(|r| format!("secret/{}\n", r.name)).collect::<String>()),
        OutputFormat::Table | OutputFormat::Wide => {
            let columns = Columns::for_rows(rows.iter(), output == OutputFormat::Wide);
            let (headers, cells, footer) = table_parts(rows, show_namespace, with_policy, columns);
            let mut text = if rows.is_empty() {
                format!("No Secrets found in {place}.\n")
            } else {
                let mut t = table(&headers);
                for row in cells {
                    t.add_row(row);
                }
                table_lines(&t)
            };
            text.push_str(&footer);
            text.push_str(&vault_lines(&list.vault_paths, show_namespace));
            write_stdout(&text)
        }
    }
}

/// "Vault paths read through Vault's Agent Injector (no Secret holds them):" and a line each.
fn vault_lines(paths: &[VaultPathRow], show_namespace: bool) -> String {
    if paths.is_empty() {
        return String::new();
    }
    let mut text =
        "\nVault paths read through Vault's Agent Injector (no Secret holds them; kubectl secrets verify judges \
                    their readers):\n"
            .to_string();
    for path in paths {
        let readers: Vec<String> = path
            .readers
            .iter()
            .map(|r| {
                let how = match r.rendering {
                    Rendering::OnceAtStart => "rendered once at start",
                    Rendering::WhileRunning => "re-rendered by the agent sidecar",
                };
                format!("{} ({}, {how})", r.workload, r.file)
            })
            .collect();
        let name = match show_namespace {
            true => format!("{}/vault:{}", path.namespace, path.path),
            false => format!("vault:{}", path.path),
        };
        text.push_str(&format!(
            "  {}: {}\n",
            super::clean(&name),
            super::clean(&readers.join(", "))
        ));
    }
    text
}

/// list across contexts: one table with a CONTEXT column (the same columns for every
/// context), or a FleetReport document.
pub fn fleet(
    report: &FleetReport<SecretList>,
    output: OutputFormat,
    show_namespace: bool,
    with_policy: bool,
) -> Result<()> {
    match output {
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns => {
            print_document("FleetReport", report, output)
        }
        // -o prometheus is refused before the clusters are asked (its metrics carry no context).
        OutputFormat::Table | OutputFormat::Wide | OutputFormat::Prometheus | OutputFormat::Name => {
            let all = report
                .contexts
                .iter()
                .flat_map(|e| e.report.iter().flat_map(|r| r.secrets.iter()));
            let columns = Columns::for_rows(all, output == OutputFormat::Wide);
            write_stdout(&super::fleet::combined(report, |r| {
                table_parts(&r.secrets, show_namespace, with_policy, columns)
            }))
        }
    }
}

/// Which optional columns the table has: certificate and sync columns only where there is
/// something to show.
#[derive(Debug, Clone, Copy)]
struct Columns {
    certificates: bool,
    external: bool,
    wide: bool,
}

impl Columns {
    fn for_rows<'a>(rows: impl Iterator<Item = &'a SecretRow> + Clone, wide: bool) -> Self {
        Columns {
            certificates: rows.clone().any(|r| r.certificate.is_some()),
            external: rows.clone().any(|r| r.external.is_some()),
            wide,
        }
    }
}

fn table_parts(
    rows: &[SecretRow],
    show_namespace: bool,
    with_policy: bool,
    columns: Columns,
) -> (Vec<&'static str>, Vec<Vec<Cell>>, String) {
    let Columns {
        certificates,
        external,
        wide,
    } = columns;
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
    if certificates {
        headers.push("CERT EXPIRES");
    }
    if external {
        headers.push("SYNCED FROM");
    }
    if wide {
        headers.push("ROTATED BY");
        headers.push("USED BY");
        if certificates {
            headers.extend(["ISSUER", "DNS NAMES", "RENEWAL"]);
        }
    }
    let mut out = Vec::new();
    for r in rows {
        let age = match (r.data_changed_at, r.age_days) {
            (Some(at), _) => age(at, jiff::Timestamp::now()),
            (None, Some(days)) => format!("{days}d"),
            (None, None) => "?".into(),
        };
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
            Cell::new(match r.used_by.len() {
                0 => r.consumers.to_string(),
                others => format!("{} (+{others})", r.consumers),
            }),
            if r.stale_consumers > 0 {
                coloured(&r.stale_consumers.to_string(), Color::Yellow)
            } else {
                Cell::new(0)
            },
        ];
        if show_namespace {
            cells.insert(0, Cell::new(&r.namespace));
        }
        if certificates {
            cells.push(expiry_cell(r.certificate.as_ref()));
        }
        if external {
            cells.push(Cell::new(super::clean(
                &r.external.as_ref().map(|e| e.describe()).unwrap_or_else(|| "-".into()),
            )));
        }
        if wide {
            cells.push(Cell::new(super::clean(r.rotated_by.as_deref().unwrap_or("-"))));
            cells.push(Cell::new(match r.used_by.is_empty() {
                true => "-".to_string(),
                false => super::clean(&r.used_by.join(", ")),
            }));
            if certificates {
                let info = r.certificate.as_ref().and_then(|c| c.info.as_ref());
                cells.push(Cell::new(super::clean(info.map(|i| i.issuer.as_str()).unwrap_or("-"))));
                cells.push(Cell::new(
                    info.map(|i| super::clean(&i.dns_names.join(",")))
                        .filter(|n| !n.is_empty())
                        .unwrap_or_else(|| "-".into()),
                ));
                cells.push(renewal_cell(r.certificate.as_ref()));
            }
        }
        out.push(cells);
    }
    let mut footer = String::new();
    if !wide && rows.iter().any(|r| !r.used_by.is_empty()) {
        footer.push_str(
            "\nCONSUMERS (+N): also used besides pods, by a cert-manager CA Issuer or as an issuer's administrator \
             credential (-o wide names them).\n",
        );
    }
    let expiring = rows
        .iter()
        .filter(|r| r.certificate.as_ref().is_some_and(|c| c.expiring))
        .count();
    if expiring > 0 {
        footer.push_str(&format!(
            "\n{} expiring soon or expired.\n",
            super::plural(expiring, "certificate")
        ));
    }
    if with_policy {
        let overdue = rows.iter().filter(|r| r.overdue).count();
        footer.push_str(&format!(
            "\n{overdue} of {} Secrets overdue for rotation.\n",
            rows.len()
        ));
    }
    (headers, out, footer)
}

fn expiry_cell(certificate: Option<&CertificateRow>) -> Cell {
    let Some(certificate) = certificate else {
        return Cell::new("-");
    };
    let text = match (certificate.days_left, &certificate.info) {
        (Some(days_left), Some(info)) if days_left < 0 => format!("expired {}", info.not_after),
        (Some(days_left), _) => format!("in {days_left}d"),
        _ => "unreadable".to_string(),
    };
    if certificate.expiring || certificate.error.is_some() {
        coloured(&text, Color::Red)
    } else {
        Cell::new(text)
    }
}

/// When cert-manager renews the certificate next, and how many times it has issued it.
fn renewal_cell(certificate: Option<&CertificateRow>) -> Cell {
    let Some(cm) = certificate.and_then(|c| c.cert_manager.as_ref()) else {
        return Cell::new("-");
    };
    let at = cm
        .renewal_time
        .map(|t| t.to_string())
        .unwrap_or_else(|| "not scheduled".into());
    let text = match cm.revision {
        Some(revision) => format!("{at} (revision {revision})"),
        None => at,
    };
    if cm.ready {
        Cell::new(text)
    } else {
        coloured(&format!("{text}, {}", super::clean(&cm.status)), Color::Red)
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
    let metrics: [Gauge; 7] = [
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
        (
            "kubectl_secrets_tls_expiry_days",
            "Whole days until the certificate in tls.crt expires (negative once expired).",
            |r| r.certificate.as_ref()?.days_left.map(|d| d as f64),
        ),
        (
            "kubectl_secrets_tls_expiration_timestamp_seconds",
            "When the certificate in tls.crt expires, like cert-manager's certificate expiration metric.",
            |r| Some(r.certificate.as_ref()?.info.as_ref()?.not_after.as_second() as f64),
        ),
        (
            "kubectl_secrets_tls_expiring",
            "1 when the certificate expires within --cert-expiry or has expired.",
            |r| r.certificate.as_ref().map(|c| if c.expiring { 1.0 } else { 0.0 }),
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

/// One line per Secret for a picker: name, type, age of its data and consumers, in columns.
pub fn picker_items(rows: &[SecretRow], now: jiff::Timestamp) -> Vec<String> {
    let width = |f: &dyn Fn(&SecretRow) -> usize| rows.iter().map(f).max().unwrap_or(0);
    let name_width = width(&|r| r.name.len());
    let type_width = width(&|r| r.type_.len());
    rows.iter()
        .map(|r| {
            let age = r.data_changed_at.map_or_else(|| "-".to_string(), |t| age(t, now));
            let readers = match r.consumers {
                0 => "no consumers".to_string(),
                n => super::plural(n, "consumer"),
            };
            format!("{:name_width$}  {:type_width$}  {age:>4}  {readers}", r.name, r.type_)
        })
        .collect()
}

/// An age as kubectl prints it: 45s, 12m, 5h, 3d (whole units, the largest that fits twice).
fn age(since: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let seconds = now.duration_since(since).as_secs().max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 120 * 60 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages_read_like_kubectls() {
        let now: jiff::Timestamp = "2026-12-05T12:00:00Z".parse().unwrap();
        let before = |seconds: i64| now - jiff::SignedDuration::from_secs(seconds);
        assert_eq!(super::age(before(45), now), "45s");
        assert_eq!(super::age(before(12 * 60), now), "12m");
        assert_eq!(super::age(before(5 * 3600), now), "5h");
        assert_eq!(super::age(before(3 * 86_400), now), "3d");
        assert_eq!(
            super::age(before(-30), now),
            "0s",
            "a clock ahead is not a negative age"
        );
    }
}
