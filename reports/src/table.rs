//! The results table in the manner of the TinyML Platforms Benchmarking study: one table per
//! workload, metrics down the side, one column per board x framework (clock in the header).
//!
//! Every cell is a figure with its source, or a label (`n/a`, `failed: ...`): never a blank
//! and never a stand-in.
use std::collections::{BTreeMap, BTreeSet};

use tabled::builder::Builder;
use tabled::settings::{object::Columns, Alignment, Style};

use crate::record::{agreement_text, Entry, JobKey, Metric, ResultRecord, Source};

/// The row of instructions over the MAC floor, and its note in the legend.
pub const MAC_FLOOR_ROW: &str = "Instructions / (MACs/2) floor";
pub const MAC_FLOOR_NOTE: &str = "Instructions / (MACs/2) floor: emulated instructions per inference over half the model's MACs. \
     A Cortex-M4 does at most two 16-bit MACs per cycle (SMLAD), so MACs/2 cycles is a floor; 1.00 would be \
     that floor at one instruction per cycle. Derived from the emulated count, not a cycle measurement";

/// A column: one board x framework for one workload.
#[derive(Debug, Default)]
struct Column {
    header: String,
    metrics: BTreeMap<Metric, Vec<(f64, Source, Option<String>)>>,
    checks: BTreeMap<String, Vec<(bool, String)>>,
    failures: Vec<(String, String)>,
}

impl Column {
    /// What a cell without a figure says: the stage that failed, else `n/a`.
    fn missing(&self) -> String {
        match self.failures.first() {
            // "unsupported: ADD" says all there is to say.
            Some((stage, message)) if stage == "unsupported" => message.clone(),
            Some((stage, _)) => format!("failed ({stage})"),
            None => "n/a".into(),
        }
    }

    fn median(&self, metric: Metric) -> Option<(f64, Source)> {
        let values = self.metrics.get(&metric)?;
        let source = values.first()?.1;
        let mut v: Vec<f64> = values.iter().filter(|x| x.1 == source).map(|x| x.0).collect();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let m = if v.len() % 2 == 1 { v[mid] } else { (v[mid - 1] + v[mid]) / 2.0 };
        Some((m, source))
    }

    fn spread(&self, metric: Metric) -> Option<(f64, f64, usize)> {
        let values = self.metrics.get(&metric)?;
        let min = values.iter().map(|x| x.0).fold(f64::INFINITY, f64::min);
        let max = values.iter().map(|x| x.0).fold(f64::NEG_INFINITY, f64::max);
        Some((min, max, values.len()))
    }
}

/// How a metric row is shown.
struct Row {
    label: &'static str,
    cell: fn(&Column) -> String,
}

fn kib(bytes: f64) -> String {
    format!("{:.1}", bytes / 1024.0)
}

fn with_source(text: String, source: Source) -> String {
    format!("{text} ({source})")
}

fn metric_cell(col: &Column, metric: Metric, fmt: fn(f64) -> String) -> String {
    match col.median(metric) {
        Some((v, s)) => with_source(fmt(v), s),
        None => col.missing(),
    }
}

fn group_thousands(v: f64) -> String {
    let n = v.round() as i128;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

fn rows() -> Vec<Row> {
    vec![
        Row { label: "Model size, runtime format (KB)", cell: |c| metric_cell(c, Metric::ModelBytes, kib) },
        Row { label: "MACs per inference", cell: |c| metric_cell(c, Metric::Macs, group_thousands) },
        Row { label: "Flash, whole firmware (KB)", cell: |c| metric_cell(c, Metric::FlashBytes, kib) },
        Row { label: "RAM static: data + bss (KB)", cell: |c| metric_cell(c, Metric::StaticRamBytes, kib) },
        Row { label: "  of which arena, peak used (KB)", cell: |c| metric_cell(c, Metric::ArenaBytes, kib) },
        Row { label: "RAM stack, peak (KB)", cell: |c| metric_cell(c, Metric::StackBytes, kib) },
        Row {
            label: "RAM total: static + stack (KB)",
            cell: |c| match (c.median(Metric::StaticRamBytes), c.median(Metric::StackBytes)) {
                (Some((a, sa)), Some((b, sb))) if sa == sb => with_source(kib(a + b), sa),
                (Some((a, _)), Some((b, _))) => format!("{} (mixed sources)", kib(a + b)),
                _ => c.missing(),
            },
        },
        Row { label: "Instructions per inference", cell: |c| metric_cell(c, Metric::Instructions, group_thousands) },
        Row {
            label: "Instructions per MAC",
            cell: |c| match (c.median(Metric::Instructions), c.median(Metric::Macs)) {
                (Some((i, s)), Some((m, _))) if m > 0.0 => with_source(format!("{:.2}", i / m), s),
                _ => c.missing(),
            },
        },
        Row {
            label: MAC_FLOOR_ROW,
            cell: |c| match (c.median(Metric::Instructions), c.median(Metric::Macs)) {
                (Some((i, s)), Some((m, _))) if m > 0.0 => format!("{:.2} (derived from {s})", i / (m / 2.0)),
                _ => c.missing(),
            },
        },
        Row { label: "Cycles per inference", cell: |c| metric_cell(c, Metric::Cycles, group_thousands) },
        Row { label: "Inference time (ms)", cell: |c| metric_cell(c, Metric::LatencyMs, |v| format!("{v:.3}")) },
        Row { label: "Energy per inference (uJ)", cell: |c| metric_cell(c, Metric::EnergyUj, |v| format!("{v:.1}")) },
        Row {
            // Bit exact, or by how much outputs differ and whether the top-1 class agrees.
            label: "Output agreement vs TFLM golden",
            cell: |c| {
                let checks = c.checks.get("golden").map(|v| v.iter().map(|(p, d)| (*p, d.as_str())));
                checks.and_then(agreement_text).unwrap_or_else(|| c.missing())
            },
        },
        Row {
            label: "Count repeatable across windows",
            cell: |c| match c.spread(Metric::Instructions).or_else(|| c.spread(Metric::Cycles)) {
                Some((min, max, n)) if n > 1 => {
                    if min == max { format!("yes, {n} windows identical") } else { format!("no, spread {}", group_thousands(max - min)) }
                }
                Some(_) => "1 window".into(),
                None => c.missing(),
            },
        },
        Row { label: "Host: input upload (ms)", cell: |c| metric_cell(c, Metric::HostUploadMs, |v| format!("{v:.1}")) },
        Row { label: "Host: infer round trip (ms)", cell: |c| metric_cell(c, Metric::HostInferMs, |v| format!("{v:.1}")) },
    ]
}

/// One rendered table per workload, in workload order of first appearance.
pub struct WorkloadTable {
    pub workload: String,
    pub text: String,
    pub failures: Vec<String>,
}

/// Builds the study-style tables from a run's records.
pub fn workload_tables(records: &[ResultRecord]) -> Vec<WorkloadTable> {
    let mut order: Vec<String> = Vec::new();
    let mut columns: BTreeMap<String, BTreeMap<(String, String), Column>> = BTreeMap::new();
    for r in records {
        if !order.contains(&r.job.workload) {
            order.push(r.job.workload.clone());
        }
        let JobKey { board, framework, workload } = &r.job;
        let col = columns.entry(workload.clone()).or_default().entry((board.clone(), framework.clone())).or_default();
        if col.header.is_empty() {
            let mhz = r.provenance.clock_hz as f64 / 1e6;
            let version = r.provenance.framework_version.as_deref().map(|v| format!(" {v}")).unwrap_or_default();
            col.header = format!("{board}\n{} @ {mhz} MHz\n{framework}{version}", r.provenance.cpu);
        }
        match &r.entry {
            Entry::Metric { metric, value, source, note, .. } => {
                col.metrics.entry(*metric).or_default().push((*value, *source, note.clone()))
            }
            Entry::Check { check, passed, detail } => col.checks.entry(check.clone()).or_default().push((*passed, detail.clone())),
            // A retried attempt is not the job's outcome (its cause is in the run's summary).
            Entry::Failure { stage, .. } if stage == crate::record::STAGE_RETRIED => {}
            Entry::Failure { stage, message } => col.failures.push((stage.clone(), message.clone())),
        }
    }
    let mut out = Vec::new();
    for workload in order {
        let cols = &columns[&workload];
        let mut builder = Builder::default();
        let mut header = vec![format!("Metric ({workload})")];
        header.extend(cols.values().map(|c| c.header.clone()));
        builder.push_record(header);
        for row in rows() {
            let mut line = vec![row.label.to_string()];
            line.extend(cols.values().map(|c| (row.cell)(c)));
            builder.push_record(line);
        }
        let mut table = builder.build();
        table.with(Style::modern()).modify(Columns::new(1..), Alignment::right());
        let failures = cols
            .iter()
            .flat_map(|((board, fw), c)| {
                c.failures.iter().map(move |(stage, msg)| {
                    // "unsupported: ADD" already names its stage.
                    if msg.starts_with(&format!("{stage}: ")) {
                        format!("{board} / {fw}: {msg}")
                    } else {
                        format!("{board} / {fw}: {stage}: {msg}")
                    }
                })
            })
            .collect();
        out.push(WorkloadTable { workload, text: table.to_string(), failures });
    }
    out
}

/// The notes printed under the tables: what each source label means.
pub fn legend(records: &[ResultRecord]) -> Vec<String> {
    let sources: BTreeSet<Source> = records.iter().filter_map(|r| r.metric().map(|m| m.2)).collect();
    let mut notes = Vec::new();
    let mut derived: BTreeSet<String> = BTreeSet::new();
    for r in records {
        if let Entry::Metric { metric, note: Some(note), .. } = &r.entry {
            derived.insert(format!("{}: {note}", metric.name()));
        }
    }
    // The floor note where some job has both figures (a ratio in the table).
    let with = |m: Metric| -> BTreeSet<&JobKey> { records.iter().filter(|r| r.metric().is_some_and(|x| x.0 == m)).map(|r| &r.job).collect() };
    if !with(Metric::Instructions).is_disjoint(&with(Metric::Macs)) {
        notes.push(MAC_FLOOR_NOTE.to_string());
    }
    for s in sources {
        notes.push(match s {
            Source::Measured => "measured: read from the firmware ELF or measured on silicon".into(),
            Source::Emulated => "emulated: counted on QEMU (instructions are exact and repeatable; QEMU has no cycle timing)".into(),
            Source::Modeled => "modeled: computed from a model, not measured (see the notes below)".into(),
            Source::Published => "published: from a publication".into(),
        });
    }
    notes.extend(derived);
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Provenance, SCHEMA_VERSION};

    fn rec(board: &str, entry: Entry) -> ResultRecord {
        ResultRecord {
            schema: SCHEMA_VERSION,
            run_id: "r".into(),
            recorded_at: "2026-01-01T00:00:00Z".into(),
            job: JobKey { board: board.into(), framework: "reference-runtime".into(), workload: "ad01".into() },
            entry,
            provenance: Provenance { cpu: "Cortex-M4".into(), clock_hz: 25_000_000, ..Default::default() },
        }
    }

    fn metric(metric: Metric, value: f64, source: Source) -> Entry {
        Entry::Metric { metric, value, unit: "x".into(), source, note: None }
    }

    #[test]
    fn a_retried_attempt_does_not_fail_a_job_that_passed_on_its_retry() {
        let retried = Entry::Failure { stage: crate::record::STAGE_RETRIED.into(), message: "attempt 1 of 2 failed at stage timeout: hang".into() };
        let records = vec![
            rec("a", retried.clone()),
            rec("a", metric(Metric::Instructions, 1_234_567.0, Source::Emulated)),
            rec("a", Entry::Check { check: "golden".into(), passed: true, detail: String::new() }),
        ];
        let tables = workload_tables(&records);
        let t = &tables[0].text;
        assert!(t.contains("1,234,567 (emulated)") && !t.contains("failed"), "{t}");
        assert!(tables[0].failures.is_empty(), "{:?}", tables[0].failures);
        assert!(!retried.is_job_failure());
        assert!(Entry::Failure { stage: "timeout".into(), message: String::new() }.is_job_failure());
    }

    #[test]
    fn cells_carry_their_source_and_failures_are_labelled() {
        let records = vec![
            rec("a", metric(Metric::Instructions, 1_234_567.0, Source::Emulated)),
            rec("a", metric(Metric::Instructions, 1_234_567.0, Source::Emulated)),
            rec("a", metric(Metric::Macs, 264_192.0, Source::Modeled)),
            rec("a", Entry::Check { check: "golden".into(), passed: true, detail: String::new() }),
            rec("b", Entry::Failure { stage: "boot".into(), message: "no m-ready within 10 s".into() }),
            rec("c", Entry::Failure { stage: "unsupported".into(), message: "unsupported: ADD".into() }),
        ];
        let tables = workload_tables(&records);
        assert_eq!(tables.len(), 1);
        let t = &tables[0].text;
        assert!(t.contains("1,234,567 (emulated)"), "{t}");
        assert!(t.contains("yes, 2 windows identical"), "{t}");
        assert!(t.contains("4.67 (emulated)"), "{t}");
        // 1,234,567 / (264,192 / 2)
        assert!(t.contains("9.35 (derived from emulated)"), "{t}");
        assert!(t.contains("1/1 bit exact"), "{t}");
        assert!(t.contains("failed (boot)"), "{t}");
        assert!(t.contains("n/a"), "{t}");
        assert_eq!(
            tables[0].failures,
            vec![
                "b / reference-runtime: boot: no m-ready within 10 s".to_string(),
                // The message names its stage already: not "unsupported: unsupported: ADD".
                "c / reference-runtime: unsupported: ADD".to_string(),
            ]
        );
    }

    #[test]
    fn output_agreement_and_mac_floor_rows() {
        use crate::record::GoldenDetail;
        let mut records = vec![rec("a", metric(Metric::Macs, 1000.0, Source::Measured))];
        for seed in 0..10 {
            let out: &[i8] = if seed < 2 { &[3, 0, 1] } else { &[0, 5, 1] };
            let d = GoldenDetail::compare(seed, out, &[0, 5, 1], true);
            records.push(rec("a", Entry::Check { check: "golden".into(), passed: d.differing == 0, detail: d.to_string() }));
        }
        records.push(rec("b", metric(Metric::Instructions, 5000.0, Source::Emulated)));
        let t = &workload_tables(&records)[0].text;
        let row = |label: &str| t.lines().find(|l| l.contains(label)).unwrap_or_else(|| panic!("{label}: {t}")).to_string();
        let agreement = row("Output agreement");
        assert!(agreement.contains("max |diff| 5, top-1 8/10 (8/10 bit exact)"), "{agreement}");
        // a has no instructions, b no MACs: neither has a floor ratio.
        let floor = row(MAC_FLOOR_ROW);
        assert_eq!(floor.matches("n/a").count(), 2, "{floor}");
        assert!(legend(&records).iter().all(|n| !n.starts_with(MAC_FLOOR_ROW)));
        records.push(rec("a", metric(Metric::Instructions, 1500.0, Source::Emulated)));
        let t = &workload_tables(&records)[0].text;
        assert!(t.contains("3.00 (derived from emulated)"), "{t}");
        assert!(legend(&records).iter().any(|n| n.starts_with(MAC_FLOOR_ROW)));
    }

    #[test]
    fn thousands() {
        assert_eq!(group_thousands(0.0), "0");
        assert_eq!(group_thousands(999.0), "999");
        assert_eq!(group_thousands(1000.0), "1,000");
        assert_eq!(group_thousands(-1234567.0), "-1,234,567");
    }
}
