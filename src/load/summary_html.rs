//! `summary.html`: the load summary as a self-contained page with inline
//! SVG charts (no external assets); a pure function of the model in
//! `summary.rs`, so a merge redraws it.

use std::fmt::Write as _;

use super::hist::human_us;
use super::summary::LoadSummary;
use crate::report::escape_xml as esc;

impl LoadSummary {
    /// A self-contained page: delivery latency percentile curve, requests
    /// per second and active users over time.
    pub fn to_html(&self) -> String {
        let mut o = String::new();
        let title = format!("chat-harness load: {}", esc(&self.scenario));
        let _ = write!(
            o,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title><style>body{{font:14px system-ui,sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}svg{{background:#fafafa;border:1px solid #ddd}}</style></head><body><h1>{title}</h1>"
        );
        let d = &self.delivery.counts;
        let _ = write!(
            o,
            "<p>Target {}, started {}, {:.1} s. Users: {} planned, {} at most. {} requests, {} errors. Messages: {} sent, {} delivered of {} expected, <b>{} lost</b>, {} lost to the mobile client model, {} duplicated, {} out of order.</p>",
            esc(&self.target), esc(&self.started_at), self.elapsed_s, self.users.planned, self.users.max_active,
            self.requests.total, self.requests.errors, d.sent, d.delivered, d.expected, d.lost, d.lost_client_model, d.duplicated, d.out_of_order
        );
        if let Some(it) = &self.users.iterations {
            let _ = write!(o, "<p>{}</p>", esc(&it.sentence()));
        }
        if let Some(r) = &self.stopped_early {
            let _ = write!(o, "<p><b>Stopped early:</b> {}</p>", esc(r));
        }
        o.push_str(&crate::load::dist::report::html(self));
        for s in &self.slo {
            let _ = write!(
                o,
                "<p>SLO <code>{}</code>: {} ({})</p>",
                esc(&s.slo),
                if s.held { "held" } else { "<b>violated</b>" },
                esc(&s.measured_text)
            );
        }
        use crate::load::chart::{self, BLUE, GREY, ORANGE, RED};
        o.push_str("<h2>Latency by percentile</h2><p>Delivery: send answered to first seen, recipient's screen open at the answer. Catch-up: screen opened to first seen, for what was sent while it was closed. Poll lateness: how late polls started against their schedule.</p>");
        o.push_str(&chart::percentiles(
            "Latency by percentile (count in brackets)",
            &[
                ("delivery", RED, &self.delivery.latency),
                ("catch-up", ORANGE, &self.delivery.catchup),
                ("all requests", BLUE, &self.requests.latency),
                ("poll lateness", GREY, &self.poll_lateness),
            ],
        ));
        o.push_str("<h2>Requests per second and active users</h2>");
        o.push_str(&chart::timeline(
            "Requests and errors per second, active users",
            &self.timeline,
        ));
        o.push_str("<h2>Endpoints</h2><table><tr><th>endpoint</th><th>requests</th><th>ok</th><th>refused (exp.)</th><th>refused (unexp.)</th><th>failed</th><th>p50</th><th>p99</th><th>max</th></tr>");
        for (name, e) in &self.requests.per_endpoint {
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name), e.requests, e.ok, e.refused_expected, e.refused_unexpected, e.failed + e.transport_errors,
                human_us(e.latency.p50_us), human_us(e.latency.p99_us), human_us(e.latency.max_us)
            );
        }
        if self.merged.is_some() {
            o.push_str("</table><p>Each shard's own summary is linked above. Data: <a href=\"summary.json\">summary.json</a>.</p></body></html>\n");
        } else {
            o.push_str("</table><p>Data: <a href=\"summary.json\">summary.json</a>; goose's own request rows: <a href=\"report.json\">report.json</a>.</p></body></html>\n");
        }
        o
    }
}
