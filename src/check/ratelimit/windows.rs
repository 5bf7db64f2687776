//! RL-6: the window slides. A client at 60% of the limit is never refused
//! (RL-6.1), capacity comes back as counted requests age out (RL-6.2): the
//! slow checks, each a window or two of waiting; and logging in again does
//! not empty a user's window (RL-6.3).

use std::time::{Duration, Instant};

use crate::check::context::Ctx;
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Credentials, Exchange, Request};
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

use super::helpers::{
    burst, burst_of, limited_user_endpoints, merge_fails, own_user_or_skip, partner, read_endpoint,
    too_slow_to_spend,
};
use super::sweep::sweep_request;

/// RL-6.1 on get_chats, create_chat, get_messages and send_message of one
/// fresh user, the four at once (independent buckets): two windows
/// whatever the number of endpoints.
pub(super) async fn steady_client(cx: &Ctx) -> Result<Verdict, Verdict> {
    on_each_endpoint(cx, "rl61", Rl6::Steady).await
}

/// RL-6.1 on one endpoint: 60% of the limit per window, for two windows.
pub(super) async fn steady(
    cx: &Ctx,
    limit: u32,
    make: &(dyn Fn() -> Request + Sync),
) -> Result<String, Verdict> {
    let per_window = (limit * 6 / 10).max(1);
    let interval = cx.window() / per_window;
    let total = per_window * 2;
    // On a schedule, not a sleep after each answer: a slow server's round
    // trips do not stretch the run, and the rate stays at 60%.
    let t0 = Instant::now();
    for i in 0..total {
        cx.sleep_until(t0 + interval * i).await;
        let ex = cx.send_unpaced(&make()).await.step("steady polling")?;
        if !ex.is_success() {
            return Err(Verdict::fail(format!("a client at 60% of the limit was refused at request {}", i + 1))
                .expected(format!("never refused at {per_window} requests per {} s window", cx.window_secs))
                .seen(describe(&ex))
                .note("a window that restarts on every counted request never empties under steady traffic")
                .with(&ex));
        }
    }
    Ok(format!(
        "{total} requests at 60% of {limit} per window, none refused"
    ))
}

/// Sends requests built by `make` in concurrent bursts until a burst sees
/// a refusal, at most `max` requests: what was accepted, and the first
/// refusal. Refusals are not counted (CONTRACT: "a refusal ... is not
/// counted"), so the few sent past the first one change nothing; the bursts
/// keep a phase short on a slow server.
pub(super) async fn count_until_refused(
    cx: &Ctx,
    make: &(dyn Fn() -> Request + Sync),
    max: u32,
) -> Result<(u32, Option<Exchange>), Verdict> {
    let mut n = 0;
    let mut sent = 0;
    while sent < max {
        let width = cx.burst_width(max);
        let k = (max - sent).min(width as u32);
        let answers = burst_of(cx, k, width, |_| make()).await?;
        sent += k;
        let mut refusal = None;
        for ex in answers {
            if ex.is_success() {
                n += 1;
            } else if refusal.is_none() {
                refusal = Some(ex);
            }
        }
        if refusal.is_some() {
            return Ok((n, refusal));
        }
    }
    Ok((n, None))
}

/// RL-6.2 on get_chats, create_chat, get_messages and send_message of one
/// fresh user: its buckets are independent, so the four run at once and the
/// check takes about a window and a half whatever the number of endpoints.
pub(super) async fn sliding_recovery(cx: &Ctx) -> Result<Verdict, Verdict> {
    on_each_endpoint(cx, "rl62", Rl6::Slide).await
}

/// Which RL-6 check [`on_each_endpoint`] runs on each endpoint.
#[derive(Clone, Copy)]
pub(super) enum Rl6 {
    Steady,
    Slide,
}

/// Runs `which` on each limited user endpoint at once, as one fresh user.
/// Each request is one a conforming server accepts: create_chat names each
/// chat apart (`{tag}-{endpoint}-{i}`), get_messages and send_message use a
/// chat of the check's own. One verdict: every failing endpoint named, with
/// expected and seen; else the first that could not be judged; else `pass`.
pub(super) async fn on_each_endpoint(
    cx: &Ctx,
    prefix: &str,
    which: Rl6,
) -> Result<Verdict, Verdict> {
    let plan = limited_user_endpoints(cx)?;
    let u = own_user_or_skip(cx.fresh_user(false).await)?;
    // Another user makes the chat, so the user's create_chat bucket stays
    // idle.
    let other = partner(cx, &u);
    let chat = cx.group(&other, &[&u]).await?;
    let tag = cx.unique(prefix);
    for (e, _) in &plan {
        cx.wait_idle(&u, *e).await;
    }
    let (u, o, c, t) = (&u, &other, chat.as_str(), tag.as_str());
    let runs = plan.iter().map(|&(e, limit)| async move {
        let seq = std::sync::atomic::AtomicU32::new(0);
        let make = || {
            let i = seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            sweep_request(e, u, o, c, &format!("{t}-{}-{i}", e.name()))
        };
        let r = match which {
            Rl6::Steady => steady(cx, limit, &make).await,
            Rl6::Slide => slide(cx, limit, &make).await,
        };
        (e, r)
    });
    let results = futures::future::join_all(runs).await;
    let mut fails: Vec<(Endpoint, Verdict)> = Vec::new();
    let mut unjudged: Vec<(Endpoint, Verdict)> = Vec::new();
    let mut passed: Vec<String> = Vec::new();
    for (e, r) in results {
        match r {
            Ok(msg) => passed.push(format!("{e}: {msg}")),
            Err(v) if v.kind == crate::check::verdict::VerdictKind::Fail => fails.push((e, v)),
            Err(v) => unjudged.push((e, v)),
        }
    }
    if !fails.is_empty() {
        let mut v = merge_fails(&fails);
        for (e, u) in &unjudged {
            v = v.note(format!("{e} not judged: {}", u.message));
        }
        return Err(v);
    }
    if let Some((e, first)) = unjudged.first() {
        let mut v = first.clone().context(e.name());
        for (e, u) in unjudged.iter().skip(1) {
            v = v.note(format!("{e} not judged either: {}", u.message));
        }
        return Err(v);
    }
    Ok(Verdict::pass(passed.join("; ")))
}

/// RL-6.2 on one endpoint: half the limit, the rest three quarters of a
/// window later, then what comes back as the first half ages out.
pub(super) async fn slide(
    cx: &Ctx,
    limit: u32,
    make: &(dyn Fn() -> Request + Sync),
) -> Result<String, Verdict> {
    let w = cx.window();
    let half = limit / 2;
    let too_slow = |what: &str| {
        Verdict::error(format!(
            "too slow to judge the window: {what} (window {} s)",
            cx.window_secs
        ))
    };
    let t0 = Instant::now();
    let (first, refusal) = count_until_refused(cx, make, half).await?;
    if let Some(r) = refusal {
        return Err(Verdict::fail(format!("refused after {first} of {limit}"))
            .expected(format!("{half} accepted"))
            .seen(describe(&r))
            .with(&r));
    }
    let t_half_end = Instant::now();
    // The second phase starts three quarters into the first half's window:
    // the third phase, which must end before the second phase's requests
    // age, then has a quarter window minus the first phase to work in.
    cx.sleep_until(t0 + w * 3 / 4).await;
    let t2 = Instant::now();
    let (second, refusal) = count_until_refused(cx, make, limit + 2).await?;
    if Instant::now() >= t0 + w {
        return Err(too_slow("the second half overran the window"));
    }
    if second != limit - half {
        return Err(Verdict::fail(format!(
            "three quarters of a window later, {second} more were accepted"
        ))
        .expected(format!(
            "{} (the limit minus the {half} of the first half)",
            limit - half
        ))
        .seen(format!("{second}"))
        .note(if second > limit - half {
            "more capacity than a sliding window allows: a fixed window that reset in between?"
        } else {
            "less capacity than expected"
        })
        .with_all(refusal.as_ref()));
    }
    let margin = (w / 10).min(Duration::from_secs(1));
    cx.sleep_until(t_half_end + w + margin).await;
    let (third, refusal) = count_until_refused(cx, make, limit + 2).await?;
    if Instant::now() >= t2 + w {
        return Err(too_slow(
            "the probe after the first half aged overran the second half's expiry",
        ));
    }
    if third != half {
        let why = if third == 0 {
            "no capacity came back: the window seems to restart with every counted request"
        } else if third > half {
            "more capacity came back than aged out: a fixed window that reset at once?"
        } else {
            "less capacity came back than aged out"
        };
        return Err(Verdict::fail(format!(
            "when the first {half} requests aged out, {third} were accepted"
        ))
        .expected(format!(
            "{half} (only the requests older than the window freed capacity)"
        ))
        .seen(format!("{third}"))
        .note(why)
        .with_all(refusal.as_ref()));
    }
    Ok(format!(
        "{half} + {second} accepted, then {third} came back as the first half aged"
    ))
}

/// Spends the bucket `req` counts in: `limit` requests in a concurrent
/// burst, then one at a time until the first refusal, at most three more.
/// The first refusal.
pub(super) async fn exhaust_with(cx: &Ctx, req: &Request, limit: u32) -> Result<Exchange, Verdict> {
    let mut counted = Vec::new();
    let mut accepted = 0;
    let mut first_refusal = None;
    let started = Instant::now();
    let answers = burst(cx, limit, |_| req.clone()).await?;
    for ex in answers {
        if ex.is_success() {
            accepted += 1;
            if counted.len() < 3 {
                counted.push(ex);
            }
        } else if first_refusal.is_none() {
            first_refusal = Some(ex);
        }
    }
    for _ in 0..3 {
        if first_refusal.is_some() {
            break;
        }
        let ex = cx.send_unpaced(req).await.step("exhausting a bucket")?;
        if ex.is_success() {
            accepted += 1;
        } else {
            first_refusal = Some(ex);
        }
    }
    match first_refusal {
        Some(refusal) => Ok(refusal),
        None if started.elapsed() >= cx.window() => Err(too_slow_to_spend(cx, limit + 3, started)),
        None => Err(Verdict::fail(format!(
            "{} requests in a row were never refused",
            limit + 3
        ))
        .expected(format!("a refusal after {limit} counted requests"))
        .seen(format!("{accepted} accepted"))
        .with_all(&counted)),
    }
}

pub(super) async fn login_keeps_window(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let u = own_user_or_skip(cx.fresh_user(true).await)?;
    let login_req = Request::login(&u.email, u.password.as_deref().unwrap_or_default());
    // Two attempts: when the suite's own logins used up the login bucket,
    // wait for it and start over (the user's window may have aged meanwhile).
    for attempt in 0..2 {
        let t0 = Instant::now();
        let refusal = exhaust_with(cx, &Request::to(endpoint).token(&u.creds), limit).await?;
        let login = cx.send_unpaced(&login_req).await.step("logging in again")?;
        if let Some(refusal) = login.refusal().filter(|_| attempt == 0) {
            let wait = refusal.wait_seconds(cx.window_secs);
            cx.sleep(Duration::from_secs(wait) + Duration::from_millis(200))
                .await;
            cx.sleep_until(t0 + cx.window() + Duration::from_millis(200))
                .await;
            continue;
        }
        let pair: LoginResult = login
            .decode()
            .map_err(Verdict::from)
            .step("logging in again")?;
        let mut evidence = vec![refusal, login.clone()];
        for creds in [Credentials::from(&pair), u.creds.clone()] {
            let ex = cx
                .send_unpaced(&Request::to(endpoint).token(&creds))
                .await
                .step("sending after login")?;
            if Instant::now() >= t0 + cx.window() {
                return Err(Verdict::error(
                    "too slow to judge: the window passed before the probe",
                ));
            }
            if ex.is_success() {
                evidence.push(ex);
                return Err(Verdict::fail(
                    "after a login, an exhausted user was accepted again within the window",
                )
                .expected("still refused until requests age past the window")
                .seen("HTTP 200")
                .note("a login seems to empty the user's window")
                .with_all(&evidence));
            }
        }
        return Ok(Verdict::pass("still refused after logging in again"));
    }
    Err(Verdict::error(
        "the login bucket stayed exhausted: cannot log in to test this",
    ))
}
