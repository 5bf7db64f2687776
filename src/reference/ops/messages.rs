//! get_messages and send_message: pages of a chat's messages after a
//! timestamp, and storing a message with its creation time.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::contract::Timestamp;
use crate::reference::defect::Defect;
use crate::reference::error::ApiError;
use crate::reference::params::RequestParams;
use crate::reference::pipeline::{pause, Inner, Pause};
use crate::reference::state::{envelope, Caller, Chat, Msg, MAX_CONTENT_CHARS, VISIBILITY_DELAY};

/// Default and largest page of get_messages (POLL-2, POLL-8: clamped above).
const DEFAULT_LIMIT: usize = 50;
const LIMIT_CAP: usize = 500;

/// name, content, message_type, visible_from.
type MsgParts = (String, String, String, Option<Instant>);

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

impl Inner {
    pub(crate) fn get_messages(
        &self,
        caller: &Caller,
        p: &RequestParams,
    ) -> Result<Vec<u8>, ApiError> {
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
        p: &RequestParams,
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
}
