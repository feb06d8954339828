//! `unseal`: offline recovery of a SealedSecret with the controller's private key(s), like
//! kubeseal --recovery-unseal. All values or nothing.

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::Outcome;
use crate::cli::UnsealArgs;
use crate::context::Context;
use crate::domain::seal;
use crate::error::{Error, Result};
use crate::render;

pub async fn run(ctx: &Context, args: &UnsealArgs) -> Result<Outcome> {
    // Like backup-keys: plaintext goes to a file or a pipe, or to a terminal only when asked.
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) && !args.show_secret {
        return Err(Error::Usage(
            "unseal prints the secret values: redirect it to a file (> secret.yaml) or a pipe, or pass --show-secret to \
             print them on this terminal"
                .into(),
        ));
    }
    let file = match &args.file {
        Some(file) => file.clone(),
        None => pick_file()?,
    };
    let display = file.display().to_string();
    let text = crate::files::read_text(&file, "the SealedSecret file")?;
    let doc: Value =
        serde_saphyr::from_str(&text).map_err(|_| Error::Usage(format!("{display}: not a YAML or JSON manifest")))?;
    if doc["kind"] != "SealedSecret" {
        return Err(Error::Usage(format!(
            "{display}: not a SealedSecret (kind: {})",
            doc["kind"]
        )));
    }
    let mut keys = Vec::new();
    for path in &args.private_key {
        let bytes = crate::files::read(path, "a private key")?;
        keys.extend(
            seal::parse_private_keys(&path.display().to_string(), &bytes).map_err(|e| Error::Usage(e.to_string()))?,
        );
    }
    let data = seal::unseal(&doc, &keys).map_err(|e| Error::Usage(format!("{display}: {e}")))?;
    let template = &doc["spec"]["template"];
    let mut metadata = json!({
        "name": doc["metadata"]["name"],
        "namespace": doc["metadata"]["namespace"],
    });
    for field in ["labels", "annotations"] {
        if let Some(map) = template["metadata"][field].as_object() {
            let kept: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| !k.starts_with("sealedsecrets.bitnami.com/"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if !kept.is_empty() {
                metadata[field] = Value::Object(kept);
            }
        }
    }
    let encoded: Map<String, Value> = data
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(v.expose())),
            )
        })
        .collect();
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "type": template["type"].as_str().unwrap_or("Opaque"), "data": encoded});
    if let Some(immutable) = template["immutable"].as_bool() {
        secret["immutable"] = json!(immutable);
    }
    // Printing the values is this command's job.
    render::print_structured(&secret, ctx.output())?;
    Ok(Outcome::Clean)
}

/// The SealedSecret file picked among those under the current folder; off a terminal, the
/// usage error naming FILE.
fn pick_file() -> Result<std::path::PathBuf> {
    if !crate::prompt::interactive() {
        return Err(Error::Usage(
            "say which file: kubectl secrets unseal FILE --private-key KEY (in a terminal, leave FILE out to pick one \
             of the SealedSecret files under this folder)"
                .into(),
        ));
    }
    let found = super::seal::upkeep::sealed_files_under(std::path::Path::new("."));
    if found.is_empty() {
        return Err(Error::Usage(
            "no SealedSecret file under this folder: kubectl secrets unseal FILE --private-key KEY".into(),
        ));
    }
    let items: Vec<String> = found
        .iter()
        .map(|(path, names)| {
            let path = path.strip_prefix(".").unwrap_or(path).display().to_string();
            render::clean_line(&format!("{path}  ({})", names.join(", ")))
        })
        .collect();
    let index = crate::prompt::pick("SealedSecret file to unseal (type to filter)", &items)?;
    Ok(found[index].0.clone())
}
