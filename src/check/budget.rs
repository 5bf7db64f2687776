//! The suite's own quota: a ledger of every request it sent, by rate-limit
//! bucket (user x endpoint; the client address for login and signup), under
//! the expected limits and window and corrected by what the server says
//! (`Remaining`, `Reset`, refusals in any form).
//!
//! The suite spends the server's quotas itself. Without this ledger, a check
//! that ran after a quota-hungry one was refused and blamed the server for
//! the suite's own traffic. With it, a check that is not about rate limits
//! waits for room before it sends, and a rate-limit check starts on a bucket
//! the suite has left idle for a whole window.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::client::{Auth, Exchange, Request};
use crate::contract::{Endpoint, LimitsTable};

/// Whose bucket a request is charged to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Owner {
    /// A user, by API key.
    User(String),
    /// The client address (login, signup).
    Address,
}

/// One bucket: an endpoint of one owner.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct BucketKey {
    pub(crate) owner: Owner,
    pub(crate) endpoint: Endpoint,
}

impl BucketKey {
    /// The bucket `req` is counted in, if any: a limited endpoint, called
    /// with a token (or login/signup, which are counted per address).
    pub(crate) fn of(req: &Request, limits: &LimitsTable) -> Option<BucketKey> {
        let endpoint = Endpoint::from_path(&req.path)?;
        limits.limit(endpoint)?;
        let owner = if endpoint.requires_auth() {
            match &req.auth {
                Auth::Token(c) => Owner::User(c.api_key.clone()),
                // Failed authentication consumes no quota (INFO, documented).
                _ => return None,
            }
        } else {
            Owner::Address
        };
        Some(BucketKey { owner, endpoint })
    }
}

#[derive(Debug, Default)]
struct Bucket {
    /// Send times of the suite's requests within the last window.
    sent: VecDeque<Instant>,
    /// The server's last word: at this time, this many requests remained,
    /// until this instant at the latest.
    server: Option<(Instant, u64, Instant)>,
    /// A refusal said: nothing before this instant.
    blocked_until: Option<Instant>,
}

/// Why and how long the suite waits before a request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Wait {
    pub(crate) duration: Duration,
    pub(crate) why: String,
}

/// The ledger of a run.
pub(crate) struct Ledger {
    limits: LimitsTable,
    window: Duration,
    /// Margin on every computed instant: the server counts a request when it
    /// arrives, the ledger when it leaves, and clocks differ by a little.
    slack: Duration,
    buckets: Mutex<HashMap<BucketKey, Bucket>>,
}

impl Ledger {
    pub(crate) fn new(limits: LimitsTable, window: Duration) -> Ledger {
        Ledger {
            limits,
            window,
            slack: Duration::from_millis(250),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn window(&self) -> Duration {
        self.window
    }

    /// Records a request as sent now.
    pub(crate) fn charge(&self, key: &BucketKey, at: Instant) {
        let mut buckets = self.lock();
        let b = buckets.entry(key.clone()).or_default();
        b.sent.push_back(at);
        trim(b, at, self.window);
    }

    /// Takes what the server said of the bucket: `Remaining` and `Reset`
    /// (headers, or same-named body keys), and a refusal's wait.
    pub(crate) fn observe(&self, key: &BucketKey, ex: &Exchange, at: Instant) {
        let secs = self.window.as_secs().max(1);
        let mut buckets = self.lock();
        let b = buckets.entry(key.clone()).or_default();
        if let Some(refusal) = ex.refusal() {
            let wait = Duration::from_secs(refusal.wait_seconds(secs));
            b.blocked_until = Some(at + wait.max(Duration::from_secs(1)) + self.slack);
            b.server = Some((at, 0, at + wait + self.slack));
            return;
        }
        if !ex.is_success() && !(400..500).contains(&ex.status) {
            return;
        }
        let rate = ex.rate_limit().with_body_values();
        if let Some(remaining) = rate.remaining.value() {
            let until = rate
                .seconds_until_reset(secs)
                .map(Duration::from_secs)
                .unwrap_or(self.window)
                .min(self.window + Duration::from_secs(1));
            b.server = Some((at, remaining, at + until + self.slack));
        }
    }

    /// How long to wait before `n` more requests fit in the bucket, if at
    /// all; `None` when they fit now.
    pub(crate) fn wait_for_room(&self, key: &BucketKey, n: u32, now: Instant) -> Option<Wait> {
        let limit = self.limits.limit(key.endpoint)?;
        if n > limit {
            return None;
        }
        let mut buckets = self.lock();
        let b = buckets.entry(key.clone()).or_default();
        trim(b, now, self.window);
        let mut until = now;
        let mut why = Vec::new();
        if let Some(t) = b.blocked_until.filter(|t| *t > now) {
            until = until.max(t);
            why.push("the server refused the last request".to_owned());
        }
        // The ledger's own count: room once enough of our requests age out.
        let own = b.sent.len() as u32;
        if own + n > limit {
            let nth = (own + n - limit - 1) as usize;
            if let Some(t) = b.sent.get(nth) {
                until = until.max(*t + self.window + self.slack);
                why.push(format!("{own} of {limit} spent in the last window"));
            }
        }
        // The server's count, which includes traffic the ledger never saw
        // (an earlier run, another client of the same user).
        if let Some((t, remaining, reset_at)) = b.server {
            if reset_at > now {
                let since = b.sent.iter().filter(|s| **s > t).count() as u64;
                if remaining < since + u64::from(n) {
                    until = until.max(reset_at);
                    why.push(format!("the server said {remaining} remained"));
                }
            }
        }
        (until > now).then(|| Wait {
            duration: until - now,
            why: why.join(", "),
        })
    }

    /// How long until the bucket is idle: none of the suite's requests
    /// within the last window and no refusal or spent count in force, so a
    /// rate-limit check can start on it from a full allowance.
    pub(crate) fn wait_for_idle(&self, key: &BucketKey, now: Instant) -> Option<Wait> {
        let mut buckets = self.lock();
        let b = buckets.entry(key.clone()).or_default();
        trim(b, now, self.window);
        let mut until = now;
        let mut why = Vec::new();
        if let Some(last) = b.sent.back() {
            until = until.max(*last + self.window + self.slack);
            why.push(format!(
                "{} request(s) of this run in the last window",
                b.sent.len()
            ));
        }
        if let Some(t) = b.blocked_until.filter(|t| *t > now) {
            until = until.max(t);
            why.push("a refusal in force".to_owned());
        }
        if let Some((_, remaining, reset_at)) = b.server {
            let limit = self.limits.limit(key.endpoint).map(u64::from);
            if reset_at > now && Some(remaining) != limit {
                until = until.max(reset_at);
                why.push(format!("the server said {remaining} remained"));
            }
        }
        (until > now).then(|| Wait {
            duration: until - now,
            why: why.join(", "),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BucketKey, Bucket>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn trim(b: &mut Bucket, now: Instant, window: Duration) {
    while b.sent.front().is_some_and(|t| *t + window <= now) {
        b.sent.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{Credentials, Exchange, RequestRecord};
    use std::collections::BTreeMap;

    fn limits() -> LimitsTable {
        LimitsTable {
            window_seconds: 10,
            limits: BTreeMap::from([(Endpoint::GetChats, 3), (Endpoint::Login, 2)]),
        }
    }

    fn creds() -> Credentials {
        Credentials {
            api_key: "k".into(),
            api_secret: "s".into(),
        }
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        Exchange {
            request: RequestRecord::build("http://x", &Request::to(Endpoint::GetChats)),
            status,
            headers: crate::contract::ratelimit::header_map(headers),
            body: bytes::Bytes::from(body.to_owned()),
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn buckets_are_per_user_and_endpoint_and_per_address_for_login() {
        let l = limits();
        let k = BucketKey::of(&Request::to(Endpoint::GetChats).token(&creds()), &l).unwrap();
        assert_eq!(k.owner, Owner::User("k".into()));
        let k = BucketKey::of(&Request::login("a", "b"), &l).unwrap();
        assert_eq!(k.owner, Owner::Address);
        // Unlimited endpoints and anonymous calls are charged nowhere.
        assert!(BucketKey::of(&Request::to(Endpoint::GetUsers).token(&creds()), &l).is_none());
        assert!(BucketKey::of(&Request::to(Endpoint::GetChats), &l).is_none());
    }

    #[test]
    fn the_ledger_waits_until_its_own_requests_age_out() {
        let l = Ledger::new(limits(), Duration::from_secs(10));
        let k = BucketKey::of(&Request::to(Endpoint::GetChats).token(&creds()), &limits()).unwrap();
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(l.wait_for_room(&k, 1, t0 + Duration::from_secs(i)), None);
            l.charge(&k, t0 + Duration::from_secs(i));
        }
        let w = l.wait_for_room(&k, 1, t0 + Duration::from_secs(3)).unwrap();
        // The first request ages out at t0 + 10 s (plus the slack).
        assert_eq!(w.duration, Duration::from_millis(7_250));
        assert!(w.why.contains("3 of 3 spent"), "{}", w.why);
        // Two more need the second to age out as well.
        let w = l.wait_for_room(&k, 2, t0 + Duration::from_secs(3)).unwrap();
        assert_eq!(w.duration, Duration::from_millis(8_250));
        assert_eq!(l.wait_for_room(&k, 1, t0 + Duration::from_secs(11)), None);
        // Idle only once the last one aged out.
        let w = l.wait_for_idle(&k, t0 + Duration::from_secs(11)).unwrap();
        assert_eq!(w.duration, Duration::from_millis(1_250));
        assert_eq!(l.wait_for_idle(&k, t0 + Duration::from_secs(13)), None);
    }

    #[test]
    fn the_servers_word_covers_traffic_the_ledger_never_saw() {
        let l = Ledger::new(limits(), Duration::from_secs(10));
        let k = BucketKey::of(&Request::to(Endpoint::GetChats).token(&creds()), &limits()).unwrap();
        let t0 = Instant::now();
        l.charge(&k, t0);
        // An earlier run spent the rest: Remaining 0, Reset in 4 s.
        let ex = answer(
            200,
            &[("X-RateLimit-Remaining", "0"), ("X-RateLimit-Reset", "4")],
            "{}",
        );
        l.observe(&k, &ex, t0);
        let w = l.wait_for_room(&k, 1, t0).unwrap();
        assert_eq!(w.duration, Duration::from_millis(4_250));
        assert!(w.why.contains("server said 0"), "{}", w.why);
        assert!(l.wait_for_idle(&k, t0 + Duration::from_secs(5)).is_some());
    }

    #[test]
    fn a_refusal_in_any_form_blocks_the_bucket_for_its_wait() {
        let l = Ledger::new(limits(), Duration::from_secs(10));
        let k = BucketKey::of(&Request::login("a", "b"), &limits()).unwrap();
        let t0 = Instant::now();
        // A 417 with the values in the body and no Retry-After.
        let ex = answer(
            417,
            &[],
            r#"{"exc_type":"ValidationError","X-RateLimit-Remaining":0,"X-RateLimit-Reset":6}"#,
        );
        l.observe(&k, &ex, t0);
        let w = l.wait_for_room(&k, 1, t0).unwrap();
        assert_eq!(w.duration, Duration::from_millis(6_250));
        assert!(w.why.contains("refused"), "{}", w.why);
        assert_eq!(l.wait_for_room(&k, 1, t0 + Duration::from_secs(7)), None);
    }
}
