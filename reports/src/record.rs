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
///
/// In the store, `framework_flags` (the compiler and flags the framework was built with, as
/// the firmware reports them) is a field of its own, optional, so older records still read
/// (schema 1). In memory it rides on `toolchain`, after a newline ([`Provenance::framework_flags`],
/// [`Provenance::set_framework_flags`]), because code outside this crate builds `Provenance`
/// with every field named; a new field would break it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ProvenanceRepr", into = "ProvenanceRepr")]
pub struct Provenance {
    pub harness_version: String,
    pub git_revision: Option<String>,
    pub firmware_sha256: Option<String>,
    /// The framework's version: what the firmware reports in `m-mcubench-framework-[...]`.
    pub framework_version: Option<String>,
    /// The firmware's Rust toolchain (`rustc -V`); see the type's note for the framework flags.
    pub toolchain: Option<String>,
    pub emulator: Option<String>,
    pub cpu: String,
    pub target: String,
    pub clock_hz: u64,
    pub board_kind: String,
}

impl Provenance {
    /// The compiler and flags the framework was built with (`m-mcubench-framework-build-[...]`).
    pub fn framework_flags(&self) -> Option<&str> {
        self.toolchain.as_deref().and_then(|t| t.split_once('\n')).map(|(_, f)| f)
    }

    /// The Rust toolchain alone.
    pub fn rust_toolchain(&self) -> Option<&str> {
        self.toolchain.as_deref().map(|t| t.split_once('\n').map_or(t, |(r, _)| r))
    }

    pub fn set_framework_flags(&mut self, flags: Option<&str>) {
        let rust = self.rust_toolchain().map(str::to_string);
        self.toolchain = match (rust, flags.map(|f| f.replace('\n', " "))) {
            (r, None) => r,
            (r, Some(f)) => Some(format!("{}\n{f}", r.unwrap_or_default())),
        };
    }
}

/// The stored shape of [`Provenance`].
#[derive(Serialize, Deserialize)]
struct ProvenanceRepr {
    harness_version: String,
    git_revision: Option<String>,
    firmware_sha256: Option<String>,
    framework_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    framework_flags: Option<String>,
    toolchain: Option<String>,
    emulator: Option<String>,
    cpu: String,
    target: String,
    clock_hz: u64,
    board_kind: String,
}

impl From<ProvenanceRepr> for Provenance {
    fn from(r: ProvenanceRepr) -> Self {
        let mut p = Provenance {
            harness_version: r.harness_version,
            git_revision: r.git_revision,
            firmware_sha256: r.firmware_sha256,
            framework_version: r.framework_version,
            toolchain: r.toolchain,
            emulator: r.emulator,
            cpu: r.cpu,
            target: r.target,
            clock_hz: r.clock_hz,
            board_kind: r.board_kind,
        };
        p.set_framework_flags(r.framework_flags.as_deref());
        p
    }
}

impl From<Provenance> for ProvenanceRepr {
    fn from(p: Provenance) -> Self {
        let framework_flags = p.framework_flags().map(str::to_string);
        let toolchain = p.rust_toolchain().filter(|t| !t.is_empty()).map(str::to_string);
        ProvenanceRepr {
            harness_version: p.harness_version,
            git_revision: p.git_revision,
            firmware_sha256: p.firmware_sha256,
            framework_version: p.framework_version,
            framework_flags,
            toolchain,
            emulator: p.emulator,
            cpu: p.cpu,
            target: p.target,
            clock_hz: p.clock_hz,
            board_kind: p.board_kind,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framework_flags_are_a_field_of_their_own_in_the_store() {
        let mut p = Provenance { toolchain: Some("rustc 1.95.0".into()), framework_version: Some("2020-07-12".into()), ..Default::default() };
        p.set_framework_flags(Some("arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7"));
        assert_eq!(p.framework_flags(), Some("arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7"));
        assert_eq!(p.rust_toolchain(), Some("rustc 1.95.0"));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["framework_flags"], "arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7");
        assert_eq!(json["toolchain"], "rustc 1.95.0");
        assert_eq!(serde_json::from_value::<Provenance>(json).unwrap(), p);
        // Records written before the field existed still read, without flags.
        let old = r#"{"harness_version":"0.1.0","git_revision":null,"firmware_sha256":null,"framework_version":"0.1.0","toolchain":"rustc 1.95.0","emulator":null,"cpu":"Cortex-M4","target":"t","clock_hz":1,"board_kind":"qemu"}"#;
        let p: Provenance = serde_json::from_str(old).unwrap();
        assert_eq!(p.framework_flags(), None);
        assert_eq!(p.toolchain.as_deref(), Some("rustc 1.95.0"));
        assert!(!serde_json::to_string(&p).unwrap().contains("framework_flags"));
    }
}
