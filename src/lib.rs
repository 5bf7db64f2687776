//! chat-harness: a conformance suite, load generator and reference server for
//! the `frappe_chat` HTTP API. `main.rs` only builds the runtime and calls
//! [`run`], so tests drive the whole program in-process.

pub mod accounts;
pub mod call;
pub mod check;
pub mod cli;
pub mod client;
pub mod contract;
pub mod exit_code;
pub mod reference;
pub mod report;
pub mod serve;

use cli::{Cli, Command};

/// A problem with what the user asked for: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The target could not be reached or set up: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// Runs one command line and returns the process exit code.
pub async fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Call(args) => call::run(&cli.global, args).await,
        Command::Serve(args) => serve::run(&cli.global, args).await,
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

/// Maps an error to its exit code by what caused it.
pub fn exit_code_for(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.is::<UsageError>()
            || cause.is::<contract::limits::LimitsError>()
            || cause.is::<accounts::AccountsError>()
        {
            return exit_code::USAGE;
        }
    }
    exit_code::UNREACHABLE
}
