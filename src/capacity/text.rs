//! The capacity report as text: the console summary and `capacity.md`.

use std::fmt::Write as _;

use super::report::CapacityReport;

fn verdict(r: &CapacityReport) -> String {
    match (&r.knee, &r.first_break) {
        (Some(k), Some(b)) => format!(
            "knee: {} users ({:.0} req/s, delivery p99 {:.0} ms); {} broke first, at {} users ({})",
            k.users, k.requests_per_second, k.delivery_p99_ms, b.slo, b.users, b.measured
        ),
        (Some(k), None) => format!(
            "every step held up to {} users ({:.0} req/s): the knee is higher",
            k.users, k.requests_per_second
        ),
        (None, Some(b)) => format!(
            "no step held: {} broke already at {} users ({})",
            b.slo, b.users, b.measured
        ),
        (None, None) => "no step completed".into(),
    }
}

/// The console summary.
pub(crate) fn console(r: &CapacityReport) -> String {
    let mut out = String::new();
    for s in &r.steps {
        let _ = writeln!(out, "{}", s.line());
    }
    let _ = writeln!(out, "{}", verdict(r));
    let _ = writeln!(
        out,
        "model: {:.3} req/s per user at {:.3} messages/s per chat ({})",
        r.model.requests_per_user, r.model.messages_per_chat_per_second, r.stopped_because
    );
    out
}

/// `capacity.md`.
pub(crate) fn markdown(r: &CapacityReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Capacity of {} for {}\n", r.target, r.scenario);
    let _ = writeln!(out, "**{}**\n", verdict(r));
    let _ = writeln!(
        out,
        "SLOs: {} · steps {:?} · {:.0} s ramp + {:.0} s hold each · {:.0} s in all · {}{}\n",
        r.slos.join(", "),
        r.planned_steps,
        r.ramp_s,
        r.hold_s,
        r.duration_s,
        r.stopped_because,
        if r.interrupted { " · interrupted" } else { "" }
    );
    let _ = writeln!(
        out,
        "![users against delivery p99 and requests per second](capacity.svg)\n"
    );
    let _ = writeln!(out, "## Steps\n");
    let _ = writeln!(out, "| users | verdict | req/s | model req/s | latency p50 | latency p99 | delivery p50 | delivery p99 | delivered | lost | errors | unexpected refusals |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for s in &r.steps {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.0} | {:.1} ms | {:.1} ms | {:.0} ms | {:.0} ms | {} | {} | {} | {} |",
            s.users,
            if s.held { "held" } else { "broke" },
            s.requests_per_second,
            s.predicted_requests_per_second,
            s.latency_p50_ms,
            s.latency_p99_ms,
            s.delivery_p50_ms,
            s.delivery_p99_ms,
            s.delivered,
            s.lost,
            s.errors,
            s.refused_unexpected
        );
    }
    let _ = writeln!(out, "\n## The arithmetic\n");
    let _ = writeln!(
        out,
        "At {:.4} messages per second per chat, the average user of this mix makes **{:.3} requests per second**. Assumes {}.\n",
        r.model.messages_per_chat_per_second, r.model.requests_per_user, r.model.assumptions
    );
    let _ = writeln!(out, "| persona | share | polls/s idle | polls/s peak | polls/s here | other req/s | req/s | get_messages per window at peak | devices before refusal |");
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for p in &r.model.personas {
        let (per_window, devices) = match &p.headroom {
            Some(h) => (
                format!(
                    "{:.0} of {} ({:.0}%)",
                    h.peak_per_window,
                    h.limit,
                    h.peak_fraction * 100.0
                ),
                h.devices_before_refusal.to_string(),
            ),
            None => ("-".into(), "-".into()),
        };
        let _ = writeln!(
            out,
            "| {} | {:.0}% | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {per_window} | {devices} |",
            p.kind,
            p.share * 100.0,
            p.polls_per_second_idle,
            p.polls_per_second_peak,
            p.polls_per_second_expected,
            p.other_requests_per_second,
            p.requests_per_second
        );
    }
    if r.model.personas.iter().any(|p| {
        p.headroom
            .as_ref()
            .is_some_and(|h| h.devices_before_refusal < 2)
    }) {
        let _ = writeln!(
            out,
            "\nA poller at its peak uses more than half the get_messages limit: a user with the chat open on two devices is refused (RL-6 promises only that 60% never is)."
        );
    }
    if let Some(s) = r.steps.last() {
        if s.predicted_requests_per_second > 0.0 {
            let _ = writeln!(
                out,
                "\nMeasured against the model at the last step: {:.0} req/s measured, {:.0} modelled ({:+.0}%).",
                s.requests_per_second,
                s.predicted_requests_per_second,
                (s.requests_per_second / s.predicted_requests_per_second - 1.0) * 100.0
            );
        }
    }
    out
}
