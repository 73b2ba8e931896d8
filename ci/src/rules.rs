//! Gate rules (`ci/gate.yaml`): which metrics are gated, by how much they may grow, how
//! improvements are reported, and how noisy figures are tested. See `ci/README.md`.
use std::collections::BTreeMap;
use std::path::Path;

use crate::record::{JobKey, Metric, Source};
use serde::{Deserialize, Deserializer};

use crate::error::{line_of, CiError};

/// The example rules, also used when no rules file is given and none is found.
pub const EXAMPLE_RULES: &str = include_str!("../gate.yaml");

/// How a figure is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Exact for deterministic figures, statistical for noisy ones (see [`default_kind`]).
    Auto,
    /// Compare the medians exactly against the limits.
    Exact,
    /// Flag only a statistically significant change beyond the limits.
    Statistical,
}

/// The two kinds of figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Repeatable to the last digit: emulated counts, sizes read from the ELF, figures modeled
    /// from them, anything on an emulated board.
    Deterministic,
    /// Varies from run to run: time and energy measured on real boards, host wall times.
    Noisy,
}

/// Whether a figure is deterministic or noisy, from its metric, source and board kind.
pub fn default_kind(metric: Metric, source: Source, board_kind: &str) -> Kind {
    if crate::baseline::is_host_metric(metric) {
        return Kind::Noisy;
    }
    match source {
        Source::Emulated | Source::Modeled | Source::Published => Kind::Deterministic,
        Source::Measured => match metric {
            Metric::LatencyMs | Metric::Cycles | Metric::EnergyUj | Metric::DeviceTimerUs if board_kind != "qemu" => Kind::Noisy,
            _ => Kind::Deterministic,
        },
    }
}

/// The statistical test for noisy figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Test {
    /// Percentile bootstrap CI of the median ratio (and difference): a regression when the
    /// whole interval lies beyond the limit.
    Bootstrap,
    /// Mann-Whitney U: a regression when p < 1 - confidence and the median change is beyond
    /// the limit.
    MannWhitney,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Statistics {
    pub test: Test,
    /// Confidence level, in (0.5, 1).
    pub confidence: f64,
    /// Bootstrap resamples.
    pub resamples: usize,
    /// Fewer samples than this on either side: the figure is inconclusive.
    pub min_samples: usize,
    /// PRNG seed of the bootstrap: the same data always give the same verdict.
    pub seed: u64,
}

impl Default for Statistics {
    fn default() -> Self {
        Statistics { test: Test::Bootstrap, confidence: 0.95, resamples: 2000, min_samples: 5, seed: 0x6d63_7562 }
    }
}

/// A non-negative, finite limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit(pub f64);

impl<'de> Deserialize<'de> for Limit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = f64::deserialize(d)?;
        if !v.is_finite() || v < 0.0 {
            return Err(serde::de::Error::custom(format!("a limit must be a number >= 0, not {v}")));
        }
        Ok(Limit(v))
    }
}

/// Limits of one metric (in `metrics:`) or an override (in `overrides:`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest tolerated increase, percent of the baseline.
    pub max_increase_pct: Option<Limit>,
    /// Largest tolerated increase, in the metric's unit.
    pub max_increase_abs: Option<Limit>,
    /// Report a decrease larger than this (percent); default: max_increase_pct.
    pub improvement_pct: Option<Limit>,
    /// Report a decrease larger than this (unit); default: max_increase_abs.
    pub improvement_abs: Option<Limit>,
    pub mode: Option<Mode>,
    /// Do not gate this metric (here, or for what the override matches).
    pub skip: Option<bool>,
}

/// Limits for the figures an override matches; an omitted selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    pub board: Option<String>,
    pub framework: Option<String>,
    pub workload: Option<String>,
    pub metric: Option<Metric>,
    pub max_increase_pct: Option<Limit>,
    pub max_increase_abs: Option<Limit>,
    pub improvement_pct: Option<Limit>,
    pub improvement_abs: Option<Limit>,
    pub mode: Option<Mode>,
    pub skip: Option<bool>,
}

impl Override {
    fn matches(&self, job: &JobKey, metric: Metric) -> bool {
        self.board.as_ref().is_none_or(|b| *b == job.board)
            && self.framework.as_ref().is_none_or(|f| *f == job.framework)
            && self.workload.as_ref().is_none_or(|w| *w == job.workload)
            && self.metric.is_none_or(|m| m == metric)
    }
    fn limits(&self) -> Limits {
        Limits {
            max_increase_pct: self.max_increase_pct,
            max_increase_abs: self.max_increase_abs,
            improvement_pct: self.improvement_pct,
            improvement_abs: self.improvement_abs,
            mode: self.mode,
            skip: self.skip,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateRules {
    pub version: u32,
    #[serde(default)]
    pub statistics: Statistics,
    #[serde(default)]
    pub metrics: BTreeMap<Metric, Limits>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    /// Where the rules came from, for messages.
    #[serde(skip)]
    pub origin: String,
}

/// The limits that apply to one figure, all overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub max_increase_pct: Option<f64>,
    pub max_increase_abs: Option<f64>,
    pub improvement_pct: Option<f64>,
    pub improvement_abs: Option<f64>,
    pub mode: Mode,
}

impl Rule {
    /// The limit as text, e.g. `+0.5%`, `+64 bytes`, `+1% or +256 bytes`.
    pub fn describe(&self, unit: &str) -> String {
        let mut parts = Vec::new();
        if let Some(p) = self.max_increase_pct {
            parts.push(format!("+{p}%"));
        }
        if let Some(a) = self.max_increase_abs {
            parts.push(format!("+{a} {unit}"));
        }
        parts.join(" or ")
    }
}

fn apply(into: &mut Limits, from: &Limits) {
    macro_rules! take {
        ($($f:ident),*) => { $( if from.$f.is_some() { into.$f = from.$f; } )* };
    }
    take!(max_increase_pct, max_increase_abs, improvement_pct, improvement_abs, mode, skip);
}

pub const RULES_VERSION: u32 = 1;

impl GateRules {
    /// Loads and validates a rules file.
    pub fn load(path: &Path) -> Result<GateRules, CiError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(CiError::RulesMissing { path: path.to_owned() }),
            Err(source) => return Err(CiError::Read { path: path.to_owned(), source }),
        };
        Self::parse(&text, path)
    }

    /// The built-in rules ([`EXAMPLE_RULES`]).
    pub fn builtin() -> GateRules {
        let mut r = Self::parse(EXAMPLE_RULES, Path::new("ci/gate.yaml")).expect("the example rules are valid");
        r.origin = "built-in rules (a copy of ci/gate.yaml)".into();
        r
    }

    /// Parses and validates rules text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<GateRules, CiError> {
        let mut rules: GateRules = serde_yaml::from_str(text).map_err(|e| CiError::yaml(path, e))?;
        rules.origin = path.display().to_string();
        let invalid = |needle: &str, from: usize, message: String| CiError::Invalid { path: path.to_owned(), line: line_of(text, needle, from), message };
        if rules.version != RULES_VERSION {
            return Err(invalid("version:", 0, format!("version {} is not supported (this mcubench reads version {RULES_VERSION})", rules.version)));
        }
        let s = &rules.statistics;
        if !(s.confidence > 0.5 && s.confidence < 1.0) {
            return Err(invalid("confidence:", 0, format!("statistics.confidence must be between 0.5 and 1 (exclusive), not {}", s.confidence)));
        }
        if s.resamples < 100 {
            return Err(invalid("resamples:", 0, format!("statistics.resamples must be at least 100, not {}", s.resamples)));
        }
        if s.min_samples < 2 {
            return Err(invalid("min_samples:", 0, format!("statistics.min_samples must be at least 2, not {}", s.min_samples)));
        }
        let metrics_line = line_of(text, "metrics:", 0);
        for (metric, l) in &rules.metrics {
            if l.skip != Some(true) && l.max_increase_pct.is_none() && l.max_increase_abs.is_none() {
                return Err(invalid(
                    &format!("{}:", metric.name()),
                    metrics_line,
                    format!("metrics.{}: give max_increase_pct and/or max_increase_abs (or skip: true)", metric.name()),
                ));
            }
        }
        let overrides_line = line_of(text, "overrides:", 0);
        for (i, o) in rules.overrides.iter().enumerate() {
            if o.board.is_none() && o.framework.is_none() && o.workload.is_none() && o.metric.is_none() {
                let line = text.lines().enumerate().skip(overrides_line).filter(|(_, l)| l.trim_start().starts_with("- ")).nth(i).map(|(n, _)| n + 1);
                return Err(CiError::Invalid {
                    path: path.to_owned(),
                    line: line.unwrap_or(overrides_line),
                    message: format!("overrides[{i}] selects nothing: give board, framework, workload and/or metric"),
                });
            }
        }
        Ok(rules)
    }

    /// The rule for one figure, or `None` if the figure is not gated.
    pub fn rule_for(&self, job: &JobKey, metric: Metric) -> Option<Rule> {
        let mut limits = self.metrics.get(&metric).cloned();
        for o in self.overrides.iter().filter(|o| o.matches(job, metric)) {
            apply(limits.get_or_insert_with(Limits::default), &o.limits());
        }
        let l = limits?;
        if l.skip == Some(true) || (l.max_increase_pct.is_none() && l.max_increase_abs.is_none()) {
            return None;
        }
        let pct = l.max_increase_pct.map(|x| x.0);
        let abs = l.max_increase_abs.map(|x| x.0);
        Some(Rule {
            max_increase_pct: pct,
            max_increase_abs: abs,
            improvement_pct: l.improvement_pct.map(|x| x.0).or(pct),
            improvement_abs: l.improvement_abs.map(|x| x.0).or(abs),
            mode: l.mode.unwrap_or(Mode::Auto),
        })
    }

    /// Overrides that match none of the given figures (likely typos), as `overrides[i]`.
    pub fn unused_overrides<'a>(&self, figures: impl Iterator<Item = (&'a JobKey, Metric)> + Clone) -> Vec<String> {
        self.overrides
            .iter()
            .enumerate()
            .filter(|(_, o)| !figures.clone().any(|(j, m)| o.matches(j, m)))
            .map(|(i, o)| {
                let sel: Vec<String> = [("board", &o.board), ("framework", &o.framework), ("workload", &o.workload)]
                    .iter()
                    .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}: {v}")))
                    .chain(o.metric.map(|m| format!("metric: {}", m.name())))
                    .collect();
                format!("{}: overrides[{i}] ({}) matches no figure", self.origin, sel.join(", "))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(board: &str) -> JobKey {
        JobKey { board: board.into(), framework: "reference-runtime".into(), workload: "ad01".into() }
    }

    #[test]
    fn example_rules_parse() {
        let r = GateRules::builtin();
        assert!(r.rule_for(&key("mps2-an386"), Metric::Instructions).is_some());
        assert!(r.rule_for(&key("mps2-an386"), Metric::HostInferMs).is_none());
    }

    #[test]
    fn overrides_apply_in_order() {
        let text = "version: 1\nmetrics:\n  stack_bytes: {max_increase_pct: 0, max_increase_abs: 64}\n  flash_bytes: {max_increase_pct: 1}\noverrides:\n  - board: big\n    metric: stack_bytes\n    max_increase_abs: 128\n  - workload: ad01\n    metric: flash_bytes\n    skip: true\n  - board: big\n    metric: arena_bytes\n    max_increase_pct: 2\n";
        let r = GateRules::parse(text, Path::new("g.yaml")).unwrap();
        let small = r.rule_for(&key("small"), Metric::StackBytes).unwrap();
        assert_eq!((small.max_increase_pct, small.max_increase_abs), (Some(0.0), Some(64.0)));
        let big = r.rule_for(&key("big"), Metric::StackBytes).unwrap();
        assert_eq!((big.max_increase_pct, big.max_increase_abs, big.improvement_abs), (Some(0.0), Some(128.0), Some(128.0)));
        assert!(r.rule_for(&key("big"), Metric::FlashBytes).is_none());
        assert!(r.rule_for(&key("small"), Metric::ArenaBytes).is_none());
        assert_eq!(r.rule_for(&key("big"), Metric::ArenaBytes).unwrap().max_increase_pct, Some(2.0));
        let figs = [(key("small"), Metric::StackBytes)];
        let unused = r.unused_overrides(figs.iter().map(|(k, m)| (k, *m)));
        assert_eq!(unused.len(), 3, "{unused:?}");
    }

    fn err(text: &str) -> String {
        GateRules::parse(text, Path::new("ci/gate.yaml")).unwrap_err().to_string()
    }

    #[test]
    fn malformed_rules_name_file_and_line() {
        let e = err("version: 1\nmetrics:\n  instructions: {max_increase_pct: 1}\n  instrs: {max_increase_pct: 1}\n");
        assert!(e.starts_with("ci/gate.yaml:4:") && e.contains("unknown variant `instrs`"), "{e}");
        let e = err("version: 1\nmetrics:\n  instructions:\n    max_increase_pct: -1\n");
        assert!(e.starts_with("ci/gate.yaml:4:") && e.contains(">= 0"), "{e}");
        let e = err("version: 1\nmetrics:\n  instructions:\n    max_increse_pct: 1\n");
        assert!(e.starts_with("ci/gate.yaml:4:") && e.contains("unknown field `max_increse_pct`"), "{e}");
        let e = err("version: 1\nmetrics:\n  flash_bytes: {max_increase_pct: 1}\n  instructions: {mode: exact}\n");
        assert!(e.starts_with("ci/gate.yaml:4: ") && e.contains("metrics.instructions: give max_increase_pct"), "{e}");
        let e = err("version: 1\nstatistics:\n  confidence: 95\n");
        assert!(e.starts_with("ci/gate.yaml:3: ") && e.contains("confidence"), "{e}");
        let e = err("version: 2\n");
        assert!(e.starts_with("ci/gate.yaml:1: ") && e.contains("version 2"), "{e}");
        let e = err("version: 1\noverrides:\n  - metric: flash_bytes\n    max_increase_pct: 1\n  - max_increase_pct: 1\n");
        assert!(e.starts_with("ci/gate.yaml:5: ") && e.contains("overrides[1] selects nothing"), "{e}");
        let e = err("version: 1\nmetrics: [\n");
        assert!(e.starts_with("ci/gate.yaml:"), "{e}");
        let e = GateRules::load(Path::new("/nonexistent/gate.yaml")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/gate.yaml do not exist"), "{e}");
    }

    #[test]
    fn kinds() {
        assert_eq!(default_kind(Metric::Instructions, Source::Emulated, "qemu"), Kind::Deterministic);
        assert_eq!(default_kind(Metric::LatencyMs, Source::Modeled, "qemu"), Kind::Deterministic);
        assert_eq!(default_kind(Metric::FlashBytes, Source::Measured, "probe-rs"), Kind::Deterministic);
        assert_eq!(default_kind(Metric::LatencyMs, Source::Measured, "probe-rs"), Kind::Noisy);
        assert_eq!(default_kind(Metric::EnergyUj, Source::Measured, "serial"), Kind::Noisy);
        assert_eq!(default_kind(Metric::HostInferMs, Source::Measured, "qemu"), Kind::Noisy);
    }
}
