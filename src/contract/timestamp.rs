//! Server timestamps as the contract defines them: naive server-local strings
//! `YYYY-MM-DD HH:MM:SS.ffffff`, fraction optional. A client must echo the exact
//! string back as `after=` (POLL-4), so the raw text is kept beside the parsed
//! value and never re-rendered from it.

use std::cmp::Ordering;
use std::fmt;

use chrono::NaiveDateTime;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `creation` value: the exact string the server sent and its parsed value.
#[derive(Clone)]
pub struct Timestamp {
    raw: String,
    value: NaiveDateTime,
}

/// Why a string is not a contract timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a timestamp of the form YYYY-MM-DD HH:MM:SS[.ffffff]")]
pub struct TimestampError {
    /// The offending input, cut to 64 characters.
    pub input: String,
}

/// The space-separated form servers send.
pub const FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";
const ISO_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.f";

impl Timestamp {
    /// Parses the server form (`2024-01-02 03:04:05.123456`) or the ISO form with
    /// `T` (what the reference mobile client sends back). No zone is allowed.
    pub fn parse(raw: &str) -> Result<Self, TimestampError> {
        let value = NaiveDateTime::parse_from_str(raw, FORMAT)
            .or_else(|_| NaiveDateTime::parse_from_str(raw, ISO_FORMAT))
            .map_err(|_| TimestampError {
                input: raw.chars().take(64).collect(),
            })?;
        Ok(Self {
            raw: raw.to_owned(),
            value,
        })
    }

    /// Builds a timestamp rendered the way the reference server renders them:
    /// always six fraction digits.
    pub fn from_value(value: NaiveDateTime) -> Self {
        Self {
            raw: value.format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
            value,
        }
    }

    /// The exact text the server sent.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The parsed value, for ordering and arithmetic between server timestamps
    /// (never against the local clock: server time is naive and local to it).
    pub fn value(&self) -> NaiveDateTime {
        self.value
    }

    /// The same string with `T` in place of the separating space, fraction
    /// unchanged (POLL-4b, the mobile client's form).
    pub fn to_iso(&self) -> String {
        match self.raw.find(' ') {
            Some(i) => format!("{}T{}", &self.raw[..i], &self.raw[i + 1..]),
            None => self.raw.clone(),
        }
    }
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Timestamp {}
impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value.cmp(&other.value)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Timestamp::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_microseconds_and_exact_text() {
        let t = Timestamp::parse("2024-03-05 14:07:09.000120").unwrap();
        assert_eq!(t.as_str(), "2024-03-05 14:07:09.000120");
        assert_eq!(t.value().and_utc().timestamp_subsec_micros(), 120);
    }

    #[test]
    fn fraction_may_be_missing() {
        let t = Timestamp::parse("2024-03-05 14:07:09").unwrap();
        assert_eq!(t.value().and_utc().timestamp_subsec_micros(), 0);
        assert_eq!(t.as_str(), "2024-03-05 14:07:09");
    }

    #[test]
    fn iso_form_parses_and_orders_with_the_space_form() {
        let a = Timestamp::parse("2024-03-05T14:07:09.500000").unwrap();
        let b = Timestamp::parse("2024-03-05 14:07:09.500000").unwrap();
        assert_eq!(a, b);
        assert_eq!(b.to_iso(), "2024-03-05T14:07:09.500000");
    }

    #[test]
    fn round_trip_is_exact_for_short_fractions() {
        // A server may send fewer digits; echoing must not "fix" them.
        let t = Timestamp::parse("2024-03-05 14:07:09.5").unwrap();
        assert_eq!(t.to_string(), "2024-03-05 14:07:09.5");
        let json = serde_json::to_string(&t).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_str(), t.as_str());
    }

    #[test]
    fn from_value_renders_six_digits() {
        let v = NaiveDateTime::parse_from_str("2024-03-05 14:07:09", FORMAT).unwrap();
        assert_eq!(
            Timestamp::from_value(v).as_str(),
            "2024-03-05 14:07:09.000000"
        );
    }

    #[test]
    fn rejects_garbage_and_zones() {
        for bad in [
            "",
            "garbage",
            "2024-13-01 00:00:00",
            "2024-03-05 14:07:09+02:00",
            "2024-03-05Z14:07:09",
        ] {
            assert!(Timestamp::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ordering_uses_value_not_text() {
        let a = Timestamp::parse("2024-03-05 14:07:09.9").unwrap();
        let b = Timestamp::parse("2024-03-05 14:07:09.100000").unwrap();
        assert!(b < a);
    }
}
