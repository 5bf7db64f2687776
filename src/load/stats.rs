//! Our own request accounting, beside goose's: per-endpoint latency as
//! mergeable HDR histograms, refusals split into expected (probers) and
//! unexpected (a refused poller is a capacity finding), poll lateness
//! against schedule (coordinated omission made visible), and a per-second
//! timeline for the charts and the live progress line.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::hist::{Hist, HistSummary};
use crate::contract::Endpoint;

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOutcome {
    Ok,
    /// Refused by the rate limiter (429, or a 4xx with Remaining 0).
    Refused,
    /// Any other non-2xx status.
    Failed(u16),
    /// No HTTP answer (connect error, timeout, reset).
    Transport,
}

#[derive(Debug, Default)]
struct EndpointStats {
    latency: Hist,
    ok: u64,
    refused_expected: u64,
    refused_unexpected: u64,
    failed: u64,
    transport: u64,
    statuses: BTreeMap<u16, u64>,
}

/// One endpoint's requests in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EndpointSummary {
    /// Requests made (ok + refused + failed + transport_errors).
    #[schemars(range(min = 1))]
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Refusals of limit probers, which ask for them.
    pub refused_expected: u64,
    /// Refusals of any other user.
    pub refused_unexpected: u64,
    /// Other non-2xx answers.
    pub failed: u64,
    /// Requests without an HTTP answer (timeout, connection error, unreadable answer).
    pub transport_errors: u64,
    /// Count per HTTP status (the key is the three-digit status).
    #[schemars(extend("patternProperties" = {
        "^[0-9]{3}$": { "type": "integer", "minimum": 1 }
    }))]
    pub statuses: BTreeMap<u16, u64>,
    /// Time to the whole answer, µs, of every request with an HTTP answer.
    pub latency: HistSummary,
}

/// Seconds of timeline kept (longer runs fold into the last slot).
const SLOTS: usize = 4 * 3600;

#[derive(Debug)]
pub struct Stats {
    endpoints: Vec<Mutex<EndpointStats>>,
    lateness: Mutex<Hist>,
    origin: Instant,
    requests: Vec<AtomicU32>,
    errors: Vec<AtomicU32>,
    users: Vec<AtomicU32>,
    /// Users running now.
    pub active_users: AtomicU32,
    pub max_users: AtomicU32,
    total: AtomicU64,
    total_errors: AtomicU64,
    /// Latest per-request latencies for the progress line (all endpoints).
    recent: Mutex<Hist>,
}

/// A point of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tick {
    /// Seconds since the run started.
    pub t: u32,
    /// Requests made in this second.
    pub requests: u32,
    /// Requests of this second that failed (non-2xx other than expected
    /// refusals, or no answer).
    pub errors: u32,
    /// Users running in this second.
    pub users: u32,
}

impl Stats {
    pub(crate) fn new(origin: Instant) -> Stats {
        let v = || (0..SLOTS).map(|_| AtomicU32::new(0)).collect::<Vec<_>>();
        Stats {
            endpoints: Endpoint::ALL.iter().map(|_| Mutex::default()).collect(),
            lateness: Mutex::new(Hist::new()),
            origin,
            requests: v(),
            errors: v(),
            users: v(),
            active_users: AtomicU32::new(0),
            max_users: AtomicU32::new(0),
            total: AtomicU64::new(0),
            total_errors: AtomicU64::new(0),
            recent: Mutex::new(Hist::new()),
        }
    }

    pub(crate) fn origin(&self) -> Instant {
        self.origin
    }

    fn slot(&self, at: Instant) -> usize {
        (at.saturating_duration_since(self.origin).as_secs() as usize).min(SLOTS - 1)
    }

    /// Records one request; `prober` says whether refusals were asked for.
    pub(crate) fn record(
        &self,
        endpoint: Endpoint,
        outcome: RequestOutcome,
        status: Option<u16>,
        elapsed: Duration,
        prober: bool,
    ) {
        let i = Endpoint::ALL
            .iter()
            .position(|&e| e == endpoint)
            .unwrap_or(0);
        let error = match outcome {
            RequestOutcome::Ok => false,
            RequestOutcome::Refused => !prober,
            RequestOutcome::Failed(_) | RequestOutcome::Transport => true,
        };
        {
            let mut s = self.endpoints[i].lock().unwrap_or_else(|p| p.into_inner());
            match outcome {
                RequestOutcome::Ok => s.ok += 1,
                RequestOutcome::Refused if prober => s.refused_expected += 1,
                RequestOutcome::Refused => s.refused_unexpected += 1,
                RequestOutcome::Failed(_) => s.failed += 1,
                RequestOutcome::Transport => s.transport += 1,
            }
            if let Some(code) = status {
                *s.statuses.entry(code).or_default() += 1;
                s.latency.record(elapsed);
            }
        }
        if status.is_some() {
            self.recent
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(elapsed);
        }
        let slot = self.slot(Instant::now());
        self.requests[slot].fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors[slot].fetch_add(1, Ordering::Relaxed);
            self.total_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A poll started `lateness` after it was due.
    pub(crate) fn poll_late(&self, lateness: Duration) {
        self.lateness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(lateness);
    }

    pub(crate) fn user_started(&self) {
        let n = self.active_users.fetch_add(1, Ordering::Relaxed) + 1;
        self.max_users.fetch_max(n, Ordering::Relaxed);
    }

    pub(crate) fn user_stopped(&self) {
        self.active_users.fetch_sub(1, Ordering::Relaxed);
    }

    /// Samples the active users into the timeline (called once a second).
    pub(crate) fn sample_users(&self, at: Instant) {
        let n = self.active_users.load(Ordering::Relaxed);
        self.users[self.slot(at)].store(n, Ordering::Relaxed);
    }

    pub(crate) fn totals(&self) -> (u64, u64) {
        (
            self.total.load(Ordering::Relaxed),
            self.total_errors.load(Ordering::Relaxed),
        )
    }

    /// The p99 of requests since the last call (for the progress line).
    pub(crate) fn take_recent_p99_us(&self) -> u64 {
        let mut h = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let p = h.quantile_us(0.99);
        *h = Hist::new();
        p
    }

    pub(crate) fn endpoints(&self) -> BTreeMap<String, EndpointSummary> {
        let mut out = BTreeMap::new();
        for (e, m) in Endpoint::ALL.iter().zip(&self.endpoints) {
            let s = m.lock().unwrap_or_else(|p| p.into_inner());
            let requests =
                s.ok + s.refused_expected + s.refused_unexpected + s.failed + s.transport;
            if requests == 0 {
                continue;
            }
            out.insert(
                e.name().to_owned(),
                EndpointSummary {
                    requests,
                    ok: s.ok,
                    refused_expected: s.refused_expected,
                    refused_unexpected: s.refused_unexpected,
                    failed: s.failed,
                    transport_errors: s.transport,
                    statuses: s.statuses.clone(),
                    latency: s.latency.summary(),
                },
            );
        }
        out
    }

    /// All requests' latency together.
    pub(crate) fn all_latency(&self) -> HistSummary {
        let mut all = Hist::new();
        for m in &self.endpoints {
            all.add(&m.lock().unwrap_or_else(|p| p.into_inner()).latency);
        }
        all.summary()
    }

    pub(crate) fn lateness(&self) -> HistSummary {
        self.lateness
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .summary()
    }

    /// The timeline up to `until`.
    pub(crate) fn timeline(&self, until: Instant) -> Vec<Tick> {
        let end = self.slot(until) + 1;
        (0..end)
            .map(|i| Tick {
                t: i as u32,
                requests: self.requests[i].load(Ordering::Relaxed),
                errors: self.errors[i].load(Ordering::Relaxed),
                users: self.users[i].load(Ordering::Relaxed),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_split_by_who_asked() {
        let s = Stats::new(Instant::now());
        let ms = Duration::from_millis(2);
        s.record(
            Endpoint::GetChats,
            RequestOutcome::Refused,
            Some(429),
            ms,
            true,
        );
        s.record(
            Endpoint::GetChats,
            RequestOutcome::Refused,
            Some(429),
            ms,
            false,
        );
        s.record(Endpoint::GetChats, RequestOutcome::Ok, Some(200), ms, false);
        s.record(
            Endpoint::GetChats,
            RequestOutcome::Transport,
            None,
            ms,
            false,
        );
        let e = &s.endpoints()["get_chats"];
        assert_eq!(
            (
                e.requests,
                e.ok,
                e.refused_expected,
                e.refused_unexpected,
                e.transport_errors
            ),
            (4, 1, 1, 1, 1)
        );
        assert_eq!(e.latency.count, 3);
        assert_eq!(s.totals(), (4, 2));
        assert_eq!(s.timeline(Instant::now())[0].requests, 4);
    }
}
