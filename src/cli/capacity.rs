//! `chat-harness capacity`: the stepped load runs' flags, validated into a
//! [`CapacityConfig`], and its run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;
use super::GlobalArgs;
use crate::capacity::{check_steps, default_steps, CapacityConfig};
use crate::error::UsageError;
use crate::load::scenario::Scenario;
use crate::load::slo::Slo;

#[derive(Debug, Args)]
pub struct CapacityArgs {
    /// The scenario whose mix is stepped (e.g. scenarios/capacity-ramp.toml).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// An objective every step must meet, e.g. "delivery.p99<1s" (repeatable; at least one).
    #[arg(long = "slo", value_name = "SLO")]
    pub slos: Vec<String>,
    /// User counts to step through, e.g. 500,1000,2000 [default: the
    /// scenario's ramp steps, or 1/4, 1/2, 1, 2 and 4 times its users].
    #[arg(long, value_name = "N,N,...", value_delimiter = ',')]
    pub steps: Vec<u32>,
    /// Linear steps instead: first count (with --step and --max).
    #[arg(long, value_name = "N", requires_all = ["step", "max"], conflicts_with = "steps")]
    pub start: Option<u32>,
    /// Increment between linear steps.
    #[arg(long, value_name = "N")]
    pub step: Option<u32>,
    /// Largest linear step.
    #[arg(long, value_name = "N")]
    pub max: Option<u32>,
    /// Time to start each step's users.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub ramp: Duration,
    /// Time each step holds at full load.
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub hold: Duration,
    /// No step starts that could not end within this.
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_duration)]
    pub budget: Duration,
    /// Folder for capacity.json, capacity.md, capacity.svg and each step's
    /// load report [default: reports/<time>-capacity-<scenario>].
    #[arg(long, alias = "report-dir", value_name = "DIR")]
    pub report: Option<PathBuf>,
    /// Embedded server only: no rate limits (measure the server, not its limiter).
    #[arg(long)]
    pub unlimited: bool,
}

impl CapacityArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<CapacityConfig> {
        let scenario = Scenario::load(&self.scenario)?;
        let slos = self
            .slos
            .iter()
            .map(|s| Slo::parse(s).map_err(|e| UsageError(format!("--slo {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let steps = match (self.start, self.step, self.max) {
            (Some(start), Some(step), Some(max)) => {
                if step == 0 || start == 0 || max < start {
                    return Err(UsageError(format!("--start {start} --step {step} --max {max}: need start >= 1, step >= 1 and max >= start")).into());
                }
                (start..=max).step_by(step as usize).take(1000).collect()
            }
            _ if !self.steps.is_empty() => self.steps.clone(),
            _ => default_steps(&scenario),
        };
        check_steps(&steps)?;
        let target = super::target::Target::of(global)?;
        if !target.is_embedded() && self.unlimited {
            return Err(UsageError(
                "--unlimited applies to the embedded server only (no --target)".into(),
            )
            .into());
        }
        let (target, accounts) = target.into_parts();
        let largest = steps.iter().copied().max().unwrap_or(0);
        if let Some(url) = target
            .as_ref()
            .filter(|_| accounts.len() < largest as usize)
        {
            return Err(UsageError(format!(
                "the largest step has {largest} users but {} accounts were given; make them with `chat-harness --target {url} provision --count {largest} --out FILE` and pass --accounts FILE",
                accounts.len()
            ))
            .into());
        }
        let report_dir = self.report.clone().unwrap_or_else(|| {
            let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
            PathBuf::from("reports").join(format!("{stamp}-capacity-{}", scenario.name))
        });
        Ok(CapacityConfig {
            scenario,
            slos,
            steps,
            ramp: self.ramp,
            hold: self.hold,
            budget: self.budget,
            target,
            accounts,
            timeout: global.timeout,
            report_dir,
            progress: !global.quiet,
            unlimited: self.unlimited,
        })
    }
}

pub(super) async fn run(global: &GlobalArgs, args: CapacityArgs) -> anyhow::Result<u8> {
    let config = args.config(global)?;
    crate::capacity::run(config).await
}
