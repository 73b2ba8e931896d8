//! Synthetic result records for tests.
use crate::record::*;

fn provenance(board_kind: &str) -> Provenance {
    Provenance {
        harness_version: "0.1.0".into(),
        git_revision: Some("abc123".into()),
        firmware_sha256: None,
        framework_version: Some("0.1.0".into()),
        toolchain: Some("rustc 1.95.0".into()),
        emulator: None,
        cpu: "Cortex-M4".into(),
        target: "thumbv7em-none-eabihf".into(),
        clock_hz: 25_000_000,
        board_kind: board_kind.into(),
        board_facts: None,
    }
}

fn unit(metric: Metric) -> &'static str {
    match metric {
        Metric::Instructions => "instructions",
        Metric::Cycles => "cycles",
        Metric::LatencyMs | Metric::HostInferMs | Metric::HostUploadMs => "ms",
        Metric::EnergyUj => "uJ",
        Metric::DeviceTimerUs => "us",
        Metric::Macs => "MACs",
        _ => "bytes",
    }
}

/// A record on board `board` (an emulated board), framework `reference-runtime`, workload `ad01`.
pub fn record_on(board: &str, board_kind: &str, entry: Entry) -> ResultRecord {
    ResultRecord {
        schema: SCHEMA_VERSION,
        run_id: "run1".into(),
        recorded_at: "2026-11-26T20:00:00Z".into(),
        job: JobKey { board: board.into(), framework: "reference-runtime".into(), workload: "ad01".into() },
        entry,
        provenance: provenance(board_kind),
    }
}

/// A metric on an emulated (QEMU) board.
pub fn rec(board: &str, metric: Metric, value: f64, source: Source) -> ResultRecord {
    record_on(board, "qemu", Entry::Metric { metric, value, unit: unit(metric).into(), source, note: None })
}

/// A measured metric on a real (probe-rs) board.
pub fn real(board: &str, metric: Metric, value: f64) -> ResultRecord {
    record_on(board, "probe-rs", Entry::Metric { metric, value, unit: unit(metric).into(), source: Source::Measured, note: None })
}

pub fn failure(board: &str, stage: &str, message: &str) -> ResultRecord {
    record_on(board, "qemu", Entry::Failure { stage: stage.into(), message: message.into() })
}

pub fn failed_check(board: &str, detail: &str) -> ResultRecord {
    record_on(board, "qemu", Entry::Check { check: "golden".into(), passed: false, detail: detail.into() })
}

/// The figures of a typical emulated ad01 job with the given instruction count.
pub fn emulated_job(board: &str, instructions: f64) -> Vec<ResultRecord> {
    vec![
        rec(board, Metric::FlashBytes, 314_040.0, Source::Measured),
        rec(board, Metric::StaticRamBytes, 3992.0, Source::Measured),
        rec(board, Metric::Instructions, instructions, Source::Emulated),
        rec(board, Metric::Instructions, instructions, Source::Emulated),
        rec(board, Metric::LatencyMs, instructions / 25e6 * 1e3, Source::Modeled),
        rec(board, Metric::LatencyMs, instructions / 25e6 * 1e3, Source::Modeled),
        rec(board, Metric::HostInferMs, 150.0, Source::Measured),
        rec(board, Metric::StackBytes, 1632.0, Source::Emulated),
        rec(board, Metric::ArenaBytes, 768.0, Source::Emulated),
    ]
}
