//! get_chats, create_chat, mark_as_read and get_chat_participants: the
//! chats, their participants and their read state.

use std::sync::Arc;

use serde::Serialize;

use crate::reference::defect::Defect;
use crate::reference::error::ApiError;
use crate::reference::params::RequestParams;
use crate::reference::pipeline::Inner;
use crate::reference::state::{envelope, Caller, ChatKind, LAST_MESSAGE_PREFIX};

#[derive(Serialize)]
struct ChatOut<'a> {
    name: &'a str,
    chat_name: &'a str,
    chat_type: &'a str,
    last_message: Option<String>,
    last_message_at: Option<&'a str>,
}

#[derive(Serialize)]
struct ParticipantOut<'a> {
    user: &'a str,
    joined_at: &'a str,
    last_read_at: Option<&'a str>,
}

impl Inner {
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

    pub(crate) fn create_chat(
        &self,
        caller: &Caller,
        p: &RequestParams,
    ) -> Result<Vec<u8>, ApiError> {
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

    pub(crate) fn mark_as_read(
        &self,
        caller: &Caller,
        p: &RequestParams,
    ) -> Result<Vec<u8>, ApiError> {
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
        p: &RequestParams,
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
}
