//! The expected-limits table as data (`fixtures/limits.toml`): what a
//! deployment is supposed to enforce, an input of every rate-limit check.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use super::endpoint::Endpoint;

/// The default table, CONTRACT.md's, as shipped in the repo.
pub const DEFAULT_TOML: &str = include_str!("../../fixtures/limits.toml");

/// Expected limits per endpoint and the window they apply to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsTable {
    pub window_seconds: u64,
    pub limits: BTreeMap<Endpoint, u32>,
}

/// A limits file that could not be used, with where the problem is.
pub type LimitsError = crate::input::InputError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    window_seconds: Option<Spanned<i64>>,
    limits: Option<BTreeMap<Spanned<String>, Spanned<i64>>>,
}

impl Default for LimitsTable {
    fn default() -> Self {
        LimitsTable {
            window_seconds: 60,
            limits: Endpoint::LIMITED
                .into_iter()
                .filter_map(|e| Some((e, e.contract_limit()?)))
                .collect(),
        }
    }
}

impl LimitsTable {
    pub fn load(path: &Path) -> Result<Self, LimitsError> {
        let text = crate::input::read(path, "limits file")?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a table; `file` names it in errors. Endpoints the file leaves
    /// out are not limited by it (and not checked).
    pub fn parse(text: &str, file: &str) -> Result<Self, LimitsError> {
        let invalid = |offset: usize, message: String| LimitsError::at(text, file, offset, message);
        let raw: Raw = crate::input::from_toml(text, file)?;
        let window_seconds = match raw.window_seconds {
            None => 60,
            Some(w) if (1..=86_400).contains(w.get_ref()) => *w.get_ref() as u64,
            Some(w) => {
                return Err(invalid(
                    w.span().start,
                    format!(
                        "window_seconds must be between 1 and 86400, got {}",
                        w.get_ref()
                    ),
                ))
            }
        };
        let mut limits = BTreeMap::new();
        for (key, value) in raw.limits.unwrap_or_default() {
            let endpoint: Endpoint =
                key.get_ref()
                    .parse()
                    .map_err(|e: super::endpoint::UnknownEndpoint| {
                        invalid(key.span().start, format!("limits.{}: {e}", key.get_ref()))
                    })?;
            let n = *value.get_ref();
            if !(1..=1_000_000).contains(&n) {
                return Err(invalid(
                    value.span().start,
                    format!(
                        "limits.{}: a limit must be between 1 and 1000000, got {n}",
                        key.get_ref()
                    ),
                ));
            }
            limits.insert(endpoint, n as u32);
        }
        Ok(LimitsTable {
            window_seconds,
            limits,
        })
    }

    pub fn limit(&self, endpoint: Endpoint) -> Option<u32> {
        self.limits.get(&endpoint).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_file_is_the_contract_table() {
        assert_eq!(
            LimitsTable::parse(DEFAULT_TOML, "limits.toml").unwrap(),
            LimitsTable::default()
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "window_seconds = 60\n[limits]\nlogin = 10\nget_message = 5\n",
                "x.toml:4:1: limits.get_message: unknown endpoint",
            ),
            (
                "[limits]\nlogin = -1\n",
                "x.toml:2:9: limits.login: a limit must be between",
            ),
            (
                "window_seconds = 0\n",
                "x.toml:1:18: window_seconds must be",
            ),
            (
                "[limits]\nlogin = \"ten\"\n",
                "x.toml:2:9: limits: invalid type: string \"ten\", expected i64",
            ),
            (
                "\n\nwindow = 3\n",
                "x.toml:3:1: window: unknown field `window`",
            ),
            ("[limits\n", "x.toml:1:8: unclosed table"),
        ];
        for (text, want) in cases {
            let err = LimitsTable::parse(text, "x.toml").unwrap_err().to_string();
            assert!(
                err.starts_with(want),
                "{text:?}: got {err:?}, want {want:?}"
            );
        }
    }

    #[test]
    fn partial_tables_limit_only_what_they_name() {
        let t = LimitsTable::parse("window_seconds = 3\n[limits]\nlogin = 2\n", "x").unwrap();
        assert_eq!(t.window_seconds, 3);
        assert_eq!(t.limit(Endpoint::Login), Some(2));
        assert_eq!(t.limit(Endpoint::GetMessages), None);
    }
}
