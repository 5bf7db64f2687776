//! `chat-harness serve`: the reference server on the hyper front, until
//! Ctrl-C or SIGTERM. The flags become a [`ServeConfig`]: the server's
//! [`ServerConfig`] and where it listens and writes.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;
use super::GlobalArgs;
use crate::accounts;
use crate::contract::Endpoint;
use crate::error::{exit_code, SetupError, UsageError};
use crate::reference::{serve, Defect, SeedUser, ServerConfig, Variant};

/// Where `--users` writes the accounts when `--accounts-out` is not given.
pub const DEFAULT_ACCOUNTS_OUT: &str = "reports/serve-accounts.toml";

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Port to listen on; 0 picks a free one.
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// Write the port number to this file once listening.
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Address to bind.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Also seed N generated users load-00000@example.com... (password
    /// Passw0rd!) and write every account with its token to --accounts-out.
    #[arg(long = "users", value_name = "N")]
    pub generated_users: Option<usize>,
    /// Where the accounts file (tokens included, mode 0600) is written
    /// [default with --users: reports/serve-accounts.toml].
    #[arg(long, value_name = "FILE")]
    pub accounts_out: Option<PathBuf>,
    /// Enforce a limit per window, e.g. get_messages=1000 (repeatable);
    /// ENDPOINT=off removes one. Default: the contract's table.
    #[arg(long = "limit", value_name = "ENDPOINT=N")]
    pub limits: Vec<String>,
    /// Length of the sliding window in seconds.
    #[arg(long, value_name = "S", default_value_t = 60)]
    pub window_seconds: u64,
    /// How X-RateLimit-Reset is expressed: delta (seconds) or epoch (Unix time).
    #[arg(long, value_name = "FORM", default_value = "delta", value_parser = ["delta", "epoch"])]
    pub reset_form: String,
    /// An allowed CORS origin besides http://localhost:* and http://127.0.0.1:*.
    #[arg(long, value_name = "ORIGIN")]
    pub production_origin: Option<String>,
    /// Switch on a deliberate defect (repeatable; see --list-defects).
    #[arg(long = "defect", value_name = "NAME")]
    pub defects: Vec<String>,
    /// List the defects with the clause each breaks, and exit.
    #[arg(long)]
    pub list_defects: bool,
    /// Switch on a conforming variant: behaviour that stays within the
    /// contract, e.g. refuse-417 or serial (repeatable; see --list-variants).
    #[arg(long = "variant", value_name = "NAME")]
    pub variants: Vec<String>,
    /// List the conforming variants, and exit.
    #[arg(long)]
    pub list_variants: bool,
    /// Hold every request this long before handling it (the `latency`
    /// variant with this value), e.g. 300ms.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub latency: Option<Duration>,
}

/// What `serve` runs: the server and where it listens and writes.
#[derive(Debug)]
pub struct ServeConfig {
    pub server: ServerConfig,
    pub bind: SocketAddr,
    /// The accounts file written once listening (tokens included).
    pub accounts_out: Option<PathBuf>,
    /// The file the port number is written to once listening.
    pub port_file: Option<PathBuf>,
}

impl ServeArgs {
    /// The validated configuration these flags describe.
    pub fn config(&self, global: &GlobalArgs) -> anyhow::Result<ServeConfig> {
        let accounts_out = self.accounts_out.clone().or_else(|| {
            self.generated_users
                .filter(|n| *n > 0)
                .map(|_| PathBuf::from(DEFAULT_ACCOUNTS_OUT))
        });
        Ok(ServeConfig {
            server: self.server_config(global)?,
            bind: SocketAddr::new(self.bind, self.port),
            accounts_out,
            port_file: self.port_file.clone(),
        })
    }

    /// The reference server's configuration these flags describe.
    fn server_config(&self, global: &GlobalArgs) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::default();
        let given = accounts::from_args(&global.users, global.accounts.as_deref())?;
        if !given.is_empty() {
            let mut users = Vec::new();
            for a in given {
                let Some(password) = a.password.clone() else {
                    return Err(UsageError(format!(
                        "{}: serve seeds users from e-mail and password; this account has none",
                        a.email
                    ))
                    .into());
                };
                let mut u = SeedUser::new(&a.email, password);
                if let Some(n) = a.full_name.filter(|n| !n.is_empty()) {
                    u = u.with_full_name(n);
                }
                users.push(u);
            }
            config = config.with_users(users);
        }
        if !(1..=86_400).contains(&self.window_seconds) {
            return Err(UsageError("--window-seconds must be between 1 and 86400".into()).into());
        }
        config = config
            .with_window(self.window_seconds)
            .with_generated_users(self.generated_users.unwrap_or(0))
            .with_reset_form(self.reset_form.parse().map_err(UsageError)?);
        for l in &self.limits {
            let (name, n) = l
                .split_once('=')
                .ok_or_else(|| UsageError(format!("--limit {l:?}: expected ENDPOINT=N")))?;
            let endpoint: Endpoint = name
                .parse()
                .map_err(|e| UsageError(format!("--limit {l:?}: {e}")))?;
            config = match n {
                "off" | "none" => config.without_limit(endpoint),
                _ => match n.parse::<u32>() {
                    Ok(n) if n >= 1 => config.with_limit(endpoint, n),
                    _ => {
                        return Err(UsageError(format!(
                            "--limit {l:?}: N must be an integer from 1 to 4294967295, or off"
                        ))
                        .into())
                    }
                },
            };
        }
        if let Some(o) = &self.production_origin {
            if !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(UsageError(format!(
                    "--production-origin {o:?}: expected an origin such as https://chat.example.com"
                ))
                .into());
            }
            config = config.with_production_origin(o.trim_end_matches('/'));
        }
        for d in &self.defects {
            let defect: Defect = d.parse().map_err(|e| UsageError(format!("--defect {e}")))?;
            config = config.with_defect(defect);
        }
        for v in &self.variants {
            let variant: Variant = v
                .parse()
                .map_err(|e| UsageError(format!("--variant {e}")))?;
            config = config.with_variant(variant);
        }
        if let Some(latency) = self.latency {
            if latency > std::time::Duration::from_secs(60) {
                return Err(UsageError(format!(
                    "--latency {latency:?}: at most 60s (each request is held that long)"
                ))
                .into());
            }
            config = config.with_latency(latency);
        }
        Ok(config)
    }
}

pub(super) async fn run(global: &GlobalArgs, args: ServeArgs) -> anyhow::Result<u8> {
    if args.list_defects {
        let mut out = std::io::stdout().lock();
        for d in Defect::ALL {
            writeln!(
                out,
                "{:<28} {:<8} {}",
                d.name(),
                d.clause(),
                d.description()
            )?;
        }
        return Ok(exit_code::SUCCESS);
    }
    if args.list_variants {
        let mut out = std::io::stdout().lock();
        for v in Variant::ALL {
            writeln!(out, "{:<20} {}", v.name(), v.description())?;
        }
        return Ok(exit_code::SUCCESS);
    }
    let ServeConfig {
        server: config,
        bind,
        accounts_out,
        port_file,
    } = args.config(global)?;
    let server = serve(config, bind)
        .await
        .map_err(|e| SetupError(format!("cannot listen on {bind}: {e}")))?;
    if let Some(path) = &accounts_out {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| SetupError(format!("cannot create {}: {e}", dir.display())))?;
        }
        accounts::save(path, &server.core().accounts())?;
        eprintln!("accounts with their tokens written to {}", path.display());
    }
    if let Some(path) = &port_file {
        std::fs::write(path, format!("{}\n", server.addr().port()))
            .map_err(|e| SetupError(format!("cannot write {}: {e}", path.display())))?;
    }
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {}", server.url())?;
        out.flush()?;
    }
    wait_for_signal().await;
    eprintln!("shutting down");
    server.shutdown().await;
    Ok(exit_code::SUCCESS)
}

async fn wait_for_signal() {
    if crate::shutdown::installed() {
        return crate::shutdown::wait().await;
    }
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> anyhow::Result<ServerConfig> {
        let cli = Cli::try_parse_from(args)?;
        let Command::Serve(s) = cli.command else {
            panic!("not serve")
        };
        s.server_config(&cli.global)
    }

    #[test]
    fn flags_become_a_config() {
        let c = parse(&[
            "chat-harness",
            "--user",
            "dan@example.com:pw:Dan D",
            "serve",
            "--port",
            "0",
            "--users",
            "3",
            "--limit",
            "get_messages=1000",
            "--limit",
            "login=off",
            "--window-seconds",
            "2",
            "--reset-form",
            "epoch",
            "--production-origin",
            "https://chat.example.com/",
            "--defect",
            "fixed-window",
            "--variant",
            "refuse-417",
            "--variant",
            "serial",
            "--latency",
            "250ms",
        ])
        .unwrap();
        assert_eq!(c.users.len(), 1);
        assert_eq!(c.users[0].full_name, "Dan D");
        assert_eq!(c.generated_users, 3);
        assert_eq!(c.limits.limit(Endpoint::GetMessages), Some(1000));
        assert_eq!(c.limits.limit(Endpoint::Login), None);
        assert_eq!(c.limits.window_seconds, 2);
        assert_eq!(c.reset_form, crate::reference::ResetStyle::Epoch);
        assert_eq!(
            c.production_origin.as_deref(),
            Some("https://chat.example.com")
        );
        assert!(c.defects.contains(&Defect::FixedWindow));
        assert!(c.variants.contains(&Variant::Refuse417) && c.variants.contains(&Variant::Serial));
        assert!(c.variants.contains(&Variant::Latency));
        assert_eq!(c.latency, std::time::Duration::from_millis(250));
        let l = parse(&["chat-harness", "serve", "--variant", "latency"]).unwrap();
        assert_eq!(l.latency, crate::reference::DEFAULT_LATENCY);
        let d = parse(&["chat-harness", "serve"]).unwrap();
        assert_eq!(d.users.len(), 3);
    }

    #[test]
    fn bad_flags_are_usage_errors() {
        for args in [
            &["chat-harness", "serve", "--limit", "get_messages"][..],
            &["chat-harness", "serve", "--limit", "nope=3"],
            &["chat-harness", "serve", "--limit", "login=0"],
            &["chat-harness", "serve", "--window-seconds", "0"],
            &["chat-harness", "serve", "--defect", "no-such-defect"],
            &["chat-harness", "serve", "--variant", "no-such-variant"],
            &["chat-harness", "serve", "--variant", "fixed-window"],
            &["chat-harness", "serve", "--latency", "2m"],
            &[
                "chat-harness",
                "serve",
                "--production-origin",
                "chat.example.com",
            ],
            &["chat-harness", "--user", "nobody", "serve"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(
                crate::cli::exit_code_for(&e),
                crate::error::exit_code::USAGE,
                "{args:?}: {e}"
            );
        }
    }
}
