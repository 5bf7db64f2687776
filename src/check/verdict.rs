//! What a check concludes, with the evidence that proves it. Checks return
//! `Result<Verdict, Verdict>` so that `?` can end a check early: a failed
//! set-up step becomes an `error` verdict that says which step and why.

use crate::client::{ClientError, Exchange};

/// The kind of conclusion a check reached (before levels and `--strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VerdictKind {
    Pass,
    Fail,
    /// An INFO observation: which allowed answer the server chose.
    Info,
    Skip,
    /// The check could not be evaluated (transport error, set-up failed).
    Error,
}

/// A check's conclusion.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) kind: VerdictKind,
    pub(crate) message: String,
    pub(crate) expected: Option<String>,
    pub(crate) seen: Option<String>,
    /// Remarks: look-alikes, what the server did instead, choices observed.
    pub(crate) notes: Vec<String>,
    /// The exchanges that prove the verdict (kept small).
    pub(crate) evidence: Vec<Exchange>,
}

/// Exchanges kept per verdict: enough to prove, not to flood a report.
pub(crate) const MAX_EVIDENCE: usize = 4;

impl Verdict {
    fn new(kind: VerdictKind, message: impl Into<String>) -> Verdict {
        Verdict {
            kind,
            message: message.into(),
            expected: None,
            seen: None,
            notes: Vec::new(),
            evidence: Vec::new(),
        }
    }
    pub(crate) fn pass(message: impl Into<String>) -> Verdict {
        Verdict::new(VerdictKind::Pass, message)
    }
    pub(crate) fn fail(message: impl Into<String>) -> Verdict {
        Verdict::new(VerdictKind::Fail, message)
    }
    pub(crate) fn info(message: impl Into<String>) -> Verdict {
        Verdict::new(VerdictKind::Info, message)
    }
    pub(crate) fn skip(reason: impl Into<String>) -> Verdict {
        Verdict::new(VerdictKind::Skip, reason)
    }
    pub(crate) fn error(reason: impl Into<String>) -> Verdict {
        Verdict::new(VerdictKind::Error, reason)
    }

    pub(crate) fn expected(mut self, e: impl Into<String>) -> Verdict {
        self.expected = Some(e.into());
        self
    }
    pub(crate) fn seen(mut self, s: impl Into<String>) -> Verdict {
        self.seen = Some(s.into());
        self
    }
    pub(crate) fn note(mut self, n: impl Into<String>) -> Verdict {
        self.notes.push(n.into());
        self
    }
    pub(crate) fn notes(mut self, n: impl IntoIterator<Item = String>) -> Verdict {
        self.notes.extend(n);
        self
    }
    /// Attaches an exchange as evidence (the first few only).
    pub(crate) fn with(mut self, ex: &Exchange) -> Verdict {
        if self.evidence.len() < MAX_EVIDENCE {
            self.evidence.push(ex.clone());
        }
        self
    }
    pub(crate) fn with_all<'a>(mut self, exs: impl IntoIterator<Item = &'a Exchange>) -> Verdict {
        for ex in exs {
            self = self.with(ex);
        }
        self
    }

    /// Prefixes the message with the step that went wrong.
    pub(crate) fn context(mut self, step: &str) -> Verdict {
        self.message = format!("{step}: {}", self.message);
        self
    }
}

impl From<ClientError> for Verdict {
    /// A call that did not give a usable answer: the check cannot be
    /// evaluated. The exchange, if any, is kept as evidence.
    fn from(e: ClientError) -> Verdict {
        let v = Verdict::error(e.to_string());
        match e.exchange() {
            Some(ex) => {
                let v = v.with(ex);
                if ex.refusal().is_some() {
                    v.note("the answer looks like a rate-limit refusal: the suite's own traffic may have spent this quota")
                } else {
                    v
                }
            }
            None => v,
        }
    }
}

/// `?`-friendly context for a step of a check: `call.await.step("creating the chat")?`.
pub(crate) trait StepContext<T> {
    fn step(self, what: &str) -> Result<T, Verdict>;
}

impl<T> StepContext<T> for Result<T, ClientError> {
    fn step(self, what: &str) -> Result<T, Verdict> {
        self.map_err(|e| Verdict::from(e).context(what))
    }
}

impl<T> StepContext<T> for Result<T, Verdict> {
    fn step(self, what: &str) -> Result<T, Verdict> {
        self.map_err(|v| v.context(what))
    }
}

/// Describes an answer in a few words for `seen`: status and error class.
pub(crate) fn describe(ex: &Exchange) -> String {
    let mut s = format!("HTTP {}", ex.status);
    if !ex.is_success() {
        if let Some(env) = ex.envelope() {
            s.push_str(&format!(" ({})", env.summary()));
        }
    }
    s
}

/// Fails unless the status is one of `allowed`.
pub(crate) fn expect_status(ex: &Exchange, allowed: &[u16], what: &str) -> Result<(), Verdict> {
    if allowed.contains(&ex.status) {
        return Ok(());
    }
    let list = allowed
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    let mut v = Verdict::fail(format!("{what}: expected HTTP {list}, got {}", ex.status))
        .expected(format!("HTTP {list}"))
        .seen(describe(ex))
        .with(ex);
    if ex.status == 200 {
        if let Some(env) = ex.envelope().filter(|e| !e.exc_type.is_empty()) {
            v = v.note(format!(
                "the body carries exc_type {:?} under a 200: the status alone must tell an error",
                env.exc_type
            ));
        }
    }
    Err(v)
}
