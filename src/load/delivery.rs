//! Delivery bookkeeping, outside goose's request rows: every message a
//! chatter sends carries a unique id in its content; the sender records when
//! send_message answered, and each participant's poller records when it
//! first saw the message. From that: delivery latency (send answered to
//! first seen, for recipients whose screen was open when the send was
//! answered), catch-up latency (screen opened to first seen, for the rest:
//! a different quantity, how long a user who opens a chat waits for what
//! came while it was closed), and counts of delivered, lost, duplicated and
//! out-of-order messages.
//!
//! A message is *lost* for a recipient only when that recipient finished a
//! poll that started after the send answered and came back without it
//! (POLL-6: the first poll started after send answered must return it) and
//! never saw it afterwards. When the recipient is a mobile-model client whose
//! cursor jumped over the message (it moves its cursor to its own sent
//! message), the loss is the client model's, counted apart.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use chrono::NaiveDateTime;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::hist::{Hist, HistSummary};
use super::plan::Plan;

/// The id a tracked message carries at the start of its content:
/// `[lh TAG CHAT SENDER SEQ]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageId {
    pub chat: u32,
    pub sender: u32,
    pub seq: u32,
}

impl MessageId {
    pub fn render(&self, tag: &str) -> String {
        format!("[lh {tag} {} {} {}]", self.chat, self.sender, self.seq)
    }

    /// Reads the id of a message of this run (`tag`); others are foreign.
    pub fn parse(content: &str, tag: &str) -> Option<MessageId> {
        let rest = content.strip_prefix("[lh ")?;
        let (inner, _) = rest.split_once(']')?;
        let mut it = inner.split(' ');
        if it.next()? != tag {
            return None;
        }
        let id = MessageId {
            chat: it.next()?.parse().ok()?,
            sender: it.next()?.parse().ok()?,
            seq: it.next()?.parse().ok()?,
        };
        it.next().is_none().then_some(id)
    }
}

/// What a sighting was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sighting {
    First,
    Duplicate,
    /// The sender seeing its own message, or a user outside the chat.
    NotCounted,
}

#[derive(Debug, Clone)]
struct MsgRec {
    creation: NaiveDateTime,
    answered: Instant,
    /// Bit per member position.
    seen: u64,
}

#[derive(Debug, Default, Clone)]
struct View {
    /// Start of the latest poll that came back with everything up to now.
    caught_up_from: Option<Instant>,
    /// Cursor jumps `(from, to]` of the mobile model's own-send rule.
    jumps: Vec<(Option<NaiveDateTime>, NaiveDateTime)>,
    /// Highest sequence seen per sender position.
    last_seq: Vec<u32>,
    screen: Screen,
}

/// The chat screen's last opening and closing.
#[derive(Debug, Default, Clone, Copy)]
struct Screen {
    /// When the chat screen was last opened.
    opened: Option<Instant>,
    /// When it was closed after that; `None` while it is open.
    closed: Option<Instant>,
}

impl Screen {
    /// Whether the screen was open at `t`, as far as its last opening and
    /// closing tell (`t` is a send's answer, earlier than both or between).
    fn open_at(&self, t: Instant) -> bool {
        self.opened.is_some_and(|o| o <= t) && self.closed.is_none_or(|c| c > t)
    }
}

#[derive(Debug)]
struct Ledger {
    members: Vec<u32>,
    /// Bit per member position that polls.
    pollers: u64,
    msgs: HashMap<u64, MsgRec>,
    /// Sightings before the send answered: (key, position, at).
    early: Vec<(u64, usize, Instant)>,
    views: Vec<View>,
}

/// Counts and latency of delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryCounts {
    /// Messages whose send_message answered 2xx with the stored message.
    pub sent: u64,
    /// (message, recipient) pairs that should be delivered: recipients are
    /// the chat's polling members other than the sender.
    pub expected: u64,
    /// Pairs seen by their recipient.
    pub delivered: u64,
    /// Pairs not seen although the recipient finished a poll started after
    /// the send answered: the server's loss.
    pub lost: u64,
    /// Pairs skipped by the mobile client model's cursor rule: the client's
    /// loss, not the server's.
    pub lost_client_model: u64,
    /// Pairs not seen whose recipient stopped polling before it could see them.
    pub unconfirmed: u64,
    /// Times a recipient got a message it already had (POLL-5: exactly once).
    pub duplicated: u64,
    /// Times a recipient got a sender's message after a later one of the same sender.
    pub out_of_order: u64,
    /// Messages seen whose send_message never answered successfully.
    pub seen_unsent: u64,
    /// Pairs a complete poll started after the send answered did not return,
    /// seen only later (POLL-6, read-your-writes, broken).
    pub late_visible: u64,
}

/// Whether messages reached their recipients: counts of (message,
/// recipient) pairs and the latency of those seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DeliveryReport {
    #[serde(flatten)]
    pub counts: DeliveryCounts,
    /// Delivery latency in µs: from send_message answered to first seen, for
    /// recipients whose chat screen was open when the send was answered.
    pub latency: HistSummary,
    /// Catch-up latency in µs: from the recipient's chat screen opening to
    /// first seen, for recipients whose screen was closed when the send was
    /// answered (a user opening a chat waits this long for what came
    /// meanwhile). Absent from summaries written before it was measured apart
    /// (read as empty).
    #[serde(default = "empty_hist")]
    pub catchup: HistSummary,
}

fn empty_hist() -> HistSummary {
    Hist::new().summary()
}

/// Shared by every user of a run; one lock per chat.
#[derive(Debug)]
pub struct Tracker {
    chats: Vec<Mutex<Ledger>>,
    latency: Mutex<Hist>,
    catchup: Mutex<Hist>,
    totals: Mutex<(u64, u64, u64)>, // (duplicated, out_of_order, late_visible)
}

/// Which histogram a first sighting goes to.
#[derive(Debug, Clone, Copy)]
enum Latency {
    Delivery,
    CatchUp,
}

fn key(sender_pos: usize, seq: u32) -> u64 {
    ((sender_pos as u64) << 32) | seq as u64
}

impl Tracker {
    /// `polls(user)` says whether a user polls its chats.
    pub fn new(plan: &Plan, polls: impl Fn(u32) -> bool) -> Tracker {
        let chats = plan
            .chats
            .iter()
            .map(|c| {
                let pollers = c
                    .members
                    .iter()
                    .enumerate()
                    .filter(|(_, &m)| polls(m))
                    .fold(0u64, |acc, (i, _)| acc | (1 << i));
                Mutex::new(Ledger {
                    members: c.members.clone(),
                    pollers,
                    msgs: HashMap::new(),
                    early: Vec::new(),
                    views: vec![
                        View {
                            last_seq: vec![0; c.members.len()],
                            ..View::default()
                        };
                        c.members.len()
                    ],
                })
            })
            .collect();
        Tracker {
            chats,
            latency: Mutex::new(Hist::new()),
            catchup: Mutex::new(Hist::new()),
            totals: Mutex::new((0, 0, 0)),
        }
    }

    fn ledger(&self, chat: u32) -> Option<std::sync::MutexGuard<'_, Ledger>> {
        let m = self.chats.get(chat as usize)?;
        Some(m.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// send_message answered with the stored message.
    pub fn sent(&self, id: MessageId, creation: NaiveDateTime, answered: Instant) {
        let Some(mut guard) = self.ledger(id.chat) else {
            return;
        };
        let l = &mut *guard;
        let Some(sp) = l.members.iter().position(|&m| m == id.sender) else {
            return;
        };
        let k = key(sp, id.seq);
        let mut rec = MsgRec {
            creation,
            answered,
            seen: 0,
        };
        // Sightings that came in before the answer: latency zero.
        let mut zero = 0;
        l.early.retain(|&(ek, pos, _)| {
            if ek == k {
                if rec.seen & (1 << pos) == 0 {
                    rec.seen |= 1 << pos;
                    zero += 1;
                }
                false
            } else {
                true
            }
        });
        l.msgs.insert(k, rec);
        drop(guard);
        if zero > 0 {
            let mut h = self.latency.lock().unwrap_or_else(|p| p.into_inner());
            for _ in 0..zero {
                h.record_us(1);
            }
        }
    }

    /// `user` saw message `id` at `at`.
    pub fn seen(&self, id: MessageId, user: u32, at: Instant) -> Sighting {
        let Some(mut guard) = self.ledger(id.chat) else {
            return Sighting::NotCounted;
        };
        let l = &mut *guard;
        let (Some(pos), Some(sp)) = (
            l.members.iter().position(|&m| m == user),
            l.members.iter().position(|&m| m == id.sender),
        ) else {
            return Sighting::NotCounted;
        };
        if pos == sp {
            return Sighting::NotCounted;
        }
        let k = key(sp, id.seq);
        let view = &mut l.views[pos];
        let screen = view.screen;
        let caught_up_from = view.caught_up_from;
        let mut late = false;
        let reordered = id.seq < view.last_seq[sp];
        view.last_seq[sp] = view.last_seq[sp].max(id.seq);
        let mut latency = None;
        let result = match l.msgs.get_mut(&k) {
            Some(rec) if rec.seen & (1 << pos) != 0 => Sighting::Duplicate,
            Some(rec) => {
                rec.seen |= 1 << pos;
                late = caught_up_from.is_some_and(|t| t > rec.answered);
                latency = Some(if screen.open_at(rec.answered) {
                    (
                        Latency::Delivery,
                        at.saturating_duration_since(rec.answered),
                    )
                } else {
                    // Closed at the answer: from the opening that followed
                    // (a poll in flight while it closed counts from the answer).
                    let from = screen.opened.map_or(rec.answered, |o| o.max(rec.answered));
                    (Latency::CatchUp, at.saturating_duration_since(from))
                });
                Sighting::First
            }
            None => {
                if l.early.iter().any(|&(ek, p, _)| ek == k && p == pos) {
                    Sighting::Duplicate
                } else {
                    l.early.push((k, pos, at));
                    Sighting::First
                }
            }
        };
        drop(guard);
        if let Some((kind, latency)) = latency {
            let h = match kind {
                Latency::Delivery => &self.latency,
                Latency::CatchUp => &self.catchup,
            };
            h.lock().unwrap_or_else(|p| p.into_inner()).record(latency);
        }
        if result == Sighting::Duplicate || reordered || late {
            let mut t = self.totals.lock().unwrap_or_else(|p| p.into_inner());
            t.0 += u64::from(result == Sighting::Duplicate);
            t.1 += u64::from(reordered && result != Sighting::Duplicate);
            t.2 += u64::from(late);
        }
        result
    }

    /// A poll by `user` that started at `started` came back with everything
    /// there was (fewer messages than its limit).
    pub fn caught_up(&self, chat: u32, user: u32, started: Instant) {
        let Some(mut l) = self.ledger(chat) else {
            return;
        };
        if let Some(pos) = l.members.iter().position(|&m| m == user) {
            let v = &mut l.views[pos];
            v.caught_up_from = Some(v.caught_up_from.map_or(started, |c| c.max(started)));
        }
    }

    /// The chat screen of `user` opened at `at`: what was sent while it was
    /// closed counts as catch-up from here.
    pub fn opened(&self, chat: u32, user: u32, at: Instant) {
        let Some(mut l) = self.ledger(chat) else {
            return;
        };
        if let Some(pos) = l.members.iter().position(|&m| m == user) {
            let v = &mut l.views[pos].screen;
            if v.opened.is_none() || v.closed.is_some() {
                v.opened = Some(at);
                v.closed = None;
            }
        }
    }

    /// The chat screen of `user` closed at `at`: what is sent from here on
    /// counts as catch-up when it is seen after the next opening.
    pub fn closed(&self, chat: u32, user: u32, at: Instant) {
        let Some(mut l) = self.ledger(chat) else {
            return;
        };
        if let Some(pos) = l.members.iter().position(|&m| m == user) {
            let v = &mut l.views[pos].screen;
            if v.opened.is_some() && v.closed.is_none() {
                v.closed = Some(at);
            }
        }
    }

    /// The mobile model moved `user`'s cursor from `from` to `to` after its own send.
    pub fn cursor_jump(
        &self,
        chat: u32,
        user: u32,
        from: Option<NaiveDateTime>,
        to: NaiveDateTime,
    ) {
        if from.is_some_and(|f| f >= to) {
            return;
        }
        let Some(mut l) = self.ledger(chat) else {
            return;
        };
        if let Some(pos) = l.members.iter().position(|&m| m == user) {
            l.views[pos].jumps.push((from, to));
        }
    }

    /// Counts so far; call at the end (after the grace period) for the verdict.
    pub fn report(&self) -> DeliveryReport {
        let mut c = DeliveryCounts::default();
        for l in &self.chats {
            let l = l.lock().unwrap_or_else(|p| p.into_inner());
            for (k, rec) in &l.msgs {
                c.sent += 1;
                let sp = (k >> 32) as usize;
                for pos in 0..l.members.len() {
                    if pos == sp || l.pollers & (1 << pos) == 0 {
                        continue;
                    }
                    c.expected += 1;
                    if rec.seen & (1 << pos) != 0 {
                        c.delivered += 1;
                        continue;
                    }
                    let v = &l.views[pos];
                    let polled_past = v.caught_up_from.is_some_and(|t| t > rec.answered);
                    let jumped = v.jumps.iter().any(|&(from, to)| {
                        from.is_none_or(|f| rec.creation > f) && rec.creation <= to
                    });
                    if jumped {
                        c.lost_client_model += 1;
                    } else if polled_past {
                        c.lost += 1;
                    } else {
                        c.unconfirmed += 1;
                    }
                }
            }
            let mut early: Vec<u64> = l.early.iter().map(|e| e.0).collect();
            early.sort_unstable();
            early.dedup();
            c.seen_unsent += early.len() as u64;
        }
        let t = *self.totals.lock().unwrap_or_else(|p| p.into_inner());
        c.duplicated = t.0;
        c.out_of_order = t.1;
        c.late_visible = t.2;
        let summary = |h: &Mutex<Hist>| h.lock().unwrap_or_else(|p| p.into_inner()).summary();
        DeliveryReport {
            counts: c,
            latency: summary(&self.latency),
            catchup: summary(&self.catchup),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::scenario::Scenario;
    use std::time::Duration;

    /// Users 0..4 in one cell: chat 0 = (0,1), chat 1 = (2,3), chat 2 = group of all.
    fn tracker(polls: impl Fn(u32) -> bool) -> Tracker {
        let s = Scenario::parse(
            "users = 4\nduration = \"1s\"\n[topology]\ncell_size = 4\ndirect_per_cell = 2\n[[persona]]\nkind = \"chatter\"\n",
            "x",
        )
        .unwrap();
        Tracker::new(&Plan::new(&s), polls)
    }

    fn ts(s: &str) -> NaiveDateTime {
        crate::contract::Timestamp::parse(s).unwrap().value()
    }

    fn id(chat: u32, sender: u32, seq: u32) -> MessageId {
        MessageId { chat, sender, seq }
    }

    #[test]
    fn ids_round_trip_and_foreign_content_is_ignored() {
        let i = id(12, 3, 7);
        let content = format!("{} hello", i.render("ab12"));
        assert_eq!(MessageId::parse(&content, "ab12"), Some(i));
        assert_eq!(MessageId::parse(&content, "other"), None);
        assert_eq!(MessageId::parse("hello", "ab12"), None);
        assert_eq!(MessageId::parse("[lh ab12 1 2]", "ab12"), None);
    }

    #[test]
    fn delivery_latency_and_counts() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        for u in 1..=3 {
            t.opened(2, u, t0);
        }
        t.sent(id(2, 0, 1), ts("2024-01-01 00:00:01"), t0);
        assert_eq!(
            t.seen(id(2, 0, 1), 1, t0 + Duration::from_millis(300)),
            Sighting::First
        );
        assert_eq!(
            t.seen(id(2, 0, 1), 2, t0 + Duration::from_millis(600)),
            Sighting::First
        );
        assert_eq!(t.seen(id(2, 0, 1), 0, t0), Sighting::NotCounted);
        // User 3 polled past the send and never saw it: lost.
        t.caught_up(2, 3, t0 + Duration::from_millis(100));
        let r = t.report();
        assert_eq!(
            (r.counts.sent, r.counts.expected, r.counts.delivered),
            (1, 3, 2)
        );
        assert_eq!(r.counts.lost, 1);
        assert_eq!(r.latency.count, 2);
        assert!(
            (299_000..=301_000).contains(&r.latency.p50_us),
            "{:?}",
            r.latency
        );
    }

    #[test]
    fn recipient_that_stopped_polling_is_unconfirmed_not_lost() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        t.caught_up(0, 1, t0);
        t.sent(
            id(0, 0, 1),
            ts("2024-01-01 00:00:01"),
            t0 + Duration::from_millis(5),
        );
        let c = t.report().counts;
        assert_eq!((c.lost, c.unconfirmed), (0, 1));
    }

    #[test]
    fn non_pollers_are_not_expected() {
        let t = tracker(|u| u != 1);
        t.sent(id(0, 0, 1), ts("2024-01-01 00:00:01"), Instant::now());
        assert_eq!(t.report().counts.expected, 0);
    }

    #[test]
    fn duplicates_and_reordering() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        t.sent(id(2, 0, 1), ts("2024-01-01 00:00:01"), t0);
        t.sent(id(2, 0, 2), ts("2024-01-01 00:00:02"), t0);
        assert_eq!(t.seen(id(2, 0, 2), 1, t0), Sighting::First);
        assert_eq!(t.seen(id(2, 0, 1), 1, t0), Sighting::First);
        assert_eq!(t.seen(id(2, 0, 2), 1, t0), Sighting::Duplicate);
        let c = t.report().counts;
        assert_eq!((c.duplicated, c.out_of_order, c.delivered), (1, 1, 2));
    }

    #[test]
    fn sightings_before_the_answer_count_once_with_zero_latency() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        assert_eq!(t.seen(id(0, 1, 1), 0, t0), Sighting::First);
        assert_eq!(t.seen(id(0, 1, 1), 0, t0), Sighting::Duplicate);
        t.sent(
            id(0, 1, 1),
            ts("2024-01-01 00:00:01"),
            t0 + Duration::from_millis(2),
        );
        let r = t.report();
        assert_eq!(
            (
                r.counts.delivered,
                r.counts.duplicated,
                r.counts.seen_unsent
            ),
            (1, 1, 0)
        );
        assert_eq!(r.latency.max_us, 1);
        // Seen but never answered: reported as such.
        t.seen(id(0, 1, 9), 0, t0);
        assert_eq!(t.report().counts.seen_unsent, 1);
    }

    #[test]
    fn mobile_cursor_jumps_are_the_clients_loss() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        // User 1 sent at :05 and moved its cursor from :01 to :05, skipping
        // user 0's message at :03 that it had not polled yet.
        t.sent(id(0, 0, 1), ts("2024-01-01 00:00:03"), t0);
        t.cursor_jump(
            0,
            1,
            Some(ts("2024-01-01 00:00:01")),
            ts("2024-01-01 00:00:05"),
        );
        t.caught_up(0, 1, t0 + Duration::from_millis(10));
        let c = t.report().counts;
        assert_eq!((c.lost, c.lost_client_model), (0, 1));
    }

    #[test]
    fn a_message_missed_by_a_later_poll_is_late_visible() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        t.sent(id(0, 0, 1), ts("2024-01-01 00:00:01"), t0);
        t.caught_up(0, 1, t0 + Duration::from_millis(10));
        t.seen(id(0, 0, 1), 1, t0 + Duration::from_millis(600));
        let c = t.report().counts;
        assert_eq!((c.delivered, c.lost, c.late_visible), (1, 0, 1));
    }

    #[test]
    fn a_screen_opened_late_counts_in_catch_up_only() {
        let t = tracker(|_| true);
        let t0 = Instant::now();
        // User 1 has chat 0 closed when the send answers and opens it 5 s
        // later; it sees the message 200 ms after opening.
        t.sent(id(0, 0, 1), ts("2024-01-01 00:00:01"), t0);
        t.opened(0, 1, t0 + Duration::from_secs(5));
        t.seen(id(0, 0, 1), 1, t0 + Duration::from_millis(5200));
        let r = t.report();
        assert_eq!(r.latency.count, 0, "{:?}", r.latency);
        assert_eq!(r.catchup.count, 1);
        assert!(
            (199_000..=201_000).contains(&r.catchup.p50_us),
            "{:?}",
            r.catchup
        );
        assert_eq!(r.counts.delivered, 1);
    }

    #[test]
    fn open_closed_and_reopened_screens_split_one_stream() {
        // Group chat 2 (users 0..4), user 0 sends three messages:
        //  - seq 1 answers at 0 s: user 1's screen open since before
        //    (delivery 300 ms), user 2's closed (opens at 1 s, sees at
        //    1.05 s: catch-up 50 ms);
        //  - user 1 closes at 2 s; seq 2 answers at 3 s; user 1 reopens at
        //    4 s and sees it at 4.1 s: catch-up 100 ms, although its screen
        //    had been open before;
        //  - seq 3 answers at 5 s with both screens open: delivery 20 ms
        //    and 40 ms.
        let t = tracker(|u| u != 3);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        t.opened(2, 1, t0);
        t.sent(id(2, 0, 1), ts("2024-01-01 00:00:01"), at(1));
        t.seen(id(2, 0, 1), 1, at(301));
        t.opened(2, 2, at(1000));
        t.seen(id(2, 0, 1), 2, at(1050));
        t.closed(2, 1, at(2000));
        t.sent(id(2, 0, 2), ts("2024-01-01 00:00:03"), at(3000));
        // User 2's screen is open: delivery 10 ms.
        t.seen(id(2, 0, 2), 2, at(3010));
        t.opened(2, 1, at(4000));
        t.seen(id(2, 0, 2), 1, at(4100));
        // Opening an open screen again does not move its opening.
        t.opened(2, 2, at(4500));
        t.sent(id(2, 0, 3), ts("2024-01-01 00:00:05"), at(5000));
        t.seen(id(2, 0, 3), 1, at(5020));
        t.seen(id(2, 0, 3), 2, at(5040));
        let r = t.report();
        assert_eq!(r.counts.delivered, 6);
        let ms = |h: &HistSummary, q: f64| (h.quantile_us(q) + 500) / 1000;
        assert_eq!(r.latency.count, 4, "{:?}", r.latency);
        assert_eq!(
            [0.0, 0.3, 0.6, 1.0].map(|q| ms(&r.latency, q)),
            [10, 20, 40, 300]
        );
        assert_eq!(r.catchup.count, 2, "{:?}", r.catchup);
        assert_eq!([0.0, 1.0].map(|q| ms(&r.catchup, q)), [50, 100]);
    }
}
