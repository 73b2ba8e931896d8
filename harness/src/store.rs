//! The results store: JSON Lines, append-only, one record per line, flushed as each record
//! arrives so that a crash or Ctrl-C never loses what was already measured.
//!
//! Concurrent runs on one store (two `mcubench run`, or a run and a `baseline save`) both go
//! on: every append, and the repair of a torn tail, holds an exclusive advisory lock on the
//! file (`flock`), so records of different runs interleave as whole lines, told apart by their
//! run id. A run waits for the lock at most [`LOCK_WAIT`] (a writer holds it for one line and
//! an fsync), then fails naming the store.
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::results::{ResultRecord, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open results store {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write to results store {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("results store {path} stayed locked by another process for {waited:?} (another mcubench run stuck writing to it?)")]
    Locked { path: PathBuf, waited: Duration },
    #[error("{path}:{line}: not a result record: {message}")]
    Corrupt { path: PathBuf, line: usize, message: String },
    #[error("{path}:{line}: record schema {found} is newer than this mcubench understands ({SCHEMA_VERSION}); upgrade mcubench")]
    NewerSchema { path: PathBuf, line: usize, found: u64 },
}

/// How long an append waits for another writer's lock before it fails.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// An open store, appending.
pub struct ResultStore {
    path: PathBuf,
    file: File,
    repaired: Option<String>,
    lock_wait: Duration,
}

/// Holds the store's lock until dropped.
struct Locked<'a>(&'a File);
impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

/// Takes the exclusive lock, polling so that the wait is bounded.
fn lock<'a>(file: &'a File, path: &Path, wait: Duration) -> Result<Locked<'a>, StoreError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Locked(file)),
            Err(TryLockError::WouldBlock) if started.elapsed() < wait => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(TryLockError::WouldBlock) => return Err(StoreError::Locked { path: path.to_owned(), waited: started.elapsed() }),
            Err(TryLockError::Error(source)) => return Err(StoreError::Write { path: path.to_owned(), source }),
        }
    }
}

impl ResultStore {
    pub fn open(path: &Path) -> Result<ResultStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        let repaired = {
            let held = lock(&file, path, LOCK_WAIT)?;
            let r = repair_torn_tail(&file, path).map_err(|source| StoreError::Write { path: path.to_owned(), source });
            drop(held);
            r?
        };
        Ok(ResultStore { path: path.to_owned(), file, repaired, lock_wait: LOCK_WAIT })
    }

    /// How long [`ResultStore::append`] waits for another writer's lock (default [`LOCK_WAIT`]).
    pub fn set_lock_wait(&mut self, wait: Duration) {
        self.lock_wait = wait;
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What [`ResultStore::open`] did to a torn last line left by a killed run, if anything.
    pub fn repaired(&self) -> Option<&str> {
        self.repaired.as_deref()
    }

    /// Appends one record as a single write of a whole line under the store's lock, then
    /// flushes it to the disk.
    pub fn append(&mut self, record: &ResultRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).expect("records always serialize");
        line.push(b'\n');
        let err = |source| StoreError::Write { path: self.path.clone(), source };
        let _held = lock(&self.file, &self.path, self.lock_wait)?;
        // Another writer may have been killed mid-line since we opened the store.
        if let Some(fixed) = repair_torn_tail(&self.file, &self.path).map_err(err)? {
            self.repaired.get_or_insert(fixed);
        }
        (&self.file).write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

impl ResultStore {
    /// Appends records as whole lines under one hold of the store's lock, with one flush.
    pub fn append_all(&mut self, records: &[ResultRecord]) -> Result<(), StoreError> {
        let mut lines = Vec::new();
        for r in records {
            lines.extend(serde_json::to_vec(r).expect("records always serialize"));
            lines.push(b'\n');
        }
        let err = |source| StoreError::Write { path: self.path.clone(), source };
        let _held = lock(&self.file, &self.path, self.lock_wait)?;
        if let Some(fixed) = repair_torn_tail(&self.file, &self.path).map_err(err)? {
            self.repaired.get_or_insert(fixed);
        }
        (&self.file).write_all(&lines).map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

/// The name of the store `mcubench merge --into DIR` writes.
pub const MERGED_STORE_NAME: &str = "results.jsonl";

/// What [`merge`] did.
#[derive(Debug, Default)]
pub struct Merged {
    pub path: PathBuf,
    /// Records written.
    pub added: usize,
    /// Records already there (in the destination or an earlier source), not written again.
    pub duplicates: usize,
    /// Run ids in the merged store.
    pub runs: Vec<String>,
    pub warnings: Vec<String>,
}

/// Merges result stores (e.g. the shards of a CI run) into `DIR/results.jsonl`, keeping each
/// record once with its run id: a record identical to one already there, field for field,
/// is not written again, so merging twice changes nothing. Every source is read before
/// anything is written; a bad source line fails the merge naming file and line.
pub fn merge(sources: &[PathBuf], into_dir: &Path) -> Result<Merged, StoreError> {
    let path = into_dir.join(MERGED_STORE_NAME);
    let mut loaded = Vec::new();
    for src in sources {
        loaded.push(load(src)?);
    }
    let mut store = ResultStore::open(&path)?;
    let existing = load(&path)?;
    let mut merged = Merged { path: path.clone(), ..Merged::default() };
    merged.warnings.extend(store.repaired().map(str::to_string));
    let key = |r: &ResultRecord| serde_json::to_string(r).expect("records always serialize");
    let mut seen: std::collections::HashSet<String> = existing.records.iter().map(key).collect();
    let mut runs: Vec<String> = Vec::new();
    let mut fresh = Vec::new();
    for r in existing.records.iter().chain(loaded.iter().flat_map(|l| l.records.iter())) {
        if !runs.contains(&r.run_id) {
            runs.push(r.run_id.clone());
        }
    }
    for l in loaded {
        merged.warnings.extend(l.warnings);
        for r in l.records {
            if seen.insert(key(&r)) {
                fresh.push(r);
            } else {
                merged.duplicates += 1;
            }
        }
    }
    store.append_all(&fresh)?;
    merged.added = fresh.len();
    merged.runs = runs;
    Ok(merged)
}

/// A run killed mid-write leaves a last line without its newline. Appending after it would glue
/// the next record onto it and make that line (and so the store) unreadable, so before the first
/// append: a tail that is a whole record gets its newline; anything else is cut off (it is the
/// torn record that [`load`] would drop anyway).
fn repair_torn_tail(mut file: &File, path: &Path) -> std::io::Result<Option<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    // The common case, checked on every append: the file ends with a whole line.
    let mut last = [0u8];
    file.seek(SeekFrom::Start(len - 1))?;
    file.read_exact(&mut last)?;
    if last[0] == b'\n' {
        return Ok(None);
    }
    // Find the last newline, reading backwards in blocks.
    let mut end = len;
    let mut last_nl = None;
    let mut block = vec![0u8; 64 * 1024];
    while end > 0 && last_nl.is_none() {
        let start = end.saturating_sub(block.len() as u64);
        let chunk = &mut block[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if end == len && chunk.last() == Some(&b'\n') {
            return Ok(None);
        }
        last_nl = chunk.iter().rposition(|&b| b == b'\n').map(|i| start + i as u64);
        end = start;
    }
    let keep = last_nl.map_or(0, |i| i + 1);
    if keep == len {
        return Ok(None);
    }
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(keep))?;
    file.take(1 << 24).read_to_end(&mut tail)?;
    let whole = std::str::from_utf8(&tail).ok().is_some_and(|t| serde_json::from_str::<ResultRecord>(t.trim()).is_ok());
    if whole {
        file.write_all(b"\n")?;
        file.sync_data()?;
        return Ok(Some(format!("{}: added the missing newline after the last record", path.display())));
    }
    if tail.iter().all(u8::is_ascii_whitespace) {
        file.write_all(b"\n")?;
        file.sync_data()?;
        return Ok(None);
    }
    file.set_len(keep)?;
    file.sync_data()?;
    let line = 1 + bytecount_newlines(file, keep)?;
    Ok(Some(format!("{}:{line}: dropped a torn last record ({} bytes) left by an interrupted run", path.display(), len - keep)))
}

fn bytecount_newlines(mut file: &File, upto: u64) -> std::io::Result<usize> {
    use std::io::{Read, Seek, SeekFrom};
    file.seek(SeekFrom::Start(0))?;
    let mut n = 0;
    let mut buf = vec![0u8; 64 * 1024];
    let mut r = file.take(upto);
    loop {
        let k = r.read(&mut buf)?;
        if k == 0 {
            return Ok(n);
        }
        n += buf[..k].iter().filter(|&&b| b == b'\n').count();
    }
}

/// What loading a store found.
#[derive(Debug, Default)]
pub struct Loaded {
    pub records: Vec<ResultRecord>,
    /// Problems that lost nothing else (e.g. a torn last line from a killed run).
    pub warnings: Vec<String>,
}

/// Loads every record. A torn final line (no newline: the writer was killed mid-write) is
/// dropped with a warning; any other bad line is an error naming the line.
pub fn load(path: &Path) -> Result<Loaded, StoreError> {
    let file = File::open(path).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
    let mut reader = BufReader::new(file);
    let mut loaded = Loaded::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        // Bytes, not a String: a record torn inside a multi-byte character must not make the
        // whole store unreadable.
        let n = reader.read_until(b'\n', &mut buf).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.ends_with(b"\n");
        let text = match std::str::from_utf8(&buf) {
            Ok(t) => t.trim(),
            Err(e) if !complete => {
                loaded.warnings.push(format!("{}:{line_no}: dropped a torn last record ({e})", path.display()));
                continue;
            }
            Err(e) => return Err(StoreError::Corrupt { path: path.to_owned(), line: line_no, message: e.to_string() }),
        };
        if text.is_empty() {
            continue;
        }
        let schema = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("schema").and_then(|s| s.as_u64()));
        if let Some(found) = schema.filter(|s| *s > SCHEMA_VERSION as u64) {
            return Err(StoreError::NewerSchema { path: path.to_owned(), line: line_no, found });
        }
        match serde_json::from_str::<ResultRecord>(text) {
            Ok(r) => loaded.records.push(r),
            Err(e) if !complete => {
                loaded.warnings.push(format!("{}:{line_no}: dropped a torn last record ({e})", path.display()));
            }
            Err(e) => return Err(StoreError::Corrupt { path: path.to_owned(), line: line_no, message: e.to_string() }),
        }
    }
    Ok(loaded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::*;

    fn record(value: f64) -> ResultRecord {
        ResultRecord {
            schema: SCHEMA_VERSION,
            run_id: "run".into(),
            recorded_at: now_rfc3339(),
            job: JobKey { board: "b".into(), framework: "f".into(), workload: "ad01".into() },
            entry: Entry::Metric { metric: Metric::Instructions, value, unit: "instructions".into(), source: Source::Emulated, note: None },
            provenance: Provenance::default(),
        }
    }

    #[test]
    fn merge_keeps_every_record_once_with_its_run_id() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.jsonl"), dir.path().join("b.jsonl"));
        let in_run = |run: &str, v: f64| ResultRecord { run_id: run.into(), ..record(v) };
        let (shared, only_a, only_b) = (in_run("r1", 1.0), in_run("r1", 2.0), in_run("r2", 3.0));
        let mut sa = ResultStore::open(&a).unwrap();
        sa.append_all(&[shared.clone(), only_a.clone()]).unwrap();
        let mut sb = ResultStore::open(&b).unwrap();
        sb.append_all(&[only_b.clone(), shared.clone()]).unwrap();
        let out = dir.path().join("merged");
        let m = merge(&[a.clone(), b.clone()], &out).unwrap();
        assert_eq!((m.added, m.duplicates), (3, 1));
        assert_eq!(m.runs, ["r1", "r2"]);
        let got = load(&out.join(MERGED_STORE_NAME)).unwrap().records;
        assert_eq!(got, [shared.clone(), only_a, only_b]);
        // Merging again adds nothing; a bad source names its file and line and writes nothing.
        let again = merge(&[a.clone(), b], &out).unwrap();
        assert_eq!((again.added, again.duplicates), (0, 4));
        let bad = dir.path().join("bad.jsonl");
        std::fs::write(&bad, "{\"schema\": 1}\nnot json\n").unwrap();
        let e = merge(&[a, bad.clone()], &out).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:1:", bad.display())), "{e}");
        assert_eq!(load(&out.join(MERGED_STORE_NAME)).unwrap().records.len(), 3);
        let missing = merge(&[dir.path().join("nope.jsonl")], &out).unwrap_err().to_string();
        assert!(missing.contains("nope.jsonl"), "{missing}");
    }

    #[test]
    fn append_then_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/results.jsonl");
        let mut store = ResultStore::open(&path).unwrap();
        store.append(&record(1.0)).unwrap();
        store.append(&record(2.0)).unwrap();
        drop(store);
        let mut store = ResultStore::open(&path).unwrap();
        store.append(&record(3.0)).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.records.len(), 3);
        assert_eq!(loaded.records[2], record(3.0).clone_with_time(&loaded.records[2]));
        assert!(loaded.warnings.is_empty());
    }

    #[test]
    fn measured_values_come_back_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        // Host times as the runner stores them (seen to come back one ulp off).
        let values = [701.7604779999999, 24.672320000000003, 0.1 + 0.2, 1e-300, f64::MAX, 5e-324];
        let mut store = ResultStore::open(&path).unwrap();
        for v in values {
            store.append(&record(v)).unwrap();
        }
        let back: Vec<f64> = load(&path).unwrap().records.iter().map(|r| r.metric().unwrap().1).collect();
        assert_eq!(back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), values.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        // Host times as the runner makes them (`Duration::as_secs_f64() * 1e3`), many of them.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut off = Vec::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = std::time::Duration::from_nanos(x % 10_000_000_000).as_secs_f64() * 1e3;
            let text = serde_json::to_string(&v).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            if back.to_bits() != v.to_bits() {
                off.push((v, text));
            }
        }
        assert!(off.is_empty(), "{} of 200000 values came back changed, e.g. {:?}", off.len(), &off[..off.len().min(3)]);
    }

    #[test]
    fn torn_last_line_is_dropped_with_warning_and_earlier_records_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut store = ResultStore::open(&path).unwrap();
        store.append(&record(1.0)).unwrap();
        let whole = serde_json::to_string(&record(2.0)).unwrap();
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&whole.as_bytes()[..whole.len() / 2]).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.records.len(), 1);
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains(":2: dropped a torn last record"), "{:?}", loaded.warnings);
    }

    #[test]
    fn record_torn_inside_a_multibyte_character_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let mut with_note = record(1.0);
        if let Entry::Metric { note, .. } = &mut with_note.entry {
            *note = Some("µs × 2".into());
        }
        let mut store = ResultStore::open(&path).unwrap();
        store.append(&record(0.0)).unwrap();
        let whole = serde_json::to_string(&with_note).unwrap();
        let cut = whole.find('µ').unwrap() + 1; // inside the two bytes of 'µ'
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&whole.as_bytes()[..cut]).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.records.len(), 1);
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    }

    #[test]
    fn corrupt_middle_line_names_the_line_and_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let good = serde_json::to_string(&record(1.0)).unwrap();
        std::fs::write(&path, format!("{good}\nnot json\n{good}\n")).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("r.jsonl:2: not a result record"), "{err}");
        let newer = good.replace("\"schema\":1", "\"schema\":99");
        std::fs::write(&path, format!("{newer}\n")).unwrap();
        assert!(load(&path).unwrap_err().to_string().contains("schema 99 is newer"));
    }

    trait CloneWithTime {
        fn clone_with_time(&self, other: &ResultRecord) -> ResultRecord;
    }
    impl CloneWithTime for ResultRecord {
        fn clone_with_time(&self, other: &ResultRecord) -> ResultRecord {
            ResultRecord { recorded_at: other.recorded_at.clone(), ..self.clone() }
        }
    }
}
