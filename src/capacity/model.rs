//! How close one user comes to the get_messages limit. A capacity report
//! shows this beside the personas' request rates (each persona's arithmetic
//! is in its file of `load/persona/`), so a planner sees where a server
//! departs from the arithmetic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One user's standing against the get_messages limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Headroom {
    /// get_messages per window at the poller's peak rate, per device.
    #[schemars(range(min = 0))]
    pub peak_per_window: f64,
    /// The get_messages limit per window, requests.
    #[schemars(range(min = 1))]
    pub limit: u32,
    /// The window, seconds.
    #[schemars(range(min = 1))]
    pub window_seconds: u64,
    /// Peak use as a fraction of the limit (RL-6 promises no refusal up to 0.6).
    #[schemars(range(min = 0))]
    pub peak_fraction: f64,
    /// Devices (open chat screens) one user can poll from at peak before refusals.
    pub devices_before_refusal: u32,
}

pub(crate) fn headroom(peak_polls_per_second: f64, limit: u32, window_seconds: u64) -> Headroom {
    let per_window = peak_polls_per_second * window_seconds as f64;
    Headroom {
        peak_per_window: per_window,
        limit,
        window_seconds,
        peak_fraction: if limit == 0 {
            f64::INFINITY
        } else {
            per_window / limit as f64
        },
        devices_before_refusal: if per_window <= 0.0 {
            u32::MAX
        } else {
            (limit as f64 / per_window).floor() as u32
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-3
    }

    #[test]
    fn headroom_of_the_design_poller() {
        let h = headroom(2.0, 200, 60);
        assert!(close(h.peak_per_window, 120.0));
        assert!(close(h.peak_fraction, 0.6));
        assert_eq!(h.devices_before_refusal, 1);
    }
}
