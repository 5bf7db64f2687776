//! goose prints "All N users launched." on stdout (`println!` in its
//! metrics code, with no option to turn it off), which mixed with the
//! verdict and broke `-q`. While goose runs, the command line diverts the
//! process's stdout: to stderr normally (stdout keeps only the verdict), to
//! /dev/null under `-q`. Off unless the command line asks (`divert_goose`),
//! so a library user or an in-process test never has its stdout moved.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

const OFF: u8 = 0;
const TO_STDERR: u8 = 1;
const TO_NULL: u8 = 2;

static MODE: AtomicU8 = AtomicU8::new(OFF);

/// Called once by the command line: goose's stdout goes to stderr, or
/// nowhere when `quiet`.
pub(crate) fn divert_goose(quiet: bool) {
    MODE.store(if quiet { TO_NULL } else { TO_STDERR }, Ordering::SeqCst);
}

/// Restores stdout when dropped.
pub(crate) struct Diverted {
    saved: Option<libc::c_int>,
}

/// Diverts stdout as `divert_goose` asked, until the guard is dropped.
#[cfg(unix)]
pub(crate) fn divert() -> Diverted {
    let mode = MODE.load(Ordering::SeqCst);
    if mode == OFF {
        return Diverted { saved: None };
    }
    let _ = std::io::stdout().flush();
    // SAFETY: plain descriptor calls on descriptors this function opens or
    // owns; on any failure stdout is left as it was.
    unsafe {
        let to = if mode == TO_NULL {
            libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC)
        } else {
            libc::dup(2)
        };
        if to < 0 {
            return Diverted { saved: None };
        }
        let saved = libc::dup(1);
        if saved < 0 || libc::dup2(to, 1) < 0 {
            libc::close(to);
            if saved >= 0 {
                libc::close(saved);
            }
            return Diverted { saved: None };
        }
        libc::close(to);
        Diverted { saved: Some(saved) }
    }
}

#[cfg(not(unix))]
pub(crate) fn divert() -> Diverted {
    Diverted { saved: None }
}

impl Drop for Diverted {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = std::io::stdout().flush();
            // SAFETY: `saved` is the descriptor `divert` duplicated.
            unsafe {
                libc::dup2(saved, 1);
                libc::close(saved);
            }
        }
    }
}
