//! What a `limits` run is asked to do ([`LimitsConfig`]: the expected
//! table, the endpoints, where the reports go) and the timing that follows
//! from its window.

use std::path::PathBuf;
use std::time::Duration;

use crate::contract::{Endpoint, LimitsTable};
use crate::error::UsageError;

/// A validated `limits` run.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// The expected limits and their window.
    pub expect: LimitsTable,
    /// The endpoints to measure (those of the table, or the `--only` ones).
    pub endpoints: Vec<Endpoint>,
    pub report_dir: Option<PathBuf>,
    /// Print progress lines while waiting.
    pub progress: bool,
}

impl LimitsConfig {
    pub fn new(expect: LimitsTable, only: &[Endpoint]) -> Result<LimitsConfig, UsageError> {
        let endpoints: Vec<Endpoint> = if only.is_empty() {
            expect.limits.keys().copied().collect()
        } else {
            for e in only {
                if expect.limit(*e).is_none() {
                    return Err(UsageError(format!(
                        "--only {e}: the expected-limits table has no limit for it"
                    )));
                }
            }
            only.to_vec()
        };
        if endpoints.is_empty() {
            return Err(UsageError(
                "the expected-limits table names no endpoint".into(),
            ));
        }
        Ok(LimitsConfig {
            expect,
            endpoints,
            report_dir: None,
            progress: true,
        })
    }

    pub(crate) fn window(&self) -> Duration {
        Duration::from_secs(self.expect.window_seconds)
    }

    /// The planned duration with `accounts` accounts, ignoring the time the
    /// requests themselves take: the main timeline (t0, t0+W/2, just after
    /// t0+W), atomicity a window after B's last request when there is no
    /// third account, then the login probe.
    pub(crate) fn expected_duration(&self, accounts: usize) -> Duration {
        let w = self.window();
        let s = slack(w);
        let main = w + s + Duration::from_secs(1);
        if accounts >= 3 {
            main
        } else {
            // B's isolation request comes at about t0 + W/2.
            (w / 2 + w + s + Duration::from_secs(1)).max(main)
        }
    }
}

/// How long after a window boundary the probe asks again.
pub(crate) fn slack(window: Duration) -> Duration {
    (window / 6).min(Duration::from_secs(1))
}
