//! POLL-5 and POLL-6: polling while others send. Pollers following `after`
//! get every message exactly once, in order, while several participants send
//! at once; a message is in the first poll started after its send answered.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::check::budget::BucketKey;
use crate::check::context::{messages_request, send_request, Ctx, SignedIn};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::Request;
use crate::contract::wire::Message;
use crate::contract::Endpoint;

use super::order::{names, not_ascending};

/// One poller's view: message names in the order received.
pub(super) struct PollLog {
    received: Vec<Message>,
    polls: usize,
}

/// Polls with `after` = the newest creation seen: back to back while the
/// senders run (a tie or a late insert shows up only to a poll that lands
/// in between), then until the chat is quiet. At most `budget` polls, well
/// under the get_messages limit.
#[allow(clippy::too_many_arguments)]
pub(super) async fn poll_until(
    cx: &Ctx,
    user: &SignedIn,
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

pub(super) async fn concurrent_polling(cx: &Ctx) -> Result<Verdict, Verdict> {
    // The shared three in a chat of this check's own: their buckets are
    // paced by the ledger, so no fresh users (and no signups) are needed.
    let users = vec![cx.a.clone(), cx.b.clone(), cx.c.clone()];
    let others: Vec<&SignedIn> = users[1..].iter().collect();
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

pub(super) async fn read_your_writes(cx: &Ctx) -> Result<Verdict, Verdict> {
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
