//! RL-1, RL-2 and RL-5: the X-RateLimit headers on counted answers, on
//! errors that reached the limiter and on refusals; the limit they announce;
//! Date and the form of X-RateLimit-Reset.

use crate::check::context::{messages_request, send_request, Ctx};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Exchange, Request};
use crate::contract::ratelimit::ResetForm;
use crate::contract::Endpoint;

use super::helpers::read_endpoint;
use super::sweep::{exhausted, judge_each};

/// The three headers of an answer, or a verdict saying which is wrong.
pub(super) fn headers_problem(ex: &Exchange, what: &str) -> Option<Verdict> {
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
pub(super) async fn probe_endpoints(
    cx: &Ctx,
) -> Result<(Vec<(Endpoint, Exchange)>, Vec<String>), Verdict> {
    cx.fixtures
        .rl_probes
        .get_or_init(|| send_probes(cx))
        .await
        .clone()
}

pub(super) async fn send_probes(
    cx: &Ctx,
) -> Result<(Vec<(Endpoint, Exchange)>, Vec<String>), Verdict> {
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

pub(super) async fn headers_on_counted(cx: &Ctx) -> Result<Verdict, Verdict> {
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
pub(super) async fn headers_on_errors(cx: &Ctx) -> Result<Verdict, Verdict> {
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

pub(super) async fn limit_header(cx: &Ctx) -> Result<Verdict, Verdict> {
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

/// RL-1 on the sweep's refusals: the first refusal of each endpoint.
pub(super) async fn headers_on_refusal(cx: &Ctx) -> Result<Verdict, Verdict> {
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

pub(super) fn reset_problem(cx: &Ctx, ex: &Exchange, what: &str) -> Option<Verdict> {
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

pub(super) async fn reset_consistent(cx: &Ctx) -> Result<Verdict, Verdict> {
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

pub(super) async fn reset_form(cx: &Ctx) -> Result<Verdict, Verdict> {
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
