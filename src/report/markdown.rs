//! `report.md`: a summary fit for a CI job summary (GitHub's
//! `$GITHUB_STEP_SUMMARY`): the verdict, a table per area, then the details of
//! every failure with the exchanges and a curl reproduction.

use std::fmt::Write;

use super::model::{CheckResult, Outcome, Report};

fn icon(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "✅",
        Outcome::Fail => "❌",
        Outcome::NonStrict => "⚠️",
        Outcome::Info => "ℹ️",
        Outcome::Skip => "⏭️",
        Outcome::Error => "💥",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# chat-harness check: {}\n",
        s.verdict.replace('_', " ")
    );
    let _ = writeln!(
        out,
        "Target `{}`{} · {} checks · {} pass · {} fail · {} non-strict · {} info · {} skip · {} error{}{} · {:.1} s (waited {:.1} s)\n",
        r.target,
        if r.embedded { " (embedded reference server)" } else { "" },
        s.total, s.pass, s.fail, s.non_strict, s.info, s.skip, s.error,
        if s.known_failing > 0 { format!(" · {} known failing", s.known_failing) } else { String::new() },
        if s.stale > 0 { format!(" · {} stale known-failing", s.stale) } else { String::new() },
        r.duration_ms as f64 / 1e3,
        s.waited_ms as f64 / 1e3,
    );
    if let Some(why) = &r.setup_error {
        let _ = writeln!(
            out,
            "> **No check ran: the run could not be set up.** {}\n",
            why.replace('\n', " ")
        );
    } else if r.status != super::model::RunStatus::Complete {
        let _ = writeln!(
            out,
            "> **The run did not finish ({:?}): this report is partial.**\n",
            r.status
        );
    }
    let _ = writeln!(
        out,
        "| | ID | Level | Requirement | Result |\n|---|---|---|---|---|"
    );
    for c in &r.checks {
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} | {}{} |",
            icon(c.outcome),
            c.id,
            c.level,
            cell(&c.statement),
            if c.known_failing {
                "(known failing) "
            } else {
                ""
            },
            cell(&c.message)
        );
    }
    let bad: Vec<&CheckResult> = r
        .checks
        .iter()
        .filter(|c| {
            matches!(
                c.outcome,
                Outcome::Fail | Outcome::NonStrict | Outcome::Error
            )
        })
        .collect();
    // After a setup failure every check says the same: the banner above is
    // the one thing to fix.
    if !bad.is_empty() && r.setup_error.is_none() {
        let _ = writeln!(out, "\n## What to fix\n");
        for c in bad {
            let _ = writeln!(
                out,
                "### {} `{}` ({} {})\n",
                icon(c.outcome),
                c.id,
                c.level,
                c.clause
            );
            let _ = writeln!(out, "{}\n", c.statement);
            let _ = writeln!(
                out,
                "```text\n{}\n```\n",
                details_text(c).replace("```", "'''")
            );
        }
    }
    out
}

/// The plain-text details of a check: message, expected, seen, notes, and
/// each exchange with its curl reproduction.
pub fn details_text(c: &CheckResult) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", c.message);
    if let Some(e) = &c.expected {
        let _ = writeln!(out, "expected: {e}");
    }
    if let Some(s) = &c.seen {
        let _ = writeln!(out, "seen:     {s}");
    }
    for n in &c.notes {
        let _ = writeln!(out, "note:     {n}");
    }
    for (i, x) in c.exchanges.iter().enumerate() {
        let _ = writeln!(out, "\nexchange {}: {} {}", i + 1, x.method, x.url);
        if let Some(b) = &x.request_body {
            let _ = writeln!(out, "  body: {}", trim(b, 300));
        }
        let _ = writeln!(out, "  -> HTTP {} in {} ms", x.status, x.elapsed_ms);
        for (k, v) in &x.response_headers {
            let _ = writeln!(out, "  {k}: {v}");
        }
        let _ = writeln!(out, "  {}", trim(&x.body_excerpt, 600));
        let _ = writeln!(out, "  reproduce: {}", x.curl);
    }
    out.trim_end().to_owned()
}

fn trim(s: &str, max: usize) -> String {
    if s.len() > max {
        format!("{}…", &s[..s.floor_char_boundary(max)])
    } else {
        s.to_owned()
    }
}
