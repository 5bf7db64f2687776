//! `kind = "limit-prober"`: bursts past an endpoint's limit, as its own
//! user. Its section, its round (one burst) and its rates.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::kind::{ms, Actor, Iteration, Kind, Params, Rates};
use crate::contract::Endpoint;
use crate::input::InputError;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct LimitProber {
    /// The endpoint driven past its limit.
    pub(crate) endpoint: Endpoint,
    /// Requests per burst, sent back to back.
    #[schemars(range(min = 1))]
    pub(crate) burst: u32,
    /// Time between the starts of two bursts, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub(crate) every: Duration,
}

/// Its parameters as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    endpoint: Option<Spanned<String>>,
    burst: Option<Spanned<i64>>,
    every: Option<Spanned<String>>,
}

impl Kind for LimitProber {
    type Section = Section;

    fn resolve(s: Section, at: &Params<'_>) -> Result<Self, InputError> {
        let endpoint = match s.endpoint.as_ref() {
            None => Endpoint::GetMessages,
            Some(e) => {
                let ep: Endpoint = e
                    .get_ref()
                    .parse()
                    .map_err(|err| at.err(e.span().start, "endpoint", err))?;
                if !matches!(
                    ep,
                    Endpoint::GetChats
                        | Endpoint::GetMessages
                        | Endpoint::SendMessage
                        | Endpoint::GetChatParticipants
                        | Endpoint::GetUsers
                        | Endpoint::MarkAsRead
                ) {
                    return Err(at.err(e.span().start, "endpoint", format!("{ep} cannot be probed under load (a prober acts as its own user: get_chats, get_messages, send_message, get_chat_participants, get_users or mark_as_read)")));
                }
                ep
            }
        };
        let default_burst = endpoint.courtesy_limit().unwrap_or(100) + 20;
        let p = LimitProber {
            endpoint,
            burst: at.int(&s.burst, "burst", 1, 100_000, default_burst)?,
            every: at.duration(&s.every, "every", Duration::from_secs(10))?,
        };
        if p.every < Duration::from_millis(100) {
            return Err(at.err(at.at(s.every.as_ref()), "every", "must be at least 100ms"));
        }
        Ok(p)
    }

    fn polls(&self) -> bool {
        false
    }

    fn iteration(&self) -> Iteration {
        Iteration::Round
    }

    fn round_every(&self) -> Option<Duration> {
        Some(self.every)
    }

    /// One burst of `burst` requests, back to back.
    async fn round<U: Actor>(&self, user: &mut U, chat: Option<&str>) {
        let content = "[probe] rate-limit probe".to_owned();
        for _ in 0..self.burst {
            if user.over() {
                break;
            }
            let mut params: Vec<(&'static str, &str)> = Vec::new();
            if self.endpoint.params().iter().any(|q| q.name == "chat") {
                let Some(id) = chat else { return };
                params.push(("chat", id));
            }
            if self.endpoint == Endpoint::SendMessage {
                params.push(("content", &content));
            }
            user.request(self.endpoint, &params, true).await;
        }
    }

    fn rates(&self, _lambda: f64) -> Rates {
        Rates::other(
            self.burst as f64 / self.every.as_secs_f64().max(1e-3),
            false,
            "bursts past a limit",
        )
    }
}
