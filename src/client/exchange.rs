//! One request and its response, as evidence: what was sent, what came back,
//! how long it took, and how to decode it; and what went wrong with a call
//! ([`ClientError`], which carries the exchange that shows it).

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::request::RequestRecord;
use crate::contract::{redact, ErrorEnvelope, RateLimitInfo, Refusal};

/// A request and the response it got.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: RequestRecord,
    pub status: u16,
    pub headers: http::HeaderMap,
    /// The body, at most the client's cap.
    pub body: Bytes,
    pub elapsed: Duration,
}

impl Exchange {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The header's value as text (first occurrence).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A list-valued header with all its lines combined, in order, with
    /// ", " (RFC 9110 5.3): `Vary`, `Access-Control-Allow-Headers`, ...
    pub fn header_list(&self, name: &str) -> Option<String> {
        crate::contract::headers::list_field(&self.headers, name)
    }

    pub fn rate_limit(&self) -> RateLimitInfo {
        RateLimitInfo::from_response(&self.headers, self.json().as_ref())
    }

    /// The rate limiter's refusal, in whatever form the server gave it
    /// (see [`crate::contract::refusal`]).
    pub fn refusal(&self) -> Option<Refusal> {
        crate::contract::refusal::classify(self.status, &self.headers, &self.body)
    }

    /// The error envelope, when the body is a JSON object.
    pub fn envelope(&self) -> Option<ErrorEnvelope> {
        ErrorEnvelope::from_body(&self.body)
    }

    /// Up to `max` bytes of the body as text, secrets masked unless asked.
    pub fn body_excerpt(&self, max: usize, show_secrets: bool) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = if show_secrets {
            text.into_owned()
        } else {
            redact::body_text(&text, &[])
        };
        if text.len() > max {
            format!(
                "{}… ({} bytes in all)",
                &text[..text.floor_char_boundary(max)],
                self.body.len()
            )
        } else {
            text
        }
    }

    /// Decodes `message` as `T` from a 2xx JSON object body.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        let value = self.checked_json()?;
        if value.get("message").is_none() {
            let detail = match value.get("exc_type").and_then(Value::as_str) {
                Some(exc) => format!(
                    "the object has no \"message\" key: it is an error envelope (exc_type {exc:?}) under HTTP {}",
                    self.status
                ),
                None => "the object has no \"message\" key".into(),
            };
            return Err(self.shape("$", &detail));
        }
        let de = serde_json::from_value::<SuccessEnvelope<Value>>(value)
            .map_err(|e| self.shape("$", &e.to_string()))?;
        serde_path_to_error::deserialize::<_, T>(de.message).map_err(|e| {
            let path = e.path().to_string();
            let path = match path.as_str() {
                "." => "$.message".to_owned(),
                p if p.starts_with('[') => format!("$.message{p}"),
                p => format!("$.message.{p}"),
            };
            self.shape(&path, &e.into_inner().to_string())
        })
    }

    /// For calls without a result: a 2xx JSON object is enough.
    pub fn decode_unit(&self) -> Result<(), ClientError> {
        self.checked_json().map(|_| ())
    }

    fn checked_json(&self) -> Result<Value, ClientError> {
        if !self.is_success() {
            return Err(ClientError::Api {
                envelope: self.envelope().map(Box::new),
                exchange: Box::new(self.clone()),
            });
        }
        let value: Value =
            serde_json::from_slice(&self.body).map_err(|e| ClientError::NotJson {
                exchange: Box::new(self.clone()),
                detail: if self.body.is_empty() {
                    "the body is empty".into()
                } else if let Err(u) = std::str::from_utf8(&self.body) {
                    format!("the body is not UTF-8 ({u})")
                } else {
                    e.to_string()
                },
            })?;
        if !value.is_object() {
            return Err(self.shape("$", "expected a JSON object"));
        }
        Ok(value)
    }

    fn shape(&self, path: &str, detail: &str) -> ClientError {
        ClientError::Shape {
            exchange: Box::new(self.clone()),
            path: path.to_owned(),
            detail: detail.to_owned(),
        }
    }

    /// A curl command reproducing the request; the token's secret and
    /// passwords masked unless `show_secrets`.
    pub fn to_curl(&self, show_secrets: bool) -> String {
        super::curl::render(&self.request, show_secrets)
    }
}

/// What went wrong with a call, in a user's words. Variants after `Transport`
/// carry the exchange that shows it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {url}: connection refused (is the server running?)")]
    ConnectionRefused { url: String },
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("no complete answer from {url} within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("TLS error talking to {url}: {detail}")]
    Tls { url: String, detail: String },
    #[error("the response body from {url} is larger than the cap of {cap} bytes")]
    BodyTooLarge { url: String, cap: usize },
    #[error("{url}: the server closed the connection before a complete answer ({detail})")]
    Closed { url: String, detail: String },
    #[error("{url}: {detail}")]
    Transport { url: String, detail: String },
    #[error("HTTP {} from {}: {}", .exchange.status, .exchange.request.url, .envelope.as_ref().map(|e| e.summary()).unwrap_or_else(|| "no error envelope".into()))]
    Api {
        exchange: Box<Exchange>,
        envelope: Option<Box<ErrorEnvelope>>,
    },
    #[error("the response from {} is not JSON: {detail}", .exchange.request.url)]
    NotJson {
        exchange: Box<Exchange>,
        detail: String,
    },
    #[error("the response from {} is JSON of the wrong shape at {path}: {detail}", .exchange.request.url)]
    Shape {
        exchange: Box<Exchange>,
        path: String,
        detail: String,
    },
}

impl ClientError {
    /// The exchange behind the error, when a response arrived.
    pub fn exchange(&self) -> Option<&Exchange> {
        match self {
            ClientError::Api { exchange, .. }
            | ClientError::NotJson { exchange, .. }
            | ClientError::Shape { exchange, .. } => Some(exchange),
            _ => None,
        }
    }

    /// True when no HTTP response arrived at all.
    pub fn is_transport(&self) -> bool {
        self.exchange().is_none()
    }

    /// The HTTP status of an error answer.
    pub fn status(&self) -> Option<u16> {
        self.exchange().map(|e| e.status)
    }
}

/// The success envelope: `message` holds the result; other keys are ignored.
#[derive(Deserialize)]
struct SuccessEnvelope<T> {
    message: T,
}
