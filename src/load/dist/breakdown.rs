//! A merged report's record of its shards (`merged` in `summary.json`):
//! the scenario they agreed on, one row per shard, and how goose's p99 rows
//! were merged. Written by `merge.rs`, shown by `report.rs`.

use serde::{Deserialize, Serialize};

use super::shard::ShardInfo;
use crate::load::delivery::DeliveryCounts;

/// A merged report's record of its shards, in `summary.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedInfo {
    /// The scenario's identity every shard agreed on.
    pub scenario_hash: String,
    /// One row per shard, in shard order.
    pub shards: Vec<ShardRow>,
    /// How the p99 of goose's rows was merged: `exact` (goose's buckets of
    /// every shard added), or `largest shard: <why>` when a shard's goose
    /// report could not be read.
    pub goose_p99: String,
}

/// One shard's part of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardRow {
    pub shard: ShardInfo,
    /// The folder its results were read from.
    pub source: String,
    /// Its target (`embedded` or a URL).
    pub target: String,
    pub started_at: String,
    /// Seconds after the merged run's start that its timeline begins.
    pub offset_s: u32,
    pub elapsed_s: f64,
    pub stopped_early: Option<String>,
    pub partial: bool,
    pub max_active: u32,
    pub requests: u64,
    pub errors: u64,
    pub latency_p99_us: u64,
    pub delivery: DeliveryCounts,
    pub delivery_p99_us: u64,
    pub poll_lateness_p99_us: u64,
}
