//! AUTHZ and USERS: participants only. Every check builds chats of its own
//! so that what it looks for cannot come from another check.

use std::collections::BTreeSet;

use crate::client::Request;
use crate::contract::wire::{ChatSummary, Participant, User as WireUser};
use crate::contract::Endpoint;

use super::context::{messages_request, Ctx};
use super::definition::checks;
use super::verdict::{describe, expect_status, StepContext, Verdict};

checks! {
    "AUTHZ-1.1" "AUTHZ-1" Must Normal ["authz"] chats_are_own
        "get_chats lists exactly the chats the caller participates in";
    "AUTHZ-2.1" "AUTHZ-2" Must Normal ["authz"] read_refused
        "get_messages on a chat the caller is not in answers 403 and shows none of its messages";
    "AUTHZ-3.1" "AUTHZ-3" Must Normal ["authz"] send_refused
        "send_message to a chat the caller is not in answers 403 and stores nothing";
    "AUTHZ-4.1" "AUTHZ-4" Must Normal ["authz"] mark_and_list_refused
        "mark_as_read and get_chat_participants by a non-participant answer 403 and change nothing";
    "AUTHZ-5.1" "AUTHZ-5" Must Normal ["authz"] missing_chat
        "A chat id that does not exist answers 403 or 404, never 2xx or 5xx";
    "AUTHZ-6.1" "AUTHZ-6" Must Normal ["authz"] creator_added
        "create_chat adds the caller: participants are the distinct ids given plus the caller";
    "AUTHZ-6.2" "AUTHZ-6" Must Normal ["authz"] direct_unique
        "A Direct chat has exactly two participants (else 417) and re-creating it from either side returns its id";
    "AUTHZ-6b.1" "AUTHZ-6b" Should Normal ["authz"] unknown_participant
        "create_chat with an unknown user id is refused with a 4xx";
    "AUTHZ-7.1" "AUTHZ-7" Must Normal ["authz"] participants_exact
        "get_chat_participants lists exactly the chat's users";
    "USERS-1.1" "USERS-1" Must Normal ["authz", "users"] users_list
        "get_users lists every known user but never the caller, and no secrets";
}

async fn chat_ids(
    cx: &Ctx,
    u: &super::context::SignedIn,
) -> Result<(BTreeSet<String>, crate::client::Exchange), Verdict> {
    let (chats, ex) = cx
        .call::<Vec<ChatSummary>>(&Request::to(Endpoint::GetChats).token(&u.creds))
        .await
        .step(&format!("get_chats as {}", u.email))?;
    Ok((chats.into_iter().map(|c| c.name).collect(), ex))
}

async fn chats_are_own(cx: &Ctx) -> Result<Verdict, Verdict> {
    // The shared three, rerun-safe: a and b share one chat, b and c
    // another; chats listed that this check did not make are judged by
    // asking the server who is in them (leftovers of earlier checks or runs).
    let (u, v, w) = (&cx.a, &cx.b, &cx.c);
    let uv = cx.group(u, &[v]).await?;
    let vw = cx.group(v, &[w]).await?;
    let ours: BTreeSet<String> = [uv.clone(), vw.clone()].into_iter().collect();
    let wants = vec![(u, vec![&uv]), (v, vec![&uv, &vw]), (w, vec![&vw])];
    let mut leftovers_checked = 0;
    for (user, want) in wants {
        let (got, ex) = chat_ids(cx, user).await?;
        let want: BTreeSet<String> = want.into_iter().cloned().collect();
        if let Some(missing) = want.difference(&got).next() {
            return Err(Verdict::fail(format!(
                "get_chats of {} misses a chat they are in",
                user.email
            ))
            .expected(format!(
                "{missing} listed (created by this check with them in it)"
            ))
            .seen(format!("{got:?}"))
            .with(&ex));
        }
        // Chats this check made without the user must not be listed.
        if let Some(foreign) = got.intersection(&ours).find(|c| !want.contains(*c)) {
            return Err(Verdict::fail(format!(
                "get_chats of {} lists a chat they are not in",
                user.email
            ))
            .expected(format!(
                "{foreign} not listed (created by this check without them)"
            ))
            .seen("listed")
            .with(&ex));
        }
        // Anything else was made before this check (an earlier check or run):
        // judge only what can be attributed, by asking the server who is in it.
        for other in got.difference(&ours).take(10) {
            let pex = cx
                .send(
                    &Request::to(Endpoint::GetChatParticipants)
                        .token(&user.creds)
                        .param("chat", other),
                )
                .await?;
            if matches!(pex.status, 403 | 404) {
                return Err(Verdict::fail(format!(
                    "get_chats of {} lists a chat they are not in",
                    user.email
                ))
                .expected(format!("{other} not listed"))
                .seen(format!(
                    "listed, and get_chat_participants of it refused them: {}",
                    super::verdict::describe(&pex)
                ))
                .with(&ex)
                .with(&pex));
            }
            let parts: Vec<crate::contract::wire::Participant> = pex
                .decode()
                .map_err(Verdict::from)
                .step(&format!("reading the participants of {other}"))?;
            if !parts.iter().any(|p| p.user == user.email) {
                return Err(Verdict::fail(format!(
                    "get_chats of {} lists a chat they are not in",
                    user.email
                ))
                .expected(format!(
                    "{other} not listed, or {} among its participants",
                    user.email
                ))
                .seen(format!(
                    "participants {:?}",
                    parts.iter().map(|p| &p.user).collect::<Vec<_>>()
                ))
                .with(&ex)
                .with(&pex));
            }
            leftovers_checked += 1;
        }
    }
    let mut verdict = Verdict::pass("three users each saw their chats and none of the others'");
    if leftovers_checked > 0 {
        verdict = verdict.note(format!(
            "{leftovers_checked} chat(s) made before this check were listed; each has the user among its participants"
        ));
    }
    Ok(verdict)
}

async fn read_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let text = cx.unique("private");
    cx.post(&cx.a, &chat, &text)
        .await
        .step("sending a message")?;
    let ex = cx.send(&messages_request(&cx.c, &chat, None, None)).await?;
    let leaked = String::from_utf8_lossy(&ex.body).contains(&text);
    expect_status(&ex, &[403], "get_messages by a non-participant").map_err(|v| {
        if leaked {
            v.note("the body holds the chat's messages")
        } else {
            v
        }
    })?;
    if leaked {
        return Err(Verdict::fail("the 403 body holds the chat's messages")
            .expected("none of the chat's messages")
            .seen(ex.body_excerpt(200, cx.show_secrets))
            .with(&ex));
    }
    Ok(Verdict::pass("refused with 403"))
}

async fn send_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let text = cx.unique("intruder");
    let ex = cx
        .send(
            &Request::to(Endpoint::SendMessage)
                .token(&cx.c.creds)
                .param("chat", &chat)
                .param("content", &text),
        )
        .await?;
    let status = expect_status(&ex, &[403], "send_message by a non-participant");
    let (msgs, got) = cx
        .messages(&cx.a, &chat, None, None)
        .await
        .step("reading the chat")?;
    let stored = msgs.iter().any(|m| m.content == text);
    match (status, stored) {
        (Ok(()), false) => Ok(Verdict::pass("refused with 403, nothing stored")),
        (Ok(()), true) => Err(Verdict::fail("the refused message was stored anyway")
            .expected("nothing stored")
            .seen("the participants see it")
            .with(&ex)
            .with(&got)),
        (Err(v), stored) => Err(if stored {
            v.note("and the message was stored: the participants see it")
                .with(&got)
        } else {
            v
        }),
    }
}

async fn participants(
    cx: &Ctx,
    u: &super::context::SignedIn,
    chat: &str,
) -> Result<(Vec<Participant>, crate::client::Exchange), Verdict> {
    cx.call::<Vec<Participant>>(
        &Request::to(Endpoint::GetChatParticipants)
            .token(&u.creds)
            .param("chat", chat),
    )
    .await
    .step("get_chat_participants")
}

async fn mark_and_list_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    cx.post(&cx.a, &chat, "before the intruder")
        .await
        .step("sending a message")?;
    let (before, _) = participants(cx, &cx.a, &chat).await?;
    let (msgs_before, _) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading")?;
    for endpoint in [Endpoint::MarkAsRead, Endpoint::GetChatParticipants] {
        let ex = cx
            .send(
                &Request::to(endpoint)
                    .token(&cx.c.creds)
                    .param("chat", &chat),
            )
            .await?;
        expect_status(&ex, &[403], &format!("{endpoint} by a non-participant"))?;
        if endpoint == Endpoint::GetChatParticipants
            && String::from_utf8_lossy(&ex.body).contains(&cx.b.email)
        {
            return Err(Verdict::fail("the 403 lists the chat's participants")
                .expected("no data")
                .seen(ex.body_excerpt(200, cx.show_secrets))
                .with(&ex));
        }
    }
    let (after, pex) = participants(cx, &cx.a, &chat).await?;
    let (msgs_after, mex) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading")?;
    if before != after {
        return Err(
            Verdict::fail("a refused mark_as_read changed the participants")
                .expected(format!("{before:?}"))
                .seen(format!("{after:?}"))
                .with(&pex),
        );
    }
    if msgs_before != msgs_after {
        return Err(
            Verdict::fail("a refused mark_as_read changed the messages' read state")
                .expected("the same messages and is_read")
                .seen("a difference")
                .with(&mex),
        );
    }
    Ok(Verdict::pass("both refused with 403, nothing changed"))
}

async fn missing_chat(cx: &Ctx) -> Result<Verdict, Verdict> {
    let missing = cx.unique("no-such-chat");
    let a = &cx.a.creds;
    let probes = [
        messages_request(&cx.a, &missing, None, None),
        Request::to(Endpoint::SendMessage)
            .token(a)
            .param("chat", &missing)
            .param("content", "x"),
        Request::to(Endpoint::MarkAsRead)
            .token(a)
            .param("chat", &missing),
        Request::to(Endpoint::GetChatParticipants)
            .token(a)
            .param("chat", &missing),
    ];
    for req in probes {
        let what = req.path.rsplit('.').next().unwrap_or_default().to_owned();
        let ex = cx.send(&req).await?;
        expect_status(
            &ex,
            &[403, 404],
            &format!("{what} on a chat that does not exist"),
        )?;
    }
    Ok(Verdict::pass("four endpoints answered 403/404"))
}

fn users_of(ps: &[Participant]) -> BTreeSet<String> {
    ps.iter().map(|p| p.user.clone()).collect()
}

async fn creator_added(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (chat, _) = cx
        .create_chat(&cx.a, &[&cx.b.email, &cx.b.email], "Group")
        .await
        .step("creating a group with a duplicated participant")?;
    let (ps, ex) = participants(cx, &cx.b, &chat).await?;
    let want: BTreeSet<String> = [cx.a.email.clone(), cx.b.email.clone()].into();
    if users_of(&ps) != want || ps.len() != 2 {
        return Err(Verdict::fail(
            "the participants are not the distinct ids given plus the creator",
        )
        .expected(format!("{want:?}"))
        .seen(format!(
            "{:?}",
            ps.iter().map(|p| &p.user).collect::<Vec<_>>()
        ))
        .with(&ex));
    }
    Ok(Verdict::pass("creator added, duplicates merged"))
}

async fn direct_unique(cx: &Ctx) -> Result<Verdict, Verdict> {
    // a and b: a Direct chat between them left by an earlier run is the
    // one every create must answer.
    let (p, q) = (cx.a.clone(), cx.b.clone());
    let (first, ex1) = cx
        .create_chat(&p, &[&q.email], "Direct")
        .await
        .step("creating a Direct chat")?;
    let (again, ex2) = cx
        .create_chat(&p, &[&q.email], "Direct")
        .await
        .step("creating it again")?;
    let (other_side, ex3) = cx
        .create_chat(&q, &[&p.email], "Direct")
        .await
        .step("creating it from the other side")?;
    if first != again || first != other_side {
        return Err(Verdict::fail("re-creating a Direct chat made a new one")
            .expected(format!("{first:?} every time"))
            .seen(format!(
                "{first:?}, again {again:?}, from the other side {other_side:?}"
            ))
            .with(&ex1)
            .with(&ex2)
            .with(&ex3));
    }
    let (ps, pex) = participants(cx, &p, &first).await?;
    if ps.len() != 2 {
        return Err(
            Verdict::fail("a Direct chat does not have exactly two participants")
                .expected("2")
                .seen(format!("{}", ps.len()))
                .with(&pex),
        );
    }
    let three = cx
        .send(
            &Request::to(Endpoint::CreateChat)
                .token(&p.creds)
                .param("chat_name", cx.unique("three"))
                .param(
                    "participants",
                    serde_json::json!([q.email, cx.c.email]).to_string(),
                )
                .param("chat_type", "Direct"),
        )
        .await?;
    expect_status(&three, &[417], "a Direct chat with three participants")?;
    Ok(Verdict::pass(
        "one Direct chat per pair, and three participants refused",
    ))
}

async fn unknown_participant(cx: &Ctx) -> Result<Verdict, Verdict> {
    let ghost = cx.new_identity().0;
    let ex = cx
        .send(
            &Request::to(Endpoint::CreateChat)
                .token(&cx.a.creds)
                .param("chat_name", cx.unique("ghost"))
                .param("participants", serde_json::json!([ghost]).to_string())
                .param("chat_type", "Group"),
        )
        .await?;
    if !(400..500).contains(&ex.status) {
        return Err(
            Verdict::fail(format!("an unknown user id answered {}", ex.status))
                .expected("a 4xx")
                .seen(describe(&ex))
                .with(&ex),
        );
    }
    Ok(Verdict::pass(format!("refused with {}", ex.status)))
}

async fn participants_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b, &cx.c]).await?;
    let want: BTreeSet<String> = [&cx.a, &cx.b, &cx.c]
        .iter()
        .map(|u| u.email.clone())
        .collect();
    for viewer in [&cx.a, &cx.c] {
        let (ps, ex) = participants(cx, viewer, &chat).await?;
        if users_of(&ps) != want || ps.len() != want.len() {
            return Err(
                Verdict::fail(format!("{} sees the wrong participant list", viewer.email))
                    .expected(format!("{want:?}"))
                    .seen(format!(
                        "{:?}",
                        ps.iter().map(|p| &p.user).collect::<Vec<_>>()
                    ))
                    .with(&ex),
            );
        }
    }
    Ok(Verdict::pass(
        "exactly the three users, seen by the creator and a member",
    ))
}

async fn users_list(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (users, ex) = cx
        .call::<Vec<WireUser>>(&Request::to(Endpoint::GetUsers).token(&cx.a.creds))
        .await
        .step("get_users")?;
    let listed: BTreeSet<String> = users.iter().map(|u| u.name.clone()).collect();
    if listed.contains(&cx.a.email) {
        return Err(Verdict::fail("get_users lists the caller")
            .expected(format!("everyone but {}", cx.a.email))
            .seen("the caller is listed")
            .with(&ex));
    }
    let missing: Vec<String> = cx
        .known_users()
        .into_iter()
        .filter(|u| u != &cx.a.email && !listed.contains(u))
        .collect();
    if !missing.is_empty() {
        return Err(Verdict::fail("get_users misses users the suite knows")
            .expected("every user given or created")
            .seen(format!("missing {missing:?}"))
            .with(&ex));
    }
    // Secrets by value (every one the suite holds) and by secret-named keys
    // carrying a value; not by words inside key names: a key such as
    // `last_password_reset_date` is no secret.
    let body = String::from_utf8_lossy(&ex.body);
    if let Some(whose) = held_secrets(cx)
        .into_iter()
        .find(|(_, s)| body.contains(s.as_str()))
        .map(|(whose, _)| whose)
    {
        return Err(Verdict::fail(format!("get_users carries {whose}"))
            .expected("no secret in get_users")
            .seen(format!("{whose} in the body (masked below)"))
            .with(&ex));
    }
    let fields = ex
        .json()
        .map(|v| crate::contract::redact::secret_fields(&v))
        .unwrap_or_default();
    if !fields.is_empty() {
        return Err(Verdict::fail("get_users carries secret fields")
            .expected("no api_secret, password or other secret key with a value")
            .seen(format!("a value at {}", fields.join(", ")))
            .with(&ex));
    }
    Ok(Verdict::pass(format!(
        "{} users listed, caller excluded",
        listed.len()
    )))
}

/// Every secret the suite holds, with a description of whose it is: the
/// api_secret of each user it logged in or created, and the passwords of
/// the three shared users. Values under 6 characters are left out (they
/// could occur in any text by chance).
fn held_secrets(cx: &Ctx) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = cx
        .known_secrets()
        .into_iter()
        .map(|(email, s)| (format!("the api_secret of {email}"), s))
        .collect();
    for u in [&cx.a, &cx.b, &cx.c] {
        if let Some(p) = &u.password {
            out.push((format!("the password of {}", u.email), p.clone()));
        }
    }
    out.retain(|(_, s)| s.chars().count() >= 6);
    out
}
