//! CHATS: the chat list's order: get_chats by last_message_at descending,
//! empty chats last, last_message(_at) matching the newest message.

use crate::client::Request;
use crate::contract::wire::ChatSummary;
use crate::contract::Endpoint;

use super::context::Ctx;
use super::definition::checks;
use super::verdict::{StepContext, Verdict};

checks! {
    "CHATS-1.1" "CHATS-1" Should Normal ["chats"] chats_order
        "get_chats orders by last_message_at descending, empty chats last; last_message(_at) match the newest message";
}

async fn chats_order(cx: &Ctx) -> Result<Verdict, Verdict> {
    // a and b: the order is judged among this check's three chats, and
    // chats of earlier checks or runs only have to keep empty ones last.
    let (u, v) = (cx.a.clone(), cx.b.clone());
    let first = cx.group(&u, &[&v]).await?;
    let empty = cx.group(&u, &[&v]).await?;
    let last = cx.group(&u, &[&v]).await?;
    cx.post(&u, &last, "older news").await.step("sending")?;
    let (newest_first, _) = cx.post(&v, &first, "newest news").await.step("sending")?;
    let (chats, ex) = cx
        .call::<Vec<ChatSummary>>(&Request::to(Endpoint::GetChats).token(&u.creds))
        .await
        .step("get_chats")?;
    let pos = |id: &str| chats.iter().position(|c| c.name == id);
    let (Some(pf), Some(pe), Some(pl)) = (pos(&first), pos(&empty), pos(&last)) else {
        return Err(Verdict::fail("get_chats misses a chat just created")
            .expected(format!("{first}, {last} and {empty} listed"))
            .seen(format!(
                "positions {:?}, {:?}, {:?}",
                pos(&first),
                pos(&last),
                pos(&empty)
            ))
            .with(&ex));
    };
    if !(pf < pl && pl < pe) {
        return Err(
            Verdict::fail("get_chats is not ordered by last_message_at, empty chats last")
                .expected(format!(
                    "{first} (newest), {last}, then {empty} (no messages)"
                ))
                .seen(format!("positions {pf}, {pl}, {pe}"))
                .with(&ex),
        );
    }
    if let Some(i) = chats.iter().position(|c| c.last_message_at.is_none()) {
        if chats[i..].iter().any(|c| c.last_message_at.is_some()) {
            return Err(
                Verdict::fail("a chat without messages comes before one with messages")
                    .expected("chats without messages last")
                    .seen(format!("{} at position {i}", chats[i].name))
                    .with(&ex),
            );
        }
    }
    let c = &chats[pf];
    let prefix_ok = c
        .last_message
        .as_deref()
        .is_some_and(|m| !m.is_empty() && newest_first.content.starts_with(m));
    if !prefix_ok || c.last_message_at.as_ref() != Some(&newest_first.creation) {
        return Err(
            Verdict::fail("last_message/last_message_at do not match the newest message")
                .expected(format!(
                    "{:?} at {}",
                    newest_first.content, newest_first.creation
                ))
                .seen(format!(
                    "{:?} at {:?}",
                    c.last_message,
                    c.last_message_at.as_ref().map(|t| t.as_str())
                ))
                .with(&ex),
        );
    }
    let e = &chats[pe];
    if e.last_message.is_some() || e.last_message_at.is_some() {
        return Err(Verdict::fail("a chat without messages has a last message")
            .expected("null last_message and last_message_at")
            .seen(format!("{:?} at {:?}", e.last_message, e.last_message_at))
            .with(&ex));
    }
    Ok(Verdict::pass(
        "ordered by last message, empty chats last, last_message matches",
    ))
}
