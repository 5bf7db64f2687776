//! `chat-harness load`: a scenario's flags, validated into a [`LoadConfig`],
//! its run, and the verdict printed.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_time};
use super::GlobalArgs;
use crate::error::UsageError;
use crate::load::scenario::{Ramp, Scenario};
use crate::load::slo::Slo;
use crate::load::LoadConfig;
use crate::reference::Defect;

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// The scenario file (see scenarios/).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// Objective, e.g. "delivery.p99<1s", "lost=0", "errors<1%" (repeatable);
    /// exit 1 when one is violated.
    #[arg(long = "slo", value_name = "OBJECTIVE")]
    pub slos: Vec<String>,
    /// Replace the scenario's duration (time at full load; with
    /// `iterations`, the upper bound of that time).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Replace the scenario's number of users (rate ramps only).
    #[arg(long = "users", value_name = "N")]
    pub user_count: Option<u32>,
    /// The report folder [default: reports/<time>-<scenario>].
    #[arg(long = "report", alias = "report-dir", value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Old: the folder in which <time>-<scenario>/ is made (use --report).
    #[arg(long, value_name = "DIR", hide = true, conflicts_with = "report_dir")]
    pub reports: Option<PathBuf>,
    /// Embedded server only: switch on a reference-server defect (repeatable).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// Embedded server only: no rate limits (pure capacity).
    #[arg(long)]
    pub unlimited: bool,
    /// Run shard I of N (counted from 0): a disjoint share of whole cells of
    /// users, their chats and (with --accounts) their accounts. Merge the
    /// shards' folders with `chat-harness merge`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<crate::load::dist::Shard>,
    /// With --shard: start the users at this time (RFC 3339, e.g.
    /// 2026-05-01T12:00:00Z) after set-up, so every shard ramps together.
    #[arg(long, value_name = "TIME", requires = "shard", value_parser = parse_time)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl LoadArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<LoadConfig> {
        let mut scenario = Scenario::load(&self.scenario)?;
        if let Some(d) = self.duration {
            scenario = scenario.with_duration(d);
        }
        if let Some(u) = self.user_count {
            if !matches!(scenario.ramp, Ramp::Rate { .. }) {
                return Err(UsageError(
                    "--users applies to scenarios with a users_per_second ramp, not to ramp steps"
                        .into(),
                )
                .into());
            }
            if u == 0 {
                return Err(UsageError("--users must be at least 1".into()).into());
            }
            scenario.users = u;
        }
        let slos = self
            .slos
            .iter()
            .map(|s| Slo::parse(s).map_err(|e| UsageError(format!("--slo {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let defects = self
            .defects
            .iter()
            .map(|d| {
                d.parse::<Defect>()
                    .map_err(|e| UsageError(format!("--defect {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let target = super::target::Target::of(global)?;
        if !target.is_embedded() && (!defects.is_empty() || self.unlimited) {
            return Err(UsageError(
                "--defect and --unlimited apply to the embedded server only (no --target)".into(),
            )
            .into());
        }
        let (target, accounts) = target.into_parts();
        Ok(LoadConfig {
            scenario,
            target,
            accounts,
            timeout: global.timeout,
            report_root: self.reports.clone().unwrap_or_else(|| "reports".into()),
            report_dir: self.report_dir.clone(),
            slos,
            progress: !global.quiet,
            defects,
            unlimited: self.unlimited,
        })
    }
}

pub(super) async fn run(global: &GlobalArgs, args: LoadArgs) -> anyhow::Result<u8> {
    let cfg = args.config(global)?;
    if let Some(at) = args.start_at {
        // Every run is bounded in time: a mistyped date must not park a shard for a year.
        if at - chrono::Utc::now() > chrono::Duration::hours(24) {
            return Err(UsageError(format!(
                "--start-at {}: more than 24 hours ahead",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ))
            .into());
        }
    }
    let shard = args.shard.map(|shard| crate::load::dist::shard::ShardRun {
        shard,
        start_at: args.start_at,
    });
    let out = crate::load::run_part(cfg, shard).await?;
    print_verdict(&out.summary);
    println!("reports: {}", out.report_dir.display());
    Ok(out.exit_code)
}

/// The run's verdict in a few lines (load and merge print the same).
pub(super) fn print_verdict(s: &crate::load::summary::LoadSummary) {
    let d = &s.delivery.counts;
    println!(
        "{}: {} requests ({:.0}/s), {} errors; messages {} sent, {} of {} deliveries seen, {} lost, {} lost to the client model, {} duplicated, {} out of order; delivery p99 {}",
        s.scenario,
        s.requests.total,
        s.requests.per_second,
        s.requests.errors,
        d.sent,
        d.delivered,
        d.expected,
        d.lost,
        d.lost_client_model,
        d.duplicated,
        d.out_of_order,
        crate::load::hist::human_us(s.delivery.latency.p99_us)
    );
    if let Some(r) = &s.stopped_early {
        println!("stopped early: {r}");
    }
    if let Some(it) = &s.users.iterations {
        println!("{}", it.sentence());
    }
    for slo in &s.slo {
        println!(
            "SLO {}: {} (measured {})",
            slo.slo,
            if slo.held { "held" } else { "VIOLATED" },
            slo.measured_text
        );
    }
}
