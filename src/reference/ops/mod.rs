//! The nine endpoints' semantics over [`State`](super::state::State): each
//! validates its parameters, applies the participant rules and answers the
//! envelope bytes. Defects hook in here with one `if` each. One file per
//! kind of thing the endpoints act on:
//!
//! - `users.rs`: login, signup, get_users;
//! - `chats.rs`: get_chats, create_chat, mark_as_read, get_chat_participants;
//! - `messages.rs`: get_messages and send_message.

mod chats;
mod messages;
mod users;
