//! CORS: browsers on localhost (and the production origin) may call the API
//! with the token header; nobody else, and never `*`.

use std::time::Instant;

use crate::client::{Credentials, Encoding, Exchange, Request};
use crate::contract::Endpoint;

use super::context::{messages_request, send_request, Ctx, User};
use super::definition::checks;
use super::verdict::{describe, Step, Verdict};

checks! {
    "CORS-1.1" "CORS-1" Must Normal ["cors"] preflight
        "A preflight from an allowed origin answers 2xx, echoes the origin, allows the authorization header and the method";
    "CORS-2.1" "CORS-2" Must Normal ["cors"] ordinary_echo
        "Successful answers of GET and POST endpoints to an allowed origin carry Access-Control-Allow-Origin with that origin";
    "CORS-2b.1" "CORS-2b" Should Normal ["cors"] errors_vary_expose
        "4xx answers (401, 403, 404, 417) of GET and POST endpoints carry it too, with Vary: Origin, and Expose-Headers names the X-RateLimit headers";
    "CORS-2b.2" "CORS-2b" Should Exhausting ["cors"] refusal_echo
        "Rate-limit refusals (GET and POST) to an allowed origin carry it too, with Vary: Origin and the X-RateLimit headers exposed";
    "CORS-3.1" "CORS-3" Must Normal ["cors"] unrelated_origin
        "Origins that only resemble an allowed one get no Access-Control-Allow-Origin (preflights, GET and POST), and no answer ever carries `*`";
}

const EVIL: &str = "http://evil.example";

/// The origin the CORS-2b checks send.
const DEV_ORIGIN: &str = "http://localhost:3000";

const RATE_HEADERS: [&str; 3] = [
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
];

fn allowed_origins(cx: &Ctx) -> Vec<String> {
    let mut v = vec![
        "http://localhost:5173".to_owned(),
        "http://127.0.0.1:8080".to_owned(),
    ];
    v.extend(cx.production_origin.clone());
    v
}

/// Whether the contract allows `origin`: `http://localhost` or
/// `http://127.0.0.1` with any port (or none), or the production origin.
fn contract_allows(origin: &str, production: Option<&str>) -> bool {
    let dev = ["http://localhost", "http://127.0.0.1"].iter().any(|host| {
        origin.strip_prefix(host).is_some_and(|rest| {
            rest.is_empty()
                || rest.strip_prefix(':').is_some_and(|port| {
                    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                })
        })
    });
    dev || production.is_some_and(|p| {
        p.trim_end_matches('/')
            .eq_ignore_ascii_case(origin.trim_end_matches('/'))
    })
}

/// Origins that only resemble an allowed one: what a prefix, suffix or
/// scheme-blind comparison lets through, and `null`. Left out on purpose:
/// other hosts under `localhost` (`http://evil.localhost:8000`) and other
/// schemes or ports of loopback, which a browser only reaches on the
/// user's own machine (a server may treat them as local), and other ports
/// of the production host (the same host, run by the same people).
fn resembling_origins(production: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = [
        EVIL,
        "http://localhost.evil.example",
        "http://localhost:3000.evil.example",
        "http://localhostx:3000",
        "http://127.0.0.1.evil.example",
        "http://127.0.0.1:8080.evil.example",
        "null",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    if let Some(p) = production.map(|p| p.trim_end_matches('/')) {
        v.push(format!("{p}.evil.example"));
        if let Some((scheme, host)) = p.split_once("://") {
            v.push(format!("{scheme}://evil{host}"));
            if scheme.eq_ignore_ascii_case("https") {
                v.push(format!("http://{host}"));
            }
        }
    }
    v.retain(|o| !contract_allows(o, production));
    v
}

fn preflight_request(endpoint: Endpoint, origin: &str) -> Request {
    Request::to(endpoint)
        .method(http::Method::OPTIONS, Encoding::Query)
        .header("Origin", origin)
        .header("Access-Control-Request-Method", endpoint.method().as_str())
        .header("Access-Control-Request-Headers", "authorization")
}

fn acao(ex: &Exchange) -> Option<&str> {
    ex.header("access-control-allow-origin")
}

/// Whether a list-valued header names `item`; `value` is the field with all
/// its lines combined ([`Exchange::header_list`]): a list may be split over
/// several lines (RFC 9110 5.3).
fn list_has(value: Option<&str>, item: &str) -> bool {
    value.is_some_and(|v| v.split(',').any(|x| x.trim().eq_ignore_ascii_case(item)))
}

async fn preflight(cx: &Ctx) -> Result<Verdict, Verdict> {
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
async fn send_ok(cx: &Ctx, req: &Request, what: &str) -> Result<Exchange, Verdict> {
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

fn chat_request(endpoint: Endpoint, user: &User, chat: &str) -> Request {
    Request::to(endpoint).token(&user.creds).param("chat", chat)
}

async fn ordinary_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
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
fn cors_2b_problem(ex: &Exchange, origin: &str, what: &str) -> Option<Verdict> {
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

async fn errors_vary_expose(cx: &Ctx) -> Result<Verdict, Verdict> {
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
async fn drive_to_refusal(cx: &Ctx, req: &Request, limit: u32) -> Result<Exchange, Verdict> {
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

async fn refusal_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
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

fn has_star(ex: &Exchange) -> bool {
    // On any line: a second Access-Control-Allow-Origin line is no excuse.
    ex.headers
        .get_all("access-control-allow-origin")
        .iter()
        .any(|v| v.as_bytes().trim_ascii() == b"*")
}

async fn unrelated_origin(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let origins = resembling_origins(cx.production_origin.as_deref());
    let mut probes: Vec<(String, Option<String>, Request)> = Vec::new();
    for origin in &origins {
        let o = |r: Request| r.header("Origin", origin);
        probes.push((
            format!("a GET preflight from {origin}"),
            Some(origin.clone()),
            preflight_request(Endpoint::GetMessages, origin),
        ));
        probes.push((
            format!("a POST preflight from {origin}"),
            Some(origin.clone()),
            preflight_request(Endpoint::SendMessage, origin),
        ));
        probes.push((
            format!("get_chats from {origin}"),
            Some(origin.clone()),
            o(Request::to(Endpoint::GetChats).token(&cx.a.creds)),
        ));
        probes.push((
            format!("mark_as_read (POST) from {origin}"),
            Some(origin.clone()),
            o(chat_request(Endpoint::MarkAsRead, &cx.a, &chat)),
        ));
    }
    // Allowed and absent origins: judged for `*` only.
    probes.push((
        "get_chats from http://localhost:5173".into(),
        None,
        Request::to(Endpoint::GetChats)
            .token(&cx.a.creds)
            .header("Origin", "http://localhost:5173"),
    ));
    probes.push((
        "get_chats without Origin".into(),
        None,
        Request::to(Endpoint::GetChats).token(&cx.a.creds),
    ));
    let n = probes.len();
    for (what, unrelated, req) in probes {
        let ex = cx.send(&req).await?;
        if has_star(&ex) {
            return Err(Verdict::fail(format!(
                "{what}: the answer carries Access-Control-Allow-Origin: *"
            ))
            .expected("never `*`: the API takes credentials")
            .seen("*")
            .with(&ex));
        }
        if let (Some(origin), Some(value)) = (unrelated, acao(&ex)) {
            return Err(Verdict::fail(format!(
                "{what}: {origin} is not an allowed origin, yet it was echoed"
            ))
            .expected("no Access-Control-Allow-Origin")
            .seen(format!("{value:?}"))
            .with(&ex));
        }
    }
    Ok(Verdict::pass(format!(
        "{} look-alike origins got nothing over {n} answers, and no `*`",
        origins.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alikes_are_never_allowed_and_include_the_production_tricks() {
        let prod = Some("https://chat.example.com");
        let all = resembling_origins(prod);
        for o in &all {
            assert!(!contract_allows(o, prod), "{o}");
        }
        for o in [
            "http://localhost.evil.example",
            "null",
            "https://chat.example.com.evil.example",
            "https://evilchat.example.com",
            "http://chat.example.com",
        ] {
            assert!(all.iter().any(|x| x == o), "{o} missing from {all:?}");
        }
        // An http production origin has no downgrade to try.
        assert!(!resembling_origins(Some("http://chat.example.com"))
            .iter()
            .any(|o| o == "http://chat.example.com"));
        // A production origin on loopback allows its other scheme's twin
        // only when the dev rule does.
        let local = Some("https://127.0.0.1:9443");
        assert!(!resembling_origins(local)
            .iter()
            .any(|o| o == "http://127.0.0.1:9443"));
    }

    #[test]
    fn the_contract_allows_loopback_with_any_port_and_the_production_origin() {
        let prod = Some("https://chat.example.com/");
        for o in [
            "http://localhost",
            "http://localhost:5173",
            "http://127.0.0.1:8080",
            "https://chat.example.com",
        ] {
            assert!(contract_allows(o, prod), "{o}");
        }
        for o in [
            "http://localhost:",
            "http://localhost:80x",
            "https://localhost:8000",
            "http://localhostx",
            "http://evil.example",
            "null",
        ] {
            assert!(!contract_allows(o, prod), "{o}");
        }
    }
}
