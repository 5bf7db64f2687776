//! Measuring one endpoint: the timeline of `window.rs` on its main lane
//! (with isolation, X-Forwarded-For and the refusal along the way),
//! atomicity on an untouched bucket, and at the end of the run the login
//! probe: does a login empty a user's exhausted buckets?

use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::config::{slack, LimitsConfig};
use super::judge::{
    disturbed, judge_atomicity, judge_limit, judge_refusal, judge_remaining, judge_reset,
};
use super::plan::ProbePlan;
use super::probe::{burst, client_from, concurrent, Concurrent, Lane, Pairs, Sample, Sent};
use super::report::{Atomicity, EndpointReport, Finding, Status};
use super::window::{classify, Phases, WindowKind};
use crate::client::ClientConfig;
use crate::contract::Endpoint;

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// Runs atomicity on `lane` once its bucket has been idle for a window (when
/// `waits`), so that only the burst counts.
async fn atomicity_run(lane: &Lane, waits: bool, window: Duration, n: u32) -> (Concurrent, u32) {
    if waits {
        let idle = window + slack(window);
        // Bounded: the ledger only moves forward while the run lasts.
        for _ in 0..10 {
            match lane.pairs.last_spent(lane.bucket(), lane.endpoint) {
                Some(last) if last.elapsed() < idle => sleep_until(last + idle).await,
                _ => break,
            }
        }
    }
    concurrent(lane, n).await
}

/// Measures one endpoint: the timeline of `window.rs` on the main lane and
/// atomicity (at once on an untouched bucket, or after the timeline once the
/// isolation user's bucket has been idle for a window). Hands back the
/// atomicity lane of a user endpoint for the login probe at the end.
pub(crate) async fn measure(plan: ProbePlan, window: Duration) -> (EndpointReport, Option<Lane>) {
    let n = plan.expected + (plan.expected / 4).max(5);
    let atomic = async {
        match &plan.atomic {
            Ok(l) => Ok(atomicity_run(l, plan.atomic_waits, window, n).await),
            Err(why) => Err(why.clone()),
        }
    };
    let (mut r, run) = if plan.atomic_waits {
        let r = timeline(&plan, window).await;
        (r, atomic.await)
    } else {
        tokio::join!(timeline(&plan, window), atomic)
    };
    r.atomicity = judge_atomicity(run, r.observed.unwrap_or(plan.expected));
    r.settle();
    let lane = if plan.endpoint.requires_auth() {
        plan.atomic.ok()
    } else {
        None
    };
    (r, lane)
}

/// The main lane's timeline, isolation, X-Forwarded-For and the refusal.
async fn timeline(plan: &ProbePlan, window: Duration) -> EndpointReport {
    tokio::time::sleep(plan.start_delay).await;
    let expected = plan.expected;
    let lane = &plan.main;
    let mut t0 = Instant::now();
    let half = expected.div_ceil(2);
    let mut p1 = burst(lane, half).await;
    // Never blame the server for traffic that is not this run's: when the
    // first answer shows requests counted before it in this window (an
    // earlier run, a `call` a minute ago), wait until all of them, and this
    // burst, have aged out, and start again from an idle bucket.
    let first_remaining = p1
        .samples
        .first()
        .filter(|s| !s.refused)
        .and_then(|s| s.rate.with_body_values().remaining.value());
    if let Some(r) = first_remaining.filter(|r| r + 1 < u64::from(expected)) {
        if plan.progress {
            eprintln!(
                "limits: {} as {}: Remaining {r} after the first request, not {}: waiting {} s for requests counted before this run to age out",
                plan.endpoint,
                lane.who,
                expected - 1,
                window.as_secs() + 1
            );
        }
        sleep_until(Instant::now() + window + Duration::from_secs(1)).await;
        t0 = Instant::now();
        p1 = burst(lane, half).await;
    }

    sleep_until(t0 + window / 2).await;
    let p2 = burst(lane, 2 * expected + 5).await;
    let rose_between = match (
        p1.samples.last().and_then(|s| s.rate.remaining.value()),
        p2.samples.first().and_then(|s| s.rate.remaining.value()),
    ) {
        (Some(from), Some(to)) if to > from => Some((from, to)),
        _ => None,
    };
    // After a reset between the phases only phase two counts toward the limit.
    let enforced = (p2.refusal.is_some() && p1.clean()).then_some(if rose_between.is_some() {
        p2.accepted
    } else {
        p1.accepted + p2.accepted
    });

    let refusal = judge_refusal(plan, &p2).await;
    let isolation = match &plan.isolation {
        Err(why) => Finding::skip(why.clone()),
        Ok(l) if p2.refusal.is_some() => {
            let b = burst(l, 1).await;
            match (b.accepted, b.samples.first()) {
                (1, Some(s)) => Finding::ok(format!(
                    "with {}'s bucket exhausted, {} was accepted (Remaining {})",
                    lane.who,
                    l.who,
                    s.rate.remaining.describe()
                )),
                (_, Some(s)) if s.refused => Finding::fail(format!(
                    "with {}'s bucket exhausted, {} was refused too: the bucket is shared, not per {}",
                    lane.who,
                    l.who,
                    if plan.endpoint.requires_auth() { "user" } else { "client address" }
                )),
                _ => disturbed(&[&b]).unwrap_or_else(|| Finding::error("no answer")),
            }
        }
        Ok(_) => Finding::skip("the bucket was never exhausted"),
    };
    let forwarded_for = if !plan.forwarded_for {
        None
    } else if p2.refusal.is_none() {
        Some(Finding::skip("the bucket was never exhausted"))
    } else {
        let (sent, _) = lane
            .send_next(|r| r.header("X-Forwarded-For", "198.51.100.7"))
            .await;
        Some(match sent {
            Sent::Answer(ex) if ex.is_success() => Finding::fail(
                "with the bucket exhausted, the same client sending X-Forwarded-For: 198.51.100.7 was accepted: a client-chosen header opens a fresh bucket, so anyone can bypass the limit",
            ),
            Sent::Answer(ex) if Sample::of(&ex).refused => {
                Finding::ok("a client-supplied X-Forwarded-For did not open a fresh bucket")
            }
            Sent::Answer(ex) => Finding::fail(format!(
                "the X-Forwarded-For probe got HTTP {}, neither accepted nor refused",
                ex.status
            )),
            Sent::Revoked(w) => Finding::skip(format!("not evaluated: {w}")),
            Sent::Transport(e) => Finding::error(format!("the X-Forwarded-For probe failed: {e}")),
        })
    };

    let slack = slack(window);
    sleep_until(t0 + window + slack + p1.elapsed).await;
    let p3 = burst(lane, enforced.unwrap_or(expected).max(1)).await;
    let p4 = if p3.accepted == 0 && p3.clean() && enforced.is_some() {
        sleep_until(t0 + window * 3 / 2 + p2.elapsed + slack).await;
        Some(burst(lane, enforced.unwrap_or(expected)).await)
    } else {
        None
    };

    let mut r = EndpointReport {
        endpoint: plan.endpoint,
        keyed_by: if plan.endpoint.requires_auth() {
            "user"
        } else {
            "client address"
        }
        .into(),
        expected,
        observed: enforced,
        header_limit: p1.samples.first().and_then(|s| s.rate.limit.value()),
        limit: judge_limit(expected, enforced, &p1, &p2),
        remaining: judge_remaining(&p1, &p2),
        reset_form: String::new(),
        reset: Finding::ok(""),
        refusal,
        window: None,
        window_finding: Finding::skip(""),
        isolation,
        forwarded_for,
        atomicity: Atomicity {
            run: None,
            finding: Finding::skip("not run"),
        },
        verdict: String::new(),
    };
    let (form, reset) = judge_reset(window.as_secs(), [&p1, &p2, &p3]);
    r.reset_form = form;
    r.reset = reset;
    let mut phases = vec![&p1, &p2, &p3];
    phases.extend(p4.as_ref());
    if let Some(f) = disturbed(&phases) {
        r.window_finding = match f.status {
            Status::Fail => Finding::fail(format!(
                "a valid request of the probe was answered outside the contract: {}",
                f.detail
            )),
            Status::Error => Finding::error(format!("the probe was disturbed: {}", f.detail)),
            _ => f,
        };
    } else if enforced.is_none() {
        r.window_finding = Finding::skip("no refusal was seen, so there is no window to observe");
    } else {
        let v = classify(Phases {
            first: p1.accepted,
            first_sent: half,
            second: p2.accepted,
            third: p3.accepted,
            third_capped: p3.refusal.is_none(),
            fourth: p4.as_ref().map(|b| b.accepted),
            rose_between,
        });
        r.window_finding = match v.kind {
            WindowKind::Sliding => Finding::ok(format!("sliding: {}", v.evidence)),
            WindowKind::Unknown => Finding::fail(format!(
                "the accepted counts fit no window kind, so not the sliding window RL-6 requires: {}",
                v.evidence
            )),
            k => Finding::fail(format!(
                "{} window, not sliding (RL-6: a client under 60% of the limit can still be refused): {}",
                k.as_str(),
                v.evidence
            )),
        };
        r.window = Some(v);
    }
    r
}

/// Whether a login empties a user's buckets (RL-6): each lane's bucket is
/// exhausted (a refusal seen), the user logs in once, and one request per
/// endpoint follows: accepted means the login emptied the bucket.
pub(crate) async fn login_empties(
    base: &ClientConfig,
    pairs: &Pairs,
    lanes: Vec<Lane>,
    user: &(String, String),
    from: Option<IpAddr>,
    window: Duration,
    config: &LimitsConfig,
) -> Vec<(Endpoint, Finding)> {
    if lanes.is_empty() {
        return Vec::new();
    }
    let exhausted = futures::future::join_all(lanes.iter().map(|l| {
        let max = 2 * config.expect.limit(l.endpoint).unwrap_or(1) + 5;
        burst(l, max)
    }))
    .await;
    let client = match client_from(base, from) {
        Ok(c) => c,
        Err(e) => {
            return lanes
                .iter()
                .map(|l| {
                    (
                        l.endpoint,
                        Finding::error(format!("cannot build a client for the login: {e}")),
                    )
                })
                .collect()
        }
    };
    let address = from.map_or("this machine's address".into(), |a| format!("address {a}"));
    // Paced on refusals: the login bucket of this address may be spent.
    let mut login = Err("no attempt".to_owned());
    for _ in 0..3 {
        match pairs.login(&client, &address, &user.0, &user.1).await {
            Ok(ex) if ex.is_success() => {
                login = Ok(());
                break;
            }
            Ok(ex) => match ex.refusal() {
                Some(r) => {
                    let w = Duration::from_secs(r.wait_seconds(window.as_secs()).max(1));
                    if config.progress {
                        eprintln!(
                            "limits: login refused ({}), waiting {} s",
                            r.describe(),
                            w.as_secs()
                        );
                    }
                    login = Err(format!("login refused: {}", r.describe()));
                    tokio::time::sleep(w).await;
                }
                None => {
                    login = Err(format!("login as {} answered HTTP {}", user.0, ex.status));
                    break;
                }
            },
            Err(e) => {
                login = Err(format!("login as {}: {e}", user.0));
                break;
            }
        }
    }
    let mut out = Vec::new();
    for (l, b) in lanes.iter().zip(exhausted) {
        let f = if let Some(f) = disturbed(&[&b]) {
            f
        } else if b.refusal.is_none() {
            Finding::skip(format!(
                "{}'s bucket was never refused, so a login cannot be seen emptying it",
                l.who
            ))
        } else if let Err(e) = &login {
            if e.starts_with("login refused") {
                Finding::error(format!("could not log in to test it: {e}"))
            } else {
                Finding::fail(format!("a valid login was not accepted: {e}"))
            }
        } else {
            let after = burst(l, 1).await;
            match (after.accepted, &after.refusal) {
                (1, _) => Finding::fail(format!(
                    "emptied-by-login: with {}'s bucket exhausted (refused just before), a login of {} made the next request accepted (Remaining {}): every login resets the count (RL-6)",
                    l.who,
                    user.0,
                    after.samples.first().map(|s| s.rate.remaining.describe()).unwrap_or_default()
                )),
                (_, Some(_)) => Finding::ok(format!("a login of {} left the exhausted bucket as it was", user.0)),
                _ => disturbed(&[&after]).unwrap_or_else(|| Finding::error("no answer")),
            }
        };
        out.push((l.endpoint, f));
    }
    out
}
