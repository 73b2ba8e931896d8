//! Snapshot tests: every table layout and every export format of a fixed results store
//! (tests/data/store.jsonl: a real default-suite run, a real kws01 run, a real cross-framework
//! kws01 run on the Cortex-M7 (TFLM, CMSIS-NN, TinyMaix, microflow: versions, build flags and
//! output agreement as the firmware reported them), plus a made-up OOM and boot failure)
//! against the files in tests/snapshots/.
//!
//! After an intended change, regenerate with `UPDATE_SNAPSHOTS=1 cargo test -p mcubench-reports --test snapshots`
//! and review the diff.
use std::path::PathBuf;

use mcubench_reports::compare::{compare_table, CompareOptions};
use mcubench_reports::export::{exporter, tidy_frame};
use mcubench_reports::grid::Table;
use mcubench_reports::layouts::{all_tables, mlperf_tables, platforms_table, study_tables, tinyengine_tables, BoardInfo, Options};
use mcubench_reports::published;
use mcubench_reports::record::ResultRecord;
use mcubench_reports::summary::{analyse, Analysis};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn records() -> Vec<ResultRecord> {
    let text = std::fs::read_to_string(dir().join("data/store.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn analysis() -> Analysis {
    analyse(&records()).unwrap()
}

fn boards() -> Vec<BoardInfo> {
    let b = |name: &str, part: Option<&str>, flash: u64, ram: u64| BoardInfo {
        name: name.into(),
        part: part.map(String::from),
        flash_bytes: flash,
        ram_bytes: ram,
        kind: "qemu".into(),
        machine: Some(name.into()),
    };
    vec![
        b("mps2-an386", Some("STM32L4R5ZI"), 0x200000, 0xA0000),
        b("mps2-an500", Some("STM32F746NG"), 0x100000, 0x50000),
        b("mps3-an547", None, 0x80000, 0x80000),
    ]
}

/// Compares with the snapshot file, or writes it when UPDATE_SNAPSHOTS is set.
fn snapshot(name: &str, actual: &str) {
    let path = dir().join("snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {}; run with UPDATE_SNAPSHOTS=1 to create it", path.display()));
    if expected != actual {
        let _ = std::fs::write(path.with_extension("actual"), actual);
        panic!("{name} differs from its snapshot (the actual output is next to it, .actual):\n{actual}");
    }
}

fn terminal(tables: &[Table]) -> String {
    tables.iter().map(|t| t.to_terminal()).collect::<Vec<_>>().join("\n")
}

#[test]
fn platforms_layout() {
    snapshot("platforms.txt", &terminal(&[platforms_table(&analysis(), &boards())]));
}

#[test]
fn study_layout() {
    snapshot("study.txt", &terminal(&study_tables(&analysis(), &Options::default())));
}

#[test]
fn study_layout_normalised() {
    snapshot("study-normalised.txt", &terminal(&study_tables(&analysis(), &Options { normalised: true })));
}

#[test]
fn tinyengine_layout() {
    snapshot("tinyengine.txt", &terminal(&tinyengine_tables(&analysis())));
}

#[test]
fn mlperf_layout() {
    snapshot("mlperf.txt", &terminal(&mlperf_tables(&analysis())));
}

#[test]
fn compare_layout() {
    let published = published::builtin().unwrap();
    let t = compare_table(&analysis(), &published, &CompareOptions::default());
    snapshot("compare.txt", &terminal(&[t]));
}

fn report_tables() -> Vec<Table> {
    let a = analysis();
    let mut t = all_tables(&a, &boards(), &Options::default());
    t.push(compare_table(&a, &published::builtin().unwrap(), &CompareOptions { limit: 1, other_cores: true }));
    t
}

#[test]
fn markdown_export() {
    let bytes = exporter("markdown").unwrap().serialize(&report_tables()).unwrap();
    snapshot("report.md", &String::from_utf8(bytes).unwrap());
}

#[test]
fn csv_export() {
    let bytes = exporter("csv").unwrap().serialize(&report_tables()).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    // Every line has the 7 tidy fields.
    for (i, l) in text.lines().enumerate() {
        assert_eq!(published::split_csv_line(l).unwrap().len(), 7, "line {}: {l}", i + 1);
    }
    snapshot("report.csv", &text);
}

#[test]
fn json_export() {
    let bytes = exporter("json").unwrap().serialize(&report_tables()).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert!(v.as_array().unwrap().len() > 5);
    snapshot("report.json", &String::from_utf8(bytes).unwrap());
}

#[test]
fn terminal_export() {
    let bytes = exporter("terminal").unwrap().serialize(&report_tables()).unwrap();
    snapshot("report.txt", &String::from_utf8(bytes).unwrap());
}

#[test]
fn parquet_export_reads_back_as_the_tidy_cells() {
    use polars::prelude::*;
    let tables = report_tables();
    let bytes = exporter("parquet").unwrap().serialize(&tables).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    let back = ParquetReader::new(std::io::Cursor::new(bytes)).finish().unwrap();
    let expected = tidy_frame(&tables).unwrap();
    assert_eq!(back.shape(), expected.shape());
    assert!(back.equals_missing(&expected), "{back}\n{expected}");
    // The CSV export holds the same cells.
    let csv = String::from_utf8(exporter("csv").unwrap().serialize(&tables).unwrap()).unwrap();
    assert_eq!(csv.lines().count() - 1, back.height());
}

#[test]
fn every_cell_is_a_figure_with_source_or_a_label() {
    for t in report_tables() {
        for row in &t.rows {
            for c in row {
                assert!(!c.text.trim().is_empty(), "blank cell in {}", t.id);
                if let Some(s) = c.source() {
                    // Figures say their source in the text, except in the compare table's
                    // published column (headed as such).
                    if t.id != "compare" {
                        assert!(c.text.contains(&s.to_string()), "{}: '{}' does not say {s}", t.id, c.text);
                    }
                }
            }
        }
    }
}

#[test]
fn html_report_is_self_contained_with_charts() {
    let a = analysis();
    let html = mcubench_reports::html::html_report(&a, &report_tables(), &published::builtin().unwrap(), "t").unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script"), "no scripts");
    assert!(!html.contains("src=\"http"), "no external resources");
    // Latency per workload (2), memory breakdown, published energy, scatter.
    assert_eq!(html.matches("<svg").count(), 5, "{html}");
    for id in ["platforms", "study-ad01", "study-kws01", "tinyengine-latency", "mlperf-latency", "compare"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(html.contains("OOM"));
}
