//! `edit`: a Secret's values decoded in the user's editor, and what they saved applied as a
//! change through the engine (plan, question, backup, checked write, restarts, verify, undo).
//! The file lives in a folder only the user can read and is removed on every exit path.

use std::path::{Path, PathBuf};

use super::Outcome;
use crate::cli::EditArgs;
use crate::cluster::{self, Connection};
use crate::context::Context;
use crate::domain::edit_file::{self, Edited};
use crate::domain::plan::{self, SecretChange, SecretState};
use crate::domain::{drift, versioned};
use crate::engine::{self, Change, Settings};
use crate::error::{Error, Result};
use crate::render;

pub async fn run(ctx: &Context, args: &EditArgs) -> Result<Outcome> {
    super::pick::check_askable(args.secret.as_deref(), "edit")?;
    let conn = ctx.connect().await?;
    let namespace = ctx.namespace(&conn);
    let name = super::pick::secret(ctx, &conn, args.secret.as_deref(), "edit").await?;
    let name = name.as_str();
    let current = cluster::secrets::get(&conn, &namespace, name).await?;
    if let Some(pending) = engine::pending(&conn, &current).await? {
        return Err(pending.in_the_way(&namespace, name, false));
    }
    refuse_owned(&current)?;
    // The question comes after the editor: without a terminal to ask it, say so before the
    // user spends time in the editor.
    if !ctx.global.yes && !ctx.global.dry_run.any() && !crate::prompt::interactive() {
        return Err(Error::NeedsYes);
    }
    let Some(edited) = edit_in_editor(&current).await? else {
        render::step("Edit cancelled, no changes made.");
        return Ok(Outcome::Clean);
    };
    let Some(change) = plan::edit_plan(&current, &edited)? else {
        render::step("Edit cancelled, no changes made.");
        return Ok(Outcome::Clean);
    };
    refuse_removing_required(&conn, &change).await?;
    let settings = Settings::new("edit", &args.change, &conn).await;
    let change = Change {
        namespace,
        secrets: vec![change],
        source: engine::Source::InPlace,
        issuers: super::rotate::issuer_flags(&args.issuer, &[name])?,
        no_issuer: args.issuer.no_issuer,
    };
    engine::apply(&conn, ctx.consent(), &settings, change).await
}

/// A Secret another controller writes changes at its source; an edit would be reverted.
fn refuse_owned(current: &SecretState) -> Result<()> {
    let (ns, name) = (&current.namespace, &current.name);
    match current.controller.as_ref() {
        Some(owner) if owner.kind == "SealedSecret" => Err(Error::Usage(format!(
            "secret {ns}/{name} is unsealed from SealedSecret {}: the controller would revert an edit. Edit its file \
             instead: kubectl secrets seal --edit FILE (or rotate {name} -n {ns} --key KEY --sealed-file FILE)",
            owner.name
        ))),
        Some(owner) if owner.kind == "ExternalSecret" => Err(Error::Usage(format!(
            "secret {ns}/{name} is synced by ExternalSecret {}: the next sync would revert an edit. Change the value at \
             its provider: kubectl secrets rotate {name} -n {ns} --key KEY (AWS Secrets Manager, Vault KV v2), or change it there \
             and run kubectl secrets rotate {name} -n {ns} --synced",
            owner.name
        ))),
        _ => match plan::managed_by_controller(current) {
            Some(reason) => Err(Error::Plan(plan::PlanError::Managed(reason))),
            None => Ok(()),
        },
    }
}

/// Removing a key a container requires (a non-optional secretKeyRef) would leave its new pods
/// in CreateContainerConfigError: refused before anything is written.
pub(crate) async fn refuse_removing_required(conn: &Connection, change: &SecretChange) -> Result<()> {
    let removed: Vec<&str> = change
        .keys
        .iter()
        .filter(|k| k.new.is_none())
        .map(|k| k.key.as_str())
        .collect();
    if removed.is_empty() {
        return Ok(());
    }
    let (snapshot, _) = engine::read_namespace(conn, &change.before.namespace).await?;
    let (specs, _) = drift::group_workloads(&snapshot);
    for key in removed {
        let users = versioned::required_by(&specs, &change.before.namespace, change.name(), key);
        if !users.is_empty() {
            return Err(Error::Plan(plan::PlanError::StillRequired {
                key: key.to_string(),
                users: users.join(", "),
            }));
        }
    }
    Ok(())
}

/// Open the decoded data in the editor until it is saved readable, unchanged or empty. None:
/// cancelled (nothing to do).
async fn edit_in_editor(
    current: &SecretState,
) -> Result<Option<std::collections::BTreeMap<String, crate::domain::secret_value::SecretValue>>> {
    let folder = private_folder()?;
    let file = folder
        .path()
        .join(format!("{}-{}.yaml", current.namespace, current.name));
    let first = edit_file::render(&current.namespace, &current.name, current.revision, &current.data, None);
    let mut offered = first.clone();
    loop {
        write_private(&file, &offered)?;
        run_editor(&file).await?;
        let saved =
            std::fs::read(&file).map_err(|e| Error::Editor(format!("cannot read the edited file back: {e}")))?;
        let Ok(saved) = String::from_utf8(saved) else {
            offered = reopened(
                "the file is not UTF-8 text (put binary values base64-encoded under data:)",
                &offered,
            );
            continue;
        };
        if saved == first {
            return Ok(None);
        }
        match edit_file::parse(&saved) {
            Ok(Edited::Empty) => return Ok(None),
            Ok(Edited::Data(data)) => return Ok(Some(data)),
            Err(_) if saved == offered => {
                return Err(Error::Editor(
                    "the file still cannot be read and was saved unchanged: nothing was changed".into(),
                ))
            }
            Err(problem) => {
                render::warning(&format!("the edited file cannot be read ({problem}); reopening it"));
                offered = reopened(&problem, &saved);
            }
        }
    }
}

/// The user's text again, with `problem` on top in place of an earlier one.
fn reopened(problem: &str, text: &str) -> String {
    let mut rest = text;
    if rest.starts_with("# The file you saved could not be read:") {
        // Drop the earlier problem, up to its closing "#" line.
        rest = rest.split_once("\n#\n").map_or(rest, |(_, after)| after);
    }
    let mut out = String::from("# The file you saved could not be read:\n");
    for line in problem.lines() {
        out.push_str(&format!("#   {line}\n"));
    }
    out.push_str("# Fix it below and save again, or empty the file to cancel.\n#\n");
    out.push_str(rest);
    out
}

/// A folder only this user can read: under $XDG_RUNTIME_DIR when there is one (per user,
/// never on disk), else the temporary folder; removed when dropped (also on Ctrl-C).
fn private_folder() -> Result<tempfile::TempDir> {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    let folder = tempfile::Builder::new()
        .prefix("kubectl-secrets-edit-")
        .tempdir_in(&base)
        .map_err(|e| Error::Editor(format!("cannot create a private folder in {}: {e}", base.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::Editor(format!("cannot make {} private: {e}", folder.path().display())))?;
    }
    Ok(folder)
}

fn write_private(file: &Path, text: &str) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options
        .open(file)
        .map_err(|e| Error::Editor(format!("cannot write {}: {e}", file.display())))?;
    std::io::Write::write_all(&mut handle, text.as_bytes())
        .map_err(|e| Error::Editor(format!("cannot write {}: {e}", file.display())))
}

/// The editor as kubectl finds it: $KUBE_EDITOR, else $EDITOR, else vi. A value with quotes
/// runs through the shell; otherwise it is split on spaces (`code --wait`).
fn editor_command(file: &Path) -> (String, tokio::process::Command) {
    let editor = ["KUBE_EDITOR", "EDITOR"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "vi".to_string());
    let mut command = if editor.contains(['"', '\'', '\\']) {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c").arg(format!("{editor} \"$1\"")).arg("sh");
        c
    } else {
        let mut words = editor.split_whitespace();
        let mut c = tokio::process::Command::new(words.next().unwrap_or("vi"));
        c.args(words);
        c
    };
    command.arg(file).kill_on_drop(true);
    (editor, command)
}

async fn run_editor(file: &Path) -> Result<()> {
    let (editor, mut command) = editor_command(file);
    let status = command.status().await.map_err(|e| {
        Error::Editor(format!(
            "cannot start the editor {editor:?}: {e} (set KUBE_EDITOR or EDITOR)"
        ))
    })?;
    // Ctrl-C reaches the editor too: its end by SIGINT is the user's interruption (exit 130),
    // whichever of the two the runtime notices first.
    use std::os::unix::process::ExitStatusExt as _;
    if status.signal() == Some(2) {
        return Err(Error::Interrupted);
    }
    if !status.success() {
        return Err(Error::Editor(format!(
            "the editor {editor:?} exited with {status}: nothing was changed"
        )));
    }
    Ok(())
}
