//! A validated `load` run: what the command line (or a test) asks of it.

use std::path::PathBuf;
use std::time::Duration;

use super::scenario::Scenario;
use super::slo::Slo;
use crate::accounts::Account;
use crate::reference::Defect;

/// A validated load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub scenario: Scenario,
    /// None: the embedded reference server.
    pub target: Option<String>,
    /// Accounts for a real target (with tokens, or passwords to log in with).
    pub accounts: Vec<Account>,
    pub timeout: Duration,
    /// Reports go to `<report_root>/<time>-<scenario>/` unless `report_dir` is set.
    pub report_root: PathBuf,
    pub report_dir: Option<PathBuf>,
    pub slos: Vec<Slo>,
    /// Print the live progress line.
    pub progress: bool,
    /// Embedded server only: defects to switch on (tests and demos).
    pub defects: Vec<Defect>,
    /// Embedded server only: no rate limits (pure capacity runs).
    pub unlimited: bool,
}
