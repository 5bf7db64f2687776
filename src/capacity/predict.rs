//! What the polling models predict for a scenario's mix: each persona's
//! requests per second at the message rate the mix implies
//! ([`model_report`]), and the requests per second of a step's hold phase
//! with every user's start-up polls ([`predicted_rps`]).

use std::time::Duration;

use super::model;
use super::report::{ModelReport, PersonaModel};
use crate::contract::{Endpoint, LimitsTable};
use crate::load::persona::kind::Rates;
use crate::load::persona::Persona;
use crate::load::scenario::Scenario;

/// Requests of one user of `persona` living `life` seconds, sending for
/// `sending` of them, `r` being its rates.
fn requests_over(persona: &Persona, r: &Rates, life: f64, sending: f64) -> f64 {
    let polls = persona.startup_polls(life, r.steady);
    polls + r.other * if r.other_is_sends { sending } else { life }
}

/// Messages per second in one chat: the cell's chatters' sends spread evenly
/// over the cell's chats (an assumption, stated in the report).
fn message_rate(s: &Scenario) -> f64 {
    let total: u32 = s.personas.iter().map(|p| p.weight).sum::<u32>().max(1);
    let sends_per_user: f64 = s
        .personas
        .iter()
        .map(|p| match p.persona.sends() {
            Some(sends) => p.weight as f64 / total as f64 / sends.every.as_secs_f64().max(1e-3),
            None => 0.0,
        })
        .sum();
    let chats_per_cell = (s.topology.direct_per_cell + s.topology.groups_per_cell).max(1) as f64;
    sends_per_user * s.topology.cell_size as f64 / chats_per_cell
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
            let r = p.persona.rates(lambda);
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
            let r = p.persona.rates(lambda);
            let mean: f64 = (0..STARTS)
                .map(|i| {
                    let start = ramp * (i as f64 + 0.5) / STARTS as f64;
                    let (a, b) = (ramp - start, ramp + hold - start);
                    requests_over(&p.persona, &r, b, b) - requests_over(&p.persona, &r, a, a)
                })
                .sum::<f64>()
                / STARTS as f64;
            p.weight as f64 / total as f64 * mean
        })
        .sum();
    users as f64 * per_user / hold
}
