//! The result of `chat-harness limits`: a versioned serde model and its
//! renderings (console table, `limits.json`, `limits.md`), each a pure
//! function of the model.

use std::fmt::Write as _;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::probe::Concurrent;
use super::window::WindowVerdict;
use crate::contract::Endpoint;

/// Bumped on any incompatible change of `limits.json`.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON Schema of `limits.json`, as shipped in the repository (generated
/// from [`LimitsReport`] by `report::schema::generate`).
pub const SCHEMA: &str = include_str!("limits.schema.json");

/// The whole run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "chat-harness rate-limit report",
    description = "limits.json written by `chat-harness limits --report DIR` (schema_version 1): how each endpoint's rate limit behaved.",
    extend("$id" = "https://github.com/chat-harness/chat-harness/limits.schema.json")
)]
pub struct LimitsReport {
    /// Version of this format, bumped on any incompatible change.
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// The program that wrote the file: `chat-harness <version>`.
    #[schemars(pattern("^chat-harness "))]
    pub tool: String,
    /// The server measured (the embedded reference server's loopback URL when
    /// no `--target` was given).
    pub target: String,
    /// Whether the target was the embedded reference server.
    pub embedded: bool,
    /// The window the expected limits are stated for, seconds.
    #[schemars(range(min = 1))]
    pub window_seconds: u64,
    /// When the measurements started (UTC, RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// Wall time of the measurements, seconds.
    #[schemars(range(min = 0))]
    pub duration_seconds: f64,
    /// True when the run was cut short by a signal (Ctrl-C, SIGTERM);
    /// endpoints then holds only the endpoints measured to the end.
    pub interrupted: bool,
    /// True when every selected endpoint was measured and its configuration
    /// holds (never true when interrupted).
    pub holds: bool,
    /// Accounts the run acted as: two at least (A probed, B for isolation,
    /// observing and the login probe); with a third, atomicity runs at once
    /// instead of after a window.
    #[schemars(range(min = 2))]
    pub accounts: usize,
    /// Whether every pair the tool held kept working. Each login the tool
    /// makes keeps the pair its answer carries (a server may issue a new
    /// secret at every login); a 401 on a pair no login of the tool replaced
    /// is a fail: the server revoked it.
    pub tokens: Finding,
    /// One entry per endpoint measured, in endpoint order.
    pub endpoints: Vec<EndpointReport>,
}

/// Whether one aspect held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As expected.
    Ok,
    /// Breaks the expectation (fails the run).
    Fail,
    /// Allowed, but not what the contract recommends (SHOULD).
    Warn,
    /// Not measured, with the reason in `detail`.
    Skip,
    /// Could not be measured (transport errors, unexpected answers).
    Error,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Fail => "FAIL",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

/// Whether one aspect held, and why in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// `ok` as expected; `fail` breaks the expectation (fails the run);
    /// `warn` allowed but not what the contract recommends (SHOULD); `skip`
    /// not measured, reason in detail; `error` could not be measured
    /// (transport errors, unexpected answers).
    pub status: Status,
    /// The reason, with the numbers seen.
    pub detail: String,
}

impl Finding {
    pub fn new(status: Status, detail: impl Into<String>) -> Finding {
        Finding {
            status,
            detail: detail.into(),
        }
    }
    pub fn ok(detail: impl Into<String>) -> Finding {
        Finding::new(Status::Ok, detail)
    }
    pub fn fail(detail: impl Into<String>) -> Finding {
        Finding::new(Status::Fail, detail)
    }
    pub fn skip(detail: impl Into<String>) -> Finding {
        Finding::new(Status::Skip, detail)
    }
    pub fn error(detail: impl Into<String>) -> Finding {
        Finding::new(Status::Error, detail)
    }
}

/// How the server refused.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct RefusalReport {
    /// HTTP status of the first refusal; null when none was seen.
    #[schemars(range(min = 100, max = 999))]
    pub status: Option<u16>,
    /// Its Retry-After, seconds; null when absent or not a number.
    pub retry_after: Option<u64>,
    /// Whether it carried Remaining 0, in the X-RateLimit-Remaining header or
    /// as a key of the JSON body.
    pub remaining_zero: bool,
    /// Where the refusal's rate-limit values were: `headers` (the contract's
    /// form), `body` (only as keys of the JSON body), `nowhere`; null when no
    /// refusal was seen.
    pub values_in: Option<crate::contract::refusal::ValuesIn>,
    /// The refusal as the classifier read it, in words: status, the signs
    /// that made it a refusal, where the values were, Retry-After; null when
    /// no refusal was seen.
    pub form: Option<String>,
    /// Whether the refused request's effect is visible anyway (a stored
    /// message, a created chat or user); null where the endpoint creates
    /// nothing, no refusal was seen, or the effect could not be looked up.
    pub had_effect: Option<bool>,
    /// A curl command reproducing the refused request, secrets masked; null
    /// when no refusal was seen.
    pub curl: Option<String>,
    /// The refusal judged: 429 expected, anything else is a warning.
    pub finding: Finding,
}

/// Atomicity under simultaneous requests.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Atomicity {
    /// What the simultaneous burst got; null when it did not run.
    pub run: Option<Concurrent>,
    /// Accepted exactly `limit` times, or not.
    pub finding: Finding,
}

/// Everything measured about one endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct EndpointReport {
    /// The endpoint measured.
    pub endpoint: Endpoint,
    /// What its bucket is keyed by: the user (endpoints needing a token) or
    /// the client address (login, signup).
    #[schemars(extend("enum" = ["user", "client address"]))]
    pub keyed_by: String,
    /// The limit per window the expectations file gives, requests.
    #[schemars(range(min = 1))]
    pub expected: u32,
    /// Requests accepted on a fresh bucket before the first refusal; null
    /// when no refusal was seen (the limit is not enforced, or the probe was
    /// disturbed).
    pub observed: Option<u32>,
    /// X-RateLimit-Limit as the server announced it on the first answer;
    /// null when missing or not a number.
    pub header_limit: Option<u64>,
    /// Observed against expected and against the header.
    pub limit: Finding,
    /// Whether X-RateLimit-Remaining fell by exactly one per accepted request.
    pub remaining: Finding,
    /// Which form X-RateLimit-Reset took on the probe's answers: `delta`
    /// (seconds to wait), `epoch` (a Unix time), `missing`, `inconsistent`
    /// (neither fits Date and the window), `none seen` (no answer to read),
    /// or `mixed (a, b, ...)` when answers disagreed.
    #[schemars(pattern(
        r"^(delta|epoch|missing|inconsistent|none seen|mixed \((delta|epoch|missing|inconsistent)(, (delta|epoch|missing|inconsistent))+\))$"
    ))]
    pub reset_form: String,
    /// Whether X-RateLimit-Reset was present and consistent with Date and the window.
    pub reset: Finding,
    /// How the server refused.
    pub refusal: RefusalReport,
    /// The window kind the limiter behaves like and the probe's arithmetic;
    /// null when it could not be classified (see window_finding).
    pub window: Option<WindowVerdict>,
    /// The window kind judged (sliding expected), or why it was not classified.
    pub window_finding: Finding,
    /// Whether another user (for login and signup: another client address)
    /// keeps its own quota while this bucket is exhausted.
    pub isolation: Finding,
    /// login and signup only: whether a client-supplied X-Forwarded-For
    /// opened a fresh bucket (fail: anyone could bypass the limit); null for
    /// the other endpoints.
    pub forwarded_for: Option<Finding>,
    /// Whether the limit holds under simultaneous requests (limit + 25% at
    /// once on a fresh bucket).
    pub atomicity: Atomicity,
    /// `fails` when a finding failed, else `inconclusive` when one could not
    /// be measured (error), else `holds`.
    #[schemars(extend("enum" = ["holds", "fails", "inconclusive"]))]
    pub verdict: String,
}

impl EndpointReport {
    fn findings(&self) -> impl Iterator<Item = (&'static str, &Finding)> {
        [
            ("limit", Some(&self.limit)),
            ("remaining", Some(&self.remaining)),
            ("reset", Some(&self.reset)),
            ("refusal", Some(&self.refusal.finding)),
            ("window", Some(&self.window_finding)),
            ("isolation", Some(&self.isolation)),
            ("x-forwarded-for", self.forwarded_for.as_ref()),
            ("atomicity", Some(&self.atomicity.finding)),
        ]
        .into_iter()
        .filter_map(|(n, f)| Some((n, f?)))
    }

    /// Sets `verdict` from the findings.
    pub fn settle(&mut self) {
        let statuses: Vec<Status> = self.findings().map(|(_, f)| f.status).collect();
        self.verdict = if statuses.contains(&Status::Fail) {
            "fails"
        } else if statuses.contains(&Status::Error) {
            "inconclusive"
        } else {
            "holds"
        }
        .into();
    }
}

fn cell(f: &Finding, short: &str) -> String {
    match f.status {
        Status::Ok => short.to_owned(),
        s => format!("{} {short}", s.as_str()),
    }
}

fn window_cell(r: &EndpointReport) -> String {
    match &r.window {
        Some(w) => format!("{} ({:?})", w.kind.as_str(), w.confidence).to_lowercase(),
        None => r.window_finding.status.as_str().to_owned(),
    }
}

fn rows(report: &LimitsReport) -> Vec<[String; 8]> {
    report
        .endpoints
        .iter()
        .map(|r| {
            let observed = r.observed.map_or("-".into(), |o| o.to_string());
            let header = r.header_limit.map_or("-".into(), |h| h.to_string());
            let iso = match &r.forwarded_for {
                Some(x) if x.status == Status::Fail => "XFF bypass".to_owned(),
                _ => cell(&r.isolation, &format!("per {}", r.keyed_by)),
            };
            let atom = match &r.atomicity.run {
                Some(c) => cell(&r.atomicity.finding, &format!("{}/{}", c.accepted, c.sent)),
                None => r.atomicity.finding.status.as_str().to_owned(),
            };
            [
                r.endpoint.to_string(),
                r.expected.to_string(),
                observed,
                header,
                window_cell(r),
                iso,
                atom,
                r.verdict.clone(),
            ]
        })
        .collect()
}

const HEADERS: [&str; 8] = [
    "endpoint",
    "expected",
    "observed",
    "header",
    "window",
    "isolation",
    "atomic (accepted/sent)",
    "verdict",
];

/// The console table and the problems under it.
pub fn console(report: &LimitsReport) -> String {
    let rows = rows(report);
    let mut widths = HEADERS.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let _ = writeln!(out, "{}", line(&HEADERS.map(String::from)));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r));
    }
    for r in &report.endpoints {
        for (name, f) in r.findings() {
            if matches!(f.status, Status::Fail | Status::Warn | Status::Error) {
                let _ = writeln!(
                    out,
                    "  {} {name} [{}]: {}",
                    r.endpoint,
                    f.status.as_str(),
                    f.detail
                );
            }
        }
    }
    if report.tokens.status != Status::Ok {
        let _ = writeln!(
            out,
            "  tokens [{}]: {}",
            report.tokens.status.as_str(),
            report.tokens.detail
        );
    }
    let _ = writeln!(
        out,
        "{} after {:.0} s{}",
        if report.holds {
            "the configured limits hold"
        } else {
            "the configured limits DO NOT hold"
        },
        report.duration_seconds,
        if report.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    out
}

/// `limits.md`: the table and every finding, fit for a CI job summary.
pub(crate) fn markdown(report: &LimitsReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Rate limits of {}\n", report.target);
    let _ = writeln!(
        out,
        "**{}** · window {} s · {:.0} s{}\n",
        if report.holds {
            "holds"
        } else {
            "does not hold"
        },
        report.window_seconds,
        report.duration_seconds,
        if report.interrupted {
            " · interrupted"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "- **tokens** {}: {}\n",
        report.tokens.status.as_str(),
        report.tokens.detail
    );
    let _ = writeln!(out, "| {} |", HEADERS.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(HEADERS.len()));
    for r in rows(report) {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    for r in &report.endpoints {
        let _ = writeln!(out, "\n## {} ({})\n", r.endpoint, r.verdict);
        for (name, f) in r.findings() {
            let _ = writeln!(
                out,
                "- **{name}** {}: {}",
                f.status.as_str(),
                f.detail.replace('|', "\\|")
            );
        }
        if let Some(w) = &r.window {
            let _ = writeln!(out, "- window evidence: {}", w.evidence);
        }
        if let Some(curl) = &r.refusal.curl {
            let _ = writeln!(out, "\nReproduce the refusal:\n\n```sh\n{curl}\n```");
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::limits::window::{classify, Phases};

    pub(crate) fn sample() -> LimitsReport {
        let mut good = EndpointReport {
            endpoint: Endpoint::GetMessages,
            keyed_by: "user".into(),
            expected: 200,
            observed: Some(200),
            header_limit: Some(200),
            limit: Finding::ok("200 accepted, as expected and announced"),
            remaining: Finding::ok("fell by one per request from 199 to 0"),
            reset_form: "delta".into(),
            reset: Finding::ok("delta-seconds, at most the window"),
            refusal: RefusalReport {
                status: Some(429),
                retry_after: Some(30),
                remaining_zero: true,
                values_in: Some(crate::contract::refusal::ValuesIn::Headers),
                form: Some("HTTP 429 (a Retry-After header, X-RateLimit-Remaining 0), rate-limit values in the headers, Retry-After 30".into()),
                had_effect: None,
                curl: Some("curl -sS -i 'http://127.0.0.1:1/api/method/frappe_chat.api.get_messages?chat=C&limit=1' -H 'Authorization: token k:***'".into()),
                finding: Finding::ok("429 with Retry-After 30 and Remaining 0"),
            },
            window: Some(classify(Phases {
                first: 100,
                first_sent: 100,
                second: 100,
                third: 100,
                third_capped: false,
                fourth: None,
                rose_between: None,
            })),
            window_finding: Finding::ok("sliding"),
            isolation: Finding::ok("another user's first request showed Remaining 199"),
            forwarded_for: None,
            atomicity: Atomicity {
                run: Some(Concurrent {
                    sent: 250,
                    accepted: 200,
                    refused: 50,
                    errors: 0,
                    first_error: None,
                }),
                finding: Finding::ok("exactly 200 of 250 accepted"),
            },
            verdict: String::new(),
        };
        good.settle();
        let mut bad = good.clone();
        bad.endpoint = Endpoint::Login;
        bad.keyed_by = "client address".into();
        bad.expected = 10;
        bad.observed = Some(12);
        bad.limit = Finding::fail("12 accepted before the first refusal, expected 10");
        bad.forwarded_for = Some(Finding::fail("a request with X-Forwarded-For: 198.51.100.7 was accepted after the bucket was exhausted"));
        bad.settle();
        LimitsReport {
            schema_version: SCHEMA_VERSION,
            tool: "chat-harness 0.0.0".into(),
            target: "http://127.0.0.1:1".into(),
            embedded: true,
            window_seconds: 60,
            started_at: "2026-01-01T00:00:00Z".into(),
            duration_seconds: 62.0,
            interrupted: false,
            holds: false,
            accounts: 2,
            tokens: Finding::ok("every pair the tool held kept working"),
            endpoints: vec![good, bad],
        }
    }

    #[test]
    fn renders() {
        let r = sample();
        assert_eq!(r.endpoints[0].verdict, "holds");
        assert_eq!(r.endpoints[1].verdict, "fails");
        insta::assert_snapshot!("limits_console", console(&r));
        insta::assert_snapshot!("limits_markdown", markdown(&r));
        insta::assert_json_snapshot!("limits_json", r);
    }
}
