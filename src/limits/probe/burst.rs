//! Bursts on a lane: sequential ones until the first refusal ([`Burst`],
//! each answer reduced to a [`Sample`]), and a simultaneous one that shows
//! whether counting is atomic ([`Concurrent`]).

use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::lane::{Lane, Sent};
use crate::client::{Exchange, Request};
use crate::contract::RateLimitInfo;

/// One answer, reduced to what the limiter showed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Sample {
    pub status: u16,
    pub rate: RateLimitInfo,
    pub refused: bool,
}

impl Sample {
    pub(crate) fn of(ex: &Exchange) -> Sample {
        let rate = ex.rate_limit();
        Sample {
            status: ex.status,
            refused: is_refusal(ex),
            rate,
        }
    }
}

/// A refusal by the limiter, in any form (`contract::refusal`).
fn is_refusal(ex: &Exchange) -> bool {
    ex.refusal().is_some()
}

/// What a sequential burst saw.
#[derive(Debug, Default)]
pub(crate) struct Burst {
    pub samples: Vec<Sample>,
    pub accepted: u32,
    /// The first refusal, its exchange (for the report's reproduction) and the
    /// tag of the request that was refused.
    pub refusal: Option<(Sample, Box<Exchange>, String)>,
    /// Transport errors and timeouts: nothing was observed.
    pub errors: Vec<String>,
    /// Observed answers that were neither accepted nor refused (a 5xx, an
    /// unexpected 4xx): findings, with what was seen.
    pub unexpected: Vec<String>,
    /// The pair held was revoked by the server.
    pub revoked: Option<String>,
    pub elapsed: Duration,
}

impl Burst {
    /// Whether the burst ran to its end or its first refusal.
    pub fn clean(&self) -> bool {
        self.errors.is_empty() && self.unexpected.is_empty() && self.revoked.is_none()
    }
}

/// Sends up to `max` requests one after another, stopping at the first
/// refusal or error.
pub(crate) async fn burst(lane: &Lane, max: u32) -> Burst {
    let started = Instant::now();
    let mut out = Burst::default();
    for _ in 0..max {
        let (sent, tag) = lane.send_next(|r| r).await;
        match sent {
            Sent::Answer(ex) => {
                let sample = Sample::of(&ex);
                if sample.refused {
                    out.samples.push(sample.clone());
                    out.refusal = Some((sample, ex, tag));
                    break;
                }
                if !ex.is_success() {
                    out.unexpected.push(format!(
                        "{} as {} answered HTTP {} to a valid request: {}",
                        lane.endpoint,
                        lane.who,
                        ex.status,
                        ex.envelope()
                            .map(|e| e.summary())
                            .unwrap_or_else(|| ex.body_excerpt(120, false))
                    ));
                    out.samples.push(sample);
                    break;
                }
                out.accepted += 1;
                out.samples.push(sample);
            }
            Sent::Revoked(what) => {
                out.revoked = Some(what);
                break;
            }
            Sent::Transport(e) => {
                out.errors.push(e);
                break;
            }
        }
    }
    out.elapsed = started.elapsed();
    out
}

/// What `n` simultaneous requests got.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct Concurrent {
    /// Requests sent at once.
    pub sent: u32,
    /// Requests accepted (2xx).
    pub accepted: u32,
    /// Requests refused.
    pub refused: u32,
    /// Other statuses and transport errors: a transport error voids the
    /// burst, an answer neither accepted nor refused (a 5xx) fails it.
    pub errors: u32,
    /// The first of those errors in words; null when there was none.
    pub first_error: Option<String>,
}

/// Sends `n` requests at once (all built first, then released together).
/// Returns the counts and how many of the errors were transport errors
/// (the rest were answers: a 5xx, an unexpected 4xx).
pub(crate) async fn concurrent(lane: &Lane, n: u32) -> (Concurrent, u32) {
    lane.pairs.spent(&lane.who, lane.endpoint);
    let requests: Vec<Request> = (0..n).map(|_| lane.next_request().0).collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(requests.len()));
    let futures = requests.into_iter().map(|req| {
        let client = lane.client.clone();
        let barrier = barrier.clone();
        async move {
            barrier.wait().await;
            client.send(&req).await
        }
    });
    let results = futures::future::join_all(futures).await;
    let mut out = Concurrent {
        sent: n,
        ..Default::default()
    };
    let mut transport = 0;
    let mut statuses: std::collections::BTreeMap<u16, u32> = Default::default();
    let mut first_answer = None;
    let mut first_transport = None;
    for r in results {
        match r {
            Ok(ex) if ex.is_success() => out.accepted += 1,
            Ok(ex) if Sample::of(&ex).refused => out.refused += 1,
            Ok(ex) => {
                out.errors += 1;
                *statuses.entry(ex.status).or_default() += 1;
                first_answer.get_or_insert_with(|| {
                    format!(
                        "HTTP {}: {}",
                        ex.status,
                        ex.envelope()
                            .map(|e| e.summary())
                            .unwrap_or_else(|| ex.body_excerpt(120, false))
                    )
                });
            }
            Err(e) => {
                out.errors += 1;
                transport += 1;
                first_transport.get_or_insert(e.to_string());
            }
        }
    }
    out.first_error = first_answer.or(first_transport);
    (out, transport)
}
