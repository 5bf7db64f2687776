//! The errors a command can end on, and the process exit code each one
//! means, in one place (the codes are documented in the README).
//!
//! Modules at any floor return these (or their own error types, which say
//! their code the same way); the command layer maps the first cause it
//! recognises to the process exit code with [`exit_code_of`]'s help.

/// The process exit codes.
pub mod exit_code {
    /// Everything passed.
    pub const SUCCESS: u8 = 0;
    /// The target failed: a MUST check, a SHOULD check under `--strict`, an SLO,
    /// or a stale `--known-failing` entry; or a `check`, `load`, `limits` or
    /// `capacity` run was stopped by a signal (its verdict is unfinished).
    pub const TARGET_FAILED: u8 = 1;
    /// Usage or configuration error: bad flags, unreadable or malformed files,
    /// a selection of zero checks.
    pub const USAGE: u8 = 2;
    /// The target could not be reached or set up: connection refused, accounts
    /// that cannot log in, the embedded server failing to start.
    pub const UNREACHABLE: u8 = 3;
}

/// A problem with what the user asked for: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn exit_code(&self) -> u8 {
        exit_code::USAGE
    }
}

/// The target could not be reached or set up: exit code 3.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

impl SetupError {
    pub fn exit_code(&self) -> u8 {
        exit_code::UNREACHABLE
    }
}
