//! One bucket to hit ([`Lane`]): an endpoint as one identity, the valid and
//! unique requests it sends, and what each came to ([`Sent`]).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pairs::{issued_pair, Pairs};
use crate::client::{Client, ClientConfig, ClientError, Exchange, Request};
use crate::contract::Endpoint;

/// One bucket to hit: an endpoint as one identity.
pub(crate) struct Lane {
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

/// What one request of a lane came to.
pub(crate) enum Sent {
    Answer(Box<Exchange>),
    /// The pair held was refused with 401 though no login explains it.
    Revoked(String),
    /// Nothing could be observed: connection error or timeout.
    Transport(String),
}

/// Builds a client like `base` but connecting from `local`.
pub(crate) fn client_from(
    base: &ClientConfig,
    local: Option<IpAddr>,
) -> Result<Client, ClientError> {
    let mut config = base.clone();
    config.local_address = local;
    Client::new(config)
}

/// Whether a target URL is on this machine's loopback, where other 127/8
/// source addresses can stand in for other clients.
pub(crate) fn is_loopback_target(url: &str) -> bool {
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
    use crate::client::Credentials;

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
}
