//! `rotate --propagate`: the old value embedded in other Secrets (connection URIs, DSNs, JSON
//! blobs) is found and replaced by the new value, written the same way it was found: as is, or
//! percent-encoded as a URI password must be.

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS, NON_ALPHANUMERIC};

use super::secret_value::SecretValue;

/// Values shorter than this are too likely to occur by chance ("aura", "admin").
pub const MIN_PROPAGATED_LENGTH: usize = 8;

/// Characters RFC 3986 does not allow as is in a URI's userinfo (':' separates user from password).
const USERINFO: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// How the old value appears inside another value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Encoding {
    Raw,
    /// Percent-encoded for a URI's userinfo (what most URI builders write).
    Userinfo,
    /// Every byte but [A-Za-z0-9] percent-encoded (what `urllib.parse.quote(s, safe="")` writes).
    Component,
}

impl Encoding {
    pub fn describe(self) -> &'static str {
        match self {
            Encoding::Raw => "as is",
            Encoding::Userinfo | Encoding::Component => "URL-encoded",
        }
    }

    fn encode(self, value: &[u8]) -> Option<Vec<u8>> {
        let text = std::str::from_utf8(value).ok();
        match self {
            Encoding::Raw => Some(value.to_vec()),
            Encoding::Userinfo => text.map(|t| utf8_percent_encode(t, USERINFO).to_string().into_bytes()),
            Encoding::Component => text.map(|t| utf8_percent_encode(t, NON_ALPHANUMERIC).to_string().into_bytes()),
        }
    }
}

/// The distinct forms in which `old` could appear, most specific first.
fn forms(old: &SecretValue) -> Vec<(Encoding, Vec<u8>)> {
    let mut forms: Vec<(Encoding, Vec<u8>)> = Vec::new();
    for encoding in [Encoding::Raw, Encoding::Userinfo, Encoding::Component] {
        if let Some(form) = encoding.encode(old.expose()) {
            if !forms.iter().any(|(_, f)| *f == form) {
                forms.push((encoding, form));
            }
        }
    }
    forms
}

/// In which form, if any, `container` embeds `old` (a value equal to `old` is not embedding).
pub fn find(container: &SecretValue, old: &SecretValue) -> Option<Encoding> {
    if old.len() < MIN_PROPAGATED_LENGTH || container == old {
        return None;
    }
    forms(old)
        .into_iter()
        .find(|(_, form)| contains(container.expose(), form))
        .map(|(encoding, _)| encoding)
}

/// `container` with every occurrence of `old` (in `encoding`) replaced by `new` in the same encoding.
pub fn replace(
    container: &SecretValue,
    old: &SecretValue,
    new: &SecretValue,
    encoding: Encoding,
) -> Option<SecretValue> {
    let from = encoding.encode(old.expose())?;
    let to = encoding.encode(new.expose())?;
    let haystack = container.expose();
    let mut out = Vec::with_capacity(haystack.len() + to.len());
    let mut rest = haystack;
    while let Some(at) = position(rest, &from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(&to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    Some(SecretValue::new(out))
}

fn position(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    position(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> SecretValue {
        SecretValue::new(text.as_bytes().to_vec())
    }

    #[test]
    fn finds_and_replaces_a_raw_password_in_a_uri() {
        let uri = v("postgresql+psycopg://aura:OldPassw0rd@postgres:5432/aura_db");
        assert_eq!(find(&uri, &v("OldPassw0rd")), Some(Encoding::Raw));
        let new = replace(&uri, &v("OldPassw0rd"), &v("NewPassw0rdXYZ"), Encoding::Raw).unwrap();
        assert_eq!(
            new.expose(),
            b"postgresql+psycopg://aura:NewPassw0rdXYZ@postgres:5432/aura_db"
        );
    }

    #[test]
    fn url_encoded_passwords_are_replaced_url_encoded() {
        let old = v("p@ss/w:rd+1=");
        let uri = v("redis://:p%40ss%2Fw%3Ard+1=@redis:6379/0");
        assert_eq!(find(&uri, &old), Some(Encoding::Userinfo));
        let new = replace(&uri, &old, &v("n#w/p@ss word"), Encoding::Userinfo).unwrap();
        assert_eq!(new.expose(), b"redis://:n%23w%2Fp%40ss%20word@redis:6379/0");

        let python_quoted = v("redis://:p%40ss%2Fw%3Ard%2B1%3D@redis:6379/0");
        assert_eq!(find(&python_quoted, &old), Some(Encoding::Component));
        let new = replace(&python_quoted, &old, &v("a+b=c"), Encoding::Component).unwrap();
        assert_eq!(new.expose(), b"redis://:a%2Bb%3Dc@redis:6379/0");
    }

    #[test]
    fn every_occurrence_in_a_json_blob_is_replaced() {
        let blob = v(r#"{"primary":"s3cret-token-1","replica":"s3cret-token-1"}"#);
        let new = replace(&blob, &v("s3cret-token-1"), &v("fresh-token-22"), Encoding::Raw).unwrap();
        assert_eq!(
            new.expose(),
            br#"{"primary":"fresh-token-22","replica":"fresh-token-22"}"#
        );
    }

    #[test]
    fn short_values_and_equal_values_are_not_embeddings() {
        assert_eq!(find(&v("user=aura;db=aura_db"), &v("aura")), None);
        assert_eq!(find(&v("same-value-123"), &v("same-value-123")), None);
        assert_eq!(find(&v("nothing here at all"), &v("absent-value")), None);
    }

    #[test]
    fn binary_values_are_matched_raw_only() {
        let old = SecretValue::new(vec![0xff, 0xfe, 1, 2, 3, 4, 5, 6, 7]);
        let mut container = b"prefix".to_vec();
        container.extend_from_slice(old.expose());
        assert_eq!(find(&SecretValue::new(container), &old), Some(Encoding::Raw));
    }
}
