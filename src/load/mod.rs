//! `chat-harness load`: goose scenarios that simulate many polling users and
//! measure message delivery. The steps of a run, in order:
//!
//! 1. the scenario (`scenario.rs`) and the deterministic plan of users and
//!    chats (`plan.rs`);
//! 2. the target: the embedded reference server with enough seeded users,
//!    or `--target` with accounts from `--accounts` (`provision.rs` makes them);
//! 3. set-up: the plan's chats are created through the typed client;
//! 4. the users run under goose (`goose.rs`, the only file that imports it),
//!    each one a persona (`behaviour.rs` over the pure models of
//!    `persona.rs`), while `delivery.rs` and `stats.rs` keep our own books;
//! 5. `summary.json`, `summary.md` and `summary.html` (`summary.rs`), goose's
//!    report.json beside them (not its report.html: CDN charts), and the `--slo` verdict.

pub mod behaviour;
pub mod connect;
pub mod delivery;
mod goose;
pub mod hist;
pub mod http1;
pub mod persona;
pub mod plan;
pub mod provision;
pub mod scenario;
mod shared;
pub mod slo;
pub mod stats;
pub mod stdout;
pub mod summary;
mod transport;

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

use crate::accounts::Account;
use crate::client::{Client, ClientConfig, Credentials};
use crate::dist::shard::{Prepared, ShardRun};
use crate::error::{SetupError, UsageError};
use crate::reference::{Defect, ServerConfig};

pub use self::goose::{merged_p99_ms, GooseOutcome, GooseRow};
use delivery::Tracker;
use plan::Plan;
use scenario::Scenario;
use shared::{Control, Shared};
use slo::Slo;
use stats::Stats;
use summary::{RequestsSummary, Summary, UsersSummary};

/// A validated load run.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub scenario: Scenario,
    /// None: the embedded reference server.
    pub target: Option<String>,
    /// Accounts for a real target (with tokens, or passwords to log in with).
    pub accounts: Vec<Account>,
    pub timeout: Duration,
    /// Reports go to `<report_root>/<time>-<scenario>/` unless `report_dir` is set.
    pub report_root: PathBuf,
    pub report_dir: Option<PathBuf>,
    pub slos: Vec<Slo>,
    /// Print the live progress line.
    pub progress: bool,
    /// Embedded server only: defects to switch on (tests and demos).
    pub defects: Vec<Defect>,
    /// Embedded server only: no rate limits (pure capacity runs).
    pub unlimited: bool,
}

/// What a run leaves behind.
#[derive(Debug)]
pub struct LoadOutcome {
    pub summary: Summary,
    pub report_dir: PathBuf,
    pub exit_code: u8,
}

/// The embedded server and what it seeded.
struct Target {
    url: String,
    label: String,
    accounts: Vec<Account>,
    server: Option<crate::reference::RunningServer>,
}

async fn start_target(cfg: &LoadConfig, users: usize) -> anyhow::Result<Target> {
    match &cfg.target {
        Some(url) => Ok(Target {
            url: url.trim_end_matches('/').to_owned(),
            label: url.clone(),
            accounts: cfg.accounts.clone(),
            server: None,
        }),
        None => {
            let mut sc = ServerConfig::default().with_generated_users(users);
            for d in &cfg.defects {
                sc = sc.with_defect(*d);
            }
            if cfg.unlimited {
                for e in crate::contract::Endpoint::ALL {
                    sc = sc.without_limit(e);
                }
            }
            let server = crate::reference::serve(sc, "127.0.0.1:0".parse()?)
                .await
                .map_err(|e| {
                    SetupError(format!("cannot start the embedded reference server: {e}"))
                })?;
            let mut accounts = server.core().accounts();
            // Generated users come after any seeded ones, in order.
            accounts.retain(|a| a.email.starts_with("load-"));
            accounts.sort_by(|a, b| a.email.cmp(&b.email));
            Ok(Target {
                url: server.url(),
                label: "embedded".into(),
                accounts,
                server: Some(server),
            })
        }
    }
}

/// Signs every account in (known tokens cost nothing) and creates the plan's chats.
async fn set_up(
    client: &Client,
    accounts: &[Account],
    plan: &Plan,
    tag: &str,
) -> anyhow::Result<(Vec<Credentials>, Vec<String>)> {
    let creds: Vec<Result<Credentials, String>> =
        futures::stream::iter(accounts.iter().enumerate())
            .map(|(i, a)| async move {
                crate::accounts::sign_in(client, a)
                    .await
                    .map_err(|e| format!("account #{} ({}): {e}", i + 1, a.email))
            })
            .buffered(16)
            .collect()
            .await;
    let creds: Vec<Credentials> = creds
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(SetupError)?;
    let emails: Vec<&str> = accounts.iter().map(|a| a.email.as_str()).collect();
    let chats: Vec<Result<String, String>> = futures::stream::iter(plan.chats.iter().enumerate())
        .map(|(i, c)| {
            let creds = &creds;
            let emails = &emails;
            async move {
                let others: Vec<&str> = c
                    .members
                    .iter()
                    .filter(|&&m| m != c.creator)
                    .map(|&m| emails[m as usize])
                    .collect();
                let name = format!("lh-{tag}-{i}");
                client
                    .create_chat(&creds[c.creator as usize], &name, &others, c.kind.as_str())
                    .await
                    .map(|t| t.value)
                    .map_err(|e| {
                        let revoked = if e.status() == Some(401) {
                            format!(
                                "tokens stopped working: the token of {} was refused with 401; the server may rotate the secret at every login (AUTH-6): provision fresh tokens and do not log these users in elsewhere; ",
                                emails[c.creator as usize]
                            )
                        } else {
                            String::new()
                        };
                        format!(
                            "{revoked}creating chat #{i} ({} of {} users): {e}",
                            c.kind.as_str(),
                            c.members.len()
                        )
                    })
            }
        })
        .buffered(32)
        .collect()
        .await;
    let chat_ids: Vec<String> = chats
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(SetupError)?;
    Ok((creds, chat_ids))
}

fn persona_counts(s: &Scenario, plan: &Plan) -> BTreeMap<String, u32> {
    let mut out = BTreeMap::new();
    for u in &plan.users {
        *out.entry(s.personas[u.persona].persona.kind().to_owned())
            .or_default() += 1;
    }
    out
}

/// Builds the summary from what has been measured so far.
fn summarise(
    shared: &Shared,
    target: &str,
    started_at: &str,
    slos: &[Slo],
    goose: Option<GooseOutcome>,
    partial: bool,
    part: Option<&Prepared>,
) -> Summary {
    let now = Instant::now();
    let st = &shared.stats;
    let per_endpoint = st.endpoints();
    let (total, errors) = st.totals();
    let elapsed = now
        .min(shared.end())
        .saturating_duration_since(st.origin())
        .as_secs_f64();
    let sum = |f: fn(&stats::EndpointSummary) -> u64| per_endpoint.values().map(f).sum::<u64>();
    let mut summary = Summary {
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
            summary::RunStatus::Partial
        } else {
            summary::RunStatus::Complete
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

pub(crate) fn write_reports(dir: &Path, s: &Summary) -> anyhow::Result<()> {
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .with_context(|| format!("cannot write {}", path.display()))
    };
    write("summary.json", &s.to_json())?;
    write("summary.md", s.to_markdown().as_bytes())?;
    write("summary.html", s.to_html().as_bytes())?;
    Ok(())
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

/// Runs a scenario, or one shard of it (`crate::dist`), to its end.
pub async fn run_part(cfg: LoadConfig, shard: Option<ShardRun>) -> anyhow::Result<LoadOutcome> {
    let mut part = shard
        .map(|r| crate::dist::shard::prepare(&cfg.scenario, r.shard, r.start_at))
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

/// A run that could not start still leaves its report: `summary.json` with
/// status `setup_failed` and the reason (as `check` does), nothing measured.
/// Returns the error, to be reported as before (exit 3).
fn setup_failed(
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
    let summary = Summary {
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
        status: summary::RunStatus::SetupFailed,
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

/// The live progress line, and a partial summary every ten seconds so that
/// a killed run still leaves its numbers.
async fn progress_loop(
    shared: Arc<Shared>,
    dir: PathBuf,
    target: String,
    started_at: String,
    slos: Vec<Slo>,
    show: bool,
    part: Option<Arc<Prepared>>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_total = 0;
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let now = Instant::now();
        shared.stats.sample_users(now);
        let (total, errors) = shared.stats.totals();
        let rate = total - last_total;
        last_total = total;
        let p99 = shared.stats.take_recent_p99_us();
        if show && (tty || n.is_multiple_of(10)) {
            let d = shared.tracker.report();
            let line = format!(
                "t={:>4}s users={:>6} req/s={:>7} p99={:>9} delivery p99={:>9} sent={} lost={} errors={}",
                now.saturating_duration_since(shared.stats.origin()).as_secs(),
                shared.stats.active_users.load(std::sync::atomic::Ordering::Relaxed),
                rate,
                hist::human_us(p99),
                hist::human_us(d.latency.p99_us),
                d.counts.sent,
                d.counts.lost,
                errors
            );
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
        if n.is_multiple_of(10) {
            let s = summarise(
                &shared,
                &target,
                &started_at,
                &slos,
                None,
                true,
                part.as_deref(),
            );
            let _ = write_reports(&dir, &s);
        }
    }
}
