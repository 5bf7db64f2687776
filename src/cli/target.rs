//! Where a command sends its requests, resolved once from the global
//! `--target`, `--user` and `--accounts` for every command that takes them:
//! a server the user named, with the accounts given for it, or the embedded
//! reference server, which seeds its own users.

use super::GlobalArgs;
use crate::accounts::{self, Account};

/// A command's target.
#[derive(Debug)]
pub(super) enum Target {
    /// `--target URL`, with the accounts given by `--user` and `--accounts`
    /// (none is fine here; a command that needs some says so).
    Given { url: String, accounts: Vec<Account> },
    /// No `--target`: the embedded reference server. [`super::Cli::validate`]
    /// has already refused `--user` and `--accounts` without `--target`.
    Embedded,
}

impl Target {
    /// Reads the global flags; the accounts file is read here and nowhere else.
    pub(super) fn of(global: &GlobalArgs) -> anyhow::Result<Target> {
        Ok(match &global.target {
            Some(url) => Target::Given {
                url: url.clone(),
                accounts: accounts::from_args(&global.users, global.accounts.as_deref())?,
            },
            None => Target::Embedded,
        })
    }

    pub(super) fn is_embedded(&self) -> bool {
        matches!(self, Target::Embedded)
    }

    /// The URL (`None`: the embedded server) and the accounts, as the
    /// commands' configurations take them.
    pub(super) fn into_parts(self) -> (Option<String>, Vec<Account>) {
        match self {
            Target::Given { url, accounts } => (Some(url), accounts),
            Target::Embedded => (None, Vec::new()),
        }
    }
}
