//! The project's TOML input files (expected limits, accounts, scenarios) share
//! one error type, so that every one of them names the file, the line, the
//! column, the field and what is wrong in the same words:
//! `s.toml:2:9: persona[0].users: invalid type: string "twelve", expected i64`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::de::DeserializeOwned;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// An input file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {what} {path}: {cause}")]
    Read {
        /// What the file is, e.g. `limits file`.
        what: &'static str,
        path: PathBuf,
        /// Not a `source`: the message says it already, once.
        cause: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        file: String,
        line: usize,
        /// Counted in characters from 1.
        column: usize,
        message: String,
    },
}

impl InputError {
    /// Always a usage error: an input file the user gave is wrong.
    pub fn exit_code(&self) -> u8 {
        crate::error::exit_code::USAGE
    }
}

impl InputError {
    /// An error at byte `offset` of `text`, the contents of `file`.
    pub fn at(text: &str, file: &str, offset: usize, message: impl Into<String>) -> InputError {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &text[..offset];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        InputError::Invalid {
            file: file.to_owned(),
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error, at the place its span points to.
    pub fn toml(text: &str, file: &str, e: &toml::de::Error) -> InputError {
        InputError::toml_at(text, file, e, "")
    }

    /// A TOML shape error of the field at `path` (e.g. `persona[0].users`).
    fn toml_at(text: &str, file: &str, e: &toml::de::Error, path: &str) -> InputError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        let message = match unknown_field_hint(e.message()) {
            Some(hint) => format!("{}{hint}", e.message().trim_end()),
            None => e.message().trim_end().to_owned(),
        };
        if path.is_empty() {
            InputError::at(text, file, offset, message)
        } else {
            InputError::at(text, file, offset, format!("{path}: {message}"))
        }
    }
}

/// `; did you mean every?` for serde's "unknown field `evry`, expected one
/// of `kind`, ..., `every`" when one of the expected names is close.
fn unknown_field_hint(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let names = expected.split('`').skip(1).step_by(2);
    closest(field, names).map(|n| format!("; did you mean {n}?"))
}

/// The candidate closest to `word` by edit distance, if it is close enough
/// to be what was meant (at most a third of its letters wrong).
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let (best, d) = candidates
        .into_iter()
        .map(|c| (c, edit_distance(word, c)))
        .min_by_key(|&(_, d)| d)?;
    (d > 0 && d <= word.chars().count().max(3) / 3 + 1).then_some(best)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb))
                .min(row[j] + 1)
                .min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// Deserializes a TOML file's `text`, naming the field of a shape error
/// besides its place: `persona[0].users: invalid type: ...`.
pub fn from_toml<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, InputError> {
    let de = toml::Deserializer::parse(text).map_err(|e| InputError::toml(text, file, &e))?;
    serde_path_to_error::deserialize(de)
        .map_err(|e| InputError::toml_at(text, file, e.inner(), &field_path(e.path())))
}

/// A TOML file's `text` as a tree whose every value keeps its place.
pub(crate) fn toml_tree<'a>(source: &Source<'a>) -> Result<Spanned<DeTable<'a>>, InputError> {
    DeTable::parse(source.text).map_err(|e| InputError::toml(source.text, source.file, &e))
}

/// Deserializes `value`, a part of `source`'s tree at field `path` (e.g.
/// `persona[0]`), as [`from_toml`] does a whole file.
pub(crate) fn from_toml_value<T: DeserializeOwned>(
    value: Spanned<DeValue<'_>>,
    source: &Source<'_>,
    path: &str,
) -> Result<T, InputError> {
    serde_path_to_error::deserialize(toml::de::ValueDeserializer::from(value)).map_err(|e| {
        let inner = field_path(e.path());
        let path = match (path.is_empty(), inner.is_empty()) {
            (_, true) => path.to_owned(),
            (true, false) => inner,
            (false, false) => format!("{path}.{inner}"),
        };
        InputError::toml_at(source.text, source.file, e.inner(), &path)
    })
}

/// The field names of a struct `T` derives `Deserialize` for, in their
/// order (what serde lists after "expected one of"); empty for any other `T`.
pub(crate) fn struct_fields<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};
    struct Grab<'a>(&'a mut &'static [&'static str]);
    impl<'de> de::Deserializer<'de> for Grab<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("only its fields were wanted"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Grab(&mut fields));
    fields
}

/// An input file's text and name, for errors that point into it with
/// `file:line:column: field: what is wrong`.
pub(crate) struct Source<'a> {
    pub(crate) text: &'a str,
    pub(crate) file: &'a str,
}

impl Source<'_> {
    pub(crate) fn err(
        &self,
        offset: usize,
        field: &str,
        message: impl std::fmt::Display,
    ) -> InputError {
        let message = if field.is_empty() {
            message.to_string()
        } else {
            format!("{field}: {message}")
        };
        InputError::at(self.text, self.file, offset, message)
    }

    pub(crate) fn duration(
        &self,
        v: &Spanned<String>,
        field: &str,
    ) -> Result<Duration, InputError> {
        parse_duration(v.get_ref()).ok_or_else(|| {
            self.err(
                v.span().start,
                field,
                format!(
                    "{:?} is not a duration (try \"500ms\", \"10s\", \"2m\")",
                    v.get_ref()
                ),
            )
        })
    }

    pub(crate) fn opt_duration(
        &self,
        v: &Option<Spanned<String>>,
        field: &str,
        default: Duration,
    ) -> Result<Duration, InputError> {
        v.as_ref().map_or(Ok(default), |v| self.duration(v, field))
    }

    pub(crate) fn int(
        &self,
        v: &Spanned<i64>,
        field: &str,
        lo: i64,
        hi: i64,
    ) -> Result<u32, InputError> {
        let n = *v.get_ref();
        if (lo..=hi).contains(&n) {
            Ok(n as u32)
        } else {
            Err(self.err(
                v.span().start,
                field,
                format!("must be between {lo} and {hi}, got {n}"),
            ))
        }
    }

    pub(crate) fn opt_int(
        &self,
        v: &Option<Spanned<i64>>,
        field: &str,
        lo: i64,
        hi: i64,
        default: u32,
    ) -> Result<u32, InputError> {
        v.as_ref()
            .map_or(Ok(default), |v| self.int(v, field, lo, hi))
    }
}

fn parse_duration(s: &str) -> Option<Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// `persona[0].users`: the path without the private keys through which
/// `toml::Spanned` values are deserialized.
fn field_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.starts_with("$__") {
                    continue;
                }
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => {}
        }
    }
    out
}

/// Reads a whole input file; `what` names its kind in the error.
pub fn read(path: &Path, what: &'static str) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|cause| InputError::Read {
        what,
        path: path.to_owned(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line_and_column() {
        let e = InputError::at("a\nbé c\nd", "f.toml", 6, "bad");
        assert_eq!(e.to_string(), "f.toml:2:4: bad");
        let e = InputError::at("a", "f.toml", 99, "past the end");
        assert_eq!(e.to_string(), "f.toml:1:2: past the end");
        let err = read(Path::new("/nonexistent/x.toml"), "scenario").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read scenario /nonexistent/x.toml:"));
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        users: Option<toml::Spanned<i64>>,
        #[serde(default)]
        persona: Vec<toml::Spanned<Persona>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Persona {
        kind: toml::Spanned<String>,
        users: Option<i64>,
    }

    #[test]
    fn shape_errors_name_the_field() {
        let cases = [
            (
                "users = 3\n[[persona]]\nkind = \"x\"\nusers = \"twelve\"\n",
                "s.toml:4:9: persona[0].users: invalid type: string \"twelve\", expected i64",
            ),
            (
                "users = \"3\"\n",
                "s.toml:1:9: users: invalid type: string \"3\", expected i64",
            ),
            ("users = \n", "s.toml:1:9: "),
        ];
        for (text, want) in cases {
            let err = from_toml::<Doc>(text, "s.toml").unwrap_err().to_string();
            assert!(err.starts_with(want), "{err}\nwant {want}");
        }
    }
}
