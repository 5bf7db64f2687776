//! Rate-limit information of one response (RL-1..RL-5): the three
//! `X-RateLimit-*` headers, `Retry-After` and `Date`. Values are kept as the
//! server sent them when they do not parse, and when an expected header is
//! missing the places where look-alike data appeared (a JSON key of the same
//! name in the body, a differently spelled header) are recorded so that a
//! report can say what the server did instead.

use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const LIMIT: &str = "x-ratelimit-limit";
pub const REMAINING: &str = "x-ratelimit-remaining";
pub const RESET: &str = "x-ratelimit-reset";
pub const RETRY_AFTER: &str = "retry-after";

/// One header as seen: missing, not a non-negative integer, or a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", content = "value", rename_all = "snake_case")]
pub enum Field {
    Missing,
    /// Present but not a non-negative integer (or present more than once);
    /// the raw text, cut to 80 bytes.
    Invalid(String),
    Value(u64),
}

impl Field {
    pub fn value(&self) -> Option<u64> {
        match self {
            Field::Value(v) => Some(*v),
            _ => None,
        }
    }
    pub fn is_missing(&self) -> bool {
        matches!(self, Field::Missing)
    }
    /// How a report shows it.
    pub fn describe(&self) -> String {
        match self {
            Field::Missing => "missing".into(),
            Field::Invalid(raw) => format!("invalid ({raw:?})"),
            Field::Value(v) => v.to_string(),
        }
    }
}

/// Somewhere rate-limit data appeared other than the expected header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookAlike {
    /// Which expected header it stands in for, e.g. `x-ratelimit-limit`.
    pub expected: String,
    /// Where it was found, e.g. `body key "message.X-RateLimit-Limit"` or
    /// `header "ratelimit-limit"`.
    pub found_in: String,
    /// The value found there, as text.
    pub value: String,
}

/// How `X-RateLimit-Reset` reads against `Date` (RL-5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "form", rename_all = "snake_case")]
pub enum ResetForm {
    /// Seconds until capacity returns.
    Delta { seconds: u64 },
    /// A Unix time; `seconds_after_date` is its distance from `Date`.
    Epoch { at: u64, seconds_after_date: i64 },
    /// Neither reading fits (too large for a delta, outside the window around
    /// `Date` for an epoch, or no `Date` to judge an epoch by).
    Inconsistent { value: u64, reason: String },
}

/// The rate-limit facts of one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitInfo {
    pub limit: Field,
    pub remaining: Field,
    pub reset: Field,
    pub retry_after: Field,
    /// The `Date` header, parsed.
    pub date: Option<DateTime<Utc>>,
    pub lookalikes: Vec<LookAlike>,
}

impl RateLimitInfo {
    /// Reads the headers and, for missing ones, looks for look-alikes in the
    /// headers and in the JSON body.
    pub fn from_response(headers: &HeaderMap, body: Option<&Value>) -> RateLimitInfo {
        let mut info = RateLimitInfo {
            limit: field(headers, LIMIT),
            remaining: field(headers, REMAINING),
            reset: field(headers, RESET),
            retry_after: field(headers, RETRY_AFTER),
            date: headers
                .get(http::header::DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| httpdate::parse_http_date(s).ok())
                .map(DateTime::<Utc>::from),
            lookalikes: Vec::new(),
        };
        for (name, f) in [
            (LIMIT, &info.limit),
            (REMAINING, &info.remaining),
            (RESET, &info.reset),
        ] {
            if f.is_missing() {
                let suffix = &name["x-ratelimit-".len()..];
                find_header_lookalikes(headers, name, suffix, &mut info.lookalikes);
                if let Some(body) = body {
                    find_body_lookalikes(body, name, suffix, "", 0, &mut info.lookalikes);
                }
            }
        }
        info
    }

    /// True when none of the three headers is present.
    pub fn is_absent(&self) -> bool {
        self.limit.is_missing() && self.remaining.is_missing() && self.reset.is_missing()
    }

    /// Interprets Reset against `Date` and the window (RL-5): at most
    /// window + 1 is a delta; a larger value must be an epoch within
    /// [Date - 1, Date + window + 1].
    pub fn reset_form(&self, window_seconds: u64) -> Option<ResetForm> {
        let value = self.reset.value()?;
        if value <= window_seconds + 1 {
            return Some(ResetForm::Delta { seconds: value });
        }
        let Some(date) = self.date else {
            return Some(ResetForm::Inconsistent {
                value,
                reason: "larger than the window, and no Date header to read it as an epoch".into(),
            });
        };
        let offset = i64::try_from(value).unwrap_or(i64::MAX) - date.timestamp();
        if (-1..=window_seconds as i64 + 1).contains(&offset) {
            Some(ResetForm::Epoch {
                at: value,
                seconds_after_date: offset,
            })
        } else {
            Some(ResetForm::Inconsistent {
                value,
                reason: format!(
                    "larger than the window ({window_seconds} s) for a delta, and {offset} s from Date for an epoch"
                ),
            })
        }
    }

    /// Seconds until capacity returns, whichever form the server used.
    pub fn seconds_until_reset(&self, window_seconds: u64) -> Option<u64> {
        match self.reset_form(window_seconds)? {
            ResetForm::Delta { seconds } => Some(seconds),
            ResetForm::Epoch {
                seconds_after_date, ..
            } => Some(seconds_after_date.max(0) as u64),
            ResetForm::Inconsistent { .. } => None,
        }
    }
}

impl RateLimitInfo {
    /// A copy in which every missing header is filled from a same-named key
    /// of the JSON body that holds a non-negative integer (servers that put
    /// the values in the body); the look-alikes stay as they were.
    pub fn with_body_values(&self) -> RateLimitInfo {
        let mut out = self.clone();
        for (name, slot) in [
            (LIMIT, &mut out.limit),
            (REMAINING, &mut out.remaining),
            (RESET, &mut out.reset),
        ] {
            if !slot.is_missing() {
                continue;
            }
            let found = self.lookalikes.iter().find_map(|l| {
                (l.expected == name && l.found_in.starts_with("body key"))
                    .then(|| l.value.trim().parse::<u64>().ok())
                    .flatten()
            });
            if let Some(v) = found {
                *slot = Field::Value(v);
            }
        }
        out
    }
}

/// The value of the first key of `body` (searched as the look-alikes are)
/// that reads as `X-RateLimit-<suffix>` and holds a non-negative integer.
pub fn body_value(body: &Value, suffix: &str) -> Option<u64> {
    let mut found = Vec::new();
    let expected = format!("x-ratelimit-{suffix}");
    find_body_lookalikes(body, &expected, suffix, "", 0, &mut found);
    found
        .iter()
        .find_map(|l| l.value.trim().parse::<u64>().ok())
}

fn field(headers: &HeaderMap, name: &str) -> Field {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Field::Missing;
    };
    let raw = String::from_utf8_lossy(first.as_bytes());
    if values.next().is_some() {
        return Field::Invalid(cut(&format!("{raw} (header sent more than once)")));
    }
    match raw.trim().parse::<u64>() {
        Ok(v) => Field::Value(v),
        Err(_) => Field::Invalid(cut(&raw)),
    }
}

fn cut(s: &str) -> String {
    if s.len() > 80 {
        format!("{}…", &s[..s.floor_char_boundary(80)])
    } else {
        s.to_owned()
    }
}

/// Lower-case letters only: `X-Rate-Limit_Limit` and `ratelimitlimit` compare equal.
fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn is_lookalike(key: &str, suffix: &str) -> bool {
    let k = squash(key);
    k.contains("ratelimit") && k.ends_with(suffix)
}

fn find_header_lookalikes(
    headers: &HeaderMap,
    expected: &str,
    suffix: &str,
    out: &mut Vec<LookAlike>,
) {
    for (name, value) in headers {
        if name.as_str() != expected && is_lookalike(name.as_str(), suffix) {
            out.push(LookAlike {
                expected: expected.into(),
                found_in: format!("header {:?}", name.as_str()),
                value: cut(&String::from_utf8_lossy(value.as_bytes())),
            });
        }
    }
}

fn find_body_lookalikes(
    value: &Value,
    expected: &str,
    suffix: &str,
    path: &str,
    depth: usize,
    out: &mut Vec<LookAlike>,
) {
    // Bounded: a hostile body must not make this walk expensive.
    if depth > 4 || out.len() >= 16 {
        return;
    }
    if let Value::Object(map) = value {
        for (k, v) in map.iter().take(256) {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if is_lookalike(k, suffix) && !v.is_object() {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.push(LookAlike {
                    expected: expected.into(),
                    found_in: format!("body key {here:?}"),
                    value: cut(&text),
                });
            } else {
                find_body_lookalikes(v, expected, suffix, &here, depth + 1, out);
            }
        }
    }
}

/// A header map of `pairs`, repeated names appended (for tests).
#[cfg(test)]
pub(crate) fn header_map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

#[cfg(test)]
mod tests {
    use super::header_map as headers;
    use super::*;

    #[test]
    fn reads_headers_and_delta_reset() {
        let h = headers(&[
            ("X-RateLimit-Limit", "200"),
            ("X-RateLimit-Remaining", "199"),
            ("X-RateLimit-Reset", "60"),
            ("Date", "Tue, 05 Mar 2024 14:07:09 GMT"),
        ]);
        let info = RateLimitInfo::from_response(&h, None);
        assert_eq!(info.limit, Field::Value(200));
        assert_eq!(info.remaining, Field::Value(199));
        assert_eq!(info.retry_after, Field::Missing);
        assert_eq!(info.reset_form(60), Some(ResetForm::Delta { seconds: 60 }));
        assert_eq!(info.seconds_until_reset(60), Some(60));
        assert!(info.lookalikes.is_empty());
    }

    #[test]
    fn epoch_reset_is_judged_against_date() {
        // 2024-03-05 14:07:09 UTC = 1709647629
        let h = headers(&[
            ("X-RateLimit-Reset", "1709647659"),
            ("Date", "Tue, 05 Mar 2024 14:07:09 GMT"),
        ]);
        let info = RateLimitInfo::from_response(&h, None);
        assert_eq!(
            info.reset_form(60),
            Some(ResetForm::Epoch {
                at: 1709647659,
                seconds_after_date: 30
            })
        );
        assert_eq!(info.seconds_until_reset(60), Some(30));
        let far = headers(&[
            ("X-RateLimit-Reset", "1709657659"),
            ("Date", "Tue, 05 Mar 2024 14:07:09 GMT"),
        ]);
        let info = RateLimitInfo::from_response(&far, None);
        assert!(matches!(
            info.reset_form(60),
            Some(ResetForm::Inconsistent { .. })
        ));
        let no_date = headers(&[("X-RateLimit-Reset", "1709647659")]);
        let info = RateLimitInfo::from_response(&no_date, None);
        assert!(matches!(
            info.reset_form(60),
            Some(ResetForm::Inconsistent { .. })
        ));
    }

    #[test]
    fn invalid_and_duplicated_values_are_kept_raw() {
        let h = headers(&[
            ("X-RateLimit-Limit", "-5"),
            ("X-RateLimit-Remaining", "18446744073709551616"),
            ("X-RateLimit-Reset", "1"),
            ("X-RateLimit-Reset", "2"),
            ("Retry-After", "Tue, 05 Mar 2024 14:07:09 GMT"),
        ]);
        let info = RateLimitInfo::from_response(&h, None);
        assert_eq!(info.limit, Field::Invalid("-5".into()));
        assert!(matches!(info.remaining, Field::Invalid(_)));
        assert!(matches!(&info.reset, Field::Invalid(s) if s.contains("more than once")));
        assert!(matches!(info.retry_after, Field::Invalid(_)));
        assert_eq!(info.reset_form(60), None);
    }

    #[test]
    fn missing_headers_point_at_lookalikes() {
        let h = headers(&[("RateLimit-Remaining", "3")]);
        let body = serde_json::json!({
            "message": {"X-RateLimit-Limit": 200, "data": []},
            "x_ratelimit_reset": "60"
        });
        let info = RateLimitInfo::from_response(&h, Some(&body));
        assert!(info.is_absent());
        insta::assert_yaml_snapshot!(info.lookalikes);
    }
}
