//! CORS-1, CORS-2 and CORS-2b: what an allowed origin gets. Preflights
//! allow the token header and the method; successful answers echo the
//! origin; so do errors and rate-limit refusals, with Vary: Origin and the
//! X-RateLimit headers exposed.

use std::time::Instant;

use crate::check::context::{messages_request, send_request, Ctx};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Credentials, Exchange, Request};
use crate::contract::Endpoint;

use super::origins::{acao, allowed_origins, chat_request, list_has, preflight_request};

/// The origin the CORS-2b checks send.
const DEV_ORIGIN: &str = "http://localhost:3000";

const RATE_HEADERS: [&str; 3] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

pub(super) async fn preflight(cx: &Ctx) -> Result<Verdict, Verdict> {
    for origin in allowed_origins(cx) {
        for endpoint in [Endpoint::GetMessages, Endpoint::SendMessage] {
            let ex = cx.send(&preflight_request(endpoint, &origin)).await?;
            let what = format!("a preflight for {endpoint} from {origin}");
            let fail = |m: String, e: String| {
                Err(Verdict::fail(format!("{what}: {m}"))
                    .expected(e)
                    .seen(describe(&ex))
                    .with(&ex))
            };
            if !ex.is_success() {
                return fail("not a 2xx".into(), "a 2xx".into());
            }
            if acao(&ex) != Some(origin.as_str()) {
                return fail(
                    format!("Access-Control-Allow-Origin is {:?}", acao(&ex)),
                    format!("{origin:?}"),
                );
            }
            let allow_headers = ex.header_list("access-control-allow-headers");
            let allow_headers = allow_headers.as_deref();
            if !list_has(allow_headers, "authorization") {
                return fail(
                    format!("Access-Control-Allow-Headers is {allow_headers:?}"),
                    "a list naming authorization (`*` does not cover it)".into(),
                );
            }
            if let Some(methods) = ex.header_list("access-control-allow-methods") {
                let methods = methods.as_str();
                if !list_has(Some(methods), endpoint.method().as_str()) && methods.trim() != "*" {
                    return fail(
                        format!("Access-Control-Allow-Methods is {methods:?}"),
                        format!("a list including {}", endpoint.method().as_str()),
                    );
                }
            }
        }
    }
    Ok(Verdict::pass(format!(
        "preflights from {} origins allowed",
        allowed_origins(cx).len()
    )))
}

/// An answer that must be a 2xx to be judged (CORS-2 is about successes;
/// another answer is another clause's business).
pub(super) async fn send_ok(cx: &Ctx, req: &Request, what: &str) -> Result<Exchange, Verdict> {
    let ex = cx.send(req).await?;
    if !ex.is_success() {
        return Err(Verdict::error(format!(
            "{what} answered {}: nothing to judge CORS-2 on",
            describe(&ex)
        ))
        .with(&ex));
    }
    Ok(ex)
}

pub(super) async fn ordinary_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
    let mut judged = 0;
    for origin in allowed_origins(cx) {
        let o = |r: Request| r.header("Origin", &origin);
        // POST first: the chat the other requests use is created with the origin.
        let created = send_ok(
            cx,
            &o(Request::to(Endpoint::CreateChat)
                .token(&cx.a.creds)
                .param("chat_name", cx.unique("cors"))
                .param("participants", serde_json::json!([cx.b.email]).to_string())
                .param("chat_type", "Group")),
            "create_chat",
        )
        .await?;
        let chat: String = created
            .decode()
            .map_err(Verdict::from)
            .step("create_chat")?;
        let probes = [
            ("create_chat (POST)", None),
            (
                "send_message (POST)",
                Some(o(send_request(&cx.a.creds, &chat, "cors"))),
            ),
            (
                "mark_as_read (POST)",
                Some(o(chat_request(Endpoint::MarkAsRead, &cx.b, &chat))),
            ),
            (
                "get_chats (GET)",
                Some(o(Request::to(Endpoint::GetChats).token(&cx.a.creds))),
            ),
            (
                "get_messages (GET)",
                Some(o(messages_request(&cx.a, &chat, None, None))),
            ),
            (
                "get_chat_participants (GET)",
                Some(o(chat_request(Endpoint::GetChatParticipants, &cx.a, &chat))),
            ),
            (
                "get_users (GET)",
                Some(o(Request::to(Endpoint::GetUsers).token(&cx.a.creds))),
            ),
        ];
        for (what, req) in probes {
            let ex = match req {
                None => created.clone(),
                Some(req) => send_ok(cx, &req, what).await?,
            };
            judged += 1;
            if acao(&ex) != Some(origin.as_str()) {
                return Err(Verdict::fail(format!(
                    "{what} from {origin}: Access-Control-Allow-Origin is {:?}",
                    acao(&ex)
                ))
                .expected(format!("{origin:?}"))
                .seen(format!("{:?}", acao(&ex)))
                .with(&ex));
            }
        }
    }
    Ok(Verdict::pass(format!(
        "the origin was echoed on {judged} successful GET and POST answers"
    )))
}

/// What CORS-2b asks of an answer to `origin`: the origin echoed, `Vary`
/// naming Origin, `Access-Control-Expose-Headers` naming the X-RateLimit
/// headers. Lists are read over all their lines.
pub(super) fn cors_2b_problem(ex: &Exchange, origin: &str, what: &str) -> Option<Verdict> {
    if acao(ex) != Some(origin) {
        return Some(
            Verdict::fail(format!(
                "{what} ({}) has no Access-Control-Allow-Origin for {origin}",
                ex.status
            ))
            .expected(format!("{origin:?}"))
            .seen(format!("{:?}", acao(ex)))
            .with(ex),
        );
    }
    let vary = ex.header_list("vary");
    if !list_has(vary.as_deref(), "origin") {
        return Some(
            Verdict::fail(format!(
                "{what} ({}) echoes the origin without Vary: Origin",
                ex.status
            ))
            .expected("Vary naming Origin")
            .seen(format!("{vary:?}"))
            .with(ex),
        );
    }
    let expose = ex.header_list("access-control-expose-headers");
    if let Some(h) = RATE_HEADERS
        .iter()
        .find(|h| !list_has(expose.as_deref(), h))
    {
        return Some(
            Verdict::fail(format!(
                "{what} ({}): Access-Control-Expose-Headers does not name {h}",
                ex.status
            ))
            .expected("the three X-RateLimit headers exposed (a browser client cannot read them otherwise)")
            .seen(format!("{expose:?}"))
            .with(ex),
        );
    }
    None
}

pub(super) async fn errors_vary_expose(cx: &Ctx) -> Result<Verdict, Verdict> {
    let origin = DEV_ORIGIN;
    let ok = send_ok(
        cx,
        &Request::to(Endpoint::GetChats)
            .token(&cx.a.creds)
            .header("Origin", origin),
        "get_chats",
    )
    .await?;
    if let Some(v) = cors_2b_problem(&ok, origin, "get_chats (a success)") {
        return Err(v);
    }
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let missing = cx.unique("missing");
    let wrong = Credentials::new(cx.a.creds.api_key.clone(), "not-the-secret");
    let probes = [
        (
            "get_messages on a missing chat",
            messages_request(&cx.a, &missing, None, None),
        ),
        (
            "get_messages by a non-participant",
            messages_request(&cx.c, &chat, None, None),
        ),
        (
            "get_messages with after=garbage",
            messages_request(&cx.a, &chat, Some("garbage"), None),
        ),
        (
            "get_chats with a wrong secret",
            Request::to(Endpoint::GetChats).token(&wrong),
        ),
        (
            "send_message to a missing chat",
            send_request(&cx.a.creds, &missing, "cors"),
        ),
        (
            "send_message by a non-participant",
            send_request(&cx.c.creds, &chat, "cors"),
        ),
        (
            "send_message without content",
            chat_request(Endpoint::SendMessage, &cx.a, &chat),
        ),
        (
            "send_message with a wrong secret",
            send_request(&wrong, &chat, "cors"),
        ),
    ];
    let mut judged = Vec::new();
    let mut notes = Vec::new();
    for (what, req) in probes {
        let ex = cx.send(&req.header("Origin", origin)).await?;
        if !(400..500).contains(&ex.status) {
            notes.push(format!(
                "{what} answered {}: not a 4xx, not judged here",
                describe(&ex)
            ));
            continue;
        }
        if let Some(v) = cors_2b_problem(&ex, origin, what) {
            return Err(v.notes(notes));
        }
        judged.push(ex.status);
    }
    if judged.is_empty() {
        return Err(
            Verdict::error("no request meant to fail answered a 4xx: nothing to judge")
                .notes(notes),
        );
    }
    judged.sort_unstable();
    judged.dedup();
    let statuses: Vec<String> = judged.iter().map(u16::to_string).collect();
    Ok(Verdict::pass(format!(
        "4xx answers ({}) of GET and POST echo the origin, Vary: Origin, rate headers exposed",
        statuses.join(", ")
    ))
    .notes(notes))
}

/// Requests of `req` (unpaced, charged to the ledger) until one is refused:
/// one first (a bucket still spent refuses at once), then `limit` in a
/// burst, then one at a time, at most three more.
pub(super) async fn drive_to_refusal(
    cx: &Ctx,
    req: &Request,
    limit: u32,
) -> Result<Exchange, Verdict> {
    use futures::StreamExt;
    let started = Instant::now();
    let first = cx.send_unpaced(req).await.step("spending a bucket")?;
    if first.refusal().is_some() {
        return Ok(first);
    }
    let answers: Vec<_> = futures::stream::iter(0..limit)
        .map(|_| cx.send_unpaced(req))
        .buffered(cx.burst_width(limit))
        .collect()
        .await;
    for a in answers {
        let ex = a.step("spending a bucket")?;
        if ex.refusal().is_some() {
            return Ok(ex);
        }
    }
    for _ in 0..3 {
        let ex = cx.send_unpaced(req).await.step("spending a bucket")?;
        if ex.refusal().is_some() {
            return Ok(ex);
        }
    }
    Err(Verdict::error(format!(
        "{} requests in {:.1} s were never refused: no refusal to judge (RL-4 judges the limiter)",
        limit + 4,
        started.elapsed().as_secs_f64()
    )))
}

pub(super) async fn refusal_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (Some(get_limit), Some(post_limit)) = (
        cx.limit(Endpoint::GetChats),
        cx.limit(Endpoint::SendMessage),
    ) else {
        return Err(Verdict::skip(
            "the limits file sets no limit for get_chats or send_message",
        ));
    };
    // The rate-limit checks' spent user, when they ran: no fresh user, and
    // its get_chats bucket may still be spent. Its send_message bucket is
    // its own: nothing else sends as that user.
    let (user, whose) = match cx.fixtures.exhausted.get() {
        Some(Ok(x)) => (x.user.clone(), "the rate-limit checks' spent user"),
        _ => (
            cx.fresh_user(false)
                .await
                .map_err(|v| v.note("spending a bucket needs a user of its own"))?,
            "a fresh user",
        ),
    };
    // A chat to send to, created by the outsider (or b, when the spent user
    // is c, lent under --no-signup): the sweep spent the user's create_chat
    // bucket too, and waiting a window for it would prove nothing.
    let owner = if user.email == cx.c.email {
        &cx.b
    } else {
        &cx.c
    };
    let chat = cx.group(owner, &[&user]).await?;
    let probes = [
        (
            "a refusal of get_chats (GET)",
            Request::to(Endpoint::GetChats).token(&user.creds),
            get_limit,
        ),
        (
            "a refusal of send_message (POST)",
            send_request(&user.creds, &chat, "spending a bucket"),
            post_limit,
        ),
    ];
    let mut seen = Vec::new();
    for (what, req, limit) in probes {
        let refusal = drive_to_refusal(cx, &req.header("Origin", DEV_ORIGIN), limit)
            .await
            .step(what)?;
        if let Some(v) = cors_2b_problem(&refusal, DEV_ORIGIN, what) {
            return Err(v.note(format!("refused: {whose}")));
        }
        seen.push(format!("{what}: HTTP {}", refusal.status));
    }
    Ok(Verdict::pass(format!(
        "refusals echo the origin, Vary: Origin, rate headers exposed ({}; {whose})",
        seen.join(", ")
    )))
}
