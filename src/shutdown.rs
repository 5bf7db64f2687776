//! Signals, one way for every command. The first SIGINT (Ctrl-C), SIGTERM or
//! SIGHUP asks the running command to stop and write what it has measured,
//! marked interrupted; a second one exits at once (code 130), leaving the
//! partial reports already on disk.
//!
//! Why our own handler: goose installs a Ctrl-C handler of its own that
//! catches SIGINT only, so a `load` or `capacity` run killed with SIGTERM (as
//! CI runners, `timeout` and container stops do) lost everything it measured,
//! and a Ctrl-C between two capacity steps was forgotten when the next step's
//! goose reset its kill switch. Installing ours first makes goose's attempt
//! fail harmlessly (it then only resets its kill switch), and the flag here is
//! sticky, so a signal is never lost between phases. `main.rs` installs it;
//! in-process runs (tests) have none and are never interrupted.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use tokio::sync::Notify;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static GRACEFUL: AtomicBool = AtomicBool::new(false);
static SIGNALS: AtomicU32 = AtomicU32::new(0);
static NOTIFY: Notify = Notify::const_new();

/// The reason an interrupted run records (contains "interrupted": readers
/// such as `capacity` look for that word).
pub(crate) const REASON: &str = "interrupted by a signal (Ctrl-C, SIGTERM or SIGHUP)";

/// Exit code after a second signal (or the first, for a command with nothing
/// to save): the shell convention for SIGINT.
pub(crate) const EXIT_ON_SECOND_SIGNAL: i32 = 130;

/// Installs the process-wide handler. Call once, before anything else
/// (goose) tries to install one.
pub fn install() -> Result<(), String> {
    ctrlc::set_handler(|| {
        if !GRACEFUL.load(Ordering::SeqCst) {
            std::process::exit(EXIT_ON_SECOND_SIGNAL);
        }
        if SIGNALS.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "\nchat-harness: signal received, stopping and writing what was measured (again to exit at once)"
            );
            NOTIFY.notify_waiters();
        } else {
            eprintln!("\nchat-harness: second signal, exiting now");
            std::process::exit(EXIT_ON_SECOND_SIGNAL);
        }
    })
    .map_err(|e| format!("cannot install the signal handler: {e}"))?;
    INSTALLED.store(true, Ordering::SeqCst);
    Ok(())
}

/// The running command stops cleanly on a signal (it watches [`requested`]
/// or [`wait`]); without this, a signal exits at once.
pub(crate) fn graceful() {
    GRACEFUL.store(true, Ordering::SeqCst);
}

/// True when [`install`] succeeded in this process.
pub(crate) fn installed() -> bool {
    INSTALLED.load(Ordering::SeqCst)
}

/// True once a stop was asked for.
pub(crate) fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Resolves once a stop is asked for (at once if it already was); never
/// without an installed handler.
pub(crate) async fn wait() {
    loop {
        let notified = NOTIFY.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if requested() {
            return;
        }
        notified.await;
    }
}
