//! `chat-harness limits`: does a deployment enforce the rate limits it was
//! configured with, and how? For every endpoint of the expected table it
//! measures the enforced limit, the headers, the refusal, the window kind,
//! isolation between buckets and atomicity, all endpoints at once (their
//! buckets are independent), so a run takes about one window and a second.
//!
//! Who stands for whom: user endpoints need four accounts (A, B, C, D): A's
//! bucket is probed and B checks isolation, C tests atomicity on a fresh
//! bucket, D probes create_chat (A and C spend one create_chat each to set up
//! their chats). Login and signup are keyed by client address: on a loopback
//! target the probe connects from other 127/8 addresses to stand for other
//! clients; elsewhere the per-address parts are skipped with the reason.

pub mod probe;
pub mod report;
pub mod window;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::accounts::Account;
use crate::client::{Client, ClientConfig, Credentials};
use crate::contract::ratelimit::{Field, ResetForm};
use crate::contract::{Endpoint, LimitsTable};
use crate::{exit_code, SetupError, UsageError};
use probe::{burst, client_from, concurrent, refused_had_effect, Burst, Lane};
use report::{Atomicity, EndpointReport, Finding, LimitsReport, Refusal, Status};
use window::{classify, Phases, WindowKind};

/// A validated `limits` run.
#[derive(Debug, Clone)]
pub struct LimitsConfig {
    /// The expected limits and their window.
    pub expect: LimitsTable,
    /// The endpoints to measure (those of the table, or the `--only` ones).
    pub endpoints: Vec<Endpoint>,
    pub report_dir: Option<PathBuf>,
    /// Print progress lines while waiting.
    pub progress: bool,
}

impl LimitsConfig {
    pub fn new(expect: LimitsTable, only: &[Endpoint]) -> Result<LimitsConfig, UsageError> {
        let endpoints: Vec<Endpoint> = if only.is_empty() {
            expect.limits.keys().copied().collect()
        } else {
            for e in only {
                if expect.limit(*e).is_none() {
                    return Err(UsageError(format!(
                        "--only {e}: the expected-limits table has no limit for it"
                    )));
                }
            }
            only.to_vec()
        };
        if endpoints.is_empty() {
            return Err(UsageError(
                "the expected-limits table names no endpoint".into(),
            ));
        }
        Ok(LimitsConfig {
            expect,
            endpoints,
            report_dir: None,
            progress: true,
        })
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.expect.window_seconds)
    }

    /// A little more than a window: what the announcement promises.
    pub fn expected_duration(&self) -> Duration {
        let w = self.window();
        w + slack(w) + Duration::from_secs(1)
    }
}

/// How long after a window boundary the probe asks again.
fn slack(window: Duration) -> Duration {
    (window / 6).min(Duration::from_secs(1))
}

/// The identities a run acts as.
pub struct Identities {
    /// At least four users with tokens: A, B, C, D.
    pub users: Vec<(String, Credentials)>,
    /// An account that logs in repeatedly (for the login probe).
    pub login: Option<(String, String)>,
    /// Seconds to wait before probing login from the default address (setup
    /// spent login quota there).
    pub login_debt: Duration,
}

/// Logs accounts in (where they have no token) and picks the login account.
pub async fn identities(
    client: &Client,
    accounts: &[Account],
    window: u64,
) -> anyhow::Result<Identities> {
    if accounts.len() < 4 {
        return Err(UsageError(format!(
            "limits needs at least 4 accounts (two to probe user buckets, one for isolation, one for atomicity), got {}: give more --user flags or an --accounts file",
            accounts.len()
        ))
        .into());
    }
    let mut users = Vec::new();
    let mut debt = Duration::ZERO;
    for a in accounts.iter().take(4) {
        let creds = match a.credentials() {
            Some(c) => c,
            None => {
                let pwd = a.password.as_deref().unwrap_or_default();
                let r = client
                    .login(&a.email, pwd)
                    .await
                    .map_err(|e| SetupError(format!("cannot log in as {}: {e}", a.email)))?;
                let reset = r
                    .exchange
                    .rate_limit()
                    .seconds_until_reset(window)
                    .unwrap_or(window);
                debt = Duration::from_secs(reset.min(window + 1) + 1);
                Credentials::from(&r.value)
            }
        };
        users.push((a.email.clone(), creds));
    }
    // Prefer an account outside A..D for login: a server that rotates secrets
    // at login would otherwise break the other probes' tokens.
    let login = accounts
        .iter()
        .skip(4)
        .chain(accounts.iter().take(4))
        .find_map(|a| Some((a.email.clone(), a.password.clone()?)));
    Ok(Identities {
        users,
        login,
        login_debt: debt,
    })
}

/// One endpoint's lanes.
struct Plan {
    endpoint: Endpoint,
    expected: u32,
    main: Lane,
    isolation: Result<Lane, String>,
    atomic: Result<Lane, String>,
    /// For login and signup: send one request with X-Forwarded-For once exhausted.
    forwarded_for: bool,
    /// Who looks for the effect of a refused request.
    observer: Credentials,
    start_delay: Duration,
}

struct Setup {
    chat_ab: String,
    chat_cb: String,
}

async fn set_up(client: &Client, ids: &Identities) -> anyhow::Result<Setup> {
    let [(a, ca), (b, _), (c, cc), ..] = ids.users.as_slice() else {
        unreachable!("identities() guarantees four users");
    };
    let chat = |who: &'static str, creds: &Credentials, other: &str| {
        let other = other.to_owned();
        let creds = creds.clone();
        let a = a.clone();
        async move {
            client
                .create_chat(
                    &creds,
                    &format!("limits {who}"),
                    &[other.as_str()],
                    "Direct",
                )
                .await
                .map(|r| r.value)
                .map_err(|e| {
                    SetupError(format!(
                        "cannot create a chat for the probe ({who}, {a}): {e}"
                    ))
                })
        }
    };
    let _ = c;
    Ok(Setup {
        chat_ab: chat("A-B", ca, b).await?,
        chat_cb: chat("C-B", cc, b).await?,
    })
}

fn plans(
    base: &ClientConfig,
    config: &LimitsConfig,
    ids: &Identities,
    setup: &Setup,
    loopback: bool,
    run_id: &str,
) -> anyhow::Result<Vec<Plan>> {
    let users = &ids.users;
    let email = |i: usize| users[i].0.clone();
    let token = |i: usize| users[i].1.clone();
    let default = client_from(base, None)?;
    let mut out = Vec::new();
    for (n, &endpoint) in config.endpoints.iter().enumerate() {
        let expected = config.expect.limit(endpoint).unwrap_or(1);
        let user_lane = |i: usize, chat: Option<&str>, partners: &[usize]| {
            let mut lane = Lane::new(
                endpoint,
                default.clone(),
                run_id,
                format!("user {}", email(i)),
            );
            lane.token = Some(token(i));
            lane.chat = chat.map(str::to_owned);
            lane.partners = partners.iter().map(|&p| email(p)).collect();
            lane
        };
        let plan = if endpoint.requires_auth() {
            let (main, iso, atomic) = match endpoint {
                Endpoint::CreateChat => (
                    user_lane(3, None, &[0, 1]),
                    user_lane(0, None, &[1, 2]),
                    user_lane(1, None, &[0, 2]),
                ),
                Endpoint::GetMessages
                | Endpoint::SendMessage
                | Endpoint::MarkAsRead
                | Endpoint::GetChatParticipants => (
                    user_lane(0, Some(&setup.chat_ab), &[]),
                    user_lane(1, Some(&setup.chat_ab), &[]),
                    user_lane(2, Some(&setup.chat_cb), &[]),
                ),
                _ => (
                    user_lane(0, None, &[]),
                    user_lane(1, None, &[]),
                    user_lane(2, None, &[]),
                ),
            };
            let observer = if endpoint == Endpoint::CreateChat {
                token(3)
            } else {
                token(1)
            };
            Plan {
                endpoint,
                expected,
                main,
                isolation: Ok(iso),
                atomic: Ok(atomic),
                forwarded_for: false,
                observer,
                start_delay: Duration::ZERO,
            }
        } else {
            // Three loopback addresses per endpoint: probe, isolation, atomicity.
            let addr = |k: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + 3 * n as u8 + k));
            let address_lane = |local: Option<IpAddr>| -> anyhow::Result<Lane> {
                let who = local.map_or("this machine's address".into(), |a| format!("address {a}"));
                let mut lane = Lane::new(endpoint, client_from(base, local)?, run_id, who);
                lane.login = ids.login.clone();
                Ok(lane)
            };
            if endpoint == Endpoint::Login && ids.login.is_none() {
                return Err(
                    UsageError("probing login needs an account with a password".into()).into(),
                );
            }
            let no_alias =
                "needs a second client address: only possible against a loopback target".to_owned();
            let (main, isolation, atomic, delay) = if loopback {
                (
                    address_lane(Some(addr(0)))?,
                    Ok(address_lane(Some(addr(1)))?),
                    Ok(address_lane(Some(addr(2)))?),
                    Duration::ZERO,
                )
            } else {
                let delay = if endpoint == Endpoint::Login {
                    ids.login_debt
                } else {
                    Duration::ZERO
                };
                (
                    address_lane(None)?,
                    Err(no_alias.clone()),
                    Err(no_alias),
                    delay,
                )
            };
            Plan {
                endpoint,
                expected,
                main,
                isolation,
                atomic,
                forwarded_for: true,
                observer: token(0),
                start_delay: delay,
            }
        };
        out.push(plan);
    }
    Ok(out)
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// Measures one endpoint along the timeline in `window.rs`.
async fn measure(plan: Plan, window: Duration) -> EndpointReport {
    tokio::time::sleep(plan.start_delay).await;
    let expected = plan.expected;
    let lane = &plan.main;
    let t0 = Instant::now();
    let half = expected.div_ceil(2);
    let p1 = burst(lane, half).await;

    // Atomicity on its own fresh bucket, while the main one waits.
    let atomic_run = match &plan.atomic {
        Ok(l) => Ok(concurrent(l, expected + (expected / 4).max(5)).await),
        Err(why) => Err(why.clone()),
    };

    sleep_until(t0 + window / 2).await;
    let p2 = burst(lane, 2 * expected + 5).await;
    let rose_between = match (
        p1.samples.last().and_then(|s| s.rate.remaining.value()),
        p2.samples.first().and_then(|s| s.rate.remaining.value()),
    ) {
        (Some(from), Some(to)) if to > from => Some((from, to)),
        _ => None,
    };
    // After a reset between the phases only phase two counts toward the limit.
    let enforced =
        (p2.refusal.is_some() && p1.errors.is_empty()).then_some(if rose_between.is_some() {
            p2.accepted
        } else {
            p1.accepted + p2.accepted
        });

    let refusal = judge_refusal(&plan, &p2).await;
    let isolation = match &plan.isolation {
        Err(why) => Finding::skip(why.clone()),
        Ok(l) if p2.refusal.is_some() => {
            let b = burst(l, 1).await;
            match (b.accepted, b.samples.first()) {
                (1, Some(s)) => Finding::ok(format!(
                    "with {}'s bucket exhausted, {} was accepted (Remaining {})",
                    lane.who,
                    l.who,
                    s.rate.remaining.describe()
                )),
                (_, Some(s)) if s.refused => Finding::fail(format!(
                    "with {}'s bucket exhausted, {} was refused too: the bucket is shared, not per {}",
                    lane.who,
                    l.who,
                    if plan.endpoint.requires_auth() { "user" } else { "client address" }
                )),
                _ => Finding::error(b.errors.first().cloned().unwrap_or_else(|| "no answer".into())),
            }
        }
        Ok(_) => Finding::skip("the bucket was never exhausted"),
    };
    let forwarded_for = if !plan.forwarded_for {
        None
    } else if p2.refusal.is_none() {
        Some(Finding::skip("the bucket was never exhausted"))
    } else {
        let (req, _) = lane.next_request();
        let req = req.header("X-Forwarded-For", "198.51.100.7");
        Some(match lane.client.send(&req).await {
            Ok(ex) if ex.is_success() => Finding::fail(
                "with the bucket exhausted, the same client sending X-Forwarded-For: 198.51.100.7 was accepted: a client-chosen header opens a fresh bucket, so anyone can bypass the limit",
            ),
            Ok(ex) if probe::Sample::of(&ex).refused => {
                Finding::ok("a client-supplied X-Forwarded-For did not open a fresh bucket")
            }
            Ok(ex) => Finding::error(format!("the X-Forwarded-For probe got HTTP {}", ex.status)),
            Err(e) => Finding::error(format!("the X-Forwarded-For probe failed: {e}")),
        })
    };

    let slack = slack(window);
    sleep_until(t0 + window + slack + p1.elapsed).await;
    let p3 = burst(lane, enforced.unwrap_or(expected).max(1)).await;
    let p4 = if p3.accepted == 0 && p3.errors.is_empty() && enforced.is_some() {
        sleep_until(t0 + window * 3 / 2 + p2.elapsed + slack).await;
        Some(burst(lane, enforced.unwrap_or(expected)).await)
    } else {
        None
    };

    let mut r = EndpointReport {
        endpoint: plan.endpoint,
        keyed_by: if plan.endpoint.requires_auth() {
            "user"
        } else {
            "client address"
        }
        .into(),
        expected,
        observed: enforced,
        header_limit: p1.samples.first().and_then(|s| s.rate.limit.value()),
        limit: judge_limit(expected, enforced, &p1, &p2),
        remaining: judge_remaining(&p1, &p2),
        reset_form: String::new(),
        reset: Finding::ok(""),
        refusal,
        window: None,
        window_finding: Finding::skip(""),
        isolation,
        forwarded_for,
        atomicity: judge_atomicity(atomic_run, enforced.unwrap_or(expected)),
        verdict: String::new(),
    };
    let (form, reset) = judge_reset(window.as_secs(), [&p1, &p2, &p3]);
    r.reset_form = form;
    r.reset = reset;
    let phase_errors: Vec<&String> = [&p1, &p2, &p3]
        .iter()
        .flat_map(|b| b.errors.iter())
        .collect();
    if let Some(e) = phase_errors.first() {
        r.window_finding = Finding::error(format!("the probe was disturbed: {e}"));
    } else if enforced.is_none() {
        r.window_finding = Finding::skip("no refusal was seen, so there is no window to observe");
    } else {
        let v = classify(Phases {
            first: p1.accepted,
            first_sent: half,
            second: p2.accepted,
            third: p3.accepted,
            third_capped: p3.refusal.is_none(),
            fourth: p4.as_ref().map(|b| b.accepted),
            rose_between,
        });
        r.window_finding = match v.kind {
            WindowKind::Sliding => Finding::ok(format!("sliding: {}", v.evidence)),
            WindowKind::Unknown => Finding::error(format!("could not tell the window kind: {}", v.evidence)),
            k => Finding::fail(format!(
                "{} window, not sliding (RL-6: a client under 60% of the limit can still be refused): {}",
                k.as_str(),
                v.evidence
            )),
        };
        r.window = Some(v);
    }
    r.settle();
    r
}

fn lookalike_note(b: &Burst) -> String {
    b.samples
        .iter()
        .flat_map(|s| s.rate.lookalikes.iter())
        .next()
        .map(|l| {
            format!(
                " (the server sent {} in {} instead)",
                l.expected, l.found_in
            )
        })
        .unwrap_or_default()
}

fn judge_limit(expected: u32, enforced: Option<u32>, p1: &Burst, p2: &Burst) -> Finding {
    let header = p1
        .samples
        .first()
        .map(|s| s.rate.limit.clone())
        .unwrap_or(Field::Missing);
    if let Some(e) = p1.errors.first().or(p2.errors.first()) {
        return Finding::error(e.clone());
    }
    let Some(observed) = enforced else {
        return Finding::fail(format!(
            "no refusal after {} requests: the limit of {expected} is not enforced (or is higher)",
            p1.accepted + p2.accepted
        ));
    };
    let mut problems = Vec::new();
    if observed != expected {
        problems.push(format!(
            "{observed} accepted before the first refusal, expected {expected}"
        ));
    }
    match header {
        Field::Value(h) if h == expected as u64 => {}
        Field::Value(h) => problems.push(format!(
            "X-RateLimit-Limit announces {h}, expected {expected}"
        )),
        other => problems.push(format!(
            "X-RateLimit-Limit is {}{}",
            other.describe(),
            lookalike_note(p1)
        )),
    }
    if problems.is_empty() {
        Finding::ok(format!(
            "{observed} accepted before the first refusal, as expected and announced"
        ))
    } else {
        Finding::fail(problems.join("; "))
    }
}

fn judge_remaining(p1: &Burst, p2: &Burst) -> Finding {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (phase, b) in [(1, p1), (2, p2)] {
        let accepted: Vec<&probe::Sample> = b
            .samples
            .iter()
            .filter(|s| !s.refused && s.status < 400)
            .collect();
        let mut prev: Option<u64> = None;
        for s in accepted {
            let Some(r) = s.rate.remaining.value() else {
                problems.push(format!(
                    "X-RateLimit-Remaining is {}{}",
                    s.rate.remaining.describe(),
                    lookalike_note(b)
                ));
                break;
            };
            if let (Some(l), true) = (s.rate.limit.value(), true) {
                if r > l {
                    problems.push(format!("Remaining {r} exceeds Limit {l}"));
                }
            }
            if let Some(p) = prev {
                if r + 1 != p {
                    problems.push(format!(
                        "in phase {phase}, Remaining went from {p} to {r} on one request"
                    ));
                    break;
                }
            }
            prev = Some(r);
            seen.push(r);
        }
        if !problems.is_empty() {
            break;
        }
    }
    match (problems.first(), seen.first(), seen.last()) {
        (Some(_), ..) => Finding::fail(problems.join("; ")),
        (None, Some(first), Some(last)) => {
            Finding::ok(format!("fell by one per request, from {first} to {last}"))
        }
        _ => Finding::skip("no accepted request to read"),
    }
}

fn judge_reset(window: u64, bursts: [&Burst; 3]) -> (String, Finding) {
    let mut forms = std::collections::BTreeSet::new();
    let mut bad = None;
    for s in bursts.iter().flat_map(|b| b.samples.iter()) {
        match s.rate.reset_form(window) {
            None => {
                forms.insert("missing");
                bad.get_or_insert(format!("X-RateLimit-Reset is {}", s.rate.reset.describe()));
            }
            Some(ResetForm::Delta { .. }) => {
                forms.insert("delta");
            }
            Some(ResetForm::Epoch { .. }) => {
                forms.insert("epoch");
            }
            Some(ResetForm::Inconsistent { reason, .. }) => {
                forms.insert("inconsistent");
                bad.get_or_insert(format!("X-RateLimit-Reset is inconsistent: {reason}"));
            }
        }
    }
    let form = match forms.len() {
        0 => "none seen".to_owned(),
        1 => forms
            .iter()
            .next()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        _ => format!(
            "mixed ({})",
            forms.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    let finding = match bad {
        Some(b) => Finding::fail(b),
        None => Finding::ok(format!(
            "{form}, consistent with Date and the {window} s window"
        )),
    };
    (form, finding)
}

async fn judge_refusal(plan: &Plan, p2: &Burst) -> Refusal {
    let Some((sample, exchange, tag)) = &p2.refusal else {
        return Refusal {
            status: None,
            retry_after: None,
            remaining_zero: false,
            had_effect: None,
            curl: None,
            finding: Finding::skip("no refusal was seen"),
        };
    };
    let rate = &sample.rate;
    let had_effect = refused_had_effect(&plan.main, &plan.observer, tag).await;
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    if rate.remaining != Field::Value(0) {
        fails.push(format!(
            "the refusal carried Remaining {}, not 0",
            rate.remaining.describe()
        ));
    }
    if rate.limit.is_missing() || rate.reset.is_missing() {
        fails.push("the refusal lacks X-RateLimit headers".to_owned());
    }
    if let Ok(Some(true)) = had_effect {
        fails.push(format!("the refused {} took effect anyway", plan.endpoint));
    }
    if sample.status != 429 {
        warns.push(format!("refused with {} instead of 429", sample.status));
    }
    if rate.retry_after.value().is_none() {
        warns.push("no Retry-After".to_owned());
    }
    let finding = if !fails.is_empty() {
        Finding::fail(
            fails
                .into_iter()
                .chain(warns)
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if let Err(e) = &had_effect {
        Finding::error(format!("could not check the refusal had no effect: {e}"))
    } else if !warns.is_empty() {
        Finding::new(Status::Warn, warns.join("; "))
    } else {
        Finding::ok(format!(
            "429 with Retry-After {} and Remaining 0{}",
            rate.retry_after.describe(),
            if had_effect.as_ref().is_ok_and(|e| e.is_some()) {
                "; nothing was stored"
            } else {
                ""
            }
        ))
    };
    Refusal {
        status: Some(sample.status),
        retry_after: rate.retry_after.value(),
        remaining_zero: rate.remaining == Field::Value(0),
        had_effect: had_effect.ok().flatten(),
        curl: Some(exchange.to_curl(false)),
        finding,
    }
}

fn judge_atomicity(run: Result<probe::Concurrent, String>, limit: u32) -> Atomicity {
    let finding = match &run {
        Err(why) => Finding::skip(why.clone()),
        Ok(c) if c.errors > 0 => Finding::error(format!(
            "void: {} of {} simultaneous requests failed ({})",
            c.errors,
            c.sent,
            c.first_error.clone().unwrap_or_default()
        )),
        Ok(c) if c.accepted == limit => Finding::ok(format!("exactly {limit} of {} simultaneous requests accepted", c.sent)),
        Ok(c) if c.accepted > limit => Finding::fail(format!(
            "{} of {} simultaneous requests accepted against a limit of {limit}: counting is not atomic",
            c.accepted, c.sent
        )),
        Ok(c) => Finding::fail(format!(
            "only {} of {} simultaneous requests accepted against a limit of {limit}",
            c.accepted, c.sent
        )),
    };
    Atomicity {
        run: run.ok(),
        finding,
    }
}

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
    let ids = identities(&client, accounts, window.as_secs()).await?;
    let setup = set_up(&client, &ids).await?;
    let run_id = format!("{:x}", rand::random::<u32>());
    let loopback = probe::is_loopback_target(target);
    let plans = plans(base, config, &ids, &setup, loopback, &run_id)?;
    let started_at = chrono::Utc::now();
    let started = Instant::now();
    let done: Arc<Mutex<BTreeMap<Endpoint, EndpointReport>>> = Arc::default();
    let longest = plans
        .iter()
        .map(|p| p.start_delay)
        .max()
        .unwrap_or_default();
    if config.progress {
        eprintln!(
            "limits: measuring {} endpoint(s) of {target} at once; this takes about {:.0} s (a {} s window{}), {:.0} s more if a window restarts on every request",
            plans.len(),
            (config.expected_duration() + longest).as_secs_f64(),
            window.as_secs(),
            if longest.is_zero() { String::new() } else { format!(", after waiting {} s for login quota spent on setup", longest.as_secs()) },
            (window / 2).as_secs_f64()
        );
    }
    let tasks = plans.into_iter().map(|plan| {
        let done = done.clone();
        async move {
            let r = measure(plan, window).await;
            if let Ok(mut d) = done.lock() {
                d.insert(r.endpoint, r);
            }
        }
    });
    let all = futures::future::join_all(tasks);
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
    let holds = !interrupted
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
        endpoints,
    })
}

/// Writes `limits.json` and `limits.md` into `dir`.
pub fn write_reports(dir: &Path, report: &LimitsReport) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(report)?;
    std::fs::write(dir.join("limits.json"), json)
        .with_context(|| format!("cannot write {}/limits.json", dir.display()))?;
    std::fs::write(dir.join("limits.md"), report::markdown(report))
        .with_context(|| format!("cannot write {}/limits.md", dir.display()))?;
    Ok(())
}

/// The exit code a report earns: 0 holds, 1 fails, 3 nothing failed but
/// something could not be measured.
pub fn exit_code_of(report: &LimitsReport) -> u8 {
    if report.holds {
        exit_code::SUCCESS
    } else if report.interrupted || report.endpoints.iter().any(|e| e.verdict == "fails") {
        exit_code::TARGET_FAILED
    } else {
        exit_code::UNREACHABLE
    }
}

/// The whole command: against `target`, or the embedded reference server
/// configured with the expected limits when there is none.
pub async fn run(
    target: Option<String>,
    accounts: Vec<Account>,
    timeout: Duration,
    config: LimitsConfig,
) -> anyhow::Result<u8> {
    let (target, accounts, server) = match target {
        Some(t) => (t, accounts, None),
        None => {
            let server = embedded(&config).await?;
            let accounts = server.core().accounts();
            (server.url(), accounts, Some(server))
        }
    };
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

/// The reference server, configured with exactly the expected limits.
async fn embedded(config: &LimitsConfig) -> anyhow::Result<crate::reference::RunningServer> {
    let mut server = crate::reference::ServerConfig::default()
        .with_window(config.expect.window_seconds)
        .with_generated_users(6);
    for (e, n) in &config.expect.limits {
        server = server.with_limit(*e, *n);
    }
    crate::reference::serve(server, ([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| SetupError(format!("cannot start the embedded reference server: {e}")).into())
}
