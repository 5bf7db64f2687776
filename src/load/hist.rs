//! HDR histograms of microseconds, serialised so that runs on several
//! machines merge exactly later: percentiles for people, and the histogram
//! itself (HdrHistogram's V2 format, deflate-free, base64) for tools.

use std::time::Duration;

use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use hdrhistogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Highest value tracked: one hour in microseconds (larger values saturate).
const HIGHEST_US: u64 = 3_600_000_000;

/// A histogram of durations in microseconds.
#[derive(Debug, Clone)]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    pub fn new() -> Hist {
        // Three significant digits: 0.1% resolution at every magnitude.
        Hist(Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static bounds are valid"))
    }

    pub fn record(&mut self, d: Duration) {
        self.record_us(d.as_micros().min(HIGHEST_US as u128) as u64);
    }

    pub fn record_us(&mut self, us: u64) {
        self.0.saturating_record(us.clamp(1, HIGHEST_US));
    }

    pub fn add(&mut self, other: &Hist) {
        // Same bounds on both sides: addition cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    /// The V2 serialisation, base64.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        match V2Serializer::new().serialize(&self.0, &mut buf) {
            Ok(_) => base64::engine::general_purpose::STANDARD.encode(buf),
            Err(_) => String::new(),
        }
    }

    pub fn decode(s: &str) -> Result<Hist, String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("histogram is not base64: {e}"))?;
        let h: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| format!("histogram does not decode: {e:?}"))?;
        let mut out = Hist::new();
        out.0
            .add(&h)
            .map_err(|e| format!("histogram out of range: {e:?}"))?;
        Ok(out)
    }

    pub fn summary(&self) -> HistSummary {
        let h = &self.0;
        let empty = h.is_empty();
        let q = |q: f64| if empty { 0 } else { h.value_at_quantile(q) };
        HistSummary {
            count: h.len(),
            min_us: if empty { 0 } else { h.min() },
            mean_us: if empty {
                0.0
            } else {
                (h.mean() * 10.0).round() / 10.0
            },
            p50_us: q(0.50),
            p90_us: q(0.90),
            p95_us: q(0.95),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if empty { 0 } else { h.max() },
            hdr: self.encode(),
        }
    }
}

/// Percentiles of one histogram in microseconds, and the histogram itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct HistSummary {
    /// Number of recorded values.
    pub count: u64,
    /// Smallest value, µs (0 when empty).
    pub min_us: u64,
    /// Mean, µs, rounded to 0.1 (0 when empty).
    #[schemars(range(min = 0))]
    pub mean_us: f64,
    /// Median, µs (0 when empty).
    pub p50_us: u64,
    /// 90th percentile, µs.
    pub p90_us: u64,
    /// 95th percentile, µs.
    pub p95_us: u64,
    /// 99th percentile, µs.
    pub p99_us: u64,
    /// 99.9th percentile, µs.
    pub p999_us: u64,
    /// Largest value, µs (values saturate at one hour).
    pub max_us: u64,
    /// The whole histogram (µs, 1 µs to one hour, 3 significant digits) as an
    /// uncompressed HdrHistogram V2 serialisation in standard base64 (its
    /// cookie, 0x1c849313, makes it begin with `HISTEw`): add these to merge
    /// runs exactly.
    #[schemars(
        pattern("^HISTEw[A-Za-z0-9+/]*={0,2}$"),
        extend("contentEncoding" = "base64")
    )]
    pub hdr: String,
}

impl HistSummary {
    /// The value at quantile `q` from the serialised histogram (exact, unlike
    /// the rounded fields).
    pub fn quantile_us(&self, q: f64) -> u64 {
        Hist::decode(&self.hdr).map_or(0, |h| h.quantile_us(q))
    }
}

/// `1.23 ms`, `850 µs`, `2.4 s` for people.
pub(crate) fn human_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2} s", us as f64 / 1e6)
    } else if us >= 1000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{us} µs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_merges_exactly() {
        let mut a = Hist::new();
        let mut b = Hist::new();
        let mut all = Hist::new();
        for i in 1..=1000u64 {
            let v = i * 37 % 5000 + 1;
            if i % 3 == 0 {
                a.record_us(v)
            } else {
                b.record_us(v)
            }
            all.record_us(v);
        }
        let mut merged = Hist::decode(&a.summary().hdr).unwrap();
        merged.add(&Hist::decode(&b.encode()).unwrap());
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert_eq!(merged.quantile_us(q), all.quantile_us(q));
        }
        assert_eq!(merged.len(), 1000);
    }

    #[test]
    fn empty_is_zero_and_huge_values_saturate() {
        let mut h = Hist::new();
        assert_eq!(h.summary().p99_us, 0);
        h.record(Duration::from_secs(10_000));
        assert!(h.quantile_us(1.0) >= HIGHEST_US);
        assert_eq!(human_us(1500), "1.5 ms");
    }
}
