//! `chat-harness provision`: makes the many users a load run needs against a
//! real server, where signup and login are rate limited per address (5 and
//! 10 a minute in the design). It signs users up at the pace the server's
//! `X-RateLimit-*` and `Retry-After` headers allow, saves every account with
//! its token as soon as it has one (mode 0600, never printed), and resumes
//! from the file when run again.

use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::{self, Account};
use crate::client::{Client, ClientConfig, ClientError, Credentials};
use crate::contract::RateLimitInfo;
use crate::SetupError;

#[derive(Debug, Clone)]
pub struct ProvisionConfig {
    pub target: String,
    pub count: usize,
    pub out: PathBuf,
    /// E-mails are `<prefix><n>@<domain>`.
    pub prefix: String,
    pub domain: String,
    pub password: String,
    pub timeout: Duration,
    /// Longest single wait for quota before giving up.
    pub max_wait: Duration,
    pub progress: bool,
}

impl ProvisionConfig {
    pub fn email(&self, i: usize) -> String {
        format!("{}{i:06}@{}", self.prefix, self.domain)
    }
}

/// How long the headers say to wait before capacity returns.
fn wait_hint(info: &RateLimitInfo) -> Option<Duration> {
    if let Some(s) = info.retry_after.value() {
        return Some(Duration::from_secs(s.max(1)));
    }
    let reset = info.reset.value()?;
    if reset <= 3600 {
        return Some(Duration::from_secs(reset.max(1)));
    }
    // An epoch: against the server's Date, or our clock.
    let now = info
        .date
        .map_or_else(|| chrono::Utc::now().timestamp(), |d| d.timestamp());
    Some(Duration::from_secs(
        (reset as i64 - now).clamp(1, 3600) as u64
    ))
}

enum Attempt {
    Done(Credentials),
    Wait(Duration),
    Exists,
}

async fn attempt(
    client: &Client,
    cfg: &ProvisionConfig,
    email: &str,
    login: bool,
) -> Result<Attempt, ClientError> {
    let r = if login {
        client.login(email, &cfg.password).await
    } else {
        client
            .signup(email, &cfg.password, &format!("Load User {email}"))
            .await
    };
    match r {
        Ok(t) => {
            let info = t.exchange.rate_limit();
            let creds = Credentials::from(&t.value);
            // Spend the last unit now, but note when the next one comes.
            if info.remaining.value() == Some(0) {
                if let Some(w) = wait_hint(&info) {
                    tokio::time::sleep(w.min(cfg.max_wait)).await;
                }
            }
            Ok(Attempt::Done(creds))
        }
        // A refusal in any form is waited out first: a 417 refusal of a
        // signup is not "already exists".
        Err(e) => match e.exchange().and_then(|x| x.refusal()) {
            Some(refusal) => Ok(Attempt::Wait(
                wait_hint(&refusal.rate).unwrap_or(Duration::from_secs(60)),
            )),
            None => match e.status() {
                Some(409) | Some(417) if !login => Ok(Attempt::Exists),
                _ => Err(e),
            },
        },
    }
}

pub async fn run(cfg: ProvisionConfig) -> anyhow::Result<u8> {
    let mut have: Vec<Account> = if cfg.out.exists() {
        accounts::load(&cfg.out)?
    } else {
        Vec::new()
    };
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| SetupError(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut cc = ClientConfig::new(&cfg.target);
    cc.timeout = cfg.timeout;
    let client = Client::new(cc)?;
    if cfg.progress && !have.is_empty() {
        eprintln!(
            "resuming: {} accounts already in {}",
            have.len(),
            cfg.out.display()
        );
    }
    // From the first number: a gap in the file (an account lost from it) is
    // filled again, by a login when the server already has that user.
    let mut i = 0;
    let mut login = false;
    while have.len() < cfg.count {
        // The file may hold accounts of another prefix, or ours out of order:
        // never make (or log into and list twice) one it already holds.
        while have.iter().any(|a| a.email == cfg.email(i)) {
            i += 1;
        }
        let email = cfg.email(i);
        match attempt(&client, &cfg, &email, login)
            .await
            .map_err(|e| SetupError(format!("{email}: {e}")))?
        {
            Attempt::Done(c) => {
                have.push(Account {
                    email,
                    password: Some(cfg.password.clone()),
                    full_name: None,
                    api_key: Some(c.api_key),
                    api_secret: Some(c.api_secret),
                });
                accounts::save(&cfg.out, &have)?;
                i += 1;
                login = false;
                if cfg.progress {
                    eprintln!("provisioned {}/{}", have.len(), cfg.count);
                }
            }
            // Signed up in an earlier run whose save was lost: log in instead.
            Attempt::Exists => login = true,
            Attempt::Wait(w) => {
                if w > cfg.max_wait {
                    return Err(SetupError(format!(
                        "the server asks to wait {w:?} for {} quota, more than --max-wait {:?}; {} accounts saved in {}, run again to resume",
                        if login { "login" } else { "signup" },
                        cfg.max_wait,
                        have.len(),
                        cfg.out.display()
                    ))
                    .into());
                }
                if cfg.progress {
                    eprintln!(
                        "{}/{}: waiting {w:?} for {} quota",
                        have.len(),
                        cfg.count,
                        if login { "login" } else { "signup" }
                    );
                }
                tokio::time::sleep(w).await;
            }
        }
    }
    if cfg.progress {
        eprintln!(
            "{} accounts with tokens in {} (mode 0600)",
            have.len(),
            cfg.out.display()
        );
    }
    Ok(crate::exit_code::SUCCESS)
}
