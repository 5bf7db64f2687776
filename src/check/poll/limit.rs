//! POLL-2.2 and POLL-8: `limit` on a chat of 101 messages (built once per
//! run): the default 50, 1 to 100 honoured exactly, and above 100 clamped to
//! a cap of at least 100 or refused.

use crate::check::context::{messages_request, Ctx, SignedIn};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::contract::wire::Message;

/// A chat holding 101 messages, built once per run and shared by POLL-8.
pub(super) async fn big_chat(cx: &Ctx) -> Result<(String, SignedIn), Verdict> {
    cx.fixtures
        .big_chat
        .get_or_init(|| build_big_chat(cx))
        .await
        .clone()
}

pub(super) async fn build_big_chat(cx: &Ctx) -> Result<(String, SignedIn), Verdict> {
    // Mostly c (the outsider sends little elsewhere) and b: a sends the
    // most in the other checks. The ledger paces every send against what
    // the other checks spent of the send_message buckets.
    let (p, q, r) = (cx.a.clone(), cx.b.clone(), cx.c.clone());
    let chat = cx.group(&p, &[&q, &r]).await?;
    for i in 0..101 {
        let who = [&r, &q, &r, &q, &p][i % 5];
        cx.post(who, &chat, &format!("bulk {i}"))
            .await
            .step("filling a chat with 101 messages")?;
    }
    Ok((chat, q))
}

pub(super) async fn default_limit(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (chat, viewer) = big_chat(cx).await?;
    let (page, ex) = cx
        .messages(&viewer, &chat, None, None)
        .await
        .step("reading without limit")?;
    if page.len() != 50 {
        return Err(Verdict::fail(format!(
            "get_messages without limit answered {} messages of a chat of 101",
            page.len()
        ))
        .expected("50 (the default limit)")
        .seen(format!("{}", page.len()))
        .with(&ex));
    }
    Ok(Verdict::pass("50 messages without limit, the default"))
}

pub(super) async fn limit_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (chat, viewer) = big_chat(cx).await?;
    for limit in [1u32, 37, 100] {
        let (page, ex) = cx
            .messages(&viewer, &chat, None, Some(limit))
            .await
            .step(&format!("reading with limit={limit}"))?;
        if page.len() != limit as usize {
            return Err(Verdict::fail(format!(
                "limit={limit} was not honoured on a chat of 101 messages"
            ))
            .expected(format!("{limit} messages"))
            .seen(format!("{}", page.len()))
            .with(&ex));
        }
    }
    Ok(Verdict::pass("limit 1, 37 and 100 honoured exactly"))
}

pub(super) async fn limit_cap(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (chat, viewer) = big_chat(cx).await?;
    let ex = cx
        .send(&messages_request(&viewer, &chat, None, Some(150)))
        .await?;
    if (400..500).contains(&ex.status) {
        return Ok(Verdict::info(format!("limit=150 refused with {}", ex.status)).with(&ex));
    }
    if !ex.is_success() {
        return Err(Verdict::fail(format!("limit=150 answered {}", ex.status))
            .expected("a clamped list or a 4xx")
            .seen(describe(&ex))
            .with(&ex));
    }
    let page: Vec<Message> = ex.decode().map_err(Verdict::from)?;
    if page.len() < 100 {
        return Err(Verdict::fail("limit=150 was clamped below 100")
            .expected("at least 100 of the 101 messages, or a 4xx")
            .seen(format!("{} messages", page.len()))
            .with(&ex));
    }
    Ok(Verdict::info(if page.len() == 101 {
        "limit=150 answered all 101 messages (cap above 101, or none)".to_owned()
    } else {
        format!("limit=150 clamped to {}", page.len())
    })
    .with(&ex))
}
