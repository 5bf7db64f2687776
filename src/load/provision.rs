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
use crate::error::SetupError;

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
    pub(crate) fn email(&self, i: usize) -> String {
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
    say_wait: &dyn Fn(Duration),
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
                    say_wait(w.min(cfg.max_wait));
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

pub(crate) async fn run(cfg: ProvisionConfig) -> anyhow::Result<u8> {
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
    let pace = Pace::new(have.len());
    while have.len() < cfg.count {
        // The file may hold accounts of another prefix, or ours out of order:
        // never make (or log into and list twice) one it already holds.
        while have.iter().any(|a| a.email == cfg.email(i)) {
            i += 1;
        }
        let email = cfg.email(i);
        let what = if login { "login" } else { "signup" };
        let note = |have: usize, w: Duration| {
            if cfg.progress {
                eprintln!("{}", pace.waiting(have, cfg.count, w, what));
            }
        };
        // After a success that spent the last unit: this account is made.
        let say_wait = |w: Duration| note(have.len() + 1, w);
        match attempt(&client, &cfg, &email, login, &say_wait)
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
                note(have.len(), w);
                tokio::time::sleep(w).await;
            }
        }
    }
    if cfg.progress {
        eprintln!(
            "{} accounts with tokens in {} (mode 0600); {}",
            have.len(),
            cfg.out.display(),
            pace.done(have.len())
        );
    }
    Ok(crate::error::exit_code::SUCCESS)
}

/// What `provision` says while it waits for quota: how far it is, how long
/// it waits, and when it should end at the pace so far.
struct Pace {
    started: std::time::Instant,
    /// Accounts the file held when this run began (resumed, not made now).
    initial: usize,
}

impl Pace {
    fn new(initial: usize) -> Pace {
        Pace {
            started: std::time::Instant::now(),
            initial,
        }
    }

    /// `12/120 accounts, waiting 41 s for signup quota (5.0 per min so far): about 21 min left`.
    fn waiting(&self, have: usize, count: usize, wait: Duration, what: &str) -> String {
        waiting_line(
            have,
            count,
            have.saturating_sub(self.initial),
            self.started.elapsed(),
            wait,
            what,
        )
    }

    /// `108 made in 21 min 36 s, 5.0 per min`.
    fn done(&self, have: usize) -> String {
        let made = have.saturating_sub(self.initial);
        let elapsed = self.started.elapsed();
        format!(
            "{made} made in {}, {:.1} per min",
            human(elapsed),
            made as f64 * 60.0 / elapsed.as_secs_f64().max(1e-3)
        )
    }
}

/// The waiting line: the pace is what this run made over its time so far
/// with the wait it is starting (a window's quota, then its wait).
fn waiting_line(
    have: usize,
    count: usize,
    made: usize,
    elapsed: Duration,
    wait: Duration,
    what: &str,
) -> String {
    let head = format!(
        "{have}/{count} accounts, waiting {} for {what} quota",
        human(wait)
    );
    let cycle = (elapsed + wait).as_secs_f64();
    if made == 0 || cycle <= 0.0 {
        return format!("{head}: no estimate before the first account");
    }
    let per_s = made as f64 / cycle;
    let left = Duration::from_secs_f64((count.saturating_sub(have) as f64 / per_s).min(1e9));
    format!(
        "{head} ({:.1} per min so far): about {} left",
        per_s * 60.0,
        human(left)
    )
}

/// `41 s`, `21 min`, `17 h 5 min`.
fn human(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0..=99 => format!("{s} s"),
        100..=5_999 => format!("{} min", (s + 30) / 60),
        _ => {
            let m = (s + 30) / 60;
            format!("{} h {} min", m / 60, m % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_line_estimates_from_the_pace_so_far() {
        // 5 signups in 1 s, then a wait of 59 s: 5 per minute; 108 to go.
        let line = waiting_line(
            12,
            120,
            5,
            Duration::from_secs(1),
            Duration::from_secs(59),
            "signup",
        );
        assert_eq!(
            line,
            "12/120 accounts, waiting 59 s for signup quota (5.0 per min so far): about 22 min left"
        );
        // The README's 5000 at 5 a minute: most of a day, said so.
        let line = waiting_line(
            5,
            5000,
            5,
            Duration::ZERO,
            Duration::from_secs(60),
            "signup",
        );
        assert!(line.ends_with("about 16 h 39 min left"), "{line}");
        let line = waiting_line(0, 10, 0, Duration::ZERO, Duration::from_secs(60), "login");
        assert_eq!(
            line,
            "0/10 accounts, waiting 60 s for login quota: no estimate before the first account"
        );
        assert_eq!(human(Duration::from_secs(41)), "41 s");
        assert_eq!(human(Duration::from_secs(1296)), "22 min");
    }
}
