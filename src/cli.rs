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

/// Validates `--target`: an http or https URL with a host. A missing scheme
/// gets the URL that was probably meant.
pub fn parse_target(s: &str) -> Result<String, String> {
    let s = s.trim();
    let missing = || {
        format!(
            "{s:?} has no scheme: did you mean http://{}?",
            s.trim_start_matches(':').trim_start_matches('/')
        )
    };
    let Some((scheme, rest)) = s.split_once("://") else {
        return Err(missing());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        let guess = crate::input::closest(&scheme.to_ascii_lowercase(), ["http", "https"]);
        return Err(format!(
            "{s:?}: unknown scheme {scheme:?}: use http:// or https://{}",
            guess.map_or_else(String::new, |g| format!(" (did you mean {g}://{rest}?)"))
        ));
    }
    let url = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{s:?} names no host; e.g. http://localhost:8000"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "{s:?}: a base URL takes no ?query or #fragment; e.g. http://localhost:8000"
        ));
    }
    Ok(s.to_owned())
}

/// Validates an origin (`--production-origin`): scheme, host and port only.
pub fn parse_origin(s: &str) -> Result<String, String> {
    let s = parse_target(s)?;
    let url = url::Url::parse(&s).map_err(|e| e.to_string())?;
    if url.path() != "/" {
        return Err(format!(
            "{s:?} has a path; an origin is scheme://host[:port], e.g. {}",
            url.origin().ascii_serialization()
        ));
    }
    Ok(s.trim_end_matches('/').to_owned())
}

impl Cli {
    /// The checks across flags that clap cannot express: flags a command
    /// would otherwise ignore silently. Runs before anything else.
    pub fn validate(&self) -> Result<(), crate::error::UsageError> {
        let g = &self.global;
        let name = self.command.name();
        let err = |m: String| Err(crate::error::UsageError(m));
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

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The scenario file (see scenarios/).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Objective, e.g. "delivery.p99<1s", "lost=0", "errors<1%" (repeatable);
    /// exit 1 when one is violated.
    #[arg(long = "slo", value_name = "OBJECTIVE")]
    pub slos: Vec<String>,
    /// Replace the scenario's duration (time at full load; with
    /// `iterations`, the upper bound of that time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Replace the scenario's number of users (rate ramps only).
    #[arg(long = "users", value_name = "N")]
    pub user_count: Option<u32>,
    /// The report folder [default: reports/<time>-<scenario>].
    #[arg(long = "report", alias = "report-dir", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Old: the folder in which <time>-<scenario>/ is made (use --report).
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "report_dir")]
    pub reports: Option<PathBuf>,
    /// Embedded server only: switch on a reference-server defect (repeatable).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Embedded server only: no rate limits (pure capacity).
    #[arg(long)]
    pub unlimited: bool,
    /// Run shard I of N (counted from 0): a disjoint share of whole cells of
    /// users, their chats and (with --accounts) their accounts. Merge the
    /// shards' folders with `chat-harness merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::dist::Shard>,
    /// With --shard: start the users at this time (RFC 3339, e.g.
    /// 2026-05-01T12:00:00Z) after set-up, so every shard ramps together.
    #[arg(long, value_name = "TIME", requires = "shard", value_parser = parse_time)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' result folders (each with its summary.json).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long = "report", alias = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Objective judged on the merged run (repeatable); exit 1 when violated.
    #[arg(long = "slo", value_name = "OBJECTIVE")]
    pub slos: Vec<String>,
}

impl MergeArgs {
    /// The validated configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<crate::dist::MergeConfig> {
        let slos = self
            .slos
            .iter()
            .map(|s| {
                crate::load::slo::Slo::parse(s)
                    .map_err(|e| crate::error::UsageError(format!("--slo {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::dist::MergeConfig {
            inputs: self.dirs.clone(),
            out: self.out.clone(),
            slos,
        })
    }
}

/// Parses an RFC 3339 time.
pub fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{s:?} is not an RFC 3339 time ({e}); try 2026-05-01T12:00:00Z"))
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
pub struct LimitsArgs {
    /// The expected limits and window (TOML; default: fixtures/limits.toml,
    /// CONTRACT.md's table).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Measure only this endpoint (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub only: Vec<String>,
    /// The server's window in seconds, overriding the file's (for test servers
    /// configured with short windows).
    #[arg(long, value_name = "SECONDS")]
    pub window_seconds: Option<u64>,
    /// Write limits.json and limits.md into this folder.
    #[arg(long, alias = "report-dir", value_name = "DIR")]
    pub report: Option<PathBuf>,
}

impl LimitsArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<crate::limits::LimitsConfig> {
        use crate::contract::{Endpoint, LimitsTable};
        let mut table = match &self.expect {
            Some(path) => LimitsTable::load(path)?,
            None => LimitsTable::default(),
        };
        if let Some(w) = self.window_seconds {
            if !(1..=86_400).contains(&w) {
                return Err(crate::error::UsageError(format!(
                    "--window-seconds {w}: must be between 1 and 86400"
                ))
                .into());
            }
            table.window_seconds = w;
        }
        let only = self
            .only
            .iter()
            .map(|s| {
                s.parse::<Endpoint>()
                    .map_err(|e| crate::error::UsageError(format!("--only: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = crate::limits::LimitsConfig::new(table, &only)?;
        config.report_dir = self.report.clone();
        config.progress = !global.quiet;
        Ok(config)
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Print the catalogue (ID, clause, level, tags, statement) and exit.
    #[arg(long)]
    pub list: bool,
    /// Run only checks matching PATTERN: an ID (POLL-3.1), a clause (POLL-3),
    /// an area (POLL), or a glob (RL-*). Repeatable, or comma-separated.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Leave out checks matching PATTERN (as --only; a tag such as `slow`
    /// works too). Repeatable.
    #[arg(long, value_name = "PATTERN", value_delimiter = ',')]
    pub skip: Vec<String>,
    /// Run only checks with this tag (env, auth, authz, poll, read, chats, rl,
    /// cors, slow, concurrency, signup, login). Repeatable.
    #[arg(long, value_name = "TAG", value_delimiter = ',')]
    pub tag: Vec<String>,
    /// A broken SHOULD fails the run (otherwise it is reported as non-strict).
    #[arg(long)]
    pub strict: bool,
    /// File of check IDs (one per line, # comments) whose failures do not fail
    /// the run; a listed check that passes does (the list is stale).
    #[arg(long, value_name = "FILE")]
    pub known_failing: Option<PathBuf>,
    /// Expected limits [default: fixtures/limits.toml, else the contract's table].
    #[arg(long, value_name = "FILE")]
    pub limits: Option<PathBuf>,
    /// The server's rate-limit window in seconds [default: the limits file's
    /// (60); for the embedded server, 3, which it is started with].
    #[arg(long, value_name = "S")]
    pub window_seconds: Option<u64>,
    /// Write report.json, junit.xml and report.md into DIR (rewritten after
    /// every check, so an interrupted run leaves a partial report).
    #[arg(long = "report", alias = "report-dir", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Stop starting checks after this long (e.g. 10m); the rest are skipped.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub deadline: Option<Duration>,
    /// Show api_secret values, passwords and token secrets in reports.
    #[arg(long)]
    pub show_secrets: bool,
    /// Do not create users: the suite signs up fresh users where it needs
    /// them (the signup checks among them) unless told not to; with this,
    /// the signup checks are reported as not evaluated.
    #[arg(long)]
    pub no_signup: bool,
    /// Signup is on by default; kept so existing command lines still work.
    #[arg(long, hide = true, conflicts_with = "no_signup")]
    pub signup: bool,
    /// The deployment's production origin, checked by CORS-1/2 besides localhost.
    #[arg(long, value_name = "ORIGIN", value_parser = parse_origin)]
    pub production_origin: Option<String>,
    /// Embedded server only: X-RateLimit-Reset as delta seconds or an epoch.
    #[arg(long, value_name = "FORM", default_value = "delta")]
    pub reset_form: String,
    /// Embedded server only: switch on a deliberate defect (see
    /// `chat-harness serve --list-defects`), to see what a failure looks like.
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
}

impl TryFrom<(&GlobalArgs, CheckArgs)> for crate::check::CheckConfig {
    type Error = anyhow::Error;

    fn try_from((global, args): (&GlobalArgs, CheckArgs)) -> anyhow::Result<Self> {
        use crate::check::{CheckConfig, EmbeddedOptions, Selection, Target};
        use crate::error::UsageError;
        let limits = match &args.limits {
            Some(path) => crate::contract::LimitsTable::load(path)?,
            None => {
                let default = std::path::Path::new("fixtures/limits.toml");
                if default.exists() {
                    crate::contract::LimitsTable::load(default)?
                } else {
                    crate::contract::LimitsTable::default()
                }
            }
        };
        let known_failing = match &args.known_failing {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
                crate::check::parse_known_failing(&text, &path.display().to_string())
                    .map_err(UsageError)?
            }
            None => Default::default(),
        };
        let reset_form = args
            .reset_form
            .parse()
            .map_err(|e: String| UsageError(format!("--reset-form {e}")))?;
        let mut defects = Vec::new();
        for d in &args.defects {
            defects.push(
                d.parse::<crate::reference::Defect>()
                    .map_err(|e| UsageError(format!("--defect: {e}")))?,
            );
        }
        let target = match &global.target {
            Some(url) => {
                if !defects.is_empty() || args.reset_form != "delta" {
                    return Err(UsageError(
                        "--defect and --reset-form apply to the embedded server only (no --target)"
                            .into(),
                    )
                    .into());
                }
                url::Url::parse(url).map_err(|e| UsageError(format!("--target {url:?}: {e}")))?;
                Target::Url(url.clone())
            }
            None => Target::Embedded(EmbeddedOptions {
                reset_form,
                defects,
            }),
        };
        let embedded = matches!(target, Target::Embedded(_));
        let window_seconds = match args.window_seconds {
            Some(0) => return Err(UsageError("--window-seconds must be at least 1".into()).into()),
            Some(w) => w,
            // The embedded server's window is ours to pick: a short one keeps
            // the slow checks quick.
            None if embedded => crate::check::runner::EMBEDDED_WINDOW,
            None => limits.window_seconds,
        };
        let accounts = if embedded {
            Vec::new()
        } else {
            crate::accounts::from_args(&global.users, global.accounts.as_deref())?
        };
        use std::io::IsTerminal;
        Ok(CheckConfig {
            target,
            accounts,
            signup: !args.no_signup,
            limits,
            window_seconds,
            timeout: global.timeout,
            deadline: args.deadline,
            strict: args.strict,
            known_failing,
            selection: Selection {
                only: args.only,
                skip: args.skip,
                tags: args.tag,
            },
            list: args.list,
            report_dir: args.report_dir,
            show_secrets: args.show_secrets,
            production_origin: args.production_origin,
            verbose: global.verbose > 0,
            quiet: global.quiet,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            handle_interrupt: true,
        })
    }
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
    /// Switch on a conforming variant: behaviour that stays within the
    /// contract, e.g. refuse-417 or serial (repeatable; see --list-variants).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// List the conforming variants, and exit.
    #[arg(long)]
    pub list_variants: bool,
    /// Hold every request this long before handling it (the `latency`
    /// variant with this value), e.g. 300ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub latency: Option<Duration>,
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
    /// Log in afresh and keep no token: by default a user's token is kept
    /// (mode 0600) in $XDG_CACHE_HOME/chat-harness or ~/.cache/chat-harness,
    /// per target and user, and reused until the server refuses it.
    #[arg(long)]
    pub no_cache: bool,
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
    fn targets() {
        for ok in [
            "http://127.0.0.1:8000",
            "https://chat.example.com/",
            "http://[::1]:8000",
            "HTTP://localhost:8000",
            "https://example.com/base/path",
        ] {
            assert_eq!(parse_target(ok).as_deref(), Ok(ok), "{ok}");
        }
        let err = |s: &str| parse_target(s).unwrap_err();
        assert!(err("localhost:8000").contains("did you mean http://localhost:8000?"));
        assert!(err("127.0.0.1").contains("did you mean http://127.0.0.1?"));
        assert!(err("htps://x").contains("did you mean https://x?"));
        assert!(err("ftp://x").contains("unknown scheme \"ftp\""));
        assert!(err("http://").contains("empty host"));
        assert_eq!(
            parse_origin("https://chat.example.com/").as_deref(),
            Ok("https://chat.example.com")
        );
        assert!(parse_origin("https://chat.example.com/app").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("soon").is_err());
    }
}

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario whose mix is stepped (e.g. scenarios/capacity-ramp.toml).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// An objective every step must meet, e.g. "delivery.p99<1s" (repeatable; at least one).
    #[arg(long = "slo", value_name = "SLO")]
    pub slos: Vec<String>,
    /// User counts to step through, e.g. 500,1000,2000 [default: the
    /// scenario's ramp steps, or 1/4, 1/2, 1, 2 and 4 times its users].
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub steps: Vec<u32>,
    /// Linear steps instead: first count (with --step and --max).
    #[arg(long, value_name = "N", requires_all = ["step", "max"], conflicts_with = "steps")]
    pub start: Option<u32>,
    /// Increment between linear steps.
    #[arg(long, value_name = "N")]
    pub step: Option<u32>,
    /// Largest linear step.
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Time to start each step's users.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// Time each step holds at full load.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub hold: Duration,
    /// No step starts that could not end within this.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub budget: Duration,
    /// Folder for capacity.json, capacity.md, capacity.svg and each step's
    /// load report [default: reports/<time>-capacity-<scenario>].
    #[arg(long, alias = "report-dir", value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Embedded server only: no rate limits (measure the server, not its limiter).
    #[arg(long)]
    pub unlimited: bool,
}

impl CapacityArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<crate::capacity::CapacityConfig> {
        use crate::capacity::{check_steps, default_steps, CapacityConfig};
        use crate::error::UsageError;
        use crate::load::scenario::Scenario;
        use crate::load::slo::Slo;
        let scenario = Scenario::load(&self.scenario)?;
        let slos = self
            .slos
            .iter()
            .map(|s| Slo::parse(s).map_err(|e| UsageError(format!("--slo {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let steps = match (self.start, self.step, self.max) {
            (Some(start), Some(step), Some(max)) => {
                if step == 0 || start == 0 || max < start {
                    return Err(UsageError(format!("--start {start} --step {step} --max {max}: need start >= 1, step >= 1 and max >= start")).into());
                }
                (start..=max).step_by(step as usize).take(1000).collect()
            }
            _ if !self.steps.is_empty() => self.steps.clone(),
            _ => default_steps(&scenario),
        };
        check_steps(&steps)?;
        if global.target.is_some() && self.unlimited {
            return Err(UsageError(
                "--unlimited applies to the embedded server only (no --target)".into(),
            )
            .into());
        }
        let accounts = if global.target.is_some() {
            crate::accounts::from_args(&global.users, global.accounts.as_deref())?
        } else {
            Vec::new()
        };
        let largest = steps.iter().copied().max().unwrap_or(0);
        if let Some(url) = global
            .target
            .as_ref()
            .filter(|_| accounts.len() < largest as usize)
        {
            return Err(UsageError(format!(
                "the largest step has {largest} users but {} accounts were given; make them with `chat-harness --target {url} provision --count {largest} --out FILE` and pass --accounts FILE",
                accounts.len()
            ))
            .into());
        }
        let report_dir = self.report.clone().unwrap_or_else(|| {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            PathBuf::from("reports").join(format!("{stamp}-capacity-{}", scenario.name))
        });
        Ok(CapacityConfig {
            scenario,
            slos,
            steps,
            ramp: self.ramp,
            hold: self.hold,
            budget: self.budget,
            target: global.target.clone(),
            accounts,
            timeout: global.timeout,
            report_dir,
            progress: !global.quiet,
            unlimited: self.unlimited,
        })
    }
}
