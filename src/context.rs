//! What every command gets: the parsed global flags, and a way to connect built only when a
//! command needs the cluster (so --help, --version and completion never read a kubeconfig).

use crate::cli::{GlobalArgs, OutputFormat};
use crate::cluster::{self, ConnectOptions, Connection, Scope};
use crate::error::Result;

pub struct Context {
    pub global: GlobalArgs,
}

impl Context {
    pub fn new(global: GlobalArgs) -> Self {
        Context { global }
    }

    pub async fn connect(&self) -> Result<Connection> {
        self.connect_to(self.global.context.clone()).await
    }

    /// The same kubeconfig, another context (None: the current one).
    pub async fn connect_to(&self, context: Option<String>) -> Result<Connection> {
        let options = ConnectOptions {
            kubeconfig: self.global.kubeconfig.clone(),
            context,
            request_timeout: self.global.request_timeout.and_then(|t| t.0),
            identity: self.identity(),
            non_interactive: false,
        };
        cluster::connect(&options).await
    }

    /// One context of several asked at once: credential plugins may not prompt.
    pub async fn connect_one_of_many(&self, context: &str) -> Result<Connection> {
        let options = ConnectOptions {
            kubeconfig: self.global.kubeconfig.clone(),
            context: Some(context.to_string()),
            request_timeout: self.global.request_timeout.and_then(|t| t.0),
            identity: self.identity(),
            non_interactive: true,
        };
        cluster::connect(&options).await
    }

    fn identity(&self) -> cluster::client::Identity {
        cluster::client::Identity {
            impersonate: self.global.as_user.clone(),
            groups: self.global.as_groups.clone(),
            token: self.global.token.clone(),
        }
    }

    /// `-A`, else `-n`, else the context's namespace (kubectl's order).
    pub fn scope(&self, conn: &Connection) -> Scope {
        if self.global.all_namespaces {
            Scope::AllNamespaces
        } else {
            Scope::Namespace(
                self.global
                    .namespace
                    .clone()
                    .unwrap_or_else(|| conn.default_namespace.clone()),
            )
        }
    }

    /// `-n`, else the context's namespace (for commands that work in one namespace).
    pub fn namespace(&self, conn: &Connection) -> String {
        self.global
            .namespace
            .clone()
            .unwrap_or_else(|| conn.default_namespace.clone())
    }

    pub fn output(&self) -> OutputFormat {
        self.global.output.format
    }

    /// What the flags already answer about going ahead with a change.
    pub fn consent(&self) -> crate::engine::Consent {
        crate::engine::Consent {
            dry_run: self.global.dry_run.any(),
            server_dry_run: self.global.dry_run == crate::cli::DryRun::Server,
            yes: self.global.yes,
            output: self.global.output.format,
        }
    }
}
