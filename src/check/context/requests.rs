//! Request builders every area uses: send_message and get_messages, for
//! checks that look at the raw answer rather than a decoded one.

use crate::client::{Credentials, Request};
use crate::contract::Endpoint;

use super::user::SignedIn;

/// send_message as `creds` to `chat`.
pub(crate) fn send_request(creds: &Credentials, chat: &str, content: impl Into<String>) -> Request {
    Request::to(Endpoint::SendMessage)
        .token(creds)
        .param("chat", chat)
        .param("content", content)
}

/// get_messages as `user` in `chat`, with `after` and `limit` when given.
pub(crate) fn messages_request(
    user: &SignedIn,
    chat: &str,
    after: Option<&str>,
    limit: Option<u32>,
) -> Request {
    let mut req = Request::to(Endpoint::GetMessages)
        .token(&user.creds)
        .param("chat", chat);
    if let Some(a) = after {
        req = req.param("after", a);
    }
    if let Some(l) = limit {
        req = req.param("limit", l.to_string());
    }
    req
}
