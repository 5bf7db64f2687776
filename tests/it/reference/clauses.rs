//! One test per CONTRACT.md clause, on both fronts.

use chat_harness::client::{Auth, Credentials, Encoding, Request};
use chat_harness::contract::{Endpoint, ErrorEnvelope};
use chat_harness::reference::{ResetStyle, ServerConfig};
use http::Method;

use super::{contents, exc_type, message, num, on_both_fronts, raw, Front, ALICE, BOB, CAROL, H};

on_both_fronts!(
    env_1,
    env_2,
    env_3,
    env_4,
    auth_1_2,
    auth_3,
    auth_4,
    auth_5,
    auth_6,
    auth_7,
    auth_8,
    authz_1,
    authz_2_3_4,
    authz_5,
    authz_6,
    authz_7,
    users_1,
    poll_1,
    poll_2,
    poll_3,
    poll_4,
    poll_6,
    poll_7,
    poll_8,
    poll_9,
    read_1_2,
    chats_1,
    rl_1_2_3,
    rl_4,
    rl_5,
    rl_6,
    rl_7,
    cors_1,
    cors_2,
    cors_3,
);

async fn env_1(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    // JSON body, form body, and parameters in the query of a POST.
    for (i, enc) in [Encoding::Json, Encoding::Form, Encoding::Query]
        .into_iter()
        .enumerate()
    {
        let ex = h
            .send(
                raw(Endpoint::SendMessage, Method::POST, enc)
                    .token(&a)
                    .param("chat", &chat)
                    .param("content", format!("m{i}")),
            )
            .await;
        assert_eq!(ex.status, 200, "{enc:?}: {}", ex.body_excerpt(300, false));
    }
    // INFO decision: GET answers a POST endpoint too, and POST a GET one.
    let ex = h
        .send(
            raw(Endpoint::GetMessages, Method::POST, Encoding::Form)
                .token(&a)
                .param("chat", &chat),
        )
        .await;
    assert_eq!(contents(&ex), ["m0", "m1", "m2"]);
}

async fn env_2(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let ex = h
        .send(Request::to(Endpoint::GetUsers).token(&h.creds(ALICE)))
        .await;
    assert_eq!(ex.status, 200);
    assert!(ex
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    assert!(message(&ex).is_array());
    // mark_as_read may omit message: it answers an empty object.
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let ex = h.client.mark_as_read(&a, &chat).await.unwrap().exchange;
    assert_eq!(&ex.body[..], b"{}");
}

async fn env_3(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&h.creds(BOB), CAROL).await;
    let ex = h.messages(&a, &chat, &[]).await;
    assert_eq!(ex.status, 403);
    let env = ErrorEnvelope::from_body(&ex.body).unwrap();
    assert_eq!(env.exc_type, "PermissionError");
    assert!(env.problems.is_empty(), "{:?}", env.problems);
    assert_eq!(env.server_messages.len(), 1);
    assert_eq!(env.expected_status(), Some(403));
    for (ex, class) in [
        (h.messages(&a, "CHAT-99999", &[]).await, "DoesNotExistError"),
        (
            h.client
                .login(ALICE, "wrong")
                .await
                .unwrap_err()
                .exchange()
                .cloned()
                .unwrap(),
            "AuthenticationError",
        ),
        (h.messages(&a, "", &[]).await, "MandatoryError"),
    ] {
        let env = ex.envelope().unwrap();
        assert_eq!(env.exc_type, class);
        assert_eq!(env.expected_status(), Some(ex.status));
    }
}

async fn env_4(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::GetMessages, 1000),
    )
    .await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let cases: Vec<(Request, u16)> = vec![
        (Request::to(Endpoint::GetMessages).token(&a), 417),
        (
            Request::to(Endpoint::SendMessage)
                .token(&a)
                .param("chat", &chat),
            417,
        ),
        (
            Request::to(Endpoint::SendMessage)
                .token(&a)
                .param("content", "x"),
            417,
        ),
        (
            Request::to(Endpoint::GetMessages)
                .token(&a)
                .param("chat", &chat)
                .param("limit", "abc"),
            417,
        ),
        (
            Request::to(Endpoint::GetMessages)
                .token(&a)
                .param("chat", &chat)
                .param("limit", "0"),
            417,
        ),
        (
            Request::to(Endpoint::GetMessages)
                .token(&a)
                .param("chat", &chat)
                .param("limit", "-1"),
            417,
        ),
        (
            Request::to(Endpoint::CreateChat)
                .token(&a)
                .param("chat_name", "x")
                .param("participants", "bob"),
            417,
        ),
        (
            Request::to(Endpoint::CreateChat)
                .token(&a)
                .param("chat_name", "x")
                .param("participants", "{\"a\":1}"),
            417,
        ),
        (
            Request::to(Endpoint::Signup)
                .param("email", "new@example.com")
                .param("password", "Str0ng-pass"),
            417,
        ),
        (
            Request::to(Endpoint::GetMessages)
                .token(&a)
                .param("chat", &chat)
                .param("after", "garbage"),
            417,
        ),
    ];
    for (req, want) in cases {
        let ex = h.send(req.clone()).await;
        assert_eq!(
            ex.status,
            want,
            "{:?}: {}",
            req.params,
            ex.body_excerpt(200, false)
        );
        assert!(!exc_type(&ex).is_empty());
    }
    // Absurd limits are clamped, never an error or a crash.
    let ex = h
        .messages(&a, &chat, &[("limit", "99999999999999999999999")])
        .await;
    assert_eq!(ex.status, 200);
    // Malformed encodings: 400; unknown endpoints: 404; huge bodies: 413.
    let mut bad = Request::to(Endpoint::GetUsers).token(&a);
    bad.path = format!("{}?x=%zz", bad.path);
    assert_eq!(h.send(bad).await.status, 400);
    let mut json = raw(Endpoint::SendMessage, Method::POST, Encoding::Json).token(&a);
    json.path = "/api/method/frappe_chat.api.nope".into();
    let ex = h.send(json).await;
    assert_eq!(
        (ex.status, exc_type(&ex).as_str()),
        (404, "DoesNotExistError")
    );
    let big = "x".repeat(1_100_000);
    let ex = h.say(&a, &chat, &big).await;
    assert_eq!(ex.status, 413);
}

async fn auth_1_2(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let ok = h.client.login(ALICE, "Passw0rd!").await.unwrap().value;
    assert!(!ok.api_key.is_empty() && !ok.api_secret.is_empty());
    assert_eq!(ok.message, "Logged In");
    for (u, p) in [(ALICE, "nope"), ("nobody@example.com", "Passw0rd!")] {
        let ex = h
            .client
            .login(u, p)
            .await
            .unwrap_err()
            .exchange()
            .cloned()
            .unwrap();
        assert_eq!(ex.status, 401);
        assert!(!String::from_utf8_lossy(&ex.body).contains("api_secret"));
    }
}

async fn auth_3(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    for e in chat_harness::contract::Endpoint::ALL
        .into_iter()
        .filter(|e| e.requires_auth())
    {
        let ex = h.send(Request::to(e).param("chat", "CHAT-00001")).await;
        assert!(matches!(ex.status, 401 | 403), "{e}: {}", ex.status);
        assert!(message(&ex).is_null());
    }
}

async fn auth_4(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let chat = h.direct(&a, BOB).await;
    let sent = h.client.send_message(&b, &chat, "hi").await.unwrap().value;
    assert_eq!(sent.sender, BOB);
    let got = h
        .client
        .get_messages(&a, &chat, None, None)
        .await
        .unwrap()
        .value;
    assert_eq!(got[0].sender, BOB);
}

async fn auth_5(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let wrong = Credentials::new(&a.api_key, "not-the-secret");
    let ex = h.send(Request::to(Endpoint::GetUsers).token(&wrong)).await;
    assert_eq!(
        (ex.status, exc_type(&ex).as_str()),
        (401, "AuthenticationError")
    );
    let unknown = Credentials::new("unknownkey", &a.api_secret);
    assert_eq!(
        h.send(Request::to(Endpoint::GetUsers).token(&unknown))
            .await
            .status,
        401
    );
    for header in [
        "token nocolon".to_owned(),
        format!("token :{}", a.api_secret),
        format!("token {}:", a.api_key),
        format!("Bearer {}:{}", a.api_key, a.api_secret),
        format!("token  {}:{}", a.api_key, a.api_secret),
        "token".to_owned(),
    ] {
        let ex = h
            .send(Request::to(Endpoint::GetUsers).auth(Auth::Raw(header.clone())))
            .await;
        assert!(
            matches!(ex.status, 400 | 401 | 403),
            "{header:?}: {}",
            ex.status
        );
        assert!(message(&ex).is_null());
    }
}

async fn auth_6(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let first = h.client.login(BOB, "Passw0rd!").await.unwrap().value;
    let second = h.client.login(BOB, "Passw0rd!").await.unwrap().value;
    assert_eq!(first.api_secret, second.api_secret);
    let c = Credentials::from(&first);
    assert_eq!(
        h.send(Request::to(Endpoint::GetUsers).token(&c))
            .await
            .status,
        200
    );
}

async fn auth_7(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let r = h
        .client
        .signup("dora@example.com", "Str0ng-pass", "Dora")
        .await
        .unwrap()
        .value;
    assert_eq!(r.message, "User Created");
    let c = Credentials::from(&r);
    assert_eq!(
        h.send(Request::to(Endpoint::GetUsers).token(&c))
            .await
            .status,
        200
    );
    let again = h
        .client
        .signup("dora@example.com", "0ther-pass!", "Dora 2")
        .await
        .unwrap_err();
    assert!(matches!(again.status(), Some(409 | 417)), "{again}");
    let l = h
        .client
        .login("dora@example.com", "Str0ng-pass")
        .await
        .unwrap()
        .value;
    assert_eq!(Credentials::from(&l), c);
    assert!(h
        .client
        .login("dora@example.com", "0ther-pass!")
        .await
        .is_err());
}

async fn auth_8(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let secrets: Vec<String> = h
        .core
        .accounts()
        .into_iter()
        .filter_map(|x| x.api_secret)
        .collect();
    for ex in [
        h.send(Request::to(Endpoint::GetUsers).token(&a)).await,
        h.send(
            Request::to(Endpoint::GetChatParticipants)
                .token(&a)
                .param("chat", &chat),
        )
        .await,
        h.messages(&h.creds(CAROL), &chat, &[]).await,
    ] {
        let body = String::from_utf8_lossy(&ex.body);
        assert!(!body.contains("api_secret"));
        assert!(secrets.iter().all(|s| !body.contains(s.as_str())));
    }
}

async fn authz_1(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let ab = h.direct(&a, BOB).await;
    let bc = h.direct(&b, CAROL).await;
    let mine: Vec<_> = h
        .client
        .get_chats(&a)
        .await
        .unwrap()
        .value
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(mine, [ab]);
    let bobs = h.client.get_chats(&b).await.unwrap().value;
    assert_eq!(bobs.len(), 2);
    assert!(bobs.iter().any(|c| c.name == bc));
}

async fn authz_2_3_4(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b, c) = (h.creds(ALICE), h.creds(BOB), h.creds(CAROL));
    let chat = h.direct(&a, BOB).await;
    h.say(&a, &chat, "secret plan").await;
    let ex = h.messages(&c, &chat, &[]).await;
    assert_eq!(
        (ex.status, exc_type(&ex).as_str()),
        (403, "PermissionError")
    );
    assert!(!String::from_utf8_lossy(&ex.body).contains("secret plan"));
    assert_eq!(h.say(&c, &chat, "intruder").await.status, 403);
    for e in [Endpoint::MarkAsRead, Endpoint::GetChatParticipants] {
        let ex = h.send(Request::to(e).token(&c).param("chat", &chat)).await;
        assert_eq!(ex.status, 403, "{e}");
    }
    let seen = h
        .client
        .get_messages(&b, &chat, None, None)
        .await
        .unwrap()
        .value;
    assert_eq!(seen.len(), 1);
    assert!(!seen[0].is_read, "carol's mark_as_read changed nothing");
}

async fn authz_5(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    for e in [
        Endpoint::GetMessages,
        Endpoint::SendMessage,
        Endpoint::MarkAsRead,
        Endpoint::GetChatParticipants,
    ] {
        let ex = h
            .send(
                Request::to(e)
                    .token(&a)
                    .param("chat", "CHAT-99999")
                    .param("content", "x"),
            )
            .await;
        assert!(matches!(ex.status, 403 | 404), "{e}: {}", ex.status);
    }
}

async fn authz_6(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let one = h.direct(&a, BOB).await;
    assert_eq!(
        h.direct(&b, ALICE).await,
        one,
        "the same Direct chat from either side"
    );
    assert_eq!(
        h.client
            .create_chat(&a, "x", &[BOB, ALICE, BOB], "Direct")
            .await
            .unwrap()
            .value,
        one
    );
    let three = h
        .client
        .create_chat(&a, "x", &[BOB, CAROL], "Direct")
        .await
        .unwrap_err();
    assert_eq!(three.status(), Some(417));
    let group = h
        .client
        .create_chat(&a, "g", &[BOB, CAROL], "Group")
        .await
        .unwrap()
        .value;
    assert_ne!(group, one);
    let unknown = h
        .client
        .create_chat(&a, "g", &["ghost@example.com"], "Group")
        .await
        .unwrap_err();
    assert!(matches!(unknown.status(), Some(400..=499)));
}

async fn authz_7(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let group = h
        .client
        .create_chat(&a, "g", &[BOB, CAROL, BOB], "Group")
        .await
        .unwrap()
        .value;
    let mut users: Vec<_> = h
        .client
        .get_chat_participants(&a, &group)
        .await
        .unwrap()
        .value
        .into_iter()
        .map(|p| p.user)
        .collect();
    users.sort();
    assert_eq!(users, [ALICE, BOB, CAROL]);
}

async fn users_1(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let users: Vec<_> = h
        .client
        .get_users(&h.creds(ALICE))
        .await
        .unwrap()
        .value
        .into_iter()
        .map(|u| u.name)
        .collect();
    assert_eq!(users, [BOB, CAROL]);
}

async fn poll_1(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let long: String = "é".repeat(10_000);
    let texts = [
        "plain",
        "ünïcödé 日本語 🎉👍🏽",
        "quotes ' \" `",
        "'; DROP TABLE messages; --",
        "+ & = % # ? /",
        "line1\r\nline2\ttab",
        "  padded  ",
        long.as_str(),
        "<b>bold</b> & <script>",
    ];
    for t in texts {
        let sent = h.client.send_message(&a, &chat, t).await.unwrap().value;
        assert_eq!(sent.content, t);
        assert_eq!(sent.sender, ALICE);
    }
    let got = h
        .client
        .get_messages(&a, &chat, None, Some(100))
        .await
        .unwrap()
        .value;
    let got: Vec<_> = got.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(got, texts);
    let ex = h.say(&a, &chat, "").await;
    assert!(matches!(ex.status, 400..=499), "POLL-1c");
}

async fn poll_2(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    for i in 0..60 {
        h.say(&a, &chat, &format!("{i}")).await;
    }
    let all = h
        .client
        .get_messages(&a, &chat, None, None)
        .await
        .unwrap()
        .value;
    assert_eq!(all.len(), 50, "default limit");
    assert_eq!(all[0].content, "0", "POLL-2b: the oldest without after");
    assert!(all.windows(2).all(|w| w[0].creation < w[1].creation));
    let some = h
        .client
        .get_messages(&a, &chat, Some(all[9].creation.as_str()), Some(5))
        .await
        .unwrap()
        .value;
    let got: Vec<_> = some.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(got, ["10", "11", "12", "13", "14"]);
}

async fn poll_3(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let first = h.client.send_message(&a, &chat, "one").await.unwrap().value;
    h.say(&a, &chat, "two").await;
    let after = h
        .client
        .get_messages(&a, &chat, Some(first.creation.as_str()), None)
        .await
        .unwrap()
        .value;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].content, "two");
}

async fn poll_4(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    let first = h.client.send_message(&a, &chat, "one").await.unwrap().value;
    h.say(&a, &chat, "two").await;
    assert_eq!(first.creation.as_str().len(), 26, "six fraction digits");
    for after in [first.creation.as_str().to_owned(), first.creation.to_iso()] {
        let ex = h.messages(&a, &chat, &[("after", &after)]).await;
        assert_eq!(contents(&ex), ["two"], "after={after}");
    }
}

async fn poll_6(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let chat = h.direct(&a, BOB).await;
    for i in 0..20 {
        let sent = h
            .client
            .send_message(&a, &chat, &format!("m{i}"))
            .await
            .unwrap()
            .value;
        let got = h
            .client
            .get_messages(&b, &chat, None, Some(100))
            .await
            .unwrap()
            .value;
        assert_eq!(got.last().map(|m| &m.name), Some(&sent.name));
    }
}

async fn poll_7(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    h.say(&a, &chat, "history").await;
    for garbage in ["garbage", "2024-13-45 99:00:00", "1700000000", "yesterday"] {
        let ex = h.messages(&a, &chat, &[("after", garbage)]).await;
        assert!(matches!(ex.status, 400..=499), "{garbage}");
        assert!(!String::from_utf8_lossy(&ex.body).contains("history"));
    }
    let ex = h
        .messages(&a, &chat, &[("after", "2999-01-01 00:00:00.000000")])
        .await;
    assert_eq!(ex.status, 200);
    assert_eq!(message(&ex), serde_json::json!([]));
}

async fn poll_8(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::SendMessage, 1000),
    )
    .await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    for i in 0..120 {
        h.say(&a, &chat, &format!("{i}")).await;
    }
    for (limit, want) in [
        ("1", 1),
        ("7", 7),
        ("100", 100),
        ("101", 101),
        ("100000", 120),
    ] {
        let ex = h.messages(&a, &chat, &[("limit", limit)]).await;
        assert_eq!(contents(&ex).len(), want, "limit={limit}");
    }
}

async fn poll_9(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let chat = h.direct(&a, BOB).await;
    for i in 0..90 {
        h.say(if i % 2 == 0 { &a } else { &b }, &chat, "x").await;
    }
    let got = h
        .client
        .get_messages(&a, &chat, None, Some(100))
        .await
        .unwrap()
        .value;
    assert_eq!(got.len(), 90);
    assert!(got.windows(2).all(|w| w[0].creation < w[1].creation));
}

async fn read_1_2(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    let chat = h.direct(&a, BOB).await;
    h.say(&a, &chat, "from alice").await;
    h.say(&b, &chat, "from bob").await;
    let before = h
        .client
        .get_chat_participants(&a, &chat)
        .await
        .unwrap()
        .value;
    assert!(before.iter().all(|p| p.last_read_at.is_none()));
    h.client.mark_as_read(&b, &chat).await.unwrap();
    let seen = h
        .client
        .get_messages(&b, &chat, None, None)
        .await
        .unwrap()
        .value;
    let flags: Vec<_> = seen
        .iter()
        .map(|m| (m.sender.as_str(), m.is_read))
        .collect();
    assert_eq!(flags, [(ALICE, true), (BOB, false)]);
    let parts = h
        .client
        .get_chat_participants(&a, &chat)
        .await
        .unwrap()
        .value;
    let bob = parts.iter().find(|p| p.user == BOB).unwrap();
    assert!(bob.last_read_at.is_some(), "READ-2");
    assert!(parts
        .iter()
        .find(|p| p.user == ALICE)
        .unwrap()
        .last_read_at
        .is_none());
}

async fn chats_1(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let ab = h.direct(&a, BOB).await;
    let ac = h.direct(&a, CAROL).await;
    let g = h
        .client
        .create_chat(&a, "g", &[BOB, CAROL], "Group")
        .await
        .unwrap()
        .value;
    h.say(&a, &ac, "older").await;
    let last = h
        .client
        .send_message(&a, &ab, &"newest ".repeat(40))
        .await
        .unwrap()
        .value;
    let chats = h.client.get_chats(&a).await.unwrap().value;
    let order: Vec<_> = chats.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(order, [ab.as_str(), ac.as_str(), g.as_str()]);
    assert_eq!(chats[0].last_message_at.as_ref(), Some(&last.creation));
    assert!(last
        .content
        .starts_with(chats[0].last_message.as_deref().unwrap()));
    assert!(chats[2].last_message.is_none() && chats[2].last_message_at.is_none());
}

async fn rl_1_2_3(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::GetChats, 5),
    )
    .await;
    let a = h.creds(ALICE);
    for k in 1..=5u64 {
        let ex = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
        assert_eq!(num(&ex, "x-ratelimit-limit"), Some(5));
        assert_eq!(num(&ex, "x-ratelimit-remaining"), Some(5 - k));
        assert!(num(&ex, "x-ratelimit-reset").is_some());
    }
    let ex = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
    assert_eq!(ex.status, 429);
    assert_eq!(num(&ex, "x-ratelimit-remaining"), Some(0));
    assert_eq!(num(&ex, "x-ratelimit-limit"), Some(5));
    // Every table endpoint carries the headers, errors included.
    let ex = h.messages(&a, "CHAT-99999", &[]).await;
    assert_eq!((ex.status, num(&ex, "x-ratelimit-limit")), (404, Some(200)));
    let ex = h
        .client
        .login(ALICE, "wrong")
        .await
        .unwrap_err()
        .exchange()
        .cloned()
        .unwrap();
    assert_eq!(num(&ex, "x-ratelimit-limit"), Some(10));
}

async fn rl_4(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::SendMessage, 2),
    )
    .await;
    let a = h.creds(ALICE);
    let chat = h.direct(&a, BOB).await;
    h.say(&a, &chat, "1").await;
    h.say(&a, &chat, "2").await;
    let ex = h.say(&a, &chat, "refused").await;
    assert_eq!(ex.status, 429);
    assert_eq!(exc_type(&ex), "TooManyRequestsError");
    assert!(num(&ex, "retry-after").is_some_and(|s| (1..=61).contains(&s)));
    assert_eq!(num(&ex, "x-ratelimit-remaining"), Some(0));
    let ex = h.messages(&h.creds(BOB), &chat, &[]).await;
    assert_eq!(contents(&ex), ["1", "2"], "a refused send stores nothing");
}

async fn rl_5(front: Front) {
    for form in [ResetStyle::Delta, ResetStyle::Epoch] {
        let h = H::start(front, ServerConfig::default().with_reset_form(form)).await;
        let ex = h
            .send(Request::to(Endpoint::GetChats).token(&h.creds(ALICE)))
            .await;
        let date = ex
            .header("date")
            .and_then(|d| httpdate::parse_http_date(d).ok())
            .expect("Date");
        let date = date
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = num(&ex, "x-ratelimit-reset").unwrap();
        match form {
            ResetStyle::Delta => assert!(reset <= 61, "{reset}"),
            ResetStyle::Epoch => {
                assert!((date - 1..=date + 61).contains(&reset), "{reset} vs {date}")
            }
        }
    }
}

async fn rl_6(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default()
            .with_window(1)
            .with_limit(Endpoint::GetChats, 3),
    )
    .await;
    let a = h.creds(ALICE);
    let get = || h.send(Request::to(Endpoint::GetChats).token(&a));
    for _ in 0..3 {
        assert_eq!(get().await.status, 200);
    }
    let refused = get().await;
    assert_eq!(refused.status, 429);
    // Capacity returns once the counted requests age past the window: wait
    // what the server says (never less), then it is accepted.
    let wait = num(&refused, "retry-after").unwrap_or(1);
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 50)).await;
    assert_eq!(get().await.status, 200);
    // A login empties nothing (a 60 s window: no timing involved).
    let h = H::start(
        front,
        ServerConfig::default().with_limit(Endpoint::GetChats, 2),
    )
    .await;
    let a = h.creds(ALICE);
    for _ in 0..2 {
        assert_eq!(
            h.send(Request::to(Endpoint::GetChats).token(&a))
                .await
                .status,
            200
        );
    }
    h.client.login(ALICE, "Passw0rd!").await.unwrap();
    assert_eq!(
        h.send(Request::to(Endpoint::GetChats).token(&a))
            .await
            .status,
        429
    );
}

async fn rl_7(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default()
            .with_limit(Endpoint::GetChats, 2)
            .with_limit(Endpoint::Login, 2),
    )
    .await;
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    for _ in 0..3 {
        h.send(Request::to(Endpoint::GetChats).token(&a)).await;
    }
    assert_eq!(
        h.send(Request::to(Endpoint::GetChats).token(&a))
            .await
            .status,
        429
    );
    let ex = h.send(Request::to(Endpoint::GetChats).token(&b)).await;
    assert_eq!(
        (ex.status, num(&ex, "x-ratelimit-remaining")),
        (200, Some(1))
    );
    for i in 0..3 {
        let req =
            Request::login(ALICE, "Passw0rd!").header("X-Forwarded-For", format!("10.0.0.{i}"));
        let ex = h.send(req).await;
        assert_eq!(ex.status, if i < 2 { 200 } else { 429 }, "login {i}");
    }
}

async fn cors_1(front: Front) {
    let h = H::start(
        front,
        ServerConfig::default().with_production_origin("https://chat.example.com"),
    )
    .await;
    for origin in [
        "http://localhost:3000",
        "http://127.0.0.1:8080",
        "https://chat.example.com",
    ] {
        let req = Request::to(Endpoint::GetMessages)
            .method(Method::OPTIONS, Encoding::Query)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET")
            .header("Access-Control-Request-Headers", "authorization");
        let ex = h.send(req).await;
        assert!((200..300).contains(&ex.status), "{origin}");
        assert_eq!(ex.header("access-control-allow-origin"), Some(origin));
        let allowed = ex
            .header("access-control-allow-headers")
            .unwrap()
            .to_ascii_lowercase();
        assert!(allowed.contains("authorization"));
        assert!(ex
            .header("access-control-allow-methods")
            .unwrap()
            .contains("GET"));
    }
}

async fn cors_2(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    let a = h.creds(ALICE);
    let origin = "http://localhost:5173";
    for req in [
        Request::to(Endpoint::GetChats).token(&a),
        Request::to(Endpoint::GetMessages)
            .token(&a)
            .param("chat", "CHAT-99999"),
        Request::to(Endpoint::GetChats),
    ] {
        let ex = h.send(req.header("Origin", origin)).await;
        assert_eq!(
            ex.header("access-control-allow-origin"),
            Some(origin),
            "{}",
            ex.status
        );
        assert!(ex.header("vary").unwrap().contains("Origin"));
        let exposed = ex.header("access-control-expose-headers").unwrap();
        for name in [
            "X-RateLimit-Limit",
            "X-RateLimit-Remaining",
            "X-RateLimit-Reset",
        ] {
            assert!(exposed.contains(name));
        }
    }
}

async fn cors_3(front: Front) {
    let h = H::start(front, ServerConfig::default()).await;
    for origin in [
        "http://evil.example",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:80",
        "null",
    ] {
        let pre = Request::to(Endpoint::GetChats)
            .method(Method::OPTIONS, Encoding::Query)
            .header("Origin", origin)
            .header("Access-Control-Request-Method", "GET");
        let ord = Request::to(Endpoint::GetChats)
            .token(&h.creds(ALICE))
            .header("Origin", origin);
        for ex in [h.send(pre).await, h.send(ord).await] {
            assert_eq!(ex.header("access-control-allow-origin"), None, "{origin}");
        }
    }
    let ex = h
        .send(Request::to(Endpoint::GetChats).token(&h.creds(ALICE)))
        .await;
    assert!(ex.headers.values().all(|v| v != "*"));
}
