//! Every defect changes what it claims: one probe per defect, observed on a
//! clean server and on one with the defect switched on (hyper front); the two
//! observations must differ. The probe `match` is exhaustive, and a test
//! checks that the generated list covers `Defect::ALL`.

use std::time::Duration;

use chat_harness::client::{Auth, Credentials, Encoding, Request};
use chat_harness::contract::Endpoint;
use chat_harness::reference::{Defect, ServerConfig};
use futures::future::join_all;
use http::Method;

use super::{contents, exc_type, message, num, participant, raw, ALICE, BOB, CAROL, H};

fn config_for(d: Defect) -> ServerConfig {
    use Defect::*;
    let c = ServerConfig::default();
    match d {
        NoHeadersOnRefusal | RefusedSendStored | RefuseWith417 | LoginResetsWindow
        | SharedBucket => c
            .with_limit(Endpoint::GetChats, 1)
            .with_limit(Endpoint::SendMessage, 1),
        TrustForwardedFor => c.with_limit(Endpoint::Login, 1),
        RacyCounter | DeadlockUnderConcurrency => c.with_limit(Endpoint::GetChats, 5),
        RacyCounterSendMessage => c.with_limit(Endpoint::SendMessage, 5),
        // `observe` spends the one create_chat on its direct chat.
        RefusedCreateStored => c.with_limit(Endpoint::CreateChat, 1),
        OverLimitByOneGetMessages | PerAddressGetMessages => c.with_limit(Endpoint::GetMessages, 1),
        FixedWindow | FixedWindowSendMessage => c.with_window(86_400),
        NoCorsOnRefusal => c.with_limit(Endpoint::GetChats, 1),
        NoCorsOnPostRefusal => c.with_limit(Endpoint::SendMessage, 1),
        CorsAnyScheme => c.with_production_origin("https://chat.example.com"),
        LostUnderConcurrency => c
            .with_limit(Endpoint::SendMessage, 100_000)
            .with_limit(Endpoint::GetMessages, 1_000_000),
        _ => c,
    }
}

/// A Group chat of `a` with bob.
fn group(a: &Credentials, name: &str) -> Request {
    Request::to(Endpoint::CreateChat)
        .token(a)
        .param("chat_name", name)
        .param("participants", format!("[\"{BOB}\"]"))
        .param("chat_type", "Group")
}

async fn observe(d: Defect, on: bool) -> String {
    let cfg = if on {
        config_for(d).with_defect(d)
    } else {
        config_for(d)
    };
    let h = H::hyper(cfg).await;
    let (a, b, c) = (h.creds(ALICE), h.creds(BOB), h.creds(CAROL));
    let chat = h.direct(&a, BOB).await;
    let origin = |r: Request, o: &str| r.header("Origin", o);
    use Defect::*;
    let seen = match d {
        JsonBodyRejected => {
            let r = raw(Endpoint::SendMessage, Method::POST, Encoding::Json)
                .token(&a)
                .param("chat", &chat)
                .param("content", "x");
            h.send(r).await.status.to_string()
        }
        WrongContentType => {
            let ex = h.send(Request::to(Endpoint::GetUsers).token(&a)).await;
            ex.header("content-type").unwrap_or_default().to_owned()
        }
        ErrorAs200 | MissingChat500 => h.messages(&a, "CHAT-99999", &[]).await.status.to_string(),
        NoExcType => exc_type(&h.messages(&a, "CHAT-99999", &[]).await),
        WrongErrorStatus | ServerErrorOnBadInput => h
            .messages(&a, &chat, &[("limit", "abc")])
            .await
            .status
            .to_string(),
        LoginNoSecret => {
            message(&h.send(login(ALICE, "Passw0rd!")).await)["api_secret"].to_string()
        }
        WrongPasswordAccepted => h.send(login(ALICE, "wrong")).await.status.to_string(),
        AnonymousAllowed => h
            .send(Request::to(Endpoint::GetChats))
            .await
            .status
            .to_string(),
        SenderSpoofed => message(&h.say(&a, &chat, "x").await)["sender"].to_string(),
        WrongSecretAccepted => {
            let wrong = Credentials::new(&a.api_key, "wrong");
            h.send(Request::to(Endpoint::GetUsers).token(&wrong))
                .await
                .status
                .to_string()
        }
        MalformedAuth500 => {
            let r = Request::to(Endpoint::GetUsers).auth(Auth::Raw("token nocolon".into()));
            h.send(r).await.status.to_string()
        }
        RotateOnLogin => {
            let first = Credentials::from(&h.client.login(BOB, "Passw0rd!").await.unwrap().value);
            h.client.login(BOB, "Passw0rd!").await.unwrap();
            h.send(Request::to(Endpoint::GetUsers).token(&first))
                .await
                .status
                .to_string()
        }
        DuplicateSignupOverwrites => {
            h.client
                .signup("dup@example.com", "First-pass1", "Dup")
                .await
                .unwrap();
            let again = h
                .send(signup("dup@example.com", "Second-pass2"))
                .await
                .status;
            let old = h.send(login("dup@example.com", "First-pass1")).await.status;
            format!("{again} {old}")
        }
        UsersLeakSecret => {
            let ex = h.send(Request::to(Endpoint::GetUsers).token(&a)).await;
            String::from_utf8_lossy(&ex.body)
                .contains("api_secret")
                .to_string()
        }
        ChatsListAll => {
            h.direct(&b, CAROL).await;
            h.client
                .get_chats(&a)
                .await
                .unwrap()
                .value
                .len()
                .to_string()
        }
        ReadAnyChat => h.messages(&c, &chat, &[]).await.status.to_string(),
        SendAnyChat => h.say(&c, &chat, "x").await.status.to_string(),
        MarkAnyChat => {
            let r = Request::to(Endpoint::MarkAsRead)
                .token(&c)
                .param("chat", &chat);
            h.send(r).await.status.to_string()
        }
        CreatorNotAdded | ParticipantsOmitCaller => {
            let g = h
                .client
                .create_chat(&a, "g", &[BOB, CAROL], "Group")
                .await
                .unwrap()
                .value;
            let ex = h.participants(&a, &g).await;
            format!("{} {}", ex.status, message(&ex))
        }
        DirectDuplicated => (h.direct(&b, ALICE).await == chat).to_string(),
        UnknownUserAccepted => {
            let r = h
                .client
                .create_chat(&a, "g", &["ghost@example.com"], "Group")
                .await;
            r.is_ok().to_string()
        }
        UsersIncludeCaller => h
            .client
            .get_users(&a)
            .await
            .unwrap()
            .value
            .len()
            .to_string(),
        ContentTrimmed => message(&h.say(&a, &chat, "  x  ").await)["content"].to_string(),
        HtmlEscaped => message(&h.say(&a, &chat, "<b>x</b>").await)["content"].to_string(),
        EmptyContentAccepted => h.say(&a, &chat, "").await.status.to_string(),
        NoDefaultLimit => {
            for m in 0..55 {
                h.say(&a, &chat, &m.to_string()).await;
            }
            contents(&h.messages(&a, &chat, &[]).await)
                .len()
                .to_string()
        }
        NewestFirst | LimitIgnored | NewestWithoutAfter => {
            for m in ["1", "2", "3"] {
                h.say(&a, &chat, m).await;
            }
            let limit: &[(&str, &str)] = if d == NewestFirst {
                &[]
            } else {
                &[("limit", "2")]
            };
            contents(&h.messages(&a, &chat, limit).await).join(",")
        }
        AfterInclusive | AfterSecondsOnly | IsoAfterRejected => {
            let first = message(&h.say(&a, &chat, "1").await)["creation"]
                .as_str()
                .unwrap()
                .to_owned();
            h.say(&a, &chat, "2").await;
            let after = if d == IsoAfterRejected {
                first.replacen(' ', "T", 1)
            } else {
                first
            };
            let ex = h.messages(&a, &chat, &[("after", &after)]).await;
            format!("{} {}", ex.status, contents(&ex).join(","))
        }
        LostUnderConcurrency => lost_under_concurrency(&h, &chat).await,
        DropMessages => {
            for i in 0..10 {
                h.say(&a, &chat, &i.to_string()).await;
            }
            contents(&h.messages(&b, &chat, &[]).await)
                .len()
                .to_string()
        }
        DelayedVisibility => {
            h.say(&a, &chat, "now").await;
            contents(&h.messages(&b, &chat, &[]).await).join(",")
        }
        GarbageAfterHistory => h
            .messages(&a, &chat, &[("after", "garbage")])
            .await
            .status
            .to_string(),
        LimitCapped50 => {
            for i in 0..60 {
                h.say(&a, &chat, &i.to_string()).await;
            }
            contents(&h.messages(&a, &chat, &[("limit", "60")]).await)
                .len()
                .to_string()
        }
        SecondResolution => {
            let mut all: Vec<String> = Vec::new();
            for _ in 0..5 {
                all.push(message(&h.say(&a, &chat, "x").await)["creation"].to_string());
            }
            all.dedup();
            (all.len() == 5).to_string()
        }
        ReadMarksOwn | NoLastReadAt => {
            h.say(&b, &chat, "own").await;
            h.client.mark_as_read(&b, &chat).await.unwrap();
            let msgs = h.messages(&b, &chat, &[]).await;
            let bob = participant(&h.participants(&b, &chat).await, BOB);
            format!(
                "{} {}",
                message(&msgs)[0]["is_read"],
                bob["last_read_at"].is_null()
            )
        }
        ReadStateOtherSide => {
            // Bob's own message as Alice sees it, after Bob marks the chat read.
            h.say(&b, &chat, "bob's").await;
            h.client.mark_as_read(&b, &chat).await.unwrap();
            message(&h.messages(&a, &chat, &[]).await)[0]["is_read"].to_string()
        }
        LastReadAtEveryone | LastReadAtCallerOnly => {
            h.client.mark_as_read(&b, &chat).await.unwrap();
            let parts = h.participants(&a, &chat).await;
            let (alice, bob) = (participant(&parts, ALICE), participant(&parts, BOB));
            format!(
                "{} {}",
                alice["last_read_at"].is_null(),
                bob["last_read_at"].is_null()
            )
        }
        ChatsUnordered => {
            let second = h.direct(&a, CAROL).await;
            h.say(&a, &second, "newer chat with a message").await;
            let names: Vec<_> = h
                .client
                .get_chats(&a)
                .await
                .unwrap()
                .value
                .into_iter()
                .map(|c| c.name)
                .collect();
            (names[0] == second).to_string()
        }
        NoRateHeaders | RateHeadersInBody | WrongLimitHeader | RemainingOffByOne
        | ResetInconsistent => {
            let ex = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            let keys = [
                "x-ratelimit-limit",
                "x-ratelimit-remaining",
                "x-ratelimit-reset",
            ];
            format!("{:?}", keys.map(|k| num(&ex, k)))
        }
        NoHeadersOnRefusal | RefuseWith417 => {
            h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            let ex = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            format!(
                "{} {:?} {:?}",
                ex.status,
                num(&ex, "x-ratelimit-remaining"),
                num(&ex, "retry-after")
            )
        }
        NoHeadersOn4xx => {
            // carol is not in alice's chat with bob: a 403 after the limiter.
            let ex = h.messages(&c, &chat, &[]).await;
            format!("{} {:?}", ex.status, num(&ex, "x-ratelimit-remaining"))
        }
        FailedLoginNotCounted => {
            h.send(login(ALICE, "wrong-password")).await;
            let ex = h.send(login(ALICE, "wrong-password")).await;
            format!("{} {:?}", ex.status, num(&ex, "x-ratelimit-remaining"))
        }
        DoubleCountCreateChat => {
            let ex = h.send(group(&a, "double")).await;
            format!("{:?}", num(&ex, "x-ratelimit-remaining"))
        }
        RefusedCreateStored => {
            let refused = h.send(group(&a, "refused")).await.status;
            let chats = h.send(Request::to(Endpoint::GetChats).token(&b)).await;
            format!(
                "{refused} {}",
                message(&chats).as_array().map_or(0, Vec::len)
            )
        }
        OverLimitByOneGetMessages => {
            h.messages(&a, &chat, &[]).await;
            h.messages(&a, &chat, &[]).await.status.to_string()
        }
        PerAddressGetMessages => {
            h.messages(&a, &chat, &[]).await;
            h.messages(&b, &chat, &[]).await.status.to_string()
        }
        RacyCounterSendMessage => {
            let req = Request::to(Endpoint::SendMessage)
                .token(&a)
                .param("chat", &chat)
                .param("content", "race");
            let all = join_all((0..40).map(|_| h.client.send(&req))).await;
            (all.into_iter()
                .filter(|r| r.as_ref().is_ok_and(|e| e.status == 200))
                .count()
                == 5)
                .to_string()
        }
        RefusedSendStored => {
            h.say(&a, &chat, "1").await;
            h.say(&a, &chat, "2").await;
            contents(&h.messages(&b, &chat, &[]).await).join(",")
        }
        FixedWindow => num(
            &h.send(Request::to(Endpoint::GetChats).token(&a)).await,
            "x-ratelimit-reset",
        )
        .map(|r| (r == 86_400).to_string())
        .unwrap_or_default(),
        FixedWindowSendMessage => {
            // A sliding window's Reset after one request is the whole
            // window; a fixed one's is what is left of the aligned day.
            let send = Request::to(Endpoint::SendMessage)
                .token(&a)
                .param("chat", &chat)
                .param("content", "fixed");
            let whole = |ex: &chat_harness::client::Exchange| {
                (num(ex, "x-ratelimit-reset") == Some(86_400)).to_string()
            };
            let s = whole(&h.send(send).await);
            let g = whole(&h.send(Request::to(Endpoint::GetChats).token(&a)).await);
            format!("send_message {s}, get_chats {g}")
        }
        WindowRestartsOnRequest => {
            h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let ex = h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            (num(&ex, "x-ratelimit-reset") == Some(60)).to_string()
        }
        WindowRestartsOnRequestCreateChat => {
            // A restarted window's Reset is the whole window again a
            // second after the first request; a sliding one's has aged.
            h.send(group(&a, "restart-1")).await;
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let ex = h.send(group(&a, "restart-2")).await;
            (num(&ex, "x-ratelimit-reset") == Some(60)).to_string()
        }
        LoginResetsWindow => {
            h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            h.client.login(ALICE, "Passw0rd!").await.unwrap();
            h.send(Request::to(Endpoint::GetChats).token(&a))
                .await
                .status
                .to_string()
        }
        SharedBucket => {
            h.send(Request::to(Endpoint::GetChats).token(&a)).await;
            h.send(Request::to(Endpoint::GetChats).token(&b))
                .await
                .status
                .to_string()
        }
        TrustForwardedFor => {
            let mut s = Vec::new();
            for ip in ["10.0.0.1", "10.0.0.2"] {
                s.push(
                    h.send(login(ALICE, "Passw0rd!").header("X-Forwarded-For", ip))
                        .await
                        .status,
                );
            }
            format!("{s:?}")
        }
        RacyCounter => {
            let req = Request::to(Endpoint::GetChats).token(&a);
            let all = join_all((0..40).map(|_| h.client.send(&req))).await;
            (all.into_iter()
                .filter(|r| r.as_ref().is_ok_and(|e| e.status == 200))
                .count()
                == 5)
                .to_string()
        }
        DeadlockUnderConcurrency => {
            let req = Request::to(Endpoint::GetChats).token(&a);
            let all = join_all((0..10).map(|_| h.client.send(&req))).await;
            all.into_iter()
                .any(|r| r.as_ref().is_ok_and(|e| e.status == 500))
                .to_string()
        }
        NoPreflight => {
            let r = Request::to(Endpoint::GetChats).method(Method::OPTIONS, Encoding::Query);
            let ex = h
                .send(
                    origin(r, "http://localhost:3000")
                        .header("Access-Control-Request-Method", "GET"),
                )
                .await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-allow-origin")
            )
        }
        NoCorsOnOrdinary | NoExposeHeaders => {
            let ex = h
                .send(origin(
                    Request::to(Endpoint::GetChats).token(&a),
                    "http://localhost:3000",
                ))
                .await;
            format!(
                "{:?} {:?}",
                ex.header("access-control-allow-origin"),
                ex.header("access-control-expose-headers")
            )
        }
        NoPostPreflight => {
            let r = Request::to(Endpoint::SendMessage).method(Method::OPTIONS, Encoding::Query);
            let ex = h
                .send(
                    origin(r, "http://localhost:3000")
                        .header("Access-Control-Request-Method", "POST"),
                )
                .await;
            ex.header_list("access-control-allow-methods")
                .unwrap_or_default()
        }
        NoCorsOnPost => {
            let ex = h
                .send(origin(
                    Request::to(Endpoint::SendMessage)
                        .token(&a)
                        .param("chat", &chat)
                        .param("content", "x"),
                    "http://localhost:3000",
                ))
                .await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-allow-origin")
            )
        }
        NoExposeOnErrors => {
            let ex = h
                .send(origin(
                    Request::to(Endpoint::GetMessages)
                        .token(&a)
                        .param("chat", "CHAT-99999"),
                    "http://localhost:3000",
                ))
                .await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-expose-headers")
            )
        }
        NoCorsOnAuthError => {
            let wrong = Credentials::new(&a.api_key, "wrong");
            let ex = h
                .send(origin(
                    Request::to(Endpoint::GetChats).token(&wrong),
                    "http://localhost:3000",
                ))
                .await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-allow-origin")
            )
        }
        NoCorsOnRefusal => {
            let req = || {
                origin(
                    Request::to(Endpoint::GetChats).token(&a),
                    "http://localhost:3000",
                )
            };
            h.send(req()).await;
            let ex = h.send(req()).await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-allow-origin")
            )
        }
        NoCorsOnPostRefusal => {
            let req = || {
                origin(
                    Request::to(Endpoint::SendMessage)
                        .token(&a)
                        .param("chat", &chat)
                        .param("content", "x"),
                    "http://localhost:3000",
                )
            };
            h.send(req()).await;
            let ex = h.send(req()).await;
            format!(
                "{} {:?}",
                ex.status,
                ex.header("access-control-allow-origin")
            )
        }
        CorsPrefixMatch | CorsNullOrigin | CorsAnyScheme => {
            let mut seen = Vec::new();
            for o in [
                "http://localhost.evil.example",
                "null",
                "http://chat.example.com",
            ] {
                let ex = h
                    .send(origin(Request::to(Endpoint::GetChats).token(&a), o))
                    .await;
                seen.push(format!("{:?}", ex.header("access-control-allow-origin")));
            }
            seen.join(" ")
        }
        CorsWildcard | ReflectAnyOrigin => {
            let ex = h
                .send(origin(
                    Request::to(Endpoint::GetChats).token(&a),
                    "http://evil.example",
                ))
                .await;
            format!("{:?}", ex.header("access-control-allow-origin"))
        }
    };
    seen
}

fn login(usr: &str, pwd: &str) -> Request {
    Request::login(usr, pwd)
}

fn signup(email: &str, pwd: &str) -> Request {
    Request::signup(email, pwd, "X")
}

/// Concurrent senders with a poller following `after`: "complete" when the
/// poller saw every message. Up to 10 rounds, stopping at the first loss.
async fn lost_under_concurrency(h: &H, _chat: &str) -> String {
    let (a, b) = (h.creds(ALICE), h.creds(BOB));
    for round in 0..10 {
        let chat = h
            .client
            .create_chat(&a, &format!("r{round}"), &[BOB, CAROL], "Group")
            .await
            .unwrap()
            .value;
        let done = std::sync::atomic::AtomicBool::new(false);
        let senders = async {
            join_all((0..30).map(|i| {
                let (c, chat) = (if i % 2 == 0 { &a } else { &b }, &chat);
                async move { h.say(c, chat, &i.to_string()).await }
            }))
            .await;
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let poller = async {
            let (mut seen, mut after) = (0usize, None::<String>);
            for _ in 0..100_000 {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let got = h
                    .client
                    .get_messages(&a, &chat, after.as_deref(), Some(100))
                    .await
                    .unwrap()
                    .value;
                if let Some(last) = got.last() {
                    after = Some(last.creation.as_str().to_owned());
                }
                seen += got.len();
                if finished && got.is_empty() {
                    break;
                }
            }
            seen
        };
        let ((), seen) = tokio::join!(senders, poller);
        if seen != 30 {
            return "lost".into();
        }
    }
    "complete".into()
}

macro_rules! defect_tests {
    ($($variant:ident),* $(,)?) => {
        const LISTED: &[Defect] = &[$(Defect::$variant),*];
        $(
            #[allow(non_snake_case)]
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $variant() {
                let d = Defect::$variant;
                let clean = observe(d, false).await;
                let broken = observe(d, true).await;
                assert_ne!(clean, broken, "{} ({}) changed nothing observable", d.name(), d.clause());
            }
        )*
    };
}

defect_tests!(
    JsonBodyRejected,
    WrongContentType,
    ErrorAs200,
    NoExcType,
    WrongErrorStatus,
    ServerErrorOnBadInput,
    LoginNoSecret,
    WrongPasswordAccepted,
    AnonymousAllowed,
    SenderSpoofed,
    WrongSecretAccepted,
    MalformedAuth500,
    RotateOnLogin,
    DuplicateSignupOverwrites,
    UsersLeakSecret,
    ChatsListAll,
    ReadAnyChat,
    SendAnyChat,
    MarkAnyChat,
    MissingChat500,
    CreatorNotAdded,
    DirectDuplicated,
    UnknownUserAccepted,
    ParticipantsOmitCaller,
    UsersIncludeCaller,
    ContentTrimmed,
    HtmlEscaped,
    EmptyContentAccepted,
    NewestFirst,
    LimitIgnored,
    NoDefaultLimit,
    NewestWithoutAfter,
    AfterInclusive,
    AfterSecondsOnly,
    IsoAfterRejected,
    LostUnderConcurrency,
    DropMessages,
    DelayedVisibility,
    GarbageAfterHistory,
    LimitCapped50,
    SecondResolution,
    ReadMarksOwn,
    ReadStateOtherSide,
    NoLastReadAt,
    LastReadAtEveryone,
    LastReadAtCallerOnly,
    ChatsUnordered,
    NoRateHeaders,
    RateHeadersInBody,
    NoHeadersOnRefusal,
    NoHeadersOn4xx,
    WrongLimitHeader,
    RemainingOffByOne,
    FailedLoginNotCounted,
    DoubleCountCreateChat,
    RefusedSendStored,
    RefusedCreateStored,
    OverLimitByOneGetMessages,
    RefuseWith417,
    ResetInconsistent,
    FixedWindow,
    FixedWindowSendMessage,
    WindowRestartsOnRequest,
    WindowRestartsOnRequestCreateChat,
    LoginResetsWindow,
    SharedBucket,
    PerAddressGetMessages,
    TrustForwardedFor,
    DeadlockUnderConcurrency,
    RacyCounter,
    RacyCounterSendMessage,
    NoPreflight,
    NoPostPreflight,
    NoCorsOnOrdinary,
    NoCorsOnPost,
    NoExposeHeaders,
    NoExposeOnErrors,
    NoCorsOnAuthError,
    NoCorsOnRefusal,
    NoCorsOnPostRefusal,
    CorsWildcard,
    ReflectAnyOrigin,
    CorsPrefixMatch,
    CorsNullOrigin,
    CorsAnyScheme,
);

#[test]
fn every_defect_has_a_probe_test() {
    assert_eq!(LISTED, Defect::ALL);
}
