//! `-o custom-columns=HEADER:EXPR,...` and `-o custom-columns-file=FILE`, as kubectl reads them:
//! one row per item of the document's list (docs/output.md names the list of each kind; a
//! Kubernetes object, as `seal` and `unseal` print, is one row), each column a JSONPath
//! expression relative to the item (braces and the leading dot optional), several matches
//! joined by ",", none shown as `<none>`.

use serde_json::Value;

use super::jsonpath;

/// The list each kind of document is a table of.
const ROWS: &[(&str, &str)] = &[
    ("VerifyReport", "workloads"),
    ("RotationPlan", "secrets"),
    ("RenewalPlan", "certificates"),
    ("RecoveryPlan", "secrets"),
    ("SecretDiff", "keys"),
    ("SecretDiffList", "secrets"),
    ("SecretHistory", "revisions"),
    ("SecretList", "secrets"),
    ("AuditReport", "findings"),
    ("FleetReport", "contexts"),
    ("SealedFileReport", "files"),
];

/// Parsed columns: each header with its expression (kubectl's relaxed form made strict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns(Vec<(String, String)>);

impl Columns {
    /// `NAME:.name,KEYS:.keys`: the error says what is wrong (a usage error naming -o).
    pub fn parse(spec: &str) -> Result<Columns, String> {
        let columns = spec
            .split(',')
            .map(|part| {
                let (header, expr) = part.split_once(':').ok_or_else(|| {
                    format!("unexpected custom-columns spec '{part}', expected HEADER:JSONPATH (e.g. NAME:.name)")
                })?;
                Ok((header.to_string(), strict(expr)?))
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Columns(columns))
    }

    /// A custom-columns file: the headers on the first line, the expressions on the second,
    /// separated by blanks (as kubectl's `custom-columns-file`).
    pub fn parse_file(text: &str) -> Result<Columns, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let (Some(headers), Some(exprs)) = (lines.next(), lines.next()) else {
            return Err("the file needs two lines: the headers, then their JSONPath expressions".into());
        };
        let headers: Vec<&str> = headers.split_whitespace().collect();
        let exprs: Vec<&str> = exprs.split_whitespace().collect();
        if headers.len() != exprs.len() {
            return Err(format!(
                "{} headers but {} expressions: each header needs one expression below it",
                headers.len(),
                exprs.len()
            ));
        }
        let columns = headers
            .into_iter()
            .zip(exprs)
            .map(|(h, e)| Ok((h.to_string(), strict(e)?)))
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Columns(columns))
    }

    pub fn headers(&self) -> Vec<&str> {
        self.0.iter().map(|(h, _)| h.as_str()).collect()
    }

    /// One row of cells per item of `document`'s list.
    pub fn rows(&self, document: &Value) -> Vec<Vec<String>> {
        items(document)
            .into_iter()
            .map(|item| {
                self.0
                    .iter()
                    .map(|(_, expr)| {
                        let found = jsonpath::values(expr, item);
                        if found.is_empty() {
                            "<none>".to_string()
                        } else {
                            found.join(",")
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// kubectl's relaxed expression (`.a.b`, `a.b`, `{.a.b}`, `{a.b}`) as one JSONPath expression.
fn strict(expr: &str) -> Result<String, String> {
    let inner = expr.strip_prefix('{').unwrap_or(expr);
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    if inner.is_empty() || inner.contains(['{', '}']) {
        return Err(format!(
            "'{expr}' is not a column expression: expected .name.field or {{.name.field}}"
        ));
    }
    let inner = if inner.starts_with('.') || inner.starts_with('[') {
        inner.to_string()
    } else {
        format!(".{inner}")
    };
    jsonpath::Template::parse(&format!("{{{inner}}}"))?;
    Ok(inner)
}

/// The rows of a document: the items of its kind's list, or the object itself.
fn items(document: &Value) -> Vec<&Value> {
    let kind = document.get("kind").and_then(Value::as_str);
    let ours = document.get("apiVersion").and_then(Value::as_str) == Some("kubectl-secrets.io/v1");
    if kind == Some("List") {
        if let Some(items) = document.get("items").and_then(Value::as_array) {
            return items.iter().collect();
        }
    }
    match ROWS.iter().find(|(k, _)| ours && Some(*k) == kind) {
        Some((_, list)) => document
            .get(*list)
            .and_then(Value::as_array)
            .map(|items| items.iter().collect())
            .unwrap_or_default(),
        None => vec![document],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"apiVersion": "kubectl-secrets.io/v1", "kind": "SecretList", "secrets": [
            {"namespace": "shop", "name": "db", "keys": 2, "usedBy": ["a", "b"]},
            {"namespace": "shop", "name": "api", "keys": 1}
        ]})
    }

    #[test]
    fn columns_read_as_kubectl_reads_them() {
        let columns = Columns::parse("NS:.namespace,NAME:{.name},KEYS:keys,USED:.usedBy[*]").unwrap();
        assert_eq!(columns.headers(), ["NS", "NAME", "KEYS", "USED"]);
        assert_eq!(
            columns.rows(&list()),
            [["shop", "db", "2", "a,b"], ["shop", "api", "1", "<none>"]]
        );
        let object = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}});
        assert_eq!(Columns::parse("NAME:.metadata.name").unwrap().rows(&object), [["db"]]);
        let file = Columns::parse_file("NAME   KEYS\n.name  .keys\n").unwrap();
        assert_eq!(file.rows(&list())[1], ["api", "1"]);
    }

    #[test]
    fn a_broken_spec_says_what_is_wrong() {
        assert!(Columns::parse("NAME").unwrap_err().contains("expected HEADER:JSONPATH"));
        assert!(Columns::parse("NAME:").unwrap_err().contains("not a column expression"));
        assert!(Columns::parse("NAME:.items[?(]").is_err());
        assert!(Columns::parse_file("NAME KEYS\n.name\n")
            .unwrap_err()
            .contains("2 headers but 1"));
        assert!(Columns::parse_file("NAME\n").unwrap_err().contains("two lines"));
    }
}
