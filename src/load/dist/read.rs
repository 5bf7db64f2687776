//! The first step of `chat-harness merge`: each shard's `summary.json` read
//! (its schema version checked before its shape), and the shards checked to
//! be 0..N of one scenario, once each, before anything is added up.

use std::path::{Path, PathBuf};

use super::shard::ShardInfo;
use crate::load::summary::{LoadStatus, LoadSummary, SCHEMA_VERSION};

/// Why shard results cannot be merged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MergeError {
    #[error("nothing to merge: give the shards' result folders")]
    Empty,
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a summary.json: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: written by a whole run, not a shard (run `load --shard I/N`)")]
    NotAShard { path: String },
    #[error("{path}: schema version {found}, but {expected} here; merge results of one chat-harness version ({others})")]
    Schema {
        path: String,
        found: u64,
        expected: u32,
        others: String,
    },
    #[error("shards of different scenarios: {first} is {first_id}, {other} is {other_id}")]
    Scenario {
        first: String,
        first_id: String,
        other: String,
        other_id: String,
    },
    #[error("shards of different splits: {first} is one of {first_n}, {other} one of {other_n}")]
    Count {
        first: String,
        first_n: u32,
        other: String,
        other_n: u32,
    },
    #[error("shard {index} appears twice: {a} and {b}")]
    Duplicate { index: u32, a: String, b: String },
    #[error("missing shard(s) {missing} of {count} (have {have})")]
    Missing {
        missing: String,
        count: u32,
        have: String,
    },
    #[error("{path}: this shard could not start ({reason}): no merge would be the whole run; run it again")]
    SetupFailed { path: String, reason: String },
    #[error("{path}: {what}: {message}")]
    Histogram {
        path: String,
        what: String,
        message: String,
    },
}

impl MergeError {
    /// Always a usage error: the shard reports the user gave cannot be merged.
    pub(crate) fn exit_code(&self) -> u8 {
        crate::error::exit_code::USAGE
    }
}

/// One shard's summary and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct ShardResult {
    pub dir: PathBuf,
    pub summary: LoadSummary,
}

impl ShardResult {
    pub(super) fn info(&self) -> &ShardInfo {
        self.summary.shard.as_ref().expect("checked on reading")
    }
    pub(super) fn name(&self) -> String {
        self.dir.display().to_string()
    }
}

/// Reads `DIR/summary.json`, checking its schema version before its shape.
pub(crate) fn read(dir: &Path) -> Result<ShardResult, MergeError> {
    let path = dir.join("summary.json");
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| MergeError::Read {
        path: shown.clone(),
        source,
    })?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| MergeError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    let found = value
        .get("schema_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| MergeError::Parse {
            path: shown.clone(),
            message: "no schema_version".into(),
        })?;
    if found != SCHEMA_VERSION as u64 {
        return Err(MergeError::Schema {
            path: shown,
            found,
            expected: SCHEMA_VERSION,
            others: format!("this is chat-harness {}", env!("CARGO_PKG_VERSION")),
        });
    }
    let summary: LoadSummary = serde_json::from_value(value).map_err(|e| MergeError::Parse {
        path: shown.clone(),
        message: e.to_string(),
    })?;
    if summary.shard.is_none() {
        return Err(MergeError::NotAShard { path: shown });
    }
    if summary.status == LoadStatus::SetupFailed {
        return Err(MergeError::SetupFailed {
            path: shown,
            reason: summary.setup_error.unwrap_or_default(),
        });
    }
    Ok(ShardResult {
        dir: dir.to_owned(),
        summary,
    })
}

/// Checks that the results are the shards 0..N of one scenario, once each,
/// and returns them in shard order.
pub(crate) fn check(mut shards: Vec<ShardResult>) -> Result<Vec<ShardResult>, MergeError> {
    let Some(first) = shards.first().cloned() else {
        return Err(MergeError::Empty);
    };
    let id = |r: &ShardResult| format!("{} ({})", r.summary.scenario, r.info().scenario_hash);
    for r in &shards[1..] {
        if r.summary.schema_version != first.summary.schema_version {
            return Err(MergeError::Schema {
                path: r.name(),
                found: r.summary.schema_version as u64,
                expected: first.summary.schema_version,
                others: format!("{} has {}", first.name(), first.summary.schema_version),
            });
        }
        if r.summary.scenario != first.summary.scenario
            || r.info().scenario_hash != first.info().scenario_hash
        {
            return Err(MergeError::Scenario {
                first: first.name(),
                first_id: id(&first),
                other: r.name(),
                other_id: id(r),
            });
        }
        if r.info().count != first.info().count {
            return Err(MergeError::Count {
                first: first.name(),
                first_n: first.info().count,
                other: r.name(),
                other_n: r.info().count,
            });
        }
    }
    shards.sort_by_key(|r| r.info().index);
    for w in shards.windows(2) {
        if w[0].info().index == w[1].info().index {
            return Err(MergeError::Duplicate {
                index: w[0].info().index,
                a: w[0].name(),
                b: w[1].name(),
            });
        }
    }
    let count = first.info().count;
    let have: Vec<u32> = shards.iter().map(|r| r.info().index).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !have.contains(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() || have.len() != count as usize {
        return Err(MergeError::Missing {
            missing: missing.join(", "),
            count,
            have: have
                .iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    Ok(shards)
}
