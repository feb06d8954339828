//! The file `edit` opens in the user's editor: a Secret's data decoded (text under
//! `stringData:`, anything that is not text base64-encoded under `data:`, as in the Secret), and
//! the reading of that file once the editor has closed. Values are written so that they read
//! back byte for byte (a property test checks it).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Deserialize;

use super::secret_value::SecretValue;

/// What the file says once edited.
#[derive(Debug, PartialEq, Eq)]
pub enum Edited {
    /// Nothing but comments and blank lines: cancelled, as `kubectl edit` does.
    Empty,
    Data(BTreeMap<String, SecretValue>),
}

/// The text of the file for `namespace/name` at `revision`. `problem`, when a previous attempt
/// did not parse, goes on top (as `kubectl edit` reopens with its error).
pub fn render(
    namespace: &str,
    name: &str,
    revision: u64,
    data: &BTreeMap<String, SecretValue>,
    problem: Option<&str>,
) -> String {
    let mut out = String::new();
    if let Some(problem) = problem {
        out.push_str("# The file you saved could not be read:\n");
        for line in problem.lines() {
            out.push_str(&format!("#   {line}\n"));
        }
        out.push_str("# Fix it below and save again, or empty the file to cancel.\n#\n");
    }
    out.push_str(&format!(
        "# Secret {namespace}/{name}, revision {revision}, its values decoded.\n\
         # Change, add or remove keys, then save and close: the change is planned and asked\n\
         # for, backed up, written, and the workloads that read it are restarted and verified.\n\
         # An unchanged or empty file changes nothing. Keys under data: are base64 (not text).\n"
    ));
    let (text, binary): (Vec<_>, Vec<_>) = data
        .iter()
        .partition(|(_, value)| std::str::from_utf8(value.expose()).is_ok());
    out.push_str("stringData:");
    out.push_str(if text.is_empty() { " {}\n" } else { "\n" });
    for (key, value) in text {
        let value = std::str::from_utf8(value.expose()).expect("partitioned as text");
        out.push_str(&format!("  {}:{}", key_text(key), scalar(value)));
    }
    if !binary.is_empty() {
        out.push_str("data:\n");
        for (key, value) in binary {
            let encoded = base64::engine::general_purpose::STANDARD.encode(value.expose());
            out.push_str(&format!("  {}: {encoded}\n", key_text(key)));
        }
    }
    out
}

/// A key as a person would type it, quoted only where YAML would read it as something else
/// (a number, a boolean, null).
fn key_text(key: &str) -> String {
    let plain = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null"
        );
    if plain {
        key.to_string()
    } else {
        quoted(key)
    }
}

/// A YAML double-quoted scalar: every character YAML does not take as printable is escaped.
fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if !printable(c) => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Characters YAML reads as they are (its c-printable, less a byte-order mark it may drop).
fn printable(c: char) -> bool {
    !(c < ' ' || ('\u{7f}'..='\u{9f}').contains(&c) || matches!(c, '\u{feff}' | '\u{fffe}' | '\u{ffff}'))
}

/// ` VALUE\n` after a key: a literal block for readable multi-line text (certificates, config
/// files), a double-quoted string for everything else.
fn scalar(value: &str) -> String {
    let lines: Vec<&str> = value.trim_end_matches('\n').split('\n').collect();
    let readable_block = value.contains('\n')
        && !value.trim_end_matches('\n').is_empty()
        && lines
            .iter()
            .all(|line| !line.starts_with([' ', '\t']) && !line.ends_with([' ', '\t']) && line.chars().all(printable))
        && !lines[0].is_empty();
    if !readable_block {
        return format!(" {}\n", quoted(value));
    }
    let trailing = value.len() - value.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!(" |{chomp}\n");
    for line in &lines {
        if line.is_empty() {
            out.push('\n');
        } else {
            out.push_str(&format!("    {line}\n"));
        }
    }
    // Keep (`+`): the extra newlines are lines of the block.
    for _ in 1..trailing.max(1) {
        out.push('\n');
    }
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct EditedFile {
    #[serde(default)]
    string_data: Option<BTreeMap<String, String>>,
    #[serde(default)]
    data: Option<BTreeMap<String, String>>,
}

/// Read the saved file. The error never quotes the file (its values): a line and what is wrong.
pub fn parse(text: &str) -> Result<Edited, String> {
    let meaningful = text.lines().any(|l| {
        let l = l.trim();
        !l.is_empty() && !l.starts_with('#')
    });
    if !meaningful {
        return Ok(Edited::Empty);
    }
    let file: EditedFile = serde_saphyr::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!("line {}, column {}", l.line(), l.column()))
            .unwrap_or_else(|| "somewhere".into());
        format!(
            "not the expected YAML at {at}: the file holds stringData: and data: maps of KEY: VALUE (quote a value that holds ': ' or starts with a special character)"
        )
    })?;
    let mut data = BTreeMap::new();
    for (key, value) in file.string_data.unwrap_or_default() {
        data.insert(key, SecretValue::new(value.into_bytes()));
    }
    for (key, encoded) in file.data.unwrap_or_default() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| format!("data: {key} is not base64 (put text under stringData:)"))?;
        if data.insert(key.clone(), SecretValue::new(bytes)).is_some() {
            return Err(format!("key {key} is under both stringData: and data:; keep one"));
        }
    }
    for key in data.keys() {
        super::plan::check_key_name(key)?;
    }
    Ok(Edited::Data(data))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn values(pairs: &[(&str, &[u8])]) -> BTreeMap<String, SecretValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), SecretValue::new(v.to_vec())))
            .collect()
    }

    fn round_trip(data: &BTreeMap<String, SecretValue>) -> BTreeMap<String, SecretValue> {
        let text = render("shop", "db", 3, data, None);
        match parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}")) {
            Edited::Data(read) => read,
            Edited::Empty => panic!("read as empty:\n{text}"),
        }
    }

    #[test]
    fn text_certificates_and_binary_read_back_as_written() {
        let data = values(&[
            ("password", b"s3cr#t: \"quoted\" 'x'"),
            (
                "tls.crt",
                b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
            ),
            ("config.yaml", b"a: 1\n\nb: [2]"),
            ("blob", &[0, 159, 146, 150]),
            ("empty", b""),
            ("true", b"yes"),
            ("1", b"2"),
            ("spaces", b"  leading\n and lines  \n"),
        ]);
        let text = render("shop", "db", 3, &data, None);
        assert!(
            text.contains("  tls.crt: |\n    -----BEGIN CERTIFICATE-----\n"),
            "{text}"
        );
        assert!(text.contains("data:\n  blob: AJ+Slg==\n"), "{text}");
        assert!(text.contains("  password: \"s3cr#t"), "{text}");
        assert_eq!(round_trip(&data), data);
    }

    #[test]
    fn comments_only_is_a_cancel_and_errors_never_quote_the_file() {
        assert_eq!(parse("# nothing\n\n  # here\n"), Ok(Edited::Empty));
        let err = parse("stringData:\n  a: [unclosed super-secret-value\n").unwrap_err();
        assert!(!err.contains("super-secret-value"), "{err}");
        assert!(err.contains("line"), "{err}");
        let err = parse("stringData: {}\nmetadata: {}\n").unwrap_err();
        assert!(err.contains("stringData"), "{err}");
        let err = parse("data:\n  k: \"not base64!\"\n").unwrap_err();
        assert!(err.contains("data: k is not base64"), "{err}");
        let err = parse("stringData:\n  k: a\ndata:\n  k: YQ==\n").unwrap_err();
        assert!(err.contains("both"), "{err}");
        assert!(parse("stringData:\n  \"bad key\": a\n").is_err());
    }

    #[test]
    fn plain_values_typed_by_a_person_are_text() {
        let Ok(Edited::Data(data)) = parse("stringData:\n  PORT: 5432\n  FLAG: true\n  NAME: admin\n") else {
            panic!("parses");
        };
        assert_eq!(data["PORT"].expose(), b"5432");
        assert_eq!(data["FLAG"].expose(), b"true");
        assert_eq!(data["NAME"].expose(), b"admin");
    }

    proptest! {
        #[test]
        fn any_data_reads_back_byte_for_byte(
            entries in proptest::collection::btree_map(
                "[A-Za-z0-9_-][A-Za-z0-9_.-]{0,11}",
                prop_oneof![
                    proptest::collection::vec(any::<u8>(), 0..40),
                    "[ -~\n\t]{0,60}".prop_map(String::into_bytes),
                    "\\PC{0,20}".prop_map(String::into_bytes),
                ],
                0..6,
            )
        ) {
            let data: BTreeMap<String, SecretValue> =
                entries.into_iter().map(|(k, v)| (k, SecretValue::new(v))).collect();
            prop_assert_eq!(round_trip(&data), data);
        }
    }
}
