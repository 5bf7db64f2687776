//! The planned duration, printed before the first check: what the suite
//! will wait for and why. At a 60 s window most of a run is waiting (the
//! slow checks' windows, signup quota for fresh users), and a user who sees
//! no estimate cannot tell a patient suite from a hung one.

use std::time::Duration;

use super::catalog::CheckDef;
use crate::contract::{Endpoint, LimitsTable};

/// Fresh users taken by the checks, by what they share: a fixture built
/// once serves every check listed with it. `tests/it/check.rs` compares the
/// whole catalogue's sum with what a full run really took, so this table
/// cannot drift from the checks.
const FRESH_USERS: &[(&[&str], u32)] = &[
    (&["AUTH-1.1"], 1),
    (&["AUTH-6.1"], 1),
    (&["AUTHZ-1.1"], 3),
    (&["AUTHZ-6.2"], 2),
    (&["POLL-5.1"], 4),
    (&["POLL-2.2", "POLL-8.1", "POLL-8.2"], 2),
    (&["READ-1.1"], 2),
    (&["CHATS-1.1"], 2),
    (&["RL-1.1", "RL-2.1"], 1),
    // The sweep: one user spends its four user-keyed buckets for all these.
    (
        &[
            "RL-1.2", "RL-3.1", "RL-4.1", "RL-4b.1", "RL-5.1", "RL-7.1", "RL-8.1",
        ],
        1,
    ),
    (&["RL-5b.1"], 1),
    (&["RL-6.1"], 1),
    (&["RL-6.2"], 1),
    (&["RL-6.3"], 1),
];

/// Signups the checks send themselves (AUTH-7 and the signup probe of RL-1).
const OWN_SIGNUPS: &[(&[&str], u32)] = &[
    (&["AUTH-7.1"], 1),
    (&["AUTH-7.2"], 2),
    (&["RL-1.1", "RL-2.1"], 1),
];

/// Windows the slow checks wait out (RL-6.1 runs a steady client over two
/// windows; RL-6.2 fills a window and watches it age: about one and a half).
const SLOW_WINDOWS: &[(&str, f64)] = &[("RL-6.1", 2.0), ("RL-6.2", 1.5)];

/// What the run is expected to take.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Fresh users the selected checks take.
    pub fresh_users: u32,
    /// Of those, and with the checks' own signups: users to sign up.
    pub signups: u32,
    /// Waiting for signup quota.
    pub signup_wait: Duration,
    /// Waiting out windows in the slow checks.
    pub slow_wait: Duration,
    pub slow_checks: Vec<&'static str>,
}

impl Plan {
    /// The plan of `selected` with `pool` spare accounts and signup allowed
    /// or not; `logged_in` says whether set-up logged a user in (else RL-1's
    /// probe of login takes a fresh user with a password of its own).
    pub fn of(
        selected: &[CheckDef],
        pool: usize,
        signup: bool,
        logged_in: bool,
        limits: &LimitsTable,
        window: Duration,
    ) -> Plan {
        let picked = |ids: &[&str]| selected.iter().any(|c| ids.contains(&c.id));
        let sum = |table: &[(&[&str], u32)]| -> u32 {
            table
                .iter()
                .filter(|(ids, _)| picked(ids))
                .map(|(_, n)| n)
                .sum()
        };
        let login_probe = u32::from(!logged_in && picked(&["RL-1.1", "RL-2.1"]));
        let fresh_users = sum(FRESH_USERS) + login_probe;
        let own = if signup { sum(OWN_SIGNUPS) } else { 0 };
        let from_signup = if signup {
            fresh_users.saturating_sub(pool as u32)
        } else {
            0
        };
        let signups = from_signup + own;
        // The first `limit` signups fit in the current window; each further
        // batch waits one.
        let per_window = limits.limit(Endpoint::Signup).unwrap_or(u32::MAX).max(1);
        let batches = signups.saturating_sub(1) / per_window;
        let signup_wait = window * batches;
        let slow: Vec<(&'static str, f64)> = SLOW_WINDOWS
            .iter()
            .filter(|(id, _)| selected.iter().any(|c| c.id == *id))
            .copied()
            .collect();
        let slow_wait = window.mul_f64(slow.iter().map(|(_, w)| w).sum());
        Plan {
            fresh_users,
            signups,
            signup_wait,
            slow_wait,
            slow_checks: slow.iter().map(|(id, _)| *id).collect(),
        }
    }

    /// The total wait planned.
    pub fn total(&self) -> Duration {
        self.signup_wait + self.slow_wait
    }

    /// One line for the console.
    pub fn describe(&self, signup_limit: Option<u32>) -> String {
        let mut parts = Vec::new();
        if !self.slow_checks.is_empty() {
            parts.push(format!(
                "{} waiting out windows in {}",
                human(self.slow_wait),
                self.slow_checks.join(" and ")
            ));
        }
        if self.signups > 0 {
            parts.push(format!(
                "{} for {} signups at {} per window",
                human(self.signup_wait),
                self.signups,
                signup_limit.map_or("no limit".to_owned(), |l| l.to_string())
            ));
        }
        let detail = if parts.is_empty() {
            "no window to wait out".to_owned()
        } else {
            parts.join(", ")
        };
        format!(
            "planned: about {} of waiting ({detail}), plus the requests themselves",
            human(self.total())
        )
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 90.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min {:.0} s", (s / 60.0).floor(), s % 60.0)
    }
}

/// Every check ID the tables name (for the test that keeps them honest).
pub fn named_ids() -> impl Iterator<Item = &'static str> {
    FRESH_USERS
        .iter()
        .chain(OWN_SIGNUPS)
        .flat_map(|(ids, _)| ids.iter().copied())
        .chain(SLOW_WINDOWS.iter().map(|(id, _)| *id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::catalog;

    fn limits() -> LimitsTable {
        LimitsTable {
            window_seconds: 60,
            limits: [(Endpoint::Signup, 5)].into_iter().collect(),
        }
    }

    #[test]
    fn every_named_check_exists() {
        let all = catalog::all();
        for id in named_ids() {
            assert!(
                all.iter().any(|c| c.id == id),
                "{id} is not in the catalogue"
            );
        }
    }

    #[test]
    fn three_accounts_at_a_60s_window() {
        let all = catalog::all();
        let p = Plan::of(&all, 0, true, true, &limits(), Duration::from_secs(60));
        assert_eq!(p.fresh_users, 23);
        assert_eq!(p.signups, 27);
        // 27 signups at 5 a window: the first 5 now, 5 more windows.
        assert_eq!(p.signup_wait, Duration::from_secs(5 * 60));
        assert_eq!(p.slow_wait, Duration::from_secs(210));
        assert_eq!(
            p.describe(Some(5)),
            "planned: about 8 min 30 s of waiting (3 min 30 s waiting out windows in RL-6.1 and RL-6.2, 5 min 0 s for 27 signups at 5 per window), plus the requests themselves"
        );
        // A pool of spare accounts removes the signup waits but AUTH-7's.
        let p = Plan::of(&all, 48, true, false, &limits(), Duration::from_secs(60));
        assert_eq!(p.fresh_users, 24, "RL-1's login probe takes one more");
        assert_eq!((p.signups, p.signup_wait), (4, Duration::ZERO));
        let none: Vec<_> = all.iter().filter(|c| c.id == "ENV-1.1").copied().collect();
        let p = Plan::of(&none, 0, false, true, &limits(), Duration::from_secs(60));
        assert_eq!(p.total(), Duration::ZERO);
        assert!(p.describe(Some(5)).contains("no window to wait out"));
    }
}
