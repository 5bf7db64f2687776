//! Serde types for what each endpoint returns under `message` (CONTRACT.md's
//! endpoint table). Unknown keys are ignored; `is_read` may be 0/1 or a bool.

use serde::{Deserialize, Deserializer, Serialize};

use super::timestamp::Timestamp;

/// A chat's `chat_type`: create_chat's parameter and get_chats' field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    Direct,
    Group,
}

impl ChatKind {
    /// The wire value, `Direct` or `Group`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Direct => "Direct",
            ChatKind::Group => "Group",
        }
    }
}

/// login and signup: the pair to use as `Authorization: token KEY:SECRET`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResult {
    /// "Logged In" or "User Created".
    #[serde(default)]
    pub message: String,
    pub api_key: String,
    pub api_secret: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl std::fmt::Debug for LoginResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResult")
            .field("message", &self.message)
            .field("api_key", &self.api_key)
            .field("api_secret", &"***")
            .field("full_name", &self.full_name)
            .field("email", &self.email)
            .finish()
    }
}

/// One entry of get_chats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSummary {
    pub name: String,
    #[serde(default)]
    pub chat_name: Option<String>,
    #[serde(default)]
    pub chat_type: Option<String>,
    #[serde(default)]
    pub last_message: Option<String>,
    #[serde(default)]
    pub last_message_at: Option<Timestamp>,
}

/// One entry of get_messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub name: String,
    pub sender: String,
    pub content: String,
    #[serde(default)]
    pub message_type: Option<String>,
    pub creation: Timestamp,
    #[serde(default, deserialize_with = "flag")]
    pub is_read: bool,
}

/// What send_message answers: the stored message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub name: String,
    pub sender: String,
    pub content: String,
    pub creation: Timestamp,
}

/// One entry of get_chat_participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    pub user: String,
    #[serde(default)]
    pub joined_at: Option<Timestamp>,
    #[serde(default)]
    pub last_read_at: Option<Timestamp>,
}

/// One entry of get_users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub full_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

/// Accepts 0/1, booleans and null (as false) for Frappe's check fields.
fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Int(i64),
        Null(()),
    }
    match Flag::deserialize(d)? {
        Flag::Bool(b) => Ok(b),
        Flag::Int(0) => Ok(false),
        Flag::Int(1) => Ok(true),
        Flag::Int(n) => Err(serde::de::Error::custom(format!(
            "is_read must be 0 or 1, got {n}"
        ))),
        Flag::Null(()) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_contract_shapes_with_extra_keys() {
        let login: LoginResult = serde_json::from_value(serde_json::json!({
            "message": "Logged In", "api_key": "k", "api_secret": "s",
            "full_name": "Alice", "email": "alice@example.com", "home_page": "/app"
        }))
        .unwrap();
        let messages: Vec<Message> = serde_json::from_value(serde_json::json!([
            {"name": "m1", "sender": "a@x", "content": "hi", "message_type": "text",
             "creation": "2024-01-01 10:00:00.000001", "is_read": 0, "owner": "a@x"},
            {"name": "m2", "sender": "b@x", "content": "yo",
             "creation": "2024-01-01 10:00:01", "is_read": true}
        ]))
        .unwrap();
        let chats: Vec<ChatSummary> = serde_json::from_value(serde_json::json!([
            {"name": "c1", "chat_name": "x", "chat_type": "Direct",
             "last_message": null, "last_message_at": null}
        ]))
        .unwrap();
        let parts: Vec<Participant> = serde_json::from_value(serde_json::json!([
            {"user": "a@x", "joined_at": "2024-01-01 10:00:00.000000", "last_read_at": null}
        ]))
        .unwrap();
        insta::assert_debug_snapshot!((login, messages, chats, parts));
    }

    #[test]
    fn is_read_rejects_other_numbers() {
        let r: Result<Message, _> = serde_json::from_value(serde_json::json!(
            {"name": "m", "sender": "a", "content": "", "creation": "2024-01-01 00:00:00", "is_read": 7}
        ));
        assert!(r.unwrap_err().to_string().contains("is_read"));
    }
}
