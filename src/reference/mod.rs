//! The reference server: CONTRACT.md implemented faithfully, as the embedded
//! default target, the clean baseline every conformance check passes, and,
//! with [`Defect`]s switched on, the proof that each check can fail. With
//! [`Variant`]s switched on it differs from its own choices in ways the
//! contract allows (latency, serial handling, 417 refusals, split header
//! lines, extra keys, `Connection: close`, another time zone): the proof that
//! no check fails a conforming server.
//!
//! One [`Core`] holds the semantics (users, tokens, chats, messages, read
//! state, the sliding-window limiter, CORS, the Frappe envelope) and speaks
//! only `http` types. Two fronts put it on the network: [`serve`] (hyper,
//! for `chat-harness serve` and load runs) and [`start_mock`] (wiremock, for
//! self-tests that want to mount extra mocks on top).
//!
//! # What the contract leaves open (INFO), decided here
//! - **Methods** (ENV-1): every endpoint answers GET and POST alike; the query
//!   string and a form or JSON body are merged (the body wins). OPTIONS is a
//!   CORS preflight on any path.
//! - **Edge values** (ENV-4b): an empty optional parameter counts as absent;
//!   an empty required one is a `MandatoryError` (417). `limit` must be a
//!   positive integer (`0`, `-1`, `abc`: 417); above 100 it is clamped to
//!   500 (POLL-8), however large. Malformed percent-encoding, invalid UTF-8,
//!   a JSON body that is not an object, or a multipart body: 400
//!   (`BadRequest`). Bodies over 1 MiB: 413. Unknown paths: 404
//!   (`DoesNotExistError`).
//! - **Authentication** (AUTH-3, AUTH-5): no `Authorization` header answers
//!   403 `PermissionError` (Frappe's Guest); a wrong or malformed one 401.
//!   `token` is accepted in any case, and so is `Basic base64(key:secret)`.
//!   Cookies are ignored and login sets none. Login returns the user's
//!   existing pair, never rotated (AUTH-6).
//! - **Signup**: the e-mail needs a local part and a dotted domain, the
//!   password at least 8 characters (417 otherwise); a taken e-mail is 409
//!   `DuplicateEntryError`.
//! - **Rate limits** (RL-9): a request is counted once it reaches the limiter,
//!   which is after authentication for the user's endpoints: failed
//!   authentication consumes nothing (and carries no rate headers), while a
//!   later 403, 404 or 417 has been counted, as in the public implementation.
//!   Login and signup are counted per socket peer address before the
//!   password is checked (so wrong passwords spend quota); X-Forwarded-For is
//!   ignored. Malformed requests (400, 413) are answered before the limiter.
//!   Only endpoints in the configured table are limited (by default the
//!   contract's six). `X-RateLimit-Reset` is the seconds (or, with
//!   `ResetStyle::Epoch`, the Unix time) until the oldest counted request
//!   leaves the window, i.e. until one unit of capacity returns; 0 when
//!   nothing is counted. `Retry-After` on a 429 is that delay, at least 1.
//!   Preflights carry no rate headers.
//! - **Read state** (READ-1b): per message. A message is read once a
//!   participant other than its sender has called mark_as_read after it was
//!   stored; the same in Group chats. `last_read_at` is the caller's
//!   mark_as_read time (READ-2).
//! - **Chats**: a Group needs at least one participant besides the caller;
//!   unknown user ids are refused with 417 (AUTHZ-6b). A missing chat is 404,
//!   a chat the caller is not in 403. get_chats puts chats without messages
//!   last, newest first; `last_message` is the first 100 characters.
//! - **Timestamps**: naive server-local time, always six fraction digits,
//!   per chat strictly increasing (bumped by 1 µs on a tie). `after` takes
//!   the space or the `T` form; a finer fraction than microseconds is
//!   truncated.
//! - **CORS**: `http://localhost[:port]`, `http://127.0.0.1[:port]` and the
//!   configured production origin are echoed, with `Vary: Origin`,
//!   `Access-Control-Allow-Credentials: true` and the rate-limit headers
//!   exposed, on every answer including errors. Preflights answer 204.

mod admission;
mod config;
mod defect;
mod error;
mod hyper_front;
mod limiter;
mod ops;
mod params;
mod pipeline;
mod response;
mod state;
mod variant;
mod wiremock_front;

pub use self::config::{ResetStyle, SeedUser, ServerConfig, DEFAULT_PASSWORD};
pub use self::defect::{Defect, UnknownDefect};
pub use self::hyper_front::{embedded, serve, RunningServer};
pub use self::pipeline::{Core, CoreRequest};
pub use self::variant::{UnknownVariant, Variant, DEFAULT_LATENCY};
pub use self::wiremock_front::start_mock;
