//! `kind = "reader"`: rounds of get_chats, get_chat_participants and
//! mark_as_read. Its section, its round and its rates.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::kind::{ms, Actor, Iteration, Kind, Params, Rates};
use crate::contract::Endpoint;
use crate::input::InputError;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Reader {
    /// Time between two rounds of get_chats, get_chat_participants,
    /// mark_as_read, ms.
    #[serde(with = "ms")]
    #[schemars(with = "u64")]
    pub(crate) every: Duration,
}

/// Its parameters as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Section {
    every: Option<Spanned<String>>,
}

impl Kind for Reader {
    type Section = Section;

    fn resolve(s: Section, at: &Params<'_>) -> Result<Self, InputError> {
        let every = at.duration(&s.every, "every", Duration::from_secs(5))?;
        if every < Duration::from_millis(100) {
            return Err(at.err(at.at(s.every.as_ref()), "every", "must be at least 100ms"));
        }
        Ok(Reader { every })
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

    /// get_chats, then get_chat_participants and mark_as_read of the first chat.
    async fn round<U: Actor>(&self, user: &mut U, chat: Option<&str>) {
        user.request(Endpoint::GetChats, &[], false).await;
        if let Some(id) = chat {
            user.request(Endpoint::GetChatParticipants, &[("chat", id)], false)
                .await;
            user.request(Endpoint::MarkAsRead, &[("chat", id)], false)
                .await;
        }
    }

    fn rates(&self, _lambda: f64) -> Rates {
        Rates::other(
            3.0 / self.every.as_secs_f64().max(1e-3),
            false,
            "get_chats, get_chat_participants, mark_as_read",
        )
    }
}
