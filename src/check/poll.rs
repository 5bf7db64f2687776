//! POLL, READ and CHATS: messages, incremental polling with `after=`, read
//! state and the chat list's order. `after` is only ever a string the server
//! returned, never derived from our clock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::client::{Exchange, Request};
use crate::contract::wire::{ChatSummary, Message, Participant};
use crate::contract::Endpoint;

use super::budget::BucketKey;
use super::context::{messages_request, send_request, Ctx, User};
use super::definition::checks;
use super::verdict::{describe, Step, Verdict};

checks! {
    "POLL-1.1" "POLL-1" Must Normal ["poll"] content_exact
        "send_message answers the stored message; sender and content (Unicode, quotes, CR/LF, spaces, 10,000 chars) come back byte for byte";
    "POLL-1b.1" "POLL-1b" Should Normal ["poll"] html_exact
        "HTML-like content (`<`, `>`) is stored and returned byte for byte too";
    "POLL-1c.1" "POLL-1c" Should Normal ["poll"] empty_refused
        "Empty content is refused with a 4xx and stores nothing";
    "POLL-2.1" "POLL-2" Must Normal ["poll"] ascending_limited
        "get_messages answers ascending by creation, at most `limit`; with `after` the first `limit` after it";
    "POLL-2.2" "POLL-2" Must Normal ["poll"] default_limit
        "Without limit, get_messages answers the default 50 (the oldest 50 of a chat of 101)";
    "POLL-2b.1" "POLL-2b" Should Normal ["poll"] oldest_first_page
        "Without `after`, get_messages answers the oldest `limit` messages";
    "POLL-3.1" "POLL-3" Must Normal ["poll"] after_strict
        "`after=T` answers only messages created strictly after T";
    "POLL-4.1" "POLL-4" Must Normal ["poll"] creation_echo
        "A `creation` string is accepted back as `after` unchanged, microseconds included";
    "POLL-4b.1" "POLL-4b" Should Normal ["poll"] iso_after
        "The same `after` with `T` in place of the space is accepted with the same answer";
    "POLL-5.1" "POLL-5" Must Normal ["poll", "concurrency"] concurrent_polling
        "Pollers following `after` get every message exactly once, in order, while several participants send at once";
    "POLL-6.1" "POLL-6" Must Normal ["poll"] read_your_writes
        "A message is returned by the first poll started after its send_message answered";
    "POLL-7.1" "POLL-7" Must Normal ["poll"] garbage_after
        "`after=garbage` answers a 4xx, not the history; an `after` beyond every message answers an empty list";
    "POLL-8.1" "POLL-8" Must Normal ["poll"] limit_exact
        "`limit` up to 100 is honoured exactly";
    "POLL-8.2" "POLL-8" Info Normal ["poll"] limit_cap
        "Above 100, `limit` is clamped to a cap of at least 100 or refused with a 4xx (which one, and the cap)";
    "POLL-9.1" "POLL-9" Must Normal ["poll"] creation_increases
        "Within a chat, creation strictly increases in storing order: no two messages share one";
    "READ-1.1" "READ-1" Must Normal ["read"] mark_read_direct
        "After B marks a Direct chat read, A's messages show is_read=1 to B and B's own are unchanged, as both see them (and the same with A and B swapped)";
    "READ-2.1" "READ-2" Should Normal ["read"] last_read_at
        "mark_as_read sets the caller's last_read_at in get_chat_participants, as both participants see it, and leaves the other's";
    "CHATS-1.1" "CHATS-1" Should Normal ["chats"] chats_order
        "get_chats orders by last_message_at descending, empty chats last; last_message(_at) match the newest message";
}

/// Sends `n` messages from `user`, returning what the server answered.
async fn send_n(
    cx: &Ctx,
    user: &User,
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

fn names(ms: &[Message]) -> Vec<String> {
    ms.iter().map(|m| m.name.clone()).collect()
}

/// The order problem of a list, if it is not strictly ascending by creation.
fn not_ascending(ms: &[Message]) -> Option<String> {
    ms.windows(2)
        .find(|w| w[0].creation >= w[1].creation)
        .map(|w| {
            format!(
                "{} ({}) comes before {} ({})",
                w[0].name, w[0].creation, w[1].name, w[1].creation
            )
        })
}

async fn content_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let long: String = "0123456789".repeat(1000);
    let cases: Vec<(&str, String)> = vec![
        ("Unicode", "héllo wörld — 你好 — Ωμέγα ✓".into()),
        ("emoji", "emoji 😀👍🏽🇫🇷 done".into()),
        ("quotes", r#"double " single ' back ` \ backslash"#.into()),
        (
            "SQL",
            "'; DROP TABLE tabMessage; -- 1=1 OR \"\"=\"\"".into(),
        ),
        ("URL metacharacters", "a+b&c=d%20e#f?g".into()),
        ("CR/LF/tab", "line1\r\nline2\nline3\ttabbed".into()),
        ("leading and trailing spaces", "   padded   ".into()),
        ("10,000 characters", long),
    ];
    let mut sent_names = BTreeMap::new();
    for (what, content) in &cases {
        let (m, ex) = cx
            .post(&cx.a, &chat, content)
            .await
            .step(&format!("sending {what}"))?;
        if m.content != *content || m.sender != cx.a.email {
            return Err(
                Verdict::fail(format!("send_message changed the {what} message"))
                    .expected(format!(
                        "sender {}, content {:?}",
                        cx.a.email,
                        excerpt(content)
                    ))
                    .seen(format!(
                        "sender {}, content {:?}",
                        m.sender,
                        excerpt(&m.content)
                    ))
                    .with(&ex),
            );
        }
        sent_names.insert(m.name.clone(), (*what, content.clone()));
    }
    let (msgs, ex) = cx
        .messages(&cx.b, &chat, None, Some(50))
        .await
        .step("reading back")?;
    for (name, (what, content)) in &sent_names {
        match msgs.iter().find(|m| &m.name == name) {
            Some(m) if &m.content == content => {}
            Some(m) => {
                return Err(Verdict::fail(format!(
                    "get_messages returns the {what} message changed"
                ))
                .expected(format!("{:?}", excerpt(content)))
                .seen(format!("{:?}", excerpt(&m.content)))
                .with(&ex))
            }
            None => {
                return Err(Verdict::fail(format!(
                    "the {what} message is missing from get_messages"
                ))
                .expected(format!("message {name}"))
                .seen(format!("{} messages", msgs.len()))
                .with(&ex))
            }
        }
    }
    Ok(Verdict::pass(format!(
        "{} contents came back byte for byte",
        cases.len()
    )))
}

fn excerpt(s: &str) -> String {
    if s.chars().count() > 60 {
        format!(
            "{}… ({} chars)",
            s.chars().take(60).collect::<String>(),
            s.chars().count()
        )
    } else {
        s.to_owned()
    }
}

async fn html_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let content = "<b>bold</b> & <script>alert('x')</script> 1 < 2 > 0";
    let (m, ex) = cx.post(&cx.a, &chat, content).await.step("sending")?;
    let (msgs, got) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading back")?;
    let stored = msgs
        .iter()
        .find(|x| x.name == m.name)
        .map(|x| x.content.clone());
    if m.content != content || stored.as_deref() != Some(content) {
        return Err(Verdict::fail("HTML-like content was changed")
            .expected(format!("{content:?}"))
            .seen(format!("answered {:?}, stored {:?}", m.content, stored))
            .with(&ex)
            .with(&got));
    }
    Ok(Verdict::pass("HTML-like content kept byte for byte"))
}

async fn empty_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let ex = cx
        .send(
            &Request::to(Endpoint::SendMessage)
                .token(&cx.a.creds)
                .param("chat", &chat)
                .param("content", ""),
        )
        .await?;
    let (msgs, got) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading back")?;
    if !(400..500).contains(&ex.status) || !msgs.is_empty() {
        return Err(Verdict::fail("empty content was not refused")
            .expected("a 4xx and nothing stored")
            .seen(format!("{}; {} messages stored", describe(&ex), msgs.len()))
            .with(&ex)
            .with(&got));
    }
    Ok(Verdict::pass(format!("refused with {}", ex.status)))
}

async fn ascending_limited(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn oldest_first_page(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn after_strict(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn creation_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn iso_after(cx: &Ctx) -> Result<Verdict, Verdict> {
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

/// One poller's view: message names in the order received.
struct PollLog {
    received: Vec<Message>,
    polls: usize,
}

/// Polls with `after` = the newest creation seen: back to back while the
/// senders run (a tie or a late insert shows up only to a poll that lands
/// in between), then until the chat is quiet. At most `budget` polls, well
/// under the get_messages limit.
#[allow(clippy::too_many_arguments)]
async fn poll_until(
    cx: &Ctx,
    user: &User,
    chat: &str,
    cursor: Option<String>,
    done: Arc<std::sync::atomic::AtomicBool>,
    want: usize,
    stop_at: Instant,
    budget: usize,
) -> Result<PollLog, Verdict> {
    let mut log = PollLog {
        received: Vec::new(),
        polls: 0,
    };
    let mut cursor = cursor;
    let mut quiet_after_done = 0;
    let reserve = 10;
    while Instant::now() < stop_at && log.polls < budget {
        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
        if !finished && log.polls + reserve >= budget {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        let page = match cx
            .send_unpaced(&messages_request(user, chat, cursor.as_deref(), Some(100)))
            .await
        {
            Ok(ex) if ex.is_success() => ex.decode::<Vec<Message>>().map_err(Verdict::from)?,
            // The pollers stay within half the get_messages limit: a refusal
            // is the suite's budget gone wrong, any other answer the server's.
            Ok(ex) if ex.refusal().is_some() => {
                return Err(
                    Verdict::error(format!("a poll was refused: {}", describe(&ex))).with(&ex),
                )
            }
            Ok(ex) => {
                return Err(Verdict::fail(format!(
                    "a participant's poll answered {}",
                    describe(&ex)
                ))
                .expected("2xx with the messages")
                .seen(describe(&ex))
                .with(&ex))
            }
            Err(e) => {
                return Err(Verdict::error(format!(
                    "a connection error voids this concurrency run: {e}"
                )))
            }
        };
        log.polls += 1;
        if let Some(last) = page.last() {
            cursor = Some(last.creation.as_str().to_owned());
        }
        let empty = page.is_empty();
        log.received.extend(page);
        if finished {
            if empty && (log.received.len() >= want || quiet_after_done >= 2) {
                break;
            }
            if empty {
                quiet_after_done += 1;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    Ok(log)
}

async fn concurrent_polling(cx: &Ctx) -> Result<Verdict, Verdict> {
    // The shared three in a chat of this check's own: their buckets are
    // paced by the ledger, so no fresh users (and no signups) are needed.
    let users = vec![cx.a.clone(), cx.b.clone(), cx.c.clone()];
    let others: Vec<&User> = users[1..].iter().collect();
    let chat = cx.group(&users[0], &others).await?;
    // A starting cursor the server gave: the creation of a first message.
    let (seed, _) = cx
        .post(&users[0], &chat, "seed")
        .await
        .step("sending the seed message")?;
    let per_sender = 12usize;
    let budget = cx
        .limit(Endpoint::GetMessages)
        .map(|l| (l as usize / 2).min(150))
        .unwrap_or(150)
        .max(20);
    // Room for the whole run first: a sender paced in the middle of it
    // (the shared users' quotas are spent by earlier checks) would outlast
    // the pollers and look like lost messages.
    for u in &users {
        for (endpoint, n) in [
            (Endpoint::SendMessage, per_sender as u32),
            (Endpoint::GetMessages, budget as u32),
        ] {
            if let Some(k) = BucketKey::of(&Request::to(endpoint).token(&u.creds), &cx.limits) {
                cx.wait_for_room(&k, n).await;
            }
        }
    }
    let total = per_sender * users.len();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_at = Instant::now() + cx.client.config().timeout * 3;
    let barrier = Arc::new(tokio::sync::Barrier::new(users.len()));
    let senders = users.iter().enumerate().map(|(i, u)| {
        let barrier = barrier.clone();
        let chat = chat.clone();
        async move {
            let mut sent = Vec::new();
            let mut failed: Option<Verdict> = None;
            for k in 0..per_sender {
                // Everyone sends in the same instant. A sender that failed
                // still meets the others at the barrier, so none waits
                // forever for it.
                barrier.wait().await;
                if failed.is_some() {
                    continue;
                }
                let req = send_request(&u.creds, &chat, format!("concurrent {i}.{k}"));
                // Paced: a quota the suite's own earlier checks spent is
                // waited out, not blamed on the server.
                match cx.send(&req).await {
                    Ok(ex) if ex.is_success() => {
                        match ex.decode::<crate::contract::wire::SentMessage>() {
                            Ok(m) => sent.push(m.name),
                            Err(e) => failed = Some(Verdict::from(e).context("a concurrent send")),
                        }
                    }
                    // Refusals were waited out by the pacing: what is left
                    // is an answer a participant's send must not get.
                    Ok(ex) => {
                        failed = Some(
                            Verdict::fail(format!("a concurrent send answered {}", describe(&ex)))
                                .expected("2xx with the stored message")
                                .seen(describe(&ex))
                                .with(&ex),
                        )
                    }
                    Err(v) => failed = Some(v.context("a concurrent send")),
                }
            }
            match failed {
                Some(v) => Err(v),
                None => Ok::<_, Verdict>(sent),
            }
        }
    });
    let pollers = users.iter().map(|u| {
        poll_until(
            cx,
            u,
            &chat,
            Some(seed.creation.as_str().to_owned()),
            done.clone(),
            total,
            stop_at,
            budget,
        )
    });
    let send_all = async {
        let r = futures::future::join_all(senders).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let (sent, logs) = tokio::join!(send_all, futures::future::join_all(pollers));
    let mut all_sent = BTreeSet::new();
    for r in sent {
        all_sent.extend(r?);
    }
    for (u, log) in users.iter().zip(logs) {
        let log = log?;
        let got = names(&log.received);
        let distinct: BTreeSet<&String> = got.iter().collect();
        if distinct.len() != got.len() {
            return Err(
                Verdict::fail(format!("{} received a message twice", u.email))
                    .expected("every message exactly once")
                    .seen(format!(
                        "{} deliveries of {} distinct messages",
                        got.len(),
                        distinct.len()
                    )),
            );
        }
        let missing: Vec<&String> = all_sent.iter().filter(|n| !distinct.contains(n)).collect();
        if !missing.is_empty() {
            return Err(Verdict::fail(format!(
                "{} never received {} of {} messages",
                u.email,
                missing.len(),
                total
            ))
            .expected("every message sent, via after= polling")
            .seen(format!("missing {missing:?} after {} polls", log.polls))
            .note(
                "a message became visible with a creation older than one a poller had already seen",
            ));
        }
        if let Some(p) = not_ascending(&log.received) {
            return Err(
                Verdict::fail(format!("{} received messages out of order", u.email))
                    .expected("ascending creation")
                    .seen(p),
            );
        }
    }
    Ok(Verdict::pass(format!(
        "{} senders × {per_sender} messages at once; {} pollers got each exactly once, in order",
        users.len(),
        users.len()
    )))
}

async fn read_your_writes(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let (first, _) = cx.post(&cx.a, &chat, "ryw start").await.step("sending")?;
    let mut cursor = first.creation.as_str().to_owned();
    for i in 0..5 {
        let (m, sent_ex) = cx
            .post(&cx.a, &chat, &format!("ryw {i}"))
            .await
            .step("sending")?;
        let (page, ex) = cx
            .messages(&cx.b, &chat, Some(&cursor), None)
            .await
            .step("polling")?;
        if !page.iter().any(|x| x.name == m.name) {
            return Err(Verdict::fail(
                "a message was not returned by the first poll after its send answered",
            )
            .expected(format!("message {} in the poll", m.name))
            .seen(format!("{:?}", names(&page)))
            .with(&sent_ex)
            .with(&ex));
        }
        if let Some(last) = page.last() {
            cursor = last.creation.as_str().to_owned();
        }
    }
    Ok(Verdict::pass("five sends, each visible to the next poll"))
}

async fn garbage_after(cx: &Ctx) -> Result<Verdict, Verdict> {
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

/// A chat holding 101 messages, built once per run and shared by POLL-8.
async fn big_chat(cx: &Ctx) -> Result<(String, User), Verdict> {
    cx.fixtures
        .big_chat
        .get_or_init(|| build_big_chat(cx))
        .await
        .clone()
}

async fn build_big_chat(cx: &Ctx) -> Result<(String, User), Verdict> {
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

async fn default_limit(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn limit_exact(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn limit_cap(cx: &Ctx) -> Result<Verdict, Verdict> {
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

async fn creation_increases(cx: &Ctx) -> Result<Verdict, Verdict> {
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

/// Each of this check's messages (`names`) with its `is_read` as `viewer`
/// sees it. Only messages after `after` are read: the chat may hold other
/// runs' messages.
async fn read_marks(
    cx: &Ctx,
    viewer: &User,
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
async fn mark_read(cx: &Ctx, user: &User, chat: &str) -> Result<Exchange, Verdict> {
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
    viewer: &User,
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
