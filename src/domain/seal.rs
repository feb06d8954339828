//! Sealed Secrets' format, byte for byte what kubeseal writes and the controller reads
//! (pkg/crypto/crypto.go, HybridEncrypt/HybridDecrypt):
//! a fresh 32-byte AES-256-GCM session key per value, a 12-byte all-zero nonce (safe: the key
//! is never reused), no additional data; the session key encrypted with RSA-OAEP(SHA-256,
//! MGF1-SHA-256) under a label naming where the value may be unsealed; the result is a 2-byte
//! big-endian length of the RSA part, the RSA part, then the AES-GCM output, base64-encoded.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use jiff::Timestamp;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::rand_core::CryptoRngCore;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use x509_cert::der::{DecodePem, Encode};
use x509_cert::Certificate;

use super::secret_value::SecretValue;

const SESSION_KEY_BYTES: usize = 32;
const SCOPE_NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
const SCOPE_CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only a Secret of this name in this namespace can be unsealed from it.
    Strict,
    /// Any name, this namespace only.
    NamespaceWide,
    /// Any name, any namespace.
    ClusterWide,
}

impl Scope {
    /// The RSA-OAEP label that binds a value to where it may be unsealed.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Scope::Strict => format!("{namespace}/{name}").into_bytes(),
            Scope::NamespaceWide => namespace.as_bytes().to_vec(),
            Scope::ClusterWide => Vec::new(),
        }
    }

    /// One line for the user before anything is written.
    pub fn explain(self, namespace: &str, name: &str) -> String {
        match self {
            Scope::Strict => format!("scope strict: only {namespace}/{name} can unseal this"),
            Scope::NamespaceWide => {
                format!("scope namespace-wide: any Secret name in namespace {namespace} can unseal this")
            }
            Scope::ClusterWide => "scope cluster-wide: any name in any namespace can unseal this".into(),
        }
    }

    fn annotation(self) -> Option<&'static str> {
        match self {
            Scope::Strict => None,
            Scope::NamespaceWide => Some(SCOPE_NAMESPACE_WIDE),
            Scope::ClusterWide => Some(SCOPE_CLUSTER_WIDE),
        }
    }

    /// The scope a SealedSecret manifest declares.
    pub fn of_manifest(doc: &Value) -> Scope {
        let annotations = &doc["metadata"]["annotations"];
        if annotations[SCOPE_CLUSTER_WIDE] == "true" {
            Scope::ClusterWide
        } else if annotations[SCOPE_NAMESPACE_WIDE] == "true" {
            Scope::NamespaceWide
        } else {
            Scope::Strict
        }
    }
}

impl Scope {
    fn of_annotations(annotations: &Value) -> Option<Scope> {
        if annotations[SCOPE_CLUSTER_WIDE] == "true" {
            Some(Scope::ClusterWide)
        } else if annotations[SCOPE_NAMESPACE_WIDE] == "true" {
            Some(Scope::NamespaceWide)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Strict => "strict",
            Scope::NamespaceWide => "namespace-wide",
            Scope::ClusterWide => "cluster-wide",
        }
    }
}

/// What one copy of a SealedSecret is sealed for, when a run seals for several: a kubeconfig
/// context (`--contexts`) or a certificate (`--cert` repeated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealTarget {
    Context(String),
    /// The certificate's file or URL as given.
    Cert(String),
}

impl SealTarget {
    /// The `--output-name` placeholder that tells the copies apart.
    pub fn placeholder(&self) -> &'static str {
        match self {
            SealTarget::Context(_) => "{context}",
            SealTarget::Cert(_) => "{cert}",
        }
    }

    /// Where each copy goes under `--output-dir` when no `--output-name` is given.
    pub fn default_output_name(&self) -> &'static str {
        match self {
            SealTarget::Context(_) => "{context}/{name}.yaml",
            SealTarget::Cert(_) => "{cert}/{name}.yaml",
        }
    }

    /// The context's name; a certificate file's name without its extension (prod.pem: prod),
    /// or a URL's host (the file of a URL is usually v1/cert.pem for every cluster).
    pub fn label(&self) -> String {
        match self {
            SealTarget::Context(context) => context.clone(),
            SealTarget::Cert(source) => match url::Url::parse(source) {
                Ok(url) if url.host_str().is_some() => url.host_str().unwrap_or_default().to_string(),
                _ => std::path::Path::new(source)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| source.clone()),
            },
        }
    }
}

/// The file name `--output-name` gives one copy of a SealedSecret: the template with
/// {context} (or {cert}), {namespace} and {name} filled in, each made safe as one path segment
/// (a context such as `arn:aws:eks:…:cluster/prod` has a '/'); never absolute, never `..`.
pub fn output_name(
    template: &str,
    target: &SealTarget,
    namespace: &str,
    name: &str,
) -> Result<std::path::PathBuf, String> {
    let segment = |text: &str| -> String {
        text.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect::<String>()
            .trim_start_matches('.')
            .to_string()
    };
    let placeholder = target.placeholder();
    if !template.contains(placeholder) {
        return Err(format!(
            "--output-name {template}: it must contain {placeholder}, or every copy's file would be the same"
        ));
    }
    let path = template
        .replace(placeholder, &segment(&target.label()))
        .replace("{namespace}", &segment(namespace))
        .replace("{name}", &segment(name));
    let path = std::path::PathBuf::from(path);
    let safe = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    if !safe || path.as_os_str().is_empty() {
        return Err(format!(
            "--output-name {template}: a relative path under --output-dir, without '..'"
        ));
    }
    Ok(path)
}

/// Controllers before this release took the scope of a re-encryption (`/v1/rotate`) from the
/// template's annotations, which whoever wrote the file chose (CVE-2026-22728).
pub const SCOPE_FIX_RELEASE: (u64, u64) = (0, 36);

/// Why a SealedSecret must not be sent for re-encryption: its template declares another scope
/// than the object (what a controller before v0.36.0 would re-encrypt it with).
pub fn template_scope_conflict(doc: &Value) -> Option<String> {
    let object = Scope::of_manifest(doc);
    let template = Scope::of_annotations(&doc["spec"]["template"]["metadata"]["annotations"])?;
    (template != object).then(|| {
        format!(
            "its spec.template.metadata.annotations say {} but the SealedSecret is {}: a controller before v0.36.0 \
             would re-encrypt it {} (CVE-2026-22728); left as it was (remove the scope annotation from the template)",
            template.name(),
            object.name(),
            template.name()
        )
    })
}

/// Why the controller's re-encryption of `input` must not be written: its answer declares
/// another scope than the input, on the object or in its template.
pub fn widened_by_controller(input: &Value, answer: &Value) -> Option<String> {
    let expected = Scope::of_manifest(input);
    let object = Scope::of_manifest(answer);
    let template = Scope::of_annotations(&answer["spec"]["template"]["metadata"]["annotations"]);
    let got = if object != expected {
        Some(object)
    } else {
        template.filter(|t| *t != expected)
    };
    got.map(|got| {
        format!(
            "the controller answered with scope {} for a {} SealedSecret: not written (controllers before v0.36.0 \
             change the scope on re-encryption, CVE-2026-22728: upgrade the controller)",
            got.name(),
            expected.name()
        )
    })
}

/// Whether a controller image (`…/sealed-secrets-controller:0.35.1`, `:v0.27.0@sha256:…`)
/// is a release before the scope fix; unknown tags are not.
pub fn predates_scope_fix(image: &str) -> bool {
    let name = image.split('@').next().unwrap_or(image);
    // A ':' before the last '/' is a registry's port, not a tag.
    let Some((_, tag)) = name.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) else {
        return false;
    };
    let mut numbers = tag.trim_start_matches('v').split(['.', '-']).map(|n| n.parse::<u64>());
    match (numbers.next(), numbers.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => (major, minor) < SCOPE_FIX_RELEASE,
        _ => false,
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("{source_name}: not a PEM X.509 certificate (expected -----BEGIN CERTIFICATE-----)")]
    NotACertificate { source_name: String },
    #[error("{source_name}: the certificate's key is not RSA (Sealed Secrets uses RSA)")]
    NotRsa { source_name: String },
    #[error("{source_name}: the certificate's RSA key has {bits} bits; values are sealed only with 2048 bits or more (the controller makes 4096)")]
    WeakKey { source_name: String, bits: usize },
    #[error("{source_name}: no RSA private key in it (PKCS#1 or PKCS#8 PEM, or a Secret/List with tls.key)")]
    NoPrivateKey { source_name: String },
    #[error("cannot encrypt: {0}")]
    Encrypt(String),
    #[error(
        "key {key}: cannot be unsealed with the private key(s) given: wrong key (the controller renews its \
         key every 30 days: try every one), wrong scope or name/namespace ({scope} expects {expected}), or the value was tampered with"
    )]
    Undecryptable {
        key: String,
        scope: String,
        expected: String,
    },
    #[error("key {key}: not a sealed value (bad base64 or too short)")]
    Malformed { key: String },
}

/// A sealing certificate: its RSA public key and when it is valid.
pub struct SealingCert {
    pub key: RsaPublicKey,
    pub not_before: Timestamp,
    pub not_after: Timestamp,
    /// SHA-256 of the certificate (DER), as `openssl x509 -fingerprint -sha256` prints it
    /// without colons: what tells one cluster's key from another's.
    pub fingerprint: String,
}

/// The smallest RSA key values are sealed with.
pub const MIN_RSA_BITS: usize = 2048;

pub fn parse_cert(source_name: &str, pem: &[u8]) -> Result<SealingCert, SealError> {
    let cert = Certificate::from_pem(pem).map_err(|_| SealError::NotACertificate {
        source_name: source_name.into(),
    })?;
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|_| SealError::NotRsa {
            source_name: source_name.into(),
        })?;
    let key = RsaPublicKey::from_public_key_der(&spki).map_err(|_| SealError::NotRsa {
        source_name: source_name.into(),
    })?;
    let bits = rsa::traits::PublicKeyParts::size(&key) * 8;
    if bits < MIN_RSA_BITS {
        return Err(SealError::WeakKey {
            source_name: source_name.into(),
            bits,
        });
    }
    let time = |t: &x509_cert::time::Time, default: Timestamp| {
        let seconds = t.to_unix_duration().as_secs();
        Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(default)
    };
    let der = cert.to_der().map_err(|_| SealError::NotACertificate {
        source_name: source_name.into(),
    })?;
    let fingerprint = {
        use sha2::Digest as _;
        hex::encode(Sha256::digest(&der))
    };
    Ok(SealingCert {
        key,
        fingerprint,
        not_before: time(&cert.tbs_certificate.validity.not_before, Timestamp::MIN),
        not_after: time(&cert.tbs_certificate.validity.not_after, Timestamp::MAX),
    })
}

/// RSA-OAEP with SHA-256 (and MGF1-SHA-256) under the scope label. Labels are Kubernetes
/// names, so always UTF-8.
fn oaep(label: &[u8]) -> Oaep {
    Oaep::new_with_label::<Sha256, _>(&String::from_utf8_lossy(label))
}

/// Encrypt one value.
pub fn encrypt(
    key: &RsaPublicKey,
    label: &[u8],
    plaintext: &SecretValue,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, SealError> {
    let mut session_key = zeroize::Zeroizing::new([0u8; SESSION_KEY_BYTES]);
    rng.fill_bytes(&mut *session_key);
    let padding = oaep(label);
    let rsa_part = key
        .encrypt(rng, padding, &*session_key)
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&*session_key));
    let sealed = cipher
        .encrypt(Nonce::from_slice(&[0u8; 12]), plaintext.expose())
        .map_err(|e| SealError::Encrypt(e.to_string()))?;
    let length = u16::try_from(rsa_part.len()).map_err(|_| SealError::Encrypt("RSA key too large".into()))?;
    let mut out = Vec::with_capacity(2 + rsa_part.len() + sealed.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&rsa_part);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// One value sealed for `namespace`/`name` under `scope`, base64 as in encryptedData.
pub fn seal_value(
    cert: &SealingCert,
    scope: Scope,
    namespace: &str,
    name: &str,
    value: &SecretValue,
    rng: &mut impl CryptoRngCore,
) -> Result<String, SealError> {
    let ciphertext = encrypt(&cert.key, &scope.label(namespace, name), value, rng)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(ciphertext))
}

/// Decrypt one value with any of the keys (the controller keeps every key it ever made).
pub fn decrypt(keys: &[RsaPrivateKey], label: &[u8], ciphertext: &[u8]) -> Option<SecretValue> {
    let (length, rest) = ciphertext.split_first_chunk::<2>()?;
    let length = usize::from(u16::from_be_bytes(*length));
    if rest.len() < length {
        return None;
    }
    let (rsa_part, sealed) = rest.split_at(length);
    keys.iter().find_map(|key| {
        let padding = oaep(label);
        let session_key = zeroize::Zeroizing::new(key.decrypt(padding, rsa_part).ok()?);
        if session_key.len() != SESSION_KEY_BYTES {
            return None;
        }
        let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&session_key));
        cipher
            .decrypt(Nonce::from_slice(&[0u8; 12]), sealed)
            .ok()
            .map(SecretValue::new)
    })
}

/// RSA private keys from PEM text (PKCS#1 or PKCS#8), or from a Secret / List of Secrets in
/// YAML or JSON holding them under `tls.key` (what `kubectl get secret -o yaml` of the
/// controller's keys prints).
pub fn parse_private_keys(source_name: &str, text: &[u8]) -> Result<Vec<RsaPrivateKey>, SealError> {
    let text = String::from_utf8_lossy(text);
    let pems: Vec<String> = if text.contains("-----BEGIN") && !text.contains("tls.key") {
        vec![text.into_owned()]
    } else {
        let docs: Vec<Value> = serde_saphyr::from_str_multiple(&text).unwrap_or_default();
        let secrets = docs.iter().flat_map(|d| match d["items"].as_array() {
            Some(items) => items.clone(),
            None => vec![d.clone()],
        });
        secrets
            .filter_map(|s| s["data"]["tls.key"].as_str().map(str::to_string))
            .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64.trim()).ok())
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .collect()
    };
    let keys: Vec<RsaPrivateKey> = pems
        .iter()
        .flat_map(|pem| split_pem_blocks(pem))
        .filter_map(|block| {
            RsaPrivateKey::from_pkcs1_pem(&block)
                .ok()
                .or_else(|| RsaPrivateKey::from_pkcs8_pem(&block).ok())
        })
        .collect();
    if keys.is_empty() {
        return Err(SealError::NoPrivateKey {
            source_name: source_name.into(),
        });
    }
    Ok(keys)
}

fn split_pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.starts_with("-----BEGIN") {
            current.clear();
        }
        current.push_str(line);
        current.push('\n');
        if line.starts_with("-----END") {
            blocks.push(std::mem::take(&mut current));
        }
    }
    blocks
}

/// What to seal: a Secret's identity, metadata and values.
pub struct SecretToSeal<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub type_: Option<&'a str>,
    pub immutable: Option<bool>,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub data: &'a BTreeMap<String, SecretValue>,
}

/// The SealedSecret manifest (as JSON; rendered as JSON or YAML by the caller).
pub fn sealed_secret(
    secret: &SecretToSeal,
    scope: Scope,
    cert: &SealingCert,
    rng: &mut impl CryptoRngCore,
) -> Result<Value, SealError> {
    let label = scope.label(secret.namespace, secret.name);
    let mut encrypted = Map::new();
    for (key, value) in secret.data {
        let ciphertext = encrypt(&cert.key, &label, value, rng)?;
        encrypted.insert(
            key.clone(),
            Value::String(base64::engine::general_purpose::STANDARD.encode(ciphertext)),
        );
    }
    let mut annotations: BTreeMap<String, String> = secret
        .annotations
        .iter()
        .filter(|(k, _)| k.as_str() != super::annotations::LAST_APPLIED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut metadata = json!({"name": secret.name, "namespace": secret.namespace});
    if let Some(annotation) = scope.annotation() {
        annotations.insert(annotation.into(), "true".into());
        metadata["annotations"] = json!({annotation: "true"});
    }
    let mut template_meta = json!({"name": secret.name, "namespace": secret.namespace});
    if !secret.labels.is_empty() {
        template_meta["labels"] = json!(secret.labels);
    }
    if !annotations.is_empty() {
        template_meta["annotations"] = json!(annotations);
    }
    let mut template = json!({"metadata": template_meta});
    if let Some(type_) = secret.type_ {
        template["type"] = json!(type_);
    }
    if let Some(immutable) = secret.immutable {
        template["immutable"] = json!(immutable);
    }
    Ok(json!({
        "kind": "SealedSecret",
        "apiVersion": "bitnami.com/v1alpha1",
        "metadata": metadata,
        "spec": {"template": template, "encryptedData": encrypted}
    }))
}

/// Every value of a SealedSecret manifest decrypted, or the first key that fails (nothing partial).
pub fn unseal(doc: &Value, keys: &[RsaPrivateKey]) -> Result<BTreeMap<String, SecretValue>, SealError> {
    let scope = Scope::of_manifest(doc);
    let namespace = doc["metadata"]["namespace"].as_str().unwrap_or("");
    let name = doc["metadata"]["name"].as_str().unwrap_or("");
    let label = scope.label(namespace, name);
    let mut data = BTreeMap::new();
    for (key, value) in doc["spec"]["encryptedData"].as_object().into_iter().flatten() {
        let ciphertext = value
            .as_str()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v.trim()).ok())
            .filter(|c| c.len() > 2)
            .ok_or_else(|| SealError::Malformed { key: key.clone() })?;
        let plain = decrypt(keys, &label, &ciphertext).ok_or_else(|| SealError::Undecryptable {
            key: key.clone(),
            scope: format!("{scope:?}").to_lowercase(),
            expected: match scope {
                Scope::Strict => format!("{namespace}/{name}"),
                Scope::NamespaceWide => format!("namespace {namespace}"),
                Scope::ClusterWide => "any name".into(),
            },
        })?;
        data.insert(key.clone(), plain);
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_copys_file_name_is_a_safe_relative_path() {
        use std::path::PathBuf;
        let context = |c: &str| SealTarget::Context(c.into());
        assert_eq!(
            output_name("{context}/{name}.yaml", &context("bed-0"), "shop", "db"),
            Ok(PathBuf::from("bed-0/db.yaml"))
        );
        assert_eq!(
            output_name(
                "clusters/{context}/{namespace}-{name}.yaml",
                &context("arn:aws:eks:eu-west-1:1:cluster/prod"),
                "shop",
                "db"
            ),
            Ok(PathBuf::from(
                "clusters/arn_aws_eks_eu-west-1_1_cluster_prod/shop-db.yaml"
            ))
        );
        assert!(
            output_name("{context}/{name}.yaml", &context(".."), "shop", "db").is_err(),
            "no way up"
        );
        assert!(output_name("../{context}.yaml", &context("bed-0"), "shop", "db").is_err());
        assert!(output_name("/tmp/{context}.yaml", &context("bed-0"), "shop", "db").is_err());
        assert!(output_name("{name}.yaml", &context("bed-0"), "shop", "db")
            .unwrap_err()
            .contains("{context}"));
        // Certificates: the file's name without extension, or the URL's host.
        let cert = |c: &str| SealTarget::Cert(c.into());
        assert_eq!(
            output_name("{cert}/{name}.yaml", &cert("keys/prod.pem"), "shop", "db"),
            Ok(PathBuf::from("prod/db.yaml"))
        );
        assert_eq!(
            output_name(
                "{cert}-{name}.yaml",
                &cert("https://sealed.staging.example/v1/cert.pem"),
                "shop",
                "db"
            ),
            Ok(PathBuf::from("sealed.staging.example-db.yaml"))
        );
        assert!(output_name("{context}/{name}.yaml", &cert("prod.pem"), "shop", "db")
            .unwrap_err()
            .contains("{cert}"));
    }

    #[test]
    fn a_re_encryption_never_changes_a_scope() {
        use serde_json::json;
        let strict = json!({"metadata": {"name": "db"}, "spec": {"template": {"metadata": {}}}});
        assert_eq!(template_scope_conflict(&strict), None);
        let forged = json!({"metadata": {"name": "db"}, "spec": {"template": {"metadata": {"annotations": {SCOPE_CLUSTER_WIDE: "true"}}}}});
        assert!(template_scope_conflict(&forged)
            .unwrap()
            .contains("say cluster-wide but the SealedSecret is strict"));
        let both = json!({"metadata": {"annotations": {SCOPE_NAMESPACE_WIDE: "true"}},
                          "spec": {"template": {"metadata": {"annotations": {SCOPE_NAMESPACE_WIDE: "true"}}}}});
        assert_eq!(
            template_scope_conflict(&both),
            None,
            "kubeseal writes the scope on both"
        );

        assert_eq!(widened_by_controller(&strict, &strict), None);
        let widened = json!({"metadata": {"annotations": {SCOPE_CLUSTER_WIDE: "true"}}});
        assert!(widened_by_controller(&strict, &widened)
            .unwrap()
            .contains("scope cluster-wide for a strict"));
        assert!(widened_by_controller(&strict, &forged).is_some(), "in the template too");
        assert_eq!(widened_by_controller(&both, &both), None);

        for (image, old) in [
            ("bitnami/sealed-secrets-controller:0.35.1", true),
            ("docker.io/bitnami/sealed-secrets-controller:v0.27.0@sha256:abc", true),
            ("bitnami/sealed-secrets-controller:v0.36.0", false),
            ("bitnami/sealed-secrets-controller:0.40.0-debian", false),
            ("registry:5000/sealed-secrets-controller", false),
            ("bitnami/sealed-secrets-controller:latest", false),
        ] {
            assert_eq!(predates_scope_fix(image), old, "{image}");
        }
    }

    use rsa::rand_core::OsRng;

    use super::*;

    #[test]
    fn certificates_under_2048_bit_rsa_are_refused() {
        let weak = parse_cert("weak.pem", include_bytes!("testdata/weak-1024.crt"))
            .err()
            .unwrap();
        assert_eq!(
            weak,
            SealError::WeakKey {
                source_name: "weak.pem".into(),
                bits: 1024
            }
        );
        let fine = parse_cert("tls.crt", include_bytes!("testdata/tls.crt")).unwrap();
        assert!(fine.not_before < fine.not_after);
    }

    fn keypair() -> (RsaPrivateKey, RsaPublicKey) {
        // Small keys keep the tests fast; the layout does not depend on the size.
        let private = RsaPrivateKey::new(&mut OsRng, 1024).unwrap();
        let public = RsaPublicKey::from(&private);
        (private, public)
    }

    #[test]
    fn round_trip_preserves_every_byte_and_the_layout_is_kubeseals() {
        let (private, public) = keypair();
        for bytes in [
            b"".to_vec(),
            b"value\n".to_vec(),
            vec![0, 255, 10, 13],
            "ünïcödé".as_bytes().to_vec(),
            vec![7u8; 100_000],
        ] {
            let value = SecretValue::new(bytes.clone());
            let sealed = encrypt(&public, b"ns/name", &value, &mut OsRng).unwrap();
            use rsa::traits::PublicKeyParts as _;
            let rsa_len = public.size();
            assert_eq!(
                usize::from(u16::from_be_bytes([sealed[0], sealed[1]])),
                rsa_len,
                "2-byte length of the RSA part"
            );
            assert_eq!(sealed.len(), 2 + rsa_len + bytes.len() + 16, "GCM adds a 16-byte tag");
            assert_eq!(
                decrypt(std::slice::from_ref(&private), b"ns/name", &sealed)
                    .unwrap()
                    .expose(),
                &bytes[..]
            );
        }
    }

    #[test]
    fn the_label_binds_the_value_to_its_scope() {
        let (private, public) = keypair();
        let sealed = encrypt(
            &public,
            &Scope::Strict.label("prod", "db"),
            &SecretValue::new(b"pw".to_vec()),
            &mut OsRng,
        )
        .unwrap();
        let keys = [private];
        assert!(decrypt(&keys, b"prod/db", &sealed).is_some());
        assert!(
            decrypt(&keys, b"staging/db", &sealed).is_none(),
            "another namespace cannot unseal a strict value"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(decrypt(&keys, b"prod/db", &tampered).is_none());
        assert_eq!(Scope::NamespaceWide.label("prod", "db"), b"prod");
        assert!(Scope::ClusterWide.label("prod", "db").is_empty());
    }

    #[test]
    fn unseal_names_the_failing_key_and_never_returns_half() {
        let (private, public) = keypair();
        let (other, _) = keypair();
        let cert = SealingCert {
            key: public,
            not_before: Timestamp::MIN,
            not_after: Timestamp::MAX,
            fingerprint: String::new(),
        };
        let data = BTreeMap::from([
            ("a".to_string(), SecretValue::new(b"1".to_vec())),
            ("b".to_string(), SecretValue::new(b"2".to_vec())),
        ]);
        let empty = BTreeMap::new();
        let secret = SecretToSeal {
            name: "app",
            namespace: "ns",
            type_: Some("Opaque"),
            immutable: None,
            labels: &empty,
            annotations: &empty,
            data: &data,
        };
        let doc = sealed_secret(&secret, Scope::NamespaceWide, &cert, &mut OsRng).unwrap();
        assert_eq!(doc["metadata"]["annotations"][SCOPE_NAMESPACE_WIDE], "true");
        assert_eq!(
            doc["spec"]["template"]["metadata"]["annotations"][SCOPE_NAMESPACE_WIDE],
            "true"
        );
        assert_eq!(unseal(&doc, std::slice::from_ref(&private)).unwrap(), data);
        let err = unseal(&doc, &[other]).unwrap_err();
        assert!(
            matches!(&err, SealError::Undecryptable { key, .. } if key == "a"),
            "{err}"
        );
        assert!(matches!(
            parse_cert("x", b"garbage"),
            Err(SealError::NotACertificate { .. })
        ));
        assert!(matches!(
            parse_private_keys("x", b"garbage"),
            Err(SealError::NoPrivateKey { .. })
        ));
    }
}
