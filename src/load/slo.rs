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

use super::summary::{LoadSummary, SloResult};
use crate::input::closest;

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

/// The histograms a percentile objective can name besides an endpoint's:
/// every name here must be one `Slo::measure` reads (a test keeps them in step).
const HISTOGRAMS: [&str; 4] = ["delivery", "catchup", "latency", "lateness"];

/// The operators, longest first so that `<=` is not read as `<`.
const OPS: [(&str, Op); 6] = [
    ("<=", Op::Le),
    (">=", Op::Ge),
    ("==", Op::Eq),
    ("<", Op::Lt),
    (">", Op::Gt),
    ("=", Op::Eq),
];

/// Every metric name an objective may use, percentiles shown as `p99`.
pub(crate) fn metric_names() -> Vec<String> {
    let mut names: Vec<String> = HISTOGRAMS.iter().map(|h| format!("{h}.p99")).collect();
    names.extend(
        crate::contract::Endpoint::ALL
            .iter()
            .map(|e| format!("{}.p99", e.name())),
    );
    names.extend(COUNTS.iter().map(|c| c.to_string()));
    names
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion.map_or_else(String::new, |s| format!(": did you mean {s}?"))
}

impl Slo {
    pub fn parse(text: &str) -> Result<Slo, String> {
        const FORM: &str = "expected METRIC OP VALUE with OP one of < <= = >= >, e.g. delivery.p99<1s, lost=0, errors<1%";
        let t: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let pos = t
            .find(['<', '>', '=', '!'])
            .ok_or_else(|| format!("{text:?}: no operator; {FORM}"))?;
        let (metric, rest) = t.split_at(pos);
        let op_len = rest
            .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
            .unwrap_or(rest.len());
        let (op_text, value) = rest.split_at(op_len);
        let op = OPS
            .iter()
            .find(|(o, _)| *o == op_text)
            .map(|&(_, op)| op)
            .ok_or_else(|| {
                let mut sorted: Vec<char> = op_text.chars().collect();
                sorted.sort_unstable();
                let hint = OPS
                    .iter()
                    .map(|(o, _)| *o)
                    .find(|o| {
                        let mut c: Vec<char> = o.chars().collect();
                        c.sort_unstable();
                        c == sorted
                    })
                    .map_or_else(String::new, |o| format!(" (did you mean {o}?)"));
                format!("{text:?}: unknown operator {op_text:?}{hint}; {FORM}")
            })?;
        if metric.is_empty() {
            return Err(format!("{text:?}: no metric before {op_text:?}; {FORM}"));
        }
        if value.is_empty() {
            return Err(format!("{text:?}: no value after {op_text:?}; {FORM}"));
        }
        let names = metric_names();
        let unknown = |suggestion: Option<&str>| {
            format!(
                "{text:?}: unknown metric {metric:?}{}; known: {}, or a percentile p50, p90, p95, p99, p99.9 or max of any of those",
                did_you_mean(suggestion),
                names.join(", ")
            )
        };
        let threshold = if let Some((name, p)) = metric.split_once('.') {
            let known = HISTOGRAMS.contains(&name)
                || crate::contract::Endpoint::ALL
                    .iter()
                    .any(|e| e.name() == name);
            if !known {
                let wanted = format!("{name}.p99");
                let guess = closest(&wanted, names.iter().map(String::as_str))
                    .map(|g| g.replace(".p99", &format!(".{p}")));
                return Err(unknown(guess.as_deref()));
            }
            if quantile(p).is_none() {
                return Err(format!(
                    "{text:?}: unknown percentile {p:?} of {name}{} (p50, p90, p95, p99, p99.9, max)",
                    did_you_mean(
                        closest(p, ["p50", "p90", "p95", "p99", "p99.9", "max"])
                            .map(|q| format!("{name}.{q}"))
                            .as_deref()
                    )
                ));
            }
            let d = humantime::parse_duration(value).map_err(|_| {
                format!("{text:?}: {metric} is a duration; {value:?} is not (try 1s, 250ms)")
            })?;
            Threshold::Duration(d.as_micros() as u64)
        } else if COUNTS.contains(&metric) {
            if let Some(p) = value.strip_suffix('%') {
                if metric != "errors" {
                    return Err(format!(
                        "{text:?}: only errors takes a percentage; {metric} is a count"
                    ));
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
        } else if HISTOGRAMS.contains(&metric)
            || crate::contract::Endpoint::ALL
                .iter()
                .any(|e| e.name() == metric)
        {
            return Err(format!(
                "{text:?}: {metric} needs a percentile: did you mean {metric}.p99?"
            ));
        } else {
            return Err(unknown(closest(metric, names.iter().map(String::as_str))));
        };
        Ok(Slo {
            text: text.trim().to_owned(),
            metric: metric.to_owned(),
            op,
            threshold,
        })
    }

    pub fn judge(&self, s: &LoadSummary) -> SloResult {
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

    fn measure(&self, s: &LoadSummary) -> Option<f64> {
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

    /// A misspelt metric, percentile or operator is refused with the
    /// closest valid form, so that a run never measures "not measured".
    #[test]
    fn mistakes_get_the_closest_valid_form() {
        let cases = [
            ("latncy.p99<1s", "did you mean latency.p99?"),
            ("delivry.p99.9<1s", "did you mean delivery.p99.9?"),
            ("get_message.p50<1s", "did you mean get_messages.p50?"),
            ("loss=0", "did you mean lost?"),
            ("error<1%", "did you mean errors?"),
            (
                "delivery.q99<1s",
                "unknown percentile \"q99\" of delivery: did you mean delivery.p99?",
            ),
            (
                "delivery<1s",
                "delivery needs a percentile: did you mean delivery.p99?",
            ),
            (
                "delivery.p99=<1s",
                "unknown operator \"=<\" (did you mean <=?)",
            ),
            ("lost=>1", "unknown operator \"=>\" (did you mean >=?)"),
            ("lost!=1", "unknown operator \"!=\""),
            ("lost 1", "no operator"),
            ("<1s", "no metric"),
            ("lost<", "no value"),
        ];
        for (text, want) in cases {
            let err = Slo::parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        // Far from every name: no guess, the list.
        let err = Slo::parse("throughput>5").unwrap_err();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("delivery.p99"), "{err}");
    }
}
