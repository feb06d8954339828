//! `.env` files read the way `kubectl create secret --from-env-file` reads them
//! (kubectl/pkg/util/env_file.go): one `KEY=VALUE` per line, leading whitespace and a first-line
//! BOM dropped, blank lines and `#` lines skipped, the value taken literally: no quotes removed,
//! no `$VAR` expanded. Unlike kubectl, a line without `=` is refused: kubectl would take that
//! key's value from the caller's environment, which can pull a local credential into a file
//! meant for Git.

use super::secret_value::SecretValue;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvFileError {
    #[error("line {line} is not valid UTF-8")]
    NotUtf8 { line: usize },
    #[error("line {line}: the key is not a valid environment variable name (letters, digits, '_', '-', '.', not starting with a digit)")]
    BadKey { line: usize },
    #[error(
        "line {line} is not KEY=VALUE: kubectl would take that key's value from your environment, \
         kubectl-secrets never does; write KEY= for an empty value"
    )]
    NoValue { line: usize },
    #[error("line {line} sets a key already set on line {first}")]
    Duplicate { line: usize, first: usize },
}

/// The pairs of an env file, in order. Errors name a line, never its content.
pub fn parse(bytes: &[u8]) -> Result<Vec<(String, SecretValue)>, EnvFileError> {
    let mut pairs: Vec<(String, SecretValue, usize)> = Vec::new();
    for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_number = index + 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let raw = if index == 0 {
            raw.strip_prefix("\u{feff}".as_bytes()).unwrap_or(raw)
        } else {
            raw
        };
        let line = std::str::from_utf8(raw).map_err(|_| EnvFileError::NotUtf8 { line: line_number })?;
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(EnvFileError::NoValue { line: line_number });
        };
        if !is_env_var_name(key) {
            return Err(EnvFileError::BadKey { line: line_number });
        }
        if let Some((_, _, first)) = pairs.iter().find(|(k, _, _)| k == key) {
            return Err(EnvFileError::Duplicate {
                line: line_number,
                first: *first,
            });
        }
        pairs.push((
            key.to_string(),
            SecretValue::new(value.as_bytes().to_vec()),
            line_number,
        ));
    }
    Ok(pairs.into_iter().map(|(k, v, _)| (k, v)).collect())
}

/// Kubernetes' IsEnvVarName: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
fn is_env_var_name(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || "-._".contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str) -> Vec<(String, String)> {
        parse(text.as_bytes())
            .unwrap()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.expose().to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn values_are_literal_like_kubectl() {
        let parsed = values(
            "\u{feff}# a comment\n  A=${HOME}\nB=pa$word\n\nC=\"quoted\" \nD=\nE=x=y\r\n   # indented comment\n",
        );
        assert_eq!(
            parsed,
            [
                ("A".to_string(), "${HOME}".to_string()),
                ("B".into(), "pa$word".into()),
                ("C".into(), "\"quoted\" ".into()),
                ("D".into(), String::new()),
                ("E".into(), "x=y".into()),
            ]
        );
    }

    #[test]
    fn lines_that_kubectl_would_fill_from_the_environment_are_refused() {
        assert_eq!(parse(b"A=1\nHOME\n"), Err(EnvFileError::NoValue { line: 2 }));
        assert_eq!(parse(b"export A=1\n"), Err(EnvFileError::BadKey { line: 1 }));
        assert_eq!(parse(b"1A=x\n"), Err(EnvFileError::BadKey { line: 1 }));
        assert_eq!(parse(b"A=1\nA=2\n"), Err(EnvFileError::Duplicate { line: 2, first: 1 }));
        assert_eq!(parse(b"A=\xff\n"), Err(EnvFileError::NotUtf8 { line: 1 }));
    }
}
