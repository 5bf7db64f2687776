//! Planning a `limits` run: who stands for whom. The accounts become
//! [`Identities`] (logged in where they hold no pair), B creates the chats
//! the probes use ([`ProbeChats`]), and each endpoint gets a [`ProbePlan`]:
//! its main lane, the isolation and atomicity lanes (other users, or other
//! loopback addresses for login and signup) and when it may start.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use super::config::LimitsConfig;
use super::probe::{client_from, Lane, Pairs};
use crate::accounts::Account;
use crate::client::{Client, ClientConfig, Credentials};
use crate::contract::Endpoint;
use crate::error::{SetupError, UsageError};

/// The identities a run acts as.
pub(crate) struct Identities {
    /// Two or more users with passwords: A, B (and C...).
    pub(crate) users: Vec<(String, String)>,
    /// The pair each holds.
    pub(crate) pairs: Arc<Pairs>,
    /// Seconds to wait before probing login from the default address (setup
    /// spent login quota there).
    pub(crate) login_debt: Duration,
}

/// Checks the accounts (two with passwords at least: a usage error naming
/// what is missing) and logs in those that have no token, waiting out a
/// login quota an earlier run spent (said on stderr unless `quiet`).
pub(crate) async fn identities(
    client: &Client,
    accounts: &[Account],
    window: u64,
    quiet: bool,
) -> anyhow::Result<Identities> {
    let with_password: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.password.as_deref().is_some_and(|p| !p.is_empty()))
        .collect();
    if with_password.len() < 2 {
        let without: Vec<&str> = accounts
            .iter()
            .filter(|a| a.password.as_deref().is_none_or(str::is_empty))
            .map(|a| a.email.as_str())
            .collect();
        return Err(UsageError(format!(
            "limits needs 2 accounts with passwords (one whose buckets are probed, one for isolation and the login probe), got {}{}: give --user EMAIL:PASSWORD twice or an --accounts file with passwords",
            with_password.len(),
            if without.is_empty() {
                String::new()
            } else {
                format!(" ({} without a password)", without.join(", "))
            }
        ))
        .into());
    }
    let pairs = Arc::new(Pairs::default());
    let mut users = Vec::new();
    let mut debt = Duration::ZERO;
    for a in with_password.iter().take(3) {
        let pwd = a.password.clone().unwrap_or_default();
        let creds = match a.credentials() {
            Some(c) => c,
            None => {
                let r = crate::accounts::log_in_waiting(client, &a.email, &pwd, window, quiet)
                    .await
                    .map_err(|e| SetupError(format!("cannot log in as {}: {e}", a.email)))?;
                let reset = r
                    .exchange
                    .rate_limit()
                    .with_body_values()
                    .seconds_until_reset(window)
                    .unwrap_or(window);
                debt = Duration::from_secs(reset.min(window + 1) + 1);
                Credentials::from(&r.value)
            }
        };
        pairs.insert(&a.email, creds);
        users.push((a.email.clone(), pwd));
    }
    Ok(Identities {
        users,
        pairs,
        login_debt: debt,
    })
}

/// One endpoint's lanes.
pub(crate) struct ProbePlan {
    pub(crate) endpoint: Endpoint,
    pub(crate) expected: u32,
    pub(crate) main: Lane,
    pub(crate) isolation: Result<Lane, String>,
    pub(crate) atomic: Result<Lane, String>,
    /// Atomicity waits until its bucket has been idle for a window (it is
    /// the isolation user's, two accounts only).
    pub(crate) atomic_waits: bool,
    /// For login and signup: send one request with X-Forwarded-For once exhausted.
    pub(crate) forwarded_for: bool,
    /// Who looks for the effect of a refused request.
    pub(crate) observer: String,
    pub(crate) start_delay: Duration,
    /// Say on stderr what the probe waits for.
    pub(crate) progress: bool,
}

/// The chats the probes use.
pub(crate) struct ProbeChats {
    /// A chat of A and B, and one of C and B when there is a C.
    pub(crate) chat_ab: String,
    pub(crate) chat_cb: Option<String>,
}

pub(crate) async fn set_up(client: &Client, ids: &Identities) -> anyhow::Result<ProbeChats> {
    // B creates the chats: A's create_chat bucket stays fresh for the probe.
    let b = &ids.users[1].0;
    let chat = |other: String| async move {
        for attempt in 0..2 {
            let (creds, _) = ids
                .pairs
                .get(b)
                .ok_or_else(|| SetupError(format!("no pair held for {b}")))?;
            ids.pairs.spent(&format!("user {b}"), Endpoint::CreateChat);
            match client
                .create_chat(
                    &creds,
                    &format!("limits {b} {other}"),
                    &[other.as_str()],
                    "Direct",
                )
                .await
            {
                Ok(r) => return Ok(r.value),
                // The pair given (an accounts file's) was revoked since it
                // was issued: the tokens finding; log in and carry on.
                Err(e) if e.status() == Some(401) && attempt == 0 => {
                    ids.pairs.record_revoked(
                        b,
                        format!("create_chat as user {b} answered 401 with the pair the accounts gave: the server revoked it (the tool logged in again)"),
                    );
                    let pwd = &ids.users[1].1;
                    ids.pairs
                        .login(client, "this machine's address", b, pwd)
                        .await
                        .map_err(|e| SetupError(format!("cannot log in as {b}: {e}")))?;
                }
                Err(e) => {
                    return Err(SetupError(format!(
                        "cannot create a chat for the probe ({b} with {other}): {e}"
                    )))
                }
            }
        }
        Err(SetupError(format!(
            "cannot create a chat for the probe ({b} with {other})"
        )))
    };
    let chat_ab = chat(ids.users[0].0.clone()).await?;
    let chat_cb = match ids.users.get(2) {
        Some((c, _)) => Some(chat(c.clone()).await?),
        None => None,
    };
    Ok(ProbeChats { chat_ab, chat_cb })
}

pub(crate) fn plans(
    base: &ClientConfig,
    config: &LimitsConfig,
    ids: &Identities,
    setup: &ProbeChats,
    loopback: bool,
    run_id: &str,
) -> anyhow::Result<Vec<ProbePlan>> {
    let users = &ids.users;
    let email = |i: usize| users[i].0.clone();
    let default = client_from(base, None)?;
    let third = users.len() >= 3;
    let mut out = Vec::new();
    for (n, &endpoint) in config.endpoints.iter().enumerate() {
        let expected = config.expect.limit(endpoint).unwrap_or(1);
        let user_lane = |i: usize, chat: Option<&str>| {
            let mut lane = Lane::new(
                endpoint,
                default.clone(),
                ids.pairs.clone(),
                run_id,
                format!("user {}", email(i)),
            );
            lane.user = Some(email(i));
            lane.chat = chat.map(str::to_owned);
            lane.partners = (0..users.len()).filter(|&p| p != i).map(email).collect();
            lane
        };
        let plan = if endpoint.requires_auth() {
            let needs_chat = matches!(
                endpoint,
                Endpoint::GetMessages
                    | Endpoint::SendMessage
                    | Endpoint::MarkAsRead
                    | Endpoint::GetChatParticipants
            );
            let chat_ab = needs_chat.then_some(setup.chat_ab.as_str());
            let atomic = match (&setup.chat_cb, third) {
                (Some(cb), true) => user_lane(2, needs_chat.then_some(cb.as_str())),
                _ => user_lane(1, chat_ab),
            };
            ProbePlan {
                endpoint,
                expected,
                main: user_lane(0, chat_ab),
                isolation: Ok(user_lane(1, chat_ab)),
                atomic: Ok(atomic),
                atomic_waits: !third,
                forwarded_for: false,
                observer: email(1),
                start_delay: Duration::ZERO,
                progress: config.progress,
            }
        } else {
            // Three loopback addresses per endpoint: probe, isolation, atomicity.
            let addr = |k: u8| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + 3 * n as u8 + k));
            let address_lane = |local: Option<IpAddr>| -> anyhow::Result<Lane> {
                let who = local.map_or("this machine's address".into(), |a| format!("address {a}"));
                let mut lane = Lane::new(
                    endpoint,
                    client_from(base, local)?,
                    ids.pairs.clone(),
                    run_id,
                    who,
                );
                // B logs in: every pair its logins return is kept.
                lane.login = Some(users[1].clone());
                Ok(lane)
            };
            let no_alias =
                "needs a second client address: only possible against a loopback target".to_owned();
            let (main, isolation, atomic, delay) = if loopback {
                (
                    address_lane(Some(addr(0)))?,
                    Ok(address_lane(Some(addr(1)))?),
                    Ok(address_lane(Some(addr(2)))?),
                    Duration::ZERO,
                )
            } else {
                let delay = if endpoint == Endpoint::Login {
                    ids.login_debt
                } else {
                    Duration::ZERO
                };
                (
                    address_lane(None)?,
                    Err(no_alias.clone()),
                    Err(no_alias),
                    delay,
                )
            };
            ProbePlan {
                endpoint,
                expected,
                main,
                isolation,
                atomic,
                atomic_waits: false,
                forwarded_for: true,
                observer: email(1),
                start_delay: delay,
                progress: config.progress,
            }
        };
        out.push(plan);
    }
    Ok(out)
}
