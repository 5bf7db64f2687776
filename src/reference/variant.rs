//! Conforming variants: named switches that each change how the reference
//! server answers while staying within CONTRACT.md, the way real servers
//! differ from ours (slow, serial, 417 refusals, split header lines, extra
//! keys, closed connections, another time zone). They are not defects: the
//! whole conformance suite must pass on every one of them (exit 0; a SHOULD
//! the variant gives up, such as RL-4b for `refuse-417`, is reported
//! non-strict). Adding one is local: a line in the table below and one
//! `if core.variant(Variant::X)` where the behaviour lives.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::contract::Endpoint;

macro_rules! variants {
    ($($variant:ident = $name:literal, $desc:literal;)*) => {
        /// A conforming deviation from the reference server's own choices.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Variant {
            $(#[doc = $desc] $variant,)*
        }

        impl Variant {
            /// Every variant, in catalogue order.
            pub const ALL: &'static [Variant] = &[$(Variant::$variant,)*];

            /// The kebab-case name used by `--variant`.
            pub fn name(self) -> &'static str {
                match self { $(Variant::$variant => $name,)* }
            }

            /// What the server does differently, in one sentence.
            pub fn description(self) -> &'static str {
                match self { $(Variant::$variant => $desc,)* }
            }
        }
    };
}

variants! {
    Latency = "latency", "every request is held for the configured latency (300 ms unless --latency says otherwise) before it is handled";
    Serial = "serial", "one request at a time: a global lock around the whole handling (with latency, one answer per latency)";
    Refuse417 = "refuse-417", "refusals are 417 ValidationError with X-RateLimit headers (Remaining 0) but no Retry-After: RL-4 is met, the RL-4b SHOULD is not";
    SplitListHeaders = "split-list-headers", "Vary, Access-Control-Expose-Headers, -Allow-Headers and -Allow-Methods are sent as several header lines, one item each (RFC 9110 list fields)";
    ExtraKeys = "extra-keys", "every JSON object carries keys the contract does not name (owner, modified, docstatus, last_password_reset_date, exc, ...), and get_users also lists an Administrator";
    ConnectionClose = "connection-close", "every answer carries Connection: close and the connection is closed after it";
    LocalZone = "local-zone", "timestamps are naive local time of a UTC+05:30 zone from a clock that ticks in whole seconds (later stamps of a second 1 us apart), with the fraction omitted when it is zero";
}

/// The latency of the `latency` variant when none is configured.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(300);

/// The `local-zone` variant's offset from UTC: +05:30, in seconds.
pub(crate) const LOCAL_ZONE_OFFSET_SECS: i64 = 5 * 3600 + 30 * 60;

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown variant {0:?} (see --list-variants)")]
pub struct UnknownVariant(pub String);

impl FromStr for Variant {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Variant::ALL
            .iter()
            .copied()
            .find(|v| v.name() == s)
            .ok_or_else(|| UnknownVariant(s.to_owned()))
    }
}

/// The switched-on variants as a bit set: looked up on every request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct VariantSet(u32);

impl VariantSet {
    pub fn from_iter<'a>(variants: impl IntoIterator<Item = &'a Variant>) -> Self {
        let mut bits = 0u32;
        for v in variants {
            bits |= 1 << (*v as u32);
        }
        VariantSet(bits)
    }

    #[inline]
    pub fn has(self, v: Variant) -> bool {
        self.0 & (1 << (v as u32)) != 0
    }
}

/// The `local-zone` clock: UTC+05:30 in whole seconds, every stamp it hands
/// out strictly later than the previous one (by 1 us within a second), so
/// that the first stamp of each second has a zero fraction.
#[derive(Debug, Default)]
pub(crate) struct CoarseClock {
    last: AtomicI64,
}

impl CoarseClock {
    /// Microseconds of the naive local time.
    pub fn now_micros(&self) -> i64 {
        let utc = chrono::Utc::now().timestamp();
        let second = (utc + LOCAL_ZONE_OFFSET_SECS) * 1_000_000;
        self.next_after(second)
    }

    fn next_after(&self, second: i64) -> i64 {
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = second.max(prev + 1);
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(p) => prev = p,
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]`: the fraction only when it is not zero
/// (what Python's `str(datetime)` does).
pub(crate) fn render_short(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) if micros.rem_euclid(1_000_000) == 0 => {
            t.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string()
        }
        Some(t) => t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => String::from("1970-01-01 00:00:00"),
    }
}

/// The `extra-keys` variant: adds keys a Frappe server might send to every
/// object of a JSON body (the envelope, each object under `message`, error
/// envelopes) and an Administrator to get_users. Bodies that are not JSON
/// objects are left alone.
pub(crate) fn with_extra_keys(body: &[u8], endpoint: Option<Endpoint>, ok: bool) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let Some(top) = v.as_object_mut() else {
        return body.to_vec();
    };
    top.insert("_debug_messages".into(), Value::String("[]".into()));
    if !ok {
        let exc_type = top
            .get("exc_type")
            .and_then(Value::as_str)
            .unwrap_or("Exception")
            .to_owned();
        let trace = format!(
            "Traceback (most recent call last):\n  File \"apps/frappe/frappe/app.py\", line 114, in application\nfrappe.exceptions.{exc_type}"
        );
        top.insert(
            "exc".into(),
            Value::String(serde_json::to_string(&vec![trace]).unwrap_or_default()),
        );
        top.insert("_exc_source".into(), Value::String("frappe_chat".into()));
    }
    if let Some(message) = top.get_mut("message") {
        if endpoint == Some(Endpoint::GetUsers) {
            if let Some(list) = message.as_array_mut() {
                list.push(serde_json::json!({
                    "name": "Administrator",
                    "full_name": "Administrator",
                    "email": "admin@example.com",
                }));
            }
        }
        decorate(message, endpoint);
    }
    serde_json::to_vec(&v).unwrap_or_else(|_| body.to_vec())
}

fn decorate(v: &mut Value, endpoint: Option<Endpoint>) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|i| decorate(i, endpoint)),
        Value::Object(o) => add_keys(o, endpoint),
        _ => {}
    }
}

fn add_keys(o: &mut Map<String, Value>, endpoint: Option<Endpoint>) {
    let put = |o: &mut Map<String, Value>, k: &str, v: Value| {
        if !o.contains_key(k) {
            o.insert(k.to_owned(), v);
        }
    };
    put(o, "owner", Value::String("Administrator".into()));
    put(o, "docstatus", Value::from(0));
    put(o, "idx", Value::from(0));
    put(
        o,
        "modified",
        Value::String("2024-01-01 00:00:00.000000".into()),
    );
    match endpoint {
        Some(Endpoint::GetUsers | Endpoint::Login | Endpoint::Signup) => {
            put(
                o,
                "last_password_reset_date",
                Value::String("2024-01-01".into()),
            );
            put(o, "user_type", Value::String("System User".into()));
            put(o, "enabled", Value::from(1));
            put(o, "home_page", Value::String("/app".into()));
        }
        Some(Endpoint::GetMessages | Endpoint::SendMessage) => {
            put(o, "doctype", Value::String("Chat Message".into()));
            put(o, "is_edited", Value::from(0));
        }
        Some(Endpoint::GetChats) => {
            put(o, "doctype", Value::String("Chat Room".into()));
            put(o, "unread_count", Value::from(0));
        }
        Some(Endpoint::GetChatParticipants) => {
            put(o, "doctype", Value::String("Chat Participant".into()));
            put(o, "parent", Value::String("Chat Room".into()));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_and_round_trip() {
        assert!(Variant::ALL.len() <= 32, "VariantSet holds 32");
        let mut seen = std::collections::BTreeSet::new();
        for v in Variant::ALL {
            assert!(seen.insert(v.name()), "duplicate {}", v.name());
            assert!(v
                .name()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            assert_eq!(v.name().parse::<Variant>().unwrap(), *v);
            assert!(!v.description().is_empty());
            assert!(
                v.name().parse::<super::super::Defect>().is_err(),
                "{} is also a defect's name",
                v.name()
            );
        }
        assert!("nope".parse::<Variant>().is_err());
        let s = VariantSet::from_iter(&[Variant::Serial, Variant::LocalZone]);
        assert!(s.has(Variant::Serial) && s.has(Variant::LocalZone));
        assert!(!s.has(Variant::Latency));
    }

    #[test]
    fn the_coarse_clock_strictly_increases_and_starts_seconds_at_zero() {
        let c = CoarseClock::default();
        let s = 1_700_000_000 * 1_000_000;
        assert_eq!(c.next_after(s), s);
        assert_eq!(c.next_after(s), s + 1);
        assert_eq!(c.next_after(s), s + 2);
        assert_eq!(c.next_after(s + 1_000_000), s + 1_000_000);
        assert_eq!(render_short(s + 1_000_000), "2023-11-14 22:13:21");
        assert_eq!(render_short(s + 2), "2023-11-14 22:13:20.000002");
        let now = c.now_micros();
        assert!(c.now_micros() > now);
        let local = render_short(now);
        assert!(crate::contract::Timestamp::parse(&local).is_ok(), "{local}");
    }

    #[test]
    fn extra_keys_reach_every_object_and_add_an_administrator() {
        let body = br#"{"message":[{"name":"a@x","full_name":"A","email":"a@x"}]}"#;
        let out: Value =
            serde_json::from_slice(&with_extra_keys(body, Some(Endpoint::GetUsers), true)).unwrap();
        let users = out["message"].as_array().unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users[1]["name"], "Administrator");
        for u in users {
            assert_eq!(u["last_password_reset_date"], "2024-01-01");
        }
        assert_eq!(out["_debug_messages"], "[]");
        let err = crate::contract::envelope::error_body("PermissionError", "no");
        let err = serde_json::to_vec(&err).unwrap();
        let out: Value =
            serde_json::from_slice(&with_extra_keys(&err, Some(Endpoint::GetChats), false))
                .unwrap();
        let exc: Vec<String> = serde_json::from_str(out["exc"].as_str().unwrap()).unwrap();
        assert!(exc[0].ends_with("PermissionError"));
        assert_eq!(out["exc_type"], "PermissionError");
        assert_eq!(with_extra_keys(b"not json", None, true), b"not json");
    }
}
