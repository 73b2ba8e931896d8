//! Suite files: a named selection of boards x frameworks x workloads plus run settings, so a
//! comparison can be committed and rerun with `mcubench run --suite FILE`. Every field is
//! optional; command-line flags override the file. Names are checked by the planner (unknown
//! board, framework or workload errors list the known ones).
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read suite file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax { path: PathBuf, line: usize, column: usize, message: String },
    #[error("{path}: field '{field}': {message}")]
    Invalid { path: PathBuf, field: &'static str, message: String },
}

/// A suite file (see `suites/cross-framework.yaml`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// What the suite is for (printed at the start of a run).
    #[serde(default)]
    pub description: Option<String>,
    /// Boards of the inventory (default: all).
    #[serde(default)]
    pub boards: Vec<String>,
    /// Frameworks (default: reference-runtime); short names such as `tflm` are accepted.
    #[serde(default)]
    pub frameworks: Vec<String>,
    /// Workloads (default: the four MLPerf Tiny models).
    #[serde(default)]
    pub workloads: Vec<String>,
    #[serde(default)]
    pub golden_checks: Option<usize>,
    #[serde(default)]
    pub windows: Option<u32>,
    #[serde(default)]
    pub runs: Option<u32>,
    #[serde(default)]
    pub warmups: Option<u32>,
}

impl Suite {
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses suite-file text; `path` names the file in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Suite, SuiteError> {
        let blank = text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'));
        let suite: Suite = if blank {
            Suite::default()
        } else {
            serde_yaml::from_str(text).map_err(|e| {
                let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
                SuiteError::Syntax { path: path.to_owned(), line, column, message: e.to_string() }
            })?
        };
        let invalid = |field, message: &str| SuiteError::Invalid { path: path.to_owned(), field, message: message.into() };
        if suite.windows == Some(0) {
            return Err(invalid("windows", "must be at least 1"));
        }
        if suite.runs == Some(0) {
            return Err(invalid("runs", "must be at least 1"));
        }
        for (field, names) in [("boards", &suite.boards), ("frameworks", &suite.frameworks), ("workloads", &suite.workloads)] {
            // A set, not a scan of the names before each one: a long list must not take quadratic time.
            let mut seen = std::collections::HashSet::new();
            if let Some(dup) = names.iter().find(|n| !seen.insert(n.as_str())) {
                return Err(SuiteError::Invalid { path: path.to_owned(), field, message: format!("'{dup}' is listed twice") });
            }
        }
        Ok(suite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_committed_cross_framework_suite() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/cross-framework.yaml");
        let s = Suite::load(&path).unwrap();
        assert_eq!(s.frameworks, ["reference-runtime", "tflite-micro", "cmsis-nn", "tinymaix", "microflow"]);
        assert_eq!(s.workloads, ["kws01", "vww01", "ic01", "ad01"]);
        assert!(s.boards.is_empty(), "all boards by default");
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let p = Path::new("s.yaml");
        let e = Suite::parse("workloads: [kws01]\nwindow: 3\n", p).unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:2:") && e.contains("unknown field `window`"), "{e}");
        let e = Suite::parse("windows: many\n", p).unwrap_err().to_string();
        assert!(e.starts_with("s.yaml:1:") && e.contains("windows"), "{e}");
        let e = Suite::parse("runs: 0\n", p).unwrap_err().to_string();
        assert_eq!(e, "s.yaml: field 'runs': must be at least 1");
        let e = Suite::parse("frameworks: [tflm, cmsis-nn, tflm]\n", p).unwrap_err().to_string();
        assert_eq!(e, "s.yaml: field 'frameworks': 'tflm' is listed twice");
        assert_eq!(Suite::parse("# nothing\n", p).unwrap(), Suite::default());
    }
}
