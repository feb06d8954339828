//! cert-manager on the bed (its real controllers): list and audit say who issues a TLS Secret and
//! why a renewal does not happen; `rotate` of such a Secret renews it through cert-manager,
//! restarts only what does not reload it, and verifies. The private key is never printed.

use std::collections::BTreeMap;
use std::time::Duration;

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind};
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::events::{about, events};
use crate::support::{annotations, cluster, deployment, exit, next_second, workload, Background, TestNamespace};

fn api(ns: &TestNamespace, kind: &str, plural: &str) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("cert-manager.io", "v1", kind), plural);
    Api::namespaced_with(ns.client.clone(), &ns.name, &resource)
}

async fn certificate(ns: &TestNamespace, name: &str) -> Value {
    let object = api(ns, "Certificate", "certificates")
        .get(name)
        .await
        .expect("get certificate");
    serde_json::to_value(object).unwrap()
}

fn condition(object: &Value, kind: &str) -> Option<(String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

/// Poll until `check` holds for the object (bounded).
async fn wait_until(
    ns: &TestNamespace,
    kind: &str,
    plural: &str,
    name: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(object)) = api(ns, kind, plural).get_opt(name).await {
            if check(&serde_json::to_value(object).unwrap()) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{kind} {name} in {}: {what} not within 90 s",
            ns.name
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn is_ready(object: &Value) -> bool {
    condition(object, "Ready").is_some_and(|(status, _)| status == "True")
}

/// A CA made with the bed's self-signed ClusterIssuer, an Issuer `web-ca` signing with it, and
/// `web-tls` issued by that Issuer, Ready.
async fn issued(ns: &TestNamespace) {
    for manifest in [
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web-ca"},
               "spec": {"isCA": true, "commonName": "web CA", "secretName": "web-ca",
                        "privateKey": {"algorithm": "ECDSA", "size": 256},
                        "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "web-ca"},
               "spec": {"ca": {"secretName": "web-ca"}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web-tls"},
               "spec": {"secretName": "web-tls", "dnsNames": ["web.example", "api.web.example"],
                        "duration": "2160h", "renewBefore": "1440h",
                        "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                        "issuerRef": {"name": "web-ca", "kind": "Issuer"}}}),
    ] {
        ns.apply(&manifest);
    }
    wait_until(ns, "Certificate", "certificates", "web-tls", "Ready", is_ready).await;
}

/// Three readers of web-tls: the whole Secret as a volume (the files update in place), tls.crt
/// through a subPath mount and tls.crt in an env var (both fixed at start).
async fn readers(ns: &TestNamespace) {
    ns.create_deployment(deployment(
        "gateway",
        2,
        json!({"containers": [{"name": "gateway", "image": "gateway:1",
                               "volumeMounts": [{"name": "tls", "mountPath": "/etc/tls"}]}],
               "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}}]}),
    ))
    .await;
    ns.create_deployment(deployment(
        "proxy",
        1,
        json!({"containers": [{"name": "proxy", "image": "proxy:1",
                               "volumeMounts": [{"name": "tls", "mountPath": "/etc/proxy/tls.crt", "subPath": "tls.crt"}]}],
               "volumes": [{"name": "tls", "secret": {"secretName": "web-tls"}}]}),
    ))
    .await;
    ns.create_deployment(deployment(
        "client",
        1,
        json!({"containers": [{"name": "client", "image": "client:1",
                               "env": [{"name": "CLIENT_CERT", "valueFrom": {"secretKeyRef": {"name": "web-tls", "key": "tls.crt"}}}]}]}),
    ))
    .await;
    for name in ["gateway", "proxy", "client"] {
        ns.wait_ready("deployment", name).await;
    }
}

/// The private key's base64 lines: none may ever be printed.
async fn key_lines(ns: &TestNamespace, secret: &str) -> Vec<String> {
    let data = ns.secret_data(secret).await;
    let key = String::from_utf8(data["tls.key"].clone()).unwrap();
    key.lines().filter(|l| l.len() > 20).map(str::to_string).collect()
}

#[tokio::test]
async fn a_renewal_restarts_only_what_does_not_reload_and_verifies() {
    let ns = TestNamespace::new("cm-renew").await;
    issued(&ns).await;
    readers(&ns).await;
    let mut secrets = key_lines(&ns, "web-tls").await;
    let before = ns.secret_data("web-tls").await;

    // list: the Secret's Certificate, issuer, revision and readiness.
    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let rows = list.json()["secrets"].as_array().unwrap().clone();
    let row = rows.iter().find(|r| r["name"] == "web-tls").expect("web-tls listed");
    assert_eq!(row["owner"], "Certificate/web-tls (cert-manager)", "{row}");
    let cm = &row["certificate"]["certManager"];
    assert_eq!(cm["certificate"], "web-tls");
    assert_eq!(cm["issuer"], "Issuer/web-ca");
    assert_eq!(cm["ready"], true);
    assert_eq!(cm["revision"], 1);
    assert!(cm["renewalTime"].is_string(), "{cm}");
    // The CA's Secret: no pod reads it, the CA Issuer signs with it.
    let ca = rows.iter().find(|r| r["name"] == "web-ca").expect("web-ca listed");
    assert_eq!(ca["consumers"], 0);
    assert_eq!(ca["usedBy"], json!(["Issuer/web-ca (its CA)"]), "{ca}");
    let wide = ns.run(&["list", "-o", "wide"]);
    assert!(wide.stdout.contains("(revision 1)"), "{}", wide.stdout);
    assert!(wide.stdout.contains("Issuer/web-ca (its CA)"), "{}", wide.stdout);

    // The plan, without a change: only the subPath and env readers restart.
    let dry = ns.run(&["rotate", "web-tls", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(
        dry.stdout.contains("renew the certificate in Secret web-tls"),
        "{}",
        dry.stdout
    );
    assert!(dry.stdout.contains("Issuer/web-ca"), "{}", dry.stdout);
    let line = |name: &str| {
        dry.stdout
            .lines()
            .find(|l| l.contains(&format!("deployment/{name}")))
            .unwrap_or_else(|| panic!("{name} in the plan:\n{}", dry.stdout))
            .to_string()
    };
    assert!(line("gateway").contains("update in place"), "{}", dry.stdout);
    assert!(line("proxy").contains("restart"), "{}", dry.stdout);
    assert!(line("client").contains("restart"), "{}", dry.stdout);
    assert!(dry.stderr.contains("Dry run: nothing was changed"), "{}", dry.stderr);
    assert_eq!(
        certificate(&ns, "web-tls").await["status"]["revision"],
        1,
        "a dry run asks for nothing"
    );

    // Values are refused: cert-manager makes them.
    let given = ns.run(&["rotate", "web-tls", "--key", "tls.key", "--yes"]);
    assert_eq!(given.code, exit::USAGE, "{given:?}");
    assert!(given.stderr.contains("issued by cert-manager's Certificate web-tls") && given.stderr.contains("--key"));

    let gateway_pods = ns.pod_names("gateway-").await;
    let proxy_pods = ns.pod_names("proxy-").await;
    let client_pods = ns.pod_names("client-").await;
    let renew = ns.run(&["rotate", "web-tls", "--yes", "--min-restart-interval", "0"]);
    assert_eq!(renew.code, exit::OK, "{renew:?}");
    assert!(
        renew
            .stderr
            .contains(&format!("Renewed: Secret {}/web-tls holds a new certificate", ns.name)),
        "{}",
        renew.stderr
    );
    let after = certificate(&ns, "web-tls").await;
    assert_eq!(after["status"]["revision"], 2, "{after}");
    assert!(is_ready(&after), "Ready after the renewal: {after}");
    let renewed = ns.secret_data("web-tls").await;
    assert_ne!(renewed["tls.crt"], before["tls.crt"], "a new certificate");
    assert_ne!(
        renewed["tls.key"], before["tls.key"],
        "rotationPolicy Always: a new key"
    );
    assert_eq!(
        ns.pod_names("gateway-").await,
        gateway_pods,
        "the volume reader is left alone: {}",
        renew.stderr
    );
    let new_proxy = ns.pod_names("proxy-").await;
    let new_client = ns.pod_names("client-").await;
    assert!(
        new_proxy.iter().all(|p| !proxy_pods.contains(p)),
        "subPath reader restarted: {proxy_pods:?} then {new_proxy:?}"
    );
    assert!(
        new_client.iter().all(|p| !client_pods.contains(p)),
        "env reader restarted: {client_pods:?} then {new_client:?}"
    );

    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(
        verify.code,
        exit::OK,
        "every reader runs with the new certificate: {verify:?}"
    );

    let recorded = events(&ns);
    let on_secret = about(&recorded, "Secret", "web-tls");
    assert!(
        on_secret.iter().any(|e| e["reason"] == "Renewed"),
        "an Event on the Secret: {on_secret:?}"
    );
    assert!(
        about(&recorded, "Deployment", "proxy")
            .iter()
            .any(|e| e["reason"] == "Restarted"),
        "an Event on the restarted proxy: {recorded:?}"
    );
    assert!(
        about(&recorded, "Deployment", "gateway").is_empty(),
        "nothing said of what was not restarted"
    );

    secrets.extend(key_lines(&ns, "web-tls").await);
    for run in [&list, &wide, &dry, &given, &renew, &verify] {
        run.assert_no_leak(&secrets);
    }
}

#[tokio::test]
async fn a_renewal_that_cannot_succeed_says_why_and_restarts_nothing() {
    let ns = TestNamespace::new("cm-fail").await;
    issued(&ns).await;
    readers(&ns).await;
    let secrets = key_lines(&ns, "web-tls").await;
    let before = ns.secret_data("web-tls").await;
    let proxy_pods = ns.pod_names("proxy-").await;

    // The CA Secret removed (its Certificate first, which would issue it again): cert-manager's
    // issuer controller marks the Issuer not Ready.
    api(&ns, "Certificate", "certificates")
        .delete("web-ca", &DeleteParams::default())
        .await
        .expect("delete the CA's Certificate");
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(ns.client.clone(), &ns.name)
        .delete("web-ca", &DeleteParams::default())
        .await
        .expect("delete the CA Secret");
    wait_until(&ns, "Issuer", "issuers", "web-ca", "not Ready", |o| !is_ready(o)).await;

    let renew = ns.run(&["rotate", "web-tls", "--yes"]);
    assert_eq!(renew.code, exit::ISSUER_REFUSED, "{renew:?}");
    assert!(renew.stderr.contains("Issuer/web-ca"), "{}", renew.stderr);
    assert!(
        renew.stderr.contains("web-ca"),
        "the issuer's own reason: {}",
        renew.stderr
    );
    assert!(renew.stderr.contains("nothing was changed"), "{}", renew.stderr);
    let after = certificate(&ns, "web-tls").await;
    assert_eq!(after["status"]["revision"], 1);
    assert!(
        condition(&after, "Issuing").is_none(),
        "no renewal was asked for: {after}"
    );
    assert_eq!(ns.secret_data("web-tls").await, before);
    assert_eq!(ns.pod_names("proxy-").await, proxy_pods, "nothing restarted");

    // audit says the same, from the objects' status.
    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let finding = findings
        .iter()
        .find(|f| f["rule"] == "certificate-issuer-not-ready")
        .unwrap_or_else(|| panic!("{findings:#?}"));
    assert_eq!(finding["secret"], "web-tls");
    assert_eq!(finding["severity"], "critical");
    assert!(finding["fix"]
        .as_str()
        .unwrap()
        .contains("kubectl secrets rotate web-tls"));
    for run in [&renew, &audit] {
        run.assert_no_leak(&secrets);
    }
}

#[tokio::test]
async fn a_certificate_already_being_issued_is_left_to_cert_manager() {
    let ns = TestNamespace::new("cm-busy").await;
    issued(&ns).await;
    readers(&ns).await;
    let before = ns.secret_data("web-tls").await;
    let proxy_pods = ns.pod_names("proxy-").await;
    // Pointed at an issuer of another group (an external issuer not installed here): cert-manager
    // starts issuing for the new issuer at once, and nothing signs the request.
    let web = certificate(&ns, "web-tls").await;
    let mut spec = web["spec"].clone();
    spec["issuerRef"] = json!({"name": "vault", "kind": "VaultIssuer", "group": "issuers.example.com"});
    ns.apply(&json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
                     "metadata": {"name": "web-tls"}, "spec": spec}));
    wait_until(&ns, "Certificate", "certificates", "web-tls", "Issuing", |o| {
        condition(o, "Issuing").is_some_and(|(status, _)| status == "True")
    })
    .await;
    let renew = ns.run(&["rotate", "web-tls", "--yes"]);
    assert_eq!(renew.code, exit::USAGE, "{renew:?}");
    assert!(renew.stderr.contains("is being issued already"), "{}", renew.stderr);
    assert!(renew.stderr.contains("nothing was changed"), "{}", renew.stderr);
    assert_eq!(ns.secret_data("web-tls").await, before, "the current certificate stays");
    assert_eq!(ns.pod_names("proxy-").await, proxy_pods);
    renew.assert_no_leak(key_lines(&ns, "web-tls").await);
}

#[tokio::test]
async fn audit_names_the_missing_or_broken_issuer_of_a_certificate() {
    let ns = TestNamespace::new("cm-audit").await;
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "orphan"},
                     "spec": {"secretName": "orphan-tls", "dnsNames": ["orphan.example"],
                              "issuerRef": {"name": "nowhere", "kind": "Issuer"}}}),
    );
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "broken-ca"},
                     "spec": {"ca": {"secretName": "absent-ca"}}}),
    );
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "broken"},
                     "spec": {"secretName": "broken-tls", "dnsNames": ["broken.example"],
                              "issuerRef": {"name": "broken-ca", "kind": "Issuer"}}}),
    );
    wait_until(&ns, "Issuer", "issuers", "broken-ca", "a Ready condition", |o| {
        condition(o, "Ready").is_some_and(|(status, _)| status == "False")
    })
    .await;
    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let rule_of = |secret: &str| {
        findings
            .iter()
            .find(|f| f["secret"] == secret && f["rule"].as_str().unwrap().starts_with("certificate-"))
            .unwrap_or_else(|| panic!("{secret}: {findings:#?}"))
    };
    let orphan = rule_of("orphan-tls");
    assert_eq!(orphan["rule"], "certificate-issuer-missing");
    assert!(orphan["message"].as_str().unwrap().contains("Issuer/nowhere"));
    let broken = rule_of("broken-tls");
    assert_eq!(broken["rule"], "certificate-issuer-not-ready");
    assert!(
        broken["message"].as_str().unwrap().contains("absent-ca"),
        "the issuer's reason: {broken}"
    );
    let table = ns.run(&["audit"]);
    assert!(table.stdout.contains("certificate-issuer-missing"), "{}", table.stdout);
}

/// Two Certificates naming one Secret: cert-manager issues only one of them (the one the
/// Secret's annotation names) and leaves the other not Ready for good. audit names the second
/// with the one that holds the Secret; list shows the issuing one; `--all-expiring` leaves the
/// second out (issuing it would overwrite the first's certificate, and cert-manager would issue
/// the first again: a loop).
#[tokio::test]
async fn a_second_certificate_for_a_taken_secret_is_named_and_never_renewed() {
    let ns = TestNamespace::new("cm-shared").await;
    issued(&ns).await;
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "web-tls-copy"},
                     "spec": {"secretName": "web-tls", "dnsNames": ["copy.web.example"],
                              "privateKey": {"algorithm": "ECDSA", "size": 256},
                              "issuerRef": {"name": "web-ca", "kind": "Issuer"}}}),
    );
    wait_until(
        &ns,
        "Certificate",
        "certificates",
        "web-tls-copy",
        "a Ready condition",
        |o| condition(o, "Ready").is_some_and(|(status, _)| status == "False"),
    )
    .await;
    let secrets = key_lines(&ns, "web-tls").await;

    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings: Vec<Value> = audit.json()["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"].as_str().unwrap().starts_with("certificate-"))
        .cloned()
        .collect();
    assert_eq!(findings.len(), 1, "only the second Certificate: {findings:#?}");
    let shared = &findings[0];
    assert_eq!(shared["rule"], "certificate-not-ready", "{shared}");
    assert_eq!(shared["secret"], "web-tls");
    let message = shared["message"].as_str().unwrap();
    assert!(
        message.starts_with("Certificate web-tls-copy is not Ready ("),
        "{message}"
    );
    assert!(
        message.contains("also the spec.secretName of Certificate web-tls, the one cert-manager issues"),
        "{message}"
    );
    assert!(shared["fix"].as_str().unwrap().contains("spec.secretName"), "{shared}");

    let list = ns.run(&["list", "-o", "json"]);
    assert_eq!(list.code, exit::OK, "{list:?}");
    let row = list.listed("web-tls");
    assert_eq!(row["certificate"]["certManager"]["certificate"], "web-tls", "{row}");

    let plan = ns.run(&[
        "rotate",
        "--all-expiring",
        "--within",
        "100d",
        "--dry-run",
        "-o",
        "json",
    ]);
    assert_eq!(plan.code, exit::OK, "{plan:?}");
    let planned: Vec<String> = plan.json()["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certificate"].as_str().unwrap().to_string())
        .collect();
    assert!(
        planned.iter().any(|c| c == "web-tls") && !planned.iter().any(|c| c == "web-tls-copy"),
        "the issuing one only (web-ca is within the window too): {planned:?}"
    );
    assert!(
        plan.stderr
            .contains(&format!("left out: {}/web-tls-copy: Certificate {}/web-tls-copy does not issue Secret web-tls: Certificate web-tls does", ns.name, ns.name)),
        "{}",
        plan.stderr
    );

    let copy = certificate(&ns, "web-tls-copy").await;
    assert!(copy["status"]["revision"].is_null(), "never issued: {copy}");
    assert_eq!(
        ns.secret_annotation("web-tls", "cert-manager.io/certificate-name")
            .await
            .as_deref(),
        Some("web-tls")
    );
    for run in [&audit, &list, &plan] {
        run.assert_no_leak(&secrets);
    }
}

#[tokio::test]
async fn all_expiring_renews_only_what_expires_within_the_window() {
    let ns = TestNamespace::new("cm-expiring").await;
    issued(&ns).await;
    // A second certificate of 30 days beside web-tls' 90, read from env.
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "soon-tls"},
                     "spec": {"secretName": "soon-tls", "dnsNames": ["soon.example"], "duration": "720h",
                              "privateKey": {"algorithm": "ECDSA", "size": 256},
                              "issuerRef": {"name": "web-ca", "kind": "Issuer"}}}),
    );
    wait_until(&ns, "Certificate", "certificates", "soon-tls", "Ready", is_ready).await;
    ns.create_deployment(deployment(
        "soon-client",
        1,
        json!({"containers": [{"name": "client", "image": "client:1",
                               "env": [{"name": "CERT", "valueFrom": {"secretKeyRef": {"name": "soon-tls", "key": "tls.crt"}}}]}]}),
    ))
    .await;
    ns.wait_ready("deployment", "soon-client").await;
    let secrets: Vec<String> = [key_lines(&ns, "web-tls").await, key_lines(&ns, "soon-tls").await].concat();

    let none = ns.run(&["rotate", "--all-expiring", "--within", "1d", "--yes"]);
    assert_eq!(none.code, exit::OK, "{none:?}");
    assert!(
        none.stderr.contains("expires within 1day: nothing to renew"),
        "{}",
        none.stderr
    );

    let plan = ns.run(&["rotate", "--all-expiring", "--within", "40d", "--dry-run", "-o", "json"]);
    assert_eq!(plan.code, exit::OK, "{plan:?}");
    let doc = plan.json();
    assert_eq!(doc["kind"], "RenewalPlan");
    let planned: Vec<&str> = doc["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["certificate"].as_str().unwrap())
        .collect();
    assert_eq!(planned, ["soon-tls"], "web-tls expires in 90 days: {doc}");

    let client_pods = ns.pod_names("soon-client-").await;
    let renew = ns.run(&["rotate", "--all-expiring", "--within", "40d", "--yes"]);
    assert_eq!(renew.code, exit::OK, "{renew:?}");
    assert_eq!(certificate(&ns, "soon-tls").await["status"]["revision"], 2);
    assert_eq!(
        certificate(&ns, "web-tls").await["status"]["revision"],
        1,
        "outside the window"
    );
    assert!(
        ns.pod_names("soon-client-")
            .await
            .iter()
            .all(|p| !client_pods.contains(p)),
        "its env reader restarted"
    );
    for run in [&none, &plan, &renew] {
        run.assert_no_leak(&secrets);
    }
}

#[tokio::test]
async fn verify_finds_the_readers_a_renewal_by_cert_manager_left_behind() {
    use kube::api::{Patch, PatchParams};
    let ns = TestNamespace::new("cm-verify").await;
    issued(&ns).await;
    readers(&ns).await;
    let secrets = key_lines(&ns, "web-tls").await;
    // Container start times have one-second resolution: the renewal comes in a later second.
    next_second().await;
    // cert-manager renews on its own (here asked as cmctl renew asks, not through the plugin).
    let web = certificate(&ns, "web-tls").await;
    let patch = kubectl_secrets::domain::certificates::renewal_request(&web, jiff::Timestamp::now(), Some(1))
        .expect("revision 1, not being issued");
    api(&ns, "Certificate", "certificates")
        .patch_status("web-tls", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("ask for a renewal");
    wait_until(&ns, "Certificate", "certificates", "web-tls", "revision 2", |o| {
        o["status"]["revision"] == 2 && is_ready(o)
    })
    .await;

    let verify = ns.run(&["verify", "-o", "json"]);
    assert_eq!(
        verify.code,
        exit::FOUND,
        "the subPath and env readers run the old certificate: {verify:?}"
    );
    let report = verify.json();
    assert_eq!(
        workload(&report, "Deployment", "proxy")["status"],
        "stale",
        "{report:#}"
    );
    assert_eq!(
        workload(&report, "Deployment", "client")["status"],
        "stale",
        "{report:#}"
    );
    assert_eq!(
        workload(&report, "Deployment", "gateway")["status"],
        "ok",
        "the volume updates in place"
    );

    let fix = ns.run(&["verify", "--fix", "--yes"]);
    assert_eq!(fix.code, exit::OK, "{fix:?}");
    let again = ns.run(&["verify"]);
    assert_eq!(again.code, exit::OK, "{again:?}");
    for run in [&verify, &fix, &again] {
        run.assert_no_leak(&secrets);
    }
}

/// A renewal interrupted before (Ctrl-C) and after (kill -9) cert-manager was asked: the journal
/// on the Secret says so; another rotate is refused; --resume asks again where the request
/// never landed and restarts only the readers that do not reload; --abort after the new
/// certificate restarts nothing further and names the readers left on the previous one.
#[tokio::test]
async fn an_interrupted_renewal_is_resumed_or_stopped_from_its_journal() {
    let ns = TestNamespace::new("cm-journal").await;
    issued(&ns).await;
    readers(&ns).await;
    let mut secrets = key_lines(&ns, "web-tls").await;
    let args = [
        "rotate",
        "web-tls",
        "-n",
        &ns.name,
        "--yes",
        "--min-restart-interval",
        "0",
    ];

    // Ctrl-C after the journal is written, before cert-manager is asked.
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("renewal-begun:30"));
    tool.wait_for("failpoint renewal-begun");
    tool.signal("-INT");
    let interrupted = tool.finish();
    assert_eq!(interrupted.code, exit::INTERRUPTED, "{interrupted:?}");
    let journal = ns
        .secret_annotation("web-tls", annotations::JOURNAL)
        .await
        .expect("the journal stays on the Secret");
    let journal: Value = serde_json::from_str(&journal).unwrap();
    assert_eq!(journal["renewal"]["certificate"], "web-tls", "{journal}");
    assert_eq!(journal["phase"], "renewing", "{journal}");
    assert!(
        journal["holder"]["heartbeatAt"].is_null(),
        "let go on Ctrl-C: {journal}"
    );
    assert_eq!(
        certificate(&ns, "web-tls").await["status"]["revision"],
        1,
        "not asked yet"
    );

    let again = ns.run(&["rotate", "web-tls", "--yes"]);
    assert_eq!(again.code, exit::IN_PROGRESS, "{again:?}");
    assert!(again.stderr.contains("--resume"), "{}", again.stderr);
    let expiring = ns.run(&["rotate", "--all-expiring", "--within", "100d", "--dry-run"]);
    assert_eq!(expiring.code, exit::OK, "{expiring:?}");
    assert!(
        expiring.stderr.contains(&format!(
            "left out: {}/web-tls: an interrupted change is recorded",
            ns.name
        )),
        "{}",
        expiring.stderr
    );

    let gateway_pods = ns.pod_names("gateway-").await;
    let proxy_pods = ns.pod_names("proxy-").await;
    let client_pods = ns.pod_names("client-").await;
    let dry = ns.run(&["rotate", "web-tls", "--resume", "--dry-run"]);
    assert_eq!(dry.code, exit::OK, "{dry:?}");
    assert!(dry.stdout.contains("not renewed yet"), "{}", dry.stdout);
    assert!(dry.stdout.contains("ask cert-manager again"), "{}", dry.stdout);
    for reader in ["deployment/proxy", "deployment/client"] {
        assert!(dry.stdout.contains(reader), "{reader} in the plan:\n{}", dry.stdout);
    }
    assert!(!dry.stdout.contains("deployment/gateway"), "{}", dry.stdout);
    assert_eq!(
        certificate(&ns, "web-tls").await["status"]["revision"],
        1,
        "a dry run asks nothing"
    );

    let resumed = ns.run(&["rotate", "web-tls", "--resume", "--yes", "--min-restart-interval", "0"]);
    assert_eq!(resumed.code, exit::OK, "{resumed:?}");
    assert!(
        resumed.stderr.contains("Asked cert-manager again"),
        "{}",
        resumed.stderr
    );
    assert_eq!(certificate(&ns, "web-tls").await["status"]["revision"], 2);
    assert_eq!(ns.secret_annotation("web-tls", annotations::JOURNAL).await, None);
    assert_eq!(
        ns.pod_names("gateway-").await,
        gateway_pods,
        "the volume reader is left alone: {}",
        resumed.stderr
    );
    assert!(ns.pod_names("proxy-").await.iter().all(|p| !proxy_pods.contains(p)));
    assert!(ns.pod_names("client-").await.iter().all(|p| !client_pods.contains(p)));
    secrets.extend(key_lines(&ns, "web-tls").await);

    // kill -9 once the new certificate is in the Secret, before any restart.
    next_second().await;
    let proxy_pods = ns.pod_names("proxy-").await;
    let client_pods = ns.pod_names("client-").await;
    let tool = Background::spawn(&cluster().admin_kubeconfig, &args, Some("renewed:30"));
    tool.wait_for("failpoint renewed");
    tool.signal("-KILL");
    let killed = tool.finish();
    assert_ne!(killed.code, exit::OK);
    assert_eq!(certificate(&ns, "web-tls").await["status"]["revision"], 3);
    secrets.extend(key_lines(&ns, "web-tls").await);
    let journal = ns
        .secret_annotation("web-tls", annotations::JOURNAL)
        .await
        .expect("journal kept");
    assert!(journal.contains("\"phase\":\"restarting\""), "{journal}");

    let aborted = ns.run(&["rotate", "web-tls", "--abort", "--yes"]);
    assert_eq!(
        aborted.code,
        exit::FOUND,
        "verify finds the readers left behind: {aborted:?}"
    );
    assert!(aborted.stdout.contains("cannot be undone"), "{}", aborted.stdout);
    assert!(
        aborted.stderr.contains("an abort restarts nothing"),
        "{}",
        aborted.stderr
    );
    assert!(aborted.stderr.contains("deployment/proxy"), "{}", aborted.stderr);
    assert!(
        aborted.stderr.contains("nothing further was restarted"),
        "{}",
        aborted.stderr
    );
    assert_eq!(ns.secret_annotation("web-tls", annotations::JOURNAL).await, None);
    assert_eq!(ns.pod_names("proxy-").await, proxy_pods, "an abort restarts nothing");
    assert_eq!(ns.pod_names("client-").await, client_pods);
    assert_eq!(
        certificate(&ns, "web-tls").await["status"]["revision"],
        3,
        "nothing un-issued"
    );
    let nothing = ns.run(&["rotate", "web-tls", "--resume", "--yes"]);
    assert_eq!(nothing.code, exit::USAGE, "{nothing:?}");

    for run in [
        &interrupted,
        &again,
        &expiring,
        &dry,
        &resumed,
        &killed,
        &aborted,
        &nothing,
    ] {
        run.assert_no_leak(&secrets);
    }
}

/// A renewal journal written by hand that names a Certificate writing another Secret is
/// refused: a journal on one Secret never steers a renewal or restarts for another.
#[tokio::test]
async fn a_forged_renewal_journal_is_refused() {
    let ns = TestNamespace::new("cm-forged").await;
    issued(&ns).await;
    let revision = certificate(&ns, "web-ca").await["status"]["revision"].clone();
    let forged = json!({
        "id": "0011223344556677", "action": "rotate", "phase": "renewing",
        "startedAt": "2026-01-01T00:00:00Z",
        "holder": {"by": "someone", "host": "elsewhere", "pid": 1, "token": "00"},
        "secrets": {}, "workloads": [],
        "renewal": {"certificate": "web-ca"}
    });
    ns.annotate_secret("web-tls", BTreeMap::from([(annotations::JOURNAL, forged.to_string())]))
        .await;
    for choice in ["--resume", "--abort"] {
        let run = ns.run(&["rotate", "web-tls", choice, "--yes"]);
        assert_eq!(run.code, exit::UNTRUSTED, "{run:?}");
        assert!(
            run.stderr.contains("which writes Secret web-ca, not web-tls"),
            "{}",
            run.stderr
        );
        run.assert_no_leak(key_lines(&ns, "web-tls").await);
    }
    assert_eq!(
        certificate(&ns, "web-ca").await["status"]["revision"],
        revision,
        "nothing renewed"
    );
    assert!(
        ns.secret_annotation("web-tls", annotations::JOURNAL).await.is_some(),
        "left for a person"
    );
}

/// The runbook's "cert-manager not renewing" answered from real failures: a CA Issuer whose
/// Secret pairs the CA's certificate with another key is Ready (cert-manager checks the
/// certificate and the key apart), and the CA signer then fails every request. audit names the
/// failed CertificateRequest with the controller's message; once that request is gone (someone
/// cleaned up), the Certificate's failed issuance with its attempts.
#[tokio::test]
async fn audit_says_why_a_certificate_is_not_issued_from_the_controllers_own_failure() {
    let ns = TestNamespace::new("cm-signing").await;
    issued(&ns).await;
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "other-ca"},
                "spec": {"isCA": true, "commonName": "other CA", "secretName": "other-ca",
                         "privateKey": {"algorithm": "ECDSA", "size": 256},
                         "issuerRef": {"name": "selfsigned", "kind": "ClusterIssuer"}}}),
    );
    wait_until(&ns, "Certificate", "certificates", "other-ca", "Ready", is_ready).await;
    let web_ca = ns.secret_data("web-ca").await;
    let other_ca = ns.secret_data("other-ca").await;
    let text = |bytes: &Vec<u8>| String::from_utf8(bytes.clone()).unwrap();
    ns.apply(
        &json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mismatched-ca"},
                     "type": "kubernetes.io/tls",
                     "stringData": {"tls.crt": text(&web_ca["tls.crt"]), "tls.key": text(&other_ca["tls.key"])}}),
    );
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "mismatched"},
                     "spec": {"ca": {"secretName": "mismatched-ca"}}}),
    );
    wait_until(&ns, "Issuer", "issuers", "mismatched", "Ready", is_ready).await;
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "doomed"},
                     "spec": {"secretName": "doomed-tls", "dnsNames": ["doomed.example"],
                              "privateKey": {"algorithm": "ECDSA", "size": 256},
                              "issuerRef": {"name": "mismatched", "kind": "Issuer"}}}),
    );
    wait_until(&ns, "Certificate", "certificates", "doomed", "a failed issuance", |o| {
        condition(o, "Issuing").is_some_and(|(status, _)| status == "False")
    })
    .await;
    let mut secrets = key_lines(&ns, "web-ca").await;
    secrets.extend(key_lines(&ns, "other-ca").await);
    secrets.extend(key_lines(&ns, "web-tls").await);

    let finding = |run: &crate::support::Run| {
        run.json()["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["secret"] == "doomed-tls")
            .cloned()
            .unwrap_or_else(|| panic!("doomed-tls in {}", run.stdout))
    };
    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let failed = finding(&audit);
    assert_eq!(failed["rule"], "certificate-request-failed", "{failed}");
    let message = failed["message"].as_str().unwrap();
    assert!(
        message.contains("Error signing certificate"),
        "the controller's reason: {message}"
    );
    assert!(message.contains("doesn't match parent's PublicKey"), "{message}");
    assert!(
        failed["fix"]
            .as_str()
            .unwrap()
            .contains("kubectl describe certificaterequest"),
        "{failed}"
    );

    // The failed request removed: the Certificate's own failed issuance is what is left.
    let requests = api(&ns, "CertificateRequest", "certificaterequests");
    for request in requests.list(&Default::default()).await.unwrap() {
        let name = request.metadata.name.unwrap();
        if name.starts_with("doomed-") {
            requests.delete(&name, &DeleteParams::default()).await.unwrap();
        }
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let run = ns.run(&["audit", "-o", "json"]);
        if finding(&run)["rule"] != "certificate-request-failed" || Instant::now() > deadline {
            break run;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let failed = finding(&after);
    assert_eq!(failed["rule"], "certificate-issuance-failed", "{failed}");
    assert!(
        failed["message"].as_str().unwrap().contains("1 failed attempt"),
        "{failed}"
    );
    for run in [&audit, &after] {
        run.assert_no_leak(&secrets);
    }
}

/// The runbook's "cert-manager not renewing" when nothing has failed yet: a Certificate signed
/// by an external issuer whose controller is not running (here never installed) keeps its
/// current certificate and stays Ready while its renewal time passes and its request waits.
/// audit names the overdue renewal with the time it was due and when the certificate expires.
#[tokio::test]
async fn audit_names_a_renewal_overdue_while_its_request_waits_for_an_absent_issuer() {
    use jiff::{Timestamp, ToSpan};
    let ns = TestNamespace::new("cm-overdue").await;
    let now = Timestamp::now();
    let at = |t: Timestamp| t.strftime("%Y%m%d%H%M%SZ").to_string();
    // Two days old, an hour left: cert-manager's renewal time (two thirds through) is long past.
    let (crt, key) = crate::support::make_certificate(
        "Legacy CA",
        &["legacy.example"],
        &at(now - 48.hours()),
        &at(now + 1.hour()),
    );
    let issuer = json!({"name": "legacy", "kind": "LegacyIssuer", "group": "issuers.example.com"});
    ns.create_secret(json!({
        "metadata": {"name": "legacy-tls", "annotations": {
            "cert-manager.io/certificate-name": "legacy",
            "cert-manager.io/issuer-name": "legacy",
            "cert-manager.io/issuer-kind": "LegacyIssuer",
            "cert-manager.io/issuer-group": "issuers.example.com"}},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": crt, "tls.key": key}
    }))
    .await;
    ns.apply(
        &json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "legacy"},
                "spec": {"secretName": "legacy-tls", "commonName": "legacy.example", "dnsNames": ["legacy.example"],
                         "privateKey": {"algorithm": "RSA", "size": 2048}, "issuerRef": issuer}}),
    );
    wait_until(
        &ns,
        "Certificate",
        "certificates",
        "legacy",
        "its renewal under way",
        |o| {
            o["status"]["renewalTime"].is_string()
                && condition(o, "Issuing").is_some_and(|(status, _)| status == "True")
        },
    )
    .await;
    let secrets = key_lines(&ns, "legacy-tls").await;

    let audit = ns.run(&["audit", "-o", "json"]);
    assert_eq!(audit.code, exit::FOUND, "{audit:?}");
    let findings = audit.json()["findings"].as_array().unwrap().clone();
    let overdue = findings
        .iter()
        .find(|f| f["rule"] == "certificate-renewal-overdue")
        .unwrap_or_else(|| panic!("no overdue renewal in {}", audit.stdout));
    assert_eq!(overdue["secret"], "legacy-tls", "{overdue}");
    assert_eq!(overdue["severity"], "critical", "{overdue}");
    let message = overdue["message"].as_str().unwrap();
    assert!(
        message.contains("Certificate legacy was due for renewal at") && message.contains("it expires at"),
        "{message}"
    );
    assert!(
        overdue["fix"]
            .as_str()
            .unwrap()
            .contains("cert-manager's controller runs"),
        "{overdue}"
    );
    assert!(
        !findings
            .iter()
            .any(|f| f["secret"] == "legacy-tls" && f["rule"].as_str().unwrap().starts_with("certificate-issuer")),
        "an external issuer is not judged by cert-manager's kinds: {findings:?}"
    );
    let table = ns.run(&["audit"]);
    assert!(table.stdout.contains("certificate-renewal-overdue"), "{}", table.stdout);
    for run in [&audit, &table] {
        run.assert_no_leak(&secrets);
    }
}
