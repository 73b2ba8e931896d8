//! Fuzzing the results store loader (`store::load`, JSON Lines) (issue 9, reliability).
//!
//! The store under test is written by `ResultStore::append`: 8 records of every entry kind, with
//! multi-byte text in some. What is injected, and how many cases run:
//! - `truncation_at_every_byte`: the file cut at every byte offset (one case per byte, about
//!   3,900); a killed writer leaves exactly this.
//! - `corrupted_line_in_the_middle` (400 proptest cases, fixed seed): one line mutated (byte flips,
//!   inserted bytes including `\n`, NULs and non-UTF-8, deleted ranges, the line replaced by
//!   random bytes or by nothing).
//! - `newer_and_odd_schemas` (12 fixed cases): the `schema` field of one record set to newer, huge,
//!   negative, fractional and non-numeric values.
//! - `huge_lines` (3 fixed cases): a 16 MiB line in the middle, a 16 MiB torn last line, a torn
//!   last line of non-UTF-8 bytes.
//!
//! - `append_after_a_torn_tail_keeps_the_store_loadable` (every third cut inside the last record,
//!   about 130): a killed run's torn tail, then `ResultStore::open` + `append` as a resumed run does.
//! - `opening_an_intact_store_changes_nothing` (3 fixed cases).
//!
//! Properties: loading never panics; a complete record before the damage is always loaded and
//! equal to what was written; a torn last line is dropped with a warning naming the file and
//! line; any other damage is an error naming the file and the damaged line.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mcubench::results::{Entry, JobKey, Metric, Provenance, ResultRecord, Source, SCHEMA_VERSION};
use mcubench::store::{load, ResultStore, StoreError};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestRunner};

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
fn truncation_at_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = written_store(dir.path());
    let all = records();
    let path = dir.path().join("cut.jsonl");
    let (mut torn_dropped, mut torn_kept) = (0, 0);
    // One file, shortened a byte at a time (cheaper than rewriting it for every cut).
    std::fs::write(&path, &bytes).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    for cut in (0..=bytes.len()).rev() {
        file.set_len(cut as u64).unwrap();
        let loaded = load(&path).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let whole = ranges.iter().filter(|r| r.end <= cut).count();
        // A record cut exactly before its newline is still whole JSON; keeping it loses nothing.
        let torn_is_whole = ranges.get(whole).is_some_and(|r| cut == r.end - 1);
        let want = whole + usize::from(torn_is_whole);
        assert_eq!(loaded.records.len(), want, "cut at {cut}: {:?}", loaded.warnings);
        for (got, want) in loaded.records.iter().zip(&all) {
            assert_eq!(got, want, "cut at {cut}");
        }
        let torn = ranges.get(whole).is_some_and(|r| cut > r.start) && !torn_is_whole;
        if torn {
            assert_eq!(loaded.warnings.len(), 1, "cut at {cut}");
            let w = &loaded.warnings[0];
            assert!(w.contains(&format!("{}:{}:", path.display(), whole + 1)), "cut at {cut}: {w}");
            torn_dropped += 1;
        } else {
            assert!(loaded.warnings.is_empty(), "cut at {cut}: {:?}", loaded.warnings);
            torn_kept += usize::from(torn_is_whole);
        }
    }
    println!("{} cuts: {torn_dropped} torn records dropped with a warning, {torn_kept} whole-but-unterminated kept", bytes.len() + 1);
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, Vec<u8>),
    Delete(prop::sample::Index, usize),
    Replace(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Damage> {
    let byte = prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(0u8), 1 => Just(0xffu8), 1 => Just(b'"'), 1 => Just(b'}')];
    prop_oneof![
        4 => (any::<prop::sample::Index>(), 1..=255u8).prop_map(|(i, m)| Damage::Flip(i, m)),
        2 => (any::<prop::sample::Index>(), proptest::collection::vec(byte.clone(), 1..16)).prop_map(|(i, b)| Damage::Insert(i, b)),
        2 => (any::<prop::sample::Index>(), 1usize..200).prop_map(|(i, n)| Damage::Delete(i, n)),
        1 => proptest::collection::vec(byte, 0..300).prop_map(Damage::Replace),
    ]
}

#[test]
fn corrupted_line_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = written_store(dir.path());
    let all = records();
    let path = dir.path().join("corrupt.jsonl");
    let n = ranges.len();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 400,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_5702),
        ..ProptestConfig::default()
    });
    let (errors, still_valid) = (Cell::new(0), Cell::new(0));
    let strategy = (0..n - 1, proptest::collection::vec(damage(), 1..4));
    runner
        .run(&strategy, |(k, damages)| {
            // Damage the body of line k (its newline stays, so the line is complete).
            let r = ranges[k].clone();
            let mut line = bytes[r.start..r.end - 1].to_vec();
            for d in &damages {
                let len = line.len().max(1);
                match d {
                    Damage::Flip(i, m) if !line.is_empty() => line[i.index(len)] ^= m,
                    Damage::Insert(i, b) => {
                        let at = i.index(len + 1).min(line.len());
                        line.splice(at..at, b.iter().copied());
                    }
                    Damage::Delete(i, c) if !line.is_empty() => {
                        let at = i.index(len);
                        line.drain(at..(at + c).min(line.len()));
                    }
                    Damage::Replace(b) => line = b.clone(),
                    _ => {}
                }
            }
            let extra_lines = line.iter().filter(|&&b| b == b'\n').count();
            let mut file = bytes[..r.start].to_vec();
            file.extend_from_slice(&line);
            file.extend_from_slice(&bytes[r.end - 1..]);
            match load_bytes(&path, &file) {
                Ok(loaded) => {
                    still_valid.set(still_valid.get() + 1);
                    // Whatever line k became, the other records are all there, in order.
                    let got = &loaded.records;
                    prop_assert!(got.len() >= n - 1, "{} records", got.len());
                    prop_assert_eq!(&got[..k], &all[..k]);
                    prop_assert_eq!(&got[got.len() - (n - k - 1)..], &all[k + 1..]);
                    prop_assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
                }
                Err(e) => {
                    errors.set(errors.get() + 1);
                    let at = error_line(&e, &path);
                    prop_assert!(
                        (k + 1..=k + 1 + extra_lines).contains(&at),
                        "damage on line {} (+{extra_lines} new lines) reported at line {at}: {e}",
                        k + 1
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    println!("400 cases: {} errors naming the damaged line, {} still loaded (damage left valid records)", errors.get(), still_valid.get());
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

#[test]
fn huge_lines() {
    let dir = tempfile::tempdir().unwrap();
    let (bytes, ranges) = written_store(dir.path());
    let all = records();
    let path: PathBuf = dir.path().join("huge.jsonl");
    let huge = vec![b'x'; 16 << 20];

    // In the middle: an error naming that line.
    let mut file = bytes[..ranges[3].end].to_vec();
    file.extend_from_slice(&huge);
    file.push(b'\n');
    file.extend_from_slice(&bytes[ranges[3].end..]);
    let e = load_bytes(&path, &file).unwrap_err();
    assert_eq!(error_line(&e, &path), 5);
    assert!(e.to_string().len() < 4096, "the error message quotes the huge line");

    // A huge torn last line, then a torn non-UTF-8 one: dropped with a warning, the rest kept.
    for tail in [huge.clone(), b"{\"schema\":1,\"run_id\":\"\xff\xfe\xc3".to_vec()] {
        let mut file = bytes.clone();
        file.extend_from_slice(&tail);
        let loaded = load_bytes(&path, &file).unwrap();
        assert_eq!(loaded.records, all);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains(&format!("{}:{}:", path.display(), all.len() + 1)), "{:?}", loaded.warnings);
        assert!(loaded.warnings[0].len() < 4096);
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
    // Every third cut inside the last record (except at its newline), then one more append.
    let last = ranges[ranges.len() - 1].clone();
    for cut in (last.start + 1..last.end - 1).step_by(3) {
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
