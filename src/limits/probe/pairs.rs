//! The pair each user holds now, the pairs the server revoked, and the
//! ledger of when the tool last spent each bucket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::client::{Client, ClientError, Credentials, Exchange, Request};
use crate::contract::Endpoint;

/// The pair each user holds now. Every login the tool makes goes through
/// [`Pairs::login`], which stores the pair the answer carries, so a server
/// that issues a new secret at every login never leaves a probe holding a
/// stale one; a 401 on the pair held (with no login of that user in flight
/// or since) means the server revoked it, and is recorded as such.
#[derive(Default)]
pub(crate) struct Pairs {
    inner: Mutex<HashMap<String, Held>>,
    /// `(user, what happened)` for every pair the server revoked.
    revoked: Mutex<Vec<(String, String)>>,
    /// When each bucket (identity, endpoint) was last spent by the tool.
    ledger: Mutex<HashMap<(String, Endpoint), Instant>>,
    /// Successful logins of the run (each re-acquired a pair).
    logins: AtomicU64,
}

#[derive(Clone)]
struct Held {
    creds: Credentials,
    generation: u64,
    logins_in_flight: u32,
}

impl Pairs {
    pub fn insert(&self, user: &str, creds: Credentials) {
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                user.to_owned(),
                Held {
                    creds,
                    generation: 0,
                    logins_in_flight: 0,
                },
            );
        }
    }

    /// The pair held for `user` and its generation.
    pub fn get(&self, user: &str) -> Option<(Credentials, u64)> {
        let m = self.inner.lock().ok()?;
        m.get(user).map(|h| (h.creds.clone(), h.generation))
    }

    pub(super) fn login_started(&self, user: &str) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(h) = m.get_mut(user) {
                h.logins_in_flight += 1;
            }
        }
    }

    pub(super) fn login_ended(&self, user: &str, new: Option<Credentials>) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(h) = m.get_mut(user) {
                h.logins_in_flight = h.logins_in_flight.saturating_sub(1);
                if let Some(c) = new {
                    self.logins.fetch_add(1, Ordering::Relaxed);
                    h.creds = c;
                    h.generation += 1;
                }
            }
        }
    }

    /// Whether a 401 on the pair of generation `generation` is explained by
    /// a login of ours (finished since, or still in flight).
    pub(super) fn explained(&self, user: &str, generation: u64) -> Option<bool> {
        let m = self.inner.lock().ok()?;
        let h = m.get(user)?;
        Some(h.generation != generation || h.logins_in_flight > 0)
    }

    pub(super) fn settled(&self, user: &str) -> bool {
        self.inner
            .lock()
            .ok()
            .and_then(|m| m.get(user).map(|h| h.logins_in_flight == 0))
            .unwrap_or(true)
    }

    /// Successful logins the run made of users it holds pairs for.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    pub fn record_revoked(&self, user: &str, what: String) {
        if let Ok(mut r) = self.revoked.lock() {
            r.push((user.to_owned(), what));
        }
    }

    pub fn revoked(&self) -> Vec<(String, String)> {
        self.revoked.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Notes that the tool spent `who`'s bucket of `endpoint` now.
    pub fn spent(&self, who: &str, endpoint: Endpoint) {
        if let Ok(mut l) = self.ledger.lock() {
            l.insert((who.to_owned(), endpoint), Instant::now());
        }
    }

    /// When `who`'s bucket of `endpoint` was last spent by the tool.
    pub fn last_spent(&self, who: &str, endpoint: Endpoint) -> Option<Instant> {
        self.ledger
            .lock()
            .ok()
            .and_then(|l| l.get(&(who.to_owned(), endpoint)).copied())
    }

    /// Logs `user` in with `client` and keeps the pair the answer carries.
    /// The login is counted in the ledger under `address` (login buckets are
    /// keyed by client address).
    pub async fn login(
        &self,
        client: &Client,
        address: &str,
        user: &str,
        password: &str,
    ) -> Result<Exchange, ClientError> {
        self.login_started(user);
        self.spent(address, Endpoint::Login);
        let r = client.send(&Request::login(user, password)).await;
        self.login_ended(user, issued_pair(&r));
        r
    }
}

/// The pair a login's answer carries, if it succeeded.
pub(super) fn issued_pair(r: &Result<Exchange, ClientError>) -> Option<Credentials> {
    match r {
        Ok(ex) if ex.is_success() => ex
            .decode::<crate::contract::wire::LoginResult>()
            .ok()
            .map(|l| Credentials::from(&l)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_401_after_our_own_login_is_explained() {
        let p = Pairs::default();
        p.insert("a@x", Credentials::new("k", "s1"));
        let (_, g) = p.get("a@x").unwrap();
        assert_eq!(
            p.explained("a@x", g),
            Some(false),
            "nothing of ours explains it"
        );
        p.login_started("a@x");
        assert_eq!(p.explained("a@x", g), Some(true), "a login in flight");
        p.login_ended("a@x", Some(Credentials::new("k", "s2")));
        assert_eq!(p.explained("a@x", g), Some(true), "rotated since");
        let (c, g2) = p.get("a@x").unwrap();
        assert_eq!((c.api_secret.as_str(), g2), ("s2", 1));
        assert_eq!(p.explained("a@x", g2), Some(false));
    }
}
