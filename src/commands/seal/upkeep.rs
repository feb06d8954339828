//! `seal --re-encrypt` and `seal --validate`: SealedSecret files of a GitOps repository checked
//! against, and re-encrypted by, the cluster's own controller (its /v1/verify and /v1/rotate
//! endpoints, through the API server), file by file, each file keeping its format.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::SealArgs;
use crate::cluster::sealed::Controller;
use crate::cluster::{self, Connection};
use crate::commands::Outcome;
use crate::context::Context;
use crate::domain::seal;
use crate::domain::sealed_file::{self, SealedFile};
use crate::error::{Error, Result};
use crate::render;
use crate::render::seal::FileResult;

pub async fn validate(ctx: &Context, args: &SealArgs) -> Result<Outcome> {
    let files = read_files(&args.validate)?;
    let conn = ctx.connect().await?;
    let controller = controller_of(args)?;
    let namespace = ctx.namespace(&conn);
    let mut results = Vec::new();
    for (path, file) in &files {
        for doc in file.sealed() {
            let body = serde_json::to_vec(&doc.for_controller(&namespace)).map_err(|e| Error::Output(e.to_string()))?;
            let (status, _) = cluster::sealed::call(&conn, &controller, "POST", "/v1/verify", body).await?;
            let (ok, result) = match status {
                200 => (true, "ok: the controller can decrypt it".to_string()),
                409 => (
                    false,
                    "cannot be decrypted by this cluster's controller: sealed with another cluster's key, \
                     or for another name/namespace (strict scope), or tampered with"
                        .to_string(),
                ),
                other => (
                    false,
                    format!("rejected by the controller (HTTP {other}): not a valid SealedSecret"),
                ),
            };
            results.push(FileResult::new(path, &doc.name, ok, result));
        }
    }
    render::seal::file_results(&results, ctx.output())?;
    Ok(if results.iter().all(|r| r.ok) {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

pub async fn re_encrypt(ctx: &Context, args: &SealArgs) -> Result<Outcome> {
    let files = read_files(&args.re_encrypt)?;
    let conn = ctx.connect().await?;
    let controller = controller_of(args)?;
    let namespace = ctx.namespace(&conn);
    let old_release = cluster::sealed::controller_images(&conn, &controller)
        .await
        .into_iter()
        .find(|image| seal::predates_scope_fix(image));
    if let Some(image) = old_release {
        render::warning(&format!(
            "the Sealed Secrets controller runs {image}, a release before v0.36.0, whose re-encryption can widen a \
             SealedSecret's scope (CVE-2026-22728): each answer is checked and one with another scope is not written; \
             upgrade the controller"
        ));
    }
    let mut results = Vec::new();
    for (path, file) in files {
        let mut updated = file.clone();
        let mut changed = false;
        for (index, doc) in file.sealed().iter().enumerate() {
            let input = doc.for_controller(&namespace);
            if let Some(reason) = seal::template_scope_conflict(&input) {
                results.push(FileResult::new(&path, &doc.name, false, reason));
                continue;
            }
            match reencrypted(&conn, &controller, &input).await? {
                Ok(new) if new.keys().eq(doc.encrypted_data().keys()) => {
                    updated = updated.with_encrypted_data(index, &new);
                    changed = true;
                    let keys = render::plural(new.len(), "key");
                    results.push(FileResult::new(
                        &path,
                        &doc.name,
                        true,
                        format!("re-encrypted ({keys})"),
                    ));
                }
                Ok(_) => results.push(FileResult::new(
                    &path,
                    &doc.name,
                    false,
                    "the controller returned other keys than the file has: left as it was".into(),
                )),
                Err(reason) => results.push(FileResult::new(&path, &doc.name, false, reason)),
            }
        }
        if changed {
            crate::files::write_output(
                &path,
                updated.text.as_bytes(),
                crate::files::Access::AsBefore,
                ctx.global.dry_run.any(),
            )?;
        }
    }
    render::seal::file_results(&results, ctx.output())?;
    Ok(if results.iter().all(|r| r.ok) {
        Outcome::Clean
    } else {
        Outcome::Found
    })
}

/// The encryptedData the controller's newest key gives the document, or why it could not.
async fn reencrypted(
    conn: &Connection,
    controller: &Controller,
    doc: &Value,
) -> Result<std::result::Result<serde_json::Map<String, Value>, String>> {
    let body = serde_json::to_vec(doc).map_err(|e| Error::Output(e.to_string()))?;
    let (status, answer) = cluster::sealed::call(conn, controller, "POST", "/v1/rotate", body).await?;
    if status != 200 {
        return Ok(Err(format!(
            "the controller could not decrypt it (HTTP {status}): sealed with another cluster's key, for another \
             name/namespace, or tampered with; left as it was"
        )));
    }
    let new: Value = serde_json::from_slice(&answer).map_err(|_| Error::Controller {
        step: "reading the answer of /v1/rotate".into(),
        detail: "not a SealedSecret".into(),
        fix: "check the controller's version (re-encryption needs v0.12 or later)".into(),
    })?;
    if let Some(reason) = seal::widened_by_controller(doc, &new) {
        return Ok(Err(reason));
    }
    Ok(new["spec"]["encryptedData"]
        .as_object()
        .cloned()
        .ok_or_else(|| "the controller's answer has no spec.encryptedData: left as it was".to_string()))
}

fn controller_of(args: &SealArgs) -> Result<Controller> {
    Controller::named(&args.controller.controller_namespace, &args.controller.controller_name)
}

/// Every file named, and every .yaml/.yml/.json file under the folders named, that holds at
/// least one SealedSecret. A named file that cannot be read is an error; in a folder, a file
/// that is not YAML/JSON is skipped with a warning.
fn read_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, SealedFile)>> {
    let mut found = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files = Vec::new();
            walk(path, &mut files).map_err(|e| Error::InputFile {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            files.sort();
            for file in files {
                let text = match crate::files::read_text(&file, "a SealedSecret file") {
                    Ok(text) => text,
                    Err(e) => {
                        render::warning(&format!("skipped {}: {e}", file.display()));
                        continue;
                    }
                };
                match sealed_file::parse(&text) {
                    Ok(parsed) if !parsed.sealed().is_empty() => found.push((file, parsed)),
                    Ok(_) => {}
                    Err(e) => render::warning(&format!("skipped {}: {e}", file.display())),
                }
            }
        } else {
            let display = path.display();
            let text = crate::files::read_text(path, "a SealedSecret file")?;
            let parsed = sealed_file::parse(&text).map_err(|e| Error::Usage(format!("{display}: {e}")))?;
            if parsed.sealed().is_empty() {
                return Err(Error::Usage(format!(
                    "{display} holds no SealedSecret (kind: SealedSecret, apiVersion: bitnami.com/v1alpha1)"
                )));
            }
            found.push((path.clone(), parsed));
        }
    }
    if found.is_empty() {
        return Err(Error::Usage("no SealedSecret found in the paths given".into()));
    }
    Ok(found)
}

/// The SealedSecret files under `dir`, each with the SealedSecrets it holds (`ns/name`), for a
/// picker: files that cannot be read or parsed are left out without a word.
pub(crate) fn sealed_files_under(dir: &Path) -> Vec<(PathBuf, Vec<String>)> {
    let mut files = Vec::new();
    if walk(dir, &mut files).is_err() {
        return Vec::new();
    }
    files.sort();
    files
        .into_iter()
        .filter_map(|file| {
            let text = crate::files::read_text(&file, "a SealedSecret file").ok()?;
            let parsed = sealed_file::parse(&text).ok()?;
            let names: Vec<String> = parsed
                .sealed()
                .iter()
                .map(|d| {
                    if d.namespace.is_empty() {
                        d.name.clone()
                    } else {
                        format!("{}/{}", d.namespace, d.name)
                    }
                })
                .collect();
            (!names.is_empty()).then_some((file, names))
        })
        .collect()
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        // The entry's own type: symlinks are never followed (no loops, nothing outside the tree).
        let kind = entry.file_type()?;
        if kind.is_symlink() {
            render::warning(&format!("skipped {}: a symbolic link (not followed)", path.display()));
        } else if kind.is_dir() {
            walk(&path, files)?;
        } else if kind.is_file() && matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml" | "json")) {
            files.push(path);
        }
    }
    Ok(())
}
