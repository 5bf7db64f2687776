//! What one simulated user does, step by step, over any [`Wire`] (goose's
//! users in a run, a fake in tests). A step waits until the earliest thing
//! due (a poll of an open chat, a send, a screen opening or closing, a
//! prober's burst, a reader's round), never longer than [`MAX_NAP`] so that
//! the engine can stop users promptly, and then does it.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::delivery::{MessageId, Sighting};
use super::persona::kind::{Actor, Iteration, Polling, ScreenTimes, Sends};
use super::persona::{exponential, Persona, PollOutcome};
use super::shared::Shared;
use super::stats::RequestOutcome;
use super::transport::{decode, Answer, Call, Wire};
use crate::contract::wire::{Message, SentMessage};
use crate::contract::{Endpoint, Timestamp};

/// Longest a step sleeps before giving the engine a chance to stop the user.
pub(crate) const MAX_NAP: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct ChatState {
    chat: u32,
    poller: Box<dyn Polling>,
    cursor: Option<Timestamp>,
    /// The first poll (no `after`) is still to come.
    initial: bool,
    due: Instant,
    /// Polled now: the chat on screen (or, in the grace period, every chat).
    open: bool,
}

/// One user's state between steps.
#[derive(Debug)]
pub(crate) struct UserRun {
    user: u32,
    persona: Persona,
    rng: StdRng,
    chats: Vec<ChatState>,
    next_send: Option<Instant>,
    send_params: Option<Sends>,
    seq: u32,
    /// Prober burst or reader round.
    next_round: Option<Instant>,
    worked: bool,
    /// Polling only: the run's grace period, or this user's iterations done.
    in_grace: bool,
    /// Iterations still to perform (`iterations` runs only).
    left: Option<u32>,
    /// The chat on screen; one at a time, as in the app.
    active: usize,
    screen: Option<ScreenTimes>,
    toggle_at: Option<Instant>,
}

enum Due {
    Poll(usize),
    Toggle,
    Send,
    Round,
}

impl UserRun {
    pub(crate) fn new(shared: &Shared, user: u32, now: Instant) -> UserRun {
        let s = &shared.scenario;
        let planned = &shared.plan.users[user as usize];
        let persona = s.personas[planned.persona].persona.clone();
        let mut rng =
            StdRng::seed_from_u64(s.seed ^ (user as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let t = now.saturating_duration_since(shared.stats.origin());
        let mut chats = Vec::new();
        let screen = persona.screen();
        // The chat on screen first: spread over the user's chats.
        let active = if planned.chats.is_empty() {
            0
        } else {
            user as usize % planned.chats.len()
        };
        for (k, &chat) in planned.chats.iter().enumerate() {
            let Some(poller) = persona.poller(t) else {
                break;
            };
            // Spread first polls over the first interval so that users
            // started together do not poll in lockstep.
            let jitter = Duration::from_micros(rng.random_range(0..500_000));
            chats.push(ChatState {
                chat,
                poller,
                cursor: None,
                initial: true,
                due: now + jitter,
                open: k == active,
            });
            if k == active {
                shared.tracker.opened(chat, user, now);
            }
        }
        let toggle_at = screen.as_ref().map(|sc| now + sc.open_for(&mut rng));
        let (next_send, send_params) = match persona.sends() {
            Some(sends) if !planned.chats.is_empty() => {
                (Some(now + exponential(&mut rng, sends.every)), Some(sends))
            }
            _ => (None, None),
        };
        // First round within the first interval (a second at most), spread.
        let first = |every: Duration, rng: &mut StdRng| {
            let span = every.min(Duration::from_secs(1)).as_micros().max(1) as u64;
            now + Duration::from_micros(rng.random_range(0..span))
        };
        let next_round = persona.round_every().map(|every| first(every, &mut rng));
        let mut run = UserRun {
            user,
            persona,
            rng,
            chats,
            next_send,
            send_params,
            seq: 0,
            next_round,
            worked: false,
            in_grace: false,
            left: s.iterations,
            active,
            screen,
            toggle_at,
        };
        // A user with nothing to count (no chat to poll or send to) is done
        // at once rather than holding the run until its cap.
        let can_iterate = match run.persona.iteration() {
            Iteration::Poll => !run.chats.is_empty(),
            Iteration::Send => run.next_send.is_some(),
            Iteration::Round => run.next_round.is_some(),
        };
        if run.left.is_some() && !can_iterate {
            run.left = Some(0);
            run.finish(shared, now);
        }
        run
    }

    /// One iteration performed (see [`Persona`]): the last one makes the
    /// user done, polling only from then on, as in the grace period.
    fn iterated(&mut self, shared: &Shared) {
        let Some(n) = self.left.as_mut() else { return };
        if self.in_grace || *n == 0 {
            return;
        }
        *n -= 1;
        if *n == 0 {
            self.finish(shared, Instant::now());
        }
    }

    fn finish(&mut self, shared: &Shared, now: Instant) {
        shared.user_finished(now);
        self.enter_grace(shared, now);
    }

    fn next_due(&self) -> Option<(Instant, Due)> {
        let mut best: Option<(Instant, Due)> = None;
        let mut consider = |at: Instant, d: Due| {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, d));
            }
        };
        for (i, c) in self.chats.iter().enumerate() {
            if c.open {
                consider(c.due, Due::Poll(i));
            }
        }
        if let Some(t) = self.toggle_at {
            consider(t, Due::Toggle);
        }
        if let Some(t) = self.next_send {
            consider(t, Due::Send);
        }
        if let Some(t) = self.next_round {
            consider(t, Due::Round);
        }
        best
    }

    /// Does the next thing due, or naps until it (at most [`MAX_NAP`]).
    /// Returns false once the user has nothing left to do.
    pub(crate) async fn step<W: Wire>(&mut self, wire: &mut W, shared: &Shared) -> bool {
        let now = Instant::now();
        let end = shared.end();
        if now >= end || shared.control.stopped() {
            return false;
        }
        if now >= shared.send_until && !self.in_grace {
            self.enter_grace(shared, now);
        }
        let Some((at, due)) = self.next_due() else {
            tokio::time::sleep(MAX_NAP.min(end - now)).await;
            return true;
        };
        if at > now {
            let until = at.min(now + MAX_NAP).min(end);
            tokio::time::sleep_until(until.into()).await;
            if until < at {
                return true;
            }
        }
        match due {
            Due::Poll(i) => {
                self.poll(i, at, wire, shared).await;
                if self.persona.iteration() == Iteration::Poll {
                    self.iterated(shared);
                }
            }
            Due::Toggle => self.toggle(shared),
            Due::Send => {
                self.send(wire, shared).await;
                self.iterated(shared);
            }
            Due::Round => {
                self.round(wire, shared).await;
                self.iterated(shared);
            }
        }
        true
    }

    /// Grace: no more sends or rounds; every screen opens so that every
    /// poller can catch up before loss is judged.
    fn enter_grace(&mut self, shared: &Shared, now: Instant) {
        self.in_grace = true;
        self.next_send = None;
        self.next_round = None;
        self.toggle_at = None;
        for c in &mut self.chats {
            if !c.open {
                c.open = true;
                c.due = now;
                shared.tracker.opened(c.chat, self.user, now);
            }
        }
    }

    /// The screen closes, or opens on the next of the user's chats.
    fn toggle(&mut self, shared: &Shared) {
        let now = Instant::now();
        let Some(sc) = &self.screen else { return };
        if self.chats.is_empty() {
            self.toggle_at = None;
            return;
        }
        let opening = !self.chats[self.active].open;
        if opening {
            self.active = (self.active + 1) % self.chats.len();
        }
        self.toggle_at = Some(
            now + if opening {
                sc.open_for(&mut self.rng)
            } else {
                sc.closed_for(&mut self.rng)
            },
        );
        let c = &mut self.chats[self.active];
        c.open = opening;
        if opening {
            c.due = now;
            c.poller
                .on_open(now.saturating_duration_since(shared.stats.origin()));
            shared.tracker.opened(c.chat, self.user, now);
        } else {
            shared.tracker.closed(c.chat, self.user, now);
        }
    }

    async fn request<W: Wire>(
        &mut self,
        wire: &mut W,
        shared: &Shared,
        endpoint: Endpoint,
        params: &[(&'static str, &str)],
        prober: bool,
    ) -> Answer {
        let reply = wire
            .call(Call {
                endpoint,
                params,
                auth: &shared.auth[self.user as usize],
            })
            .await;
        let outcome = match reply.status {
            None => RequestOutcome::Transport,
            Some(s) if (200..300).contains(&s) => RequestOutcome::Ok,
            Some(_) if reply.is_refusal() => RequestOutcome::Refused,
            Some(s) => RequestOutcome::Failed(s),
        };
        shared
            .stats
            .record(endpoint, outcome, reply.status, reply.elapsed, prober);
        match reply.status {
            Some(s) if (200..300).contains(&s) => self.worked = true,
            // Every token of a run was issued by a login or signup (set-up's
            // own, or `provision`'s saved in the accounts file): a 401 means
            // it was revoked since, whether or not it had worked in this run
            // (a login elsewhere between provisioning and the run rotates
            // it as surely as one during the run).
            Some(401) => {
                shared.control.revoked.fetch_add(1, Ordering::Relaxed);
                let what = if self.worked {
                    "a token that had worked in this run was refused with 401"
                } else {
                    "a token was refused with 401 at its first use in this run"
                };
                shared.control.stop(format!(
                    "tokens stopped working: {what} (user #{}, {endpoint}): the server may rotate the secret at every login (AUTH-6); provision fresh tokens and do not log these users in elsewhere during a run",
                    self.user
                ));
            }
            _ => {}
        }
        reply
    }

    async fn poll<W: Wire>(&mut self, i: usize, due: Instant, wire: &mut W, shared: &Shared) {
        let started = Instant::now();
        shared
            .stats
            .poll_late(started.saturating_duration_since(due));
        let chat = self.chats[i].chat;
        let (after, limit) = {
            let c = &self.chats[i];
            let after = c.cursor.as_ref().map(|t| {
                if c.poller.is_mobile() {
                    t.to_iso()
                } else {
                    t.as_str().to_owned()
                }
            });
            let limit = if c.initial {
                c.poller.initial_limit()
            } else {
                None
            };
            (after, limit)
        };
        let limit_text = limit.map(|l| l.to_string());
        let chat_id = &shared.chat_ids[chat as usize];
        let mut params: Vec<(&'static str, &str)> = vec![("chat", chat_id)];
        if let Some(a) = &after {
            params.push(("after", a));
        }
        if let Some(l) = &limit_text {
            params.push(("limit", l));
        }
        let reply = self
            .request(wire, shared, Endpoint::GetMessages, &params, false)
            .await;
        let now = Instant::now();
        let t = now.saturating_duration_since(shared.stats.origin());
        let messages = match reply.status {
            Some(s) if (200..300).contains(&s) => decode::<Vec<Message>>(&reply.body),
            _ => None,
        };
        let c = &mut self.chats[i];
        let Some(messages) = messages else {
            let wait = c.poller.after_poll(t, PollOutcome::Error);
            c.due = now + wait;
            return;
        };
        c.initial = false;
        let mut newest = c.cursor.clone();
        for m in &messages {
            if newest.as_ref().is_none_or(|n| m.creation > *n) {
                newest = Some(m.creation.clone());
            }
            if let Some(id) = MessageId::parse(&m.content, &shared.tag) {
                let _: Sighting = shared.tracker.seen(id, self.user, now);
            }
        }
        c.cursor = newest;
        let page = limit.unwrap_or(50) as usize;
        if messages.len() < page {
            shared.tracker.caught_up(chat, self.user, started);
        }
        let outcome = if messages.is_empty() {
            PollOutcome::Empty
        } else {
            PollOutcome::Messages
        };
        let wait = c.poller.after_poll(t, outcome);
        // A full page: more is waiting, fetch it at once.
        c.due = if messages.len() >= page {
            now
        } else {
            now + wait
        };
    }

    async fn send<W: Wire>(&mut self, wire: &mut W, shared: &Shared) {
        let Some(p) = self.send_params.clone() else {
            return;
        };
        let now = Instant::now();
        self.next_send = Some(now + exponential(&mut self.rng, p.every));
        let chats = &shared.plan.users[self.user as usize].chats;
        let chat = chats[self.active.min(chats.len() - 1)];
        self.seq += 1;
        let id = MessageId {
            chat,
            sender: self.user,
            seq: self.seq,
        };
        let mut content = id.render(&shared.tag);
        content.push(' ');
        while content.len() < p.content_bytes as usize {
            content.push_str("lorem ipsum ");
        }
        content.truncate(
            p.content_bytes
                .max(content.find(']').unwrap_or(0) as u32 + 1) as usize,
        );
        let content = content.trim_end().to_owned();
        let chat_id = &shared.chat_ids[chat as usize];
        let params = [("chat", chat_id.as_str()), ("content", content.as_str())];
        let reply = self
            .request(wire, shared, Endpoint::SendMessage, &params, false)
            .await;
        let answered = Instant::now();
        let sent = match reply.status {
            Some(s) if (200..300).contains(&s) => decode::<SentMessage>(&reply.body),
            _ => None,
        };
        let Some(sent) = sent else { return };
        shared.tracker.sent(id, sent.creation.value(), answered);
        let t = answered.saturating_duration_since(shared.stats.origin());
        if let Some(c) = self.chats.iter_mut().find(|c| c.chat == chat) {
            let wait = c.poller.after_send(t);
            c.due = c.due.min(answered + wait);
            if c.poller.is_mobile() {
                shared.tracker.cursor_jump(
                    chat,
                    self.user,
                    c.cursor.as_ref().map(|t| t.value()),
                    sent.creation.value(),
                );
                c.cursor = Some(sent.creation);
            }
        }
    }

    /// A round of the persona's (a prober's burst, a reader's round).
    async fn round<W: Wire>(&mut self, wire: &mut W, shared: &Shared) {
        let now = Instant::now();
        let chats = &shared.plan.users[self.user as usize].chats;
        let chat_id = chats.first().map(|&c| shared.chat_ids[c as usize].clone());
        let Some(every) = self.persona.round_every() else {
            self.next_round = None;
            return;
        };
        self.next_round = Some(now + every);
        let persona = self.persona.clone();
        let mut actor = Acting {
            run: self,
            wire,
            shared,
        };
        persona.round(&mut actor, chat_id.as_deref()).await;
    }
}

/// A user acting in a persona's round.
struct Acting<'a, W> {
    run: &'a mut UserRun,
    wire: &'a mut W,
    shared: &'a Shared,
}

impl<W: Wire> Actor for Acting<'_, W> {
    fn request(
        &mut self,
        endpoint: Endpoint,
        params: &[(&'static str, &str)],
        prober: bool,
    ) -> impl Future<Output = Answer> + Send {
        self.run
            .request(self.wire, self.shared, endpoint, params, prober)
    }

    fn over(&self) -> bool {
        self.shared.control.stopped() || Instant::now() >= self.shared.end()
    }
}
