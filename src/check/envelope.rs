//! ENV: transport and envelope. How parameters travel, what success and
//! error answers look like, and that bad input gets a 4xx rather than a 5xx.

use crate::client::{Encoding, Exchange, Request};
use crate::contract::Endpoint;

use super::context::{messages_request, Ctx};
use super::definition::checks;
use super::verdict::{describe, StepContext, Verdict};

checks! {
    "ENV-1.1" "ENV-1" Must Normal ["env"] json_body
        "POST parameters are accepted form-encoded and also as a JSON body";
    "ENV-1.2" "ENV-1" Info Normal ["env"] other_method
        "Whether an endpoint also answers the other HTTP method (either is fine; the answer keeps the envelope)";
    "ENV-2.1" "ENV-2" Must Normal ["env"] success_shape
        "A success is HTTP 200, Content-Type application/json, a JSON object with the result under `message`";
    "ENV-2.2" "ENV-2" Must Normal ["env"] errors_not_200
        "The status alone tells an error: errors never come back as 200";
    "ENV-3.1" "ENV-3" Must Normal ["env"] error_has_exc_type
        "An error body is a JSON object with a non-empty `exc_type`";
    "ENV-3.2" "ENV-3" Must Normal ["env"] error_status_by_class
        "An error's status matches its class (401 Authentication, 403 Permission, 404 DoesNotExist, 409 Duplicate, 417 Validation)";
    "ENV-4.1" "ENV-4" Must Normal ["env"] bad_input_is_4xx
        "Missing `chat`/`content`, `limit=abc`, non-JSON `participants`, a missing signup field get a 4xx, never a 5xx";
    "ENV-4b.1" "ENV-4b" Info Normal ["env"] edge_values
        "How edge values (`limit=0`, `limit=-1`, empty strings) are answered; the answer keeps the envelope";
}

/// Checks that an answer is a well-formed envelope of either kind.
fn envelope_problem(ex: &Exchange) -> Option<String> {
    if ex.is_success() {
        if !is_json_content_type(ex) {
            return Some(format!(
                "a {} answer with Content-Type {:?}",
                ex.status,
                ex.header("content-type").unwrap_or("(none)")
            ));
        }
        match ex.json() {
            Some(v) if v.is_object() => None,
            _ => Some("a 2xx answer whose body is not a JSON object".into()),
        }
    } else {
        match ex.envelope() {
            None => Some(format!(
                "a {} answer whose body is not a JSON object",
                ex.status
            )),
            Some(env) if env.exc_type.trim().is_empty() => {
                Some(format!("a {} answer without exc_type", ex.status))
            }
            Some(_) => None,
        }
    }
}

fn is_json_content_type(ex: &Exchange) -> bool {
    ex.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

async fn json_body(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let content = cx.unique("sent as JSON");
    let req = Request::to(Endpoint::SendMessage)
        .token(&cx.a.creds)
        .param("chat", &chat)
        .param("content", &content)
        .method(http::Method::POST, Encoding::Json);
    let ex = cx.send(&req).await?;
    if !ex.is_success() {
        return Err(Verdict::fail("send_message with a JSON body was refused")
            .expected("HTTP 200, as for a form-encoded body")
            .seen(describe(&ex))
            .with(&ex));
    }
    let (msgs, got) = cx
        .messages(&cx.b, &chat, None, None)
        .await
        .step("reading the chat back")?;
    if !msgs.iter().any(|m| m.content == content) {
        return Err(
            Verdict::fail("a message sent with a JSON body was not stored")
                .expected(format!("a message with content {content:?}"))
                .seen(format!("{} messages, none with that content", msgs.len()))
                .with(&ex)
                .with(&got),
        );
    }
    Ok(Verdict::pass("JSON and form bodies both accepted"))
}

async fn other_method(cx: &Ctx) -> Result<Verdict, Verdict> {
    let post = Request::to(Endpoint::GetChats)
        .token(&cx.a.creds)
        .method(http::Method::POST, Encoding::Form);
    let ex = cx.send(&post).await?;
    if let Some(p) = envelope_problem(&ex) {
        return Err(Verdict::fail(format!("POST get_chats got {p}"))
            .expected("either a success envelope or an error envelope (ENV-2, ENV-3)")
            .seen(describe(&ex))
            .with(&ex));
    }
    if ex.status >= 500 {
        return Err(Verdict::fail("POST get_chats got a server error")
            .expected("a 2xx or a 4xx")
            .seen(describe(&ex))
            .with(&ex));
    }
    Ok(Verdict::info(if ex.is_success() {
        "get_chats also answers POST (as Frappe's whitelisted methods do)".to_owned()
    } else {
        format!("get_chats answers only GET: POST got {}", describe(&ex))
    })
    .with(&ex))
}

async fn success_shape(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let probes = [
        Request::to(Endpoint::GetChats).token(&cx.a.creds),
        Request::to(Endpoint::GetUsers).token(&cx.a.creds),
        Request::to(Endpoint::SendMessage)
            .token(&cx.a.creds)
            .param("chat", &chat)
            .param("content", "shape probe"),
        messages_request(&cx.a, &chat, None, None),
        Request::to(Endpoint::GetChatParticipants)
            .token(&cx.a.creds)
            .param("chat", &chat),
        Request::to(Endpoint::MarkAsRead)
            .token(&cx.b.creds)
            .param("chat", &chat),
    ];
    for req in &probes {
        let ex = cx.send(req).await?;
        let what = req.path.rsplit('.').next().unwrap_or_default().to_owned();
        if ex.status != 200 {
            return Err(Verdict::fail(format!("{what} did not answer 200"))
                .expected("HTTP 200")
                .seen(describe(&ex))
                .with(&ex));
        }
        if !is_json_content_type(&ex) {
            return Err(
                Verdict::fail(format!("{what} answered with the wrong Content-Type"))
                    .expected("Content-Type: application/json (parameters allowed)")
                    .seen(format!(
                        "{:?}",
                        ex.header("content-type").unwrap_or("(none)")
                    ))
                    .with(&ex),
            );
        }
        let body = ex.json();
        let Some(obj) = body.as_ref().and_then(|v| v.as_object()) else {
            return Err(Verdict::fail(format!("{what}'s body is not a JSON object"))
                .expected("a JSON object")
                .seen(ex.body_excerpt(120, cx.show_secrets))
                .with(&ex));
        };
        if what != "mark_as_read" && !obj.contains_key("message") {
            return Err(
                Verdict::fail(format!("{what}'s result is not under `message`"))
                    .expected("a `message` key")
                    .seen(format!("keys {:?}", obj.keys().collect::<Vec<_>>()))
                    .with(&ex),
            );
        }
    }
    Ok(Verdict::pass(
        "six endpoints answered 200 JSON objects with `message`",
    ))
}

/// Answers to requests that must fail, sent once and shared by ENV-2.2,
/// ENV-3.1 and ENV-3.2 (the wrong-password login spends login quota).
async fn error_answers(cx: &Ctx) -> Result<Vec<(&'static str, Exchange)>, Verdict> {
    cx.fixtures
        .error_answers
        .get_or_init(|| async {
            let chat = cx.group(&cx.a, &[&cx.b]).await?;
            let mut out = Vec::new();
            for (what, req) in error_probes(cx, &chat) {
                out.push((what, cx.send(&req).await?));
            }
            Ok(out)
        })
        .await
        .clone()
}

/// Requests that must fail, with why.
fn error_probes(cx: &Ctx, chat: &str) -> Vec<(&'static str, Request)> {
    vec![
        (
            "login with a wrong password",
            Request::login(&cx.a.email, "definitely-not-the-password"),
        ),
        (
            "get_messages without `chat`",
            Request::to(Endpoint::GetMessages).token(&cx.a.creds),
        ),
        (
            "get_messages by a non-participant",
            messages_request(&cx.c, chat, None, None),
        ),
        (
            "get_messages on a chat that does not exist",
            messages_request(&cx.a, &cx.unique("no-such-chat"), None, None),
        ),
    ]
}

async fn errors_not_200(cx: &Ctx) -> Result<Verdict, Verdict> {
    for (what, ex) in error_answers(cx).await? {
        if ex.is_success() {
            let mut v = Verdict::fail(format!("{what} answered {}", ex.status))
                .expected("a 4xx status")
                .seen(describe(&ex))
                .with(&ex);
            if let Some(env) = ex.envelope().filter(|e| !e.exc_type.is_empty()) {
                v = v.note(format!(
                    "the body carries exc_type {:?}: an error dressed as a success",
                    env.exc_type
                ));
            }
            return Err(v);
        }
    }
    Ok(Verdict::pass(
        "four error cases answered with error statuses",
    ))
}

async fn error_has_exc_type(cx: &Ctx) -> Result<Verdict, Verdict> {
    for (what, ex) in error_answers(cx).await? {
        if ex.is_success() {
            continue; // ENV-2.2's business
        }
        match ex.envelope() {
            None => {
                return Err(
                    Verdict::fail(format!("{what}: the error body is not a JSON object"))
                        .expected("a JSON object with exc_type")
                        .seen(ex.body_excerpt(160, cx.show_secrets))
                        .with(&ex),
                )
            }
            Some(env) if env.exc_type.trim().is_empty() => {
                return Err(Verdict::fail(format!("{what}: the error has no exc_type"))
                    .expected("a non-empty exc_type (a Frappe exception class)")
                    .seen(ex.body_excerpt(160, cx.show_secrets))
                    .with(&ex))
            }
            Some(_) => {}
        }
    }
    Ok(Verdict::pass("every error carried exc_type"))
}

async fn error_status_by_class(cx: &Ctx) -> Result<Verdict, Verdict> {
    let mut notes = Vec::new();
    for (what, ex) in error_answers(cx).await? {
        let Some(env) = ex.envelope() else { continue };
        for p in &env.problems {
            notes.push(format!("{what}: envelope: {p}"));
        }
        if let Some(want) = env.expected_status() {
            if want != ex.status {
                return Err(Verdict::fail(format!(
                    "{what}: {} came with status {}",
                    env.exc_type, ex.status
                ))
                .expected(format!("HTTP {want} for {}", env.exc_type))
                .seen(describe(&ex))
                .notes(notes)
                .with(&ex));
            }
        }
    }
    Ok(Verdict::pass("every error class came with its status").notes(notes))
}

async fn bad_input_is_4xx(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let a = &cx.a.creds;
    let probes = vec![
        (
            "get_messages without chat",
            Request::to(Endpoint::GetMessages).token(a),
        ),
        (
            "send_message without content",
            Request::to(Endpoint::SendMessage)
                .token(a)
                .param("chat", &chat),
        ),
        (
            "send_message without chat",
            Request::to(Endpoint::SendMessage)
                .token(a)
                .param("content", "x"),
        ),
        (
            "get_messages with limit=abc",
            messages_request(&cx.a, &chat, None, None).param("limit", "abc"),
        ),
        (
            "create_chat with participants that are not a JSON array",
            Request::to(Endpoint::CreateChat)
                .token(a)
                .param("chat_name", cx.unique("bad"))
                .param("participants", "not json")
                .param("chat_type", "Group"),
        ),
        (
            "signup without full_name and password",
            Request::to(Endpoint::Signup).param("email", cx.new_identity().0),
        ),
    ];
    for (what, req) in probes {
        let ex = cx.send(&req).await?;
        if !(400..500).contains(&ex.status) {
            return Err(Verdict::fail(format!("{what} answered {}", ex.status))
                .expected("a 4xx (ValidationError 417, or 400)")
                .seen(describe(&ex))
                .with(&ex));
        }
    }
    Ok(Verdict::pass("six malformed requests got a 4xx"))
}

async fn edge_values(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let probes = vec![
        ("limit=0", messages_request(&cx.a, &chat, None, Some(0))),
        (
            "limit=-1",
            messages_request(&cx.a, &chat, None, None).param("limit", "-1"),
        ),
        ("after=\"\"", messages_request(&cx.a, &chat, Some(""), None)),
        ("chat=\"\"", messages_request(&cx.a, "", None, None)),
    ];
    let mut seen = Vec::new();
    let mut evidence = Vec::new();
    for (what, req) in probes {
        let ex = cx.send(&req).await?;
        if let Some(p) = envelope_problem(&ex) {
            return Err(Verdict::fail(format!("{what} got {p}"))
                .expected("a success or error envelope (ENV-2, ENV-3)")
                .seen(describe(&ex))
                .with(&ex));
        }
        seen.push(format!("{what}: {}", describe(&ex)));
        evidence.push(ex);
    }
    Ok(Verdict::info(seen.join("; ")).with_all(&evidence))
}
