//! Output of `seal --validate` and `seal --re-encrypt` (one row per SealedSecret of each file),
//! and the summary of a seal for several clusters or certificates.

use std::path::Path;

use comfy_table::{Cell, Color};
use serde::Serialize;

use super::{coloured, print_document, table, table_lines, write_stdout};
use crate::cli::OutputFormat;
use crate::domain::seal::SealTarget;
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
    if matches!(
        output,
        OutputFormat::Json | OutputFormat::Yaml | OutputFormat::Jsonpath | OutputFormat::CustomColumns
    ) {
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

/// One copy of `seal --contexts` or `seal --cert A --cert B`, for the summary.
pub struct CopySealed<'a> {
    pub target: &'a SealTarget,
    pub namespace: &'a str,
    pub fingerprint: &'a str,
    /// Where it was written (None: stdout).
    pub file: Option<&'a str>,
}

/// What a copy was sealed for, as the user named it (cleaned: a context name comes from a file).
fn target_name(target: &SealTarget) -> String {
    match target {
        SealTarget::Context(context) => super::clean_line(context),
        SealTarget::Cert(source) => super::clean_line(source),
    }
}

/// The comment above each copy in the multi-document YAML on stdout.
pub fn copy_header(target: &SealTarget, fingerprint: &str) -> String {
    match target {
        SealTarget::Context(_) => format!("# context {}: certificate sha256 {fingerprint}\n", target_name(target)),
        SealTarget::Cert(_) => format!("# certificate {}: sha256 {fingerprint}\n", target_name(target)),
    }
}

/// On stderr: which certificate sealed each copy, and where it went.
pub fn per_copy(name: &str, copies: &[CopySealed], scope: crate::domain::seal::Scope) {
    let heading = match copies.first().map(|c| c.target) {
        Some(SealTarget::Cert(_)) => format!("Sealed {name} with {}:", super::plural(copies.len(), "certificate")),
        _ => format!(
            "Sealed {name} for {}, each with its own cluster's certificate:",
            super::plural(copies.len(), "cluster")
        ),
    };
    super::step(&heading);
    for one in copies {
        let fingerprint = one.fingerprint.get(..16).unwrap_or(one.fingerprint);
        super::step(&format!(
            "  {}: certificate sha256 {fingerprint}…, {}{}",
            target_name(one.target),
            scope.explain(one.namespace, name),
            one.file.map(|f| format!(" -> {f}")).unwrap_or_default()
        ));
    }
}
