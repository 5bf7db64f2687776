//! While a run goes on: the live progress line on stderr, and a partial
//! summary written every ten seconds so that a killed run still leaves its
//! numbers.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dist::shard::Prepared;
use super::hist;
use super::shared::Shared;
use super::slo::Slo;
use super::summarise::{summarise, write_reports};

/// The live progress line, and a partial summary every ten seconds so that
/// a killed run still leaves its numbers.
pub(super) async fn progress_loop(
    shared: Arc<Shared>,
    dir: PathBuf,
    target: String,
    started_at: String,
    slos: Vec<Slo>,
    show: bool,
    part: Option<Arc<Prepared>>,
) {
    let tty = std::io::stderr().is_terminal();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_total = 0;
    let mut n = 0u64;
    loop {
        tick.tick().await;
        n += 1;
        let now = Instant::now();
        shared.stats.sample_users(now);
        let (total, errors) = shared.stats.totals();
        let rate = total - last_total;
        last_total = total;
        let p99 = shared.stats.take_recent_p99_us();
        if show && (tty || n.is_multiple_of(10)) {
            let d = shared.tracker.report();
            let line = format!(
                "t={:>4}s users={:>6} req/s={:>7} p99={:>9} delivery p99={:>9} sent={} lost={} errors={}",
                now.saturating_duration_since(shared.stats.origin()).as_secs(),
                shared.stats.active_users.load(std::sync::atomic::Ordering::Relaxed),
                rate,
                hist::human_us(p99),
                hist::human_us(d.latency.p99_us),
                d.counts.sent,
                d.counts.lost,
                errors
            );
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
        if n.is_multiple_of(10) {
            let s = summarise(
                &shared,
                &target,
                &started_at,
                &slos,
                None,
                true,
                part.as_deref(),
            );
            let _ = write_reports(&dir, &s);
        }
    }
}
