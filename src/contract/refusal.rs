//! Did the rate limiter refuse this request? One answer, used by `check`,
//! `limits`, `load` and `provision` alike.
//!
//! RL-4 (MUST) says a request over the limit is refused with a 4xx; only the
//! form (429 with `Retry-After`, RL-4b) is a SHOULD. Real deployments refuse
//! with 417 `ValidationError` and put the rate-limit values in the JSON body,
//! so pacing can never wait for the SHOULD form. An answer is a refusal when
//! it is a 429, or a 4xx that says it is one:
//!
//! - a `Retry-After` header;
//! - an exception class naming a rate limit (`TooManyRequestsError`,
//!   `RateLimitExceeded`, ...), or a `message`, `exception` or
//!   `_server_messages` text that speaks of a rate limit or too many requests;
//! - `Remaining` 0, in the `X-RateLimit-Remaining` header or as a same-named
//!   key of the JSON body, unless the envelope names another error class that
//!   fits the status (a 403 `PermissionError` that spent the last unit is the
//!   answer to that request, not a refusal).
//!
//! The last rule can misread one answer: a 417 `ValidationError` of the
//! request that spent the last unit. Callers that pace on refusals re-send
//! after waiting, so such a misreading costs a wait, never a verdict.
//!
//! How the refusal was expressed (status, signals, where the values were) is
//! kept in [`Refusal`] for RL-1, RL-4b and the limits report.

use http::HeaderMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::envelope::ErrorEnvelope;
use super::ratelimit::{Field, RateLimitInfo};

/// Where the server put the rate-limit values of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValuesIn {
    /// `X-RateLimit-*` headers (the contract's form).
    Headers,
    /// Only as keys of the JSON body.
    Body,
    /// Nowhere.
    Nowhere,
}

impl ValuesIn {
    pub fn describe(self) -> &'static str {
        match self {
            ValuesIn::Headers => "in the headers",
            ValuesIn::Body => "only in the JSON body",
            ValuesIn::Nowhere => "nowhere",
        }
    }
}

/// One sign that an answer is a refusal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "sign", content = "detail", rename_all = "snake_case")]
pub enum Sign {
    /// HTTP 429.
    Status429,
    /// A `Retry-After` header (any value).
    RetryAfter,
    /// An exception class naming a rate limit.
    Exception(String),
    /// A message speaking of a rate limit, cut to 120 bytes.
    Message(String),
    /// Remaining 0 in the `X-RateLimit-Remaining` header.
    RemainingZeroHeader,
    /// Remaining 0 as a key of the JSON body.
    RemainingZeroBody,
}

impl Sign {
    pub fn describe(&self) -> String {
        match self {
            Sign::Status429 => "HTTP 429".into(),
            Sign::RetryAfter => "a Retry-After header".into(),
            Sign::Exception(t) => format!("exception {t}"),
            Sign::Message(m) => format!("message {m:?}"),
            Sign::RemainingZeroHeader => "X-RateLimit-Remaining 0".into(),
            Sign::RemainingZeroBody => "Remaining 0 in the JSON body".into(),
        }
    }
}

/// A refusal by the rate limiter, and the form it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refusal {
    pub status: u16,
    /// Why it reads as a refusal, strongest first (never empty).
    pub signs: Vec<Sign>,
    /// Where the rate-limit values were.
    pub values_in: ValuesIn,
    /// `Retry-After` in seconds, when present and numeric.
    pub retry_after: Option<u64>,
    /// The rate-limit values, the body's standing in for missing headers.
    pub rate: RateLimitInfo,
}

impl Refusal {
    /// Whether this is the contract's SHOULD form (RL-4b): 429 with a
    /// numeric `Retry-After`.
    pub fn is_preferred_form(&self) -> bool {
        self.status == 429 && self.retry_after.is_some()
    }

    /// How long to wait before the bucket has room again: `Retry-After`,
    /// else `Reset` (header or body, delta or epoch), else the whole window;
    /// never more than the window plus one second.
    pub fn wait_seconds(&self, window_seconds: u64) -> u64 {
        self.retry_after
            .or_else(|| self.rate.seconds_until_reset(window_seconds))
            .unwrap_or(window_seconds)
            .min(window_seconds + 1)
    }

    /// One line for reports: `HTTP 417 (exception ValidationError, Remaining
    /// 0 in the JSON body), values only in the JSON body, no Retry-After`.
    pub fn describe(&self) -> String {
        let signs: Vec<String> = self
            .signs
            .iter()
            .filter(|s| **s != Sign::Status429)
            .map(Sign::describe)
            .collect();
        let mut out = format!("HTTP {}", self.status);
        if !signs.is_empty() {
            out.push_str(&format!(" ({})", signs.join(", ")));
        }
        out.push_str(&format!(
            ", rate-limit values {}",
            self.values_in.describe()
        ));
        match self.retry_after {
            Some(s) => out.push_str(&format!(", Retry-After {s}")),
            None if matches!(self.rate.retry_after, Field::Invalid(_)) => {
                out.push_str(", Retry-After not in seconds")
            }
            None => out.push_str(", no Retry-After"),
        }
        out
    }
}

/// Classifies a whole answer (status, headers, body).
pub fn classify(status: u16, headers: &HeaderMap, body: &[u8]) -> Option<Refusal> {
    if !(400..500).contains(&status) {
        return None;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let raw = RateLimitInfo::from_response(headers, json.as_ref());
    let rate = raw.with_body_values();
    let values_in = if !raw.is_absent() {
        ValuesIn::Headers
    } else if !rate.is_absent() {
        ValuesIn::Body
    } else {
        ValuesIn::Nowhere
    };
    let header_zero = raw.remaining == Field::Value(0);
    let body_zero = !header_zero && rate.remaining == Field::Value(0);
    let signs = signs(
        status,
        header_zero,
        body_zero,
        !raw.retry_after.is_missing(),
        json.as_ref(),
    );
    if signs.is_empty() {
        return None;
    }
    Some(Refusal {
        status,
        signs,
        values_in,
        retry_after: raw.retry_after.value(),
        rate,
    })
}

/// The cheap form for the load generator's hot path: only the status, the
/// `Remaining` header, whether `Retry-After` was sent and the body (parsed
/// only for a 4xx that is not a 429).
pub fn is_refusal(
    status: u16,
    remaining_header: Option<u64>,
    retry_after: bool,
    body: &[u8],
) -> bool {
    if status == 429 {
        return true;
    }
    if !(400..500).contains(&status) {
        return false;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let body_zero = remaining_header.is_none()
        && json
            .as_ref()
            .and_then(|v| super::ratelimit::body_value(v, "remaining"))
            == Some(0);
    !signs(
        status,
        remaining_header == Some(0),
        body_zero,
        retry_after,
        json.as_ref(),
    )
    .is_empty()
}

/// The error classes that, when they fit the status, make an answer the
/// request's own failure rather than a refusal.
const OWN_FAILURES: &[(&str, u16)] = &[
    ("AuthenticationError", 401),
    ("PermissionError", 403),
    ("DoesNotExistError", 404),
    ("DuplicateEntryError", 409),
    ("MandatoryError", 417),
];

fn signs(
    status: u16,
    header_zero: bool,
    body_zero: bool,
    retry_after: bool,
    json: Option<&Value>,
) -> Vec<Sign> {
    let mut out = Vec::new();
    if status == 429 {
        out.push(Sign::Status429);
    }
    if retry_after {
        out.push(Sign::RetryAfter);
    }
    let env = json.and_then(ErrorEnvelope::from_value);
    let mut own_failure = false;
    if let Some(env) = &env {
        let t = squash(&env.exc_type);
        if t.contains("ratelimit") || t.contains("toomanyrequests") {
            out.push(Sign::Exception(cut(&env.exc_type)));
        } else {
            own_failure = OWN_FAILURES
                .iter()
                .any(|(class, s)| *s == status && env.exc_type == *class);
        }
        let texts = env
            .message
            .iter()
            .chain(env.exception.iter())
            .chain(env.server_messages.iter());
        for text in texts {
            if speaks_of_rate_limit(text) {
                out.push(Sign::Message(cut(text)));
                break;
            }
        }
    }
    let strong = !out.is_empty();
    if header_zero && (strong || !own_failure) {
        out.push(Sign::RemainingZeroHeader);
    }
    if body_zero && (strong || !own_failure) {
        out.push(Sign::RemainingZeroBody);
    }
    out
}

fn speaks_of_rate_limit(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("rate limit")
        || t.contains("rate-limit")
        || t.contains("ratelimit")
        || t.contains("too many requests")
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn cut(s: &str) -> String {
    if s.len() > 120 {
        format!("{}…", &s[..s.floor_char_boundary(120)])
    } else {
        s.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::ratelimit::header_map as headers;

    #[test]
    fn the_contract_form_is_a_refusal_in_the_preferred_form() {
        let h = headers(&[
            ("X-RateLimit-Limit", "5"),
            ("X-RateLimit-Remaining", "0"),
            ("X-RateLimit-Reset", "12"),
            ("Retry-After", "12"),
        ]);
        let body = br#"{"exc_type":"TooManyRequestsError","exception":"frappe.exceptions.TooManyRequestsError"}"#;
        let r = classify(429, &h, body).expect("a refusal");
        assert!(r.is_preferred_form());
        assert_eq!(r.values_in, ValuesIn::Headers);
        assert_eq!(r.wait_seconds(60), 12);
        assert_eq!(r.signs[0], Sign::Status429);
        assert!(is_refusal(429, Some(0), true, body));
    }

    #[test]
    fn a_417_with_the_values_in_the_body_is_a_refusal() {
        let body = br#"{"exc_type":"ValidationError","X-RateLimit-Limit":5,"X-RateLimit-Remaining":0,"X-RateLimit-Reset":40}"#;
        let r = classify(417, &HeaderMap::new(), body).expect("a refusal");
        assert!(!r.is_preferred_form());
        assert_eq!(r.values_in, ValuesIn::Body);
        assert_eq!(r.signs, vec![Sign::RemainingZeroBody]);
        assert_eq!(r.rate.limit, Field::Value(5));
        assert_eq!(r.wait_seconds(60), 40);
        assert_eq!(
            r.describe(),
            "HTTP 417 (Remaining 0 in the JSON body), rate-limit values only in the JSON body, no Retry-After"
        );
        assert!(is_refusal(417, None, false, body));
    }

    #[test]
    fn a_message_or_exception_class_alone_is_enough() {
        let body = br#"{"exc_type":"ValidationError","message":"Rate limit exceeded"}"#;
        let r = classify(417, &HeaderMap::new(), body).expect("a refusal");
        assert_eq!(r.values_in, ValuesIn::Nowhere);
        assert_eq!(r.wait_seconds(60), 60, "no hint: the whole window");
        let sm = serde_json::json!({
            "exc_type": "ValidationError",
            "_server_messages": serde_json::to_string(&vec![
                serde_json::json!({"message": "Too many requests, try later"}).to_string()
            ]).unwrap()
        })
        .to_string();
        assert!(classify(417, &HeaderMap::new(), sm.as_bytes()).is_some());
        let exc = br#"{"exc_type":"RateLimitExceededError"}"#;
        assert!(matches!(
            classify(403, &HeaderMap::new(), exc).unwrap().signs[0],
            Sign::Exception(_)
        ));
        let retry = headers(&[("Retry-After", "3")]);
        assert_eq!(classify(400, &retry, b"").unwrap().wait_seconds(60), 3);
    }

    #[test]
    fn ordinary_errors_are_not_refusals() {
        let none = HeaderMap::new();
        for (status, body) in [
            (403, &br#"{"exc_type":"PermissionError"}"#[..]),
            (404, br#"{"exc_type":"DoesNotExistError"}"#),
            (
                417,
                br#"{"exc_type":"ValidationError","message":"Direct chats have two"}"#,
            ),
            (401, b"not json"),
        ] {
            assert_eq!(classify(status, &none, body), None, "{status}");
            assert!(!is_refusal(status, None, false, body), "{status}");
        }
        // 2xx and 5xx never are, whatever they carry.
        let zero = headers(&[("X-RateLimit-Remaining", "0"), ("Retry-After", "1")]);
        assert_eq!(classify(200, &zero, b"{}"), None);
        assert_eq!(classify(503, &zero, b"{}"), None);
        assert!(!is_refusal(503, Some(0), true, b""));
    }

    #[test]
    fn remaining_zero_on_the_requests_own_failure_is_not_a_refusal() {
        // The request that spent the last unit was itself forbidden.
        let zero = headers(&[("X-RateLimit-Remaining", "0")]);
        let forbidden = br#"{"exc_type":"PermissionError"}"#;
        assert_eq!(classify(403, &zero, forbidden), None);
        assert!(!is_refusal(403, Some(0), false, forbidden));
        // With no class that explains it, Remaining 0 on a 4xx is a refusal.
        assert!(classify(400, &zero, b"").is_some());
        assert!(classify(417, &zero, br#"{"exc_type":"ValidationError"}"#).is_some());
        // A 401 never is on Remaining 0 alone when it says it is an auth failure.
        assert!(!is_refusal(
            401,
            Some(0),
            false,
            br#"{"exc_type":"AuthenticationError"}"#
        ));
    }
}
