//! The chat API contract in one place: endpoints, wire types, the Frappe
//! error envelope, rate-limit headers, timestamps and the expected limits.
//! Everything that speaks to or as a server goes through these types.

pub mod endpoint;
pub mod envelope;
pub mod headers;
pub mod limits;
pub mod ratelimit;
pub mod redact;
pub mod refusal;
pub mod timestamp;
pub mod wire;

pub use endpoint::{Endpoint, Method};
pub use envelope::ErrorEnvelope;
pub use limits::LimitsTable;
pub use ratelimit::RateLimitInfo;
pub use refusal::Refusal;
pub use timestamp::Timestamp;
