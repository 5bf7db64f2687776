//! The shard lines of a report: which shard a summary is and whether it
//! started late, or a merged run's per-shard breakdown. Called from the
//! summary's Markdown and HTML writers, so shard and merged reports keep the
//! single run's format with these lines added.

use std::fmt::Write as _;

use crate::load::hist::human_us;
use crate::load::summary::LoadSummary;
use crate::report::escape_xml as esc;

fn late_text(late_ms: Option<i64>, late: bool) -> String {
    match late_ms {
        None => "no agreed start".into(),
        Some(ms) if late => format!("**started {:.1} s late**", ms as f64 / 1e3),
        Some(ms) => format!("on time ({ms} ms after the agreed start)"),
    }
}

/// Markdown lines for a shard or a merged run (empty for a single run).
pub(crate) fn markdown(s: &LoadSummary) -> String {
    let mut o = String::new();
    if let Some(i) = &s.shard {
        let _ = writeln!(
            o,
            "Shard {} of {} (numbered from 0): users {}..{} ({} cell{}, {} chats) of scenario {} `{}`; {}.\n",
            i.index,
            i.count,
            i.first_user,
            i.first_user + i.users,
            i.cells,
            if i.cells == 1 { "" } else { "s" },
            i.chats,
            s.scenario,
            i.scenario_hash,
            late_text(i.late_ms, i.late)
        );
    }
    if let Some(m) = &s.merged {
        let late = m.shards.iter().filter(|r| r.shard.late).count();
        let _ = writeln!(
            o,
            "Merged from {} shards of scenario {} `{}`{}. Histograms are added exactly; \"at most running\" is the sum of the shards' maxima; goose's p99 rows: {}.\n",
            m.shards.len(),
            s.scenario,
            m.scenario_hash,
            if late > 0 {
                format!(", **{late} started late**")
            } else {
                String::new()
            },
            m.goose_p99
        );
        let _ = writeln!(o, "## Shards\n\n| shard | users | chats | start | requests | errors | p99 | sent | delivered | lost | delivery p99 | poll lateness p99 | source |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for r in &m.shards {
            let _ = writeln!(
                o,
                "| {} | {} | {} | +{} s, {} | {} | {} | {} | {} | {} | {} | {} | {} | `{}` |",
                r.shard.index,
                r.shard.users,
                r.shard.chats,
                r.offset_s,
                late_text(r.shard.late_ms, r.shard.late),
                r.requests,
                r.errors,
                human_us(r.latency_p99_us),
                r.delivery.sent,
                r.delivery.delivered,
                r.delivery.lost,
                human_us(r.delivery_p99_us),
                human_us(r.poll_lateness_p99_us),
                r.source
            );
        }
        o.push('\n');
    }
    o
}

/// HTML paragraphs for a shard or a merged run (empty for a single run).
pub(crate) fn html(s: &LoadSummary) -> String {
    let mut o = String::new();
    if let Some(i) = &s.shard {
        let _ = write!(
            o,
            "<p>Shard {} of {} (from 0): users {}..{}, {} chats, scenario hash <code>{}</code>; {}.</p>",
            i.index,
            i.count,
            i.first_user,
            i.first_user + i.users,
            i.chats,
            esc(&i.scenario_hash),
            esc(&late_text(i.late_ms, i.late).replace("**", ""))
        );
    }
    if let Some(m) = &s.merged {
        let _ = write!(
            o,
            "<h2>Shards</h2><p>Merged from {} shards, scenario hash <code>{}</code>.</p><table><tr><th>shard</th><th>users</th><th>start</th><th>requests</th><th>errors</th><th>sent</th><th>delivered</th><th>lost</th><th>delivery p99</th><th>shard report</th></tr>",
            m.shards.len(),
            esc(&m.scenario_hash)
        );
        for r in &m.shards {
            let _ = write!(
                o,
                "<tr><td>{i}</td><td>{}</td><td>+{} s, {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"shards/{i}/summary.html\">summary</a></td></tr>",
                r.shard.users,
                r.offset_s,
                esc(&late_text(r.shard.late_ms, r.shard.late).replace("**", "")),
                r.requests,
                r.errors,
                r.delivery.sent,
                r.delivery.delivered,
                r.delivery.lost,
                human_us(r.delivery_p99_us),
                i = r.shard.index,
            );
        }
        o.push_str("</table>");
    }
    o
}
