//! The project's TOML input files (expected limits, accounts, scenarios) share
//! one error type, so that every one of them names the file, the line and
//! what is wrong in the same words.

use std::path::{Path, PathBuf};

/// An input file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        /// What the file is, e.g. `limits file`.
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}: {message}")]
    Invalid {
        file: String,
        line: usize,
        message: String,
    },
}

impl InputError {
    /// An error at byte `offset` of `text`, the contents of `file`.
    pub fn at(text: &str, file: &str, offset: usize, message: impl Into<String>) -> InputError {
        InputError::Invalid {
            file: file.to_owned(),
            line: text[..offset.min(text.len())].matches('\n').count() + 1,
            message: message.into(),
        }
    }

    /// A TOML syntax or shape error, at the line its span points to.
    pub fn toml(text: &str, file: &str, e: &toml::de::Error) -> InputError {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        InputError::at(text, file, offset, e.message())
    }
}

/// Reads a whole input file; `what` names its kind in the error.
pub fn read(path: &Path, what: &'static str) -> Result<String, InputError> {
    std::fs::read_to_string(path).map_err(|source| InputError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line() {
        let e = InputError::at("a\nb\nc", "f.toml", 3, "bad");
        assert_eq!(e.to_string(), "f.toml:2: bad");
        let e = InputError::at("a", "f.toml", 99, "past the end");
        assert_eq!(e.to_string(), "f.toml:1: past the end");
        let err = read(Path::new("/nonexistent/x.toml"), "scenario").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("cannot read scenario /nonexistent/x.toml:"));
    }
}
