//! The measurements behind `chat-harness limits`: a lane is one rate-limit
//! bucket the probe can hit (one user on one endpoint, or one client address
//! on login and signup); bursts hit it sequentially until the first refusal,
//! and a concurrent burst tests that counting is atomic.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::client::{Client, ClientConfig, ClientError, Credentials, Exchange, Request};
use crate::contract::{Endpoint, RateLimitInfo};

/// One bucket to hit: an endpoint as one identity.
pub struct Lane {
    pub endpoint: Endpoint,
    pub client: Client,
    /// The token, for user endpoints.
    pub token: Option<Credentials>,
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
    pub fn new(endpoint: Endpoint, client: Client, run_id: &str, who: String) -> Lane {
        Lane {
            endpoint,
            client,
            token: None,
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
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("{}-{}-{n}", self.run_id, self.endpoint.name());
        let mut req = Request::to(self.endpoint);
        if let Some(t) = &self.token {
            req = req.token(t);
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
        (req, tag)
    }
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
    /// Answers that were neither accepted nor refused, and transport errors.
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

/// Sends up to `max` requests one after another, stopping at the first
/// refusal or error.
pub async fn burst(lane: &Lane, max: u32) -> Burst {
    let started = Instant::now();
    let mut out = Burst::default();
    for _ in 0..max {
        let (req, tag) = lane.next_request();
        match lane.client.send(&req).await {
            Ok(ex) => {
                let sample = Sample::of(&ex);
                if sample.refused {
                    out.samples.push(sample.clone());
                    out.refusal = Some((sample, Box::new(ex), tag));
                    break;
                }
                if !ex.is_success() {
                    out.errors.push(format!(
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
            Err(e) => {
                out.errors
                    .push(format!("{} as {}: {e}", lane.endpoint, lane.who));
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
pub async fn concurrent(lane: &Lane, n: u32) -> Concurrent {
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
    for r in results {
        match r {
            Ok(ex) if ex.is_success() => out.accepted += 1,
            Ok(ex) if Sample::of(&ex).refused => out.refused += 1,
            Ok(ex) => {
                out.errors += 1;
                out.first_error.get_or_insert(format!("HTTP {}", ex.status));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert(e.to_string());
            }
        }
    }
    out
}

/// Whether a refused request nonetheless had its effect: the message, chat
/// or user it would have created exists. `None` where the endpoint creates
/// nothing or the look-up failed (then `Err` says why).
pub async fn refused_had_effect(
    lane: &Lane,
    observer: &Credentials,
    tag: &str,
) -> Result<Option<bool>, String> {
    let c = &lane.client;
    match lane.endpoint {
        Endpoint::SendMessage => {
            let chat = lane.chat.as_deref().unwrap_or_default();
            let needle = format!("limits probe {tag}");
            let mut after: Option<String> = None;
            // Bounded paging: at most 50 pages of 100.
            for _ in 0..50 {
                let page = c
                    .get_messages(observer, chat, after.as_deref(), Some(100))
                    .await
                    .map_err(|e| format!("cannot list the chat's messages: {e}"))?;
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
            Err("the chat has more than 5,000 messages; gave up looking".into())
        }
        Endpoint::CreateChat => {
            let chats = c
                .get_chats(observer)
                .await
                .map_err(|e| format!("cannot list chats: {e}"))?;
            Ok(Some(
                chats
                    .value
                    .iter()
                    .any(|ch| ch.chat_name.as_deref() == Some(tag)),
            ))
        }
        Endpoint::Signup => {
            let users = c
                .get_users(observer)
                .await
                .map_err(|e| format!("cannot list users: {e}"))?;
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
        let mut lane = Lane::new(Endpoint::CreateChat, client, "r1", "user a@x".into());
        lane.token = Some(Credentials::new("k", "s"));
        lane.partners = vec!["b@x".into(), "c@x".into()];
        let (a, tag_a) = lane.next_request();
        let (_, tag_b) = lane.next_request();
        assert_ne!(tag_a, tag_b);
        assert!(a
            .params
            .contains(&("participants".into(), "[\"b@x\",\"c@x\"]".into())));
        assert!(a.params.contains(&("chat_name".into(), tag_a)));
    }
}
