//! insta snapshots of representative answers: bodies and the headers that
//! matter, with dates, timestamps, keys and secrets redacted.

use chat_harness::client::{Encoding, Exchange, Request};
use chat_harness::contract::Endpoint;
use chat_harness::reference::ServerConfig;
use http::Method;
use serde_json::{json, Value};

use super::{ALICE, BOB, H};

/// Status, the headers a client looks at, and the body with volatile values
/// replaced.
fn shape(ex: &Exchange) -> Value {
    let mut headers: Vec<(String, String)> = ex
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "content-length"))
        .map(|(k, v)| {
            let v = match k.as_str() {
                // Seconds until capacity returns: 60 unless the machine stalls.
                "x-ratelimit-reset" | "retry-after" => "[seconds]",
                _ => v.to_str().unwrap_or("?"),
            };
            (k.to_string(), v.to_owned())
        })
        .collect();
    headers.sort();
    let mut body = ex.json().unwrap_or(Value::Null);
    redact(&mut body);
    json!({ "status": ex.status, "headers": headers, "body": body })
}

fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                match k.as_str() {
                    "api_key" | "api_secret" => *val = json!("[token]"),
                    "creation" | "joined_at" | "last_read_at" | "last_message_at"
                        if val.is_string() =>
                    {
                        *val = json!("[timestamp]")
                    }
                    _ => redact(val),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn representative_answers() {
    let h = H::hyper(ServerConfig::default().with_limit(Endpoint::SendMessage, 2)).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let login = h.send(Request::login(ALICE, "Passw0rd!")).await;
    insta::assert_json_snapshot!("login", shape(&login));
    let chat = h.direct(&a, BOB).await;
    h.say(&a, &chat, "hello").await;
    let sent = h.say(&b, &chat, "hi alice 👋").await;
    insta::assert_json_snapshot!("send_message", shape(&sent));
    h.client.mark_as_read(&b, &chat).await.unwrap();
    let messages = h
        .send(
            Request::to(Endpoint::GetMessages)
                .token(&a)
                .param("chat", &chat)
                .header("Origin", "http://localhost:3000"),
        )
        .await;
    insta::assert_json_snapshot!("get_messages", shape(&messages));
    let chats = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
    insta::assert_json_snapshot!("get_chats", shape(&chats));
    let parts = h
        .send(
            Request::to(Endpoint::GetChatParticipants)
                .token(&a)
                .param("chat", &chat),
        )
        .await;
    insta::assert_json_snapshot!("get_chat_participants", shape(&parts));
    let preflight = h
        .send(
            Request::to(Endpoint::GetMessages)
                .method(Method::OPTIONS, Encoding::Query)
                .header("Origin", "http://localhost:3000")
                .header("Access-Control-Request-Method", "GET"),
        )
        .await;
    insta::assert_json_snapshot!("preflight", shape(&preflight));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_envelopes() {
    let h = H::hyper(ServerConfig::default().with_limit(Endpoint::SendMessage, 1)).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let other = h.direct(&h.creds(BOB), "carol@example.com").await;
    let cases = [
        ("no_token", h.send(Request::to(Endpoint::GetChats)).await),
        (
            "wrong_password",
            h.send(Request::login(ALICE, "nope")).await,
        ),
        ("not_participant", h.messages(&a, &other, &[]).await),
        ("missing_chat", h.messages(&a, "CHAT-99999", &[]).await),
        (
            "bad_limit",
            h.messages(&a, &chat, &[("limit", "abc")]).await,
        ),
        (
            "missing_param",
            h.send(Request::to(Endpoint::GetMessages).token(&a)).await,
        ),
        ("rate_limited", {
            h.say(&a, &chat, "1").await;
            h.say(&a, &chat, "2").await
        }),
        (
            "unknown_endpoint",
            h.send({
                let mut r = Request::to(Endpoint::GetUsers).token(&a);
                r.path = "/api/method/frappe_chat.api.nope".into();
                r
            })
            .await,
        ),
    ];
    for (name, ex) in cases {
        insta::assert_json_snapshot!(format!("error_{name}"), shape(&ex));
    }
}
