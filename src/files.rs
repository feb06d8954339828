//! Every file and stream the tool reads, and every file it writes: one place for the rules
//! (the path and the OS error named on failure; exit 12 for input that cannot be read).

use std::io::Read as _;
use std::path::Path;

use crate::error::{Error, Result};

/// The bytes of a file; `what` says what it was for ("the certificate", "the new value of TOKEN").
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| unreadable(&path.display().to_string(), what, &e))
}

/// A text file (UTF-8).
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| unreadable(&path.display().to_string(), what, &e))
}

/// Everything on standard input.
pub fn read_stdin(what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable("standard input", what, &e))?;
    Ok(bytes)
}

fn unreadable(source: &str, what: &str, error: &std::io::Error) -> Error {
    Error::InputFile {
        path: if what.is_empty() {
            source.to_string()
        } else {
            format!("{source} ({what})")
        },
        reason: error.to_string(),
    }
}

/// Write `text` to `path` through a temporary file and a rename, so a reader never sees half a file.
pub fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("kubectl-secrets.tmp");
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| Error::Output(format!("cannot write {}: {e}", path.display())))
}
