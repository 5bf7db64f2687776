//! What a `capacity` run is asked to do ([`CapacityConfig`]) and the
//! checks on its steps of users.

use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::Account;
use crate::error::UsageError;
use crate::load::scenario::{Ramp, Scenario};
use crate::load::slo::Slo;

/// A validated capacity run.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    pub scenario: Scenario,
    pub slos: Vec<Slo>,
    /// User counts, rising.
    pub steps: Vec<u32>,
    /// Time to start each step's users.
    pub ramp: Duration,
    /// Time each step holds at full load.
    pub hold: Duration,
    /// No step starts that could not finish within this.
    pub budget: Duration,
    pub target: Option<String>,
    pub accounts: Vec<Account>,
    pub timeout: Duration,
    pub report_dir: PathBuf,
    pub progress: bool,
    /// Embedded server only: run without rate limits.
    pub unlimited: bool,
}

/// How steps are chosen when the command line does not list them.
pub(crate) fn default_steps(scenario: &Scenario) -> Vec<u32> {
    match &scenario.ramp {
        Ramp::Steps { steps } => steps.iter().map(|s| s.users).collect(),
        Ramp::Rate { .. } => {
            let u = scenario.users.max(4);
            vec![u / 4, u / 2, u, 2 * u, 4 * u]
        }
    }
}

/// Validates a rising list of steps.
pub(crate) fn check_steps(steps: &[u32]) -> Result<(), UsageError> {
    if steps.is_empty() {
        return Err(UsageError(
            "capacity needs at least one step of users".into(),
        ));
    }
    if steps.contains(&0) {
        return Err(UsageError("a step of 0 users measures nothing".into()));
    }
    if steps.windows(2).any(|w| w[1] <= w[0]) {
        return Err(UsageError(format!("steps must rise: {steps:?}")));
    }
    Ok(())
}
