//! The server's data and the nine operations on it, free of HTTP: users and
//! their token pairs, chats with their participants, messages and read state.
//! Each operation answers the JSON envelope bytes or an [`ApiError`].
//!
//! Messages of a chat live in one vector under the chat's own lock, ordered by
//! `creation`. A send assigns `creation` (now, in microseconds, bumped by 1 µs
//! past the chat's previous one) and appends under that same lock, so storage
//! order, `creation` order and visibility order agree: a poller with
//! `after=<newest seen>` never misses a message (POLL-5, POLL-6, POLL-9).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;

pub(crate) use crate::contract::wire::ChatKind;

use super::defect::{Defect, DefectSet};
use super::error::ApiError;

/// Characters of the newest message shown as a chat's `last_message`.
pub(crate) const LAST_MESSAGE_PREFIX: usize = 100;
/// Longest content accepted (POLL-1 needs 10,000 characters).
pub(crate) const MAX_CONTENT_CHARS: usize = 100_000;

/// A user with its token pair.
pub(crate) struct StoredUser {
    pub id: u32,
    pub email: Arc<str>,
    pub full_name: String,
    pub password: String,
    pub api_key: String,
    pub api_secret: String,
}

/// Who a request acts as. `id` is `None` for Guest (the `anonymous-allowed` defect).
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    pub id: Option<u32>,
    pub email: Arc<str>,
}

#[derive(Default)]
pub(crate) struct Users {
    pub list: Vec<StoredUser>,
    pub by_email: HashMap<Arc<str>, u32>,
    pub by_key: HashMap<String, u32>,
}

impl Users {
    pub fn get(&self, id: u32) -> Option<&StoredUser> {
        self.list.get(id as usize)
    }

    pub fn by_email(&self, email: &str) -> Option<&StoredUser> {
        self.by_email.get(email).and_then(|id| self.get(*id))
    }

    /// Adds a user with a fresh pair; `None` when the e-mail is taken.
    pub fn add(&mut self, email: &str, password: &str, full_name: &str) -> Option<&StoredUser> {
        if self.by_email.contains_key(email) {
            return None;
        }
        let id = self.list.len() as u32;
        let email: Arc<str> = Arc::from(email);
        let (api_key, api_secret) = (new_token(), new_token());
        self.by_email.insert(email.clone(), id);
        self.by_key.insert(api_key.clone(), id);
        self.list.push(StoredUser {
            id,
            email,
            full_name: full_name.to_owned(),
            password: password.to_owned(),
            api_key,
            api_secret,
        });
        self.list.last()
    }

    /// Gives a user a new secret (the `rotate-on-login` defect).
    pub fn rotate(&mut self, id: u32) {
        if let Some(u) = self.list.get_mut(id as usize) {
            u.api_secret = new_token();
        }
    }

    /// Replaces a user's password and pair (`duplicate-signup-overwrites`).
    pub fn overwrite(&mut self, id: u32, password: &str, full_name: &str) {
        if let Some(u) = self.list.get_mut(id as usize) {
            self.by_key.remove(&u.api_key);
            u.password = password.to_owned();
            u.full_name = full_name.to_owned();
            u.api_key = new_token();
            u.api_secret = new_token();
            self.by_key.insert(u.api_key.clone(), id);
        }
    }
}

/// A 15-character hex token, as Frappe's `generate_hash(length=15)`.
fn new_token() -> String {
    format!("{:015x}", rand::random::<u64>() >> 4)
}

pub(crate) struct Chat {
    pub id: String,
    pub name: String,
    pub kind: ChatKind,
    /// Creation order, for the order of chats without messages.
    pub seq: u64,
    data: Mutex<ChatData>,
}

impl Chat {
    pub fn lock(&self) -> MutexGuard<'_, ChatData> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
pub(crate) struct ChatData {
    pub participants: Vec<Member>,
    pub messages: Vec<Msg>,
    /// The last `creation` handed out, in microseconds.
    pub last_creation: Option<i64>,
}

impl ChatData {
    pub fn participant(&self, email: &str) -> Option<&Member> {
        self.participants.iter().find(|p| &*p.user == email)
    }

    pub fn is_participant(&self, email: &str) -> bool {
        self.participant(email).is_some()
    }

    /// Per-message read state (READ-1b): a message is read once a participant
    /// other than its sender marked the chat read after it was stored.
    pub fn is_read(&self, m: &Msg, own_counts: bool) -> bool {
        self.participants.iter().any(|p| {
            (own_counts || p.user != m.sender) && p.read_upto.is_some_and(|u| u >= m.creation)
        })
    }
}

pub(crate) struct Member {
    pub user: Arc<str>,
    pub joined_at: String,
    pub last_read_at: Option<String>,
    /// The newest `creation` covered by the participant's last mark_as_read.
    pub read_upto: Option<i64>,
}

pub(crate) struct Msg {
    pub name: String,
    pub sender: Arc<str>,
    pub content: String,
    pub message_type: String,
    /// Microseconds of the naive server-local time.
    pub creation: i64,
    pub creation_str: String,
    /// `delayed-visibility`: not returned before this instant.
    pub visible_from: Option<Instant>,
    /// The message as get_messages renders it, up to and including
    /// `"is_read":`: serialized once at store time (the hot path only
    /// appends `0}` or `1}`).
    pub json_prefix: String,
}

#[derive(Default)]
pub(crate) struct Chats {
    pub by_id: HashMap<String, Arc<Chat>>,
    pub by_user: HashMap<Arc<str>, Vec<Arc<Chat>>>,
    /// Direct chats by their ordered pair of participants.
    pub direct: HashMap<(Arc<str>, Arc<str>), Arc<Chat>>,
    pub next: u64,
}

impl Chats {
    pub fn get(&self, id: &str) -> Option<Arc<Chat>> {
        self.by_id.get(id).cloned()
    }

    /// Creates a chat with these (distinct) participants, who joined at `now`.
    pub fn create(
        &mut self,
        name: &str,
        kind: ChatKind,
        members: &[Arc<str>],
        now: String,
    ) -> Arc<Chat> {
        self.next += 1;
        let chat = Arc::new(Chat {
            id: format!("CHAT-{:05}", self.next),
            name: name.to_owned(),
            kind,
            seq: self.next,
            data: Mutex::new(ChatData {
                participants: members
                    .iter()
                    .map(|m| Member {
                        user: m.clone(),
                        joined_at: now.clone(),
                        last_read_at: None,
                        read_upto: None,
                    })
                    .collect(),
                ..ChatData::default()
            }),
        });
        self.by_id.insert(chat.id.clone(), chat.clone());
        for m in members {
            self.by_user
                .entry(m.clone())
                .or_default()
                .push(chat.clone());
        }
        chat
    }
}

/// The microseconds of the current naive server-local time.
pub(crate) fn now_micros() -> i64 {
    chrono::Local::now()
        .naive_local()
        .and_utc()
        .timestamp_micros()
}

/// `YYYY-MM-DD HH:MM:SS.ffffff`.
pub(crate) fn render(micros: i64) -> String {
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) => t.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        None => String::from("1970-01-01 00:00:00.000000"),
    }
}

/// `{"message": value}` as bytes.
pub(crate) fn envelope<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, ApiError> {
    #[derive(Serialize)]
    struct MessageEnvelope<'a, T: ?Sized> {
        message: &'a T,
    }
    serde_json::to_vec(&MessageEnvelope { message: value })
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))
}

/// The whole mutable state.
#[derive(Default)]
pub(crate) struct State {
    pub users: RwLock<Users>,
    pub chats: RwLock<Chats>,
    pub msg_seq: AtomicU64,
}

impl State {
    pub fn users(&self) -> std::sync::RwLockReadGuard<'_, Users> {
        self.users.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn users_mut(&self) -> std::sync::RwLockWriteGuard<'_, Users> {
        self.users.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn chats(&self) -> std::sync::RwLockReadGuard<'_, Chats> {
        self.chats.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn chats_mut(&self) -> std::sync::RwLockWriteGuard<'_, Chats> {
        self.chats.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_message_name(&self) -> String {
        format!(
            "MSG-{:08}",
            self.msg_seq.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// Finds a chat the caller may use: 404 when it does not exist, 403 when
    /// the caller is not a participant (unless `skip_check`).
    pub fn chat_for(
        &self,
        caller: &Caller,
        id: &str,
        skip_check: bool,
        defects: DefectSet,
    ) -> Result<Arc<Chat>, ApiError> {
        let Some(chat) = self.chats().get(id) else {
            if defects.has(Defect::MissingChat500) {
                return Err(ApiError::internal(format!(
                    "'NoneType' object has no attribute 'participants' ({id})"
                )));
            }
            return Err(ApiError::not_found(format!("Chat {id} not found")));
        };
        if !skip_check && !chat.lock().is_participant(&caller.email) {
            return Err(ApiError::permission(
                "You are not a participant of this chat".to_owned(),
            ));
        }
        Ok(chat)
    }
}

/// How long `delayed-visibility` hides a new message.
pub(crate) const VISIBILITY_DELAY: Duration = Duration::from_millis(400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_six_digits() {
        assert_eq!(render(1_000_001), "1970-01-01 00:00:01.000001");
        let now = render(now_micros());
        assert!(crate::contract::Timestamp::parse(&now).is_ok(), "{now}");
    }

    #[test]
    fn users_refuse_duplicates_and_index_keys() {
        let mut u = Users::default();
        let key = u.add("a@x", "pw", "A").unwrap().api_key.clone();
        assert!(u.add("a@x", "other", "B").is_none());
        assert_eq!(u.by_key[&key], 0);
        assert_eq!(key.len(), 15);
        u.overwrite(0, "new", "A2");
        assert!(!u.by_key.contains_key(&key));
        assert_eq!(u.by_email("a@x").unwrap().password, "new");
    }
}
