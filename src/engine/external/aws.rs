//! AWS Secrets Manager behind the provider seam. A new version is written the way AWS's own
//! rotation does it: AWSPENDING, then AWSCURRENT moved (AWS leaves AWSPREVIOUS on the version
//! it replaces), then AWSPENDING removed. Undo moves AWSCURRENT back; retire takes AWSPREVIOUS
//! off. A version's id is the rotation's client request token, so a retry is a no-op at AWS.

use futures::future::BoxFuture;

use super::{RemoteState, Store, Words};
use crate::cluster::aws::SecretsManager;
use crate::domain::external::{self, RemoteValue, RemoteVersion, AWS_CURRENT, AWS_PENDING, AWS_PREVIOUS};
use crate::domain::journal::RemoteEntry;
use crate::error::Result;

const WORDS: Words = Words {
    short: "AWS",
    current: AWS_CURRENT,
    previous: AWS_PREVIOUS,
    pending: AWS_PENDING,
    how_written: "written as AWSPENDING, then made AWSCURRENT (the previous version stays as AWSPREVIOUS)",
    made_current: "made it AWSCURRENT (AWSPREVIOUS: the previous version)",
    keeps_previous:
        "AWSPREVIOUS still marks them (--retire-previous removes that label; revoke the old credential where it \
                     is used)",
    retired: "no longer marked AWSPREVIOUS",
};

pub struct Aws {
    sm: SecretsManager,
    region: String,
}

impl Aws {
    /// The store's region as configured (the SDK may resolve an empty one from the environment;
    /// the journal records the store's).
    pub async fn connect(region: &str) -> Self {
        Aws {
            sm: SecretsManager::connect(region).await,
            region: region.to_string(),
        }
    }

    /// Make `token` AWSCURRENT (from `previous`) and drop its AWSPENDING, whichever of the two
    /// is not done yet (a retry after an interruption finds some done).
    async fn finish_stages(&self, remote: &str, token: &str, previous: &str) -> Result<()> {
        let versions = self.sm.versions(remote).await?;
        let has = |id: &str, stage: &str| {
            versions
                .iter()
                .any(|v| v.id == id && v.stages.iter().any(|s| s == stage))
        };
        if !has(token, AWS_CURRENT) {
            self.sm
                .move_stage(remote, AWS_CURRENT, Some(token), Some(previous))
                .await?;
        }
        if has(token, AWS_PENDING) {
            self.sm.move_stage(remote, AWS_PENDING, None, Some(token)).await?;
        }
        Ok(())
    }
}

impl Store for Aws {
    fn describe(&self) -> String {
        format!("AWS Secrets Manager ({})", self.region)
    }

    fn location(&self) -> &str {
        &self.region
    }

    fn words(&self) -> &'static Words {
        &WORDS
    }

    fn current<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<RemoteValue>> {
        Box::pin(self.sm.value(remote, None, Some(AWS_CURRENT)))
    }

    fn value_at<'a>(&'a self, remote: &'a str, version: &'a str) -> BoxFuture<'a, Result<RemoteValue>> {
        Box::pin(self.sm.value(remote, Some(version), None))
    }

    fn versions<'a>(&'a self, remote: &'a str) -> BoxFuture<'a, Result<Vec<RemoteVersion>>> {
        Box::pin(self.sm.versions(remote))
    }

    fn replaced<'v>(&self, versions: &'v [RemoteVersion]) -> Option<&'v RemoteVersion> {
        external::with_stage(versions, AWS_PREVIOUS)
    }

    fn write<'a>(
        &'a self,
        remote: &'a str,
        token: &'a str,
        text: &'a str,
        previous: &'a str,
    ) -> BoxFuture<'a, Result<String>> {
        Box::pin(async move {
            self.sm.put_pending(remote, token, text).await?;
            self.finish_stages(remote, token, previous).await?;
            Ok(token.to_string())
        })
    }

    fn make_current<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.finish_stages(&remote.key, &remote.new, &remote.previous))
    }

    fn move_back<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let versions = self.sm.versions(&remote.key).await?;
            let new: Vec<String> = versions
                .iter()
                .find(|v| v.id == remote.new)
                .map(|v| v.stages.clone())
                .unwrap_or_default();
            if new.iter().any(|s| s == AWS_CURRENT) {
                self.sm
                    .move_stage(&remote.key, AWS_CURRENT, Some(&remote.previous), Some(&remote.new))
                    .await?;
            }
            if new.iter().any(|s| s == AWS_PENDING) {
                self.sm
                    .move_stage(&remote.key, AWS_PENDING, None, Some(&remote.new))
                    .await?;
            }
            Ok(())
        })
    }

    fn state<'a>(&'a self, remote: &'a RemoteEntry) -> BoxFuture<'a, Result<std::result::Result<RemoteState, String>>> {
        Box::pin(async move {
            let versions = self.sm.versions(&remote.key).await?;
            Ok(remote_state(&versions, remote))
        })
    }

    fn retire<'a>(&'a self, remote: &'a str, previous: &'a str) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.sm.move_stage(remote, AWS_PREVIOUS, None, Some(previous)))
    }
}

/// Where a remote stands, checked against the provider's stages: the journal's previous
/// version must be the one AWS marks as replaced (AWSPREVIOUS) or still current.
fn remote_state(versions: &[RemoteVersion], remote: &RemoteEntry) -> std::result::Result<RemoteState, String> {
    let stages = |id: &str| versions.iter().find(|v| v.id == id).map(|v| v.stages.clone());
    let previous = stages(&remote.previous).ok_or_else(|| {
        format!(
            "{} has no version {} (the journal's previous version)",
            remote.key, remote.previous
        )
    })?;
    let has = |list: &[String], stage: &str| list.iter().any(|s| s == stage);
    match stages(&remote.new) {
        None if has(&previous, AWS_CURRENT) => Ok(RemoteState::NotWritten),
        Some(new) if has(&new, AWS_CURRENT) && has(&previous, AWS_PREVIOUS) => Ok(RemoteState::Current),
        Some(new) if !has(&new, AWS_CURRENT) && has(&previous, AWS_CURRENT) => Ok(if has(&new, AWS_PENDING) {
            RemoteState::Pending
        } else {
            RemoteState::MovedBack
        }),
        _ => Err(format!(
            "the stages of {} in AWS do not match the journal (version {} neither current nor marked AWSPREVIOUS)",
            remote.key, remote.previous
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(id: &str, stages: &[&str]) -> RemoteVersion {
        RemoteVersion {
            id: id.into(),
            stages: stages.iter().map(|s| s.to_string()).collect(),
            created: None,
        }
    }

    #[test]
    fn a_journal_is_checked_against_the_providers_own_stages() {
        let remote = RemoteEntry {
            key: "shop/db".into(),
            previous: "old".into(),
            new: "kubectl-secrets-0123456789abcdef".into(),
        };
        let new = remote.new.as_str();
        let state = |versions: &[RemoteVersion]| remote_state(versions, &remote);
        assert_eq!(state(&[version("old", &["AWSCURRENT"])]), Ok(RemoteState::NotWritten));
        assert_eq!(
            state(&[version("old", &["AWSCURRENT"]), version(new, &["AWSPENDING"])]),
            Ok(RemoteState::Pending)
        );
        assert_eq!(
            state(&[version("old", &["AWSPREVIOUS"]), version(new, &["AWSCURRENT"])]),
            Ok(RemoteState::Current)
        );
        assert_eq!(
            state(&[version("old", &["AWSCURRENT"]), version(new, &["AWSPREVIOUS"])]),
            Ok(RemoteState::MovedBack)
        );
        // A forged journal naming an older version as "previous" is refused: AWS does not mark
        // it as the one replaced.
        let forged = [
            version("ancient", &[]),
            version("old", &["AWSPREVIOUS"]),
            version(new, &["AWSCURRENT"]),
        ];
        let forged_entry = RemoteEntry {
            previous: "ancient".into(),
            ..remote.clone()
        };
        assert!(remote_state(&forged, &forged_entry).is_err());
        assert!(state(&[version(new, &["AWSCURRENT"])]).is_err());
    }
}
