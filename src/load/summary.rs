//! The run's result as one versioned model (`summary.json`). The formats
//! written from it are `summary_markdown.rs` (Markdown for people and CI
//! logs) and `summary_html.rs` (an HTML page with inline SVG charts, no
//! external assets). Every format is a pure function of the model, so a
//! merge of shard runs (issue 7) can redraw them.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::delivery::DeliveryReport;
use super::goose::GooseOutcome;
use super::hist::HistSummary;
use super::stats::{EndpointSummary, Tick};
use crate::contract::Endpoint;
use crate::report::schema::MapOf;

/// Bumped on any incompatible change of the JSON shape.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `summary.json` (a run's, a shard's or a merge's), as
/// shipped in the repository (generated from [`LoadSummary`] by
/// `report::schema::generate`).
pub const SCHEMA: &str = include_str!("summary.schema.json");

/// A load run's result: a whole run's, a shard's or a merge's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "chat-harness load summary",
    description = "summary.json written by `chat-harness load` (a whole run or one shard of it, `--shard I/N`) and by `chat-harness merge` (the shards added up), schema_version 1. A partial summary is rewritten every 10 s while the run goes on; the final one replaces it.",
    extend(
        "$id" = "https://github.com/chat-harness/chat-harness/summary.schema.json",
        "not" = {
            "required": ["shard", "merged"],
            "description": "A summary is a shard's or a merge of shards, never both."
        },
        "if" = { "properties": { "status": { "const": "setup_failed" } }, "required": ["status"] },
        "then" = { "required": ["setup_error"] },
        "else" = { "not": { "required": ["setup_error"] } },
    )
)]
pub struct LoadSummary {
    /// Version of this format, bumped on any incompatible change.
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// The program that wrote the file: `chat-harness <version>`.
    #[schemars(pattern("^chat-harness "))]
    pub tool: String,
    /// The scenario's name.
    pub scenario: String,
    /// The whole scenario as run, every default filled in (for a shard or a
    /// merge: the whole scenario, not the shard's part).
    #[schemars(with = "crate::load::scenario::Scenario")]
    pub scenario_resolved: serde_json::Value,
    /// `embedded` for the embedded reference server, or the target's URL; for
    /// a merge, the shards' targets joined with `, `.
    pub target: String,
    /// When the users began (UTC, RFC 3339); for a merge, the earliest shard's.
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// Seconds from the first user's start to the end of the grace period,
    /// or to the stop; rounded to 0.1 s.
    #[schemars(range(min = 0))]
    pub elapsed_s: f64,
    /// Why the run ended before its planned end (a signal: the text contains
    /// `interrupted`; a revoked token; goose's error), or null when it ran to
    /// its end. For a merge, each stopped shard's reason, `shard I: ...`,
    /// joined with `; `.
    pub stopped_early: Option<String>,
    /// True for a progress summary written while the run is still going (or,
    /// for a merge, when a shard's summary was partial).
    pub partial: bool,
    /// `complete`, `partial` (still going) or `setup_failed` (no user ran:
    /// see `setup_error`). Files written before it existed read as complete.
    #[serde(default)]
    pub status: LoadStatus,
    /// Why the run could not start (target unreachable, accounts refused,
    /// chats not created): present only when `status` is `setup_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub setup_error: Option<String>,
    /// The simulated users.
    pub users: UsersSummary,
    /// Every request the users made.
    pub requests: RequestsSummary,
    /// Whether messages reached their recipients: counts of (message,
    /// recipient) pairs and the latency of those seen.
    pub delivery: DeliveryReport,
    /// How late polls started against their schedule, in µs (coordinated
    /// omission made visible).
    pub poll_lateness: HistSummary,
    /// One point per second of the run, from 0: requests, errors, active users.
    pub timeline: Vec<Tick>,
    /// goose's own view of the run (its rows are in report.json beside this
    /// file); null in a partial summary written while the run goes on.
    pub goose: Option<GooseOutcome>,
    /// The objectives given with `--slo` and whether they held, in the order given.
    pub slo: Vec<SloResult>,
    /// A shard of a distributed run (`load --shard I/N`): which one, of
    /// which scenario, and when it began. Absent on a whole run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "crate::load::dist::shard::ShardInfo")]
    pub shard: Option<crate::load::dist::shard::ShardInfo>,
    /// A merged run (`chat-harness merge`): the shards it adds up, one row
    /// each. Absent on a single run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "crate::load::dist::breakdown::MergedInfo")]
    pub merged: Option<crate::load::dist::breakdown::MergedInfo>,
}

/// An objective judged against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SloResult {
    /// The objective, normalised (e.g. `delivery.p99<3.5s`, `lost=0`, `errors<1%`).
    pub slo: String,
    /// What was measured, in the objective's unit: µs for a percentile,
    /// percent for `errors<N%`, else a count; null when there was nothing to
    /// measure (an empty histogram, an endpoint never called, `errors<N%` of
    /// zero requests).
    pub measured: Option<f64>,
    /// What was measured, in words (`not measured` when measured is null).
    pub measured_text: String,
    /// Whether the objective held (false when not measured).
    pub held: bool,
}

/// Where a run got to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoadStatus {
    /// Ran to its end, or was stopped (`stopped_early` says why).
    #[default]
    Complete,
    /// Still running: a progress summary.
    Partial,
    /// Could not start; nothing was measured.
    SetupFailed,
}

/// The simulated users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct UsersSummary {
    /// Users the scenario (or this shard's part of it) plans at full load.
    pub planned: u32,
    /// Most users running at once; for a merge, the sum of the shards' maxima.
    pub max_active: u32,
    /// Users per persona kind.
    #[schemars(with = "MapOf<crate::load::persona::PersonaKind, u32>")]
    pub personas: BTreeMap<String, u32>,
    /// Chats the users were spread over.
    pub chats: u32,
    /// An `iterations` run: how many users performed all theirs. Absent on
    /// a run of fixed duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "IterationsSummary")]
    pub iterations: Option<IterationsSummary>,
}

impl IterationsSummary {
    /// One line for the Markdown and HTML summaries and the verdict.
    pub(crate) fn sentence(&self) -> String {
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct IterationsSummary {
    /// Iterations each user was to perform.
    #[schemars(range(min = 1))]
    pub per_user: u32,
    /// Users that performed all of them (for a merge, summed over shards).
    pub finished: u32,
    /// Users that had not when the run's cap (`duration`) cut it short, or
    /// when it was stopped; 0 when the run ended because every user was done.
    pub unfinished: u32,
}

/// Every request the users made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RequestsSummary {
    /// Requests made.
    pub total: u64,
    /// Requests that failed: unexpected refusals, other non-2xx, no answer.
    pub errors: u64,
    /// Refusals (429) of limit probers, which ask for them.
    pub refused_expected: u64,
    /// Refusals of any other user: a capacity finding.
    pub refused_unexpected: u64,
    /// Mean requests per second over elapsed_s, rounded to 0.1.
    #[schemars(range(min = 0))]
    pub per_second: f64,
    /// Time to the whole answer of every request with an HTTP answer, in µs.
    pub latency: HistSummary,
    /// Per endpoint (by its name, e.g. `get_messages`), only endpoints that were called.
    #[schemars(with = "MapOf<Endpoint, EndpointSummary>")]
    pub per_endpoint: BTreeMap<String, EndpointSummary>,
}

impl LoadSummary {
    pub fn slo_violated(&self) -> bool {
        self.slo.iter().any(|s| !s.held)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
