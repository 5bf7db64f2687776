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
use crate::contract::{refusal, Endpoint, LimitsTable};
use crate::error::{exit_code, SetupError, UsageError};
use probe::{burst, client_from, concurrent, refused_had_effect, Burst, Lane, Pairs, Sent};
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

    /// The planned duration with `accounts` accounts, ignoring the time the
    /// requests themselves take: the main timeline (t0, t0+W/2, just after
    /// t0+W), atomicity a window after B's last request when there is no
    /// third account, then the login probe.
    pub fn expected_duration(&self, accounts: usize) -> Duration {
        let w = self.window();
        let s = slack(w);
        let main = w + s + Duration::from_secs(1);
        if accounts >= 3 {
            main
        } else {
            // B's isolation request comes at about t0 + W/2.
            (w / 2 + w + s + Duration::from_secs(1)).max(main)
        }
    }
}

/// How long after a window boundary the probe asks again.
fn slack(window: Duration) -> Duration {
    (window / 6).min(Duration::from_secs(1))
}

/// The identities a run acts as.
pub struct Identities {
    /// Two or more users with passwords: A, B (and C...).
    pub users: Vec<(String, String)>,
    /// The pair each holds.
    pub pairs: Arc<Pairs>,
    /// Seconds to wait before probing login from the default address (setup
    /// spent login quota there).
    pub login_debt: Duration,
}

/// Checks the accounts (two with passwords at least: a usage error naming
/// what is missing) and logs in those that have no token.
pub async fn identities(
    client: &Client,
    accounts: &[Account],
    window: u64,
) -> anyhow::Result<Identities> {
    let with_password: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.password.as_deref().is_some_and(|p| !p.is_empty()))
        .collect();
    if with_password.len() < 2 {
        let without: Vec<&str> = accounts
            .iter()
            .filter(|a| a.password.as_deref().is_none_or(str::is_empty))
            .map(|a| a.email.as_str())
            .collect();
        return Err(UsageError(format!(
            "limits needs 2 accounts with passwords (one whose buckets are probed, one for isolation and the login probe), got {}{}: give --user EMAIL:PASSWORD twice or an --accounts file with passwords",
            with_password.len(),
            if without.is_empty() {
                String::new()
            } else {
                format!(" ({} without a password)", without.join(", "))
            }
        ))
        .into());
    }
    let pairs = Arc::new(Pairs::default());
    let mut users = Vec::new();
    let mut debt = Duration::ZERO;
    for a in with_password.iter().take(3) {
        let pwd = a.password.clone().unwrap_or_default();
        let creds = match a.credentials() {
            Some(c) => c,
            None => {
                let r = client
                    .login(&a.email, &pwd)
                    .await
                    .map_err(|e| SetupError(format!("cannot log in as {}: {e}", a.email)))?;
                let reset = r
                    .exchange
                    .rate_limit()
                    .with_body_values()
                    .seconds_until_reset(window)
                    .unwrap_or(window);
                debt = Duration::from_secs(reset.min(window + 1) + 1);
                Credentials::from(&r.value)
            }
        };
        pairs.insert(&a.email, creds);
        users.push((a.email.clone(), pwd));
    }
    Ok(Identities {
        users,
        pairs,
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
    /// Atomicity waits until its bucket has been idle for a window (it is
    /// the isolation user's, two accounts only).
    atomic_waits: bool,
    /// For login and signup: send one request with X-Forwarded-For once exhausted.
    forwarded_for: bool,
    /// Who looks for the effect of a refused request.
    observer: String,
    start_delay: Duration,
    /// Say on stderr what the probe waits for.
    progress: bool,
}

struct Setup {
    /// A chat of A and B, and one of C and B when there is a C.
    chat_ab: String,
    chat_cb: Option<String>,
}

async fn set_up(client: &Client, ids: &Identities) -> anyhow::Result<Setup> {
    // B creates the chats: A's create_chat bucket stays fresh for the probe.
    let b = &ids.users[1].0;
    let chat = |other: String| async move {
        for attempt in 0..2 {
            let (creds, _) = ids
                .pairs
                .get(b)
                .ok_or_else(|| SetupError(format!("no pair held for {b}")))?;
            ids.pairs.spent(&format!("user {b}"), Endpoint::CreateChat);
            match client
                .create_chat(
                    &creds,
                    &format!("limits {b} {other}"),
                    &[other.as_str()],
                    "Direct",
                )
                .await
            {
                Ok(r) => return Ok(r.value),
                // The pair given (an accounts file's) was revoked since it
                // was issued: the tokens finding; log in and carry on.
                Err(e) if e.status() == Some(401) && attempt == 0 => {
                    ids.pairs.record_revoked(
                        b,
                        format!("create_chat as user {b} answered 401 with the pair the accounts gave: the server revoked it (the tool logged in again)"),
                    );
                    let pwd = &ids.users[1].1;
                    ids.pairs
                        .login(client, "this machine's address", b, pwd)
                        .await
                        .map_err(|e| SetupError(format!("cannot log in as {b}: {e}")))?;
                }
                Err(e) => {
                    return Err(SetupError(format!(
                        "cannot create a chat for the probe ({b} with {other}): {e}"
                    )))
                }
            }
        }
        Err(SetupError(format!(
            "cannot create a chat for the probe ({b} with {other})"
        )))
    };
    let chat_ab = chat(ids.users[0].0.clone()).await?;
    let chat_cb = match ids.users.get(2) {
        Some((c, _)) => Some(chat(c.clone()).await?),
        None => None,
    };
    Ok(Setup { chat_ab, chat_cb })
}

/// The loopback address the login probe at the end logs in from.
const LATE_LOGIN_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 250));

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
    let default = client_from(base, None)?;
    let third = users.len() >= 3;
    let mut out = Vec::new();
    for (n, &endpoint) in config.endpoints.iter().enumerate() {
        let expected = config.expect.limit(endpoint).unwrap_or(1);
        let user_lane = |i: usize, chat: Option<&str>| {
            let mut lane = Lane::new(
                endpoint,
                default.clone(),
                ids.pairs.clone(),
                run_id,
                format!("user {}", email(i)),
            );
            lane.user = Some(email(i));
            lane.chat = chat.map(str::to_owned);
            lane.partners = (0..users.len()).filter(|&p| p != i).map(email).collect();
            lane
        };
        let plan = if endpoint.requires_auth() {
            let needs_chat = matches!(
                endpoint,
                Endpoint::GetMessages
                    | Endpoint::SendMessage
                    | Endpoint::MarkAsRead
                    | Endpoint::GetChatParticipants
            );
            let chat_ab = needs_chat.then_some(setup.chat_ab.as_str());
            let atomic = match (&setup.chat_cb, third) {
                (Some(cb), true) => user_lane(2, needs_chat.then_some(cb.as_str())),
                _ => user_lane(1, chat_ab),
            };
            Plan {
                endpoint,
                expected,
                main: user_lane(0, chat_ab),
                isolation: Ok(user_lane(1, chat_ab)),
                atomic: Ok(atomic),
                atomic_waits: !third,
                forwarded_for: false,
                observer: email(1),
                start_delay: Duration::ZERO,
                progress: config.progress,
            }
        } else {
            // Three loopback addresses per endpoint: probe, isolation, atomicity.
            let addr = |k: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + 3 * n as u8 + k));
            let address_lane = |local: Option<IpAddr>| -> anyhow::Result<Lane> {
                let who = local.map_or("this machine's address".into(), |a| format!("address {a}"));
                let mut lane = Lane::new(
                    endpoint,
                    client_from(base, local)?,
                    ids.pairs.clone(),
                    run_id,
                    who,
                );
                // B logs in: every pair its logins return is kept.
                lane.login = Some(users[1].clone());
                Ok(lane)
            };
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
                atomic_waits: false,
                forwarded_for: true,
                observer: email(1),
                start_delay: delay,
                progress: config.progress,
            }
        };
        out.push(plan);
    }
    Ok(out)
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// Runs atomicity on `lane` once its bucket has been idle for a window (when
/// `waits`), so that only the burst counts.
async fn atomicity_run(
    lane: &Lane,
    waits: bool,
    window: Duration,
    n: u32,
) -> (probe::Concurrent, u32) {
    if waits {
        let idle = window + slack(window);
        // Bounded: the ledger only moves forward while the run lasts.
        for _ in 0..10 {
            match lane.pairs.last_spent(lane.bucket(), lane.endpoint) {
                Some(last) if last.elapsed() < idle => sleep_until(last + idle).await,
                _ => break,
            }
        }
    }
    concurrent(lane, n).await
}

/// Measures one endpoint: the timeline of `window.rs` on the main lane and
/// atomicity (at once on an untouched bucket, or after the timeline once the
/// isolation user's bucket has been idle for a window). Hands back the
/// atomicity lane of a user endpoint for the login probe at the end.
async fn measure(plan: Plan, window: Duration) -> (EndpointReport, Option<Lane>) {
    let n = plan.expected + (plan.expected / 4).max(5);
    let atomic = async {
        match &plan.atomic {
            Ok(l) => Ok(atomicity_run(l, plan.atomic_waits, window, n).await),
            Err(why) => Err(why.clone()),
        }
    };
    let (mut r, run) = if plan.atomic_waits {
        let r = timeline(&plan, window).await;
        (r, atomic.await)
    } else {
        tokio::join!(timeline(&plan, window), atomic)
    };
    r.atomicity = judge_atomicity(run, r.observed.unwrap_or(plan.expected));
    r.settle();
    let lane = if plan.endpoint.requires_auth() {
        plan.atomic.ok()
    } else {
        None
    };
    (r, lane)
}

/// Why a burst says nothing about the limit, as the finding it is: an
/// unexpected answer is a failure with what was seen, a revoked pair is the
/// tokens finding's, a transport error could not be observed.
fn disturbed(bursts: &[&Burst]) -> Option<Finding> {
    for b in bursts {
        if let Some(u) = b.unexpected.first() {
            return Some(Finding::fail(u.clone()));
        }
    }
    for b in bursts {
        if b.revoked.is_some() {
            return Some(Finding::skip(
                "not evaluated: the server revoked the pair the probe held (see tokens)",
            ));
        }
        if let Some(e) = b.errors.first() {
            return Some(Finding::error(e.clone()));
        }
    }
    None
}

/// The main lane's timeline, isolation, X-Forwarded-For and the refusal.
async fn timeline(plan: &Plan, window: Duration) -> EndpointReport {
    tokio::time::sleep(plan.start_delay).await;
    let expected = plan.expected;
    let lane = &plan.main;
    let mut t0 = Instant::now();
    let half = expected.div_ceil(2);
    let mut p1 = burst(lane, half).await;
    // Never blame the server for traffic that is not this run's: when the
    // first answer shows requests counted before it in this window (an
    // earlier run, a `call` a minute ago), wait until all of them, and this
    // burst, have aged out, and start again from an idle bucket.
    let first_remaining = p1
        .samples
        .first()
        .filter(|s| !s.refused)
        .and_then(|s| s.rate.with_body_values().remaining.value());
    if let Some(r) = first_remaining.filter(|r| r + 1 < u64::from(expected)) {
        if plan.progress {
            eprintln!(
                "limits: {} as {}: Remaining {r} after the first request, not {}: waiting {} s for requests counted before this run to age out",
                plan.endpoint,
                lane.who,
                expected - 1,
                window.as_secs() + 1
            );
        }
        sleep_until(Instant::now() + window + Duration::from_secs(1)).await;
        t0 = Instant::now();
        p1 = burst(lane, half).await;
    }

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
    let enforced = (p2.refusal.is_some() && p1.clean()).then_some(if rose_between.is_some() {
        p2.accepted
    } else {
        p1.accepted + p2.accepted
    });

    let refusal = judge_refusal(plan, &p2).await;
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
                _ => disturbed(&[&b]).unwrap_or_else(|| Finding::error("no answer")),
            }
        }
        Ok(_) => Finding::skip("the bucket was never exhausted"),
    };
    let forwarded_for = if !plan.forwarded_for {
        None
    } else if p2.refusal.is_none() {
        Some(Finding::skip("the bucket was never exhausted"))
    } else {
        let (sent, _) = lane
            .send_next(|r| r.header("X-Forwarded-For", "198.51.100.7"))
            .await;
        Some(match sent {
            Sent::Answer(ex) if ex.is_success() => Finding::fail(
                "with the bucket exhausted, the same client sending X-Forwarded-For: 198.51.100.7 was accepted: a client-chosen header opens a fresh bucket, so anyone can bypass the limit",
            ),
            Sent::Answer(ex) if probe::Sample::of(&ex).refused => {
                Finding::ok("a client-supplied X-Forwarded-For did not open a fresh bucket")
            }
            Sent::Answer(ex) => Finding::fail(format!(
                "the X-Forwarded-For probe got HTTP {}, neither accepted nor refused",
                ex.status
            )),
            Sent::Revoked(w) => Finding::skip(format!("not evaluated: {w}")),
            Sent::Transport(e) => Finding::error(format!("the X-Forwarded-For probe failed: {e}")),
        })
    };

    let slack = slack(window);
    sleep_until(t0 + window + slack + p1.elapsed).await;
    let p3 = burst(lane, enforced.unwrap_or(expected).max(1)).await;
    let p4 = if p3.accepted == 0 && p3.clean() && enforced.is_some() {
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
        atomicity: Atomicity {
            run: None,
            finding: Finding::skip("not run"),
        },
        verdict: String::new(),
    };
    let (form, reset) = judge_reset(window.as_secs(), [&p1, &p2, &p3]);
    r.reset_form = form;
    r.reset = reset;
    let mut phases = vec![&p1, &p2, &p3];
    phases.extend(p4.as_ref());
    if let Some(f) = disturbed(&phases) {
        r.window_finding = match f.status {
            Status::Fail => Finding::fail(format!(
                "a valid request of the probe was answered outside the contract: {}",
                f.detail
            )),
            Status::Error => Finding::error(format!("the probe was disturbed: {}", f.detail)),
            _ => f,
        };
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
            WindowKind::Unknown => Finding::fail(format!(
                "the accepted counts fit no window kind, so not the sliding window RL-6 requires: {}",
                v.evidence
            )),
            k => Finding::fail(format!(
                "{} window, not sliding (RL-6: a client under 60% of the limit can still be refused): {}",
                k.as_str(),
                v.evidence
            )),
        };
        r.window = Some(v);
    }
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
    if let Some(f) = disturbed(&[p1, p2]) {
        return f;
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
            values_in: None,
            form: None,
            had_effect: None,
            curl: None,
            finding: Finding::skip("no refusal was seen"),
        };
    };
    // The classifier's reading: the body's values stand in for headers.
    let form = exchange.refusal();
    let rate = form
        .as_ref()
        .map(|f| f.rate.clone())
        .unwrap_or_else(|| sample.rate.clone());
    let values_in = form.as_ref().map(|f| f.values_in);
    let had_effect = refused_had_effect(&plan.main, &plan.observer, tag).await;
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    if rate.remaining != Field::Value(0) {
        fails.push(format!(
            "the refusal carried Remaining {}, not 0",
            rate.remaining.describe()
        ));
    }
    match values_in {
        Some(refusal::ValuesIn::Headers)
            if sample.rate.limit.is_missing() || sample.rate.reset.is_missing() =>
        {
            fails.push("the refusal lacks some X-RateLimit headers".to_owned())
        }
        Some(refusal::ValuesIn::Body) => fails.push(
            "the refusal carries the rate-limit values only in the JSON body, not as X-RateLimit headers".to_owned(),
        ),
        Some(refusal::ValuesIn::Nowhere) | None => {
            fails.push("the refusal carries no rate-limit values".to_owned())
        }
        _ => {}
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
    let described = form.as_ref().map(|f| f.describe());
    let finding = if !fails.is_empty() {
        Finding::fail(
            fails
                .into_iter()
                .chain(warns)
                .chain(described.clone().map(|d| format!("the refusal: {d}")))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if let Err(e) = &had_effect {
        Finding::error(format!("could not check the refusal had no effect: {e}"))
    } else if !warns.is_empty() {
        Finding::new(
            Status::Warn,
            format!(
                "{}; the refusal: {}",
                warns.join("; "),
                described.clone().unwrap_or_default()
            ),
        )
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
        values_in,
        form: described,
        had_effect: had_effect.ok().flatten(),
        curl: Some(exchange.to_curl(false)),
        finding,
    }
}

fn judge_atomicity(run: Result<(probe::Concurrent, u32), String>, limit: u32) -> Atomicity {
    let finding = match &run {
        Err(why) => Finding::skip(why.clone()),
        Ok((c, transport)) if *transport > 0 => Finding::error(format!(
            "void: {transport} of {} simultaneous requests got no answer ({})",
            c.sent,
            c.first_error.clone().unwrap_or_default()
        )),
        Ok((c, _)) if c.errors > 0 => Finding::fail(format!(
            "{} of {} simultaneous requests were answered neither accepted nor refused ({} accepted, {} refused; first: {}): the server fails under concurrent requests",
            c.errors,
            c.sent,
            c.accepted,
            c.refused,
            c.first_error.clone().unwrap_or_default()
        )),
        Ok((c, _)) if c.accepted == limit => Finding::ok(format!("exactly {limit} of {} simultaneous requests accepted", c.sent)),
        Ok((c, _)) if c.accepted > limit => Finding::fail(format!(
            "{} of {} simultaneous requests accepted against a limit of {limit}: counting is not atomic",
            c.accepted, c.sent
        )),
        Ok((c, _)) => Finding::fail(format!(
            "only {} of {} simultaneous requests accepted against a limit of {limit}",
            c.accepted, c.sent
        )),
    };
    Atomicity {
        run: run.ok().map(|(c, _)| c),
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

/// Whether a login empties a user's buckets (RL-6): each lane's bucket is
/// exhausted (a refusal seen), the user logs in once, and one request per
/// endpoint follows: accepted means the login emptied the bucket.
async fn login_empties(
    base: &ClientConfig,
    pairs: &Pairs,
    lanes: Vec<Lane>,
    user: &(String, String),
    from: Option<IpAddr>,
    window: Duration,
    config: &LimitsConfig,
) -> Vec<(Endpoint, Finding)> {
    if lanes.is_empty() {
        return Vec::new();
    }
    let exhausted = futures::future::join_all(lanes.iter().map(|l| {
        let max = 2 * config.expect.limit(l.endpoint).unwrap_or(1) + 5;
        burst(l, max)
    }))
    .await;
    let client = match client_from(base, from) {
        Ok(c) => c,
        Err(e) => {
            return lanes
                .iter()
                .map(|l| {
                    (
                        l.endpoint,
                        Finding::error(format!("cannot build a client for the login: {e}")),
                    )
                })
                .collect()
        }
    };
    let address = from.map_or("this machine's address".into(), |a| format!("address {a}"));
    // Paced on refusals: the login bucket of this address may be spent.
    let mut login = Err("no attempt".to_owned());
    for _ in 0..3 {
        match pairs.login(&client, &address, &user.0, &user.1).await {
            Ok(ex) if ex.is_success() => {
                login = Ok(());
                break;
            }
            Ok(ex) => match ex.refusal() {
                Some(r) => {
                    let w = Duration::from_secs(r.wait_seconds(window.as_secs()).max(1));
                    if config.progress {
                        eprintln!(
                            "limits: login refused ({}), waiting {} s",
                            r.describe(),
                            w.as_secs()
                        );
                    }
                    login = Err(format!("login refused: {}", r.describe()));
                    tokio::time::sleep(w).await;
                }
                None => {
                    login = Err(format!("login as {} answered HTTP {}", user.0, ex.status));
                    break;
                }
            },
            Err(e) => {
                login = Err(format!("login as {}: {e}", user.0));
                break;
            }
        }
    }
    let mut out = Vec::new();
    for (l, b) in lanes.iter().zip(exhausted) {
        let f = if let Some(f) = disturbed(&[&b]) {
            f
        } else if b.refusal.is_none() {
            Finding::skip(format!(
                "{}'s bucket was never refused, so a login cannot be seen emptying it",
                l.who
            ))
        } else if let Err(e) = &login {
            if e.starts_with("login refused") {
                Finding::error(format!("could not log in to test it: {e}"))
            } else {
                Finding::fail(format!("a valid login was not accepted: {e}"))
            }
        } else {
            let after = burst(l, 1).await;
            match (after.accepted, &after.refusal) {
                (1, _) => Finding::fail(format!(
                    "emptied-by-login: with {}'s bucket exhausted (refused just before), a login of {} made the next request accepted (Remaining {}): every login resets the count (RL-6)",
                    l.who,
                    user.0,
                    after.samples.first().map(|s| s.rate.remaining.describe()).unwrap_or_default()
                )),
                (_, Some(_)) => Finding::ok(format!("a login of {} left the exhausted bucket as it was", user.0)),
                _ => disturbed(&[&after]).unwrap_or_else(|| Finding::error("no answer")),
            }
        };
        out.push((l.endpoint, f));
    }
    out
}

/// Folds the login probe's finding into the window aspect.
fn apply_login_finding(r: &mut EndpointReport, f: Finding) {
    match f.status {
        Status::Ok => {}
        Status::Fail if f.detail.starts_with("emptied-by-login") => {
            if let Some(w) = &mut r.window {
                w.kind = WindowKind::EmptiedByLogin;
                w.evidence = format!("{}; and {}", f.detail, w.evidence);
            }
            r.window_finding = Finding::fail(if r.window_finding.status == Status::Ok {
                f.detail
            } else {
                format!("{}; {}", f.detail, r.window_finding.detail)
            });
        }
        _ if r.window_finding.status == Status::Ok => r.window_finding = f,
        _ => {}
    }
    r.settle();
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
