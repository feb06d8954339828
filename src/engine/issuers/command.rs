//! `--issuer-command KEY=COMMAND`: anything else that checks a credential, changed by the
//! operator's own command. It runs with `sh -c` once per step, is told the step and the key in
//! its environment (KUBECTL_SECRETS_STEP = check | add | undo | retire, KUBECTL_SECRETS_NAMESPACE,
//! KUBECTL_SECRETS_SECRET, KUBECTL_SECRETS_KEY) and reads the value the step sets on stdin: the
//! new one for add, the previous one for undo and retire (nothing for check). Values never go
//! into its arguments or environment. Its exit status decides; its output is not shown (it may
//! hold the value).

use std::process::Stdio;

use futures::future::BoxFuture;
use futures::FutureExt as _;
use tokio::io::AsyncWriteExt as _;

use super::Issuer;
use crate::domain::secret_value::SecretValue;
use crate::error::{Error, Result};

/// How long one step of the command may take.
const STEP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

pub struct CommandIssuer {
    namespace: String,
    secret: String,
    key: String,
    command: String,
}

impl CommandIssuer {
    pub fn new(namespace: &str, secret: &str, key: &str, command: &str) -> Self {
        CommandIssuer {
            namespace: namespace.into(),
            secret: secret.into(),
            key: key.into(),
            command: command.into(),
        }
    }

    async fn run(&self, step: &str, stdin: Option<&SecretValue>) -> Result<()> {
        let issuer = format!(
            "the issuer command of {}/{} key {}",
            self.namespace, self.secret, self.key
        );
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .env("KUBECTL_SECRETS_STEP", step)
            .env("KUBECTL_SECRETS_NAMESPACE", &self.namespace)
            .env("KUBECTL_SECRETS_SECRET", &self.secret)
            .env("KUBECTL_SECRETS_KEY", &self.key)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::IssuerUnreachable {
                issuer: issuer.clone(),
                reason: format!("sh could not be started: {e}"),
            })?;
        let mut pipe = child.stdin.take().expect("stdin is piped");
        if let Some(value) = stdin {
            // A command that exits without reading is judged by its exit status, not by this write.
            let _ = pipe.write_all(value.expose()).await;
        }
        drop(pipe);
        let status = match tokio::time::timeout(STEP_TIMEOUT, child.wait()).await {
            Ok(status) => status.map_err(|e| Error::IssuerUnreachable {
                issuer: issuer.clone(),
                reason: e.to_string(),
            })?,
            Err(_) => {
                return Err(Error::IssuerRefused {
                    issuer,
                    step: step.into(),
                    reason: format!("it did not finish within {}s", STEP_TIMEOUT.as_secs()),
                    fix: "make the command finish, or run its step by hand".into(),
                })
            }
        };
        if status.success() {
            return Ok(());
        }
        Err(Error::IssuerRefused {
            issuer,
            step: step.into(),
            reason: format!(
                "it exited with {}",
                status.code().map_or("a signal".to_string(), |c| c.to_string())
            ),
            fix: "its output is not shown, as it may hold the value: run it yourself with KUBECTL_SECRETS_STEP set to see why".into(),
        })
    }
}

impl Issuer for CommandIssuer {
    fn describe(&self) -> String {
        format!(
            "the command `{}` (the value on its stdin; steps check, add, then retire or undo)",
            crate::render::clean(&self.command)
        )
    }

    fn keeps_both(&self) -> bool {
        true
    }

    fn check<'a>(&'a self, _: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        self.run("check", None).boxed()
    }

    fn add<'a>(&'a self, _: &'a SecretValue, new: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        self.run("add", Some(new)).boxed()
    }

    fn undo<'a>(&'a self, old: &'a SecretValue, _: Option<&'a SecretValue>) -> BoxFuture<'a, Result<()>> {
        self.run("undo", Some(old)).boxed()
    }

    fn retire<'a>(&'a self, old: &'a SecretValue, _: &'a SecretValue) -> BoxFuture<'a, Result<()>> {
        self.run("retire", Some(old)).boxed()
    }
}
