//! One request and its response, as evidence: what was sent, what came back,
//! how long it took, and how to decode it.

use std::time::Duration;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{Auth, ClientError, Encoding, Request, SuccessEnvelope};
use crate::contract::{redact, ErrorEnvelope, RateLimitInfo, Refusal};

/// The request as it went on the wire (secrets included: render it through
/// [`RequestRecord::redacted`] or [`Exchange::to_curl`] for reports).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestRecord {
    pub method: String,
    /// Full URL including the query string.
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The parameters, decoded, in order.
    pub params: Vec<(String, String)>,
    /// The body as sent (form-encoded or JSON).
    pub body: Option<String>,
    #[serde(skip)]
    pub encoding: Option<&'static str>,
}

impl RequestRecord {
    pub(crate) fn build(base: &str, req: &Request) -> RequestRecord {
        let mut url = format!("{base}{}", req.path);
        let mut headers = Vec::new();
        match &req.auth {
            Auth::None => {}
            Auth::Token(c) => headers.push(("Authorization".into(), c.header())),
            Auth::Raw(v) => headers.push(("Authorization".into(), v.clone())),
        }
        headers.extend(req.headers.iter().cloned());
        let encoded = || {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(req.params.iter())
                .finish()
        };
        let (body, encoding) = match req.encoding {
            Encoding::Query => {
                if !req.params.is_empty() {
                    url.push(if url.contains('?') { '&' } else { '?' });
                    url.push_str(&encoded());
                }
                (None, None)
            }
            Encoding::Form => {
                headers.push((
                    "Content-Type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                (Some(encoded()), Some("form"))
            }
            Encoding::Json => {
                headers.push(("Content-Type".into(), "application/json".into()));
                let obj: serde_json::Map<String, Value> = req
                    .params
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                (Some(Value::Object(obj).to_string()), Some("json"))
            }
        };
        RequestRecord {
            method: req.method.as_str().to_owned(),
            url,
            headers,
            params: req.params.clone(),
            body,
            encoding,
        }
    }

    /// A copy with passwords, secrets and the token's secret masked.
    pub fn redacted(&self) -> RequestRecord {
        let mask_params = |params: &[(String, String)]| -> Vec<(String, String)> {
            params
                .iter()
                .map(|(k, v)| {
                    let v = if redact::is_secret_key(k) {
                        redact::MASK.into()
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect()
        };
        let params = mask_params(&self.params);
        let secrets: Vec<&str> = self
            .params
            .iter()
            .filter(|(k, _)| redact::is_secret_key(k))
            .map(|(_, v)| v.as_str())
            .collect();
        let mut url = self.url.clone();
        if let Some((path, _)) = self.url.split_once('?') {
            if self.encoding.is_none() && !params.is_empty() {
                url = format!(
                    "{path}?{}",
                    form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(params.iter())
                        .finish()
                );
            }
        }
        let body = match self.encoding {
            Some("form") => Some(
                form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(params.iter())
                    .finish(),
            ),
            _ => self.body.as_ref().map(|b| redact::body_text(b, &secrets)),
        };
        RequestRecord {
            method: self.method.clone(),
            url,
            headers: self
                .headers
                .iter()
                .map(|(k, v)| {
                    let v = if k.eq_ignore_ascii_case("authorization") {
                        redact::authorization(v)
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
            params,
            body,
            encoding: self.encoding,
        }
    }
}

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
