//! The run's result as one versioned model (`summary.json`). The formats
//! written from it are `summary_markdown.rs` (Markdown for people and CI
//! logs) and `summary_html.rs` (an HTML page with inline SVG charts, no
//! external assets). Every format is a pure function of the model, so a
//! merge of shard runs (issue 7) can redraw them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::delivery::DeliveryReport;
use super::goose::GooseOutcome;
use super::hist::HistSummary;
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
    pub status: LoadStatus,
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
pub enum LoadStatus {
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
}
