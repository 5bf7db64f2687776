//! Shared state of a run: the client, the users, the expected limits and
//! window, and helpers that every area uses (fresh users, chats, messages).
//! Following CONTRACT.md's notes, each user is logged in once and its pair is
//! reused; a check that logs in again takes a user of its own. Setting up
//! ([`setup`]), users of a check's own ([`users`]) and sending with pacing
//! ([`sending`]) are `impl Ctx` blocks of their own files.

mod fixtures;
mod requests;
mod sending;
pub(crate) mod setup;
mod user;
mod users;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::Account;
use crate::client::{Client, Exchange, Request};
use crate::contract::wire::{LoginResult, Message, SentMessage};
use crate::contract::{Endpoint, LimitsTable};

use super::budget::Ledger;
use super::verdict::{StepContext, Verdict};

pub(crate) use fixtures::{Exhausted, Fixtures, OtherUser, Spent};
pub(crate) use requests::{messages_request, send_request};
pub(crate) use user::SignedIn;

/// Everything a check may use.
pub(crate) struct Ctx {
    pub(crate) client: Client,
    pub(crate) limits: LimitsTable,
    /// The server's window (`--window-seconds`, else the limits file's).
    pub(crate) window_secs: u64,
    pub(crate) show_secrets: bool,
    /// Whether the suite may create users with signup.
    pub(crate) signup_allowed: bool,
    /// The allowed production origin, if known (embedded server, or given).
    pub(crate) production_origin: Option<String>,
    /// Two participants and an outsider, shared by ordinary checks.
    pub(crate) a: SignedIn,
    pub(crate) b: SignedIn,
    pub(crate) c: SignedIn,
    /// Every user e-mail the suite was given or created (USERS-1).
    known_users: Mutex<Vec<String>>,
    /// Every secret the suite knows (AUTH-8 looks for them in answers).
    secrets: Mutex<Vec<(String, String)>>,
    /// Accounts nobody has used yet, handed out as fresh users.
    pool: Mutex<VecDeque<Account>>,
    /// The logins made while setting up (AUTH-1's fallback evidence).
    pub(crate) setup_logins: Vec<Exchange>,
    run_tag: String,
    seq: AtomicU64,
    /// Expensive fixtures built once and shared by the checks that need them.
    pub(crate) fixtures: Fixtures,
    /// The suite's own spending of the server's quotas.
    pub(crate) ledger: Ledger,
    /// Whether waits for quota are announced on stderr.
    announce_waits: bool,
    /// Fresh users handed out so far (the plan's estimate is held to it).
    fresh_taken: AtomicU64,
    accounts_are_new: bool,
    /// The server's round trip, smoothed (µs): time-sensitive checks plan
    /// their bursts with it.
    rtt_us: AtomicU64,
    /// Shared users lent so far to checks that wanted users of their own
    /// (`--no-signup` with no spare accounts): whose turn is next.
    lent: AtomicU64,
}

/// What belongs to the check being run (a task-local: checks may run side
/// by side).
struct CheckScope {
    /// Time spent deliberately waiting, in ms.
    waited_ms: AtomicU64,
    /// Whether an unexpected refusal is waited out and the request resent.
    retry_refusals: bool,
}

tokio::task_local! {
    static SCOPE: CheckScope;
}

impl Ctx {
    /// Runs one check's future in a scope of its own: its waiting time and
    /// whether its refusals are paced belong to it alone, so checks can run
    /// side by side (the slow ones run while the others go on). Returns what
    /// the check decided and the time it spent waiting on purpose.
    pub(crate) async fn in_check<F: std::future::Future>(
        &self,
        retry_refusals: bool,
        fut: F,
    ) -> (F::Output, Duration) {
        let scope = CheckScope {
            waited_ms: AtomicU64::new(0),
            retry_refusals,
        };
        let started = Instant::now();
        SCOPE
            .scope(scope, async {
                let out = fut.await;
                // Waits of concurrent parts (four endpoints at once) overlap:
                // a check cannot have waited longer than it ran.
                (out, Self::waited().min(started.elapsed()))
            })
            .await
    }

    /// Runs `fut` paced even inside a rate-limit check (set-up traffic of a
    /// probe that needs counted answers, not refusals the suite caused); its
    /// waiting counts as the check's.
    pub(crate) async fn paced<F: std::future::Future>(&self, fut: F) -> F::Output {
        let (out, waited) = self.in_check(true, fut).await;
        let _ = SCOPE.try_with(|s| {
            s.waited_ms
                .fetch_add(waited.as_millis() as u64, Ordering::Relaxed)
        });
        out
    }

    /// Time the current check spent waiting on purpose.
    fn waited() -> Duration {
        SCOPE
            .try_with(|s| Duration::from_millis(s.waited_ms.load(Ordering::Relaxed)))
            .unwrap_or_default()
    }

    /// Sleeps, and counts it as the check's waiting time.
    pub(crate) async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
        let _ = SCOPE.try_with(|s| {
            s.waited_ms
                .fetch_add(d.as_millis() as u64, Ordering::Relaxed)
        });
    }

    /// Sleeps until `deadline`, counted as waiting.
    pub(crate) async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline > now {
            self.sleep(deadline - now).await;
        }
    }

    pub(crate) fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// A name nobody else in this run (or an earlier one) uses.
    pub(crate) fn unique(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", self.run_tag)
    }

    /// The expected limit of an endpoint (the limits file).
    pub(crate) fn limit(&self, e: Endpoint) -> Option<u32> {
        self.limits.limit(e)
    }

    pub(crate) fn known_users(&self) -> Vec<String> {
        self.known_users
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Every secret the suite knows, with its owner.
    pub(crate) fn known_secrets(&self) -> Vec<(String, String)> {
        self.secrets.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn remember(&self, user: &SignedIn) {
        if let Ok(mut s) = self.secrets.lock() {
            s.push((user.email.clone(), user.creds.api_secret.clone()));
        }
    }

    /// Whether `user` was signed up by this run: its buckets and chats
    /// start empty on any server, whatever earlier runs left behind.
    pub(crate) fn is_new(&self, user: &SignedIn) -> bool {
        self.accounts_are_new || user.email.contains(&format!("-{}-", self.run_tag))
    }

    /// Spare accounts not handed out yet.
    pub(crate) fn pool_len(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Fresh users handed out so far.
    pub(crate) fn fresh_taken(&self) -> u64 {
        self.fresh_taken.load(Ordering::Relaxed)
    }

    /// A signup identity for this run: a new e-mail and a strong password.
    pub(crate) fn new_identity(&self) -> (String, String) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        signup_identity(&self.run_tag, n)
    }

    /// Sends and decodes `message`; a non-2xx answer is an error.
    pub(crate) async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: &Request,
    ) -> Result<(T, Exchange), Verdict> {
        let ex = self.send(req).await?;
        let v = ex.decode::<T>().map_err(Verdict::from)?;
        Ok((v, ex))
    }

    pub(crate) async fn login(
        &self,
        email: &str,
        pwd: &str,
    ) -> Result<(LoginResult, Exchange), Verdict> {
        self.call(&Request::login(email, pwd)).await
    }

    /// A new Group chat of `owner` with `others`: each check gets chats of
    /// its own, so nothing another check did shows up in it.
    pub(crate) async fn group(
        &self,
        owner: &SignedIn,
        others: &[&SignedIn],
    ) -> Result<String, Verdict> {
        let ids: Vec<&str> = others.iter().map(|u| u.email.as_str()).collect();
        self.create_chat(owner, &ids, "Group")
            .await
            .map(|(id, _)| id)
            .step("creating a group chat")
    }

    pub(crate) async fn create_chat(
        &self,
        owner: &SignedIn,
        participants: &[&str],
        chat_type: &str,
    ) -> Result<(String, Exchange), Verdict> {
        let list = serde_json::to_string(participants).unwrap_or_else(|_| "[]".into());
        self.call(
            &Request::to(Endpoint::CreateChat)
                .token(&owner.creds)
                .param("chat_name", self.unique("chk"))
                .param("participants", list)
                .param("chat_type", chat_type),
        )
        .await
    }

    pub(crate) async fn post(
        &self,
        user: &SignedIn,
        chat: &str,
        content: &str,
    ) -> Result<(SentMessage, Exchange), Verdict> {
        self.call(&send_request(&user.creds, chat, content)).await
    }

    pub(crate) async fn messages(
        &self,
        user: &SignedIn,
        chat: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<Message>, Exchange), Verdict> {
        self.call(&messages_request(user, chat, after, limit)).await
    }
}

fn signup_identity(run_tag: &str, n: u64) -> (String, String) {
    (
        format!("check-{run_tag}-{n}@example.com"),
        format!("Chk!{run_tag}#{n}aZ9"),
    )
}
