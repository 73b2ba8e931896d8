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
/// (schema 1). In memory it rides on `harness_version`, after a newline
/// ([`Provenance::framework_flags`], [`Provenance::set_framework_flags`]), because code outside
/// this crate (ci/src/testutil.rs) builds `Provenance` with every field named, so a new field
/// would break it; `harness_version` is the one field nothing compares. Read it with
/// [`Provenance::harness`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "ProvenanceRepr", into = "ProvenanceRepr")]
pub struct Provenance {
    pub harness_version: String,
    pub git_revision: Option<String>,
    pub firmware_sha256: Option<String>,
    /// The framework's version: what the firmware reports in `m-mcubench-framework-[...]`.
    pub framework_version: Option<String>,
    /// The firmware's Rust toolchain (`rustc -V`).
    pub toolchain: Option<String>,
    pub emulator: Option<String>,
    pub cpu: String,
    pub target: String,
    pub clock_hz: u64,
    pub board_kind: String,
    /// What a real board's firmware measured of itself: clock, flash wait states, caches, as
    /// its `m-mcubench-board-[...]` line says (absent on QEMU and in older stores).
    pub board_facts: Option<String>,
}

impl Provenance {
    /// The compiler and flags the framework was built with (`m-mcubench-framework-build-[...]`).
    pub fn framework_flags(&self) -> Option<&str> {
        self.harness_version.split_once('\n').map(|(_, f)| f)
    }

    /// The harness version alone.
    pub fn harness(&self) -> &str {
        self.harness_version.split_once('\n').map_or(&self.harness_version, |(h, _)| h)
    }

    pub fn set_framework_flags(&mut self, flags: Option<&str>) {
        let harness = self.harness().to_string();
        self.harness_version = match flags {
            Some(f) => format!("{harness}\n{}", f.replace('\n', " ")),
            None => harness,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    board_facts: Option<String>,
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
            board_facts: r.board_facts,
        };
        p.set_framework_flags(r.framework_flags.as_deref());
        p
    }
}

impl From<Provenance> for ProvenanceRepr {
    fn from(p: Provenance) -> Self {
        let framework_flags = p.framework_flags().map(str::to_string);
        ProvenanceRepr {
            harness_version: p.harness().to_string(),
            git_revision: p.git_revision,
            firmware_sha256: p.firmware_sha256,
            framework_version: p.framework_version,
            framework_flags,
            toolchain: p.toolchain,
            emulator: p.emulator,
            cpu: p.cpu,
            target: p.target,
            clock_hz: p.clock_hz,
            board_kind: p.board_kind,
            board_facts: p.board_facts,
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

/// Stage of the failure record of an attempt that was retried on a fresh session: kept so
/// nothing is lost, but not a failure of the job (the job's last attempt decides).
pub const STAGE_RETRIED: &str = "retried";

/// Stages where the board or the link to it failed while the job ran: a hang, an unreachable
/// or vanished board, a broken stream, protocol garbage. A fresh session may help, so these
/// are retried and count towards quarantine. Every failure record is an infrastructure
/// problem to `mcubench gate` (results are missing); build, fit, unsupported, firmware and
/// profile failures are not retried (a retry cannot change them), nor are `lock` and
/// `quarantined` (the job never ran).
pub const RETRYABLE_STAGES: &[&str] = &["timeout", "boot", "connect", "session", "upload", "infer", "count", "limit"];

/// Whether a job that failed at `stage` is worth another attempt (see [`RETRYABLE_STAGES`]).
pub fn is_retryable_stage(stage: &str) -> bool {
    RETRYABLE_STAGES.contains(&stage)
}

impl Entry {
    /// A failure of the job itself: a failure record, except a retried attempt's (its job's
    /// last attempt decides).
    pub fn is_job_failure(&self) -> bool {
        matches!(self, Entry::Failure { stage, .. } if stage != STAGE_RETRIED)
    }
}

/// What a golden check found, kept in the check's `detail` text in a fixed form so that stores
/// stay readable by older code (`seed 3: 2 of 12 output bytes differ, max |diff| 3, top-1 match`).
/// `top1` is `None` where the output is not a class score vector (ad01's reconstruction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoldenDetail {
    pub seed: u64,
    pub differing: usize,
    pub total: usize,
    /// Largest |output - golden| over the output bytes (as int8).
    pub max_abs_diff: u32,
    /// Whether the arg-max (top-1 class) of the output equals the golden's.
    pub top1: Option<bool>,
}

impl GoldenDetail {
    /// Compares an int8 output with its golden. `classes`: the output is a score vector, so
    /// its arg-max (first on ties) is compared.
    pub fn compare(seed: u64, out: &[i8], golden: &[i8], classes: bool) -> GoldenDetail {
        let differing = out.iter().zip(golden).filter(|(a, b)| a != b).count() + out.len().abs_diff(golden.len());
        let max_abs_diff = out.iter().zip(golden).map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs()).max().unwrap_or(0);
        let argmax = |v: &[i8]| v.iter().enumerate().fold(None, |best: Option<(usize, i8)>, (i, &x)| match best {
            Some((_, b)) if b >= x => best,
            _ => Some((i, x)),
        });
        let top1 = classes.then(|| argmax(out).map(|b| b.0) == argmax(golden).map(|b| b.0));
        GoldenDetail { seed, differing, total: golden.len(), max_abs_diff, top1 }
    }

    /// Reads the form [`fmt::Display`] writes; `None` for other texts (older records).
    pub fn parse(text: &str) -> Option<GoldenDetail> {
        let rest = text.strip_prefix("seed ")?;
        let (seed, rest) = rest.split_once(": ")?;
        let (differing, rest) = rest.split_once(" of ")?;
        let (total, rest) = rest.split_once(" output bytes differ, max |diff| ")?;
        let (max, top1) = match rest.split_once(", top-1 ") {
            Some((m, "match")) => (m, Some(true)),
            Some((m, "differs")) => (m, Some(false)),
            Some(_) => return None,
            None => (rest, None),
        };
        Some(GoldenDetail {
            seed: seed.parse().ok()?,
            differing: differing.parse().ok()?,
            total: total.parse().ok()?,
            max_abs_diff: max.parse().ok()?,
            top1,
        })
    }
}

impl fmt::Display for GoldenDetail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {}: {} of {} output bytes differ, max |diff| {}", self.seed, self.differing, self.total, self.max_abs_diff)?;
        match self.top1 {
            Some(true) => f.write_str(", top-1 match"),
            Some(false) => f.write_str(", top-1 differs"),
            None => Ok(()),
        }
    }
}

/// Output agreement over a job's golden checks, as the tables show it: `10/10 bit exact`, or
/// `max |diff| 3, top-1 9/10 (8/10 bit exact)`; `None` without checks.
pub fn agreement_text<'a>(checks: impl IntoIterator<Item = (bool, &'a str)>) -> Option<String> {
    let (mut n, mut exact, mut max, mut parsed, mut top1, mut top1_n) = (0usize, 0usize, 0u32, 0usize, 0usize, 0usize);
    for (passed, detail) in checks {
        n += 1;
        exact += usize::from(passed);
        if let Some(d) = GoldenDetail::parse(detail) {
            parsed += 1;
            max = max.max(d.max_abs_diff);
            if let Some(t) = d.top1 {
                top1_n += 1;
                top1 += usize::from(t);
            }
        }
    }
    if n == 0 {
        return None;
    }
    // Details of older records do not say by how much outputs differ.
    if exact == n || parsed < n {
        return Some(format!("{exact}/{n} bit exact"));
    }
    let mut s = format!("max |diff| {max}");
    if top1_n == n {
        s.push_str(&format!(", top-1 {top1}/{n}"));
    }
    s.push_str(&format!(" ({exact}/{n} bit exact)"));
    Some(s)
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

    /// `(stage, message)` of a failure record.
    pub fn failure(&self) -> Option<(&str, &str)> {
        match &self.entry {
            Entry::Failure { stage, message } => Some((stage, message)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_details_round_trip_and_sum_up() {
        let d = GoldenDetail::compare(3, &[1, 9, -4], &[1, 7, -1], true);
        assert_eq!(d, GoldenDetail { seed: 3, differing: 2, total: 3, max_abs_diff: 3, top1: Some(true) });
        assert_eq!(d.to_string(), "seed 3: 2 of 3 output bytes differ, max |diff| 3, top-1 match");
        assert_eq!(GoldenDetail::parse(&d.to_string()), Some(d));
        // Arg-max: the first of equal maxima; -128 vs 127 is a difference of 255.
        let e = GoldenDetail::compare(0, &[5, 5, -128], &[4, 5, 127], true);
        assert_eq!((e.max_abs_diff, e.top1), (255, Some(false)));
        let ad = GoldenDetail::compare(1, &[0; 4], &[0; 4], false);
        assert_eq!(ad.to_string(), "seed 1: 0 of 4 output bytes differ, max |diff| 0");
        assert_eq!(GoldenDetail::parse(&ad.to_string()), Some(ad));
        assert_eq!(GoldenDetail::parse("seed 1: 0 of 4 output bytes differ"), None);

        let exact = d.to_string().replace("2 of", "0 of").replace("|diff| 3", "|diff| 0");
        assert_eq!(agreement_text([(true, exact.as_str()); 10]).unwrap(), "10/10 bit exact");
        let miss = GoldenDetail::compare(4, &[0, 1], &[1, 0], true).to_string();
        let mut mixed = vec![(true, exact.as_str()); 8];
        mixed.push((false, miss.as_str()));
        mixed.push((false, d.to_string().leak()));
        assert_eq!(agreement_text(mixed).unwrap(), "max |diff| 3, top-1 9/10 (8/10 bit exact)");
        // ad01 has no top-1; older records without the numbers keep the bit-exact count.
        let ad_miss = GoldenDetail::compare(1, &[0, 2], &[0, 0], false).to_string();
        assert_eq!(agreement_text([(false, ad_miss.as_str())]).unwrap(), "max |diff| 2 (0/1 bit exact)");
        assert_eq!(agreement_text([(false, "seed 1: 2 of 12 output bytes differ")]).unwrap(), "0/1 bit exact");
        assert_eq!(agreement_text([]), None);
    }

    #[test]
    fn framework_flags_are_a_field_of_their_own_in_the_store() {
        let mut p = Provenance {
            harness_version: "0.1.0".into(),
            toolchain: Some("rustc 1.95.0".into()),
            framework_version: Some("2020-07-12".into()),
            ..Default::default()
        };
        p.set_framework_flags(Some("arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7"));
        assert_eq!(p.framework_flags(), Some("arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7"));
        // Fields the CI gate compares are untouched.
        assert_eq!((p.harness(), p.toolchain.as_deref()), ("0.1.0", Some("rustc 1.95.0")));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["framework_flags"], "arm-none-eabi-g++ 12.2.1 -O3 -mcpu=cortex-m7");
        assert_eq!(json["harness_version"], "0.1.0");
        assert_eq!(json["toolchain"], "rustc 1.95.0");
        assert_eq!(serde_json::from_value::<Provenance>(json).unwrap(), p);
        // Records written before the field existed still read, without flags.
        let old = r#"{"harness_version":"0.1.0","git_revision":null,"firmware_sha256":null,"framework_version":"0.1.0","toolchain":"rustc 1.95.0","emulator":null,"cpu":"Cortex-M4","target":"t","clock_hz":1,"board_kind":"qemu"}"#;
        let p: Provenance = serde_json::from_str(old).unwrap();
        assert_eq!(p.framework_flags(), None);
        assert_eq!(p.harness_version, "0.1.0");
        assert!(!serde_json::to_string(&p).unwrap().contains("framework_flags"));
    }
}
