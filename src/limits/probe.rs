//! The measurements behind `chat-harness limits`: a lane is one rate-limit
//! bucket the probe can hit (one user on one endpoint, or one client address
//! on login and signup); bursts hit it sequentially until the first refusal,
//! and a concurrent burst tests that counting is atomic.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientConfig, ClientError, Credentials, Exchange, Request};
use crate::contract::{Endpoint, RateLimitInfo};

/// The pair each user holds now. Every login the tool makes goes through
/// [`Pairs::login`], which stores the pair the answer carries, so a server
/// that issues a new secret at every login never leaves a probe holding a
/// stale one; a 401 on the pair held (with no login of that user in flight
/// or since) means the server revoked it, and is recorded as such.
#[derive(Default)]
pub struct Pairs {
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

    fn login_started(&self, user: &str) {
        if let Ok(mut m) = self.inner.lock() {
            if let Some(h) = m.get_mut(user) {
                h.logins_in_flight += 1;
            }
        }
    }

    fn login_ended(&self, user: &str, new: Option<Credentials>) {
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
    fn explained(&self, user: &str, generation: u64) -> Option<bool> {
        let m = self.inner.lock().ok()?;
        let h = m.get(user)?;
        Some(h.generation != generation || h.logins_in_flight > 0)
    }

    fn settled(&self, user: &str) -> bool {
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

/// One bucket to hit: an endpoint as one identity.
pub struct Lane {
    pub endpoint: Endpoint,
    pub client: Client,
    /// The pairs the run holds: user lanes act as `user` with the pair held
    /// for it at the time of each request, the login lane stores the pair of
    /// each of its logins.
    pub pairs: Arc<Pairs>,
    /// User endpoints: the user acting.
    pub user: Option<String>,
    /// login: the account that logs in.
    pub login: Option<(String, String)>,
    /// get_messages / send_message: a chat the user is in.
    pub chat: Option<String>,
    /// create_chat: the other participants of the group chats it creates.
    pub partners: Vec<String>,
    /// Makes names, e-mails and contents unique to this run.
    pub run_id: String,
    /// Describes the identity in reports, e.g. `user a@x` or `address 127.0.0.2`.
    pub who: String,
}

/// Process-wide, so that no two lanes ever build the same e-mail or name.
static SEQ: AtomicU64 = AtomicU64::new(0);

impl Lane {
    pub fn new(
        endpoint: Endpoint,
        client: Client,
        pairs: Arc<Pairs>,
        run_id: &str,
        who: String,
    ) -> Lane {
        Lane {
            endpoint,
            client,
            pairs,
            user: None,
            login: None,
            chat: None,
            partners: Vec::new(),
            run_id: run_id.to_owned(),
            who,
        }
    }

    /// The next request of this lane: valid, and unique where it creates
    /// something (so that a refused one can be looked for afterwards).
    pub fn next_request(&self) -> (Request, String) {
        let (req, tag, _) = self.next_request_gen();
        (req, tag)
    }

    /// The next request, its tag and the generation of the pair it carries.
    fn next_request_gen(&self) -> (Request, String, u64) {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{}-{n}", self.run_id, self.endpoint.name());
        let mut req = Request::to(self.endpoint);
        let mut generation = 0;
        if let Some((t, g)) = self.user.as_deref().and_then(|u| self.pairs.get(u)) {
            req = req.token(&t);
            generation = g;
        }
        req = match self.endpoint {
            Endpoint::Login => {
                let (u, p) = self.login.clone().unwrap_or_default();
                req.param("usr", u).param("pwd", p)
            }
            Endpoint::Signup => req
                .param("email", format!("{tag}@limits.example.com"))
                .param("password", format!("Lim1ts!{n}-xQ9#vk"))
                .param("full_name", format!("Limits Probe {n}")),
            Endpoint::CreateChat => req
                .param("chat_name", tag.clone())
                .param(
                    "participants",
                    serde_json::to_string(&self.partners).unwrap_or_default(),
                )
                .param("chat_type", "Group"),
            Endpoint::GetMessages => req
                .param("chat", self.chat.clone().unwrap_or_default())
                .param("limit", "1"),
            Endpoint::SendMessage => req
                .param("chat", self.chat.clone().unwrap_or_default())
                .param("content", format!("limits probe {tag}")),
            Endpoint::MarkAsRead | Endpoint::GetChatParticipants => {
                req.param("chat", self.chat.clone().unwrap_or_default())
            }
            Endpoint::GetChats | Endpoint::GetUsers => req,
        };
        (req, tag, generation)
    }

    /// The bucket's key in the ledger.
    pub fn bucket(&self) -> &str {
        &self.who
    }

    /// Sends the lane's next request (or `req`, built by `next_request`):
    /// a login lane keeps the pair its login answer carries; a user lane
    /// whose pair was rotated by a login of ours meanwhile re-sends once
    /// with the new pair; a 401 not explained by a login of ours is
    /// [`Sent::Revoked`].
    pub async fn send_next(&self, edit: impl Fn(Request) -> Request) -> (Sent, String) {
        for attempt in 0..2 {
            let (req, tag, generation) = self.next_request_gen();
            let req = edit(req);
            self.pairs.spent(&self.who, self.endpoint);
            let login_as = match (self.endpoint, &self.login) {
                (Endpoint::Login, Some((u, _))) => Some(u.clone()),
                _ => None,
            };
            if let Some(u) = &login_as {
                self.pairs.login_started(u);
            }
            let r = self.client.send(&req).await;
            if let Some(u) = &login_as {
                self.pairs.login_ended(u, issued_pair(&r));
            }
            let ex = match r {
                Ok(ex) => ex,
                Err(e) => {
                    return (
                        Sent::Transport(format!("{} as {}: {e}", self.endpoint, self.who)),
                        tag,
                    )
                }
            };
            if ex.status == 401 {
                if let Some(user) = &self.user {
                    if attempt == 0 && self.pairs.explained(user, generation) == Some(true) {
                        // Our own login rotated the pair: wait for it to land.
                        let until = Instant::now() + Duration::from_secs(10);
                        while !self.pairs.settled(user) && Instant::now() < until {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        continue;
                    }
                    let what = format!(
                        "{} as {} answered 401 with the pair the tool held (no login of {user} by the tool since it was issued): the server revoked it",
                        self.endpoint, self.who
                    );
                    self.pairs.record_revoked(user, what.clone());
                    return (Sent::Revoked(what), tag);
                }
            }
            return (Sent::Answer(Box::new(ex)), tag);
        }
        (
            Sent::Revoked(format!(
                "{} as {}: 401 again after re-acquiring the pair",
                self.endpoint, self.who
            )),
            String::new(),
        )
    }
}

/// The pair a login's answer carries, if it succeeded.
fn issued_pair(r: &Result<Exchange, ClientError>) -> Option<Credentials> {
    match r {
        Ok(ex) if ex.is_success() => ex
            .decode::<crate::contract::wire::LoginResult>()
            .ok()
            .map(|l| Credentials::from(&l)),
        _ => None,
    }
}

/// What one request of a lane came to.
pub enum Sent {
    Answer(Box<Exchange>),
    /// The pair held was refused with 401 though no login explains it.
    Revoked(String),
    /// Nothing could be observed: connection error or timeout.
    Transport(String),
}

/// Builds a client like `base` but connecting from `local`.
pub fn client_from(base: &ClientConfig, local: Option<IpAddr>) -> Result<Client, ClientError> {
    let mut config = base.clone();
    config.local_address = local;
    Client::new(config)
}

/// One answer, reduced to what the limiter showed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sample {
    pub status: u16,
    pub rate: RateLimitInfo,
    pub refused: bool,
}

impl Sample {
    pub fn of(ex: &Exchange) -> Sample {
        let rate = ex.rate_limit();
        Sample {
            status: ex.status,
            refused: is_refusal(ex),
            rate,
        }
    }
}

/// A refusal by the limiter, in any form (`contract::refusal`).
pub fn is_refusal(ex: &Exchange) -> bool {
    ex.refusal().is_some()
}

/// What a sequential burst saw.
#[derive(Debug, Default)]
pub struct Burst {
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

    /// Why it did not, in words.
    pub fn disturbance(&self) -> Option<&String> {
        self.unexpected
            .first()
            .or(self.revoked.as_ref())
            .or(self.errors.first())
    }
}

/// Sends up to `max` requests one after another, stopping at the first
/// refusal or error.
pub async fn burst(lane: &Lane, max: u32) -> Burst {
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Concurrent {
    pub sent: u32,
    pub accepted: u32,
    pub refused: u32,
    /// Other statuses and transport errors; any of these voids the run.
    pub errors: u32,
    pub first_error: Option<String>,
}

/// Sends `n` requests at once (all built first, then released together).
/// Returns the counts and how many of the errors were transport errors
/// (the rest were answers: a 5xx, an unexpected 4xx).
pub async fn concurrent(lane: &Lane, n: u32) -> (Concurrent, u32) {
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

/// Whether a refused request nonetheless had its effect: the message, chat
/// or user it would have created exists. `None` where the endpoint creates
/// nothing or the look-up failed (then `Err` says why).
pub async fn refused_had_effect(
    lane: &Lane,
    observer: &str,
    tag: &str,
) -> Result<Option<bool>, String> {
    // The observer may be the user the login probe logs in at this very
    // moment: a 401 then means the pair was rotated by our own login, so
    // wait for the new pair to land and look again.
    for attempt in 0..3 {
        let creds = lane
            .pairs
            .get(observer)
            .map(|(c, _)| c)
            .ok_or_else(|| format!("no pair held for {observer}"))?;
        match look_for_effect(lane, observer, &creds, tag).await {
            Err((Some(401), _)) if attempt < 2 => {
                let until = Instant::now() + Duration::from_secs(10);
                tokio::time::sleep(Duration::from_millis(50)).await;
                while !lane.pairs.settled(observer) && Instant::now() < until {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            r => return r.map_err(|(_, e)| e),
        }
    }
    Err(format!("{observer}'s pair was refused three times"))
}

async fn look_for_effect(
    lane: &Lane,
    observer_email: &str,
    observer: &Credentials,
    tag: &str,
) -> Result<Option<bool>, (Option<u16>, String)> {
    let c = &lane.client;
    let who = format!("user {observer_email}");
    match lane.endpoint {
        Endpoint::SendMessage => {
            let chat = lane.chat.as_deref().unwrap_or_default();
            let needle = format!("limits probe {tag}");
            let mut after: Option<String> = None;
            // Bounded paging: at most 50 pages of 100.
            for _ in 0..50 {
                lane.pairs.spent(&who, Endpoint::GetMessages);
                let page = c
                    .get_messages(observer, chat, after.as_deref(), Some(100))
                    .await
                    .map_err(|e| (e.status(), format!("cannot list the chat's messages: {e}")))?;
                if page.value.iter().any(|m| m.content == needle) {
                    return Ok(Some(true));
                }
                match page.value.last() {
                    Some(last) if page.value.len() == 100 => {
                        after = Some(last.creation.as_str().to_owned())
                    }
                    _ => return Ok(Some(false)),
                }
            }
            Err((
                None,
                "the chat has more than 5,000 messages; gave up looking".into(),
            ))
        }
        Endpoint::CreateChat => {
            lane.pairs.spent(&who, Endpoint::GetChats);
            let chats = c
                .get_chats(observer)
                .await
                .map_err(|e| (e.status(), format!("cannot list chats: {e}")))?;
            Ok(Some(
                chats
                    .value
                    .iter()
                    .any(|ch| ch.chat_name.as_deref() == Some(tag)),
            ))
        }
        Endpoint::Signup => {
            lane.pairs.spent(&who, Endpoint::GetUsers);
            let users = c
                .get_users(observer)
                .await
                .map_err(|e| (e.status(), format!("cannot list users: {e}")))?;
            let email = format!("{tag}@limits.example.com");
            Ok(Some(users.value.iter().any(|u| {
                u.name == email || u.email.as_deref() == Some(&email)
            })))
        }
        _ => Ok(None),
    }
}

/// Whether a target URL is on this machine's loopback, where other 127/8
/// source addresses can stand in for other clients.
pub fn is_loopback_target(url: &str) -> bool {
    let Ok(u) = url::Url::parse(url) else {
        return false;
    };
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_targets() {
        assert!(is_loopback_target("http://127.0.0.1:8000"));
        assert!(is_loopback_target("http://127.3.2.1"));
        assert!(is_loopback_target("http://localhost:1/x"));
        assert!(is_loopback_target("http://[::1]:80"));
        assert!(!is_loopback_target("http://10.0.0.1"));
        assert!(!is_loopback_target("https://chat.example.com"));
        assert!(!is_loopback_target("not a url"));
    }

    #[test]
    fn requests_are_unique_and_valid() {
        let client = Client::new(ClientConfig::new("http://127.0.0.1:1")).unwrap();
        let pairs = Arc::new(Pairs::default());
        pairs.insert("a@x", Credentials::new("k", "s"));
        let mut lane = Lane::new(Endpoint::CreateChat, client, pairs, "r1", "user a@x".into());
        lane.user = Some("a@x".into());
        lane.partners = vec!["b@x".into(), "c@x".into()];
        let (a, tag_a) = lane.next_request();
        let (_, tag_b) = lane.next_request();
        assert_ne!(tag_a, tag_b);
        assert!(a
            .params
            .contains(&("participants".into(), "[\"b@x\",\"c@x\"]".into())));
        assert!(a.params.contains(&("chat_name".into(), tag_a)));
        assert!(format!("{:?}", a.auth).contains("k"));
    }

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
