//! `chat-harness call`: one endpoint, shown in full. A quick way to poke at any
//! server: status, rate-limit headers, the decoded result or error envelope,
//! and optionally a curl reproduction.

use std::io::Write;

use anyhow::Context;
use clap::Args;

use super::GlobalArgs;
use crate::accounts;
use crate::client::{Auth, Client, ClientConfig, Credentials, Encoding, Exchange, Request};
use crate::contract::{redact, Endpoint};
use crate::error::{exit_code, SetupError, UsageError};

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The endpoint: login, signup, get_chats, create_chat, get_messages,
    /// send_message, mark_as_read, get_chat_participants, get_users.
    pub endpoint: String,
    /// Parameters as key=value (e.g. chat=CHAT-0001 limit=10).
    #[arg(value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Use this token instead of logging in.
    #[arg(long, value_name = "KEY:SECRET")]
    pub token: Option<String>,
    /// Send POST parameters as a JSON body instead of a form.
    #[arg(long)]
    pub json: bool,
    /// Print a curl command that reproduces the call.
    #[arg(long)]
    pub curl: bool,
    /// Show api_secret values and the token's secret instead of masking them.
    #[arg(long)]
    pub show_secrets: bool,
    /// Log in afresh and keep no token: by default a user's token is kept
    /// (mode 0600) in $XDG_CACHE_HOME/chat-harness or ~/.cache/chat-harness,
    /// per target and user, and reused until the server refuses it.
    #[arg(long)]
    pub no_cache: bool,
}

impl CallArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<CallConfig> {
        let endpoint: Endpoint = self
            .endpoint
            .parse()
            .map_err(|e| UsageError(format!("{e}")))?;
        let mut params = Vec::new();
        for p in &self.params {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| UsageError(format!("parameter {p:?} is not KEY=VALUE")))?;
            params.push((k.to_owned(), v.to_owned()));
        }
        let Some(target) = global.target.clone() else {
            return Err(UsageError("call needs --target URL".into()).into());
        };
        let acting = match (&self.token, endpoint.requires_auth()) {
            (_, false) => Acting::Nobody,
            (Some(t), true) => Acting::Token(
                Credentials::parse(t)
                    .ok_or_else(|| UsageError("--token must be KEY:SECRET".into()))?,
            ),
            (None, true) => {
                let accounts = accounts::from_args(&global.users, global.accounts.as_deref())?;
                Acting::Account(accounts.first().cloned().ok_or_else(|| {
                    UsageError(format!("{endpoint} needs a token: give --token KEY:SECRET, --user EMAIL:PASSWORD or --accounts FILE"))
                })?)
            }
        };
        Ok(CallConfig {
            endpoint,
            params,
            target,
            timeout: global.timeout,
            acting,
            json: self.json,
            curl: self.curl,
            show_secrets: self.show_secrets,
            keep_token: !self.no_cache,
            verbose: global.verbose > 0,
        })
    }
}

/// Whom a call acts as.
#[derive(Debug)]
pub enum Acting {
    /// The endpoint needs no token.
    Nobody,
    /// The pair given with --token.
    Token(Credentials),
    /// The account to log in as, or whose kept token to use.
    Account(accounts::Account),
}

/// One call: the endpoint, its parameters and whom to act as.
#[derive(Debug)]
pub struct CallConfig {
    pub endpoint: Endpoint,
    pub params: Vec<(String, String)>,
    pub target: String,
    pub timeout: std::time::Duration,
    pub acting: Acting,
    pub json: bool,
    pub curl: bool,
    pub show_secrets: bool,
    /// Keep and reuse the account's token between calls (not --no-cache).
    pub keep_token: bool,
    pub verbose: bool,
}

pub(super) async fn run(global: &GlobalArgs, args: CallArgs) -> anyhow::Result<u8> {
    let CallConfig {
        endpoint,
        params,
        target,
        timeout,
        acting,
        json,
        curl,
        show_secrets,
        keep_token,
        verbose,
    } = args.config(global)?;
    let mut config = ClientConfig::new(target.clone());
    config.timeout = timeout;
    let client = Client::new(config)?;

    // A user's pair is kept between calls (`token_cache`): logins are few
    // (10 a minute in the design) and a call in a loop would spend them all.
    let cache = if keep_token {
        crate::token_cache::dir()
    } else {
        None
    };
    let mut user = None;
    let mut from_cache = false;
    let auth = match acting {
        Acting::Nobody => Auth::None,
        Acting::Token(t) => Auth::Token(t),
        Acting::Account(account) => {
            let cached = match (&cache, account.credentials()) {
                (Some(dir), None) => crate::token_cache::load(dir, &target, &account.email),
                _ => None,
            };
            let creds = match cached {
                Some(c) => {
                    from_cache = true;
                    if verbose {
                        eprintln!("using the kept token of {}", account.email);
                    }
                    c
                }
                None => login(&client, &account, cache.as_deref(), &target).await?,
            };
            user = Some(account);
            Auth::Token(creds)
        }
    };

    let request = |auth: Auth| {
        let mut req = Request::to(endpoint).auth(auth);
        if json && endpoint.method() == crate::contract::Method::Post {
            req = req.method(http::Method::POST, Encoding::Json);
        }
        req.params = params.clone();
        req
    };
    let mut exchange = client
        .send(&request(auth))
        .await
        .context("the call failed")?;
    // The kept pair no longer works (revoked, or rotated by a login
    // elsewhere): forget it, log in once, and call again.
    if let (true, 401, Some(account)) = (from_cache, exchange.status, &user) {
        if let Some(dir) = &cache {
            crate::token_cache::forget(dir, &target, &account.email);
        }
        if verbose {
            eprintln!(
                "the kept token of {} was refused (401): logging in again",
                account.email
            );
        }
        let creds = login(&client, account, cache.as_deref(), &target).await?;
        exchange = client
            .send(&request(Auth::Token(creds)))
            .await
            .context("the call failed")?;
    }

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {}",
        exchange.request.method,
        exchange.request.redacted().url
    )?;
    writeln!(
        out,
        "HTTP {} ({:.1} ms)",
        exchange.status,
        exchange.elapsed.as_secs_f64() * 1e3
    )?;
    let rl = exchange.rate_limit();
    if !rl.is_absent() || !rl.retry_after.is_missing() {
        write!(
            out,
            "rate limit: limit {}, remaining {}, reset {}",
            rl.limit.describe(),
            rl.remaining.describe(),
            rl.reset.describe()
        )?;
        if !rl.retry_after.is_missing() {
            write!(out, ", retry-after {}", rl.retry_after.describe())?;
        }
        writeln!(out)?;
    }
    for l in &rl.lookalikes {
        writeln!(
            out,
            "note: {} missing, look-alike in {} = {}",
            l.expected, l.found_in, l.value
        )?;
    }
    match exchange.json() {
        Some(mut v) => {
            if !show_secrets {
                redact::json(&mut v);
            }
            if !exchange.is_success() {
                if let Some(env) = exchange.envelope() {
                    writeln!(out, "error: {}", env.summary())?;
                    for p in &env.problems {
                        writeln!(out, "envelope problem: {p}")?;
                    }
                }
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
        }
        None => writeln!(
            out,
            "body (not JSON): {}",
            exchange.body_excerpt(2000, show_secrets)
        )?,
    }
    if curl {
        writeln!(out, "\n{}", exchange.to_curl(show_secrets))?;
    }
    if !exchange.is_success() {
        return Ok(exit_code::TARGET_FAILED);
    }
    // A 2xx is a success only if it says what the contract says (ENV-2).
    if let Some(problem) = success_problem(&exchange, endpoint) {
        writeln!(out, "contract problem: {problem}")?;
        return Ok(exit_code::TARGET_FAILED);
    }
    Ok(exit_code::SUCCESS)
}

/// Logs `account` in and keeps the pair in `cache` (if any) for the next call.
async fn login(
    client: &Client,
    account: &accounts::Account,
    cache: Option<&std::path::Path>,
    target: &str,
) -> anyhow::Result<Credentials> {
    let creds = match account.credentials() {
        Some(c) => c,
        None => {
            // The contract's window bounds the wait when the refusal names none.
            let pwd = account.password.as_deref().unwrap_or_default();
            let r = accounts::log_in_waiting(client, &account.email, pwd, 60, false)
                .await
                .map_err(|e| SetupError(format!("cannot log in as {}: {e}", account.email)))?;
            Credentials::from(&r.value)
        }
    };
    if let (Some(dir), None) = (cache, account.credentials()) {
        if let Err(e) = crate::token_cache::store(dir, target, &account.email, &creds) {
            eprintln!(
                "warning: cannot keep the token in {}: {e}; the next call logs in again",
                dir.display()
            );
        }
    }
    Ok(creds)
}

/// Why a 2xx answer is not the endpoint's success envelope, if it is not:
/// a body that is not JSON, an error envelope, or a result of the wrong shape.
fn success_problem(exchange: &Exchange, endpoint: Endpoint) -> Option<String> {
    use crate::contract::wire::{
        ChatSummary, LoginResult, Message, Participant, SentMessage, User,
    };
    let decoded = match endpoint {
        Endpoint::Login | Endpoint::Signup => exchange.decode::<LoginResult>().map(drop),
        Endpoint::GetChats => exchange.decode::<Vec<ChatSummary>>().map(drop),
        Endpoint::CreateChat => exchange.decode::<String>().map(drop),
        Endpoint::GetMessages => exchange.decode::<Vec<Message>>().map(drop),
        Endpoint::SendMessage => exchange.decode::<SentMessage>().map(drop),
        Endpoint::MarkAsRead => exchange.decode_unit(),
        Endpoint::GetChatParticipants => exchange.decode::<Vec<Participant>>().map(drop),
        Endpoint::GetUsers => exchange.decode::<Vec<User>>().map(drop),
    };
    decoded.err().map(|e| e.to_string())
}
