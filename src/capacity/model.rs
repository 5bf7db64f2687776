//! The arithmetic of polling load: how many requests a second each client
//! model makes, and how close one user comes to the get_messages limit. A
//! capacity report shows these beside what was measured, so a planner sees
//! where a server departs from the arithmetic.
//!
//! Message arrivals in a chat are modelled as a Poisson process of rate
//! `lambda` (messages per second, all senders together).

use serde::{Deserialize, Serialize};

/// The design's poller: 500 ms while active (a message in the last 10 s),
/// 3,000 ms otherwise, nothing while the chat screen is closed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DesignPoller {
    pub active_interval_s: f64,
    pub idle_interval_s: f64,
    /// How long without activity before the poller slows down.
    pub idle_after_s: f64,
    /// Fraction of the time the chat screen is open.
    pub screen_open: f64,
}

impl Default for DesignPoller {
    fn default() -> Self {
        DesignPoller {
            active_interval_s: 0.5,
            idle_interval_s: 3.0,
            idle_after_s: 10.0,
            screen_open: 1.0,
        }
    }
}

impl DesignPoller {
    /// Probability that the poller is active: some activity (a message, an
    /// own send at `sends` per second, or the screen opening, open periods
    /// lasting `open_mean_s` on average; 0 for a screen that stays open) in
    /// the last `idle_after_s`.
    pub fn active_fraction(&self, lambda: f64, sends: f64, open_mean_s: f64) -> f64 {
        let events = (lambda + sends).max(0.0);
        let quiet = (-events * self.idle_after_s).exp();
        // An open period of exponential length T starts active for min(idle_after, T).
        let quiet_open = if open_mean_s > 0.0 {
            (-self.idle_after_s / open_mean_s).exp()
        } else {
            1.0
        };
        1.0 - quiet * quiet_open
    }

    /// Mean get_messages per second of one user in steady state.
    pub fn polls_per_second(&self, lambda: f64) -> f64 {
        self.polls_per_second_with(lambda, 0.0, 0.0)
    }

    /// As [`Self::polls_per_second`], with own sends and screen openings.
    pub fn polls_per_second_with(&self, lambda: f64, sends: f64, open_mean_s: f64) -> f64 {
        let a = self.active_fraction(lambda, sends, open_mean_s);
        self.screen_open * (a / self.active_interval_s + (1.0 - a) / self.idle_interval_s)
    }

    /// Polls in the first `seconds` after the screen opens (active for
    /// `idle_after_s`, then the steady rate).
    pub fn polls_over(&self, seconds: f64, steady: f64) -> f64 {
        let warm = seconds.min(self.idle_after_s);
        warm / self.active_interval_s + (seconds - warm).max(0.0) * steady
    }

    /// The highest rate it ever reaches (while active).
    pub fn peak_polls_per_second(&self) -> f64 {
        1.0 / self.active_interval_s
    }
}

/// The reference mobile client: 500 ms, ×1.2 after each empty poll up to
/// 3,000 ms, back to 500 ms when a poll brings messages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MobilePoller {
    pub min_interval_s: f64,
    pub max_interval_s: f64,
    pub backoff: f64,
}

impl Default for MobilePoller {
    fn default() -> Self {
        MobilePoller {
            min_interval_s: 0.5,
            max_interval_s: 3.0,
            backoff: 1.2,
        }
    }
}

impl MobilePoller {
    /// The intervals after 0, 1, 2, ... empty polls (until the cap repeats).
    pub fn intervals(&self) -> Vec<f64> {
        let mut out = Vec::new();
        let mut i = self.min_interval_s;
        loop {
            out.push(i);
            if i >= self.max_interval_s || out.len() > 1000 {
                return out;
            }
            i = (i * self.backoff).clamp(self.min_interval_s, self.max_interval_s);
        }
    }

    /// Polls in the first `seconds` after opening: the backoff sequence from
    /// its start (messages during it are ignored), then the steady rate.
    pub fn polls_over(&self, seconds: f64, steady: f64) -> f64 {
        let mut t = 0.0;
        let mut n = 0.0;
        for i in self.intervals() {
            if t + i > seconds {
                return n;
            }
            t += i;
            n += 1.0;
        }
        n + (seconds - t).max(0.0) * steady
    }

    /// Mean polls per second under Poisson arrivals: a renewal argument. A
    /// cycle starts at a reset; polls happen at the cumulative intervals; the
    /// cycle ends at the first poll after an arrival. Rate = E[polls per
    /// cycle] / E[cycle length].
    pub fn polls_per_second(&self, lambda: f64) -> f64 {
        let steps = self.intervals();
        if lambda <= 0.0 {
            return 1.0 / self.max_interval_s;
        }
        let (mut polls, mut length, mut t, mut survived) = (0.0, 0.0, 0.0, 1.0);
        // Sum over polls until the chance of no arrival yet is negligible.
        for k in 0..1_000_000usize {
            let step = steps.get(k).copied().unwrap_or(self.max_interval_s);
            t += step;
            let still = (-lambda * t).exp();
            let ends_here = survived - still; // arrival in (t - step, t]
            polls += ends_here * (k + 1) as f64;
            length += ends_here * t;
            survived = still;
            if survived < 1e-12 {
                break;
            }
        }
        if length <= 0.0 {
            1.0 / self.max_interval_s
        } else {
            polls / length
        }
    }
}

/// One user's standing against the get_messages limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Headroom {
    /// get_messages a window at the poller's peak rate, per device.
    pub peak_per_window: f64,
    pub limit: u32,
    pub window_seconds: u64,
    /// Peak use as a fraction of the limit (RL-6 promises no refusal up to 0.6).
    pub peak_fraction: f64,
    /// Devices (open chat screens) one user can poll from at peak before refusals.
    pub devices_before_refusal: u32,
}

pub fn headroom(peak_polls_per_second: f64, limit: u32, window_seconds: u64) -> Headroom {
    let per_window = peak_polls_per_second * window_seconds as f64;
    Headroom {
        peak_per_window: per_window,
        limit,
        window_seconds,
        peak_fraction: if limit == 0 {
            f64::INFINITY
        } else {
            per_window / limit as f64
        },
        devices_before_refusal: if per_window <= 0.0 {
            u32::MAX
        } else {
            (limit as f64 / per_window).floor() as u32
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn design_rates_match_the_design_table() {
        let p = DesignPoller::default();
        assert!(close(p.polls_per_second(0.0), 1.0 / 3.0));
        assert!(close(p.peak_polls_per_second(), 2.0));
        // A busy chat is nearly always active.
        assert!(p.polls_per_second(10.0) > 1.99);
        let half_open = DesignPoller {
            screen_open: 0.5,
            ..p
        };
        assert!(close(half_open.polls_per_second(0.0), 1.0 / 6.0));
        // Own sends every 10 s keep it active 1 - e^-1 of the time.
        assert!(close(
            p.active_fraction(0.0, 0.1, 0.0),
            1.0 - (-1.0f64).exp()
        ));
        // Screens open for 40 s on average start active for 10 s of them.
        assert!(close(
            p.active_fraction(0.0, 0.0, 40.0),
            1.0 - (-0.25f64).exp()
        ));
        // The first 13 s after opening: 10 s at 2/s, then 3 s at the steady rate.
        assert!(close(p.polls_over(13.0, 1.0 / 3.0), 21.0));
    }

    #[test]
    fn mobile_startup_polls() {
        let m = MobilePoller::default();
        // 0.5 + 0.6 + 0.72 = 1.82 s: three polls in the first two seconds.
        assert!(close(m.polls_over(2.0, 1.0 / 3.0), 3.0));
        let all: f64 = m.intervals().iter().sum();
        let n = m.intervals().len() as f64;
        assert!(close(m.polls_over(all + 3.0, 1.0 / 3.0), n + 1.0));
    }

    #[test]
    fn mobile_backoff_sequence() {
        let seq = MobilePoller::default().intervals();
        let want = [
            0.5,
            0.6,
            0.72,
            0.864,
            1.0368,
            1.24416,
            1.492992,
            1.7915904,
            2.14990848,
            2.579890176,
            3.0,
        ];
        assert_eq!(seq.len(), want.len());
        for (a, b) in seq.iter().zip(want) {
            assert!(close(*a, b), "{seq:?}");
        }
    }

    #[test]
    fn mobile_rate_between_its_extremes() {
        let m = MobilePoller::default();
        assert!(close(m.polls_per_second(0.0), 1.0 / 3.0));
        let busy = m.polls_per_second(100.0);
        assert!(busy > 1.9 && busy <= 2.0, "{busy}");
        let mid = m.polls_per_second(0.1);
        assert!(mid > 1.0 / 3.0 && mid < 2.0, "{mid}");
        // Monotone in the arrival rate.
        assert!(m.polls_per_second(0.05) < m.polls_per_second(0.2));
    }

    #[test]
    fn headroom_of_the_design_poller() {
        let h = headroom(2.0, 200, 60);
        assert!(close(h.peak_per_window, 120.0));
        assert!(close(h.peak_fraction, 0.6));
        assert_eq!(h.devices_before_refusal, 1);
    }
}
