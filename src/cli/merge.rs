//! `chat-harness merge`: the shards' result folders, validated into a
//! [`MergeConfig`](crate::load::dist::MergeConfig), merged, and the verdict printed.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' result folders (each with its summary.json).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged report goes.
    #[arg(long = "report", alias = "out", value_name = "DIR")]
    pub out: PathBuf,
    /// Objective judged on the merged run (repeatable); exit 1 when violated.
    #[arg(long = "slo", value_name = "OBJECTIVE")]
    pub slos: Vec<String>,
}

impl MergeArgs {
    /// The validated configuration these arguments describe.
    pub fn config(&self) -> anyhow::Result<crate::load::dist::MergeConfig> {
        let slos = self
            .slos
            .iter()
            .map(|s| {
                crate::load::slo::Slo::parse(s)
                    .map_err(|e| crate::error::UsageError(format!("--slo {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(crate::load::dist::MergeConfig {
            inputs: self.dirs.clone(),
            out: self.out.clone(),
            slos,
        })
    }
}

/// `chat-harness merge`: shard folders into one report.
pub(super) fn run(args: MergeArgs) -> anyhow::Result<u8> {
    let cfg = args.config()?;
    let out = crate::load::dist::run(&cfg)?;
    if let Some(m) = &out.summary.merged {
        for r in m.shards.iter().filter(|r| r.shard.late) {
            println!(
                "shard {} started {:.1} s after the agreed start",
                r.shard.index,
                r.shard.late_ms.unwrap_or(0) as f64 / 1e3
            );
        }
        print!("merged {} shards: ", m.shards.len());
    }
    super::load::print_verdict(&out.summary);
    println!("reports: {}", cfg.out.display());
    Ok(out.exit_code)
}
