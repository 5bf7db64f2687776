//! What every persona provides ([`Kind`]) and the types its methods speak
//! in: how its chats are polled ([`Polling`], [`PollOutcome`]), what it
//! sends ([`Sends`]), what one iteration is ([`Iteration`]), what its steps
//! may do as their user ([`Actor`]) and the request rates `capacity` predicts
//! from its parameters ([`Rates`]). No clock and no I/O here.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use rand::Rng;
use serde::de::DeserializeOwned;
use toml::Spanned;

use crate::contract::Endpoint;
use crate::input::{InputError, Source};
use crate::load::transport::Answer;

/// A persona: its parameters, resolved from its typed section of a scenario
/// file, and what its users do with them. Each persona is one file of
/// `persona/` implementing this, plus one line in the registry (`mod.rs`).
pub(crate) trait Kind: Sized {
    /// Its parameters as the scenario file gives them (every one optional,
    /// spanned so that errors point at them; `kind` and `weight` are read
    /// before, and parameters of other personas are refused before).
    type Section: DeserializeOwned;

    /// Validates the section and fills in every default.
    fn resolve(section: Self::Section, at: &Params<'_>) -> Result<Self, InputError>;

    /// Whether its users poll their chats (and so are expected to receive
    /// every message sent to them).
    fn polls(&self) -> bool;

    /// What one iteration of an `iterations` run is.
    fn iteration(&self) -> Iteration;

    /// The poller of each of its user's chats, `since_origin` being the time
    /// since the run's origin; None: it does not poll.
    fn poller(&self, _since_origin: Duration) -> Option<Box<dyn Polling>> {
        None
    }

    /// How its chat screen opens and closes; None: always open.
    fn screen(&self) -> Option<ScreenTimes> {
        None
    }

    /// What it sends to the chat on screen; None: it sends nothing.
    fn sends(&self) -> Option<Sends> {
        None
    }

    /// Time between the starts of two of its rounds; None: no rounds.
    fn round_every(&self) -> Option<Duration> {
        None
    }

    /// One round (see [`Kind::round_every`]) as `user`; `chat` is the
    /// server id of the user's first chat.
    fn round<U: Actor>(
        &self,
        _user: &mut U,
        _chat: Option<&str>,
    ) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Its steady-state request rates when messages arrive in a chat at
    /// `lambda` per second.
    fn rates(&self, lambda: f64) -> Rates;

    /// get_messages in the first `seconds` after its screen opens, given
    /// its `steady` rate after that.
    fn startup_polls(&self, _seconds: f64, _steady: f64) -> f64 {
        0.0
    }
}

/// What one iteration of a persona is (see `Persona`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Iteration {
    /// One get_messages (a poll, whatever its answer).
    Poll,
    /// One send_message (whatever its answer); its polls are not counted.
    Send,
    /// One round (a prober's burst, a reader's round).
    Round,
}

/// What a persona sends.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sends {
    /// Mean time between two messages of one user (exponential).
    pub(crate) every: Duration,
    /// Length of a message's content (the unique id included).
    pub(crate) content_bytes: u32,
}

/// What a persona's step may do as its user (`behaviour.rs` implements it).
pub(crate) trait Actor: Send {
    /// One request as this user, counted in the run's statistics;
    /// `prober`: a refusal is what it looks for.
    fn request(
        &mut self,
        endpoint: Endpoint,
        params: &[(&'static str, &str)],
        prober: bool,
    ) -> impl Future<Output = Answer> + Send;

    /// Whether the run is over (stopped, or past its end).
    fn over(&self) -> bool;
}

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

/// A chat's poller: given what the last poll brought (or a send), how long
/// to wait before the next poll. `now` is any monotonic clock, as time
/// since a common origin.
pub(crate) trait Polling: Debug + Send {
    /// The wait after a poll that ended at `now`.
    fn after_poll(&mut self, now: Duration, outcome: PollOutcome) -> Duration;
    /// The wait after an own send answered at `now`.
    fn after_send(&mut self, now: Duration) -> Duration;
    /// The screen reopened at `now`.
    fn on_open(&mut self, _now: Duration) {}
    /// `limit` of the first get_messages on opening a chat (no `after`).
    fn initial_limit(&self) -> Option<u32>;
    /// Whether it behaves as the reference mobile client: ISO `after`
    /// cursors, and the cursor jumps to its own sends.
    fn is_mobile(&self) -> bool;
}

/// An exponential wait with the given mean (Poisson arrivals), capped at 10x
/// the mean so that one draw cannot stall a short run.
pub(crate) fn exponential(rng: &mut impl Rng, mean: Duration) -> Duration {
    if mean.is_zero() {
        return Duration::ZERO;
    }
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    mean.mul_f64((-u.ln()).min(10.0))
}

/// Opening and closing of a chat screen (design model): exponential open
/// and closed times.
#[derive(Debug, Clone)]
pub(crate) struct ScreenTimes {
    pub(crate) open_mean: Duration,
    pub(crate) closed_mean: Duration,
}

impl ScreenTimes {
    pub(crate) fn open_for(&self, rng: &mut impl Rng) -> Duration {
        exponential(rng, self.open_mean)
    }
    pub(crate) fn closed_for(&self, rng: &mut impl Rng) -> Duration {
        exponential(rng, self.closed_mean)
    }
}

/// One persona's rates under the mix's message rate (`capacity`'s model).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Rates {
    pub(crate) idle: f64,
    pub(crate) peak: f64,
    /// get_messages per second in steady state.
    pub(crate) steady: f64,
    /// Other requests per second (sends, reader rounds, prober bursts).
    pub(crate) other: f64,
    /// Whether `other` stops with the sends at the start of the grace period.
    pub(crate) other_is_sends: bool,
    pub(crate) what: &'static str,
}

impl Rates {
    /// A persona that does not poll.
    pub(crate) fn other(other: f64, other_is_sends: bool, what: &'static str) -> Rates {
        Rates {
            idle: 0.0,
            peak: 0.0,
            steady: 0.0,
            other,
            other_is_sends,
            what,
        }
    }
}

/// Where a persona's parameters are, for its errors: `persona[i].field`,
/// at the parameter's value or else at the persona's `kind`.
pub(crate) struct Params<'a> {
    pub(crate) source: &'a Source<'a>,
    pub(crate) index: usize,
    /// Where the persona's `kind` is.
    pub(crate) kind_at: usize,
}

impl Params<'_> {
    /// `persona[i].name`.
    pub(crate) fn field(&self, name: &str) -> String {
        format!("persona[{}].{name}", self.index)
    }

    pub(crate) fn err(
        &self,
        offset: usize,
        name: &str,
        message: impl std::fmt::Display,
    ) -> InputError {
        self.source.err(offset, &self.field(name), message)
    }

    /// Where a parameter is: its value, or the persona's `kind` when absent.
    pub(crate) fn at<T>(&self, v: Option<&Spanned<T>>) -> usize {
        v.map_or(self.kind_at, |v| v.span().start)
    }

    pub(crate) fn duration(
        &self,
        v: &Option<Spanned<String>>,
        name: &str,
        default: Duration,
    ) -> Result<Duration, InputError> {
        self.source.opt_duration(v, &self.field(name), default)
    }

    pub(crate) fn int(
        &self,
        v: &Option<Spanned<i64>>,
        name: &str,
        lo: i64,
        hi: i64,
        default: u32,
    ) -> Result<u32, InputError> {
        self.source.opt_int(v, &self.field(name), lo, hi, default)
    }
}

/// Durations as milliseconds in the resolved form.
pub(crate) mod ms {
    use serde::Serializer;
    use std::time::Duration;
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
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
    fn exponential_draws_have_the_mean_and_a_cap() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let n = 20_000;
        let total: Duration = (0..n).map(|_| exponential(&mut rng, ms(100))).sum();
        let mean = total.as_secs_f64() / n as f64;
        assert!((0.09..0.11).contains(&mean), "{mean}");
        assert!((0..1000).all(|_| exponential(&mut rng, ms(100)) <= ms(1000)));
    }
}
