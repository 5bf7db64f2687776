//! The sweep: one fresh user spends its buckets of get_chats, create_chat,
//! get_messages and send_message once per run, while another user's buckets
//! are looked at before and after; RL-1.2, RL-3.1, RL-4.1, RL-4b.1, RL-5.1,
//! RL-7.1 and RL-8.1 judge what it left ([`Exhausted`]), each with
//! [`judge_each`].

use std::time::{Duration, Instant};

use crate::check::context::{
    messages_request, send_request, Ctx, Exhausted, OtherUser, SignedIn, Spent,
};
use crate::check::verdict::{StepContext, Verdict};
use crate::client::{Exchange, Request};
use crate::contract::Endpoint;

use super::helpers::{
    burst, limited_user_endpoints, merge_fails, own_user_or_skip, partner, too_slow_to_spend,
};

/// The sweep's result: swept by the first check that asks, then shared.
pub(super) async fn exhausted(cx: &Ctx) -> Result<Exhausted, Verdict> {
    cx.fixtures
        .exhausted
        .get_or_init(|| sweep(cx))
        .await
        .clone()
}

/// Requests the sweep sends per endpoint: the limit and a tenth more (at
/// least five), all over the limit of an idle bucket.
pub(super) fn sweep_size(limit: u32) -> u32 {
    limit + (limit / 10).max(5)
}

/// Request `i` of the sweep's burst on `e`, as `user`: chats it creates and
/// messages it sends are named `{tag}-{i}`, so a refused one can be looked
/// for afterwards.
pub(super) fn sweep_request(
    e: Endpoint,
    user: &SignedIn,
    other: &SignedIn,
    chat: &str,
    name: &str,
) -> Request {
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

pub(super) async fn sweep(cx: &Ctx) -> Result<Exhausted, Verdict> {
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
pub(super) async fn other_user_probes(
    cx: &Ctx,
    other: &SignedIn,
    user: &SignedIn,
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
                if let Some(key) = crate::check::budget::BucketKey::of(&req(k), &cx.limits) {
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
pub(super) fn judge_each(
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
