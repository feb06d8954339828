//! Keys whose new value must not be drawn at random: credentials another party issues or
//! checks (an OpenAI key, an S3 secret key, an SMTP password, an OAuth client secret), values
//! with a structure (PEM, JSON, a URL) and identifiers that are not secrets at all (user names,
//! account and key ids, hosts). A random value for any of them authenticates nowhere: the key
//! is rotated where it is issued, and the value it gets there is given with --from-stdin or
//! --from-file. The rules are name patterns and value shapes; a Secret can override them per
//! key with the annotations below (docs in the README, "Keys rotate leaves alone").

use std::collections::{BTreeMap, BTreeSet};

use super::secret_value::SecretValue;

/// On a Secret: comma-separated keys rotate may generate although a rule says otherwise.
pub const GENERATE: &str = "kubectl-secrets.io/generate";
/// On a Secret: comma-separated keys rotate never generates, whatever their name says.
pub const NEVER_GENERATE: &str = "kubectl-secrets.io/never-generate";

/// A Secret's own overrides of the rules, from its annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub generate: BTreeSet<String>,
    pub never_generate: BTreeSet<String>,
}

impl Overrides {
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let keys = |name: &str| -> BTreeSet<String> {
            annotations
                .get(name)
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Overrides {
            generate: keys(GENERATE),
            never_generate: keys(NEVER_GENERATE),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// Names something rather than proving it: a user name, an id, a host.
    Identifier(String),
    /// A credential another party issues or checks (the party, as far as the name or value tells).
    IssuedBy(String),
    /// A value with a structure a random string would break.
    Structured(String),
    /// The Secret's `kubectl-secrets.io/never-generate` annotation names it.
    Annotated,
}

impl Reason {
    /// Whether the key holds a credential someone else issues (audit's "rotate at the issuer").
    pub fn is_issued_credential(&self) -> bool {
        matches!(self, Reason::IssuedBy(_) | Reason::Annotated)
    }
}

impl Reason {
    /// What to do instead of generating `key`.
    pub fn next_step(&self, key: &str) -> String {
        match self {
            Reason::IssuedBy(_) | Reason::Annotated => format!(
                "rotate it where it is issued, then give the new value with --from-stdin {key} (or --from-file {key}=PATH)"
            ),
            Reason::Identifier(_) => format!("change it with --set {key}=VALUE beside the credential it names, or leave it"),
            Reason::Structured(_) => format!("give the new value with --from-file {key}=PATH"),
        }
    }

    /// The refusal of `--key KEY` (no generator) without a terminal to ask on.
    pub fn refusal(&self, secret: &str, key: &str) -> String {
        format!(
            "--key {key}: {secret}/{key} is {self}, so a random value would work nowhere: {}. \
             To generate one anyway, name the generator: --key {key}=alnum:48",
            self.next_step(key)
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Identifier(what) => write!(f, "an identifier ({what}), not a secret"),
            Reason::IssuedBy(party) => write!(f, "a credential issued by {party}"),
            Reason::Structured(what) => write!(f, "{what}"),
            Reason::Annotated => write!(f, "marked never to be generated ({NEVER_GENERATE})"),
        }
    }
}

/// Why `key` of a Secret must not get a random value, if it must not. `keys` are all the
/// Secret's keys (a value naming another key is a pointer, like seed 003's `active-key`).
pub fn reason(key: &str, value: &SecretValue, keys: &BTreeSet<&str>, overrides: &Overrides) -> Option<Reason> {
    if overrides.never_generate.contains(key) {
        return Some(Reason::Annotated);
    }
    if overrides.generate.contains(key) {
        return None;
    }
    let text = std::str::from_utf8(value.expose()).unwrap_or("").trim();
    by_value(text, keys).or_else(|| by_name(key))
}

/// Why `key` of the Secret holding `data` must not get a random value, if it must not.
pub fn for_key(data: &BTreeMap<String, SecretValue>, overrides: &Overrides, key: &str) -> Option<Reason> {
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    reason(key, data.get(key)?, &keys, overrides)
}

/// Every key of a Secret that must not be generated, with why, in key order.
pub fn in_secret(data: &BTreeMap<String, SecretValue>, overrides: &Overrides) -> Vec<(String, Reason)> {
    let keys: BTreeSet<&str> = data.keys().map(String::as_str).collect();
    data.iter()
        .filter_map(|(k, v)| reason(k, v, &keys, overrides).map(|r| (k.clone(), r)))
        .collect()
}

/// Value shapes: provider key formats, PEM, JSON, URLs without a password, pointers.
fn by_value(text: &str, keys: &BTreeSet<&str>) -> Option<Reason> {
    const ISSUED_PREFIXES: [(&str, &str); 17] = [
        ("sk-ant-", "Anthropic"),
        ("sk-proj-", "OpenAI"),
        ("sk_live_", "Stripe"),
        ("sk_test_", "Stripe"),
        ("rk_live_", "Stripe"),
        ("rk_test_", "Stripe"),
        ("whsec_", "Stripe"),
        ("ghp_", "GitHub"),
        ("gho_", "GitHub"),
        ("ghs_", "GitHub"),
        ("ghu_", "GitHub"),
        ("github_pat_", "GitHub"),
        ("glpat-", "GitLab"),
        ("xoxb-", "Slack"),
        ("xoxp-", "Slack"),
        ("hf_", "Hugging Face"),
        ("AIza", "Google"),
    ];
    if text.is_empty() {
        return None;
    }
    if let Some((_, party)) = ISSUED_PREFIXES
        .iter()
        .find(|(prefix, _)| text.starts_with(prefix) && text.len() > prefix.len() + 8)
    {
        return Some(Reason::IssuedBy(party.to_string()));
    }
    // OpenAI's older keys: sk- and 32 or more letters and digits (sk-xxx placeholders too).
    if text.starts_with("sk-")
        && text[3..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Some(Reason::IssuedBy("OpenAI (its key format)".into()));
    }
    if text.starts_with("SG.") && text.matches('.').count() == 2 {
        return Some(Reason::IssuedBy("SendGrid".into()));
    }
    let alnum_upper = |s: &str| s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if text.len() == 20 && ["AKIA", "ASIA"].iter().any(|p| text.starts_with(p)) && alnum_upper(text) {
        return Some(Reason::Identifier("an AWS access key id".into()));
    }
    let hex_lower = |s: &str| s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if text.len() == 34 && ["AC", "SK", "MG", "PN"].iter().any(|p| text.starts_with(p)) && hex_lower(&text[2..]) {
        return Some(Reason::Identifier("a Twilio SID".into()));
    }
    if text.starts_with("-----BEGIN ") {
        return Some(Reason::Structured(
            "a PEM key or certificate: issue a new one, then give it with --from-file".into(),
        ));
    }
    let bracketed = (text.starts_with('{') && text.ends_with('}')) || (text.starts_with('[') && text.ends_with(']'));
    if bracketed && serde_json::from_str::<serde_json::Value>(text).is_ok() {
        return Some(Reason::Structured(
            "a JSON document: write the new one and give it with --from-file".into(),
        ));
    }
    if let Ok(url) = url::Url::parse(text) {
        if text.contains("://") && url.has_host() && url.password().is_none() {
            return Some(Reason::Identifier(
                "a URL without a password: an address, or a webhook its service issued".into(),
            ));
        }
    }
    // A random string in place of a connection URL breaks every client that parses it: its
    // password changes with the key that holds the password (--propagate carries it in). Read
    // by hand, not by a URL parser: clients take passwords (base64's `/`, `+`, `=`) that a
    // strict parser refuses.
    if url_with_password(text) {
        return Some(Reason::Structured(
            "a URL with a password inside: rotate the key that holds the password with --propagate, \
             which writes the new one into this URL"
                .into(),
        ));
    }
    if keys.contains(text) {
        return Some(Reason::Identifier(format!("points at key {text}")));
    }
    None
}

/// `scheme://user:password@host...` (the user may be empty, as in `redis://:pw@redis`).
fn url_with_password(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c));
    match rest.rfind('@') {
        Some(at) => scheme_ok && rest[..at].contains(':') && rest.len() > at + 1,
        None => false,
    }
}

/// Known parties whose credentials an application holds, by a word of the key's name.
const PARTIES: [(&str, &str); 44] = [
    ("OPENAI", "OpenAI"),
    ("ANTHROPIC", "Anthropic"),
    ("CLAUDE", "Anthropic"),
    ("GEMINI", "Google"),
    ("GOOGLE", "Google"),
    ("GCP", "Google Cloud"),
    ("FIREBASE", "Google (Firebase)"),
    ("LLM", "an LLM provider"),
    ("COHERE", "Cohere"),
    ("MISTRAL", "Mistral"),
    ("GROQ", "Groq"),
    ("HF", "Hugging Face"),
    ("HUGGINGFACE", "Hugging Face"),
    ("PERPLEXITY", "Perplexity"),
    ("REPLICATE", "Replicate"),
    ("DEEPGRAM", "Deepgram"),
    ("ELEVENLABS", "ElevenLabs"),
    ("PINECONE", "Pinecone"),
    ("STRIPE", "Stripe"),
    ("PAYPAL", "PayPal"),
    ("TWILIO", "Twilio"),
    ("SMS", "the SMS provider"),
    ("SENDGRID", "SendGrid"),
    ("MAILGUN", "Mailgun"),
    ("POSTMARK", "Postmark"),
    ("SMTP", "the mail provider (SMTP)"),
    ("SES", "AWS SES"),
    ("AWS", "AWS"),
    ("S3", "the S3 storage provider"),
    ("AZURE", "Azure"),
    ("CLOUDFLARE", "Cloudflare"),
    ("SLACK", "Slack"),
    ("DISCORD", "Discord"),
    ("TELEGRAM", "Telegram"),
    ("GITHUB", "GitHub"),
    ("GITLAB", "GitLab"),
    ("SENTRY", "Sentry"),
    ("DATADOG", "Datadog"),
    ("PAGERDUTY", "PagerDuty"),
    ("ALGOLIA", "Algolia"),
    ("AUTH0", "Auth0"),
    ("OKTA", "Okta"),
    ("MAPBOX", "Mapbox"),
    ("PUSHER", "Pusher"),
];

/// Words of a name that make it a credential (with a party's name before them).
const CREDENTIAL_WORDS: [&str; 9] = [
    "KEY",
    "APIKEY",
    "TOKEN",
    "SECRET",
    "PASS",
    "PASSWORD",
    "PASSWD",
    "PAT",
    "CREDENTIALS",
];

/// Last words of names that hold identifiers.
const IDENTIFIER_WORDS: [(&str, &str); 17] = [
    ("USER", "a user name"),
    ("USERNAME", "a user name"),
    ("LOGIN", "a user name"),
    ("ID", "an id"),
    ("SID", "an account id"),
    ("HOST", "a host name"),
    ("HOSTNAME", "a host name"),
    ("PORT", "a port"),
    ("REGION", "a region"),
    ("BUCKET", "a bucket name"),
    ("ENDPOINT", "an address"),
    ("EMAIL", "an email address"),
    ("DB", "a database name"),
    ("DATABASE", "a database name"),
    ("NAME", "a name"),
    ("DOMAIN", "a domain"),
    ("ACCOUNT", "an account"),
];

/// Name patterns: `*_USER`, `*_ACCESS_KEY_ID`, `*_SID` (identifiers); `OPENAI_API_KEY`,
/// `SMTP_PASS`, `*_CLIENT_SECRET`, `*_SECRET_ACCESS_KEY` (issued elsewhere).
fn by_name(key: &str) -> Option<Reason> {
    let upper = key.to_ascii_uppercase();
    let words: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let last = *words.last()?;
    let ends_with = |tail: &[&str]| words.len() >= tail.len() && words[words.len() - tail.len()..] == *tail;
    if let Some((_, what)) = IDENTIFIER_WORDS.iter().find(|(word, _)| *word == last) {
        return Some(Reason::Identifier((*what).to_string()));
    }
    let party = words
        .iter()
        .find_map(|w| PARTIES.iter().find(|(word, _)| word == w).map(|(_, party)| *party));
    if ends_with(&["SECRET", "ACCESS", "KEY"]) {
        return Some(Reason::IssuedBy(
            party.unwrap_or("the cloud or storage provider").to_string(),
        ));
    }
    if ends_with(&["CLIENT", "SECRET"]) {
        return Some(Reason::IssuedBy(
            party.unwrap_or("the identity provider (OAuth)").to_string(),
        ));
    }
    let credential = words.iter().any(|w| CREDENTIAL_WORDS.contains(w));
    match party {
        Some(party) if credential || words.iter().all(|w| PARTIES.iter().any(|(p, _)| p == w)) => {
            Some(Reason::IssuedBy(party.to_string()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(key: &str, value: &str) -> Option<Reason> {
        reason(
            key,
            &SecretValue::new(value.as_bytes().to_vec()),
            &BTreeSet::from([key]),
            &Overrides::default(),
        )
    }

    #[test]
    fn seed_004s_third_party_keys_and_identifiers_are_not_generated() {
        let cases = [
            ("S3_ACCESS_KEY_ID", "your-s3-access-key", "identifier"),
            ("S3_SECRET_ACCESS_KEY", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "S3"),
            ("SMTP_USER", "notifications", "identifier"),
            ("SMTP_PASS", "aGVsbG8gd29ybGQgaGVsbG8", "mail provider"),
            ("SMS_ACCOUNT_SID", "AC0123456789abcdef0123456789abcdef", "identifier"),
            ("SMS_AUTH_TOKEN", "0123456789abcdef0123456789abcdef", "SMS provider"),
            (
                "LLM_PROVIDER_1_API_KEY",
                "sk-0123456789abcdef0123456789abcdef",
                "OpenAI",
            ),
            (
                "LLM_PROVIDER_2_API_KEY",
                "sk-ant-0123456789abcdef0123456789abcdef",
                "Anthropic",
            ),
            ("AUTH0_CLIENT_SECRET", "<Paste Auth0 Secret Here>", "Auth0"),
            ("openai", "sk-xxx", "OpenAI"),
            ("anthropic", "whatever-it-is", "Anthropic"),
            ("postgres-user", "aura", "identifier"),
            ("postgres-db", "aura_db", "identifier"),
            ("TURN_USERNAME", "sfu", "identifier"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "identifier"),
            ("GITHUB_WEBHOOK_SECRET", "0123456789abcdef", "GitHub"),
            (
                "tls.key",
                "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----",
                "PEM",
            ),
            (".dockerconfigjson", r#"{"auths":{}}"#, "JSON"),
            ("SLACK_WEBHOOK", "https://hooks.slack.com/services/T0/B0/XYZ", "URL"),
            (
                "DATABASE_URL",
                "postgresql://vc:pw@postgres:5432/vc",
                "a URL with a password inside",
            ),
            ("REDIS_URL", "redis://:pw@redis:6379/0", "--propagate"),
            (
                "POSTGRES_DB_URI",
                "postgresql+psycopg://aura:a/b+c=@postgres:5432/aura_db",
                "a URL with a password inside",
            ),
        ];
        for (key, value, expected) in cases {
            let reason = why(key, value).unwrap_or_else(|| panic!("{key} should not be generated"));
            assert!(reason.to_string().contains(expected), "{key}: {reason}");
        }
    }

    #[test]
    fn secrets_the_application_owns_are_generated() {
        for (key, value) in [
            ("JWT_SECRET", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"),
            ("ENCRYPTION_KEY", "0123456789abcdef0123456789abcdef"),
            ("TOKEN", "canary-abc"),
            ("API_KEY", "canary-abc"),
            ("password", "hunter2hunter2"),
            ("REDIS_PASSWORD", "c2VjcmV0"),
            ("TURN_PASSWORD", "c2VjcmV0"),
            ("jwt-secret-v1", "c2VjcmV0c2VjcmV0"),
        ] {
            assert_eq!(why(key, value), None, "{key}");
        }
    }

    #[test]
    fn a_value_naming_another_key_is_a_pointer() {
        let keys = BTreeSet::from(["active-key", "jwt-secret-v1"]);
        let reason = reason(
            "active-key",
            &SecretValue::new(b"jwt-secret-v1".to_vec()),
            &keys,
            &Overrides::default(),
        );
        assert!(reason.unwrap().to_string().contains("points at key jwt-secret-v1"));
    }

    #[test]
    fn annotations_override_the_rules_both_ways() {
        let overrides = Overrides::from_annotations(&BTreeMap::from([
            (GENERATE.to_string(), "SMTP_PASS, openai".to_string()),
            (NEVER_GENERATE.to_string(), "JWT_SECRET".to_string()),
        ]));
        let keys = BTreeSet::new();
        let value = SecretValue::new(b"abc".to_vec());
        assert_eq!(reason("SMTP_PASS", &value, &keys, &overrides), None);
        assert_eq!(
            reason("openai", &SecretValue::new(b"sk-xxx".to_vec()), &keys, &overrides),
            None
        );
        assert_eq!(reason("JWT_SECRET", &value, &keys, &overrides), Some(Reason::Annotated));
    }
}
