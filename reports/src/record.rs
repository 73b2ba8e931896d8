//! The results-store schema: one JSON record per measurement, failure or check, each with
//! the provenance needed to trust and reproduce it.
use std::fmt;

use serde::{Deserialize, Serialize};

/// Bumped when a record changes shape; readers refuse newer versions.
pub const SCHEMA_VERSION: u32 = 1;

/// Where a figure comes from. Figures of different sources are never mixed in one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Measured on silicon, or read exactly from the firmware binary.
    Measured,
    /// Counted on an emulator (exact for instructions, says nothing about cycles).
    Emulated,
    /// Computed from a model (e.g. latency = instructions / clock at one instruction per cycle).
    Modeled,
    /// Taken from a publication.
    Published,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Measured => "measured",
            Source::Emulated => "emulated",
            Source::Modeled => "modeled",
            Source::Published => "published",
        })
    }
}

/// Which job a record belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct JobKey {
    pub board: String,
    pub framework: String,
    pub workload: String,
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} / {} / {}", self.board, self.framework, self.workload)
    }
}

/// Everything needed to know what produced a figure.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub harness_version: String,
    pub git_revision: Option<String>,
    pub firmware_sha256: Option<String>,
    pub framework_version: Option<String>,
    pub toolchain: Option<String>,
    pub emulator: Option<String>,
    pub cpu: String,
    pub target: String,
    pub clock_hz: u64,
    pub board_kind: String,
}

/// The payload of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum Entry {
    /// A figure: `value` in `unit`, with its source and, where derived, how.
    Metric {
        metric: Metric,
        value: f64,
        unit: String,
        source: Source,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// A pass/fail check, e.g. bit-exact output against a golden.
    Check { check: String, passed: bool, detail: String },
    /// A stage that failed; the job produced no (further) figures.
    Failure { stage: String, message: String },
}

/// The metrics the harness knows. Stored by name, so adding one keeps old stores readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Instructions retired per inference (emulated) — not cycles.
    Instructions,
    /// Cycles per inference (DWT on silicon, or a cycle model).
    Cycles,
    /// Latency per inference.
    LatencyMs,
    /// Energy per inference.
    EnergyUj,
    /// Flash: text + rodata + data load image.
    FlashBytes,
    /// Static RAM: data + bss (a static arena included).
    StaticRamBytes,
    /// Stack high-water mark (painting).
    StackBytes,
    /// Peak arena use reported by the runtime.
    ArenaBytes,
    /// Size of the model as embedded (runtime format).
    ModelBytes,
    /// Multiply-accumulates per inference (from the model).
    Macs,
    /// Device timer: microseconds per inference from the m-lap-us timestamps.
    DeviceTimerUs,
    /// Host-side time to upload one input with `db` commands.
    HostUploadMs,
    /// Host-side wall time of one `infer` command, round trips included.
    HostInferMs,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Instructions => "instructions",
            Metric::Cycles => "cycles",
            Metric::LatencyMs => "latency_ms",
            Metric::EnergyUj => "energy_uj",
            Metric::FlashBytes => "flash_bytes",
            Metric::StaticRamBytes => "static_ram_bytes",
            Metric::StackBytes => "stack_bytes",
            Metric::ArenaBytes => "arena_bytes",
            Metric::ModelBytes => "model_bytes",
            Metric::Macs => "macs",
            Metric::DeviceTimerUs => "device_timer_us",
            Metric::HostUploadMs => "host_upload_ms",
            Metric::HostInferMs => "host_infer_ms",
        }
    }
}

/// One line of the results store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    pub schema: u32,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub job: JobKey,
    #[serde(flatten)]
    pub entry: Entry,
    pub provenance: Provenance,
}

impl ResultRecord {
    pub fn metric(&self) -> Option<(Metric, f64, Source)> {
        match &self.entry {
            Entry::Metric { metric, value, source, .. } => Some((*metric, *value, *source)),
            _ => None,
        }
    }
}
