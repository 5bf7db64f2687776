//! How a simulated user's requests reach the server, as every engine sees
//! them: a [`Call`] goes out over a [`Wire`] (goose's client or the raw
//! HTTP/1.1 connection of `http1.rs`, a fake in tests) and an [`Answer`]
//! comes back.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use serde::Deserialize;

use crate::contract::Endpoint;

/// A request as the behaviour asks for it.
#[derive(Debug)]
pub struct Call<'a> {
    pub endpoint: Endpoint,
    pub params: &'a [(&'static str, &'a str)],
    /// `token KEY:SECRET`.
    pub auth: &'a str,
}

/// What came back.
#[derive(Debug, Default)]
pub struct Answer {
    /// None: no HTTP answer.
    pub status: Option<u16>,
    pub body: Bytes,
    /// `X-RateLimit-Remaining`, when present and numeric.
    pub remaining: Option<u64>,
    /// Whether a `Retry-After` header came (a refusal sign).
    pub retry_after: bool,
    /// Request start to last body byte.
    pub elapsed: Duration,
}

impl Answer {
    /// A refusal by the rate limiter, in any form (`contract::refusal`).
    pub fn is_refusal(&self) -> bool {
        self.status.is_some_and(|s| {
            crate::contract::refusal::is_refusal(s, self.remaining, self.retry_after, &self.body)
        })
    }

    /// What goose counts as a success: a 2xx, or a refusal (the server
    /// doing what the contract asks of it; our summary counts it apart).
    pub(crate) fn is_success_or_refusal(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s)) || self.is_refusal()
    }
}

/// How requests reach the server.
pub(crate) trait Wire: Send {
    fn call(&mut self, call: Call<'_>) -> impl Future<Output = Answer> + Send;
}

/// Decodes `{"message": T}`; anything else is None (counted by the caller as
/// an error poll, never a panic).
pub(crate) fn decode<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Option<T> {
    #[derive(Deserialize)]
    struct Env<T> {
        message: T,
    }
    serde_json::from_slice::<Env<T>>(body)
        .ok()
        .map(|e| e.message)
}
