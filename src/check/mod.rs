//! `chat-harness check`: the conformance suite. The catalogue
//! ([`catalog`]) lists every check with its clause and level; one file per
//! area holds their code; [`runner`] plans the order, runs them against a
//! target (a URL, or the embedded reference server) and turns verdicts into
//! a [`crate::report::Report`]. Nothing here knows about clap: the command
//! line converts into a [`CheckConfig`].

// Checks end early with `Err(Verdict)`: a verdict is built once per check,
// on a cold path, so its size does not matter and boxing would only add noise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod authz;
pub mod budget;
pub mod catalog;
pub mod context;
pub mod cors;
pub mod envelope;
pub mod plan;
pub mod poll;
pub mod ratelimit;
pub mod runner;
pub mod verdict;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::Account;
use crate::contract::LimitsTable;
use crate::reference::{Defect, ResetForm};

pub use catalog::{CheckDef, Level, Selection};
pub use runner::run;

/// Where the suite runs.
#[derive(Debug, Clone)]
pub enum Target {
    /// A server at this base URL.
    Url(String),
    /// The reference server, started in-process on a free loopback port.
    Embedded(EmbeddedOptions),
}

/// How the embedded reference server is started.
#[derive(Debug, Clone, Default)]
pub struct EmbeddedOptions {
    pub reset_form: ResetForm,
    /// Defects to switch on (self-tests).
    pub defects: Vec<Defect>,
}

/// A validated `check` configuration.
#[derive(Debug, Clone)]
pub struct CheckConfig {
    pub target: Target,
    pub accounts: Vec<Account>,
    pub signup: bool,
    pub limits: LimitsTable,
    /// The server's window, from `--window-seconds` or the limits file.
    pub window_seconds: u64,
    pub timeout: Duration,
    pub deadline: Option<Duration>,
    pub strict: bool,
    pub known_failing: BTreeSet<String>,
    pub selection: Selection,
    pub list: bool,
    pub report_dir: Option<PathBuf>,
    pub show_secrets: bool,
    pub production_origin: Option<String>,
    pub verbose: bool,
    /// `-q`: no header, no area headings, no line of a passing, skipped or
    /// INFO check; the failures and the verdict only.
    pub quiet: bool,
    /// Colour on the console (only when it is a terminal).
    pub color: bool,
    /// Stop cleanly on Ctrl-C (the command line; tests leave it off).
    pub handle_interrupt: bool,
}

impl CheckConfig {
    /// A configuration for the embedded server with defaults, for tests.
    pub fn embedded() -> CheckConfig {
        CheckConfig {
            target: Target::Embedded(EmbeddedOptions::default()),
            accounts: Vec::new(),
            signup: true,
            limits: LimitsTable::default(),
            window_seconds: 60,
            timeout: Duration::from_secs(10),
            deadline: None,
            strict: false,
            known_failing: BTreeSet::new(),
            selection: Selection::default(),
            list: false,
            report_dir: None,
            show_secrets: false,
            production_origin: None,
            verbose: false,
            quiet: false,
            color: false,
            handle_interrupt: false,
        }
    }
}

/// Parses a `--known-failing` file: one check ID per line, `#` comments.
pub fn parse_known_failing(text: &str, file: &str) -> Result<BTreeSet<String>, String> {
    let ids: BTreeSet<&str> = catalog::all().iter().map(|c| c.id).collect();
    let mut out = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or_default().trim();
        if id.is_empty() {
            continue;
        }
        let Some(known) = ids.iter().find(|k| k.eq_ignore_ascii_case(id)) else {
            return Err(format!(
                "{file}:{}: {id:?} is not a check ID (see `chat-harness check --list`)",
                i + 1
            ));
        };
        out.insert((*known).to_owned());
    }
    Ok(out)
}
