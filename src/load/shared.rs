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
pub(crate) struct Control {
    stop: AtomicBool,
    reason: Mutex<Option<String>>,
    /// 401s for tokens that had worked before in this run.
    pub(crate) revoked: AtomicU64,
}

impl Control {
    pub(crate) fn stop(&self, reason: String) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stop.store(true, Ordering::SeqCst);
    }
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
    pub(crate) fn reason(&self) -> Option<String> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Everything a run's users share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) scenario: Scenario,
    pub(crate) plan: Plan,
    pub(crate) tracker: Tracker,
    pub(crate) stats: Stats,
    pub(crate) control: Control,
    /// `token KEY:SECRET` per user.
    pub(crate) auth: Vec<String>,
    /// Server chat id per planned chat.
    pub(crate) chat_ids: Vec<String>,
    /// Marks this run's messages.
    pub(crate) tag: String,
    /// Messages are sent until here (with `iterations`: at the latest).
    pub(crate) send_until: Instant,
    /// Polling stops here at the latest: `send_until` and the grace period.
    /// An `iterations` run ends earlier, see [`Shared::end`].
    pub(crate) deadline: Instant,
    /// Users that have performed all their iterations.
    pub(crate) finished: AtomicU32,
    /// When the last user finished its iterations.
    pub(crate) all_finished: OnceLock<Instant>,
}

impl Shared {
    /// Polling stops here: the deadline, or a grace period after every user
    /// finished its iterations.
    pub(crate) fn end(&self) -> Instant {
        match self.all_finished.get() {
            Some(t) => (*t + self.scenario.grace).min(self.deadline),
            None => self.deadline,
        }
    }

    /// An `iterations` run whose users all finished, and whose grace is over.
    pub(crate) fn completed(&self, now: Instant) -> bool {
        self.all_finished.get().is_some() && now >= self.end()
    }

    /// A user performed its last iteration.
    pub(crate) fn user_finished(&self, now: Instant) {
        let n = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        if n as usize >= self.plan.users.len() {
            let _ = self.all_finished.set(now);
        }
    }

    pub(crate) fn polls(scenario: &Scenario, plan: &Plan, user: u32) -> bool {
        scenario.personas[plan.users[user as usize].persona]
            .persona
            .polls()
    }
}
