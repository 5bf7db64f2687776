//! Property tests (proptest) for the invariants a load report rests on:
//! the polling models stay within their bounds and back off monotonically
//! until reset; delivery bookkeeping never counts a pair twice and its
//! counts add up; merged histograms answer exactly as one histogram of all
//! the samples. Kept here, outside `src/load/`, so they do not collide with
//! work on the load engine.

use std::time::{Duration, Instant};

use chat_harness::load::delivery::{MessageId, Sighting, Tracker};
use chat_harness::load::hist::Hist;
use chat_harness::load::persona::{
    DesignPoller, MobilePoller, PollOutcome, PollerDesign, PollerMobile,
};
use chat_harness::load::plan::Plan;
use chat_harness::load::scenario::Scenario;
use proptest::prelude::*;

fn outcome() -> impl Strategy<Value = PollOutcome> {
    prop_oneof![
        Just(PollOutcome::Messages),
        Just(PollOutcome::Empty),
        Just(PollOutcome::Error)
    ]
}

/// A poll with its outcome, or an own send.
#[derive(Debug, Clone, Copy)]
enum Event {
    Poll(PollOutcome),
    Send,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![4 => outcome().prop_map(Event::Poll), 1 => Just(Event::Send)]
}

/// Mobile parameters as a scenario file may give them (the scenario's own
/// validation: 10 ms <= min <= max, backoff 1..=10).
fn mobile_params() -> impl Strategy<Value = PollerMobile> {
    (10u64..5_000, 0u64..100_000, 1.0f64..=10.0, 10u64..10_000).prop_map(
        |(min, extra, backoff, error)| PollerMobile {
            min_interval: Duration::from_millis(min),
            max_interval: Duration::from_millis(min + extra),
            backoff,
            error_interval: Duration::from_millis(error),
            initial_limit: 50,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn mobile_intervals_stay_in_bounds_and_back_off_monotonically(
        p in mobile_params(),
        events in prop::collection::vec(event(), 1..200),
    ) {
        let mut m = MobilePoller::new(p.clone());
        let mut last_backoff: Option<Duration> = None;
        for e in events {
            match e {
                Event::Poll(PollOutcome::Error) => {
                    prop_assert_eq!(m.after_poll(PollOutcome::Error), p.error_interval);
                }
                Event::Poll(PollOutcome::Empty) => {
                    let d = m.after_poll(PollOutcome::Empty);
                    prop_assert!(d >= p.min_interval && d <= p.max_interval, "{d:?}");
                    if let Some(prev) = last_backoff {
                        prop_assert!(d >= prev, "backoff fell from {prev:?} to {d:?}");
                    }
                    last_backoff = Some(d);
                }
                Event::Poll(PollOutcome::Messages) => {
                    prop_assert_eq!(m.after_poll(PollOutcome::Messages), p.min_interval);
                    last_backoff = Some(p.min_interval);
                }
                Event::Send => {
                    prop_assert_eq!(m.after_send(), p.min_interval);
                    last_backoff = Some(p.min_interval);
                }
            }
        }
    }

    #[test]
    fn design_intervals_are_active_or_idle_by_the_time_since_activity(
        active in 10u64..5_000,
        idle in 10u64..60_000,
        idle_after in 0u64..60_000,
        steps in prop::collection::vec((event(), 0u64..20_000), 1..200),
    ) {
        let p = PollerDesign {
            active_interval: Duration::from_millis(active),
            idle_interval: Duration::from_millis(idle),
            idle_after: Duration::from_millis(idle_after),
            ..PollerDesign::default()
        };
        let mut now = Duration::ZERO;
        let mut d = DesignPoller::new(p.clone(), now);
        let mut last_activity = now;
        for (e, dt) in steps {
            now += Duration::from_millis(dt);
            let got = match e {
                Event::Poll(o) => {
                    if o == PollOutcome::Messages {
                        last_activity = now;
                    }
                    d.after_poll(now, o)
                }
                Event::Send => {
                    last_activity = now;
                    d.after_send(now)
                }
            };
            let want = if now - last_activity >= p.idle_after {
                p.idle_interval
            } else {
                p.active_interval
            };
            prop_assert_eq!(got, want);
        }
    }
}

/// Extreme but accepted scenario values must not panic the poller: the
/// scenario accepts any humantime duration as max_interval, and backing off
/// from 500 billion years by 10 overflowed `Duration::mul_f64` (found by this
/// test; a panic in a goose user).
#[test]
fn mobile_backoff_survives_the_largest_intervals_a_scenario_accepts() {
    let s = Scenario::parse(
        "users = 1\nduration = \"1s\"\n[[persona]]\nkind = \"poller-mobile\"\nmin_interval = \"10ms\"\nmax_interval = \"500000000000y\"\nbackoff = 10.0\n",
        "props",
    )
    .unwrap();
    let p = match &s.personas[0].persona {
        chat_harness::load::persona::Persona::PollerMobile(p) => p.clone(),
        other => panic!("{other:?}"),
    };
    let mut m = MobilePoller::new(p.clone());
    let mut last = Duration::ZERO;
    for _ in 0..200 {
        let d = m.after_poll(PollOutcome::Empty);
        assert!(d >= last && d <= p.max_interval);
        last = d;
    }
    assert_eq!(last, p.max_interval);
}

/// Users 0..8 in cells of 4: direct chats and a group per cell.
fn plan() -> Plan {
    let s = Scenario::parse(
        "users = 8\nduration = \"1s\"\n[topology]\ncell_size = 4\ndirect_per_cell = 2\ngroups_per_cell = 1\n[[persona]]\nkind = \"chatter\"\n",
        "props",
    )
    .unwrap();
    Plan::new(&s)
}

#[derive(Debug, Clone)]
enum Op {
    /// A send by the chat's `sender`-th member answered at `at` ms.
    Sent {
        chat: usize,
        sender: usize,
        seq: u32,
        at: u64,
    },
    /// The `user`-th member saw the message at `at` ms.
    Seen {
        chat: usize,
        sender: usize,
        seq: u32,
        user: usize,
        at: u64,
    },
    CaughtUp {
        chat: usize,
        user: usize,
        at: u64,
    },
    Jump {
        chat: usize,
        user: usize,
        from: Option<u64>,
        to: u64,
    },
    Opened {
        chat: usize,
        user: usize,
        at: u64,
    },
    Closed {
        chat: usize,
        user: usize,
        at: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let c = 0usize..16;
    let m = 0usize..8;
    let seq = 0u32..6;
    let t = 0u64..10_000;
    prop_oneof![
        3 => (c.clone(), m.clone(), seq.clone(), t.clone()).prop_map(|(chat, sender, seq, at)| Op::Sent { chat, sender, seq, at }),
        5 => (c.clone(), m.clone(), seq, m.clone(), t.clone()).prop_map(|(chat, sender, seq, user, at)| Op::Seen { chat, sender, seq, user, at }),
        2 => (c.clone(), m.clone(), t.clone()).prop_map(|(chat, user, at)| Op::CaughtUp { chat, user, at }),
        1 => (c.clone(), m.clone(), prop::option::of(t.clone()), t.clone()).prop_map(|(chat, user, from, to)| Op::Jump { chat, user, from, to }),
        1 => (c.clone(), m.clone(), t.clone()).prop_map(|(chat, user, at)| Op::Opened { chat, user, at }),
        1 => (c, m, t).prop_map(|(chat, user, at)| Op::Closed { chat, user, at }),
    ]
}

fn creation(ms: u64) -> chrono::NaiveDateTime {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000 + ms as i64)
        .unwrap()
        .naive_utc()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn delivery_counts_add_up_and_no_pair_counts_twice(ops in prop::collection::vec(op(), 0..300)) {
        let plan = plan();
        let tracker = Tracker::new(&plan, |_| true);
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let member = |chat: usize, i: usize| {
            let c = &plan.chats[chat % plan.chats.len()];
            (chat % plan.chats.len(), c.members[i % c.members.len()])
        };
        let mut sent = std::collections::HashSet::new();
        for o in ops {
            match o {
                Op::Sent { chat, sender, seq, at: t } => {
                    let (chat, sender) = member(chat, sender);
                    // A message is sent once: one answer per id.
                    if sent.insert((chat, sender, seq)) {
                        tracker.sent(MessageId { chat: chat as u32, sender, seq }, creation(t), at(t));
                    }
                }
                Op::Seen { chat, sender, seq, user, at: t } => {
                    let (chat, sender) = member(chat, sender);
                    let (_, user) = member(chat, user);
                    let s = tracker.seen(MessageId { chat: chat as u32, sender, seq }, user, at(t));
                    if user == sender {
                        prop_assert_eq!(s, Sighting::NotCounted);
                    }
                }
                Op::CaughtUp { chat, user, at: t } => {
                    let (chat, user) = member(chat, user);
                    tracker.caught_up(chat as u32, user, at(t));
                }
                Op::Jump { chat, user, from, to } => {
                    let (chat, user) = member(chat, user);
                    tracker.cursor_jump(chat as u32, user, from.map(creation), creation(to));
                }
                Op::Opened { chat, user, at: t } => {
                    let (chat, user) = member(chat, user);
                    tracker.opened(chat as u32, user, at(t));
                }
                Op::Closed { chat, user, at: t } => {
                    let (chat, user) = member(chat, user);
                    tracker.closed(chat as u32, user, at(t));
                }
            }
        }
        let r = tracker.report();
        let c = &r.counts;
        prop_assert_eq!(c.sent, sent.len() as u64);
        // Every expected pair is in exactly one of the four outcomes.
        prop_assert_eq!(c.delivered + c.lost + c.lost_client_model + c.unconfirmed, c.expected, "{:?}", c);
        // One latency sample per delivered pair, no more: in delivery or
        // in catch-up, never both.
        prop_assert_eq!(r.latency.count + r.catchup.count, c.delivered, "{:?}", c);
        // The same report twice: reporting changes nothing.
        prop_assert_eq!(&tracker.report().counts, c);
    }

    #[test]
    fn merged_histograms_answer_like_one_histogram_of_all_samples(
        parts in prop::collection::vec(prop::collection::vec(1u64..4_000_000_000, 0..200), 1..6),
    ) {
        let mut merged = Hist::new();
        let mut all = Hist::new();
        for part in &parts {
            let mut h = Hist::new();
            for &us in part {
                h.record_us(us);
                all.record_us(us);
            }
            // Through the serialised form, as shards of a run are merged.
            let h = Hist::decode(&h.encode()).unwrap();
            merged.add(&h);
        }
        prop_assert_eq!(merged.len(), all.len());
        for q in [0.0, 0.5, 0.9, 0.99, 0.999, 1.0] {
            prop_assert_eq!(merged.quantile_us(q), all.quantile_us(q), "q={}", q);
        }
        prop_assert_eq!(merged.summary(), all.summary());
    }
}
