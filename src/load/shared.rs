//! What every user of one load run shares ([`Shared`]): the scenario and its
//! plan, the delivery tracker, the statistics, the users' tokens and chats,
//! the run's clock, and why it stopped before its time ([`Control`]).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use super::delivery::Tracker;
use super::plan::Plan;
use super::scenario::Scenario;
use super::stats::Stats;

/// Why a run stopped before its time, set by whoever noticed.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    reason: Mutex<Option<String>>,
    /// 401s for tokens that had worked before in this run.
    pub revoked: AtomicU64,
}

impl Control {
    pub fn stop(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    pub fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Everything a run's users share.
#[derive(Debug)]
pub struct Shared {
    pub scenario: Scenario,
    pub plan: Plan,
    pub tracker: Tracker,
    pub stats: Stats,
    pub control: Control,
    /// `token KEY:SECRET` per user.
    pub auth: Vec<String>,
    /// Server chat id per planned chat.
    pub chat_ids: Vec<String>,
    /// Marks this run's messages.
    pub tag: String,
    /// Messages are sent until here (with `iterations`: at the latest).
    pub send_until: Instant,
    /// Polling stops here at the latest: `send_until` and the grace period.
    /// An `iterations` run ends earlier, see [`Shared::end`].
    pub deadline: Instant,
    /// Users that have performed all their iterations.
    pub finished: AtomicU32,
    /// When the last user finished its iterations.
    pub all_finished: OnceLock<Instant>,
}

impl Shared {
    /// Polling stops here: the deadline, or a grace period after every user
    /// finished its iterations.
    pub fn end(&self) -> Instant {
        match self.all_finished.get() {
            Some(t) => (*t + self.scenario.grace).min(self.deadline),
            None => self.deadline,
        }
    }

    /// An `iterations` run whose users all finished, and whose grace is over.
    pub fn completed(&self, now: Instant) -> bool {
        self.all_finished.get().is_some() && now >= self.end()
    }

    /// A user performed its last iteration.
    pub(crate) fn user_finished(&self, now: Instant) {
        let n = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if n as usize >= self.plan.users.len() {
            let _ = self.all_finished.set(now);
        }
    }

    pub fn polls(scenario: &Scenario, plan: &Plan, user: u32) -> bool {
        scenario.personas[plan.users[user as usize].persona]
            .persona
            .polls()
    }
}
