//! `chat-harness provision`: many accounts signed up at the pace the server
//! allows; the flags validated into a [`ProvisionConfig`], and the run.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;
use super::GlobalArgs;
use crate::error::UsageError;
use crate::load::provision::ProvisionConfig;

#[derive(Debug, Args)]
pub struct ProvisionArgs {
    /// How many accounts the file should hold.
    #[arg(long, value_name = "N")]
    pub count: usize,
    /// The accounts file written (tokens included, mode 0600).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// E-mails are PREFIX<n>@DOMAIN.
    #[arg(long, default_value = "lh-user-")]
    pub prefix: String,
    #[arg(long, default_value = "example.com")]
    pub domain: String,
    /// Password of every user made.
    #[arg(
        long,
        env = "CHAT_HARNESS_PASSWORD",
        default_value = "Passw0rd!load",
        hide_env_values = true
    )]
    pub password: String,
    /// Longest single wait for signup quota before stopping (resume later).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_duration)]
    pub max_wait: Duration,
}

impl ProvisionArgs {
    /// The validated configuration these flags describe.
    pub fn config(self, global: &GlobalArgs) -> anyhow::Result<ProvisionConfig> {
        let Some(target) = global.target.clone() else {
            return Err(UsageError(
                "provision needs --target URL (the embedded server seeds its own users)".into(),
            )
            .into());
        };
        if self.count == 0 {
            return Err(UsageError("--count must be at least 1".into()).into());
        }
        Ok(ProvisionConfig {
            target,
            count: self.count,
            out: self.out,
            prefix: self.prefix,
            domain: self.domain,
            password: self.password,
            timeout: global.timeout,
            max_wait: self.max_wait,
            progress: !global.quiet,
        })
    }
}

pub(super) async fn run(global: &GlobalArgs, args: ProvisionArgs) -> anyhow::Result<u8> {
    crate::load::provision::run(args.config(global)?).await
}
