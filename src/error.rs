//! One error type for the whole tool. Every variant says what failed, on which object, and
//! what to do about it; `exit_code` is the single table that maps them to process exit codes.

use std::path::PathBuf;

/// Exit codes, documented in `--help` (see `cli::EXIT_CODES_HELP`).
pub mod exit {
    pub const OK: i32 = 0;
    /// Drift or difference found (verify, diff, audit, list --max-age).
    pub const FOUND: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const CONFIG: i32 = 3;
    pub const UNREACHABLE: i32 = 4;
    pub const FORBIDDEN: i32 = 5;
    pub const NOT_FOUND: i32 = 6;
    pub const CONFLICT: i32 = 7;
    pub const ROLLED_BACK: i32 = 8;
    pub const ROLLBACK_FAILED: i32 = 9;
    pub const API: i32 = 10;
    /// A rollout failed and nothing needed restoring (verify --fix, resume): the data is as it was.
    pub const ROLLOUT_FAILED: i32 = 11;
    /// An input file or stream could not be read (the message names it and the OS error).
    pub const INPUT: i32 = 12;
    /// A record the tool relies on (journal, backup) is not one it wrote: refused, nothing changed.
    pub const UNTRUSTED: i32 = 13;
    /// A change of the object is under way (another run holds it) or was interrupted.
    pub const IN_PROGRESS: i32 = 14;
    /// The server that checks the credential (an issuer) refused a step: wrong administrator
    /// password, a missing privilege or user. Before the Secret is written: nothing changed.
    pub const ISSUER_REFUSED: i32 = 15;
    pub const INTERRUPTED: i32 = 130;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("this changes the cluster and there is no terminal to confirm it: pass --yes (or --dry-run to only see the plan)")]
    NeedsYes,

    #[error("cannot ask: {0} (pass the answers as flags instead)")]
    Prompt(String),

    #[error("{0}")]
    Plan(#[from] crate::domain::plan::PlanError),

    #[error(
        "secret {namespace}/{name} changed since it was read (someone else edited it): nothing was overwritten. \
         Look at the change, then run the command again to plan against the new data"
    )]
    Conflict { namespace: String, name: String },

    #[error(
        "the file {file} and the cluster's SealedSecret {namespace}/{owner} disagree about {keys}: applying the file \
         would revert the cluster (is the file stale?). Nothing was changed. Pull the latest file (or apply it first if \
         it is the newer one), then rotate again"
    )]
    SealedConflict {
        namespace: String,
        owner: String,
        file: String,
        keys: String,
    },

    #[error("{0}")]
    InProgress(Box<ChangeInProgress>),

    #[error("{0}")]
    Untrusted(Box<UntrustedRecord>),

    /// A target read from the namespace that only the operator may consent to, found without a
    /// question (`--yes`): what it is, and how to consent.
    #[error("refusing without your consent: {0}. Nothing was changed")]
    Unconsented(String),

    #[error("{0}")]
    RolloutFailed(String),

    #[error("cannot read {path}: {reason} (check the path and its permissions)")]
    InputFile { path: String, reason: String },

    #[error("{0}")]
    RolledBack(String),

    #[error("{0}")]
    RollbackFailed(String),

    #[error("no kubeconfig found: {0} (kubectl-secrets never falls back to in-cluster credentials)")]
    NoKubeconfig(String),

    #[error("cannot load kubeconfig {path}: {reason} (check the file, or pass another with --kubeconfig)")]
    KubeconfigUnreadable { path: PathBuf, reason: String },

    #[error("context {context:?} is not in the kubeconfig (list them with `kubectl config get-contexts`)")]
    UnknownContext { context: String },

    #[error("no current context in the kubeconfig: pass --context or run `kubectl config use-context NAME`")]
    NoCurrentContext,

    #[error("cannot use kubeconfig: {reason}")]
    KubeconfigInvalid { reason: String },

    #[error(
        "cannot reach the API server at {server}: {reason} (is the cluster up? check --context and --request-timeout)"
    )]
    Unreachable { server: String, reason: String },

    #[error("the API server rejected the credentials of context {context:?} (401): log in again or refresh the token")]
    Unauthorized { context: String },

    #[error("context {context:?}: {problem}")]
    Credentials { context: String, problem: String },

    #[error(
        "not allowed to {verb} {resource} in {scope}: ask for a Role that grants it \
         (docs/rbac.yaml lists what kubectl-secrets needs)"
    )]
    Forbidden {
        verb: String,
        resource: String,
        scope: String,
    },

    #[error("secret {namespace}/{name} not found (check the name, or pass -n NAMESPACE)")]
    SecretNotFound { namespace: String, name: String },

    #[error(
        "no backup {} of {namespace}/{name} (backups: {}): rotate and rollback keep them; \
         see `kubectl secrets history {name} -n {namespace}`",
        revision.map(|r| format!("of revision {r}")).unwrap_or_default(),
        if available.is_empty() { "none" } else { available.as_str() }
    )]
    NoBackup {
        namespace: String,
        name: String,
        revision: Option<u64>,
        available: String,
    },

    #[error("cannot fetch the Sealed Secrets certificate: {step}: {detail} ({fix})")]
    CertFetch { step: String, detail: String, fix: String },

    #[error("the Sealed Secrets controller could not be used: {step}: {detail} ({fix})")]
    Controller { step: String, detail: String, fix: String },

    #[error("{0}")]
    NotFound(String),

    #[error("cannot reach AWS Secrets Manager at {endpoint} (region {region}): {reason} (check the network, AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL, and the store's region)")]
    ProviderUnreachable {
        endpoint: String,
        region: String,
        reason: String,
    },

    #[error("AWS Secrets Manager refused {action} on {secret}: {reason} (the AWS identity in use needs {action}; the README lists the permissions)")]
    ProviderDenied {
        action: String,
        secret: String,
        reason: String,
    },

    #[error(
        "AWS credentials: {reason} (set AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or `aws sso login`)"
    )]
    ProviderCredentials { reason: String },

    #[error("cannot reach Vault at {addr}: {reason} (check VAULT_ADDR, VAULT_CACERT / VAULT_CAPATH and the network)")]
    VaultUnreachable { addr: String, reason: String },

    #[error("Vault refused {capability} on {path} (403 permission denied): the token's policy needs the {capability} capability there (the README lists the policy)")]
    VaultDenied { capability: String, path: String },

    #[error("Vault credentials: {reason}")]
    VaultCredentials { reason: String },

    #[error("Vault refused the request on {path}: {reason}")]
    VaultRefused { path: String, reason: String },

    /// A provider's value changed between the plan and the write (Vault's check-and-set).
    #[error("{0}")]
    ProviderConflict(String),

    #[error("cannot reach {issuer}: {reason} (check the server and its pod; nothing was changed there by this step)")]
    IssuerUnreachable { issuer: String, reason: String },

    #[error("{issuer} refused {step}: {reason} ({fix})")]
    IssuerRefused {
        issuer: String,
        step: String,
        reason: String,
        fix: String,
    },

    #[error("failed to {action}: {message}")]
    Api { action: String, message: String },

    #[error("cannot write output: {0}")]
    Output(String),

    #[error("edit: {0}")]
    Editor(String),

    #[error("interrupted")]
    Interrupted,
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::NeedsYes | Error::Prompt(_) | Error::Plan(_) => exit::USAGE,
            Error::InProgress(_) => exit::IN_PROGRESS,
            Error::Untrusted(_) | Error::Unconsented(_) => exit::UNTRUSTED,
            Error::RolloutFailed(_) => exit::ROLLOUT_FAILED,
            Error::InputFile { .. } | Error::Editor(_) => exit::INPUT,
            Error::Conflict { .. } | Error::SealedConflict { .. } | Error::ProviderConflict(_) => exit::CONFLICT,
            Error::RolledBack(_) => exit::ROLLED_BACK,
            Error::RollbackFailed(_) => exit::ROLLBACK_FAILED,
            Error::NoKubeconfig(_)
            | Error::KubeconfigUnreadable { .. }
            | Error::UnknownContext { .. }
            | Error::NoCurrentContext
            | Error::KubeconfigInvalid { .. } => exit::CONFIG,
            Error::Unreachable { .. }
            | Error::CertFetch { .. }
            | Error::Controller { .. }
            | Error::ProviderUnreachable { .. }
            | Error::VaultUnreachable { .. }
            | Error::IssuerUnreachable { .. } => exit::UNREACHABLE,
            Error::IssuerRefused { .. } => exit::ISSUER_REFUSED,
            Error::Unauthorized { .. }
            | Error::Credentials { .. }
            | Error::Forbidden { .. }
            | Error::ProviderDenied { .. }
            | Error::ProviderCredentials { .. }
            | Error::VaultDenied { .. }
            | Error::VaultCredentials { .. } => exit::FORBIDDEN,
            Error::SecretNotFound { .. } | Error::NoBackup { .. } | Error::NotFound(_) => exit::NOT_FOUND,
            Error::Api { .. } | Error::Output(_) | Error::VaultRefused { .. } => exit::API,
            Error::Interrupted => exit::INTERRUPTED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a command (or a change) ended when it did not fail: decides exit status 0 or 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: no drift, no difference.
    Clean,
    /// Drift or difference found (exit 1).
    Found,
    /// Across several clusters: the worst exit code of any (each one's error already shown).
    Code(i32),
}

impl Outcome {
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Clean => exit::OK,
            Outcome::Found => exit::FOUND,
            Outcome::Code(code) => code,
        }
    }
}

/// A change of a Secret that is under way or was interrupted, in the way of another.
#[derive(Debug, thiserror::Error)]
#[error(
    "a change of {namespace}/{name} (`kubectl secrets {action}`) is under way or was interrupted ({id}, started {started} by {by}, {phase}): \
     nothing was changed. {what_to_do}"
)]
pub struct ChangeInProgress {
    pub action: String,
    pub namespace: String,
    pub name: String,
    pub id: String,
    pub started: String,
    pub by: String,
    pub phase: String,
    pub what_to_do: String,
}

/// A journal or backup on the cluster that is not what kubectl-secrets would have written.
#[derive(Debug, thiserror::Error)]
#[error(
    "refusing to act on {object}: {found}. Nothing was changed. Records kubectl-secrets acts on are \
     written with the data they describe; this one was not (made by hand, by another tool, or planted). \
     Check who wrote it (kubectl get {kind} -n {namespace} {name} -o yaml --show-managed-fields){fix}"
)]
pub struct UntrustedRecord {
    pub object: String,
    pub found: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub fix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_failure_class_has_its_documented_code() {
        assert_eq!(Error::NoKubeconfig(String::new()).exit_code(), 3);
        let unreachable = Error::Unreachable {
            server: "s".into(),
            reason: "r".into(),
        };
        assert_eq!(unreachable.exit_code(), 4);
        let forbidden = Error::Forbidden {
            verb: "list".into(),
            resource: "secrets".into(),
            scope: "all namespaces".into(),
        };
        assert_eq!(forbidden.exit_code(), 5);
        assert!(forbidden.to_string().contains("list secrets in all namespaces"));
        assert_eq!(
            Error::SecretNotFound {
                namespace: "a".into(),
                name: "b".into()
            }
            .exit_code(),
            6
        );
        assert_eq!(Error::Interrupted.exit_code(), 130);
    }
}
