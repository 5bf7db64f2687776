//! Users of a check's own: fresh ones from the pool of accounts or signed
//! up, and, when neither is possible, one of the shared three lent in turn.

use std::sync::atomic::Ordering;

use crate::check::verdict::{StepContext, Verdict};
use crate::client::{Credentials, Request};
use crate::contract::wire::LoginResult;
use crate::contract::Endpoint;

use super::user::SignedIn;
use super::{signup_identity, Ctx};

impl Ctx {
    /// One fresh user; with `needs_password`, one the check may log in as.
    pub(crate) async fn fresh_user(&self, needs_password: bool) -> Result<SignedIn, Verdict> {
        let account = self.pool.lock().ok().and_then(|mut pool| {
            let at = pool
                .iter()
                .position(|a| !needs_password || a.password.is_some())?;
            pool.remove(at)
        });
        if let Some(account) = account {
            let user = match account.credentials() {
                Some(creds) => SignedIn {
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
            let user = SignedIn {
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
    async fn lend_shared(&self, needs_password: bool) -> Result<SignedIn, Verdict> {
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
    async fn log_in(&self, email: &str, pwd: String, what: &str) -> Result<SignedIn, Verdict> {
        let ex = self
            .send_retrying(&Request::login(email, &pwd), true)
            .await
            .step(what)?;
        let r: LoginResult = ex.decode().map_err(Verdict::from).step(what)?;
        Ok(SignedIn {
            email: email.to_owned(),
            password: Some(pwd),
            creds: Credentials::from(&r),
        })
    }
}
