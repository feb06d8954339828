//! Command-line interface: kubectl-style global flags plus one args struct per subcommand.
//! Parsing never touches a kubeconfig or the network.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::render::columns::Columns;

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success: no drift, no difference
  1    drift or difference found (verify, diff, audit, list --max-age)
  2    usage error (bad flag or argument; a change without a terminal and without --yes)
  3    kubeconfig problem (missing file, unknown context)
  4    API server (or an issuer's database server) unreachable or timed out
  5    forbidden or unauthorized (the message names the missing permission)
  6    object not found
  7    conflict: someone else changed the object (nothing was overwritten)
  8    a rollout failed: the previous data was restored and the workloads restarted again
  9    a rollout failed and so did restoring: the message says what to check
  10   other API error
  11   a rollout failed and nothing needed restoring (verify --fix, --resume): the data is as it was
  12   an input file or stream could not be read or is over 8 MiB (the message names it)
  13   a journal or backup on the cluster is not one kubectl-secrets wrote: refused, nothing changed
  14   a change of the Secret is under way (another run holds it) or was interrupted: finish it
       with rotate --resume or undo it with --abort
  15   the server that checks the credential (an issuer) refused a step: wrong administrator
       password, a missing privilege or user (before the Secret is written: nothing changed)
  130  interrupted (Ctrl-C)";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-secrets",
    bin_name = "kubectl secrets",
    version,
    about = "Seal, rotate, diff and verify Kubernetes Secrets against the pods that use them",
    long_about = "Seal, rotate, diff and verify Kubernetes Secrets against the environment of \
                  running pods. Secret values are never printed unless you ask for them.",
    after_help = EXIT_CODES_HELP
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// Without a subcommand, the overview (--help) is shown.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand's help as kubectl lays it out: what it does, usage, the examples (the most
/// common first), then its own options, then the global ones.
const SUBCOMMAND_HELP: &str = "{about-with-newline}\n{usage-heading} {usage}{after-help}\n\n{all-args}";

/// The parser, with every subcommand's help laid out by SUBCOMMAND_HELP.
pub fn command() -> clap::Command {
    use clap::CommandFactory as _;
    Cli::command().mut_subcommands(|sub| sub.help_template(SUBCOMMAND_HELP))
}

/// The flags every kubectl user already knows, accepted before or after the subcommand; listed
/// after the subcommand's own options in its help.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, which may list several files, else ~/.kube/config)
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<std::path::PathBuf>,

    /// The kubeconfig context to use (alone, on a terminal: pick one from a list, for this run
    /// only; the kubeconfig is not changed)
    #[arg(long, global = true, value_name = "NAME", num_args = 0..=1, default_missing_value = "")]
    pub context: Option<String>,

    /// Namespace (default: the context's namespace, else "default"; alone, on a terminal: pick
    /// one from a list)
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", num_args = 0..=1, default_missing_value = "")]
    pub namespace: Option<String>,

    /// Work across all namespaces
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    pub all_namespaces: bool,

    /// Label selector: the workloads verify looks at, the Secrets rotate changes (e.g. -l app=backend)
    #[arg(short = 'l', long, global = true, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Output format: table, wide, json, yaml, name, prometheus, jsonpath=TEMPLATE (kubectl's
    /// JSONPath template over -o json's document), or custom-columns=HEADER:EXPR,... (a table of
    /// its list; custom-columns-file=FILE reads them from a file)
    #[arg(short = 'o', long, global = true, value_name = "FORMAT", value_parser = OutputParser, default_value = "table")]
    pub output: Output,

    /// Tables without their header line (as kubectl get --no-headers), for scripts and grep
    #[arg(long, global = true)]
    pub no_headers: bool,

    /// Log level as kubectl's: 6 and up print each API request (method, URL, status, time) on
    /// stderr; bodies and headers are never printed, at any level
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL", default_value_t = 0)]
    pub verbosity: u8,

    /// How long to wait for a single API request ("0" waits forever), e.g. 30s, 1m
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<RequestTimeout>,

    /// Act as this user (impersonation, like kubectl --as): RBAC is checked for them
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Act as a member of this group too (with --as; repeatable, like kubectl --as-group)
    #[arg(long = "as-group", global = true, value_name = "GROUP", requires = "as_user")]
    pub as_groups: Vec<String>,

    /// Bearer token for the API server, instead of the kubeconfig user's credentials
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Answer yes to confirmations (required for changes when there is no terminal)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Show what would change, change nothing (kubectl's --dry-run[=client|server|none]: client
    /// is the plan, checked against the cluster with reads only; server also sends each write of
    /// a change with dryRun=All, so that the API server's validation and admission judge it)
    #[arg(
        long,
        global = true,
        value_name = "MODE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "client",
        default_value = "none",
        hide_default_value = true,
        action = clap::ArgAction::Set,
        value_parser = parse_dry_run
    )]
    pub dry_run: DryRun,
}

/// kubectl's `--dry-run` modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DryRun {
    None,
    /// The plan, checked with reads; nothing sent.
    Client,
    /// The plan, and each write sent with dryRun=All (nothing persisted).
    Server,
}

impl DryRun {
    /// Whether nothing is to be changed (client or server).
    pub fn any(self) -> bool {
        self != DryRun::None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Wide,
    Json,
    Yaml,
    /// Prometheus text exposition format (list only), for a textfile collector or Pushgateway
    Prometheus,
    /// secret/NAME, one per line (list only), as `kubectl get -o name`
    Name,
    /// `-o jsonpath=TEMPLATE`: kubectl's JSONPath template over the JSON document
    #[value(skip)]
    Jsonpath,
    /// `-o custom-columns=SPEC` / `custom-columns-file=FILE`: a table of the document's list
    #[value(skip)]
    CustomColumns,
}

/// `-o FORMAT`, with the template of `-o jsonpath=TEMPLATE` (checked when parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub format: OutputFormat,
    pub jsonpath: Option<String>,
    pub columns: Option<crate::render::columns::Columns>,
}

/// Parses `-o`: the formats' names, and `jsonpath=TEMPLATE` as kubectl takes it.
#[derive(Debug, Clone, Copy)]
struct OutputParser;

impl clap::builder::TypedValueParser for OutputParser {
    type Value = Output;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Output, clap::Error> {
        let invalid = |why: String| {
            clap::Error::raw(
                clap::error::ErrorKind::InvalidValue,
                format!("invalid value for -o/--output: {why}\n"),
            )
            .with_cmd(cmd)
        };
        let text = value.to_str().ok_or_else(|| invalid("not UTF-8".into()))?;
        if let Some(template) = text.strip_prefix("jsonpath=") {
            crate::render::jsonpath::Template::parse(template).map_err(|why| invalid(format!("jsonpath: {why}")))?;
            return Ok(Output {
                format: OutputFormat::Jsonpath,
                jsonpath: Some(template.to_string()),
                columns: None,
            });
        }
        let columns = if let Some(spec) = text.strip_prefix("custom-columns=") {
            Some(Columns::parse(spec).map_err(|why| invalid(format!("custom-columns: {why}")))?)
        } else if let Some(path) = text.strip_prefix("custom-columns-file=") {
            let file = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("custom-columns-file: cannot read {path}: {e}")))?;
            Some(Columns::parse_file(&file).map_err(|why| invalid(format!("custom-columns-file {path}: {why}")))?)
        } else {
            None
        };
        if columns.is_some() {
            return Ok(Output {
                format: OutputFormat::CustomColumns,
                jsonpath: None,
                columns,
            });
        }
        let format = OutputFormat::from_str(text, false).map_err(|_| {
            let known: Vec<String> = self
                .possible_values()
                .into_iter()
                .flatten()
                .map(|v| v.get_name().to_string())
                .collect();
            if text == "jsonpath" {
                invalid("give the template: -o jsonpath='{.secrets[*].name}'".into())
            } else if text == "custom-columns" {
                invalid("give the columns: -o custom-columns=NAME:.name,KEYS:.keys".into())
            } else {
                invalid(format!("'{text}' [possible values: {}]", known.join(", ")))
            }
        })?;
        Ok(Output {
            format,
            jsonpath: None,
            columns: None,
        })
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        let formats = OutputFormat::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value);
        let jsonpath = clap::builder::PossibleValue::new("jsonpath=")
            .help("jsonpath=TEMPLATE: kubectl's JSONPath template over -o json's document");
        let columns = clap::builder::PossibleValue::new("custom-columns=")
            .help("custom-columns=HEADER:EXPR,...: a table of the document's list (or custom-columns-file=FILE)");
        Some(Box::new(formats.chain([jsonpath, columns])))
    }
}

/// `--request-timeout` as kubectl reads it: a bare number is seconds, "0" means no timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// `--dry-run`, `--dry-run=client` (the plan, nothing written), `--dry-run=server` (each write
/// sent with dryRun=All too) or `--dry-run=none` (a real run).
fn parse_dry_run(text: &str) -> Result<DryRun, String> {
    match text {
        "client" | "true" => Ok(DryRun::Client),
        "server" => Ok(DryRun::Server),
        "none" | "false" => Ok(DryRun::None),
        other => Err(format!(
            "{other:?}: use --dry-run, --dry-run=client, --dry-run=server or --dry-run=none"
        )),
    }
}

fn parse_request_timeout(text: &str) -> Result<RequestTimeout, String> {
    let text = text.trim();
    let duration = match text.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(text)
            .map_err(|e| format!("{e}: use a duration such as 30s, 2m or 0 (no timeout)"))?,
    };
    Ok(RequestTimeout((!duration.is_zero()).then_some(duration)))
}

/// What a subcommand does with the global flags: one it does not use is refused, never ignored.
struct Applies {
    all_namespaces: bool,
    selector: bool,
    /// --yes and --dry-run: only where something changes.
    changes: bool,
    prometheus: bool,
    /// -o name: where objects are listed.
    name: bool,
    /// --dry-run=server: where a change of Secrets goes through the engine.
    server_dry_run: bool,
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Verify(_) => "verify",
            Command::Rotate(_) => "rotate",
            Command::Diff(_) => "diff",
            Command::Seal(_) => "seal",
            Command::FetchCert(_) => "fetch-cert",
            Command::Unseal(_) => "unseal",
            Command::BackupKeys(_) => "backup-keys",
            Command::Completion(_) => "completion",
            Command::List(_) => "list",
            Command::Audit(_) => "audit",
            Command::History(_) => "history",
            Command::Rollback(_) => "rollback",
            Command::Edit(_) => "edit",
        }
    }

    fn applies(&self) -> Applies {
        let none = Applies {
            all_namespaces: false,
            selector: false,
            changes: false,
            prometheus: false,
            name: false,
            server_dry_run: false,
        };
        match self {
            Command::Verify(args) => Applies {
                all_namespaces: true,
                selector: true,
                changes: args.fix,
                ..none
            },
            Command::Rotate(args) => Applies {
                // Renewals of every expiring Certificate may span namespaces.
                all_namespaces: args.all_expiring,
                selector: !args.all_expiring,
                changes: true,
                server_dry_run: !args.all_expiring,
                ..none
            },
            Command::Diff(_) | Command::Audit(_) => Applies {
                all_namespaces: true,
                ..none
            },
            Command::List(_) => Applies {
                all_namespaces: true,
                selector: true,
                prometheus: true,
                name: true,
                ..none
            },
            Command::History(args) => Applies {
                changes: args.prune,
                ..none
            },
            Command::Rollback(_) | Command::Edit(_) => Applies {
                changes: true,
                server_dry_run: true,
                ..none
            },
            // Seal and backup-keys write files: --dry-run shows what would be written.
            Command::Seal(_) | Command::BackupKeys(_) => Applies { changes: true, ..none },
            // `completion kubectl-plugin` writes its script file.
            Command::Completion(args) => Applies {
                changes: args.shell == Shell::KubectlPlugin,
                ..none
            },
            Command::FetchCert(_) | Command::Unseal(_) => none,
        }
    }
}

/// Global flags given to a subcommand that does not use them, and a malformed `-l`: refused
/// before anything is read (exit 2), naming the flag and the command.
pub fn check_global_flags(global: &GlobalArgs, command: &Command) -> Result<(), String> {
    let applies = command.applies();
    let name = command.name();
    let refused = [
        (
            global.all_namespaces && !applies.all_namespaces,
            "-A/--all-namespaces",
            "it works in one namespace (-n)",
        ),
        (
            global.selector.is_some() && !applies.selector,
            "-l/--selector",
            "it selects nothing by label",
        ),
        (global.yes && !applies.changes, "--yes", "it changes nothing"),
        (
            global.dry_run.any() && !applies.changes,
            "--dry-run",
            "it changes nothing",
        ),
        (
            global.dry_run == DryRun::Server && applies.changes && !applies.server_dry_run,
            "--dry-run=server",
            "its writes are not a change of Secrets through the API server (--dry-run shows them)",
        ),
        (
            global.output.format == OutputFormat::Prometheus && !applies.prometheus,
            "-o prometheus",
            "metrics come from `list -o prometheus`",
        ),
        (
            global.output.format == OutputFormat::Name && !applies.name,
            "-o name",
            "it lists no objects (`list -o name` names the Secrets)",
        ),
        (
            global.no_headers
                && !matches!(
                    global.output.format,
                    OutputFormat::Table | OutputFormat::Wide | OutputFormat::CustomColumns
                ),
            "--no-headers",
            "with this -o there is no header line (it is for -o table, wide and custom-columns)",
        ),
    ];
    if let Some((_, flag, why)) = refused.iter().find(|(given, _, _)| *given) {
        let extra = match (name, *flag) {
            ("verify", "--yes" | "--dry-run") => " without --fix",
            ("history", "--yes" | "--dry-run") => " without --prune",
            _ => "",
        };
        return Err(format!("`kubectl secrets {name}` does not take {flag}{extra}: {why}"));
    }
    if let Some(selector) = &global.selector {
        crate::domain::selector::check(selector)?;
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Which running containers see a stale, missing or shadowed secret value?
    #[command(after_help = VERIFY_EXAMPLES)]
    Verify(VerifyArgs),
    /// New value(s), backed up and written atomically, every consumer restarted and verified
    #[command(after_help = ROTATE_EXAMPLES)]
    Rotate(RotateArgs),
    /// Compare a Secret with a file, another namespace or cluster, or a backup revision (values masked)
    #[command(after_help = DIFF_EXAMPLES)]
    Diff(DiffArgs),
    /// Encrypt a Secret into a SealedSecret the Sealed Secrets controller unseals (kubeseal's format)
    #[command(after_help = SEAL_EXAMPLES)]
    Seal(SealArgs),
    /// The Sealed Secrets controller's certificate, through the API server (like kubeseal --fetch-cert)
    #[command(after_help = FETCH_CERT_EXAMPLES)]
    FetchCert(FetchCertArgs),
    /// Decrypt a SealedSecret file offline with the controller's private key(s) (disaster recovery)
    #[command(after_help = UNSEAL_EXAMPLES)]
    Unseal(UnsealArgs),
    /// Export the Sealed Secrets controller's private keys to a 0600 file (disaster recovery)
    #[command(after_help = BACKUP_KEYS_EXAMPLES)]
    BackupKeys(BackupKeysArgs),
    /// Shell completion: bash, zsh, fish, powershell, or kubectl's plugin completion helper
    #[command(after_help = COMPLETION_EXAMPLES)]
    Completion(CompletionArgs),
    /// Every Secret with the age of its data, last rotation, owner and consumers
    #[command(after_help = LIST_EXAMPLES, visible_alias = "ls")]
    List(ListArgs),
    /// Placeholder, weak and reused values, dangling references, unused Secrets, overdue rotations
    #[command(after_help = AUDIT_EXAMPLES)]
    Audit(AuditArgs),
    /// The backup revisions that rotate and rollback keep, newest first
    #[command(after_help = HISTORY_EXAMPLES)]
    History(HistoryArgs),
    /// Restore a backup revision (the current data is backed up first) and restart the consumers
    #[command(after_help = ROLLBACK_EXAMPLES)]
    Rollback(RollbackArgs),
    /// Edit a Secret's values decoded in your editor, applied as a change (backup, restarts, verify)
    #[command(after_help = EDIT_EXAMPLES)]
    Edit(EditArgs),
}

const DIFF_EXAMPLES: &str = "\
Examples:
  # Does the cluster hold what the local manifest (or .env file) says? No
  # value is printed.
  kubectl secrets diff chat-secrets -n chatbox \\
      --against deployments/kubernetes/secret.yaml
  kubectl secrets diff backend-secrets -n aura-production \\
      --against .env.production

  # Staging works, production does not: same keys? same types? the same value
  # reused?
  kubectl secrets diff backend-secrets -n aura-staging \\
      --to-namespace aura-production
  kubectl secrets diff backend-secrets --context staging \\
      --to-context production

  # What did the last rotation change?
  kubectl secrets diff postgres-secrets -n aura-production --revision 3

  # Every Secret present in both clusters
  kubectl secrets diff -A --context staging --to-context production

  # The changed lines themselves (only keys present on both sides, only when
  # asked)
  kubectl secrets diff api-keys -n intelliprompt --against api-keys.yaml \\
      --show-secret

Exit codes: 0 no difference, 1 differences found, 2 and up errors (like kubectl diff).";

const BACKUP_KEYS_EXAMPLES: &str = "\
Examples:
  # Before a cluster rebuild: every key the controller ever used (it keeps all
  # of them)
  kubectl secrets backup-keys sealed-secrets-keys.yaml

  # Restore into a new cluster, then restart the controller so it loads them
  kubectl apply -f sealed-secrets-keys.yaml && kubectl -n kube-system delete \\
      pod -l name=sealed-secrets-controller

  # Open a SealedSecret offline with them
  kubectl secrets unseal sealed-secret.yaml \\
      --private-key sealed-secrets-keys.yaml

The file holds private keys: anyone who has it can decrypt every SealedSecret sealed for this
cluster. Keep it encrypted and offline.";

const SEAL_EXAMPLES: &str = "\
Examples:
  # The GitOps flow, without a shell pipeline that mangles newlines or binary
  # values
  kubectl secrets seal -f backend-secrets.yaml \\
      --cert sealed-secrets-public-key.pem > sealed-secret-backend.yaml

  # Like `kubectl create secret generic` (values from files or stdin keep
  # their exact bytes)
  kubectl secrets seal backend-secrets -n aura-production \\
      --from-file postgres-db-uri=./uri.txt \\
      --cert http://sealed-secrets.example/v1/cert.pem

  # Move a Secret that lives only in the cluster to GitOps
  kubectl secrets seal backend-secrets -n aura-production --from-secret \\
      > sealed/backend-secrets.yaml

  # One value for a hand-written SealedSecret (like kubeseal --raw)
  kubectl secrets seal api-keys -n intelliprompt --raw \\
      --from-file openai=./openai.key

  # Add or replace one key in an existing SealedSecret file, keeping the
  # others and the file's format
  kubectl secrets seal api-keys -n intelliprompt \\
      --from-file openai=./openai.key --merge-into sealed/api-keys.yaml \\
      --cert cert.pem

  # After the controller renewed its key: re-encrypt a GitOps folder with the
  # newest one
  kubectl secrets seal --re-encrypt sealed/

  # One value for staging and prod at once, each sealed with its own cluster's
  # certificate, a file per cluster
  kubectl secrets seal api-keys -n intelliprompt \\
      --from-file openai=./openai.key --contexts 'prod-*' --contexts staging \\
      --output-dir clusters/ --output-name '{context}/api-keys-sealed.yaml'

  # The same from certificate files kept in the repository (no cluster
  # access): clusters/prod/api-keys.yaml and clusters/staging/api-keys.yaml
  kubectl secrets seal api-keys -n intelliprompt \\
      --from-file openai=./openai.key --cert certs/prod.pem \\
      --cert certs/staging.pem --output-dir clusters/

  # Before merging: can the controller of this cluster decrypt these files?
  kubectl secrets seal \\
      --validate sealed/api-keys.yaml sealed/backend-secrets.yaml

  # Add, replace or remove keys of a SealedSecret file (asks; or
  # --from-file/--remove-key)
  kubectl secrets seal --edit sealed/api-keys.yaml

Scopes: strict (default: only this name in this namespace can unseal it), namespace-wide,
cluster-wide. The scope used is said on stderr before anything is written.";

const FETCH_CERT_EXAMPLES: &str = "\
Examples:
  # Keep the public key next to the manifests
  kubectl secrets fetch-cert > sealed-secrets-public-key.pem

  # A Helm install in its own namespace
  kubectl secrets fetch-cert --controller-name sealed-secrets \\
      --controller-namespace sealed-secrets

The certificate is read through the API server's service proxy (needs get on services and
services/proxy in the controller's namespace); a copy is cached per context, and seal falls
back to it, saying how old it is, when the controller cannot be reached.";

const UNSEAL_EXAMPLES: &str = "\
Examples:
  # The controller's keys, saved for disaster recovery, then an offline unseal
  kubectl secrets backup-keys keys.yaml
  kubectl secrets unseal sealed-secret-backend.yaml --private-key keys.yaml

Every key given is tried (the controller renews its key every 30 days). A value that cannot
be decrypted is named with the likely cause, and nothing is printed.";

const COMPLETION_EXAMPLES: &str = "\
Examples:
  # kubectl secrets <TAB> (kubectl 1.26+): install the helper kubectl calls,
  # next to the plugin
  kubectl secrets completion kubectl-plugin

  # kubectl-secrets <TAB> in bash / zsh
  source <(kubectl-secrets completion bash)
  kubectl-secrets completion zsh > \"${fpath[1]}/_kubectl-secrets\"

Secret names, keys, namespaces and contexts are completed from the cluster with a 2 s timeout,
silently empty when it cannot answer.";

const LIST_EXAMPLES: &str = "\
Examples:
  # Policy: every secret rotated at least every 90 days (exit 1 if one is
  # overdue)
  kubectl secrets list -A --max-age 90d

  # In a CronJob or CI, as JSON
  kubectl secrets list -n aura-production --max-age 80d -o json

Ages count from the last change of the data (rotate's record, else managedFields, else creation).
Service-account tokens, Helm release Secrets and kubectl-secrets' backups are hidden unless --all-types.";

const AUDIT_EXAMPLES: &str = "\
Examples:
  # Before go-live: placeholders like `<Paste JWT Secret Here>`, `sk-xxx`,
  # `changeme` still deployed?
  kubectl secrets audit -A

  # Fail a pipeline only on critical findings, with the 90-day policy
  kubectl secrets audit -n video-conferencing --max-age 90d --fail-on critical

Findings never include a value: the object, the key, what is wrong and the fix.
Exit 1 when a finding at or above --fail-on exists.";

const HISTORY_EXAMPLES: &str = "\
Examples:
  # What changed backend-secrets, when, and which keys (values are never
  # shown)
  kubectl secrets history backend-secrets -n video-conferencing

  # Keep only the two newest backups
  kubectl secrets history backend-secrets -n video-conferencing --prune \\
      --keep 2 --yes";

const ROLLBACK_EXAMPLES: &str = "\
Examples:
  # The rotation broke logins: put the previous JWT secret back and restart
  # its consumers
  kubectl secrets rollback backend-secrets -n video-conferencing

  # Back to a given revision (see `kubectl secrets history`)
  kubectl secrets rollback postgres-secrets -n aura-production \\
      --to-revision 2 --yes

`kubectl rollout undo` restores a pod template, not a Secret's data; this restores the data and
restarts what reads it. The data it replaces is backed up first, so a rollback can be rolled back.";

const EDIT_EXAMPLES: &str = "\
Examples:
  # Instead of `kubectl edit secret` and base64 by hand: values shown decoded,
  # the change backed up, its consumers restarted and verified
  kubectl secrets edit chat-secrets -n chatbox

  # With another editor
  KUBE_EDITOR=nano kubectl secrets edit backend-secrets -n aura-production

The file is private (0600, in a folder only you can read) and removed on every exit. An unchanged
or empty file changes nothing. A Secret synced from a SealedSecret or an ExternalSecret changes at
its source: `seal --edit` or `rotate --sealed-file`, and `rotate` (or `rotate --synced`).";

#[derive(Debug, Clone, Args)]
pub struct EditArgs {
    /// The Secret (in a terminal, left out: picked from a list)
    #[arg(value_name = "SECRET")]
    pub secret: Option<String>,

    #[command(flatten)]
    pub issuer: IssuerArgs,

    #[command(flatten)]
    pub change: ChangeArgs,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["against", "to_namespace", "to_context", "revision", "against_provider", "across_contexts"])))]
pub struct DiffArgs {
    /// The Secret (omitted with -A --to-context: every Secret present in both clusters; in a
    /// terminal, left out: picked from a list)
    #[arg(value_name = "SECRET")]
    pub secret: Option<String>,

    /// A local Secret manifest (YAML/JSON, data or stringData), SealedSecret, or .env file
    #[arg(long, value_name = "FILE")]
    pub against: Option<std::path::PathBuf>,

    /// The same Secret in another namespace
    #[arg(long, value_name = "NAMESPACE")]
    pub to_namespace: Option<String>,

    /// The same Secret in another kubeconfig context (another cluster)
    #[arg(long, value_name = "CONTEXT")]
    pub to_context: Option<String>,

    /// A backup revision of the Secret (see `kubectl secrets history`)
    #[arg(long, value_name = "N")]
    pub revision: Option<u64>,

    /// For a Secret an ExternalSecret syncs from AWS Secrets Manager or Vault KV v2: what the
    /// provider's current version (AWSCURRENT, Vault's current) would sync into it
    #[arg(long)]
    pub against_provider: bool,

    /// With --to-namespace or --to-context: the other Secret's name, if different
    #[arg(long, value_name = "NAME")]
    pub to_name: Option<String>,

    /// Print the changed lines of changed values (never values of keys on one side only)
    #[arg(long)]
    pub show_secret: bool,

    /// With --contexts/--all-contexts: compare the Secret as each cluster holds it, each against
    /// the first cluster selected (masked; a value the same in two clusters is a reuse warning)
    #[arg(long, conflicts_with_all = ["against", "to_namespace", "to_context", "revision", "against_provider", "show_secret"])]
    pub across_contexts: bool,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("copies").multiple(true).args(["contexts", "cert"])))]
pub struct SealArgs {
    /// Name of the Secret to build from --from-literal/--from-file/--from-env-file
    #[arg(value_name = "NAME", conflicts_with = "filename")]
    pub name: Option<String>,

    /// A Secret manifest to seal (YAML or JSON; - for stdin)
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Option<String>,

    /// Seal the Secret NAME as it is in the cluster (moving it to GitOps; in a terminal, leave
    /// NAME out to pick it)
    #[arg(long, conflicts_with_all = ["filename", "from_literal", "from_file", "from_env_file"])]
    pub from_secret: bool,

    /// Print only the sealed value of the single key given (like kubeseal --raw); strict scope needs NAME and -n
    #[arg(long, conflicts_with_all = ["merge_into", "filename", "from_secret"])]
    pub raw: bool,

    /// KEY=VALUE (visible in the process list: prefer --from-file for real secrets); repeatable
    #[arg(long, value_name = "KEY=VALUE")]
    pub from_literal: Vec<String>,

    /// KEY=PATH or PATH (the key is the file name); the exact bytes of the file; repeatable
    #[arg(long, value_name = "[KEY=]PATH")]
    pub from_file: Vec<String>,

    /// A .env file of KEY=VALUE lines; repeatable
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<String>,

    /// Secret type for a Secret built from flags
    #[arg(long = "type", value_name = "TYPE", default_value = "Opaque")]
    pub type_: String,

    /// The controller's certificate: a PEM file or an https URL (default: fetched from the
    /// controller); repeatable: one copy sealed for each certificate (all or nothing)
    #[arg(long, value_name = "FILE|URL")]
    pub cert: Vec<String>,

    /// Accept an http:// --cert URL: anyone on the path could swap the certificate and read what
    /// is sealed with it (only for a controller reached on a private, trusted network)
    #[arg(long)]
    pub allow_insecure_cert_url: bool,

    #[command(flatten)]
    pub controller: ControllerArgs,

    /// Where the SealedSecret may be unsealed
    #[arg(long, value_enum, default_value_t = SealScope::Strict)]
    pub scope: SealScope,

    /// Add or replace the keys in this SealedSecret file, keeping its other keys and format
    #[arg(long, value_name = "FILE")]
    pub merge_into: Option<std::path::PathBuf>,

    /// Re-encrypt SealedSecret files (folders recursively) with the controller's newest key,
    /// through the controller; each file keeps its format
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = UPKEEP_CONFLICTS)]
    pub re_encrypt: Vec<std::path::PathBuf>,

    /// Ask the controller whether it can decrypt SealedSecret files (folders recursively); exit 1
    /// if any cannot
    #[arg(long, value_name = "PATH", num_args = 1.., conflicts_with_all = UPKEEP_CONFLICTS)]
    pub validate: Vec<std::path::PathBuf>,

    /// Add, replace or remove keys of a SealedSecret file: interactively, or with
    /// --from-literal/--from-file and --remove-key
    #[arg(long, value_name = "FILE", conflicts_with_all = ["name", "filename", "from_secret", "raw", "merge_into", "re_encrypt", "validate", "from_env_file"])]
    pub edit: Option<std::path::PathBuf>,

    /// With --edit: remove this key; repeatable
    #[arg(long, value_name = "KEY", requires = "edit")]
    pub remove_key: Vec<String>,

    /// Seal the same input for every kubeconfig context matching PATTERN (a glob such as
    /// prod-*, or /regex/), each with its own cluster's certificate; repeatable
    #[arg(long = "contexts", value_name = "PATTERN", conflicts_with_all = ["cert", "merge_into", "raw", "from_secret", "re_encrypt", "validate", "edit"])]
    pub contexts: Vec<String>,

    /// With --contexts or --cert: write each copy to a file under DIR (else one
    /// multi-document YAML on stdout)
    #[arg(long, value_name = "DIR", requires = "copies")]
    pub output_dir: Option<std::path::PathBuf>,

    /// With --output-dir: each file's path under DIR, from {context} (or {cert}: the
    /// certificate's file name without extension, or its URL's host), {namespace} and {name}
    /// [default: {context}/{name}.yaml, or {cert}/{name}.yaml]
    #[arg(long, value_name = "TEMPLATE", requires = "output_dir")]
    pub output_name: Option<String>,
}

/// Flags that build a new SealedSecret, meaningless when files are re-encrypted or validated.
const UPKEEP_CONFLICTS: [&str; 9] = [
    "name",
    "filename",
    "from_secret",
    "raw",
    "from_literal",
    "from_file",
    "from_env_file",
    "merge_into",
    "edit",
];

#[derive(Debug, Clone, Args)]
pub struct BackupKeysArgs {
    /// File to write the keys to (created with mode 0600; - for stdout when it is not a terminal)
    #[arg(value_name = "FILE")]
    pub file: String,

    /// Replace FILE if it exists
    #[arg(long)]
    pub overwrite: bool,

    #[command(flatten)]
    pub controller: ControllerArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SealScope {
    Strict,
    NamespaceWide,
    ClusterWide,
}

/// Where the Sealed Secrets controller runs (kubeseal's flags and variables).
#[derive(Debug, Clone, Args)]
pub struct ControllerArgs {
    /// Name of the controller's Service
    #[arg(
        long,
        value_name = "NAME",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    pub controller_name: String,

    /// Namespace of the controller
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub controller_namespace: String,
}

#[derive(Debug, Clone, Args)]
pub struct FetchCertArgs {
    #[command(flatten)]
    pub controller: ControllerArgs,
}

#[derive(Debug, Clone, Args)]
pub struct UnsealArgs {
    /// The SealedSecret file (YAML or JSON; in a terminal, leave it out to pick one of the
    /// SealedSecret files under the current folder)
    #[arg(value_name = "FILE")]
    pub file: Option<std::path::PathBuf>,

    /// PEM private key (PKCS#1/PKCS#8) or a Secret/List YAML holding tls.key; repeatable
    #[arg(long, value_name = "FILE", required = true)]
    pub private_key: Vec<std::path::PathBuf>,

    /// Print the values on a terminal too (without it, stdout must be a file or a pipe)
    #[arg(long)]
    pub show_secret: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionArgs {
    #[arg(value_enum)]
    pub shell: Shell,

    /// For kubectl-plugin: where to write kubectl_complete-secrets (default: beside kubectl-secrets)
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    KubectlPlugin,
}

#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// Mark Secrets whose data is older than this (e.g. 90d) and exit 1 if any is
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub max_age: Option<Duration>,

    /// Also show service-account tokens, Helm releases and backups
    #[arg(long)]
    pub all_types: bool,

    /// Mark TLS certificates that expire sooner than this (e.g. 30d) and exit 1 if any does
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cert_expiry: Option<Duration>,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// Rotation policy: flag Secrets whose data is older than this (e.g. 90d)
    #[arg(long, value_name = "AGE", value_parser = parse_age)]
    pub max_age: Option<Duration>,

    /// Warn about TLS certificates that expire sooner than this (expired ones are critical)
    #[arg(long, value_name = "DURATION", default_value = "30d", value_parser = parse_duration)]
    pub cert_expiry: Duration,

    /// Exit 1 when a finding at or above this severity exists
    #[arg(long, value_enum, default_value_t = FailOn::Warning)]
    pub fail_on: FailOn,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Warning,
    Critical,
}

#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The Secret (in a terminal, left out: picked from a list)
    #[arg(value_name = "SECRET")]
    pub secret: Option<String>,

    /// Delete all but the newest --keep backups (asks first; --yes in scripts)
    #[arg(long)]
    pub prune: bool,

    /// With --prune: how many backups to keep
    #[arg(long, value_name = "N", default_value_t = 5, requires = "prune")]
    pub keep: u16,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// The Secret (in a terminal, left out: picked from a list)
    #[arg(value_name = "SECRET")]
    pub secret: Option<String>,

    /// The revision to restore (default: the newest backup); for vault:PATH, the Vault version
    /// whose data is written back as a new one (default: the one the current version replaced)
    #[arg(long, value_name = "N")]
    pub to_revision: Option<u64>,

    #[command(flatten)]
    pub change: ChangeArgs,

    /// Roll back in every cluster these select (e.g. those a stopped rotation in waves
    /// changed): each planned first, one question, then one cluster after the other
    #[command(flatten)]
    pub fleet: FleetArgs,
}

/// How a change of Secrets is carried out: shared by rotate and rollback.
#[derive(Debug, Clone, Args)]
pub struct ChangeArgs {
    /// Change the Secret(s) only; restart nothing
    #[arg(long)]
    pub no_restart: bool,

    /// Restart every workload that reads a changed Secret: also those that only mount it as a
    /// volume (updated in place) or read only keys that do not change
    #[arg(long, conflicts_with = "no_restart")]
    pub restart_all: bool,

    /// Restart at most this many workloads at once (default: all)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,

    /// With --max-parallel: restart in batches of that many, each batch once the previous one
    /// is complete and this long after it, e.g. 30s (paces a large plan)
    #[arg(long, value_name = "DURATION", requires = "max_parallel", value_parser = parse_duration)]
    pub batch_interval: Option<Duration>,

    /// Ask before restarting a workload kubectl-secrets restarted less than this long ago (with
    /// --yes: refuse); 0 turns it off. Rollbacks and --abort are never held back
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub min_restart_interval: Duration,

    /// Refuse a plan that restarts more than N workloads (before anything is written)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_restarts: Option<u16>,

    /// How long to wait for the rollouts before restoring the previous data, e.g. 10m
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Backup revisions kept per Secret
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub keep_backups: u16,

    /// Change a Secret that Argo CD, Flux or Helm deploys, although their next sync reverts it
    #[arg(long)]
    pub allow_gitops_drift: bool,

    /// Leave StatefulSets with updateStrategy OnDelete as they are (reported) instead of
    /// deleting their pods one at a time, highest ordinal first
    #[arg(long, conflicts_with = "no_restart")]
    pub leave_on_delete: bool,

    /// Continue Argo Rollouts that pause for a person (a canary pause step without a duration,
    /// a blue-green promotion), as `kubectl argo rollouts promote` does; without it they are
    /// reported where they wait
    #[arg(long, conflicts_with = "no_restart")]
    pub promote: bool,

    /// For a Secret synced from a provider: the remote secret (name or ARN) this change may
    /// write a version of; repeatable. Without a question (--yes) every remote the plan writes
    /// must be named: an ExternalSecret, which whoever writes the namespace may edit, chooses it
    #[arg(long = "remote", value_name = "NAME")]
    pub remotes: Vec<String>,

    /// Write a remote secret that ExternalSecrets of other namespaces read too (they are named
    /// in the refusal without it)
    #[arg(long)]
    pub allow_shared_remote: bool,
}

/// The servers that check a changed database password (rotate and edit).
#[derive(Debug, Clone, Args)]
pub struct IssuerArgs {
    /// The server that checks KEY's password, changed first in the same plan:
    /// KEY=postgresql|mysql|redis:user=NAME,server=statefulset/NAME|pod/NAME|HOST:PORT
    /// [,admin=SECRET/KEY][,admin-user=NAME][,database=NAME][,user-key=KEY] (instead of the
    /// Secret's issuer.kubectl-secrets.io/KEY annotation); repeatable. With user-key=KEY and
    /// --set KEY=NEW (postgresql, mysql): a new user NEW beside the old one, which stops logging
    /// in after verify
    #[arg(long = "issuer", value_name = "[SECRET/]KEY=SPEC")]
    pub issuers: Vec<String>,

    /// Anything else that checks KEY's password: COMMAND runs with `sh -c` for each step (check,
    /// add, undo, retire, in KUBECTL_SECRETS_STEP) with the value on stdin; its exit status decides
    #[arg(long = "issuer-command", value_name = "[SECRET/]KEY=COMMAND")]
    pub issuer_commands: Vec<String>,

    /// The database passwords rotated here were already changed at their servers: change them
    /// in the Secret only (the plan says so)
    #[arg(long, conflicts_with_all = ["issuers", "issuer_commands"])]
    pub no_issuer: bool,
}

const VERIFY_EXAMPLES: &str = "\
Examples:
  # Instead of `kubectl exec deploy/backend-deployment -- env | grep SECRET`
  # pod by pod:
  kubectl secrets verify -n video-conferencing

  # Only the consumers of one Secret, e.g. after `kubectl create secret ... |
  # kubectl apply -f -`
  kubectl secrets verify backend-secrets -n aura-production

  # On call: every namespace, as JSON for a script or a ticket
  kubectl secrets verify -A -o json

  # Only the backend workloads, one row per pod and container
  kubectl secrets verify -n intelliprompt -l app=backend -o wide

  # After a `kubectl patch secret` that restarted only some consumers:
  # restart what is stale
  kubectl secrets verify db-credentials -n intelliprompt --fix

  # During an incident: keep the verdict on screen as pods and Secrets change
  # (Ctrl-C stops, with the last verdict's exit code)
  kubectl secrets verify -n aura-production --watch

Statuses:
  missing   a referenced Secret or key does not exist (the pod fails with \\
      CreateContainerConfigError)
  stale     the container started before the Secret's data last changed: it \\
      runs with old values
  shadowed  the workload references a secret key, but an explicit env value \\
      or a later envFrom
            source overrides it (or the kubelet drops it), so the container never sees it
  ok        every reference resolves and every container started after the \\
      last change

Evidence for stale/ok: exact (revision annotations written by rotate), time (container start vs
the Secret's last data change), unknown. Volume mounts without subPath update in place and are
reported as auto-updating, never stale.

Exit codes: 0 nothing stale or missing, 1 something is, 2 and up errors (see kubectl secrets --help).";

const ROTATE_EXAMPLES: &str = "\
Examples:
  # Rotate the JWT secret (64 random base64 characters, like `openssl rand
  # -base64 48`), restart backend-deployment and rust-sfu-deployment, wait for
  # them, verify
  kubectl secrets rotate backend-secrets -n video-conferencing \\
      --key JWT_SECRET=base64:48

  # New Postgres password, set at the server first (ALTER ROLE, as the role
  # itself), also replaced inside backend-secrets' POSTGRES_DB_URI; the
  # postgres StatefulSet is not restarted
  kubectl secrets rotate postgres-secrets -n aura-production \\
      --key postgres-password --propagate \\
    --issuer postgres-password=postgresql:user=aura,server=statefulset/postgres

  # Renew a certificate cert-manager issues (as `cmctl renew`), restart only the
  # readers that do not reload it (subPath, env), verify
  kubectl secrets rotate platform-tls -n platform

  # Renew every certificate of the cluster that expires within 30 days, one plan
  kubectl secrets rotate --all-expiring --within 30d -A

  # The same with the issuer kept on the Secret, for every later rotation
  kubectl annotate secret postgres-secrets -n aura-production \\
      issuer.kubectl-secrets.io/postgres-password=postgresql:user=aura,server=statefulset/postgres

  # A new provider key from the provider's dashboard, read from stdin (never
  # argv)
  pbpaste | kubectl secrets rotate api-keys -n intelliprompt \\
      --from-stdin openai --yes

  # JWT keys in two phases. Add jwt-secret-v2 beside v1, point active-key at
  # it, restart:
  kubectl secrets rotate jwt-keys -n platform --phase add \\
      --key jwt-secret=base64:64
  # ... and once every token signed with v1 has expired (15 min TTL), remove
  # v1 and restart:
  kubectl secrets rotate jwt-keys -n platform --phase retire --after 15m

  # The new database user and its password in one change (create the user
  # first)
  kubectl secrets rotate postgresql-credentials -n platform --key password \\
      --set username=backend_v2

  # A Secret unsealed from a SealedSecret: re-seal into the GitOps file,
  # apply, wait, restart
  kubectl secrets rotate api-keys -n intelliprompt --from-stdin openai \\
      --sealed-file sealed/api-keys.yaml --apply

  # See the plan only
  kubectl secrets rotate chat-secrets -n chatbox --all-keys --dry-run

  # After an incident: every Secret labelled team=payments in one change, each
  # consumer restarted once, 5 at a time, 30s between batches (keys that held
  # the same value get the same new one)
  kubectl secrets rotate -l team=payments -n shop --all-keys \\
      --max-parallel 5 --batch-interval 30s

  # Two Secrets, one key each
  kubectl secrets rotate db-app db-reporting -n shop --key db-app/password \\
      --key db-reporting/password

Generators: base64:N and hex:N are N random bytes encoded like `openssl rand -base64 N` /
`-hex N`; alnum:N is N characters from [A-Za-z0-9]. Without one, the new value is shaped like
the old one (hex stays hex, base64 stays base64) with at least 32 bytes of entropy.

Database passwords (a key read by a postgres/mysql/mariadb/redis image, named like one, or a
connection URI with a password) change at their server first, in the same plan: the new password
is set there (PostgreSQL: a SCRAM verifier computed here; MySQL/MariaDB: the native hash, or dual
passwords on MySQL 8.0.14+; Redis: an ACL password hash beside the old one), then the Secret is
written, the consumers restarted and verified, and the old password retired after verify. Such a
key without an issuer is refused unless --no-issuer says the server was changed already.

Before any write the previous data is saved as a backup Secret (<name>.backup-r<revision>-<id>,
the last 5 kept). If a rollout fails (CrashLoopBackOff, CreateContainerConfigError,
ImagePullBackOff, ProgressDeadlineExceeded) or times out, the previous data is restored and the
workloads are restarted again (exit 8). An interrupted rotation is finished with --resume or
undone with --abort.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyPhase {
    /// Write the next version beside the current one and move the pointer key to it
    Add,
    /// Remove the versions older than the newest
    Retire,
}

#[derive(Debug, Clone, Args)]
pub struct RotateArgs {
    /// The Secret(s) to rotate; several (or -l SELECTOR) make one change: one backup, write,
    /// restart of each consumer once, and verify. `vault:MOUNT/PATH` rotates fields of a Vault
    /// KV v2 path that pods read through Vault's Agent Injector
    #[arg(value_name = "SECRET")]
    pub secrets: Vec<String>,

    /// Key to rotate, optionally with a generator (KEY=base64:48, KEY=hex:32, KEY=alnum:40); with
    /// several Secrets SECRET/KEY names one Secret's key, KEY every Secret's that has it; repeatable
    #[arg(long = "key", value_name = "[SECRET/]KEY[=GENERATOR]")]
    pub keys: Vec<String>,

    /// Rotate every key with generated values, except credentials another party issues and
    /// identifiers (OPENAI_API_KEY, SMTP_USER, ...: the plan lists them)
    #[arg(long, conflicts_with = "keys")]
    pub all_keys: bool,

    /// Read the new value of KEY from standard input (exactly the bytes given)
    #[arg(long, value_name = "KEY")]
    pub from_stdin: Option<String>,

    /// Read the new value of KEY from a file (exactly its bytes); with several Secrets,
    /// SECRET/KEY=PATH; repeatable
    #[arg(long, value_name = "[SECRET/]KEY=PATH")]
    pub from_file: Vec<String>,

    /// Also keep each old value under KEY<suffix> (see --previous-suffix), for apps that accept two keys
    #[arg(long)]
    pub keep_previous: bool,

    /// Suffix of the key that --keep-previous writes
    #[arg(long, value_name = "SUFFIX", default_value = "_PREVIOUS")]
    pub previous_suffix: String,

    /// Replace the old value where other Secrets of the namespace embed it (URIs, DSNs, JSON)
    #[arg(long)]
    pub propagate: bool,

    /// Also set KEY to VALUE in the same change: a companion value that is not secret, such as
    /// the new user name of a new password (it ends up in your shell history); with several
    /// Secrets, SECRET/KEY=VALUE; repeatable
    #[arg(long = "set", value_name = "[SECRET/]KEY=VALUE")]
    pub set: Vec<String>,

    /// Two-phase rotation of versioned keys (jwt-secret-v1): `add` writes the next version beside
    /// the old one and moves the key that names the active one; `retire` removes the old versions
    #[arg(long, value_enum, value_name = "PHASE", conflicts_with_all = ["all_keys", "keep_previous", "propagate"])]
    pub phase: Option<KeyPhase>,

    /// With --phase retire: how long the new version must have been in place (the lifetime of
    /// what the old one signed, e.g. 15m); counted from when --phase add wrote it
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub after: Option<Duration>,

    /// For a Secret unsealed from a SealedSecret: seal the new values into this file (its
    /// SealedSecret, same scope) instead of writing the Secret
    #[arg(long, value_name = "FILE", conflicts_with = "propagate")]
    pub sealed_file: Option<std::path::PathBuf>,

    /// With --sealed-file: also apply the SealedSecret, wait for the controller to unseal it,
    /// then restart the consumers and verify (without it: commit the file; GitOps applies it)
    #[arg(long, requires = "sealed_file")]
    pub apply: bool,

    /// For a Secret an ExternalSecret syncs: the value was already changed at the provider
    /// (any provider); sync it now, wait for the Secret's new data, restart and verify
    #[arg(long, conflicts_with_all = ["keys", "all_keys", "from_stdin", "from_file", "set", "phase", "sealed_file", "propagate", "keep_previous", "resume", "abort"])]
    pub synced: bool,

    /// For a Secret synced from AWS Secrets Manager or Vault KV v2: once every consumer runs the
    /// new version, retire the version it replaced (AWS: the AWSPREVIOUS label removed; Vault:
    /// soft-deleted, `vault kv undelete` brings it back)
    #[arg(long, conflicts_with_all = ["synced", "resume", "abort"])]
    pub retire_previous: bool,

    /// Renew every cert-manager Certificate in scope (-n, or -A) whose certificate expires within
    /// --within: one plan, then each renewal, the restarts of what does not reload, verify
    #[arg(long, conflicts_with_all = ["secrets", "keys", "all_keys", "from_stdin", "from_file", "set", "phase",
        "keep_previous", "propagate", "sealed_file", "synced", "retire_previous", "resume", "abort"])]
    pub all_expiring: bool,

    /// With --all-expiring: the window (30d: what expires within 30 days)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "30d", requires = "all_expiring")]
    pub within: Duration,

    #[command(flatten)]
    pub issuer: IssuerArgs,

    #[command(flatten)]
    pub controller: ControllerArgs,

    #[command(flatten)]
    pub change: ChangeArgs,

    /// Finish an interrupted rotation of this Secret (restart and wait for the rest); a sealed
    /// rotation's file is brought in line only when named again with --sealed-file
    #[arg(long, conflicts_with_all = ["abort", "keys", "all_keys", "from_stdin", "from_file", "set", "phase"])]
    pub resume: bool,

    /// Undo an interrupted rotation of this Secret: restore the previous data and restart (a
    /// sealed rotation's file: named with --sealed-file, the same one)
    #[arg(long, conflicts_with_all = ["keys", "all_keys", "from_stdin", "from_file", "set", "phase"])]
    pub abort: bool,

    /// With --resume/--abort: act even though the run that started the change may still be
    /// running (its heartbeat is recent); use only when you know it is gone
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub fleet: FleetArgs,

    /// With --contexts: a wave of clusters rotated and verified before the next (NAME=CONTEXT[,CONTEXT]),
    /// in the order given; the clusters no wave names go last; repeatable
    #[arg(long = "wave", value_name = "NAME=CONTEXTS")]
    pub named_waves: Vec<String>,

    /// With --contexts: split the clusters into N waves, smaller ones first (default: one cluster per wave)
    #[arg(long = "waves", value_name = "N", conflicts_with = "named_waves", value_parser = clap::value_parser!(u16).range(1..))]
    pub wave_count: Option<u16>,

    /// With --contexts: how long a verified wave must stay verified before the next one starts, e.g. 5m
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub bake: Option<Duration>,

    /// With --contexts: failed clusters (each rolled back by its own change) a wave may have
    /// and the rotation still go on
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub max_failures: u16,

    /// With --contexts: rotate up to N clusters of a wave at once, each by its own engine (their
    /// lines headed by the cluster's name); --max-failures stops new ones as results arrive
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel_clusters: u16,

    /// With --contexts: a new value for each cluster instead of the same one everywhere (for a
    /// credential that is not shared)
    #[arg(long)]
    pub per_cluster_values: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    parse_with_unit(text, "a duration such as 90s, 10m or 1h")
}

/// A rotation policy's age: days are what people mean (`90` alone is refused, not read as seconds).
fn parse_age(text: &str) -> Result<Duration, String> {
    parse_with_unit(text, "an age such as 90d (days), 12h or 30m")
}

/// humantime's units; a bare number is refused with the forms that fit the flag (humantime's
/// own hint, "90sec or 90ms", is rarely what was meant).
fn parse_with_unit(text: &str, forms: &str) -> Result<Duration, String> {
    let text = text.trim();
    // Zero is zero in any unit (`--min-restart-interval 0`, as kubectl takes `--timeout 0`).
    if text.parse::<f64>() == Ok(0.0) {
        return Ok(Duration::ZERO);
    }
    if text.parse::<f64>().is_ok() {
        return Err(format!("{text} has no unit: give {forms}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("{e}: give {forms}"))
}

/// Several clusters at once (verify, list, audit, diff, history).
#[derive(Debug, Clone, Args)]
pub struct FleetArgs {
    /// Ask every kubeconfig context matching PATTERN (a glob such as prod-*, or /regex/), each with
    /// its own credentials; one combined answer with a CONTEXT column; repeatable
    #[arg(long = "contexts", value_name = "PATTERN")]
    pub contexts: Vec<String>,

    /// Ask every context of the kubeconfig
    #[arg(long, conflicts_with = "contexts")]
    pub all_contexts: bool,

    /// With --contexts: ask at most N clusters at once
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_clusters: u16,

    /// With --contexts: give up on a cluster that has not answered after this long (its row says so)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub cluster_timeout: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Only report the consumers of this Secret
    #[arg(value_name = "SECRET")]
    pub secret: Option<String>,

    /// Restart the workloads that run with stale values (plan, confirm, wait, verify again)
    #[arg(long, conflicts_with = "watch")]
    pub fix: bool,

    /// Keep watching: show the verdict again whenever it changes (watches, no polling; on a
    /// terminal the table is redrawn in place). Ctrl-C stops with the last verdict's exit code
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// With --fix: restart at most this many workloads at once (default: all)
    #[arg(long, value_name = "N", requires = "fix", value_parser = clap::value_parser!(u16).range(1..))]
    pub max_parallel: Option<u16>,

    /// With --fix: how long to wait for the rollouts, e.g. 10m
    #[arg(long, value_name = "DURATION", requires = "fix", default_value = "10m", value_parser = parse_duration)]
    pub timeout: Duration,

    /// With --fix: leave StatefulSets with updateStrategy OnDelete as they are (reported)
    /// instead of deleting their pods one at a time
    #[arg(long, requires = "fix")]
    pub leave_on_delete: bool,

    /// With --fix: continue Argo Rollouts that pause for a person, as `kubectl argo rollouts
    /// promote` does (else they are reported where they wait)
    #[arg(long, requires = "fix")]
    pub promote: bool,

    #[command(flatten)]
    pub fleet: FleetArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn request_timeout_reads_like_kubectl() {
        assert_eq!(parse_request_timeout("0"), Ok(RequestTimeout(None)));
        assert_eq!(
            parse_request_timeout("30"),
            Ok(RequestTimeout(Some(Duration::from_secs(30))))
        );
        assert_eq!(
            parse_request_timeout("2m"),
            Ok(RequestTimeout(Some(Duration::from_secs(120))))
        );
        assert!(parse_request_timeout("soon").is_err());
    }

    #[test]
    fn global_flags_work_after_the_subcommand() {
        let cli = Cli::try_parse_from(["kubectl-secrets", "verify", "app", "-n", "aura", "-o", "json"]).unwrap();
        assert_eq!(cli.global.namespace.as_deref(), Some("aura"));
        assert_eq!(cli.global.output.format, OutputFormat::Json);
    }

    #[test]
    fn namespace_and_all_namespaces_conflict() {
        assert!(Cli::try_parse_from(["kubectl-secrets", "verify", "-n", "a", "-A"]).is_err());
    }
}
