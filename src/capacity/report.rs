//! The result of `chat-harness capacity`: a versioned model, written as
//! `capacity.json`; its console and Markdown renderings are in `text.rs`,
//! its chart in `chart.rs`.

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::CapacityConfig;
use super::model::Headroom;
use crate::load::persona::PersonaKind;
use crate::load::summary::LoadSummary;
use crate::load::summary::SloResult;

/// Bumped on any incompatible change of `capacity.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `capacity.json`, as shipped in the repository
/// (generated from [`CapacityReport`] by `report::schema::generate`).
pub const SCHEMA: &str = include_str!("capacity.schema.json");

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "chat-harness capacity report",
    description = "capacity.json written by `chat-harness capacity --report DIR` (schema_version 1), rewritten after every step: the steps run, the knee, and the arithmetic of the scenario's mix. Each step's own load report (summary.json) is in its step folder.",
    extend("$id" = "https://github.com/chat-harness/chat-harness/capacity.schema.json")
)]
pub struct CapacityReport {
    /// Version of this format, bumped on any incompatible change.
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// The program that wrote the file: `chat-harness <version>`.
    #[schemars(pattern("^chat-harness "))]
    pub tool: String,
    /// The name of the scenario whose mix was stepped.
    pub scenario: String,
    /// `embedded` for the embedded reference server, or the target's URL.
    pub target: String,
    /// When the run started (UTC, RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// Wall time so far, seconds.
    #[schemars(range(min = 0))]
    pub duration_s: f64,
    /// True when a signal (Ctrl-C, SIGTERM) stopped the run, during a step
    /// or between two.
    pub interrupted: bool,
    /// Why stepping ended, in words (empty in the report rewritten after a
    /// step while stepping goes on).
    pub stopped_because: String,
    /// The objectives each step was judged by, as given with `--slo`.
    #[schemars(length(min = 1))]
    pub slos: Vec<String>,
    /// The planned user counts, rising.
    #[schemars(length(min = 1), inner(range(min = 1)))]
    pub planned_steps: Vec<u32>,
    /// Ramp of each step, seconds.
    #[schemars(range(min = 0))]
    pub ramp_s: f64,
    /// Hold of each step at full load, seconds.
    #[schemars(range(min = 0))]
    pub hold_s: f64,
    /// Each step run, in order (an interrupted step included).
    pub steps: Vec<StepReport>,
    /// The largest step at which every SLO held; null when none did.
    pub knee: Option<Knee>,
    /// The first step that ran to its end with an SLO broken, and which;
    /// null when none broke.
    pub first_break: Option<Break>,
    /// The arithmetic of the mix: requests per second per user for each
    /// persona in steady state, at the message rate the mix implies.
    pub model: ModelReport,
}

/// The largest user count that held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Knee {
    /// Its user count.
    #[schemars(range(min = 1))]
    pub users: u32,
    /// Its mean requests per second over the hold phase.
    #[schemars(range(min = 0))]
    pub requests_per_second: f64,
    /// Its delivery latency p99, ms.
    #[schemars(range(min = 0))]
    pub delivery_p99_ms: f64,
    /// Its request latency p99, ms.
    #[schemars(range(min = 0))]
    pub latency_p99_ms: f64,
}

/// Where an SLO first broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Break {
    /// Its user count.
    #[schemars(range(min = 1))]
    pub users: u32,
    /// The first objective that broke, as given (e.g. `delivery.p99<1s`).
    pub slo: String,
    /// What was measured instead, in words.
    pub measured: String,
}

/// One step's measurements (a full load run).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepReport {
    /// Users of this step.
    #[schemars(range(min = 1))]
    pub users: u32,
    /// Every SLO held and the step ran to its end.
    pub held: bool,
    /// Each SLO's verdict at this step.
    pub slo: Vec<SloResult>,
    /// Mean requests per second over the hold phase (all users running).
    #[schemars(range(min = 0))]
    pub requests_per_second: f64,
    /// Mean requests per second over the whole step, ramp and grace period
    /// included.
    #[schemars(range(min = 0))]
    pub requests_per_second_whole_run: f64,
    /// What the model predicts over the hold phase (start-up polls included).
    #[schemars(range(min = 0))]
    pub predicted_requests_per_second: f64,
    /// Requests made.
    pub requests: u64,
    /// Requests that failed.
    pub errors: u64,
    /// Refusals of users that were not probing limits (a capacity finding).
    pub refused_unexpected: u64,
    /// Request latency median, ms.
    #[schemars(range(min = 0))]
    pub latency_p50_ms: f64,
    /// Request latency p99, ms.
    #[schemars(range(min = 0))]
    pub latency_p99_ms: f64,
    /// Delivery latency median, ms.
    #[schemars(range(min = 0))]
    pub delivery_p50_ms: f64,
    /// Delivery latency p99, ms.
    #[schemars(range(min = 0))]
    pub delivery_p99_ms: f64,
    /// (message, recipient) pairs delivered.
    pub delivered: u64,
    /// Pairs lost by the server.
    pub lost: u64,
    /// Why the step ended before its time (a signal: the text contains
    /// `interrupted`), or null.
    pub stopped_early: Option<String>,
    /// The step's own load report folder (summary.json and the rest).
    pub report_dir: String,
}

impl StepReport {
    pub fn from_summary(
        users: u32,
        s: &LoadSummary,
        dir: &Path,
        predicted_rps: f64,
        ramp: std::time::Duration,
        hold: std::time::Duration,
    ) -> StepReport {
        let ms = |us: u64| us as f64 / 1000.0;
        // The hold phase only: the ramp is partial load, and in the grace
        // period every chat opens so that loss can be judged.
        let from = ramp.as_secs_f64().ceil() as u32;
        let to = (ramp + hold).as_secs_f64().floor() as u32;
        let held_ticks: Vec<_> = s
            .timeline
            .iter()
            .filter(|t| t.t >= from && t.t < to)
            .collect();
        let hold_rps = if held_ticks.is_empty() {
            s.requests.per_second
        } else {
            held_ticks.iter().map(|t| t.requests as f64).sum::<f64>() / held_ticks.len() as f64
        };
        let d = &s.delivery;
        StepReport {
            users,
            held: s.stopped_early.is_none() && s.slo.iter().all(|r| r.held),
            slo: s.slo.clone(),
            requests_per_second: hold_rps,
            requests_per_second_whole_run: s.requests.per_second,
            predicted_requests_per_second: predicted_rps,
            requests: s.requests.total,
            errors: s.requests.errors,
            refused_unexpected: s.requests.refused_unexpected,
            latency_p50_ms: ms(s.requests.latency.p50_us),
            latency_p99_ms: ms(s.requests.latency.p99_us),
            delivery_p50_ms: ms(d.latency.p50_us),
            delivery_p99_ms: ms(d.latency.p99_us),
            delivered: d.counts.delivered,
            lost: d.counts.lost,
            stopped_early: s.stopped_early.clone(),
            report_dir: dir.display().to_string(),
        }
    }

    /// One progress line.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} users: {} · {:.0} req/s (model {:.0}) · latency p99 {:.1} ms · delivery p99 {:.0} ms · {} lost · {} errors{}",
            self.users,
            if self.held { "held" } else { "BROKE" },
            self.requests_per_second,
            self.predicted_requests_per_second,
            self.latency_p99_ms,
            self.delivery_p99_ms,
            self.lost,
            self.errors,
            self.slo
                .iter()
                .filter(|r| !r.held)
                .map(|r| format!(" · {} broke ({})", r.slo, r.measured_text))
                .collect::<String>()
        )
    }
}

/// The model of one persona.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PersonaModel {
    /// The persona kind.
    #[schemars(with = "PersonaKind")]
    pub kind: String,
    /// Its share of the users (0 to 1).
    #[schemars(range(min = 0, max = 1))]
    pub share: f64,
    /// get_messages per second of one user when its chat is quiet.
    #[schemars(range(min = 0))]
    pub polls_per_second_idle: f64,
    /// get_messages per second of one user at its fastest.
    #[schemars(range(min = 0))]
    pub polls_per_second_peak: f64,
    /// get_messages per second of one user at the mix's message rate.
    #[schemars(range(min = 0))]
    pub polls_per_second_expected: f64,
    /// Sends, reader rounds or prober bursts per second of one user.
    #[schemars(range(min = 0))]
    pub other_requests_per_second: f64,
    /// All requests per second of one user.
    #[schemars(range(min = 0))]
    pub requests_per_second: f64,
    /// What its requests are, in words.
    pub what: String,
    /// One device polling at peak against the get_messages limit; null for
    /// personas that do not poll.
    pub headroom: Option<Headroom>,
}

/// The arithmetic of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelReport {
    /// Messages per second in one chat, as the mix implies.
    #[schemars(range(min = 0))]
    pub messages_per_chat_per_second: f64,
    /// Requests per second of the average user of the mix.
    #[schemars(range(min = 0))]
    pub requests_per_user: f64,
    /// One entry per persona of the scenario, in its order.
    pub personas: Vec<PersonaModel>,
    /// What the model assumes, in words.
    pub assumptions: String,
}

impl CapacityReport {
    pub fn new(cfg: &CapacityConfig, model: ModelReport) -> CapacityReport {
        CapacityReport {
            schema_version: SCHEMA_VERSION,
            tool: format!("chat-harness {}", env!("CARGO_PKG_VERSION")),
            scenario: cfg.scenario.name.clone(),
            target: cfg.target.clone().unwrap_or_else(|| "embedded".into()),
            started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            duration_s: 0.0,
            interrupted: false,
            stopped_because: String::new(),
            slos: cfg.slos.iter().map(|s| s.to_string()).collect(),
            planned_steps: cfg.steps.clone(),
            ramp_s: cfg.ramp.as_secs_f64(),
            hold_s: cfg.hold.as_secs_f64(),
            steps: Vec::new(),
            knee: None,
            first_break: None,
            model,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The chart's snapshot test stays here: its snapshot is named after this module.
    use crate::capacity::chart::chart;
    use crate::load::chart::tests::texts;

    fn step(users: u32, held: bool, delivery_p99_ms: f64, rps: f64) -> StepReport {
        StepReport {
            users,
            held,
            slo: Vec::new(),
            requests_per_second: rps,
            requests_per_second_whole_run: rps,
            predicted_requests_per_second: users as f64 * 3.8,
            requests: 1000,
            errors: 0,
            refused_unexpected: 0,
            latency_p50_ms: 0.4,
            latency_p99_ms: 1.5,
            delivery_p50_ms: delivery_p99_ms / 3.0,
            delivery_p99_ms,
            delivered: 100,
            lost: 0,
            stopped_early: None,
            report_dir: format!("step-{users:06}"),
        }
    }

    fn report(steps: Vec<StepReport>) -> CapacityReport {
        let held: Vec<&StepReport> = steps.iter().filter(|s| s.held).collect();
        let knee = held.last().map(|s| Knee {
            users: s.users,
            requests_per_second: s.requests_per_second,
            delivery_p99_ms: s.delivery_p99_ms,
            latency_p99_ms: s.latency_p99_ms,
        });
        let first_break = steps.iter().find(|s| !s.held).map(|s| Break {
            users: s.users,
            slo: "delivery.p99<3s".into(),
            measured: format!("{} ms", s.delivery_p99_ms),
        });
        CapacityReport {
            schema_version: SCHEMA_VERSION,
            tool: "chat-harness test".into(),
            scenario: "smoke".into(),
            target: "embedded".into(),
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_s: 30.0,
            interrupted: false,
            stopped_because: "test".into(),
            slos: vec!["delivery.p99<3s".into(), "errors<1%".into()],
            planned_steps: steps.iter().map(|s| s.users).collect(),
            ramp_s: 1.0,
            hold_s: 2.0,
            steps,
            knee,
            first_break,
            model: ModelReport {
                messages_per_chat_per_second: 1.4,
                requests_per_user: 3.8,
                personas: Vec::new(),
                assumptions: "test".into(),
            },
        }
    }

    #[test]
    fn chart_marks_the_knee_only_when_a_step_broke() {
        let broke = report(vec![
            step(4, true, 480.0, 15.0),
            step(8, true, 900.0, 30.0),
            step(12, false, 3400.0, 41.0),
        ]);
        let svg = chart(&broke);
        let t = texts(&svg);
        for want in [
            "smoke on embedded: users against delivery p99 and req/s",
            "users",
            "delivery p99 (ms)",
            "requests per second",
            "SLO delivery.p99<3s",
            "knee: 8 users",
            "3000 ms",
        ] {
            assert!(t.iter().any(|s| s == want), "{want:?} not in {t:?}");
        }
        insta::assert_snapshot!(svg);

        // Every step held: the knee is above the largest step, not at it.
        let held = report(vec![step(4, true, 480.0, 15.0), step(8, true, 490.0, 30.0)]);
        let t = texts(&chart(&held));
        assert!(!t.iter().any(|s| s.starts_with("knee")), "{t:?}");
        assert!(t.iter().any(|s| s == "SLO delivery.p99<3s"), "{t:?}");
    }
}
