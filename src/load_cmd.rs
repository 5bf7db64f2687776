//! `chat-harness load` and `chat-harness provision`: the command lines turned
//! into validated [`LoadConfig`] and [`ProvisionConfig`], and the run's
//! verdict printed.

use crate::cli::{GlobalArgs, LoadArgs, MergeArgs, ProvisionArgs};
use crate::error::UsageError;
use crate::load::provision::ProvisionConfig;
use crate::load::scenario::{Ramp, Scenario};
use crate::load::slo::Slo;
use crate::load::LoadConfig;
use crate::reference::Defect;

pub fn load_config(global: &GlobalArgs, args: &LoadArgs) -> anyhow::Result<LoadConfig> {
    let mut scenario = Scenario::load(&args.scenario)?;
    if let Some(d) = args.duration {
        scenario = scenario.with_duration(d);
    }
    if let Some(u) = args.user_count {
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
    let slos = args
        .slos
        .iter()
        .map(|s| Slo::parse(s).map_err(|e| UsageError(format!("--slo {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let defects = args
        .defects
        .iter()
        .map(|d| {
            d.parse::<Defect>()
                .map_err(|e| UsageError(format!("--defect {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if global.target.is_some() && (!defects.is_empty() || args.unlimited) {
        return Err(UsageError(
            "--defect and --unlimited apply to the embedded server only (no --target)".into(),
        )
        .into());
    }
    let accounts = if global.target.is_some() {
        crate::accounts::from_args(&global.users, global.accounts.as_deref())?
    } else {
        Vec::new()
    };
    Ok(LoadConfig {
        scenario,
        target: global.target.clone(),
        accounts,
        timeout: global.timeout,
        report_root: args.reports.clone().unwrap_or_else(|| "reports".into()),
        report_dir: args.report_dir.clone(),
        slos,
        progress: !global.quiet,
        defects,
        unlimited: args.unlimited,
    })
}

pub async fn load(global: &GlobalArgs, args: LoadArgs) -> anyhow::Result<u8> {
    let cfg = load_config(global, &args)?;
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
    let shard = args.shard.map(|shard| crate::dist::shard::ShardRun {
        shard,
        start_at: args.start_at,
    });
    let out = crate::load::run_part(cfg, shard).await?;
    print_verdict(&out.summary);
    println!("reports: {}", out.report_dir.display());
    Ok(out.exit_code)
}

/// `chat-harness merge`: shard folders into one report.
pub fn merge(args: MergeArgs) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let out = crate::dist::run(&cfg)?;
    if let Some(m) = &out.summary.merged {
        for r in m.shards.iter().filter(|r| r.shard.late) {
            println!(
                "shard {} started {:.1} s after the agreed start",
                r.shard.index,
                r.shard.late_ms.unwrap_or(0) as f64 / 1e3
            );
        }
        print!("merged {} shards: ", m.shards.len());
    }
    print_verdict(&out.summary);
    println!("reports: {}", cfg.out.display());
    Ok(out.exit_code)
}

fn print_verdict(s: &crate::load::summary::Summary) {
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

pub async fn provision(global: &GlobalArgs, args: ProvisionArgs) -> anyhow::Result<u8> {
    let Some(target) = global.target.clone() else {
        return Err(UsageError(
            "provision needs --target URL (the embedded server seeds its own users)".into(),
        )
        .into());
    };
    if args.count == 0 {
        return Err(UsageError("--count must be at least 1".into()).into());
    }
    crate::load::provision::run(ProvisionConfig {
        target,
        count: args.count,
        out: args.out,
        prefix: args.prefix,
        domain: args.domain,
        password: args.password,
        timeout: global.timeout,
        max_wait: args.max_wait,
        progress: !global.quiet,
    })
    .await
}
