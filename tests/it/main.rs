//! End-to-end tests: one binary, loopback servers only.

mod check;
mod client;
mod reference;
