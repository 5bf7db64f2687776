//! What a check is: its stable ID, the contract clause it verifies, its
//! level, phase, tags and a one-line statement of the requirement, and the
//! `checks!` macro an area declares its checks with. The catalogue that
//! assembles every area's checks, and the selection, are in `check/mod.rs`.

use std::future::Future;
use std::pin::Pin;

use serde::{Deserialize, Serialize};

use super::context::Ctx;
use super::verdict::Verdict;

/// How much a broken requirement weighs (CONTRACT.md's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    /// Breaking it fails the run.
    Must,
    /// Breaking it is reported as non-strict; fails the run under `--strict`.
    Should,
    /// Behaviour the contract leaves open: reported. An answer outside every
    /// allowed one still fails (it breaks the MUST around the choice).
    Info,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::Info => "INFO",
        }
    }
}

/// When a check runs: the runner orders checks by phase so that quota-hungry
/// checks cannot poison the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Phase {
    /// Ordinary checks: a few requests each, well under every limit.
    Normal,
    /// Rate-limit checks that spend a little quota of their own users.
    RateLimit,
    /// Checks that exhaust a user's bucket (on users of their own).
    Exhausting,
    /// Checks that wait out a window (tag `slow`).
    Slow,
    /// Checks that exhaust the per-address login/signup bucket: nothing can
    /// log in after them until the window passes, so they run last.
    ExhaustsAddress,
}

/// The future a check returns.
pub(crate) type CheckFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One check of the catalogue.
#[derive(Clone, Copy)]
pub struct CheckDef {
    /// Stable ID, e.g. `POLL-3.1`: the clause and a sequence number.
    pub id: &'static str,
    /// The clause of CONTRACT.md it verifies, e.g. `POLL-3`.
    pub clause: &'static str,
    pub level: Level,
    /// The area first (`env`, `auth`, ...), then `slow`, `concurrency`, ...
    pub(crate) tags: &'static [&'static str],
    /// The requirement in one line, in the project's words.
    pub(crate) statement: &'static str,
    pub(crate) phase: Phase,
    pub(crate) run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

impl std::fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckDef").field("id", &self.id).finish()
    }
}

impl CheckDef {
    /// The area the check belongs to (its first tag).
    pub(crate) fn area(&self) -> &'static str {
        self.tags.first().copied().unwrap_or("other")
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Whether `pattern` names this check: its ID, its clause, an area prefix
    /// (`AUTH` matches `AUTH-1.1`, `AUTH-1` matches `AUTH-1.1` but not
    /// `AUTH-10.1`), or a glob with `*`. Case-insensitive.
    pub(crate) fn matches(&self, pattern: &str) -> bool {
        let p = pattern.trim().to_ascii_uppercase();
        let id = self.id.to_ascii_uppercase();
        let clause = self.clause.to_ascii_uppercase();
        if p.contains('*') {
            return glob(&p, &id) || glob(&p, &clause);
        }
        id == p
            || clause == p
            || id.starts_with(&format!("{p}."))
            || id.starts_with(&format!("{p}-"))
            || clause.starts_with(&format!("{p}-"))
    }
}

/// `*` matches any run of characters; everything else literally.
pub(super) fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else {
                return false;
            };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else if let Some(at) = rest.find(part) {
            rest = &rest[at + part.len()..];
        } else {
            return false;
        }
    }
    rest.is_empty()
}

/// Declares an area's checks: `id clause LEVEL Phase [tags] function "statement";`.
/// Each function is `async fn(&Ctx) -> Result<Verdict, Verdict>`.
macro_rules! checks {
    ($( $id:literal $clause:literal $level:ident $phase:ident [$($tag:literal),*] $f:ident $stmt:literal ;)*) => {
        pub(crate) fn checks() -> Vec<$crate::check::definition::CheckDef> {
            vec![$(
                $crate::check::definition::CheckDef {
                    id: $id,
                    clause: $clause,
                    level: $crate::check::definition::Level::$level,
                    tags: &[$($tag),*],
                    statement: $stmt,
                    phase: $crate::check::definition::Phase::$phase,
                    run: |cx| Box::pin(async move {
                        match $f(cx).await { Ok(v) | Err(v) => v }
                    }),
                },
            )*]
        }
    };
}
pub(crate) use checks;
