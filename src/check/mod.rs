//! `chat-harness check`: the conformance suite. The catalogue ([`catalogue`],
//! here) lists every area's checks, each declared with its clause and level
//! (`definition`); one file (or folder) per area holds their code;
//! [`runner`] plans the order, runs them against a
//! target (a URL, or the embedded reference server) and turns verdicts into
//! a [`crate::report::Report`]. Nothing here knows about clap: the command
//! line converts into a [`CheckConfig`].

// Checks end early with `Err(Verdict)`: a verdict is built once per check,
// on a cold path, so its size does not matter and boxing would only add noise.
#![allow(clippy::result_large_err)]

pub(crate) mod auth;
pub(crate) mod authz;
pub(crate) mod budget;
pub(crate) mod chats;
pub(crate) mod context;
pub(crate) mod cors;
pub(crate) mod definition;
pub(crate) mod envelope;
pub(crate) mod poll;
pub(crate) mod ratelimit;
pub(crate) mod read;
pub(crate) mod results;
pub mod runner;
pub(crate) mod verdict;
pub mod wait_plan;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::Account;
use crate::contract::LimitsTable;
use crate::reference::{Defect, ResetStyle};

pub use definition::{CheckDef, Level};
pub use runner::run;

/// The whole catalogue, in presentation order (by area).
pub fn catalogue() -> Vec<CheckDef> {
    let mut out = Vec::new();
    out.extend(envelope::checks());
    out.extend(auth::checks());
    out.extend(authz::checks());
    out.extend(poll::checks());
    out.extend(read::checks());
    out.extend(chats::checks());
    out.extend(ratelimit::checks());
    out.extend(cors::checks());
    out
}

/// Which checks a run selects.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Keep only checks matching one of these (empty: all).
    pub only: Vec<String>,
    /// Drop checks matching one of these.
    pub skip: Vec<String>,
    /// Keep only checks carrying one of these tags (empty: all).
    pub tags: Vec<String>,
}

impl Selection {
    pub fn apply(&self, checks: Vec<CheckDef>) -> Vec<CheckDef> {
        checks
            .into_iter()
            .filter(|c| {
                self.only.is_empty() || self.only.iter().any(|p| c.matches(p) || c.has_tag(p))
            })
            .filter(|c| !self.skip.iter().any(|p| c.matches(p) || c.has_tag(p)))
            .filter(|c| self.tags.is_empty() || self.tags.iter().any(|t| c.has_tag(t)))
            .collect()
    }
}

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
    pub reset_form: ResetStyle,
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
    let ids: BTreeSet<&str> = catalogue().iter().map(|c| c.id).collect();
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

#[cfg(test)]
mod tests {
    use super::*;
    use definition::{glob, Phase};
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_cite_their_clause() {
        let all = catalogue();
        let mut seen = BTreeSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.starts_with(&format!("{}.", c.clause)),
                "{} does not start with its clause {}",
                c.id,
                c.clause
            );
            assert!(!c.statement.is_empty() && !c.tags.is_empty(), "{}", c.id);
            assert_eq!(c.has_tag("slow"), c.phase == Phase::Slow, "{}", c.id);
        }
    }

    #[test]
    fn every_contract_clause_has_a_check() {
        let clauses: BTreeSet<&str> = catalogue().iter().map(|c| c.clause).collect();
        for clause in [
            "ENV-1", "ENV-2", "ENV-3", "ENV-4", "AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4", "AUTH-5",
            "AUTH-6", "AUTH-7", "AUTH-8", "AUTHZ-1", "AUTHZ-2", "AUTHZ-3", "AUTHZ-4", "AUTHZ-5",
            "AUTHZ-6", "AUTHZ-6b", "AUTHZ-7", "USERS-1", "POLL-1", "POLL-1b", "POLL-1c", "POLL-2",
            "POLL-2b", "POLL-3", "POLL-4", "POLL-4b", "POLL-5", "POLL-6", "POLL-7", "POLL-8",
            "POLL-9", "READ-1", "READ-2", "CHATS-1", "RL-1", "RL-2", "RL-3", "RL-4", "RL-4b",
            "RL-5", "RL-6", "RL-7", "RL-8", "CORS-1", "CORS-2", "CORS-2b", "CORS-3",
        ] {
            assert!(clauses.contains(clause), "no check for {clause}");
        }
    }

    #[test]
    fn patterns() {
        let all = catalogue();
        let sel = |only: &[&str], skip: &[&str], tags: &[&str]| {
            Selection {
                only: only.iter().map(|s| s.to_string()).collect(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
                tags: tags.iter().map(|s| s.to_string()).collect(),
            }
            .apply(all.clone())
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
        };
        let auth = sel(&["auth"], &[], &[]);
        assert!(auth.iter().all(|id| id.starts_with("AUTH-")), "{auth:?}");
        assert!(sel(&["POLL-1"], &[], &[])
            .iter()
            .all(|id| id.starts_with("POLL-1.")));
        // The slow rate-limit checks: the window checks, and RL-3.2 (login
        // and signup, after the windows have aged the suite's own logins).
        let slow = sel(&["RL-*"], &[], &["slow"]);
        assert!(
            slow.iter()
                .all(|id| id.starts_with("RL-6") || *id == "RL-3.2"),
            "{slow:?}"
        );
        assert!(sel(&[], &["RL"], &[])
            .iter()
            .all(|id| !id.starts_with("RL-")));
        assert!(sel(&["nothing"], &[], &[]).is_empty());
        assert!(glob("A*C", "ABC") && !glob("A*C", "ABD") && glob("*", ""));
    }
}
