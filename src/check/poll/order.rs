//! POLL-2.1, POLL-2b, POLL-3, POLL-4, POLL-4b, POLL-7 and POLL-9: the order
//! of get_messages and what `after` means: ascending by creation, the oldest
//! page first, strictly after T, the server's own creation string (and its
//! ISO twin) accepted back, garbage refused, creations strictly increasing.

use crate::check::context::{messages_request, Ctx, SignedIn};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::contract::wire::Message;

/// Sends `n` messages from `user`, returning what the server answered.
pub(super) async fn send_n(
    cx: &Ctx,
    user: &SignedIn,
    chat: &str,
    n: usize,
    tag: &str,
) -> Result<Vec<crate::contract::wire::SentMessage>, Verdict> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (m, _) = cx
            .post(user, chat, &format!("{tag} {i}"))
            .await
            .step("sending messages")?;
        out.push(m);
    }
    Ok(out)
}

pub(super) fn names(ms: &[Message]) -> Vec<String> {
    ms.iter().map(|m| m.name.clone()).collect()
}

/// The order problem of a list, if it is not strictly ascending by creation.
pub(super) fn not_ascending(ms: &[Message]) -> Option<String> {
    ms.windows(2)
        .find(|w| w[0].creation >= w[1].creation)
        .map(|w| {
            format!(
                "{} ({}) comes before {} ({})",
                w[0].name, w[0].creation, w[1].name, w[1].creation
            )
        })
}

pub(super) async fn ascending_limited(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let sent = send_n(cx, &cx.a, &chat, 5, "order").await?;
    let (all, ex) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading")?;
    if let Some(p) = not_ascending(&all) {
        return Err(Verdict::fail("get_messages is not ascending by creation")
            .expected("ascending")
            .seen(p)
            .with(&ex));
    }
    let (three, ex3) = cx
        .messages(&cx.b, &chat, None, Some(3))
        .await
        .step("reading with limit=3")?;
    if three.len() != 3 {
        return Err(Verdict::fail("limit=3 was not honoured")
            .expected("3 messages")
            .seen(format!("{}", three.len()))
            .with(&ex3));
    }
    let after = sent[0].creation.as_str();
    let (page, exp) = cx
        .messages(&cx.b, &chat, Some(after), Some(2))
        .await
        .step("reading after the first")?;
    let want = vec![sent[1].name.clone(), sent[2].name.clone()];
    if names(&page) != want {
        return Err(
            Verdict::fail("with after and limit=2, not the first two messages after it")
                .expected(format!("{want:?}"))
                .seen(format!("{:?}", names(&page)))
                .with(&exp),
        );
    }
    Ok(Verdict::pass(
        "ascending, limit honoured, after pages from the start",
    ))
}

pub(super) async fn oldest_first_page(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let sent = send_n(cx, &cx.a, &chat, 5, "page").await?;
    let (page, ex) = cx
        .messages(&cx.b, &chat, None, Some(3))
        .await
        .step("reading limit=3")?;
    let want: Vec<String> = sent[..3].iter().map(|m| m.name.clone()).collect();
    if names(&page) != want {
        return Err(
            Verdict::fail("without after, limit=3 did not answer the oldest three")
                .expected(format!("{want:?}"))
                .seen(format!("{:?}", names(&page)))
                .with(&ex),
        );
    }
    Ok(Verdict::pass("the oldest page comes first"))
}

pub(super) async fn after_strict(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let sent = send_n(cx, &cx.a, &chat, 4, "strict").await?;
    let (page, ex) = cx
        .messages(&cx.b, &chat, Some(sent[1].creation.as_str()), None)
        .await
        .step("reading after the second message")?;
    let want: Vec<String> = sent[2..].iter().map(|m| m.name.clone()).collect();
    if names(&page) != want {
        let inclusive = page.iter().any(|m| m.name == sent[1].name);
        return Err(
            Verdict::fail("after=T did not answer exactly the messages created after T")
                .expected(format!("{want:?}"))
                .seen(format!("{:?}", names(&page)))
                .note(if inclusive {
                    "the message whose creation equals T came back: `after` is treated as inclusive"
                } else {
                    "the answer differs from the messages after T"
                })
                .with(&ex),
        );
    }
    Ok(Verdict::pass("only messages strictly after T"))
}

pub(super) async fn creation_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let sent = send_n(cx, &cx.a, &chat, 3, "echo").await?;
    let (msgs, _) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading")?;
    let first = msgs
        .iter()
        .find(|m| m.name == sent[0].name)
        .ok_or_else(|| {
            Verdict::fail("a sent message is missing from get_messages")
                .expected(format!("{} listed", sent[0].name))
                .seen("absent")
        })?;
    let raw = first.creation.as_str().to_owned();
    let ex = cx
        .send(&messages_request(&cx.b, &chat, Some(&raw), None))
        .await?;
    if !ex.is_success() {
        return Err(
            Verdict::fail("the server's own creation string was refused as after")
                .expected("HTTP 200")
                .seen(describe(&ex))
                .with(&ex),
        );
    }
    let page: Vec<Message> = ex.decode().map_err(Verdict::from)?;
    let want: Vec<String> = sent[1..].iter().map(|m| m.name.clone()).collect();
    if names(&page) != want {
        return Err(Verdict::fail(format!("after={raw:?} did not answer the later messages exactly"))
            .expected(format!("{want:?}"))
            .seen(format!("{:?}", names(&page)))
            .note("a server that reads `after` to the second only returns messages of the same second again")
            .with(&ex));
    }
    Ok(Verdict::pass(format!(
        "after={raw:?} accepted with its fraction"
    )))
}

pub(super) async fn iso_after(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let sent = send_n(cx, &cx.a, &chat, 3, "iso").await?;
    let iso = sent[0].creation.to_iso();
    let ex = cx
        .send(&messages_request(&cx.b, &chat, Some(&iso), None))
        .await?;
    if !ex.is_success() {
        return Err(Verdict::fail("after in ISO form (T separator) was refused")
            .expected("HTTP 200, as for the space form")
            .seen(describe(&ex))
            .with(&ex));
    }
    let page: Vec<Message> = ex.decode().map_err(Verdict::from)?;
    let want: Vec<String> = sent[1..].iter().map(|m| m.name.clone()).collect();
    if names(&page) != want {
        return Err(
            Verdict::fail("after in ISO form answered differently from the space form")
                .expected(format!("{want:?}"))
                .seen(format!("{:?}", names(&page)))
                .with(&ex),
        );
    }
    Ok(Verdict::pass(format!("after={iso:?} accepted")))
}

pub(super) async fn garbage_after(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    send_n(cx, &cx.a, &chat, 2, "history").await?;
    let ex = cx
        .send(&messages_request(&cx.b, &chat, Some("garbage"), None))
        .await?;
    if !(400..500).contains(&ex.status) {
        return Err(
            Verdict::fail(format!("after=garbage answered {}", ex.status))
                .expected("a 4xx")
                .seen(describe(&ex))
                .with(&ex),
        );
    }
    let far = "2999-01-01 00:00:00.000000";
    let (page, ex2) = cx
        .messages(&cx.b, &chat, Some(far), None)
        .await
        .step("reading after 2999")?;
    if !page.is_empty() {
        return Err(
            Verdict::fail("an after beyond every message answered messages")
                .expected("an empty list")
                .seen(format!("{} messages", page.len()))
                .with(&ex2),
        );
    }
    Ok(Verdict::pass(format!(
        "garbage refused with {}, the future is empty",
        ex.status
    )))
}

pub(super) async fn creation_increases(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let mut sent: Vec<crate::contract::wire::SentMessage> = Vec::new();
    for i in 0..10 {
        let who = if i % 2 == 0 { &cx.a } else { &cx.b };
        let (m, ex) = cx
            .post(who, &chat, &format!("tick {i}"))
            .await
            .step("sending")?;
        if let Some(prev) = sent.last() {
            if m.creation <= prev.creation {
                return Err(Verdict::fail(
                    "a later message got a creation not after the previous one",
                )
                .expected(format!("after {}", prev.creation))
                .seen(format!("{}", m.creation))
                .with(&ex));
            }
        }
        sent.push(m);
    }
    let (msgs, ex) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading")?;
    if let Some(p) = not_ascending(&msgs) {
        return Err(
            Verdict::fail("two messages of one chat share a creation or are out of order")
                .expected("strictly increasing creation")
                .seen(p)
                .with(&ex),
        );
    }
    Ok(Verdict::pass(
        "ten quick sends, strictly increasing creations",
    ))
}
