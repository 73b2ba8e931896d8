//! Analysis with polars: the results store as a LazyFrame, repeated measurements grouped per
//! (board, clock, framework, framework version, workload, metric, source) into median, min,
//! max, spread and count. A group never mixes sources: `source` is part of the key.
//!
//! Checks and failures are not numbers; they are gathered beside the groups, per job.
use std::collections::{BTreeMap, BTreeSet};

use polars::prelude::*;

use crate::record::{Entry, Metric, ResultRecord, Source};

/// A system: one board x framework, as the column headers and MLPerf rows show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct System {
    pub board: String,
    pub cpu: String,
    pub clock_hz: u64,
    pub framework: String,
    /// Empty when the records do not say.
    pub framework_version: String,
    /// `qemu`, `probe-rs`, `serial`, ...
    pub board_kind: String,
}

impl System {
    pub fn clock_mhz(&self) -> f64 {
        self.clock_hz as f64 / 1e6
    }

    pub fn emulated(&self) -> bool {
        self.board_kind == "qemu"
    }

    /// `reference-runtime 0.1.0`, or the bare name when the version is unknown.
    pub fn framework_label(&self) -> String {
        if self.framework_version.is_empty() {
            self.framework.clone()
        } else {
            format!("{} {}", self.framework, self.framework_version)
        }
    }

    /// Three lines: board / core @ clock / framework.
    pub fn header(&self) -> String {
        format!("{}\n{} @ {} MHz\n{}", self.board, self.cpu, fmt_mhz(self.clock_mhz()), self.framework_label())
    }

    /// One line, for rows (MLPerf layout) and chart legends.
    pub fn one_line(&self) -> String {
        format!("{} ({} @ {} MHz) / {}", self.board, self.cpu, fmt_mhz(self.clock_mhz()), self.framework_label())
    }
}

pub fn fmt_mhz(mhz: f64) -> String {
    if (mhz - mhz.round()).abs() < 1e-9 {
        format!("{}", mhz.round() as i64)
    } else {
        format!("{mhz:.1}")
    }
}

/// One group of repeated measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Stat {
    pub system: System,
    pub workload: String,
    pub metric: Metric,
    pub source: Source,
    pub unit: String,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub count: u32,
    /// Distinct firmware builds in the group (more than one when runs of different builds are merged).
    pub builds: u32,
    /// Distinct runs in the group.
    pub runs: u32,
    /// How a derived figure was derived (the first note seen), e.g. "instructions / 25 MHz clock".
    pub note: Option<String>,
}

impl Stat {
    /// Half the range relative to the median, in percent (0 for one measurement).
    pub fn spread_pct(&self) -> f64 {
        if self.count < 2 || self.median == 0.0 {
            0.0
        } else {
            (self.max - self.min) / 2.0 / self.median.abs() * 100.0
        }
    }
}

/// The checks of one job (e.g. bit-exact against the golden).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Checks {
    pub passed: u32,
    pub total: u32,
    /// (passed, detail) of each check, in record order.
    pub details: Vec<(bool, String)>,
}

/// Everything the tables need, from one set of records.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    pub stats: Vec<Stat>,
    /// Systems in a stable order (board, framework, clock).
    pub systems: Vec<System>,
    /// Workloads in order of first appearance.
    pub workloads: Vec<String>,
    /// (system, workload, check name) -> counts.
    pub checks: BTreeMap<(System, String, String), Checks>,
    /// (system, workload) -> failures (stage, message).
    pub failures: BTreeMap<(System, String), Vec<(String, String)>>,
    /// (system, workload) pairs that have any record at all.
    pub jobs: BTreeSet<(System, String)>,
    /// Derivation notes: "metric: note".
    pub notes: BTreeSet<String>,
    pub runs: Vec<String>,
    /// The toolchain that built each system's firmware (first seen).
    pub toolchains: BTreeMap<System, String>,
    /// The compiler and flags each system's framework was built with (first seen).
    pub framework_flags: BTreeMap<System, String>,
}

fn system_of(r: &ResultRecord) -> System {
    System {
        board: r.job.board.clone(),
        cpu: r.provenance.cpu.clone(),
        clock_hz: r.provenance.clock_hz,
        framework: r.job.framework.clone(),
        framework_version: r.provenance.framework_version.clone().unwrap_or_default(),
        board_kind: r.provenance.board_kind.clone(),
    }
}

/// The metric records as a long DataFrame: one row per measurement, with provenance.
pub fn metrics_frame(records: &[ResultRecord]) -> PolarsResult<DataFrame> {
    let mut run_id = Vec::new();
    let mut board = Vec::new();
    let mut cpu = Vec::new();
    let mut clock = Vec::new();
    let mut framework = Vec::new();
    let mut version = Vec::new();
    let mut kind = Vec::new();
    let mut workload = Vec::new();
    let mut metric = Vec::new();
    let mut source = Vec::new();
    let mut unit = Vec::new();
    let mut value = Vec::new();
    let mut firmware = Vec::new();
    let mut note = Vec::new();
    for r in records {
        if let Entry::Metric { metric: m, value: v, unit: u, source: s, note: n } = &r.entry {
            run_id.push(r.run_id.clone());
            board.push(r.job.board.clone());
            cpu.push(r.provenance.cpu.clone());
            clock.push(r.provenance.clock_hz);
            framework.push(r.job.framework.clone());
            version.push(r.provenance.framework_version.clone().unwrap_or_default());
            kind.push(r.provenance.board_kind.clone());
            workload.push(r.job.workload.clone());
            metric.push(m.name().to_string());
            source.push(s.to_string());
            unit.push(u.clone());
            value.push(*v);
            firmware.push(r.provenance.firmware_sha256.clone().unwrap_or_default());
            note.push(n.clone().unwrap_or_default());
        }
    }
    DataFrame::new(vec![
        Column::new("run_id".into(), run_id),
        Column::new("board".into(), board),
        Column::new("cpu".into(), cpu),
        Column::new("clock_hz".into(), clock),
        Column::new("framework".into(), framework),
        Column::new("framework_version".into(), version),
        Column::new("board_kind".into(), kind),
        Column::new("workload".into(), workload),
        Column::new("metric".into(), metric),
        Column::new("source".into(), source),
        Column::new("unit".into(), unit),
        Column::new("value".into(), value),
        Column::new("firmware_sha256".into(), firmware),
        Column::new("note".into(), note),
    ])
}

/// The grouping key. `source` is in it, so emulated, measured and modeled figures never share a cell.
pub const GROUP_KEY: [&str; 10] =
    ["board", "cpu", "clock_hz", "framework", "framework_version", "board_kind", "workload", "metric", "source", "unit"];

/// Groups repeated measurements: median, min, max, spread (max - min), count.
pub fn grouped(frame: DataFrame) -> PolarsResult<DataFrame> {
    let key: Vec<Expr> = GROUP_KEY.iter().map(|k| col(*k)).collect();
    frame
        .lazy()
        .group_by_stable(key)
        .agg([
            col("value").median().alias("median"),
            col("value").min().alias("min"),
            col("value").max().alias("max"),
            (col("value").max() - col("value").min()).alias("spread"),
            col("value").count().alias("count"),
            col("firmware_sha256").n_unique().alias("builds"),
            col("run_id").n_unique().alias("runs"),
            col("note").first().alias("note"),
        ])
        .collect()
}

fn metric_by_name(name: &str) -> Option<Metric> {
    ALL_METRICS.iter().copied().find(|m| m.name() == name)
}

fn source_by_name(name: &str) -> Option<Source> {
    [Source::Measured, Source::Emulated, Source::Modeled, Source::Published].into_iter().find(|s| s.to_string() == name)
}

/// Every metric, for name lookups.
pub const ALL_METRICS: [Metric; 13] = [
    Metric::Instructions,
    Metric::Cycles,
    Metric::LatencyMs,
    Metric::EnergyUj,
    Metric::FlashBytes,
    Metric::StaticRamBytes,
    Metric::StackBytes,
    Metric::ArenaBytes,
    Metric::ModelBytes,
    Metric::Macs,
    Metric::DeviceTimerUs,
    Metric::HostUploadMs,
    Metric::HostInferMs,
];

fn stats_from(df: &DataFrame) -> PolarsResult<Vec<Stat>> {
    let s = |n: &str| -> PolarsResult<Vec<String>> {
        Ok(df.column(n)?.str()?.into_iter().map(|v| v.unwrap_or_default().to_string()).collect())
    };
    let f = |n: &str| -> PolarsResult<Vec<f64>> {
        Ok(df.column(n)?.cast(&DataType::Float64)?.f64()?.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    };
    let u = |n: &str| -> PolarsResult<Vec<u64>> {
        Ok(df.column(n)?.cast(&DataType::UInt64)?.u64()?.into_iter().map(|v| v.unwrap_or(0)).collect())
    };
    let (board, cpu, framework, version, kind, workload, metric, source, unit, note) = (
        s("board")?,
        s("cpu")?,
        s("framework")?,
        s("framework_version")?,
        s("board_kind")?,
        s("workload")?,
        s("metric")?,
        s("source")?,
        s("unit")?,
        s("note")?,
    );
    let (clock, count, builds, runs) = (u("clock_hz")?, u("count")?, u("builds")?, u("runs")?);
    let (median, min, max) = (f("median")?, f("min")?, f("max")?);
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        // Names come from our own serialisation, so they always parse; skip defensively.
        let (Some(m), Some(src)) = (metric_by_name(&metric[i]), source_by_name(&source[i])) else { continue };
        out.push(Stat {
            system: System {
                board: board[i].clone(),
                cpu: cpu[i].clone(),
                clock_hz: clock[i],
                framework: framework[i].clone(),
                framework_version: version[i].clone(),
                board_kind: kind[i].clone(),
            },
            workload: workload[i].clone(),
            metric: m,
            source: src,
            unit: unit[i].clone(),
            median: median[i],
            min: min[i],
            max: max[i],
            count: count[i] as u32,
            builds: builds[i] as u32,
            runs: runs[i] as u32,
            note: Some(note[i].clone()).filter(|n| !n.is_empty()),
        });
    }
    Ok(out)
}

/// Analyses a set of records (already filtered to the runs wanted).
pub fn analyse(records: &[ResultRecord]) -> PolarsResult<Analysis> {
    let df = grouped(metrics_frame(records)?)?;
    let mut a = Analysis { stats: stats_from(&df)?, ..Analysis::default() };
    let mut systems = BTreeSet::new();
    for r in records {
        let sys = system_of(r);
        systems.insert(sys.clone());
        if !a.workloads.contains(&r.job.workload) {
            a.workloads.push(r.job.workload.clone());
        }
        if !a.runs.contains(&r.run_id) {
            a.runs.push(r.run_id.clone());
        }
        a.jobs.insert((sys.clone(), r.job.workload.clone()));
        if let Some(t) = &r.provenance.toolchain {
            a.toolchains.entry(sys.clone()).or_insert_with(|| t.clone());
        }
        if let Some(f) = r.provenance.framework_flags() {
            a.framework_flags.entry(sys.clone()).or_insert_with(|| f.to_string());
        }
        match &r.entry {
            Entry::Metric { metric, note: Some(note), .. } => {
                a.notes.insert(format!("{}: {note}", metric.name()));
            }
            Entry::Metric { .. } => {}
            Entry::Check { check, passed, detail } => {
                let c = a.checks.entry((sys, r.job.workload.clone(), check.clone())).or_default();
                c.total += 1;
                c.passed += u32::from(*passed);
                c.details.push((*passed, detail.clone()));
            }
            Entry::Failure { stage, .. } if stage == crate::record::STAGE_RETRIED => {}
            Entry::Failure { stage, message } => {
                a.failures.entry((sys, r.job.workload.clone())).or_default().push((stage.clone(), message.clone()))
            }
        }
    }
    a.systems = systems.into_iter().collect();
    Ok(a)
}

impl Analysis {
    /// The groups of one metric for one system and workload (one per source).
    pub fn stats_of(&self, system: &System, workload: &str, metric: Metric) -> Vec<&Stat> {
        self.stats.iter().filter(|s| &s.system == system && s.workload == workload && s.metric == metric).collect()
    }

    /// The group of one metric and source.
    pub fn stat(&self, system: &System, workload: &str, metric: Metric, source: Source) -> Option<&Stat> {
        self.stats_of(system, workload, metric).into_iter().find(|s| s.source == source)
    }

    /// The preferred group of a metric when one figure is wanted: measured, then emulated, then modeled.
    pub fn best(&self, system: &System, workload: &str, metric: Metric) -> Option<&Stat> {
        let mut v = self.stats_of(system, workload, metric);
        v.sort_by_key(|s| s.source);
        v.into_iter().next()
    }

    pub fn failures_of(&self, system: &System, workload: &str) -> &[(String, String)] {
        self.failures.get(&(system.clone(), workload.to_string())).map(|v| v.as_slice()).unwrap_or(&[])
    }

    pub fn has_job(&self, system: &System, workload: &str) -> bool {
        self.jobs.contains(&(system.clone(), workload.to_string()))
    }

    /// What a cell without a figure says: `OOM` if the model did not fit, the stage that
    /// failed, `not run` if the system never ran the workload, else `n/a`.
    pub fn missing_label(&self, system: &System, workload: &str) -> String {
        match self.failures_of(system, workload).first() {
            Some((stage, _)) if stage == "fit" => "OOM".into(),
            Some((stage, _)) => format!("failed ({stage})"),
            None if !self.has_job(system, workload) => "not run".into(),
            None => "n/a".into(),
        }
    }

    /// Systems that ran a workload (or tried to).
    pub fn systems_for(&self, workload: &str) -> Vec<&System> {
        self.systems.iter().filter(|s| self.has_job(s, workload)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{JobKey, Provenance, SCHEMA_VERSION};

    fn rec(run: &str, value: f64, source: Source) -> ResultRecord {
        ResultRecord {
            schema: SCHEMA_VERSION,
            run_id: run.into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            job: JobKey { board: "b".into(), framework: "f".into(), workload: "ad01".into() },
            entry: Entry::Metric { metric: Metric::Instructions, value, unit: "instructions".into(), source, note: None },
            provenance: Provenance { cpu: "Cortex-M4".into(), clock_hz: 25_000_000, board_kind: "qemu".into(), ..Default::default() },
        }
    }

    #[test]
    fn groups_median_min_max_count_and_never_mixes_sources() {
        let records = vec![
            rec("r1", 10.0, Source::Emulated),
            rec("r1", 30.0, Source::Emulated),
            rec("r2", 20.0, Source::Emulated),
            rec("r2", 1000.0, Source::Modeled),
        ];
        let a = analyse(&records).unwrap();
        assert_eq!(a.stats.len(), 2);
        let e = a.stats.iter().find(|s| s.source == Source::Emulated).unwrap();
        assert_eq!((e.median, e.min, e.max, e.count, e.runs), (20.0, 10.0, 30.0, 3, 2));
        assert!((e.spread_pct() - 50.0).abs() < 1e-9);
        let m = a.stats.iter().find(|s| s.source == Source::Modeled).unwrap();
        assert_eq!((m.median, m.count), (1000.0, 1));
    }
}
