//! The process exit codes, in one place (documented in the README).

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
