//! End-to-end tests: one binary, loopback servers only.

mod capacity;
mod client;
mod dist;
mod limits;
mod load;
mod reference;
