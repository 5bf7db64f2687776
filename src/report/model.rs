//! The report of a conformance run: one versioned model that every format
//! (JSON, JUnit, Markdown, console) renders. It is a public format: its JSON
//! Schema, `report.schema.json`, is generated from these types (their doc
//! comments are its descriptions; see `report::schema`), and a test validates
//! a real report against it. Bump [`SCHEMA_VERSION`] on any incompatible
//! change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of this format. 1: the first.
pub const SCHEMA_VERSION: u32 = 1;

/// A conformance run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    title = "chat-harness check report",
    description = "report.json written by `chat-harness check --report DIR` (schema_version 1).",
    extend(
        "$id" = "https://github.com/chat-harness/chat-harness/report.schema.json",
        "if" = { "properties": { "status": { "const": "setup_failed" } } },
        "then" = { "required": ["setup_error"] },
    )
)]
pub struct Report {
    /// Version of this format (see `report.schema.json`).
    #[schemars(extend("const" = SCHEMA_VERSION))]
    pub schema_version: u32,
    /// The tool that wrote the report.
    pub tool: Tool,
    /// The server checked: its base URL.
    pub target: String,
    /// True when the target was the embedded reference server.
    pub embedded: bool,
    /// When the run started (RFC 3339, UTC).
    #[schemars(extend("format" = "date-time"))]
    pub started_at: String,
    /// Wall-clock duration so far, in milliseconds.
    pub duration_ms: u64,
    /// Whether the run finished: `complete`, `incomplete` (still running, or
    /// killed: a partial report), `interrupted` (stopped by Ctrl-C or the
    /// deadline) or `setup_failed` (no check could run: see `setup_error`).
    pub status: RunStatus,
    /// Why the run could not start (the target unreachable, accounts that
    /// cannot log in): present only when `status` is `setup_failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub setup_error: Option<String>,
    /// The options that shape verdicts.
    pub options: Options,
    /// Counts per outcome and the overall verdict.
    pub summary: Summary,
    /// One entry per selected check, in the order they ran; checks not run
    /// yet are absent from a partial report.
    pub checks: Vec<CheckResult>,
}

/// Name and version of the tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Tool {
    /// Always `chat-harness`.
    #[schemars(extend("const" = "chat-harness"))]
    pub name: String,
    /// The crate version.
    pub version: String,
}

/// Whether a run finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every selected check ran.
    Complete,
    /// Written while running: the run may have been killed.
    Incomplete,
    /// Stopped early by Ctrl-C or the deadline.
    Interrupted,
    /// The target or its users could not be set up: no check ran, every
    /// selected check is recorded as `error` (exit code 3).
    SetupFailed,
}

/// Options of the run that affect verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Options {
    /// `--strict`: a broken SHOULD fails the run.
    pub strict: bool,
    /// The rate-limit window the checks assumed, in seconds.
    #[schemars(range(min = 1))]
    pub window_seconds: u64,
    /// Expected limits per endpoint (the limits file).
    #[schemars(extend("additionalProperties" = { "type": "integer", "minimum": 1 }))]
    pub limits: std::collections::BTreeMap<String, u32>,
    /// IDs listed in `--known-failing`.
    pub known_failing: Vec<String>,
    /// Number of checks selected.
    #[schemars(range(min = 1))]
    pub selected: usize,
}

/// What a check concluded.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The requirement holds.
    Pass,
    /// A MUST (or a SHOULD under `--strict`) is broken.
    Fail,
    /// A SHOULD is broken; not fatal without `--strict`.
    NonStrict,
    /// An INFO observation: which allowed behaviour the server chose.
    Info,
    /// Not run (see `message` for why).
    Skip,
    /// Could not be evaluated (transport error, set-up failed, too slow to judge).
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::NonStrict => "non_strict",
            Outcome::Info => "info",
            Outcome::Skip => "skip",
            Outcome::Error => "error",
        }
    }
}

/// Counts per outcome, and the verdict.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Summary {
    /// Checks reported.
    pub total: usize,
    /// Checks that passed.
    pub pass: usize,
    /// Checks that failed.
    pub fail: usize,
    /// Broken SHOULDs (not fatal without `--strict`).
    pub non_strict: usize,
    /// INFO observations.
    pub info: usize,
    /// Skipped checks.
    pub skip: usize,
    /// Checks that could not be evaluated.
    pub error: usize,
    /// Failures and errors of checks listed in `--known-failing` (not fatal).
    pub known_failing: usize,
    /// Listed in `--known-failing` but passed: the list is stale (fatal).
    pub stale: usize,
    /// Time slow checks spent waiting for windows, in milliseconds.
    pub waited_ms: u64,
    /// `conformant` when nothing fatal happened, else `non_conformant`;
    /// `unfinished` for a partial report, `interrupted` for a stopped run.
    #[schemars(extend("enum" = ["conformant", "non_conformant", "unfinished", "interrupted", "setup_failed"]))]
    pub verdict: String,
}

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CheckResult {
    /// Stable ID, e.g. `POLL-3.1`.
    #[schemars(pattern(r"^[A-Z]+-[0-9]+[a-z]?\.[0-9]+$"))]
    pub id: String,
    /// The contract clause verified, e.g. `POLL-3`.
    #[schemars(pattern(r"^[A-Z]+-[0-9]+[a-z]?$"))]
    pub clause: String,
    /// `MUST`, `SHOULD` or `INFO`.
    #[schemars(extend("enum" = ["MUST", "SHOULD", "INFO"]))]
    pub level: String,
    /// The area (`env`, `auth`, `authz`, `poll`, `read`, `chats`, `rl`, `cors`).
    pub area: String,
    /// All tags, the area first.
    #[schemars(length(min = 1))]
    pub tags: Vec<String>,
    /// The requirement in one line.
    pub statement: String,
    /// What the check concluded.
    pub outcome: Outcome,
    /// What happened, in one line (the reason for skip and error).
    pub message: String,
    /// What the contract expected, for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub expected: Option<String>,
    /// What the server did instead, for failures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub seen: Option<String>,
    /// Remarks: look-alike data, what the server did instead, choices made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Listed in `--known-failing`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub known_failing: bool,
    /// Duration of the check, in milliseconds.
    pub duration_ms: u64,
    /// Time it spent waiting on purpose (windows), in milliseconds.
    pub waited_ms: u64,
    /// The exchanges that prove the outcome (secrets masked unless `--show-secrets`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<ExchangeRecord>,
}

/// One request and its answer, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ExchangeRecord {
    /// HTTP method.
    pub method: String,
    /// Full URL, query included.
    pub url: String,
    /// Request headers, `[name, value]`.
    pub request_headers: Vec<(String, String)>,
    /// The request body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub request_body: Option<String>,
    /// HTTP status of the answer.
    #[schemars(range(min = 100, max = 999))]
    pub status: u16,
    /// Response headers, `[name, value]`.
    pub response_headers: Vec<(String, String)>,
    /// The start of the response body.
    pub body_excerpt: String,
    /// Time to the last body byte, in milliseconds.
    pub elapsed_ms: u64,
    /// A curl command reproducing the request.
    pub curl: String,
}

impl Report {
    /// Checks whose outcome fails the run: a failure or error not listed as
    /// known-failing, or a listed check that passed (a stale list).
    pub fn fatal_count(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| match c.outcome {
                Outcome::Fail | Outcome::Error => !c.known_failing,
                Outcome::Pass => c.known_failing,
                _ => false,
            })
            .count()
    }

    /// Recomputes the summary from the checks.
    pub fn summarize(&mut self) {
        let fatal = self.fatal_count();
        let mut s = Summary {
            total: self.checks.len(),
            ..Summary::default()
        };
        for c in &self.checks {
            match c.outcome {
                Outcome::Pass => s.pass += 1,
                Outcome::Fail => s.fail += 1,
                Outcome::NonStrict => s.non_strict += 1,
                Outcome::Info => s.info += 1,
                Outcome::Skip => s.skip += 1,
                Outcome::Error => s.error += 1,
            }
            if c.known_failing {
                match c.outcome {
                    Outcome::Fail | Outcome::Error | Outcome::NonStrict => s.known_failing += 1,
                    Outcome::Pass => s.stale += 1,
                    _ => {}
                }
            }
            s.waited_ms += c.waited_ms;
        }
        s.verdict = match self.status {
            RunStatus::Incomplete => "unfinished",
            RunStatus::Interrupted => "interrupted",
            RunStatus::SetupFailed => "setup_failed",
            _ if fatal > 0 => "non_conformant",
            _ => "conformant",
        }
        .to_owned();
        self.summary = s;
    }
}
