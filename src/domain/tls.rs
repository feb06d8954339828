//! `kubernetes.io/tls` Secrets: what their certificate says (expiry, issuer, DNS names). Only
//! `tls.crt` is read; the private key never is.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use x509_cert::der::DecodePem;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::Certificate;

/// The Secret key holding the certificate chain, leaf first.
pub const CERT_KEY: &str = "tls.crt";
/// cert-manager's annotation on the Secrets it issues.
pub const CERT_MANAGER_CERTIFICATE: &str = "cert-manager.io/certificate-name";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsInfo {
    pub not_after: Timestamp,
    pub issuer: String,
    pub subject: String,
    pub dns_names: Vec<String>,
    /// The serial number in hex: what tells one issuance of the same names from the next.
    pub serial: String,
    /// The cert-manager Certificate that issues it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_manager_certificate: Option<String>,
}

/// The certificate of a Secret, or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsCert {
    Read(TlsInfo),
    Unreadable(String),
}

/// The leaf certificate of `tls.crt` (the first PEM block). Errors never quote the input.
pub fn parse(pem: &[u8], annotations: &BTreeMap<String, String>) -> TlsCert {
    match leaf(pem) {
        Ok(cert) => {
            let tbs = &cert.tbs_certificate;
            let seconds = tbs.validity.not_after.to_unix_duration().as_secs();
            let not_after =
                Timestamp::from_second(i64::try_from(seconds).unwrap_or(i64::MAX)).unwrap_or(Timestamp::MAX);
            let dns_names = match tbs.get::<SubjectAltName>() {
                Ok(Some((_, san))) => san
                    .0
                    .iter()
                    .filter_map(|name| match name {
                        GeneralName::DnsName(dns) => Some(dns.to_string()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            TlsCert::Read(TlsInfo {
                not_after,
                issuer: tbs.issuer.to_string(),
                subject: tbs.subject.to_string(),
                dns_names,
                serial: hex::encode_upper(tbs.serial_number.as_bytes()),
                cert_manager_certificate: annotations.get(CERT_MANAGER_CERTIFICATE).cloned(),
            })
        }
        Err(reason) => TlsCert::Unreadable(reason),
    }
}

fn leaf(pem: &[u8]) -> Result<Certificate, String> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem).map_err(|_| "tls.crt is not PEM text".to_string())?;
    let start = text.find(BEGIN).ok_or("tls.crt holds no PEM certificate")?;
    let end = text[start..]
        .find(END)
        .map(|i| start + i + END.len())
        .ok_or("tls.crt has an unterminated PEM certificate")?;
    Certificate::from_pem(&text[start..end])
        .map_err(|_| "tls.crt's first certificate is not valid X.509 DER".to_string())
}

/// Whole days from `now` until `not_after` (negative once expired).
pub fn days_left(info: &TlsInfo, now: Timestamp) -> i64 {
    (info.not_after.as_second() - now.as_second()).div_euclid(86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made with: openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=platform.example"
    //   -addext "subjectAltName=DNS:platform.example,DNS:api.platform.example"
    const CERT: &str = include_str!("testdata/tls.crt");

    #[test]
    fn reads_expiry_issuer_and_dns_names_of_the_leaf() {
        let annotations = [(CERT_MANAGER_CERTIFICATE.to_string(), "platform-tls-cert".to_string())].into();
        let chain = format!("{CERT}{CERT}");
        let TlsCert::Read(info) = parse(chain.as_bytes(), &annotations) else {
            panic!("readable")
        };
        assert_eq!(info.issuer, "CN=platform.example");
        assert_eq!(info.dns_names, ["platform.example", "api.platform.example"]);
        assert!(!info.serial.is_empty() && info.serial.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(info.cert_manager_certificate.as_deref(), Some("platform-tls-cert"));
        assert!(days_left(&info, "2026-01-01T00:00:00Z".parse().unwrap()) > 3000);
    }

    #[test]
    fn unreadable_certificates_say_why_without_quoting() {
        for garbage in [
            &b"\xff\xfe"[..],
            b"hello",
            b"-----BEGIN CERTIFICATE-----\nQUFB\n-----END CERTIFICATE-----\n",
        ] {
            match parse(garbage, &BTreeMap::new()) {
                TlsCert::Unreadable(reason) => assert!(!reason.contains("QUFB") && !reason.contains("hello")),
                TlsCert::Read(_) => panic!("garbage read as a certificate"),
            }
        }
    }
}
