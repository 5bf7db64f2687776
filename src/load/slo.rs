//! Service-level objectives on a run's summary: `--slo "delivery.p99<1s"
//! --slo "lost=0" --slo "errors<1%"`. A violated SLO makes the run exit 1,
//! so CI can gate on load.
//!
//! Metrics: `delivery.pNN` (delivery latency: send answered to first seen,
//! screen open), `catchup.pNN` (screen opened to first seen, for what was
//! sent while it was closed), `latency.pNN` (all requests),
//! `<endpoint>.pNN` (e.g. `get_messages.p99`), `lateness.pNN` (polls against
//! schedule), the counts `lost`, `lost_client_model`, `duplicated`,
//! `out_of_order`, `unconfirmed`, `refused` (unexpected refusals), and
//! `errors` (a count, or a share of requests with `%`). Percentiles: `p50`,
//! `p90`, `p99`, `p99.9`, `max`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::summary::Summary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    fn as_str(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ge => ">=",
            Op::Gt => ">",
        }
    }
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Lt => a < b,
            Op::Le => a <= b,
            Op::Eq => (a - b).abs() < 1e-9,
            Op::Ge => a >= b,
            Op::Gt => a > b,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "unit", content = "value", rename_all = "snake_case")]
pub enum Threshold {
    /// Microseconds.
    Duration(u64),
    Percent(f64),
    Count(f64),
}

/// One objective as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    pub text: String,
    pub metric: String,
    pub op: Op,
    pub threshold: Threshold,
}

/// An objective judged against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub slo: String,
    /// What was measured, in the objective's unit (µs, %, or a count).
    pub measured: Option<f64>,
    /// Measured in words.
    pub measured_text: String,
    pub held: bool,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

const COUNTS: [&str; 8] = [
    "lost",
    "late_visible",
    "lost_client_model",
    "duplicated",
    "out_of_order",
    "unconfirmed",
    "refused",
    "errors",
];

impl Slo {
    pub fn parse(text: &str) -> Result<Slo, String> {
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let pos = t.find(['<', '>', '=']).ok_or_else(|| {
            format!("{text:?}: expected METRIC<VALUE, e.g. delivery.p99<1s, lost=0, errors<1%")
        })?;
        let (metric, rest) = t.split_at(pos);
        let (op, value) = if let Some(v) = rest.strip_prefix("<=") {
            (Op::Le, v)
        } else if let Some(v) = rest.strip_prefix(">=") {
            (Op::Ge, v)
        } else if let Some(v) = rest.strip_prefix("==") {
            (Op::Eq, v)
        } else {
            let op = match &rest[..1] {
                "<" => Op::Lt,
                ">" => Op::Gt,
                _ => Op::Eq,
            };
            (op, &rest[1..])
        };
        let is_percentile = metric
            .split_once('.')
            .is_some_and(|(_, p)| p == "max" || p.starts_with('p'));
        let threshold = if is_percentile {
            let d = humantime::parse_duration(value).map_err(|_| {
                format!("{text:?}: {metric} is a duration; {value:?} is not (try 1s, 250ms)")
            })?;
            Threshold::Duration(d.as_micros() as u64)
        } else if COUNTS.contains(&metric) {
            if let Some(p) = value.strip_suffix('%') {
                if metric != "errors" {
                    return Err(format!("{text:?}: only errors takes a percentage"));
                }
                Threshold::Percent(
                    p.parse()
                        .map_err(|_| format!("{text:?}: {value:?} is not a percentage"))?,
                )
            } else {
                Threshold::Count(
                    value
                        .parse()
                        .map_err(|_| format!("{text:?}: {value:?} is not a number"))?,
                )
            }
        } else {
            return Err(format!(
                "{text:?}: unknown metric {metric:?} (delivery.p99, catchup.p99, latency.p99, get_messages.p99, lateness.p99, lost, lost_client_model, duplicated, out_of_order, unconfirmed, refused, errors)"
            ));
        };
        if is_percentile {
            let (_, p) = metric.split_once('.').unwrap_or_default();
            if quantile(p).is_none() {
                return Err(format!(
                    "{text:?}: unknown percentile {p:?} (p50, p90, p95, p99, p99.9, max)"
                ));
            }
        }
        Ok(Slo {
            text: text.trim().to_owned(),
            metric: metric.to_owned(),
            op,
            threshold,
        })
    }

    pub fn judge(&self, s: &Summary) -> SloResult {
        let measured = self.measure(s);
        let held = measured.is_some_and(|m| {
            let limit = match self.threshold {
                Threshold::Duration(us) => us as f64,
                Threshold::Percent(p) | Threshold::Count(p) => p,
            };
            self.op.holds(m, limit)
        });
        let measured_text = match (measured, self.threshold) {
            (None, _) => "not measured".to_owned(),
            (Some(m), Threshold::Duration(_)) => super::hist::human_us(m as u64),
            (Some(m), Threshold::Percent(_)) => format!("{m:.3}%"),
            (Some(m), Threshold::Count(_)) => format!("{m}"),
        };
        SloResult {
            slo: format!(
                "{}{}{}",
                self.metric,
                self.op.as_str(),
                threshold_text(self.threshold)
            ),
            measured,
            measured_text,
            held,
        }
    }

    fn measure(&self, s: &Summary) -> Option<f64> {
        let d = &s.delivery.counts;
        let errors = s.requests.errors as f64;
        Some(match self.metric.as_str() {
            "lost" => d.lost as f64,
            "lost_client_model" => d.lost_client_model as f64,
            "late_visible" => d.late_visible as f64,
            "duplicated" => d.duplicated as f64,
            "out_of_order" => d.out_of_order as f64,
            "unconfirmed" => d.unconfirmed as f64,
            "refused" => s.requests.refused_unexpected as f64,
            "errors" => match self.threshold {
                Threshold::Percent(_) if s.requests.total == 0 => return None,
                Threshold::Percent(_) => errors * 100.0 / s.requests.total as f64,
                _ => errors,
            },
            m => {
                let (name, p) = m.split_once('.')?;
                let q = quantile(p)?;
                let h = match name {
                    "delivery" => &s.delivery.latency,
                    "catchup" => &s.delivery.catchup,
                    "latency" => &s.requests.latency,
                    "lateness" => &s.poll_lateness,
                    ep => &s.requests.per_endpoint.get(ep)?.latency,
                };
                if h.count == 0 {
                    return None;
                }
                h.quantile_us(q) as f64
            }
        })
    }
}

fn threshold_text(t: Threshold) -> String {
    match t {
        Threshold::Duration(us) => format!("{:?}", Duration::from_micros(us)),
        Threshold::Percent(p) => format!("{p}%"),
        Threshold::Count(c) => format!("{c}"),
    }
}

fn quantile(p: &str) -> Option<f64> {
    if p == "max" {
        return Some(1.0);
    }
    let v: f64 = p.strip_prefix('p')?.parse().ok()?;
    (0.0..=100.0).contains(&v).then_some(v / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let s = Slo::parse("delivery.p99<1s").unwrap();
        assert_eq!(
            (s.op, s.threshold),
            (Op::Lt, Threshold::Duration(1_000_000))
        );
        assert_eq!(
            Slo::parse("lost=0").unwrap().threshold,
            Threshold::Count(0.0)
        );
        assert_eq!(
            Slo::parse("errors < 1%").unwrap().threshold,
            Threshold::Percent(1.0)
        );
        assert_eq!(Slo::parse("get_messages.p99.9<=250ms").unwrap().op, Op::Le);
        assert_eq!(Slo::parse("catchup.p99<3s").unwrap().metric, "catchup.p99");
        for bad in [
            "delivery<1s",
            "lost<1%",
            "nothing",
            "bogus=3",
            "delivery.p99<soon",
            "delivery.q5<1s",
        ] {
            assert!(Slo::parse(bad).is_err(), "{bad}");
        }
    }
}
