//! chat-harness: a conformance suite, load generator and reference server for
//! the `frappe_chat` HTTP API. `main.rs` only builds the runtime and calls
//! [`run`], so tests drive the whole program in-process.

pub mod accounts;
pub mod capacity;
pub mod check;
pub mod cli;
pub mod client;
pub mod contract;
pub mod error;
pub mod input;
pub mod limits;
pub mod load;
pub mod reference;
pub mod report;
pub mod shutdown;
pub mod token_cache;

/// Runs one command line and returns the process exit code.
pub async fn run(cli: cli::Cli) -> u8 {
    cli::run(cli).await
}
