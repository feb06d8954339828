//! Shell completion: `completion bash|zsh|fish` scripts that ask the binary itself (Cobra's
//! `__complete` protocol, so names and keys come from the cluster), PowerShell's from
//! clap_complete (static: flags and subcommands), and the protocol kubectl uses for plugins: kubectl runs
//! `kubectl_complete-secrets WORD...` (the words after `kubectl secrets`, the last one being the
//! word to complete) and expects Cobra's format: one candidate per line, then `:<directive>`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Command, CommandFactory};

use super::Outcome;
use crate::cli::{Cli, CompletionArgs, GlobalArgs, OutputFormat, Shell};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::{cluster, render};

/// Cobra's directives: 4 = do not fall back to file names; 0 = default (files allowed).
const NO_FILE_COMPLETION: u8 = 4;
const FILE_COMPLETION: u8 = 0;
/// Dynamic candidates must come fast or not at all.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

pub fn run(args: &CompletionArgs, dry_run: bool) -> Result<Outcome> {
    let mut command = Cli::command();
    let script = match args.shell {
        Shell::Bash => BASH.to_string(),
        // zsh runs the same function through its bash emulation, as many CLIs' zsh scripts do.
        Shell::Zsh => format!("#compdef kubectl-secrets\nautoload -U +X bashcompinit && bashcompinit\n{BASH}"),
        Shell::Fish => FISH.to_string(),
        Shell::Powershell => generate(clap_complete::Shell::PowerShell, &mut command),
        Shell::KubectlPlugin => return write_kubectl_plugin(args.output_dir.clone(), dry_run),
    };
    render::write_stdout(&script)?;
    Ok(Outcome::Clean)
}

/// Completion for `kubectl-secrets` in bash through the same engine as kubectl's plugin
/// helper (`__complete`, Cobra's format): subcommands, flags, and the cluster's namespaces,
/// contexts, Secret names and keys.
const BASH: &str = r#"# kubectl-secrets completion for bash; made by `kubectl-secrets completion bash`.
_kubectl_secrets() {
    local cur="${COMP_WORDS[COMP_CWORD]}" out directive line
    local -a candidates=()
    out=$(kubectl-secrets __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
    directive=${out##*:}
    while IFS= read -r line; do
        [[ $line == :* || -z $line ]] && continue
        candidates+=("${line%%$'	'*}")
    done <<< "$out"
    local IFS=$'
'
    COMPREPLY=($(compgen -W "${candidates[*]}" -- "$cur"))
    if (( (directive & 4) == 0 && ${#COMPREPLY[@]} == 0 )); then
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    if (( directive & 2 )); then compopt -o nospace 2>/dev/null; fi
    return 0
}
complete -F _kubectl_secrets kubectl-secrets
"#;

/// The same engine for fish: `complete -C` and <TAB> call the function with the command line.
const FISH: &str = r#"# kubectl-secrets completion for fish; made by `kubectl-secrets completion fish`.
function __kubectl_secrets_complete
    # The words after the program up to the cursor, and the word being completed.
    set -l words (commandline -opc)[2..-1]
    set -l current (commandline -ct)
    set -l out (kubectl-secrets __complete $words $current 2>/dev/null)
    or return
    set -l directive (string replace ':' '' -- $out[-1])
    set -e out[-1]
    # Cobra's format, "candidate<TAB>description", is fish's own.
    printf '%s
' $out
    # Without directive bit 4, file names when nothing else matched.
    if test (count $out) -eq 0; and test (math "bitand($directive, 4)") -eq 0
        __fish_complete_path $current
    end
end
complete -c kubectl-secrets -f -a '(__kubectl_secrets_complete)'
"#;

fn generate(shell: clap_complete::Shell, command: &mut Command) -> String {
    let mut out = Vec::new();
    clap_complete::generate(shell, command, "kubectl-secrets", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// kubectl (1.26+) looks for `kubectl_complete-secrets` on PATH for `kubectl secrets <TAB>`.
fn write_kubectl_plugin(dir: Option<PathBuf>, dry_run: bool) -> Result<Outcome> {
    let dir = match dir {
        Some(dir) => dir,
        None => std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(PathBuf::from))
            .ok_or_else(|| Error::Usage("cannot tell where kubectl-secrets is: pass --output-dir DIR".into()))?,
    };
    let path = dir.join("kubectl_complete-secrets");
    let script = "#!/usr/bin/env sh\n# Completion for `kubectl secrets`, called by kubectl; made by `kubectl secrets completion kubectl-plugin`.\nexec kubectl-secrets __complete \"$@\"\n";
    crate::files::write_output(&path, script.as_bytes(), crate::files::Access::AsBefore, dry_run)?;
    if dry_run {
        return Ok(Outcome::Clean);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::Output(format!("cannot make {} executable: {e}", path.display())))?;
    }
    render::write_stdout(&format!("{}\n", path.display()))?;
    Ok(Outcome::Clean)
}

/// What the word being completed should be.
#[derive(Debug, PartialEq, Eq)]
pub enum Want {
    Subcommands,
    Flags(Vec<String>),
    Fixed(Vec<String>),
    Namespaces,
    Contexts,
    Secrets,
    Keys { secret: String },
    Files,
    Nothing,
}

/// Decide from the words alone (no I/O).
pub fn want(command: &Command, words: &[String]) -> Want {
    let (partial, done) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let sub = subcommand(command, done);
    let scope = sub.and_then(|name| command.find_subcommand(name)).unwrap_or(command);
    if let Some(previous) = done.last() {
        if let Some(arg) = find_arg(scope, previous).or_else(|| find_arg(command, previous)) {
            if arg.get_action().takes_values() {
                return match arg.get_id().as_str() {
                    "namespace" | "to_namespace" => Want::Namespaces,
                    "context" | "to_context" => Want::Contexts,
                    "keys" => positional(done, scope, command)
                        .map(|secret| Want::Keys { secret })
                        .unwrap_or(Want::Nothing),
                    _ => {
                        let values: Vec<String> = arg
                            .get_possible_values()
                            .iter()
                            .map(|v| v.get_name().to_string())
                            .collect();
                        if values.is_empty() {
                            Want::Files
                        } else {
                            Want::Fixed(values)
                        }
                    }
                };
            }
        }
    }
    if partial.starts_with('-') {
        let flags = scope
            .get_arguments()
            .chain(command.get_arguments().filter(|a| a.is_global_set()))
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(|l| format!("--{l}")))
            .collect();
        return Want::Flags(flags);
    }
    match sub {
        None => Want::Subcommands,
        Some(name)
            if ["verify", "rotate", "diff", "history", "rollback", "edit"].contains(&name)
                && positional(done, scope, command).is_none() =>
        {
            Want::Secrets
        }
        Some(_) => Want::Nothing,
    }
}

fn find_arg<'a>(command: &'a Command, word: &str) -> Option<&'a clap::Arg> {
    command.get_arguments().find(|a| {
        word.strip_prefix("--").is_some_and(|l| a.get_long() == Some(l))
            || word
                .strip_prefix('-')
                .and_then(|s| s.chars().next())
                .is_some_and(|c| word.len() == 2 && a.get_short() == Some(c))
    })
}

/// Words that are neither flags nor flag values.
fn bare_words<'a>(words: &'a [String], scope: &Command, root: &Command) -> Vec<&'a str> {
    let mut bare = Vec::new();
    let mut skip_next = false;
    for word in words {
        if skip_next {
            skip_next = false;
            continue;
        }
        if word.starts_with('-') {
            skip_next = !word.contains('=')
                && find_arg(scope, word)
                    .or_else(|| find_arg(root, word))
                    .is_some_and(|a| a.get_action().takes_values());
            continue;
        }
        bare.push(word.as_str());
    }
    bare
}

fn subcommand<'a>(command: &Command, words: &'a [String]) -> Option<&'a str> {
    bare_words(words, command, command)
        .into_iter()
        .next()
        .filter(|w| command.find_subcommand(w).is_some())
}

/// The first positional argument after the subcommand (the Secret's name).
fn positional(words: &[String], scope: &Command, root: &Command) -> Option<String> {
    bare_words(words, scope, root).get(1).map(|s| s.to_string())
}

/// The value of a global flag among the words (e.g. -n NS).
fn flag_value(words: &[String], names: &[&str]) -> Option<String> {
    words
        .windows(2)
        .find(|w| names.contains(&w[0].as_str()))
        .map(|w| w[1].clone())
        .or_else(|| {
            words.iter().find_map(|w| {
                names
                    .iter()
                    .find_map(|n| w.strip_prefix(&format!("{n}=")).map(str::to_string))
            })
        })
}

/// `__complete WORD...`: print candidates in Cobra's format. Never fails loudly.
pub async fn dynamic(words: Vec<String>) -> i32 {
    let command = Cli::command();
    let partial = words.last().cloned().unwrap_or_default();
    let done = &words[..words.len().saturating_sub(1)];
    let global = GlobalArgs {
        kubeconfig: flag_value(done, &["--kubeconfig"]).map(PathBuf::from),
        context: flag_value(done, &["--context"]),
        namespace: flag_value(done, &["-n", "--namespace"]),
        all_namespaces: false,
        selector: None,
        output: crate::cli::Output {
            format: OutputFormat::Table,
            jsonpath: None,
            columns: None,
        },
        no_headers: false,
        verbosity: 0,
        request_timeout: Some(crate::cli::RequestTimeout(Some(LOOKUP_TIMEOUT))),
        as_user: flag_value(done, &["--as"]),
        as_groups: flag_value(done, &["--as-group"]).into_iter().collect(),
        token: flag_value(done, &["--token"]),
        yes: false,
        dry_run: crate::cli::DryRun::None,
    };
    let ctx = Context::new(global);
    let (candidates, directive) = match want(&command, &words) {
        Want::Subcommands => (
            command
                .get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(|s| s.get_name().to_string())
                .collect(),
            NO_FILE_COMPLETION,
        ),
        Want::Flags(flags) | Want::Fixed(flags) => (flags, NO_FILE_COMPLETION),
        Want::Files => (Vec::new(), FILE_COMPLETION),
        Want::Nothing => (Vec::new(), NO_FILE_COMPLETION),
        Want::Contexts => (
            cluster::client::context_names(ctx.global.kubeconfig.as_deref()),
            NO_FILE_COMPLETION,
        ),
        Want::Namespaces => (lookup(&ctx, Lookup::Namespaces).await, NO_FILE_COMPLETION),
        Want::Secrets => (lookup(&ctx, Lookup::Secrets).await, NO_FILE_COMPLETION),
        Want::Keys { secret } => (lookup(&ctx, Lookup::Keys(secret)).await, NO_FILE_COMPLETION),
    };
    let mut out: String = candidates
        .into_iter()
        .filter(|c| c.starts_with(&partial))
        .map(|c| format!("{c}\n"))
        .collect();
    out.push_str(&format!(":{directive}\n"));
    let _ = render::write_stdout(&out);
    0
}

enum Lookup {
    Namespaces,
    Secrets,
    Keys(String),
}

async fn lookup(ctx: &Context, what: Lookup) -> Vec<String> {
    let work = async {
        let conn = ctx.connect().await.ok()?;
        let namespace = ctx.namespace(&conn);
        match what {
            Lookup::Namespaces => cluster::names::namespaces(&conn).await.ok(),
            Lookup::Secrets => cluster::names::secrets(&conn, &namespace).await.ok(),
            Lookup::Keys(secret) => cluster::secrets::get(&conn, &namespace, &secret)
                .await
                .ok()
                .map(|s| s.data.keys().cloned().collect()),
        }
    };
    tokio::time::timeout(LOOKUP_TIMEOUT, work)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        let mut w: Vec<String> = text.split(' ').map(str::to_string).collect();
        if text.is_empty() {
            w = vec![String::new()];
        }
        w
    }

    #[test]
    fn completes_like_kubectl_users_expect() {
        let cli = Cli::command();
        assert_eq!(want(&cli, &words("")), Want::Subcommands);
        assert_eq!(want(&cli, &words("ve")), Want::Subcommands);
        assert_eq!(want(&cli, &words("verify ")), Want::Secrets);
        assert_eq!(want(&cli, &words("-n aura verify ")), Want::Secrets);
        assert_eq!(want(&cli, &words("rotate app ")), Want::Nothing);
        assert_eq!(
            want(&cli, &words("rotate app --key ")),
            Want::Keys { secret: "app".into() }
        );
        assert_eq!(want(&cli, &words("verify -n ")), Want::Namespaces);
        assert_eq!(want(&cli, &words("diff app --to-context ")), Want::Contexts);
        assert_eq!(
            want(&cli, &words("verify -o ")),
            Want::Fixed(vec![
                "table".into(),
                "wide".into(),
                "json".into(),
                "yaml".into(),
                "prometheus".into(),
                "name".into(),
                "jsonpath=".into(),
                "custom-columns=".into()
            ])
        );
        assert_eq!(want(&cli, &words("seal app --cert ")), Want::Files);
        let Want::Flags(flags) = want(&cli, &words("rotate app --ke")) else {
            panic!("flags expected")
        };
        assert!(flags.contains(&"--keep-previous".to_string()) && flags.contains(&"--namespace".to_string()));
    }
}
