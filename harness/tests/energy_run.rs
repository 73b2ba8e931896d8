//! Energy monitors in `mcubench run`, end to end: a QEMU board with an `energy:` section whose
//! monitor is a simulated LPM01A on a TCP socket (as ser2net serves a real one). The
//! simulator plays a known current profile with the two timestamp events of a window after
//! `start`; the run must store that window's energy per inference, labelled measured. A
//! monitor that goes silent mid-window fails the job at stage `energy`, and the job's goldens
//! and instruction counts are still stored.
//!
//! Needs qemu-system-arm and the firmware targets (scripts/setup.sh installs both).
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::records::{failures, goldens};
use common::standin;
use mcubench::energy::sim::{self, Faults, Profile};
use mcubench::results::{Metric, ResultRecord, Source};
use tokio::net::TcpListener;

const BOARD: &str = "mps2-an386";
const RUNS: usize = 3;

/// Each test drives QEMU and an mcubench process; on a 2-core machine one at a time.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// 1 mA idle, 10 mA for each of the 3 inferences of 10 ms, 5 ms gaps: whole milliseconds, so
/// the LPM01A's 1 kHz samples give the exact integral (to its 4 printed digits).
fn profile() -> Profile {
    Profile::mlperf(0.001, 0.010, RUNS, 0.010, 0.005)
}

/// A simulated LPM01A behind a TCP port, for the one connection the run makes.
async fn monitor(faults: Faults) -> (u16, tokio::task::JoinHandle<sim::SimHandle>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        sim::spawn_lpm01a(socket, profile(), faults)
    });
    (port, task)
}

fn run_with_monitor(dir: &Path, port: u16) -> Output {
    let boards = format!(
        "boards:\n{}",
        standin::entry(
            BOARD,
            "kind: qemu\n    qemu: { machine: mps2-an386 }",
            &format!("    energy: {{ monitor: lpm01a, port: 'tcp://127.0.0.1:{port}', voltage_mv: 1800 }}\n")
        )
    );
    let boards_path = dir.join("boards.yaml");
    std::fs::write(&boards_path, boards).unwrap();
    Command::new(env!("CARGO_BIN_EXE_mcubench"))
        .env_remove("MCUBENCH_STORE")
        .args(["run", "-w", "ad01", "--framework", "reference-runtime", "--golden-checks", "10", "--windows", "1"])
        .args(["--runs", &RUNS.to_string(), "--warmups", "1", "--boards"])
        .arg(&boards_path)
        .arg("--store")
        .arg(dir.join("results.jsonl"))
        .output()
        .unwrap()
}

fn metrics(records: &[ResultRecord], m: Metric) -> Vec<(f64, Source)> {
    records.iter().filter_map(|r| r.metric().filter(|x| x.0 == m)).map(|(_, v, s)| (v, s)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitored_run_stores_the_simulated_window_energy_as_measured() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (port, sim) = monitor(Faults::default()).await;
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || run_with_monitor(&dir, port)
    })
    .await
    .unwrap();
    sim.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let records = mcubench::store::load(&dir.path().join("results.jsonl")).unwrap().records;
    assert_eq!(failures(&records), Vec::new(), "stderr: {stderr}");
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let expected = profile().window_uj(1.8) / RUNS as f64;
    let energy = metrics(&records, Metric::EnergyUj);
    assert_eq!(energy.len(), 1, "one window, one figure: {energy:?}");
    let (value, source) = energy[0];
    assert_eq!(source, Source::Measured);
    // The simulator prints 4 significant digits per sample.
    assert!((value - expected).abs() <= expected * 1e-3, "{value} uJ, expected {expected} uJ");
    assert_eq!(goldens(&records), vec![true; 10]);
    assert_eq!(metrics(&records, Metric::Instructions).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_that_stops_mid_window_fails_stage_energy_and_keeps_the_rest() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    // Silent after 60 samples: after the window's start event (50 ms), before its end (95 ms).
    let (port, sim) = monitor(Faults { stall_after_samples: Some(60), ..Faults::default() }).await;
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || run_with_monitor(&dir, port)
    })
    .await
    .unwrap();
    sim.abort();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "a failed job fails the run: {stderr}");
    let records = mcubench::store::load(&dir.path().join("results.jsonl")).unwrap().records;
    let fails = failures(&records);
    assert_eq!(fails.len(), 1, "{fails:?}");
    assert_eq!(fails[0].0, "energy", "{fails:?}");
    assert!(fails[0].1.contains(&format!("board {BOARD}: energy monitor")), "{fails:?}");
    assert!(fails[0].1.contains("LPM01A on tcp://127.0.0.1:"), "{fails:?}");
    assert!(metrics(&records, Metric::EnergyUj).is_empty(), "no figure from a broken window");
    // The job's other figures stand.
    assert_eq!(goldens(&records), vec![true; 10]);
    let instructions = metrics(&records, Metric::Instructions);
    assert_eq!(instructions.len(), 1);
    assert_eq!(instructions[0].1, Source::Emulated);
}
