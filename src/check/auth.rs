//! AUTH: login, the token header, signup, and secrets staying secret.

use base64::Engine;

use crate::client::{Auth, Credentials, Exchange, Request};
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

use super::context::{messages_request, Ctx};
use super::definition::checks;
use super::verdict::{describe, expect_status, StepContext, Verdict};

checks! {
    "AUTH-1.1" "AUTH-1" Must Normal ["auth"] login_gives_pair
        "login with the right password answers 200 with a non-empty api_key and api_secret";
    "AUTH-2.1" "AUTH-2" Must Normal ["auth"] wrong_password
        "login with a wrong password or an unknown user answers 401 and carries no key or secret";
    "AUTH-3.1" "AUTH-3" Must Normal ["auth"] anonymous_refused
        "Every endpoint but login and signup refuses a request without Authorization (401/403, no data)";
    "AUTH-4.1" "AUTH-4" Must Normal ["auth"] token_acts_as_user
        "A token acts as its user: a message sent with it has that user as sender";
    "AUTH-5.1" "AUTH-5" Must Normal ["auth"] wrong_secret
        "A wrong secret or an unknown key answers 401";
    "AUTH-5.2" "AUTH-5" Must Normal ["auth"] malformed_header
        "A malformed Authorization header answers 400, 401 or 403: never a 2xx, never a 5xx";
    "AUTH-5.3" "AUTH-5" Info Normal ["auth"] other_schemes
        "Whether `Basic` and other cases of `token` are accepted; a wrong secret is refused in every scheme";
    "AUTH-6.1" "AUTH-6" Should Normal ["auth"] login_keeps_pair
        "Logging in again does not invalidate a pair issued earlier";
    "AUTH-7.1" "AUTH-7" Must Normal ["auth", "signup"] signup_works
        "signup with a fresh e-mail creates a user who can log in, and returns a working pair";
    "AUTH-7.2" "AUTH-7" Must Normal ["auth", "signup"] duplicate_signup
        "A second signup with the same e-mail fails (409/417) and leaves the first password and tokens working";
    "AUTH-8.1" "AUTH-8" Must Normal ["auth"] no_secret_leaks
        "No answer carries another user's api_secret (get_users, get_chat_participants, errors)";
}

fn check_pair(what: &str, ex: &Exchange) -> Result<LoginResult, Verdict> {
    expect_status(ex, &[200], what)?;
    let r: LoginResult = ex.decode().map_err(Verdict::from).step(what)?;
    if r.api_key.trim().is_empty() || r.api_secret.trim().is_empty() {
        return Err(Verdict::fail(format!("{what}: the pair is incomplete"))
            .expected("non-empty api_key and api_secret")
            .seen(format!(
                "api_key {}, api_secret {}",
                if r.api_key.trim().is_empty() {
                    "empty"
                } else {
                    "present"
                },
                if r.api_secret.trim().is_empty() {
                    "empty"
                } else {
                    "present"
                }
            ))
            .with(ex));
    }
    Ok(r)
}

/// True when the token can read get_chats.
async fn works(cx: &Ctx, c: &Credentials) -> Result<Exchange, Verdict> {
    cx.send(&Request::to(Endpoint::GetChats).token(c)).await
}

async fn login_gives_pair(cx: &Ctx) -> Result<Verdict, Verdict> {
    // The set-up's own logins are the evidence; only when the accounts came
    // as tokens does the check log a fresh user in (a re-login of a shared
    // user could rotate a pair the other checks hold).
    let ex = match cx.setup_logins.first() {
        Some(ex) => ex.clone(),
        None => {
            let u = cx.fresh_user(true).await?;
            cx.send(&Request::login(
                &u.email,
                u.password.as_deref().unwrap_or_default(),
            ))
            .await?
        }
    };
    check_pair("login", &ex)?;
    Ok(Verdict::pass("login answered a complete pair"))
}

async fn wrong_password(cx: &Ctx) -> Result<Verdict, Verdict> {
    let unknown = cx.new_identity().0;
    for (what, usr, pwd) in [
        ("a wrong password", cx.a.email.as_str(), "wrong-Passw0rd!"),
        ("an unknown user", unknown.as_str(), "Passw0rd!"),
    ] {
        let ex = cx.send(&Request::login(usr, pwd)).await?;
        expect_status(&ex, &[401], &format!("login with {what}"))?;
        let body = String::from_utf8_lossy(&ex.body);
        if body.contains("api_secret") || body.contains("api_key") {
            return Err(Verdict::fail(format!(
                "login with {what}: the refusal carries a key or secret"
            ))
            .expected("no api_key or api_secret")
            .seen(ex.body_excerpt(200, cx.show_secrets))
            .with(&ex));
        }
    }
    Ok(Verdict::pass("both refused with 401 and no pair"))
}

async fn anonymous_refused(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let secret_text = cx.unique("anon-read");
    cx.post(&cx.a, &chat, &secret_text)
        .await
        .step("sending a message")?;
    let anon_text = cx.unique("anonymous");
    let probes = vec![
        Request::to(Endpoint::GetChats),
        Request::to(Endpoint::CreateChat)
            .param("chat_name", cx.unique("anon"))
            .param("participants", format!("[\"{}\"]", cx.b.email))
            .param("chat_type", "Group"),
        messages_request(&cx.a, &chat, None, None).auth(Auth::None),
        Request::to(Endpoint::SendMessage)
            .param("chat", &chat)
            .param("content", &anon_text),
        Request::to(Endpoint::MarkAsRead).param("chat", &chat),
        Request::to(Endpoint::GetChatParticipants).param("chat", &chat),
        Request::to(Endpoint::GetUsers),
    ];
    for req in probes {
        let what = req.path.rsplit('.').next().unwrap_or_default().to_owned();
        let ex = cx.send(&req).await?;
        expect_status(&ex, &[401, 403], &format!("{what} without Authorization"))?;
        let body = String::from_utf8_lossy(&ex.body);
        if body.contains(&secret_text) || body.contains(&cx.b.email) {
            return Err(
                Verdict::fail(format!("{what} without Authorization leaked data"))
                    .expected("no data in the refusal")
                    .seen(ex.body_excerpt(200, cx.show_secrets))
                    .with(&ex),
            );
        }
    }
    let (msgs, ex) = cx
        .messages(&cx.a, &chat, None, None)
        .await
        .step("reading the chat back")?;
    if msgs.iter().any(|m| m.content == anon_text) {
        return Err(Verdict::fail("an anonymous send_message was stored")
            .expected("nothing stored")
            .seen("the anonymous message is in the chat")
            .with(&ex));
    }
    Ok(Verdict::pass("seven endpoints refused anonymous requests"))
}

async fn token_acts_as_user(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b]).await?;
    let text = cx.unique("who am i");
    let (sent, ex) = cx
        .post(&cx.b, &chat, &text)
        .await
        .step("sending as the second user")?;
    if sent.sender != cx.b.email {
        return Err(Verdict::fail("send_message's answer names another sender")
            .expected(format!("sender {}", cx.b.email))
            .seen(format!("sender {}", sent.sender))
            .with(&ex));
    }
    let (msgs, got) = cx
        .messages(&cx.a, &chat, None, None)
        .await
        .step("reading the chat")?;
    match msgs.iter().find(|m| m.content == text) {
        Some(m) if m.sender == cx.b.email => Ok(Verdict::pass("the sender is the token's user")),
        Some(m) => Err(Verdict::fail("the stored message names another sender")
            .expected(format!("sender {}", cx.b.email))
            .seen(format!("sender {}", m.sender))
            .with(&got)),
        None => Err(Verdict::fail("the message sent is not in the chat")
            .expected(format!("a message {text:?}"))
            .seen(format!("{} messages without it", msgs.len()))
            .with(&ex)
            .with(&got)),
    }
}

async fn wrong_secret(cx: &Ctx) -> Result<Verdict, Verdict> {
    let cases = [
        (
            "a wrong secret",
            Credentials::new(&cx.a.creds.api_key, format!("{}x", cx.a.creds.api_secret)),
        ),
        (
            "an unknown key",
            Credentials::new(cx.unique("nokey"), &cx.a.creds.api_secret),
        ),
    ];
    for (what, creds) in cases {
        let ex = cx
            .send(&Request::to(Endpoint::GetChats).token(&creds))
            .await?;
        expect_status(&ex, &[401], &format!("get_chats with {what}"))?;
    }
    Ok(Verdict::pass("both answered 401"))
}

async fn malformed_header(cx: &Ctx) -> Result<Verdict, Verdict> {
    let k = &cx.a.creds.api_key;
    let s = &cx.a.creds.api_secret;
    let cases = [
        ("no colon", format!("token {k}{s}")),
        ("an empty key", format!("token :{s}")),
        ("an empty secret", format!("token {k}:")),
        ("an unknown scheme", format!("Bearer {k}:{s}")),
        ("a doubled space", format!("token  {k}:{s}")),
        ("a bare scheme", "token".to_owned()),
    ];
    for (what, value) in cases {
        let ex = cx
            .send(&Request::to(Endpoint::GetChats).auth(Auth::Raw(value)))
            .await?;
        expect_status(&ex, &[400, 401, 403], &format!("a header with {what}"))?;
    }
    Ok(Verdict::pass(
        "six malformed headers refused with 400/401/403",
    ))
}

async fn other_schemes(cx: &Ctx) -> Result<Verdict, Verdict> {
    let k = &cx.a.creds.api_key;
    let s = &cx.a.creds.api_secret;
    let b64 = |t: String| base64::engine::general_purpose::STANDARD.encode(t);
    let mut seen = Vec::new();
    let mut evidence = Vec::new();
    for (what, value, right) in [
        (
            "Basic with the right pair",
            format!("Basic {}", b64(format!("{k}:{s}"))),
            true,
        ),
        ("`Token` (capital T)", format!("Token {k}:{s}"), true),
        (
            "Basic with a wrong secret",
            format!("Basic {}", b64(format!("{k}:{s}x"))),
            false,
        ),
        (
            "`TOKEN` with a wrong secret",
            format!("TOKEN {k}:{s}x"),
            false,
        ),
    ] {
        let ex = cx
            .send(&Request::to(Endpoint::GetChats).auth(Auth::Raw(value)))
            .await?;
        if !right && ex.is_success() {
            return Err(Verdict::fail(format!("{what} was accepted"))
                .expected("400, 401 or 403")
                .seen(describe(&ex))
                .with(&ex));
        }
        if !ex.is_success() {
            expect_status(&ex, &[400, 401, 403], what)?;
        }
        seen.push(format!(
            "{what}: {}",
            if ex.is_success() {
                "accepted".to_owned()
            } else {
                describe(&ex)
            }
        ));
        evidence.push(ex);
    }
    Ok(Verdict::info(seen.join("; ")).with_all(&evidence))
}

async fn login_keeps_pair(cx: &Ctx) -> Result<Verdict, Verdict> {
    let u = cx.fresh_user(true).await?;
    let pwd = u.password.clone().unwrap_or_default();
    let (first, _) = cx.login(&u.email, &pwd).await.step("first login")?;
    let (second, ex2) = cx.login(&u.email, &pwd).await.step("second login")?;
    let ex = works(cx, &Credentials::from(&first)).await?;
    if !ex.is_success() {
        let rotated = first.api_secret != second.api_secret;
        return Err(Verdict::fail(
            "the pair from the first login stopped working after the second",
        )
        .expected("the earlier pair still works (a user on two devices stays logged in)")
        .seen(describe(&ex))
        .note(if rotated {
            "the second login returned a different secret: the server rotates secrets on login"
        } else {
            "the second login returned the same secret"
        })
        .with(&ex2)
        .with(&ex));
    }
    Ok(Verdict::pass(
        "the first pair still works after a second login",
    ))
}

async fn signup_works(cx: &Ctx) -> Result<Verdict, Verdict> {
    if !cx.signup_allowed {
        return Err(Verdict::skip(
            "not evaluated: --no-signup (the suite may not create users)",
        ));
    }
    let (email, pwd) = cx.new_identity();
    let ex = cx
        .send(&Request::signup(&email, &pwd, "Signup Check"))
        .await?;
    let pair = check_pair("signup", &ex)?;
    let used = works(cx, &Credentials::from(&pair)).await?;
    expect_status(&used, &[200], "get_chats with the pair signup returned")?;
    let login = cx.send(&Request::login(&email, &pwd)).await?;
    check_pair("login as the new user", &login)?;
    Ok(Verdict::pass("the new user works and can log in"))
}

async fn duplicate_signup(cx: &Ctx) -> Result<Verdict, Verdict> {
    if !cx.signup_allowed {
        return Err(Verdict::skip(
            "not evaluated: --no-signup (the suite may not create users)",
        ));
    }
    let (email, pwd) = cx.new_identity();
    let first = cx.send(&Request::signup(&email, &pwd, "First")).await?;
    let pair = check_pair("the first signup", &first).step("setting up")?;
    let second = cx
        .send(&Request::signup(&email, format!("{pwd}-other"), "Second"))
        .await?;
    expect_status(&second, &[409, 417], "a second signup with the same e-mail")?;
    let used = works(cx, &Credentials::from(&pair)).await?;
    if !used.is_success() {
        return Err(Verdict::fail(
            "the first user's pair stopped working after a duplicate signup",
        )
        .expected("HTTP 200 with the first pair")
        .seen(describe(&used))
        .with(&second)
        .with(&used));
    }
    let login = cx.send(&Request::login(&email, &pwd)).await?;
    if login.status != 200 {
        return Err(
            Verdict::fail("the first password stopped working after a duplicate signup")
                .expected("login with the first password answers 200")
                .seen(describe(&login))
                .with(&second)
                .with(&login),
        );
    }
    Ok(Verdict::pass(format!(
        "refused with {}; the first user is intact",
        second.status
    )))
}

async fn no_secret_leaks(cx: &Ctx) -> Result<Verdict, Verdict> {
    let chat = cx.group(&cx.a, &[&cx.b, &cx.c]).await?;
    let probes = [
        Request::to(Endpoint::GetUsers).token(&cx.a.creds),
        Request::to(Endpoint::GetChatParticipants)
            .token(&cx.a.creds)
            .param("chat", &chat),
        Request::to(Endpoint::GetChats).token(&cx.a.creds),
        messages_request(&cx.a, &cx.unique("missing"), None, None),
        Request::to(Endpoint::GetChatParticipants)
            .token(&cx.a.creds)
            .param("chat", cx.unique("missing")),
    ];
    let others: Vec<(String, String)> = cx
        .known_secrets()
        .into_iter()
        .filter(|(email, s)| email != &cx.a.email && s.len() >= 4)
        .collect();
    for req in probes {
        let ex = cx.send(&req).await?;
        let what = req.path.rsplit('.').next().unwrap_or_default().to_owned();
        let body = String::from_utf8_lossy(&ex.body);
        if let Some((owner, _)) = others.iter().find(|(_, s)| body.contains(s.as_str())) {
            return Err(
                Verdict::fail(format!("{what} carries {owner}'s api_secret"))
                    .expected("no other user's secret in any answer")
                    .seen(format!("the secret of {owner} in the body (masked below)"))
                    .with(&ex),
            );
        }
        // Secret-named keys carrying a value (exact names, not words inside
        // names such as `last_password_reset_date`).
        let fields = ex
            .json()
            .map(|v| crate::contract::redact::secret_fields(&v))
            .unwrap_or_default();
        if !fields.is_empty() {
            return Err(Verdict::fail(format!("{what} carries a secret field"))
                .expected("no api_secret (or password) outside login and signup")
                .seen(format!("a value at {}", fields.join(", ")))
                .with(&ex));
        }
    }
    Ok(Verdict::pass(
        "no secret in get_users, get_chat_participants, get_chats or errors",
    ))
}
