//! The result of `chat-harness capacity`: a versioned model, written as
//! `capacity.json`; its console and Markdown renderings are in `text.rs`,
//! its chart in `chart.rs`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::CapacityConfig;
use super::model::Headroom;
use crate::load::summary::LoadSummary;
use crate::load::summary::SloResult;

/// Bumped on any incompatible change of `capacity.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `capacity.json`, as shipped in the repository.
pub const SCHEMA: &str = include_str!("capacity.schema.json");

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CapacityReport {
    /// Version of this format.
    pub schema_version: u32,
    /// `chat-harness <version>`.
    pub tool: String,
    /// The scenario whose mix was stepped.
    pub scenario: String,
    /// `embedded` or the target's URL.
    pub target: String,
    /// When the run started (UTC, RFC 3339).
    pub started_at: String,
    /// Wall time so far, seconds.
    pub duration_s: f64,
    /// True when a step was interrupted (Ctrl-C).
    pub interrupted: bool,
    /// Why stepping ended, in words.
    pub stopped_because: String,
    /// The objectives each step was judged by.
    pub slos: Vec<String>,
    /// The planned user counts.
    pub planned_steps: Vec<u32>,
    /// Ramp and hold of each step, seconds.
    pub ramp_s: f64,
    pub hold_s: f64,
    /// Each step run, in order.
    pub steps: Vec<StepReport>,
    /// The largest step at which every SLO held.
    pub knee: Option<Knee>,
    /// The first step at which an SLO broke, and which.
    pub first_break: Option<Break>,
    /// The arithmetic of the mix.
    pub model: ModelReport,
}

/// The largest user count that held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knee {
    pub users: u32,
    pub requests_per_second: f64,
    pub delivery_p99_ms: f64,
    pub latency_p99_ms: f64,
}

/// Where an SLO first broke.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Break {
    pub users: u32,
    /// The objective, as given (e.g. `delivery.p99<1s`).
    pub slo: String,
    /// What was measured instead, in words.
    pub measured: String,
}

/// One step's measurements.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepReport {
    pub users: u32,
    /// Every SLO held (and the step ran to its end).
    pub held: bool,
    /// Each SLO's verdict at this step.
    pub slo: Vec<SloResult>,
    /// Mean requests per second over the hold phase (all users running).
    pub requests_per_second: f64,
    /// Over the whole step, ramp and grace period included.
    pub requests_per_second_whole_run: f64,
    /// What the model predicts for this step (start-up polls included).
    pub predicted_requests_per_second: f64,
    pub requests: u64,
    pub errors: u64,
    /// Refusals of users that were not probing limits (a capacity finding).
    pub refused_unexpected: u64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub delivery_p50_ms: f64,
    pub delivery_p99_ms: f64,
    pub delivered: u64,
    pub lost: u64,
    /// Why the step ended before its time, if it did.
    pub stopped_early: Option<String>,
    /// The step's own load report folder.
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonaModel {
    pub kind: String,
    /// Its share of the users.
    pub share: f64,
    /// get_messages per second when its chat is quiet.
    pub polls_per_second_idle: f64,
    /// get_messages per second at its fastest.
    pub polls_per_second_peak: f64,
    /// get_messages per second at the mix's message rate.
    pub polls_per_second_expected: f64,
    /// Sends, reader rounds or prober bursts per second.
    pub other_requests_per_second: f64,
    /// All requests per second of one user.
    pub requests_per_second: f64,
    /// What its requests are.
    pub what: String,
    /// One device at peak against the get_messages limit.
    pub headroom: Option<Headroom>,
}

/// The arithmetic of the mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelReport {
    /// Messages per second in one chat, as the mix implies.
    pub messages_per_chat_per_second: f64,
    /// Requests per second of the average user of the mix.
    pub requests_per_user: f64,
    pub personas: Vec<PersonaModel>,
    /// What the model assumes.
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
