//! `backup-keys`: the Sealed Secrets controller's private keys, exported to a 0600 file for
//! disaster recovery, as a List that `kubectl apply -f` restores and `unseal --private-key` reads.

use std::io::IsTerminal as _;

use serde_json::{json, Value};

use super::Outcome;
use crate::cli::BackupKeysArgs;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::{cluster, render};

pub async fn run(ctx: &Context, args: &BackupKeysArgs) -> Result<Outcome> {
    let to_stdout = args.file == "-";
    if to_stdout && std::io::stdout().is_terminal() {
        return Err(Error::Usage(
            "backup-keys will not print private keys on a terminal: give a FILE (created with mode 0600), or redirect stdout"
                .into(),
        ));
    }
    let path = std::path::Path::new(&args.file);
    // A dangling symlink counts as existing too (its target would otherwise be created).
    if !to_stdout && std::fs::symlink_metadata(path).is_ok() && !args.overwrite {
        return Err(Error::Usage(format!(
            "{} exists: pass --overwrite to replace it, or choose another file",
            args.file
        )));
    }
    let conn = ctx.connect().await?;
    let namespace = &args.controller.controller_namespace;
    let secrets = cluster::sealed::key_secrets(&conn, namespace).await?;
    if secrets.is_empty() {
        return Err(Error::NotFound(format!(
            "no Secret labelled {} in namespace {namespace}: is the controller there? (--controller-namespace, SEALED_SECRETS_CONTROLLER_NAMESPACE)",
            cluster::sealed::KEY_LABEL
        )));
    }
    let items: Vec<Value> = secrets.iter().map(restorable).collect();
    let names: Vec<String> = secrets.iter().filter_map(|s| s.metadata.name.clone()).collect();
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    let text = crate::domain::manifest::to_yaml(&list).map_err(Error::Output)?;
    if to_stdout {
        render::write_stdout(&text)?;
    } else {
        // Mode 0600 from the first byte; a symlink at FILE is replaced, never written through.
        crate::files::write_output(
            path,
            text.as_bytes(),
            crate::files::Access::Private,
            ctx.global.dry_run.any(),
        )?;
    }
    render::warning(&format!(
        "{} holds {} private {} of the controller in {namespace} ({}): anyone who has it can decrypt every \
         SealedSecret sealed for this cluster. Keep it encrypted and offline; restore with `kubectl apply -f` and restart the controller.",
        if to_stdout { "the output" } else { args.file.as_str() },
        names.len(),
        if names.len() == 1 { "key" } else { "keys" },
        names.join(", ")
    ));
    Ok(Outcome::Clean)
}

/// The Secret as it can be applied to a new cluster: no uid, resourceVersion or managedFields.
fn restorable(secret: &k8s_openapi::api::core::v1::Secret) -> Value {
    let meta = &secret.metadata;
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "type": secret.type_,
        "metadata": {
            "name": meta.name,
            "namespace": meta.namespace,
            "labels": meta.labels,
            "annotations": meta.annotations,
        },
        "data": secret.data,
    })
}
