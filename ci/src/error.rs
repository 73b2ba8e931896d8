//! Errors of the gate library. Every error about a file names the file, and where it can,
//! the line.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CiError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("baseline {path} does not exist; make it from a run with `mcubench baseline save --out {path}`")]
    BaselineMissing { path: PathBuf },
    #[error("gate rules {path} do not exist")]
    RulesMissing { path: PathBuf },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}:{line}: {message}")]
    Invalid { path: PathBuf, line: usize, message: String },
    #[error("{path}: baseline schema {found} is newer than this mcubench understands ({supported}); upgrade mcubench")]
    NewerSchema { path: PathBuf, found: u64, supported: u32 },
    #[error("{0}")]
    NoFigures(String),
}

impl CiError {
    /// A serde_yaml error as a [`CiError::Syntax`] naming the file, line and column.
    pub(crate) fn yaml(path: &std::path::Path, e: serde_yaml::Error) -> CiError {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        CiError::Syntax { path: path.to_owned(), line, column, message: e.to_string() }
    }
}

/// Best-effort 1-based line of the first line at or after `from` (0-based index) whose trimmed
/// text starts with `needle`; `from + 1` when not found.
pub(crate) fn line_of(text: &str, needle: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| l.trim_start().trim_start_matches("- ").starts_with(needle))
        .map(|(i, _)| i + 1)
        .unwrap_or(from + 1)
}
