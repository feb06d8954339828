//! kubectl-secrets as a library: parse arguments, run one command, map the result to an exit
//! code. `main.rs` only calls [`run`]; tests use the same exit codes and annotation names.

pub mod cli;
pub mod cluster;
mod commands;
mod context;
pub mod domain;
pub mod engine;
pub mod error;
mod failpoint;
mod files;
mod prompt;
mod render;

use clap::{CommandFactory, FromArgMatches as _};

use crate::cli::{Cli, Command};
pub use crate::commands::Outcome;
use crate::context::Context;
use crate::error::{exit, Error};

/// Run the command line of this process and return its exit code.
pub fn run() -> i32 {
    // kubectl's plugin completion protocol: `kubectl-secrets __complete WORD...` (hidden).
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("__complete") {
        let words = argv[2..].to_vec();
        let code = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map(|rt| rt.block_on(commands::completion::dynamic(words)))
            .unwrap_or(0);
        return code;
    }
    let cli = match cli::command()
        .try_get_matches()
        .and_then(|matches| Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::UnknownArgument => {
            // clap's tip for an unknown flag ("to pass '-x' as a value, use '-- -x'") would make
            // it a Secret's name; the flags the command has are what is meant.
            let text = e.render().to_string();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("tip: to pass"))
                .collect();
            render::write_stderr(&format!("{}\n", kept.join("\n").replace("\n\n\n", "\n\n").trim_end()));
            return exit::USAGE;
        }
        Err(e) => {
            // --help and --version are "errors" to clap that go to stdout and succeed.
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let Some(command) = cli.command else {
        // `kubectl secrets` alone: the overview, as a success.
        let _ = cli::Cli::command().print_help();
        return exit::OK;
    };
    render::init_terminal(&cli.global.output, cli.global.no_headers);
    crate::cluster::client::log_requests(cli.global.verbosity >= 6);
    if let Err(why) = cli::check_global_flags(&cli.global, &command) {
        render::error(&Error::Usage(why));
        return exit::USAGE;
    }
    // A panic's message could quote data: say where it happened, never what it says.
    std::panic::set_hook(Box::new(|info| {
        render::crash(info.location().map(|l| format!("{}:{}", l.file(), l.line())));
    }));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            render::error(&Error::Output(format!("cannot start the async runtime: {e}")));
            return exit::API;
        }
    };
    let code = runtime.block_on(async {
        tokio::select! {
            result = run_command(cli.global, command) => match result {
                Ok(outcome) => outcome.exit_code(),
                Err(error) => {
                    render::error(&error);
                    error.exit_code()
                }
            },
            _ = interrupted() => {
                // A change under way lets go of its journal, so the next run may resume or
                // abort it without --force.
                let _ = tokio::time::timeout(std::time::Duration::from_secs(3), engine::release_held()).await;
                render::error(&Error::Interrupted);
                exit::INTERRUPTED
            }
        }
    });
    code
}

/// Set by a command for which Ctrl-C is the way to end it (`verify --watch`): it then returns
/// its own answer instead of being interrupted.
pub(crate) static CTRL_C_ENDS_COMMAND: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ctrl-C, unless the running command takes it as its end.
async fn interrupted() {
    loop {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        if !CTRL_C_ENDS_COMMAND.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
    }
}

async fn run_command(mut global: cli::GlobalArgs, command: Command) -> Result<Outcome, Error> {
    commands::pick::context_and_namespace(&mut global).await?;
    let ctx = Context::new(global);
    match &command {
        Command::Verify(args) => commands::verify::run(&ctx, args).await,
        Command::Rotate(args) => commands::rotate::run(&ctx, args).await,
        Command::Diff(args) => commands::diff::run(&ctx, args).await,
        Command::Seal(args) => commands::seal::run(&ctx, args).await,
        Command::FetchCert(args) => commands::fetch_cert::run(&ctx, args).await,
        Command::Unseal(args) => commands::unseal::run(&ctx, args).await,
        Command::BackupKeys(args) => commands::backup_keys::run(&ctx, args).await,
        Command::Completion(args) => commands::completion::run(args, ctx.global.dry_run.any()),
        Command::List(args) => commands::list::run(&ctx, args).await,
        Command::Audit(args) => commands::audit::run(&ctx, args).await,
        Command::History(args) => commands::history::run(&ctx, args).await,
        Command::Rollback(args) => commands::rollback::run(&ctx, args).await,
        Command::Edit(args) => commands::edit::run(&ctx, args).await,
    }
}
