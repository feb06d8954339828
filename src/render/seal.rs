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
