//! A typed client for the chat API over reqwest. Every call yields an
//! [`Exchange`]: the request as sent, the response as received (body capped),
//! timing, and helpers to decode it. Whatever the server sends becomes data or
//! a [`ClientError`] that says what happened, never a panic or a hang: every
//! request is bounded by a connect timeout and a whole-exchange timeout.

//!
//! - `request.rs`: the request to send and the request as sent;
//! - `exchange.rs`: the request with its response, and the errors;
//! - `curl.rs`: an exchange as a curl command.

mod curl;
mod exchange;
mod request;

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;

use crate::contract::wire::{ChatSummary, LoginResult, Message, Participant, SentMessage, User};
use crate::contract::Endpoint;

pub use exchange::{ClientError, Exchange};
pub use request::{Auth, Credentials, Encoding, Request, RequestRecord};

/// How the client talks to a server.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8000`.
    pub base_url: String,
    /// Limit on one whole exchange, connect to last body byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Largest response body read; a larger one is an error.
    pub body_cap: usize,
    /// Source address to connect from (e.g. another 127.0.0.0/8 address, to
    /// appear as a second client of a loopback server).
    pub local_address: Option<std::net::IpAddr>,
}

/// 8 MiB: far above any honest answer, small enough that a hostile server
/// cannot exhaust memory.
const DEFAULT_BODY_CAP: usize = 8 << 20;

impl ClientConfig {
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            body_cap: DEFAULT_BODY_CAP,
            local_address: None,
        }
    }
}

/// A decoded result together with the exchange that carried it.
#[derive(Debug, Clone)]
pub struct Typed<T> {
    pub exchange: Exchange,
    pub value: T,
}

/// The client. Cheap to clone (reqwest's client is reference-counted).
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
}

impl Client {
    pub fn new(config: ClientConfig) -> Result<Client, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            // A conformance tool looks at what the server said, not where it points.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .local_address(config.local_address)
            .build()
            .map_err(|e| ClientError::Transport {
                url: config.base_url.clone(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client { http, config })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    pub fn base_url(&self) -> &str {
        self.config.base_url.trim_end_matches('/')
    }

    /// Sends one request and returns whatever the server answered, any status.
    pub async fn send(&self, req: &Request) -> Result<Exchange, ClientError> {
        let record = RequestRecord::build(self.base_url(), req);
        let url = record.url.clone();
        let mut rb = self.http.request(req.method.clone(), &url);
        for (k, v) in &record.headers {
            rb = rb.header(k, v);
        }
        if let Some(body) = &record.body {
            rb = rb.body(body.clone());
        }
        let started = Instant::now();
        let cap = self.config.body_cap;
        let timeout = self.config.timeout;
        let fut = async {
            let resp = rb.send().await.map_err(|e| classify(&url, timeout, e))?;
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = read_capped(resp, cap, &url, timeout).await?;
            Ok::<_, ClientError>((status, headers, body))
        };
        // reqwest's timeout covers the same span; this one is the guarantee.
        let (status, headers, body) =
            tokio::time::timeout(timeout + Duration::from_millis(50), fut)
                .await
                .map_err(|_| ClientError::Timeout {
                    url: url.clone(),
                    timeout,
                })??;
        Ok(Exchange {
            request: record,
            status,
            headers,
            body,
            elapsed: started.elapsed(),
        })
    }

    /// Sends and decodes `message` as `T`; a non-2xx answer is
    /// [`ClientError::Api`].
    pub async fn call<T: DeserializeOwned>(&self, req: &Request) -> Result<Typed<T>, ClientError> {
        let exchange = self.send(req).await?;
        let value = exchange.decode::<T>()?;
        Ok(Typed { exchange, value })
    }

    pub async fn login(&self, usr: &str, pwd: &str) -> Result<Typed<LoginResult>, ClientError> {
        self.call(&Request::login(usr, pwd)).await
    }

    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        full_name: &str,
    ) -> Result<Typed<LoginResult>, ClientError> {
        self.call(&Request::signup(email, password, full_name))
            .await
    }

    pub async fn get_chats(&self, c: &Credentials) -> Result<Typed<Vec<ChatSummary>>, ClientError> {
        self.call(&Request::to(Endpoint::GetChats).token(c)).await
    }

    pub async fn create_chat(
        &self,
        c: &Credentials,
        chat_name: &str,
        participants: &[&str],
        chat_type: &str,
    ) -> Result<Typed<String>, ClientError> {
        let list = serde_json::to_string(participants).unwrap_or_else(|_| "[]".into());
        self.call(
            &Request::to(Endpoint::CreateChat)
                .token(c)
                .param("chat_name", chat_name)
                .param("participants", list)
                .param("chat_type", chat_type),
        )
        .await
    }

    pub async fn get_messages(
        &self,
        c: &Credentials,
        chat: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Typed<Vec<Message>>, ClientError> {
        let mut req = Request::to(Endpoint::GetMessages)
            .token(c)
            .param("chat", chat);
        if let Some(a) = after {
            req = req.param("after", a);
        }
        if let Some(l) = limit {
            req = req.param("limit", l.to_string());
        }
        self.call(&req).await
    }

    pub async fn send_message(
        &self,
        c: &Credentials,
        chat: &str,
        content: &str,
    ) -> Result<Typed<SentMessage>, ClientError> {
        self.call(
            &Request::to(Endpoint::SendMessage)
                .token(c)
                .param("chat", chat)
                .param("content", content),
        )
        .await
    }

    /// mark_as_read has no result; `message` may be absent.
    pub async fn mark_as_read(
        &self,
        c: &Credentials,
        chat: &str,
    ) -> Result<Typed<()>, ClientError> {
        let exchange = self
            .send(
                &Request::to(Endpoint::MarkAsRead)
                    .token(c)
                    .param("chat", chat),
            )
            .await?;
        exchange.decode_unit()?;
        Ok(Typed {
            exchange,
            value: (),
        })
    }

    pub async fn get_chat_participants(
        &self,
        c: &Credentials,
        chat: &str,
    ) -> Result<Typed<Vec<Participant>>, ClientError> {
        self.call(
            &Request::to(Endpoint::GetChatParticipants)
                .token(c)
                .param("chat", chat),
        )
        .await
    }

    pub async fn get_users(&self, c: &Credentials) -> Result<Typed<Vec<User>>, ClientError> {
        self.call(&Request::to(Endpoint::GetUsers).token(c)).await
    }
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    url: &str,
    timeout: Duration,
) -> Result<Bytes, ClientError> {
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(ClientError::BodyTooLarge {
            url: url.to_owned(),
            cap,
        });
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| classify(url, timeout, e))? {
        if buf.len() + chunk.len() > cap {
            return Err(ClientError::BodyTooLarge {
                url: url.to_owned(),
                cap,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Turns reqwest's error into words: walks the source chain for the cause.
fn classify(url: &str, timeout: Duration, e: reqwest::Error) -> ClientError {
    let url = url.to_owned();
    let chain = error_chain(&e);
    if e.is_timeout() {
        return ClientError::Timeout { url, timeout };
    }
    let refused = {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut found = false;
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                found |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            src = s.source();
        }
        found
    };
    if refused {
        return ClientError::ConnectionRefused { url };
    }
    let lower = chain.to_ascii_lowercase();
    if lower.contains("tls") || lower.contains("certificate") || lower.contains("handshake") {
        return ClientError::Tls { url, detail: chain };
    }
    if e.is_connect() {
        return ClientError::Connect { url, detail: chain };
    }
    let io_kind = {
        let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        let mut kind = None;
        while let Some(s) = src {
            if let Some(io) = s.downcast_ref::<std::io::Error>() {
                kind = Some(io.kind());
            }
            src = s.source();
        }
        kind
    };
    let closed = matches!(
        io_kind,
        Some(
            std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::BrokenPipe
                | std::io::ErrorKind::UnexpectedEof
        )
    ) || lower.contains("connection closed")
        || lower.contains("incomplete message")
        || lower.contains("reset by peer");
    if closed {
        return ClientError::Closed { url, detail: chain };
    }
    ClientError::Transport { url, detail: chain }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        src = s.source();
    }
    parts.join(": ")
}
