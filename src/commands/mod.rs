//! One file per subcommand: each reads (cluster), decides (domain), and renders, or hands a
//! planned change to the engine.

pub mod audit;
pub mod backup_keys;
pub mod completion;
pub mod diff;
pub mod edit;
pub mod fetch_cert;
pub mod fleet;
pub mod history;
pub mod list;
pub mod pick;
pub mod rollback;
pub mod rotate;
pub mod seal;
pub mod unseal;
pub mod verify;

/// How a command ended when it did not fail (kept beside the exit codes it maps to).
pub use crate::error::Outcome;

/// verify's report over a snapshot, judged with the kubelet rules of the server's version.
pub(crate) fn assess(
    snapshot: &crate::domain::drift::Snapshot,
    server_minor: u32,
    report_unused: bool,
) -> crate::domain::drift::VerifyReport {
    let options = crate::domain::drift::Options {
        policy: crate::domain::env::EnvNamePolicy::for_server_minor(server_minor),
        secret: None,
        report_unused,
        list_without_secrets: true,
    };
    crate::domain::drift::assess(snapshot, &options)
}
