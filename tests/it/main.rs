//! End-to-end tests: one binary, loopback servers only.

mod args;
mod call;
mod capacity;
mod check;
mod client;
mod deploy;
mod dist;
mod hostile;
mod http1_diff;
mod limits;
mod load;
mod props;
mod provision;
mod reference;
mod schema;
mod spec;
mod variants;
