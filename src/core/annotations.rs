//! The annotations kubectl-secrets writes. They carry revisions and times, never a value or
//! a hash of one.

use std::collections::BTreeMap;

pub const PREFIX: &str = "kubectl-secrets.io/";
/// On a Secret: how many times rotate has changed it.
pub const REVISION: &str = "kubectl-secrets.io/revision";
/// On a Secret: when rotate last changed its data (RFC 3339).
pub const ROTATED_AT: &str = "kubectl-secrets.io/rotated-at";
/// On a pod template (so on its pods): JSON map of Secret name → revision it was restarted for.
pub const POD_SECRET_REVISIONS: &str = "kubectl-secrets.io/secret-revisions";

/// Parse the pod annotation; an unreadable one counts as absent (evidence falls back to time).
pub fn parse_revisions(text: &str) -> BTreeMap<String, u64> {
    serde_json::from_str(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_round_trip_and_garbage_is_absent() {
        let parsed = parse_revisions(r#"{"backend-secrets":3}"#);
        assert_eq!(parsed.get("backend-secrets"), Some(&3));
        assert!(parse_revisions("not json").is_empty());
    }
}
