//! The command line, and only the command line: clap appears nowhere else.
//! One file per subcommand holds its arguments, the `config()` that
//! validates them into the plain configuration its module takes, and its
//! `run`; this file holds the global arguments, the checks across flags and
//! the dispatch, and maps the error a command ends on to its exit code.

mod call;
mod capacity;
mod check;
mod limits;
mod load;
mod merge;
mod parse;
mod provision;
mod serve;
mod target;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::error::{exit_code, SetupError, UsageError};
pub use call::CallArgs;
pub use capacity::CapacityArgs;
pub use check::CheckArgs;
pub use limits::LimitsArgs;
pub use load::LoadArgs;
pub use merge::MergeArgs;
pub use parse::{parse_duration, parse_origin, parse_target, parse_time};
pub use provision::ProvisionArgs;
pub use serve::ServeArgs;

/// The command line of this process; clap exits with its usage message on
/// a flag it cannot parse.
pub fn parse() -> Cli {
    Cli::parse()
}

/// Conformance checks, load tests and a reference server for the frappe_chat HTTP API.
#[derive(Debug, Parser)]
#[command(name = "chat-harness", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Base URL of the server under test, e.g. http://127.0.0.1:8000. Without
    /// it, commands that can run against the embedded reference server do.
    #[arg(long, global = true, value_name = "URL", value_parser = parse_target)]
    pub target: Option<String>,
    /// A user to act as, EMAIL:PASSWORD (repeatable; needs --target, except
    /// for `serve`, which seeds it).
    #[arg(long = "user", global = true, value_name = "EMAIL:PASSWORD")]
    pub users: Vec<String>,
    /// A TOML file of accounts (see fixtures/accounts.example.toml; needs
    /// --target, except for `serve`, which seeds them).
    #[arg(long, global = true, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Per-request timeout (e.g. 10s, 500ms).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// More output (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only the verdict: no progress, no waiting notes (check, limits, load,
    /// capacity, provision).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

impl Cli {
    /// The checks across flags that clap cannot express: flags a command
    /// would otherwise ignore silently. Runs before anything else.
    pub fn validate(&self) -> Result<(), UsageError> {
        let g = &self.global;
        let name = self.command.name();
        let err = |m: String| Err(UsageError(m));
        if g.timeout.is_zero() {
            return err("--timeout 0s would fail every request: give a positive duration, e.g. --timeout 10s".into());
        }
        let given = match (g.users.is_empty(), &g.accounts) {
            (_, Some(f)) => Some(format!("--accounts {}", f.display())),
            (false, None) => Some("--user".to_owned()),
            (true, None) => None,
        };
        match &self.command {
            Command::Serve(_) => {
                if let Some(t) = &g.target {
                    return err(format!(
                        "--target {t}: serve runs the reference server itself and takes no --target"
                    ));
                }
            }
            Command::Merge(_) => {
                if g.target.is_some() || given.is_some() {
                    return err(
                        "merge reads result folders only: it takes no --target, --user or --accounts"
                            .into(),
                    );
                }
            }
            Command::Provision(_) => {
                if let Some(given) = given {
                    return err(format!(
                        "{given}: provision makes its own accounts (PREFIX<n>@DOMAIN, written to --out FILE) and takes no --user or --accounts"
                    ));
                }
            }
            Command::Call(args) => {
                if let (Some(_), Some(given)) = (&args.token, &given) {
                    return err(format!(
                        "--token and {given} both say whom to act as: give one"
                    ));
                }
                if args.no_cache && args.token.is_some() {
                    return err(
                        "--no-cache applies to logins with --user or --accounts, not to --token"
                            .into(),
                    );
                }
                if g.target.is_none() {
                    return err(
                        "call needs --target URL (e.g. --target http://localhost:8000)".into(),
                    );
                }
            }
            Command::Check(_) | Command::Load(_) | Command::Capacity(_) | Command::Limits(_) => {
                if let (None, Some(given)) = (&g.target, given) {
                    return err(format!(
                        "{given} applies to a server given with --target URL; without --target, {name} runs against the embedded reference server, which seeds its own users (nothing of {given} would be used): add --target URL (e.g. --target http://localhost:8000) or drop {given}"
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Command {
    /// The subcommand's name on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Call(_) => "call",
            Command::Limits(_) => "limits",
            Command::Serve(_) => "serve",
            Command::Load(_) => "load",
            Command::Merge(_) => "merge",
            Command::Provision(_) => "provision",
            Command::Capacity(_) => "capacity",
            Command::Check(_) => "check",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call one endpoint and show status, rate-limit headers and the decoded result.
    Call(CallArgs),
    /// Verify a rate-limit configuration: enforced limits, headers, refusals,
    /// window kind, isolation and atomicity, endpoint by endpoint.
    Limits(LimitsArgs),
    /// Run the reference server (the contract implemented faithfully, with
    /// optional deliberate defects) until Ctrl-C. Seed users with the global
    /// --user EMAIL:PASSWORD[:FULL NAME] (default: alice, bob and carol
    /// @example.com, password Passw0rd!).
    Serve(ServeArgs),
    /// Simulate many polling users with goose and measure message delivery.
    /// Without --target, runs against the embedded reference server.
    Load(LoadArgs),
    /// Merge the result folders of `load --shard I/N` runs into one report
    /// (histograms added exactly, counts summed, per-shard breakdown kept).
    Merge(MergeArgs),
    /// Sign up many users at the pace the server allows and save their
    /// tokens (mode 0600) for `load --accounts`; resumes where it stopped.
    Provision(ProvisionArgs),
    /// Find how many users a scenario's mix can reach within SLOs: rising
    /// steps of load runs, the knee, and the polling arithmetic beside them.
    Capacity(CapacityArgs),
    /// Run the conformance suite against --target (or, without it, the
    /// embedded reference server) and give a verdict a CI job can gate on.
    Check(CheckArgs),
}

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
        crate::shutdown::graceful();
    }
    if matches!(cli.command, Command::Load(_) | Command::Capacity(_)) {
        crate::load::stdout::divert_goose(cli.global.quiet);
    }
    let global = &cli.global;
    let result = match cli.command {
        Command::Call(args) => call::run(global, args).await,
        Command::Limits(args) => limits::run(global, args).await,
        Command::Serve(args) => serve::run(global, args).await,
        Command::Load(args) => load::run(global, args).await,
        Command::Merge(args) => merge::run(args),
        Command::Provision(args) => provision::run(global, args).await,
        Command::Capacity(args) => capacity::run(global, args).await,
        Command::Check(args) => check::run(global, args).await,
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
        } else if let Some(e) = cause.downcast_ref::<crate::input::InputError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<crate::accounts::AccountsError>() {
            e.exit_code()
        } else if let Some(e) = cause.downcast_ref::<crate::load::dist::read::MergeError>() {
            e.exit_code()
        } else {
            continue;
        };
        return code;
    }
    exit_code::UNREACHABLE
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }
}
