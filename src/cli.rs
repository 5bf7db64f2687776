//! The command line, and only the command line: clap types here convert into
//! the validated configurations the rest of the crate takes.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

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
    #[arg(long, global = true, value_name = "URL")]
    pub target: Option<String>,
    /// A user to act as, EMAIL:PASSWORD (repeatable).
    #[arg(long = "user", global = true, value_name = "EMAIL:PASSWORD")]
    pub users: Vec<String>,
    /// A TOML file of accounts (see fixtures/accounts.example.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub accounts: Option<PathBuf>,
    /// Per-request timeout (e.g. 10s, 500ms).
    #[arg(long, global = true, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// More output (repeatable).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Call one endpoint and show status, rate-limit headers and the decoded result.
    Call(CallArgs),
    /// Run the reference server (the contract implemented faithfully, with
    /// optional deliberate defects) until Ctrl-C. Seed users with the global
    /// --user EMAIL:PASSWORD[:FULL NAME] (default: alice, bob and carol
    /// @example.com, password Passw0rd!).
    Serve(ServeArgs),
    /// Simulate many polling users with goose and measure message delivery.
    /// Without --target, runs against the embedded reference server.
    Load(LoadArgs),
    /// Sign up many users at the pace the server allows and save their
    /// tokens (mode 0600) for `load --accounts`; resumes where it stopped.
    Provision(ProvisionArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The scenario file (see scenarios/).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Objective, e.g. "delivery.p99<1s", "lost=0", "errors<1%" (repeatable);
    /// exit 1 when one is violated.
    #[arg(long = "slo", value_name = "OBJECTIVE")]
    pub slos: Vec<String>,
    /// Replace the scenario's duration (time at full load).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Replace the scenario's number of users (rate ramps only).
    #[arg(long = "users", value_name = "N")]
    pub user_count: Option<u32>,
    /// Where the run's folder <time>-<scenario>/ goes.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub reports: PathBuf,
    /// Write the reports into exactly this folder instead.
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Embedded server only: switch on a reference-server defect (repeatable).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Embedded server only: no rate limits (pure capacity).
    #[arg(long)]
    pub unlimited: bool,
    /// No live progress line.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// How many accounts the file should hold.
    #[arg(long, value_name = "N")]
    pub count: usize,
    /// The accounts file written (tokens included, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// E-mails are PREFIX<n>@DOMAIN.
    #[arg(long, default_value = "lh-user-")]
    pub prefix: String,
    #[arg(long, default_value = "example.com")]
    pub domain: String,
    /// Password of every user made.
    #[arg(
        long,
        env = "CHAT_HARNESS_PASSWORD",
        default_value = "Passw0rd!load",
        hide_env_values = true
    )]
    pub password: String,
    /// Longest single wait for signup quota before stopping (resume later).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub max_wait: Duration,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Write the port number to this file once listening.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Also seed N generated users load-00000@example.com... (password
    /// Passw0rd!) and write every account with its token to --accounts-out.
    #[arg(long = "users", value_name = "N")]
    pub generated_users: Option<usize>,
    /// Where the accounts file (tokens included, mode 0600) is written
    /// [default with --users: reports/serve-accounts.toml].
    #[arg(long, value_name = "FILE")]
    pub accounts_out: Option<PathBuf>,
    /// Enforce a limit per window, e.g. get_messages=1000 (repeatable);
    /// ENDPOINT=off removes one. Default: the contract's table.
    #[arg(long = "limit", value_name = "ENDPOINT=N")]
    pub limits: Vec<String>,
    /// Length of the sliding window in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub window_seconds: u64,
    /// How X-RateLimit-Reset is expressed: delta (seconds) or epoch (Unix time).
    #[arg(long, value_name = "FORM", default_value = "delta", value_parser = ["delta", "epoch"])]
    pub reset_form: String,
    /// An allowed CORS origin besides http://localhost:* and http://127.0.0.1:*.
    #[arg(long, value_name = "ORIGIN")]
    pub production_origin: Option<String>,
    /// Switch on a deliberate defect (repeatable; see --list-defects).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// List the defects with the clause each breaks, and exit.
    #[arg(long)]
    pub list_defects: bool,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The endpoint: login, signup, get_chats, create_chat, get_messages,
    /// send_message, mark_as_read, get_chat_participants, get_users.
    pub endpoint: String,
    /// Parameters as key=value (e.g. chat=CHAT-0001 limit=10).
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Use this token instead of logging in.
    #[arg(long, value_name = "KEY:SECRET")]
    pub token: Option<String>,
    /// Send POST parameters as a JSON body instead of a form.
    #[arg(long)]
    pub json: bool,
    /// Print a curl command that reproduces the call.
    #[arg(long)]
    pub curl: bool,
    /// Show api_secret values and the token's secret instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
}

/// Parses `10s`, `500ms`, `2m`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<f64>() {
        return if secs.is_finite() && secs >= 0.0 {
            Ok(Duration::from_secs_f64(secs))
        } else {
            Err(format!("{s:?} is not a duration"))
        };
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); try 10s or 500ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
