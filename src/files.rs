//! Every file and stream the tool reads, and every file it writes: one place for the rules.
//! Reads are bounded (an endless stream is refused, never waited on; a named pipe or a device
//! such as /dev/urandom is refused before it is opened) and name
//! the source and the OS error (exit 12). Writes go through a temporary file created
//! exclusively in the target's folder (a symlink planted there is never followed), keep the
//! replaced file's mode (0600 for key material), are synced, then renamed over the target.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The most any input may hold: far above a Secret (1 MiB) or a folder's SealedSecret file,
/// far below what could exhaust memory.
pub const MAX_INPUT: u64 = 8 * 1024 * 1024;

/// The bytes of a file; `what` says what it was for ("the certificate", "the new value of TOKEN").
pub fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    let source = path.display().to_string();
    regular_or_own_stream(path, &source, what)?;
    let file = std::fs::File::open(path).map_err(|e| unreadable(&source, what, &e))?;
    bounded(file, &source, what)
}

/// Before opening: a regular file, or a stream this process already holds (`/dev/stdin`, a
/// shell's `<(command)` as `/dev/fd/N`). A named pipe would block the open until someone
/// writes to it (forever), and a device (`/dev/urandom`, a tty) is no file of values: both are
/// refused without being opened.
fn regular_or_own_stream(path: &Path, source: &str, what: &str) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| unreadable(source, what, &e))?;
    if meta.is_file() {
        return Ok(());
    }
    let own = ["/dev/fd/", "/proc/self/fd/"].iter().any(|p| source.starts_with(p)) || source == "/dev/stdin";
    if own && !meta.is_dir() {
        return Ok(());
    }
    let kind = if meta.is_dir() {
        "a folder"
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            let t = meta.file_type();
            if t.is_fifo() {
                "a named pipe (opening it waits for a writer)"
            } else if t.is_char_device() || t.is_block_device() {
                "a device"
            } else {
                "not a regular file"
            }
        }
        #[cfg(not(unix))]
        {
            "not a regular file"
        }
    };
    Err(Error::InputFile {
        path: described(source, what),
        reason: format!("{kind}: give a file, or pipe the value in (--from-stdin, or <(command))"),
    })
}

/// A text file (UTF-8).
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read(path, what)?;
    String::from_utf8(bytes).map_err(|_| Error::InputFile {
        path: described(&path.display().to_string(), what),
        reason: "not UTF-8 text".into(),
    })
}

/// Everything on standard input.
pub fn read_stdin(what: &str) -> Result<Vec<u8>> {
    bounded(std::io::stdin().lock(), "standard input", what)
}

/// At most MAX_INPUT bytes of `reader`, or an error saying the limit.
pub fn bounded(reader: impl std::io::Read, source: &str, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader
        .take(MAX_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(source, what, &e))?;
    if bytes.len() as u64 > MAX_INPUT {
        return Err(Error::InputFile {
            path: described(source, what),
            reason: format!(
                "larger than {} MiB, the most kubectl-secrets reads (is it the right file, or an endless stream?)",
                MAX_INPUT / (1024 * 1024)
            ),
        });
    }
    Ok(bytes)
}

fn described(source: &str, what: &str) -> String {
    if what.is_empty() {
        source.to_string()
    } else {
        format!("{source} ({what})")
    }
}

fn unreadable(source: &str, what: &str, error: &std::io::Error) -> Error {
    Error::InputFile {
        path: described(source, what),
        reason: error.to_string(),
    }
}

/// A file a command writes for the user: nothing on --dry-run (said on stderr).
pub fn write_output(path: &Path, contents: &[u8], access: Access, dry_run: bool) -> Result<()> {
    if dry_run {
        crate::render::step(&format!("Dry run: {} was not written.", path.display()));
        return Ok(());
    }
    write_atomically(path, contents, access)
}

/// Who may read a file the tool writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The mode of the file it replaces, else the usual one (0644 less the umask).
    AsBefore,
    /// 0600 from the first byte: private keys, whatever the file had before.
    Private,
}

/// Write `contents` to `path` atomically: a reader sees the old file or the new one, never half
/// of one, and nothing outside the target's folder is ever written.
pub fn write_atomically(path: &Path, contents: &[u8], access: Access) -> Result<()> {
    let failed = |e: std::io::Error| Error::Output(format!("cannot write {}: {e}", path.display()));
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::Output(format!("cannot write {}: not a file name", path.display())))?;
    let temporary = folder.join(format!(
        ".{}.{}.kubectl-secrets.tmp",
        name.to_string_lossy(),
        hex::encode(rand::random::<[u8; 6]>())
    ));
    let result = write_new(&temporary, contents, mode_for(path, access))
        .and_then(|_| std::fs::rename(&temporary, path))
        .and_then(|_| sync_folder(&folder));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.map_err(failed)
}

/// The mode the new file gets (None: the platform's default).
fn mode_for(path: &Path, access: Access) -> Option<u32> {
    match access {
        Access::Private => Some(0o600),
        Access::AsBefore => {
            // The file replaced, not what a symlink there points to.
            let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                Some(meta.permissions().mode() & 0o7777)
            }
            #[cfg(not(unix))]
            {
                let _ = meta;
                None
            }
        }
    }
}

/// A file that must not exist yet (O_CREAT|O_EXCL: a symlink at that name is not followed).
fn write_new(path: &Path, contents: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(mode.unwrap_or(0o644));
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        // The umask may have taken bits away: the replaced file's mode is kept exactly.
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.write_all(contents)?;
    file.sync_all()
}

/// The rename is durable only once the folder itself is synced.
fn sync_folder(folder: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_atomically_keep_the_mode_and_never_follow_a_planted_symlink() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sealed.yaml");
        std::fs::write(&target, "old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
        // The name the previous writer used, planted as a symlink to a file outside.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, target.with_extension("kubectl-secrets.tmp")).unwrap();

        write_atomically(&target, b"new", Access::AsBefore).unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");

        // A symlink at the target itself is replaced, not written through.
        let link = dir.path().join("keys.yaml");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_atomically(&link, b"private", Access::Private).unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        let meta = std::fs::symlink_metadata(&link).unwrap();
        assert!(meta.is_file() && meta.permissions().mode() & 0o777 == 0o600);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".kubectl-secrets.tmp"))
            .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
            .collect();
        assert!(left.is_empty(), "no temporary file left behind");
    }

    #[test]
    fn reads_are_bounded() {
        let endless = std::io::repeat(b'y');
        let err = bounded(endless, "standard input", "the new value of TOKEN").unwrap_err();
        assert!(err.to_string().contains("larger than 8 MiB"), "{err}");
        assert_eq!(err.exit_code(), crate::error::exit::INPUT);
        assert_eq!(bounded(&b"small"[..], "x", "").unwrap(), b"small");
    }
}
