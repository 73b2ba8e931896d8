//! The results store: JSON Lines, append-only, one record per line, flushed as each record
//! arrives so that a crash or Ctrl-C never loses what was already measured.
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

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
    #[error("{path}:{line}: not a result record: {message}")]
    Corrupt { path: PathBuf, line: usize, message: String },
    #[error("{path}:{line}: record schema {found} is newer than this mcubench understands ({SCHEMA_VERSION}); upgrade mcubench")]
    NewerSchema { path: PathBuf, line: usize, found: u32 },
}

/// An open store, appending.
pub struct ResultStore {
    path: PathBuf,
    file: File,
}

impl ResultStore {
    pub fn open(path: &Path) -> Result<ResultStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| StoreError::Open { path: path.to_owned(), source })?;
        Ok(ResultStore { path: path.to_owned(), file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as a single write of a whole line, then flushes it to the disk.
    pub fn append(&mut self, record: &ResultRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).expect("records always serialize");
        line.push(b'\n');
        let err = |source| StoreError::Write { path: self.path.clone(), source };
        self.file.write_all(&line).map_err(err)?;
        self.file.sync_data().map_err(|source| StoreError::Write { path: self.path.clone(), source })
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
            return Err(StoreError::NewerSchema { path: path.to_owned(), line: line_no, found: found as u32 });
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
