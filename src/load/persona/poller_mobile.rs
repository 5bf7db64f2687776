//! `kind = "poller-mobile"`: polls like the reference mobile client
//! (CONTRACT.md, "How clients poll"). Its section, its state machine
//! ([`MobilePoller`]) and its rate arithmetic.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::kind::{ms, Iteration, Kind, Params, PollOutcome, Polling, Rates};
use crate::input::InputError;

/// The reference mobile client.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PollerMobile {
    /// Shortest poll interval, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub min_interval: Duration,
    /// Longest poll interval, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub max_interval: Duration,
    /// Factor applied to the interval after each empty poll.
    pub backoff: f64,
    /// Interval after an error, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub error_interval: Duration,
    /// `limit` of the first get_messages on opening a chat (no `after`).
    #[schemars(range(min = 1))]
    pub initial_limit: u32,
}

impl Default for PollerMobile {
    fn default() -> Self {
        PollerMobile {
            min_interval: Duration::from_millis(500),
            max_interval: Duration::from_millis(3000),
            backoff: 1.2,
            error_interval: Duration::from_millis(2000),
            initial_limit: 50,
        }
    }
}

/// Its parameters as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    min_interval: Option<Spanned<String>>,
    max_interval: Option<Spanned<String>>,
    backoff: Option<Spanned<f64>>,
    error_interval: Option<Spanned<String>>,
    initial_limit: Option<Spanned<i64>>,
}

impl Kind for PollerMobile {
    type Section = Section;

    fn resolve(s: Section, at: &Params<'_>) -> Result<Self, InputError> {
        let d = PollerMobile::default();
        let p = PollerMobile {
            min_interval: at.duration(&s.min_interval, "min_interval", d.min_interval)?,
            max_interval: at.duration(&s.max_interval, "max_interval", d.max_interval)?,
            backoff: s.backoff.as_ref().map_or(d.backoff, |b| *b.get_ref()),
            error_interval: at.duration(&s.error_interval, "error_interval", d.error_interval)?,
            initial_limit: at.int(&s.initial_limit, "initial_limit", 1, 1000, d.initial_limit)?,
        };
        if p.min_interval < Duration::from_millis(10) || p.max_interval < p.min_interval {
            return Err(at.err(
                at.at(s.max_interval.as_ref().or(s.min_interval.as_ref())),
                "max_interval",
                "needs 10ms <= min_interval <= max_interval",
            ));
        }
        if !(1.0..=10.0).contains(&p.backoff) {
            return Err(at.err(
                at.at(s.backoff.as_ref()),
                "backoff",
                format!("must be between 1 and 10, got {}", p.backoff),
            ));
        }
        Ok(p)
    }

    fn polls(&self) -> bool {
        true
    }

    fn iteration(&self) -> Iteration {
        Iteration::Poll
    }

    fn poller(&self, _since_origin: Duration) -> Option<Box<dyn Polling>> {
        Some(Box::new(MobilePoller::new(self.clone())))
    }

    fn rates(&self, lambda: f64) -> Rates {
        self.rates_with(lambda, 0.0, false, "get_messages")
    }

    fn startup_polls(&self, seconds: f64, steady: f64) -> f64 {
        // The initial get_messages?limit=50 on open, then the backoff.
        1.0 + self.polls_over(seconds, steady)
    }
}

/// The reference mobile client: x`backoff` per empty poll clamped to
/// `min..max`, back to `min` on messages or an own send, `error_interval`
/// after an error (its backoff state unchanged).
#[derive(Debug, Clone)]
pub struct MobilePoller {
    p: PollerMobile,
    current: Duration,
}

impl MobilePoller {
    pub fn new(p: PollerMobile) -> Self {
        let current = p.min_interval;
        MobilePoller { p, current }
    }

    pub fn after_poll(&mut self, outcome: PollOutcome) -> Duration {
        match outcome {
            PollOutcome::Messages => {
                self.current = self.p.min_interval;
                self.current
            }
            PollOutcome::Empty => {
                // Not `mul_f64`: it panics past Duration::MAX, which a
                // scenario's max_interval (any humantime duration) can reach.
                let grown =
                    Duration::try_from_secs_f64(self.current.as_secs_f64() * self.p.backoff)
                        .unwrap_or(self.p.max_interval);
                self.current = grown.clamp(self.p.min_interval, self.p.max_interval);
                self.current
            }
            PollOutcome::Error => self.p.error_interval,
        }
    }

    pub fn after_send(&mut self) -> Duration {
        self.current = self.p.min_interval;
        self.current
    }
}

impl Polling for MobilePoller {
    fn after_poll(&mut self, _now: Duration, outcome: PollOutcome) -> Duration {
        MobilePoller::after_poll(self, outcome)
    }
    fn after_send(&mut self, _now: Duration) -> Duration {
        MobilePoller::after_send(self)
    }
    fn initial_limit(&self) -> Option<u32> {
        Some(self.p.initial_limit)
    }
    fn is_mobile(&self) -> bool {
        true
    }
}

/// The arithmetic of the mobile client's polling (`capacity`'s model):
/// 500 ms, x1.2 after each empty poll up to 3,000 ms, back to 500 ms when
/// a poll brings messages. Message arrivals in a chat are a Poisson
/// process of rate `lambda` (messages per second, all senders).
impl PollerMobile {
    /// The intervals in seconds after 0, 1, 2, ... empty polls (until the cap repeats).
    pub(crate) fn intervals(&self) -> Vec<f64> {
        let (min, max) = (
            self.min_interval.as_secs_f64(),
            self.max_interval.as_secs_f64(),
        );
        let mut out = Vec::new();
        let mut i = min;
        loop {
            out.push(i);
            if i >= max || out.len() > 1000 {
                return out;
            }
            i = (i * self.backoff).clamp(min, max);
        }
    }

    /// Polls in the first `seconds` after opening: the backoff sequence from
    /// its start (messages during it are ignored), then the steady rate.
    pub(crate) fn polls_over(&self, seconds: f64, steady: f64) -> f64 {
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
    pub(crate) fn polls_per_second(&self, lambda: f64) -> f64 {
        let max_interval_s = self.max_interval.as_secs_f64();
        let steps = self.intervals();
        if lambda <= 0.0 {
            return 1.0 / max_interval_s;
        }
        let (mut polls, mut length, mut t, mut survived) = (0.0, 0.0, 0.0, 1.0);
        // Sum over polls until the chance of no arrival yet is negligible.
        for k in 0..1_000_000usize {
            let step = steps.get(k).copied().unwrap_or(max_interval_s);
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
            1.0 / max_interval_s
        } else {
            polls / length
        }
    }

    /// Its rates, with `other` requests per second besides its polls.
    pub(crate) fn rates_with(
        &self,
        lambda: f64,
        other: f64,
        other_is_sends: bool,
        what: &'static str,
    ) -> Rates {
        Rates {
            idle: self.polls_per_second(0.0),
            peak: 1.0 / self.min_interval.as_secs_f64(),
            steady: self.polls_per_second(lambda),
            other,
            other_is_sends,
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn mobile_backs_off_by_1_2_clamped_and_resets() {
        let mut p = MobilePoller::new(PollerMobile::default());
        let seq: Vec<u128> = (0..12)
            .map(|_| p.after_poll(PollOutcome::Empty).as_millis())
            .collect();
        assert_eq!(
            seq,
            [600, 720, 864, 1036, 1244, 1492, 1791, 2149, 2579, 3000, 3000, 3000]
        );
        // An error waits 2 s and leaves the backoff where it was.
        assert_eq!(p.after_poll(PollOutcome::Error), ms(2000));
        assert_eq!(p.after_poll(PollOutcome::Empty), ms(3000));
        assert_eq!(p.after_poll(PollOutcome::Messages), ms(500));
        assert_eq!(p.after_poll(PollOutcome::Empty), ms(600));
        assert_eq!(p.after_send(), ms(500));
        assert_eq!(p.after_poll(PollOutcome::Empty), ms(600));
    }

    #[test]
    fn mobile_startup_polls() {
        let m = PollerMobile::default();
        // 0.5 + 0.6 + 0.72 = 1.82 s: three polls in the first two seconds.
        assert!(close(m.polls_over(2.0, 1.0 / 3.0), 3.0));
        let all: f64 = m.intervals().iter().sum();
        let n = m.intervals().len() as f64;
        assert!(close(m.polls_over(all + 3.0, 1.0 / 3.0), n + 1.0));
    }

    #[test]
    fn mobile_backoff_sequence() {
        let seq = PollerMobile::default().intervals();
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
        let m = PollerMobile::default();
        assert!(close(m.polls_per_second(0.0), 1.0 / 3.0));
        let busy = m.polls_per_second(100.0);
        assert!(busy > 1.9 && busy <= 2.0, "{busy}");
        let mid = m.polls_per_second(0.1);
        assert!(mid > 1.0 / 3.0 && mid < 2.0, "{mid}");
        // Monotone in the arrival rate.
        assert!(m.polls_per_second(0.05) < m.polls_per_second(0.2));
    }
}
