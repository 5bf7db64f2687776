//! CORS-3: origins that only resemble an allowed one get no
//! Access-Control-Allow-Origin, and no answer ever carries `*`.

use crate::check::context::Ctx;
use crate::check::verdict::Verdict;
use crate::client::Request;
use crate::contract::Endpoint;

use super::origins::{acao, chat_request, has_star, preflight_request, resembling_origins};

pub(super) async fn unrelated_origin(cx: &Ctx) -> Result<Verdict, Verdict> {
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
