//! The measurements behind `chat-harness limits`: a lane is one rate-limit
//! bucket the probe can hit (one user on one endpoint, or one client address
//! on login and signup); bursts hit it sequentially until the first refusal,
//! and a concurrent burst tests that counting is atomic.
//!
//! - `pairs.rs`: the pair each user holds and when each bucket was last spent;
//! - `lane.rs`: one bucket to hit, and the requests it sends;
//! - `burst.rs`: sequential and simultaneous bursts on a lane;
//! - `effect.rs`: whether a refused request took effect anyway.

mod burst;
mod effect;
mod lane;
mod pairs;

pub use burst::Concurrent;
pub(crate) use burst::{burst, concurrent, Burst, Sample};
pub(crate) use effect::refused_had_effect;
pub(crate) use lane::{client_from, is_loopback_target, Lane, Sent};
pub(crate) use pairs::Pairs;
