//! `chat-harness load`: goose scenarios that simulate many polling users and
//! measure message delivery. The steps of a run, in order (`run_part` here
//! walks them; `config.rs` holds what it is asked):
//!
//! 1. the scenario (`scenario.rs`) and the deterministic plan of users and
//!    chats (`plan.rs`);
//! 2. the target: the embedded reference server with enough seeded users,
//!    or `--target` with accounts from `--accounts` (`provision.rs` makes them)
//!    (`setup.rs`);
//! 3. set-up: the plan's chats are created through the typed client (`setup.rs`);
//! 4. the users run under goose (`goose.rs`, the only file that imports it),
//!    each one a persona (`behaviour.rs` over the pure models of
//!    `persona.rs`), while `delivery.rs` and `stats.rs` keep our own books
//!    and `progress.rs` shows them;
//! 5. `summary.json`, `summary.md` and `summary.html` (the model in
//!    `summary.rs`, built and written by `summarise.rs`), goose's
//!    report.json beside them (not its report.html: CDN charts), and the `--slo` verdict.
//!
//! `dist/` runs one shard of a scenario and merges the shards' results.

pub mod behaviour;
pub mod chart;
mod config;
pub mod connect;
pub mod delivery;
pub mod dist;
mod goose;
pub mod hist;
pub mod http1;
pub mod persona;
pub mod plan;
mod progress;
pub mod provision;
pub mod scenario;
mod setup;
mod shared;
pub mod slo;
pub mod stats;
pub mod stdout;
pub(crate) mod summarise;
pub mod summary;
mod summary_html;
mod summary_markdown;
pub mod transport;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::client::{Client, ClientConfig};
use crate::error::{SetupError, UsageError};
use dist::shard::ShardRun;

pub use self::config::LoadConfig;
pub use self::goose::{merged_p99_ms, GooseOutcome, GooseRow};
use delivery::Tracker;
use plan::Plan;
use progress::progress_loop;
use setup::{set_up, start_target};
use shared::{Control, Shared};
use stats::Stats;
use summarise::{setup_failed, summarise, write_reports};
use summary::LoadSummary;

/// What a run leaves behind.
#[derive(Debug)]
pub struct LoadOutcome {
    pub summary: LoadSummary,
    pub report_dir: PathBuf,
    pub exit_code: u8,
}

fn report_dir(cfg: &LoadConfig) -> PathBuf {
    cfg.report_dir.clone().unwrap_or_else(|| {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        cfg.report_root
            .join(format!("{stamp}-{}", cfg.scenario.name))
    })
}

/// Runs a scenario to its end and writes its reports.
pub async fn run(cfg: LoadConfig) -> anyhow::Result<LoadOutcome> {
    run_part(cfg, None).await
}

/// Runs a scenario, or one shard of it (`dist/`), to its end.
pub(crate) async fn run_part(
    cfg: LoadConfig,
    shard: Option<ShardRun>,
) -> anyhow::Result<LoadOutcome> {
    let mut part = shard
        .map(|r| dist::shard::prepare(&cfg.scenario, r.shard, r.start_at))
        .transpose()?;
    let (scenario, plan) = match &part {
        Some(p) => (p.scenario.clone(), p.plan.clone()),
        None => (cfg.scenario.clone(), Plan::new(&cfg.scenario)),
    };
    let n = plan.users.len();
    let dir = report_dir(&cfg);
    let failed = |label: &str, e: anyhow::Error| {
        setup_failed(&dir, &scenario, &plan, label, part.as_ref(), e)
    };
    let target = match start_target(&cfg, n).await {
        Ok(t) => t,
        Err(e) => return Err(failed("embedded", e)),
    };
    // A shard uses the accounts at its users' places in the whole run; the
    // embedded server seeds just the shard's users.
    let first = match (&part, &cfg.target) {
        (Some(p), Some(_)) => p.cut.first_user as usize,
        _ => 0,
    };
    if part.is_some() && cfg.target.is_some() && target.accounts.len() < first + n {
        return Err(UsageError(format!(
            "scenario {} needs {} users, and this shard uses accounts #{}..#{}, but {} accounts were given; make them with `chat-harness provision --target {} --count {} --out FILE` and pass --accounts FILE",
            scenario.name,
            cfg.scenario.users,
            first + 1,
            first + n,
            target.accounts.len(),
            target.url,
            cfg.scenario.users
        ))
        .into());
    }
    if target.accounts.len() < n {
        return Err(UsageError(format!(
            "scenario {} needs {n} users but {} accounts were given; make them with `chat-harness provision --target {} --count {n} --out FILE` and pass --accounts FILE",
            scenario.name,
            target.accounts.len(),
            target.url
        ))
        .into());
    }
    let needed = connect::files_needed(n);
    if let Some(limit) = connect::raise_open_files(needed) {
        if limit < needed {
            eprintln!(
                "warning: {n} users need about {needed} open files (a connection each) but the limit is {limit} (ulimit -n); connections beyond it fail and count as requests without an answer"
            );
        }
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| SetupError(format!("cannot create {}: {e}", dir.display())))?;

    let mut cc = ClientConfig::new(&target.url);
    cc.timeout = cfg.timeout;
    let client = Client::new(cc).map_err(|e| failed(&target.label, e.into()))?;
    let tag = format!("{:08x}", rand::random::<u32>());
    let setup_started = Instant::now();
    let (creds, chat_ids) =
        match set_up(&client, &target.accounts[first..first + n], &plan, &tag).await {
            Ok(x) => x,
            Err(e) => {
                let e = failed(&target.label, e);
                if let Some(server) = target.server {
                    server.shutdown().await;
                }
                return Err(e);
            }
        };
    if cfg.progress {
        eprintln!(
            "{}: {n} users, {} chats set up in {:.1} s against {}; reports in {}",
            scenario.name,
            chat_ids.len(),
            setup_started.elapsed().as_secs_f64(),
            target.label,
            dir.display()
        );
    }

    if let Some(at) = shard.and_then(|r| r.start_at) {
        if let Ok(wait) = (at - chrono::Utc::now()).to_std() {
            tokio::time::sleep(wait).await;
        }
    }
    let origin = Instant::now();
    let wall = chrono::Utc::now();
    let started_at = wall.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if let Some(p) = &mut part {
        p.info.began(wall);
        if p.info.late && cfg.progress {
            eprintln!(
                "shard {}/{} starts {:.1} s after --start-at (set-up took longer); its report says so",
                p.info.index,
                p.info.count,
                p.info.late_ms.unwrap_or(0) as f64 / 1e3
            );
        }
    }
    let part = part.map(Arc::new);
    let send_until = origin + scenario.ramp_time() + scenario.duration;
    let tracker = Tracker::new(&plan, |u| Shared::polls(&scenario, &plan, u));
    let shared = Arc::new(Shared {
        tracker,
        stats: Stats::new(origin),
        control: Control::default(),
        auth: creds.iter().map(|c| c.header()).collect(),
        chat_ids,
        tag,
        send_until,
        deadline: send_until + scenario.grace,
        finished: Default::default(),
        all_finished: Default::default(),
        plan,
        scenario,
    });

    let progress = tokio::spawn(progress_loop(
        shared.clone(),
        dir.clone(),
        target.label.clone(),
        started_at.clone(),
        cfg.slos.clone(),
        cfg.progress,
        part.clone(),
    ));
    let engine = goose::EngineConfig {
        base_url: target.url.clone(),
        report_dir: dir.clone(),
        timeout: cfg.timeout,
    };
    let diverted = stdout::divert();
    let mut outcome = goose::run(shared.clone(), engine).await;
    drop(diverted);
    progress.abort();
    if cfg.progress && std::io::stderr().is_terminal() {
        eprintln!();
    }
    // Only a signal interrupts a run; the scenario's own end, a revoked token
    // or goose's error stop it otherwise, each with its own reason.
    let interrupted = crate::shutdown::requested();
    if (outcome.interrupted || interrupted) && shared.control.reason().is_none() {
        shared.control.stop(crate::shutdown::REASON.into());
    }
    if let Some(e) = &outcome.error {
        shared.control.stop(e.clone());
    }
    outcome.interrupted |= shared.control.stopped();
    let summary = summarise(
        &shared,
        &target.label,
        &started_at,
        &cfg.slos,
        Some(outcome),
        false,
        part.as_deref(),
    );
    write_reports(&dir, &summary)?;
    if let Some(server) = target.server {
        server.shutdown().await;
    }
    let revoked = shared
        .control
        .revoked
        .load(std::sync::atomic::Ordering::Relaxed)
        > 0;
    // An interrupted run exits 1 like an interrupted check, limits or
    // capacity: what it measured is not the verdict of the whole scenario.
    let exit_code = if revoked {
        crate::error::exit_code::UNREACHABLE
    } else if summary.slo_violated() || interrupted {
        crate::error::exit_code::TARGET_FAILED
    } else {
        crate::error::exit_code::SUCCESS
    };
    Ok(LoadOutcome {
        summary,
        report_dir: dir,
        exit_code,
    })
}
