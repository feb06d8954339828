//! `seal`: a Secret (from a manifest or built from flags) encrypted into a SealedSecret, in
//! kubeseal's exact format, printed or merged into an existing SealedSecret file.

mod edit;
pub(crate) mod upkeep;

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use serde_json::Value;

use super::Outcome;
use crate::cli::{OutputFormat, SealArgs, SealScope};
use crate::context::Context;
use crate::domain::seal::{self, Scope, SealTarget, SealingCert, SecretToSeal};
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};
use crate::render;

/// What a Secret manifest or the flags describe.
struct Input {
    name: String,
    namespace: Option<String>,
    type_: String,
    immutable: Option<bool>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    data: BTreeMap<String, SecretValue>,
}

pub async fn run(ctx: &Context, args: &SealArgs) -> Result<Outcome> {
    if !args.validate.is_empty() {
        return upkeep::validate(ctx, args).await;
    }
    if !args.re_encrypt.is_empty() {
        return upkeep::re_encrypt(ctx, args).await;
    }
    if args.edit.is_some() {
        return edit::run(ctx, args).await;
    }
    let input = match (&args.filename, args.from_secret) {
        (Some(file), _) => from_manifest(file)?,
        (None, true) => from_cluster(ctx, args).await?,
        (None, false) if args.name.is_none() && crate::prompt::interactive() => from_prompts()?,
        (None, false) => from_flags(args)?,
    };
    if args.raw && input.data.len() != 1 {
        return Err(Error::Usage(format!(
            "--raw seals exactly one value; {} given",
            input.data.len()
        )));
    }
    if !args.contexts.is_empty() {
        return for_contexts(ctx, args, &input).await;
    }
    if args.cert.len() > 1 || args.output_dir.is_some() {
        return for_certs(ctx, args, &input).await;
    }
    let namespace = namespace_of(ctx, &input).await;
    let cert = sealing_cert(ctx, args).await?;
    let scope = scope_of(args);
    render::step(&format!(
        "Sealing {} of {namespace}/{}: {}.",
        render::plural(input.data.len(), "key"),
        input.name,
        scope.explain(&namespace, &input.name)
    ));
    let doc = input.sealed(&namespace, scope, &cert)?;
    if args.raw {
        let value = doc["spec"]["encryptedData"]
            .as_object()
            .and_then(|m| m.values().next())
            .and_then(Value::as_str)
            .unwrap_or_default();
        render::write_stdout(&format!("{value}\n"))?;
        return Ok(Outcome::Clean);
    }
    match &args.merge_into {
        Some(path) => merge_into(path, &doc, &namespace, &input.name, scope, ctx.global.dry_run.any()),
        None => {
            render::print_structured(&doc, ctx.output())?;
            Ok(Outcome::Clean)
        }
    }
}

/// The namespace to seal for: -n, the manifest's, else the context's (read from the kubeconfig
/// without contacting the cluster).
async fn namespace_of(ctx: &Context, input: &Input) -> String {
    match ctx.global.namespace.clone().or(input.namespace.clone()) {
        Some(ns) => ns,
        None => ctx
            .connect()
            .await
            .map(|c| c.default_namespace)
            .unwrap_or_else(|_| "default".into()),
    }
}

impl Input {
    /// This Secret as a SealedSecret of `namespace` for the holder of `cert`.
    fn sealed(&self, namespace: &str, scope: Scope, cert: &SealingCert) -> Result<Value> {
        let to_seal = SecretToSeal {
            name: &self.name,
            namespace,
            type_: Some(&self.type_),
            immutable: self.immutable,
            labels: &self.labels,
            annotations: &self.annotations,
            data: &self.data,
        };
        seal::sealed_secret(&to_seal, scope, cert, &mut rsa::rand_core::OsRng).map_err(|e| Error::Usage(e.to_string()))
    }
}

fn scope_of(args: &SealArgs) -> Scope {
    match args.scope {
        SealScope::Strict => Scope::Strict,
        SealScope::NamespaceWide => Scope::NamespaceWide,
        SealScope::ClusterWide => Scope::ClusterWide,
    }
}

/// One copy of a run that seals for several clusters (`--contexts`, `--cert` repeated).
struct Sealed {
    target: SealTarget,
    namespace: String,
    fingerprint: String,
    doc: Value,
}

/// `--contexts`: the same input sealed for each selected cluster with that cluster's own
/// certificate, all or nothing (a cluster whose certificate cannot be had stops the run before
/// anything is written), then one multi-document YAML (a List with -o json) or a file each.
async fn for_contexts(ctx: &Context, args: &SealArgs, input: &Input) -> Result<Outcome> {
    let fleet_args = crate::cli::FleetArgs {
        contexts: args.contexts.clone(),
        all_contexts: false,
        max_clusters: 8,
        cluster_timeout: std::time::Duration::from_secs(60),
    };
    let fleet = super::fleet::selected(ctx, &fleet_args)?.expect("--contexts selects a fleet");
    let scope = scope_of(args);
    let entries = super::fleet::run(ctx, &fleet, |conn| async move {
        let (pem, source) = super::fetch_cert::certificate_of(&conn, &args.controller).await?;
        let cert = seal::parse_cert(&source, &pem).map_err(|e| Error::Usage(e.to_string()))?;
        super::fetch_cert::warn_expiry(&source, &cert);
        let namespace = ctx
            .global
            .namespace
            .clone()
            .or(input.namespace.clone())
            .unwrap_or_else(|| conn.default_namespace.clone());
        let doc = input.sealed(&namespace, scope, &cert)?;
        let sealed = Sealed {
            target: SealTarget::Context(conn.context.clone()),
            namespace,
            fingerprint: cert.fingerprint,
            doc,
        };
        Ok((sealed, Outcome::Clean))
    })
    .await;
    if entries.iter().any(|e| e.report.is_none()) {
        let failures: Vec<String> = entries
            .iter()
            .filter_map(|e| e.error.as_ref().map(|error| format!("{}: {error}", e.context)))
            .collect();
        let worst = entries.iter().map(|e| e.exit_code).max().unwrap_or(1);
        render::error(&Error::Api {
            action: "seal for every context".into(),
            message: format!(
                "nothing was written: {} (seal again once every cluster's certificate can be had, or narrow --contexts)",
                failures.join("; ")
            ),
        });
        return Ok(Outcome::Code(worst));
    }
    let copies = entries.into_iter().filter_map(|e| e.report).collect();
    write_copies(ctx, args, input, scope, copies)
}

/// `--cert` repeated (or `--output-dir` with one): the same input sealed with each certificate,
/// without contacting any controller; every certificate is read before anything is written.
async fn for_certs(ctx: &Context, args: &SealArgs, input: &Input) -> Result<Outcome> {
    if args.raw || args.merge_into.is_some() || args.cert.is_empty() {
        return Err(Error::Usage(
            "--raw and --merge-into seal one copy, and --output-dir needs the copies named: give one --cert, \
             or several --cert (or --contexts) without --raw and --merge-into"
                .into(),
        ));
    }
    let namespace = namespace_of(ctx, input).await;
    let scope = scope_of(args);
    let mut copies = Vec::new();
    for source in &args.cert {
        let cert = load_cert(source, args.allow_insecure_cert_url).await?;
        super::fetch_cert::warn_expiry(&format!("the certificate {source}"), &cert);
        copies.push(Sealed {
            target: SealTarget::Cert(source.clone()),
            namespace: namespace.clone(),
            doc: input.sealed(&namespace, scope, &cert)?,
            fingerprint: cert.fingerprint,
        });
    }
    write_copies(ctx, args, input, scope, copies)
}

/// The copies of a run that seals for several: a file each under --output-dir (two copies
/// bound for one file refused before any is written), else one multi-document YAML (a List
/// with -o json); then which certificate sealed each, on stderr.
fn write_copies(ctx: &Context, args: &SealArgs, input: &Input, scope: Scope, copies: Vec<Sealed>) -> Result<Outcome> {
    let dry_run = ctx.global.dry_run.any();
    let mut written = Vec::new();
    match &args.output_dir {
        Some(dir) => {
            let mut paths = Vec::new();
            for one in &copies {
                let template = args.output_name.as_deref().unwrap_or(one.target.default_output_name());
                let path = dir
                    .join(seal::output_name(template, &one.target, &one.namespace, &input.name).map_err(Error::Usage)?);
                if paths.contains(&path) {
                    return Err(Error::Usage(format!(
                        "two copies would be written to {}: tell them apart with --output-name (rename a certificate file, or use {{namespace}})",
                        path.display()
                    )));
                }
                paths.push(path);
            }
            for (one, path) in copies.iter().zip(&paths) {
                if let Some(parent) = path.parent().filter(|_| !dry_run) {
                    std::fs::create_dir_all(parent).map_err(|e| Error::Output(format!("{}: {e}", parent.display())))?;
                }
                let text = crate::domain::sealed_file::render(std::slice::from_ref(&one.doc), false);
                crate::files::write_output(path, text.as_bytes(), crate::files::Access::AsBefore, dry_run)?;
                written.push(path.display().to_string());
            }
        }
        None if matches!(
            ctx.output(),
            OutputFormat::Json | OutputFormat::Jsonpath | OutputFormat::CustomColumns
        ) =>
        {
            let items: Vec<&Value> = copies.iter().map(|one| &one.doc).collect();
            render::print_structured(
                &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}),
                ctx.output(),
            )?;
        }
        None => {
            let mut text = String::new();
            for one in &copies {
                if !text.is_empty() {
                    text.push_str("---\n");
                }
                text.push_str(&render::seal::copy_header(&one.target, &one.fingerprint));
                text.push_str(&crate::domain::sealed_file::render(
                    std::slice::from_ref(&one.doc),
                    false,
                ));
            }
            render::write_stdout(&text)?;
        }
    }
    render::seal::per_copy(
        &input.name,
        &copies
            .iter()
            .enumerate()
            .map(|(i, one)| render::seal::CopySealed {
                target: &one.target,
                namespace: &one.namespace,
                fingerprint: &one.fingerprint,
                file: written.get(i).map(String::as_str),
            })
            .collect::<Vec<_>>(),
        scope,
    );
    Ok(Outcome::Clean)
}

fn read_input(file: &str) -> Result<Vec<u8>> {
    if file == "-" {
        return crate::files::read_stdin("the manifest");
    }
    crate::files::read(Path::new(file), "the manifest")
}

fn from_manifest(file: &str) -> Result<Input> {
    let text = String::from_utf8(read_input(file)?).map_err(|_| Error::Usage(format!("{file}: not UTF-8 text")))?;
    // The parser's own message may quote the file: a value. Say where, not what.
    let secret: Secret = serde_saphyr::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (near line {})", l.line()))
            .unwrap_or_default();
        Error::Usage(format!("{file}: not a Secret manifest{at}"))
    })?;
    let name = secret
        .metadata
        .name
        .clone()
        .ok_or_else(|| Error::Usage(format!("{file}: the Secret has no metadata.name")))?;
    let mut data: BTreeMap<String, SecretValue> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, SecretValue::new(v.0)))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, SecretValue::new(v.into_bytes()));
    }
    Ok(Input {
        name,
        namespace: secret.metadata.namespace,
        type_: secret.type_.unwrap_or_else(|| "Opaque".into()),
        immutable: secret.immutable,
        labels: secret.metadata.labels.unwrap_or_default(),
        annotations: secret.metadata.annotations.unwrap_or_default(),
        data,
    })
}

/// Build the Secret by answering questions: a name, then keys with generated, typed or file values.
fn from_prompts() -> Result<Input> {
    use crate::domain::generate::Generator;
    use crate::prompt::{self, ValueSource};
    let name = prompt::text("Name of the Secret to seal", false)?;
    let mut data = BTreeMap::new();
    loop {
        let key = prompt::text("Key (empty to finish)", true)?;
        if key.is_empty() {
            break;
        }
        let value = match prompt::choose_source(&key, Generator::Base64(32), None)? {
            ValueSource::Generate(generator) => generator.generate(&mut rand::rng()),
            ValueSource::Typed => prompt::hidden_value(&key)?,
            ValueSource::File(path) => SecretValue::new(crate::files::read(&path, "a value")?),
        };
        data.insert(key, value);
    }
    if data.is_empty() {
        return Err(Error::Usage(format!("nothing to seal in {name}: no key given")));
    }
    Ok(Input {
        name,
        namespace: None,
        type_: "Opaque".into(),
        immutable: None,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        data,
    })
}

async fn from_cluster(ctx: &Context, args: &SealArgs) -> Result<Input> {
    super::pick::check_askable(args.name.as_deref(), "seal --from-secret")?;
    let conn = ctx.connect().await?;
    let name = super::pick::secret(ctx, &conn, args.name.as_deref(), "seal --from-secret").await?;
    let namespace = ctx.namespace(&conn);
    let secret = crate::cluster::secrets::get_object(&conn, &namespace, &name).await?;
    // The cluster's own bookkeeping does not belong in Git.
    let annotations = secret
        .metadata
        .annotations
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with(crate::domain::annotations::PREFIX) && !k.starts_with("kubectl.kubernetes.io/"))
        .collect();
    Ok(Input {
        name,
        namespace: Some(namespace),
        type_: secret.type_.unwrap_or_else(|| "Opaque".into()),
        immutable: secret.immutable,
        labels: secret.metadata.labels.unwrap_or_default(),
        annotations,
        data: secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, SecretValue::new(v.0)))
            .collect(),
    })
}

fn from_flags(args: &SealArgs) -> Result<Input> {
    let name = args.name.clone().ok_or_else(|| {
        Error::Usage(
            "give a Secret manifest with -f FILE, or a NAME with --from-literal/--from-file/--from-env-file".into(),
        )
    })?;
    let data = flag_values(args)?;
    if data.is_empty() {
        return Err(Error::Usage(format!(
            "nothing to seal in {name}: add --from-literal, --from-file or --from-env-file"
        )));
    }
    Ok(Input {
        name,
        namespace: None,
        type_: args.type_.clone(),
        immutable: None,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        data,
    })
}

/// The values of --from-literal, --from-file and --from-env-file.
pub fn flag_values(args: &SealArgs) -> Result<BTreeMap<String, SecretValue>> {
    let mut data = BTreeMap::new();
    if !args.from_literal.is_empty() {
        render::warning("--from-literal values are visible in the process list and shell history: prefer --from-file");
    }
    for spec in &args.from_literal {
        let (key, value) = spec
            .split_once('=')
            .ok_or_else(|| Error::Usage("--from-literal: use KEY=VALUE".into()))?;
        data.insert(key.to_string(), SecretValue::new(value.as_bytes().to_vec()));
    }
    for spec in &args.from_file {
        let (key, path) = match spec.split_once('=') {
            Some((key, path)) => (key.to_string(), path.to_string()),
            None => (
                Path::new(spec)
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                spec.clone(),
            ),
        };
        let bytes = crate::files::read(Path::new(&path), &format!("--from-file {key}"))?;
        data.insert(key, SecretValue::new(bytes));
    }
    for path in &args.from_env_file {
        let bytes = crate::files::read(Path::new(path), "--from-env-file")?;
        let pairs = crate::domain::env_file::parse(&bytes).map_err(|problem| {
            Error::Usage(format!(
                "{path}: {problem} (the line is not shown: it may hold a value)"
            ))
        })?;
        for (key, value) in pairs {
            if data.insert(key.clone(), value).is_some() {
                return Err(Error::Usage(format!("{path}: {key} is given twice")));
            }
        }
    }
    Ok(data)
}

/// --cert FILE|URL, else the controller's certificate (fetched, or the cached copy); expiry said.
pub async fn sealing_cert(ctx: &Context, args: &SealArgs) -> Result<SealingCert> {
    Ok(match args.cert.as_slice() {
        [source] => {
            let cert = load_cert(source, args.allow_insecure_cert_url).await?;
            super::fetch_cert::warn_expiry(&format!("the certificate {source}"), &cert);
            cert
        }
        [_, _, ..] => {
            return Err(Error::Usage(
                "this seals one file: give one --cert (several are for sealing new copies)".into(),
            ))
        }
        [] => {
            let (pem, source) = super::fetch_cert::certificate_for_seal(ctx, &args.controller).await?;
            let cert = seal::parse_cert(&source, &pem).map_err(|e| Error::Usage(e.to_string()))?;
            super::fetch_cert::warn_expiry(&source, &cert);
            cert
        }
    })
}

async fn load_cert(source: &str, allow_insecure: bool) -> Result<SealingCert> {
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        if source.starts_with("http://") && !allow_insecure {
            return Err(Error::Usage(format!(
                "--cert {source} is not https: a certificate fetched in clear text can be swapped by anyone on the \
                 path, who could then read every value sealed with it. Use an https URL or a file (kubectl secrets \
                 fetch-cert > cert.pem goes through the API server), or pass --allow-insecure-cert-url"
            )));
        }
        let url = source.to_string();
        tokio::task::spawn_blocking(move || -> std::result::Result<Vec<u8>, String> {
            // The system's trust store (a company CA works); https only, redirects included,
            // unless http was allowed; bounded in time.
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                .build();
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .tls_config(tls)
                .https_only(!allow_insecure)
                .timeout_connect(Some(std::time::Duration::from_secs(10)))
                .timeout_global(Some(std::time::Duration::from_secs(30)))
                .build()
                .into();
            let mut response = agent.get(&url).call().map_err(|e| e.to_string())?;
            response
                .body_mut()
                .with_config()
                .limit(crate::files::MAX_INPUT)
                .read_to_vec()
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| Error::Usage(e.to_string()))?
        .map_err(|e| Error::Usage(format!("cannot fetch the certificate from {source}: {e} (check the URL, or save it to a file and pass --cert FILE)")))?
    } else {
        crate::files::read(Path::new(source), "the certificate")?
    };
    seal::parse_cert(source, &bytes).map_err(|e| Error::Usage(e.to_string()))
}

/// Put the new encryptedData keys into an existing SealedSecret file, keeping its other keys
/// and its format (JSON stays JSON, YAML stays YAML).
fn merge_into(path: &Path, doc: &Value, namespace: &str, name: &str, scope: Scope, dry_run: bool) -> Result<Outcome> {
    let display = path.display().to_string();
    let text = crate::files::read_text(path, "the SealedSecret file")?;
    let is_json = text.trim_start().starts_with('{');
    let mut existing: Value =
        serde_saphyr::from_str(&text).map_err(|_| Error::Usage(format!("{display}: not a SealedSecret manifest")))?;
    if existing["kind"] != "SealedSecret" {
        return Err(Error::Usage(format!(
            "{display}: not a SealedSecret (kind: {})",
            existing["kind"]
        )));
    }
    let (their_ns, their_name) = (
        existing["metadata"]["namespace"].as_str().unwrap_or(""),
        existing["metadata"]["name"].as_str().unwrap_or(""),
    );
    if (scope == Scope::Strict && their_name != name)
        || (scope != Scope::ClusterWide && their_ns != namespace)
        || Scope::of_manifest(&existing) != scope
    {
        let their_scope = Scope::of_manifest(&existing);
        return Err(Error::Usage(format!(
            "{display} is {their_ns}/{their_name} with scope {their_scope:?}; the new keys were sealed for {namespace}/{name} \
             with scope {scope:?}: pass the same -n, name and --scope so the controller can unseal them together"
        )));
    }
    let new_keys = doc["spec"]["encryptedData"].as_object().cloned().unwrap_or_default();
    let names: Vec<String> = new_keys.keys().cloned().collect();
    let target = existing["spec"]["encryptedData"]
        .as_object_mut()
        .ok_or_else(|| Error::Usage(format!("{display}: no spec.encryptedData")))?;
    target.extend(new_keys);
    let out = if is_json {
        serde_json::to_string_pretty(&existing).map_err(|e| Error::Output(e.to_string()))? + "\n"
    } else {
        crate::domain::manifest::to_yaml(&existing).map_err(Error::Output)?
    };
    crate::files::write_output(path, out.as_bytes(), crate::files::Access::AsBefore, dry_run)?;
    if !dry_run {
        render::step(&format!("Updated {display}: {}.", names.join(", ")));
    }
    Ok(Outcome::Clean)
}
