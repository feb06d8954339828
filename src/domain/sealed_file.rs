//! SealedSecret files as GitOps repositories keep them (YAML, possibly several documents, or
//! JSON): found, read, and updated with new ciphertexts while keeping the file as it was
//! (order, comments, quoting) wherever the ciphertexts can be swapped in place.

use serde_json::{Map, Value};

/// One SealedSecret document of a file.
#[derive(Debug, Clone)]
pub struct SealedDoc {
    pub name: String,
    /// Empty when the file leaves it to kustomize/`-n`.
    pub namespace: String,
    pub doc: Value,
}

impl SealedDoc {
    pub fn encrypted_data(&self) -> Map<String, Value> {
        self.doc["spec"]["encryptedData"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    /// The document to send to the controller, with `namespace` filled in when the file has
    /// none (the controller needs it to decrypt strict and namespace-wide values).
    pub fn for_controller(&self, namespace: &str) -> Value {
        let mut doc = self.doc.clone();
        if self.namespace.is_empty() {
            doc["metadata"]["namespace"] = Value::String(namespace.to_string());
            if doc["spec"]["template"]["metadata"].is_object() {
                doc["spec"]["template"]["metadata"]["namespace"] = Value::String(namespace.to_string());
            }
        }
        doc
    }
}

#[derive(Debug, Clone)]
pub struct SealedFile {
    pub text: String,
    pub json: bool,
    pub documents: Vec<Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealedFileError {
    #[error("not YAML or JSON (line {line})")]
    Syntax { line: usize },
    #[error("not YAML or JSON")]
    Unreadable,
}

/// Parse a file's documents. Errors name a line, never the content.
pub fn parse(text: &str) -> Result<SealedFile, SealedFileError> {
    let json = text.trim_start().starts_with('{');
    let documents: Vec<Value> = if json {
        vec![serde_json::from_str(text).map_err(|e| SealedFileError::Syntax { line: e.line() })?]
    } else {
        let documents: Vec<Value> = serde_saphyr::from_str_multiple(text).map_err(|_| SealedFileError::Unreadable)?;
        documents.into_iter().filter(|d| !d.is_null()).collect()
    };
    Ok(SealedFile {
        text: text.to_string(),
        json,
        documents,
    })
}

impl SealedFile {
    /// The SealedSecret documents, in file order.
    pub fn sealed(&self) -> Vec<SealedDoc> {
        self.documents
            .iter()
            .filter(|d| is_sealed_secret(d))
            .map(|doc| SealedDoc {
                name: doc["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                namespace: doc["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
                doc: doc.clone(),
            })
            .collect()
    }

    /// The file with `index`'s (among SealedSecrets) encryptedData replaced by `new`. In YAML
    /// each entry is edited in the text (ciphertexts swapped, lines removed or added beside the
    /// others), keeping comments and layout; when that cannot be done safely (a ciphertext that
    /// is not unique, folded values, JSON with added or removed keys) the file is written out
    /// again from its documents.
    pub fn with_encrypted_data(&self, index: usize, new: &Map<String, Value>) -> SealedFile {
        let old = self.sealed()[index].encrypted_data();
        let mut documents = self.documents.clone();
        if let Some(doc) = documents.iter_mut().filter(|d| is_sealed_secret(d)).nth(index) {
            doc["spec"]["encryptedData"] = Value::Object(new.clone());
        }
        let same_keys = old.keys().eq(new.keys());
        let text = match edit_in_place(&self.text, &old, new) {
            Some(text) if same_keys || !self.json => text,
            _ => render(&documents, self.json),
        };
        SealedFile {
            text,
            json: self.json,
            documents,
        }
    }
}

/// Keys other than `rotated` whose ciphertext differs between a file's SealedSecret and the
/// cluster's (or that only one side has): applying the file's copy would revert the cluster.
pub fn disagreements(
    file: &Map<String, Value>,
    cluster: &std::collections::BTreeMap<String, String>,
    rotated: &std::collections::BTreeSet<String>,
) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = file.keys().chain(cluster.keys()).collect();
    keys.into_iter()
        .filter(|k| !rotated.contains(*k))
        .filter(|k| file.get(*k).and_then(Value::as_str) != cluster.get(*k).map(String::as_str))
        .cloned()
        .collect()
}

/// `encrypted` with each key of `changes` set to its ciphertext (None: removed).
pub fn with_ciphertexts(
    encrypted: &Map<String, Value>,
    changes: &std::collections::BTreeMap<String, Option<String>>,
) -> Map<String, Value> {
    let mut out = encrypted.clone();
    for (key, value) in changes {
        match value {
            Some(v) => out.insert(key.clone(), Value::String(v.clone())),
            None => out.remove(key),
        };
    }
    out
}

/// The text with each entry of `old` changed to `new`, or None when an entry cannot be found
/// exactly once (as `KEY: CIPHERTEXT` on one line for removals and additions).
fn edit_in_place(text: &str, old: &Map<String, Value>, new: &Map<String, Value>) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let unique_line = |lines: &[String], ciphertext: &str| {
        let found: Vec<usize> = (0..lines.len()).filter(|i| lines[*i].contains(ciphertext)).collect();
        (found.len() == 1 && !ciphertext.is_empty()).then(|| found[0])
    };
    // Where entries sit, and how they are indented: from the first one.
    let (first_key, first_value) = old.iter().next()?;
    let first_line = unique_line(&lines, first_value.as_str()?)?;
    let indent: String = lines[first_line].chars().take_while(|c| *c == ' ').collect();
    let is_entry = |line: &str, key: &str, ciphertext: &str| {
        line == format!("{indent}{key}: {ciphertext}") || line == format!("{indent}\"{key}\": {ciphertext}")
    };
    if !is_entry(&lines[first_line], first_key, first_value.as_str()?) && old.keys().ne(new.keys()) {
        return None;
    }
    for (key, old_value) in old {
        let old_text = old_value.as_str()?;
        let at = unique_line(&lines, old_text)?;
        match new.get(key).and_then(Value::as_str) {
            Some(new_text) => lines[at] = lines[at].replacen(old_text, new_text, 1),
            None if is_entry(&lines[at], key, old_text) => {
                lines.remove(at);
            }
            None => return None,
        }
    }
    let added: Vec<(&String, &str)> = new
        .iter()
        .filter(|(k, _)| !old.contains_key(*k))
        .map(|(k, v)| v.as_str().map(|v| (k, v)))
        .collect::<Option<_>>()?;
    if !added.is_empty() {
        // After the last entry still there (a key kept or replaced).
        let last = new
            .iter()
            .filter(|(k, _)| old.contains_key(*k))
            .filter_map(|(_, v)| unique_line(&lines, v.as_str()?))
            .max()?;
        for (offset, (key, value)) in added.into_iter().enumerate() {
            lines.insert(last + 1 + offset, format!("{indent}{key}: {value}"));
        }
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

fn is_sealed_secret(doc: &Value) -> bool {
    doc["kind"] == "SealedSecret"
        && doc["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("bitnami.com/"))
}

/// Documents written out in the file's format.
pub fn render(documents: &[Value], json: bool) -> String {
    if json {
        let doc = documents.first().cloned().unwrap_or(Value::Null);
        return serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n";
    }
    documents
        .iter()
        .map(|d| super::manifest::to_yaml(d).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_file_disagrees_with_the_cluster_about_the_keys_it_would_revert() {
        let file: Map<String, Value> =
            serde_json::from_value(serde_json::json!({"a": "A1", "b": "B1", "gone": "G"})).unwrap();
        let cluster = std::collections::BTreeMap::from([
            ("a".to_string(), "A1".to_string()),
            ("b".to_string(), "B2".to_string()),
            ("new".to_string(), "N".to_string()),
        ]);
        let rotated = std::collections::BTreeSet::from(["a".to_string()]);
        assert_eq!(disagreements(&file, &cluster, &rotated), ["b", "gone", "new"]);
        let changes =
            std::collections::BTreeMap::from([("a".to_string(), Some("A2".to_string())), ("gone".to_string(), None)]);
        let out = with_ciphertexts(&file, &changes);
        assert_eq!(out["a"], "A2");
        assert!(!out.contains_key("gone"));
    }

    const FILE: &str = "\
# Sealed for production: do not edit by hand
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: backend-secrets
spec:
  encryptedData:
    JWT_SECRET: AgBold1111
    REDIS_PASSWORD: AgBold2222
  template:
    metadata:
      name: backend-secrets
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
";

    fn new_data() -> Map<String, Value> {
        [
            ("JWT_SECRET".to_string(), Value::from("AgBnew1111")),
            ("REDIS_PASSWORD".to_string(), Value::from("AgBnew2222")),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn finds_sealed_secrets_among_other_documents() {
        let file = parse(FILE).unwrap();
        let sealed = file.sealed();
        assert_eq!(sealed.len(), 1);
        assert_eq!(
            (sealed[0].name.as_str(), sealed[0].namespace.as_str()),
            ("backend-secrets", "")
        );
        let sent = sealed[0].for_controller("platform");
        assert_eq!(sent["metadata"]["namespace"], "platform");
        assert_eq!(sent["spec"]["template"]["metadata"]["namespace"], "platform");
    }

    #[test]
    fn new_ciphertexts_are_swapped_in_place_keeping_comments_and_layout() {
        let file = parse(FILE).unwrap();
        let updated = file.with_encrypted_data(0, &new_data());
        assert_eq!(updated.text, FILE.replace("AgBold", "AgBnew"));
        assert_eq!(parse(&updated.text).unwrap().sealed()[0].encrypted_data(), new_data());
    }

    #[test]
    fn keys_are_added_and_removed_in_place_too() {
        let mut new = new_data();
        new.remove("JWT_SECRET");
        new.insert("API_KEY".into(), Value::from("AgBadded"));
        let updated = parse(FILE).unwrap().with_encrypted_data(0, &new);
        assert!(updated.text.starts_with("# Sealed for production"), "{}", updated.text);
        assert!(!updated.text.contains("JWT_SECRET"));
        assert!(
            updated
                .text
                .contains("    REDIS_PASSWORD: AgBnew2222\n    API_KEY: AgBadded\n"),
            "{}",
            updated.text
        );
        assert_eq!(parse(&updated.text).unwrap().sealed()[0].encrypted_data(), new);
    }

    #[test]
    fn falls_back_to_writing_the_documents_when_a_ciphertext_is_not_unique() {
        let twice = FILE.replace("AgBold2222", "AgBold1111");
        let updated = parse(&twice).unwrap().with_encrypted_data(0, &new_data());
        let reread = parse(&updated.text).unwrap();
        assert_eq!(reread.sealed()[0].encrypted_data(), new_data());
        assert_eq!(reread.documents.len(), 2, "the other document is kept");
    }

    #[test]
    fn json_stays_json() {
        let json = r#"{"apiVersion":"bitnami.com/v1alpha1","kind":"SealedSecret","metadata":{"name":"a","namespace":"b"},"spec":{"encryptedData":{"k":"AgBx"}}}"#;
        let mut new = Map::new();
        new.insert("k".into(), Value::from("AgBy"));
        new.insert("added".into(), Value::from("AgBz"));
        let updated = parse(json).unwrap().with_encrypted_data(0, &new);
        assert!(updated.text.trim_start().starts_with('{'));
        assert_eq!(parse(&updated.text).unwrap().sealed()[0].encrypted_data(), new);
    }

    #[test]
    fn syntax_errors_do_not_quote_the_file() {
        let err = parse("{\"secret\": \"hunter2\"").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
