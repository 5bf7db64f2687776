//! End-to-end tests: one binary, loopback servers only.

mod client;
mod load;
