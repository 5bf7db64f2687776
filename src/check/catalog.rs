//! The catalogue: every check with its stable ID, the contract clause it
//! verifies, its level, tags and a one-line statement of the requirement. The
//! code of each check lives in its area's file; this file only assembles them
//! and knows how to select them.

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
pub enum Phase {
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
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One check of the catalogue.
#[derive(Clone, Copy)]
pub struct CheckDef {
    /// Stable ID, e.g. `POLL-3.1`: the clause and a sequence number.
    pub id: &'static str,
    /// The clause of CONTRACT.md it verifies, e.g. `POLL-3`.
    pub clause: &'static str,
    pub level: Level,
    /// The area first (`env`, `auth`, ...), then `slow`, `concurrency`, ...
    pub tags: &'static [&'static str],
    /// The requirement in one line, in the project's words.
    pub statement: &'static str,
    pub phase: Phase,
    pub run: for<'a> fn(&'a Ctx) -> CheckFuture<'a>,
}

impl std::fmt::Debug for CheckDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckDef").field("id", &self.id).finish()
    }
}

impl CheckDef {
    /// The area the check belongs to (its first tag).
    pub fn area(&self) -> &'static str {
        self.tags.first().copied().unwrap_or("other")
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Whether `pattern` names this check: its ID, its clause, an area prefix
    /// (`AUTH` matches `AUTH-1.1`, `AUTH-1` matches `AUTH-1.1` but not
    /// `AUTH-10.1`), or a glob with `*`. Case-insensitive.
    pub fn matches(&self, pattern: &str) -> bool {
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
fn glob(pattern: &str, text: &str) -> bool {
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
        pub fn checks() -> Vec<$crate::check::catalog::CheckDef> {
            vec![$(
                $crate::check::catalog::CheckDef {
                    id: $id,
                    clause: $clause,
                    level: $crate::check::catalog::Level::$level,
                    tags: &[$($tag),*],
                    statement: $stmt,
                    phase: $crate::check::catalog::Phase::$phase,
                    run: |cx| Box::pin(async move {
                        match $f(cx).await { Ok(v) | Err(v) => v }
                    }),
                },
            )*]
        }
    };
}
pub(crate) use checks;

/// The whole catalogue, in presentation order (by area).
pub fn all() -> Vec<CheckDef> {
    let mut out = Vec::new();
    out.extend(super::envelope::checks());
    out.extend(super::auth::checks());
    out.extend(super::authz::checks());
    out.extend(super::poll::checks());
    out.extend(super::ratelimit::checks());
    out.extend(super::cors::checks());
    out
}

/// Which checks a run selects.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Keep only checks matching one of these (empty: all).
    pub only: Vec<String>,
    /// Drop checks matching one of these.
    pub skip: Vec<String>,
    /// Keep only checks carrying one of these tags (empty: all).
    pub tags: Vec<String>,
}

impl Selection {
    pub fn apply(&self, checks: Vec<CheckDef>) -> Vec<CheckDef> {
        checks
            .into_iter()
            .filter(|c| {
                self.only.is_empty() || self.only.iter().any(|p| c.matches(p) || c.has_tag(p))
            })
            .filter(|c| !self.skip.iter().any(|p| c.matches(p) || c.has_tag(p)))
            .filter(|c| self.tags.is_empty() || self.tags.iter().any(|t| c.has_tag(t)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn ids_are_unique_and_cite_their_clause() {
        let all = all();
        let mut seen = BTreeSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "duplicate id {}", c.id);
            assert!(
                c.id.starts_with(&format!("{}.", c.clause)),
                "{} does not start with its clause {}",
                c.id,
                c.clause
            );
            assert!(!c.statement.is_empty() && !c.tags.is_empty(), "{}", c.id);
            assert_eq!(c.has_tag("slow"), c.phase == Phase::Slow, "{}", c.id);
        }
    }

    #[test]
    fn every_contract_clause_has_a_check() {
        let clauses: BTreeSet<&str> = all().iter().map(|c| c.clause).collect();
        for clause in [
            "ENV-1", "ENV-2", "ENV-3", "ENV-4", "AUTH-1", "AUTH-2", "AUTH-3", "AUTH-4", "AUTH-5",
            "AUTH-6", "AUTH-7", "AUTH-8", "AUTHZ-1", "AUTHZ-2", "AUTHZ-3", "AUTHZ-4", "AUTHZ-5",
            "AUTHZ-6", "AUTHZ-6b", "AUTHZ-7", "USERS-1", "POLL-1", "POLL-1b", "POLL-1c", "POLL-2",
            "POLL-2b", "POLL-3", "POLL-4", "POLL-4b", "POLL-5", "POLL-6", "POLL-7", "POLL-8",
            "POLL-9", "READ-1", "READ-2", "CHATS-1", "RL-1", "RL-2", "RL-3", "RL-4", "RL-4b",
            "RL-5", "RL-6", "RL-7", "RL-8", "CORS-1", "CORS-2", "CORS-2b", "CORS-3",
        ] {
            assert!(clauses.contains(clause), "no check for {clause}");
        }
    }

    #[test]
    fn patterns() {
        let all = all();
        let sel = |only: &[&str], skip: &[&str], tags: &[&str]| {
            Selection {
                only: only.iter().map(|s| s.to_string()).collect(),
                skip: skip.iter().map(|s| s.to_string()).collect(),
                tags: tags.iter().map(|s| s.to_string()).collect(),
            }
            .apply(all.clone())
            .iter()
            .map(|c| c.id)
            .collect::<Vec<_>>()
        };
        let auth = sel(&["auth"], &[], &[]);
        assert!(auth.iter().all(|id| id.starts_with("AUTH-")), "{auth:?}");
        assert!(sel(&["POLL-1"], &[], &[])
            .iter()
            .all(|id| id.starts_with("POLL-1.")));
        // The slow rate-limit checks: the window checks, and RL-3.2 (login
        // and signup, after the windows have aged the suite's own logins).
        let slow = sel(&["RL-*"], &[], &["slow"]);
        assert!(
            slow.iter()
                .all(|id| id.starts_with("RL-6") || *id == "RL-3.2"),
            "{slow:?}"
        );
        assert!(sel(&[], &["RL"], &[])
            .iter()
            .all(|id| !id.starts_with("RL-")));
        assert!(sel(&["nothing"], &[], &[]).is_empty());
        assert!(glob("A*C", "ABC") && !glob("A*C", "ABD") && glob("*", ""));
    }
}
