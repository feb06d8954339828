//! `seal --edit FILE`: add, replace or remove keys of an existing SealedSecret file without
//! the plaintext of the other keys (which nobody but the controller can read): new values are
//! sealed with the controller's certificate under the file's own scope, name and namespace.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::cli::SealArgs;
use crate::commands::Outcome;
use crate::context::Context;
use crate::domain::generate::Generator;
use crate::domain::plan::check_key_name;
use crate::domain::seal::{self, Scope};
use crate::domain::sealed_file;
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};
use crate::prompt::{self, EditAction, ValueSource};
use crate::render;

/// What the edit does: new values per key, keys to remove.
#[derive(Default)]
struct Edits {
    set: BTreeMap<String, SecretValue>,
    remove: BTreeSet<String>,
}

pub async fn run(ctx: &Context, args: &SealArgs) -> Result<Outcome> {
    let path = args.edit.as_ref().expect("--edit given");
    let display = path.display().to_string();
    let text = crate::files::read_text(path, "the SealedSecret file")?;
    let file = sealed_file::parse(&text).map_err(|e| Error::Usage(format!("{display}: {e}")))?;
    let sealed = file.sealed();
    let doc = match sealed.as_slice() {
        [one] => one,
        [] => return Err(Error::Usage(format!("{display} holds no SealedSecret"))),
        _ => {
            return Err(Error::Usage(format!(
                "{display} holds {} SealedSecrets: --edit changes a file with one",
                sealed.len()
            )))
        }
    };
    let scope = Scope::of_manifest(&doc.doc);
    let namespace = match (doc.namespace.as_str(), &ctx.global.namespace) {
        ("", Some(ns)) => ns.clone(),
        ("", None) if scope != Scope::ClusterWide => {
            return Err(Error::Usage(format!(
                "{display} has no metadata.namespace: pass -n NAMESPACE (the namespace it is applied to)"
            )))
        }
        (ns, _) => ns.to_string(),
    };
    let old = doc.encrypted_data();

    let mut edits = Edits {
        set: super::flag_values(args)?,
        remove: args.remove_key.iter().cloned().collect(),
    };
    if edits.set.is_empty() && edits.remove.is_empty() {
        if !prompt::interactive() {
            return Err(Error::Usage(
                "say what to change: --from-literal/--from-file KEY=... to add or replace, --remove-key KEY to remove (or run it in a terminal to be asked)"
                    .into(),
            ));
        }
        edits = ask(&display, &old)?;
    }
    for key in edits.set.keys() {
        check_key_name(key).map_err(Error::Usage)?;
    }
    for key in &edits.remove {
        if !old.contains_key(key) {
            return Err(Error::Usage(format!(
                "{display} has no key {key} to remove (its keys: {})",
                old.keys().cloned().collect::<Vec<_>>().join(", ")
            )));
        }
        if edits.set.contains_key(key) {
            return Err(Error::Usage(format!("{key} is both set and removed")));
        }
    }
    if edits.set.is_empty() && edits.remove.is_empty() {
        render::step("Nothing changed.");
        return Ok(Outcome::Clean);
    }
    if old.len() == edits.remove.len() && edits.set.is_empty() {
        return Err(Error::Usage(format!(
            "removing every key would leave {display} empty: delete the file instead"
        )));
    }

    let cert = super::sealing_cert(ctx, args).await?;
    let mut new: Map<String, Value> = old.clone();
    new.retain(|k, _| !edits.remove.contains(k));
    let mut rng = rsa::rand_core::OsRng;
    for (key, value) in &edits.set {
        let sealed = seal::seal_value(&cert, scope, &namespace, &doc.name, value, &mut rng)
            .map_err(|e| Error::Usage(e.to_string()))?;
        new.insert(key.clone(), Value::String(sealed));
    }
    let updated = file.with_encrypted_data(0, &new);
    crate::files::write_output(
        path,
        updated.text.as_bytes(),
        crate::files::Access::AsBefore,
        ctx.global.dry_run.any(),
    )?;

    let (added, replaced): (Vec<&String>, Vec<&String>) = edits.set.keys().partition(|k| !old.contains_key(*k));
    let list = |keys: Vec<&String>| keys.into_iter().cloned().collect::<Vec<_>>().join(", ");
    let mut said = Vec::new();
    for (verb, keys) in [
        ("added", list(added)),
        ("replaced", list(replaced)),
        ("removed", list(edits.remove.iter().collect())),
    ] {
        if !keys.is_empty() {
            said.push(format!("{verb} {keys}"));
        }
    }
    render::step(&format!(
        "Updated {display} ({namespace}/{}, {}): {}. Commit and apply it; the controller unseals the new keys.",
        doc.name,
        scope.explain(&namespace, &doc.name),
        said.join("; ")
    ));
    Ok(Outcome::Clean)
}

/// The interactive editor: a menu until "save".
fn ask(display: &str, old: &Map<String, Value>) -> Result<Edits> {
    let mut edits = Edits::default();
    let mut rng = rand::rng();
    loop {
        let mut keys: Vec<String> = old.keys().filter(|k| !edits.remove.contains(*k)).cloned().collect();
        keys.extend(edits.set.keys().filter(|k| !old.contains_key(*k)).cloned());
        keys.sort();
        match prompt::edit_action(display, &keys)? {
            EditAction::Save => return Ok(edits),
            EditAction::Quit => return Ok(Edits::default()),
            EditAction::Remove(key) => {
                edits.set.remove(&key);
                if old.contains_key(&key) {
                    edits.remove.insert(key);
                }
            }
            EditAction::Set(key) => {
                check_key_name(&key).map_err(Error::Usage)?;
                let value = match prompt::choose_source(&key, Generator::Base64(32), None)? {
                    ValueSource::Generate(generator) => generator.generate(&mut rng),
                    ValueSource::Typed => prompt::hidden_value(&key)?,
                    ValueSource::File(path) => SecretValue::new(crate::files::read(&path, "a new value")?),
                };
                edits.remove.remove(&key);
                edits.set.insert(key, value);
            }
        }
    }
}
