//! `chat-harness limits`: the rate-limit verification's flags, validated
//! into a [`LimitsConfig`], and its run.

use std::path::PathBuf;

use clap::Args;

use super::GlobalArgs;
use crate::contract::{Endpoint, LimitsTable};
use crate::error::UsageError;
use crate::limits::LimitsConfig;

#[derive(Debug, Args)]
pub struct LimitsArgs {
    /// The expected limits and window (TOML; default: fixtures/limits.toml,
    /// CONTRACT.md's table).
    #[arg(long, value_name = "FILE")]
    pub expect: Option<PathBuf>,
    /// Measure only this endpoint (repeatable).
    #[arg(long, value_name = "ENDPOINT")]
    pub only: Vec<String>,
    /// The server's window in seconds, overriding the file's (for test servers
    /// configured with short windows).
    #[arg(long, value_name = "SECONDS")]
    pub window_seconds: Option<u64>,
    /// Write limits.json and limits.md into this folder.
    #[arg(long, alias = "report-dir", value_name = "DIR")]
    pub report: Option<PathBuf>,
}

impl LimitsArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<LimitsConfig> {
        let mut table = match &self.expect {
            Some(path) => LimitsTable::load(path)?,
            None => LimitsTable::default(),
        };
        if let Some(w) = self.window_seconds {
            if !(1..=86_400).contains(&w) {
                return Err(UsageError(format!(
                    "--window-seconds {w}: must be between 1 and 86400"
                ))
                .into());
            }
            table.window_seconds = w;
        }
        let only = self
            .only
            .iter()
            .map(|s| {
                s.parse::<Endpoint>()
                    .map_err(|e| UsageError(format!("--only: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = LimitsConfig::new(table, &only)?;
        config.report_dir = self.report.clone();
        config.progress = !global.quiet;
        Ok(config)
    }
}

pub(super) async fn run(global: &GlobalArgs, args: LimitsArgs) -> anyhow::Result<u8> {
    let config = args.config(global)?;
    let (target, accounts) = super::target::Target::of(global)?.into_parts();
    crate::limits::run(target, accounts, global.timeout, config).await
}
