//! `fetch-cert`, and the certificate `seal` uses when none is given: fetched through the API
//! server, cached per context, the cache used (with its age said) when the fetch fails.

use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};

use super::Outcome;
use crate::cli::{ControllerArgs, FetchCertArgs};
use crate::cluster::sealed::Controller;
use crate::context::Context;
use crate::domain::seal::{self, SealingCert};
use crate::error::{Error, Result};
use crate::{cluster, render};

pub async fn run(ctx: &Context, args: &FetchCertArgs) -> Result<Outcome> {
    let conn = ctx.connect().await?;
    let pem = fetch_and_cache(&conn, &args.controller).await?;
    let cert = seal::parse_cert("the controller's certificate", &pem).map_err(|e| Error::Usage(e.to_string()))?;
    warn_expiry("the controller's certificate", &cert);
    render::write_stdout(&String::from_utf8_lossy(&pem))?;
    Ok(Outcome::Clean)
}

async fn fetch_and_cache(conn: &cluster::Connection, args: &ControllerArgs) -> Result<Vec<u8>> {
    let controller = Controller::named(&args.controller_namespace, &args.controller_name)?;
    let pem = cluster::sealed::fetch_cert(conn, &controller).await?;
    // A public certificate: caching it is safe, and lets seal work when the controller is down.
    if let Some(path) = cache_path(conn, args) {
        let cached = std::fs::read(&path).ok();
        if let Some(cached) = cached.filter(|c| *c != pem) {
            say_renewed(&cached, &pem, args);
        }
        if std::fs::create_dir_all(path.parent().unwrap_or(&path)).is_ok() {
            let _ = crate::files::write_atomically(&path, &pem, crate::files::Access::AsBefore);
        }
    }
    Ok(pem)
}

/// The controller's certificate is not the one cached for it: say so, and which is newer (the
/// controller renews its key every 30 days, so this is usually a renewal).
fn say_renewed(cached: &[u8], fetched: &[u8], args: &ControllerArgs) {
    let controller = format!("{}/{}", args.controller_namespace, args.controller_name);
    let (Ok(old), Ok(new)) = (seal::parse_cert("cached", cached), seal::parse_cert("fetched", fetched)) else {
        render::warning(&format!(
            "the certificate of {controller} differs from the one cached for it; the fetched one is used"
        ));
        return;
    };
    let verdict = if new.not_before > old.not_before {
        format!(
            "the controller has a newer key (valid since {}; the cached one since {}): a renewal, as every 30 days",
            new.not_before, old.not_before
        )
    } else {
        format!(
            "the fetched one is NOT newer (valid since {}; the cached one since {}): check that this is the cluster \
             you mean before sealing anything for it",
            new.not_before, old.not_before
        )
    };
    render::warning(&format!(
        "the certificate of {controller} changed since it was cached: {verdict}"
    ));
}

/// Where the certificate of this controller in this cluster is cached: keyed by the API
/// server's URL and CA fingerprint (two kubeconfigs may both call a context `kind-kind`).
fn cache_path(conn: &cluster::Connection, args: &ControllerArgs) -> Option<PathBuf> {
    use sha2::Digest as _;
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let identity = format!(
        "{}\n{}\n{}/{}",
        conn.server, conn.ca_fingerprint, args.controller_namespace, args.controller_name
    );
    let key = hex::encode(&sha2::Sha256::digest(identity.as_bytes())[..12]);
    Some(
        base.join("kubectl-secrets")
            .join("certificates")
            .join(format!("{key}.pem")),
    )
}

pub fn warn_expiry(source: &str, cert: &SealingCert) {
    let now = Timestamp::now();
    if cert.not_after < now {
        render::warning(&format!(
            "{source} expired at {}: fetch the controller's current one",
            cert.not_after
        ));
    } else if cert.not_after < now + SignedDuration::from_hours(30 * 24) {
        render::warning(&format!("{source} expires at {}", cert.not_after));
    }
}

/// For seal without --cert: fetch; if that fails, the cached copy with its age, else the error.
pub async fn certificate_for_seal(ctx: &Context, args: &ControllerArgs) -> Result<(Vec<u8>, String)> {
    let conn = ctx.connect().await?;
    certificate_of(&conn, args).await
}

/// The certificate of the controller of the cluster `conn` leads to (the cached copy when it
/// cannot be fetched, with a warning), and where it came from.
pub async fn certificate_of(conn: &cluster::Connection, args: &ControllerArgs) -> Result<(Vec<u8>, String)> {
    match fetch_and_cache(conn, args).await {
        Ok(pem) => Ok((
            pem,
            format!(
                "the certificate of {}/{}",
                args.controller_namespace, args.controller_name
            ),
        )),
        Err(error) => {
            let cached = cache_path(conn, args)
                .and_then(|p| Some((std::fs::read(&p).ok()?, std::fs::metadata(&p).ok()?.modified().ok()?)));
            match cached {
                Some((pem, modified)) => {
                    let age = modified
                        .elapsed()
                        .map(|d| humantime::format_duration(std::time::Duration::from_secs(d.as_secs())).to_string())
                        .unwrap_or_default();
                    render::warning(&format!("{error}; using the cached certificate, fetched {age} ago"));
                    Ok((pem, "the cached certificate".into()))
                }
                None => Err(error),
            }
        }
    }
}
