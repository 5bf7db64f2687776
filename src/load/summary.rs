//! The run's result as one versioned model (`summary.json`), and the formats
//! written from it: Markdown for people and CI logs, and an HTML page with
//! inline SVG charts (no external assets). Every format is a pure function
//! of the model, so a merge of shard runs (issue 7) can redraw them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::delivery::DeliveryReport;
use super::goose::GooseOutcome;
use super::hist::{human_us, HistSummary};
use super::stats::{EndpointSummary, Tick};

/// Bumped on any incompatible change of the JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `summary.json` (a run's, a shard's or a merge's), as
/// shipped in the repository.
pub const SCHEMA: &str = include_str!("summary.schema.json");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadSummary {
    pub schema_version: u32,
    /// `chat-harness <version>`.
    pub tool: String,
    /// The scenario's name.
    pub scenario: String,
    /// The scenario as resolved (every default filled in).
    pub scenario_resolved: serde_json::Value,
    /// `embedded` or the target's URL.
    pub target: String,
    /// RFC 3339 start time (UTC).
    pub started_at: String,
    /// Seconds from the first user's start to the end of the grace period (or the stop).
    pub elapsed_s: f64,
    /// Whether the run ended before its planned end, and why.
    pub stopped_early: Option<String>,
    /// True while the run is still going (a partial summary written on the way).
    pub partial: bool,
    /// `complete`, `partial` (still going) or `setup_failed` (no user ran:
    /// see `setup_error`). Files written before it existed read as complete.
    #[serde(default)]
    pub status: RunStatus,
    /// Why the run could not start (target unreachable, accounts refused,
    /// chats not created): present only when `status` is `setup_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
    pub users: UsersSummary,
    pub requests: RequestsSummary,
    pub delivery: DeliveryReport,
    /// How late polls started against their schedule.
    pub poll_lateness: HistSummary,
    /// Per second: requests, errors, active users.
    pub timeline: Vec<Tick>,
    /// goose's own request rows; null in a partial summary.
    pub goose: Option<GooseOutcome>,
    /// Objectives given with `--slo` and whether they held.
    pub slo: Vec<SloResult>,
    /// A shard of a distributed run (`load --shard I/N`): which one, of
    /// which scenario, and when it began. Absent on a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::load::dist::shard::ShardInfo>,
    /// A merged run (`chat-harness merge`): the shards it adds up, one row
    /// each. Absent on a single run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<crate::load::dist::breakdown::MergedInfo>,
}

/// An objective judged against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub slo: String,
    /// What was measured, in the objective's unit (µs, %, or a count).
    pub measured: Option<f64>,
    /// Measured in words.
    pub measured_text: String,
    pub held: bool,
}

/// Where a run got to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Ran to its end, or was stopped (`stopped_early` says why).
    #[default]
    Complete,
    /// Still running: a progress summary.
    Partial,
    /// Could not start; nothing was measured.
    SetupFailed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsersSummary {
    /// Users the scenario plans at full load.
    pub planned: u32,
    /// Most users running at once.
    pub max_active: u32,
    /// Users per persona kind.
    pub personas: BTreeMap<String, u32>,
    /// Chats the users were spread over.
    pub chats: u32,
    /// An `iterations` run: how many users performed all theirs. Absent on
    /// a run of fixed duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<IterationsSummary>,
}

impl IterationsSummary {
    /// One line for the Markdown and HTML summaries and the verdict.
    pub fn sentence(&self) -> String {
        let head = format!(
            "Iterations: {} per user; {} users finished them",
            self.per_user, self.finished
        );
        if self.unfinished == 0 {
            format!("{head}.")
        } else {
            format!(
                "{head}, {} did not: the run's cap (duration) or a stop cut it short.",
                self.unfinished
            )
        }
    }
}

/// How far the users of an `iterations` run got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationsSummary {
    /// Iterations each user was to perform.
    pub per_user: u32,
    /// Users that performed all of them.
    pub finished: u32,
    /// Users that had not when the run's cap (`duration`) cut it short, or
    /// when it was stopped; 0 when the run ended because every user was done.
    pub unfinished: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestsSummary {
    pub total: u64,
    /// Requests that failed: unexpected refusals, other non-2xx, no answer.
    pub errors: u64,
    pub refused_expected: u64,
    pub refused_unexpected: u64,
    /// Mean requests per second over the run.
    pub per_second: f64,
    /// All requests' latency.
    pub latency: HistSummary,
    pub per_endpoint: BTreeMap<String, EndpointSummary>,
}

impl LoadSummary {
    pub fn slo_violated(&self) -> bool {
        self.slo.iter().any(|s| !s.held)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

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
        use crate::report::chart::{self, BLUE, GREY, ORANGE, RED};
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

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
