//! `chat-harness capacity`: how many users, in a scenario's mix, a server
//! carries within an SLO, measured in rising steps and set beside the
//! arithmetic of the polling models.

pub mod model;
