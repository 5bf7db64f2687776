//! RL: rate limiting. Each check uses users of its own where it can (their
//! buckets start empty, so `Remaining` is exact), quota-exhausting checks run
//! after the others, and the login-bucket check runs last of all. Timing
//! checks take the window from `--window-seconds`; when the machine was too
//! slow to judge a window, the verdict is `error`, never `fail`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::client::{Credentials, Exchange, Request};
use crate::contract::ratelimit::ResetForm;
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

use super::context::{messages_request, send_request, Ctx, Exhausted, OtherUser, Spent, User};
use super::definition::checks;
use super::verdict::{describe, Step, Verdict};

checks! {
    "RL-1.1" "RL-1" Must RateLimit ["rl"] headers_on_counted
        "Counted answers of every table endpoint carry X-RateLimit-Limit, -Remaining and -Reset as non-negative integers";
    "RL-1.2" "RL-1" Must Exhausting ["rl"] headers_on_refusal
        "A refusal by the limiter carries the three X-RateLimit headers too, on get_chats, create_chat, get_messages and send_message";
    "RL-1.3" "RL-1" Must RateLimit ["rl"] headers_on_errors
        "Answers that reached the limiter but were errors (403 not a participant, 417 invalid input) carry the three headers, on GET and POST endpoints";
    "RL-2.1" "RL-2" Must RateLimit ["rl"] limit_header
        "X-RateLimit-Limit equals the expected limit of each endpoint";
    "RL-3.1" "RL-3" Must Exhausting ["rl"] remaining_counts_down
        "Along counted requests Remaining falls by exactly one (Limit - k after the k-th), within 0..=Limit, on get_chats, create_chat, get_messages and send_message";
    "RL-4.1" "RL-4" Must Exhausting ["rl"] refusal_has_no_effect
        "From an idle bucket exactly `limit` requests are accepted, the next are refused with a 4xx and Remaining 0, and a refused send_message or create_chat changes nothing, on each of the four user endpoints";
    "RL-4b.1" "RL-4b" Should Exhausting ["rl"] refusal_is_429
        "A refusal is HTTP 429 with Retry-After";
    "RL-5.1" "RL-5" Must Exhausting ["rl"] reset_consistent
        "Answers carry Date, and X-RateLimit-Reset is seconds (<= window + 1) or an epoch within [Date - 1, Date + window + 1]";
    "RL-5b.1" "RL-5b" Info RateLimit ["rl"] reset_form
        "Which form X-RateLimit-Reset takes: delta-seconds or epoch";
    "RL-6.1" "RL-6" Must Slow ["rl", "slow"] steady_client
        "A client at 60% of the limit in every window is never refused, over two windows, on get_chats, create_chat, get_messages and send_message";
    "RL-6.2" "RL-6" Must Slow ["rl", "slow"] sliding_recovery
        "After a refusal, capacity returns as counted requests age past the window (sliding: not all at once, not never), on get_chats, create_chat, get_messages and send_message";
    "RL-6.3" "RL-6" Must Exhausting ["rl"] login_keeps_window
        "Logging in again does not empty a user's window";
    "RL-7.1" "RL-7" Must Exhausting ["rl"] per_user_buckets
        "Exhausting one user's quota of get_chats, create_chat, get_messages and send_message leaves another user's untouched";
    "RL-3.2" "RL-3" Must Slow ["rl", "slow", "login", "signup"] address_counts_down
        "Login and signup count every request that reaches the limiter (logins of an unknown user, signups of a taken e-mail): Remaining falls by one each, at most Limit - 1, down to 0 at the first refusal";
    "RL-7.2" "RL-7" Must ExhaustsAddress ["rl", "login"] forwarded_for_ignored
        "A client-supplied X-Forwarded-For does not open a fresh login bucket";
    "RL-8.1" "RL-8" Must Exhausting ["rl", "concurrency"] atomic_counting
        "N > limit requests sent at once by one user are accepted exactly `limit` times, on get_chats, create_chat, get_messages and send_message";
}

/// A user whose bucket of one endpoint was driven to a refusal.
#[derive(Clone)]
pub struct Drained {
    pub user: User,
    pub limit: u32,
    /// Requests accepted before the first refusal.
    pub accepted: u32,
    /// The first few counted answers.
    pub counted: Vec<Exchange>,
    pub refusal: Exchange,
}

/// The four user-keyed endpoints of the table, each spent by the sweep.
const USER_ENDPOINTS: [Endpoint; 4] = [
    Endpoint::GetChats,
    Endpoint::CreateChat,
    Endpoint::GetMessages,
    Endpoint::SendMessage,
];

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
) -> Result<Drained, Verdict> {
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
        Some(refusal) => Ok(Drained {
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
    cx.fixtures
        .exhausted
        .get_or_init(|| sweep(cx))
        .await
        .clone()
}

/// Requests the sweep sends per endpoint: the limit and a tenth more (at
/// least five), all over the limit of an idle bucket.
fn sweep_size(limit: u32) -> u32 {
    limit + (limit / 10).max(5)
}

/// Request `i` of the sweep's burst on `e`, as `user`: chats it creates and
/// messages it sends are named `{tag}-{i}`, so a refused one can be looked
/// for afterwards.
fn sweep_request(e: Endpoint, user: &User, other: &User, chat: &str, name: &str) -> Request {
    match e {
        Endpoint::CreateChat => Request::to(e)
            .token(&user.creds)
            .param("chat_name", name)
            .param(
                "participants",
                serde_json::to_string(&[other.email.as_str()]).unwrap_or_default(),
            )
            .param("chat_type", "Group"),
        Endpoint::GetMessages => messages_request(user, chat, None, Some(1)),
        Endpoint::SendMessage => send_request(&user.creds, chat, name),
        _ => Request::to(e).token(&user.creds),
    }
}

/// The user endpoints the limits file limits, with their limits.
fn limited_user_endpoints(cx: &Ctx) -> Result<Vec<(Endpoint, u32)>, Verdict> {
    let plan: Vec<(Endpoint, u32)> = USER_ENDPOINTS
        .iter()
        .filter_map(|e| cx.limit(*e).map(|l| (*e, l)))
        .collect();
    if plan.is_empty() {
        return Err(Verdict::skip(
            "the limits file sets no limit for get_chats, create_chat, get_messages or send_message",
        ));
    }
    Ok(plan)
}

/// A shared user who is not `user`: b, or c when `user` is b (under
/// --no-signup the check's own user is one of the shared three, lent).
fn partner(cx: &Ctx, user: &User) -> User {
    if user.email == cx.b.email {
        cx.c.clone()
    } else {
        cx.b.clone()
    }
}

async fn sweep(cx: &Ctx) -> Result<Exhausted, Verdict> {
    let plan = limited_user_endpoints(cx)?;
    let user = own_user_or_skip(cx.fresh_user(false).await)?;
    let exact = cx.is_new(&user);
    // The other user (RL-7.1) makes the chat, so the sweep's user's
    // create_chat bucket stays idle; both post and read in it.
    let other = partner(cx, &user);
    let chat = cx.group(&other, &[&user]).await?;
    let tag = cx.unique("rl");
    for (e, _) in &plan {
        cx.wait_idle(&user, *e).await;
    }
    let before = other_user_probes(cx, &other, &user, &chat, &tag, &plan, "before").await;
    // The four buckets are independent: spent at the same time when the
    // measured round trip says all of them end well inside a window, one
    // after the other otherwise (each burst must fit a window on its own).
    let total: u32 = plan.iter().map(|(_, l)| sweep_size(*l)).sum();
    let width: usize = plan
        .iter()
        .map(|(_, l)| cx.burst_width(sweep_size(*l)))
        .sum();
    let rounds = (f64::from(total) / width.max(1) as f64).ceil();
    let together = cx.rtt().mul_f64(rounds * 1.5) < cx.window() / 8;
    let (u, o, c, t) = (&user, &other, chat.as_str(), tag.as_str());
    let spend = |e: Endpoint, limit: u32| async move {
        let n = sweep_size(limit);
        let started = Instant::now();
        let answers = burst(cx, n, |i| sweep_request(e, u, o, c, &format!("{t}-{i}")))
            .await
            .step(&format!("spending {e}"))?;
        let too_slow =
            (started.elapsed() >= cx.window()).then(|| too_slow_to_spend(cx, n, started));
        Ok::<Spent, Verdict>(Spent {
            endpoint: e,
            limit,
            answers,
            too_slow,
        })
    };
    let spent = if together {
        futures::future::try_join_all(plan.iter().map(|(e, l)| spend(*e, *l))).await?
    } else {
        let mut out = Vec::new();
        for (e, l) in &plan {
            out.push(spend(*e, *l).await?);
        }
        out
    };
    let other_result = match before {
        Ok(before) => {
            let after = other_user_probes(cx, &other, &user, &chat, &tag, &plan, "after").await;
            after.map(|after| {
                before
                    .into_iter()
                    .zip(after)
                    .filter_map(|((endpoint, before), (_, mut after))| {
                        Some(OtherUser {
                            endpoint,
                            before,
                            after: after.pop()?,
                        })
                    })
                    .collect()
            })
        }
        Err(v) => Err(v),
    };
    Ok(Exhausted {
        user,
        exact,
        chat,
        tag,
        spent,
        other: other_result,
    })
}

/// Requests of `other` on each endpoint of `plan` (RL-7.1): two before the
/// sweep (the step its own request takes off Remaining), one after. Before
/// the sweep, a bucket an earlier run left spent is waited out: that
/// refusal is not the finding.
async fn other_user_probes(
    cx: &Ctx,
    other: &User,
    user: &User,
    chat: &str,
    tag: &str,
    plan: &[(Endpoint, u32)],
    when: &str,
) -> Result<Vec<(Endpoint, Vec<Exchange>)>, Verdict> {
    let before = when == "before";
    let mut out = Vec::new();
    for (e, _) in plan {
        let req = |k: u32| sweep_request(*e, other, user, chat, &format!("{tag}-other-{when}-{k}"));
        let what = format!("sending {e} as the other user ({when})");
        let mut answers = Vec::new();
        for k in 0..if before { 2 } else { 1 } {
            if before {
                if let Some(key) = super::budget::BucketKey::of(&req(k), &cx.limits) {
                    cx.wait_for_room(&key, 3).await;
                }
            }
            let mut ex = cx.send_unpaced(&req(k)).await.step(&what)?;
            if before {
                if let Some(refusal) = ex.refusal() {
                    cx.sleep(
                        Duration::from_secs(refusal.wait_seconds(cx.window_secs))
                            + Duration::from_millis(250),
                    )
                    .await;
                    ex = cx.send_unpaced(&req(k)).await.step(&what)?;
                }
            }
            answers.push(ex);
        }
        out.push((*e, answers));
    }
    Ok(out)
}

/// Judges each endpoint the sweep spent with `judge` (a failure names its
/// endpoint): every failing endpoint in one verdict; else, when `timed`
/// and an endpoint's burst outlasted the window, `error`; else `pass`.
fn judge_each(
    x: &Exhausted,
    timed: bool,
    judge: impl Fn(&Spent) -> Option<Verdict>,
    pass: impl FnOnce() -> String,
) -> Result<Verdict, Verdict> {
    let mut fails: Vec<(Endpoint, Verdict)> = Vec::new();
    let mut slow: Option<Verdict> = None;
    for s in &x.spent {
        if let (true, Some(v)) = (timed, &s.too_slow) {
            slow.get_or_insert_with(|| v.clone().context(s.endpoint.name()));
            continue;
        }
        if let Some(v) = judge(s) {
            fails.push((s.endpoint, v));
        }
    }
    if fails.is_empty() {
        return match slow {
            Some(v) => Err(v),
            None => Ok(Verdict::pass(pass())),
        };
    }
    let mut v = merge_fails(&fails);
    if slow.is_some() {
        v = v.note("an endpoint's burst outlasted the window and was not judged");
    }
    Err(v)
}

/// One `fail` naming each failing endpoint: messages, expected and seen
/// values and notes prefixed by their endpoint, the evidence of all.
fn merge_fails(fails: &[(Endpoint, Verdict)]) -> Verdict {
    let joined = |f: &dyn Fn(&Verdict) -> Option<String>| -> Option<String> {
        let parts: Vec<String> = fails
            .iter()
            .filter_map(|(e, v)| f(v).map(|t| format!("{e}: {t}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    };
    let mut v = Verdict::fail(
        fails
            .iter()
            .map(|(e, v)| format!("{e}: {}", v.message))
            .collect::<Vec<_>>()
            .join("; "),
    );
    v.expected = joined(&|v| v.expected.clone());
    v.seen = joined(&|v| v.seen.clone());
    for (e, f) in fails {
        v.notes.extend(f.notes.iter().map(|n| format!("{e}: {n}")));
        v = v.with_all(&f.evidence);
    }
    v
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
    cx.fixtures
        .rl_probes
        .get_or_init(|| send_probes(cx))
        .await
        .clone()
}

async fn send_probes(cx: &Ctx) -> Result<(Vec<(Endpoint, Exchange)>, Vec<String>), Verdict> {
    // A counted answer of each endpoint: a shared user's, paced, will do.
    let u = cx.a.clone();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let (chat, ex) = cx
        .paced(cx.create_chat(&u, &[&cx.b.email], "Group"))
        .await
        .step("create_chat")?;
    out.push((Endpoint::CreateChat, ex));
    let (_, ex) = cx
        .paced(cx.post(&u, &chat, "rate probe"))
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

/// RL-1 on answers that reached the limiter but were errors: a
/// non-participant (403), invalid input (417), on GET and POST endpoints.
/// A 404 of a missing chat is looked at too, but only noted: the contract
/// leaves headers on 404s open.
async fn headers_on_errors(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (a, c) = (&cx.a, &cx.c);
    let chat = cx.group(a, &[&cx.b]).await?;
    let missing = cx.unique("no-such-chat");
    let probes: Vec<(&str, Request)> = vec![
        (
            "get_messages by a non-participant",
            messages_request(c, &chat, None, Some(1)),
        ),
        (
            "send_message by a non-participant",
            send_request(&c.creds, &chat, "not a participant"),
        ),
        (
            "get_messages with after=garbage",
            messages_request(a, &chat, Some("garbage"), Some(1)),
        ),
        (
            "send_message with an empty content",
            send_request(&a.creds, &chat, ""),
        ),
        (
            "create_chat with a participant who is no user",
            Request::to(Endpoint::CreateChat)
                .token(&a.creds)
                .param("chat_name", cx.unique("chk"))
                .param(
                    "participants",
                    serde_json::to_string(&[cx.unique("nobody") + "@example.invalid"])
                        .unwrap_or_default(),
                )
                .param("chat_type", "Group"),
        ),
        (
            "get_messages of a chat that does not exist",
            messages_request(a, &missing, None, Some(1)),
        ),
        (
            "send_message to a chat that does not exist",
            send_request(&a.creds, &missing, "nowhere"),
        ),
    ];
    let mut judged = Vec::new();
    let mut notes = Vec::new();
    for (what, req) in probes {
        if cx
            .limit(Endpoint::from_path(&req.path).unwrap_or(Endpoint::GetChats))
            .is_none()
        {
            continue;
        }
        let ex = cx.send_paced(&req).await.step(what)?;
        match ex.status {
            200..=299 => notes.push(format!(
                "{what}: accepted ({}), not an error to look at",
                ex.status
            )),
            401 => notes.push(format!("{what}: 401, did not reach the limiter")),
            404 => {
                if let Some(v) = headers_problem(&ex, what) {
                    notes.push(format!(
                        "{what}: 404 without the rate-limit headers ({}): allowed, the contract leaves 404s open",
                        v.seen.unwrap_or_default()
                    ));
                }
            }
            400..=499 => {
                if let Some(v) = headers_problem(&ex, &format!("{what} ({})", ex.status)) {
                    return Err(v.notes(notes));
                }
                judged.push(format!("{what} ({})", ex.status));
            }
            _ => notes.push(format!("{what}: {}, not judged here", describe(&ex))),
        }
    }
    if judged.is_empty() {
        return Err(
            Verdict::error("no request was answered with a 403 or 417 to look at").notes(notes),
        );
    }
    Ok(Verdict::pass(format!("the headers were on {}", judged.join(", "))).notes(notes))
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

/// RL-3 on the sweep: the counted answers of each endpoint (everything
/// but the limiter's refusals) show every Remaining from Limit - 1 down,
/// each once: concurrent requests are counted in some order, but the k-th
/// counted shows Limit - k whichever it is. A user this run did not sign up
/// may have been spent before: its values must still be distinct, steps of
/// one, below the limit.
async fn remaining_counts_down(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = match exhausted(cx).await {
        Ok(x) => x,
        Err(v) if v.kind == super::verdict::Kind::Skip => {
            return remaining_counts_down_serial(cx).await.map(|v| {
                v.note("no user of its own for the four endpoints: five get_chats of a shared user, one at a time")
            })
        }
        Err(v) => return Err(v),
    };
    judge_each(
        &x,
        true,
        |s| remaining_problem(s, x.exact),
        || {
            format!(
                "Remaining counted down by one from Limit - 1 on {}",
                x.spent
                    .iter()
                    .map(|s| format!("{} ({} counted)", s.endpoint, s.counted().count()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    )
}

/// What is wrong with the Remaining values of one endpoint's counted answers.
fn remaining_problem(s: &Spent, exact: bool) -> Option<Verdict> {
    let limit = u64::from(s.limit);
    let mut values: Vec<(u64, &Exchange)> = Vec::new();
    for ex in s.counted() {
        match ex.rate_limit().remaining.value() {
            Some(r) => values.push((r, ex)),
            None => {
                return Some(
                    Verdict::fail("a counted answer has no valid X-RateLimit-Remaining")
                        .expected("a non-negative integer")
                        .seen(format!(
                            "{} ({})",
                            ex.rate_limit().remaining.describe(),
                            describe(ex)
                        ))
                        .with(ex),
                )
            }
        }
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.0));
    let first = match values.first() {
        Some(_) if exact => limit.saturating_sub(1),
        Some((r, _)) => *r,
        None => return None,
    };
    let c = values.len();
    for (k, (r, ex)) in values.iter().enumerate() {
        let due = first.saturating_sub(k as u64);
        if *r > limit.saturating_sub(1) || *r != due {
            let dups = c - values.iter().map(|(r, _)| r).collect::<BTreeSet<_>>().len();
            return Some(
                Verdict::fail(format!(
                    "the Remaining values of {c} counted answers do not fall by one each"
                ))
                .expected(if exact {
                    format!(
                        "each of {} down to {} once (Limit {limit} - k after the k-th)",
                        limit.saturating_sub(1),
                        limit.saturating_sub(c as u64)
                    )
                } else {
                    format!(
                        "distinct values, steps of one, at most {}",
                        limit.saturating_sub(1)
                    )
                })
                .seen(format!(
                    "{r} where {} was due (highest {}, lowest {}, {dups} repeated)",
                    if *r > limit.saturating_sub(1) {
                        format!("at most {}", limit.saturating_sub(1))
                    } else {
                        due.to_string()
                    },
                    values.first().map(|v| v.0).unwrap_or_default(),
                    values.last().map(|v| v.0).unwrap_or_default()
                ))
                .with(ex),
            );
        }
    }
    None
}

/// RL-3 without users of its own: five requests of a shared user, one at
/// a time.
async fn remaining_counts_down_serial(cx: &Ctx) -> Result<Verdict, Verdict> {
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

/// RL-4 on the sweep: exactly `limit` accepted from an idle bucket, every
/// other answer a 4xx with Remaining 0, and nothing a refused create_chat
/// or send_message asked for exists afterwards.
async fn refusal_has_no_effect(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let effects = refused_effects(cx, &x).await?;
    judge_each(
        &x,
        true,
        |s| {
            refusal_problem(s, x.exact).or_else(|| {
                effects
                    .iter()
                    .find(|(e, _)| *e == s.endpoint)
                    .map(|(_, v)| v.clone())
            })
        },
        || {
            format!(
                "{} accepted{}, the rest refused with a 4xx and Remaining 0; nothing refused was stored",
                x.spent
                    .iter()
                    .map(|s| format!("{} {}", s.endpoint, s.accepted()))
                    .collect::<Vec<_>>()
                    .join(", "),
                if x.exact { " (exactly the limits)" } else { "" }
            )
        },
    )
}

/// What is wrong with one endpoint's refusals and count (RL-4).
fn refusal_problem(s: &Spent, exact: bool) -> Option<Verdict> {
    let limit = s.limit;
    let accepted = s.accepted();
    let n = s.answers.len();
    let Some(first) = s.first_refusal() else {
        return Some(
            Verdict::fail(format!("never refused: {n} requests, all accepted"))
                .expected(format!("a refusal after {limit}"))
                .seen(format!("{accepted} accepted")),
        );
    };
    if let Some(bad) = s.answers.iter().find(|ex| {
        !ex.is_success()
            && (!(400..500).contains(&ex.status)
                || ex.rate_limit().with_body_values().remaining.value() != Some(0))
    }) {
        return Some(
            Verdict::fail("an answer that was not accepted is not a 4xx with Remaining 0")
                .expected("a 4xx with X-RateLimit-Remaining: 0")
                .seen(format!(
                    "{}, Remaining {}",
                    describe(bad),
                    bad.rate_limit().with_body_values().remaining.describe()
                ))
                .with(bad),
        );
    }
    if accepted > limit || (exact && accepted != limit) {
        return Some(
            Verdict::fail(format!("{accepted} of {n} accepted in one window"))
                .expected(if exact {
                    format!("exactly {limit} (the limit) from an idle bucket")
                } else {
                    format!("at most {limit}")
                })
                .seen(format!(
                    "{accepted} accepted, {} refused",
                    n as u32 - accepted
                ))
                .with(first),
        );
    }
    None
}

/// RL-4's "no effect": the chats and messages the refused create_chat and
/// send_message requests asked for, looked for as the other participant.
async fn refused_effects(cx: &Ctx, x: &Exhausted) -> Result<Vec<(Endpoint, Verdict)>, Verdict> {
    let refused = |e: Endpoint| -> (BTreeSet<String>, Option<&Exchange>) {
        let Some(s) = x.get(e) else {
            return (BTreeSet::new(), None);
        };
        let names = s
            .answers
            .iter()
            .enumerate()
            .filter(|(_, ex)| !ex.is_success())
            .map(|(i, _)| format!("{}-{i}", x.tag))
            .collect();
        (names, s.first_refusal())
    };
    let reader = &cx.b;
    let mut out = Vec::new();
    let (names, first) = refused(Endpoint::CreateChat);
    if !names.is_empty() {
        let ex = cx
            .send_paced(&Request::to(Endpoint::GetChats).token(&reader.creds))
            .await
            .step("listing the chats after the refusals")?;
        let chats: Vec<crate::contract::wire::ChatSummary> = ex
            .decode()
            .map_err(Verdict::from)
            .step("listing the chats after the refusals")?;
        if let Some(c) = chats
            .iter()
            .find(|c| c.chat_name.as_ref().is_some_and(|n| names.contains(n)))
        {
            out.push((
                Endpoint::CreateChat,
                Verdict::fail("a refused create_chat created a chat")
                    .expected("no effect from a refused request")
                    .seen(format!(
                        "chat {} ({:?}) exists",
                        c.name,
                        c.chat_name.as_deref().unwrap_or_default()
                    ))
                    .with_all(first)
                    .with(&ex),
            ));
        }
    }
    let (names, first) = refused(Endpoint::SendMessage);
    if !names.is_empty() {
        // The whole chat, a page of 100 at a time (it holds the accepted
        // messages, the other user's two and whatever was wrongly stored).
        let mut after: Option<String> = None;
        let pages = x.get(Endpoint::SendMessage).map_or(0, |s| s.answers.len()) / 100 + 2;
        for _ in 0..pages {
            let ex = cx
                .send_paced(&messages_request(
                    reader,
                    &x.chat,
                    after.as_deref(),
                    Some(100),
                ))
                .await
                .step("reading the chat after the refusals")?;
            let page: Vec<crate::contract::wire::Message> = ex
                .decode()
                .map_err(Verdict::from)
                .step("reading the chat after the refusals")?;
            if let Some(m) = page.iter().find(|m| names.contains(&m.content)) {
                out.push((
                    Endpoint::SendMessage,
                    Verdict::fail("a refused send_message was stored")
                        .expected("no effect from a refused request")
                        .seen(format!(
                            "message {} ({:?}) is in the chat",
                            m.name, m.content
                        ))
                        .with_all(first)
                        .with(&ex),
                ));
                break;
            }
            match page.last() {
                Some(m) if page.len() >= 100 => after = Some(m.creation.as_str().to_owned()),
                _ => break,
            }
        }
    }
    Ok(out)
}

/// RL-1 on the sweep's refusals: the first refusal of each endpoint.
async fn headers_on_refusal(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let refused: Vec<String> = x
        .spent
        .iter()
        .filter_map(|s| {
            s.first_refusal()
                .map(|r| format!("{} {}", s.endpoint, r.status))
        })
        .collect();
    if refused.is_empty() {
        return Err(Verdict::error(
            "no endpoint refused a request (RL-4.1 says more): no refusal to look at",
        ));
    }
    judge_each(
        &x,
        false,
        |s| {
            s.first_refusal()
                .and_then(|r| headers_problem(r, "the refusal"))
        },
        || format!("the refusals ({}) carried the headers", refused.join(", ")),
    )
}

async fn refusal_is_429(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    if x.spent.iter().all(|s| s.first_refusal().is_none()) {
        return Err(Verdict::error(
            "no endpoint refused a request (RL-4.1 says more): no refusal to look at",
        ));
    }
    judge_each(
        &x,
        false,
        |s| {
            let r = s.first_refusal()?;
            let retry = r.rate_limit().retry_after;
            if r.status == 429 && retry.value().is_some() {
                return None;
            }
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
            Some(v)
        },
        || "every refusal was 429 with Retry-After".to_owned(),
    )
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
    judge_each(
        &x,
        false,
        |s| {
            let counted = s.answers.iter().filter(|ex| ex.is_success()).take(3);
            for (i, ex) in counted.enumerate() {
                if let Some(v) = reset_problem(cx, ex, &format!("counted answer #{}", i + 1)) {
                    return Some(v);
                }
            }
            s.first_refusal()
                .and_then(|r| reset_problem(cx, r, "the refusal"))
        },
        || "Date present, Reset consistent on counted answers and the refusals".to_owned(),
    )
}

async fn reset_form(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, _) = read_endpoint(cx)?;
    // A counted answer (paced, so not a refusal the suite caused) of a
    // shared user tells the form.
    let u = cx.a.clone();
    let ex = cx
        .send_paced(&Request::to(endpoint).token(&u.creds))
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

/// RL-6.1 on get_chats, create_chat, get_messages and send_message of one
/// fresh user, the four at once (independent buckets): two windows
/// whatever the number of endpoints.
async fn steady_client(cx: &Ctx) -> Result<Verdict, Verdict> {
    on_each_endpoint(cx, "rl61", Rl6::Steady).await
}

/// RL-6.1 on one endpoint: 60% of the limit per window, for two windows.
async fn steady(
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
async fn count_until_refused(
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
async fn sliding_recovery(cx: &Ctx) -> Result<Verdict, Verdict> {
    on_each_endpoint(cx, "rl62", Rl6::Slide).await
}

/// Which RL-6 check [`on_each_endpoint`] runs on each endpoint.
#[derive(Clone, Copy)]
enum Rl6 {
    Steady,
    Slide,
}

/// Runs `which` on each limited user endpoint at once, as one fresh user.
/// Each request is one a conforming server accepts: create_chat names each
/// chat apart (`{tag}-{endpoint}-{i}`), get_messages and send_message use a
/// chat of the check's own. One verdict: every failing endpoint named, with
/// expected and seen; else the first that could not be judged; else `pass`.
async fn on_each_endpoint(cx: &Ctx, prefix: &str, which: Rl6) -> Result<Verdict, Verdict> {
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
            Err(v) if v.kind == super::verdict::Kind::Fail => fails.push((e, v)),
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
async fn slide(
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

/// RL-7.1 on the sweep: the other user's one request per endpoint after
/// the sweep's user spent that bucket is accepted, and its Remaining shows
/// only its own two requests (or more room, as earlier ones aged out).
async fn per_user_buckets(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let others = x.other.clone()?;
    let mut fails = Vec::new();
    let mut evidence = Vec::new();
    let mut judged = Vec::new();
    let mut unspent = Vec::new();
    for o in &others {
        let spent = x.get(o.endpoint);
        if spent.is_some_and(|s| s.first_refusal().is_none()) {
            // Not exhausted: RL-4.1's finding, nothing to say about B.
            unspent.push(o.endpoint.name());
            continue;
        }
        let limit = u64::from(cx.limit(o.endpoint).unwrap_or_default());
        let remaining = |ex: &Exchange| ex.rate_limit().with_body_values().remaining.value();
        let (Some(first), Some(last)) = (o.before.first(), o.before.last()) else {
            continue;
        };
        // The step of one of its own requests (one on a conforming server;
        // RL-3 judges it): after the sweep, Remaining is at most one such
        // step lower (higher when its earlier requests aged out).
        let r0 = remaining(last);
        let step = match (remaining(first), r0) {
            (Some(a), Some(b)) if a > b => a - b,
            _ => 1,
        };
        let rem = o.after.rate_limit().with_body_values().remaining;
        let floor = r0.map(|r| r.saturating_sub(step));
        judged.push(o.endpoint.name());
        // Refused or not is the question: a 403 or 417 also reached the
        // limiter, and other checks judge its status.
        let holds = o.before.iter().all(|ex| ex.refusal().is_none())
            && o.after.refusal().is_none()
            && match (floor, rem.value()) {
                (Some(f), Some(r)) => r >= f && r < limit,
                _ => true,
            };
        if !holds {
            fails.push(format!(
                "{}: {}, Remaining {} (before: {}, Remaining {})",
                o.endpoint,
                describe(&o.after),
                rem.describe(),
                describe(last),
                r0.map_or("?".to_owned(), |r| r.to_string())
            ));
            evidence.push(last.clone());
            evidence.push(o.after.clone());
            if let Some(r) = spent.and_then(|s| s.first_refusal()) {
                evidence.push(r.clone());
            }
        }
    }
    if !fails.is_empty() {
        return Err(Verdict::fail(
            "another user's bucket was touched by the first user's requests",
        )
        .expected("not refused, Remaining at most one of its own steps below what it was before (only its own request counted)")
        .seen(fails.join("; "))
        .with_all(&evidence));
    }
    if judged.is_empty() {
        // A bucket that was never refused leaves nothing to compare B's
        // with: the finding is RL-4.1's (no refusal over the limit).
        return Err(Verdict::skip(format!(
            "not evaluated: the first user's buckets were never refused ({}), so there is no exhausted quota to compare the other user's with (RL-4.1 reports it)",
            unspent.join(", ")
        )));
    }
    let mut v = Verdict::pass(format!(
        "the other user's buckets of {} lost only its own requests while the first user's were exhausted",
        judged.join(", ")
    ));
    if !unspent.is_empty() {
        v = v.note(format!(
            "not judged on {}: the first user's bucket was never refused (RL-4.1)",
            unspent.join(", ")
        ));
    }
    Ok(v)
}

/// RL-7.2 with logins of a user who does not exist: counted (401) until
/// the address's bucket is spent, refused after; with a made-up
/// X-Forwarded-For still refused (a fresh bucket would answer 401 again).
/// No account is logged in, so nothing is rotated and no real account sees
/// failed logins; after RL-3.2 the bucket is already spent.
async fn forwarded_for_ignored(cx: &Ctx) -> Result<Verdict, Verdict> {
    let Some(limit) = cx.limit(Endpoint::Login) else {
        return Err(Verdict::skip("the limits file sets no limit for login"));
    };
    let nobody = format!("{}@example.invalid", cx.unique("nobody"));
    let req = Request::login(&nobody, "not-the-password-1");
    let started = Instant::now();
    let mut counted = 0;
    let mut refusal = None;
    while refusal.is_none() && counted <= limit {
        let answers = burst(cx, limit + 3, |_| req.clone()).await?;
        counted += answers.iter().filter(|ex| ex.refusal().is_none()).count() as u32;
        refusal = answers.into_iter().find(|ex| ex.refusal().is_some());
    }
    if refusal.is_none() && started.elapsed() >= cx.window() {
        return Err(too_slow_to_spend(cx, counted, started));
    }
    let Some(refusal) = refusal else {
        // An observation, not an inability to test: the limit is not there.
        return Err(Verdict::fail(format!(
            "login was never refused: {counted} logins from one address within a window were all counted, none refused"
        ))
        .expected(format!(
            "a refusal after {limit} logins per window from one address (RL-4, RL-7)"
        ))
        .seen(format!("{counted} answered without a refusal"))
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
    if ex.refusal().is_none() {
        return Err(Verdict::fail("X-Forwarded-For opened a fresh login bucket")
            .expected("still refused: the bucket is the socket's address")
            .seen(format!("{} (counted, not refused)", describe(&ex)))
            .note("anyone can bypass the login limit by sending a made-up X-Forwarded-For")
            .with(&refusal)
            .with(&ex));
    }
    Ok(Verdict::pass(format!(
        "refused after {counted} counted logins, and still refused with X-Forwarded-For"
    )))
}

/// RL-8.1 on the sweep: each endpoint's burst (more than the limit, many
/// in flight at once) is accepted exactly `limit` times, and every other
/// answer is a refusal (a 500 where a request raced another is not).
async fn atomic_counting(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let sizes: Vec<String> = x
        .spent
        .iter()
        .map(|s| format!("{} {} at once", s.answers.len(), s.endpoint))
        .collect();
    judge_each(
        &x,
        true,
        |s| {
            let limit = s.limit;
            let accepted = s.accepted();
            let n = s.answers.len() as u32;
            if let Some(bad) = s
                .answers
                .iter()
                .find(|ex| !ex.is_success() && ex.refusal().is_none())
            {
                return Some(
                    Verdict::fail(format!(
                        "{n} requests at once: one answered {} (neither accepted nor refused)",
                        bad.status
                    ))
                    .expected(format!("{limit} accepted, the rest refused"))
                    .seen(format!("{accepted} accepted; {}", describe(bad)))
                    .note("concurrent requests of one bucket break the server")
                    .with(bad),
                );
            }
            if accepted > limit || (x.exact && accepted != limit) {
                return Some(
                    Verdict::fail(format!("{n} requests at once: {accepted} accepted"))
                        .expected(if x.exact {
                            format!("exactly {limit}")
                        } else {
                            format!("at most {limit}")
                        })
                        .seen(format!("{accepted} accepted, {} refused", n - accepted))
                        .note(if accepted > limit {
                            "the counter is not atomic: concurrent requests slipped past the limit"
                        } else {
                            "fewer than the limit accepted"
                        })
                        .with_all(s.first_refusal()),
                );
            }
            None
        },
        || {
            format!(
                "{} the limit accepted of {}",
                if x.exact { "exactly" } else { "no more than" },
                sizes.join(", ")
            )
        },
    )
}

/// RL-3 on the address buckets, with requests that are counted but change
/// nothing: logins of a user who does not exist (401; not a real account,
/// which a server may lock after failed logins) and signups of one new
/// e-mail (one creates the user, the others are 409 duplicates). It spends
/// the address's login and signup buckets, so it runs after every check
/// that logs in or signs up but RL-7.2 (which wants a spent login bucket):
/// last of the slow checks, whose windows have aged the suite's earlier
/// logins and signups by then; alone it may wait up to a window. The
/// counted answers of
/// each burst must show distinct Remaining values, steps of one, at most
/// Limit - 1, down to 0 where the refusals begin.
async fn address_counts_down(cx: &Ctx) -> Result<Verdict, Verdict> {
    let mut plan = Vec::new();
    let mut notes = Vec::new();
    if let Some(l) = cx.limit(Endpoint::Login) {
        plan.push((Endpoint::Login, l));
    }
    match cx.limit(Endpoint::Signup) {
        Some(l) if cx.signup_allowed => plan.push((Endpoint::Signup, l)),
        Some(_) => notes.push("signup not looked at: --no-signup".to_owned()),
        None => {}
    }
    if plan.is_empty() {
        return Err(Verdict::skip(
            "the limits file sets no limit for login or signup",
        ));
    }
    for (e, limit) in &plan {
        wait_quiet(cx, *e, *limit).await;
    }
    let nobody = format!("{}@example.invalid", cx.unique("nobody"));
    let (email, pwd) = cx.new_identity();
    let mut spent = Vec::new();
    for (e, limit) in &plan {
        let req = match e {
            Endpoint::Signup => Request::signup(&email, &pwd, "Rate Probe"),
            _ => Request::login(&nobody, "not-the-password-1"),
        };
        let n = sweep_size(*limit);
        let started = Instant::now();
        let answers = burst(cx, n, |_| req.clone())
            .await
            .step(&format!("spending the address's {e} bucket"))?;
        let too_slow =
            (started.elapsed() >= cx.window()).then(|| too_slow_to_spend(cx, n, started));
        spent.push(Spent {
            endpoint: *e,
            limit: *limit,
            answers,
            too_slow,
        });
    }
    let mut fails: Vec<(Endpoint, Verdict)> = Vec::new();
    let mut slow = None;
    for s in &spent {
        if let Some(v) = &s.too_slow {
            slow.get_or_insert_with(|| v.clone().context(s.endpoint.name()));
            continue;
        }
        if let Some(v) = address_problem(s) {
            fails.push((s.endpoint, v));
        }
    }
    if let Some((e, v)) = fails.first() {
        let mut out = v.clone().context(e.name()).notes(notes);
        if let Some((e2, v2)) = fails.get(1) {
            out = out
                .note(format!("{e2}: {}", v2.message))
                .with_all(&v2.evidence);
        }
        return Err(out);
    }
    if let Some(v) = slow {
        return Err(v.notes(notes));
    }
    Ok(Verdict::pass(format!(
        "Remaining fell by one per counted request on {}",
        spent
            .iter()
            .map(|s| format!(
                "{} ({} counted, {})",
                s.endpoint,
                s.counted().count(),
                statuses(&s.answers)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .notes(notes))
}

/// The statuses of a burst, counted: `401 x10, 429 x5`.
fn statuses(answers: &[Exchange]) -> String {
    let mut by: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for ex in answers {
        *by.entry(ex.status).or_default() += 1;
    }
    by.iter()
        .map(|(s, n)| format!("{s} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is wrong with the counting of one address burst.
fn address_problem(s: &Spent) -> Option<Verdict> {
    if s.counted().next().is_none() {
        return Some(
            Verdict::fail(
                "every request was refused, though the suite's own requests had aged out",
            )
            .expected(format!(
                "up to {} counted before the first refusal",
                s.limit
            ))
            .seen(statuses(&s.answers))
            .with_all(s.answers.first()),
        );
    }
    if let Some(v) = remaining_problem(s, false) {
        return Some(v.note("a request is counted when it reaches the limiter, whatever its final status (401, 409)"));
    }
    let lowest = s
        .counted()
        .filter_map(|ex| ex.rate_limit().remaining.value())
        .min();
    match (s.first_refusal(), lowest) {
        (Some(r), Some(low)) if low > 0 => Some(
            Verdict::fail(format!(
                "refused while the counted answers still showed Remaining {low}"
            ))
            .expected("Remaining down to 0 before the first refusal")
            .seen(format!("lowest Remaining {low}; {}", statuses(&s.answers)))
            .with(r),
        ),
        _ => None,
    }
}

/// Waits until the address's bucket of `e` has room for a request and none
/// of the suite's own requests in it ages out during the next burst (an
/// ageing request would free a unit mid-burst and repeat a Remaining
/// value). Cheaper than an idle bucket: at a 60 s window the suite's recent
/// logins and signups age long after the burst, so nothing is waited for
/// (the burst then judges the room that is left, however small).
async fn wait_quiet(cx: &Ctx, e: Endpoint, limit: u32) {
    let Some(key) = super::budget::BucketKey::of(&Request::to(e), &cx.limits) else {
        return;
    };
    // The burst and a margin: a few round trips of a burst of the limit.
    let horizon = Duration::from_millis(500)
        + cx.rtt() * (sweep_size(limit) / cx.burst_width(sweep_size(limit)) as u32 + 2) * 2;
    let want = 1.min(limit);
    let give_up = Instant::now() + cx.window() * 2;
    while Instant::now() < give_up {
        let now = Instant::now();
        let room = (0..=limit)
            .take_while(|n| *n == 0 || cx.ledger.wait_for_room(&key, *n, now).is_none())
            .last()
            .unwrap_or(0);
        let next = if room >= limit {
            None
        } else {
            cx.ledger
                .wait_for_room(&key, room + 1, now)
                .map(|w| w.duration)
        };
        match next {
            Some(d) if room < want || d <= horizon => {
                cx.sleep(d + Duration::from_millis(50)).await;
            }
            _ => return,
        }
    }
}
