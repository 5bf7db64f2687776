//! Shared state of a run: the client, the users, the expected limits and
//! window, and helpers that every area uses (fresh users, chats, messages).
//! Following CONTRACT.md's notes, each user is logged in once and its pair is
//! reused; a check that logs in again takes a user of its own.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::Account;
use crate::client::{Client, ClientError, Credentials, Exchange, Request};
use crate::contract::wire::{LoginResult, Message, SentMessage};
use crate::contract::{Endpoint, LimitsTable};

use super::budget::{BucketKey, Ledger};
use super::verdict::{Step, Verdict};

/// A user the suite acts as, logged in once.
#[derive(Clone)]
pub struct User {
    pub email: String,
    pub password: Option<String>,
    pub creds: Credentials,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "User({})", self.email)
    }
}

/// Everything a check may use.
pub struct Ctx {
    pub client: Client,
    pub limits: LimitsTable,
    /// The server's window (`--window-seconds`, else the limits file's).
    pub window_secs: u64,
    pub show_secrets: bool,
    /// Whether the suite may create users with signup.
    pub signup_allowed: bool,
    /// The allowed production origin, if known (embedded server, or given).
    pub production_origin: Option<String>,
    /// Two participants and an outsider, shared by ordinary checks.
    pub a: User,
    pub b: User,
    pub c: User,
    /// Every user e-mail the suite was given or created (USERS-1).
    known_users: Mutex<Vec<String>>,
    /// Every secret the suite knows (AUTH-8 looks for them in answers).
    secrets: Mutex<Vec<(String, String)>>,
    /// Accounts nobody has used yet, handed out as fresh users.
    pool: Mutex<VecDeque<Account>>,
    /// The logins made while setting up (AUTH-1's fallback evidence).
    pub setup_logins: Vec<Exchange>,
    run_tag: String,
    seq: AtomicU64,
    /// Expensive fixtures built once and shared by the checks that need them.
    pub shared: Shared,
    /// The suite's own spending of the server's quotas.
    pub ledger: Ledger,
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

/// One answer per endpoint, and notes on endpoints not probed.
pub type Probes = (Vec<(Endpoint, Exchange)>, Vec<String>);

/// Fixtures several checks read (built on first use).
#[derive(Default)]
pub struct Shared {
    /// POLL-8: a chat of 101 messages, and a participant to read it as.
    pub big_chat: tokio::sync::OnceCell<Result<(String, User), Verdict>>,
    /// ENV-2/3: answers to requests that must fail, with what each was.
    pub error_answers: tokio::sync::OnceCell<Result<Vec<(&'static str, Exchange)>, Verdict>>,
    /// RL-1/2: one counted answer per table endpoint, and notes on gaps.
    pub rl_probes: tokio::sync::OnceCell<Result<Probes, Verdict>>,
    /// RL: a user whose get_chats bucket was driven to a refusal.
    pub exhausted: tokio::sync::OnceCell<Result<super::ratelimit::Exhausted, Verdict>>,
}

/// What the runner gives [`Ctx::setup`].
pub struct Setup {
    pub client: Client,
    pub limits: LimitsTable,
    pub window_secs: u64,
    pub show_secrets: bool,
    pub signup_allowed: bool,
    pub production_origin: Option<String>,
    pub accounts: Vec<Account>,
    /// Announce waits for quota on stderr (what the suite waits for).
    pub announce_waits: bool,
    /// The accounts were made for this run (the embedded server, started
    /// empty): their buckets and chats start empty like signed-up users'.
    pub accounts_are_new: bool,
}

/// Why a run could not start: a usage problem (exit 2), the target or the
/// accounts (exit 3), or an answer the contract forbids (exit 1: the
/// clauses it breaks fail, the checks that needed the set-up are not
/// evaluated).
#[derive(Debug)]
pub enum SetupFailure {
    Usage(String),
    Target(String),
    Nonconformant {
        /// The clauses the answer breaks, e.g. `ENV-2`, `AUTH-1`.
        clauses: Vec<&'static str>,
        verdict: Verdict,
    },
}

/// A login or signup during set-up: refusals (in any form) are waited out,
/// at most three times; an answer the contract forbids is a finding, not an
/// unreachable target.
async fn setup_pair(
    client: &Client,
    ledger: &Ledger,
    limits: &LimitsTable,
    req: Request,
    what: String,
    announce: bool,
) -> Result<(LoginResult, Exchange), SetupFailure> {
    let key = BucketKey::of(&req, limits);
    let is_signup = Endpoint::from_path(&req.path) == Some(Endpoint::Signup);
    let mut attempt = 0;
    loop {
        if let Some(k) = &key {
            if let Some(w) = ledger.wait_for_room(k, 1, Instant::now()) {
                if announce && w.duration >= Duration::from_secs(1) {
                    eprintln!(
                        "  waiting {:.1} s to {what}: {}",
                        w.duration.as_secs_f64(),
                        w.why
                    );
                }
                tokio::time::sleep(w.duration).await;
            }
            ledger.charge(k, Instant::now());
        }
        let ex = client
            .send(&req)
            .await
            .map_err(|e| SetupFailure::Target(format!("cannot {what}: {e}")))?;
        if let Some(k) = &key {
            ledger.observe(k, &ex, Instant::now());
        }
        if ex.refusal().is_some() && attempt < 3 {
            attempt += 1;
            if key.is_none() {
                tokio::time::sleep(ledger.window()).await;
            }
            continue;
        }
        return match ex.decode::<LoginResult>() {
            Ok(pair) if !pair.api_key.is_empty() && !pair.api_secret.is_empty() => Ok((pair, ex)),
            Ok(_) => Err(setup_finding(
                &ex,
                &what,
                is_signup,
                "an empty api_key or api_secret",
            )),
            // The accounts are wrong (or the user does not exist): nothing
            // the server can be blamed for.
            Err(_) if !is_signup && matches!(ex.status, 401 | 403) => {
                Err(SetupFailure::Target(format!(
                    "cannot {what}: HTTP {} ({}): check the accounts",
                    ex.status,
                    ex.envelope().map(|e| e.summary()).unwrap_or_default()
                )))
            }
            Err(e) => Err(setup_finding(&ex, &what, is_signup, &e.to_string())),
        };
    }
}

/// An answer to a set-up login or signup outside what the contract allows.
fn setup_finding(ex: &Exchange, what: &str, is_signup: bool, detail: &str) -> SetupFailure {
    let success = ex.is_success();
    let has_message = ex.json().is_some_and(|v| v.get("message").is_some());
    let mut clauses = vec![if is_signup { "AUTH-7" } else { "AUTH-1" }];
    if success && !has_message {
        clauses.push("ENV-2");
    }
    let expected = if is_signup {
        "HTTP 200 with message.api_key and message.api_secret (AUTH-7)"
    } else {
        "HTTP 200 with message.api_key and message.api_secret (AUTH-1, ENV-2)"
    };
    SetupFailure::Nonconformant {
        clauses,
        verdict: Verdict::fail(format!("set-up could not {what}: {detail}"))
            .expected(expected)
            .seen(super::verdict::describe(ex))
            .with(ex),
    }
}

impl Ctx {
    /// Signs in the three shared users (signing up missing ones when allowed)
    /// and keeps the remaining accounts as the pool of fresh users.
    pub async fn setup(s: Setup) -> Result<Ctx, SetupFailure> {
        let run_tag: String = {
            use rand::Rng;
            let n: u32 = rand::rng().random();
            format!("{n:08x}")
        };
        let ledger = Ledger::new(s.limits.clone(), Duration::from_secs(s.window_secs));
        let pair_of = |req: Request, who: String| {
            setup_pair(&s.client, &ledger, &s.limits, req, who, s.announce_waits)
        };
        let mut pool: VecDeque<Account> = s.accounts.into();
        let mut shared = Vec::new();
        let mut setup_logins = Vec::new();
        let mut known: Vec<String> = pool.iter().map(|a| a.email.clone()).collect();
        let mut secrets = Vec::new();
        let mut created = 0u64;
        while shared.len() < 3 {
            let user = if let Some(account) = pool.pop_front() {
                match account.credentials() {
                    Some(creds) => User {
                        email: account.email.clone(),
                        password: account.password.clone(),
                        creds,
                    },
                    None => {
                        let pwd = account.password.clone().unwrap_or_default();
                        let (pair, ex) = pair_of(
                            Request::login(&account.email, &pwd),
                            format!("log in as {}", account.email),
                        )
                        .await?;
                        setup_logins.push(ex);
                        User {
                            email: account.email.clone(),
                            password: Some(pwd),
                            creds: Credentials::from(&pair),
                        }
                    }
                }
            } else if s.signup_allowed {
                created += 1;
                let (email, pwd) = signup_identity(&run_tag, 1000 + created);
                let (pair, _) = pair_of(
                    Request::signup(&email, &pwd, "Check User"),
                    format!("sign up {email}"),
                )
                .await?;
                known.push(email.clone());
                User {
                    email,
                    password: Some(pwd),
                    creds: Credentials::from(&pair),
                }
            } else {
                return Err(SetupFailure::Usage(format!(
                    "the suite needs at least three users (two participants and an outsider), got {}: \
                     give more --user EMAIL:PASSWORD or an --accounts file, or drop --no-signup",
                    shared.len()
                )));
            };
            secrets.push((user.email.clone(), user.creds.api_secret.clone()));
            shared.push(user);
        }
        let c = shared.pop().expect("three users");
        let b = shared.pop().expect("three users");
        let a = shared.pop().expect("three users");
        // A token-only account list has made no request yet: make sure the
        // target answers at all, and that the token works, before any check.
        let probe = s
            .client
            .send(&Request::to(Endpoint::GetChats).token(&a.creds))
            .await
            .map_err(|e| SetupFailure::Target(format!("the target does not answer: {e}")))?;
        if probe.status == 401 || probe.status == 403 {
            return Err(SetupFailure::Target(format!(
                "the token of {} is refused (HTTP {}): check the accounts",
                a.email, probe.status
            )));
        }
        Ok(Ctx {
            client: s.client,
            limits: s.limits,
            window_secs: s.window_secs,
            show_secrets: s.show_secrets,
            signup_allowed: s.signup_allowed,
            production_origin: s.production_origin,
            a,
            b,
            c,
            known_users: Mutex::new(known),
            secrets: Mutex::new(secrets),
            pool: Mutex::new(pool),
            setup_logins,
            run_tag,
            seq: AtomicU64::new(created),
            shared: Shared::default(),
            ledger,
            announce_waits: s.announce_waits,
            fresh_taken: AtomicU64::new(0),
            accounts_are_new: s.accounts_are_new,
            rtt_us: AtomicU64::new(0),
            lent: AtomicU64::new(0),
        })
    }

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
    pub async fn paced<F: std::future::Future>(&self, fut: F) -> F::Output {
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
    pub async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
        let _ = SCOPE.try_with(|s| {
            s.waited_ms
                .fetch_add(d.as_millis() as u64, Ordering::Relaxed)
        });
    }

    /// Sleeps until `deadline`, counted as waiting.
    pub async fn sleep_until(&self, deadline: Instant) {
        let now = Instant::now();
        if deadline > now {
            self.sleep(deadline - now).await;
        }
    }

    pub fn window(&self) -> Duration {
        Duration::from_secs(self.window_secs)
    }

    /// A name nobody else in this run (or an earlier one) uses.
    pub fn unique(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}-{}-{n}", self.run_tag)
    }

    /// The expected limit of an endpoint (the limits file).
    pub fn limit(&self, e: Endpoint) -> Option<u32> {
        self.limits.limit(e)
    }

    pub fn known_users(&self) -> Vec<String> {
        self.known_users
            .lock()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// Every secret the suite knows, with its owner.
    pub fn known_secrets(&self) -> Vec<(String, String)> {
        self.secrets.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn remember(&self, user: &User) {
        if let Ok(mut s) = self.secrets.lock() {
            s.push((user.email.clone(), user.creds.api_secret.clone()));
        }
    }

    /// `n` users nobody else uses: from the pool of accounts, else created
    /// with signup when allowed; otherwise the check is skipped.
    pub async fn fresh_users(&self, n: usize) -> Result<Vec<User>, Verdict> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.fresh_user(false).await?);
        }
        Ok(out)
    }

    /// One fresh user; with `needs_password`, one the check may log in as.
    pub async fn fresh_user(&self, needs_password: bool) -> Result<User, Verdict> {
        let account = self.pool.lock().ok().and_then(|mut pool| {
            let at = pool
                .iter()
                .position(|a| !needs_password || a.password.is_some())?;
            pool.remove(at)
        });
        if let Some(account) = account {
            let user = match account.credentials() {
                Some(creds) => User {
                    email: account.email.clone(),
                    password: account.password.clone(),
                    creds,
                },
                None => {
                    let pwd = account.password.clone().unwrap_or_default();
                    let what = format!("logging in the fresh user {}", account.email);
                    self.log_in(&account.email, pwd, &what).await?
                }
            };
            self.remember(&user);
            self.fresh_taken.fetch_add(1, Ordering::Relaxed);
            return Ok(user);
        }
        if self.signup_allowed {
            let n = self.seq.fetch_add(1, Ordering::Relaxed);
            let (email, pwd) = signup_identity(&self.run_tag, n);
            let req = Request::signup(&email, &pwd, "Check User");
            let r: LoginResult = self
                .send_retrying(&req, true)
                .await
                .and_then(|ex| ex.decode().map_err(Verdict::from))
                .step(&format!("signing up the fresh user {email}"))?;
            if let Ok(mut k) = self.known_users.lock() {
                k.push(email.clone());
            }
            let user = User {
                email,
                password: Some(pwd),
                creds: Credentials::from(&r),
            };
            self.remember(&user);
            self.fresh_taken.fetch_add(1, Ordering::Relaxed);
            return Ok(user);
        }
        self.lend_shared(needs_password).await
    }

    /// With no spare account and signup forbidden, a check that wants a user
    /// of its own borrows one of the shared three in turn (c, b, a): once
    /// its buckets of the table endpoints are idle, so the check starts from
    /// a full allowance and what earlier checks spent is not blamed on the
    /// server. A check that logs its user in again gets a new pair from a
    /// login of its own; the runner runs such checks after every other
    /// check that uses the shared pairs (a server may rotate the secret).
    async fn lend_shared(&self, needs_password: bool) -> Result<User, Verdict> {
        let turns = [&self.c, &self.b, &self.a];
        let start = self.lent.fetch_add(1, Ordering::Relaxed) as usize;
        let Some(user) = (0..turns.len())
            .map(|i| turns[(start + i) % turns.len()])
            .find(|u| !needs_password || u.password.is_some())
        else {
            return Err(Verdict::skip(
                "not evaluated: needs a user with a password (one the suite may log in again); the accounts were given by token and --no-signup forbids creating one",
            ));
        };
        for endpoint in [
            Endpoint::GetChats,
            Endpoint::CreateChat,
            Endpoint::GetMessages,
            Endpoint::SendMessage,
        ] {
            self.wait_idle(user, endpoint).await;
        }
        if !needs_password {
            return Ok(user.clone());
        }
        let pwd = user.password.clone().unwrap_or_default();
        let what = format!("logging in the shared user {} again", user.email);
        let lent = self.log_in(&user.email, pwd, &what).await?;
        self.remember(&lent);
        Ok(lent)
    }

    /// Logs a user in for a check's use (`what` names the step in a
    /// verdict). Setting up a user is not what a check measures: a refusal
    /// waits for the bucket even in rate-limit checks.
    async fn log_in(&self, email: &str, pwd: String, what: &str) -> Result<User, Verdict> {
        let ex = self
            .send_retrying(&Request::login(email, &pwd), true)
            .await
            .step(what)?;
        let r: LoginResult = ex.decode().map_err(Verdict::from).step(what)?;
        Ok(User {
            email: email.to_owned(),
            password: Some(pwd),
            creds: Credentials::from(&r),
        })
    }

    /// Whether `user` was signed up by this run: its buckets and chats
    /// start empty on any server, whatever earlier runs left behind.
    pub fn is_new(&self, user: &User) -> bool {
        self.accounts_are_new || user.email.contains(&format!("-{}-", self.run_tag))
    }

    /// Spare accounts not handed out yet.
    pub fn pool_len(&self) -> usize {
        self.pool.lock().map(|p| p.len()).unwrap_or(0)
    }

    /// Fresh users handed out so far.
    pub fn fresh_taken(&self) -> u64 {
        self.fresh_taken.load(Ordering::Relaxed)
    }

    /// A signup identity for this run: a new e-mail and a strong password.
    pub fn new_identity(&self) -> (String, String) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        signup_identity(&self.run_tag, n)
    }

    /// Sends. In a check that is not about rate limits the request is
    /// paced: it waits until the ledger says its bucket has room, and a
    /// refusal (in any form, `contract::refusal`) is waited out and the
    /// request sent again (at most three times): the suite never blames the
    /// server for its own traffic. Rate-limit checks send unpaced.
    pub async fn send(&self, req: &Request) -> Result<Exchange, Verdict> {
        self.send_retrying(req, SCOPE.try_with(|s| s.retry_refusals).unwrap_or(true))
            .await
    }

    /// Sends with `pace` as [`Ctx::send`] describes.
    async fn send_retrying(&self, req: &Request, pace: bool) -> Result<Exchange, Verdict> {
        let key = BucketKey::of(req, &self.limits);
        let mut attempt = 0;
        loop {
            if pace {
                if let Some(k) = &key {
                    self.wait_for_room(k, 1).await;
                }
            }
            let ex = self.send_counted(req, key.as_ref()).await?;
            let Some(refusal) = ex.refusal().filter(|_| pace && attempt < 3) else {
                return Ok(ex);
            };
            attempt += 1;
            if key.is_none() {
                // Not a bucket the ledger knows: wait as the refusal says.
                let wait = refusal.wait_seconds(self.window_secs);
                self.announce(
                    Duration::from_secs(wait),
                    &format!("{} refused ({})", endpoint_of(req), refusal.describe()),
                );
                self.sleep(Duration::from_secs(wait) + Duration::from_millis(250))
                    .await;
            }
        }
    }

    /// Sends paced even inside a rate-limit check: for a probe that needs a
    /// counted answer, not a refusal the suite's own traffic caused.
    pub async fn send_paced(&self, req: &Request) -> Result<Exchange, Verdict> {
        self.send_retrying(req, true).await
    }

    /// Sends without pacing (rate-limit checks drive buckets on purpose),
    /// charging the request to its bucket all the same.
    pub async fn send_unpaced(&self, req: &Request) -> Result<Exchange, ClientError> {
        self.send_counted(req, BucketKey::of(req, &self.limits).as_ref())
            .await
    }

    async fn send_counted(
        &self,
        req: &Request,
        key: Option<&BucketKey>,
    ) -> Result<Exchange, ClientError> {
        if let Some(k) = key {
            self.ledger.charge(k, Instant::now());
        }
        let r = self.client.send(req).await;
        if let Ok(ex) = &r {
            self.note_rtt(ex.elapsed);
            if let Some(k) = key {
                self.ledger.observe(k, ex, Instant::now());
            }
        }
        r
    }

    /// Folds one round trip into the smoothed estimate (weight 1/8, as TCP
    /// does; a race between two updates loses one sample, which is harmless).
    fn note_rtt(&self, d: Duration) {
        let sample = d.as_micros().min(u128::from(u32::MAX)) as u64;
        let old = self.rtt_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - old / 8 + sample / 8
        };
        self.rtt_us.store(new.max(1), Ordering::Relaxed);
    }

    /// The server's smoothed round trip as measured so far.
    pub fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us.load(Ordering::Relaxed))
    }

    /// How many of `n` requests to keep in flight so that all of them are
    /// answered within an eighth of the window at the measured round trip
    /// (RL-6.2 fits three such phases and a margin in half a window): at
    /// least 8, at most 64.
    pub fn burst_width(&self, n: u32) -> usize {
        let eighth = self.window().as_secs_f64() / 8.0;
        let need = (f64::from(n) * self.rtt().as_secs_f64() / eighth).ceil();
        (need as usize).clamp(8, 64)
    }

    /// Waits until `n` more requests fit in the bucket.
    pub async fn wait_for_room(&self, key: &BucketKey, n: u32) {
        while let Some(w) = self.ledger.wait_for_room(key, n, Instant::now()) {
            self.announce(w.duration, &format!("{} quota: {}", key.endpoint, w.why));
            self.sleep(w.duration).await;
        }
    }

    /// Waits until `user`'s bucket of `endpoint` is idle (nothing of this
    /// run counted in it within a window), so a rate-limit check starts from
    /// a full allowance.
    pub async fn wait_idle(&self, user: &User, endpoint: Endpoint) {
        let key = BucketKey::of(&Request::to(endpoint).token(&user.creds), &self.limits);
        self.wait_idle_key(key).await;
    }

    /// As [`Ctx::wait_idle`], for the client address's bucket of login or signup.
    pub async fn wait_idle_address(&self, endpoint: Endpoint) {
        let key = BucketKey::of(&Request::to(endpoint), &self.limits);
        self.wait_idle_key(key).await;
    }

    async fn wait_idle_key(&self, key: Option<BucketKey>) {
        let Some(key) = key else { return };
        while let Some(w) = self.ledger.wait_for_idle(&key, Instant::now()) {
            self.announce(
                w.duration,
                &format!("an idle {} bucket: {}", key.endpoint, w.why),
            );
            self.sleep(w.duration).await;
        }
    }

    /// Says on stderr what the suite waits for, when it is worth saying.
    fn announce(&self, d: Duration, what: &str) {
        if self.announce_waits && d >= Duration::from_secs(1) {
            eprintln!("  waiting {:.1} s for {what}", d.as_secs_f64());
        }
    }

    /// Sends and decodes `message`; a non-2xx answer is an error.
    pub async fn call<T: serde::de::DeserializeOwned>(
        &self,
        req: &Request,
    ) -> Result<(T, Exchange), Verdict> {
        let ex = self.send(req).await?;
        let v = ex.decode::<T>().map_err(Verdict::from)?;
        Ok((v, ex))
    }

    pub async fn login(&self, email: &str, pwd: &str) -> Result<(LoginResult, Exchange), Verdict> {
        self.call(&Request::login(email, pwd)).await
    }

    /// A new Group chat of `owner` with `others`: each check gets chats of
    /// its own, so nothing another check did shows up in it.
    pub async fn group(&self, owner: &User, others: &[&User]) -> Result<String, Verdict> {
        let ids: Vec<&str> = others.iter().map(|u| u.email.as_str()).collect();
        self.create_chat(owner, &ids, "Group")
            .await
            .map(|(id, _)| id)
            .step("creating a group chat")
    }

    pub async fn create_chat(
        &self,
        owner: &User,
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

    pub async fn post(
        &self,
        user: &User,
        chat: &str,
        content: &str,
    ) -> Result<(SentMessage, Exchange), Verdict> {
        self.call(&send_request(&user.creds, chat, content)).await
    }

    pub async fn messages(
        &self,
        user: &User,
        chat: &str,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<(Vec<Message>, Exchange), Verdict> {
        self.call(&messages_request(user, chat, after, limit)).await
    }
}

/// get_messages as a request, for checks that look at the raw answer.
/// send_message as `creds` to `chat`.
pub fn send_request(creds: &Credentials, chat: &str, content: impl Into<String>) -> Request {
    Request::to(Endpoint::SendMessage)
        .token(creds)
        .param("chat", chat)
        .param("content", content)
}

pub fn messages_request(
    user: &User,
    chat: &str,
    after: Option<&str>,
    limit: Option<u32>,
) -> Request {
    let mut req = Request::to(Endpoint::GetMessages)
        .token(&user.creds)
        .param("chat", chat);
    if let Some(a) = after {
        req = req.param("after", a);
    }
    if let Some(l) = limit {
        req = req.param("limit", l.to_string());
    }
    req
}

fn signup_identity(run_tag: &str, n: u64) -> (String, String) {
    (
        format!("check-{run_tag}-{n}@example.com"),
        format!("Chk!{run_tag}#{n}aZ9"),
    )
}

/// True when a transport failure, not a server answer, ended a call.
fn endpoint_of(req: &Request) -> String {
    Endpoint::from_path(&req.path)
        .map(|e| e.name().to_owned())
        .unwrap_or_else(|| req.path.clone())
}

pub fn is_transport(e: &ClientError) -> bool {
    e.is_transport()
}
