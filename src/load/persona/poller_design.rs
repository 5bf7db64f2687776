//! `kind = "poller-design"`: polls the chat on screen with the design's
//! adaptive model (ARCHITECTURE.md, "Message Delivery"). Its section, its
//! state machine ([`DesignPoller`]), its screen and its rate arithmetic.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::kind::{ms, Iteration, Kind, Params, PollOutcome, Polling, Rates, ScreenTimes};
use crate::input::InputError;

/// The design's adaptive polling.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct PollerDesign {
    /// Poll interval while active, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub active_interval: Duration,
    /// Poll interval while idle, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub idle_interval: Duration,
    /// Time without activity before polling goes idle, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub idle_after: Duration,
    /// Mean time a chat screen stays open (exponential), ms; zero: always open.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub screen_open: Duration,
    /// Mean time a chat screen stays closed (no polling), ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub screen_closed: Duration,
}

impl Default for PollerDesign {
    fn default() -> Self {
        PollerDesign {
            active_interval: Duration::from_millis(500),
            idle_interval: Duration::from_millis(3000),
            idle_after: Duration::from_secs(10),
            screen_open: Duration::ZERO,
            screen_closed: Duration::ZERO,
        }
    }
}

/// Its parameters as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    active_interval: Option<Spanned<String>>,
    idle_interval: Option<Spanned<String>>,
    idle_after: Option<Spanned<String>>,
    screen_open: Option<Spanned<String>>,
    screen_closed: Option<Spanned<String>>,
}

impl Kind for PollerDesign {
    type Section = Section;

    fn resolve(s: Section, at: &Params<'_>) -> Result<Self, InputError> {
        let d = PollerDesign::default();
        let p = PollerDesign {
            active_interval: at.duration(&s.active_interval, "active_interval", d.active_interval)?,
            idle_interval: at.duration(&s.idle_interval, "idle_interval", d.idle_interval)?,
            idle_after: at.duration(&s.idle_after, "idle_after", d.idle_after)?,
            screen_open: at.duration(&s.screen_open, "screen_open", d.screen_open)?,
            screen_closed: at.duration(&s.screen_closed, "screen_closed", d.screen_closed)?,
        };
        for (v, raw, name) in [
            (p.active_interval, &s.active_interval, "active_interval"),
            (p.idle_interval, &s.idle_interval, "idle_interval"),
        ] {
            if v < Duration::from_millis(10) {
                return Err(at.err(at.at(raw.as_ref()), name, "must be at least 10ms"));
            }
        }
        if p.screen_open.is_zero() != p.screen_closed.is_zero() {
            let place = s
                .screen_open
                .as_ref()
                .or(s.screen_closed.as_ref())
                .map_or(0, |s| s.span().start);
            return Err(at.err(
                place,
                "screen_open",
                "screen_open and screen_closed go together (both zero: the screen stays open)",
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

    fn poller(&self, since_origin: Duration) -> Option<Box<dyn Polling>> {
        Some(Box::new(DesignPoller::new(self.clone(), since_origin)))
    }

    fn screen(&self) -> Option<ScreenTimes> {
        (!self.screen_open.is_zero()).then_some(ScreenTimes {
            open_mean: self.screen_open,
            closed_mean: self.screen_closed,
        })
    }

    fn rates(&self, lambda: f64) -> Rates {
        self.rates_with(lambda, 0.0, 0.0, false, "get_messages")
    }

    fn startup_polls(&self, seconds: f64, steady: f64) -> f64 {
        self.polls_over(seconds, steady)
    }
}

/// The design's model: `active_interval` while the chat is active (a message
/// sent or received within `idle_after`), `idle_interval` after that.
/// `now` is any monotonic clock, as time since a common origin.
#[derive(Debug, Clone)]
pub struct DesignPoller {
    p: PollerDesign,
    last_activity: Duration,
}

impl DesignPoller {
    /// A chat just opened counts as activity.
    pub fn new(p: PollerDesign, now: Duration) -> Self {
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
    pub(crate) fn on_open(&mut self, now: Duration) {
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

impl Polling for DesignPoller {
    fn after_poll(&mut self, now: Duration, outcome: PollOutcome) -> Duration {
        DesignPoller::after_poll(self, now, outcome)
    }
    fn after_send(&mut self, now: Duration) -> Duration {
        DesignPoller::after_send(self, now)
    }
    fn on_open(&mut self, now: Duration) {
        DesignPoller::on_open(self, now)
    }
    fn initial_limit(&self) -> Option<u32> {
        None
    }
    fn is_mobile(&self) -> bool {
        false
    }
}

/// The arithmetic of the design's polling (`capacity`'s model): 500 ms
/// while active (a message in the last 10 s), 3,000 ms otherwise, nothing
/// while the chat screen is closed. Message arrivals in a chat are a
/// Poisson process of rate `lambda` (messages per second, all senders).
impl PollerDesign {
    /// Fraction of the time the chat screen is open, and the mean length of
    /// an open period (0 for a screen that stays open).
    fn screen_share(&self) -> (f64, f64) {
        let open = self.screen_open.as_secs_f64();
        let closed = self.screen_closed.as_secs_f64();
        let toggles = open > 0.0 && closed > 0.0;
        (
            if toggles { open / (open + closed) } else { 1.0 },
            if toggles { open } else { 0.0 },
        )
    }

    /// Probability that the poller is active: some activity (a message, an
    /// own send at `sends` per second, or the screen opening, open periods
    /// lasting `open_mean_s` on average; 0 for a screen that stays open) in
    /// the last `idle_after`.
    pub(crate) fn active_fraction(&self, lambda: f64, sends: f64, open_mean_s: f64) -> f64 {
        let idle_after_s = self.idle_after.as_secs_f64();
        let events = (lambda + sends).max(0.0);
        let quiet = (-events * idle_after_s).exp();
        // An open period of exponential length T starts active for min(idle_after, T).
        let quiet_open = if open_mean_s > 0.0 {
            (-idle_after_s / open_mean_s).exp()
        } else {
            1.0
        };
        1.0 - quiet * quiet_open
    }

    /// Mean get_messages per second of one user in steady state, with own
    /// sends at `sends` per second and open periods of `open_mean_s`.
    pub(crate) fn polls_per_second_with(&self, lambda: f64, sends: f64, open_mean_s: f64) -> f64 {
        let a = self.active_fraction(lambda, sends, open_mean_s);
        self.screen_share().0
            * (a / self.active_interval.as_secs_f64()
                + (1.0 - a) / self.idle_interval.as_secs_f64())
    }

    /// Polls in the first `seconds` after the screen opens (active for
    /// `idle_after`, then the steady rate).
    pub(crate) fn polls_over(&self, seconds: f64, steady: f64) -> f64 {
        let warm = seconds.min(self.idle_after.as_secs_f64());
        warm / self.active_interval.as_secs_f64() + (seconds - warm).max(0.0) * steady
    }

    /// The highest rate it ever reaches (while active).
    pub(crate) fn peak_polls_per_second(&self) -> f64 {
        1.0 / self.active_interval.as_secs_f64()
    }

    /// Its rates, polling with own sends at `sends` per second and `other`
    /// requests per second besides.
    pub(crate) fn rates_with(
        &self,
        lambda: f64,
        sends: f64,
        other: f64,
        other_is_sends: bool,
        what: &'static str,
    ) -> Rates {
        Rates {
            idle: self.polls_per_second_with(0.0, 0.0, 0.0),
            peak: self.peak_polls_per_second(),
            steady: self.polls_per_second_with(lambda, sends, self.screen_share().1),
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
    fn design_is_active_then_idle_after_ten_seconds() {
        let mut p = DesignPoller::new(PollerDesign::default(), ms(0));
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
    fn design_rates_match_the_design_table() {
        let p = PollerDesign::default();
        assert!(close(p.polls_per_second_with(0.0, 0.0, 0.0), 1.0 / 3.0));
        assert!(close(p.peak_polls_per_second(), 2.0));
        // A busy chat is nearly always active.
        assert!(p.polls_per_second_with(10.0, 0.0, 0.0) > 1.99);
        // A screen open half the time, for 10 minutes at a stretch.
        let half_open = PollerDesign {
            screen_open: Duration::from_secs(600),
            screen_closed: Duration::from_secs(600),
            ..p.clone()
        };
        assert!(close(half_open.rates(0.0).idle, 1.0 / 6.0));
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
}
