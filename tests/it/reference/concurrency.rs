//! Concurrency: atomic counting (RL-8) and no lost or tied messages under
//! concurrent senders (POLL-5, POLL-9). Bounded in count; no timing asserted.

use chat_harness::client::Request;
use chat_harness::contract::Endpoint;
use chat_harness::reference::ServerConfig;
use futures::future::join_all;

use super::{on_both_fronts, Front, ALICE, BOB, CAROL, H};

on_both_fronts!(rl_8_exactly_limit_accepted, poll_5_concurrent_senders);

async fn rl_8_exactly_limit_accepted(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::GetChats, 10),
    )
    .await;
    let a = h.creds(ALICE);
    let req = Request::to(Endpoint::GetChats).token(&a);
    let answers = join_all((0..40).map(|_| h.client.send(&req))).await;
    let statuses: Vec<u16> = answers
        .into_iter()
        .map(|r| r.expect("transport").status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 30);
}

async fn poll_5_concurrent_senders(front: Front) {
    let cfg = ServerConfig::default()
        .with_limit(Endpoint::SendMessage, 10_000)
        .with_limit(Endpoint::GetMessages, 100_000);
    let h = H::start(front, cfg).await;
    let senders = [h.creds(ALICE), h.creds(BOB), h.creds(CAROL)];
    let chat = h
        .client
        .create_chat(&senders[0], "g", &[BOB, CAROL], "Group")
        .await
        .unwrap()
        .value;
    const PER_SENDER: usize = 30;
    let done = std::sync::atomic::AtomicBool::new(false);
    let send_all = async {
        join_all(senders.iter().enumerate().map(|(i, c)| {
            let (h, chat) = (&h, &chat);
            async move {
                for n in 0..PER_SENDER {
                    let ex = h.say(c, chat, &format!("{i}-{n}")).await;
                    assert_eq!(ex.status, 200);
                }
            }
        }))
        .await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let poller = h.creds(ALICE);
    let poll = async {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        // Bounded: stops at the first empty poll after the senders finished.
        for _ in 0..100_000 {
            let finished = done.load(std::sync::atomic::Ordering::SeqCst);
            let got = h
                .client
                .get_messages(&poller, &chat, after.as_deref(), Some(100))
                .await
                .unwrap()
                .value;
            if let Some(last) = got.last() {
                after = Some(last.creation.as_str().to_owned());
            }
            let empty = got.is_empty();
            seen.extend(got);
            if finished && empty {
                break;
            }
            tokio::task::yield_now().await;
        }
        seen
    };
    let ((), seen) = tokio::join!(send_all, poll);
    let mut names: Vec<_> = seen.iter().map(|m| m.name.clone()).collect();
    assert_eq!(names.len(), 3 * PER_SENDER, "every message exactly once");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3 * PER_SENDER, "no duplicates");
    assert!(
        seen.windows(2).all(|w| w[0].creation < w[1].creation),
        "strictly increasing"
    );
    for i in 0..3 {
        let own: Vec<_> = seen
            .iter()
            .filter(|m| m.content.starts_with(&format!("{i}-")))
            .collect();
        let order: Vec<_> = own.iter().map(|m| m.content.clone()).collect();
        let want: Vec<_> = (0..PER_SENDER).map(|n| format!("{i}-{n}")).collect();
        assert_eq!(order, want, "each sender's messages in its order");
    }
}
