//! A `kind: probe-rs` board in `mcubench run` on a machine without a debug probe: its job
//! fails at stage `probe`, naming the board, and the QEMU board of the same run is not
//! disturbed (bit exact goldens, figures stored).
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::process::Command;

use common::records::board_failures;
use common::standin;

use mcubench::results::{Entry, Metric};

const PROBE_BOARD: &str = "l4r5-on-a-probe";

#[test]
fn a_probe_board_without_a_probe_fails_at_stage_probe_and_the_qemu_board_passes() {
    let dir = tempfile::tempdir().unwrap();
    // The probe board builds the same firmware as the AN386 (support: mps2), so the run needs
    // no cross build of its own; the probe is looked for before anything touches the port.
    let boards = format!(
        "boards:\n{}{}",
        standin::entry(
            "mps2-an386",
            "kind: qemu\n    qemu: { machine: mps2-an386 }",
            "    power: { voltage_v: 3.3, active_ua_per_mhz: 100.0, source: 'test figures' }\n"
        ),
        standin::entry(PROBE_BOARD, "kind: probe-rs\n    probe: { chip: STM32L4R5ZITx }\n    serial: { port: 'tcp://127.0.0.1:9', baud: 115200 }", ""),
    );
    let boards_path = dir.path().join("boards.yaml");
    std::fs::write(&boards_path, boards).unwrap();
    let store = dir.path().join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--framework", "reference-runtime", "--runs", "3", "--warmups", "1", "--golden-checks", "10"])
        .arg("--boards")
        .arg(&boards_path)
        .arg("--store")
        .arg(&store)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "a failed job fails the run: {stderr}");
    let records = mcubench::store::load(&store).unwrap().records;

    let failures = |board: &str| board_failures(&records, board);
    let probe_fails = failures(PROBE_BOARD);
    assert_eq!(probe_fails.len(), 1, "{probe_fails:?}");
    assert_eq!(probe_fails[0].0, "probe", "{probe_fails:?}");
    assert!(
        probe_fails[0].1.contains(&format!("board {PROBE_BOARD}: no debug probe is attached")),
        "{probe_fails:?}"
    );
    // The ELF's sizes were taken before the probe was looked for, and are kept.
    assert!(records.iter().any(|r| r.job.board == PROBE_BOARD && r.metric().is_some_and(|m| m.0 == Metric::FlashBytes)));
    assert!(records.iter().filter(|r| r.job.board == PROBE_BOARD).all(|r| r.provenance.board_kind == "probe-rs"));

    assert_eq!(failures("mps2-an386"), Vec::new(), "stderr: {stderr}");
    let goldens: Vec<bool> = records
        .iter()
        .filter(|r| r.job.board == "mps2-an386")
        .filter_map(|r| match &r.entry {
            Entry::Check { check, passed, .. } if check == "golden" => Some(*passed),
            _ => None,
        })
        .collect();
    assert_eq!(goldens, vec![true; 10], "bit exact on QEMU");
    let board_metric = |m: Metric| records.iter().filter(|r| r.job.board == "mps2-an386").filter_map(|r| r.metric().filter(|x| x.0 == m)).collect::<Vec<_>>();
    assert!(!board_metric(Metric::Instructions).is_empty());
    // No monitor, a power model: energy is modeled from the (modeled) latency, one per window.
    let latency = board_metric(Metric::LatencyMs);
    let energy = board_metric(Metric::EnergyUj);
    assert_eq!(energy.len(), latency.len(), "{energy:?}");
    for (e, l) in energy.iter().zip(&latency) {
        assert_eq!(e.2, mcubench::results::Source::Modeled);
        // 3.3 V x 100 uA/MHz x 25 MHz = 8.25 mW; uJ = mW x ms.
        assert!((e.1 - 8.25 * l.1).abs() < 1e-9 * e.1, "{e:?} vs {l:?}");
    }
    assert!(records.iter().filter(|r| r.job.board == PROBE_BOARD).all(|r| r.metric().is_none_or(|m| m.0 != Metric::EnergyUj)));
}

/// Two boards.yaml entries behind the same probe (its selector): while another run holds the
/// probe, both fail at stage `lock` naming the probe's holder, and neither touches the probe.
#[test]
fn boards_sharing_a_probe_are_locked_by_the_probe() {
    let dir = tempfile::tempdir().unwrap();
    let locks = dir.path().join("locks");
    let entry = |name: &str| {
        standin::entry(
            name,
            "kind: probe-rs\n    probe: { chip: STM32L4R5ZITx, selector: '0483:374b:SHARED01' }\n    serial: { port: 'tcp://127.0.0.1:9', baud: 115200 }",
            "",
        )
    };
    let boards_path = dir.path().join("boards.yaml");
    std::fs::write(&boards_path, format!("boards:\n{}{}", entry("bench-a"), entry("bench-b"))).unwrap();
    let held = mcubench::session::lock::BoardLock::acquire_for_run("probe-0483-374b-SHARED01", &locks, "holder-run-7", std::time::Duration::ZERO).unwrap();
    let store = dir.path().join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--framework", "reference-runtime", "--golden-checks", "1", "--windows", "1", "--runs", "1"])
        .arg("--boards")
        .arg(&boards_path)
        .arg("--store")
        .arg(&store)
        .arg("--lock-dir")
        .arg(&locks)
        .output()
        .unwrap();
    drop(held);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let records = mcubench::store::load(&store).unwrap().records;
    for board in ["bench-a", "bench-b"] {
        let fails = board_failures(&records, board);
        assert_eq!(fails.len(), 1, "{board}: {fails:?}");
        assert_eq!(fails[0].0, "lock", "{fails:?}");
        assert!(fails[0].1.contains(&format!("board {board}: its probe is in use")) && fails[0].1.contains("holder-run-7"), "{fails:?}");
    }
}
