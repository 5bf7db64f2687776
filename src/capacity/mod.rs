//! `chat-harness capacity`: how many users, in a scenario's mix, a server
//! carries within an SLO. It runs the scenario at rising user counts (each
//! step a full `load` run with its own report folder), stops at the first
//! step where an SLO breaks, and reports the knee: the largest step that held.
//! Beside the measurements it sets the arithmetic of the polling models
//! (`model.rs`), so a planner sees where the server departs from it.

mod chart;
mod config;
pub mod model;
mod predict;
pub mod report;
mod text;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::contract::LimitsTable;
use crate::error::{exit_code, UsageError};
use crate::load::scenario::{Ramp, Scenario};
use crate::load::LoadConfig;
use report::{Break, CapacityReport, Knee, StepReport};

pub use config::CapacityConfig;
pub(crate) use config::{check_steps, default_steps};
pub use predict::model_report;
pub(crate) use predict::predicted_rps;

/// The scenario at one step: its mix and topology with `users` users.
pub(crate) fn step_scenario(
    base: &Scenario,
    users: u32,
    ramp: Duration,
    hold: Duration,
) -> Scenario {
    let mut s = base.clone();
    s.name = format!("{}-{users}u", base.name);
    s.users = users;
    s.ramp = Ramp::Rate {
        users_per_second: users as f64 / ramp.as_secs_f64().max(0.1),
    };
    s.duration = hold;
    // A step holds its load for a time: a scenario's iterations do not apply.
    s.iterations = None;
    s
}

fn step_time(cfg: &CapacityConfig) -> Duration {
    cfg.ramp + cfg.hold + cfg.scenario.grace
}

/// Runs the steps and writes `capacity.json`, `capacity.md` and the chart.
pub async fn run(cfg: CapacityConfig) -> anyhow::Result<u8> {
    if cfg.slos.is_empty() {
        return Err(UsageError(
            "capacity needs at least one --slo: the knee is the last step before one breaks (e.g. --slo \"delivery.p99<1s\" --slo \"errors<1%\")".into(),
        )
        .into());
    }
    check_steps(&cfg.steps)?;
    std::fs::create_dir_all(&cfg.report_dir).map_err(|e| {
        crate::error::SetupError(format!("cannot create {}: {e}", cfg.report_dir.display()))
    })?;
    let model = model_report(&cfg.scenario, &LimitsTable::default());
    let started = Instant::now();
    let mut report = CapacityReport::new(&cfg, model);
    if cfg.progress {
        let worst = step_time(&cfg) * cfg.steps.len() as u32;
        eprintln!(
            "capacity: {} steps of {:?} users, {:.0} s each ({:.0} s ramp, {:.0} s hold, {:.0} s grace): at most {:.0} s, budget {:.0} s; reports in {}",
            cfg.steps.len(),
            cfg.steps,
            step_time(&cfg).as_secs_f64(),
            cfg.ramp.as_secs_f64(),
            cfg.hold.as_secs_f64(),
            cfg.scenario.grace.as_secs_f64(),
            worst.min(cfg.budget).as_secs_f64(),
            cfg.budget.as_secs_f64(),
            cfg.report_dir.display()
        );
    }
    for &users in &cfg.steps {
        if crate::shutdown::requested() {
            report.interrupted = true;
            report.stopped_because = format!(
                "{} before the step of {users} users",
                crate::shutdown::REASON
            );
            break;
        }
        if started.elapsed() + step_time(&cfg) > cfg.budget {
            report.stopped_because = format!(
                "the time budget of {:.0} s would be exceeded by the step of {users} users",
                cfg.budget.as_secs_f64()
            );
            break;
        }
        let dir = cfg.report_dir.join(format!("step-{users:06}"));
        let load = step_load_config(&cfg, users, &dir);
        let outcome = crate::load::run(load).await?;
        let predicted = predicted_rps(&cfg.scenario, users, cfg.ramp, cfg.hold);
        let step =
            StepReport::from_summary(users, &outcome.summary, &dir, predicted, cfg.ramp, cfg.hold);
        let held = step.held;
        let stopped = step.stopped_early.clone();
        if cfg.progress {
            eprintln!("capacity: {}", step.line());
        }
        report.steps.push(step);
        report.refresh(started.elapsed());
        report.write(&cfg.report_dir)?;
        if let Some(why) = stopped {
            // Only a signal interrupts; a step may also stop early because
            // its tokens stopped working, which is the target's failure.
            report.interrupted = crate::shutdown::requested();
            report.stopped_because = format!("the step of {users} users stopped early: {why}");
            break;
        }
        if !held {
            report.stopped_because = format!("an SLO broke at {users} users");
            break;
        }
    }
    if report.stopped_because.is_empty() {
        report.stopped_because = "every step held: the knee is above the largest step".into();
    }
    report.refresh(started.elapsed());
    report.write(&cfg.report_dir)?;
    print!("{}", text::console(&report));
    if cfg.progress {
        eprintln!(
            "capacity: wrote capacity.json, capacity.md and capacity.svg in {}",
            cfg.report_dir.display()
        );
    }
    Ok(if report.interrupted {
        exit_code::TARGET_FAILED
    } else if report.knee.is_some() {
        exit_code::SUCCESS
    } else {
        // Not even the smallest step held: no defensible user count.
        exit_code::TARGET_FAILED
    })
}

/// The load run of one step, against the whole run's target: `--target`
/// with the accounts given, or (no target) the embedded reference server
/// that `load::run` starts for the step.
fn step_load_config(cfg: &CapacityConfig, users: u32, dir: &Path) -> LoadConfig {
    LoadConfig {
        scenario: step_scenario(&cfg.scenario, users, cfg.ramp, cfg.hold),
        target: cfg.target.clone(),
        accounts: cfg.accounts.clone(),
        timeout: cfg.timeout,
        report_root: cfg.report_dir.clone(),
        report_dir: Some(dir.to_path_buf()),
        slos: cfg.slos.clone(),
        progress: cfg.progress,
        defects: Vec::new(),
        unlimited: cfg.unlimited,
    }
}

impl CapacityReport {
    /// Recomputes the knee and the first break from the steps.
    fn refresh(&mut self, elapsed: Duration) {
        self.duration_s = elapsed.as_secs_f64();
        self.knee = self
            .steps
            .iter()
            .filter(|s| s.held)
            .max_by_key(|s| s.users)
            .map(|s| Knee {
                users: s.users,
                requests_per_second: s.requests_per_second,
                delivery_p99_ms: s.delivery_p99_ms,
                latency_p99_ms: s.latency_p99_ms,
            });
        self.first_break = self
            .steps
            .iter()
            .find(|s| !s.held && s.stopped_early.is_none())
            .map(|s| {
                let broke = s.slo.iter().find(|r| !r.held);
                Break {
                    users: s.users,
                    slo: broke.map(|r| r.slo.clone()).unwrap_or_default(),
                    measured: broke.map(|r| r.measured_text.clone()).unwrap_or_default(),
                }
            });
    }

    /// Writes capacity.json, capacity.md and capacity.svg (rewritten after
    /// every step, so an interrupted run leaves what it measured).
    pub(crate) fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let write = |name: &str, bytes: &[u8]| {
            crate::report::write_atomic(&dir.join(name), bytes)
                .with_context(|| format!("cannot write {}/{name}", dir.display()))
        };
        write("capacity.json", &serde_json::to_vec_pretty(self)?)?;
        write("capacity.md", text::markdown(self).as_bytes())?;
        write("capacity.svg", chart::chart(self).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn scenario() -> Scenario {
        Scenario::parse(
            include_str!("../../scenarios/capacity-ramp.toml"),
            "capacity-ramp.toml",
        )
        .unwrap()
    }

    fn step(users: u32, held: bool) -> StepReport {
        StepReport {
            users,
            held,
            slo: vec![crate::load::summary::SloResult {
                slo: "delivery.p99<1s".into(),
                measured: Some(if held { 5e5 } else { 2e6 }),
                measured_text: if held { "500 ms" } else { "2 s" }.into(),
                held,
            }],
            requests_per_second: users as f64,
            requests_per_second_whole_run: users as f64,
            predicted_requests_per_second: users as f64,
            requests: 0,
            errors: 0,
            refused_unexpected: 0,
            latency_p50_ms: 1.0,
            latency_p99_ms: 2.0,
            delivery_p50_ms: 100.0,
            delivery_p99_ms: if held { 500.0 } else { 2000.0 },
            delivered: 0,
            lost: 0,
            stopped_early: None,
            report_dir: String::new(),
        }
    }

    #[test]
    fn the_knee_is_the_largest_step_before_the_first_break() {
        let cfg = CapacityConfig {
            scenario: scenario(),
            slos: vec![],
            steps: vec![100, 200, 400],
            ramp: Duration::from_secs(1),
            hold: Duration::from_secs(1),
            budget: Duration::from_secs(1),
            target: None,
            accounts: vec![],
            timeout: Duration::from_secs(1),
            report_dir: PathBuf::new(),
            progress: false,
            unlimited: false,
        };
        let mut r = CapacityReport::new(&cfg, model_report(&cfg.scenario, &LimitsTable::default()));
        r.steps = vec![step(100, true), step(200, true), step(400, false)];
        r.refresh(Duration::from_secs(3));
        assert_eq!(r.knee.as_ref().unwrap().users, 200);
        let b = r.first_break.as_ref().unwrap();
        assert_eq!((b.users, b.measured.as_str()), (400, "2 s"));
        assert!(text::console(&r).contains("knee: 200 users"));
    }

    #[test]
    fn steps_come_from_the_scenario_and_must_rise() {
        assert_eq!(default_steps(&scenario()), vec![1000, 2000, 4000, 8000]);
        assert!(check_steps(&[10, 20]).is_ok());
        assert!(check_steps(&[20, 10]).is_err());
        assert!(check_steps(&[]).is_err());
        assert!(check_steps(&[0, 5]).is_err());
    }

    #[test]
    fn a_step_keeps_the_mix_and_sets_users_and_times() {
        let s = step_scenario(
            &scenario(),
            300,
            Duration::from_secs(3),
            Duration::from_secs(7),
        );
        assert_eq!(s.users, 300);
        assert_eq!(s.duration, Duration::from_secs(7));
        assert_eq!(
            s.ramp,
            Ramp::Rate {
                users_per_second: 100.0
            }
        );
        assert_eq!(s.personas, scenario().personas);
    }

    #[test]
    fn the_model_of_the_design_mix() {
        let m = model_report(&scenario(), &LimitsTable::default());
        // 2 chatters of 10 users, one message per 20 s, 6 users per cell over 4 chats.
        assert!((m.messages_per_chat_per_second - 0.2 * 0.05 * 6.0 / 4.0).abs() < 1e-9);
        let poller = m
            .personas
            .iter()
            .find(|p| p.kind == "poller-design")
            .unwrap();
        assert!((poller.polls_per_second_peak - 2.0).abs() < 1e-9);
        let h = poller.headroom.as_ref().unwrap();
        assert_eq!(h.devices_before_refusal, 1);
        assert!(
            m.requests_per_user > 0.1 && m.requests_per_user < 2.5,
            "{}",
            m.requests_per_user
        );
        // A short step is dominated by the 10 s every poller spends active after opening.
        let short = predicted_rps(
            &scenario(),
            100,
            Duration::from_secs(1),
            Duration::from_secs(4),
        );
        let long = predicted_rps(
            &scenario(),
            100,
            Duration::from_secs(1),
            Duration::from_secs(600),
        );
        assert!(short > long, "{short} <= {long}");
        assert!(
            long > 100.0 * m.requests_per_user * 0.9 && long < 100.0 * m.requests_per_user * 1.2,
            "{long}"
        );
    }
}
