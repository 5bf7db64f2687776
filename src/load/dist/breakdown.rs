//! A merged report's record of its shards (`merged` in `summary.json`):
//! the scenario they agreed on, one row per shard, and how goose's p99 rows
//! were merged. Written by `merge.rs`, shown by `report.rs`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::shard::ShardInfo;
use crate::load::delivery::DeliveryCounts;

/// A merged report's record of its shards, in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MergedInfo {
    /// The scenario's identity every shard agreed on.
    #[schemars(pattern("^[0-9a-f]{16}$"))]
    pub scenario_hash: String,
    /// One row per shard, in shard order.
    #[schemars(length(min = 1))]
    pub shards: Vec<ShardRow>,
    /// How the p99 of goose's rows was merged: `exact` (goose's buckets of
    /// every shard added), or `largest shard: <why>` when a shard's goose
    /// report could not be read, or `no goose rows`.
    #[schemars(pattern("^(exact|largest shard: .+|no goose rows)$"))]
    pub goose_p99: String,
}

/// One shard's part of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ShardRow {
    /// The shard's own `shard` object.
    pub shard: ShardInfo,
    /// The folder its results were read from.
    pub source: String,
    /// Its target (`embedded` or a URL).
    pub target: String,
    /// When its users began (UTC, RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// Seconds after the merged run's start that its timeline begins.
    pub offset_s: u32,
    /// Its elapsed_s, seconds.
    #[schemars(range(min = 0))]
    pub elapsed_s: f64,
    /// Why it ended before its planned end, or null.
    pub stopped_early: Option<String>,
    /// True when its summary was a progress one (the shard was killed mid-run).
    pub partial: bool,
    /// Most of its users running at once.
    pub max_active: u32,
    /// Its requests.
    pub requests: u64,
    /// Its failed requests.
    pub errors: u64,
    /// 99th percentile of its request latency, µs.
    pub latency_p99_us: u64,
    /// Its delivery counts (as in the top-level delivery, without the latency).
    pub delivery: DeliveryCounts,
    /// 99th percentile of its delivery latency, µs.
    pub delivery_p99_us: u64,
    /// 99th percentile of its poll lateness, µs.
    pub poll_lateness_p99_us: u64,
}
