//! `summary.md`: the load summary in Markdown, for people and CI logs (a
//! pure function of the model in `summary.rs`, so a merge redraws it).

use std::fmt::Write as _;

use super::hist::{human_us, HistSummary};
use super::stats::EndpointSummary;
use super::summary::LoadSummary;

impl LoadSummary {
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let d = &self.delivery.counts;
        let _ = writeln!(o, "# Load run: {}\n", self.scenario);
        let _ = writeln!(
            o,
            "Target {}, started {}, {:.1} s{}{}.\n",
            self.target,
            self.started_at,
            self.elapsed_s,
            if self.partial {
                " (partial: still running)"
            } else {
                ""
            },
            self.stopped_early
                .as_ref()
                .map(|r| format!(", **stopped early: {r}**"))
                .unwrap_or_default()
        );
        if let Some(e) = &self.setup_error {
            let _ = writeln!(
                o,
                "**Set-up failed: {e}.** No user ran; nothing below was measured.\n"
            );
        }
        o.push_str(&crate::load::dist::report::markdown(self));
        let personas: Vec<String> = self
            .users
            .personas
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect();
        let _ = writeln!(
            o,
            "Users: {} planned, {} at most running ({}), over {} chats.\n",
            self.users.planned,
            self.users.max_active,
            personas.join(", "),
            self.users.chats
        );
        if let Some(it) = &self.users.iterations {
            let _ = writeln!(o, "{}\n", it.sentence());
        }
        if !self.slo.is_empty() {
            let _ = writeln!(
                o,
                "## SLOs\n\n| objective | measured | verdict |\n|---|---|---|"
            );
            for s in &self.slo {
                let _ = writeln!(
                    o,
                    "| `{}` | {} | {} |",
                    s.slo,
                    s.measured_text,
                    if s.held { "held" } else { "**violated**" }
                );
            }
            o.push('\n');
        }
        let _ = writeln!(o, "## Delivery\n");
        let _ = writeln!(o, "| sent | expected | delivered | lost | lost (client model) | unconfirmed | duplicated | out of order | visible late (POLL-6) | seen, send failed |\n|---|---|---|---|---|---|---|---|---|---|");
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            d.sent,
            d.expected,
            d.delivered,
            d.lost,
            d.lost_client_model,
            d.unconfirmed,
            d.duplicated,
            d.out_of_order,
            d.late_visible,
            d.seen_unsent
        );
        let _ = writeln!(
            o,
            "Delivery: send answered to first seen, recipient's screen open at the answer. Catch-up: screen opened to first seen, for what was sent while it was closed.\n"
        );
        hist_table(
            &mut o,
            &[
                ("delivery", &self.delivery.latency),
                ("catch-up", &self.delivery.catchup),
                ("poll lateness", &self.poll_lateness),
            ],
        );
        let _ = writeln!(
            o,
            "\n## Requests\n\n{} requests ({:.1}/s), {} errors ({:.3}%), refusals: {} expected (probers), {} unexpected.\n",
            self.requests.total,
            self.requests.per_second,
            self.requests.errors,
            pct(self.requests.errors, self.requests.total),
            self.requests.refused_expected,
            self.requests.refused_unexpected
        );
        let _ = writeln!(o, "| endpoint | requests | ok | refused (expected) | refused (unexpected) | failed | no answer | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut rows: Vec<(&str, &EndpointSummary)> = self
            .requests
            .per_endpoint
            .iter()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        rows.sort_by_key(|(k, _)| *k);
        for (name, e) in rows {
            let l = &e.latency;
            let _ = writeln!(
                o,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                e.requests,
                e.ok,
                e.refused_expected,
                e.refused_unexpected,
                e.failed,
                e.transport_errors,
                human_us(l.p50_us),
                human_us(l.p90_us),
                human_us(l.p99_us),
                human_us(l.p999_us),
                human_us(l.max_us)
            );
        }
        if let Some(g) = &self.goose {
            let _ = writeln!(
                o,
                "\ngoose's view (report.json): up to {} users, {} s.\n",
                g.max_users, g.duration_s
            );
            if let Some(e) = &g.error {
                let _ = writeln!(o, "goose error: {e}\n");
            }
        }
        o
    }
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

fn hist_table(o: &mut String, rows: &[(&str, &HistSummary)]) {
    let _ = writeln!(
        o,
        "| | count | p50 | p90 | p99 | p99.9 | max |\n|---|---|---|---|---|---|---|"
    );
    for (name, h) in rows {
        let _ = writeln!(
            o,
            "| {name} | {} | {} | {} | {} | {} | {} |",
            h.count,
            human_us(h.p50_us),
            human_us(h.p90_us),
            human_us(h.p99_us),
            human_us(h.p999_us),
            human_us(h.max_us)
        );
    }
}
