//! MLPerf Tiny energy mode with mcubench firmware: built with `energy-mode`, the firmware says
//! `m-timestamp-mode-energy` (at boot and in its `profile` reply), pulses its timestamp pin
//! instead of printing `m-lap-us`, and the harness times the window from the firmware's
//! SysTick count. A firmware in performance mode on a board with a monitor is named as the
//! cause of the missing energy, before any window.
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::records::goldens;
use common::standin;
use mcubench::energy::sim::{self, Faults, Profile};
use mcubench::results::{Entry, Metric, ResultRecord, Source};
use tokio::net::TcpListener;

const BOARD: &str = "energy-m4";

fn run(dir: &Path, boards: &str) -> (Output, Vec<ResultRecord>) {
    let path = dir.join("boards.yaml");
    std::fs::write(&path, format!("boards:\n{boards}")).unwrap();
    let store = dir.join("results.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--runs", "3", "--warmups", "1", "--windows", "1", "--golden-checks", "10", "--retries", "0"])
        .arg("--boards")
        .arg(&path)
        .arg("--store")
        .arg(&store)
        // Both tests use one board name: each locks in its own directory.
        .arg("--lock-dir")
        .arg(dir.join("locks"))
        .output()
        .unwrap();
    let records = mcubench::store::load(&store).map(|s| s.records).unwrap_or_default();
    (out, records)
}

/// An energy-mode firmware on a board reached without a reset (`kind: serial`): the mode comes
/// from the `profile` reply, and latency from the SysTick count, labelled as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_energy_mode_board_is_timed_by_its_systick_count() {
    let elf = standin::firmware("ad01", &["energy-mode"]).await;
    let qemu = standin::start(&elf);
    let dir = tempfile::tempdir().unwrap();
    let access = format!("kind: serial\n    serial: {{ port: 'tcp://127.0.0.1:{}', baud: 115200 }}", qemu.port);
    let boards = standin::entry(BOARD, &access, "    firmware_features: [energy-mode]\n");
    let (out, records) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || run(&dir, &boards)
    })
    .await
    .unwrap();
    let failures: Vec<_> = records.iter().filter_map(|r| r.failure()).collect();
    assert!(failures.is_empty(), "{failures:?}\n{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(goldens(&records), vec![true; 10]);
    let latency: Vec<_> = records.iter().filter_map(|r| r.metric().filter(|m| m.0 == Metric::LatencyMs)).collect();
    assert_eq!(latency.len(), 1, "{latency:?}");
    assert_eq!(latency[0].2, Source::Measured);
    let note = records
        .iter()
        .find_map(|r| match &r.entry {
            Entry::Metric { metric: Metric::LatencyMs, note, .. } => note.clone(),
            _ => None,
        })
        .unwrap();
    assert!(note.starts_with("m-mcubench-ticks (SysTick at systick_hz; energy mode prints no m-lap-us) bracket of 3 inferences"), "{note}");
    assert!(latency[0].1 > 0.1 && latency[0].1 < 100.0, "{latency:?}");
}

/// A performance-mode firmware (a prebuilt one: mcubench would build energy mode itself) on a
/// board with a monitor: the job runs its goldens and timing, and fails stage `energy` saying
/// that the firmware pulses no timestamp pin; the monitor is not asked for a window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_performance_mode_firmware_under_a_monitor_is_named_as_the_cause() {
    let elf = standin::firmware("ad01", &[]).await;
    let qemu = standin::start(&elf);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let monitor_port = listener.local_addr().unwrap().port();
    let monitor = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        sim::spawn_lpm01a(socket, Profile::mlperf(0.001, 0.010, 3, 0.010, 0.005), Faults::default())
    });
    let dir = tempfile::tempdir().unwrap();
    let access = format!("kind: serial\n    serial: {{ port: 'tcp://127.0.0.1:{}', baud: 115200 }}", qemu.port);
    let extra = format!(
        "    firmware: {{ elf: '{}', framework: prebuilt-ref, workload: ad01 }}\n    energy: {{ monitor: lpm01a, port: 'tcp://127.0.0.1:{monitor_port}' }}\n",
        elf.display()
    );
    let boards = standin::entry(BOARD, &access, &extra);
    let (out, records) = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || run(&dir, &boards)
    })
    .await
    .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let failures: Vec<(String, String)> = records.iter().filter_map(|r| r.failure()).map(|(s, m)| (s.to_string(), m.to_string())).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0].0, "energy");
    assert!(failures[0].1.contains("the firmware runs in performance mode (m-timestamp-mode-performance), so it pulses no timestamp pin"), "{failures:?}");
    assert_eq!(goldens(&records), vec![true; 10], "the rest of the job is kept");
    assert!(records.iter().any(|r| r.metric().is_some_and(|m| m.0 == Metric::LatencyMs)));
    assert!(!records.iter().any(|r| r.metric().is_some_and(|m| m.0 == Metric::EnergyUj)), "no energy without a window");
    let sim = monitor.await.unwrap();
    drop(sim);
}
