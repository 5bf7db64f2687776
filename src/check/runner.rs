//! Running the suite: select, plan, set up the target and users, run each
//! check (bounded by the deadline, stoppable by Ctrl-C), and turn verdicts
//! into the report (`results.rs`), rewritten after every check so an
//! interrupted run still leaves a valid partial report. `start_target`
//! starts the embedded reference server or names the URL and accounts.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::client::{Client, ClientConfig};
use crate::error::exit_code;
use crate::error::{SetupError, UsageError};
use crate::reference::{self, RunningServer, ServerConfig};
use crate::report::console::{self, Style};
use crate::report::model::{CheckResult, Outcome, Report, RunStatus};

use super::context::setup::{Setup, SetupFailure};
use super::context::Ctx;
use super::definition::{CheckDef, Phase};
use super::results::{base_result, new_report, not_run, to_result, verdict_result, write_reports};
use super::verdict::{Verdict, VerdictKind};
use super::wait_plan::WaitPlan;
use super::{CheckConfig, Target};

/// Generated users of the embedded server: enough that every check that
/// wants users of its own gets them.
pub(crate) const EMBEDDED_USERS: usize = 48;

/// The embedded server's window when none is given: short, so that the slow
/// checks take seconds rather than minutes.
pub const EMBEDDED_WINDOW: u64 = 3;

/// The production origin the embedded server allows (CORS-1 checks it).
pub(crate) const EMBEDDED_ORIGIN: &str = "https://chat.example.com";

/// What a finished run produced.
#[derive(Debug)]
pub struct RunOutput {
    pub report: Report,
    pub exit_code: u8,
    /// What the run planned to wait for (printed before the first check).
    pub plan: Option<WaitPlan>,
    /// Fresh users the checks took (the plan's estimate is held to it).
    pub fresh_users_taken: u64,
}

/// Runs `check` as the command line does: returns the exit code, or an
/// error carrying [`UsageError`] (exit 2) or [`SetupError`] (exit 3).
pub async fn run(config: CheckConfig, out: &mut (dyn Write + Send)) -> anyhow::Result<u8> {
    Ok(execute(config, out)
        .await?
        .map(|o| o.exit_code)
        .unwrap_or(exit_code::SUCCESS))
}

/// Runs the suite; `None` when only listing.
pub async fn execute(
    config: CheckConfig,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<Option<RunOutput>> {
    let mut selected = config.selection.apply(super::catalogue());
    if selected.is_empty() {
        return Err(UsageError(
            "no check selected: see `chat-harness check --list` for IDs, clauses and tags".into(),
        )
        .into());
    }
    if config.list {
        print_list(out, &selected);
        return Ok(None);
    }
    // The plan: quota-hungry phases last; within a phase, catalogue order.
    selected.sort_by_key(|c| c.phase);

    let style = Style {
        color: config.color,
        verbose: config.verbose,
    };
    let (server, base_url, accounts, production_origin) = start_target(&config).await?;
    let mut report = new_report(&config, &base_url, server.is_some(), selected.len());
    let started = Instant::now();
    let mut client_config = ClientConfig::new(base_url.clone());
    client_config.timeout = config.timeout;
    let client = Client::new(client_config).map_err(|e| SetupError(e.to_string()))?;
    let setup = Setup {
        client,
        limits: config.limits.clone(),
        window_secs: config.window_seconds,
        show_secrets: config.show_secrets,
        signup_allowed: config.signup,
        production_origin,
        accounts,
        announce_waits: true,
        accounts_are_new: server.is_some(),
    };
    let cx = match Ctx::setup(setup).await {
        Ok(cx) => cx,
        Err(SetupFailure::Usage(m)) => return Err(UsageError(m).into()),
        Err(SetupFailure::Nonconformant { clauses, verdict }) => {
            // An answer the contract forbids is a finding even in set-up:
            // the clauses it breaks fail, the rest are not evaluated.
            let why = verdict.message.clone();
            report.status = RunStatus::SetupFailed;
            report.setup_error = Some(why.clone());
            report.checks = selected
                .iter()
                .map(|def| {
                    if clauses.contains(&def.clause) {
                        verdict_result(
                            &config,
                            &[],
                            def,
                            verdict.clone(),
                            started.elapsed(),
                            Duration::ZERO,
                        )
                    } else {
                        not_run(
                            &config,
                            def,
                            &format!("not evaluated: the run could not be set up: {why}"),
                        )
                    }
                })
                .collect();
            report.duration_ms = started.elapsed().as_millis() as u64;
            report.summarize();
            write_reports(&config, &report, out);
            console::summary_line(out, style, &report);
            let _ = writeln!(out, "set-up failed: {why} (breaks {})", clauses.join(", "));
            if let Some(dir) = &config.report_dir {
                let _ = writeln!(out, "reports: {}", dir.display());
            }
            if let Some(s) = server {
                s.shutdown().await;
            }
            return Ok(Some(RunOutput {
                report,
                exit_code: exit_code::TARGET_FAILED,
                plan: None,
                fresh_users_taken: 0,
            }));
        }
        Err(SetupFailure::Target(m)) => {
            // A CI that gates on junit.xml must see why nothing ran, not a
            // missing file: the report names the failure on every check.
            report.status = RunStatus::SetupFailed;
            report.setup_error = Some(m.clone());
            report.checks = selected
                .iter()
                .map(|def| {
                    let why = format!("not evaluated: the run could not be set up: {m}");
                    base_result(&config, def, Outcome::Error, why)
                })
                .collect();
            report.duration_ms = started.elapsed().as_millis() as u64;
            report.summarize();
            write_reports(&config, &report, out);
            if let Some(dir) = &config.report_dir {
                let _ = writeln!(out, "reports: {}", dir.display());
            }
            if let Some(s) = server {
                s.shutdown().await;
            }
            return Err(SetupError(m).into());
        }
    };
    let plan = WaitPlan::of(
        &selected,
        cx.pool_len(),
        config.signup,
        !cx.setup_logins.is_empty(),
        &config.limits,
        Duration::from_secs(config.window_seconds),
    );
    if !config.quiet {
        let _ = writeln!(
            out,
            "chat-harness check: {} checks against {base_url}{} (window {} s)",
            selected.len(),
            if server.is_some() {
                " (embedded reference server)"
            } else {
                ""
            },
            config.window_seconds
        );
        let _ = writeln!(
            out,
            "{}",
            plan.describe(config.limits.limit(crate::contract::Endpoint::Signup))
        );
    }

    // The slow checks (whole windows of waiting on their own users' buckets)
    // run in the background while the others go on: at a 60 s window that
    // is minutes a user does not wait twice.
    // Unless the checks that want users of their own borrow the shared
    // three (no spare account, no signup): then everything runs in turn,
    // and the checks that log their user in again run after every other
    // one that uses the shared pairs (a login may rotate the secret).
    let lending = plan.lent > 0;
    if lending {
        selected.sort_by_key(|c| {
            (
                c.phase == Phase::ExhaustsAddress,
                super::wait_plan::RELOGIN.contains(&c.id),
                c.phase,
            )
        });
    }
    // A slow check that spends the address's login or signup bucket (RL-3.2)
    // stays in turn: the others log in and sign up users meanwhile.
    let (background, foreground): (Vec<CheckDef>, Vec<CheckDef>) = selected.iter().partition(|c| {
        !lending && c.phase == Phase::Slow && !c.has_tag("login") && !c.has_tag("signup")
    });
    let bg_remaining = config.deadline.map(|d| d.saturating_sub(started.elapsed()));
    let background_run = futures::future::join_all(background.iter().map(|def| {
        let cx = &cx;
        async move {
            let t0 = Instant::now();
            let (verdict, waited) = tokio::select! {
                r = run_one(cx, def, bg_remaining) => r,
                _ = interrupted(config.handle_interrupt) => (
                    Verdict::error("interrupted (Ctrl-C or SIGTERM) while running"),
                    Duration::ZERO,
                ),
            };
            (def, verdict, t0.elapsed(), waited)
        }
    }));
    let mut area = "";
    // Phases interleave areas (CORS-2b.2 spends a bucket among the RL
    // checks; the slow checks end last): a heading met again says so.
    let mut headed: Vec<&str> = Vec::new();
    let mut stopped: Option<String> = None;
    let foreground_run = async {
        for def in &foreground {
            if let Some(reason) = &stopped {
                report.checks.push(not_run(&config, def, reason));
                continue;
            }
            if def.area() != area && !config.quiet {
                area = def.area();
                heading(out, style, &mut headed, area);
            }
            let remaining = config.deadline.map(|d| d.saturating_sub(started.elapsed()));
            if remaining == Some(Duration::ZERO) {
                stopped = Some("not run: the --deadline was reached".into());
                report.checks.push(not_run(
                    &config,
                    def,
                    stopped.as_deref().unwrap_or_default(),
                ));
                continue;
            }
            let t0 = Instant::now();
            let (verdict, waited) = tokio::select! {
                r = run_one(&cx, def, remaining) => r,
                _ = interrupted(config.handle_interrupt) => {
                    stopped = Some("not run: the run was interrupted".into());
                    (Verdict::error("interrupted (Ctrl-C or SIGTERM) while running"), Duration::ZERO)
                }
            };
            if remaining.is_some()
                && verdict.kind == VerdictKind::Error
                && verdict.message.starts_with("the --deadline")
            {
                stopped = Some("not run: the --deadline was reached".into());
            }
            let result = to_result(&config, &cx, def, verdict, t0.elapsed(), waited);
            emit(&config, style, out, &result);
            report.checks.push(result);
            report.duration_ms = started.elapsed().as_millis() as u64;
            report.summarize();
            write_reports(&config, &report, out);
        }
    };
    let (background_done, ()) = tokio::join!(background_run, foreground_run);
    for (def, verdict, took, waited) in background_done {
        if def.area() != area && !config.quiet {
            area = def.area();
            heading(out, style, &mut headed, area);
        }
        if verdict.kind == VerdictKind::Error && verdict.message.starts_with("interrupted") {
            stopped.get_or_insert_with(|| "not run: the run was interrupted".into());
        }
        let result = to_result(&config, &cx, def, verdict, took, waited);
        emit(&config, style, out, &result);
        report.checks.push(result);
    }
    report.status = if stopped.is_some() {
        RunStatus::Interrupted
    } else {
        RunStatus::Complete
    };
    report.duration_ms = started.elapsed().as_millis() as u64;
    report.summarize();
    write_reports(&config, &report, out);
    console::summary_line(out, style, &report);
    if let Some(dir) = &config.report_dir {
        let _ = writeln!(out, "reports: {}", dir.display());
    }
    if let Some(s) = server {
        s.shutdown().await;
    }
    let exit_code = if report.fatal_count() > 0 || report.status != RunStatus::Complete {
        exit_code::TARGET_FAILED
    } else {
        exit_code::SUCCESS
    };
    Ok(Some(RunOutput {
        report,
        exit_code,
        plan: Some(plan),
        fresh_users_taken: cx.fresh_taken(),
    }))
}

/// Resolves when the run should stop: the process-wide handler (SIGINT,
/// SIGTERM, SIGHUP) when the binary installed it, else Ctrl-C.
async fn interrupted(enabled: bool) {
    if !enabled {
        return std::future::pending::<()>().await;
    }
    if crate::shutdown::installed() {
        return crate::shutdown::wait().await;
    }
    if tokio::signal::ctrl_c().await.is_ok() {
        return;
    }
    std::future::pending::<()>().await
}

/// Runs one check in its own scope (rate-limit checks send unpaced): its
/// verdict and the time it spent waiting on purpose.
async fn run_one(cx: &Ctx, def: &CheckDef, remaining: Option<Duration>) -> (Verdict, Duration) {
    let fut = async {
        let fut = (def.run)(cx);
        match remaining {
            None => fut.await,
            Some(r) => tokio::time::timeout(r, fut).await.unwrap_or_else(|_| {
                Verdict::error("the --deadline was reached while this check ran")
            }),
        }
    };
    cx.in_check(!def.has_tag("rl"), fut).await
}

/// An area's heading, `(continued)` when the area was headed before.
fn heading<'a>(
    out: &mut (dyn Write + Send),
    style: Style,
    headed: &mut Vec<&'a str>,
    area: &'a str,
) {
    if headed.contains(&area) {
        console::area_heading(out, style, &format!("{area} (continued)"));
    } else {
        headed.push(area);
        console::area_heading(out, style, area);
    }
}

/// Prints a finished check's line (with -q only what needs attention).
fn emit(config: &CheckConfig, style: Style, out: &mut (dyn Write + Send), result: &CheckResult) {
    if !config.quiet
        || matches!(
            result.outcome,
            Outcome::Fail | Outcome::NonStrict | Outcome::Error
        )
    {
        console::check_line(out, style, result);
    }
}

/// Starts the embedded server, or names the URL and the accounts to use.
async fn start_target(
    config: &CheckConfig,
) -> anyhow::Result<(
    Option<RunningServer>,
    String,
    Vec<crate::accounts::Account>,
    Option<String>,
)> {
    match &config.target {
        Target::Url(url) => {
            if config.accounts.is_empty() && !config.signup {
                return Err(UsageError(
                    "check --target --no-signup needs accounts: --user EMAIL:PASSWORD (three or more) or --accounts FILE".into(),
                )
                .into());
            }
            Ok((
                None,
                url.clone(),
                config.accounts.clone(),
                config.production_origin.clone(),
            ))
        }
        Target::Embedded(opts) => {
            let mut sc = ServerConfig::default()
                .with_generated_users(EMBEDDED_USERS)
                .with_reset_form(opts.reset_form)
                .with_production_origin(EMBEDDED_ORIGIN);
            sc.limits = config.limits.clone();
            sc = sc.with_window(config.window_seconds);
            for d in &opts.defects {
                sc = sc.with_defect(*d);
            }
            let server = reference::embedded(sc).await?;
            let url = server.url();
            let accounts = server.core().accounts();
            Ok((
                Some(server),
                url,
                accounts,
                Some(EMBEDDED_ORIGIN.to_owned()),
            ))
        }
    }
}

fn print_list(out: &mut (dyn Write + Send), checks: &[CheckDef]) {
    let _ = writeln!(
        out,
        "{:<11} {:<9} {:<6} {:<26} statement",
        "id", "clause", "level", "tags"
    );
    for c in checks {
        let _ = writeln!(
            out,
            "{:<11} {:<9} {:<6} {:<26} {}",
            c.id,
            c.clause,
            c.level.as_str(),
            c.tags.join(","),
            c.statement
        );
    }
    let _ = writeln!(out, "{} checks", checks.len());
}
