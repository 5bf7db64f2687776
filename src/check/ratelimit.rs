//! RL: rate limiting. Each check uses users of its own where it can (their
//! buckets start empty, so `Remaining` is exact), quota-exhausting checks run
//! after the others, and the login-bucket check runs last of all. Timing
//! checks take the window from `--window-seconds`; when the machine was too
//! slow to judge a window, the verdict is `error`, never `fail`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Credentials, Exchange, Request};
use crate::contract::ratelimit::ResetForm;
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

use super::catalog::checks;
use super::context::{messages_request, Ctx, User};
use super::verdict::{describe, Step, Verdict};

checks! {
    "RL-1.1" "RL-1" Must RateLimit ["rl"] headers_on_counted
        "Counted answers of every table endpoint carry X-RateLimit-Limit, -Remaining and -Reset as non-negative integers";
    "RL-1.2" "RL-1" Must Exhausting ["rl"] headers_on_refusal
        "A refusal by the limiter carries the three X-RateLimit headers too";
    "RL-2.1" "RL-2" Must RateLimit ["rl"] limit_header
        "X-RateLimit-Limit equals the expected limit of each endpoint";
    "RL-3.1" "RL-3" Must RateLimit ["rl"] remaining_counts_down
        "Along counted requests Remaining falls by exactly one (Limit - k after the k-th), within 0..=Limit";
    "RL-4.1" "RL-4" Must Exhausting ["rl"] refusal_has_no_effect
        "A request over the limit is refused with a 4xx and Remaining 0, and a refused send_message stores nothing";
    "RL-4b.1" "RL-4b" Should Exhausting ["rl"] refusal_is_429
        "A refusal is HTTP 429 with Retry-After";
    "RL-5.1" "RL-5" Must Exhausting ["rl"] reset_consistent
        "Answers carry Date, and X-RateLimit-Reset is seconds (<= window + 1) or an epoch within [Date - 1, Date + window + 1]";
    "RL-5b.1" "RL-5b" Info RateLimit ["rl"] reset_form
        "Which form X-RateLimit-Reset takes: delta-seconds or epoch";
    "RL-6.1" "RL-6" Must Slow ["rl", "slow"] steady_client
        "A client at 60% of the limit in every window is never refused, over two windows";
    "RL-6.2" "RL-6" Must Slow ["rl", "slow"] sliding_recovery
        "After a refusal, capacity returns as counted requests age past the window (sliding: not all at once, not never)";
    "RL-6.3" "RL-6" Must Exhausting ["rl"] login_keeps_window
        "Logging in again does not empty a user's window";
    "RL-7.1" "RL-7" Must Exhausting ["rl"] per_user_buckets
        "Exhausting one user's quota leaves another user's untouched";
    "RL-7.2" "RL-7" Must ExhaustsAddress ["rl", "login"] forwarded_for_ignored
        "A client-supplied X-Forwarded-For does not open a fresh login bucket";
    "RL-8.1" "RL-8" Must Exhausting ["rl", "concurrency"] atomic_counting
        "N > limit requests sent at once by one user are accepted exactly `limit` times";
}

/// A user whose bucket of one endpoint was driven to a refusal.
#[derive(Clone)]
pub struct Exhausted {
    pub user: User,
    pub limit: u32,
    /// Requests accepted before the first refusal.
    pub accepted: u32,
    /// The first few counted answers.
    pub counted: Vec<Exchange>,
    pub refusal: Exchange,
}

/// The endpoint the per-user checks spend: get_chats (cheap, no side effect).
fn read_endpoint(cx: &Ctx) -> Result<(Endpoint, u32), Verdict> {
    cx.limit(Endpoint::GetChats)
        .map(|l| (Endpoint::GetChats, l))
        .ok_or_else(|| Verdict::skip("the limits file sets no limit for get_chats"))
}

fn own_user_or_skip<T>(r: Result<T, Verdict>) -> Result<T, Verdict> {
    r.map_err(|v| v.note("rate-limit checks that spend a bucket need users of their own"))
}

/// A bucket that was not spent within one window tells nothing: the first
/// requests aged out before the last were sent.
fn too_slow_to_spend(cx: &Ctx, n: u32, started: Instant) -> Verdict {
    Verdict::error(format!(
        "too slow to judge: {n} requests took {:.1} s, longer than the {} s window (round trip {:.0} ms)",
        started.elapsed().as_secs_f64(),
        cx.window_secs,
        cx.rtt().as_secs_f64() * 1e3
    ))
}

/// Sends `n` requests built by `make`, as many at once as the measured round
/// trip needs to finish them within an eighth of the window (at least 8, see
/// [`Ctx::burst_width`]): a server answering in half a second still sees a
/// whole bucket spent well inside one window. The answers in the order the
/// requests were built.
async fn burst(cx: &Ctx, n: u32, make: impl Fn(u32) -> Request) -> Result<Vec<Exchange>, Verdict> {
    burst_of(cx, n, cx.burst_width(n), make).await
}

/// As [`burst`], with `width` requests in flight.
async fn burst_of(
    cx: &Ctx,
    n: u32,
    width: usize,
    make: impl Fn(u32) -> Request,
) -> Result<Vec<Exchange>, Verdict> {
    use futures::StreamExt;
    let reqs: Vec<Request> = (0..n).map(make).collect();
    let answers: Vec<Result<Exchange, crate::client::ClientError>> = futures::stream::iter(reqs)
        .map(|r| async move { cx.send_unpaced(&r).await })
        .buffered(width.max(1))
        .collect()
        .await;
    answers
        .into_iter()
        .map(|r| r.step("spending a bucket"))
        .collect()
}

/// Spends `user`'s bucket: `limit` requests in a concurrent burst, then one
/// at a time until the first refusal, at most three more.
async fn exhaust_with(
    cx: &Ctx,
    user: &User,
    req: &Request,
    limit: u32,
) -> Result<Exhausted, Verdict> {
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
        Some(refusal) => Ok(Exhausted {
            user: user.clone(),
            limit,
            accepted,
            counted,
            refusal,
        }),
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

async fn exhausted(cx: &Ctx) -> Result<Exhausted, Verdict> {
    cx.shared
        .exhausted
        .get_or_init(|| async {
            let (endpoint, limit) = read_endpoint(cx)?;
            let u = own_user_or_skip(cx.fresh_user(false).await)?;
            exhaust_with(cx, &u, &Request::to(endpoint).token(&u.creds), limit).await
        })
        .await
        .clone()
}

/// The three headers of an answer, or a verdict saying which is wrong.
fn headers_problem(ex: &Exchange, what: &str) -> Option<Verdict> {
    let rl = ex.rate_limit();
    let bad: Vec<String> = [
        ("X-RateLimit-Limit", &rl.limit),
        ("X-RateLimit-Remaining", &rl.remaining),
        ("X-RateLimit-Reset", &rl.reset),
    ]
    .iter()
    .filter(|(_, f)| f.value().is_none())
    .map(|(n, f)| format!("{n} {}", f.describe()))
    .collect();
    if bad.is_empty() {
        return None;
    }
    let notes = rl.lookalikes.iter().map(|l| {
        format!(
            "{} is missing, but a look-alike is in {}: {}",
            l.expected, l.found_in, l.value
        )
    });
    Some(
        Verdict::fail(format!("{what}: rate-limit headers missing or invalid"))
            .expected("X-RateLimit-Limit, -Remaining and -Reset as non-negative integers")
            .seen(bad.join(", "))
            .notes(notes)
            .with(ex),
    )
}

/// One counted answer of each table endpoint, sent once for RL-1.1 and RL-2.1.
async fn probe_endpoints(cx: &Ctx) -> Result<(Vec<(Endpoint, Exchange)>, Vec<String>), Verdict> {
    cx.shared
        .rl_probes
        .get_or_init(|| send_probes(cx))
        .await
        .clone()
}

async fn send_probes(cx: &Ctx) -> Result<(Vec<(Endpoint, Exchange)>, Vec<String>), Verdict> {
    let u = cx.fresh_user(false).await.unwrap_or_else(|_| cx.a.clone());
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let (chat, ex) = cx
        .create_chat(&u, &[&cx.b.email], "Group")
        .await
        .step("create_chat")?;
    out.push((Endpoint::CreateChat, ex));
    let (_, ex) = cx
        .post(&u, &chat, "rate probe")
        .await
        .step("send_message")?;
    out.push((Endpoint::SendMessage, ex));
    let ex = cx
        .send_paced(&messages_request(&u, &chat, None, None))
        .await?;
    out.push((Endpoint::GetMessages, ex));
    let ex = cx
        .send_paced(&Request::to(Endpoint::GetChats).token(&u.creds))
        .await?;
    out.push((Endpoint::GetChats, ex));
    match cx.setup_logins.first() {
        Some(ex) => out.push((Endpoint::Login, ex.clone())),
        None => match cx.fresh_user(true).await {
            Ok(p) => {
                let ex = cx
                    .send_paced(&Request::login(
                        &p.email,
                        p.password.as_deref().unwrap_or_default(),
                    ))
                    .await?;
                out.push((Endpoint::Login, ex));
            }
            Err(_) => notes.push("login not probed: no account the suite may log in".to_owned()),
        },
    }
    if cx.signup_allowed {
        let (email, pwd) = cx.new_identity();
        // A counted answer is wanted: the suite's own signups for fresh
        // users may have spent this window's quota, so wait for room.
        let ex = cx
            .send_paced(&Request::signup(email, pwd, "Rate Probe"))
            .await?;
        out.push((Endpoint::Signup, ex));
    } else {
        notes.push("signup not probed: --no-signup".to_owned());
    }
    out.retain(|(e, _)| cx.limit(*e).is_some());
    Ok((out, notes))
}

async fn headers_on_counted(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (probes, notes) = probe_endpoints(cx).await?;
    for (e, ex) in &probes {
        if !ex.is_success() {
            return Err(Verdict::error(format!("{e} answered {}", describe(ex))).with(ex));
        }
        if let Some(v) = headers_problem(ex, &format!("{e}")) {
            return Err(v.notes(notes));
        }
    }
    Ok(Verdict::pass(format!(
        "{} endpoints carried the three headers",
        probes.len()
    ))
    .notes(notes))
}

async fn limit_header(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (probes, notes) = probe_endpoints(cx).await?;
    for (e, ex) in &probes {
        let want = cx.limit(*e).unwrap_or_default();
        let got = ex.rate_limit().limit;
        if got.value() != Some(u64::from(want)) {
            return Err(
                Verdict::fail(format!("{e}: X-RateLimit-Limit is not the expected limit"))
                    .expected(format!("{want} (limits file)"))
                    .seen(got.describe())
                    .notes(notes)
                    .with(ex),
            );
        }
    }
    Ok(Verdict::pass(format!(
        "{} endpoints announce their expected limit",
        probes.len()
    ))
    .notes(notes))
}

async fn remaining_counts_down(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    // A user signed up by this run starts from a full bucket, so Remaining
    // must be exactly Limit - k. Any other user (an account an earlier run
    // may have spent in this window) must be at most Limit - k and fall by
    // exactly one.
    let u = match cx.fresh_user(false).await {
        Ok(u) => u,
        Err(_) => cx.a.clone(),
    };
    let fresh = cx.is_new(&u);
    cx.wait_idle(&u, endpoint).await;
    let mut seen: Vec<u64> = Vec::new();
    let mut evidence = Vec::new();
    for k in 1..=5u64 {
        let ex = cx
            .send_unpaced(&Request::to(endpoint).token(&u.creds))
            .await
            .step("sending")?;
        if !ex.is_success() {
            return Err(
                Verdict::error(format!("a counted request answered {}", describe(&ex))).with(&ex),
            );
        }
        let Some(r) = ex.rate_limit().remaining.value() else {
            return Err(
                headers_problem(&ex, "Remaining").unwrap_or_else(|| Verdict::fail("no Remaining"))
            );
        };
        let expected = if fresh {
            Some(u64::from(limit).saturating_sub(k))
        } else {
            seen.last().map(|p| p.saturating_sub(1))
        };
        let ceiling = u64::from(limit).saturating_sub(k);
        if r > ceiling || expected.is_some_and(|e| e != r) {
            evidence.push(ex);
            return Err(Verdict::fail(format!(
                "Remaining after the {k}th counted request is wrong"
            ))
            .expected(match expected {
                Some(e) => format!("{e}"),
                None => format!("at most {ceiling} (Limit {limit} - {k})"),
            })
            .seen(format!("{r} (sequence so far {seen:?})"))
            .with_all(&evidence));
        }
        seen.push(r);
        if evidence.len() < 3 {
            evidence.push(ex);
        }
    }
    let v = Verdict::pass(format!("Remaining went {seen:?}"));
    Ok(if fresh {
        v
    } else {
        v.note("an account this run did not create: Remaining was held to at most Limit - k and steps of one (an earlier run may have spent some)")
    })
}

async fn refusal_has_no_effect(cx: &Ctx) -> Result<Verdict, Verdict> {
    let Some(limit) = cx.limit(Endpoint::SendMessage) else {
        return Err(Verdict::skip(
            "the limits file sets no limit for send_message",
        ));
    };
    let user = own_user_or_skip(cx.fresh_user(false).await)?;
    let reader = cx.b.clone();
    let chat = cx.group(&user, &[&reader]).await?;
    cx.wait_idle(&user, Endpoint::SendMessage).await;
    let send = |i: u32| {
        Request::to(Endpoint::SendMessage)
            .token(&user.creds)
            .param("chat", &chat)
            .param("content", format!("quota {i}"))
    };
    // The bucket's whole allowance at once (a slow server still sees it
    // spent inside one window), then one at a time until the refusal.
    let started = Instant::now();
    let mut answers: Vec<(u32, Exchange)> = (0..limit).zip(burst(cx, limit, send).await?).collect();
    let mut i = limit;
    while i < limit + 3 && answers.iter().all(|(_, ex)| ex.is_success()) {
        let ex = cx
            .send_unpaced(&send(i))
            .await
            .step("sending past the limit")?;
        answers.push((i, ex));
        i += 1;
    }
    let accepted = answers.iter().filter(|(_, ex)| ex.is_success()).count() as u32;
    let Some((_, refused)) = answers.iter().find(|(_, ex)| !ex.is_success()) else {
        if started.elapsed() >= cx.window() {
            return Err(too_slow_to_spend(cx, i, started));
        }
        return Err(Verdict::fail(format!(
            "send_message was never refused ({accepted} accepted)"
        ))
        .expected(format!("a refusal after {limit}")));
    };
    let rl = refused.rate_limit().with_body_values();
    if !(400..500).contains(&refused.status) || rl.remaining.value() != Some(0) {
        return Err(Verdict::fail(format!(
            "the refusal after {accepted} sends is not a 4xx with Remaining 0"
        ))
        .expected("a 4xx with X-RateLimit-Remaining: 0")
        .seen(format!(
            "{}, Remaining {}",
            describe(refused),
            rl.remaining.describe()
        ))
        .with(refused));
    }
    // A user this run signed up starts from a full bucket: exactly `limit`
    // are accepted. Another account may have been spent by an earlier run,
    // but never accepts more.
    let exact = cx.is_new(&user);
    if accepted > limit || (exact && accepted != limit) {
        return Err(Verdict::fail(format!(
            "{accepted} send_message requests were accepted in one window"
        ))
        .expected(if exact {
            format!("exactly {limit} (the limit) from a full bucket")
        } else {
            format!("at most {limit}")
        })
        .seen(format!("{accepted} accepted before the refusal"))
        .with(refused));
    }
    // Nothing refused is stored: read the chat after the last accepted
    // message (at most a burst's width of others follow it).
    let last_ok = answers
        .iter()
        .filter(|(_, ex)| ex.is_success())
        .filter_map(|(_, ex)| ex.decode::<crate::contract::wire::SentMessage>().ok())
        .last()
        .map(|m| m.creation.as_str().to_owned());
    let refused_contents: BTreeSet<String> = answers
        .iter()
        .filter(|(_, ex)| !ex.is_success())
        .map(|(i, _)| format!("quota {i}"))
        .collect();
    let (after, got) = cx
        .messages(&reader, &chat, last_ok.as_deref(), Some(100))
        .await
        .step("reading the chat after the refusal")?;
    if let Some(m) = after.iter().find(|m| refused_contents.contains(&m.content)) {
        return Err(Verdict::fail("a refused send_message was stored")
            .expected("no effect from a refused request")
            .seen(format!(
                "message {} ({:?}) is in the chat",
                m.name, m.content
            ))
            .with(refused)
            .with(&got));
    }
    Ok(Verdict::pass(format!(
        "{accepted} accepted{}, then refused with {}; nothing refused was stored",
        if exact { " (exactly the limit)" } else { "" },
        refused.status
    )))
}

async fn headers_on_refusal(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    if let Some(v) = headers_problem(&x.refusal, "the refusal") {
        return Err(v);
    }
    Ok(Verdict::pass(format!(
        "the refusal ({}) carried the headers",
        x.refusal.status
    )))
}

async fn refusal_is_429(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let r = &x.refusal;
    let retry = r.rate_limit().retry_after;
    if r.status != 429 || retry.value().is_none() {
        let mut v = Verdict::fail(format!(
            "the refusal is {} with Retry-After {}",
            r.status,
            retry.describe()
        ))
        .expected("HTTP 429 with Retry-After (seconds)")
        .seen(describe(r))
        .with(r);
        if r.status != 429 && (400..500).contains(&r.status) {
            v = v.note(format!(
                "the server refused with {} where 429 was due",
                r.status
            ));
        }
        return Err(v);
    }
    Ok(Verdict::pass(format!(
        "429 with Retry-After {}",
        retry.describe()
    )))
}

fn reset_problem(cx: &Ctx, ex: &Exchange, what: &str) -> Option<Verdict> {
    let rl = ex.rate_limit();
    if rl.date.is_none() {
        return Some(
            Verdict::fail(format!("{what}: no valid Date header"))
                .expected("a Date header")
                .seen(format!("{:?}", ex.header("date")))
                .with(ex),
        );
    }
    match rl.reset_form(cx.window_secs) {
        None => headers_problem(ex, what),
        Some(ResetForm::Inconsistent { value, reason }) => Some(
            Verdict::fail(format!("{what}: X-RateLimit-Reset {value} is neither form"))
                .expected(format!(
                    "seconds <= {} or an epoch within [Date - 1, Date + {}]",
                    cx.window_secs + 1,
                    cx.window_secs + 1
                ))
                .seen(reason)
                .with(ex),
        ),
        Some(_) => None,
    }
}

async fn reset_consistent(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    for (i, ex) in x.counted.iter().enumerate() {
        if let Some(v) = reset_problem(cx, ex, &format!("counted answer #{}", i + 1)) {
            return Err(v);
        }
    }
    if let Some(v) = reset_problem(cx, &x.refusal, "the refusal") {
        return Err(v);
    }
    Ok(Verdict::pass(
        "Date present, Reset consistent on counted answers and the refusal",
    ))
}

async fn reset_form(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, _) = read_endpoint(cx)?;
    let u = cx.fresh_user(false).await.unwrap_or_else(|_| cx.a.clone());
    let ex = cx
        .send_unpaced(&Request::to(endpoint).token(&u.creds))
        .await
        .step("sending")?;
    if let Some(v) = reset_problem(cx, &ex, "get_chats") {
        return Err(v);
    }
    let form = match ex.rate_limit().reset_form(cx.window_secs) {
        Some(ResetForm::Delta { seconds }) => format!("delta-seconds ({seconds})"),
        Some(ResetForm::Epoch {
            at,
            seconds_after_date,
        }) => format!("epoch ({at}, Date + {seconds_after_date} s)"),
        _ => "unknown".into(),
    };
    Ok(Verdict::info(format!("X-RateLimit-Reset is {form}")).with(&ex))
}

async fn steady_client(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let u = own_user_or_skip(cx.fresh_user(false).await)?;
    let per_window = (limit * 6 / 10).max(1);
    let interval = cx.window() / per_window;
    let total = per_window * 2;
    // On a schedule, not a sleep after each answer: a slow server's round
    // trips do not stretch the run, and the rate stays at 60%.
    let t0 = Instant::now();
    for i in 0..total {
        cx.sleep_until(t0 + interval * i).await;
        let ex = cx
            .send_unpaced(&Request::to(endpoint).token(&u.creds))
            .await
            .step("steady polling")?;
        if !ex.is_success() {
            return Err(Verdict::fail(format!("a client at 60% of the limit was refused at request {}", i + 1))
                .expected(format!("never refused at {per_window} requests per {} s window", cx.window_secs))
                .seen(describe(&ex))
                .note("a window that restarts on every counted request never empties under steady traffic")
                .with(&ex));
        }
    }
    Ok(Verdict::pass(format!(
        "{total} requests at 60% of {limit} per window, none refused"
    )))
}

/// Sends `req` in concurrent bursts until a burst sees a refusal, at most
/// `max` requests: what was accepted, and the first refusal. Refusals are
/// not counted (CONTRACT: "a refusal ... is not counted"), so the few sent
/// past the first one change nothing; the bursts keep a phase short on a
/// slow server.
async fn count_until_refused(
    cx: &Ctx,
    req: &Request,
    max: u32,
) -> Result<(u32, Option<Exchange>), Verdict> {
    let mut n = 0;
    let mut sent = 0;
    while sent < max {
        let width = cx.burst_width(max);
        let k = (max - sent).min(width as u32);
        let answers = burst_of(cx, k, width, |_| req.clone()).await?;
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

async fn sliding_recovery(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let u = own_user_or_skip(cx.fresh_user(false).await)?;
    let req = Request::to(endpoint).token(&u.creds);
    let w = cx.window();
    let half = limit / 2;
    let too_slow = |what: &str| {
        Verdict::error(format!(
            "too slow to judge the window: {what} (window {} s)",
            cx.window_secs
        ))
    };
    let t0 = Instant::now();
    let (first, refusal) = count_until_refused(cx, &req, half).await?;
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
    let (second, refusal) = count_until_refused(cx, &req, limit + 2).await?;
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
    let (third, refusal) = count_until_refused(cx, &req, limit + 2).await?;
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
    Ok(Verdict::pass(format!(
        "{half} + {second} accepted, then {third} came back as the first half aged"
    )))
}

async fn login_keeps_window(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let u = own_user_or_skip(cx.fresh_user(true).await)?;
    let login_req = Request::login(&u.email, u.password.as_deref().unwrap_or_default());
    // Two attempts: when the suite's own logins used up the login bucket,
    // wait for it and start over (the user's window may have aged meanwhile).
    for attempt in 0..2 {
        let t0 = Instant::now();
        let x = exhaust_with(cx, &u, &Request::to(endpoint).token(&u.creds), limit).await?;
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
        let mut evidence = vec![x.refusal.clone(), login.clone()];
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

async fn per_user_buckets(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let users = own_user_or_skip(cx.fresh_users(2).await)?;
    let other = Request::to(endpoint).token(&users[1].creds);
    // The other user's bucket before: whatever an earlier run left in it,
    // exhausting the first user's must take nothing more than this one
    // request of its own.
    cx.wait_idle(&users[0], endpoint).await;
    if let Some(k) = super::budget::BucketKey::of(&other, &cx.limits) {
        cx.wait_for_room(&k, 2).await;
    }
    let mut before = cx
        .send_unpaced(&other)
        .await
        .step("sending as the other user")?;
    if let Some(refusal) = before.refusal() {
        // Spent by someone else (an earlier run): wait, it is not the finding.
        cx.sleep(
            Duration::from_secs(refusal.wait_seconds(cx.window_secs)) + Duration::from_millis(250),
        )
        .await;
        before = cx
            .send_unpaced(&other)
            .await
            .step("sending as the other user")?;
    }
    let r0 = before.rate_limit().with_body_values().remaining.value();
    let x = exhaust_with(
        cx,
        &users[0],
        &Request::to(endpoint).token(&users[0].creds),
        limit,
    )
    .await?;
    let ex = cx
        .send_unpaced(&other)
        .await
        .step("sending as the other user")?;
    let rem = ex.rate_limit().with_body_values().remaining;
    let expected = r0.map(|r| r.saturating_sub(1));
    let holds = before.is_success()
        && ex.is_success()
        && ex.refusal().is_none()
        && (expected.is_none() || rem.value() == expected);
    if !holds {
        return Err(Verdict::fail(
            "another user's bucket was touched by the first user's requests",
        )
        .expected(match expected {
            Some(e) => format!("HTTP 200 with Remaining {e} (it was {} before)", e + 1),
            None => "HTTP 200, not refused".to_owned(),
        })
        .seen(format!("{}, Remaining {}", describe(&ex), rem.describe()))
        .with(&before)
        .with(&x.refusal)
        .with(&ex));
    }
    Ok(Verdict::pass(
        "the other user's bucket lost only its own request while the first was exhausted",
    ))
}

async fn forwarded_for_ignored(cx: &Ctx) -> Result<Verdict, Verdict> {
    let Some(limit) = cx.limit(Endpoint::Login) else {
        return Err(Verdict::skip("the limits file sets no limit for login"));
    };
    let u = match cx.fresh_user(true).await {
        Ok(u) => u,
        Err(skip) if cx.c.password.is_some() => {
            let _ = skip;
            cx.c.clone()
        }
        Err(skip) => return Err(skip),
    };
    let req = Request::login(&u.email, u.password.as_deref().unwrap_or_default());
    let started = Instant::now();
    let (n, refusal) = count_until_refused(cx, &req, limit + 3).await?;
    if refusal.is_none() && started.elapsed() >= cx.window() {
        return Err(too_slow_to_spend(cx, limit + 3, started));
    }
    let Some(refusal) = refusal else {
        // An observation, not an inability to test: the limit is not there.
        return Err(Verdict::fail(format!(
            "login was never refused: {n} logins from one address within a window were all accepted"
        ))
        .expected(format!(
            "a refusal after {limit} logins per window from one address (RL-4, RL-7)"
        ))
        .seen(format!("{n} accepted"))
        .note("with no login limit there is no bucket whose key X-Forwarded-For could change"));
    };
    let forged = req
        .clone()
        .header("X-Forwarded-For", "203.0.113.77")
        .header("X-Real-IP", "203.0.113.77");
    let ex = cx
        .send_unpaced(&forged)
        .await
        .step("login with X-Forwarded-For")?;
    if ex.is_success() {
        return Err(Verdict::fail("X-Forwarded-For opened a fresh login bucket")
            .expected("still refused: the bucket is the socket's address")
            .seen("HTTP 200")
            .note("anyone can bypass the login limit by sending a made-up X-Forwarded-For")
            .with(&refusal)
            .with(&ex));
    }
    Ok(Verdict::pass(format!(
        "refused after {n} logins, and still refused with X-Forwarded-For"
    )))
}

async fn atomic_counting(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    let u = own_user_or_skip(cx.fresh_user(false).await)?;
    cx.wait_idle(&u, endpoint).await;
    // From a full bucket exactly `limit` pass; an account an earlier run
    // may have spent in this window never lets more than `limit` pass.
    let exact = cx.is_new(&u);
    let n = limit + (limit / 10).max(5);
    let barrier = Arc::new(tokio::sync::Barrier::new(n as usize));
    let started = Instant::now();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let client = cx.client.clone();
            let req = Request::to(endpoint).token(&u.creds);
            if let Some(k) = super::budget::BucketKey::of(&req, &cx.limits) {
                cx.ledger.charge(&k, Instant::now());
            }
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                client.send(&req).await
            })
        })
        .collect();
    let mut accepted = 0u32;
    let mut refused = Vec::new();
    for t in futures::future::join_all(tasks).await {
        match t {
            Ok(Ok(ex)) if ex.is_success() => accepted += 1,
            Ok(Ok(ex)) => refused.push(ex),
            Ok(Err(e)) => {
                return Err(Verdict::error(format!(
                    "a connection error voids this concurrency run: {e}"
                )))
            }
            Err(e) => return Err(Verdict::error(format!("a sender task failed: {e}"))),
        }
    }
    if started.elapsed() >= cx.window() {
        return Err(Verdict::error(
            "too slow to judge: the burst outlasted the window",
        ));
    }
    if accepted > limit || (exact && accepted != limit) {
        return Err(
            Verdict::fail(format!("{n} simultaneous requests: {accepted} accepted"))
                .expected(if exact {
                    format!("exactly {limit}")
                } else {
                    format!("at most {limit}")
                })
                .seen(format!("{accepted} accepted, {} refused", refused.len()))
                .note(if accepted > limit {
                    "the counter is not atomic: concurrent requests slipped past the limit"
                } else {
                    "fewer than the limit accepted"
                })
                .with_all(refused.iter().take(1)),
        );
    }
    Ok(Verdict::pass(format!(
        "{n} at once: exactly {limit} accepted"
    )))
}
