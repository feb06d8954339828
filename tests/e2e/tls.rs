//! TLS Secrets in `list` and `audit`: expiry, issuer, DNS names and cert-manager ownership read
//! from certificates made in the test; the private key is never printed.

use jiff::{Timestamp, ToSpan};
use serde_json::json;

use crate::support::{exit, make_certificate, parse_prometheus, TestNamespace};

fn openssl_date(at: Timestamp) -> String {
    at.strftime("%Y%m%d%H%M%SZ").to_string()
}

#[tokio::test]
async fn certificates_show_expiry_issuer_and_owner_and_expiring_ones_are_flagged() {
    let ns = TestNamespace::new("tls").await;
    let now = Timestamp::now();
    let start = openssl_date(now - 1.hour());
    let certificates = [
        (
            "web-tls",
            "Platform CA",
            vec!["platform.example", "api.platform.example"],
            start.clone(),
            openssl_date(now + (400 * 24 + 1).hours()),
        ),
        (
            "soon-tls",
            "Platform CA",
            vec!["soon.platform.example"],
            start.clone(),
            openssl_date(now + 240.hours() + 1.hour()),
        ),
        (
            "old-tls",
            "Old CA",
            vec!["old.platform.example"],
            "20200101000000Z".to_string(),
            "20200102000000Z".to_string(),
        ),
    ];
    let mut keys = Vec::new();
    for (name, issuer, dns, from, to) in &certificates {
        let (cert, key) = make_certificate(issuer, dns, from, to);
        let mut annotations = json!({});
        if *name == "web-tls" {
            annotations =
                json!({"cert-manager.io/certificate-name": "web-cert", "cert-manager.io/issuer-name": "platform-ca"});
        }
        ns.create_secret(json!({
            "metadata": {"name": name, "annotations": annotations},
            "type": "kubernetes.io/tls",
            "stringData": {"tls.crt": cert, "tls.key": key},
        }))
        .await;
        // The base64 body of the private key: none of its lines may ever be printed.
        keys.extend(key.lines().filter(|l| l.len() > 40).map(str::to_string));
    }
    ns.create_secret(json!({
        "metadata": {"name": "broken-tls"},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": "not a certificate", "tls.key": "not a key"},
    }))
    .await;

    let list = ns.run(&["list", "--cert-expiry", "30d"]);
    assert_eq!(list.code, exit::FOUND, "an expiring certificate exits 1: {list:?}");
    let line = |name: &str| {
        list.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} listed:\n{}", list.stdout))
            .to_string()
    };
    assert!(line("soon-tls").contains("in 10d"), "{}", list.stdout);
    assert!(line("web-tls").contains("in 400d"), "{}", list.stdout);
    assert!(
        line("web-tls").contains("Certificate/web-cert (cert-manager)"),
        "{}",
        list.stdout
    );
    assert!(line("old-tls").contains("expired 2020-01-02"), "{}", list.stdout);
    assert!(line("broken-tls").contains("unreadable"), "{}", list.stdout);
    assert!(
        list.stdout.contains("2 certificates expiring soon or expired"),
        "{}",
        list.stdout
    );

    let wide = ns.run(&["list", "-o", "wide"]);
    assert_eq!(wide.code, exit::OK, "no --cert-expiry, no policy: {wide:?}");
    assert!(wide.stdout.contains("CN=Platform CA") && wide.stdout.contains("platform.example,api.platform.example"));

    let json = ns.run(&["list", "-o", "json", "--cert-expiry", "30d"]).json();
    let row = |name: &str| {
        json["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("web-tls")["certificate"]["dnsNames"],
        json!(["platform.example", "api.platform.example"])
    );
    assert_eq!(row("web-tls")["certificate"]["certManagerCertificate"], "web-cert");
    assert_eq!(row("soon-tls")["certificate"]["expiring"], true);
    assert_eq!(row("web-tls")["certificate"]["expiring"], false);
    assert!(row("broken-tls")["certificate"]["error"]
        .as_str()
        .unwrap()
        .contains("no PEM certificate"));

    let metrics = ns.run(&["list", "-o", "prometheus", "--cert-expiry", "30d"]);
    let parsed = parse_prometheus(&metrics.stdout);
    assert_eq!(parsed["kubectl_secrets_tls_expiry_days"]["soon-tls"], 10.0);
    assert_eq!(parsed["kubectl_secrets_tls_expiring"]["soon-tls"], 1.0);
    assert_eq!(parsed["kubectl_secrets_tls_expiring"]["web-tls"], 0.0);
    assert_eq!(
        parsed["kubectl_secrets_tls_expiration_timestamp_seconds"]["old-tls"],
        1577923200.0
    );

    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let rule_of = |secret: &str| {
        findings
            .iter()
            .filter(|f| f["secret"] == secret && f["rule"].as_str().unwrap().starts_with("certificate"))
            .map(|f| {
                (
                    f["rule"].as_str().unwrap().to_string(),
                    f["severity"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rule_of("old-tls"),
        [("certificate-expired".to_string(), "critical".to_string())]
    );
    assert_eq!(
        rule_of("soon-tls"),
        [("certificate-expiring".to_string(), "warning".to_string())]
    );
    assert_eq!(
        rule_of("broken-tls"),
        [("certificate-unreadable".to_string(), "warning".to_string())]
    );
    assert!(rule_of("web-tls").is_empty(), "400 days left is fine");

    for run in [&list, &wide, &metrics, &audit] {
        run.assert_no_leak(&keys);
    }
}
