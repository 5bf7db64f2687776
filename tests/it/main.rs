//! End-to-end tests: one binary, loopback servers only.

mod capacity;
mod client;
mod hostile;
mod limits;
mod load;
mod props;
mod reference;
