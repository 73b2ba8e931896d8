//! The gate: a run's figures against a baseline, under the rules.
use std::collections::BTreeMap;

use crate::record::{JobKey, Metric, ResultRecord};

use crate::baseline::{group_run, Baseline, BaselineFigure, RunFigure, RunJob};
use crate::rules::{default_kind, GateRules, Kind, Mode, Rule, Test};
use crate::stats::{bootstrap_median_shift, mann_whitney, median};

/// The verdict on one figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    /// Grew beyond its limits.
    Regressed,
    /// In the baseline and gated, but not in the run (the job failed or did not run).
    Missing,
    /// Not comparable with the baseline (other source or clock).
    Incomparable,
    /// Noisy figure with too few samples to test.
    Inconclusive,
    /// Shrank beyond the improvement limits: refresh the baseline.
    Improved,
    /// Within the limits.
    Pass,
    /// Gated by the rules but not in the baseline: refresh the baseline to gate it.
    New,
    /// Its job is not in this run and the gate was asked to allow that (`--partial`).
    Skipped,
    /// No rule for it.
    NotGated,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Regressed => "REGRESSED",
            Status::Missing => "MISSING",
            Status::Incomparable => "INCOMPARABLE",
            Status::Inconclusive => "INCONCLUSIVE",
            Status::Improved => "improved",
            Status::Pass => "ok",
            Status::New => "new",
            Status::Skipped => "skipped",
            Status::NotGated => "not gated",
        }
    }
}

/// How a figure was compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Exact,
    Statistical,
}

/// One figure's comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub job: JobKey,
    pub metric: Metric,
    pub status: Status,
    pub comparison: Option<Comparison>,
    pub unit: String,
    /// Median of the baseline.
    pub baseline: Option<f64>,
    /// Median of the run.
    pub current: Option<f64>,
    /// current - baseline.
    pub delta: Option<f64>,
    /// Relative change in percent.
    pub pct: Option<f64>,
    /// The limit, e.g. `+0.5%`.
    pub limit: String,
    /// Why: the numbers behind the verdict, or what went wrong.
    pub detail: String,
}

/// The whole gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    CheckFailed,
    Regression,
    Infrastructure,
    Mismatch,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => crate::exit::OK,
            Outcome::CheckFailed => crate::exit::CHECK_FAILED,
            Outcome::Regression => crate::exit::REGRESSION,
            Outcome::Infrastructure => crate::exit::INFRASTRUCTURE,
            Outcome::Mismatch => crate::exit::USAGE,
        }
    }
    pub fn headline(self) -> &'static str {
        match self {
            Outcome::Pass => "passed",
            Outcome::CheckFailed => "failed: wrong outputs",
            Outcome::Regression => "failed: performance regression",
            Outcome::Infrastructure => "failed: infrastructure (results missing)",
            Outcome::Mismatch => "failed: the baseline does not fit this run",
        }
    }
}

/// Options of [`evaluate`].
#[derive(Debug, Clone, Default)]
pub struct GateOptions {
    /// Baseline jobs absent from the run are skipped instead of missing.
    pub partial: bool,
    /// Shown in reports: where the baseline came from.
    pub baseline_path: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GateReport {
    pub baseline_name: String,
    pub baseline_path: String,
    pub baseline_run: String,
    pub baseline_revision: Option<String>,
    pub run_id: Option<String>,
    pub run_revision: Option<String>,
    pub rules_origin: String,
    pub checks: Vec<Check>,
    /// `job: stage: message` of each failure record in the run, and run-level problems
    /// (no results at all).
    pub infrastructure: Vec<String>,
    /// `job: check: detail` of each failed correctness check.
    pub failed_checks: Vec<String>,
    /// Context worth knowing: toolchain changes, unused overrides.
    pub notes: Vec<String>,
}

impl GateReport {
    pub fn outcome(&self) -> Outcome {
        let any = |s: &[Status]| self.checks.iter().any(|c| s.contains(&c.status));
        if !self.failed_checks.is_empty() {
            Outcome::CheckFailed
        } else if any(&[Status::Regressed]) {
            Outcome::Regression
        } else if !self.infrastructure.is_empty() || any(&[Status::Missing]) {
            Outcome::Infrastructure
        } else if any(&[Status::Incomparable, Status::Inconclusive]) {
            Outcome::Mismatch
        } else {
            Outcome::Pass
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.outcome().exit_code()
    }

    pub fn count(&self, status: Status) -> usize {
        self.checks.iter().filter(|c| c.status == status).count()
    }

    /// A report for a run that produced nothing to gate (no store, empty store, unknown run).
    pub fn no_results(baseline: Option<&Baseline>, rules_origin: &str, opts: &GateOptions, problem: String) -> GateReport {
        GateReport {
            baseline_name: baseline.map(|b| b.name.clone()).unwrap_or_default(),
            baseline_path: opts.baseline_path.clone(),
            baseline_run: baseline.map(|b| b.run_id.clone()).unwrap_or_default(),
            baseline_revision: baseline.and_then(|b| b.git_revision.clone()),
            run_id: None,
            run_revision: None,
            rules_origin: rules_origin.to_owned(),
            checks: Vec::new(),
            infrastructure: vec![problem],
            failed_checks: Vec::new(),
            notes: Vec::new(),
        }
    }
}

/// Compares the records of one run with a baseline under the rules.
pub fn evaluate(baseline: &Baseline, rules: &GateRules, run_id: &str, records: &[ResultRecord], opts: &GateOptions) -> GateReport {
    let run = group_run(records);
    let mut report = GateReport {
        baseline_name: baseline.name.clone(),
        baseline_path: opts.baseline_path.clone(),
        baseline_run: baseline.run_id.clone(),
        baseline_revision: baseline.git_revision.clone(),
        run_id: Some(run_id.to_owned()),
        run_revision: records.iter().find_map(|r| r.provenance.git_revision.clone()),
        rules_origin: rules.origin.clone(),
        checks: Vec::new(),
        infrastructure: Vec::new(),
        failed_checks: Vec::new(),
        notes: Vec::new(),
    };
    for job in run.values() {
        report.infrastructure.extend(job.failures.iter().map(|f| format!("{}: {f}", job.key)));
        // Passed (or failed) on a later attempt: worth knowing, not a failure by itself.
        report.notes.extend(job.retried.iter().map(|f| format!("{}: retried after {f}", job.key)));
        report.failed_checks.extend(job.failed_checks.iter().map(|f| format!("{}: {f}", job.key)));
    }
    if records.is_empty() {
        report.infrastructure.push(format!("run {run_id} has no records"));
    }

    let mut bjobs: Vec<_> = baseline.jobs.iter().collect();
    bjobs.sort_by_key(|j| j.key());
    for bj in bjobs {
        let key = bj.key();
        let rj = run.get(&key);
        if let Some(rj) = rj {
            for (what, then, now) in [
                ("toolchain", &bj.toolchain, &rj.toolchain),
                ("framework version", &bj.framework_version, &rj.framework_version),
            ] {
                if then != now && now.is_some() {
                    report.notes.push(format!(
                        "{key}: {what} changed since the baseline ({} -> {}); differences may come from it",
                        then.as_deref().unwrap_or("?"),
                        now.as_deref().unwrap_or("?")
                    ));
                }
            }
        }
        for (&metric, bf) in &bj.figures {
            let rule = rules.rule_for(&key, metric);
            let check = check_figure(&key, metric, bf, bj.clock_hz, rule.as_ref(), rj, rules, opts);
            report.checks.push(check);
        }
        // Gated figures of this job the baseline lacks.
        if let Some(rj) = rj {
            for (&metric, rf) in rj.figures.iter().filter(|(m, _)| !bj.figures.contains_key(m)) {
                if let Some(rule) = rules.rule_for(&key, metric) {
                    report.checks.push(new_figure(&key, metric, rf, &rule));
                }
            }
        }
    }
    // Jobs the baseline lacks.
    for (key, rj) in run.iter().filter(|(k, _)| baseline.job(k).is_none()) {
        for (&metric, rf) in &rj.figures {
            if let Some(rule) = rules.rule_for(key, metric) {
                report.checks.push(new_figure(key, metric, rf, &rule));
            }
        }
    }
    let mut figures: Vec<(JobKey, Metric)> = baseline.jobs.iter().flat_map(|j| j.figures.keys().map(move |m| (j.key(), *m))).collect();
    figures.extend(run.values().flat_map(|j| j.figures.keys().map(move |m| (j.key.clone(), *m))));
    report.notes.extend(rules.unused_overrides(figures.iter().map(|(k, m)| (k, *m))));
    report.checks.sort_by(|a, b| (&a.job, a.metric).cmp(&(&b.job, b.metric)));
    report
}

fn new_figure(key: &JobKey, metric: Metric, rf: &RunFigure, rule: &Rule) -> Check {
    Check {
        job: key.clone(),
        metric,
        status: Status::New,
        comparison: None,
        unit: rf.unit.clone(),
        baseline: None,
        current: Some(median(&rf.samples)),
        delta: None,
        pct: None,
        limit: rule.describe(&rf.unit),
        detail: "not in the baseline: refresh the baseline to gate it".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn check_figure(
    key: &JobKey,
    metric: Metric,
    bf: &BaselineFigure,
    base_clock: u64,
    rule: Option<&Rule>,
    rj: Option<&RunJob>,
    rules: &GateRules,
    opts: &GateOptions,
) -> Check {
    let rf = rj.and_then(|j| j.figures.get(&metric));
    let mut c = Check {
        job: key.clone(),
        metric,
        status: Status::NotGated,
        comparison: None,
        unit: bf.unit.clone(),
        baseline: Some(bf.value),
        current: rf.map(|f| median(&f.samples)),
        delta: None,
        pct: None,
        limit: rule.map(|r| r.describe(&bf.unit)).unwrap_or_default(),
        detail: String::new(),
    };
    let Some(rule) = rule else {
        c.detail = "no rule for this metric".into();
        return c;
    };
    let (Some(rj), Some(rf)) = (rj, rf) else {
        match rj {
            None if opts.partial => {
                c.status = Status::Skipped;
                c.detail = "the job is not in this run (--partial)".into();
            }
            None => {
                c.status = Status::Missing;
                c.detail = "the job did not run".into();
            }
            Some(rj) => {
                c.status = Status::Missing;
                c.detail = match rj.failures.first() {
                    Some(f) => format!("the job failed: {f}"),
                    None => format!("no {} figure in the run", metric.name()),
                };
            }
        }
        return c;
    };
    if rf.source != bf.source {
        c.status = Status::Incomparable;
        c.detail = format!("source was {} in the baseline, is {} now: refresh the baseline", bf.source, rf.source);
        return c;
    }
    if rj.clock_hz != base_clock {
        c.status = Status::Incomparable;
        c.detail = format!("clock was {} Hz in the baseline, is {} Hz now: refresh the baseline", base_clock, rj.clock_hz);
        return c;
    }
    let comparison = match rule.mode {
        Mode::Exact => Comparison::Exact,
        Mode::Statistical => Comparison::Statistical,
        Mode::Auto => match default_kind(metric, rf.source, &rj.board_kind) {
            Kind::Deterministic => Comparison::Exact,
            Kind::Noisy => Comparison::Statistical,
        },
    };
    c.comparison = Some(comparison);
    let base = bf.value;
    let cur = median(&rf.samples);
    let delta = cur - base;
    let pct = pct_change(base, cur);
    c.delta = Some(delta);
    c.pct = Some(pct);
    match comparison {
        Comparison::Exact => {
            c.status = verdict(rule, pct, delta, pct, delta);
            c.detail = if rf.samples.iter().any(|s| *s != rf.samples[0]) {
                format!("median of {} samples (they vary)", rf.samples.len())
            } else {
                "exact".into()
            };
        }
        Comparison::Statistical => {
            let bs = bf.sample_values();
            let s = &rules.statistics;
            if bs.len() < s.min_samples || rf.samples.len() < s.min_samples {
                c.status = Status::Inconclusive;
                c.detail = format!(
                    "{} samples in the baseline and {} in the run; the statistical rule needs {} on each side (more --windows)",
                    bs.len(),
                    rf.samples.len(),
                    s.min_samples
                );
                return c;
            }
            let n = format!("n = {}/{}", bs.len(), rf.samples.len());
            match s.test {
                Test::Bootstrap => {
                    let shift = bootstrap_median_shift(&bs, &rf.samples, s.resamples, s.confidence, s.seed);
                    let (lo, hi) = ((shift.ratio_ci.0 - 1.0) * 100.0, (shift.ratio_ci.1 - 1.0) * 100.0);
                    // Regressed only if even the low end of the interval is beyond the limit;
                    // improved only if even the high end is.
                    c.status = if shift.ratio_ci.0 > 1.0 {
                        verdict(rule, lo, shift.diff_ci.0, pct, delta)
                    } else if shift.ratio_ci.1 < 1.0 {
                        verdict(rule, hi, shift.diff_ci.1, pct, delta)
                    } else {
                        Status::Pass
                    };
                    c.detail = format!("{:.0}% CI of the median change [{lo:+.2}%, {hi:+.2}%], {n}", s.confidence * 100.0);
                }
                Test::MannWhitney => {
                    let mw = mann_whitney(&bs, &rf.samples);
                    let significant = mw.p < 1.0 - s.confidence;
                    c.status = if significant { verdict(rule, pct, delta, pct, delta) } else { Status::Pass };
                    c.detail = format!("Mann-Whitney U = {}, p = {:.4}{}, {n}", mw.u, mw.p, if significant { "" } else { " (not significant)" });
                }
            }
        }
    }
    c
}

/// Regressed, improved or pass, given the change to test against the limits (`pct`, `delta`:
/// the point change for exact rules, the near end of the confidence interval for statistical
/// ones) and the point change (for its sign).
fn verdict(rule: &Rule, pct: f64, delta: f64, point_pct: f64, point_delta: f64) -> Status {
    let beyond = |lim_pct: Option<f64>, lim_abs: Option<f64>, p: f64, d: f64| {
        (lim_pct.is_some() || lim_abs.is_some()) && lim_pct.is_none_or(|l| p > l) && lim_abs.is_none_or(|l| d > l)
    };
    if point_delta > 0.0 && delta > 0.0 && beyond(rule.max_increase_pct, rule.max_increase_abs, pct, delta) {
        Status::Regressed
    } else if point_delta < 0.0 && delta < 0.0 && beyond(rule.improvement_pct, rule.improvement_abs, -pct, -delta) {
        let _ = point_pct;
        Status::Improved
    } else {
        Status::Pass
    }
}

/// Relative change in percent; a change from 0 is +-infinite.
pub fn pct_change(base: f64, cur: f64) -> f64 {
    (crate::stats::ratio(cur, base) - 1.0) * 100.0
}

/// Counts per status, in status order.
pub fn tally(report: &GateReport) -> BTreeMap<Status, usize> {
    let mut m = BTreeMap::new();
    for c in &report.checks {
        *m.entry(c.status).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
#[path = "gate_tests.rs"]
mod tests;
