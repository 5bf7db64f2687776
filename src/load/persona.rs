//! The client models as pure state machines: given what the last poll
//! brought (or a send), each says how long to wait before the next poll.
//! No clock and no I/O here, so their interval sequences are unit-tested
//! exactly; `behaviour.rs` drives them against a server.

use std::time::Duration;

use rand::Rng;

use super::scenario::{DesignParams, MobileParams};

/// What a poll brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// At least one message (new to this client).
    Messages,
    /// An empty list.
    Empty,
    /// A refusal, an error status or a transport error.
    Error,
}

/// The design's model: `active_interval` while the chat is active (a message
/// sent or received within `idle_after`), `idle_interval` after that.
/// `now` is any monotonic clock, as time since a common origin.
#[derive(Debug, Clone)]
pub struct DesignPoller {
    p: DesignParams,
    last_activity: Duration,
}

impl DesignPoller {
    /// A chat just opened counts as activity.
    pub fn new(p: DesignParams, now: Duration) -> Self {
        DesignPoller {
            p,
            last_activity: now,
        }
    }

    /// The wait after a poll that ended at `now`.
    pub fn after_poll(&mut self, now: Duration, outcome: PollOutcome) -> Duration {
        if outcome == PollOutcome::Messages {
            self.last_activity = now;
        }
        self.interval(now)
    }

    /// Own send: activity.
    pub fn after_send(&mut self, now: Duration) -> Duration {
        self.last_activity = now;
        self.interval(now)
    }

    /// The screen reopened: activity.
    pub fn on_open(&mut self, now: Duration) {
        self.last_activity = now;
    }

    fn interval(&self, now: Duration) -> Duration {
        if now.saturating_sub(self.last_activity) >= self.p.idle_after {
            self.p.idle_interval
        } else {
            self.p.active_interval
        }
    }
}

/// The reference mobile client: x`backoff` per empty poll clamped to
/// `min..max`, back to `min` on messages or an own send, `error_interval`
/// after an error (its backoff state unchanged).
#[derive(Debug, Clone)]
pub struct MobilePoller {
    p: MobileParams,
    current: Duration,
}

impl MobilePoller {
    pub fn new(p: MobileParams) -> Self {
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

/// Either model, as a chat's poller.
#[derive(Debug, Clone)]
pub enum Poller {
    Design(DesignPoller),
    Mobile(MobilePoller),
}

impl Poller {
    pub fn after_poll(&mut self, now: Duration, outcome: PollOutcome) -> Duration {
        match self {
            Poller::Design(d) => d.after_poll(now, outcome),
            Poller::Mobile(m) => m.after_poll(outcome),
        }
    }

    pub fn after_send(&mut self, now: Duration) -> Duration {
        match self {
            Poller::Design(d) => d.after_send(now),
            Poller::Mobile(m) => m.after_send(),
        }
    }

    pub fn is_mobile(&self) -> bool {
        matches!(self, Poller::Mobile(_))
    }
}

/// An exponential wait with the given mean (Poisson arrivals), capped at 10x
/// the mean so that one draw cannot stall a short run.
pub fn exponential(rng: &mut impl Rng, mean: Duration) -> Duration {
    if mean.is_zero() {
        return Duration::ZERO;
    }
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    mean.mul_f64((-u.ln()).min(10.0))
}

/// Opening and closing of a chat screen (design model): exponential open
/// and closed times; `None` when the screen always stays open.
#[derive(Debug, Clone)]
pub struct Screen {
    open_mean: Duration,
    closed_mean: Duration,
}

impl Screen {
    pub fn new(p: &DesignParams) -> Option<Screen> {
        (!p.screen_open.is_zero()).then_some(Screen {
            open_mean: p.screen_open,
            closed_mean: p.screen_closed,
        })
    }
    pub fn open_for(&self, rng: &mut impl Rng) -> Duration {
        exponential(rng, self.open_mean)
    }
    pub fn closed_for(&self, rng: &mut impl Rng) -> Duration {
        exponential(rng, self.closed_mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn design_is_active_then_idle_after_ten_seconds() {
        let mut p = DesignPoller::new(DesignParams::default(), ms(0));
        let mut now = ms(0);
        let mut seq = Vec::new();
        for _ in 0..24 {
            let wait = p.after_poll(now, PollOutcome::Empty);
            seq.push(wait.as_millis());
            now += wait;
        }
        // 20 polls at 500 ms reach 10 s without activity; then 3 s.
        assert_eq!(&seq[..19], &[500; 19]);
        assert_eq!(&seq[20..], &[3000; 4]);
        // A message brings it back to 500 ms, and so does an own send.
        assert_eq!(p.after_poll(now, PollOutcome::Messages), ms(500));
        now += ms(12_000);
        assert_eq!(p.after_poll(now, PollOutcome::Empty), ms(3000));
        assert_eq!(p.after_send(now), ms(500));
        // Errors are not activity.
        now += ms(10_000);
        assert_eq!(p.after_poll(now, PollOutcome::Error), ms(3000));
    }

    #[test]
    fn mobile_backs_off_by_1_2_clamped_and_resets() {
        let mut p = MobilePoller::new(MobileParams::default());
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
    fn exponential_draws_have_the_mean_and_a_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = 20_000;
        let total: Duration = (0..n).map(|_| exponential(&mut rng, ms(100))).sum();
        let mean = total.as_secs_f64() / n as f64;
        assert!((0.09..0.11).contains(&mean), "{mean}");
        assert!((0..1000).all(|_| exponential(&mut rng, ms(100)) <= ms(1000)));
    }
}
