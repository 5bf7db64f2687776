//! The answer's headers: the rate-limit headers (and the defects that bend
//! them), CORS on every answer, the preflight, and list-valued headers on
//! one line or, with `split-list-headers`, one line per item.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Response, StatusCode};

use super::config::ResetStyle;
use super::defect::Defect;
use super::pipeline::{Core, Processed};
use super::variant::Variant;

const X_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const EXPOSED: HeaderValue = HeaderValue::from_static(
    "X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After",
);
const ALLOW_HEADERS: HeaderValue = HeaderValue::from_static(
    "Authorization, Content-Type, Accept, X-Requested-With, X-Frappe-CSRF-Token",
);
const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET, POST, OPTIONS");

impl Core {
    /// Sets a list-valued header: one line, or with `split-list-headers` one
    /// line per item (RFC 9110 5.3: the same field).
    fn list_header(&self, h: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
        if !self.inner.variant(Variant::SplitListHeaders) {
            h.insert(name, value);
            return;
        }
        h.remove(&name);
        let text = value.to_str().unwrap_or_default().to_owned();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(v) = HeaderValue::from_str(item) {
                h.append(name.clone(), v);
            }
        }
    }

    /// `Vary`: `Origin`, and with `split-list-headers` a first line
    /// `Accept-Encoding` so that `Origin` is only on the second.
    fn vary(&self, h: &mut HeaderMap) {
        let value = if self.inner.variant(Variant::SplitListHeaders) {
            HeaderValue::from_static("Accept-Encoding, Origin")
        } else {
            HeaderValue::from_static("Origin")
        };
        self.list_header(h, header::VARY, value);
    }

    /// CORS-1..3: the origin to echo, if any.
    pub(super) fn cors_origin(&self, origin: Option<&str>) -> Option<HeaderValue> {
        let d = self.inner.defects;
        if d.has(Defect::CorsWildcard) {
            return Some(HeaderValue::from_static("*"));
        }
        let origin = origin?;
        let allowed = d.has(Defect::ReflectAnyOrigin) || self.origin_allowed(origin);
        allowed
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }

    /// `http://localhost[:port]`, `http://127.0.0.1[:port]` and the
    /// configured production origin (compared without a trailing slash).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let d = self.inner.defects;
        let production = self.inner.cfg.production_origin.as_deref();
        if d.has(Defect::CorsNullOrigin) && origin == "null" {
            return true;
        }
        if d.has(Defect::CorsPrefixMatch) {
            let mut prefixes = vec!["http://localhost", "http://127.0.0.1"];
            prefixes.extend(production.map(|p| p.trim_end_matches('/')));
            if prefixes.iter().any(|p| origin.starts_with(p)) {
                return true;
            }
        }
        if d.has(Defect::CorsAnyScheme) {
            let bare = |o: &str| {
                let o = o.trim_end_matches('/');
                o.split_once("://").map_or(o, |(_, rest)| rest).to_owned()
            };
            if production.is_some_and(|p| bare(p) == bare(origin)) {
                return true;
            }
        }
        let dev = ["http://localhost", "http://127.0.0.1"].iter().any(|host| {
            origin.strip_prefix(host).is_some_and(|rest| {
                rest.is_empty()
                    || rest.strip_prefix(':').is_some_and(|port| {
                        (1..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit())
                    })
            })
        });
        dev || production.is_some_and(|p| p.trim_end_matches('/') == origin.trim_end_matches('/'))
    }

    pub(super) fn preflight(&self, cors: Option<HeaderValue>) -> Response<Bytes> {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::NO_CONTENT;
        // Split over lines, `Authorization` comes last: a client reading only
        // the first line misses it.
        let allow_headers = if self.inner.variant(Variant::SplitListHeaders) {
            HeaderValue::from_static(
                "Content-Type, Accept, X-Requested-With, X-Frappe-CSRF-Token, Authorization",
            )
        } else {
            ALLOW_HEADERS
        };
        let h = r.headers_mut();
        self.vary(h);
        self.list_header(h, header::ALLOW, ALLOW_METHODS);
        if let Some(origin) = cors {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            let methods = if self.inner.defects.has(Defect::NoPostPreflight) {
                HeaderValue::from_static("GET, OPTIONS")
            } else {
                ALLOW_METHODS
            };
            self.list_header(h, header::ACCESS_CONTROL_ALLOW_METHODS, methods);
            self.list_header(h, header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        r
    }

    pub(super) fn finish(&self, reply: Processed, cors: Option<HeaderValue>) -> Response<Bytes> {
        let inner = &*self.inner;
        let d = inner.defects;
        let mut body = reply.body;
        let mut rate_headers = Vec::new();
        if let Some(v) = reply.rate {
            let limit = if d.has(Defect::WrongLimitHeader) {
                u64::from(v.limit) * 2
            } else {
                u64::from(v.limit)
            };
            let remaining = if v.allowed && d.has(Defect::RemainingOffByOne) {
                u64::from(v.remaining) + 1
            } else {
                u64::from(v.remaining)
            };
            let secs = v.reset_ms.div_ceil(1000);
            let reset = if d.has(Defect::ResetInconsistent) {
                v.reset_ms
            } else {
                match inner.cfg.reset_form {
                    ResetStyle::Delta => secs,
                    ResetStyle::Epoch => unix_now() + secs,
                }
            };
            let skip = d.has(Defect::NoRateHeaders)
                || (reply.refused && d.has(Defect::NoHeadersOnRefusal))
                || (!reply.ok
                    && !reply.refused
                    && (400..500).contains(&reply.status)
                    && d.has(Defect::NoHeadersOn4xx));
            if d.has(Defect::RateHeadersInBody) {
                body = with_body_keys(&body, limit, remaining, reset);
            } else if !skip {
                rate_headers.push((X_LIMIT, limit));
                rate_headers.push((X_REMAINING, remaining));
                rate_headers.push((X_RESET, reset));
            }
            if reply.refused && !self.refuses_with_417() {
                rate_headers.push((header::RETRY_AFTER, secs.max(1)));
            }
        }
        let mut r = Response::new(Bytes::from(body));
        *r.status_mut() =
            StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = r.headers_mut();
        let content_type = if reply.ok && d.has(Defect::WrongContentType) {
            HeaderValue::from_static("text/html; charset=utf-8")
        } else {
            JSON
        };
        h.insert(header::CONTENT_TYPE, content_type);
        for (name, value) in rate_headers {
            h.insert(name, HeaderValue::from(value));
        }
        self.vary(h);
        if let Some(origin) = cors {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
            if !d.has(Defect::NoExposeHeaders) && (reply.ok || !d.has(Defect::NoExposeOnErrors)) {
                self.list_header(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSED);
            }
        }
        r
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `rate-headers-in-body` defect: the values as keys of the JSON body.
fn with_body_keys(body: &[u8], limit: u64, remaining: u64, reset: u64) -> Vec<u8> {
    let mut v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.insert("X-RateLimit-Limit".into(), limit.into());
        o.insert("X-RateLimit-Remaining".into(), remaining.into());
        o.insert("X-RateLimit-Reset".into(), reset.into());
    }
    serde_json::to_vec(&v).unwrap_or_default()
}
