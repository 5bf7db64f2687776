//! RL-3.1, RL-7.1 and RL-8.1: how requests are counted: Remaining falls by
//! one per counted request, one user's requests leave another's bucket
//! alone, and concurrent requests are counted atomically.

use std::collections::BTreeSet;

use crate::check::context::{Ctx, Spent};
use crate::check::verdict::{describe, StepContext, Verdict};
use crate::client::{Exchange, Request};

use super::headers::headers_problem;
use super::helpers::read_endpoint;
use super::sweep::{exhausted, judge_each};

/// RL-3 on the sweep: the counted answers of each endpoint (everything
/// but the limiter's refusals) show every Remaining from Limit - 1 down,
/// each once: concurrent requests are counted in some order, but the k-th
/// counted shows Limit - k whichever it is. A user this run did not sign up
/// may have been spent before: its values must still be distinct, steps of
/// one, below the limit.
pub(super) async fn remaining_counts_down(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = match exhausted(cx).await {
        Ok(x) => x,
        Err(v) if v.kind == crate::check::verdict::VerdictKind::Skip => {
            return remaining_counts_down_serial(cx).await.map(|v| {
                v.note("no user of its own for the four endpoints: five get_chats of a shared user, one at a time")
            })
        }
        Err(v) => return Err(v),
    };
    judge_each(
        &x,
        true,
        |s| remaining_problem(s, x.exact),
        || {
            format!(
                "Remaining counted down by one from Limit - 1 on {}",
                x.spent
                    .iter()
                    .map(|s| format!("{} ({} counted)", s.endpoint, s.counted().count()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    )
}

/// What is wrong with the Remaining values of one endpoint's counted answers.
pub(super) fn remaining_problem(s: &Spent, exact: bool) -> Option<Verdict> {
    let limit = u64::from(s.limit);
    let mut values: Vec<(u64, &Exchange)> = Vec::new();
    for ex in s.counted() {
        match ex.rate_limit().remaining.value() {
            Some(r) => values.push((r, ex)),
            None => {
                return Some(
                    Verdict::fail("a counted answer has no valid X-RateLimit-Remaining")
                        .expected("a non-negative integer")
                        .seen(format!(
                            "{} ({})",
                            ex.rate_limit().remaining.describe(),
                            describe(ex)
                        ))
                        .with(ex),
                )
            }
        }
    }
    values.sort_by_key(|v| std::cmp::Reverse(v.0));
    let first = match values.first() {
        Some(_) if exact => limit.saturating_sub(1),
        Some((r, _)) => *r,
        None => return None,
    };
    let c = values.len();
    for (k, (r, ex)) in values.iter().enumerate() {
        let due = first.saturating_sub(k as u64);
        if *r > limit.saturating_sub(1) || *r != due {
            let dups = c - values.iter().map(|(r, _)| r).collect::<BTreeSet<_>>().len();
            return Some(
                Verdict::fail(format!(
                    "the Remaining values of {c} counted answers do not fall by one each"
                ))
                .expected(if exact {
                    format!(
                        "each of {} down to {} once (Limit {limit} - k after the k-th)",
                        limit.saturating_sub(1),
                        limit.saturating_sub(c as u64)
                    )
                } else {
                    format!(
                        "distinct values, steps of one, at most {}",
                        limit.saturating_sub(1)
                    )
                })
                .seen(format!(
                    "{r} where {} was due (highest {}, lowest {}, {dups} repeated)",
                    if *r > limit.saturating_sub(1) {
                        format!("at most {}", limit.saturating_sub(1))
                    } else {
                        due.to_string()
                    },
                    values.first().map(|v| v.0).unwrap_or_default(),
                    values.last().map(|v| v.0).unwrap_or_default()
                ))
                .with(ex),
            );
        }
    }
    None
}

/// RL-3 without users of its own: five requests of a shared user, one at
/// a time.
pub(super) async fn remaining_counts_down_serial(cx: &Ctx) -> Result<Verdict, Verdict> {
    let (endpoint, limit) = read_endpoint(cx)?;
    // A user signed up by this run starts from a full bucket, so Remaining
    // must be exactly Limit - k. Any other user (an account an earlier run
    // may have spent in this window) must be at most Limit - k and fall by
    // exactly one.
    let u = match cx.fresh_user(false).await {
        Ok(u) => u,
        Err(_) => cx.a.clone(),
    };
    let fresh = cx.is_new(&u);
    cx.wait_idle(&u, endpoint).await;
    let mut seen: Vec<u64> = Vec::new();
    let mut evidence = Vec::new();
    for k in 1..=5u64 {
        let ex = cx
            .send_unpaced(&Request::to(endpoint).token(&u.creds))
            .await
            .step("sending")?;
        if !ex.is_success() {
            return Err(
                Verdict::error(format!("a counted request answered {}", describe(&ex))).with(&ex),
            );
        }
        let Some(r) = ex.rate_limit().remaining.value() else {
            return Err(
                headers_problem(&ex, "Remaining").unwrap_or_else(|| Verdict::fail("no Remaining"))
            );
        };
        let expected = if fresh {
            Some(u64::from(limit).saturating_sub(k))
        } else {
            seen.last().map(|p| p.saturating_sub(1))
        };
        let ceiling = u64::from(limit).saturating_sub(k);
        if r > ceiling || expected.is_some_and(|e| e != r) {
            evidence.push(ex);
            return Err(Verdict::fail(format!(
                "Remaining after the {k}th counted request is wrong"
            ))
            .expected(match expected {
                Some(e) => format!("{e}"),
                None => format!("at most {ceiling} (Limit {limit} - {k})"),
            })
            .seen(format!("{r} (sequence so far {seen:?})"))
            .with_all(&evidence));
        }
        seen.push(r);
        if evidence.len() < 3 {
            evidence.push(ex);
        }
    }
    let v = Verdict::pass(format!("Remaining went {seen:?}"));
    Ok(if fresh {
        v
    } else {
        v.note("an account this run did not create: Remaining was held to at most Limit - k and steps of one (an earlier run may have spent some)")
    })
}

/// RL-7.1 on the sweep: the other user's one request per endpoint after
/// the sweep's user spent that bucket is accepted, and its Remaining shows
/// only its own two requests (or more room, as earlier ones aged out).
pub(super) async fn per_user_buckets(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let others = x.other.clone()?;
    let mut fails = Vec::new();
    let mut evidence = Vec::new();
    let mut judged = Vec::new();
    let mut unspent = Vec::new();
    for o in &others {
        let spent = x.get(o.endpoint);
        if spent.is_some_and(|s| s.first_refusal().is_none()) {
            // Not exhausted: RL-4.1's finding, nothing to say about B.
            unspent.push(o.endpoint.name());
            continue;
        }
        let limit = u64::from(cx.limit(o.endpoint).unwrap_or_default());
        let remaining = |ex: &Exchange| ex.rate_limit().with_body_values().remaining.value();
        let (Some(first), Some(last)) = (o.before.first(), o.before.last()) else {
            continue;
        };
        // The step of one of its own requests (one on a conforming server;
        // RL-3 judges it): after the sweep, Remaining is at most one such
        // step lower (higher when its earlier requests aged out).
        let r0 = remaining(last);
        let step = match (remaining(first), r0) {
            (Some(a), Some(b)) if a > b => a - b,
            _ => 1,
        };
        let rem = o.after.rate_limit().with_body_values().remaining;
        let floor = r0.map(|r| r.saturating_sub(step));
        judged.push(o.endpoint.name());
        // Refused or not is the question: a 403 or 417 also reached the
        // limiter, and other checks judge its status.
        let holds = o.before.iter().all(|ex| ex.refusal().is_none())
            && o.after.refusal().is_none()
            && match (floor, rem.value()) {
                (Some(f), Some(r)) => r >= f && r < limit,
                _ => true,
            };
        if !holds {
            fails.push(format!(
                "{}: {}, Remaining {} (before: {}, Remaining {})",
                o.endpoint,
                describe(&o.after),
                rem.describe(),
                describe(last),
                r0.map_or("?".to_owned(), |r| r.to_string())
            ));
            evidence.push(last.clone());
            evidence.push(o.after.clone());
            if let Some(r) = spent.and_then(|s| s.first_refusal()) {
                evidence.push(r.clone());
            }
        }
    }
    if !fails.is_empty() {
        return Err(Verdict::fail(
            "another user's bucket was touched by the first user's requests",
        )
        .expected("not refused, Remaining at most one of its own steps below what it was before (only its own request counted)")
        .seen(fails.join("; "))
        .with_all(&evidence));
    }
    if judged.is_empty() {
        // A bucket that was never refused leaves nothing to compare B's
        // with: the finding is RL-4.1's (no refusal over the limit).
        return Err(Verdict::skip(format!(
            "not evaluated: the first user's buckets were never refused ({}), so there is no exhausted quota to compare the other user's with (RL-4.1 reports it)",
            unspent.join(", ")
        )));
    }
    let mut v = Verdict::pass(format!(
        "the other user's buckets of {} lost only its own requests while the first user's were exhausted",
        judged.join(", ")
    ));
    if !unspent.is_empty() {
        v = v.note(format!(
            "not judged on {}: the first user's bucket was never refused (RL-4.1)",
            unspent.join(", ")
        ));
    }
    Ok(v)
}

/// RL-8.1 on the sweep: each endpoint's burst (more than the limit, many
/// in flight at once) is accepted exactly `limit` times, and every other
/// answer is a refusal (a 500 where a request raced another is not).
pub(super) async fn atomic_counting(cx: &Ctx) -> Result<Verdict, Verdict> {
    let x = exhausted(cx).await?;
    let sizes: Vec<String> = x
        .spent
        .iter()
        .map(|s| format!("{} {} at once", s.answers.len(), s.endpoint))
        .collect();
    judge_each(
        &x,
        true,
        |s| {
            let limit = s.limit;
            let accepted = s.accepted();
            let n = s.answers.len() as u32;
            if let Some(bad) = s
                .answers
                .iter()
                .find(|ex| !ex.is_success() && ex.refusal().is_none())
            {
                return Some(
                    Verdict::fail(format!(
                        "{n} requests at once: one answered {} (neither accepted nor refused)",
                        bad.status
                    ))
                    .expected(format!("{limit} accepted, the rest refused"))
                    .seen(format!("{accepted} accepted; {}", describe(bad)))
                    .note("concurrent requests of one bucket break the server")
                    .with(bad),
                );
            }
            if accepted > limit || (x.exact && accepted != limit) {
                return Some(
                    Verdict::fail(format!("{n} requests at once: {accepted} accepted"))
                        .expected(if x.exact {
                            format!("exactly {limit}")
                        } else {
                            format!("at most {limit}")
                        })
                        .seen(format!("{accepted} accepted, {} refused", n - accepted))
                        .note(if accepted > limit {
                            "the counter is not atomic: concurrent requests slipped past the limit"
                        } else {
                            "fewer than the limit accepted"
                        })
                        .with_all(s.first_refusal()),
                );
            }
            None
        },
        || {
            format!(
                "{} the limit accepted of {}",
                if x.exact { "exactly" } else { "no more than" },
                sizes.join(", ")
            )
        },
    )
}
