//! Output of `seal --validate` and `seal --re-encrypt`: one row per SealedSecret of each file.

use std::path::Path;

use comfy_table::{Cell, Color};
use serde::Serialize;

use super::{coloured, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::error::Result;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileResult {
    pub file: String,
    pub sealed_secret: String,
    pub ok: bool,
    pub result: String,
}

impl FileResult {
    pub fn new(path: &Path, sealed_secret: &str, ok: bool, result: String) -> Self {
        FileResult {
            file: path.display().to_string(),
            sealed_secret: sealed_secret.to_string(),
            ok,
            result,
        }
    }
}

pub fn file_results(results: &[FileResult], output: OutputFormat) -> Result<()> {
    if matches!(output, OutputFormat::Json | OutputFormat::Yaml) {
        return print_document("SealedFileReport", &serde_json::json!({"files": results}), output);
    }
    let mut t = table(&["FILE", "SEALEDSECRET", "RESULT"]);
    for r in results {
        t.add_row(vec![
            Cell::new(&r.file),
            Cell::new(&r.sealed_secret),
            if r.ok {
                Cell::new(&r.result)
            } else {
                coloured(&r.result, Color::Red)
            },
        ]);
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    let mut text = table_lines(&t);
    text.push_str(&format!(
        "\n{} of {} SealedSecrets ok, {failed} failed.\n",
        results.len() - failed,
        results.len()
    ));
    write_stdout(&text)
}

/// One cluster's SealedSecret of `seal --contexts`, for the summary.
pub struct ContextSealed<'a> {
    pub context: &'a str,
    pub namespace: &'a str,
    pub fingerprint: &'a str,
    /// Where it was written (None: stdout).
    pub file: Option<&'a str>,
}

/// On stderr: which certificate sealed each cluster's copy, and where it went.
pub fn per_context(name: &str, sealed: &[ContextSealed], scope: crate::domain::seal::Scope) {
    super::step(&format!(
        "Sealed {name} for {}, each with its own cluster's certificate:",
        super::plural(sealed.len(), "cluster")
    ));
    for one in sealed {
        let fingerprint = one.fingerprint.get(..16).unwrap_or(one.fingerprint);
        super::step(&format!(
            "  {}: certificate sha256 {fingerprint}…, {}{}",
            super::clean_line(one.context),
            scope.explain(one.namespace, name),
            one.file.map(|f| format!(" -> {f}")).unwrap_or_default()
        ));
    }
}
