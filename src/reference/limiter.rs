//! A true sliding-window limiter (RL-3..RL-8): a log of counted requests per
//! key, coalesced to one entry per millisecond so that a hot key holds at most
//! `window / 1 ms` entries however high its limit. A request is counted at the
//! millisecond it arrives and stops counting exactly one window later (to the
//! millisecond: capacity never returns early). Check-and-count happens under
//! the key's shard lock, so it is atomic; refused requests are not recorded.
//! Idle keys are swept periodically, so memory stays bounded.
//!
//! Two broken modes exist for the RL-6 defects: a fixed window aligned to
//! multiples of its length, and a window that restarts on every request.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::contract::Endpoint;

const SHARDS: usize = 16;
/// Sweep empty buckets after this many checks.
const SWEEP_EVERY: u64 = 1 << 16;

/// Who a bucket belongs to (RL-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Subject {
    /// A user, by the server's internal user number.
    User(u32),
    /// A client address (login and signup).
    Addr(IpAddr),
    /// Everyone (the `shared-bucket` defect).
    Shared,
}

/// How the window behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Sliding,
    /// Counts reset at multiples of the window length (wall clock).
    Fixed,
    /// Counts reset only after a whole window without requests.
    RestartOnRequest,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    /// After this request (0 on refusal).
    pub remaining: u32,
    /// Milliseconds until capacity returns (0 when nothing is counted).
    pub reset_ms: u64,
}

#[derive(Default)]
struct ServerBucket {
    /// (millisecond tick, requests counted in it), oldest first.
    log: VecDeque<(u64, u32)>,
    total: u64,
    /// Fixed mode: the window number; restart mode: the last counted tick.
    mark: u64,
}

type Key = (Endpoint, Subject);

/// One reading of both clocks: monotonic milliseconds since start (for the
/// sliding log) and Unix milliseconds (for the fixed window's alignment).
#[derive(Debug, Clone, Copy)]
struct Now {
    tick: u64,
    unix_ms: u64,
}

pub(crate) struct Limiter {
    window_ms: u64,
    start: Instant,
    shards: Vec<Mutex<HashMap<Key, ServerBucket>>>,
    checks: AtomicU64,
}

impl Limiter {
    pub fn new(window_seconds: u64) -> Self {
        Limiter {
            window_ms: window_seconds.max(1).saturating_mul(1000),
            start: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            checks: AtomicU64::new(0),
        }
    }

    fn now(&self) -> Now {
        Now {
            tick: self.start.elapsed().as_millis() as u64,
            unix_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    fn shard(&self, key: &Key) -> &Mutex<HashMap<Key, ServerBucket>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// Checks and, when allowed, counts one request: atomically.
    pub fn check(&self, endpoint: Endpoint, who: Subject, limit: u32, mode: Mode) -> RateDecision {
        self.check_at(self.now(), endpoint, who, limit, mode)
    }

    fn check_at(
        &self,
        now: Now,
        endpoint: Endpoint,
        who: Subject,
        limit: u32,
        mode: Mode,
    ) -> RateDecision {
        self.maybe_sweep(now.tick);
        let key = (endpoint, who);
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let bucket = shard.entry(key).or_default();
        self.apply(now, bucket, limit, mode, true)
    }

    /// What `check` would answer, without counting (the racy defect's read).
    pub fn peek(&self, endpoint: Endpoint, who: Subject, limit: u32, mode: Mode) -> RateDecision {
        let key = (endpoint, who);
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let bucket = shard.entry(key).or_default();
        self.apply(self.now(), bucket, limit, mode, false)
    }

    /// Counts one request unconditionally (the racy defect's write).
    pub fn record(&self, endpoint: Endpoint, who: Subject, mode: Mode) {
        let key = (endpoint, who);
        let mut shard = self.shard(&key).lock().unwrap_or_else(|p| p.into_inner());
        let bucket = shard.entry(key).or_default();
        self.apply(self.now(), bucket, u32::MAX, mode, true);
    }

    /// Forgets every bucket of `who` (the `login-resets-window` defect).
    pub fn clear(&self, who: Subject) {
        for e in Endpoint::ALL {
            let key = (e, who);
            self.shard(&key)
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
    }

    fn apply(
        &self,
        at: Now,
        b: &mut ServerBucket,
        limit: u32,
        mode: Mode,
        count: bool,
    ) -> RateDecision {
        let now = at.tick;
        let limit64 = u64::from(limit);
        match mode {
            Mode::Sliding => {
                self.expire(b, now);
                let allowed = b.total < limit64;
                if allowed && count {
                    match b.log.back_mut() {
                        Some((t, n)) if *t == now => *n = n.saturating_add(1),
                        _ => b.log.push_back((now, 1)),
                    }
                    b.total += 1;
                }
                let reset_ms = b
                    .log
                    .front()
                    .map(|(t, _)| (t + self.window_ms).saturating_sub(now))
                    .unwrap_or(0);
                self.verdict(allowed, limit, b.total, reset_ms)
            }
            Mode::Fixed => {
                let unix_ms = at.unix_ms;
                let window = unix_ms / self.window_ms;
                if b.mark != window {
                    b.mark = window;
                    b.total = 0;
                }
                let allowed = b.total < limit64;
                if allowed && count {
                    b.total += 1;
                }
                let reset_ms = if b.total == 0 {
                    0
                } else {
                    (window + 1) * self.window_ms - unix_ms
                };
                self.verdict(allowed, limit, b.total, reset_ms)
            }
            Mode::RestartOnRequest => {
                if now.saturating_sub(b.mark) >= self.window_ms {
                    b.total = 0;
                }
                let allowed = b.total < limit64;
                if allowed && count {
                    b.total += 1;
                    b.mark = now;
                }
                let reset_ms = if b.total == 0 {
                    0
                } else {
                    (b.mark + self.window_ms).saturating_sub(now)
                };
                self.verdict(allowed, limit, b.total, reset_ms)
            }
        }
    }

    fn verdict(&self, allowed: bool, limit: u32, total: u64, reset_ms: u64) -> RateDecision {
        let remaining = if allowed {
            u64::from(limit).saturating_sub(total) as u32
        } else {
            0
        };
        RateDecision {
            allowed,
            limit,
            remaining,
            reset_ms,
        }
    }

    fn expire(&self, b: &mut ServerBucket, now: u64) {
        while let Some(&(t, n)) = b.log.front() {
            if t + self.window_ms > now {
                break;
            }
            b.log.pop_front();
            b.total -= u64::from(n);
        }
    }

    fn maybe_sweep(&self, now: u64) {
        if !self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
        {
            return;
        }
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
            map.retain(|_, b| {
                self.expire(b, now);
                let idle = now.saturating_sub(b.mark) >= self.window_ms;
                !(b.log.is_empty() && idle)
            });
            map.shrink_to_fit();
        }
    }

    /// Number of live buckets (for tests of bounded memory).
    #[cfg(test)]
    fn buckets(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: Subject = Subject::User(1);
    const E: Endpoint = Endpoint::GetMessages;

    fn at(tick: u64) -> Now {
        Now {
            tick,
            unix_ms: 1_700_000_000_000 + tick,
        }
    }

    fn ok(l: &Limiter, t: u64, limit: u32, mode: Mode) -> bool {
        l.check_at(at(t), E, U, limit, mode).allowed
    }

    #[test]
    fn counts_down_and_refuses_without_counting() {
        let l = Limiter::new(60);
        for k in 1..=3 {
            let v = l.check_at(at(10), E, U, 3, Mode::Sliding);
            assert!(v.allowed);
            assert_eq!(v.remaining, 3 - k);
            assert_eq!(v.reset_ms, 60_000);
        }
        let v = l.check_at(at(20), E, U, 3, Mode::Sliding);
        assert!(!v.allowed);
        assert_eq!(v.remaining, 0);
        assert_eq!(v.reset_ms, 59_990);
        // Other users and endpoints are untouched (RL-7).
        assert!(l.check(E, Subject::User(2), 3, Mode::Sliding).allowed);
        assert!(l.check(Endpoint::GetChats, U, 3, Mode::Sliding).allowed);
        // A peek does not count.
        let p = l.peek(E, Subject::User(3), 1, Mode::Sliding);
        assert!(p.allowed && p.reset_ms == 0);
        assert!(l.check(E, Subject::User(3), 1, Mode::Sliding).allowed);
    }

    #[test]
    fn capacity_returns_exactly_as_requests_age_out() {
        let l = Limiter::new(1);
        assert!(ok(&l, 0, 2, Mode::Sliding));
        assert!(ok(&l, 600, 2, Mode::Sliding));
        assert!(!ok(&l, 700, 2, Mode::Sliding));
        assert!(!ok(&l, 999, 2, Mode::Sliding));
        // The first request ages out at 1000; the second still counts.
        assert!(ok(&l, 1000, 2, Mode::Sliding));
        assert!(!ok(&l, 1500, 2, Mode::Sliding));
        assert!(ok(&l, 1600, 2, Mode::Sliding));
    }

    #[test]
    fn a_steady_client_at_60_percent_is_never_refused() {
        let l = Limiter::new(1);
        // 6 requests per second against a limit of 10, for 10 windows.
        for i in 0..60 {
            assert!(ok(&l, i * 166, 10, Mode::Sliding), "refused at {i}");
        }
        let r = Limiter::new(1);
        let refused = (0..60).any(|i| !ok(&r, i * 166, 10, Mode::RestartOnRequest));
        assert!(
            refused,
            "the restarting window should refuse a steady client"
        );
    }

    #[test]
    fn fixed_window_lets_twice_the_limit_through_across_a_boundary() {
        let l = Limiter::new(1);
        // Unix ms 1_700_000_000_000 is a multiple of 1000: tick 990 is the end of one window.
        let burst = |t| (0..10).filter(|_| ok(&l, t, 5, Mode::Fixed)).count();
        assert_eq!(burst(990) + burst(1010), 10);
        let s = Limiter::new(1);
        let burst = |t| (0..10).filter(|_| ok(&s, t, 5, Mode::Sliding)).count();
        assert_eq!(burst(990) + burst(1010), 5);
    }

    #[test]
    fn clear_forgets_a_subject() {
        let l = Limiter::new(60);
        assert!(l.check(E, U, 1, Mode::Sliding).allowed);
        assert!(!l.check(E, U, 1, Mode::Sliding).allowed);
        l.clear(U);
        assert!(l.check(E, U, 1, Mode::Sliding).allowed);
    }

    #[test]
    fn a_hot_key_holds_one_entry_per_millisecond() {
        let l = Limiter::new(60);
        for i in 0..100_000 {
            l.check_at(at(i / 4), E, U, u32::MAX, Mode::Sliding);
        }
        let shard = l.shard(&(E, U)).lock().unwrap();
        let b = &shard[&(E, U)];
        assert_eq!(b.total, 100_000);
        assert_eq!(b.log.len(), 25_000);
    }

    #[test]
    fn sweeping_drops_idle_buckets() {
        let l = Limiter::new(1);
        for i in 0..100 {
            l.check_at(at(5), E, Subject::User(i), 5, Mode::Sliding);
        }
        assert_eq!(l.buckets(), 100);
        l.checks.store(0, Ordering::Relaxed);
        l.check_at(at(2000), E, U, 5, Mode::Sliding);
        assert_eq!(l.buckets(), 1);
    }
}
