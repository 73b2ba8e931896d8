//! Content hashing for the build cache: a firmware is rebuilt only when one of its inputs
//! (sources, model blob, settings, toolchain) changes.
use std::path::Path;

use sha2::{Digest, Sha256};

/// An incremental hash of build inputs.
#[derive(Default)]
pub struct InputHash(Sha256);

impl InputHash {
    pub fn new() -> Self {
        InputHash(Sha256::new())
    }

    /// Adds a labelled value (labels keep `a`+`bc` apart from `ab`+`c`).
    pub fn add(&mut self, label: &str, bytes: &[u8]) -> &mut Self {
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
        self
    }

    /// Adds every file below `dir` (sorted, paths relative to `dir`), skipping `target`
    /// directories and dot-directories.
    pub fn add_tree(&mut self, dir: &Path) -> std::io::Result<&mut Self> {
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort();
        for rel in files {
            let bytes = std::fs::read(dir.join(&rel))?;
            self.add(&rel, &bytes);
        }
        Ok(self)
    }

    /// Adds a cheap fingerprint of every file below `dir`: relative path, size and mtime
    /// (not the contents), for large third-party trees outside the repository. A missing
    /// directory is hashed as such (the build then fails and says why).
    pub fn add_tree_fingerprint(&mut self, dir: &Path) -> std::io::Result<&mut Self> {
        self.add("tree", dir.to_string_lossy().as_bytes());
        if !dir.is_dir() {
            self.add("missing", &[]);
            return Ok(self);
        }
        let mut files = Vec::new();
        collect(dir, dir, &mut files)?;
        files.sort();
        for rel in files {
            let meta = std::fs::metadata(dir.join(&rel))?;
            let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            self.add(&rel, format!("{} {mtime}", meta.len()).as_bytes());
        }
        Ok(self)
    }

    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())
    }
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name != ".cargo" || name == "target" {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect(base, &path, out)?;
        } else {
            out.push(path.strip_prefix(base).unwrap_or(&path).to_string_lossy().into_owned());
        }
    }
    Ok(())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A file-name suffix unique to this process and call, for write-then-rename into a cache
/// that concurrent runs share.
pub fn tmp_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("tmp.{}.{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}
