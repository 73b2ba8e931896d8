//! The table layouts of a report, built from an [`Analysis`]:
//!
//! - `platforms`: the platforms under test (board, MCU, core, clock, flash, SRAM, framework),
//!   as Table A of the TinyML Platforms Benchmarking study;
//! - `study-<workload>`: one table per workload, metrics down the side, one column per board x
//!   framework with the clock in the header (the study's per-application tables);
//! - `tinyengine-<metric>`: one table per metric (latency, peak SRAM, flash), models as rows,
//!   systems as columns, `OOM` where the model did not fit (the TinyEngine README layout);
//! - `mlperf-<metric>`: systems as rows, the MLPerf Tiny benchmarks as columns.
//!
//! Every cell is a figure with its source, or a label (`n/a`, `OOM`, `failed (stage)`,
//! `not run`): never a blank and never a stand-in.
use std::collections::BTreeSet;

use crate::grid::{fmt_sig, group_thousands, kib, Cell, Table};
use crate::record::{Metric, Source};
use crate::summary::{fmt_mhz, Analysis, Stat, System};

/// What the board inventory says about a board (the harness fills this from boards.yaml).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardInfo {
    pub name: String,
    /// The part whose budget an emulated board imitates, or the real part.
    pub part: Option<String>,
    pub flash_bytes: u64,
    pub ram_bytes: u64,
    /// `qemu`, `probe-rs`, `serial`.
    pub kind: String,
    /// e.g. the QEMU machine.
    pub machine: Option<String>,
}

/// Report options.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Add rows normalised to 100 MHz and per MAC (clearly labelled).
    pub normalised: bool,
}

/// The MLPerf Tiny benchmarks, in the order MLPerf lists them.
pub const MLPERF: [(&str, &str); 4] = [("kws01", "KWS"), ("vww01", "VWW"), ("ic01", "IC"), ("ad01", "AD")];

fn with_spread(stat: &Stat, text: String) -> String {
    let mut extra = Vec::new();
    let spread = stat.spread_pct();
    if spread >= 0.05 {
        extra.push(format!("±{spread:.1}%"));
    } else if spread > 0.0 {
        extra.push("±<0.1%".to_string());
    }
    let mut out = text;
    if !extra.is_empty() {
        out = format!("{out} {}", extra.join(" "));
    }
    out
}

fn stat_cell(stat: &Stat, fmt: fn(f64) -> String) -> Cell {
    let mut cell = Cell::figure(stat.median, stat.source, with_spread(stat, fmt(stat.median)));
    if stat.builds > 1 {
        cell.text = format!("{} [{} builds]", cell.text, stat.builds);
    }
    cell
}

/// Peak RAM as the study counts it: static (data + bss, arena included) + stack peak. The
/// sum takes the less direct of the two sources and says so in its text.
pub fn peak_ram(a: &Analysis, sys: &System, workload: &str) -> Option<(f64, Source, String)> {
    let s = a.best(sys, workload, Metric::StaticRamBytes)?;
    let k = a.best(sys, workload, Metric::StackBytes)?;
    let v = s.median + k.median;
    let source = s.source.max(k.source);
    let how = if s.source == k.source { source.to_string() } else { format!("{} static + {} stack", s.source, k.source) };
    Some((v, source, how))
}

fn peak_ram_cell(a: &Analysis, sys: &System, workload: &str) -> Cell {
    match peak_ram(a, sys, workload) {
        Some((v, source, how)) => Cell { text: format!("{} ({how})", kib(v)), ..Cell::figure(v, source, "") },
        None => Cell::label(a.missing_label(sys, workload)),
    }
}

/// A row of the study table.
enum RowKind {
    /// A stored metric, formatted.
    Stored(Metric, fn(f64) -> String),
    /// Computed from an analysis.
    Derived(fn(&Analysis, &System, &str) -> Cell),
}

struct RowSpec {
    label: &'static str,
    kind: RowKind,
    normalised: bool,
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}
fn uj(v: f64) -> String {
    format!("{v:.1}")
}
fn host_ms(v: f64) -> String {
    format!("{v:.1}")
}

fn ratio_cell(a: &Analysis, sys: &System, w: &str, num: Metric, den: Metric, scale: f64, digits: usize, tag: &str) -> Cell {
    match (a.best(sys, w, num), a.best(sys, w, den)) {
        (Some(n), Some(d)) if d.median > 0.0 => {
            let v = n.median / d.median * scale;
            let text = format!("{v:.digits$} ({}{tag})", n.source);
            Cell { text, ..Cell::figure(v, n.source, "") }
        }
        _ => Cell::label(a.missing_label(sys, w)),
    }
}

fn study_rows() -> Vec<RowSpec> {
    use RowKind::{Derived, Stored};
    vec![
        RowSpec { label: "Model size, runtime format (KB)", kind: Stored(Metric::ModelBytes, kib), normalised: false },
        RowSpec { label: "MACs per inference", kind: Stored(Metric::Macs, group_thousands), normalised: false },
        RowSpec { label: "Flash, whole firmware (KB)", kind: Stored(Metric::FlashBytes, kib), normalised: false },
        RowSpec { label: "RAM static: data + bss (KB)", kind: Stored(Metric::StaticRamBytes, kib), normalised: false },
        RowSpec { label: "  of which arena, peak used (KB)", kind: Stored(Metric::ArenaBytes, kib), normalised: false },
        RowSpec { label: "RAM stack, peak (KB)", kind: Stored(Metric::StackBytes, kib), normalised: false },
        RowSpec { label: "RAM total: static + stack (KB)", kind: Derived(peak_ram_cell), normalised: false },
        RowSpec { label: "Instructions per inference", kind: Stored(Metric::Instructions, group_thousands), normalised: false },
        RowSpec {
            label: "Instructions per MAC",
            kind: Derived(|a, s, w| ratio_cell(a, s, w, Metric::Instructions, Metric::Macs, 1.0, 2, "")),
            normalised: false,
        },
        RowSpec {
            label: crate::table::MAC_FLOOR_ROW,
            kind: Derived(|a, s, w| match (a.best(s, w, Metric::Instructions), a.best(s, w, Metric::Macs)) {
                (Some(i), Some(m)) if m.median > 0.0 => {
                    let v = i.median / (m.median / 2.0);
                    Cell { text: format!("{v:.2} (derived from {})", i.source), ..Cell::figure(v, i.source, "") }
                }
                _ => Cell::label(a.missing_label(s, w)),
            }),
            normalised: false,
        },
        RowSpec { label: "Cycles per inference", kind: Stored(Metric::Cycles, group_thousands), normalised: false },
        RowSpec { label: "Inference time (ms)", kind: Stored(Metric::LatencyMs, ms), normalised: false },
        RowSpec {
            label: "Inference time at 100 MHz (ms) [normalised]",
            kind: Derived(|a, s, w| match a.best(s, w, Metric::LatencyMs) {
                Some(l) => {
                    let v = l.median * s.clock_mhz() / 100.0;
                    Cell { text: format!("{v:.3} ({}, normalised)", l.source), ..Cell::figure(v, l.source, "") }
                }
                None => Cell::label(a.missing_label(s, w)),
            }),
            normalised: true,
        },
        RowSpec {
            label: "Inference time per MAC (ns) [normalised]",
            kind: Derived(|a, s, w| ratio_cell(a, s, w, Metric::LatencyMs, Metric::Macs, 1e6, 2, ", normalised")),
            normalised: true,
        },
        RowSpec { label: "Energy per inference (uJ)", kind: Stored(Metric::EnergyUj, uj), normalised: false },
        RowSpec {
            label: "Energy per MAC (pJ) [normalised]",
            kind: Derived(|a, s, w| ratio_cell(a, s, w, Metric::EnergyUj, Metric::Macs, 1e6, 2, ", normalised")),
            normalised: true,
        },
        RowSpec {
            label: "Output agreement vs TFLM golden",
            kind: Derived(|a, s, w| {
                let c = a.checks.get(&(s.clone(), w.to_string(), "golden".to_string()));
                match c.and_then(|c| crate::record::agreement_text(c.details.iter().map(|(p, d)| (*p, d.as_str())))) {
                    Some(text) => Cell::text(text),
                    None => Cell::label(a.missing_label(s, w)),
                }
            }),
            normalised: false,
        },
        RowSpec {
            label: "Count repeatable across windows",
            kind: Derived(|a, s, w| {
                match a.best(s, w, Metric::Instructions).or_else(|| a.best(s, w, Metric::Cycles)) {
                    Some(st) if st.count > 1 => {
                        if st.min == st.max {
                            Cell::text(format!("yes, {} windows identical", st.count))
                        } else {
                            Cell::text(format!("no, spread {}", group_thousands(st.max - st.min)))
                        }
                    }
                    Some(_) => Cell::text("1 window"),
                    None => Cell::label(a.missing_label(s, w)),
                }
            }),
            normalised: false,
        },
        RowSpec { label: "Host: input upload (ms)", kind: Stored(Metric::HostUploadMs, host_ms), normalised: false },
        RowSpec { label: "Host: infer round trip (ms)", kind: Stored(Metric::HostInferMs, host_ms), normalised: false },
    ]
}

/// The legend of source labels used in a set of tables.
pub fn source_legend(a: &Analysis) -> Vec<String> {
    let sources: BTreeSet<Source> = a.stats.iter().map(|s| s.source).collect();
    let mut notes: Vec<String> = sources
        .into_iter()
        .map(|s| match s {
            Source::Measured => "measured: read from the firmware ELF or measured on silicon".to_string(),
            Source::Emulated => {
                "emulated: counted on QEMU (instructions are exact and repeatable; QEMU has no cycle timing)".to_string()
            }
            Source::Modeled => "modeled: computed from a model, not measured (see how below)".to_string(),
            Source::Published => "published: from a publication (source in the row)".to_string(),
        })
        .collect();
    notes.push("±x%: half the range of repeated measurements relative to their median".into());
    notes.push("OOM: the model does not fit the board's memory budget; failed (stage): the job failed there; not run: no such job; n/a: not measured".into());
    notes
}

/// One table per workload, metrics down the side, one column per system.
pub fn study_tables(a: &Analysis, opts: &Options) -> Vec<Table> {
    let mut out = Vec::new();
    for w in &a.workloads {
        let systems = a.systems_for(w);
        let mut columns = vec![format!("Metric ({w})")];
        columns.extend(systems.iter().map(|s| s.header()));
        let mut rows = Vec::new();
        for spec in study_rows() {
            if spec.normalised && !opts.normalised {
                continue;
            }
            match spec.kind {
                RowKind::Stored(metric, fmt) => {
                    let sources: BTreeSet<Source> =
                        systems.iter().flat_map(|s| a.stats_of(s, w, metric)).map(|st| st.source).collect();
                    if sources.len() <= 1 {
                        let mut row = vec![Cell::text(spec.label)];
                        row.extend(systems.iter().map(|s| match a.best(s, w, metric) {
                            Some(st) => stat_cell(st, fmt),
                            None => Cell::label(a.missing_label(s, w)),
                        }));
                        rows.push(row);
                    } else {
                        // Different sources for one metric: one row per source, never mixed.
                        for src in sources {
                            let mut row = vec![Cell::text(format!("{} [{src}]", spec.label))];
                            row.extend(systems.iter().map(|s| match a.stat(s, w, metric, src) {
                                Some(st) => stat_cell(st, fmt),
                                None => Cell::label(a.missing_label(s, w)),
                            }));
                            rows.push(row);
                        }
                    }
                }
                RowKind::Derived(f) => {
                    let mut row = vec![Cell::text(spec.label)];
                    row.extend(systems.iter().map(|s| f(a, s, w)));
                    rows.push(row);
                }
            }
        }
        let mut notes = Vec::new();
        for s in &systems {
            for (stage, msg) in a.failures_of(s, w) {
                notes.push(format!("failure: {} / {}: {stage}: {msg}", s.board, s.framework));
            }
        }
        if opts.normalised {
            notes.push("[normalised]: latency x clock / 100 MHz (as TinyMaix does), and per-MAC figures; derived, not measured".into());
        }
        if systems.iter().any(|s| a.best(s, w, Metric::Instructions).is_some() && a.best(s, w, Metric::Macs).is_some()) {
            notes.push(crate::table::MAC_FLOOR_NOTE.into());
        }
        out.push(Table { id: format!("study-{w}"), title: format!("Workload {w}"), columns, rows, notes });
    }
    out
}

/// The platforms under test: one row per board x framework in the results.
pub fn platforms_table(a: &Analysis, boards: &[BoardInfo]) -> Table {
    let columns = ["Board", "MCU", "Core", "Clock (MHz)", "Flash (KB)", "SRAM (KB)", "Framework", "Built with", "Runs on"];
    let mut rows = Vec::new();
    for s in &a.systems {
        let info = boards.iter().find(|b| b.name == s.board);
        let emulated = s.emulated();
        let mcu = match info.and_then(|b| b.part.clone()) {
            Some(p) if emulated => format!("{p} (budget imitated)"),
            Some(p) => p,
            None => "n/a".into(),
        };
        let mem = |bytes: Option<u64>| match bytes {
            Some(b) if emulated && info.and_then(|i| i.part.as_ref()).is_some() => format!("{} (budget)", b / 1024),
            Some(b) => format!("{}", b / 1024),
            None => "n/a".into(),
        };
        let runs_on = if emulated {
            match info.and_then(|b| b.machine.clone()) {
                Some(m) => format!("QEMU {m} (emulated)"),
                None => "QEMU (emulated)".into(),
            }
        } else {
            format!("silicon ({})", s.board_kind)
        };
        rows.push(vec![
            Cell::text(&s.board),
            Cell::text(mcu),
            Cell::text(&s.cpu),
            Cell::text(fmt_mhz(s.clock_mhz())),
            Cell::text(mem(info.map(|b| b.flash_bytes))),
            Cell::text(mem(info.map(|b| b.ram_bytes))),
            Cell::text(s.framework_label()),
            // As the firmware reports it; n/a for older records and firmware that does not say.
            Cell::text(a.framework_flags.get(s).cloned().unwrap_or_else(|| "n/a".into())),
            Cell::text(runs_on),
        ]);
    }
    let mut notes = vec![
        "Flash and SRAM: the memory budget the harness enforces (from boards.yaml); KB = 1024 bytes".to_string(),
        "Framework and Built with: the version, compiler and flags the firmware reports (m-mcubench-framework lines)".to_string(),
    ];
    if a.systems.iter().any(|s| s.emulated()) {
        notes.push("Emulated boards imitate the named part's memory budget; their clock is the FPGA image's system clock".into());
    }
    Table { id: "platforms".into(), title: "Platforms under test".into(), columns: columns.map(String::from).to_vec(), rows, notes }
}

/// A metric of the per-metric (TinyEngine) and per-system (MLPerf) layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Figure {
    Latency,
    PeakRam,
    Flash,
    Energy,
}

impl Figure {
    pub fn id(self) -> &'static str {
        match self {
            Figure::Latency => "latency",
            Figure::PeakRam => "peak-sram",
            Figure::Flash => "flash",
            Figure::Energy => "energy",
        }
    }
    pub fn title(self) -> &'static str {
        match self {
            Figure::Latency => "Latency (ms)",
            Figure::PeakRam => "Peak SRAM: static + stack (KB)",
            Figure::Flash => "Flash, whole firmware (KB)",
            Figure::Energy => "Energy per inference (uJ)",
        }
    }

    /// The figure for one system and workload: (value, source, text).
    pub fn cell(self, a: &Analysis, sys: &System, w: &str) -> Cell {
        let simple = |m: Metric, fmt: fn(f64) -> String| match a.best(sys, w, m) {
            Some(st) => stat_cell(st, fmt),
            None => Cell::label(a.missing_label(sys, w)),
        };
        match self {
            Figure::Latency => simple(Metric::LatencyMs, fmt_sig),
            Figure::Flash => simple(Metric::FlashBytes, kib),
            Figure::Energy => simple(Metric::EnergyUj, fmt_sig),
            Figure::PeakRam => peak_ram_cell(a, sys, w),
        }
    }
}

/// TinyEngine README layout: one table per metric, models as rows, systems as columns.
pub fn tinyengine_tables(a: &Analysis) -> Vec<Table> {
    [Figure::Latency, Figure::PeakRam, Figure::Flash]
        .into_iter()
        .map(|fig| {
            let mut columns = vec!["Model".to_string()];
            columns.extend(a.systems.iter().map(|s| s.header()));
            let rows = a
                .workloads
                .iter()
                .map(|w| {
                    let mut row = vec![Cell::text(w)];
                    row.extend(a.systems.iter().map(|s| fig.cell(a, s, w)));
                    row
                })
                .collect();
            Table {
                id: format!("tinyengine-{}", fig.id()),
                title: format!("{} by model and system", fig.title()),
                columns,
                rows,
                notes: vec!["OOM: the model does not fit the board's budget (refused before building)".into()],
            }
        })
        .collect()
}

/// MLPerf Tiny layout: systems as rows, benchmarks as columns (latency, then energy).
pub fn mlperf_tables(a: &Analysis) -> Vec<Table> {
    let mut benches: Vec<(String, String)> = MLPERF.iter().map(|(w, n)| (w.to_string(), format!("{n} ({w})"))).collect();
    for w in &a.workloads {
        if !benches.iter().any(|(b, _)| b == w) {
            benches.push((w.clone(), w.clone()));
        }
    }
    [Figure::Latency, Figure::Energy]
        .into_iter()
        .map(|fig| {
            let mut columns = vec!["System".to_string(), "Runs on".to_string()];
            columns.extend(benches.iter().map(|(_, n)| n.clone()));
            let rows = a
                .systems
                .iter()
                .map(|s| {
                    let mut row = vec![
                        Cell::text(s.one_line()),
                        Cell::text(if s.emulated() { "QEMU (emulated)".to_string() } else { s.board_kind.clone() }),
                    ];
                    row.extend(benches.iter().map(|(w, _)| fig.cell(a, s, w)));
                    row
                })
                .collect();
            Table {
                id: format!("mlperf-{}", fig.id()),
                title: format!("MLPerf Tiny layout: {}", fig.title()),
                columns,
                rows,
                notes: vec!["Benchmarks: KWS = DS-CNN keyword spotting, VWW = MobileNetV1-0.25 visual wake words, IC = ResNet-8, AD = FC autoencoder".into()],
            }
        })
        .collect()
}

/// Every layout, in report order: platforms, study tables, TinyEngine, MLPerf.
pub fn all_tables(a: &Analysis, boards: &[BoardInfo], opts: &Options) -> Vec<Table> {
    let mut t = vec![platforms_table(a, boards)];
    t.extend(study_tables(a, opts));
    t.extend(tinyengine_tables(a));
    t.extend(mlperf_tables(a));
    t
}
