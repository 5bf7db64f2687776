//! The endpoint table of the chat API: one place that knows every endpoint's
//! name, method, path, parameters, whether it needs a token and its expected
//! rate limit (CONTRACT.md's table and the design's rate-limit table).

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Every endpoint is below this path (ENV-1).
pub const PATH_PREFIX: &str = "/api/method/frappe_chat.api.";

/// HTTP method an endpoint is specified with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// The nine endpoints of the API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    Login,
    Signup,
    GetChats,
    CreateChat,
    GetMessages,
    SendMessage,
    MarkAsRead,
    GetChatParticipants,
    GetUsers,
}

/// One parameter of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub required: bool,
}

const fn req(name: &'static str) -> Param {
    Param {
        name,
        required: true,
    }
}
const fn opt(name: &'static str) -> Param {
    Param {
        name,
        required: false,
    }
}

impl Endpoint {
    pub const ALL: [Endpoint; 9] = [
        Endpoint::Login,
        Endpoint::Signup,
        Endpoint::GetChats,
        Endpoint::CreateChat,
        Endpoint::GetMessages,
        Endpoint::SendMessage,
        Endpoint::MarkAsRead,
        Endpoint::GetChatParticipants,
        Endpoint::GetUsers,
    ];

    /// The endpoints with a limit in the contract's rate-limit table.
    pub const LIMITED: [Endpoint; 6] = [
        Endpoint::Login,
        Endpoint::Signup,
        Endpoint::GetChats,
        Endpoint::CreateChat,
        Endpoint::GetMessages,
        Endpoint::SendMessage,
    ];

    /// The method name as it appears in the path.
    pub fn name(self) -> &'static str {
        match self {
            Endpoint::Login => "login",
            Endpoint::Signup => "signup",
            Endpoint::GetChats => "get_chats",
            Endpoint::CreateChat => "create_chat",
            Endpoint::GetMessages => "get_messages",
            Endpoint::SendMessage => "send_message",
            Endpoint::MarkAsRead => "mark_as_read",
            Endpoint::GetChatParticipants => "get_chat_participants",
            Endpoint::GetUsers => "get_users",
        }
    }

    /// `/api/method/frappe_chat.api.<name>`.
    pub fn path(self) -> String {
        format!("{PATH_PREFIX}{}", self.name())
    }

    pub fn method(self) -> Method {
        match self {
            Endpoint::GetChats
            | Endpoint::GetMessages
            | Endpoint::GetChatParticipants
            | Endpoint::GetUsers => Method::Get,
            _ => Method::Post,
        }
    }

    /// Whether the endpoint refuses a request without a token (AUTH-3).
    pub fn requires_auth(self) -> bool {
        !matches!(self, Endpoint::Login | Endpoint::Signup)
    }

    /// Login and signup are limited per client address, the rest per user.
    pub fn limited_per_address(self) -> bool {
        !self.requires_auth()
    }

    pub fn params(self) -> &'static [Param] {
        match self {
            Endpoint::Login => const { &[req("usr"), req("pwd")] },
            Endpoint::Signup => const { &[req("email"), req("password"), req("full_name")] },
            Endpoint::GetChats | Endpoint::GetUsers => &[],
            Endpoint::CreateChat => {
                const { &[req("chat_name"), req("participants"), opt("chat_type")] }
            }
            Endpoint::GetMessages => const { &[req("chat"), opt("after"), opt("limit")] },
            Endpoint::SendMessage => const { &[req("chat"), req("content"), opt("message_type")] },
            Endpoint::MarkAsRead | Endpoint::GetChatParticipants => const { &[req("chat")] },
        }
    }

    /// The limit per window the contract expects, `None` for endpoints outside
    /// the table.
    pub fn contract_limit(self) -> Option<u32> {
        match self {
            Endpoint::Login => Some(10),
            Endpoint::Signup => Some(5),
            Endpoint::GetChats => Some(100),
            Endpoint::CreateChat => Some(50),
            Endpoint::GetMessages => Some(200),
            Endpoint::SendMessage => Some(100),
            _ => None,
        }
    }

    /// Limits the public implementation applies outside the table (INFO):
    /// a checking tool keeps under these.
    pub fn courtesy_limit(self) -> Option<u32> {
        match self {
            Endpoint::GetUsers => Some(50),
            Endpoint::MarkAsRead => Some(100),
            other => other.contract_limit(),
        }
    }

    /// Finds the endpoint a request path names, if any.
    pub fn from_path(path: &str) -> Option<Endpoint> {
        path.strip_prefix(PATH_PREFIX)?.parse().ok()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An endpoint name that is not one of the nine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint {0:?} (expected one of: login, signup, get_chats, create_chat, get_messages, send_message, mark_as_read, get_chat_participants, get_users)")]
pub struct UnknownEndpoint(pub String);

impl FromStr for Endpoint {
    type Err = UnknownEndpoint;

    /// Accepts the bare name or the dotted `frappe_chat.api.<name>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.strip_prefix("frappe_chat.api.").unwrap_or(s);
        Endpoint::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| UnknownEndpoint(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for e in Endpoint::ALL {
            assert_eq!(e.name().parse::<Endpoint>().unwrap(), e);
            assert_eq!(Endpoint::from_path(&e.path()), Some(e));
        }
        assert_eq!(
            "frappe_chat.api.get_users".parse::<Endpoint>().unwrap(),
            Endpoint::GetUsers
        );
        assert!("nope".parse::<Endpoint>().is_err());
        assert_eq!(Endpoint::from_path("/api/method/other.get_users"), None);
    }

    #[test]
    fn table_matches_contract() {
        let limited: Vec<_> = Endpoint::ALL
            .into_iter()
            .filter(|e| e.contract_limit().is_some())
            .collect();
        assert_eq!(limited, Endpoint::LIMITED);
        assert_eq!(Endpoint::GetMessages.method(), Method::Get);
        assert_eq!(Endpoint::MarkAsRead.method(), Method::Post);
        assert!(!Endpoint::Signup.requires_auth());
        assert!(Endpoint::GetUsers.requires_auth());
    }
}
