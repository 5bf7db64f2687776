//! CORS: browsers on localhost (and the production origin) may call the API
//! with the token header; nobody else, and never `*`.

use crate::client::{Encoding, Exchange, Request};
use crate::contract::Endpoint;

use super::catalog::checks;
use super::context::{messages_request, Ctx};
use super::verdict::{describe, Verdict};

checks! {
    "CORS-1.1" "CORS-1" Must Normal ["cors"] preflight
        "A preflight from an allowed origin answers 2xx, echoes the origin, allows the authorization header and the method";
    "CORS-2.1" "CORS-2" Must Normal ["cors"] ordinary_echo
        "Ordinary answers to an allowed origin carry Access-Control-Allow-Origin with that origin";
    "CORS-2b.1" "CORS-2b" Should Normal ["cors"] errors_vary_expose
        "Error answers carry it too, with Vary: Origin, and Expose-Headers names the X-RateLimit headers";
    "CORS-3.1" "CORS-3" Must Normal ["cors"] unrelated_origin
        "An unrelated origin gets no Access-Control-Allow-Origin, and no answer ever carries `*`";
}

const EVIL: &str = "http://evil.example";

fn allowed_origins(cx: &Ctx) -> Vec<String> {
    let mut v = vec![
        "http://localhost:5173".to_owned(),
        "http://127.0.0.1:8080".to_owned(),
    ];
    v.extend(cx.production_origin.clone());
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

async fn ordinary_echo(cx: &Ctx) -> Result<Verdict, Verdict> {
    for origin in allowed_origins(cx) {
        let ex = cx
            .send(
                &Request::to(Endpoint::GetChats)
                    .token(&cx.a.creds)
                    .header("Origin", &origin),
            )
            .await?;
        if acao(&ex) != Some(origin.as_str()) {
            return Err(Verdict::fail(format!(
                "get_chats from {origin}: Access-Control-Allow-Origin is {:?}",
                acao(&ex)
            ))
            .expected(format!("{origin:?}"))
            .seen(format!("{:?}", acao(&ex)))
            .with(&ex));
        }
    }
    Ok(Verdict::pass("the origin was echoed"))
}

async fn errors_vary_expose(cx: &Ctx) -> Result<Verdict, Verdict> {
    let origin = "http://localhost:3000";
    let ok = cx
        .send(
            &Request::to(Endpoint::GetChats)
                .token(&cx.a.creds)
                .header("Origin", origin),
        )
        .await?;
    let expose = ok.header_list("access-control-expose-headers");
    let expose = expose.as_deref();
    for h in [
        "x-ratelimit-limit",
        "x-ratelimit-remaining",
        "x-ratelimit-reset",
    ] {
        if !list_has(expose, h) {
            return Err(Verdict::fail(format!("Access-Control-Expose-Headers does not name {h}"))
                .expected("the three X-RateLimit headers exposed (a browser client cannot read them otherwise)")
                .seen(format!("{expose:?}"))
                .with(&ok));
        }
    }
    let err = cx
        .send(&messages_request(&cx.a, &cx.unique("missing"), None, None).header("Origin", origin))
        .await?;
    if acao(&err) != Some(origin) {
        return Err(Verdict::fail(format!(
            "an error answer ({}) has no Access-Control-Allow-Origin",
            err.status
        ))
        .expected(format!("{origin:?}"))
        .seen(format!("{:?}", acao(&err)))
        .with(&err));
    }
    for ex in [&ok, &err] {
        let vary = ex.header_list("vary");
        let vary = vary.as_deref();
        if !list_has(vary, "origin") {
            return Err(
                Verdict::fail("no Vary: Origin on an answer that echoes the origin")
                    .expected("Vary naming Origin")
                    .seen(format!("{vary:?}"))
                    .with(ex),
            );
        }
    }
    Ok(Verdict::pass(
        "errors echo the origin, Vary: Origin, rate headers exposed",
    ))
}

async fn unrelated_origin(cx: &Ctx) -> Result<Verdict, Verdict> {
    let probes = [
        preflight_request(Endpoint::GetMessages, EVIL),
        Request::to(Endpoint::GetChats)
            .token(&cx.a.creds)
            .header("Origin", EVIL),
        Request::to(Endpoint::GetChats)
            .token(&cx.a.creds)
            .header("Origin", "http://localhost:5173"),
        Request::to(Endpoint::GetChats).token(&cx.a.creds),
    ];
    for (i, req) in probes.iter().enumerate() {
        let ex = cx.send(req).await?;
        let value = acao(&ex);
        // On any line: a second Access-Control-Allow-Origin line is no excuse.
        let star = ex
            .headers
            .get_all("access-control-allow-origin")
            .iter()
            .any(|v| v.as_bytes().trim_ascii() == b"*");
        if star {
            return Err(
                Verdict::fail("an answer carries Access-Control-Allow-Origin: *")
                    .expected("never `*`: the API takes credentials")
                    .seen("*")
                    .with(&ex),
            );
        }
        if i < 2 && value.is_some() {
            return Err(
                Verdict::fail(format!("the unrelated origin {EVIL} was allowed"))
                    .expected("no Access-Control-Allow-Origin")
                    .seen(format!("{value:?}"))
                    .with(&ex),
            );
        }
    }
    Ok(Verdict::pass(
        "the unrelated origin got nothing, and no `*`",
    ))
}
