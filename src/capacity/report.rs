//! The result of `chat-harness capacity`: a versioned model, its console and
//! Markdown renderings, and a chart (users against delivery p99 and
//! requests per second, measured and modelled) as a standalone SVG.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::model::Headroom;
use super::CapacityConfig;
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
    pub fn line(&self) -> String {
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

    /// Writes capacity.json, capacity.md and capacity.svg (rewritten after
    /// every step, so an interrupted run leaves what it measured).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let write = |name: &str, bytes: &[u8]| {
            std::fs::write(dir.join(name), bytes)
                .with_context(|| format!("cannot write {}/{name}", dir.display()))
        };
        write("capacity.json", &serde_json::to_vec_pretty(self)?)?;
        write("capacity.md", markdown(self).as_bytes())?;
        write("capacity.svg", chart(self).as_bytes())
    }
}

fn verdict(r: &CapacityReport) -> String {
    match (&r.knee, &r.first_break) {
        (Some(k), Some(b)) => format!(
            "knee: {} users ({:.0} req/s, delivery p99 {:.0} ms); {} broke first, at {} users ({})",
            k.users, k.requests_per_second, k.delivery_p99_ms, b.slo, b.users, b.measured
        ),
        (Some(k), None) => format!(
            "every step held up to {} users ({:.0} req/s): the knee is higher",
            k.users, k.requests_per_second
        ),
        (None, Some(b)) => format!(
            "no step held: {} broke already at {} users ({})",
            b.slo, b.users, b.measured
        ),
        (None, None) => "no step completed".into(),
    }
}

/// The console summary.
pub fn console(r: &CapacityReport) -> String {
    let mut out = String::new();
    for s in &r.steps {
        let _ = writeln!(out, "{}", s.line());
    }
    let _ = writeln!(out, "{}", verdict(r));
    let _ = writeln!(
        out,
        "model: {:.3} req/s per user at {:.3} messages/s per chat ({})",
        r.model.requests_per_user, r.model.messages_per_chat_per_second, r.stopped_because
    );
    out
}

/// `capacity.md`.
pub fn markdown(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Capacity of {} for {}\n", r.target, r.scenario);
    let _ = writeln!(out, "**{}**\n", verdict(r));
    let _ = writeln!(
        out,
        "SLOs: {} · steps {:?} · {:.0} s ramp + {:.0} s hold each · {:.0} s in all · {}{}\n",
        r.slos.join(", "),
        r.planned_steps,
        r.ramp_s,
        r.hold_s,
        r.duration_s,
        r.stopped_because,
        if r.interrupted { " · interrupted" } else { "" }
    );
    let _ = writeln!(
        out,
        "![users against delivery p99 and requests per second](capacity.svg)\n"
    );
    let _ = writeln!(out, "## Steps\n");
    let _ = writeln!(out, "| users | verdict | req/s | model req/s | latency p50 | latency p99 | delivery p50 | delivery p99 | delivered | lost | errors | unexpected refusals |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in &r.steps {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} ms | {} | {} | {} | {} |",
            s.users,
            if s.held { "held" } else { "broke" },
            s.requests_per_second,
            s.predicted_requests_per_second,
            s.latency_p50_ms,
            s.latency_p99_ms,
            s.delivery_p50_ms,
            s.delivery_p99_ms,
            s.delivered,
            s.lost,
            s.errors,
            s.refused_unexpected
        );
    }
    let _ = writeln!(out, "\n## The arithmetic\n");
    let _ = writeln!(
        out,
        "At {:.4} messages per second per chat, the average user of this mix makes **{:.3} requests per second**. Assumes {}.\n",
        r.model.messages_per_chat_per_second, r.model.requests_per_user, r.model.assumptions
    );
    let _ = writeln!(out, "| persona | share | polls/s idle | polls/s peak | polls/s here | other req/s | req/s | get_messages per window at peak | devices before refusal |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for p in &r.model.personas {
        let (per_window, devices) = match &p.headroom {
            Some(h) => (
                format!(
                    "{:.0} of {} ({:.0}%)",
                    h.peak_per_window,
                    h.limit,
                    h.peak_fraction * 100.0
                ),
                h.devices_before_refusal.to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0}% | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {per_window} | {devices} |",
            p.kind,
            p.share * 100.0,
            p.polls_per_second_idle,
            p.polls_per_second_peak,
            p.polls_per_second_expected,
            p.other_requests_per_second,
            p.requests_per_second
        );
    }
    if r.model.personas.iter().any(|p| {
        p.headroom
            .as_ref()
            .is_some_and(|h| h.devices_before_refusal < 2)
    }) {
        let _ = writeln!(
            out,
            "\nA poller at its peak uses more than half the get_messages limit: a user with the chat open on two devices is refused (RL-6 promises only that 60% never is)."
        );
    }
    if let Some(s) = r.steps.last() {
        if s.predicted_requests_per_second > 0.0 {
            let _ = writeln!(
                out,
                "\nMeasured against the model at the last step: {:.0} req/s measured, {:.0} modelled ({:+.0}%).",
                s.requests_per_second,
                s.predicted_requests_per_second,
                (s.requests_per_second / s.predicted_requests_per_second - 1.0) * 100.0
            );
        }
    }
    out
}

/// A two-axis chart: delivery p99 (left, ms; dots filled where every SLO
/// held, hollow where one broke) and requests per second (right, measured
/// solid and modelled dashed) against users, with the `delivery.p99`
/// objective as a line and the knee marked only when one was found (a step
/// held and a later one broke).
pub fn chart(r: &CapacityReport) -> String {
    use crate::load::slo::{Slo, Threshold};
    use crate::report::chart::{self, err, nice_max, number_label, Entry, Mark, BLUE, GREEN, RED};
    use plotters::prelude::*;

    let slo_ms: Option<(f64, &str)> = r.slos.iter().find_map(|t| {
        let s = Slo::parse(t).ok()?;
        match (s.metric.as_str(), s.threshold) {
            ("delivery.p99", Threshold::Duration(us)) => Some((us as f64 / 1000.0, t.as_str())),
            _ => None,
        }
    });
    let knee = match (&r.knee, &r.first_break) {
        (Some(k), Some(_)) => Some(k.users),
        _ => None,
    };
    let max_users = nice_max(r.steps.iter().map(|s| s.users).max().unwrap_or(0) as f64);
    let max_ms = nice_max(
        r.steps
            .iter()
            .map(|s| s.delivery_p99_ms)
            .chain(slo_ms.map(|s| s.0))
            .fold(0.0, f64::max),
    );
    let max_rps = nice_max(
        r.steps
            .iter()
            .map(|s| s.requests_per_second.max(s.predicted_requests_per_second))
            .fold(0.0, f64::max),
    );
    let slo_name = slo_ms.map(|(_, t)| format!("SLO {t}"));
    let knee_name = knee.map(|k| format!("knee: {k} users"));
    let mut legend = vec![
        Entry {
            name: "delivery p99 (left; hollow: an SLO broke)",
            colour: RED,
            mark: Mark::Dot,
        },
        Entry {
            name: "req/s measured (right)",
            colour: BLUE,
            mark: Mark::Line,
        },
        Entry {
            name: "req/s model",
            colour: BLUE,
            mark: Mark::Dashed,
        },
    ];
    if let Some(n) = &slo_name {
        legend.push(Entry {
            name: n,
            colour: RED,
            mark: Mark::Dashed,
        });
    }
    if let Some(n) = &knee_name {
        legend.push(Entry {
            name: n,
            colour: GREEN,
            mark: Mark::Dashed,
        });
    }
    let title = format!(
        "{} on {}: users against delivery p99 and req/s",
        r.scenario, r.target
    );
    chart::svg(&title, &legend, |area| {
        let mut c = ChartBuilder::on(area)
            .margin_left(10)
            .margin_right(10)
            .margin_bottom(6)
            .x_label_area_size(44)
            .y_label_area_size(74)
            .right_y_label_area_size(70)
            .build_cartesian_2d(0f64..max_users, 0f64..max_ms)
            .map_err(err)?
            .set_secondary_coord(0f64..max_users, 0f64..max_rps);
        c.configure_mesh()
            .x_labels(10)
            .y_labels(6)
            .x_label_formatter(&|x| number_label(*x))
            .y_label_formatter(&|y| format!("{} ms", number_label(*y)))
            .x_desc("users")
            .y_desc("delivery p99 (ms)")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .draw()
            .map_err(err)?;
        c.configure_secondary_axes()
            .y_labels(6)
            .y_label_formatter(&|y| number_label(*y))
            .y_desc("requests per second")
            .label_style(("sans-serif", 13))
            .axis_desc_style(("sans-serif", 14))
            .draw()
            .map_err(err)?;
        if let Some((ms, _)) = slo_ms {
            c.draw_series(DashedLineSeries::new(
                [(0.0, ms), (max_users, ms)],
                6,
                4,
                RED.stroke_width(1),
            ))
            .map_err(err)?;
        }
        if let Some(k) = knee {
            c.draw_series(DashedLineSeries::new(
                [(f64::from(k), 0.0), (f64::from(k), max_ms)],
                4,
                4,
                GREEN.stroke_width(2),
            ))
            .map_err(err)?;
        }
        let users = |s: &StepReport| f64::from(s.users);
        c.draw_series(LineSeries::new(
            r.steps.iter().map(|s| (users(s), s.delivery_p99_ms)),
            RED.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_series(r.steps.iter().map(|s| {
            let style = if s.held { RED.filled() } else { WHITE.filled() };
            Circle::new((users(s), s.delivery_p99_ms), 5, style)
        }))
        .map_err(err)?;
        c.draw_series(
            r.steps
                .iter()
                .filter(|s| !s.held)
                .map(|s| Circle::new((users(s), s.delivery_p99_ms), 5, RED.stroke_width(2))),
        )
        .map_err(err)?;
        c.draw_secondary_series(LineSeries::new(
            r.steps.iter().map(|s| (users(s), s.requests_per_second)),
            BLUE.stroke_width(2),
        ))
        .map_err(err)?;
        c.draw_secondary_series(DashedLineSeries::new(
            r.steps
                .iter()
                .map(|s| (users(s), s.predicted_requests_per_second)),
            6,
            4,
            BLUE.stroke_width(2),
        ))
        .map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::tests::texts;

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
