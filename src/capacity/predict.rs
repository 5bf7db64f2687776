//! What the polling models (`model.rs`) predict for a scenario's mix: each
//! persona's requests per second at the message rate the mix implies
//! ([`model_report`]), and the requests per second of a step's hold phase
//! with every user's start-up polls ([`predicted_rps`]).

use std::time::Duration;

use super::model;
use super::report::{ModelReport, PersonaModel};
use crate::contract::{Endpoint, LimitsTable};
use crate::load::scenario::{Model, Persona, Scenario};

/// One persona's rates under the mix's message rate.
struct Rates {
    idle: f64,
    peak: f64,
    /// get_messages per second in steady state.
    steady: f64,
    /// Other requests per second (sends, reader rounds, prober bursts).
    other: f64,
    /// Whether `other` stops with the sends at the start of the grace period.
    other_is_sends: bool,
    startup: Startup,
    what: &'static str,
}

enum Startup {
    Design(model::DesignPoller),
    Mobile(model::MobilePoller),
    None,
}

impl Rates {
    /// Requests of one user living `life` seconds, sending for `sending` of them.
    fn requests_over(&self, life: f64, sending: f64) -> f64 {
        let polls = match &self.startup {
            Startup::Design(d) => d.polls_over(life, self.steady),
            // The initial get_messages?limit=50 on open, then the backoff.
            Startup::Mobile(m) => 1.0 + m.polls_over(life, self.steady),
            Startup::None => 0.0,
        };
        polls + self.other * if self.other_is_sends { sending } else { life }
    }
}

/// Messages per second in one chat: the cell's chatters' sends spread evenly
/// over the cell's chats (an assumption, stated in the report).
fn message_rate(s: &Scenario) -> f64 {
    let total: u32 = s.personas.iter().map(|p| p.weight).sum::<u32>().max(1);
    let sends_per_user: f64 = s
        .personas
        .iter()
        .map(|p| match &p.persona {
            Persona::Chatter(c) => {
                p.weight as f64 / total as f64 / c.send_every.as_secs_f64().max(1e-3)
            }
            _ => 0.0,
        })
        .sum();
    let chats_per_cell = (s.topology.direct_per_cell + s.topology.groups_per_cell).max(1) as f64;
    sends_per_user * s.topology.cell_size as f64 / chats_per_cell
}

fn rates(p: &Persona, lambda: f64) -> Rates {
    use crate::load::scenario::{DesignParams, MobileParams};
    let design = |d: &DesignParams| {
        let open = d.screen_open.as_secs_f64();
        let closed = d.screen_closed.as_secs_f64();
        let toggles = open > 0.0 && closed > 0.0;
        (
            model::DesignPoller {
                active_interval_s: d.active_interval.as_secs_f64(),
                idle_interval_s: d.idle_interval.as_secs_f64(),
                idle_after_s: d.idle_after.as_secs_f64(),
                screen_open: if toggles { open / (open + closed) } else { 1.0 },
            },
            if toggles { open } else { 0.0 },
        )
    };
    let mobile = |m: &MobileParams| model::MobilePoller {
        min_interval_s: m.min_interval.as_secs_f64(),
        max_interval_s: m.max_interval.as_secs_f64(),
        backoff: m.backoff,
    };
    let polling = |d: (model::DesignPoller, f64), sends: f64, other: f64, is_sends: bool, what| {
        let (m, open_mean) = d;
        Rates {
            idle: m.polls_per_second(0.0),
            peak: m.peak_polls_per_second(),
            steady: m.polls_per_second_with(lambda, sends, open_mean),
            other,
            other_is_sends: is_sends,
            startup: Startup::Design(m),
            what,
        }
    };
    let mobile_rates = |m: model::MobilePoller, other: f64, is_sends: bool, what| Rates {
        idle: m.polls_per_second(0.0),
        peak: 1.0 / m.min_interval_s,
        steady: m.polls_per_second(lambda),
        other,
        other_is_sends: is_sends,
        startup: Startup::Mobile(m),
        what,
    };
    let other = |other: f64, is_sends: bool, what| Rates {
        idle: 0.0,
        peak: 0.0,
        steady: 0.0,
        other,
        other_is_sends: is_sends,
        startup: Startup::None,
        what,
    };
    match p {
        Persona::PollerDesign(d) => polling(design(d), 0.0, 0.0, false, "get_messages"),
        Persona::PollerMobile(m) => mobile_rates(mobile(m), 0.0, false, "get_messages"),
        Persona::Chatter(c) => {
            let sends = 1.0 / c.send_every.as_secs_f64().max(1e-3);
            match c.model {
                Model::Design => polling(
                    design(&DesignParams::default()),
                    sends,
                    sends,
                    true,
                    "get_messages and send_message",
                ),
                Model::Mobile => mobile_rates(
                    mobile(&MobileParams::default()),
                    sends,
                    true,
                    "get_messages and send_message",
                ),
            }
        }
        Persona::Reader(r) => other(
            3.0 / r.every.as_secs_f64().max(1e-3),
            false,
            "get_chats, get_chat_participants, mark_as_read",
        ),
        Persona::LimitProber(pr) => other(
            pr.burst as f64 / pr.every.as_secs_f64().max(1e-3),
            false,
            "bursts past a limit",
        ),
    }
}

/// The arithmetic of the scenario's mix: requests per second per user for
/// each persona in steady state, at the message rate the mix implies, and
/// the headroom of one device against the get_messages limit.
pub fn model_report(s: &Scenario, limits: &LimitsTable) -> ModelReport {
    let total: u32 = s.personas.iter().map(|p| p.weight).sum::<u32>().max(1);
    let lambda = message_rate(s);
    let limit = limits.limit(Endpoint::GetMessages).unwrap_or(200);
    let personas: Vec<PersonaModel> = s
        .personas
        .iter()
        .map(|p| {
            let r = rates(&p.persona, lambda);
            PersonaModel {
                kind: p.persona.kind().to_owned(),
                share: p.weight as f64 / total as f64,
                polls_per_second_idle: r.idle,
                polls_per_second_peak: r.peak,
                polls_per_second_expected: r.steady,
                other_requests_per_second: r.other,
                requests_per_second: r.steady + r.other,
                what: r.what.to_owned(),
                headroom: (r.peak > 0.0)
                    .then(|| model::headroom(r.peak, limit, limits.window_seconds)),
            }
        })
        .collect();
    ModelReport {
        messages_per_chat_per_second: lambda,
        requests_per_user: personas.iter().map(|p| p.share * p.requests_per_second).sum(),
        personas,
        assumptions: "messages arrive as a Poisson process, the cell's chatters' sends spread evenly over the cell's chats; a poller polls the one chat on its screen; opening a screen, an own send or a received message makes a design poller active; steady-state rates (a step's prediction adds each user's start-up polls over its lifetime in the step)".into(),
    }
}

/// Requests per second the model predicts over a step's hold phase (the
/// window [ramp, ramp + hold) that the measurement uses too): users start
/// evenly over the ramp, so each is some way into its start-up polls.
pub(crate) fn predicted_rps(s: &Scenario, users: u32, ramp: Duration, hold: Duration) -> f64 {
    let total: u32 = s.personas.iter().map(|p| p.weight).sum::<u32>().max(1);
    let lambda = message_rate(s);
    let (ramp, hold) = (ramp.as_secs_f64(), hold.as_secs_f64());
    if hold <= 0.0 {
        return 0.0;
    }
    // Average over 32 start times spread across the ramp.
    const STARTS: usize = 32;
    let per_user: f64 = s
        .personas
        .iter()
        .map(|p| {
            let r = rates(&p.persona, lambda);
            let mean: f64 = (0..STARTS)
                .map(|i| {
                    let start = ramp * (i as f64 + 0.5) / STARTS as f64;
                    let (a, b) = (ramp - start, ramp + hold - start);
                    r.requests_over(b, b) - r.requests_over(a, a)
                })
                .sum::<f64>()
                / STARTS as f64;
            p.weight as f64 / total as f64 * mean
        })
        .sum();
    users as f64 * per_user / hold
}
