//! The planned duration, printed before the first check: what the suite
//! will wait for and why. At a 60 s window most of a run is waiting (the
//! slow checks' windows, signup quota for fresh users), and a user who sees
//! no estimate cannot tell a patient suite from a hung one.

use std::time::Duration;

use super::definition::CheckDef;
use crate::contract::{Endpoint, LimitsTable};

/// Fresh users taken by the checks, by what they share: a fixture built
/// once serves every check listed with it. `tests/it/check.rs` compares the
/// whole catalogue's sum with what a full run really took, so this table
/// cannot drift from the checks.
const FRESH_USERS: &[(&[&str], u32)] = &[
    (&["AUTH-6.1"], 1),
    // The sweep: one user spends its four user-keyed buckets for all these.
    (SWEEP, 1),
    (&["RL-6.1"], 1),
    (&["RL-6.2"], 1),
    (&["RL-6.3"], 1),
];

/// The checks that share the sweep's spent user (CORS-2b.2 reuses it when
/// it exists, else takes a fresh user of its own).
const SWEEP: &[&str] = &[
    "RL-1.2", "RL-3.1", "RL-4.1", "RL-4b.1", "RL-5.1", "RL-7.1", "RL-8.1",
];

/// Users the checks sign up themselves (AUTH-7, the signup probe of RL-1,
/// and the one e-mail RL-3.2 signs up before its 409 repeats).
const OWN_SIGNUPS: &[(&[&str], u32)] = &[
    (&["AUTH-7.1"], 1),
    (&["AUTH-7.2"], 2),
    (&["RL-1.1", "RL-2.1"], 1),
    (&["RL-3.2"], 1),
];

/// Windows the slow checks wait out (RL-6.1 runs a steady client over two
/// windows; RL-6.2 fills a window and watches it age: about one and a half).
/// They run side by side, in the background of the other checks.
const SLOW_WINDOWS: &[(&str, f64)] = &[("RL-6.1", 2.0), ("RL-6.2", 1.5)];

/// Checks that log their user in again: when they borrow one of the shared
/// three (`--no-signup`, no spare account), the runner runs them after every
/// other check that uses the shared pairs, since a server may rotate the
/// secret at each login.
pub(crate) const RELOGIN: &[&str] = &["AUTH-6.1", "RL-6.3"];

/// What the run is expected to take.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitPlan {
    /// Fresh users the selected checks take.
    pub fresh_users: u32,
    /// Of those, and with the checks' own signups: users to sign up.
    pub signups: u32,
    /// Waiting for signup quota.
    pub(crate) signup_wait: Duration,
    /// Waiting out windows in the slow checks.
    pub(crate) slow_wait: Duration,
    pub(crate) slow_checks: Vec<&'static str>,
    /// Checks that borrow one of the three shared accounts in turn (no
    /// spare account, signup forbidden): each may wait for its buckets to
    /// go idle, and the slow checks then run one after the other.
    pub lent: u32,
    /// The most the borrowing may wait (a window each).
    pub(crate) lend_wait: Duration,
}

impl WaitPlan {
    /// The plan of `selected` with `pool` spare accounts and signup allowed
    /// or not; `logged_in` says whether set-up logged a user in (else RL-1's
    /// probe of login takes a fresh user with a password of its own).
    pub(crate) fn of(
        selected: &[CheckDef],
        pool: usize,
        signup: bool,
        logged_in: bool,
        limits: &LimitsTable,
        window: Duration,
    ) -> WaitPlan {
        let picked = |ids: &[&str]| selected.iter().any(|c| ids.contains(&c.id));
        let sum = |table: &[(&[&str], u32)]| -> u32 {
            table
                .iter()
                .filter(|(ids, _)| picked(ids))
                .map(|(_, n)| n)
                .sum()
        };
        // Without a set-up login, RL-1's probe of login and AUTH-1's evidence
        // each log a fresh user with a password in.
        let login_probe = u32::from(!logged_in && picked(&["RL-1.1", "RL-2.1"]))
            + u32::from(!logged_in && picked(&["AUTH-1.1"]));
        let cors_alone = u32::from(picked(&["CORS-2b.2"]) && !picked(SWEEP));
        let fresh_users = sum(FRESH_USERS) + login_probe + cors_alone;
        let own = if signup { sum(OWN_SIGNUPS) } else { 0 };
        let from_signup = if signup {
            fresh_users.saturating_sub(pool as u32)
        } else {
            0
        };
        let signups = from_signup + own;
        let lent = if signup {
            0
        } else {
            fresh_users.saturating_sub(pool as u32)
        };
        let lend_wait = window * lent;
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
        // Side by side in the background; one after the other when they
        // borrow the shared users.
        let slow_wait = if lent > 0 {
            window.mul_f64(slow.iter().map(|(_, w)| *w).sum())
        } else {
            window.mul_f64(slow.iter().map(|(_, w)| *w).fold(0.0, f64::max))
        };
        WaitPlan {
            fresh_users,
            signups,
            signup_wait,
            slow_wait,
            slow_checks: slow.iter().map(|(id, _)| *id).collect(),
            lent,
            lend_wait,
        }
    }

    /// The total wait planned: the slow checks wait in the background while
    /// the others (and their signups) go on.
    pub(crate) fn total(&self) -> Duration {
        if self.lent > 0 {
            self.slow_wait + self.lend_wait
        } else {
            self.signup_wait.max(self.slow_wait)
        }
    }

    /// One line for the console.
    pub(crate) fn describe(&self, signup_limit: Option<u32>) -> String {
        let mut parts = Vec::new();
        if !self.slow_checks.is_empty() {
            parts.push(format!(
                "{} waiting out windows in {}{}",
                human(self.slow_wait),
                self.slow_checks.join(" and "),
                if self.lent > 0 {
                    ""
                } else {
                    " in the background"
                }
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
        if self.lent > 0 {
            parts.push(format!(
                "up to {} while checks borrow the three shared accounts {} times in turn, each time once their buckets are idle",
                human(self.lend_wait),
                self.lent
            ));
        }
        let detail = if parts.is_empty() {
            "no window to wait out".to_owned()
        } else {
            parts.join("; ")
        };
        format!(
            "planned: {} {} of waiting ({detail}), plus the requests themselves",
            if self.lent > 0 { "at most" } else { "about" },
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
#[cfg(test)]
fn named_ids() -> impl Iterator<Item = &'static str> {
    FRESH_USERS
        .iter()
        .chain(OWN_SIGNUPS)
        .flat_map(|(ids, _)| ids.iter().copied())
        .chain(SLOW_WINDOWS.iter().map(|(id, _)| *id))
        .chain(RELOGIN.iter().copied())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::catalogue;

    fn limits() -> LimitsTable {
        LimitsTable {
            window_seconds: 60,
            limits: [(Endpoint::Signup, 5)].into_iter().collect(),
        }
    }

    #[test]
    fn every_named_check_exists() {
        let all = catalogue();
        for id in named_ids() {
            assert!(
                all.iter().any(|c| c.id == id),
                "{id} is not in the catalogue"
            );
        }
    }

    #[test]
    fn three_accounts_at_a_60s_window() {
        let all = catalogue();
        let p = WaitPlan::of(&all, 0, true, true, &limits(), Duration::from_secs(60));
        assert_eq!(p.fresh_users, 5);
        assert_eq!(p.signups, 10);
        // 10 signups at 5 a window: the first 5 now, one more window.
        assert_eq!(p.signup_wait, Duration::from_secs(60));
        // RL-6.1 and RL-6.2 side by side: the longer, two windows.
        assert_eq!(p.slow_wait, Duration::from_secs(120));
        assert_eq!(
            p.describe(Some(5)),
            "planned: about 2 min 0 s of waiting (2 min 0 s waiting out windows in RL-6.1 and RL-6.2 in the background; 60 s for 10 signups at 5 per window), plus the requests themselves"
        );
        // A pool of spare accounts removes the signup waits but the checks' own.
        let p = WaitPlan::of(&all, 48, true, false, &limits(), Duration::from_secs(60));
        assert_eq!(
            p.fresh_users, 7,
            "RL-1's login probe and AUTH-1 take one more each"
        );
        assert_eq!((p.signups, p.signup_wait), (5, Duration::ZERO));
        // --no-signup with the three: the checks borrow them in turn.
        let p = WaitPlan::of(&all, 0, false, true, &limits(), Duration::from_secs(60));
        assert_eq!((p.signups, p.lent), (0, 5));
        assert_eq!(p.slow_wait, Duration::from_secs(210), "one after the other");
        assert_eq!(p.total(), Duration::from_secs(210 + 5 * 60));
        assert!(p.describe(Some(5)).starts_with("planned: at most 8 min 30 s of waiting (3 min 30 s waiting out windows in RL-6.1 and RL-6.2; up to 5 min 0 s while checks borrow the three shared accounts 5 times"), "{}", p.describe(Some(5)));
        // CORS-2b.2 alone spends a bucket of a user of its own.
        let cors: Vec<_> = all
            .iter()
            .filter(|c| c.id == "CORS-2b.2")
            .copied()
            .collect();
        let p = WaitPlan::of(&cors, 0, true, true, &limits(), Duration::from_secs(60));
        assert_eq!(p.fresh_users, 1);
        let none: Vec<_> = all.iter().filter(|c| c.id == "ENV-1.1").copied().collect();
        let p = WaitPlan::of(&none, 0, false, true, &limits(), Duration::from_secs(60));
        assert_eq!(p.total(), Duration::ZERO);
        assert!(p.describe(Some(5)).contains("no window to wait out"));
    }
}
