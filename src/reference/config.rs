//! What a reference server is started with: its users, limits, window,
//! reset form, production origin and defects. Validated values only; the
//! command line converts into this in `serve.rs`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::contract::{Endpoint, LimitsTable};

use super::defect::Defect;
use super::variant::{Variant, DEFAULT_LATENCY};

/// The password of the default and generated users.
pub const DEFAULT_PASSWORD: &str = "Passw0rd!";

/// A user the server starts with.
#[derive(Clone, PartialEq, Eq)]
pub struct SeedUser {
    pub email: String,
    pub password: String,
    pub full_name: String,
}

impl std::fmt::Debug for SeedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SeedUser({}, {:?})", self.email, self.full_name)
    }
}

impl SeedUser {
    pub fn new(email: impl Into<String>, password: impl Into<String>) -> Self {
        let email = email.into();
        let full_name = default_full_name(&email);
        SeedUser {
            email,
            password: password.into(),
            full_name,
        }
    }

    pub fn with_full_name(mut self, full_name: impl Into<String>) -> Self {
        self.full_name = full_name.into();
        self
    }
}

/// `alice@example.com` becomes `Alice`.
fn default_full_name(email: &str) -> String {
    let local = email.split('@').next().unwrap_or(email);
    let mut chars = local.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => email.to_owned(),
    }
}

/// How the reference server writes `X-RateLimit-Reset` (RL-5 allows both;
/// `contract::ratelimit::ResetForm` is the form a client reads in an answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetStyle {
    /// Seconds until capacity returns.
    #[default]
    Delta,
    /// The Unix time at which capacity returns.
    Epoch,
}

impl std::str::FromStr for ResetStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "delta" => Ok(ResetStyle::Delta),
            "epoch" => Ok(ResetStyle::Epoch),
            _ => Err(format!("{s:?}: expected delta or epoch")),
        }
    }
}

/// Everything a reference server is started with.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Users seeded at start (replaces the default three when set).
    pub users: Vec<SeedUser>,
    /// Extra generated users `load-NNNNN@example.com` (password `Passw0rd!`).
    pub generated_users: usize,
    /// Enforced limits and their window; endpoints absent are unlimited.
    pub limits: LimitsTable,
    pub reset_form: ResetStyle,
    /// The allowed origin besides `http://localhost:*` and `http://127.0.0.1:*`.
    pub production_origin: Option<String>,
    pub defects: BTreeSet<Defect>,
    /// Conforming variants (behaviour within the contract, not defects).
    pub variants: BTreeSet<Variant>,
    /// How long every request is held before it is handled (the `latency`
    /// variant; zero otherwise).
    pub latency: Duration,
    /// Largest request body accepted; larger ones answer 413.
    pub body_cap: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            users: ["alice", "bob", "carol"]
                .into_iter()
                .map(|n| SeedUser::new(format!("{n}@example.com"), DEFAULT_PASSWORD))
                .collect(),
            generated_users: 0,
            limits: LimitsTable::default(),
            reset_form: ResetStyle::Delta,
            production_origin: None,
            defects: BTreeSet::new(),
            variants: BTreeSet::new(),
            latency: Duration::ZERO,
            body_cap: 1 << 20,
        }
    }
}

impl ServerConfig {
    pub fn with_defect(mut self, d: Defect) -> Self {
        self.defects.insert(d);
        self
    }

    /// Switches on a conforming variant; `latency` without a latency set
    /// holds every request for [`DEFAULT_LATENCY`].
    pub fn with_variant(mut self, v: Variant) -> Self {
        self.variants.insert(v);
        if v == Variant::Latency && self.latency.is_zero() {
            self.latency = DEFAULT_LATENCY;
        }
        self
    }

    /// Holds every request for `d` before handling it (the `latency`
    /// variant with that value; zero switches it off).
    pub fn with_latency(mut self, d: Duration) -> Self {
        self.latency = d;
        if d.is_zero() {
            self.variants.remove(&Variant::Latency);
        } else {
            self.variants.insert(Variant::Latency);
        }
        self
    }

    pub fn with_window(mut self, secs: u64) -> Self {
        self.limits.window_seconds = secs.max(1);
        self
    }

    pub fn with_limit(mut self, e: Endpoint, n: u32) -> Self {
        self.limits.limits.insert(e, n);
        self
    }

    /// Removes the limit of an endpoint.
    pub fn without_limit(mut self, e: Endpoint) -> Self {
        self.limits.limits.remove(&e);
        self
    }

    pub fn with_generated_users(mut self, n: usize) -> Self {
        self.generated_users = n;
        self
    }

    pub fn with_users(mut self, users: Vec<SeedUser>) -> Self {
        self.users = users;
        self
    }

    pub fn with_reset_form(mut self, form: ResetStyle) -> Self {
        self.reset_form = form;
        self
    }

    pub fn with_production_origin(mut self, origin: impl Into<String>) -> Self {
        self.production_origin = Some(origin.into());
        self
    }

    /// The e-mail of the i-th generated user (0-based).
    pub fn generated_email(i: usize) -> String {
        format!("load-{i:05}@example.com")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_brief() {
        let c = ServerConfig::default();
        let emails: Vec<_> = c.users.iter().map(|u| u.email.as_str()).collect();
        assert_eq!(
            emails,
            ["alice@example.com", "bob@example.com", "carol@example.com"]
        );
        assert_eq!(c.users[0].full_name, "Alice");
        assert_eq!(c.limits.window_seconds, 60);
        assert_eq!(c.limits.limit(Endpoint::GetMessages), Some(200));
        let c = c.with_window(2).with_limit(Endpoint::GetUsers, 3);
        assert_eq!(c.limits.window_seconds, 2);
        assert_eq!(c.limits.limit(Endpoint::GetUsers), Some(3));
        assert!(!format!("{:?}", c.users[0]).contains(DEFAULT_PASSWORD));
        let v = ServerConfig::default().with_variant(Variant::Latency);
        assert_eq!(v.latency, DEFAULT_LATENCY);
        let v = v.with_latency(Duration::from_millis(50));
        assert!(v.variants.contains(&Variant::Latency));
        assert_eq!(v.latency, Duration::from_millis(50));
        assert!(!v
            .with_latency(Duration::ZERO)
            .variants
            .contains(&Variant::Latency));
    }
}
