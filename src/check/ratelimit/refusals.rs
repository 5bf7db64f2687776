//! RL-4 and RL-4b: from an idle bucket exactly `limit` requests are
//! accepted, the rest refused with a 4xx and Remaining 0, a refused request
//! changes nothing, and a refusal is a 429 with Retry-After.

use std::collections::BTreeSet;

use crate::check::context::{messages_request, Ctx, Exhausted, Spent};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Exchange, Request};
use crate::contract::Endpoint;

use super::sweep::{exhausted, judge_each};

/// RL-4 on the sweep: exactly `limit` accepted from an idle bucket, every
/// other answer a 4xx with Remaining 0, and nothing a refused create_chat
/// or send_message asked for exists afterwards.
pub(super) async fn refusal_has_no_effect(cx: &Ctx) -> Result<Verdict, Verdict> {
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
pub(super) fn refusal_problem(s: &Spent, exact: bool) -> Option<Verdict> {
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
pub(super) async fn refused_effects(
    cx: &Ctx,
    x: &Exhausted,
) -> Result<Vec<(Endpoint, Verdict)>, Verdict> {
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

pub(super) async fn refusal_is_429(cx: &Ctx) -> Result<Verdict, Verdict> {
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
