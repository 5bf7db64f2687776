//! The nine endpoints' semantics over [`State`](super::state::State): each
//! validates its parameters, applies the participant rules and answers the
//! envelope bytes. Defects hook in here with one `if` each.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::core::{pause, Inner, Pause};
use super::defect::Defect;
use super::error::ApiError;
use super::limiter::Subject;
use super::params::Params;
use super::state::{
    envelope, Caller, Chat, ChatKind, Msg, LAST_MESSAGE_PREFIX, MAX_CONTENT_CHARS, VISIBILITY_DELAY,
};
use crate::contract::Timestamp;

/// Default and largest page of get_messages (POLL-2, POLL-8: clamped above).
pub const DEFAULT_LIMIT: usize = 50;
pub const LIMIT_CAP: usize = 500;

/// name, content, message_type, visible_from.
type MsgParts = (String, String, String, Option<Instant>);

#[derive(Serialize)]
struct LoginOut<'a> {
    message: &'a str,
    api_key: &'a str,
    api_secret: &'a str,
    full_name: &'a str,
    email: &'a str,
}

#[derive(Serialize)]
struct ChatOut<'a> {
    name: &'a str,
    chat_name: &'a str,
    chat_type: &'a str,
    last_message: Option<String>,
    last_message_at: Option<&'a str>,
}

#[derive(Serialize)]
struct MsgOut<'a> {
    name: &'a str,
    sender: &'a str,
    content: &'a str,
    message_type: &'a str,
    creation: &'a str,
    is_read: u8,
}

/// A message's get_messages object without its closing `is_read` value:
/// `{"name":..,"sender":..,"content":..,"message_type":..,"creation":..,"is_read":`.
fn json_prefix(m: &Msg) -> String {
    let full = serde_json::to_string(&MsgOut {
        name: &m.name,
        sender: &m.sender,
        content: &m.content,
        message_type: &m.message_type,
        creation: &m.creation_str,
        is_read: 0,
    })
    .unwrap_or_default();
    // serde writes fields in declaration order: is_read is last, "0}" ends it.
    full.strip_suffix("0}").unwrap_or(&full).to_owned()
}

#[derive(Serialize)]
struct SentOut<'a> {
    name: &'a str,
    sender: &'a str,
    content: &'a str,
    message_type: &'a str,
    creation: &'a str,
}

#[derive(Serialize)]
struct ParticipantOut<'a> {
    user: &'a str,
    joined_at: &'a str,
    last_read_at: Option<&'a str>,
}

#[derive(Serialize)]
struct UserOut<'a> {
    name: &'a str,
    full_name: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_secret: Option<&'a str>,
}

impl Inner {
    pub(crate) fn login(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let usr = p.required("usr")?;
        let pwd = p.required("pwd")?;
        let id = {
            let users = self.state.users();
            match users.by_email(usr) {
                Some(u) if u.password == pwd || self.has(Defect::WrongPasswordAccepted) => u.id,
                _ => return Err(ApiError::authentication("Invalid login credentials")),
            }
        };
        if self.has(Defect::RotateOnLogin) {
            self.state.users_mut().rotate(id);
        }
        if self.has(Defect::LoginResetsWindow) {
            self.limiter.clear(Subject::User(id));
        }
        let users = self.state.users();
        let u = users
            .get(id)
            .ok_or_else(|| ApiError::internal("user vanished"))?;
        let secret = if self.has(Defect::LoginNoSecret) {
            ""
        } else {
            &u.api_secret
        };
        envelope(&LoginOut {
            message: "Logged In",
            api_key: &u.api_key,
            api_secret: secret,
            full_name: &u.full_name,
            email: &u.email,
        })
    }

    pub(crate) fn signup(&self, p: &Params) -> Result<Vec<u8>, ApiError> {
        let email = p.required("email")?.trim();
        let password = p.required("password")?;
        let full_name = p.required("full_name")?;
        let valid_email = email.len() <= 140
            && !email.chars().any(char::is_whitespace)
            && email
                .split_once('@')
                .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'));
        if !valid_email {
            return Err(ApiError::validation(format!(
                "{email} is not a valid e-mail address"
            )));
        }
        if password.chars().count() < 8 {
            return Err(ApiError::validation(
                "The password is too weak: use at least 8 characters",
            ));
        }
        let mut users = self.state.users_mut();
        if let Some(existing) = users.by_email(email).map(|u| u.id) {
            if !self.has(Defect::DuplicateSignupOverwrites) {
                return Err(ApiError::duplicate(format!("User {email} already exists")));
            }
            users.overwrite(existing, password, full_name);
        } else {
            users.add(email, password, full_name);
        }
        let u = users
            .by_email(email)
            .ok_or_else(|| ApiError::internal("user vanished"))?;
        envelope(&LoginOut {
            message: "User Created",
            api_key: &u.api_key,
            api_secret: &u.api_secret,
            full_name: &u.full_name,
            email: &u.email,
        })
    }

    pub(crate) fn get_chats(&self, caller: &Caller) -> Result<Vec<u8>, ApiError> {
        let chats: Vec<_> = {
            let all = self.state.chats();
            if self.has(Defect::ChatsListAll) {
                all.by_id.values().cloned().collect()
            } else {
                all.by_user.get(&caller.email).cloned().unwrap_or_default()
            }
        };
        // (chat, last message content prefix, its creation)
        let mut rows: Vec<_> = chats
            .iter()
            .map(|c| {
                let data = c.lock();
                let last = data.messages.last().map(|m| {
                    let prefix: String = m.content.chars().take(LAST_MESSAGE_PREFIX).collect();
                    (prefix, m.creation, m.creation_str.clone())
                });
                (c, last)
            })
            .collect();
        if self.has(Defect::ChatsUnordered) {
            rows.sort_by_key(|(c, _)| c.seq);
        } else {
            // Newest last message first; chats without messages last, newest first.
            rows.sort_by(|(a, la), (b, lb)| match (la, lb) {
                (Some(x), Some(y)) => y.1.cmp(&x.1),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => b.seq.cmp(&a.seq),
            });
        }
        let out: Vec<ChatOut> = rows
            .iter()
            .map(|(c, last)| ChatOut {
                name: &c.id,
                chat_name: &c.name,
                chat_type: c.kind.as_str(),
                last_message: last.as_ref().map(|l| l.0.clone()),
                last_message_at: last.as_ref().map(|l| l.2.as_str()),
            })
            .collect();
        envelope(&out)
    }

    pub(crate) fn create_chat(&self, caller: &Caller, p: &Params) -> Result<Vec<u8>, ApiError> {
        let chat_name = p.get("chat_name").ok_or(ApiError::mandatory("chat_name"))?;
        let raw = p.required("participants")?;
        let kind = match p.optional("chat_type").unwrap_or("Direct") {
            "Direct" => ChatKind::Direct,
            "Group" => ChatKind::Group,
            other => {
                return Err(ApiError::validation(format!(
                    "chat_type must be Direct or Group, not {other}"
                )))
            }
        };
        let ids: Vec<String> = serde_json::from_str(raw)
            .map_err(|_| ApiError::validation("participants must be a JSON array of user ids"))?;
        let mut members: Vec<Arc<str>> = Vec::new();
        {
            let users = self.state.users();
            let creator_added = !self.has(Defect::CreatorNotAdded);
            if creator_added {
                members.push(caller.email.clone());
            }
            for id in ids.iter().map(|s| s.trim()) {
                let known = users.by_email.get_key_value(id).map(|(k, _)| k.clone());
                let email = match known {
                    Some(e) => e,
                    None if self.has(Defect::UnknownUserAccepted) && !id.is_empty() => {
                        Arc::from(id)
                    }
                    None => return Err(ApiError::validation(format!("User {id} does not exist"))),
                };
                if !members.contains(&email) && (*email != *caller.email || creator_added) {
                    members.push(email);
                }
            }
        }
        match kind {
            ChatKind::Direct if members.len() != 2 && !self.has(Defect::CreatorNotAdded) => {
                return Err(ApiError::validation(
                    "A Direct chat has exactly two participants",
                ))
            }
            ChatKind::Group if members.len() < 2 && !self.has(Defect::CreatorNotAdded) => {
                return Err(ApiError::validation(
                    "A Group chat needs at least one participant besides you",
                ))
            }
            _ => {}
        }
        if members.is_empty() {
            return Err(ApiError::validation("A chat needs participants"));
        }
        let joined_at = self.render(self.now_micros());
        let mut chats = self.state.chats_mut();
        if kind == ChatKind::Direct && members.len() == 2 {
            let mut pair = (members[0].clone(), members[1].clone());
            if pair.1 < pair.0 {
                pair = (pair.1, pair.0);
            }
            if let Some(existing) = chats.direct.get(&pair) {
                if !self.has(Defect::DirectDuplicated) {
                    return envelope(existing.id.as_str());
                }
            }
            let chat = chats.create(chat_name, kind, &members, joined_at);
            chats.direct.insert(pair, chat.clone());
            return envelope(chat.id.as_str());
        }
        let chat = chats.create(chat_name, kind, &members, joined_at);
        envelope(chat.id.as_str())
    }

    pub(crate) fn get_messages(&self, caller: &Caller, p: &Params) -> Result<Vec<u8>, ApiError> {
        let chat_id = p.required("chat")?;
        let after = match p.optional("after") {
            None => None,
            Some(raw) => self.parse_after(raw)?,
        };
        let limit = self.parse_limit(p.optional("limit"))?;
        let chat =
            self.state
                .chat_for(caller, chat_id, self.has(Defect::ReadAnyChat), self.defects)?;
        let data = chat.lock();
        let now = self.has(Defect::DelayedVisibility).then(Instant::now);
        let visible = |m: &&Msg| match (now, m.visible_from) {
            (Some(now), Some(from)) => now >= from,
            _ => true,
        };
        let msgs = &data.messages;
        let start = match after {
            Some(t) if self.has(Defect::AfterInclusive) => msgs.partition_point(|m| m.creation < t),
            Some(t) => msgs.partition_point(|m| m.creation <= t),
            None if self.has(Defect::NewestWithoutAfter) => {
                msgs.iter().filter(visible).count().saturating_sub(limit)
            }
            None => 0,
        };
        let own_counts = self.has(Defect::ReadMarksOwn);
        let other_side = self.has(Defect::ReadStateOtherSide);
        // `read-state-other-side`: the sender's own mark_as_read counts as
        // the viewer's reading of it, in everyone's view but the sender's.
        let read = |m: &Msg| {
            data.is_read(m, own_counts)
                || (other_side
                    && *m.sender != *caller.email
                    && data
                        .participant(&m.sender)
                        .is_some_and(|p| p.read_upto.is_some_and(|u| u >= m.creation)))
        };
        let mut page: Vec<&Msg> = msgs[start..].iter().filter(visible).take(limit).collect();
        if self.has(Defect::NewestFirst) {
            page.reverse();
        }
        // {"message":[...]} from the pre-rendered messages.
        let size: usize = page.iter().map(|m| m.json_prefix.len() + 3).sum();
        let mut out = Vec::with_capacity(size + 16);
        out.extend_from_slice(b"{\"message\":[");
        for (i, m) in page.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(m.json_prefix.as_bytes());
            out.extend_from_slice(if read(m) { b"1}" } else { b"0}" });
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// `after`: the server form or the ISO `T` form (POLL-4, POLL-4b), in
    /// microseconds (a finer fraction is truncated, which keeps `>` exact).
    fn parse_after(&self, raw: &str) -> Result<Option<i64>, ApiError> {
        if self.has(Defect::IsoAfterRejected) && raw.contains('T') {
            return Err(ApiError::validation(format!(
                "after {raw:?} is not a timestamp"
            )));
        }
        match Timestamp::parse(raw.trim()) {
            Ok(t) => {
                let us = t.value().and_utc().timestamp_micros();
                if self.has(Defect::AfterSecondsOnly) {
                    Ok(Some(us - us.rem_euclid(1_000_000)))
                } else {
                    Ok(Some(us))
                }
            }
            Err(_) if self.has(Defect::GarbageAfterHistory) => Ok(None),
            Err(_) => Err(ApiError::validation(format!(
                "after {:?} is not a timestamp (expected YYYY-MM-DD HH:MM:SS.ffffff)",
                raw.chars().take(64).collect::<String>()
            ))),
        }
    }

    /// `limit`: 1..=100 honoured, larger clamped to 500 (POLL-8), anything
    /// else 417 (ENV-4).
    fn parse_limit(&self, raw: Option<&str>) -> Result<usize, ApiError> {
        let n = match raw.map(str::trim) {
            None if self.has(Defect::NoDefaultLimit) => usize::MAX,
            None => DEFAULT_LIMIT,
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<usize>().unwrap_or(usize::MAX)
            }
            Some(s) => {
                return Err(ApiError::validation(format!(
                    "limit must be a positive integer, not {:?}",
                    s.chars().take(32).collect::<String>()
                )))
            }
        };
        if n == 0 {
            return Err(ApiError::validation("limit must be at least 1"));
        }
        Ok(if self.has(Defect::LimitIgnored) {
            usize::MAX
        } else if self.has(Defect::LimitCapped50) {
            n.min(50)
        } else {
            n.min(LIMIT_CAP)
        })
    }

    pub(crate) async fn send_message(
        &self,
        caller: &Caller,
        p: &Params,
        mode: Pause,
    ) -> Result<Vec<u8>, ApiError> {
        let chat_id = p.required("chat")?;
        let mut content = match p.get("content") {
            Some(c) => c.to_owned(),
            None => return Err(ApiError::mandatory("content")),
        };
        if content.is_empty() && !self.has(Defect::EmptyContentAccepted) {
            return Err(ApiError::mandatory("content"));
        }
        if content.chars().count() > MAX_CONTENT_CHARS {
            return Err(ApiError::validation(format!(
                "content is longer than {MAX_CONTENT_CHARS} characters"
            )));
        }
        if self.has(Defect::ContentTrimmed) {
            content = content.trim().to_owned();
        }
        if self.has(Defect::HtmlEscaped) && (content.contains('<') || content.contains('>')) {
            content = content
                .replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;");
        }
        let message_type = p.optional("message_type").unwrap_or("text").to_owned();
        let chat =
            self.state
                .chat_for(caller, chat_id, self.has(Defect::SendAnyChat), self.defects)?;
        let name = self.state.next_message_name();
        let visible_from = self
            .has(Defect::DelayedVisibility)
            .then(|| Instant::now() + VISIBILITY_DELAY);
        let (answer, pending) =
            self.store(&chat, caller, (name, content, message_type, visible_from));
        if let Some(msg) = pending {
            // Creation taken, then a pause before the insert: a later creation
            // can be committed (and polled past) before this one lands.
            let jitter = Duration::from_micros(rand::random_range(0..3000));
            pause(mode, jitter).await;
            let mut data = chat.lock();
            let at = data
                .messages
                .partition_point(|m| m.creation <= msg.creation);
            data.messages.insert(at, msg);
        }
        answer
    }

    /// Assigns `creation` and stores under the chat's lock. With
    /// `lost-under-concurrency` the message comes back for a later insert.
    fn store(
        &self,
        chat: &Chat,
        caller: &Caller,
        (name, content, message_type, visible_from): MsgParts,
    ) -> (Result<Vec<u8>, ApiError>, Option<Msg>) {
        let mut data = chat.lock();
        let sender = if self.has(Defect::SenderSpoofed) {
            data.participants
                .iter()
                .map(|p| p.user.clone())
                .find(|u| *u != caller.email)
                .unwrap_or_else(|| caller.email.clone())
        } else {
            caller.email.clone()
        };
        let now = self.now_micros();
        let creation = if self.has(Defect::SecondResolution) {
            now - now.rem_euclid(1_000_000)
        } else {
            data.last_creation.map_or(now, |last| now.max(last + 1))
        };
        data.last_creation = Some(creation);
        let mut msg = Msg {
            name,
            sender,
            content,
            message_type,
            creation,
            creation_str: self.render(creation),
            visible_from,
            json_prefix: String::new(),
        };
        msg.json_prefix = json_prefix(&msg);
        let answer = envelope(&SentOut {
            name: &msg.name,
            sender: &msg.sender,
            content: &msg.content,
            message_type: &msg.message_type,
            creation: &msg.creation_str,
        });
        if self.has(Defect::LostUnderConcurrency) {
            return (answer, Some(msg));
        }
        // Every tenth message (by its name's number) is answered, never stored.
        if self.has(Defect::DropMessages) && msg.name.ends_with('0') {
            return (answer, None);
        }
        data.messages.push(msg);
        (answer, None)
    }

    pub(crate) fn mark_as_read(&self, caller: &Caller, p: &Params) -> Result<Vec<u8>, ApiError> {
        let chat_id = p.required("chat")?;
        let chat =
            self.state
                .chat_for(caller, chat_id, self.has(Defect::MarkAnyChat), self.defects)?;
        let now = self.render(self.now_micros());
        let mut data = chat.lock();
        let upto = data.messages.last().map(|m| m.creation);
        let no_last_read = self.has(Defect::NoLastReadAt);
        if let Some(part) = data
            .participants
            .iter_mut()
            .find(|p| *p.user == *caller.email)
        {
            part.read_upto = upto.or(part.read_upto);
            if !no_last_read {
                part.last_read_at = Some(now.clone());
            }
        }
        if self.has(Defect::LastReadAtEveryone) && !no_last_read {
            for part in data.participants.iter_mut() {
                part.last_read_at = Some(now.clone());
            }
        }
        Ok(b"{}".to_vec())
    }

    pub(crate) fn get_chat_participants(
        &self,
        caller: &Caller,
        p: &Params,
    ) -> Result<Vec<u8>, ApiError> {
        let chat_id = p.required("chat")?;
        let chat =
            self.state
                .chat_for(caller, chat_id, self.has(Defect::MarkAnyChat), self.defects)?;
        let data = chat.lock();
        let omit_caller = self.has(Defect::ParticipantsOmitCaller);
        let own_only = self.has(Defect::LastReadAtCallerOnly);
        let out: Vec<ParticipantOut> = data
            .participants
            .iter()
            .filter(|p| !(omit_caller && *p.user == *caller.email))
            .map(|p| ParticipantOut {
                user: &p.user,
                joined_at: &p.joined_at,
                last_read_at: p
                    .last_read_at
                    .as_deref()
                    .filter(|_| !own_only || *p.user == *caller.email),
            })
            .collect();
        envelope(&out)
    }

    pub(crate) fn get_users(&self, caller: &Caller) -> Result<Vec<u8>, ApiError> {
        let users = self.state.users();
        let leak = self.has(Defect::UsersLeakSecret);
        let include_caller = self.has(Defect::UsersIncludeCaller);
        let mut out: Vec<UserOut> = users
            .list
            .iter()
            .filter(|u| include_caller || Some(u.id) != caller.id)
            .map(|u| UserOut {
                name: &u.email,
                full_name: &u.full_name,
                email: &u.email,
                api_key: leak.then_some(u.api_key.as_str()),
                api_secret: leak.then_some(u.api_secret.as_str()),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(b.name));
        envelope(&out)
    }
}
