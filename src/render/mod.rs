//! Every byte the user sees. Data goes to stdout; progress, warnings and errors to stderr.
//! Colours and tables follow the terminal: NO_COLOR or a pipe turns colours off.

pub mod audit;
pub mod columns;
pub mod diff;
pub mod fleet;
pub mod history;
pub mod jsonpath;
pub mod list;
pub mod progress;
pub mod rotate;
pub mod seal;
pub mod verify;

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use comfy_table::{presets, Cell, Color, ContentArrangement, Table};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::{Error, Result};

/// Whether table lines may be cut to the terminal's width: not under `-o wide` (kubectl's rule:
/// wide and piped output are whole).
static MAY_CUT: OnceLock<bool> = OnceLock::new();
/// --no-headers: tables print their rows only.
static NO_HEADERS: OnceLock<bool> = OnceLock::new();
/// The `-o jsonpath` template, when that is the output.
static JSONPATH: OnceLock<jsonpath::Template> = OnceLock::new();
/// The `-o custom-columns` columns, when that is the output.
static COLUMNS: OnceLock<columns::Columns> = OnceLock::new();

/// Decide once, at start-up, whether colours are allowed on each stream (never with NO_COLOR
/// or TERM=dumb) and whether tables may be cut to the terminal's width.
pub fn init_terminal(output: &crate::cli::Output, no_headers: bool) {
    let _ = NO_HEADERS.set(no_headers);
    if let Some(template) = output
        .jsonpath
        .as_deref()
        .and_then(|t| jsonpath::Template::parse(t).ok())
    {
        let _ = JSONPATH.set(template);
    }
    if let Some(columns) = &output.columns {
        let _ = COLUMNS.set(columns.clone());
    }
    let output = output.format;
    let no_color =
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) || std::env::var("TERM").is_ok_and(|t| t == "dumb");
    console::set_colors_enabled(!no_color && std::io::stdout().is_terminal());
    console::set_colors_enabled_stderr(!no_color && std::io::stderr().is_terminal());
    let _ = MAY_CUT.set(output != OutputFormat::Wide);
}

/// The width table lines are cut to: the terminal's, read when the table is printed.
fn cut_to() -> Option<usize> {
    if !MAY_CUT.get().copied().unwrap_or(false) || !std::io::stdout().is_terminal() {
        return None;
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_, columns)| usize::from(columns))
        .filter(|&columns| columns >= 40)
}

/// A kubectl-like table: no borders, upper-case headers, a cell never wrapped (a name broken
/// over two lines cannot be copied); on a terminal, lines are cut to its width instead.
pub fn table(headers: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled);
    if !NO_HEADERS.get().copied().unwrap_or(false) {
        table.set_header(headers.iter().map(Cell::new));
    }
    if !std::io::stdout().is_terminal() {
        table.force_no_tty();
    }
    table
}

/// The table as text, kubectl-style: no padding at the line ends. On a terminal (not `-o
/// wide`) a line longer than the terminal is cut with '…': the identity columns come first, so
/// what is cut is the prose at the end; `-o wide` or a pipe shows it whole.
pub fn table_lines(table: &Table) -> String {
    let cut_to = cut_to();
    table
        .lines()
        .map(|line| {
            let line = line.strip_prefix(' ').unwrap_or(&line).trim_end().to_string();
            match cut_to {
                Some(width) => format!("{}\n", console::truncate_str(&line, width, "…")),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// "1 pod", "3 pods".
pub fn plural(count: usize, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// A cell coloured only when colours are on.
pub fn coloured(text: &str, color: Color) -> Cell {
    let cell = Cell::new(text);
    if console::colors_enabled() {
        cell.fg(color)
    } else {
        cell
    }
}

/// A kubectl-secrets document: `apiVersion`, `kind`, then the body's fields (docs/output.md).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a, T: Serialize> {
    api_version: &'static str,
    kind: &'static str,
    #[serde(flatten)]
    body: &'a T,
}

/// Print a document as JSON, or YAML (callers print tables themselves).
pub fn print_document<T: Serialize>(kind: &'static str, body: &T, output: crate::cli::OutputFormat) -> Result<()> {
    let doc = Document {
        api_version: "kubectl-secrets.io/v1",
        kind,
        body,
    };
    print_structured(&doc, output)
}

/// JSON, YAML, or the `-o jsonpath` template or `-o custom-columns` table applied to the JSON
/// document.
pub fn print_structured<T: Serialize>(value: &T, output: crate::cli::OutputFormat) -> Result<()> {
    match output {
        crate::cli::OutputFormat::Json => print_json(value),
        crate::cli::OutputFormat::Jsonpath => {
            let template = JSONPATH.get().expect("-o jsonpath is parsed with its template");
            let document = serde_json::to_value(value).map_err(|e| Error::Output(e.to_string()))?;
            write_streamed(|out| out.write_all(template.render(&document).as_bytes()))
        }
        crate::cli::OutputFormat::CustomColumns => {
            let columns = COLUMNS.get().expect("-o custom-columns is parsed with its columns");
            let document = serde_json::to_value(value).map_err(|e| Error::Output(e.to_string()))?;
            let mut t = table(&columns.headers());
            for row in columns.rows(&document) {
                t.add_row(row);
            }
            write_stdout(&table_lines(&t))
        }
        _ => print_yaml(value),
    }
}

/// JSON to stdout, streamed: a report of 20,000 pods is never held whole in memory.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    write_streamed(|out| {
        serde_json::to_writer_pretty(&mut *out, value)?;
        out.write_all(b"\n")
    })
}

/// YAML to stdout, streamed like JSON.
pub fn print_yaml<T: Serialize>(value: &T) -> Result<()> {
    write_streamed(|out| {
        let mut adapter = FmtToIo { out, failed: None };
        let written =
            serde_saphyr::to_fmt_writer_with_options(&mut adapter, value, crate::domain::manifest::yaml_options());
        match (written, adapter.failed) {
            (_, Some(io_error)) => Err(io_error),
            (Err(e), None) => Err(std::io::Error::other(e.to_string())),
            (Ok(()), None) => Ok(()),
        }
    })
}

/// The YAML serializer writes `fmt::Write`; this keeps the io error (a closed pipe) it hides.
struct FmtToIo<'a, W: Write> {
    out: &'a mut W,
    failed: Option<std::io::Error>,
}

impl<W: Write> std::fmt::Write for FmtToIo<'_, W> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.out.write_all(s.as_bytes()).map_err(|e| {
            self.failed = Some(e);
            std::fmt::Error
        })
    }
}

/// Stdout through a buffer; a closed pipe (`| head`) is not an error worth a message.
fn write_streamed(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<()> {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    match write(&mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e.to_string())),
        _ => Ok(()),
    }
}

/// Write to stdout; a closed pipe (`| head`) is not an error worth a message.
pub fn write_stdout(text: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e.to_string())),
        _ => Ok(()),
    }
}

tokio::task_local! {
    /// The cluster whose change is running in this task, when several clusters' changes run at
    /// once (`--parallel-clusters`): each line printed is then headed by its name.
    pub static CLUSTER: String;
}

/// `text` with each line headed by the task's cluster, when several run at once.
pub fn for_cluster(text: &str) -> String {
    CLUSTER
        .try_with(|cluster| {
            let cluster = clean_line(cluster);
            text.split_inclusive('\n')
                .map(|line| {
                    if line.trim().is_empty() {
                        line.to_string()
                    } else {
                        format!("[{cluster}] {line}")
                    }
                })
                .collect()
        })
        .unwrap_or_else(|_| text.to_string())
}

/// Whether this task's lines are headed by a cluster (several changes run at once).
pub fn among_clusters() -> bool {
    CLUSTER.try_with(|_| ()).is_ok()
}

/// One message on stderr, whole (so that lines of clusters running at once do not mix).
fn to_stderr(text: &str) {
    let mut text = for_cluster(text);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    write_stderr(&text);
}

/// The one way text reaches stderr. A reader that went away (`2>&1 | head`) must not stop a
/// change half-way: `eprint!` panics on a broken pipe, so write errors are ignored here (what
/// matters is on the cluster and in the exit code).
pub fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|_| err.flush());
}

/// The one way errors reach the user. Messages can quote the cluster (an API server's or a
/// controller's message, an annotation): control characters never reach the terminal.
pub fn error(error: &Error) {
    let prefix = console::style("error:").red().bold().for_stderr();
    to_stderr(&format!("{prefix} {}", clean(&error.to_string())));
}

/// A crash (a bug): where, and what to do, but never the panic's message, which could hold data.
pub fn crash(location: Option<String>) {
    let prefix = console::style("error:").red().bold().for_stderr();
    write_stderr(&format!(
        "{prefix} kubectl-secrets hit a bug{} and stopped; its message is withheld because it could contain data. \
         If a rotation was under way, `kubectl secrets rotate SECRET --resume` finishes it or `--abort` undoes it. \
         Please report the bug with this location.\n",
        location.map(|l| format!(" at {l}")).unwrap_or_default()
    ));
}

/// A warning on stderr (control characters of quoted cluster strings removed).
pub fn warning(message: &str) {
    let prefix = console::style("warning:").yellow().bold().for_stderr();
    to_stderr(&format!("{prefix} {}", clean(message)));
}

/// One line on stderr about what the tool is doing.
pub fn step(message: &str) {
    to_stderr(&clean(message));
}

/// A string from the cluster (or a file), made safe to print: control characters (escape
/// sequences that could move the cursor, rewrite the screen or set the clipboard) and the
/// invisible characters that reorder or hide text (bidi overrides such as U+202E, zero-width
/// ones) become '?'. Line breaks are kept: messages are several lines.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| if c != '\n' && unsafe_to_print(c) { '?' } else { c })
        .collect()
}

/// The same for a field that is one line (a name, an id, a key, a host): a line break in it
/// could forge a line of the tool's own output, so it becomes '?' too.
pub fn clean_line(text: &str) -> String {
    text.chars().map(|c| if unsafe_to_print(c) { '?' } else { c }).collect()
}

fn unsafe_to_print(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cleaning_rule_for_everything_from_the_cluster() {
        // OSC 52 (clipboard), CSI (cursor), a carriage return, bidi overrides and isolates,
        // zero-width characters, a line separator.
        let evil = "a\u{1b}]52;c;SGk=\u{7}b\u{1b}[2Jc\rd\u{202e}e\u{2066}f\u{200b}g\u{feff}h\u{2028}i";
        assert_eq!(clean(evil), "a?]52;c;SGk=?b?[2Jc?d?e?f?g?h?i");
        assert_eq!(clean("two\nlines"), "two\nlines", "messages keep their lines");
        assert_eq!(clean_line("forged\nerror: line"), "forged?error: line");
        assert_eq!(clean_line("naïve – ok"), "naïve – ok", "printable text is kept");
    }
}
