//! Baselines: the figures of one run, named and committed, that later runs are gated against.
//!
//! A baseline file is small and diff-friendly: jobs sorted by board, framework and workload,
//! figures sorted by metric, one figure per line. Each job carries the context its figures
//! are only comparable within (clock, framework version, toolchain, board kind) and each
//! figure its source. Deterministic figures keep one value; noisy figures (and any figure
//! whose samples differ) keep their samples too, for the statistical rules.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::record::{Entry, JobKey, Metric, ResultRecord, Source};
use serde::{Deserialize, Serialize};

use crate::error::{line_of, CiError};
use crate::rules::{default_kind, Kind};
use crate::stats::median;

/// Bumped when the baseline file changes shape; readers refuse newer versions.
pub const BASELINE_SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema: u32,
    pub name: String,
    /// The run the figures come from.
    pub run_id: String,
    #[serde(default)]
    pub git_revision: Option<String>,
    #[serde(default)]
    pub recorded_at: Option<String>,
    pub jobs: Vec<BaselineJob>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineJob {
    pub board: String,
    pub framework: String,
    pub workload: String,
    pub clock_hz: u64,
    #[serde(default)]
    pub framework_version: Option<String>,
    #[serde(default)]
    pub toolchain: Option<String>,
    pub board_kind: String,
    pub figures: BTreeMap<Metric, BaselineFigure>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineFigure {
    pub source: Source,
    pub unit: String,
    /// The median of the samples.
    pub value: f64,
    /// Every sample, when the figure is noisy or its samples differ.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl BaselineJob {
    pub fn key(&self) -> JobKey {
        JobKey { board: self.board.clone(), framework: self.framework.clone(), workload: self.workload.clone() }
    }
}

impl BaselineFigure {
    /// The samples to test with: the stored samples, or the one value.
    pub fn sample_values(&self) -> Vec<f64> {
        if self.samples.is_empty() {
            vec![self.value]
        } else {
            self.samples.clone()
        }
    }
}

/// One figure of a run: every sample of one metric of one job.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFigure {
    pub source: Source,
    pub unit: String,
    pub samples: Vec<f64>,
}

/// The figures and context of one job in a run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunJob {
    pub key: JobKey,
    pub clock_hz: u64,
    pub framework_version: Option<String>,
    pub toolchain: Option<String>,
    pub board_kind: String,
    pub figures: BTreeMap<Metric, RunFigure>,
    /// `stage: message` of each failure record of the job.
    pub failures: Vec<String>,
    /// `stage: message` of each attempt that failed and was retried (not failures of the job).
    pub retried: Vec<String>,
    /// `check: detail` of each failed check of the job.
    pub failed_checks: Vec<String>,
}

/// Groups a run's records by job: samples per metric (of the first source seen), failures and
/// failed checks.
pub fn group_run(records: &[ResultRecord]) -> BTreeMap<JobKey, RunJob> {
    let mut jobs: BTreeMap<JobKey, RunJob> = BTreeMap::new();
    for r in records {
        let job = jobs.entry(r.job.clone()).or_insert_with(|| RunJob {
            key: r.job.clone(),
            clock_hz: r.provenance.clock_hz,
            framework_version: r.provenance.framework_version.clone(),
            toolchain: r.provenance.toolchain.clone(),
            board_kind: r.provenance.board_kind.clone(),
            figures: BTreeMap::new(),
            failures: Vec::new(),
            retried: Vec::new(),
            failed_checks: Vec::new(),
        });
        // Failure records may lack the provenance that figures carry; prefer a figure's.
        if job.toolchain.is_none() {
            job.toolchain = r.provenance.toolchain.clone();
        }
        if job.framework_version.is_none() {
            job.framework_version = r.provenance.framework_version.clone();
        }
        match &r.entry {
            Entry::Metric { metric, value, unit, source, .. } => {
                let fig = job.figures.entry(*metric).or_insert_with(|| RunFigure { source: *source, unit: unit.clone(), samples: Vec::new() });
                if fig.source == *source {
                    fig.samples.push(*value);
                }
            }
            Entry::Check { check, passed: false, detail } => job.failed_checks.push(format!("{check}: {detail}")),
            Entry::Check { .. } => {}
            // A retried attempt is kept apart: the job's last attempt decides.
            Entry::Failure { stage, message } if !r.entry.is_job_failure() => job.retried.push(format!("{stage}: {message}")),
            Entry::Failure { stage, message } => job.failures.push(format!("{stage}: {message}")),
        }
    }
    jobs
}

/// Metrics measured on the host (wall time of the serial link), not by the firmware: left out
/// of baselines unless asked for.
pub fn is_host_metric(metric: Metric) -> bool {
    matches!(metric, Metric::HostUploadMs | Metric::HostInferMs)
}

/// Options of [`Baseline::from_records`].
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    /// Keep host-side wall times (`host_upload_ms`, `host_infer_ms`), which are noisy and say
    /// more about the CI machine than the firmware.
    pub include_host: bool,
}

impl Baseline {
    /// A baseline from the records of one run. Refuses a run with failures or failed checks
    /// (its figures would be incomplete or wrong) and a run with no figures.
    pub fn from_records(name: &str, run_id: &str, records: &[ResultRecord], opts: &SaveOptions) -> Result<Baseline, CiError> {
        let grouped = group_run(records);
        let mut problems = Vec::new();
        for job in grouped.values() {
            for f in job.failures.iter().chain(&job.failed_checks) {
                problems.push(format!("{}: {f}", job.key));
            }
        }
        if !problems.is_empty() {
            return Err(CiError::NoFigures(format!(
                "run {run_id} has failures, so it cannot be a baseline:\n  {}",
                problems.join("\n  ")
            )));
        }
        let mut jobs = Vec::new();
        for job in grouped.into_values() {
            let mut figures = BTreeMap::new();
            for (metric, fig) in job.figures {
                if is_host_metric(metric) && !opts.include_host {
                    continue;
                }
                let value = median(&fig.samples);
                let noisy = default_kind(metric, fig.source, &job.board_kind) == Kind::Noisy;
                let differ = fig.samples.iter().any(|s| *s != fig.samples[0]);
                let mut samples = if noisy || differ { fig.samples } else { Vec::new() };
                samples.sort_by(|a, b| a.total_cmp(b));
                figures.insert(metric, BaselineFigure { source: fig.source, unit: fig.unit, value, samples });
            }
            if figures.is_empty() {
                continue;
            }
            jobs.push(BaselineJob {
                board: job.key.board,
                framework: job.key.framework,
                workload: job.key.workload,
                clock_hz: job.clock_hz,
                framework_version: job.framework_version,
                toolchain: job.toolchain,
                board_kind: job.board_kind,
                figures,
            });
        }
        if jobs.is_empty() {
            return Err(CiError::NoFigures(format!("run {run_id} has no figures to make a baseline of")));
        }
        let first = records.first();
        Ok(Baseline {
            schema: BASELINE_SCHEMA,
            name: name.to_owned(),
            run_id: run_id.to_owned(),
            git_revision: first.and_then(|r| r.provenance.git_revision.clone()),
            recorded_at: first.map(|r| r.recorded_at.clone()),
            jobs,
        })
    }

    pub fn figure_count(&self) -> usize {
        self.jobs.iter().map(|j| j.figures.len()).sum()
    }

    pub fn job(&self, key: &JobKey) -> Option<&BaselineJob> {
        self.jobs.iter().find(|j| j.board == key.board && j.framework == key.framework && j.workload == key.workload)
    }

    /// The baseline as YAML: sorted, one figure per line, strings quoted.
    pub fn to_yaml(&self) -> String {
        let mut jobs: Vec<&BaselineJob> = self.jobs.iter().collect();
        jobs.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut s = String::new();
        s.push_str("# mcubench baseline: the figures `mcubench gate --baseline <this file>` compares a run with.\n");
        s.push_str("# Made by `mcubench baseline save`; refresh it the same way (this project: `ci/gate.sh --refresh`).\n");
        s.push_str("# One figure per line: value = median of the samples; samples kept for noisy figures.\n");
        let _ = writeln!(s, "schema: {}", self.schema);
        let _ = writeln!(s, "name: {}", q(&self.name));
        let _ = writeln!(s, "run_id: {}", q(&self.run_id));
        let _ = writeln!(s, "git_revision: {}", opt(&self.git_revision));
        let _ = writeln!(s, "recorded_at: {}", opt(&self.recorded_at));
        s.push_str("jobs:\n");
        for j in jobs {
            let _ = writeln!(s, "  - board: {}", q(&j.board));
            let _ = writeln!(s, "    framework: {}", q(&j.framework));
            let _ = writeln!(s, "    workload: {}", q(&j.workload));
            let _ = writeln!(s, "    clock_hz: {}", j.clock_hz);
            let _ = writeln!(s, "    framework_version: {}", opt(&j.framework_version));
            let _ = writeln!(s, "    toolchain: {}", opt(&j.toolchain));
            let _ = writeln!(s, "    board_kind: {}", q(&j.board_kind));
            s.push_str("    figures:\n");
            for (metric, f) in &j.figures {
                let _ = write!(s, "      {}: {{source: {}, unit: {}, value: {}", metric.name(), f.source, q(&f.unit), num(f.value));
                if !f.samples.is_empty() {
                    let samples: Vec<String> = f.samples.iter().map(|v| num(*v)).collect();
                    let _ = write!(s, ", samples: [{}]", samples.join(", "));
                }
                s.push_str("}\n");
            }
        }
        s
    }

    /// Writes the baseline: JSON if `path` ends in `.json`, YAML otherwise.
    pub fn save(&self, path: &Path) -> Result<(), CiError> {
        let text = if path.extension().is_some_and(|e| e == "json") {
            let mut t = serde_json::to_string_pretty(self).expect("baselines always serialize");
            t.push('\n');
            t
        } else {
            self.to_yaml()
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| CiError::Write { path: path.to_owned(), source })?;
        }
        std::fs::write(path, text).map_err(|source| CiError::Write { path: path.to_owned(), source })
    }

    /// Loads a baseline (YAML or JSON, which is YAML too), naming the file and line of any
    /// problem.
    pub fn load(path: &Path) -> Result<Baseline, CiError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CiError::BaselineMissing { path: path.to_owned() }),
            Err(source) => return Err(CiError::Read { path: path.to_owned(), source }),
        };
        Self::parse(&text, path)
    }

    /// Parses baseline text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Baseline, CiError> {
        let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| CiError::yaml(path, e))?;
        if let Some(found) = value.get("schema").and_then(|s| s.as_u64()).filter(|s| *s > BASELINE_SCHEMA as u64) {
            return Err(CiError::NewerSchema { path: path.to_owned(), found, supported: BASELINE_SCHEMA });
        }
        let b: Baseline = serde_yaml::from_str(text).map_err(|e| CiError::yaml(path, e))?;
        let mut seen = std::collections::BTreeSet::new();
        for j in &b.jobs {
            if !seen.insert(j.key()) {
                return Err(CiError::Invalid {
                    path: path.to_owned(),
                    line: nth_line_of(text, &format!("board: {}", q(&j.board)), 2),
                    message: format!("job {} is listed twice", j.key()),
                });
            }
            for (metric, f) in &j.figures {
                if !f.value.is_finite() || f.samples.iter().any(|s| !s.is_finite()) {
                    return Err(CiError::Invalid {
                        path: path.to_owned(),
                        line: line_of(text, &format!("{}:", metric.name()), 0),
                        message: format!("{}: {}: value is not a finite number", j.key(), metric.name()),
                    });
                }
            }
        }
        Ok(b)
    }
}

fn nth_line_of(text: &str, needle: &str, n: usize) -> usize {
    text.lines().enumerate().filter(|(_, l)| l.contains(needle)).nth(n - 1).map(|(i, _)| i + 1).unwrap_or(0)
}

/// A YAML double-quoted scalar (JSON string syntax is a subset of it).
fn q(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map(q).unwrap_or_else(|| "null".into())
}

/// Shortest text that reads back as the same f64.
fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        ".nan".into()
    } else if v > 0.0 {
        ".inf".into()
    } else {
        "-.inf".into()
    }
}

/// Where a baseline argument points: a path as given if it looks like one (has a `/` or a
/// `.yaml`/`.yml`/`.json` extension), else `<dir>/<name>.yaml`.
pub fn resolve(arg: &str, dir: &Path) -> PathBuf {
    let p = Path::new(arg);
    let is_path = arg.contains('/') || p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    if is_path {
        p.to_owned()
    } else {
        dir.join(format!("{arg}.yaml"))
    }
}

/// The baseline files in a directory, sorted by name.
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, CiError> {
    let rd = std::fs::read_dir(dir).map_err(|source| CiError::Read { path: dir.to_owned(), source })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    #[test]
    fn yaml_round_trips_sorted_one_figure_per_line() {
        let mut records = vec![
            rec("b2", Metric::FlashBytes, 1000.0, Source::Measured),
            rec("b1", Metric::Instructions, 2_026_868.6, Source::Emulated),
            rec("b1", Metric::Instructions, 2_026_868.6, Source::Emulated),
            rec("b1", Metric::DeviceTimerUs, 2026.9, Source::Emulated),
            rec("b1", Metric::DeviceTimerUs, 2027.0, Source::Emulated),
            rec("b1", Metric::HostInferMs, 150.0, Source::Measured),
        ];
        records.push(real("r1", Metric::LatencyMs, 3.5));
        records.push(real("r1", Metric::LatencyMs, 3.25));
        let b = Baseline::from_records("default", "run1", &records, &SaveOptions::default()).unwrap();
        let yaml = b.to_yaml();
        let back = Baseline::parse(&yaml, Path::new("x.yaml")).unwrap();
        assert_eq!(back, b);
        // Sorted jobs, host metrics left out, samples only where needed.
        let b1 = yaml.find("board: \"b1\"").unwrap();
        let b2 = yaml.find("board: \"b2\"").unwrap();
        assert!(b1 < b2, "{yaml}");
        assert!(!yaml.contains("host_infer_ms"), "{yaml}");
        assert!(yaml.contains("      instructions: {source: emulated, unit: \"instructions\", value: 2026868.6}\n"), "{yaml}");
        assert!(yaml.contains("device_timer_us: {source: emulated, unit: \"us\", value: 2026.95, samples: [2026.9, 2027]}"), "{yaml}");
        assert!(yaml.contains("latency_ms: {source: measured, unit: \"ms\", value: 3.375, samples: [3.25, 3.5]}"), "{yaml}");
        // JSON too.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        b.save(&p).unwrap();
        assert_eq!(Baseline::load(&p).unwrap(), b);
    }

    #[test]
    fn run_with_failures_is_refused_and_missing_file_explains() {
        let mut records = vec![rec("b1", Metric::Instructions, 1.0, Source::Emulated)];
        records.push(failure("b1", "build", "cargo failed"));
        let e = Baseline::from_records("x", "run1", &records, &SaveOptions::default()).unwrap_err().to_string();
        assert!(e.contains("build: cargo failed"), "{e}");
        let e = Baseline::load(Path::new("/nonexistent/ci/baselines/x.yaml")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/ci/baselines/x.yaml does not exist") && e.contains("mcubench baseline save"), "{e}");
    }

    #[test]
    fn malformed_baseline_names_file_and_line() {
        let records = vec![rec("b1", Metric::Instructions, 1.0, Source::Emulated)];
        let yaml = Baseline::from_records("x", "r", &records, &SaveOptions::default()).unwrap().to_yaml();
        let bad = yaml.replace("source: emulated", "source: guessed");
        let e = Baseline::parse(&bad, Path::new("ci/baselines/x.yaml")).unwrap_err().to_string();
        let line = bad.lines().position(|l| l.contains("guessed")).unwrap() + 1;
        assert!(e.starts_with(&format!("ci/baselines/x.yaml:{line}:")), "{e}");
        let newer = yaml.replace("schema: 1", "schema: 7");
        let e = Baseline::parse(&newer, Path::new("b.yaml")).unwrap_err().to_string();
        assert!(e.contains("schema 7 is newer"), "{e}");
    }

    #[test]
    fn resolve_names_and_paths() {
        assert_eq!(resolve("default", Path::new("ci/baselines")), Path::new("ci/baselines/default.yaml"));
        assert_eq!(resolve("x.json", Path::new("d")), Path::new("x.json"));
        assert_eq!(resolve("a/b", Path::new("d")), Path::new("a/b"));
    }
}
