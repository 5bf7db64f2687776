//! What several RL checks share: the limited user endpoints, the chat
//! partner, bursts sized by the measured round trip, and one verdict that
//! names every failing endpoint.

use std::time::Instant;

use crate::check::context::{Ctx, SignedIn};
use crate::check::verdict::{StepContext, Verdict};
use crate::client::{Exchange, Request};
use crate::contract::Endpoint;

/// The four user-keyed endpoints of the table, each spent by the sweep.
pub(super) const USER_ENDPOINTS: [Endpoint; 4] = [
    Endpoint::GetChats,
    Endpoint::CreateChat,
    Endpoint::GetMessages,
    Endpoint::SendMessage,
];

/// The endpoint the per-user checks spend: get_chats (cheap, no side effect).
pub(super) fn read_endpoint(cx: &Ctx) -> Result<(Endpoint, u32), Verdict> {
    cx.limit(Endpoint::GetChats)
        .map(|l| (Endpoint::GetChats, l))
        .ok_or_else(|| Verdict::skip("the limits file sets no limit for get_chats"))
}

pub(super) fn own_user_or_skip<T>(r: Result<T, Verdict>) -> Result<T, Verdict> {
    r.map_err(|v| v.note("rate-limit checks that spend a bucket need users of their own"))
}

/// A bucket that was not spent within one window tells nothing: the first
/// requests aged out before the last were sent.
pub(super) fn too_slow_to_spend(cx: &Ctx, n: u32, started: Instant) -> Verdict {
    Verdict::error(format!(
        "too slow to judge: {n} requests took {:.1} s, longer than the {} s window (round trip {:.0} ms)",
        started.elapsed().as_secs_f64(),
        cx.window_secs,
        cx.rtt().as_secs_f64() * 1e3
    ))
}

/// Sends `n` requests built by `make`, as many at once as the measured round
/// trip needs to finish them within an eighth of the window (at least 8, see
/// [`Ctx::burst_width`]): a server answering in half a second still sees a
/// whole bucket spent well inside one window. The answers in the order the
/// requests were built.
pub(super) async fn burst(
    cx: &Ctx,
    n: u32,
    make: impl Fn(u32) -> Request,
) -> Result<Vec<Exchange>, Verdict> {
    burst_of(cx, n, cx.burst_width(n), make).await
}

/// As [`burst`], with `width` requests in flight.
pub(super) async fn burst_of(
    cx: &Ctx,
    n: u32,
    width: usize,
    make: impl Fn(u32) -> Request,
) -> Result<Vec<Exchange>, Verdict> {
    use futures::StreamExt;
    let reqs: Vec<Request> = (0..n).map(make).collect();
    let answers: Vec<Result<Exchange, crate::client::ClientError>> = futures::stream::iter(reqs)
        .map(|r| async move { cx.send_unpaced(&r).await })
        .buffered(width.max(1))
        .collect()
        .await;
    answers
        .into_iter()
        .map(|r| r.step("spending a bucket"))
        .collect()
}

/// The user endpoints the limits file limits, with their limits.
pub(super) fn limited_user_endpoints(cx: &Ctx) -> Result<Vec<(Endpoint, u32)>, Verdict> {
    let plan: Vec<(Endpoint, u32)> = USER_ENDPOINTS
        .iter()
        .filter_map(|e| cx.limit(*e).map(|l| (*e, l)))
        .collect();
    if plan.is_empty() {
        return Err(Verdict::skip(
            "the limits file sets no limit for get_chats, create_chat, get_messages or send_message",
        ));
    }
    Ok(plan)
}

/// A shared user who is not `user`: b, or c when `user` is b (under
/// --no-signup the check's own user is one of the shared three, lent).
pub(super) fn partner(cx: &Ctx, user: &SignedIn) -> SignedIn {
    if user.email == cx.b.email {
        cx.c.clone()
    } else {
        cx.b.clone()
    }
}

/// One `fail` naming each failing endpoint: messages, expected and seen
/// values and notes prefixed by their endpoint, the evidence of all.
pub(super) fn merge_fails(fails: &[(Endpoint, Verdict)]) -> Verdict {
    let joined = |f: &dyn Fn(&Verdict) -> Option<String>| -> Option<String> {
        let parts: Vec<String> = fails
            .iter()
            .filter_map(|(e, v)| f(v).map(|t| format!("{e}: {t}")))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    };
    let mut v = Verdict::fail(
        fails
            .iter()
            .map(|(e, v)| format!("{e}: {}", v.message))
            .collect::<Vec<_>>()
            .join("; "),
    );
    v.expected = joined(&|v| v.expected.clone());
    v.seen = joined(&|v| v.seen.clone());
    for (e, f) in fails {
        v.notes.extend(f.notes.iter().map(|n| format!("{e}: {n}")));
        v = v.with_all(&f.evidence);
    }
    v
}
