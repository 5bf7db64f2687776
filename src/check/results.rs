//! Turning verdicts into the report: the report before any check ran, one
//! entry per check (its outcome by level and `--strict`, every known secret
//! masked, its exchanges recorded), and the report files, rewritten after
//! every check so an interrupted run still leaves a valid partial report.

use std::io::Write;
use std::time::Duration;

use crate::client::Exchange;
use crate::contract::redact;
use crate::report::model::{
    self, CheckResult, ExchangeRecord, Options, Outcome, Report, RunStatus, Tool,
};

use super::context::Ctx;
use super::definition::{CheckDef, Level};
use super::verdict::{Verdict, VerdictKind};
use super::CheckConfig;

/// The report before any check ran (status `incomplete`).
pub(super) fn new_report(
    config: &CheckConfig,
    target: &str,
    embedded: bool,
    selected: usize,
) -> Report {
    Report {
        schema_version: model::SCHEMA_VERSION,
        tool: Tool {
            name: "chat-harness".into(),
            version: env!("CARGO_PKG_VERSION").into(),
        },
        target: target.to_owned(),
        embedded,
        started_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        duration_ms: 0,
        status: RunStatus::Incomplete,
        setup_error: None,
        options: Options {
            strict: config.strict,
            window_seconds: config.window_seconds,
            limits: config
                .limits
                .limits
                .iter()
                .map(|(e, n)| (e.name().to_owned(), *n))
                .collect(),
            known_failing: config.known_failing.iter().cloned().collect(),
            selected,
        },
        summary: Default::default(),
        checks: Vec::new(),
    }
}

fn outcome(config: &CheckConfig, level: Level, kind: VerdictKind) -> Outcome {
    match (kind, level) {
        (VerdictKind::Pass, _) => Outcome::Pass,
        (VerdictKind::Info, _) => Outcome::Info,
        (VerdictKind::Skip, _) => Outcome::Skip,
        (VerdictKind::Error, _) => Outcome::Error,
        (VerdictKind::Fail, Level::Should) if !config.strict => Outcome::NonStrict,
        (VerdictKind::Fail, _) => Outcome::Fail,
    }
}

pub(super) fn base_result(
    config: &CheckConfig,
    def: &CheckDef,
    outcome: Outcome,
    message: String,
) -> CheckResult {
    CheckResult {
        id: def.id.into(),
        clause: def.clause.into(),
        level: def.level.as_str().into(),
        area: def.area().into(),
        tags: def.tags.iter().map(|t| t.to_string()).collect(),
        statement: def.statement.into(),
        outcome,
        message,
        expected: None,
        seen: None,
        notes: Vec::new(),
        known_failing: config.known_failing.contains(def.id),
        duration_ms: 0,
        waited_ms: 0,
        exchanges: Vec::new(),
    }
}

pub(super) fn not_run(config: &CheckConfig, def: &CheckDef, reason: &str) -> CheckResult {
    base_result(config, def, Outcome::Skip, reason.to_owned())
}

pub(super) fn to_result(
    config: &CheckConfig,
    cx: &Ctx,
    def: &CheckDef,
    v: Verdict,
    took: Duration,
    waited: Duration,
) -> CheckResult {
    let secrets: Vec<String> = if config.show_secrets {
        Vec::new()
    } else {
        cx.known_secrets()
            .into_iter()
            .map(|(_, s)| s)
            .filter(|s| s.len() >= 4)
            .collect()
    };
    verdict_result(config, &secrets, def, v, took, waited)
}

/// A verdict as a report entry, every secret in `secrets` masked.
pub(super) fn verdict_result(
    config: &CheckConfig,
    secrets: &[String],
    def: &CheckDef,
    v: Verdict,
    took: Duration,
    waited: Duration,
) -> CheckResult {
    let scrub = |s: String| {
        secrets
            .iter()
            .fold(s, |acc, secret| acc.replace(secret.as_str(), redact::MASK))
    };
    let mut r = base_result(
        config,
        def,
        outcome(config, def.level, v.kind),
        scrub(v.message),
    );
    if r.known_failing && r.outcome == Outcome::Pass {
        r.notes
            .push("listed in --known-failing but passed: remove it from the list (stale)".into());
    }
    r.expected = v.expected.map(&scrub);
    r.seen = v.seen.map(&scrub);
    r.notes.extend(v.notes.into_iter().map(&scrub));
    r.duration_ms = took.as_millis() as u64;
    r.waited_ms = waited.as_millis() as u64;
    r.exchanges = v
        .evidence
        .iter()
        .map(|ex| record(ex, config.show_secrets, &scrub))
        .collect();
    r
}

fn record(ex: &Exchange, show: bool, scrub: &dyn Fn(String) -> String) -> ExchangeRecord {
    let req = if show {
        ex.request.clone()
    } else {
        ex.request.redacted()
    };
    ExchangeRecord {
        method: req.method.clone(),
        url: scrub(req.url.clone()),
        request_headers: req
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), scrub(v.clone())))
            .collect(),
        request_body: req.body.clone().map(scrub),
        status: ex.status,
        response_headers: ex
            .headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                let v = if !show && k.as_str() == "set-cookie" {
                    redact::MASK.to_owned()
                } else {
                    scrub(v)
                };
                (k.as_str().to_owned(), v)
            })
            .collect(),
        body_excerpt: scrub(ex.body_excerpt(2000, show)),
        elapsed_ms: ex.elapsed.as_millis() as u64,
        curl: scrub(ex.to_curl(show)),
    }
}

pub(super) fn write_reports(config: &CheckConfig, report: &Report, out: &mut (dyn Write + Send)) {
    if let Some(dir) = &config.report_dir {
        if let Err(e) = crate::report::write_all(dir, report) {
            let _ = writeln!(
                out,
                "warning: cannot write the report to {}: {e}",
                dir.display()
            );
        }
    }
}
