//! Distributed load (issue 7): one scenario split over many machines, and
//! their results merged into one exact report.
//!
//! 1. `shard.rs`: `load --shard I/N` runs a deterministic, disjoint share of
//!    the scenario's users, chats and accounts (whole cells, so a chat's
//!    participants are always measured by one process on one clock), from an
//!    agreed `--start-at`, and stamps its `summary.json` with which shard it is;
//! 2. `chat-harness merge`: `read.rs` reads the shards' results and checks
//!    that they belong together, `merge.rs` adds them up (HdrHistogram
//!    addition, summed counts, timelines aligned by wall-clock second), and
//!    `breakdown.rs` is the merged report's record of its shards;
//! 3. `report.rs`: the shard and per-shard lines of the usual reports.
//!
//! Running the shards is left to engines people already have: Kubernetes
//! (`deploy/k8s/`) or a CI matrix (`deploy/github-actions.yml`).

pub(crate) mod breakdown;
pub(crate) mod merge;
pub(crate) mod read;
pub(crate) mod report;
pub(crate) mod shard;

use std::path::{Path, PathBuf};

use anyhow::Context;

pub use breakdown::{MergedInfo, ShardRow};
pub use shard::{Shard, ShardInfo};

use crate::load::slo::Slo;

/// A validated `merge` command.
#[derive(Debug, Clone)]
pub struct MergeConfig {
    /// The shards' result folders.
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// Objectives judged on the merged run.
    pub slos: Vec<Slo>,
}

/// What a merge leaves behind.
#[derive(Debug)]
pub(crate) struct MergeOutcome {
    pub summary: crate::load::summary::LoadSummary,
    pub exit_code: u8,
}

/// Files of a shard's folder kept under `OUT/shards/<index>/`.
const KEPT: [&str; 4] = ["summary.json", "summary.md", "summary.html", "report.json"];

/// Reads, checks and merges the shards, and writes the merged report.
pub(crate) fn run(cfg: &MergeConfig) -> anyhow::Result<MergeOutcome> {
    let shards = cfg
        .inputs
        .iter()
        .map(|d| read::read(d))
        .collect::<Result<Vec<_>, _>>()?;
    let shards = read::check(shards)?;
    let mut summary = merge::merge(&shards)?;
    summary.slo = cfg.slos.iter().map(|s| s.judge(&summary)).collect();
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("cannot create {}", cfg.out.display()))?;
    for r in &shards {
        let index = r.summary.shard.as_ref().map_or(0, |i| i.index);
        copy_kept(&r.dir, &cfg.out.join("shards").join(index.to_string()))?;
    }
    crate::load::summarise::write_reports(&cfg.out, &summary)?;
    let exit_code = if summary.slo_violated() {
        crate::error::exit_code::TARGET_FAILED
    } else {
        crate::error::exit_code::SUCCESS
    };
    Ok(MergeOutcome { summary, exit_code })
}

fn copy_kept(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for name in KEPT {
        let src = from.join(name);
        if src.exists() {
            std::fs::copy(&src, to.join(name))
                .with_context(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}
