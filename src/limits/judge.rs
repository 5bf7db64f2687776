//! Judging what the probes saw: each aspect of an endpoint (limit,
//! Remaining, Reset, the refusal, atomicity, the login probe) becomes a
//! [`Finding`] from the bursts of `probe`, with what was seen in words.

use super::plan::ProbePlan;
use super::probe::{refused_had_effect, Burst, Concurrent, Sample};
use super::report::{Atomicity, EndpointReport, Finding, RefusalReport, Status};
use super::window::WindowKind;
use crate::contract::ratelimit::{Field, ResetForm};
use crate::contract::refusal;

/// Why a burst says nothing about the limit, as the finding it is: an
/// unexpected answer is a failure with what was seen, a revoked pair is the
/// tokens finding's, a transport error could not be observed.
pub(crate) fn disturbed(bursts: &[&Burst]) -> Option<Finding> {
    for b in bursts {
        if let Some(u) = b.unexpected.first() {
            return Some(Finding::fail(u.clone()));
        }
    }
    for b in bursts {
        if b.revoked.is_some() {
            return Some(Finding::skip(
                "not evaluated: the server revoked the pair the probe held (see tokens)",
            ));
        }
        if let Some(e) = b.errors.first() {
            return Some(Finding::error(e.clone()));
        }
    }
    None
}

fn lookalike_note(b: &Burst) -> String {
    b.samples
        .iter()
        .flat_map(|s| s.rate.lookalikes.iter())
        .next()
        .map(|l| {
            format!(
                " (the server sent {} in {} instead)",
                l.expected, l.found_in
            )
        })
        .unwrap_or_default()
}

pub(crate) fn judge_limit(expected: u32, enforced: Option<u32>, p1: &Burst, p2: &Burst) -> Finding {
    let header = p1
        .samples
        .first()
        .map(|s| s.rate.limit.clone())
        .unwrap_or(Field::Missing);
    if let Some(f) = disturbed(&[p1, p2]) {
        return f;
    }
    let Some(observed) = enforced else {
        return Finding::fail(format!(
            "no refusal after {} requests: the limit of {expected} is not enforced (or is higher)",
            p1.accepted + p2.accepted
        ));
    };
    let mut problems = Vec::new();
    if observed != expected {
        problems.push(format!(
            "{observed} accepted before the first refusal, expected {expected}"
        ));
    }
    match header {
        Field::Value(h) if h == expected as u64 => {}
        Field::Value(h) => problems.push(format!(
            "X-RateLimit-Limit announces {h}, expected {expected}"
        )),
        other => problems.push(format!(
            "X-RateLimit-Limit is {}{}",
            other.describe(),
            lookalike_note(p1)
        )),
    }
    if problems.is_empty() {
        Finding::ok(format!(
            "{observed} accepted before the first refusal, as expected and announced"
        ))
    } else {
        Finding::fail(problems.join("; "))
    }
}

pub(crate) fn judge_remaining(p1: &Burst, p2: &Burst) -> Finding {
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (phase, b) in [(1, p1), (2, p2)] {
        let accepted: Vec<&Sample> = b
            .samples
            .iter()
            .filter(|s| !s.refused && s.status < 400)
            .collect();
        let mut prev: Option<u64> = None;
        for s in accepted {
            let Some(r) = s.rate.remaining.value() else {
                problems.push(format!(
                    "X-RateLimit-Remaining is {}{}",
                    s.rate.remaining.describe(),
                    lookalike_note(b)
                ));
                break;
            };
            if let (Some(l), true) = (s.rate.limit.value(), true) {
                if r > l {
                    problems.push(format!("Remaining {r} exceeds Limit {l}"));
                }
            }
            if let Some(p) = prev {
                if r + 1 != p {
                    problems.push(format!(
                        "in phase {phase}, Remaining went from {p} to {r} on one request"
                    ));
                    break;
                }
            }
            prev = Some(r);
            seen.push(r);
        }
        if !problems.is_empty() {
            break;
        }
    }
    match (problems.first(), seen.first(), seen.last()) {
        (Some(_), ..) => Finding::fail(problems.join("; ")),
        (None, Some(first), Some(last)) => {
            Finding::ok(format!("fell by one per request, from {first} to {last}"))
        }
        _ => Finding::skip("no accepted request to read"),
    }
}

pub(crate) fn judge_reset(window: u64, bursts: [&Burst; 3]) -> (String, Finding) {
    let mut forms = std::collections::BTreeSet::new();
    let mut bad = None;
    for s in bursts.iter().flat_map(|b| b.samples.iter()) {
        match s.rate.reset_form(window) {
            None => {
                forms.insert("missing");
                bad.get_or_insert(format!("X-RateLimit-Reset is {}", s.rate.reset.describe()));
            }
            Some(ResetForm::Delta { .. }) => {
                forms.insert("delta");
            }
            Some(ResetForm::Epoch { .. }) => {
                forms.insert("epoch");
            }
            Some(ResetForm::Inconsistent { reason, .. }) => {
                forms.insert("inconsistent");
                bad.get_or_insert(format!("X-RateLimit-Reset is inconsistent: {reason}"));
            }
        }
    }
    let form = match forms.len() {
        0 => "none seen".to_owned(),
        1 => forms
            .iter()
            .next()
            .map(|s| s.to_string())
            .unwrap_or_default(),
        _ => format!(
            "mixed ({})",
            forms.into_iter().collect::<Vec<_>>().join(", ")
        ),
    };
    let finding = match bad {
        Some(b) => Finding::fail(b),
        None => Finding::ok(format!(
            "{form}, consistent with Date and the {window} s window"
        )),
    };
    (form, finding)
}

pub(crate) async fn judge_refusal(plan: &ProbePlan, p2: &Burst) -> RefusalReport {
    let Some((sample, exchange, tag)) = &p2.refusal else {
        return RefusalReport {
            status: None,
            retry_after: None,
            remaining_zero: false,
            values_in: None,
            form: None,
            had_effect: None,
            curl: None,
            finding: Finding::skip("no refusal was seen"),
        };
    };
    // The classifier's reading: the body's values stand in for headers.
    let form = exchange.refusal();
    let rate = form
        .as_ref()
        .map(|f| f.rate.clone())
        .unwrap_or_else(|| sample.rate.clone());
    let values_in = form.as_ref().map(|f| f.values_in);
    let had_effect = refused_had_effect(&plan.main, &plan.observer, tag).await;
    let mut fails = Vec::new();
    let mut warns = Vec::new();
    if rate.remaining != Field::Value(0) {
        fails.push(format!(
            "the refusal carried Remaining {}, not 0",
            rate.remaining.describe()
        ));
    }
    match values_in {
        Some(refusal::ValuesIn::Headers)
            if sample.rate.limit.is_missing() || sample.rate.reset.is_missing() =>
        {
            fails.push("the refusal lacks some X-RateLimit headers".to_owned())
        }
        Some(refusal::ValuesIn::Body) => fails.push(
            "the refusal carries the rate-limit values only in the JSON body, not as X-RateLimit headers".to_owned(),
        ),
        Some(refusal::ValuesIn::Nowhere) | None => {
            fails.push("the refusal carries no rate-limit values".to_owned())
        }
        _ => {}
    }
    if let Ok(Some(true)) = had_effect {
        fails.push(format!("the refused {} took effect anyway", plan.endpoint));
    }
    if sample.status != 429 {
        warns.push(format!("refused with {} instead of 429", sample.status));
    }
    if rate.retry_after.value().is_none() {
        warns.push("no Retry-After".to_owned());
    }
    let described = form.as_ref().map(|f| f.describe());
    let finding = if !fails.is_empty() {
        Finding::fail(
            fails
                .into_iter()
                .chain(warns)
                .chain(described.clone().map(|d| format!("the refusal: {d}")))
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else if let Err(e) = &had_effect {
        Finding::error(format!("could not check the refusal had no effect: {e}"))
    } else if !warns.is_empty() {
        Finding::new(
            Status::Warn,
            format!(
                "{}; the refusal: {}",
                warns.join("; "),
                described.clone().unwrap_or_default()
            ),
        )
    } else {
        Finding::ok(format!(
            "429 with Retry-After {} and Remaining 0{}",
            rate.retry_after.describe(),
            if had_effect.as_ref().is_ok_and(|e| e.is_some()) {
                "; nothing was stored"
            } else {
                ""
            }
        ))
    };
    RefusalReport {
        status: Some(sample.status),
        retry_after: rate.retry_after.value(),
        remaining_zero: rate.remaining == Field::Value(0),
        values_in,
        form: described,
        had_effect: had_effect.ok().flatten(),
        curl: Some(exchange.to_curl(false)),
        finding,
    }
}

pub(crate) fn judge_atomicity(run: Result<(Concurrent, u32), String>, limit: u32) -> Atomicity {
    let finding = match &run {
        Err(why) => Finding::skip(why.clone()),
        Ok((c, transport)) if *transport > 0 => Finding::error(format!(
            "void: {transport} of {} simultaneous requests got no answer ({})",
            c.sent,
            c.first_error.clone().unwrap_or_default()
        )),
        Ok((c, _)) if c.errors > 0 => Finding::fail(format!(
            "{} of {} simultaneous requests were answered neither accepted nor refused ({} accepted, {} refused; first: {}): the server fails under concurrent requests",
            c.errors,
            c.sent,
            c.accepted,
            c.refused,
            c.first_error.clone().unwrap_or_default()
        )),
        Ok((c, _)) if c.accepted == limit => Finding::ok(format!("exactly {limit} of {} simultaneous requests accepted", c.sent)),
        Ok((c, _)) if c.accepted > limit => Finding::fail(format!(
            "{} of {} simultaneous requests accepted against a limit of {limit}: counting is not atomic",
            c.accepted, c.sent
        )),
        Ok((c, _)) => Finding::fail(format!(
            "only {} of {} simultaneous requests accepted against a limit of {limit}",
            c.accepted, c.sent
        )),
    };
    Atomicity {
        run: run.ok().map(|(c, _)| c),
        finding,
    }
}

/// Folds the login probe's finding into the window aspect.
pub(crate) fn apply_login_finding(r: &mut EndpointReport, f: Finding) {
    match f.status {
        Status::Ok => {}
        Status::Fail if f.detail.starts_with("emptied-by-login") => {
            if let Some(w) = &mut r.window {
                w.kind = WindowKind::EmptiedByLogin;
                w.evidence = format!("{}; and {}", f.detail, w.evidence);
            }
            r.window_finding = Finding::fail(if r.window_finding.status == Status::Ok {
                f.detail
            } else {
                format!("{}; {}", f.detail, r.window_finding.detail)
            });
        }
        _ if r.window_finding.status == Status::Ok => r.window_finding = f,
        _ => {}
    }
    r.settle();
}
