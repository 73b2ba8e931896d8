//! Results store robustness (issue 9): a torn tail left by a killed run must not make the store
//! unloadable once the next run appends, and a schema number beyond u32 is reported as written.

use std::path::Path;
use std::time::{Duration, Instant};

use mcubench::results::{Entry, JobKey, Metric, Provenance, ResultRecord, Source, SCHEMA_VERSION};
use mcubench::store::{load, ResultStore, StoreError};

fn records() -> Vec<ResultRecord> {
    let job = |b: &str, w: &str| JobKey { board: b.into(), framework: "mcubench-ref".into(), workload: w.into() };
    let prov = Provenance { harness_version: "0.1.0".into(), cpu: "cortex-m4".into(), clock_hz: 25_000_000, ..Provenance::default() };
    let rec = |i: usize, entry: Entry| ResultRecord {
        schema: SCHEMA_VERSION,
        run_id: "run-fuzz".into(),
        recorded_at: format!("2026-01-01T00:00:0{i}Z"),
        job: job(if i % 2 == 0 { "mps2-an386" } else { "mps3-an547" }, ["ad01", "kws01", "vww01", "ic01"][i % 4]),
        entry,
        provenance: prov.clone(),
    };
    let metric = |m, v, unit: &str, note: Option<&str>| Entry::Metric {
        metric: m,
        value: v,
        unit: unit.into(),
        source: Source::Emulated,
        note: note.map(str::to_string),
    };
    vec![
        rec(0, metric(Metric::Instructions, 1_234_567.0, "instructions", None)),
        rec(1, metric(Metric::Instructions, 42.5, "instructions", Some("µs × 2 — ünïcödé"))),
        rec(2, Entry::Check { check: "golden".into(), passed: true, detail: "seed 3: 0 of 12 output bytes differ".into() }),
        rec(3, Entry::Failure { stage: "boot".into(), message: "no `m-ready` within 30 s\n(second line)".into() }),
        rec(4, metric(Metric::Instructions, 0.0, "instructions", Some("\"quoted\" \\ backslash"))),
        rec(5, Entry::Check { check: "golden".into(), passed: false, detail: "日本語 detail".into() }),
        rec(6, metric(Metric::Instructions, 1e300, "instructions", None)),
        rec(7, Entry::Failure { stage: "infer".into(), message: "x".repeat(300) }),
    ]
}

/// The store as `ResultStore` writes it, and the byte range of each line (newline included).
fn written_store(dir: &Path) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    let path = dir.join("source.jsonl");
    let mut store = ResultStore::open(&path).unwrap();
    for r in records() {
        store.append(&r).unwrap();
    }
    drop(store);
    let bytes = std::fs::read(&path).unwrap();
    let mut ranges = Vec::new();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    assert_eq!(start, bytes.len());
    assert_eq!(ranges.len(), records().len());
    (bytes, ranges)
}

fn load_bytes(path: &Path, bytes: &[u8]) -> Result<mcubench::store::Loaded, StoreError> {
    std::fs::write(path, bytes).unwrap();
    let t = Instant::now();
    let r = load(path);
    assert!(t.elapsed() < Duration::from_secs(5), "loading {} bytes took {:?}", bytes.len(), t.elapsed());
    r
}

/// The error must name the file and a line; returns the line.
fn error_line(e: &StoreError, path: &Path) -> usize {
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "error does not name the file: {msg}");
    match e {
        StoreError::Corrupt { line, .. } | StoreError::NewerSchema { line, .. } => {
            assert!(msg.contains(&format!(":{line}:")), "{msg}");
            *line
        }
        other => panic!("unexpected error kind: {other}"),
    }
}

#[test]
fn newer_and_odd_schemas() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = written_store(dir.path());
    let path = dir.path().join("schema.jsonl");
    let k = 2;
    let line = std::str::from_utf8(&bytes[ranges[k].clone()]).unwrap();
    let needle = format!("\"schema\":{SCHEMA_VERSION}");
    assert!(line.contains(&needle), "{line}");
    // (replacement, expected newer-schema number if refused as newer)
    let cases: &[(&str, Option<u64>)] = &[
        ("2", Some(2)),
        ("99", Some(99)),
        ("4294967295", Some(u32::MAX as u64)),
        ("4294967297", Some((1u64 << 32) + 1)),
        ("18446744073709551615", Some(u64::MAX)),
        ("18446744073709551616", None),
        ("-1", None),
        ("1.5", None),
        ("1e10", None),
        ("\"2\"", None),
        ("null", None),
        ("{}", None),
    ];
    for &(v, newer) in cases {
        let mut file = bytes[..ranges[k].start].to_vec();
        file.extend_from_slice(line.replace(&needle, &format!("\"schema\":{v}")).as_bytes());
        file.extend_from_slice(&bytes[ranges[k].end..]);
        let e = load_bytes(&path, &file).expect_err(v);
        assert_eq!(error_line(&e, &path), k + 1, "{e}");
        let msg = e.to_string();
        match (newer, &e) {
            (Some(found), StoreError::NewerSchema { .. }) => {
                assert!(msg.contains(&format!("schema {found} is newer")), "schema {v}: {msg}")
            }
            (None, StoreError::Corrupt { .. }) => assert!(msg.contains("schema"), "schema {v}: {msg}"),
            _ => panic!("schema {v}: {msg}"),
        }
    }
}

/// A harness killed mid-write leaves a torn last line; the next run (`--resume`) appends to the
/// same store. The torn bytes must not glue onto the next record and make the store unloadable.
#[test]
fn append_after_a_torn_tail_keeps_the_store_loadable() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = written_store(dir.path());
    let all = records();
    let path = dir.path().join("resumed.jsonl");
    // Every cut inside the last record (except at its newline), then one more append.
    let last = ranges[ranges.len() - 1].clone();
    for cut in last.start + 1..last.end - 1 {
        std::fs::write(&path, &bytes[..cut]).unwrap();
        let mut store = ResultStore::open(&path).unwrap();
        let note = store.repaired().unwrap_or_else(|| panic!("cut at {cut}: no repair reported"));
        assert!(note.contains(&format!("{}:{}: dropped a torn last record", path.display(), all.len())), "{note}");
        store.append(&all[0]).unwrap();
        drop(store);
        let loaded = load(&path).unwrap_or_else(|e| panic!("cut at {cut}, then append: {e}"));
        let mut want = all[..all.len() - 1].to_vec();
        want.push(all[0].clone());
        assert_eq!(loaded.records, want, "cut at {cut}");
    }
    // Cut exactly before the newline: the record is whole and is kept.
    std::fs::write(&path, &bytes[..last.end - 1]).unwrap();
    let mut store = ResultStore::open(&path).unwrap();
    assert!(store.repaired().is_some_and(|n| n.contains("added the missing newline")));
    store.append(&all[0]).unwrap();
    drop(store);
    let mut want = all.clone();
    want.push(all[0].clone());
    assert_eq!(load(&path).unwrap().records, want);
}

#[test]
fn opening_an_intact_store_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, _) = written_store(dir.path());
    let path = dir.path().join("intact.jsonl");
    for content in [&bytes[..], b"", b"\n"] {
        std::fs::write(&path, content).unwrap();
        let store = ResultStore::open(&path).unwrap();
        assert_eq!(store.repaired(), None);
        drop(store);
        assert_eq!(std::fs::read(&path).unwrap(), content);
    }
}
