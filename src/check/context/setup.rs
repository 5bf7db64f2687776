//! Setting up a run: the three shared users logged in (or signed up), the
//! remaining accounts kept as the pool of fresh users, and why a run could
//! not start when it cannot.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::accounts::Account;
use crate::check::budget::{BucketKey, Ledger};
use crate::check::verdict::Verdict;
use crate::client::{Client, Credentials, Exchange, Request};
use crate::contract::wire::LoginResult;
use crate::contract::{Endpoint, LimitsTable};

use super::fixtures::Fixtures;
use super::user::SignedIn;
use super::{signup_identity, Ctx};

/// What the runner gives [`Ctx::setup`].
pub(crate) struct Setup {
    pub(crate) client: Client,
    pub(crate) limits: LimitsTable,
    pub(crate) window_secs: u64,
    pub(crate) show_secrets: bool,
    pub(crate) signup_allowed: bool,
    pub(crate) production_origin: Option<String>,
    pub(crate) accounts: Vec<Account>,
    /// Announce waits for quota on stderr (what the suite waits for).
    pub(crate) announce_waits: bool,
    /// The accounts were made for this run (the embedded server, started
    /// empty): their buckets and chats start empty like signed-up users'.
    pub(crate) accounts_are_new: bool,
}

/// Why a run could not start: a usage problem (exit 2), the target or the
/// accounts (exit 3), or an answer the contract forbids (exit 1: the
/// clauses it breaks fail, the checks that needed the set-up are not
/// evaluated).
#[derive(Debug)]
pub(crate) enum SetupFailure {
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
            .seen(crate::check::verdict::describe(ex))
            .with(ex),
    }
}

impl Ctx {
    /// Signs in the three shared users (signing up missing ones when allowed)
    /// and keeps the remaining accounts as the pool of fresh users.
    pub(crate) async fn setup(s: Setup) -> Result<Ctx, SetupFailure> {
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
                    Some(creds) => SignedIn {
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
                        SignedIn {
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
                SignedIn {
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
            fixtures: Fixtures::default(),
            ledger,
            announce_waits: s.announce_waits,
            fresh_taken: AtomicU64::new(0),
            accounts_are_new: s.accounts_are_new,
            rtt_us: AtomicU64::new(0),
            lent: AtomicU64::new(0),
        })
    }
}
