//! The console: one line per check as it finishes, grouped by area, the
//! details of failures, and a closing summary line. Colour only on a terminal.

use std::io::Write;

use super::model::{CheckResult, Outcome, Report};

/// How the console looks.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
    /// Show exchanges of failures (`-v`).
    pub verbose: bool,
}

fn paint(style: Style, code: &str, text: &str) -> String {
    if style.color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn label(style: Style, o: Outcome) -> String {
    let (code, text) = match o {
        Outcome::Pass => ("32", "pass"),
        Outcome::Fail => ("1;31", "FAIL"),
        Outcome::NonStrict => ("33", "non-strict"),
        Outcome::Info => ("36", "info"),
        Outcome::Skip => ("2", "skip"),
        Outcome::Error => ("1;35", "ERROR"),
    };
    paint(style, code, &format!("{text:>10}"))
}

/// Prints an area heading when the area changes.
pub fn area_heading(out: &mut dyn Write, style: Style, area: &str) {
    let _ = writeln!(out, "\n{}", paint(style, "1", &format!("== {area}")));
}

/// Prints one finished check.
pub fn check_line(out: &mut dyn Write, style: Style, c: &CheckResult) {
    let _ = writeln!(
        out,
        "{} {:<11} {:<6} {}{}",
        label(style, c.outcome),
        c.id,
        c.level,
        if c.known_failing {
            "(known failing) "
        } else {
            ""
        },
        c.message
    );
    if matches!(
        c.outcome,
        Outcome::Fail | Outcome::NonStrict | Outcome::Error
    ) {
        if let Some(e) = &c.expected {
            let _ = writeln!(out, "{:>29}expected: {e}", "");
        }
        if let Some(s) = &c.seen {
            let _ = writeln!(out, "{:>29}seen:     {s}", "");
        }
        for n in &c.notes {
            let _ = writeln!(out, "{:>29}note:     {n}", "");
        }
        if let Some(x) = c.exchanges.first() {
            let _ = writeln!(out, "{:>29}{} {} -> {}", "", x.method, x.url, x.status);
            if style.verbose {
                let _ = writeln!(out, "{:>29}{}", "", x.body_excerpt);
            }
            let _ = writeln!(out, "{:>29}reproduce: {}", "", x.curl);
        }
    }
}

/// The closing summary line.
pub fn summary_line(out: &mut dyn Write, style: Style, r: &Report) {
    let s = &r.summary;
    let verdict = match s.verdict.as_str() {
        "conformant" => paint(style, "1;32", "CONFORMANT"),
        "non_conformant" => paint(style, "1;31", "NOT CONFORMANT"),
        other => paint(style, "1;33", &other.to_uppercase()),
    };
    let _ = writeln!(
        out,
        "\n{verdict}: {} checks, {} pass, {} fail, {} non-strict, {} info, {} skip, {} error{}{} in {:.1} s (checks waited {:.1} s in all for windows and quota)",
        s.total,
        s.pass,
        s.fail,
        s.non_strict,
        s.info,
        s.skip,
        s.error,
        if s.known_failing > 0 { format!(", {} known failing", s.known_failing) } else { String::new() },
        if s.stale > 0 { format!(", {} stale known-failing entries", s.stale) } else { String::new() },
        r.duration_ms as f64 / 1e3,
        s.waited_ms as f64 / 1e3
    );
    // A verdict is only worth the checks that ran: name the others.
    let not_run: Vec<&str> = r
        .checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Skip))
        .map(|c| c.id.as_str())
        .collect();
    if !not_run.is_empty() {
        let _ = writeln!(
            out,
            "not evaluated ({}): {} (see each check's message for why)",
            not_run.len(),
            not_run.join(", ")
        );
    }
}
