//! RL-3.2 and RL-7.2: the per-address buckets of login and signup. They
//! spend the address's quota, so they run last: RL-3.2 among the slow
//! checks, RL-7.2 after every other check that logs in.

use std::time::{Duration, Instant};

use crate::check::context::{Ctx, Spent};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Exchange, Request};
use crate::contract::Endpoint;

use super::counting::remaining_problem;
use super::helpers::{burst, too_slow_to_spend};
use super::sweep::sweep_size;

/// RL-7.2 with logins of a user who does not exist: counted (401) until
/// the address's bucket is spent, refused after; with a made-up
/// X-Forwarded-For still refused (a fresh bucket would answer 401 again).
/// No account is logged in, so nothing is rotated and no real account sees
/// failed logins; after RL-3.2 the bucket is already spent.
pub(super) async fn forwarded_for_ignored(cx: &Ctx) -> Result<Verdict, Verdict> {
    let Some(limit) = cx.limit(Endpoint::Login) else {
        return Err(Verdict::skip("the limits file sets no limit for login"));
    };
    let nobody = format!("{}@example.invalid", cx.unique("nobody"));
    let req = Request::login(&nobody, "not-the-password-1");
    let started = Instant::now();
    let mut counted = 0;
    let mut refusal = None;
    while refusal.is_none() && counted <= limit {
        let answers = burst(cx, limit + 3, |_| req.clone()).await?;
        counted += answers.iter().filter(|ex| ex.refusal().is_none()).count() as u32;
        refusal = answers.into_iter().find(|ex| ex.refusal().is_some());
    }
    if refusal.is_none() && started.elapsed() >= cx.window() {
        return Err(too_slow_to_spend(cx, counted, started));
    }
    let Some(refusal) = refusal else {
        // An observation, not an inability to test: the limit is not there.
        return Err(Verdict::fail(format!(
            "login was never refused: {counted} logins from one address within a window were all counted, none refused"
        ))
        .expected(format!(
            "a refusal after {limit} logins per window from one address (RL-4, RL-7)"
        ))
        .seen(format!("{counted} answered without a refusal"))
        .note("with no login limit there is no bucket whose key X-Forwarded-For could change"));
    };
    let forged = req
        .clone()
        .header("X-Forwarded-For", "203.0.113.77")
        .header("X-Real-IP", "203.0.113.77");
    let ex = cx
        .send_unpaced(&forged)
        .await
        .step("login with X-Forwarded-For")?;
    if ex.refusal().is_none() {
        return Err(Verdict::fail("X-Forwarded-For opened a fresh login bucket")
            .expected("still refused: the bucket is the socket's address")
            .seen(format!("{} (counted, not refused)", describe(&ex)))
            .note("anyone can bypass the login limit by sending a made-up X-Forwarded-For")
            .with(&refusal)
            .with(&ex));
    }
    Ok(Verdict::pass(format!(
        "refused after {counted} counted logins, and still refused with X-Forwarded-For"
    )))
}

/// RL-3 on the address buckets, with requests that are counted but change
/// nothing: logins of a user who does not exist (401; not a real account,
/// which a server may lock after failed logins) and signups of one new
/// e-mail (one creates the user, the others are 409 duplicates). It spends
/// the address's login and signup buckets, so it runs after every check
/// that logs in or signs up but RL-7.2 (which wants a spent login bucket):
/// last of the slow checks, whose windows have aged the suite's earlier
/// logins and signups by then; alone it may wait up to a window. The
/// counted answers of
/// each burst must show distinct Remaining values, steps of one, at most
/// Limit - 1, down to 0 where the refusals begin.
pub(super) async fn address_counts_down(cx: &Ctx) -> Result<Verdict, Verdict> {
    let mut plan = Vec::new();
    let mut notes = Vec::new();
    if let Some(l) = cx.limit(Endpoint::Login) {
        plan.push((Endpoint::Login, l));
    }
    match cx.limit(Endpoint::Signup) {
        Some(l) if cx.signup_allowed => plan.push((Endpoint::Signup, l)),
        Some(_) => notes.push("signup not looked at: --no-signup".to_owned()),
        None => {}
    }
    if plan.is_empty() {
        return Err(Verdict::skip(
            "the limits file sets no limit for login or signup",
        ));
    }
    for (e, limit) in &plan {
        wait_quiet(cx, *e, *limit).await;
    }
    let nobody = format!("{}@example.invalid", cx.unique("nobody"));
    let (email, pwd) = cx.new_identity();
    let mut spent = Vec::new();
    for (e, limit) in &plan {
        let req = match e {
            Endpoint::Signup => Request::signup(&email, &pwd, "Rate Probe"),
            _ => Request::login(&nobody, "not-the-password-1"),
        };
        let n = sweep_size(*limit);
        let started = Instant::now();
        let answers = burst(cx, n, |_| req.clone())
            .await
            .step(&format!("spending the address's {e} bucket"))?;
        let too_slow =
            (started.elapsed() >= cx.window()).then(|| too_slow_to_spend(cx, n, started));
        spent.push(Spent {
            endpoint: *e,
            limit: *limit,
            answers,
            too_slow,
        });
    }
    let mut fails: Vec<(Endpoint, Verdict)> = Vec::new();
    let mut slow = None;
    for s in &spent {
        if let Some(v) = &s.too_slow {
            slow.get_or_insert_with(|| v.clone().context(s.endpoint.name()));
            continue;
        }
        if let Some(v) = address_problem(s) {
            fails.push((s.endpoint, v));
        }
    }
    if let Some((e, v)) = fails.first() {
        let mut out = v.clone().context(e.name()).notes(notes);
        if let Some((e2, v2)) = fails.get(1) {
            out = out
                .note(format!("{e2}: {}", v2.message))
                .with_all(&v2.evidence);
        }
        return Err(out);
    }
    if let Some(v) = slow {
        return Err(v.notes(notes));
    }
    Ok(Verdict::pass(format!(
        "Remaining fell by one per counted request on {}",
        spent
            .iter()
            .map(|s| format!(
                "{} ({} counted, {})",
                s.endpoint,
                s.counted().count(),
                statuses(&s.answers)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .notes(notes))
}

/// The statuses of a burst, counted: `401 x10, 429 x5`.
pub(super) fn statuses(answers: &[Exchange]) -> String {
    let mut by: std::collections::BTreeMap<u16, usize> = std::collections::BTreeMap::new();
    for ex in answers {
        *by.entry(ex.status).or_default() += 1;
    }
    by.iter()
        .map(|(s, n)| format!("{s} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What is wrong with the counting of one address burst.
pub(super) fn address_problem(s: &Spent) -> Option<Verdict> {
    if s.counted().next().is_none() {
        return Some(
            Verdict::fail(
                "every request was refused, though the suite's own requests had aged out",
            )
            .expected(format!(
                "up to {} counted before the first refusal",
                s.limit
            ))
            .seen(statuses(&s.answers))
            .with_all(s.answers.first()),
        );
    }
    if let Some(v) = remaining_problem(s, false) {
        return Some(v.note("a request is counted when it reaches the limiter, whatever its final status (401, 409)"));
    }
    let lowest = s
        .counted()
        .filter_map(|ex| ex.rate_limit().remaining.value())
        .min();
    match (s.first_refusal(), lowest) {
        (Some(r), Some(low)) if low > 0 => Some(
            Verdict::fail(format!(
                "refused while the counted answers still showed Remaining {low}"
            ))
            .expected("Remaining down to 0 before the first refusal")
            .seen(format!("lowest Remaining {low}; {}", statuses(&s.answers)))
            .with(r),
        ),
        _ => None,
    }
}

/// Waits until the address's bucket of `e` has room for a request and none
/// of the suite's own requests in it ages out during the next burst (an
/// ageing request would free a unit mid-burst and repeat a Remaining
/// value). Cheaper than an idle bucket: at a 60 s window the suite's recent
/// logins and signups age long after the burst, so nothing is waited for
/// (the burst then judges the room that is left, however small).
pub(super) async fn wait_quiet(cx: &Ctx, e: Endpoint, limit: u32) {
    let Some(key) = crate::check::budget::BucketKey::of(&Request::to(e), &cx.limits) else {
        return;
    };
    // The burst and a margin: a few round trips of a burst of the limit.
    let horizon = Duration::from_millis(500)
        + cx.rtt() * (sweep_size(limit) / cx.burst_width(sweep_size(limit)) as u32 + 2) * 2;
    let want = 1.min(limit);
    let give_up = Instant::now() + cx.window() * 2;
    while Instant::now() < give_up {
        let now = Instant::now();
        let room = (0..=limit)
            .take_while(|n| *n == 0 || cx.ledger.wait_for_room(&key, *n, now).is_none())
            .last()
            .unwrap_or(0);
        let next = if room >= limit {
            None
        } else {
            cx.ledger
                .wait_for_room(&key, room + 1, now)
                .map(|w| w.duration)
        };
        match next {
            Some(d) if room < want || d <= horizon => {
                cx.sleep(d + Duration::from_millis(50)).await;
            }
            _ => return,
        }
    }
}
