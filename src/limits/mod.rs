//! `chat-harness limits`: does a deployment enforce the rate limits it was
//! configured with, and how? For every endpoint of the expected table it
//! measures the enforced limit, the headers, the refusal (in any form: the
//! classifier of `contract::refusal`), the window kind, isolation between
//! buckets, atomicity and whether a login empties a user's buckets, all
//! endpoints at once (their buckets are independent).
//!
//! Who stands for whom: two accounts with passwords are enough. A's bucket
//! of each user endpoint is probed along the timeline of `window.rs`; B
//! shows isolation (one request while A is refused), observes whether a
//! refused request took effect, created the chats the probes use and is the
//! account the login probe logs in (every pair a login returns is kept, see
//! `probe::Pairs`). Atomicity needs an untouched bucket: with a third
//! account (C) it runs at once on C's; with two it waits until B's bucket
//! has been idle for a window. Last, the atomicity user's buckets are
//! exhausted, the user logs in, and one more request per endpoint shows
//! whether the login emptied them. Login and signup are keyed by client
//! address: on a loopback target the probe connects from other 127/8
//! addresses to stand for other clients; elsewhere the per-address parts
//! are skipped with the reason.

mod config;
mod judge;
mod measure;
mod plan;
pub mod probe;
pub mod report;
pub mod window;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::accounts::Account;
use crate::client::{Client, ClientConfig};
use crate::contract::Endpoint;
use crate::error::exit_code;
use crate::reference::RunningServer;
use judge::apply_login_finding;
use measure::{login_empties, measure};
use plan::{identities, plans, set_up};
use probe::Lane;
use report::{EndpointReport, Finding, LimitsReport, Status};

pub use config::LimitsConfig;

/// The loopback address the login probe at the end logs in from.
const LATE_LOGIN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 250));

/// Runs every endpoint's probe at once and gathers the report; on Ctrl-C
/// returns what finished, marked interrupted.
pub async fn measure_all(
    base: &ClientConfig,
    target: &str,
    embedded: bool,
    accounts: &[Account],
    config: &LimitsConfig,
) -> anyhow::Result<LimitsReport> {
    let client = Client::new(base.clone())?;
    let window = config.window();
    let ids = identities(&client, accounts, window.as_secs(), !config.progress).await?;
    let setup = set_up(&client, &ids).await?;
    let run_id = format!("{:x}", rand::random::<u32>());
    let loopback = probe::is_loopback_target(target);
    let plans = plans(base, config, &ids, &setup, loopback, &run_id)?;
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let done: Arc<Mutex<BTreeMap<Endpoint, EndpointReport>>> = Arc::default();
    let late: Arc<Mutex<Vec<Lane>>> = Arc::default();
    let longest = plans
        .iter()
        .map(|p| p.start_delay)
        .max()
        .unwrap_or_default();
    if config.progress {
        let parallel = ids.users.len() >= 3;
        eprintln!(
            "limits: measuring {} endpoint(s) of {target} at once with {} account(s); planned duration about {:.0} s (a {} s window{}{}), {:.0} s more if a window restarts on every request",
            plans.len(),
            ids.users.len(),
            (config.expected_duration(ids.users.len()) + longest).as_secs_f64(),
            window.as_secs(),
            if parallel {
                String::new()
            } else {
                ", atomicity waits a window for B's buckets to be idle: a third account runs it at once".to_owned()
            },
            if longest.is_zero() { String::new() } else { format!(", after waiting {} s for login quota spent on setup", longest.as_secs()) },
            (window / 2).as_secs_f64()
        );
    }
    let tasks = plans.into_iter().map(|plan| {
        let done = done.clone();
        let late = late.clone();
        async move {
            let (r, lane) = measure(plan, window).await;
            if let Ok(mut d) = done.lock() {
                d.insert(r.endpoint, r);
            }
            if let (Some(l), Ok(mut late)) = (lane, late.lock()) {
                late.push(l);
            }
        }
    });
    let all = async {
        futures::future::join_all(tasks).await;
        let lanes = late
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default();
        let user = ids.users.get(2).unwrap_or(&ids.users[1]).clone();
        let from = if loopback {
            Some(LATE_LOGIN_ADDRESS)
        } else {
            None
        };
        if config.progress && !lanes.is_empty() {
            eprintln!(
                "limits: exhausting {}'s buckets, logging {0} in and asking again: does a login empty them?",
                user.0
            );
        }
        let found = login_empties(base, &ids.pairs, lanes, &user, from, window, config).await;
        if let Ok(mut d) = done.lock() {
            for (e, f) in found {
                if let Some(r) = d.get_mut(&e) {
                    apply_login_finding(r, f);
                }
            }
        }
    };
    let ticker = async {
        let every = (window / 12).clamp(Duration::from_secs(1), Duration::from_secs(10));
        loop {
            tokio::time::sleep(every).await;
            if config.progress {
                let n = done.lock().map(|d| d.len()).unwrap_or(0);
                eprintln!(
                    "limits: {:.0} s elapsed, {n} of {} endpoint(s) done",
                    started.elapsed().as_secs_f64(),
                    config.endpoints.len()
                );
            }
        }
    };
    let interrupted = tokio::select! {
        _ = all => false,
        _ = ticker => false,
        _ = crate::shutdown::wait() => true,
    };
    let endpoints: Vec<EndpointReport> = done
        .lock()
        .map(|d| d.values().cloned().collect())
        .unwrap_or_default();
    let revoked = ids.pairs.revoked();
    let tokens = if revoked.is_empty() {
        Finding::ok(format!(
            "every pair the tool held kept working; each login's new pair was kept for what followed ({} login(s) of {})",
            ids.pairs.logins(),
            ids.users.iter().map(|u| u.0.as_str()).collect::<Vec<_>>().join(", ")
        ))
    } else {
        Finding::fail(
            revoked
                .iter()
                .map(|(_, w)| w.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    };
    let holds = !interrupted
        && tokens.status != Status::Fail
        && endpoints.len() == config.endpoints.len()
        && endpoints.iter().all(|e| e.verdict == "holds");
    Ok(LimitsReport {
        schema_version: report::SCHEMA_VERSION,
        tool: format!("chat-harness {}", env!("CARGO_PKG_VERSION")),
        target: target.to_owned(),
        embedded,
        window_seconds: window.as_secs(),
        started_at: started_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_seconds: started.elapsed().as_secs_f64(),
        interrupted,
        holds,
        accounts: ids.users.len(),
        tokens,
        endpoints,
    })
}

/// Writes `limits.json` and `limits.md` into `dir`.
pub fn write_reports(dir: &Path, report: &LimitsReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(report)?;
    crate::report::write_atomic(&dir.join("limits.json"), &json)
        .with_context(|| format!("cannot write {}/limits.json", dir.display()))?;
    crate::report::write_atomic(&dir.join("limits.md"), report::markdown(report).as_bytes())
        .with_context(|| format!("cannot write {}/limits.md", dir.display()))?;
    Ok(())
}

/// The exit code a report earns: 0 holds, 1 fails, 3 nothing failed but
/// something could not be measured.
pub fn exit_code_of(report: &LimitsReport) -> u8 {
    if report.holds {
        exit_code::SUCCESS
    } else if report.interrupted
        || report.tokens.status == Status::Fail
        || report.endpoints.iter().any(|e| e.verdict == "fails")
    {
        exit_code::TARGET_FAILED
    } else {
        exit_code::UNREACHABLE
    }
}

/// The whole command: against `target`, or the embedded reference server
/// configured with the expected limits when there is none.
pub(crate) async fn run(
    target: Option<String>,
    accounts: Vec<Account>,
    timeout: Duration,
    config: LimitsConfig,
) -> anyhow::Result<u8> {
    let (target, accounts, server) = resolve_target(target, accounts, &config).await?;
    let mut base = ClientConfig::new(&target);
    base.timeout = timeout;
    let result = measure_all(&base, &target, server.is_some(), &accounts, &config).await;
    if let Some(s) = server {
        s.shutdown().await;
    }
    let report = result?;
    print!("{}", report::console(&report));
    if let Some(dir) = &config.report_dir {
        write_reports(dir, &report)?;
        if config.progress {
            eprintln!(
                "limits: wrote {0}/limits.json and {0}/limits.md",
                dir.display()
            );
        }
    }
    Ok(exit_code_of(&report))
}

/// The target to measure and the accounts to act as: `target` with the
/// accounts given, or, when there is none, the embedded reference server
/// configured with exactly the expected limits, and its own accounts.
async fn resolve_target(
    target: Option<String>,
    accounts: Vec<Account>,
    config: &LimitsConfig,
) -> anyhow::Result<(String, Vec<Account>, Option<RunningServer>)> {
    Ok(match target {
        Some(t) => (t, accounts, None),
        None => {
            let mut server = crate::reference::ServerConfig::default()
                .with_window(config.expect.window_seconds)
                .with_generated_users(6);
            for (e, n) in &config.expect.limits {
                server = server.with_limit(*e, *n);
            }
            let server = crate::reference::embedded(server).await?;
            let accounts = server.core().accounts();
            (server.url(), accounts, Some(server))
        }
    })
}
