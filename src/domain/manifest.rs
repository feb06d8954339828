//! Local files to compare a Secret with: a Secret manifest (YAML or JSON, `data` and/or
//! `stringData`), a SealedSecret (key names and scope only: values need the private key), or a
//! `.env` file. Parse errors say where, never what: the text may be a secret value.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use super::secret_value::SecretValue;

/// One side of a comparison.
#[derive(Debug, Clone, Default)]
pub struct SecretSide {
    /// "namespace/name", "file.yaml", "revision 3", ...
    pub description: String,
    pub type_: Option<String>,
    pub immutable: Option<bool>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Key → value; `None` when the value cannot be read (a SealedSecret's ciphertext).
    pub data: BTreeMap<String, Option<SecretValue>>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ManifestError {
    #[error("{file}: not a YAML or JSON manifest{}", location.map(|l| format!(" (near line {l})")).unwrap_or_default())]
    Syntax { file: String, location: Option<usize> },
    #[error("{file}: no Secret or SealedSecret in it (kind: {found})")]
    NotASecret { file: String, found: String },
    #[error("{file}: data.{key} is not valid base64 (use stringData for plain text)")]
    Base64 { file: String, key: String },
    #[error("{file}: {problem} (the line is not shown: it may hold a value)")]
    DotEnv {
        file: String,
        problem: super::env_file::EnvFileError,
    },
}

impl SecretSide {
    /// A Secret read from a cluster.
    pub fn from_secret(description: String, secret: &k8s_openapi::api::core::v1::Secret) -> Self {
        let state = super::plan::SecretState::from(secret);
        SecretSide {
            description,
            type_: Some(state.type_),
            immutable: secret.immutable,
            labels: state.labels,
            annotations: secret.metadata.annotations.clone().unwrap_or_default(),
            data: state.data.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        }
    }

    /// Values only (a backup revision: its metadata is the backup's own, not the Secret's).
    pub fn values_only(description: String, state: &super::plan::SecretState) -> Self {
        SecretSide {
            description,
            data: state.data.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect(),
            ..Default::default()
        }
    }
}

/// Parse `bytes` read from `file`. A `.env` name, or text that is no manifest, is read as dotenv.
pub fn parse(file: &str, bytes: &[u8]) -> Result<SecretSide, ManifestError> {
    let text = String::from_utf8_lossy(bytes);
    let looks_like_dotenv = file.ends_with(".env")
        || file.contains(".env.")
        || !text
            .lines()
            .any(|l| l.trim_start().starts_with("kind") || l.contains("\"kind\""));
    if looks_like_dotenv {
        return parse_dotenv(file, bytes);
    }
    let documents: Vec<Value> = serde_saphyr::from_str_multiple(&text).map_err(|e| ManifestError::Syntax {
        file: file.into(),
        location: line_of(&e),
    })?;
    let kinds: Vec<String> = documents
        .iter()
        .map(|d| d["kind"].as_str().unwrap_or("none").to_string())
        .collect();
    let document = documents
        .into_iter()
        .find(|d| matches!(d["kind"].as_str(), Some("Secret" | "SealedSecret")))
        .ok_or_else(|| ManifestError::NotASecret {
            file: file.into(),
            found: kinds.join(", "),
        })?;
    if document["kind"] == "SealedSecret" {
        Ok(sealed(file, &document))
    } else {
        secret(file, &document)
    }
}

fn line_of(error: &serde_saphyr::Error) -> Option<usize> {
    error.location().map(|l| l.line() as usize)
}

fn strings(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn secret(file: &str, doc: &Value) -> Result<SecretSide, ManifestError> {
    let mut data = BTreeMap::new();
    for (key, value) in doc["data"].as_object().into_iter().flatten() {
        let encoded = value.as_str().unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| ManifestError::Base64 {
                file: file.into(),
                key: key.clone(),
            })?;
        data.insert(key.clone(), Some(SecretValue::new(bytes)));
    }
    // stringData wins over data for the same key, as in the API server.
    for (key, value) in doc["stringData"].as_object().into_iter().flatten() {
        data.insert(
            key.clone(),
            Some(SecretValue::new(value.as_str().unwrap_or("").as_bytes().to_vec())),
        );
    }
    Ok(SecretSide {
        description: file.into(),
        type_: Some(doc["type"].as_str().unwrap_or("Opaque").to_string()),
        immutable: doc["immutable"].as_bool(),
        labels: strings(&doc["metadata"]["labels"]),
        annotations: strings(&doc["metadata"]["annotations"]),
        data,
    })
}

fn sealed(file: &str, doc: &Value) -> SecretSide {
    let annotations = strings(&doc["metadata"]["annotations"]);
    let scope = if annotations
        .get("sealedsecrets.bitnami.com/cluster-wide")
        .is_some_and(|v| v == "true")
    {
        "cluster-wide"
    } else if annotations
        .get("sealedsecrets.bitnami.com/namespace-wide")
        .is_some_and(|v| v == "true")
    {
        "namespace-wide"
    } else {
        "strict"
    };
    let template = &doc["spec"]["template"];
    SecretSide {
        description: format!("{file} (SealedSecret, {scope})"),
        type_: template["type"].as_str().map(str::to_string).or(Some("Opaque".into())),
        immutable: template["immutable"].as_bool(),
        labels: strings(&template["metadata"]["labels"]),
        annotations: strings(&template["metadata"]["annotations"]),
        data: doc["spec"]["encryptedData"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| (k.clone(), None))
            .collect(),
    }
}

/// A `.env` file as kubectl reads it (values literal: see `env_file`).
fn parse_dotenv(file: &str, bytes: &[u8]) -> Result<SecretSide, ManifestError> {
    let pairs = super::env_file::parse(bytes).map_err(|problem| ManifestError::DotEnv {
        file: file.into(),
        problem,
    })?;
    Ok(SecretSide {
        description: file.into(),
        data: pairs.into_iter().map(|(k, v)| (k, Some(v))).collect(),
        ..Default::default()
    })
}

/// YAML as kubectl and kubeseal write it: long values (ciphertexts, base64) on one line, never
/// folded into blocks.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string_with_options(value, yaml_options()).map_err(|e| e.to_string())
}

/// How every YAML of the tool is written: plain or quoted scalars, no block scalars.
pub fn yaml_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(side: &SecretSide, key: &str) -> Vec<u8> {
        side.data[key].as_ref().unwrap().expose().to_vec()
    }

    #[test]
    fn secret_manifests_with_data_and_string_data() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  labels: {team: a}\ntype: Opaque\ndata:\n  A: aGVsbG8=\nstringData:\n  B: plain text\n";
        let side = parse("secret.yaml", yaml.as_bytes()).unwrap();
        assert_eq!(value(&side, "A"), b"hello");
        assert_eq!(value(&side, "B"), b"plain text");
        assert_eq!(side.labels["team"], "a");
        let json = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"app"},"data":{"A":"aGVsbG8="}}"#;
        assert_eq!(value(&parse("secret.json", json.as_bytes()).unwrap(), "A"), b"hello");
    }

    #[test]
    fn errors_never_quote_the_content() {
        let broken = "kind: Secret\ndata:\n  A: [unclosed super-secret-value\n";
        let err = parse("s.yaml", broken.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains("super-secret-value"), "{err}");
        let bad64 = "kind: Secret\ndata:\n  A: '%%%not-base64-s3cret'\n";
        let err = parse("s.yaml", bad64.as_bytes()).unwrap_err();
        assert_eq!(
            err,
            ManifestError::Base64 {
                file: "s.yaml".into(),
                key: "A".into()
            }
        );
        let err = parse("prod.env", b"GOOD=1\nthis line is s3cret garbage\n").unwrap_err();
        assert!(
            matches!(
                &err,
                ManifestError::DotEnv {
                    problem: crate::domain::env_file::EnvFileError::NoValue { line: 2 },
                    ..
                }
            ) && !err.to_string().contains("s3cret"),
            "{err}"
        );
        let err = parse("cm.yaml", b"kind: ConfigMap\ndata: {}\n").unwrap_err();
        assert!(matches!(err, ManifestError::NotASecret { .. }));
    }

    #[test]
    fn dotenv_files_are_read_like_kubectl_reads_them() {
        // Literal values (kubectl create secret --from-env-file): quotes kept, nothing expanded.
        let text = b"# comment\nJWT_SECRET=abc123\nQUOTED=\"with spaces\"\nSINGLE='x=y'\nVAR=${HOME}\nEMPTY=\n";
        let side = parse(".env", text).unwrap();
        assert_eq!(value(&side, "JWT_SECRET"), b"abc123");
        assert_eq!(value(&side, "QUOTED"), b"\"with spaces\"");
        assert_eq!(value(&side, "SINGLE"), b"'x=y'");
        assert_eq!(value(&side, "VAR"), b"${HOME}");
        assert_eq!(value(&side, "EMPTY"), b"");
        assert!(
            parse(".env", b"export JWT_SECRET=abc123\n").is_err(),
            "not a kubectl key"
        );
    }

    #[test]
    fn sealed_secrets_give_key_names_and_scope_only() {
        let yaml = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: app\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nspec:\n  encryptedData:\n    A: AgBy...\n  template:\n    type: Opaque\n";
        let side = parse("sealed.yaml", yaml.as_bytes()).unwrap();
        assert_eq!(side.description, "sealed.yaml (SealedSecret, namespace-wide)");
        assert!(side.data["A"].is_none());
    }
}
