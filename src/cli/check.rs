//! `chat-harness check`: the conformance suite's flags, validated into a
//! [`CheckConfig`], and its run.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_origin};
use super::GlobalArgs;
use crate::check::{CheckConfig, EmbeddedOptions, Selection, Target};
use crate::error::UsageError;

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

impl CheckArgs {
    /// The validated configuration these flags describe.
    pub fn config(self, global: &GlobalArgs) -> anyhow::Result<CheckConfig> {
        let limits = match &self.limits {
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
        let known_failing = match &self.known_failing {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())))?;
                crate::check::parse_known_failing(&text, &path.display().to_string())
                    .map_err(UsageError)?
            }
            None => Default::default(),
        };
        let reset_form = self
            .reset_form
            .parse()
            .map_err(|e: String| UsageError(format!("--reset-form {e}")))?;
        let mut defects = Vec::new();
        for d in &self.defects {
            defects.push(
                d.parse::<crate::reference::Defect>()
                    .map_err(|e| UsageError(format!("--defect: {e}")))?,
            );
        }
        let (target, accounts) = match super::target::Target::of(global)?.into_parts() {
            (Some(url), accounts) => {
                if !defects.is_empty() || self.reset_form != "delta" {
                    return Err(UsageError(
                        "--defect and --reset-form apply to the embedded server only (no --target)"
                            .into(),
                    )
                    .into());
                }
                url::Url::parse(&url).map_err(|e| UsageError(format!("--target {url:?}: {e}")))?;
                (Target::Url(url), accounts)
            }
            (None, accounts) => (
                Target::Embedded(EmbeddedOptions {
                    reset_form,
                    defects,
                }),
                accounts,
            ),
        };
        let embedded = matches!(target, Target::Embedded(_));
        let window_seconds = match self.window_seconds {
            Some(0) => return Err(UsageError("--window-seconds must be at least 1".into()).into()),
            Some(w) => w,
            // The embedded server's window is ours to pick: a short one keeps
            // the slow checks quick.
            None if embedded => crate::check::runner::EMBEDDED_WINDOW,
            None => limits.window_seconds,
        };
        Ok(CheckConfig {
            target,
            accounts,
            signup: !self.no_signup,
            limits,
            window_seconds,
            timeout: global.timeout,
            deadline: self.deadline,
            strict: self.strict,
            known_failing,
            selection: Selection {
                only: self.only,
                skip: self.skip,
                tags: self.tag,
            },
            list: self.list,
            report_dir: self.report_dir,
            show_secrets: self.show_secrets,
            production_origin: self.production_origin,
            verbose: global.verbose > 0,
            quiet: global.quiet,
            color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
            handle_interrupt: true,
        })
    }
}

pub(super) async fn run(global: &GlobalArgs, args: CheckArgs) -> anyhow::Result<u8> {
    let config = args.config(global)?;
    crate::check::run(config, &mut std::io::stdout()).await
}
