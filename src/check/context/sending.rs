//! Sending: every request is charged to its rate-limit bucket in the
//! ledger; outside rate-limit checks it is paced (it waits for room, and a
//! refusal is waited out and sent again), and the suite says on stderr what
//! it waits for. The smoothed round trip sizes the rate-limit checks' bursts.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::check::budget::BucketKey;
use crate::check::verdict::Verdict;
use crate::client::{ClientError, Exchange, Request};
use crate::contract::Endpoint;

use super::user::SignedIn;
use super::{Ctx, SCOPE};

impl Ctx {
    /// Sends. In a check that is not about rate limits the request is
    /// paced: it waits until the ledger says its bucket has room, and a
    /// refusal (in any form, `contract::refusal`) is waited out and the
    /// request sent again (at most three times): the suite never blames the
    /// server for its own traffic. Rate-limit checks send unpaced.
    pub(crate) async fn send(&self, req: &Request) -> Result<Exchange, Verdict> {
        self.send_retrying(req, SCOPE.try_with(|s| s.retry_refusals).unwrap_or(true))
            .await
    }

    /// Sends with `pace` as [`Ctx::send`] describes.
    pub(super) async fn send_retrying(
        &self,
        req: &Request,
        pace: bool,
    ) -> Result<Exchange, Verdict> {
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
    pub(crate) async fn send_paced(&self, req: &Request) -> Result<Exchange, Verdict> {
        self.send_retrying(req, true).await
    }

    /// Sends without pacing (rate-limit checks drive buckets on purpose),
    /// charging the request to its bucket all the same.
    pub(crate) async fn send_unpaced(&self, req: &Request) -> Result<Exchange, ClientError> {
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
    pub(crate) fn rtt(&self) -> Duration {
        Duration::from_micros(self.rtt_us.load(Ordering::Relaxed))
    }

    /// How many of `n` requests to keep in flight so that all of them are
    /// answered within an eighth of the window at the measured round trip
    /// (RL-6.2 fits three such phases and a margin in half a window): at
    /// least 8, at most 64.
    pub(crate) fn burst_width(&self, n: u32) -> usize {
        let eighth = self.window().as_secs_f64() / 8.0;
        let need = (f64::from(n) * self.rtt().as_secs_f64() / eighth).ceil();
        (need as usize).clamp(8, 64)
    }

    /// Waits until `n` more requests fit in the bucket.
    pub(crate) async fn wait_for_room(&self, key: &BucketKey, n: u32) {
        while let Some(w) = self.ledger.wait_for_room(key, n, Instant::now()) {
            self.announce(w.duration, &format!("{} quota: {}", key.endpoint, w.why));
            self.sleep(w.duration).await;
        }
    }

    /// Waits until `user`'s bucket of `endpoint` is idle (nothing of this
    /// run counted in it within a window), so a rate-limit check starts from
    /// a full allowance.
    pub(crate) async fn wait_idle(&self, user: &SignedIn, endpoint: Endpoint) {
        let key = BucketKey::of(&Request::to(endpoint).token(&user.creds), &self.limits);
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
}

/// The name of the endpoint a request is for (its path when it is none).
fn endpoint_of(req: &Request) -> String {
    Endpoint::from_path(&req.path)
        .map(|e| e.name().to_owned())
        .unwrap_or_else(|| req.path.clone())
}
