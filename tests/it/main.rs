//! End-to-end tests: one binary, loopback servers only.

mod client;
mod limits;
mod reference;
mod load;
