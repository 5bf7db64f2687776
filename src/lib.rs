//! chat-harness: a conformance suite, load generator and reference server for
//! the `frappe_chat` HTTP API. `main.rs` only builds the runtime and calls
//! [`run`], so tests drive the whole program in-process.

pub mod accounts;
pub mod call;
pub mod capacity;
pub mod check;
pub mod cli;
pub mod client;
pub mod contract;
pub mod dist;
pub mod error;
pub mod input;
pub mod limits;
pub mod load;
pub mod load_cmd;
pub mod reference;
pub mod report;
pub mod serve;
pub mod shutdown;
pub mod token_cache;

use cli::{Cli, Command};
use error::{exit_code, SetupError, UsageError};

/// Runs one command line and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    // Every flag is checked before anything starts: no server, no request.
    if let Err(e) = cli.validate() {
        eprintln!("error: {e}");
        return exit_code::USAGE;
    }
    // These stop cleanly on a signal and write what they measured; any other
    // command (call, merge, provision) simply ends on the first one.
    if matches!(
        cli.command,
        Command::Check(_)
            | Command::Load(_)
            | Command::Limits(_)
            | Command::Capacity(_)
            | Command::Serve(_)
    ) {
        shutdown::graceful();
    }
    if matches!(cli.command, Command::Load(_) | Command::Capacity(_)) {
        load::stdout::divert_goose(cli.global.quiet);
    }
    let result = match cli.command {
        Command::Call(args) => call::run(&cli.global, args).await,
        Command::Limits(args) => limits_command(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
        Command::Load(args) => load_cmd::load(&cli.global, args).await,
        Command::Merge(args) => load_cmd::merge(args),
        Command::Provision(args) => load_cmd::provision(&cli.global, args).await,
        Command::Capacity(args) => match args.config(&cli.global) {
            Ok(cfg) => capacity::run(cfg).await,
            Err(e) => Err(e),
        },
        Command::Check(args) => match check::CheckConfig::try_from((&cli.global, args)) {
            Ok(config) => check::run(config, &mut std::io::stdout()).await,
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit_code_for(&e)
        }
    }
}

/// Maps an error to its exit code: the code of the first cause that names
/// one, else "could not reach or set up the target".
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        let code = if let Some(e) = cause.downcast_ref::<UsageError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<SetupError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<input::InputError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<accounts::AccountsError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<dist::MergeError>() {
            e.exit_code()
        } else {
            continue;
        };
        return code;
    }
    exit_code::UNREACHABLE
}

async fn limits_command(global: &cli::GlobalArgs, args: cli::LimitsArgs) -> anyhow::Result<u8> {
    let config = args.config(global)?;
    let accounts = accounts::from_args(&global.users, global.accounts.as_deref())?;
    limits::run(global.target.clone(), accounts, global.timeout, config).await
}
