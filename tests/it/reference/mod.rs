//! The reference server against CONTRACT.md: one test per clause, each run
//! against both fronts (hyper and wiremock), plus snapshots, concurrency
//! tests and one test per defect showing that it changes what it claims.
//! Loopback only; no timed assertions (waits only ever make a pass likelier).

mod clauses;
mod concurrency;
mod defects;
mod snapshots;

use chat_harness::client::{Client, ClientConfig, Credentials, Encoding, Exchange, Request};
use chat_harness::contract::Endpoint;
use chat_harness::reference::{self, Core, ServerConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Front {
    Hyper,
    Wiremock,
}

#[allow(dead_code)]
enum Guard {
    Hyper(reference::RunningServer),
    Mock(wiremock::MockServer),
}

/// A started reference server with a client pointed at it.
pub struct H {
    pub client: Client,
    pub core: Core,
    _guard: Guard,
}

pub const ALICE: &str = "alice@example.com";
pub const BOB: &str = "bob@example.com";
pub const CAROL: &str = "carol@example.com";

impl H {
    pub async fn start(front: Front, cfg: ServerConfig) -> H {
        let (url, core, guard) = match front {
            Front::Hyper => {
                let s = reference::serve(cfg, "127.0.0.1:0".parse().unwrap())
                    .await
                    .expect("serve");
                (s.url(), s.core().clone(), Guard::Hyper(s))
            }
            Front::Wiremock => {
                let (s, core) = reference::start_mock(cfg).await;
                (s.uri(), core, Guard::Mock(s))
            }
        };
        let client = Client::new(ClientConfig::new(url)).expect("client");
        H {
            client,
            core,
            _guard: guard,
        }
    }

    pub async fn hyper(cfg: ServerConfig) -> H {
        H::start(Front::Hyper, cfg).await
    }

    /// The token pair the server seeded for `email` (no login spent).
    pub fn creds(&self, email: &str) -> Credentials {
        let a = self
            .core
            .accounts()
            .into_iter()
            .find(|a| a.email == email)
            .unwrap_or_else(|| panic!("no account {email}"));
        a.credentials().expect("seeded accounts have tokens")
    }

    pub async fn send(&self, req: Request) -> Exchange {
        self.client.send(&req).await.expect("transport error")
    }

    /// A Direct chat between `a` and `b`, created by `a`.
    pub async fn direct(&self, a: &Credentials, b: &str) -> String {
        self.client
            .create_chat(a, "dm", &[b], "Direct")
            .await
            .expect("create_chat")
            .value
    }

    pub async fn say(&self, c: &Credentials, chat: &str, content: &str) -> Exchange {
        self.send(
            Request::to(Endpoint::SendMessage)
                .token(c)
                .param("chat", chat)
                .param("content", content),
        )
        .await
    }

    pub async fn messages(&self, c: &Credentials, chat: &str, extra: &[(&str, &str)]) -> Exchange {
        let mut r = Request::to(Endpoint::GetMessages)
            .token(c)
            .param("chat", chat);
        for (k, v) in extra {
            r = r.param(*k, *v);
        }
        self.send(r).await
    }

    pub async fn participants(&self, c: &Credentials, chat: &str) -> Exchange {
        self.send(
            Request::to(Endpoint::GetChatParticipants)
                .token(c)
                .param("chat", chat),
        )
        .await
    }
}

/// The row of `user` in a get_chat_participants answer.
pub fn participant(ex: &Exchange, user: &str) -> serde_json::Value {
    message(ex)
        .as_array()
        .and_then(|rows| rows.iter().find(|p| p["user"] == user).cloned())
        .unwrap_or_else(|| panic!("{user} is not among the participants: {}", message(ex)))
}

/// The `message` of a JSON body.
pub fn message(ex: &Exchange) -> serde_json::Value {
    ex.json()
        .and_then(|v| v.get("message").cloned())
        .unwrap_or_default()
}

/// The contents of a get_messages answer, in order.
pub fn contents(ex: &Exchange) -> Vec<String> {
    message(ex)
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

pub fn num(ex: &Exchange, header: &str) -> Option<u64> {
    ex.header(header).and_then(|v| v.parse().ok())
}

pub fn exc_type(ex: &Exchange) -> String {
    ex.envelope().map(|e| e.exc_type).unwrap_or_default()
}

/// Raw GET or POST with parameters in the given encoding.
pub fn raw(endpoint: Endpoint, method: http::Method, enc: Encoding) -> Request {
    Request::to(endpoint).method(method, enc)
}

/// Runs a clause test against both fronts: `<clause>::hyper`, `<clause>::wiremock`.
macro_rules! on_both_fronts {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn hyper() {
                super::$name(super::super::Front::Hyper).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn wiremock() {
                super::$name(super::super::Front::Wiremock).await
            }
        }
    )*};
}
pub(crate) use on_both_fronts;
