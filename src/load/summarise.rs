//! A run's summary built from what was measured so far (at its end, every
//! ten seconds on the way, or with nothing measured when it could not
//! start), and its files written.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use super::delivery::Tracker;
use super::dist::shard::Prepared;
use super::goose::GooseOutcome;
use super::plan::Plan;
use super::scenario::Scenario;
use super::shared::Shared;
use super::slo::Slo;
use super::stats::{self, Stats};
use super::summary::{self, LoadSummary, RequestsSummary, UsersSummary};

fn persona_counts(s: &Scenario, plan: &Plan) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for u in &plan.users {
        *out.entry(s.personas[u.persona].persona.kind().to_owned())
            .or_default() += 1;
    }
    out
}

/// Builds the summary from what has been measured so far.
pub(super) fn summarise(
    shared: &Shared,
    target: &str,
    started_at: &str,
    slos: &[Slo],
    goose: Option<GooseOutcome>,
    partial: bool,
    part: Option<&Prepared>,
) -> LoadSummary {
    let now = Instant::now();
    let st = &shared.stats;
    let per_endpoint = st.endpoints();
    let (total, errors) = st.totals();
    let elapsed = now
        .min(shared.end())
        .saturating_duration_since(st.origin())
        .as_secs_f64();
    let sum = |f: fn(&stats::EndpointSummary) -> u64| per_endpoint.values().map(f).sum::<u64>();
    let mut summary = LoadSummary {
        schema_version: summary::SCHEMA_VERSION,
        tool: format!("chat-harness {}", env!("CARGO_PKG_VERSION")),
        scenario: shared.scenario.name.clone(),
        scenario_resolved: serde_json::to_value(&shared.scenario).unwrap_or_default(),
        target: target.to_owned(),
        started_at: started_at.to_owned(),
        elapsed_s: (elapsed * 10.0).round() / 10.0,
        stopped_early: shared.control.reason(),
        partial,
        status: if partial {
            summary::LoadStatus::Partial
        } else {
            summary::LoadStatus::Complete
        },
        setup_error: None,
        users: UsersSummary {
            planned: shared.scenario.users,
            max_active: st.max_users.load(std::sync::atomic::Ordering::Relaxed),
            personas: persona_counts(&shared.scenario, &shared.plan),
            chats: shared.plan.chats.len() as u32,
            iterations: shared.scenario.iterations.map(|per_user| {
                let finished = shared.finished.load(std::sync::atomic::Ordering::SeqCst);
                summary::IterationsSummary {
                    per_user,
                    finished,
                    unfinished: (shared.plan.users.len() as u32).saturating_sub(finished),
                }
            }),
        },
        requests: RequestsSummary {
            total,
            errors,
            refused_expected: sum(|e| e.refused_expected),
            refused_unexpected: sum(|e| e.refused_unexpected),
            per_second: if elapsed > 0.0 {
                (total as f64 / elapsed * 10.0).round() / 10.0
            } else {
                0.0
            },
            latency: st.all_latency(),
            per_endpoint,
        },
        delivery: shared.tracker.report(),
        poll_lateness: st.lateness(),
        timeline: st.timeline(now),
        goose,
        slo: Vec::new(),
        shard: None,
        merged: None,
    };
    if let Some(p) = part {
        summary.shard = Some(p.info.clone());
        summary.scenario_resolved = p.whole_resolved.clone();
    }
    summary.slo = slos.iter().map(|s| s.judge(&summary)).collect();
    summary
}

pub(crate) fn write_reports(dir: &Path, s: &LoadSummary) -> anyhow::Result<()> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        crate::report::write_atomic(&path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))
    };
    write("summary.json", &s.to_json())?;
    write("summary.md", s.to_markdown().as_bytes())?;
    write("summary.html", s.to_html().as_bytes())?;
    Ok(())
}
/// A run that could not start still leaves its report: `summary.json` with
/// status `setup_failed` and the reason (as `check` does), nothing measured.
/// Returns the error, to be reported as before (exit 3).
pub(super) fn setup_failed(
    dir: &Path,
    scenario: &Scenario,
    plan: &Plan,
    target: &str,
    part: Option<&Prepared>,
    e: anyhow::Error,
) -> anyhow::Error {
    let now = Instant::now();
    let stats = Stats::new(now);
    let tracker = Tracker::new(plan, |_| false);
    let summary = LoadSummary {
        schema_version: summary::SCHEMA_VERSION,
        tool: format!("chat-harness {}", env!("CARGO_PKG_VERSION")),
        scenario: scenario.name.clone(),
        scenario_resolved: part.map_or_else(
            || serde_json::to_value(scenario).unwrap_or_default(),
            |p| p.whole_resolved.clone(),
        ),
        target: target.to_owned(),
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        elapsed_s: 0.0,
        stopped_early: None,
        partial: false,
        status: summary::LoadStatus::SetupFailed,
        setup_error: Some(format!("{e:#}")),
        users: UsersSummary {
            planned: scenario.users,
            max_active: 0,
            personas: persona_counts(scenario, plan),
            chats: plan.chats.len() as u32,
            iterations: None,
        },
        requests: RequestsSummary {
            total: 0,
            errors: 0,
            refused_expected: 0,
            refused_unexpected: 0,
            per_second: 0.0,
            latency: stats.all_latency(),
            per_endpoint: BTreeMap::new(),
        },
        delivery: tracker.report(),
        poll_lateness: stats.lateness(),
        timeline: Vec::new(),
        goose: None,
        // Nothing was measured: no objective held or broke.
        slo: Vec::new(),
        shard: part.map(|p| p.info.clone()),
        merged: None,
    };
    let written = std::fs::create_dir_all(dir)
        .map_err(anyhow::Error::from)
        .and_then(|()| write_reports(dir, &summary));
    match written {
        Ok(()) => eprintln!(
            "load: could not start; {} says why (status setup_failed)",
            dir.join("summary.json").display()
        ),
        Err(w) => eprintln!("load: could not start, and {w:#}"),
    }
    e
}
