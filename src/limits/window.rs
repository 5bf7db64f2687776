//! Telling window kinds apart from the outside. The probe (see `probe/`)
//! spends half the limit at t0, fills the bucket at t0 + W/2, and asks again
//! just after t0 + W:
//!
//! - a sliding window has let exactly the first half age out, so about half
//!   the limit is accepted again;
//! - a fixed window (counted from the first request, or aligned to the clock)
//!   has reset as a whole, so the full limit is accepted;
//! - a window whose expiry restarts on every accepted request has not expired
//!   at all (the last request was at W/2): nothing is accepted until about
//!   t0 + 1.5 W, when a fourth phase sees the full limit again.
//!
//! The classification is a pure function of those counts, so it is tested on
//! numbers here and on real servers in the integration tests.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The kind of window a server's limiter behaves like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// Each counted request ages out on its own after the window (RL-6).
    Sliding,
    /// The count resets all at once at window boundaries.
    Fixed,
    /// The count resets only after a whole window without accepted requests.
    RestartOnRequest,
    /// A login of the user empties its buckets (found by the login probe,
    /// whatever the timeline showed).
    EmptiedByLogin,
    /// The counts fit none of the models.
    Unknown,
}

impl WindowKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WindowKind::Sliding => "sliding",
            WindowKind::Fixed => "fixed",
            WindowKind::RestartOnRequest => "restart-on-request",
            WindowKind::EmptiedByLogin => "emptied-by-login",
            WindowKind::Unknown => "unknown",
        }
    }
}

/// How sure the classification is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// What each phase of the probe saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Phases {
    /// Requests accepted at t0 (the probe sends half the expected limit).
    pub first: u32,
    /// Requests the probe sent at t0.
    pub first_sent: u32,
    /// Requests accepted at t0 + W/2 before the first refusal.
    pub second: u32,
    /// Requests accepted just after t0 + W before the first refusal (at most
    /// the limit).
    pub third: u32,
    /// Whether phase three stopped at its cap without a refusal.
    pub third_capped: bool,
    /// Requests accepted just after t0 + 1.5 W; null unless phase three saw
    /// none accepted.
    pub fourth: Option<u32>,
    /// X-RateLimit-Remaining as [from, to] when it went up between the last
    /// request of t0 and the first of t0 + W/2: nothing can age out of a
    /// sliding window in half a window, so the count was reset at a
    /// boundary; null otherwise.
    pub rose_between: Option<(u64, u64)>,
}

/// The verdict and the arithmetic behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct WindowVerdict {
    /// The window kind the limiter behaves like.
    pub kind: WindowKind,
    /// How sure the classification is.
    pub confidence: Confidence,
    /// What each phase of the probe saw (t0 is its start, W the window).
    pub phases: Phases,
    /// The reasoning in words, with the numbers.
    pub evidence: String,
}

/// Classifies the phases for an enforced limit `limit` (phases one and two
/// together, when nothing reset in between).
pub fn classify(phases: Phases) -> WindowVerdict {
    let p = phases;
    let limit = p.first + p.second;
    let tol = (limit / 20).max(1);
    let near = |x: u32, y: u32| x.abs_diff(y) <= tol;
    let verdict = |kind, confidence, evidence: String| WindowVerdict {
        kind,
        confidence,
        phases,
        evidence,
    };
    if let Some((from, to)) = p.rose_between {
        return verdict(
            WindowKind::Fixed,
            Confidence::High,
            format!(
                "Remaining rose from {from} to {to} between t0 and t0+W/2 although no request could have aged past the window: the count was reset at a window boundary"
            ),
        );
    }
    if p.first < p.first_sent {
        return verdict(
            WindowKind::Unknown,
            Confidence::Low,
            format!(
                "only {} of the first {} requests were accepted: the bucket was not fresh, or the limit is below half the expected one",
                p.first, p.first_sent
            ),
        );
    }
    if limit < 4 {
        return verdict(
            WindowKind::Unknown,
            Confidence::Low,
            format!("an enforced limit of {limit} is too small to tell window kinds apart"),
        );
    }
    if p.third == 0 {
        return match p.fourth {
            Some(f) if near(f, limit) || f >= limit => verdict(
                WindowKind::RestartOnRequest,
                Confidence::High,
                format!(
                    "nothing was accepted just after t0+W although {} requests had aged past the window; the full limit ({f}) returned only at t0+1.5W, a whole window after the last accepted request",
                    p.first
                ),
            ),
            Some(f) => verdict(
                WindowKind::Unknown,
                Confidence::Low,
                format!("nothing was accepted just after t0+W and only {f} of {limit} at t0+1.5W"),
            ),
            None => verdict(
                WindowKind::RestartOnRequest,
                Confidence::Medium,
                format!(
                    "nothing was accepted just after t0+W although {} requests had aged past the window",
                    p.first
                ),
            ),
        };
    }
    if p.third_capped || near(p.third, limit) {
        let distinct = p.first + tol < limit - tol;
        return verdict(
            WindowKind::Fixed,
            if distinct { Confidence::High } else { Confidence::Low },
            format!(
                "{} were accepted just after t0+W: the whole count reset, where a sliding window would have returned only the {} requests of t0",
                p.third, p.first
            ),
        );
    }
    if near(p.third, p.first) {
        let exact = p.third == p.first;
        return verdict(
            WindowKind::Sliding,
            if exact { Confidence::High } else { Confidence::Medium },
            format!(
                "{} were accepted just after t0+W: the {} requests of t0 had aged out while the {} of t0+W/2 still counted",
                p.third, p.first, p.second
            ),
        );
    }
    verdict(
        WindowKind::Unknown,
        Confidence::Low,
        format!(
            "{} accepted just after t0+W fits neither a sliding window ({}) nor a reset ({limit})",
            p.third, p.first
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phases(first: u32, second: u32, third: u32, capped: bool, fourth: Option<u32>) -> Phases {
        Phases {
            first,
            first_sent: first,
            second,
            third,
            third_capped: capped,
            fourth,
            rose_between: None,
        }
    }

    #[test]
    fn sliding() {
        let v = classify(phases(100, 100, 100, false, None));
        assert_eq!(
            (v.kind, v.confidence),
            (WindowKind::Sliding, Confidence::High)
        );
        let v = classify(phases(100, 100, 103, false, None));
        assert_eq!(
            (v.kind, v.confidence),
            (WindowKind::Sliding, Confidence::Medium)
        );
    }

    #[test]
    fn fixed() {
        let v = classify(phases(5, 5, 10, true, None));
        assert_eq!(
            (v.kind, v.confidence),
            (WindowKind::Fixed, Confidence::High)
        );
        assert!(v.evidence.contains("whole count reset"));
    }

    #[test]
    fn a_reset_between_the_first_phases_is_a_fixed_window() {
        let mut p = phases(5, 10, 10, true, None);
        p.rose_between = Some((5, 9));
        let v = classify(p);
        assert_eq!(
            (v.kind, v.confidence),
            (WindowKind::Fixed, Confidence::High)
        );
        assert!(v.evidence.contains("from 5 to 9"));
    }

    #[test]
    fn restart_on_request() {
        let v = classify(phases(50, 50, 0, false, Some(100)));
        assert_eq!(
            (v.kind, v.confidence),
            (WindowKind::RestartOnRequest, Confidence::High)
        );
        let v = classify(phases(50, 50, 0, false, None));
        assert_eq!(v.confidence, Confidence::Medium);
    }

    #[test]
    fn unclear_counts_are_unknown() {
        assert_eq!(
            classify(phases(50, 50, 25, false, None)).kind,
            WindowKind::Unknown
        );
        assert_eq!(
            classify(phases(1, 1, 1, false, None)).confidence,
            Confidence::Low
        );
        let mut p = phases(3, 0, 3, false, None);
        p.first_sent = 5;
        assert!(classify(p).evidence.contains("not fresh"));
    }
}
