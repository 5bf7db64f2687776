//! READ: read state. mark_as_read marks the other participant's messages
//! read for the caller, in both participants' views, and sets the caller's
//! last_read_at.

use std::collections::BTreeMap;

use crate::client::{Exchange, Request};
use crate::contract::wire::Participant;
use crate::contract::Endpoint;

use super::context::{Ctx, SignedIn};
use super::definition::checks;
use super::verdict::{describe, StepContext, Verdict};

checks! {
    "READ-1.1" "READ-1" Must Normal ["read"] mark_read_direct
        "After B marks a Direct chat read, A's messages show is_read=1 to B and B's own are unchanged, as both see them (and the same with A and B swapped)";
    "READ-2.1" "READ-2" Should Normal ["read"] last_read_at
        "mark_as_read sets the caller's last_read_at in get_chat_participants, as both participants see it, and leaves the other's";
}

/// Each of this check's messages (`names`) with its `is_read` as `viewer`
/// sees it. Only messages after `after` are read: the chat may hold other
/// runs' messages.
async fn read_marks(
    cx: &Ctx,
    viewer: &SignedIn,
    chat: &str,
    after: &str,
    names: &[&str],
    what: &str,
) -> Result<(BTreeMap<String, bool>, Exchange), Verdict> {
    let (msgs, ex) = cx
        .messages(viewer, chat, Some(after), Some(100))
        .await
        .step(what)?;
    let marks: BTreeMap<String, bool> = msgs
        .into_iter()
        .filter(|m| names.contains(&m.name.as_str()))
        .map(|m| (m.name, m.is_read))
        .collect();
    if let Some(n) = names.iter().find(|n| !marks.contains_key(**n)) {
        return Err(Verdict::error(format!("{what}: message {n} is missing")).with(&ex));
    }
    Ok((marks, ex))
}

/// mark_as_read as `user`; anything but a 2xx ends the check.
async fn mark_read(cx: &Ctx, user: &SignedIn, chat: &str) -> Result<Exchange, Verdict> {
    let mark = cx
        .send(
            &Request::to(Endpoint::MarkAsRead)
                .token(&user.creds)
                .param("chat", chat),
        )
        .await?;
    if !mark.is_success() {
        return Err(
            Verdict::error(format!("mark_as_read answered {}", describe(&mark))).with(&mark),
        );
    }
    Ok(mark)
}

/// A read mark that changed (or did not change) when it should not have.
fn read_fail(what: &str, name: &str, want: bool, got: bool, exs: &[&Exchange]) -> Verdict {
    Verdict::fail(what.to_owned())
        .expected(format!("{name} is_read = {}", u8::from(want)))
        .seen(format!("is_read = {}", u8::from(got)))
        .with_all(exs.iter().copied())
}

async fn mark_read_direct(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (a, b) = (&cx.a, &cx.b);
    // The shared users' Direct chat is the same on every run (AUTHZ-6):
    // only the messages after this run's fence are judged.
    let (chat, _) = cx
        .create_chat(a, &[&b.email], "Direct")
        .await
        .step("creating (or finding) the Direct chat of A and B")?;
    let (fence, _) = cx.post(a, &chat, "read fence").await.step("sending")?;
    let after = fence.creation.as_str().to_owned();
    let (a1, _) = cx.post(a, &chat, "read me 1").await.step("sending")?;
    let (a2, _) = cx.post(a, &chat, "read me 2").await.step("sending")?;
    let (b1, _) = cx.post(b, &chat, "mine").await.step("sending")?;
    let (a_msgs, b_msg) = ([a1.name.as_str(), a2.name.as_str()], b1.name.as_str());
    let names = [a_msgs[0], a_msgs[1], b_msg];
    let (a0, _) = read_marks(cx, a, &chat, &after, &names, "A reading before").await?;
    let (b0, _) = read_marks(cx, b, &chat, &after, &names, "B reading before").await?;

    // B marks read: A's messages read in B's view; B's own message keeps
    // its state, in B's view and in A's.
    let mark = mark_read(cx, b, &chat).await?;
    let (b1v, exb) = read_marks(
        cx,
        b,
        &chat,
        &after,
        &names,
        "B reading after B's mark_as_read",
    )
    .await?;
    let (a1v, exa) = read_marks(
        cx,
        a,
        &chat,
        &after,
        &names,
        "A reading after B's mark_as_read",
    )
    .await?;
    for n in a_msgs {
        if !b1v[n] {
            return Err(read_fail(
                "after B's mark_as_read, A's message is not read in B's view",
                n,
                true,
                false,
                &[&mark, &exb],
            ));
        }
    }
    if b1v[b_msg] != b0[b_msg] {
        return Err(read_fail(
            "B's mark_as_read changed B's own message in B's view",
            b_msg,
            b0[b_msg],
            b1v[b_msg],
            &[&mark, &exb],
        ));
    }
    if a1v[b_msg] != a0[b_msg] {
        return Err(read_fail(
            "B's mark_as_read changed B's own message in A's view",
            b_msg,
            a0[b_msg],
            a1v[b_msg],
            &[&mark, &exa],
        ));
    }

    // And the other way round: A marks read.
    let mark = mark_read(cx, a, &chat).await?;
    let (a2v, exa) = read_marks(
        cx,
        a,
        &chat,
        &after,
        &names,
        "A reading after A's mark_as_read",
    )
    .await?;
    let (b2v, exb) = read_marks(
        cx,
        b,
        &chat,
        &after,
        &names,
        "B reading after A's mark_as_read",
    )
    .await?;
    if !a2v[b_msg] {
        return Err(read_fail(
            "after A's mark_as_read, B's message is not read in A's view",
            b_msg,
            true,
            false,
            &[&mark, &exa],
        ));
    }
    for n in a_msgs {
        if a2v[n] != a1v[n] {
            return Err(read_fail(
                "A's mark_as_read changed A's own message in A's view",
                n,
                a1v[n],
                a2v[n],
                &[&mark, &exa],
            ));
        }
        if b2v[n] != b1v[n] {
            return Err(read_fail(
                "A's mark_as_read changed A's own message in B's view",
                n,
                b1v[n],
                b2v[n],
                &[&mark, &exb],
            ));
        }
    }
    Ok(Verdict::pass(
        "each side's mark_as_read reads the other's messages, in both views; own messages unchanged in both",
    ))
}

/// Each participant's last_read_at as `viewer`'s get_chat_participants shows it.
async fn last_reads(
    cx: &Ctx,
    viewer: &SignedIn,
    chat: &str,
    what: &str,
) -> Result<(BTreeMap<String, Option<String>>, Exchange), Verdict> {
    let (ps, ex) = cx
        .call::<Vec<Participant>>(
            &Request::to(Endpoint::GetChatParticipants)
                .token(&viewer.creds)
                .param("chat", chat),
        )
        .await
        .step(what)?;
    let map: BTreeMap<String, Option<String>> = ps
        .into_iter()
        .map(|p| (p.user, p.last_read_at.map(|t| t.as_str().to_owned())))
        .collect();
    for u in [&cx.a, &cx.b] {
        if !map.contains_key(&u.email) {
            return Err(Verdict::error(format!(
                "{what}: {} is not in the participant list",
                u.email
            ))
            .with(&ex));
        }
    }
    Ok((map, ex))
}

async fn last_read_at(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (a, b) = (&cx.a, &cx.b);
    let chat = cx.group(a, &[b]).await?;
    cx.post(a, &chat, "to be read").await.step("sending")?;
    let (before, _) = last_reads(cx, a, &chat, "get_chat_participants before").await?;
    let mark = mark_read(cx, b, &chat).await?;
    let (b_sees, exb) = last_reads(cx, b, &chat, "get_chat_participants as B").await?;
    let (a_sees, exa) = last_reads(cx, a, &chat, "get_chat_participants as A").await?;
    for (viewer, seen, ex) in [("B", &b_sees, &exb), ("A", &a_sees, &exa)] {
        if seen[&b.email].is_none() {
            return Err(Verdict::fail(format!(
                "after B's mark_as_read, B's last_read_at is not set in {viewer}'s get_chat_participants"
            ))
            .expected("a timestamp")
            .seen("null or absent")
            .with(&mark)
            .with(ex));
        }
        if seen[&a.email] != before[&a.email] {
            return Err(Verdict::fail(format!(
                "B's mark_as_read changed A's last_read_at in {viewer}'s get_chat_participants"
            ))
            .expected(format!("{:?} as before", before[&a.email]))
            .seen(format!("{:?}", seen[&a.email]))
            .with(&mark)
            .with(ex));
        }
    }
    Ok(Verdict::pass(
        "the caller's last_read_at set, in both participants' lists; the other's unchanged",
    ))
}
